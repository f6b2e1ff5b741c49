"""PromQL's functions as the metric definitions compute them: on numpy arrays, and on plain floats.

Each vectorized function has a scalar twin for the engine's per-scrape path, written
with the same float operations in the same order, so both give identical floats (a
property test holds them to it). Windows are rows of scrape indices ``[start, end]``.
"""
from __future__ import annotations

import bisect
import math
from typing import Callable, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from rampsim.bucket_counts import (
    monotonic_counts, monotonic_counts_scalar, needs_monotonic, needs_monotonic_scalar,
)

__all__ = ["histogram_quantile", "histogram_quantile_scalar", "ratio", "ratio_scalar", "chi2_p_value", "windows",
           "slope_per_hour", "avg_over_time", "max_over_time", "chi2_survival", "NAN"]

NAN = float("nan")


def histogram_quantile(q: float, upper_bounds: Sequence[float] | np.ndarray, buckets: np.ndarray) -> np.ndarray:
    """PromQL ``histogram_quantile`` on classic cumulative buckets, vectorized over rows.

    ``buckets`` is ``(..., len(upper_bounds))`` of cumulative counts, the last bound
    ``+Inf``. As Prometheus does: counts are made monotonic, ignoring relative differences below 1e-12
    (:func:`~rampsim.bucket_counts.monotonic_counts`, as the PromQL evaluator does); the rank ``q * total``
    falls in the first bucket whose count reaches it and is interpolated linearly
    inside it (the lowest bucket from 0); a rank in the ``+Inf`` bucket gives the
    largest finite bound; no observations give ``NaN``.
    """
    le = np.asarray(upper_bounds, dtype=float)
    if len(le) < 2:  # Prometheus: fewer than two buckets give NaN
        return np.full(np.shape(buckets)[:-1], np.nan)
    counts = np.asarray(buckets, dtype=float)
    damaged = np.False_
    if needs_monotonic(counts):
        damaged = np.isnan(counts).any(axis=-1)   # a NaN count makes the quantile NaN, as in the per-scrape twin
        counts = monotonic_counts(counts)
    total = counts[..., -1]
    with np.errstate(invalid="ignore"):   # 0 * inf: a NaN rank, no bucket reaches it
        rank = q * total
    b = np.sum(counts[..., :-1] < rank[..., None], axis=-1)
    inside = b < len(le) - 1
    b = np.minimum(b, len(le) - 2)
    below = np.maximum(b - 1, 0)
    lower_count = np.where(b > 0, np.take_along_axis(counts, below[..., None], -1)[..., 0], 0.0)
    upper_count = np.take_along_axis(counts, b[..., None], -1)[..., 0]
    bucket_start = np.where(b > 0, le[below], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = bucket_start + (le[b] - bucket_start) * ((rank - lower_count) / (upper_count - lower_count))
    value = np.where(inside, value, le[-2])
    value = np.where(inside & (b == 0) & (le[0] <= 0), le[0], value)
    return np.where((total > 0) & ~damaged, value, np.nan)


def histogram_quantile_scalar(q: float, upper_bounds: Sequence[float], buckets: Sequence[float]) -> float:
    """:func:`histogram_quantile` for one histogram of plain floats (same steps, same float operations)."""
    if len(buckets) < 2 or (math.isnan(sum(buckets)) and any(map(math.isnan, buckets))):   # inf - inf is no NaN
        return NAN
    counts = list(buckets)
    if needs_monotonic_scalar(counts):   # a real histogram never does
        counts = monotonic_counts_scalar(counts)
    total = counts[-1]
    if not total > 0:
        return NAN
    rank = q * total
    last = len(counts) - 1
    b = bisect.bisect_left(counts, rank, 0, last)  # the first bucket whose count reaches the rank
    if b == last:
        return upper_bounds[-2]
    if b == 0:
        if upper_bounds[0] <= 0:
            return upper_bounds[0]
        return upper_bounds[0] * (rank / counts[0]) if counts[0] else NAN   # Go: 0/0 is NaN (q = 0)
    bucket_start, lower_count = upper_bounds[b - 1], counts[b - 1]
    return bucket_start + (upper_bounds[b] - bucket_start) * ((rank - lower_count) / (counts[b] - lower_count))


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator``, ``NaN`` where the denominator is not positive (no traffic)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)


def ratio_scalar(numerator: float, denominator: float) -> float:
    """:func:`ratio` on plain floats."""
    return numerator / denominator if denominator > 0 else NAN


def chi2_p_value(errors: list, requests: list) -> np.ndarray:
    """p-value of a chi-square test that all segments share one error rate (vectorized)."""
    total_errors, total_requests = errors[0], requests[0]
    for e, r in zip(errors[1:], requests[1:]):
        total_errors, total_requests = total_errors + e, total_requests + r
    pooled = ratio(total_errors, total_requests)
    statistic = np.zeros_like(pooled)
    with np.errstate(invalid="ignore", divide="ignore"):
        for e, r in zip(errors, requests):
            expected = r * pooled
            statistic = statistic + (e - expected) ** 2 / (expected * (1 - pooled))
    p_value = chi2_survival(statistic, len(errors) - 1)
    return np.where((pooled == 0) | (pooled == 1), 1.0, p_value)


_erfc = np.vectorize(math.erfc, otypes=[float])


def chi2_survival(x: np.ndarray, df: int) -> np.ndarray:
    """``P(X > x)`` for a chi-square variable with a whole number ``df`` of degrees of freedom.

    The regularized upper incomplete gamma function ``Q(df/2, x/2)`` in closed form
    (Abramowitz and Stegun 26.4.4 and 26.4.5): a finite sum of Poisson terms, plus
    ``erfc`` for odd ``df``. Exact to rounding for the few degrees of freedom segments
    give, without scipy (the production path does not install it). ``NaN`` stays ``NaN``, and
    so is every value for ``df`` below 1, as in scipy.
    """
    half = np.asarray(x, dtype=float) / 2.0
    if df < 1:  # one segment: nothing to compare (scipy gives NaN too)
        return np.full(half.shape, np.nan)
    with np.errstate(invalid="ignore", over="ignore"):
        decay = np.exp(-half)
        if df % 2 == 0:
            term, total = decay, decay
            for i in range(1, df // 2):
                term = term * half / i
                total = total + term
            return np.where(np.isposinf(half), 0.0, np.minimum(total, 1.0))
        root = np.sqrt(np.maximum(half, 0.0))
        total = _erfc(root)
        term = decay * root / math.gamma(1.5)   # i = 1: half**0.5 / Gamma(1.5)
        for i in range(1, (df - 1) // 2 + 1):
            total = total + term
            term = term * half / (i + 0.5)
        return np.where(np.isnan(half), np.nan, np.where(np.isposinf(half), 0.0, np.minimum(total, 1.0)))


def windows(values: np.ndarray, times: np.ndarray, start: np.ndarray, end: np.ndarray,
            reduce: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
    """``reduce(values, times)`` row-wise over the windows ``[start, end]``, grouped by length."""
    result = np.full(len(end), np.nan)
    for length in np.unique(end - start):
        rows = np.flatnonzero(end - start == length)
        result[rows] = reduce(sliding_window_view(values, length + 1)[start[rows]],
                              sliding_window_view(times, length + 1)[start[rows]])
    return result


def slope_per_hour(values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Least-squares slope per hour over each row's present samples (PromQL ``deriv``): a missing sample
    (``NaN``) is left out, anywhere in the window; ``NaN`` with fewer than two present, and 0 when they are all
    equal (as Prometheus's ``linearRegression`` gives, where the fit would leave rounding noise)."""
    present = ~np.isnan(values)
    count = present.sum(axis=1, keepdims=True)
    t = times - times[:, :1]
    with np.errstate(invalid="ignore", divide="ignore"):
        t_centred = np.where(present, t - np.where(present, t, 0.0).sum(axis=1, keepdims=True) / count, 0.0)
        v_centred = values - np.where(present, values, 0.0).sum(axis=1, keepdims=True) / count
        slope = (t_centred * np.where(present, v_centred, 0.0)).sum(axis=1) / (t_centred ** 2).sum(axis=1)
    constant = np.fmax.reduce(values, axis=1) == np.fmin.reduce(values, axis=1)
    return np.where(count[:, 0] >= 2, np.where(constant, 0.0, slope * 3600.0), np.nan)


def avg_over_time(values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """PromQL ``avg_over_time`` of each row: the mean of its present samples (``NaN``: missing, left out), ``NaN``
    with none. Sums ``v / n``, not ``v`` then ``/ n``: like Prometheus's, it stays finite near the float limit."""
    present = ~np.isnan(values)
    count = present.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count[:, 0] > 0, np.where(present, values / count, 0.0).sum(axis=1), np.nan)


def max_over_time(values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """PromQL ``max_over_time`` of each row: the largest of its values that are not ``NaN`` (missing samples,
    inconclusive sub-windows), ``NaN`` when none is."""
    return np.fmax.reduce(values, axis=1) if values.shape[1] else np.full(len(values), np.nan)
