"""Assertions about gates, for a team's own test suite.

Each simulates the plan (closed loop, fluid fidelity) and raises ``AssertionError``
with the evidence when the gate falls short::

    assert_stops_within(plan, [fault], within="5m")        # every seed rolls back or holds in time
    assert_advances(plan)                                    # healthy ramps advance
    assert_false_rollback_rate_below(plan, "1%")             # with 95% confidence (sequential check)
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence, Union

from rampsim.errors import UsageError
from rampsim.engine.events import TIME_TOLERANCE, DecisionKind
from rampsim.experiment.check import check
from rampsim.experiment.mix import Mix
from rampsim.faults import Fault
from rampsim.plan.schema import Plan
from rampsim.sim.truth import before_fault
from rampsim.units import Kind, format_value, parse

__all__ = ["assert_stops_within", "assert_advances", "assert_false_rollback_rate_below",
           "assert_missed_incident_rate_below"]

Quantity = Union[str, float]


def _simulate(plan: Plan, faults: Sequence[Fault], seed: int):
    from rampsim.sim.simulation import simulate

    return simulate(plan, faults, seed=seed)


def assert_stops_within(plan: Plan, faults: Sequence[Fault], within: Quantity, seeds: Iterable[int] = range(3)) -> None:
    """On every seed the gate holds or rolls back after the first fault starts and no later than ``within`` after.

    A stop at the fault's start or before is a false alarm, not a catch (the scrape at the start counts the
    interval before it), and fails the assertion.
    """
    if not faults:
        raise UsageError("assert_stops_within needs at least one fault: the time limit counts from its start")
    limit = parse(within, Kind.DURATION)
    onset = min(f.start for f in faults)
    for seed in seeds:
        outcome = _simulate(plan, faults, seed).outcome
        stopped = outcome.decision in (DecisionKind.HOLD, DecisionKind.ROLLBACK)
        # not at the fault's start or before: the scrape then counts no faulty request, so the stop is noise
        in_time = stopped and not before_fault(outcome.time, onset) and outcome.time <= onset + limit + TIME_TOLERANCE
        if not in_time:
            what = (f"{outcome.decision.value if outcome.decision else 'no decision'} at "
                    f"{format_value(outcome.time or 0.0, Kind.DURATION)}")
            raise AssertionError(f"seed {seed}: expected a hold or rollback within {format_value(limit, Kind.DURATION)}"
                                 f" of the fault at {format_value(onset, Kind.DURATION)}, got {what} "
                                 f"({outcome.reason}); faults: {', '.join(f.describe() for f in faults)}")


def assert_advances(plan: Plan, faults: Sequence[Fault] = (), seeds: Iterable[int] = range(3)) -> None:
    """On every seed the gate reaches the final gate and advances."""
    for seed in seeds:
        outcome = _simulate(plan, faults, seed).outcome
        if outcome.decision is not DecisionKind.ADVANCE:
            raise AssertionError(f"seed {seed}: expected advance, got "
                                 f"{outcome.decision.value if outcome.decision else 'no decision'} ({outcome.reason})")


def assert_false_rollback_rate_below(plan: Plan, rate: Quantity, mix: Optional[Mix] = None, *,
                                     confidence: float = 0.95, batch: int = 100, max_replicates: int = 1000,
                                     seed: int = 0, workers: Optional[int] = 1) -> None:
    """The gate's false-rollback rate is below ``rate`` with ``confidence`` (see :func:`rampsim.experiment.check`)."""
    report = check(plan, mix, max_false_rollback=parse(rate, Kind.RATIO), confidence=confidence, batch=batch,
                   max_replicates=max_replicates, seed=seed, workers=workers)
    if not report.passed:
        raise AssertionError(report.describe())


def assert_missed_incident_rate_below(plan: Plan, rate: Quantity, mix: Mix, *, confidence: float = 0.95,
                                      batch: int = 100, max_replicates: int = 1000, seed: int = 0,
                                      workers: Optional[int] = 1) -> None:
    """The gate advances at most ``rate`` of the mix's incidents, with ``confidence``."""
    report = check(plan, mix, max_missed_incident=parse(rate, Kind.RATIO), confidence=confidence, batch=batch,
                   max_replicates=max_replicates, seed=seed, workers=workers)
    if not report.passed:
        raise AssertionError(report.describe())
