"""``histogram_quantile`` over classic histograms (``le``-labelled bucket series).

Transcribed from prometheus/prometheus ``promql/quantile.go`` (``bucketQuantile``, named
``BucketQuantile`` from 3.x, with ``coalesceBuckets`` and
``ensureMonotonicAndIgnoreSmallDeltas``) and ``funcHistogramQuantile`` in
``promql/functions.go``: buckets are grouped by their labels without ``le``, and the
result drops ``__name__`` too (so two metrics' buckets with one label set collide as in
Prometheus); a bucket whose ``le`` is not a number is ignored; the highest bucket must
be ``+Inf`` (else NaN); counts that differ by less than a relative 1e-12 are treated as
equal and any remaining decrease is flattened (the monotonicity fix, :mod:`rampsim.bucket_counts`, which the
engine's metrics share); fewer than two
buckets or zero observations give NaN; ``q < 0`` gives -Inf, ``q > 1`` +Inf, NaN gives NaN.
Native histograms are outside rampsim's subset.
"""
from __future__ import annotations

import math

import numpy as np

from rampsim.bucket_counts import almost_equal, monotonic_counts, monotonic_counts_scalar
from rampsim.promql.values import NAME, Labels, Vector

__all__ = ["bucket_quantile", "bucket_quantiles", "histogram_quantile", "almost_equal"]

def bucket_quantile(q: float, upper_bounds: list[float], counts: list[float]) -> float:
    """Prometheus's ``bucketQuantile`` of one classic histogram (buckets in any order)."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if not upper_bounds:
        return math.nan
    buckets = sorted(zip(upper_bounds, counts), key=lambda b: b[0])
    if not (math.isinf(buckets[-1][0]) and buckets[-1][0] > 0):
        return math.nan
    # coalesceBuckets: merge buckets with the same upper bound.
    merged: list[list[float]] = []
    for ub, c in buckets:
        if merged and merged[-1][0] == ub:
            merged[-1][1] += c
        else:
            merged.append([ub, c])
    for bucket, count in zip(merged, monotonic_counts_scalar([c for _, c in merged])):
        bucket[1] = count
    if len(merged) < 2:
        return math.nan
    observations = merged[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    b = len(merged) - 1
    for i in range(len(merged) - 1):   # sort.Search over [0, len-1)
        if merged[i][1] >= rank:
            b = i
            break
    if b == len(merged) - 1:
        return merged[-2][0]
    if b == 0 and merged[0][0] <= 0:
        return merged[0][0]
    bucket_start = 0.0
    bucket_end = merged[b][0]
    count = merged[b][1]
    if b > 0:
        bucket_start = merged[b - 1][0]
        count -= merged[b - 1][1]
        rank -= merged[b - 1][1]
    return bucket_start + (bucket_end - bucket_start) * _div(rank, count)


def bucket_quantiles(q: np.ndarray, upper_bounds: list[float], counts: np.ndarray) -> np.ndarray:
    """:func:`bucket_quantile` at many times at once, bit for bit: ``counts`` is ``(buckets, times)``, every
    bucket present at every time (the same arithmetic, in the same order, vectorized over the times)."""
    q = np.asarray(q, dtype=float)
    out: np.ndarray = np.full(q.shape, np.nan)
    order = sorted(range(len(upper_bounds)), key=lambda i: upper_bounds[i])   # stable, as sorted() above
    bounds = [upper_bounds[i] for i in order]
    regular = ~np.isnan(q) & (q >= 0) & (q <= 1)
    out[~np.isnan(q) & (q < 0)] = -math.inf
    out[~np.isnan(q) & (q > 1)] = math.inf
    if not bounds or not (math.isinf(bounds[-1]) and bounds[-1] > 0):
        return out
    merged_bounds: list[float] = []
    merged: list[np.ndarray] = []
    for bound, row in zip(bounds, np.asarray(counts, dtype=float)[order]):
        if merged_bounds and merged_bounds[-1] == bound:
            merged[-1] = merged[-1] + row
        else:
            merged_bounds.append(bound)
            merged.append(row.copy())
    if len(merged) < 2:
        return out
    m = monotonic_counts(np.array(merged).T).T
    observations = m[-1]
    rank: np.ndarray = q * observations
    with np.errstate(invalid="ignore"):
        reached = m[:-1] >= rank
    last = len(merged) - 1
    b = np.where(reached.any(axis=0), reached.argmax(axis=0), last)
    ub = np.array(merged_bounds)
    below = np.where(b > 0, m[np.maximum(b - 1, 0), np.arange(m.shape[1])], 0.0)
    start = np.where(b > 0, ub[np.maximum(b - 1, 0)], 0.0)
    count = m[np.minimum(b, last), np.arange(m.shape[1])] - below
    rank = rank - below
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(count == 0, np.where((rank == 0) | np.isnan(rank), np.nan, np.copysign(np.inf, rank)),
                         rank / count)
        value = start + (ub[np.minimum(b, last)] - start) * share
    value = np.where(b == last, ub[-2], np.where((b == 0) & (ub[0] <= 0), ub[0], value))
    value = np.where(observations == 0, np.nan, value)
    return np.where(regular, value, out)


def _div(a: float, b: float) -> float:
    try:
        return a / b
    except ZeroDivisionError:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a)


def _parse_le(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def histogram_quantile(q: np.ndarray, vector: Vector) -> tuple[list[Labels], np.ndarray, np.ndarray]:
    """``histogram_quantile(q, vector)`` at every time: ``(labels, values, present)`` of the output rows."""
    n_times = vector.values.shape[1]
    groups: dict[Labels, list[tuple[int, float]]] = {}
    for row, labels in enumerate(vector.labels):
        le_text = dict(labels).get("le", "")
        le = _parse_le(le_text)
        if le is None:
            continue
        key = tuple(pair for pair in labels if pair[0] != "le")   # __name__ still distinguishes groups
        groups.setdefault(key, []).append((row, le))
    out_labels: list[Labels] = []
    out_values = np.full((len(groups), n_times), np.nan)
    out_present = np.zeros((len(groups), n_times), dtype=bool)
    for g, (key, members) in enumerate(groups.items()):
        out_labels.append(tuple(pair for pair in key if pair[0] != NAME))
        rows = np.array([m[0] for m in members])
        les = [m[1] for m in members]
        sub_present = vector.present[rows]
        sub_values = vector.values[rows]
        full = sub_present.all(axis=0)
        if full.any():   # the usual case, every bucket scraped: all those times at once
            out_values[g, full] = bucket_quantiles(q[full], les, sub_values[:, full])
            out_present[g, full] = True
        for t in np.flatnonzero(sub_present.any(axis=0) & ~full):
            mask = sub_present[:, t]
            ubs = [le for le, keep in zip(les, mask) if keep]
            counts = sub_values[mask, t].tolist()
            out_values[g, t] = bucket_quantile(float(q[t]), ubs, counts)
            out_present[g, t] = True
    return out_labels, out_values, out_present
