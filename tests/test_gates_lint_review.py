"""``rampsim lint`` review findings: what it missed, what it invented, and its exit code.

Each reproduced from the review: a Rollout that runs none of the templates (its analysis commented out) linted as
if an invented background analysis gated the release; an arg the Rollout never supplies unreported; every metric
in dryRun and ``skipAnalysis: true`` unreported; H1/H2 blind to ``consecutiveErrorLimit``; H9 on a metric measured
once; exit 0 when a file named could not be read or linted.
"""
from __future__ import annotations

import textwrap

import pytest

from rampsim.cli import main
from rampsim.gates.lint import lint_argo, lint_gates
from tests.gates_helpers import PODINFO_CANARY, argo_gate, corpus

TEMPLATE = """\
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  args:
  - name: service-name
  metrics:
  - name: success-rate
    interval: 30s
    count: 4
    failureLimit: 1
    successCondition: len(result) == 0 || isNaN(result[0]) || result[0] >= 0.95
    provider:
      prometheus:
        query: |
          sum(rate(http_requests_total{service="{{args.service-name}}",code!~"5.."}[30s]))
          / sum(rate(http_requests_total{service="{{args.service-name}}"}[30s]))
"""
ROLLOUT = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: checkout}
spec:
  strategy:
    canary:
      steps:
      - setWeight: 20
      - analysis:
          templates:
          - templateName: success-rate
          args:
          - name: service-name
            value: checkout
      - setWeight: 50
      - pause: {duration: 1m}
"""


def _write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


@pytest.mark.parametrize("pair", [
    ("cmwylie19__test-argo-rollouts__k8s__analysis.yaml", "cmwylie19__test-argo-rollouts__k8s__rollout-canary.yaml"),
    ("AliyunContainerService__gitops-demo__analysis.yaml", "AliyunContainerService__gitops-demo__rollout.yaml"),
])
def test_a_rollout_that_runs_none_of_the_templates_gates_nothing(pair, capsys):
    """Review: 'H2 ... on 5 healthy simulated ramps: aborts 5 of 5' for a Rollout whose analysis is commented out; in
    a cluster no AnalysisRun is created."""
    template, rollout = corpus("argo") / pair[0], corpus("argo") / "rollouts" / pair[1]
    (linted,), problems = lint_gates(template, [rollout])
    assert not problems and linted.unsimulated
    first = linted.findings[0]
    assert first.code == "H5r" and first.file == str(rollout) and first.line
    assert "nothing here gates the release" in first.behaviour
    assert not any("no Rollout given" in note for note in linted.imported)
    assert main(["lint", "--seeds", "1", str(template), str(rollout)]) == 1
    captured = capsys.readouterr()
    assert "healthy simulated ramps" not in captured.out + captured.err
    assert "not simulated: the Rollout given runs none of the templates" in captured.err
    assert "note: " in captured.err   # what import assumed reading the gate


def test_a_rollout_in_the_file_that_runs_none_of_its_templates(tmp_path):
    idle = ROLLOUT.replace("templateName: success-rate", "templateName: other")
    path = _write(tmp_path, "gate.yaml", TEMPLATE + "---\n" + idle.replace("analysis:\n          templates:", "x: 1\n"
                                                                           "      - analysis:\n          templates:"))
    (linted,), problems = lint_gates(path)
    assert not problems and [f.code for f in linted.findings] == ["H5r"]
    served = _write(tmp_path, "served.yaml", TEMPLATE + "---\n" + ROLLOUT)
    (linted,), problems = lint_gates(served)
    assert not problems and linted.findings == () and not linted.unsimulated
    other = _write(tmp_path, "other.yaml", ROLLOUT.replace("templateName: success-rate", "templateName: x"))
    (linted,), problems = lint_gates(served, [other])   # the file's own Rollout runs its template
    assert not problems and linted.findings == () and not linted.unsimulated


def test_an_arg_the_rollout_never_supplies_aborts_every_run(tmp_path):
    """Review: only H3a; import knew "arg 'service-name' has no value (Argo would fail the run)"."""
    from rampsim.experiment.lint_rehearsals import consequence, rehearse_healthy

    template = _write(tmp_path, "template.yaml", TEMPLATE)
    rollout = _write(tmp_path, "rollout.yaml", ROLLOUT.replace(
        "          args:\n          - name: service-name\n            value: checkout\n", ""))
    (linted,), problems = lint_gates(template, [rollout])
    assert not problems
    (h8,) = [f for f in linted.findings if f.code == "H8"]
    assert h8.file == rollout and h8.line == 9 and h8.subject == "arg 'service-name'"
    assert "args.service-name was not resolved" in h8.explanation and "rollout aborts" in h8.behaviour
    assert linted.gate.args == {} and linted.gate.placeholders == []   # rehearsed as Argo runs it
    assert consequence(h8, rehearse_healthy(linted, seeds=1)).startswith("on 1 healthy simulated ramp: aborts 1 of 1")
    (alone,), _ = lint_gates(template)     # no Rollout given: whoever deploys supplies it, nothing to say
    assert not [f for f in alone.findings if f.code == "H8"]


def test_every_metric_in_dry_run_and_skip_analysis_are_hazards(tmp_path):
    """Review: both switches that turn a whole gate off gave '0 hazard(s)'."""
    dry = TEMPLATE.replace("spec:\n", "spec:\n  dryRun:\n  - metricName: .*\n", 1)
    (linted,), _ = lint_gates(_write(tmp_path, "dry.yaml", dry))
    (h5d,) = [f for f in linted.findings if f.code == "H5d"]
    assert h5d.line == 5 and "every metric it runs (success-rate) is in dryRun" in h5d.explanation
    assert "can never fail" in h5d.behaviour
    partly = TEMPLATE.replace("spec:\n", "spec:\n  dryRun:\n  - metricName: other\n", 1)
    assert not [f for f in lint_argo(argo_gate(partly + "\n")) if f.code == "H5d"]   # H8: the rule matches none
    canary = _write(tmp_path, "canary.yaml", PODINFO_CANARY.replace("  service:", "  skipAnalysis: true\n  service:"))
    (linted,), _ = lint_gates(canary)
    assert [(f.code, f.line) for f in linted.findings] == [("FH1", 6)]
    assert main(["lint", "--no-simulate", canary.replace("canary.yaml", "dry.yaml"), canary]) == 1


@pytest.mark.parametrize("limit, h1, h2", [
    (None, "aborts after 5 consecutive errors, about 40 s after the first", "5 in a row abort the rollout"),
    ("1", "aborts after 2 consecutive errors, about 10 s after the first (consecutiveErrorLimit 1)",
     "2 in a row abort the rollout (consecutiveErrorLimit 1)"),
    ("10", "aborts after 11 consecutive errors, about 100 s after the first (consecutiveErrorLimit 10)",
     "11 in a row abort the rollout (consecutiveErrorLimit 10)"),
    ("0", "aborts at the first (consecutiveErrorLimit 0)", "the first aborts the rollout (consecutiveErrorLimit 0)"),
])
def test_error_hazards_count_the_metrics_consecutive_error_limit(limit, h1, h2):
    written = f"    consecutiveErrorLimit: {limit}\n" if limit else ""
    base = TEMPLATE.replace("    failureLimit: 1\n", "    failureLimit: 1\n" + written)
    bare = base.replace("len(result) == 0 || isNaN(result[0]) || result[0]", "result")
    (finding,) = [f for f in lint_argo(argo_gate(bare)) if f.code == "H1"]
    assert finding.behaviour.endswith(h1), finding.behaviour
    (finding,) = [f for f in lint_argo(argo_gate(base.replace("len(result) == 0 || ", ""))) if f.code == "H2"]
    assert finding.behaviour.endswith(h2), finding.behaviour


def test_no_overlap_for_a_metric_measured_once():
    """Review: H9 'consecutive measurements overlap' when count resolves to 1."""
    longer = TEMPLATE.replace("[30s]", "[2m]")
    assert [f.code for f in lint_argo(argo_gate(longer))] == ["H9"]
    assert lint_argo(argo_gate(longer.replace("count: 4", "count: 1").replace("failureLimit: 1", "failureLimit: 0")))\
        == []


def test_a_file_that_cannot_be_read_or_linted_is_not_a_clean_exit(tmp_path, capsys):
    """Review: 'not linted: ... No such file', '0 hazard(s) in 2 file(s)', exit 0 beside a clean file."""
    clean = _write(tmp_path, "clean.yaml", TEMPLATE + "---\n" + ROLLOUT)
    assert main(["lint", "--no-simulate", clean]) == 0
    assert main(["lint", "--no-simulate", clean, str(tmp_path / "typo.yaml")]) == 2
    assert "not linted: " in capsys.readouterr().err
    broken = _write(tmp_path, "broken.yaml", "kind: [\n")
    assert main(["lint", "--no-simulate", clean, broken]) == 3
    web = _write(tmp_path, "web.yaml", TEMPLATE.replace("prometheus:\n        query: |\n", "web:\n        url: |\n"))
    assert main(["lint", "--no-simulate", clean, web]) == 3   # refused: no metric rampsim can lint
    assert main(["lint", "--no-simulate", str(tmp_path)]) == 2   # a directory is not a file


def test_hazards_outrank_an_unlintable_file_and_other_kinds_are_skipped_in_a_glob(tmp_path, capsys):
    """Final review: a Deployment beside a hazardous gate turned exit 1 into 3, and `lint k8s/*.yaml` of a clean
    gate beside any non-gate file was exit 3."""
    clean = _write(tmp_path, "clean.yaml", TEMPLATE + "---\n" + ROLLOUT)
    hazardous = _write(tmp_path, "hazard.yaml", TEMPLATE.replace("[30s]", "[2m]"))
    deployment = _write(tmp_path, "deploy.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: app}\n")
    broken = _write(tmp_path, "broken.yaml", "kind: [\n")
    assert main(["lint", "--no-simulate", clean, deployment]) == 0
    assert main(["lint", "--no-simulate", clean, _write(tmp_path, "empty.yaml", "# nothing\n")]) == 0
    assert main(["lint", "--no-simulate", hazardous, deployment]) == 1
    assert main(["lint", "--no-simulate", hazardous, broken]) == 1
    assert main(["lint", "--no-simulate", deployment]) == 3
    assert main(["lint", "--no-simulate", deployment, _write(tmp_path, "svc.yaml", "kind: Service\n")]) == 3
    assert "no AnalysisTemplate or Canary to lint" in capsys.readouterr().err
