"""The decision engine: a plan applied to telemetry, one scrape at a time.

Pure and incremental: :meth:`DecisionEngine.observe` takes the scrape at ``tick``
and returns the events it causes. No clock, no I/O, no randomness. At each scrape:

1. counters are corrected for resets (PromQL ``increase`` semantics);
2. every continuous rule is evaluated on its window; a breach that has lasted its
   sustain time fires an alert (once, until it clears), and a rule whose action is
   ``hold`` or ``rollback`` decides;
3. a checkpoint that is due is judged criterion by criterion, then decides;
4. a phase boundary moves the canary weight.

A missing or zero-traffic window is *inconclusive*: it never breaches a rule (and
resets its sustain clock, like a Prometheus alert's ``for``), never passes a
criterion, and never leads to advance. After a terminal decision (hold, rollback,
advance) the engine is done and returns no more events.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from rampsim.engine.events import (
    AlertFired, AlertResolved, CheckpointReport, CriterionResult, Decision, DecisionKind, Event, Status,
)
from rampsim.engine.metrics import Series, evaluate, increments
from rampsim.plan.schema import Checkpoint, FinalGate, Measure, Metric, Plan, Rule, WindowKind
from rampsim.telemetry import Telemetry
from rampsim.units import Kind, format_value

__all__ = ["DecisionEngine", "window_start"]

_SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
_EPS = 1e-9


def window_start(measure: Measure, tick: int, interval: float, previous_checkpoint_tick: int) -> int:
    """Scrape index where ``measure``'s window begins when judged at ``tick`` (may be negative)."""
    if measure.window.kind is WindowKind.CUMULATIVE:
        return 0
    if measure.window.kind is WindowKind.SINCE_CHECKPOINT:
        return previous_checkpoint_tick
    return tick - int(round(measure.window.seconds / interval))


@dataclass
class _RuleState:
    breach_start: Optional[float] = None
    firing: bool = False


class DecisionEngine:
    """The reference engine (implements :class:`~rampsim.engine.protocol.Engine`)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.interval = plan.telemetry.scrape_interval
        self._rules = [(name, rule, _RuleState()) for name, rule in plan.rules.items()]
        self._schedule = plan.ordered_checkpoints()
        self._next_checkpoint = 0
        self._previous_checkpoint_tick = 0
        self._checkpoint_status: dict[str, Status] = {}
        self._alerts: list[tuple[float, str]] = []
        self._phase_starts = np.cumsum([0.0] + [p.duration for p in plan.phases])[1:-1]
        self._next_phase = 0
        self.weight = plan.phases[0].weight
        self.done = False
        self.missing_scrapes = 0
        self._counters: Optional[np.ndarray] = None
        self._last_raw: Optional[np.ndarray] = None
        self._observed = -1

    # -- the protocol ------------------------------------------------------------

    def observe(self, telemetry: Telemetry, tick: int) -> list[Event]:
        """Events caused by scrape ``tick``; scrapes must be observed in order, each once."""
        if tick != self._observed + 1:
            raise ValueError(f"scrapes must be observed in order: expected tick {self._observed + 1}, got {tick}")
        self._observed = tick
        self._ingest(telemetry, tick)
        if self.done:
            return []
        series = Series(telemetry.layout, telemetry.time, self._counters, telemetry.gauges)
        now = float(telemetry.time[tick])
        events: list[Event] = []
        self._judge_rules(series, tick, now, events)
        if not self.done:
            self._judge_checkpoint(series, tick, now, events)
        if not self.done:
            self._step_phase(now, events)
        return events

    # -- scrapes -------------------------------------------------------------------

    def _ingest(self, telemetry: Telemetry, tick: int) -> None:
        raw = telemetry.counters[tick]
        if self._counters is None:
            self._counters = np.full((len(telemetry), raw.shape[0]), np.nan)
            self._last_raw = np.full(raw.shape[0], np.nan)
            self._running = np.full(raw.shape[0], np.nan)
        elif len(self._counters) < len(telemetry):
            grown = np.full((len(telemetry), raw.shape[0]), np.nan)
            grown[: len(self._counters)] = self._counters
            self._counters = grown
        present = ~np.isnan(raw)
        step = np.where(np.isnan(self._last_raw), raw, increments(self._last_raw, raw))
        first = np.isnan(self._running)
        self._running = np.where(present, np.where(first, raw, self._running + step), self._running)
        self._last_raw = np.where(present, raw, self._last_raw)
        self._counters[tick] = np.where(present, self._running, np.nan)
        if not present.all() or np.isnan(telemetry.gauges[tick]).any():
            self.missing_scrapes += 1

    def _value(self, series: Series, measure: Measure, tick: int, now: float) -> float:
        if measure.metric is Metric.ALERTS:
            floor = _SEVERITY_RANK[measure.alert_severity]
            begin = series.time[max(window_start(measure, tick, self.interval, self._previous_checkpoint_tick), 0)]
            return float(sum(1 for t, sev in self._alerts if _SEVERITY_RANK[sev] >= floor and t >= begin - _EPS))
        start = window_start(measure, tick, self.interval, self._previous_checkpoint_tick)
        return float(evaluate(series, measure, np.array([start]), np.array([tick]))[0])

    # -- continuous rules -------------------------------------------------------

    def _judge_rules(self, series: Series, tick: int, now: float, events: list[Event]) -> None:
        deciding: list[tuple[str, Rule]] = []
        for name, rule, state in self._rules:
            value = self._value(series, rule, tick, now)
            if not math.isnan(value) and rule.op.holds(value, rule.threshold):
                if state.breach_start is None:
                    state.breach_start = now
                if not state.firing and now - state.breach_start >= rule.sustain - _EPS:
                    state.firing = True
                    self._alerts.append((now, rule.severity))
                    events.append(AlertFired(now, name, rule.severity, rule.action, rule.describe(),
                                             value, rule.threshold, state.breach_start))
                    if rule.action in ("hold", "rollback"):
                        deciding.append((name, rule))
            else:
                if state.firing:
                    events.append(AlertResolved(now, name))
                state.breach_start, state.firing = None, False
        if deciding:
            name, rule = next(((n, r) for n, r in deciding if r.action == "rollback"), deciding[0])
            kind = DecisionKind(rule.action)
            self._decide(events, now, kind, f"rule {name}: {rule.describe()}", f"rule:{name}")

    # -- checkpoints -------------------------------------------------------------

    def _judge_checkpoint(self, series: Series, tick: int, now: float, events: list[Event]) -> None:
        if self._next_checkpoint >= len(self._schedule):
            return
        name, checkpoint = self._schedule[self._next_checkpoint]
        if now < checkpoint.at - _EPS:
            return
        self._next_checkpoint += 1
        results = tuple(self._judge_criterion(series, cname, criterion, tick, now)
                        for cname, criterion in checkpoint.criteria.items())
        statuses = [r.status for r in results]
        notes: list[str] = []
        if isinstance(checkpoint, FinalGate):
            statuses += self._gate_requirements(checkpoint, notes)
        status = (Status.FAIL if Status.FAIL in statuses
                  else Status.INCONCLUSIVE if Status.INCONCLUSIVE in statuses else Status.PASS)
        self._checkpoint_status[name] = status
        self._previous_checkpoint_tick = tick
        title = checkpoint.title or name
        events.append(CheckpointReport(now, name, title, results, status, tuple(notes), tuple(checkpoint.manual)))
        action = {Status.PASS: checkpoint.on_pass, Status.FAIL: checkpoint.on_fail,
                  Status.INCONCLUSIVE: checkpoint.on_inconclusive}[status]
        failed = [r.name for r in results if r.status is not Status.PASS]
        reason = f"{title}: {status.value}" + (f" ({', '.join(failed + notes)})" if failed or notes else "")
        self._decide(events, now, DecisionKind(action), reason, f"checkpoint:{name}")

    def _judge_criterion(self, series: Series, name: str, criterion: Measure, tick: int, now: float) -> CriterionResult:
        value = self._value(series, criterion, tick, now)
        if math.isnan(value):
            status = Status.INCONCLUSIVE
        else:
            status = Status.PASS if criterion.op.holds(value, criterion.threshold) else Status.FAIL
        return CriterionResult(name, criterion.describe(), criterion.op.value, criterion.threshold,
                               None if math.isnan(value) else value, status, criterion.kind.value)

    def _gate_requirements(self, gate: FinalGate, notes: list[str]) -> list[Status]:
        statuses = []
        if gate.require_checkpoints:
            for name, status in self._checkpoint_status.items():
                if status is not Status.PASS:
                    notes.append(f"checkpoint {name} was {status.value}")
                    statuses.append(Status.FAIL if status is Status.FAIL else Status.INCONCLUSIVE)
        if gate.require_no_alerts:
            floor = _SEVERITY_RANK[gate.require_no_alerts]
            fired = sum(1 for _, sev in self._alerts if _SEVERITY_RANK[sev] >= floor)
            if fired:
                notes.append(f"{fired} {gate.require_no_alerts} alert(s) fired")
                statuses.append(Status.FAIL)
        if self.missing_scrapes > gate.max_missing_scrapes:
            notes.append(f"{self.missing_scrapes} scrape(s) missing or incomplete")
            statuses.append(Status.INCONCLUSIVE)
        return statuses

    # -- traffic -----------------------------------------------------------------

    def _step_phase(self, now: float, events: list[Event]) -> None:
        if self._next_phase < len(self._phase_starts) and now >= self._phase_starts[self._next_phase] - _EPS:
            phase = self.plan.phases[self._next_phase + 1]
            self._next_phase += 1
            label = phase.name or f"phase {self._next_phase + 1}"
            self._decide(events, now, DecisionKind.CONTINUE,
                         f"{label} begins at {format_value(phase.weight, Kind.RATIO)}", f"phase:{label}",
                         weight=phase.weight)

    def _decide(self, events: list[Event], now: float, kind: DecisionKind, reason: str, source: str,
                weight: Optional[float] = None) -> None:
        if weight is None:
            actions = self.plan.actions
            weight = {DecisionKind.HOLD: actions.hold, DecisionKind.ROLLBACK: actions.rollback,
                      DecisionKind.ADVANCE: actions.advance}.get(kind, self.weight)
        self.weight = weight
        events.append(Decision(now, kind, weight, reason, source))
        if kind.terminal:
            self.done = True
