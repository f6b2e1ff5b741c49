"""Health checks (:func:`fit_health`): the independent check failure probability and the per-instance
blips, from per-tick check totals.

Intervals (95%, two-sided):

==========================  ==================================================================
parameter                   interval
==========================  ==================================================================
health q                    block jackknife (blips present) or Garwood on all failures (none);
                            none (fallback) below MIN_TICKS ticks
blip per_day, duration      block jackknife on the logs; upper bound only when not detected
==========================  ==================================================================
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
from numpy.typing import ArrayLike

from rampsim.calibration.estimators.intervals import (
    MAX_BLOCKS, MIN_BLOCKS, Estimate, _block_edges, _block_sum, _fallback, _garwood, _jackknife, _replicates,
)
from rampsim.calibration.estimators.moments import _lag_sums, _project
from rampsim.calibration.estimators.shared import DAY, MIN_TICKS


@dataclass(frozen=True)
class HealthFit:
    """Health checks: the independent failure probability and the instance blips.

    ``detected`` says whether blips were detected (their failed-check covariance
    interval excludes zero).
    """

    failure: Estimate
    per_day: Estimate
    duration: Estimate
    detected: bool


def _blip_basis(r: np.ndarray, rounds: int, lags: np.ndarray) -> np.ndarray:
    """Covariance shapes of per-tick failed checks from blips, per ``r = exp(-interval / duration)``.

    Failed checks of one round from blips have ``Cov(X_j, X_{j+m}) = lambda mu r^m``
    (``lambda`` blips per second, ``mu`` their mean duration); a tick sums ``rounds``
    rounds. Lag 0 is the variance less the mean (the independent failures'
    binomial variance, and the blips' own Poisson part, cancel).
    """
    d = np.arange(-(rounds - 1), rounds)
    multiplicity = rounds - np.abs(d)
    shift = np.abs(rounds * lags[:, None] + d[None, :])                  # (lags, offsets)
    terms = multiplicity[None, None, :] * r[:, None, None] ** shift[None, :, :]
    terms[:, lags == 0, rounds - 1] = 0.0                                  # lag 0, offset 0: the Poisson part
    return terms.sum(axis=2)


def fit_health(checks: ArrayLike, ok: ArrayLike, instances: int, check_interval: float = 5.0, dt: float = 15.0, *,
               min_duration: Optional[float] = None, max_lag: int = 4, max_blocks: int = MAX_BLOCKS) -> HealthFit:
    """Independent check failure probability and instance blips from per-tick check totals.

    Moments of the failed checks per tick ``f``: the variance less the mean and the
    lag 1..``max_lag`` autocovariances equal ``lambda mu`` times known shapes of
    ``r = exp(-check_interval / mu)`` (:func:`_blip_basis`), fitted by least squares
    over a grid of ``mu``; then ``q = (mean f - rounds * lambda mu) / mean checks``.
    Intervals: block jackknife (t) on ``q``, ``log mu`` and ``log per_day``. When
    ``lambda mu`` is not significantly positive, blips are not detected: ``q`` gets the
    exact Poisson interval of all failures over all checks (an upper bound holds
    whatever the blips), ``per_day`` the interval ``[0, upper]`` assuming blips last
    at least ``min_duration`` (default: one check interval; shorter blips are
    indistinguishable from independent failures), ``duration`` the default.
    """
    c, o = np.asarray(checks, dtype=float), np.asarray(ok, dtype=float)
    f = c - o
    valid = np.isfinite(c) & np.isfinite(o) & (c > 0) & (f >= 0)
    n_valid = int(valid.sum())
    rounds = max(1, int(round(dt / check_interval)))
    shortest = check_interval if min_duration is None else min_duration
    total_f, total_c = float(f[valid].sum()), float(c[valid].sum())
    if total_c <= 0:
        note = "no health checks observed"
        return HealthFit(Estimate(math.nan, 0.0, 1.0, "default", True, note), _fallback("blip_per_day", note),
                         _fallback("blip_duration", note), False)
    if n_valid < MIN_TICKS:   # a short stretch's failures are its blips': the plan's own rate is kept
        note = f"history too short: {n_valid} valid ticks, at least {MIN_TICKS} needed"
        return HealthFit(Estimate(math.nan, 0.0, 1.0, "default", True, note), _fallback("blip_per_day", note),
                         _fallback("blip_duration", note), False)
    low, high = (g / total_c for g in _garwood(total_f))
    garwood = Estimate(total_f / total_c, low, min(high, 1.0), "exact Poisson (Garwood) on all failures",
                       note="blips not detected: failures of blips, if any, are counted in")
    k = int(np.clip(n_valid // 50, MIN_BLOCKS, max_blocks))
    edges = _block_edges(valid, k)
    blocks = np.searchsorted(edges[1:-1], np.arange(len(valid)), side="right")
    centred = np.where(valid, f - total_f / n_valid, np.nan)
    lags = np.arange(0, max_lag + 1)
    p, pairs = _lag_sums(centred, centred, edges, lags)
    n = _replicates(_block_sum(valid.astype(float), blocks, k))
    mean_f = _replicates(_block_sum(np.where(valid, f, 0.0), blocks, k)) / n
    mean_c = _replicates(_block_sum(np.where(valid, c, 0.0), blocks, k)) / n
    g = p / np.maximum(pairs, 1)
    g[:, 0] -= mean_f
    r = np.exp(-check_interval / np.geomspace(check_interval / 20, 1000 * check_interval, 600))
    amp, best = _project(g, _blip_basis(r, rounds, lags))
    low, high = _jackknife(amp[0], amp[1:])
    if not low > 0:
        bound = max(high, _garwood(total_f)[1] / (rounds * n_valid))
        per_day = Estimate(0.0, 0.0, bound / shortest * DAY / instances, "jackknife / Poisson bound",
                           note=f"blips not detected; upper bound assumes blips last at least {shortest:g} s")
        return HealthFit(garwood, per_day, _fallback("blip_duration", "blips not detected"), False)
    mu = -check_interval / np.log(r[best])
    q = (mean_f - rounds * amp) / mean_c
    per_day = amp / mu * DAY / instances
    q_low, q_high = _jackknife(q[0], q[1:])
    mu_low, mu_high = _jackknife(math.log(mu[0]), np.log(mu[1:]))
    with np.errstate(invalid="ignore", divide="ignore"):
        log_rate = np.log(per_day)
    rate_low, rate_high = _jackknife(log_rate[0], log_rate[1:])
    return HealthFit(
        Estimate(max(float(q[0]), 0.0), max(q_low, 0.0), min(max(q_high, 0.0), 1.0), "block jackknife, t"),
        Estimate(float(per_day[0]), math.exp(rate_low), math.exp(rate_high), "block jackknife on log per_day, t"),
        Estimate(float(mu[0]), math.exp(mu_low), math.exp(mu_high), "block jackknife on log duration, t"),
        True)
