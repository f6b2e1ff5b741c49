"""A review's gate findings: what import, validate, sweep, lint and export let through that Argo or Flagger refuses.

Two Argo metrics of one name (one silently dropped, and by ``export --onto`` from the team's file), a zero interval
refused by import but taken from a plan or a grid, templates in separate files lint could not pair with their
Rollout, ``successCondition: ""`` read as a condition expr cannot compile, and a Flagger Canary that never shifts
traffic imported into a plan validate refuses.
"""
from __future__ import annotations

import textwrap

import pytest

from rampsim.cli import main
from rampsim.gates.argo_model import ArgoGate
from rampsim.gates.export import argo_documents, onto_text
from rampsim.gates.lint import lint_gates
from rampsim.gates.manifests import parse_manifests
from tests.gates_helpers import PODINFO_CANARY, argo_gate, corpus

METRIC = """\
  - name: success-rate
    interval: 30s
    failureLimit: 1
    successCondition: result[0] >= 0.95
    provider:
      prometheus:
        query: |
          sum(rate(http_requests_total{service="{{args.service-name}}",code!~"5.."}[1m]))
          / sum(rate(http_requests_total{service="{{args.service-name}}"}[1m]))
"""
TEMPLATE = """\
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: %s}
spec:
  args: [{name: service-name}]
  metrics:
""" + METRIC
ROLLOUT = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: checkout}
spec:
  strategy:
    canary:
      analysis:
        templates: %s
        args:
        - {name: service-name, value: checkout}
      steps:
      - setWeight: 10
      - pause: {duration: 5m}
"""


def _write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_two_metrics_of_one_name_in_a_template_are_refused_at_the_second(tmp_path, capsys):
    """Import kept one and said nothing (Argo's ValidateMetrics: 'duplicate name'; every run Error at its start)."""
    twice = (TEMPLATE % "success-rate").replace("  metrics:\n", "  metrics:\n  - name: success-rate\n"
                                                "    successCondition: 'true'\n"
                                                "    provider: {prometheus: {query: 'vector(1)'}}\n")
    template = _write(tmp_path, "t.yaml", twice)
    rollout = _write(tmp_path, "r.yaml", ROLLOUT % "[{templateName: success-rate}]")
    assert main(["import", "argo", template, "--rollout", rollout, "-o", str(tmp_path / "p.yaml")]) == 3
    err = capsys.readouterr().err
    assert f"{template}:10: spec.metrics.1.name: metric 'success-rate': a second metric named 'success-rate'" in err
    assert "duplicate name" in err and not (tmp_path / "p.yaml").exists()
    # a plan's argo: section holding two is refused as well
    gate = argo_gate(TEMPLATE % "success-rate", rollout=ROLLOUT % "[{templateName: success-rate}]")
    (metric,) = gate.metrics.values()
    with pytest.raises(ValueError, match="a second metric named 'success-rate' in template 'success-rate'"):
        written = metric.model_dump(exclude_none=True)
        ArgoGate.model_validate({**gate.model_dump(exclude_none=True), "metrics": {"a": written, "b": written}})


def test_two_templates_of_one_run_with_a_metric_of_one_name_are_said_by_import_and_lint(tmp_path, capsys):
    """The run is Error at its start (already rehearsed so); import said nothing, and lint found no hazard."""
    first = _write(tmp_path, "a.yaml", TEMPLATE % "success-rate")
    second = _write(tmp_path, "b.yaml", TEMPLATE % "tmpl-b")
    rollout = _write(tmp_path, "r.yaml", ROLLOUT % "[{templateName: success-rate}, {templateName: tmpl-b}]")
    assert main(["import", "argo", first, second, "--rollout", rollout, "-o", str(tmp_path / "p.yaml")]) == 0
    err = capsys.readouterr().err
    assert (f"note: {second}:7: spec.metrics.0.name: metric 'success-rate' of template 'tmpl-b': the analysis "
            f"background runs another metric of that name") in err and "Error at its start" in err
    both = _write(tmp_path, "both.yaml", (TEMPLATE % "success-rate") + "---\n" + (TEMPLATE % "tmpl-b"))
    (linted,), problems = lint_gates(both, [rollout])
    assert not problems
    (h8,) = [f for f in linted.findings if f.code == "H8"]
    assert (h8.file, h8.line) == (both, 23) and "template 'tmpl-b' has a metric named 'success-rate'" in h8.explanation


def test_export_onto_never_removes_a_metric_of_the_teams_file():
    """A plan with one metric written onto a template with two of that name (or one the plan lacks) deleted the
    others."""
    gate = argo_gate(TEMPLATE % "success-rate", rollout=ROLLOUT % "[{templateName: success-rate}]")
    team = (TEMPLATE % "success-rate") + METRIC.replace("0.95", "0.9") + METRIC.replace("success-rate", "extra")
    text, notes = onto_text(argo_documents(gate), parse_manifests(team, "t.yaml"))
    written = parse_manifests(text, "out.yaml")[0].get("spec", "metrics")
    assert [m["name"] for m in written] == ["success-rate", "success-rate", "extra"]
    assert written[1]["successCondition"] == "result[0] >= 0.9"
    kept = [note for note in notes if "kept as the file writes it" in note]
    assert len(kept) == 2 and any("metric 'extra'" in note for note in kept)


def test_a_zero_interval_is_refused_in_a_plan_and_a_grid_as_import_refuses_it(tmp_path, capsys):
    """Import refused 'interval: 0s'; a plan's argo: section and a sweep's grid took it, every healthy ramp was rolled
    back, the sweep recommended it and export wrote a file import refuses."""
    template = _write(tmp_path, "t.yaml", TEMPLATE % "success-rate")
    rollout = _write(tmp_path, "r.yaml", ROLLOUT % "[{templateName: success-rate}]")
    plan = tmp_path / "p.yaml"
    assert main(["import", "argo", template, "--rollout", rollout, "-o", str(plan)]) == 0
    capsys.readouterr()
    text = plan.read_text()
    assert text.count("interval: 30s") == 1
    zero = tmp_path / "zero.yaml"
    zero.write_text(text.replace("interval: 30s", "interval: 0s"))
    line = zero.read_text().splitlines().index("      interval: 0s") + 1
    assert main(["validate", str(zero)]) == 3
    err = capsys.readouterr().err
    assert f"{zero}:{line}: argo.metrics.success-rate.interval: " in err and "interval '0s' is zero" in err
    assert main(["sweep", str(plan), "--grid", "argo.metrics.success-rate.interval=0s,30s", "--replicates", "2",
                 "--workers", "1", "--no-progress", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "argo.metrics.success-rate.interval=0s" in err and "interval '0s' is zero" in err


def test_lint_pairs_a_rollout_with_templates_in_separate_files(capsys):
    """Import took the three files; lint stopped at 'the background analysis uses template 'success-rate', not among
    the imported files'. Each template's hazards are reported once, by its own file."""
    argo = corpus("argo")
    files = [str(argo / "kunal-1207__zero-downtime-deploy__analysis__latency.yaml"),
             str(argo / "kunal-1207__zero-downtime-deploy__analysis__success-rate.yaml"),
             str(argo / "rollouts" / "kunal-1207__zero-downtime-deploy__manifests__rollout.yaml")]
    assert main(["lint", "--no-simulate", *files]) == 1
    captured = capsys.readouterr()
    assert "not linted" not in captured.err
    lines = captured.out.splitlines()
    assert len(lines) == len(set(lines)) == 4
    assert sum(line.startswith(files[0]) for line in lines) == sum(line.startswith(files[1]) for line in lines) == 2
    assert not any(files[1] in note for note in captured.err.splitlines() if note.startswith(f"note: {files[0]}"))


def test_an_empty_condition_is_no_condition(tmp_path, capsys):
    """Argo's EvaluateResult reads "" as unset (every measurement Successful): import said expr cannot compile it."""
    template = _write(tmp_path, "t.yaml", (TEMPLATE % "success-rate").replace("result[0] >= 0.95", '""'))
    assert main(["import", "argo", template, "-o", str(tmp_path / "p.yaml")]) == 0
    assert "cannot compile" not in capsys.readouterr().err
    (linted,), _ = lint_gates(template)
    assert [f.code for f in linted.findings if f.code.startswith("H5")] == ["H5"]


def test_a_flagger_canary_that_never_shifts_traffic_is_refused_where_it_is_written(tmp_path, capsys):
    """'stepWeight: 0' imported (exit 0) into a plan validate and rehearse refused; a plan or a grid setting it is
    refused too."""
    canary = _write(tmp_path, "c.yaml", PODINFO_CANARY.replace("stepWeight: 10", "stepWeight: 0"))
    assert main(["import", "flagger", canary, "-o", str(tmp_path / "p.yaml")]) == 3
    assert f"{canary}:11: spec.analysis.stepWeight: refused: stepWeight 0 and no stepWeights" in capsys.readouterr().err
    good = _write(tmp_path, "good.yaml", PODINFO_CANARY)
    plan = tmp_path / "p.yaml"
    assert main(["import", "flagger", good, "-o", str(plan)]) == 0
    capsys.readouterr()
    zero = tmp_path / "zero.yaml"
    zero.write_text(plan.read_text().replace("stepWeight: 10", "stepWeight: 0"))
    assert main(["validate", str(zero)]) == 3
    assert "flagger.analysis.stepWeight: stepWeight 0 and no stepWeights" in capsys.readouterr().err
    assert main(["sweep", str(plan), "--grid", "flagger.analysis.stepWeight=0,10", "--replicates", "2",
                 "--workers", "1", "--no-progress", "--out", str(tmp_path / "out")]) == 2
    assert "flagger.analysis.stepWeight=0" in capsys.readouterr().err
