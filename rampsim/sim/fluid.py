"""The fluid fidelity: every tick's traffic drawn in bulk from the expected behaviour.

Per tick, arm and segment: requests are Poisson, errors binomial, latency buckets
multinomial, passing health checks binomial per tick and arm (down and blipping
instances fail every check), cache hits binomial; gauges are their expected value plus measurement noise. Background
variability (:mod:`rampsim.sim.variability`) moves the Poisson means, error
probabilities and latency distributions tick by tick, and blips fail checks. There is no
Python loop per request or per tick: the draws for all remaining ticks are made
at once for the weights in force, and made again from the tick where a decision
changes the weights (a rollback, a hold), so a closed-loop run costs one or two
bulk draws. A sweep draws the latency histogram only of the arms its gates read
(``histograms``); the other arms' buckets are missing.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from rampsim.sim.control import Control
from rampsim.sim.expected import Expected, assemble, check_counts, expected_for, varied, with_noise
from rampsim.sim.scenario import Scenario
from rampsim.sim.streams import Streams
from rampsim.sim.variability import Paths

__all__ = ["FluidTraffic"]


class FluidTraffic:
    """Draws rows of true telemetry for a scenario (see the module docstring)."""

    def __init__(self, scenario: Scenario, streams: Streams, paths: Optional[Paths] = None,
                 histograms: Optional[Sequence[int]] = None) -> None:
        self.scenario = scenario
        self.streams = streams
        self.paths = paths
        self.histograms = tuple(range(len(scenario.layout.arms))) if histograms is None else tuple(histograms)
        n = scenario.grid.n_ticks
        self.counters = np.zeros((n, scenario.layout.n_counters))
        self.gauges = np.zeros((n, scenario.layout.n_gauges))
        self.requests = np.zeros((n, len(scenario.layout.arms), len(scenario.layout.segments)))
        self.planned = np.full(n, np.nan)
        self._version = -1

    def start(self) -> None:
        """Nothing runs per request in the fluid fidelity."""

    def close(self, k: int) -> None:
        """Row ``k`` was drawn when its tick was routed."""

    def route(self, k: int, control: Control) -> None:
        """Make sure row ``k`` on is drawn for the weights ``control`` projects from tick ``k``."""
        if control.version == self._version:
            return
        self._version = control.version
        projected = control.projected(k)
        if np.array_equal(self.planned[k:], projected):
            return
        weights = self.planned.copy()
        weights[k:] = projected
        weights[:k] = np.where(np.isnan(weights[:k]), projected[0], weights[:k])
        self._draw(k, expected_for(self.scenario, weights))
        self.planned[k:] = projected

    def _draw(self, k: int, ex: Expected) -> None:
        s, scenario = self.streams, self.scenario
        drawn = varied(scenario, ex, self.paths, k, self.histograms)
        n = s.requests.poisson(drawn.requests).astype(float)
        errors = s.errors.binomial(n.astype(np.int64), np.clip(drawn.p_error, 0, 1)).astype(float)
        buckets = np.full(drawn.buckets.shape, np.nan)
        for a in self.histograms:  # each arm from its own stream: drawing fewer arms leaves the others' draws
            per_bucket = np.diff(drawn.buckets[:, a], prepend=0.0, axis=-1)
            per_bucket = np.clip(per_bucket, 0.0, None)
            per_bucket /= per_bucket.sum(axis=-1, keepdims=True)
            buckets[:, a] = s.latency_of(a).multinomial(n[:, a].astype(np.int64), per_bucket).cumsum(axis=-1)
        lookups = n.sum(axis=2)
        hits = s.cache.binomial(lookups.astype(np.int64), np.clip(ex.p_hit[k:], 0, 1)).astype(float)
        checks, ok = self._health_checks(k, ex)
        gauges = with_noise(drawn.gauges, s.gauges, scenario.config.service.gauge_noise)
        increments, gauge_rows = assemble(
            scenario, len(n), requests=n, errors=errors, latency_bucket=buckets,
            latency_sum=n * drawn.mean_latency, revenue=(n - errors) * ex.value[None, :, None],
            health_checks=checks, health_checks_ok=ok, cache_hits=hits, cache_misses=lookups - hits, **gauges)
        rows = self.counters[k:]
        np.cumsum(increments, axis=0, out=rows)   # in place: a fresh array of every row costs more than the sum
        if k > 0:
            rows += self.counters[k - 1]
        self.gauges[k:] = gauge_rows
        self.requests[k:] = n

    def _health_checks(self, k: int, ex: Expected) -> tuple[np.ndarray, np.ndarray]:
        """Checks at ticks ``k:`` and those that passed: a down or blipping instance fails every check,
        the others pass as one binomial per tick and arm (their failure probability is the tick's)."""
        checks, up = check_counts(self.scenario, k, self.paths.blips if self.paths else None)
        ok = self.streams.health.binomial(up.astype(np.int64), 1.0 - np.clip(ex.check_failure[k:], 0, 1))
        return checks, ok.astype(float)
