"""The calibrated ``traffic:`` section as YAML a person can read and paste into a plan.

Every fitted value carries its 95% interval as a comment (``# 95% [low, high]``);
values the history could not inform say so and keep the plan's own (the stated
default where the plan gives none). The text is a plan fragment: ``traffic:`` at
the top level, loadable by the plan loader.
"""
from __future__ import annotations

import math
from typing import Any

import yaml

from rampsim.calibration.estimators import Estimate
from rampsim.calibration.fit import PEAKS_AS, Calibration, clock_time, states
from rampsim.plan import Plan

__all__ = ["traffic_yaml", "shown"]


_UNITS = {"error_rate": (100.0, "%"), "health_check_failure": (100.0, "%"), "p99": (1000.0, "ms"),
          "correlation_time": (1.0, "s"), "duration": (1.0, "s"), "average": (1.0, "/s"), "peak": (1.0, "/s"),
          "amplitude": (100.0, "%")}


def shown(path: str, value: float) -> str:
    """A fitted value of the ``traffic:`` parameter at ``path`` in the unit the plan writes it in (``46.09ms``,
    ``0.0645%``, a ``peak_at`` as a clock time ``16:03``); ``∞`` for an unbounded interval's end."""
    name = path.rsplit(".", 1)[-1]
    if math.isinf(value):
        return "∞"
    if name == "peak_at" and math.isfinite(value):
        return clock_time(value)
    scale, unit = _UNITS.get(name, (1.0, ""))
    return f"{value * scale:.4g}{unit}"


def _interval(path: str, estimate: Estimate, plan: Plan) -> str:
    if estimate.fallback:
        kept = "the plan's own" if states(plan.traffic, path) else "the stated default (the plan gives none)"
        return f"not estimable ({estimate.note or 'no data'}): {kept}"
    return f"95% [{shown(path, estimate.low)}, {shown(path, estimate.high)}] ({estimate.method})"


def _scalar(value: Any) -> str:
    """``value`` as YAML writes it on one line (quoted where a plain scalar would read back as something else)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    if text.endswith("\n...") or text.endswith("..."):
        text = text.rsplit("\n", 1)[0].strip()
    return text


def _emit(data: Any, path: str, comments: dict[str, str], indent: int, lines: list[str]) -> None:
    pad = "  " * indent
    for key, value in data.items():
        here = f"{path}.{key}" if path else str(key)
        note = f"   # {comments[here]}" if here in comments else ""
        name = _scalar(str(key))   # a segment named 'on' or '2' is a string, not true or 2
        if isinstance(value, dict) and value:
            lines.append(f"{pad}{name}:{note}")
            _emit(value, here, comments, indent + 1, lines)
        else:
            value = float(f"{value:.4g}") if isinstance(value, float) else value
            lines.append(f"{pad}{name}: {_scalar(value)}{note}")


def traffic_yaml(plan: Plan, calibration: Calibration) -> str:
    """The ``traffic:`` section of ``plan`` with ``calibration`` written over it, commented."""
    comments = {f"traffic.{path}": _interval(path, estimate, plan)
                for path, estimate in calibration.estimates().items()}
    load = calibration.load
    kept = "the plan's own" if states(plan.traffic, "load.shape") else "the stated default (the plan gives none)"
    comments["traffic.load.shape"] = (
        f"daily cycle p = {load.p_value:.2g}" if load.told
        else f"{load.peak_at.note}: flat, its peaks the fitted {PEAKS_AS}" if calibration.peaks_as_bursts
        else f"{kept} ({load.peak_at.note})")
    if calibration.shares_note:
        comments.update({f"traffic.segments.{name}.share": f"the plan's own ({calibration.shares_note})"
                         for name in calibration.segments})
    p99 = calibration.service_p99()
    comments["traffic.service.normal_load"] = (
        "the history's average rate over the plan's instances: the fitted P99 holds there"
        if math.isfinite(load.average.value) and math.isfinite(p99.value)
        else f"the plan's own (no load fitted: {load.average.note})" if not math.isfinite(load.average.value)
        else "the plan's own: the plan's own P99 holds there")

    lines = [f"# rampsim calibrate: {plan.name}, arm {calibration.arm}, {calibration.duration / 86400:.2f} days "
             f"of history ({calibration.ticks:,} complete scrapes).",
             "# Fitted values carry their 95% interval; values the history cannot tell are the plan's own (the stated "
             "default where the plan gives none)."]
    _emit({"traffic": calibration.traffic(plan)}, "", comments, 0, lines)
    return "\n".join(lines) + "\n"
