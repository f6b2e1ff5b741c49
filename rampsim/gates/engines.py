"""The engine for a plan: Argo's, Flagger's or Kayenta's semantics when it carries an imported gate, else the reference.

Callers (rehearse, sweep, check, gate) ask :func:`engine_factory_for` and need not know which
kind of gate a plan has. An imported gate evaluates PromQL, so its engine needs a query
source: ``queries_for(plan)`` returns the :data:`~rampsim.gates.queries.QueryProvider` for a run
of that plan (in a simulation, the simulated series named as the plan's exporter profile
names them; in production, Prometheus).
"""
from __future__ import annotations

from typing import Callable, Optional

from rampsim.engine.engine import DecisionEngine
from rampsim.engine.protocol import Engine, EngineFactory
from rampsim.gates.argo_engine import ArgoEngine
from rampsim.gates.argo_model import ArgoGate
from rampsim.gates.flagger_engine import FlaggerEngine
from rampsim.gates.flagger_model import FlaggerGate
from rampsim.gates.kayenta_engine import KayentaEngine
from rampsim.gates.plan_sections import Gate, gate_of
from rampsim.gates.queries import QueryProvider
from rampsim.plan.schema import Plan

__all__ = ["QueriesFor", "engine_for", "engine_factory_for"]

QueriesFor = Callable[[Plan], QueryProvider]
"""Makes the query source for one run of a plan."""


def engine_for(plan: Plan, queries: QueryProvider, gate: Optional[Gate] = None, *, report: bool = False,
               simulated: bool = True) -> Engine:
    """A fresh engine for one run of ``plan`` (``gate``: its imported gate, when the caller has it validated).

    With ``report``, an Argo or Flagger engine adds a checkpoint report per measurement or tick (a Kayenta engine
    reports each analysis anyway). ``simulated``: ``queries`` serve simulated series, in which a Kayenta stage's
    scopes stand for the simulated arms; in production (``False``) its queries carry the scopes as written."""
    gate = gate if gate is not None else gate_of(plan)
    if gate is None:
        return DecisionEngine(plan)
    if isinstance(gate, ArgoGate):
        return ArgoEngine(plan, gate, queries, report_measurements=report)
    if isinstance(gate, FlaggerGate):
        return FlaggerEngine(plan, gate, queries, report_ticks=report)
    return KayentaEngine(plan, gate, queries, simulated=simulated)


def engine_factory_for(plan: Plan, queries_for: QueriesFor) -> EngineFactory:
    """The engine factory for ``plan``'s kind of gate (checked now, so an invalid gate fails early)."""
    gate_of(plan)

    def factory(run_plan: Plan) -> Engine:
        return engine_for(run_plan, queries_for(run_plan))

    return factory
