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

``extrapolated_rate_one`` and ``instant_value_one`` compute the same, operation for
operation (IEEE float arithmetic rounds alike in numpy and Python), over the few windows
of one evaluation time in plain Python, where numpy's per-call overhead would dominate.
"""
from __future__ import annotations

import math
import threading

import numpy as np

from rampsim.promql.semantics import Semantics

__all__ = ["extrapolated_rate", "instant_value", "extrapolated_rate_one", "instant_value_one"]

_NAN = math.nan


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
                      semantics: Semantics, times_f: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Prometheus's ``extrapolatedRate`` for windows ``[i0, i1)`` (shape ``(S, T)``).

    ``times``/``values``/``reset_count`` are the store's flat samples padded with one
    sentinel (so ``i0 == len`` and ``i1 - 1 == -1`` index safely); ``range_start`` and
    ``range_end`` are the window bounds in ms, shape ``(T,)``. Returns ``(values, present)``:
    a window with fewer than two samples has no result (its value is meaningless).

    ``times_f``, ``times`` as float64, may be given when every time (samples and bounds) is
    below 2**53 ms in magnitude: differences of such floats round as the float of the
    integer difference does, so the result is the same, with fewer conversions. The
    intermediate arrays are reused per thread (:func:`_scratch`): allocating a dozen fresh
    ones per call costs more than the arithmetic where the allocator returns them to the system.
    """
    shape = i0.shape
    slot = _Slots(shape)
    n = np.subtract(i1, i0, out=slot.int())
    present = n >= 2
    last = np.subtract(i1, 1, out=slot.int())
    v_first = np.take(values, i0, out=slot.float(), mode="wrap")
    # Floating-point warnings are silenced by the caller (api._run): NaN and Inf are results here.
    result = np.take(values, last, mode="wrap")
    result -= v_first
    if is_counter and reset_count[-1] != reset_count[0]:      # counts are cumulative: any reset at all?
        resets = np.take(reset_count, last, out=slot.int(), mode="wrap")
        resets -= np.take(reset_count, i0, out=slot.int(), mode="wrap")
        resets *= present
        if resets.any():
            _reset_corrected(values, i0, last, resets, result)
    if times_f is not None:
        t_first = np.take(times_f, i0, out=slot.float(), mode="wrap")
        t_last = np.take(times_f, last, out=slot.float(), mode="wrap")
        start_f = range_start.astype(np.float64)
        end_f = range_end.astype(np.float64)
        to_start = np.subtract(t_first, start_f, out=slot.float())
        to_start /= 1000.0
        to_end = np.subtract(end_f, t_last, out=slot.float())
        to_end /= 1000.0
        sampled = np.subtract(t_last, t_first, out=t_last)
        sampled /= 1000.0
    else:
        t_first_i = np.take(times, i0, out=slot.int(), mode="wrap")
        t_last_i = np.take(times, last, out=slot.int(), mode="wrap")
        to_start = np.divide(np.subtract(t_first_i, range_start, out=slot.int()), 1000.0, out=slot.float())
        to_end = np.divide(np.subtract(range_end, t_last_i, out=slot.int()), 1000.0, out=slot.float())
        sampled = np.divide(np.subtract(t_last_i, t_first_i, out=t_last_i), 1000.0, out=slot.float())
    n -= 1
    average = np.divide(sampled, n, out=slot.float())
    threshold = np.multiply(average, 1.1, out=slot.float())
    half = np.divide(average, 2, out=average)
    mask = slot.bool()
    # np.putmask(a, mask, b) is np.where(mask, b, a), in place.
    if semantics.zero_point_before_threshold:
        if is_counter:
            _shorten_to_zero(to_start, sampled, v_first, result, slot)
        np.putmask(to_start, np.greater_equal(to_start, threshold, out=mask), half)
    else:
        np.putmask(to_start, np.greater_equal(to_start, threshold, out=mask), half)
        if is_counter:
            _shorten_to_zero(to_start, sampled, v_first, result, slot)
    np.putmask(to_end, np.greater_equal(to_end, threshold, out=mask), half)
    factor = np.add(sampled, to_start, out=to_start)
    factor += to_end
    factor /= sampled
    if is_rate:
        factor /= range_ms / 1000.0
    result *= factor
    return result, present


def _shorten_to_zero(to_start: np.ndarray, sampled: np.ndarray, v_first: np.ndarray, result: np.ndarray,
                     slot: "_Slots") -> None:
    """Where the counter would reach zero within the start gap, extrapolate only to there (in place)."""
    to_zero = np.divide(v_first, result, out=slot.float())
    to_zero *= sampled                    # sampled * (v_first / result): multiplication commutes exactly
    shorten = np.greater(result, 0, out=slot.bool())
    shorten &= np.greater_equal(v_first, 0, out=slot.bool())
    shorten &= np.less(to_zero, to_start, out=slot.bool())
    np.putmask(to_start, shorten, to_zero)


class _Scratch(threading.local):
    """Per-thread reusable arrays, by (kind, slot)."""

    def __init__(self) -> None:
        self.buffers: dict[tuple[str, int], np.ndarray] = {}


_SCRATCH = _Scratch()
_SCRATCH_MAX = 1 << 18       # elements: larger intermediates are allocated per call


class _Slots:
    """Hands out the scratch arrays of one call, each once (``shape`` elements, reused across calls)."""

    __slots__ = ("shape", "size", "used")

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape
        self.size = int(np.prod(shape))
        self.used: dict[str, int] = {}

    def _get(self, kind: str, dtype: type) -> np.ndarray:
        if self.size > _SCRATCH_MAX:
            return np.empty(self.shape, dtype=dtype)
        k = self.used.get(kind, 0)
        self.used[kind] = k + 1
        buffers = _SCRATCH.buffers
        buf = buffers.get((kind, k))
        if buf is None or len(buf) < self.size:
            buf = buffers[(kind, k)] = np.empty(max(self.size, 1024), dtype=dtype)
        return buf[:self.size].reshape(self.shape)

    def int(self) -> np.ndarray:
        return self._get("i", np.int64)

    def float(self) -> np.ndarray:
        return self._get("f", np.float64)

    def bool(self) -> np.ndarray:
        return self._get("b", np.bool_)


def instant_value(times: np.ndarray, values: np.ndarray, i0: np.ndarray, i1: np.ndarray,
                  is_rate: bool) -> tuple[np.ndarray, np.ndarray]:
    """Prometheus's ``instantValue``: ``irate`` (``is_rate``) or ``idelta`` from the window's last two samples.

    Arrays padded with a sentinel as for :func:`extrapolated_rate`. A window without two
    samples may index before the arrays' start (``-2`` with no sample at all): wrapped around
    (its value is meaningless), where it once raised ``IndexError``."""
    present = (i1 - i0) >= 2
    last = i1 - 1
    prev = last - 1
    v_last, v_prev = values[last], np.take(values, prev, mode="wrap")
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        if is_rate:
            out = np.where(v_last < v_prev, v_last, v_last - v_prev)
            out = out / ((times[last] - np.take(times, prev, mode="wrap")) / 1000.0)
        else:
            out = v_last - v_prev
    return out, present


def extrapolated_rate_one(times: list[int] | list[float], values: list[float], reset_count: list[int],
                          i0s: list[int], i1s: list[int], range_start: float, range_end: float, range_ms: int,
                          is_counter: bool, is_rate: bool, semantics: Semantics) -> tuple[list[float], list[bool]]:
    """:func:`extrapolated_rate` at one time: windows ``[i0, i1)`` of Python lists (padded likewise), bounds in ms.

    Times (and bounds) are integers, or floats where all are below 2**53 in magnitude (the
    same results: see :func:`extrapolated_rate`'s ``times_f``). Returns ``(values,
    present)`` lists; an absent window's value is NaN. Every value is computed by the same
    operations on the same operands as in :func:`extrapolated_rate`; what depends only on
    the window's first and last sample times and its sample count (the extrapolation
    factor unless the counter's zero point shortens it) is computed once for consecutive
    windows that share them, as series scraped together do.
    """
    out: list[float] = []
    present: list[bool] = []
    add, mark = out.append, present.append
    zero_first = semantics.zero_point_before_threshold
    range_s = range_ms / 1000.0
    resets = is_counter and bool(reset_count) and reset_count[-1] != reset_count[0]
    p_first: float | None = None
    p_last: float | None = None
    p_n = 0
    to_start = to_end = sampled = average = threshold = start = factor0 = 0.0
    for i0, i1 in zip(i0s, i1s):
        n = i1 - i0
        if n < 2:
            add(_NAN)
            mark(False)
            continue
        last = i1 - 1
        t_first = times[i0]
        t_last = times[last]
        if t_first != p_first or t_last != p_last or n != p_n:
            p_first, p_last, p_n = t_first, t_last, n
            to_start = (t_first - range_start) / 1000.0
            to_end = (range_end - t_last) / 1000.0
            sampled = (t_last - t_first) / 1000.0
            average = sampled / (n - 1)
            threshold = average * 1.1
            if to_end >= threshold:
                to_end = average / 2
            start = average / 2 if to_start >= threshold else to_start     # the start gap after the threshold
            factor0 = (sampled + start + to_end) / sampled
            if is_rate:
                factor0 /= range_s
        v_first = values[i0]
        result = values[last] - v_first
        if resets and reset_count[last] != reset_count[i0]:
            prev = v_first
            for j in range(i0 + 1, i1):
                cur = values[j]
                if cur < prev:
                    result += prev
                prev = cur
        if is_counter and result > 0 and v_first >= 0:
            to_zero = sampled * (v_first / result)
            # Before #13725 the zero point limits the start gap, then the threshold applies to
            # what is left; after it, the zero point limits the gap the threshold left.
            if to_zero < (to_start if zero_first else start):
                if zero_first and to_zero >= threshold:
                    to_zero = average / 2
                factor = (sampled + to_zero + to_end) / sampled
                add(result * (factor / range_s if is_rate else factor))
                mark(True)
                continue
        add(result * factor0)
        mark(True)
    return out, present


def instant_value_one(times: list[int] | list[float], values: list[float], i0s: list[int], i1s: list[int],
                      is_rate: bool) -> tuple[list[float], list[bool]]:
    """:func:`instant_value` at one time, over Python lists (an absent window's value is NaN)."""
    out: list[float] = []
    present: list[bool] = []
    for i0, i1 in zip(i0s, i1s):
        if i1 - i0 < 2:
            out.append(_NAN)
            present.append(False)
            continue
        last = i1 - 1
        v_last, v_prev = values[last], values[last - 1]
        if is_rate:
            value = v_last if v_last < v_prev else v_last - v_prev
            out.append(value / ((times[last] - times[last - 1]) / 1000.0))
        else:
            out.append(v_last - v_prev)
        present.append(True)
    return out, present
