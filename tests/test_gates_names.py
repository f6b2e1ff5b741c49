"""The names imported gates are simulated under: arg placeholders and the service's identity chosen so that the
simulated series match the queries where the exporter's convention is clear, and real hazards left as they are.

* an arg no file supplies gets the value its matchers need to select the canary's series under the profile
  (nginx ``service``: the canary's backend; istio ``destination_service``: the canary host, FQDN or short name as
  the template writes it; http ``job``: the service), and the plan's comments say so;
* the service and namespace follow the names the queries write or the command line gives;
* ``arm_labels`` agrees with the exposition (each arm has a series with exactly those labels);
* a gate that cannot match (a short ``destination_service`` Istio never writes) or errs (``result >= x`` on a
  vector) still aborts every healthy rehearsal.
"""
from __future__ import annotations

import textwrap

import pytest

from rampsim.cli import main
from rampsim.engine.events import DecisionKind, first_terminal_decision
from rampsim.gates.argo_import import import_argo
from rampsim.gates.plan_sections import gate_of, load_gated_plan
from rampsim.gates.series_names import ARMS, arm_labels
from rampsim.promql.exposition import PROFILES, Deployment, expose
from rampsim.sim import simulate
from rampsim.sim.exposed import exposition_for
from tests.gates_helpers import corpus, plan_for

CORPUS_NAMES = {   # corpus file (template alone) -> the placeholder chosen and the healthy rehearsal's outcome
    "AliyunContainerService__gitops-demo__analysis.yaml": ({"service-name": "app-canary"}, "advance"),   # nginx
    "overhood__gitops-demo__analysis.yaml": ({"service-name": "app-canary"}, "advance"),                 # nginx
    "argoproj__rollouts-demo__examples__istio-subset__analysis.yaml":
        ({"service": "app-canary", "namespace": "default"}, "advance"),                                # istio, short
    "vfarcic__argo-rollouts-demo__cluster-analysis-template.yaml":
        ({"service-name": "app-canary.default.svc.cluster.local"}, "advance"),                         # istio, FQDN
    "papunpatra27-dot__genesis-devsecops-papun__k8s__analysis-template.yaml":
        ({"service-name": "app"}, "advance"),                                                          # http
}


@pytest.mark.parametrize("name", sorted(CORPUS_NAMES))
def test_placeholders_select_the_canarys_series(name):
    args, outcome = CORPUS_NAMES[name]
    imported = import_argo([corpus("argo") / name])
    assert {k: imported.gate.args[k] for k in args} == args
    explained = any("the value its matchers need to select the canary arm's series" in n for n in imported.notes)
    assert explained == (args != {"service-name": "app"})   # said when the value is not the name's default
    decision = first_terminal_decision(simulate(plan_for("argo", imported.gate), seed=0).events)
    assert decision is not None and decision.kind.value == outcome, decision


GATE = """
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: errors}}
spec:
  args: [{{name: service-name}}]
  metrics:
  - name: error-ratio
    interval: 30s
    successCondition: {condition}
    provider:
      prometheus:
        query: |
          sum(rate(http_requests_total{{job="{job}",code=~"5.."}}[1m]) or vector(0))
          / sum(rate(http_requests_total{{job="{job}",namespace="{namespace}"}}[1m]))
"""


def _write(tmp_path, condition="result[0] <= 0.05", job="{{args.service-name}}", namespace="shop"):
    path = tmp_path / "gate.yaml"
    path.write_text(textwrap.dedent(GATE.format(condition=condition, job=job, namespace=namespace)))
    return path


def test_the_identity_follows_the_names_the_queries_select(tmp_path, capsys):
    # written in the query: job="checkout" (http: the service), namespace="shop"
    imported = import_argo([_write(tmp_path, job="checkout")])
    assert (imported.gate.identity.service, imported.gate.identity.namespace) == ("checkout", "shop")
    assert any(note.startswith("identity: the simulated service is 'checkout' in namespace 'shop'")
               for note in imported.notes)
    # given on the command line: --arg service-name=payments
    out = tmp_path / "plan.yaml"
    assert main(["import", "argo", str(_write(tmp_path)), "--arg", "service-name=payments", "-o", str(out)]) == 0
    assert "identity: the simulated service is 'payments'" in out.read_text()
    plan = load_gated_plan(out)
    assert gate_of(plan).identity.service == "payments"
    decision = first_terminal_decision(simulate(plan, seed=0).events)
    assert decision is not None and decision.kind is DecisionKind.ADVANCE


def test_real_hazards_still_stop_healthy_rehearsals(tmp_path):
    # the names match, but a bare `result <= x` compares the vector: Error every time, abort at 40 s (H1)
    bare = import_argo([_write(tmp_path, condition="result <= 0.05", job="checkout")]).gate
    decision = first_terminal_decision(simulate(plan_for("argo", bare), seed=0).events)
    assert (decision.kind, decision.time) == (DecisionKind.ROLLBACK, 40.0)
    # Istio writes destination_service as an FQDN: a short literal name selects nothing whatever the service
    path = corpus("argo") / "markcallen__argo-rollouts-automation-example__manifests__analysis-template.yaml"
    gate = import_argo([path]).gate
    assert gate.identity.service == "app"
    decision = first_terminal_decision(simulate(plan_for("argo", gate), seed=0).events)
    assert decision is not None and decision.kind is DecisionKind.ROLLBACK


@pytest.mark.parametrize("profile", [p for p in PROFILES if p != "rampsim"] + ["custom"])
def test_arm_labels_are_the_expositions(profile):
    gate = import_argo([corpus("argo") / "AliyunContainerService__gitops-demo__analysis.yaml"],
                       profile=profile).gate
    plan = plan_for("argo", gate)
    telemetry = simulate(plan, seed=0, engine_factory=None).telemetry
    exposed, deployment = exposition_for(gate)
    assert isinstance(deployment, Deployment)
    series = expose(telemetry, exposed, deployment=deployment).labels
    for arm in ARMS:
        wanted = arm_labels(profile, deployment.service, deployment.namespace, arm, gate.identity.canary_hash,
                            gate.identity.stable_hash)
        assert any(all(labels.get(k, "") == v for k, v in wanted.items()) for labels in series), (profile, arm)
