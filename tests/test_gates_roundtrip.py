"""Export then import is the identity: a gate written back as Argo or Flagger files reads back to the same gate.

Random gates (hypothesis; ``tests/conftest.py`` chooses the profile) are exported with
:mod:`rampsim.gates.export` and imported again; Argo gates compare in their normal form (args given on
the command line folded into the Rollout's analyses, a varied threshold written into the conditions).
The CLI does the same through plan files.
"""
from __future__ import annotations

import pytest
import yaml
from hypothesis import given, strategies as st

from rampsim.cli import main
from rampsim.gates.argo_import import NOT_SIMULATED_REASONS, import_argo_manifests
from rampsim.gates.argo_model import (
    ArgoArg, ArgoGate, ArgoMetric, ArgoRollout, ArgoTemplate, Assumptions, Identity, NotSimulated, RolloutAnalysis,
    Step,
)
from rampsim.gates.export import export_argo, export_flagger, normalize_argo
from rampsim.gates.flagger_canary import never_shifted
from rampsim.gates.flagger_import import import_flagger_manifests
from rampsim.gates.flagger_model import (
    FlaggerAnalysis, FlaggerAssumptions, FlaggerGate, FlaggerMetric, MetricTemplate, MetricTemplateRef,
    ThresholdRange, template_key,
)
from rampsim.gates.manifests import parse_manifests
from rampsim.gates.plan_sections import gate_of, load_gated_plan
from rampsim.gates.profiles import PROFILES
from rampsim.promql.exposition import ClientNames

NAMES = st.sampled_from(["alpha", "beta", "gamma", "delta", "omega"])
DURATIONS = st.sampled_from(["10s", "30s", "1m", "2m", "90s"])


@st.composite
def conditions(draw):
    threshold = draw(st.sampled_from([0.9, 0.95, 0.99, 1, 0.01, 250]))
    form = draw(st.sampled_from(["result[0] >= {t}", "result[0] < {t}", "len(result) == 0 || result[0] >= {t}",
                                 "result >= {t}", "isNaN(result[0]) || result[0] <= {t}"]))
    return form.format(t=threshold)


@st.composite
def argo_gates(draw):
    template_names = draw(st.lists(st.sampled_from(["rate", "latency", "errors"]), min_size=1, max_size=2,
                                   unique=True))
    templates, metrics, skipped = {}, {}, []
    metric_names = iter(draw(st.lists(NAMES, min_size=4, max_size=4, unique=True)) + ["m5", "m6", "m7"])
    arg_values: dict[str, str] = {}
    needs_value: set[str] = set()
    for template in template_names:
        args = [ArgoArg(name=f"{template}-svc", value=draw(st.sampled_from([None, "web", "api"])))]
        templates[template] = ArgoTemplate(args=args, kind=draw(st.sampled_from(["AnalysisTemplate",
                                                                                 "ClusterAnalysisTemplate"])),
                                           namespace=draw(st.sampled_from([None, "prod"])),
                                           labels=draw(st.sampled_from([None, {"team": "payments", "tier": "1"}])))
        # an arg without a default gets its value on the command line (argo.args); one with a default may be
        # overridden by the background analysis
        arg_values[args[0].name] = draw(st.sampled_from(["web", "shop"]))
        needs_value.add(args[0].name) if args[0].value is None else None
        for _ in range(draw(st.integers(1, 2))):
            name = next(metric_names)
            interval = draw(st.one_of(st.none(), DURATIONS))
            count = draw(st.sampled_from([None, 1, 3, 5])) if interval else draw(st.sampled_from([None, 1]))
            limit = draw(st.sampled_from([None, 0, 1, 2, -1]))
            if count and limit and limit > count:
                limit = count
            metrics[name] = ArgoMetric(
                name=name, template=template, interval=interval, count=count, failureLimit=limit,
                initialDelay=draw(st.sampled_from([None, "30s", "1m"])),
                inconclusiveLimit=draw(st.sampled_from([None, 0, 1])) if not count or count >= 1 else None,
                consecutiveErrorLimit=draw(st.sampled_from([None, 2, 4])),
                successCondition=draw(st.one_of(st.none(), conditions())),
                failureCondition=draw(st.one_of(st.none(), conditions())),
                threshold=draw(st.sampled_from([None, None, 0.97])),
                provider={"prometheus": {"query": f'sum(rate(x{{svc="{{{{args.{template}-svc}}}}"}}[1m]))',
                                         "address": "http://prometheus:9090"}})
        if draw(st.booleans()):
            job = next(metric_names)
            skipped.append(NotSimulated(template=template, name=job, provider="job",
                                        reason=NOT_SIMULATED_REASONS["job"],
                                        spec={"name": job, "provider": {"job": {"spec": {"backoffLimit": 1}}}}))
    metrics = {k: m.model_copy(update={"threshold": None}) if m.threshold is not None and not any(
        c and c.count(".") + c.count("0") > 0 for c in (m.successCondition, m.failureCondition)) else m
        for k, m in metrics.items()}
    steps: list[Step] = []
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["setWeight", "pause", "pause-forever", "analysis", "experiment"]))
        if kind == "setWeight":
            steps.append(Step(setWeight=draw(st.integers(1, 100))))
        elif kind == "pause":
            steps.append(Step(pause={"duration": draw(st.sampled_from([30, "1m", "45s"]))}))
        elif kind == "pause-forever":
            steps.append(Step(pause={}))
        elif kind == "experiment":
            steps.append(Step(experiment={"duration": "1m", "templates": [{"name": "x", "specRef": "canary"}]}))
        else:
            refs = draw(st.lists(st.sampled_from(template_names), min_size=1, unique=True))
            steps.append(Step(analysis=RolloutAnalysis(templates=[{"templateName": r} for r in refs])))
    background = None
    if draw(st.booleans()) or not any(s.analysis for s in steps):
        background = RolloutAnalysis(templates=[{"templateName": t} for t in template_names],
                                     startingStep=draw(st.sampled_from([None, 0, 1, 2])),
                                     args=[{"name": k, "value": v} for k, v in arg_values.items()
                                           if k not in needs_value and draw(st.booleans())])
    gate_args = {k: v for k, v in arg_values.items() if k in needs_value}
    return ArgoGate(profile=draw(st.sampled_from(PROFILES)), templates=templates, metrics=metrics,
                    rollout=ArgoRollout(name=draw(st.sampled_from(["web", "rollout"])), steps=steps,
                                        analysis=background),
                    args=gate_args, identity=Identity(canary_hash=draw(st.sampled_from(["canary", "abc123"])),
                                                      **Identity.client_fields(draw(client_names))),
                    assume=Assumptions(manual_promotion_after=draw(st.sampled_from(["5m", "never", "90s"]))),
                    not_simulated=skipped)


client_names = st.builds(ClientNames, requests=st.sampled_from([None, "http_requests_total", "flask_http_request_total"]),
                         status_label=st.sampled_from(["code", "status", "status_code"]),
                         duration=st.sampled_from(["http_request_duration_seconds", "request_latency"]),
                         status_on_histogram=st.booleans())


@given(argo_gates())
def test_argo_export_then_import_is_the_identity(gate):
    again = import_argo_manifests(parse_manifests(export_argo(gate), "exported.yaml")).gate
    assert again == normalize_argo(gate)
    assert normalize_argo(again) == again


@st.composite
def flagger_gates(draw):
    namespace = draw(st.sampled_from(["default", "prod"]))
    metrics, templates = {}, {}
    for name in draw(st.lists(st.sampled_from(["request-success-rate", "request-duration", "errors", "latency",
                                               "istio_requests_total"]), unique=True, max_size=4)):
        bounds = draw(st.sampled_from([None, ThresholdRange(min=99), ThresholdRange(max=500),
                                       ThresholdRange(min=1, max=2)]))
        ref = None
        if name in ("errors", "latency"):
            template_ns = draw(st.sampled_from([None, "flagger-system", namespace]))
            ref = MetricTemplateRef(name=f"{name}-template", namespace=template_ns)
            template = MetricTemplate(name=ref.name, namespace=template_ns,
                                      query='sum(rate(x{ns="{{ namespace }}",app="{{ target }}"}[{{ interval }}]))')
            templates[template_key(template.name, template.namespace)] = template
        metrics[name] = FlaggerMetric(name=name, interval=draw(st.sampled_from([None, "1m", "30s"])),
                                      thresholdRange=bounds, threshold=draw(st.sampled_from([None, 99.0])),
                                      templateRef=ref)
    iterations = draw(st.sampled_from([None, 0, 3, 10]))
    analysis = FlaggerAnalysis(
        interval=draw(st.sampled_from([None, "15s", "1m"])), threshold=draw(st.sampled_from([None, 1, 5, 10])),
        maxWeight=draw(st.sampled_from([None, 30, 50])), stepWeight=draw(st.sampled_from([None, 5, 10, 25])),
        stepWeights=draw(st.sampled_from([[], [5, 10, 20]])), iterations=iterations,
        match=draw(st.sampled_from([[], [{"headers": {"x-canary": {"exact": "insider"}}}]])),
        stepWeightPromotion=draw(st.sampled_from([None, 100])), metrics=metrics,
        webhooks=draw(st.sampled_from([[], [{"name": "load-test", "url": "http://flagger-loadtester/",
                                             "metadata": {"cmd": "hey -z 1m http://app/"}}]])))
    return FlaggerGate(
        name=draw(st.sampled_from(["podinfo", "web"])), namespace=namespace,
        targetRef={"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        service=draw(st.sampled_from([None, {"port": 9898}])), provider=draw(st.sampled_from([None, "nginx", "linkerd"])),
        mesh=draw(st.sampled_from(["istio", "linkerd", "appmesh"])), skipAnalysis=draw(st.sampled_from([None, False])),
        legacy_analysis_field=draw(st.booleans()), analysis=analysis, templates=templates,
        assume=FlaggerAssumptions(ab_weight=draw(st.sampled_from([0.1, 0.25])),
                                  bluegreen_weight=draw(st.sampled_from([0.0, 0.05]))))


@given(flagger_gates().filter(lambda gate: never_shifted(gate) is None))   # import refuses the others
def test_flagger_export_then_import_is_the_identity(gate):
    again = import_flagger_manifests(parse_manifests(export_flagger(gate), "exported.yaml")).gate
    assert again == gate


def test_cli_import_export_import_gives_the_same_gate(tmp_path):
    template = tmp_path / "template.yaml"
    template.write_text("""
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  args: [{name: service-name}]
  metrics:
  - name: success-rate
    interval: 30s
    failureLimit: 2
    successCondition: len(result) == 0 || result[0] >= 0.95
    provider:
      prometheus:
        query: |
          sum(rate(http_requests_total{service="{{args.service-name}}",code!~"5.."}[1m]))
          / sum(rate(http_requests_total{service="{{args.service-name}}"}[1m]))
""")
    plan, exported, replan = tmp_path / "plan.yaml", tmp_path / "exported.yaml", tmp_path / "again.yaml"
    assert main(["import", "argo", str(template), "--arg", "service-name=web", "-o", str(plan)]) == 0
    assert main(["export", "argo", str(plan), "-o", str(exported)]) == 0
    assert main(["import", "argo", str(exported), "-o", str(replan)]) == 0
    first, second = gate_of(load_gated_plan(plan)), gate_of(load_gated_plan(replan))
    assert isinstance(first, ArgoGate) and second == normalize_argo(first)


# -- export --onto: the gate written into the team's own manifests --------------------------------

ROLLOUT_AND_TEMPLATE = """\
apiVersion: v1
kind: Service
metadata: {name: checkout-canary, namespace: prod}
spec: {selector: {app: checkout}, ports: [{port: 80}]}
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate, namespace: prod, labels: {team: payments}}
spec:
  args: [{name: service-name}]
  measurementRetention: [{metricName: success-rate, limit: 20}]
  metrics:
  - name: success-rate
    interval: 30s
    failureLimit: 2
    successCondition: result[0] >= 0.95
    provider:
      prometheus:
        address: http://prometheus.monitoring:9090
        timeout: 10
        query: |
          sum(rate(http_requests_total{service="{{args.service-name}}",code!~"5.."}[1m]))
          / sum(rate(http_requests_total{service="{{args.service-name}}"}[1m]))
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: checkout, namespace: prod, annotations: {owner: payments}}
spec:
  replicas: 5
  selector: {matchLabels: {app: checkout}}
  template:
    metadata: {labels: {app: checkout}}
    spec: {containers: [{name: app, image: checkout:1.2}]}
  strategy:
    canary:
      canaryService: checkout-canary
      stableService: checkout-stable
      trafficRouting: {istio: {virtualService: {name: checkout-vs}}}
      maxSurge: 25%
      analysis:
        templates: [{templateName: success-rate}]
        startingStep: 1
        args: [{name: service-name, value: checkout}]
      steps:
      - setWeight: 10
      - pause: {duration: 5m}
      - setWeight: 50
      - pause: {duration: 10m}
"""


def _documents(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def test_export_onto_keeps_what_the_gate_does_not_model_and_writes_what_it_does(tmp_path, capsys):
    """A review found the exported Rollout without replicas, selector, template, services or traffic routing, and
    both objects without their namespace: committed 'where the old one was', the rollout would not even apply."""
    manifests = tmp_path / "checkout.yaml"
    manifests.write_text(ROLLOUT_AND_TEMPLATE)
    plan, tuned, out = tmp_path / "plan.yaml", tmp_path / "tuned.yaml", tmp_path / "out.yaml"
    assert main(["import", "argo", str(manifests), "-o", str(plan)]) == 0
    tuned.write_text(plan.read_text().replace("failureLimit: 2", "failureLimit: 0")
                     .replace("result[0] >= 0.95", "result[0] >= 0.98"))
    capsys.readouterr()
    assert main(["export", "argo", str(tuned), "--onto", str(manifests), "-o", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()   # nothing to note; the gate written's hazards, as lint says them
    assert err and all(line.startswith(f"warning: {out}") for line in err) and " H2 metric 'success-rate'" in err[0]
    original, written = _documents(ROLLOUT_AND_TEMPLATE), _documents(out.read_text())
    assert [d["kind"] for d in written] == ["Service", "AnalysisTemplate", "Rollout"]
    assert written[0] == original[0]
    template, rollout = written[1], written[2]
    assert template["metadata"] == original[1]["metadata"]
    assert template["spec"]["measurementRetention"] == original[1]["spec"]["measurementRetention"]
    (metric,) = template["spec"]["metrics"]
    assert metric["failureLimit"] == 0 and metric["successCondition"] == "result[0] >= 0.98"
    assert metric["provider"]["prometheus"]["timeout"] == 10
    assert {k: v for k, v in rollout["spec"].items() if k != "strategy"} == \
        {k: v for k, v in original[2]["spec"].items() if k != "strategy"}
    canary, before = rollout["spec"]["strategy"]["canary"], original[2]["spec"]["strategy"]["canary"]
    assert {k: canary[k] for k in ("canaryService", "stableService", "trafficRouting", "maxSurge")} == \
        {k: before[k] for k in ("canaryService", "stableService", "trafficRouting", "maxSurge")}
    assert canary["steps"] == before["steps"] and canary["analysis"]["startingStep"] == 1
    assert rollout["metadata"]["namespace"] == "prod" and rollout["metadata"]["annotations"]["owner"] == "payments"
    assert any(key.startswith("rampsim.io/") for key in rollout["metadata"]["annotations"])
    again = tmp_path / "again.yaml"
    assert main(["import", "argo", str(out), "-o", str(again)]) == 0
    assert gate_of(load_gated_plan(again)) == gate_of(load_gated_plan(tuned))


def test_export_onto_a_canary_keeps_its_deadline_autoscaler_and_webhooks(tmp_path, capsys):
    canary = tmp_path / "canary.yaml"
    canary.write_text("""\
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  progressDeadlineSeconds: 60
  autoscalerRef: {apiVersion: autoscaling/v2, kind: HorizontalPodAutoscaler, name: podinfo}
  service: {port: 9898, gateways: [public-gateway]}
  analysis:
    interval: 1m
    threshold: 5
    maxWeight: 50
    stepWeight: 10
    primaryReadyThreshold: 100
    metrics:
    - name: request-success-rate
      thresholdRange: {min: 99}
      interval: 1m
    webhooks:
    - name: load-test
      url: http://flagger-loadtester.test/
      metadata: {cmd: "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/"}
""")
    plan, tuned, out = tmp_path / "plan.yaml", tmp_path / "tuned.yaml", tmp_path / "out.yaml"
    assert main(["import", "flagger", str(canary), "-o", str(plan)]) == 0
    tuned.write_text(plan.read_text().replace("min: 99\n", "min: 98.5\n"))
    assert main(["export", "flagger", str(tuned), "--onto", str(canary), "-o", str(out)]) == 0
    (written,) = _documents(out.read_text())
    spec = written["spec"]
    assert spec["progressDeadlineSeconds"] == 60 and spec["autoscalerRef"]["name"] == "podinfo"
    assert spec["analysis"]["primaryReadyThreshold"] == 100
    assert spec["analysis"]["webhooks"][0]["name"] == "load-test"
    assert spec["analysis"]["metrics"][0]["thresholdRange"] == {"min": 98.5}
    assert written["metadata"]["namespace"] == "test"


def test_export_onto_files_without_the_gates_objects_adds_templates_and_not_a_rollout(tmp_path, capsys):
    """A template missing from the files is a whole object, written after them; the Rollout export writes is only
    its gate's part (a fragment): not written into the team's manifests, a note says so."""
    manifests, other = tmp_path / "checkout.yaml", tmp_path / "service.yaml"
    manifests.write_text(ROLLOUT_AND_TEMPLATE)
    other.write_text(ROLLOUT_AND_TEMPLATE.split("---\n")[0])
    plan, out = tmp_path / "plan.yaml", tmp_path / "out.yaml"
    assert main(["import", "argo", str(manifests), "-o", str(plan)]) == 0
    capsys.readouterr()
    assert main(["export", "argo", str(plan), "--onto", str(other), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "AnalysisTemplate 'success-rate' is not in the files given with --onto: written after them" in err
    assert "Rollout 'checkout' is not in the files given with --onto: not written" in err
    assert [d["kind"] for d in _documents(out.read_text())] == ["Service", "AnalysisTemplate"]
    assert main(["export", "argo", str(plan), "--onto", str(other), "-o", str(other)]) == 2
    assert "that is the --onto file this command reads" in capsys.readouterr().err
    assert main(["export", "kayenta", str(plan), "--onto", str(other)]) == 2


def test_export_onto_writes_the_gates_metric_fields_and_drops_those_it_no_longer_has(tmp_path):
    """A review found the old successCondition, failureLimit and count kept when the tuned gate had none."""
    manifests = tmp_path / "checkout.yaml"
    manifests.write_text(ROLLOUT_AND_TEMPLATE)
    plan, tuned, out = tmp_path / "plan.yaml", tmp_path / "tuned.yaml", tmp_path / "out.yaml"
    assert main(["import", "argo", str(manifests), "-o", str(plan)]) == 0
    text = plan.read_text()
    assert "successCondition: result[0] >= 0.95" in text and "failureLimit: 2\n" in text
    tuned.write_text(text.replace("successCondition: result[0] >= 0.95", "failureCondition: result[0] < 0.9")
                     .replace("      failureLimit: 2\n", ""))
    assert main(["export", "argo", str(tuned), "--onto", str(manifests), "-o", str(out)]) == 0
    (metric,) = _documents(out.read_text())[1]["spec"]["metrics"]
    assert metric["failureCondition"] == "result[0] < 0.9"
    assert "successCondition" not in metric and "failureLimit" not in metric
    assert metric["provider"]["prometheus"]["timeout"] == 10


@pytest.mark.parametrize("change, message", [
    (lambda text: text + "---\n" + text.split("---\n")[1].replace("namespace: prod", "namespace: staging"),
     "a second AnalysisTemplate named 'success-rate'"),
    (lambda text: text.replace("    canary:\n      canaryService", "    blueGreen: {activeService: a}\n    canary:\n"
                                                                      "      canaryService"),
     "a blue/green Rollout"),
])
def test_export_onto_refuses_an_object_there_twice_or_a_blue_green_rollout(tmp_path, capsys, change, message):
    manifests, target = tmp_path / "checkout.yaml", tmp_path / "target.yaml"
    manifests.write_text(ROLLOUT_AND_TEMPLATE)
    target.write_text(change(ROLLOUT_AND_TEMPLATE))
    plan = tmp_path / "plan.yaml"
    assert main(["import", "argo", str(manifests), "-o", str(plan)]) == 0
    capsys.readouterr()
    assert main(["export", "argo", str(plan), "--onto", str(target), "-o", str(tmp_path / "out.yaml")]) == 3
    assert message in capsys.readouterr().err and not (tmp_path / "out.yaml").exists()


def test_export_onto_a_legacy_template_name_and_the_files_own_analysis_key(tmp_path):
    """Review: a Rollout's 'templateName' (before Argo v0.9) came back next to 'templates', which import refuses;
    a Canary written with 'analysis' lost its other analysis fields when the plan came from 'canaryAnalysis'."""
    manifests, out = tmp_path / "checkout.yaml", tmp_path / "out.yaml"
    legacy = ROLLOUT_AND_TEMPLATE.replace("        templates: [{templateName: success-rate}]\n",
                                          "        templateName: success-rate\n")
    manifests.write_text(legacy)
    plan = tmp_path / "plan.yaml"
    assert main(["import", "argo", str(manifests), "-o", str(plan)]) == 0
    assert main(["export", "argo", str(plan), "--onto", str(manifests), "-o", str(out)]) == 0
    assert main(["import", "argo", str(out), "-o", str(tmp_path / "again.yaml")]) == 0
    canary = tmp_path / "canary.yaml"
    body = ("apiVersion: flagger.app/v1beta1\nkind: Canary\nmetadata: {name: podinfo}\nspec:\n"
            "  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}\n  KEY:\n    interval: 1m\n"
            "    threshold: 5\n    maxWeight: 50\n    stepWeight: 10\n    primaryReadyThreshold: 80\n"
            "    metrics:\n    - {name: request-success-rate, thresholdRange: {min: 99}, interval: 1m}\n")
    canary.write_text(body.replace("KEY", "canaryAnalysis"))
    assert main(["import", "flagger", str(canary), "-o", str(plan)]) == 0
    canary.write_text(body.replace("KEY", "analysis"))
    assert main(["export", "flagger", str(plan), "--onto", str(canary), "-o", str(out)]) == 0
    (written,) = _documents(out.read_text())
    assert "canaryAnalysis" not in written["spec"] and written["spec"]["analysis"]["primaryReadyThreshold"] == 80


ARGS_TEMPLATE = """
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  args: [{name: svc}]
  metrics:
  - name: success-rate
    interval: 30s
    count: 2
    successCondition: "result[0] >= 0.95"
    provider:
      prometheus:
        query: sum(rate(http_requests_total{job="{{args.svc}}",code!~"5.."}[1m])) / sum(rate(http_requests_total{job="{{args.svc}}"}[1m]))
"""
ARGS_ROLLOUT = """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: checkout}
spec:
  strategy:
    canary:
      analysis:
        templates: [{templateName: success-rate}]
        startingStep: 4
      steps:
      - setWeight: 10
      - analysis:
          templates: [{templateName: success-rate}]
          args: [{name: svc, value: payments}]
      - setWeight: 50
      - analysis:
          templates: [{templateName: success-rate}]
          args: [{name: svc, value: checkout}]
      - pause: {duration: 5m}
"""


def test_a_placeholder_for_one_analysis_never_replaces_what_the_rollout_gives_another(tmp_path):
    """A review found the background analysis's missing arg defaulted to 'checkout' and that placeholder measuring
    step 1 (whose Rollout analysis says payments) and written over step 1's value by export."""
    import yaml

    from rampsim.gates.argo_resolve import run_args
    from rampsim.gates.export import export_argo
    from tests.gates_helpers import argo_gate

    gate = argo_gate(ARGS_TEMPLATE, rollout=ARGS_ROLLOUT)
    values = {name: run_args(gate, analysis)["svc"] for name, analysis in gate.analyses()}
    assert values["steps.1"] == "payments" and values["steps.3"] == "checkout"
    assert values["background"] == gate.args["svc"]            # the placeholder serves the analysis that lacks it
    (rollout,) = [d for d in yaml.safe_load_all(export_argo(gate)) if d and d.get("kind") == "Rollout"]
    steps = rollout["spec"]["strategy"]["canary"]["steps"]
    assert steps[1]["analysis"]["args"] == [{"name": "svc", "value": "payments"}]
    assert steps[3]["analysis"]["args"] == [{"name": "svc", "value": "checkout"}]
