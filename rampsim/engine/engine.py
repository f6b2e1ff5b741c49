"""The decision engine: a plan applied to telemetry, one scrape at a time.

Pure and incremental: :meth:`DecisionEngine.observe` takes the scrape at ``tick``
and returns the events it causes. No clock, no I/O, no randomness. At each scrape:

1. counters are corrected for resets (PromQL ``increase`` semantics);
2. every continuous rule is evaluated on its window; a breach that has lasted its
   sustain time fires an alert (once, until it clears), and a rule whose action is
   ``hold`` or ``rollback`` decides;
3. a checkpoint that is due is judged criterion by criterion, then decides;
4. a phase boundary moves the canary weight.

A zero-traffic window, or one without the samples its metric needs (a counter's at
both ends, a gauge's present ones: :mod:`rampsim.engine.metrics`), is *inconclusive*:
it never breaches a rule (and resets its sustain clock, like a Prometheus alert's
``for``), never passes a criterion, and never leads to advance. After a terminal decision (hold, rollback,
advance) the engine is done and returns no more events.

A sequential test reads every scrape interval since the ramp began; what it reads of
each interval (and a latency test's ratio of each complete batch) is computed once, as
the scrapes arrive (past scrapes never change), and its p-value once per scrape whatever
number of rules and criteria read it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from rampsim.engine.decision import ACTIONS, PASS, STATUSES, action_codes, criterion_status, gate_requirements, rule_rank
from rampsim.engine.events import (
    SEVERITY_RANK, TIME_TOLERANCE, AlertFired, AlertResolved, CheckpointReport, CriterionResult, Decision,
    DecisionKind, Event, Status,
)
from rampsim.engine.metrics import (
    Aggregator, Series, aggregate_groups, batch_intervals, check_reach, evaluate, gauge_channel, increments,
    is_scalar_measure, latency_differences, plan_channels, scalar_finisher, sequential_inputs, sequential_known,
    sequential_p_values, sequential_traffic, without_damaged_gauges,
)
from rampsim.engine.schedule import window_starts
from rampsim.plan.schema import FinalGate, Measure, Measurement, Metric, Plan, Rule
from rampsim.telemetry import COUNTER_LIMIT, Telemetry, damaged_counters
from rampsim.units import Kind, format_value

__all__ = ["DecisionEngine"]

_NAN = float("nan")


def _due(at: float) -> float:
    """The earliest scrape time that counts as ``at`` (scrape times carry float error)."""
    return at - TIME_TOLERANCE


def _grown(array: np.ndarray, rows: int) -> np.ndarray:
    grown = np.full((rows, array.shape[1]), np.nan)
    grown[: len(array)] = array
    return grown


@dataclass
class _CompiledRule:
    """A rule, the slot its per-scrape value is computed in (``-1``: through :func:`evaluate`), and its breach."""

    name: str
    rule: Rule
    slot: int
    breach_start: Optional[float] = None
    firing: bool = False

    def __post_init__(self) -> None:
        self.breached = self.rule.op.compare
        self.threshold = self.rule.threshold


@dataclass(frozen=True)
class _Slot:
    """One value shared by every rule that measures the same thing over the same rolling window."""

    lag: int
    gauge_column: int
    finisher: Optional[Callable[[list, float], float]]


class DecisionEngine:
    """The reference engine (implements :class:`~rampsim.engine.protocol.Engine`)."""

    def __init__(self, plan: Plan) -> None:
        if not isinstance(plan, Plan):
            from rampsim.errors import UsageError

            raise UsageError(f"DecisionEngine: plan is a Plan (rampsim.load_plan(path)), got {plan!r:.80}")
        check_reach(plan)
        self.plan = plan
        self.layout = plan.layout
        self.interval = plan.telemetry.scrape_interval
        self._rules, self._slots, groups = self._compile_rules(plan)
        self._aggregator = Aggregator(groups) if groups else None
        self._lags = sorted({slot.lag for slot in self._slots if slot.finisher is not None})
        self._rule_slots = [entry.slot for entry in self._rules]
        self._all_scalar = all(slot >= 0 for slot in self._rule_slots)
        self._slot_plan = [(slot.finisher, self._lags.index(slot.lag) if slot.finisher else -1, slot.gauge_column)
                           for slot in self._slots]
        self._schedule = plan.ordered_checkpoints()
        self._next_checkpoint = 0
        self._previous_checkpoint_tick = 0
        self._checkpoint_status: dict[str, Status] = {}
        self._alerts: list[tuple[float, str]] = []
        self._phase_starts = np.cumsum([0.0] + [p.duration for p in plan.phases])[1:-1]
        self._next_phase = 0
        self._next_checkpoint_at = _due(self._schedule[0][1].at)
        self._next_phase_at = _due(self._phase_starts[0] if len(self._phase_starts) else math.inf)
        self.weight = plan.phases[0].weight
        self.done = False
        self.missing_scrapes = 0  # scrapes missing a series the plan reads
        self._read = plan_channels(plan)
        self._observed = -1
        self._counters = np.empty((0, self.layout.n_counters + 1))  # a trailing column of zeros
        self._aggregates = np.empty((0, len(groups)))
        self._running: Optional[np.ndarray] = None
        self._damage: Optional[np.ndarray] = None  # damaged samples per channel up to each scrape, once there are any
        self._damage_aggregates = np.empty((0, len(groups)))
        self._last_raw: Optional[np.ndarray] = None
        self._last_raw_complete = False
        self._scrape_complete = False
        self._times: list[float] = []
        self._times_of: Optional[np.ndarray] = None
        self._sequential_inputs: dict[Measurement, np.ndarray] = {}    # per interval, from the first
        self._sequential_traffic: dict[Measurement, np.ndarray] = {}   # each arm's, summed up to each scrape
        self._sequential_values: dict[Measurement, tuple[int, float]] = {}   # the latest tick's p-value
        self._latency_differences: dict[Measurement, np.ndarray] = {}          # per complete batch, from the first

    def _compile_rules(self, plan: Plan) -> tuple[list[_CompiledRule], list[_Slot], list]:
        groups: dict[tuple, int] = {}
        slots: dict[Measurement, int] = {}
        slot_list: list[_Slot] = []
        compiled = []
        for name, rule in plan.rules.items():
            slot = -1
            if is_scalar_measure(rule):
                if rule.measurement not in slots:
                    slots[rule.measurement] = len(slot_list)
                    slot_list.append(self._slot(rule.measurement, groups))
                slot = slots[rule.measurement]
            compiled.append(_CompiledRule(name, rule, slot))
        return compiled, slot_list, list(groups)

    def _slot(self, measurement: Measurement, groups: dict[tuple, int]) -> _Slot:
        """The slot computing ``measurement`` per scrape, its counter groups added to ``groups``."""
        if measurement.metric_definition.gauge is not None:
            column = gauge_channel(self.layout, measurement)
            return _Slot(0, column, None)
        columns = tuple(groups.setdefault(g, len(groups)) for g in aggregate_groups(self.layout, measurement))
        lag = int(round(measurement.window.seconds / self.interval))
        return _Slot(lag, -1, scalar_finisher(measurement, self.layout.latency_buckets, columns))

    # -- the protocol ------------------------------------------------------------

    def observe(self, telemetry: Telemetry, tick: int) -> list[Event]:
        """Events caused by scrape ``tick``; scrapes must be observed in order, each once."""
        if tick != self._observed + 1:
            raise ValueError(f"scrapes must be observed in order: expected tick {self._observed + 1}, got {tick}")
        if tick == 0 and telemetry.layout != self.layout:
            raise ValueError(f"telemetry layout {telemetry.layout} does not match the plan's {self.layout}")
        self._observed = tick
        self._ingest(telemetry, tick)
        if self.done:
            return []
        if self._times_of is not telemetry.time or len(self._times) <= tick:
            self._times, self._times_of = telemetry.time.tolist(), telemetry.time
        now = self._times[tick]
        row = telemetry.gauges[tick]
        gauges = row.tolist()
        gauges_sane = sum(gauges) < math.inf and min(gauges) >= 0  # False with a NaN, an infinity or a negative
        if not gauges_sane:
            row = without_damaged_gauges(row)
            gauges = row.tolist()
        if not self._scrape_complete or not gauges_sane:
            counters, gauge_columns = self._read
            if np.isnan(self._counters[tick, counters]).any() or np.isnan(row[gauge_columns]).any():
                self.missing_scrapes += 1
        events: list[Event] = []
        self._judge_rules(telemetry, gauges, tick, now, events)
        if not self.done and now >= self._next_checkpoint_at:
            self._judge_checkpoint(self._series(telemetry), tick, now, events)
        if not self.done and now >= self._next_phase_at:
            self._step_phase(now, events)
        return events

    # -- scrapes -------------------------------------------------------------------

    def _ingest(self, telemetry: Telemetry, tick: int) -> None:
        """Append scrape ``tick``'s reset-corrected counters (the order :func:`corrected_counters` uses)."""
        if tick >= len(self._counters):
            size = max(len(telemetry), tick + 1)
            self._counters = _grown(self._counters, size)
            self._counters[:, -1] = 0.0
            self._aggregates = _grown(self._aggregates, size)
            if self._damage is not None:
                self._damage = _grown(self._damage, size)
                self._damage_aggregates = _grown(self._damage_aggregates, size)
        raw = telemetry.counters[tick]
        if self._running is not None and self._last_raw_complete and self._damage is None:
            step = raw - self._last_raw
            if step.min() >= 0 and raw.max() <= COUNTER_LIMIT:  # no reset, nothing missing or damaged
                row = self._counters[tick, :-1]
                np.add(self._running, step, out=row)
                self._running, self._last_raw = row, raw  # past scrapes never change (the protocol)
                complete = True
            else:
                complete = self._ingest_general(raw, tick)
        else:
            complete = self._ingest_general(raw, tick)
        if self._aggregator is not None:
            self._aggregates[tick] = self._aggregator.sum_padded(self._counters[tick])
        self._scrape_complete = complete

    def _ingest_general(self, raw: np.ndarray, tick: int) -> bool:
        """Resets, missing or damaged samples and the first scrape; returns whether the scrape is complete."""
        damaged = damaged_counters(raw)
        if self._damage is not None or damaged.any():
            raw = self._count_damage(raw, damaged, tick)
        present = ~np.isnan(raw)
        if self._running is None:
            self._running = raw.copy()
        else:
            assert self._last_raw is not None  # set on the same scrape as self._running
            step = np.nan_to_num(increments(self._last_raw, raw))
            self._running = np.where(present & np.isnan(self._running), raw, self._running + step)
        self._last_raw = raw.copy() if self._last_raw is None else np.where(present, raw, self._last_raw)
        self._last_raw_complete = not np.isnan(self._last_raw).any()
        self._counters[tick, :-1] = np.where(present, self._running, np.nan)
        return bool(present.all())

    def _count_damage(self, raw: np.ndarray, damaged: np.ndarray, tick: int) -> np.ndarray:
        """Count the damaged samples of each channel up to ``tick``; ``raw`` with them missing."""
        if self._damage is None:
            self._damage = np.zeros_like(self._counters)
            self._damage_aggregates = np.zeros_like(self._aggregates)
        self._damage[tick] = self._damage[tick - 1] if tick else 0.0
        self._damage[tick, :-1] += damaged
        if self._aggregator is not None:
            self._damage_aggregates[tick] = self._aggregator.sum_padded(self._damage[tick])
        return np.where(damaged, np.nan, raw)

    def _series(self, telemetry: Telemetry) -> Series:
        damage = None if self._damage is None else self._damage[:, :-1]
        return Series.from_padded(self.layout, telemetry.time, self._counters, telemetry.gauges, damage)

    def _value(self, series: Series, measure: Measure, tick: int) -> float:
        """``measure`` judged at ``tick`` through :func:`evaluate` (or the alert log)."""
        start = int(window_starts(measure, np.array([tick]), self.interval,
                                  np.array([self._previous_checkpoint_tick]))[0])
        if measure.metric is Metric.ALERTS:
            assert measure.alert_severity is not None  # the plan schema requires it for the alerts metric
            floor = SEVERITY_RANK[measure.alert_severity]
            begin = series.time[max(start, 0)]
            return float(sum(1 for t, sev in self._alerts if SEVERITY_RANK[sev] >= floor and t >= begin - TIME_TOLERANCE))
        if measure.test is not None:
            return self._sequential_value(series, measure.measurement, tick)
        return float(evaluate(series, measure, np.array([start]), np.array([tick]))[0])

    def _sequential_value(self, series: Series, measurement: Measurement, tick: int) -> float:
        """A sequential test's p-value at ``tick`` (its window is cumulative), as :func:`evaluate` gives it, each
        interval's inputs computed once."""
        latest = self._sequential_values.get(measurement)
        if latest is not None and latest[0] == tick:
            return latest[1]
        value = _NAN
        inputs = self._sequential_inputs.get(measurement)
        done = 0 if inputs is None else len(inputs)
        if done < tick:
            new = sequential_inputs(series, measurement, np.arange(done + 1, tick + 1))
            inputs = new if inputs is None else np.concatenate([inputs, new])
            self._sequential_inputs[measurement] = inputs
        differences = None
        batched_count = measurement.metric_definition.sequential == "count" and measurement.batch is not None
        if inputs is not None and batched_count:   # batches that joined, from the window's start
            evidence = sequential_traffic(measurement, inputs[:tick], series.layout).sum(axis=0)[None, :]
        elif inputs is not None and measurement.metric_definition.sequential == "latency":
            batch = batch_intervals(measurement, series.layout)   # complete batches' ratios, computed once
            kept = self._latency_differences.get(measurement, np.empty(0))
            complete = tick // batch
            if len(kept) < complete:
                new_batches = inputs[len(kept) * batch:complete * batch]
                kept = np.concatenate([kept, latency_differences(measurement, new_batches, series.layout)])
                self._latency_differences[measurement] = kept
            differences = kept[:complete]
            evidence = np.full((1, 2), float(np.isfinite(differences).sum()))   # batches that joined
        else:
            traffic = self._sequential_traffic.get(measurement, np.zeros((1, 2)))
            if inputs is not None and len(traffic) <= tick:   # cumulative traffic after each interval, from the start
                more = np.cumsum(sequential_traffic(measurement, inputs[len(traffic) - 1:tick], series.layout),
                                 axis=0) + traffic[-1]
                traffic = np.concatenate([traffic, more])
                self._sequential_traffic[measurement] = traffic
            evidence = traffic[tick][None, :]
        if tick > 0 and sequential_known(series, measurement, np.array([tick]), evidence)[0]:
            assert inputs is not None  # tick >= 1: its intervals' inputs are computed
            value = float(sequential_p_values(measurement, inputs[:tick], series.layout, differences)[-1])
        self._sequential_values[measurement] = (tick, value)
        return value

    # -- continuous rules -------------------------------------------------------

    def _slot_values(self, telemetry: Telemetry, gauges: list[float], tick: int) -> list[float]:
        time, current, aggregates = self._times, self._aggregates[tick], self._aggregates
        if self._damage is None:
            increases = [((current - aggregates[tick - lag]).tolist(), time[tick] - time[tick - lag])
                         if tick >= lag else None for lag in self._lags]
        else:  # a group with a damaged sample in the window has no increase
            damage = self._damage_aggregates
            increases = [(np.where(damage[tick] > damage[tick - lag], np.nan, current - aggregates[tick - lag]).tolist(),
                          time[tick] - time[tick - lag]) if tick >= lag else None for lag in self._lags]
        values = []
        for finisher, lag_index, gauge_column in self._slot_plan:
            if finisher is None:
                values.append(gauges[gauge_column])
            else:
                increase = increases[lag_index]
                values.append(_NAN if increase is None else finisher(*increase))
        return values

    def _judge_rules(self, telemetry: Telemetry, gauges: list[float], tick: int, now: float,
                     events: list[Event]) -> None:
        slot_values = self._slot_values(telemetry, gauges, tick)
        if self._all_scalar:
            values = [slot_values[slot] for slot in self._rule_slots]
        else:
            series = self._series(telemetry)
            values = [slot_values[e.slot] if e.slot >= 0 else self._value(series, e.rule, tick) for e in self._rules]
        deciding: list[_CompiledRule] = []
        for entry, value in zip(self._rules, values):
            if entry.breached(value, entry.threshold):
                if entry.breach_start is None:
                    entry.breach_start = now
                rule = entry.rule
                if not entry.firing and now - entry.breach_start >= rule.sustain - TIME_TOLERANCE:
                    entry.firing = True
                    self._alerts.append((now, rule.severity))
                    events.append(AlertFired(now, entry.name, rule.severity, rule.action, rule.describe(),
                                             value, rule.threshold, entry.breach_start))
                    if rule.action in ("hold", "rollback"):
                        deciding.append(entry)
            elif entry.breach_start is not None:
                if entry.firing:
                    events.append(AlertResolved(now, entry.name))
                entry.breach_start, entry.firing = None, False
        if deciding:
            entry = min(deciding, key=lambda e: rule_rank(e.rule.action))
            self._decide(events, now, DecisionKind(entry.rule.action),
                         f"rule {entry.name}: {entry.rule.describe()}", f"rule:{entry.name}")

    # -- checkpoints -------------------------------------------------------------

    def _judge_checkpoint(self, series: Series, tick: int, now: float, events: list[Event]) -> None:
        name, checkpoint = self._schedule[self._next_checkpoint]
        self._next_checkpoint += 1
        self._next_checkpoint_at = _due(self._schedule[self._next_checkpoint][1].at
                                        if self._next_checkpoint < len(self._schedule) else math.inf)
        results = tuple(self._judge_criterion(series, cname, criterion, tick)
                        for cname, criterion in checkpoint.criteria.items())
        code = max((STATUSES.index(r.status) for r in results), default=PASS)
        notes: list[str] = []
        if isinstance(checkpoint, FinalGate):
            code = max(code, self._gate_requirements(checkpoint, notes))
        status = STATUSES[code]
        self._checkpoint_status[name] = status
        self._previous_checkpoint_tick = tick
        title = checkpoint.title or name
        events.append(CheckpointReport(now, name, title, results, status, tuple(notes), tuple(checkpoint.manual)))
        action = ACTIONS[action_codes(checkpoint)[code]]
        failed = [r.name for r in results if r.status is not Status.PASS]
        reason = f"{title}: {status.value}" + (f" ({', '.join(failed + notes)})" if failed or notes else "")
        self._decide(events, now, DecisionKind(action), reason, f"checkpoint:{name}")

    def _judge_criterion(self, series: Series, name: str, criterion: Measure, tick: int) -> CriterionResult:
        value = self._value(series, criterion, tick)
        status = STATUSES[criterion_status(value, criterion.op, criterion.threshold)]
        return CriterionResult(name, criterion.describe(), criterion.op.value, criterion.threshold,
                               None if math.isnan(value) else value, status, criterion.kind.value)

    def _gate_requirements(self, gate: FinalGate, notes: list[str]) -> int:
        """The final gate's own status (see :func:`~rampsim.engine.decision.gate_requirements`), with notes."""
        worst_earlier = max((STATUSES.index(status) for status in self._checkpoint_status.values()), default=PASS)
        if gate.require_checkpoints:
            notes.extend(f"checkpoint {name} was {status.value}"
                         for name, status in self._checkpoint_status.items() if status is not Status.PASS)
        fired = 0
        if gate.require_no_alerts:
            floor = SEVERITY_RANK[gate.require_no_alerts]
            fired = sum(1 for _, sev in self._alerts if SEVERITY_RANK[sev] >= floor)
            if fired:
                notes.append(f"{fired} {gate.require_no_alerts} alert(s) fired")
        if self.missing_scrapes > gate.max_missing_scrapes:
            notes.append(f"{self.missing_scrapes} scrape(s) missing or incomplete")
        return gate_requirements(gate, worst_earlier, fired, self.missing_scrapes)

    # -- traffic -----------------------------------------------------------------

    def _step_phase(self, now: float, events: list[Event]) -> None:
        if now >= self._next_phase_at:
            phase = self.plan.phases[self._next_phase + 1]
            self._next_phase += 1
            self._next_phase_at = _due(self._phase_starts[self._next_phase]
                                       if self._next_phase < len(self._phase_starts) else math.inf)
            label = phase.name or f"phase {self._next_phase + 1}"
            self._decide(events, now, DecisionKind.CONTINUE,
                         f"{label} begins at {format_value(phase.weight, Kind.RATIO)}", f"phase:{label}",
                         weight=phase.weight)

    def _decide(self, events: list[Event], now: float, kind: DecisionKind, reason: str, source: str,
                weight: Optional[float] = None) -> None:
        if weight is None:
            weight = self.plan.actions.weight(kind.value, self.weight) if kind.terminal else self.weight
        self.weight = weight
        events.append(Decision(now, kind, weight, reason, source))
        if kind.terminal:
            self.done = True
