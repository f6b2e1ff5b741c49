"""Imported gates on simulated ramps: rehearsals (closed loop), sweeps (open loop), and an Argo timeline.

The simulator's default engine is the plan's own (:func:`rampsim.sim.simulation.plan_engine`), so an
imported plan rehearses with its controller's semantics over the simulated series as its exporter
profile names them; a sweep judges a grid of imported gates by running their engines on open-loop
runs (:class:`rampsim.experiment.engine_gates.EngineGates`), which must give the decision a
closed-loop rehearsal of the same replicate gives.
"""
from __future__ import annotations

import pytest

from rampsim.engine.events import DecisionKind, first_terminal_decision
from rampsim.experiment.chunks import replicate_seed
from rampsim.experiment.engine_gates import EngineGates
from rampsim.faults import parse_fault
from rampsim.plan.loader import with_overrides
from rampsim.sim import simulate
from tests.gates_helpers import argo_gate, plan_for

SUCCESS_RATE = """
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  args:
  - name: canary-hash
    valueFrom: {podTemplateHashValue: Latest}
  metrics:
  - name: error-ratio
    interval: 30s
    failureLimit: 1
    successCondition: result[0] <= 0.05
    provider:
      prometheus:
        query: |
          sum(rate(http_requests_total{code=~"5..",rollouts_pod_template_hash="{{args.canary-hash}}"}[1m]) or vector(0))
          / sum(rate(http_requests_total{rollouts_pod_template_hash="{{args.canary-hash}}"}[1m]))
"""
ROLLOUT = """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: app}
spec:
  strategy:
    canary:
      analysis:
        templates: [{templateName: success-rate}]
        args: [{name: canary-hash, valueFrom: {podTemplateHashValue: Latest}}]
      steps:
      - setWeight: 20
      - pause: {duration: 20m}
      - setWeight: 50
      - pause: {duration: 10m}
"""
ONSET = 600.0
REGRESSION = parse_fault(f"error-rate:canary:+20%@{ONSET:g}s")


@pytest.fixture(scope="module")
def plan():
    return plan_for("argo", argo_gate(SUCCESS_RATE, rollout=ROLLOUT))


def test_a_healthy_rehearsal_promotes(plan):
    decision = first_terminal_decision(simulate(plan, seed=1).events)
    assert decision is not None and decision.kind is DecisionKind.ADVANCE


def test_a_5xx_regression_rolls_back_on_argos_timeline(plan):
    # Argo (analysis.go, runMeasurements / assessMetric): measurements every 30 s from 0 s; the 15-second scrape
    # after the onset (615 s) is the first with errors, so the [1m] ratio fails first at 630 s and again at
    # 660 s: failed (2) > failureLimit (1) aborts the rollout at 660 s.
    decision = first_terminal_decision(simulate(plan, [REGRESSION], seed=2).events)
    assert decision is not None and decision.kind is DecisionKind.ROLLBACK
    assert abs(decision.time - 660.0) <= 30.0, decision


def test_a_sweep_of_imported_gates_decides_as_their_rehearsals(plan):
    grid = [with_overrides(plan, {"argo.metrics.error-ratio.failureLimit": limit}) for limit in (0, 1, 3)]
    seeds = [replicate_seed(5, 0, r) for r in range(3)]
    runs = [simulate(plan, [REGRESSION], seed=s, engine_factory=None) for s in seeds]
    verdicts = EngineGates(grid).judge([run.telemetry for run in runs])
    for r, seed in enumerate(seeds):
        named = verdicts.named(r)
        for g, gate in enumerate(grid):
            decision = first_terminal_decision(simulate(gate, [REGRESSION], seed=seed).events)
            assert decision is not None
            assert named[g][:2] == (decision.kind.value, decision.time), (r, g)
    times = [verdicts.named(0)[g][1] for g in range(3)]
    assert times[0] < times[1] < times[2]  # a larger failureLimit waits for more failed measurements
