"""The fit report's day-to-day check (:mod:`rampsim.calibration.day_to_day`): its statistics, its false-alarm rate
on histories the model generates, its power against days of different noise, and what it says when it cannot check.

The histories are the simulator's own draws (``multiplier``: :mod:`rampsim.sim.variability`'s processes) at
15-second ticks, Poisson around 200 requests a second, summed to minutes.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pytest
from scipy import stats

from rampsim.calibration.day_to_day import MIN_DAYS, SIGNIFICANCE, day_to_day, noise_statistics
from rampsim.sim.config import Latent
from tests.test_calibration_estimators import DT, NONE, REQUESTS, latent, multiplier

TICKS_A_DAY = int(86400 / DT)
QUIET, NOISY, BETWEEN = latent(0.05, 300, 0.05), latent(0.2, 300, 0.1), latent(0.13, 300, 0.08)


def minutes(rng: np.random.Generator, days: int, processes: list[Latent], runs: int = 1,
            rates: tuple[float, ...] = (200.0,)) -> np.ndarray:
    """``(minutes, runs)`` request counts, day ``d`` drawn from ``processes[d % len(processes)]`` around
    ``rates[d % len(rates)]`` requests a second."""
    parts = []
    for day in range(days):
        m = multiplier(rng, TICKS_A_DAY, processes[day % len(processes)], runs, 1)[:, :, 0]
        parts.append(rng.poisson(rates[day % len(rates)] * DT * m).astype(float))
    ticks = np.concatenate(parts)
    return ticks.reshape(-1, 4, runs).sum(axis=1)


@pytest.mark.parametrize("swing, tolerance", [(0.0, 0.01), (300.0, 0.02)])
def test_noise_statistics_of_poisson_counts(swing, tolerance):
    """D is 1 for Poisson counts, a daily swing of +/-60% adding under 2% (the one-sided windows at
    the ends and around a gap); the acf is the rolling mean's own -1/61 (the swing's slope in those
    one-sided windows adds up to +0.02 at lag 1)."""
    rng = np.random.default_rng(3)
    t = np.arange(3 * 1440)
    mean = 500 + swing * np.sin(2 * np.pi * t / 1440)
    counts = rng.poisson(mean[:, None], (len(t), 40)).astype(float)
    counts[100:160] = np.nan
    statistics = noise_statistics(counts, 60.0)
    assert statistics[:, 0].mean() == pytest.approx(1.0, abs=tolerance)
    assert np.abs(statistics[:, 1:].mean(axis=0) + 1 / 61).max() < tolerance


def most_false_alarms(n: int) -> int:
    """The most alarms of one test in ``n`` histories consistent with its level (one-sided binomial, 1%)."""
    return int(stats.binom.ppf(0.99, n, SIGNIFICANCE))


def alarms(n: int, history: Callable[[np.random.Generator], np.ndarray],
           model: Callable[[np.random.Generator], np.ndarray]) -> np.ndarray:
    """``(statistics, 2)``: in how many of ``n`` seeded pairs each statistic's spread and level were flagged."""
    found = np.zeros((2, 2), int)
    for seed in range(n):
        rng = np.random.default_rng(seed)
        check = day_to_day(history(rng)[:, 0], model(rng))
        assert check.days == 7 and not check.note, check.note
        found += np.array([[spread.differs, spread.level_differs] for spread in check.spreads])
    return found


@pytest.mark.slow
@pytest.mark.parametrize("runs", [1, 20])
def test_histories_the_model_generates_are_flagged_at_the_nominal_rate(runs):
    """A week of the reference-like request process (8 bursts a day of x5), against one simulated week (the fit
    report's case) or 20 pooled: each test of each statistic flagged in no more histories than its 1% level allows
    (measured at 200 seeds, 20 runs: 3, 1, 2 and 1). Not so for heavy wander: a process of sd 0.5 over 15 minutes
    with bursts of x10 flagged the noise sd's spread in 12 of 200 and its level in 6 (README)."""
    n = 150
    found = alarms(n, lambda rng: minutes(rng, 7, [REQUESTS]), lambda rng: minutes(rng, 7, [REQUESTS], runs))
    assert found.max() <= most_false_alarms(n), found


def test_a_quiet_weekend_is_not_read_as_quieter_noise():
    """Five days at 200 requests a second and two at 80, the same relative noise every day, against a model at 166:
    the dispersion index, which grows with the volume, flagged 19 of 20 such weeks; the noise's sd beyond Poisson's
    is scale-free."""
    n = 60
    weekend = (200.0,) * 5 + (80.0, 80.0)
    found = alarms(n, lambda rng: minutes(rng, 7, [BETWEEN], rates=weekend),
                   lambda rng: minutes(rng, 7, [BETWEEN], rates=(166.0,)))
    assert found.max() <= most_false_alarms(n), found


def test_quieter_and_noisier_days_are_flagged():
    """Days alternating between a quiet (sd 0.05) and a noisy (sd 0.2) request process, against a model between
    them: the noise's sd flagged in every one of 20 weeks against one simulated week (measured: 60 of 60), so a
    power of 90% is the least the count allows."""
    n = 20
    flagged = 0
    for seed in range(n):
        rng = np.random.default_rng(100 + seed)
        check = day_to_day(minutes(rng, 7, [QUIET, NOISY])[:, 0], minutes(rng, 7, [BETWEEN])[:, 0])
        noise = check.spreads[0]
        flagged += noise.differs and noise.ratio > 1
    assert flagged >= stats.binom.ppf(0.01, n, 0.9), flagged
    assert "history has quieter and noisier days" in check.summary() and "sweep the variability" in check.summary()
    assert "noise sd 4." in check.summary() or "noise sd 5." in check.summary(), check.summary()   # as a share


def test_a_model_more_irregular_than_the_service_is_named():
    rng = np.random.default_rng(7)
    check = day_to_day(minutes(rng, 7, [BETWEEN])[:, 0], minutes(rng, 7, [QUIET, NOISY])[:, 0])
    noise = check.spreads[0]
    assert noise.differs and noise.ratio < 1
    summary = check.summary()
    assert "the model's days spread more" in summary and "its bursts, wander or day spread are heavier" in summary
    assert "history has quieter" not in check.summary()


def test_a_history_like_its_model_says_so():
    rng = np.random.default_rng(11)
    check = day_to_day(minutes(rng, 4, [BETWEEN])[:, 0], minutes(rng, 4, [BETWEEN], 5))
    assert not check.differs
    assert check.summary() == \
        "day to day, the request noise of the history's 4 days spreads and runs as the model's does"


def test_a_model_whose_noise_is_not_the_historys_is_named():
    """The spread alone was compared: a model whose every day is noisier than the history's went unsaid."""
    rng = np.random.default_rng(13)
    check = day_to_day(minutes(rng, 7, [QUIET])[:, 0], minutes(rng, 7, [NOISY])[:, 0])
    noise = check.spreads[0]
    assert noise.level_differs and noise.shift < 0
    assert "the model's days run higher" in check.summary() and "not at the history's level" in check.summary()


def test_low_volume_days_too_close_to_poissons_are_not_checked():
    """60 requests a minute with a 6% noise (D about 1.2): acf1 * D / (D - 1) scaled the sampling error up, and the
    autocorrelation's spread was flagged in 37 of 100 histories the model generated; a day without a request (an
    outage) is left out as a missing one."""
    rng = np.random.default_rng(1)
    low = latent(0.06, 120, 0.0)
    check = day_to_day(minutes(rng, 7, [low], rates=(1.0,))[:, 0], minutes(rng, 7, [low], 20, rates=(1.0,)))
    assert check.spreads == () and "too little noise beside the sampling" in check.note, check.note
    week = minutes(rng, 7, [BETWEEN])[:, 0]
    week[1440:2880] = 0.0
    assert day_to_day(week, minutes(rng, 7, [BETWEEN])[:, 0]).days == 6


def test_counts_without_noise_beyond_poissons_are_not_checked():
    rng = np.random.default_rng(17)
    check = day_to_day(minutes(rng, 7, [NONE])[:, 0], minutes(rng, 7, [BETWEEN])[:, 0])
    assert check.spreads == () and "vary less than 3 times as much as Poisson counts" in check.note, check.note


def test_short_gappy_or_coarse_histories_are_not_checked():
    rng = np.random.default_rng(5)
    week = minutes(rng, 7, [BETWEEN])[:, 0]
    short = day_to_day(week[: 3 * 1440 - 1], week)   # two whole days and a part day
    assert short.spreads == () and short.days == 2
    assert short.summary() == f"day-to-day noise not checked: 2 whole days with 80% of their counts present, " \
                              f"{MIN_DAYS} needed"
    empty = day_to_day(np.array([]), np.array([]))   # a history shorter than a minute: the report crashed
    assert empty.spreads == () and "0 whole days" in empty.note
    gappy = week.copy()
    gappy[1440: 1440 + 300] = np.nan     # 79% of day 2 present: left out
    gappy[2880: 2880 + 280] = np.nan     # 81% of day 3: kept
    assert day_to_day(gappy, week).days == 6
    coarse = day_to_day(week.reshape(-1, 15).sum(axis=1), week.reshape(-1, 15).sum(axis=1), 900.0)
    assert coarse.spreads == () and "ticks of 900 s are too coarse" in coarse.note
