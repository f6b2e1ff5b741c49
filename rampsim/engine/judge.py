"""The sweep's judge: a grid of gates compiled once, then judged over many runs at once.

A sweep asks one question of hundreds of gate variants on thousands of simulated
ramps: when does each gate first hold, roll back or advance? :class:`CompiledGates`
answers it without replaying any ramp gate by gate.

*Compiling* groups the gates into families that differ only in thresholds and
sustain times (a grid over thresholds and sustains is one family) and turns each
family's rules and criteria into parameter arrays. *Judging* a stack of runs (all on
one scrape grid) then takes array operations over ``(runs, gates, scrapes)``:

* each rule's value is computed once per run for every scrape
  (:func:`~rampsim.engine.metrics.evaluate`, the function the engine uses);
* breaches are found for every distinct threshold at once; each breach run
  (consecutive breached scrapes) fires once its length reaches the sustain time,
  read from a table of "first scrape at least ``s`` after scrape ``j``" built once
  per scrape grid, so the first firing of every gate is a lookup;
* checkpoint criteria are one value per run, compared with every gate's threshold
  by broadcasting; statuses, final-gate requirements and actions follow the
  decision core (:mod:`rampsim.engine.decision`), shared with the step engine.

The result must equal the step-by-step :class:`~rampsim.engine.engine.DecisionEngine`
exactly (first terminal decision, its time and its source); property tests hold it to that.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from rampsim.engine.decision import PASS, action_codes, criterion_status, gate_requirements, rule_rank
from rampsim.engine.events import SEVERITY_RANK, TIME_TOLERANCE
from rampsim.engine.metrics import Series, aggregate_groups, check_reach, corrected_counters, evaluate, plan_channels
from rampsim.engine.schedule import checkpoint_ticks, previous_checkpoints, window_starts
from rampsim.plan.metric_definitions import Group
from rampsim.plan.schema import Checkpoint, FinalGate, Measure, Measurement, Metric, Plan, Rule, WindowKind
from rampsim.telemetry import COUNTER_LIMIT, Telemetry, damaged_counters

__all__ = ["KINDS", "Verdicts", "CompiledGates", "judge"]

KINDS = ("none", "hold", "rollback", "advance")  # a verdict's kind; the decision core's ACTIONS, "continue" read "none"


@dataclass(frozen=True)
class Verdicts:
    """Each gate's first terminal decision on each run, arrays ``(runs, gates)``.

    ``kind`` indexes :data:`KINDS`, ``time`` is the decision's scrape time (NaN when
    none) and ``source`` indexes ``sources`` (``-1`` when none). ``steered`` holds, by
    ``(run, gate)``, the canary weight in force during each scrape interval where a gate's
    controller held the canary off the plan's phases before its terminal decision (a
    Flagger canary held on failed checks): the weights a closed loop would have served.
    """

    kind: np.ndarray
    time: np.ndarray
    source: np.ndarray
    sources: tuple[str, ...]
    steered: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)

    def named(self, run: int = 0) -> list[tuple[str, Optional[float], str]]:
        """``(kind, time or None, source)`` of every gate on ``run``, with names."""
        return [(KINDS[k], None if t != t else float(t), self.sources[s] if s >= 0 else "")
                for k, t, s in zip(self.kind[run].tolist(), self.time[run].tolist(), self.source[run].tolist())]


def judge(plans: Sequence[Plan], telemetry: Telemetry) -> Verdicts:
    """The first terminal decision of every plan in ``plans`` on one ``telemetry`` (one run)."""
    return CompiledGates(plans).judge([telemetry])


# -- compiling ------------------------------------------------------------------------

@dataclass(frozen=True)
class _RuleColumn:
    """One rule of a family: its shared form and each gate's threshold level and sustain."""

    name: str
    rule: Rule                 # the family's first gate's (everything but threshold and sustain is shared)
    position: int              # in the plan's rule order
    levels: np.ndarray         # distinct thresholds
    level_of: np.ndarray       # (gates,) index into levels
    sustains: np.ndarray       # indices into the compiled set's distinct sustain times this rule uses
    sustain_of: np.ndarray     # (gates,) index into ``sustains``

    @property
    def decides(self) -> bool:
        return self.rule.action in ("hold", "rollback")


@dataclass(frozen=True)
class _CheckpointColumn:
    """One checkpoint of a family: its criteria with each gate's threshold, and its actions by status."""

    name: str
    checkpoint: Checkpoint
    criteria: tuple[tuple[Measure, np.ndarray], ...]
    actions: np.ndarray        # ACTIONS index per status


@dataclass(frozen=True)
class _Family:
    """Gates that differ only in rule thresholds, sustain times and criterion thresholds."""

    gates: np.ndarray
    plan: Plan
    rules: tuple[_RuleColumn, ...]
    checkpoints: tuple[_CheckpointColumn, ...]


_MEASUREMENT_FIELDS = tuple(Measurement.model_fields)


def _measured(measure: Measurement) -> tuple:
    """What ``measure`` measures, as plain values (cheaper to compare than a model)."""
    return tuple(getattr(measure, name) for name in _MEASUREMENT_FIELDS)


def _shape(plan: Plan) -> tuple:
    """Everything about a plan's gate but its thresholds and sustain times."""
    rules = tuple((name, _measured(r), r.op, r.severity, r.action) for name, r in plan.rules.items())
    checkpoints = tuple((name, type(c), c.at, c.on_pass, c.on_fail, c.on_inconclusive,
                         tuple((n, _measured(m), m.op, m.alert_severity) for n, m in c.criteria.items()),
                         (c.require_checkpoints, c.require_no_alerts, c.max_missing_scrapes)
                         if isinstance(c, FinalGate) else ())
                        for name, c in plan.ordered_checkpoints())
    return rules, checkpoints, plan.telemetry.scrape_interval


class CompiledGates:
    """A grid of gates compiled once into parameter arrays (see the module docstring).

    It keeps one plan per family and the arrays, not every plan, so it is small to
    send to worker processes.
    """

    def __init__(self, plans: Sequence[Plan]) -> None:
        if not plans:
            raise ValueError("no gates to compile")
        self.n_gates = len(plans)
        self.layout = plans[0].layout
        families: dict[tuple, list[int]] = {}
        for g, plan in enumerate(plans):
            if plan.layout != self.layout:
                raise ValueError("every gate of a grid must read the same telemetry layout")
            check_reach(plan)
            families.setdefault(_shape(plan), []).append(g)
        self.sustain_times = np.unique([r.sustain for p in plans for r in p.rules.values()] or [0.0])
        sources: dict[str, None] = {}
        for plan in plans:
            sources.update({f"rule:{name}": None for name in plan.rules})
            sources.update({f"checkpoint:{name}": None for name, _ in plan.ordered_checkpoints()})
        self.sources = tuple(sources)
        self._families = [self._family(np.array(members), [plans[g] for g in members])
                          for members in families.values()]
        counters = np.unique(np.concatenate([plan_channels(f.plan)[0] for f in self._families]))
        self.read_counters = counters.astype(np.intp)
        """The counter columns some gate reads (the only ones corrected and judged)."""
        self.summed_groups = tuple(dict.fromkeys(
            groups for f in self._families for rule in f.plan.rules.values() if rule.compare is None
            for groups in [aggregate_groups(self.layout, rule.measurement)] if groups))
        """The counter groups a rule without a comparison sums at every scrape: summed as the runs are read."""
        self._sustain_tables: dict[bytes, np.ndarray] = {}

    def __len__(self) -> int:
        return self.n_gates

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_sustain_tables": {}}

    def _family(self, gates: np.ndarray, plans: list[Plan]) -> _Family:
        first = plans[0]
        rules = []
        for position, (name, rule) in enumerate(first.rules.items()):
            levels, level_of = np.unique([p.rules[name].threshold for p in plans], return_inverse=True)
            sustain_ids = np.searchsorted(self.sustain_times, [p.rules[name].sustain for p in plans])
            sustains, sustain_of = np.unique(sustain_ids, return_inverse=True)
            rules.append(_RuleColumn(name, rule, position, levels, level_of.ravel(), sustains, sustain_of.ravel()))
        checkpoints = []
        for name, checkpoint in first.ordered_checkpoints():
            cps = [p.final_gate if isinstance(checkpoint, FinalGate) else p.checkpoints[name] for p in plans]
            criteria = tuple((criterion, np.array([cp.criteria[c].threshold for cp in cps]))
                             for c, criterion in checkpoint.criteria.items())
            checkpoints.append(_CheckpointColumn(name, checkpoint, criteria, action_codes(checkpoint)))
        return _Family(gates, first, tuple(rules), tuple(checkpoints))

    # -- judging --------------------------------------------------------------------

    def judge(self, telemetries: Sequence[Telemetry]) -> Verdicts:
        """Every gate's first terminal decision on each of ``telemetries`` (runs on one scrape grid)."""
        if not telemetries:
            raise ValueError("no runs to judge")
        if telemetries[0].layout != self.layout:
            raise ValueError(f"telemetry layout {telemetries[0].layout} does not match the gates' {self.layout}")
        runs = _Runs(telemetries, self.read_counters, self.summed_groups)
        shape = (len(telemetries), self.n_gates)
        verdicts = Verdicts(np.zeros(shape, np.int8), np.full(shape, np.nan), np.full(shape, -1, np.int16),
                            self.sources)
        sustained = self._sustain_table(runs.time)
        for family in self._families:
            _judge_family(family, runs, sustained, verdicts, self.sources)
        return verdicts

    def _sustain_table(self, time: np.ndarray) -> np.ndarray:
        """``(sustain times, scrapes)``: the first scrape ``t >= j`` with ``time[t] - time[j]`` at least the
        sustain time (within the engine's tolerance), ``len(time)`` when none: where a breach that
        starts at scrape ``j`` and lasts fires."""
        key = time.tobytes()
        if key not in self._sustain_tables:
            n = len(time)
            j = np.arange(n)
            table = np.empty((len(self.sustain_times), n), np.intp)
            for row, sustain in enumerate(self.sustain_times):
                first = np.maximum(np.searchsorted(time, time + (sustain - TIME_TOLERANCE)), j)
                for _ in range(2):  # exact against the engine's own comparison, whatever the rounding
                    back = (first > j) & (time[np.maximum(first - 1, 0)] - time >= sustain - TIME_TOLERANCE)
                    first = np.where(back, first - 1, first)
                    ahead = (first < n) & ~(time[np.minimum(first, n - 1)] - time >= sustain - TIME_TOLERANCE)
                    first = np.where(ahead, first + 1, first)
                table[row] = first
            if len(self._sustain_tables) > 8:
                self._sustain_tables.clear()
            self._sustain_tables[key] = table
        return self._sustain_tables[key]


class _Runs:
    """Several runs' telemetry stacked one after the other as one :class:`Series`, with the values
    judged on it cached (every family of gates reads the same rules and criteria); the sums of the
    counter groups ``summed`` at every scrape are made as the runs are read."""

    def __init__(self, telemetries: Sequence[Telemetry], read_counters: np.ndarray,
                 summed: Sequence[tuple[Group, ...]] = ()) -> None:
        first = telemetries[0]
        for other in telemetries[1:]:
            if other.layout != first.layout or not np.array_equal(other.time, first.time):
                raise ValueError("runs judged together must share the layout and the scrape times")
        self.n_runs, self.n_ticks = len(telemetries), len(first)
        self.time = first.time
        self.interval = first.layout.scrape_interval
        self.offsets = np.arange(self.n_runs) * self.n_ticks
        self._read = read_counters   # only the channels some gate reads are held, corrected for resets
        self._absent: Optional[np.ndarray] = None   # (runs, ticks, read) where a read sample is missing
        read = len(read_counters)
        padded = np.empty((self.n_runs, self.n_ticks, read + 1))
        padded[:, :, read] = 0.0                                     # a trailing column of zeros for aggregates
        counters = padded[:, :, :read]                               # (runs, ticks, read), a view
        flat = padded.reshape(self.n_runs * self.n_ticks, read + 1)
        gauges = np.concatenate([t.gauges for t in telemetries])
        time = np.tile(self.time, self.n_runs)
        self.series = Series.from_padded(first.layout, time, flat, gauges, columns=read_counters)
        if not self._fill_present(telemetries, counters, summed):
            damage = self._fill_damaged(telemetries, counters)
            self.series = Series.from_padded(first.layout, time, flat, gauges, damage, columns=read_counters)
        self._rule_values: dict[tuple, np.ndarray] = {}
        self._criterion_values: dict[tuple, np.ndarray] = {}
        self._missing: dict[tuple, np.ndarray] = {}

    def _fill_present(self, telemetries: Sequence[Telemetry], counters: np.ndarray,
                      summed: Sequence[tuple[Group, ...]]) -> bool:
        """Fill ``counters`` ``(runs, ticks, read)`` with each run's reset-corrected counters and sum the groups of
        ``summed`` over it, one run at a time (while it is in cache); ``False`` if a sample is missing or damaged."""
        for run, (held, telemetry) in enumerate(zip(counters, telemetries)):
            raw = telemetry.counters[:, self._read]
            columns = _to_correct(raw)
            if columns is None:
                return False
            held[...] = raw
            if len(columns):
                held[:, columns] = corrected_counters(held[:, columns])
            for groups in summed:
                self.series.sum_block(groups, slice(run * self.n_ticks, (run + 1) * self.n_ticks))
        return True

    def _fill_damaged(self, telemetries: Sequence[Telemetry], counters: np.ndarray) -> Optional[np.ndarray]:
        """Fill ``counters`` ``(runs, ticks, read)`` with the runs' reset-corrected counters, missing or damaged
        samples ``NaN``; the cumulative count of damaged samples per scrape and channel (``None`` if none is)."""
        for held, telemetry in zip(counters, telemetries):
            held[...] = telemetry.counters[:, self._read]
        damage = None
        damaged = damaged_counters(counters)
        if damaged.any():
            counters[damaged] = np.nan
            damage = np.cumsum(damaged, axis=1).reshape(self.n_runs * self.n_ticks, len(self._read))
        self._absent = np.isnan(counters)
        counters[...] = corrected_counters(counters.transpose(1, 0, 2)).transpose(1, 0, 2)
        return damage

    def rule_values(self, rule: Rule, schedule: Sequence[int]) -> np.ndarray:
        """``(runs, scrapes)``: the rule's value at every scrape of every run, as the engine sees it then."""
        since = tuple(schedule) if rule.window.kind is WindowKind.SINCE_CHECKPOINT else ()
        key = (rule.measurement, since)
        if key not in self._rule_values:
            ends = np.arange(self.n_ticks)
            starts = window_starts(rule, ends, self.interval, previous_checkpoints(self.n_ticks, schedule))
            floor = np.repeat(self.offsets, self.n_ticks)
            values = evaluate(self.series, rule, np.tile(starts, self.n_runs) + floor,
                              np.tile(ends, self.n_runs) + floor, floor)
            self._rule_values[key] = values.reshape(self.n_runs, self.n_ticks)
        return self._rule_values[key]

    def criterion_values(self, criterion: Measure, tick: int, previous: int) -> np.ndarray:
        """``(runs,)``: the criterion's value at checkpoint scrape ``tick`` (previous checkpoint at ``previous``)."""
        key = (criterion.measurement, tick, previous)
        if key not in self._criterion_values:
            start = int(window_starts(criterion, np.array([tick]), self.interval, np.array([previous]))[0])
            self._criterion_values[key] = evaluate(self.series, criterion, start + self.offsets,
                                                   tick + self.offsets, self.offsets)
        return self._criterion_values[key]

    def missing(self, plan: Plan, tick: int) -> np.ndarray:
        """``(runs,)``: scrapes up to ``tick`` missing (or with a damaged sample of) a series ``plan`` reads."""
        counters, gauges = plan_channels(plan)
        key = (tuple(counters), tuple(gauges))
        if key not in self._missing:
            incomplete = np.isnan(self.series.gauges[:, gauges]).any(axis=1).reshape(self.n_runs, self.n_ticks)
            if self._absent is not None:
                incomplete |= self._absent[:, :, np.searchsorted(self._read, counters)].any(axis=2)
            self._missing[key] = np.cumsum(incomplete, axis=1)
        return self._missing[key][:, tick]


def _to_correct(run: np.ndarray) -> Optional[np.ndarray]:
    """The columns of one run's ``(ticks, channels)`` raw counters to correct for resets (the others are their own
    correction), or ``None`` if a sample is missing or damaged.

    A column of whole numbers that never drops is its own correction: the increments
    :func:`~rampsim.engine.metrics.corrected_counters` sums are exact, and so is their sum.
    Only the other columns (sums of seconds or dollars, or a counter that was reset) are summed.
    """
    rising = (run[1:] >= run[:-1]).all(axis=0)   # False where a sample drops or is NaN
    fallen = run[:, ~rising]
    if not ((run[0] >= 0).all() and (run[-1] <= COUNTER_LIMIT).all()   # a rising column's least and largest
            and fallen.min(initial=0.0) >= 0 and fallen.max(initial=0.0) <= COUNTER_LIMIT):   # NaN fails both
        return None
    whole = (np.floor(run) == run).all(axis=0)
    return np.flatnonzero(~(whole & rising))


@dataclass(frozen=True)
class _Firings:
    """Where a rule fires on every run, for each distinct threshold and sustain time it uses.

    ``first`` is ``(runs * levels, sustains)``, the first firing scrape (``n_ticks`` when
    none); ``row``, ``tick`` and ``valid`` list every breach run's firing, for alert counts.
    """

    first: np.ndarray
    row: np.ndarray      # (breach runs,) run * levels + level
    tick: np.ndarray     # (sustains, breach runs) the scrape it fires at
    valid: np.ndarray    # (sustains, breach runs) it lasts long enough to fire
    n_sustains: int

    def per_gate(self, column: _RuleColumn, n_runs: int) -> np.ndarray:
        """``(runs, gates)`` first firing scrape."""
        levels = len(column.levels)
        rows = np.arange(n_runs)[:, None] * levels + column.level_of[None, :]
        return self.first[rows, column.sustain_of[None, :]]

    def count_between(self, column: _RuleColumn, n_runs: int, low: int, high: int) -> np.ndarray:
        """``(runs, gates)`` firings at scrapes ``low..high``."""
        hits = self.valid & (self.tick >= low) & (self.tick <= high)
        s, b = _nonzero(hits)
        levels = len(column.levels)
        counts = np.bincount(self.row[b] * self.n_sustains + s,
                             minlength=n_runs * levels * self.n_sustains).reshape(n_runs * levels, self.n_sustains)
        rows = np.arange(n_runs)[:, None] * levels + column.level_of[None, :]
        return counts[rows, column.sustain_of[None, :]]


def _nonzero(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.nonzero`` of a 2-d ``mask``, from its flat indices (several times faster on a large mask)."""
    return np.divmod(np.flatnonzero(mask), mask.shape[1])


def _firings(values: np.ndarray, column: _RuleColumn, sustained: np.ndarray) -> _Firings:
    n_runs, n_ticks = values.shape
    with np.errstate(invalid="ignore"):
        breached = column.rule.op.compare(values[:, None, :], column.levels[None, :, None])
    rows = n_runs * len(column.levels)
    padded = np.zeros((rows, n_ticks + 2), bool)
    padded[:, 1:-1] = breached.reshape(rows, n_ticks)
    edge_row, edge_tick = _nonzero(padded[:, 1:] != padded[:, :-1])
    row, start, end = edge_row[0::2], edge_tick[0::2], edge_tick[1::2] - 1
    tick = sustained[column.sustains][:, start]                    # (sustains, breach runs)
    valid = tick <= end
    first = np.full((rows, len(column.sustains)), n_ticks, np.intp)
    s, b = _nonzero(valid)
    np.minimum.at(first, (row[b], s), tick[s, b])
    return _Firings(first, row, tick, valid, len(column.sustains))


def _judge_family(family: _Family, runs: _Runs, sustained: np.ndarray, verdicts: Verdicts,
                  sources: tuple[str, ...]) -> None:
    n_runs, n_ticks, n_gates = runs.n_runs, runs.n_ticks, len(family.gates)
    time = runs.time
    schedule = checkpoint_ticks(family.plan, time)
    firings = [_firings(runs.rule_values(c.rule, schedule), c, sustained) for c in family.rules]
    first = [f.per_gate(c, n_runs) for f, c in zip(firings, family.rules)]

    n_rules = len(family.rules)
    rule_tick = np.full((n_runs, n_gates), n_ticks, np.intp)
    rule_index = np.full((n_runs, n_gates), -1, np.intp)
    deciding = [i for i, c in enumerate(family.rules) if c.decides]
    if deciding:  # earliest scrape; at one scrape a rollback outranks a hold, then plan order
        order = np.stack([first[i] * (2 * n_rules) + rule_rank(family.rules[i].rule.action) * n_rules
                          + family.rules[i].position for i in deciding])
        best = order.argmin(axis=0)
        rule_tick = np.take_along_axis(np.stack([first[i] for i in deciding]), best[None], 0)[0]
        rule_index = np.where(rule_tick < n_ticks, np.array(deciding)[best], -1)

    def alerts_between(rank: int, low: int, high: int) -> np.ndarray:
        count = np.zeros((n_runs, n_gates), np.int64)
        for f, c in zip(firings, family.rules):
            if SEVERITY_RANK[c.rule.severity] >= rank:
                count += f.count_between(c, n_runs, low, high)
        return count

    def fired_by(rank: int, tick: int) -> np.ndarray:
        fired = np.zeros((n_runs, n_gates), bool)
        for f, c in zip(first, family.rules):
            if SEVERITY_RANK[c.rule.severity] >= rank:
                fired |= f <= tick
        return fired

    kind, at, source = (np.zeros((n_runs, n_gates), np.int8), np.full((n_runs, n_gates), -1, np.intp),
                        np.full((n_runs, n_gates), -1, np.int16))
    done = np.zeros((n_runs, n_gates), bool)
    worst_earlier = np.full((n_runs, n_gates), PASS, np.int64)
    previous = 0
    for column, tick in zip(family.checkpoints, schedule):
        reached = ~done & (tick < rule_tick)
        if tick >= n_ticks or not reached.any():
            break
        status = np.full((n_runs, n_gates), PASS, np.int64)
        for criterion, thresholds in column.criteria:
            if criterion.metric is Metric.ALERTS:
                assert criterion.alert_severity is not None  # the plan schema requires it for the alerts metric
                start = max(int(window_starts(criterion, np.array([tick]), runs.interval, np.array([previous]))[0]), 0)
                low = int(np.argmax(time >= time[start] - TIME_TOLERANCE))
                value = alerts_between(SEVERITY_RANK[criterion.alert_severity], low, tick).astype(float)
            else:
                value = runs.criterion_values(criterion, tick, previous)[:, None]
            status = np.maximum(status, criterion_status(value, criterion.op, thresholds[None, :]))
        gate = column.checkpoint
        if isinstance(gate, FinalGate):
            alerts = (fired_by(SEVERITY_RANK[gate.require_no_alerts], tick) if gate.require_no_alerts
                      else np.zeros(status.shape, bool))
            missing = np.broadcast_to(runs.missing(family.plan, tick)[:, None], status.shape)
            status = np.maximum(status, gate_requirements(gate, worst_earlier, alerts.astype(np.int64), missing))
        worst_earlier = np.maximum(worst_earlier, status)
        action = column.actions[status]
        decided = reached & (action != 0)
        kind[decided], at[decided] = action[decided], tick
        source[decided] = sources.index(f"checkpoint:{column.name}")
        done |= decided
        previous = tick
    by_rule = ~done & (rule_index >= 0)
    if by_rule.any():
        rule_kinds = np.array([KINDS.index(c.rule.action) if c.decides else 0 for c in family.rules], np.int8)
        rule_sources = np.array([sources.index(f"rule:{c.name}") for c in family.rules], np.int16)
        kind[by_rule] = rule_kinds[rule_index[by_rule]]
        at[by_rule] = rule_tick[by_rule]
        source[by_rule] = rule_sources[rule_index[by_rule]]
    gates = family.gates
    verdicts.kind[:, gates] = kind
    verdicts.time[:, gates] = np.where(at >= 0, time[np.maximum(at, 0)], np.nan)
    verdicts.source[:, gates] = source
