"""What per-tick counts cannot be (:func:`count_problems`): a history whose counts are not whole numbers,
or vary less than counts of independent events can, is not a counter's increments, and the estimators' sampling
noise does not hold for it.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from rampsim.calibration.estimators.shared import MIN_TICKS, _as_2d

UNDERDISPERSION_Z = 4.0   # standard errors below Poisson's dispersion before counts are called too regular


def count_problems(counts: ArrayLike, dt: float, name: str, *, dispersion: bool = True) -> list[str]:
    """What makes per-tick ``counts`` ``(T,)`` or ``(T, S)`` unlike a counter's increments, one sentence each.

    Increments of a counter are whole numbers, and counts of independent events vary
    at least as much as Poisson counts around their level (every variability process
    only adds to that). Around a centred ~1-hour rolling mean (partial at the ends and
    gaps), the dispersion index ``D = sum r^2 / sum (1 - 1/c) / mean`` of the arm's
    total is about 1 for Poisson counts with a standard error of ``sqrt((2 + 1/mean) / n)``;
    below 1 by :data:`UNDERDISPERSION_Z` of those, the counts are too regular for the
    model's sampling noise (a scaled rate, a smoothed series), and its fitted noise
    is wrong. ``dispersion=False`` checks whole numbers alone (binomial errors at a high
    error rate vary less than Poisson counts).
    """
    y = _as_2d(counts)
    valid = np.isfinite(y).all(axis=1)
    n = int(valid.sum())
    if n == 0:
        return []
    problems = []
    fractional = float(np.mean((y[valid] != np.round(y[valid])).any(axis=1)))
    if fractional > 0.01:
        problems.append(f"{name}: {fractional:.1%} of the {n:,} complete scrapes' increases are not whole numbers: "
                        "the series holds rates or scaled counts, not a counter's increments (the sampling noise "
                        "the fit sets apart assumes whole counts)")
    total = np.where(valid, y.sum(axis=1), np.nan)
    window = max(3, 2 * int(round(3600.0 / dt / 2)) + 1)
    x = np.where(valid, total, 0.0)
    cx, cc = np.concatenate([[0.0], np.cumsum(x)]), np.concatenate([[0.0], np.cumsum(valid)])
    index = np.arange(len(total))
    lo, hi = np.clip(index - window // 2, 0, len(total)), np.clip(index + window // 2 + 1, 0, len(total))
    c = cc[hi] - cc[lo]
    residual = np.where(valid, total - (cx[hi] - cx[lo]) / np.maximum(c, 1), 0.0)
    weight = float(np.where(valid, 1.0 - 1.0 / np.maximum(c, 1), 0.0).sum())
    mean = float(x.sum()) / n
    if dispersion and n >= MIN_TICKS and weight > 0 and mean > 0:
        index_d = float((residual ** 2).sum()) / weight / mean
        if index_d < 1.0 - UNDERDISPERSION_Z * math.sqrt((2.0 + 1.0 / mean) / n):
            problems.append(f"{name}: per-scrape counts vary less than counts of independent requests can "
                            f"(dispersion index {index_d:.2f} around an hour's rolling mean, over {n:,} scrapes; "
                            "Poisson counts give 1): the model's sampling noise is larger than this history's, "
                            "so its fitted variability is not this service's")
    return problems
