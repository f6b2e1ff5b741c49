"""``rate``, ``increase``, ``delta`` (Prometheus's ``extrapolatedRate``) and ``irate``/``idelta``, per version.

Vectorized over every (series, evaluation time) window at once: a window is a half-open
index range ``[i0, i1)`` into the store's flat, staleness-free samples. Transcribed from
prometheus/prometheus ``promql/functions.go``:

* ``extrapolatedRate`` before prometheus/prometheus#13725 (e.g. v2.42, v2.48): the
  counter's zero point may shorten the start extrapolation *before* the start gap is
  compared with the extrapolation threshold (1.1 x the average sample spacing); a gap over
  the threshold extrapolates half a spacing.
* ``extrapolatedRate`` after it (v2.55, v3.0, unchanged for floats through 3.14): the
  start gap is compared with the threshold first (and replaced by half a spacing when over
  it), then limited by the zero point.
* ``instantValue`` (``irate``/``idelta``): the last two samples of the window.

Counter resets add the value before each drop, in sample order, as Go does; windows
without a reset (almost all) are computed without a Python loop.
"""
from __future__ import annotations

import numpy as np

from rampsim.promql.semantics import Semantics

__all__ = ["extrapolated_rate", "instant_value"]


def _reset_corrected(values: np.ndarray, first: np.ndarray, last: np.ndarray, resets: np.ndarray,
                     result: np.ndarray) -> None:
    """Add, in place, the counter-reset correction of the windows with ``resets > 0``, in Go's order."""
    for k in np.flatnonzero(resets.ravel() > 0):
        f, l = int(first.flat[k]), int(last.flat[k])
        acc = float(values[l] - values[f])
        window = values[f:l + 1]
        for j in range(1, len(window)):
            if window[j] < window[j - 1]:
                acc += float(window[j - 1])
        result.flat[k] = acc


def extrapolated_rate(times: np.ndarray, values: np.ndarray, reset_count: np.ndarray,
                      i0: np.ndarray, i1: np.ndarray, range_start: np.ndarray, range_end: np.ndarray,
                      range_ms: int, is_counter: bool, is_rate: bool,
                      semantics: Semantics) -> tuple[np.ndarray, np.ndarray]:
    """Prometheus's ``extrapolatedRate`` for windows ``[i0, i1)`` (shape ``(S, T)``).

    ``times``/``values``/``reset_count`` are the store's flat samples padded with one
    sentinel (so ``i0 == len`` and ``i1 - 1 == -1`` index safely); ``range_start`` and
    ``range_end`` are the window bounds in ms, shape ``(T,)``. Returns ``(values, present)``:
    a window with fewer than two samples has no result (its value is meaningless).
    """
    n = i1 - i0
    present = n >= 2
    last = i1 - 1
    v_first = values[i0]
    t_first = times[i0]
    t_last = times[last]
    # Floating-point warnings are silenced by the caller (api._run): NaN and Inf are results here.
    result = values[last] - v_first
    if is_counter:
        resets = reset_count[last] - reset_count[i0]
        resets *= present
        if resets.any():
            _reset_corrected(values, i0, last, resets, result)
    to_start = (t_first - range_start) / 1000.0
    to_end = (range_end - t_last) / 1000.0
    sampled = (t_last - t_first) / 1000.0
    average = sampled / (n - 1)
    threshold = average * 1.1
    half = average / 2
    if semantics.zero_point_before_threshold:
        if is_counter:
            to_zero = sampled * (v_first / result)
            shorten = (result > 0) & (v_first >= 0) & (to_zero < to_start)
            np.copyto(to_start, to_zero, where=shorten)
        np.copyto(to_start, half, where=to_start >= threshold)
    else:
        np.copyto(to_start, half, where=to_start >= threshold)
        if is_counter:
            to_zero = sampled * (v_first / result)
            shorten = (result > 0) & (v_first >= 0) & (to_zero < to_start)
            np.copyto(to_start, to_zero, where=shorten)
    np.copyto(to_end, half, where=to_end >= threshold)
    factor = sampled + to_start
    factor += to_end
    factor /= sampled
    if is_rate:
        factor /= range_ms / 1000.0
    result *= factor
    return result, present


def instant_value(times: np.ndarray, values: np.ndarray, i0: np.ndarray, i1: np.ndarray,
                  is_rate: bool) -> tuple[np.ndarray, np.ndarray]:
    """Prometheus's ``instantValue``: ``irate`` (``is_rate``) or ``idelta`` from the window's last two samples.

    Arrays padded with a sentinel as for :func:`extrapolated_rate`."""
    present = (i1 - i0) >= 2
    last = i1 - 1
    prev = last - 1
    v_last, v_prev = values[last], values[prev]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if is_rate:
            out = np.where(v_last < v_prev, v_last, v_last - v_prev)
            out = out / ((times[last] - times[prev]) / 1000.0)
        else:
            out = v_last - v_prev
    return out, present
