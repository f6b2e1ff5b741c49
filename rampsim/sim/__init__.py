"""The simulation: a simpy model of learners and the service, in two fidelities, closed loop.

``simulate(plan, faults, seed, fidelity, engine_factory)`` returns a :class:`Run`
with the observed telemetry, the engine's events, per-tick canary requests and
harm, the ground truth and the outcome. ``engine_factory=None`` runs open loop
(weights from the phase schedule only), for evaluating many gates on one run.
Nothing here draws charts or prints: see :mod:`rampsim.report`.
"""
from rampsim.sim.config import TrafficConfig, traffic_config
from rampsim.sim.outcome import Outcome, outcome
from rampsim.sim.run import FaultNote, Run
from rampsim.sim.runner import Fidelity, Progress, simulate
from rampsim.sim.scenario import Conditions, Scenario
from rampsim.sim.truth import Breach, Truth, ground_truth

__all__ = ["simulate", "Run", "Progress", "Fidelity", "Outcome", "outcome", "Truth", "Breach", "ground_truth",
           "Scenario", "Conditions", "TrafficConfig", "traffic_config", "FaultNote"]
