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
        self._families = {name: family for family, name in naming.series_names().items()}
        self._arms = {arm: i for i, arm in enumerate(layout.arms)}
        self._segments = {segment: i for i, segment in enumerate(layout.segments)}
        self._bounds = np.asarray(layout.latency_buckets, dtype=float)
        self.descriptions = {"counters": [""] * layout.n_counters, "gauges": [""] * layout.n_gauges}
        self._cache: dict[frozenset, tuple[Optional[Column], str]] = {}
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
        """The column ``labels`` fills, or ``None`` and why not (empty reason: not ours at all); memoized."""
        key = frozenset(labels.items())
        if key not in self._cache:
            self._cache[key] = self._column(labels)
        return self._cache[key]

    def _column(self, labels: Mapping[str, str]) -> tuple[Optional[Column], str]:
        family = self._families.get(labels.get("__name__", ""))
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
class _SharedColumn:
    """A column fed by several series: each one's state."""

    series: dict = field(default_factory=dict)  # series key -> _SeriesState
    started: bool = False


class Assembler:
    """Writes batches of samples into telemetry rows, tick range by tick range, in order."""

    def __init__(self, series_map: SeriesMap, grid: ScrapeGrid) -> None:
        self.map = series_map
        self.grid = grid
        self._owner: dict[Column, frozenset] = {}  # the one series of each single-series column so far
        self._last_raw = np.full(series_map.layout.n_counters, np.nan)  # its last sample, for counters
        self._shared: dict[Column, _SharedColumn] = {}

    def fill(self, telemetry: Telemetry, first: int, last: int, batch: Iterable[RawSeries]) -> list[Notice]:
        """Fill rows ``first..last`` of ``telemetry`` from ``batch``; the notices say what was wrong."""
        width = last - first + 1
        notices: list[Notice] = []
        mapped: list[tuple[Column, frozenset, RawSeries]] = []
        unmapped: dict[str, int] = {}
        for series in batch:
            key = frozenset(series.labels.items())
            column, reason = self.map.column(series.labels)
            if column is not None:
                mapped.append((column, key, series))
            elif reason:
                unmapped[reason] = unmapped.get(reason, 0) + 1
        notices += [Notice(first, "unmapped", f"{count} series ignored: {reason}")
                    for reason, count in unmapped.items()]
        matrix, duplicates = self._samples(mapped, first, width)
        if duplicates:
            notices.append(Notice(first, "duplicate", f"{duplicates} extra sample(s) within one scrape slot; "
                                                      f"the latest of each slot is used"))
        rows = {"counters": np.full((width, self.map.layout.n_counters), np.nan),
                "gauges": np.full((width, self.map.layout.n_gauges), np.nan)}
        members: dict[Column, list[int]] = {}
        for index, (column, _, _) in enumerate(mapped):
            members.setdefault(column, []).append(index)
        resets: dict[int, list[str]] = {}
        single: dict[str, tuple[list[int], list[int]]] = {"counters": ([], []), "gauges": ([], [])}
        for column, indices in members.items():
            key = mapped[indices[0]][1]
            if column not in self._shared and len(indices) == 1 and self._owner.setdefault(column, key) == key:
                single[column.kind][0].append(column.index)
                single[column.kind][1].append(indices[0])
                continue
            shared = self._shared.get(column) or self._share(column)
            keyed = [(mapped[i][1], matrix[i]) for i in indices]
            rows[column.kind][:, column.index] = self._combine(column, shared, keyed, first, resets)
        for kind, (columns, indices) in single.items():
            rows[kind][:, columns] = matrix[indices].T
        self._note_resets(rows["counters"], np.asarray(single["counters"][0], dtype=np.intp), first, resets)
        telemetry.counters[first:last + 1] = rows["counters"]
        telemetry.gauges[first:last + 1] = rows["gauges"]
        notices += self._missing_notices(rows, first)
        for tick in sorted(resets):
            names = resets[tick]
            notices.append(Notice(tick, "reset", f"counter reset in {len(names)} series (e.g. {names[0]}); "
                                                 f"counted from zero, as PromQL increase() does"))
        return notices

    def _samples(self, mapped: list, first: int, width: int) -> tuple[np.ndarray, int]:
        """``(series, width)`` sample values on the grid (the latest sample of a slot), and the extras dropped."""
        matrix = np.full((len(mapped), width), np.nan)
        if not mapped:
            return matrix, 0
        lengths = [len(series.timestamps_ms) for _, _, series in mapped]
        stamps = np.concatenate([series.timestamps_ms for _, _, series in mapped]).astype(np.int64)
        values = np.concatenate([series.values for _, _, series in mapped]).astype(float)
        ticks = self.grid.tick_of_ms(stamps) - first
        keep = (ticks >= 0) & (ticks < width)
        cells = (np.repeat(np.arange(len(mapped)), lengths) * width + ticks)[keep]
        _, last_of_cell = np.unique(cells[::-1], return_index=True)  # samples are in time order per series
        chosen = len(cells) - 1 - last_of_cell
        matrix.flat[cells[chosen]] = values[keep][chosen]
        return matrix, len(cells) - len(chosen)

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

    def _combine(self, column: Column, shared: _SharedColumn, keyed: list, first: int, resets: dict) -> np.ndarray:
        if column.kind == "gauges":
            stacked = np.vstack([row for _, row in keyed])
            with np.errstate(all="ignore"):
                return np.where(np.isnan(stacked).all(axis=0), np.nan, np.nanmax(stacked, axis=0))
        description = self.map.descriptions["counters"][column.index]
        rows = dict(keyed)
        for key in rows:
            shared.series.setdefault(key, _SeriesState())
        result = np.full(len(keyed[0][1]), np.nan)
        for j in range(len(result)):
            present = [(key, row[j]) for key, row in rows.items() if not math.isnan(row[j])]
            if not present:
                continue
            for key, raw in present:
                series = shared.series[key]
                if math.isnan(series.last_raw):
                    series.offset = -raw if shared.started else 0.0
                elif raw < series.last_raw:
                    series.offset += series.last_raw
                    resets.setdefault(first + j, []).append(description)
                series.last_raw = raw
                series.contribution = raw + series.offset
            shared.started = True
            total = 0.0
            for series in shared.series.values():
                total += series.contribution
            result[j] = total
        return result

    def _note_resets(self, counters: np.ndarray, columns: np.ndarray, first: int, resets: dict) -> None:
        """Report drops in single-series counter columns (left for the engine to correct) and remember the last."""
        if not len(columns):
            return
        values = np.vstack([self._last_raw[columns], counters[:, columns]])
        index = np.where(np.isnan(values), 0, np.arange(len(values))[:, None])
        filled = values[np.maximum.accumulate(index, axis=0), np.arange(len(columns))]
        with np.errstate(invalid="ignore"):
            dropped = np.argwhere(counters[:, columns] < filled[:-1])
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
