"""``evaluate`` and ``evaluate_range``: PromQL text in, Prometheus-shaped results out."""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from rampsim.promql.evaluate import Context, evaluate_node
from rampsim.promql.parse import parse
from rampsim.promql.semantics import SemanticsLike, as_semantics
from rampsim.promql.store import SeriesStore, seconds_to_ms
from rampsim.promql.values import InstantResult, Labels, RangeResult, Sample, Scalar, Vector

__all__ = ["evaluate", "evaluate_range", "check_supported", "DEFAULT_LOOKBACK"]

DEFAULT_LOOKBACK = 300.0
"""Prometheus's default lookback delta (``--query.lookback-delta``), seconds."""


def _run(expr: str, store: SeriesStore, times_ms: np.ndarray, semantics: SemanticsLike,
         lookback: float) -> Vector | Scalar:
    node = parse(expr)
    ctx = Context(store, times_ms, as_semantics(semantics), int(round(lookback * 1000)))
    with np.errstate(all="ignore"):     # IEEE results (Inf, NaN) are PromQL's results: no warnings
        return evaluate_node(node, ctx)


def evaluate(expr: str, store: SeriesStore, time: float, semantics: SemanticsLike = 3,
             lookback: float = DEFAULT_LOOKBACK) -> InstantResult:
    """Evaluate an instant query at ``time`` (seconds) as Prometheus ``semantics`` (2 or 3) would.

    Raises :class:`UnsupportedQuery` naming any function or construct outside rampsim's
    subset, and :class:`QueryError` where Prometheus fails too.
    """
    times_ms = seconds_to_ms([time])
    value = _run(expr, store, times_ms, semantics, lookback)
    if isinstance(value, Scalar):
        return InstantResult("scalar", time, scalar=float(value.values[0]))
    samples = tuple(Sample(dict(lab), float(v))
                    for lab, v, p in zip(value.labels, value.values[:, 0], value.present[:, 0]) if p)
    return InstantResult("vector", time, vector=samples)


def evaluate_range(expr: str, store: SeriesStore, times: ArrayLike, semantics: SemanticsLike = 3,
                   lookback: float = DEFAULT_LOOKBACK) -> RangeResult:
    """Evaluate ``expr`` as an instant query at each of ``times`` (seconds), all at once.

    The result is Prometheus's ``matrix``: one series per label set (a scalar expression
    gives one series without labels), with the times at which it has a value.
    """
    t = np.asarray(times, dtype=np.float64).ravel()
    times_ms = seconds_to_ms(t)
    value = _run(expr, store, times_ms, semantics, lookback)
    if isinstance(value, Scalar):
        return RangeResult(t, ({},), value.values[None, :].copy(), np.ones((1, len(t)), dtype=bool))
    merged: dict[Labels, int] = {}
    rows_v: list[np.ndarray] = []
    rows_p: list[np.ndarray] = []
    for lab, vals, pres in zip(value.labels, value.values, value.present):
        row = merged.get(lab)
        if row is None:
            merged[lab] = len(rows_v)
            rows_v.append(np.where(pres, vals, np.nan))
            rows_p.append(pres.copy())
        else:
            rows_v[row] = np.where(pres, vals, rows_v[row])
            rows_p[row] = rows_p[row] | pres
    order = sorted(merged, key=lambda lab: lab)
    values = np.array([rows_v[merged[lab]] for lab in order]).reshape(len(order), len(t))
    present = np.array([rows_p[merged[lab]] for lab in order], dtype=bool).reshape(len(order), len(t))
    return RangeResult(t, tuple(dict(lab) for lab in order), values, present)


def check_supported(expr: str) -> None:
    """Raise ``UnsupportedQuery`` (or ``QueryError``) if ``expr`` cannot be evaluated: for validating gates early."""
    parse(expr)

