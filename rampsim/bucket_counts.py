"""Classic histograms' cumulative bucket counts made monotonic as Prometheus makes them.

Prometheus's ``promql/quantile.go`` (``ensureMonotonicAndIgnoreSmallDeltas``) holds a
count that falls below the one before it, or rises above it by less than a relative
1e-12 (``util/almost.Equal``: float noise in an exporter's counts), at that one before
``histogram_quantile`` reads them. The PromQL evaluator (:mod:`rampsim.promql.histogram`)
and the engine's metrics (:mod:`rampsim.plan.functions`) both read counts through this
one implementation, per histogram and over many at once, without importing each other.
"""
from __future__ import annotations

import math
import operator
import sys

import numpy as np

__all__ = ["SMALL_DELTA_TOLERANCE", "almost_equal", "monotonic_counts", "monotonic_counts_scalar", "needs_monotonic",
           "needs_monotonic_scalar"]

_MIN_NORMAL = 2.2250738585072014e-308
SMALL_DELTA_TOLERANCE = 1e-12


def almost_equal(a: float, b: float, epsilon: float) -> bool:
    """Prometheus's ``util/almost.Equal``: relative comparison, NaN equal to NaN."""
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    abs_sum = abs(a) + abs(b)
    diff = abs(a - b)
    if a == 0 or b == 0 or abs_sum < _MIN_NORMAL:
        return diff < epsilon * _MIN_NORMAL
    return diff / min(abs_sum, sys.float_info.max) < epsilon


def monotonic_counts_scalar(counts: list[float]) -> list[float]:
    """Prometheus's ``ensureMonotonicAndIgnoreSmallDeltas`` on one histogram's cumulative counts, lowest bucket
    first: a count within a relative 1e-12 of the last one kept, or below it, becomes that one."""
    out = list(counts)
    if not out:
        return out
    prev = out[0]
    for i in range(1, len(out)):
        curr = out[i]
        if curr == prev:
            continue
        if almost_equal(prev, curr, SMALL_DELTA_TOLERANCE) or curr < prev:
            out[i] = prev
            continue
        prev = curr
    return out


def needs_monotonic(counts: np.ndarray) -> bool:
    """Whether :func:`monotonic_counts` may change ``counts`` ``(..., buckets)``, or they hold a NaN: some count
    below the one before it, or above it by less than 1e-12 of twice the largest count (a necessary condition of
    :func:`almost_equal` for two different numbers). Real histograms have none of these, and the checks (on the
    steps, then the ends: the largest count of a non-decreasing row is at one of them) cost less than the loop."""
    with np.errstate(invalid="ignore", over="ignore"):
        steps = counts[..., 1:] - counts[..., :-1]
        if not (steps >= 0).all():   # a decrease, or a NaN
            return True
    if not steps.size:
        return False
    smallest = float(np.where(steps > 0, steps, np.inf).min())
    largest = max(float(np.abs(counts[..., 0]).max()), float(np.abs(counts[..., -1]).max()))
    return smallest < SMALL_DELTA_TOLERANCE * (2 * largest + _MIN_NORMAL)


def needs_monotonic_scalar(counts: list[float]) -> bool:
    """:func:`needs_monotonic` of one histogram's counts (no NaN among them), in built-ins that loop in C: it runs at
    every scrape of the engine. The smallest step that is not 0 decides: below 0, a decrease; above 0 but under the
    bound, perhaps a small delta (with no decrease, the largest count is at one end)."""
    steps = set(map(operator.sub, counts[1:], counts[:-1]))
    steps.discard(0.0)
    if not steps:
        return False
    largest = max(abs(counts[0]), abs(counts[-1]))
    return math.isinf(largest) or min(steps) < SMALL_DELTA_TOLERANCE * (2 * largest + _MIN_NORMAL)


def monotonic_counts(counts: np.ndarray) -> np.ndarray:
    """:func:`monotonic_counts_scalar` of every histogram of ``counts`` ``(..., buckets)`` at once, bit for bit."""
    out = np.array(counts, dtype=float)
    prev = out[..., 0].copy()
    for i in range(1, out.shape[-1]):
        curr = out[..., i]
        held = (curr == prev) | _almost_equal(prev, curr, SMALL_DELTA_TOLERANCE) | (curr < prev)
        out[..., i] = np.where(held & (curr != prev), prev, curr)
        prev = np.where(held, prev, curr)
    return out


def _almost_equal(a: np.ndarray, b: np.ndarray, epsilon: float) -> np.ndarray:
    """:func:`almost_equal` elementwise."""
    with np.errstate(invalid="ignore", over="ignore"):
        abs_sum = np.abs(a) + np.abs(b)
        diff = np.abs(a - b)
        tiny = (a == 0) | (b == 0) | (abs_sum < _MIN_NORMAL)
        relative = diff / np.minimum(abs_sum, sys.float_info.max) < epsilon
        close = np.where(tiny, diff < epsilon * _MIN_NORMAL, relative)
    return (np.isnan(a) & np.isnan(b)) | (a == b) | close
