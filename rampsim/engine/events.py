"""What the engine says: alerts, checkpoint reports and decisions, as typed events.

Events are frozen dataclasses, comparable for equality (a missing value is
``None``, never ``NaN``, so two runs that agree compare equal) and serialisable
with :func:`event_to_dict` for JSON lines.
"""
from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Any, Optional, Union

__all__ = [
    "SEVERITY_RANK", "TIME_TOLERANCE", "Status", "DecisionKind", "AlertFired", "AlertResolved", "CriterionResult", "CheckpointReport",
    "Decision", "Event", "event_to_dict", "first_terminal_decision", "MANUAL_SOURCE",
]


SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
"""Alert severities in order: a count of "critical" alerts ignores warnings; of "warning", counts both."""

TIME_TOLERANCE = 1e-9
"""Seconds of float error tolerated when a scrape time is compared with a schedule or a sustain time."""

MANUAL_SOURCE = "manual:assumed-promotion"
"""The source of a decision a person is assumed to make (an imported gate's promotion past a step that waits for
one): reports do not present it as the gate's own."""


class Status(str, enum.Enum):
    """The verdict on one criterion or a whole checkpoint."""

    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"


class DecisionKind(str, enum.Enum):
    """What the gate does with the traffic."""

    CONTINUE = "continue"
    HOLD = "hold"
    ROLLBACK = "rollback"
    ADVANCE = "advance"

    @property
    def terminal(self) -> bool:
        """Hold, rollback and advance end the automated ramp; continue does not."""
        return self is not DecisionKind.CONTINUE


@dataclass(frozen=True)
class AlertFired:
    """A rule whose breach has lasted its sustain time."""

    time: float
    rule: str
    severity: str
    action: str
    description: str
    value: Optional[float]
    threshold: float
    breach_start: float


@dataclass(frozen=True)
class AlertResolved:
    """A fired rule whose condition no longer holds."""

    time: float
    rule: str


@dataclass(frozen=True)
class CriterionResult:
    """One criterion at a checkpoint: achieved value against its target."""

    name: str
    description: str
    op: str
    threshold: float
    value: Optional[float]
    status: Status
    unit: str


@dataclass(frozen=True)
class CheckpointReport:
    """Every criterion of a checkpoint, the overall verdict, and the manual checklist."""

    time: float
    checkpoint: str
    title: str
    results: tuple[CriterionResult, ...]
    status: Status
    notes: tuple[str, ...] = ()
    manual: tuple[str, ...] = ()


@dataclass(frozen=True)
class Decision:
    """A traffic decision: the canary weight to move to, and why."""

    time: float
    kind: DecisionKind
    weight: float
    reason: str
    source: str

    @property
    def terminal(self) -> bool:
        return self.kind.terminal


Event = Union[AlertFired, AlertResolved, CheckpointReport, Decision]


def event_to_dict(event: Event) -> dict[str, Any]:
    """A JSON-ready dict with the event's type under ``"event"``."""
    data = dataclasses.asdict(event)

    def plain(value: Any) -> Any:
        if isinstance(value, enum.Enum):
            return value.value
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    return {"event": type(event).__name__, **plain(data)}


def first_terminal_decision(events: list[Event]) -> Optional[Decision]:
    """The decision that ended the automated ramp, if any."""
    return next((e for e in events if isinstance(e, Decision) and e.terminal), None)
