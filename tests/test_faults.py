"""The fault catalogue: syntax, errors, and each kind moving the metrics it should and no others.

Effects are checked on the expected (noise-free) telemetry of the reference plan, where every
figure is deterministic: there is no sampling error to allow for, and no tolerance is picked.
Each expected figure is derived from the fault's definition in the catalogue (what it changes,
by how much, with which shape in time) applied to the healthy expected telemetry, and compared
up to floating-point rounding (:data:`RTOL`) or, where only a histogram reading is known, up to
the width of the buckets involved. Telemetry faults, which act in the scraper, are checked on
observed runs, where they are exact.
"""
from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rampsim.engine.metrics import histogram_quantile
from rampsim.faults import CATALOGUE, FaultError, parse_fault
from rampsim.plan import PlanError, plan_from_text
from rampsim.sim import Scenario, simulate
from rampsim.sim.expected import Expected, expected, expected_telemetry
from rampsim.telemetry import Telemetry
from tests.conftest import examples
from tests.sim_helpers import READINGS, REFERENCE, readings, reference

WINDOW = (241, 360)  # the scrapes 01:00:15 to 01:30:00, inside every fault of CASES
START, END = 3600.0, 5400.0  # the faults of CASES act from 1h for 30m
BASELINE, CANARY = 0, 1  # arm indices of the reference layout

# Floating-point rounding, the only error of an exact comparison here. A reading is a ratio of
# counter increases; a counter is a float64 cumulative sum of at most 961 ticks x 3 segments
# (relative error at most n * eps = 2,883 * 1.1e-16 = 3.2e-13), and the increase over a window
# amplifies it by at most counter / increase = 960 / 240 = 4 for the windows below: 1.3e-12 for
# a reading of two counters in the worst case. Observed differences are below 2e-13.
RTOL = 1.3e-12


class Run(NamedTuple):
    scenario: Scenario
    expected: Expected
    telemetry: Telemetry


def _run(scenario: Scenario, conditions=None) -> Run:
    """The expected run of ``scenario`` under ``conditions`` (by default, its own under the phases' weights)."""
    if conditions is None:
        conditions = scenario.conditions(scenario.scheduled_weights())
    ex = expected(scenario, conditions)
    return Run(scenario, ex, expected_telemetry(scenario, ex))


def _expected(faults) -> Run:
    return _run(Scenario.build(reference(), [parse_fault(f) for f in faults]))


@pytest.fixture(scope="module")
def healthy(sampling_reference_plan) -> Run:
    return _run(Scenario.build(sampling_reference_plan))


def _changes(faulty, healthy, arm="canary", segment=None, window=WINDOW):
    before, after = readings(healthy, *window, arm=arm, segment=segment), readings(faulty, *window, arm=arm,
                                                                                   segment=segment)
    return {name: after[name] / before[name] - 1 for name in READINGS}


# -- the faults' shapes in time, written out from their definitions --------------------------------------------

def _midpoints(n_ticks: int, interval: float = 15.0) -> np.ndarray:
    """The middle of each tick's interval (tick 0 carries no traffic): for these shapes, which start and end on
    scrapes and are linear in between, a fault's mean strength over the interval is its strength there."""
    middle = (np.arange(n_ticks) - 0.5) * interval
    middle[0] = -np.inf
    return middle


def _step(n_ticks: int, start: float = START, end: float = END) -> np.ndarray:
    t = _midpoints(n_ticks)
    return ((t >= start) & (t < end)).astype(float)


def _ramp(n_ticks: int, start: float = START, end: float = END) -> np.ndarray:
    """Grows linearly from 0 at ``start`` to full strength at ``end`` (slow-burn)."""
    return np.where(_step(n_ticks, start, end) > 0, (_midpoints(n_ticks) - start) / (end - start), 0.0)


def _fade(n_ticks: int, start: float = START, end: float = END) -> np.ndarray:
    """Full strength at ``start``, fading linearly to 0 at ``end`` (cold-cache's warm-up)."""
    return np.where(_step(n_ticks, start, end) > 0, 1 - (_midpoints(n_ticks) - start) / (end - start), 0.0)


def _on_canary(strength: np.ndarray) -> np.ndarray:
    """``strength`` over ticks on the canary's cells ``(ticks, arms, segments)``, 0 on the baseline."""
    cells = np.zeros((len(strength), 2, 1))
    cells[:, CANARY, 0] = strength
    return cells


# -- every kind: the documented change of the service's conditions, and nothing else ------------------------------

# kind spec -> (the direction each moved reading of the canary takes, the conditions the catalogue says it changes).
# The baseline must not move; queueing side effects (busier instances wait longer) are pinned by the exact comparison.
CASES = {
    "error-rate:canary:+1%@1h/30m": (
        {"error_rate": +1},
        lambda c, n: {"p_app": c.p_app + 0.01 * _on_canary(_step(n))}),
    "slow-burn:canary:+1%@1h/30m": (
        {"error_rate": +1},
        lambda c, n: {"p_app": c.p_app + 0.01 * _on_canary(_ramp(n))}),
    "latency:canary:+100ms@1h/30m": (
        {"p50": +1, "p99": +1},
        lambda c, n: {"shift": c.shift + 0.100 * _on_canary(_step(n))}),
    "tail-latency:canary:3%@1h/30m,delay=400ms": (
        {"p99": +1, "p50": +1},
        lambda c, n: {"tail_fraction": 0.03 * _on_canary(_step(n)), "tail_delay": 0.400 * _on_canary(_step(n))}),
    "crash:canary:40%@1h/30m": (  # acts through the instance timeline: see test_crash_takes_down_its_share_of_the_pool
        {"availability": -1, "cpu": +1, "p99": +1},
        None),
    "cache:canary:100%@1h/30m": (
        {"cache_hit_rate": -1, "cpu": +1, "p50": +1, "p99": +1},
        lambda c, n: {"hit": c.hit * (1 - _on_canary(_step(n))[..., 0])}),
    "cold-cache:canary:100%@1h/30m": (
        {"cache_hit_rate": -1, "cpu": +1, "p50": +1},
        lambda c, n: {"hit": c.hit * (1 - _on_canary(_fade(n))[..., 0])}),
    "surge:canary:+50%@1h/30m": (
        {"request_rate": +1, "cpu": +1, "network": +1},
        lambda c, n: {"rates": c.rates * (1 + 0.5 * _on_canary(_step(n)))}),
}
QUEUEING = {"p50", "p99", "error_rate", "availability", "memory", "network"}  # follow the load of an instance


@pytest.mark.parametrize("spec", CASES)
def test_fault_is_its_documented_change_of_conditions(spec, healthy):
    """The faulty expected run equals the healthy scenario run under the conditions the catalogue documents."""
    faulty = _expected([spec])
    c, n = healthy.expected.conditions, healthy.scenario.grid.n_ticks
    document = CASES[spec][1]
    if document is None:   # crash: the faulty instance timeline (pool state), the rest as healthy
        f = faulty.expected.conditions
        changes = {"fail_fast": f.fail_fast, "serving": f.serving, "leaked": f.leaked}
    else:
        changes = document(c, n)
    documented = _run(healthy.scenario, dataclasses.replace(c, **changes))
    for arm in ("canary", "baseline"):
        got, want = readings(faulty.telemetry, *WINDOW, arm=arm), readings(documented.telemetry, *WINDOW, arm=arm)
        if document is None:
            del got["availability"], want["availability"]   # health checks read the pool, not the conditions
        assert got == pytest.approx(want, rel=RTOL), (spec, arm)


@pytest.mark.parametrize("spec", CASES)
def test_fault_moves_its_metrics_only(spec, healthy):
    faulty = _expected([spec])
    change = _changes(faulty.telemetry, healthy.telemetry)
    moved = CASES[spec][0]
    for name, sign in moved.items():
        assert sign * change[name] > RTOL, (spec, name, change[name])
    still = set(READINGS) - set(moved)
    if spec.startswith(("crash", "cache", "cold-cache", "surge")):
        still -= QUEUEING   # busier instances queue longer: latency, timeouts and failed checks may follow
    for name in still:
        assert change[name] == pytest.approx(0.0, abs=RTOL), (spec, name, change[name])
    assert all(v == pytest.approx(0.0, abs=RTOL) for v in _changes(faulty.telemetry, healthy.telemetry,
                                                                    arm="baseline").values())


def test_every_kind_is_covered():
    covered = {spec.split(":")[0] for spec in CASES} | {"slow-dependency", "memory-leak", "scrape-gap",
                                                        "scrape-delay", "counter-reset"}
    assert covered == set(CATALOGUE)


# -- each kind's size, in closed form from the healthy telemetry ------------------------------------------------

def _increments(telemetry: Telemetry, family: str) -> np.ndarray:
    values = getattr(telemetry, family)
    return np.diff(values, axis=0, prepend=np.zeros_like(values[:1]))


def _with_errors(healthy: Run, added: np.ndarray) -> Telemetry:
    """The healthy telemetry with ``added`` (ticks, arms, segments) to the application error probability.

    ``p_error = ff + (1 - ff) * (1 - (1 - p_app) * (1 - p_timeout))`` (refused or timed-out requests fail
    anyway), so each request gains ``(1 - ff) * (1 - p_timeout) * added`` expected errors.
    """
    ex = healthy.expected
    served = (1 - ex.conditions.fail_fast)[..., None] * (1 - ex.p_timeout)
    errors = _increments(healthy.telemetry, "errors") + _increments(healthy.telemetry, "requests") * served * added
    telemetry = healthy.telemetry.copy()
    telemetry.errors[...] = np.cumsum(errors, axis=0)
    return telemetry


@pytest.mark.parametrize("spec, shape", [("error-rate:canary:+1%@1h/30m", _step),
                                         ("slow-burn:canary:+1%@1h/30m", _ramp)])
def test_an_error_fault_adds_its_magnitude_to_the_error_rate(spec, shape, healthy):
    """+1 point on every canary request (slow-burn: times its ramp, 0 to 1 over the 30 minutes)."""
    n = healthy.scenario.grid.n_ticks
    want = readings(_with_errors(healthy, 0.01 * _on_canary(shape(n))), *WINDOW)["error_rate"]
    assert readings(_expected([spec]).telemetry, *WINDOW)["error_rate"] == pytest.approx(want, rel=RTOL)


def test_segment_regression_moves_one_segment(healthy):
    faulty = _expected(["error-rate:canary/C:+0.3%@1h/30m"]).telemetry
    added = np.zeros((healthy.scenario.grid.n_ticks, 2, 3))
    added[:, CANARY, 2] = 0.003 * _step(len(added))
    want = _with_errors(healthy, added)
    for segment in ("A", "B", "C"):
        got = readings(faulty, *WINDOW, segment=segment)["error_rate"]
        assert got == pytest.approx(readings(want, *WINDOW, segment=segment)["error_rate"], rel=RTOL)
        if segment != "C":
            assert got == pytest.approx(readings(healthy.telemetry, *WINDOW, segment=segment)["error_rate"], rel=RTOL)


def test_slow_burn_grows_over_time(healthy):
    """A ramp over the whole ramp (4 h): the error rate it adds is its average strength in each window."""
    faulty = _expected(["slow-burn:canary:+1%@0/4h"]).telemetry
    want = _with_errors(healthy, 0.01 * _on_canary(_ramp(healthy.scenario.grid.n_ticks, 0.0, 4 * 3600.0)))
    early, late = ((readings(t, *w)["error_rate"] for t in (faulty, want)) for w in ((1, 240), (720, 960)))
    early, late = tuple(early), tuple(late)
    assert early[0] == pytest.approx(early[1], rel=RTOL) and late[0] == pytest.approx(late[1], rel=RTOL)
    assert 0 < early[0] - readings(healthy.telemetry, 1, 240)["error_rate"] < late[0] - readings(
        healthy.telemetry, 720, 960)["error_rate"]


def _window_histogram(telemetry: Telemetry, arm: int = CANARY, window=WINDOW) -> np.ndarray:
    """Cumulative latency bucket counts of ``arm`` over ``window``, all segments."""
    start, end = window
    return (telemetry.latency_bucket[end, arm] - telemetry.latency_bucket[start, arm]).sum(axis=0)


def _mean_latency(telemetry: Telemetry, arm: int = CANARY, window=WINDOW) -> float:
    start, end = window
    total = telemetry.latency_sum[end, arm] - telemetry.latency_sum[start, arm]
    return float(total.sum() / (telemetry.requests[end, arm] - telemetry.requests[start, arm]).sum())


def _bucket_width(le: np.ndarray, value: float) -> float:
    """The width of the histogram bucket that holds ``value`` (the first from 0)."""
    i = int(np.searchsorted(le, value))
    return float(le[i] - (le[i - 1] if i else 0.0))


def _no_timeouts(*runs: Run) -> bool:
    """No request reaches the timeout in the window: every served latency is exactly the fault's plus the healthy."""
    return all(not r.expected.p_timeout[WINDOW[0] + 1:WINDOW[1] + 1].any() for r in runs)


def test_latency_shift_moves_every_quantile_by_it(healthy):
    """+100 ms on every canary request: the true latency distribution moves by exactly 100 ms.

    The mean (latency_sum / requests) moves by 100 ms exactly. A quantile read from the histogram
    lies in the same bucket as the true quantile (linear interpolation never leaves the bucket where
    the rank falls), so each reading is off the truth by at most its bucket's width, and the move
    read by at most the sum of the two buckets' widths.
    """
    faulty = _expected(["latency:canary:+100ms@1h/30m"])
    assert _no_timeouts(healthy, faulty)
    shift = _mean_latency(faulty.telemetry) - _mean_latency(healthy.telemetry)
    assert shift == pytest.approx(0.100, rel=RTOL)
    le = np.asarray(healthy.scenario.layout.latency_buckets)
    before, after = readings(healthy.telemetry, *WINDOW), readings(faulty.telemetry, *WINDOW)
    for q in ("p50", "p99"):
        resolution = _bucket_width(le, before[q]) + _bucket_width(le, after[q])
        assert abs((after[q] - before[q]) - 0.100) <= resolution, (q, before[q], after[q], resolution)


def test_tail_latency_quantiles_follow_from_the_healthy_histogram(healthy):
    """3% of canary requests take 400 ms more: at any bound ``le`` the faulty cumulative count is
    ``0.97 * c(le) + 0.03 * c(le - 400ms)`` of the healthy one, and ``c(le - 400ms)`` is known at every
    bound up to 500 ms (0 at or below 400 ms, ``c(100ms)`` at 500 ms). Both quantiles fall there, so
    their readings are exact: P50 is the healthy histogram's quantile 0.5 / 0.97 (the median moves
    up by ~2% as 3% of the requests leave the body), P99 lies between 400 and 500 ms.
    """
    faulty = _expected(["tail-latency:canary:3%@1h/30m,delay=400ms"])
    le = np.asarray(healthy.scenario.layout.latency_buckets)
    c = _window_histogram(healthy.telemetry)
    shifted = np.where(le <= 0.4, 0.0, np.nan)
    shifted[le == 0.5] = c[le == 0.1]
    tail = 0.97 * c + 0.03 * shifted
    known = le <= 0.5
    assert tail[known][-1] >= 0.99 * c[-1]   # the 99th percentile's rank falls at or below 500 ms
    tail[~known] = c[-1]                     # above it: any counts up to the total give the same readings
    got = readings(faulty.telemetry, *WINDOW)
    assert got["p50"] == pytest.approx(float(histogram_quantile(0.5 / 0.97, le, c)), rel=RTOL)
    assert got["p50"] == pytest.approx(float(histogram_quantile(0.5, le, tail)), rel=RTOL)
    assert got["p99"] == pytest.approx(float(histogram_quantile(0.99, le, tail)), rel=RTOL)
    assert 0.4 < got["p99"] <= 0.5


def test_slow_dependency_affects_both_arms(healthy):
    """+150 ms on cache misses (15% of requests, hit rate 85%) on both arms, nothing on hits.

    Mean latency: + 0.15 * 150 ms exactly. P99: the misses alone are 15% of the requests, so the true
    99th percentile is above 150 ms; no request moved by more than 150 ms, so it is at most the healthy
    one (at most 50 ms, its bucket's top) plus 150 ms: both in the bucket 150-200 ms, where the
    reading is. P50: the requests only got slower, and at most 15% of them moved, so at every bound
    ``c(le) - 0.15 N <= faulty count <= c(le)``: the reading lies between the healthy histogram's and
    that of its counts less 15% of the total.
    """
    faulty = _expected(["slow-dependency:+150ms@1h/30m"])
    assert _no_timeouts(healthy, faulty)
    le = np.asarray(healthy.scenario.layout.latency_buckets)
    for arm in ("canary", "baseline"):
        a = healthy.scenario.layout.arm(arm)
        before, after = readings(healthy.telemetry, *WINDOW, arm=arm), readings(faulty.telemetry, *WINDOW, arm=arm)
        misses = 1 - before["cache_hit_rate"]
        assert misses == pytest.approx(0.15, rel=RTOL)
        shift = _mean_latency(faulty.telemetry, a) - _mean_latency(healthy.telemetry, a)
        assert shift == pytest.approx(0.150 * misses, rel=RTOL)
        assert before["p99"] <= 0.05 and 0.15 <= after["p99"] <= 0.2
        c = _window_histogram(healthy.telemetry, a)
        lowest = np.maximum(c - misses * c[-1], 0.0)
        lowest[-1] = c[-1]
        assert before["p50"] <= after["p50"] <= float(histogram_quantile(0.5, le, lowest))
        assert after["error_rate"] == pytest.approx(before["error_rate"], rel=RTOL)
        assert after["cpu"] == pytest.approx(before["cpu"], rel=RTOL)   # the wait holds no worker


@pytest.mark.parametrize("spec, reading, shape", [
    ("cache:canary:100%@1h/30m", "cache_hit_rate", _step),
    ("cold-cache:canary:100%@1h/30m", "cache_hit_rate", _fade),
    ("surge:canary:+50%@1h/30m", "request_rate", _step),
])
def test_cache_and_surge_faults_scale_their_reading_by_their_strength(spec, reading, shape, healthy):
    """Hits lost: the hit probability times ``1 - strength`` (cold cache: 1 at 1h fading to 0 at 1h30m).
    Surge: requests times ``1 + 50% * strength``. Both per tick, weighted by the tick's requests."""
    n = healthy.scenario.grid.n_ticks
    strength = shape(n)
    telemetry = healthy.telemetry.copy()
    if reading == "cache_hit_rate":
        lookups = _increments(telemetry, "cache_hits") + _increments(telemetry, "cache_misses")
        hits = _increments(telemetry, "cache_hits")
        hits[:, CANARY] *= 1 - strength
        telemetry.cache_hits[...] = np.cumsum(hits, axis=0)
        telemetry.cache_misses[...] = np.cumsum(lookups - hits, axis=0)
    else:
        telemetry.requests[...] = np.cumsum(_increments(telemetry, "requests") * (1 + 0.5 * _on_canary(strength)),
                                            axis=0)
    want = readings(telemetry, *WINDOW)[reading]
    assert readings(_expected([spec]).telemetry, *WINDOW)[reading] == pytest.approx(want, rel=RTOL, abs=RTOL)


def test_crash_takes_down_its_share_of_the_pool(healthy):
    """40% of 5 canary instances: the first ceil(0.4 * 5) = 2 are down in every health-check round of the
    fault (a round counts when the middle of the 5-second interval it ends is inside the fault). The
    balancer ejects a down instance after 2 failed checks in a row, so in the first tick (rounds at
    3605, 3610 and 3615 s) 2 of 5 requests are refused in two rounds: (0.4 + 0.4 + 0) / 3; after that
    the 3 instances left serve everything. Each down instance fails every check: availability <= 3/5.
    """
    faulty = _expected(["crash:canary:40%@1h/30m"])
    grid, pool = faulty.scenario.grid, faulty.scenario.pools[CANARY]
    middle = grid.round_times - grid.check_interval / 2
    inside = (middle >= START) & (middle < END)
    assert np.array_equal(pool.down.sum(axis=1), np.where(inside, math.ceil(0.4 * 5), 0))
    assert np.array_equal(np.flatnonzero(pool.down.any(axis=0)), [0, 1])
    c = faulty.expected.conditions
    assert c.fail_fast[241, CANARY] == pytest.approx((0.4 + 0.4 + 0) / 3, rel=RTOL)
    assert not c.fail_fast[242:361, CANARY].any() and (c.serving[241:361, CANARY] == 3).all()
    assert readings(faulty.telemetry, *WINDOW)["availability"] <= 3 / 5 * (1 + RTOL)
    assert readings(faulty.telemetry, *WINDOW, arm="baseline") == pytest.approx(
        readings(healthy.telemetry, *WINDOW, arm="baseline"), rel=RTOL)


def test_memory_leak_leads_to_oom_restarts(healthy, sampling_reference_plan):
    """1 GB/h per canary instance, spread by +-20% across the 5 (0.8 to 1.2 GB/h). An instance holds
    ``memory`` (72%) of its 4 GiB limit at normal load, so it is OOM-killed once it has leaked the rest,
    ``H = 28% * 4 GiB``: after ``ceil(H / (rate * 5 s))`` health-check rounds, then it is down for the
    30-second restart (6 rounds) and comes back empty. An OOM therefore happens at round
    ``k * a + (k - 1) * 6`` for k = 1, 2, ... while that is within the 2,880 rounds of the ramp.

    Memory: each instance's leak is a sawtooth from 0 to H; averaged over its up-time (continuous
    time), ``(m u H / 2 + r p^2 / 2) / (m u + p)`` for m full cycles of up-time ``u = H / r`` and a last
    one cut at ``p``. The gauge differs from the mean of these by at most: one round of leak (5 s of
    the fastest rate), the average over live instances only while one is down (it gains at most a
    quarter of H at those scrapes), and the load share (10% of memory follows the load, and 4
    instances carry 5/4 of it) at those scrapes.
    """
    faulty = _expected(["memory-leak:canary:1GB/h"])
    service = faulty.scenario.config.service
    limit, headroom = service.memory_limit, service.memory_limit * (1 - service.memory)
    rates = 1e9 / 3600 * (1 + 0.2 * np.linspace(-1, 1, 5))
    last_round, restart = 2880, 6
    rounds_to_oom = np.ceil(headroom / (rates * 5.0))
    ooms = np.floor((last_round + restart) / (rounds_to_oom + restart))
    assert faulty.scenario.pools[CANARY].ooms == ooms.sum() == 13 and faulty.scenario.pools[BASELINE].ooms == 0
    assert faulty.scenario.pools[CANARY].down.sum() == ooms.sum() * restart

    window = (1, 960)
    before, after = readings(healthy.telemetry, *window), readings(faulty.telemetry, *window)
    checks = 5 * 3 * (window[1] - window[0])   # 5 instances, 3 rounds a scrape
    assert after["availability"] <= 1 - ooms.sum() * restart / checks * (1 - RTOL)
    assert after["error_rate"] > before["error_rate"]   # requests sent to a killed instance before its ejection fail

    up = headroom / rates
    full = np.floor(4 * 3600 / (up + 30.0))
    cut = np.minimum(4 * 3600 - full * (up + 30.0), up)
    leaked = float(np.mean((full * up * headroom / 2 + rates * cut ** 2 / 2) / (full * up + cut))) / limit
    some_down = ooms.sum() * restart / (3 * (window[1] - window[0]))   # share of scrapes with an instance down
    round_of_leak = rates.max() * 5.0 / limit
    live_only = some_down * headroom / 4 / limit
    load_share = some_down * service.memory_load_share * (5 / 4 - 1) * 21_000 / 12_500   # at most the peak load
    growth = after["memory"] - before["memory"]
    assert leaked - round_of_leak <= growth <= leaked + round_of_leak + live_only + load_share
    assert _changes(faulty.telemetry, healthy.telemetry, arm="baseline", window=window)["memory"] == pytest.approx(
        0.0, abs=RTOL)


def test_flapping_crash_comes_and_goes(sampling_reference_plan):
    """Flapping, period 2 minutes, half of each period down, for 10 minutes: 5 periods of 24 rounds of
    5 seconds, 12 of them down: exactly half of the 120 rounds inside, none outside."""
    scenario = Scenario.build(sampling_reference_plan, [parse_fault("crash:canary:100%@1h/10m,shape=flapping,"
                                                                    "period=2m")])
    down = scenario.pools[CANARY].down.any(axis=1)
    rounds = scenario.grid.round_times
    inside = (rounds > 3600) & (rounds <= 4200)
    assert inside.sum() == 120 and down[inside].sum() == 60 and not down[~inside].any()


# -- telemetry faults, on observed runs (same seed, so everything but the fault's effect is identical) -------------

def test_scrape_gap_leaves_samples_missing(sampling_reference_plan):
    run = simulate(sampling_reference_plan, [parse_fault("scrape-gap:canary@1h/5m")], seed=4,
                   engine_factory=None)
    canary = run.telemetry.layout.channels("requests", 1).ravel()
    baseline = run.telemetry.layout.channels("requests", 0).ravel()
    gap = (run.telemetry.time >= 3600) & (run.telemetry.time < 3900)
    assert np.isnan(run.telemetry.counters[gap][:, canary]).all()
    assert not np.isnan(run.telemetry.counters[:, baseline]).any()
    assert not np.isnan(run.telemetry.counters[~gap][:, canary]).any()


def test_scrape_delay_shows_stale_samples(sampling_reference_plan):
    """45 s late = ceil(45 s / 15 s) = 3 scrapes stale while the fault acts (scrape 250 is at 1h02m30s)."""
    clean = simulate(sampling_reference_plan, seed=4, engine_factory=None)
    late = simulate(sampling_reference_plan, [parse_fault("scrape-delay:shared:45s@1h/30m")], seed=4,
                    engine_factory=None)
    k = 250
    assert np.array_equal(late.telemetry.counters[k], clean.telemetry.counters[k - 3])
    assert np.array_equal(late.telemetry.counters[100], clean.telemetry.counters[100])


def test_a_scrape_delay_stalls_the_samples_never_counts_backwards(sampling_reference_plan):
    """At the delay's onset the samples hold the last state shown until the delayed one passes it: stepping back
    45 s read as a counter reset, 4.4 million phantom requests in the report's totals. When it ends, they catch up."""
    clean = simulate(sampling_reference_plan, seed=4, engine_factory=None)
    late = simulate(sampling_reference_plan, [parse_fault("scrape-delay:shared:45s@1h/30m")], seed=4,
                    engine_factory=None)
    counters = late.telemetry.counters
    assert (np.diff(counters, axis=0) >= 0).all()
    onset = 240                                 # 1h: the samples at 1h00m00s..1h00m30s repeat the one before
    assert all(np.array_equal(counters[onset + i], clean.telemetry.counters[onset - 1]) for i in range(3))
    assert np.array_equal(counters[onset + 3], clean.telemetry.counters[onset])   # then 45 s late
    end = onset + 120                           # 1h30m: caught up at once
    assert np.array_equal(counters[end], clean.telemetry.counters[end])
    counted = {k: v for k, v in readings(late.telemetry, 0, len(counters) - 1).items()
               if k not in ("cpu", "memory", "network")}     # gauges were stale for half an hour
    assert counted == pytest.approx({k: v for k, v in readings(clean.telemetry, 0, len(counters) - 1).items()
                                     if k in counted}, rel=RTOL)


def test_counter_reset_drops_raw_counters_but_not_metrics(sampling_reference_plan):
    """The readings correct a reset as PromQL's increase() does: the same figures, up to float rounding."""
    clean = simulate(sampling_reference_plan, seed=4, engine_factory=None)
    reset = simulate(sampling_reference_plan, [parse_fault("counter-reset:canary@1h")], seed=4,
                     engine_factory=None)
    canary = reset.telemetry.layout.channels("requests", 1).ravel()
    assert reset.telemetry.counters[240, canary].sum() < reset.telemetry.counters[239, canary].sum()
    end = len(clean.telemetry) - 1
    for window in ((0, end), (200, 300)):
        a, b = readings(clean.telemetry, *window), readings(reset.telemetry, *window)
        assert a == pytest.approx(b, rel=RTOL)


# -- syntax and errors -----------------------------------------------------------------

def test_compact_syntax_reads_every_part():
    fault = parse_fault("tail-latency:canary/B:3%@01:30/20m,delay=400ms,shape=flapping,period=1m")
    assert (fault.kind, fault.arms, fault.segment, fault.magnitude) == ("tail-latency", ("canary",), "B", 0.03)
    assert (fault.start, fault.duration, fault.delay, fault.shape, fault.period) == (5400, 1200, 0.4, "flapping", 60)
    assert parse_fault("slow-dependency:+150ms@1h").arms == ("baseline", "canary")
    assert parse_fault("counter-reset:canary@1h").duration is None


@pytest.mark.parametrize("text, message", [
    ("eror-rate:canary:+1%", "did you mean 'error-rate'"),
    ("error-rate:canary:1.5ms", "unknown unit 'ms'"),
    ("error-rate:canary:+1%@-5m", "must be zero or positive"),
    ("error-rate:canary:+1%@200 mins", "unknown unit 'mins'"),
    ("error-rate:+1%", "needs a target"),
    ("error-rate:canary", "needs a magnitude"),
    ("crash:canary/B:10%", "cannot target one segment"),
    ("crash:canary:150%", "out of range"),
    ("counter-reset:canary@1h/5m", "takes no duration"),
    ("slow-dependency:canary:+10ms", "target is 'shared'"),
    ("scrape-gap:shared:5%", "takes no magnitude"),
    ("error-rate:canary:+1%,bogus=1", "unknown option 'bogus'"),
    ("error-rate:canary:+1%,period=1m", "apply to shape 'flapping'"),
    ("latency:nowhere:+10ms", "unknown target"),
])
def test_bad_faults_say_what_is_wrong(text, message):
    with pytest.raises(FaultError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_fault(text)


def _plan_with_faults(faults_yaml: str):
    text = REFERENCE.read_text().replace("faults: []", faults_yaml)
    return plan_from_text(text, "plan.yaml")


def test_scenario_faults_are_read_and_located():
    plan = _plan_with_faults("faults:\n  - error-rate:canary:+1.5%@01:00\n"
                             "  - {kind: tail-latency, target: canary, magnitude: 3%, start: 1h, delay: 400ms}\n")
    scenario = Scenario.build(plan)
    assert [f.kind for f in scenario.faults] == ["error-rate", "tail-latency"]
    line = REFERENCE.read_text().splitlines().index("faults: []") + 1
    bad = _plan_with_faults("faults:\n  - {kind: error-rate, target: canary, magnitude: 1.5ms}\n"
                            "  - surge:shared:+60%@9h\n")
    with pytest.raises(PlanError) as error:
        Scenario.build(bad)
    problems = error.value.problems
    assert problems[0].startswith(f"plan.yaml:{line + 1}: faults.0.magnitude: unknown unit 'ms'")
    bad = _plan_with_faults("faults:\n  - {kind: error-rate, target: canary/D, magnitude: 1%}\n")
    with pytest.raises(PlanError, match=f"plan.yaml:{line + 1}: faults.0: error-rate: unknown segment 'D'"):
        Scenario.build(bad)


# -- a fault acts for the share of each interval it is on ---------------------------------------------------------

@settings(max_examples=examples(fast=200), deadline=None)
@given(st.sampled_from(["step", "ramp", "flapping"]), st.integers(0, 600_000),
       st.one_of(st.none(), st.integers(1_000, 900_000)), st.integers(1_000, 300_000), st.floats(0.05, 0.95),
       st.floats(0, 1000), st.floats(0.5, 120))
def test_the_mean_strength_over_an_interval_is_the_strength_averaged_over_it(shape, start, duration, period, duty,
                                                                              low, width):
    """``mean_profile`` integrates the shape exactly; checked against the strength sampled densely."""
    from rampsim.faults import Fault, mean_profile, profile

    ms = lambda value: None if value is None else f"{value}ms"   # noqa: E731  (times drawn in milliseconds)
    fault = Fault.model_validate({"kind": "error-rate", "target": "canary", "magnitude": 0.01,
                                  "start": ms(start), "duration": ms(duration), "shape": shape,
                                  **({"period": ms(period), "duty": duty} if shape == "flapping" else {})})
    period = period / 1000
    samples = low + (np.arange(20_000) + 0.5) / 20_000 * width
    dense = profile(fault, samples, 3600.0).mean()
    exact = mean_profile(fault, np.array([low]), np.array([low + width]), 3600.0)[0]
    # the dense mean is off by at most half a sample's share at each edge (a start, an end, each flap's two)
    edges = 2 + (2 * (width / period + 1) if shape == "flapping" else 0)
    assert exact == pytest.approx(dense, abs=edges * 0.5 / 20_000 + 1e-9)


@pytest.mark.parametrize("spec, tick, expected", [
    ("error-rate:canary:+5%@1h,shape=flapping,period=15s", 241, 0.025),     # faster than the scrapes: half of each
    ("error-rate:canary:+5%@1h,shape=flapping,period=30s,duty=0.25", 241, 0.05 * 7.5 / 15),
    ("error-rate:canary:+5%@308s/7s", 21, 0.05 * 7 / 15),                    # on for 7 s of the interval (300, 315]
    ("error-rate:canary:+5%@305s/5s", 21, 0.05 * 5 / 15),
])
def test_a_fault_between_scrapes_acts_for_its_share_of_the_interval(spec, tick, expected, sampling_reference_plan):
    """A review found these faults sampled at each interval's middle: absent (flapping every 15 s, or on for 7 s
    around no middle) or tripled (5 s around a middle)."""
    from rampsim.sim.effects import Effects

    scenario = Scenario.build(sampling_reference_plan)
    effects = Effects.build([parse_fault(spec)], sampling_reference_plan.layout, scenario.grid)
    assert effects.error_add[tick, CANARY, 0] == pytest.approx(expected, rel=1e-12)
    assert effects.harmful[tick, CANARY, 0]


def test_a_crash_flapping_with_the_health_checks_takes_down_its_share():
    """crash:canary:100% flapping every 5 s (the check interval) was never applied: sampled where it was off."""
    from rampsim.faults import Fault, mean_profile

    fault = parse_fault("crash:canary:100%@1m/1m,shape=flapping,period=5s")
    rounds = np.arange(0, 200, 5.0)
    share = mean_profile(fault, np.maximum(rounds - 5, 0), rounds, 3600.0)
    assert np.allclose(share[(rounds > 60) & (rounds <= 120)], 0.5) and not share[rounds <= 60].any()
