"""A runner for Prometheus's own PromQL test files (``promql/promqltest/testdata/*.test``).

It reads the scripts the way ``promql/promqltest/test.go`` does (``load <interval>`` blocks
in series notation, ``clear``, ``eval instant at <time> <expr>`` with the expected
samples, ``eval_fail``/``eval_ordered``/``eval_warn``/``eval_info`` and the newer
``expect`` lines), evaluates every instant case whose expression rampsim can evaluate with
:mod:`rampsim.promql` in the semantics of the file's version, and compares the result
with Prometheus's tolerance (``almost.Equal``, relative 1e-6). Cases outside the subset
are counted by reason, never dropped silently. ``eval range`` cases run too, through
:func:`rampsim.promql.evaluate_range`, and are counted apart from the instant ones.
"""
from __future__ import annotations

import ast
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import promql_parser

from rampsim.promql import QueryError, SeriesStore, UnsupportedQuery, as_semantics, evaluate, evaluate_range
from rampsim.promql.histogram import almost_equal
from rampsim.promql.parse import mark_modifiers, parse, selectors
from rampsim.promql.store import matches

TESTS_ROOT = Path(__file__).resolve().parents[2] / "shared" / "promql-tests"
EPSILON = 1e-6

# Versions and the semantics their files are evaluated with (each directory's own version;
# v2.* are 2.x semantics, v3.0.0 and main (3.14) 3.x).
VERSIONS = {"v2.42.0": "2.42", "v2.48.1": "2.48", "v2.55.1": "2.55", "v3.0.0": "3.0", "main": "3.14"}

STALE = "stale"
HIST = "histogram"


# ---------------------------------------------------------------- series notation

_DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
_UNITS_MS = [365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000, 1]


def parse_duration_ms(text: str) -> int:
    """Prometheus's ``model.ParseDuration`` in milliseconds."""
    text = text.strip()
    if text == "0":
        return 0
    m = _DURATION.match(text)
    if not m or not text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(int(g) * unit for g, unit in zip(m.groups(), _UNITS_MS) if g)


_NUM = r"(?:[+-]?(?:Inf|inf|NaN|nan|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?))"
_ITEM = re.compile(rf"^(?P<v>{_NUM}|stale)(?:(?P<inc>[+-](?:Inf|inf|NaN|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?))?x(?P<n>\d+))?$")
_BLANK = re.compile(r"^_(?:x(?P<n>\d+))?$")


def _number(text: str) -> float:
    t = text.lower().lstrip("+")
    if t in ("inf", "-inf", "nan", "-nan"):
        return float(t)
    return float(text)


def _quoted(text: str, i: int) -> tuple[str, int]:
    """A Go string literal starting at ``text[i]``: its value and the index after it."""
    quote = text[i]
    j = i + 1
    while j < len(text):
        if text[j] == "\\" and quote != "`":
            j += 2
            continue
        if text[j] == quote:
            break
        j += 1
    raw = text[i:j + 1]
    if quote == "`":
        return raw[1:-1], j + 1
    if quote == "'":
        raw = '"' + raw[1:-1].replace('"', '\\"') + '"'
    return ast.literal_eval(raw), j + 1


def parse_metric(text: str) -> tuple[dict[str, str], str]:
    """``name{label="value", ...}`` at the start of ``text``: the labels and the rest of the line."""
    i = 0
    labels: dict[str, str] = {}
    m = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:.]*", text)
    if m:
        labels["__name__"] = m.group(0)
        i = m.end()
    if i < len(text) and text[i] == "{":
        i += 1
        while True:
            while i < len(text) and text[i] in " \t,":
                i += 1
            if text[i] == "}":
                i += 1
                break
            if text[i] in "\"'`":
                name, i = _quoted(text, i)
            else:
                m = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*").match(text, i)
                if not m:
                    raise ValueError(f"bad label in {text!r}")
                name, i = m.group(0), m.end()
            while text[i] in " \t":
                i += 1
            if text[i] != "=":          # a quoted metric name: {"my.metric", ...}
                labels["__name__"] = name
                continue
            i += 1
            while text[i] in " \t":
                i += 1
            value, i = _quoted(text, i)
            labels[name] = value
    return {k: v for k, v in labels.items() if v != ""}, text[i:]


def _split_items(text: str) -> list[str]:
    items: list[str] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        j = i
        depth = 0
        while j < len(text) and (depth > 0 or not text[j].isspace()):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
            j += 1
        items.append(text[i:j])
        i = j
    return items


def parse_values(text: str) -> list[object]:
    """The expanded sample sequence of series notation: floats, None (``_``), STALE or HIST."""
    out: list[object] = []
    for item in _split_items(text):
        if item.startswith("{{"):
            m = re.search(r"x(\d+)$", item)
            out.extend([HIST] * ((int(m.group(1)) + 1) if m and item.endswith("x" + m.group(1)) and "}}x" in item
                                 else 1))
            continue
        m = _BLANK.match(item)
        if m:
            out.extend([None] * (int(m.group("n")) if m.group("n") else 1))
            continue
        m = _ITEM.match(item)
        if not m:
            raise ValueError(f"bad series item {item!r}")
        if m.group("v") == "stale":
            value: object = STALE
            out.extend([value] * ((int(m.group("n")) + 1) if m.group("n") else 1))
            continue
        v = _number(m.group("v"))
        if m.group("n") is None:
            out.append(v)
            continue
        inc = _number(m.group("inc")) if m.group("inc") else 0.0
        for _ in range(int(m.group("n")) + 1):
            out.append(v)
            v += inc
    return out


def parse_number(text: str) -> Optional[float]:
    try:
        return _number(text.strip())
    except ValueError:
        return None


# ---------------------------------------------------------------- test scripts

@dataclass
class Load:
    interval_ms: int
    series: list[tuple[dict[str, str], list[object]]]
    with_nhcb: bool = False


@dataclass
class Clear:
    pass


@dataclass
class Eval:
    line: int
    expr: str
    kind: str                        # "instant" or "range"
    time_ms: int = 0
    start_ms: int = 0
    end_ms: int = 0
    step_ms: int = 0
    modifier: str = ""               # "", "fail", "ordered", "warn", "info"
    expect_fail: bool = False
    ordered: bool = False
    scalar: Optional[float] = None
    samples: list[tuple[dict[str, str], list[object]]] = field(default_factory=list)
    unsupported_expectation: str = ""


_EVAL_INSTANT = re.compile(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(.+?))?\s+(.+)$")
_EVAL_RANGE = re.compile(r"^eval(?:_(fail|warn|info))?\s+range\s+from\s+(.+)\s+to\s+(.+)\s+step\s+(.+?)\s+(.+)$")
_LOAD = re.compile(r"^load(?:_(with_nhcb))?\s+(.+?)$")


def parse_script(text: str) -> list[object]:
    lines = [("" if ln.strip().startswith("#") else ln.strip()) for ln in text.split("\n")]
    cmds: list[object] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line:
            i += 1
            continue
        word = line.split()[0].lower()
        if word == "clear":
            cmds.append(Clear())
            i += 1
        elif word.startswith("load"):
            m = _LOAD.match(line)
            assert m, line
            load = Load(parse_duration_ms(m.group(2)), [], with_nhcb=bool(m.group(1)))
            i += 1
            while i < len(lines) and lines[i]:
                if "@st " in lines[i] or lines[i].startswith("@st"):
                    raise ValueError("start timestamps")
                labels, rest = parse_metric(lines[i])
                load.series.append((labels, parse_values(rest)))
                i += 1
            cmds.append(load)
        elif word.startswith("eval"):
            start = i
            m = _EVAL_INSTANT.match(line)
            if m:
                ev = Eval(start + 1, m.group(3), "instant",
                          time_ms=parse_duration_ms(m.group(2)) if m.group(2) else 0, modifier=m.group(1) or "")
            else:
                mr = _EVAL_RANGE.match(line)
                assert mr, line
                ev = Eval(start + 1, mr.group(5), "range", modifier=mr.group(1) or "",
                          start_ms=parse_duration_ms(mr.group(2)), end_ms=parse_duration_ms(mr.group(3)),
                          step_ms=parse_duration_ms(mr.group(4)))
            ev.expect_fail = ev.modifier == "fail"
            ev.ordered = ev.modifier == "ordered"
            i += 1
            while i < len(lines) and lines[i]:
                body = lines[i]
                i += 1
                if body.startswith("expected_fail_message") or body.startswith("expected_fail_regexp"):
                    continue
                if body.startswith("expect range vector"):
                    ev.unsupported_expectation = "range-vector result"
                    continue
                if body.startswith("expect string"):
                    ev.unsupported_expectation = "string result"
                    continue
                if body.split(" ")[0] == "expect":
                    kind = body.split()[1]
                    if kind == "fail":
                        ev.expect_fail = True
                    elif kind == "ordered":
                        ev.ordered = True
                    continue
                number = parse_number(body)
                if number is not None and not re.match(r"^[a-zA-Z_{]", body.strip().lstrip("+-")) or \
                        (number is not None and body.strip().lower().lstrip("+-") in ("inf", "nan")):
                    ev.scalar = number
                    continue
                labels, rest = parse_metric(body)
                ev.samples.append((labels, parse_values(rest)))
            cmds.append(ev)
        else:
            raise ValueError(f"line {i + 1}: unknown command {line!r}")
    return cmds


# ---------------------------------------------------------------- running

@dataclass
class Outcome:
    file: str
    line: int
    expr: str
    status: str          # "passed", "failed", "xfailed", "out"
    reason: str = ""
    kind: str = "instant"


def _parser_reason(expr: str) -> str:
    if re.search(r"[<>]/", expr):
        return "histogram trim operator </ or >/ (not parsed by promql-parser)"
    if re.search(r"\[[^\]]*(?:[+*/()%]|step\(|\b-)[^\]]*\]", expr) or re.search(r"offset\s*\(", expr) \
            or re.search(r"\bstep\(\)|\brange\(\)", expr):
        return "duration expression (not parsed by promql-parser)"
    return "not parsed by promql-parser"


def classify(expr: str) -> Optional[str]:
    """Why ``expr`` is outside the subset, or None.

    A query promql-parser cannot parse (after rampsim's ``anchored``/``smoothed`` pre-pass)
    is out of the subset; one Prometheus's grammar rejects too (a modifier on a subquery,
    say) is in it: the evaluation fails as the test expects."""
    try:
        marked = mark_modifiers(expr)
    except UnsupportedQuery as exc:
        return exc.construct
    except QueryError:
        return None
    try:
        promql_parser.parse(marked)
    except Exception:  # noqa: BLE001 - the Rust parser raises plain errors
        return _parser_reason(expr)
    try:
        parse(expr)
    except UnsupportedQuery as exc:
        return exc.construct
    except QueryError as exc:
        return f"parse: {exc}"
    return None


class Runner:
    """Runs one test file with one semantics."""

    def __init__(self, semantics: str, xfails: dict[int, str] | None = None) -> None:
        self.semantics = as_semantics(semantics)
        self.xfails = xfails or {}
        self.store = SeriesStore()
        self.histogram_series: list[dict[str, str]] = []
        self.typed_series: list[dict[str, str]] = []

    def load(self, cmd: Load) -> None:
        for labels, values in cmd.series:
            times, vals, stale = [], [], []
            has_hist = False
            for k, v in enumerate(values):
                if v is None:
                    continue
                if v == HIST:
                    has_hist = True
                    continue
                times.append(k * cmd.interval_ms)
                if v == STALE:
                    vals.append(math.nan)
                    stale.append(True)
                else:
                    vals.append(float(v))  # type: ignore[arg-type]
                    stale.append(False)
            if has_hist:
                self.histogram_series.append(labels)
            if "__type__" in labels or "__unit__" in labels:
                self.typed_series.append(labels)
            if times or not has_hist:
                self.store.add_ms(labels, times, vals, stale)
            if cmd.with_nhcb:
                name = labels.get("__name__", "")
                for suffix in ("_bucket", "_count", "_sum"):
                    if name.endswith(suffix):
                        base = {k: v for k, v in labels.items() if k != "le"}
                        base["__name__"] = name[: -len(suffix)]
                        self.histogram_series.append(base)

    def _touches(self, expr: str, series: list[dict[str, str]]) -> bool:
        dotall = self.semantics.regex_dotall
        try:
            tree = parse(expr)
        except QueryError:          # the evaluation fails alike
            return False
        for sel in selectors(tree):
            for labels in series:
                if all(matches(labels, m, dotall) for m in sel.matchers):
                    return True
        return False

    def run(self, file: str, cmds: list[object]) -> list[Outcome]:
        out: list[Outcome] = []
        for cmd in cmds:
            if isinstance(cmd, Clear):
                self.store = SeriesStore()
                self.histogram_series = []
                self.typed_series = []
            elif isinstance(cmd, Load):
                self.load(cmd)
            elif isinstance(cmd, Eval):
                out.append(self.eval(file, cmd))
        return out

    def eval(self, file: str, ev: Eval) -> Outcome:
        def outcome(status: str, reason: str = "") -> Outcome:
            return Outcome(file, ev.line, ev.expr, status, reason, ev.kind)

        reason = classify(ev.expr)
        if reason is None and ev.unsupported_expectation:
            reason = ev.unsupported_expectation
        if reason is None and self._touches(ev.expr, self.histogram_series):
            reason = "native histograms"
        if reason is None and self._touches(ev.expr, self.typed_series):
            reason = "__type__/__unit__ labels (experimental type-and-unit-labels feature)"
        if reason is not None:
            return outcome("out", reason)
        failure = self._check(ev)
        if ev.line in self.xfails:
            if failure is None:
                return outcome("failed", f"expected to diverge ({self.xfails[ev.line]}) but passed")
            return outcome("xfailed", self.xfails[ev.line])
        return outcome("passed") if failure is None else outcome("failed", failure)

    def _check(self, ev: Eval) -> Optional[str]:
        if ev.kind == "range":
            return self._check_range(ev)
        try:
            result = evaluate(ev.expr, self.store, ev.time_ms / 1000.0, semantics=self.semantics)
        except UnsupportedQuery as exc:
            return f"refused at evaluation: {exc}"
        except QueryError as exc:
            return None if ev.expect_fail else f"unexpected error: {exc}"
        if ev.expect_fail:
            return f"expected an error, got {result.to_api_json()}"
        if ev.scalar is not None:
            if result.result_type != "scalar":
                return f"expected scalar {ev.scalar}, got {result.to_api_json()}"
            assert result.scalar is not None
            if not almost_equal(ev.scalar, result.scalar, EPSILON):
                return f"expected scalar {ev.scalar}, got {result.scalar}"
            return None
        if result.result_type != "vector":
            return f"expected a vector, got {result.to_api_json()}"
        expected = {tuple(sorted(labels.items())): (pos, vals[0]) for pos, (labels, vals) in enumerate(ev.samples)}
        seen = set()
        for pos, sample in enumerate(result.vector):
            key = tuple(sorted(sample.labels.items()))
            if key not in expected:
                return f"unexpected sample {dict(sample.labels)} {sample.value} (expected {self._fmt(ev)})"
            exp_pos, exp_value = expected[key]
            if ev.ordered and exp_pos != pos:
                return f"sample {dict(sample.labels)} at position {pos}, expected {exp_pos}"
            if not isinstance(exp_value, float) or not almost_equal(exp_value, sample.value, EPSILON):
                return f"{dict(sample.labels)}: expected {exp_value}, got {sample.value}"
            seen.add(key)
        missing = [dict(k) for k in expected if k not in seen]
        if missing:
            return f"missing samples {missing}; got {[(dict(s.labels), s.value) for s in result.vector]}"
        return None

    def _check_range(self, ev: Eval) -> Optional[str]:
        import numpy as np

        times = np.arange(ev.start_ms, ev.end_ms + 1, ev.step_ms) / 1000.0
        try:
            result = evaluate_range(ev.expr, self.store, times, semantics=self.semantics)
        except UnsupportedQuery as exc:
            return f"refused at evaluation: {exc}"
        except QueryError as exc:
            return None if ev.expect_fail else f"unexpected error: {exc}"
        if ev.expect_fail:
            return "expected an error, got a result"
        expected: dict[tuple[tuple[str, str], ...], list[object]] = {}
        if ev.scalar is not None:
            expected[()] = [ev.scalar]
        for labels, vals in ev.samples:
            expected[tuple(sorted(labels.items()))] = vals
        got = {tuple(sorted(s.labels.items())): s for s in result.series}
        for key, series in got.items():
            if key not in expected:
                return f"unexpected series {dict(key)}"
            want = [(ev.start_ms + k * ev.step_ms, v) for k, v in enumerate(expected[key])
                    if v is not None and v != HIST]
            have = [(int(round(t * 1000)), float(v)) for t, v in zip(series.times, series.values)]
            if len(want) != len(have):
                return f"{dict(key)}: expected {want}, got {have}"
            for (tw, vw), (th, vh) in zip(want, have):
                if tw != th or not isinstance(vw, float) or not almost_equal(vw, vh, EPSILON):
                    return f"{dict(key)}: expected {want}, got {have}"
        missing = [dict(k) for k in expected if k not in got]
        if missing:
            return f"missing series {missing}"
        return None

    @staticmethod
    def _fmt(ev: Eval) -> str:
        return ", ".join(f"{labels} {vals[0]}" for labels, vals in ev.samples) or "empty"


def run_file(path: Path, semantics: str, xfails: dict[int, str] | None = None) -> list[Outcome]:
    """Every case of one ``.test`` file; a file this runner cannot read is one out-of-subset outcome."""
    try:
        cmds = parse_script(path.read_text())
    except ValueError as exc:
        return [Outcome(path.name, 0, "", "out", f"test file not read: {exc}")]
    return Runner(semantics, xfails).run(path.name, cmds)


def summarize(outcomes: list[Outcome]) -> Counter[str]:
    return Counter(o.status for o in outcomes)
