"""The daily shape of a diurnal load: a 24-hour cosine and cycles that divide the day.

A shape is a list of ``(cycles per day, amplitude, clock time of a maximum)``; its
value at clock time ``u`` (seconds after midnight) is
``1 + sum a cos(2 pi h (u - at) / day)``, a multiple of the daily average. The
simulation's load profile integrates it; calibration fits it; both check it stays
positive with :func:`daily_minimum`.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from rampsim.units import Kind, format_value, parse

__all__ = ["DAY", "MAX_CYCLES_PER_DAY", "cycles_per_day", "daily_minimum", "period_name"]

DAY = 86400.0
MAX_CYCLES_PER_DAY = 24


def cycles_per_day(period: str) -> int:
    """The number of cycles a day of a harmonic keyed by its ``period`` (``"12h"`` is 2), which must divide the day
    into 2 to :data:`MAX_CYCLES_PER_DAY` cycles (``ValueError`` otherwise)."""
    seconds = parse(period, Kind.DURATION)
    cycles = round(DAY / seconds) if seconds > 0 else 0
    if not 2 <= cycles <= MAX_CYCLES_PER_DAY or abs(cycles * seconds - DAY) > 1e-6:
        raise ValueError(f"harmonic period {period!r} must divide the day into 2 to {MAX_CYCLES_PER_DAY} whole cycles "
                         "(12h, 8h, 6h, 4h48m, 4h, ... 1h)")
    return int(cycles)


def period_name(cycles: int) -> str:
    """The key a plan writes for a harmonic of ``cycles`` a day (``"12h"``, ``"4h48m"``)."""
    return format_value(DAY / cycles, Kind.DURATION)


def daily_minimum(cycles: Sequence[tuple[int, float, float]]) -> tuple[float, float]:
    """The lowest value over a day of the shape ``cycles`` (on a 10-second grid) and its clock time in seconds."""
    u = np.arange(0.0, DAY, 10.0)
    shape = 1.0 + sum((a * np.cos(2 * math.pi * h * (u - at) / DAY) for h, a, at in cycles), np.zeros_like(u))
    where = int(np.argmin(shape))
    return float(shape[where]), float(u[where])
