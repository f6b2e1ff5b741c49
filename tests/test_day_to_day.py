"""The fit report's day-to-day check (:mod:`rampsim.calibration.day_to_day`): its statistics, its false-alarm rate
on histories the model generates, its power against days of different noise, and what it says when it cannot check.

The histories are the simulator's own draws (``multiplier``: :mod:`rampsim.sim.variability`'s processes) at
15-second ticks, Poisson around 200 requests a second, summed to minutes.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from rampsim.calibration.day_to_day import MIN_DAYS, SIGNIFICANCE, day_to_day, noise_statistics
from rampsim.sim.config import Latent
from tests.test_calibration_estimators import DT, REQUESTS, STRONG, latent, multiplier

TICKS_A_DAY = int(86400 / DT)
QUIET, NOISY, BETWEEN = latent(0.05, 300, 0.05), latent(0.2, 300, 0.1), latent(0.13, 300, 0.08)


def minutes(rng: np.random.Generator, days: int, processes: list[Latent], runs: int = 1) -> np.ndarray:
    """``(minutes, runs)`` request counts, day ``d`` drawn from ``processes[d % len(processes)]``."""
    parts = []
    for day in range(days):
        m = multiplier(rng, TICKS_A_DAY, processes[day % len(processes)], runs, 1)[:, :, 0]
        parts.append(rng.poisson(200.0 * DT * m).astype(float))
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
    """The most alarms of one statistic in ``n`` histories consistent with its level (one-sided binomial, 1%)."""
    return int(stats.binom.ppf(0.99, n, SIGNIFICANCE))


@pytest.mark.parametrize("process, runs", [(REQUESTS, 1), (REQUESTS, 20), (STRONG, 20)],
                         ids=["bursts-one-run", "bursts-20-runs", "strong-20-runs"])
def test_histories_the_model_generates_are_flagged_at_the_nominal_rate(process, runs):
    """A week the model generates, against one simulated week (the fit report's case) or 20 pooled: each statistic
    flagged in no more histories than its 1% level allows. Bursts (8 a day, x5) would decide a day's dispersion and
    make it far from normal; the check clips them (measured before the clipping: 4 and 5 of 100 at 20 runs)."""
    n = 60
    alarms = np.zeros(2, int)
    for seed in range(n):
        rng = np.random.default_rng(seed)
        check = day_to_day(minutes(rng, 7, [process])[:, 0], minutes(rng, 7, [process], runs))
        assert check.days == 7 and not check.note
        alarms += [spread.differs for spread in check.spreads]
    assert alarms.max() <= most_false_alarms(n), alarms


def test_quieter_and_noisier_days_are_flagged():
    """Days alternating between a quiet (sd 0.05) and a noisy (sd 0.2) request process, against a model between
    them: the dispersion flagged in every one of 20 weeks against one simulated week (measured: 60 of 60), so a
    power of 90% is the least the count allows."""
    n = 20
    flagged = 0
    for seed in range(n):
        rng = np.random.default_rng(100 + seed)
        check = day_to_day(minutes(rng, 7, [QUIET, NOISY])[:, 0], minutes(rng, 7, [BETWEEN])[:, 0])
        dispersion = check.spreads[0]
        flagged += dispersion.differs and dispersion.ratio > 1
    assert flagged >= stats.binom.ppf(0.01, n, 0.9), flagged
    assert "history has quieter and noisier days" in check.summary() and "sweep the variability" in check.summary()


def test_a_model_more_irregular_than_the_service_is_named():
    rng = np.random.default_rng(7)
    check = day_to_day(minutes(rng, 7, [BETWEEN])[:, 0], minutes(rng, 7, [QUIET, NOISY])[:, 0])
    dispersion = check.spreads[0]
    assert dispersion.differs and dispersion.ratio < 1
    assert "the model's days spread more" in check.summary() and "model is more irregular" in check.summary()
    assert "history has quieter" not in check.summary()


def test_a_history_like_its_model_says_so():
    rng = np.random.default_rng(11)
    check = day_to_day(minutes(rng, 4, [BETWEEN])[:, 0], minutes(rng, 4, [BETWEEN], 5))
    assert not check.differs
    assert check.summary() == "day to day, the history's 4 days of request noise spread as the model's do"


def test_short_gappy_or_coarse_histories_are_not_checked():
    rng = np.random.default_rng(5)
    week = minutes(rng, 7, [BETWEEN])[:, 0]
    short = day_to_day(week[: 3 * 1440 - 1], week)   # two whole days and a part day
    assert short.spreads == () and short.days == 2
    assert short.summary() == f"day-to-day noise not checked: 2 whole days with 80% of the ticks present, " \
                              f"{MIN_DAYS} needed"
    gappy = week.copy()
    gappy[1440: 1440 + 300] = np.nan     # 79% of day 2 present: left out
    gappy[2880: 2880 + 280] = np.nan     # 81% of day 3: kept
    assert day_to_day(gappy, week).days == 6
    coarse = day_to_day(week.reshape(-1, 15).sum(axis=1), week.reshape(-1, 15).sum(axis=1), 900.0)
    assert coarse.spreads == () and "ticks of 900 s are too coarse" in coarse.note
