"""A gate run: a plan judged on metrics read from a source, tick by tick.

:class:`GateRun` owns the telemetry of one ramp on its scrape grid, fills it from
a source (Prometheus or a recording) a batch of ticks at a time, and feeds each
scrape to the same :class:`~rampsim.engine.DecisionEngine` the simulator uses. It
yields a :class:`Step` per judged scrape (its events and data notices) and ends
with an :class:`GateOutcome`.

Missing data is never a pass: a scrape without samples is ``NaN`` for the engine
(inconclusive windows, counted by the final gate); a source that cannot be read
stops the run before the scrape is judged, so the outcome is ``unavailable``;
either way the gate never advances on data it does not have.
"""
from __future__ import annotations

import enum
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional, Protocol, Union

import numpy as np

from rampsim.engine import DecisionEngine, Decision, Engine, Event
from rampsim.engine.metrics import plan_channels
from rampsim.errors import UsageError
from rampsim.plan.schema import Plan
from rampsim.prod.assembler import Assembler
from rampsim.prod.samples import Notice, RawSeries
from rampsim.prod.series_map import SeriesMap
from rampsim.prod.clock import ScrapeGrid
from rampsim.prod.instants import EARLIEST, LATEST, format_instant
from rampsim.prod.naming import Naming
from rampsim.prod.source import AnswerTooLarge, SourceUnavailable
from rampsim.telemetry import Telemetry, damaged_counters, damaged_gauges

__all__ = ["GateOutcome", "Source", "Step", "GateRun"]


class GateOutcome(str, enum.Enum):
    """Where a gate run stands: the last decision, or why there is none."""

    CONTINUE = "continue"
    ADVANCE = "advance"
    ROLLBACK = "rollback"
    HOLD = "hold"
    INCONCLUSIVE = "inconclusive"
    UNAVAILABLE = "unavailable"


class Source(Protocol):
    """Anything that returns the samples of every series between two instants (unix ms, inclusive)."""

    def read(self, low_ms: int, high_ms: int) -> list[RawSeries]:
        ...


@dataclass
class Step:
    """One judged scrape: its tick, unix time, the engine's events and the data notices."""

    tick: int
    time: float
    events: list[Event] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)


def read_ticks(source: Source, grid: ScrapeGrid, first: int, last: int,
               deadline: Optional[float] = None) -> tuple[int, Optional[list[RawSeries]]]:
    """``(k, samples)``: the samples of ticks ``first..k`` of ``grid``, ``k`` the last tick up to ``last`` whose answer
    is not too large: the span is halved after each :class:`AnswerTooLarge` (many pods), down to one scrape slot.
    No smaller span is asked after ``deadline`` (``time.monotonic()``): then ``(k, None)``, ``k`` ending the span to
    ask next."""
    while True:
        try:
            return last, source.read(*grid.slot_ms(first, last))
        except AnswerTooLarge as exc:
            if last == first:
                raise AnswerTooLarge(f"{exc}, even for the samples of one scrape slot: the series the plan's "
                                     "naming selects are far more than it reads (narrow them with the naming's "
                                     "matchers), or too many pods (sum them with a recording rule)") from None
            last = first + (last - first + 1) // 2 - 1
            if deadline is not None and time.monotonic() >= deadline:
                return last, None


class GateRun:
    """One plan judged on one source from ``start`` (unix seconds)."""

    def __init__(self, plan: Plan, source: Source, start: float, naming: Optional[Naming] = None,
                 engine: Optional[Engine] = None, batch_ticks: int = 240) -> None:
        interval = plan.telemetry.scrape_interval
        self.plan = plan
        self.source = source
        self.grid = ScrapeGrid(start, interval, plan.n_scrapes)
        if not (EARLIEST <= start <= LATEST and self.grid.time_of(self.grid.n_ticks - 1) <= LATEST):
            raise UsageError(f"a ramp starting at {start!r} (unix seconds) does not fit between "
                             f"{format_instant(EARLIEST)} and {format_instant(LATEST)}")
        self.telemetry = Telemetry.empty(plan.layout, self.grid.n_ticks)
        self.assembler = Assembler(SeriesMap(plan.layout, naming or Naming()), self.grid)
        self.engine = engine if engine is not None else DecisionEngine(plan)
        self.batch_ticks = batch_ticks
        self.next_tick = 0
        self.events: list[Event] = []
        self.decision: Optional[Decision] = None
        self.problem = ""

    @property
    def finished(self) -> bool:
        """A terminal decision was taken, or every scrape of the plan was judged."""
        return self.decision is not None or self.next_tick >= self.grid.n_ticks

    def run_to(self, tick: int, deadline: Optional[float] = None) -> Iterator[Step]:
        """Judge every scrape up to ``tick`` (capped at the plan's end); raises :class:`SourceUnavailable`.

        With a ``deadline`` (``time.monotonic()``), no new read starts after it: the run stops where it got to, and
        a later call goes on from there.
        """
        tick = min(tick, self.grid.n_ticks - 1)
        while not self.finished and self.next_tick <= tick:
            if deadline is not None and time.monotonic() >= deadline:
                return
            first, wanted = self.next_tick, min(tick, self.next_tick + self.batch_ticks - 1)
            last, batch = read_ticks(self.source, self.grid, first, wanted, deadline)
            if last < wanted:   # an answer too large: later reads ask for as many ticks as this one got
                self.batch_ticks = last - first + 1
            if batch is None:   # the deadline passed while the span shrank: a later call goes on from here
                return
            notices = self.assembler.fill(self.telemetry, first, last, batch)
            notices += [Notice(first, "warning", f"Prometheus: {w}") for w in getattr(self.source, "warnings", [])]
            for current in range(first, last + 1):
                step = Step(current, self.grid.time_of(current), notices=[n for n in notices if n.tick == current])
                step.events = list(self.engine.observe(self.telemetry, current))
                self.next_tick = current + 1
                self.events.extend(step.events)
                self.decision = self.decision or next((e for e in step.events
                                                       if isinstance(e, Decision) and e.terminal), None)
                yield step
                if self.decision is not None:
                    return

    def run_until(self, instant: float, now: Optional[float] = None, settle: float = 0.0,
                  deadline: Optional[float] = None) -> Iterator[Step]:
        """Judge every scrape at or before ``instant`` (whose slot has settled by ``now``, if given), starting no
        read after ``deadline`` (:meth:`run_to`).

        A source failure ends the run (outcome ``unavailable``) instead of raising.
        """
        if not (math.isfinite(instant) and math.isfinite(settle) and settle >= 0):
            raise UsageError(f"need a finite instant and a finite settle time >= 0, got {instant!r} and {settle!r}")
        try:
            yield from self.run_to(self.due(instant, now, settle), deadline)
        except SourceUnavailable as exc:
            self.problem = str(exc)

    def due(self, instant: float, now: Optional[float] = None, settle: float = 0.0) -> int:
        """The last scrape :meth:`run_until` judges up to: at or before ``instant``, settled by ``now`` (if given),
        within the plan."""
        target = self.grid.tick_at(instant)
        if now is not None:
            target = min(target, self.grid.last_settled(now, settle))
        return min(target, self.grid.n_ticks - 1)

    def follow(self, clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
               settle: float = 5.0, max_outage: float = 300.0) -> Iterator[Union[Step, Notice]]:
        """Judge scrapes as their slots settle, until a terminal decision or the plan's end.

        A source outage is retried every scrape interval; one longer than
        ``max_outage`` seconds ends the run (outcome ``unavailable``).
        """
        if not (math.isfinite(settle) and settle >= 0 and math.isfinite(max_outage) and max_outage > 0):
            raise UsageError(f"need a finite settle time >= 0 and a finite max_outage > 0, got {settle!r} and "
                             f"{max_outage!r}")
        outage_since: Optional[float] = None
        while not self.finished:
            target = self.grid.last_settled(clock(), settle)
            if target >= self.next_tick:
                try:
                    while target >= self.next_tick and not self.finished:   # a batch a read, each timed
                        asked = clock()   # an outage begins with the read that failed, its retries included
                        yield from self.run_to(min(target, self.next_tick + self.batch_ticks - 1))
                        outage_since = None
                except SourceUnavailable as exc:
                    now = clock()
                    outage_since = asked if outage_since is None else outage_since
                    if now - outage_since >= max_outage:
                        self.problem = f"{exc}; gave up after {now - outage_since:.0f}s"
                        return
                    yield Notice(self.next_tick, "unavailable", f"{exc}; retrying (scrape not judged yet)")
                    sleep(min(self.grid.interval, outage_since + max_outage - now))
                    continue
            if self.finished:
                return
            half = self.grid.interval_ms - self.grid.interval_ms // 2
            wake = self.grid.time_of(self.next_tick) + half / 1000.0 + settle
            sleep(max(wake - clock(), 0.0))

    def outcome(self) -> GateOutcome:
        """The run's outcome (see the module docstring)."""
        if self.decision is not None:
            return GateOutcome(self.decision.kind.value)
        if self.problem:
            return GateOutcome.UNAVAILABLE
        last = self.next_tick - 1
        if last < 0:
            return GateOutcome.INCONCLUSIVE
        counters, gauges = plan_channels(self.plan)
        read, gauge = self.telemetry.counters[last, counters], self.telemetry.gauges[last, gauges]
        if (np.isnan(read).any() or damaged_counters(read).any()
                or np.isnan(gauge).any() or damaged_gauges(gauge).any()):
            return GateOutcome.INCONCLUSIVE  # the latest scrape lacks, or holds a damaged sample of, a series read
        return GateOutcome.CONTINUE
