"""The PromQL that computes each plan measure, written down in one place.

Evaluated at a query time on the scrape grid with a range equal to the measure's
window, each query gives the number :mod:`rampsim.engine.metrics` computes from the
same samples. ``rampsim explain PLAN --promql`` prints them.
"""
from __future__ import annotations

from rampsim.plan.schema import Measure, Metric
from rampsim.units import UnitError, parse_duration

__all__ = ["METRIC_NAMES", "promql"]

METRIC_NAMES = {
    "requests": "rampsim_requests_total",
    "errors": "rampsim_request_errors_total",
    "latency_bucket": "rampsim_request_duration_seconds_bucket",
    "revenue": "rampsim_revenue_dollars_total",
    "health_checks": "rampsim_health_checks_total",
    "health_checks_ok": "rampsim_health_checks_ok_total",
    "cache_hits": "rampsim_cache_hits_total",
    "cache_misses": "rampsim_cache_misses_total",
    "cpu": "rampsim_cpu_utilization",
    "memory": "rampsim_memory_utilization",
    "network": "rampsim_network_utilization",
    "memory_bytes": "rampsim_memory_bytes",
}


def promql(measure: Measure, window: str = "", names: dict[str, str] | None = None,
           arm_label: str = "arm", segment_label: str = "segment", interval: float = 15.0) -> str:
    """The PromQL query that gives ``measure``'s value, for a range such as ``"15m"``.

    Evaluated at a time on the scrape grid, with ``window`` the measure's window
    (for ``cumulative`` and ``since_checkpoint``, the time elapsed since that start).
    A ``peak``'s subquery steps by ``interval`` (the scrape interval); Prometheus aligns
    subquery steps to absolute time, so it is exact when the ramp starts on that grid.
    """
    names = {**METRIC_NAMES, **(names or {})}
    w = window or (str(measure.window) if measure.window.kind.value == "rolling" else "<elapsed>")
    selector = f'{arm_label}="{measure.arm}"' + (f',{segment_label}="{measure.segment}"' if measure.segment else "")

    def inc(family: str, by: str = "") -> str:
        grouping = f" by ({by})" if by else ""
        return f"sum{grouping}(increase({names[family]}{{{selector}}}[{w}]))"

    m = measure.metric
    if m is Metric.ERROR_RATE:
        query = f"{inc('errors')} / {inc('requests')}"
    elif m is Metric.LATENCY:
        query = f"histogram_quantile({measure.quantile:g}, {inc('latency_bucket', 'le')})"
    elif m is Metric.AVAILABILITY:
        query = f"{inc('health_checks_ok')} / {inc('health_checks')}"
    elif m is Metric.CACHE_HIT_RATE:
        query = f"{inc('cache_hits')} / ({inc('cache_hits')} + {inc('cache_misses')})"
    elif m is Metric.SEGMENT_SPREAD:
        per_segment = f"({inc('errors', segment_label)} / {inc('requests', segment_label)})"
        spread = f"(max({per_segment}) - min({per_segment}))"
        if measure.definition == "absolute":
            query = spread
        elif measure.definition == "relative":
            query = f"{spread} / avg({per_segment})"
        else:
            query = (f"# chi-square test of homogeneity across segments on {inc('errors', segment_label)} "
                     f"and {inc('requests', segment_label)}: computed by rampsim from these two vectors")
    elif m in (Metric.CPU, Metric.MEMORY, Metric.NETWORK):
        series = f"{names[m.value]}{{{arm_label}=\"{measure.arm}\"}}"
        agg = measure.agg or "last"
        query = series if agg == "last" else f"{agg}_over_time({series}[{w}])"
    elif m is Metric.MEMORY_GROWTH:
        query = f"deriv({names['memory_bytes']}{{{arm_label}=\"{measure.arm}\"}}[{w}]) * 3600"
    elif m is Metric.REQUEST_RATE:
        query = f"{inc('requests')} / {w} (in seconds)"
    elif m is Metric.REVENUE_RATE:
        query = f"{inc('revenue')} / {w} (in minutes)"
    elif m is Metric.REVENUE_DELTA:
        base = selector.replace(f'"{measure.arm}"', '"baseline"', 1)
        base_inc = lambda family: f"sum(increase({names[family]}{{{base}}}[{w}]))"  # noqa: E731
        query = (f"({inc('revenue')} / {inc('requests')}) / "
                 f"({base_inc('revenue')} / {base_inc('requests')}) - 1")
    else:
        query = f'count(ALERTS{{alertstate="firing",severity="{measure.alert_severity}"}})  # counted by the engine'
    if measure.peak is not None:  # sub-windows end at every scrape from start + peak to the end
        step = f"{measure.peak:g}s"
        try:
            span = f"{parse_duration(w) - measure.peak:g}s"
        except UnitError:  # "<elapsed>"
            span = f"{w} - {step}"
        query = f"max_over_time(({query.replace(f'[{w}]', f'[{step}]')})[{span}:{interval:g}s])"
    if measure.trend:
        query = f"({query}) / ({query.replace(f'[{w}]', f'[{w}] offset {w}')})"
    return query
