"""The model reproduces the runbook's figures at normal load, within their sampling error."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rampsim.engine.metrics import Series
from rampsim.report.readings import measure, over, rolling
from rampsim.sim import Scenario, simulate
from rampsim.sim.expected import expected, expected_telemetry
from rampsim.sim.population import population
from tests.sim_helpers import flat_reference, readings

Z = 4.0  # standard errors allowed: a false failure about once in 16,000 checks


@pytest.fixture(scope="module")
def flat_run():
    return simulate(flat_reference(), seed=11, engine_factory=None)


@pytest.fixture(scope="module")
def flat_expected():
    scenario = Scenario.build(flat_reference())
    return scenario, expected_telemetry(scenario, expected(scenario, scenario.conditions(scenario.scheduled_weights())))


def test_cohort_is_50000_of_500000_and_sticky():
    people = population(500_000, (0.40, 0.35, 0.25), "rampsim")
    assert people.canary_size(0.10) == 50_000
    cohorts = people.cohorts(0.10)
    assert cohorts.sum() == 500_000 and cohorts[1].sum() == 50_000
    ids = np.arange(500_000)
    at5, at10 = people.on_canary(ids, 0.05), people.on_canary(ids, 0.10)
    assert at5.sum() == 25_000 and np.all(at10[at5]), "ramping must keep every learner where it was"
    shares = cohorts.sum(axis=0) / 500_000
    assert np.allclose(shares, (0.40, 0.35, 0.25), atol=4 * math.sqrt(0.25 / 500_000))


def test_segment_error_rates_match_runbook(flat_run, flat_expected):
    _, truth = flat_expected
    end = len(flat_run.telemetry) - 1
    for segment, runbook in (("A", 0.00065), ("B", 0.00072), ("C", 0.00085)):
        expected_rate = readings(truth, 0, end, segment=segment)["error_rate"]
        assert expected_rate == pytest.approx(runbook, rel=1e-3), "timeouts at normal load must be negligible"
        canary = flat_run.telemetry.layout.arm("canary")
        seg = flat_run.telemetry.layout.segment(segment)
        n = flat_run.telemetry.requests[end, canary, seg]
        errors = flat_run.telemetry.errors[end, canary, seg]
        assert abs(errors - n * expected_rate) < Z * math.sqrt(n * expected_rate * (1 - expected_rate))


def test_p99_is_46ms_at_normal_load(flat_run, flat_expected):
    _, truth = flat_expected
    end = len(truth) - 1
    expected_p99 = readings(truth, 0, end)["p99"]
    assert expected_p99 == pytest.approx(0.046, abs=5e-5)
    # Sampling error of a quantile: sqrt(q(1-q)/n) in probability, divided by the density there.
    layout = truth.layout
    canary = layout.arm("canary")
    le = np.asarray(layout.latency_buckets)
    b = int(np.searchsorted(le, 0.046))
    cumulative = truth.latency_bucket[end, canary].sum(axis=0)
    density = (cumulative[b] - cumulative[b - 1]) / cumulative[-1] / (le[b] - le[b - 1])
    n = flat_run.telemetry.requests[end, canary].sum()
    tolerance = Z * math.sqrt(0.99 * 0.01 / n) / density
    assert abs(readings(flat_run.telemetry, 0, end)["p99"] - expected_p99) < tolerance


def test_canary_load_average_and_peak(sampling_reference_plan):
    run = simulate(sampling_reference_plan, seed=5, engine_factory=None)
    end = len(run.telemetry) - 1
    seconds = run.telemetry.time[end]
    n = run.telemetry.requests[end, run.telemetry.layout.arm("canary")].sum()
    assert abs(n / seconds - 1250.0) < Z * math.sqrt(n) / seconds
    scenario = run.scenario
    conditions = scenario.conditions(scenario.scheduled_weights())
    canary_rate = conditions.rates[:, scenario.layout.arm("canary")].sum(axis=1)
    assert canary_rate.max() == pytest.approx(2100.0)
    series = Series.from_telemetry(run.telemetry)
    per_minute = rolling(series, measure("request_rate", "1m"))
    burst = int(np.argmax(canary_rate)) + 4   # a minute fully inside the first burst
    assert abs(per_minute[burst] - 2100.0) < Z * math.sqrt(2100.0 * 60) / 60


def test_resources_cache_and_revenue_at_normal_load(flat_run, flat_expected):
    _, truth = flat_expected
    end = len(truth) - 1
    exact = readings(truth, 1, end)
    assert exact["cpu"] == pytest.approx(0.65, abs=1e-6)
    assert exact["memory"] == pytest.approx(0.72, abs=1e-6)
    assert exact["network"] == pytest.approx(0.58, abs=1e-6)
    assert exact["cache_hit_rate"] == pytest.approx(0.85, abs=1e-6)
    observed = readings(flat_run.telemetry, 1, end)
    noise = flat_run.scenario.config.service.gauge_noise
    for gauge in ("cpu", "network"):
        assert abs(observed[gauge] - exact[gauge]) < Z * noise / math.sqrt(end)
    n = flat_run.telemetry.requests[end, 1].sum()
    assert abs(observed["cache_hit_rate"] - 0.85) < Z * math.sqrt(0.85 * 0.15 / n)
    series = Series.from_telemetry(flat_run.telemetry)
    revenue = over(series, measure("revenue_rate", "cumulative"), 0, end)
    per_request = flat_run.scenario.service.revenue_per_success
    minutes = flat_run.telemetry.time[end] / 60
    assert abs(revenue - 2450.0) < Z * per_request * math.sqrt(n) / minutes
    assert over(Series.from_telemetry(truth), measure("revenue_delta", "cumulative"), 0, end) == pytest.approx(
        0.0009, abs=1e-6)


def test_health_checks_every_5s_per_instance(flat_run):
    end = len(flat_run.telemetry) - 1
    checks = flat_run.telemetry.health_checks[end]
    seconds = flat_run.telemetry.time[end]
    assert list(checks) == [45 * seconds / 5, 5 * seconds / 5]


def test_latency_grows_with_utilisation():
    scenario = Scenario.build(flat_reference())
    service = scenario.service
    low, high = service.queue(np.array([100.0, 600.0]), np.array([0.85, 0.85])).p_wait
    assert high > 10 * low


@given(st.floats(0.1, 10.0), st.floats(0.5, 9.0), st.floats(-50.0, 50.0), st.floats(1e-3, 0.999))
def test_the_root_of_an_increasing_function_is_found_to_the_tolerance(scale, power, shift, where):
    """The service's latency scale is solved without scipy.optimize: any increasing function bracketed by a
    negative and a positive value gives its root to within the tolerance, in a bounded number of steps."""
    from rampsim.sim.service import _increasing_root

    low, high = shift - 3.0, shift + 3.0
    root = low + where * (high - low)
    calls = []

    def f(x: float) -> float:
        calls.append(x)
        return scale * math.copysign(abs(x - root) ** power, x - root)

    found = _increasing_root(f, low, high, tolerance=1e-10)
    assert abs(found - root) <= 1e-10 * (1 + abs(root) + 3)
    assert len(calls) <= 2 + 2 * math.ceil(math.log2(6.0 / 1e-10))   # at worst a halving every two steps


def test_the_root_finder_stops_where_floats_are_wider_than_the_tolerance():
    from rampsim.sim.service import _increasing_root

    found = _increasing_root(lambda x: x - 1e4 - 0.3, 1e4 - 1, 1e4 + 1)   # 1e-12 is below a float's step here
    assert abs(found - (1e4 + 0.3)) <= 1e-12 * 1e4
