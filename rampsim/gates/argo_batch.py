"""Argo Rollouts' verdict on a whole recorded run at once: the sweep's fast path, exact to the engine's.

:class:`~rampsim.gates.argo_engine.ArgoEngine` steps the rollout scrape by scrape and measures one
value at a time: right for a rehearsal, where its decisions move the traffic, but a sweep judges
a grid of gates on open-loop runs whose telemetry is complete. There, what a gate does follows from
two facts of Argo's semantics (:mod:`rampsim.gates.argo_analysis`, :mod:`rampsim.gates.argo_rollout`):

* until some run's limit trips, the rollout follows its *nominal* schedule (every analysis passing
  on time: :class:`~rampsim.gates.argo_rollout.RolloutMachine` with ``nominal=True``), because a
  Failed or Inconclusive measurement that stays within its limit moves nothing, and an Error only
  delays the next measurement of its own metric (retried after 10 s): it delays the rollout only
  in a step analysis that ends on its ``count`` (then this path declines);
* a metric's measurements (their times and phases) do not depend on its limits: ``failureLimit``,
  ``inconclusiveLimit`` and ``consecutiveErrorLimit`` only decide where it trips (A3), so gates
  that differ in limits share one sequence, and the trip is the first index where a cumulative
  count exceeds a limit (the tripping measurement's phase is the metric's, A3's order included).

A metric's sequence is measured in segments on the interval's grid, each answered at once by a
:class:`BatchAnswers` (a range query over the run's series) and judged by
:func:`~rampsim.gates.exprlang_batch.phases_batch`; an Error ends a segment and the next starts 10 s
later. The run trips at the earliest trip of its metrics (the worst phase among those tripping then,
A4), the rollout at the earliest tripping run (Failed or Error: abort; Inconclusive: pause), or it is
promoted on schedule. :func:`judge_run` returns ``None`` wherever it cannot be sure (a dry run, args
Argo cannot resolve, an Error in a step analysis that ends on its count, two runs tripping at the same
instant): the caller then runs the engine, which is the reference. The sweep tests check both agree.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol, Union

import numpy as np

from rampsim.errors import RampsimError
from rampsim.gates.argo_analysis import TOLERANCE, AnalysisPhase, measurement_phase
from rampsim.gates.argo_model import ArgoGate, RolloutAnalysis
from rampsim.gates.argo_resolve import ERROR_RETRY_INTERVAL, MetricSpec, _RunError, run_metrics
from rampsim.gates.argo_rollout import RolloutMachine, RolloutOutcome
from rampsim.gates.exprlang import ResultValue
from rampsim.gates.exprlang_batch import ERROR, FAILED, INCONCLUSIVE, SUCCESSFUL, _Unbatchable, phases_batch

__all__ = ["ResultBatch", "BatchAnswers", "RunPlan", "ArgoSchedule", "schedule_of", "judge_run", "Verdict",
           "Sequences"]

_PHASES = {AnalysisPhase.SUCCESSFUL: SUCCESSFUL, AnalysisPhase.FAILED: FAILED,
           AnalysisPhase.INCONCLUSIVE: INCONCLUSIVE, AnalysisPhase.ERROR: ERROR}
_WORST = {FAILED: 3, ERROR: 2, INCONCLUSIVE: 1}   # RUN_ORDER: Inconclusive < Error < Failed
_HORIZON = 30 * 86400.0


@dataclass
class ResultBatch:
    """A query's answers at many times, as Argo's provider hands them to the conditions (``result_values``).

    ``kind`` ``float`` (a scalar query: ``result`` is ``x[i]``) or ``floats`` (a vector: ``[x[i]]`` where
    ``lengths[i]`` is 1, ``[]`` where it is 0); ``others`` holds the answers that are neither, by index: a
    vector of several samples (in the order the query returns them) or the error the query raised.
    """

    kind: str
    x: np.ndarray
    lengths: np.ndarray
    others: dict[int, Union[ResultValue, RampsimError]] = field(default_factory=dict)


class BatchAnswers(Protocol):
    """Answers a query at many times at once (see :class:`ResultBatch`)."""

    def results(self, expr: str, times: np.ndarray) -> ResultBatch:
        ...


@dataclass(frozen=True)
class RunPlan:
    """An AnalysisRun of the nominal schedule: its name, when it starts, when the rollout ends it at the latest (the
    background run: the full promotion; a step run: when it ends nominally), its metrics, and whether it blocks
    the steps (a step analysis)."""

    name: str
    start: float
    end: float
    specs: tuple[MetricSpec, ...]
    blocking: bool


@dataclass(frozen=True)
class ArgoSchedule:
    """A gate's nominal schedule: its runs in the order the rollout creates them, and when it is fully promoted."""

    runs: tuple[RunPlan, ...]
    promoted: Optional[float]


Verdict = tuple[str, float]
"""``(kind, time)``: ``rollback``, ``hold`` or ``advance`` and when, or ``("none", nan)``."""

Sequences = dict[Any, Any]
"""Measurement sequences of one run's telemetry, shared by the gates judged on it."""


def _analysis(gate: ArgoGate, name: str) -> Optional[RolloutAnalysis]:
    if name == "background":
        return gate.rollout.analysis
    index = name.removeprefix("step-")
    steps = gate.rollout.steps
    return steps[int(index)].analysis if index.isdigit() and int(index) < len(steps) else None


def schedule_of(gate: ArgoGate) -> Optional[ArgoSchedule]:
    """The gate's nominal schedule, or ``None`` when the fast path does not apply to it (a dry-run metric, args Argo
    cannot resolve: the engine judges such gates)."""
    machine = RolloutMachine(gate, nominal=True)
    transitions = machine.advance(_HORIZON, None)
    found = []
    for run in machine.runs:
        analysis = _analysis(gate, run.name)
        if analysis is None:
            return None
        try:
            specs = tuple(run_metrics(gate, analysis))
        except _RunError:
            return None
        if any(spec.dry_run for spec in specs) or len(specs) != len(run.metrics):
            return None
        found.append((run, specs))
    promoted = next((t.time for t in transitions if t.outcome is RolloutOutcome.PROMOTED), None)
    runs = []
    for run, specs in found:
        if run.name == "background":  # terminated by the full promotion; it may end before on its counts
            end = promoted if promoted is not None else math.inf
        else:                         # ends on its counts (an Error would delay it) or a person promotes past it
            end = run.finished_at if run.finished_at is not None else math.inf
        runs.append(RunPlan(run.name, run.started_at, end, specs, run.name != "background"))
    return ArgoSchedule(tuple(runs), promoted)


def _grid(start: float, interval: Optional[float], stop: float, most: float) -> np.ndarray:
    """``start``, ``start + interval``... (added one by one, as the engine adds them) up to ``stop``, at most
    ``most`` of them."""
    if interval is None or most <= 1:
        return np.array([start]) if start <= stop + TOLERANCE and most >= 1 else np.empty(0)
    n = int(math.floor((stop + TOLERANCE - start) / interval)) + 2 if start <= stop + TOLERANCE else 0
    n = int(min(n, most))
    times = np.add.accumulate(np.concatenate([[start], np.full(max(n - 1, 0), interval)]))[:n]
    return times[times <= stop + TOLERANCE]


def _phases(spec: MetricSpec, batch: ResultBatch) -> np.ndarray:
    size = len(batch.x)
    simple = np.ones(size, dtype=bool)
    simple[list(batch.others)] = False
    phases = np.empty(size, dtype=np.int8)
    try:
        phases[simple] = phases_batch(batch.kind, batch.x[simple], batch.lengths[simple], spec.success, spec.failure)
    except _Unbatchable:
        simple[:] = False
    for i in np.flatnonzero(~simple):
        answer = batch.others.get(int(i))
        if isinstance(answer, RampsimError):
            phases[i] = ERROR
            continue
        if int(i) not in batch.others:
            answer = float(batch.x[i]) if batch.kind == "float" else [float(batch.x[i])] * int(batch.lengths[i])
        phases[i] = _PHASES[measurement_phase(answer, spec.success, spec.failure)[0]]
    return phases


@dataclass(frozen=True)
class _Sequence:
    """A metric's measurements (times, phases) and where each count passes each value: the ``k``-th Failed
    (Inconclusive) measurement's index, and the first index of each length of a streak of Errors."""

    times: np.ndarray
    phases: np.ndarray
    failed: np.ndarray
    inconclusive: np.ndarray
    streaks: np.ndarray   # streaks[m]: the first index at which m + 1 Errors have come in a row

    @classmethod
    def of(cls, times: np.ndarray, phases: np.ndarray) -> "_Sequence":
        errors = phases == ERROR
        streaks = np.empty(0, dtype=np.int64)
        if errors.any():
            total = np.cumsum(errors)
            consecutive = total - np.maximum.accumulate(np.where(errors, 0, total))
            longest = int(consecutive.max())
            streaks = np.array([int(np.argmax(consecutive > m)) for m in range(longest)], dtype=np.int64)
        return cls(times, phases, np.flatnonzero(phases == FAILED), np.flatnonzero(phases == INCONCLUSIVE), streaks)

    def trip(self, spec: MetricSpec) -> Optional[int]:
        """The index of the measurement at which the metric trips (A3), if it does: failed > failureLimit,
        inconclusive > inconclusiveLimit, consecutive errors > consecutiveErrorLimit, whichever comes first."""
        found = [positions[limit] for positions, limit in ((self.failed, spec.failure_limit),
                                                           (self.inconclusive, spec.inconclusive_limit),
                                                           (self.streaks, spec.consecutive_error_limit))
                 if 0 <= limit < len(positions)]
        return int(min(found)) if found else None


def _sequence(spec: MetricSpec, run: RunPlan, horizon: float, answers: BatchAnswers,
              sequences: Sequences) -> _Sequence:
    """Every measurement ``spec`` takes in ``run`` up to ``horizon`` (A1), whatever its limits: times and phases."""
    stop = min(run.end, horizon)
    key = (spec.query, spec.interval, spec.initial_delay, spec.count, spec.success, spec.failure, run.start, stop)
    if key in sequences:
        known: _Sequence = sequences[key]
        return known
    times: list[np.ndarray] = []
    phases: list[np.ndarray] = []
    counted = 0
    start = run.start + spec.initial_delay
    while start <= stop + TOLERANCE:
        if spec.count is not None and spec.count < 0 and times:
            break   # a negative count (EffectiveCount): one measurement, even an Error, and no retry
        most = math.inf if spec.count is None else 1 if spec.count < 0 else spec.count - counted
        segment = _grid(start, spec.interval, stop, most)
        if not len(segment):
            break
        judged = _phases(spec, answers.results(spec.query, segment))
        errors = np.flatnonzero(judged == ERROR)
        if not len(errors):
            times.append(segment)
            phases.append(judged)
            break
        first = int(errors[0])
        times.append(segment[:first + 1])
        phases.append(judged[:first + 1])
        counted += first
        start = float(segment[first]) + ERROR_RETRY_INTERVAL
    found = _Sequence.of(np.concatenate(times) if times else np.empty(0),
                         np.concatenate(phases) if phases else np.empty(0, np.int8))
    sequences[key] = found
    return found


def judge_run(schedule: ArgoSchedule, answers: BatchAnswers, horizon: float,
              sequences: Optional[Sequences] = None) -> Optional[Verdict]:
    """What the gate decides on a run observed up to ``horizon`` seconds (the engine's terminal decision: kind and
    time), or ``None`` when this path cannot be sure (see the module docstring)."""
    shared: Sequences = sequences if sequences is not None else {}
    best: Optional[tuple[float, int]] = None   # (time, phase) of the earliest tripping run
    tied = False
    for run in schedule.runs:
        if run.start > horizon + TOLERANCE or (best is not None and run.start > best[0] + TOLERANCE):
            continue
        trip: Optional[tuple[float, int]] = None
        for spec in run.specs:
            sequence = _sequence(spec, run, horizon, answers, shared)
            if run.blocking and len(sequence.streaks):
                return None   # an Error may delay a step analysis, and the rollout with it
            index = sequence.trip(spec)
            if index is None:
                continue
            at, phase = float(sequence.times[index]), int(sequence.phases[index])
            if trip is None or at < trip[0] - TOLERANCE:
                trip = (at, phase)
            elif abs(at - trip[0]) <= TOLERANCE and _WORST[phase] > _WORST[trip[1]]:
                trip = (trip[0], phase)
        if trip is None:
            continue
        if best is None or trip[0] < best[0] - TOLERANCE:
            best, tied = trip, False
        elif abs(trip[0] - best[0]) <= TOLERANCE:
            tied = True
    if tied:
        return None
    if best is not None:
        return ("hold" if best[1] == INCONCLUSIVE else "rollback"), best[0]
    if schedule.promoted is not None and schedule.promoted <= horizon + TOLERANCE:
        return "advance", schedule.promoted
    return "none", math.nan
