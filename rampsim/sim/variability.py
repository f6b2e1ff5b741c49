"""Background variability: the latent paths one run's traffic is drawn around.

The ``traffic.variability`` section (:class:`~rampsim.sim.config.Variability`)
describes processes real services show beyond sampling noise: a persistent
log-scale wander of the request rate, the error probability and the latency,
per-tick overdispersion, bursts, and instance blips that fail health checks.
:func:`draw_paths` turns it into :class:`Paths`, multipliers per tick, arm and
segment, drawn once per run from the run's own stream. Both fidelities read the
same paths (the fluid one per tick, the request one per request), and the ground
truth never does.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from rampsim.sim.config import Bursts, HealthBlips, Latent, Variability
from rampsim.sim.clock import Grid
from rampsim.sim.latency import STRETCH_LIMIT, TABLE_STEP, table_steps

__all__ = ["Paths", "draw_paths", "ou_path", "ar1", "burst_factor"]

_DAY = 86400.0
MAX_SD = 3.0
"""A day's ``sd`` and ``jitter`` after its ``day_spread`` factor are at most this, the bound a plan may state."""


@dataclass(frozen=True)
class Paths:
    """Multipliers of one run: ``(ticks, arms, segments)`` each, plus per-arm blips ``(rounds, instances)``.

    Tick ``k``'s multiplier acts on the traffic of its interval ``((k - 1) * dt, k * dt]``.
    Latency multipliers are capped at :data:`~rampsim.sim.latency.STRETCH_LIMIT` either way and rounded to
    the latency table's steps, ``exp(m * TABLE_STEP)`` for a whole ``m`` (0.5% apart: far below their spread),
    so the fluid fidelity reads a cell's latency outcomes from a table (:mod:`rampsim.sim.stretch_table`).
    A process that is off is ``None`` (its multiplier is exactly 1); ``latency_steps`` holds each latency
    multiplier's ``m``.
    """

    requests: Optional[np.ndarray]
    errors: Optional[np.ndarray]
    latency: Optional[np.ndarray]
    latency_steps: Optional[np.ndarray]
    blips: Optional[list[np.ndarray]]


def ou_path(rng: np.random.Generator, n: int, columns: int, sd: float, phi: float) -> np.ndarray:
    """A stationary AR(1) path ``(n, columns)`` with marginal sd ``sd`` and lag-1 correlation ``phi``."""
    return _stationary(rng.standard_normal((n, columns)), sd, phi)


def _stationary(noise: np.ndarray, sd: float | np.ndarray, phi: float) -> np.ndarray:
    """The stationary AR(1) paths driven by standard normal ``noise`` ``(n, columns)``: marginal sd ``sd``
    (one for all columns, or one per column) and lag-1 correlation ``phi``."""
    shocks = noise * (np.asarray(sd) * math.sqrt(1.0 - phi * phi))
    shocks[0] = noise[0] * sd
    return ar1(shocks, phi)


def ar1(shocks: np.ndarray, phi: float) -> np.ndarray:
    """``x[t] = phi * x[t - 1] + shocks[t]`` from ``x[-1] = 0``, along the first axis.

    A doubling scan: after the step of lag ``2^j`` every ``x[t]`` holds the filtered sum
    of the ``2^(j + 1)`` shocks up to ``t``, so ``ceil(log2(n))`` whole-array steps replace
    the ``n`` sequential ones (``0 <= phi < 1``: every weight is at most 1).
    """
    x = np.array(shocks, dtype=float)
    lag = 1
    while lag < len(x):
        x[lag:] += phi ** lag * x[:-lag]
        lag *= 2
    return x


MAX_BURST_FACTOR = 1e6
"""Overlapping bursts multiply, up to this in all (the largest multiplier one burst may have): frequent, long and
large bursts would otherwise overflow the draws."""


def burst_factor(rng: np.random.Generator, bursts: Bursts, grid: Grid, n_arms: int) -> np.ndarray:
    """The product of the bursts in force, ``(ticks, arms)``, each tick weighted by its overlap, at most
    :data:`MAX_BURST_FACTOR`."""
    factor = np.ones((grid.n_ticks, n_arms))
    if bursts.per_day <= 0:
        return factor
    horizon = grid.horizon
    rates = [bursts.per_day * bursts.common] + [bursts.per_day * (1 - bursts.common)] * n_arms
    edges = grid.times
    for source, rate in enumerate(rates):
        count = rng.poisson(rate * horizon / _DAY)
        if not count:
            continue
        starts = rng.uniform(0.0, horizon, count)
        ends = starts + rng.exponential(bursts.duration, count)
        multipliers = np.exp(math.log(bursts.multiplier) + bursts.spread * rng.standard_normal(count))
        arms = slice(None) if source == 0 else slice(source - 1, source)
        first = np.maximum(np.searchsorted(edges, starts, side="right") - 1, 0)   # the intervals a burst
        last = np.minimum(np.searchsorted(edges, ends, side="left"), len(edges) - 1)  # overlaps: first..last - 1
        for start, end, multiplier, lo, hi in zip(starts, ends, multipliers, first.tolist(), last.tolist()):
            overlap = np.clip(np.minimum(edges[lo + 1:hi + 1], end) - np.maximum(edges[lo:hi], start), 0.0,
                              None) / grid.interval
            factor[lo + 1:hi + 1, arms] *= (1.0 + (multiplier - 1.0) * overlap)[:, None]
    return np.minimum(factor, MAX_BURST_FACTOR, out=factor)


def _day_scale(rng: np.random.Generator, latent: Latent, grid: Grid) -> Optional[np.ndarray]:
    """Each tick's factor on ``sd`` and ``jitter`` (``None`` when their amplitude does not change from day to day):
    ``exp(day_spread * z - day_spread**2)`` per day of the run, a tick in the day its interval starts in."""
    if latent.day_spread <= 0 or (latent.sd <= 0 and latent.jitter <= 0):
        return None
    day = (np.maximum(np.arange(grid.n_ticks) - 1, 0) * grid.interval // _DAY).astype(np.intp)
    spread = latent.day_spread
    return np.exp(spread * rng.standard_normal(int(day[-1]) + 1) - spread * spread)[day]


def _latent(rng: np.random.Generator, latent: Latent, grid: Grid, n_arms: int, n_segments: int) -> np.ndarray:
    n = grid.n_ticks
    scale = _day_scale(rng, latent, grid)
    log = np.zeros((n, n_arms))
    if latent.sd > 0:
        phi = math.exp(-grid.interval / latent.correlation_time)
        # the common part (n values), then each arm's own ((n, arms)), as ou_path draws them, filtered together
        drawn = rng.standard_normal(n * (1 + n_arms))
        noise = np.empty((n, 1 + n_arms))
        noise[:, 0], noise[:, 1:] = drawn[:n], drawn[n:].reshape(n, n_arms)
        x = _stationary(noise, latent.sd * np.sqrt([latent.common] + [1.0 - latent.common] * n_arms), phi)
        if scale is None:
            log = x[:, :1] + x[:, 1:] - latent.sd ** 2 / 2
        else:
            sd = np.minimum(latent.sd * scale, MAX_SD)
            log = (x[:, :1] + x[:, 1:]) * (sd / latent.sd)[:, None] - (sd ** 2 / 2)[:, None]
    multiplier = (np.exp(log) * burst_factor(rng, latent.bursts, grid, n_arms))[:, :, None]
    if latent.jitter <= 0:
        return np.repeat(multiplier, n_segments, axis=2)
    jitter = latent.jitter if scale is None else np.minimum(latent.jitter * scale, MAX_SD)[:, None, None]
    shape = 1.0 / jitter ** 2
    jittered = rng.gamma(shape, 1.0 / shape, (n, n_arms, n_segments))
    jittered *= multiplier
    return jittered


def _blips(rng: np.random.Generator, blips: HealthBlips, grid: Grid, sizes: Sequence[int]) -> list[np.ndarray]:
    rounds, check = grid.n_rounds, grid.check_interval
    result = []
    for size in sizes:
        counts = rng.poisson(blips.per_day * grid.horizon / _DAY, size)
        instance = np.repeat(np.arange(size), counts)
        starts = rng.uniform(0.0, grid.horizon, len(instance))
        ends = starts + rng.exponential(blips.duration, len(instance))
        first = np.minimum(np.ceil(starts / check - 1e-9).astype(np.intp), rounds)
        after = np.minimum(np.ceil(ends / check - 1e-9).astype(np.intp), rounds)
        # the (round, instance) cells each blip covers, rounds first <= j < after: every blip's run of
        # rounds laid end to end, numbered from 0, then moved to the blip's first cell
        lengths = after - first
        shift = np.repeat(first - (np.cumsum(lengths) - lengths), lengths)
        cells = (shift + np.arange(lengths.sum())) * size + np.repeat(instance, lengths)
        blipped = np.zeros((rounds, size), bool)
        blipped.ravel()[cells] = True
        result.append(blipped)
    return result


def draw_paths(variability: Optional[Variability], grid: Grid, n_arms: int, n_segments: int,
               pool_sizes: Sequence[int], rng: np.random.Generator) -> Optional[Paths]:
    """The latent paths of one run, or ``None`` when there is no background variability.

    Draws come from ``rng`` alone, in a fixed order (requests, errors, latency, blips),
    so a run's paths depend only on its seed and the configuration.
    """
    if variability is None or not variability.active:
        return None

    def latent(process: Latent) -> Optional[np.ndarray]:
        return _latent(rng, process, grid, n_arms, n_segments) if process.active else None

    requests, errors, latency = (latent(p) for p in (variability.requests, variability.errors, variability.latency))
    steps = None
    if latency is not None:   # capped, and on the latency table's steps (0.5% apart)
        np.clip(latency, 1.0 / STRETCH_LIMIT, STRETCH_LIMIT, out=latency)
        steps = table_steps(latency)
        np.exp(steps * TABLE_STEP, out=latency)
    blips = _blips(rng, variability.health_checks, grid, pool_sizes) if variability.health_checks.per_day > 0 else None
    return Paths(requests=requests, errors=errors, latency=latency, latency_steps=steps, blips=blips)
