"""Argo conditions evaluated on many query results at once, exactly as :mod:`rampsim.gates.exprlang` evaluates each.

A sweep judges the same condition on every measurement of a ramp (hundreds per run). Most
measurements hold a one-sample vector ``[x]``, an empty vector ``[]`` or a scalar ``x``; for those,
the conditions of the corpus (``result[0] >= 0.95``, ``len(result) == 0 || result[0] < 0.05``,
``isNaN(result[0]) || ...``, ``result[0] * 100 > 99``) are evaluated here with numpy over the whole
array: the same type check (expr's, per kind of ``result``), the same IEEE arithmetic, the same
short-circuits (``len(result) == 0 || result[0] ...`` never indexes an empty vector), and the same
runtime errors (``result[0]`` on ``[]``), as a mask.

Anything outside that subset (strings, ternaries, predicates, integer arithmetic, ``asInt``...)
raises :class:`_Unbatchable`: the caller evaluates those conditions one value at a time with
:func:`~rampsim.gates.exprlang.evaluate_condition`, which stays the reference.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from rampsim.gates.exprlang import (
    ConditionError, _Binary, _Call, _Index, _Literal, _Name, _Node, _Unary, check_condition, parse_condition,
)

__all__ = ["evaluate_batch", "phases_batch", "SUCCESSFUL", "FAILED", "INCONCLUSIVE", "ERROR"]

SUCCESSFUL, FAILED, INCONCLUSIVE, ERROR = 0, 1, 2, 3
"""Measurement phases as small integers (``AnalysisPhase`` Successful, Failed, Inconclusive, Error)."""

_EXACT_INT = 2 ** 53


class _Unbatchable(Exception):
    """A condition outside the subset evaluated here (evaluate it value by value instead)."""


_Array = tuple[str, Optional[np.ndarray], np.ndarray]   # (expr type, values, runtime-error mask)


class _Batch:
    """One evaluation: ``result`` is ``x[i]`` (kind ``float``) or ``[x[i]] * lengths[i]`` (kind ``floats``)."""

    def __init__(self, kind: str, x: np.ndarray, lengths: np.ndarray) -> None:
        self.kind, self.x, self.lengths = kind, x, lengths
        self.none = np.zeros(len(x), dtype=bool)

    def run(self, node: _Node) -> _Array:
        if isinstance(node, _Literal):
            value = node.value
            if isinstance(value, bool):
                return "bool", np.full(len(self.x), value), self.none
            if isinstance(value, int) and abs(value) <= _EXACT_INT:
                return "int", np.full(len(self.x), float(value)), self.none
            if isinstance(value, float):
                return "float", np.full(len(self.x), value), self.none
            raise _Unbatchable("a literal other than a number or a bool")
        if isinstance(node, _Name) and node.name == "result":
            return (("floats", None, self.none) if self.kind == "floats" else ("float", self.x, self.none))
        if isinstance(node, _Index):
            obj, index = node.obj, node.index
            if not (isinstance(obj, _Name) and obj.name == "result" and self.kind == "floats"
                    and isinstance(index, _Literal) and isinstance(index.value, int)
                    and not isinstance(index.value, bool)):
                raise _Unbatchable("an index other than result[N] on a vector")
            position = index.value
            valid = (self.lengths == 1) & (position in (0, -1))   # the caller passes vectors of 0 or 1 samples
            return "float", self.x, ~valid
        if isinstance(node, _Call):
            return self.call(node)
        if isinstance(node, _Unary):
            tag, values, errors = self.run(node.operand)
            assert values is not None or tag == "floats"
            if node.op in ("!", "not") and tag == "bool":
                return "bool", ~values.astype(bool), errors  # type: ignore[union-attr]
            if node.op in ("-", "+") and tag in ("int", "float"):
                return tag, (-values if node.op == "-" else values), errors  # type: ignore[operator]
            raise _Unbatchable(f"unary {node.op} on {tag}")
        if isinstance(node, _Binary) and not node.negated:
            return self.binary(node)
        raise _Unbatchable(type(node).__name__)

    def call(self, node: _Call) -> _Array:
        if len(node.args) != 1:
            raise _Unbatchable(f"{node.name} with {len(node.args)} arguments")
        if node.name == "len":
            arg = node.args[0]
            if isinstance(arg, _Name) and arg.name == "result" and self.kind == "floats":
                return "int", self.lengths.astype(float), self.none
            raise _Unbatchable("len of something else than a vector result")
        tag, values, errors = self.run(node.args[0])
        if tag not in ("int", "float") or values is None:
            raise _Unbatchable(f"{node.name} of {tag}")
        with np.errstate(invalid="ignore"):
            if node.name == "isNaN":
                return "bool", np.isnan(values), errors
            if node.name == "isInf":
                return "bool", np.isinf(values), errors
            if node.name in ("asFloat", "float"):
                return "float", values, errors
            if node.name == "abs":
                return tag, np.abs(values), errors
        raise _Unbatchable(f"function {node.name}")

    def binary(self, node: _Binary) -> _Array:
        op = node.op
        ltag, left, lerr = self.run(node.left)
        rtag, right, rerr = self.run(node.right)
        if left is None or right is None:
            raise _Unbatchable(f"{op} on a whole vector")
        if op in ("||", "or", "&&", "and"):
            if ltag != "bool" or rtag != "bool":
                raise _Unbatchable(f"{op} on {ltag} and {rtag}")
            shortcut = op in ("||", "or")
            lbool, rbool = left.astype(bool), right.astype(bool)
            decided = lbool == shortcut  # the right side is not evaluated there
            values = np.where(decided, lbool, rbool)
            return "bool", values, lerr | (~lerr & ~decided & rerr)
        errors = lerr | rerr
        numeric = ltag in ("int", "float") and rtag in ("int", "float")
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            if op in ("==", "!="):
                if numeric or ltag == rtag == "bool":
                    equal = left == right
                    return "bool", (equal if op == "==" else ~equal), errors
                raise _Unbatchable(f"{op} on {ltag} and {rtag}")
            if not numeric:
                raise _Unbatchable(f"{op} on {ltag} and {rtag}")
            if op in ("<", ">", "<=", ">="):
                compared = {"<": np.less, ">": np.greater, "<=": np.less_equal, ">=": np.greater_equal}[op]
                return "bool", compared(left, right), errors
            if ltag == rtag == "int":
                raise _Unbatchable("integer arithmetic")
            if op in ("+", "-", "*", "/"):
                computed = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}[op]
                return "float", computed(left, right), errors
        raise _Unbatchable(f"operator {op}")


def evaluate_batch(text: str, kind: str, x: np.ndarray, lengths: Optional[np.ndarray] = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Whether condition ``text`` holds for each result, and where evaluating it errs (an Error measurement).

    ``kind`` is ``float`` (``result`` is ``x[i]``) or ``floats`` (``result`` is ``[x[i]]`` where ``lengths[i]`` is
    1, ``[]`` where it is 0). Raises :class:`_Unbatchable` for a condition outside the subset; a condition
    expr refuses (parse or type error) errs everywhere.
    """
    size = len(x)
    every = np.ones(size, dtype=bool)
    try:
        check_condition(text, kind)
        tree = parse_condition(text).tree
    except ConditionError:
        return np.zeros(size, dtype=bool), every
    if kind == "floats":
        if lengths is None or np.any((lengths != 0) & (lengths != 1)):
            raise _Unbatchable("vectors of more than one sample")
    tag, values, errors = _Batch(kind, np.asarray(x, dtype=float),
                                 np.zeros(size, int) if lengths is None else lengths).run(tree)
    if tag != "bool" or values is None:
        raise _Unbatchable(f"a condition of type {tag}")  # expr: "expected bool" (rare): the scalar path says it
    return values.astype(bool) & ~errors, errors


def phases_batch(kind: str, x: np.ndarray, lengths: Optional[np.ndarray], success: Optional[str],
                 failure: Optional[str]) -> np.ndarray:
    """The phase of each measurement (:func:`~rampsim.gates.argo_analysis.measurement_phase`, as small integers);
    :class:`_Unbatchable` when a condition is outside the subset."""
    size = len(x)
    holds_success = holds_failure = np.zeros(size, dtype=bool)
    errors = np.zeros(size, dtype=bool)
    if success:
        holds_success, errors = evaluate_batch(success, kind, x, lengths)
    if failure:
        holds_failure, failure_errors = evaluate_batch(failure, kind, x, lengths)
        errors = errors | failure_errors
    if not success and not failure:
        return np.full(size, SUCCESSFUL, dtype=np.int8)
    if success and not failure:
        holds_failure = ~holds_success
    elif failure and not success:
        holds_success = ~holds_failure
    phases = np.where(holds_failure, FAILED, np.where(holds_success, SUCCESSFUL, INCONCLUSIVE)).astype(np.int8)
    phases[errors] = ERROR
    return phases
