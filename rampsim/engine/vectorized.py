"""Many gates judged at once over complete telemetry, with numpy.

A sweep asks the same question of a hundred gate variants on one simulated ramp:
when does each first hold, roll back or advance? :func:`judge` answers it without
replaying the ramp a hundred times. Each rule's metric is computed once over every
scrape (:func:`~rampsim.engine.metrics.evaluate`, the function the engine uses);
breaches, sustain clocks and alert firings become array operations over
``(gates, scrapes)``; checkpoints reuse one value per distinct criterion.

It is the step-by-step :class:`~rampsim.engine.engine.DecisionEngine`'s decision
logic restated for whole arrays, and must agree with it exactly (first terminal
decision, its time and its source); a property test holds it to that.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from rampsim.engine.events import SEVERITY_RANK, TIME_TOLERANCE
from rampsim.engine.metrics import Series, evaluate, plan_channels
from rampsim.plan.schema import Checkpoint, FinalGate, Measure, Measurement, Metric, Plan, Rule, WindowKind
from rampsim.telemetry import Telemetry

__all__ = ["Verdicts", "judge", "window_starts", "fired", "first_sustained", "checkpoint_ticks",
           "previous_checkpoints"]

_STATUS_ACTION = ("on_pass", "on_fail", "on_inconclusive")
PASS, FAIL, INCONCLUSIVE = 0, 1, 2


@dataclass(frozen=True)
class Verdicts:
    """Each gate's first terminal decision: ``kind`` (hold, rollback, advance, or none), time, source."""

    kind: np.ndarray
    time: np.ndarray
    source: np.ndarray

    def __len__(self) -> int:
        return len(self.kind)


def checkpoint_ticks(plan: Plan, time: np.ndarray) -> list[int]:
    """The scrape at which each checkpoint is judged: the first at or after its time, one per scrape."""
    ticks, previous = [], -1
    for _, checkpoint in plan.ordered_checkpoints():
        tick = max(int(np.searchsorted(time, checkpoint.at - TIME_TOLERANCE)), previous + 1)
        ticks.append(tick)
        previous = tick
    return ticks


def window_starts(measure: Measurement, ends: np.ndarray, interval: float, previous_checkpoint: np.ndarray) -> np.ndarray:
    if measure.window.kind is WindowKind.CUMULATIVE:
        return np.zeros_like(ends)
    if measure.window.kind is WindowKind.SINCE_CHECKPOINT:
        return previous_checkpoint
    return ends - int(round(measure.window.seconds / interval))


def fired(breached: np.ndarray, time: np.ndarray, sustain: np.ndarray) -> np.ndarray:
    """``(gates, scrapes)``: the scrapes at which a breach first reaches its sustain time (a rule fires)."""
    ticks = np.arange(breached.shape[1])
    last_clear = np.maximum.accumulate(np.where(breached, -1, ticks), axis=1)
    run_start = np.minimum(last_clear + 1, breached.shape[1] - 1)
    held = breached & (time[None, :] - time[run_start] >= sustain[:, None] - TIME_TOLERANCE)
    return held & ~np.concatenate([np.zeros((len(held), 1), bool), held[:, :-1]], axis=1)


def first_sustained(breached: np.ndarray, time: np.ndarray, sustain: float) -> Optional[tuple[int, int]]:
    """``(start, fired)`` scrape indices of the first breach of ``breached`` to last ``sustain``, else ``None``."""
    fire = fired(breached[None, :], time, np.array([sustain]))[0]
    if not fire.any():
        return None
    tick = int(np.argmax(fire))
    clear = np.flatnonzero(~breached[:tick])
    return (int(clear[-1]) + 1 if len(clear) else 0), tick


def previous_checkpoints(n_ticks: int, checkpoint_ticks: Sequence[int]) -> np.ndarray:
    """For each scrape, the tick of the last checkpoint judged before it (0 before the first)."""
    previous = np.zeros(n_ticks, dtype=np.intp)
    for tick in checkpoint_ticks:  # a checkpoint's window counts from the next scrape
        previous[tick + 1:] = tick
    return previous


class _Judge:
    """The state shared while judging one telemetry: the series and cached metric values."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.series = Series.from_telemetry(telemetry)
        self.telemetry = telemetry
        self.time = telemetry.time
        self.interval = telemetry.layout.scrape_interval
        self._values: dict[tuple, np.ndarray] = {}       # a rule's value at every scrape
        self._criterion_values: dict[tuple, float] = {}  # a criterion's value at one checkpoint
        self._missing: dict[tuple, np.ndarray] = {}

    def missing(self, plan: Plan) -> np.ndarray:
        """Scrapes missing (or with a damaged sample of) a series ``plan`` reads, counted up to each scrape."""
        counters, gauges = plan_channels(plan)
        key = (tuple(counters), tuple(gauges))
        if key not in self._missing:
            incomplete = (np.isnan(self.series.counters[:, counters]).any(axis=1)
                          | np.isnan(self.series.gauges[:, gauges]).any(axis=1))
            self._missing[key] = np.cumsum(incomplete)
        return self._missing[key]

    def rule_values(self, rule: Rule, checkpoint_ticks: Sequence[int]) -> np.ndarray:
        """The rule's value at every scrape, as the engine sees it then."""
        ends = np.arange(len(self.time))
        previous = previous_checkpoints(len(ends), checkpoint_ticks)
        key = (rule.measurement, tuple(checkpoint_ticks) if rule.window.kind is WindowKind.SINCE_CHECKPOINT else ())
        if key not in self._values:
            starts = window_starts(rule, ends, self.interval, previous)
            self._values[key] = evaluate(self.series, rule, starts, ends)
        return self._values[key]

    def criterion_value(self, criterion: Measure, tick: int, previous_tick: int) -> float:
        key = (criterion.measurement, tick, previous_tick)
        if key not in self._criterion_values:
            start = window_starts(criterion, np.array([tick]), self.interval, np.array([previous_tick]))
            self._criterion_values[key] = float(evaluate(self.series, criterion, start, np.array([tick]))[0])
        return self._criterion_values[key]


def judge(plans: Sequence[Plan], telemetry: Telemetry) -> Verdicts:
    """The first terminal decision of every plan in ``plans`` on ``telemetry``."""
    state = _Judge(telemetry)
    n_ticks = len(telemetry)
    kinds = np.full(len(plans), "none", dtype=object)
    times = np.full(len(plans), np.nan)
    sources = np.full(len(plans), "", dtype=object)
    schedules = [checkpoint_ticks(plan, telemetry.time) for plan in plans]
    fires = _rule_fires(plans, schedules, state)
    for g, plan in enumerate(plans):
        kind, tick, source = _first_terminal(plan, schedules[g], fires[g], state, n_ticks)
        if kind is not None:
            kinds[g], times[g], sources[g] = kind, telemetry.time[tick], source
    return Verdicts(kinds, times, sources)


def _rule_fires(plans: Sequence[Plan], schedules: list[list[int]], state: _Judge) -> list[dict[str, np.ndarray]]:
    """For every plan, the scrapes at which each rule fires, computed a rule at a time for all plans."""
    fires: list[dict[str, np.ndarray]] = [{} for _ in plans]
    names = {name for plan in plans for name in plan.rules}
    for name in sorted(names):
        groups: dict[tuple, list[int]] = {}
        for g, plan in enumerate(plans):
            rule = plan.rules.get(name)
            if rule is not None:
                since = tuple(schedules[g]) if rule.window.kind is WindowKind.SINCE_CHECKPOINT else ()
                groups.setdefault((rule.measurement, rule.op, since), []).append(g)
        for (_, op, _), members in groups.items():
            rule = plans[members[0]].rules[name]
            values = state.rule_values(rule, schedules[members[0]])
            thresholds = np.array([plans[g].rules[name].threshold for g in members])
            sustains = np.array([plans[g].rules[name].sustain for g in members])
            with np.errstate(invalid="ignore"):
                breached = op.compare(values[None, :], thresholds[:, None])
            rows, ticks = np.nonzero(fired(breached, state.time, sustains))
            split = np.searchsorted(rows, np.arange(len(members) + 1))
            for row, g in enumerate(members):
                fires[g][name] = ticks[split[row]:split[row + 1]]
    return fires


def _first_terminal(plan: Plan, schedule: list[int], fires: dict[str, np.ndarray], state: _Judge,
                    n_ticks: int) -> tuple:
    rule_tick, rule_kind, rule_source = n_ticks, None, ""
    for name, rule in plan.rules.items():  # plan order; at one scrape a rollback outranks a hold
        if rule.action not in ("hold", "rollback") or not len(fires[name]):
            continue
        tick = int(fires[name][0])
        if tick < rule_tick or (tick == rule_tick and rule.action == "rollback" and rule_kind == "hold"):
            rule_tick, rule_kind, rule_source = tick, rule.action, f"rule:{name}"
    alert_ticks = {rank: np.concatenate([np.empty(0, dtype=np.intp)] + [
        ticks for name, ticks in fires.items() if SEVERITY_RANK[plan.rules[name].severity] >= rank])
        for rank in (1, 2)}
    statuses: dict[str, int] = {}
    previous = 0
    for (name, checkpoint), tick in zip(plan.ordered_checkpoints(), schedule):
        if tick >= n_ticks or tick >= rule_tick:
            break
        status = _checkpoint_status(plan, checkpoint, tick, previous, statuses, alert_ticks, state)
        statuses[name] = status
        previous = tick
        action = getattr(checkpoint, _STATUS_ACTION[status])
        if action != "continue":
            return action, tick, f"checkpoint:{name}"
    if rule_kind is not None:
        return rule_kind, rule_tick, rule_source
    return None, None, None


def _checkpoint_status(plan: Plan, checkpoint: Checkpoint, tick: int, previous: int, statuses: dict[str, int],
                       alert_ticks: dict[int, np.ndarray], state: _Judge) -> int:
    worst = PASS
    for criterion in checkpoint.criteria.values():
        if criterion.metric is Metric.ALERTS:
            start = max(int(window_starts(criterion, np.array([tick]), state.interval, np.array([previous]))[0]), 0)
            assert criterion.alert_severity is not None  # the plan schema requires it for the alerts metric
            fired = alert_ticks[SEVERITY_RANK[criterion.alert_severity]]
            value = float(np.count_nonzero((fired <= tick) & (state.time[fired] >= state.time[start] - TIME_TOLERANCE)))
        else:
            value = state.criterion_value(criterion, tick, previous)
        if value != value:
            worst = max(worst, INCONCLUSIVE) if worst != FAIL else FAIL
        elif not criterion.op.holds(value, criterion.threshold):
            worst = FAIL
    if isinstance(checkpoint, FinalGate):
        if checkpoint.require_checkpoints:
            for status in statuses.values():
                if status == FAIL:
                    worst = FAIL
                elif status == INCONCLUSIVE and worst != FAIL:
                    worst = INCONCLUSIVE
        if checkpoint.require_no_alerts:
            fired = alert_ticks[SEVERITY_RANK[checkpoint.require_no_alerts]]
            if np.any(fired <= tick):
                worst = FAIL
        if state.missing(plan)[tick] > checkpoint.max_missing_scrapes and worst != FAIL:
            worst = INCONCLUSIVE
    return worst
