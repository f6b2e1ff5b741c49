"""Columns: which telemetry column each Prometheus series fills, and filling them.

:class:`SeriesMap` maps a series (its name and labels) to one column of
:class:`~rampsim.telemetry.Telemetry` through the plan's layout and the service's
:class:`~rampsim.prod.naming.Naming`. :class:`Assembler` writes the samples of a
batch of ticks into telemetry rows and reports what was wrong with them.

One series per column (rampsim's own export, a recording rule) is copied as is,
raw counter resets included, so the engine corrects them exactly as it does in
process. Several series per column (one per pod, say) are combined the way
``sum(increase(...))`` treats them: each series is corrected for resets on its
own and contributes its increments; a series that first appears after the column
began contributes from its first sample on; one that disappears keeps its last
value. Gauges of several series take the largest (the worst pod). A tick where no
series of a column has a sample is missing (``NaN``), as the engine expects.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional

import numpy as np

from rampsim.prod.grid import ScrapeGrid
from rampsim.prod.naming import Naming
from rampsim.telemetry import COUNTER_FAMILIES, Layout, Telemetry

__all__ = ["Column", "SeriesMap", "RawSeries", "Notice", "Assembler"]


@dataclass(frozen=True)
class Column:
    """One telemetry column: ``counters`` or ``gauges``, and its index."""

    kind: str
    index: int


@dataclass(frozen=True)
class RawSeries:
    """The samples of one series: labels (``__name__`` included), times in ms, values."""

    labels: Mapping[str, str]
    timestamps_ms: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class Notice:
    """Something wrong with the data at a tick: ``missing``, ``reset``, ``unmapped`` or ``duplicate``."""

    tick: int
    kind: str
    message: str


class SeriesMap:
    """Series name and labels -> telemetry column, for one layout and naming."""

    def __init__(self, layout: Layout, naming: Naming) -> None:
        self.layout = layout
        self.naming = naming
        self.families = {name: family for family, name in naming.series_names().items()}
        self._arms = {arm: i for i, arm in enumerate(layout.arms)}
        self._segments = {segment: i for i, segment in enumerate(layout.segments)}
        self._bounds = np.asarray(layout.latency_buckets, dtype=float)
        self.descriptions = {"counters": [""] * layout.n_counters, "gauges": [""] * layout.n_gauges}
        for family, name in naming.series_names().items():
            self._describe(family, name)

    def _describe(self, family: str, name: str) -> None:
        kind = "counters" if family in COUNTER_FAMILIES else "gauges"
        labels = self.naming.labels
        for a, arm in enumerate(self.layout.arms):
            if family in COUNTER_FAMILIES and "segments" in COUNTER_FAMILIES[family]:
                for s, segment in enumerate(self.layout.segments):
                    columns = np.atleast_1d(self.layout.channels(family, a, s))
                    for b, column in enumerate(columns):
                        pairs = {labels.arm: arm, labels.segment: segment}
                        if family == "latency_bucket":
                            pairs["le"] = _format_le(self.layout.latency_buckets[b])
                        self.descriptions[kind][int(column)] = self.series(name, pairs)
            else:
                column = int(self.layout.channels(family, a))
                self.descriptions[kind][column] = self.series(name, {labels.arm: arm})

    def series(self, name: str, labels: Mapping[str, str]) -> str:
        """``name{...}`` with the naming's matchers and ``labels``, as OpenMetrics writes a series."""
        return name + "{" + self.naming.selector(labels) + "}"

    def column(self, labels: Mapping[str, str]) -> tuple[Optional[Column], str]:
        """The column ``labels`` fills, or ``None`` and why not (empty reason: not ours at all)."""
        family = self.families.get(labels.get("__name__", ""))
        if family is None:
            return None, ""
        if any(labels.get(k) != v for k, v in self.naming.matchers.items()):
            return None, ""
        arm = self._arms.get(labels.get(self.naming.labels.arm, ""))
        if arm is None:
            return None, ""  # another arm (or none): not part of this ramp
        kind = "counters" if family in COUNTER_FAMILIES else "gauges"
        spans = COUNTER_FAMILIES.get(family, ("arms",))
        if "segments" not in spans:
            return Column(kind, int(self.layout.channels(family, arm))), ""
        segment = self._segments.get(labels.get(self.naming.labels.segment, ""))
        if segment is None:
            return None, f"unknown {self.naming.labels.segment}={labels.get(self.naming.labels.segment)!r}"
        columns = np.atleast_1d(self.layout.channels(family, arm, segment))
        if family != "latency_bucket":
            return Column(kind, int(columns[0])), ""
        bucket = _bucket_index(self._bounds, labels.get("le", ""))
        if bucket is None:
            return None, f"le={labels.get('le')!r} is not one of the plan's latency buckets"
        return Column(kind, int(columns[bucket])), ""


def _format_le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def _bucket_index(bounds: np.ndarray, le: str) -> Optional[int]:
    try:
        value = float(le)
    except ValueError:
        return None
    if math.isinf(value):
        return len(bounds) - 1 if value > 0 else None
    close = np.flatnonzero(np.isclose(bounds, value, rtol=1e-9, atol=0.0))
    return int(close[0]) if len(close) else None


@dataclass
class _SeriesState:
    last_raw: float = math.nan
    offset: float = 0.0
    contribution: float = 0.0


@dataclass
class _ColumnState:
    series: dict = field(default_factory=dict)  # series key -> _SeriesState
    started: bool = False


class Assembler:
    """Writes batches of samples into telemetry rows, tick range by tick range, in order."""

    def __init__(self, series_map: SeriesMap, grid: ScrapeGrid) -> None:
        self.map = series_map
        self.grid = grid
        self._columns: dict[Column, _ColumnState] = {}

    def fill(self, telemetry: Telemetry, first: int, last: int, batch: Iterable[RawSeries]) -> list[Notice]:
        """Fill rows ``first..last`` of ``telemetry`` from ``batch``; the notices say what was wrong."""
        width = last - first + 1
        notices: list[Notice] = []
        grouped: dict[Column, list[tuple[frozenset, np.ndarray]]] = {}
        unmapped: dict[str, int] = {}
        duplicates = 0
        for series in batch:
            column, reason = self.map.column(series.labels)
            if column is None:
                if reason:
                    unmapped[reason] = unmapped.get(reason, 0) + 1
                continue
            ticks = self.grid.tick_of_ms(np.asarray(series.timestamps_ms, dtype=np.int64)) - first
            keep = (ticks >= 0) & (ticks < width)
            row = np.full(width, np.nan)
            row[ticks[keep]] = np.asarray(series.values, dtype=float)[keep]  # the latest sample in a slot wins
            duplicates += int(keep.sum()) - len(np.unique(ticks[keep]))
            grouped.setdefault(column, []).append((frozenset(series.labels.items()), row))
        for reason, count in unmapped.items():
            notices.append(Notice(first, "unmapped", f"{count} series ignored: {reason}"))
        if duplicates:
            notices.append(Notice(first, "duplicate", f"{duplicates} extra sample(s) within one scrape slot; "
                                                      f"the latest of each slot is used"))
        rows = {"counters": np.full((width, self.map.layout.n_counters), np.nan),
                "gauges": np.full((width, self.map.layout.n_gauges), np.nan)}
        resets: dict[int, list[str]] = {}
        for column, members in grouped.items():
            state = self._columns.setdefault(column, _ColumnState())
            values = self._combine(column, state, members, first, resets)
            rows[column.kind][:, column.index] = values
        telemetry.counters[first:last + 1] = rows["counters"]
        telemetry.gauges[first:last + 1] = rows["gauges"]
        notices += self._missing_notices(rows, first)
        for tick in sorted(resets):
            names = resets[tick]
            notices.append(Notice(tick, "reset", f"counter reset in {len(names)} series (e.g. {names[0]}); "
                                                 f"counted from zero, as PromQL increase() does"))
        return notices

    def _combine(self, column: Column, state: _ColumnState, members: list, first: int,
                 resets: dict) -> np.ndarray:
        description = self.map.descriptions[column.kind][column.index]
        newcomers = {key for key, _ in members if key not in state.series}
        if len(state.series) + len(newcomers) <= 1:
            key, row = members[0]
            series = state.series.setdefault(key, _SeriesState())
            if column.kind == "counters":
                self._note_resets(series, row, first, description, resets)
            present = ~np.isnan(row)
            if present.any():
                series.last_raw = float(row[present][-1])
                series.contribution = series.last_raw
                state.started = True
            return row
        if column.kind == "gauges":
            stacked = np.vstack([row for _, row in members])
            with np.errstate(all="ignore"):
                return np.where(np.isnan(stacked).all(axis=0), np.nan, np.nanmax(stacked, axis=0))
        return self._combine_counters(state, members, first, description, resets)

    def _combine_counters(self, state: _ColumnState, members: list, first: int, description: str,
                          resets: dict) -> np.ndarray:
        width = len(members[0][1])
        result = np.full(width, np.nan)
        for key, _ in members:
            state.series.setdefault(key, _SeriesState())
        rows = dict(members)
        for j in range(width):
            present = [(key, rows[key][j]) for key in rows if not math.isnan(rows[key][j])]
            if not present:
                continue
            for key, raw in present:
                series = state.series[key]
                if math.isnan(series.last_raw):
                    series.offset = -raw if state.started else 0.0
                elif raw < series.last_raw:
                    series.offset += series.last_raw
                    resets.setdefault(first + j, []).append(description)
                series.last_raw = raw
                series.contribution = raw + series.offset
            state.started = True
            total = 0.0
            for series in state.series.values():
                total += series.contribution
            result[j] = total
        return result

    @staticmethod
    def _note_resets(series: _SeriesState, row: np.ndarray, first: int, description: str, resets: dict) -> None:
        values = np.concatenate([[series.last_raw], row])
        index = np.where(np.isnan(values), 0, np.arange(len(values)))
        previous = values[np.maximum.accumulate(index)[:-1]]  # the last present value before each tick
        with np.errstate(invalid="ignore"):
            dropped = np.flatnonzero(row < previous)
        for j in dropped:
            resets.setdefault(first + int(j), []).append(description)

    def _missing_notices(self, rows: dict, first: int) -> list[Notice]:
        notices = []
        for j in range(len(rows["counters"])):
            missing = [self.map.descriptions[kind][i] for kind in ("counters", "gauges")
                       for i in np.flatnonzero(np.isnan(rows[kind][j]))]
            if not missing:
                continue
            total = self.map.layout.n_counters + self.map.layout.n_gauges
            if len(missing) == total:
                message = "no samples at all for this scrape"
            else:
                shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
                message = f"{len(missing)} of {total} series missing: {shown}"
            notices.append(Notice(first + j, "missing", message))
        return notices
