"""A finished simulation: telemetry, events, weights, harm, ground truth and outcome."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rampsim.engine.events import Event
from rampsim.sim.outcome import Outcome
from rampsim.sim.scenario import Scenario
from rampsim.sim.truth import Truth
from rampsim.telemetry import Telemetry

__all__ = ["Run", "FaultNote"]


@dataclass(frozen=True)
class FaultNote:
    """A fault starting or ending, as the fault injector logged it."""

    time: float
    fault: str
    what: str  # "start" or "end"


@dataclass
class Run:
    """One simulated ramp. Per-tick arrays are indexed like the telemetry's scrapes."""

    scenario: Scenario
    seed: int
    fidelity: str
    telemetry: Telemetry            # what the monitoring recorded (telemetry faults included)
    events: list[Event]
    weights: np.ndarray             # canary weight during each tick's interval
    requests: np.ndarray            # (ticks, arms, segments) requests served in each tick
    canary_requests: np.ndarray     # (ticks,)
    harmed: np.ndarray              # (ticks,) canary requests served while a harming fault acted
    truth: Truth
    outcome: Outcome
    fault_log: list[FaultNote] = field(default_factory=list)

    @property
    def plan(self):
        return self.scenario.plan

    @property
    def harmed_total(self) -> float:
        """Harmed canary requests over the whole run (after a hold at 5%, harm goes on)."""
        return float(self.harmed.sum())

