"""Metrics computed from telemetry exactly the way PromQL computes them.

Counters are first corrected for resets (:func:`corrected_counters`, as PromQL's
``increase`` does), then every counter metric is a function of *window increases*:
the corrected value at the window's end minus the value at its start, summed over
the selected series. Windows are closed scrape-grid intervals ``[start, end]``, which
is what a range selector ``[w]`` at a query time on the scrape grid covers, so the
numbers equal Prometheus's to the last bit of floating point arithmetic order.

All functions are vectorized over windows: ``start`` and ``end`` are arrays of
scrape indices, and the result has one value per window, ``NaN`` when the window
is inconclusive (a missing sample at either end, zero traffic, a start before the
first scrape). The step-by-step engine calls them with one window; sweeps with
thousands.

The PromQL that reproduces each metric is :func:`promql`.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import stats

from rampsim.plan.schema import Measure, Metric
from rampsim.telemetry import Layout, Telemetry

__all__ = [
    "Series", "increments", "corrected_counters", "histogram_quantile", "evaluate", "promql", "METRIC_NAMES",
]


def increments(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Counter increase from ``previous`` to ``current`` samples, a drop counting as a reset to zero."""
    return np.where(current >= previous, current - previous, current)


def corrected_counters(raw: np.ndarray) -> np.ndarray:
    """Reset-corrected cumulative counters, ``NaN`` where the sample is missing.

    Increments between consecutive *present* samples are summed, so a missing
    sample inside a window changes nothing, as in PromQL.
    """
    raw = np.asarray(raw, dtype=float)
    missing = np.isnan(raw)
    filled = raw
    if missing.any():  # carry the last present sample forward
        index = np.where(missing, 0, np.arange(len(raw))[:, None])
        np.maximum.accumulate(index, axis=0, out=index)
        filled = raw[index, np.arange(raw.shape[1])]
    present = ~np.isnan(filled)
    first_value = np.where(present.any(axis=0), filled[present.argmax(axis=0), np.arange(raw.shape[1])], np.nan)
    corrected = np.empty_like(filled)
    corrected[0] = first_value
    corrected[1:] = first_value + np.cumsum(np.nan_to_num(increments(filled[:-1], filled[1:])), axis=0)
    corrected[missing] = np.nan
    return corrected


class Series:
    """Corrected counters and raw gauges on the scrape grid: what metrics read."""

    def __init__(self, layout: Layout, time: np.ndarray, counters: np.ndarray, gauges: np.ndarray) -> None:
        self.layout = layout
        self.time = time
        self.counters = counters
        self.gauges = gauges

    @classmethod
    def from_telemetry(cls, telemetry: Telemetry) -> "Series":
        """All of ``telemetry`` at once (the vectorized path)."""
        return cls(telemetry.layout, telemetry.time, corrected_counters(telemetry.counters), telemetry.gauges)

    def increase(self, channels: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """``sum(increase(series[window]))`` over ``channels``; a bucket axis, if any, is kept."""
        channels = np.asarray(channels)
        if channels.ndim > 1:  # (..., buckets): sum every axis but the last
            flat = channels.reshape(-1, channels.shape[-1])
            delta = self.counters[end][:, flat] - self.counters[start][:, flat]
            return delta.sum(axis=1)
        columns = channels.reshape(-1)
        return (self.counters[end][:, columns] - self.counters[start][:, columns]).sum(axis=1)


def histogram_quantile(q: float, upper_bounds: np.ndarray, buckets: np.ndarray) -> np.ndarray:
    """PromQL ``histogram_quantile`` on classic cumulative buckets, vectorized over rows.

    ``buckets`` is ``(..., len(upper_bounds))`` of cumulative counts, the last bound
    ``+Inf``. Follows Prometheus: counts are made monotonic, the rank ``q * total`` is
    located in the first bucket whose count reaches it and interpolated linearly
    inside it (the lowest bucket from 0); a rank in the ``+Inf`` bucket returns the
    largest finite bound; no observations give ``NaN``.
    """
    le = np.asarray(upper_bounds, dtype=float)
    counts = np.maximum.accumulate(np.asarray(buckets, dtype=float), axis=-1)
    total = counts[..., -1]
    rank = q * total
    b = np.sum(counts[..., :-1] < rank[..., None], axis=-1)
    inside = b < len(le) - 1
    b_safe = np.minimum(b, len(le) - 2)
    lower_count = np.where(b_safe > 0, np.take_along_axis(counts, np.maximum(b_safe - 1, 0)[..., None], -1)[..., 0], 0.0)
    upper_count = np.take_along_axis(counts, b_safe[..., None], -1)[..., 0]
    bucket_start = np.where(b_safe > 0, le[np.maximum(b_safe - 1, 0)], 0.0)
    bucket_end = le[b_safe]
    with np.errstate(invalid="ignore", divide="ignore"):
        value = bucket_start + (bucket_end - bucket_start) * ((rank - lower_count) / (upper_count - lower_count))
    value = np.where(inside, value, le[-2])
    value = np.where((b_safe == 0) & (le[0] <= 0) & inside, le[0], value)
    return np.where((total > 0) & np.isfinite(total), value, np.nan)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)


def _windows(values: np.ndarray, times: np.ndarray, start: np.ndarray, end: np.ndarray, reduce) -> np.ndarray:
    """``reduce(values, times)`` row-wise over the windows ``[start, end]``, grouped by length."""
    result = np.full(len(end), np.nan)
    for length in np.unique(end - start):
        rows = np.flatnonzero(end - start == length)
        result[rows] = reduce(sliding_window_view(values, length + 1)[start[rows]],
                              sliding_window_view(times, length + 1)[start[rows]])
    return result


def _slope_per_hour(values: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Least-squares slope (PromQL ``deriv``) per hour, ``NaN`` if any sample is missing."""
    t = times - times[:, :1]
    t_mean = t.mean(axis=1, keepdims=True)
    v_mean = values.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = ((t - t_mean) * (values - v_mean)).sum(axis=1) / ((t - t_mean) ** 2).sum(axis=1)
    return slope * 3600.0


def _gauge(series: Series, family: str, measure: Measure, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    column = series.gauges[:, series.layout.channels(family, arm=series.layout.arm(measure.arm))]
    if measure.metric is Metric.MEMORY_GROWTH:
        return _windows(column, series.time, start, end, _slope_per_hour)
    agg = measure.agg or "last"
    if agg == "last":
        return column[end]
    reducer = (lambda v, t: v.mean(axis=1)) if agg == "avg" else (lambda v, t: v.max(axis=1))
    return _windows(column, series.time, start, end, reducer)


def _segment_spread(series: Series, measure: Measure, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    layout, arm = series.layout, series.layout.arm(measure.arm)
    errors = np.stack([series.increase(layout.channels("errors", arm, s), start, end)
                       for s in range(len(layout.segments))], axis=1)
    requests = np.stack([series.increase(layout.channels("requests", arm, s), start, end)
                         for s in range(len(layout.segments))], axis=1)
    rates = _ratio(errors, requests)
    if measure.definition == "absolute":
        return rates.max(axis=1) - rates.min(axis=1)
    if measure.definition == "relative":
        mean = rates.mean(axis=1)
        spread = rates.max(axis=1) - rates.min(axis=1)
        return np.where(mean > 0, _ratio(spread, mean), np.where(np.isnan(mean), np.nan, 0.0))
    pooled = _ratio(errors.sum(axis=1), requests.sum(axis=1))[:, None]
    expected = requests * pooled
    with np.errstate(invalid="ignore", divide="ignore"):
        statistic = ((errors - expected) ** 2 / (expected * (1 - pooled))).sum(axis=1)
    p_value = stats.chi2.sf(statistic, len(layout.segments) - 1)
    degenerate = (pooled[:, 0] == 0) | (pooled[:, 0] == 1)
    p_value = np.where(degenerate, 1.0, p_value)
    return np.where(np.isnan(rates).any(axis=1), np.nan, p_value)


def _plain(series: Series, measure: Measure, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The metric over each window, without peak or trend."""
    layout, m = series.layout, measure.metric
    arm = layout.arm(measure.arm)
    segment = slice(None) if measure.segment is None else layout.segment(measure.segment)

    def increase(family: str) -> np.ndarray:
        return series.increase(layout.channels(family, arm, segment), start, end)

    if m is Metric.ERROR_RATE:
        return _ratio(increase("errors"), increase("requests"))
    if m is Metric.LATENCY:
        buckets = series.increase(layout.channels("latency_bucket", arm, segment), start, end)
        return histogram_quantile(measure.quantile, layout.latency_buckets, buckets)
    if m is Metric.AVAILABILITY:
        return _ratio(increase("health_checks_ok"), increase("health_checks"))
    if m is Metric.CACHE_HIT_RATE:
        hits = increase("cache_hits")
        return _ratio(hits, hits + increase("cache_misses"))
    if m is Metric.SEGMENT_SPREAD:
        return _segment_spread(series, measure, start, end)
    if m in (Metric.CPU, Metric.MEMORY, Metric.NETWORK):
        return _gauge(series, m.value, measure, start, end)
    if m is Metric.MEMORY_GROWTH:
        return _gauge(series, "memory_bytes", measure, start, end)
    seconds = series.time[end] - series.time[start]
    if m is Metric.REQUEST_RATE:
        return _ratio(increase("requests"), seconds)
    if m is Metric.REVENUE_RATE:
        return _ratio(increase("revenue"), seconds / 60.0)
    if m is Metric.REVENUE_DELTA:
        baseline = layout.arm("baseline")
        canary_per_request = _ratio(increase("revenue"), increase("requests"))
        base_per_request = _ratio(series.increase(layout.channels("revenue", baseline, segment), start, end),
                                  series.increase(layout.channels("requests", baseline, segment), start, end))
        return _ratio(canary_per_request, base_per_request) - 1.0
    raise ValueError(f"{m.value} is not computed from telemetry")


def evaluate(series: Series, measure: Measure, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """``measure``'s value over each window ``[start[i], end[i]]`` (scrape indices), ``NaN`` if inconclusive.

    A window that starts before the first scrape is inconclusive. ``peak`` takes the
    largest value over rolling sub-windows; ``trend`` divides by the value over the
    equally long window just before.
    """
    start = np.asarray(start, dtype=np.intp)
    end = np.asarray(end, dtype=np.intp)
    valid = (start >= 0) & (start <= end)
    safe_start = np.where(valid, start, 0)
    if measure.peak is not None:
        values = _peak(series, measure, safe_start, end)
    elif measure.trend:
        previous = safe_start - (end - safe_start)
        current = _plain(series, measure, safe_start, end)
        before = _plain(series, measure, np.maximum(previous, 0), safe_start)
        values = np.where(previous >= 0, _ratio(current, before), np.nan)
        values = np.where((before == 0) & (current == 0), 1.0, values)
    else:
        values = _plain(series, measure, safe_start, end)
    return np.where(valid, values, np.nan)


def _peak(series: Series, measure: Measure, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    width = int(round(measure.peak / series.layout.scrape_interval))
    result = np.full(len(end), np.nan)
    for i, (s, e) in enumerate(zip(start, end)):
        sub_end = np.arange(s + width, e + 1)
        if len(sub_end):
            result[i] = _plain(series, measure, sub_end - width, sub_end).max()
    return result


# -- PromQL -------------------------------------------------------------------------

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
           arm_label: str = "arm", segment_label: str = "segment") -> str:
    """The PromQL query that gives ``measure``'s value, for a range such as ``"15m"``.

    Evaluated at a time on the scrape grid, with ``window`` the measure's window
    (for ``cumulative`` and ``since_checkpoint``, the time elapsed since that start).
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
    if measure.peak is not None:
        step = f"{measure.peak:g}s"
        query = f"max_over_time(({query.replace(f'[{w}]', f'[{step}]')})[{w}:])"
    if measure.trend:
        query = f"({query}) / ({query.replace(f'[{w}]', f'[{w}] offset {w}')})"
    return query
