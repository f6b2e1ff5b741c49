"""Telemetry: what a monitoring system holds about a ramp, and nothing more.

Scrapes are stored columnar: one row per scrape, one column per series. Counters
(monotonic, possibly reset) live in one ``(ticks, channels)`` array and gauges in
another, so a whole scrape is a single row and a window increase is a row
difference. Named views give each metric family its natural shape, for example
``telemetry.requests`` is ``(ticks, arms, segments)``. A missing sample is ``NaN``.

A sample that is present but cannot be true is *damaged*: a counter that is not
finite, negative, or above 2**53 (where a float64 counter can no longer count by
one), a gauge that is not finite or negative. A reader that finds a sample it
cannot trust (two different values at one timestamp) writes :data:`DAMAGED`. The
engine never reads a damaged sample as a number: every window it touches is
inconclusive.

Families (Prometheus names in brackets, see :mod:`rampsim.engine.metrics`):

======================  ==========================  =======================================
family                  shape per scrape            series
======================  ==========================  =======================================
requests                (arms, segments)            ``requests_total``
errors                  (arms, segments)            ``request_errors_total``
latency_bucket          (arms, segments, buckets)   ``request_duration_seconds_bucket{le}``
latency_sum             (arms, segments)            ``request_duration_seconds_sum``
revenue                 (arms, segments)            ``revenue_dollars_total``
health_checks           (arms,)                     ``health_checks_total``
health_checks_ok        (arms,)                     ``health_checks_ok_total``
cache_hits              (arms,)                     ``cache_hits_total``
cache_misses            (arms,)                     ``cache_misses_total``
cpu, memory, network    (arms,) gauges              utilisation, fraction of capacity
memory_bytes            (arms,) gauge               resident memory
======================  ==========================  =======================================
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

__all__ = ["Layout", "Telemetry", "DEFAULT_LATENCY_BUCKETS", "Family", "FAMILIES", "COUNTER_FAMILIES",
           "GAUGE_FAMILIES", "METRIC_NAMES",
           "COUNTER_LIMIT", "DAMAGED", "damaged_counters", "damaged_gauges"]

COUNTER_LIMIT = 2.0 ** 53
"""The largest sane counter value: above it a float64 counter no longer counts by one."""

DAMAGED = -math.inf
"""The value a reader writes for a sample it found but cannot trust."""


def damaged_counters(values: np.ndarray) -> np.ndarray:
    """Where counter samples are present but cannot be true (not finite, negative, above the limit)."""
    with np.errstate(invalid="ignore"):
        return ~np.isnan(values) & ~((values >= 0) & (values <= COUNTER_LIMIT))


def damaged_gauges(values: np.ndarray) -> np.ndarray:
    """Where gauge samples are present but cannot be true (not finite, negative)."""
    with np.errstate(invalid="ignore"):
        return ~np.isnan(values) & ~((values >= 0) & (values < math.inf))

DEFAULT_LATENCY_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.125, 0.15, 0.2,
    0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, math.inf,
)

@dataclass(frozen=True)
class Family:
    """A metric family: what it counts, which of (arms, segments, buckets) it spans, rampsim's series name."""

    name: str
    kind: str  # "counter" or "gauge"
    spans: tuple[str, ...]
    series: str  # rampsim's Prometheus name ('' for the histogram's sum, written with its buckets)
    help: str


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("requests", "counter", ("arms", "segments"), "rampsim_requests_total", "Requests served."),
    Family("errors", "counter", ("arms", "segments"), "rampsim_request_errors_total", "Requests that failed."),
    Family("latency_bucket", "counter", ("arms", "segments", "buckets"), "rampsim_request_duration_seconds_bucket",
           "Request latency."),
    Family("latency_sum", "counter", ("arms", "segments"), "", "Request latency, summed."),
    Family("revenue", "counter", ("arms", "segments"), "rampsim_revenue_dollars_total",
           "Revenue attributed to requests, in dollars."),
    Family("health_checks", "counter", ("arms",), "rampsim_health_checks_total", "Health checks run."),
    Family("health_checks_ok", "counter", ("arms",), "rampsim_health_checks_ok_total",
           "Health checks that succeeded."),
    Family("cache_hits", "counter", ("arms",), "rampsim_cache_hits_total", "Cache hits."),
    Family("cache_misses", "counter", ("arms",), "rampsim_cache_misses_total", "Cache misses."),
    Family("cpu", "gauge", ("arms",), "rampsim_cpu_utilization", "CPU utilisation, fraction of capacity."),
    Family("memory", "gauge", ("arms",), "rampsim_memory_utilization", "Memory utilisation, fraction of capacity."),
    Family("network", "gauge", ("arms",), "rampsim_network_utilization", "Network utilisation, fraction of capacity."),
    Family("memory_bytes", "gauge", ("arms",), "rampsim_memory_bytes", "Resident memory."),
)}
"""Every metric family, in column order: the one table of their shapes, names and help texts."""

COUNTER_FAMILIES: dict[str, tuple[str, ...]] = {n: f.spans for n, f in FAMILIES.items() if f.kind == "counter"}
GAUGE_FAMILIES: dict[str, tuple[str, ...]] = {n: f.spans for n, f in FAMILIES.items() if f.kind == "gauge"}
METRIC_NAMES: dict[str, str] = {n: f.series for n, f in FAMILIES.items() if f.series}
"""rampsim's own Prometheus series name of each family a plan can read (a naming may rename them)."""


@dataclass(frozen=True)
class Layout:
    """The shape of a service's telemetry: arms, segments, histogram buckets, cadence."""

    arms: tuple[str, ...] = ("baseline", "canary")
    segments: tuple[str, ...] = ("A", "B", "C")
    latency_buckets: tuple[float, ...] = DEFAULT_LATENCY_BUCKETS
    scrape_interval: float = 15.0
    health_check_interval: float = 5.0
    _offsets: dict = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        buckets = tuple(float(b) for b in self.latency_buckets)
        if not buckets or buckets[-1] != math.inf:
            raise ValueError("latency buckets must end with +Inf, as Prometheus requires")
        if any(b >= c for b, c in zip(buckets, buckets[1:])):
            raise ValueError("latency buckets must be strictly increasing")
        if self.scrape_interval <= 0 or self.health_check_interval <= 0:
            raise ValueError("scrape and health-check intervals must be positive")
        if len(set(self.arms)) != len(self.arms) or len(set(self.segments)) != len(self.segments):
            raise ValueError("arm and segment names must be unique")
        object.__setattr__(self, "latency_buckets", buckets)
        object.__setattr__(self, "_offsets", {
            "counters": self._family_offsets(COUNTER_FAMILIES),
            "gauges": self._family_offsets(GAUGE_FAMILIES),
        })

    def _dims(self, spans: tuple[str, ...]) -> tuple[int, ...]:
        sizes = {"arms": len(self.arms), "segments": len(self.segments), "buckets": len(self.latency_buckets)}
        return tuple(sizes[s] for s in spans)

    def _family_offsets(self, families: Mapping[str, tuple[str, ...]]) -> dict[str, tuple[int, tuple[int, ...]]]:
        offsets, start = {}, 0
        for name, spans in families.items():
            shape = self._dims(spans)
            offsets[name] = (start, shape)
            start += math.prod(shape)
        offsets["_width"] = (start, ())
        return offsets

    @property
    def n_counters(self) -> int:
        return self._offsets["counters"]["_width"][0]

    @property
    def n_gauges(self) -> int:
        return self._offsets["gauges"]["_width"][0]

    def arm(self, name: str) -> int:
        """Index of arm ``name``."""
        return self.arms.index(name)

    def segment(self, name: str) -> int:
        """Index of segment ``name``."""
        return self.segments.index(name)

    def channels(self, family: str, arm: int | slice = slice(None), segment: int | slice = slice(None)) -> np.ndarray:
        """Flat column indices of ``family`` restricted to an arm and segment.

        For the latency histogram the result has the buckets as its last axis.
        """
        kind = "counters" if family in COUNTER_FAMILIES else "gauges"
        start, shape = self._offsets[kind][family]
        index = np.arange(start, start + math.prod(shape)).reshape(shape)
        spans = (COUNTER_FAMILIES if kind == "counters" else GAUGE_FAMILIES)[family]
        selection = tuple(arm if s == "arms" else segment if s == "segments" else slice(None) for s in spans)
        return index[selection]


class _Family:
    """A named, shaped view into a telemetry array (``telemetry.requests`` and so on)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, telemetry: "Telemetry | None", owner: type) -> np.ndarray:
        if telemetry is None:
            return self  # type: ignore[return-value]
        start, shape = telemetry.layout._offsets[self.kind][self.name]
        data = getattr(telemetry, self.kind)
        return data[:, start:start + math.prod(shape)].reshape((data.shape[0], *shape))


@dataclass
class Telemetry:
    """Scrapes of one ramp: ``time`` (seconds since ramp start), counters and gauges.

    Build one with :meth:`empty` and fill it scrape by scrape, or with
    :meth:`from_arrays` from whole family arrays. ``NaN`` marks a missing sample.
    """

    layout: Layout
    time: np.ndarray
    counters: np.ndarray
    gauges: np.ndarray

    requests = _Family("counters")
    errors = _Family("counters")
    latency_bucket = _Family("counters")
    latency_sum = _Family("counters")
    revenue = _Family("counters")
    health_checks = _Family("counters")
    health_checks_ok = _Family("counters")
    cache_hits = _Family("counters")
    cache_misses = _Family("counters")
    cpu = _Family("gauges")
    memory = _Family("gauges")
    network = _Family("gauges")
    memory_bytes = _Family("gauges")

    def __post_init__(self) -> None:
        n = len(self.time)
        if self.counters.shape != (n, self.layout.n_counters):
            raise ValueError(f"counters must have shape {(n, self.layout.n_counters)}, got {self.counters.shape}")
        if self.gauges.shape != (n, self.layout.n_gauges):
            raise ValueError(f"gauges must have shape {(n, self.layout.n_gauges)}, got {self.gauges.shape}")

    @classmethod
    def empty(cls, layout: Layout, n_ticks: int) -> "Telemetry":
        """``n_ticks`` scrapes on the layout's scrape grid, every sample missing."""
        time = np.arange(n_ticks, dtype=float) * layout.scrape_interval
        return cls(layout, time,
                   np.full((n_ticks, layout.n_counters), np.nan),
                   np.full((n_ticks, layout.n_gauges), np.nan))

    @classmethod
    def from_arrays(cls, layout: Layout, time: np.ndarray | None = None, n_ticks: int | None = None,
                    **families: np.ndarray) -> "Telemetry":
        """Telemetry from whole family arrays (``requests=...``, ``cpu=...``).

        Each array has the family's shape with time first; a family that is not
        given is missing throughout (``NaN``).
        """
        if time is None:
            if n_ticks is None:
                n_ticks = len(next(iter(families.values())))
            time = np.arange(n_ticks, dtype=float) * layout.scrape_interval
        telemetry = cls.empty(layout, len(time))
        telemetry.time = np.asarray(time, dtype=float)
        for name, values in families.items():
            if name not in COUNTER_FAMILIES and name not in GAUGE_FAMILIES:
                raise ValueError(f"unknown telemetry family {name!r}; known: "
                                 f"{', '.join([*COUNTER_FAMILIES, *GAUGE_FAMILIES])}")
            view = getattr(telemetry, name)
            view[...] = np.broadcast_to(np.asarray(values, dtype=float), view.shape)
        return telemetry

    def __len__(self) -> int:
        return len(self.time)

    @property
    def n_ticks(self) -> int:
        return len(self.time)

    def head(self, n_ticks: int) -> "Telemetry":
        """The first ``n_ticks`` scrapes (a view, not a copy)."""
        return Telemetry(self.layout, self.time[:n_ticks], self.counters[:n_ticks], self.gauges[:n_ticks])

    def copy(self) -> "Telemetry":
        return Telemetry(self.layout, self.time.copy(), self.counters.copy(), self.gauges.copy())
