"""Background variability: the latent paths against their definition, the fluid fidelity's counts against
the moments the model implies, the ground truth (which ignores variability), and determinism.

Every statistical check has a tolerance derived from its sampling distribution, stated next to it, and a
fixed seed (so a run is deterministic). ``ALPHA`` is the probability that a correct model fails one test:
the checks of a test share it (Bonferroni), so a test with ``m`` checks allows ``|z| < z(1 - ALPHA / 2m)``
(or the t quantile when the standard error is estimated from ``R`` seeds: ``R - 1`` degrees of freedom).
"""
from __future__ import annotations

import math
from collections import defaultdict
from functools import lru_cache

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
import pytest
from scipy import stats

import rampsim.sim.simulation as runner
from rampsim.engine.events import DecisionKind
from rampsim.faults import parse_fault
from rampsim.plan import with_overrides
from rampsim.sim import Scenario, ground_truth, simulate
from rampsim.sim.config import Bursts, HealthBlips, Latent, Variability
from rampsim.sim.expected import expected_for
from rampsim.sim.clock import Grid
from rampsim.sim.latency import STRETCH_LIMIT, TABLE_STEP
from rampsim.sim.streams import Streams
from rampsim.sim.variability import burst_factor, draw_paths, ou_path
from tests.sim_helpers import validation

ALPHA = 1e-3
DAY = 86400.0
SEEDS = 40          # replicates of the end-to-end moment tests
FOUR_HOURS = Grid(interval=15.0, n_ticks=961, check_interval=5.0)


def limit(checks: int, dof: float = math.inf) -> float:
    """The two-sided limit on ``|z|`` (``dof`` finite: ``|t|``) for ``checks`` checks at family-wise ``ALPHA``."""
    q = 1 - ALPHA / (2 * checks)
    return float(stats.norm.ppf(q) if math.isinf(dof) else stats.t.ppf(q, dof))


def t_of_mean(samples: np.ndarray, target) -> np.ndarray:
    """t statistics of the mean over axis 0 of iid ``samples`` against ``target`` (standard error from their spread)."""
    samples = np.asarray(samples, dtype=float)
    return (samples.mean(axis=0) - target) / (samples.std(axis=0, ddof=1) / math.sqrt(len(samples)))


def poisson_p(count: int, mean: float) -> float:
    """Exact two-sided Poisson p-value of ``count`` (twice the smaller tail, at most 1)."""
    return min(1.0, 2 * min(stats.poisson.cdf(count, mean), stats.poisson.sf(count - 1, mean)))


class Recorder:
    """A ``numpy`` generator that remembers what each of its methods returned, call by call."""

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)
        self.draws: dict[str, list] = defaultdict(list)

    def __getattr__(self, name: str):
        method = getattr(self._rng, name)

        def call(*args, **kwargs):
            value = method(*args, **kwargs)
            self.draws[name].append(value)
            return value

        return call


# -- 1. the latent paths ----------------------------------------------------------------------------------

def test_ou_path_has_marginal_sd_and_lag_correlations_of_an_ar1():
    n, columns, sd, phi = 200, 4000, 0.7, 0.9
    x = ou_path(np.random.default_rng(101), n, columns, sd, phi)
    assert x.shape == (n, columns)
    # Columns are independent replicates, so per-column time averages are iid across 4,000 columns: the
    # t statistic of their mean (standard error from their spread) is N(0, 1) to within 1/sqrt(4000).
    # Known mean 0, so each is unbiased: E[x_t^2] = sd^2, E[x_t x_{t+h}] = sd^2 phi^h.
    power = (x * x).mean(axis=0)
    lag1 = (x[1:] * x[:-1]).mean(axis=0)
    lag5 = (x[5:] * x[:-5]).mean(axis=0)
    z = limit(7)        # 4 t tests here and 3 chi-square tests below
    assert abs(t_of_mean(power, sd ** 2)) < z
    assert abs(t_of_mean(lag1, sd ** 2 * phi)) < z
    assert abs(t_of_mean(lag5, sd ** 2 * phi ** 5)) < z
    # Lag-1 correlation r = mean(lag1) / mean(power): r = phi exactly when mean(lag1 - phi * power) = 0,
    # an iid mean across columns (no delta-method approximation).
    assert abs(t_of_mean(lag1 - phi * power, 0.0)) < z
    # Stationary from the first row on (not started at 0): the 4,000 values of one row are iid N(0, sd^2),
    # so sum(x^2) / sd^2 is exactly chi-square with 4,000 degrees of freedom (two-sided).
    for row in (x[0], x[1], x[-1]):
        p = stats.chi2.cdf((row ** 2).sum() / sd ** 2, columns)
        assert ALPHA / 14 < p < 1 - ALPHA / 14


def test_burst_counts_are_poisson_and_durations_have_the_configured_mean():
    days, tau = 100, 1200.0
    grid = Grid(interval=300.0, n_ticks=days * 288 + 1, check_interval=5.0)
    epsilon = 1e-6
    # A multiplier of 1 + epsilon makes the factor linear in the bursts: factor - 1 = epsilon * (share of
    # the tick covered, summed over the bursts in force) up to epsilon^2, so the output measures coverage.
    bursts = Bursts(per_day=12, duration=f"{tau:g}s", multiplier=1 + epsilon, spread=0.0, common=0.25)
    rng = Recorder(7)
    factor = burst_factor(rng, bursts, grid, 2)
    assert factor.shape == (grid.n_ticks, 2) and np.all(factor[0] == 1.0) and np.all(factor >= 1.0)
    # One Poisson count per source, in order: bursts common to both arms, then each arm's own.
    counts = [int(c) for c in rng.draws["poisson"]]
    rates = [12 * 0.25, 12 * 0.75, 12 * 0.75]
    assert len(counts) == 3
    checks = 6          # 4 exact Poisson tests, 2 coverage z tests
    for count, rate in zip(counts, rates):
        assert poisson_p(count, rate * days) > ALPHA / checks        # exact Poisson test, per source
    assert poisson_p(counts[0] + counts[1], 12 * days) > ALPHA / checks   # one arm: per_day bursts a day
    # Coverage from the output, per burst hitting the arm: E[min(D, H - U)] with D ~ Exp(tau) and
    # U ~ U(0, H) is tau - tau^2 / H * (1 - exp(-H / tau)) (bursts are cut at the horizon H); its sd is at
    # most tau (that of D), so the mean of n bursts is within tau / sqrt(n) per standard error.
    horizon = grid.horizon
    per_burst = tau - tau ** 2 / horizon * (1 - math.exp(-horizon / tau))
    for arm in (0, 1):
        covered = (factor[:, arm] - 1).sum() / epsilon * grid.interval
        n = counts[0] + counts[1 + arm]
        assert abs(covered / n - per_burst) < limit(checks) * tau / math.sqrt(n)
    # Both arms carry the common bursts, so the time both are covered is at least the common bursts' own
    # coverage (~300 x 1,200 s, sd ~6%). Half of it leaves room for that error; were the common bursts
    # missing from an arm, only chance overlaps of own bursts would remain: (9 x 1,200 / 86,400)^2 of
    # 100 days, ~135,000 s, under the 180,000 s asked for.
    both = (np.minimum(factor[:, 0], factor[:, 1]) - 1).sum() / epsilon * grid.interval
    assert both >= 0.5 * counts[0] * per_burst


def test_burst_multipliers_and_the_tick_overlap_rule():
    # One long burst on a fine grid, spread 0: the ticks it covers fully carry exactly the multiplier, the
    # two edge ticks 1 + (m - 1) * overlap.
    grid = Grid(interval=15.0, n_ticks=5761, check_interval=5.0)   # one day
    for seed in range(200):    # common: 1, so each arm's own bursts have rate 0; a day with one long burst
        rng = Recorder(seed)
        factor = burst_factor(rng, Bursts(per_day=1, duration="1h", multiplier=4.0, common=1.0), grid, 2)
        if [int(c) for c in rng.draws["poisson"]] == [1, 0, 0] and rng.draws["exponential"][0][0] > 120:
            break
    else:
        pytest.fail("no seed gave exactly one burst")
    start = float(rng.draws["uniform"][0][0])
    end = start + float(rng.draws["exponential"][0][0])
    edges = grid.times
    overlap = np.clip(np.minimum(edges[1:], end) - np.maximum(edges[:-1], start), 0, None) / grid.interval
    assert np.allclose(factor[1:, 0], 1 + 3 * overlap, rtol=0, atol=1e-12)
    assert np.array_equal(factor[:, 0], factor[:, 1])           # common: both arms
    assert (factor == 4.0).any()


def test_blips_fail_exactly_the_health_check_rounds_inside_blips():
    grid, sizes, per_day, duration = FOUR_HOURS, (45, 5), 100.0, 30.0
    rng = Recorder(3)
    variability = Variability(health_checks=HealthBlips(per_day=per_day, duration=f"{duration:g}s"))
    paths = draw_paths(variability, grid, 2, 3, sizes, rng)
    assert paths.requests is None and paths.errors is None and paths.latency is None
    rounds = grid.round_times
    total = 0
    for a, size in enumerate(sizes):
        counts = rng.draws["poisson"][a]
        starts, lengths = rng.draws["uniform"][a], rng.draws["exponential"][a]
        instance = np.repeat(np.arange(size), counts)
        assert len(starts) == len(lengths) == counts.sum()
        # Round j (at j * check, round 0 included) fails on instance i iff a blip of i covers it: start <= t < end.
        inside = (starts[None, :] <= rounds[:, None]) & (rounds[:, None] < (starts + lengths)[None, :])
        want = np.zeros((grid.n_rounds, size), bool)
        for i in range(size):
            want[:, i] = inside[:, instance == i].any(axis=1)
        assert paths.blips[a].shape == (grid.n_rounds, size)
        assert np.array_equal(paths.blips[a], want)
        total += int(counts.sum())
    # Exact Poisson test of the number of blips: per_day per instance over the horizon.
    assert poisson_p(total, sum(sizes) * per_day * grid.horizon / DAY) > ALPHA


@lru_cache(maxsize=None)
def blip_plan():
    """Two minutes of the validation plan: frequent blips, no spurious check failures, errors and latency varied."""
    return with_overrides(validation(), {
        "phases.0.duration": "2m", "final_gate.at": "2m", "rules.*.sustain": "1m",
        "slo.objectives.error_rate.sustain": "0s", "slo.objectives.error_rate.window": "1m",
        "traffic.service.health_check_failure": 0,
        "traffic.variability": {"health_checks": {"per_day": 3000, "duration": "10s"},
                                "errors": {"sd": 0.5, "jitter": 0.2}, "latency": {"sd": 0.3},
                                "requests": {"sd": 0.1}}})


@pytest.fixture(scope="module")
def recorded_runs():
    """Fluid and request runs of :func:`blip_plan` with the same seed (request twice), with the latent
    paths each run drew (``draw_paths`` wrapped where the runner calls it)."""
    drawn = []

    def recording(*args, **kwargs):
        paths = draw_paths(*args, **kwargs)
        drawn.append(paths)
        return paths

    plan = blip_plan()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "draw_paths", recording)
        runs = [simulate(plan, seed=5, fidelity="fluid", engine_factory=None),
                simulate(plan, seed=5, fidelity="request", engine_factory=None),
                simulate(plan, seed=5, fidelity="request", engine_factory=None)]
    return runs, drawn


def _failed_checks_match_blips(run, paths, counted) -> None:
    """Cumulative failed checks at every scrape are exactly the blipped (round, instance) pairs counted by then."""
    grid = run.scenario.grid
    failed = run.telemetry.health_checks - run.telemetry.health_checks_ok       # (ticks, arms) cumulative
    checked = np.arange(grid.n_rounds) >= 1                                     # round 0 is never checked
    for k, t in enumerate(grid.times):
        mask = counted(grid.round_times, t) & checked
        assert list(failed[k]) == [int(b[mask].sum()) for b in paths.blips], (run.fidelity, k)


def test_blips_fail_exactly_the_blipped_checks_in_the_fluid_fidelity(recorded_runs):
    (fluid, _, _), (paths, _, _) = recorded_runs
    assert sum(int(b.sum()) for b in paths.blips) > 5, "the run must contain blips"
    # Round j is counted in the tick whose interval ((k - 1) dt, k dt] holds j * check.
    _failed_checks_match_blips(fluid, paths, lambda rounds, t: rounds <= t + 1e-9)


def test_blips_fail_exactly_the_blipped_checks_in_the_request_fidelity(recorded_runs):
    (_, request, _), (_, paths, _) = recorded_runs
    # A check at j * check completes CHECK_TIME later, so it is counted at the first scrape after j * check.
    _failed_checks_match_blips(request, paths, lambda rounds, t: rounds < t - 1e-9)


def test_multipliers_have_mean_one_and_the_modelled_moments_without_bursts():
    sd, jitter, common, tau = 0.3, 0.2, 0.5, 300.0
    latent = Latent(sd=sd, jitter=jitter, common=common, correlation_time=f"{tau:g}s")
    phi = math.exp(-FOUR_HOURS.interval / tau)
    # Per draw (one run's paths), time-and-cell averages of centred products; E[M] = 1 and, with
    # L = exp(x - sd^2 / 2), G gamma(mean 1, cv jitter) independent per tick, arm and segment:
    #   E[(M-1)^2]                     = (1 + jitter^2) exp(sd^2) - 1
    #   E[(M_s - 1)(M_s' - 1)], s != s' = exp(sd^2) - 1           (segments of an arm share x)
    #   E[(M_a - 1)(M_b - 1)], a != b   = exp(common sd^2) - 1    (arms share the common part)
    #   E[(M_t - 1)(M_t+1 - 1)]        = exp(sd^2 phi) - 1
    # Draws are iid, so each is a t test on 300 draws (299 d.o.f.).
    moments = []
    for seed in range(300):
        m = draw_paths(Variability(errors=latent), FOUR_HOURS, 2, 3, (45, 5), np.random.default_rng(seed)).errors
        assert m.shape == (FOUR_HOURS.n_ticks, 2, 3)
        d = m - 1
        moments.append([d.mean(), (d * d).mean(), (d[:, :, 0] * d[:, :, 1]).mean(), (d[:, 0] * d[:, 1]).mean(),
                        (d[1:] * d[:-1]).mean()])
    target = [0.0, (1 + jitter ** 2) * math.exp(sd ** 2) - 1, math.exp(sd ** 2) - 1,
              math.exp(common * sd ** 2) - 1, math.exp(sd ** 2 * phi) - 1]
    t = t_of_mean(np.array(moments), np.array(target))
    assert np.all(np.abs(t) < limit(len(target), 299)), t


def test_latency_multipliers_are_capped_on_the_table_steps_and_off_processes_are_none():
    big = Latent(sd=3.0, jitter=1.0)
    paths = draw_paths(Variability(latency=big, requests=big), FOUR_HOURS, 2, 3, (45, 5), np.random.default_rng(1))
    assert paths.errors is None and paths.blips is None
    steps = np.log(paths.latency) / TABLE_STEP
    assert np.allclose(steps, np.rint(steps), rtol=0, atol=1e-9)        # exp(m * TABLE_STEP), m whole
    cap = np.floor(np.log(STRETCH_LIMIT) / TABLE_STEP)                   # the last step inside the cap
    assert np.rint(steps).max() == cap and np.rint(steps).min() == -cap
    assert paths.requests.max() > STRETCH_LIMIT          # only latency is capped
    assert draw_paths(None, FOUR_HOURS, 2, 3, (45, 5), np.random.default_rng(1)) is None
    assert draw_paths(Variability(), FOUR_HOURS, 2, 3, (45, 5), np.random.default_rng(1)) is None


def test_day_spread_scales_each_days_noise_keeping_its_mean_square():
    """``day_spread``: a day's ``sd`` is ``sd * exp(s z - s^2)``, ``z`` standard normal per day, shared by arms.

    1,000 days of one-minute ticks with a one-minute correlation time: within a day the log multiplier is
    ``x f_d - (sd f_d)^2 / 2`` with ``x`` of sd ``sd``, so each day's sample sd of the log multiplier reads ``sd f_d``
    to about 2% (about 1,100 independent ticks a day). Over the days, ``log f`` has variance ``s^2`` (the sample
    variance of 1,000 normals: relative standard error ``sqrt(2 / 999)``, plus the days' own reading error,
    ``1 / (2 * 1,100)`` each) and ``f^2`` has mean 1 (variance ``exp(4 s^2) - 1``: a factor of median 1,
    ``exp(s z)``, would give 1.17, 5 standard errors off); the multiplier's mean is 1 at every tick. Both arms see
    one factor a day: the log ratio of their day sds spreads by the reading errors alone (at most ``sqrt(2) * 0.021
    = 0.03``), where a factor per arm would spread it by ``sqrt(2) * s = 0.57``: the bound 0.1 lies between.
    """
    spread, sd, days = 0.4, 0.2, 1000
    grid = Grid(60.0, days * 1440 + 1, 60.0)
    latent = Latent(sd=sd, correlation_time="1m", day_spread=spread)
    paths = draw_paths(Variability(requests=latent), grid, 2, 1, (), np.random.default_rng(11)).requests
    log = np.log(paths[1:, :, 0]).reshape(days, 1440, 2)
    day_sd = log.std(axis=1)                                    # (days, arms)
    z = limit(4)
    variance = float(np.var(np.log(day_sd[:, 0]), ddof=1))
    expected = spread ** 2 + 1 / 2200
    assert abs(variance - expected) < z * math.sqrt(2 / (days - 1)) * expected, (variance, expected)
    square = (day_sd[:, 0] / sd) ** 2
    assert abs(square.mean() - 1) < z * math.sqrt((math.exp(4 * spread ** 2) - 1) / days), square.mean()
    ratio = np.log(day_sd[:, 1] / day_sd[:, 0])                 # the arms' own paths, one factor: no day spread
    assert float(np.std(ratio, ddof=1)) < 0.1, float(np.std(ratio, ddof=1))
    m = paths[1:, 0, 0]
    per_day = m.reshape(days, 1440).mean(axis=1)                # days independent given their factors
    assert abs(per_day.mean() - 1) < z * per_day.std(ddof=1) / math.sqrt(days), per_day.mean()


def test_a_day_is_counted_from_the_run_start_and_a_ramp_meets_one_days_level():
    """Tick ``k`` (its interval ``((k - 1) dt, k dt]``) is in the day its interval starts in: a 4-hour ramp has
    one level; over two days the level changes at the first tick whose interval starts at 24 h."""
    from rampsim.sim.variability import _day_scale

    latent = Latent(sd=0.1, day_spread=0.5)
    four_hours = _day_scale(np.random.default_rng(1), latent, FOUR_HOURS)
    assert four_hours is not None and np.all(four_hours == four_hours[0])
    two_days = Grid(60.0, 2 * 1440 + 1, 60.0)
    scale = _day_scale(np.random.default_rng(1), latent, two_days)
    assert scale is not None and len(np.unique(scale)) == 2
    assert np.all(scale[:1441] == scale[0]) and np.all(scale[1441:] == scale[-1]) and scale[0] != scale[-1]


def test_a_day_spread_without_noise_to_scale_draws_nothing():
    """Bursts alone (no ``sd``, no ``jitter``): ``day_spread`` has nothing to scale and takes no draw, so the paths
    are those without it, bit for bit; ``day_spread: 0`` likewise leaves every draw as it was."""
    bursts = Bursts(per_day=50, duration="5m", multiplier=3)
    for without, with_spread in ((Latent(bursts=bursts), Latent(bursts=bursts, day_spread=0.5)),
                                 (Latent(sd=0.2, jitter=0.1), Latent(sd=0.2, jitter=0.1, day_spread=0.0))):
        a, b = (draw_paths(Variability(requests=p), FOUR_HOURS, 2, 3, (45, 5), np.random.default_rng(4)).requests
                for p in (without, with_spread))
        assert np.array_equal(a, b)


# -- 2. the fluid fidelity's counts, end to end -----------------------------------------------------------

def _per_seed_moments(counts: np.ndarray, mean: np.ndarray) -> list[np.ndarray]:
    """Unbiased (known mean) per-run estimates: mean deviation, variance, lag-1 autocovariance of each cell."""
    d = counts - mean
    return [d.mean(axis=0), (d * d).mean(axis=0), (d[1:] * d[:-1]).mean(axis=0)]


def _check_moments(samples: list[list[np.ndarray]], variance: np.ndarray, autocovariance: np.ndarray,
                   extra: int = 0) -> None:
    """t tests over seeds (iid runs, SEEDS - 1 d.o.f.) of the mean, variance, lag-1 autocovariance and lag-1
    autocorrelation of every cell. The autocorrelation rho = c1 / v is tested as mean(c1 - rho * v) = 0, an
    iid mean with no delta-method approximation."""
    mean_dev, var, cov = (np.array(s) for s in zip(*samples))
    rho = autocovariance / variance
    cells = variance.size
    z = limit(4 * cells + extra, SEEDS - 1)
    assert np.all(np.abs(t_of_mean(mean_dev, 0.0)) < z), t_of_mean(mean_dev, 0.0)
    assert np.all(np.abs(t_of_mean(var, variance)) < z), t_of_mean(var, variance)
    assert np.all(np.abs(t_of_mean(cov, autocovariance)) < z), t_of_mean(cov, autocovariance)
    assert np.all(np.abs(t_of_mean(cov - rho * var, 0.0)) < z), t_of_mean(cov - rho * var, 0.0)


def test_request_counts_have_the_variance_and_autocorrelation_the_model_implies(sampling_reference_plan):
    sd, jitter, common, tau = 0.05, 0.03, 0.5, 60.0
    plan = with_overrides(sampling_reference_plan, {
        "traffic.load": {"shape": "flat", "average": "2,000/s"},
        "traffic.variability": {"requests": {"sd": sd, "jitter": jitter, "common": common,
                                             "correlation_time": f"{tau:g}s"}}})
    scenario = Scenario.build(plan)
    mu = scenario.conditions(scenario.scheduled_weights()).rates[1:] * scenario.grid.interval
    assert np.ptp(mu, axis=0).max() == 0.0     # flat load, constant weight: one Poisson mean per cell
    mu = mu[0]                                 # (arms, segments): ~1,200 (canary A) to ~10,800 (baseline A)
    phi = math.exp(-scenario.grid.interval / tau)
    # Given the multiplier M = L G (L lognormal of mean 1, G gamma), the count is Poisson(mu M):
    #   Var N = mu + mu^2 ((1 + jitter^2) exp(sd^2) - 1);  Cov(N_t, N_t+1) = mu^2 (exp(sd^2 phi) - 1)
    # (G is independent per tick). Here Poisson is 20-28% of the canary's variance and 3-4% of the
    # baseline's, so both terms are checked. Across segments of an arm Cov = mu_s mu_s' (exp(sd^2) - 1);
    # across arms (same segment) Cov = mu_a mu_b (exp(common sd^2) - 1).
    variance = mu + mu ** 2 * ((1 + jitter ** 2) * math.exp(sd ** 2) - 1)
    autocovariance = mu ** 2 * (math.exp(sd ** 2 * phi) - 1)
    samples, cross = [], []
    for seed in range(SEEDS):
        counts = simulate(plan, seed=seed, engine_factory=None, scenario=scenario).requests[1:]
        samples.append(_per_seed_moments(counts, mu))
        d = counts - mu
        cross.append([(d[:, 1, 0] * d[:, 1, 1]).mean(), (d[:, 0, 0] * d[:, 1, 0]).mean()])
    _check_moments(samples, variance, autocovariance, extra=2)
    target = [mu[1, 0] * mu[1, 1] * (math.exp(sd ** 2) - 1), mu[0, 0] * mu[1, 0] * (math.exp(common * sd ** 2) - 1)]
    t = t_of_mean(np.array(cross), np.array(target))
    assert np.all(np.abs(t) < limit(4 * mu.size + 2, SEEDS - 1)), t


def test_error_counts_have_the_variance_and_autocorrelation_the_model_implies(sampling_reference_plan):
    sd, jitter, tau = 0.4, 0.26, 60.0
    plan = with_overrides(sampling_reference_plan, {
        "traffic.load": {"shape": "flat", "average": "12,500/s"},
        "traffic.variability": {"errors": {"sd": sd, "jitter": jitter, "correlation_time": f"{tau:g}s"}}})
    scenario = Scenario.build(plan)
    ex = expected_for(scenario, scenario.scheduled_weights())
    c = ex.conditions
    p_error, p_app, p_timeout = ex.p_error[1:], c.p_app[1:], ex.p_timeout[1:]
    fail_fast = np.broadcast_to(c.fail_fast[1:, :, None], p_error.shape)
    mu = ex.requests[1:]
    for x in (mu, p_error, p_app, p_timeout, fail_fast):
        assert np.ptp(x, axis=0).max() == 0.0
    mu, p_error, p_app, p_timeout, fail_fast = mu[0], p_error[0], p_app[0], p_timeout[0], fail_fast[0]
    # With only error variability, requests are Poisson(mu) and each fails with
    # p(M) = ff + (1 - ff)(1 - (1 - p_app M)(1 - p_timeout)) = a + b M, b = (1 - ff)(1 - p_timeout) p_app,
    # so errors are Poisson(mu p(M)) (a thinned Poisson) given M, and
    #   Var E = mu E[p] + (mu b)^2 ((1 + jitter^2) exp(sd^2) - 1);  Cov(E_t, E_t+1) = (mu b)^2 (exp(sd^2 phi) - 1).
    # At 12,500/s a canary cell sees ~5 errors a tick (Poisson ~45% of the variance), a baseline cell ~44.
    b = mu * (1 - fail_fast) * (1 - p_timeout) * p_app
    phi = math.exp(-scenario.grid.interval / tau)
    variance = mu * p_error + b ** 2 * ((1 + jitter ** 2) * math.exp(sd ** 2) - 1)
    autocovariance = b ** 2 * (math.exp(sd ** 2 * phi) - 1)
    samples = []
    for seed in range(SEEDS):
        errors = np.diff(simulate(plan, seed=seed, engine_factory=None, scenario=scenario).telemetry.errors, axis=0)
        samples.append(_per_seed_moments(errors, mu * p_error))
    _check_moments(samples, variance, autocovariance)


# -- 3. the ground truth ignores variability ---------------------------------------------------------------

@pytest.mark.parametrize("fault", [None, "error-rate:canary:+1.5%@01:00", "tail-latency:canary:3%@1h/30m,delay=400ms"])
def test_ground_truth_is_identical_with_and_without_variability(fault, reference_plan, sampling_reference_plan):
    faults = [parse_fault(fault)] if fault else []
    strong = with_overrides(reference_plan, {
        "traffic.variability.errors.bursts.per_day": 500, "traffic.variability.latency.bursts.per_day": 500,
        "traffic.variability.health_checks.per_day": 500})
    plans = (sampling_reference_plan, reference_plan, strong)
    truths = [ground_truth(Scenario.build(plan, faults)) for plan in plans]
    first = truths[0]
    assert first.incident is (fault is not None)        # both faults breach the SLO, on the expected metrics
    for truth in truths[1:]:
        assert (truth.incident, truth.start, truth.confirmed, truth.objective, truth.breaches) == \
            (first.incident, first.start, first.confirmed, first.objective, first.breaches)
        assert np.array_equal(truth.telemetry.counters, first.telemetry.counters, equal_nan=True)
        assert np.array_equal(truth.telemetry.gauges, first.telemetry.gauges, equal_nan=True)


def test_a_rollback_during_a_background_burst_is_a_false_alarm(sampling_reference_plan):
    plan = with_overrides(sampling_reference_plan, {"traffic.variability": {"errors": {"bursts": {
        "per_day": 12, "duration": "10m", "multiplier": 30, "common": 0}}}})
    scenario = Scenario.build(plan)
    seed = 3
    run = simulate(plan, seed=seed, scenario=scenario)      # closed loop, the runbook's own gate
    assert not run.truth.incident
    assert run.outcome.decision is DecisionKind.ROLLBACK and run.outcome.verdict == "false-alarm"
    # The rule that fired sustained 3 minutes: the canary's error multiplier was a burst (x30) through the
    # whole sustain window up to the decision.
    paths = draw_paths(scenario.config.variability, scenario.grid, 2, 3, [p.size for p in scenario.pools],
                       Streams(seed).variability)
    k = scenario.grid.tick_of(run.outcome.time)
    canary = scenario.layout.arm("canary")
    assert np.all(paths.errors[k - 12:k + 1, canary] > 2.0)
    # Control: the same seed without the bursts advances.
    assert simulate(sampling_reference_plan, seed=seed).outcome.verdict == "advanced"


# -- 4. determinism -------------------------------------------------------------------------------------------

def test_same_seed_gives_bit_identical_fluid_runs(reference_plan):
    plan = reference_plan
    a, b = simulate(plan, seed=9), simulate(plan, seed=9)
    assert np.array_equal(a.telemetry.counters, b.telemetry.counters, equal_nan=True)
    assert np.array_equal(a.telemetry.gauges, b.telemetry.gauges, equal_nan=True)
    assert a.events == b.events and np.array_equal(a.requests, b.requests)
    c = simulate(plan, seed=10)
    assert not np.array_equal(a.telemetry.counters, c.telemetry.counters)


def test_same_seed_gives_bit_identical_request_runs_and_paths_independent_of_fidelity(recorded_runs):
    (fluid, request, again), drawn = recorded_runs
    assert np.array_equal(request.telemetry.counters, again.telemetry.counters, equal_nan=True)
    assert np.array_equal(request.telemetry.gauges, again.telemetry.gauges, equal_nan=True)
    scenario = fluid.scenario
    fresh = draw_paths(scenario.config.variability, scenario.grid, 2, 3, [p.size for p in scenario.pools],
                       Streams(5).variability)
    assert len(drawn) == 3
    for paths in drawn:
        for name in ("requests", "errors", "latency"):
            assert np.array_equal(getattr(paths, name), getattr(fresh, name))
        assert all(np.array_equal(x, y) for x, y in zip(paths.blips, fresh.blips))


def test_a_run_on_a_prepared_scenario_does_not_depend_on_the_runs_before_it(reference_plan):
    """A sweep worker reuses one scenario (and its latency CDF table, computed a log unit at a time as runs
    reach them) for many replicates: a replicate's telemetry is the same whichever replicates came first."""
    seeds = (3, 11, 29)
    fresh = {seed: simulate(reference_plan, seed=seed, engine_factory=None).telemetry for seed in seeds}
    shared = Scenario.build(reference_plan)
    for seed in reversed(seeds):
        again = simulate(reference_plan, seed=seed, engine_factory=None, scenario=shared).telemetry
        assert np.array_equal(again.counters, fresh[seed].counters, equal_nan=True), seed


def test_the_latency_table_interpolates_the_cdf_on_its_grid_wherever_it_is_covered():
    """Ranges covered in a random order: every covered point holds :func:`rampsim.sim.latency.cdf` at that
    point, a lookup stretched by whole steps is the linear interpolation between grid points (the exact CDF in
    an interval that bends sharply, and within 1e-4 of it everywhere), a slab is the same whichever other slabs
    were computed, and slabs no lookup needed are never computed."""
    from rampsim.sim import latency

    rng = np.random.default_rng(2)
    mix = latency.mixture(rng.uniform(0.5, 0.95, 6), 0.8, rng.uniform(0, 0.05, 6), 0.0, rng.uniform(0, 0.1, 6), 0.3)
    p_wait, wait_mean = rng.uniform(0, 0.5, 6), rng.uniform(0.002, 0.03, 6)
    bounds = np.log(np.array([0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0]))
    table = latency.CdfTable(mix, p_wait, wait_mean, bounds[0] - 4, bounds[-1] + 4)
    assert not table.values.any()
    for low, high in rng.permutation([(-4.0, -1.0), (-1.5, 1.0), (0.5, 4.0)]):
        table.cover(bounds[0] - high, bounds[-1] - low)
    grid = table.low + latency.TABLE_STEP * np.arange(table.values.shape[1])
    assert np.allclose(table.values, latency.cdf(np.exp(grid), mix, p_wait, wait_mean), rtol=0, atol=1e-12)
    assert table.sharp.any() and not table.sharp.all()
    start = int(rng.integers(-690, 400))
    stepped = table.stepped(bounds, start, start + 290)
    assert stepped.shape == (6, 290, len(bounds))
    grid_cells = table.at_steps(bounds, np.arange(start, start + 290)[None, :], np.arange(6)[:, None])
    assert np.array_equal(stepped, grid_cells)        # slices of the table, or cells gathered: the same values
    for row in range(6):
        for k in rng.integers(0, 290, 20):
            points = bounds - (start + k) * latency.TABLE_STEP
            interval = np.floor((points - table.low) / latency.TABLE_STEP).astype(int)
            one = latency.Mixture(mix.weight[row], mix.shift[row], mix.mean[row])
            exact = latency.cdf(np.exp(points), one, p_wait[row], wait_mean[row])
            expected = np.where(table.sharp[row, interval], exact, np.interp(points, grid, table.values[row]))
            assert np.allclose(stepped[row, k], expected, rtol=0, atol=1e-12), (row, k)
            assert np.allclose(stepped[row, k], exact, rtol=0, atol=1e-4), (row, k)
    narrow = latency.CdfTable(mix, p_wait, wait_mean, bounds[0] - 4, bounds[-1] + 4).cover(bounds[0], bounds[-1])
    computed = np.flatnonzero(narrow.values.any(axis=0))
    assert np.array_equal(narrow.values[:, computed], table.values[:, computed])
    assert computed.min() >= 3 * latency.SLAB_POINTS and computed.max() < len(grid) - 3 * latency.SLAB_POINTS


def test_variability_draws_leave_the_other_streams_alone(sampling_reference_plan):
    """Paths come from their own child stream: switching a process on changes only what it multiplies."""
    base = sampling_reference_plan
    none = simulate(base, seed=4, engine_factory=None).telemetry
    zero = with_overrides(base, {"traffic.variability": {"errors": {"sd": 0}}})
    assert Scenario.build(zero).config.variability is not None
    assert np.array_equal(simulate(zero, seed=4, engine_factory=None).telemetry.counters, none.counters)
    errors_only = simulate(with_overrides(base, {"traffic.variability": {"errors": {"sd": 0.4}}}),
                           seed=4, engine_factory=None).telemetry
    for family in ("requests", "latency_bucket", "latency_sum", "health_checks", "health_checks_ok",
                   "cache_hits", "cache_misses"):
        assert np.array_equal(getattr(errors_only, family), getattr(none, family)), family
    assert np.array_equal(errors_only.gauges, none.gauges, equal_nan=True)
    assert not np.array_equal(errors_only.errors, none.errors)
    blips_only = simulate(with_overrides(base, {"traffic.variability": {"health_checks": {"per_day": 200}}}),
                          seed=4, engine_factory=None).telemetry
    for family in ("requests", "errors", "latency_bucket", "cache_hits"):
        assert np.array_equal(getattr(blips_only, family), getattr(none, family)), family
    assert (blips_only.health_checks_ok[-1] < none.health_checks_ok[-1]).all()


@given(st.floats(0.0, 0.99999), st.integers(1, 700), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_the_ar1_filter_equals_scipys_lfilter(phi, n, columns, seed):
    from scipy.signal import lfilter

    from rampsim.sim.variability import ar1

    shocks = np.random.default_rng(seed).standard_normal((n, columns))
    np.testing.assert_allclose(ar1(shocks, phi), lfilter([1.0], [1.0, -phi], shocks, axis=0),
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("faults, tabulated", [
    (["crash:canary:40%@1h/10m", "latency:canary:+300ms@2h"], True),
    (["cold-cache:canary:100%@0s/4h"], False),    # latency parameters that change every tick: read cell by cell
])
def test_the_stretch_table_holds_the_exact_stretched_outcomes_within_the_interpolation_error(reference_plan, faults,
                                                                                             tabulated):
    """Every row at every step: the table's bucket probabilities, timeout share and mean latency are those of
    the row's latency distribution with every latency multiplied by exp(m * TABLE_STEP), computed exactly
    (the mixture's shifts and means and the wait scaled) up to the CDF table's interpolation, whatever order
    the slabs were reached in; with a crash (requests refused fast) and overload (shed) in the rows."""
    from rampsim.sim import latency
    from rampsim.sim.queueing import Queue
    from rampsim.sim.service import bucket_probabilities
    from rampsim.sim.stretch_table import REACH, TABLE_ROWS

    scenario = Scenario.build(reference_plan, [parse_fault(f) for f in faults])
    ex = expected_for(scenario, np.full(scenario.grid.n_ticks, 0.1))
    mix, queue, fail_fast = ex.latency_rows
    assert (fail_fast.max() > 0) == tabulated and (len(fail_fast) > TABLE_ROWS) != tabulated
    table = ex.stretch_table
    assert table.tabulated == tabulated
    rng = np.random.default_rng(8)
    steps = rng.integers(-REACH, REACH + 1, size=(400, 1, 1))
    rows = rng.integers(0, len(fail_fast), size=(400, 1, 1))
    for order in (steps, steps[::-1]):
        table.outcomes(order, rows)
    buckets, p_timeout, mean = table.outcomes(steps, rows)
    for k in range(400):
        r, m = int(rows[k, 0, 0]), int(steps[k, 0, 0])
        s = math.exp(m * latency.TABLE_STEP)
        scaled = latency.Mixture(mix.weight[r], mix.shift[r] * s, mix.mean[r] * s)
        q = Queue(rho=queue.rho[r], shed=queue.shed[r], p_wait=queue.p_wait[r], wait_mean=queue.wait_mean[r] * s)
        exact = bucket_probabilities(ex.bounds, scaled, q, fail_fast[r], ex.timeout)
        assert np.allclose(buckets[k, 0, 0], exact[0], rtol=0, atol=1e-4), (r, m)
        assert abs(p_timeout[k, 0, 0] - exact[1]) <= 1e-4 and math.isclose(mean[k, 0, 0], exact[2], rel_tol=1e-4)
    fresh = expected_for(Scenario.build(reference_plan, [parse_fault(f) for f in faults]),
                         np.full(scenario.grid.n_ticks, 0.1)).stretch_table
    assert np.array_equal(fresh.outcomes(steps, rows)[0], buckets)   # a slab does not depend on the others


def test_a_scenario_reads_the_same_outcomes_from_a_table_shared_with_other_scenarios(reference_plan):
    """A process tabulates each latency row once for all its scenarios: a faulted scenario's outcomes are the
    same to the bit from a table of its rows alone and from one that already held a healthy scenario's rows
    (most of them the same) with some slabs covered before the faulted rows arrived."""
    from rampsim.sim.stretch_table import REACH, LatencyRows, ScenarioRows, StretchTable

    weights = np.full(Grid.for_plan(reference_plan).n_ticks, 0.1)
    healthy = expected_for(Scenario.build(reference_plan), weights)
    faulted = expected_for(Scenario.build(reference_plan, [parse_fault("crash:canary:40%@1h/10m"),
                                                           parse_fault("latency:canary:+300ms@2h")]), weights)
    alone, shared = (StretchTable(healthy.bounds, healthy.timeout) for _ in range(2))
    own = ScenarioRows(alone, LatencyRows(*faulted.latency_rows))
    ScenarioRows(shared, LatencyRows(*healthy.latency_rows)).outcomes(np.array([[[-30, 80]]]), np.zeros((1, 1, 2),
                                                                                                      np.intp))
    beside = ScenarioRows(shared, LatencyRows(*faulted.latency_rows))
    n_faulted = len(faulted.latency_rows[2])
    assert len(alone) == n_faulted < len(shared) < n_faulted + len(healthy.latency_rows[2])
    rng = np.random.default_rng(3)
    steps = rng.integers(-REACH, REACH + 1, size=(300, 2, 3))
    rows = rng.integers(0, n_faulted, size=(300, 2, 3))
    for mine, theirs in zip(own.outcomes(steps, rows), beside.outcomes(steps, rows)):
        assert np.array_equal(mine, theirs)


def test_a_scenario_reads_its_outcomes_the_way_its_parameter_runs_decide_not_its_distinct_rows(reference_plan):
    """A flapping latency fault changes the latency parameters in 1,152 runs along the cells, of 29 distinct rows:
    deduplicating the rows must not move the scenario from cell-by-cell outcomes (64-bit) to the 32-bit table,
    which changed its draws (91,789 counter cells of three seeds differed)."""
    from rampsim.sim.stretch_table import TABLE_ROWS

    scenario = Scenario.build(reference_plan, [parse_fault("latency:canary:+200ms@1h,shape=flapping,period=1m")])
    ex = expected_for(scenario, np.full(scenario.grid.n_ticks, 0.1))
    assert len(ex.latency_rows[2]) <= TABLE_ROWS < ex.latency_runs
    assert not ex.stretch_table.tabulated


def test_overlapping_bursts_within_the_documented_limits_never_overflow_the_draws():
    """A review found {per_day: 200, duration: 3m, multiplier: 1e6} (each within its limits) crashing every seed
    (numpy: lam value too large): overlapping bursts multiply, now up to MAX_BURST_FACTOR in all."""
    from rampsim.sim.variability import MAX_BURST_FACTOR
    from tests.sim_helpers import realistic_reference

    bursts = Bursts(per_day=200, duration="3m", multiplier=1e6, spread=0.0, common=0.5)
    factor = burst_factor(np.random.default_rng(0), bursts, Grid(15.0, 961, 5.0), 2)
    assert factor.max() == MAX_BURST_FACTOR and factor.min() >= 1.0
    plan = with_overrides(realistic_reference(), {"traffic.variability.requests.bursts": {
        "per_day": 200, "duration": "3m", "multiplier": 1e6}})
    assert np.isfinite(simulate(plan, seed=0, engine_factory=None).telemetry.requests[-1]).all()
