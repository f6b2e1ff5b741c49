"""The PromQL functions rampsim evaluates, on instant vectors and scalars.

Range-vector functions are in :mod:`rampsim.promql.rate` and :mod:`rampsim.promql.overtime`;
``histogram_quantile`` in :mod:`rampsim.promql.histogram`. Transcribed from
prometheus/prometheus ``promql/functions.go``: ``funcVector``, ``funcScalar``,
``funcTime``, ``funcClamp``/``funcClampMin``/``funcClampMax``, ``funcAbs``, ``funcRound``.
Every function here drops ``__name__`` from its result.
"""
from __future__ import annotations

import numpy as np

from rampsim.promql.values import Scalar, Vector, drop_name

__all__ = ["vector", "scalar", "time", "clamp", "clamp_min", "clamp_max", "abs_", "round_"]


def _math(vec: Vector, values: np.ndarray, present: np.ndarray | None = None) -> Vector:
    return Vector([drop_name(lab) for lab in vec.labels], np.asarray(values, dtype=np.float64),
                  vec.present if present is None else present)


def vector(s: Scalar) -> Vector:
    """``vector(s)``: one sample without labels."""
    return Vector([()], s.values[None, :].copy(), np.ones((1, len(s.values)), dtype=bool))


def scalar(vec: Vector) -> Scalar:
    """``scalar(v)``: the value of the only sample, NaN unless there is exactly one."""
    n_times = vec.values.shape[1]
    if not vec.labels:
        return Scalar(np.full(n_times, np.nan))
    count = vec.present.sum(axis=0)
    value = np.where(vec.present, vec.values, 0.0).sum(axis=0)
    return Scalar(np.where(count == 1, value, np.nan))


def time(times_ms: np.ndarray) -> Scalar:
    """``time()``: the evaluation time in seconds."""
    return Scalar(times_ms / 1000.0)


def go_max(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Go's ``math.Max``, elementwise: ``+Inf`` if either is ``+Inf`` (even against NaN), else NaN if either is
    NaN, ``+0`` over ``-0``, else the larger (``np.maximum`` propagates NaN over ``+Inf``)."""
    x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        larger = np.where((x == 0) & (y == 0), np.where(np.signbit(x), y, x), np.maximum(x, y))
    return np.where(np.isposinf(x) | np.isposinf(y), np.inf, larger)


def go_min(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Go's ``math.Min``, elementwise: ``-Inf`` if either is ``-Inf`` (even against NaN), else NaN if either is
    NaN, ``-0`` under ``+0``, else the smaller."""
    x, y = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        smaller = np.where((x == 0) & (y == 0), np.where(np.signbit(x), x, y), np.minimum(x, y))
    return np.where(np.isneginf(x) | np.isneginf(y), -np.inf, smaller)


def clamp(vec: Vector, lo: Scalar, hi: Scalar) -> Vector:
    """``clamp(v, min, max)``: Go's ``math.Max(min, math.Min(max, v))``; no result at a time where
    ``max < min``. The same on every line: 3.x writes ``clamp_min`` and ``clamp_max`` as ``clamp`` with a
    bound of -Inf or +Inf, which gives these values."""
    with np.errstate(invalid="ignore"):
        present = vec.present & ~(hi.values < lo.values)[None, :]
    return _math(vec, go_max(lo.values, go_min(hi.values, vec.values)), present)


def clamp_min(vec: Vector, lo: Scalar) -> Vector:
    """``clamp_min(v, min)``: Go's ``math.Max(min, v)`` (``+Inf`` against NaN)."""
    return _math(vec, go_max(lo.values, vec.values))


def clamp_max(vec: Vector, hi: Scalar) -> Vector:
    """``clamp_max(v, max)``: Go's ``math.Min(max, v)`` (``-Inf`` against NaN)."""
    return _math(vec, go_min(hi.values, vec.values))


def abs_(vec: Vector) -> Vector:
    return _math(vec, np.abs(vec.values))


def round_(vec: Vector, to_nearest: Scalar | None) -> Vector:
    """``round(v, to_nearest=1)``: Go's ``math.Floor(v*(1/to_nearest)+0.5) / (1/to_nearest)``."""
    nearest = np.ones(vec.values.shape[1]) if to_nearest is None else to_nearest.values
    with np.errstate(all="ignore"):
        inverse = 1.0 / nearest
        return _math(vec, np.floor(vec.values * inverse + 0.5) / inverse)
