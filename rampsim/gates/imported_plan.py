"""An imported gate written as a rampsim plan: phases from its schedule, defaulted SLO and traffic, the gate section.

The plan carries the gate as a section of its own kind (``argo:``, ``flagger:`` or ``kayenta:``,
fields as the files wrote them) and everything a plan needs around it:

* ``phases``: the canary weights of the controller's schedule when every analysis passes on
  time (:func:`~rampsim.gates.argo_rollout.nominal_timeline`, or Flagger's ticks), then a
  slack phase so that a late promotion still falls inside the simulated ramp. The engine
  follows its own schedule and restates its weight when it runs behind the phases.
* ``telemetry.scrape_interval``: the largest of 15 s, 12 s, 10 s, 6 s, 5 s... that puts every
  phase boundary on a scrape (a plan decides only at scrapes); set your Prometheus's.
* ``final_gate`` at the end of the phases, with no criteria: the gate's own decisions end the
  ramp. No rules and no checkpoints.
* ``slo`` and ``traffic``: rampsim's defaults, marked as such, for the user to replace: the
  SLO says what a real incident is for *their* service, and rampsim cannot read it from a gate.

A Kayenta stage has no weights of its own: its plan (:func:`kayenta_plan_yaml`) is one phase at the
canary's weight up to the stage's last analysis, or a base plan's ramp (its phases, telemetry,
actions, SLO, traffic and report) with its rules, checkpoints and final-gate criteria replaced by the
stage.

:func:`plan_yaml` gives the text, with comments saying what was defaulted.
"""
from __future__ import annotations

import math
from typing import Any, Optional, Sequence

from rampsim.engine.events import MANUAL_SOURCE
from rampsim.gates.argo_model import ArgoGate
from rampsim.gates.argo_rollout import nominal_timeline
from rampsim.gates.flagger_canary import CanaryMachine, analysis_interval, analysis_threshold
from rampsim.gates.flagger_model import FlaggerGate
from rampsim.gates.goduration import GoDurationError, parse_go_duration
from rampsim.gates.kayenta_model import KayentaGate
from rampsim.gates.yamlout import dump
from rampsim.plan.schema import MAX_DURATION, Plan
from rampsim.units import Kind, format_value, positional

__all__ = ["SCRAPE_CHOICES", "DEFAULT_SLO", "DEFAULT_TRAFFIC", "argo_phases", "flagger_phases", "flagger_ramp_seconds",
           "longest_flagger_ramp", "plan_data",
           "plan_yaml", "gate_data", "scrape_interval_for", "kayenta_plan_data", "kayenta_plan_yaml"]

SCRAPE_CHOICES = (15, 12, 10, 6, 5, 4, 3, 2, 1)
"""Scrape intervals an imported plan may get, in seconds: each divides a minute (so SLO windows fit)."""

DEFAULT_SLO: dict[str, Any] = {"objectives": {
    "error_rate": {"metric": "error_rate", "op": ">", "threshold": "1%", "window": "5m", "sustain": "2m"},
    "p99": {"metric": "p99", "op": ">", "threshold": "500ms", "window": "5m", "sustain": "2m"},
}}
DEFAULT_TRAFFIC: dict[str, Any] = {"learners": "500,000", "load": {"shape": "flat", "average": "1,000/s"}}

_HORIZON = 3600.0


def gate_data(gate: ArgoGate | FlaggerGate) -> dict[str, Any]:
    """The gate as plain data for a plan section: fields as written, nothing empty or unset."""
    return _clean(gate.model_dump(mode="json", exclude_none=True))


def _clean(value: Any, top: bool = True) -> Any:
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            cleaned = _clean(item, False)
            if (cleaned == [] and key != "steps") or (cleaned == {} and key == "args"):
                continue  # an empty list is the default; an empty mapping is meaningful (pause: {})
            out[key] = cleaned
        return out
    if isinstance(value, list):
        return [_clean(item, False) for item in value]
    return value


def _segments(changes: Sequence[tuple[float, float, str]], end: float) -> list[dict[str, Any]]:
    """Phases (name, weight, duration) from weight changes ``(time, weight, label)`` up to ``end``."""
    phases: list[dict[str, Any]] = []
    merged: list[tuple[float, float, str]] = []
    for time, weight, label in changes:
        if merged and abs(merged[-1][0] - time) < 1e-9:
            merged[-1] = (merged[-1][0], weight, label)
        elif merged and merged[-1][1] == weight:
            continue
        else:
            merged.append((time, weight, label))
    if not merged or merged[0][0] > 1e-9:
        merged.insert(0, (0.0, 0.0, "before the first step"))
    for (start, weight, label), following in zip(merged, [*merged[1:], (end, 0.0, "")]):
        duration = following[0] - start
        if duration > 1e-9:
            phases.append({"name": label, "weight": weight, "duration": duration})
    return phases


def argo_phases(gate: ArgoGate) -> tuple[list[dict[str, Any]], list[str]]:
    """The phases of an Argo gate's nominal schedule, and notes on what was assumed."""
    horizon = MAX_DURATION - 60.0   # the longest ramp a plan simulates, less a minute of slack
    transitions, promoted, moves_on = nominal_timeline(gate, horizon=horizon)
    notes: list[str] = []
    changes = [(t.time, t.weight, t.reason) for t in transitions if t.outcome is None]
    last = max([t.time for t in transitions] + [0.0])
    if promoted is None and moves_on:
        notes.append(f"the rollout moves on by itself but does not complete within "
                     f"{format_value(MAX_DURATION, Kind.DURATION)}, the longest ramp a plan simulates: the simulated "
                     f"ramp is its first {format_value(MAX_DURATION, Kind.DURATION)}")
        return _segments(changes, MAX_DURATION), notes
    if promoted is None:
        end = min(last + _HORIZON, MAX_DURATION)
        notes.append(f"the rollout never completes on its own (assume.manual_promotion_after is "
                     f"{gate.assume.manual_promotion_after!r}): the simulated ramp lasts "
                     f"{format_value(end, Kind.DURATION)}")
        return _segments(changes, end), notes
    intervals = [_seconds(m.interval) for m in gate.metrics.values()]
    slack = min(max([60.0] + [2 * s for s in intervals if s is not None]), MAX_DURATION - promoted)
    phases = _segments(changes, promoted)
    phases.append({"name": "promoted (slack for a late promotion)", "weight": 1.0, "duration": slack})
    manual = (", a person promoting where Argo waits for one (argo.assume.manual_promotion_after)"
              if any(t.source == MANUAL_SOURCE for t in transitions) else "")
    notes.append(f"phases follow the Rollout when every measurement succeeds on time{manual} (fully promoted at "
                 f"{format_value(promoted, Kind.DURATION)}), then {format_value(slack, Kind.DURATION)} of slack")
    return phases, notes


def _flagger_schedule(gate: FlaggerGate) -> tuple[list[tuple[float, float, str]], Optional[float]]:
    """The weight changes of a Flagger gate's nominal schedule (every check passing) and its promotion time."""
    machine = CanaryMachine(gate, nominal=True)
    changes: list[tuple[float, float, str]] = [(0.0, 0.0, "new revision detected")]
    limit = 10_000
    while not machine.done and machine.ticks_done < limit:
        before = machine.traffic
        tick = machine.advance(machine.next_time() or 0.0, None)[-1]
        if tick.action == "promote":
            return changes, tick.time
        if machine.traffic != before:
            changes.append((tick.time, machine.traffic, f"tick {tick.number}: {tick.action}"))
    return changes, None


def _flagger_slack(gate: FlaggerGate, promoted: float) -> float:
    """After the on-time promotion: a tick's margin, and ``threshold`` ticks more, since each failed check (up to
    ``threshold - 1`` of them) holds the canary a tick and the rollback comes after ``threshold`` failed ones: every
    decision Flagger can take falls inside the ramp, up to :data:`_HORIZON` of them (a threshold of thousands, a
    gate that never rolls back, would otherwise make a ramp of days)."""
    interval = analysis_interval(gate)
    late = min(analysis_threshold(gate) * interval, _HORIZON)
    return min(max(60.0, 2 * interval) + late, MAX_DURATION - promoted)


def flagger_ramp_seconds(gate: FlaggerGate) -> Optional[float]:
    """How long the simulated ramp of a Flagger gate lasts (``None``: it never promotes on its own)."""
    _, promoted = _flagger_schedule(gate)
    return None if promoted is None else promoted + _flagger_slack(gate, promoted)


def flagger_phases(gate: FlaggerGate) -> tuple[list[dict[str, Any]], list[str]]:
    """The phases of a Flagger gate's nominal schedule (every check passing), and notes."""
    interval = analysis_interval(gate)
    changes, promoted = _flagger_schedule(gate)
    notes: list[str] = []
    if promoted is None:
        end = changes[-1][0] + _HORIZON
        notes.append("the canary never reaches promotion (no step weight): the simulated ramp lasts "
                     f"{format_value(end, Kind.DURATION)}")
        return _segments(changes, end), notes
    slack = _flagger_slack(gate, promoted)
    phases = _segments(changes, promoted)
    phases.append({"name": "promoted (slack for a late promotion or rollback)", "weight": 1.0, "duration": slack})
    notes.append(f"phases follow Flagger's ticks every {format_value(interval, Kind.DURATION)} when every check "
                 f"passes (promoted at {format_value(promoted, Kind.DURATION)}), then "
                 f"{format_value(slack, Kind.DURATION)} of slack: failed checks, up to the threshold "
                 f"({analysis_threshold(gate)}), each hold the canary a tick")
    if analysis_threshold(gate) * interval > _HORIZON:
        notes.append(f"a rollback after {analysis_threshold(gate)} failed checks would come "
                     f"{format_value(analysis_threshold(gate) * interval, Kind.DURATION)} after the promotion: the "
                     f"simulated ramp stops {format_value(_HORIZON, Kind.DURATION)} after it")
    return phases, notes


def longest_flagger_ramp(plan: Plan, gates: Sequence[Plan]) -> Plan:
    """``plan`` (an imported Flagger gate's) with its last phase lengthened to the longest ramp any of ``gates``
    (the grid of a sweep over its fields: a larger ``threshold`` or ``interval``, a smaller ``stepWeight``) needs;
    ``plan`` itself when it is long enough or is not a Flagger gate's."""
    from rampsim.gates.plan_sections import flagger_section
    from rampsim.plan.loader import with_overrides

    if plan.flagger is None:
        return plan
    needs = [flagger_ramp_seconds(gate) for gate in (flagger_section(p) for p in gates) if gate is not None]
    longest = max([n for n in needs if n is not None], default=0.0)
    interval = plan.telemetry.scrape_interval
    missing = math.ceil((longest - plan.duration) / interval - 1e-9) * interval
    if missing <= 0:
        return plan
    phases: list[dict[str, Any]] = [{"name": phase.name, "weight": phase.weight,
                                     "duration": f"{positional(phase.duration)}s"} for phase in plan.phases]
    phases[-1]["duration"] = f"{positional(plan.phases[-1].duration + missing)}s"
    return with_overrides(plan, {"phases": phases, "final_gate.at": f"{positional(plan.duration + missing)}s"})


def _seconds(text: Optional[str]) -> Optional[float]:
    if not text:
        return None
    try:
        return parse_go_duration(text)
    except GoDurationError:
        return None


def scrape_interval_for(phases: list[dict[str, Any]]) -> tuple[int, list[dict[str, Any]], bool]:
    """The largest scrape choice dividing every phase (durations rounded to whole seconds), the phases so
    rounded, and whether any was rounded."""
    rounded = False
    whole: list[dict[str, Any]] = []
    for phase in phases:
        seconds = max(1, int(round(phase["duration"])))
        rounded = rounded or abs(seconds - phase["duration"]) > 1e-6
        whole.append({**phase, "duration": seconds})
    total = 0
    for choice in SCRAPE_CHOICES:
        if all(p["duration"] % choice == 0 for p in whole):
            total = choice
            break
    return total or 1, whole, rounded


def _default_slo(ramp: float, interval: int) -> dict[str, Any]:
    """:data:`DEFAULT_SLO`, its window and sustain shortened (to at most half the ramp each, on the scrape grid)
    when the ramp is too short for them: an objective no ramp can breach would call every incident healthy."""
    window, sustain = 300.0, 120.0
    if window + sustain <= ramp:
        return DEFAULT_SLO
    window = max(interval, math.floor(ramp / 2 / interval) * interval)
    sustain = max(0.0, min(sustain, math.floor((ramp - window) / interval) * interval))
    return {"objectives": {name: {**objective, "window": _duration(window), "sustain": _duration(sustain)}
                           for name, objective in DEFAULT_SLO["objectives"].items()}}


def _defaulted_plan(name: str, description: str, interval: int, phases: list[dict[str, Any]], kind: str,
                    section: Any) -> dict[str, Any]:
    """A plan (plain data) of ``phases`` judged by the gate ``section``, with rampsim's DEFAULTED SLO and traffic."""
    return {
        "name": name,
        "description": description,
        "telemetry": {"scrape_interval": f"{interval}s"},
        "phases": [{"name": p["name"], "weight": _percent(p["weight"]), "duration": _duration(p["duration"])}
                   for p in phases],
        "final_gate": {"at": _duration(sum(p["duration"] for p in phases))},
        "slo": _default_slo(sum(p["duration"] for p in phases), interval),
        "traffic": DEFAULT_TRAFFIC,
        kind: section,
    }


def plan_data(kind: str, gate: ArgoGate | FlaggerGate, name: str) -> tuple[dict[str, Any], list[str]]:
    """The plan (plain data, as YAML would load it) carrying ``gate``, and notes on what was defaulted."""
    phases, notes = argo_phases(gate) if isinstance(gate, ArgoGate) else flagger_phases(gate)  # type: ignore[arg-type]
    interval, phases, rounded = scrape_interval_for(phases)
    if rounded:
        notes.append("phase durations were rounded to whole seconds")
    data = _defaulted_plan(name, f"imported {kind} gate", interval, phases, kind, gate_data(gate))
    return data, notes


def _percent(weight: float) -> str:
    value = weight * 100
    return f"{value:.10g}%"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def plan_yaml(kind: str, gate: ArgoGate | FlaggerGate, name: str, sources: Sequence[str],
              notes: Sequence[str]) -> str:
    """The plan as YAML text, with comments: where it came from, what was defaulted, what to complete."""
    data, plan_notes = plan_data(kind, gate, name)
    controller = "Argo Rollouts" if kind == "argo" else "Flagger"
    lines = [f"# Imported by rampsim from {controller} files: {', '.join(sources)}",
             f"# The {kind}: section keeps the gate as written and is judged with {controller}'s semantics;",
             "# the phases are its schedule when every check passes on time. Defaulted or assumed:"]
    for note in [*notes, *plan_notes]:
        lines.append(f"#   - {_one_line(note)}")
    lines.append("# slo: and traffic: are rampsim's DEFAULTS, not yours: replace them with what a real incident is")
    lines.append("# for your service and with its traffic before trusting any rate.")
    out = "\n".join(lines) + "\n"
    for key in ("name", "description", "telemetry", "phases", "final_gate"):
        comment = {
            "telemetry": "# scrape interval chosen so that every phase begins on a scrape: set your Prometheus's\n",
            "final_gate": "# the end of the phases, no criteria: the gate's own decisions end the ramp\n",
        }.get(key, "")
        out += comment + _dump({key: data[key]})
    out += "# DEFAULTED: what counts as a real incident (edit for your service)\n" + _dump({"slo": data["slo"]})
    out += "# DEFAULTED: rampsim's generic service (replace with yours, or fit it: rampsim calibrate)\n"
    out += _dump({"traffic": data["traffic"]})
    out += "# the imported gate, fields as written\n" + _dump({kind: data[kind]})
    return out


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _dump(data: dict[str, Any]) -> str:
    return dump(data)



_REPLACED = ("rules", "checkpoints", "argo", "flagger", "kayenta")
"""A base plan's sections a Kayenta stage replaces (the final gate keeps its time, title and checklist)."""


def kayenta_plan_data(section: dict[str, Any], gate: KayentaGate, name: str, base: Optional[Plan] = None,
                      weight: float = 0.1) -> tuple[dict[str, Any], list[str]]:
    """The plan (plain data) judged by the Kayenta ``section`` (``gate`` validated): ``base``'s ramp with its own
    gate replaced, else one phase at ``weight`` up to the stage's last analysis; and notes."""
    if base is not None:
        written = getattr(base.source, "data", None)
        if not isinstance(written, dict):
            raise ValueError("the base plan was built from models, not read: load it from its file")
        data = {key: value for key, value in written.items() if key not in _REPLACED}
        final = written.get("final_gate") or {}
        data["final_gate"] = {k: final[k] for k in ("title", "at", "manual") if k in final}
        data["name"] = name
        data["description"] = f"{base.name}'s ramp judged by the Kayenta canary config {gate.config.name or name!r}"
        data["kayenta"] = section
        dropped = [f"{len(base.rules)} rule(s)" if base.rules else "", f"{len(base.checkpoints)} checkpoint(s)"
                   if base.checkpoints else "", "the final gate's criteria" if base.final_gate.criteria else ""]
        notes = [f"from {base.name}: its phases, telemetry, actions, SLO and traffic; the Kayenta stage replaces "
                 f"{', '.join(d for d in dropped if d) or 'nothing'}"]
        return data, notes
    interval, phases, _ = scrape_interval_for([{"name": "canary analysis", "weight": weight,
                                                "duration": gate.stage.end}])
    data = _defaulted_plan(name, f"imported Kayenta canary config {gate.config.name or name!r}", interval, phases,
                           "kayenta", section)
    total = sum(p["duration"] for p in phases)
    return data, [f"one phase at {_percent(weight)} of the traffic up to the last analysis "
                  f"({format_value(total, Kind.DURATION)}; --weight sets the share)"]


def kayenta_plan_yaml(section: dict[str, Any], gate: KayentaGate, name: str, sources: Sequence[str],
                      notes: Sequence[str], base: Optional[Plan] = None, weight: float = 0.1) -> str:
    """The plan judged by a Kayenta gate as YAML text, with comments: its sources, what was assumed or defaulted."""
    data, plan_notes = kayenta_plan_data(section, gate, name, base, weight)
    lines = [f"# Imported by rampsim from a Kayenta canary config: {', '.join(sources)}",
             "# The kayenta: section keeps the config as written (config:) and the Spinnaker stage that runs it",
             "# (stage:); it is judged with Kayenta's and Orca's semantics. Defaulted or assumed:"]
    lines.extend(f"#   - {_one_line(note)}" for note in [*notes, *plan_notes])
    if base is None:
        lines.append("# slo: and traffic: are rampsim's DEFAULTS, not yours: replace them with what a real incident is")
        lines.append("# for your service and with its traffic before trusting any rate.")
    out = "\n".join(lines) + "\n"
    comments = {"final_gate": "# no criteria: the Kayenta stage's own decisions end the ramp\n",
                "kayenta": "# the Kayenta gate: the stage (Spinnaker's kayentaCanary canaryConfig) and the canary config\n"}
    if base is None:
        comments.update(slo="# DEFAULTED: what counts as a real incident (edit for your service)\n",
                        traffic="# DEFAULTED: rampsim's generic service (replace with yours, or fit it: rampsim "
                                "calibrate)\n")
    for key, value in data.items():
        out += comments.get(key, "") + _dump({key: value})
    return out
