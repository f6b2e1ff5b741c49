"""The evaluator: walks a parsed query over a :class:`SeriesStore` at one or many times.

Every node is evaluated for all requested times at once (see :mod:`rampsim.promql.values`):
an instant query is a range query with one time. Selection follows
prometheus/prometheus ``promql/engine.go``: an instant selector takes each series' latest
sample within the lookback window before the (offset) time, unless that sample is a
staleness marker (``vectorSelectorSingle``); a range selector takes the samples in
``[t-w, t]`` (2.x) or ``(t-w, t]`` (3.x), staleness markers dropped (``matrixIterSlice``).
Results of functions and operators that would hold two samples with one label set at
the same time fail as in Prometheus ("vector cannot contain metrics with the same labelset").
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rampsim.promql import aggregate as _aggregate
from rampsim.promql import binary, functions
from rampsim.promql.errors import QueryError, UnsupportedQuery
from rampsim.promql.histogram import histogram_quantile
from rampsim.promql.overtime import OVER_TIME, over_time
from rampsim.promql.parse import Aggregate, Binary, Call, Node, Number, RangeSelector, Selector, Unary
from rampsim.promql.rate import extrapolated_rate, instant_value
from rampsim.promql.semantics import Semantics
from rampsim.promql.store import SeriesStore
from rampsim.promql.values import Labels, Scalar, Value, Vector, drop_name

__all__ = ["Context", "evaluate_node"]


@dataclass
class Context:
    """What an evaluation needs besides the query: the data, the times (ms), the semantics."""

    store: SeriesStore
    times: np.ndarray      # int64 ms, (T,)
    semantics: Semantics
    lookback_ms: int


def _instant_selector(node: Selector, ctx: Context) -> Vector:
    store = ctx.store
    comp = store.compiled()
    sids = store.select(node.matchers, ctx.semantics.regex_dotall)
    n_times = len(ctx.times)
    if len(sids) == 0 or len(comp.full.keys) == 0:
        return Vector.empty(n_times)
    at = ctx.times - node.offset_ms
    idx = np.searchsorted(comp.full.keys, comp.keys_for(sids, at), side="right") - 1
    valid = idx >= comp.full.starts[sids][:, None]
    idx = np.maximum(idx, 0)
    ts = comp.full.times[idx]
    if ctx.semantics.left_open:
        recent = ts > at - ctx.lookback_ms
    else:
        recent = ts >= at - ctx.lookback_ms
    present = valid & recent & ~comp.full_stale[idx]
    labels = store.selection_labels(node.matchers, ctx.semantics.regex_dotall, without_name=False)
    return Vector(list(labels), comp.full.values[idx], present)


def _range_function(name: str, node: RangeSelector, ctx: Context) -> Vector:
    store = ctx.store
    comp = store.compiled()
    dotall = ctx.semantics.regex_dotall
    sids = store.select(node.selector.matchers, dotall)
    n_times = len(ctx.times)
    if len(sids) == 0:
        return Vector.empty(n_times)
    end = ctx.times - node.selector.offset_ms
    start = end - node.range_ms
    keys = comp.clean.keys
    if ctx.semantics.left_open:      # both bounds searched from the right: one call
        both = np.searchsorted(keys, np.concatenate([comp.keys_for(sids, start), comp.keys_for(sids, end)]),
                               side="right")
        i0, i1 = both[:len(sids)], both[len(sids):]
    else:
        i0 = np.searchsorted(keys, comp.keys_for(sids, start), side="left")
        i1 = np.searchsorted(keys, comp.keys_for(sids, end), side="right")
    times, values = comp.padded_times, comp.padded_values
    if name in ("rate", "increase", "delta"):
        out, present = extrapolated_rate(times, values, comp.padded_resets, i0, i1, start, end,
                                         node.range_ms, name != "delta", name == "rate", ctx.semantics)
    elif name in ("irate", "idelta"):
        out, present = instant_value(times, values, i0, i1, name == "irate")
    elif name in OVER_TIME:
        out, present = over_time(name, times, values, comp.padded_resets, comp.padded_changes, i0, i1,
                                 ctx.semantics)
    else:  # pragma: no cover - parse.FUNCTIONS and this dispatch are kept in step
        raise UnsupportedQuery(f"function {name}")
    labels = store.selection_labels(node.selector.matchers, dotall, without_name=name != "last_over_time")
    return Vector(list(labels), out, present)


def _check_unique(vec: Vector) -> Vector:
    """Fail where two rows with one label set have a sample at the same time."""
    if len(set(vec.labels)) != len(vec.labels):
        seen: dict[Labels, list[int]] = {}
        for row, lab in enumerate(vec.labels):
            seen.setdefault(lab, []).append(row)
        for rows in seen.values():
            if len(rows) > 1 and (vec.present[rows].sum(axis=0) > 1).any():
                raise QueryError("vector cannot contain metrics with the same labelset")
    return vec


def _scalar_arg(value: Value, name: str) -> Scalar:
    if not isinstance(value, Scalar):
        raise QueryError(f"{name}: expected a scalar argument")
    return value


def _vector_arg(value: Value, name: str) -> Vector:
    if not isinstance(value, Vector):
        raise QueryError(f"{name}: expected an instant vector argument")
    return value


def _call(node: Call, ctx: Context) -> Value:
    name = node.name
    if name == "time":
        return functions.time(ctx.times)
    if node.args and isinstance(node.args[0], RangeSelector):
        return _check_unique(_range_function(name, node.args[0], ctx))
    if any(isinstance(a, RangeSelector) for a in node.args):
        raise UnsupportedQuery(f"function {name} with a range-vector argument")
    args = [evaluate_node(a, ctx) for a in node.args]
    if name == "vector":
        return functions.vector(_scalar_arg(args[0], name))
    if name == "scalar":
        return functions.scalar(_vector_arg(args[0], name))
    if name == "histogram_quantile":
        labels, values, present = histogram_quantile(_scalar_arg(args[0], name).values, _vector_arg(args[1], name))
        return _check_unique(Vector(labels, values, present))
    vec = _vector_arg(args[0], name)
    if name == "abs":
        out = functions.abs_(vec)
    elif name == "round":
        out = functions.round_(vec, _scalar_arg(args[1], name) if len(args) > 1 else None)
    elif name == "clamp":
        out = functions.clamp(vec, _scalar_arg(args[1], name), _scalar_arg(args[2], name))
    elif name == "clamp_min":
        out = functions.clamp_min(vec, _scalar_arg(args[1], name))
    elif name == "clamp_max":
        out = functions.clamp_max(vec, _scalar_arg(args[1], name))
    else:
        raise UnsupportedQuery(f"function {name} with an instant-vector argument")
    return _check_unique(out)


def evaluate_node(node: Node, ctx: Context) -> Value:
    """The value of ``node`` at every time of ``ctx``."""
    if isinstance(node, Number):
        return Scalar(np.full(len(ctx.times), node.value))
    if isinstance(node, Selector):
        return _instant_selector(node, ctx)
    if isinstance(node, Call):
        return _call(node, ctx)
    if isinstance(node, Aggregate):
        inner = evaluate_node(node.expr, ctx)
        return _aggregate.aggregate(node, _vector_arg(inner, node.op), ctx.semantics)
    if isinstance(node, Binary):
        lhs = evaluate_node(node.lhs, ctx)
        rhs = evaluate_node(node.rhs, ctx)
        out = binary.apply_binary(node, lhs, rhs, ctx.semantics)
        return _check_unique(out) if isinstance(out, Vector) else out
    if isinstance(node, Unary):
        inner = evaluate_node(node.expr, ctx)
        if isinstance(inner, Scalar):
            return Scalar(-inner.values)
        return _check_unique(Vector([drop_name(lab) for lab in inner.labels], -inner.values, inner.present))
    if isinstance(node, RangeSelector):
        raise UnsupportedQuery("range-vector result", "a range selector is evaluated only inside a function")
    raise UnsupportedQuery(f"expression {type(node).__name__}")
