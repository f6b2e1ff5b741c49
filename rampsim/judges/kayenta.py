"""The Kayenta judge (NetflixACAJudge-v1.0): each metric's canary intervals against the baseline's, then a weighted score.

Everything works on batches: a metric's canary and baseline series are arrays whose last axis is the
analysis intervals and whose leading axes are runs (``(runs, intervals)``, or one 1-D series), so a
sweep calls :func:`classify` once per metric, not once per run, and :func:`score` once.

The rules, from spinnaker/kayenta ``kayenta-judge`` (Scala) and the Spinnaker judge docs
(spinnaker.io ``docs/guides/user/canary/judge``):

1. **Cleaning** (``NetflixACAJudge.transformMetric``, ``Transforms``): NaN intervals are dropped
   (``nanStrategy: remove``) or become 0.0 (``replace``); with ``outliers.strategy: remove`` values
   outside ``[min(P1, Q1 - f·IQR), max(P99, Q3 + f·IQR)]`` are dropped (``IQRDetector.detect`` with
   reduced sensitivity, ``f`` = ``outlierFactor``, default 3). Its percentiles are Commons Math's
   ``StatUtils.percentile`` (R type 6, numpy ``"weibull"``): below 100 intervals P1 and P99 are the
   extremes, so nothing is ever dropped, in Kayenta as here.
2. **No data** (``MannWhitneyClassifier.classify``): an empty side is ``Nodata`` (``NodataFailMetric``
   for a ``mustHaveData`` metric that is not critical; a critical ``Nodata`` fails the canary), or a
   pass under ``replace``. Identical samples, or samples of one single value, pass.
3. **Rank test** (``MannWhitneyClassifier.MannWhitneyUTest``, kayenta-mannwhitney ``MannWhitney``):
   the 98% confidence interval of the shift canary − baseline found by inverting the two-sided
   Mann-Whitney U test in its normal approximation with tie and continuity corrections (R's
   ``wilcox.test(conf.int=TRUE, exact=FALSE)``), and the Hodges-Lehmann estimate of the shift.
   The metric is ``High`` when its direction allows it, the whole interval lies above
   ``0.25 × |estimate|`` (``calculateBounds``) and the effect size reaches ``allowedIncrease``;
   ``Low`` mirrors it with ``allowedDecrease`` (``compare``). The effect size is the ratio of means
   canary/baseline (``EffectSizes.meanRatio``: NaN when a mean is 0, and then the effect bound is
   ignored) or, with ``measure: cles``, the share of pairs where the canary is higher
   (``EffectSizes.cles``).
4. **Critical** (``classify``): a critical metric classified High (Low) whose effect also reaches
   ``criticalIncrease`` (``criticalDecrease``) is a critical failure. When the effect is NaN the
   critical bound is ignored, like the allowed one; that follows the version of ``classify`` that
   applies ``compare``'s NaN rule to both (another version lets a NaN effect never fail critically).
5. **Score** (``WeightedSumScorer.score``): muted metrics are left out; a group's score is
   100 × passes / (passes + highs + lows + NodataFailMetrics), a group with none of these counts 100;
   groups weigh their ``groupWeights`` (unweighted groups share what is left of 100); the sum is
   rounded to two decimals. A critical failure, or ``Nodata`` for half the metrics or more, makes the
   score 0 and the canary fails; otherwise the score is ``Pass`` at ``scoreThresholds.pass`` or more,
   ``Marginal`` at ``marginal`` or more, else ``Fail`` (``ThresholdScoreClassifier``).

Where this deviates from Kayenta, and why:

* **The interval is computed exactly, not by root finding.** The tie- and continuity-corrected
  statistic of the shift *d* is a step function that changes only at the pairwise differences
  canary_i − baseline_j; between two of them its ties are those within each sample, so its variance
  is fixed and the rank sum is the count of differences above *d*. The interval's ends are therefore
  order statistics of the differences, found in closed form for every run at once. Kayenta (and R)
  reach the same points with Brent's method, to the solver's tolerance. The estimate is the median of
  the differences (Hodges-Lehmann); Kayenta's root of the statistic at zero lies in the same flat
  stretch around it, and is used only for the ±25% band (Kayenta's ``MannWhitneySuite`` case, 1..4 vs
  10..40, gives the interval [6, 39] and estimate 22.5 both ways).
* **Why not ``scipy.stats.mannwhitneyu``'s ``axis=`` at run time.** It gives the p-value of one shift
  (zero), while Kayenta decides on the interval of shifts the test does not reject, and dropping NaNs
  leaves runs of different lengths. The closed form is that inversion of ``mannwhitneyu``
  (``method="asymptotic"``, continuity correction); the tests check it against ``mannwhitneyu``
  itself. It needs numpy only, so the production gate, installed without scipy, can run it.
* **Constant samples get no noise.** When both sides are constant Kayenta adds Gaussian noise of
  1e-5 × the value before the test; here the exact result without noise is used (the limit as the
  noise vanishes), so judgements are reproducible. With a single interval on each side Kayenta's
  solver then fails on an all-tied sample and the metric is ``Error`` (counted nowhere, never
  critical); that is kept.
* **±Inf is treated like NaN** (a PromQL ``x/0``); Kayenta would let it dominate the mean ratio.
* **A critical failure and the 50% Nodata rule always fail**, whatever the thresholds; Kayenta sets the
  score to 0, which fails whenever ``marginal`` is above 0.
* **Confidence (0.98) and tolerance (0.25)** are keyword arguments, hard-coded in Kayenta.
* **Heavy ties.** When the statistic jumps across both bounds at one difference (error counts that
  are mostly 0 under ``nanStrategy: replace``), Kayenta's interval ends and estimate all lie within
  the solver's tolerance of that point and ``lower > 0.25 × estimate`` is decided by rounding; here
  they are that point exactly, and the metric passes.
* Only one judgement is made: the canary stage around it (several judgements over the stage's
  lifetime, ``marginal`` to continue) is for the plan that uses the judge.

Small samples are judged as Kayenta judges them: when the test cannot reject any shift the interval
is clipped to the range of the differences, so two intervals per side that do not overlap are
``High`` or ``Low``. Spinnaker recommends at least 50 intervals per metric.
"""
from __future__ import annotations

import enum
import math
import warnings
from dataclasses import dataclass
from statistics import NormalDist
from typing import Mapping, Optional, Sequence, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from rampsim.errors import UsageError
from rampsim.judges.kayenta_config import (
    Classifier, Direction, EffectMeasure, KayentaConfig, KayentaMetric, NanStrategy, OutlierStrategy,
    ScoreThresholds,
)

__all__ = ["Label", "Verdict", "MetricResult", "Judgement", "classify", "score", "judge",
           "CONFIDENCE", "TOLERANCE", "NODATA_SHARE"]

CONFIDENCE = 0.98
"""Confidence level of the shift's interval (``NetflixACAJudge.classifyMetric``)."""
TOLERANCE = 0.25
"""Half-width of the band around zero, as a share of the estimated shift (``calculateBounds``)."""
NODATA_SHARE = 0.5
"""Share of ``Nodata`` metrics at which the canary fails (``WeightedSumScorer.NODATA_THRESHOLD``)."""

Run = Union[int, tuple[int, ...]]
"""Index of one run in a result's arrays (``()`` for a judgement of single series)."""


class Label(enum.IntEnum):
    """A metric's classification, as codes in arrays; :attr:`kayenta` is Kayenta's name."""

    PASS = 0
    HIGH = 1
    LOW = 2
    NODATA = 3
    NODATA_FAIL = 4
    ERROR = 5

    @property
    def kayenta(self) -> str:
        """Kayenta's label: ``Pass``, ``High``, ``Low``, ``Nodata``, ``NodataFailMetric``, ``Error``."""
        return _LABEL_NAMES[self]


_LABEL_NAMES = {Label.PASS: "Pass", Label.HIGH: "High", Label.LOW: "Low", Label.NODATA: "Nodata",
                Label.NODATA_FAIL: "NodataFailMetric", Label.ERROR: "Error"}
_COUNTED = (Label.PASS, Label.HIGH, Label.LOW, Label.NODATA_FAIL)
"""Labels that count in a group's score (``WeightedSumScorer.calculateGroupScore``)."""


class Verdict(enum.IntEnum):
    """The canary's classification, as codes in arrays."""

    PASS = 0
    MARGINAL = 1
    FAIL = 2


@dataclass(frozen=True, eq=False)
class MetricResult:
    """One metric judged over a batch of runs: arrays shaped like the runs.

    ``lower``/``upper`` bound the shift canary − baseline, ``estimate`` is its Hodges-Lehmann
    estimate and ``effect`` the effect size (NaN where not computed); ``tested`` marks the runs the
    rank test decided (not those without data, with the same values on both sides, or with one
    interval each); ``critical`` is Kayenta's flag on the result (a critical metric that failed
    critically, or had no data); the counts are the intervals left after cleaning.
    """

    metric: KayentaMetric
    label: NDArray[np.int8]
    critical: NDArray[np.bool_]
    tested: NDArray[np.bool_]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    estimate: NDArray[np.float64]
    effect: NDArray[np.float64]
    canary_count: NDArray[np.int64]
    baseline_count: NDArray[np.int64]
    confidence: float
    tolerance: float

    def labels(self) -> NDArray[np.str_]:
        """Kayenta's label names, shaped like the runs."""
        names = np.array([_LABEL_NAMES[label] for label in Label])
        return names[self.label.ravel()].reshape(self.label.shape)

    def failed_critically(self) -> NDArray[np.bool_]:
        """Runs this metric fails as a whole (``WeightedSumScorer.criticalFailures``)."""
        return self.critical & (self.label != Label.PASS)

    def reason(self, run: Run = ()) -> str:
        """Why the metric got its label in run ``run``."""
        name, label = self.metric.name, Label(int(self.label[run]))
        counts = f"{int(self.canary_count[run])} canary and {int(self.baseline_count[run])} baseline intervals"
        if label in (Label.NODATA, Label.NODATA_FAIL):
            required = " (mustHaveData)" if label is Label.NODATA_FAIL else ""
            critical = ", critical" if self.critical[run] else ""
            return f"Missing data for {name}{required}{critical}: {counts}"
        if label is Label.ERROR:
            return f"{name}: one interval on each side, the rank test has no interval (Kayenta: Error)"
        if not self.tested[run]:
            return f"{name} passes: canary and baseline hold the same values ({counts})"
        effect_size = self.metric.analysis.effectSize
        critical = " (critical)" if self.failed_critically()[run] else ""
        return (f"{name} was classified as {label.kayenta}{critical}: {self.confidence:.0%} interval of the shift "
                f"canary - baseline [{self.lower[run]:.4g}, {self.upper[run]:.4g}], tolerance "
                f"±{self.tolerance * abs(self.estimate[run]):.4g} ({self.tolerance:.0%} of the estimate "
                f"{self.estimate[run]:.4g}); {effect_size.measure.value} {self.effect[run]:.4g} (allowed "
                f"increase {effect_size.bound('allowedIncrease'):g}, decrease {effect_size.bound('allowedDecrease'):g}); "
                f"{counts}")


@dataclass(frozen=True, eq=False)
class Judgement:
    """A canary judged over a batch of runs: the score (0-100) and verdict of each run, with the metrics' results.

    ``group_scores`` holds each group's score, NaN where the group had no counted metric (it then
    counts 100 in the sum, as in Kayenta).
    """

    score: NDArray[np.float64]
    verdict: NDArray[np.int8]
    group_scores: dict[str, NDArray[np.float64]]
    metrics: tuple[MetricResult, ...]
    critical_failure: NDArray[np.bool_]
    too_many_nodata: NDArray[np.bool_]
    thresholds: ScoreThresholds

    def verdicts(self) -> NDArray[np.str_]:
        """``Pass``, ``Marginal`` or ``Fail`` for each run."""
        return np.array(["Pass", "Marginal", "Fail"])[self.verdict.ravel()].reshape(self.verdict.shape)

    def reason(self, run: Run = ()) -> str:
        """Why run ``run`` got its verdict."""
        if self.critical_failure[run]:
            failed = next(m for m in self.metrics if not m.metric.analysis.muted and m.failed_critically()[run])
            return f"Canary Failed: {failed.reason(run)}"
        if self.too_many_nodata[run]:
            return f"Canary Failed: {NODATA_SHARE:.0%} or more metrics returned NODATA"
        verdict, value = Verdict(int(self.verdict[run])), float(self.score[run])
        bounds = {Verdict.PASS: f">= pass {self.thresholds.pass_:g}",
                  Verdict.MARGINAL: f">= marginal {self.thresholds.marginal:g}, < pass {self.thresholds.pass_:g}",
                  Verdict.FAIL: f"< marginal {self.thresholds.marginal:g}"}
        unpassed = [f"{m.metric.name} {Label(int(m.label[run])).kayenta}" for m in self.metrics
                    if not m.metric.analysis.muted and m.label[run] != Label.PASS]
        return f"score {value:.2f} {bounds[verdict]}" + (f"; not passed: {', '.join(unpassed)}" if unpassed else "")


def _rows(values: ArrayLike, what: str) -> tuple[NDArray[np.float64], tuple[int, ...]]:
    """``values`` as ``(runs, intervals)`` floats, and the shape of its runs."""
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 0:
        raise UsageError(f"{what}: a series of intervals is needed, got one number")
    return array.reshape(math.prod(array.shape[:-1]), array.shape[-1]), array.shape[:-1]


def _clean(values: NDArray[np.float64], metric: KayentaMetric) -> NDArray[np.float64]:
    """The intervals after the NaN strategy and outlier removal; NaN marks an absent interval."""
    analysis = metric.analysis
    values = np.where(np.isfinite(values), values, np.nan)
    if analysis.nanStrategy is NanStrategy.REPLACE:
        values = np.where(np.isnan(values), 0.0, values)
    if analysis.outliers.strategy is OutlierStrategy.REMOVE and values.shape[-1]:
        factor = analysis.outliers.outlierFactor
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # runs without data have no fences
            p1, q1, q3, p99 = np.nanpercentile(values, [1, 25, 75, 99], axis=-1, method="weibull", keepdims=True)
        low = np.minimum(p1, q1 - factor * (q3 - q1))
        high = np.maximum(p99, q3 + factor * (q3 - q1))
        values = np.where((values < low) | (values > high), np.nan, values)
    return values


def _at(values: NDArray[np.float64], index: NDArray[np.int64]) -> NDArray[np.float64]:
    """``values[r, index[r]]`` for every row ``r``, the index clipped into the row."""
    clipped = np.clip(index, 0, values.shape[-1] - 1)
    return np.take_along_axis(values, clipped[:, None], axis=-1)[:, 0]


def _tie_term(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Σ (t³ - t) over the groups of tied values in each row (NaN ignored), as Σ over values of (t² - 1)."""
    present = ~np.isnan(values)
    ties = (values[:, :, None] == values[:, None, :]).sum(axis=-1)
    return np.where(present, ties.astype(np.float64) ** 2 - 1, 0.0).sum(axis=-1)


def _shift_interval(x: NDArray[np.float64], y: NDArray[np.float64], m: NDArray[np.int64], n: NDArray[np.int64],
                    confidence: float) -> tuple[NDArray[np.float64], ...]:
    """Lower and upper end of the shift's interval, its Hodges-Lehmann estimate, and the sorted differences.

    Between consecutive differences D(k) < D(k+1) (sorted, 1-based) the U statistic of x - d is
    N - k and its standard deviation σ uses the within-sample ties only. The corrected statistic
    (N/2 - k ∓ 0.5)/σ exceeds z = Φ⁻¹(1 - α/2) for k < A = N/2 - 0.5 - zσ and stays above -z for
    k ≤ B = N/2 + 0.5 + zσ, so the interval is [D(max(1, ⌈A⌉)), D(min(N, ⌊B⌋ + 1))].
    """
    rows = x.shape[0]
    differences = (x[:, :, None] - y[:, None, :]).reshape(rows, x.shape[-1] * y.shape[-1])
    if differences.shape[-1] == 0:
        differences = np.full((rows, 1), np.nan)
    differences = np.sort(differences, axis=-1)  # the m·n valid differences first, NaN after
    count = m * n
    total = (m + n).astype(np.float64)
    ties = _tie_term(x) + _tie_term(y)
    variance = m * n / 12.0 * ((total + 1) - ties / np.maximum(total * (total - 1), 1.0))
    reach = NormalDist().inv_cdf(1 - (1 - confidence) / 2) * np.sqrt(np.maximum(variance, 0.0))
    first = np.maximum(np.ceil(count / 2 - 0.5 - reach).astype(np.int64), 1)
    last = np.minimum(np.floor(count / 2 + 0.5 + reach).astype(np.int64) + 1, count)
    estimate = (_at(differences, (count - 1) // 2) + _at(differences, count // 2)) / 2
    return _at(differences, first - 1), _at(differences, last - 1), estimate, differences


def _effect(x: NDArray[np.float64], y: NDArray[np.float64], m: NDArray[np.int64], n: NDArray[np.int64],
            differences: NDArray[np.float64], measure: EffectMeasure) -> NDArray[np.float64]:
    """The effect size of each run: canary mean / baseline mean (NaN if either is 0), or the CLES."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure is EffectMeasure.CLES:
            above = (differences > 0).sum(axis=-1) + 0.5 * (differences == 0).sum(axis=-1)
            return np.asarray(above / (m * n), dtype=np.float64)
        canary, baseline = np.nansum(x, axis=-1) / m, np.nansum(y, axis=-1) / n
        return np.where((canary == 0) | (baseline == 0), np.nan, canary / baseline)


def _same_values(x: NDArray[np.float64], y: NDArray[np.float64], m: NDArray[np.int64],
                 n: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Runs whose sorted samples are identical, or that hold one single value on both sides."""
    width = max(x.shape[-1], y.shape[-1])
    xs = np.pad(np.sort(x, axis=-1), ((0, 0), (0, width - x.shape[-1])), constant_values=np.nan)
    ys = np.pad(np.sort(y, axis=-1), ((0, 0), (0, width - y.shape[-1])), constant_values=np.nan)
    identical = (m == n) & ((xs == ys) | (np.isnan(xs) & np.isnan(ys))).all(axis=-1)
    if width == 0:
        return identical
    ends = np.stack([xs[:, 0], _at(xs, m - 1), ys[:, 0], _at(ys, n - 1)])
    return identical | (ends == ends[0]).all(axis=0)


def classify(canary: ArrayLike, baseline: ArrayLike, metric: KayentaMetric, *,
             confidence: float = CONFIDENCE, tolerance: float = TOLERANCE) -> MetricResult:
    """Classify ``metric`` in each run: ``canary`` and ``baseline`` are ``(..., intervals)`` arrays of its values.

    The leading axes (runs) of the two must be equal; the number of intervals may differ.
    """
    if not 0 < confidence < 1:
        raise UsageError(f"confidence must be between 0 and 1, got {confidence:g}")
    x, runs = _rows(canary, f"{metric.name}: canary")
    y, baseline_runs = _rows(baseline, f"{metric.name}: baseline")
    if runs != baseline_runs:
        raise UsageError(f"{metric.name}: canary runs {runs} and baseline runs {baseline_runs} differ")
    analysis, effect_size = metric.analysis, metric.analysis.effectSize
    x, y = _clean(x, metric), _clean(y, metric)
    m, n = (~np.isnan(x)).sum(axis=-1), (~np.isnan(y)).sum(axis=-1)
    lower, upper, estimate, differences = _shift_interval(x, y, m, n, confidence)
    effect = _effect(x, y, m, n, differences, effect_size.measure)

    unknown = np.isnan(effect)
    band = tolerance * np.abs(estimate)
    high = (analysis.direction in (Direction.INCREASE, Direction.EITHER)) & (lower > band) \
        & (unknown | (effect >= effect_size.bound("allowedIncrease")))
    low = (analysis.direction in (Direction.DECREASE, Direction.EITHER)) & (upper < -band) \
        & (unknown | (effect <= effect_size.bound("allowedDecrease")))
    critical = analysis.critical & (
        (high & (unknown | (effect >= effect_size.bound("criticalIncrease"))))
        | (low & (unknown | (effect <= effect_size.bound("criticalDecrease")))))
    label = np.where(high, Label.HIGH, np.where(low, Label.LOW, Label.PASS)).astype(np.int8)

    missing = (m == 0) | (n == 0)
    tested = ~missing & ~_same_values(x, y, m, n)
    error = tested & (m == 1) & (n == 1)
    tested &= ~error
    if analysis.nanStrategy is NanStrategy.REPLACE:
        no_data_label, no_data_critical = Label.PASS, False
    elif analysis.mustHaveData and not analysis.critical:
        no_data_label, no_data_critical = Label.NODATA_FAIL, False
    else:
        no_data_label, no_data_critical = Label.NODATA, analysis.critical
    label = np.where(tested, label, np.where(missing, no_data_label, np.where(error, Label.ERROR, Label.PASS)))
    critical = np.where(tested, critical, missing & no_data_critical)
    blank = ~tested & ~error
    shaped = [np.where(blank, np.nan, v).reshape(runs) for v in (lower, upper, estimate)]
    return MetricResult(
        metric=metric, label=label.astype(np.int8).reshape(runs), critical=critical.reshape(runs),
        tested=tested.reshape(runs), lower=shaped[0], upper=shaped[1], estimate=shaped[2],
        effect=np.where(missing, np.nan, effect).reshape(runs), canary_count=m.reshape(runs),
        baseline_count=n.reshape(runs), confidence=confidence, tolerance=tolerance)


def score(results: Sequence[MetricResult], classifier: Classifier,
          thresholds: Optional[ScoreThresholds] = None) -> Judgement:
    """The canary's score and verdict in each run, from its metrics' results (``WeightedSumScorer``).

    ``thresholds`` default to the config's ``classifier.scoreThresholds`` (in Kayenta they come with
    each execution request; the config's are the defaults the UI offers).
    """
    thresholds = thresholds or classifier.scoreThresholds
    if thresholds is None:
        raise UsageError("the config has no classifier.scoreThresholds; give thresholds (pass, marginal)")
    if not results:
        raise UsageError("no metric results to score")
    shapes = {r.label.shape for r in results}
    if len(shapes) != 1:
        raise UsageError(f"metric results cover different runs: shapes {sorted(shapes)}")
    shape = shapes.pop()
    scored = [r for r in results if not r.metric.analysis.muted]
    groups = list(dict.fromkeys(g for r in scored for g in r.metric.groups))
    weights = classifier.weights(groups)

    summary = np.zeros(shape)
    group_scores: dict[str, NDArray[np.float64]] = {}
    for group in groups:
        labels = np.stack([r.label for r in scored if group in r.metric.groups])
        counted = np.isin(labels, _COUNTED).sum(axis=0)
        passed = (labels == Label.PASS).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            group_scores[group] = np.where(counted > 0, 100.0 * passed / counted, np.nan)
        summary += np.where(counted > 0, group_scores[group], 100.0) * weights[group] / 100
    summary = np.floor(summary * 100 + 0.5) / 100  # MathUtils.round(score, 2): half up

    critical = np.zeros(shape, dtype=bool)
    nodata = np.zeros(shape)
    for result in scored:
        critical |= result.failed_critically()
        nodata += result.label == Label.NODATA
    too_many = nodata >= NODATA_SHARE * len(scored) if scored else np.zeros(shape, dtype=bool)
    failed = critical | too_many
    final = np.where(failed, 0.0, summary)
    verdict = np.where(failed | (final < thresholds.marginal), Verdict.FAIL,
                       np.where(final >= thresholds.pass_, Verdict.PASS, Verdict.MARGINAL)).astype(np.int8)
    return Judgement(score=final, verdict=verdict, group_scores=group_scores, metrics=tuple(results),
                     critical_failure=critical, too_many_nodata=too_many & ~critical, thresholds=thresholds)


def judge(config: KayentaConfig, series: Mapping[str, tuple[ArrayLike, ArrayLike]],
          thresholds: Optional[ScoreThresholds] = None, *, confidence: float = CONFIDENCE,
          tolerance: float = TOLERANCE) -> Judgement:
    """Judge the canary: ``series`` maps each metric's name to its ``(canary, baseline)`` arrays."""
    names = [m.name for m in config.metrics]
    missing = [n for n in names if n not in series]
    unknown = [n for n in series if n not in names]
    if missing or unknown:
        problems = ([f"no series for {', '.join(map(repr, missing))}"] if missing else []) \
            + ([f"series for metrics the config does not have: {', '.join(map(repr, unknown))}"] if unknown else [])
        raise UsageError("; ".join(problems))
    results = [classify(*series[m.name], m, confidence=confidence, tolerance=tolerance) for m in config.metrics]
    return score(results, config.classifier, thresholds)
