"""The imported gates as engines: decisions at Argo's and Flagger's own times, from PromQL on a hand-built store.

The headline check: an Argo success-rate gate on a 5xx regression rolls back exactly when a hand-computed
Argo timeline says (interval, failureLimit, window), and a bare ``result >= 0.95`` gate aborts a healthy
ramp after 5 errors, 40 s after the first.
"""
from __future__ import annotations

import numpy as np
import pytest

from rampsim.engine.events import Decision, DecisionKind, first_terminal_decision
from rampsim.engine.protocol import Engine
from rampsim.gates.argo_engine import ArgoEngine
from rampsim.gates.engines import engine_factory_for, engine_for
from rampsim.gates.flagger_engine import FlaggerEngine
from rampsim.gates.queries import store_queries
from rampsim.promql import SeriesStore
from tests.gates_helpers import argo_gate, clock, counter, flagger_gate, http_store, plan_for, run_engine

SUCCESS_RATE = """
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  metrics:
  - name: success-rate
    interval: 30s
    failureLimit: 2
    successCondition: %s
    provider:
      prometheus:
        query: sum(rate(http_requests_total{code!~"5.."}[1m])) / sum(rate(http_requests_total[1m]))
"""
ROLLOUT = """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  strategy:
    canary:
      analysis: {templates: [{templateName: success-rate}]}
      steps: [{setWeight: 20}, {pause: {duration: 10m}}]
"""
TIMES = np.arange(-600.0, 1500.0, 15.0)  # scrapes every 15 s, with history before the ramp begins


def regression_store(at: float | None) -> SeriesStore:
    """100 requests/s; from ``at`` on, 20% of them 5xx (the 5xx series exists from its first increment)."""
    bad = TIMES > at if at is not None else np.zeros_like(TIMES, dtype=bool)
    return http_store(TIMES, np.where(bad, 80.0, 100.0), np.where(bad, 20.0, 0.0),
                      errors_from=(at + 15.0) if at is not None else 1e9)


def argo_engine(condition: str, store: SeriesStore) -> tuple[ArgoEngine, object]:
    gate = argo_gate(SUCCESS_RATE % condition, rollout=ROLLOUT)
    plan = plan_for("argo", gate)
    engine = engine_for(plan, store_queries(store))
    assert isinstance(engine, ArgoEngine)
    return engine, plan


def test_argo_rollback_time_matches_the_hand_computed_timeline():
    """Regression at 300 s. The 5xx series appears at the 315 s scrape; rate() needs two samples, so the
    [1m] window first shows it at 330 s: 20% errors, the ratio under 0.95. Measurements run every 30 s from 0 s
    (0, 30, ..., 300 pass), so the failures are 330, 360 and 390 s; failureLimit 2 means the third (failed 3 > 2)
    fails the metric: abort at 390 s = 330 + failureLimit × interval."""
    engine, plan = argo_engine("result[0] >= 0.95", regression_store(300.0))
    events = run_engine(engine, clock(plan))
    decision = first_terminal_decision(events)
    assert decision is not None and decision.kind is DecisionKind.ROLLBACK
    first_failure, interval, failure_limit = 330.0, 30.0, 2
    assert decision.time == first_failure + failure_limit * interval
    assert decision.time == pytest.approx(300.0 + 2 * 15.0 + failure_limit * interval, abs=interval)
    phases = [(m.at, m.phase.value) for m in engine.measurements()]
    assert phases[-3:] == [(330.0, "Failed"), (360.0, "Failed"), (390.0, "Failed")]
    assert all(phase == "Successful" for _, phase in phases[:-3])


def test_argo_healthy_ramp_promotes_and_weights_follow_the_steps():
    engine, plan = argo_engine("result[0] >= 0.95", regression_store(None))
    events = run_engine(engine, clock(plan))
    decisions = [(e.time, e.kind, e.weight) for e in events if isinstance(e, Decision)]
    assert decisions[-1] == (600.0, DecisionKind.ADVANCE, 1.0)
    assert plan.phases[0].weight == 0.2 and engine.weight == 1.0


def test_bare_result_gate_aborts_every_healthy_ramp_after_5_errors_40s_after_the_first():
    """H1: 'result >= 0.95' against a vector is a compile error, so every measurement is Error; the retry comes
    10 s after each, and the 5th consecutive error (consecutiveErrorLimit 4) aborts at 40 s."""
    engine, plan = argo_engine("result >= 0.95", regression_store(None))
    decision = first_terminal_decision(run_engine(engine, clock(plan)))
    assert decision is not None and decision.kind is DecisionKind.ROLLBACK and decision.time == 40.0
    assert [m.at for m in engine.measurements()] == [0.0, 10.0, 20.0, 30.0, 40.0]
    assert "consecutiveErrors (5) > consecutiveErrorLimit (4)" in decision.reason


def test_engine_is_an_engine_and_observes_in_order():
    engine, plan = argo_engine("result[0] >= 0.95", regression_store(None))
    assert isinstance(engine, Engine)
    telemetry = clock(plan)
    engine.observe(telemetry, 0)
    with pytest.raises(ValueError, match="in order"):
        engine.observe(telemetry, 2)


def test_engine_is_pure_the_same_telemetry_gives_the_same_events():
    store = regression_store(300.0)
    first = run_engine(argo_engine("result[0] >= 0.95", store)[0], clock(argo_engine("x", store)[1]))
    second = run_engine(argo_engine("result[0] >= 0.95", store)[0], clock(argo_engine("x", store)[1]))
    assert first == second


def test_engine_restates_its_weight_when_the_rollout_runs_behind_the_phases():
    """A step analysis that errs twice at the start takes 20 s longer than the phases assume: the engine says
    so with its own weight instead of letting the schedule move traffic early."""
    template = (SUCCESS_RATE % "result[0] >= 0.95").replace("failureLimit: 2", "failureLimit: 2\n    count: 2")
    rollout = """
    apiVersion: argoproj.io/v1alpha1
    kind: Rollout
    metadata: {name: web}
    spec:
      strategy:
        canary:
          steps: [{setWeight: 20}, {analysis: {templates: [{templateName: success-rate}]}}, {setWeight: 60},
                  {pause: {duration: 2m}}]
    """
    store = http_store(TIMES[TIMES >= 0], 100.0, 0.0, errors_from=1e9)  # no history: the first windows are empty
    gate = argo_gate(template, rollout=rollout)
    plan = plan_for("argo", gate)
    engine = engine_for(plan, store_queries(store))
    events = [e for e in run_engine(engine, clock(plan)) if isinstance(e, Decision)]
    assert [p.weight for p in plan.phases][:2] == [0.2, 0.6] and plan.phases[0].duration == 30.0
    assert any(e.source == "argo:weight" and e.weight == 0.2 for e in events)       # restated at 30 s
    step = next(e for e in events if e.weight == 0.6)
    assert step.time == 50.0  # errors at 0 and 10 s (one sample, no rate yet), successes at 20 and 50 s
    assert events[-1].kind is DecisionKind.ADVANCE


def test_flagger_engine_rolls_back_after_threshold_failed_ticks():
    canary = """
    apiVersion: flagger.app/v1beta1
    kind: Canary
    metadata: {name: podinfo, namespace: test}
    spec:
      provider: istio
      targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
      analysis:
        interval: 30s
        threshold: 2
        maxWeight: 50
        stepWeight: 25
        metrics:
        - {name: request-success-rate, thresholdRange: {min: 99}, interval: 1m}
    """
    gate = flagger_gate(canary)
    plan = plan_for("flagger", gate)
    store = SeriesStore()
    base = {"__name__": "istio_requests_total", "reporter": "destination", "destination_workload_namespace": "test",
            "destination_workload": "podinfo"}
    counter(store, {**base, "response_code": "200"}, TIMES, np.where(TIMES > 40, 90.0, 100.0))
    counter(store, {**base, "response_code": "500"}, TIMES, np.where(TIMES > 40, 10.0, 0.0), created=55.0)
    engine = engine_for(plan, store_queries(store))
    assert isinstance(engine, FlaggerEngine)
    events = run_engine(engine, clock(plan))
    decisions = [(e.time, e.kind, e.weight) for e in events if isinstance(e, Decision) and e.source != "flagger:weight"]
    restated = [(e.time, e.weight) for e in events if isinstance(e, Decision) and e.source == "flagger:weight"]
    assert restated == [(90.0, 0.5)]  # the phases assumed promotion at 90 s; Flagger holds 50% instead
    # tick 1 (30 s): pre-rollout only, weight 25%. Tick 2 (60 s): the 5xx series has one sample (60 s), no rate yet:
    # passes, weight 50%. Ticks 3 and 4 fail (failedChecks 1, 2). Tick 5 (150 s): threshold reached, before analysis.
    assert decisions == [(30.0, DecisionKind.CONTINUE, 0.25), (60.0, DecisionKind.CONTINUE, 0.5),
                         (150.0, DecisionKind.ROLLBACK, 0.0)]
    assert [t.action for t in engine.ticks] == ["advance", "advance", "halt", "halt", "rollback"]


def test_flagger_engine_promotes_a_healthy_canary():
    canary = """
    apiVersion: flagger.app/v1beta1
    kind: Canary
    metadata: {name: podinfo, namespace: test}
    spec:
      provider: istio
      targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
      analysis:
        interval: 30s
        threshold: 2
        maxWeight: 50
        stepWeight: 25
        metrics:
        - {name: request-success-rate, thresholdRange: {min: 99}, interval: 1m}
    """
    gate = flagger_gate(canary)
    plan = plan_for("flagger", gate)
    store = SeriesStore()
    counter(store, {"__name__": "istio_requests_total", "reporter": "destination",
                    "destination_workload_namespace": "test", "destination_workload": "podinfo",
                    "response_code": "200"}, TIMES, 100.0)
    events = run_engine(engine_for(plan, store_queries(store)), clock(plan))
    decisions = [(e.time, e.kind, e.weight) for e in events if isinstance(e, Decision)]
    assert decisions[-1] == (90.0, DecisionKind.ADVANCE, 1.0)
    assert [p.weight for p in plan.phases] == [0.0, 0.25, 0.5, 1.0]


def test_engine_factory_gives_the_reference_engine_to_a_plain_plan(reference_plan):
    from rampsim.engine.engine import DecisionEngine

    factory = engine_factory_for(reference_plan, lambda plan: store_queries(SeriesStore()))
    assert isinstance(factory(reference_plan), DecisionEngine)


def test_on_exposed_simulated_series_h1_aborts_a_healthy_ramp_and_a_sound_flagger_gate_promotes():
    """End to end on simulated telemetry as exporters name it (``rampsim.promql.exposition``): the bare
    ``result >= 0.95`` gate of the corpus aborts a healthy ramp 40 s after its first measurement; Flagger's
    istio example promotes at (ceil(50/5) + 1) × 15 s."""
    exposition = pytest.importorskip("rampsim.promql.exposition")
    from rampsim.gates.argo_import import import_argo
    from rampsim.gates.flagger_import import import_flagger
    from tests.builders import steady
    from tests.gates_helpers import corpus

    argo = import_argo([corpus("argo") / "kunal-1207__zero-downtime-deploy__analysis__success-rate.yaml"]).gate
    plan = plan_for("argo", argo)
    telemetry = steady(plan.layout, minutes=plan.duration / 60 + 1, requests_per_scrape=1500.0)
    store = exposition.exposition_store(telemetry, "http", deployment=exposition.Deployment())
    decision = first_terminal_decision(run_engine(engine_for(plan, store_queries(store)), telemetry))
    assert decision is not None and decision.kind is DecisionKind.ROLLBACK and decision.time == 40.0

    flagger = import_flagger(corpus("flagger") / "fluxcd__flagger__artifacts__examples__istio-canary.yaml").gate
    plan = plan_for("flagger", flagger)
    telemetry = steady(plan.layout, minutes=plan.duration / 60 + 1, requests_per_scrape=1500.0)
    deployment = exposition.Deployment(service=flagger.target, namespace=flagger.namespace,
                                       workloads={"baseline": f"{flagger.target}-primary", "canary": flagger.target})
    store = exposition.exposition_store(telemetry, "istio", deployment=deployment)
    decision = first_terminal_decision(run_engine(engine_for(plan, store_queries(store)), telemetry))
    assert decision is not None and decision.kind is DecisionKind.ADVANCE and decision.time == (10 + 1) * 15.0
