"""What a gate's hazards do to a healthy release: a few simulated healthy ramps, each outcome traced to its cause.

``rampsim lint`` reads a gate file statically (:mod:`rampsim.gates.lint`); the hazards that can stop
a healthy release (:data:`~rampsim.gates.lint.OUTCOME_CODES`: an always-Error condition, an
unguarded ``result[0]``, NaN on no traffic, a condition no value passes...) are then measured here: the imported gate, under
the plan rampsim would import it as (its Rollout's or Flagger's schedule, rampsim's *default*
traffic and SLO), rehearses a handful of healthy ramps (closed loop, no fault), each seed once,
with its controller's own engine over the simulated series of its exporter profile
(:func:`rampsim.sim.simulation.plan_engine`). A ramp longer than ``max_duration`` is cut there, so the
measurement stays quick (a hazard of this kind shows in the first minutes).

Each rehearsal's terminal decision is traced to what caused it, from the engine's own state:

* Argo: the AnalysisRun that ended the rollout, and each of its metrics that tripped — ``Error``
  (with ``Error:empty`` when a tripping error was a condition failing on an empty vector),
  ``Failed`` / ``Inconclusive`` (``:NaN`` when a counted measurement was NaN), or ``run-error``
  for every metric of a run Argo failed before measuring (an unresolvable tag);
* Flagger: the metrics whose failed checks counted toward ``threshold`` (``failed-check``, and
  ``no-values`` when Flagger found no values).

A finding's consequence is the share of healthy rehearsals its own cause decided, and when
(:func:`consequence`), e.g. "on 5 healthy simulated ramps: aborts 5 (100%) at ~40 s".
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from rampsim.engine.events import Decision, DecisionKind, first_terminal_decision
from rampsim.engine.protocol import Engine
from rampsim.gates.argo_analysis import AnalysisPhase, AnalysisRun, ArgoMeasurement
from rampsim.gates.argo_engine import ArgoEngine
from rampsim.gates.argo_model import ArgoGate
from rampsim.gates.flagger_engine import FlaggerEngine
from rampsim.gates.imported_plan import plan_data
from rampsim.gates.lint import Finding, LintedGate
from rampsim.gates.plan_sections import gated_plan_from_document
from rampsim.plan.schema import Plan
from rampsim.plan.source import Document
from rampsim.sim.simulation import plan_engine
from rampsim.units import Kind, format_value

__all__ = ["Rehearsal", "HealthyRehearsals", "rehearse_healthy", "rehearsal_plan", "consequence",
           "DEFAULT_SEEDS", "DEFAULT_MAX_DURATION", "CAUSES"]

DEFAULT_SEEDS = 5
"""Healthy ramps per gate: enough to tell "every time" from "sometimes", quick enough for a linter."""
DEFAULT_MAX_DURATION = 1800.0
"""Seconds of ramp simulated at most (a whole number of minutes: it falls on every scrape choice)."""

CAUSES: dict[str, tuple[str, ...]] = {
    "H1": ("Error",), "H7": ("Error",), "HQ": ("Error",),
    "H2": ("Error:empty",), "H4": ("Error:empty",),
    "H6": ("run-error",), "H6u": ("run-error",), "H8": ("run-error",),
    "H3a": ("Failed:NaN",), "H3c": ("Inconclusive:NaN",), "H5a": ("Failed",),
    "FH3": ("failed-check",), "FH4": ("failed-check",), "FH5": ("failed-check",), "FH8": ("failed-check",),
    "FH11": ("failed-check",),
    "FH10": ("no-values",),
}
"""The cause in a rehearsal that a finding's hazard produces (see the module docstring); one entry per code of
:data:`~rampsim.gates.lint.OUTCOME_CODES`."""


@dataclass(frozen=True)
class Rehearsal:
    """One healthy rehearsal: its seed, the terminal decision (``None``: none within the simulated ramp), and
    its causes: ``(metric key, cause)`` pairs (see the module docstring)."""

    seed: int
    decision: Optional[Decision]
    causes: frozenset[tuple[str, str]]
    counts: tuple[tuple[str, int], ...] = ()   # per tripping metric: the measurements (checks) that counted

    @property
    def kind(self) -> Optional[DecisionKind]:
        return None if self.decision is None else self.decision.kind


@dataclass(frozen=True)
class HealthyRehearsals:
    """The healthy rehearsals of one gate: the controller, how long each ramp was, and the rehearsals."""

    controller: str
    duration: float
    cut: bool                   # the plan's ramp was longer than the simulated one
    rehearsals: tuple[Rehearsal, ...]
    unsimulated: str = ""       # why the gate was not rehearsed (an unrendered Helm template), or empty

    def summary(self) -> str:
        """What the gate did, e.g. ``on 5 healthy simulated ramps the gate promotes 2, aborts 3 (at ~40 s)``."""
        if self.unsimulated:
            return f"not simulated: {self.unsimulated}"
        return f"{self.ramps} the gate {self.outcomes()}"

    @property
    def ramps(self) -> str:
        n = len(self.rehearsals)
        return f"on {n} healthy simulated ramp{'s' * (n != 1)}"

    def outcomes(self) -> str:
        """What the gate did on all of them, e.g. ``promotes 2, aborts 3 (at ~40 s)``."""
        parts = []
        for kind in (DecisionKind.ADVANCE, DecisionKind.ROLLBACK, DecisionKind.HOLD, None):
            runs = [r for r in self.rehearsals if r.kind is kind]
            if not runs:
                continue
            if kind is None:
                within = f"the {_duration(self.duration)} simulated" if self.cut else "the ramp"
                parts.append(f"leaves {len(runs)} undecided after {within}")
                continue
            when = "" if kind is DecisionKind.ADVANCE else f" at {_when([r.decision.time for r in runs if r.decision])}"
            parts.append(f"{_verb(kind, self.controller, self.duration, self.cut)} {len(runs)}{when}")
        return ", ".join(parts)


def rehearsal_plan(linted: LintedGate, max_duration: float = DEFAULT_MAX_DURATION) -> tuple[Plan, bool]:
    """The plan ``rampsim import`` would write for the gate (default traffic and SLO), its ramp cut at
    ``max_duration``; and whether it was cut."""
    data, _ = plan_data(linted.kind, linted.gate, linted.name)
    plan = gated_plan_from_document(Document(data=data, filename=f"{linted.name}.plan.yaml"))
    if plan.duration <= max_duration + 1e-9:
        return plan, False
    phases: list[dict[str, Any]] = []
    start = 0.0
    for phase in plan.phases:
        length = min(phase.duration, max_duration - start)
        phases.append({"name": phase.name, "weight": f"{phase.weight * 100:.10g}%", "duration": f"{length:g}s"})
        start += length
        if start >= max_duration - 1e-9:
            break
    cut = {**data, "phases": phases, "final_gate": {"at": f"{max_duration:g}s"}}
    return gated_plan_from_document(Document(data=cut, filename=f"{linted.name}.plan.yaml")), True


def rehearse_healthy(linted: LintedGate, seeds: int = DEFAULT_SEEDS,
                     max_duration: float = DEFAULT_MAX_DURATION) -> HealthyRehearsals:
    """``seeds`` healthy closed-loop rehearsals of the gate (seeds 0, 1, ...), each traced to its causes; none for a
    gate that cannot be simulated (:attr:`~rampsim.gates.lint.LintedGate.unsimulated`)."""
    from rampsim.sim import simulate  # the simulator (simpy) only when a measurement is asked for

    if seeds < 1:
        raise ValueError(f"need at least one seed, got {seeds}")
    if linted.unsimulated:
        return HealthyRehearsals(linted.kind, 0.0, False, (), linted.unsimulated)
    plan, cut = rehearsal_plan(linted, max_duration)
    rehearsals = []
    for seed in range(seeds):
        engines: list[Engine] = []

        def factory(run_plan: Plan) -> Engine:
            engine = plan_engine(run_plan)
            engines.append(engine)
            return engine

        run = simulate(plan, seed=seed, engine_factory=factory)
        decision = first_terminal_decision(run.events)
        causes, counts = _causes(engines[0], decision) if engines and decision is not None else (frozenset(), {})
        rehearsals.append(Rehearsal(seed, decision, causes, tuple(sorted(counts.items()))))
    return HealthyRehearsals(linted.kind, plan.duration, cut, tuple(rehearsals))


def consequence(finding: Finding, rehearsed: HealthyRehearsals) -> str:
    """What ``finding``'s hazard did on the healthy rehearsals (empty for a hazard that cannot stop a release)."""
    wanted = CAUSES.get(finding.code)
    if wanted is None or rehearsed.unsimulated:
        return ""
    hit = [r for r in rehearsed.rehearsals if r.decision is not None and r.kind is not DecisionKind.ADVANCE
           and any((finding.metric is None or metric == finding.metric) and cause in wanted
                   for metric, cause in r.causes)]
    n = len(rehearsed.rehearsals)
    if not hit:
        if all(r.kind is DecisionKind.ADVANCE for r in rehearsed.rehearsals):
            return f"{rehearsed.ramps}: stopped none (the gate promotes {n} of {n})"
        return f"{rehearsed.ramps}: stopped none itself (the gate {rehearsed.outcomes()}, another cause first)"
    by_kind: dict[Optional[DecisionKind], list[Rehearsal]] = {}
    for r in hit:
        by_kind.setdefault(r.kind, []).append(r)
    parts = []
    for kind, runs in by_kind.items():
        share = len(runs) / n
        times = [r.decision.time for r in runs if r.decision is not None]
        counted = [dict(r.counts).get(finding.metric or "", 0) for r in runs]
        after = ""
        if finding.metric is not None and all(counted):
            what = ("failed checks" if rehearsed.controller == "flagger"
                    else "Error measurements" if "Error" in CAUSES[finding.code][0] or "run-error" in CAUSES[finding.code]
                    else f"{CAUSES[finding.code][0].split(':')[0]} measurements")
            after = f", after {statistics.median(counted):g} {what}"
        parts.append(f"{_verb(kind, rehearsed.controller, rehearsed.duration, rehearsed.cut)} {len(runs)} of {n} "
                     f"({share:.0%}) at {_when(times)}{after}")
    return f"{rehearsed.ramps}: {' and '.join(parts)}"


# -- causes ------------------------------------------------------------------------------

Causes = tuple[frozenset[tuple[str, str]], dict[str, int]]


def _causes(engine: Engine, decision: Decision) -> Causes:
    if isinstance(engine, ArgoEngine):
        return _argo_causes(engine, decision)
    if isinstance(engine, FlaggerEngine):
        return _flagger_causes(engine)
    return frozenset(), {}


_TRIPPED = (AnalysisPhase.FAILED, AnalysisPhase.ERROR, AnalysisPhase.INCONCLUSIVE)


def _argo_causes(engine: ArgoEngine, decision: Decision) -> Causes:
    name = decision.source.removeprefix("argo:")
    run = next((r for r in reversed(engine.machine.runs) if r.name == name and r.phase in _TRIPPED), None)
    causes: set[tuple[str, str]] = set()
    counts: dict[str, int] = {}
    if run is None:
        return frozenset(), counts
    if not run.metrics:  # Argo failed the run before measuring: every metric of its templates
        for key in _run_metric_keys(engine.gate, run):
            causes.add((key, "run-error"))
        return frozenset(causes), counts
    for state in run.metrics:
        if state.spec.dry_run or state.phase not in _TRIPPED:
            continue
        key, phase = state.spec.key, state.phase
        causes.add((key, phase.value))
        counted = [m for m in state.measurements if m.phase is phase]
        if phase is AnalysisPhase.ERROR:
            counted = counted[-max(state.consecutive_error, 1):]
            if any(isinstance(m.value, list) and not m.value for m in counted):
                causes.add((key, "Error:empty"))
        elif any(_nan(m) for m in counted):
            causes.add((key, f"{phase.value}:NaN"))
        counts[key] = len(counted)
    return frozenset(causes), counts


def _run_metric_keys(gate: ArgoGate, run: AnalysisRun) -> list[str]:
    if run.name == "background":
        analysis = gate.rollout.analysis
    else:
        index = int(run.name.removeprefix("step-")) if run.name.removeprefix("step-").isdigit() else -1
        steps = gate.rollout.steps
        analysis = steps[index].analysis if 0 <= index < len(steps) else None
    if analysis is None:
        return list(gate.metrics)
    templates = {ref.templateName for ref in analysis.templates}
    return [key for key, metric in gate.metrics.items() if metric.template in templates]


def _nan(measurement: ArgoMeasurement) -> bool:
    value = measurement.value
    values = value if isinstance(value, list) else [value]
    return any(isinstance(v, float) and math.isnan(v) for v in values)


def _flagger_causes(engine: FlaggerEngine) -> Causes:
    causes: set[tuple[str, str]] = set()
    counts: dict[str, int] = {}
    for tick in engine.ticks:
        if tick.action == "halt" and tick.checks and not tick.checks[-1].passed:
            check = tick.checks[-1]
            causes.add((check.metric, "failed-check"))
            counts[check.metric] = counts.get(check.metric, 0) + 1
            if "no values" in check.message:
                causes.add((check.metric, "no-values"))
    return frozenset(causes), counts


# -- words -------------------------------------------------------------------------------

def _verb(kind: Optional[DecisionKind], controller: str, duration: float, cut: bool) -> str:
    if kind is DecisionKind.ADVANCE:
        return "promotes"
    if kind is DecisionKind.ROLLBACK:
        return "aborts" if controller == "argo" else "rolls back"
    if kind is DecisionKind.HOLD:
        return "pauses"
    return f"has not decided by {_duration(duration)}" + (" (the ramp simulated so far)" if cut else "")


def _duration(seconds: float) -> str:
    return format_value(seconds, Kind.DURATION)


def _when(times: Sequence[float]) -> str:
    """``~40 s``, or ``~40 s (30 s to 2 min)`` when the times spread."""
    if not times:
        return "an unknown time"
    middle = statistics.median(times)
    low, high = min(times), max(times)
    spread = f" ({_duration(low)} to {_duration(high)})" if _duration(low) != _duration(high) else ""
    return f"~{_duration(middle)}{spread}"
