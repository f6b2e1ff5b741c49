"""Properties of the engine and of the metric definitions (hypothesis), comparisons with the baseline and
sequential tests included."""
import math
from typing import Sequence

import numpy as np
import pytest
from hypothesis import assume, event, given
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


@st.composite
def near_the_thresholds(draw, metric: str, thresholds: Sequence[float], canary: float = 1.0,
                        min_ticks: int = 10) -> Telemetry:
    """Telemetry on :data:`rst.SMALL_LAYOUT` whose ``metric`` (``"error_rate"`` or ``"latency"``, a P99) steps
    between up to 4 levels, each one of the ``thresholds`` times U(0.8, 1.2), half the time rising: a level often
    lies between two thresholds, and plans with them decide at different times (in about half the examples; on
    ``rst.telemetry()`` two plans did in about 1 in 12). Poisson requests, 200 to 5,000 a
    scrape per arm and segment (a measure near its level); binomial errors; latencies multinomial over the buckets
    with the shares of :func:`_p99_at`; up to 3 scrapes missing. The canary's levels are ``canary`` times the
    baseline's."""
    layout = rst.SMALL_LAYOUT
    n = draw(st.integers(min_ticks, 80))
    steps = sorted(draw(st.lists(st.integers(1, n - 1), max_size=3)))
    levels = [draw(st.sampled_from(thresholds)) * draw(st.floats(0.8, 1.2)) for _ in range(len(steps) + 1)]
    if draw(st.booleans()):   # a release getting worse: each threshold is crossed at a step of its own
        levels.sort()
    which = np.repeat(np.arange(len(levels)), np.diff([0, *steps, n]))   # each scrape's level
    arms = np.where(np.array(layout.arms) == "canary", canary, 1.0)
    levels = np.array(levels)[:, None] * arms                                # (levels, arms)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = (n, len(layout.arms), len(layout.segments))
    requests = rng.poisson(draw(st.integers(200, 5000)), shape).astype(float)
    requests[0] = 0.0
    errors, buckets = np.zeros(shape), np.zeros((*shape, len(layout.latency_buckets)))
    if metric == "error_rate":
        errors = rng.binomial(requests.astype(np.int64), np.minimum(levels[which], 1.0)[..., None]).astype(float)
    else:
        below = np.array([[_p99_at(np.array(layout.latency_buckets), v) for v in arm] for arm in levels])[which]
        share = np.broadcast_to(np.diff(below, prepend=0.0, axis=-1)[:, :, None], buckets.shape)
        buckets = np.stack([rng.multinomial(int(r), p / p.sum()) for r, p in
                            zip(requests.reshape(-1), share.reshape(-1, share.shape[-1]))]).reshape(buckets.shape)
    telemetry = Telemetry.from_arrays(layout, requests=requests.cumsum(0), errors=errors.cumsum(0),
                                      latency_bucket=buckets.cumsum(-1).cumsum(0), cpu=0.5,
                                      latency_sum=(requests * levels[which][..., None]).cumsum(0))
    for tick in draw(st.lists(st.integers(0, n - 1), max_size=3)):   # missing scrapes
        telemetry.counters[tick] = np.nan
    return telemetry


def _p99_at(le: np.ndarray, level: float) -> np.ndarray:
    """Cumulative shares at the bucket bounds ``le`` whose interpolated 0.99 quantile (Prometheus's) is ``level``:
    uniform on [0, level / 0.99], but where that ends inside the bucket (lo, hi] holding ``level``, the share at
    ``lo`` is lowered so that the straight line from it to 1 at ``hi`` crosses 0.99 at ``level`` (within 1% of the
    bucket's width of its top, the share at ``lo`` is 0: a P99 that much lower). Beyond the largest finite bound,
    the P99 reads as that bound."""
    below = np.minimum(1.0, 0.99 * le / level)
    i = int(np.searchsorted(le, level))
    if 0 < i < len(le) - 1 and below[i] == 1.0:
        lo, hi = le[i - 1], le[i]
        w = (level - lo) / (hi - lo)
        below[i - 1] = max(0.0, (0.99 - w) / (1 - w))
        below[:i - 1] = below[i - 1] * le[:i - 1] / lo
    return below


# The range of the thresholds drawn for the monotonicity property: two decades of error rates; P99s from the first
# finite bucket to just under the largest (``histogram_quantile`` never exceeds it: a '>' threshold there is
# refused as never breached).
THRESHOLD_RANGES = {"error_rate": (0.001, 0.1), "latency": (0.025, 0.4 * (1 - 1e-9))}


@st.composite
def rising_thresholds(draw, metric: str) -> list[float]:
    """2 to 5 rising thresholds: the first log-uniform over the metric's range (on a grid of 1,001 values), each
    next 1 to 3 times the one before (up to the range's top)."""
    low, high = THRESHOLD_RANGES[metric]
    thresholds = [low * (high / low) ** (draw(st.integers(0, 1000)) / 1000)]   # integers: floats crowd the ends
    for factor in draw(st.lists(st.integers(0, 1000), min_size=1, max_size=4)):
        thresholds.append(min(thresholds[-1] * (1 + factor / 500), high))
    return thresholds


@pytest.mark.parametrize("measure", ["error_rate", "p99"])
@given(data=st.data())
def test_raising_an_upper_bound_threshold_never_rolls_back_earlier(measure, data):
    """A drawn plan with rising thresholds, on telemetry near them: its rollback times never fall."""
    plan = data.draw(rst.single_rule_plans(metrics=[measure]))
    metric = plan.rules["gate"].metric.value
    thresholds = data.draw(rising_thresholds(metric))
    plans = [with_overrides(plan, {"rules.gate.threshold": f"{t * 100!r}%" if metric == "error_rate"
                                   else f"{t * 1000!r}ms"}) for t in thresholds]
    telemetry = data.draw(near_the_thresholds(metric, thresholds))
    times = [rollback_time(p, telemetry) for p in plans]
    event(f"{len(set(times))} distinct rollback times")
    assert times == sorted(times), list(zip(thresholds, times))


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
        latency_sum=per_scrape.cumsum(0) * 0.01, revenue=per_scrape.cumsum(0),
        health_checks=np.arange(n)[:, None] * np.ones(2),
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


def worse_canaries(metric: str) -> st.SearchStrategy[Telemetry]:
    """Telemetry with a canary 1 to 3 times worse than its baseline (error rates near 0.5% to 2%, P99s near 50
    to 200 ms), so that a sequential test's p-value falls: on ``rst.telemetry()`` a P99's never did (its P99 lies
    in the +Inf bucket, read as the largest finite bound in both arms), an error rate's in 1 example in 4."""
    kind, levels = ("error_rate", [0.005, 0.01, 0.02]) if metric == "error_rate" else ("latency", [0.05, 0.1, 0.2])
    return st.floats(1.0, 3.0).flatmap(lambda worse: near_the_thresholds(kind, levels, canary=worse, min_ticks=20))


@given(st.sampled_from(["error_rate", "p99"]), st.sampled_from(["0%", "50%"]), st.data())
def test_a_sequential_p_value_reads_the_scrapes_up_to_it_and_only_falls(metric, margin, data):
    """Judged on the whole run or on the run cut after a scrape (later scrapes missing), the value at that scrape
    is the same float; where known, it never rises."""
    telemetry = data.draw(st.one_of(rst.telemetry(min_ticks=20, gaps=True, resets=True, arms_differ=True),
                                    worse_canaries(metric)))
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
    event(f"a {metric} p-value " + ("falls" if np.any(np.diff(known) < 0) else "stays"))
    assert np.all(np.diff(known) <= 0) and np.all((known >= 0) & (known <= 1))
