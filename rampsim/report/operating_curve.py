"""The operating curve of a one-axis sweep: error rates, detection time and cost against the parameter.

The chart that answers "which value should I pick, and why": for each value of the
one varied parameter (in the order of the quantities written, ``90s`` before ``2m``,
evenly spaced), the false-rollback and missed-incident rates with their Wilson 95%
bands, the median detection time of caught incidents with its 95% band (the 90th
percentile dashed; the axis spans the medians and 90th percentiles, a band beyond it
ends in a triangle with its value), and the cost per run (from 0) that picks the
recommended value, which is marked on every panel (the costs, when given, said under
the title; a tie on cost said to be one).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Optional, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rampsim.report.chart import LABEL_SIZE, Placement, costs_note, new_figure, place_labels
from rampsim.units import Kind, UnitError, parse

if TYPE_CHECKING:
    from rampsim.experiment.results import Costs

__all__ = ["operating_curve", "ordered", "varying"]

_KINDS = (Kind.DURATION, Kind.RATIO, Kind.BYTES_PER_HOUR, Kind.DOLLARS_PER_MINUTE, Kind.REQUESTS_PER_SECOND)
_RATES = (("false_rollback", "false rollbacks: healthy ramps stopped", "tab:orange"),
          ("missed_incident", "missed incidents: incidents advanced", "tab:red"))


def ordered(values: Iterable[object]) -> list:
    """Grid values in the order of the quantities they write (``90s`` before ``2m``), else as text."""
    def key(value: object) -> tuple:
        for kind in _KINDS:
            try:
                return (0, parse(str(value), kind), str(value))
            except UnitError:
                continue
        return (1, 0.0, str(value))
    return sorted(values, key=key)


def varying(summary: pd.DataFrame, parameters: Sequence[str]) -> list[str]:
    """The parameters that take more than one value in ``summary``."""
    return [p for p in parameters if summary[p].nunique() > 1]


def operating_curve(summary: pd.DataFrame, parameter: str, title: str = "", costs: Optional["Costs"] = None) -> Figure:
    """Rates, detection time and cost against ``parameter``, one point per gate (the other parameters fixed); the
    ``costs`` that picked the recommended value (those of ``summary``) under the title."""
    if summary[parameter].duplicated().any():
        raise ValueError(f"an operating curve needs one gate per value of {parameter}; select the rows of one value "
                         f"of each other parameter first")
    table = summary.set_index(summary[parameter].astype(str)).loc[ordered(summary[parameter].astype(str))]
    x = np.arange(len(table))
    figure = new_figure(max(7.0, 2.5 + 0.55 * len(table)), 8.5)
    rates, detection, cost = figure.subplots(3, 1, sharex=True, height_ratios=[2.2, 1.4, 1])
    for name, label, colour in _RATES:
        rate = table[f"{name}_rate"].to_numpy(float) * 100
        rates.fill_between(x, table[f"{name}_low"].to_numpy(float) * 100, table[f"{name}_high"].to_numpy(float) * 100,
                           color=colour, alpha=0.15, linewidth=0)
        rates.plot(x, rate, "-o", color=colour, markersize=4, label=f"{label} (band: 95% interval)")
    rates.set_ylabel("share of runs (%)")
    rates.set_ylim(-3, 103)
    minutes, p90 = table["detect_median_s"].to_numpy(float) / 60, table["detect_p90_s"].to_numpy(float) / 60
    low, high = table["detect_median_low"].to_numpy(float) / 60, table["detect_median_high"].to_numpy(float) / 60
    detection.fill_between(x, low, high, color="tab:blue", alpha=0.15, linewidth=0)
    detection.plot(x, minutes, "-o", color="tab:blue", markersize=4, label="median (band: 95% interval)")
    detection.plot(x, p90, "--", color="tab:blue", linewidth=1, label="90th percentile")
    detection.axhline(0, color="0.5", linewidth=0.8)
    clipped = _clip(detection, x, minutes, p90, low, high)
    detection.set_ylabel("time to detect\n(minutes after the\nbreach; negative:\nstopped before it)")
    costs_per_run = table["cost"].to_numpy(float)
    cost.plot(x, costs_per_run, "-o", color="black", markersize=4, label="cost per run")
    cost.set_ylabel("cost per run")
    cost.set_ylim(0, float(np.nanmax(costs_per_run, initial=0.0)) * 1.15 or 1.0)   # from 0: differences to scale
    best = int(np.flatnonzero(table["cost_optimal"].to_numpy(bool))[0]) if table["cost_optimal"].any() else None
    why = ""
    if best is not None:
        tied = int(np.count_nonzero(costs_per_run == costs_per_run[best]))
        why = f"tie-break among the {tied} at the lowest cost" if tied > 1 else "lowest cost"
    for ax in (rates, detection, cost):
        ax.grid(True, alpha=0.3)
        if best is not None:
            ax.axvline(best, color="tab:green", linewidth=6, alpha=0.25, zorder=0,
                       label=f"★ recommended: {table.index[best]} ({why})" if ax is rates else None)
        ax.legend(fontsize=LABEL_SIZE, loc="best", framealpha=0.9)
    if best is not None:
        cost.plot(best, costs_per_run[best], "*", color="tab:green", markersize=16, markeredgecolor="black",
                  clip_on=False)
    cost.set_xticks(x, list(table.index), rotation=45 if len(table) > 8 else 0)
    cost.set_xlabel(f"{parameter} (grid values in increasing order)")
    picked = f"\n★ recommended with {costs_note(costs, 60)}" if best is not None and costs is not None else ""
    rates.set_title((f"{title}: operating curve" if title else "Operating curve") + picked, loc="left",
                    fontsize=11 if picked else None)
    place_labels(figure, clipped)
    return figure


def _clip(ax: Axes, x: np.ndarray, median: np.ndarray, p90: np.ndarray, low: np.ndarray,
          high: np.ndarray) -> list[Placement]:
    """Y limits from the medians and 90th percentiles (and 0) with a margin, not from the medians' bands: one band
    down to -62.8 min flattened every line. A band beyond them ends in an open triangle at the edge, its end's
    value beside it (the labels returned, to place)."""
    shown = np.concatenate([median, p90, [0.0]])
    shown = shown[np.isfinite(shown)]
    margin = max(float(shown.max() - shown.min()), 1.0) * 0.15
    bottom, top = float(shown.min()) - margin, float(shown.max()) + margin
    ax.set_ylim(bottom, top)
    labels: list[Placement] = []
    for ends, edge, marker, side in ((low, bottom, "v", 1.0), (high, top, "^", -1.0)):
        beyond = np.isfinite(ends) & (side * (edge - ends) > 0)
        if not beyond.any():
            continue
        ax.plot(x[beyond], np.full(int(beyond.sum()), edge), marker, color="tab:blue", markerfacecolor="white",
                linestyle="none", clip_on=False, label="band beyond the axis (its end written)" if not labels else None)
        for i in np.flatnonzero(beyond):
            label = ax.annotate(f"{ends[i]:.3g} min", (x[i], edge), textcoords="offset points", xytext=(0, 6 * side),
                                ha="center", va="bottom" if side > 0 else "top", fontsize=LABEL_SIZE,
                                color="tab:blue", in_layout=False)
            labels.append((label, [(dx, dy * side) for dy in (6.0, 16.0) for dx in (0.0, 14.0, -14.0)]))
    return labels
