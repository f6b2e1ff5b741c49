"""An imported Argo Rollouts gate as a rampsim engine (:class:`rampsim.engine.Engine`).

At each scrape the engine runs the rollout (:class:`~rampsim.gates.argo_rollout.RolloutMachine`)
up to the scrape's time: every measurement due by then is taken *at its own time* (not rounded
to a scrape), its query answered by the injected :data:`~rampsim.gates.queries.QueryProvider`.
What the rollout does becomes decisions, as the reference engine reports them:

=====================================  ==================================================
Argo                                   decision
=====================================  ==================================================
``setWeight`` (a new canary weight)    ``continue`` with the weight
run Failed or Error (abort)            ``rollback`` to 0%
run Inconclusive (rollout paused)      ``hold`` at the current weight
all steps done (fully promoted)        ``advance`` to 100%
=====================================  ==================================================

A decision carries the time Argo took it. The simulator moves traffic along the plan's phases,
which follow the rollout's schedule when every analysis passes on time; when the rollout runs
behind them (analyses retried, a longer step), the engine restates its own weight.
"""
from __future__ import annotations

from rampsim.engine.events import CheckpointReport, CriterionResult, Decision, DecisionKind, Event, Status
from rampsim.gates.applied_weight import AppliedWeight
from rampsim.gates.argo_analysis import ArgoMeasurement, AnalysisPhase
from rampsim.gates.argo_model import ArgoGate
from rampsim.gates.argo_rollout import RolloutOutcome, RolloutMachine
from rampsim.gates.exprlang import ConditionError, threshold_literals
from rampsim.gates.queries import QueryProvider
from rampsim.plan.schema import Plan
from rampsim.telemetry import Telemetry

__all__ = ["ArgoEngine", "DECISIONS"]

DECISIONS = {None: DecisionKind.CONTINUE, RolloutOutcome.ABORTED: DecisionKind.ROLLBACK,
             RolloutOutcome.PAUSED: DecisionKind.HOLD,
             RolloutOutcome.PROMOTED: DecisionKind.ADVANCE}
_STATUS = {AnalysisPhase.SUCCESSFUL: Status.PASS, AnalysisPhase.FAILED: Status.FAIL}


def _threshold(condition: str) -> float:
    """The one number ``condition`` compares the result with (0 when there is not exactly one)."""
    try:
        found = threshold_literals(condition) if condition else []
    except ConditionError:
        return 0.0
    return found[0][2] if len(found) == 1 else 0.0


class ArgoEngine:
    """Argo Rollouts' semantics behind the engine protocol (see the module docstring).

    ``report_measurements`` adds a :class:`~rampsim.engine.events.CheckpointReport` per measurement
    (``argo:<metric>``; Error and Inconclusive are inconclusive), for logs and charts.
    """

    def __init__(self, plan: Plan, gate: ArgoGate, queries: QueryProvider, *, report_measurements: bool = False) -> None:
        self.plan = plan
        self.gate = gate
        self.queries = queries
        self.report_measurements = report_measurements
        self.machine = RolloutMachine(gate)
        self._observed = -1
        self._applied = AppliedWeight(plan)
        self._reported = 0
        self._finished = False  # the terminal decision was reported (a run can fail as it starts, at time 0)

    @property
    def done(self) -> bool:
        return self.machine.done

    @property
    def weight(self) -> float:
        return self.machine.weight

    def measurements(self) -> list[ArgoMeasurement]:
        """Every measurement taken so far, in time order."""
        return self.machine.measurements()

    def observe(self, telemetry: Telemetry, tick: int) -> list[Event]:
        """Events of everything the rollout did up to scrape ``tick``; scrapes in order, each once."""
        if tick != self._observed + 1:
            raise ValueError(f"scrapes must be observed in order: expected tick {self._observed + 1}, got {tick}")
        self._observed = tick
        if self._finished:
            return []
        now = float(telemetry.time[tick])
        transitions = self.machine.advance(now, None if self.machine.done else self.queries(telemetry, tick))
        self._finished = self.machine.done
        events: list[Event] = []
        if self.report_measurements:
            events.extend(self._reports())
        for transition in transitions:
            kind = DECISIONS[transition.outcome]
            events.append(Decision(transition.time, kind, transition.weight, transition.reason, transition.source))
            self._applied.tell(now, transition.weight)
        if not self.machine.done and self.machine.weight != self._applied.at(now):
            events.append(Decision(now, DecisionKind.CONTINUE, self.machine.weight,
                                   f"Argo keeps the canary at {self.machine.weight:.0%} (step {self.machine.step})",
                                   "argo:weight"))
            self._applied.tell(now, self.machine.weight)
        return events

    def _reports(self) -> list[Event]:
        taken = self.machine.measurements()
        fresh, self._reported = taken[self._reported:], len(taken)
        reports: list[Event] = []
        for m in fresh:
            value = m.value[0] if isinstance(m.value, list) and m.value else m.value
            number = float(value) if isinstance(value, (int, float)) and value == value else None
            metric = self.gate.metrics.get(m.metric)
            condition = (metric.successCondition or metric.failureCondition or "") if metric else ""
            result = CriterionResult(m.metric, condition, "", _threshold(condition), number,
                                     _STATUS.get(m.phase, Status.INCONCLUSIVE), "number")
            notes = (f"{m.phase.value}: {m.message}",) if m.message else (m.phase.value,)
            reports.append(CheckpointReport(m.at, f"argo:{m.metric}", m.metric, (result,), result.status, notes))
        return reports
