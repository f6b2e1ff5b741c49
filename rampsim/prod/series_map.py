"""The series map: which telemetry column each Prometheus series fills.

:class:`SeriesMap` maps a series (its name and labels) to one column of
:class:`~rampsim.telemetry.Telemetry` through the plan's layout and the service's
:class:`~rampsim.prod.naming.Naming`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional

import numpy as np

from rampsim.prod.naming import Naming
from rampsim.telemetry import COUNTER_FAMILIES, Layout

__all__ = ["Column", "SeriesMap", "format_le"]


@dataclass(frozen=True)
class Column:
    """One telemetry column: ``counters`` or ``gauges``, and its index."""

    kind: str
    index: int


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
                            pairs["le"] = format_le(self.layout.latency_buckets[b])
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
            label = self.naming.labels.segment
            return None, (f"unknown {label}={labels.get(label)!r} (the plan's telemetry.segments: "
                          f"{', '.join(self.layout.segments)})")
        columns = np.atleast_1d(self.layout.channels(family, arm, segment))
        if family != "latency_bucket":
            return Column(kind, int(columns[0])), ""
        bucket = _bucket_index(self._bounds, labels.get("le", ""))
        if bucket is None:
            return None, f"le={labels.get('le')!r} is not one of the plan's latency buckets"
        return Column(kind, int(columns[bucket])), ""


def format_le(bound: float) -> str:
    """A latency bucket bound as the ``le`` label writes it (``0.005``, ``+Inf``)."""
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
