"""The day spread of the request process: how much the noise's level changes from day to day.

The variability model's ``day_spread`` (:class:`~rampsim.sim.config.Latent`) multiplies a
day's ``sd`` and ``jitter`` by a log-normal factor. :func:`fit_day_spread` reads it from the
history's whole days, per minute: each day's noise sd beyond Poisson's
(:func:`~rampsim.calibration.estimators.day_noise.day_noise`, ``log`` scale), whose variance
across the days it matches with that of :data:`MODEL_DAYS` days of the fitted model simulated
with the simulator's own draws at each of :data:`SPREADS` (common random numbers: the curve
rises with the spread, and the day spread is read off it). A day's noise sd is not proportional
to its factor when the wander is large or bursts are many (a variance read as the sampling's
plus the spread's put the spread low); simulating the model at each spread takes that as the
model has it.

Interval (95%, two-sided): the spreads at which the history's variance lies within the 2.5%
and 97.5% quantiles of the variance of as many of the model's days (resampled from those at the
estimate), read off the same curve (0 below it; infinite above the
largest spread tried, or the largest whose days could all be read). It needs
:data:`~rampsim.calibration.estimators.day_noise.MIN_DAYS` whole days with noise enough beside
Poisson's, at ticks of at most 10 minutes; else the stated default (0) with a note.
"""
from __future__ import annotations

import math
from dataclasses import replace
from typing import Optional

import numpy as np
from numpy.typing import ArrayLike

from rampsim.calibration.estimators import Estimate, LatentFit, LoadFit
from rampsim.calibration.estimators.day_noise import (
    MAX_STEP, MIN_DAYS, MIN_DISPERSION, MIN_PRESENT, day_noise, whole_days,
)
from rampsim.calibration.estimators.intervals import LEVEL, _fallback
from rampsim.calibration.estimators.shared import DAY
from rampsim.sim.clock import Grid
from rampsim.sim.config import Latent, Variability
from rampsim.sim.variability import draw_paths

__all__ = ["fit_day_spread", "with_day_spread", "MODEL_DAYS"]

MODEL_DAYS = 200      # days of the fitted model simulated for each day spread tried
SPREADS = np.array([1e-6, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.65, 0.8, 1.0, 1.25, 1.5])
"""The day spreads tried (the first all but 0, drawn as the others are: common random numbers)."""
SEED = 20261201       # the simulation's seed: a calibration is the same every time it runs
RESAMPLES = 2000      # weeks of the model's days drawn to read how far a history's variance strays


def fit_day_spread(requests: np.ndarray, base: np.ndarray, dt: float, latent: LatentFit) -> Estimate:
    """``day_spread`` of the request process fitted as ``latent`` (its ``sd``, ``correlation_time``, ``jitter``
    and bursts): the spread at which the model's days' noise sd varies as much as the history's (module docstring).

    ``requests`` and ``base`` are per tick ``(T,)`` on the history's ticks of ``dt`` seconds: the arm's requests
    (``NaN`` where missing) and the fitted load's expected requests. Both sides are read per minute, as the fit
    report's day-to-day check reads them, when ticks are shorter (a minute's sum; missing if a tick is). The
    model's days are the history's whole days of ``base`` repeated up to :data:`MODEL_DAYS` days, from a fixed
    seed, their counts Poisson around ``base`` times the simulator's own multiplier
    (:func:`rampsim.sim.variability.draw_paths`); spreads are tried from the smallest until the interval's upper
    end is passed.
    """
    per = max(int(round(60.0 / dt)), 1)
    step = per * dt
    if step > MAX_STEP:
        return _fallback("day_spread", f"ticks of {step:g} s are too coarse to read the noise day by day "
                                       f"(at most {MAX_STEP:g} s)")
    observed = day_noise(whole_days(_summed(requests, per), step), step)[:, 0]
    days = len(observed)
    if days < MIN_DAYS:
        return _fallback("day_spread", f"{days} whole day{'s' if days != 1 else ''} with {MIN_PRESENT:.0%} of "
                                       f"their counts present, {MIN_DAYS} needed")
    quiet = int(np.isnan(observed).sum())
    if quiet:
        return _fallback("day_spread", f"on {quiet} of the history's {days} days the counts vary less than "
                                       f"{MIN_DISPERSION:g} times as much as Poisson counts: too little noise "
                                       f"beside the sampling to read day by day")
    expected = np.where(np.isfinite(requests) & np.isfinite(base), np.maximum(base, 0.0), np.nan)
    replicates = math.ceil(MODEL_DAYS / days)
    history = float(np.var(np.log(observed), ddof=1))
    variances: list[float] = []
    logs: list[np.ndarray] = []

    def tried_past(variance: float) -> bool:
        """Try spreads until the model's days vary more than ``variance`` (or some day is too quiet to read)."""
        while len(variances) < len(SPREADS) and (not variances or max(variances) < variance):
            model = _model_days(latent, float(SPREADS[len(variances)]), expected, dt, replicates, per)
            if model is None:
                return False
            logs.append(np.log(model))
            variances.append(float(np.var(logs[-1], ddof=1)))
        return bool(variances) and max(variances) >= variance

    tried_past(history)
    if not variances:
        return _fallback("day_spread", "the fitted model's days vary too little beside Poisson's sampling to "
                                       "read its days' spread")
    read = float(SPREADS[len(variances) - 1])   # the largest spread tried so far
    value = min(_spread_at(np.maximum.accumulate(variances), history), read)
    below, above = _ratio_quantiles(logs[int(np.argmin(np.abs(SPREADS[:len(logs)] - value)))], days)
    tried_past(history / below)   # the interval's upper end
    curve = np.maximum.accumulate(variances)   # more spread, more variance: the draws' noise aside
    read = float(SPREADS[len(curve) - 1])   # the largest spread the model's days were read at
    low, high = _spread_at(curve, history / above), _spread_at(curve, history / below)
    value, low = min(value, read), min(low, read)   # beyond it: at least it
    return Estimate(value, low, high, f"simulated days' variance of the log noise sd matched to {days} days', "
                                      f"interval from {RESAMPLES} resampled weeks of the model's {len(logs[0])} days")


def _model_days(latent: LatentFit, spread: float, expected: np.ndarray, dt: float, replicates: int, per: int
                ) -> Optional[np.ndarray]:
    """The noise sd of each day of the fitted model with a day spread of ``spread``, simulated over the history's
    whole days of ``expected`` requests per tick, ``replicates`` times in a row as one run (each day its own
    factor); ``None`` if a day's counts vary too little to read it. The same draws for every ``spread`` (the day
    factors come first, and the counts from a stream of their own), so that the variances compared across spreads
    differ by the spread, not by the draws."""
    config = {**latent.as_config(), "day_spread": spread}
    per_day = int(round(DAY / dt))
    typical = np.tile(expected[: len(expected) // per_day * per_day], replicates)
    paths, counts = (np.random.default_rng(seed) for seed in np.random.SeedSequence(SEED).spawn(2))
    drawn = draw_paths(Variability(requests=Latent.model_validate(config)), Grid(dt, len(typical) + 1, dt), 1, 1,
                       (), paths)
    multiplier = drawn.requests[1:, 0, 0] if drawn is not None and drawn.requests is not None else 1.0
    simulated = counts.poisson(np.nan_to_num(typical * multiplier)).astype(float)
    simulated[np.isnan(typical)] = np.nan
    step = per * dt
    model = day_noise(whole_days(_summed(simulated, per), step), step)[:, 0]
    return None if np.isnan(model).any() or len(model) < MIN_DAYS else model


def _ratio_quantiles(logs: np.ndarray, days: int) -> tuple[float, float]:
    """The 2.5% and 97.5% quantiles of the variance of ``days`` of the model's days (their ``log`` noise sd,
    ``logs``, drawn with replacement :data:`RESAMPLES` times) over the variance of all of them: how far a history
    of ``days`` days reads from the model that made it. An F variable's quantiles assume normal days; a heavy
    wander or many bursts give days with heavier tails, whose variance over a week strays further."""
    rng = np.random.default_rng(SEED)
    weeks = logs[rng.integers(0, len(logs), (RESAMPLES, days))]
    ratios = np.var(weeks, axis=1, ddof=1) / np.var(logs, ddof=1)
    below, above = np.quantile(ratios, [(1 - LEVEL) / 2, (1 + LEVEL) / 2])
    return float(below), float(above)


def _spread_at(curve: np.ndarray, variance: float) -> float:
    """The day spread whose simulated days' variance of the log noise sd is ``variance`` (``curve``, at the first
    of :data:`SPREADS`), linear between them (0 below the first; infinite beyond the last, or beyond the last whose
    days could all be read: larger spreads make days too quiet to read)."""
    if variance <= curve[0]:
        return 0.0
    if variance > curve[-1]:
        return math.inf
    return float(np.interp(variance, curve, SPREADS[:len(curve)]))


def _summed(counts: np.ndarray, ticks: int) -> np.ndarray:
    """Sums of ``ticks`` consecutive ticks along the first axis (``NaN`` if one is missing; a trailing part dropped)."""
    n = len(counts) // ticks * ticks
    return counts[:n].reshape((n // ticks, ticks) + counts.shape[1:]).sum(axis=1)


def with_day_spread(load: LoadFit, latent: LatentFit, times: ArrayLike, requests: ArrayLike) -> LatentFit:
    """``latent`` (the request process :func:`~rampsim.calibration.estimators.fit_requests` fitted with ``load``)
    with its ``day_spread`` read from ``requests`` per tick ``(T,)`` or ``(T, segments)`` at ``times``."""
    counts = np.asarray(requests, dtype=float)
    total = counts.sum(axis=1) if counts.ndim == 2 else counts   # NaN where a segment's count is missing
    base = load.rate(np.asarray(times, dtype=float)) * load.dt
    return replace(latent, day_spread=fit_day_spread(total, base, load.dt, latent))
