"""A step only a person ends (an indefinite ``pause: {}``, a step analysis with an interval and no count): import says
so, located at the step, in its output and at the top of the plan; the rehearsal does not present the assumed
promotion as the controller's auto-advance."""
from __future__ import annotations

import pytest

from rampsim.cli import main
from tests.gates_helpers import README_ROLLOUT, README_TEMPLATE

ARGS = """
          args:
          - {name: service-name, value: checkout}
          - {name: canary-hash, valueFrom: {podTemplateHashValue: Latest}}
"""
STEP = """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: checkout}
spec:
  strategy:
    canary:
      steps:
      - setWeight: 10
      - analysis:
          templates: [{templateName: success-rate}]""" + ARGS + """
      - setWeight: 50
      - pause: {duration: 2m}
"""
PAUSE = README_ROLLOUT.replace("      - pause: {duration: 5m}\n      - setWeight: 30\n",
                               "      - pause: {}\n      - setWeight: 30\n")   # an indefinite pause at line 15


def _import(tmp_path, capsys, rollout: str) -> tuple[str, str]:
    template = tmp_path / "analysis-template.yaml"
    template.write_text(README_TEMPLATE.lstrip())
    written = tmp_path / "rollout.yaml"
    written.write_text(rollout.lstrip())
    plan = tmp_path / "plan.yaml"
    assert main(["import", "argo", str(template), "--rollout", str(written), "-o", str(plan)]) == 0
    return capsys.readouterr().err, plan.read_text()


@pytest.mark.parametrize("rollout, line, what", [(STEP, 9, "analysis never ends on its own"),
                                                 (PAUSE, 15, "indefinite pause waits for a person")])
def test_import_says_where_a_person_is_assumed_to_promote(tmp_path, capsys, rollout, line, what):
    err, plan = _import(tmp_path, capsys, rollout)
    where = f"rollout.yaml:{line}: "
    printed = [note for note in err.splitlines() if where in note]
    assert len(printed) == 1 and what in printed[0] and "manual_promotion_after" in printed[0], err
    header = plan.split("\nname:")[0]
    assert where in header and what in header, header


def test_a_counted_step_analysis_and_timed_pauses_assume_nothing(tmp_path, capsys):
    counted = README_TEMPLATE.replace("    interval: 30s\n", "    interval: 30s\n    count: 4\n")
    (tmp_path / "t.yaml").write_text(counted)
    (tmp_path / "r.yaml").write_text(STEP.lstrip())
    assert main(["import", "argo", str(tmp_path / "t.yaml"), "--rollout", str(tmp_path / "r.yaml"),
                 "-o", str(tmp_path / "p.yaml")]) == 0
    assert "manual_promotion_after" not in capsys.readouterr().err


def test_the_rehearsal_does_not_call_an_assumed_promotion_the_gates_auto_advance(tmp_path, capsys):
    _import(tmp_path, capsys, STEP)
    out_dir = tmp_path / "out"
    main(["rehearse", str(tmp_path / "plan.yaml"), "--fault", "error-rate:canary:+10%@5m30s", "--seed", "0",
          "--out", str(out_dir)])
    out = capsys.readouterr().out
    assert "AUTO-ADVANCE" not in out and "every success criterion of the gate held" not in out, out
    assert "GO: ADVANCE TO ROLLOUT (100% TRAFFIC) BY AN ASSUMED MANUAL PROMOTION" in out
    assert "a person promoted past step 1" in out
    report = (out_dir / "report.md").read_text()
    assert "auto-advances" not in report and "rampsim assumed one promoted" in report


@pytest.mark.parametrize("pauses, promoted", [(2, True), (3, False)])
def test_a_rollout_of_weeks_is_followed_to_its_end_or_to_the_longest_ramp(tmp_path, capsys, pauses, promoted):
    """Timed pauses of 10 days each: two (20 days) are followed to the promotion, as any schedule within the 30 days a
    plan may last (beyond 15 days the import had said "never completes on its own" and cut the ramp an hour into
    the second pause); three (30 days and more) move on by themselves past the longest ramp, and the import says
    so, with the ramp its first 30 days."""
    steps = "".join(f"      - setWeight: {weight}\n      - pause: {{duration: 240h}}\n"
                    for weight in (10, 30, 50)[:pauses])
    rollout = README_ROLLOUT.split("      steps:\n")[0] + "      steps:\n" + steps
    err, plan = _import(tmp_path, capsys, rollout)
    header, phases = plan.split("\nname:")[0], plan.split("\nphases:\n")[1].split("\nfinal_gate:")[0]
    assert "never completes" not in err + plan
    if promoted:
        assert "fully promoted at 480h" in header and "promoted (slack for a late promotion)" in phases, header
        assert "3 phase(s) over 480h1m;" in err, err
    else:
        assert "moves on by itself but does not complete within 720h" in header, header
        assert "at: 720h" in plan and "promoted" not in phases and "3 phase(s) over 720h;" in err
