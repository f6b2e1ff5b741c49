"""The scrape clock: absolute wall-clock time <-> the engine's scrape index (tick).

Tick ``k`` of a ramp that started at ``start`` (unix seconds) is the scrape at
``start + k * interval``. A real scraper's timestamps jitter around the grid, so a
sample belongs to the tick whose slot ``[t - interval/2, t + interval/2)`` holds its
timestamp. Prometheus stores milliseconds, and so does the grid, so backfilled
samples written on the grid land on it exactly.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, overload

if TYPE_CHECKING:
    import numpy as np

__all__ = ["ScrapeGrid"]


@dataclass(frozen=True)
class ScrapeGrid:
    """Ticks ``0 .. n_ticks-1`` every ``interval`` seconds from ``start`` (unix seconds)."""

    start: float
    interval: float
    n_ticks: int

    @property
    def start_ms(self) -> int:
        return int(round(self.start * 1000))

    @property
    def interval_ms(self) -> int:
        return int(round(self.interval * 1000))

    def time_of(self, tick: int) -> float:
        """Unix time of tick ``tick``."""
        return (self.start_ms + tick * self.interval_ms) / 1000.0

    def slot_ms(self, first: int, last: int) -> tuple[int, int]:
        """Millisecond bounds ``[low, high]`` (both inclusive) of the slots of ticks ``first..last``."""
        half = self.interval_ms // 2
        low = self.start_ms + first * self.interval_ms - half
        high = self.start_ms + last * self.interval_ms + (self.interval_ms - half) - 1
        return low, high

    @overload
    def tick_of_ms(self, timestamp_ms: int) -> int: ...
    @overload
    def tick_of_ms(self, timestamp_ms: np.ndarray) -> np.ndarray: ...
    def tick_of_ms(self, timestamp_ms: int | np.ndarray) -> int | np.ndarray:
        """The tick whose slot holds ``timestamp_ms`` (may be outside ``0 .. n_ticks-1``)."""
        return (timestamp_ms - self.start_ms + self.interval_ms // 2) // self.interval_ms

    def last_settled(self, now: float, settle: float) -> int:
        """The latest tick whose slot closed at least ``settle`` seconds before ``now`` (``-1`` if none)."""
        closes = (now - settle - self.start) * 1000 - (self.interval_ms - self.interval_ms // 2)
        return max(min(int(math.floor(closes / self.interval_ms)), self.n_ticks - 1), -1)

    def tick_at(self, instant: float) -> int:
        """The latest tick at or before ``instant`` (``-1`` before the start), capped at the last tick."""
        elapsed_ms = int(round(instant * 1000)) - self.start_ms
        return max(min(elapsed_ms // self.interval_ms, self.n_ticks - 1), -1)
