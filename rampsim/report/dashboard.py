"""The live terminal dashboard of a rehearsal: the plan's own rules and checkpoints, scrape by scrape.

A :class:`Dashboard` is an observer of the simulation (it receives each scrape's
:class:`~rampsim.sim.simulation.Progress`) and redraws a ``rich`` panel: every
continuous rule of the plan with the value it reads, its limit in the plan's units
and whether it holds, is breached (its sustain running) or fires; the next
checkpoint's criteria (the final gate's last) with their values so far against their
targets; the last checkpoint's verdict; learner traffic, segment error rates, revenue
when the plan reads it, the alerts, active faults, latest events and the gate's
status. Every target shown is the plan's: nothing is the reference runbook's unless
the plan says so.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from rampsim.engine.events import (
    SEVERITY_RANK, AlertFired, AlertResolved, CheckpointReport, CriterionResult, Decision, DecisionKind, Event, Status,
    first_terminal_decision,
)
from rampsim.engine.metrics import Series
from rampsim.engine.schedule import window_starts
from rampsim.plan.schema import Checkpoint, FinalGate, Measure, Metric, Op, Plan, WindowKind
from rampsim.report.readings import measure, over
from rampsim.sim.clock import clock
from rampsim.sim.simulation import Progress
from rampsim.units import Kind, format_value

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["Dashboard"]

_BAR = 10
_WIDE = 110  # the terminal columns from which the dashboard shows what each rule measures, and bars
_NARROW = 72  # below this, each measure takes two lines (columns would cut its value)
_UPPER = (Op.GT, Op.GE)  # a rule breached above its threshold, or a criterion met below it (with LT, LE)
_REVENUE = (Metric.REVENUE_RATE, Metric.REVENUE_DELTA)


def _bar(fraction: float, bad: bool) -> Text:
    """How far a value has gone towards its upper limit (full at the limit); blank for a lower limit, which has
    no natural scale."""
    if fraction != fraction:
        return Text(" " * _BAR)
    filled = int(round(min(max(fraction, 0.0), 1.0) * _BAR))
    return Text("█" * filled + "░" * (_BAR - filled), style="red" if bad else "green")


def _window(m: Measure) -> str:
    if m.reads_latest:
        return "latest"
    if m.window.kind is WindowKind.CUMULATIVE:
        return "since start"
    if m.window.kind is WindowKind.SINCE_CHECKPOINT:
        return "since checkpoint"
    return str(m.window)


@dataclass(frozen=True)
class _Row:
    """One measure of the plan on the dashboard: its value now against its limit, and the verdict."""

    name: str
    measure: Measure
    value: float
    bad: bool          # breached (a rule) or not met (a criterion)
    upper: bool        # the limit is an upper bound (the bar fills towards it)
    tail: str          # after the comparison: a rule's sustain and action
    status: Text


def _stacked(rows: Sequence[_Row]) -> Table:
    """Rows for a terminal too narrow for columns: the name on one line, the value, limit and status on the next,
    folded rather than cut (a value cut to ``1…`` read as 1%)."""
    table = Table.grid()
    table.add_column(overflow="fold")
    for row in rows:
        m = row.measure
        table.add_row(Text(row.name, style="bold"))
        line = Text(f"  {format_value(row.value, m.kind)} ({m.op.value} {format_value(m.threshold, m.kind)} "
                    f"[{_window(m)}]{row.tail}) ")
        table.add_row(line.append_text(row.status))
    return table


def _table(rows: Sequence[_Row], width: int) -> Table:
    """Rows as name, what is measured, value, bar, limit and status on a terminal ``width`` columns wide; narrower
    than :data:`_WIDE`, name, value, limit (with the window) and status; narrower than :data:`_NARROW`, stacked
    (:func:`_stacked`)."""
    if width < _NARROW:
        return _stacked(rows)
    wide = width >= _WIDE
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    if wide:
        table.add_column(overflow="fold")
    table.add_column(justify="right", no_wrap=True)
    if wide:
        table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    table.add_column(no_wrap=True)
    for row in rows:
        m = row.measure
        comparison = f"{m.op.value} {format_value(m.threshold, m.kind)}"
        value = format_value(row.value, m.kind)
        if wide:
            fraction = row.value / m.threshold if row.upper and m.threshold > 0 else float("nan")
            table.add_row(Text(row.name), Text(f"{m.label} [{_window(m)}]"), Text(value), _bar(fraction, row.bad),
                          Text(comparison + row.tail), row.status)
        else:
            table.add_row(Text(row.name), Text(value), Text(f"{comparison} [{_window(m)}]{row.tail}"), row.status)
    return table


def _firing(history: Sequence[Event]) -> set[str]:
    """The rules whose alert fired and has not resolved."""
    firing: set[str] = set()
    for event in history:
        if isinstance(event, AlertFired):
            firing.add(event.rule)
        elif isinstance(event, AlertResolved):
            firing.discard(event.rule)
    return firing


class _Frame:
    """What one scrape shows: values of the plan's measures read as the engine reads them."""

    def __init__(self, plan: Plan, progress: Progress) -> None:
        self.plan, self.progress, self.tick = plan, progress, progress.tick
        self.series = Series.from_telemetry(progress.telemetry.head(progress.tick + 1))
        self.interval = plan.telemetry.scrape_interval
        self.reports = [e for e in progress.history if isinstance(e, CheckpointReport)]
        self.previous = int(round(self.reports[-1].time / self.interval)) if self.reports else 0
        self.decision = first_terminal_decision(list(progress.history))
        self.firing = _firing(progress.history)

    def value(self, m: Measure, so_far: bool = False) -> float:
        """``m`` over its window ending now; ``so_far`` reads a window reaching before the ramp from its start
        (a checkpoint to come), else such a window has no value yet (as the engine judges a rule)."""
        start = int(window_starts(m, np.array([self.tick]), self.interval, np.array([self.previous]))[0])
        start = max(start, 0) if so_far else start
        if m.metric is Metric.ALERTS:
            assert m.alert_severity is not None  # the plan schema requires it for the alerts metric
            since = self.series.time[max(start, 0)]
            return float(sum(1 for e in self.progress.history if isinstance(e, AlertFired) and e.time >= since
                             and SEVERITY_RANK[e.severity] >= SEVERITY_RANK[m.alert_severity]))
        return over(self.series, m, start, self.tick) if start >= 0 else float("nan")

    def reading(self, metric: str, cumulative: bool = False, **fields: object) -> float:
        """A reading for the traffic lines: ``metric`` over the last minute, or since the start."""
        start = 0 if cumulative else max(self.tick - int(round(60 / self.interval)), 0)
        m = measure(metric, "cumulative" if cumulative else "1m", **fields)
        return over(self.series, m, start, self.tick) if self.tick > start else float("nan")

    def next_checkpoint(self) -> Optional[tuple[str, Checkpoint]]:
        """The checkpoint judged next, or ``None`` once the ramp is decided or every one was judged."""
        judged = {report.checkpoint for report in self.reports}
        pending = [(name, c) for name, c in self.plan.ordered_checkpoints() if name not in judged]
        return pending[0] if pending and self.decision is None else None


def _rules(frame: _Frame, width: int) -> tuple[Table | Text, list[str], list[str], list[str]]:
    """The rules table, and the names of the rules firing, breached and without data yet."""
    if not frame.plan.rules:
        return Text("No continuous rules in this plan.", style="dim"), [], [], []
    rows, firing, breached, waiting = [], [], [], []
    for name, rule in frame.plan.rules.items():
        value = frame.value(rule)
        if name in frame.firing:
            firing.append(name)
            status = Text("❌ FIRING", style="bold red" if rule.severity == "critical" else "bold yellow")
        elif rule.op.holds(value, rule.threshold):
            breached.append(name)
            status = Text("⚠ BREACHED", style="yellow")
        elif value != value:
            waiting.append(name)
            status = Text("…  NO DATA", style="dim")
        else:
            status = Text("✅ OK", style="green")
        held = f" for {format_value(rule.sustain, Kind.DURATION)}" if rule.sustain else ""
        rows.append(_Row(name, rule, value, name in firing or name in breached, rule.op in _UPPER,
                         f"{held} → {rule.action}", status))
    return _table(rows, width), firing, breached, waiting


def _checkpoint(frame: _Frame, width: int) -> list[Table | Text]:
    """The last checkpoint's verdict, and the next checkpoint's criteria with their values so far."""
    lines: list[Table | Text] = []
    if frame.reports:
        last = frame.reports[-1]
        failed = [r.name for r in last.results if r.status is not Status.PASS]
        lines.append(Text(f"LAST CHECKPOINT  {last.title} at {clock(last.time)}: {last.status.value}"
                          + (f" ({', '.join(failed)})" if failed else ""),
                          style="green" if last.status is Status.PASS else "bold red"))
    upcoming = frame.next_checkpoint()
    if upcoming is None:
        return lines
    name, checkpoint = upcoming
    lines.append(Text(f"NEXT CHECKPOINT  {checkpoint.title or name} at {clock(checkpoint.at)} "
                      f"(in {clock(max(checkpoint.at - frame.progress.time, 0.0))}): "
                      f"{checkpoint.on_pass} if all pass, else {checkpoint.on_fail}", style="bold"))
    if isinstance(checkpoint, FinalGate):
        needs = (["every earlier checkpoint passed"] if checkpoint.require_checkpoints else []) \
            + ([f"no {checkpoint.require_no_alerts} alert fired"] if checkpoint.require_no_alerts else [])
        if needs:
            lines.append(Text(f"  also requires: {'; '.join(needs)}", style="dim"))
    rows = []
    for criterion_name, criterion in checkpoint.criteria.items():
        value = frame.value(criterion, so_far=True)
        met = criterion.op.holds(value, criterion.threshold)
        status = Text("…  NO DATA YET", style="dim") if value != value else \
            Text("✅ ON TRACK", style="green") if met else Text("❌ OFF TRACK", style="bold red")
        rows.append(_Row(criterion_name, criterion, value, value == value and not met, criterion.op not in _UPPER,
                         "", status))
    return [*lines, _table(rows, width)] if rows else lines


_CONTROLLERS = {"argo": "Argo Rollouts", "flagger": "Flagger", "kayenta": "Kayenta"}


def _analysis(frame: _Frame) -> list[Table | Text]:
    """An imported gate's own measurements: the latest of each metric (or analysis) with its condition, value and
    phase, and how many were taken. The plan's rules and final gate are placeholders the controller replaces."""
    controller = _CONTROLLERS[frame.plan.imported_gate or ""]
    latest: dict[str, tuple[CheckpointReport, CriterionResult]] = {}   # by metric: an analysis or tick holds several
    for report in frame.reports:
        for result in report.results:
            latest[result.name] = (report, result)
    lines: list[Table | Text] = [Text(f"GATE: the imported {controller} analysis, judged as {controller} judges it "
                                      f"({len(frame.reports)} measurement(s) so far)", style="bold")]
    if not latest:
        return [*lines, Text("No measurement taken yet.", style="dim")]
    table = Table.grid(padding=(0, 1))
    for column in ("name", "condition", "value", "status", "at"):
        table.add_column(no_wrap=column != "condition", overflow="fold")
    for report, result in latest.values():
        status = Text(result.status.value, style={Status.PASS: "green", Status.FAIL: "bold red"}.get(
            result.status, "yellow"))
        value = "n/a" if result.value is None else format_value(result.value, Kind(result.unit))
        table.add_row(Text(result.name), Text(result.description), Text(value), status,
                      Text(clock(report.time), style="dim"))
    return [*lines, table]


def _status(frame: _Frame, firing: list[str], breached: list[str], waiting: Sequence[str] = ()) -> Text:
    """The gate's decision once taken; else the rules firing or breached; else the phase the ramp continues (and
    whether every rule has its data yet: none holds before its window fills)."""
    decision = frame.decision
    if decision is not None:
        style = "bold green" if decision.kind is DecisionKind.ADVANCE else "bold red"
        return Text(f"STATUS: {decision.kind.value.upper()} to {format_value(decision.weight, Kind.RATIO)}"
                    f" — {decision.reason}", style=style)
    if firing:
        return Text(f"STATUS: ⚠ ALERTS FIRING — {', '.join(firing)}", style="bold yellow")
    if breached:
        return Text(f"STATUS: ⚠ BREACHED, WAITING FOR THE SUSTAIN — {', '.join(breached)}", style="yellow")
    index = int(np.searchsorted(np.cumsum([p.duration for p in frame.plan.phases]), frame.progress.time,
                                side="right"))
    index = min(index, len(frame.plan.phases) - 1)
    phase = frame.plan.phases[index].name or f"phase {index + 1}"
    if frame.plan.imported_gate is not None:
        return Text(f"STATUS: ANALYSIS RUNNING, NO DECISION YET — CANARY AT "
                    f"{format_value(frame.progress.weight, Kind.RATIO)} ({phase.upper()})", style="green")
    if waiting and len(waiting) == len(frame.plan.rules):
        return Text(f"STATUS: … NO RULE HAS DATA YET — CONTINUING {phase.upper()}", style="dim")
    held = f"EVERY RULE WITH DATA HOLDS ({len(waiting)} WAITING FOR DATA)" if waiting else "ALL RULES HOLD"
    return Text(f"STATUS: ✅ {held} — CONTINUING {phase.upper()}", style="green")


def _render(plan: Plan, progress: Progress, peak: list[float], width: int) -> Panel:
    """The dashboard for one scrape on a terminal ``width`` columns wide; ``peak`` holds the highest 1-minute
    request rate so far."""
    frame = _Frame(plan, progress)
    firing: list[str] = []
    breached: list[str] = []
    waiting: list[str] = []
    if plan.imported_gate is not None:
        gate = _analysis(frame)
    else:
        rules, firing, breached, waiting = _rules(frame, width)
        gate = [Text("RULES (judged at every scrape)", style="bold"), rules, Text(""), *_checkpoint(frame, width)]
    rps = frame.reading("request_rate")
    if rps == rps:
        peak[0] = max(peak[0], rps) if peak[0] == peak[0] else rps
    narrow = width < _NARROW   # one pair a line
    traffic = Table.grid(padding=(0, 2))
    pairs = [("Current RPS", f"{rps:,.0f}/s" if rps == rps else "n/a"),
             ("Peak RPS", f"{peak[0]:,.0f}/s" if peak[0] == peak[0] else "n/a"),
             ("Canary learners", f"{progress.canary_learners:,} at {format_value(progress.weight, Kind.RATIO)}")]
    for row in ([pair] for pair in pairs) if narrow else [pairs]:
        traffic.add_row(*[text for pair in row for text in pair])
    body: list[Table | Text] = [*gate, Text(""), Text("LEARNER TRAFFIC", style="bold"), traffic]
    if len(plan.telemetry.segments) > 1:
        segments = Table.grid(padding=(0, 2))
        rates = [Text(f"Segment {s}: "
                      f"{format_value(frame.reading('error_rate', cumulative=True, segment=s), Kind.RATIO)}")
                 for s in plan.telemetry.segments]
        for line in ([rate] for rate in rates) if narrow else [rates]:
            segments.add_row(*line)
        body += [Text("SEGMENT ERROR RATES (since start)", style="bold"), segments]
    if any(m.metric in _REVENUE for _, m in plan.measures()):
        revenue, delta = frame.reading("revenue_rate"), frame.reading("revenue_delta", cumulative=True)
        body.append(Text(f"Revenue {format_value(revenue, Kind.DOLLARS_PER_MINUTE)}   "
                         f"projected 24h {format_value(revenue * 1440, Kind.DOLLARS)}   "
                         f"vs baseline {format_value(delta, Kind.RATIO)}"))
    alerts = [e for e in progress.history if isinstance(e, AlertFired)]
    severities = sorted({a.severity for a in alerts} | {r.severity for r in plan.rules.values()},
                        key=SEVERITY_RANK.__getitem__, reverse=True)
    body.append(Text("Alerts fired: " + ("   ".join(f"{s.capitalize()}: {sum(a.severity == s for a in alerts)}"
                                                   for s in severities) or "none")))
    body.append(Text("Active faults: " + (", ".join(f.describe() for f in progress.active_faults) or "none"),
                     style="magenta" if progress.active_faults else "dim"))
    recent = [f"{clock(e.time)} {type(e).__name__}: {getattr(e, 'rule', None) or getattr(e, 'reason', '')}"
              for e in progress.history if isinstance(e, (AlertFired, Decision))
              and not (isinstance(e, Decision) and e.kind is DecisionKind.CONTINUE and plan.imported_gate)][-4:]
    body += [Text("\n".join(recent) or "no alerts or decisions yet", style="dim"), Text(""),
             Text(f"ELAPSED {clock(progress.time)}   REMAINING {clock(progress.horizon - progress.time)}"),
             _status(frame, firing, breached, waiting)]
    return Panel(Group(*body), title=Text(f"REAL-TIME MONITORING — {plan.name}"), border_style="cyan")


class _Console(Console):
    """A console whose closed pipe (``rampsim rehearse --speed 100 | head``) is the :class:`BrokenPipeError` every
    command stops on quietly (exit 141); rich's own answer is ``SystemExit(1)``, the exit code of a disagreeing gate."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


class Dashboard:
    """Redraws the panel on every scrape inside a ``rich.live.Live`` (use as a context manager)."""

    def __init__(self, plan: Plan, console: Optional[Console] = None) -> None:
        self.plan = plan
        self.live = Live(console=console or _Console(), auto_refresh=False, transient=False)
        self._peak = [float("nan")]
        self._shown = False

    def __enter__(self) -> "Dashboard":
        self.live.__enter__()
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> None:
        self.live.__exit__(exc_type, exc, traceback)
        console = self.live.console
        if self._shown and not console.is_terminal and not console.is_jupyter:
            console.line()  # rich ends the last frame with a newline on a terminal only

    def render(self, progress: Progress) -> Panel:
        """The panel for ``progress`` (also updates the peak request rate)."""
        return _render(self.plan, progress, self._peak, self.live.console.width)

    def __call__(self, progress: Progress) -> None:
        self.live.update(self.render(progress), refresh=True)
        self._shown = True
