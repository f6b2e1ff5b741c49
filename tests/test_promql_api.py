"""The public face of rampsim.promql: results shaped like Prometheus's API, refusals, semantics, stores."""
from __future__ import annotations

import math

import numpy as np
import pytest

from rampsim.errors import RampsimError, UsageError
from rampsim.promql import (QueryError, SeriesStore, Semantics, UnsupportedQuery, as_semantics, evaluate,
                            evaluate_range)


@pytest.fixture()
def store() -> SeriesStore:
    s = SeriesStore()
    t = np.arange(0, 601, 15.0)
    s.add({"__name__": "http_requests_total", "code": "200", "pod": "a"}, t, 10 * t)
    s.add({"__name__": "http_requests_total", "code": "500", "pod": "a"}, t, 0.1 * t)
    return s


def test_instant_vector_as_the_api_returns_it(store: SeriesStore) -> None:
    result = evaluate('sum by (code) (rate(http_requests_total[1m]))', store, time=300.5)
    body = result.to_api_json()
    assert body["resultType"] == "vector"
    got = {r["metric"]["code"]: (r["value"][0], float(r["value"][1])) for r in body["result"]}
    assert got.keys() == {"200", "500"} and got["200"][0] == 300.5
    assert math.isclose(got["200"][1], 10.0, rel_tol=1e-12) and math.isclose(got["500"][1], 0.1, rel_tol=1e-12)
    assert isinstance(body["result"][0]["value"][1], str)


def test_scalar_and_empty_results(store: SeriesStore) -> None:
    assert evaluate("scalar(sum(http_requests_total))", store, 60).to_api_json() == \
        {"resultType": "scalar", "result": [60, "606"]}
    assert evaluate('http_requests_total{code="503"}', store, 60).to_api_json() == {"resultType": "vector", "result": []}
    assert evaluate("1 / 0", store, 0).to_api_json()["result"] == [0, "+Inf"]


def test_a_series_that_does_not_exist_yet_gives_an_empty_vector_unless_or_vector(store: SeriesStore) -> None:
    query = 'sum(rate(http_requests_total{code="503"}[1m])) / sum(rate(http_requests_total[1m]))'
    assert len(evaluate(query, store, 300)) == 0
    fallback = evaluate(f"({query}) or vector(0)", store, 300)
    assert [(dict(s.labels), s.value) for s in fallback] == [({}, 0.0)]


@pytest.mark.parametrize("query,construct", [
    ("topk(1, http_requests_total)", "aggregation topk"),
    ("label_replace(http_requests_total, 'a', 'b', 'c', 'd')", "function label_replace"),
    ("http_requests_total @ 100", "@ modifier"),
    ("rate(http_requests_total[5m:1m])", "subquery"),
    ("http_requests_total[5m]", "range-vector result"),
])
def test_outside_the_subset_is_refused_by_name(store: SeriesStore, query: str, construct: str) -> None:
    with pytest.raises(UnsupportedQuery) as caught:
        evaluate(query, store, 100)
    assert caught.value.construct == construct
    assert construct in str(caught.value)
    assert isinstance(caught.value, UsageError) and isinstance(caught.value, RampsimError)


def test_prometheus_errors_are_query_errors(store: SeriesStore) -> None:
    with pytest.raises(QueryError):
        evaluate("sum(", store, 0)
    with pytest.raises(QueryError, match="many-to-many|duplicate"):
        evaluate("http_requests_total + on(pod) http_requests_total", store, 60)


def test_window_boundaries_differ_between_2x_and_3x() -> None:
    s = SeriesStore()
    s.add({"__name__": "c"}, [0, 60, 120], [0, 6, 12])
    # A sample exactly at t - w is inside the 2.x window and outside the 3.x one.
    assert evaluate("count_over_time(c[1m])", s, 120, semantics=2).vector[0].value == 2
    assert evaluate("count_over_time(c[1m])", s, 120, semantics=3).vector[0].value == 1
    # ... and the same for the lookback of an instant selector.
    assert len(evaluate("c", s, 420, semantics=2, lookback=300)) == 1
    assert len(evaluate("c", s, 420, semantics=3, lookback=300)) == 0


def test_staleness_markers_end_a_series() -> None:
    s = SeriesStore()
    s.add({"__name__": "g"}, [0, 15, 30], [1.0, 2.0, math.nan], stale=[False, False, True])
    assert evaluate("g", s, 20).vector[0].value == 2.0
    assert len(evaluate("g", s, 31)) == 0
    assert evaluate("sum_over_time(g[1m])", s, 31).vector[0].value == 3.0


def test_semantics_by_major_or_exact_version() -> None:
    assert as_semantics(3) == Semantics.V3 and as_semantics("2") == Semantics.V2
    assert as_semantics("v2.42.0") == Semantics(2, 42)
    assert as_semantics("2.42.0").zero_point_before_threshold and not Semantics.V2.zero_point_before_threshold
    with pytest.raises(UsageError):
        as_semantics("4")


def test_range_evaluation_matches_instant_evaluations(store: SeriesStore) -> None:
    query = 'sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total[1m]))'
    times = np.arange(0, 700, 7.5)
    matrix = evaluate_range(query, store, times)
    assert matrix.to_api_json()["resultType"] == "matrix"
    (series,) = matrix.series
    for t, v in zip(series.times, series.values):
        assert evaluate(query, store, float(t)).vector[0].value == v
    missing = set(times) - set(series.times)
    assert all(len(evaluate(query, store, float(t))) == 0 for t in missing)


def test_grid_store_leaves_out_missing_samples() -> None:
    s = SeriesStore()
    s.add_grid([{"__name__": "x", "code": "500"}], [0, 15, 30], [[np.nan, 1.0, 2.0]])
    assert evaluate("count_over_time(x[1h])", s, 30).vector[0].value == 2
