"""Whether a history's request noise changes from day to day as the calibrated model's does.

The variability model is stationary: one set of parameters holds every day. Real
services are quieter on some days than on others. In ``../shared/real-metrics``
one Microsoft MongoDB series' minutes spread 3.5 to 32 times as much as Poisson
counts would, day by day. Fitted on such a history, the model carries an average
of quiet and noisy days. A ramp on a noisy day then meets more noise than the
simulation gives its gate.

:func:`day_to_day` splits the history's request counts into whole days from its
first tick. Per day it reads two statistics of :func:`noise_statistics`: the
dispersion index ``D`` and the lag-1 autocorrelation, after a centred one-hour
rolling mean. It sets their spread across the history's days (the variance of
``log D`` and of ``atanh acf1``) against their spread across as many days of the
model's simulation, with an F test. Days are taken as independent: the
rolling mean removes what persists beyond an hour.

The test is two-sided. History days that differ from one another more than the
model's say the fitted parameters average quieter and noisier days: a sweep over
their range says more than one simulation at the average. Model days that differ
more than the history's say the model is more irregular than the service: bursts
or a wander heavier than the history's make some simulated days much noisier than
any the service had.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from rampsim.calibration.estimators.shared import DAY

__all__ = ["noise_statistics", "rolling_window", "DaySpread", "DayToDay", "day_to_day", "MIN_DAYS", "SIGNIFICANCE"]

HOUR = 3600.0
MIN_DAYS = 3          # whole days each side needs: fewer leave the F test (2 and 2 degrees of freedom) powerless
MIN_PRESENT = 0.8     # share of a day's ticks that must be present for the day to count
SIGNIFICANCE = 0.01          # each statistic's test: p below it says the days differ
CLIP = 4.0            # a day's residuals beyond this many of its robust standard deviations are clipped
MAX_STEP = 600.0      # coarser ticks leave an hour's rolling mean fewer than 7 of them


def rolling_window(step: float) -> int:
    """Ticks in the centred rolling mean at ``step`` seconds: the odd number nearest an hour, at least 3."""
    return max(3, 2 * int(round(HOUR / step / 2)) + 1)


def _residuals(counts: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Counts ``(T, R)`` less their centred rolling mean: residuals (0 where missing), each tick's weight
    ``1 - 1/c`` (``c`` the ticks its window holds), the ticks present and the counts (0 where missing)."""
    valid = np.isfinite(counts)
    half = rolling_window(step) // 2
    x = np.where(valid, counts, 0.0)
    zeros = np.zeros((1, counts.shape[1]))
    cx, cc = np.concatenate([zeros, np.cumsum(x, axis=0)]), np.concatenate([zeros, np.cumsum(valid, axis=0)])
    index = np.arange(len(counts))
    lo, hi = np.clip(index - half, 0, len(counts)), np.clip(index + half + 1, 0, len(counts))
    c = cc[hi] - cc[lo]
    r = np.where(valid, counts - (cx[hi] - cx[lo]) / np.maximum(c, 1), 0.0)
    return r, np.where(valid, 1.0 - 1.0 / np.maximum(c, 1), 0.0), valid, x


def _statistics(r: np.ndarray, weight: np.ndarray, valid: np.ndarray, x: np.ndarray, lags: int) -> np.ndarray:
    squares, present = (r ** 2).sum(axis=0), valid.sum(axis=0)
    out = np.empty((r.shape[1], 1 + lags))
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:, 0] = squares / weight.sum(axis=0) / (x.sum(axis=0) / present)
        for h in range(1, lags + 1):
            pairs = (valid[:-h] & valid[h:]).sum(axis=0)
            out[:, h] = (r[:-h] * r[h:]).sum(axis=0) / pairs / (squares / present)
    return out


def noise_statistics(counts: np.ndarray, step: float, lags: int = 10) -> np.ndarray:
    """Dispersion index and autocorrelations at lags ``1..lags`` of counts ``(T,)`` or ``(T, R)``: ``(..., 1 + lags)``.

    Remove a centred rolling mean of :func:`rolling_window` ticks (about an hour;
    partial windows at the ends; missing ticks left out of it and of everything
    else), then

    * ``D = sum r_t^2 / sum (1 - 1/c_t) / mean(n)``, ``r_t`` the residual and ``c_t``
      the ticks in its window: the residual variance over the mean, corrected for
      the rolling mean's own share of each tick so that Poisson counts give 1;
    * ``acf(h) = mean(r_t r_{t+h}) / mean(r_t^2)`` over the pairs present (white
      counts give about ``-1/window``, the rolling mean's own imprint).
    """
    y = np.asarray(counts, dtype=float)
    out = _statistics(*_residuals(y[:, None] if y.ndim == 1 else y, step), lags)
    return out[0] if y.ndim == 1 else out


def _day_statistics(days: np.ndarray, step: float) -> np.ndarray:
    """``(days, 2)``: each day's ``D`` and lag-1 autocorrelation (:func:`noise_statistics`) with its residuals clipped
    at :data:`CLIP` robust standard deviations of the day's own, so that its bursts do not decide them."""
    r, weight, valid, x = _residuals(days, step)
    with np.errstate(invalid="ignore"):
        spread = np.array([np.median(np.abs(r[valid[:, d], d])) if valid[:, d].any() else 0.0
                           for d in range(r.shape[1])]) * 1.4826
    limit = CLIP * spread
    return _statistics(np.clip(r, -limit, limit), weight, valid, x, 1)


@dataclass(frozen=True)
class DaySpread:
    """One statistic day by day, in the history and in the model's simulation.

    ``ratio`` is the variance across the history's days over the variance across the
    simulated days, on the scale where a day's value is near normal (``log D``,
    ``atanh acf1``); ``p_value`` that of the two-sided F test of it.
    """

    name: str
    observed: np.ndarray
    simulated: np.ndarray
    ratio: float
    p_value: float

    @property
    def differs(self) -> bool:
        """The history's days and the model's differ in spread (p below :data:`SIGNIFICANCE`): ``ratio`` says which."""
        return self.p_value < SIGNIFICANCE

    def described(self) -> str:
        more = "the history's" if self.ratio > 1 else "the model's"
        return (f"{self.name} {_range(self.observed)} a day in the history, {_range(self.simulated)} in the model: "
                f"{more} days spread more (variance ratio {self.ratio:.3g}, p = {self.p_value:.2g})")


@dataclass(frozen=True)
class DayToDay:
    """The day-to-day check: both statistics, or ``note`` saying why the history cannot be checked."""

    spreads: tuple[DaySpread, ...]
    days: int
    note: str = ""

    @property
    def differs(self) -> bool:
        return any(s.differs for s in self.spreads)

    def summary(self) -> str:
        """One line: what differs and by how much, or that nothing does, or why nothing was checked."""
        if self.note:
            return self.note
        differing = [s for s in self.spreads if s.differs]
        if not differing:
            return f"day to day, the history's {self.days} days of request noise spread as the model's do"
        line = f"day to day, the request noise of the history's {self.days} days and the model's differ: " + \
            "; ".join(s.described() for s in differing)
        if any(s.ratio > 1 for s in differing):
            line += (". The history has quieter and noisier days and the fit averages them: sweep the variability "
                     "over its range rather than trusting one simulation at the average")
        if any(s.ratio < 1 for s in differing):
            line += ". The model is more irregular from day to day than the service: its bursts or wander are heavier"
        return line


def _range(values: np.ndarray) -> str:
    return f"{np.min(values):.3g}-{np.max(values):.3g}"


def _days(counts: np.ndarray, step: float) -> np.ndarray:
    """``(ticks a day, days)``: whole days of ``counts`` ``(T,)`` (or of each column of ``(T, R)``) from the first
    tick, a day with too few ticks present left out (a trailing part day dropped)."""
    per_day = int(round(DAY / step))
    columns = np.asarray(counts, dtype=float).reshape(len(counts), -1)
    n = len(columns) // per_day
    days = columns[: n * per_day].T.reshape(-1, per_day).T
    return days[:, np.isfinite(days).mean(axis=0) >= MIN_PRESENT]


def _transformed(statistics: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``log D`` and ``atanh acf1`` of each day (``(days, 2)`` statistics), the days where both are finite."""
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.stack([np.log(statistics[:, 0]), np.arctanh(np.clip(statistics[:, 1], -0.999999, 0.999999))],
                          axis=1)
    return statistics[np.isfinite(values).all(axis=1)], values[np.isfinite(values).all(axis=1)]


def day_to_day(observed: np.ndarray, simulated: np.ndarray, step: float = 60.0) -> DayToDay:
    """The day-to-day check of ``observed`` request counts per tick of ``step`` seconds against ``simulated`` ones
    (the calibrated model's: ``(T,)`` on as many ticks, or ``(T, R)``, ``R`` simulations pooled): see the module
    docstring."""
    if step > MAX_STEP:
        return DayToDay((), 0, f"day-to-day noise not checked: ticks of {step:g} s are too coarse to read it "
                               f"(at most {MAX_STEP:g} s)")
    history, history_values = _transformed(_day_statistics(_days(observed, step), step))
    model, model_values = _transformed(_day_statistics(_days(simulated, step), step))
    days = len(history)
    if min(days, len(model)) < MIN_DAYS:
        return DayToDay((), days, f"day-to-day noise not checked: {days} whole day{'s' if days != 1 else ''} "
                                  f"with {MIN_PRESENT:.0%} of the ticks present, {MIN_DAYS} needed")
    spreads = []
    for column, name in enumerate(("dispersion index", "lag-1 autocorrelation")):
        a, b = history_values[:, column], model_values[:, column]
        var_a, var_b = float(np.var(a, ddof=1)), float(np.var(b, ddof=1))
        ratio = var_a / var_b if var_b > 0 else (math.inf if var_a > 0 else 1.0)
        if math.isfinite(ratio):
            p = 2 * min(float(stats.f.sf(ratio, len(a) - 1, len(b) - 1)), float(stats.f.cdf(ratio, len(a) - 1,
                                                                                               len(b) - 1)))
        else:
            p = 0.0
        spreads.append(DaySpread(name, history[:, column], model[:, column], ratio, p))
    return DayToDay(tuple(spreads), days)
