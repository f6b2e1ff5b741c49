"""The anytime-valid sequential judges against the papers' guarantees and against direct computations.

Guarantees are checked on many simulated sequences with fixed seeds: a false-detection probability
``p <= alpha`` passes when its estimate over ``R`` sequences is at most ``alpha + 3 sqrt(alpha (1 -
alpha) / R)`` (a correct judge fails such a check with probability below 0.14%, by the normal
approximation to the binomial; the judges are conservative, so in practice far less). The null
sequences sit on the boundary of the null (the worst case of a composite null), with a ramp's
time-varying weights, and with a shared intensity that is constant (variability off) or
overdispersed, autocorrelated and bursty (variability on): that shared part must cancel.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from scipy import signal, stats

from rampsim.errors import UsageError
from rampsim.judges.sequential import (
    MIN_NULL_ERRORS, RATE_RATIO_BOUND, batched_count_regression_test, count_regression_test,
    latency_regression_test, mean_difference_sequence, rate_ratio_lower_bound,
)

ALPHA = 0.05
RUNS = 2000
PHASE = 40                                      # intervals per ramp phase (10 minutes of 15 s scrapes)
WEIGHTS = np.repeat([0.05, 0.10, 0.25, 0.50], PHASE)
INTERVALS = WEIGHTS.size
LOOKS = {"every interval": None, "every 4th": np.arange(3, INTERVALS, 4),
         "checkpoints": np.array([PHASE - 1, 2 * PHASE - 1, INTERVALS - 1])}


def allowed(alpha: float, runs: int) -> float:
    """The largest estimate of a probability ``<= alpha`` the checks accept: three standard errors above it."""
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs)


def shared_intensity(rng: np.random.Generator, runs: int, variability: bool) -> np.ndarray:
    """Expected errors per interval for the whole service, one path per run, common to both arms.

    With variability: an AR(1) log-multiplier (sd 0.4, lag-1 correlation 0.9), gamma jitter of
    coefficient of variation 0.9 per interval and error bursts (x30 for 12 intervals, one run in
    three), the magnitudes of the reference plan's error variability."""
    level = np.full((runs, INTERVALS), 20.0)
    if not variability:
        return level
    sd, phi = 0.4, 0.9
    wander = signal.lfilter([math.sqrt(1 - phi**2) * sd], [1, -phi], rng.normal(size=(runs, INTERVALS)), axis=-1)
    jitter = rng.gamma(1 / 0.81, 0.81, size=(runs, INTERVALS))
    start = rng.integers(0, INTERVALS, size=(runs, 1))
    burst = np.where((np.arange(INTERVALS) >= start) & (np.arange(INTERVALS) < start + 12)
                     & (rng.random((runs, 1)) < 1 / 3), 30.0, 1.0)
    return level * np.exp(wander - sd**2 / 2) * jitter * burst


def error_counts(rng: np.random.Generator, intensity: np.ndarray, ratio: float,
                 weights: np.ndarray = WEIGHTS) -> tuple[np.ndarray, np.ndarray]:
    """Canary and baseline errors: Poisson with the shared intensity split by the weights, canary rate ``ratio`` x baseline."""
    return rng.poisson(intensity * weights * ratio), rng.poisson(intensity * (1 - weights))


# -- counts: the e-process against its definition ----------------------------------------------------------

@st.composite
def count_series(draw):
    n = draw(st.integers(1, 12))
    canary = draw(st.lists(st.integers(0, 30), min_size=n, max_size=n))
    baseline = draw(st.lists(st.integers(0, 30), min_size=n, max_size=n))
    shares = draw(st.lists(st.floats(0.01, 0.99), min_size=n, max_size=n))
    return np.array(canary), np.array(baseline), np.array(shares)


@given(count_series(), st.floats(-0.5, 2.0), st.lists(st.floats(1.01, 50.0), min_size=1, max_size=4))
def test_count_evalue_is_the_mixture_of_binomial_likelihood_ratios(series, margin, alternatives):
    """Given each interval's total, the canary's count is binomial with share ``w R / (w R + 1 - w)``: the
    e-value is the prior average, over alternatives ``(1 + margin) a``, of the binomial likelihood ratios."""
    canary, baseline, shares = series
    total, null = canary + baseline, 1 + margin
    share = lambda ratio: shares * ratio / (shares * ratio + 1 - shares)  # noqa: E731
    ratios = [np.cumsum(stats.binom.logpmf(canary, total, share(null * a)) - stats.binom.logpmf(canary, total, share(null)))
              for a in alternatives]
    expected = np.log(np.mean(np.exp(ratios), axis=0))
    result = count_regression_test(canary, baseline, shares, margin=margin, alternatives=alternatives)
    np.testing.assert_allclose(result.log_evalue, expected, rtol=1e-9, atol=1e-9)
    assert np.all(np.diff(result.p_value) <= 0) and np.all((result.p_value > 0) & (result.p_value <= 1))
    crossed = np.flatnonzero(result.log_evalue >= math.log(1 / ALPHA))
    assert result.crossing == (crossed[0] if crossed.size else -1)


@given(count_series(), st.integers(0, 11))
def test_a_missing_interval_contributes_nothing(series, gap):
    canary, baseline, shares = series
    gap = gap % canary.size
    with_gap = count_regression_test(np.where(np.arange(canary.size) == gap, np.nan, canary), baseline, shares)
    without = count_regression_test(np.delete(canary, gap), np.delete(baseline, gap), np.delete(shares, gap))
    np.testing.assert_allclose(np.delete(with_gap.log_evalue, gap), without.log_evalue, rtol=1e-12, atol=1e-12)


# -- counts: the guarantee, and what voids it ----------------------------------------------------------------

@pytest.mark.parametrize("variability, margin", [(False, 0.0), (True, 0.0), (True, 0.2)])
def test_count_false_detection_is_at_most_alpha_at_every_look_frequency(variability, margin):
    """On the null's boundary (canary rate exactly ``1 + margin`` times the baseline's), ramp weights 5% to
    50%: the shared intensity cancels, and no look schedule detects more often than ``alpha`` allows."""
    rng = np.random.default_rng(16 + int(variability) + int(10 * margin))
    canary, baseline = error_counts(rng, shared_intensity(rng, RUNS, variability), 1 + margin)
    result = count_regression_test(canary, baseline, WEIGHTS, margin=margin, alpha=ALPHA)
    rates = {name: float(np.mean(result.rejection(looks) >= 0)) for name, looks in LOOKS.items()}
    assert all(rate <= allowed(ALPHA, RUNS) for rate in rates.values()), rates
    p_value = result.p_value
    assert float(np.mean(p_value[:, -1] <= ALPHA)) == rates["every interval"]  # the p-value says the same


def test_count_guarantee_needs_the_noise_to_be_shared():
    """Per-arm overdispersion (gamma jitter of cv 0.9 on each arm separately) moves the canary's share like a
    regression: the false-detection check above fails, which is why the model's assumption is stated."""
    rng = np.random.default_rng(161)
    runs = 500
    intensity = shared_intensity(rng, runs, variability=False)
    per_arm = lambda: rng.gamma(1 / 0.81, 0.81, size=(runs, INTERVALS))  # noqa: E731
    canary, baseline = rng.poisson(intensity * WEIGHTS * per_arm()), rng.poisson(intensity * (1 - WEIGHTS) * per_arm())
    result = count_regression_test(canary, baseline, WEIGHTS, alpha=ALPHA)
    assert np.mean(result.crossing >= 0) > allowed(ALPHA, runs)


@pytest.mark.parametrize("margin", [0.0, 0.2])
def test_a_doubled_canary_error_rate_is_detected_quickly(margin):
    """2x the baseline's error rate at a 5% canary share (one expected canary error per interval), noise on."""
    rng = np.random.default_rng(162)
    runs, weights = 500, np.full(INTERVALS, 0.05)
    canary, baseline = error_counts(rng, shared_intensity(rng, runs, variability=True), 2.0, weights)
    crossing = count_regression_test(canary, baseline, weights, margin=margin, alpha=ALPHA).crossing
    assert np.mean(crossing >= 0) >= 0.95  # within the 40 minutes
    assert np.median(crossing[crossing >= 0]) < 4 * 15  # the median detection within 15 minutes


def test_more_evidence_is_needed_against_a_wider_margin():
    rng = np.random.default_rng(163)
    canary, baseline = error_counts(rng, shared_intensity(rng, 200, variability=True), 2.0)
    strict = count_regression_test(canary, baseline, WEIGHTS).log_evalue
    lenient = count_regression_test(canary, baseline, WEIGHTS, margin=0.5).log_evalue
    assert np.all(lenient <= strict)


# -- counts, batched: robust to noise of one arm ---------------------------------------------------------------

REQUESTS = 1_000_000.0                          # requests per interval, both arms (room for every burst)


def per_arm_noise(rng: np.random.Generator, runs: int, persistent: bool) -> np.ndarray:
    """One arm's own error multiplier per interval (mean 1): gamma jitter of cv 0.9, and with ``persistent`` an
    AR(1) log-multiplier (sd 0.28, lag-1 correlation 0.9: a correlation time of 9.5 intervals) and a x30
    burst of 12 intervals in one run in six: the reference plan's per-arm half of its error variability."""
    jitter = rng.gamma(1 / 0.81, 0.81, size=(runs, INTERVALS))
    if not persistent:
        return jitter
    sd, phi = 0.28, 0.9
    wander = signal.lfilter([math.sqrt(1 - phi**2) * sd], [1, -phi], rng.normal(size=(runs, INTERVALS)), axis=-1)
    start = rng.integers(0, INTERVALS, size=(runs, 1))
    burst = np.where((np.arange(INTERVALS) >= start) & (np.arange(INTERVALS) < start + 12)
                     & (rng.random((runs, 1)) < 1 / 6), 30.0, 1.0)
    return jitter * np.exp(wander - sd**2 / 2) * burst


def noisy_arms(rng: np.random.Generator, runs: int, ratio: float, persistent: bool) -> tuple[np.ndarray, ...]:
    """Canary errors, requests, baseline errors, requests: the shared intensity (variability on) times each arm's
    own noise, the canary's error rate ``ratio`` x the baseline's."""
    intensity = shared_intensity(rng, runs, variability=True)
    canary = rng.poisson(intensity * WEIGHTS * ratio * per_arm_noise(rng, runs, persistent))
    baseline = rng.poisson(intensity * (1 - WEIGHTS) * per_arm_noise(rng, runs, persistent))
    return canary, REQUESTS * WEIGHTS, baseline, REQUESTS * (1 - WEIGHTS)


@given(st.integers(1, 30), st.integers(1, 6), st.floats(0.0, 2.0), st.integers(0, 2**32 - 1))
@example(25, 1, 0.0, 2)
def test_batched_count_test_is_the_mean_test_on_batch_rate_ratios(intervals, batch, margin, seed):
    """Written out: each complete batch's Haldane log rate ratio, clipped, skipped unless each arm's expected
    errors under the null (at the lower of the error rate of all the batches before it and of the last one) reach 3,
    judged by the latency test's mean test; its evidence held until the next batch ends."""
    rng = np.random.default_rng(seed)
    canary, baseline = rng.poisson(3.0, intervals).astype(float), rng.poisson(20.0, intervals).astype(float)
    requests, base_requests = np.full(intervals, 1000.0), rng.integers(2000, 9000, intervals).astype(float)
    canary[rng.random(intervals) < 0.1] = np.nan
    result = batched_count_regression_test(canary, requests, baseline, base_requests, batch=batch, margin=margin)
    bound, ratios, errors_before, requests_before = math.log(RATE_RATIO_BOUND), [], 0.0, 0.0
    last = math.nan
    for start in range(0, intervals - batch + 1, batch):
        part = slice(start, start + batch)
        kept = ~np.isnan(canary[part])
        c, n = canary[part][kept].sum(), requests[part][kept].sum()
        b, m = baseline[part][kept].sum(), base_requests[part][kept].sum()
        past = errors_before / requests_before if requests_before > 0 else math.nan
        rate = min(past, last) if not math.isnan(last) else past
        expected = min(n * (1 + margin), m) * rate if not math.isnan(rate) else 0.0
        joins = n > 0 and m > 0 and expected >= MIN_NULL_ERRORS
        ratio = math.log((c + 0.5) / n) - math.log((b + 0.5) / m) if joins else math.nan
        ratios.append(min(max(ratio, -bound), bound) if joins else math.nan)
        errors_before, requests_before = errors_before + c + b, requests_before + n + m
        last = (c + b) / (n + m) if n + m > 0 else math.nan
    expected = latency_regression_test(np.array(ratios), bound=bound, margin=math.log1p(margin))
    for i in range(intervals):
        done = (i + 1) // batch - 1
        # The same sums in another order: equal to the last few digits (25 batches of 1, seed 2: 2e-15 apart).
        assert result.log_evalue[i] == pytest.approx(expected.log_evalue[done] if done >= 0 else 0.0,
                                                     rel=1e-12, abs=1e-15)
    crossing = int(expected.crossing)
    assert int(result.crossing) == ((crossing + 1) * batch - 1 if crossing >= 0 else -1)


@pytest.mark.parametrize("persistent, batch", [(False, 4), (True, 4), (True, 16)])
@pytest.mark.parametrize("margin", [0.0, 0.2])
def test_batched_count_false_detection_is_at_most_alpha_with_noise_on_one_arm(persistent, batch, margin):
    """Where the count test fails (per-arm overdispersion, above), the batched test keeps the bound at every look
    frequency: on the null's boundary, with the shared variability on and each arm's own noise, white or also
    persistent (a batch of 4 intervals is under half the noise's correlation time, of 16 intervals 1.7 times)."""
    rng = np.random.default_rng(170 + int(persistent) + batch + int(10 * margin))
    counts = noisy_arms(rng, RUNS, 1 + margin, persistent)
    result = batched_count_regression_test(*counts, batch=batch, margin=margin, alpha=ALPHA)
    rates = {name: float(np.mean(result.rejection(looks) >= 0)) for name, looks in LOOKS.items()}
    assert all(rate <= allowed(ALPHA, RUNS) for rate in rates.values()), rates
    assert float(np.mean(result.p_value[:, -1] <= ALPHA)) == rates["every interval"]


@pytest.mark.parametrize("share", [0.7, 0.8])
def test_batched_count_false_detection_is_at_most_alpha_when_the_canary_takes_most_traffic(share):
    """Above a 50% share the baseline has the fewer errors, and each arm's own noise decides which batches hold
    enough to read: a joining rule on the batch's own errors selected on its split (9% false detections here,
    found in review). The rule reads the past only, and both arms' expected errors (2 expected canary errors
    per batch of 4 intervals, 240 batches, gamma noise of cv 1.5 per batch on each arm, the null's boundary)."""
    rng = np.random.default_rng(11)
    runs, batches, shape = 1500, 240, 1 / 1.5**2
    noise = [np.repeat(rng.gamma(shape, 1 / shape, (runs, batches)), 4, axis=-1) for _ in range(2)]
    expected = 2.0 / share / 4                     # errors per interval, both arms
    canary = rng.poisson(expected * share * noise[0])
    baseline = rng.poisson(expected * (1 - share) * noise[1])
    requests = np.full(4 * batches, 1e4)
    result = batched_count_regression_test(canary, requests * share, baseline, requests * (1 - share), batch=4)
    assert np.mean(result.crossing >= 0) <= allowed(ALPHA, runs)


def test_a_shared_error_burst_leaves_the_batched_test_within_alpha():
    """The join rule read the error rate of the whole past, which a shared burst keeps high for hours: batches then
    expecting well under one error joined, and Haldane's half at such counts reads as a regression (41% of healthy
    canaries flagged after a 15-minute shared 5% burst). With the last batch's rate too, the rule follows the rate
    down: within alpha on the null (both arms identical)."""
    rng = np.random.default_rng(11)
    runs, intervals = 1000, 960
    rate = np.full(intervals, 0.001)
    rate[:60] = 0.05
    canary, baseline = np.full((runs, intervals), 250), np.full((runs, intervals), 4750)
    result = batched_count_regression_test(rng.binomial(canary, rate), canary, rng.binomial(baseline, rate),
                                           baseline, batch=4)
    assert np.mean(result.crossing >= 0) <= allowed(ALPHA, runs)


def test_the_count_test_fails_where_the_batched_test_holds():
    """The same per-arm noise voids the count test's bound: the comparison the test above is about."""
    rng = np.random.default_rng(174)
    canary, _, baseline, _ = noisy_arms(rng, 500, 1.0, persistent=True)
    assert np.mean(count_regression_test(canary, baseline, WEIGHTS).crossing >= 0) > allowed(ALPHA, 500)


@pytest.mark.parametrize("ratio, power", [(3.0, 0.75), (4.0, 0.90)])
def test_the_batched_test_detects_a_regression_through_per_arm_noise(ratio, power):
    """3x and 4x the baseline's error rate with every noise on (measured: 89% and 97% of 500 runs detected within
    the 40 minutes, medians 103 and 87 intervals; 39% at 2x): robustness costs time and power against the
    count test, which detects each in 2-8 intervals on the same data but also flags healthy canaries."""
    rng = np.random.default_rng(175)
    crossing = batched_count_regression_test(*noisy_arms(rng, 500, ratio, persistent=True), batch=4).crossing
    assert np.mean(crossing >= 0) >= power
    assert np.median(crossing[crossing >= 0]) < 120


# -- counts: the confidence sequence on the rate ratio -------------------------------------------------------

RATIO_GRID = np.geomspace(0.5, 4.0, 37)


def test_rate_ratio_lower_bound_covers_the_true_ratio_time_uniformly():
    rng = np.random.default_rng(164)
    runs, ratio = 400, 1.5
    canary, baseline = error_counts(rng, shared_intensity(rng, runs, variability=True), ratio)
    lower = rate_ratio_lower_bound(canary, baseline, WEIGHTS, alpha=ALPHA, ratios=RATIO_GRID)
    assert np.mean(np.any(lower > ratio, axis=-1)) <= allowed(ALPHA, runs)
    assert np.all(np.diff(lower, axis=-1) >= 0)
    assert np.median(lower[:, -1]) > 1.0  # it learns: the median run knows the canary is worse by the end


@given(count_series(), st.sampled_from(list(RATIO_GRID[::6])))
def test_rate_ratio_lower_bound_is_the_count_test_inverted(series, ratio):
    """The bound has reached a grid ratio exactly when the test of that ratio as the null has rejected."""
    canary, baseline, shares = series
    canary = canary * 3  # enough evidence to cross now and then
    lower = rate_ratio_lower_bound(canary, baseline, shares, ratios=RATIO_GRID[::6])
    crossing = count_regression_test(canary, baseline, shares, margin=ratio - 1).crossing
    rejected = (crossing >= 0) & (np.arange(canary.size) >= crossing)
    np.testing.assert_array_equal(lower >= ratio * (1 - 1e-12), rejected)


# -- latency ------------------------------------------------------------------------------------------------

BOUND = 1.0


def log_latency_differences(rng: np.random.Generator, runs: int, difference: float) -> np.ndarray:
    """Canary minus baseline mean log latency per interval: a shared wander and shared bursts (which cancel),
    skewed per-interval sampling noise whose size follows the canary's traffic share, a few empty intervals."""
    requests = 3000 * WEIGHTS
    sd = 0.5 * np.sqrt(1 / requests + 1 / (3000 - requests))
    shared = signal.lfilter([0.15], [1, -0.8], rng.normal(size=(runs, INTERVALS)), axis=-1)
    baseline = shared + sd * (rng.gamma(2.0, 1.0, size=(runs, INTERVALS)) - 2.0) / math.sqrt(2)
    canary = shared + difference + sd * (rng.gamma(2.0, 1.0, size=(runs, INTERVALS)) - 2.0) / math.sqrt(2)
    return np.where(rng.random((runs, INTERVALS)) < 0.02, np.nan, np.clip(canary - baseline, -BOUND, BOUND))


@pytest.mark.parametrize("noise", ["latency", "bounded extremes"])
def test_latency_sequence_covers_the_true_difference_time_uniformly(noise):
    """Two-sided coverage at every interval at once, and the one-sided test's false detection at ``alpha``,
    on realistic per-interval differences and on the hardest bounded data (values at the bounds only)."""
    rng = np.random.default_rng(165)
    if noise == "latency":
        truth = math.log(1.05)
        differences = log_latency_differences(rng, RUNS, truth)
    else:
        truth = -0.6  # P(+BOUND) = 0.2
        differences = np.where(rng.random((RUNS, INTERVALS)) < 0.2, BOUND, -BOUND)
    lower, upper = mean_difference_sequence(differences, bound=BOUND, alpha=ALPHA)
    assert np.mean(np.any((lower > truth) | (upper < truth), axis=-1)) <= allowed(ALPHA, RUNS)
    assert np.all(np.diff(lower, axis=-1) >= 0) and np.all(np.diff(upper, axis=-1) <= 0)
    test = latency_regression_test(differences, bound=BOUND, margin=truth, alpha=ALPHA)
    for looks in LOOKS.values():
        assert np.mean(test.rejection(looks) >= 0) <= allowed(ALPHA, RUNS)


def test_a_latency_regression_is_detected():
    """The canary 40% slower than the baseline, the judge told to tolerate 10%."""
    rng = np.random.default_rng(166)
    runs = 500
    test = latency_regression_test(log_latency_differences(rng, runs, math.log(1.4)), bound=BOUND,
                                   margin=math.log(1.1), alpha=ALPHA)
    assert np.mean(test.crossing >= 0) >= 0.95
    assert np.median(test.crossing) < 2 * PHASE  # within the first 20 minutes


def reference_lower_bound(values: list[float], alpha: float, cap: float) -> list[float]:
    """Waudby-Smith & Ramdas (2024), Theorem 2, one-sided, written out one observation at a time for values in [0, 1]."""
    mean, variance, t, bets, sum_bet_x, sum_penalty, best, bounds = 0.5, 0.25, 0, 0.0, 0.0, 0.0, 0.0, []
    sum_x, sum_sq = 0.0, 0.0
    for x in values:
        if not math.isnan(x):
            t += 1
            bet = min(math.sqrt(2 * math.log(1 / alpha) / (variance * t * math.log(1 + t))), cap)
            sum_penalty += (x - mean) ** 2 * (-math.log(1 - bet) - bet)
            bets, sum_bet_x = bets + bet, sum_bet_x + bet * x
            sum_x += x
            mean = (0.5 + sum_x) / (t + 1)
            sum_sq += (x - mean) ** 2
            variance = (0.25 + sum_sq) / (t + 1)
            best = max(best, min(max((sum_bet_x - sum_penalty - math.log(1 / alpha)) / bets, 0.0), 1.0))
        bounds.append(best)
    return bounds


@given(st.lists(st.one_of(st.floats(-BOUND, BOUND), st.just(math.nan)), min_size=1, max_size=30),
       st.floats(0.01, 0.3))
def test_latency_bounds_match_the_paper_written_out(values, alpha):
    lower, upper = mean_difference_sequence(np.array(values), bound=BOUND, alpha=alpha)
    unit = [(v + BOUND) / (2 * BOUND) for v in values]
    expected_lower = np.array(reference_lower_bound(unit, alpha / 2, 0.75)) * 2 * BOUND - BOUND
    expected_upper = BOUND - np.array(reference_lower_bound([1 - u for u in unit], alpha / 2, 0.75)) * 2 * BOUND
    np.testing.assert_allclose(lower, expected_lower, atol=1e-9)
    np.testing.assert_allclose(upper, expected_upper, atol=1e-9)
    one_sided = latency_regression_test(np.array(values), bound=BOUND, alpha=alpha).lower
    np.testing.assert_allclose(one_sided, np.array(reference_lower_bound(unit, alpha, 0.75)) * 2 * BOUND - BOUND,
                               atol=1e-9)


# -- shapes, looks and refusals -----------------------------------------------------------------------------

def test_rejection_is_the_first_look_at_or_after_the_crossing():
    rng = np.random.default_rng(167)
    canary, baseline = error_counts(rng, shared_intensity(rng, 64, variability=False), 1.6)
    result = count_regression_test(canary, baseline, WEIGHTS)
    looks = LOOKS["every 4th"]
    expected = [next((look for look in looks if look >= c), -1) if c >= 0 else -1 for c in result.crossing]
    np.testing.assert_array_equal(result.rejection(looks), expected)
    assert np.any(result.crossing >= 0) and np.any(np.asarray(expected) != result.crossing)
    np.testing.assert_array_equal(result.rejection([]), -1)


def test_one_run_and_many_runs_agree():
    rng = np.random.default_rng(168)
    canary, baseline = error_counts(rng, shared_intensity(rng, 3, variability=True), 1.5)
    many = count_regression_test(canary, baseline, WEIGHTS)
    for run in range(3):
        one = count_regression_test(canary[run], baseline[run], WEIGHTS)
        np.testing.assert_array_equal(one.log_evalue, many.log_evalue[run])
        assert one.crossing == many.crossing[run]


@pytest.mark.parametrize("call", [
    lambda: count_regression_test([1, 2], [3, 4], [0.1, 1.5]),
    lambda: count_regression_test([1, -2], [3, 4], 0.1),
    lambda: count_regression_test([1.5, 2], [3, 4], 0.1),
    lambda: count_regression_test([1, 2], [3, 4], [0.0, 0.1]),
    lambda: count_regression_test([1, 2], [3, 4], 0.1, alpha=1.0),
    lambda: count_regression_test([1, 2], [3, 4], 0.1, margin=-1.0),
    lambda: count_regression_test([1, 2], [3, 4], 0.1, alternatives=[0.9, 2.0]),
    lambda: count_regression_test(1, 3, 0.1),
    lambda: rate_ratio_lower_bound([1, 2], [3, 4], 0.1, ratios=[0.0, 1.0]),
    lambda: mean_difference_sequence([0.1, 1.5], bound=1.0),
    lambda: latency_regression_test([0.1, 0.2], bound=1.0, margin=1.0),
    lambda: latency_regression_test([0.1, 0.2], bound=0.0),
    lambda: count_regression_test([1, 2], [3, 4], 0.1).rejection([4, 2]),
    lambda: batched_count_regression_test([1, 2], [10, 10], [3, 4], [10, 10], batch=0),
    lambda: batched_count_regression_test([1, 2], [10, 10], [3, 4], [10, 10], batch=1.5),
    lambda: batched_count_regression_test([11, 2], [10, 10], [3, 4], [10, 10], batch=1),
    lambda: batched_count_regression_test([1, 2], [10, 10], [3, 4], [10, 10], batch=1, margin=15.0),
    lambda: batched_count_regression_test(1, 10, 3, 10, batch=1),
])
def test_refusals(call):
    with pytest.raises(UsageError):
        call()
