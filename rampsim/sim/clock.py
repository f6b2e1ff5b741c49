"""The simulation's clock grid: scrape ticks and health-check rounds.

Tick ``k`` is the scrape at ``k * interval``; the traffic it reports is the one of
the interval ``((k - 1) * interval, k * interval]`` (tick 0 reports nothing yet).
Health-check round ``j`` happens at ``j * check_interval`` and is counted in the
tick whose interval contains it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rampsim.plan.schema import Plan

__all__ = ["Grid", "clock"]


@dataclass(frozen=True)
class Grid:
    """Ticks and rounds of one ramp (see the module docstring)."""

    interval: float
    n_ticks: int
    check_interval: float

    @classmethod
    def for_plan(cls, plan: Plan) -> "Grid":
        interval = plan.telemetry.scrape_interval
        return cls(interval, plan.n_scrapes, plan.telemetry.health_check_interval)

    @property
    def times(self) -> np.ndarray:
        """Scrape times."""
        return np.arange(self.n_ticks, dtype=float) * self.interval

    @property
    def horizon(self) -> float:
        return (self.n_ticks - 1) * self.interval

    @property
    def n_rounds(self) -> int:
        """Health-check rounds, counting round 0 (the state at time 0, when nothing is checked)."""
        return int(np.floor(self.horizon / self.check_interval + 1e-9)) + 1

    @property
    def round_times(self) -> np.ndarray:
        return np.arange(self.n_rounds, dtype=float) * self.check_interval

    @property
    def round_tick(self) -> np.ndarray:
        """The tick that counts each round."""
        return np.ceil(self.round_times / self.interval - 1e-9).astype(np.intp)

    def tick_of(self, seconds: float) -> int:
        """The tick whose interval contains ``seconds`` (tick 0 for time 0)."""
        return int(np.ceil(seconds / self.interval - 1e-9))


def clock(seconds: float) -> str:
    """``hh:mm:ss`` since the ramp began."""
    seconds = int(round(seconds))
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
