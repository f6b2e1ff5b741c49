"""The simulated series as an imported gate's exporter names them: where its queries are answered.

An Argo, Flagger or Kayenta gate (:mod:`rampsim.gates`) asks PromQL of the series its exporter writes
(``istio_requests_total``, ``http_requests_total``...; rampsim's own under the ``rampsim`` profile). In a simulation, those series are the
run's telemetry presented under the gate's exporter profile and deployment names
(:func:`rampsim.promql.exposition.exposition_store`), and the gate's engine evaluates its
queries there with Prometheus 3.x semantics.

:func:`gate_engine` is the simulator's engine for an imported gate: the reference
:class:`~rampsim.engine.engine.DecisionEngine` for a rampsim plan, the imported gate's engine
for a plan with an ``argo:``, ``flagger:`` or ``kayenta:`` section.
"""
from __future__ import annotations

import functools
import re
from typing import Any, Optional

import numpy as np

from rampsim.engine.engine import DecisionEngine
from rampsim.engine.protocol import Engine
from rampsim.errors import RampsimError
from rampsim.gates.argo_batch import ResultBatch
from rampsim.gates.argo_model import ArgoGate
from rampsim.gates.engines import engine_for
from rampsim.gates.exprlang import ResultValue
from rampsim.gates.flagger_queries import observer_for
from rampsim.gates.kayenta_model import KayentaGate
from rampsim.gates.kayenta_queries import metric_queries
from rampsim.gates.plan_sections import Gate, gate_of
from rampsim.gates.queries import QueryFunction, QueryProvider, result_values
from rampsim.plan.schema import Plan
from rampsim.promql import InstantResult, SeriesStore, evaluate, evaluate_range
from rampsim.promql.exposition import ClientNames, Deployment, exposition_store
from rampsim.promql.parse import Aggregate, Binary, Call, Node, Number, Selector, Unary, parse, selectors
from rampsim.telemetry import Telemetry

__all__ = ["gate_engine", "gate_queries", "gate_answers", "exposition_for", "ExposedAnswers"]

PROMQL_SEMANTICS = 3
_TAG = re.compile(r"\{\{.*?\}\}", re.S)


def gate_engine(plan: Plan) -> Engine:
    """A fresh engine of ``plan``'s imported gate for one simulated run, its queries answered from the run's
    exposed series, reporting each measurement (for the checkpoint log, the dashboard and the chart); the reference
    engine when the plan carries no imported gate."""
    if plan.imported_gate is None:
        return DecisionEngine(plan)
    return engine_for(plan, gate_queries(plan), report=True)


def exposition_for(gate: Gate) -> tuple[str, Deployment]:
    """The exporter profile and the deployment labels the gate's queries select: an Argo gate's profile and identity;
    a Kayenta gate's profile, service and namespace; a Flagger gate's observer (its Canary's ``provider``, else the
    mesh; ``envoy`` for App Mesh, ``http`` for a provider without an exporter profile, whose client library
    Flagger's ``http`` observer expects to label its histogram by ``status``) with Flagger's workloads
    (``<target>-primary``, ``<target>``) and, under nginx, its ingress."""
    if isinstance(gate, KayentaGate):
        return gate.profile, Deployment(service=gate.identity.service, namespace=gate.identity.namespace)
    if isinstance(gate, ArgoGate):
        identity = gate.identity
        profile = "rampsim" if gate.profile == "custom" else gate.profile
        return profile, Deployment(service=identity.service, namespace=identity.namespace,
                                   template_hashes={"canary": identity.canary_hash, "baseline": identity.stable_hash},
                                   client=identity.client())
    target = gate.target
    observer = observer_for(gate.mesh, gate.provider)   # the Canary's provider wins over the mesh, as in Flagger
    profile = {"appmesh": "envoy"}.get(observer, observer if observer in ("istio", "linkerd", "nginx") else "http")
    service = str((gate.ingressRef or {}).get("name") or target) if profile == "nginx" else target
    # Flagger's http observer counts requests by the histogram's _count and its status label; it and App Mesh's
    # observer select pods by the older kubernetes-pods scrape job's labels
    client = ClientNames(status_label="status", status_on_histogram=True) if observer == "http" else ClientNames()
    pod_labels = ("kubernetes_namespace", "kubernetes_pod_name") if profile in ("http", "envoy") else ("namespace", "pod")
    return profile, Deployment(service=service, namespace=gate.namespace, client=client, pod_labels=pod_labels,
                               workloads={"baseline": f"{target}-primary", "canary": target})


def _queries_of(gate: Gate) -> tuple[str, ...]:
    """The query texts an Argo gate's metrics ask (``{{args.x}}`` tags left in) or a Kayenta gate's for each scope
    (those Kayenta can build); none for a Flagger gate."""
    if isinstance(gate, ArgoGate):
        return tuple(metric.query for metric in gate.metrics.values())
    if isinstance(gate, KayentaGate):
        return tuple(q for arms in metric_queries(gate).values() for q in arms.values() if isinstance(q, str))
    return ()


@functools.lru_cache(maxsize=1024)
def _reads_only_exporter_series(profile: str, queries: tuple[str, ...]) -> bool:
    """Whether every selector of ``queries`` names an exporter's series (``__name__="..."`` not rampsim's own): then
    the families only rampsim exposes (revenue, health checks, CPU...) cannot be selected and need not be built."""
    if profile == "rampsim" or not queries:
        return False
    for query in queries:
        try:
            tree = parse(_TAG.sub("x", query))
        except RampsimError:
            return False
        for selector in selectors(tree):
            names = [m for m in selector.matchers if m.name == "__name__"]
            if not names or any(m.op != "=" or m.value.startswith("rampsim_") for m in names):
                return False
    return True


def _state(gate: Gate, shared: Optional[dict]) -> tuple[str, Deployment, bool, dict[str, Any]]:
    """The gate's exposition (profile, deployment, whether the families only rampsim exposes are needed) and the
    state its run shares with the gates exposed alike (series, answers)."""
    profile, deployment = exposition_for(gate)
    others = not _reads_only_exporter_series(profile, _queries_of(gate))
    state: dict[str, Any] = (shared if shared is not None else {}).setdefault((profile, repr(deployment), others), {})
    return profile, deployment, others, state


def gate_queries(plan: Plan, complete: bool = False, shared: Optional[dict] = None,
                 gate: Optional[Gate] = None) -> QueryProvider:
    """The query source of one run of ``plan``'s imported gate (``gate``, when the caller has it validated).

    The series are built from the telemetry when a query first needs them at a scrape
    (rows up to it; a closed loop fills later rows as it goes), and answers are remembered
    by query and time. With ``complete``, the telemetry is a whole open-loop run whose rows
    never change: the series are built once. Gates judged on the same run (a sweep's grid)
    share series and answers through one ``shared`` dictionary.
    """
    gate = gate if gate is not None else gate_of(plan)
    if gate is None:
        raise ValueError(f"plan {plan.name!r} carries no imported gate")
    profile, deployment, others, state = _state(gate, shared)

    def store_at(telemetry: Telemetry, tick: int) -> SeriesStore:
        rows = len(telemetry) if complete else tick + 1
        if state.get("telemetry") is not telemetry or state.get("rows") != rows:
            part = telemetry if rows == len(telemetry) else Telemetry(
                telemetry.layout, telemetry.time[:rows], telemetry.counters[:rows], telemetry.gauges[:rows])
            state.update(telemetry=telemetry, rows=rows, answers={},
                         store=exposition_store(part, profile, deployment=deployment, others=others))
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



class ExposedAnswers:
    """A complete run's series under a gate's exposition, answering a query at many times at once
    (:class:`~rampsim.gates.argo_batch.BatchAnswers`, for the sweep's fast path): one range evaluation per query
    and grid of times, each time's answer the instant query's (a vector of several samples, and a query that fails,
    are answered one time at a time, by the instant query itself). A ``sum``/``avg`` over 8 or more series may
    differ from the instant query in the last bit (numpy adds in another order over many times), so a
    condition comparing a result with its threshold to the last bit can, rarely, read differently in a sweep
    than in a rehearsal."""

    def __init__(self, store: SeriesStore) -> None:
        self.store = store
        self._kinds: dict[str, Optional[str]] = {}
        self._batches: dict[tuple[str, bytes], ResultBatch] = {}

    def instant(self, expr: str, at: float) -> ResultValue | RampsimError:
        try:
            return result_values(evaluate(expr, self.store, at, semantics=PROMQL_SEMANTICS))
        except RampsimError as exc:
            return exc

    def _kind(self, expr: str) -> Optional[str]:
        """``float`` for a scalar query, ``floats`` for a vector one, ``None`` when unsure (each time on its own)."""
        if expr not in self._kinds:
            self._kinds[expr] = _result_kind(expr)
        return self._kinds[expr]

    def results(self, expr: str, times: np.ndarray) -> ResultBatch:
        key = (expr, times.tobytes())
        found = self._batches.get(key)
        if found is None:
            found = self._batches[key] = self._results(expr, times)
        return found

    def _results(self, expr: str, times: np.ndarray) -> ResultBatch:
        size = len(times)
        x, lengths = np.full(size, np.nan), np.zeros(size, dtype=np.int64)
        kind = self._kind(expr)
        try:
            answered = evaluate_range(expr, self.store, times, semantics=PROMQL_SEMANTICS) if kind else None
        except RampsimError:
            answered = None
        if answered is None:  # the query fails somewhere: each time on its own
            batch = ResultBatch(kind or "floats", x, lengths)
            batch.others = {i: self.instant(expr, float(t)) for i, t in enumerate(times)}
            return batch
        if kind == "float":
            return ResultBatch("float", answered.values[0].copy(), lengths)
        present = answered.present
        counts = present.sum(axis=0)
        one = np.flatnonzero(counts == 1)
        if len(one):
            x[one] = answered.values[present[:, one].argmax(axis=0), one]
            lengths[one] = 1
        others = {int(i): self.instant(expr, float(times[i])) for i in np.flatnonzero(counts > 1)}
        return ResultBatch("floats", x, lengths, others)


@functools.lru_cache(maxsize=1024)
def _result_kind(expr: str) -> Optional[str]:
    """The type of a query's value as Argo's provider hands it over: ``float`` (a scalar), ``floats`` (an instant
    vector), ``None`` when it is neither or does not parse (answered one time at a time, errors and all)."""
    try:
        tree = parse(expr)
    except RampsimError:
        return None

    def kind(node: Node) -> Optional[str]:
        if isinstance(node, Number):
            return "float"
        if isinstance(node, Call):
            return "float" if node.name in ("scalar", "time", "pi") else "floats"
        if isinstance(node, (Selector, Aggregate)):
            return "floats"
        if isinstance(node, Unary):
            return kind(node.expr)
        if isinstance(node, Binary):
            sides = kind(node.lhs), kind(node.rhs)
            if None in sides:
                return None
            return "float" if sides == ("float", "float") else "floats"
        return None   # a range vector: Argo's provider refuses the matrix

    return kind(tree)


def gate_answers(gate: Gate, telemetry: Telemetry, shared: dict) -> tuple[ExposedAnswers, dict]:
    """The batch answers of a complete open-loop run under ``gate``'s exposition, and the measurement sequences
    the gates exposed alike share on it (both kept in ``shared``, with :func:`gate_queries`' series)."""
    profile, deployment, others, state = _state(gate, shared)
    if state.get("telemetry") is not telemetry or state.get("rows") != len(telemetry):
        state.update(telemetry=telemetry, rows=len(telemetry), answers={},
                     store=exposition_store(telemetry, profile, deployment=deployment, others=others))
    if state.get("batch_store") is not state["store"]:
        state.update(batch_store=state["store"], batch=(ExposedAnswers(state["store"]), {}))
    answers: tuple[ExposedAnswers, dict] = state["batch"]
    return answers
