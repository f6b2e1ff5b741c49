"""Per-tick CSV: one row per scrape, one column per series, raw counter values.

The header is ``timestamp`` followed by one series per column, written the way
PromQL writes a series (``rampsim_requests_total{arm="canary",segment="A"}``); a
row is the scrape's time (unix seconds or RFC 3339, from 1970 to the year 9999) and
each series' value, an empty cell for a missing sample. A value written ``NaN`` is a
sample whose value is not a number, which the assembler reads as missing and notes.
Spreadsheets and ``pandas.read_csv`` read it as is.
"""
from __future__ import annotations

import csv
from typing import Iterable, Sequence, TextIO

import numpy as np

from rampsim.prod.samples import RawSeries
from rampsim.prod.series_map import SeriesMap
from rampsim.prod.instants import parse_instant
from rampsim.prod.naming import Naming
from rampsim.prod.openmetrics import OpenMetricsError, format_timestamp, parse_series, timestamp_ms
from rampsim.prod.samples import parse_number
from rampsim.telemetry import COUNTER_FAMILIES, GAUGE_FAMILIES, Layout, Telemetry

__all__ = ["write_tick_csv", "read_tick_csv"]


def write_tick_csv(telemetry: Telemetry, out: TextIO, start: float, naming: Naming | None = None,
                   arms: Sequence[str] | None = None) -> None:
    """Write ``telemetry`` (tick times offset by ``start``, unix seconds) as a per-tick CSV.

    ``arms`` keeps only those arms' series (a service's history has no canary).
    """
    layout = telemetry.layout
    series_map = SeriesMap(layout, naming or Naming())
    keep = [layout.arm(arm) for arm in (arms or layout.arms)]
    columns = [np.isin(_arm_of(layout, family), keep) for family in ("counters", "gauges")]
    descriptions = [d for kind, mask in zip(("counters", "gauges"), columns)
                    for d, kept in zip(series_map.descriptions[kind], mask) if kept]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["timestamp", *descriptions])
    start_ms = int(round(start * 1000))
    values = np.hstack([telemetry.counters[:, columns[0]], telemetry.gauges[:, columns[1]]])
    for t, row in zip(telemetry.time, values):
        writer.writerow([format_timestamp(start_ms + int(round(t * 1000))),
                         *(_cell(v) for v in row.tolist())])


def _cell(value: float) -> str:
    """A sample as written: empty when missing, without '.0' when whole (counters mostly are)."""
    if value != value:
        return ""
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def _arm_of(layout: Layout, kind: str) -> np.ndarray:
    """The arm of every counter or gauge column."""
    families = COUNTER_FAMILIES if kind == "counters" else GAUGE_FAMILIES
    width = layout.n_counters if kind == "counters" else layout.n_gauges
    arm = np.zeros(width, np.intp)
    for family in families:
        for a in range(len(layout.arms)):
            arm[layout.channels(family, a)] = a
    return arm


def read_tick_csv(lines: Iterable[str], filename: str = "<csv>") -> list[RawSeries]:
    """Every series in a per-tick CSV (see the module docstring)."""
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
        if not header or header[0].strip() != "timestamp":
            raise OpenMetricsError(f"{filename}:1: the first column must be 'timestamp'")
        labels = [_series(cell, column, filename) for column, cell in enumerate(header[1:], 2)]
        _one_column_each(labels, filename)
        stamps: list[int] = []
        rows: list[list[float]] = []
        written: list[list[bool]] = []
        for row in reader:
            if row:
                stamp, values, cells = _row(row, header, f"{filename}:{reader.line_num}: ")
                stamps.append(stamp)
                rows.append(values)
                written.append(cells)
    except csv.Error as exc:
        raise OpenMetricsError(f"{filename}:{reader.line_num}: not CSV: {exc}") from None
    times = np.asarray(stamps, dtype=np.int64)
    order = np.argsort(times, kind="stable")
    table = np.asarray(rows, dtype=float).reshape(len(rows), len(labels))[order]
    samples = np.asarray(written, dtype=bool).reshape(len(rows), len(labels))[order]
    result = []
    for column, series_labels in enumerate(labels):
        present = samples[:, column]
        result.append(RawSeries(series_labels, times[order][present], table[present, column]))
    return result


def _one_column_each(labels: list[dict[str, str]], filename: str) -> None:
    """Refuse a header that names one series in two columns: which of their values would be the series'?"""
    first: dict[tuple[tuple[str, str], ...], int] = {}
    for column, series in enumerate(labels, 2):
        key = tuple(sorted((name, value) for name, value in series.items() if value))   # a="" is no label
        if key in first:
            raise OpenMetricsError(f"{filename}:1: column {column}: the series of column {first[key]} again "
                                   "(one column per series)")
        first[key] = column


def _series(cell: str, column: int, filename: str) -> dict[str, str]:
    """The labels of the series a header cell names."""
    parsed, end = parse_series(cell.strip(), f"{filename}:1: column {column}: ")
    if end != len(cell.strip()):
        raise OpenMetricsError(f"{filename}:1: column {column}: unexpected text after the series in {cell!r}")
    return parsed


def _row(row: list[str], header: list[str], where: str) -> tuple[int, list[float], list[bool]]:
    """A row's timestamp in milliseconds, its values (``NaN`` for an empty cell) and which cells hold a sample (a
    ``NaN`` written is one, an empty cell none)."""
    if len(row) != len(header):
        raise OpenMetricsError(f"{where}{len(row)} cells, the header has {len(header)}")
    try:
        seconds = parse_instant(row[0].strip(), relative=False)
    except ValueError as exc:
        raise OpenMetricsError(f"{where}timestamp: {exc}") from None
    values = []
    for column, (cell, name) in enumerate(zip(row[1:], header[1:]), 2):
        try:
            values.append(parse_number(cell.strip()) if cell.strip() else np.nan)
        except ValueError:
            raise OpenMetricsError(f"{where}column {column} ({name.strip()}): {cell.strip()!r} is not a number") \
                from None
    return timestamp_ms(seconds, where, row[0].strip()), values, [bool(cell.strip()) for cell in row[1:]]

