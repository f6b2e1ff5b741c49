"""The evaluator: walks a parsed query over a :class:`SeriesStore` at one or many times.

Every node is evaluated for all requested times at once (see :mod:`rampsim.promql.values`):
an instant query is a range query with one time. Selection follows
prometheus/prometheus ``promql/engine.go``: an instant selector takes each series' latest
sample within the lookback window before the (offset) time, unless that sample is a
staleness marker (``vectorSelectorSingle``); a range selector takes the samples in
``[t-w, t]`` (2.x) or ``(t-w, t]`` (3.x), staleness markers dropped (``matrixIterSlice``).
The ``anchored``/``smoothed`` modifiers read wider windows: see :mod:`rampsim.promql.extended`.
Results of functions and operators that would hold two samples with one label set at
the same time fail as in Prometheus ("vector cannot contain metrics with the same labelset").

:func:`evaluate_node` walks the tree; :class:`CompiledQuery` compiles it once per store (selections,
labels, groups and matching resolved once) and evaluates it at many times with numpy or at
one time in plain Python, with exactly :func:`evaluate_node`'s results (see its docstring).
"""
from __future__ import annotations

import math
import operator
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Sequence, Union

import numpy as np

from rampsim.promql import aggregate as _aggregate
from rampsim.promql import binary, extended, functions
from rampsim.promql.errors import PromQLError, QueryError, UnsupportedQuery
from rampsim.promql.histogram import histogram_quantile
from rampsim.promql.overtime import OVER_TIME, over_time, over_time_one
from rampsim.promql.parse import (ARITHMETIC, SET_OPERATORS, Aggregate, Binary, Call, Node, Number, RangeSelector,
                                  Selector, Unary)
from rampsim.promql.rate import extrapolated_rate, extrapolated_rate_one, instant_value, instant_value_one
from rampsim.promql.semantics import Semantics
from rampsim.promql.store import Samples, SeriesStore
from rampsim.promql.values import Labels, Scalar, Value, Vector, drop_name

__all__ = ["Context", "evaluate_node", "CompiledQuery", "One", "OneValue", "to_one", "from_one"]


@dataclass
class Context:
    """What an evaluation needs besides the query: the data, the times (ms), the semantics."""

    store: SeriesStore
    times: np.ndarray      # int64 ms, (T,)
    semantics: Semantics
    lookback_ms: int


def _bound(comp: Any, sids: np.ndarray) -> extended.Bound:
    """Each series' index just past its staleness-free samples at or before a time (see :mod:`~.extended`)."""
    keys = comp.clean.keys
    return lambda at: np.searchsorted(keys, comp.keys_for(sids, at), side="right")


def _instant_selector(node: Selector, ctx: Context) -> Vector:
    store = ctx.store
    comp = store.compiled()
    if node.modifier:
        extended.check(node.modifier, None, ctx.semantics)
    sids = store.select(node.matchers, ctx.semantics.regex_dotall)
    n_times = len(ctx.times)
    if len(sids) == 0 or len(comp.full.keys) == 0:
        return Vector.empty(n_times)
    labels = store.selection_labels(node.matchers, ctx.semantics.regex_dotall, without_name=False)
    if node.modifier == "smoothed":
        values, present = extended.smoothed_value(comp.padded_times, comp.padded_values, _bound(comp, sids),
                                                  ctx.times - node.offset_ms, ctx.lookback_ms)
        return Vector(list(labels), values, present)
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
    return Vector(list(labels), comp.full.values[idx], present)


def _extended_function(name: str, modifier: str, times: np.ndarray, values: np.ndarray, resets: np.ndarray,
                       changes: np.ndarray, bound: extended.Bound, start: np.ndarray, end: np.ndarray, range_ms: int,
                       lookback_ms: int) -> tuple[np.ndarray, np.ndarray]:
    """A range function of an ``anchored``/``smoothed`` range (checked with :func:`extended.check`)."""
    if name in ("changes", "resets"):
        return extended.anchored_count(changes if name == "changes" else resets, times, bound, start, end,
                                       lookback_ms)
    return extended.extended_rate(times, values, resets, bound, start, end, range_ms, lookback_ms,
                                  name != "delta", name == "rate", modifier == "smoothed")


def _range_function(name: str, node: RangeSelector, ctx: Context) -> Vector:
    store = ctx.store
    comp = store.compiled()
    dotall = ctx.semantics.regex_dotall
    modifier = node.selector.modifier
    if modifier:
        extended.check(modifier, name, ctx.semantics)
    sids = store.select(node.selector.matchers, dotall)
    n_times = len(ctx.times)
    if len(sids) == 0:
        return Vector.empty(n_times)
    end = ctx.times - node.selector.offset_ms
    start = end - node.range_ms
    labels = store.selection_labels(node.selector.matchers, dotall, without_name=name != "last_over_time")
    if modifier:
        out, present = _extended_function(name, modifier, comp.padded_times, comp.padded_values, comp.padded_resets,
                                          comp.padded_changes, _bound(comp, sids), start, end, node.range_ms,
                                          ctx.lookback_ms)
        return Vector(list(labels), out, present)
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
    return _apply_call(node, [evaluate_node(a, ctx) for a in node.args])


def _apply_call(node: Call, args: list[Value]) -> Value:
    """A function of instant-vector and scalar arguments, applied to their values."""
    name = node.name
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


# ---------------------------------------------------------------- compiled queries

class One:
    """An instant vector at one time, as Python lists: ``labels``, ``values``, ``present`` per row.

    ``key`` identifies the label list among the values one compiled node can produce (a node
    whose rows are fixed always gives the same key), so that what depends only on the labels
    (groups, matching) is computed once per key. An absent row's value is meaningless."""

    __slots__ = ("key", "labels", "values", "present")

    def __init__(self, key: Hashable, labels: Sequence[Labels], values: list[float], present: list[bool]) -> None:
        self.key = key
        self.labels = labels
        self.values = values
        self.present = present


OneValue = Union[float, One]
_EMPTY = One(0, (), [], [])
_CACHE_LIMIT = 1024


def from_one(x: OneValue) -> Value:
    """A value at one time as the vectorized evaluator's (``T = 1``)."""
    if isinstance(x, One):
        return Vector(list(x.labels), np.array(x.values, dtype=np.float64).reshape(-1, 1),
                      np.array(x.present, dtype=bool).reshape(-1, 1))
    return Scalar(np.array([x], dtype=np.float64))


def to_one(value: Value) -> OneValue:
    """A value at one time (``T = 1``) as the single-time path's."""
    if isinstance(value, Scalar):
        return float(value.values[0])
    labels = list(value.labels)
    return One(tuple(labels), labels, value.values[:, 0].tolist(), value.present[:, 0].tolist())


def _duplicates(labels: Sequence[Labels]) -> list[list[int]]:
    """Rows sharing a label set (groups of two or more)."""
    if len(set(labels)) == len(labels):
        return []
    seen: dict[Labels, list[int]] = {}
    for row, lab in enumerate(labels):
        seen.setdefault(lab, []).append(row)
    return [rows for rows in seen.values() if len(rows) > 1]


def _check_unique_one(duplicates: list[list[int]], present: list[bool]) -> None:
    """:func:`_check_unique` at one time, given :func:`_duplicates` of the labels."""
    for rows in duplicates:
        if sum(1 for r in rows if present[r]) > 1:
            raise QueryError("vector cannot contain metrics with the same labelset")


def _keyed(cache: dict[Hashable, Any], key: Hashable, make: Callable[..., Any], *args: Any) -> Any:
    """``cache[key]``, made by ``make(*args)`` if missing (the cache is bounded)."""
    hit = cache.get(key)
    if hit is None:
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        hit = cache[key] = make(*args)
    return hit


def _dropped(labels: Sequence[Labels]) -> tuple[list[Labels], list[list[int]]]:
    """``labels`` without ``__name__``, and their duplicates."""
    out = [drop_name(lab) for lab in labels]
    return out, _duplicates(out)


def _undropped(labels: Sequence[Labels]) -> tuple[Sequence[Labels], list[list[int]]]:
    return labels, _duplicates(labels)


class _Node:
    """A node of a compiled query: its value at many times (``vec``) or at one (``one``)."""

    def vec(self, times: np.ndarray, memo: dict[Any, Any]) -> Value:
        raise NotImplementedError

    def one(self, t: int, memo: dict[Any, Any]) -> OneValue:
        with np.errstate(all="ignore"):
            return to_one(self.vec(np.array([t], dtype=np.int64), memo))


class _Fallback(_Node):
    """Evaluated by :func:`evaluate_node` (what compiling leaves out, and whatever fails as it would)."""

    def __init__(self, node: Node, query: "CompiledQuery") -> None:
        self.node = node
        self.store = query.store_ref         # the store keeps its compiled queries: no reference back to it
        self.semantics = query.semantics
        self.lookback_ms = query.lookback_ms

    def vec(self, times: np.ndarray, memo: dict[Any, Any]) -> Value:
        store = self.store()
        assert store is not None, "a compiled query is evaluated with its store"
        return evaluate_node(self.node, Context(store, times, self.semantics, self.lookback_ms))


class _Number(_Node):
    def __init__(self, value: float) -> None:
        self.value = value

    def vec(self, times: np.ndarray, memo: dict[Any, Any]) -> Value:
        return Scalar(np.full(len(times), self.value))

    def one(self, t: int, memo: dict[Any, Any]) -> OneValue:
        return self.value


class _Time(_Node):
    def vec(self, times: np.ndarray, memo: dict[Any, Any]) -> Value:
        return functions.time(times)

    def one(self, t: int, memo: dict[Any, Any]) -> OneValue:
        return t / 1000.0


class _Selector(_Node):
    """An instant selector (see :func:`_instant_selector`) over its selection's samples."""

    def __init__(self, node: Selector, query: "CompiledQuery", sids: np.ndarray) -> None:
        store = query.store
        comp = store.compiled()
        self.offset = node.offset_ms
        self.lookback = query.lookback_ms
        self.left_open = query.semantics.left_open
        self.labels = store.selection_labels(node.matchers, query.semantics.regex_dotall, without_name=False)
        self.empty = len(sids) == 0 or len(comp.full.keys) == 0
        self.selection = None if self.empty else comp.selection(sids, clean=False)

    def vec(self, times: np.ndarray, memo: dict[Any, Any]) -> Value:
        sel = self.selection
        if sel is None:
            return Vector.empty(len(times))
        at = times - self.offset
        samples, idx = sel.latest(at)
        valid = idx >= samples.first[:, None]
        idx = np.maximum(idx, 0)
        ts = samples.times[idx]
        recent = ts > at - self.lookback if self.left_open else ts >= at - self.lookback
        present = valid & recent & ~samples.stale[idx]
        return Vector(list(self.labels), samples.values[idx], present)

    def one(self, t: int, memo: dict[Any, Any]) -> OneValue:
        sel = self.selection
        if sel is None:
            return _EMPTY
        local = sel.warm()
        if local is None:       # not yet worth Python lists: numpy at T = 1
            with np.errstate(all="ignore"):
                vec = self.vec(np.array([t], dtype=np.int64), memo)
            assert isinstance(vec, Vector)
            return One(0, self.labels, vec.values[:, 0].tolist(), vec.present[:, 0].tolist())
        at = t - self.offset
        ends = sel.bound_one(local, at, right=True)
        times, values, stale, first = local.lists("times", "values", "stale", "first")
        limit = at - self.lookback
        nan = math.nan
        out: list[float] = []
        present: list[bool] = []
        for j, end in enumerate(ends):
            i = end - 1
            if i < first[j]:
                out.append(nan)
                present.append(False)
                continue
            out.append(values[i])
            ts = times[i]
            present.append((ts > limit if self.left_open else ts >= limit) and not stale[i])
        return One(0, self.labels, out, present)


class _RangeGroup:
    """The windows of one range function, range and offset over the union of the series its calls select.

    Each series' window is computed once per evaluation however many calls select it
    (``sum(rate(x{code=~"5.."}[1m])) / sum(rate(x[1m]))`` computes each 5xx rate once)."""

    def __init__(self, name: str, range_ms: int, offset_ms: int, modifier: str, query: "CompiledQuery") -> None:
        self.name = name
        self.range_ms = range_ms
        self.offset = offset_ms
        self.modifier = modifier
        self.lookback_ms = query.lookback_ms
        self.semantics = query.semantics
        self.comp = query.store.compiled()
        self.members: list[np.ndarray] = []
        self.sids = np.zeros(0, dtype=np.int64)

    def add(self, sids: np.ndarray) -> int:
        self.members.append(sids)
        return len(self.members) - 1

    def finish(self) -> list[np.ndarray | None]:
        """Build the union selection; each member's rows in it (None: all of them, in order)."""
        self.sids = self.members[0] if len(self.members) == 1 else np.array(
            sorted(set(np.concatenate(self.members).tolist())), dtype=np.int64)
        self.selection = self.comp.selection(self.sids, clean=True)
        rows: list[np.ndarray | None] = []
        for m in self.members:
            rows.append(None if len(m) == len(self.sids) else np.searchsorted(self.sids, m))
        return rows

    def vec(self, times: np.ndarray, memo: dict[Any, Any]) -> tuple[np.ndarray, np.ndarray]:
        hit = memo.get(self)
        if hit is None:
            hit = memo[self] = self._compute(times)
        return hit  # type: ignore[no-any-return]

    def _compute(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        end = times - self.offset
        start = end - self.range_ms
        name = self.name
        if self.modifier:
            return self._compute_extended(start, end)
        s, i0, i1 = self.selection.windows(start, end, self.semantics.left_open)
        if name in ("rate", "increase", "delta"):
            times_f = s.times_f
            if times_f is not None and len(times) and max(-int(start.min()), int(end.max())) >= _EXACT_MS:
                times_f = None
            return extrapolated_rate(s.times, s.values, s.resets, i0, i1, start, end, self.range_ms,
                                     name != "delta", name == "rate", self.semantics, times_f)
        if name in ("irate", "idelta"):
            return instant_value(s.times, s.values, i0, i1, name == "irate")
        return over_time(name, s.times, s.values, s.resets, s.changes, i0, i1, self.semantics)

    def _compute_extended(self, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The windows of an ``anchored``/``smoothed`` range, found in the selection's samples."""
        selection = self.selection
        found: list[Samples] = []

        def bound(at: np.ndarray) -> np.ndarray:
            samples, last = selection.latest(at)
            found.append(samples)
            return last + 1

        samples = selection.latest(end)[0]
        out = _extended_function(self.name, self.modifier, samples.times, samples.values, samples.resets,
                                 samples.changes, bound, start, end, self.range_ms, self.lookback_ms)
        assert all(f is samples for f in found), "every window bound is searched in the same samples"
        return out

    def one(self, t: int, memo: dict[Any, Any]) -> tuple[list[float], list[bool]]:
        hit = memo.get(self)
        if hit is None:
            hit = memo[self] = self._compute_one(t)
        return hit  # type: ignore[no-any-return]

    def _compute_one(self, t: int) -> tuple[list[float], list[bool]]:
        sel = self.selection
        local = None if self.modifier else sel.warm()
        if local is None:       # not yet worth Python lists (or an extended range): numpy at T = 1
            with np.errstate(all="ignore"):
                v, p = self._compute(np.array([t], dtype=np.int64))
            return v[:, 0].tolist(), p[:, 0].tolist()
        end = t - self.offset
        start = end - self.range_ms
        i1 = sel.bound_one(local, end, right=True)
        i0 = sel.bound_one(local, start, right=self.semantics.left_open)
        name = self.name
        samples = local.samples
        if name in _FLOAT_TIMES:
            # Float times round alike where exact (see rate.extrapolated_rate) and compute faster.
            if samples.times_f is not None and -_EXACT_MS < start and end < _EXACT_MS:
                if name in ("irate", "idelta"):
                    times_f, values = local.lists("times_f", "values")
                    return instant_value_one(times_f, values, i0, i1, name == "irate")
                counts = samples.resets
                counted = name != "delta" and len(counts) > 0 and counts[-1] != counts[0]
                times_f, values = local.lists("times_f", "values")
                resets_py = local.lists("resets")[0] if counted else []
                return extrapolated_rate_one(times_f, values, resets_py, i0, i1, float(start),
                                             float(end), self.range_ms, name != "delta", name == "rate",
                                             self.semantics)
        times, values, resets, changes = local.lists("times", "values", "resets", "changes")
        if name in ("rate", "increase", "delta"):
            return extrapolated_rate_one(times, values, resets, i0, i1, start, end, self.range_ms,
                                         name != "delta", name == "rate", self.semantics)
        if name in ("irate", "idelta"):
            return instant_value_one(times, values, i0, i1, name == "irate")
        out = over_time_one(name, times, values, resets, changes, i0, i1, self.semantics)
        if out is None:
            s = local.samples
            with np.errstate(all="ignore"):
                v, p = over_time(name, s.times, s.values, s.resets, s.changes,
                                 np.array(i0, dtype=np.int64).reshape(-1, 1),
                                 np.array(i1, dtype=np.int64).reshape(-1, 1), self.semantics)
            out = (v[:, 0].tolist(), p[:, 0].tolist())
        return out


class _Range(_Node):
    """A range-vector function of a range selector (see :func:`_range_function`)."""

    def __init__(self, name: str, node: RangeSelector, query: "CompiledQuery", sids: np.ndarray) -> None:
        store = query.store
        self.labels = store.selection_labels(node.selector.matchers, query.semantics.regex_dotall,
                                             without_name=name != "last_over_time")
        self.duplicates = _duplicates(self.labels)
        self.empty = len(sids) == 0
        self.rows: np.ndarray | None = None
        self.pick: Callable[[list[Any]], Any] | None = None
        if not self.empty:
            self.group = query.range_group(name, node.range_ms, node.selector.offset_ms, node.selector.modifier)
            self.member = self.group.add(sids)

    def finish(self, rows: np.ndarray | None) -> None:
        self.rows = rows
        if rows is not None:
            self.pick = operator.itemgetter(*rows.tolist())

    def vec(self, times: np.ndarray, memo: dict[Any, Any]) -> Value:
        if self.empty:
            return Vector.empty(len(times))
        out, present = self.group.vec(times, memo)
        if self.rows is not None:
            out, present = out[self.rows], present[self.rows]
        return _check_unique(Vector(list(self.labels), out, present))

    def one(self, t: int, memo: dict[Any, Any]) -> OneValue:
        if self.empty:
            return _EMPTY
        out, present = self.group.one(t, memo)
        pick = self.pick
        if pick is not None:
            if len(self.rows) == 1:  # type: ignore[arg-type]   # itemgetter of one item: the item, not a tuple
                out, present = [pick(out)], [pick(present)]
            else:
                out, present = list(pick(out)), list(pick(present))
        if self.duplicates:
            _check_unique_one(self.duplicates, present)
        return One(0, self.labels, out, present)


class _Aggregate(_Node):
    def __init__(self, node: Aggregate, child: _Node, query: "CompiledQuery") -> None:
        self.node = node
        self.child = child
        self.semantics = query.semantics
        self._groups: dict[Hashable, tuple[list[Labels], list[tuple[Labels, list[int]]]]] = {}

    def vec(self, times: np.ndarray, memo: dict[Any, Any]) -> Value:
        inner = self.child.vec(times, memo)
        return _aggregate.aggregate(self.node, _vector_arg(inner, self.node.op), self.semantics)

    def one(self, t: int, memo: dict[Any, Any]) -> OneValue:
        inner = self.child.one(t, memo)
        if not isinstance(inner, One):
            raise QueryError(f"{self.node.op}: expected an instant vector argument")
        hit = self._groups.get(inner.key)
        if hit is None:
            hit = _keyed(self._groups, inner.key, self._make_groups, inner)
        labels, grouped = hit
        values, present = _aggregate.aggregate_one(self.node, grouped, inner.values, inner.present, self.semantics)
        return One(inner.key, labels, values, present)


    def _make_groups(self, inner: One) -> tuple[list[Labels], list[tuple[Labels, list[int]]]]:
        grouped = list(_aggregate.groups(self.node, list(inner.labels)).items())
        return [key for key, _ in grouped], grouped


class _Unary(_Node):
    def __init__(self, child: _Node) -> None:
        self.child = child
        self._labels: dict[Hashable, tuple[list[Labels], list[list[int]]]] = {}

    def vec(self, times: np.ndarray, memo: dict[Any, Any]) -> Value:
        inner = self.child.vec(times, memo)
        if isinstance(inner, Scalar):
            return Scalar(-inner.values)
        return _check_unique(Vector([drop_name(lab) for lab in inner.labels], -inner.values, inner.present))

    def one(self, t: int, memo: dict[Any, Any]) -> OneValue:
        inner = self.child.one(t, memo)
        if not isinstance(inner, One):
            return -inner
        labels, duplicates = _keyed(self._labels, inner.key, _dropped, inner.labels)
        if duplicates:
            _check_unique_one(duplicates, inner.present)
        return One(inner.key, labels, [-v for v in inner.values], inner.present)


class _Binary(_Node):
    def __init__(self, node: Binary, lhs: _Node, rhs: _Node, query: "CompiledQuery") -> None:
        self.node = node
        self.lhs = lhs
        self.rhs = rhs
        self.semantics = query.semantics
        self.fast = node.op in binary.FAST_OPS
        self._prep: dict[Hashable, Any] = {}        # by the operands' keys: labels, matching
        self._unique: dict[Hashable, Any] = {}      # by the pairs kept: the result's duplicate label sets

    def vec(self, times: np.ndarray, memo: dict[Any, Any]) -> Value:
        lhs = self.lhs.vec(times, memo)
        rhs = self.rhs.vec(times, memo)
        out = binary.apply_binary(self.node, lhs, rhs, self.semantics)
        return _check_unique(out) if isinstance(out, Vector) else out

    def _bridge(self, lhs: OneValue, rhs: OneValue) -> OneValue:
        with np.errstate(all="ignore"):
            out = binary.apply_binary(self.node, from_one(lhs), from_one(rhs), self.semantics)
            return to_one(_check_unique(out) if isinstance(out, Vector) else out)

    def one(self, t: int, memo: dict[Any, Any]) -> OneValue:
        node = self.node
        lhs = self.lhs.one(t, memo)
        rhs = self.rhs.one(t, memo)
        l_vec, r_vec = isinstance(lhs, One), isinstance(rhs, One)
        if l_vec and r_vec:
            assert isinstance(lhs, One) and isinstance(rhs, One)
            if node.op in SET_OPERATORS:
                return self._set_operation(lhs, rhs)
            if not self.fast:
                return self._bridge(lhs, rhs)
            return self._vector_vector(lhs, rhs)
        if not self.fast:
            return self._bridge(lhs, rhs)
        if not l_vec and not r_vec:
            assert not isinstance(lhs, One) and not isinstance(rhs, One)
            return binary.scalar_scalar_one(node, lhs, rhs)
        vec, sc, swap = (lhs, rhs, False) if l_vec else (rhs, lhs, True)
        assert isinstance(vec, One) and not isinstance(sc, One)
        hit = self._prep.get(vec.key)
        if hit is None:
            if node.op in ARITHMETIC or node.return_bool:
                hit = _keyed(self._prep, vec.key, _dropped, vec.labels)
            else:
                hit = _keyed(self._prep, vec.key, _undropped, vec.labels)
        labels, duplicates = hit
        values, present = binary.vector_scalar_one(node, vec.values, vec.present, sc, swap)
        if duplicates:
            _check_unique_one(duplicates, present)
        return One(vec.key, labels, values, present)

    def _vector_vector(self, lhs: One, rhs: One) -> OneValue:
        node = self.node
        key = (lhs.key, rhs.key)
        prep = self._prep.get(key)
        if prep is None:
            prep = _keyed(self._prep, key, binary.prepare_vector_vector, node, list(lhs.labels), list(rhs.labels))
        kept, labels, values, present = binary.vector_vector_one(node, prep, lhs.values, lhs.present, rhs.values,
                                                                 rhs.present, self.semantics)
        if len(labels) > 1:
            duplicates = _keyed(self._unique, (lhs.key, rhs.key, kept), _duplicates, labels)
            if duplicates:
                _check_unique_one(duplicates, present)
        return One((lhs.key, rhs.key, kept), labels, values, present)

    def _set_operation(self, lhs: One, rhs: One) -> OneValue:
        node = self.node
        key = (lhs.key, rhs.key) if node.op == "or" else lhs.key
        lsigs, rsigs, labels, duplicates = _keyed(self._prep, (lhs.key, rhs.key), self._make_set, lhs, rhs)
        values, present = binary.set_operation_one(node, lsigs, rsigs, lhs.values, lhs.present, rhs.values,
                                                   rhs.present)
        if duplicates:
            _check_unique_one(duplicates, present)
        return One(key, labels, values, present)


    def _make_set(self, lhs: One, rhs: One) -> tuple[list[Labels], list[Labels], Sequence[Labels], list[list[int]]]:
        node = self.node
        lsigs = binary.signatures(node, list(lhs.labels))
        rsigs = binary.signatures(node, list(rhs.labels))
        labels = list(lhs.labels) + list(rhs.labels) if node.op == "or" else lhs.labels
        return lsigs, rsigs, labels, _duplicates(labels)


class _VectorFn(_Node):
    """``vector(s)``."""

    def __init__(self, node: Call, child: _Node) -> None:
        self.node = node
        self.child = child

    def vec(self, times: np.ndarray, memo: dict[Any, Any]) -> Value:
        return _apply_call(self.node, [self.child.vec(times, memo)])

    def one(self, t: int, memo: dict[Any, Any]) -> OneValue:
        arg = self.child.one(t, memo)
        if isinstance(arg, One):
            raise QueryError("vector: expected a scalar argument")
        return One(0, ((),), [arg], [True])


class _ScalarFn(_Node):
    """``scalar(v)``."""

    def __init__(self, node: Call, child: _Node) -> None:
        self.node = node
        self.child = child

    def vec(self, times: np.ndarray, memo: dict[Any, Any]) -> Value:
        return _apply_call(self.node, [self.child.vec(times, memo)])

    def one(self, t: int, memo: dict[Any, Any]) -> OneValue:
        arg = self.child.one(t, memo)
        if not isinstance(arg, One):
            raise QueryError("scalar: expected an instant vector argument")
        if not arg.labels or sum(arg.present) != 1:
            return math.nan
        return _aggregate.column_sum([v if p else 0.0 for v, p in zip(arg.values, arg.present)])


class _Call(_Node):
    """Any other function of instant vectors and scalars: evaluated by :func:`_apply_call` (at one time, ``T = 1``)."""

    def __init__(self, node: Call, args: list[_Node]) -> None:
        self.node = node
        self.args = args

    def vec(self, times: np.ndarray, memo: dict[Any, Any]) -> Value:
        return _apply_call(self.node, [a.vec(times, memo) for a in self.args])

    def one(self, t: int, memo: dict[Any, Any]) -> OneValue:
        args = [a.one(t, memo) for a in self.args]
        with np.errstate(all="ignore"):
            return to_one(_apply_call(self.node, [from_one(a) for a in args]))


_EXACT_MS = 2 ** 53
_FLOAT_TIMES = frozenset({"rate", "increase", "delta", "irate", "idelta"})
_RANGE_FUNCTIONS = frozenset({"rate", "increase", "delta", "irate", "idelta"}) | OVER_TIME


class CompiledQuery:
    """A query compiled against one store, semantics and lookback, to evaluate at any times.

    Compiling resolves every selector to its series and their labels once (the samples
    each reads: :class:`rampsim.promql.store.Selection`, whose window table finds every
    series' window at a time with one binary search), and shares the windows of a range
    function over the union of the series its calls select with one range and offset.
    ``run`` evaluates at many times with numpy, as :func:`evaluate_node` does; ``run_one``
    evaluates at one time: with numpy at ``T = 1`` until the selections have served enough
    single-time evaluations to repay Python lists of their samples, then in plain Python
    over the few samples involved (numpy's per-call overhead would dominate), operation for
    operation as numpy computes at ``T = 1``, sums in numpy's pairwise order included (so a
    sum over many series may differ in its last bit from ``run`` at many times, where
    numpy adds row by row: as :func:`evaluate_node` always has). Labels, groups and vector
    matching depend only on the rows' labels: they are computed once per label list. Both
    give exactly what :func:`evaluate_node` gives; what it does not compile is
    evaluated by :func:`evaluate_node` and fails as it would, at the same point.

    A range with an ``anchored``/``smoothed`` modifier is computed by
    :mod:`rampsim.promql.extended` over its selection's samples, at one time with numpy at
    ``T = 1``; a ``smoothed`` instant selector by :func:`evaluate_node`.

    A compiled query stays valid while its store is unchanged; :func:`rampsim.promql.api.evaluate`
    keeps them in :attr:`SeriesStore.compiled_queries`, which adding a series clears.
    """

    def __init__(self, node: Node, store: SeriesStore, semantics: Semantics, lookback_ms: int) -> None:
        self.store = store             # while compiling (the store keeps its compiled queries: no reference back to it)
        self.store_ref = weakref.ref(store)
        self.semantics = semantics
        self.lookback_ms = lookback_ms
        self._groups: dict[tuple[str, int, int, str], _RangeGroup] = {}
        self._ranges: list[_Range] = []
        self.root = self._compile(node)
        members: dict[_RangeGroup, list[np.ndarray | None]] = {g: g.finish() for g in self._groups.values()}
        for r in self._ranges:
            if not r.empty:
                r.finish(members[r.group][r.member])
        del self.store

    def range_group(self, name: str, range_ms: int, offset_ms: int, modifier: str) -> _RangeGroup:
        key = (name, range_ms, offset_ms, modifier)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _RangeGroup(name, range_ms, offset_ms, modifier, self)
        return group

    def _select(self, selector: Selector) -> np.ndarray | None:
        try:
            return self.store.select(selector.matchers, self.semantics.regex_dotall)
        except PromQLError:
            return None

    def _extended_ok(self, modifier: str, function: str) -> bool:
        """Whether the function may take the range's modifier (if not, :func:`evaluate_node` fails as Prometheus)."""
        if not modifier:
            return True
        try:
            extended.check(modifier, function, self.semantics)
        except PromQLError:
            return False
        return True

    def _compile(self, node: Node) -> _Node:
        if isinstance(node, Number):
            return _Number(node.value)
        if isinstance(node, Selector):
            sids = None if node.modifier else self._select(node)
            return _Fallback(node, self) if sids is None else _Selector(node, self, sids)
        if isinstance(node, Call):
            name = node.name
            if name == "time":
                return _Time()
            if node.args and isinstance(node.args[0], RangeSelector):
                rs = node.args[0]
                sids = self._select(rs.selector)
                if name not in _RANGE_FUNCTIONS or sids is None or not self._extended_ok(rs.selector.modifier, name):
                    return _Fallback(node, self)
                out = _Range(name, rs, self, sids)
                self._ranges.append(out)
                return out
            if any(isinstance(a, RangeSelector) for a in node.args):
                return _Fallback(node, self)
            args = [self._compile(a) for a in node.args]
            if name == "vector" and len(args) == 1:
                return _VectorFn(node, args[0])
            if name == "scalar" and len(args) == 1:
                return _ScalarFn(node, args[0])
            return _Call(node, args)
        if isinstance(node, Aggregate):
            return _Aggregate(node, self._compile(node.expr), self)
        if isinstance(node, Binary):
            return _Binary(node, self._compile(node.lhs), self._compile(node.rhs), self)
        if isinstance(node, Unary):
            return _Unary(self._compile(node.expr))
        return _Fallback(node, self)

    def run(self, times_ms: np.ndarray) -> Value:
        """The value at every time of ``times_ms`` (int64 ms), as :func:`evaluate_node` gives it."""
        with np.errstate(all="ignore"):
            return self.root.vec(times_ms, {})

    def run_one(self, t_ms: int) -> OneValue:
        """The value at one time (ms): a float for a scalar, else :class:`One`."""
        return self.root.one(t_ms, {})
