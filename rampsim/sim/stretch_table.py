"""The latency outcomes of a scenario's service at every latency stretch: one table its runs look up.

Background variability multiplies every latency of a cell (tick, arm, segment) by a
*stretch* on the steps of the latency CDF table, ``exp(m * TABLE_STEP)`` for a whole
``m`` (:func:`~rampsim.sim.variability.draw_paths` rounds them there, :func:`~rampsim.sim.latency.table_steps`). A cell's
histogram bucket probabilities, timeout share and mean latency then depend only on
its latency parameter row and ``m``: :class:`StretchTable` holds them for every
row and step, computed a slab of :data:`~rampsim.sim.latency.SLAB_POINTS` steps at a
time as runs first reach it, so a replicate reads its cells' outcomes instead of
working them out again. A slab is always computed alone, with the same array
shapes, so a value does not depend on which runs came first.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from rampsim.sim.latency import SLAB_POINTS, STRETCH_LIMIT, TABLE_STEP, CdfTable
from rampsim.sim.queueing import Queue
from rampsim.sim.service import stretched_bucket_probabilities

__all__ = ["StretchTable", "REACH"]

REACH = int(np.ceil(np.log(STRETCH_LIMIT) / TABLE_STEP))
"""Steps of stretch either way that a table spans (a stretch is at most ``STRETCH_LIMIT``)."""


class StretchTable:
    """Bucket probabilities, timeout share and mean latency of every latency parameter row at every
    stretch step (see the module docstring)."""

    def __init__(self, bounds: np.ndarray, cdf: CdfTable, queue: Queue, fail_fast: np.ndarray,
                 served_mean: np.ndarray, timeout: float) -> None:
        """The rows of ``cdf``, ``queue``, ``fail_fast`` and ``served_mean`` (one each) for histogram ``bounds``."""
        self._rows = (np.asarray(bounds, dtype=float), cdf, queue, fail_fast, served_mean, timeout)
        n_rows, self._size = len(fail_fast), 2 * REACH + 1
        self.cumulative = np.zeros((n_rows, self._size, len(bounds)))   # a slab not yet covered reads 0
        self.p_timeout = np.zeros((n_rows, self._size))
        self.mean_latency = np.zeros((n_rows, self._size))
        self._covered = np.zeros(-(-self._size // SLAB_POINTS), dtype=bool)

    def outcomes(self, steps: np.ndarray, index: np.ndarray, shown: Optional[np.ndarray] = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cumulative bucket probabilities ``(..., bounds)``, timeout share and mean latency of cells ``(ticks,
        arms, ...)`` that use rows ``index`` stretched ``steps`` steps; with ``shown`` (a mask of arms), the
        buckets of the other arms are NaN."""
        self._cover(int(steps.min()), int(steps.max()))
        cell = index * self._size + (steps + REACH)
        p_timeout = self.p_timeout.ravel().take(cell)
        mean_latency = self.mean_latency.ravel().take(cell)
        buckets = self.cumulative.reshape(-1, self.cumulative.shape[-1]).take(cell, axis=0)
        if shown is not None:
            buckets[:, ~shown] = np.nan
        return buckets, p_timeout, mean_latency

    def _cover(self, low: int, high: int) -> None:
        bounds, cdf, queue, fail_fast, served_mean, timeout = self._rows
        first, last = (max(low + REACH, 0) // SLAB_POINTS, min(high + REACH, self._size - 1) // SLAB_POINTS)
        for slab in (np.flatnonzero(~self._covered[first:last + 1]) + first).tolist():
            start, stop = slab * SLAB_POINTS, min((slab + 1) * SLAB_POINTS, self._size)
            cdf.cover(np.log(min(bounds[0], timeout)) - (stop - 1 - REACH) * TABLE_STEP,
                      np.log(timeout) - (start - REACH) * TABLE_STEP)
            (self.cumulative[:, start:stop], self.p_timeout[:, start:stop],
             self.mean_latency[:, start:stop]) = stretched_bucket_probabilities(
                bounds, cdf, queue, fail_fast, served_mean, timeout, start - REACH, stop - REACH)
            self._covered[slab] = True
