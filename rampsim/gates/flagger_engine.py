"""An imported Flagger gate as a rampsim engine (:class:`rampsim.engine.Engine`).

At each scrape the engine runs every Flagger tick due by the scrape's time
(:class:`~rampsim.gates.flagger_canary.CanaryMachine`), each tick's checks querying the injected
:data:`~rampsim.gates.queries.QueryProvider` at the tick's own time. A weight step is a
``continue`` decision with the canary's new share of traffic, the rollback (failed checks
reached ``threshold``) a ``rollback`` to 0%, the promotion an ``advance`` to 100%. Decisions
carry Flagger's time; when the canary runs behind the plan's phases the engine restates its
weight, as the Argo engine does.
"""
from __future__ import annotations

from typing import Optional

from rampsim.engine.events import CheckpointReport, CriterionResult, Decision, DecisionKind, Event, Status
from rampsim.gates.applied_weight import AppliedWeight
from rampsim.gates.flagger_canary import CanaryMachine, Tick
from rampsim.gates.flagger_model import FlaggerGate, FlaggerMetric
from rampsim.gates.queries import QueryProvider
from rampsim.plan.schema import Plan
from rampsim.telemetry import Telemetry
from rampsim.units import Kind, format_value

__all__ = ["FlaggerEngine"]


class FlaggerEngine:
    """Flagger's semantics behind the engine protocol (see the module docstring).

    ``report_ticks`` adds a :class:`~rampsim.engine.events.CheckpointReport` per analysed tick.
    """

    def __init__(self, plan: Plan, gate: FlaggerGate, queries: QueryProvider, *, report_ticks: bool = False) -> None:
        self.plan = plan
        self.gate = gate
        self.queries = queries
        self.report_ticks = report_ticks
        self.machine = CanaryMachine(gate)
        self._observed = -1
        self._applied = AppliedWeight(plan)
        self._last_traffic = 0.0

    @property
    def done(self) -> bool:
        return self.machine.done

    @property
    def ticks(self) -> list[Tick]:
        return self.machine.log

    def observe(self, telemetry: Telemetry, tick: int) -> list[Event]:
        """Events of every Flagger tick up to scrape ``tick``; scrapes in order, each once."""
        if tick != self._observed + 1:
            raise ValueError(f"scrapes must be observed in order: expected tick {self._observed + 1}, got {tick}")
        self._observed = tick
        if self.machine.done:
            return []
        now = float(telemetry.time[tick])
        events: list[Event] = []
        for step in self.machine.advance(now, self.queries(telemetry, tick)):
            if self.report_ticks and step.checks:
                events.append(self._report(step))
            decision = self._decision(step)
            if decision is not None:
                events.append(decision)
                self._applied.tell(now, decision.weight)
        traffic = self.machine.traffic
        if not self.machine.done and traffic != self._applied.at(now):
            events.append(Decision(now, DecisionKind.CONTINUE, traffic,
                                   f"Flagger keeps the canary at {traffic:.0%}", "flagger:weight"))
            self._applied.tell(now, traffic)
        return events

    def _decision(self, step: Tick) -> Optional[Decision]:
        source = f"flagger:tick:{step.number}"
        if step.action == "rollback":
            return Decision(step.time, DecisionKind.ROLLBACK, 0.0, step.message, source)
        if step.action == "promote":
            return Decision(step.time, DecisionKind.ADVANCE, 1.0, step.message, source)
        if step.action in ("advance", "iterate") and step.traffic != self._last_traffic:
            self._last_traffic = step.traffic
            return Decision(step.time, DecisionKind.CONTINUE, step.traffic, step.message, source)
        return None

    def _report(self, step: Tick) -> CheckpointReport:
        results = tuple(CriterionResult(check.metric, check.message or "passed",
                                        *_target(self.gate.analysis.metrics.get(check.metric)), check.value,
                                        Status.PASS if check.passed else Status.FAIL, "number")
                        for check in step.checks)
        status = Status.PASS if all(check.passed for check in step.checks) else Status.FAIL
        return CheckpointReport(step.time, f"flagger:tick:{step.number}", f"tick {step.number}", results, status,
                                (f"failed checks {step.failed_checks}",))


def _target(metric: Optional[FlaggerMetric]) -> tuple[str, float]:
    """The bound(s) a check holds its value to, as a report's target (``op``, ``threshold``): ``thresholdRange``'s
    (both: ``>= min and <= max``), else the legacy ``threshold`` (``runBuiltinMetricChecks``: the success rate fails
    below it, every other check above it)."""
    if metric is None:
        return "", 0.0
    bounds = metric.thresholdRange
    if bounds is not None:
        if bounds.min is not None and bounds.max is not None:
            return f">= {format_value(float(bounds.min), Kind.NUMBER)} and <=", float(bounds.max)
        if bounds.min is not None:
            return ">=", float(bounds.min)
        if bounds.max is not None:
            return "<=", float(bounds.max)
        return "", 0.0
    below = metric.name == "request-success-rate" and not metric.query
    return (">=" if below else "<="), float(metric.threshold or 0.0)
