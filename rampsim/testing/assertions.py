"""Assertions about gates, for a team's own test suite.

Each simulates the plan (closed loop, fluid fidelity) and raises ``AssertionError``
with the evidence when the gate falls short::

    assert_stops_within(plan, [fault], within="5m")        # every seed rolls back or holds in time
    assert_advances(plan)                                    # healthy ramps advance
    assert_false_rollback_rate_below(plan, "1%")             # with 95% confidence (sequential check)

``plan`` is a Plan or the path of a plan file, ``mix`` a Mix or the path of a mix file; anything else is a
:class:`~rampsim.errors.UsageError` naming the argument, before anything is simulated.
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Optional, Sequence, Union

from rampsim.errors import UsageError, whole_number
from rampsim.engine.events import TIME_TOLERANCE, DecisionKind
from rampsim.experiment.check import check, rate_bound
from rampsim.experiment.mix import Mix, load_mix
from rampsim.faults import Fault
from rampsim.plan.loader import as_plan
from rampsim.plan.schema import Plan
from rampsim.sim.truth import before_fault
from rampsim.units import Kind, format_value, parse

__all__ = ["assert_stops_within", "assert_advances", "assert_false_rollback_rate_below",
           "assert_missed_incident_rate_below"]

Quantity = Union[str, float]
MixArgument = Union[Mix, str, "os.PathLike[str]"]


PlanArgument = Union[Plan, str, "os.PathLike[str]"]


def _simulate(plan: Plan, faults: Sequence[Fault], seed: int):
    from rampsim.sim.simulation import simulate

    return simulate(plan, faults, seed=seed)


def _faults(name: str, faults: Sequence[Fault]) -> tuple[Fault, ...]:
    """``faults`` as a tuple, refusing a single fault or anything that is not one (checked before simulating)."""
    if isinstance(faults, (Fault, str)) or not isinstance(faults, Iterable):
        raise UsageError(f"{name}: faults is a list of faults, e.g. [parse_fault('error-rate:canary:+2%@10m')], "
                         f"got {faults!r}")
    listed = tuple(faults)
    strays = [f for f in listed if not isinstance(f, Fault)]
    if strays:
        raise UsageError(f"{name}: {strays[0]!r} is not a Fault (make one with rampsim.faults.parse_fault)")
    return listed


def _seeds(name: str, seeds: Iterable[int]) -> list[int]:
    """``seeds`` as a list of whole numbers, at least one: an assertion over no seed would check nothing."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable):
        raise UsageError(f"{name}: seeds is a collection of seeds such as range(3) or [0, 7], got {seeds!r:.80}")
    listed = [whole_number("seeds", seed) for seed in seeds]
    if not listed:
        raise UsageError(f"{name} needs at least one seed: over none it would check nothing")
    return listed


def _mix(name: str, mix: Optional[MixArgument], plan: Plan) -> Optional[Mix]:
    """``mix`` as a :class:`~rampsim.experiment.mix.Mix`: one given, or the mix file at a path (what ``--mix``
    takes), read against ``plan`` (its errors name the file, line and field); ``None`` stays ``None``. Anything
    else is a :class:`UsageError` naming what is expected, before anything is simulated."""
    if mix is None or isinstance(mix, Mix):
        return mix
    if isinstance(mix, (str, os.PathLike)):
        return load_mix(Path(mix), plan)
    raise UsageError(f"{name}: mix is a Mix (rampsim.experiment.mix.load_mix(path, plan)) or the path of a mix "
                     f"file, got {mix!r}")


def _limit(within: Quantity) -> float:
    """``within`` in seconds: a duration such as ``"5m"``, or a number of seconds; positive and finite."""
    if isinstance(within, (int, float)) and not isinstance(within, bool):
        limit = float(within)
    elif isinstance(within, str):
        limit = parse(within, Kind.DURATION)
    else:
        raise UsageError(f"within is a duration such as '5m' or a number of seconds, got {within!r}")
    if not 0 < limit < math.inf:
        raise UsageError(f"within must be a positive, finite duration, got {within!r}")
    return limit


def assert_stops_within(plan: PlanArgument, faults: Sequence[Fault], within: Quantity,
                        seeds: Iterable[int] = range(3)) -> None:
    """On every seed the gate holds or rolls back after the first fault that harms requests starts, and no later
    than ``within`` (a duration such as ``"5m"``, or seconds) after it.

    The clock starts at the first fault whose kind harms requests (``harms`` in the catalogue): a telemetry
    fault such as a counter reset before it does not start it. A stop at that start or before is a false alarm,
    not a catch (the scrape at the start counts the interval before it), and fails the assertion.
    """
    plan = as_plan("assert_stops_within: plan", plan)
    listed = _faults("assert_stops_within", faults)
    limit = _limit(within)
    seeds = _seeds("assert_stops_within", seeds)
    harmful = [f for f in listed if f.spec.harms]
    if not harmful:
        raise UsageError("assert_stops_within needs at least one fault that harms requests: the time limit counts "
                         f"from its start (given: {', '.join(f.describe() for f in listed) or 'none'})")
    onset = min(f.start for f in harmful)
    for seed in seeds:
        outcome = _simulate(plan, listed, seed).outcome
        stopped = outcome.decision in (DecisionKind.HOLD, DecisionKind.ROLLBACK)
        # not at the fault's start or before: the scrape then counts no faulty request, so the stop is noise
        early = stopped and before_fault(outcome.time, onset)
        if stopped and not early and outcome.time <= onset + limit + TIME_TOLERANCE:
            continue
        what = (f"{outcome.decision.value if outcome.decision else 'no decision'} at "
                f"{format_value(outcome.time or 0.0, Kind.DURATION)}")
        if early:
            what += " (at or before the fault's start: a false alarm, not a catch)"
        raise AssertionError(f"seed {seed}: expected a hold or rollback within {format_value(limit, Kind.DURATION)}"
                             f" of the fault at {format_value(onset, Kind.DURATION)}, got {what} "
                             f"({outcome.reason}); faults: {', '.join(f.describe() for f in listed)}")


def assert_advances(plan: PlanArgument, faults: Sequence[Fault] = (), seeds: Iterable[int] = range(3)) -> None:
    """On every seed the gate reaches the final gate and advances."""
    plan = as_plan("assert_advances: plan", plan)
    listed = _faults("assert_advances", faults)
    for seed in _seeds("assert_advances", seeds):
        outcome = _simulate(plan, listed, seed).outcome
        if outcome.decision is not DecisionKind.ADVANCE:
            raise AssertionError(f"seed {seed}: expected advance, got "
                                 f"{outcome.decision.value if outcome.decision else 'no decision'} ({outcome.reason})")


def assert_false_rollback_rate_below(plan: PlanArgument, rate: Quantity, mix: Optional[MixArgument] = None, *,
                                     confidence: float = 0.95, batch: int = 100, max_replicates: int = 1000,
                                     seed: int = 0, workers: Optional[int] = 1) -> None:
    """The gate's false-rollback rate is below ``rate`` (``"1%"``, or the fraction ``0.01``) with ``confidence``
    (see :func:`rampsim.experiment.check`) on ``mix``: a Mix or a mix file's path (default: healthy ramps)."""
    plan = as_plan("assert_false_rollback_rate_below: plan", plan)
    bound = rate_bound("rate", parse(rate, Kind.RATIO))
    scenarios = _mix("assert_false_rollback_rate_below", mix, plan)
    report = check(plan, scenarios, max_false_rollback=bound, confidence=confidence, batch=batch,
                   max_replicates=max_replicates, seed=seed, workers=workers)
    if not report.passed:
        raise AssertionError(report.describe())


def assert_missed_incident_rate_below(plan: PlanArgument, rate: Quantity, mix: MixArgument, *, confidence: float = 0.95,
                                      batch: int = 100, max_replicates: int = 1000, seed: int = 0,
                                      workers: Optional[int] = 1) -> None:
    """The gate advances at most ``rate`` of the incidents of ``mix`` (a Mix or a mix file's path), with
    ``confidence``."""
    plan = as_plan("assert_missed_incident_rate_below: plan", plan)
    bound = rate_bound("rate", parse(rate, Kind.RATIO))
    scenarios = _mix("assert_missed_incident_rate_below", mix, plan)
    report = check(plan, scenarios, max_missed_incident=bound, confidence=confidence, batch=batch,
                   max_replicates=max_replicates, seed=seed, workers=workers)
    if not report.passed:
        raise AssertionError(report.describe())
