"""The rehearsal in the plan's own words: checkpoint checklists, timeline, GO/NO-GO.

Plain text, for the terminal and for the Markdown report: each checkpoint with
each criterion's target, achieved value and ``[x] PASS / [ ] FAIL`` box (the plan's
names, thresholds and units), the plan's manual items as unchecked boxes (rampsim
cannot tick them), and the decision.
"""
from __future__ import annotations

from typing import Optional

from rampsim.engine.events import (
    AlertFired, AlertResolved, CheckpointReport, CriterionResult, Decision, DecisionKind, Event, MANUAL_SOURCE, Status,
    first_terminal_decision,
)
from rampsim.sim.clock import clock
from rampsim.sim.run import Run
from rampsim.units import Kind, format_value

__all__ = ["checkpoint_log", "timeline", "go_no_go", "undecided", "truth_comparison", "achieved", "target", "advanced_to"]

_DECISION_BOXES = (("continue", "Continue"), ("hold", "Hold"), ("rollback", "Abort"), ("advance", "Advance"))


def achieved(result: CriterionResult) -> str:
    """A criterion's achieved value in its unit (``n/a`` when inconclusive)."""
    if result.value is None:
        return "n/a (no data)"
    return format_value(result.value, Kind(result.unit))


def target(result: CriterionResult) -> str:
    """A criterion's target in the plan's unit, e.g. ``< 0.5%``."""
    return f"{result.op} {format_value(result.threshold, Kind(result.unit))}"


def advanced_to(weight: float) -> str:
    """Where an advance takes the canary: the rollout at 100%, else the plan's advance weight."""
    return "rollout (100% traffic)" if weight >= 1 else f"{format_value(weight, Kind.RATIO)} canary traffic"


def _status_box(status: Status) -> str:
    if status is Status.INCONCLUSIVE:
        return "[ ] PASS / [ ] FAIL  (inconclusive: missing data)"
    return "[x] PASS / [ ] FAIL" if status is Status.PASS else "[ ] PASS / [x] FAIL"


def _decision_line(decision: Optional[Decision]) -> str:
    chosen = decision.kind.value if decision else None
    boxes = " / ".join(f"[{'x' if chosen == key else ' '}] {label}" for key, label in _DECISION_BOXES)
    return f"DECISION: {boxes}"


def note_label(run: Run) -> str:
    """How a report's notes read: a plan checkpoint's are the final gate's unmet requirements; a Kayenta
    analysis's are what it measured (its score and window, the judge's reason); an Argo or Flagger measurement's its
    phase and message."""
    return {"kayenta": "Analysis", "argo": "Argo", "flagger": "Flagger"}.get(run.plan.imported_gate or "",
                                                                             "Gate requirement not met")


def unreached(run: Run) -> list[str]:
    """The plan's checkpoints the ramp ended before; none under an imported gate, whose analyses replace them."""
    if run.plan.imported_gate is not None:
        return []
    reached = {e.checkpoint for e in run.events if isinstance(e, CheckpointReport)}
    return [name for name, _ in run.plan.ordered_checkpoints() if name not in reached]


def checkpoint_log(run: Run) -> list[str]:
    """Every checkpoint the run reached, in the runbook's checklist form."""
    lines: list[str] = []
    decisions = {(e.time, e.source): e for e in run.events if isinstance(e, Decision)}
    for event in run.events:
        if not isinstance(event, CheckpointReport):
            continue
        lines.append(f"{event.title.upper()}  (at {clock(event.time)})  {event.status.value}")
        for index, result in enumerate(event.results):
            corner = "┌─" if index == 0 else "├─"
            lines.append(f"{corner} {result.name}: {result.description}")
            lines.append(f"│  Target: {target(result)}   Achieved: {achieved(result)}")
            lines.append(f"│  Status: {_status_box(result.status)}")
        lines.extend(f"├─ {note_label(run)}: {note}" for note in event.notes)
        # a plan checkpoint decides as checkpoint:<name>; a Kayenta analysis as kayenta:analysis:<k>, its own name
        decision = decisions.get((event.time, f"checkpoint:{event.checkpoint}")) or decisions.get((event.time,
                                                                                                   event.checkpoint))
        if decision is not None or run.plan.imported_gate is None:   # a measurement decides nothing on its own
            lines.append(f"└─ {_decision_line(decision)}")
        if event.manual:
            lines.append("   Action items (manual, not simulated):")
            lines.extend(f"   - [ ] {item}" for item in event.manual)
        lines.append("")
    skipped = unreached(run)
    if skipped:
        lines.append(f"Not reached (the ramp had already ended): {', '.join(skipped)}")
        lines.append("")
    return lines


def timeline(run: Run) -> list[str]:
    """Faults, alerts, checkpoint verdicts and decisions in time order."""
    entries: list[tuple[float, int, str]] = []
    for note in run.fault_log:
        entries.append((note.time, 0, f"FAULT {note.what.upper():5s} {note.fault}"))
    kinds = {name: rule.kind for name, rule in run.plan.rules.items()}
    for event in run.events:
        entries.append((event.time, 1, _describe(event, kinds)))
    if run.truth.incident:
        assert run.truth.start is not None  # an incident has a start (ground_truth)
        cause = {"environment": "; an environment incident: the release did not cause it",
                 "service": "; the service's own, with no fault: the release did not cause it"}.get(
                     run.truth.cause or "", "")
        entries.append((run.truth.start, 2, f"TRUTH       SLO objective {run.truth.objective!r} breach begins "
                                            f"(expected metrics{cause})"))
    return [f"{clock(t)}  {text}" for t, _, text in sorted(entries, key=lambda e: (e[0], e[1]))]


def _describe(event: Event, kinds: dict[str, Kind]) -> str:
    if isinstance(event, AlertFired):
        value = format_value(event.value, kinds[event.rule]) if event.value is not None else "n/a"
        return (f"ALERT {event.severity.upper():8s} {event.rule}: {event.description} "
                f"(value {value}, breached since {clock(event.breach_start)})")
    if isinstance(event, AlertResolved):
        return f"RESOLVED    {event.rule}"
    if isinstance(event, CheckpointReport):
        return f"CHECKPOINT  {event.title}: {event.status.value}"
    return f"DECISION    {event.kind.value.upper()} to {format_value(event.weight, Kind.RATIO)} canary: {event.reason}"


def undecided(run: Run) -> str:
    """Why a run that reached no terminal decision ended where it did: its last decision, if any."""
    last = next((e for e in reversed(run.events) if isinstance(e, Decision)), None)
    if last is None:
        return "no checkpoint or rule decided"
    return (f"the last decision, {last.kind.value.upper()} at {clock(last.time)} ({last.reason}), "
            "does not end a ramp")


def go_no_go(run: Run) -> list[str]:
    """The final GO/NO-GO and its rationale."""
    o = run.outcome
    decision = first_terminal_decision(run.events)
    if decision is None or o.decision is None or o.time is None:
        return ["NO-GO: the ramp ended without a terminal decision", f"Rationale: {undecided(run)}."]
    if o.decision is DecisionKind.ADVANCE and decision.source == MANUAL_SOURCE:
        lines = [f"GO: ADVANCE TO {advanced_to(decision.weight).upper()} BY AN ASSUMED MANUAL PROMOTION",
                 f"Rationale: at {clock(o.time)}, {o.reason}. The gate did not advance on its own: the controller "
                 f"waits for a person, and rampsim assumed one promoted."]
        if run.truth.counted:
            lines.append(f"But the ground truth is an incident the assumed promotion let through: "
                         f"{run.truth.describe()}.")
        return lines
    if o.decision is DecisionKind.ADVANCE:
        lines = [f"GO: AUTO-ADVANCE TO {advanced_to(decision.weight).upper()}",
                 f"Rationale: {o.reason} at {clock(o.time)}; every success criterion of the gate held."]
        if run.truth.counted:   # a rehearsal knows what the gate did not
            lines.append(f"But the ground truth is an incident the gate let through: {run.truth.describe()}.")
        return lines
    verb = "AUTOMATIC ROLLBACK" if o.decision is DecisionKind.ROLLBACK else "HOLD FOR INVESTIGATION"
    weight = format_value(decision.weight, Kind.RATIO)
    return [f"NO-GO: {verb} to {weight} canary traffic at {clock(o.time)}", f"Rationale: {o.reason}."]


def truth_comparison(run: Run) -> list[str]:
    """The gate's outcome against the ground truth."""
    truth, o = run.truth, run.outcome
    judged = "neither agrees nor disagrees" if o.environment else "agrees" if o.agrees else "DISAGREES"
    lines = [f"Ground truth: {truth.describe()}.", f"Gate: {o.describe()} ({judged} with the ground truth)."]
    if o.detection_delay is not None:
        lines.append(f"Detection delay: {format_value(abs(o.detection_delay), Kind.DURATION)} "
                     f"{'after' if o.detection_delay >= 0 else 'before'} the SLO breach began.")
    lines.append(f"Learner requests harmed (canary, served while a fault acted) before the decision: "
                 f"{o.harmed:,.0f} of {o.canary_requests:,.0f}; over the whole run: {run.harmed_total:,.0f}.")
    return lines
