"""The day spread: recovered from histories the simulator draws with a known one, with an honest interval, and a
stated default with a note where a history cannot tell it.

Histories are the simulator's own draw (:func:`~rampsim.sim.variability.draw_paths`, one arm), requests Poisson
around a flat rate times the multiplier, fitted as ``rampsim calibrate`` fits them
(:func:`~rampsim.calibration.estimators.fit_requests`, then
:func:`~rampsim.calibration.day_spread.with_day_spread`). Coverage is checked as in
``tests/test_calibration_estimators.py``: a one-sided binomial test at 1% on the hits of the 95% interval over
``SEEDS`` fixed seeds (400 under ``HYPOTHESIS_PROFILE=thorough``).
"""
from __future__ import annotations

import numpy as np
import pytest

from rampsim.calibration.day_spread import with_day_spread
from rampsim.calibration.estimators import Estimate, fit_requests
from rampsim.sim.clock import Grid
from rampsim.sim.config import Bursts, Latent, Variability
from rampsim.sim.variability import draw_paths
from tests.test_calibration_estimators import SEEDS, Coverage

DAY = 86400.0
WANDER = dict(sd=0.1, correlation_time="10m", jitter=0.05, bursts=Bursts(per_day=4, duration="3m", multiplier=3))
STRONG = dict(sd=0.5, correlation_time="15m", jitter=0.3,
              bursts=Bursts(per_day=3, duration="10m", multiplier=10, spread=0.5))


def history(seed: int, process: Latent, days: float, dt: float = 60.0, rate: float = 100.0
            ) -> tuple[np.ndarray, np.ndarray]:
    """Times (from 14:00) and requests per tick of ``days`` days at ``dt`` seconds around ``rate`` a second."""
    rng = np.random.default_rng(seed)
    n = int(round(days * DAY / dt))
    paths = draw_paths(Variability(requests=process), Grid(dt, n + 1, dt), 1, 1, (), rng)
    multiplier = paths.requests[1:, 0, 0] if paths is not None and paths.requests is not None else np.ones(n)
    return 14 * 3600.0 + dt * np.arange(1, n + 1), rng.poisson(rate * dt * multiplier).astype(float)


def fitted(times: np.ndarray, requests: np.ndarray, dt: float = 60.0) -> Estimate:
    load, latent = fit_requests(times, requests, dt)
    spread = with_day_spread(load, latent, times, requests).day_spread
    assert spread is not None
    return spread


@pytest.mark.slow
@pytest.mark.parametrize("wander, spread", [(WANDER, 0.4), (WANDER, 0.0), (STRONG, 0.3)],
                         ids=["wander-0.4", "wander-0", "strong-0.3"])
def test_the_day_spread_interval_covers_the_truth(wander, spread):
    """A week of a wandering service with bursts whose noise level changes from day to day by ``spread``: the 95%
    interval holds it at the nominal rate; with no day spread, it holds 0. ``WANDER``: the requests' ``sd`` 0.1 over
    10 minutes, jitter 0.05, 4 bursts a day of x3; ``STRONG``: ``sd`` 0.5 over 15 minutes, jitter 0.3, 3 bursts a
    day of x10 for 10 minutes, where a day's noise sd is not proportional to its factor (an estimate that took the
    spreads' variances as adding up read 0.21 for 0.3, its interval holding it 180 times of 200) and a week's
    variance strays further than an F variable's (F quantiles held it 366 times of 400)."""
    process = Latent(**wander, day_spread=spread)
    coverage = Coverage()
    for seed in range(SEEDS):
        estimate = fitted(*history(1000 + seed, process, 7), 60.0)
        assert not estimate.fallback, estimate
        coverage.add("day_spread", estimate, spread)
    coverage.check()


def test_a_day_spread_is_found_and_none_is_not_invented():
    """One history each way: a week whose days' noise spreads by 0.5 has an interval above 0, a week without has
    one that holds 0, and the method says what it compared."""
    noisy = fitted(*history(1, Latent(**WANDER, day_spread=0.5), 7))
    steady = fitted(*history(1, Latent(**WANDER), 7))
    assert noisy.low > 0 and steady.low == 0 and steady.value < noisy.low, (noisy, steady)
    assert noisy.method == ("simulated days' variance of the log noise sd matched to 7 days', interval from "
                            "2000 resampled weeks of the model's 203 days")


def test_scrapes_of_15_seconds_are_read_per_minute():
    """A history scraped every 15 s is read in whole minutes, as the fit report reads it: four ticks a minute
    would leave a quiet day under 3 times Poisson's dispersion (the noise sd of a tick's count falls, Poisson's
    relative sd doubles), and a week of them keeps every day."""
    estimate = fitted(*history(7, Latent(**WANDER, day_spread=0.4), 5, 15.0), 15.0)
    assert not estimate.fallback and estimate.low > 0 and "matched to 5 days'" in estimate.method, estimate


@pytest.mark.parametrize("days, dt, rate, note", [
    (2, 60.0, 100.0, "2 whole days with 80% of their counts present, 3 needed"),
    (4, 900.0, 100.0, "ticks of 900 s are too coarse to read the noise day by day (at most 600 s)"),
    (4, 60.0, 0.05, "too little noise beside the sampling to read day by day"),
])
def test_a_history_that_cannot_tell_the_day_spread_says_why(days, dt, rate, note):
    """Too few whole days, ticks too coarse for an hour's rolling mean, or counts hardly noisier than Poisson's
    (3 requests a minute): the stated default, 0, with a note saying which."""
    estimate = fitted(*history(3, Latent(**WANDER, day_spread=0.5), days, dt, rate), dt)
    assert estimate.fallback and estimate.value == 0 and note in estimate.note, estimate


def test_the_day_spread_is_the_same_every_time():
    """The model's days come from a fixed seed: one history, one calibration."""
    times, requests = history(5, Latent(**WANDER, day_spread=0.3), 4)
    assert fitted(times, requests) == fitted(times, requests)
