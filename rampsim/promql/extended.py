"""Prometheus 3.x's extended range selectors: the ``anchored`` and ``smoothed`` modifiers.

PROM-52 ("extended range selectors semantics", prometheus/prometheus#16457, Prometheus 3.7
on). Transcribed from prometheus/prometheus ``promql/engine.go`` (the ``*parser.Call`` case
of ``eval`` and ``smoothSeries``) and ``promql/functions.go`` (``extendedRate``,
``pickOrInterpolateLeft``/``Right``, ``interpolate``, ``correctForCounterResets``,
``pickFirstSampleIndex`` for ``changes``/``resets``), float samples only:

* ``f(x[r] anchored)`` reads the samples in ``(t-r-lookback, t]`` and anchors the window
  at the last sample at or before ``t-r`` (the first one if none), provided one is after
  ``t-r``; ``rate``/``increase``/``delta`` are the last value minus the anchor's, counter
  resets corrected, without extrapolation; ``changes``/``resets`` count from the anchor.
* ``f(x[r] smoothed)`` reads ``(t-r-lookback, t+lookback]`` and interpolates linearly at
  ``t-r`` and ``t`` between the samples around them (a counter that drops is taken to
  restart from zero), for ``rate``/``increase``/``delta`` only.
* ``x smoothed`` (an instant selector) is the series interpolated at ``t`` between the
  samples around it within ``lookback`` either side, or the latest one if none follows.

These are the semantics of Prometheus's main branch (3.14, the conformance target): a counter
reset at the window's right edge interpolated as prometheus#17988 fixed it, and no result
when every sample lies after the range (main's ``extended_vectors.test``). Releases 3.7 to
3.9 differ in those two edge cases; rampsim follows main for every version from 3.7.
Which functions take which modifier is checked as ``eval`` does (:func:`check`); Prometheus
before 3.7 does not parse them. Everything is vectorized over (series, time): windows are
found by ``bound(times)``, the index just past each series' samples at or before each
time in the staleness-free sample arrays (padded with one sentinel sample, so that
indices ``-1`` and ``len`` gather safely); only windows with a counter reset to correct
loop in Python, in Go's order.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from rampsim.promql.errors import QueryError
from rampsim.promql.semantics import Semantics

__all__ = ["ALLOWED", "Bound", "check", "extended_rate", "anchored_count", "smoothed_value"]

# AnchoredSafeFunctions / SmoothedSafeFunctions (promql/engine.go).
ALLOWED: dict[str, frozenset[str]] = {
    "anchored": frozenset({"changes", "delta", "increase", "rate", "resets"}),
    "smoothed": frozenset({"delta", "increase", "rate"}),
}

Bound = Callable[[np.ndarray], np.ndarray]
"""``bound(times)`` (``(T,)`` int64 ms): each series' index just past its samples ``<= time``, ``(S, T)``."""


def check(modifier: str, function: str | None, semantics: Semantics) -> None:
    """Fail as Prometheus does where ``modifier`` cannot be used: before 3.7, or with ``function`` (None: a selector)."""
    if not semantics.extended_range_selectors:
        raise QueryError(f"{modifier} modifier: Prometheus {semantics} does not parse it "
                         "(extended range selectors, Prometheus 3.7 and later)")
    allowed = ALLOWED[modifier]
    if function is not None and function not in allowed:
        raise QueryError(f"{modifier} modifier can only be used with: {', '.join(sorted(allowed))} "
                         f"- not with {function}")


def _take(array: np.ndarray, index: np.ndarray) -> np.ndarray:
    return np.take(array, index, mode="wrap")


def _interpolate(times: np.ndarray, values: np.ndarray, p1: np.ndarray, p2: np.ndarray, t: np.ndarray,
                 is_counter: bool) -> np.ndarray:
    """Go's ``interpolate(p1, p2, t, isCounter)``: the line through two samples at ``t`` (a drop restarts from 0)."""
    y1, y2 = _take(values, p1), _take(values, p2)
    t1 = _take(times, p1)
    if is_counter:
        y1 = np.where(y2 < y1, 0.0, y1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return y1 + (y2 - y1) * (t - t1).astype(np.float64) / (_take(times, p2) - t1).astype(np.float64)


def _window(bound: Bound, range_start: np.ndarray, range_end: np.ndarray, lookback_ms: int,
            smoothed: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(i0, first, last)`` of each window: where its samples start, and the samples ``extendedRate`` picks.

    ``first`` is the last sample at or before the range start (``max(0, sort.Search(n-1,
    T > rangeStart) - 1)``), ``last`` the window's last sample or, smoothed, the first at or
    after the range end (``sort.Search(n-1, T >= rangeEnd)``). A window without samples has
    ``last < i0``."""
    i0 = bound(range_start - lookback_ms)
    last = bound(range_end + lookback_ms if smoothed else range_end) - 1
    first = np.maximum(i0, np.minimum(bound(range_start), last) - 1)
    if smoothed:        # times are integer ms: the first sample >= t is the first > t - 1
        last = np.minimum(bound(range_end - 1), last)
    return i0, first, last


def _correction(values: np.ndarray, resets: np.ndarray, left: np.ndarray, right: np.ndarray, a: np.ndarray,
                b: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Go's ``correctForCounterResets(left, right, f[a:b+1])`` of every window.

    Zero unless some step of ``left, f[a], ..., f[b], right`` goes down; those windows
    (``resets`` counts the drops between consecutive samples) are corrected in Go's order."""
    inner = a <= b
    drops = np.where(inner, (_take(resets, b) - _take(resets, a) > 0) | (_take(values, a) < left)
                     | (right < _take(values, b)), right < left)
    out = np.zeros(left.shape)
    for k in np.flatnonzero((present & drops).ravel()):
        prev = float(left.flat[k])
        correction = 0.0
        for value in values[int(a.flat[k]):int(b.flat[k]) + 1].tolist():
            if value < prev:
                correction += prev
            prev = value
        if float(right.flat[k]) < prev:
            correction += prev
        out.flat[k] = correction
    return out


def extended_rate(times: np.ndarray, values: np.ndarray, resets: np.ndarray, bound: Bound,
                  range_start: np.ndarray, range_end: np.ndarray, range_ms: int, lookback_ms: int,
                  is_counter: bool, is_rate: bool, smoothed: bool) -> tuple[np.ndarray, np.ndarray]:
    """``extendedRate``: ``rate``/``increase``/``delta`` of ``x[r] anchored`` (or ``smoothed``) at every time.

    ``range_start``/``range_end`` are ``t-offset-r`` and ``t-offset`` (``(T,)`` ms).
    Returns ``(values, present)``, ``(S, T)``."""
    start, end = range_start[None, :], range_end[None, :]
    i0, first, last = _window(bound, range_start, range_end, lookback_ms, smoothed)
    t_first, t_last = _take(times, first), _take(times, last)
    present = (last >= i0) & (t_last > start)
    left, right = _take(values, first), _take(values, last)
    if smoothed:
        present &= t_first <= end
        left = np.where(t_first < start, _interpolate(times, values, first, first + 1, start, is_counter), left)
        right = np.where((last > i0) & (t_last > end),
                         _interpolate(times, values, last - 1, last, end, is_counter), right)
    with np.errstate(invalid="ignore", over="ignore"):
        result = right - left
        if is_counter:
            # Only the samples strictly inside the range: the boundaries' resets are in left and right.
            a = first + (t_first <= start)
            b = last - (t_last >= end)
            result += _correction(values, resets, left, right, a, b, present)
        if is_rate:
            result /= range_ms / 1000.0
    return result, present


def anchored_count(counts: np.ndarray, times: np.ndarray, bound: Bound, range_start: np.ndarray,
                   range_end: np.ndarray, lookback_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """``changes``/``resets`` of ``x[r] anchored``: ``counts`` (running changes or resets) from the anchor on."""
    i0, first, last = _window(bound, range_start, range_end, lookback_ms, smoothed=False)
    present = (last >= i0) & (_take(times, last) > range_start[None, :])
    return (_take(counts, last) - _take(counts, first)).astype(np.float64), present


def smoothed_value(times: np.ndarray, values: np.ndarray, bound: Bound, at: np.ndarray,
                   lookback_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """``smoothSeries``: ``x smoothed`` at the times ``at`` (``(T,)`` ms, offset applied).

    The sample at ``at`` if there is one, else the line between the samples around it, else
    the latest sample before it, within ``(at - lookback, at + lookback]``; none if no sample
    precedes ``at`` there."""
    i0 = bound(at - lookback_ms)
    i1 = bound(at + lookback_ms)
    i = np.clip(bound(at - 1), i0, i1)          # the first sample at or after `at`
    exact = (i < i1) & (_take(times, i) == at[None, :])
    after = i > i0
    between = _interpolate(times, values, i - 1, i, at[None, :], is_counter=False)
    out = np.where(exact, _take(values, i), np.where(i < i1, between, _take(values, i - 1)))
    return out, exact | after
