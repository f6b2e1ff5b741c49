"""The names imported gates are simulated under: arg placeholders and the service's identity chosen so that the
simulated series match the queries where the exporter's convention is clear, and real hazards left as they are.

* an arg no file supplies gets the value its matchers need to select the canary's series under the profile
  (nginx ``service``: the canary's backend; istio ``destination_service``: the canary host, FQDN or short name as
  the template writes it; http ``job``: the service), and the plan's comments say so;
* the service and namespace follow the names the queries write or the command line gives;
* ``arm_labels`` agrees with the exposition (each arm has a series with exactly those labels);
* queries that read an HTTP client library's own names (``flask_http_request_total{status}``, a histogram's
  ``_count`` by ``status_code``) are answered under those names, and App Mesh gates by an Envoy sidecar's series;
* a gate that cannot match (a short ``destination_service`` Istio never writes) or errs (``result >= x`` on a
  vector) still aborts every healthy rehearsal.
"""
from __future__ import annotations

import textwrap

import pytest

from rampsim.cli import main
from rampsim.engine.events import DecisionKind, first_terminal_decision
from rampsim.faults import parse_fault
from rampsim.gates.argo_import import import_argo
from rampsim.gates.flagger_import import import_flagger_manifests
from rampsim.gates.manifests import read_manifests
from rampsim.gates.plan_sections import gate_of, load_gated_plan
from rampsim.gates.profiles import infer_client
from rampsim.gates.series_names import ARMS, arm_labels
from rampsim.promql.exposition import PROFILES, ClientNames, Deployment, expose
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


CLIENT_QUERIES = [   # a query (as the corpus writes them) -> the client library's names it reads, or None
    ('sum(rate(flask_http_request_total{status=~"2.."}[1m])) / sum(rate(flask_http_request_total[1m]))',
     ClientNames(requests="flask_http_request_total", status_label="status")),
    ('sum(rate(gateway_request_duration_seconds_count{status_code=~"2.*"}[1m]))'
     ' / sum(rate(gateway_request_duration_seconds_count[1m]))',
     ClientNames(requests=None, status_label="status_code", duration="gateway_request_duration_seconds")),
    ('sum(rate(http_requests_received_total{service="app", code=~"5.."}[2m]))',
     ClientNames(requests="http_requests_received_total")),
    ('sum(rate(http_requests_total{job="app",status=~"2..|3.."}[1m]))', ClientNames(status_label="status")),
    ('histogram_quantile(0.95, sum(rate(http_server_request_duration_seconds_bucket[5m])) by (le))',
     ClientNames(duration="http_server_request_duration_seconds")),
    ('sum(rate(http_requests_total{code=~"5.."}[1m]))', ClientNames()),
    ('sum(rate(container_cpu_usage_seconds_total{namespace="x"}[5m]))', None),      # cAdvisor: no client library
    ('sentiment_drift_score{job="analysis-job"}', None),                            # a gauge of the application
    ('sum(rate(istio_requests_total{response_code!~"5.*"}[1m]))', None),              # a mesh's, not a library's
    ('sum(rate(haproxy_backend_http_responses_total{route="x",code="5xx"}[1m]))', None),   # OpenShift's router
    ('sum(promhttp_metric_handler_requests_total{code=~"5.*"})', None),       # Prometheus's own /metrics scrapes
    ('sum(rate(app_requests_total{code="5xx"}[1m]))', ClientNames(requests="app_requests_total")),  # by its name
]


@pytest.mark.parametrize("query,expected", CLIENT_QUERIES)
def test_the_client_librarys_names_are_read_from_the_queries(query, expected):
    assert infer_client([query]) == expected


CLIENT_GATES = [   # corpus templates whose queries read a client library's own names (profile inferred: http)
    ("AnuragBaiju__self-healing-gitops-platform__k8s__analysis-template.yaml", "flask_http_request_total", "status"),
    ("KiranJinka45__multiAgent__infra__k8s__argo-rollout.yaml", "", "status_code"),
    ("johnafariogun__shopmicro__k8s__new.yaml", None, "status"),
]


@pytest.mark.parametrize("name,requests,status", CLIENT_GATES)
def test_a_gate_reading_its_libraries_names_promotes_healthy_releases_and_stops_5xx(name, requests, status):
    imported = import_argo([corpus("argo") / name])
    gate = imported.gate
    assert gate.profile == "http" and (gate.identity.requests_series, gate.identity.status_label) == (requests, status)
    assert any(note.startswith("series: the queries read an HTTP client library's series") for note in imported.notes)
    plan = plan_for("argo", gate)
    healthy = first_terminal_decision(simulate(plan, seed=0).events)
    assert healthy is not None and healthy.kind is DecisionKind.ADVANCE, healthy
    # the status label carries the errors: a 5xx regression is seen, not a constant 100% success (from the start:
    # these analyses end after `count: 3` measurements; their queries select both arms, so at 20% weight the
    # canary's 60% errors are 12% of all requests)
    regression = first_terminal_decision(simulate(plan, [parse_fault("error-rate:canary:+60%@0s")], seed=0).events)
    assert regression is not None and regression.kind is DecisionKind.ROLLBACK, regression


@pytest.mark.parametrize("name,kind", [
    ("stefanprodan__gitops-appmesh__apps__podinfo__canary.yaml", "flagger"),
    ("aws-samples__amazon-eks-argo-rollouts__examples__canary__analysis_template.yaml", "argo"),
])
def test_envoy_sidecars_series_serve_app_mesh_gates(name, kind):
    """App Mesh: Flagger's builtin appmesh checks read envoy_cluster_upstream_rq{envoy_response_code} and its
    time histogram per pod; an Argo template reads the listener's envoy_http_downstream_rq_xx by code class."""
    if kind == "argo":
        gate = import_argo([corpus("argo") / name]).gate
        assert gate.profile == "envoy"
    else:
        gate = import_flagger_manifests(read_manifests(corpus("flagger") / name)).gate
        assert exposition_for(gate)[0] == "envoy"
    plan = plan_for(kind, gate)
    healthy = first_terminal_decision(simulate(plan, seed=0).events)
    assert healthy is not None and healthy.kind is DecisionKind.ADVANCE, healthy
    regression = first_terminal_decision(simulate(plan, [parse_fault("error-rate:canary:+30%@0s")], seed=0).events)
    assert regression is not None and regression.kind is DecisionKind.ROLLBACK, regression
