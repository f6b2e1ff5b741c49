"""Instants: the times a user writes (RFC 3339, unix seconds, ``now-30m``) and the range rampsim accepts."""
from __future__ import annotations

import datetime as dt
import re
import time as _time
from typing import Callable, Optional

from rampsim.errors import UsageError
from rampsim.units import UnitError, parse_duration

__all__ = ["parse_instant", "is_relative", "format_instant", "EARLIEST", "LATEST"]

EARLIEST = 0.0
"""1970-01-01T00:00:00Z: the earliest instant (unix seconds) a ramp or a sample may have."""
LATEST = 253_402_300_799.0
"""9999-12-31T23:59:59Z: the latest instant RFC 3339 can write."""


_RELATIVE = re.compile(r"^now\s*(?:([+-])\s*(.+))?$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:[Zz]|[+-]\d{2}:\d{2})?$")
_UNIX = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")


def is_relative(text: str) -> bool:
    """Whether ``text`` is a time relative to now (``now``, ``now-30m``): read again, it is another time."""
    return _RELATIVE.match(text.strip()) is not None


def parse_instant(text: str, now: Optional[Callable[[], float]] = None, *, relative: bool = True) -> float:
    """Unix seconds from ``text``: RFC 3339 (``2025-03-01T00:00:00Z``), unix seconds, and unless ``relative``
    is false (a time written in a recording), ``now`` or ``now-30m``.

    A time without a zone is UTC. Raises :class:`ValueError` saying what is accepted.
    """
    text = text.strip()
    clock = now or _time.time
    accepted = "RFC 3339 like 2025-03-01T00:00:00Z, unix seconds" + (", 'now' or 'now-30m'" if relative else "")
    relative_match = _RELATIVE.match(text)
    if relative_match and not relative:
        raise UsageError(f"cannot read {text!r} as a time: a recorded time is not relative to now ({accepted})")
    if relative_match:
        sign, amount = relative_match.groups()
        if sign is None:
            return clock()
        if amount.lstrip()[:1] in ("+", "-"):   # now--5m would read as now+5m
            raise UsageError(f"cannot read {text!r} as a time: one sign only ({accepted})")
        try:
            offset = parse_duration(amount)
        except UnitError as exc:
            raise UsageError(f"cannot read {text!r}: {exc}") from None
        return clock() + (offset if sign == "+" else -offset)
    if _UNIX.match(text):
        return float(text)
    if not _RFC3339.match(text):   # fromisoformat also reads 20250301T010000, week dates and bare hours
        raise UsageError(f"cannot read {text!r} as a time: expected {accepted}")
    whole, _, rest = text.partition(".")   # the fraction of a second read apart: Python 3.10's fromisoformat
    digits = rest[:len(rest) - len(rest.lstrip("0123456789"))]   # reads only 3 or 6 of its digits
    try:
        moment = dt.datetime.fromisoformat((whole + rest[len(digits):]).replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise UsageError(f"cannot read {text!r} as a time: expected {accepted}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp() + (float("0." + digits) if digits else 0.0)


def format_instant(seconds: float) -> str:
    """``seconds`` (unix) as RFC 3339 UTC, to the millisecond when it has any."""
    moment = dt.datetime.fromtimestamp(round(seconds, 3), tz=dt.timezone.utc)
    text = moment.isoformat(timespec="milliseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")
