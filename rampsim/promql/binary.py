"""Binary operators: arithmetic, comparisons (``bool`` or filtering) and ``and``/``or``/``unless``, with vector matching.

Transcribed from prometheus/prometheus ``promql/engine.go`` (``VectorBinop``,
``VectorscalarBinop``, ``scalarBinop``, ``vectorElemBinop``, ``resultMetric``,
``signatureFunc``, ``VectorAnd``/``VectorOr``/``VectorUnless``). Matching is decided once
per pair of rows (labels are fixed), and the per-time rules Prometheus applies at each
step (a sample matches only if both sides have one then; duplicates on the "one" side
or ambiguous one-to-one matches are errors only at times where they actually collide)
are applied with the rows' presence masks.

The ``*_one`` functions evaluate the same at one time over Python lists, for
:class:`rampsim.promql.evaluate.CompiledQuery`'s single-instant path: the operators of
:data:`FAST_OPS` are IEEE operations that round alike in Python and numpy (division by
zero is given numpy's result), and the matching structure of a pair of label lists is
computed once (:func:`prepare_vector_vector`).
"""
from __future__ import annotations

import json
import math
import operator
from typing import Any, Callable, Optional

import numpy as np

from rampsim.promql.errors import QueryError
from rampsim.promql.parse import ARITHMETIC, COMPARISON, Binary
from rampsim.promql.semantics import Semantics
from rampsim.promql.values import NAME, Labels, Scalar, Vector, drop_name

__all__ = ["apply_binary", "FAST_OPS", "scalar_scalar_one", "vector_scalar_one", "prepare_vector_vector",
           "vector_vector_one", "set_operation_one", "VVPrep"]


def _go_pow_one(x: float, y: float) -> float:
    """Go's ``math.Pow(x, y)``, transcribed: its special cases, then ``x ** frac(y)`` as ``exp(frac * log x)``
    times ``x ** whole(y)`` by repeated squaring of ``x``'s mantissa (``frexp``/``ldexp``), the order of Go's
    floating-point operations kept (C's ``pow`` and numpy's ``power`` round differently: ``1.1 ^ 7``)."""
    if y == 0 or x == 1:
        return 1.0
    if y == 1:
        return x
    if math.isnan(x) or math.isnan(y):
        return math.nan
    odd = math.isfinite(y) and y % 2 == 1
    if x == 0:
        if y < 0:
            return math.copysign(math.inf, x) if odd else math.inf
        return x if odd else 0.0
    if math.isinf(y):
        if x == -1:
            return 1.0
        return math.inf if (abs(x) < 1) == (y < 0) else 0.0
    if math.isinf(x):
        if x < 0:
            return _go_pow_one(-0.0, -y)
        return math.inf if y > 0 else 0.0
    if y == 0.5:
        return math.sqrt(x) if x >= 0 else math.nan
    if y == -0.5:
        return 1 / math.sqrt(x) if x >= 0 else math.nan
    fraction, whole = math.modf(abs(y))
    if fraction != 0 and x < 0:
        return math.nan
    if whole >= 2 ** 63:   # a huge even exponent: overflow or underflow for every x but -1
        if x == -1:
            return 1.0
        return math.inf if (abs(x) < 1) == (y < 0) else 0.0
    a1, ae = 1.0, 0
    if fraction != 0:
        if fraction > 0.5:
            fraction, whole = fraction - 1, whole + 1
        a1 = math.exp(fraction * math.log(x))
    x1, xe = math.frexp(x)
    i = int(whole)
    while i != 0:
        if xe < -(1 << 12) or (1 << 12) < xe:   # certain overflow or underflow: the exponent alone decides
            ae += xe
            break
        if i & 1:
            a1 *= x1
            ae += xe
        x1 *= x1
        xe <<= 1
        if x1 < 0.5:
            x1 += x1
            xe -= 1
        i >>= 1
    if y < 0:
        a1, ae = 1 / a1, -ae
    try:
        return math.ldexp(a1, ae)
    except OverflowError:
        return math.copysign(math.inf, a1)


_go_pow_ufunc = np.frompyfunc(_go_pow_one, 2, 1)


def _go_pow(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """:func:`_go_pow_one` elementwise (a query's ``^`` is rare: a Python call per value is fine)."""
    return np.asarray(_go_pow_ufunc(x, y), dtype=float)


_OPS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide, "%": np.fmod,
    "^": _go_pow, "atan2": np.arctan2,
    "==": np.equal, "!=": np.not_equal, ">": np.greater, "<": np.less, ">=": np.greater_equal,
    "<=": np.less_equal,
}


_AMBIGUOUS = "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
_NOT_UNIQUE = "multiple matches for labels: grouping labels must ensure unique matches"


def _labels_text(labels: Labels) -> str:
    """Labels as Prometheus's ``Labels.String()`` writes them: ``{job="t", l="foo"}``."""
    return "{" + ", ".join(f"{name}={json.dumps(value, ensure_ascii=False)}" for name, value in labels) + "}"


def _duplicate_message(sig: Labels, swapped: bool, first: Labels, second: Labels) -> str:
    """Prometheus's many-to-many error: the match group, the 'one' side and two of its series there
    (the later one first, as Prometheus finds them)."""
    side = "left" if swapped else "right"
    return (f"found duplicate series for the match group {_labels_text(sig)} on the {side} hand-side of the "
            f"operation: [{_labels_text(second)}, {_labels_text(first)}];many-to-many matching not allowed: "
            "matching labels must be unique on one side")


def _compute(op: str, lhs: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``vectorElemBinop`` for floats: (value, keep). Comparisons keep the left value."""
    with np.errstate(all="ignore"):
        if op in COMPARISON:
            keep = _OPS[op](lhs, rhs)
            return np.broadcast_to(lhs, keep.shape), keep
        value = _OPS[op](lhs, rhs)
    return value, np.ones(np.shape(value), dtype=bool)


def scalar_scalar(node: Binary, lhs: Scalar, rhs: Scalar) -> Scalar:
    value, keep = _compute(node.op, lhs.values, rhs.values)
    if node.op in COMPARISON:
        return Scalar(keep.astype(np.float64))   # scalars compare only with bool
    return Scalar(np.asarray(value, dtype=np.float64))


def vector_scalar(node: Binary, vec: Vector, sc: Scalar, swap: bool) -> Vector:
    """``VectorscalarBinop``: ``swap`` when the scalar is on the left."""
    left, right = (sc.values[None, :], vec.values) if swap else (vec.values, sc.values[None, :])
    value, keep = _compute(node.op, left, right)
    if node.op in COMPARISON:
        value = vec.values                  # a comparison keeps the vector's value, even on the right
    present = vec.present.copy()
    if node.return_bool:
        value = keep.astype(np.float64)
    else:
        present &= keep
    labels = vec.labels
    if node.op in ARITHMETIC or node.return_bool:
        labels = [drop_name(lab) for lab in labels]
    return Vector(list(labels), np.array(value, dtype=np.float64), present)


def _signature(labels: Labels, on: Optional[bool], names: tuple[str, ...]) -> Labels:
    if on:
        return tuple(pair for pair in labels if pair[0] in names)
    return tuple(pair for pair in labels if pair[0] != NAME and pair[0] not in names)


def _result_labels(many: Labels, one: Labels, node: Binary) -> Labels:
    """``resultMetric``: the labels of a matched pair (``many`` is the left side after the one-to-many swap)."""
    out = dict(many)
    if node.op in ARITHMETIC:
        out.pop(NAME, None)
    if node.card == "one-to-one":
        if node.on:
            out = {k: v for k, v in out.items() if k in node.matching}
        else:
            for name in node.matching:
                out.pop(name, None)
    one_map = dict(one)
    for name in node.include:
        if one_map.get(name, ""):
            out[name] = one_map[name]
        else:
            out.pop(name, None)
    if node.return_bool:
        out.pop(NAME, None)
    return tuple(sorted(out.items()))


def _group_presence(vec: Vector, sigs: list[Labels]) -> dict[Labels, np.ndarray]:
    """For each signature, whether any row with it has a sample, per time."""
    groups: dict[Labels, np.ndarray] = {}
    for row, sig in enumerate(sigs):
        hit = groups.get(sig)
        groups[sig] = vec.present[row].copy() if hit is None else (hit | vec.present[row])
    return groups


def set_operation(node: Binary, lhs: Vector, rhs: Vector) -> Vector:
    """``and``, ``or``, ``unless``: labels unchanged, matched by signature per time."""
    lsigs = [_signature(lab, node.on, node.matching) for lab in lhs.labels]
    rsigs = [_signature(lab, node.on, node.matching) for lab in rhs.labels]
    n_times = lhs.present.shape[1]
    none = np.zeros(n_times, dtype=bool)
    if node.op == "or":
        left_any = _group_presence(lhs, lsigs)
        right_present = np.array([rhs.present[r] & ~left_any.get(sig, none) for r, sig in enumerate(rsigs)],
                                 dtype=bool).reshape(len(rsigs), n_times)
        return Vector(list(lhs.labels) + list(rhs.labels), np.vstack([lhs.values, rhs.values]),
                      np.vstack([lhs.present, right_present]))
    right_any = _group_presence(rhs, rsigs)
    matched = np.array([right_any.get(sig, none) for sig in lsigs], dtype=bool).reshape(len(lsigs), n_times)
    present = lhs.present & (matched if node.op == "and" else ~matched)
    return Vector(list(lhs.labels), lhs.values, present)


def vector_vector(node: Binary, lhs: Vector, rhs: Vector, semantics: Semantics) -> Vector:
    """``VectorBinop``: one-to-one, many-to-one (``group_left``) or one-to-many (``group_right``)."""
    if node.op not in ARITHMETIC | COMPARISON:
        return set_operation(node, lhs, rhs)
    swapped = node.card == "one-to-many"
    many, one = (rhs, lhs) if swapped else (lhs, rhs)
    n_times = lhs.present.shape[1]
    many_any = many.present.any(axis=0) if len(many.labels) else np.zeros(n_times, dtype=bool)
    one_any = one.present.any(axis=0) if len(one.labels) else np.zeros(n_times, dtype=bool)
    active = many_any & one_any             # Prometheus short-circuits a step where a side is empty
    one_sigs: dict[Labels, list[int]] = {}
    for row, lab in enumerate(one.labels):
        one_sigs.setdefault(_signature(lab, node.on, node.matching), []).append(row)
    for sig, rows in one_sigs.items():
        if len(rows) > 1:
            clash = (one.present[rows].sum(axis=0) > 1) & active
            if clash.any():
                at = int(np.argmax(clash))
                first, second = [one.labels[r] for r in rows if one.present[r, at]][:2]
                raise QueryError(_duplicate_message(sig, swapped, first, second))
    out_labels: list[Labels] = []
    out_values: list[np.ndarray] = []
    out_present: list[np.ndarray] = []
    out_sig: list[Labels] = []
    matched: list[np.ndarray] = []
    for mrow, mlab in enumerate(many.labels):
        sig = _signature(mlab, node.on, node.matching)
        for orow in one_sigs.get(sig, ()):
            both = many.present[mrow] & one.present[orow]
            if not both.any():
                continue
            matched.append(both)
            fl, fr = (one.values[orow], many.values[mrow]) if swapped else (many.values[mrow], one.values[orow])
            value, keep = _compute(node.op, fl, fr)
            if node.return_bool:
                value = keep.astype(np.float64)
            else:
                both = both & keep
            out_labels.append(_result_labels(mlab, one.labels[orow], node))
            out_values.append(np.asarray(value, dtype=np.float64))
            out_present.append(both)
            out_sig.append(sig)
    values = np.array(out_values, dtype=np.float64).reshape(len(out_values), n_times)
    present = np.array(out_present, dtype=bool).reshape(len(out_present), n_times)
    if node.card == "one-to-one" and semantics.strict_one_to_one:
        # 3.x records a one-to-one match before the comparison filters it.
        _check_matches(node, out_sig, out_labels, np.array(matched, dtype=bool).reshape(len(matched), n_times))
    _check_matches(node, out_sig, out_labels, present)
    return Vector(out_labels, values, present)


def _check_matches(node: Binary, sigs: list[Labels], labels: list[Labels], present: np.ndarray) -> None:
    """The per-step errors of ``VectorBinop``: ambiguous one-to-one matches, non-unique grouped results."""
    by_key: dict[tuple[Labels, ...], list[int]] = {}
    for row, (sig, lab) in enumerate(zip(sigs, labels)):
        key = (sig,) if node.card == "one-to-one" else (sig, lab)
        by_key.setdefault(key, []).append(row)
    for rows in by_key.values():
        if len(rows) > 1 and (present[rows].sum(axis=0) > 1).any():
            if node.card == "one-to-one":
                raise QueryError(_AMBIGUOUS)
            raise QueryError(_NOT_UNIQUE)


def apply_binary(node: Binary, lhs: Vector | Scalar, rhs: Vector | Scalar, semantics: Semantics) -> Vector | Scalar:
    """Evaluate ``lhs op rhs`` for any combination of vector and scalar operands."""
    if isinstance(lhs, Scalar) and isinstance(rhs, Scalar):
        return scalar_scalar(node, lhs, rhs)
    if isinstance(lhs, Vector) and isinstance(rhs, Scalar):
        return vector_scalar(node, lhs, rhs, swap=False)
    if isinstance(lhs, Scalar) and isinstance(rhs, Vector):
        return vector_scalar(node, rhs, lhs, swap=True)
    assert isinstance(lhs, Vector) and isinstance(rhs, Vector)
    return vector_vector(node, lhs, rhs, semantics)


# ---------------------------------------------------------------- one time, Python lists

def _div(a: float, b: float) -> float:
    """``a / b`` as numpy divides (IEEE): division by zero gives an infinity or NaN, not an exception."""
    try:
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0:
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)


_PY_ARITH: dict[str, Callable[[float, float], float]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "/": _div}
_PY_CMP: dict[str, Callable[[float, float], bool]] = {
    "==": operator.eq, "!=": operator.ne, ">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le}
FAST_OPS = frozenset(_PY_ARITH) | frozenset(_PY_CMP)
"""Operators the ``*_one`` functions evaluate (the others: numpy's ``fmod``, ``power``, ``arctan2``)."""


def scalar_scalar_one(node: Binary, lhs: float, rhs: float) -> float:
    """:func:`scalar_scalar` at one time (``node.op`` in :data:`FAST_OPS`)."""
    if node.op in COMPARISON:
        return 1.0 if _PY_CMP[node.op](lhs, rhs) else 0.0
    return _PY_ARITH[node.op](lhs, rhs)


def vector_scalar_one(node: Binary, values: list[float], present: list[bool], sc: float,
                      swap: bool) -> tuple[list[float], list[bool]]:
    """:func:`vector_scalar`'s values and presence at one time (labels are the caller's)."""
    op = node.op
    if op in COMPARISON:
        cmp = _PY_CMP[op]
        keep = [cmp(sc, v) for v in values] if swap else [cmp(v, sc) for v in values]
        if node.return_bool:
            return [1.0 if k else 0.0 for k in keep], list(present)
        return values, [p and k for p, k in zip(present, keep)]
    fn = _PY_ARITH[op]
    out = [fn(sc, v) for v in values] if swap else [fn(v, sc) for v in values]
    if node.return_bool:
        out = [1.0] * len(out)
    return out, list(present)


class VVPrep:
    """How two fixed label lists match (``VectorBinop``): per signature the "one" side's rows, the candidate pairs."""

    __slots__ = ("swapped", "duplicates", "pairs", "one")

    def __init__(self, node: Binary, lhs_labels: list[Labels], rhs_labels: list[Labels]) -> None:
        self.swapped = node.card == "one-to-many"
        many, one = (rhs_labels, lhs_labels) if self.swapped else (lhs_labels, rhs_labels)
        self.one = one
        one_sigs: dict[Labels, list[int]] = {}
        for row, lab in enumerate(one):
            one_sigs.setdefault(_signature(lab, node.on, node.matching), []).append(row)
        self.duplicates = [(sig, rows) for sig, rows in one_sigs.items() if len(rows) > 1]
        self.pairs: list[tuple[int, int, Labels, Labels]] = []
        for mrow, mlab in enumerate(many):
            sig = _signature(mlab, node.on, node.matching)
            for orow in one_sigs.get(sig, ()):
                self.pairs.append((mrow, orow, _result_labels(mlab, one[orow], node), sig))


def prepare_vector_vector(node: Binary, lhs_labels: list[Labels], rhs_labels: list[Labels]) -> VVPrep:
    return VVPrep(node, lhs_labels, rhs_labels)


def vector_vector_one(node: Binary, prep: VVPrep, lhs_values: list[float], lhs_present: list[bool],
                      rhs_values: list[float], rhs_present: list[bool], semantics: Semantics
                      ) -> tuple[tuple[int, ...], list[Labels], list[float], list[bool]]:
    """:func:`vector_vector` (arithmetic or comparison, ``node.op`` in :data:`FAST_OPS`) at one time.

    Returns the candidate pairs kept (indices into ``prep.pairs``), their labels, values and presence."""
    if prep.swapped:
        mv, mp, ov, op_ = rhs_values, rhs_present, lhs_values, lhs_present
    else:
        mv, mp, ov, op_ = lhs_values, lhs_present, rhs_values, rhs_present
    if prep.duplicates and any(mp) and any(op_):
        for sig, rows in prep.duplicates:
            held = [r for r in rows if op_[r]]
            if len(held) > 1:
                raise QueryError(_duplicate_message(sig, prep.swapped, prep.one[held[0]], prep.one[held[1]]))
    comparison = node.op in COMPARISON
    fn: Any = _PY_CMP[node.op] if comparison else _PY_ARITH[node.op]
    return_bool = node.return_bool
    kept: list[int] = []
    labels: list[Labels] = []
    values: list[float] = []
    present: list[bool] = []
    sigs: list[Labels] = []
    for k, (mrow, orow, lab, sig) in enumerate(prep.pairs):
        if not (mp[mrow] and op_[orow]):
            continue
        fl, fr = (ov[orow], mv[mrow]) if prep.swapped else (mv[mrow], ov[orow])
        if comparison:
            keep = fn(fl, fr)
            if return_bool:
                values.append(1.0 if keep else 0.0)
                present.append(True)
            else:
                values.append(fl)
                present.append(keep)
        else:
            values.append(fn(fl, fr))
            present.append(True)
        kept.append(k)
        labels.append(lab)
        sigs.append(sig)
    if len(kept) > 1:
        one_to_one = node.card == "one-to-one"
        if one_to_one and semantics.strict_one_to_one:
            _check_matches_one(True, sigs, labels, [True] * len(kept))
        _check_matches_one(one_to_one, sigs, labels, present)
    return tuple(kept), labels, values, present


def _check_matches_one(one_to_one: bool, sigs: list[Labels], labels: list[Labels], present: list[bool]) -> None:
    """:func:`_check_matches` at one time."""
    seen: set[Any] = set()
    for sig, lab, p in zip(sigs, labels, present):
        if not p:
            continue
        key = sig if one_to_one else (sig, lab)
        if key in seen:
            raise QueryError(_AMBIGUOUS if one_to_one else _NOT_UNIQUE)
        seen.add(key)


def set_operation_one(node: Binary, lsigs: list[Labels], rsigs: list[Labels], lhs_values: list[float],
                      lhs_present: list[bool], rhs_values: list[float], rhs_present: list[bool]
                      ) -> tuple[list[float], list[bool]]:
    """:func:`set_operation` at one time: the values and presence of its rows (``or``: the left's, then the right's)."""
    if node.op == "or":
        left_any = {sig for sig, p in zip(lsigs, lhs_present) if p}
        right = [p and sig not in left_any for sig, p in zip(rsigs, rhs_present)]
        return lhs_values + rhs_values, lhs_present + right
    right_any = {sig for sig, p in zip(rsigs, rhs_present) if p}
    if node.op == "and":
        return lhs_values, [p and sig in right_any for sig, p in zip(lsigs, lhs_present)]
    return lhs_values, [p and sig not in right_any for sig, p in zip(lsigs, lhs_present)]


def signatures(node: Binary, labels: list[Labels]) -> list[Labels]:
    """The matching signature of each row (``signatureFunc``)."""
    return [_signature(lab, node.on, node.matching) for lab in labels]
