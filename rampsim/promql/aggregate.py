"""Aggregations: ``sum``, ``avg``, ``min``, ``max``, ``count`` with ``by``/``without``.

Transcribed from prometheus/prometheus ``promql/engine.go`` (``aggregation``): ``by``
keeps the listed labels, ``without`` drops them and ``__name__``; ``min``/``max`` ignore
NaN unless every value is NaN; ``sum`` is Kahan-Neumaier compensated and ``avg`` a
compensated direct mean that turns incremental when the sum would overflow. Summing with numpy and running Prometheus's sequential algorithm only
where cancellation could make the two differ (|sum| under a thousandth of the sum of
magnitudes, or an overflow) keeps the common case vectorized; elsewhere both round alike
to well below the 1e-6 relative tolerance of Prometheus's own tests.

:func:`aggregate_one` is the same at one time over Python lists (for the single-instant path
of :class:`rampsim.promql.evaluate.CompiledQuery`). At one time numpy sums a ``(rows, 1)`` column
pairwise (:func:`column_sum` reproduces its order exactly), at many times row by row: each
path keeps the order its numpy counterpart has always had.
"""
from __future__ import annotations

import math
import sys
from typing import Callable

import numpy as np

from rampsim.promql.overtime import kahan_sum_inc
from rampsim.promql.parse import Aggregate
from rampsim.promql.semantics import Semantics
from rampsim.promql.values import NAME, Labels, Vector

__all__ = ["aggregate", "aggregate_one", "groups", "column_sum"]

_CANCELLATION = 1e3


def _group_key(labels: Labels, node: Aggregate) -> Labels:
    if node.without:
        return tuple(p for p in labels if p[0] != NAME and p[0] not in node.grouping)
    return tuple(p for p in labels if p[0] in node.grouping)


def _sequential_sum(column: list[float]) -> float:
    total, c = 0.0, 0.0
    for f in column:
        total, c = kahan_sum_inc(f, total, c)
    return total + c


def _sequential_avg(column: list[float], semantics: Semantics) -> float:
    total, c, count = 0.0, 0.0, 0.0
    mean = 0.0
    incremental = False
    for f in column:
        count += 1
        if not incremental:
            new_total, new_c = kahan_sum_inc(f, total, c)
            if not math.isinf(new_total):
                total, c = new_total, new_c
                continue
            incremental = True
            mean = total / (count - 1)
            c /= count - 1
        q = (count - 1) / count
        mean, c = kahan_sum_inc(f / count, q * mean, q * c)
    if incremental:
        return mean + c
    return (total + c) / count


def _sum_or_avg(values: np.ndarray, present: np.ndarray, avg: bool, semantics: Semantics) -> np.ndarray:
    masked = np.where(present, values, 0.0)
    with np.errstate(all="ignore"):
        total = masked.sum(axis=0)
        count = present.sum(axis=0) if avg else None
        out = total / np.maximum(count, 1) if count is not None else total
        if (masked >= 0).all() and np.isfinite(total).all():
            return out              # no cancellation, no overflow: numpy's sum rounds as Kahan's does here
        magnitude = np.abs(masked).sum(axis=0)
        suspect = (np.abs(total) * _CANCELLATION < magnitude) | (np.isinf(total) & np.isfinite(masked).all(axis=0))
        suspect &= present.any(axis=0)
    for t in np.flatnonzero(suspect):
        column = values[present[:, t], t].tolist()
        out[t] = _sequential_avg(column, semantics) if avg else _sequential_sum(column)
    return out


_GROUPS: dict[tuple[Aggregate, tuple[Labels, ...]], dict[Labels, list[int]]] = {}


def groups(node: Aggregate, labels: list[Labels]) -> dict[Labels, list[int]]:
    """The rows of each output group of ``node`` over input rows labelled ``labels``, in output order."""
    return _groups(node, labels)


def _groups(node: Aggregate, labels: list[Labels]) -> dict[Labels, list[int]]:
    """Rows of each group (cached: a query over one store sees the same label lists again)."""
    key = (node, tuple(labels))
    hit = _GROUPS.get(key)
    if hit is None:
        hit = {}
        for row, lab in enumerate(labels):
            hit.setdefault(_group_key(lab, node), []).append(row)
        if len(_GROUPS) > 4096:
            _GROUPS.clear()
        _GROUPS[key] = hit
    return hit


def aggregate(node: Aggregate, vec: Vector, semantics: Semantics) -> Vector:
    """Evaluate an aggregation over an instant vector at every time."""
    n_times = vec.values.shape[1]
    groups = _groups(node, vec.labels)
    out_labels: list[Labels] = []
    out_values = np.empty((len(groups), n_times))
    out_present = np.empty((len(groups), n_times), dtype=bool)
    for g, (key, rows) in enumerate(groups.items()):
        if len(rows) == len(vec.labels):
            values, present = vec.values, vec.present
        else:
            values, present = vec.values[rows], vec.present[rows]
        out_labels.append(key)
        out_present[g] = present.any(axis=0)
        op = node.op
        if op == "count":
            out_values[g] = present.sum(axis=0)
        elif op in ("sum", "avg"):
            out_values[g] = _sum_or_avg(values, present, op == "avg", semantics)
        else:
            masked = np.where(present, values, np.nan)
            with np.errstate(all="ignore"):
                out_values[g] = (np.fmax if op == "max" else np.fmin).reduce(masked, axis=0)
    return Vector(out_labels, out_values, out_present)


def _pairwise(xs: list[float], lo: int, n: int) -> float:
    """numpy's ``pairwise_sum`` (``loops_utils.h``) of ``xs[lo:lo + n]``: 8 accumulators per block of 128.

    Under 8 terms a plain sum from -0.0; up to 128, accumulator ``j`` sums ``xs[lo + j::8]``
    in order, the accumulators are combined pairwise and the remainder added in order;
    above, the two halves (a multiple of 8 first)."""
    if n < 8:
        return _ordered_sum(xs[lo:lo + n], -0.0)
    if n <= 128:
        r0, r1, r2, r3, r4, r5, r6, r7 = xs[lo:lo + 8]
        stop = lo + n - n % 8
        for i in range(lo + 8, stop, 8):
            r0 += xs[i]
            r1 += xs[i + 1]
            r2 += xs[i + 2]
            r3 += xs[i + 3]
            r4 += xs[i + 4]
            r5 += xs[i + 5]
            r6 += xs[i + 6]
            r7 += xs[i + 7]
        res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        return _ordered_sum(xs[stop:lo + n], res)
    half = n // 2
    half -= half % 8
    return _pairwise(xs, lo, half) + _pairwise(xs, lo + half, n - half)


def _python_sum(xs: list[float], start: float) -> float:
    for x in xs:
        start += x
    return start


# ``sum(xs, start)`` adds floats in order from ``start`` before Python 3.12 (which compensates).
_ordered_sum: Callable[[list[float], float], float] = sum if sys.version_info < (3, 12) else _python_sum


def column_sum(xs: list[float]) -> float:
    """What ``numpy.sum(axis=0)`` of the ``(len(xs), 1)`` column ``xs`` gives, bit for bit: ``0.0 +`` the pairwise sum."""
    return 0.0 + _pairwise(xs, 0, len(xs))


def _sum_or_avg_one(values: list[float], present: list[bool], avg: bool, semantics: Semantics) -> float:
    """:func:`_sum_or_avg` of one column."""
    masked = values if all(present) else [v if p else 0.0 for v, p in zip(values, present)]
    total = column_sum(masked)
    out = total / max(sum(present), 1) if avg else total
    # A finite total has finite terms (no NaN): min() then says whether every term is >= 0.
    if math.isfinite(total) and min(masked) >= 0:
        return out
    magnitude = column_sum([abs(m) for m in masked])
    suspect = abs(total) * _CANCELLATION < magnitude or (math.isinf(total) and all(map(math.isfinite, masked)))
    if suspect and any(present):
        column = [v for v, p in zip(values, present) if p]
        return _sequential_avg(column, semantics) if avg else _sequential_sum(column)
    return out


def aggregate_one(node: Aggregate, grouped: list[tuple[Labels, list[int]]], values: list[float],
                  present: list[bool], semantics: Semantics) -> tuple[list[float], list[bool]]:
    """:func:`aggregate` at one time: the values and presence of each group of ``grouped`` (from :func:`groups`)."""
    op = node.op
    out_values: list[float] = []
    out_present: list[bool] = []
    n_rows = len(values)
    for _, rows in grouped:
        if len(rows) == n_rows:
            vals, pres = values, present
        else:
            vals = [values[r] for r in rows]
            pres = [present[r] for r in rows]
        out_present.append(any(pres))
        if op == "count":
            out_values.append(float(sum(pres)))
        elif op in ("sum", "avg"):
            out_values.append(_sum_or_avg_one(vals, pres, op == "avg", semantics))
        else:
            masked = np.array([v if p else np.nan for v, p in zip(vals, pres)], dtype=np.float64).reshape(-1, 1)
            with np.errstate(all="ignore"):
                out_values.append(float((np.fmax if op == "max" else np.fmin).reduce(masked, axis=0)[0]))
    return out_values, out_present
