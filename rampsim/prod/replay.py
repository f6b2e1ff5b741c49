"""Replay: recorded metrics judged offline, through the same gate as live ones.

A :class:`FileSource` holds a recording (rampsim's OpenMetrics export, any
OpenMetrics text with timestamps, or a per-tick CSV) and answers the same
question as :class:`~rampsim.prod.source.PrometheusSource`: the samples of every
series between two instants. So a team can replay a past incident, recorded from
Prometheus or exported from a simulation, through a candidate gate.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from rampsim.prod.columns import RawSeries
from rampsim.prod.openmetrics import OpenMetricsError, read_openmetrics
from rampsim.prod.tickcsv import read_tick_csv

__all__ = ["FileSource", "load_recording"]


def load_recording(path: str | Path) -> list[RawSeries]:
    """The series in the file at ``path``: CSV if it ends in ``.csv``, OpenMetrics otherwise."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            if path.suffix.lower() == ".csv":
                return read_tick_csv(handle, str(path))
            return read_openmetrics(handle, str(path))
    except OSError as exc:
        raise OpenMetricsError(f"{path}: cannot read: {exc.strerror or exc}") from None


class FileSource:
    """A recording, read through the source interface (``read(low_ms, high_ms)``)."""

    def __init__(self, series: list[RawSeries], description: str = "recording") -> None:
        self.series = series
        self.description = description

    @classmethod
    def open(cls, path: str | Path) -> "FileSource":
        return cls(load_recording(path), str(path))

    @property
    def first_timestamp(self) -> Optional[float]:
        """Unix seconds of the earliest sample, ``None`` for an empty recording."""
        firsts = [int(s.timestamps_ms[0]) for s in self.series if len(s.timestamps_ms)]
        return min(firsts) / 1000.0 if firsts else None

    def read(self, low_ms: int, high_ms: int) -> list[RawSeries]:
        """The samples with ``low_ms <= timestamp <= high_ms`` of every series."""
        result = []
        for series in self.series:
            begin = int(np.searchsorted(series.timestamps_ms, low_ms, side="left"))
            last = int(np.searchsorted(series.timestamps_ms, high_ms, side="right"))
            if last > begin:
                result.append(RawSeries(series.labels, series.timestamps_ms[begin:last], series.values[begin:last]))
        return result
