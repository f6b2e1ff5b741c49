"""The calibration fit report: observed history against the calibrated model, as a chart and a table.

``fit.png`` has one row per series (1-minute requests, error rate, P99): the two
distributions as overlaid histograms on shared bins (of the minutes above 0, the
share at 0 of each side said in the title, the tails in the outermost bars), each bar
the share of its side's minutes on a log axis so that a tail of a few minutes shows, with the
thresholds of the plan's rules that read that series as drawn (:func:`rule_thresholds`: where a
gate would stop the ramp, against the minutes a healthy service has), and the autocorrelation up
to 30 minutes; a panel with nothing to draw says why. When the history holds enough whole
days, a last row draws the requests day by day (:mod:`rampsim.calibration.day_to_day`): each
day's dispersion index and lag-1 autocorrelation, history against model. ``fit.md`` lists
every fitted parameter with its interval, what the history could not tell, the KS distance
per series, the bursts detected in the history and in the simulation, and the day-to-day
check.
"""
from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Optional

import numpy as np
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from rampsim.calibration.comparison import Comparison
from rampsim.calibration.day_to_day import NOISE, DaySpread
from rampsim.calibration.fit import Calibration
from rampsim.calibration.traffic_yaml import shown
from rampsim.plan import Plan
from rampsim.plan.schema import Metric
from rampsim.units import Kind, format_value

__all__ = ["fit_chart", "fit_markdown", "write_fit_report", "rule_thresholds"]

_SCALE = {"requests": (1.0, "requests per minute"), "error_rate": (100.0, "error rate (%)"),
          "p99": (1000.0, "P99 latency (ms)")}


_NONE = {"requests": "have no requests", "error_rate": "have no errors"}   # what a minute at 0 is


def _share(fraction: float) -> str:
    """A share of minutes as a percentage that never reads 0% or 100% when it is not."""
    if 0 < fraction < 0.001:
        return "<0.1%"
    if 0.999 < fraction < 1:
        return ">99.9%"
    return f"{fraction:.1%}"


def _at_zero(name: str, observed: np.ndarray, simulated: np.ndarray) -> str:
    """'98.7% of history minutes and 99.9% of model minutes have no errors' ('' when no minute is at 0)."""
    shares = [(float(np.mean(values == 0)), who) for values, who in ((observed, "history"), (simulated, "model"))
              if len(values)]
    if not any(share for share, _ in shares):
        return ""
    return " and ".join(f"{_share(share)} of {who} minutes" for share, who in shares) + \
        f" {_NONE.get(name, 'are 0')}"


def _empty(ax: Axes, why: str) -> None:
    """A panel with nothing to draw says why, without an axis of made-up numbers."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, textwrap.fill(why, 60), ha="center", va="center", transform=ax.transAxes, fontsize=9)


def _title(ax: Axes, title: str, note: str = "") -> None:
    ax.set_title(title + ("\n" + textwrap.fill(note, 80) if note else ""), fontsize=10 if not note else 9)


def _legend(ax: Axes) -> None:
    """A legend when the panel has labelled artists (matplotlib warns of an empty one)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)


Threshold = tuple[str, str, float]
"""A rule's name, how it reads its series (``'rollback, >= over 1m'``) and its threshold."""


def rule_thresholds(plan: Plan) -> dict[str, list[Threshold]]:
    """Per series of the fit report, the plan's rules that read it as it is drawn (a whole arm's 1-minute error rate
    or P99: no segment, no comparison with the baseline, no trend, no test)."""
    found: dict[str, list[Threshold]] = {}
    for name, rule in plan.rules.items():
        series = ("error_rate" if rule.metric is Metric.ERROR_RATE
                  else "p99" if rule.metric is Metric.LATENCY and rule.quantile == 0.99 else None)
        if series is None or rule.segment is not None or rule.compare is not None or rule.trend or rule.test:
            continue
        window = format_value(rule.window.seconds, Kind.DURATION)
        found.setdefault(series, []).append((name, f"{rule.action}, {rule.op.value} over {window}",
                                             float(rule.threshold)))
    return found


def _threshold_lines(ax: Axes, lines: list[Threshold], scale: float, unit: str) -> None:
    """A dashed line at each threshold near the minutes drawn (the rules that share one named together), the axis
    widened a little to show them; thresholds far beyond (more than 1.5 times the axis' end, or below its start)
    are named in the legend rather than squeezing the distribution into a sliver."""
    at: dict[float, list[tuple[str, str]]] = {}
    for name, reading, value in lines:
        at.setdefault(value * scale, []).append((name, reading))
    low, high = ax.get_xlim()
    near = [value for value in at if low / 1.5 <= value <= high * 1.5 and (value > 0 or ax.get_xscale() == "linear")]
    if near:
        ax.set_xlim(min(low, min(near) / 1.1), max(high, max(near) * 1.1))
    for value in near:
        ax.axvline(value, color="tab:red", ls="--", lw=1)
        ax.text(value, 0.97, "\n".join(f"{name} ({reading})" for name, reading in at[value]),
                transform=ax.get_xaxis_transform(), rotation=90, ha="right", va="top", fontsize=7, color="tab:red")
    far = [textwrap.fill(f"{', '.join(name for name, _ in at[value])}: {value:g}", 40)
           for value in sorted(at) if value not in near]
    if far:   # a legend entry, placed with the legend where it covers the fewest bars
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles + [Line2D([], [], color="tab:red", ls="--", lw=1)],
                  labels + [f"rules beyond the chart ({unit}):\n" + "\n".join(far)], fontsize=7, loc="best")


def _log_ticks(axis: Axis, form: str, span: float) -> None:
    """Plain labels on a log ``axis`` spanning a factor ``span``: at 1, 2 and 5 times each power of ten over two
    decades or less, at the powers over more; none on the minor ticks (matplotlib's own there read ``6×10⁻¹`` beside
    ``1%``, and ran into each other)."""
    axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0) if span <= 100 else (1.0,)))   # 8 labels at most
    axis.set_major_formatter(FuncFormatter(lambda value, _: form.format(value)))
    axis.set_minor_formatter(NullFormatter())


def _distribution(ax: Axes, name: str, label: str, observed: np.ndarray, simulated: np.ndarray, ks: float) -> None:
    """Overlaid histograms of the minutes above 0 (the outermost bars gather the tails), each bar the share of its
    side's minutes, on a log y axis (a tail of a few minutes stays visible under the bulk); the share of minutes at
    0 and of tails said in the title; a panel without a minute above 0 says why."""
    if math.isfinite(ks):
        title = f"{label}: KS distance {ks:.3f} over all minutes"
    else:   # a side without a whole minute: the history lacks the series, or neither side has a whole minute
        title = f"{label}: " + ("not in the history" if len(simulated) else "no whole minute")
    at_zero = _at_zero(name, observed, simulated)
    positive = [values[values > 0] for values in (observed, simulated)]
    both = np.concatenate(positive)
    if not len(both):
        _title(ax, title)
        if not (len(observed) or len(simulated)):
            _empty(ax, "no whole minute in the history or the model: nothing to draw")
        else:
            _empty(ax, f"{at_zero}: no distribution above 0 to draw")
        ax.set_xlabel(label)
        return
    low, high = np.percentile(both, [0.5, 99.9])
    skewed = high > 10 * low    # bursts: a log axis keeps the bulk and the tail both readable
    bins = np.geomspace(low, high, 60) if skewed else np.linspace(low, high if high > low else low + 1, 60)
    minute = 100.0   # the share (%) of one minute of the longer side: the smallest bar, kept above the axis' foot
    tallest = 0.0
    for values, side, who, colour in ((positive[0], observed, "history", "tab:blue"),
                                      (positive[1], simulated, "calibrated model", "tab:orange")):
        if len(values):   # each bar the share of all the side's minutes: with those at 0, the side's 100%
            heights, _, _ = ax.hist(np.clip(values, bins[0], bins[-1]), bins=bins.tolist(), alpha=0.55, label=who,
                                    color=colour, weights=np.full(len(values), 100 / len(side)))
            minute, tallest = min(minute, 100 / len(side)), max(tallest, float(np.max(heights)))
    outside = float(np.mean((both < bins[0]) | (both > bins[-1])))
    notes = [f"{at_zero}; bars show the rest" if at_zero else "",
             f"the outermost bars also hold the tails ({_share(outside)} of the minutes drawn)" if outside else ""]
    _title(ax, title, "; ".join(note for note in notes if note))
    if skewed:
        ax.set_xscale("log")
        _log_ticks(ax.xaxis, "{:g}", bins[-1] / bins[0])   # 0.1, not 10⁻¹
    ax.set_yscale("log")
    ax.set_ylim(minute / 2, min(tallest * 12, 100.0))   # room above the tallest bar for the legend, to 100%
    _log_ticks(ax.yaxis, "{:g}%", ax.get_ylim()[1] / ax.get_ylim()[0])
    ax.set_xlabel(label + (" (log scale)" if skewed else ""))
    ax.set_ylabel("share of minutes (log scale)")
    _legend(ax)


def _why_no_acf(name: str, values: np.ndarray) -> str:
    """Why the autocorrelation of ``values`` (the finite minutes of one side) is not defined."""
    if len(values) < 4:
        return f"{len(values)} whole minute(s), fewer than the 4 a lag of one needs" if len(values) else \
            "no whole minute"
    return f"every minute {_NONE.get(name, 'is the same').replace('have', 'has')}" if np.all(values == 0) else \
        "every minute the same"


def _autocorrelation(ax: Axes, name: str, label: str, series) -> None:
    """Both autocorrelations; a side that has none (a constant or too short series) says why."""
    lags = np.arange(1, len(series.acf_observed) + 1)
    missing = []
    for acf, values, who, style, colour in ((series.acf_observed, series.observed, "history", "o-", "tab:blue"),
                                            (series.acf_simulated, series.simulated, "calibrated model", "s--",
                                             "tab:orange")):
        if np.isfinite(acf).any():
            ax.plot(lags, acf, style, ms=3, label=who, color=colour)
        else:
            missing.append(f"{who}: {_why_no_acf(name, values)}")
    if len(missing) == 2:
        _title(ax, f"{label}: autocorrelation")
        _empty(ax, "no autocorrelation to draw (" + "; ".join(missing) + ")")
        ax.set_xlabel("lag (minutes)")
        return
    _title(ax, f"{label}: autocorrelation", "; ".join(f"none for the {why}" for why in missing))
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xlabel("lag (minutes)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("autocorrelation")
    _legend(ax)


def _days(ax: Axes, spread: DaySpread, log: bool) -> None:
    """One statistic day by day: the history's days and the model's, each in its own column of points."""
    for x, values, who, marker, colour in ((0, spread.observed, "history", "o", "tab:blue"),
                                           (1, spread.simulated, "calibrated model", "s", "tab:orange")):
        offsets = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else np.zeros(1)
        ax.plot(x + offsets, values, marker, ms=5, alpha=0.75, color=colour, label=f"{who}: {len(values)} days")
    verdict = ("the history's days spread more" if spread.ratio > 1 else "the model's days spread more") \
        if spread.differs else "the two spread alike"
    level = (("the history's days run higher" if spread.shift > 0 else "the model's days run higher")
             if spread.level_differs else "at one level")
    _title(ax, f"requests day by day: {spread.name}",
           f"{verdict} (ratio {spread.ratio:.3g}, p = {spread.p_value:.2g}); {level} (p = {spread.level_p:.2g})")
    ax.set_xticks([0, 1], ["history", "calibrated model"])
    ax.set_xlim(-0.5, 1.5)
    values = np.concatenate([spread.observed, spread.simulated])
    log = log and bool(np.all(values > 0)) and values.max() > 4 * values.min()   # a wide spread of positive values
    share = spread.name == NOISE   # a share of the rate, drawn in percent
    if log:
        ax.set_yscale("log")
        _log_ticks(ax.yaxis, "{:g}", values.max() / values.min())
    if share:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value * 100:.3g}%"))
    ax.set_ylabel(spread.name + (", % of the rate" if share else "") + (" (log scale)" if log else ""))
    _legend(ax)


def fit_chart(comparison: Comparison, thresholds: Optional[dict[str, list[Threshold]]] = None) -> Figure:
    """Distributions and autocorrelations, observed against simulated, one row per series, and the requests day by
    day when they were checked; ``thresholds`` (by series, :func:`rule_thresholds`) drawn on the distributions."""
    spreads = comparison.day_to_day.spreads
    rows = len(comparison.series) + bool(spreads)
    fig = Figure(figsize=(11, 3.4 * rows), layout="constrained")
    axes = fig.subplots(rows, 2, squeeze=False)
    for row, series in zip(axes, comparison.series):
        scale, label = _SCALE.get(series.name, (1.0, series.unit))
        _distribution(row[0], series.name, label, series.observed * scale, series.simulated * scale, series.ks)
        if thresholds and thresholds.get(series.name) and row[0].has_data():
            _threshold_lines(row[0], thresholds[series.name], scale, label)
        _autocorrelation(row[1], series.name, label, series)
    for ax, spread, log in zip(axes[-1] if spreads else (), spreads, (True, False)):
        _days(ax, spread, log)
    fig.suptitle(f"Calibration fit: history against "
                 f"{format_value(comparison.simulated_days * 86400, Kind.DURATION)} simulated")
    return fig


def fit_markdown(calibration: Calibration, comparison: Comparison) -> str:
    """The fit report's text (see the module docstring)."""
    lines = ["# Calibration fit", "",
             f"History: {calibration.duration / 86400:.2f} days, {calibration.ticks:,} complete scrapes of arm "
             f"`{calibration.arm}`; model simulated over "
             f"{format_value(comparison.simulated_days * 86400, Kind.DURATION)}.", "",
             "## Parameters", "", "| parameter | value | 95% interval | method |", "|---|---|---|---|"]
    for path, estimate in calibration.estimates().items():
        if not math.isfinite(estimate.value):   # the history could not tell it: the plan's, or the stated default
            lines.append(f"| `{path}` | {calibration.kept(path)} | not estimable | "
                         f"{estimate.note or estimate.method} |")
            continue
        interval = f"[{shown(path, estimate.low)}, {shown(path, estimate.high)}]"
        lines.append(f"| `{path}` | {shown(path, estimate.value)} | {interval} | {estimate.method} |")
    notes = calibration.notes()
    if notes:
        lines += ["", "## Notes: what the history could not tell, and what the model cannot reproduce", ""]
        lines += [f"- {note}" for note in notes]
    lines += ["", "## Observed against simulated", "",
              "| series | KS distance | p-value (optimistic: minutes are autocorrelated) | lag-1 acf history | "
              "lag-1 acf model |", "|---|---|---|---|---|"]
    for s in comparison.series:
        if not math.isfinite(s.ks):
            lines.append(f"| {s.unit} | not in the history | | | {s.acf_simulated[0]:.2f} |")
            continue
        lines.append(f"| {s.unit} | {s.ks:.3f} | {s.p_value:.2g} | {s.acf_observed[0]:.2f} | {s.acf_simulated[0]:.2f} |")
    lines += ["", "| bursts detected | history | model |", "|---|---|---|"]
    for process, (observed, simulated) in comparison.bursts.items():
        lines.append(f"| {process} | {observed} | {simulated} |")
    days = comparison.day_to_day
    lines += ["", "## Day to day", "", days.summary() + "."]
    if days.spreads:
        lines += ["", "| requests, per day | history's days | model's days | variance ratio | F test p | "
                  "Welch p (level) |", "|---|---|---|---|---|---|"]
        lines += [f"| {s.name} | {_spread(s.name, s.observed)} | {_spread(s.name, s.simulated)} | {s.ratio:.3g} | "
                  f"{s.p_value:.2g} | {s.level_p:.2g} |" for s in days.spreads]
    lines += ["", "![fit](fit.png)", ""]
    return "\n".join(lines)


def _spread(name: str, values: np.ndarray) -> str:
    form = "{:.2%}" if name == NOISE else "{:.3g}"
    low, high, middle = (form.format(v) for v in (np.min(values), np.max(values), np.median(values)))
    return f"{low} to {high} (median {middle})"


def write_fit_report(directory: Path, calibration: Calibration, comparison: Comparison,
                     plan: Optional[Plan] = None) -> list[Path]:
    """Write ``fit.md`` and ``fit.png`` to ``directory`` (with ``plan``'s rule thresholds on the chart); return their
    paths."""
    directory.mkdir(parents=True, exist_ok=True)
    chart, text = directory / "fit.png", directory / "fit.md"
    fit_chart(comparison, rule_thresholds(plan) if plan is not None else None).savefig(chart, dpi=110)
    text.write_text(fit_markdown(calibration, comparison))
    return [text, chart]
