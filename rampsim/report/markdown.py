"""The results report in Markdown, with the sections a ramp's runbook asks for after it.

All checkpoint metrics, the go/no-go decision and its rationale, the final metrics
summary, business impact, alerts and decisions, the rehearsal's ground truth,
rollout readiness (GO) or a remediation plan (NO-GO), and the sign-offs a team still
has to tick. The checklists are the plan's own (its ``report`` section, the
reference plan's carrying its runbook's); a plan without them gets checklists
derived from its rules and criteria (:func:`readiness`, :func:`remediation`,
:func:`sign_off`).
"""
from __future__ import annotations

from typing import Optional

from rampsim.engine.events import (
    AlertFired, CheckpointReport, Decision, DecisionKind, MANUAL_SOURCE, Status, first_terminal_decision,
)
from rampsim.report.checklist import (
    achieved, advanced_to, go_no_go, note_label, target, timeline, truth_comparison, undecided, unreached,
)
from rampsim.report.readings import summary
from rampsim.sim.clock import clock
from rampsim.sim.run import Run
from rampsim.units import Kind, format_value

__all__ = ["markdown_report", "readiness", "remediation", "sign_off"]


def _ratio(value: float) -> str:
    return format_value(value, Kind.RATIO)


def _cell(text: str) -> str:
    """Plan text on one line of a Markdown table (or heading): its ``|`` escaped, line breaks as spaces."""
    return " ".join(text.replace("|", "\\|").split())


def _checkpoint_tables(run: Run) -> list[str]:
    lines: list[str] = []
    for event in run.events:
        if not isinstance(event, CheckpointReport):
            continue
        lines += [f"### {_cell(event.title)} (at {clock(event.time)}): {event.status.value}", "",
                  "| criterion | measure | target | achieved | status |", "| --- | --- | --- | --- | --- |"]
        for r in event.results:
            lines.append(f"| {_cell(r.name)} | {_cell(r.description)} | {target(r)} | {achieved(r)} "
                         f"| **{r.status.value}** |")
        lines += [f"- {note_label(run)}: {note}" for note in event.notes]
        if event.manual:
            lines += ["", "Manual items (not simulated):", *_boxes(list(event.manual))]
        lines.append("")
    skipped = unreached(run)
    if skipped:
        lines += [f"Not reached, the ramp having ended: {', '.join(skipped)}.", ""]
    return lines


def readiness(run: Run) -> list[str]:
    """The checklist after an advance: the plan's ``report.readiness``, or the advance and the rules to keep."""
    plan = run.plan
    if plan.report.readiness:
        return plan.report.readiness
    decision = first_terminal_decision(run.events)
    weight = format_value(decision.weight if decision else plan.actions.advance, Kind.RATIO)
    items = [f"Confirm that the new release takes {weight} of the traffic"]
    stopping = [name for name, rule in plan.rules.items() if rule.action in ("hold", "rollback")]
    if stopping:
        items.append(f"Keep alerting after the advance on the rules that would have stopped the ramp: "
                     f"{', '.join(stopping)}")
    return items


def remediation(run: Run) -> tuple[list[str], list[str]]:
    """The options and actions after a hold or rollback: the plan's ``report.remediation``, or derived from what
    stopped the ramp (the rule that fired, the checkpoint criteria that failed)."""
    written = run.plan.report.remediation
    if written is not None:
        return written.options, written.actions or []
    decision = first_terminal_decision(run.events)
    if decision is None:
        return ["Find why no rule or checkpoint decided, and rehearse the ramp again"], []
    kind, _, name = decision.source.partition(":")
    stopped_by = f"{kind} {name}" if name else decision.source
    options = ["Fix the release and rehearse the ramp again",
               f"If the release is sound, revisit {stopped_by} (a sweep shows what each threshold costs)"]
    return options, _causes(run, decision)


def _causes(run: Run, decision: Decision) -> list[str]:
    """One item per cause of ``decision``, in the plan's words and units."""
    kind, _, name = decision.source.partition(":")
    if kind == "rule" and name in run.plan.rules:
        rule = run.plan.rules[name]
        alert = next((e for e in reversed(run.events) if isinstance(e, AlertFired) and e.rule == name
                      and e.time <= decision.time), None)
        value = f" (value {format_value(alert.value, rule.kind)})" if alert is not None and alert.value is not None \
            else ""
        return [f"Find the cause of rule {name} firing: {rule.describe()}{value}"]
    report = next((e for e in run.events if isinstance(e, CheckpointReport) and e.checkpoint == name
                   and e.time == decision.time), None) if kind == "checkpoint" else None
    if report is None:
        return [f"Find the cause: {decision.reason}"]
    causes = [f"Find the cause of {r.name} failing at {report.title}: {r.description} (achieved {achieved(r)})"
              for r in report.results if r.status is Status.FAIL]
    causes += [f"Restore the data {r.name} reads at {report.title}: {r.description} was inconclusive"
               for r in report.results if r.status is Status.INCONCLUSIVE]
    return causes + [f"Meet the gate requirement: {note}" for note in report.notes]


def sign_off(run: Run) -> list[str]:
    """Who signs the decision off: the plan's ``report.sign_off``, else its final gate's manual items."""
    plan = run.plan
    if plan.report.sign_off:
        return plan.report.sign_off
    if plan.final_gate.manual:
        return list(plan.final_gate.manual)
    verdict = "GO" if run.outcome.decision is DecisionKind.ADVANCE else "NO-GO"
    return [f"Owner of {plan.name}: approval of this {verdict}"]


def _boxes(items: list[str]) -> list[str]:
    return [f"- [ ] {item}" for item in items]


def _outcome_section(run: Run) -> list[str]:
    o = run.outcome
    if o.decision is DecisionKind.ADVANCE:
        decision = first_terminal_decision(run.events)
        weight = decision.weight if decision else run.plan.actions.advance
        missed = ([f"**The gate let an incident through**: {run.truth.describe()}. The checklist below is what the "
                   "gate's criteria say, not a clean bill of health: find why they did not see it.", ""]
                  if run.truth.counted else [])
        advances = (f"The gate did not advance to {advanced_to(weight)} on its own: the controller waits for a "
                    f"person, and rampsim assumed one promoted: {decision.reason}."
                    if decision is not None and decision.source == MANUAL_SOURCE else
                    f"All the gate's success criteria held for the whole window: the gate auto-advances to "
                    f"{advanced_to(weight)}.")
        return ["## Rollout readiness", "", *missed, advances, "",
                *_boxes(readiness(run)), ""]
    if o.decision is None:
        return ["## Outcome", "", f"The ramp ended without a terminal decision: {undecided(run)}. Nothing advanced "
                "the canary and nothing stopped it; a ramp left at its last weight needs a person to decide.", "",
                *_boxes(["Decide by hand: advance or roll back, reading the checkpoint log above",
                         "Make the plan decide: a final gate whose on_pass advances (and on_fail holds or rolls back)"]),
                ""]
    faults = run.scenario.faults
    lines = ["## Remediation plan", "", f"The gate stopped the ramp at {clock(o.time or 0.0)}: {o.reason}.", ""]
    if o.before_fault:
        lines += ["It stopped before the gate saw a request any injected fault acted on: this stop is a **false "
                  "alarm** of the gate itself, on a release still healthy. Review the criterion that failed before "
                  "blaming the release; the injected fault was never put to the gate.", ""]
    elif not run.truth.incident:
        injected = ("The injected faults did not breach the SLO (they are not the cause to look for)"
                    if faults else "No fault was injected")
        lines += [f"{injected} and the SLO held: this stop is a **false alarm** of the gate itself. "
                  "Review the criterion that failed before blaming the release.", ""]
    elif faults:
        lines += ["Injected in this rehearsal (the root cause a real investigation would have to find):", ""]
        lines += [f"- {fault.describe()}" for fault in faults] + [""]
    if run.truth.cause == "environment":
        lines += ["The SLO breach came from outside the release (an **environment incident**): stopping the canary "
                  "does not fix it. Restore the shared infrastructure, then resume the ramp.", ""]
    elif run.truth.cause == "service":
        lines += ["The simulated service breaches the SLO with no fault at all: the plan's `traffic:` section (base "
                  "error rates, latency, or instances too few for a phase's weight) does not model a healthy "
                  "service. Fix the model before reading the gate's verdict.", ""]
    options, actions = remediation(run)
    lines += ["Options:", "", *_boxes(options), ""]
    return lines + ([*_boxes(actions), ""] if actions else [])


def markdown_report(run: Run, chart: Optional[str] = "timeline.png") -> str:
    """The whole report; ``chart`` is the timeline image's path relative to the report, if any."""
    plan, o = run.plan, run.outcome
    if o.decision is not None:   # after an advance, the traffic is the promoted release's, not the canary's
        assert o.time is not None  # an outcome with a decision has its time (outcome())
        end = int(round(o.time / plan.telemetry.scrape_interval))
        span = f"from the start to the decision at {clock(o.time)}"
    else:
        end = len(run.telemetry) - 1
        span = "the whole window"
    s = summary(run.telemetry, end)
    days = 24 * 60 * s.revenue_per_minute if s.revenue_per_minute == s.revenue_per_minute else float("nan")
    lines = [f"# Ramp phase results: {plan.name}", "",
             f"Rehearsal with rampsim: seed {run.seed}, {run.fidelity} fidelity, "
             f"{format_value(plan.duration, Kind.DURATION)} window.", ""]
    lines += ["Faults injected:", ""] + ([f"- {f.describe()}" for f in run.scenario.faults] or ["- none"]) + [""]
    lines += ["## Go/no-go decision and rationale", "", *[f"**{line}**" if i == 0 else line
                                                         for i, line in enumerate(go_no_go(run))], ""]
    lines += ["## Checkpoint metrics", "", *_checkpoint_tables(run)]
    lines += [f"## Final metrics summary (canary, {span})", "", "| metric | value |", "| --- | --- |",
              f"| total requests | {s.requests:,.0f} |", f"| total errors | {s.errors:,.0f} |",
              f"| error rate | {_ratio(s.error_rate)} |",
              f"| average latency | {format_value(s.average_latency, Kind.DURATION)} |",
              f"| P99 latency | {format_value(s.p99, Kind.DURATION)} |",
              f"| availability | {_ratio(s.availability)} |",
              f"| peak TPS (1-minute) | {s.peak_rps:,.0f} requests/s |",
              f"| cache hit rate | {_ratio(s.cache_hit_rate)} |"]
    lines += [f"| error rate, segment {_cell(name)} | {_ratio(rate)} |" for name, rate in s.segment_error_rates.items()]
    lines += ["", "## Business impact", "",
              f"- Revenue on the canary: {format_value(s.revenue_per_minute, Kind.DOLLARS_PER_MINUTE)} "
              f"(projected 24 hours: {format_value(days, Kind.DOLLARS)})",
              f"- Revenue per request versus baseline: {'+' if s.revenue_delta > 0 else ''}{_ratio(s.revenue_delta)}",
              f"- Learner requests harmed before the decision: {o.harmed:,.0f} of {o.canary_requests:,.0f}", ""]
    lines += ["## Alerts and decisions", "", "```", *timeline(run), "```", ""]
    lines += ["## Ground truth (rehearsal)", "", *[f"- {line}" for line in truth_comparison(run)], ""]
    lines += _outcome_section(run)
    lines += ["## Sign-off (manual)", "", *_boxes(sign_off(run)), ""]
    if chart:
        lines += ["## Timeline", "", f"![timeline]({chart})", ""]
    return "\n".join(lines)
