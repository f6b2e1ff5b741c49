"""Charts of a sweep: the trade-off between the two errors, a heatmap over two parameters, detection times.

Each function takes the tables of :class:`~rampsim.experiment.results.SweepResult`
(the detection chart its tally's delay histograms) and returns a matplotlib ``Figure`` (shown inline in Jupyter, saved with
``figure.savefig``); :func:`render` writes them into a directory, with the operating
curve (:mod:`rampsim.report.operating_curve`) of a one-axis sweep.

Gates are numbered by their ``gate`` column (as in ``summary.csv``): the trade-off
chart numbers its points (a number clear of the other points and numbers, with a line
to its point when another is nearly as close) and lists number, parameter values,
rates and cost in a table beside the plot (every gate up to 30; beyond, the
recommended gate, the Pareto front and the cheapest others), and the detection chart
names gates by number and values. The recommended gate is the summary's one
``cost_optimal`` row, starred (★) everywhere as in the printed table, ringed on the
trade-off chart when it is on the Pareto front.
"""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Sequence, cast

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.text import Annotation

from rampsim.experiment.tally import Tally, histogram_quantiles
from rampsim.report.chart import LABEL_SIZE, Obstacle, costs_note, in_one_unit, new_figure, place_labels
from rampsim.report.operating_curve import operating_curve, ordered, varying
from rampsim.units import Kind

if TYPE_CHECKING:
    from rampsim.experiment.results import Costs

__all__ = ["tradeoff_chart", "heatmap", "detection_chart", "render", "gate_label", "gate_values", "listed"]

_LISTED = 30
"""The most gates numbered on the trade-off chart and listed in its table."""

_LEAST_SPAN = 10.0
"""The least span (points of rate) of each axis of the trade-off chart."""

_AROUND = [(dx * r, dy * r) for r in (5.0, 12.0, 20.0, 30.0, 44.0)
           for dx, dy in ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (0, 1), (-1, 0), (0, -1))]
"""Candidate offsets (points) of a point's number: the four diagonals, then the sides, further out each round."""

_STAR = 9.0
"""The radius (points) of the recommended gate's star, which no number covers."""


def gate_label(row: pd.Series, parameters: Sequence[str]) -> str:
    """``error_rate_rollback.threshold=0.5%, *.sustain=3m``: the last two parts of each varied path."""
    return ", ".join(f"{'.'.join(p.split('.')[-2:])}={row[p]}" for p in parameters) or "the plan as written"


def gate_values(row: pd.Series, parameters: Sequence[str]) -> str:
    """``0.5%, 3m``: the gate's grid values, in the order of ``parameters``."""
    return ", ".join(str(row[p]) for p in parameters) or "the plan as written"


def listed(summary: pd.DataFrame) -> pd.DataFrame:
    """The gates the trade-off chart numbers and lists, by gate number: all of them up to 30; beyond, the
    recommended gate, then the Pareto front, then the cheapest others."""
    if len(summary) <= _LISTED:
        return summary.sort_values("gate")
    rank = np.where(summary["cost_optimal"], 0, np.where(summary["pareto"], 1, 2))
    chosen = summary.assign(_rank=rank).sort_values(["_rank", "cost", "gate"]).head(_LISTED)
    return chosen.drop(columns="_rank").sort_values("gate")


def tradeoff_chart(summary: pd.DataFrame, parameters: Sequence[str], title: str = "",
                   costs: Optional["Costs"] = None) -> Figure:
    """False-rollback rate against missed-incident rate with Wilson 95% intervals, the Pareto front, the
    recommended gate starred (the ``costs`` that picked it, those of ``summary``, under the title), every point
    numbered and a table of the numbers beside the plot."""
    table = listed(summary)
    figure = new_figure(15.0, max(6.5, 1.6 + 0.24 * (len(table) + 2)))
    plot, side = figure.subplots(1, 2, width_ratios=[1.35, 1])
    x, y = summary["false_rollback_rate"] * 100, summary["missed_incident_rate"] * 100
    x_err = np.vstack([x - summary["false_rollback_low"] * 100, summary["false_rollback_high"] * 100 - x])
    y_err = np.vstack([y - summary["missed_incident_low"] * 100, summary["missed_incident_high"] * 100 - y])
    plot.errorbar(x, y, xerr=np.nan_to_num(x_err), yerr=np.nan_to_num(y_err), fmt="o", color="0.45", ecolor="0.85",
                  markersize=4, label="gate (bars: 95% intervals)", zorder=1)
    front = summary[summary["pareto"]].sort_values("false_rollback_rate")
    plot.plot(front["false_rollback_rate"] * 100, front["missed_incident_rate"] * 100, "-o", color="tab:blue",
              markersize=6, label="Pareto front", zorder=2)
    best = summary[summary["cost_optimal"]]
    ring = not best.empty and bool(best["pareto"].iloc[0])
    if not best.empty:
        plot.plot(best["false_rollback_rate"] * 100, best["missed_incident_rate"] * 100, "*", color="tab:red",
                  markersize=2 * _STAR, markeredgecolor="black", label=f"★ recommended: #{int(best['gate'].iloc[0])}"
                  + (" (on the Pareto front: ringed)" if ring else ""), zorder=3)
    if ring:   # the front's dot under the star: a ring in its colour shows it
        plot.plot(best["false_rollback_rate"] * 100, best["missed_incident_rate"] * 100, "o", markersize=2 * _STAR + 8,
                  markerfacecolor="none", markeredgecolor="tab:blue", markeredgewidth=1.5, zorder=4)
    unplotted = summary[~(np.isfinite(x) & np.isfinite(y))]
    if not unplotted.empty:   # a rate without runs to measure it (no incident faced, no healthy ramp): said so
        plot.text(0.0, -0.13, textwrap.fill(
            f"not drawn (a rate with no run to measure it, n/a in the table): "
            f"#{_numbers(unplotted['gate'].astype(int).tolist())}", 110),
            transform=plot.transAxes, fontsize=LABEL_SIZE, va="top", color="0.3")
    plot.set_xlabel("false-rollback rate: healthy ramps held or rolled back (%)")
    plot.set_ylabel("missed-incident rate: incidents advanced (%)")
    _title(plot, title or "Gate trade-off", costs if not best.empty else None)
    plot.grid(True, alpha=0.3)
    if len(unplotted) == len(summary):   # nothing to draw (a mix without incidents): the rates' whole range
        plot.set_xlim(-5, 105)
        plot.set_ylim(-5, 105)
    else:
        _pad(plot)
    plot.legend(fontsize=LABEL_SIZE, loc="best", framealpha=0.9)
    numbers = []
    for key, tied in table.groupby(["false_rollback_rate", "missed_incident_rate"], sort=False, dropna=False):
        fr, mi = cast(tuple[float, float], key)  # pandas-stubs type group keys as Hashable
        if np.isfinite(fr) and np.isfinite(mi):
            text = _numbers(tied["gate"].astype(int).tolist())
            label = plot.annotate(textwrap.fill(text, 24), (fr * 100, mi * 100), textcoords="offset points",
                                  xytext=_AROUND[0], fontsize=LABEL_SIZE, ha="center", va="center",
                                  color="tab:red" if tied["cost_optimal"].any() else "black", in_layout=False)
            numbers.append((label, _AROUND))
    _legend_table(side, table, summary, parameters)
    drawn = np.isfinite(x) & np.isfinite(y)
    marks: list[Obstacle] = [(plot, (fr, mi, fr, mi), _STAR + 4 * ring + 1 if starred else 4.0) for fr, mi, starred
                             in zip(x[drawn], y[drawn], summary["cost_optimal"][drawn])]
    place_labels(figure, numbers, avoid=marks, gap=4.0)
    _leaders(plot, [label for label, _ in numbers], np.column_stack([x[drawn], y[drawn]]), _STAR + 4 * ring)
    return figure


def _leaders(ax: Axes, labels: Sequence[Annotation], points: np.ndarray, star: float) -> None:
    """A thin line from each number to its point when another point is less than twice as far from it: beside
    neighbouring points, numbers read as pairs ("5 7") or lists ("4, 5 3 2")."""
    renderer = ax.figure.canvas.get_renderer()  # type: ignore[attr-defined]  # an Agg canvas (new_figure)
    points = ax.transData.transform(points)
    for label in labels:
        box = label.get_window_extent(renderer)
        anchor = ax.transData.transform(label.xy)
        centre = np.array([(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2])
        distances = np.hypot(*(points - centre).T)
        others = distances[np.hypot(*(points - anchor).T) > 0.5]
        if not len(others) or others.min() >= 2 * np.hypot(*(anchor - centre)):
            continue
        edge = ax.transData.inverted().transform((np.clip(anchor[0], box.x0, box.x1),
                                                  np.clip(anchor[1], box.y0, box.y1)))
        ax.annotate("", xy=label.xy, xytext=tuple(edge), annotation_clip=False, in_layout=False,
                    arrowprops={"arrowstyle": "-", "color": label.get_color(), "linewidth": 0.6, "shrinkA": 0,
                                "shrinkB": star if label.get_color() == "tab:red" else 3.0})


def _title(ax: Axes, title: str, costs: Optional["Costs"]) -> None:
    """The chart's title, and under it the costs that picked the ★ gate when they are known."""
    ax.set_title(title + (f"\n★ recommended with {costs_note(costs)}" if costs is not None else ""), loc="left",
                 fontsize=11 if costs is not None else None, wrap=True)


def _pad(ax: Axes) -> None:
    """Leave a margin around the data for the numbers, show at least 10 points of rate on each axis (identical
    gates zoomed to 96.9-100.2%, as if their tiny differences mattered), and never negative rates or rates far past
    100%."""
    for limits, set_limits in ((ax.get_xlim(), ax.set_xlim), (ax.get_ylim(), ax.set_ylim)):
        low, high = limits
        if high - low < _LEAST_SPAN:   # widened around the data, kept within 0-100%
            middle = min(max((low + high) / 2, _LEAST_SPAN / 2), 100 - _LEAST_SPAN / 2)
            low, high = min(low, middle - _LEAST_SPAN / 2), max(high, middle + _LEAST_SPAN / 2)
        pad = (high - low) * 0.08
        set_limits(max(low - pad, -pad), min(high + pad, 100 + pad / 2))   # room for the numbers, no 110% tick


def _numbers(gates: list[int]) -> str:
    """``3, 5–9, 12``: gate numbers with runs of consecutive ones shortened."""
    runs: list[list[int]] = []
    for gate in sorted(gates):
        if runs and gate == runs[-1][-1] + 1:
            runs[-1].append(gate)
        else:
            runs.append([gate])
    return ", ".join(f"{r[0]}–{r[-1]}" if len(r) > 2 else ", ".join(map(str, r)) for r in runs)


def _legend_table(ax: Axes, table: pd.DataFrame, summary: pd.DataFrame, parameters: Sequence[str]) -> None:
    """The numbers' legend: number, parameter values, false-rollback rate, missed of the incidents faced and the
    incidents stopped before their fault (a rate alone read "0.0%" for 0 missed of 4 faced, 60 stopped early),
    median detection and cost, the recommended row starred and bold."""
    ax.axis("off")
    headers = ["#", *("\n".join(p.split(".")[-2:]) for p in parameters), "false\nrollback", "missed /\nfaced",
               "stopped\nearly", "detect\nmedian", "cost"]
    cells = [[("★ " if row["cost_optimal"] else "") + str(int(row["gate"])), *(str(row[p]) for p in parameters),
              _percent(row["false_rollback_rate"]), f"{int(row['missed_incidents'])}/{int(row['faced_incidents'])}",
              str(int(row["early_stops"])),
              in_one_unit([float(row[f"detect_median_{end}"]) for end in ("s", "low", "high")], Kind.DURATION)[0],
              f"{row['cost']:.3g}"]
             for _, row in table.iterrows()]
    shown = ax.table(cellText=cells, colLabels=headers, loc="upper center", cellLoc="center")
    shown.auto_set_font_size(False)
    shown.set_fontsize(LABEL_SIZE)
    shown.auto_set_column_width(list(range(len(headers))))
    height = 1.0 / (len(cells) + 3)
    for (row, _), cell in shown.get_celld().items():
        cell.set_height(height * (2 if row == 0 else 1))
        if row > 0 and cells[row - 1][0].startswith("★"):
            cell.set_text_props(fontweight="bold", color="tab:red")
            cell.set_facecolor("#fde8e8")
    best = summary[summary["cost_optimal"]]
    tied = summary[summary["cost"] == best["cost"].iloc[0]] if not best.empty else best
    picked = "★ recommended: " + (f"the tie-break among the {len(tied)} gates at the lowest cost (#"
                                  f"{_numbers(tied['gate'].astype(int).tolist())}): faster detection, less harm, "
                                  "fewer changes" if len(tied) > 1 else
                                  "the lowest cost (ties: faster detection, less harm, fewer changes)")
    note = textwrap.fill(picked, 100) + "\nmissed / faced: incidents advanced of those the gate faced (not stopped " \
        "early, before their fault)"
    if len(table) < len(summary):
        note += (f"\n{len(summary) - len(table)} more gates, unnumbered: see the summary table "
                 f"(rampsim sweep's summary.csv)")
    ax.set_title(note, fontsize=LABEL_SIZE, loc="left")


def _percent(rate: float) -> str:
    return "n/a" if pd.isna(rate) else f"{rate * 100:.1f}%"


def heatmap(summary: pd.DataFrame, x: str, y: str, value: str = "cost", title: str = "",
            others: Sequence[str] = (), costs: Optional["Costs"] = None) -> Figure:
    """``value`` (a summary column) over two grid parameters; ★ marks the recommended gate's cell (the ``costs``
    that picked it, those of ``summary``, under the title). The other
    varying parameters ``others`` are held at the recommended gate's values (a slice through it: each cell one
    gate); without a recommended gate they are averaged, and the title says so."""
    missing = [p for p in (x, y) if p not in summary]
    if missing or x == y:
        raise ValueError(f"a heatmap is over two different grid parameters (columns of the summary), got x={x!r} "
                         f"and y={y!r}" + (f"; not in the summary: {', '.join(missing)}" if missing else ""))
    best = summary[summary["cost_optimal"]]
    held = [p for p in others if p not in (x, y) and p in summary and summary[p].nunique() > 1]
    note = ""
    if held and not best.empty:
        at = {p: best[p].iloc[0] for p in held}
        summary = summary[np.logical_and.reduce([summary[p] == v for p, v in at.items()])]
        note = "; " + ", ".join(f"{p} = {v}" for p, v in at.items()) + " (the recommended gate's)"
    table = summary.pivot_table(index=y, columns=x, values=value, aggfunc="mean", sort=False)
    table = table.reindex(index=ordered(table.index), columns=ordered(table.columns))
    single = summary.groupby([y, x]).size().max() == 1
    if not single:
        note = "; mean over the other parameters"
    star = (str(best[y].iloc[0]), str(best[x].iloc[0])) if single and not best.empty else None
    percent = value.endswith(("_rate", "_low", "_high"))
    figure = new_figure(3.5 + 1.0 * len(table.columns), 2.2 + 0.55 * len(table.index))
    axes = figure.subplots()
    data = table.to_numpy(dtype=float) * (100 if percent else 1)   # rates in %, the colour bar's and the cells'
    image = axes.imshow(data, cmap="viridis_r", aspect="auto")
    long = max(len(str(c)) for c in table.columns) * len(table.columns) > 60
    axes.set_xticks(range(len(table.columns)), table.columns, rotation=45 if long else 0)
    axes.set_yticks(range(len(table.index)), table.index)
    axes.set_xlabel(x)
    axes.set_ylabel(y)
    norm = cast(Normalize, image.norm)
    for (i, j), cell in np.ndenumerate(data):
        if np.isfinite(cell):
            dark = _luminance(image.cmap(norm(cell))) < 0.179  # white text contrasts more than black below it
            text = f"{cell:.3g}%" if percent else f"{cell:.3g}"
            if star == (str(table.index[i]), str(table.columns[j])):
                text = "★ " + text
            axes.text(j, i, text, ha="center", va="center", fontsize=9, color="white" if dark else "black",
                      fontweight="bold" if text.startswith("★") else "normal")
    figure.colorbar(image, ax=axes, label=value + (" (%)" if percent else ""))
    picked = f"\n★ recommended with {costs_note(costs)}" if star and costs is not None else ""
    starred = " (★ recommended)" if star and not picked else ""
    axes.set_title((title or f"{value} per run{starred}") + note + picked, fontsize=10, wrap=True)
    return figure


def _luminance(rgba: tuple[float, float, float, float]) -> float:
    """The relative luminance of a colour (WCAG 2: sRGB components linearised, then weighted)."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgba[:3]]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def detection_chart(tally: Tally, summary: pd.DataFrame, parameters: Sequence[str],
                    gates: Optional[Sequence[int]] = None) -> Figure:
    """Detection delays of caught incidents (minutes) for some gates (by default the recommended gate and the
    Pareto front, at most 12), each named by its number and values; drawn from the sweep's delay histograms
    (``SweepResult.tally``), the boxes exactly those of the raw delays."""
    if gates is None:
        shown = summary[summary["cost_optimal"] | summary["pareto"]]
        ranked = shown.sort_values(["cost_optimal", "cost", "gate"], ascending=[False, True, True])
        gates = ranked["gate"].head(12).tolist()
    gates = sorted(int(g) for g in gates)
    by_gate = summary.set_index("gate")
    cell, value, count = tally.gate_delays()
    data = [(value[cell == g] / 60, count[cell == g]) for g in gates]
    labels = []
    for gate, (_, caught) in zip(gates, data):
        row = cast(pd.Series, by_gate.loc[gate])  # one summary row per gate
        labels.append(f"{'★ ' if row['cost_optimal'] else ''}#{gate}  {gate_values(row, parameters)}"
                      f"  ({int(caught.sum())} caught)")
    figure = new_figure(10.0, 2.1 + 0.45 * max(len(gates), 1))
    axes = figure.subplots()
    positions = np.arange(1, len(gates) + 1)
    filled = [i for i, (values, _) in enumerate(data) if len(values)]
    if filled:
        axes.bxp([_box(*data[i]) for i in filled], positions=positions[filled], orientation="horizontal",
                 widths=0.6)
    axes.set_yticks(positions, labels, fontsize=LABEL_SIZE + 1)
    axes.set_ylim(0.4, len(gates) + 0.6)
    for i, label in enumerate(axes.get_yticklabels()):
        if label.get_text().startswith("★"):
            label.set_color("tab:red")
            label.set_fontweight("bold")
    axes.axvline(0, color="0.5", linewidth=0.8)
    axes.set_xlabel("minutes from the start of the SLO breach to the gate's decision (negative: before it)")
    named = ", ".join(".".join(p.split(".")[-2:]) for p in parameters) or "the plan as written"
    axes.set_title("Time to detect caught incidents (box: quartiles; whiskers: 5th–95th percentile)\n"
                   + textwrap.shorten(f"gates: #, {named}", 110), loc="left", fontsize=10)
    axes.grid(True, axis="x", alpha=0.3)
    return figure


def _box(values: np.ndarray, counts: np.ndarray) -> dict[str, Any]:
    """A box of ``matplotlib``'s ``boxplot(whis=(5, 95))`` over the values a histogram counts (distinct ``values``
    sorted, their ``counts``): quartiles and median, whiskers at the most extreme values within the 5th and
    95th percentiles (at least the quartiles), each value beyond them a flier."""
    q5, q1, median, q3, q95 = (float(histogram_quantiles(np.zeros(len(values), np.int64), values, counts, 1, p)[0][0])
                               for p in (0.05, 0.25, 0.5, 0.75, 0.95))
    high, low = values[values <= q95], values[values >= q5]
    whishi = q3 if not len(high) or high.max() < q3 else float(high.max())
    whislo = q1 if not len(low) or low.min() > q1 else float(low.min())
    return {"med": median, "q1": q1, "q3": q3, "whislo": whislo, "whishi": whishi,
            "fliers": values[(values < whislo) | (values > whishi)]}


def render(tally: Tally, summary: pd.DataFrame, parameters: Sequence[str], directory: Path,
           title: str = "", costs: Optional["Costs"] = None) -> list[Path]:
    """Write ``tradeoff.png``, ``detection.png``, and ``operating-curve.png`` when one parameter varies or
    ``heatmap.png`` (cost over the first two varying parameters, the others at the recommended gate's values)
    when several do; the charts with a ★ say the ``costs`` that picked it (those ``summary`` was made with)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    charts = [("tradeoff.png", tradeoff_chart(summary, parameters, title, costs)),
              ("detection.png", detection_chart(tally, summary, parameters))]
    axes = varying(summary, parameters)
    if len(axes) == 1:
        charts.append(("operating-curve.png", operating_curve(summary, axes[0], title, costs)))
    elif len(axes) >= 2:
        charts.append(("heatmap.png", heatmap(summary, axes[0], axes[1], "cost", others=axes[2:], costs=costs)))
    written = []
    for name, figure in charts:
        figure.savefig(directory / name, dpi=110)
        written.append(directory / name)
    return written
