"""``evaluate`` and ``evaluate_range``: PromQL text in, Prometheus-shaped results out."""
from __future__ import annotations

import math
from typing import Hashable

import numpy as np
from numpy.typing import ArrayLike

from rampsim.promql.evaluate import CompiledQuery, One, OneValue, to_one
from rampsim.promql.parse import check_durations, parse
from rampsim.promql.semantics import Semantics, SemanticsLike, as_semantics
from rampsim.promql.store import SeriesStore, seconds_to_ms
from rampsim.promql.values import InstantResult, Labels, RangeResult, Scalar, sample

__all__ = ["evaluate", "evaluate_range", "check_supported", "compiled_query", "DEFAULT_LOOKBACK"]

DEFAULT_LOOKBACK = 300.0
"""Prometheus's default lookback delta (``--query.lookback-delta``), seconds."""


_COMPILED_PER_STORE = 256


def _semantics(value: SemanticsLike) -> Semantics:
    """:func:`as_semantics`, remembered (keyed by type too: ``3`` and ``3.0`` differ)."""
    try:
        key = (type(value), value)
        hit = _SEMANTICS.get(key)
    except TypeError:                 # unhashable: as_semantics says what is wrong with it
        return as_semantics(value)
    if hit is None:
        hit = as_semantics(value)
        if len(_SEMANTICS) < 256:
            _SEMANTICS[key] = hit
    return hit


_SEMANTICS: dict[tuple[type, SemanticsLike], Semantics] = {}


def compiled_query(expr: str, store: SeriesStore, semantics: SemanticsLike = 3,
                   lookback: float = DEFAULT_LOOKBACK) -> CompiledQuery:
    """``expr`` compiled over ``store`` (a :class:`rampsim.promql.evaluate.CompiledQuery`), cached in the store.

    :func:`evaluate` and :func:`evaluate_range` use it: evaluating one query at many times
    over one store parses and compiles it once."""
    compiled = store.compiled_queries
    try:      # the arguments as given (types too: 3 and 3.0 are different semantics)
        raw: Hashable = (expr, type(semantics), semantics, lookback)
        hit = compiled.get(raw)
    except TypeError:
        raw, hit = None, None
    if hit is None:
        sem = _semantics(semantics)
        lookback_ms = int(round(lookback * 1000))
        key = (expr, sem, lookback_ms)
        hit = compiled.get(key)
        if hit is None:
            tree = parse(expr)
            check_durations(expr, sem)
            hit = CompiledQuery(tree, store, sem, lookback_ms)
            if len(compiled) >= _COMPILED_PER_STORE:
                compiled.clear()
            compiled[key] = hit
        if raw is not None:
            compiled[raw] = hit
    assert isinstance(hit, CompiledQuery)
    return hit


def _one_ms(time: float) -> int | None:
    """``seconds_to_ms([time])[0]`` as a Python int (None where numpy's conversion should decide: not finite, huge)."""
    ms = float(time) * 1000.0
    if math.isfinite(ms) and abs(ms) < 2.0 ** 62:
        return int(round(ms))
    return None


def evaluate(expr: str, store: SeriesStore, time: float, semantics: SemanticsLike = 3,
             lookback: float = DEFAULT_LOOKBACK) -> InstantResult:
    """Evaluate an instant query at ``time`` (seconds) as Prometheus ``semantics`` (2 or 3) would.

    Raises :class:`UnsupportedQuery` naming any function or construct outside rampsim's
    subset, and :class:`QueryError` where Prometheus fails too. The query is compiled once
    per store (see :func:`compiled_query`), so evaluating it again at other times is cheap.
    """
    compiled = compiled_query(expr, store, semantics, lookback)
    t_ms = _one_ms(time)
    if t_ms is None:
        value: OneValue = to_one(compiled.run(seconds_to_ms([time])))
    else:
        value = compiled.run_one(t_ms)
    if not isinstance(value, One):
        return InstantResult.make("scalar", time, scalar=float(value))
    samples = tuple([sample(dict(lab), float(v)) for lab, v, p in zip(value.labels, value.values, value.present)
                     if p])
    return InstantResult.make("vector", time, vector=samples)


def evaluate_range(expr: str, store: SeriesStore, times: ArrayLike, semantics: SemanticsLike = 3,
                   lookback: float = DEFAULT_LOOKBACK) -> RangeResult:
    """Evaluate ``expr`` as an instant query at each of ``times`` (seconds), all at once.

    The result is Prometheus's ``matrix``: one series per label set that has a value at some
    time (a scalar expression gives one series without labels), with the times at which it has one.
    """
    t = np.asarray(times, dtype=np.float64).ravel()
    times_ms = seconds_to_ms(t)
    value = compiled_query(expr, store, semantics, lookback).run(times_ms)
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
    order = sorted((lab for lab in merged if rows_p[merged[lab]].any()), key=lambda lab: lab)   # Prometheus omits
    values = np.array([rows_v[merged[lab]] for lab in order]).reshape(len(order), len(t))     # pointless series
    present = np.array([rows_p[merged[lab]] for lab in order], dtype=bool).reshape(len(order), len(t))
    return RangeResult(t, tuple(dict(lab) for lab in order), values, present)


def check_supported(expr: str) -> None:
    """Raise ``UnsupportedQuery`` (or ``QueryError``) if ``expr`` cannot be evaluated: for validating gates early."""
    parse(expr)

