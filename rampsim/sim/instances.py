"""Instances of each arm over time: who is down, who the load balancer still routes to, memory.

On the health-check grid (round ``j`` at ``j * check_interval``): a crash fault
takes the first ``ceil(fraction * pool)`` instances down while it acts; a memory
leak grows each instance's resident memory (rates spread evenly by +-20% across
the pool, so instances do not all die at once) until it reaches the limit, when
the instance is OOM-killed, stays down for the restart time and comes back empty.
The load balancer ejects an instance after ``unhealthy_after`` failed checks in a
row and re-admits it after a passing one; requests it routes to a down instance
before ejecting it fail at once. Everything here is deterministic: it depends on
the faults, not on the seed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rampsim.sim.config import Service
from rampsim.sim.effects import Effects
from rampsim.sim.clock import Grid

__all__ = ["Pool", "pools"]

LEAK_SPREAD = 0.2


@dataclass(frozen=True)
class Pool:
    """One arm's instances over rounds, each array ``(rounds, instances)``.

    ``routable[j]`` says whether the load balancer sends traffic to the instance during
    the interval that *ends* at round ``j`` (decided by the checks up to round ``j - 1``).
    """

    down: np.ndarray
    leaked: np.ndarray
    routable: np.ndarray
    ooms: int

    @property
    def size(self) -> int:
        return self.down.shape[1]


def _routable(down: np.ndarray, unhealthy_after: int) -> np.ndarray:
    """Not ejected: fewer than ``unhealthy_after`` failed checks in a row by the previous round."""
    if not down.any():
        return np.ones(down.shape, bool)
    failed = np.vstack([np.zeros((1, down.shape[1]), np.int64), np.cumsum(down, axis=0)])
    lagged = np.vstack([np.zeros((unhealthy_after, down.shape[1]), np.int64), failed[:-unhealthy_after]])
    ejected = (failed[1:] - lagged[1:]) >= unhealthy_after
    return np.vstack([np.ones((1, down.shape[1]), bool), ~ejected[:-1]])


def _oom_timeline(leak_rate: np.ndarray, headroom: float, interval: float, restart_rounds: int,
                  down: np.ndarray, leaked: np.ndarray) -> int:
    """Fill one instance's ``down`` and ``leaked`` columns from its leak rate per round; count OOMs."""
    grown = np.concatenate([[0.0], np.cumsum(leak_rate[1:] * interval)])
    ooms, origin = 0, 0
    n = len(grown)
    while origin < n:
        over = np.flatnonzero(grown[origin:] - grown[origin] >= headroom)
        end = origin + over[0] if len(over) else n
        leaked[origin:end] = grown[origin:end] - grown[origin]
        if end >= n:
            break
        ooms += 1
        back = min(end + restart_rounds, n)
        down[end:back] = True
        origin = back
    return ooms


def pools(effects: Effects, service: Service, arms: tuple[str, ...], grid: Grid, headroom: float) -> list[Pool]:
    """Every arm's :class:`Pool` given the faults' ``effects``."""
    result = []
    restart_rounds = max(1, math.ceil(service.restart / grid.check_interval - 1e-9))
    for a, arm in enumerate(arms):
        size = service.instances[arm]
        index = np.arange(size)
        down = index[None, :] < np.ceil(effects.crash[:, a:a + 1] * size - 1e-9)
        leaked = np.zeros(down.shape)
        ooms = 0
        if effects.leak[:, a].any():
            spread = 1 + LEAK_SPREAD * (np.linspace(-1, 1, size) if size > 1 else np.zeros(1))
            oom_down = np.zeros(down.shape, bool)
            for i in range(size):
                ooms += _oom_timeline(effects.leak[:, a] * spread[i], headroom, grid.check_interval,
                                      restart_rounds, oom_down[:, i], leaked[:, i])
            down |= oom_down
        result.append(Pool(down=down, leaked=np.where(down, 0.0, leaked),
                           routable=_routable(down, service.unhealthy_after), ooms=ooms))
    return result
