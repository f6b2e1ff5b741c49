"""The assembler: samples of a batch of ticks written into telemetry rows, with what was wrong with them.

One series per column (rampsim's own export, a recording rule) is copied as is,
raw counter resets included, so the engine corrects them exactly as it does in
process. Several series per column (one per pod, say) are combined the way
``sum(increase(...))`` treats them: each series is corrected for resets on its
own and contributes its increments; a series that first appears after the column
began contributes from its first sample on; one that disappears keeps its last
value (after :data:`STOPPED_AFTER` scrapes without a sample, while the others of its
column go on, a notice says so). Gauges of several series take the largest (the
worst pod). A tick where no series of a column has a sample is missing (``NaN``),
as the engine expects; a sample that cannot be true is written as
:data:`~rampsim.telemetry.DAMAGED`. Several samples of a series in one slot (a faster
scrape, a jittered one) give the slot their latest, with a ``duplicate`` notice (``calibrate``
and ``backtest`` measure the samples' spacing and refuse a history scraped at another interval
than the plan's; the gate, reading scrape by scrape, does not), except that two different values at one timestamp, or a counter
falling within the slot (a reset inside it cannot be told from a second source's
value), are damaged. Every notice is at the scrape it
concerns (series ignored: each scrape at which they have a sample), so a summary can
say how often and from when to when.

Latency buckets are summed histogram by histogram: the bucket series of one
histogram are those whose labels differ only in ``le`` (one pod's, say). A histogram
that lacks one of the plan's bounds is left out whole, with a notice listing its
bounds next to the plan's: summed with the others, its buckets would count its
requests in some bounds and not in others. A scrape whose cumulative buckets still
fall as ``le`` rises is no histogram: its buckets are written as damaged.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from rampsim.prod.clock import ScrapeGrid
from rampsim.prod.samples import Notice, RawSeries
from rampsim.prod.naming import quote, quoted_text
from rampsim.prod.series_map import Column, SeriesMap, format_le
from rampsim.telemetry import DAMAGED, Telemetry, damaged_counters, damaged_gauges

__all__ = ["Assembler", "STOPPED_AFTER"]

STOPPED_AFTER = 4
"""Scrapes in a row without a sample after which a series of a shared column is noted as stopped (a missed
scrape, a damaged sample or a jittered one is not a pod gone)."""

CONFLICT_AT_ONCE, FALL_IN_SLOT = 1, 2
_CONFLICTS = {CONFLICT_AT_ONCE: "two different values at one timestamp",
              FALL_IN_SLOT: "the counter falls within one scrape slot (a reset inside the slot cannot be told from "
                            "a second source's value)"}


@dataclass
class _SeriesState:
    last_raw: float = math.nan
    offset: float = 0.0
    contribution: float = 0.0
    absent: int = 0   # scrapes without a sample since its last one (at the end of the last batch)


@dataclass
class _SharedColumn:
    """A column fed by several series: each one's state."""

    series: dict = field(default_factory=dict)  # series key -> _SeriesState
    started: bool = False


@dataclass
class _Pods:
    """The series of several shared counter columns, a row each: column after column, each in its column's order."""

    raw: np.ndarray  # (series, ticks): the batch's samples, NaN where none (all NaN: not in this batch)
    column: np.ndarray  # which of the columns each row belongs to
    starts: np.ndarray  # the first row of each column
    states: list  # each row's _SeriesState

    @classmethod
    def stack(cls, columns: list, matrix: np.ndarray) -> "_Pods":
        """Rows for ``columns``, each ``(shared, row of matrix by series key)``; a new series gets a fresh state."""
        take, states, sizes = [], [], []
        nothing = len(matrix)  # an all-NaN row, added below
        for shared, rows in columns:
            new = rows.keys() - shared.series.keys()
            shared.series.update((key, _SeriesState()) for key in rows if key in new)
            take += [rows.get(key, nothing) for key in shared.series]
            states += shared.series.values()
            sizes.append(len(shared.series))
        raw = np.vstack([matrix, np.full(matrix.shape[1], np.nan)])[take]
        return cls(raw, np.repeat(np.arange(len(sizes)), sizes), np.cumsum(sizes) - sizes, states)

    @property
    def position(self) -> np.ndarray:
        """Each row's place in its column's order, the order contributions are added in."""
        return np.arange(len(self.column)) - self.starts[self.column]

    def carried(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The states carried in from the previous batch: last raw values, offsets, contributions."""
        n = len(self.states)
        return (np.fromiter([s.last_raw for s in self.states], float, n),
                np.fromiter([s.offset for s in self.states], float, n),
                np.fromiter([s.contribution for s in self.states], float, n))

    def update(self, last_raw: np.ndarray, offset: np.ndarray, contribution: np.ndarray) -> None:
        """Store the states at the batch's end."""
        for state, raw, shift, share in zip(self.states, last_raw.tolist(), offset.tolist(), contribution.tolist()):
            state.last_raw, state.offset, state.contribution = raw, shift, share


@np.errstate(invalid="ignore")  # an infinite counter: inf - inf is NaN, as it was tick by tick
def _sum_increases(pods: _Pods, started: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column and tick: the sum of its series' contributions (NaN: no sample) and the resets counted;
    per column: whether it has started (had a sample) by the batch's end. Moves the states on to that end.
    """
    last_raw, offset, contribution = pods.carried()
    present = ~np.isnan(pods.raw)
    ticked = np.logical_or.reduceat(present, pods.starts, axis=0)
    started = np.logical_or.accumulate(np.column_stack([started, ticked]), axis=1)  # [c, j]: a sample before j
    held = _held(pods.raw, present, last_raw)
    previous = held[:, :-1]
    reset = present & (pods.raw < previous)
    offsets = _offsets(pods.raw, previous, present, reset, started[pods.column, :-1], offset)
    contributions = _held(pods.raw + offsets[:, 1:], present, contribution)
    totals = _sums_in_order(contributions[:, 1:], pods.column, pods.position, len(started))
    pods.update(held[:, -1], offsets[:, -1], contributions[:, -1])
    reset_counts = np.add.reduceat(reset.astype(np.intp), pods.starts, axis=0)
    return np.where(ticked, totals, np.nan), reset_counts, started[:, -1]


def _held(values: np.ndarray, present: np.ndarray, before: np.ndarray) -> np.ndarray:
    """``(series, 1 + ticks)``: ``before``, then after each tick the value of the latest tick ``present``."""
    stacked = np.column_stack([before, values])
    index = np.where(np.column_stack([np.ones(len(before), bool), present]), np.arange(stacked.shape[1]), 0)
    return np.take_along_axis(stacked, np.maximum.accumulate(index, axis=1), axis=1)


def _offsets(raw: np.ndarray, previous: np.ndarray, present: np.ndarray, reset: np.ndarray,
             started: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """``(series, 1 + ticks)``: each series' offset (``offset`` carried in), then after each tick.

    A series' first sample sets it: minus that sample if its column had started
    (a newcomer contributes from there on), else 0. A reset adds the value before it.
    """
    base = offset.copy()
    rows, ticks = np.nonzero(present & np.isnan(previous))
    base[rows] = np.where(started[rows, ticks], -raw[rows, ticks], 0.0)
    # -0.0 is the one addend that leaves every float as it is (adding 0.0 would turn -0.0 into 0.0),
    # so this running sum is, bit for bit, the offset updated reset by reset
    return np.add.accumulate(np.column_stack([base, np.where(reset, previous, -0.0)]), axis=1)


def _sums_in_order(terms: np.ndarray, column: np.ndarray, position: np.ndarray, n_columns: int) -> np.ndarray:
    """``(n_columns, ticks)``: each column's rows added from 0.0 one after another, in ``position`` order.

    Float addition is not associative: this is the order the tick-by-tick sum took,
    so totals match it bit for bit. Columns with fewer series are padded with -0.0.
    """
    padded = np.full((n_columns, position.max() + 2, terms.shape[1]), -0.0)
    padded[:, 0] = 0.0
    padded[column, position + 1] = terms
    return np.add.accumulate(padded, axis=1)[:, -1]


def _why_damaged(value: float, kind: str) -> str:
    """Why a damaged sample of ``kind`` (counters or gauges) cannot be true."""
    if not math.isfinite(value):
        return f"{value} is not a finite {kind[:-1]} value"
    if value < 0:
        return f"a negative {kind[:-1]} value"
    return "a counter value above 2**53"


def _le_order(le: str) -> tuple[int, float, str]:
    """Sort key of ``le`` label values: numbers in order, anything else after them."""
    try:
        return 0, float(le), le
    except ValueError:
        return 1, 0.0, le


def _worst(rows: np.ndarray) -> np.ndarray:
    """The largest sample of each tick (the worst pod), NaN where none has one (as ``nanmax``, without its warning)."""
    return np.where(np.isnan(rows).all(axis=0), np.nan, np.fmax.reduce(rows, axis=0))


class Assembler:
    """Writes batches of samples into telemetry rows, tick range by tick range, in order."""

    def __init__(self, series_map: SeriesMap, grid: ScrapeGrid) -> None:
        self.map = series_map
        self.grid = grid
        self._owner: dict[Column, frozenset] = {}  # the one series of each single-series column so far
        self._last_raw = np.full(series_map.layout.n_counters, np.nan)  # its last sample, for counters
        self._shared: dict[Column, _SharedColumn] = {}
        self._buckets = np.asarray(series_map.layout.channels("latency_bucket"))   # (arms, segments, bounds)
        self._bucket_name = series_map.naming.series_names().get("latency_bucket", "")
        self._bound = {int(column): where[-1] for where, column in np.ndenumerate(self._buckets)}  # column -> bound
        self.partial_histograms: set[frozenset] = set()   # every histogram left out so far (labels without le)

    def fill(self, telemetry: Telemetry, first: int, last: int, batch: Iterable[RawSeries]) -> list[Notice]:
        """Fill rows ``first..last`` of ``telemetry`` from ``batch``; the notices say what was wrong."""
        width = last - first + 1
        mapped: list[tuple[Column, frozenset, RawSeries]] = []
        unmapped: dict[str, list[RawSeries]] = {}
        batch = list(batch)
        left_out, notices = self._partial_histograms(batch, first, width)
        for index, series in enumerate(batch):
            if index in left_out:
                continue
            key = frozenset(series.labels.items())
            column, reason = self.map.column(series.labels)
            if column is not None:
                mapped.append((column, key, series))
            elif reason:
                unmapped.setdefault(reason, []).append(series)
        notices += [notice for reason, ignored in unmapped.items()
                    for notice in self._per_scrape(ignored, first, width, "unmapped", f"series ignored: {reason}")]
        matrix, duplicates, written_nan, conflicts = self._samples(mapped, first, width)
        notices += [Notice(first + int(tick), "duplicate", f"{int(duplicates[tick])} extra sample(s) within one "
                                                           "scrape slot; the latest of each slot is used")
                    for tick in np.flatnonzero(duplicates)]
        damaged = self._damaged(mapped, matrix)
        notices += self._damage_notices(mapped, matrix, damaged, conflicts, first)
        notices += [Notice(first + int(tick), "nan", f"{self._name(mapped[row][2])}: NaN (a staleness marker, or no "
                                                     "value), read as a missing sample")
                    for row, tick in np.argwhere(written_nan & (conflicts == 0))]
        rows = {"counters": np.full((width, self.map.layout.n_counters), np.nan),
                "gauges": np.full((width, self.map.layout.n_gauges), np.nan)}
        members: dict[Column, list[int]] = {}
        for index, (column, _, _) in enumerate(mapped):
            members.setdefault(column, []).append(index)
        resets: dict[int, list[str]] = {}
        single: dict[str, tuple[list[int], list[int]]] = {"counters": ([], []), "gauges": ([], [])}
        shared: dict[str, list] = {"counters": [], "gauges": []}  # (column, its state, series keys, matrix rows)
        for column, indices in members.items():
            key = mapped[indices[0]][1]
            if column not in self._shared and len(indices) == 1 and self._owner.setdefault(column, key) == key:
                single[column.kind][0].append(column.index)
                single[column.kind][1].append(indices[0])
                continue
            keys = [mapped[i][1] for i in indices]
            shared[column.kind].append((column, self._shared.get(column) or self._share(column), keys, indices))
        for kind, columns in shared.items():
            if columns:
                values = self._combine(kind, columns, np.where(damaged, np.nan, matrix), first, resets, notices)
                hurt = np.column_stack([damaged[indices].any(axis=0) for *_, indices in columns])
                rows[kind][:, [column.index for column, *_ in columns]] = np.where(hurt, DAMAGED, values)
        for kind, (columns, indices) in single.items():
            rows[kind][:, columns] = matrix[indices].T
        notices += self._falling_histograms(rows["counters"], first)
        self._note_resets(rows["counters"], np.asarray(single["counters"][0], dtype=np.intp), first, resets)
        telemetry.counters[first:last + 1] = rows["counters"]
        telemetry.gauges[first:last + 1] = rows["gauges"]
        notices += self._missing_notices(rows, first)
        for tick in sorted(resets):
            names = resets[tick]
            notices.append(Notice(tick, "reset", f"counter reset in {len(names)} series (e.g. {names[0]}); "
                                                 f"counted from zero, as PromQL increase() does"))
        return notices

    def _partial_histograms(self, batch: list[RawSeries], first: int, width: int) -> tuple[set[int], list[Notice]]:
        """The series of ``batch`` (by index) left out because their histogram (the bucket series whose labels
        differ only in ``le``) lacks one of the plan's bounds, and a notice for each such histogram."""
        groups: dict[frozenset, list[int]] = {}
        for index, series in enumerate(batch):
            if self._bucket_name and series.labels.get("__name__") == self._bucket_name:
                groups.setdefault(frozenset((k, v) for k, v in series.labels.items() if k != "le"), []).append(index)
        left_out: set[int] = set()
        notices = []
        bounds = self.map.layout.latency_buckets
        for group, members in groups.items():
            if self.map.column({**dict(group), "le": "+Inf"})[0] is None:
                continue   # not one of the plan's histograms (a notice of its own, if it is near one, says why)
            columns = [self.map.column(batch[i].labels)[0] for i in members]
            present = {self._bound[c.index] for c in columns if c is not None}
            missing = [format_le(b) for i, b in enumerate(bounds) if i not in present]
            if not missing:
                continue
            left_out.update(members)
            self.partial_histograms.add(group)
            has = sorted({batch[i].labels.get("le", "") for i in members}, key=_le_order)
            labels = ",".join(f"{k}={quote(v)}" for k, v in sorted(group) if k != "__name__")
            notices += self._per_scrape([batch[i] for i in members], first, width, "unmapped", (
                f"series ignored: the histogram {self._bucket_name}{{{labels}}} lacks "
                f"le={', '.join(missing)} of the plan's telemetry.latency_buckets (it has le={', '.join(has)}); "
                "set telemetry.latency_buckets to bounds every histogram of the service has"))
        return left_out, notices

    def _per_scrape(self, series: list[RawSeries], first: int, width: int, kind: str, message: str) -> list[Notice]:
        """A notice ``"N {message}"`` at each scrape of the batch at which N of ``series`` have a sample (the scrapes
        they were met at, not the batch's first: a summary says how often and from when to when)."""
        held = np.zeros(width, np.int64)
        for one in series:
            ticks = self.grid.tick_of_ms(np.asarray(one.timestamps_ms, dtype=np.int64)) - first
            held[np.unique(ticks[(ticks >= 0) & (ticks < width)])] += 1
        return [Notice(first + int(tick), kind, f"{int(held[tick])} {message}") for tick in np.flatnonzero(held)]

    def _falling_histograms(self, counters: np.ndarray, first: int) -> list[Notice]:
        """Write as damaged each scrape's histogram whose cumulative buckets fall as ``le`` rises (no histogram:
        its buckets do not count the same requests), with a notice each."""
        values = counters[:, self._buckets]    # (ticks, arms, segments, bounds)
        finite = np.isfinite(values)
        running = np.maximum.accumulate(np.where(finite, values, -np.inf), axis=-1)
        falling = (finite[..., 1:] & (values[..., 1:] < running[..., :-1])).any(axis=-1)
        notices = []
        for tick, arm, segment in np.argwhere(falling):
            channels = self._buckets[arm, segment]
            row = counters[tick, channels]
            counters[tick, channels] = np.where(np.isnan(row), np.nan, DAMAGED)
            name = self.map.descriptions["counters"][int(channels[-1])]
            notices.append(Notice(first + int(tick), "damaged", f"{name} and the other buckets of its histogram: "
                                  "the cumulative counts fall as le rises (no one histogram's buckets); windows over "
                                  "this scrape are inconclusive"))
        return notices

    def _samples(self, mapped: list, first: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(series, width)`` sample values on the grid (the latest sample of each slot), the extra samples counted
        per tick, where a slot's only samples are ``NaN`` (a value written as not a number, read as missing), and
        where a series' slot is damaged (:data:`CONFLICT_AT_ONCE`: two different values at one
        timestamp; :data:`FALL_IN_SLOT`: a counter whose later sample in the slot is lower): those cells hold
        :data:`DAMAGED`. A counter scraped twice in a slot rises or stays; one falling was reset inside the slot
        (the latest alone would lose the increase before the reset) or holds a second source's value.
        """
        matrix = np.full((len(mapped), width), np.nan)
        conflicts = np.zeros(matrix.shape, np.int8)
        written_nan = np.zeros(matrix.shape, bool)
        if not mapped:
            return matrix, np.zeros(width, np.int64), written_nan, conflicts
        lengths = [len(series.timestamps_ms) for _, _, series in mapped]
        owner = np.repeat(np.arange(len(mapped)), lengths)
        stamps = np.concatenate([series.timestamps_ms for _, _, series in mapped]).astype(np.int64)
        values = np.concatenate([series.values for _, _, series in mapped]).astype(float)
        counter = np.array([column.kind == "counters" for column, _, _ in mapped], dtype=bool)[owner]
        order = np.lexsort((stamps, owner))  # stable: samples at one timestamp keep their order
        owner, stamps, values, counter = owner[order], stamps[order], values[order], counter[order]
        ticks = self.grid.tick_of_ms(stamps) - first
        keep = (ticks >= 0) & (ticks < width)
        cells = (owner * width + ticks)[keep]
        stamps, values, counter = stamps[keep], values[keep], counter[keep]
        # a value written as NaN stands for a slot holding nothing else: beside a value it is no sample
        # (an outer join of pods scraped apart writes one in every other row)
        valued = np.zeros(matrix.size, bool)
        valued[cells[~np.isnan(values)]] = True
        kept = ~(np.isnan(values) & valued[cells])
        cells, stamps, values, counter = cells[kept], stamps[kept], values[kept], counter[kept]
        _, last_of_cell = np.unique(cells[::-1], return_index=True)
        chosen = len(cells) - 1 - last_of_cell
        matrix.flat[cells[chosen]] = values[chosen]
        written_nan.flat[cells[chosen][np.isnan(values[chosen])]] = True
        same_slot = cells[1:] == cells[:-1]
        differ = same_slot & (values[1:] != values[:-1]) & ~(np.isnan(values[1:]) & np.isnan(values[:-1]))
        falls = same_slot & counter[1:] & (values[1:] < values[:-1])
        conflicts.flat[cells[1:][falls]] = FALL_IN_SLOT
        conflicts.flat[cells[1:][differ & (stamps[1:] == stamps[:-1])]] = CONFLICT_AT_ONCE
        matrix[conflicts > 0] = DAMAGED
        extras = cells[1:][same_slot]
        extras = extras[conflicts.flat[extras] == 0]
        return matrix, np.bincount(extras % width, minlength=width).astype(np.int64), written_nan, conflicts

    def _damaged(self, mapped: list, matrix: np.ndarray) -> np.ndarray:
        """``(series, ticks)``: where a sample is present but cannot be true, for its kind."""
        counters = np.array([column.kind == "counters" for column, _, _ in mapped], dtype=bool)
        return np.where(counters[:, None], damaged_counters(matrix), damaged_gauges(matrix))

    def _damage_notices(self, mapped: list, matrix: np.ndarray, damaged: np.ndarray, conflicts: np.ndarray,
                        first: int) -> list[Notice]:
        """A notice per damaged sample (``matrix`` holds the samples on the grid): which series, and why."""
        notices = []
        for row, tick in np.argwhere(damaged):
            column, _, series = mapped[row]
            why = _CONFLICTS.get(int(conflicts[row, tick])) or _why_damaged(float(matrix[row, tick]), column.kind)
            notices.append(Notice(first + int(tick), "damaged",
                                  f"{self._name(series)}: {why}; windows over this scrape are inconclusive"))
        return notices

    def _name(self, series: RawSeries) -> str:
        """``series`` written as PromQL writes it."""
        labels = {k: v for k, v in series.labels.items() if k != "__name__"}
        return self.map.series(series.labels.get("__name__", ""), labels)

    def _share(self, column: Column) -> _SharedColumn:
        """Turn a single-series column into a shared one (a second series appeared)."""
        shared = self._shared[column] = _SharedColumn()
        owner = self._owner.pop(column, None)
        if owner is not None and column.kind == "counters":
            last_raw = float(self._last_raw[column.index])
            contribution = 0.0 if math.isnan(last_raw) else last_raw
            shared.series[owner] = _SeriesState(last_raw=last_raw, contribution=contribution)
            shared.started = not math.isnan(last_raw)
        return shared

    def _combine(self, kind: str, columns: list, matrix: np.ndarray, first: int, resets: dict,
                 notices: list[Notice]) -> np.ndarray:
        """``(ticks, len(columns))`` values of shared columns of ``kind``, each ``(column, shared, keys, rows)``.

        ``keys`` are the column's series in this batch and ``rows`` their rows of ``matrix``.
        """
        if kind == "gauges":
            return np.column_stack([_worst(matrix[indices]) for *_, indices in columns])
        pods = _Pods.stack([(shared, dict(zip(keys, indices))) for _, shared, keys, indices in columns], matrix)
        known = np.fromiter((not math.isnan(state.last_raw) for state in pods.states), bool, len(pods.states))
        self._note_stopped(columns, pods, known, first, notices)
        totals, counts, started = _sum_increases(pods, np.array([shared.started for _, shared, *_ in columns]))
        for (_, shared, *_), now in zip(columns, started):
            shared.started = bool(now)
        for c, j in np.argwhere(counts):
            description = self.map.descriptions["counters"][columns[c][0].index]
            resets.setdefault(first + int(j), []).extend([description] * int(counts[c, j]))
        return totals.T

    def _note_stopped(self, columns: list, pods: _Pods, known: np.ndarray, first: int, notices: list[Notice]) -> None:
        """A notice for each series of a shared counter column that sends no sample for :data:`STOPPED_AFTER`
        scrapes in a row while another series of the column sends one (a pod gone: the sum counts the series still
        reporting, as PromQL's would), at the scrape that makes it so: once per absence, whatever the batches."""
        present = ~np.isnan(pods.raw)   # a damaged sample is NaN here: one is no absence of STOPPED_AFTER
        ticks = np.arange(present.shape[1])
        latest = np.maximum.accumulate(np.where(present, ticks, -1), axis=1)
        carried = np.fromiter((state.absent for state in pods.states), np.int64, len(pods.states))
        absent = np.where(latest >= 0, ticks - latest, np.where(known[:, None], carried[:, None] + ticks + 1, 0))
        counts = present.astype(np.int64)
        reporting = np.add.reduceat(counts, pods.starts, axis=0)[pods.column] - counts   # the others of the column
        keys = [key for _, shared, *_ in columns for key in shared.series]
        stopped: dict[int, list[str]] = {}
        for row, tick in np.argwhere((absent == STOPPED_AFTER) & (reporting > 0)):
            labels = ", ".join(f"{quoted_text(k)[1:-1]}={quoted_text(v)}" for k, v in sorted(keys[row])
                               if k != "__name__")
            column = self.map.descriptions["counters"][columns[pods.column[row]][0].index]
            stopped.setdefault(first + int(tick), []).append(f"{{{labels}}} of {column}")
        for state, count in zip(pods.states, absent[:, -1].tolist()):
            state.absent = count
        notices += [Notice(tick, "stopped", f"{len(series)} series sent no sample for {STOPPED_AFTER} scrapes while "
                                            f"others of their column go on (e.g. {series[0]}); the sums count those "
                                            f"still reporting (a pod gone: its increases so far are kept)")
                    for tick, series in sorted(stopped.items())]

    def _note_resets(self, counters: np.ndarray, columns: np.ndarray, first: int, resets: dict) -> None:
        """Report drops in single-series counter columns (left for the engine to correct) and remember the last."""
        if not len(columns):
            return
        values = np.vstack([self._last_raw[columns], counters[:, columns]])
        values[1:][damaged_counters(values[1:])] = np.nan  # a damaged sample is no reset, nor a last value
        index = np.where(np.isnan(values), 0, np.arange(len(values))[:, None])
        filled = values[np.maximum.accumulate(index, axis=0), np.arange(len(columns))]
        with np.errstate(invalid="ignore"):
            dropped = np.argwhere(values[1:] < filled[:-1])
        for j, c in dropped:
            resets.setdefault(first + int(j), []).append(self.map.descriptions["counters"][columns[c]])
        self._last_raw[columns] = filled[-1]

    def _missing_notices(self, rows: dict, first: int) -> list[Notice]:
        total = self.map.layout.n_counters + self.map.layout.n_gauges
        missing = np.isnan(rows["counters"]).sum(axis=1) + np.isnan(rows["gauges"]).sum(axis=1)
        notices = []
        for j in np.flatnonzero(missing):
            if missing[j] == total:
                message = "no samples at all for this scrape"
            else:
                names = [self.map.descriptions[kind][i] for kind in ("counters", "gauges")
                         for i in np.flatnonzero(np.isnan(rows[kind][j]))]
                message = f"{len(names)} of {total} series missing: " + ", ".join(names[:3]) + \
                    (", ..." if len(names) > 3 else "")
            notices.append(Notice(first + int(j), "missing", message))
        return notices

