"""The plan as a person reads it: every phase, rule, checkpoint and window in words, and what its comparisons
with the baseline and sequential tests assume."""
from __future__ import annotations

from typing import Callable, Optional

from rampsim.plan.schema import Measure, Plan
from rampsim.units import Kind, format_value

__all__ = ["explain"]

COMPARISONS = ("Comparisons with the baseline: the measure on the canary against the same measure on the baseline "
               "over the same window (a difference in the metric's unit, a ratio, or a relative change); a window in "
               "which either arm served fewer than min_requests requests is INCONCLUSIVE, and a ratio over a "
               "baseline of 0 is +Inf (as in PromQL). A disturbance both arms share moves both values.")
SEQUENTIAL = ("Sequential tests: the value is an anytime-valid p-value from the ramp's start against 'the canary's "
              "error rate (quantile) is at most 1 + margin times the baseline's'. On a canary no worse than that, the "
              "chance that it ever falls to a level alpha during the ramp is at most alpha, however often it is read. "
              "The count test (error_rate) needs the error noise shared by both arms: noise on one arm alone "
              "(overdispersion, a bad pod, bursts on one arm) voids that bound. The latency test, and both tests "
              "with batch (one ratio per batch), need the per-interval (per-batch) log ratio of the arms' values to "
              "keep a constant mean: batches that outlast the noise each arm has on its own, and that noise alike "
              "on both arms.")


def _duration(seconds: float) -> str:
    return format_value(seconds, Kind.DURATION)


def _weight(fraction: float) -> str:
    return format_value(fraction, Kind.RATIO)


def explain(plan: Plan, query: Optional[Callable[[Measure], str]] = None) -> str:
    """A plain-text account of ``plan``; with ``query``, each measure's PromQL below it."""
    lines = [f"Plan {plan.name}: {plan.description or ''}".rstrip(": "), ""]

    def measure_lines(text: str, measure: Measure, indent: str) -> None:
        lines.append(f"{indent}{text}")
        if query is not None:
            lines.append(f"{indent}    PromQL: {query(measure)}")

    t = plan.telemetry
    lines.append(f"Telemetry: arms {', '.join(t.arms)}; segments {', '.join(t.segments)}; scraped every "
                 f"{_duration(t.scrape_interval)}; health checks every {_duration(t.health_check_interval)}; "
                 f"{len(t.latency_buckets)} latency buckets up to {_duration(t.latency_buckets[-2])} and +Inf.")
    lines.append("")
    lines.append(f"Phases ({_duration(plan.duration)} in all):")
    elapsed = 0.0
    for index, phase in enumerate(plan.phases, 1):
        lines.append(f"  {index}. {phase.name or 'phase'}: canary at {_weight(phase.weight)} from "
                     f"{_duration(elapsed) if elapsed else 'the start'} for {_duration(phase.duration)}")
        elapsed += phase.duration
    a = plan.actions
    lines.append(f"Actions move the canary to: rollback {_weight(a.rollback)}, hold {_weight(a.hold)}, "
                 f"advance {_weight(a.advance)}.")
    lines.append("")
    lines.append("Continuous rules, judged at every scrape (a missing window never breaches and restarts the clock):")
    for name, rule in plan.rules.items():
        measure_lines(f"  - {name}: {rule.describe()}", rule, "")
    lines.append("")
    lines.append("Checkpoints (a criterion passes when the comparison holds; missing data is INCONCLUSIVE):")
    for name, checkpoint in plan.ordered_checkpoints():
        lines.append(f"  At {_duration(checkpoint.at)}: {checkpoint.title or name} [{name}]")
        for cname, criterion in checkpoint.criteria.items():
            measure_lines(f"    - {cname}: {criterion.describe()}", criterion, "")
        if name == "final_gate":
            gate = plan.final_gate
            if gate.require_checkpoints:
                lines.append("    - every earlier checkpoint passed")
            if gate.require_no_alerts:
                lines.append(f"    - no {gate.require_no_alerts} alert fired during the ramp")
            lines.append(f"    - at most {gate.max_missing_scrapes} missing or incomplete scrape(s)")
        lines.append(f"    then: pass → {checkpoint.on_pass}, fail → {checkpoint.on_fail}, "
                     f"inconclusive → {checkpoint.on_inconclusive}")
        for item in checkpoint.manual:
            lines.append(f"    [ ] manual: {item}  (shown in rehearsals, never decided by the engine)")
    lines.append("")
    lines.append("SLO: the ramp is a real incident when, on the expected (noise-free) metrics, any of:")
    for name, objective in plan.slo.objectives.items():
        held = f" for {_duration(objective.sustain)} or longer" if objective.sustain else ""
        measure_lines(f"  - {name}: {objective.describe()}{held}", objective, "")
    measures = [measure for _, measure in plan.measures()]
    for note, shown in ((COMPARISONS, any(m.contrast is not None for m in measures)),
                        (SEQUENTIAL, any(m.test is not None for m in measures))):
        if shown:
            lines += ["", note]
    return "\n".join(lines)
