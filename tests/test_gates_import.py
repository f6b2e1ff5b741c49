"""``rampsim import argo|flagger``: files → a plan that validates, carries the gate as written, says what it defaulted;
refusals located and without a traceback; the plan sections' own errors located by file, line and field."""
from __future__ import annotations

import re
import textwrap

import pytest

from rampsim.cli import main
from rampsim.gates.argo_model import ArgoGate
from rampsim.gates.flagger_model import FlaggerGate
from rampsim.gates.plan_sections import gate_of, gated_plan_from_text, load_gated_plan, with_gate_overrides
from rampsim.plan.loader import PlanError
from tests.gates_helpers import README_ROLLOUT, README_TEMPLATE, corpus

TEMPLATE = """
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: success-rate}
spec:
  args:
  - name: service-name
  - name: canary-hash
  metrics:
  - name: success-rate
    interval: 20s
    count: 6
    failureLimit: 1
    successCondition: result[0] >= 0.95
    provider:
      prometheus:
        address: http://prometheus:9090
        query: |
          sum(rate(http_requests_total{service="{{args.service-name}}",rollouts_pod_template_hash="{{args.canary-hash}}",code!~"5.."}[1m]))
          / sum(rate(http_requests_total{service="{{args.service-name}}",rollouts_pod_template_hash="{{args.canary-hash}}"}[1m]))
  - name: smoke
    provider:
      job:
        spec: {template: {spec: {containers: [{name: t, image: curl}], restartPolicy: Never}}}
"""
ROLLOUT = """
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: shop}
spec:
  strategy:
    canary:
      steps:
      - setWeight: 10
      - pause: {duration: 30}
      - analysis:
          templates: [{templateName: success-rate}]
          args:
          - {name: service-name, value: shop}
          - {name: canary-hash, valueFrom: {podTemplateHashValue: Latest}}
      - setWeight: 50
      - pause: {}
"""


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_import_argo_with_rollout_writes_a_valid_plan_with_the_schedule(tmp_path, capsys):
    template, rollout = write(tmp_path, "t.yaml", TEMPLATE), write(tmp_path, "r.yaml", ROLLOUT)
    out = tmp_path / "plan.yaml"
    assert main(["import", "argo", str(template), "--rollout", str(rollout), "--profile", "istio", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "metric 'smoke'" in err and "job provider" in err
    text = out.read_text()
    assert "DEFAULTED" in text and "slo:" in text and "traffic:" in text
    plan = load_gated_plan(out)
    gate = gate_of(plan)
    assert isinstance(gate, ArgoGate) and gate.profile == "istio"
    assert gate.metrics["success-rate"].interval == "20s" and gate.metrics["success-rate"].count == 6
    assert gate.not_simulated[0].name == "smoke"
    # 10% for the 30 s pause, then the analysis (6 × 20 s: the last at 100 s), then 50% until the assumed
    # manual promotion (5m), then the slack
    assert [(p.weight, p.duration) for p in plan.phases] == [(0.1, 130.0), (0.5, 300.0), (1.0, 60.0)]
    assert plan.telemetry.scrape_interval == 10.0
    assert plan.rules == {} and plan.checkpoints == {}


def test_import_argo_args_and_placeholders(tmp_path, capsys):
    template = write(tmp_path, "t.yaml", TEMPLATE)
    out = tmp_path / "plan.yaml"
    assert main(["import", "argo", str(template), "--arg", "service-name=shop", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "arg 'canary-hash'" in err and "defaulted to 'canary'" in err
    gate = gate_of(load_gated_plan(out))
    assert isinstance(gate, ArgoGate) and gate.args == {"service-name": "shop", "canary-hash": "canary"}
    assert main(["import", "argo", str(template), "--arg", "nonsense"]) == 2


def test_an_interval_longer_than_a_simulated_ramp_is_refused_at_its_field(tmp_path, capsys):
    """A review found 'interval: 99999999999h' refused as 'the imported plan (not written) would be invalid:
    phases.2.duration', a field of a plan never written: it is the metric's interval, at its line; one that fits is
    imported, its ramp's slack cut at what rampsim simulates."""
    background = ROLLOUT.split("      steps:")[0] + """\
      analysis:
        templates: [{templateName: success-rate}]
        args:
        - {name: service-name, value: shop}
        - {name: canary-hash, valueFrom: {podTemplateHashValue: Latest}}
      steps:
      - setWeight: 10
      - pause: {duration: 5m}
"""
    rollout = write(tmp_path, "r.yaml", background)
    out = tmp_path / "plan.yaml"
    for huge in ("99999999999h", "2000h"):
        template = write(tmp_path, "t.yaml", TEMPLATE.replace("interval: 20s", f"interval: {huge}"))
        assert main(["import", "argo", str(template), "--rollout", str(rollout), "-o", str(out)]) == 3
        err = capsys.readouterr().err
        assert f"{template}:11: spec.metrics.0.interval: metric 'success-rate': {huge}: longer than the 30 days" in err
        assert "phases" not in err and not out.exists()
    template = write(tmp_path, "t.yaml", TEMPLATE.replace("interval: 20s", "interval: 700h"))
    assert main(["import", "argo", str(template), "--rollout", str(rollout), "-o", str(out)]) == 0
    assert load_gated_plan(out).duration <= 30 * 86400

def test_refusals_are_located_and_exit_3_without_traceback(tmp_path, capsys):
    helm = write(tmp_path, "helm.yaml", "apiVersion: v1\nkind: AnalysisTemplate\nmetadata:\n  name: {{ .Values.name }}\n")
    assert main(["import", "argo", str(helm)]) == 3
    err = capsys.readouterr().err
    assert f"{helm}:4: a Helm chart template" in err and "Traceback" not in err
    web = write(tmp_path, "web.yaml", """
    apiVersion: argoproj.io/v1alpha1
    kind: AnalysisTemplate
    metadata: {name: web}
    spec:
      metrics:
      - name: health
        provider: {web: {url: "http://x/health"}}
    """)
    assert main(["import", "argo", str(web)]) == 3
    err = capsys.readouterr().err
    assert "no metric rampsim can simulate" in err and "'health' (web)" in err
    unsupported = write(tmp_path, "topk.yaml", TEMPLATE.replace("sum(rate(", "topk(3, rate(", 1))
    assert main(["import", "argo", str(unsupported)]) == 3
    err = capsys.readouterr().err
    assert "topk" in err and f"{unsupported}:" in err
    bad = write(tmp_path, "bad.yaml", TEMPLATE.replace("interval: 20s", "interval: 20"))
    assert main(["import", "argo", str(bad)]) == 3
    err = capsys.readouterr().err
    assert f"{bad}:11: spec.metrics.0.interval:" in err and "Go duration" in err


@pytest.mark.parametrize("zero", ["0s", "0m", "0"])
def test_a_zero_interval_is_refused_not_rehearsed_as_an_abort(tmp_path, capsys, zero):
    """A review found 'interval: 0s' simulated as an abort at 0:00 ('interval must be longer than zero'), a rule of
    rampsim's own: Argo's ValidateMetric only parses it, and then measures at every reconcile, back to back."""
    template = write(tmp_path, "t.yaml", TEMPLATE.replace("interval: 20s", f"interval: '{zero}'"))
    assert main(["import", "argo", str(template)]) == 3
    err = capsys.readouterr().err
    assert f"{template}:11: spec.metrics.0.interval:" in err and "back to back, which is not simulated" in err


def test_a_flagger_interval_longer_than_any_ramp_is_refused_at_its_field(tmp_path, capsys):
    """A review found 'interval: 100000h' refused for the imported plan's health-check interval, a field the file
    does not have."""
    canary = corpus("flagger") / "stefanprodan__gitops-istio__apps__backend__canary.yaml"
    text = canary.read_text()
    assert text.count("    interval: 15s\n") == 1
    huge = write(tmp_path, "c.yaml", text.replace("    interval: 15s\n", "    interval: 100000h\n"))
    assert main(["import", "flagger", str(huge)]) == 3
    line = text.splitlines().index("    interval: 15s") + 1
    assert f"{huge}:{line}: spec.analysis.interval: 100000h: longer than the 30 days" in capsys.readouterr().err


def test_blue_green_rollouts_are_refused(tmp_path, capsys):
    template = write(tmp_path, "t.yaml", TEMPLATE)
    blue = write(tmp_path, "bg.yaml", "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: x}\n"
                                      "spec:\n  strategy:\n    blueGreen: {activeService: a}\n")
    assert main(["import", "argo", str(template), "--rollout", str(blue)]) == 3
    assert "only the canary strategy" in capsys.readouterr().err


def test_import_flagger_with_metric_templates(tmp_path, capsys):
    directory = corpus("flagger")
    canary = directory / "stefanprodan__gitops-istio__apps__backend__canary.yaml"
    metrics = directory / "stefanprodan__gitops-istio__istio__gateway__flagger-metrics.yaml"
    out = tmp_path / "plan.yaml"
    assert main(["import", "flagger", str(canary), "--metric-template", str(metrics), "--mesh", "istio",
                 "-o", str(out)]) == 0
    plan = load_gated_plan(out)
    gate = gate_of(plan)
    assert isinstance(gate, FlaggerGate) and gate.analysis.threshold == 10 and gate.analysis.stepWeight == 5
    assert set(gate.templates) == {"istio-system/error-rate", "istio-system/latency"}
    assert plan.phases[0].weight == 0.0 and plan.phases[1].weight == 0.05 and plan.phases[-2].weight == 0.5
    assert main(["import", "flagger", str(canary), "--strict"]) == 3
    assert "give it with --metric-template" in capsys.readouterr().err


PLAN = """
name: x
phases: [{weight: 20%, duration: 10m}]
final_gate: {at: 10m}
slo: {objectives: {e: {metric: error_rate, op: ">", threshold: 1%}}}
argo:
  templates: {t: {}}
  metrics:
    m:
      name: m
      template: t
      interval: "30"
      successCondition: result[0] >= 0.95
      provider: {prometheus: {query: up}}
  rollout: {steps: [{setWeight: 20}]}
"""


def test_gate_section_errors_name_file_line_and_field():
    with pytest.raises(PlanError) as caught:
        gated_plan_from_text(PLAN, "plan.yaml")
    assert any(p.startswith("plan.yaml:12: argo.metrics.m.interval:") for p in caught.value.problems)
    plan = gated_plan_from_text(PLAN.replace('"30"', "30s"), "plan.yaml")
    with pytest.raises(PlanError, match="plan.yaml:9: argo.metrics.m.threshold"):  # a new key: its metric's line
        with_gate_overrides(plan, {"argo.metrics.m.successCondition": "result[0] >= x", "argo.metrics.m.threshold": 1})
    # a condition with two numbers: which one a threshold replaces is ambiguous (a review found it silently ignored)
    with pytest.raises(PlanError, match=r"successCondition compares the result with 2 numbers \(0.95 and 1\)"):
        with_gate_overrides(plan, {"argo.metrics.m.successCondition": "result[0] >= 0.95 && result[0] <= 1",
                                   "argo.metrics.m.threshold": 0.5})


def test_sweeps_vary_the_gate_fields_and_the_threshold():
    plan = gated_plan_from_text(PLAN.replace('"30"', "30s"), "plan.yaml")
    varied = with_gate_overrides(plan, {"argo.metrics.m.failureLimit": 3, "argo.metrics.m.threshold": 0.99})
    gate = gate_of(varied)
    assert isinstance(gate, ArgoGate) and gate.metrics["m"].failureLimit == 3 and gate.metrics["m"].threshold == 0.99


def _analysis():
    from rampsim.gates.argo_model import RolloutAnalysis
    return RolloutAnalysis(templates=[{"templateName": "t"}])


def test_varied_threshold_reaches_the_measured_condition():
    from rampsim.gates.argo_resolve import run_metrics

    plan = gated_plan_from_text(PLAN.replace('"30"', "30s"), "plan.yaml")
    gate = gate_of(with_gate_overrides(plan, {"argo.metrics.m.threshold": 0.99}))
    assert isinstance(gate, ArgoGate)
    assert run_metrics(gate, _analysis())[0].success == "result[0] >= 0.99"


@pytest.mark.parametrize("limit, message", [("true", "expected a whole number or a string, got True"),
                                            ("99999999999999999999999", "beyond a 32-bit whole number")])
def test_a_limit_kubernetes_would_refuse_is_refused_naming_its_line(tmp_path, capsys, limit, message):
    """A review found `failureLimit: true` read as 1 and a 23-digit count accepted: the API server refuses both."""
    from tests.test_gates_simulated import SUCCESS_RATE

    path = tmp_path / "t.yaml"
    text = SUCCESS_RATE.replace("failureLimit: 1", f"failureLimit: {limit}")
    path.write_text(text)
    line = text.splitlines().index(f"    failureLimit: {limit}") + 1
    assert main(["import", "argo", str(path), "-o", str(tmp_path / "plan.yaml")]) == 3
    err = capsys.readouterr().err
    assert f"{path}:{line}:" in err and "failureLimit" in err and message in err, err


def test_a_step_analysis_may_keep_its_measurements_or_label_its_runs(tmp_path):
    """A review found `measurementRetention` refused on a step analysis (a field that decides nothing)."""
    from tests.test_gates_simulated import SUCCESS_RATE

    template, rollout = tmp_path / "t.yaml", tmp_path / "r.yaml"
    template.write_text(SUCCESS_RATE)
    rollout.write_text(textwrap.dedent("""
        apiVersion: argoproj.io/v1alpha1
        kind: Rollout
        metadata: {name: checkout}
        spec:
          strategy:
            canary:
              steps:
              - setWeight: 20
              - analysis:
                  templates: [{templateName: success-rate}]
                  measurementRetention: [{metricName: success-rate, limit: 20}]
                  analysisRunMetadata: {labels: {team: checkout}}
              - setWeight: 50
        """))
    assert main(["import", "argo", str(template), "--rollout", str(rollout), "-o", str(tmp_path / "plan.yaml")]) == 0


def test_a_metric_template_in_another_namespace_is_not_used(tmp_path, capsys):
    """Flagger looks a MetricTemplate up in the reference's namespace only; a review found a same-named template from
    another namespace silently used (lint clean, rehearsal promoting where Flagger fails every check)."""
    from tests.test_gates_lint import canary as canary_with

    canary, template = tmp_path / "canary.yaml", tmp_path / "metrics.yaml"
    canary.write_text(canary_with("{name: error-rate, templateRef: {name: error-rate, namespace: istio-system}, "
                                  "thresholdRange: {max: 1}, interval: 1m}"))
    template.write_text(textwrap.dedent("""
        apiVersion: flagger.app/v1beta1
        kind: MetricTemplate
        metadata: {name: error-rate, namespace: monitoring}
        spec:
          provider: {type: prometheus, address: http://prometheus:9090}
          query: sum(rate(http_requests_total{code=~"5.."}[{{ interval }}]))
        """))
    assert main(["import", "flagger", str(canary), "--metric-template", str(template),
                 "-o", str(tmp_path / "plan.yaml")]) == 0
    err = capsys.readouterr().err
    assert "MetricTemplate 'error-rate' is in namespace monitoring, and the Canary refers to istio-system/error-rate" \
        in err
    gate = gate_of(load_gated_plan(tmp_path / "plan.yaml"))
    assert isinstance(gate, FlaggerGate) and not gate.templates


def test_a_mirroring_canary_is_told_its_mirror_tick_is_not_simulated():
    from rampsim.gates.flagger_import import import_flagger_manifests
    from rampsim.gates.manifests import parse_manifests
    from tests.test_gates_lint import canary

    text = canary("{name: request-success-rate, thresholdRange: {min: 99}, interval: 1m}").replace(
        "    threshold: 5\n", "    threshold: 5\n    mirror: true\n    mirrorWeight: 100\n")
    notes = import_flagger_manifests(parse_manifests(text, "canary.yaml"), mesh="istio").notes
    assert any("spec.analysis.mirror: traffic mirroring is not simulated" in n for n in notes), notes


def test_an_arg_the_rollout_writes_wins_over_the_command_line_in_the_identity_and_the_queries(tmp_path, capsys):
    """``--arg service-name=other`` renamed the simulated service while the Rollout's ``value: checkout`` went into
    the queries: no simulated series matched and every healthy ramp aborted on consecutive errors. The Rollout's
    value wins in both (as in Argo), and import says the --arg was not used."""
    from rampsim.engine.events import DecisionKind, first_terminal_decision
    from rampsim.gates.argo_resolve import run_args
    from rampsim.sim import simulate

    template, rollout = write(tmp_path, "t.yaml", README_TEMPLATE), write(tmp_path, "r.yaml", README_ROLLOUT)
    out = tmp_path / "plan.yaml"
    assert main(["import", "argo", str(template), "--rollout", str(rollout), "--arg", "service-name=other",
                 "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "--arg service-name=other: the Rollout's analysis gives 'service-name' the value 'checkout'" in err
    plan = load_gated_plan(out)
    gate = gate_of(plan)
    assert isinstance(gate, ArgoGate) and gate.rollout.analysis is not None
    assert gate.identity.service == "checkout"
    assert run_args(gate, gate.rollout.analysis)["service-name"] == gate.identity.service
    decision = first_terminal_decision(simulate(plan, seed=0).events)
    assert decision is not None and decision.kind is DecisionKind.ADVANCE, decision


def test_an_arg_the_rollout_does_not_write_is_filled_by_the_command_line(tmp_path, capsys):
    rollout = README_ROLLOUT.replace("        - {name: service-name, value: checkout}\n", "")
    template, rollout_file = write(tmp_path, "t.yaml", README_TEMPLATE), write(tmp_path, "r.yaml", rollout)
    out = tmp_path / "plan.yaml"
    assert main(["import", "argo", str(template), "--rollout", str(rollout_file), "--arg", "service-name=other",
                 "-o", str(out)]) == 0
    assert "the Rollout's analysis gives" not in capsys.readouterr().err
    gate = gate_of(load_gated_plan(out))
    assert isinstance(gate, ArgoGate) and gate.identity.service == "other"


def test_a_template_the_rollout_does_not_run_is_read_with_its_own_args(tmp_path, capsys):
    """Review: a template the Rollout does not reference was said to use an arg 'no template declares' (every run
    Error), though it declares it: it is imported and never run."""
    other = TEMPLATE.replace("metadata: {name: success-rate}", "metadata: {name: error-rate}").replace(
        "- name: success-rate\n", "- name: error-rate\n").split("  - name: smoke")[0]
    template = tmp_path / "templates.yaml"
    template.write_text(textwrap.dedent(TEMPLATE) + "---\n" + textwrap.dedent(other))
    rollout = tmp_path / "rollout.yaml"
    rollout.write_text(textwrap.dedent(ROLLOUT))
    assert main(["import", "argo", str(template), "--rollout", str(rollout), "-o", str(tmp_path / "plan.yaml")]) == 0
    err = capsys.readouterr().err
    assert "no template declares" not in err and "every run is Error" not in err, err
    assert "template 'error-rate' is not run by the Rollout's analyses: imported, never measured" in err


# -- values of the wrong kind, refused where they are written -----------------------------------------------------
# A review found these read as the wrong value: Python's int(), float() and Decimal() read a digit in any script
# ('３' as 3), where Go and Java read ASCII digits only; a pydantic int or float reads YAML's true as 1.

FULLWIDTH = r"is not an ASCII digit; write the number with ASCII digits 0-9"
HOSTILE_VALUES = [
    # (what, file, old, new, line fragment, field, message pattern)
    ("an Argo interval in fullwidth digits", "template", "interval: 20s", 'interval: "２0s"', "interval:",
     "spec.metrics.0.interval", r"'２' \(fullwidth digit two\) " + FULLWIDTH),
    ("an Argo initialDelay in Arabic-Indic digits", "template", "    interval: 20s\n",
     '    interval: 20s\n    initialDelay: "١m"\n', "initialDelay:", "spec.metrics.0.initialDelay", FULLWIDTH),
    ("an Argo pause in fullwidth digits", "rollout", "pause: {duration: 30}", "pause: {duration: ３0}", "duration:",
     "spec.strategy.canary.steps.1.pause.duration", r"cannot read '３0': " + "'３' " + r"\(fullwidth digit three\)"),
    # Go's time.ParseDuration and strconv.ParseInt(s, 10, 32) read no spaces and no more than 32 bits: Argo's pause
    # is then invalid, where Python's strip() and int() had read 30 s and 3,171 years
    ("an Argo interval with a space", "template", "interval: 20s", 'interval: " 20s"', "interval:",
     "spec.metrics.0.interval", r"' 20s' has spaces around it, which Go's time.ParseDuration refuses: write '20s'"),
    ("an Argo pause with a space", "rollout", "pause: {duration: 30}", 'pause: {duration: "30 "}', "duration:",
     "spec.strategy.canary.steps.1.pause.duration", r"'30 ' has spaces around it"),
    ("an Argo pause beyond 32 bits", "rollout", "pause: {duration: 30}", 'pause: {duration: "99999999999"}',
     "duration:", "spec.strategy.canary.steps.1.pause.duration",
     r"'99999999999' is beyond a 32-bit whole number of seconds"),
    ("a Flagger interval with a space", "canary", "    interval: 1m\n", '    interval: "1m "\n',
     "interval: \"", "spec.analysis.interval", r"'1m ' has spaces around it"),
    # Argo: a limit (IntOrString) in digits Argo's strconv.Atoi does not read (it reads 0), a setWeight of true (1%)
    ("an Argo count in fullwidth digits", "template", "count: 6", 'count: "６"', "count:", "spec.metrics.0.count",
     r"'６' \(fullwidth digit six\) " + FULLWIDTH),
    ("an Argo failureLimit with spaces", "template", "failureLimit: 1", 'failureLimit: " 1 "', "failureLimit:",
     "spec.metrics.0.failureLimit", r"expected a whole number, got ' 1 ' \(Argo reads text that is not one as 0\)"),
    ("an Argo inconclusiveLimit in Arabic-Indic digits", "template", "failureLimit: 1",
     'failureLimit: 1\n    inconclusiveLimit: "٣"', "inconclusiveLimit:", "spec.metrics.0.inconclusiveLimit",
     FULLWIDTH),
    ("an Argo consecutiveErrorLimit in Devanagari digits", "template", "failureLimit: 1",
     'failureLimit: 1\n    consecutiveErrorLimit: "४"', "consecutiveErrorLimit:",
     "spec.metrics.0.consecutiveErrorLimit", FULLWIDTH),
    ("a boolean setWeight", "rollout", "setWeight: 10", "setWeight: true", "setWeight: true",
     "spec.strategy.canary.steps.0.setWeight", r"expected a whole number such as 5, got the boolean True"),
    ("a setWeight of yes", "rollout", "setWeight: 50", "setWeight: yes", "setWeight: yes",
     "spec.strategy.canary.steps.3.setWeight", r"got the boolean True"),
    ("a setWeight in fullwidth digits", "rollout", "setWeight: 10", 'setWeight: "１0"', "setWeight: \"",
     "spec.strategy.canary.steps.0.setWeight", FULLWIDTH),
    ("a setWeight as a percentage", "rollout", "setWeight: 10", 'setWeight: "10%"', "setWeight: \"",
     "spec.strategy.canary.steps.0.setWeight", r"expected a whole number such as 5, got '10%'"),
    ("a boolean startingStep", "rollout", "      steps:\n",
     "      analysis: {templates: [{templateName: success-rate}], startingStep: true}\n      steps:\n",
     "startingStep", "spec.strategy.canary.analysis.startingStep", r"got the boolean True"),
    # Flagger: a count or a weight of true (1), a bound of true (1.0), digits other than ASCII
    ("a boolean Flagger threshold", "canary", "threshold: 5", "threshold: true", "threshold:",
     "spec.analysis.threshold", r"expected a whole number such as 5, got the boolean True"),
    ("a Flagger maxWeight in fullwidth digits", "canary", "maxWeight: 50", 'maxWeight: "５0"', "maxWeight:",
     "spec.analysis.maxWeight", FULLWIDTH),
    ("a Flagger stepWeight of yes", "canary", "stepWeight: 10", "stepWeight: yes", "stepWeight:",
     "spec.analysis.stepWeight", r"got the boolean True"),
    ("boolean Flagger stepWeights", "canary", "stepWeight: 10", "stepWeights: [true, 20]", "stepWeights:",
     "spec.analysis.stepWeights.0", r"got the boolean True"),
    ("boolean Flagger iterations", "canary", "threshold: 5", "threshold: 5\n    iterations: true", "iterations:",
     "spec.analysis.iterations", r"got the boolean True"),
    ("a boolean thresholdRange", "canary", "thresholdRange: {min: 99}", "thresholdRange: {min: true}",
     "thresholdRange:", "spec.analysis.metrics.0.thresholdRange.min",
     r"expected a number such as 1.5, got the boolean True"),
    ("a thresholdRange in fullwidth digits", "canary", "thresholdRange: {min: 99}", 'thresholdRange: {max: "５00"}',
     "thresholdRange:", "spec.analysis.metrics.0.thresholdRange.max", FULLWIDTH),
    ("a boolean legacy threshold", "canary", "thresholdRange: {min: 99}", "threshold: true", "threshold: true",
     "spec.analysis.metrics.0.threshold", r"got the boolean True"),
    ("an ab-weight annotation in Arabic-Indic digits", "canary", "metadata: {name: podinfo, namespace: test}",
     'metadata: {name: podinfo, namespace: test, annotations: {rampsim.io/ab-weight: "٠.٥"}}', "metadata:",
     "metadata.annotations", r"rampsim.io/ab-weight and rampsim.io/bluegreen-weight are shares between 0 and 1: "
                             r"cannot read '٠.٥': '٠' \(arabic-indic digit zero\) is not an ASCII digit"),
    ("a Flagger interval in fullwidth digits", "canary", "    interval: 1m\n", '    interval: "１m"\n',
     "interval: \"", "spec.analysis.interval", FULLWIDTH),
    ("a Flagger metric interval in fullwidth digits", "canary", "interval: 1m}", "interval: ３0s}", "interval: ３",
     "spec.analysis.metrics.0.interval", FULLWIDTH),
]


@pytest.mark.parametrize("what, file, old, new, fragment, field, pattern", HOSTILE_VALUES,
                         ids=[case[0] for case in HOSTILE_VALUES])
def test_a_value_of_the_wrong_kind_is_refused_naming_file_line_and_field(tmp_path, capsys, what, file, old, new,
                                                                         fragment, field, pattern):
    from tests.gates_helpers import PODINFO_CANARY

    texts = {"template": TEMPLATE, "rollout": ROLLOUT, "canary": PODINFO_CANARY}
    assert old in texts[file], old
    texts[file] = texts[file].replace(old, new, 1)
    paths = {name: write(tmp_path, f"{name}.yaml", text) for name, text in texts.items()}
    argv = (["import", "flagger", str(paths["canary"])] if file == "canary" else
            ["import", "argo", str(paths["template"]), "--rollout", str(paths["rollout"])])
    assert main([*argv, "-o", str(tmp_path / "plan.yaml")]) == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err and not (tmp_path / "plan.yaml").exists()
    written = textwrap.dedent(texts[file])
    line = next(i for i, row in enumerate(written.splitlines(), 1) if fragment in row)
    assert re.search(rf"{re.escape(str(paths[file]))}:{line}: {re.escape(field)}: .*{pattern}", err), err


@pytest.mark.parametrize("written, read", [("3.0", 3), ('"+3"', "+3"), ('"3"', "3"), ("-1", -1)])
def test_a_limit_argo_reads_is_imported_as_written(written, read):
    """kubectl sends YAML's 3.0 as the JSON number 3, and Argo reads '+3' as 3 (strconv.Atoi): both accepted."""
    from rampsim.gates.argo_resolve import run_metrics
    from tests.gates_helpers import argo_gate

    gate = argo_gate(TEMPLATE.replace("count: 6", f"count: {written}"), rollout=ROLLOUT)
    assert gate.metrics["success-rate"].count == read
    analysis = gate.rollout.steps[2].analysis
    assert analysis is not None and run_metrics(gate, analysis)[0].count == int(read)


@pytest.mark.parametrize("written, seconds", [(30, 30.0), ("30", 30.0), ("+30", 30.0), ("2147483647", 2 ** 31 - 1.0),
                                              ("1m30s", 90.0), ("0", 0.0), ("1.5s", 1.0), ("1ms", 0.0),
                                              ("-0.5s", 0.0), ("0" * 5000 + "1", 1.0)])
def test_a_pause_is_read_as_argo_reads_it(written, seconds):
    """RolloutPause.DurationSeconds: strconv.ParseInt(s, 10, 32) (a sign allowed), else time.ParseDuration truncated
    to whole seconds (int32(d.Seconds()): Argo's own test reads '1ms' as 0)."""
    from rampsim.gates.goduration import parse_pause_duration

    assert parse_pause_duration(written) == seconds


def test_a_pause_of_thousands_of_digits_is_refused_as_too_long():
    """int() refuses more than 4,300 digits with a ValueError of its own: the pause said nothing of the field."""
    from rampsim.gates.goduration import GoDurationError, parse_pause_duration

    for written in ("9" * 5000, 10 ** 5000):   # str() of the number refuses it too
        with pytest.raises(GoDurationError, match=r"beyond a 32-bit whole number of seconds"):
            parse_pause_duration(written)


@pytest.mark.parametrize("value", ["３", " 3 ", "3_0"])
def test_a_limit_an_arg_gives_is_read_as_argo_reads_it(value):
    """int() read an arg's '３', ' 3 ' or '3_0' as a count of 3 or 30; Argo's strconv.Atoi reads none of them."""
    from rampsim.gates.argo_resolve import _RunError, run_metrics
    from tests.gates_helpers import argo_gate

    template = TEMPLATE.replace("  - name: canary-hash\n",
                                f"  - name: canary-hash\n  - name: count\n    value: '{value}'\n")
    gate = argo_gate(template.replace("count: 6", 'count: "{{args.count}}"'), rollout=ROLLOUT)
    analysis = gate.rollout.steps[2].analysis
    assert analysis is not None
    with pytest.raises(_RunError, match=re.escape(f"count: {value!r} is not a whole number")):
        run_metrics(gate, analysis)


@pytest.mark.parametrize("value, message", [(True, "expected a number such as 1.5, got the boolean True"),
                                            ("０.９", "is not an ASCII digit"), ("95%", "without a unit, got '95%'")])
def test_an_argo_threshold_is_a_plain_number(value, message):
    plan = gated_plan_from_text(PLAN.replace('"30"', "30s"), "plan.yaml")
    with pytest.raises(PlanError, match=rf"argo\.metrics\.m\.threshold: .*{re.escape(message)}"):
        with_gate_overrides(plan, {"argo.metrics.m.threshold": value})


def test_a_flagger_plan_section_refuses_a_boolean_count_naming_its_line(tmp_path, capsys):
    from tests.gates_helpers import PODINFO_CANARY

    plan = tmp_path / "plan.yaml"
    assert main(["import", "flagger", str(write(tmp_path, "canary.yaml", PODINFO_CANARY)), "-o", str(plan)]) == 0
    text = plan.read_text()
    assert text.count("    threshold: 5\n") == 1
    plan.write_text(text.replace("    threshold: 5\n", "    threshold: true\n"))
    capsys.readouterr()
    assert main(["validate", str(plan)]) == 3
    line = text.splitlines().index("    threshold: 5") + 1
    assert f"{plan}:{line}: flagger.analysis.threshold: expected a whole number such as 5, got the boolean True" \
        in capsys.readouterr().err
