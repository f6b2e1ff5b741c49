"""The latency outcomes of a service at every latency stretch: one table every run looks up.

Background variability multiplies every latency of a cell (tick, arm, segment) by a
*stretch* on the steps of the latency CDF table, ``exp(m * TABLE_STEP)`` for a whole
``m`` (:func:`~rampsim.sim.variability.draw_paths` rounds them there, :func:`~rampsim.sim.latency.table_steps`).
A cell's histogram bucket probabilities, timeout share and mean latency then depend only on
its latency parameter row and ``m``: :class:`StretchTable` holds them for every
row and step, computed a slab of :data:`SLAB_STEPS` steps at a time as runs first
reach it, so a replicate reads its cells' outcomes instead of working them out
again. Bucket probabilities are held as 32-bit floats (7 digits, far finer than the
table's 1e-4 accuracy).

One table serves every scenario of the process with the same histogram bounds and timeout
(:func:`stretch_table`): a row is identified by its parameters and tabulated once, so
the scenarios of a sweep's mix, which share their healthy rows, share their work. A
row's outcomes are computed row by row in numpy's elementwise operations, so they do
not depend on which rows are computed beside it, nor on which runs came first (a test
holds it).

A scenario whose latency parameters change nearly every tick (a cache warming up over the
whole ramp) has thousands of rows, and a table of them would outweigh the cells a run
reads: above :data:`TABLE_ROWS` rows the outcomes are worked out cell by cell for each run
(:class:`CellByCell`: the same formulas; which way a scenario goes depends on the scenario alone).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from rampsim.sim.latency import STRETCH_LIMIT, TABLE_STEP, CdfTable, Mixture
from rampsim.sim.queueing import Queue
from rampsim.sim.service import mean_served_latency, stretched_bucket_probabilities

__all__ = ["StretchTable", "CellByCell", "ScenarioRows", "LatencyRows", "stretch_table", "REACH", "TABLE_ROWS",
           "SLAB_STEPS", "SHARED_ROWS"]

REACH = int(np.ceil(np.log(STRETCH_LIMIT) / TABLE_STEP))
"""Steps of stretch either way that a table spans (a stretch is at most ``STRETCH_LIMIT``)."""

TABLE_ROWS = 512
"""The most runs of latency parameters along a scenario's cells for which it reads the shared table (a slab of
that many rows is about 2 MB); above it, its outcomes are worked out cell by cell."""

SLAB_STEPS = 50
"""Stretch steps tabulated together (a quarter of a log unit: runs reach a few log units at most)."""

SHARED_ROWS = 4096
"""The most rows one shared table holds; past it, later scenarios start a new one."""

_SIZE = 2 * REACH + 1
_SLABS = -(-_SIZE // SLAB_STEPS)


@dataclass(frozen=True)
class LatencyRows:
    """Distinct latency parameter rows of a service: the mixture, the queue and the share refused fast."""

    mix: Mixture
    queue: Queue
    fail_fast: np.ndarray

    def __len__(self) -> int:
        return len(self.fail_fast)

    def subset(self, rows: np.ndarray) -> "LatencyRows":
        q = self.queue
        return LatencyRows(Mixture(self.mix.weight[rows], self.mix.shift[rows], self.mix.mean[rows]),
                           Queue(rho=q.rho[rows], shed=q.shed[rows], p_wait=q.p_wait[rows],
                                 wait_mean=q.wait_mean[rows]), self.fail_fast[rows])

    def keys(self) -> list[bytes]:
        """Each row's identity: every parameter its outcomes depend on, as bytes."""
        q = self.queue
        table = np.column_stack([self.mix.weight, self.mix.shift, self.mix.mean, q.shed, q.p_wait, q.wait_mean,
                                 self.fail_fast]).astype(float)
        return [row.tobytes() for row in table]


class _Group:
    """Rows added to a table together, with their tabulated CDF: what computes their outcomes."""

    def __init__(self, rows: LatencyRows, bounds: np.ndarray, timeout: float) -> None:
        reach = np.ceil(np.log(STRETCH_LIMIT))
        smallest = np.log(min(bounds[0], timeout))
        mix, queue = rows.mix, rows.queue
        self.cdf = CdfTable(mix, queue.p_wait, queue.wait_mean, smallest - reach, np.log(timeout) + reach)
        self.rows, self.bounds, self.timeout = rows, bounds, timeout
        self.served_mean = mean_served_latency(mix, queue)

    def computed(self, low: int, high: int, steps: np.ndarray, index: np.ndarray, grid: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The outcomes of cells that use rows ``index`` at ``steps`` (from ``low`` to ``high``)."""
        bounds, timeout = self.bounds, self.timeout
        self.cdf.cover(np.log(min(bounds[0], timeout)) - high * TABLE_STEP, np.log(timeout) - low * TABLE_STEP)
        return stretched_bucket_probabilities(bounds, self.cdf, self.rows.queue, self.rows.fail_fast,
                                              self.served_mean, timeout, steps, index, grid)

    def slab(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every row's outcomes at table steps ``start..stop - 1`` (offsets from ``-REACH``)."""
        steps = np.arange(start, stop)[None, :] - REACH
        rows = np.arange(len(self.rows))[:, None]
        return self.computed(start - REACH, stop - 1 - REACH, steps, rows, grid=True)


class StretchTable:
    """Bucket probabilities, timeout share and mean latency of every row added at every stretch step
    (see the module docstring), for one set of histogram bounds and a timeout.

    Threads may share it (a sweep's chunks can run on threads): rows are added and slabs covered
    under a lock, and a grown array replaces the held one only once it holds every covered slab."""

    def __init__(self, bounds: np.ndarray, timeout: float) -> None:
        self.bounds, self.timeout = np.asarray(bounds, dtype=float), float(timeout)
        self._lock = threading.Lock()
        self._ids: dict[bytes, int] = {}
        self._groups: list[tuple[int, _Group]] = []     # (first row, group)
        self._covered = np.zeros(_SLABS, dtype=bool)
        self.cumulative: np.ndarray = np.zeros((0, _SIZE, len(self.bounds)), np.float32)   # a slab not yet
        self.p_timeout: np.ndarray = np.zeros((0, _SIZE))                                    # covered reads 0
        self.mean_latency: np.ndarray = np.zeros((0, _SIZE))

    def __len__(self) -> int:
        return len(self._ids)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    def add(self, rows: LatencyRows) -> np.ndarray:
        """Each of ``rows``' index in the table, adding those it does not hold yet (as one group, tabulated
        over the slabs covered so far)."""
        keys = rows.keys()
        with self._lock:
            return self._added(rows, keys)

    def _added(self, rows: LatencyRows, keys: list[bytes]) -> np.ndarray:
        new: dict[bytes, int] = {}   # each key not held yet, at its first row
        for i, key in enumerate(keys):
            if key not in self._ids:
                new.setdefault(key, i)
        if new:
            first = len(self._ids)
            self._ids.update({key: first + offset for offset, key in enumerate(new)})
            group = _Group(rows.subset(np.array(list(new.values()))), self.bounds, self.timeout)
            self._groups.append((first, group))
            self._grow(first + len(new))
            for slab in np.flatnonzero(self._covered).tolist():
                self._fill(slab, first, group)
        return np.array([self._ids[key] for key in keys], dtype=np.intp)

    def _grow(self, n: int) -> None:
        """Room for ``n`` rows (fresh memory is not touched until a slab is written: only covered slabs are copied)."""
        held = len(self.cumulative)
        if n <= held:
            return
        capacity = max(n, 2 * held)
        arrays = []
        for old in (self.cumulative, self.p_timeout, self.mean_latency):
            grown = np.zeros((capacity,) + old.shape[1:], old.dtype)
            for slab in np.flatnonzero(self._covered).tolist():
                steps = slice(slab * SLAB_STEPS, min((slab + 1) * SLAB_STEPS, _SIZE))
                grown[:held, steps] = old[:, steps]
            arrays.append(grown)
        self.cumulative, self.p_timeout, self.mean_latency = arrays

    def _fill(self, slab: int, first: int, group: _Group) -> None:
        start, stop = slab * SLAB_STEPS, min((slab + 1) * SLAB_STEPS, _SIZE)
        rows = slice(first, first + len(group.rows))
        (self.cumulative[rows, start:stop], self.p_timeout[rows, start:stop],
         self.mean_latency[rows, start:stop]) = group.slab(start, stop)

    def cover(self, low: int, high: int) -> None:
        """Tabulate the slabs of steps ``low..high`` not done yet, for every row."""
        first, last = (max(low + REACH, 0) // SLAB_STEPS, min(high + REACH, _SIZE - 1) // SLAB_STEPS)
        if self._covered[first:last + 1].all():
            return
        with self._lock:
            for slab in (np.flatnonzero(~self._covered[first:last + 1]) + first).tolist():
                for row, group in self._groups:
                    self._fill(slab, row, group)
                self._covered[slab] = True

    def outcomes(self, steps: np.ndarray, index: np.ndarray, shown: Optional[np.ndarray] = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cumulative bucket probabilities ``(..., bounds)``, timeout share and mean latency of cells ``(ticks,
        arms, ...)`` that use rows ``index`` (the table's) stretched ``steps`` steps; with ``shown`` (a mask of
        arms), the buckets of the other arms are NaN."""
        self.cover(int(steps.min()), int(steps.max()))
        cell = index * _SIZE + (steps + REACH)
        table = self.cumulative.reshape(-1, self.cumulative.shape[-1])
        if shown is None or shown.all():
            buckets = table.take(cell, axis=0).astype(float)
        else:   # only the shown arms' buckets are read from the table
            buckets = np.full(cell.shape + table.shape[-1:], np.nan)
            buckets[:, shown] = table.take(cell[:, shown], axis=0)
        return buckets, self.p_timeout.ravel().take(cell), self.mean_latency.ravel().take(cell)


class ScenarioRows:
    """A scenario's latency rows in a shared :class:`StretchTable`: outcomes by the scenario's own row numbers."""

    tabulated = True

    def __init__(self, table: StretchTable, rows: LatencyRows) -> None:
        self.table = table
        self.ids = table.add(rows)

    def outcomes(self, steps: np.ndarray, index: np.ndarray, shown: Optional[np.ndarray] = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`StretchTable.outcomes` of cells that use the scenario's rows ``index``."""
        return self.table.outcomes(steps, self.ids.take(index), shown)


class CellByCell:
    """The same outcomes worked out for each cell a run reads (a scenario with too many rows to tabulate)."""

    tabulated = False

    def __init__(self, rows: LatencyRows, bounds: np.ndarray, timeout: float) -> None:
        self._group = _Group(rows, np.asarray(bounds, dtype=float), timeout)

    def outcomes(self, steps: np.ndarray, index: np.ndarray, shown: Optional[np.ndarray] = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        buckets, p_timeout, mean_latency = self._group.computed(int(steps.min()), int(steps.max()), steps, index)
        if shown is not None:
            buckets[:, ~shown] = np.nan
        return buckets, p_timeout, mean_latency


_TABLES: dict[tuple[bytes, float], StretchTable] = {}
_TABLES_LOCK = threading.Lock()


def stretch_table(rows: LatencyRows, bounds: np.ndarray, timeout: float, runs: Optional[int] = None
                  ) -> ScenarioRows | CellByCell:
    """The outcomes of ``rows`` at every stretch: from this process's table for ``bounds`` and ``timeout``
    (shared with every scenario that has them), or cell by cell when the scenario's latency parameters change
    in more than :data:`TABLE_ROWS` runs along its cells (``runs``, the rows before they were deduplicated: the
    choice, and so every outcome, is the one a scenario made before rows were shared)."""
    if (len(rows) if runs is None else runs) > TABLE_ROWS:
        return CellByCell(rows, bounds, timeout)
    bounds = np.asarray(bounds, dtype=float)
    key = (bounds.tobytes(), float(timeout))
    with _TABLES_LOCK:
        table = _TABLES.get(key)
        if table is None or len(table) + len(rows) > SHARED_ROWS:
            if len(_TABLES) >= 8:
                _TABLES.clear()
            table = _TABLES[key] = StretchTable(bounds, timeout)
    return ScenarioRows(table, rows)
