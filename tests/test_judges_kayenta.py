"""The Kayenta judge (``rampsim.judges.kayenta``) against ``scipy.stats.mannwhitneyu`` and Kayenta's documented rules.

* classification: on a table of cases the shift's interval equals the one obtained by inverting
  ``scipy.stats.mannwhitneyu`` (asymptotic, continuity-corrected), and the label equals the
  documented rule applied to it (NaN strategies, no data, directions, effect sizes, critical);
* scoring: critical metrics, muted metrics, group weights, the 50% Nodata rule, thresholds;
* every Kayenta config of the real-gates corpus loads, and broken configs are refused naming the field;
* properties (hypothesis): a batch equals its runs judged one by one; the interval equals the
  inverted scipy test; moving the canary up never turns High into Pass; swapping the arms swaps
  High and Low.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.stats import mannwhitneyu

from rampsim.errors import InvalidPlanError, UsageError
from rampsim.judges import (
    KayentaMetric, Label, ScoreThresholds, Verdict, classify, judge, load_kayenta_config, parse_kayenta_config,
    score,
)
from tests.gates_helpers import corpus


def _metric(name: str = "m", groups: tuple[str, ...] = ("g",), **canary: Any) -> KayentaMetric:
    return KayentaMetric.model_validate(
        {"name": name, "query": {}, "groups": list(groups), "analysisConfigurations": {"canary": canary}})


def _config(metrics: list[dict[str, Any]], weights: dict[str, float], thresholds: Optional[dict[str, float]] = None):
    classifier: dict[str, Any] = {"groupWeights": weights}
    if thresholds is not None:
        classifier["scoreThresholds"] = thresholds
    return parse_kayenta_config({"metrics": metrics, "classifier": classifier})


def _metric_entry(name: str, groups: list[str], **canary: Any) -> dict[str, Any]:
    return {"name": name, "query": {}, "groups": groups, "analysisConfigurations": {"canary": canary}}


# ---- the reference: scipy's test inverted by brute force, and the documented rule ----

def _reference_interval(x: np.ndarray, y: np.ndarray, confidence: float) -> tuple[float, float]:
    """The shifts d that ``mannwhitneyu(x - d, y)`` does not reject, as [lowest, highest] pairwise difference.

    The two-sided test at 1 - ``confidence`` is the two one-sided tests at half of it: the interval
    starts where the canary shifted by d is no longer significantly above the baseline and ends where
    it becomes significantly below. Between consecutive distinct differences the answers are
    constant, so one probe per gap (and one beyond each end) decides; the ends are clipped to the
    range of the differences, as Kayenta's and R's root finders do.
    """
    cuts = np.unique(np.subtract.outer(x, y))
    probes = np.concatenate([[cuts[0] - 1], (cuts[:-1] + cuts[1:]) / 2, [cuts[-1] + 1]])
    alpha = (1 - confidence) / 2

    def rejects(side: str) -> list[bool]:  # one test per probe, along axis 1
        tests = mannwhitneyu(x[None, :] - probes[:, None], y[None, :], axis=1, alternative=side,
                             method="asymptotic", use_continuity=True)
        return list(tests.pvalue < alpha)

    first = rejects("greater").index(False)  # the probe beyond the largest difference is never above
    last = len(probes) - 1 - rejects("less")[::-1].index(False)
    bounds = np.concatenate([[cuts[0]], cuts, [cuts[-1]]])  # gap i lies between bounds[i] and bounds[i + 1]
    return float(bounds[first]), float(bounds[last + 1])


def _clean(values: list[float], nan_strategy: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return np.nan_to_num(array, nan=0.0) if nan_strategy == "replace" else array[~np.isnan(array)]


def _documented_label(x: np.ndarray, y: np.ndarray, canary: dict[str, Any], confidence: float = 0.98) -> str:
    """Kayenta's rule written out plainly, for samples that both have data and differ."""
    low, high = _reference_interval(x, y, confidence)
    estimate = float(np.median(np.subtract.outer(x, y)))
    effect_size = canary.get("effectSize", {})
    if effect_size.get("measure") == "cles":
        effect, neutral = float(np.mean(np.sign(np.subtract.outer(x, y)) + 1) / 2), 0.5
    else:
        effect = np.nan if 0 in (x.mean(), y.mean()) else float(x.mean() / y.mean())
        neutral = 1.0
    direction = canary.get("direction", "either")
    band = 0.25 * abs(estimate)
    if direction in ("increase", "either") and low > band and (
            np.isnan(effect) or effect >= effect_size.get("allowedIncrease", neutral)):
        return "High"
    if direction in ("decrease", "either") and high < -band and (
            np.isnan(effect) or effect <= effect_size.get("allowedDecrease", neutral)):
        return "Low"
    return "Pass"


_RNG = np.random.default_rng(20240607)


def _sample(mean: float, sd: float, size: int = 30, step: float = 1 / 8) -> list[float]:
    """Normal values on a grid of ``step`` (a power of two), so that every difference is exact in floating point."""
    return list(np.round(_RNG.normal(mean, sd, size) / step) * step)


_BASE = _sample(100, 5)
_NOISE = _sample(100, 5)
_UP = _sample(150, 5)
_DOWN = _sample(60, 5)
_UP10 = _sample(110, 5.5)
_TIED = _sample(10, 2, 40, step=1)
_TIED_UP = _sample(13, 2, 40, step=1)
_GAPPY = [v if i % 4 else float("nan") for i, v in enumerate(_UP)]
_ERRORS = [float("nan") if i % 3 else 2.0 for i in range(30)]  # an error counter: no series when no error
_NONE = [float("nan")] * 30

# (case, canary, baseline, analysisConfigurations.canary, expected label)
CASES = [
    ("increase is High", _UP, _BASE, {"direction": "increase"}, "High"),
    ("increase is not failed by direction decrease", _UP, _BASE, {"direction": "decrease"}, "Pass"),
    ("decrease is Low under either", _DOWN, _BASE, {"direction": "either"}, "Low"),
    ("decrease passes direction increase", _DOWN, _BASE, {"direction": "increase"}, "Pass"),
    ("decrease is Low under decrease", _DOWN, _BASE, {"direction": "decrease"}, "Low"),
    ("noise passes", _NOISE, _BASE, {}, "Pass"),
    ("10% up, allowed 20%: Pass", _UP10, _BASE, {"direction": "increase", "effectSize": {"allowedIncrease": 1.2}}, "Pass"),
    ("10% up, allowed 5%: High", _UP10, _BASE, {"direction": "increase", "effectSize": {"allowedIncrease": 1.05}}, "High"),
    ("40% down, allowed to 0.5: Pass", _DOWN, _BASE, {"effectSize": {"allowedDecrease": 0.5}}, "Pass"),
    ("cles reaches its bound", _UP, _BASE, {"effectSize": {"measure": "cles", "allowedIncrease": 0.9}}, "High"),
    ("cles below its bound", _UP10, _BASE, {"effectSize": {"measure": "cles", "allowedIncrease": 0.99}}, "Pass"),
    ("ties everywhere", _TIED_UP, _TIED, {"direction": "increase"}, "High"),
    ("NaN intervals removed", _GAPPY, _BASE, {"nanStrategy": "remove"}, "High"),
    # errors in a third of the intervals, none in the baseline: 600 of the 900 differences are 0, the
    # interval and the estimate are [0, 0] and 0, so Kayenta's rank test passes it (the ratio is NaN)
    ("NaN as zero errors: mostly ties, passes", _ERRORS, _NONE, {"nanStrategy": "replace", "direction": "increase"}, "Pass"),
    ("NaN as zero errors, more often: High", [2.0] * 20 + [float("nan")] * 10, _NONE,
     {"nanStrategy": "replace", "direction": "increase"}, "High"),
    ("Kayenta's MannWhitneySuite", [10.0, 20, 30, 40], [1.0, 2, 3, 4], {}, "High"),
]


@pytest.mark.parametrize("case,canary,baseline,analysis,expected", CASES, ids=[c[0] for c in CASES])
def test_classification_matches_scipy_and_the_documented_rule(case, canary, baseline, analysis, expected):
    confidence = 0.95 if case == "Kayenta's MannWhitneySuite" else 0.98
    result = classify(canary, baseline, _metric(**analysis), confidence=confidence)
    x, y = _clean(canary, analysis.get("nanStrategy", "remove")), _clean(baseline, analysis.get("nanStrategy", "remove"))
    assert (float(result.lower), float(result.upper)) == _reference_interval(x, y, confidence)
    assert float(result.estimate) == pytest.approx(float(np.median(np.subtract.outer(x, y))))
    assert (int(result.canary_count), int(result.baseline_count)) == (len(x), len(y))
    assert result.labels()[()] == _documented_label(x, y, analysis, confidence) == expected, result.reason()


def test_kayentas_own_mann_whitney_expectations():
    """kayenta-mannwhitney ``MannWhitneySuite``: 10..40 against 1..4 at 95% gives [6, 39], estimate 22.5."""
    result = classify([10.0, 20, 30, 40], [1.0, 2, 3, 4], _metric(), confidence=0.95)
    assert (result.lower, result.upper, result.estimate) == (6.0, 39.0, 22.5)


NO_DATA = [
    ("all NaN, remove: Nodata", {"nanStrategy": "remove"}, "Nodata", False),
    ("all NaN, remove, critical: Nodata that fails the canary", {"critical": True}, "Nodata", True),
    ("all NaN, mustHaveData: NodataFailMetric", {"mustHaveData": True}, "NodataFailMetric", False),
    ("mustHaveData and critical: critical Nodata", {"mustHaveData": True, "critical": True}, "Nodata", True),
]


@pytest.mark.parametrize("case,analysis,expected,critical", NO_DATA, ids=[c[0] for c in NO_DATA])
def test_no_data(case, analysis, expected, critical):
    result = classify(_NONE, _BASE, _metric(**analysis))
    assert result.labels()[()] == expected
    assert bool(result.failed_critically()) is critical
    assert "Missing data for m" in result.reason()


def test_replace_turns_all_nan_into_zeros():
    both_empty = classify(_NONE, _NONE, _metric(nanStrategy="replace"))
    assert both_empty.labels()[()] == "Pass" and not both_empty.tested
    canary_empty = classify(_NONE, _BASE, _metric(nanStrategy="replace"))
    assert canary_empty.labels()[()] == "Low" and int(canary_empty.canary_count) == len(_NONE)


def test_infinities_count_as_missing():
    assert classify([np.inf] * 5, _BASE, _metric()).labels()[()] == "Nodata"


@pytest.mark.parametrize("canary,baseline,label", [
    ([3.0, 1, 2], [1.0, 2, 3], "Pass"),          # identical once sorted
    ([5.0] * 4, [5.0] * 7, "Pass"),              # one single value on both sides
    ([5.0] * 20, [3.0] * 20, "High"),            # two constants: Kayenta adds noise; the limit is exact
    ([5.0], [3.0], "Error"),                     # one interval each: Kayenta's solver fails, all tied
])
def test_special_samples(canary, baseline, label):
    result = classify(canary, baseline, _metric(critical=True))
    assert result.labels()[()] == label
    assert not result.failed_critically() or label == "High"


def test_critical_thresholds():
    moderate = _metric(critical=True, effectSize={"criticalIncrease": 2.0})  # +50%: High, not critical
    severe = _metric(critical=True, effectSize={"criticalIncrease": 1.3})
    assert classify(_UP, _BASE, moderate).labels()[()] == "High"
    assert not classify(_UP, _BASE, moderate).failed_critically()
    assert classify(_UP, _BASE, severe).failed_critically()
    assert classify(_UP, _BASE, _metric()).failed_critically() == np.False_  # not a critical metric


def test_outliers_removed_by_the_iqr_fences():
    """Fences at the wider of Q1/Q3 -+ 3 IQR and P1/P99 (Commons Math's percentile): P99 is the maximum below 100 intervals."""
    steady = _sample(100, 5, 150)
    spiky = steady[:-1] + [10_000.0]
    kept = classify(spiky, _BASE, _metric(outliers={"strategy": "keep"}))
    removed = classify(spiky, _BASE, _metric(outliers={"strategy": "remove"}))
    assert int(kept.canary_count) == len(spiky) and int(removed.canary_count) == len(spiky) - 1
    assert float(removed.effect) == pytest.approx(np.mean(steady[:-1]) / np.mean(_BASE))
    short = classify(spiky[-30:], _BASE, _metric(outliers={"strategy": "remove"}))
    assert int(short.canary_count) == 30


def test_scaling_the_canary_up_can_turn_high_into_pass():
    """Kayenta's band is 25% of the estimated shift, so a bimodal canary scaled 4x can pass; shifting it never does."""
    canary, baseline = np.array([10.0] * 10 + [100.0] * 10), np.array([0.0] * 10 + [89.0] * 10)
    metric = _metric(direction="increase", effectSize={"allowedIncrease": 1.1})
    assert classify(canary, baseline, metric).labels()[()] == "High"
    scaled = classify(4 * canary, baseline, metric)
    assert scaled.labels()[()] == "Pass"
    assert float(scaled.lower) <= 0.25 * float(scaled.estimate)
    assert (float(scaled.lower), float(scaled.upper)) == _reference_interval(4 * canary, baseline, 0.98)


# ---- scoring ----

def test_critical_failure_fails_the_whole_canary():
    config = _config([_metric_entry("latency", ["latency"], critical=True, direction="increase"),
                      *[_metric_entry(f"ok{i}", ["other"]) for i in range(9)]],
                     {"latency": 10, "other": 90}, {"pass": 80, "marginal": 50})
    series = {"latency": (_UP, _BASE), **{f"ok{i}": (_NOISE, _BASE) for i in range(9)}}
    judged = judge(config, series)
    assert judged.verdicts()[()] == "Fail" and float(judged.score) == 0.0
    assert judged.reason().startswith("Canary Failed: latency was classified as High (critical)")
    relaxed = judge(config.model_copy(update={"metrics": [
        config.metrics[0].model_copy(update={"analysisConfigurations": _metric(direction="increase").analysisConfigurations}),
        *config.metrics[1:]]}), series)
    assert float(relaxed.score) == 90.0 and relaxed.verdicts()[()] == "Pass"  # the same failure, not critical


def test_muted_metrics_do_not_count():
    """kayenta-integration-tests ``muted-metric.json``: a failing critical metric that is muted; the canary passes."""
    config = load_kayenta_config(corpus("kayenta") / (
        "spinnaker__kayenta__kayenta-integration-tests__src__test__resources__canary-configs__prometheus__muted-metric.json"))
    judged = judge(config, {"Failing metric": (_UP, _BASE), "Successful metric": (_NOISE, _BASE)})
    assert judged.metrics[0].labels()[()] == "High" and bool(judged.metrics[0].failed_critically())
    assert judged.verdicts()[()] == "Pass" and float(judged.score) == 100.0


def test_group_weights_and_unweighted_groups():
    """Weighted groups count their weight, unweighted ones share the rest; a group's score is its share of passes."""
    config = _config([_metric_entry("a1", ["a"]), _metric_entry("a2", ["a"]), _metric_entry("b1", ["b"]),
                      _metric_entry("c1", ["c"], mustHaveData=True), _metric_entry("d1", ["d"])],
                     {"a": 40}, {"pass": 95, "marginal": 50})
    judged = judge(config, {"a1": (_UP, _BASE), "a2": (_NOISE, _BASE), "b1": (_NOISE, _BASE),
                            "c1": (_NONE, _BASE), "d1": (_NONE, _BASE)})
    share = (100 - 40) / 3
    expected = 40 * (1 / 2) + share * 1.0 + share * 0.0 + share * 1.0  # c: NodataFailMetric fails, d: Nodata counts 100
    assert float(judged.score) == pytest.approx(round(expected, 2))
    assert float(judged.group_scores["a"]) == 50.0 and np.isnan(judged.group_scores["d"])
    assert judged.verdicts()[()] == "Marginal"
    assert judged.reason().endswith("not passed: a1 High, c1 NodataFailMetric, d1 Nodata")


@pytest.mark.parametrize("passing,verdict", [(4, "Pass"), (3, "Marginal"), (1, "Fail")])
def test_thresholds_are_inclusive(passing, verdict):
    config = _config([_metric_entry(f"m{i}", ["g"]) for i in range(4)], {"g": 100}, {"pass": 100, "marginal": 75})
    judged = judge(config, {f"m{i}": ((_NOISE if i < passing else _UP), _BASE) for i in range(4)})
    assert float(judged.score) == 100 * passing / 4 and judged.verdicts()[()] == verdict


def test_half_nodata_fails():
    config = _config([_metric_entry("x", ["g"]), _metric_entry("y", ["g"])], {"g": 100}, {"pass": 50, "marginal": 0})
    judged = judge(config, {"x": (_NONE, _BASE), "y": (_NOISE, _BASE)})
    assert judged.verdicts()[()] == "Fail" and "NODATA" in judged.reason()


def test_thresholds_come_from_the_call_or_the_config():
    config = _config([_metric_entry("x", ["g"])], {"g": 100})
    with pytest.raises(UsageError, match="scoreThresholds"):
        judge(config, {"x": (_NOISE, _BASE)})
    judged = judge(config, {"x": (_NOISE, _BASE)}, ScoreThresholds.model_validate({"pass": 90, "marginal": 50}))
    assert judged.verdicts()[()] == "Pass"


def test_judge_needs_exactly_the_configs_metrics():
    config = _config([_metric_entry("x", ["g"])], {"g": 100}, {"pass": 90, "marginal": 50})
    with pytest.raises(UsageError, match="no series for 'x'.*does not have: 'y'"):
        judge(config, {"y": (_NOISE, _BASE)})


def test_a_batch_is_judged_per_run():
    """Runs × intervals in, one score per run out; each run as judged alone."""
    rng = np.random.default_rng(7)
    canary = rng.normal(100, 5, (6, 25)) + np.array([0, 0, 30, 30, 0, 0])[:, None]
    baseline = rng.normal(100, 5, (6, 25))
    canary[5] = np.nan
    config = _config([_metric_entry("x", ["g"], direction="increase", critical=True)], {"g": 100},
                     {"pass": 90, "marginal": 50})
    batch = judge(config, {"x": (canary, baseline)})
    alone = [judge(config, {"x": (canary[i], baseline[i])}) for i in range(6)]
    assert list(batch.verdicts()) == [a.verdicts()[()] for a in alone]
    assert list(batch.verdicts()[2:4]) == ["Fail", "Fail"] and batch.verdicts()[5] == "Fail"
    assert [batch.reason(i) for i in range(6)] == [a.reason() for a in alone]


def test_any_leading_axes_and_empty_series():
    """Runs may have any shape in front of the intervals; no intervals at all is no data."""
    canary = np.arange(24.0).reshape(2, 3, 4)
    batch = classify(canary, np.full((2, 3, 5), 2.0), _metric())
    assert batch.label.shape == (2, 3)
    assert batch.labels()[1, 2] == classify(canary[1, 2], np.full(5, 2.0), _metric()).labels()[()]
    assert classify([], _BASE, _metric()).labels()[()] == "Nodata"
    assert classify(np.zeros((0, 5)), np.zeros((0, 5)), _metric()).label.shape == (0,)
    with pytest.raises(UsageError, match="canary runs"):
        classify(np.ones((2, 4)), np.ones((3, 4)), _metric())


# ---- configs ----

def _kayenta_files() -> list[Path]:
    return sorted(corpus("kayenta").glob("*.json"))


def test_the_corpus_has_kayenta_configs():
    assert len(_kayenta_files()) == 7


@pytest.mark.parametrize("path", _kayenta_files(), ids=lambda p: p.name.split("__")[-1])
def test_every_shipped_config_loads(path):
    config = load_kayenta_config(path)
    raw = json.loads(path.read_text())
    assert [m.name for m in config.metrics] == [m["name"] for m in raw["metrics"]]
    assert config.classifier.groupWeights == raw["classifier"]["groupWeights"]
    for metric, entry in zip(config.metrics, raw["metrics"]):
        written = (entry.get("analysisConfigurations") or entry.get("extensions") or {}).get("canary", {})
        assert metric.analysis.critical is written.get("critical", False)
        assert metric.analysis.direction.value == written.get("direction", "either")


def test_the_user_config_reads_as_written():
    config = load_kayenta_config(corpus("kayenta") / "difranca__kayenta-rollout__kayenta__config.json")
    analysis = config.metrics[0].analysis
    assert (analysis.critical, analysis.nanStrategy.value, analysis.direction.value) == (True, "remove", "increase")
    assert (analysis.effectSize.bound("allowedIncrease"), analysis.effectSize.bound("criticalIncrease")) == (1.2, 2.0)
    assert analysis.effectSize.bound("allowedDecrease") == 1.0 and config.classifier.scoreThresholds is None


def _problems(data: Any) -> str:
    with pytest.raises(InvalidPlanError) as raised:
        parse_kayenta_config(data, "canary.json")
    return str(raised.value)


def _with(canary: dict[str, Any], **classifier: Any) -> dict[str, Any]:
    return {"metrics": [{"name": "latency", "query": {"type": "prometheus"}, "groups": ["g"],
                         "analysisConfigurations": {"canary": canary}}],
            "classifier": {"groupWeights": {"g": 100}, **classifier}}


@pytest.mark.parametrize("data,message", [
    (_with({"direction": "increse"}),
     "canary.json: metrics[0] (latency).analysisConfigurations.canary.direction: Input should be 'increase'"),
    (_with({"nanStrategy": "zero"}), "metrics[0] (latency).analysisConfigurations.canary.nanStrategy"),
    (_with({"effectSize": {"allowedIncrese": 1.2}}),
     "canary.effectSize.allowedIncrese: unknown field; did you mean 'allowedIncrease'?"),
    (_with({"effectSize": {"allowedIncrease": -1}}), "effectSize.allowedIncrease: Input should be greater than 0"),
    (_with({}, scoreThresholds={"pass": 50, "marginal": 75}), "classifier.scoreThresholds: marginal (75) is above pass (50)"),
    ({**_with({}), "classifier": {"groupWeights": {"g": 80, "h": 30}}}, "weights add up to 110"),
    ({**_with({}), "classifier": {"groupWeights": {"g": 50, "latency-group": 50}}}, "no metric is in group 'latency-group'"),
    ({**_with({}), "judge": {"name": "MyJudge"}}, "judge.name: unknown judge 'MyJudge'"),
    # bounds a common-language effect size (0 to 1) could never reach: the metric could never fail on them
    (_with({"effectSize": {"measure": "cles", "allowedIncrease": 1.2}}), "allowedIncrease 1.2: the common-language"),
    (_with({"effectSize": {"measure": "cles", "criticalIncrease": 2}}), "criticalIncrease 2: the common-language"),
    # weights no canary could earn: a group of muted metrics only, or every group weighted short of 100
    (_with({"muted": True}), "every metric of group 'g' is muted"),
    ({**_with({}), "classifier": {"groupWeights": {"g": 90}}}, "add up to 90, not 100, and every group is weighted"),
    # JSON's bools only: "yes" (or 0) is not read as true (or false)
    (_with({"critical": "yes"}), "analysisConfigurations.canary.critical: Input should be a valid boolean"),
    (_with({"mustHaveData": 0}), "analysisConfigurations.canary.mustHaveData: Input should be a valid boolean"),
    ({**_with({}), "colour": "red"}, "colour: unknown field"),
])
def test_broken_configs_are_refused_naming_the_field(data, message):
    assert message in _problems(data)


def test_cles_bounds_up_to_one_and_weights_with_an_unweighted_group_at_zero_are_accepted():
    """A bound of 1 can be reached; weights of 100 with an unweighted group is what Kayenta's own judge tests write
    (its metrics count only when they fail critically): both accepted, the second named by ``weightless``."""
    config = parse_kayenta_config(_with({"effectSize": {"measure": "cles", "allowedIncrease": 1.0}}))
    assert config.metrics[0].analysis.effectSize.allowedIncrease == 1.0 and config.weightless() == []
    both = _with({})
    both["metrics"].append({"name": "other", "query": {"type": "prometheus"}, "groups": ["h"]})
    assert parse_kayenta_config(both).weightless() == ["other"]


def test_the_metrics_of_a_group_weighted_zero_are_weightless_as_in_no_weighted_group():
    """Weights of 0 and 100 add up to 100 too: the group weighted 0 earns nothing, so its metrics (unless also in a
    group with weight) can lower the score only by failing critically."""
    data = _with({})
    data["classifier"]["groupWeights"] = {"g": 0, "h": 100}
    data["metrics"] += [{"name": "both", "query": {"type": "prometheus"}, "groups": ["g", "h"]},
                        {"name": "other", "query": {"type": "prometheus"}, "groups": ["h"]}]
    config = parse_kayenta_config(data)
    assert config.weightless() == ["latency"]
    assert config.classifier.weights(["g", "h"]) == {"g": 0, "h": 100}


def test_a_file_with_a_byte_order_mark_loads(tmp_path):
    path = tmp_path / "canary.json"
    path.write_text(json.dumps(_with({})), encoding="utf-8-sig")
    assert load_kayenta_config(path).metrics[0].name == "latency"


def test_a_file_that_is_not_json(tmp_path):
    path = tmp_path / "canary.json"
    path.write_text('{"metrics": [\n  oops]}')
    with pytest.raises(InvalidPlanError, match=r"canary.json:2: not JSON"):
        load_kayenta_config(path)


# ---- properties ----

_VALUES = st.integers(1, 1000).map(float)
_SERIES = arrays(np.float64, st.integers(1, 9), elements=_VALUES)


@given(st.integers(1, 5), st.integers(2, 9), st.integers(2, 9), st.integers(0, 2**32 - 1),
       st.sampled_from(["remove", "replace"]), st.sampled_from(["increase", "decrease", "either"]))
def test_batch_equals_one_by_one(runs, m, n, seed, nan_strategy, direction):
    rng = np.random.default_rng(seed)
    canary = np.round(rng.normal(100, 10, (runs, m)) + rng.choice([0, 20], (runs, 1)))
    baseline = np.round(rng.normal(100, 10, (runs, n)))
    canary[rng.random(canary.shape) < 0.2] = np.nan
    metric = _metric(nanStrategy=nan_strategy, direction=direction)
    batch = classify(canary, baseline, metric)
    for run in range(runs):
        alone = classify(canary[run], baseline[run], metric)
        for field in ("label", "critical", "lower", "upper", "estimate", "effect", "canary_count"):
            np.testing.assert_array_equal(getattr(batch, field)[run], getattr(alone, field), err_msg=field)


@given(_SERIES, _SERIES, st.sampled_from([0.8, 0.9, 0.95, 0.98, 0.99]))
def test_interval_is_the_inverted_scipy_test(canary, baseline, confidence):
    result = classify(canary, baseline, _metric(), confidence=confidence)
    if result.tested:  # not identical, not one value, not one interval each
        assert (float(result.lower), float(result.upper)) == _reference_interval(canary, baseline, confidence)
        assert result.labels()[()] == _documented_label(canary, baseline, {}, confidence)


@given(_SERIES, _SERIES, st.integers(0, 1000), st.sampled_from(["meanRatio", "cles"]))
def test_moving_the_canary_up_keeps_high(canary, baseline, shift, measure):
    metric = _metric(direction="increase", effectSize={"measure": measure})
    if classify(canary, baseline, metric).label == Label.HIGH:
        assert classify(canary + shift, baseline, metric).label == Label.HIGH


@given(_SERIES, _SERIES)
def test_swapping_the_arms_swaps_high_and_low(canary, baseline):
    forward, backward = classify(canary, baseline, _metric()), classify(baseline, canary, _metric())
    swap = {Label.HIGH: Label.LOW, Label.LOW: Label.HIGH}
    assert backward.label == swap.get(Label(int(forward.label)), Label(int(forward.label)))


def test_score_rejects_results_of_different_runs():
    metric = _metric()
    one, two = classify(_NOISE, _BASE, metric), classify([_NOISE, _NOISE], [_BASE, _BASE], metric)
    with pytest.raises(UsageError, match="different runs"):
        score([one, two], _config([_metric_entry("m", ["g"])], {"g": 100}).classifier,
              ScoreThresholds.model_validate({"pass": 90, "marginal": 50}))
    assert score([two], _config([_metric_entry("m", ["g"])], {"g": 100}).classifier,
                 ScoreThresholds.model_validate({"pass": 90, "marginal": 50})).verdict.tolist() == [Verdict.PASS] * 2
