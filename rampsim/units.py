"""Human units in plan files: ``15m``, ``0.5%``, ``200ms``, ``50MB/h``, ``$2,450/min``.

Every quantity is stored in one base unit (seconds, fractions, bytes, dollars) and
parsed from text that must carry its unit, so ``200`` for a latency or ``200 mins``
is an error that says what was expected, never a silent guess. Nothing here evaluates
user text: parsing is a regular expression and a lookup table.
"""
from __future__ import annotations

import enum
import math
import numbers
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Optional

import numpy as np
from pydantic import AllowInfNan, BeforeValidator, GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

from rampsim.errors import UsageError

__all__ = ["Kind", "UnitError", "parse", "quantity", "format_value", "parse_duration", "Unit", "UNIT_TYPES",
           "unitless", "Duration", "PositiveDuration", "Share", "PositiveRatio", "RelativeChange", "Rate", "Bytes",
           "PositiveBytes", "BytesPerHour", "Money", "MoneyPerMinute", "Number", "MAX_RATE", "count", "Count",
           "ascii_digits", "plain_number", "PlainNumber"]

MAX_RATE = 10_000_000.0
"""The highest request rate rampsim reads or simulates (requests per second)."""


class UnitError(UsageError):
    """A quantity whose number or unit cannot be read."""


class Kind(enum.Enum):
    """The dimension of a quantity, which decides the units it may be written in."""

    DURATION = "duration"
    RATIO = "ratio"
    BYTES = "bytes"
    BYTES_PER_HOUR = "bytes per hour"
    DOLLARS = "dollars"
    DOLLARS_PER_MINUTE = "dollars per minute"
    REQUESTS_PER_SECOND = "requests per second"
    NUMBER = "number"


# Unit factors are exact decimals: a quantity is computed exactly and rounded to a float once,
# so '99.96%' is the float nearest 0.9996 (not 99.96 / 100.0 = 0.9995999999999999).
_DURATION_UNITS = {"ms": Decimal("0.001"), "s": Decimal(1), "m": Decimal(60), "h": Decimal(3600), "d": Decimal(86400)}
_BYTE_UNITS = {
    "B": Decimal(1), "KB": Decimal(10**3), "MB": Decimal(10**6), "GB": Decimal(10**9), "TB": Decimal(10**12),
    "KiB": Decimal(2**10), "MiB": Decimal(2**20), "GiB": Decimal(2**30), "TiB": Decimal(2**40),
}
_PER_HOUR = {"h": Decimal(1), "hour": Decimal(1), "min": Decimal(60), "m": Decimal(60), "s": Decimal(3600)}
_PER_MINUTE = {"min": Decimal(1), "m": Decimal(1), "h": Decimal(1) / 60, "hour": Decimal(1) / 60, "s": Decimal(60)}
_PERCENT = Decimal(100)

# Digits are ASCII, [0-9]: \d matches any Unicode decimal digit (as float() and Decimal() read them), and a plan's
# '٠.٥%' or '３m' is refused (by ascii_digits, which says why), never read as 0.5% or 3m. 0,075: no thousands.
_NUMBER = r"[+-]?(?:[1-9][0-9]{0,2}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|[+-]?\.[0-9]+"
_NUMBER_RE = re.compile(rf"^\s*({_NUMBER})\s*$")
_QUANTITY_RE = re.compile(rf"^\s*(\$)?\s*({_NUMBER})\s*([A-Za-z%]*)\s*(?:/\s*([A-Za-z]+))?\s*$")
_DURATION_PART_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]+)")
_DURATION_RE = re.compile(r"^\s*(?:[0-9]+(?:\.[0-9]+)?\s*[A-Za-z]+\s*)+$")
_CLOCK_RE = re.compile(r"^\s*([0-9]+):([0-5][0-9])(?::([0-5][0-9]))?\s*$")

_EXAMPLES = {
    Kind.DURATION: "'15m', '90s', '1h30m', '250ms' or '01:20' (hh:mm)",
    Kind.RATIO: "a percentage such as '0.5%' or '99.95%', or a fraction such as 0.005",
    Kind.BYTES: "'512MB' or '2GiB'",
    Kind.BYTES_PER_HOUR: "'50MB/h'",
    Kind.DOLLARS: "'$2,450'",
    Kind.DOLLARS_PER_MINUTE: "'$2,450/min'",
    Kind.REQUESTS_PER_SECOND: "'1250/s' or '1,250 rps'",
    Kind.NUMBER: "a plain number such as 1.5",
}


def ascii_digits(text: str) -> None:
    """Refuse ``text`` written with a digit other than ASCII 0-9 (``'٠.٥%'``, ``'３m'``) with a :class:`UnitError`
    saying so: Python reads any Unicode digit as a number, a plan (and every tool after it) reads ASCII ones."""
    other = next((c for c in text if c.isdigit() and not c.isascii()), None)
    if other is not None:
        name = unicodedata.name(other, "").lower() or "a digit"
        raise UnitError(f"cannot read {text!r}: {other!r} ({name}) is not an ASCII digit; write the number with "
                        "ASCII digits 0-9")


def _number(text: str) -> Decimal:
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        raise UnitError(f"cannot read {text!r} as a number") from None


def _float(amount: Decimal, shown: str) -> float:
    """The float nearest ``amount``; a value too large for a float is an error, never infinity."""
    value = float(amount)
    if not math.isfinite(value):
        raise UnitError(f"{shown} is not a finite number (too large)")
    return value


def unitless(value: object) -> Optional[Decimal]:
    """The number ``value`` is, exactly, when it is written without a unit: a YAML number (``10``, ``10.0``,
    ``1e1``) or text that is one (``'10'``, ``'1e+1'``); ``None`` for anything else (a quantity with a unit, a
    boolean, a non-finite number, text that is no number)."""
    if _is_boolean(value):
        return None
    if isinstance(value, numbers.Integral):   # numpy's integers too (a notebook's override)
        return Decimal(int(value))
    if isinstance(value, numbers.Real):
        return Decimal(float(value)) if math.isfinite(value) else None
    if isinstance(value, str) and _NUMBER_RE.match(value):
        return _number(value.strip())
    return None


def _is_boolean(value: object) -> bool:
    """Python's or numpy's boolean (both count as 1 where a number is read)."""
    return isinstance(value, bool) or (type(value).__module__ == "numpy" and type(value).__name__ in ("bool", "bool_"))


def count(value: object) -> int:
    """``value`` as a count: a whole number written without a unit, as YAML reads it (``5``, ``5.0``) or as text
    (``'500,000'``, ``'1e3'``). A boolean (``true``, which Python calls 1), a fraction, a quantity with a unit
    (``'5%'``) or text that is no number is a :class:`UnitError` saying a whole number is expected."""
    number = unitless(value)
    if number is None and isinstance(value, str):
        ascii_digits(value)
    shown = repr(value) if len(repr(value)) < 40 else f"{repr(value)[:20]}..."
    if number is not None and number.copy_abs() >= 2**63:   # int() of '1e999999999' would build a billion digits
        raise UnitError(f"{shown} is too large for a count")
    if number is None or number != number.to_integral_value():
        raise UnitError(f"expected a whole number such as 5, got {'the boolean ' * _is_boolean(value)}{shown}")
    return int(number)


def plain_number(value: object) -> object:
    """``value`` checked as a number written without a unit, as a controller's file writes one (a threshold, a
    weight): a YAML or JSON number is returned as it is, text that is one (``'0.95'``, ``'1e3'``) as the float it
    is, and ``'inf'`` or ``'nan'`` as the float they spell (for the field to refuse as not finite). A boolean
    (``true``, which Python calls 1), a quantity with a unit (``'99%'``, never read as 0.99) or text that is no
    number (in digits other than ASCII: ``'９９'``) is a :class:`UnitError`."""
    if _is_boolean(value):
        raise UnitError(f"expected a number such as 1.5, got the boolean {value!r}")
    if not isinstance(value, str):
        return value
    ascii_digits(value)
    number = unitless(value)
    if number is not None:
        return float(number)
    try:
        spelled = float(value)
    except ValueError:
        spelled = 0.0
    if not math.isfinite(spelled):   # 'inf', 'NaN': the field's own check says it is not finite
        return spelled
    shown = repr(value) if len(repr(value)) < 40 else f"{repr(value)[:20]}..."
    raise UnitError(f"expected a number such as 1.5, without a unit, got {shown}")


def parse_duration(value: object) -> float:
    """Seconds in ``value``: ``'15m'``, ``'1h30m'``, ``'250ms'``, ``'01:20'`` (hh:mm)."""
    return parse(value, Kind.DURATION)


def parse(value: object, kind: Kind) -> float:
    """Read ``value`` (text, or a bare number where the kind allows one) as a ``kind``.

    Raises :class:`UnitError` naming the text and the units ``kind`` accepts.
    """
    if isinstance(value, bool) or value is None:
        raise UnitError(f"expected {kind.value} like {_EXAMPLES[kind]}, got {value!r}")
    if isinstance(value, (int, float)):
        try:
            bare = float(value)
        except OverflowError:   # an integer of hundreds of digits
            raise UnitError(f"{str(value)[:20]}... is not a finite number (too large)") from None
        return _bare_number(bare, kind, repr(value) if len(str(value)) < 40 else f"{str(value)[:20]}...")
    if not isinstance(value, str):
        raise UnitError(f"expected {kind.value} like {_EXAMPLES[kind]}, got {value!r}")
    ascii_digits(value)
    text = value.strip()
    if kind is Kind.DURATION:
        return _duration(text)
    if _NUMBER_RE.match(text):
        return _bare_number(_float(_number(text), repr(value)), kind, repr(value))
    match = _QUANTITY_RE.match(text)
    if not match:
        raise UnitError(f"cannot read {value!r} as {kind.value}: expected {_EXAMPLES[kind]}")
    dollar, number, unit, per = match.groups()
    amount = _number(number)
    exact = _exact(kind, amount, dollar, unit, per)
    if exact is not None:
        return _float(exact, repr(value))
    shown = f"{unit}/{per}" if per else unit or "(none)"
    raise UnitError(f"unknown unit {shown!r} in {value!r} for {kind.value}: expected {_EXAMPLES[kind]}")


def _exact(kind: Kind, amount: Decimal, dollar: str | None, unit: str, per: str | None) -> Decimal | None:
    """``amount`` with its unit in base units, exactly; ``None`` when the unit does not fit ``kind``."""
    if kind in (Kind.RATIO, Kind.NUMBER) and unit == "%" and not dollar and not per:
        return amount / _PERCENT
    if kind is Kind.BYTES and unit in _BYTE_UNITS and not dollar and not per:
        return amount * _BYTE_UNITS[unit]
    if kind is Kind.BYTES_PER_HOUR and unit in _BYTE_UNITS and per in _PER_HOUR and not dollar:
        return amount * _BYTE_UNITS[unit] * _PER_HOUR[per]
    if kind is Kind.DOLLARS and dollar and not unit and not per:
        return amount
    if kind is Kind.DOLLARS_PER_MINUTE and dollar and not unit and per in _PER_MINUTE:
        return amount * _PER_MINUTE[per]
    if kind is Kind.REQUESTS_PER_SECOND and not dollar and (
        (unit == "" and per == "s") or (unit in ("rps", "req") and per in (None, "s"))
    ):
        return amount
    return None


def quantity(value: object, kind: Kind, *, low: float = 0.0, high: float = math.inf, allow_low: bool = True) -> float:
    """``value`` read as a ``kind`` between ``low`` and ``high`` (for pydantic validators).

    A bare zero needs no unit. Raises ``ValueError`` saying what was expected.
    """
    if isinstance(value, (int, float, str)) and not isinstance(value, bool) and str(value).strip() in ("0", "0.0"):
        number = 0.0
    else:
        try:
            number = parse(value, kind)
        except UnitError as exc:
            raise ValueError(str(exc)) from None
    if low == 0.0 and math.isinf(high) and (number < 0 or (number == 0 and not allow_low)):
        raise ValueError(f"must be {'zero or ' if allow_low else ''}positive, got {value!r}")
    if number < low or (number == low and not allow_low) or number > high:
        lower = f"{'at least' if allow_low else 'more than'} {format_value(low, kind)}"
        upper = f" and at most {format_value(high, kind)}" if math.isfinite(high) else ""
        raise ValueError(f"{value!r} is out of range: expected {lower}{upper}")
    return number


def _bare_number(number: float, kind: Kind, shown: str) -> float:
    if not math.isfinite(number):
        raise UnitError(f"{shown} is not a finite number")
    if kind in (Kind.RATIO, Kind.NUMBER):
        return number
    raise UnitError(f"{shown} has no unit: {kind.value} needs one, like {_EXAMPLES[kind]}")


def _duration(text: str) -> float:
    clock = _CLOCK_RE.match(text)
    if clock:
        hours, minutes, seconds = clock.groups()
        return _float(Decimal(int(hours) * 3600 + int(minutes) * 60 + int(seconds or 0)), repr(text))
    if _NUMBER_RE.match(text):
        raise UnitError(f"{text!r} has no unit: a duration needs one, like {_EXAMPLES[Kind.DURATION]}")
    if text.startswith("-") and _DURATION_RE.match(text[1:]):
        return -_duration(text[1:])
    if not _DURATION_RE.match(text):
        raise UnitError(f"cannot read {text!r} as a duration: expected {_EXAMPLES[Kind.DURATION]}")
    total = Decimal(0)
    for number, unit in _DURATION_PART_RE.findall(text):
        if unit not in _DURATION_UNITS:
            raise UnitError(
                f"unknown unit {unit!r} in {text!r}: a duration takes ms, s, m, h or d"
                f" (for example {_EXAMPLES[Kind.DURATION]})"
            )
        total += Decimal(number) * _DURATION_UNITS[unit]
    return _float(total, repr(text))


def format_value(value: Optional[float], kind: Kind) -> str:
    """``value`` (in base units) written the way a person would write it in a plan; ``n/a`` if missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if kind is Kind.DURATION:
        if value < 0:   # e.g. a detection before the incident's start
            return "-" + format_value(-value, kind)
        return "∞" if math.isinf(value) else _format_duration(value)
    if kind is Kind.RATIO:
        return f"{value * 100:.4g}%"
    if kind is Kind.BYTES:
        return f"{value / 1e6:.4g}MB"
    if kind is Kind.BYTES_PER_HOUR:
        return f"{value / 1e6:.4g}MB/h"
    if kind is Kind.DOLLARS:
        return f"${value:,.2f}"
    if kind is Kind.DOLLARS_PER_MINUTE:
        return f"${value:,.0f}/min"
    if kind is Kind.REQUESTS_PER_SECOND:
        return f"{value:,.0f}/s"
    return f"{value:.4g}"


def positional(number: float, digits: int = 6) -> str:
    """``number`` to ``digits`` significant digits without an exponent (``6177600``, ``0.00012``): a duration
    or a quantity written for a plan to read back (``6.1776e+06s`` is not a duration a plan reads)."""
    return str(np.format_float_positional(number, precision=digits, unique=False, fractional=False, trim="-"))


def _format_duration(seconds: float) -> str:
    """One form for every duration rampsim prints, which a plan reads back: ``250ms``, ``45s``, ``1m45s``,
    ``2h``, ``1h30m``; seconds kept to a tenth below a minute, whole seconds above."""
    if seconds < 1:
        return f"{seconds * 1000:.4g}ms"
    if round(seconds, 1) < 60:
        return f"{round(seconds, 1):g}s"
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{amount}{unit}" for amount, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if amount)


# -- field types for pydantic models ----------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """Pydantic field metadata: the value is read as a ``kind`` between ``low`` and ``high``.

    ``Annotated[float, Unit(Kind.DURATION, allow_low=False)]`` is a field written with its
    unit (``'15m'``), read exactly by :func:`quantity` (so every error says what was
    expected) and stored in base units; text that overflows a float, ``inf`` and ``nan``
    are refused. The ready-made types below cover the usual fields; a field with a bound
    of its own writes ``Annotated[float, Unit(kind, high=...)]``.
    """

    kind: Kind
    low: float = 0.0
    high: float = math.inf
    allow_low: bool = True

    def read(self, value: object) -> float:
        """``value`` in base units; ``ValueError`` saying what was expected."""
        return quantity(value, self.kind, low=self.low, high=self.high, allow_low=self.allow_low)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_before_validator_function(self.read, handler(source))


Duration = Annotated[float, Unit(Kind.DURATION)]
"""Seconds, zero or more: ``'15m'``, ``'1h30m'``, ``'01:20'`` (a bare ``0`` needs no unit)."""
PositiveDuration = Annotated[float, Unit(Kind.DURATION, allow_low=False)]
"""Seconds, more than zero."""
Share = Annotated[float, Unit(Kind.RATIO, high=1.0)]
"""A fraction from 0 to 1: ``'0.5%'``, ``'99.95%'`` or ``0.005``."""
PositiveRatio = Annotated[float, Unit(Kind.RATIO, allow_low=False)]
"""A fraction more than zero, with no upper bound (a weight: ``'50%'``, ``2``)."""
RelativeChange = Annotated[float, Unit(Kind.RATIO, low=-1.0, allow_low=False)]
"""A relative change, more than -100% (a ratio to the old value stays positive): ``'-2%'``, ``'+5%'``."""
Rate = Annotated[float, Unit(Kind.REQUESTS_PER_SECOND, allow_low=False)]
"""Requests per second, more than zero: ``'1250/s'``, ``'1,250 rps'``."""
Bytes = Annotated[float, Unit(Kind.BYTES)]
"""Bytes, zero or more: ``'512MB'``, ``'2GiB'``."""
PositiveBytes = Annotated[float, Unit(Kind.BYTES, allow_low=False)]
"""Bytes, more than zero (a size limit)."""
BytesPerHour = Annotated[float, Unit(Kind.BYTES_PER_HOUR)]
"""Bytes per hour, zero or more: ``'50MB/h'``."""
Money = Annotated[float, Unit(Kind.DOLLARS)]
"""Dollars, zero or more: ``'$2,450'``."""
MoneyPerMinute = Annotated[float, Unit(Kind.DOLLARS_PER_MINUTE)]
"""Dollars per minute, zero or more: ``'$2,450/min'``."""
Number = Annotated[float, Unit(Kind.NUMBER)]
"""A plain number, zero or more (bound it with ``Field(ge=..., le=...)``)."""

def _count(value: object) -> int:
    try:
        return count(value)
    except UnitError as exc:
        raise ValueError(str(exc)) from None


Count = Annotated[int, BeforeValidator(_count)]
"""A whole number written without a unit (:func:`count`): an instance count, a number of workers or learners
(bound it with ``Field(ge=..., le=...)``). A boolean is refused, where a plain ``int`` field reads ``true`` as 1."""


def _plain_number(value: object) -> object:
    try:
        return plain_number(value)
    except UnitError as exc:
        raise ValueError(str(exc)) from None


PlainNumber = Annotated[float, AllowInfNan(False), BeforeValidator(_plain_number)]
"""A finite number written without a unit (:func:`plain_number`), such as a controller's threshold or weight: a
boolean, a percentage or a digit other than ASCII is refused, where a plain ``float`` field reads ``true`` as 1.0."""

UNIT_TYPES = {
    "Duration": Duration, "PositiveDuration": PositiveDuration, "Share": Share, "PositiveRatio": PositiveRatio,
    "RelativeChange": RelativeChange, "Rate": Rate, "Bytes": Bytes, "PositiveBytes": PositiveBytes,
    "BytesPerHour": BytesPerHour, "Money": Money, "MoneyPerMinute": MoneyPerMinute, "Number": Number,
}
"""Every ready-made unit type by name (each is ``Annotated[float, Unit(...)]``)."""
