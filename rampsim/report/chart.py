"""The timeline chart: each metric against its thresholds, with checkpoints, alerts and decisions.

Panels share the time axis: canary weight; error rate; P99 latency; availability;
CPU, memory and network; cache hit rate. Metrics are the canary's over a rolling
minute (the baseline's dotted for comparison); every plan rule on a metric draws
its threshold; checkpoints are vertical lines coloured by verdict, alerts are
triangles, decisions labelled lines; fault windows are shaded and the ground
truth's incident start is marked.
"""
from __future__ import annotations

from matplotlib.figure import Figure

from rampsim.engine.events import AlertFired, CheckpointReport, Decision, Status
from rampsim.engine.metrics import Series
from rampsim.report.readings import measure, rolling
from rampsim.sim.run import Run

__all__ = ["timeline_chart"]

_PANELS = (
    ("error rate", ("error_rate",), 100.0, "%"),
    ("P99 latency", ("latency",), 1000.0, "ms"),
    ("availability", ("availability",), 100.0, "%"),
    ("resources", ("cpu", "memory", "network"), 100.0, "%"),
    ("cache hit rate", ("cache_hit_rate",), 100.0, "%"),
)
_STATUS_COLOURS = {Status.PASS: "tab:green", Status.FAIL: "tab:red", Status.INCONCLUSIVE: "tab:gray"}


def timeline_chart(run: Run) -> Figure:
    """The run's timeline as a matplotlib figure (``figure.savefig("timeline.png")``; shown inline in Jupyter)."""
    series = Series.from_telemetry(run.telemetry)
    hours = run.telemetry.time / 3600.0
    fig = Figure(figsize=(12, 14))
    axes = fig.subplots(len(_PANELS) + 1, 1, sharex=True)
    weight_ax = axes[0]
    weight_ax.step(hours, run.weights * 100, where="pre", color="black")
    weight_ax.set_ylabel("canary weight (%)")
    weight_ax.set_title(f"{run.plan.name}: seed {run.seed}, {run.fidelity} fidelity — {run.outcome.describe()}")
    panel_of = {}
    for ax, (title, metrics, scale, unit) in zip(axes[1:], _PANELS):
        for metric in metrics:
            name = "p99" if metric == "latency" else metric
            line = ax.plot(hours, rolling(series, measure(name)) * scale, label=f"canary {metric}")[0]
            if metric not in ("cpu", "memory", "network"):
                ax.plot(hours, rolling(series, measure(name, arm="baseline")) * scale, ":", color=line.get_color(),
                        alpha=0.6, label="baseline")
            panel_of[metric] = (ax, scale)
        ax.set_ylabel(f"{title} ({unit})")
        ax.legend(loc="upper left", fontsize=7)
    for name, rule in run.plan.rules.items():
        if rule.metric.value in panel_of and rule.arm == "canary":
            ax, scale = panel_of[rule.metric.value]
            colour = "tab:red" if rule.action == "rollback" else "tab:orange"
            ax.axhline(rule.threshold * scale, color=colour, linestyle="--", linewidth=0.8)
            ax.annotate(name, (hours[-1], rule.threshold * scale), fontsize=6, ha="right", va="bottom", color=colour)
    for ax in axes:
        for window in run.scenario.effects.windows:
            ax.axvspan(window.start / 3600, window.end / 3600, color="tab:purple", alpha=0.08)
        for event in run.events:
            if isinstance(event, CheckpointReport):
                ax.axvline(event.time / 3600, color=_STATUS_COLOURS[event.status], linewidth=0.8)
            elif isinstance(event, Decision) and event.terminal:
                ax.axvline(event.time / 3600, color="black", linewidth=1.5)
        if run.truth.incident:
            assert run.truth.start is not None  # an incident has a start (ground_truth)
            ax.axvline(run.truth.start / 3600, color="tab:purple", linestyle=":", linewidth=1.2)
    for event in run.events:
        if isinstance(event, AlertFired) and event.rule in run.plan.rules:
            metric = run.plan.rules[event.rule].metric.value
            if metric in panel_of:
                ax, scale = panel_of[metric]
                ax.plot(event.time / 3600, event.threshold * scale, marker="v",
                        color="tab:red" if event.severity == "critical" else "tab:orange")
        if isinstance(event, Decision) and event.terminal:
            weight_ax.annotate(f"{event.kind.value} → {event.weight * 100:g}%", (event.time / 3600, 0.5),
                               xycoords=("data", "axes fraction"), fontsize=8, rotation=90, va="center", ha="right")
    if run.truth.incident:
        assert run.truth.start is not None  # an incident has a start (ground_truth)
        weight_ax.annotate("SLO breach (truth)", (run.truth.start / 3600, 0.5), xycoords=("data", "axes fraction"),
                           fontsize=7, color="tab:purple", rotation=90, va="center", ha="right")
    axes[-1].set_xlabel("hours since the ramp began")
    fig.tight_layout()
    return fig
