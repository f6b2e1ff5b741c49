"""The fluid and request fidelities of one model agree statistically (5,000 learners)."""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pytest
from scipy import stats

from rampsim.engine.metrics import histogram_quantile
from rampsim.plan import with_overrides
from rampsim.sim import Scenario, simulate
from rampsim.sim.streams import Streams
from rampsim.sim.variability import draw_paths
from tests.sim_helpers import validation

pytestmark = pytest.mark.slow  # statistical comparisons of simulated ramps, request by request

ALPHA = 1e-3        # probability that a correct model fails one test (Bonferroni across its checks)
# The two-sided z comparisons against Z: error rates (2 arms), latency shares (2 arms x 4 bounds), quantiles (2 arms
# x 2), gauges (2), the varied runs' error totals (2 variabilities x 2 arms) and latency totals at a steady load
# (3 bounds x 2 arms; those of the xfail test with request-rate variability are expected to fail): 26. Bonferroni
# over them, as one test: a correct model fails any with probability at most ALPHA, Z = Phi^-1(1 - ALPHA / 52), 4.12.
Z_COMPARISONS = 2 + 2 * 4 + 2 * 2 + 2 + 2 * 2 + 3 * 2
Z = float(stats.norm.isf(ALPHA / (2 * Z_COMPARISONS)))


@lru_cache(maxsize=None)
def runs():
    plan = with_overrides(validation(), {"phases.0.duration": "8m", "final_gate.at": "8m",
                                         "slo.objectives.error_rate.sustain": "2m"})
    return simulate(plan, seed=21, fidelity="fluid"), simulate(plan, seed=22, fidelity="request")


def _two_proportions(x1: float, n1: float, x2: float, n2: float) -> float:
    pooled = (x1 + x2) / (n1 + n2)
    return abs(x1 / n1 - x2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))


@pytest.mark.parametrize("arm", [0, 1])
def test_error_rates_agree(arm):
    fluid, request = runs()
    end = len(fluid.telemetry) - 1
    counts = [(r.telemetry.errors[end, arm].sum(), r.telemetry.requests[end, arm].sum()) for r in (fluid, request)]
    assert min(n for _, n in counts) > 10_000
    assert _two_proportions(*counts[0], *counts[1]) < Z


def dispersion_at(bound: float) -> float:
    """The two-proportion z's variance factor (1 + D) / 2 for the share under ``bound`` (:func:`queue_dispersion`),
    at least 1: requests meeting the same queue are correlated positively, so D >= 1; an estimate below 1 (at
    0.1 s, 26 ticks with a share below 1) is sampling noise."""
    return max(1.0, queue_dispersion(bound)[0])


@pytest.mark.parametrize("arm", [0, 1])
@pytest.mark.parametrize("bound", [0.01, 0.02, 0.05, 0.1])
def test_latency_distributions_agree(arm, bound):
    """The share of requests under each bound (which fixes P50 and P99) agrees within sampling error: the
    two-proportion z scaled by the queue's dispersion sqrt((1 + D) / 2), as :func:`_latency_agrees` does."""
    fluid, request = runs()
    end = len(fluid.telemetry) - 1
    b = list(fluid.telemetry.layout.latency_buckets).index(bound)
    counts = [(r.telemetry.latency_bucket[end, arm, :, b].sum(), r.telemetry.requests[end, arm].sum())
              for r in (fluid, request)]
    assert _two_proportions(*counts[0], *counts[1]) / math.sqrt(dispersion_at(bound)) < Z


@pytest.mark.parametrize("arm", [0, 1])
@pytest.mark.parametrize("q", [0.5, 0.99])
def test_quantiles_agree(arm, q):
    """The fluid run's quantile lies within the request run's quantiles at q ± Z standard errors of a rank: the
    binomial's, scaled by the dispersion at the bounds of the bucket interpolated in (the larger)."""
    fluid, request = runs()
    end = len(fluid.telemetry) - 1
    bounds = fluid.telemetry.layout.latency_buckets
    fluid_buckets = fluid.telemetry.latency_bucket[end, arm].sum(axis=0)
    request_buckets = request.telemetry.latency_bucket[end, arm].sum(axis=0)
    n = request_buckets[-1]
    top = int(np.searchsorted(bounds, histogram_quantile(q, bounds, request_buckets[None])[0]))
    dispersion = max(dispersion_at(bound) for bound in bounds[max(top - 1, 0):top + 1])
    shift = Z * math.sqrt(dispersion * 2 * q * (1 - q) / n)  # two independent samples of about n requests each
    low, high = histogram_quantile(q - shift, bounds, request_buckets[None])[0], \
        histogram_quantile(q + shift, bounds, request_buckets[None])[0]
    assert low <= histogram_quantile(q, bounds, fluid_buckets[None])[0] <= high


def test_availability_and_gauges_agree():
    fluid, request = runs()
    end = len(fluid.telemetry) - 1
    for run in (fluid, request):
        checks, ok = run.telemetry.health_checks[end], run.telemetry.health_checks_ok[end]
        assert np.all(checks - ok <= 3)   # 0.001% spurious failures: almost surely none
    for gauge in ("cpu", "network"):
        a = getattr(fluid.telemetry, gauge)[2:, 1]
        b = getattr(request.telemetry, gauge)[2:, 1]
        spread = math.sqrt(a.var() / len(a) + b.var() / len(b))
        assert abs(a.mean() - b.mean()) < Z * spread


def test_request_fidelity_is_closed_loop_too():
    fluid, request = runs()
    assert fluid.outcome.verdict == request.outcome.verdict == "advanced"


# -- With strong background variability ---------------------------------------------------------------------
#
# Both fidelities read the same latent paths when they share a seed (the paths come from the run's own
# ``variability`` stream), so minute by minute they should draw from the same error probability and latency
# distribution. The statistics compare them minute by minute and in total; a control with different seeds
# (different paths) must reject with the same statistic, which shows the comparison discriminates.

PER_MINUTE = 4      # scrapes per minute
BOUNDS = (0.01, 0.02, 0.05)
STRONG = {
    # Request bursts x1.3 like the reference plan's (an instance's load 60/s -> 78/s while they last).
    "requests": {"sd": 0.1, "correlation_time": "2m", "jitter": 0.02,
                 "bursts": {"per_day": 300, "duration": "2m", "multiplier": 1.3, "spread": 0.1}},
    "errors": {"sd": 0.5, "correlation_time": "2m", "jitter": 0.2,
               "bursts": {"per_day": 300, "duration": "2m", "multiplier": 10, "spread": 0.3}},
    "latency": {"sd": 0.3, "correlation_time": "1m", "jitter": 0.05},
    "health_checks": {"per_day": 100, "duration": "10s"},
}
# The same without request-rate variability: isolates the fluid queue's blind spot (see the xfail tests).
STEADY_LOAD = {name: value for name, value in STRONG.items() if name != "requests"}
VARIED = {"strong": STRONG, "steady-load": STEADY_LOAD}
SEED = 33          # a seed whose paths have request and error bursts in both arms within the 8 minutes


@lru_cache(maxsize=None)
def varied_runs(which: str):
    """Open loop (a gate's rollback would split the weights): request and fluid with the same seed, and a
    fluid run with another seed (the control)."""
    plan = with_overrides(validation(), {"phases.0.duration": "8m", "final_gate.at": "8m",
                                         "slo.objectives.error_rate.sustain": "2m",
                                         "traffic.variability": VARIED[which]})
    scenario = Scenario.build(plan)
    run = lambda seed, fidelity: simulate(plan, seed=seed, fidelity=fidelity, engine_factory=None,  # noqa: E731
                                          scenario=scenario)
    return run(SEED, "request"), run(SEED, "fluid"), run(SEED + 1, "fluid")


def _paths(run, seed):
    scenario = run.scenario
    return draw_paths(scenario.config.variability, scenario.grid, 2, 3, [p.size for p in scenario.pools],
                      Streams(seed).variability)


def _minutes(cumulative: np.ndarray) -> np.ndarray:
    """Per-minute increments of a cumulative ``(ticks, ...)`` family."""
    return np.diff(cumulative[::PER_MINUTE], axis=0)


def _z_squared(x1, n1, x2, n2) -> np.ndarray:
    """Squared two-proportion z of every cell (pooled variance); NaN where the pooled share is 0 or 1."""
    x1, n1, x2, n2 = (np.asarray(v, dtype=float) for v in (x1, n1, x2, n2))
    pooled = (x1 + x2) / (n1 + n2)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (x1 / n1 - x2 / n2) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return np.where((pooled > 0) & (pooled < 1), z * z, np.nan)


def _per_arm(run, family: str, bound: float | None = None) -> np.ndarray:
    values = getattr(run.telemetry, family)
    if bound is not None:
        values = values[..., list(run.telemetry.layout.latency_buckets).index(bound)]
    return values.sum(axis=2)      # (ticks, arms)


def _latency_terms(a, b, bound: float, window) -> np.ndarray:
    return _z_squared(window(_per_arm(a, "latency_bucket", bound)), window(_per_arm(a, "requests")),
                      window(_per_arm(b, "latency_bucket", bound)), window(_per_arm(b, "requests")))


@lru_cache(maxsize=None)
def queue_dispersion(bound: float) -> tuple[float, int]:
    """Mean squared z of the share under ``bound``, tick by tick, between the two runs WITHOUT variability
    (independent seeds, same expected share): ``(mean z^2, number of terms)``.

    Latency counts of the request fidelity are overdispersed against the binomial the z assumes (requests
    that meet the same queue are correlated): E[z^2] = (1 + D) / 2 > 1 (1.1 to 1.8 here, by bound). D is a
    property of the queue over milliseconds, so the same at one tick and one minute.
    """
    fluid, request = runs()
    terms = _latency_terms(fluid, request, bound, lambda x: np.diff(x, axis=0))
    terms = terms[~np.isnan(terms)]
    return float(terms.mean()), len(terms)


def _latency_f(a, b, bound: float) -> tuple[float, float]:
    """``(F, critical F)``: per-minute sum of squared z (both arms) over its d.o.f., divided by the queue's
    dispersion measured without variability. Both are sums of squared z's with the same scale (1 + D) / 2
    under the hypothesis, from independent runs, so F ~ F(m, n); critical value at ALPHA over the bounds."""
    terms = _latency_terms(a, b, bound, _minutes)
    terms = terms[~np.isnan(terms)]
    dispersion, n = queue_dispersion(bound)
    return float(terms.mean() / dispersion), float(stats.f.ppf(1 - ALPHA / len(BOUNDS), len(terms), n))


def _error_chi2(a, b) -> tuple[float, float]:
    """``(sum of squared z, critical value)``: per-minute errors of both arms. Requests fail independently
    (app errors, timeouts), so each minute's z is N(0, 1) and the sum chi-square with one d.o.f. per term."""
    terms = _z_squared(_minutes(_per_arm(a, "errors")), _minutes(_per_arm(a, "requests")),
                       _minutes(_per_arm(b, "errors")), _minutes(_per_arm(b, "requests")))
    terms = terms[~np.isnan(terms)]
    return float(terms.sum()), float(stats.chi2.ppf(1 - ALPHA, len(terms)))


def _request_chi2(a, b) -> tuple[float, float]:
    """Per-minute request counts: given the shared multipliers both are Poisson of the same mean, so
    (n1 - n2)^2 / (n1 + n2) is chi-square with one d.o.f. per term."""
    n1, n2 = _minutes(_per_arm(a, "requests")), _minutes(_per_arm(b, "requests"))
    terms = (n1 - n2) ** 2 / (n1 + n2)
    return float(terms.sum()), float(stats.chi2.ppf(1 - ALPHA, terms.size))


@pytest.mark.parametrize("which", VARIED)
def test_varied_runs_contain_the_variability(which):
    request, fluid, control = varied_runs(which)
    paths = _paths(fluid, SEED)
    grid = fluid.scenario.grid
    # An error burst (x10) acts in each arm during the run, and the control's paths are different ones.
    assert (paths.errors[1:] > 4).any(axis=(0, 2)).all()
    assert paths.latency[1:].max() > 1.25 and paths.latency[1:].min() < 0.8      # latency stretched both ways
    assert sum(int(b[1:].sum()) for b in paths.blips) >= 1
    if paths.requests is not None:
        assert (paths.requests[1:, :, 0].max(axis=0) > 1.25).all()
    assert not np.array_equal(paths.errors, _paths(control, SEED + 1).errors)
    assert grid.n_ticks == 33


@pytest.mark.parametrize("which", VARIED)
def test_varied_error_counts_agree_per_minute_and_in_total(which):
    request, fluid, _ = varied_runs(which)
    statistic, critical = _error_chi2(fluid, request)
    assert statistic < critical
    end = len(fluid.telemetry) - 1
    for arm in (0, 1):      # totals: a two-proportion z per arm
        counts = [(r.telemetry.errors[end, arm].sum(), r.telemetry.requests[end, arm].sum()) for r in (fluid, request)]
        assert _two_proportions(*counts[0], *counts[1]) < Z


@pytest.mark.parametrize("which", VARIED)
def test_varied_request_counts_agree_per_minute(which):
    request, fluid, _ = varied_runs(which)
    statistic, critical = _request_chi2(fluid, request)
    assert statistic < critical


def _latency_agrees(which: str) -> None:
    request, fluid, _ = varied_runs(which)
    end = len(fluid.telemetry) - 1
    for bound in BOUNDS:
        f, critical = _latency_f(fluid, request, bound)
        assert f < critical, (bound, f, critical)
        # Totals per arm: the two-proportion z scaled by the queue's dispersion sqrt((1 + D) / 2).
        dispersion, _ = queue_dispersion(bound)
        b = list(fluid.telemetry.layout.latency_buckets).index(bound)
        for arm in (0, 1):
            counts = [(r.telemetry.latency_bucket[end, arm, :, b].sum(), r.telemetry.requests[end, arm].sum())
                      for r in (fluid, request)]
            assert _two_proportions(*counts[0], *counts[1]) / math.sqrt(dispersion) < Z, (bound, arm)


def test_varied_latency_agrees_per_minute_at_a_steady_load():
    """Latency stretch, error variability and blips, without request-rate variability: the fidelities agree."""
    _latency_agrees("steady-load")


@pytest.mark.xfail(strict=True, reason="known simplification: the fluid fidelity scales the Poisson means, CPU and "
                                       "network by the request multiplier but keeps the queueing latency of the "
                                       "unvaried load, while the request fidelity's queues feel the added or "
                                       "thinned arrivals (README, 'Background variability')")
def test_varied_latency_agrees_per_minute_with_request_rate_variability():
    _latency_agrees("strong")


def test_varied_cpu_follows_the_request_rate_in_both_fidelities():
    request, fluid, _ = varied_runs("strong")
    multiplier = np.log(_paths(fluid, SEED).requests[2:, :, 0])      # (ticks, arms), one value per arm
    for arm in (0, 1):
        # The per-tick CPU difference is measurement noise and busy-time sampling noise, independent across
        # ticks: under the model its least-squares slope on the log multiplier is 0 (t test, n - 2 d.o.f.).
        difference = fluid.telemetry.cpu[2:, arm] - request.telemetry.cpu[2:, arm]
        fit = stats.linregress(multiplier[:, arm], difference)
        t = fit.slope / fit.stderr
        assert abs(t) < stats.t.ppf(1 - ALPHA / 4, len(difference) - 2), (arm, t)


@pytest.mark.parametrize("which", VARIED)
def test_different_seeds_are_told_apart(which):
    """The control: a fluid run with another seed (other latent paths) fails the same statistics."""
    request, _, control = varied_runs(which)
    statistic, critical = _error_chi2(control, request)
    assert statistic > critical
    assert any(f > critical for f, critical in (_latency_f(control, request, bound) for bound in BOUNDS))
    if which == "strong":
        statistic, critical = _request_chi2(control, request)
        assert statistic > critical


@pytest.mark.parametrize("which", VARIED)
def test_varied_failed_checks_agree(which):
    request, fluid, _ = varied_runs(which)
    paths = _paths(fluid, SEED)
    grid = fluid.scenario.grid
    # Both fidelities fail the checks of the blipped rounds; spurious failures (0.001% of ~1,000 checks)
    # almost surely add none. The request fidelity does not count the round at the horizon (its check
    # completes after the last scrape), hence the allowance.
    last = [int(b[-1].sum()) for b in paths.blips]
    blipped = [int(b[1:].sum()) for b in paths.blips]
    for run, allowance in ((fluid, [0, 0]), (request, last)):
        failed = run.telemetry.health_checks[-1] - run.telemetry.health_checks_ok[-1]
        assert all(w - a - 3 <= f <= w + 3 for f, w, a in zip(failed, blipped, allowance)), (run.fidelity, failed)
    assert grid.n_rounds == 97
