"""The latency outcomes of a scenario's service at every latency stretch: one table its runs look up.

Background variability multiplies every latency of a cell (tick, arm, segment) by a
*stretch* on the steps of the latency CDF table, ``exp(m * TABLE_STEP)`` for a whole
``m`` (:func:`~rampsim.sim.variability.draw_paths` rounds them there, :func:`~rampsim.sim.latency.table_steps`).
A cell's histogram bucket probabilities, timeout share and mean latency then depend only on
its latency parameter row and ``m``: :class:`StretchTable` holds them for every
row and step, computed a slab of :data:`SLAB_STEPS` steps at a time as runs first
reach it, so a replicate reads its cells' outcomes instead of working them out
again. A slab is always computed alone, with the same array shapes, so a value does
not depend on which runs came first. Bucket probabilities are held as 32-bit floats
(7 digits, far finer than the table's 1e-4 accuracy): a sweep worker holds a table
for every scenario of its mix.

A scenario whose latency parameters change nearly every tick (a cache warming up over the
whole ramp) has thousands of rows, and a table of them would outweigh the cells a run
reads: above :data:`TABLE_ROWS` rows the outcomes are worked out cell by cell for each run
(the same formulas; which way a scenario goes depends on the scenario alone).
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from rampsim.sim.latency import STRETCH_LIMIT, TABLE_STEP, CdfTable
from rampsim.sim.queueing import Queue
from rampsim.sim.service import stretched_bucket_probabilities

__all__ = ["StretchTable", "REACH", "TABLE_ROWS", "SLAB_STEPS"]

REACH = int(np.ceil(np.log(STRETCH_LIMIT) / TABLE_STEP))
"""Steps of stretch either way that a table spans (a stretch is at most ``STRETCH_LIMIT``)."""

TABLE_ROWS = 512
"""The most latency parameter rows a scenario tabulates (a slab of them is about 2 MB)."""

SLAB_STEPS = 50
"""Stretch steps tabulated together (a quarter of a log unit: runs reach a few log units at most)."""


class StretchTable:
    """Bucket probabilities, timeout share and mean latency of every latency parameter row at every
    stretch step (see the module docstring)."""

    def __init__(self, bounds: np.ndarray, cdf: CdfTable, queue: Queue, fail_fast: np.ndarray,
                 served_mean: np.ndarray, timeout: float) -> None:
        """The rows of ``cdf``, ``queue``, ``fail_fast`` and ``served_mean`` (one each) for histogram ``bounds``."""
        self._rows = (np.asarray(bounds, dtype=float), cdf, queue, fail_fast, served_mean, timeout)
        n_rows, self._size = len(fail_fast), 2 * REACH + 1
        self.tabulated = n_rows <= TABLE_ROWS
        shape = (n_rows, self._size) if self.tabulated else (0, self._size)
        self.cumulative = np.zeros(shape + (len(bounds),), np.float32)   # a slab not yet covered reads 0
        self.p_timeout = np.zeros(shape)
        self.mean_latency = np.zeros(shape)
        self._covered = np.zeros(-(-self._size // SLAB_STEPS), dtype=bool)

    def outcomes(self, steps: np.ndarray, index: np.ndarray, shown: Optional[np.ndarray] = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cumulative bucket probabilities ``(..., bounds)``, timeout share and mean latency of cells ``(ticks,
        arms, ...)`` that use rows ``index`` stretched ``steps`` steps; with ``shown`` (a mask of arms), the
        buckets of the other arms are NaN."""
        low, high = int(steps.min()), int(steps.max())
        if not self.tabulated:
            buckets, p_timeout, mean_latency = self._computed(low, high, steps, index)
            if shown is not None:
                buckets[:, ~shown] = np.nan
            return buckets, p_timeout, mean_latency
        self._cover(low, high)
        cell = index * self._size + (steps + REACH)
        table = self.cumulative.reshape(-1, self.cumulative.shape[-1])
        if shown is None or shown.all():
            buckets = table.take(cell, axis=0).astype(float)
        else:   # only the shown arms' buckets are read from the table
            buckets = np.full(cell.shape + table.shape[-1:], np.nan)
            buckets[:, shown] = table.take(cell[:, shown], axis=0)
        return buckets, self.p_timeout.ravel().take(cell), self.mean_latency.ravel().take(cell)

    def _computed(self, low: int, high: int, steps: np.ndarray, index: np.ndarray, grid: bool = False
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The outcomes of cells that use rows ``index`` at ``steps`` (from ``low`` to ``high``)."""
        bounds, cdf, queue, fail_fast, served_mean, timeout = self._rows
        cdf.cover(np.log(min(bounds[0], timeout)) - high * TABLE_STEP, np.log(timeout) - low * TABLE_STEP)
        return stretched_bucket_probabilities(bounds, cdf, queue, fail_fast, served_mean, timeout, steps, index,
                                              grid)

    def _cover(self, low: int, high: int) -> None:
        """Tabulate the slabs of steps ``low..high`` not done yet."""
        rows = np.arange(len(self._rows[3]))[:, None]
        first, last = (max(low + REACH, 0) // SLAB_STEPS, min(high + REACH, self._size - 1) // SLAB_STEPS)
        for slab in (np.flatnonzero(~self._covered[first:last + 1]) + first).tolist():
            start, stop = slab * SLAB_STEPS, min((slab + 1) * SLAB_STEPS, self._size)
            steps = np.arange(start, stop)[None, :] - REACH
            (self.cumulative[:, start:stop], self.p_timeout[:, start:stop],
             self.mean_latency[:, start:stop]) = self._computed(start - REACH, stop - 1 - REACH, steps, rows, grid=True)
            self._covered[slab] = True
