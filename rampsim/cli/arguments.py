"""Argument types for the command line: each checks its value when argparse reads it.

A number that would disable a rule or hang a command (``nan``, ``inf``, a negative
seed, a port out of range, a confidence of 0 %) is refused here, with exit 2 and
a message naming the option, before any work starts.
"""
from __future__ import annotations

import argparse
import math
import os
import re
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from rampsim import units
from rampsim.errors import UsageError
from rampsim.prod.instants import EARLIEST, LATEST, format_instant, parse_instant
from rampsim.prod.source import MAX_ATTEMPTS

__all__ = ["given", "prometheus_url", "recording", "file_name", "output_file", "directory", "seconds", "duration",
           "count", "seed", "port", "replicates", "workers", "percent", "open_percent", "instant",
           "add_prometheus_options", "help_text", "Parser"]


def help_text(docstring: str) -> str:
    """A command module's docstring as ``--help`` prints it: without its title line, in plain text
    (reStructuredText's literals, roles and table rules removed)."""
    body = docstring.split("\n\n", 1)[1]
    body = re.sub(r":[a-z]+:`([^`]+)`", r"\1", body)
    body = body.replace("``", "")
    return "\n".join(line for line in body.splitlines() if not re.fullmatch(r"[= ]*=[= ]*", line)).strip()


def given(what: str) -> Callable[[str], str]:
    """Text that is not empty: an empty ``--prometheus ''`` or ``--replay ''`` read as not given (a traceback)."""

    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError(f"empty: give {what}")
        return text

    return parse


prometheus_url = given("Prometheus's base URL, e.g. http://prometheus:9090")
recording = given("a recording's file name")
file_name = given("a file name")
output_file = given("a file name (- for standard output)")
_named_directory = given("a directory (. for this one)")


def directory(text: str) -> Path:
    """An output directory named: an empty one (an unset shell variable) wrote every output into the working one."""
    return Path(_named_directory(text))


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def seconds(low: float = 0.0, high: float = 86_400.0, *, allow_zero: bool = False) -> Callable[[str], float]:
    """A finite number of seconds in (low, high] (or [low, high] with ``allow_zero``)."""

    def parse(text: str) -> float:
        value = _number(text)
        if value < low or (value == low and not allow_zero) or value > high:
            bracket = "[" if allow_zero else "("
            raise argparse.ArgumentTypeError(f"{text!r} seconds is outside {bracket}{low:g}, {high:g}]")
        return value

    return parse


def count(low: int = 1, high: int = 10**9) -> Callable[[str], int]:
    """A whole number in [low, high]."""

    def parse(text: str) -> int:
        from rampsim.units import UnitError, count as whole_number_in

        try:
            value = whole_number_in(text)   # ASCII digits: int() reads '６' as 6
        except UnitError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is outside [{low}, {high}]")
        return value

    return parse


def duration(high: float) -> Callable[[str], float]:
    """A positive duration with its unit (``5m``, ``90s``) of at most ``high`` seconds."""

    def parse(text: str) -> float:
        try:
            return units.quantity(text, units.Kind.DURATION, low=0.0, high=high, allow_low=False)
        except ValueError as exc:  # units.quantity's message says what was expected
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


seed = count(0, 2**63 - 1)
"""A seed: a whole number from 0 (numpy's ``SeedSequence`` refuses negative entropy)."""

port = count(0, 65_535)
"""A TCP port (0 lets the system choose)."""

replicates = count(1, 1_000_000)
"""A number of simulated ramps."""

workers = count(1, 1_024)
"""A number of local worker processes."""


def percent(text: str) -> float:
    """A share written as ``5%`` or ``0.05``, in [0, 1]."""
    try:
        return units.quantity(text, units.Kind.RATIO, low=0.0, high=1.0)
    except ValueError as exc:  # units.quantity's message says what was expected
        raise argparse.ArgumentTypeError(str(exc)) from None


def open_percent(text: str) -> float:
    """A share strictly between 0 and 100 % (a confidence, a quantile)."""
    value = percent(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} must be strictly between 0% and 100%")
    return value


def instant_seconds(text: str) -> float:
    """The unix time of a time :func:`parse_instant` reads, from 1970 to 9999; :class:`UsageError` otherwise."""
    seconds = parse_instant(text)
    if not EARLIEST <= seconds <= LATEST:
        shown = text if len(text) <= 40 else text[:40] + "..."
        raise UsageError(f"{shown!r} is outside {format_instant(EARLIEST)} .. {format_instant(LATEST)}")
    return seconds


def instant(text: str) -> str:
    """An argparse type: a time :func:`instant_seconds` reads; the text is kept ('now' moves)."""
    try:
        instant_seconds(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


class _Once(argparse._StoreAction):
    """An option that takes one value and refuses a second: ``--max-false-rollback 10% --max-false-rollback 99%``
    kept the 99% and dropped the 10% bound without a word (in CI, a gate loosened unnoticed). Exit 2, naming the
    option and both values as given."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._namespace: Optional[argparse.Namespace] = None   # the parse that gave it (held: its id stays unique)
        self._text = ""                                          # the value as given there
        self._last = ""
        convert = self.type
        if convert is not None and not isinstance(convert, str) and callable(convert):
            def read(text: str) -> object:
                self._last = text
                return convert(text)
            read.__name__ = getattr(convert, "__name__", repr(convert))   # argparse's messages name the type
            self.type = read

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: str | Sequence[Any] | None, option_string: Optional[str] = None) -> None:
        if self.type is not None:
            text = self._last
        elif isinstance(values, (list, tuple)):
            text = " ".join(map(str, values))
        else:   # an option given without its optional value holds its const: nothing was typed
            text = "" if values is None or (values == self.const and self.nargs == "?") else str(values)
        if self.option_strings and self._namespace is namespace:
            both = f" ({self._text!r}, then {text!r})" if self._text or text else ""
            raise argparse.ArgumentError(self, f"given twice{both}: give it once "
                                               "(a second value would silently replace the first)")
        self._namespace, self._text = namespace, text
        super().__call__(parser, namespace, values, option_string)


class Parser(argparse.ArgumentParser):
    """Every command's parser: a single-valued option (the default ``store`` action) given twice is refused, with
    exit 2 (``--max-false-rollback 10% --max-false-rollback 99%`` checked 99% alone); options meant to repeat
    (``action="append"``) and flags are untouched."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.register("action", None, _Once)
        self.register("action", "store", _Once)


def add_prometheus_options(parser: argparse.ArgumentParser) -> None:
    """The options of every command that reads Prometheus: naming, timeout, attempts, bearer token."""
    parser.add_argument("--naming", metavar="FILE", type=file_name, help="YAML naming (metrics, labels, matchers); "
                                                         "overrides the plan's prometheus: section")
    parser.add_argument("--timeout", type=seconds(), default=5.0,
                        help="seconds per Prometheus request, all of it: connection, headers and body (default 5)")
    parser.add_argument("--attempts", type=count(1, MAX_ATTEMPTS), default=3,
                        help=f"tries per request before giving up, 1 to {MAX_ATTEMPTS} (default 3)")
    parser.add_argument("--bearer-token-file", metavar="FILE", type=file_name,
                        help="send 'Authorization: Bearer <file content>'")


def _same_file(path: Path, target: Path) -> bool:
    """The same path, through links of either kind (a hard link is another name for the same file)."""
    if path.resolve() == target:
        return True
    try:
        return target.exists() and path.exists() and os.path.samefile(path, target)
    except OSError:
        return False


def unwritable(path: str | Path) -> Optional[str]:
    """Why the file ``path`` cannot be written (a directory, a missing directory, no permission), or ``None``."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        return "is a directory"
    if not folder.is_dir():
        return f"no directory {folder}"
    if not os.access(path if path.exists() else folder, os.W_OK):
        return "cannot write there"
    return None


def refuse_unwritable(option: str, output: Optional[str | Path]) -> None:
    """A :class:`UsageError` naming ``option`` when the file it would write cannot be written (``-`` is standard
    output): checked before the work, so minutes of it are not lost at the end."""
    if output is not None and str(output) != "-" and (problem := unwritable(output)):
        raise UsageError(f"{option} {output}: {problem}")


def refuse_overwriting(option: str, output: Optional[str | Path],
                       inputs: dict[str, Optional[str | Path] | Sequence[Optional[str | Path]]]) -> None:
    """A :class:`UsageError` when the file ``option`` would write is one of the command's ``inputs`` (by
    name, one path or several: ``{"--replay": path, "template": [path, ...]}``): writing it would destroy
    what is being read."""
    if output is None:
        return
    target = Path(output).resolve()
    for name, given in inputs.items():
        for path in [given] if given is None or isinstance(given, (str, Path)) else given:
            if path is not None and _same_file(Path(path), target):
                raise UsageError(f"{option} {output}: that is the {name} file this command reads; "
                                 "write to another file")
