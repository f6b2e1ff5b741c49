"""Go durations as Argo Rollouts and Flagger read them (``time.ParseDuration``), and back.

``30s``, ``1m``, ``1m30s``, ``500ms``, ``1.5h``: a sequence of decimal numbers each with a unit
(``ns``, ``us``, ``µs``, ``ms``, ``s``, ``m``, ``h``); ``0`` alone is zero. Argo's pause
``duration`` is an int-or-string: a bare number (or a string of digits) is seconds. Digits are
ASCII, as Go reads them (``'３0s'`` is refused, saying so). Nothing here evaluates user text.
"""
from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Optional

from rampsim.errors import UsageError
from rampsim.units import UnitError, ascii_digits

__all__ = ["GoDurationError", "parse_go_duration", "parse_pause_duration", "format_go_duration"]

_UNITS = {"ns": Decimal("1e-9"), "us": Decimal("1e-6"), "µs": Decimal("1e-6"), "μs": Decimal("1e-6"),
          "ms": Decimal("0.001"), "s": Decimal(1), "m": Decimal(60), "h": Decimal(3600)}
_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_WHOLE_SECONDS = re.compile(r"[+-]?[0-9]+")
_WHOLE = re.compile(r"^[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+$")


class GoDurationError(UsageError):
    """A duration Go's ``time.ParseDuration`` refuses."""


def _ascii_digits(text: str) -> None:
    """:class:`GoDurationError` for ``text`` written with a digit other than ASCII (Python reads ``'３'`` as 3)."""
    try:
        ascii_digits(text)
    except UnitError as exc:
        raise GoDurationError(str(exc)) from None


def parse_go_duration(text: object) -> float:
    """Seconds in a Go duration string; :class:`GoDurationError` saying what was expected otherwise."""
    if not isinstance(text, str):
        raise GoDurationError(f"expected a duration such as '30s' or '1m', got {text!r}")
    _ascii_digits(text)
    value = text
    if value != value.strip():
        raise GoDurationError(f"{text!r} has spaces around it, which Go's time.ParseDuration refuses: write "
                              f"{value.strip()!r}")
    if value in ("0", "+0", "-0"):
        return 0.0
    if not _WHOLE.match(value):
        hint = " (Go durations need a unit: '30s', not '30')" if re.fullmatch(r"[0-9]+(\.[0-9]+)?", value) else ""
        raise GoDurationError(f"cannot read {text!r} as a duration such as '30s', '1m' or '1m30s'{hint}")
    sign = -1 if value.startswith("-") else 1
    try:
        total = sum((Decimal(number) * _UNITS[unit] for number, unit in _PART.findall(value)), Decimal(0))
    except InvalidOperation:
        raise GoDurationError(f"cannot read {text!r} as a duration") from None
    seconds = float(total) * sign
    if not math.isfinite(seconds):
        raise GoDurationError(f"{text!r} is too long")
    return seconds


def parse_pause_duration(value: object) -> float:
    """Seconds of an Argo pause ``duration``, read as ``RolloutPause.DurationSeconds`` reads it: a 32-bit whole
    number (seconds), a string ``strconv.ParseInt`` reads as one (``'30'``, ``'+30'``), or a Go duration truncated
    to whole seconds (``int32(d.Seconds())``: ``'1.5s'`` pauses 1 s, ``'1ms'`` 0 s)."""
    if isinstance(value, bool):
        raise GoDurationError(f"expected a duration such as 30 (seconds) or '1m', got {value!r}")
    if isinstance(value, str):
        _ascii_digits(value)
    shown = ("a number of more than 20 digits" if isinstance(value, int) and not -10 ** 20 < value < 10 ** 20
             else repr(value) if len(str(value)) <= 20 else f"{str(value)[:20]!r}...")   # str() of 5,000 digits fails
    number: Optional[int] = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _WHOLE_SECONDS.fullmatch(value):
        digits = value.lstrip("+-").lstrip("0") or "0"
        if len(digits) > 10:   # before int(), which refuses 4,300 digits
            raise GoDurationError(f"{shown} is beyond a 32-bit whole number of seconds")
        number = -int(digits) if value.startswith("-") else int(digits)
    if number is not None:
        if not -2 ** 31 <= number < 2 ** 31:   # ParseInt(s, 10, 32) fails, and so does ParseDuration: an invalid pause
            raise GoDurationError(f"{shown} is beyond a 32-bit whole number of seconds")
        if number < 0:
            raise GoDurationError(f"a pause cannot be negative, got {shown}")
        return float(number)
    seconds = math.trunc(parse_go_duration(value))   # int32(d.Seconds()): '-0.5s' is a pause of 0 s
    if seconds < 0:
        raise GoDurationError(f"a pause cannot be negative, got {shown}")
    if seconds >= 2 ** 31:
        raise GoDurationError(f"{shown} is beyond a 32-bit whole number of seconds")
    return float(seconds)


def format_go_duration(seconds: float) -> str:
    """The shortest Go duration string for ``seconds`` (``90`` → ``1m30s``, ``0.25`` → ``250ms``)."""
    if seconds == 0:
        return "0s"
    if seconds < 0:
        return "-" + format_go_duration(-seconds)
    millis = round(seconds * 1000)
    if abs(millis - seconds * 1000) > 1e-6 or millis % 1000:
        whole, rest = divmod(millis, 1000)
        if whole == 0:
            return f"{millis}ms"
        return f"{format_go_duration(float(whole))}{rest}ms" if rest else format_go_duration(float(whole))
    total = millis // 1000
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return parts
