"""Replay: recorded metrics judged offline, through the same gate as live ones.

A :class:`FileSource` holds a recording (rampsim's OpenMetrics export, any
OpenMetrics text with timestamps, or a per-tick CSV) and answers the same
question as :class:`~rampsim.prod.source.PrometheusSource`: the samples of every
series between two instants. So a team can replay a past incident, recorded from
Prometheus or exported from a simulation, through a candidate gate.

A recording that cannot be read is :class:`~rampsim.prod.openmetrics.OpenMetricsError`
(data unavailable, exit 5) with its file and, where there is one, line: not UTF-8
(a BOM is accepted), empty, a damaged gzip stream, a malformed line, or no sample.
"""
from __future__ import annotations

import contextlib
import gzip
import io
import zlib
from pathlib import Path
from typing import Optional

import numpy as np

from rampsim.prod.samples import RawSeries
from rampsim.prod.series_map import SeriesMap
from rampsim.prod.naming import Naming
from rampsim.prod.openmetrics import OpenMetricsError, parse_series, read_openmetrics
from rampsim.prod.tickcsv import read_tick_csv
from rampsim.telemetry import Telemetry

__all__ = ["FileSource", "load_recording"]

_BOM = b"\xef\xbb\xbf"


def load_recording(path: str | Path) -> list[RawSeries]:
    """The series in the file at ``path``: CSV if it ends in ``.csv`` (or ``.csv.gz``), OpenMetrics
    otherwise; gzip-compressed when it ends in ``.gz``."""
    path = Path(path)
    compressed = path.suffix.lower() == ".gz"
    kind = Path(path.stem).suffix.lower() if compressed else path.suffix.lower()
    read = read_tick_csv if kind == ".csv" else read_openmetrics
    try:
        with _open(path, compressed) as handle:
            if not handle.peek(1):
                raise OpenMetricsError(f"{path}: the file is empty")
            series = read(io.TextIOWrapper(handle, encoding="utf-8-sig", newline=""), str(path))
    except UnicodeDecodeError:
        raise _not_utf8(path, compressed) from None
    except OSError as exc:
        raise OpenMetricsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (EOFError, zlib.error) as exc:
        raise OpenMetricsError(f"{path}: truncated or damaged gzip data: {exc}") from None
    if not any(len(s.timestamps_ms) for s in series):
        raise OpenMetricsError(f"{path}: no samples in the recording")
    return series


def _open(path: Path, compressed: bool) -> gzip.GzipFile | io.BufferedReader:
    return gzip.open(path, "rb") if compressed else path.open("rb")


def _not_utf8(path: Path, compressed: bool) -> OpenMetricsError:
    """The error for a recording that is not UTF-8, naming the line and offset of its first bad byte."""
    offset = 0
    with contextlib.suppress(OSError, EOFError, zlib.error), _open(path, compressed) as handle:  # reread to locate
        for number, raw in enumerate(handle, 1):
            skip = len(_BOM) if number == 1 and raw.startswith(_BOM) else 0
            try:
                raw[skip:].decode("utf-8")
            except UnicodeDecodeError as exc:
                bad = skip + exc.start
                return OpenMetricsError(f"{path}:{number}: not UTF-8 text (byte 0x{raw[bad]:02x} at offset "
                                        f"{offset + bad})")
            offset += len(raw)
    return OpenMetricsError(f"{path}: not UTF-8 text")


class FileSource:
    """A recording, read through the source interface (``read(low_ms, high_ms)``)."""

    def __init__(self, series: list[RawSeries]) -> None:
        self.series = series

    @classmethod
    def open(cls, path: str | Path) -> "FileSource":
        return cls(load_recording(path))

    @classmethod
    def from_telemetry(cls, telemetry: Telemetry, start: float, naming: Optional[Naming] = None) -> "FileSource":
        """A recording of ``telemetry`` (tick times offset by ``start``) held in memory, as exported."""
        series_map = SeriesMap(telemetry.layout, naming or Naming())
        stamps = int(round(start * 1000)) + np.round(telemetry.time * 1000).astype(np.int64)
        recorded = []
        for kind, data in (("counters", telemetry.counters), ("gauges", telemetry.gauges)):
            for column, description in enumerate(series_map.descriptions[kind]):
                present = ~np.isnan(data[:, column])
                labels, _ = parse_series(description)
                recorded.append(RawSeries(labels, stamps[present], data[present, column]))
        return cls(recorded)

    @property
    def first_timestamp(self) -> Optional[float]:
        """Unix seconds of the earliest sample, ``None`` for an empty recording."""
        firsts = [int(s.timestamps_ms[0]) for s in self.series if len(s.timestamps_ms)]
        return min(firsts) / 1000.0 if firsts else None

    @property
    def last_timestamp(self) -> Optional[float]:
        """Unix seconds of the latest sample, ``None`` for an empty recording."""
        lasts = [int(s.timestamps_ms[-1]) for s in self.series if len(s.timestamps_ms)]
        return max(lasts) / 1000.0 if lasts else None

    def read(self, low_ms: int, high_ms: int) -> list[RawSeries]:
        """The samples with ``low_ms <= timestamp <= high_ms`` of every series."""
        result = []
        for series in self.series:
            begin = int(np.searchsorted(series.timestamps_ms, low_ms, side="left"))
            last = int(np.searchsorted(series.timestamps_ms, high_ms, side="right"))
            if last > begin:
                result.append(RawSeries(series.labels, series.timestamps_ms[begin:last], series.values[begin:last]))
        return result
