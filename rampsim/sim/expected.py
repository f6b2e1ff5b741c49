"""What the service does on average under given conditions: the infinite-traffic limit.

:func:`expected` turns :class:`~rampsim.sim.scenario.Conditions` into the
probabilities and means every tick's telemetry is drawn from: per-instance queue,
latency histogram probabilities, error and timeout probabilities, health-check
failure probabilities per instance, gauges, cache and revenue. The fluid fidelity
draws its counts from these; :func:`expected_telemetry` writes them as telemetry
with no noise at all, which is what the ground truth judges.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Optional, Sequence

import numpy as np

from rampsim.sim import latency
from rampsim.sim.queueing import Queue
from rampsim.sim.scenario import Conditions, Scenario
from rampsim.sim.service import bucket_probabilities
from rampsim.sim.stretch_table import CellByCell, LatencyRows, ScenarioRows, stretch_table
from rampsim.sim.variability import Paths
from rampsim.telemetry import Telemetry

__all__ = ["Expected", "Varied", "varied", "expected", "expected_for", "expected_telemetry", "assemble", "gauge_readings", "with_noise", "expected_increments",
           "check_counts"]


@dataclass
class Expected:
    """Per-tick probabilities and means (shapes as in :class:`~rampsim.sim.scenario.Conditions`)."""

    conditions: Conditions
    requests: np.ndarray        # (ticks, arms, segments) expected requests in the interval
    p_error: np.ndarray         # (ticks, arms, segments)
    p_timeout: np.ndarray       # (ticks, arms, segments) a served request times out (part of ``p_error``)
    buckets: np.ndarray         # (ticks, arms, segments, buckets) P(latency <= le)
    mean_latency: np.ndarray    # (ticks, arms, segments)
    p_hit: np.ndarray           # (ticks, arms) a request is a cache hit
    check_failure: np.ndarray   # (ticks, arms) probability a check of an instance that is up fails
    rho: np.ndarray             # (ticks, arms) offered utilisation of the serving instances
    per_instance: np.ndarray    # (ticks, arms) requests per second on each serving instance
    gauges: dict[str, np.ndarray]   # cpu, memory, network, memory_bytes: (ticks, arms)
    value: np.ndarray           # (arms,) revenue per successful request
    latency_rows: tuple[latency.Mixture, Queue, np.ndarray]  # distinct latency parameters (mix, queue, fail-fast)
    latency_index: np.ndarray   # (ticks, arms, segments) the row of ``latency_rows`` each cell uses
    latency_runs: int           # runs of constant latency parameters along the cells (rows before deduplication)
    timeout: float
    bounds: np.ndarray          # the latency histogram's bounds

    @cached_property
    def stretch_table(self) -> ScenarioRows | CellByCell:
        """The latency outcomes of every row of :attr:`latency_rows` under every latency stretch (one table
        for all runs, shared with the process's other scenarios: each run computes only the stretches no
        run has reached)."""
        return stretch_table(LatencyRows(*self.latency_rows), self.bounds, self.timeout, self.latency_runs)


def _runs(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Rows of distinct parameters along time, and for every cell the row it uses.

    ``columns`` are ``(ticks, arms, segments)``; cells are taken cell by cell along time,
    where parameters change rarely (at fault edges, bursts), so runs are few.
    """
    table = np.stack([np.moveaxis(c, 0, -1).ravel() for c in columns], axis=1)
    starts = np.ones(len(table), bool)
    starts[1:] = ~np.isclose(table[1:], table[:-1], rtol=1e-10, atol=0.0).all(axis=1)
    run = np.cumsum(starts) - 1
    ticks = columns[0].shape[0]
    return table[starts], np.moveaxis(run.reshape(*columns[0].shape[1:], ticks), -1, 0)


def expected_for(scenario: Scenario, weights: np.ndarray) -> Expected:
    """:func:`expected` for the canary ``weights``, remembered on the scenario (every open-loop
    replicate of a scenario has the same weights, so it is computed once)."""
    key = np.asarray(weights, dtype=float).tobytes()
    memo = scenario.memo
    if key not in memo:
        remembered = [k for k in memo if isinstance(k, bytes)]
        if len(remembered) >= 4:
            memo.pop(remembered[0])
        memo[key] = expected(scenario, scenario.conditions(weights))
    return memo[key]


def expected(scenario: Scenario, conditions: Conditions) -> Expected:
    """The expected behaviour of ``scenario``'s service under ``conditions``."""
    c, service, grid = conditions, scenario.service, scenario.grid
    config = scenario.config.service
    arm_rates = c.rates.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_instance = np.where(c.serving > 0, arm_rates * (1 - c.fail_fast) / c.serving, 0.0)
    q = service.queue(per_instance, c.hit)

    # The latency distribution depends on few distinct parameter rows: evaluate each once.
    shape = c.rates.shape
    columns = [np.broadcast_to(x, shape) for x in (
        c.hit[..., None], c.shift, c.miss_shift, c.tail_fraction, c.tail_delay, q.shed[..., None],
        q.p_wait[..., None], q.wait_mean[..., None], c.fail_fast[..., None])]
    runs, run_of = _runs(columns)
    rows, row_of_run = np.unique(runs, axis=0, return_inverse=True)   # a ramp's phases come back to the same rows
    inverse = row_of_run.ravel()[run_of]
    hit, shift, miss_shift, tail_fraction, tail_delay, shed, p_wait, wait_mean, fail_fast = rows.T
    mix = latency.mixture(hit, service.scale, shift, miss_shift, tail_fraction, tail_delay)
    row_queue = type(q)(rho=np.zeros_like(shed), shed=shed, p_wait=p_wait, wait_mean=wait_mean)
    cumulative, p_timeout, mean = bucket_probabilities(np.asarray(scenario.layout.latency_buckets), mix,
                                                       row_queue, fail_fast, config.timeout)
    buckets, p_timeout, mean_latency = cumulative[inverse], p_timeout[inverse], mean[inverse]

    ff = c.fail_fast[..., None]
    p_error = ff + (1 - ff) * (1 - (1 - c.p_app) * (1 - p_timeout))

    overload = q.p_wait_longer(config.health_check_timeout)                         # (ticks, arms)
    blip = config.health_check_failure
    check_failure = blip + (1 - blip) * overload

    value = np.array([service.revenue_per_request(arm) for arm in scenario.layout.arms])
    return Expected(conditions=c, requests=c.rates * grid.interval, p_error=p_error, p_timeout=p_timeout,
                    buckets=buckets,
                    mean_latency=mean_latency, p_hit=c.hit * (1 - c.fail_fast), check_failure=check_failure,
                    rho=q.rho, per_instance=per_instance,
                    gauges=gauge_readings(scenario, q.rho, per_instance, c.leaked, c.serving), value=value,
                    latency_rows=(mix, row_queue, fail_fast), latency_index=inverse, latency_runs=len(runs),
                    timeout=config.timeout,
                    bounds=np.asarray(scenario.layout.latency_buckets, dtype=float))


@dataclass(frozen=True)
class Varied:
    """What ticks ``k:`` are drawn from once background variability is applied (shapes as in :class:`Expected`)."""

    requests: np.ndarray
    p_error: np.ndarray
    buckets: np.ndarray
    mean_latency: np.ndarray
    gauges: dict[str, np.ndarray]


def varied(scenario: Scenario, ex: Expected, paths: Optional[Paths], k: int,
           histograms: Optional[Sequence[int]] = None) -> Varied:
    """Ticks ``k:`` of ``ex`` under the latent ``paths`` (exactly ``ex``'s own arrays without them).

    With ``histograms``, only those arms' latency buckets are worked out under a latency
    path (the others' are NaN); timeouts and mean latency are, for every arm.

    The request multiplier moves the Poisson means and, through each arm's load, CPU and
    network; it does not feed back into the queue's latency (a known simplification of
    the fluid fidelity: at the reference load a x1.3 burst moves P99 by about 0.2%).
    """
    rows = slice(k, None)
    gauges = {name: values[rows] for name, values in ex.gauges.items()}
    if paths is None:
        return Varied(ex.requests[rows], ex.p_error[rows], ex.buckets[rows], ex.mean_latency[rows], gauges)
    requests = ex.requests[rows]
    if paths.requests is not None:
        expected_load = requests.sum(axis=2)
        requests = requests * paths.requests[rows]
        with np.errstate(invalid="ignore", divide="ignore"):
            load = np.where(expected_load > 0, requests.sum(axis=2) / expected_load, 1.0)      # (ticks, arms)
        c = ex.conditions
        gauges = gauge_readings(scenario, ex.rho[rows] * load, ex.per_instance[rows] * load, c.leaked[rows],
                                c.serving[rows])
    if paths.errors is None and paths.latency is None:
        return Varied(requests, ex.p_error[rows], ex.buckets[rows], ex.mean_latency[rows], gauges)
    c = ex.conditions
    if paths.latency_steps is None:
        buckets, mean_latency = ex.buckets[rows], ex.mean_latency[rows]
        p_timeout = ex.p_timeout[rows]
    else:
        buckets, p_timeout, mean_latency = _stretched(ex, paths.latency_steps[rows], ex.latency_index[rows],
                                                      histograms)
    p_app = c.p_app[rows] if paths.errors is None else np.minimum(c.p_app[rows] * paths.errors[rows], 1.0)
    ff = c.fail_fast[rows][..., None]
    p_error = ff + (1 - ff) * (1 - (1 - p_app) * (1 - p_timeout))
    return Varied(requests, p_error, buckets, mean_latency, gauges)


def _stretched(ex: Expected, steps: np.ndarray, index: np.ndarray, histograms: Optional[Sequence[int]]
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Buckets (NaN for the arms not in ``histograms``), timeout share and mean latency of cells that use
    rows ``index`` of ``ex``'s latency parameters, with every latency stretched by the cell's table ``steps``."""
    shown = None if histograms is None else np.array([a in histograms for a in range(steps.shape[1])])
    return ex.stretch_table.outcomes(steps, index, shown)


def gauge_readings(scenario: Scenario, rho: np.ndarray, per_instance: np.ndarray, leaked: np.ndarray,
                   serving: np.ndarray) -> dict[str, np.ndarray]:
    """Gauge readings from utilisation, requests per instance and leaked memory (missing with no instance up)."""
    service = scenario.service
    up = serving > 0
    memory_bytes = service.memory_bytes(per_instance, leaked)
    return {
        "cpu": np.where(up, service.cpu(rho), np.nan),
        "network": np.where(up, service.network(per_instance), np.nan),
        "memory_bytes": np.where(up, memory_bytes, np.nan),
        "memory": np.where(up, memory_bytes / scenario.config.service.memory_limit, np.nan),
    }


def with_noise(readings: dict[str, np.ndarray], rng: np.random.Generator, sigma: float) -> dict[str, np.ndarray]:
    """Gauges as a monitoring agent samples them: CPU and network jitter by ``sigma`` (clipped to 0-100%)."""
    noisy = dict(readings)
    if sigma:
        for name in ("cpu", "network"):
            noisy[name] = np.clip(readings[name] + rng.normal(0.0, sigma, readings[name].shape), 0.0, 1.0)
    return noisy


def assemble(scenario: Scenario, n_rows: int, **families: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Counter and gauge rows ``(n_rows, channels)`` from per-family arrays (time first)."""
    layout = scenario.layout
    telemetry = Telemetry.empty(layout, n_rows)
    for name, values in families.items():
        getattr(telemetry, name)[...] = values
    return telemetry.counters, telemetry.gauges


def expected_increments(scenario: Scenario, ex: Expected) -> dict[str, np.ndarray]:
    """Expected per-tick increments of every counter family (no noise)."""
    n = ex.requests
    checks, up = check_counts(scenario, 0)
    ok = up * (1 - ex.check_failure)
    per_bucket = ex.buckets
    errors = n * ex.p_error
    lookups = n.sum(axis=2)
    return {
        "requests": n, "errors": errors, "latency_bucket": n[..., None] * per_bucket,
        "latency_sum": n * ex.mean_latency, "revenue": (n - errors) * ex.value[None, :, None],
        "health_checks": checks, "health_checks_ok": ok,
        "cache_hits": lookups * ex.p_hit, "cache_misses": lookups * (1 - ex.p_hit),
    }


def check_counts(scenario: Scenario, k: int, blips: Optional[list[np.ndarray]] = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Health checks counted at ticks ``k:``, all of them and those of instances that are up
    (neither down nor in a ``blips`` round), ``(ticks, arms)`` each; the first scrape counts none."""
    grid = scenario.grid
    ticks = grid.round_tick                              # never decreases: the rounds counted from tick k on
    first = int(np.searchsorted(ticks, max(k, 1)))       # are the rounds from ``first`` on
    local = ticks[first:] - k
    n = grid.n_ticks - k
    sizes = np.array([pool.size for pool in scenario.pools], dtype=float)
    checks = np.bincount(local, minlength=n)[:, None] * sizes
    up = checks.copy()
    for a, pool in enumerate(scenario.pools):
        out = pool.down[first:] if blips is None else pool.down[first:] | blips[a][first:]
        up[:, a] -= np.bincount(local[np.flatnonzero(out) // pool.size], minlength=n)  # (round, instance) pairs out
    return checks, up


def expected_telemetry(scenario: Scenario, ex: Expected) -> Telemetry:
    """The noise-free telemetry of ``ex``: expected counts accumulated, expected gauges."""
    families = {name: np.cumsum(values, axis=0) for name, values in expected_increments(scenario, ex).items()}
    counters, gauges = assemble(scenario, len(ex.requests), **families, **ex.gauges)
    return Telemetry(scenario.layout, scenario.grid.times, counters, gauges)
