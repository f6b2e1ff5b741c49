"""The outcome of one run: what the gate decided, when, and what it cost the learners.

``harmed`` counts canary requests served while a harming fault acted on them (see
:mod:`rampsim.faults.catalogue`), up to the gate's terminal decision; in a closed
loop the canary gets no traffic after a rollback anyway. The verdict compares the
decision with the ground truth: a healthy release should advance, an incident
should be rolled back or held. An environment incident the plan reports on its own
(:attr:`~rampsim.sim.truth.Truth.environment`) has neither: the verdict says whether
the gate stopped it or let it run, and the outcome neither agrees nor disagrees. A stop of
an incident before the gate saw a request its first fault acted on reacted to a release still
healthy: it is a false alarm, whatever came later (:meth:`~rampsim.sim.truth.Truth.before_onset`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from rampsim.engine.events import TIME_TOLERANCE, Decision, DecisionKind, Event, first_terminal_decision
from rampsim.sim.truth import Truth

__all__ = ["Outcome", "outcome", "served_until", "ENVIRONMENT_VERDICTS"]

VERDICTS = {
    "advanced": "advanced a healthy release",
    "false-alarm": "stopped a healthy release (false alarm)",
    "caught": "stopped an incident",
    "missed": "let an incident through",
    "undecided": "reached no decision",
    "environment-stopped": "environment incident: the gate stopped a ramp whose breach the release did not cause",
    "environment-ran": "environment incident: the gate let run a ramp whose breach the release did not cause",
}
ENVIRONMENT_VERDICTS = ("environment-stopped", "environment-ran")


@dataclass(frozen=True)
class Outcome:
    """Final decision and its time, detection delay, harm, and the verdict against the ground truth."""

    decision: Optional[DecisionKind]
    time: Optional[float]
    reason: Optional[str]
    detection_delay: Optional[float]
    harmed: float
    canary_requests: float
    verdict: str
    before_fault: bool = False   # a false alarm on an incident scenario, before its first fault acted

    @property
    def agrees(self) -> bool:
        """The gate did what the ground truth calls for."""
        return self.verdict in ("advanced", "caught")

    @property
    def environment(self) -> bool:
        """The ground truth is an environment incident reported on its own: the gate can neither agree nor
        disagree."""
        return self.verdict in ENVIRONMENT_VERDICTS

    def describe(self) -> str:
        if self.before_fault:
            return "stopped the ramp before the fault began (a false alarm: the release was still healthy)"
        return VERDICTS[self.verdict]


def served_until(times: np.ndarray, per_tick: np.ndarray, decision_times: np.ndarray) -> np.ndarray:
    """``per_tick`` summed up to each decision's scrape (inclusive; all of it where the time is NaN: no decision).

    Traffic of the scrape interval that ends at a decision was already served; the
    decision moves traffic from the next interval on.
    """
    decision_times = np.asarray(decision_times, dtype=float)
    last = np.where(np.isnan(decision_times), len(times) - 1,
                    np.searchsorted(times, np.nan_to_num(decision_times) - TIME_TOLERANCE))
    return np.cumsum(per_tick)[np.minimum(last, len(times) - 1)]


def outcome(events: Sequence[Event], truth: Truth, times: np.ndarray, canary_requests: np.ndarray,
            harmed: np.ndarray, decision: Optional[Decision] = None) -> Outcome:
    """The outcome given the events (or an explicit terminal ``decision``) and per-tick harm arrays."""
    decision = decision if decision is not None else first_terminal_decision(list(events))
    until = np.array([np.nan if decision is None else decision.time])
    stopped = decision is not None and decision.kind is not DecisionKind.ADVANCE
    early = stopped and decision is not None and truth.before_onset(decision.time)
    if early:
        verdict = "false-alarm"
    elif truth.environment:
        verdict = "environment-stopped" if stopped else "environment-ran"
    elif truth.counted:
        verdict = "caught" if stopped else "missed"
    else:
        verdict = "false-alarm" if stopped else "advanced" if decision is not None else "undecided"
    delay: Optional[float] = None
    if stopped and truth.counted and not early:
        assert decision is not None and truth.start is not None  # stopped means decided; an incident has a start
        delay = decision.time - truth.start
    return Outcome(decision=decision.kind if decision else None, time=decision.time if decision else None,
                   reason=decision.reason if decision else None, detection_delay=delay,
                   harmed=float(served_until(times, harmed, until)[0]),
                   canary_requests=float(served_until(times, canary_requests, until)[0]),
                   verdict=verdict, before_fault=early)
