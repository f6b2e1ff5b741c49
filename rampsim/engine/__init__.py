"""The decision engine: pure, incremental judgement of telemetry against a plan."""
from rampsim.engine.engine import DecisionEngine
from rampsim.engine.events import (
    AlertFired, AlertResolved, CheckpointReport, CriterionResult, Decision, DecisionKind, Event, Status,
    event_to_dict, first_terminal_decision,
)
from rampsim.engine.protocol import Engine, EngineFactory

__all__ = [
    "DecisionEngine", "Engine", "EngineFactory", "AlertFired", "AlertResolved", "CheckpointReport",
    "CriterionResult", "Decision", "DecisionKind", "Event", "Status", "event_to_dict", "first_terminal_decision",
]
