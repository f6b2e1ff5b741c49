"""``rampsim rehearse``: the game-day rehearsal of the reference plan, its files and exit codes."""
from __future__ import annotations

import pytest
from rich.console import Console

from rampsim.cli import main
from rampsim.engine.events import AlertFired, Decision, DecisionKind
from rampsim.faults import parse_fault
from rampsim.plan import PlanError, plan_from_text
from rampsim.report.dashboard import Dashboard
from rampsim.sim import Scenario, simulate
from rampsim.sim.clock import clock
from tests.sim_helpers import REFERENCE, ROOT, SCENARIOS, VALIDATION, sampling_only_plan_file


def test_reference_without_fault_advances(tmp_path, capsys):
    plan = sampling_only_plan_file(tmp_path)
    assert main(["rehearse", str(plan), "--seed", "0", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "GO: AUTO-ADVANCE TO ROLLOUT (100% TRAFFIC)" in out and "CHECKPOINT 6: 4 HOURS" in out
    assert "[x] PASS / [ ] FAIL" in out and "- [ ] Review metrics dashboard" in out
    report = (tmp_path / "report.md").read_text()
    for section in ("## Go/no-go decision and rationale", "## Checkpoint metrics", "## Final metrics summary",
                    "## Business impact", "## Rollout readiness", "![timeline](timeline.png)",
                    "- [ ] Engineering Lead: final approval"):  # the reference plan's sign-off (its report: section)
        assert section in report
    assert (tmp_path / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_error_regression_at_one_hour_rolls_back_within_3_to_4_minutes(sampling_reference_plan):
    run = simulate(sampling_reference_plan, [parse_fault("error-rate:canary:+1.5%@01:00")], seed=0)
    decision = next(e for e in run.events if isinstance(e, Decision) and e.terminal)
    assert decision.kind is DecisionKind.ROLLBACK and decision.weight == 0.0
    alert = next(e for e in run.events if isinstance(e, AlertFired) and e.rule == decision.source.split(":")[1])
    assert 180 <= decision.time - 3600 <= 240
    assert 180 <= decision.time - alert.breach_start <= 240
    assert run.outcome.verdict == "caught" and run.truth.incident


def test_rehearsal_with_fault_reports_the_rollback(tmp_path, capsys):
    code = main(["rehearse", str(sampling_only_plan_file(tmp_path)), "--fault", "error-rate:canary:+1.5%@01:00", "--out", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    assert "NO-GO: AUTOMATIC ROLLBACK to 0% canary traffic at 01:03:30" in out
    assert "Detection delay" in out and "agrees with the ground truth" in out
    assert "## Remediation plan" in (tmp_path / "report.md").read_text()


def test_disagreement_exits_1(tmp_path):
    # A segment-only regression that the SLO does not count: the segment-spread rule stops it anyway.
    assert main(["rehearse", str(sampling_only_plan_file(tmp_path)), "--fault", "error-rate:canary/C:+0.3%@30m",
                 "--out", str(tmp_path)]) == 1


@pytest.mark.parametrize("argument, message", [
    ("eror-rate:canary:1%", "did you mean 'error-rate'"),
    ("error-rate:canary:+1%@200 mins", "unknown unit 'mins'"),
    ("error-rate:canary/D:+1%", "unknown segment 'D'"),
])
def test_bad_fault_exits_2(tmp_path, capsys, argument, message):
    try:
        code = main(["rehearse", str(REFERENCE), "--fault", argument, "--out", str(tmp_path)])
    except SystemExit as exit:
        code = exit.code
    assert code == 2 and message in capsys.readouterr().err


def test_invalid_traffic_section_exits_3(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(REFERENCE.read_text().replace("average: 12,500/s", "average: -5/s"))
    assert main(["rehearse", str(bad), "--out", str(tmp_path)]) == 3
    line = REFERENCE.read_text().splitlines().index("    average: 12,500/s") + 1
    assert f"bad.yaml:{line}: traffic.load.average:" in capsys.readouterr().err


@pytest.mark.parametrize("old, new, where", [
    ("    share: 40%", "    share: 50%", "traffic.segments"),
    ("    timeout: 1s", "    timeout: 200 mins", "traffic.service.timeout"),
    ("    workers: 8 ", "    wrokers: 8 ", "traffic.service.wrokers"),
])
def test_traffic_errors_name_file_line_field(old, new, where):
    text = REFERENCE.read_text()
    source = text.replace("A: {share: 40%", "A:\n    share: 40%").replace(
        ", error_rate: 0.065%}", "\n    error_rate: 0.065%") if "share" in old else text
    assert old in source
    plan = plan_from_text(source.replace(old, new, 1), "plan.yaml")
    with pytest.raises(PlanError) as error:
        Scenario.build(plan)
    assert any(p.startswith("plan.yaml:") and f": {where}" in p for p in error.value.problems), error.value.problems


def test_speed_plays_in_real_time_with_a_dashboard(tmp_path, capsys):
    assert main(["rehearse", str(VALIDATION), "--speed", "4000", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "REAL-TIME MONITORING — ramp-phase-5k-validation" in out
    assert "╯\n\nCHECKPOINT LOG\n" in out  # the last frame ends its line


def test_speed_stops_the_playback_at_the_decision(tmp_path, capsys, validation_plan):
    fault = "error-rate:canary:+3%@5m"
    decided = simulate(validation_plan, [parse_fault(fault)], seed=0).outcome.time
    assert main(["rehearse", str(VALIDATION), "--speed", "100000", "--fault", fault, "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"Playback stopped at the decision ({clock(decided)})" in out and "STATUS: ROLLBACK to 0%" in out


def test_dashboard_shows_the_reference_plans_rules_and_checkpoints(sampling_reference_plan):
    console = Console(record=True, width=120)
    dashboard = Dashboard(sampling_reference_plan, console=console)
    frames = []
    simulate(sampling_reference_plan, [parse_fault("error-rate:canary:+1.5%@01:00")], seed=0,
             observers=[lambda p: frames.append(dashboard.render(p)) if p.tick in (1, 100, 250, 300) else None])
    for frame in frames:
        console.print(frame)
    text = console.export_text()
    # before any window fills no rule holds or fails (a review found ALL RULES HOLD beside every rule's NO DATA)
    assert "NO RULE HAS DATA YET" in text or "WAITING FOR DATA" in text
    for label in ("error_rate_rollback", ">= 0.5% for 3m → rollback", "P99 latency [1m]", "> 90% → escalate",
                  "NEXT CHECKPOINT  Checkpoint 2: 30 minutes at 00:30:00", "< 0.05%", "Canary learners  50,000 at 10%",
                  "Segment C:", "ALL RULES HOLD — CONTINUING RAMP", "ALERTS FIRING — error_rate_warning",
                  "STATUS: ROLLBACK to 0%"):
        assert label in text, label


def test_a_ramp_that_ends_undecided_is_neither_a_stop_nor_a_false_alarm(tmp_path, capsys):
    """A final gate that continues on a pass leaves the ramp undecided: the report said the gate 'stopped the ramp
    at the end' and called it a false alarm to review; it is an outcome of its own (exit 1: no decision)."""
    plan = tmp_path / "continues.yaml"
    plan.write_text(VALIDATION.read_text().replace("  at: 20m\n", "  at: 20m\n  on_pass: continue\n", 1))
    assert main(["rehearse", str(plan), "--out", str(tmp_path / "out")]) == 1
    report = (tmp_path / "out" / "report.md").read_text()
    assert "the ramp ended without a terminal decision" in report
    assert "CONTINUE at 00:20:00 (final_gate: PASS)" in report
    assert "false alarm" not in report and "stopped the ramp" not in report


def test_a_stop_before_the_fault_is_reported_as_a_false_alarm_not_as_the_faults_work(tmp_path):
    """The shipped noise stops the reference ramp at 8 minutes; with a fault injected at 1 hour, the report listed
    the fault as 'the root cause a real investigation would have to find' under a false-alarm verdict."""
    assert main(["rehearse", str(REFERENCE), "--fault", "error-rate:canary:+1.5%@01:00", "--out",
                 str(tmp_path)]) == 1
    report = (tmp_path / "report.md").read_text()
    assert "stopped the ramp before the fault began" in report and "**false alarm** of the gate itself" in report
    assert "root cause a real investigation" not in report


def test_a_false_alarm_with_a_harmless_fault_injected_is_not_blamed_on_the_fault(tmp_path):
    """A review found a stop at 8 min with a harmless surge injected (the SLO held) reported with the surge as 'the
    root cause a real investigation would have to find', and no false-alarm paragraph."""
    assert main(["rehearse", str(REFERENCE), "--fault", "surge:shared:+30%@1m/30m", "--out", str(tmp_path)]) == 1
    report = (tmp_path / "report.md").read_text()
    assert "The injected faults did not breach the SLO" in report and "**false alarm** of the gate itself" in report
    assert "root cause a real investigation" not in report


def test_a_missed_incident_is_never_a_clean_go():
    """A review found an Argo gate that let a 2% error regression through reported as 'every success criterion
    held' with a readiness checklist and no word of the incident."""
    from rampsim.report.markdown import markdown_report
    from tests.gates_helpers import argo_gate, plan_for
    from tests.test_gates_simulated import ROLLOUT, SUCCESS_RATE

    plan = plan_for("argo", argo_gate(SUCCESS_RATE, rollout=ROLLOUT))
    run = simulate(plan, [parse_fault("error-rate:canary:+2%@8m")], seed=0)
    assert run.outcome.decision is DecisionKind.ADVANCE and run.truth.counted
    report = markdown_report(run, chart=None)
    assert "But the ground truth is an incident the gate let through" in report
    assert "**The gate let an incident through**" in report


@pytest.mark.parametrize("plan", sorted(p.name for p in SCENARIOS.glob("ramp-*.yaml")))
def test_every_shipped_plan_rehearses_with_its_chart(tmp_path, plan):
    """The sequential plan's rehearsal crashed drawing its chart (exit 70) after writing its report, which then
    linked the previous run's chart."""
    assert main(["rehearse", str(SCENARIOS / plan), "--out", str(tmp_path)]) in (0, 1)
    assert (tmp_path / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "![timeline](timeline.png)" in (tmp_path / "report.md").read_text()


def hot_segment_plan(directory):
    """The validation ramp with segment C failing 2.5% of its requests on both arms: the SLO breaches with no
    fault at all."""
    path = directory / "hot.yaml"
    path.write_text(VALIDATION.read_text().replace("C: {share: 25%, error_rate: 0.085%}",
                                                   "C: {share: 25%, error_rate: 2.5%}"))
    return path


@pytest.mark.parametrize("faults", [[], ["--fault", "error-rate:canary:+1.5%@15m"]])
def test_a_breach_with_no_fault_is_the_services_own_whatever_faults_come_later(tmp_path, capsys, faults):
    """A review found the fault-free breach called a release regression (the early stop a catch), and the same stop
    called a false alarm once an unrelated fault was added after it."""
    plan = hot_segment_plan(tmp_path)
    assert main(["rehearse", str(plan), *faults, "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "Ground truth: the service's own breach" in out and "with no fault at all" in out
    assert "release regression" not in out and "false alarm" not in out
    assert "neither agrees nor disagrees" in out
    assert "does not model a healthy service" in (tmp_path / "out" / "report.md").read_text()
    assert main(["validate", str(plan)]) == 0
    assert "note: with no fault at all, the simulated service breaches SLO objective 'error_rate'" in \
        capsys.readouterr().out


def test_validate_prints_no_note_for_a_healthy_service(capsys):
    assert main(["validate", str(VALIDATION)]) == 0
    assert "note:" not in capsys.readouterr().out


def test_a_hold_never_raises_the_canarys_weight():
    """A review held a 2% canary 'to 5%' (the default hold) during an incident and the report called it a catch."""
    plan = plan_from_text(VALIDATION.read_text()
                          .replace("weight: 10%", "weight: 2%")
                          .replace("severity: critical, action: rollback}\n  p99", "severity: critical, action: hold}\n"
                                   "  p99"))
    assert plan.rules["error_rate_rollback"].action == "hold" and plan.actions.hold == 0.05
    run = simulate(plan, [parse_fault("error-rate:canary:+1.5%@5m")], seed=0)
    decision = next(e for e in run.events if isinstance(e, Decision) and e.terminal)
    assert decision.kind is DecisionKind.HOLD and decision.weight == 0.02


def test_after_an_advance_the_summary_ends_at_the_decision(tmp_path):
    """After an early final gate, the report's summary took in the promoted release's traffic (error rates of an
    overloaded pool under a GO headline)."""
    plan = tmp_path / "early.yaml"
    plan.write_text(VALIDATION.read_text().replace("final_gate:\n  at: 20m", "final_gate:\n  at: 10m"))
    assert main(["rehearse", str(plan), "--out", str(tmp_path / "out")]) == 0
    report = (tmp_path / "out" / "report.md").read_text()
    assert "GO: AUTO-ADVANCE" in report
    assert "## Final metrics summary (canary, from the start to the decision at 00:10:00)" in report


def test_a_closed_pipe_during_the_live_dashboard_is_exit_141_not_a_disagreement(tmp_path, monkeypatch):
    """rich ends a closed pipe with SystemExit(1), the exit code of a gate that disagrees
    (`rampsim rehearse PLAN --speed 1000000 | head -1` exited 1)."""
    import io
    import sys

    class ClosedOnTheDashboard(io.StringIO):
        """A pipe whose reader left once the plain header was read: the dashboard's frame cannot be written."""

        def write(self, text):
            if "\u2500" in text:   # the panel's border
                raise BrokenPipeError
            return super().write(text)

    monkeypatch.setattr(sys, "stdout", ClosedOnTheDashboard())
    assert main(["rehearse", str(VALIDATION), "--speed", "1000000", "--out", str(tmp_path)]) == 141


def test_plan_text_in_the_reports_tables_keeps_the_columns():
    """A '|' in a criterion's name split the report's table row into extra columns."""
    from rampsim.report.markdown import markdown_report

    plan = plan_from_text(VALIDATION.read_text().replace("    error_rate: {metric: error_rate, op: \"<\"",
                                                         "    \"errors | all\": {metric: error_rate, op: \"<\""))
    report = markdown_report(simulate(plan, seed=0), chart=None)
    row = next(line for line in report.splitlines() if line.startswith("| errors"))
    assert row.startswith("| errors \\| all |") and row.replace("\\|", "").count("|") == 6


def test_an_imported_gate_is_shown_and_logged_as_its_own_measurements():
    """A review found an imported Argo gate's rehearsal showing the placeholder final gate ('No continuous rules',
    'ALL RULES HOLD', its requirements) and logging 'Not reached: final_gate' under a gate that promoted."""
    from rampsim.report.checklist import checkpoint_log
    from tests.gates_helpers import argo_gate, plan_for
    from tests.test_gates_simulated import ROLLOUT, SUCCESS_RATE

    plan = plan_for("argo", argo_gate(SUCCESS_RATE, rollout=ROLLOUT))
    console = Console(record=True, width=120)
    dashboard = Dashboard(plan, console=console)
    frames = []
    run = simulate(plan, seed=0, observers=[lambda p: frames.append(dashboard.render(p)) if p.tick == 20 else None])
    console.print(frames[0])
    text = console.export_text()
    assert "GATE: the imported Argo Rollouts analysis" in text and "error-ratio" in text
    assert "result[0] <= 0.05" in text and "PASS" in text and "ANALYSIS RUNNING, NO DECISION YET" in text
    assert "No continuous rules" not in text and "ALL RULES HOLD" not in text and "NEXT CHECKPOINT" not in text
    log = "\n".join(checkpoint_log(run))
    assert "ERROR-RATIO  (at 00:00:30)" in log and "Argo: Successful" in log
    assert "Not reached" not in log and "DECISION: [ ]" not in log


@pytest.mark.parametrize("width", [30, 40, 71])
def test_a_narrow_terminal_folds_the_dashboard_and_never_cuts_a_value(sampling_reference_plan, width):
    """At 30 columns the values read '1…' and '4…' (1.552% indistinguishable from 1%) and the limits were gone."""
    console = Console(record=True, width=width)
    dashboard = Dashboard(sampling_reference_plan, console=console)
    frames = []
    simulate(sampling_reference_plan, [parse_fault("error-rate:canary:+1.5%@01:00")], seed=0,
             observers=[lambda p: frames.append(dashboard.render(p)) if p.tick == 250 else None])
    console.print(frames[0])
    text = console.export_text()
    body = text.split("\n", 1)[1]   # the title may be cut: it is the plan's name
    assert "…" not in body
    joined = "".join("".join(line.strip("│").split()) for line in body.splitlines())   # wrapping moves spaces
    assert "1.601%(>=0.5%[1m]for3m→rollback)⚠BREACHED" in joined
    assert "50,000at10%" in joined


def test_a_kayenta_gate_shows_each_metrics_latest_analysis_once():
    """The imported-gate panel listed every analysis's every metric (16 analyses x 5 metrics of the Kayenta plan), so
    it outgrew the screen and the live display cut off the newest rows and the status."""
    from rampsim.plan import load_plan

    plan = load_plan(SCENARIOS / "ramp-phase-50k-kayenta.yaml")
    console = Console(record=True, width=200)
    dashboard = Dashboard(plan, console=console)
    frames = []
    simulate(plan, seed=0, observers=[lambda p: frames.append(dashboard.render(p)) if p.tick == 700 else None])
    console.print(frames[0])
    text = console.export_text()
    reports = int(text.split("judged as Kayenta judges it (")[1].split(" ")[0])
    assert reports > 1
    for metric in ("error-rate", "availability", "p99-latency", "cpu", "memory"):
        assert text.count(f"│ {metric} ") == 1, metric


def test_the_plans_actions_move_the_canary_and_a_hold_never_raises_it():
    """The reference engine capped a hold at the canary's weight; the Kayenta engine still held a 2% canary at 5%,
    and then, reading the weight at the analysis's end, took the next phase's 50% for the 2% in force."""
    from rampsim.gates.plan_sections import with_gate_overrides
    from rampsim.plan import load_plan
    from rampsim.plan.schema import Actions
    from rampsim.sim.exposed import gate_engine

    actions = Actions(rollback=0.0, hold=0.05, advance=1.0)
    assert actions.weight("hold", 0.02) == 0.02 and actions.weight("hold", 0.3) == 0.05
    assert actions.weight("rollback", 0.3) == 0.0 and actions.weight("advance", 0.02) == 1.0
    plan = with_gate_overrides(load_plan(SCENARIOS / "ramp-phase-50k-kayenta.yaml"), {"phases": [
        {"name": "canary", "weight": "2%", "duration": "4h"}, {"name": "ramp", "weight": "50%", "duration": "1h"}]})
    engine = gate_engine(plan)
    last = engine.core.analyses[-1]
    assert last.end == 4 * 3600 and plan.weight_at(last.end) == 0.5   # the analysis ends as the next phase begins
    judgement, _, _ = engine.core.analyse(last, engine.measured)
    assert engine._decision(last, judgement, "hold", False).weight == 0.02
    assert engine._decision(last, judgement, "rollback", False).weight == 0.0
