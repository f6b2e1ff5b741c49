"""The results report in Markdown, with the sections the runbook asks for after the ramp.

All checkpoint metrics, the go/no-go decision and its rationale, the final metrics
summary, business impact, alerts and decisions, the rehearsal's ground truth,
rollout readiness (GO) or a remediation plan (NO-GO), and the manual items a team
still has to tick.
"""
from __future__ import annotations

from typing import Optional

from rampsim.engine.events import CheckpointReport, DecisionKind
from rampsim.report.checklist import achieved, go_no_go, timeline, truth_comparison
from rampsim.report.readings import summary
from rampsim.sim.clock import clock
from rampsim.sim.run import Run
from rampsim.units import Kind, format_value

__all__ = ["markdown_report"]


def _ratio(value: float) -> str:
    return format_value(value, Kind.RATIO)


def _checkpoint_tables(run: Run) -> list[str]:
    lines: list[str] = []
    for event in run.events:
        if not isinstance(event, CheckpointReport):
            continue
        lines += [f"### {event.title} (at {clock(event.time)}): {event.status.value}", "",
                  "| criterion | measure | target | achieved | status |", "| --- | --- | --- | --- | --- |"]
        for r in event.results:
            target = f"{r.op} {format_value(r.threshold, Kind(r.unit))}"
            lines.append(f"| {r.name} | {r.description} | {target} | {achieved(r)} | **{r.status.value}** |")
        lines += [f"- Gate requirement not met: {note}" for note in event.notes]
        if event.manual:
            lines += ["", "Manual items (not simulated):"] + [f"- [ ] {item}" for item in event.manual]
        lines.append("")
    reached = {e.checkpoint for e in run.events if isinstance(e, CheckpointReport)}
    skipped = [name for name, _ in run.plan.ordered_checkpoints() if name not in reached]
    if skipped:
        lines += [f"Not reached, the ramp having ended: {', '.join(skipped)}.", ""]
    return lines


def _remediation(run: Run) -> list[str]:
    o = run.outcome
    if o.decision is DecisionKind.ADVANCE:
        return ["## Rollout readiness", "",
                "All success criteria held for the whole window: the gate auto-advances to rollout (100%).", "",
                "- [ ] Generate ramp completion report", "- [ ] Notify all stakeholders (GO for rollout)",
                "- [ ] Lock deployment configurations", "- [ ] Confirm rollout kickoff", ""]
    faults = run.scenario.faults
    when = clock(o.time) if o.time is not None else "the end"
    lines = ["## Remediation plan", "", f"The gate stopped the ramp at {when}: {o.reason or 'no decision'}.", ""]
    if faults:
        lines += ["Injected in this rehearsal (the root cause a real investigation would have to find):", ""]
        lines += [f"- {fault.describe()}" for fault in faults] + [""]
    elif not run.truth.incident:
        lines += ["No fault was injected and the SLO held: this stop is a **false alarm** of the gate itself. "
                  "Review the criterion that failed before blaming the release.", ""]
    lines += ["Options (runbook):", "", "- [ ] A. Fix and re-test (24 hours), reschedule the ramp",
              "- [ ] B. Investigate and redesign (3-5 days)", "- [ ] C. Roll back and iterate (weekly cycle)", "",
              "- [ ] Root cause analysis", "- [ ] Incident report", "- [ ] Update stakeholders with a timeline", ""]
    return lines


def markdown_report(run: Run, chart: Optional[str] = "timeline.png") -> str:
    """The whole report; ``chart`` is the timeline image's path relative to the report, if any."""
    plan, o = run.plan, run.outcome
    stopped = o.decision is not None and o.decision is not DecisionKind.ADVANCE
    if stopped:
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
    lines += [f"| error rate, segment {name} | {_ratio(rate)} |" for name, rate in s.segment_error_rates.items()]
    lines += ["", "## Business impact", "",
              f"- Revenue on the canary: {format_value(s.revenue_per_minute, Kind.DOLLARS_PER_MINUTE)} "
              f"(projected 24 hours: {format_value(days, Kind.DOLLARS)})",
              f"- Revenue per request versus baseline: {'+' if s.revenue_delta > 0 else ''}{_ratio(s.revenue_delta)}",
              f"- Learner requests harmed before the decision: {o.harmed:,.0f} of {o.canary_requests:,.0f}", ""]
    lines += ["## Alerts and decisions", "", "```", *timeline(run), "```", ""]
    lines += ["## Ground truth (rehearsal)", "", *[f"- {line}" for line in truth_comparison(run)], ""]
    lines += _remediation(run)
    lines += ["## Sign-off (manual)", "", "- [ ] Engineering Lead: final approval",
              "- [ ] Operations Lead: deployment readiness", "- [ ] Product Lead: business metrics confirmation",
              "- [ ] Finance Lead: revenue validation", "- [ ] Team performance assessment and lessons learned", ""]
    if chart:
        lines += ["## Timeline", "", f"![timeline]({chart})", ""]
    return "\n".join(lines)
