"""Hand-built telemetry for engine tests: exact per-scrape increments, no randomness."""
from __future__ import annotations

import numpy as np

from rampsim.telemetry import Layout, Telemetry

REFERENCE_LAYOUT = Layout(scrape_interval=15.0)


def latency_at(layout: Layout, seconds: float) -> np.ndarray:
    """Bucket fractions (cumulative) of a latency distribution concentrated just below ``seconds``."""
    le = np.asarray(layout.latency_buckets)
    return (le >= seconds).astype(float)


def steady(layout: Layout = REFERENCE_LAYOUT, minutes: float = 240, requests_per_scrape: float = 6000.0,
           error_rate=0.0007, latency=None, checks_per_scrape: float = 30.0, failed_checks=None,
           cpu=0.65, memory=0.72, network=0.58, memory_bytes=2e9, cache_hit_rate=0.8,
           revenue_per_request=0.03) -> Telemetry:
    """Telemetry of a ramp with the given per-scrape rates on every arm and segment.

    ``error_rate`` and ``latency`` (cumulative bucket fractions) may be arrays over
    scrapes (shape ``(ticks,)`` or ``(ticks, buckets)``) to shape a fault; they apply
    to the canary, the baseline keeping their first value. ``failed_checks`` is an
    array of failed canary health checks per scrape.
    """
    n = int(round(minutes * 60 / layout.scrape_interval)) + 1
    arms, segments, buckets = len(layout.arms), len(layout.segments), len(layout.latency_buckets)
    canary = layout.arm("canary")
    rate = np.broadcast_to(np.asarray(error_rate, dtype=float), (n,)).copy()
    if latency is None:
        latency = latency_at(layout, 0.04) * 0.99 + latency_at(layout, 0.06) * 0.01
    latency = np.broadcast_to(np.asarray(latency, dtype=float), (n, buckets))

    per_scrape_requests = np.full((n, arms, segments), requests_per_scrape / segments)
    per_scrape_requests[0] = 0.0
    error_rates = np.repeat(rate[:, None, None], arms, axis=1).repeat(segments, axis=2)
    error_rates[:, [a for a in range(arms) if a != canary], :] = rate[0]
    per_scrape_errors = per_scrape_requests * error_rates
    shape = np.repeat(latency[:, None, None, :], arms, axis=1).repeat(segments, axis=2).copy()
    shape[:, [a for a in range(arms) if a != canary]] = latency[0]
    per_scrape_buckets = per_scrape_requests[..., None] * shape

    checks = np.full((n, arms), checks_per_scrape)
    checks[0] = 0.0
    failures = np.zeros((n, arms))
    if failed_checks is not None:
        failures[:, canary] = np.asarray(failed_checks, dtype=float)
    gauges = {}
    for name, value in (("cpu", cpu), ("memory", memory), ("network", network), ("memory_bytes", memory_bytes)):
        series = np.broadcast_to(np.asarray(value, dtype=float), (n,))
        gauges[name] = np.repeat(series[:, None], arms, axis=1)
        gauges[name][:, [a for a in range(arms) if a != canary]] = series[0]
    hits = per_scrape_requests.sum(axis=2) * cache_hit_rate
    return Telemetry.from_arrays(
        layout,
        requests=per_scrape_requests.cumsum(axis=0),
        errors=per_scrape_errors.cumsum(axis=0),
        latency_bucket=per_scrape_buckets.cumsum(axis=0),
        latency_sum=(per_scrape_requests * 0.03).cumsum(axis=0),
        revenue=(per_scrape_requests * revenue_per_request).cumsum(axis=0),
        health_checks=checks.cumsum(axis=0),
        health_checks_ok=(checks - failures).cumsum(axis=0),
        cache_hits=hits.cumsum(axis=0),
        cache_misses=(per_scrape_requests.sum(axis=2) - hits).cumsum(axis=0),
        **gauges,
    )


def run(engine, telemetry: Telemetry) -> list:
    """Every event of ``engine`` over ``telemetry``, scrape by scrape."""
    events = []
    for tick in range(len(telemetry)):
        events.extend(engine.observe(telemetry, tick))
    return events
