"""Whether a history's request noise changes from day to day as the calibrated model's does.

Real services are quieter on some days than on others. In ``../shared/real-metrics``
one Microsoft MongoDB series' noise beyond Poisson's ran 0.7% to 2.4% of its rate,
day by day. The model's ``day_spread`` (fitted by :mod:`rampsim.calibration.day_spread`)
lets the noise's level change from day to day; its memory is the same every day.

:func:`day_to_day` splits the history's request counts into whole days from its
first tick. Per day it reads the noise beyond Poisson's sampling
(:func:`~rampsim.calibration.estimators.day_noise.day_noise`, after a centred one-hour
rolling mean): its standard deviation as a share of the rate, from the residuals' robust
scale, and its lag-1 autocorrelation, so that the day's bursts do not decide them. It
sets the history's days against as many days of the model's simulation: their spread
(the variance of ``log sd`` and of ``atanh acf1``, F test) and their level (Welch t test),
two-sided. Days are taken as independent: the rolling mean removes what persists beyond
an hour.

History days that spread more say the service has quieter and noisier days than the
model gives: a sweep over their range says more than one simulation. Model days that
spread more say its bursts, wander or day spread are heavier than the service's. Levels
apart say the fit missed the noise itself.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from rampsim.calibration.estimators.day_noise import (
    MAX_STEP, MIN_DAYS, MIN_DISPERSION, MIN_PRESENT, day_noise, noise_statistics, rolling_window, whole_days,
)

__all__ = ["noise_statistics", "rolling_window", "DaySpread", "DayToDay", "day_to_day", "MIN_DAYS", "SIGNIFICANCE",
           "NOISE", "NOISE_ACF"]

SIGNIFICANCE = 0.01   # each statistic's test: p below it says the days differ


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
            line += (". The history has quieter and noisier days than the model gives: sweep the "
                     "variability over the history's range rather than trusting one simulation")
        if any(s.differs and s.ratio < 1 for s in differing):
            line += ". The model's days vary more than the service's: its bursts, wander or day spread are heavier"
        if any(s.level_differs for s in differing):
            line += ". The model's noise is not at the history's level: compare the fit report's distributions"
        return line


def day_to_day(observed: np.ndarray, simulated: np.ndarray, step: float = 60.0) -> DayToDay:
    """The day-to-day check of ``observed`` request counts per tick of ``step`` seconds against ``simulated`` ones
    (the calibrated model's: ``(T,)`` on as many ticks, or ``(T, R)``, ``R`` simulations pooled): see the module
    docstring."""
    if step > MAX_STEP:
        return DayToDay((), 0, f"day-to-day noise not checked: ticks of {step:g} s are too coarse to read it "
                               f"(at most {MAX_STEP:g} s)")
    history, model = (day_noise(whole_days(counts, step), step) for counts in (observed, simulated))
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
