"""The simulated series as an imported gate's exporter names them: where its queries are answered.

An Argo or Flagger gate (:mod:`rampsim.gates`) asks PromQL of the series its exporter writes
(``istio_requests_total``, ``http_requests_total``...). In a simulation, those series are the
run's telemetry presented under the gate's exporter profile and deployment names
(:func:`rampsim.promql.exposition.exposition_store`), and the gate's engine evaluates its
queries there with Prometheus 3.x semantics.

:func:`plan_engine` is the simulator's default engine factory: the reference
:class:`~rampsim.engine.engine.DecisionEngine` for a rampsim plan, the imported gate's engine
for a plan with an ``argo:`` or ``flagger:`` section.
"""
from __future__ import annotations

from typing import Optional

from rampsim.engine.engine import DecisionEngine
from rampsim.engine.protocol import Engine
from rampsim.gates.argo_model import ArgoGate
from rampsim.gates.engines import engine_for
from rampsim.gates.plan_sections import Gate, gate_of
from rampsim.gates.queries import QueryFunction, QueryProvider
from rampsim.plan.schema import Plan
from rampsim.promql import InstantResult, SeriesStore, evaluate
from rampsim.promql.exposition import Deployment, exposition_store
from rampsim.telemetry import Telemetry

__all__ = ["plan_engine", "gate_queries", "exposition_for"]

PROMQL_SEMANTICS = 3


def plan_engine(plan: Plan) -> Engine:
    """A fresh engine for one simulated run of ``plan``: its imported gate's, else the reference engine."""
    if gate_of(plan) is None:
        return DecisionEngine(plan)
    return engine_for(plan, gate_queries(plan))


def exposition_for(gate: Gate) -> tuple[str, Deployment]:
    """The exporter profile and the deployment labels the gate's queries select."""
    if isinstance(gate, ArgoGate):
        identity = gate.identity
        profile = "rampsim" if gate.profile == "custom" else gate.profile
        return profile, Deployment(service=identity.service, namespace=identity.namespace,
                                   template_hashes={"canary": identity.canary_hash, "baseline": identity.stable_hash})
    target = gate.target
    profile = {"istio": "istio", "linkerd": "linkerd", "nginx": "nginx"}.get(gate.mesh.split(":")[0], "http")
    return profile, Deployment(service=target, namespace=gate.namespace,
                               workloads={"baseline": f"{target}-primary", "canary": target})


def gate_queries(plan: Plan, complete: bool = False, shared: Optional[dict] = None) -> QueryProvider:
    """The query source of one run of ``plan``'s imported gate.

    The series are built from the telemetry when a query first needs them at a scrape
    (rows up to it; a closed loop fills later rows as it goes), and answers are remembered
    by query and time. With ``complete``, the telemetry is a whole open-loop run whose rows
    never change: the series are built once. Gates judged on the same run (a sweep's grid)
    share series and answers through one ``shared`` dictionary.
    """
    gate = gate_of(plan)
    if gate is None:
        raise ValueError(f"plan {plan.name!r} carries no imported gate")
    profile, deployment = exposition_for(gate)
    state: dict[str, object] = (shared if shared is not None else {}).setdefault((profile, repr(deployment)), {})

    def store_at(telemetry: Telemetry, tick: int) -> SeriesStore:
        rows = len(telemetry) if complete else tick + 1
        if state.get("telemetry") is not telemetry or state.get("rows") != rows:
            part = telemetry if rows == len(telemetry) else Telemetry(
                telemetry.layout, telemetry.time[:rows], telemetry.counters[:rows], telemetry.gauges[:rows])
            state.update(telemetry=telemetry, rows=rows, answers={},
                         store=exposition_store(part, profile, deployment=deployment))
        store = state["store"]
        assert isinstance(store, SeriesStore)
        return store

    def provider(telemetry: Telemetry, tick: int) -> QueryFunction:
        built: Optional[SeriesStore] = None

        def query(expr: str, at: float) -> InstantResult:
            nonlocal built
            built = built or store_at(telemetry, tick)
            answers = state["answers"]
            assert isinstance(answers, dict)
            key = (expr, at)
            if key not in answers:
                answers[key] = evaluate(expr, built, at, semantics=PROMQL_SEMANTICS)
            result: InstantResult = answers[key]
            return result

        return query

    return provider

