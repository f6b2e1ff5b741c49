"""Traffic control: the canary weight of each tick, as the phases and the gate's decisions set it.

The phase schedule gives the weights until a decision arrives; every decision's
weight applies from the next tick on. A terminal decision (hold, rollback,
advance) keeps its weight to the end; a non-terminal one (a custom engine's
``continue`` with a new weight) lasts until the next phase boundary.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from rampsim.engine.events import Decision

__all__ = ["Control"]


class Control:
    """Holds the canary weight per tick (``weights[k]`` is the weight during tick ``k``'s interval)."""

    def __init__(self, schedule: np.ndarray) -> None:
        self.schedule = np.asarray(schedule, dtype=float)
        self.weights = self.schedule.copy()
        changes = np.flatnonzero(np.diff(self.schedule)) + 1
        self._boundaries = changes
        self.version = 0

    def apply(self, tick: int, decisions: Sequence[Decision]) -> None:
        """Decisions taken at scrape ``tick`` move the weights of every later tick."""
        for decision in decisions:
            self.version += 1
            later = slice(tick + 1, None)
            if decision.terminal:
                self.weights[later] = decision.weight
                continue
            following = self._boundaries[self._boundaries > tick + 1]
            until = following[0] if len(following) else len(self.weights)
            self.weights[tick + 1:until] = decision.weight
            self.weights[until:] = self.schedule[until:]

    def weight(self, tick: int) -> float:
        return float(self.weights[min(tick, len(self.weights) - 1)])

    def projected(self, tick: int) -> np.ndarray:
        """The weights from ``tick`` on if no further decision comes."""
        return self.weights[tick:]
