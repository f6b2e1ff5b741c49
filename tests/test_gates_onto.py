"""``rampsim export --onto``: the team's files come back as Kubernetes read them, with only the gate changed.

Review findings, each reproduced: objects rampsim does not change rewritten with YAML 1.1 readings that
Kubernetes (go-yaml v2) does not share (``12:30`` → ``750``, ``y`` / ``1e3`` unquoted); a document written on
its ``---`` line lost and a ``%YAML`` directive refused; a Rollout that runs no analysis given the background
analysis rampsim simulated, and rampsim's placeholder args written as the team's; step analyses stripped of
``analysisRunMetadata`` and ``measurementRetention``; comments dropped without a word; a PrometheusRule's Go
template refusing the whole file as a Helm chart.
"""
from __future__ import annotations

import json
import textwrap

import pytest
import yaml

from rampsim.cli import main
from rampsim.gates.argo_model import ArgoGate
from rampsim.gates.manifests import HelmTemplate, comment_lines, parse_manifests
from rampsim.gates.plan_sections import gate_of, load_gated_plan
from rampsim.gates.yamlout import dump, go_load, go_scalar
from tests.gates_helpers import PODINFO_CANARY, corpus

TEMPLATE = """\
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata:
  name: success-rate
  namespace: shop
spec:
  args:
  - name: service-name
  metrics:
  - name: success-rate
    interval: 90s          # one and a half minutes
    count: 5
    failureLimit: 1
    successCondition: result[0] >= 0.95
    provider:
      prometheus:
        address: http://prometheus.monitoring:9090
        query: |
          sum(rate(http_requests_total{service="{{args.service-name}}",code!~"5.."}[1m]))
          /
          sum(rate(http_requests_total{service="{{args.service-name}}"}[1m]))
"""
CONFIGMAP = """\
# settings the team keeps next to the gate
apiVersion: v1
kind: ConfigMap
metadata:
  name: checkout-config
data:
  maintenance_window: 12:30
  RETRY_BACKOFF: "1e3"
  FEATURE_X: "n"
  MODE: "y"
  build_date: 2024-05-01
"""
ROLLOUT = """\
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: checkout
  namespace: shop
spec:
  replicas: 3
  template:
    metadata:
      annotations:
        window: 12:30
        mode: "y"
    spec:
      containers:
      - name: checkout
        image: example/checkout:1.2.3
  strategy:
    canary:
      # two minutes at 20%, then the analysis
      steps:
      - setWeight: 20
      - pause: {duration: 2m}
      - analysis:
          analysisRunMetadata:
            labels:
              team: payments
          measurementRetention:
          - metricName: success-rate
            limit: 20
          templates:
          - templateName: success-rate
          args:
          - name: service-name
            value: checkout
      - setWeight: 50
      - pause: {duration: 90s}
"""


def _files(tmp_path, **texts: str):
    paths = {}
    for name, text in texts.items():
        paths[name] = tmp_path / f"{name}.yaml"
        paths[name].write_text(text)
    return paths


def _import(tmp_path, capsys, *files, rollout=None) -> tuple[str, str]:
    plan = tmp_path / "plan.yaml"
    argv = ["import", "argo", *map(str, files), "-o", str(plan)] + (["--rollout", str(rollout)] if rollout else [])
    assert main(argv) == 0
    return str(plan), capsys.readouterr().err


def _export_onto(plan, capsys, *files) -> tuple[str, str]:
    assert main(["export", "argo", str(plan), "--onto", *map(str, files)]) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


def test_objects_the_gate_does_not_change_are_written_byte_for_byte(tmp_path, capsys):
    """Review: 'maintenance_window: 12:30' came back as 750 (PyYAML's base 60), "y", "n" and "1e3" unquoted, which
    Kubernetes reads as booleans and a float: the ConfigMap was refused."""
    paths = _files(tmp_path, configmap=CONFIGMAP + "---\n" + TEMPLATE)
    plan, _ = _import(tmp_path, capsys, paths["configmap"])
    tuned = tmp_path / "tuned.yaml"
    tuned.write_text(open(plan).read().replace("failureLimit: 1", "failureLimit: 0"))
    out, err = _export_onto(tuned, capsys, paths["configmap"])
    assert out.startswith(CONFIGMAP + "---\n")          # as written: the comment, 12:30, the quotes
    template = out[len(CONFIGMAP):]
    assert "failureLimit: 0" in template and "interval: 90s\n" in template   # rewritten: its comment is not kept
    assert "1 comment line(s) not written" in err
    assert main(["export", "argo", plan, "--onto", str(paths["configmap"])]) == 0   # the gate as it was
    assert capsys.readouterr().out == CONFIGMAP + "---\n" + TEMPLATE          # nothing changes, nothing rewritten


def test_an_object_the_gate_changes_keeps_what_kubernetes_read_in_it(tmp_path, capsys):
    """The Rollout is rewritten (the gate's annotations): its other values mean to Kubernetes what they meant."""
    paths = _files(tmp_path, template=TEMPLATE, rollout=ROLLOUT)
    plan, _ = _import(tmp_path, capsys, paths["template"], rollout=paths["rollout"])
    out, err = _export_onto(plan, capsys, paths["template"], paths["rollout"])
    documents = list(yaml.safe_load_all(out))
    rollout = documents[1]
    assert rollout["spec"]["template"]["metadata"]["annotations"] == {"window": "12:30", "mode": "y"}
    written = out[out.index("kind: Rollout"):]
    assert "window: '12:30'" in written and "mode: 'y'" in written        # strings to Go too
    step = rollout["spec"]["strategy"]["canary"]["steps"][2]["analysis"]
    assert step["analysisRunMetadata"] == {"labels": {"team": "payments"}}      # review: both were dropped
    assert step["measurementRetention"] == [{"metricName": "success-rate", "limit": 20}]
    assert f"{paths['rollout']}:1: Rollout 'checkout': 1 comment line(s) not written" in err


def test_the_comments_before_every_rewritten_object_are_kept_where_they_were(tmp_path, capsys):
    """Review: in a multi-document file, the comments between '---' and the second object were dropped (counted in
    the note, which said they were kept), and the '---' written after the first object's leading comments."""
    first = "# header of the first template\n" + TEMPLATE
    second = ("# header of the second template\n# kept\n" + TEMPLATE.replace("name: success-rate\n  namespace",
                                                                           "name: second\n  namespace"))
    paths = _files(tmp_path, templates=first + "---\n" + second, rollout="# the rollout's own header\n" + ROLLOUT)
    plan, _ = _import(tmp_path, capsys, paths["templates"], rollout=paths["rollout"])
    tuned = tmp_path / "tuned.yaml"
    tuned.write_text(open(plan).read().replace("failureLimit: 1", "failureLimit: 2"))
    out, err = _export_onto(tuned, capsys, paths["templates"], paths["rollout"])
    assert out.startswith("# header of the first template\napiVersion:"), out
    assert "\n---\n# header of the second template\n# kept\napiVersion:" in out, out
    assert "\n---\n# the rollout's own header\napiVersion:" in out, out
    assert out.count("failureLimit: 2") == 2
    # only the comment after 'interval: 90s' in each template, and the one in the Rollout's steps, are lost
    assert f"{paths['templates']}:2: AnalysisTemplate 'success-rate': 1 comment line(s) not written" in err
    assert "AnalysisTemplate 'second': 1 comment line(s) not written" in err
    assert "Rollout 'checkout': 1 comment line(s) not written" in err


@pytest.mark.parametrize("value, go", [("y", True), ("n", False), ("on", True), ("NO", False), ("1e3", 1000.0),
                                       ("12:30", "12:30"), ("0755", 493), ("08", 8.0), ("0x1F", 31), ("1_000", 1000),
                                       ("~", None), (".inf", float("inf")), ("2024-05-01", "2024-05-01"),
                                       ("1e400", "1e400"), ("+Inf", "+Inf"), ("checkout", "checkout")])
def test_strings_are_quoted_when_go_would_read_them_as_something_else(value, go):
    assert go_scalar(value) == go
    written = dump({"v": value})
    assert go_load(written) == {"v": value}                 # Kubernetes reads back the string
    assert yaml.safe_load(written) == {"v": value}          # and so does rampsim
    assert (written == f"v: {value}\n") == (isinstance(go, str) and value not in ("12:30", "2024-05-01"))


def test_a_document_on_its_separator_line_and_a_directive_are_read(tmp_path, capsys):
    """Review: '--- {apiVersion: v1, kind: ConfigMap, ...}' vanished from import, lint and export; '%YAML 1.1' before
    '---' was refused with "expected '<document start>', but found '<stream end>'"."""
    flow = TEMPLATE + "--- {apiVersion: v1, kind: ConfigMap, metadata: {name: flags}, data: {a: b}}\n---\n" + ROLLOUT
    manifests = parse_manifests(flow, "flow.yaml")
    assert [(m.kind, m.name, m.line("kind")) for m in manifests] == [
        ("AnalysisTemplate", "success-rate", 2), ("ConfigMap", "flags", 22), ("Rollout", "checkout", 25)]
    assert "".join(m.preamble + m.body for m in manifests) == flow
    paths = _files(tmp_path, flow=flow, directive="%YAML 1.1\n---\n" + TEMPLATE,
                   settings="%YAML 1.1\n---\n" + CONFIGMAP)
    plan, _ = _import(tmp_path, capsys, paths["flow"])
    out, _ = _export_onto(plan, capsys, paths["flow"])
    assert "--- {apiVersion: v1, kind: ConfigMap, metadata: {name: flags}, data: {a: b}}\n" in out
    assert [d["kind"] for d in yaml.safe_load_all(out)] == ["AnalysisTemplate", "ConfigMap", "Rollout"]
    out, _ = _export_onto(plan, capsys, paths["settings"], paths["flow"])
    assert out.startswith("%YAML 1.1\n---\n# settings")
    out, _ = _export_onto(plan, capsys, paths["flow"], paths["settings"])
    assert out.endswith("\n...\n%YAML 1.1\n---\n" + CONFIGMAP)   # a directive follows the end of a document
    assert len(list(yaml.safe_load_all(out))) == 4
    again, _ = _import(tmp_path, capsys, paths["directive"])
    assert gate_of(load_gated_plan(again)).metrics == gate_of(load_gated_plan(plan)).metrics


def test_a_broken_document_is_located_and_no_document_is_lost():
    text = TEMPLATE + "---\nkind: ConfigMap\nmetadata: {name: x\n---\n" + ROLLOUT
    with pytest.raises(Exception, match=r"broken\.yaml:2[45]: not valid YAML"):
        parse_manifests(text, "broken.yaml")
    assert [m.kind for m in parse_manifests("---\n---\n# only a comment\n---\n" + TEMPLATE, "x.yaml")] == \
        ["AnalysisTemplate"]


PROMETHEUS_RULE = """\
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: checkout-alerts
spec:
  groups:
  - name: checkout
    rules:
    - alert: CheckoutErrors
      expr: sum(rate(http_requests_total{code=~"5.."}[5m])) > 1
      annotations:
        summary: 'Error rate is {{ printf "%.2f" $value }}'
"""


def test_go_templates_in_an_object_that_is_not_a_gate_are_its_own(tmp_path, capsys):
    """Review: a PrometheusRule's '{{ printf ... }}' made export --onto exit 3 ('a Helm chart template') and lint
    call every hazard of the file 'not simulated'."""
    paths = _files(tmp_path, gate=TEMPLATE + "---\n" + PROMETHEUS_RULE + "---\n" + ROLLOUT)
    plan, _ = _import(tmp_path, capsys, paths["gate"])
    out, _ = _export_onto(plan, capsys, paths["gate"])
    assert PROMETHEUS_RULE in out
    assert main(["lint", "--seeds", "1", str(paths["gate"])]) == 1
    captured = capsys.readouterr()
    assert "unrendered Helm" not in captured.out + captured.err and "healthy simulated ramp" in captured.err
    helm = TEMPLATE.replace("namespace: shop", "namespace: {{ .Release.Namespace }}") + "---\n" + PROMETHEUS_RULE
    with pytest.raises(HelmTemplate, match=r"h\.yaml:5: a Helm chart template \('\{\{ \.Release"):
        parse_manifests(helm, "h.yaml")


def test_comment_lines_are_counted_outside_strings_and_blocks():
    assert comment_lines(ROLLOUT) == 1
    assert comment_lines("a: '# not one'\nb: |\n  # nor this\nc: x # this one\n# and this\n") == 2


def test_a_rollout_that_runs_no_analysis_is_not_given_one(tmp_path, capsys):
    """Review: the Rollout had its analysis commented out; import simulated the templates as a background analysis,
    and export --onto turned it on in the team's Rollout with rampsim's simulated args, silently."""
    analysis = corpus("argo") / "cmwylie19__test-argo-rollouts__k8s__analysis.yaml"
    rollout = corpus("argo") / "rollouts" / "cmwylie19__test-argo-rollouts__k8s__rollout-canary.yaml"
    plan, _ = _import(tmp_path, capsys, analysis, rollout=rollout)
    out, err = _export_onto(plan, capsys, analysis, rollout)
    written = [d for d in yaml.safe_load_all(out) if d["kind"] == "Rollout"][0]
    assert "analysis" not in written["spec"]["strategy"]["canary"]
    assert "app-canary.default.svc.cluster.local" not in out
    assert f"{rollout}:30: Rollout 'app' runs no analysis: the background analysis rampsim simulated is not " \
           f"written" in err
    assert "11 comment line(s) not written" in err    # its commented-out analysis among them


def test_placeholder_args_are_never_written_and_stay_unsupplied(tmp_path, capsys):
    """Review: the step analysis got 'service-name: app', the placeholder import had said Argo would fail without;
    imported again, the warning was gone."""
    rollout = ROLLOUT.replace("          args:\n          - name: service-name\n            value: checkout\n", "")
    paths = _files(tmp_path, template=TEMPLATE, rollout=rollout)
    plan, err = _import(tmp_path, capsys, paths["template"], rollout=paths["rollout"])
    assert "arg 'service-name' of template 'success-rate' has no value (Argo would fail the run)" in err
    gate = gate_of(load_gated_plan(plan))
    assert isinstance(gate, ArgoGate) and gate.placeholders == ["service-name"] and "service-name" in gate.args
    out, err = _export_onto(plan, capsys, paths["template"], paths["rollout"])
    step = [d for d in yaml.safe_load_all(out) if d["kind"] == "Rollout"][0]["spec"]["strategy"]["canary"]["steps"][2]
    assert "args" not in step["analysis"] and "rampsim.io/args" not in out
    exported, again = tmp_path / "exported.yaml", tmp_path / "again.yaml"
    assert main(["export", "argo", plan, "-o", str(exported)]) == 0
    assert "service-name" not in exported.read_text().split("kind: Rollout")[1]
    assert main(["import", "argo", str(exported), "-o", str(again)]) == 0
    assert "arg 'service-name' of template 'success-rate' has no value" in capsys.readouterr().err
    assert gate_of(load_gated_plan(again)) == gate
    given = tmp_path / "given.yaml"
    assert main(["import", "argo", str(paths["template"]), "--rollout", str(paths["rollout"]), "--arg",
                 "service-name=checkout", "-o", str(given)]) == 0
    capsys.readouterr()
    out, err = _export_onto(given, capsys, paths["template"], paths["rollout"])
    assert "value: checkout" in out and "arg 'service-name' written with the value 'checkout'" in err


def test_a_kayenta_stage_with_rampsims_names_says_so(tmp_path, capsys):
    """Review: a stage exported from an import without --stage carried the simulated scopes canary/baseline and no
    canaryConfigId, silently."""
    config, stage = tmp_path / "config.json", tmp_path / "stage.json"
    assert main(["export", "kayenta", "scenarios/ramp-phase-50k-kayenta.yaml", "-o", str(config), "--stage",
                 str(stage)]) == 0
    assert json.loads(stage.read_text())["canaryConfig"]["scopes"]
    capsys.readouterr()
    plan = tmp_path / "plan.yaml"
    assert main(["import", "kayenta", str(config), "-o", str(plan)]) == 0
    assert main(["export", "kayenta", str(plan), "-o", str(tmp_path / "c.json"), "--stage", str(stage)]) == 0
    err = capsys.readouterr().err
    assert f"warning: {stage}: the stage has no canaryConfigId" in err
    assert f"warning: {stage}: scope 'default': experimentScope 'canary' and controlScope 'baseline' are the " \
           f"simulated arms' names" in err


def test_go_load_reads_what_kubernetes_reads():
    text = textwrap.dedent("""\
    a: y
    b: 12:30
    c: "y"
    d: 1e3
    e:
    """)
    assert go_load(text) == {"a": True, "b": "12:30", "c": "y", "d": 1000.0, "e": None}


@pytest.mark.parametrize("change, code, words", [
    (lambda text: text.replace("      failureLimit: 1\n", "      failureLimit: -1\n"), "H5f", "can never fail"),
    (lambda text: text.replace("      args:\n      - name: service-name\n  metrics:",
                               "      args:\n      - name: service-name\n      dryRun:\n      - metricName: .*\n"
                               "  metrics:"), "H5d", "the analysis can never fail"),
    (lambda text: text.replace("result[0] >= 0.95", "result[0] >= -1"), "H5c", "the metric can never fail"),
])
def test_export_says_when_the_gate_it_writes_switches_a_check_off(tmp_path, capsys, change, code, words):
    """Review: failureLimit -1, dryRun [{metricName: .*}] and 'result[0] >= -1' exported with exit 0 and no word.
    Export writes them (a sweep may have chosen them) and prints lint's hazards of what it wrote."""
    paths = _files(tmp_path, template=TEMPLATE, rollout=ROLLOUT)
    plan, _ = _import(tmp_path, capsys, paths["template"], rollout=paths["rollout"])
    tuned = tmp_path / "tuned.yaml"
    tuned.write_text(change(open(plan).read()))
    assert open(plan).read() != tuned.read_text()
    out = tmp_path / "out.yaml"
    for onto in ([], ["--onto", str(paths["template"]), str(paths["rollout"])]):
        assert main(["export", "argo", str(tuned), *onto, "-o", str(out)]) == 0
        err = capsys.readouterr().err
        (warning,) = [line for line in err.splitlines() if f" {code} " in line]
        assert warning.startswith(f"warning: {out}:") and words in warning
        line = int(warning.split(":")[2])
        assert out.read_text().splitlines()[line - 1].strip()    # the line of the file written


def test_export_without_onto_keeps_the_templates_namespace_and_marks_the_fragment(tmp_path, capsys):
    """Review: the templates came back without their namespace and labels, the Rollout with no word that it is only
    the gate's part of one."""
    labelled = TEMPLATE.replace("  namespace: shop\n", "  namespace: shop\n  labels: {team: payments}\n")
    paths = _files(tmp_path, template=labelled, rollout=ROLLOUT)
    plan, _ = _import(tmp_path, capsys, paths["template"], rollout=paths["rollout"])
    exported, again = tmp_path / "exported.yaml", tmp_path / "again.yaml"
    assert main(["export", "argo", plan, "-o", str(exported)]) == 0
    err = capsys.readouterr().err
    assert "note: Rollout 'checkout' is a fragment, only its canary steps and analysis: merge it into your " \
           "Rollout" in err
    text = exported.read_text()
    assert "---\n# rampsim: Rollout 'checkout' is a fragment" in text
    template = next(d for d in yaml.safe_load_all(text) if d["kind"] == "AnalysisTemplate")
    assert template["metadata"] == {"name": "success-rate", "namespace": "shop", "labels": {"team": "payments"}}
    assert main(["import", "argo", str(exported), "-o", str(again)]) == 0
    assert gate_of(load_gated_plan(again)) == gate_of(load_gated_plan(plan))


def test_a_canary_exported_without_onto_is_marked_a_fragment(tmp_path, capsys):
    canary = _files(tmp_path, canary=PODINFO_CANARY)["canary"]
    plan = tmp_path / "plan.yaml"
    assert main(["import", "flagger", str(canary), "-o", str(plan)]) == 0
    capsys.readouterr()
    assert main(["export", "flagger", str(plan)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("---\n# rampsim: Canary 'podinfo' is a fragment, only its target, service and "
                                   "analysis")
    assert captured.err == "note: Canary 'podinfo' is a fragment, only its target, service and analysis: merge it " \
                           "into your Canary, or write the gate into your files with --onto\n"   # and no hazard
