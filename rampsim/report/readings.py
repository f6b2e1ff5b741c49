"""Metric values for reports, charts and the dashboard, computed by the engine's own code.

Every number shown is :func:`rampsim.engine.metrics.evaluate` on the observed
telemetry (the PromQL semantics), never a second implementation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from rampsim.engine.schedule import window_starts
from rampsim.engine.metrics import Series, corrected_counters, evaluate
from rampsim.plan.schema import Measurement
from rampsim.telemetry import Telemetry

__all__ = ["measure", "rolling", "over", "Summary", "summary"]


def measure(metric: str, window: str = "1m", **fields: object) -> Measurement:
    """A measurement of ``metric`` over ``window``."""
    return Measurement.model_validate({"metric": metric, "window": window, **fields})


def rolling(series: Series, m: Measurement) -> np.ndarray:
    """``m`` at every scrape over its rolling window (``NaN`` before a full window)."""
    ticks = np.arange(len(series.time))
    starts = window_starts(m, ticks, series.layout.scrape_interval, np.zeros_like(ticks))
    return evaluate(series, m, starts, ticks)


def over(series: Series, m: Measurement, start: int, end: int) -> float:
    """``m`` over the scrapes ``[start, end]``."""
    return float(evaluate(series, m, np.array([start]), np.array([end]))[0])


@dataclass(frozen=True)
class Summary:
    """The runbook's final metrics summary, for the canary, over the whole window."""

    requests: float
    errors: float
    error_rate: float
    average_latency: float
    p99: float
    availability: float
    peak_rps: float
    revenue_per_minute: float
    revenue_delta: float
    segment_error_rates: dict[str, float]
    cache_hit_rate: float


def summary(telemetry: Telemetry, end: Optional[int] = None) -> Summary:
    """:class:`Summary` of the canary from the first scrape to ``end`` (default: the last)."""
    series = Series.from_telemetry(telemetry)
    end = len(telemetry) - 1 if end is None else end
    layout = telemetry.layout
    canary = layout.arm("canary")
    cumulative = "cumulative"

    counts = corrected_counters(telemetry.counters[: end + 1])

    def total(family: str) -> float:
        column = counts[:, layout.channels(family, canary).ravel()].sum(axis=1)
        present = column[~np.isnan(column)]
        return float(present[-1] - present[0]) if len(present) else float("nan")

    requests = total("requests")
    peak = rolling(series, measure("request_rate", "1m"))[: end + 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        average = total("latency_sum") / requests if requests else float("nan")
    return Summary(
        requests=requests, errors=total("errors"),
        error_rate=over(series, measure("error_rate", cumulative), 0, end),
        average_latency=average,
        p99=over(series, measure("p99", cumulative), 0, end),
        availability=over(series, measure("availability", cumulative), 0, end),
        peak_rps=float(np.nanmax(peak)) if np.isfinite(peak).any() else float("nan"),
        revenue_per_minute=over(series, measure("revenue_rate", cumulative), 0, end),
        revenue_delta=over(series, measure("revenue_delta", cumulative), 0, end),
        segment_error_rates={s: over(series, measure("error_rate", cumulative, segment=s), 0, end)
                             for s in layout.segments},
        cache_hit_rate=over(series, measure("cache_hit_rate", cumulative), 0, end),
    )
