"""A live ``/metrics`` endpoint: a run's scrapes served to a real Prometheus.

:class:`MetricsExporter` serves the latest published scrape of a telemetry in the
Prometheus exposition format (with ``prometheus-client``), under the service's
names: ``*_total`` counters, the classic latency histogram, gauges, labelled by
arm and segment. :func:`rehearse` publishes a whole run scrape by scrape,
accelerated, so a real Prometheus can scrape it and a real dashboard (or
``rampsim gate --follow``) can watch the ramp unfold. The server binds to
127.0.0.1 unless told otherwise.
"""
from __future__ import annotations

import math
import threading
import time
from typing import TYPE_CHECKING, Callable, Iterator, Optional

import numpy as np
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import HistogramMetricFamily, Metric

from rampsim.errors import UsageError
from rampsim.prod.naming import Naming
from rampsim.telemetry import COUNTER_FAMILIES, FAMILIES, GAUGE_FAMILIES, Layout, Telemetry

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

__all__ = ["TelemetryCollector", "MetricsExporter", "rehearse"]

_COUNTERS = [f for f in COUNTER_FAMILIES if f not in ("latency_bucket", "latency_sum")]


class TelemetryCollector:
    """A prometheus-client collector exposing one scrape (row) of a telemetry."""

    def __init__(self, layout: Layout, naming: Optional[Naming] = None) -> None:
        self.layout = layout
        self.naming = naming or Naming()
        self._lock = threading.Lock()
        self._counters: Optional[np.ndarray] = None
        self._gauges: Optional[np.ndarray] = None

    def publish(self, telemetry: Telemetry, tick: int) -> None:
        """Expose scrape ``tick`` of ``telemetry`` from now on (a missing sample is left out)."""
        with self._lock:
            self._counters = telemetry.counters[tick].copy()
            self._gauges = telemetry.gauges[tick].copy()

    def _labels(self, arm: int, segment: Optional[int] = None) -> dict[str, str]:
        labels = {self.naming.labels.arm: self.layout.arms[arm]}
        if segment is not None:
            labels[self.naming.labels.segment] = self.layout.segments[segment]
        return labels

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            counters, gauges = self._counters, self._gauges
        if counters is None or gauges is None:
            return
        names = self.naming.series_names()
        arms, segments = range(len(self.layout.arms)), range(len(self.layout.segments))
        histogram_series = {f"{self.naming.histogram}_count", f"{self.naming.histogram}_sum"}
        for family in _COUNTERS:
            name = names[family]
            if name in histogram_series:   # requests read off the histogram's _count: the histogram below has it
                continue
            base, kind = (name[: -len("_total")], "counter") if name.endswith("_total") else (name, "unknown")
            metric = Metric(base, FAMILIES[family].help, kind)
            per_segment = "segments" in COUNTER_FAMILIES[family]
            for a in arms:
                for s in (segments if per_segment else [None]):
                    value = counters[int(self.layout.channels(family, a, s if s is not None else slice(None)))]
                    if not math.isnan(value):
                        metric.add_sample(name, self._labels(a, s), float(value))
            yield metric
        histogram = HistogramMetricFamily(self.naming.histogram, FAMILIES["latency_bucket"].help,
                                          labels=[self.naming.labels.arm, self.naming.labels.segment])
        bounds = ["+Inf" if math.isinf(b) else repr(float(b)) for b in self.layout.latency_buckets]
        for a in arms:
            for s in segments:
                buckets = counters[np.atleast_1d(self.layout.channels("latency_bucket", a, s))]
                total = counters[int(self.layout.channels("latency_sum", a, s))]
                if not (np.isnan(buckets).any() or math.isnan(total)):
                    histogram.add_metric([self.layout.arms[a], self.layout.segments[s]],
                                         list(zip(bounds, map(float, buckets))), float(total))
        yield histogram
        for family in GAUGE_FAMILIES:
            metric = Metric(names[family], FAMILIES[family].help, "gauge")
            for a in arms:
                value = gauges[int(self.layout.channels(family, a))]
                if not math.isnan(value):
                    metric.add_sample(names[family], self._labels(a), float(value))
            yield metric


class MetricsExporter:
    """An HTTP ``/metrics`` server over a :class:`TelemetryCollector` (127.0.0.1 by default)."""

    def __init__(self, layout: Layout, naming: Optional[Naming] = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.collector = TelemetryCollector(layout, naming)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.collector)
        self.host, self.port = host, port
        self._server: Optional[WSGIServer] = None

    def start(self) -> int:
        """Start serving; returns the port (a free one when ``port`` was 0)."""
        self._server, _ = start_http_server(self.port, addr=self.host, registry=self.registry)
        self.port = self._server.server_port
        return self.port

    def publish(self, telemetry: Telemetry, tick: int) -> None:
        self.collector.publish(telemetry, tick)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "MetricsExporter":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rehearse(telemetry: Telemetry, exporter: MetricsExporter, speed: float = 60.0,
             sleep: Callable[[float], None] = time.sleep,
             on_tick: Optional[Callable[[int], None]] = None) -> None:
    """Publish every scrape of ``telemetry``, ``speed`` times faster than real time."""
    if speed <= 0:
        raise UsageError("speed must be positive")
    for tick in range(len(telemetry)):
        exporter.publish(telemetry, tick)
        if on_tick is not None:
            on_tick(tick)
        sleep(telemetry.layout.scrape_interval / speed)
