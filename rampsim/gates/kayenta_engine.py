"""An imported Kayenta canary analysis as a rampsim engine, judged as Spinnaker's ``kayentaCanary`` stage judges it.

The stage runs its analyses on Orca's schedule (:func:`~rampsim.gates.kayenta_model.analyses`). At
each one, every metric's query is evaluated for each scope as the range query Kayenta sends, the scope
standing for its simulated arm (:func:`~rampsim.gates.kayenta_queries.simulated_scope`; the window's
times at the scope's step; an instant query at each time, which is what a range query is),
each value the one sample the query returns (NaN when it returns none: Kayenta pads missing points
with NaN), and the colleague judge (:func:`rampsim.judges.kayenta.judge`) classifies and scores the
canary against the baseline. Then, as Orca does (``MonitorKayentaCanaryTask`` after each analysis,
``AggregateCanaryResultsTask`` after the last):

==========================================================  =======================================
Orca                                                        decision
==========================================================  =======================================
a score not above ``marginal`` (``score <= marginal``)      ``rollback`` (the stage fails at once)
a query that fails (the canary execution fails)             ``rollback``
above ``marginal``, before the last analysis                ``continue``
the last analysis: below ``pass``                           ``hold`` (Orca fails the stage)
the last analysis: ``pass`` or more                         ``advance``
==========================================================  =======================================

A critical metric that fails, or ``Nodata`` for half the metrics, scores 0 and so rolls back. Each
analysis is also reported (:class:`~rampsim.engine.events.CheckpointReport` ``kayenta:analysis:<k>``:
each metric's label and why, the score). Decisions carry the analysis's end time and the plan's
``actions`` weights.

:class:`StageJudge` is the one decision core: the engine calls it for one run, scrape by scrape;
a sweep (:mod:`rampsim.experiment.engine_gates`) for every run of a chunk at once, on arrays
``(runs, times)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np

from rampsim.engine.events import (
    TIME_TOLERANCE, CheckpointReport, CriterionResult, Decision, DecisionKind, Event, Status,
)
from rampsim.engine.judge import KINDS
from rampsim.errors import RampsimError
from rampsim.gates.argo_batch import ResultBatch
from rampsim.gates.kayenta_model import Analysis, KayentaGate, analyses
from rampsim.gates.kayenta_queries import ARMS, QueryBuildError, metric_queries
from rampsim.gates.queries import QueryProvider
from rampsim.judges.kayenta import Judgement, Label, judge
from rampsim.judges.kayenta_config import Direction, KayentaMetric
from rampsim.plan.schema import Plan
from rampsim.promql import InstantResult
from rampsim.telemetry import Telemetry
from rampsim.units import Kind

__all__ = ["KayentaEngine", "StageJudge", "Measured", "instant_value", "batch_values"]

Key = tuple[str, str]
"""``(metric name, arm)``."""

_NONE, _HOLD, _ROLLBACK, _ADVANCE = (KINDS.index(k) for k in ("none", "hold", "rollback", "advance"))
_STATUS = {Label.PASS: Status.PASS, Label.HIGH: Status.FAIL, Label.LOW: Status.FAIL, Label.NODATA_FAIL: Status.FAIL,
           Label.NODATA: Status.INCONCLUSIVE, Label.ERROR: Status.INCONCLUSIVE}


def instant_value(result: InstantResult) -> float:
    """The value Kayenta reads from one time of a range query: the scalar, or the vector's one sample; NaN when
    there is none (or several: rampsim judges one series per metric and scope)."""
    if result.result_type == "scalar":
        return float(result.scalar) if result.scalar is not None else math.nan
    return float(result.vector[0].value) if len(result.vector) == 1 else math.nan


def batch_values(batch: ResultBatch) -> tuple[np.ndarray, np.ndarray]:
    """:func:`instant_value` at every time of a batch of answers, and where the query failed."""
    values = batch.x.copy() if batch.kind == "float" else np.where(batch.lengths == 1, batch.x, np.nan)
    failed = np.zeros(len(values), dtype=bool)
    for i, other in batch.others.items():
        if isinstance(other, RampsimError):
            failed[i] = True
        elif isinstance(other, list):
            values[i] = other[0] if len(other) == 1 else np.nan
        else:
            values[i] = other
    return values, failed


@dataclass
class Measured:
    """Each metric's values for each arm on its time grid (``values[(metric, arm)]``, ``(runs, times)``), where its
    query failed (``failed``, same shapes), and the first failure's message of each run (``messages``)."""

    values: dict[Key, np.ndarray] = field(default_factory=dict)
    failed: dict[Key, np.ndarray] = field(default_factory=dict)
    messages: dict[int, str] = field(default_factory=dict)


class StageJudge:
    """A Kayenta gate's analyses over batches of runs (see the module docstring): each metric's time grid (the union
    of its analyses' range-query times) and queries, one analysis judged, the first terminal decision of each run."""

    def __init__(self, gate: KayentaGate, simulated: bool = True) -> None:
        self.gate = gate
        self.analyses = analyses(gate.stage)
        self.queries: dict[str, dict[str, Union[str, QueryBuildError]]] = metric_queries(gate, simulated=simulated)
        self.grids: dict[str, np.ndarray] = {}
        self.windows: dict[str, list[np.ndarray]] = {}
        for metric in gate.config.metrics:
            step = float(gate.scope_of(metric).step)
            times = [analysis.times(step) for analysis in self.analyses]
            grid = np.unique(np.concatenate(times))
            self.grids[metric.name] = grid
            self.windows[metric.name] = [np.searchsorted(grid, t) for t in times]

    def empty(self, runs: int) -> Measured:
        """Nothing measured yet for ``runs`` runs (NaN values); a query Kayenta cannot build fails everywhere."""
        measured = Measured()
        for name, grid in self.grids.items():
            for arm in ARMS:
                measured.values[(name, arm)] = np.full((runs, len(grid)), np.nan)
                built = self.queries[name][arm]
                measured.failed[(name, arm)] = np.full((runs, len(grid)), isinstance(built, QueryBuildError))
                if isinstance(built, QueryBuildError):
                    for run in range(runs):
                        measured.messages.setdefault(run, f"metric {name!r} ({arm}): {built}")
        return measured

    def analyse(self, analysis: Analysis, measured: Measured,
                runs: Optional[np.ndarray] = None) -> tuple[Judgement, np.ndarray, np.ndarray]:
        """The judgement of ``analysis`` on the runs ``runs`` (all by default), each run's decision (an index of
        :data:`~rampsim.engine.judge.KINDS`) and whether its queries failed."""
        index = analysis.number - 1
        pick = slice(None) if runs is None else runs
        windows = {name: windows[index] for name, windows in self.windows.items()}
        series = {name: (measured.values[(name, "canary")][pick][:, window],
                         measured.values[(name, "baseline")][pick][:, window]) for name, window in windows.items()}
        failed = np.any([measured.failed[(name, arm)][pick][:, window].any(axis=-1)
                         for name, window in windows.items() for arm in ARMS], axis=0)
        judgement = judge(self.gate.config, series, self.gate.stage.scoreThresholds)
        thresholds = self.gate.stage.scoreThresholds
        stops = failed | (judgement.score <= thresholds.marginal)
        if analysis.last:
            kinds = np.where(stops, _ROLLBACK, np.where(judgement.score >= thresholds.pass_, _ADVANCE, _HOLD))
        else:
            kinds = np.where(stops, _ROLLBACK, _NONE)
        return judgement, kinds.astype(np.int8), failed

    def first_decisions(self, measured: Measured, runs: int) -> tuple[np.ndarray, np.ndarray]:
        """Each run's first terminal decision (a :data:`~rampsim.engine.judge.KINDS` index, ``none`` when the stage
        never ends) and its time (NaN when none), judging each analysis on the runs still undecided."""
        kinds, times = np.zeros(runs, np.int8), np.full(runs, np.nan)
        alive = np.arange(runs)
        for analysis in self.analyses:
            if not len(alive):
                break
            _, decided, _ = self.analyse(analysis, measured, alive)
            stop = decided != _NONE
            kinds[alive[stop]] = decided[stop]
            times[alive[stop]] = analysis.end
            alive = alive[~stop]
        return kinds, times


class KayentaEngine:
    """Kayenta's and Orca's semantics behind the engine protocol (see the module docstring)."""

    def __init__(self, plan: Plan, gate: KayentaGate, queries: QueryProvider, simulated: bool = True) -> None:
        self.plan = plan
        self.gate = gate
        self.queries = queries
        self.core: StageJudge = plan.memo(f"kayenta:stage:{simulated}", lambda _: StageJudge(gate, simulated))
        self.measured = self.core.empty(1)
        self._asked = {name: np.zeros(len(grid), dtype=bool) for name, grid in self.core.grids.items()}
        self._next = 0
        self._observed = -1
        self.done = False

    def observe(self, telemetry: Telemetry, tick: int) -> list[Event]:
        """Events of every analysis due by scrape ``tick``; scrapes in order, each once."""
        if tick != self._observed + 1:
            raise ValueError(f"scrapes must be observed in order: expected tick {self._observed + 1}, got {tick}")
        self._observed = tick
        now = float(telemetry.time[tick])
        events: list[Event] = []
        while not self.done and self._next < len(self.core.analyses) \
                and self.core.analyses[self._next].end <= now + TIME_TOLERANCE:
            analysis = self.core.analyses[self._next]
            self._measure(analysis, telemetry, tick)
            judgement, kinds, failed = self.core.analyse(analysis, self.measured)
            kind = KINDS[int(kinds[0])]
            events.append(self._report(analysis, judgement, kind))
            if kind != "none":
                events.append(self._decision(analysis, judgement, kind, bool(failed[0])))
                self.done = True
            self._next += 1
        return events

    def _measure(self, analysis: Analysis, telemetry: Telemetry, tick: int) -> None:
        """Ask every query at the times of ``analysis`` not asked yet (earlier answers do not change)."""
        query = self.queries(telemetry, tick)
        for name, grid in self.core.grids.items():
            window = self.core.windows[name][analysis.number - 1]
            fresh = window[~self._asked[name][window]]
            self._asked[name][fresh] = True
            for arm in ARMS:
                expr = self.core.queries[name][arm]
                if isinstance(expr, QueryBuildError):
                    continue
                for i in fresh.tolist():
                    try:
                        self.measured.values[(name, arm)][0, i] = instant_value(query(expr, float(grid[i])))
                    except RampsimError as exc:
                        self.measured.failed[(name, arm)][0, i] = True
                        self.measured.messages.setdefault(0, f"metric {name!r} ({arm}): {exc}")

    def _title(self, analysis: Analysis) -> str:
        return f"Kayenta analysis {analysis.number} of {len(self.core.analyses)}"

    def _report(self, analysis: Analysis, judgement: Judgement, kind: str) -> CheckpointReport:
        results = tuple(
            CriterionResult(m.metric.name, m.reason(0), *_bound(m.metric),
                            None if math.isnan(float(m.effect[0])) else float(m.effect[0]),
                            _STATUS[Label(int(m.label[0]))], Kind.NUMBER.value)
            for m in judgement.metrics)
        status = Status.FAIL if kind == "rollback" else Status.PASS \
            if judgement.score[0] >= self.gate.stage.scoreThresholds.pass_ else Status.INCONCLUSIVE
        window = f"window {_clock(analysis.start)}-{_clock(analysis.end)}"
        return CheckpointReport(analysis.end, f"kayenta:analysis:{analysis.number}", self._title(analysis), results,
                                status, (f"score {float(judgement.score[0]):.2f}; {window}", judgement.reason(0)))

    def _decision(self, analysis: Analysis, judgement: Judgement, kind: str, failed: bool) -> Decision:
        thresholds, score = self.gate.stage.scoreThresholds, float(judgement.score[0])
        title = self._title(analysis)
        if failed:
            reason = f"{title}: the canary execution failed: {self.measured.messages.get(0, 'a query failed')}"
        elif kind == "rollback":
            reason = (f"{title}: score {score:.2f} is not above the marginal threshold {thresholds.marginal:g} "
                      f"({judgement.reason(0)})")
        elif kind == "hold":
            reason = (f"{title}: final score {score:.2f} is below the pass threshold {thresholds.pass_:g} "
                      f"({judgement.reason(0)})")
        else:
            reason = f"{title}: final score {score:.2f} met the pass threshold {thresholds.pass_:g}"
        in_force = self.plan.weight_at(max(analysis.end - TIME_TOLERANCE, 0.0))   # before a phase ending then steps
        weight = self.plan.actions.weight(kind, in_force)
        return Decision(analysis.end, DecisionKind(kind), weight, reason, f"kayenta:analysis:{analysis.number}")


def _bound(metric: KayentaMetric) -> tuple[str, float]:
    """What the metric must not be to pass, as ``(op, bound)``: classified High (the rank test shifts it up and the
    effect size reaches the increase bound) or, when only a decrease fails it, Low. Written so because an effect
    past the bound passes while the rank test sees no shift (a target "> 1" read "achieved 1: PASS")."""
    effect = metric.analysis.effectSize
    if metric.analysis.direction is Direction.DECREASE:
        return "not Low at <=", effect.bound("allowedDecrease")
    return "not High at >=", effect.bound("allowedIncrease")


def _clock(seconds: float) -> str:
    sign = "-" if seconds < 0 else ""
    minutes = int(round(abs(seconds))) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"
