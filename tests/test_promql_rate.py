"""Property: rampsim's ``rate``/``increase`` equal a plain transcription of Prometheus's ``extrapolatedRate``.

The reference below is a scalar loop written from prometheus/prometheus
``promql/functions.go`` (``extrapolatedRate``) and ``promql/engine.go`` (which samples a
range selector sees), one variant per behaviour: before prometheus/prometheus#13725
(v2.42, v2.48: the zero-point limit applied before the extrapolation threshold), after it
in 2.x (v2.55: threshold first, closed window ``[t-w, t]``) and 3.x (threshold first,
left-open window ``(t-w, t]``). Counters have resets and gaps; windows and evaluation
times are random and mostly off the sample grid.

Likewise for 3.x's ``anchored``/``smoothed`` modifiers: ``rate``/``increase``/``delta``
against a transcription of ``extendedRate`` (with the widened window the ``*parser.Call``
case of ``eval`` reads), ``changes``/``resets`` against ``funcChanges``/``funcResets`` with
``pickFirstSampleIndex``, and a ``smoothed`` instant selector against ``smoothSeries``.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from hypothesis import given, settings
from hypothesis import strategies as st

from rampsim.promql import SeriesStore, evaluate
from tests.conftest import examples


def reference_extrapolated_rate(times_ms: list[int], values: list[float], eval_ms: int, range_ms: int,
                                version: str, is_counter: bool, is_rate: bool) -> float | None:
    """Prometheus's extrapolatedRate for one series, transliterated from Go (None = no output sample)."""
    left_open = version.startswith("3")
    zero_point_first = version in ("2.42", "2.48")
    range_start = eval_ms - range_ms
    range_end = eval_ms
    samples = [(t, v) for t, v in zip(times_ms, values)
               if (t > range_start if left_open else t >= range_start) and t <= range_end]
    if len(samples) < 2:
        return None
    num_samples_minus_one = len(samples) - 1
    first_t = samples[0][0]
    last_t = samples[-1][0]
    result = samples[-1][1] - samples[0][1]
    if is_counter:
        prev = samples[0][1]
        for _, cur in samples[1:]:
            if cur < prev:
                result += prev
            prev = cur
    duration_to_start = (first_t - range_start) / 1000
    duration_to_end = (range_end - last_t) / 1000
    sampled_interval = (last_t - first_t) / 1000
    average_between = sampled_interval / num_samples_minus_one
    threshold = average_between * 1.1
    if zero_point_first:
        if is_counter and result > 0 and samples[0][1] >= 0:
            duration_to_zero = sampled_interval * (samples[0][1] / result)
            if duration_to_zero < duration_to_start:
                duration_to_start = duration_to_zero
        extrapolate_to = sampled_interval
        extrapolate_to += duration_to_start if duration_to_start < threshold else average_between / 2
        extrapolate_to += duration_to_end if duration_to_end < threshold else average_between / 2
    else:
        if duration_to_start >= threshold:
            duration_to_start = average_between / 2
        if is_counter and result > 0 and samples[0][1] >= 0:
            duration_to_zero = sampled_interval * (samples[0][1] / result)
            if duration_to_zero < duration_to_start:
                duration_to_start = duration_to_zero
        extrapolate_to = sampled_interval
        extrapolate_to += duration_to_start
        if duration_to_end >= threshold:
            duration_to_end = average_between / 2
        extrapolate_to += duration_to_end
    factor = extrapolate_to / sampled_interval
    if is_rate:
        factor /= range_ms / 1000
    return result * factor


@st.composite
def counters(draw: st.DrawFn) -> tuple[list[int], list[float]]:
    """A counter sampled at irregular times (gaps), with occasional resets, starting anywhere >= 0."""
    n = draw(st.integers(1, 40))
    t = draw(st.integers(0, 120_000))
    value = draw(st.sampled_from([0.0, 0.0, 1.0, 7.5, 1000.0]))
    times, values = [], []
    for _ in range(n):
        times.append(t)
        values.append(value)
        t += draw(st.sampled_from([15_000, 15_000, 15_000, 30_000, 5_000, 1_000, 120_000])) \
            + draw(st.integers(0, 999))
        if draw(st.integers(0, 9)) == 0:
            value = draw(st.sampled_from([0.0, 1.0, value / 2]))          # reset
        else:
            value += draw(st.sampled_from([0.0, 1.0, 3.0, 0.5, 250.0]))
    return times, values


@given(counter=counters(),
       range_ms=st.sampled_from([1_000, 15_000, 30_000, 60_000, 61_234, 120_000, 300_000, 600_000]),
       eval_offset=st.integers(-30_000, 30_000),
       at_fraction=st.floats(0, 1),
       version=st.sampled_from(["2.42", "2.55", "3.0"]),
       function=st.sampled_from(["rate", "increase", "delta"]))
def test_rate_matches_reference_transcription(counter: tuple[list[int], list[float]], range_ms: int,
                                              eval_offset: int, at_fraction: float, version: str,
                                              function: str) -> None:
    times, values = counter
    eval_ms = times[0] + int(at_fraction * (times[-1] - times[0] + range_ms)) + eval_offset
    store = SeriesStore()
    store.add_ms({"__name__": "c", "job": "x"}, times, values)
    result = evaluate(f"{function}(c[{range_ms}ms])", store, eval_ms / 1000, semantics=version)
    expected = reference_extrapolated_rate(times, values, eval_ms, range_ms, version,
                                           is_counter=function != "delta", is_rate=function == "rate")
    _assert_one_sample_or_none(result, expected)


@given(counter=counters(), range_ms=st.sampled_from([15_000, 60_000, 300_000]),
       version=st.sampled_from(["2.42", "3.0"]))
def test_range_evaluation_equals_instant_evaluations(counter: tuple[list[int], list[float]], range_ms: int,
                                                     version: str) -> None:
    """Vectorized over all times at once, ``rate`` gives what one instant query at each time gives."""
    from rampsim.promql import evaluate_range

    times, values = counter
    store = SeriesStore()
    store.add_ms({"__name__": "c"}, times, values)
    grid = [(times[0] + k * 7_001) / 1000 for k in range(0, (times[-1] - times[0] + range_ms) // 7_001 + 2)]
    query = f"sum(rate(c[{range_ms}ms]))"
    matrix = evaluate_range(query, store, grid, semantics=version)
    by_time = {}
    for series in matrix.series:
        by_time.update({round(t * 1000): v for t, v in zip(series.times, series.values)})
    for t in grid:
        instant = evaluate(query, store, t, semantics=version)
        if len(instant) == 0:
            assert round(t * 1000) not in by_time
        else:
            assert by_time[round(t * 1000)] == instant.vector[0].value


@given(st.lists(st.tuples(st.sampled_from([0.005, 0.01, 0.025, 0.1, 0.1, 1.0, -1.0, 0.0, math.inf]),
                          st.lists(st.one_of(st.floats(0, 1e6), st.just(math.nan), st.just(0.0), st.just(-0.0)),
                                   min_size=5, max_size=5)),
                min_size=0, max_size=7),
       st.lists(st.one_of(st.floats(-0.5, 1.5), st.sampled_from([0.0, 1.0, 0.5, math.nan])), min_size=5, max_size=5))
def test_bucket_quantiles_at_many_times_equal_bucket_quantile_at_each(buckets, qs):
    """The vectorized histogram_quantile (every bucket present) is the scalar one, bit for bit."""
    from rampsim.promql.histogram import bucket_quantile, bucket_quantiles

    bounds = [b for b, _ in buckets]
    counts = np.array([c for _, c in buckets], dtype=float).reshape(len(buckets), 5)
    # cumulative-looking counts most of the time, as Prometheus buckets are
    vector = bucket_quantiles(np.array(qs), bounds, counts)
    scalar = [bucket_quantile(q, bounds, counts[:, t].tolist()) for t, q in enumerate(qs)]
    np.testing.assert_array_equal(vector, np.array(scalar))


# ---------------------------------------------------------------- anchored and smoothed (3.7 and later)

def _go_search(n: int, predicate) -> int:
    """Go's ``sort.Search(n, f)``: the smallest index in ``[0, n)`` where ``f`` holds, else ``n``."""
    return next((i for i in range(n) if predicate(i)), n)


def _go_interpolate(p1: tuple[int, float], p2: tuple[int, float], t: int, is_counter: bool) -> float:
    y1, y2 = p1[1], p2[1]
    if is_counter and y2 < y1:
        y1 = 0.0
    return y1 + (y2 - y1) * float(t - p1[0]) / float(p2[0] - p1[0])


def _go_seconds(ms: int) -> float:
    """Go's ``time.Duration.Seconds()`` of a whole number of milliseconds."""
    return float(ms // 1000) + float(ms % 1000 * 1_000_000) / 1e9


def reference_extended(times_ms: list[int], values: list[float], eval_ms: int, offset_ms: int, range_ms: int,
                       lookback_ms: int, function: str, modifier: str) -> float | None:
    """One float series' ``function(c[range] offset o <modifier>)``, transliterated from Go (None = no sample)."""
    range_end = eval_ms - offset_ms
    range_start = range_end - range_ms
    smoothed = modifier == "smoothed"
    mint = range_start - lookback_ms                            # eval: mint -= lookbackDelta
    maxt = range_end + (lookback_ms if smoothed else 0)         # smoothed: maxt += lookbackDelta
    f = [(t, v) for t, v in zip(times_ms, values) if mint < t <= maxt]      # matrixIterSlice
    if not f:
        return None
    last = len(f) - 1
    first = max(0, _go_search(last, lambda i: f[i][0] > range_start) - 1)
    if function in ("changes", "resets"):                       # pickFirstSampleIndex, funcChanges/funcResets
        if f[-1][0] <= range_start:
            return None
        count, prev = 0, f[first][1]
        for _, cur in f[first + 1:]:
            if function == "resets":
                count += cur < prev
            else:
                count += cur != prev and not (math.isnan(cur) and math.isnan(prev))
            prev = cur
        return float(count)
    is_counter = function != "delta"
    if smoothed:
        last = _go_search(last, lambda i: f[i][0] >= range_end)
    if f[last][0] <= range_start:
        return None
    if smoothed and f[first][0] > range_end:
        return None
    left = f[first][1]
    if smoothed and f[first][0] < range_start:
        left = _go_interpolate(f[first], f[first + 1], range_start, is_counter)
    right = f[last][1]
    if smoothed and last > 0 and f[last][0] > range_end:
        right = _go_interpolate(f[last - 1], f[last], range_end, is_counter)
    result = right - left
    if is_counter:
        if f[first][0] <= range_start:
            first += 1
        if f[last][0] >= range_end:
            last -= 1
        correction, prev = 0.0, left                            # correctForCounterResets
        for _, value in f[first:last + 1]:
            if value < prev:
                correction += prev
            prev = value
        if right < prev:
            correction += prev
        result += correction
    if function == "rate":
        result /= _go_seconds(range_ms)
    return result


def reference_smoothed_selector(times_ms: list[int], values: list[float], at_ms: int,
                                lookback_ms: int) -> float | None:
    """``smoothSeries`` at one time: the sample there, the line between its neighbours, or the latest before."""
    floats = [(t, v) for t, v in zip(times_ms, values) if at_ms - lookback_ms < t <= at_ms + lookback_ms]
    i = _go_search(len(floats), lambda k: floats[k][0] >= at_ms)
    if i < len(floats) and floats[i][0] == at_ms:
        return floats[i][1]
    if 0 < i < len(floats):
        return _go_interpolate(floats[i - 1], floats[i], at_ms, is_counter=False)
    if i > 0:
        return floats[i - 1][1]
    return None


@settings(max_examples=examples(fast=400))
@given(counter=counters(),
       range_ms=st.sampled_from([1_000, 15_000, 30_000, 60_000, 61_234, 120_000, 300_000, 600_000]),
       offset_ms=st.sampled_from([0, 0, 30_000, 45_500, -60_000]),
       lookback_ms=st.sampled_from([300_000, 300_000, 60_000, 20_000]),
       eval_offset=st.integers(-400_000, 400_000),
       at_fraction=st.floats(0, 1),
       call=st.sampled_from([("rate", "anchored"), ("increase", "anchored"), ("delta", "anchored"),
                             ("changes", "anchored"), ("resets", "anchored"), ("rate", "smoothed"),
                             ("increase", "smoothed"), ("delta", "smoothed")]))
def test_extended_ranges_match_reference_transcription(counter: tuple[list[int], list[float]], range_ms: int,
                                                       offset_ms: int, lookback_ms: int, eval_offset: int,
                                                       at_fraction: float, call: tuple[str, str]) -> None:
    times, values = counter
    function, modifier = call
    eval_ms = times[0] + int(at_fraction * (times[-1] - times[0] + range_ms)) + eval_offset
    store = SeriesStore()
    store.add_ms({"__name__": "c", "job": "x"}, times, values)
    offset = f" offset {offset_ms}ms" if offset_ms else ""
    result = evaluate(f"{function}(c[{range_ms}ms]{offset} {modifier})", store, eval_ms / 1000,
                      semantics="3.14", lookback=lookback_ms / 1000)
    expected = reference_extended(times, values, eval_ms, offset_ms, range_ms, lookback_ms, function, modifier)
    _assert_one_sample_or_none(result, expected)


@given(counter=counters(), lookback_ms=st.sampled_from([300_000, 20_000, 1]),
       offset_ms=st.sampled_from([0, 15_000, -100_000]), eval_offset=st.integers(-400_000, 400_000),
       at_fraction=st.floats(0, 1))
def test_smoothed_selector_matches_reference_transcription(counter: tuple[list[int], list[float]], lookback_ms: int,
                                                           offset_ms: int, eval_offset: int,
                                                           at_fraction: float) -> None:
    times, values = counter
    eval_ms = times[0] + int(at_fraction * (times[-1] - times[0])) + eval_offset
    store = SeriesStore()
    store.add_ms({"__name__": "c", "job": "x"}, times, values)
    offset = f" offset {offset_ms}ms" if offset_ms else ""
    result = evaluate(f"c{offset} smoothed", store, eval_ms / 1000, semantics="3.14",
                      lookback=lookback_ms / 1000)
    expected = reference_smoothed_selector(times, values, eval_ms - offset_ms, lookback_ms)
    if expected is None:
        assert len(result) == 0
        return
    assert [(dict(s.labels), s.value) for s in result.vector] == [({"__name__": "c", "job": "x"}, expected)]


def _assert_one_sample_or_none(result: Any, expected: float | None) -> None:
    """``result`` is empty where the reference has no value, else one sample of ``c``'s labels equal to it."""
    if expected is None:
        assert len(result) == 0
        return
    assert len(result) == 1
    sample = result.vector[0]
    assert dict(sample.labels) == {"job": "x"}
    assert math.isclose(sample.value, expected, rel_tol=1e-12, abs_tol=1e-12), (sample.value, expected)
