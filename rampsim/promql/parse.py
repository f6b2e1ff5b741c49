"""Adapter over ``promql_parser`` (GreptimeDB's Rust PromQL parser): PromQL text to rampsim's own AST.

rampsim does not parse PromQL itself: ``promql_parser`` does, and this module turns its
tree into small frozen dataclasses the evaluator walks, refusing on the way every
construct outside the evaluated subset with :class:`UnsupportedQuery` naming it (a
function, an aggregation, ``@``, a subquery, a string...). Parsed queries are cached.

``promql_parser`` 0.12 follows Prometheus 2.45's grammar: it does not parse 3.x's
``anchored``/``smoothed`` range modifiers nor duration expressions (``[5m+1m]``,
``step()``); such queries fail here with :class:`QueryError` from the parser.
"""
from __future__ import annotations

import datetime as _dt
import functools
from dataclasses import dataclass
from typing import Any, Optional, Union

import promql_parser as pp

from rampsim.promql.errors import QueryError, UnsupportedQuery
from rampsim.promql.store import Matcher
from rampsim.promql.values import NAME

__all__ = ["Node", "Number", "Selector", "RangeSelector", "Call", "Aggregate", "Binary", "Unary", "parse",
           "FUNCTIONS", "AGGREGATIONS", "ARITHMETIC", "COMPARISON", "SET_OPERATORS", "selectors"]

# Functions evaluated: name -> argument kinds ("m" range vector, "v" instant vector, "s" scalar).
FUNCTIONS: dict[str, str] = {
    "rate": "m", "irate": "m", "increase": "m", "delta": "m", "idelta": "m", "deriv": "m",
    "avg_over_time": "m", "sum_over_time": "m", "min_over_time": "m", "max_over_time": "m",
    "count_over_time": "m", "last_over_time": "m", "present_over_time": "m",
    "changes": "m", "resets": "m",
    "histogram_quantile": "sv", "vector": "s", "scalar": "v", "time": "",
    "clamp": "vss", "clamp_min": "vs", "clamp_max": "vs", "abs": "v", "round": "vs",
}
AGGREGATIONS = frozenset({"sum", "avg", "max", "min", "count"})
ARITHMETIC = frozenset({"+", "-", "*", "/", "%", "^", "atan2"})
COMPARISON = frozenset({"==", "!=", ">", "<", ">=", "<="})
SET_OPERATORS = frozenset({"and", "or", "unless"})

# promql_parser's enums are not hashable: key by their names.
_MATCH_OPS = {"MatchOp.Equal": "=", "MatchOp.NotEqual": "!=", "MatchOp.Re": "=~", "MatchOp.NotRe": "!~"}
_CARDS = {"VectorMatchCardinality.OneToOne": "one-to-one", "VectorMatchCardinality.ManyToOne": "many-to-one",
          "VectorMatchCardinality.OneToMany": "one-to-many", "VectorMatchCardinality.ManyToMany": "many-to-many"}


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Selector:
    """An instant vector selector: matchers (``__name__`` included) and an offset in ms."""

    matchers: tuple[Matcher, ...]
    offset_ms: int
    text: str


@dataclass(frozen=True)
class RangeSelector:
    selector: Selector
    range_ms: int


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple["Node", ...]


@dataclass(frozen=True)
class Aggregate:
    op: str
    expr: "Node"
    grouping: tuple[str, ...]
    without: bool


@dataclass(frozen=True)
class Binary:
    """A binary operation. ``on`` is None without ``on``/``ignoring``, True for ``on``, False for ``ignoring``."""

    op: str
    lhs: "Node"
    rhs: "Node"
    return_bool: bool
    on: Optional[bool]
    matching: tuple[str, ...]
    card: str              # "one-to-one", "many-to-one", "one-to-many", "many-to-many"
    include: tuple[str, ...]


@dataclass(frozen=True)
class Unary:
    expr: "Node"


Node = Union[Number, Selector, RangeSelector, Call, Aggregate, Binary, Unary]


def _ms(delta: Optional[_dt.timedelta]) -> int:
    if delta is None:
        return 0
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _selector(vs: Any) -> Selector:
    if vs.at is not None:
        raise UnsupportedQuery("@ modifier")
    if vs.matchers.or_matchers:
        raise UnsupportedQuery("'or' inside label matchers")
    matchers = [Matcher(m.name, _MATCH_OPS[str(m.op)], m.value) for m in vs.matchers.matchers]
    if vs.name is not None and not any(m.name == NAME for m in matchers):
        matchers.insert(0, Matcher(NAME, "=", vs.name))
    return Selector(tuple(matchers), _ms(vs.offset), str(vs))


def _convert(expr: Any) -> Node:
    if isinstance(expr, pp.ParenExpr):
        return _convert(expr.expr)
    if isinstance(expr, pp.NumberLiteral):
        return Number(float(expr.val))
    if isinstance(expr, pp.StringLiteral):
        raise UnsupportedQuery("string literal")
    if isinstance(expr, pp.VectorSelector):
        return _selector(expr)
    if isinstance(expr, pp.MatrixSelector):
        return RangeSelector(_selector(expr.vector_selector), _ms(expr.range))
    if isinstance(expr, pp.SubqueryExpr):
        raise UnsupportedQuery("subquery")
    if isinstance(expr, pp.UnaryExpr):
        return Unary(_convert(expr.expr))
    if isinstance(expr, pp.Call):
        name = expr.func.name
        if name not in FUNCTIONS:
            raise UnsupportedQuery(f"function {name}")
        return Call(name, tuple(_convert(a) for a in expr.args))
    if isinstance(expr, pp.AggregateExpr):
        op = str(expr.op)
        if op not in AGGREGATIONS:
            raise UnsupportedQuery(f"aggregation {op}")
        grouping: tuple[str, ...] = ()
        without = False
        if expr.modifier is not None:
            grouping = tuple(expr.modifier.labels)
            without = str(expr.modifier.type) == "AggModifierType.Without"
        return Aggregate(op, _convert(expr.expr), grouping, without)
    if isinstance(expr, pp.BinaryExpr):
        op = str(expr.op)
        if op not in ARITHMETIC | COMPARISON | SET_OPERATORS:
            raise UnsupportedQuery(f"binary operator {op}")
        mod = expr.modifier
        on: Optional[bool] = None
        matching: tuple[str, ...] = ()
        include: tuple[str, ...] = ()
        return_bool = False
        card = "many-to-many" if op in SET_OPERATORS else "one-to-one"
        if mod is not None:
            if getattr(mod, "fill_values", None) is not None and (mod.fill_values.lhs is not None
                                                                  or mod.fill_values.rhs is not None):
                raise UnsupportedQuery("fill modifier")
            return_bool = bool(mod.return_bool)
            if mod.matching is not None:
                on = str(mod.matching.type) == "LabelModifierType.Include"
                matching = tuple(mod.matching.labels)
            card = _CARDS[str(mod.card)]
            include = tuple(mod.group_labels or ())
        if op in SET_OPERATORS:
            card = "many-to-many"
        return Binary(op, _convert(expr.lhs), _convert(expr.rhs), return_bool, on, matching, card, include)
    raise UnsupportedQuery(f"expression {type(expr).__name__}")


@functools.lru_cache(maxsize=1024)
def parse(query: str) -> Node:
    """The AST of a PromQL query; :class:`QueryError` if it does not parse, :class:`UnsupportedQuery` if outside the subset."""
    try:
        tree = pp.parse(query)
    except Exception as exc:  # the Rust parser raises ValueError (and may raise others)
        raise QueryError(f"cannot parse PromQL {query!r}: {exc}") from None
    return _convert(tree)


def selectors(node: Node) -> list[Selector]:
    """Every selector in a tree (for callers that inspect which series a query reads)."""
    if isinstance(node, Selector):
        return [node]
    if isinstance(node, RangeSelector):
        return [node.selector]
    if isinstance(node, Call):
        return [s for a in node.args for s in selectors(a)]
    if isinstance(node, Aggregate):
        return selectors(node.expr)
    if isinstance(node, Binary):
        return selectors(node.lhs) + selectors(node.rhs)
    if isinstance(node, Unary):
        return selectors(node.expr)
    return []
