"""Argo Rollouts' analysis semantics, rules A1–A6 of the real-gates README, each test naming the Argo source it follows.

Sources: ``analysis/analysis.go`` (generateMetricTasks, calculateNextReconcileTime, runMeasurements,
assessMetricStatus, asssessRunStatus), ``utils/evaluate/evaluate.go`` (EvaluateResult, EvalCondition),
``metricproviders/prometheus/prometheus.go`` (processResponse), ``utils/analysis/helpers.go``
(IsTerminating), ``rollout/analysis.go`` (reconcileStepBasedAnalysisRun, reconcileBackgroundAnalysisRun),
``utils/template/template.go`` (ResolveArgs) and ``utils/analysis/factory.go`` (MergeArgs, ValidateMetric).
"""
from __future__ import annotations

import math
from typing import Callable, Optional

import pytest

from rampsim.gates.argo_analysis import AnalysisRun, MetricState, AnalysisPhase, measurement_phase
from rampsim.gates.argo_resolve import MetricSpec, _RunError, run_args, run_metrics, substitute
from rampsim.gates.argo_rollout import RolloutOutcome, RolloutMachine
from rampsim.promql import InstantResult, QueryError, Sample
from tests.gates_helpers import argo_gate


def spec(**fields) -> MetricSpec:
    base = dict(key="m", name="m", query="q", interval=30.0, initial_delay=0.0, count=None, failure_limit=0,
                inconclusive_limit=0, consecutive_error_limit=4, success="result[0] >= 0.95", failure=None)
    base.update(fields)
    return MetricSpec(**base)


def answers(value: Callable[[float], Optional[list[float] | float]]) -> Callable[[str, float], InstantResult]:
    """A query function: ``value(at)`` as a vector (a list), a scalar (a float), or an error (None)."""
    def query(expr: str, at: float) -> InstantResult:
        got = value(at)
        if got is None:
            raise QueryError("bad_data: the query failed")
        if isinstance(got, list):
            return InstantResult("vector", at, vector=tuple(Sample({}, v) for v in got))
        return InstantResult("scalar", at, scalar=got)
    return query


def run_until(run: AnalysisRun, query, until: float) -> list[tuple[float, str]]:
    times = []
    while not run.completed:
        due = run.next_due()
        if due is None or due > until:
            break
        for m in run.reconcile(due, query):
            times.append((m.at, m.phase.value))
    return times


# -- A1: when a measurement is taken --------------------------------------------------------

def test_a1_first_measurement_at_start_then_interval_after_the_previous_one_finished():
    # generateMetricTasks: no measurement yet → measure now; then now > lastMeasurement.FinishedAt + interval
    run = AnalysisRun("r", [spec(count=3)], started_at=100.0)
    taken = run_until(run, answers(lambda at: [0.99]), 10_000)
    assert taken == [(100.0, "Successful"), (130.0, "Successful"), (160.0, "Successful")]
    assert run.phase is AnalysisPhase.SUCCESSFUL


def test_a1_initial_delay_waits_from_the_run_start():
    # generateMetricTasks: run.Status.StartedAt.Add(initialDelay).After(now) → wait
    run = AnalysisRun("r", [spec(count=2, initial_delay=60.0)], started_at=0.0)
    assert run_until(run, answers(lambda at: [0.99]), 10_000) == [(60.0, "Successful"), (90.0, "Successful")]


def test_a1_an_error_is_retried_after_10s_whatever_the_interval():
    # DefaultErrorRetryInterval = 10s (analysis/analysis.go)
    run = AnalysisRun("r", [spec(interval=300.0, count=2)], started_at=0.0)
    query = answers(lambda at: None if at < 25 else [0.99])
    assert run_until(run, query, 10_000) == [(0.0, "Error"), (10.0, "Error"), (20.0, "Error"),
                                             (30.0, "Successful"), (330.0, "Successful")]


def test_a1_errors_do_not_count_toward_count_and_a_success_resets_the_consecutive_errors():
    # runMeasurements: Error increments Error and ConsecutiveError only; other phases increment Count and reset it
    state = MetricState(spec(count=3))
    run = AnalysisRun("r", [spec(count=3, interval=20.0)], started_at=0.0)
    pattern = {0.0: None, 10.0: [0.99], 30.0: None, 40.0: None, 50.0: [0.99], 70.0: [0.99]}
    taken = run_until(run, answers(lambda at: pattern.get(at, [0.99])), 10_000)
    assert [p for _, p in taken] == ["Error", "Successful", "Error", "Error", "Successful", "Successful"]
    metric = run.metrics[0]
    assert (metric.count, metric.error, metric.consecutive_error) == (3, 3, 0)
    assert run.phase is AnalysisPhase.SUCCESSFUL and state.count == 0


def test_a1_effective_count_one_without_interval_forever_with_interval():
    # Metric.EffectiveCount: count unset and no interval → 1; count unset with an interval → until terminated
    once = AnalysisRun("r", [spec(interval=None, count=1)], started_at=0.0)
    assert run_until(once, answers(lambda at: [0.99]), 10_000) == [(0.0, "Successful")]
    forever = AnalysisRun("r", [spec(count=None)], started_at=0.0)
    assert len(run_until(forever, answers(lambda at: [0.99]), 3000)) == 101
    assert not forever.completed
    forever.terminate(3000.0)
    assert forever.phase is AnalysisPhase.SUCCESSFUL


# -- A2: from query result to measurement phase ------------------------------------------------

@pytest.mark.parametrize("success, failure, value, phase", [
    (None, None, [0.1], AnalysisPhase.SUCCESSFUL),                             # neither: Successful
    ("result[0] >= 0.95", None, [0.99], AnalysisPhase.SUCCESSFUL),              # success only, true
    ("result[0] >= 0.95", None, [0.90], AnalysisPhase.FAILED),                  # success only, false: Failed
    (None, "result[0] < 0.90", [0.85], AnalysisPhase.FAILED),                   # failure only, true
    (None, "result[0] < 0.90", [0.93], AnalysisPhase.SUCCESSFUL),               # failure only, false: Successful
    ("result[0] >= 0.95", "result[0] < 0.90", [0.93], AnalysisPhase.INCONCLUSIVE),  # both false
    ("result[0] >= 0.95", "result[0] >= 0.90", [0.97], AnalysisPhase.FAILED),   # both true: failure wins
    ("result[0] >= 0.95", None, [], AnalysisPhase.ERROR),                       # evaluation error: Error
])
def test_a2_decision_table_of_evaluate_result(success, failure, value, phase):
    # utils/evaluate/evaluate.go, EvaluateResult
    assert measurement_phase(value, success, failure)[0] is phase


def test_a2_nan_success_only_failed_failure_only_successful_both_inconclusive():
    # prometheus_test.go TestProcessNaNResponse; EvaluateResult
    nan = [math.nan]
    assert measurement_phase(nan, "result[0] >= 0.95", None)[0] is AnalysisPhase.FAILED
    assert measurement_phase(nan, None, "result[0] < 0.95")[0] is AnalysisPhase.SUCCESSFUL
    assert measurement_phase(nan, "result[0] >= 0.95", "result[0] < 0.95")[0] is AnalysisPhase.INCONCLUSIVE
    assert measurement_phase([math.inf], "result[0] >= 0.9", None)[0] is AnalysisPhase.SUCCESSFUL  # TestProcessInfResponse


def test_a2_vector_is_a_list_scalar_is_a_float_and_bare_result_on_a_vector_is_error_every_time():
    # processResponse: model.ValVector → []float64, model.ValScalar → float64; EvalCondition compiles with that type
    run = AnalysisRun("r", [spec(success="result >= 0.95", count=5, interval=10.0)], started_at=0.0)
    taken = run_until(run, answers(lambda at: [0.99]), 10_000)
    assert [p for _, p in taken] == ["Error"] * 5 and run.phase is AnalysisPhase.ERROR
    scalar = AnalysisRun("r", [spec(success="result >= 0.95", count=2, interval=10.0)], started_at=0.0)
    assert [p for _, p in run_until(scalar, answers(lambda at: 0.99), 10_000)] == ["Successful"] * 2


def test_a2_a_failed_query_is_an_error_measurement():
    # prometheus.go Run: an API error makes the measurement Error
    assert run_until(AnalysisRun("r", [spec(count=1, interval=None)], 0.0), answers(lambda at: None), 5) == \
        [(0.0, "Error")]


# -- A3: measurements to metric phase ----------------------------------------------------------

def _state(**counts) -> MetricState:
    state = MetricState(spec(**{k: v for k, v in counts.items() if k.endswith("limit") or k == "count"}))
    from rampsim.gates.argo_analysis import ArgoMeasurement
    state.measurements.append(ArgoMeasurement(0.0, "m", AnalysisPhase.SUCCESSFUL, [1.0]))
    for name in ("failed", "inconclusive", "consecutive_error", "count"):
        if name in counts and not name.endswith("limit"):
            setattr(state, name, counts[name])
    return state


def test_a3_failed_when_failed_exceeds_failure_limit_strictly():
    # assessMetricStatus: result.Failed > metric.FailureLimit (default 0; -1 disables)
    assert _state(failed=1, failure_limit=0).assess(False)[0] is AnalysisPhase.FAILED
    assert _state(failed=1, failure_limit=1).assess(False)[0] is AnalysisPhase.RUNNING     # the off-by-one
    assert _state(failed=2, failure_limit=1).assess(False)[0] is AnalysisPhase.FAILED
    assert _state(failed=50, failure_limit=-1).assess(False)[0] is AnalysisPhase.RUNNING


def test_a3_inconclusive_and_consecutive_error_limits_and_their_defaults():
    # assessMetricStatus: Inconclusive > inconclusiveLimit (0); ConsecutiveError > DefaultConsecutiveErrorLimit (4)
    assert _state(inconclusive=1).assess(False)[0] is AnalysisPhase.INCONCLUSIVE
    assert _state(consecutive_error=4).assess(False)[0] is AnalysisPhase.RUNNING
    assert _state(consecutive_error=5).assess(False)[0] is AnalysisPhase.ERROR


def test_a3_error_wins_over_inconclusive_over_failed():
    # assessMetricFailureInconclusiveOrError: checked in that order, each overwriting the previous phase
    assert _state(failed=3, inconclusive=2, consecutive_error=5).assess(False)[0] is AnalysisPhase.ERROR
    assert _state(failed=3, inconclusive=2).assess(False)[0] is AnalysisPhase.INCONCLUSIVE


def test_a3_count_reached_with_failures_within_the_limit_is_successful():
    # assessMetricStatus: effectiveCount reached and no limit tripped → Successful
    run = AnalysisRun("r", [spec(count=3, failure_limit=1)], started_at=0.0)
    values = {0.0: [0.5], 30.0: [0.99], 60.0: [0.99]}
    run_until(run, answers(lambda at: values[at]), 10_000)
    assert run.phase is AnalysisPhase.SUCCESSFUL and run.metrics[0].failed == 1


def test_a3_fifth_consecutive_error_aborts_40s_after_the_first():
    # DefaultConsecutiveErrorLimit 4 at the 10 s retry cadence: errors at 0, 10, 20, 30, 40 → Error at 40 s
    run = AnalysisRun("r", [spec()], started_at=0.0)
    run_until(run, answers(lambda at: []), 10_000)
    assert run.phase is AnalysisPhase.ERROR and run.finished_at == 40.0


# -- A4: metrics to run phase ----------------------------------------------------------------

def test_a4_one_failed_metric_terminates_the_run_and_the_worst_phase_wins():
    # asssessRunStatus + IsTerminating: a Failed metric terminates; the others end Successful
    good = spec(key="good", name="good", query="good", count=None)
    bad = spec(key="bad", name="bad", query="bad", interval=60.0)
    run = AnalysisRun("r", [good, bad], started_at=0.0)
    query = answers(lambda at: [0.99])

    def by_query(expr, at):
        return answers(lambda _: [0.5] if expr == "bad" and at >= 60 else [0.99])(expr, at)

    run_until(run, by_query, 10_000)
    assert run.phase is AnalysisPhase.FAILED and run.finished_at == 60.0
    assert [m.phase for m in run.metrics] == [AnalysisPhase.SUCCESSFUL, AnalysisPhase.FAILED]
    assert query("x", 0.0).vector[0].value == 0.99


def test_a4_run_order_failed_is_worst_across_metrics():
    # analysisStatusOrder: Successful < Running < Pending < Inconclusive < Error < Failed
    run = AnalysisRun("r", [spec(key="a", name="a", query="a", count=1, interval=None),
                            spec(key="b", name="b", query="b", count=1, interval=None)], started_at=0.0)

    def query(expr, at):
        return answers(lambda _: [0.5] if expr == "a" else [])(expr, at)

    run_until(run, query, 10_000)
    assert run.phase is AnalysisPhase.FAILED  # 'a' Failed (worst) beats 'b' still erring


def test_a4_dry_run_metrics_do_not_fail_the_run():
    # GetDryRunMetrics: measured, excluded from termination and from the worst phase
    run = AnalysisRun("r", [spec(key="d", name="d", query="d", count=2, dry_run=True),
                            spec(key="k", name="k", query="k", count=2)], started_at=0.0)

    def query(expr, at):
        return answers(lambda _: [0.1] if expr == "d" else [0.99])(expr, at)

    run_until(run, query, 10_000)
    assert run.phase is AnalysisPhase.SUCCESSFUL and run.metrics[0].phase is AnalysisPhase.FAILED


# -- A5: run to rollout --------------------------------------------------------------------------

TEMPLATE = """
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: rate}
spec:
  args: [{name: service}]
  metrics:
  - name: rate
    interval: 30s
    count: %s
    successCondition: result[0] >= 0.95
    failureCondition: result[0] < 0.5
    provider: {prometheus: {query: 'ratio{service="{{args.service}}"}'}}
"""
ROLLOUT = """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  strategy:
    canary:
      steps:
      - setWeight: 20
      - analysis: {templates: [{templateName: rate}], args: [{name: service, value: web}]}
      - setWeight: 50
      - pause: {duration: 60}
"""


def _machine(count: int = 3, rollout: str = ROLLOUT) -> RolloutMachine:
    return RolloutMachine(argo_gate(TEMPLATE % count, rollout=rollout))


def test_a5_step_analysis_blocks_the_steps_until_successful():
    # reconcileStepBasedAnalysisRun: the step completes when the run is Successful
    machine = _machine()
    out = machine.advance(10_000, answers(lambda at: [0.99]))
    assert [(t.time, t.weight, t.outcome) for t in out] == [(0.0, 0.2, None), (60.0, 0.5, None),
                                                             (120.0, 1.0, RolloutOutcome.PROMOTED)]


def test_a5_failed_run_aborts_the_rollout():
    # reconcileStepBasedAnalysisRun: Failed/Error → abort ("Step-based analysis phase failed")
    out = _machine().advance(10_000, answers(lambda at: [0.3] if at >= 30 else [0.99]))
    assert (out[-1].time, out[-1].weight, out[-1].outcome) == (30.0, 0.0, RolloutOutcome.ABORTED)


def test_a5_error_run_aborts_like_a_failure():
    out = _machine().advance(10_000, answers(lambda at: []))  # empty results: Error ×5
    assert (out[-1].time, out[-1].outcome) == (40.0, RolloutOutcome.ABORTED)


def test_a5_inconclusive_pauses_at_the_current_weight():
    # PauseReasonInconclusiveAnalysis: the rollout pauses, it does not abort
    out = _machine().advance(10_000, answers(lambda at: [0.7]))
    assert (out[-1].time, out[-1].weight, out[-1].outcome) == (0.0, 0.2, RolloutOutcome.PAUSED)


def test_a5_background_analysis_starts_at_starting_step_and_ends_with_the_promotion():
    # reconcileBackgroundAnalysisRun: created once currentStepIndex >= startingStep, terminated when promoted
    rollout = """
    apiVersion: argoproj.io/v1alpha1
    kind: Rollout
    metadata: {name: web}
    spec:
      strategy:
        canary:
          analysis: {templates: [{templateName: rate}], startingStep: 2, args: [{name: service, value: web}]}
          steps: [{setWeight: 20}, {pause: {duration: 1m}}, {setWeight: 50}, {pause: {duration: 2m}}]
    """
    machine = RolloutMachine(argo_gate(TEMPLATE % "0", rollout=rollout))
    out = machine.advance(10_000, answers(lambda at: [0.99]))
    assert [m.at for m in machine.measurements()] == [60.0, 90.0, 120.0, 150.0, 180.0]
    assert out[-1].outcome is RolloutOutcome.PROMOTED and out[-1].time == 180.0
    assert machine.background is not None and machine.background.phase is AnalysisPhase.SUCCESSFUL


def test_a5_indefinite_pause_waits_for_the_assumed_manual_promotion():
    rollout = ROLLOUT.replace("pause: {duration: 60}", "pause: {}")
    out = _machine(rollout=rollout).advance(10_000, answers(lambda at: [0.99]))
    assert out[-1].outcome is RolloutOutcome.PROMOTED and out[-1].time == 60.0 + 300.0  # assume.manual_promotion_after 5m


# -- A6: templated args ------------------------------------------------------------------------------

def test_a6_template_default_then_rollout_value_then_command_line():
    # MergeArgs: the Rollout's value overrides the template's default; rampsim's --arg comes last
    template = """
    apiVersion: argoproj.io/v1alpha1
    kind: AnalysisTemplate
    metadata: {name: t}
    spec:
      args: [{name: a, value: template-a}, {name: b, value: template-b}, {name: hash}]
      metrics:
      - name: m
        provider: {prometheus: {query: 'x{a="{{args.a}}",b="{{ args.b }}",h="{{args.hash}}"}'}}
    """
    rollout = """
    apiVersion: argoproj.io/v1alpha1
    kind: Rollout
    metadata: {name: r}
    spec:
      strategy:
        canary:
          steps:
          - analysis:
              templates: [{templateName: t}]
              args: [{name: b, value: rollout-b}, {name: hash, valueFrom: {podTemplateHashValue: Latest}}]
    """
    gate = argo_gate(template, rollout=rollout)
    analysis = gate.rollout.steps[0].analysis
    assert run_args(gate, analysis) == {"a": "template-a", "b": "rollout-b", "hash": "canary"}
    assert run_metrics(gate, analysis)[0].query == 'x{a="template-a",b="rollout-b",h="canary"}'
    overridden = argo_gate(template, rollout=rollout, args={"a": "cli-a"})
    assert run_args(overridden, overridden.rollout.steps[0].analysis)["a"] == "cli-a"


def test_a6_an_unknown_tag_or_a_missing_value_fails_the_run():
    # ResolveArgs: "failed to resolve {{rollout.x}}"; an arg with no value is "not supplied"
    with pytest.raises(_RunError, match="failed to resolve"):
        substitute('x{a="{{rollout.spec.name}}"}', {})
    with pytest.raises(_RunError, match="failed to resolve"):
        substitute('x{a="{{args.missing}}"}', {"other": "1"})
    assert substitute('x{a="{{  args.v }}"}', {"v": "1"}) == 'x{a="1"}'


def test_a6_unresolvable_tag_makes_the_rollout_abort_at_once():
    template = TEMPLATE.replace('{{args.service}}', '{{rollout.metadata.name}}') % 3
    machine = RolloutMachine(argo_gate(template, rollout=ROLLOUT))
    out = machine.advance(10_000, answers(lambda at: [0.99]))
    assert out[-1].outcome is RolloutOutcome.ABORTED and out[-1].time == 0.0
    assert "failed to resolve" in out[-1].reason


NEGATIVE_COUNT = """
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: t}
spec:
  metrics:
  - name: m
    interval: 30s
    count: -1
    successCondition: result[0] >= 0.95
    provider:
      prometheus: {query: 'sum(rate(http_requests_total{code!~"5.."}[1m])) / sum(rate(http_requests_total[1m]))'}
"""


def test_a1_a_negative_count_takes_one_measurement_and_ends_the_metric_successful():
    # Metric.EffectiveCount (analysis_types.go) defaults only a nil or 0 count, so -1 is the count; ValidateMetric
    # (factory.go) checks count against the limits only when count > 0; assessMetricStatus's "result.Count >= count"
    # then holds once one measurement is taken (an Error too: Count stays 0 >= -1), and generateMetricTasks takes
    # no other
    gate = argo_gate(NEGATIVE_COUNT)
    analysis = gate.rollout.analysis
    assert analysis is not None
    resolved = run_metrics(gate, analysis)[0]
    assert resolved.count == -1 and resolved.interval == 30.0
    healthy = AnalysisRun("r", [resolved], started_at=0.0)
    assert run_until(healthy, answers(lambda at: [0.99] if at < 60 else [0.5]), 10_000) == [(0.0, "Successful")]
    assert healthy.phase is AnalysisPhase.SUCCESSFUL
    erring = AnalysisRun("r", [resolved], started_at=0.0)
    assert run_until(erring, answers(lambda at: []), 10_000) == [(0.0, "Error")]
    assert erring.phase is AnalysisPhase.SUCCESSFUL
    failing = AnalysisRun("r", [resolved], started_at=0.0)     # failureLimit 0 still trips on the one measurement
    assert run_until(failing, answers(lambda at: [0.5]), 10_000) == [(0.0, "Failed")]
    assert failing.phase is AnalysisPhase.FAILED


def test_a1_a_negative_count_lets_a_later_incident_through_as_argo_does():
    from rampsim.engine.events import DecisionKind, first_terminal_decision
    from rampsim.faults import parse_fault
    from rampsim.sim import simulate
    from tests.gates_helpers import plan_for

    plan = plan_for("argo", argo_gate(NEGATIVE_COUNT))
    decision = first_terminal_decision(simulate(plan, [parse_fault("error-rate:canary:+20%@8m")], seed=0).events)
    assert decision is not None and decision.kind is DecisionKind.ADVANCE, decision
