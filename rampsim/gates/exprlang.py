"""Argo Rollouts' analysis conditions: the subset of expr-lang (github.com/expr-lang/expr) they are written in.

Argo compiles each ``successCondition``/``failureCondition`` with expr against the environment
``{result, asInt, asFloat, isNaN, isInf, isNil, default}`` (``utils/evaluate/evaluate.go``,
``EvalCondition``), where ``result`` has the Go type of the query's value: ``float64`` for a
scalar, ``[]float64`` for a vector. expr *type-checks at compile time* against that type, so
``result >= 0.95`` on a vector is a compile error and the measurement is Error every time; this
module reproduces that, as well as the runtime errors (``result[0]`` on an empty vector).

A hand-written recursive-descent parser (no ``eval``): numbers, strings, ``true``/``false``/``nil``,
``result``, indexing (negative indexes count from the end), member access (always a type
error on a number or a vector), calls to ``len``, ``abs``, ``int``, ``float``, ``min``, ``max``,
``sum``, ``mean``, ``first``, ``last`` and Argo's ``asInt``, ``asFloat``, ``isNaN``, ``isInf``,
``isNil``, ``default``, the predicates ``all``/``any``/``none``/``count`` with a ``{# ...}``
closure, unary ``!``/``not``/``-``/``+``, ``||``/``or``, ``&&``/``and``, comparisons, ``in``,
``contains``/``startsWith``/``endsWith`` (with ``not``), arithmetic, ``??`` and ``? :``.
Valid expr outside this subset (pipes, slices, maps, ``let``...) raises :class:`UnsupportedCondition`
(the importer refuses the gate rather than guess); text expr itself would not parse raises
:class:`ConditionSyntaxError`, which Argo turns into an Error measurement. Both name the
condition and the position.

>>> evaluate_condition("result[0] >= 0.95", [0.97])
True
>>> evaluate_condition("len(result) == 0 || result[0] >= 0.95", [])
True
>>> try:
...     evaluate_condition("result >= 0.95", [0.97])
... except ConditionTypeError as exc:
...     print(exc)
invalid operation: >= (mismatched types []float64 and float64) in 'result >= 0.95' at 7
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Callable, Optional, Sequence, Union

from rampsim.errors import UsageError

__all__ = [
    "ConditionError", "ConditionSyntaxError", "ConditionTypeError", "ConditionRuntimeError", "UnsupportedCondition",
    "Condition", "ResultValue", "parse_condition", "check_condition", "evaluate_condition", "result_kind",
    "threshold_literals", "with_threshold", "names_used",
]

ResultValue = Union[float, list, None]
"""What ``result`` holds: a float (scalar query), a list of floats (vector or matrix), or ``None``."""


class ConditionError(UsageError):
    """A condition expr refuses: at parse, type-check or run time. ``position`` is a 0-based offset."""

    def __init__(self, message: str, text: str, position: int) -> None:
        self.text, self.position, self.reason = text, position, message
        super().__init__(f"{message} in {text!r} at {position}")


class ConditionSyntaxError(ConditionError):
    """Text expr does not parse: Argo reports the compile error and the measurement is Error."""


class ConditionTypeError(ConditionError):
    """A condition expr's checker rejects for this type of ``result``: Error every time."""


class ConditionRuntimeError(ConditionError):
    """A condition that fails while running (index out of range, a panic in ``asInt``): Error."""


class UnsupportedCondition(ConditionError):
    """Valid expr outside the subset rampsim evaluates: refused rather than approximated."""


# -- tokens ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Token:
    kind: str   # "num", "str", "name", "op", "end"
    value: str
    pos: int


_OPERATORS = ("**", "||", "&&", "==", "!=", "<=", ">=", "??", "?.", "..", "<", ">", "+", "-", "*", "/", "%", "^",
              "!", "?", ":", "(", ")", "[", "]", "{", "}", ",", ".", "#", "|", "$", ";", "=")
_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0", "b": "\b", "f": "\f",
            "v": "\v", "a": "\a"}


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if text.startswith("//", i):   # a comment to the end of the line
            end = text.find("\n", i)
            i = len(text) if end < 0 else end + 1
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise ConditionSyntaxError("unclosed comment", text, i)
            i = end + 2
            continue
        if ch.isdigit() or (ch == "." and i + 1 < len(text) and text[i + 1].isdigit()):
            end = _number_end(text, i)
            out.append(_Token("num", text[i:end], i))
            i = end
            continue
        if ch in "\"'`":
            value, i2 = _string(text, i)
            out.append(_Token("str", value, i))
            i = i2
            continue
        if ch.isalpha() or ch == "_":
            match = _NAME.match(text, i)
            assert match is not None
            out.append(_Token("name", match.group(0), i))
            i = match.end()
            continue
        for op in _OPERATORS:
            if text.startswith(op, i):
                out.append(_Token("op", op, i))
                i += len(op)
                break
        else:
            raise ConditionSyntaxError(f"unexpected character {ch!r}", text, i)
    out.append(_Token("end", "", len(text)))
    return out


def _number_end(text: str, start: int) -> int:
    """Where the number literal at ``start`` ends, scanned as expr's lexer scans it (``scanNumber``): an optional
    ``0x``/``0o``/``0b`` prefix, digits and ``_``, a fraction (``1.`` included, unless ``..`` follows: a range), an
    exponent; a letter right after it is a syntax error."""
    n, j, digits = len(text), start, "0123456789_"
    if text[j] == "0" and j + 1 < n and text[j + 1] in "xXoObB":
        digits = {"x": "0123456789abcdefABCDEF_", "o": "01234567_", "b": "01_"}[text[j + 1].lower()]
        j += 2
    while j < n and text[j] in digits:
        j += 1
    if j < n and text[j] == ".":
        if j + 1 < n and text[j + 1] == ".":
            return j
        j += 1
        while j < n and text[j] in digits:
            j += 1
    if j < n and text[j] in "eE":
        j += 1
        if j < n and text[j] in "+-":
            j += 1
        while j < n and text[j] in digits:
            j += 1
    if j < n and (text[j].isalnum() or text[j] == "_"):
        raise ConditionSyntaxError(f"bad number syntax: {text[start:j + 1]!r}", text, start)
    return j


def _string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    i = start + 1
    chars: list[str] = []
    while i < len(text):
        ch = text[i]
        if ch == quote:
            return "".join(chars), i + 1
        if ch == "\\" and quote != "`" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in _ESCAPES:
                chars.append(_ESCAPES[nxt])
                i += 2
                continue
            if nxt in "uU" or nxt == "x":
                width = {"x": 2, "u": 4, "U": 8}[nxt]
                digits = text[i + 2:i + 2 + width]
                if len(digits) == width and all(c in "0123456789abcdefABCDEF" for c in digits):
                    chars.append(chr(int(digits, 16)))
                    i += 2 + width
                    continue
            raise ConditionSyntaxError("invalid escape in string literal", text, i)
        chars.append(ch)
        i += 1
    raise ConditionSyntaxError("literal not terminated", text, start)


# -- the tree ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Literal:
    value: object
    pos: int
    end: int = 0


@dataclass(frozen=True)
class _Name:
    name: str
    pos: int


@dataclass(frozen=True)
class _Pointer:  # ``#`` inside a closure
    pos: int


@dataclass(frozen=True)
class _Member:
    obj: "_Node"
    name: str
    pos: int


@dataclass(frozen=True)
class _Index:
    obj: "_Node"
    index: "_Node"
    pos: int


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple["_Node", ...]
    pos: int


@dataclass(frozen=True)
class _Closure:
    body: "_Node"
    pos: int


@dataclass(frozen=True)
class _Unary:
    op: str
    operand: "_Node"
    pos: int


@dataclass(frozen=True)
class _Binary:
    op: str
    left: "_Node"
    right: "_Node"
    pos: int
    negated: bool = False


@dataclass(frozen=True)
class _Ternary:
    cond: "_Node"
    then: "_Node"
    other: "_Node"
    pos: int


_Node = Union[_Literal, _Name, _Pointer, _Member, _Index, _Call, _Closure, _Unary, _Binary, _Ternary]

# expr-lang's binary precedences (parser/operator): higher binds tighter.
_BINARY = {"||": 10, "or": 10, "&&": 15, "and": 15,
           "==": 20, "!=": 20, "<": 20, ">": 20, "<=": 20, ">=": 20, "in": 20, "matches": 20, "contains": 20,
           "startsWith": 20, "endsWith": 20, "..": 25, "+": 30, "-": 30, "*": 60, "/": 60, "%": 60,
           "**": 100, "^": 100, "??": 500}
_RIGHT = {"**", "^"}
_CHAINED = {"<", ">", "<=", ">="}
MAX_NESTING = 100
"""The deepest nesting of a condition rampsim evaluates (deeper is refused as outside its subset, never a crash)."""
_UNARY = {"!": 50, "not": 50, "-": 90, "+": 90}
_WORD_OPERATORS = {"or", "and", "in", "matches", "contains", "startsWith", "endsWith"}
_CLOSURE_BUILTINS = {"all", "any", "none", "one", "count", "filter", "map", "find", "findIndex", "findLast",
                     "findLastIndex", "groupBy", "sortBy", "reduce", "sum"}


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.i = 0
        self.closures = 0
        self.depth = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def expect(self, value: str) -> _Token:
        if self.tok.kind == "op" and self.tok.value == value:
            return self.take()
        found = self.tok.value or "end of condition"
        raise ConditionSyntaxError(f"expected {value!r}, found {found!r}", self.text, self.tok.pos)

    def unsupported(self, what: str, pos: int) -> UnsupportedCondition:
        return UnsupportedCondition(f"{what} is valid expr but outside the subset rampsim evaluates", self.text, pos)

    def parse(self) -> _Node:
        if self.tok.kind == "end":
            raise ConditionSyntaxError("empty condition", self.text, 0)
        if self.tok.kind == "name" and self.tok.value == "let":
            raise self.unsupported("'let'", self.tok.pos)
        node = self.expression(0)
        if _tree_depth(node) > MAX_NESTING:   # a long chain (a + a + ... + a) nests on the left without parentheses
            raise self.unsupported(f"nesting deeper than {MAX_NESTING} levels", 0)
        if self.tok.kind != "end":
            if self.tok.kind == "op" and self.tok.value == "|":
                raise self.unsupported("a pipe '|'", self.tok.pos)
            if self.tok.kind == "op" and self.tok.value == ";":
                raise self.unsupported("';'", self.tok.pos)
            raise ConditionSyntaxError(f"unexpected token {self.tok.value!r}", self.text, self.tok.pos)
        return node

    def _binary_op(self) -> Optional[tuple[str, bool]]:
        tok = self.tok
        if tok.kind == "op" and tok.value in _BINARY:
            return tok.value, False
        if tok.kind == "name" and tok.value in _WORD_OPERATORS:
            return tok.value, False
        if tok.kind == "name" and tok.value == "not":
            nxt = self.tokens[self.i + 1]
            if nxt.kind == "name" and nxt.value in ("in", "matches", "contains", "startsWith", "endsWith"):
                return nxt.value, True
        return None

    def expression(self, precedence: int) -> _Node:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise self.unsupported(f"nesting deeper than {MAX_NESTING} levels", self.tok.pos)
        node = self.unary()
        previous = ""
        while True:
            found = self._binary_op()
            if found is None:
                break
            op, negated = found
            level = _BINARY[op]
            if level < precedence:
                break
            if previous == "??" and op != "??":
                raise ConditionSyntaxError(f"operator ({op}) and coalesce expressions (??) cannot be mixed: wrap "
                                           "either in parentheses", self.text, self.tok.pos)
            pos = self.take().pos
            if negated:
                self.take()
            if op == "..":
                raise self.unsupported("a range '..'", pos)
            if op in _CHAINED and not negated:
                node = self.comparisons(node, op, pos, level)
            else:
                right = self.expression(level if op in _RIGHT else level + 1)
                node = _Binary(op, node, right, pos, negated)
            previous = op
        self.depth -= 1
        if precedence == 0 and self.tok.kind == "op" and self.tok.value == "?":
            pos = self.take().pos
            then = self.expression(0)
            self.expect(":")
            other = self.expression(0)
            node = _Ternary(node, then, other, pos)
        return node

    def comparisons(self, left: _Node, op: str, pos: int, level: int) -> _Node:
        """``a < b <= c`` as expr reads it since 1.16: ``a < b && b <= c`` (``<``, ``>``, ``<=``, ``>=`` chain;
        ``==`` does not: ``1 < 2 == true`` is ``(1 < 2) == true``)."""
        chain: Optional[_Node] = None
        while True:
            right = self.expression(level + 1)
            comparison = _Binary(op, left, right, pos, False)
            chain = comparison if chain is None else _Binary("&&", chain, comparison, pos, False)
            if not (self.tok.kind == "op" and self.tok.value in _CHAINED):
                return chain
            left = right
            token = self.take()
            op, pos = token.value, token.pos

    def unary(self) -> _Node:
        tok = self.tok
        if (tok.kind == "op" and tok.value in ("!", "-", "+")) or (tok.kind == "name" and tok.value == "not"):
            self.take()
            operand = self.expression(_UNARY[tok.value])
            return _Unary(tok.value, operand, tok.pos)
        return self.postfix(self.primary())

    def primary(self) -> _Node:
        tok = self.take()
        if tok.kind == "num":
            return _Literal(_number(tok, self.text), tok.pos, tok.pos + len(tok.value))
        if tok.kind == "str":
            return _Literal(tok.value, tok.pos)
        if tok.kind == "name":
            if tok.value in ("true", "false"):
                return _Literal(tok.value == "true", tok.pos)
            if tok.value in ("nil",):
                return _Literal(None, tok.pos)
            if self.tok.kind == "op" and self.tok.value == "(":
                return self.call(tok)
            return _Name(tok.value, tok.pos)
        if tok.kind == "op":
            if tok.value == "(":
                node = self.expression(0)
                self.expect(")")
                return node
            if tok.value == "#":
                if not self.closures:
                    raise ConditionSyntaxError("'#' outside a closure", self.text, tok.pos)
                if self.tok.kind in ("name", "num"):
                    raise self.unsupported("a named pointer '#name'", tok.pos)
                return _Pointer(tok.pos)
            if tok.value == "[":
                raise self.unsupported("an array literal", tok.pos)
            if tok.value == "{":
                raise self.unsupported("a map literal", tok.pos)
            if tok.value == ".":
                raise self.unsupported("a field of the closure's element ('.name')", tok.pos)
            if tok.value == "$":
                raise self.unsupported("'$env'", tok.pos)
        found = tok.value or "end of condition"
        raise ConditionSyntaxError(f"unexpected token {found!r}", self.text, tok.pos)

    def call(self, name: _Token) -> _Node:
        if name.value in _EXPR_BUILTINS_NOT_EVALUATED:
            raise self.unsupported(f"the builtin {name.value}()", name.pos)
        self.expect("(")
        args: list[_Node] = []
        while not (self.tok.kind == "op" and self.tok.value == ")"):
            if args:
                self.expect(",")
            braced = self.tok.kind == "op" and self.tok.value == "{"
            if braced or (name.value in _CLOSURE_BUILTINS and len(args) == 1):   # a predicate: braces optional
                start = self.take() if braced else self.tok
                if name.value not in _CLOSURE_BUILTINS:
                    raise self.unsupported("a map literal", start.pos)
                self.closures += 1
                body = self.expression(0)
                self.closures -= 1
                if braced:
                    self.expect("}")
                args.append(_Closure(body, start.pos))
            else:
                args.append(self.expression(0))
            if self.tok.kind == "end":
                raise ConditionSyntaxError("expected ')'", self.text, self.tok.pos)
        self.expect(")")
        return _Call(name.value, tuple(args), name.pos)

    def postfix(self, node: _Node) -> _Node:
        while self.tok.kind == "op" and self.tok.value in (".", "[", "?."):
            tok = self.take()
            if tok.value == "?.":
                raise self.unsupported("optional chaining '?.'", tok.pos)
            if tok.value == ".":
                name = self.take()
                if name.kind != "name":
                    raise ConditionSyntaxError("expected a field name after '.'", self.text, name.pos)
                if self.tok.kind == "op" and self.tok.value == "(":
                    raise self.unsupported("a method call", name.pos)
                node = _Member(node, name.value, tok.pos)
                continue
            if self.tok.kind == "op" and self.tok.value == ":":
                raise self.unsupported("a slice '[:]'", tok.pos)
            index = self.expression(0)
            if self.tok.kind == "op" and self.tok.value == ":":
                raise self.unsupported("a slice '[:]'", self.tok.pos)
            self.expect("]")
            node = _Index(node, index, tok.pos)
        return node


def _number(tok: _Token, text: str) -> Union[int, float]:
    """The literal's value as expr's parser reads it: integers must fit int64 and floats be finite (a compile
    error otherwise: ``1e999``, ``9223372036854775808``)."""
    raw = tok.value.replace("_", "")
    lower = raw.lower()
    try:
        if lower.startswith(("0x", "0o", "0b")):
            value: Union[int, float] = int(raw, 0)
        elif "." in lower or "e" in lower:
            value = float(raw)
        else:
            value = int(raw, 10)
    except ValueError:
        raise ConditionSyntaxError(f"invalid number {tok.value!r}", text, tok.pos) from None
    if isinstance(value, float):
        if math.isinf(value):
            raise ConditionSyntaxError(f"float literal is too large: {tok.value!r}", text, tok.pos)
        return value
    if value > _INT64_MAX:
        raise ConditionSyntaxError(f"integer literal is too large: {tok.value!r}", text, tok.pos)
    return value


_INT64_MAX = 2 ** 63 - 1


# -- types (expr's checker) ------------------------------------------------------------------

# Types: "bool", "int", "float", "string", "nil", "floats" ([]float64), "any" (unknown until run time).
_GO = {"bool": "bool", "int": "int", "float": "float64", "string": "string", "nil": "nil", "floats": "[]float64",
       "any": "interface {}"}
_NUMERIC = {"int", "float"}


def result_kind(value: ResultValue) -> str:
    """The expr type of ``result`` for a query value: ``float`` (scalar), ``floats`` (vector) or ``nil``."""
    if value is None:
        return "nil"
    if isinstance(value, list):
        return "floats"
    return "float"


@dataclass(frozen=True)
class _Builtin:
    arity: tuple[int, int]
    check: Callable[[Sequence[str]], Optional[str]]  # argument types -> the reason they are refused, or None
    result: Callable[[Sequence[str]], str]


def _numbers_only(types: Sequence[str]) -> Optional[str]:
    bad = [t for t in types if t not in _NUMERIC | {"any"}]
    return f"cannot use {_GO[bad[0]]} as argument (type float64)" if bad else None


def _array_only(types: Sequence[str]) -> Optional[str]:
    bad = [t for t in types[:1] if t not in ("floats", "any")]
    return f"invalid argument (type {_GO[bad[0]]}): expected an array" if bad else None


def _anything(types: Sequence[str]) -> Optional[str]:
    return None


def _len_check(types: Sequence[str]) -> Optional[str]:
    return None if types[0] in ("floats", "string", "any") else f"invalid argument for len (type {_GO[types[0]]})"


_BUILTINS: dict[str, _Builtin] = {
    # Argo's environment (utils/evaluate/evaluate.go)
    "asInt": _Builtin((1, 1), _anything, lambda t: "int"),
    "asFloat": _Builtin((1, 1), _anything, lambda t: "float"),
    "isNaN": _Builtin((1, 1), _numbers_only, lambda t: "bool"),
    "isInf": _Builtin((1, 1), _numbers_only, lambda t: "bool"),
    "isNil": _Builtin((1, 1), _anything, lambda t: "bool"),
    "default": _Builtin((2, 2), _anything, lambda t: "any"),
    # expr's own builtins
    "len": _Builtin((1, 1), _len_check, lambda t: "int"),
    "abs": _Builtin((1, 1), _numbers_only, lambda t: t[0] if t[0] in _NUMERIC else "any"),
    "int": _Builtin((1, 1), _anything, lambda t: "int"),
    "float": _Builtin((1, 1), _anything, lambda t: "float"),
    "min": _Builtin((1, 99), lambda t: None if len(t) == 1 and t[0] in ("floats", "any") else _numbers_only(t),
                    lambda t: "float"),
    "max": _Builtin((1, 99), lambda t: None if len(t) == 1 and t[0] in ("floats", "any") else _numbers_only(t),
                    lambda t: "float"),
    "sum": _Builtin((1, 1), _array_only, lambda t: "float"),
    "mean": _Builtin((1, 1), _array_only, lambda t: "float"),
    "first": _Builtin((1, 1), _array_only, lambda t: "float" if t[0] == "floats" else "any"),
    "last": _Builtin((1, 1), _array_only, lambda t: "float" if t[0] == "floats" else "any"),
}
_PREDICATES = {"all": "bool", "any": "bool", "none": "bool", "one": "bool", "count": "int"}
# expr builtins rampsim does not evaluate: a condition using one is refused, not mis-judged.
_EXPR_BUILTINS_NOT_EVALUATED = {
    "median", "ceil", "floor", "round", "string", "trim", "trimPrefix", "trimSuffix", "upper", "lower", "split",
    "splitAfter", "replace", "repeat", "indexOf", "lastIndexOf", "hasPrefix", "hasSuffix", "now", "duration",
    "date", "timezone", "toJSON", "fromJSON", "toBase64", "fromBase64", "keys", "values", "toPairs", "fromPairs",
    "join", "reverse", "uniq", "concat", "flatten", "sort", "sortBy", "groupBy", "reduce", "filter", "map", "find",
    "findIndex", "findLast", "findLastIndex", "type", "get", "bitand", "bitor", "bitxor", "bitnand", "bitnot",
    "bitshl", "bitshr", "bitushr", "take",
}


class _Checker:
    """expr's compile-time checker, for a given type of ``result``."""

    def __init__(self, text: str, result: str) -> None:
        self.text, self.result = text, result

    def fail(self, message: str, pos: int) -> ConditionTypeError:
        return ConditionTypeError(message, self.text, pos)

    def type(self, node: _Node, element: Optional[str] = None) -> str:
        if isinstance(node, _Literal):
            value = node.value
            if value is None:
                return "nil"
            if isinstance(value, bool):
                return "bool"
            if isinstance(value, int):
                return "int"
            if isinstance(value, float):
                return "float"
            return "string"
        if isinstance(node, _Pointer):
            return element or "any"
        if isinstance(node, _Name):
            if node.name == "result":
                return self.result
            if node.name in _BUILTINS or node.name in _PREDICATES:
                raise self.fail(f"function {node.name} used as a value (call it)", node.pos)
            raise self.fail(f"unknown name {node.name}", node.pos)
        if isinstance(node, _Member):
            obj = self.type(node.obj, element)
            if obj == "any":
                return "any"
            if obj == "nil":
                return "any"
            raise self.fail(f"type {_GO[obj]} has no field {node.name}", node.pos)
        if isinstance(node, _Index):
            obj, index = self.type(node.obj, element), self.type(node.index, element)
            if obj == "floats":
                if index not in ("int", "any"):
                    raise self.fail(f"non-integer index (type {_GO[index]})", node.pos)
                return "float"
            if obj in ("any", "nil"):
                return "any"
            if obj == "string":
                return "string"
            raise self.fail(f"cannot fetch {_GO[index]} from {_GO[obj]}", node.pos)
        if isinstance(node, _Call):
            return self.call(node, element)
        if isinstance(node, _Closure):
            raise self.fail("a closure outside a predicate", node.pos)
        if isinstance(node, _Unary):
            operand = self.type(node.operand, element)
            if node.op in ("!", "not"):
                if operand not in ("bool", "any"):
                    raise self.fail(f"invalid operation: {node.op} (mismatched type {_GO[operand]})", node.pos)
                return "bool"
            if operand not in _NUMERIC | {"any"}:
                raise self.fail(f"invalid operation: {node.op} (mismatched type {_GO[operand]})", node.pos)
            return operand
        if isinstance(node, _Ternary):
            cond = self.type(node.cond, element)
            if cond not in ("bool", "any"):
                raise self.fail(f"non-bool expression (type {_GO[cond]}) used as condition", node.pos)
            then, other = self.type(node.then, element), self.type(node.other, element)
            return then if then == other else "any"
        assert isinstance(node, _Binary)
        return self.binary(node, element)

    def binary(self, node: _Binary, element: Optional[str]) -> str:
        left, right = self.type(node.left, element), self.type(node.right, element)
        op = node.op
        mismatch = self.fail(f"invalid operation: {op} (mismatched types {_GO[left]} and {_GO[right]})", node.pos)
        if op == "??":
            return left if left == right else "any"
        if "any" in (left, right):
            return "bool" if _BINARY[op] in (10, 15, 20) else "any"
        if op in ("||", "or", "&&", "and"):
            if left != "bool" or right != "bool":
                raise mismatch
            return "bool"
        if op in ("==", "!="):
            if left == right or (left in _NUMERIC and right in _NUMERIC) or "nil" in (left, right):
                return "bool"
            raise mismatch
        if op in ("<", ">", "<=", ">="):
            if (left in _NUMERIC and right in _NUMERIC) or left == right == "string":
                return "bool"
            raise mismatch
        if op == "in":
            if right == "floats" and left in _NUMERIC:
                return "bool"
            if right == "string" and left == "string":
                return "bool"
            raise mismatch
        if op in ("contains", "startsWith", "endsWith", "matches"):
            if left == right == "string":
                return "bool"
            raise mismatch
        if op == "+" and left == right and left in ("string", "floats"):
            return left
        if op in ("+", "-", "*", "/", "%", "**", "^"):
            if left in _NUMERIC and right in _NUMERIC:
                if op == "%" and (left != "int" or right != "int"):
                    raise mismatch
                if op in ("/", "**", "^"):
                    return "float"
                return "int" if left == right == "int" else "float"
            raise mismatch
        raise mismatch

    def call(self, node: _Call, element: Optional[str]) -> str:
        name = node.name
        if name in _PREDICATES:
            if len(node.args) != 2 or not isinstance(node.args[1], _Closure):
                raise self.fail(f"{name} takes an array and a closure {{...}}", node.pos)
            array = self.type(node.args[0], element)
            if array not in ("floats", "any"):
                raise self.fail(f"builtin {name} takes only array (got {_GO[array]})", node.pos)
            body = self.type(node.args[1].body, "float" if array == "floats" else "any")
            if body not in ("bool", "any"):
                raise self.fail(f"predicate should return boolean (got {_GO[body]})", node.args[1].pos)
            return _PREDICATES[name]
        builtin = _BUILTINS.get(name)
        if builtin is None:
            raise self.fail(f"unknown func {name}", node.pos)
        low, high = builtin.arity
        if not low <= len(node.args) <= high:
            raise self.fail(f"not enough arguments to call {name}" if len(node.args) < low
                            else f"too many arguments to call {name}", node.pos)
        types = [self.type(arg, element) for arg in node.args]
        problem = builtin.check(types)
        if problem:
            raise self.fail(problem, node.pos)
        return builtin.result(types)


# -- running ---------------------------------------------------------------------------------

class _Runner:
    def __init__(self, text: str, result: ResultValue) -> None:
        self.text, self.result = text, result

    def fail(self, message: str, pos: int) -> ConditionRuntimeError:
        return ConditionRuntimeError(message, self.text, pos)

    def run(self, node: _Node, element: object = None) -> object:
        if isinstance(node, _Literal):
            return node.value
        if isinstance(node, _Pointer):
            return element
        if isinstance(node, _Name):
            return self.result  # the checker admits no other name
        if isinstance(node, _Member):
            raise self.fail(f"cannot fetch {node.name}", node.pos)
        if isinstance(node, _Index):
            obj, index = self.run(node.obj, element), self.run(node.index, element)
            if isinstance(obj, (list, str)) and isinstance(index, int) and not isinstance(index, bool):
                position = index + len(obj) if index < 0 else index
                if not 0 <= position < len(obj):
                    raise self.fail(f"index out of range: {index} (array length is {len(obj)})", node.pos)
                return obj[position]
            if isinstance(index, float) and index.is_integer() and isinstance(obj, list):
                return self.run(_Index(_Literal(obj, node.pos), _Literal(int(index), node.pos), node.pos))
            raise self.fail(f"cannot fetch {_go_type(index)} from {_go_type(obj)}", node.pos)
        if isinstance(node, _Call):
            return self.call(node, element)
        if isinstance(node, _Unary):
            value = self.run(node.operand, element)
            if node.op in ("!", "not"):
                if not isinstance(value, bool):
                    raise self.fail(f"invalid operation: {node.op} {_go_type(value)}", node.pos)
                return not value
            if not _is_number(value):
                raise self.fail(f"invalid operation: {node.op} {_go_type(value)}", node.pos)
            assert isinstance(value, (int, float))
            return -value if node.op == "-" else value
        if isinstance(node, _Ternary):
            cond = self.run(node.cond, element)
            if not isinstance(cond, bool):
                raise self.fail(f"non-bool value {_go_type(cond)} used as condition", node.pos)
            return self.run(node.then if cond else node.other, element)
        if isinstance(node, _Closure):
            raise self.fail("a closure outside a predicate", node.pos)
        assert isinstance(node, _Binary)
        return self.binary(node, element)

    def binary(self, node: _Binary, element: object) -> object:
        op = node.op
        left = self.run(node.left, element)
        if op in ("||", "or", "&&", "and"):
            if not isinstance(left, bool):
                raise self.fail(f"invalid operation: {op} on {_go_type(left)}", node.pos)
            if (op in ("||", "or")) == left:
                return left
            right = self.run(node.right, element)
            if not isinstance(right, bool):
                raise self.fail(f"invalid operation: {op} on {_go_type(right)}", node.pos)
            return right
        if op == "??":
            return left if left is not None else self.run(node.right, element)
        right = self.run(node.right, element)
        outcome = self._apply(op, left, right, node.pos)
        return (not outcome) if node.negated else outcome

    def _apply(self, op: str, left: object, right: object, pos: int) -> object:
        if op in ("==", "!="):
            equal = _equal(left, right)
            if equal is None:
                raise self.fail(f"invalid operation: {op} (mismatched types {_go_type(left)} and "
                                f"{_go_type(right)})", pos)
            return equal if op == "==" else not equal
        if op in ("<", ">", "<=", ">="):
            if _is_number(left) and _is_number(right) or (isinstance(left, str) and isinstance(right, str)):
                a, b = left, right
                return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]  # type: ignore[operator]
            raise self.fail(f"invalid operation: {op} (mismatched types {_go_type(left)} and {_go_type(right)})",
                            pos)
        if op == "in":
            if isinstance(right, list):
                return any(_equal(left, item) for item in right)
            if isinstance(right, str) and isinstance(left, str):
                return left in right
            raise self.fail(f"invalid operation: in (mismatched types {_go_type(left)} and {_go_type(right)})", pos)
        if op in ("contains", "startsWith", "endsWith", "matches"):
            if not (isinstance(left, str) and isinstance(right, str)):
                raise self.fail(f"invalid operation: {op} (mismatched types {_go_type(left)} and "
                                f"{_go_type(right)})", pos)
            if op == "contains":
                return right in left
            if op == "startsWith":
                return left.startswith(right)
            if op == "endsWith":
                return left.endswith(right)
            raise UnsupportedCondition("'matches' (Go regular expressions)", self.text, pos)
        if op == "+" and isinstance(left, str) and isinstance(right, str):
            return left + right
        if op == "+" and isinstance(left, list) and isinstance(right, list):
            return left + right
        if not (_is_number(left) and _is_number(right)):
            raise self.fail(f"invalid operation: {op} (mismatched types {_go_type(left)} and {_go_type(right)})", pos)
        a, b = float(left), float(right)  # type: ignore[arg-type]
        both_int = isinstance(left, int) and isinstance(right, int)
        if op == "+":
            return left + right if both_int else a + b  # type: ignore[operator]
        if op == "-":
            return left - right if both_int else a - b  # type: ignore[operator]
        if op == "*":
            return left * right if both_int else a * b  # type: ignore[operator]
        if op == "/":
            return _divide(a, b)
        if op == "%":
            if not both_int:
                raise self.fail("invalid operation: % on floats", pos)
            if right == 0:
                raise self.fail("integer divide by zero", pos)
            return int(math.fmod(int(left), int(right)))  # type: ignore[call-overload]  # Go truncates
        try:
            return math.pow(a, b)
        except (OverflowError, ValueError):
            return math.inf if a > 0 else math.nan

    def call(self, node: _Call, element: object) -> object:
        name = node.name
        if name in _PREDICATES:
            array = self.run(node.args[0], element)
            closure = node.args[1]
            assert isinstance(closure, _Closure)
            if not isinstance(array, list):
                raise self.fail(f"builtin {name} takes only array (got {_go_type(array)})", node.pos)
            verdicts = []
            for item in array:
                verdict = self.run(closure.body, item)
                if not isinstance(verdict, bool):
                    raise self.fail(f"predicate should return boolean (got {_go_type(verdict)})", closure.pos)
                verdicts.append(verdict)
            return {"all": all(verdicts), "any": any(verdicts), "none": not any(verdicts),
                    "one": sum(verdicts) == 1, "count": sum(verdicts)}[name]
        args = [self.run(arg, element) for arg in node.args]
        if name == "default":
            return args[1] if self.result is None else args[0]
        if name == "isNil":
            return args[0] is None
        if name in ("isNaN", "isInf"):
            value = args[0]
            if not _is_number(value):
                raise self.fail(f"cannot use {_go_type(value)} as argument (type float64) to call {name}", node.pos)
            number = float(value)  # type: ignore[arg-type]
            return math.isnan(number) if name == "isNaN" else math.isinf(number)
        if name in ("asInt", "asFloat", "int", "float"):
            return self._convert(name, args[0], node.pos)
        if name == "len":
            value = args[0]
            if not isinstance(value, (list, str)):
                raise self.fail(f"invalid argument for len (type {_go_type(value)})", node.pos)
            return len(value)
        if name == "abs":
            if not _is_number(args[0]):
                raise self.fail(f"invalid argument for abs (type {_go_type(args[0])})", node.pos)
            return abs(args[0])  # type: ignore[arg-type]
        values = args[0] if len(args) == 1 and isinstance(args[0], list) else args
        if not isinstance(values, list) or not all(_is_number(v) for v in values):
            raise self.fail(f"invalid argument for {name}", node.pos)
        numbers = [float(v) for v in values if isinstance(v, (int, float))]
        if name == "sum":
            return float(math.fsum(numbers))
        if not numbers:
            if name == "mean":
                return 0.0
            raise self.fail(f"{name} of an empty array", node.pos)
        if name == "mean":
            return math.fsum(numbers) / len(numbers)
        if name == "first":
            return numbers[0]
        if name == "last":
            return numbers[-1]
        if name == "min":
            return math.nan if any(math.isnan(v) for v in numbers) else min(numbers)
        return math.nan if any(math.isnan(v) for v in numbers) else max(numbers)

    def _convert(self, name: str, value: object, pos: int) -> object:
        if isinstance(value, bool) or value is None or isinstance(value, list):
            raise self.fail(f"{name}: cannot convert {_go_type(value)}", pos)
        if isinstance(value, str):
            try:
                number = float(value.strip()) if name in ("asFloat", "float") else int(value.strip(), 10)
            except ValueError:
                raise self.fail(f"{name}: cannot parse {value!r}", pos) from None
            return number
        assert isinstance(value, (int, float))
        if name in ("asFloat", "float"):
            return float(value)
        if isinstance(value, float) and not math.isfinite(value):
            return -(2 ** 63)  # Go's int64 conversion of NaN or an infinity on amd64
        return int(value)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _equal(left: object, right: object) -> Optional[bool]:
    if _is_number(left) and _is_number(right):
        return float(left) == float(right)  # type: ignore[arg-type]
    if left is None or right is None:
        return left is right
    if type(left) is type(right):
        return left == right
    return None


def _divide(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _go_type(value: object) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "[]float64"
    return type(value).__name__


# -- the public API --------------------------------------------------------------------------

@dataclass(frozen=True)
class Condition:
    """A parsed condition: its text and tree (see :func:`parse_condition`)."""

    text: str
    tree: _Node

    def check(self, kind: str) -> None:
        """Raise :class:`ConditionTypeError` if expr's checker rejects this condition for ``result`` of ``kind``."""
        _check_cached(self.text, kind)

    def evaluate(self, result: ResultValue) -> bool:
        """Whether the condition holds for ``result``; :class:`ConditionError` when Argo's evaluation fails."""
        self.check(result_kind(result))
        output = _Runner(self.text, result).run(self.tree)
        if not isinstance(output, bool):
            raise ConditionRuntimeError(f"expected bool, but got {_go_type(output)}", self.text, 0)
        return output


@functools.lru_cache(maxsize=4096)
def parse_condition(text: str) -> Condition:
    """The condition ``text`` parsed; :class:`ConditionSyntaxError` or :class:`UnsupportedCondition` otherwise."""
    if not isinstance(text, str):
        raise ConditionSyntaxError(f"a condition is text, got {text!r}", str(text), 0)
    return Condition(text, _Parser(text).parse())


@functools.lru_cache(maxsize=4096)
def _check_cached(text: str, kind: str) -> None:
    condition = parse_condition(text)
    _Checker(text, kind).type(condition.tree)


def check_condition(text: str, kind: str) -> None:
    """Parse ``text`` and type-check it for ``result`` of ``kind`` (``float``, ``floats`` or ``nil``)."""
    parse_condition(text).check(kind)


def evaluate_condition(text: str, result: ResultValue) -> bool:
    """Evaluate the condition ``text`` on ``result`` as Argo does; :class:`ConditionError` when it errs."""
    return parse_condition(text).evaluate(result)


def names_used(text: str) -> list[str]:
    """The names a condition reads (``result``, ``args``...), functions excluded, in order of appearance."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, _Name) and node.name not in found:
            found.append(node.name)
        for child in _children(node):
            walk(child)

    walk(parse_condition(text).tree)
    return found


def _children(node: object) -> list[object]:
    if isinstance(node, _Member):
        return [node.obj]
    if isinstance(node, _Index):
        return [node.obj, node.index]
    if isinstance(node, _Call):
        return list(node.args)
    if isinstance(node, _Closure):
        return [node.body]
    if isinstance(node, _Unary):
        return [node.operand]
    if isinstance(node, _Binary):
        return [node.left, node.right]
    if isinstance(node, _Ternary):
        return [node.cond, node.then, node.other]
    return []


def _tree_depth(node: object) -> int:
    """The depth of the tree under ``node``, without recursion."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in _children(current))
    return deepest


def _reads_value(node: object) -> bool:
    """Whether ``node`` reads a value of ``result`` (``result[0]``, ``result``, ``asFloat(result)``), not its length."""
    if isinstance(node, _Name):
        return node.name == "result"
    if isinstance(node, _Call) and node.name in ("len", "isNil", "isNaN", "isInf"):
        return False
    return any(_reads_value(child) for child in _children(node))


def threshold_literals(text: str) -> list[tuple[int, int, float]]:
    """The number literals a condition compares a value of ``result`` with: ``(start, end, value)`` each.

    ``len(result) == 0 || result[0] >= 0.95`` has one, ``0.95``: a length guard is not a threshold.
    """
    found: list[tuple[int, int, float]] = []

    def walk(node: object) -> None:
        if isinstance(node, _Binary) and node.op in ("<", ">", "<=", ">=", "==", "!="):
            for mine, other in ((node.left, node.right), (node.right, node.left)):
                literal = mine.operand if isinstance(mine, _Unary) and mine.op == "-" else mine
                if isinstance(literal, _Literal) and _is_number(literal.value) and _reads_value(other):
                    start = mine.pos
                    value = float(literal.value)  # type: ignore[arg-type]
                    found.append((start, literal.end, -value if literal is not mine else value))
        for child in _children(node):
            walk(child)

    walk(parse_condition(text).tree)
    return sorted(found)


def with_threshold(text: str, value: float) -> str:
    """``text`` with its one threshold literal (see :func:`threshold_literals`) replaced by ``value``."""
    literals = threshold_literals(text)
    if len(literals) != 1:
        raise UsageError(f"condition {text!r} has {len(literals)} thresholds, not one: write the condition instead")
    start, end, old = literals[0]
    if value == old:   # the text as written: '1.0' stays '1.0'
        return text
    written = _format_number(value)
    if re.fullmatch(r"-?\d+", written) and re.fullmatch(r"-?\s*\d*\.\d*", text[start:end]):
        written += ".0"   # a whole number in the decimal form the condition wrote
    return f"{text[:start]}{written}{text[end:]}"


def _format_number(value: float) -> str:
    if math.isfinite(value) and float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))
