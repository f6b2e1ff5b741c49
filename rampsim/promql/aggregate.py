"""Aggregations: ``sum``, ``avg``, ``min``, ``max``, ``count`` with ``by``/``without``.

Transcribed from prometheus/prometheus ``promql/engine.go`` (``aggregation``): ``by``
keeps the listed labels, ``without`` drops them and ``__name__``; ``min``/``max`` ignore
NaN unless every value is NaN; ``sum`` is Kahan-Neumaier compensated and ``avg`` a
compensated direct mean that turns incremental when the sum would overflow. Summing with numpy and running Prometheus's sequential algorithm only
where cancellation could make the two differ (|sum| under a thousandth of the sum of
magnitudes, or an overflow) keeps the common case vectorized; elsewhere both round alike
to well below the 1e-6 relative tolerance of Prometheus's own tests.
"""
from __future__ import annotations

import math

import numpy as np

from rampsim.promql.overtime import kahan_sum_inc
from rampsim.promql.parse import Aggregate
from rampsim.promql.semantics import Semantics
from rampsim.promql.values import NAME, Labels, Vector

__all__ = ["aggregate"]

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
