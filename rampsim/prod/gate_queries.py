"""An imported Argo or Flagger gate judged on a live Prometheus the way its controller would: same queries, same times.

An imported gate (a plan with an ``argo:`` or ``flagger:`` section, :mod:`rampsim.gates`) does not read
rampsim's series: its engine asks its own PromQL queries at its own measurement (or tick) times,
through a :data:`~rampsim.gates.queries.QueryProvider`. In production the provider is
:func:`prometheus_queries`: each query is sent to the server's ``/api/v1/query`` *at the measurement's
time* (``start`` + the engine's seconds since the ramp began), exactly as Argo's Prometheus provider
and Flagger's ``RunQuery`` send it, and the answer becomes the engine's
:class:`~rampsim.promql.InstantResult`. The server evaluates the query with its own semantics.

What a failed query does follows the controllers: a query the server refuses (HTTP 400/422, a
PromQL error) or an answer of another type than a vector or scalar is a failed query (Argo: the
measurement is Error; Flagger: a failed check). A server that cannot be read after the retries
(:class:`~rampsim.prod.source.SourceUnavailable`) is rampsim's problem, not the gate's: the scrape
is not judged, the run's outcome is ``unavailable`` (exit 5), and with ``--follow`` the gate retries
later. To retry exactly, answers are kept by query and time, and after an outage the engine is
rebuilt and replayed from them to where it stood (it is a pure function of its answers).

:class:`ImportedGateRun` is :class:`~rampsim.prod.gate_run.GateRun` for such a gate: the same scrape
grid, ``run_until`` and ``follow``, steps and outcome, but its engine reads no raw series.
:func:`recording_queries` answers the queries from a recording instead (``rampsim gate --replay``).
"""
from __future__ import annotations

import time
from typing import Any, Iterable, Iterator, Optional

from rampsim.engine import Decision, Engine
from rampsim.gates.engines import engine_for
from rampsim.gates.plan_sections import Gate
from rampsim.gates.queries import QueryFunction, QueryProvider, store_queries
from rampsim.plan.schema import Plan
from rampsim.prod.gate_run import GateOutcome, GateRun, Step
from rampsim.prod.naming import Naming
from rampsim.prod.samples import Notice, RawSeries, sample_values
from rampsim.prod.source import PrometheusSource, SourceUnavailable
from rampsim.promql import InstantResult, QueryError, Sample, SeriesStore
from rampsim.telemetry import Telemetry

__all__ = ["prometheus_queries", "recording_queries", "series_store", "instant_result", "imported_engine",
           "ImportedGateRun", "Answers", "gate_run_for"]

Answers = dict[tuple[str, float], InstantResult]
"""Answers kept by (query, seconds since the ramp began)."""


class _Unreachable(Exception):
    """The server could not be read: not a failed query (which the controllers judge), so not a RampsimError that
    an engine would take for one; :class:`ImportedGateRun` turns it back into :class:`SourceUnavailable`."""

    def __init__(self, cause: SourceUnavailable) -> None:
        super().__init__(str(cause))
        self.cause = cause


class _PastDeadline(Exception):
    """A query not yet answered was asked after the run's deadline: :class:`ImportedGateRun` stops at the scrape
    before it and goes on from there at the next call (an analysis of a Kayenta gate asks 150 queries)."""


class Deadline:
    """The time (``time.monotonic()``) after which a run's queries ask the server nothing new; ``None``: no limit."""

    def __init__(self) -> None:
        self.at: Optional[float] = None

    def check(self) -> None:
        if self.at is not None and time.monotonic() >= self.at:
            raise _PastDeadline


def instant_result(data: dict[str, Any], at: float) -> InstantResult:
    """The engine's result for the ``data`` of an ``/api/v1/query`` answer (``{"resultType": ..., "result": ...}``).

    A vector's values and a scalar's are read as Prometheus's client reads them
    (:func:`~rampsim.prod.samples.sample_values`: text, ``NaN`` and ``+Inf`` included; ``true``, ``"1e999"`` or
    ``"3268_0"`` are malformed, as is a series that comes twice);
    another result type is :class:`~rampsim.promql.QueryError`, as Argo's provider refuses it (``processResponse``:
    "metric type not supported") and Flagger's finds no values in it.
    """
    kind = data.get("resultType")
    result = data.get("result")
    try:
        if kind == "vector" and isinstance(result, list):
            values = sample_values([entry["value"][1] for entry in result])
            samples = tuple(Sample(dict(entry["metric"]), float(value)) for entry, value in zip(result, values))
            if len({frozenset(sample.labels.items()) for sample in samples}) < len(samples):
                raise ValueError("a series that comes twice")
            return InstantResult("vector", at, vector=samples)
        if kind == "scalar" and isinstance(result, list) and len(result) == 2:
            return InstantResult("scalar", at, scalar=float(sample_values([result[1]])[0]))
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        raise QueryError(f"malformed {kind} in Prometheus's answer") from None
    raise QueryError(f"Prometheus answered a {kind}: a gate's query must give a vector or a scalar "
                     f"(Argo: 'metric type not supported')")


def prometheus_queries(source: PrometheusSource, start: float, answers: Optional[Answers] = None,
                       warnings: Optional[list[str]] = None, deadline: Optional[Deadline] = None) -> QueryProvider:
    """Queries sent to ``source`` at ``start`` + the engine's time, answers kept in ``answers``, the server's
    warnings added to ``warnings`` (see the module docstring); none sent past ``deadline``."""
    kept: Answers = answers if answers is not None else {}

    def query(expr: str, at: float) -> InstantResult:
        key = (expr, at)
        if key not in kept:
            if deadline is not None:
                deadline.check()
            try:
                data = source.instant(expr, start + at)
            except SourceUnavailable as exc:
                raise _Unreachable(exc) from None
            finally:
                if warnings is not None:
                    warnings.extend(source.warnings)
            kept[key] = instant_result(data, at)
        return kept[key]

    def provider(telemetry: Telemetry, tick: int) -> QueryFunction:
        return query

    return provider


def series_store(series: Iterable[RawSeries]) -> SeriesStore:
    """Recorded series (unix milliseconds) in a store for PromQL."""
    store = SeriesStore()
    for one in series:
        if len(one.timestamps_ms):
            store.add_ms(one.labels, one.timestamps_ms, one.values)
    return store


def recording_queries(store: SeriesStore, start: float, semantics: int = 3) -> QueryProvider:
    """Queries answered from the series of a recording (unix times) whose ramp began at ``start``."""
    inner = store_queries(store, semantics)

    def provider(telemetry: Telemetry, tick: int) -> QueryFunction:
        answer = inner(telemetry, tick)

        def query(expr: str, at: float) -> InstantResult:
            result = answer(expr, start + at)
            return InstantResult(result.result_type, at, result.vector, result.scalar)

        return query

    return provider


def imported_engine(plan: Plan, gate: Gate, queries: QueryProvider, report: bool = True) -> Engine:
    """The gate's engine; with ``report``, a checkpoint report per Argo measurement or Flagger tick (what the
    controller shows in its AnalysisRun or Canary status; a Kayenta engine reports each analysis)."""
    return engine_for(plan, queries, gate, report=report, simulated=False)


class _NoSamples:
    """The raw-sample source of a run whose engine reads none."""

    def read(self, low_ms: int, high_ms: int) -> list[RawSeries]:
        return []


class ImportedGateRun(GateRun):
    """An imported gate judged from ``start`` (unix seconds), its queries answered by ``queries`` (see the module
    docstring); ``warnings`` is where the query source adds the server's warnings (each shown once)."""

    def __init__(self, plan: Plan, gate: Gate, queries: QueryProvider, start: float,
                 warnings: Optional[list[str]] = None, naming: Optional[Naming] = None,
                 deadline: Optional[Deadline] = None) -> None:
        self.gate = gate
        self.queries = queries
        self._warnings = warnings if warnings is not None else []
        self._deadline = deadline   # shared with ``queries``, which checks it before asking the server
        super().__init__(plan, _NoSamples(), start, naming, engine=imported_engine(plan, gate, queries))

    def run_to(self, tick: int, deadline: Optional[float] = None) -> Iterator[Step]:
        """Judge every scrape up to ``tick`` (capped at the plan's end), asking no query for a new scrape after
        ``deadline`` (``time.monotonic()``); raises :class:`SourceUnavailable`."""
        tick = min(tick, self.grid.n_ticks - 1)
        if self._deadline is not None:
            self._deadline.at = deadline
        while not self.finished and self.next_tick <= tick:
            if deadline is not None and time.monotonic() >= deadline:
                return
            current = self.next_tick
            try:
                events = list(self.engine.observe(self.telemetry, current))
            except _PastDeadline:   # stopped inside the scrape: its answers so far are kept for the next call
                self._replay()
                return
            except _Unreachable as exc:
                self._replay()
                raise exc.cause from None
            notices = [Notice(current, "warning", f"Prometheus: {w}") for w in dict.fromkeys(self._warnings)]
            self._warnings.clear()
            step = Step(current, self.grid.time_of(current), events=events, notices=notices)
            self.next_tick = current + 1
            self.events.extend(events)
            self.decision = self.decision or next((e for e in events if isinstance(e, Decision) and e.terminal), None)
            yield step
            if self.decision is not None:
                return

    def _replay(self) -> None:
        """A fresh engine, brought to where the last one stood before the scrape that failed, from kept answers."""
        self.engine = imported_engine(self.plan, self.gate, self.queries)
        for tick in range(self.next_tick):
            self.engine.observe(self.telemetry, tick)

    def outcome(self) -> GateOutcome:
        """The last terminal decision; else ``unavailable`` after a failure to read, ``inconclusive`` before any
        scrape is judged or once every scrape of the plan was judged without a decision (the controller would
        neither promote nor abort: nothing lets a pipeline go on), ``continue`` otherwise (it goes on measuring)."""
        if self.decision is not None:
            return GateOutcome(self.decision.kind.value)
        if self.problem:
            return GateOutcome.UNAVAILABLE
        return GateOutcome.INCONCLUSIVE if self.next_tick == 0 or self.finished else GateOutcome.CONTINUE


def gate_run_for(plan: Plan, source: Any, start: float, naming: Optional[Naming] = None) -> GateRun:
    """The run judging ``plan`` from ``start`` on ``source`` (a :class:`~rampsim.prod.source.PrometheusSource` or a
    recording with ``series``): an imported gate's engine asks its own queries (:class:`ImportedGateRun`), a
    rampsim plan's reads rampsim's series (:class:`~rampsim.prod.gate_run.GateRun`)."""
    from rampsim.gates.plan_sections import gate_of

    gate = gate_of(plan)
    if gate is None:
        return GateRun(plan, source, start, naming)
    if isinstance(source, PrometheusSource):
        warnings: list[str] = []
        deadline = Deadline()
        return ImportedGateRun(plan, gate, prometheus_queries(source, start, warnings=warnings, deadline=deadline),
                               start, warnings, naming, deadline)
    return ImportedGateRun(plan, gate, recording_queries(series_store(source.series), start), start, naming=naming)
