"""Anytime-valid sequential judges of a canary against its baseline: error counts and latency.

Both judges read per-interval series (one value per scrape interval, the last axis; any leading
axes are independent runs) and give evidence at every interval that stays valid however often,
and whenever, one looks: the probability that a judge *ever* rejects a true null is at most
``alpha``, for any stopping rule. A decision at a look uses everything up to that look, so looking
at every scrape, every minute or only at checkpoints all keep that bound
(:meth:`SequentialTest.rejection` maps the first crossing to the first look at or after it).

**Counts** (:func:`count_regression_test`), after Lindon & Malek, "Anytime-Valid Inference for
Multinomial Count Data" (NeurIPS 2022) and Lindon, Sanden & Shirikian, "Rapid Regression
Detection in Software Deployments through Sequential Testing" (KDD 2022). Model: in interval
``i`` the canary's and the baseline's errors are independent Poisson counts with means
``L_i w_i r_c`` and ``L_i (1 - w_i) r_b``: ``L_i`` an arbitrary shared intensity (load times any
common error multiplier: overdispersed, autocorrelated, bursty, unobserved), ``w_i`` the canary's
share of traffic in that interval (the configured weight under per-request random routing, which
makes the split exactly binomial, or the observed request share), ``r_c, r_b`` the per-request
error rates. Given the interval's total ``T_i``, the canary's count is binomial with
``theta_i(R) = w_i R / (w_i R + 1 - w_i)``, ``R = r_c / r_b``: ``L_i`` cancels. The null is
**H0: R <= R0 = 1 + margin** (the canary's error rate is at most ``1 + margin`` times the
baseline's), tested one-sided in the regression direction. The e-process is a mixture, over a
prior on the rate ratio supported above ``R0``, of likelihood ratios of ``R0 * a`` against
``R0`` (``a > 1``)::

    log LR_n(a) = sum_{i<=n} Y_i log a - T_i [D_i(eta0 + log a) - D_i(eta0)],
    D_i(eta) = log(1 + w_i (e^eta - 1)),  eta0 = log R0.

*Why it is a supermartingale under the whole null*: conditionally on the past, the shared
intensity and ``T_i``, one factor's expectation is ``f(theta)^T_i`` with ``f(theta) = theta
theta1/theta0 + (1 - theta)(1 - theta1)/(1 - theta0)``, linear and increasing in the true share
``theta`` (``theta1 > theta0``), equal to 1 at ``theta = theta0``; ``theta_i`` increases with
``R``, so every ``R <= R0`` gives ``f <= 1``. A mixture of supermartingales (a prior summing to
one) is one, and Ville's inequality bounds ``P(sup_n E_n >= 1/alpha) <= alpha`` given the shared
intensity path, hence unconditionally. The weights must be fixed before the interval's counts
are seen (predictable: plan weights, or weights moved by past decisions).

*Deviation from the papers*: they put a conjugate Dirichlet (Beta) prior on the canary's share,
which needs one null share for all intervals; a ramp's weights change, and the parameter every
interval shares is the rate ratio, so the prior goes on the log ratio, as a discrete uniform
prior on a log grid (:data:`ALTERNATIVES`, 16 points from 1.1 to 16 times ``R0``). A discrete prior is a prior:
the mixture is exact, not a quadrature of a continuous one, and costs one cumulative sum per grid
point. Each likelihood ratio decreases in ``R0`` (its derivative is ``-T_i (theta_i(R0 a) -
theta_i(R0))``), so the rejected nulls form an interval ``(0, lower]`` and inverting the test
gives a lower confidence sequence on the rate ratio (:func:`rate_ratio_lower_bound`).

**Not covered**: noise that is *not* shared, a per-arm error multiplier (one arm's bad pod, per-
arm jitter or bursts), moves the canary's share like a regression would; the guarantee is then
void and the test rejects healthy canaries given enough intervals.

**Counts with noise on each arm** (:func:`batched_count_regression_test`): the counts summed over
batches of intervals, one Haldane-corrected log rate ratio per batch, judged by the mean test
below. Per-arm noise alike on both arms only widens the ratios' spread, which the empirical-
Bernstein bets estimate; the assumptions become the mean test's (a constant conditional mean:
batches longer than the arms' own noise persists) and alike noise (a baseline noisier than its
canary biases the mean log ratio up). Robustness costs power: it needs several batches where the
count test needs a few intervals.

**Latency** (:func:`latency_regression_test`, :func:`mean_difference_sequence`): a confidence
sequence for the mean of per-interval differences, the predictable plug-in empirical-Bernstein
CS of Waudby-Smith & Ramdas, "Estimating means of bounded random variables by betting" (JRSS-B
2024, Theorem 2, on the empirical-Bernstein supermartingale of Howard, Ramdas, McAuliffe & Sekhon,
"Time-uniform, nonparametric, nonasymptotic confidence sequences", Annals of Statistics 2021),
with bets capped at 3/4 of the range. Assumptions: every difference lies in ``[-bound, bound]``
and the differences' conditional means given the past are constant (with drifting means the CS
covers their ``lambda``-weighted running average). Feed it the canary's minus the baseline's mean
*log* latency per interval: a latency multiplier common to both arms cancels, and a margin of
``log(1.1)`` reads "the canary is at most 10% slower". The test rejects "no regression beyond
``margin``" when the one-sided lower bound at level ``alpha`` exceeds ``margin``. Its e-process
is the same supermartingale taken at the null's boundary, ``margin``: ``log E_n = sum lambda_i
(x_i - margin) - sum psi_E(lambda_i) (x_i - mean_{i-1})^2`` (in the unit scale); the bound exceeds
``margin`` exactly when ``E_n`` exceeds ``1/alpha``. ``alpha`` also tunes the bets, but any
predictable bets make a supermartingale, so the p-value ``1 / max E`` is valid at every level.

**p-values** (:attr:`SequentialTest.p_value`, both judges): ``min(1, 1 / max_{m <= n} E_m)``, so
``P(p_n <= a for some n) <= a`` for every level ``a`` under the null; the p-value only falls.

**Packages considered** (PyPI, checked for this module): ``savvi`` 0.3.1 (MIT, Oct 2024) has
Lindon & Malek's Poisson-process test, but one object per run updated in a Python loop, a fixed
allocation (no ramp weights), only the point null of equal rates, and it needs ``cvxpy`` and
numpy >= 2.1; ``confseq`` 0.0.11 (MIT, Jan 2023, alpha) has Howard's boundaries and the
predictable-mixture CSs, one 1-D sequence at a time, an sdist that compiles C++ and pulls
matplotlib, pandas and pytest at run time; ``expectation`` 0.6.1 is GPL-3.0 with an AI-training
prohibition (incompatible with rampsim's MIT licence) and needs Python >= 3.12. So both judges
are written from the papers, in numpy alone (the production path, which has no scipy, can use
them), vectorized over runs and intervals.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
import numpy.typing as npt

from rampsim.errors import UsageError

__all__ = ["ALTERNATIVES", "RATIOS", "RATE_RATIO_BOUND", "MIN_NULL_ERRORS", "SequentialTest", "CountTest", "MeanTest",
           "fewest_to_reject", "count_regression_test", "batched_count_regression_test", "batched_count_ratios",
           "rate_ratio_lower_bound", "latency_regression_test", "mean_difference_sequence", "batch_sums", "at_intervals"]

ALTERNATIVES = np.geomspace(1.1, 16.0, 16)
"""Default prior of the count test: alternatives ``R0 * a`` for these ``a``, equally weighted."""

RATIOS = np.geomspace(1 / 16, 16.0, 193)
"""Default grid of rate ratios on which :func:`rate_ratio_lower_bound` inverts the test (3% steps)."""

RATE_RATIO_BOUND = 16.0
"""The batched count test clips each batch's rate ratio to ``[1/16, 16]`` (a burst on one arm weighs no more)."""

MIN_NULL_ERRORS = 3.0
"""A batch joins the batched count test when each arm's expected errors in it under the null reach this (its
requests, times ``1 + margin`` for the canary, times the error rate of both arms over the batches before it): below,
the log's small-count bias is no longer negligible. Decided before the batch's errors are seen, so it cannot select on
them."""

_LAMBDA_CAP = 0.75  # Waudby-Smith & Ramdas's truncation of the bets (they suggest 1/2 or 3/4)


@dataclass(frozen=True)
class SequentialTest:
    """When a sequential judge first rejects its null, by interval; shape ``(...)`` of the runs.

    ``crossing`` is the first interval (0-based) at whose end the evidence crossed the
    threshold, ``-1`` if it never did; the evidence never uncrosses (running maximum).
    ``log_evalue`` is the log e-process at every interval, shape ``(..., intervals)``."""

    alpha: float
    crossing: np.ndarray
    log_evalue: np.ndarray

    @property
    def p_value(self) -> np.ndarray:
        """The anytime-valid p-value at every interval: ``min(1, 1 / max_{m <= n} E_m)``."""
        return np.exp(-np.maximum(np.maximum.accumulate(self.log_evalue, axis=-1), 0.0))

    def rejection(self, looks: Optional[npt.ArrayLike] = None) -> np.ndarray:
        """The first look (an interval index from ``looks``, sorted) at or after the crossing, ``-1`` if none.

        ``None`` looks at every interval. Every choice of looks keeps the false-detection
        bound: a look sees all the data up to it, and the evidence is a running maximum."""
        if looks is None:
            return self.crossing
        looks = np.asarray(looks, dtype=np.int64)
        if looks.ndim != 1 or np.any(np.diff(looks) <= 0) or (looks.size and looks[0] < 0):
            raise UsageError("looks must be increasing interval indices, from 0")
        if looks.size == 0:
            return np.full_like(self.crossing, -1)
        position = np.searchsorted(looks, self.crossing)
        found = (self.crossing >= 0) & (position < looks.size)
        return np.where(found, looks[np.minimum(position, looks.size - 1)], -1)


@dataclass(frozen=True)
class CountTest(SequentialTest):
    """The count test: its log e-process is the mixture's (see the module docstring)."""


@dataclass(frozen=True)
class MeanTest(SequentialTest):
    """A test of a mean difference (the latency test, the batched count test), with its lower confidence bound
    at every interval (running maximum), shape ``(..., intervals)``, and the values' stated ``bound`` (the lower
    bound is ``-bound`` before any evidence)."""

    lower: np.ndarray
    bound: float


def _first_true(crossed: np.ndarray) -> np.ndarray:
    """Index of the first ``True`` along the last axis, ``-1`` if none."""
    if crossed.shape[-1] == 0:
        return np.full(crossed.shape[:-1], -1, dtype=np.int64)
    return np.where(crossed.any(axis=-1), crossed.argmax(axis=-1), -1).astype(np.int64)


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise UsageError(f"alpha must lie in (0, 1), got {alpha}")


def _counts(canary_errors: npt.ArrayLike, baseline_errors: npt.ArrayLike,
            canary_share: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The canary's counts, the totals (both of the broadcast shape) and the shares, checked against the model.

    An interval where either count is ``NaN`` (a missing scrape) contributes nothing. The shares
    keep their own shape (often one row for all runs): the work that depends on them alone is
    done once."""
    canary, baseline = np.broadcast_arrays(np.asarray(canary_errors, dtype=float),
                                           np.asarray(baseline_errors, dtype=float))
    share = np.asarray(canary_share, dtype=float)
    shape = np.broadcast_shapes(canary.shape, share.shape)
    if len(shape) == 0:
        raise UsageError("the count test needs series: one value per interval on the last axis")
    missing = np.isnan(canary) | np.isnan(baseline)
    canary, baseline = np.where(missing, 0.0, canary), np.where(missing, 0.0, baseline)
    for name, counts in (("canary", canary), ("baseline", baseline)):
        if not (np.all(np.isfinite(counts)) and np.all(counts >= 0) and np.all(counts == np.round(counts))):
            raise UsageError(f"{name} error counts must be non-negative integers (NaN where missing)")
    if not np.all((share >= 0) & (share <= 1)):
        raise UsageError("the canary's traffic share must lie in [0, 1] in every interval (NaN is not a share)")
    if np.any((share == 0) & (canary > 0)) or np.any((share == 1) & (baseline > 0)):
        raise UsageError("errors on an arm that had no traffic share: the counts and shares disagree")
    return np.broadcast_to(canary, shape), np.broadcast_to(canary + baseline, shape), share


def _log_evalue(canary: np.ndarray, total: np.ndarray, share: np.ndarray, log_null: float,
                alternatives: np.ndarray) -> np.ndarray:
    """The log mixture e-process for H0: ratio <= exp(log_null), at every interval."""
    canary_so_far = np.cumsum(canary, axis=-1)
    at_null = np.log1p(share * np.expm1(log_null))
    log_evalue = np.full(canary.shape, -np.inf)
    for log_a in np.log(alternatives):
        growth = np.log1p(share * np.expm1(log_null + log_a)) - at_null  # the shares' shape: cheap
        log_evalue = np.logaddexp(log_evalue, log_a * canary_so_far - np.cumsum(total * growth, axis=-1))
    return log_evalue - math.log(alternatives.size)


def _alternatives(alternatives: Optional[npt.ArrayLike]) -> np.ndarray:
    grid = ALTERNATIVES if alternatives is None else np.asarray(alternatives, dtype=float).ravel()
    if grid.size == 0 or not np.all(np.isfinite(grid) & (grid > 1.0)):
        raise UsageError("alternatives must be finite multipliers of the null ratio above 1")
    return grid


def count_regression_test(canary_errors: npt.ArrayLike, baseline_errors: npt.ArrayLike,
                          canary_share: npt.ArrayLike, *, margin: float = 0.0, alpha: float = 0.05,
                          alternatives: Optional[npt.ArrayLike] = None) -> CountTest:
    """Test H0: canary error rate <= (1 + margin) x baseline error rate, at every interval.

    ``canary_errors`` and ``baseline_errors`` are per-interval error counts (not cumulative),
    ``canary_share`` the canary's share of traffic in each interval; all broadcast together,
    intervals on the last axis. Rejects at the first interval whose e-value reaches ``1/alpha``.
    ``alternatives`` replaces the prior's grid (:data:`ALTERNATIVES`)."""
    _check_alpha(alpha)
    if not margin > -1.0:
        raise UsageError(f"margin must exceed -1 (a ratio of 1 + margin > 0), got {margin}")
    log_evalue = _log_evalue(*_counts(canary_errors, baseline_errors, canary_share), math.log1p(margin),
                             _alternatives(alternatives))
    crossing = _first_true(log_evalue >= math.log(1.0 / alpha))
    return CountTest(alpha=alpha, crossing=crossing, log_evalue=log_evalue)


def rate_ratio_lower_bound(canary_errors: npt.ArrayLike, baseline_errors: npt.ArrayLike,
                           canary_share: npt.ArrayLike, *, alpha: float = 0.05,
                           ratios: Optional[npt.ArrayLike] = None,
                           alternatives: Optional[npt.ArrayLike] = None) -> np.ndarray:
    """A lower confidence sequence on the canary-to-baseline error-rate ratio, at every interval.

    The largest ratio of the grid ``ratios`` (:data:`RATIOS`) that the count test has rejected as
    a null by then (0 while none is): ``P(ratio < bound at some interval) <= alpha``. Rounded
    down to the grid, so it errs on the safe side; costs one count test per grid ratio up to the
    largest bound."""
    _check_alpha(alpha)
    grid = np.sort(RATIOS if ratios is None else np.asarray(ratios, dtype=float).ravel())
    if grid.size == 0 or not np.all(np.isfinite(grid) & (grid > 0)):
        raise UsageError("ratios must be finite and positive")
    counts, prior = _counts(canary_errors, baseline_errors, canary_share), _alternatives(alternatives)
    bound = np.zeros(counts[0].shape)
    for ratio in grid:  # ascending: a ratio rejected by some time replaces every smaller one
        log_evalue = _log_evalue(*counts, math.log(ratio), prior)
        rejected = np.maximum.accumulate(log_evalue, axis=-1) >= math.log(1.0 / alpha)
        if not rejected.any():
            break  # the e-values decrease in the null ratio: no larger ratio is rejected either
        bound = np.where(rejected, ratio, bound)
    return bound


def _lower_bound_unit(unit: np.ndarray, observed: np.ndarray, alpha: float) -> np.ndarray:
    """Waudby-Smith & Ramdas's one-sided predictable plug-in empirical-Bernstein lower CS for the mean of
    ``unit`` (values in [0, 1]; where ``observed`` is False the value is skipped), at every interval."""
    log_inverse_alpha = math.log(1.0 / alpha)
    return _running_lower(*_bernstein(unit, observed, log_inverse_alpha), log_inverse_alpha)


def _running_lower(weight: np.ndarray, gain: np.ndarray, log_inverse_alpha: float) -> np.ndarray:
    """The lower CS in [0, 1] from :func:`_bernstein`'s sums: the null means its e-process has rejected,
    intersected over time (a running maximum)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = (gain - log_inverse_alpha) / weight
    return np.maximum.accumulate(np.where(weight > 0, np.clip(lower, 0.0, 1.0), 0.0), axis=-1)


def _bernstein(unit: np.ndarray, observed: np.ndarray, log_inverse_alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """The running sums of the empirical-Bernstein supermartingale, bets tuned for ``alpha``: ``(sum lambda_i,
    sum lambda_i x_i - psi_E(lambda_i) (x_i - mean_{i-1})^2)``; its log at a null mean ``m`` is
    ``gain - m * weight``."""
    x = np.where(observed, unit, 0.0)
    t = np.cumsum(observed, axis=-1)  # observations so far, this one included
    mean = (0.5 + np.cumsum(x, axis=-1)) / (t + 1)
    variance = (0.25 + np.cumsum(np.where(observed, (x - mean) ** 2, 0.0), axis=-1)) / (t + 1)
    before = np.zeros(x.shape[:-1] + (1,))
    previous_mean = np.concatenate([before + 0.5, mean[..., :-1]], axis=-1)
    previous_variance = np.concatenate([before + 0.25, variance[..., :-1]], axis=-1)
    n = np.maximum(t, 1)
    bet = np.minimum(np.sqrt(2 * log_inverse_alpha / (previous_variance * n * np.log1p(n))), _LAMBDA_CAP)
    bet = np.where(observed, bet, 0.0)
    penalty = (x - previous_mean) ** 2 * (-np.log1p(-bet) - bet)
    return np.cumsum(bet, axis=-1), np.cumsum(bet * x - penalty, axis=-1)


def _differences(differences: npt.ArrayLike, bound: float) -> tuple[np.ndarray, np.ndarray]:
    """The differences mapped to [0, 1] (``NaN``, an interval without data, is skipped) and the observed mask."""
    if not (math.isfinite(bound) and bound > 0):
        raise UsageError(f"bound must be positive and finite, got {bound}")
    values = np.asarray(differences, dtype=float)
    if values.ndim == 0:
        raise UsageError("the latency judge needs series: one value per interval on the last axis")
    observed = ~np.isnan(values)
    if np.any(np.abs(values[observed]) > bound):
        raise UsageError(f"per-interval differences must lie in [-{bound}, {bound}] (the judge's stated bound)")
    return np.where(observed, (values + bound) / (2 * bound), 0.5), observed


def mean_difference_sequence(differences: npt.ArrayLike, *, bound: float,
                             alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """A two-sided ``1 - alpha`` confidence sequence ``(lower, upper)`` for the mean of per-interval differences.

    Time-uniform: ``P(the mean leaves [lower_n, upper_n] at some n) <= alpha`` (each side
    ``alpha / 2``), for values in ``[-bound, bound]``; running intersection, so the bounds only
    tighten. ``NaN`` marks an interval without data."""
    _check_alpha(alpha)
    unit, observed = _differences(differences, bound)
    lower = _lower_bound_unit(unit, observed, alpha / 2)
    upper = 1.0 - _lower_bound_unit(1.0 - unit, observed, alpha / 2)
    return 2 * bound * lower - bound, 2 * bound * upper - bound


def latency_regression_test(differences: npt.ArrayLike, *, bound: float, margin: float = 0.0,
                            alpha: float = 0.05) -> MeanTest:
    """Test H0: mean per-interval difference (canary minus baseline) <= ``margin``, at every interval.

    Rejects at the first interval whose one-sided ``1 - alpha`` lower confidence bound exceeds
    ``margin``; ``differences`` in ``[-bound, bound]``, ``NaN`` where an interval has no data. The
    e-process is the bound's supermartingale at ``margin`` (bets tuned for ``alpha``)."""
    _check_alpha(alpha)
    if not abs(margin) < bound:
        raise UsageError(f"margin must lie inside (-{bound}, {bound}), got {margin}")
    unit, observed = _differences(differences, bound)
    log_inverse_alpha = math.log(1.0 / alpha)
    weight, gain = _bernstein(unit, observed, log_inverse_alpha)
    lower = 2 * bound * _running_lower(weight, gain, log_inverse_alpha) - bound
    log_evalue = gain - (margin + bound) / (2 * bound) * weight
    return MeanTest(alpha=alpha, crossing=_first_true(lower > margin), log_evalue=log_evalue, lower=lower,
                    bound=bound)


def batched_count_regression_test(canary_errors: npt.ArrayLike, canary_requests: npt.ArrayLike,
                                  baseline_errors: npt.ArrayLike, baseline_requests: npt.ArrayLike, *, batch: int,
                                  margin: float = 0.0, alpha: float = 0.05) -> MeanTest:
    """Test H0: canary error rate <= (1 + margin) x baseline error rate, robust to noise on one arm.

    Per-interval counts (``NaN`` where missing) are summed over batches of ``batch`` consecutive
    intervals from the first; each complete batch gives one log rate ratio, ``log((c + 1/2) / n_c) -
    log((b + 1/2) / n_b)`` (errors ``c, b`` over requests ``n_c, n_b``; the half is Haldane's, which
    makes the log nearly unbiased), clipped to ``log`` :data:`RATE_RATIO_BOUND` either way, and the
    batches' ratios are judged by the mean test of :func:`latency_regression_test` against
    ``log(1 + margin)``. A batch joins when each arm's expected errors in it under the null, from
    its requests and the lower of two past error rates (all the batches before it, and the last
    one: after a burst the whole past's rate stays high for hours), reach :data:`MIN_NULL_ERRORS`
    (decided before its errors are seen; the first batch never joins); missing intervals are left
    out of their batch's sums. Unlike :func:`count_regression_test`, noise each arm has on its own
    (overdispersion, bursts, wander) only widens the ratios' spread, which the empirical-Bernstein
    bets estimate, *if both arms' own noise is alike*: the test is of the mean log ratio, and the
    log of a noisier arm's rate averages lower (Jensen), so an arm's own noise biases the ratio
    against the other arm. A canary noisier than its baseline errs on the safe side; a
    baseline noisier than the canary voids the bound. The guarantee also needs the batches' ratios
    to have a constant mean given the past, so a batch should be longer than the correlation time
    of the arms' own noise. The evidence of a batch arrives at its last interval; a trailing
    partial batch adds nothing yet."""
    _check_alpha(alpha)
    ratios = batched_count_ratios(canary_errors, canary_requests, baseline_errors, baseline_requests, batch=batch,
                                  margin=margin)
    per_batch = latency_regression_test(ratios, bound=math.log(RATE_RATIO_BOUND), margin=math.log1p(margin),
                                        alpha=alpha)
    return at_intervals(per_batch, batch, np.shape(canary_errors)[-1])


def batched_count_ratios(canary_errors: npt.ArrayLike, canary_requests: npt.ArrayLike, baseline_errors: npt.ArrayLike,
                         baseline_requests: npt.ArrayLike, *, batch: int, margin: float = 0.0) -> np.ndarray:
    """``(..., batches)``: each complete batch's clipped log rate ratio, as :func:`batched_count_regression_test`
    judges it, ``NaN`` where the batch does not join the test (no evidence)."""
    if not (isinstance(batch, (int, np.integer)) and not isinstance(batch, bool) and batch >= 1):
        raise UsageError(f"batch is a whole number of intervals, at least 1; got {batch!r}")
    if not -1.0 < margin < RATE_RATIO_BOUND - 1.0:
        raise UsageError(f"margin must lie in (-1, {RATE_RATIO_BOUND - 1:g}) (a ratio the clipped ratios can exceed), "
                         f"got {margin}")
    columns = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in
                                    (canary_errors, canary_requests, baseline_errors, baseline_requests)))
    if columns[0].ndim == 0:
        raise UsageError("the batched count test needs series: one value per interval on the last axis")
    missing = np.logical_or.reduce([np.isnan(c) for c in columns])
    errors, requests, base_errors, base_requests = (np.where(missing, 0.0, c) for c in columns)
    for name, e, n in (("canary", errors, requests), ("baseline", base_errors, base_requests)):
        if not (np.all(np.isfinite(e) & np.isfinite(n)) and np.all((e >= 0) & (e <= n))
                and np.all(e == np.round(e))):
            raise UsageError(f"{name} error counts must be non-negative integers, at most the requests (NaN where "
                             f"missing)")
    c, n, b, m = (batch_sums(a, batch) for a in (errors, requests, base_errors, base_requests))
    before = np.zeros(c.shape[:-1] + (1,))
    errors_before = np.concatenate([before, np.cumsum(c + b, axis=-1)[..., :-1]], axis=-1)
    requests_before = np.concatenate([before, np.cumsum(n + m, axis=-1)[..., :-1]], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        previous = np.concatenate([np.full(before.shape, np.nan), ((c + b) / (n + m))[..., :-1]], axis=-1)
        rate = np.fmin(errors_before / requests_before, previous)   # the lower of the past's and the last batch's
        expected = np.minimum(n * (1 + margin), m) * rate           # the fewer arm's errors at that rate
        ratio = np.log((c + 0.5) / n) - np.log((b + 0.5) / m)
    bound = math.log(RATE_RATIO_BOUND)
    joins = (n > 0) & (m > 0) & (requests_before > 0) & (expected >= MIN_NULL_ERRORS)
    return np.where(joins, np.clip(ratio, -bound, bound), np.nan)


@functools.lru_cache(maxsize=256)
def fewest_to_reject(level: float, margin: float, bound: float, alpha: float = 0.05, longest: int = 20_000) -> int:
    """The fewest observations (intervals, or batches) after which the mean test's p-value can fall to ``level``:
    every observation the largest difference allowed (``bound``), ``margin`` the null's; ``longest + 1`` when even
    that many cannot. Fewer can never reject, whatever the canary does."""
    p_value = latency_regression_test(np.full(longest, bound), bound=bound, margin=margin, alpha=alpha).p_value
    reached = np.flatnonzero(p_value <= level)
    return int(reached[0]) + 1 if len(reached) else longest + 1


def batch_sums(values: np.ndarray, batch: int, axis: int = -1) -> np.ndarray:
    """Sums of each complete batch of ``batch`` consecutive intervals along ``axis``, from the first (a trailing
    partial batch is left out)."""
    values = np.moveaxis(np.asarray(values, dtype=float), axis, -1)
    complete = values.shape[-1] // batch
    sums = values[..., :complete * batch].reshape(values.shape[:-1] + (complete, batch)).sum(axis=-1)
    return np.moveaxis(sums, -1, axis)


def at_intervals(per_batch: MeanTest, batch: int, intervals: int) -> MeanTest:
    """A mean test of one value per batch of ``batch`` intervals, read at every one of ``intervals`` intervals.

    A batch's evidence arrives at its last interval and holds until the next batch ends;
    before the first batch ends there is none (an e-value of 1, the bound's lower end)."""
    done = (np.arange(1, intervals + 1) // batch) - 1        # the last complete batch at each interval, -1: none
    at = np.clip(done, 0, max(per_batch.log_evalue.shape[-1] - 1, 0))

    def spread(values: np.ndarray, before: float) -> np.ndarray:
        shape = values.shape[:-1] + (intervals,)
        if values.shape[-1] == 0:
            return np.full(shape, before)
        return np.where(done >= 0, values[..., at], before)

    crossing = np.where(per_batch.crossing >= 0, (per_batch.crossing + 1) * batch - 1, -1)
    return MeanTest(alpha=per_batch.alpha, crossing=crossing, log_evalue=spread(per_batch.log_evalue, 0.0),
                    lower=spread(per_batch.lower, -per_batch.bound), bound=per_batch.bound)
