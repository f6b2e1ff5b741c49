"""The latency of a request: service paths, waiting in line, and slow paths added by faults.

A request's worker time follows its cache path: a hit takes ``HIT_SHIFT + Exp(HIT_MEAN)``,
a miss ``MISS_SHIFT + Exp(MISS_MEAN)``, all scaled by the calibration factor of
:class:`~rampsim.sim.service.ServiceModel`. On top of the worker time come the wait in
line (:mod:`rampsim.sim.queueing`) and delays that do not hold a worker (awaiting
I/O): a latency fault's shift, a slow dependency's delay on misses, a tail fault's
slow path. Each mixture component is a shift plus one or two exponentials, so the
distribution function has a closed form and the fluid fidelity evaluates it at
every histogram bound for every tick at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["HIT_SHIFT", "HIT_MEAN", "MISS_SHIFT", "MISS_MEAN", "FAIL_FAST", "Mixture", "mixture", "cdf",
           "service_moments", "CdfTable", "table_steps", "TABLE_STEP", "STRETCH_LIMIT", "SLAB_POINTS"]

HIT_SHIFT, HIT_MEAN = 0.004, 0.007
MISS_SHIFT, MISS_MEAN = 0.010, 0.014
FAIL_FAST = 0.001  # latency of a request refused by a down instance
TABLE_STEP = 0.005   # log-time step of tabulated CDFs
STRETCH_LIMIT = 32.0  # background variability multiplies a latency by at most this, or divides it
SLAB_POINTS = 200     # points of a tabulated CDF computed together: one log unit at TABLE_STEP
SHARP = 2e-4          # a second difference of the tabulated CDF beyond which lookups beside it are exact


@dataclass(frozen=True)
class Mixture:
    """Latency components along the last axis: weight, shift (seconds), mean of the exponential."""

    weight: np.ndarray
    shift: np.ndarray
    mean: np.ndarray


def service_moments(hit: npt.ArrayLike, scale: float) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Mean worker time and its squared coefficient of variation at cache hit probability ``hit``.

    Arrays for an array ``hit``; numpy scalars (floats) for a scalar one.
    """
    hit = np.asarray(hit, dtype=float)
    paths = ((hit, HIT_SHIFT * scale, HIT_MEAN * scale), (1 - hit, MISS_SHIFT * scale, MISS_MEAN * scale))
    mean = sum(p * (d + m) for p, d, m in paths)
    second = sum(p * ((d + m) ** 2 + m ** 2) for p, d, m in paths)
    return mean, second / mean ** 2 - 1


def mixture(hit: npt.ArrayLike, scale: float, shift: npt.ArrayLike, miss_shift: npt.ArrayLike,
            tail_fraction: npt.ArrayLike, tail_delay: npt.ArrayLike) -> Mixture:
    """The four components (hit/miss x normal/slow path), broadcast over the inputs' shape."""
    hit, shift, miss_shift, tail_fraction, tail_delay = np.broadcast_arrays(
        *(np.asarray(x, dtype=float) for x in (hit, shift, miss_shift, tail_fraction, tail_delay)))
    hit_shift = HIT_SHIFT * scale + shift
    miss = MISS_SHIFT * scale + shift + miss_shift
    weight = np.stack([hit * (1 - tail_fraction), (1 - hit) * (1 - tail_fraction),
                       hit * tail_fraction, (1 - hit) * tail_fraction], axis=-1)
    shifts = np.stack([hit_shift, miss, hit_shift + tail_delay, miss + tail_delay], axis=-1)
    means = np.broadcast_to(np.array([HIT_MEAN, MISS_MEAN, HIT_MEAN, MISS_MEAN]) * scale, weight.shape)
    return Mixture(weight, shifts, means)


def cdf(x: np.ndarray, mix: Mixture, p_wait: np.ndarray, wait_mean: np.ndarray) -> np.ndarray:
    """P(latency <= x) of a served request, for ``x`` along a new last axis.

    ``mix`` has shape ``(..., components)``; ``p_wait`` and ``wait_mean`` shape ``(...)``;
    ``x`` is ``(X,)``, or ``(..., X)`` for points of its own per leading index.
    """
    x = np.asarray(x, dtype=float)[..., None, :]
    y = x - mix.shift[..., None]                               # (..., K, X)
    m = mix.mean[..., None]
    w = np.asarray(wait_mean, dtype=float)[..., None, None]
    w = np.where(np.abs(w - m) < 1e-6 * m, w * 1.001, w)       # keep the two rates distinct
    positive = y > 0
    y = np.where(positive, y, 0.0)
    no_wait = -np.expm1(-y / m)
    with np.errstate(over="ignore", invalid="ignore"):
        waited = 1 - (m * np.exp(-y / m) - w * np.exp(-y / w)) / (m - w)
    c = np.asarray(p_wait, dtype=float)[..., None, None]
    per_component = np.where(positive, (1 - c) * no_wait + c * waited, 0.0)
    return np.einsum("...k,...kx->...x", mix.weight, per_component)



def table_steps(stretch: np.ndarray) -> np.ndarray:
    """The whole number ``m`` of table steps nearest to each latency multiplier: ``exp(m * TABLE_STEP)``."""
    return np.rint(np.log(stretch) * (1.0 / TABLE_STEP)).astype(np.intp)


class CdfTable:
    """:func:`cdf` of a few mixture rows tabulated on a grid of step :data:`TABLE_STEP` in log time.

    A lookup interpolates linearly between grid points, except in the grid intervals where
    the CDF bends sharply (a second difference above :data:`SHARP`: next to a component's
    shift, where a latency fault of a few hundred milliseconds makes the rise take a few
    grid steps in log time), which it evaluates exactly. Either way it is within about 1e-4
    of the exact CDF (tested on healthy and faulted rows): below the sampling noise of the
    bucket counts it feeds.

    The grid spans ``[low, high]`` but is computed a log unit (a *slab* of
    :data:`SLAB_POINTS` points) at a time, when :meth:`cover` first asks for it: a
    scenario builds one table for every run's latency stretch, and pays only for the
    range runs reach. A slab is always computed alone, with the same array shapes, so a
    value does not depend on which runs came first.
    """

    def __init__(self, mix: Mixture, p_wait: np.ndarray, wait_mean: np.ndarray, low: float, high: float) -> None:
        """Rows of ``mix`` (``(R, components)``) to tabulate from ``exp(low)`` to ``exp(high)`` seconds."""
        self._rows = (mix, np.asarray(p_wait, dtype=float), np.asarray(wait_mean, dtype=float))
        self.low = low                                   # log time of the first point
        size = int(np.ceil((high - low) / TABLE_STEP)) + 2
        self.values = np.zeros((len(mix.weight), size))  # (rows, points); a slab not yet covered reads 0
        self.slopes = np.zeros_like(self.values)         # the rise to the next point (0 at the last)
        self.sharp = np.zeros(self.values.shape, bool)   # the interval to the next point bends sharply
        self._covered = np.zeros(-(-size // SLAB_POINTS), dtype=bool)

    def cover(self, low: float, high: float) -> "CdfTable":
        """Compute the slabs holding log times ``[low, high]`` (clipped to the table), if not done yet."""
        size = self.values.shape[1]
        first = max(int(np.floor((low - self.low) / TABLE_STEP)), 0) // SLAB_POINTS
        last = min(int(np.ceil((high - self.low) / TABLE_STEP)) + 1, size - 1) // SLAB_POINTS
        mix, p_wait, wait_mean = self._rows
        for slab in (np.flatnonzero(~self._covered[first:last + 1]) + first).tolist():
            start = int(slab) * SLAB_POINTS
            stop = min(start + SLAB_POINTS, size)
            ends = min(stop + 1, size)                   # the next slab's first point, for the last slope
            # with one point more either side, for the bends at the slab's edges
            values = cdf(np.exp(self.low + TABLE_STEP * np.arange(start - 1, ends + 1)), mix, p_wait, wait_mean)
            self.values[:, start:stop] = values[:, 1:stop - start + 1]
            self.slopes[:, start:ends - 1] = np.diff(values[:, 1:-1], axis=1)
            bend = np.abs(np.diff(values, n=2, axis=1)) > SHARP          # at points start..ends - 1
            self.sharp[:, start:ends - 1] = bend[:, :-1] | bend[:, 1:]   # the interval from each point
            self._covered[slab] = True
        return self

    def at_steps(self, log_points: np.ndarray, steps: np.ndarray, index: np.ndarray) -> np.ndarray:
        """The CDF of row ``index[...]`` at ``exp(log_points - steps[...] * TABLE_STEP)``, ``(..., points)``
        (``steps`` and ``index`` broadcast together; every point in a range :meth:`cover` has computed).

        A whole number of steps moves a point by whole grid steps, so each point's interpolation
        weight is the same at every step; an interval that bends sharply is evaluated exactly.
        """
        width = self.values.shape[1]
        log_points = np.asarray(log_points, dtype=float)
        position = (log_points - self.low) * (1.0 / TABLE_STEP)
        below = np.floor(position)
        weight, below = position - below, below.astype(np.intp)
        steps, index = np.asarray(steps)[..., None], np.asarray(index)[..., None]
        cell = np.clip(below - steps, 0, width - 2) + index * width
        result = self.slopes.ravel().take(cell)
        result *= weight
        result += self.values.ravel().take(cell)
        sharp = np.nonzero(self.sharp.ravel().take(cell))
        if len(sharp[0]):
            x = log_points[sharp[-1]] - np.broadcast_to(steps, cell.shape)[sharp] * TABLE_STEP
            result[sharp] = self._exact(np.broadcast_to(index, cell.shape)[sharp], x)
        return result

    def _exact(self, rows: np.ndarray, log_x: np.ndarray) -> np.ndarray:
        """:func:`cdf` of row ``rows[i]`` at ``exp(log_x[i])`` (where interpolation would bend too far)."""
        mix, p_wait, wait_mean = self._rows
        one = Mixture(mix.weight[rows], mix.shift[rows], mix.mean[rows])
        return cdf(np.exp(log_x)[:, None], one, p_wait[rows], wait_mean[rows])[:, 0]

    def stepped(self, log_points: np.ndarray, start: int, stop: int) -> np.ndarray:
        """:meth:`at_steps` of every row at every step ``start..stop - 1``, ``(rows, stop - start, points)``:
        the same values, read as slices of the table (what tabulating a slab of steps needs)."""
        width = self.values.shape[1]
        log_points = np.asarray(log_points, dtype=float)
        position = (log_points - self.low) * (1.0 / TABLE_STEP)
        below = np.floor(position)
        weight, below = position - below, below.astype(np.intp)
        result = np.empty((len(position), len(self.values), stop - start))
        for j, (point, w) in enumerate(zip(below.tolist(), weight.tolist())):
            first, last = point - (stop - 1), point - start     # the grid points read, in reverse step order
            if 0 <= first and last <= width - 2:
                read: Any = slice(last, first - 1 if first > 0 else None, -1)
            else:
                read = np.clip(point - np.arange(start, stop), 0, width - 2)
            np.multiply(self.slopes[:, read], w, out=result[j])
            result[j] += self.values[:, read]
            rows, steps = np.nonzero(self.sharp[:, read])
            if len(rows):
                result[j][rows, steps] = self._exact(rows, log_points[j] - (start + steps) * TABLE_STEP)
        return result.transpose(1, 2, 0)
