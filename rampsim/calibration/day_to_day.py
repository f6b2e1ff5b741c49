"""Whether a history's request noise changes from day to day as the calibrated model's does.

The variability model is stationary: one set of parameters holds every day. Real
services are quieter on some days than on others. In ``../shared/real-metrics``
one Microsoft MongoDB series' noise beyond Poisson's ran 0.9% to 3.4% of its rate,
day by day. Fitted on such a history, the model carries an average
of quiet and noisy days. A ramp on a noisy day then meets more noise than the
simulation gives its gate.

:func:`day_to_day` splits the history's request counts into whole days from its
first tick. Per day it reads the noise beyond Poisson's sampling from
:func:`noise_statistics` (after a centred one-hour rolling mean): its standard
deviation as a share of the rate (``sqrt((D - 1) / mean)``: the dispersion index ``D``
itself grows with the day's volume, and a quiet weekend would read as a quieter
service) and its lag-1 autocorrelation, each day's residuals clipped so that its
bursts do not decide them. It sets the history's days against as many days of the
model's simulation: their spread (the variance of ``log sd`` and of ``atanh acf1``,
F test) and their level (Welch t test), two-sided. Days are taken as independent:
the rolling mean removes what persists beyond an hour.

History days that spread more say the service has quieter and noisier days, and the
model one level for all of them: a sweep over their range says more than one
simulation. Model days that spread more say its bursts or wander are heavier than the
service's. Levels apart say the fit missed the noise itself.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from rampsim.calibration.estimators.shared import DAY

__all__ = ["noise_statistics", "rolling_window", "DaySpread", "DayToDay", "day_to_day", "MIN_DAYS", "SIGNIFICANCE",
           "NOISE", "NOISE_ACF"]

HOUR = 3600.0
MIN_DAYS = 3          # whole days each side needs: fewer leave the F test (2 and 2 degrees of freedom) powerless
MIN_PRESENT = 0.8     # share of a day's ticks that must be present for the day to count
SIGNIFICANCE = 0.01          # each statistic's test: p below it says the days differ
CLIP = 4.0            # a day's residuals beyond this many of its robust standard deviations are clipped
MIN_DISPERSION = 3.0  # below, the noise is too small beside Poisson's sampling: D / (D - 1) scales up the sampling
                      # error of both statistics, by more on quieter days (a quiet weekend read as noisier)
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
    """``(days, 2)``: each day's noise beyond Poisson's, scale-free: the standard deviation of its multiplier
    (``sqrt((D - 1) / mean)``) and the lag-1 autocorrelation of that noise (the residuals' ``acf1 * D / (D - 1)``),
    both ``NaN`` below :data:`MIN_DISPERSION`, from :func:`noise_statistics` with the day's residuals clipped at
    :data:`CLIP` robust standard deviations of its own (at least Poisson's, ``sqrt(mean)``), so that its bursts do
    not decide them.
    ``D`` alone grows with the day's volume (``D = 1 + sd^2 mean``): a quiet weekend read as a quieter service."""
    r, weight, valid, x = _residuals(days, step)
    mean = x.sum(axis=0) / np.maximum(valid.sum(axis=0), 1)
    spread = np.array([np.median(np.abs(r[valid[:, d], d])) if valid[:, d].any() else 0.0
                       for d in range(r.shape[1])]) * 1.4826
    limit = CLIP * np.maximum(spread, np.sqrt(mean))
    d, acf1 = _statistics(np.clip(r, -limit, limit), weight, valid, x, 1).T
    with np.errstate(invalid="ignore", divide="ignore"):
        excess = np.where(d >= MIN_DISPERSION, (d - 1) / mean, np.nan)
        return np.stack([np.sqrt(excess), np.where(d >= MIN_DISPERSION, acf1 * d / (d - 1), np.nan)], axis=1)


@dataclass(frozen=True)
class DaySpread:
    """One statistic day by day, in the history and in the model's simulation, compared on the scale where a day's
    value is near normal (``log`` of the noise's sd, ``atanh`` of its autocorrelation).

    ``ratio`` is the variance across the history's days over that across the model's, ``p_value`` its two-sided F
    test; ``shift`` the history's mean less the model's, ``level_p`` its two-sided Welch t test.
    """

    name: str
    observed: np.ndarray
    simulated: np.ndarray
    ratio: float
    p_value: float
    shift: float
    level_p: float

    @property
    def differs(self) -> bool:
        """The history's days and the model's differ in spread (p below :data:`SIGNIFICANCE`): ``ratio`` says which."""
        return self.p_value < SIGNIFICANCE

    @property
    def level_differs(self) -> bool:
        """The history's days and the model's differ in level (p below :data:`SIGNIFICANCE`): ``shift`` says which."""
        return self.level_p < SIGNIFICANCE

    def described(self) -> str:
        """What differs, with the days' ranges and the tests' figures."""
        found = []
        if self.differs:
            more = "the history's" if self.ratio > 1 else "the model's"
            found.append(f"{more} days spread more (variance ratio {self.ratio:.3g}, p = {self.p_value:.2g})")
        if self.level_differs:
            higher = "the history's" if self.shift > 0 else "the model's"
            found.append(f"{higher} days run higher (Welch p = {self.level_p:.2g})")
        return (f"{self.name} {self._range(self.observed)} a day in the history, {self._range(self.simulated)} in "
                f"the model: " + " and ".join(found))

    def _range(self, values: np.ndarray) -> str:
        form = "{:.1%}" if self.name == NOISE else "{:.2f}"
        return f"{form.format(np.min(values))} to {form.format(np.max(values))}"


NOISE, NOISE_ACF = "noise sd", "noise lag-1 autocorrelation"


@dataclass(frozen=True)
class DayToDay:
    """The day-to-day check: both statistics, or ``note`` saying why the history cannot be checked."""

    spreads: tuple[DaySpread, ...]
    days: int
    note: str = ""

    @property
    def differs(self) -> bool:
        return any(s.differs or s.level_differs for s in self.spreads)

    def summary(self) -> str:
        """One line: what differs and by how much, or that nothing does, or why nothing was checked."""
        if self.note:
            return self.note
        differing = [s for s in self.spreads if s.differs or s.level_differs]
        if not differing:
            return (f"day to day, the request noise of the history's {self.days} days spreads and runs as the "
                    f"model's does")
        line = f"day to day, the request noise of the history's {self.days} days and the model's differ: " + \
            "; ".join(s.described() for s in differing)
        if any(s.differs and s.ratio > 1 for s in differing):
            line += (". The history has quieter and noisier days and the model one level for all: sweep the "
                     "variability over the history's range rather than trusting one simulation")
        if any(s.differs and s.ratio < 1 for s in differing):
            line += ". The model's days vary more than the service's: its bursts or wander are heavier"
        if any(s.level_differs for s in differing):
            line += ". The model's noise is not at the history's level: compare the fit report's distributions"
        return line


def _days(counts: np.ndarray, step: float) -> np.ndarray:
    """``(ticks a day, days)``: whole days of ``counts`` ``(T,)`` (or of each column of ``(T, R)``) from the first
    tick, a day with too few ticks present or no request left out (a trailing part day dropped)."""
    per_day = int(round(DAY / step))
    values = np.asarray(counts, dtype=float)
    columns = values[:, None] if values.ndim == 1 else values
    n = len(columns) // per_day
    days = columns[: n * per_day].T.reshape(-1, per_day).T
    served = np.nansum(days, axis=0) > 0   # a day without a request (an outage, a stuck exporter) is missing
    return days[:, (np.isfinite(days).mean(axis=0) >= MIN_PRESENT) & served]


def day_to_day(observed: np.ndarray, simulated: np.ndarray, step: float = 60.0) -> DayToDay:
    """The day-to-day check of ``observed`` request counts per tick of ``step`` seconds against ``simulated`` ones
    (the calibrated model's: ``(T,)`` on as many ticks, or ``(T, R)``, ``R`` simulations pooled): see the module
    docstring."""
    if step > MAX_STEP:
        return DayToDay((), 0, f"day-to-day noise not checked: ticks of {step:g} s are too coarse to read it "
                               f"(at most {MAX_STEP:g} s)")
    history, model = (_day_statistics(_days(counts, step), step) for counts in (observed, simulated))
    days = len(history)
    if min(days, len(model)) < MIN_DAYS:
        return DayToDay((), days, f"day-to-day noise not checked: {days} whole day{'s' if days != 1 else ''} "
                                  f"with {MIN_PRESENT:.0%} of their counts present, {MIN_DAYS} needed")
    for side, values in (("history's", history), ("model's", model)):
        quiet = int(np.isnan(values[:, 0]).sum())
        if quiet:
            return DayToDay((), days, f"day-to-day noise not checked: on {quiet} of the {side} {len(values)} days "
                                      f"the counts vary less than {MIN_DISPERSION:g} times as much as Poisson counts, "
                                      f"too little noise beside the sampling to compare day by day")
    spreads = []
    for column, name in enumerate((NOISE, NOISE_ACF)):
        with np.errstate(divide="ignore"):
            a, b = (np.log(v[:, column]) if column == 0 else np.arctanh(np.clip(v[:, column], -0.999999, 0.999999))
                    for v in (history, model))
        var_a, var_b = float(np.var(a, ddof=1)), float(np.var(b, ddof=1))
        ratio = var_a / var_b if var_b > 0 else (math.inf if var_a > 0 else 1.0)
        if math.isfinite(ratio):
            p = 2 * min(float(stats.f.sf(ratio, len(a) - 1, len(b) - 1)), float(stats.f.cdf(ratio, len(a) - 1,
                                                                                               len(b) - 1)))
        else:
            p = 0.0
        level = stats.ttest_ind(a, b, equal_var=False)
        spreads.append(DaySpread(name, history[:, column], model[:, column], ratio, p, float(np.mean(a) - np.mean(b)),
                                 float(level.pvalue) if np.isfinite(level.pvalue) else 1.0))
    return DayToDay(tuple(spreads), days)
