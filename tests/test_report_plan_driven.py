"""The dashboard and the report take their targets, wording and checklists from the plan.

A plan that is not the runbook (other thresholds, no ``report:`` section) shows its own
targets and none of the runbook's; the reference plan's report keeps the runbook's
checklists, now read from its ``report:`` section; that section is validated with
located errors; and real-time playback stops at the terminal decision.
"""
from __future__ import annotations

import io
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from rich.console import Console

from rampsim.engine.events import AlertFired, CheckpointReport, Decision, first_terminal_decision
from rampsim.faults import parse_fault
from rampsim.plan import PlanError, plan_from_text
from rampsim.plan.schema import ReportText
from rampsim.report import markdown_report
from rampsim.report.dashboard import Dashboard
from rampsim.sim import simulate
from rampsim.sim.simulation import Progress
from rampsim.units import format_value
from tests.sim_helpers import realistic_reference
from tests.conftest import examples

# A 20-minute canary whose targets differ from every one of the runbook's.
OTHER = """\
name: checkout-canary
phases:
  - {name: canary, weight: 20%, duration: 20m}
actions: {rollback: 0%, hold: 10%, advance: 100%}
rules:
  errors_page: {metric: error_rate, op: ">=", threshold: 1.2%, window: 2m, sustain: 1m,
                severity: critical, action: rollback}
  slow_page: {metric: p99, op: ">", threshold: 350ms, window: 2m, sustain: 2m, severity: critical, action: rollback}
  cpu_hot: {metric: cpu, op: ">", threshold: 95%, severity: warning, action: escalate}
checkpoints:
  first_look:
    title: First look
    at: 5m
    criteria:
      errors: {metric: error_rate, op: "<", threshold: 1.2%, window: 5m}
      up: {metric: availability, op: ">", threshold: 99.5%, window: 5m}
final_gate:
  at: 20m
  criteria:
    errors: {metric: error_rate, op: "<", threshold: 1.2%, window: cumulative}
    p99: {metric: p99, op: "<", threshold: 350ms, window: cumulative}
slo:
  objectives:
    errors: {metric: error_rate, op: ">", threshold: 1.2%, window: 5m, sustain: 5m}
traffic:
  learners: 5,000
  load: {shape: flat, average: 600/s}
  service: {instances: {baseline: 8, canary: 2}, workers: 2, normal_load: 60/s, p99: 46ms}
  variability: none
"""
FAULT = "error-rate:canary:+3%@8m"
RUNBOOK_TARGETS = ("0.5%", "0.75%", "200ms", "250ms", "99.95%", "80%", "90%")


def _other():
    return plan_from_text(OTHER, "other.yaml")


def _targets(plan) -> set[str]:
    """Every threshold of the plan's rules and checkpoint criteria, as the plan's unit writes it."""
    return {format_value(m.threshold, m.kind) for where, m in plan.measures() if not where.startswith("slo.")}


def _runbook_text() -> list[str]:
    """The reference plan's own checklists: what no other plan's report may show."""
    text = realistic_reference().report
    assert text.readiness and text.remediation and text.remediation.actions and text.sign_off
    return [*text.readiness, *text.remediation.options, *text.remediation.actions, *text.sign_off]


def _absent(text: str, value: str) -> bool:
    """``value`` does not appear as a quantity of its own (``0.5%`` is not in ``10.5%``)."""
    return re.search(rf"(?<![\d.]){re.escape(value)}(?!\d)", text) is None


def _frames(plan, faults=(), ticks=None, width=120) -> tuple[str, list[Progress]]:
    """The dashboard's frames at ``ticks`` (every scrape by default) as plain text, and the progress seen."""
    console = Console(record=True, width=width)
    dashboard = Dashboard(plan, console=console)
    seen: list[Progress] = []

    def observe(progress: Progress) -> None:
        if ticks is None or progress.tick in ticks:
            seen.append(progress)
            console.print(dashboard.render(progress))

    simulate(plan, [parse_fault(f) for f in faults], seed=0, observers=[observe])
    return console.export_text(), seen


def test_the_other_plan_differs_from_the_runbook_in_every_target():
    assert _targets(_other()).isdisjoint(RUNBOOK_TARGETS)
    assert set(RUNBOOK_TARGETS) <= _targets(realistic_reference())


@pytest.mark.parametrize("width", [120, 80])
def test_dashboard_shows_the_plans_targets_and_none_of_the_runbooks(width):
    plan = _other()
    # before the first checkpoint, before the final gate, and the rollback (the fault breaches from 8m)
    text, seen = _frames(plan, [FAULT], ticks=(10, 30, 36, 60), width=width)
    assert [p.tick for p in seen] == [10, 30, 36, 60]
    for target in _targets(plan):
        assert target in text, target
    for target in RUNBOOK_TARGETS:
        assert _absent(text, target), target
    for line in ("NEXT CHECKPOINT  First look at 00:05:00", "NEXT CHECKPOINT  final_gate at 00:20:00",
                 "errors_page", "cpu_hot", "CONTINUING CANARY", "⚠ BREACHED", "❌ FIRING", "STATUS: ROLLBACK to 0%"):
        assert line in text, line


def test_dashboard_reads_the_value_the_engine_judged():
    plan = _other()
    run = simulate(plan, [parse_fault(FAULT)], seed=0)
    alert = next(e for e in run.events if isinstance(e, AlertFired) and e.rule == "errors_page")
    text, _ = _frames(plan, [FAULT], ticks=(int(round(alert.time / plan.telemetry.scrape_interval)),))
    row = next(line for line in text.splitlines() if "errors_page" in line)
    assert format_value(alert.value, plan.rules["errors_page"].kind) in row and "❌ FIRING" in row


@pytest.mark.parametrize("faults", [(), (FAULT,)])
def test_report_shows_the_plans_targets_and_none_of_the_runbooks(faults):
    plan = _other()
    run = simulate(plan, [parse_fault(f) for f in faults], seed=0)
    report = markdown_report(run)
    stopped = bool(faults)
    assert ("## Remediation plan" in report) is stopped and ("## Rollout readiness" in report) is not stopped
    shown = {"1.2%"} | ({"99.5%"} if stopped else {"350ms"})  # the first checkpoint's targets, or the final gate's
    for target in shown:
        assert target in report, target
    for target in RUNBOOK_TARGETS:
        assert _absent(report, target), target
    for item in _runbook_text():
        assert item not in report, item
    if stopped:
        assert "- [ ] Find the cause of rule errors_page firing: when error rate over the last 2m >= 1.2%" in report
    else:
        assert "the rules that would have stopped the ramp: errors_page, slow_page" in report
    assert f"- [ ] Owner of checkout-canary: approval of this {'NO-GO' if stopped else 'GO'}" in report


def test_a_failed_checkpoint_is_remediated_in_the_plans_words():
    plan = plan_from_text(OTHER.replace("errors: {metric: error_rate, op: \"<\", threshold: 1.2%, window: 5m}",
                                        "errors: {metric: error_rate, op: \"<\", threshold: 0.01%, window: 5m}"))
    run = simulate(plan, seed=0)
    report = markdown_report(run)
    result = next(r for e in run.events if isinstance(e, CheckpointReport) for r in e.results if r.name == "errors")
    assert "NO-GO: HOLD FOR INVESTIGATION to 10% canary traffic at 00:05:00" in report
    assert (f"- [ ] Find the cause of errors failing at First look: error rate over the last 5m < 0.01% "
            f"(achieved {format_value(result.value, plan.checkpoints['first_look'].criteria['errors'].kind)})") in report
    assert "- [ ] If the release is sound, revisit checkpoint first_look" in report


def test_reference_report_keeps_the_runbooks_checklists_from_its_plan(sampling_reference_plan):
    text = sampling_reference_plan.report
    healthy = markdown_report(simulate(sampling_reference_plan, seed=0))
    faulted = markdown_report(simulate(sampling_reference_plan, [parse_fault("error-rate:canary:+1.5%@01:00")], seed=0))
    assert "## Rollout readiness" in healthy and "## Remediation plan" in faulted
    for item in [*text.readiness, *text.sign_off]:
        assert f"- [ ] {item}" in healthy, item
    for item in [*text.remediation.options, *text.remediation.actions, *text.sign_off]:
        assert f"- [ ] {item}" in faulted, item


def test_without_a_sign_off_the_final_gates_manual_items_sign():
    plan = plan_from_text(OTHER.replace("final_gate:\n  at: 20m\n",
                                        "final_gate:\n  at: 20m\n  manual: [\"Release captain: approval\"]\n"))
    report = markdown_report(simulate(plan, seed=0))
    assert "## Sign-off (manual)\n\n- [ ] Release captain: approval\n" in report


def _line(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


@pytest.mark.parametrize("section, fragment, field, message", [
    ("report:\n  sign_off: []\n", "sign_off", "report.sign_off", "an empty list would leave this checklist out"),
    ("report:\n  readiness: ['   ']\n", "readiness", "report.readiness.0", "cannot be blank"),
    ("report:\n  readiness: [3]\n", "readiness", "report.readiness.0", "valid string"),
    ("report:\n  sign_of: [Me]\n", "sign_of", "report.sign_of", "did you mean 'sign_off'"),
    ("report:\n  remediation:\n    actions: [Look]\n", "remediation", "report.remediation.options", "missing"),
    ("report:\n  remediation:\n    options: [Fix]\n    actions: []\n", "actions: []", "report.remediation.actions",
     "an empty list"),
    ("report:\n  sign_off: [Lead, \"Lead:\\n approve\"]\n", "sign_off", "report.sign_off.1", "is one line"),
    ("report:\n", "report", "report", "expected a mapping of fields (key: value), got nothing"),
])
def test_report_section_errors_name_file_line_and_field(section, fragment, field, message):
    text = OTHER.replace("traffic:\n", section + "traffic:\n")
    with pytest.raises(PlanError) as error:
        plan_from_text(text, "plan.yaml")
    expected = f"plan.yaml:{_line(text, fragment)}: {field}: "
    assert any(p.startswith(expected) and message in p for p in error.value.problems), error.value.problems


_ITEM = st.text(st.one_of(st.sampled_from(" \t\n\r\x85\u2028"), st.characters()), max_size=12)


@settings(max_examples=examples(200), deadline=None)
@given(st.lists(_ITEM, max_size=4))
def test_a_checklist_is_accepted_exactly_when_every_item_is_one_nonblank_line(items):
    one_line = all(len(item.strip().splitlines()) == 1 for item in items)
    try:
        checklist = ReportText.model_validate({"sign_off": items}).sign_off
    except ValidationError:
        assert not (items and one_line)
    else:
        assert items and one_line and checklist == [item.strip() for item in items]


def test_playback_stops_at_the_terminal_decision_and_the_run_is_the_same():
    plan = _other()
    faults = [parse_fault(FAULT)]
    played: list[Progress] = []
    run = simulate(plan, faults, seed=0, speed=1e5, observers=[played.append])
    decision = first_terminal_decision(run.events)
    assert decision is not None and decision.time < plan.duration
    decided_at = int(np.searchsorted(run.telemetry.time, decision.time))
    assert [p.tick for p in played] == list(range(decided_at + 1))
    assert isinstance(played[-1].events[-1], Decision) and played[-1].events[-1].terminal
    unpaced: list[Progress] = []
    same = simulate(plan, faults, seed=0, observers=[unpaced.append])
    assert len(unpaced) == len(run.telemetry) > decided_at + 1  # without speed, observers see every scrape
    assert same.events == run.events and np.array_equal(same.weights, run.weights)
    assert np.array_equal(same.telemetry.counters, run.telemetry.counters, equal_nan=True)
    assert np.array_equal(same.telemetry.gauges, run.telemetry.gauges, equal_nan=True)


def test_the_last_frame_ends_with_a_newline():
    plan = _other()
    output = io.StringIO()
    with Dashboard(plan, console=Console(file=output, width=120)) as dashboard:
        simulate(plan, [parse_fault(FAULT)], seed=0, speed=1e5, observers=[dashboard])
    text = output.getvalue()
    assert text.count("REAL-TIME MONITORING — checkout-canary") == 1  # a file gets the last frame only
    assert text.endswith("╯\n") and "STATUS: ROLLBACK to 0%" in text
