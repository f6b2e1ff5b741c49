"""A scenario: a plan, its traffic section and faults, made ready to simulate.

:class:`Scenario` holds what never changes during a run (population, load,
calibrated service, fault effects, instance timelines). :meth:`Scenario.conditions`
turns a path of canary weights into :class:`Conditions`: per tick, the requests per
second of each arm and segment, the error probability a request meets, its cache
and latency parameters, and how much of each pool is up. Both fidelities and the
ground truth start from the same conditions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from rampsim.faults import Fault, check_faults, plan_faults
from rampsim.plan.loader import PlanError
from rampsim.plan.schema import Plan
from rampsim.sim.config import TrafficConfig, traffic_config
from rampsim.sim.effects import Effects
from rampsim.sim.clock import Grid
from rampsim.sim.instances import Pool, pools
from rampsim.sim.load import LoadProfile
from rampsim.sim.population import Population, population
from rampsim.sim.service import ServiceModel
from rampsim.telemetry import Layout


__all__ = ["Scenario", "Conditions"]


@dataclass
class Conditions:
    """Per-tick inputs of the service for one path of canary weights (see the module docstring)."""

    weights: np.ndarray         # (ticks,) canary weight during each tick's interval
    rates: np.ndarray           # (ticks, arms, segments) requests per second
    p_app: np.ndarray           # (ticks, arms, segments) application error probability
    hit: np.ndarray             # (ticks, arms) cache hit probability
    shift: np.ndarray           # (ticks, arms, segments) latency added to every request
    miss_shift: np.ndarray      # (ticks, arms, segments) latency added to cache misses
    tail_fraction: np.ndarray   # (ticks, arms, segments)
    tail_delay: np.ndarray      # (ticks, arms, segments)
    fail_fast: np.ndarray       # (ticks, arms) share of requests routed to a down instance
    serving: np.ndarray         # (ticks, arms) instances up and routable (time average)
    leaked: np.ndarray          # (ticks, arms) mean leaked bytes of the instances up at the scrape


@dataclass
class Scenario:
    """Everything about a run that does not depend on the seed or the gate."""

    plan: Plan
    config: TrafficConfig
    faults: tuple[Fault, ...]
    layout: Layout
    grid: Grid
    population: Population
    load: LoadProfile
    service: ServiceModel
    effects: Effects
    pools: list[Pool]
    memo: dict = field(default_factory=dict, repr=False, compare=False)   # derived values (see expected, truth)

    @classmethod
    def build(cls, plan: Plan, faults: Sequence[Fault] = ()) -> "Scenario":
        """The scenario of ``plan`` with its own ``faults:`` plus ``faults``.

        Raises :class:`~rampsim.plan.PlanError` for an unusable traffic section or fault.
        """
        config = plan.memo("traffic_config", traffic_config)   # a sweep builds every scenario of its mix on one plan
        everything = (*plan_faults(plan), *faults)
        problems = [f"fault {index + 1}: {message}" for index, message in check_faults(everything, plan)]
        if problems:
            raise PlanError(problems)
        grid = Grid.for_plan(plan)
        layout = plan.layout
        try:
            load = LoadProfile(config.load, plan.duration)
            service = plan.memo("service_model", lambda p: ServiceModel.calibrate(config, layout.latency_buckets))
        except ValueError as exc:
            where = plan.source.where(("traffic",)) if plan.source else "<plan>"
            raise PlanError([f"{where}: traffic: {exc}"]) from None
        segments = [config.segments[name] for name in layout.segments]
        people = population(config.learners, tuple(s.share for s in segments), config.assignment_salt)
        effects = Effects.build(everything, layout, grid)
        return cls(plan=plan, config=config, faults=everything, layout=layout, grid=grid, population=people,
                   load=load, service=service, effects=effects,
                   pools=pools(effects, config.service, layout.arms, grid, service.headroom))

    # -- weights ---------------------------------------------------------------------

    def scheduled_weights(self) -> np.ndarray:
        """The canary weight of each tick's interval when only the phases move it (open loop)."""
        starts = np.maximum(self.grid.times - self.grid.interval, 0.0)
        return self.plan.weights_at(starts)

    # -- conditions --------------------------------------------------------------------

    def conditions(self, weights: np.ndarray) -> Conditions:
        """The service's conditions when the canary weight follows ``weights``."""
        grid, effects, layout = self.grid, self.effects, self.layout
        weights = np.asarray(weights, dtype=float)
        unique, inverse = np.unique(weights, return_inverse=True)
        cohorts = np.stack([self.population.cohorts(w) for w in unique])[inverse]      # (T, A, S)
        population_rate = np.append(0.0, self.load.mean_rates(grid.times))                 # tick 0: nothing yet
        rates = population_rate[:, None, None] * cohorts / self.population.size * effects.surge
        base = np.array([self.config.segments[s].error_rate for s in layout.segments])
        p_app = np.clip(base + effects.error_add, 0.0, 1.0)
        hit = self.config.service.cache_hit_rate * (1 - effects.cache_loss)
        fail_fast, serving, leaked = self._pool_state()
        return Conditions(weights=weights, rates=rates, p_app=p_app, hit=hit, shift=effects.shift,
                          miss_shift=effects.miss_shift, tail_fraction=effects.tail_fraction,
                          tail_delay=effects.tail_delay, fail_fast=fail_fast, serving=serving, leaked=leaked)

    def _pool_state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        grid = self.grid
        ticks = grid.round_tick
        counts = np.bincount(ticks, minlength=grid.n_ticks).astype(float)
        shape = (grid.n_ticks, len(self.pools))
        fail_fast, serving, leaked = np.zeros(shape), np.zeros(shape), np.zeros(shape)
        last_round = np.full(grid.n_ticks, -1)
        last_round[ticks] = np.arange(len(ticks))
        for a, pool in enumerate(self.pools):
            routable = pool.routable.sum(axis=1)
            up = (pool.routable & ~pool.down).sum(axis=1)
            refused = np.where(routable > 0, 1 - up / np.maximum(routable, 1), 1.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                fail_fast[:, a] = np.bincount(ticks, refused, grid.n_ticks) / counts
                serving[:, a] = np.bincount(ticks, up, grid.n_ticks) / counts
                alive = ~pool.down[last_round]
                leaked[:, a] = (pool.leaked[last_round] * alive).sum(axis=1) / np.maximum(alive.sum(axis=1), 1)
        fail_fast[0] = 0.0
        serving[0] = [pool.size for pool in self.pools]
        return fail_fast, serving, leaked
