"""Metrics computed from telemetry the way PromQL computes them.

Three steps, each one function:

1. :func:`corrected_counters` undoes counter resets (PromQL ``increase`` semantics):
   a drop is a restart from zero, a missing sample changes nothing.
2. :meth:`Series.aggregate` sums the corrected series a measure selects (for
   example the canary's errors over all segments) into *aggregate* columns; the
   measure's window increase is the aggregate at the window's end minus at its
   start. Windows are closed scrape-grid intervals ``[start, end]``: what a range
   selector ``[w]`` covers at a query time on the scrape grid.
3. A *finish* turns the window increases into the value: a ratio, a
   ``histogram_quantile``, a segment spread.

:func:`evaluate` is vectorized over windows (arrays of scrape indices) and gives
``NaN`` for an inconclusive window: a missing sample at either end, zero traffic,
a start before the first scrape. :func:`scalar_finisher` gives the same finish on plain
floats, for the engine's per-scrape path; its formulas are written in the same
order as :func:`finish` so both give identical floats (a property test holds them
to it). The PromQL for each metric is in :mod:`rampsim.engine.promql`.
"""
from __future__ import annotations

import bisect
import functools
import math
from typing import Callable, Optional, Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from rampsim.plan.schema import Measure, Metric, Plan
from rampsim.telemetry import Layout, Telemetry, damaged_counters, damaged_gauges

__all__ = [
    "Series", "increments", "corrected_counters", "histogram_quantile", "histogram_quantile_scalar",
    "aggregate_groups", "read_channels", "without_damaged_gauges", "plan_channels", "Aggregator", "finish", "scalar_finisher", "evaluate", "is_scalar_measure", "GAUGE_METRICS",
]

GAUGE_METRICS = {Metric.CPU: "cpu", Metric.MEMORY: "memory", Metric.NETWORK: "network",
                 Metric.MEMORY_GROWTH: "memory_bytes"}
_NAN = float("nan")


# -- 1. counter resets ---------------------------------------------------------------

def increments(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Counter increase from ``previous`` to ``current`` samples, a drop counting as a reset to zero."""
    return np.where(current >= previous, current - previous, current)


def corrected_counters(raw: np.ndarray) -> np.ndarray:
    """Reset-corrected cumulative counters, ``NaN`` where the sample is missing.

    Increments between consecutive *present* samples are summed in time order
    (first sample, then each increment), the order the engine adds them in.
    """
    raw = np.asarray(raw, dtype=float)
    missing = np.isnan(raw)
    filled = raw
    if missing.any():  # carry the last present sample forward
        index = np.where(missing, 0, np.arange(len(raw))[:, None])
        np.maximum.accumulate(index, axis=0, out=index)
        filled = raw[index, np.arange(raw.shape[1])]
    present = ~np.isnan(filled)
    steps = np.empty_like(filled)
    steps[0] = np.where(present.any(axis=0), filled[present.argmax(axis=0), np.arange(raw.shape[1])], np.nan)
    steps[1:] = np.where(np.isnan(filled[:-1]), 0.0, np.nan_to_num(increments(filled[:-1], filled[1:])))
    corrected = np.cumsum(steps, axis=0)
    corrected[missing] = np.nan
    return corrected


# -- 2. aggregates -------------------------------------------------------------------

Group = tuple[int, ...]


@functools.lru_cache(maxsize=4096)
def aggregate_groups(layout: Layout, measure: Measure) -> tuple[Group, ...]:
    """The counter channel groups whose window increases ``measure``'s finish reads, in order (cached)."""
    return tuple(_aggregate_groups(layout, measure))


def _aggregate_groups(layout: Layout, measure: Measure) -> list[Group]:
    arm = layout.arm(measure.arm)
    segments = range(len(layout.segments)) if measure.segment is None else [layout.segment(measure.segment)]

    def group(family: str, which=segments, on_arm: int = arm) -> Group:
        if family in ("requests", "errors", "revenue"):
            return tuple(int(layout.channels(family, on_arm, s)) for s in which)
        return (int(layout.channels(family, on_arm)),)

    m = measure.metric
    if m is Metric.ERROR_RATE:
        return [group("errors"), group("requests")]
    if m is Metric.LATENCY:
        per_segment = [layout.channels("latency_bucket", arm, s) for s in segments]
        return [tuple(int(c[b]) for c in per_segment) for b in range(len(layout.latency_buckets))]
    if m is Metric.AVAILABILITY:
        return [group("health_checks_ok"), group("health_checks")]
    if m is Metric.CACHE_HIT_RATE:
        return [group("cache_hits"), group("cache_misses")]
    if m is Metric.SEGMENT_SPREAD:
        return [g for s in range(len(layout.segments)) for g in (group("errors", [s]), group("requests", [s]))]
    if m is Metric.REQUEST_RATE:
        return [group("requests")]
    if m is Metric.REVENUE_RATE:
        return [group("revenue")]
    if m is Metric.REVENUE_DELTA:
        base = layout.arm("baseline")
        return [group("revenue"), group("requests"), group("revenue", on_arm=base), group("requests", on_arm=base)]
    return []


def plan_channels(plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """The counter and gauge columns the plan's gate reads (its rules and criteria, not its SLO)."""
    return plan.memo("read_channels", lambda p: read_channels(
        p.layout, [m for where, m in p.measures() if not where.startswith("slo.")]))


def read_channels(layout: Layout, measures: Sequence[Measure]) -> tuple[np.ndarray, np.ndarray]:
    """The counter and gauge columns ``measures`` read: a scrape missing only other series is complete."""
    counters = sorted({c for m in measures for g in aggregate_groups(layout, m) for c in g})
    gauges = sorted({int(layout.channels(GAUGE_METRICS[m.metric], arm=layout.arm(m.arm)))
                     for m in measures if m.metric in GAUGE_METRICS})
    return np.array(counters, dtype=np.intp), np.array(gauges, dtype=np.intp)


class Aggregator:
    """Sums channel groups member by member, in order, so every caller gets the same floats."""

    def __init__(self, groups: Sequence[Group]) -> None:
        self.groups = tuple(groups)
        width = max(len(g) for g in self.groups)
        padded = np.array([g + (-1,) * (width - len(g)) for g in self.groups], dtype=np.intp)
        self._members = [padded[:, m] for m in range(width)]

    def __call__(self, counters: np.ndarray) -> np.ndarray:
        """``(..., len(groups))`` group sums of ``counters`` ``(..., channels)``."""
        return self.sum_padded(np.concatenate([counters, np.zeros((*counters.shape[:-1], 1))], axis=-1))

    def sum_padded(self, padded: np.ndarray) -> np.ndarray:
        """The group sums of ``padded``: counters with one trailing column of zeros."""
        total = padded.take(self._members[0], axis=-1)
        for member in self._members[1:]:
            total = total + padded.take(member, axis=-1)
        return total


@functools.lru_cache(maxsize=1024)
def aggregator_for(groups: tuple[Group, ...]) -> Aggregator:
    """The :class:`Aggregator` of ``groups``, built once."""
    return Aggregator(groups)


def without_damaged_gauges(gauges: np.ndarray) -> np.ndarray:
    """``gauges`` with damaged samples read as missing (the same array when none is)."""
    damaged = damaged_gauges(gauges)
    return np.where(damaged, np.nan, gauges) if damaged.any() else gauges


class Series:
    """Corrected counters and gauges on the scrape grid: what metrics read.

    ``damage``, when given, counts damaged counter samples per channel up to each
    scrape (see :mod:`rampsim.telemetry`); damaged gauge samples are read as missing.
    """

    def __init__(self, layout: Layout, time: np.ndarray, counters: np.ndarray, gauges: np.ndarray,
                 damage: Optional[np.ndarray] = None) -> None:
        self.layout = layout
        self.time = time
        self.counters = counters
        self.gauges = without_damaged_gauges(gauges)
        self.damage = damage
        self._aggregates: dict[tuple[Group, ...], np.ndarray] = {}

    @classmethod
    def from_telemetry(cls, telemetry: Telemetry) -> "Series":
        """All of ``telemetry`` at once (the vectorized path)."""
        raw, damage = telemetry.counters, None
        damaged = damaged_counters(raw)
        if damaged.any():
            raw, damage = np.where(damaged, np.nan, raw), np.cumsum(damaged, axis=0)
        return cls(telemetry.layout, telemetry.time, corrected_counters(raw), telemetry.gauges, damage)

    def aggregate(self, groups: Sequence[Group]) -> np.ndarray:
        """``(ticks, len(groups))`` sums of the corrected counters in each group (cached)."""
        key = tuple(groups)
        if key not in self._aggregates:
            self._aggregates[key] = aggregator_for(key)(self.counters)
        return self._aggregates[key]

    def increase(self, groups: Sequence[Group], start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """``(windows, len(groups))`` window increases of the group sums (same floats either way).

        ``damage`` (cumulative counts of damaged samples per channel) makes a group's
        increase ``NaN`` over every window with a damaged sample after its start.
        """
        aggregator = aggregator_for(tuple(groups))
        if 2 * len(end) < len(self.time):
            increase = aggregator(self.counters[end]) - aggregator(self.counters[start])
        else:
            aggregate = self.aggregate(groups)
            increase = aggregate[end] - aggregate[start]
        if self.damage is not None:
            increase[aggregator(self.damage[end]) > aggregator(self.damage[start])] = np.nan
        return increase

    def gauge(self, measure: Measure) -> np.ndarray:
        """The gauge column ``measure`` reads, over all scrapes."""
        channel = self.layout.channels(GAUGE_METRICS[measure.metric], arm=self.layout.arm(measure.arm))
        return self.gauges[:, int(channel)]


# -- 3. finishes ---------------------------------------------------------------------

def histogram_quantile(q: float, upper_bounds: Sequence[float] | np.ndarray, buckets: np.ndarray) -> np.ndarray:
    """PromQL ``histogram_quantile`` on classic cumulative buckets, vectorized over rows.

    ``buckets`` is ``(..., len(upper_bounds))`` of cumulative counts, the last bound
    ``+Inf``. As Prometheus does: counts are made monotonic; the rank ``q * total``
    falls in the first bucket whose count reaches it and is interpolated linearly
    inside it (the lowest bucket from 0); a rank in the ``+Inf`` bucket gives the
    largest finite bound; no observations give ``NaN``.
    """
    le = np.asarray(upper_bounds, dtype=float)
    if len(le) < 2:  # Prometheus: fewer than two buckets give NaN
        return np.full(np.shape(buckets)[:-1], np.nan)
    counts = np.maximum.accumulate(np.asarray(buckets, dtype=float), axis=-1)
    total = counts[..., -1]
    rank = q * total
    b = np.sum(counts[..., :-1] < rank[..., None], axis=-1)
    inside = b < len(le) - 1
    b = np.minimum(b, len(le) - 2)
    below = np.maximum(b - 1, 0)
    lower_count = np.where(b > 0, np.take_along_axis(counts, below[..., None], -1)[..., 0], 0.0)
    upper_count = np.take_along_axis(counts, b[..., None], -1)[..., 0]
    bucket_start = np.where(b > 0, le[below], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = bucket_start + (le[b] - bucket_start) * ((rank - lower_count) / (upper_count - lower_count))
    value = np.where(inside, value, le[-2])
    value = np.where(inside & (b == 0) & (le[0] <= 0), le[0], value)
    return np.where(total > 0, value, np.nan)


def histogram_quantile_scalar(q: float, upper_bounds: Sequence[float], buckets: Sequence[float]) -> float:
    """:func:`histogram_quantile` for one histogram of plain floats (same steps, same float operations)."""
    if math.isnan(sum(buckets)) or len(buckets) < 2:
        return _NAN
    counts = list(buckets)
    if sorted(counts) != counts:  # make the counts monotonic, as Prometheus does (real histograms already are)
        running = -math.inf
        for i, count in enumerate(counts):
            running = counts[i] = count if count > running else running
    total = counts[-1]
    if not total > 0:
        return _NAN
    rank = q * total
    last = len(counts) - 1
    b = bisect.bisect_left(counts, rank, 0, last)  # the first bucket whose count reaches the rank
    if b == last:
        return upper_bounds[-2]
    if b == 0:
        if upper_bounds[0] <= 0:
            return upper_bounds[0]
        return upper_bounds[0] * (rank / counts[0]) if counts[0] else _NAN   # Go: 0/0 is NaN (q = 0)
    bucket_start, lower_count = upper_bounds[b - 1], counts[b - 1]
    return bucket_start + (upper_bounds[b] - bucket_start) * ((rank - lower_count) / (counts[b] - lower_count))


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)


def _ratio_scalar(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else _NAN


def _chi2_p_value(errors: list, requests: list) -> np.ndarray:
    """p-value of a chi-square test that all segments share one error rate (vectorized)."""
    total_errors, total_requests = errors[0], requests[0]
    for e, r in zip(errors[1:], requests[1:]):
        total_errors, total_requests = total_errors + e, total_requests + r
    pooled = _ratio(total_errors, total_requests)
    statistic = np.zeros_like(pooled)
    with np.errstate(invalid="ignore", divide="ignore"):
        for e, r in zip(errors, requests):
            expected = r * pooled
            statistic = statistic + (e - expected) ** 2 / (expected * (1 - pooled))
    from scipy import stats  # only the chi2 definition needs it; keeps the engine's import light

    p_value = stats.chi2.sf(statistic, len(errors) - 1)
    return np.where((pooled == 0) | (pooled == 1), 1.0, p_value)


def finish(measure: Measure, upper_bounds: Sequence[float], increase: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """``measure``'s value from its groups' window increases ``(n, groups)`` over ``seconds``-long windows."""
    m = measure.metric
    column = [increase[:, i] for i in range(increase.shape[1])]
    if m in (Metric.ERROR_RATE, Metric.AVAILABILITY):
        return _ratio(column[0], column[1])
    if m is Metric.LATENCY:
        assert measure.quantile is not None  # the plan schema requires a quantile for latency
        return histogram_quantile(measure.quantile, upper_bounds, increase)
    if m is Metric.CACHE_HIT_RATE:
        return _ratio(column[0], column[0] + column[1])
    if m is Metric.REQUEST_RATE:
        return _ratio(column[0], seconds)
    if m is Metric.REVENUE_RATE:
        return _ratio(column[0], seconds / 60.0)
    if m is Metric.REVENUE_DELTA:
        return _ratio(_ratio(column[0], column[1]), _ratio(column[2], column[3])) - 1.0
    if m is Metric.SEGMENT_SPREAD:
        errors, requests = column[0::2], column[1::2]
        rates = [_ratio(e, r) for e, r in zip(errors, requests)]
        high, low, total = rates[0], rates[0], rates[0]
        for rate in rates[1:]:
            high, low, total = np.maximum(high, rate), np.minimum(low, rate), total + rate
        if measure.definition == "absolute":
            return high - low
        if measure.definition == "relative":
            mean = total / len(rates)
            return np.where(mean > 0, _ratio(high - low, mean), np.where(mean == 0, 0.0, np.nan))
        return np.where(np.isnan(total), np.nan, _chi2_p_value(errors, requests))
    raise ValueError(f"{m.value} has no counter finish")


def scalar_finisher(measure: Measure, upper_bounds: Sequence[float],
                    columns: Sequence[int]) -> Callable[[Sequence[float], float], float]:
    """:func:`finish` for one window on plain floats, as a function of ``(increases, seconds)``.

    ``increases`` is a list of window increases in which ``columns`` are the measure's
    groups, in :func:`aggregate_groups` order. The engine calls this on every scrape,
    so each metric gets a function with its indices bound and no dispatch.
    """
    m = measure.metric
    c = list(columns)
    if m in (Metric.ERROR_RATE, Metric.AVAILABILITY):
        num, den = c
        return lambda inc, seconds: inc[num] / inc[den] if inc[den] > 0 else _NAN
    if m is Metric.LATENCY:
        q = measure.quantile
        assert q is not None  # the plan schema requires a quantile for latency
        if c == list(range(c[0], c[0] + len(c))):  # the buckets' groups are contiguous: slice, do not gather
            first, stop = c[0], c[0] + len(c)
            return lambda inc, seconds: histogram_quantile_scalar(q, upper_bounds, inc[first:stop])
        return lambda inc, seconds: histogram_quantile_scalar(q, upper_bounds, [inc[i] for i in c])
    if m is Metric.CACHE_HIT_RATE:
        hits, misses = c
        return lambda inc, seconds: _ratio_scalar(inc[hits], inc[hits] + inc[misses])
    if m is Metric.REQUEST_RATE:
        return lambda inc, seconds: _ratio_scalar(inc[c[0]], seconds)
    if m is Metric.REVENUE_RATE:
        return lambda inc, seconds: _ratio_scalar(inc[c[0]], seconds / 60.0)
    if m is Metric.REVENUE_DELTA:
        return lambda inc, seconds: _ratio_scalar(_ratio_scalar(inc[c[0]], inc[c[1]]),
                                                  _ratio_scalar(inc[c[2]], inc[c[3]])) - 1.0
    if m is Metric.SEGMENT_SPREAD:
        definition, error_columns, request_columns = measure.definition, c[0::2], c[1::2]
        assert definition is not None  # the plan schema requires a definition for segment_spread
        return lambda inc, seconds: _segment_spread_scalar(definition, [inc[i] for i in error_columns],
                                                           [inc[i] for i in request_columns])
    raise ValueError(f"{m.value} has no counter finish")


def _segment_spread_scalar(definition: str, errors: list[float], requests: list[float]) -> float:
    rates = []
    for e, r in zip(errors, requests):
        rate = e / r if r > 0 else _NAN
        if rate != rate:
            return _NAN
        rates.append(rate)
    high, low = max(rates), min(rates)
    if definition == "absolute":
        return high - low
    if definition == "relative":
        mean = sum(rates) / len(rates)  # ((0 + r0) + r1) + ...: the order the vectorized finish adds in
        return _ratio_scalar(high - low, mean) if mean > 0 else 0.0
    return float(_chi2_p_value([np.array([e]) for e in errors], [np.array([r]) for r in requests])[0])


def _reads_latest_gauge(measure: Measure) -> bool:
    return measure.metric in GAUGE_METRICS and measure.metric is not Metric.MEMORY_GROWTH \
        and (measure.agg or "last") == "last"


def is_scalar_measure(measure: Measure) -> bool:
    """Whether the engine's per-scrape path (:func:`scalar_finisher`) can judge ``measure``.

    Rolling windows over counters, and gauges read at the window's end; everything
    else goes through :func:`evaluate`.
    """
    if measure.peak is not None or measure.trend or measure.window.kind.value != "rolling":
        return False
    if measure.metric in GAUGE_METRICS:
        return _reads_latest_gauge(measure)
    return measure.metric is not Metric.ALERTS


# -- evaluation over windows ---------------------------------------------------------

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
    t_centred = t - t.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (t_centred * (values - values.mean(axis=1, keepdims=True))).sum(axis=1) / (t_centred ** 2).sum(axis=1)
    return slope * 3600.0


def _gauge(series: Series, measure: Measure, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    column = series.gauge(measure)
    if measure.metric is Metric.MEMORY_GROWTH:
        return _windows(column, series.time, start, end, _slope_per_hour)
    agg = measure.agg or "last"
    if agg == "last":
        return column[end]
    # avg sums v/n, not v then /n: like Prometheus's avg_over_time, it stays finite near the float limit
    reducer = (lambda v, t: (v / v.shape[1]).sum(axis=1)) if agg == "avg" else (lambda v, t: v.max(axis=1))
    return _windows(column, series.time, start, end, reducer)


def _plain(series: Series, measure: Measure, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The metric over each window, without peak or trend."""
    if measure.metric in GAUGE_METRICS:
        return _gauge(series, measure, start, end)
    if measure.metric is Metric.ALERTS:
        raise ValueError("the alerts metric is counted by the engine, not computed from telemetry")
    increase = series.increase(aggregate_groups(series.layout, measure), start, end)
    return finish(measure, series.layout.latency_buckets, increase, series.time[end] - series.time[start])


def evaluate(series: Series, measure: Measure, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """``measure``'s value over each window ``[start[i], end[i]]`` (scrape indices), ``NaN`` if inconclusive.

    A window that starts before the first scrape is inconclusive. ``peak`` takes the
    largest value over rolling sub-windows; ``trend`` divides by the value over the
    equally long window just before.
    """
    start = np.asarray(start, dtype=np.intp)
    end = np.asarray(end, dtype=np.intp)
    valid = (start >= 0) & (start <= end)
    if _reads_latest_gauge(measure):  # the window plays no part
        valid = np.ones_like(valid)
    safe_start = np.where(valid, start, 0)
    if measure.peak is not None:
        values = _peak(series, measure, safe_start, end)
    elif measure.trend:
        previous = safe_start - (end - safe_start)
        current = _plain(series, measure, safe_start, end)
        before = _plain(series, measure, np.maximum(previous, 0), safe_start)
        values = np.where((before == 0) & (current == 0), 1.0, _ratio(current, before))
        values = np.where(previous >= 0, values, np.nan)
    else:
        values = _plain(series, measure, safe_start, end)
    return np.where(valid, values, np.nan)


def _peak(series: Series, measure: Measure, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Largest sub-window value in each window; ``NaN`` if any sub-window is inconclusive."""
    assert measure.peak is not None  # only called for a measure with a peak
    width = int(round(measure.peak / series.layout.scrape_interval))
    first, last = int(start.min()) + width, int(end.max())
    values = np.full(len(series.time), np.nan)  # the sub-window ending at each scrape
    if first <= last:
        sub_end = np.arange(first, last + 1)
        values[first:last + 1] = _plain(series, measure, sub_end - width, sub_end)
    result = np.full(len(end), np.nan)
    has_sub_window = end >= start + width
    rows = np.flatnonzero(has_sub_window)
    if len(rows):
        result[rows] = _windows(values, series.time, start[rows] + width, end[rows], lambda v, t: v.max(axis=1))
    return result
