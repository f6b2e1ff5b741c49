"""Ground truth: is a scenario a real incident, and since when?

The plan's SLO is judged on the scenario's *expected* telemetry (the infinite-
traffic limit: no sampling noise at all) with the weights of the phase schedule
(open loop), so it depends on the faults and never on the gate under test. An
objective is breached where ``value <op> threshold`` holds; an incident starts
when a breach begins that lasts at least the objective's ``sustain``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from rampsim.engine.metrics import Series, evaluate
from rampsim.engine.schedule import checkpoint_ticks, first_sustained, previous_checkpoints, window_starts
from rampsim.plan.schema import Metric
from rampsim.sim.expected import expected, expected_telemetry
from rampsim.sim.clock import clock
from rampsim.sim.scenario import Scenario
from rampsim.telemetry import Telemetry

__all__ = ["Breach", "Truth", "ground_truth"]



@dataclass(frozen=True)
class Breach:
    """The first sustained breach of one SLO objective."""

    objective: str
    start: float        # when the breach began
    confirmed: float    # when it had lasted its sustain time


@dataclass(frozen=True)
class Truth:
    """Whether the scenario is an incident, from the earliest sustained breach of any objective."""

    incident: bool
    start: Optional[float]
    confirmed: Optional[float]
    objective: Optional[str]
    breaches: tuple[Breach, ...]
    telemetry: Telemetry

    def describe(self) -> str:
        if not self.incident:
            return "no incident: every SLO objective holds on the expected metrics"
        assert self.start is not None and self.confirmed is not None  # an incident has both (ground_truth)
        return (f"incident: SLO objective {self.objective!r} breached from {clock(self.start)} "
                f"(sustained for its full duration by {clock(self.confirmed)})")


def ground_truth(scenario: Scenario) -> Truth:
    """The ground truth of ``scenario`` (see the module docstring), computed once per scenario: it depends
    on neither the seed nor the gate."""
    if "truth" not in scenario.memo:
        scenario.memo["truth"] = _ground_truth(scenario)
    truth: Truth = scenario.memo["truth"]
    return truth


def _ground_truth(scenario: Scenario) -> Truth:
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
