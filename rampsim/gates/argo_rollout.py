"""An Argo Rollout's canary steps and analyses as a pure, time-driven state machine (rule A5).

Follows ``rollout/canary.go`` and ``rollout/analysis.go`` (``reconcileStepBasedAnalysisRun``,
``reconcileBackgroundAnalysisRun``): the steps run in order from the start of the rollout;
``setWeight`` moves the canary weight at once; ``pause`` with a duration waits that long, and
without one waits for a person to promote (:class:`~rampsim.gates.argo_model.Assumptions`);
an ``analysis`` step starts an AnalysisRun and blocks until it ends Successful (a run that
measures until terminated ends when the person promotes past the step, which terminates it as
Successful). The background analysis (``strategy.canary.analysis``) starts when the step index
reaches ``startingStep`` and runs beside the steps until the rollout is fully promoted, which
terminates it. For either kind of run: **Failed or Error → abort** (the canary goes back to 0),
**Inconclusive → pause** (rampsim ends the automated ramp there: a hold at the current weight).
When the last step completes the rollout is fully promoted (100%).

``experiment``, ``setCanaryScale``, ``setHeaderRoute``, ``setMirrorRoute`` and ``plugin`` steps take
no time and do not change the weight. Reconcile delays and query latency are zero.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Optional

from rampsim.gates.argo_analysis import TOLERANCE, AnalysisRun, ArgoMeasurement, AnalysisPhase
from rampsim.engine.events import MANUAL_SOURCE
from rampsim.gates.argo_model import ArgoGate, RolloutAnalysis, Step
from rampsim.gates.argo_resolve import _RunError, run_metrics
from rampsim.gates.queries import QueryFunction

__all__ = ["RolloutOutcome", "Transition", "RolloutMachine"]


class RolloutOutcome(str, enum.Enum):
    """How the rollout ended, if it did."""

    PROMOTED = "promoted"
    ABORTED = "aborted"
    PAUSED = "paused"


@dataclass(frozen=True)
class Transition:
    """Something the rollout did at ``time``: a new weight, or its end."""

    time: float
    weight: float
    reason: str
    source: str
    outcome: Optional[RolloutOutcome] = None


class RolloutMachine:
    """The rollout of one new revision, from ``start`` (see the module docstring)."""

    def __init__(self, gate: ArgoGate, start: float = 0.0, nominal: bool = False) -> None:
        self.gate = gate
        self.nominal = nominal
        self.now = start
        self.weight = 0.0
        self.step = 0
        self.step_started = start
        self.step_run: Optional[AnalysisRun] = None
        self.background: Optional[AnalysisRun] = None
        self.outcome: Optional[RolloutOutcome] = None
        self.runs: list[AnalysisRun] = []
        self._pending: list[Transition] = []
        self.assumed: list[str] = []  # the promotions a person is assumed to have made (argo.assume)
        self._enter_steps()

    # -- the steps -----------------------------------------------------------------

    @property
    def done(self) -> bool:
        return self.outcome is not None

    def _start_run(self, name: str, analysis: RolloutAnalysis) -> AnalysisRun:
        try:
            specs = run_metrics(self.gate, analysis)
            run = AnalysisRun(name, specs, self.now, nominal=self.nominal)
        except _RunError as exc:  # Argo fails the run before measuring (nominal: the schedule ignores it)
            run = AnalysisRun(name, [], self.now, error=None if self.nominal else str(exc), nominal=self.nominal)
        self.runs.append(run)
        return run

    def _maybe_start_background(self) -> None:
        analysis = self.gate.rollout.analysis
        if analysis is None or self.background is not None or self.done:
            return
        if self.step >= (analysis.startingStep or 0):
            self.background = self._start_run("background", analysis)
            self._react(self.background, "background analysis")

    def _enter_steps(self) -> None:
        """Run every step that takes no time from the current one on, at ``self.now``."""
        steps = self.gate.rollout.steps
        while not self.done:
            self._maybe_start_background()
            if self.done:
                return
            if self.step >= len(steps):
                self._finish(RolloutOutcome.PROMOTED, 1.0, "rollout completed: all steps done, fully promoted", "complete")
                return
            step = steps[self.step]
            if step.setWeight is not None:
                weight = step.setWeight / 100.0
                if weight != self.weight:
                    self.weight = weight
                    self._pending.append(Transition(self.now, weight, f"step {self.step}: setWeight {step.setWeight}",
                                                    f"argo:step:{self.step}"))
                self._next_step()
                continue
            if step.pause is not None:
                return
            if step.analysis is not None:
                if self.step_run is None:
                    self.step_run = self._start_run(f"step-{self.step}", step.analysis)
                    self._react(self.step_run, f"step {self.step} analysis")  # moves on if it ended at once
                return
            self._next_step()  # experiment, setCanaryScale, routes, plugin: no time, no weight

    def _next_step(self) -> None:
        self.step += 1
        self.step_started = self.now
        self.step_run = None

    # -- time ----------------------------------------------------------------------

    def _pause_end(self) -> Optional[float]:
        steps = self.gate.rollout.steps
        if self.done or self.step >= len(steps):
            return None
        step = steps[self.step]
        promote = self.gate.assume.promotion_after
        if step.pause is not None:
            seconds = step.pause.seconds
            if seconds is None:
                return None if promote is None else self.step_started + promote
            return self.step_started + seconds
        if step.analysis is not None and self.step_run is not None and self.step_run.endless:
            return None if promote is None else self.step_started + promote
        return None

    def moves_on(self) -> bool:
        """Whether the rollout, not yet done, moves on by itself: a timed pause or a step's analysis ahead, rather
        than a wait for a person (a background analysis alone measures forever and moves no step)."""
        run = self.step_run
        return not self.done and (self._pause_end() is not None
                                  or (run is not None and not run.endless and run.next_due() is not None))

    def next_time(self) -> Optional[float]:
        """When the rollout next has something to do."""
        if self.done:
            return None
        times = [t for t in (self._pause_end(),
                             self.step_run.next_due() if self.step_run else None,
                             self.background.next_due() if self.background else None) if t is not None]
        return min(times) if times else None

    def advance(self, until: float, query: Optional[QueryFunction]) -> list[Transition]:
        """Everything the rollout does up to ``until`` (inclusive), in time order."""
        out = self._flush()
        while not self.done:
            at = self.next_time()
            if at is None or at > until + TOLERANCE:
                break
            self.now = max(self.now, at)
            self._at(self.now, query)
            out.extend(self._flush())
        return out

    def _flush(self) -> list[Transition]:
        pending, self._pending = self._pending, []
        return pending

    def _at(self, at: float, query: Optional[QueryFunction]) -> None:
        for run in (self.step_run, self.background):
            if run is not None and not run.completed:
                due = run.next_due()
                if due is not None and due <= at + TOLERANCE:
                    run.reconcile(at, query)
        for run, label in ((self.background, "background analysis"), (self.step_run, f"step {self.step} analysis")):
            if run is not None and not self.done:
                self._react(run, label)
        if self.done:
            return
        end = self._pause_end()
        if end is not None and end <= at + TOLERANCE:
            step = self.gate.rollout.steps[self.step]
            if step.analysis is not None and self.step_run is not None:
                self.step_run.terminate(at, "promoted past the step")
            promoted = self._manual_promotion(step)
            if promoted is not None:
                self.assumed.append(promoted)
            before = len(self._pending)
            self._next_step()
            self._enter_steps()
            if promoted is not None:
                self._tell_promotion(promoted, before, at)

    def _manual_promotion(self, step: Step) -> Optional[str]:
        """What a person is assumed to do to end ``step`` now (``None``: the step ends on its own, a timed pause)."""
        if step.pause is not None and step.pause.seconds is not None:
            return None
        what = "an indefinite pause" if step.pause is not None else "an analysis that never ends on its own"
        after = self.gate.assume.manual_promotion_after
        return (f"a person promoted past step {self.step} ({what}: Argo waits for them; assumed {after} after the "
                f"step began, argo.assume.manual_promotion_after)")

    def _tell_promotion(self, promoted: str, before: int, at: float) -> None:
        """Say the assumed promotion in the first transition it led to, or in one of its own."""
        fresh = self._pending[before:]
        if fresh and abs(fresh[0].time - at) <= TOLERANCE:
            first = fresh[0]
            source = MANUAL_SOURCE if first.outcome is RolloutOutcome.PROMOTED else first.source
            reason = first.reason if first.outcome is RolloutOutcome.PROMOTED else f"{promoted}; {first.reason}"
            self._pending[before] = Transition(first.time, first.weight, reason, source, first.outcome)
        else:
            self._pending.insert(before, Transition(at, self.weight, promoted, MANUAL_SOURCE))

    def _react(self, run: AnalysisRun, label: str) -> None:
        """The rollout's answer to a run's phase (A5)."""
        if not run.completed or self.done:
            return
        source = f"argo:{run.name}"
        if run.phase in (AnalysisPhase.FAILED, AnalysisPhase.ERROR):
            self._finish(RolloutOutcome.ABORTED, 0.0, f"{label} phase {run.phase.value}: {run.message}", source)
        elif run.phase is AnalysisPhase.INCONCLUSIVE:
            self._finish(RolloutOutcome.PAUSED, self.weight, f"{label} phase Inconclusive (rollout paused): {run.message}",
                         source)
        elif run is self.step_run:
            self._next_step()
            self._enter_steps()

    def _finish(self, outcome: RolloutOutcome, weight: float, reason: str, source: str) -> None:
        self.outcome = outcome
        if outcome is RolloutOutcome.PROMOTED and self.assumed:
            reason = f"{reason}, after {'; '.join(self.assumed)}"
            source = MANUAL_SOURCE
        if outcome is RolloutOutcome.PROMOTED and self.background is not None:
            self.background.terminate(self.now, "rollout fully promoted")
        self.weight = weight
        self._pending.append(Transition(self.now, weight, reason, source, outcome))

    # -- inspection ----------------------------------------------------------------

    def measurements(self) -> list[ArgoMeasurement]:
        """Every measurement taken so far, in time order."""
        return sorted((m for run in self.runs for m in run.log), key=lambda m: m.at)


def nominal_timeline(gate: ArgoGate, horizon: float = 30 * 86400.0
                     ) -> tuple[list[Transition], Optional[float], bool]:
    """The rollout's transitions up to ``horizon`` when every measurement succeeds, when it is fully promoted
    (``None``: not within ``horizon``), and, when it is not, whether it still moves on by itself there (it would
    complete later) rather than waiting for a person: the schedule an imported plan's phases follow."""
    machine = RolloutMachine(gate, nominal=True)
    transitions = machine.advance(horizon, None)
    end = next((t.time for t in transitions if t.outcome is RolloutOutcome.PROMOTED), None)
    return transitions, end if end is None or math.isfinite(end) else None, machine.moves_on()
