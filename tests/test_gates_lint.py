"""``rampsim lint``: the hazards of the real-gates README, found on the corpus files that have them, and none on
clean gates.

The README's counts (§1, "Semantic hazards found in Prometheus metrics", n = 63) were made on every Prometheus
metric, Helm charts included (their actions replaced by placeholders). rampsim refuses to lint an unrendered Helm
chart or a Kustomization patch (5 files), so its counts may be lower by the metrics of those files, and where a
condition errs on every vector (H1) it reports that and not the NaN hazard (H3a) the same metric would have had.
"""
from __future__ import annotations

import collections
import re
import textwrap
from pathlib import Path

import pytest

from rampsim.cli import main
from rampsim.gates.lint import lint_argo, lint_file, lint_flagger
from tests.gates_helpers import argo_gate, corpus, flagger_gate

README_COUNTS = {"H9": 45, "H2": 36, "H3a": 35, "H1": 9, "H3c": 5, "H5": 2, "H4": 2, "H6": 1, "H7": 1}
# at most this many fewer: the metrics of the Helm charts and the Kustomization rampsim refuses (CSU-ITMO,
# Canary-io, Macabrabits, evil-cloud, crmagz), and for H3a the ratio metrics whose condition is already H1
ALLOWED_SHORTFALL = {"H9": 4, "H2": 2, "H3a": 5, "H1": 1, "H3c": 2}

EXAMPLES = {  # one corpus file per hazard, the metric it concerns
    "H1": ("kunal-1207__zero-downtime-deploy__analysis__success-rate.yaml", "success-rate"),
    "H2": ("argoproj__rollouts-demo__examples__analysis__analysis-success-rate.yaml", "success-rate"),
    "H3a": ("aws-samples__amazon-eks-argo-rollouts__examples__canary__analysis_template.yaml", "success-rate"),
    "H3c": ("zainakhann__churn_mlops_project__k8s__analysis-template.yaml", "success-rate"),
    "H4": ("tal-hason__argo-rollouts-stuff__examples__bluegreen-w-analysisTemplate__base__analysistemplate.yaml",
           "success-rate"),
    "H5": ("OzKanoo__devops-with-kubernetes__exercises__part-4__4.04_analysis.yaml", "cpu-rate"),
    "H6": ("WHERE-ARE-YOU-GOING-DAENG-DAENG__WHERE_ARE_YOU_GOING_DAENG_DAENG_BE__k8s__analysis-template.yaml",
           "http-error-rate"),
    "H7": ("asainov1__Rag-node-k8s__k8s__analysis-template.yaml", "p95-latency"),
    "H9": ("mahergzam__harness-gitops-hydration__analysistemplate.yaml", "success-rate"),
}


def _prometheus_files() -> list[Path]:
    directory = corpus("argo")
    return sorted(p for p in directory.iterdir() if p.is_file() and re.search(r"^\s*prometheus:", p.read_text(), re.M))


def test_lint_finds_the_readme_hazards_on_the_corpus(capsys):
    counts: collections.Counter[str] = collections.Counter()
    for path in _prometheus_files():
        findings, _ = lint_file(path)
        counts.update(f.code for f in findings)
    with capsys.disabled():
        print("\nlint on the Argo corpus (rampsim / README): " +
              ", ".join(f"{code} {counts[code]}/{readme}" for code, readme in README_COUNTS.items()))
    for code, readme in README_COUNTS.items():
        assert readme - ALLOWED_SHORTFALL.get(code, 0) <= counts[code] <= readme, (code, counts[code], readme)


@pytest.mark.parametrize("code", sorted(EXAMPLES))
def test_each_hazard_on_a_file_that_has_it(code):
    name, metric = EXAMPLES[code]
    path = corpus("argo") / name
    findings, problems = lint_file(path)
    assert not problems
    hits = [f for f in findings if f.code == code and (metric is None or f.subject == f"metric {metric!r}")]
    assert hits, [f.format() for f in findings]
    assert all(f.line and f.file == str(path) for f in hits)
    assert "→" in hits[0].format()


def test_h1_names_the_abort_timing():
    path = corpus("argo") / EXAMPLES["H1"][0]
    h1 = next(f for f in lint_file(path)[0] if f.code == "H1")
    assert "aborts after 5 consecutive errors, about 40 s after the first" in h1.behaviour


CLEAN_ARGO = [
    """
    apiVersion: argoproj.io/v1alpha1
    kind: AnalysisTemplate
    metadata: {name: errors}
    spec:
      metrics:
      - name: error-ratio
        interval: 30s
        count: 10
        failureLimit: 1
        failureCondition: result[0] > 0.01
        provider:
          prometheus:
            query: |
              (sum(rate(http_requests_total{code=~"5.."}[30s])) / sum(rate(http_requests_total[30s]))) or vector(0)
    """,
    """
    apiVersion: argoproj.io/v1alpha1
    kind: AnalysisTemplate
    metadata: {name: latency}
    spec:
      args: [{name: service, value: web}]
      metrics:
      - name: p99
        interval: 1m
        successCondition: len(result) == 0 || result[0] < 0.5
        provider:
          prometheus:
            query: histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket{service="{{args.service}}"}[1m])) by (le))
    """,
    """
    apiVersion: argoproj.io/v1alpha1
    kind: AnalysisTemplate
    metadata: {name: restarts}
    spec:
      metrics:
      - name: restarts
        interval: 2m
        successCondition: result == 0
        provider:
          prometheus:
            query: scalar(sum(increase(kube_pod_container_status_restarts_total[2m])))
    """,
]


@pytest.mark.parametrize("text", CLEAN_ARGO)
def test_nothing_on_clean_argo_gates(text):
    assert lint_argo(argo_gate(text)) == []


def test_nothing_on_a_clean_flagger_canary_and_its_hazards_otherwise():
    clean = """
    apiVersion: flagger.app/v1beta1
    kind: Canary
    metadata: {name: podinfo, namespace: test}
    spec:
      provider: linkerd
      targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
      analysis:
        interval: 1m
        threshold: 5
        maxWeight: 50
        stepWeight: 10
        metrics:
        - {name: request-success-rate, thresholdRange: {min: 99}, interval: 1m}
        - {name: request-duration, thresholdRange: {max: 500}, interval: 30s}
    """
    assert lint_flagger(flagger_gate(clean)) == []
    hazardous = clean.replace("thresholdRange: {min: 99}, interval: 1m", "thresholdRange: {min: 0.99}, interval: 5m") \
                     .replace("{name: request-duration, thresholdRange: {max: 500}, interval: 30s}",
                              "{name: istio_requests_total, threshold: 99}")
    codes = sorted(f.code for f in lint_flagger(flagger_gate(hazardous)))
    assert codes == ["FH2", "FH6", "FH9"]


def test_cli_lint_prints_one_line_per_hazard(tmp_path, capsys):
    gate = tmp_path / "gate.yaml"
    gate.write_text(textwrap.dedent("""
    apiVersion: argoproj.io/v1alpha1
    kind: AnalysisTemplate
    metadata: {name: success-rate}
    spec:
      metrics:
      - name: success-rate
        interval: 30s
        successCondition: result >= 0.95
        provider:
          prometheus:
            query: sum(rate(ok_total[5m])) / sum(rate(all_total[5m]))
    """))
    assert main(["lint", str(gate)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{gate}:9: H1 metric 'success-rate':")
    assert any(line.startswith(f"{gate}:8: H9") for line in out)
    clean = tmp_path / "clean.yaml"
    clean.write_text(textwrap.dedent(CLEAN_ARGO[0]))
    assert main(["lint", str(clean)]) == 0


# -- consequences measured on healthy simulated ramps ------------------------------------------------------------

BARE_RESULT = """
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  metrics:
  - name: success-rate
    interval: 30s
    successCondition: result >= 0.95
    provider:
      prometheus:
        query: sum(rate(http_requests_total{code!~"5.."}[1m])) / sum(rate(http_requests_total[1m]))
"""


def test_lint_measures_that_a_bare_result_gate_aborts_every_healthy_rehearsal_40_s_in(tmp_path, capsys):
    # Argo (analysis.go): the condition fails to compile on a []float64, so every measurement is Error; an Error is
    # retried after 10 s (DefaultErrorRetryInterval) and the 5th in a row exceeds consecutiveErrorLimit (4): the run is
    # Error and the rollout aborts at 0, 10, 20, 30, 40 s -> 40 s, on every healthy ramp.
    gate = tmp_path / "gate.yaml"
    gate.write_text(BARE_RESULT)
    assert main(["lint", str(gate), "--seeds", "3"]) == 1
    captured = capsys.readouterr()
    h1 = next(line for line in captured.out.splitlines() if " H1 " in line)
    assert h1.startswith(f"{gate}:9: H1 metric 'success-rate':")
    assert h1.endswith("; on 3 healthy simulated ramps: aborts 3 of 3 (100%) at ~40s, after 5 Error measurements")
    assert "on 3 healthy simulated ramps the gate aborts 3 at ~40s" in captured.err
    h9 = next(line for line in captured.out.splitlines() if " H9 " in line)
    assert "healthy simulated" not in h9  # overlapping windows stop no healthy release: nothing to measure


def test_lint_no_simulate_reads_the_files_only(tmp_path, capsys):
    gate = tmp_path / "gate.yaml"
    gate.write_text(BARE_RESULT)
    assert main(["lint", str(gate), "--no-simulate"]) == 1
    captured = capsys.readouterr()
    assert "healthy simulated" not in captured.out + captured.err
    assert " H1 " in captured.out


def test_a_hazard_that_stops_no_healthy_ramp_says_so(tmp_path):
    from rampsim.experiment.lint_rehearsals import consequence, rehearse_healthy
    from rampsim.gates.lint import lint_gates

    # H2 (an empty vector would be an Error) and H3a (NaN, no traffic in the window, would be Failed): a healthy
    # simulated ramp has traffic and its series from the start, so neither stops it and the gate promotes
    gate = tmp_path / "gate.yaml"
    gate.write_text(BARE_RESULT.replace("result >= 0.95", "result[0] >= 0.95"))
    (linted,), problems = lint_gates(gate)
    assert not problems
    assert [f.code for f in linted.findings] == ["H2", "H3a", "H9"]
    rehearsed = rehearse_healthy(linted, seeds=2)
    expected = "on 2 healthy simulated ramps: stopped none (the gate promotes 2 of 2)"
    assert [consequence(f, rehearsed) for f in linted.findings] == [expected, expected, ""]


def test_every_outcome_hazard_has_a_measurable_cause():
    from rampsim.experiment.lint_rehearsals import CAUSES
    from rampsim.gates.lint import CODES, OUTCOME_CODES

    assert set(CAUSES) == set(OUTCOME_CODES) and set(OUTCOME_CODES) <= set(CODES)


def test_a_rollout_file_serves_the_templates_and_a_long_ramp_is_cut(tmp_path, capsys):
    from rampsim.experiment.lint_rehearsals import rehearse_healthy
    from rampsim.gates.lint import lint_gates
    from tests.test_gates_simulated import ROLLOUT, SUCCESS_RATE

    template, rollout = tmp_path / "template.yaml", tmp_path / "rollout.yaml"
    template.write_text(SUCCESS_RATE)
    rollout.write_text(ROLLOUT)
    assert main(["lint", str(template), str(rollout), "--seeds", "1"]) == 1   # H9: a [1m] window, a 30s interval
    err = capsys.readouterr().err
    assert "not linted" not in err and "problem(s) stopped linting" not in err
    (linted,), _ = lint_gates(template, [rollout])
    rehearsed = rehearse_healthy(linted, seeds=2, max_duration=600)   # the Rollout's 30 minutes, cut at 10
    assert rehearsed.cut and rehearsed.duration == 600
    assert rehearsed.summary() == "on 2 healthy simulated ramps the gate leaves 2 undecided after the 10m simulated"
