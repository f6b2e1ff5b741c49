"""The sweep's fast path for Argo gates gives exactly the engine's verdicts, and its condition evaluator expr's answers.

:class:`~rampsim.experiment.engine_gates.EngineGates` judges an Argo gate on a whole open-loop run at once
(:func:`rampsim.gates.argo_batch.judge_run`: the nominal schedule, each metric's measurements answered by range
queries, trips found on cumulative counts) and falls back to the engine where it cannot be sure. Here random gates
(conditions of the corpus's forms and its hazards, every limit, intervals, counts, initial delays, step and
background analyses) on runs with and without faults get the same verdict (kind, time, source) both ways, and the
batch condition evaluator (:mod:`rampsim.gates.exprlang_batch`) agrees with :func:`evaluate_condition` value by
value.
"""
from __future__ import annotations

import math
import random
import textwrap

import numpy as np
import pytest

from rampsim.experiment.engine_gates import EngineGates
from rampsim.faults import parse_fault
from rampsim.gates.argo_batch import judge_run, schedule_of
from rampsim.gates.exprlang import ConditionError, evaluate_condition
from rampsim.gates.exprlang_batch import _Unbatchable, evaluate_batch
from rampsim.plan.loader import with_overrides
from rampsim.sim import simulate
from rampsim.sim.exposed import gate_answers
from tests.gates_helpers import PODINFO_CANARY, argo_gate, flagger_gate, plan_for

QUERIES = {
    "success": ('sum(rate(http_requests_total{code!~"5..",rollouts_pod_template_hash="canary"}[1m])) / '
                'sum(rate(http_requests_total{rollouts_pod_template_hash="canary"}[1m]))', 0.99),
    "errors": ('sum(rate(http_requests_total{code=~"5..",rollouts_pod_template_hash="canary"}[1m])) / '
               'sum(rate(http_requests_total{rollouts_pod_template_hash="canary"}[1m]))', 0.01),
    "errors-or-zero": ('(sum(rate(http_requests_total{code=~"5..",rollouts_pod_template_hash="canary"}[30s])) '
                       'or vector(0)) / sum(rate(http_requests_total{rollouts_pod_template_hash="canary"}[30s]))',
                       0.01),
    "p99": ('histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket{'
            'rollouts_pod_template_hash="canary"}[1m])) by (le))', 0.4),
    "scalar": ('scalar(sum(increase(http_requests_total{code=~"5..",rollouts_pod_template_hash="canary"}[1m])))',
               20.0),
    "by-code": ('sum by (code) (rate(http_requests_total{rollouts_pod_template_hash="canary"}[1m]))', 5.0),
    "filter": ('sum(rate(http_requests_total{code=~"5..",rollouts_pod_template_hash="canary"}[1m])) > 0.5', 1.0),
    "missing": ('sum(rate(http_requests_total{rollouts_pod_template_hash="nowhere"}[1m]))', 1.0),
}
SUCCESS_FORMS = ["result[0] >= {t}", "len(result) == 0 || result[0] >= {t}", "result[0] >= {t} || len(result) == 0",
                 "!(result[0] < {t})", "isNaN(result[0]) || result[0] >= {t}", "result[0] * 100 >= {t} * 100",
                 "result >= {t}", "len(result) > 0 && result[0] >= {t}"]
LOW_FORMS = ["result[0] <= {t}", "len(result) == 0 || result[0] < {t}", "result[0] - {t} < 0", "asFloat(result[0]) <= {t}"]
SCALAR_FORMS = ["result <= {t}", "result < {t} || isNaN(result)", "result[0] <= {t}", "!(result > {t})"]
FAULTS = [None, "error-rate:canary:+3%@4m", "latency:canary:+300ms@6m", "scrape-gap:shared@3m/2m",
          "counter-reset:canary@5m", "error-rate:canary:+0.6%@2m"]


def _metric(rng: random.Random, name: str) -> str:
    shape = rng.choice(list(QUERIES))
    query, threshold = QUERIES[shape]
    high = shape in ("success",)
    if shape == "scalar":
        forms = SCALAR_FORMS
    elif high:
        forms = SUCCESS_FORMS
    else:
        forms = LOW_FORMS + ["result[0] >= 0"]
    t = threshold * rng.choice([0.5, 1.0, 1.0, 2.0])
    condition = rng.choice(forms).format(t=t)
    lines = [f"- name: {name}", f"  interval: {rng.choice(['10s', '20s', '30s', '45s', '1m'])}"]
    mode = rng.choice(["success", "success", "failure", "both", "none"])
    if mode in ("success", "both"):
        lines.append(f"  successCondition: '{condition}'")
    if mode in ("failure", "both"):
        opposite = condition.replace(">=", "<").replace("<=", ">") if "!" not in condition else "result[0] > 0"
        lines.append(f"  failureCondition: '{opposite}'")
    for field, choices in (("count", [None, None, 3, 5, 12]), ("failureLimit", [None, 0, 1, 3, -1]),
                           ("inconclusiveLimit", [None, None, 1]), ("consecutiveErrorLimit", [None, None, 0, 2]),
                           ("initialDelay", [None, None, "30s", "1m"])):
        value = rng.choice(choices)
        if value is not None:
            lines.append(f"  {field}: {value}")
    lines += ["  provider:", "    prometheus:", f"      query: '{query}'"]
    return "\n".join(lines)


def _gate_text(rng: random.Random) -> tuple[str, str]:
    metrics = "\n".join(_metric(rng, f"m{i}") for i in range(rng.choice([1, 1, 2, 3])))
    template = ("apiVersion: argoproj.io/v1alpha1\nkind: AnalysisTemplate\nmetadata: {name: health}\nspec:\n"
                "  metrics:\n" + textwrap.indent(metrics, "  "))
    steps = []
    style = rng.choice(["background", "background", "step", "both"])
    for weight in rng.sample([10, 20, 40, 60, 80], rng.choice([2, 3])):
        steps.append(f"      - setWeight: {weight}")
        steps.append(f"      - pause: {{duration: {rng.choice(['2m', '3m', '5m'])}}}")
        if style in ("step", "both") and rng.random() < 0.6:
            steps.append("      - analysis: {templates: [{templateName: health}]}")
    background = ""
    if style in ("background", "both") or not any("analysis" in s for s in steps):
        start = rng.choice(["", "", "        startingStep: 2\n"])
        background = f"      analysis:\n        templates: [{{templateName: health}}]\n{start}"
    rollout = ("apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: app}\nspec:\n  strategy:\n"
               "    canary:\n" + background + "      steps:\n" + "\n".join(steps) + "\n")
    return template, rollout


def _cases(count: int, seed: int):
    rng = random.Random(seed)
    made = 0
    while made < count:
        template, rollout = _gate_text(rng)
        try:
            gate = argo_gate(template, rollout=rollout)
            plan = plan_for("argo", gate)
        except Exception:   # a combination Argo or the importer refuses (count < failureLimit...): draw again
            continue
        if plan.duration > 3600:
            continue
        faults = [parse_fault(f) for f in [rng.choice(FAULTS)] if f]
        if any(f.start >= plan.duration for f in faults):
            faults = []
        made += 1
        yield gate, plan, faults, rng.randrange(1000)


def _verdicts(plans, telemetries, fast):
    verdicts = EngineGates(plans, fast=fast).judge(telemetries)
    return [[verdicts.named(r)[g] for g in range(len(plans))] for r in range(len(telemetries))]


def test_the_fast_path_decides_as_the_engine_on_random_gates(capsys):
    fast_runs = 0
    kinds = set()
    for gate, plan, faults, seed in _cases(30, seed=5):
        run = simulate(plan, faults, seed=seed, engine_factory=None)
        verdicts = _verdicts([plan], [run.telemetry], True)
        assert verdicts == _verdicts([plan], [run.telemetry], False), (gate.model_dump(), faults)
        kinds.add(verdicts[0][0][0])
        schedule = schedule_of(gate)
        if schedule is not None:
            answers, sequences = gate_answers(gate, run.telemetry, {})
            fast_runs += judge_run(schedule, answers, float(run.telemetry.time[-1]), sequences) is not None
    with capsys.disabled():
        print(f"\nfast path on {fast_runs} of 30 random gate-runs (the engine on the others); all verdicts equal")
    assert 20 <= fast_runs < 30 and kinds == {"rollback", "advance", "hold"}  # both paths, every outcome


def test_a_grid_of_limits_and_thresholds_decides_as_the_engine():
    from tests.test_gates_simulated import ROLLOUT, SUCCESS_RATE

    plan = plan_for("argo", argo_gate(SUCCESS_RATE, rollout=ROLLOUT))
    grid = [with_overrides(plan, {"argo.metrics.error-ratio.failureLimit": limit,
                                  "argo.metrics.error-ratio.threshold": threshold,
                                  "argo.metrics.error-ratio.consecutiveErrorLimit": errors})
            for limit in (-1, 0, 2) for threshold in (0.001, 0.02) for errors in (0, 4)]
    runs = [simulate(plan, faults, seed=s, engine_factory=None)
            for s, faults in enumerate([[], [parse_fault("error-rate:canary:+4%@8m")],
                                        [parse_fault("scrape-gap:shared@1m/3m")]])]
    telemetries = [run.telemetry for run in runs]
    fast, engine = _verdicts(grid, telemetries, True), _verdicts(grid, telemetries, False)
    assert fast == engine
    kinds = {verdict[0] for row in fast for verdict in row}
    assert {"rollback", "advance"} <= kinds


@pytest.mark.parametrize("condition", [
    "result[0] >= 0.95", "len(result) == 0 || result[0] < 0.05", "result[0] > 0.9 || len(result) == 0",
    "!(result[0] < 0.5)", "isNaN(result[0]) || result[0] >= 0.5", "isInf(result[0])", "result[0] * 100 >= 95",
    "result[-1] / 0 > 1", "result[1] > 0", "result >= 0.95", "len(result) > 0 && result[0] != 0.5",
    "asFloat(result[0]) <= 0.5", "abs(-result[0]) < 0.7", "result[0] == 0.5", "-result[0] < -0.5",
    "len(result) == 0", "true", "result[0] + 1 > 1.5 && !isNaN(result[0])", "len(result) + 1 == 2",
])
def test_batch_conditions_agree_with_expr_value_by_value(condition):
    values = np.array([0.0, 0.5, 0.95, 1.0, math.nan, math.inf, -math.inf, 0.049, 0.5000000001, -0.0, 7.0])
    for kind in ("floats", "float"):
        for lengths in ([1] * len(values), [0] * len(values), [1, 0] * 5 + [1]):
            lengths = np.array(lengths)
            try:
                holds, errors = evaluate_batch(condition, kind, values, lengths)
            except _Unbatchable:
                continue
            for i, x in enumerate(values):
                result = float(x) if kind == "float" else [float(x)] * int(lengths[i])
                try:
                    expected, failed = evaluate_condition(condition, result), False
                except ConditionError:
                    expected, failed = False, True
                assert (bool(holds[i]), bool(errors[i])) == (expected, failed), (condition, kind, result)


def test_the_plans_own_values_count_as_no_change_for_an_imported_gate():
    """A review found the plan's own failureLimit (1 in the file, '1' from a grid) and its threshold (written in the
    condition) counted as changes: the recommendation's tie-break and --write-best's diff preferred another value."""
    from rampsim.experiment.axes import expand, gate_values, own_value_text, parse_axis
    from tests.test_gates_simulated import ROLLOUT, SUCCESS_RATE

    plan = plan_for("argo", argo_gate(SUCCESS_RATE, rollout=ROLLOUT))
    points = expand(plan, [parse_axis("argo.metrics.error-ratio.failureLimit=2,1"),
                           parse_axis("argo.metrics.*.threshold=0.05,0.1")])
    changes = {tuple(point.values.values()): point.changes for point in points}
    assert changes == {("2", "0.05"): 1, ("2", "0.1"): 2, ("1", "0.05"): 0, ("1", "0.1"): 1}
    assert gate_values(plan, "argo.metrics.error-ratio.threshold") == [0.05]   # read from the condition
    # what --write-best prints and the HTML report's diff shows as the plan's value (the HTML showed it blank)
    assert own_value_text(plan, "argo.metrics.error-ratio.threshold") == "0.05"
    assert own_value_text(plan, "argo.metrics.error-ratio.failureLimit") == "1"


@pytest.mark.parametrize("kind, repeated, alike, distinct, changes", [
    ("argo", "argo.metrics.error-ratio.interval=60s,1m", "'60s' and '1m'", "30s,1m", [0, 1]),
    ("argo", "argo.metrics.*.initialDelay=90s,1m30s", "'90s' and '1m30s'", "90s,2m", [1, 1]),
    ("argo", "argo.rollout.steps.1.pause.duration=10m,20m,1200s", "'20m' and '1200s'", "10m,20m", [1, 0]),
    ("argo", "argo.rollout.steps.3.pause.duration=600,10m", "'600' and '10m'", "5m,600", [1, 0]),  # 600: seconds
    ("flagger", "flagger.analysis.interval=60s,1m", "'60s' and '1m'", "30s,60s", [1, 0]),
])
def test_an_imported_gates_duration_is_compared_as_its_controller_reads_it(kind, repeated, alike, distinct, changes):
    """The text was compared: ``60s,1m`` made two gates, one gate twice, tied on every rate, the recommendation
    between them falling to grid order; and ``60s`` for the plan's ``1m`` counted as a change."""
    from rampsim.experiment.axes import GridError, expand, parse_axis
    from tests.test_gates_simulated import ROLLOUT, SUCCESS_RATE

    gate = argo_gate(SUCCESS_RATE, rollout=ROLLOUT) if kind == "argo" else flagger_gate(PODINFO_CANARY, mesh="istio")
    plan = plan_for(kind, gate)
    with pytest.raises(GridError, match=rf"a value is repeated \({alike} are one value"):
        expand(plan, [parse_axis(repeated)])
    points = expand(plan, [parse_axis(f"{repeated.partition('=')[0]}={distinct}")])
    assert [point.changes for point in points] == changes


def test_a_negative_count_takes_one_measurement_on_the_fast_path_as_in_the_engine():
    """count: -1 is one measurement (EffectiveCount keeps it; "count reached" holds after one): the fast path took
    none, so an incident that failed that one measurement was rolled back by the engine and let through here."""
    from tests.test_gates_simulated import ROLLOUT, SUCCESS_RATE

    plan = plan_for("argo", argo_gate(SUCCESS_RATE, rollout=ROLLOUT))
    grid = [with_overrides(plan, {"argo.metrics.error-ratio.count": count, "argo.metrics.error-ratio.failureLimit": 0,
                                  "argo.metrics.error-ratio.initialDelay": "2m"}) for count in (-1, 3)]
    runs = [simulate(plan, faults, seed=s, engine_factory=None)
            for s, faults in enumerate([[], [parse_fault("error-rate:canary:+20%@0s")]])]
    telemetries = [run.telemetry for run in runs]
    fast, engine = _verdicts(grid, telemetries, True), _verdicts(grid, telemetries, False)
    assert fast == engine
    assert fast[1][0][0] == "rollback" and fast[0][0][0] == "advance", fast


def test_a_swept_argo_threshold_is_written_as_the_number_its_conditions_compare():
    """An Argo metric's threshold is not in its section (its conditions hold it): the grid's text was written as
    text ('0.98') by --write-best while the plan's own value was the number its condition compares with."""
    from rampsim.experiment.axes import grid_overrides
    from tests.test_gates_simulated import ROLLOUT, SUCCESS_RATE

    plan = plan_for("argo", argo_gate(SUCCESS_RATE, rollout=ROLLOUT))
    (metric,) = plan.argo["metrics"]
    path = f"argo.metrics.{metric}.threshold"
    assert grid_overrides({path: "0.98"}, plan) == {path: 0.98}
    assert grid_overrides({f"argo.metrics.{metric}.interval": "1m"}, plan) == {f"argo.metrics.{metric}.interval": "1m"}


def test_a_flagger_canary_held_on_failed_checks_is_harmed_at_the_weight_it_holds():
    """Flagger holds the canary's weight on a failed check; the sweep's open-loop run goes on along the plan's phases.
    The sweep counted the harm at those phases: 80,932 requests an incident run of a real Canary (stepWeight 5, five
    failed checks to roll back) where a rehearsal, which applies the held weight, counted 35,567-36,067. The sweep now
    scales each interval's harm by the weight the engine held over the weight simulated: on the same run, that is the
    harm up to the rollback at the held weight; over runs, the rehearsals' mean within its sampling error."""
    from rampsim.experiment.chunks import SweepSpec, run_chunk
    from rampsim.experiment.engine_gates import _engine_decision
    from rampsim.engine.judge import KINDS
    from rampsim.experiment.mix import single_scenario_mix
    from rampsim.gates.plan_sections import gate_of
    from rampsim.sim.outcome import served_until

    canary = PODINFO_CANARY.replace("stepWeight: 10", "stepWeight: 5")
    plan = plan_for("flagger", flagger_gate(canary))
    fault = "error-rate:canary:+3%@2m"
    run = simulate(plan, [parse_fault(fault)], seed=1, engine_factory=None)
    decision, held = _engine_decision(plan, gate_of(plan), run.telemetry, {})
    assert decision is not None and decision.kind.value == "rollback" and held is not None
    scale = np.divide(held, run.weights, out=np.ones(len(held)), where=(run.weights > 0) & ~np.isnan(held))
    assert np.nanmax(held) < np.max(run.weights)          # held below the phases before the rollback
    open_loop = served_until(run.telemetry.time, run.harmed, np.array([decision.time]))[0]
    at_held = round(served_until(run.telemetry.time, run.harmed * scale, np.array([decision.time]))[0])
    assert at_held < 0.8 * open_loop

    spec = SweepSpec.of(plan, single_scenario_mix("failing", (parse_fault(fault),)), [], 20, seed=3)
    chunk = run_chunk(spec, EngineGates([plan]), 0, 0, 20)
    swept = chunk.harmed[:, 0]
    rehearsed = np.array([simulate(plan, [parse_fault(fault)], seed=s).outcome.harmed for s in range(20)])
    assert np.all(chunk.kind[:, 0] == KINDS.index("rollback"))
    error = math.hypot(swept.std(ddof=1), rehearsed.std(ddof=1)) / math.sqrt(20)
    # 4 standard errors of the difference of two means of 20 independent runs (measured: 53.7 requests apart,
    # 1.0 of them); the held weight's harm is the closed loop's in expectation
    assert abs(swept.mean() - rehearsed.mean()) < 4 * error, (swept.mean(), rehearsed.mean(), error)
