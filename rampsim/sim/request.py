"""The request fidelity: every request a simpy process through an instance's workers.

Per tick the router draws arrivals per segment (Poisson, at the load profile's
rate, uniform within the interval), picks each one's learner, and routes it by
the learner's sticky assignment at the weight in force; a surge thins or adds
arrivals per arm. Each request then runs as a process: the load balancer picks a
routable instance at random; a down instance refuses it at once; otherwise it
waits for one of the instance's workers (a ``simpy.Resource``), gives up if it
waited past the timeout, holds the worker for its service time, and adds the
delays that hold no worker (latency faults, slow dependency, tail). Background
variability reads the run's latent paths per request: the tick's request
multiplier thins or adds arrivals like a surge, its error multiplier scales the
request's error probability, its latency multiplier stretches the request's
latency. Health checkers probe every instance every check interval through the
same queue (a blip fails the check). At
each scrape the completed requests are counted into the tick's row.

Slow (tens of thousands of requests per second of wall time): it exists to
validate the fluid fidelity at small scale.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import simpy

from rampsim.sim import latency
from rampsim.sim.control import Control
from rampsim.sim.expected import assemble, gauge_readings, with_noise
from rampsim.sim.scenario import Scenario
from rampsim.sim.streams import Streams
from rampsim.sim.variability import Paths

__all__ = ["RequestTraffic"]

CHECK_TIME = 0.001  # worker time of one health check


class RequestTraffic:
    """Runs requests and health checks as simpy processes (see the module docstring)."""

    def __init__(self, env: simpy.Environment, scenario: Scenario, streams: Streams, control: Control,
                 paths: Optional[Paths] = None) -> None:
        self.env, self.scenario, self.streams, self.paths = env, scenario, streams, paths
        layout, grid = scenario.layout, scenario.grid
        n, arms, segments = grid.n_ticks, len(layout.arms), len(layout.segments)
        self.counters = np.zeros((n, layout.n_counters))
        self.gauges = np.zeros((n, layout.n_gauges))
        self.requests = np.zeros((n, arms, segments))
        self.conditions = scenario.conditions(control.weights)   # weight-free parameters per tick
        self.population_rate = np.append(0.0, scenario.load.mean_rates(grid.times))
        self.members = [scenario.population.members(s) for s in range(segments)]
        workers = scenario.config.service.workers
        self.instances = [[simpy.Resource(env, capacity=workers) for _ in range(pool.size)]
                          for pool in scenario.pools]
        self._records: list[tuple[int, float, bool, bool]] = []   # (cell, latency, error, hit)
        self._busy = np.zeros(arms)
        self._checks = np.zeros(arms)
        self._checks_ok = np.zeros(arms)
        self.timeout = scenario.config.service.timeout

    # -- processes ---------------------------------------------------------------------

    def start(self) -> None:
        for a, pool in enumerate(self.scenario.pools):
            for i in range(pool.size):
                self.env.process(self._health_checker(a, i))

    def route(self, k: int, control: Control) -> None:
        """Start the router for tick ``k``'s interval, routing at the weight ``control`` sets for it."""
        if k > 0:
            self.env.process(self._router(k, control.weight(k)))

    def _router(self, k: int, weight: float):
        scenario, env, rng = self.scenario, self.env, self.streams.router
        grid, c = scenario.grid, self.conditions
        n_segments = len(self.members)
        surge = scenario.effects.surge[k]                                   # (arms, segments)
        paths = self.paths
        if paths is not None and paths.requests is not None:
            surge = surge * paths.requests[k]
        most = surge.max(axis=0)
        population = scenario.population.size
        counts = rng.poisson(self.population_rate[k] * grid.interval * most *
                             np.array([len(m) for m in self.members]) / population)
        segment = np.repeat(np.arange(n_segments), counts)
        learner = np.concatenate([m[rng.integers(0, len(m), n)] if n else m[:0]
                                  for m, n in zip(self.members, counts)])
        arm = scenario.population.on_canary(learner, weight).astype(np.intp)
        keep = rng.random(len(arm)) * most[segment] < surge[arm, segment]
        segment, arm = segment[keep], arm[keep]
        size = len(arm)
        when = np.sort(grid.times[k - 1] + grid.interval * rng.random(size))
        draws = self.streams.service
        hit = draws.random(size) < c.hit[k, arm]
        expo = draws.exponential(1.0, size)
        scale = scenario.service.scale
        service = np.where(hit, latency.HIT_SHIFT + latency.HIT_MEAN * expo,
                           latency.MISS_SHIFT + latency.MISS_MEAN * expo) * scale
        tail = draws.random(size) < c.tail_fraction[k, arm, segment]
        extra = c.shift[k, arm, segment] + np.where(hit, 0.0, c.miss_shift[k, arm, segment]) + \
            np.where(tail, c.tail_delay[k, arm, segment], 0.0)
        p_app = c.p_app[k, arm, segment]
        if paths is not None and paths.errors is not None:
            p_app = p_app * paths.errors[k, arm, segment]
        error = draws.random(size) < p_app
        stretch = (paths.latency[k, arm, segment] if paths is not None and paths.latency is not None
                   else np.ones(size))
        instance, refused = self._balance(arm, when, draws.random(size))
        cell = arm * n_segments + segment
        gaps = np.diff(when, prepend=env.now)
        pools, records, request = self.instances, self._records, self._request
        for gap, a, i, cl, s, x, e, h, t, m, no in zip(*(v.tolist() for v in (
                gaps, arm, instance, cell, service, extra, error, hit, when, stretch, refused))):
            yield env.timeout(gap)
            if no:
                records.append((cl, latency.FAIL_FAST, True, False))
            else:
                env.process(request(pools[a][i], a, cl, s, x, e, h, t, m))

    def _balance(self, arm: np.ndarray, when: np.ndarray, pick: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The instance the load balancer sends each request to, and whether it is refused (instance down)."""
        check = self.scenario.grid.check_interval
        rounds = np.ceil(when / check - 1e-9).astype(np.intp)
        instance = np.zeros(len(arm), np.intp)
        refused = np.zeros(len(arm), bool)
        for a, pool in enumerate(self.scenario.pools):
            mine = arm == a
            j = np.minimum(rounds[mine], len(pool.down) - 1)
            chosen = np.zeros(len(j), np.intp)
            none = np.zeros(len(j), bool)
            for r in np.unique(j):
                at = j == r
                routable = np.flatnonzero(pool.routable[r])
                if len(routable):
                    chosen[at] = routable[(pick[mine][at] * len(routable)).astype(np.intp)]
                else:
                    none[at] = True
            instance[mine] = chosen
            refused[mine] = none | pool.down[j, chosen]
        return instance, refused

    def _request(self, worker: simpy.Resource, arm: int, cell: int, service: float, extra: float,
                 error: bool, hit: bool, arrival: float, stretch: float):
        request = worker.request()
        yield request
        waited = self.env.now - arrival
        if waited >= self.timeout:
            worker.release(request)
            self._records.append((cell, self.timeout, True, hit))
            return
        yield self.env.timeout(service)
        worker.release(request)
        self._busy[arm] += service
        total = (waited + service + extra) * stretch
        if total > self.timeout:
            self._records.append((cell, self.timeout, True, hit))
        else:
            self._records.append((cell, total, error, hit))

    def _health_checker(self, arm: int, instance: int):
        env, scenario = self.env, self.scenario
        config = scenario.config.service
        pool, worker = scenario.pools[arm], self.instances[arm][instance]
        spurious = self.streams.health
        blipped = self.paths.blips[arm][:, instance] if self.paths and self.paths.blips else None
        check = scenario.grid.check_interval
        for j in range(1, len(pool.down)):
            yield env.timeout(j * check - env.now)   # round j on the absolute grid: checks never drift
            passed = False
            if not pool.down[j, instance]:
                request = worker.request()
                outcome = yield request | env.timeout(config.health_check_timeout)
                if request in outcome:
                    yield env.timeout(CHECK_TIME)
                    worker.release(request)
                    passed = spurious.random() >= config.health_check_failure and not (
                        blipped is not None and blipped[j])
                else:
                    request.cancel()
            self._checks[arm] += 1
            self._checks_ok[arm] += passed

    # -- counting ------------------------------------------------------------------------

    def close(self, k: int) -> None:
        """Count the requests and checks completed since the previous scrape into row ``k``."""
        scenario, layout = self.scenario, self.scenario.layout
        arms, segments = len(layout.arms), len(layout.segments)
        records = self._records
        self._records = []
        cells = arms * segments
        if records:
            cell, seconds, error, hit = (np.array(x) for x in zip(*records))
        else:
            cell, seconds, error, hit = np.zeros(0, np.intp), np.zeros(0), np.zeros(0, bool), np.zeros(0, bool)
        shape = (arms, segments)
        n = np.bincount(cell, minlength=cells).reshape(shape).astype(float)
        errors = np.bincount(cell, error.astype(float), cells).reshape(shape)
        bounds = np.asarray(layout.latency_buckets)
        bucket = np.searchsorted(bounds, seconds, side="left")
        per_bucket = np.bincount(cell * len(bounds) + bucket, minlength=cells * len(bounds)).reshape(*shape, -1)
        arm_of_record = cell // segments
        hits = np.bincount(arm_of_record, hit.astype(float), arms)
        value = np.array([scenario.service.revenue_per_request(a) for a in layout.arms])
        c = self.conditions
        dt = scenario.grid.interval
        with np.errstate(invalid="ignore", divide="ignore"):
            serving = c.serving[k]
            rho = np.where(serving > 0, self._busy / (scenario.config.service.workers * serving * dt), 0.0)
            served = n.sum(axis=1) * (1 - c.fail_fast[k])
            per_instance = np.where(serving > 0, served / (serving * dt), 0.0)
        readings = gauge_readings(scenario, rho, per_instance, c.leaked[k], serving)
        readings = with_noise(readings, self.streams.gauges, scenario.config.service.gauge_noise)
        increments, gauges = assemble(
            scenario, 1, requests=n[None], errors=errors[None], latency_bucket=per_bucket.cumsum(axis=-1)[None],
            latency_sum=np.bincount(cell, seconds, cells).reshape(shape)[None],
            revenue=((n - errors) * value[:, None])[None], health_checks=self._checks[None],
            health_checks_ok=self._checks_ok[None], cache_hits=hits[None], cache_misses=(n.sum(axis=1) - hits)[None],
            **{name: values[None] for name, values in readings.items()})
        previous = self.counters[k - 1] if k else np.zeros(layout.n_counters)
        self.counters[k] = previous + increments[0]
        self.gauges[k] = gauges[0]
        self.requests[k] = n
        self._busy[:] = 0.0
        self._checks[:] = 0.0
        self._checks_ok[:] = 0.0
