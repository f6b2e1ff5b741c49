"""The canary weight in force: what the simulator applies, from an imported gate's decisions and the plan's phases.

The simulator moves traffic along the plan's phases and applies each decision until the next phase begins. A
controller (Argo Rollouts, Flagger) keeps its own weight, on its own schedule; when it runs behind the phases, its
engine compares the two at each scrape and restates the controller's weight where they differ.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from rampsim.plan.schema import Plan

__all__ = ["AppliedWeight"]


class AppliedWeight:
    """The weight the simulator applies after a scrape: the last decision told, unless a phase of ``plan`` began
    since (then the phase's weight)."""

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._ends = np.cumsum([phase.duration for phase in plan.phases])
        self._told: Optional[tuple[float, float]] = None  # (time, weight) of the last decision the simulator applies

    def tell(self, now: float, weight: float) -> None:
        """A decision for ``weight`` reported at the scrape at ``now``."""
        self._told = (now, weight)

    def at(self, now: float) -> float:
        """The weight the simulator applies after the scrape at ``now``."""
        if self._told is not None and self._phase(self._told[0]) == self._phase(now):
            return self._told[1]
        return self._plan.phases[self._phase(now)].weight

    def _phase(self, seconds: float) -> int:
        return min(int(np.searchsorted(self._ends, seconds, side="right")), len(self._ends) - 1)
