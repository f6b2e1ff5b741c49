"""Charts of a sweep: the trade-off curve, a heatmap over two parameters, detection times.

Each function takes the tables of :class:`~rampsim.experiment.results.SweepResult`
and returns a matplotlib ``Figure`` (shown inline in Jupyter, saved with
``figure.savefig``). :func:`render` writes all of them into a directory.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, cast

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from rampsim.units import Kind, UnitError, parse

__all__ = ["tradeoff_chart", "heatmap", "detection_chart", "render", "gate_label"]


def gate_label(row: pd.Series, parameters: Sequence[str]) -> str:
    """``error_rate_rollback.threshold=0.5%, *.sustain=3m``: the last two parts of each varied path."""
    return ", ".join(f"{'.'.join(p.split('.')[-2:])}={row[p]}" for p in parameters) or "the plan as written"


def tradeoff_chart(summary: pd.DataFrame, parameters: Sequence[str], title: str = "") -> Figure:
    """False-rollback rate against missed-incident rate, Wilson 95% intervals, Pareto front and cost optimum."""
    figure = Figure(figsize=(8, 6), layout="constrained")
    axes = figure.subplots()
    x, y = summary["false_rollback_rate"] * 100, summary["missed_incident_rate"] * 100
    x_err = np.vstack([x - summary["false_rollback_low"] * 100, summary["false_rollback_high"] * 100 - x])
    y_err = np.vstack([y - summary["missed_incident_low"] * 100, summary["missed_incident_high"] * 100 - y])
    axes.errorbar(x, y, xerr=np.nan_to_num(x_err), yerr=np.nan_to_num(y_err), fmt="o", color="0.6", ecolor="0.8",
                  markersize=4, label="gate (95% intervals)", zorder=1)
    front = summary[summary["pareto"]].sort_values("false_rollback_rate")
    axes.plot(front["false_rollback_rate"] * 100, front["missed_incident_rate"] * 100, "-o", color="tab:blue",
              markersize=6, label="Pareto front", zorder=2)
    best = summary[summary["cost_optimal"]].head(1)
    if not best.empty:
        axes.plot(best["false_rollback_rate"] * 100, best["missed_incident_rate"] * 100, "*", color="tab:red",
                  markersize=16, label="recommended: " + gate_label(best.iloc[0], parameters), zorder=3)
    for key, tied in front.groupby(["false_rollback_rate", "missed_incident_rate"], sort=False):
        fr, mi = cast(tuple[float, float], key)  # pandas-stubs type group keys as Hashable
        label = gate_label(tied.iloc[0], parameters) + (f" (+{len(tied) - 1} tied)" if len(tied) > 1 else "")
        axes.annotate(label, (fr * 100, mi * 100), textcoords="offset points", xytext=(6, 6), fontsize=7,
                      color="tab:blue")
    axes.set_xlabel("false-rollback rate: healthy ramps held or rolled back (%)")
    axes.set_ylabel("missed-incident rate: incidents advanced (%)")
    axes.set_title(title or "Gate trade-off")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8, loc="upper right")
    return figure


def heatmap(summary: pd.DataFrame, x: str, y: str, value: str = "cost", title: str = "") -> Figure:
    """``value`` (a summary column) over two grid parameters, other parameters averaged."""
    table = summary.pivot_table(index=y, columns=x, values=value, aggfunc="mean", sort=False)
    table = table.reindex(index=_ordered(table.index), columns=_ordered(table.columns))
    figure = Figure(figsize=(2.5 + 0.9 * len(table.columns), 1.5 + 0.6 * len(table.index)), layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(table.to_numpy(dtype=float), cmap="viridis_r", aspect="auto")
    axes.set_xticks(range(len(table.columns)), table.columns, rotation=45, ha="right")
    axes.set_yticks(range(len(table.index)), table.index)
    axes.set_xlabel(x)
    axes.set_ylabel(y)
    for (i, j), cell in np.ndenumerate(table.to_numpy(dtype=float)):
        if np.isfinite(cell):
            axes.text(j, i, f"{cell:.3g}", ha="center", va="center", fontsize=7, color="white")
    figure.colorbar(image, ax=axes, label=value)
    axes.set_title(title or f"{value} per run")
    return figure


def detection_chart(runs: pd.DataFrame, summary: pd.DataFrame, parameters: Sequence[str],
                    gates: Optional[Sequence[int]] = None) -> Figure:
    """Detection delays of caught incidents (minutes) for some gates (the Pareto front by default)."""
    gates = list(gates if gates is not None else summary[summary["pareto"]]["gate"].head(10))
    data = [runs[(runs["gate"] == g)]["detection_delay"].dropna().to_numpy() / 60 for g in gates]
    # one summary row per gate, so .loc gives a row (pandas-stubs cannot know it is not a frame)
    labels = [gate_label(cast(pd.Series, summary.set_index("gate").loc[g]), parameters) for g in gates]
    figure = Figure(figsize=(9, 1.5 + 0.5 * max(len(gates), 1)), layout="constrained")
    axes = figure.subplots()
    if any(len(d) for d in data):
        axes.boxplot([d if len(d) else [np.nan] for d in data], orientation="horizontal", tick_labels=labels, whis=(5, 95))
    axes.set_xlabel("detection delay: decision time minus incident start (minutes)")
    axes.set_title("Time to detect, caught incidents (whiskers: 5th-95th percentile)")
    axes.grid(True, axis="x", alpha=0.3)
    return figure


def _ordered(labels: pd.Index) -> list:
    """Grid values in the order of the quantities they write (``90s`` before ``2m``), else as text."""
    def key(label: object) -> tuple:
        for kind in (Kind.DURATION, Kind.RATIO, Kind.BYTES_PER_HOUR, Kind.DOLLARS_PER_MINUTE,
                     Kind.REQUESTS_PER_SECOND):
            try:
                return (0, parse(str(label), kind), str(label))
            except UnitError:
                continue
        return (1, 0.0, str(label))
    return sorted(labels, key=key)


def render(runs: pd.DataFrame, summary: pd.DataFrame, parameters: Sequence[str], directory: Path,
           title: str = "") -> list[Path]:
    """Write ``tradeoff.png``, ``detection.png`` and, with two or more parameters, ``heatmap.png``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    charts = [("tradeoff.png", tradeoff_chart(summary, parameters, title)),
              ("detection.png", detection_chart(runs, summary, parameters))]
    if len(parameters) >= 2:
        charts.append(("heatmap.png", heatmap(summary, parameters[0], parameters[1], "cost")))
    for name, figure in charts:
        figure.savefig(directory / name, dpi=110)
        written.append(directory / name)
    return written
