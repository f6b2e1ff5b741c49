"""Properties of the engine and of the metric definitions (hypothesis), comparisons with the baseline and
sequential tests included."""
import math

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from rampsim.engine import Decision, DecisionEngine, DecisionKind
from rampsim.engine.metrics import (
    Series, aggregate_groups, corrected_counters, evaluate, histogram_quantile, histogram_quantile_scalar,
    is_scalar_measure, scalar_finisher,
)
from rampsim.plan import with_overrides
from rampsim.plan.schema import Rule
from rampsim.telemetry import Telemetry
from rampsim.testing import strategies as rst
from tests.builders import run


def prometheus_bucket_quantile(q, upper_bounds, counts):
    """Prometheus 2.42's bucketQuantile (promql/quantile.go), transcribed independently."""
    buckets = [[ub, c] for ub, c in zip(upper_bounds, counts)]
    if buckets[-1][0] != math.inf:
        return math.nan
    highest = buckets[0][1]
    for bucket in buckets[1:]:  # ensureMonotonic
        if bucket[1] > highest:
            highest = bucket[1]
        elif bucket[1] < highest:
            bucket[1] = highest
    observations = buckets[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    index = next((i for i in range(len(buckets) - 1) if buckets[i][1] >= rank), len(buckets) - 1)
    if index == len(buckets) - 1:
        return buckets[-2][0]
    if index == 0 and buckets[0][0] <= 0:
        return buckets[0][0]
    start, end, count = 0.0, buckets[index][0], buckets[index][1]
    if index > 0:
        start = buckets[index - 1][0]
        count -= buckets[index - 1][1]
        rank -= buckets[index - 1][1]
    return start + (end - start) * (rank / count)


def terminal(events):
    return next((e for e in events if isinstance(e, Decision) and e.kind.terminal), None)


def rollback_time(plan, telemetry):
    decision = terminal(run(DecisionEngine(plan), telemetry))
    return decision.time if decision is not None and decision.kind is DecisionKind.ROLLBACK else math.inf


@given(st.floats(0.01, 0.999), st.lists(st.integers(0, 500), min_size=2, max_size=12),
       st.lists(st.floats(0.001, 10.0), min_size=11, max_size=11, unique=True))
def test_latency_quantile_equals_prometheus_interpolation(q, per_bucket, bounds):
    upper_bounds = (*sorted(bounds)[: len(per_bucket) - 1], math.inf)
    counts = list(np.cumsum(per_bucket).astype(float))
    # scrambles monotonicity now and then, as float noise or a bad exporter would
    if len(counts) > 3 and per_bucket[0] % 7 == 0:
        counts[1], counts[2] = counts[2], counts[1]
    expected = prometheus_bucket_quantile(q, upper_bounds, counts)
    vector = float(histogram_quantile(q, upper_bounds, np.array([counts]))[0])
    scalar = histogram_quantile_scalar(q, upper_bounds, counts)
    if math.isnan(expected):
        assert math.isnan(vector) and math.isnan(scalar)
    else:
        assert vector == expected and scalar == expected


@given(rst.telemetry(gaps=True, resets=True))
def test_engine_counter_correction_equals_the_vectorized_one(telemetry):
    engine = DecisionEngine(_PLAN)
    for tick in range(len(telemetry)):
        engine.observe(telemetry, tick)
    expected = corrected_counters(telemetry.counters)
    np.testing.assert_array_equal(engine._counters[: len(telemetry), :-1], expected)


_PLAN = rst.single_rule_plan(metric="error_rate", threshold="1%")


def _assert_per_scrape_equals_vectorized(telemetry, rule) -> None:
    """The engine's per-scrape value of ``rule`` equals :func:`evaluate`'s at every scrape, bit for bit."""
    series = Series.from_telemetry(telemetry)
    lag = int(round(rule.window.seconds / telemetry.layout.scrape_interval))
    end = np.arange(lag, len(telemetry))
    vector = evaluate(series, rule, end - lag, end)
    groups = aggregate_groups(telemetry.layout, rule)
    finisher = scalar_finisher(rule, telemetry.layout.latency_buckets, list(range(len(groups))))
    aggregate = series.aggregate(groups)
    scalar = [finisher((aggregate[e] - aggregate[e - lag]).tolist(), float(telemetry.time[e] - telemetry.time[e - lag]))
              for e in end]
    np.testing.assert_array_equal(vector, np.array(scalar))


@given(rst.telemetry(gaps=True), st.data())
def test_per_scrape_values_equal_the_vectorized_values_bit_for_bit(telemetry, data):
    plan = data.draw(rst.single_rule_plans())
    rule = plan.rules["gate"]
    _assert_per_scrape_equals_vectorized(telemetry, rule)


@given(rst.telemetry(), st.data())
def test_raising_an_upper_bound_threshold_never_rolls_back_earlier(telemetry, data):
    plan = data.draw(rst.single_rule_plans(metrics=["error_rate", "p99"]))
    rule = plan.rules["gate"]
    factor = data.draw(st.floats(1.0, 3.0))
    looser = with_overrides(plan, {"rules.gate.threshold": _scaled(rule, factor, plan)})
    assert rollback_time(looser, telemetry) >= rollback_time(plan, telemetry)


def _scaled(rule, factor, plan):
    """The rule's threshold times ``factor``; a latency's just under the largest finite bucket at most
    (``histogram_quantile`` never exceeds it: a '>' threshold there is refused as never breached)."""
    value = rule.threshold * factor
    if rule.metric.value == "error_rate":
        return f"{value * 100!r}%"
    top = max(b for b in plan.telemetry.latency_buckets if math.isfinite(b))
    return f"{min(value, top * (1 - 1e-9)) * 1000!r}ms"


@given(st.integers(0, 30), st.integers(1, 40), st.sampled_from(["0s", "15s", "45s", "1m", "2m", "3m"]),
       st.sampled_from(["15s", "1m"]))
def test_breach_acts_within_one_scrape_of_the_sustain_time_and_never_sooner(start, length, sustain, window):
    plan = rst.single_rule_plan(metric="error_rate", threshold="1%", sustain=sustain, window=window)
    rule, interval = plan.rules["gate"], plan.telemetry.scrape_interval
    n = 81
    per_scrape = np.full((n, 2, 2), 1000.0)
    per_scrape[0] = 0
    errors = np.zeros_like(per_scrape)
    errors[1 + start: 1 + start + length, plan.layout.arm("canary")] = 1000.0  # every canary request fails
    telemetry = Telemetry.from_arrays(plan.layout, requests=per_scrape.cumsum(0), errors=errors.cumsum(0),
                                      health_checks=np.arange(n)[:, None] * np.ones(2),
                                      health_checks_ok=np.arange(n)[:, None] * np.ones(2),
                                      cpu=0.5, memory=0.5, network=0.5, memory_bytes=1e9)
    lag = int(rule.window.seconds / interval)
    breach_start = (1 + start) * interval
    assume(1 + start - lag >= 0)
    breach_seconds = (length + lag - 2) * interval  # first to last breaching scrape
    acted = rollback_time(plan, telemetry)
    if breach_seconds >= rule.sustain:
        assert breach_start + rule.sustain <= acted <= breach_start + rule.sustain + interval
    else:
        assert acted == math.inf


@given(rst.telemetry())
def test_engine_is_deterministic(telemetry):
    first = run(DecisionEngine(_PLAN), telemetry)
    second = run(DecisionEngine(_PLAN), telemetry.copy())
    assert first == second


@given(rst.telemetry(min_ticks=81, max_ticks=81, gaps=True), st.data())
def test_telemetry_with_gaps_never_advances(telemetry, data):
    plan = data.draw(rst.single_rule_plans(metrics=["cache_hit_rate"], threshold="1%"))
    events = run(DecisionEngine(plan), telemetry)
    assert all(e.kind is not DecisionKind.ADVANCE for e in events if isinstance(e, Decision))


def test_no_telemetry_never_advances():
    telemetry = Telemetry.empty(_PLAN.layout, 81)
    events = run(DecisionEngine(_PLAN), telemetry)
    final = terminal(events)
    assert final is not None and final.kind is DecisionKind.HOLD
    assert all(e.kind is not DecisionKind.ADVANCE for e in events if isinstance(e, Decision))


def test_complete_healthy_telemetry_does_advance():
    """The no-advance properties above are not vacuous: the same plan advances on clean data."""
    plan = rst.single_rule_plan(metric="cache_hit_rate", threshold="1%")
    n = 81
    per_scrape = np.full((n, 2, 2), 100.0)
    per_scrape[0] = 0
    buckets = np.zeros((n, 2, 2, 6))
    buckets[..., :] = per_scrape[..., None]
    telemetry = Telemetry.from_arrays(
        plan.layout, requests=per_scrape.cumsum(0), errors=np.zeros((n, 2, 2)), latency_bucket=buckets.cumsum(0),
        latency_sum=per_scrape.cumsum(0) * 0.01, revenue=per_scrape.cumsum(0), health_checks=np.arange(n)[:, None] * np.ones(2),
        health_checks_ok=np.arange(n)[:, None] * np.ones(2), cache_hits=per_scrape.sum(2).cumsum(0),
        cache_misses=np.zeros((n, 2)), cpu=0.5, memory=0.5, network=0.5, memory_bytes=1e9)
    assert terminal(run(DecisionEngine(plan), telemetry)).kind is DecisionKind.ADVANCE


def test_series_the_plan_does_not_read_may_be_absent():
    """A service without revenue or memory series can still advance; a gap in a series the plan reads cannot."""
    plan = rst.single_rule_plan(metric="error_rate", threshold="5%")
    n = 81
    per_scrape = np.full((n, 2, 2), 100.0)
    per_scrape[0] = 0
    telemetry = Telemetry.from_arrays(plan.layout, requests=per_scrape.cumsum(0), errors=np.zeros((n, 2, 2)),
                                      cpu=0.5)  # no revenue, latency, health, cache or memory series at all
    assert terminal(run(DecisionEngine(plan), telemetry)).kind is DecisionKind.ADVANCE
    from rampsim.engine.judge import judge
    assert judge([plan], telemetry).named()[0][0] == "advance"
    telemetry.counters[40, plan.layout.channels("requests", 1, 0)] = np.nan
    assert terminal(run(DecisionEngine(plan), telemetry)).kind is DecisionKind.HOLD
    assert judge([plan], telemetry).named()[0][0] == "hold"


# -- comparisons with the baseline and sequential tests ------------------------------------------------------

COMPARED_METRICS = {"error_rate": "0.5%", "p99": "20ms", "availability": "1%", "cache_hit_rate": "1%"}


@st.composite
def comparisons(draw, windows=("15s", "30s", "1m", "2m")):
    """A comparison with the baseline on a rolling window: the engine's per-scrape path."""
    metric = draw(st.sampled_from(list(COMPARED_METRICS)))
    how = draw(st.sampled_from(["difference", "ratio", "relative"]))
    fields = {"metric": metric, "compare": "baseline", "as": how, "op": ">", "window": draw(st.sampled_from(windows)),
              "threshold": COMPARED_METRICS[metric] if how == "difference" else 1.5}
    if draw(st.booleans()):
        fields["min_requests"] = draw(st.sampled_from([1, 500, 3000]))
    return Rule.model_validate(fields)


@given(rst.telemetry(gaps=True, resets=True, arms_differ=True), comparisons())
def test_per_scrape_comparisons_equal_the_vectorized_values_bit_for_bit(telemetry, rule):
    assert is_scalar_measure(rule)
    _assert_per_scrape_equals_vectorized(telemetry, rule)


@given(rst.telemetry(min_ticks=20, gaps=True, resets=True, arms_differ=True), st.sampled_from(["error_rate", "p99"]),
       st.sampled_from(["0%", "50%"]), st.data())
def test_a_sequential_p_value_reads_the_scrapes_up_to_it_and_only_falls(telemetry, metric, margin, data):
    """Judged on the whole run or on the run cut after a scrape (later scrapes missing), the value at that scrape
    is the same float; where known, it never rises."""
    test = Rule.model_validate({"metric": metric, "compare": "baseline", "test": "sequential", "margin": margin,
                                "op": "<=", "threshold": "5%"})
    ticks = np.arange(len(telemetry))
    values = evaluate(Series.from_telemetry(telemetry), test, np.zeros_like(ticks), ticks)
    cut = data.draw(st.integers(0, len(telemetry) - 1))
    early = telemetry.copy()
    early.counters[cut + 1:] = np.nan
    alone = evaluate(Series.from_telemetry(early), test, np.array([0]), np.array([cut]))[0]
    assert alone == values[cut] or (np.isnan(alone) and np.isnan(values[cut]))
    known = values[~np.isnan(values)]
    assert np.all(np.diff(known) <= 0) and np.all((known >= 0) & (known <= 1))
