"""Properties: the compiled queries' fast paths give exactly what the tree-walking evaluator gives.

:func:`rampsim.promql.evaluate` and :func:`rampsim.promql.evaluate_range` run a query's
compiled :class:`~rampsim.promql.evaluate.CompiledQuery`: ``run`` (numpy, many times at once) and
``run_one`` (one time, plain Python over the samples involved once a selection is warm, numpy
at ``T = 1`` before). Both must give bit for bit what :func:`evaluate_node` (the plain walk of
the query, the reference) gives, the same errors included, on random stores (counters with
resets and gaps, gauges with NaN, infinities and signed zeros, staleness markers, classic
histograms) and random queries over the evaluated subset (3.x's ``anchored``/``smoothed``
modifiers included, refused as Prometheus refuses them where they do not apply), at random
times, in 2.x and 3.x.
Also: the pairwise sum that the single-time aggregation reproduces is numpy's, and a
selection's window table is the plain per-series search.
"""
from __future__ import annotations

import math
import struct
from typing import Any, Callable
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rampsim.promql import SeriesStore, as_semantics
from rampsim.promql import store as store_module
from rampsim.promql.aggregate import column_sum
from rampsim.promql.errors import PromQLError
from rampsim.promql.evaluate import CompiledQuery, Context, One, evaluate_node
from rampsim.promql.parse import parse
from rampsim.promql.store import _union_table
from rampsim.promql.values import Scalar, Vector
from tests.conftest import examples

SETTINGS = settings(max_examples=examples(fast=80), deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- random stores and queries

GAUGE_VALUES = [0.0, -0.0, 1.5, -3.0, 1e300, -1e300, math.nan, math.inf, 0.25]


@st.composite
def stores(draw: st.DrawFn) -> list[tuple[dict[str, str], list[int], list[float], list[bool]]]:
    series = []
    for _ in range(draw(st.integers(1, 8))):
        labels = {"__name__": draw(st.sampled_from(["m1", "m2"])), "job": draw(st.sampled_from(["a", "b"])),
                  "instance": draw(st.sampled_from(["0", "1", "2"]))}
        if draw(st.booleans()):
            labels["code"] = draw(st.sampled_from(["200", "500"]))
        n = draw(st.integers(0, 30))
        steps = draw(st.lists(st.sampled_from([1, 1, 1, 2, 5]), min_size=n, max_size=n))
        jitter = draw(st.lists(st.integers(-3000, 3000), min_size=n, max_size=n)) if draw(st.booleans()) else [0] * n
        times = list(np.cumsum([0] + steps[:-1]) * 15_000 + draw(st.integers(0, 4)) * 15_000 + np.array(jitter, int)) \
            if n else []
        codes = draw(st.lists(st.integers(0, 40), min_size=n, max_size=n))
        if draw(st.booleans()):      # a counter: increments, and a reset now and then
            increments = [0.0, 1.0, 2.5, 1e6]
            values, value = [], draw(st.sampled_from([0.0, 5.0, 100.0]))
            for c in codes:
                value = float(c % 2) if c == 0 or c == 40 else value + increments[c % 4]
                values.append(value)
        else:
            values = [GAUGE_VALUES[c % len(GAUGE_VALUES)] for c in codes]
        stale = [c in (7, 31) for c in codes]
        keep = sorted({int(tm): k for k, tm in enumerate(times)}.values())
        series.append((labels, [int(times[k]) for k in keep], [values[k] for k in keep], [stale[k] for k in keep]))
    if draw(st.booleans()):
        counts = draw(st.lists(st.integers(0, 3), min_size=20, max_size=20))
        for scale, le in ((1.0, "0.1"), (2.0, "1"), (2.0, "+Inf")):
            series.append(({"__name__": "h_bucket", "le": le}, [15_000 * k for k in range(20)],
                            list(np.cumsum(counts) * scale), [False] * 20))
    return series


SELECTORS = ["m1", "m2", 'm1{job="a"}', 'm2{code=~"5.."}', 'm1{instance!="0"}', 'm2{job!~"b"}', "nothing"]
RANGE_FUNCTIONS = ["rate", "increase", "delta", "irate", "idelta", "deriv", "changes", "resets", "avg_over_time",
                   "sum_over_time", "min_over_time", "max_over_time", "count_over_time", "last_over_time",
                   "present_over_time"]


@st.composite
def vector_queries(draw: st.DrawFn, depth: int = 0) -> str:
    kind = draw(st.integers(0, 9 if depth < 2 else 2))
    sel = draw(st.sampled_from(SELECTORS))
    if kind == 0:
        return sel + draw(st.sampled_from(["", "", "", " smoothed", " offset 20s smoothed"]))
    if kind <= 2:
        offset = " offset 30s" if draw(st.integers(0, 9)) == 0 else ""
        modifier = draw(st.sampled_from(["", "", " anchored", " smoothed"]))    # any function: some are refused
        return (f"{draw(st.sampled_from(RANGE_FUNCTIONS))}({sel}[{draw(st.sampled_from(['30s', '1m', '2m']))}]"
                f"{offset}{modifier})")
    inner = draw(vector_queries(depth + 1))
    if kind <= 4:
        grouping = draw(st.sampled_from(["", " by (job)", " without (instance)", " by (job, code)"]))
        return f"{draw(st.sampled_from(['sum', 'avg', 'min', 'max', 'count']))}{grouping} ({inner})"
    if kind <= 7:
        op = draw(st.sampled_from(["+", "-", "*", "/", ">", "<=", "==", "!=", "and", "or", "unless", "%", "^"]))
        modifier = draw(st.sampled_from(["", " on (job)", " ignoring (instance)", " on (job) group_left",
                                         " ignoring (code) group_right"]))
        if op in ("and", "or", "unless") and "group" in modifier:
            modifier = ""
        if op in (">", "<=", "==", "!=") and draw(st.booleans()):
            modifier = " bool" + modifier
        if draw(st.booleans()):
            return f"({inner}) {op}{modifier} ({draw(vector_queries(depth + 1))})"
        if op in ("and", "or", "unless"):
            op = "*"
        return f"({inner}) {op}{modifier.split(' on')[0].split(' ignoring')[0]} ({draw(st.sampled_from(['1', '0', '2.5']))})"
    if kind == 8:
        return draw(st.sampled_from([f"-({inner})", f"abs({inner})", f"clamp_min({inner}, 0)",
                                     f"vector(scalar({inner}))", f"({inner}) or vector(0)", "vector(time())"]))
    return f"histogram_quantile({draw(st.sampled_from(['0.5', '0.9']))}, sum by (le) (rate(h_bucket[1m])))"


# ---------------------------------------------------------------- comparing

def _bits(x: float) -> str:
    return "nan" if math.isnan(x) else struct.pack("<d", x).hex()


def _outcome(fn: Callable[[], Any]) -> Any:
    try:
        return ("ok", fn())
    except PromQLError as exc:
        return ("error", type(exc).__name__, str(exc))


def _vector_key(value: Any) -> Any:
    """A value at times ``T`` in comparable form: labels, values (bits) where present, presence."""
    if isinstance(value, Scalar):
        return ("scalar", tuple(_bits(v) for v in value.values))
    assert isinstance(value, Vector)
    rows = []
    for lab, vals, pres in zip(value.labels, value.values, value.present):
        rows.append((lab, tuple(_bits(v) if p else "-" for v, p in zip(vals, pres))))
    return ("vector", tuple(rows))


def _one_key(value: Any) -> Any:
    if not isinstance(value, One):
        return ("scalar", (_bits(value),))
    return ("vector", tuple((lab, ((_bits(v) if p else "-"),)) for lab, v, p in
                            zip(value.labels, value.values, value.present)))


def _parses(query: str) -> bool:
    try:
        parse(query)
    except PromQLError:
        return False
    return True


def _build(series: list[tuple[dict[str, str], list[int], list[float], list[bool]]]) -> SeriesStore:
    store = SeriesStore()
    for labels, times, values, stale in series:
        store.add_ms(labels, times, values, stale)
    return store


def _reference(query: str, store: SeriesStore, times_ms: np.ndarray, semantics: str) -> Any:
    ctx = Context(store, times_ms, as_semantics(semantics), 300_000)
    with np.errstate(all="ignore"):
        return _outcome(lambda: _vector_key(evaluate_node(parse(query), ctx)))


@pytest.mark.parametrize("warm", [False, True], ids=["numpy-at-one-time", "python-lists"])
@SETTINGS
@given(series=stores(), query=vector_queries(), semantics=st.sampled_from(["2.42", "2.55", "3"]),
       at=st.lists(st.integers(-10_000, 600_000), min_size=1, max_size=4))
def test_single_time_path_equals_reference(warm: bool, series: Any, query: str, semantics: str,
                                           at: list[int]) -> None:
    assume(_parses(query))
    store = _build(series)
    with mock.patch.object(store_module, "_WARM_ONE", 1 if warm else 10 ** 9):
        plan = CompiledQuery(parse(query), store, as_semantics(semantics), 300_000)
        for t in at:
            expected = _reference(query, store, np.array([t], dtype=np.int64), semantics)
            got = _outcome(lambda: _one_key(plan.run_one(t)))
            assert got == expected, (query, t)


@SETTINGS
@given(series=stores(), query=vector_queries(), semantics=st.sampled_from(["2.42", "2.55", "3"]),
       times=st.lists(st.integers(-10_000, 600_000), min_size=1, max_size=40, unique=True),
       search=st.sampled_from(["table", "keys", "no table"]))
def test_many_times_path_equals_reference(series: Any, query: str, semantics: str, times: list[int],
                                          search: str) -> None:
    assume(_parses(query))
    store = _build(series)
    times_ms = np.array(sorted(times), dtype=np.int64)
    with mock.patch.object(store_module, "_TABLE_TIMES", 1 if search == "table" else 10 ** 9), \
            mock.patch.object(store_module, "_TABLE_RATIO", 0 if search == "no table" else store_module._TABLE_RATIO), \
            mock.patch.object(store_module, "_TABLE_ENTRIES", 0 if search == "no table" else store_module._TABLE_ENTRIES):
        plan = CompiledQuery(parse(query), store, as_semantics(semantics), 300_000)
        got = _outcome(lambda: _vector_key(plan.run(times_ms)))
    assert got == _reference(query, store, times_ms, semantics), query


@given(values=st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0])),
                       min_size=1, max_size=300))
def test_column_sum_is_numpys(values: list[float]) -> None:
    with np.errstate(all="ignore"):
        expected = float(np.array(values, dtype=np.float64).reshape(-1, 1).sum(axis=0)[0])
    assert _bits(column_sum(values)) == _bits(expected)


@given(series=st.lists(st.lists(st.integers(0, 40), max_size=25), min_size=1, max_size=6), grid=st.booleans())
def test_window_table_is_the_plain_search(series: list[list[int]], grid: bool) -> None:
    runs = [np.unique(np.array(s, dtype=np.int64)) * 15 for s in series]
    if grid:   # runs of one grid, as series scraped together are
        runs = [np.arange(min(s, default=0), max(s, default=-1) + 1, dtype=np.int64) * 15 for s in series]
    starts = np.zeros(len(runs) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in runs], out=starts[1:])
    times = np.concatenate(runs)
    found = _union_table(times, starts, 10 ** 9)
    assert found is not None
    union, table = found
    assert np.array_equal(union, np.unique(times))
    for j, run in enumerate(runs):
        expected = np.concatenate([[0], np.searchsorted(run, union, side="right")]) + starts[j]
        assert np.array_equal(table[j], expected)


GRID_VALUES = [math.nan, math.nan, 0.0, -0.0, 1.0, 2.5, 1e6, math.inf]


@given(rows=st.lists(st.lists(st.sampled_from(GRID_VALUES), min_size=6, max_size=6), min_size=1, max_size=7),
       names=st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", "g"]), min_size=7, max_size=7, unique=True),
       start=st.integers(-10 ** 6, 10 ** 12))
def test_a_grid_compiles_to_the_arrays_of_its_series(rows: list[list[float]], names: list[str], start: int) -> None:
    times = start + np.arange(6, dtype=np.int64) * 15_000
    labels = [{"__name__": "m", "pod": names[i]} for i in range(len(rows))]
    values = np.array(rows, dtype=np.float64)
    grid, per_series = SeriesStore(), SeriesStore()
    grid.add_grid_ms(labels, times, values)
    for lab, row in zip(labels, values):
        if not np.isnan(row).all():
            per_series.add_ms(lab, times[~np.isnan(row)], row[~np.isnan(row)])
    assert grid._grid is not None and per_series._grid is None     # the two construction paths, really
    a, b = grid.compiled(), per_series.compiled()
    assert a.labels == b.labels and (a.base, a.span, a.exact) == (b.base, b.span, b.exact)
    for name in ("keys", "times", "values", "starts"):
        assert np.array_equal(getattr(a.full, name), getattr(b.full, name), equal_nan=name == "values")
        assert np.array_equal(getattr(a.clean, name), getattr(b.clean, name), equal_nan=name == "values")
    for name in ("full_stale", "clean_reset_count", "clean_change_count", "padded_times", "padded_resets",
                 "padded_changes"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert np.array_equal(a.padded_values, b.padded_values, equal_nan=True)
    # a series added afterwards splits the grid into series, and nothing is lost
    grid.add_ms({"__name__": "m", "pod": "z"}, [0], [1.0])
    per_series.add_ms({"__name__": "m", "pod": "z"}, [0], [1.0])
    assert grid._grid is None and grid.labels == per_series.labels
    assert np.array_equal(grid.compiled().full.values, per_series.compiled().full.values, equal_nan=True)
