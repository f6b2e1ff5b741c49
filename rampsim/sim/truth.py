"""Ground truth: is a scenario a real incident, since when, and did the release cause it?

The plan's SLO is judged on the scenario's *expected* telemetry (the infinite-
traffic limit: no sampling noise at all) with the weights of the phase schedule
(open loop), so it depends on the faults and never on the gate under test. An
objective is breached where ``value <op> threshold`` holds; an incident starts
when a breach begins that lasts at least the objective's ``sustain``.

**Attribution.** A breach is a *release regression* when the release causes it,
an *environment incident* when stopping the canary would not fix it. The faults
split in two: those that target the canary (``canary``, ``canary/SEGMENT``) are
the release's; the others (``shared`` infrastructure, the ``baseline``) are the
environment's. The SLO is judged again on the expected telemetry of each part
alone, and a breached scenario is

* an **environment incident** when the environment's faults alone breach the SLO
  and the release's alone do not: without the release it breaches all the same;
* a **release regression** otherwise: the release's faults alone breach it, or
  neither part alone does and the breach needs the release's faults (without
  them the SLO holds, so stopping the canary does fix it).

A breach that the scenario's service has with no fault at all, as early as with its
faults, is the **service's own** (``cause`` ``"service"``: the plan's traffic model
breaches its SLO, say a base error rate above the objective or a canary pool too small
for a phase's weight): neither the release's doing nor a fault's, it counts as an
environment incident does under the plan's policy (``separate``, the default: a stop of
it is no false rollback, a run through it no miss), and no fault's start decides whether
a stop came before it.

A scenario with faults of one part only needs no second look. The breach's times
and objective are the whole scenario's, whatever its cause. The plan's
``slo.environment_incidents`` says what an environment incident counts as:
``separate`` (reported on its own, neither a catch nor a false rollback) or
``incident`` (an incident like any other); see :attr:`Truth.counted` and
:attr:`Truth.environment`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal, Optional, Sequence

import numpy as np
import numpy.typing as npt

from rampsim.engine.events import TIME_TOLERANCE
from rampsim.engine.metrics import Series, evaluate
from rampsim.engine.schedule import checkpoint_ticks, first_sustained, previous_checkpoints, window_starts
from rampsim.faults import Fault
from rampsim.plan.schema import Metric
from rampsim.sim.effects import Effects
from rampsim.sim.expected import expected, expected_telemetry
from rampsim.sim.clock import clock
from rampsim.sim.instances import pools
from rampsim.sim.scenario import Scenario
from rampsim.telemetry import Telemetry

__all__ = ["Breach", "Cause", "Truth", "ground_truth", "without_faults", "release_faults", "before_fault"]

Cause = Literal["release", "environment", "service"]


@dataclass(frozen=True)
class Breach:
    """The first sustained breach of one SLO objective."""

    objective: str
    start: float        # when the breach began
    confirmed: float    # when it had lasted its sustain time


@dataclass(frozen=True)
class Truth:
    """Whether the scenario is an incident, from the earliest sustained breach of any objective, and its cause
    (``None`` when healthy) with the plan's policy for environment incidents."""

    incident: bool
    start: Optional[float]
    confirmed: Optional[float]
    objective: Optional[str]
    breaches: tuple[Breach, ...]
    telemetry: Telemetry
    cause: Optional[Cause] = None
    environment_incidents: Literal["separate", "incident"] = "separate"
    onset: Optional[float] = None    # when the incident's faults began acting (:func:`_onset`; None without faults)

    def before_onset(self, time: Optional[float]) -> bool:
        """Whether a decision at ``time`` came before the gate saw any request a fault acted on (at the fault's
        start at the latest: a scrape counts the interval that ends at it), on an incident the gate must stop: a
        stop then reacted to a release still healthy (a false alarm that happened to precede the incident), not
        to it. An environment incident reported on its own is neither a catch nor a false rollback, whenever
        it is stopped."""
        return self.counted and self.onset is not None and time is not None and bool(before_fault(time, self.onset))

    @property
    def counted(self) -> bool:
        """An incident the gate must stop: a release regression, or an environment incident under the
        ``incident`` policy."""
        return self.incident and (self.cause == "release" or self.environment_incidents == "incident")

    @property
    def environment(self) -> bool:
        """An environment incident reported on its own (the ``separate`` policy): neither to stop nor to pass."""
        return self.incident and not self.counted

    def describe(self) -> str:
        if not self.incident:
            return "no incident: every SLO objective holds on the expected metrics"
        assert self.start is not None and self.confirmed is not None  # an incident has both (ground_truth)
        breach = (f"SLO objective {self.objective!r} breached from {clock(self.start)} "
                  f"(sustained for its full duration by {clock(self.confirmed)})")
        if self.cause == "release":
            return f"incident (release regression): {breach}"
        policy = ("counted as an incident (slo.environment_incidents: incident)" if self.counted else
                  "reported on its own, neither a catch nor a false rollback (slo.environment_incidents: separate)")
        if self.cause == "service":
            return (f"the service's own breach: {breach} with no fault at all (the plan's traffic: base error rates, "
                    f"latency, or capacity at the phase weights), which no gate should be credited or blamed for; "
                    f"{policy}")
        return (f"environment incident: {breach} by faults outside the release, which stopping the canary does not "
                f"fix; {policy}")


def before_fault(time: npt.ArrayLike, onset: npt.ArrayLike) -> np.ndarray:
    """Where a decision at ``time`` came before the gate saw a request a fault starting at ``onset`` acted on: at the
    fault's start or earlier, since a scrape counts the interval that ends at it (``NaN``: never)."""
    with np.errstate(invalid="ignore"):
        return np.asarray(time, dtype=float) <= np.asarray(onset, dtype=float) + TIME_TOLERANCE


def release_faults(faults: Sequence[Fault]) -> tuple[tuple[Fault, ...], tuple[Fault, ...]]:
    """``faults`` split into the release's (they target the canary) and the environment's (the others)."""
    return (tuple(f for f in faults if f.arms == ("canary",)), tuple(f for f in faults if f.arms != ("canary",)))


def ground_truth(scenario: Scenario) -> Truth:
    """The ground truth of ``scenario`` (see the module docstring), computed once per scenario: it depends
    on neither the seed nor the gate."""
    if "truth" not in scenario.memo:
        breached = _judged(scenario)
        cause = _cause(scenario, breached) if breached.incident else None
        scenario.memo["truth"] = dataclasses.replace(
            breached, cause=cause, environment_incidents=scenario.plan.slo.environment_incidents,
            onset=None if cause == "service" else _onset(scenario.faults, cause))
    truth: Truth = scenario.memo["truth"]
    return truth


def _onset(faults: Sequence[Fault], cause: Optional[Cause]) -> Optional[float]:
    """When the incident's faults began acting: the earliest start of the faults of its cause (the release's, or
    the environment's) that harm requests; of all of them when none does (a surge's overload); ``None`` without
    faults. A scrape gap, a harmless surge or a fault outside the cause acts on no request the incident is made of:
    a stop after it but before the regression is still a stop of a healthy release."""
    release, environment = release_faults(faults)
    causing = environment if cause == "environment" else release
    harming = [f for f in causing if f.spec.harms and not f.spec.telemetry and (f.magnitude is None or f.magnitude > 0)]
    chosen = harming or list(causing) or list(faults)
    return min((f.start for f in chosen), default=None)


def _cause(scenario: Scenario, breached: Truth) -> Cause:
    """Who caused the breach ``breached`` of ``scenario`` (the module docstring's rule)."""
    assert breached.start is not None  # only asked of an incident
    quiet = without_faults(scenario) if scenario.faults else breached
    if quiet.incident and quiet.start is not None and quiet.start <= breached.start + TIME_TOLERANCE:
        return "service"
    release, environment = release_faults(scenario.faults)
    if not environment:
        return "release"
    if not release:
        return "environment"
    if _judged(_with_faults(scenario, release)).incident:
        return "release"
    return "environment" if _judged(_with_faults(scenario, environment)).incident else "release"


def without_faults(scenario: Scenario) -> Truth:
    """The SLO judged on ``scenario``'s service with no fault at all (no cause given): whether the service the plan's
    ``traffic:`` section models is healthy."""
    return _judged(_with_faults(scenario, ()))


def _with_faults(scenario: Scenario, faults: tuple[Fault, ...]) -> Scenario:
    """``scenario`` with only ``faults`` (a part of its own): its calibrated service, load and population
    kept, the faults' effects and instance timelines made again, nothing remembered."""
    effects = Effects.build(faults, scenario.layout, scenario.grid)
    return dataclasses.replace(scenario, faults=faults, effects=effects, memo={},
                               pools=pools(effects, scenario.config.service, scenario.layout.arms, scenario.grid,
                                           scenario.service.headroom))


def _judged(scenario: Scenario) -> Truth:
    """The SLO judged on ``scenario``'s expected telemetry (no cause yet)."""
    plan = scenario.plan
    telemetry = expected_telemetry(scenario, expected(scenario, scenario.conditions(scenario.scheduled_weights())))
    series = Series.from_telemetry(telemetry)
    ticks = np.arange(len(telemetry))
    previous = previous_checkpoints(len(ticks), checkpoint_ticks(plan, telemetry.time))
    breaches = []
    for name, objective in plan.slo.objectives.items():
        if objective.metric is Metric.ALERTS:
            raise ValueError(f"slo.objectives.{name}: the SLO judges the service, not the gate's alerts")
        starts = window_starts(objective, ticks, plan.telemetry.scrape_interval, previous)
        values = evaluate(series, objective, starts, ticks)
        with np.errstate(invalid="ignore"):
            breached = ~np.isnan(values) & objective.op.holds(values, objective.threshold)
        found = first_sustained(breached, telemetry.time, objective.sustain)
        if found:
            breaches.append(Breach(name, float(telemetry.time[found[0]]), float(telemetry.time[found[1]])))
    breaches.sort(key=lambda b: (b.start, b.confirmed))
    first = breaches[0] if breaches else None
    return Truth(incident=first is not None, start=first.start if first else None,
                 confirmed=first.confirmed if first else None, objective=first.objective if first else None,
                 breaches=tuple(breaches), telemetry=telemetry)
