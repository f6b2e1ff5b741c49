"""History: a stretch of a service's past metrics on the plan's scrape grid.

:func:`read_history` fills a :class:`~rampsim.telemetry.Telemetry` with every scrape
from ``start`` to ``end`` of a source (Prometheus or a recording), through the same
assembler a gate run uses, so calibration and backtests read the samples exactly as
the gate would: counter resets corrected, missing scrapes ``NaN``, one tick per
scrape slot. A damaged sample (a counter not finite, negative or beyond the counter
limit, two different values in one slot, a gauge not finite or negative) says nothing of
the service: the history holds it as missing, and counts it in ``History.damaged``.

The history runs from the first slot holding a sample to the slot of the last one, whatever
the range asked (Prometheus and a recording alike): the stretches of the range without a
sample are asked in batches that double, up to :data:`EMPTY_GROWTH` times the batch, and
nothing is allocated for them, so a range of 90 days around a day of samples costs the day.
Samples spanning too long a stretch to hold in memory (:data:`MAX_SAMPLES`; say a recording
with one stray timestamp years before the rest) are refused before that stretch is allocated.

The raw samples also tell how the service was scraped (:class:`Scraping`): the
spacing of each series' samples, whose median :meth:`History.interval_problem` holds
against the plan's scrape interval, and where the scrapes fall in their slots. Scrapes
that fall near the edge of the slots ``start`` sets (a recording rule evaluated at
7.5 s past the quarter minute, say) would, jittered, land two in one slot and none in
the next: the history is then read again on slots centred on them. An answer too large
for one request (:class:`~rampsim.prod.source.AnswerTooLarge`: many pods) is asked
again for half the ticks, down to one scrape slot. The source's warnings (a partial
response) are notices, as a gate run has them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Iterator, Optional

import numpy as np

from rampsim.errors import DataUnavailable, UsageError
from rampsim.plan.schema import Plan
from rampsim.prod.assembler import Assembler
from rampsim.prod.samples import Notice, RawSeries
from rampsim.prod.series_map import SeriesMap
from rampsim.prod.clock import ScrapeGrid
from rampsim.prod.instants import format_instant
from rampsim.prod.naming import Naming
from rampsim.prod.gate_run import Source, read_ticks
from rampsim.telemetry import Telemetry, damaged_counters, damaged_gauges
from rampsim.units import positional

__all__ = ["History", "Scraping", "read_history", "SPACING_TOLERANCE", "LONG_GAP"]

BATCH_TICKS = 240
EMPTY_GROWTH = 16   # how many batches long a read after answers without a sample may grow
MAX_SAMPLES = 2**27  # scrapes × series of one history: 1 GiB of float64 (140 days of the reference plan)
SPACING_TOLERANCE = 0.1   # a median sample spacing this far (relative) from the plan's interval is another interval
CONCENTRATED = 0.9        # mean resultant length of the samples' phases above which they share one phase
SUMMARISED = ("unmapped", "duplicate", "stopped", "damaged", "nan", "warning", "aligned")   # worth a summary
LONG_GAP = 300.0   # seconds: a stretch of scrape slots without any sample longer than this is an outage, named


@dataclass
class Scraping:
    """What the raw samples of the plan's series say of how they were scraped: each series' sample spacings (ms:
    its median spacing in each batch, counted by that batch's gaps), and the phase of every sample on the grid
    (sums of its unit vector)."""

    interval_ms: int
    start_ms: int
    spacings: dict[frozenset, dict[int, int]] = field(default_factory=dict)
    last: dict[frozenset, int] = field(default_factory=dict)
    totals: dict[frozenset, tuple[int, int]] = field(default_factory=dict)   # each series' gaps: their sum (ms), count
    requests: set[frozenset] = field(default_factory=set)   # the series of requests counters, which increments need
    cos: float = 0.0
    sin: float = 0.0
    samples: int = 0

    def observe(self, batch: list[RawSeries], series_map: SeriesMap) -> None:
        """Count the spacings (each series' median in this batch, weighted by its gaps) and phases of the samples of
        ``batch``'s series that ``series_map`` places."""
        valued = [(s, np.asarray(s.timestamps_ms)[~np.isnan(np.asarray(s.values, dtype=float))]) for s in batch
                  if series_map.column(s.labels)[0] is not None]   # a value written as NaN was no scrape
        placed = [s for s, stamps in valued if len(stamps)]
        times = [stamps for _, stamps in valued if len(stamps)]
        if not placed:
            return
        keys = [frozenset(s.labels.items()) for s in placed]
        requests = set(series_map.layout.channels("requests").ravel().tolist())
        self.requests.update(key for key, s in zip(keys, placed)
                             if (column := series_map.column(s.labels)[0]) is not None and column.kind == "counters"
                             and column.index in requests)
        lengths = np.array([len(stamps) for stamps in times])
        firsts = np.cumsum(lengths) - lengths
        stamps = np.concatenate(times).astype(np.int64)
        previous = np.concatenate([[0], stamps[:-1]])
        previous[firsts] = [self.last.get(key, -1) for key in keys]   # -1: no sample before this batch
        counted = (previous >= 0) & (stamps > previous)
        owner = np.repeat(np.arange(len(placed)), lengths)[counted]
        gaps = (stamps - previous)[counted]
        gaps = gaps[np.lexsort((gaps, owner))]
        per_series = np.bincount(owner, minlength=len(placed))
        middle = np.cumsum(per_series) - per_series + (per_series - 1) // 2
        medians = gaps[np.clip(middle, 0, len(gaps) - 1)].tolist() if len(gaps) else [0] * len(placed)
        sums = np.bincount(owner, weights=gaps, minlength=len(placed)).astype(np.int64).tolist()
        for key, count, median, total in zip(keys, per_series.tolist(), medians, sums):
            spacing = self.spacings.setdefault(key, {})
            if count:
                spacing[median] = spacing.get(median, 0) + count
                before = self.totals.get(key, (0, 0))
                self.totals[key] = (before[0] + total, before[1] + count)
        self.last.update(zip(keys, stamps[firsts + lengths - 1].tolist()))
        angle = 2 * np.pi * ((stamps - self.start_ms) % self.interval_ms) / self.interval_ms
        self.cos += float(np.cos(angle).sum())
        self.sin += float(np.sin(angle).sum())
        self.samples += len(stamps)

    @property
    def spacing(self) -> float:
        """The median over the requests series (every series when there are none) of each one's median sample
        spacing, in seconds (``NaN``: no series has two samples). The requests decide: an increment needs two of their
        consecutive scrapes, whatever the spacing of buckets recorded more often."""
        medians = [_weighted_median(self.spacings[key]) for key in self._measured()]
        return float(np.median(medians)) / 1000.0 if medians else math.nan

    @property
    def mean_spacing(self) -> float:
        """The median over the series :attr:`spacing` rests on of each one's mean sample spacing, in seconds
        (``NaN``: none): samples alternating between the edges of consecutive slots, 1 ms then 30 s apart, have a
        median spacing far from 15 s, not a mean one."""
        means = [total / count for total, count in (self.totals[key] for key in self._measured())]
        return float(np.median(means)) / 1000.0 if means else math.nan

    @property
    def series(self) -> int:
        """Series with at least two samples that :attr:`spacing` rests on."""
        return len(self._measured())

    @property
    def gaps(self) -> int:
        """The fewest gaps between samples counted in one series :attr:`spacing` rests on (0: none)."""
        return min((self.totals[key][1] for key in self._measured()), default=0)

    def interval_problem(self, interval: float) -> str:
        """What is wrong with reading these samples on scrape slots of ``interval`` seconds ('' if nothing): the
        series' samples are farther apart or closer together than the interval (by more than
        :data:`SPACING_TOLERANCE`, in their median spacing and their mean one), so no increment spans one scrape
        interval."""
        spacing = self.spacing
        if not math.isfinite(spacing) or any(abs(measured / interval - 1) <= SPACING_TOLERANCE
                                             for measured in (spacing, self.mean_spacing)):
            return ""
        shown = positional(round(spacing, 3))
        return (f"the history's samples are {shown}s apart (the median spacing of {self.series:,} series of "
                f"requests, or of every series without them), "
                f"the plan scrapes every {positional(interval)}s: read on the plan's scrape slots, "
                + ("an increment needs two consecutive scrapes, which this history seldom has"
                   if spacing > interval else "a slot holds one or two of its samples, so increments span unequal "
                   "times") + f"; use a plan with telemetry.scrape_interval: {shown}s")

    def _measured(self) -> list[frozenset]:
        """The series :attr:`spacing` reads: the requests series with two samples or more, or every such series
        when there are none."""
        return [key for key, counted in self.spacings.items() if key in self.requests and counted] or \
            [key for key, counted in self.spacings.items() if counted]

    def misalignment(self) -> float:
        """Seconds to move the grid's start so that its slots are centred on the scrapes: 0 unless the samples
        share one phase (mean resultant length above :data:`CONCENTRATED`) nearer the slots' edge than their
        centre."""
        if not self.samples or math.hypot(self.cos, self.sin) / self.samples < CONCENTRATED:
            return 0.0
        phase = math.atan2(self.sin, self.cos) / (2 * math.pi) * self.interval_ms   # in (-interval/2, interval/2]
        if abs(phase) < self.interval_ms / 4:
            return 0.0
        return round(phase % self.interval_ms, -2) / 1000.0   # to 0.1 s: the scrapes' jitter blurs it more


def _weighted_median(counted: dict[int, int]) -> float:
    """The median of values given with their counts."""
    values = np.array(sorted(counted))
    cumulative = np.cumsum([counted[v] for v in values])
    return float(values[np.searchsorted(cumulative, cumulative[-1] / 2)])


class History:
    """Telemetry of ``grid``'s ticks read from a source, with the data notices met on the way, the number of
    damaged samples held as missing and what the raw samples say of the scraping."""

    def __init__(self, telemetry: Telemetry, grid: ScrapeGrid, notices: list[Notice], damaged: int = 0,
                 scraping: Optional[Scraping] = None, partial_histograms: int = 0) -> None:
        self.telemetry = telemetry
        self.grid = grid
        self.notices = notices
        self.damaged = damaged
        self.scraping = scraping
        self.partial_histograms = partial_histograms   # histograms left out: they lack one of the plan's bounds

    def latency_absent(self) -> str:
        """Why the history may hold no latency histogram ('' when nothing is known): its histograms were left out
        for lacking the plan's bounds."""
        if not self.partial_histograms:
            return ""
        return (f"the history's histograms lack some of the plan's bucket bounds (telemetry.latency_buckets; see "
                "the note listing their le values)")

    @property
    def duration(self) -> float:
        return (self.grid.n_ticks - 1) * self.grid.interval

    @property
    def scraped(self) -> int:
        """The scrape slots holding a sample of some series."""
        return int(self._held().sum())

    @property
    def not_a_number(self) -> int:
        """The samples written as not a number (``NaN``), read as missing."""
        return sum(notice.kind == "nan" for notice in self.notices)

    def gaps(self, longer_than: float = LONG_GAP) -> list[tuple[int, int]]:
        """The first and last scrape slot of each run of slots without any sample that lasts more than
        ``longer_than`` seconds (:data:`LONG_GAP`: an outage), in order."""
        changes = np.diff(np.concatenate([[True], self._held(), [True]]).astype(np.int8))
        firsts, lasts = np.flatnonzero(changes == -1), np.flatnonzero(changes == 1) - 1
        return [(int(a), int(b)) for a, b in zip(firsts, lasts) if (b - a + 1) * self.grid.interval > longer_than]

    def _held(self) -> np.ndarray:
        """Where a scrape slot holds a sample of some series."""
        t = self.telemetry
        return np.isfinite(t.counters).any(axis=1) | np.isfinite(t.gauges).any(axis=1)

    def from_first_sample(self) -> "History":
        """This history without its leading scrapes that hold no sample of any series (itself if there are none)."""
        held = self._held()
        t = self.telemetry
        k = int(np.argmax(held)) if held.any() else 0
        if k == 0:
            return self
        grid = ScrapeGrid(self.grid.time_of(k), self.grid.interval, self.grid.n_ticks - k)
        telemetry = Telemetry(t.layout, t.time[k:] - t.time[k], t.counters[k:], t.gauges[k:])
        notices = [replace(n, tick=max(n.tick - k, 0)) for n in self.notices
                   if n.tick >= k or n.kind in ("aligned", "warning")]
        return History(telemetry, grid, notices, self.damaged, self.scraping, self.partial_histograms)

    def interval_problem(self) -> str:
        """What is wrong with reading this history on the plan's scrape interval ('' if nothing; see
        :meth:`Scraping.interval_problem`)."""
        return self.scraping.interval_problem(self.grid.interval) if self.scraping else ""

    def summary(self) -> list[str]:
        """The notices worth reading before a fit (series ignored, duplicate samples, stopped series, damaged
        samples, the source's warnings), one line per kind and message, with how many scrapes and when."""
        grouped: dict[tuple[str, str], list[int]] = {}
        for notice in self.notices:
            if notice.kind in SUMMARISED:
                grouped.setdefault((notice.kind, notice.message), []).append(notice.tick)
        lines = []
        for (kind, message), ticks in grouped.items():
            first, last = (format_instant(self.grid.time_of(t)) for t in (min(ticks), max(ticks)))
            when = f"at {first}" if len(ticks) == 1 else f"{len(ticks):,} times from {first} to {last}"
            lines.append(f"{kind}: {message} ({when})")
        return lines


def read_history(plan: Plan, source: Source, start: float, end: float, naming: Optional[Naming] = None) -> History:
    """Every scrape of ``source`` in ``[start, end]`` (unix seconds, to the slot holding ``end``) on ``plan``'s layout
    and scrape grid (moved by less than a scrape interval when the scrapes fall near the edge of ``start``'s slots;
    see the module docstring), from the first slot holding a sample to the slot of the last sample:
    :class:`DataUnavailable` when the range holds none."""
    if end < start:
        raise UsageError(f"the history ends ({format_instant(end)}) before it starts ({format_instant(start)})")
    series_map = SeriesMap(plan.layout, naming or Naming())
    history = _read(plan, series_map, source, start, end)
    shift = history.scraping.misalignment() if history.scraping else 0.0
    if shift and start + shift <= end:
        history = _read(plan, series_map, source, start + shift, end)
        history.notices.insert(0, Notice(0, "aligned", (
            f"the scrapes fall {positional(shift)}s past the slots starting at {format_instant(start)}, near their "
            f"edge, where one slot would get two and the next none: read on slots centred on them")))
    return history.from_first_sample()


def _read(plan: Plan, series_map: SeriesMap, source: Source, start: float, end: float) -> History:
    """The history of ``[start, end]`` on a grid starting at ``start``, from the first batch holding a sample to the
    slot of the last sample: the stretches of the range before and after the source's samples are read a few long
    batches at a time and nothing is allocated for them (a range of 90 days around one day of samples cost 90
    days of empty scrapes)."""
    interval = plan.telemetry.scrape_interval
    grid = ScrapeGrid(start, interval, int(ScrapeGrid(start, interval, 1).tick_of_ms(round(end * 1000))) + 1)
    telemetry = Telemetry.empty(plan.layout, 0)
    assembler: Optional[Assembler] = None
    scraping = Scraping(grid.interval_ms, grid.start_ms)
    origin = filled = 0        # the grid's tick of the history's first scrape; the scrapes filled so far
    earliest = latest = 0      # ms: the first and the last sample read
    notices: list[Notice] = []
    early: list[str] = []      # the source's warnings before its first sample
    for first, last, batch in _batches(source, grid):
        warnings = [f"Prometheus: {warning}" for warning in getattr(source, "warnings", [])]
        sampled = [s for s in batch if len(s.timestamps_ms)]
        if assembler is None:
            early += warnings
            if not sampled:
                continue
            origin, earliest = first, min(int(s.timestamps_ms[0]) for s in sampled)
            assembler = Assembler(series_map, ScrapeGrid(grid.time_of(origin), interval, grid.n_ticks - origin))
            warnings = early
        notices += [Notice(first - origin, "warning", warning) for warning in warnings]
        if not sampled:
            continue
        latest = max(latest, *(int(s.timestamps_ms[-1]) for s in sampled))
        telemetry = _room(telemetry, last - origin + 1, latest - earliest)
        if first - origin > filled:   # the batches since the last one holding a sample held none
            notices += assembler.fill(telemetry, filled, first - origin - 1, [])
        scraping.observe(sampled, series_map)
        notices += assembler.fill(telemetry, first - origin, last - origin, sampled)
        filled = last - origin + 1
    if assembler is None:
        warned = f" ({len(early)} warning(s) of the source, e.g. {early[0]})" if early else ""
        raise DataUnavailable(f"{getattr(source, 'description', 'the recording')} holds no sample from "
                              f"{format_instant(start)} to {format_instant(end)}{warned}: check the range (--start, "
                              "--end) and the series' names and labels (the naming)")
    n = int(grid.tick_of_ms(latest)) - origin + 1
    telemetry = Telemetry(plan.layout, telemetry.time[:n], telemetry.counters[:n].copy(), telemetry.gauges[:n].copy())
    notices = [notice if notice.tick < n else replace(notice, tick=n - 1) for notice in notices
               if notice.tick < n or notice.kind == "warning"]   # a warning read after the last sample is kept
    counters, gauges = damaged_counters(telemetry.counters), damaged_gauges(telemetry.gauges)
    telemetry.counters[counters] = np.nan
    telemetry.gauges[gauges] = np.nan
    return History(telemetry, ScrapeGrid(grid.time_of(origin), interval, n), notices,
                   int(counters.sum() + gauges.sum()), scraping, len(assembler.partial_histograms))


def _room(telemetry: Telemetry, rows: int, span_ms: int) -> Telemetry:
    """``telemetry`` with at least ``rows`` scrapes (grown to twice as many, the new ones missing); refused when
    ``rows`` scrapes of every series are more than :data:`MAX_SAMPLES` (the samples read span ``span_ms``)."""
    layout = telemetry.layout
    series = layout.n_counters + layout.n_gauges
    if rows * series > MAX_SAMPLES:
        raise DataUnavailable(f"the history spans {span_ms / 86_400_000:,.0f} days, {rows:,} scrapes of {series} "
                              f"series: more than {MAX_SAMPLES:,} samples (1 GiB); read a shorter stretch")
    if rows <= len(telemetry):
        return telemetry
    grown = Telemetry.empty(layout, min(max(rows, 2 * len(telemetry)), MAX_SAMPLES // series))
    grown.counters[:len(telemetry)] = telemetry.counters
    grown.gauges[:len(telemetry)] = telemetry.gauges
    return grown


def _batches(source: Source, grid: ScrapeGrid) -> Iterator[tuple[int, int, list[RawSeries]]]:
    """``(first, last, samples)`` of consecutive batches of ticks covering ``grid``, :data:`BATCH_TICKS` at a time;
    halved after an answer too large (and kept so), down to one scrape slot; after an answer without a sample, the
    next batch is twice as long, up to :data:`EMPTY_GROWTH` times the batch (a range far wider than the source's
    samples costs few reads, and the batch reaching them a bounded answer)."""
    size, span, first = BATCH_TICKS, BATCH_TICKS, 0
    while first < grid.n_ticks:
        wanted = min(first + span, grid.n_ticks) - 1
        last, batch = read_ticks(source, grid, first, wanted)
        assert batch is not None  # read with no deadline
        if last < wanted:
            size = min(size, last - first + 1)
        sampled = any(len(s.timestamps_ms) for s in batch)
        span = size if sampled else min(2 * (last - first + 1), EMPTY_GROWTH * size)
        yield first, last, batch
        first = last + 1
