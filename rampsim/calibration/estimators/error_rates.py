"""Base error rates per segment and pooled over segments (:func:`fit_error_rates`): total errors over
total requests.

Intervals (95%, two-sided):

==========================  ==================================================================
parameter                   interval
==========================  ==================================================================
error rate (segment)        block jackknife widened to the exact Poisson (Garwood) interval;
                            Garwood alone when errors are sparse; none (fallback) below
                            MIN_TICKS ticks
==========================  ==================================================================
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
from numpy.typing import ArrayLike

from rampsim.calibration.estimators.intervals import (
    MIN_BLOCKS, Estimate, _block_ids, _block_sum, _garwood, _jackknife, _replicates,
)
from rampsim.calibration.estimators.shared import MIN_TICKS, _as_2d


@dataclass(frozen=True)
class ErrorRateFit:
    """Base error rate per segment (column order of the input) and pooled over segments."""

    rates: tuple[Estimate, ...]
    overall: Estimate


def _rate_estimate(errors: float, requests: float, jack: Optional[tuple[float, float]]) -> Estimate:
    if requests <= 0:
        return Estimate(math.nan, 0.0, 1.0, "default", True, "no scrape with both requests and errors")
    low, high = (g / requests for g in _garwood(errors))
    if jack is None:
        return Estimate(errors / requests, low, min(high, 1.0), "exact Poisson (Garwood)",
                        note="sparse errors: assumes no overdispersion")
    return Estimate(errors / requests, max(min(jack[0], low), 0.0), min(max(jack[1], high), 1.0),
                    "block jackknife (t) widened to the exact Poisson interval")


def fit_error_rates(requests: ArrayLike, errors: ArrayLike, *, blocks: Optional[int] = None,
                    min_errors: int = 50, min_ticks: int = MIN_TICKS) -> ErrorRateFit:
    """Base error rate per segment from requests and errors per tick, ``(T, S)`` or ``(T,)``.

    The rate is total errors over total requests. Its interval is the block
    jackknife's (t with K-1 df: honest under overdispersion and persistence) widened
    to the exact Poisson interval (overdispersion can only widen it); with fewer than
    ``min_errors`` errors or fewer than 5 blocks, the exact Poisson interval alone,
    flagged in the note. ``blocks``: as in :func:`fit_load` (:func:`fit_errors` passes
    the latent fit's). With fewer than ``min_ticks`` ticks holding requests, no rate: a
    short stretch's errors vary with its own bursts and wander, which neither interval
    holds (the exact Poisson one held a 10-minute stretch's day rate 15 times in 143).
    """
    n, e = _as_2d(requests), _as_2d(errors)
    valid = np.isfinite(n) & np.isfinite(e) & (n > 0)
    n, e = np.where(valid, n, 0.0), np.where(valid, e, 0.0)
    tick_valid = valid.any(axis=1)
    k = min(blocks or 20, int(tick_valid.sum()) // 10)
    short = 0 < tick_valid.sum() < min_ticks

    def estimates(nn: np.ndarray, ee: np.ndarray) -> list[Estimate]:
        total_n, total_e = nn.sum(axis=0), ee.sum(axis=0)
        if short:
            note = (f"history too short: {int(tick_valid.sum())} ticks with requests and errors, at least "
                    f"{min_ticks} needed")
            return [Estimate(math.nan, 0.0, 1.0, "default", True, note) for _ in range(nn.shape[1])]
        if k < MIN_BLOCKS:
            return [_rate_estimate(total_e[j], total_n[j], None) for j in range(nn.shape[1])]
        blocks = _block_ids(tick_valid, k)
        rn, re = _replicates(_block_sum(nn, blocks, k)), _replicates(_block_sum(ee, blocks, k))
        with np.errstate(invalid="ignore", divide="ignore"):
            p = re / rn
        return [_rate_estimate(total_e[j], total_n[j], _jackknife(p[0, j], p[1:, j])
                               if total_e[j] >= min_errors else None) for j in range(nn.shape[1])]

    return ErrorRateFit(tuple(estimates(n, e)),
                        estimates(n.sum(axis=1, keepdims=True), e.sum(axis=1, keepdims=True))[0])
