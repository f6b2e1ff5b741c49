"""Waiting in line at an instance: M/G/c with the Erlang C formula and Allen-Cunneen.

An instance has ``c`` workers. With per-instance arrivals ``lam`` and service times
of mean ``s`` and squared coefficient of variation ``scv``, the utilisation is
``rho = lam * s / c``. A request waits with probability ``C(c, c * rho)`` (Erlang
C); given that it waits, its wait is exponential with mean
``s / (c * (1 - rho)) * (1 + scv) / 2`` (the Allen-Cunneen correction for
non-exponential service). Past saturation the excess ``1 - 1/rho`` of requests
cannot be served at all (they time out) and the rest see a queue at ``RHO_CAP``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Queue", "queue", "erlang_c", "RHO_CAP"]

RHO_CAP = 0.98


def erlang_c(workers: int, rho: np.ndarray) -> np.ndarray:
    """Probability that an arrival waits in an M/M/c queue at utilisation ``rho`` (< 1)."""
    rho = np.asarray(rho, dtype=float)
    offered = rho * workers
    term = np.ones_like(offered)
    total = np.ones_like(offered)
    for k in range(1, workers):
        term = term * offered / k
        total = total + term
    last = term * offered / workers / np.maximum(1 - rho, 1e-12)
    return last / (total + last)


@dataclass(frozen=True)
class Queue:
    """The queue at one instance, elementwise over any shape of arrays."""

    rho: np.ndarray         # offered utilisation (may exceed 1)
    shed: np.ndarray        # fraction that cannot be served (past saturation)
    p_wait: np.ndarray      # probability a served request waits
    wait_mean: np.ndarray   # mean wait of those that wait (seconds)

    def p_wait_longer(self, seconds: float) -> np.ndarray:
        """Probability that a request (or health check) waits longer than ``seconds`` or is shed."""
        return self.shed + (1 - self.shed) * self.p_wait * np.exp(-seconds / self.wait_mean)


def queue(arrivals: np.ndarray, service_mean: float | np.ndarray, service_scv: float | np.ndarray,
          workers: int) -> Queue:
    """The queue of an instance receiving ``arrivals`` per second."""
    rho = np.asarray(arrivals, dtype=float) * service_mean / workers
    shed = np.where(rho > 1, 1 - 1 / np.maximum(rho, 1e-300), 0.0)
    served = np.minimum(rho, RHO_CAP)
    p_wait = erlang_c(workers, served)
    wait_mean = service_mean / (workers * (1 - served)) * (1 + service_scv) / 2
    return Queue(rho=rho, shed=shed, p_wait=p_wait, wait_mean=wait_mean)
