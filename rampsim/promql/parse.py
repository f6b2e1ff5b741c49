"""Adapter over ``promql_parser`` (GreptimeDB's Rust PromQL parser): PromQL text to rampsim's own AST.

rampsim does not parse PromQL itself: ``promql_parser`` does, and this module turns its
tree into small frozen dataclasses the evaluator walks, refusing on the way every
construct outside the evaluated subset with :class:`UnsupportedQuery` naming it (a
function, an aggregation, ``@``, a subquery, a string...). Parsed queries are cached.

``promql_parser`` 0.12 follows Prometheus 2.45's grammar: it does not parse duration
expressions (``[5m+1m]``, ``step()``; :class:`QueryError` from the parser) nor 3.x's
``anchored``/``smoothed`` modifiers (Prometheus 3.7, prometheus/prometheus#16457). Those
two are read by a pre-pass, :func:`mark_modifiers`: it tokenizes the query (string
literals and comments skipped whole), finds each ``anchored``/``smoothed`` keyword in
postfix position, walks back over ``offset``/``@`` clauses to the selector it modifies
(``rate(x[5m] anchored)``, ``x offset 1m smoothed``) as Prometheus's grammar attaches it
(``expr ANCHORED``, ``setAnchored``/``setSmoothed`` in ``promql/parser/parse.go``), and
moves it into that selector as a reserved matcher, which :func:`parse` takes out again
into :attr:`Selector.modifier`. What the grammar rejects (a modifier on a subquery, on a
function call, both modifiers on one selector) fails with Prometheus's message.
"""
from __future__ import annotations

import datetime as _dt
import functools
import re
from dataclasses import dataclass
from typing import Any, Optional, Union

import promql_parser as pp

from rampsim.promql.errors import QueryError, UnsupportedQuery
from rampsim.promql.semantics import Semantics
from rampsim.promql.store import Matcher
from rampsim.promql.values import NAME

__all__ = ["Node", "Number", "Selector", "RangeSelector", "Call", "Aggregate", "Binary", "Unary", "parse",
           "FUNCTIONS", "AGGREGATIONS", "ARITHMETIC", "COMPARISON", "SET_OPERATORS", "MODIFIERS", "selectors",
           "mark_modifiers", "check_durations"]

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
    """An instant vector selector: matchers (``__name__`` included), an offset in ms and its modifier.

    ``modifier`` is ``""``, ``"anchored"`` or ``"smoothed"`` (on a range selector, the
    modifier of the range: ``x[5m] anchored``)."""

    matchers: tuple[Matcher, ...]
    offset_ms: int
    text: str
    modifier: str = ""


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


_LONGEST_MS = (2 ** 63 - 1) // 1_000_000
"""The longest duration Prometheus reads (Go's ``time.Duration``, about 292 years), in milliseconds."""
MAX_DEPTH = 200
"""The deepest nesting of operations evaluated, bounded from the text before parsing (:func:`_nesting_bound`):
promql_parser and the evaluator both recurse (Prometheus has no such limit)."""


def _ms(delta: Optional[_dt.timedelta]) -> int:
    if delta is None:
        return 0
    ms = (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    if abs(ms) > _LONGEST_MS:
        raise QueryError("duration out of range (at most about 292 years, as Prometheus)")
    return ms


def _selector(vs: Any) -> Selector:
    if vs.at is not None:
        raise UnsupportedQuery("@ modifier")
    if vs.matchers.or_matchers:
        raise UnsupportedQuery("'or' inside label matchers")
    matchers = [Matcher(m.name, _MATCH_OPS[str(m.op)], m.value) for m in vs.matchers.matchers]
    modifier = next((m.value for m in matchers if m.name == _MARKER), "")
    matchers = [m for m in matchers if m.name != _MARKER]
    if vs.name is not None and not any(m.name == NAME for m in matchers):
        matchers.insert(0, Matcher(NAME, "=", vs.name))
    text = str(vs)
    if modifier:        # the marker's own rendering (its name is reserved: no query has it)
        marker = f'{_MARKER}="{modifier}"'
        text = text.replace("," + marker, "").replace(marker, "") + " " + modifier
    return Selector(tuple(matchers), _ms(vs.offset), text, modifier)


def _convert(expr: Any) -> Node:
    if isinstance(expr, pp.ParenExpr):
        return _convert(expr.expr)
    if isinstance(expr, pp.NumberLiteral):
        return Number(float(expr.val))
    if isinstance(expr, pp.StringLiteral):
        raise UnsupportedQuery("string literal")
    if isinstance(expr, pp.VectorSelector):
        selector = _selector(expr)
        if selector.modifier == "anchored":
            raise UnsupportedQuery("anchored modifier on an instant selector")
        return selector
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
    if _nesting_bound(query) > MAX_DEPTH:   # promql_parser recurses on the native stack: 5,000 terms crash it
        raise UnsupportedQuery(f"operations nested more than {MAX_DEPTH} levels deep")
    problem = _duration_out_of_range(query)
    if problem:
        raise QueryError(f"cannot parse PromQL {query!r}: {problem}")
    marked = mark_modifiers(query)
    try:
        tree = pp.parse(marked)
    except Exception as exc:  # the Rust parser raises ValueError (and may raise others)
        raise QueryError(f"cannot parse PromQL {query!r}: {exc}") from None
    except BaseException as exc:   # a Rust panic (pyo3's PanicException is no Exception): a parse error too
        if type(exc).__name__ != "PanicException":
            raise
        raise QueryError(f"cannot parse PromQL {query!r}: {exc}") from None
    try:
        return _convert(tree)
    except UnsupportedQuery:
        raise
    except QueryError as exc:
        raise QueryError(f"cannot parse PromQL {query!r}: {exc}") from None
    except (OverflowError, ValueError) as exc:   # a duration the parser's timedelta cannot hold
        raise QueryError(f"cannot parse PromQL {query!r}: duration out of range ({exc})") from None


# ---------------------------------------------------------------- durations out of range

_DURATION = re.compile(r"(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?"
                       r"(?:([0-9]+)ms)?")
_UNIT_MS = (365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1)
_PART_MOST = 2 ** 32 - 1
"""The largest number of one unit promql_parser reads in a duration (a u32): it drops a larger one without a word,
so ``[99999999999d]`` was "duration must be greater than 0" and ``[1h4294967296m]`` one hour."""
_OUT_OF_RANGE = "duration out of range (at most about 292 years, as Prometheus)"


@functools.lru_cache(maxsize=1024)
def _duration_out_of_range(query: str) -> Optional[str]:
    """Why a duration in ``query`` cannot be read, or ``None``: one longer than Prometheus reads (Go's
    ``time.Duration``), written with units (``99999999999d``) or as a number of seconds (``[1e20]``, which panics
    promql_parser), or a part of one beyond what promql_parser reads (:data:`_PART_MOST`)."""
    toks = _tokens(query)
    for k, tok in enumerate(toks):
        if tok.kind != "number":
            continue
        units = _DURATION.fullmatch(tok.text)
        if units:
            parts = [int(part) if len(part) <= 30 else 10 ** 30 for part in units.groups(default="0")]
            total = sum(part * unit for part, unit in zip(parts, _UNIT_MS))
            if total > _LONGEST_MS:
                return f"{_OUT_OF_RANGE}: {tok.text}"
            if max(parts) > _PART_MOST:
                return (f"duration {tok.text}: rampsim's parser reads at most {_PART_MOST:,} of a unit; write it "
                        f"with larger units, {_written(total)}")
        elif _UNITLESS.fullmatch(tok.text) and _duration_position(toks, k, ("-", "+")):
            hexadecimal = tok.text[:2].lower() == "0x"   # an integer of any length: compared exactly
            seconds = int(tok.text, 16) if hexadecimal else float(tok.text)
            if not seconds * 1000 <= _LONGEST_MS:   # inf too
                return f"{_OUT_OF_RANGE}: {tok.text} seconds"
    return None


def _duration_position(toks: list[_Token], k: int, signs: tuple[str, ...]) -> Optional[str]:
    """Where the number ``toks[k]`` stands for a duration: ``"range"`` (a range, a subquery's range or step),
    ``"offset"`` (after ``offset``, or after it and one of ``signs``), or ``None``."""
    before = toks[max(k - 2, 0):k]
    following = toks[k + 1] if k + 1 < len(toks) else None
    if before and _is(before[-1], "punct", "[", ":") and following is not None and _is(following, "punct", "]", ":"):
        return "range"
    if before and (_is(before[-1], "ident", "offset") or (
            len(before) == 2 and _is(before[-1], "punct", *signs) and _is(before[0], "ident", "offset"))):
        return "offset"
    return None


def _written(ms: int) -> str:
    """``ms`` milliseconds as a Prometheus duration, each unit at most as large as the next one up allows."""
    out = []
    for unit, size in zip(("y", "w", "d", "h", "m", "s", "ms"), _UNIT_MS):
        amount, ms = divmod(ms, size)
        out += [f"{amount}{unit}"] if amount else []
    return "".join(out) or "0s"


# ---------------------------------------------------------------- durations without a unit

_UNITLESS = re.compile(r"0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def check_durations(query: str, semantics: Semantics) -> None:
    """Fail as Prometheus before 2.53 does on a duration written as a number of seconds: ``rate(x[60])``,
    ``x offset 90``, ``[1.5]`` (prometheus/prometheus#9138 made durations and number literals the same in
    2.53; promql_parser reads them as any version from then on)."""
    if semantics.number_durations:
        return
    problem = _unitless_duration(query)
    if problem:
        raise QueryError(f"cannot parse PromQL {query!r}: {problem} (Prometheus {semantics} reads no duration "
                         "without a unit; 2.53 and later read a number as seconds)")


@functools.lru_cache(maxsize=1024)
def _unitless_duration(query: str) -> Optional[str]:
    """Prometheus 2.x's parse error for the first duration in ``query`` written without a unit (a range, a
    subquery's range or step, an offset), or ``None``."""
    toks = _tokens(query)
    for k, tok in enumerate(toks):
        if tok.kind != "number" or not _UNITLESS.fullmatch(tok.text):
            continue
        position = _duration_position(toks, k, ("-",))
        if position == "range":
            return "missing unit character in duration"
        if position == "offset":
            return f'unexpected number "{tok.text}" in offset, expected duration'
    return None


# ---------------------------------------------------------------- the anchored/smoothed pre-pass

MODIFIERS = ("anchored", "smoothed")
# The reserved label name (``__`` names are Prometheus's own) that carries a modifier through promql_parser.
_MARKER = "__rampsim_range_modifier__"
# Words an operand or a label list follows (a modifier keyword after them is no postfix modifier) ...
_OPERATOR_WORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
                             "and", "or", "unless", "atan2"})
# ... and, with number literals and aggregations, the words that are no metric name.
_NO_METRIC = _OPERATOR_WORDS | AGGREGATIONS | frozenset(
    {"inf", "nan", "group", "stddev", "stdvar", "topk", "bottomk", "quantile", "count_values", "limitk",
     "limit_ratio"})


@dataclass(frozen=True)
class _Token:
    kind: str        # "ident", "number", "string" or "punct" (one character)
    text: str
    start: int
    end: int


def _tokens(query: str) -> list[_Token]:
    """The query's tokens as far as :func:`mark_modifiers` needs them: whitespace and ``#`` comments dropped,
    string literals (``"…"``, ``'…'`` with escapes, raw ```…```) whole, ``:`` part of a name outside ``[…]``."""
    out: list[_Token] = []
    i, n, depth = 0, len(query), 0
    while i < n:
        c = query[i]
        if c.isspace():
            i += 1
        elif c == "#":
            newline = query.find("\n", i)
            i = n if newline < 0 else newline
        elif c in "\"'`":
            j = i + 1
            while j < n and query[j] != c:
                j += 2 if query[j] == "\\" and c != "`" else 1
            out.append(_Token("string", query[i:j + 1], i, min(j + 1, n)))
            i = j + 1
        elif c.isascii() and (c.isalpha() or c == "_" or (c == ":" and depth == 0)):
            j = i + 1
            while j < n and query[j].isascii() and (query[j].isalnum() or query[j] == "_"
                                                    or (query[j] == ":" and depth == 0)):
                j += 1
            out.append(_Token("ident", query[i:j], i, j))
            i = j
        elif c.isdigit() or (c == "." and i + 1 < n and query[i + 1].isdigit()):
            j = i + 1
            while j < n and query[j].isascii() and (query[j].isalnum() or query[j] in "._"):
                if query[j] in "eE" and j + 1 < n and query[j + 1] in "+-" and "x" not in query[i:j].lower():
                    j += 1                                # a decimal exponent's sign: 1.5e+3
                j += 1
            out.append(_Token("number", query[i:j], i, j))
            i = j
        else:
            depth += (c == "[") - (c == "]")
            out.append(_Token("punct", c, i, i + 1))
            i += 1
    return out


_OPERATOR_CHARACTERS = frozenset("+-*/%^=!<>")


def _nesting_bound(query: str) -> int:
    """An upper bound on how deeply ``query``'s operations nest, from its text alone: the deepest parentheses plus
    the operators outside label matchers (a chain of ``n`` operators nests ``n`` deep at most)."""
    deepest = depth = operators = braces = 0
    for tok in _tokens(query):
        if tok.kind == "punct":
            braces += (tok.text == "{") - (tok.text == "}")
            depth += (tok.text == "(") - (tok.text == ")")
            deepest = max(deepest, depth)
            operators += braces <= 0 and tok.text in _OPERATOR_CHARACTERS
        elif tok.kind == "ident" and braces <= 0:
            operators += tok.text.lower() in ("and", "or", "unless", "atan2")
    return deepest + operators


def _is(tok: _Token, kind: str, *texts: str) -> bool:
    return tok.kind == kind and (not texts or tok.text.lower() in texts)


def _postfix(toks: list[_Token], k: int) -> bool:
    """Whether the keyword ``toks[k]`` follows an expression (and so modifies it)."""
    if k == 0:
        return False
    prev = toks[k - 1]
    if prev.kind in ("number", "string"):
        return True
    if prev.kind == "punct":
        return prev.text in ")]}"
    return prev.text.lower() not in _OPERATOR_WORDS


def _selector_end(tok: _Token) -> bool:
    """Whether a selector can end with ``tok``: its ``}`` or its metric name."""
    return _is(tok, "punct", "}") or (tok.kind == "ident" and tok.text.lower() not in _NO_METRIC)


def _target(toks: list[_Token], k: int, word: str) -> int:
    """The index of the last token of the selector the modifier ``toks[k]`` applies to.

    Walks back over other modifiers, ``offset [-]d`` and ``@ [-]t`` / ``@ start()``; a
    range's selector is the one before its ``[``. Raises :class:`QueryError` with
    Prometheus's message where the modified expression is no selector."""
    j = k - 1
    while j >= 0:
        tok = toks[j]
        if _is(tok, "ident", *MODIFIERS):
            j -= 1
            continue
        if tok.kind == "number":
            p = j - 1
            if p >= 0 and _is(toks[p], "punct", "+", "-"):
                p -= 1
            if p >= 0 and (_is(toks[p], "ident", "offset") or _is(toks[p], "punct", "@")):
                j = p - 1
                continue
        if (_is(tok, "punct", ")") and j >= 3 and _is(toks[j - 1], "punct", "(")
                and _is(toks[j - 2], "ident", "start", "end") and _is(toks[j - 3], "punct", "@")):
            j -= 4
            continue
        break
    if j >= 0 and _is(toks[j], "punct", "]"):
        depth, o, subquery = 0, j, False
        while o >= 0:
            depth += _is(toks[o], "punct", "]") - _is(toks[o], "punct", "[")
            subquery |= depth == 1 and _is(toks[o], "punct", ":")
            if depth == 0:
                break
            o -= 1
        if subquery:
            raise QueryError(f"{word} modifier is not supported for subqueries")
        j = o - 1
        if j < 0 or not _selector_end(toks[j]):
            raise QueryError("ranges only allowed for vector selectors")
        return j
    if j >= 0 and _selector_end(toks[j]):
        return j
    raise QueryError(f"{word} modifier not implemented")


def mark_modifiers(query: str) -> str:
    """``query`` with each ``anchored``/``smoothed`` modifier moved into its selector as a reserved matcher.

    ``rate(x{a="b"}[5m] anchored)`` becomes ``rate(x{a="b",__rampsim_range_modifier__="anchored"}[5m] )``,
    which promql_parser reads; :func:`parse` takes the matcher out again. A query without
    modifiers is returned unchanged. The keywords are case-insensitive, as Prometheus's
    lexer has them; inside braces or grouping labels they are label names, left alone."""
    lowered = query.lower()
    if "anchored" not in lowered and "smoothed" not in lowered:
        return query
    if _MARKER in query:
        raise UnsupportedQuery(f"label name {_MARKER}")
    toks = _tokens(query)
    marked: dict[int, str] = {}
    edits: list[tuple[int, int, str]] = []
    for k, tok in enumerate(toks):
        word = tok.text.lower()
        if tok.kind != "ident" or word not in MODIFIERS or not _postfix(toks, k):
            continue
        end = _target(toks, k, word)
        prior = marked.get(end)
        if prior is not None and prior != word:
            raise QueryError("anchored and smoothed modifiers cannot be used together")
        edits.append((tok.start, tok.end, " "))
        if prior is None:         # the selector's first modifier: insert its matcher
            marked[end] = word
            last = toks[end]
            matcher = f'{_MARKER}="{word}"'
            if last.kind == "punct":             # "}": append to the matchers
                sep = "" if _is(toks[end - 1], "punct", "{", ",") else ","
                edits.append((last.start, last.start, sep + matcher))
            else:                                # a bare metric name
                edits.append((last.end, last.end, "{" + matcher + "}"))
    for start, stop, text in sorted(edits, reverse=True):
        query = query[:start] + text + query[stop:]
    return query


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
