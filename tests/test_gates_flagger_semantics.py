"""Flagger's canary analysis, rules F1–F5 of the real-gates README, each test naming the Flagger source it follows.

Sources: ``pkg/controller/scheduler.go`` (advanceCanary, runCanary, runAB, runBlueGreen, nextStepWeight),
``pkg/apis/flagger/v1beta1/canary.go`` (GetAnalysisInterval, GetAnalysisThreshold),
``pkg/controller/scheduler_metrics.go`` (runBuiltinMetricChecks, runMetricChecks),
``pkg/metrics/providers/prometheus.go`` (RunQuery), ``pkg/metrics/observers/*.go`` (GetRequestDuration)
and ``pkg/metrics/observers/render.go`` (RenderQuery).
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pytest

from rampsim.gates.flagger_canary import (
    CanaryMachine, analysis_interval, analysis_threshold, go_milliseconds, run_check, strategy_of, Strategy,
)
from rampsim.gates.flagger_queries import BUILTIN_QUERIES, MetricModel, _RenderError, observer_for, render_query
from rampsim.promql import InstantResult, QueryError, Sample, SeriesStore, evaluate
from tests.gates_helpers import counter, flagger_gate

CANARY = """
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  analysis:
%s
"""


def canary(analysis: str, mesh: str = "istio", extra: str = "") -> object:
    """The gate of a Canary with this analysis (a step of 10% when it has no weights or iterations: import refuses a
    Canary that never shifts traffic)."""
    if not any(field in analysis for field in ("stepWeight", "iterations")):
        analysis += "\nstepWeight: 10"
    body = "\n".join("    " + line for line in analysis.strip().splitlines())
    return flagger_gate(CANARY % body + extra, mesh=mesh)


def constant(values: dict[str, float | None] | float | None) -> Callable[[str, float], InstantResult]:
    """Every query answers ``values`` (per builtin, keyed by a word of the query); None: no series."""
    def query(expr: str, at: float) -> InstantResult:
        value = values
        if isinstance(values, dict):
            value = next((v for k, v in values.items() if k in expr), None)
        if value is None:
            return InstantResult("vector", at)
        return InstantResult("vector", at, vector=(Sample({}, float(value)),))
    return query


SUCCESS = """
interval: 30s
threshold: 3
maxWeight: 50
stepWeight: 10
metrics:
- {name: request-success-rate, thresholdRange: {min: 99}, interval: 1m}
"""


# -- F1 ---------------------------------------------------------------------------------------

def test_f1_interval_default_60s_minimum_10s_and_threshold_default_1():
    # GetAnalysisInterval, GetAnalysisThreshold
    assert analysis_interval(canary("metrics: []")) == 60.0
    assert analysis_interval(canary("interval: 5s")) == 10.0
    assert analysis_threshold(canary("interval: 30s")) == 1


# -- F2 ---------------------------------------------------------------------------------------

def test_f2_first_tick_runs_only_pre_rollout_hooks_then_a_weight_step_per_passing_tick_and_promotion():
    # advanceCanary: canaryWeight == 0 && iterations == 0 → pre-rollout hooks only; runCanary
    queried: list[float] = []

    def query(expr: str, at: float) -> InstantResult:
        queried.append(at)
        return constant(99.5)(expr, at)

    machine = CanaryMachine(canary(SUCCESS))
    ticks = machine.advance(10_000, query)
    assert [(t.time, t.action, t.weight) for t in ticks] == [
        (30.0, "advance", 10), (60.0, "advance", 20), (90.0, "advance", 30), (120.0, "advance", 40),
        (150.0, "advance", 50), (180.0, "promote", 50)]
    assert queried[0] == 60.0  # no check in the first tick
    # promotion ≈ ceil(maxWeight/stepWeight) + 1 ticks
    assert ticks[-1].time == (math.ceil(50 / 10) + 1) * 30


def test_f2_threshold_is_checked_before_the_analysis_and_the_weight_does_not_move_on_failure():
    # advanceCanary: FailedChecks >= threshold → rollback, before runAnalysis
    machine = CanaryMachine(canary(SUCCESS))
    ticks = machine.advance(10_000, constant(90.0))
    assert [(t.time, t.action, t.failed_checks, t.weight) for t in ticks] == [
        (30.0, "advance", 0, 10), (60.0, "halt", 1, 10), (90.0, "halt", 2, 10), (120.0, "halt", 3, 10),
        (150.0, "rollback", 3, 0)]  # (threshold + 1) analysed ticks after the first


def test_f2_the_first_failing_check_adds_exactly_one_whatever_the_number_failing():
    # runAnalysis: the first failing item returns false; SetStatusFailedChecks(FailedChecks+1)
    gate = canary(SUCCESS + "- {name: request-duration, thresholdRange: {max: 500}, interval: 1m}\n")
    machine = CanaryMachine(gate)
    ticks = machine.advance(60.0, constant({"istio_requests_total": 50.0, "duration": 900.0}))
    assert ticks[-1].failed_checks == 1 and len(ticks[-1].checks) == 1  # stopped at the first


def test_f2_failed_checks_are_cumulative_never_reset_by_successes():
    # FailedChecks is reset only by SyncStatus on a new revision
    pattern = {60.0: 90.0, 90.0: 99.5, 120.0: 90.0, 150.0: 99.5, 180.0: 90.0, 210.0: 99.5}
    machine = CanaryMachine(canary(SUCCESS))
    ticks = machine.advance(10_000, lambda expr, at: constant(pattern.get(at, 99.5))(expr, at))
    assert [t.failed_checks for t in ticks][:7] == [0, 1, 1, 2, 2, 3, 3]
    assert ticks[-1].action == "rollback"  # 3 failures in total, never 3 in a row


def test_f2_step_weights_and_max_weight():
    # nextStepWeight with stepWeights; maxWeight = last entry
    machine = CanaryMachine(canary("interval: 15s\nthreshold: 2\nstepWeights: [5, 10, 25]\nmetrics: []"))
    ticks = machine.advance(10_000, constant(None))
    assert [(t.action, t.weight) for t in ticks] == [("advance", 5), ("advance", 10), ("advance", 25),
                                                      ("promote", 25)]


def test_f2_ab_promotes_after_its_iterations():
    # runAB: each successful tick adds an iteration (the first tick included); promote when they are done
    gate = canary("interval: 1m\nthreshold: 2\niterations: 3\nmatch: [{headers: {x-canary: {exact: 'on'}}}]\n"
                  "metrics: []")
    assert strategy_of(gate) == (Strategy.AB, 3)
    ticks = CanaryMachine(gate).advance(10_000, constant(None))
    assert [(t.time, t.action) for t in ticks] == [(60.0, "iterate"), (120.0, "iterate"), (180.0, "iterate"),
                                                   (240.0, "promote")]


def test_f2_blue_green_routes_all_traffic_for_one_more_checked_tick_and_kubernetes_forces_10_iterations():
    # runBlueGreen: iterations, then all traffic to the canary, then promote; advanceCanary: kubernetes → 10
    gate = canary("interval: 30s\nthreshold: 2\niterations: 2\nmetrics: []")
    ticks = CanaryMachine(gate).advance(10_000, constant(None))
    assert [t.action for t in ticks] == ["iterate", "iterate", "iterate", "promote"]
    assert ticks[2].traffic == 1.0
    forced = flagger_gate((CANARY % "    interval: 30s\n    metrics: []").replace("spec:\n", "spec:\n  provider: kubernetes\n"))
    assert strategy_of(forced) == (Strategy.BLUEGREEN, 10)


# -- F3 ---------------------------------------------------------------------------------------

def test_f3_threshold_range_bounds_pass_and_legacy_threshold():
    # runBuiltinMetricChecks: fails if v < min or v > max; legacy: success rate fails if threshold > v
    gate = canary(SUCCESS)
    metric = gate.analysis.metrics["request-success-rate"]
    assert run_check(gate, metric, constant(99.0), 60.0, "builtin").passed          # the bound passes
    assert not run_check(gate, metric, constant(98.99), 60.0, "builtin").passed
    legacy = canary("interval: 30s\nmetrics:\n- {name: request-success-rate, threshold: 99}")
    assert not run_check(legacy, legacy.analysis.metrics["request-success-rate"], constant(98.0), 0, "builtin").passed


def test_f3_request_duration_is_truncated_to_whole_milliseconds():
    # observers/*.go GetRequestDuration: time.Duration(int64(value)) * time.Millisecond
    gate = canary("interval: 30s\nmetrics:\n- {name: request-duration, thresholdRange: {max: 500}}")
    metric = gate.analysis.metrics["request-duration"]
    assert run_check(gate, metric, constant(500.9), 60.0, "builtin").passed      # 500.9 ms → 500 ms
    assert not run_check(gate, metric, constant(501.0), 60.0, "builtin").passed
    assert go_milliseconds(0.5009, seconds=True) == 500_000_000                  # the http observer: seconds
    assert go_milliseconds(math.inf, seconds=False) == 0                         # int64(+Inf) wraps on amd64


def test_f3_nginx_builtin_duration_is_the_mean_and_linkerd_counts_classification():
    # observers/nginx.go: _sum / _count * 1000; observers/linkerd.go: classification!="failure"
    assert "histogram_quantile" not in BUILTIN_QUERIES["nginx"]["request-duration"]
    assert "_sum" in BUILTIN_QUERIES["nginx"]["request-duration"]
    assert 'classification!="failure"' in BUILTIN_QUERIES["linkerd"]["request-success-rate"]
    assert observer_for("istio", "nginx") == "nginx" and observer_for("linkerd", "nginx") == "linkerd"
    assert observer_for("istio", "kubernetes") == "http" and observer_for("appmesh:v1beta2", None) == "appmesh"


def test_f3_builtin_success_rate_on_istio_series():
    store = SeriesStore()
    times = np.arange(0, 301, 15.0)
    base = {"__name__": "istio_requests_total", "reporter": "destination", "destination_workload_namespace": "test",
            "destination_workload": "podinfo"}
    counter(store, {**base, "response_code": "200"}, times, 99.0)
    counter(store, {**base, "response_code": "503"}, times, 1.0)
    gate = canary(SUCCESS)
    check = run_check(gate, gate.analysis.metrics["request-success-rate"],
                      lambda e, at: evaluate(e, store, at), 300.0, "builtin")
    assert check.value == pytest.approx(99.0) and check.passed


def test_f3_a_name_flagger_does_not_know_is_never_checked():
    # runBuiltinMetricChecks/runMetricChecks: neither a builtin name, nor query, nor templateRef → skipped
    gate = canary("interval: 30s\nmetrics:\n- {name: istio_requests_total, threshold: 99}")
    metric = gate.analysis.metrics["istio_requests_total"]
    assert run_check(gate, metric, constant(0.0), 0, "builtin") is None
    assert run_check(gate, metric, constant(0.0), 0, "template") is None


# -- F4 ---------------------------------------------------------------------------------------

def test_f4_no_values_and_nan_are_failed_checks():
    # RunQuery: no result or NaN → ErrNoValuesFound → "Halt advancement no values found"
    gate = canary(SUCCESS)
    metric = gate.analysis.metrics["request-success-rate"]
    for answer in (constant(None), constant(math.nan)):
        check = run_check(gate, metric, answer, 60.0, "builtin")
        assert not check.passed and "no values" in check.message


def test_f4_a_failed_query_is_a_failed_check():
    def broken(expr: str, at: float) -> InstantResult:
        raise QueryError("bad_data")
    gate = canary(SUCCESS)
    assert not run_check(gate, gate.analysis.metrics["request-success-rate"], broken, 60.0, "builtin").passed


def test_f4_with_several_series_the_last_one_wins():
    # RunQuery: the loop over result.Data.Result overwrites value
    def two(expr: str, at: float) -> InstantResult:
        return InstantResult("vector", at, vector=(Sample({"a": "1"}, 50.0), Sample({"a": "2"}, 99.9)))
    gate = canary(SUCCESS)
    check = run_check(gate, gate.analysis.metrics["request-success-rate"], two, 60.0, "builtin")
    assert check.passed and check.value == 99.9


# -- F5 ---------------------------------------------------------------------------------------

TEMPLATE = """
---
apiVersion: flagger.app/v1beta1
kind: MetricTemplate
metadata: {name: error-rate, namespace: test}
spec:
  provider: {type: prometheus, address: http://prometheus:9090}
  query: |
    100 - sum(rate(http_requests_total{namespace="{{ namespace }}",app="{{ target }}",code!~"5.."}[{{ interval }}]))
    / sum(rate(http_requests_total{namespace="{{ namespace }}",app="{{ target }}"}[{{ interval }}])) * 100
"""


def test_f5_templates_render_namespace_target_interval():
    # RenderQuery: text/template with name, namespace, target, service, ingress, interval, variables
    model = MetricModel("podinfo", "test", "podinfo", "podinfo", "podinfo", "1m")
    assert render_query('x{ns="{{ namespace }}",t="{{target}}"}[{{ interval }}]', model) == 'x{ns="test",t="podinfo"}[1m]'
    with pytest.raises(_RenderError):
        render_query("{{ .Values.x }}", model)
    with pytest.raises(_RenderError):
        render_query("{{ variables.missing }}", model)  # missingkey=error
    # route: routeRef's name, else the target (a review found it 'not defined': a failed check every tick)
    assert render_query('{{ route }}', model) == "podinfo"
    assert render_query('{{ route }}', MetricModel("podinfo", "test", "podinfo", "podinfo", "podinfo", "1m",
                                                   route="podinfo-route")) == "podinfo-route"


def test_f5_template_metric_without_interval_renders_an_empty_window_a_failed_check():
    # runMetricChecks: the metric interval default is applied to builtins only: '[]' does not parse
    gate = canary("interval: 30s\nmetrics:\n- {name: errors, templateRef: {name: error-rate}, thresholdRange: {max: 1}}",
                  extra=TEMPLATE)
    metric = gate.analysis.metrics["errors"]
    check = run_check(gate, metric, lambda e, at: evaluate(e, SeriesStore(), at), 60.0, "template")
    assert check is not None and not check.passed and "failed" in check.message
    with_interval = canary("interval: 30s\nmetrics:\n- {name: errors, templateRef: {name: error-rate}, "
                           "thresholdRange: {max: 1}, interval: 1m}", extra=TEMPLATE)
    store = SeriesStore()
    times = np.arange(0, 301, 15.0)
    counter(store, {"__name__": "http_requests_total", "namespace": "test", "app": "podinfo", "code": "200"}, times, 10.0)
    check = run_check(with_interval, with_interval.analysis.metrics["errors"], lambda e, at: evaluate(e, store, at),
                      300.0, "template")
    assert check is not None and check.passed and check.value == pytest.approx(0.0)
