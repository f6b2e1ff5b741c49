"""``rampsim lint``: the hazards of the real-gates README, found on the corpus files that have them, and none on
clean gates.

The README's counts (§1, "Semantic hazards found in Prometheus metrics", n = 63) were made on every Prometheus
metric of the 57 files, Helm charts included (their actions replaced by placeholders) and the Kustomization
patch's metric, by matching patterns. rampsim lints the same 63 metrics (the Helm charts read leniently, the patch's
AnalysisTemplate metric) by running Argo's semantics, so its counts differ from the README's exactly where the
two readings disagree, each difference listed in ``DIFFERENCES`` and checked metric by metric:

* a metric rampsim reports under another code: a bare ``result >= N`` is H1 (expr refuses it, every measurement
  is Error) and NaN never reaches the condition, so not H3a/H3c; ``result < args.threshold`` is H7 (the unknown
  name ``args`` is why it errs), not H1; a query Prometheus rejects (``sum`` of a range vector) is HQ, not
  H2/H3a/H9;
* an unguarded ``result[0]`` the README's pattern missed (H2): a guard written after the index
  (``result[0] >= 0.90 || len(result) == 0`` evaluates ``result[0]`` first) and ``or vector(0)`` on the
  numerator only (the denominator is still empty);
* what a Helm chart's values decide: the README counted one of the two metrics whose conditions (H3c) and
  interval or query (H9) are Helm values; rampsim reports neither (undetermined: never a false hazard);
* a window longer than the interval of a metric measured once (``count: 1``): no two measurements overlap (not H9).

Beyond the README's codes, rampsim finds one failure condition every value of its query meets (H5a:
``len(result) > 0 && result[0] > -1.00`` on the sum of a counter, in Q42-KoraD/GitOps), checked by name.
"""
from __future__ import annotations

import collections
import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rampsim.cli import main
from rampsim.gates.lint import lint_argo, lint_file, lint_flagger, lint_gates, lint_text
from rampsim.gates.unrendered import HELM_NOTE, blank_helm_actions
from tests.conftest import examples
from tests.gates_helpers import argo_gate, corpus, flagger_gate

README_COUNTS = {"H9": 45, "H2": 36, "H3a": 35, "H1": 9, "H3c": 5, "H5": 2, "H4": 2, "H6": 1, "H7": 1}

HELM_DECIDED = ("CSU-ITMO-2025-2__demo-app-helm__templates__analysis-template.yaml",
                "evil-cloud__resillience-poc-service-c-k8s__templates__analysis-template.yaml")
"""The two Helm charts whose metric's conditions, and interval or query, are values of the chart."""
DIFFERENCES = [  # (code, +1 rampsim reports it / -1 the README counted it, file, metric, what rampsim reports instead)
    ("H1", -1, "asainov1__Rag-node-k8s__k8s__analysis-template.yaml", "p95-latency", "H7"),
    ("H3a", -1, "Vikas-Prince__test-ops__base__analysis-template.yaml", "success-rate", "H1"),
    ("H3a", -1, "rmiguelito__argocd-canary-demo__manifests__analysis-template.yaml", "success-rate", "H1"),
    ("H3c", -1, "kunal-1207__zero-downtime-deploy__analysis__success-rate.yaml", "success-rate", "H1"),
    ("H3a", -1, "xlp67__rollouts__analysistemplate.yaml", "success-rate", "HQ"),
    ("H2", -1, "xlp67__rollouts__analysistemplate.yaml", "success-rate", "HQ"),
    ("H9", -1, "xlp67__rollouts__analysistemplate.yaml", "success-rate", "HQ"),
    ("H2", +1, "aws-samples__amazon-eks-argo-rollouts__examples__canary__analysis_template.yaml", "success-rate",
     None),
    ("H2", +1, "inno-devops-labs__SRE-Intro__labs__lab7__analysis-template.yaml", "error-rate", None),
    ("H3c", -1, None, None, None),   # one of HELM_DECIDED
    ("H9", -1, None, None, None),    # one of HELM_DECIDED
    ("H9", -1, "Malikakshay619__advanced-cicd-demo__manifests__analysis-template.yaml", "nginx-5xx-errors", None),
    # its denominator is clamp_min(sum(rate(...)), 0.001): never 0, so no 0/0 (a review found H3a reported)
    ("H3a", -1, "Danindu05__duothan-gitops__manifests__analysis-template.yaml", "error-rate", None),
]

EXAMPLES = {  # one corpus file per hazard, the metric it concerns
    "H1": ("kunal-1207__zero-downtime-deploy__analysis__success-rate.yaml", "success-rate"),
    "H2": ("argoproj__rollouts-demo__examples__analysis__analysis-success-rate.yaml", "success-rate"),
    "H3a": ("aws-samples__amazon-eks-argo-rollouts__examples__canary__analysis_template.yaml", "success-rate"),
    "H3c": ("zainakhann__churn_mlops_project__k8s__analysis-template.yaml", "success-rate"),
    "H4": ("tal-hason__argo-rollouts-stuff__examples__bluegreen-w-analysisTemplate__base__analysistemplate.yaml",
           "success-rate"),
    "H5": ("OzKanoo__devops-with-kubernetes__exercises__part-4__4.04_analysis.yaml", "cpu-rate"),
    "H5a": ("Q42-KoraD__GitOps__analysis.yaml", "success-rate"),   # not in the README: result[0] > -1 on a counter
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
    by_metric: dict[tuple[str, str], set[str]] = collections.defaultdict(set)
    files = _prometheus_files()
    for path in files:
        findings, problems = lint_file(path)
        assert not problems, problems   # every file is linted: Helm charts and the Kustomization patch too
        counts.update(f.code for f in findings)
        for f in findings:
            by_metric[(path.name, f.metric or "")].add(f.code)
    expected = {code: readme + sum(sign for c, sign, *_ in DIFFERENCES if c == code)
                for code, readme in README_COUNTS.items()}
    with capsys.disabled():
        print(f"\nlint on the {len(files)} Argo corpus files with a Prometheus metric (rampsim / README): " +
              ", ".join(f"{code} {counts[code]}/{readme}" for code, readme in README_COUNTS.items()))
    assert len(files) == 57
    for code, sign, name, metric, instead in DIFFERENCES:
        if name is None:
            assert not any(code in codes for (file, _), codes in by_metric.items() if file in HELM_DECIDED), code
            continue
        codes = by_metric[(name, metric)]
        assert (code in codes) == (sign > 0) and (instead is None or instead in codes), (code, name, codes)
    assert {code: counts[code] for code in README_COUNTS} == expected
    # beyond the README: one failure condition every value of its query meets (result[0] > -1 on a counter)
    assert [key for key, codes in by_metric.items() if "H5a" in codes] == [EXAMPLES["H5a"]]


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


CANARY = """
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
"""


def canary(*metrics: str) -> str:
    """:data:`CANARY` with ``metrics``, one flow mapping each."""
    return CANARY + "".join(f"    - {metric}\n" for metric in metrics)


def test_nothing_on_a_clean_flagger_canary_and_its_hazards_otherwise():
    clean = canary("{name: request-success-rate, thresholdRange: {min: 99}, interval: 1m}",
                   "{name: request-duration, thresholdRange: {max: 500}, interval: 30s}")
    assert lint_flagger(flagger_gate(clean)) == []
    hazardous = clean.replace("thresholdRange: {min: 99}, interval: 1m", "thresholdRange: {min: 0.99}, interval: 5m") \
                     .replace("{name: request-duration, thresholdRange: {max: 500}, interval: 30s}",
                              "{name: istio_requests_total, threshold: 99}")
    codes = sorted(f.code for f in lint_flagger(flagger_gate(hazardous)))
    assert codes == ["FH2", "FH6", "FH9"]


@pytest.mark.parametrize("metric, code", [
    ("{name: request-success-rate, thresholdRange: {}, interval: 1m}", "FH7"),
    ("{name: request-success-rate, interval: 1m}", "FH7"),
    ("{name: request-success-rate, thresholdRange: {min: 99, max: 1}, interval: 1m}", "FH8"),
    ("{name: errors, interval: 1m, query: 'sum(rate(http_requests_total{code=~\"5..\"}[1m]))'}", "FH3"),
    # a review found these silent: the legacy threshold as a fraction, a limit that wraps a Go Duration
    ("{name: request-success-rate, threshold: 0.99, interval: 1m}", "FH6"),
    ("{name: request-duration, thresholdRange: {max: 1e13}, interval: 1m}", "FH8"),
])
def test_a_flagger_check_that_can_never_fail_or_always_fails_is_a_hazard(metric, code):
    assert [f.code for f in lint_flagger(flagger_gate(canary(metric)))] == [code]


@pytest.mark.parametrize("query, words", [
    ('sum(rate(http_requests_total{app="{{ variables.workload }}"}[{{ interval }}]))', "does not render"),
    ('sum(rate(http_requests_total{app="{{ target }}"}[{{ interval }}])', "Prometheus rejects the template's query"),
])
def test_a_template_that_fails_every_check_is_a_hazard(query, words):
    """A review found lint clean (exit 0) on templates import said fail every tick."""
    template = ("\n---\napiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata: {name: errs, namespace: test}\n"
                f"spec:\n  provider: {{type: prometheus, address: 'http://p:9090'}}\n  query: '{query}'\n")
    gate = flagger_gate(canary("{name: errs, templateRef: {name: errs}, thresholdRange: {max: 1}, interval: 1m}")
                        + template)
    (finding,) = lint_flagger(gate)
    assert finding.code == "FH11" and words in finding.explanation


def test_an_argo_failure_limit_of_minus_one_is_a_hazard():
    text = CLEAN_ARGO[0].replace("failureLimit: 1", "failureLimit: -1")
    (finding,) = lint_argo(argo_gate(text))
    assert finding.code == "H5f" and "can never fail" in finding.behaviour
    assert lint_argo(argo_gate(CLEAN_ARGO[0].replace("failureLimit: 1", "failureLimit: 0"))) == []


def test_a_failure_limit_as_large_as_the_count_is_a_hazard():
    """A review found `count: 3, failureLimit: 3` unflagged: failing needs more than 3 of at most 3 measurements."""
    text = CLEAN_ARGO[0].replace("count: 10", "count: 3").replace("failureLimit: 1", "failureLimit: 3")
    (finding,) = lint_argo(argo_gate(text))
    assert finding.code == "H5f" and "failureLimit 3 with count 3" in finding.explanation
    assert lint_argo(argo_gate(CLEAN_ARGO[0].replace("count: 10", "count: 3").replace("failureLimit: 1",
                                                                                       "failureLimit: 2"))) == []


def test_a_dry_run_rule_that_matches_no_metric_is_a_hazard_and_fails_the_run():
    """A review found it ignored (the rollout promoted): Argo's GetDryRunMetrics fails the run, which aborts."""
    from rampsim.gates.argo_resolve import _RunError, run_metrics

    text = CLEAN_ARGO[0].replace("spec:\n", "spec:\n      dryRun: [{metricName: error-rate}]\n", 1)
    gate = argo_gate(text)
    (finding,) = [f for f in lint_argo(gate) if f.code == "H8"]
    assert "dryRun[0]: Rule didn't match any metric name(s)" in finding.explanation
    (_, analysis), = gate.analyses()
    with pytest.raises(_RunError, match="Rule didn't match"):
        run_metrics(gate, analysis)
    everything = argo_gate(CLEAN_ARGO[0].replace("spec:\n", "spec:\n      dryRun: [{metricName: ''}]\n", 1))
    (_, analysis), = everything.analyses()
    assert all(spec.dry_run for spec in run_metrics(everything, analysis))   # an empty pattern matches every name


def test_a_dry_run_metrics_hazard_says_it_never_stops_the_rollout():
    """A review found lint saying a dry-run metric's Error measurements abort the rollout: dry-run never decides."""
    text = CLEAN_ARGO[0].replace("result[0] > 0.01", "result > 0.01")
    (finding,) = lint_argo(argo_gate(text))
    assert finding.code == "H1" and finding.behaviour.startswith("every measurement is Error")
    dry = argo_gate(text.replace("spec:\n", "spec:\n      dryRun: [{metricName: error-ratio}]\n", 1))
    finding, every = lint_argo(dry)
    assert finding.code == "H1" and finding.behaviour.startswith("in dryRun, Argo records it but it never stops")
    assert every.code == "H5d"   # and the analysis, all of it in dryRun, can never stop the rollout


def test_lint_measures_that_an_impossible_range_rolls_back_every_healthy_ramp(tmp_path):
    gate = tmp_path / "canary.yaml"
    gate.write_text(canary("{name: request-success-rate, thresholdRange: {min: 99, max: 1}, interval: 1m}")
                    .replace("threshold: 5", "threshold: 2"))
    from rampsim.experiment.lint_rehearsals import consequence, rehearse_healthy

    (linted,), problems = lint_gates(gate)
    assert not problems and [f.code for f in linted.findings] == ["FH8"]
    line = consequence(linted.findings[0], rehearse_healthy(linted, seeds=2))
    assert line.startswith("on 2 healthy simulated ramps: rolls back 2 of 2"), line


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


# -- unrendered Helm charts and Kustomization patches ------------------------------------------------------------

HELM_CHART = """\
{{- if .Values.analysis.enabled }}
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: {{ include "app.fullname" . }}-gate
  labels:
    {{- include "app.labels" . | nindent 4 }}
spec:
  args:
  - name: service
  metrics:
  - name: {{ .Release.Name }}-success-rate
    interval: 30s
    successCondition: result >= 0.95
    provider:
      prometheus:
        address: {{ .Values.prometheus.address | quote }}
        query: |
          sum(rate(http_requests_total{service="{{`{{args.service}}`}}",code!~"5.."}[5m]))
          /
          sum(rate(http_requests_total{service="{{ "{{" }}args.service{{ "}}" }}"}[5m]))
  - name: errors
    interval: {{ .Values.errors.interval
                 | default "1m" }}
    successCondition: result[0] < 0.01
    provider:
      prometheus:
        query: sum(rate(http_requests_total{code=~"5..",namespace="{{ .Release.Namespace }}"}[1m]))
{{- end }}
"""


def _line(text: str, fragment: str) -> int:
    """The 1-based line of the one line of ``text`` holding ``fragment``."""
    (line,) = [n for n, written in enumerate(text.splitlines(), 1) if fragment in written]
    return line


def test_a_helm_chart_is_linted_for_what_its_values_do_not_decide(tmp_path):
    chart = tmp_path / "analysis.yaml"
    chart.write_text(HELM_CHART)
    (linted,), problems = lint_gates(chart)
    assert not problems
    found = sorted((f.code, f.subject, f.line) for f in linted.findings)
    assert found == [
        ("H1", "metric '{{ .Release.Name }}-success-rate'", _line(HELM_CHART, "result >= 0.95")),
        ("H2", "metric 'errors'", _line(HELM_CHART, "result[0] < 0.01")),
        ("H9", "metric '{{ .Release.Name }}-success-rate'", _line(HELM_CHART, "interval: 30s")),
    ]   # no H9 on 'errors': its interval is a Helm value (a [1m] window may or may not overlap)
    assert all(f.format().endswith(f"({HELM_NOTE})") for f in linted.findings)
    assert linted.unsimulated and linted.name == '{{ include "app.fullname" . }}-gate'
    (note,) = linted.notes
    assert note.startswith(f"{chart}:{_line(HELM_CHART, 'interval: {{')}: spec.metrics.1.interval is a Helm value")


def test_blanking_keeps_every_line_and_the_controllers_own_tags():
    blanked = blank_helm_actions(HELM_CHART)
    assert len(blanked.text.splitlines()) == len(HELM_CHART.splitlines())
    assert blanked.text.count('service="{{args.service}}"') == 2    # Helm's escapes rendered as helm would
    assert "{{ include" not in blanked.text and "{{- " not in blanked.text
    assert blanked.blocks == ((1, _line(HELM_CHART, "{{- end }}"), "{{- if .Values.analysis.enabled }}"),)


_FRAGMENTS = st.sampled_from(["key: value", "  - name: x", "{{ .Values.a }}", "{{- if .Values.b }}", "{{- end }}",
                              "{{args.x}}", "{{ args.y }}", "{{ namespace }}", '{{ include "n" (dict\n "k" 1) }}',
                              '{{`{{args.z}}`}}', "[5m]", " "])


@settings(max_examples=examples(fast=200), deadline=None)
@given(st.lists(st.lists(_FRAGMENTS, max_size=4).map("".join), max_size=12).map("\n".join))
def test_blanking_is_one_line_for_one_line(text):
    blanked = blank_helm_actions(text)
    assert blanked.text.count("\n") == text.count("\n")
    for tag in ("{{args.x}}", "{{ args.y }}", "{{ namespace }}"):
        assert blanked.text.count(tag) == text.count(tag)
    assert "{{" not in re.sub(r"\{\{(args\.[xyz]| args\.y | namespace )\}\}", "", blanked.text)


CONDITIONS_AS_VALUES = """\
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: "{{ .Release.Name }}"}
spec:
  metrics:
  - name: errors
    interval: 30s
    successCondition: CONDITION
    provider:
      prometheus:
        query: sum(rate(http_requests_total{code=~"5.."}[30s])) or vector(0)
"""


@pytest.mark.parametrize("condition, codes", [
    ("result[0] <= {{ .Values.maxErrors }}", []),        # a threshold: judged for every number, no hazard
    ("{{ .Values.condition | quote }}", []),             # the whole condition: undetermined (not H5, not H1)
    ("len(result) == 0 || result[0] <= {{ .Values.maxErrors | default 0.1 }}", []),
    ("result <= {{ .Values.maxErrors }}", ["H1"]),       # a bare vector against any number: always Error
])
def test_a_condition_that_is_a_helm_value_gives_no_false_hazard(tmp_path, condition, codes):
    chart = tmp_path / "analysis.yaml"
    chart.write_text(CONDITIONS_AS_VALUES.replace("CONDITION", condition))
    (linted,), problems = lint_gates(chart)
    assert not problems
    assert [f.code for f in linted.findings] == codes
    assert bool(linted.notes) == condition.startswith("{{"), linted.notes


def test_cli_lints_a_helm_chart_without_simulating_it_and_import_still_refuses_it(tmp_path, capsys):
    chart = tmp_path / "analysis.yaml"
    chart.write_text(HELM_CHART)
    assert main(["lint", str(chart), "--seeds", "1"]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert len(lines) == 3 and all(line.endswith(f"({HELM_NOTE})") for line in lines)
    assert lines[0].startswith(f"{chart}:{_line(HELM_CHART, 'result >= 0.95')}: H1 ")
    assert "healthy simulated" not in captured.out + captured.err          # a chart is not rehearsed
    assert "not linted, nor what depends on it" in captured.err            # the Helm values' fields are named
    assert main(["import", "argo", str(chart)]) == 3
    assert f"{chart}:1: a Helm chart template" in capsys.readouterr().err


def test_a_kustomization_patch_is_linted_for_the_metrics_it_writes():
    path = corpus("argo") / "crmagz__argo-kargo-demo__stages__prod__kustomization.yaml"
    (linted,), problems = lint_gates(path)
    assert not problems and not linted.unsimulated
    assert [(f.code, f.subject, f.line) for f in linted.findings] == [
        ("H2", "metric 'canary-memory-check'", _line(path.read_text(), "successCondition: result[0] < 150"))]


def test_a_flagger_chart_whose_analysis_is_helm_values_gives_notes_not_hazards():
    path = corpus("flagger") / "fluxcd__flagger__charts__podinfo__templates__canary.yaml"
    (linted,), problems = lint_gates(path)
    assert not problems and linted.findings == () and linted.unsimulated
    assert any(f"{path}:{_line(path.read_text(), 'interval: {{')}: spec.analysis.interval is a Helm value" in note
               for note in linted.notes)


@pytest.mark.parametrize("line", ["{{- toYaml .Values.analysis.conditions | nindent 4 }}",
                                  "{{ .Values.conditionKey }}: result[0] < 1"],
                         ids=["fields written by an action", "a key that is a Helm value"])
def test_fields_a_chart_may_write_are_not_missing(tmp_path, line):
    """A metric whose conditions a Helm action may write (``toYaml`` among its keys, a key named by the values) is
    not a metric without conditions (H5): lint names what it cannot judge instead."""
    chart = tmp_path / "analysis.yaml"
    chart.write_text(textwrap.dedent(f"""\
        apiVersion: argoproj.io/v1alpha1
        kind: AnalysisTemplate
        metadata:
          name: {{{{ .Release.Name }}}}-errors
        spec:
          metrics:
          - name: errors
            interval: 1m
            {line}
            provider:
              prometheus:
                query: sum(rate(http_requests_total{{code=~"5.."}}[1m]))
        """))
    (linted,), problems = lint_gates(chart)
    assert not problems and [f.code for f in linted.findings] == []
    assert any(f"{chart}:7: spec.metrics.0 " in note and ("may be written by" in note or "a Helm value" in note)
               for note in linted.notes), linted.notes


def test_a_refused_rollout_in_the_file_list_stops_only_the_templates_it_runs(capsys):
    """A blue/green Rollout (refused: only the canary strategy is simulated) given beside a template it does not
    run used to make every template of the run 'not linted'; it serves only the templates it names."""
    template = corpus("argo") / "Q42-KoraD__GitOps__analysis.yaml"
    rollout = corpus("argo") / "rollouts" / "lanru2001__rollouts-demo-deployment__rollout.yaml"
    assert main(["lint", "--no-simulate", str(template), str(rollout)]) == 1
    captured = capsys.readouterr()
    assert "H5a metric 'success-rate'" in captured.out and "not linted" not in captured.err


def test_a_negative_count_is_a_hazard_and_no_window_overlaps():
    """A review found `count: -1` simulated as "measure until terminated": Argo's EffectiveCount keeps it, and the
    metric is Successful after one measurement (analysis.go: result.Count >= count), so a later incident passes."""
    text = textwrap.dedent(CLEAN_ARGO[0]).replace("count: 10", "count: -1").replace("[30s]", "[2m]")
    (finding,) = lint_text(text, "gate.yaml")
    assert finding.code == "H5n" and finding.explanation.startswith("count -1: ")
    assert "one measurement" in finding.behaviour and "let through" in finding.behaviour
    assert finding.line == [line.strip() for line in text.splitlines()].index("count: -1") + 1
    assert "H9" in {f.code for f in lint_argo(argo_gate(CLEAN_ARGO[0].replace("[30s]", "[2m]")))}


ARG_LIMIT_ROLLOUT = """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  strategy:
    canary:
      analysis:
        templates: [{templateName: errors}]
        args: [ARG]
      steps: [{setWeight: 10}, {pause: {duration: 5m}}]
"""


def _arg_limit(field: str, default: str = "") -> str:
    """CLEAN_ARGO's first gate with ``field`` (``failureLimit: 1`` or ``count: 10``) given by ``{{args.v}}``."""
    name, _ = field.split(": ")
    declared = "{name: v, value: '%s'}" % default if default else "{name: v}"
    return CLEAN_ARGO[0].replace(field, f"{name}: '{{{{args.v}}}}'").replace(
        "    spec:\n      metrics:", f"    spec:\n      args: [{declared}]\n      metrics:")


@pytest.mark.parametrize("field, value, code, words", [
    ("failureLimit: 1", "-1", "H5f", "failureLimit -1 ({{args.v}}): Argo does not count failed measurements"),
    ("count: 10", "-1", "H5n", "count -1 ({{args.v}}): "),
    ("failureLimit: 1", "10", "H5f", "failureLimit 10 ({{args.v}}) with count 10"),
    ("failureLimit: 1", "-2", "H8", "failureLimit must be >= -1"),
])
def test_a_count_or_limit_an_arg_gives_is_judged_with_the_value_the_files_write(field, value, code, words):
    """A review found `failureLimit: "{{args.limit}}"` with the default -1 (or the Rollout's value -1) silent: every
    count or limit from an arg was dropped before the H5f/H8 checks. The template's default and the Rollout's value
    are in the files, so they are judged; a value a deploy gives (valueFrom, or none in the files) is not."""
    default = lint_argo(argo_gate(_arg_limit(field, value)))
    assert [f.code for f in default] == [code] and words in default[0].explanation, default
    rollout = ARG_LIMIT_ROLLOUT.replace("ARG", "{name: v, value: '%s'}" % value)
    written = lint_argo(argo_gate(_arg_limit(field, "3" if field.startswith("failure") else "10"), rollout=rollout))
    assert [f.code for f in written] == [code] and words in written[0].explanation, written
    deployed = ARG_LIMIT_ROLLOUT.replace("ARG", "{name: v, valueFrom: {fieldRef: {fieldPath: metadata.labels.v}}}")
    assert lint_argo(argo_gate(_arg_limit(field), rollout=deployed)) == []
    assert lint_argo(argo_gate(_arg_limit(field))) == []   # no value in the files: import's placeholder is not judged


def test_a_limit_an_arg_gives_is_read_as_argo_reads_it():
    """Lint read an arg's '3_0' with int() as 30 where Argo's strconv.Atoi reads no number (and import refuses it)."""
    from rampsim.gates.lint import _whole_number

    assert _whole_number("{{args.v}}", {"v": "3_0"}, 0) is None and _whole_number("{{args.v}}", {"v": " 3 "}, 0) is None
    assert _whole_number("{{args.v}}", {"v": "+3"}, 0) == 3 and _whole_number(None, {}, 2) == 2
