"""The simulation: a simpy model of learners and the service, in two fidelities, closed loop.

``simulate(plan, faults, seed, fidelity, engine_factory)`` returns a :class:`Run`
with the observed telemetry, the engine's events, per-tick canary requests and
harm, the ground truth and the outcome. ``engine_factory=None`` runs open loop
(weights from the phase schedule only), for evaluating many gates on one run.
Nothing here draws charts or prints: see :mod:`rampsim.report`.

The names below are loaded on first use (PEP 562), so a module that only reads the
plan's ``traffic:`` section (:mod:`rampsim.sim.config`) imports neither simpy nor scipy.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from rampsim import _lazy_exports

_EXPORTS: dict[str, str] = {
    "simulate": "rampsim.sim.simulation",
    "Fidelity": "rampsim.sim.simulation",
    "Progress": "rampsim.sim.simulation",
    "Run": "rampsim.sim.run",
    "FaultNote": "rampsim.sim.run",
    "Outcome": "rampsim.sim.outcome",
    "Truth": "rampsim.sim.truth",
    "Breach": "rampsim.sim.truth",
    "ground_truth": "rampsim.sim.truth",
    "Scenario": "rampsim.sim.scenario",
    "Conditions": "rampsim.sim.scenario",
    "TrafficConfig": "rampsim.sim.config",
    "traffic_config": "rampsim.sim.config",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:
    from rampsim.sim.config import TrafficConfig, traffic_config
    from rampsim.sim.outcome import Outcome
    from rampsim.sim.run import FaultNote, Run
    from rampsim.sim.simulation import Fidelity, Progress, simulate
    from rampsim.sim.scenario import Conditions, Scenario
    from rampsim.sim.truth import Breach, Truth, ground_truth
else:
    __getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS, globals())
