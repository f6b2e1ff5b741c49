"""The public face of rampsim.promql: results shaped like Prometheus's API, refusals, semantics, stores."""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rampsim.errors import RampsimError, UsageError
from rampsim.promql import (QueryError, SeriesStore, Semantics, UnsupportedQuery, as_semantics, evaluate,
                            evaluate_range)
from rampsim.promql.parse import Binary, Call, Number, RangeSelector, Selector, parse


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


INF = math.inf


@pytest.mark.parametrize("query, at, expected", [
    ("clamp_min(gg, Inf)", 15, INF), ("clamp_max(gg, -Inf)", 15, -INF),      # NaN against an infinite bound
    ("clamp_min(gg, NaN)", 30, INF), ("clamp_max(gg, NaN)", 60, -INF),      # an infinite value against NaN
    ("clamp(gg, NaN, Inf)", 30, INF), ("clamp(gg, -Inf, NaN)", 60, -INF),
    ("clamp(gg, -Inf, Inf)", 15, math.nan), ("clamp_min(gg, NaN)", 60, math.nan), ("clamp_max(gg, NaN)", 30, math.nan),
    ("clamp_min(gg, 1)", 15, math.nan), ("clamp_max(gg, 1)", 30, 1.0), ("clamp(gg, -1, 1)", 60, -1.0),
])
@pytest.mark.parametrize("semantics", ["2.42.0", "2.55", "3"])
def test_clamp_takes_gos_max_and_min_where_nan_meets_infinity(query, at, expected, semantics):
    """``clamp*`` are Go's ``math.Max(min, math.Min(max, v))``: ``+Inf`` wins a max and ``-Inf`` a min even against
    NaN (NumPy's maximum and minimum gave NaN); values read off Prometheus 2.42."""
    s = SeriesStore()
    s.add({"__name__": "gg"}, [0, 15, 30, 45, 60], [0.0, math.nan, INF, 2.0, -INF])
    (sample,) = evaluate(query, s, at, semantics=semantics).vector
    assert sample.value == pytest.approx(expected, nan_ok=True)


def test_clamp_keeps_the_sign_of_zero_as_go_does():
    s = SeriesStore()
    s.add({"__name__": "z"}, [0], [-0.0])
    assert math.copysign(1, evaluate("clamp_min(z, 0)", s, 0).vector[0].value) == 1       # Max(+0, -0) = +0
    assert math.copysign(1, evaluate("clamp_max(-z, -0)", s, 0).vector[0].value) == -1    # Min(-0, +0) = -0


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


@pytest.mark.parametrize("query, message", [
    ("rate(http_requests_total[60])", "missing unit character in duration"),
    ("rate(http_requests_total[1.5])", "missing unit character in duration"),
    ("rate(http_requests_total[1e1])", "missing unit character in duration"),
    ("http_requests_total offset 90", 'unexpected number "90" in offset, expected duration'),
    ("sum(rate(http_requests_total[1m] offset -90))", 'unexpected number "90" in offset, expected duration'),
])
def test_a_duration_without_a_unit_parses_from_2_53_on(store: SeriesStore, query: str, message: str) -> None:
    """Prometheus 2.42 refuses ``[60]`` and ``offset 90`` (its messages); rampsim evaluated them as seconds under
    every semantics. Number durations came with prometheus/prometheus#9138, in 2.53."""
    for semantics in ("2.42.0", "2.48.1", "2.52"):
        with pytest.raises(QueryError, match=re.escape(message)):
            evaluate(query, store, 300, semantics=semantics)
    for semantics in ("2.53", "2.55", "3"):
        evaluate(query, store, 300, semantics=semantics)
    with_unit = re.sub(r"\[(60|1\.5|1e1)\]", "[1m]", query).replace("offset 90", "offset 1m30s").replace("-90", "-1m")
    assert len(evaluate(with_unit, store, 300, semantics="2.42.0")) > 0
    assert evaluate("rate(http_requests_total[60])", store, 300, semantics="2.55").vector[0].value == \
        evaluate("rate(http_requests_total[1m])", store, 300, semantics="2.55").vector[0].value


@pytest.mark.parametrize("semantics", ["2.42.0", "2.55", "3"])
def test_a_number_beside_a_duration_is_no_duration(store: SeriesStore, semantics: str) -> None:
    """A divisor, a label value written like a range and a comparison's operand are no durations: refused by no
    version before 2.53 (as ``[60]`` and ``offset 90`` are), read as themselves by every version."""
    t = np.arange(0, 601, 15.0)
    store.add({"__name__": "http_requests_total", "code": "[60]", "pod": "b"}, t, 2 * t)   # 600 at 300 s

    divided = parse("sum(http_requests_total) / 90")
    assert isinstance(divided, Binary) and divided.op == "/" and divided.rhs == Number(90.0)
    (sample,) = evaluate("sum(http_requests_total) / 90", store, 300, semantics=semantics).vector
    assert sample.value == pytest.approx((3000 + 30 + 600) / 90, rel=1e-12)

    selector = parse('http_requests_total{code="[60]"}')
    assert isinstance(selector, Selector) and ("code", "=", "[60]") in [(m.name, m.op, m.value)
                                                                         for m in selector.matchers]
    (sample,) = evaluate('http_requests_total{code="[60]"}', store, 300, semantics=semantics).vector
    assert dict(sample.labels)["code"] == "[60]" and sample.value == 600.0

    compared = parse("http_requests_total > 60")
    assert isinstance(compared, Binary) and compared.op == ">" and compared.rhs == Number(60.0)
    kept = evaluate("http_requests_total > 60", store, 300, semantics=semantics).vector
    assert sorted((dict(s.labels)["code"], s.value) for s in kept) == [("200", 3000.0), ("[60]", 600.0)]   # not 30


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


# ---------------------------------------------------------------- 3.x's anchored/smoothed modifiers

def _modified(query: str) -> tuple[str, int, int]:
    """The modifier, offset and range (0: an instant selector) of the only selector of ``query``."""
    node = parse(query)
    while isinstance(node, (Call, Binary)):
        node = node.args[0] if isinstance(node, Call) else node.lhs
    if isinstance(node, RangeSelector):
        return node.selector.modifier, node.selector.offset_ms, node.range_ms
    assert isinstance(node, Selector)
    return node.modifier, node.offset_ms, 0


@pytest.mark.parametrize("query,expected", [
    ("rate(x[5m] anchored)", ("anchored", 0, 300_000)),
    ("rate(x[5m] offset 1m anchored)", ("anchored", 60_000, 300_000)),
    ("rate(x[5m] anchored offset 1m)", ("anchored", 60_000, 300_000)),
    ('increase(x{a="b",}[5m] SMOOTHED)', ("smoothed", 0, 300_000)),
    ("increase({__name__='x'}[5m]  smoothed )", ("smoothed", 0, 300_000)),
    ("x smoothed", ("smoothed", 0, 0)),
    ('x{a="b"} offset -100s smoothed + 0', ("smoothed", -100_000, 0)),
    ("# anchored, smoothed\nrate(x[1m] # a comment: anchored\n anchored)", ("anchored", 0, 60_000)),
    ("rate(x[1m])", ("", 0, 60_000)),
])
def test_modifiers_attach_to_the_selector_before_them(query: str, expected: tuple[str, int, int]) -> None:
    assert _modified(query) == expected


@pytest.mark.parametrize("query,value", [
    ('rate(x{a="] anchored"}[1m])', "] anchored"),
    ("rate(x{a='x[1m] smoothed'}[1m] anchored)", "x[1m] smoothed"),
    ('rate(x{a=`"] anchored`}[1m])', '"] anchored'),
    ('x{anchored="smoothed"}', "smoothed"),
])
def test_modifier_words_in_strings_and_label_names_are_left_alone(query: str, value: str) -> None:
    node = parse(query)
    selector = node.args[0].selector if isinstance(node, Call) else node
    assert isinstance(selector, Selector)
    assert [m.value for m in selector.matchers if m.name not in ("__name__",)] == [value]
    assert selector.modifier == ("anchored" if query.endswith("anchored)") else "")


@given(value=st.text(alphabet='ab ]}[{)("\'`\\#,:=~anchoredsmth', max_size=30),
       modifier=st.sampled_from(["anchored", "smoothed"]))
def test_any_label_value_survives_the_modifier_pass(value: str, modifier: str) -> None:
    node = parse(f"increase(x{{a={json.dumps(value)}}}[1m] {modifier})")
    assert isinstance(node, Call) and isinstance(node.args[0], RangeSelector)
    selector = node.args[0].selector
    assert selector.modifier == modifier
    assert [(m.name, m.value) for m in selector.matchers] == [("__name__", "x"), ("a", value)]


@pytest.mark.parametrize("query,message", [      # Prometheus's parser errors (setAnchored/setSmoothed)
    ("rate(x[5m:1m] anchored)", "anchored modifier is not supported for subqueries"),
    ("rate(x[1m]) smoothed", "smoothed modifier not implemented"),
    ("sum(x) anchored", "anchored modifier not implemented"),
    ("x[1m] anchored smoothed", "anchored and smoothed modifiers cannot be used together"),
    ("(x)[1m] anchored", "ranges only allowed for vector selectors"),
])
def test_modifiers_where_prometheus_rejects_them(query: str, message: str) -> None:
    with pytest.raises(QueryError, match=re.escape(message)):
        parse(query)


def test_modifiers_only_in_3_7_and_later_and_only_with_their_functions(store: SeriesStore) -> None:
    for query in ("increase(http_requests_total[1m] anchored)", "http_requests_total smoothed"):
        for old in (2, "2.55", "3.0", "3.6"):
            with pytest.raises(QueryError, match=query.split()[-1].rstrip(")") + " modifier"):
                evaluate(query, store, 60, semantics=old)
        assert len(evaluate(query, store, 60, semantics="3.7")) == 2
    # eval's messages, as Prometheus's extended_vectors.test expects them (data or not).
    for query, message in [
        ("deriv(nothing[3m] smoothed)", "smoothed modifier can only be used with: delta, increase, rate - not with deriv"),
        ("max_over_time(http_requests_total[3m] anchored)",
         "anchored modifier can only be used with: changes, delta, increase, rate, resets - not with max_over_time"),
        ("sum(irate(http_requests_total[3m] anchored))",
         "anchored modifier can only be used with: changes, delta, increase, rate, resets - not with irate"),
    ]:
        with pytest.raises(QueryError, match=re.escape(message)):
            evaluate(query, store, 60)
    with pytest.raises(UnsupportedQuery) as caught:
        evaluate("http_requests_total anchored", store, 60)
    assert caught.value.construct == "anchored modifier on an instant selector"


def test_anchored_increase_is_the_closed_window_difference() -> None:
    """On the scrape grid, ``increase(x[w] anchored)`` is ``x(t) - x(t-w)`` plus resets: no extrapolation."""
    s = SeriesStore()
    s.add({"__name__": "c"}, [0, 15, 30, 45, 60, 75], [3, 5, 9, 2, 4, 8])
    for t, w, expected in [(60, 60, 4 - 3 + 9), (75, 60, 8 - 5 + 9), (45, 45, 2 - 3 + 9), (75, 15, 8 - 4)]:
        assert [x.value for x in evaluate(f"increase(c[{w}s] anchored)", s, t)] == [float(expected)]
    assert evaluate("increase(c[1m])", s, 75).vector[0].value != 8 - 5 + 9      # 3.x without it extrapolates


@pytest.mark.parametrize("matcher, expected", [
    ('v=~"5[[:digit:]]+"', {"503"}),        # POSIX classes: Python read "[[:digit:]]" as a set of characters
    ('v=~"[[:digit:]]"', {"5"}),
    ('v!~"[[:digit:]]+"', {"é", "٣", "x\vy", "a{,2}", "aa"}),
    ('v=~"\\\\d"', {"5"}),                   # RE2's \\d and \\w are ASCII: Python's matched the Arabic-Indic digit
    ('v=~"\\\\w"', {"5"}),
    ('v=~"x\\\\sy"', set()),                 # RE2's \\s has no vertical tab
    ('v=~"a{,2}"', {"a{,2}"}),               # RE2 reads "{,2}" as text, Python as a repeat
    ('v=~"5\\\\b.*"', {"5"}),                  # an ASCII word boundary
])
def test_label_regexes_match_as_re2_matches_them(matcher, expected):
    """Checked against Prometheus 2.42 in review: each of these matched other series than Prometheus's (an error
    numerator written with [[:digit:]] came back empty, and `or vector(0)` passed the gate)."""
    store = SeriesStore()
    for value in ("5", "503", "é", "٣", "x\vy", "a{,2}", "aa"):
        store.add({"__name__": "r", "v": value}, [0], [1.0])
    result = evaluate(f"r{{{matcher}}}", store, 0).to_api_json()["result"]
    assert {item["metric"]["v"] for item in result} == expected


def test_a_range_query_leaves_out_series_without_a_point(store: SeriesStore) -> None:
    """Prometheus's matrix has no series without a value at any step; both http_requests_total series came back
    with empty values for a filter nothing passes (upstream operators.test, reviewed against Prometheus 2.42)."""
    assert evaluate_range("http_requests_total > 1e9", store, np.arange(0, 301, 60.0)).to_api_json()["result"] == []
    kept = evaluate_range("http_requests_total > 3000", store, np.arange(0, 601, 60.0)).to_api_json()["result"]
    assert [item["metric"]["code"] for item in kept] == ["200"]


def test_a_case_insensitive_regex_folds_every_letter_as_re2_does():
    """Compiling with re.ASCII (for RE2's ASCII \\d and \\w) made (?i) fold ASCII letters only: (?i)café missed
    CAFÉ, which Prometheus matches."""
    store = SeriesStore()
    for value in ("CAFÉ", "café", "ÉCHEC", "cafe"):
        store.add({"__name__": "r", "v": value}, [0], [1.0])
    for matcher, expected in (('v=~"(?i)café"', {"CAFÉ", "café"}), ('v=~"(?i)échec"', {"ÉCHEC"}),
                              ('v=~"(?i)\\\\w+"', {"cafe"})):
        result = evaluate(f"r{{{matcher}}}", store, 0).to_api_json()["result"]
        assert {item["metric"]["v"] for item in result} == expected, matcher
