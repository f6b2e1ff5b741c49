"""The live terminal dashboard of a rehearsal, in the spirit of the runbook's.

A :class:`Dashboard` is an observer of the simulation (it receives each scrape's
:class:`~rampsim.sim.simulation.Progress`) and redraws a ``rich`` panel: error rate,
P99 and availability against their targets, learner traffic, segment error rates,
resources, revenue, the incident log, active faults and the latest events.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from rampsim.engine.events import AlertFired, Decision
from rampsim.engine.metrics import Series
from rampsim.plan.schema import Plan
from rampsim.report.readings import measure, over
from rampsim.sim.clock import clock
from rampsim.sim.simulation import Progress
from rampsim.units import Kind, format_value

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["Dashboard"]

_BAR = 30


def _bar(fraction: float) -> str:
    if fraction != fraction:
        return "·" * _BAR
    filled = int(round(min(max(fraction, 0.0), 1.0) * _BAR))
    return "█" * filled + "░" * (_BAR - filled)


def _status(ok: Optional[bool]) -> Text:
    if ok is None:
        return Text("…  NO DATA", style="dim")
    return Text("✅ PASS", style="green") if ok else Text("❌ FAIL", style="bold red")


def _render(plan: Plan, progress: Progress, peak: list[float]) -> Panel:
    """The dashboard for one scrape; ``peak`` holds the highest 1-minute request rate so far."""
    k = progress.tick
    series = Series.from_telemetry(progress.telemetry.head(k + 1))
    minute = max(k - int(round(60 / plan.telemetry.scrape_interval)), 0)

    def value(metric: str, start: int, **fields: object) -> float:
        window = "cumulative" if start == 0 else "1m"
        return over(series, measure(metric, window, **fields), start, k) if k > start else float("nan")

    error, p99 = value("error_rate", minute), value("p99", minute)
    availability = value("availability", 0)
    rps = value("request_rate", minute)
    if rps == rps:
        peak[0] = max(peak[0], rps) if peak[0] == peak[0] else rps
    peak_rps = peak[0]
    table = Table.grid(padding=(0, 2))
    table.add_column(justify="left")
    table.add_column(justify="left")
    table.add_column(justify="right")
    table.add_column(justify="left")

    def row(name: str, fraction: float, shown: str, ok: Optional[bool]) -> None:
        table.add_row(name, _bar(fraction), shown, _status(ok))

    def check(v: float, good: bool) -> Optional[bool]:
        return None if v != v else good

    row("ERROR RATE (target <0.5%)", error / 0.01, format_value(error, Kind.RATIO), check(error, error < 0.005))
    row("P99 LATENCY (target <200ms)", p99 / 0.25, format_value(p99, Kind.DURATION), check(p99, p99 < 0.2))
    row("AVAILABILITY (target >99.95%)", availability, format_value(availability, Kind.RATIO),
        check(availability, availability > 0.9995))
    for gauge in ("cpu", "memory", "network"):
        v = value(gauge, minute)
        row(f"{gauge.upper()} (target <80%)", v, format_value(v, Kind.RATIO), check(v, v < 0.8))
    traffic = Table.grid(padding=(0, 2))
    traffic.add_row("Current RPS", f"{rps:,.0f}/s" if rps == rps else "n/a",
                    "Peak RPS", f"{peak_rps:,.0f}/s" if peak_rps == peak_rps else "n/a",
                    "Canary learners", f"{progress.canary_learners:,} at {format_value(progress.weight, Kind.RATIO)}")
    segments = Table.grid(padding=(0, 2))
    segments.add_row(*[f"Segment {s}: {format_value(value('error_rate', 0, segment=s), Kind.RATIO)}"
                       for s in plan.telemetry.segments])
    revenue = value("revenue_rate", minute)
    delta = value("revenue_delta", 0)
    money = Text(f"Revenue {format_value(revenue, Kind.DOLLARS_PER_MINUTE) if revenue == revenue else 'n/a'}   "
                 f"projected 24h {format_value(revenue * 1440, Kind.DOLLARS) if revenue == revenue else 'n/a'}   "
                 f"vs baseline {format_value(delta, Kind.RATIO)}")
    alerts = [e for e in progress.history if isinstance(e, AlertFired)]
    incidents = Text(f"Critical: {sum(a.severity == 'critical' for a in alerts)}   "
                     f"Warning: {sum(a.severity == 'warning' for a in alerts)}")
    decisions = [e for e in progress.history if isinstance(e, Decision) and e.terminal]
    if decisions:
        status = Text(f"STATUS: {decisions[-1].kind.value.upper()} to {format_value(decisions[-1].weight, Kind.RATIO)}"
                      f" — {decisions[-1].reason}", style="bold red" if decisions[-1].kind.value != "advance"
                      else "bold green")
    elif any(a.time > progress.time - 120 for a in alerts):
        status = Text("STATUS: ⚠ ALERTS FIRING — STAND BY FOR DECISION", style="bold yellow")
    else:
        status = Text("STATUS: ✅ ALL SYSTEMS NOMINAL — CONTINUING RAMP PHASE", style="green")
    faults = Text("Active faults: " + (", ".join(f.describe() for f in progress.active_faults) or "none"),
                  style="magenta" if progress.active_faults else "dim")
    recent = [f"{clock(e.time)} {type(e).__name__}: {getattr(e, 'rule', None) or getattr(e, 'reason', '')}"
              for e in progress.history if isinstance(e, (AlertFired, Decision))][-4:]
    body = Group(table, Text(""), Text("LEARNER TRAFFIC", style="bold"), traffic, Text(""),
                 Text("SEGMENT PERFORMANCE", style="bold"), segments, Text(""), money, incidents, faults,
                 Text("\n".join(recent) or "no alerts or decisions yet", style="dim"), Text(""),
                 Text(f"ELAPSED {clock(progress.time)}   REMAINING {clock(progress.horizon - progress.time)}"),
                 status)
    return Panel(body, title=f"RAMP PHASE REAL-TIME MONITORING — {plan.name}", border_style="cyan")


class Dashboard:
    """Redraws the panel on every scrape inside a ``rich.live.Live`` (use as a context manager)."""

    def __init__(self, plan: Plan, console=None) -> None:
        self.plan = plan
        self.live = Live(console=console, auto_refresh=False, transient=False)
        self._peak = [float("nan")]

    def __enter__(self) -> "Dashboard":
        self.live.__enter__()
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]], exc: Optional[BaseException],
                 traceback: Optional[TracebackType]) -> None:
        self.live.__exit__(exc_type, exc, traceback)

    def render(self, progress: Progress) -> Panel:
        """The panel for ``progress`` (also updates the peak request rate)."""
        return _render(self.plan, progress, self._peak)

    def __call__(self, progress: Progress) -> None:
        self.live.update(self.render(progress), refresh=True)
