"""A metric is one definition: every metric has one, and adding a metric is writing one class.

``SuccessRate`` below is a metric rampsim does not ship, written in this file alone: once
registered it is validated in plans, computed by the engine and the compiled judge
(per scrape and vectorized, with identical floats), explained and given its PromQL.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rampsim.engine import DecisionEngine, first_terminal_decision
from rampsim.engine.metrics import Series, aggregate_groups, evaluate, is_scalar_measure, scalar_finisher
from rampsim.engine.promql import promql
from rampsim.engine.judge import judge
from rampsim.plan import PlanError, plan_from_data
from rampsim.plan.explain import explain
from rampsim.plan.functions import ratio, ratio_scalar
from rampsim.plan.metric_definitions import (
    Metric, MetricDefinition, definition_of, metric_names, register, unregister,
)
from rampsim.plan.schema import Measure, Measurement
from rampsim.testing import strategies as rst
from rampsim.units import Kind
from tests.builders import run, steady


class SuccessRate(MetricDefinition):
    """The share of requests that succeed: 1 − error rate."""

    name = "success_rate"
    unit = Kind.RATIO
    bounds = (0.0, 1.0)

    def counter_groups(self, layout, m):
        return [self.counters(layout, m, "errors"), self.counters(layout, m, "requests")]

    def finish(self, m, upper_bounds, increase, seconds):
        return 1.0 - ratio(increase[:, 0], increase[:, 1])

    def scalar_finisher(self, m, upper_bounds, columns):
        errors, requests = columns
        return lambda increases, seconds: 1.0 - ratio_scalar(increases[errors], increases[requests])

    def promql(self, m, q):
        return f"1 - {q.increase('errors')} / {q.increase('requests')}"


@contextlib.contextmanager
def registered(definition: type[MetricDefinition]) -> Iterator[None]:
    register(definition)
    try:
        yield
    finally:
        unregister(definition.name)


def plan_data(metric: str = "success_rate", threshold: str = "99%", criterion: str = "99%", **rule: object) -> dict:
    """A 20-minute plan on the small layout: a rollback rule on ``metric`` (``value < threshold``) and
    criteria on it (``value >= criterion``)."""
    layout = rst.SMALL_LAYOUT
    return {
        "name": "toy",
        "telemetry": {"segments": list(layout.segments), "scrape_interval": "15s",
                      "latency_buckets": [f"{b * 1000:g}ms" for b in layout.latency_buckets[:-1]]},
        "phases": [{"weight": "10%", "duration": "20m"}],
        "rules": {"gate": {"metric": metric, "op": "<", "threshold": threshold, "window": "1m", "sustain": "30s",
                           "action": "rollback", **rule}},
        "checkpoints": {"early": {"at": "5m", "criteria": {
            "ok": {"metric": metric, "op": ">=", "threshold": criterion, "window": "5m"}}}},
        "final_gate": {"at": "20m", "criteria": {
            "ok": {"metric": metric, "op": ">=", "threshold": criterion, "window": "cumulative"}}},
        "slo": {"objectives": {"errors": {"metric": "error_rate", "op": ">", "threshold": "5%", "window": "5m"}}},
    }


def per_scrape_and_vectorized(measurement: Measurement, telemetry) -> tuple[np.ndarray, np.ndarray]:
    """``measurement`` over its rolling window at every scrape: the engine's per-scrape finish, and :func:`evaluate`."""
    layout = telemetry.layout
    series = Series.from_telemetry(telemetry)
    lag = int(round(measurement.window.seconds / layout.scrape_interval))
    end = np.arange(lag, len(telemetry))
    groups = aggregate_groups(layout, measurement)
    finisher = scalar_finisher(measurement, layout.latency_buckets, list(range(len(groups))))
    aggregate = series.aggregate(groups)
    scalar = [finisher((aggregate[e] - aggregate[e - lag]).tolist(), float(telemetry.time[e] - telemetry.time[e - lag]))
              for e in end]
    return np.array(scalar), evaluate(series, measurement, end - lag, end)


# -- every metric has one definition ---------------------------------------------------------

def test_every_metric_has_a_definition_under_its_name():
    for metric in Metric:
        definition = definition_of(metric)
        assert definition.name == metric.value and definition_of(metric.value) is definition
        assert isinstance(definition.unit, Kind)
    assert metric_names()[:len(Metric)] == [metric.value for metric in Metric]


def test_every_metric_computed_from_telemetry_reads_counters_or_a_gauge_and_has_promql():
    layout = rst.SMALL_LAYOUT
    parameters = {"quantile": 0.9, "definition": "relative", "alert_severity": "warning"}
    for metric in Metric:
        definition = definition_of(metric)
        measurement = Measurement.model_validate(
            {"metric": metric.value, **{p: parameters[p] for p in definition.parameters if p in parameters}})
        assert promql(measurement)
        if definition.from_telemetry:
            assert (definition.gauge is None) == bool(aggregate_groups(layout, measurement)), metric


_PER_SCRAPE = [
    {"metric": "error_rate"}, {"metric": "error_rate", "segment": "A", "arm": "baseline"},
    {"metric": "p50"}, {"metric": "p99", "segment": "A"}, {"metric": "latency", "quantile": 0.1},
    {"metric": "availability"}, {"metric": "cache_hit_rate"},
    {"metric": "segment_spread", "definition": "absolute"}, {"metric": "segment_spread", "definition": "relative"},
    {"metric": "segment_spread", "definition": "chi2"},
    {"metric": "request_rate"}, {"metric": "revenue_rate", "segment": "A"},
    {"metric": "revenue_delta"}, {"metric": "revenue_delta", "segment": "A"},
]


def test_a_parameter_a_metric_takes_changes_what_it_computes_and_one_it_ignores_is_refused():
    """``agg`` over a rising gauge: ``last``, ``avg`` and ``max`` differ in value and in PromQL for every metric
    that takes it; a metric that would ignore it (memory_growth, a slope over its window) refuses it rather than
    printing "max memory growth" for a plain slope."""
    layout = rst.SMALL_LAYOUT
    telemetry = steady(layout, minutes=10)
    telemetry.gauges[:] = np.arange(len(telemetry))[:, None] * 0.01 + np.linspace(0.1, 0.2, layout.n_gauges)
    series = Series.from_telemetry(telemetry)
    end = np.arange(8, len(telemetry))
    takers = [m for m in Metric if "agg" in definition_of(m).parameters]
    assert {m.value for m in takers} == {"cpu", "memory", "network"}
    for metric in takers:
        by_agg = {agg: Measurement.model_validate({"metric": metric.value, "agg": agg, "window": "2m"})
                  for agg in ("last", "avg", "max")}
        values = {agg: evaluate(series, m, end - 8, end) for agg, m in by_agg.items()}
        assert not np.allclose(values["last"], values["avg"]) and np.allclose(values["last"], values["max"])
        assert len({promql(m) for m in (by_agg["avg"], by_agg["max"])}) == 2, metric
    with pytest.raises(PlanError, match=r"'agg' applies to gauges \(cpu, memory, network\), not to memory_growth"):
        plan_from_data(plan_data(metric="memory_growth", threshold="10MB/h", criterion="10MB/h", agg="max"))


def test_the_per_scrape_cases_cover_every_counter_metric():
    assert {definition_of(Measurement.model_validate(data).metric).name for data in _PER_SCRAPE} == {
        metric.value for metric in Metric if definition_of(metric).from_telemetry and definition_of(metric).gauge is None}


@given(st.sampled_from(rst.SMALL_LAYOUTS), st.sampled_from(["15s", "1m", "2m"]), st.data())
def test_every_counter_metric_gives_identical_floats_per_scrape_and_vectorized(layout, window, data):
    telemetry = data.draw(rst.telemetry(layout, gaps=True, resets=True))
    for fields in _PER_SCRAPE:  # every small layout has a segment A
        measurement = Measurement.model_validate({**fields, "window": window})
        assert is_scalar_measure(measurement)
        per_scrape, vectorized = per_scrape_and_vectorized(measurement, telemetry)
        np.testing.assert_array_equal(per_scrape, vectorized, err_msg=str(fields))


# -- a measure is a measurement and a comparison ---------------------------------------------

def test_a_measure_is_its_measurement_and_a_comparison():
    strict = Measure.model_validate({"metric": "p99", "op": ">", "threshold": "200ms", "window": "5m"})
    loose = Measure.model_validate({"metric": "latency", "quantile": 0.99, "op": "<=", "threshold": "1s",
                                    "window": "5m"})
    assert strict != loose
    assert strict.measurement == loose.measurement and hash(strict.measurement) == hash(loose.measurement)
    assert type(strict.measurement) is Measurement and strict.measurement.measurement is strict.measurement
    assert "op" not in Measurement.model_fields and "threshold" not in Measurement.model_fields
    assert (strict.metric, strict.quantile, strict.window.seconds) == (Metric.LATENCY, 0.99, 300.0)
    assert strict.describe() == f"{strict.measurement.describe()} > 200ms" == "P99 latency over the last 5m > 200ms"
    assert len({strict.measurement, loose.measurement, Measurement.model_validate({"metric": "p50"})}) == 2


# -- adding a metric is writing one class ------------------------------------------------------

def test_a_registered_metric_is_validated_like_a_shipped_one():
    with registered(SuccessRate):
        plan = plan_from_data(plan_data())
        rule = plan.rules["gate"]
        assert rule.metric is Metric("success_rate") and rule.threshold == 0.99 and rule.kind is Kind.RATIO
        assert rule.describe() == "when success rate over the last 1m < 99% for 30s or longer: warning → rollback"
        assert plan_from_data(plan_data(segment="B", trend=True, threshold="1.5")).rules["gate"].trend
        for rule_fields, message in [
            ({"threshold": "150%"}, r"rules\.gate\.threshold: '150%' is out of range for success_rate: expected "
                                    r"between 0% and 100%"),
            ({"threshold": "200ms"}, r"rules\.gate\.threshold: unknown unit 'ms' in '200ms' for ratio"),
            ({"quantile": 0.9}, r"rules\.gate: 'quantile' applies to latency, not to success_rate"),
            ({"agg": "avg"}, r"rules\.gate: 'agg' applies to gauges \(cpu, memory, network\), not to success_rate"),
        ]:
            threshold = rule_fields.pop("threshold", "99%")
            with pytest.raises(PlanError, match=message):
                plan_from_data(plan_data(threshold=threshold, **rule_fields))
        with pytest.raises(PlanError, match=r"unknown metric 'sucess_rate'; known metrics: error_rate, .*, alerts, "
                                            r"success_rate, p50, p90, p95, p99, p999"):
            plan_from_data(plan_data(metric="sucess_rate"))
    with pytest.raises(PlanError, match=r"unknown metric 'success_rate'"):
        plan_from_data(plan_data())
    with pytest.raises(ValueError):
        Metric("success_rate")


@given(st.sampled_from(rst.SMALL_LAYOUTS), st.sampled_from(["15s", "1m"]), st.data())
def test_a_registered_metric_is_computed_per_scrape_and_vectorized_with_identical_floats(layout, window, data):
    telemetry = data.draw(rst.telemetry(layout, gaps=True, resets=True))
    with registered(SuccessRate):
        measurement = Measurement.model_validate({"metric": "success_rate", "window": window})
        error_rate = Measurement.model_validate({"metric": "error_rate", "window": window})
        assert is_scalar_measure(measurement)
        per_scrape, vectorized = per_scrape_and_vectorized(measurement, telemetry)
        np.testing.assert_array_equal(per_scrape, vectorized)
        np.testing.assert_array_equal(vectorized, 1.0 - per_scrape_and_vectorized(error_rate, telemetry)[1])


@given(rst.telemetry(min_ticks=81, max_ticks=81, gaps=True, resets=True), st.sampled_from(["99%", "97%", "95%"]))
def test_a_registered_metric_is_judged_alike_by_the_engine_and_the_compiled_judge(telemetry, threshold):
    with registered(SuccessRate):
        plans = [plan_from_data(plan_data(threshold=threshold, criterion=threshold)),
                 plan_from_data(plan_data(threshold=threshold, peak="30s", window="2m")),
                 plan_from_data(plan_data(threshold="1.2", trend=True, segment="A"))]
        verdicts = judge(plans, telemetry).named()
        for g, plan in enumerate(plans):
            decision = first_terminal_decision(run(DecisionEngine(plan), telemetry))
            expected = ("none", None, "") if decision is None else (decision.kind.value, decision.time,
                                                                   decision.source)
            assert verdicts[g] == expected


def test_a_registered_metric_is_explained_with_its_promql():
    with registered(SuccessRate):
        plan = plan_from_data(plan_data())
        text = explain(plan, query=promql)
        assert "  - gate: when success rate over the last 1m < 99% for 30s or longer: warning → rollback" in text
        assert "    - ok: success rate since the ramp began >= 99%" in text
        assert ('    PromQL: 1 - sum(increase(rampsim_request_errors_total{arm="canary"}[1m])) / '
                'sum(increase(rampsim_requests_total{arm="canary"}[1m]))') in text
        trend = plan_from_data(plan_data(threshold="1.2", trend=True, segment="A")).rules["gate"]
        assert promql(trend) == (
            '(1 - sum(increase(rampsim_request_errors_total{arm="canary",segment="A"}[1m])) / '
            'sum(increase(rampsim_requests_total{arm="canary",segment="A"}[1m]))) / '
            '(1 - sum(increase(rampsim_request_errors_total{arm="canary",segment="A"}[1m] offset 1m)) / '
            'sum(increase(rampsim_requests_total{arm="canary",segment="A"}[1m] offset 1m)))')


def test_names_are_registered_once_and_shipped_metrics_stay():
    class Clash(SuccessRate):
        name = "error_rate"

    class AliasClash(SuccessRate):
        aliases = {"p99": {}}

    for definition in (Clash, AliasClash):
        with pytest.raises(ValueError, match="already registered"):
            register(definition)
    with pytest.raises(ValueError, match="not a metric registered at run time"):
        unregister("error_rate")
    assert "success_rate" not in metric_names()
