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
   ``histogram_quantile``, a segment spread. Each metric's finish (and the counter
   groups it reads, or the gauge) is in its
   :class:`~rampsim.plan.metric_definitions.MetricDefinition`.

:func:`evaluate` is vectorized over windows (arrays of scrape indices) and gives
``NaN`` for an inconclusive window: zero traffic, a start before the first scrape, a
counter's missing sample at either end, a gauge window with too few samples present
(missing ones are left out, as PromQL's range functions leave them out), a damaged
sample, a ``peak`` without a conclusive sub-window. :func:`scalar_finisher` gives
the same finish on plain floats, for the engine's per-scrape path; its formulas are
written in the same order as :func:`finish` so both give identical floats (a property
test holds them to it). The PromQL for each metric is in :mod:`rampsim.engine.promql`.

**Comparisons** (``compare: baseline``) read the counter groups of the metric on the arm,
then on the baseline, then (with ``min_requests``) each arm's requests, and contrast the two
values (:func:`~rampsim.plan.metric_definitions.contrast`); a window in which either arm served
fewer than ``min_requests`` requests is inconclusive. With a ``peak``, the guard holds the whole
window to it, not each sub-window (a sub-window holds a fraction of the window's requests).

**Sequential tests** (``test: sequential``) turn the same counter groups into a per-interval
series (the increase over each scrape interval since the window's start) and give the
anytime-valid p-value of the null "the arm's metric is at most ``1 + margin`` times the
baseline's" (:mod:`rampsim.judges.sequential`):

* ``error_rate``: the count test on each interval's errors of both arms, the null share being
  the interval's observed canary share of requests (given the requests, the canary's share of
  the errors is binomial under the model, whatever the shared load and error multiplier). An
  interval with a missing, damaged or inconsistent count (errors above requests, a fraction)
  contributes nothing. With ``batch``, the batched count test instead: the usable intervals'
  counts summed over batches of that many scrape intervals from the window's start, one log
  rate ratio per batch, judged like the latency test's ratios.
* ``latency``: the latency test on each interval's log ratio of the arm's quantile to the
  baseline's (with ``batch``, each batch's, its usable intervals' buckets summed), clipped to
  ``±log`` :data:`LATENCY_RATIO_BOUND`, margin ``log(1 + margin)``; its bets are tuned for
  :data:`BETS_TUNED_FOR`, and its p-value is valid at every level. An interval with a missing
  or damaged bucket contributes nothing, nor does a batch in which either arm has no
  observation.

The value at a scrape uses the intervals up to it and no others, so judging a scrape alone (the
step engine) and every scrape at once (the compiled judge) give the same floats. It is
inconclusive at a scrape missing (or with a damaged) sample the test reads on either arm, and until
there is evidence (:func:`sequential_traffic`, :func:`sequential_known`: traffic on both arms in usable
intervals for the count test; a batch or interval that joined the test for the batched count test and
the latency test), so missing data never passes a criterion; a gap or damage earlier drops its
intervals only.

*Guarantee*: on a canary no worse than ``1 + margin`` times the baseline, the probability
that the p-value *ever* falls to ``alpha`` during the ramp is at most ``alpha``, however
often it is read, if the model holds. The count test needs the error noise shared by both
arms: noise on one arm alone (per-arm overdispersion, a bad pod) moves the canary's share of
errors like a regression and voids the bound. The latency test, and both tests with ``batch``,
need the per-interval (per-batch) log ratios' conditional mean constant, so noise an arm has on
its own must not persist across intervals (batches), and must be alike on both arms (the log of
the noisier arm's value averages lower).
"""
from __future__ import annotations

import functools
import math
from typing import Optional, Sequence

import numpy as np

from rampsim.judges.sequential import (
    RATE_RATIO_BOUND, at_intervals, batch_sums, batched_count_ratios, batched_count_regression_test,
    count_regression_test, fewest_to_reject, latency_regression_test,
)
from rampsim.plan.functions import NAN, histogram_quantile, histogram_quantile_scalar, max_over_time, ratio, windows
from rampsim.plan.metric_definitions import Group, ScalarFinisher, contrast, contrast_scalar
from rampsim.plan.loader import PlanError
from rampsim.plan.schema import Measurement, Plan
from rampsim.plan.sections import locate, plan_document
from rampsim.telemetry import Layout, Telemetry, damaged_counters, damaged_gauges

__all__ = [
    "Series", "increments", "carried_forward", "corrected_counters", "histogram_quantile", "histogram_quantile_scalar",
    "aggregate_groups", "read_channels", "without_damaged_gauges", "plan_channels", "Aggregator", "finish",
    "scalar_finisher", "evaluate", "is_scalar_measure", "sequential_inputs", "sequential_p_values",
    "sequential_known", "sequential_traffic", "batch_intervals", "latency_differences", "LATENCY_RATIO_BOUND",
    "BETS_TUNED_FOR", "MIN_TAIL_OBSERVATIONS", "never_rejecting", "check_reach",
]

LATENCY_RATIO_BOUND = 16.0
"""The latency test reads each interval's (batch's) quantile ratio clipped to ``[1/16, 16]`` (the count test's
widest alternative is 16 times the null too): the bound its empirical-Bernstein sequence needs."""

MIN_TAIL_OBSERVATIONS = 10.0
"""An interval (batch) joins the latency test only when each arm holds at least this many requests beyond the
quantile (``n (1 - q)``): with fewer, ``histogram_quantile`` of the smaller arm reads its tail short, and that
small-sample bias reads as a difference between the arms (identical arms of 1,980 and 20 requests an interval were
flagged in every run on P99; at 10 beyond the quantile the bias is under 1% of the log ratio)."""

BETS_TUNED_FOR = 0.05
"""The level the latency test's bets are tuned for; its p-value is valid at every level (a rule's threshold)."""


# -- 1. counter resets ---------------------------------------------------------------

def increments(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Counter increase from ``previous`` to ``current`` samples, a drop counting as a reset to zero."""
    return np.where(current >= previous, current - previous, current)


def carried_forward(raw: np.ndarray) -> np.ndarray:
    """``(scrapes, columns)`` samples with each missing one (``NaN``) replaced by the last present
    sample of its column (``NaN`` before the first)."""
    index = np.where(np.isnan(raw), 0, np.arange(len(raw))[:, None])
    np.maximum.accumulate(index, axis=0, out=index)
    return raw[index, np.arange(raw.shape[1])]


def corrected_counters(raw: np.ndarray) -> np.ndarray:
    """Reset-corrected cumulative counters, ``NaN`` where the sample is missing.

    Increments between consecutive *present* samples are summed in time order
    (first sample, then each increment), the order the engine adds them in. ``raw`` is
    ``(scrapes, ...)``: every column along the first axis is corrected on its own.
    """
    raw = np.asarray(raw, dtype=float)
    if raw.ndim != 2:
        return corrected_counters(raw.reshape(len(raw), -1)).reshape(raw.shape)
    if len(raw) and np.isfinite(raw).all():  # the common case: the same floats in fewer passes
        steps = np.empty_like(raw)
        steps[0] = raw[0]
        np.subtract(raw[1:], raw[:-1], out=steps[1:])
        dropped = steps[1:] < 0
        if dropped.any():
            steps[1:][dropped] = raw[1:][dropped]
        return np.cumsum(steps, axis=0)
    missing = np.isnan(raw)
    filled = carried_forward(raw) if missing.any() else raw
    present = ~np.isnan(filled)
    steps = np.empty_like(filled)
    steps[0] = np.where(present.any(axis=0), filled[present.argmax(axis=0), np.arange(raw.shape[1])], np.nan)
    steps[1:] = np.where(np.isnan(filled[:-1]), 0.0, np.nan_to_num(increments(filled[:-1], filled[1:])))
    corrected = np.cumsum(steps, axis=0)
    corrected[missing] = np.nan
    return corrected


# -- 2. aggregates -------------------------------------------------------------------

@functools.lru_cache(maxsize=4096)
def aggregate_groups(layout: Layout, measurement: Measurement) -> tuple[Group, ...]:
    """The counter channel groups whose window increases ``measurement``'s finish reads, in order (cached).

    A comparison's are the arm's groups, then the baseline's, then (with ``min_requests``) each arm's
    requests."""
    definition = measurement.metric_definition
    if measurement.compare is None:
        return tuple(definition.counter_groups(layout, measurement))
    sides = measurement.compared
    groups = aggregate_groups(layout, sides[0]) + aggregate_groups(layout, sides[1])
    if measurement.min_requests is not None:
        groups += tuple(definition.counters(layout, side, "requests") for side in sides)
    return groups


def plan_channels(plan: Plan) -> tuple[np.ndarray, np.ndarray]:
    """The counter and gauge columns the plan's gate reads (its rules and criteria, not its SLO)."""
    return plan.memo("read_channels", lambda p: read_channels(
        p.layout, [m for where, m in p.measures() if not where.startswith("slo.")]))


def read_channels(layout: Layout, measures: Sequence[Measurement]) -> tuple[np.ndarray, np.ndarray]:
    """The counter and gauge columns ``measures`` read: a scrape missing only other series is complete."""
    counters = sorted({c for m in measures for g in aggregate_groups(layout, m.measurement) for c in g})
    gauges = sorted({gauge_channel(layout, side) for m in measures if m.metric_definition.gauge is not None
                     for side in (m.measurement.compared if m.compare is not None else (m,))})
    return np.array(counters, dtype=np.intp), np.array(gauges, dtype=np.intp)


class Aggregator:
    """Sums channel groups member by member, in order, so every caller gets the same floats."""

    def __init__(self, groups: Sequence[Group]) -> None:
        self.groups = tuple(groups)
        width = max(len(g) for g in self.groups)
        padded = np.array([g + (-1,) * (width - len(g)) for g in self.groups], dtype=np.intp)
        self._first, *self._rest = [_contiguous(padded[:, m]) for m in range(width)]

    def __call__(self, counters: np.ndarray) -> np.ndarray:
        """``(..., len(groups))`` group sums of ``counters`` ``(..., channels)``."""
        return self.sum_padded(np.concatenate([counters, np.zeros((*counters.shape[:-1], 1))], axis=-1))

    def sum_padded(self, padded: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
        """The group sums of ``padded``: counters with one trailing column of zeros (into ``out`` if given)."""
        columns = _columns(padded, self._first)
        if out is None:
            out = columns.copy() if isinstance(self._first, slice) else columns
        else:
            out[...] = columns
        for member in self._rest:
            out += _columns(padded, member)
        return out


def _contiguous(channels: np.ndarray) -> slice | np.ndarray:
    """``channels`` as a slice if they are consecutive (selecting them then makes a view, not a copy)."""
    if channels[0] >= 0 and np.array_equal(channels, np.arange(channels[0], channels[0] + len(channels))):
        return slice(int(channels[0]), int(channels[0]) + len(channels))
    return channels


def _columns(padded: np.ndarray, channels: slice | np.ndarray) -> np.ndarray:
    """The last axis's ``channels`` of ``padded`` (a view for a slice)."""
    return padded[..., channels] if isinstance(channels, slice) else padded.take(channels, axis=-1)


@functools.lru_cache(maxsize=1024)
def aggregator_for(groups: tuple[Group, ...]) -> Aggregator:
    """The :class:`Aggregator` of ``groups``, built once."""
    return Aggregator(groups)


def gauge_channel(layout: Layout, measurement: Measurement) -> int:
    """The gauge column a gauge metric's ``measurement`` reads."""
    family = measurement.metric_definition.gauge
    assert family is not None  # only asked of gauge metrics
    return int(layout.channels(family, arm=layout.arm(measurement.arm)))


def without_damaged_gauges(gauges: np.ndarray) -> np.ndarray:
    """``gauges`` with damaged samples read as missing (the same array when none is)."""
    damaged = damaged_gauges(gauges)
    return np.where(damaged, np.nan, gauges) if damaged.any() else gauges


class Series:
    """Corrected counters and gauges on the scrape grid: what metrics read.

    ``damage``, when given, counts damaged counter samples per channel up to each
    scrape (see :mod:`rampsim.telemetry`). Damaged gauge samples are read as missing
    in :attr:`gauges`, and counted per column in :attr:`gauge_damage` (``None`` when
    there is none): a gauge window over one is inconclusive (:meth:`gauge_damaged`).
    ``columns``, when given, are the layout's counter channels ``counters`` (and
    ``damage``) hold, in order: a series of only the channels some gate reads.
    """

    def __init__(self, layout: Layout, time: np.ndarray, counters: np.ndarray, gauges: np.ndarray,
                 damage: Optional[np.ndarray] = None, columns: Optional[np.ndarray] = None) -> None:
        self.layout = layout
        self.time = time
        self.counters = counters
        self.gauges = without_damaged_gauges(gauges)
        self.gauge_damage: Optional[np.ndarray] = None   # cumulative damaged samples per gauge column, if any
        if self.gauges is not gauges:
            self.gauge_damage = np.cumsum(np.isnan(self.gauges) & ~np.isnan(gauges), axis=0)
        self.damage = damage
        self._position: Optional[np.ndarray] = None
        if columns is not None:
            self._position = np.full(layout.n_counters, -2, dtype=np.intp)
            self._position[np.asarray(columns, dtype=np.intp)] = np.arange(len(columns))
        self._aggregates: dict[tuple[Group, ...], np.ndarray] = {}
        self._local: dict[tuple[Group, ...], tuple[Group, ...]] = {}
        self._padded: Optional[np.ndarray] = None

    def _held(self, groups: Sequence[Group]) -> tuple[Group, ...]:
        """``groups`` as column positions of :attr:`counters` (the channels themselves without ``columns``)."""
        key = tuple(groups)
        if self._position is None:
            return key
        if key not in self._local:
            local = tuple(tuple(int(self._position[c]) for c in group) for group in key)
            if any(c < 0 for group in local for c in group):
                raise ValueError("a measure reads a counter channel this series does not hold")
            self._local[key] = local
        return self._local[key]

    @classmethod
    def from_padded(cls, layout: Layout, time: np.ndarray, padded: np.ndarray, gauges: np.ndarray,
                    damage: Optional[np.ndarray] = None, columns: Optional[np.ndarray] = None) -> "Series":
        """A series on ``padded``: the corrected counters with a trailing column of zeros (no copy made)."""
        series = cls(layout, time, padded[:, :-1], gauges, damage, columns)
        series._padded = padded
        return series

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
            if self._padded is None:  # the counters with a trailing column of zeros, made once
                self._padded = np.concatenate([self.counters, np.zeros((len(self.counters), 1))], axis=1)
            self._aggregates[key] = aggregator_for(self._held(key)).sum_padded(self._padded)
        return self._aggregates[key]

    def sum_block(self, groups: Sequence[Group], rows: slice) -> None:
        """Sum ``groups`` over ``rows`` into :meth:`aggregate`'s cache: for a caller filling a series made with
        :meth:`from_padded` block by block, to sum each block while it is in the processor's cache. Every row
        must be summed before the sums are read."""
        assert self._padded is not None  # only a series on padded counters is filled block by block
        key = tuple(groups)
        if key not in self._aggregates:
            self._aggregates[key] = np.empty((len(self._padded), len(key)))
        aggregator_for(self._held(key)).sum_padded(self._padded[rows], out=self._aggregates[key][rows])

    def increase(self, groups: Sequence[Group], start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """``(windows, len(groups))`` window increases of the group sums (same floats either way).

        ``damage`` (cumulative counts of damaged samples per channel) makes a group's
        increase ``NaN`` over every window with a damaged sample after its start.
        """
        key = tuple(groups)
        aggregator = aggregator_for(self._held(key))
        if key in self._aggregates or 2 * len(end) >= len(self.time):  # the sums at every scrape: made or worth it
            aggregate = self.aggregate(key)
            increase = aggregate.take(end, axis=0)
            increase -= aggregate.take(start, axis=0)
        elif self._padded is not None:
            increase = aggregator.sum_padded(self._padded.take(end, axis=0))
            increase -= aggregator.sum_padded(self._padded.take(start, axis=0))
        else:
            increase = aggregator(self.counters[end]) - aggregator(self.counters[start])
        if self.damage is not None:
            increase[aggregator(self.damage[end]) > aggregator(self.damage[start])] = np.nan
        return increase

    def gauge(self, measurement: Measurement) -> np.ndarray:
        """The gauge column ``measurement`` reads, over all scrapes (``NaN`` where missing or damaged)."""
        return self.gauges[:, gauge_channel(self.layout, measurement)]

    def gauge_damaged(self, measurement: Measurement, start: np.ndarray, end: np.ndarray) -> np.ndarray:
        """``(windows,)``: whether the gauge ``measurement`` reads has a damaged sample in ``[start, end]``."""
        if self.gauge_damage is None:
            return np.zeros(len(end), dtype=bool)
        damage = self.gauge_damage[:, gauge_channel(self.layout, measurement)]
        return damage[end] > np.where(start > 0, damage[np.maximum(start - 1, 0)], 0)


# -- 3. finishes ---------------------------------------------------------------------

def finish(measurement: Measurement, upper_bounds: Sequence[float], increase: np.ndarray,
           seconds: np.ndarray) -> np.ndarray:
    """``measurement``'s value from its groups' window increases ``(n, groups)`` over ``seconds``-long windows."""
    return measurement.metric_definition.finish(measurement, upper_bounds, increase, seconds)


def scalar_finisher(measurement: Measurement, upper_bounds: Sequence[float], columns: Sequence[int]) -> ScalarFinisher:
    """:func:`finish` for one window on plain floats, as a function of ``(increases, seconds)``.

    ``increases`` is a list of window increases in which ``columns`` are the measurement's
    groups, in :func:`aggregate_groups` order. The engine calls this on every scrape,
    so each metric gives a function with its indices bound and no dispatch. A comparison's
    contrasts its two sides' finishes as :func:`_compared` does, in the same float operations.
    """
    if measurement.compare is None:
        return measurement.metric_definition.scalar_finisher(measurement, upper_bounds, columns)
    guarded = measurement.min_requests is not None
    width = (len(columns) - 2 * guarded) // 2
    canary, baseline = (scalar_finisher(side, upper_bounds, part) for side, part in
                        zip(measurement.compared, (columns[:width], columns[width:2 * width])))
    how = measurement.contrast
    assert how is not None  # a comparison judged per scrape has a contrast (a sequential test has no rolling window)
    if not guarded:
        return lambda inc, seconds: contrast_scalar(how, canary(inc, seconds), baseline(inc, seconds))
    least, canary_requests, baseline_requests = float(measurement.min_requests or 0), columns[-2], columns[-1]
    return lambda inc, seconds: (contrast_scalar(how, canary(inc, seconds), baseline(inc, seconds))
                                 if inc[canary_requests] >= least and inc[baseline_requests] >= least else NAN)


def is_scalar_measure(measurement: Measurement) -> bool:
    """Whether the engine's per-scrape path (:func:`scalar_finisher`) can judge ``measurement``.

    Rolling windows over counters, and gauges read at the window's end (not compared: the
    per-scrape path reads one gauge); everything else goes through :func:`evaluate`.
    """
    if measurement.peak is not None or measurement.trend or measurement.window.kind.value != "rolling":
        return False
    if measurement.compare is not None and measurement.metric_definition.gauge is not None:
        return False
    return measurement.metric_definition.per_scrape(measurement)


# -- evaluation over windows ---------------------------------------------------------

def _plain(series: Series, measurement: Measurement, start: np.ndarray, end: np.ndarray,
           guarded: bool = True) -> np.ndarray:
    """The metric over each window, without peak or trend (``guarded``: with a comparison's ``min_requests``)."""
    if measurement.test is not None:
        return _sequential(series, measurement, start, end)
    if measurement.compare is not None:
        values = _compared(series, measurement, start, end)
        return _guarded(series, measurement, start, end, values) if guarded else values
    definition = measurement.metric_definition
    if definition.gauge is not None:   # missing samples are left out (as PromQL does), a damaged one is not
        values = definition.over_windows(measurement, series.gauge(measurement), series.time, start, end)
        if definition.reads_latest(measurement):
            return values
        return np.where(series.gauge_damaged(measurement, start, end), np.nan, values)
    if not definition.from_telemetry:
        raise ValueError(f"the {definition.name} metric is counted by the engine, not computed from telemetry")
    increase = series.increase(aggregate_groups(series.layout, measurement), start, end)
    return finish(measurement, series.layout.latency_buckets, increase, series.time[end] - series.time[start])


def _compared(series: Series, measurement: Measurement, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """A comparison over each window: the arm's value against the baseline's (unguarded: see :func:`_guarded`)."""
    canary, baseline = measurement.compared
    how = measurement.contrast
    assert how is not None  # the schema requires 'as' on a comparison that is not a sequential test
    return contrast(how, _plain(series, canary, start, end), _plain(series, baseline, start, end))


def _guarded(series: Series, measurement: Measurement, start: np.ndarray, end: np.ndarray,
             values: np.ndarray) -> np.ndarray:
    """``values`` over the windows ``[start, end]``, inconclusive where either arm served fewer than
    ``min_requests`` requests in the window (unchanged without a guard)."""
    if measurement.compare is None or measurement.min_requests is None:
        return values
    requests = series.increase(aggregate_groups(series.layout, measurement)[-2:], start, end)
    return np.where((requests >= measurement.min_requests).all(axis=1), values, np.nan)


def _sequential(series: Series, measurement: Measurement, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """A sequential test's p-value at the end of each window, from the intervals since its start (see the module
    docstring). Windows sharing a start share one series of intervals; each value reads its prefix."""
    firsts, which = np.unique(start, return_inverse=True)
    length = max(int((end - start).max(initial=0)), 1)
    ticks = np.minimum(firsts[:, None] + np.arange(1, length + 1), len(series.time) - 1)
    inputs = sequential_inputs(series, measurement, ticks.ravel()).reshape(len(firsts), length, -1)
    p_value = sequential_p_values(measurement, inputs, series.layout)
    at = (which.ravel(), np.clip(end - start - 1, 0, length - 1))
    traffic = np.cumsum(sequential_traffic(measurement, inputs, series.layout), axis=1)[at]
    return np.where((end > start) & sequential_known(series, measurement, end, traffic), p_value[at], np.nan)


def sequential_inputs(series: Series, measurement: Measurement, ends: np.ndarray) -> np.ndarray:
    """``(len(ends), columns)``: what a sequential test reads of each scrape interval ending at ``ends``.

    The increases of the metric's counter groups over the interval on the arm, then on the
    baseline: the count test's errors and requests, the latency test's histogram buckets. An
    interval depends on its two scrapes alone, so they can be computed once, as scrapes arrive."""
    return series.increase(aggregate_groups(series.layout, measurement), ends - 1, ends)


def batch_intervals(measurement: Measurement, layout: Layout) -> int:
    """Scrape intervals per batch of a sequential test (1 without ``batch``; the schema keeps it on the grid)."""
    return 1 if measurement.batch is None else max(1, int(round(measurement.batch / layout.scrape_interval)))


def latency_differences(measurement: Measurement, inputs: np.ndarray, layout: Layout) -> np.ndarray:
    """``(..., batches)``: each complete batch's log ratio of the arm's quantile to the baseline's (its buckets summed
    over the batch's usable intervals), clipped to ``±log`` :data:`LATENCY_RATIO_BOUND`; ``NaN`` where either arm
    has no observation. A batch's value never changes once it is complete."""
    with np.errstate(invalid="ignore"):
        usable = np.all(inputs >= 0, axis=-1)     # NaN (a missing or damaged interval) is not
    batch = batch_intervals(measurement, layout)
    summed = batch_sums(np.where(usable[..., None], inputs, 0.0), batch, axis=-2)
    half = inputs.shape[-1] // 2
    flat = summed.reshape(-1, summed.shape[-1])
    seconds = np.full(len(flat), batch * layout.scrape_interval)
    canary, baseline = (finish(side, layout.latency_buckets, part, seconds).reshape(summed.shape[:-1])
                        for side, part in zip(measurement.compared, (flat[:, :half], flat[:, half:])))
    bound = math.log(LATENCY_RATIO_BOUND)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log(canary / baseline)
    beyond = 1.0 - (measurement.compared[0].quantile or 0.5)   # each arm's share of requests above the quantile
    enough = np.minimum(summed[..., :half].max(axis=-1), summed[..., half:].max(axis=-1)) * beyond \
        >= MIN_TAIL_OBSERVATIONS
    observed = (canary > 0) & (baseline > 0) & ~np.isnan(log_ratio) & enough
    return np.where(observed, np.clip(log_ratio, -bound, bound), np.nan)


def _usable_counts(inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The count test's four columns (errors, requests, the baseline's), ``NaN`` in every column of an interval
    with a missing, damaged or inconsistent count (errors above requests, a fraction) or no traffic at all."""
    errors, requests, base_errors, base_requests = np.moveaxis(inputs, -1, 0)
    with np.errstate(invalid="ignore"):
        usable = ((errors >= 0) & (errors <= requests) & (errors == np.round(errors)) & (base_errors >= 0)
                  & (base_errors <= base_requests) & (base_errors == np.round(base_errors))
                  & (requests + base_requests > 0))
    return (np.where(usable, errors, np.nan), np.where(usable, requests, np.nan), np.where(usable, base_errors, np.nan),
            np.where(usable, base_requests, np.nan))


def sequential_p_values(measurement: Measurement, inputs: np.ndarray, layout: Layout,
                        differences: Optional[np.ndarray] = None) -> np.ndarray:
    """``(..., intervals)``: the test's p-value after each interval, from :func:`sequential_inputs` ``(...,
    intervals, columns)``; an interval whose inputs are missing or inconsistent is skipped. With ``batch``, the
    intervals are summed over batches of that many scrape intervals first (see the module docstring). A latency
    test may be given its :func:`latency_differences` (computed once per batch by a caller that keeps them)."""
    margin = measurement.margin or 0.0
    batch = batch_intervals(measurement, layout)
    if measurement.metric_definition.sequential == "count":
        errors, requests, base_errors, base_requests = _usable_counts(inputs)
        if measurement.batch is not None:
            return batched_count_regression_test(errors, requests, base_errors, base_requests, batch=batch,
                                                 margin=margin).p_value
        usable = ~np.isnan(errors)
        share = np.where(usable, requests / np.where(usable, requests + base_requests, 1.0), 0.5)
        return count_regression_test(errors, base_errors, share, margin=margin).p_value
    if differences is None:
        differences = latency_differences(measurement, inputs, layout)
    test = latency_regression_test(differences, bound=math.log(LATENCY_RATIO_BOUND), margin=math.log1p(margin),
                                   alpha=BETS_TUNED_FOR)
    return at_intervals(test, batch, inputs.shape[-2]).p_value


def never_rejecting(plan: Plan) -> list[tuple[tuple[str, ...], str]]:
    """The plan's sequential tests that could never reject in the time they have, each ``(key path, message)``.

    The latency test and the batched count test need several observations of the strongest evidence before
    their p-value can fall to the threshold (the batched test's first batch never joins); a rule has the ramp
    less its sustain, a criterion its window up to the checkpoint. The count test per interval can reject on
    one interval's errors, so it has no minimum.
    """
    interval = plan.telemetry.scrape_interval
    at = {f"checkpoints.{name}": c.at for name, c in plan.checkpoints.items()} | {"final_gate": plan.final_gate.at}
    problems = []
    for where, measure in plan.measures():   # a sequential test's window is cumulative (the schema's rule)
        count = measure.metric_definition.sequential == "count"
        if measure.test is None or where.startswith("slo.") or (count and measure.batch is None):
            continue
        if where.startswith("rules."):
            span, what = plan.duration - getattr(measure, "sustain", 0.0), "the ramp less the sustain"
        else:
            span, what = at[where.rsplit(".criteria.", 1)[0]], "its window up to the checkpoint"
        batch = batch_intervals(measurement=measure.measurement, layout=plan.layout)
        available = int(round(span / interval)) // batch - (1 if count else 0)
        bound = math.log(RATE_RATIO_BOUND if count else LATENCY_RATIO_BOUND)
        needed = fewest_to_reject(float(measure.threshold), math.log1p(measure.margin or 0.0), bound,
                                  BETS_TUNED_FOR)
        if available < needed:
            unit = "batches" if measure.batch is not None else "scrape intervals"
            problems.append((tuple(where.split(".")),
                             f"this sequential test could never reject: at p <= {measure.threshold:g} it needs at "
                             f"least {needed} {unit} of the strongest evidence"
                             + (" after the first batch, which never joins" if count else "")
                             + f", and {what} holds {max(available, 0)}: a shorter batch, a lower margin, a longer "
                               "window or a larger threshold"))
    return problems


def check_reach(plan: Plan) -> None:
    """:class:`~rampsim.plan.loader.PlanError` locating every sequential test of ``plan`` that could never reject
    (:func:`never_rejecting`): a rule or criterion silently off."""
    if any(m.test is not None for _, m in plan.measures()):
        problems = never_rejecting(plan)
        if problems:
            document = plan_document(plan)
            raise PlanError([locate(document, loc, message) for loc, message in problems])


def sequential_traffic(measurement: Measurement, inputs: np.ndarray, layout: Layout) -> np.ndarray:
    """``(..., intervals, 2)``: the evidence each interval of :func:`sequential_inputs` ``(..., intervals,
    columns)`` (from a window's start) brings each arm. For the count test per interval, the arm's requests (0 in
    an interval with a missing, damaged or inconsistent input, which contributes nothing); for the batched count
    test and the latency test, 1 on both arms at the last interval of each batch (or interval) that joins the
    test (enough expected errors; enough requests beyond the quantile), else 0: traffic too thin to join is no
    evidence."""
    batch = batch_intervals(measurement, layout)
    if measurement.metric_definition.sequential == "count":
        errors, requests, base_errors, base_requests = _usable_counts(inputs)
        if measurement.batch is None:   # each usable interval's requests, on each arm
            return np.nan_to_num(np.stack([requests, base_requests], axis=-1))
        joined = np.isfinite(batched_count_ratios(errors, requests, base_errors, base_requests, batch=batch,
                                                  margin=measurement.margin or 0.0))
    else:
        joined = np.isfinite(latency_differences(measurement, inputs, layout))   # (..., complete batches)
    evidence = np.zeros(inputs.shape[:-1])
    evidence[..., batch - 1:joined.shape[-1] * batch:batch] = joined
    return np.repeat(evidence[..., None], 2, axis=-1)


def sequential_known(series: Series, measurement: Measurement, end: np.ndarray, traffic: np.ndarray) -> np.ndarray:
    """Where a sequential test's value at scrapes ``end`` is conclusive: every sample the test reads at the scrape is
    present and undamaged on both arms, and both arms brought evidence (``traffic`` ``(windows, 2)``: the sums of
    :func:`sequential_traffic` over the window's intervals) in intervals the test could use. A missing or damaged
    sample earlier in the window drops its intervals only, as the test drops them."""
    groups = aggregate_groups(series.layout, measurement)
    present = np.isfinite(series.increase(groups, end, end)).all(axis=1)
    return present & (traffic > 0).all(axis=-1)


def evaluate(series: Series, measure: Measurement, start: np.ndarray, end: np.ndarray,
             floor: np.ndarray | int = 0) -> np.ndarray:
    """``measure``'s value over each window ``[start[i], end[i]]`` (scrape indices), ``NaN`` if inconclusive.

    A window that starts before the first scrape (before ``floor[i]``, the first scrape of
    its run when ``series`` holds several runs one after the other) is inconclusive.
    ``peak`` takes the largest value over rolling sub-windows; ``trend`` divides by the
    value over the equally long window just before.
    """
    measure = measure.measurement
    start = np.asarray(start, dtype=np.intp)
    end = np.asarray(end, dtype=np.intp)
    valid = (start >= floor) & (start <= end)
    if measure.reads_latest:  # the window plays no part
        valid = np.ones_like(valid)
    safe_start = np.where(valid, start, 0)
    if measure.peak is not None:  # an inconclusive window read as empty: its sub-windows are many and not kept
        whole = np.where(valid, start, end)
        values = _guarded(series, measure, whole, end, _peak(series, measure, whole, end))   # the guard: whole window
    elif measure.trend:
        previous = safe_start - (end - safe_start)
        current = _plain(series, measure, safe_start, end)
        before = _plain(series, measure, np.maximum(previous, 0), safe_start)
        values = np.where((before == 0) & (current == 0), 1.0, ratio(current, before))
        values = np.where(previous >= floor, values, np.nan)
    else:
        values = _plain(series, measure, safe_start, end)
    return np.where(valid, values, np.nan)


def _peak(series: Series, measure: Measurement, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Largest conclusive sub-window value in each window, ``NaN`` only if no sub-window is conclusive: PromQL's
    ``max_over_time`` over the subquery leaves out its steps without a value (a comparison's ``min_requests`` guard
    is not applied to the sub-windows: :func:`evaluate` applies it to the window)."""
    assert measure.peak is not None  # only called for a measure with a peak
    width = int(round(measure.peak / series.layout.scrape_interval))
    result = np.full(len(end), np.nan)
    rows = np.flatnonzero(end >= start + width)
    if len(rows):
        first, last = start[rows] + width, end[rows]
        sub_end = _covered(first, last, len(series.time))
        values = np.full(len(series.time), np.nan)  # the sub-window ending at each scrape some window holds
        values[sub_end] = _plain(series, measure, sub_end - width, sub_end, guarded=False)
        result[rows] = windows(values, series.time, first, last, max_over_time)
    return result


def _covered(first: np.ndarray, last: np.ndarray, n: int) -> np.ndarray:
    """The indices below ``n`` in any of the ranges ``[first[i], last[i]]`` (none empty), in order."""
    edges = np.zeros(n + 1, dtype=np.intp)
    np.add.at(edges, first, 1)
    np.add.at(edges, last + 1, -1)
    return np.flatnonzero(np.cumsum(edges[:-1]) > 0)
