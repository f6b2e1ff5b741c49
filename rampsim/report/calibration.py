"""The calibration fit report: observed history against the calibrated model, as a chart and a table.

``fit.png`` has one row per series (1-minute requests, error rate, P99): the two
distributions as overlaid histograms on a shared scale, and the autocorrelation up
to 30 minutes. ``fit.md`` lists every fitted parameter with its interval, what the
history could not tell, the KS distance per series and the bursts detected in the
history and in the simulation.
"""
from __future__ import annotations

import math

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from rampsim.calibration.comparison import Comparison
from rampsim.calibration.fit import Calibration
from rampsim.calibration.traffic_yaml import shown
from rampsim.units import Kind, format_value

__all__ = ["fit_chart", "fit_markdown", "write_fit_report"]

_SCALE = {"requests": (1.0, "requests per minute"), "error_rate": (100.0, "error rate (%)"),
          "p99": (1000.0, "P99 latency (ms)")}


def fit_chart(comparison: Comparison) -> Figure:
    """Distributions and autocorrelations, observed against simulated, one row per series."""
    fig = Figure(figsize=(11, 3.2 * len(comparison.series)), layout="constrained")
    axes = fig.subplots(len(comparison.series), 2, squeeze=False)
    for row, series in zip(axes, comparison.series):
        scale, label = _SCALE.get(series.name, (1.0, series.unit))
        observed, simulated = series.observed * scale, series.simulated * scale
        both = np.concatenate([observed, simulated])
        positive = both[both > 0]
        low, high = np.nanpercentile(positive, [0.5, 99.9]) if len(positive) else (1.0, 2.0)
        skewed = high > 10 * low    # bursts: a log axis keeps the bulk and the tail both readable
        bins = np.geomspace(low, high, 60) if skewed else np.linspace(low, high if high > low else low + 1, 60)
        for values, name, colour in ((observed, "history", "tab:blue"), (simulated, "calibrated model", "tab:orange")):
            if len(values):   # a density of no values divides by zero
                row[0].hist(values, bins=bins, density=True, alpha=0.55, label=name, color=colour)
        if skewed:
            row[0].set_xscale("log")
        row[0].set_xlabel(label + (" (log scale)" if skewed else ""))
        row[0].set_ylabel("density")
        row[0].set_title(f"{label}: " + (f"KS distance {series.ks:.3f}" if math.isfinite(series.ks)
                                         else "not in the history"), fontsize=10)
        row[0].legend(fontsize=8)
        lags = np.arange(1, len(series.acf_observed) + 1)
        row[1].plot(lags, series.acf_observed, "o-", ms=3, label="history", color="tab:blue")
        row[1].plot(lags, series.acf_simulated, "s--", ms=3, label="calibrated model", color="tab:orange")
        row[1].axhline(0.0, color="grey", lw=0.8)
        row[1].set_xlabel("lag (minutes)")
        row[1].xaxis.set_major_locator(MaxNLocator(integer=True))
        row[1].set_ylabel("autocorrelation")
        row[1].set_title(f"{label}: autocorrelation", fontsize=10)
        row[1].legend(fontsize=8)
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
        if not math.isfinite(estimate.value):   # nothing to fit it on and no stated default: the plan's stays
            lines.append(f"| `{path}` | the plan's own | not estimable | {estimate.note or estimate.method} |")
            continue
        interval = ("default (not estimable)" if estimate.fallback else
                    f"[{shown(path, estimate.low)}, {shown(path, estimate.high)}]")
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
    lines += ["", "![fit](fit.png)", ""]
    return "\n".join(lines)


def write_fit_report(directory: Path, calibration: Calibration, comparison: Comparison) -> list[Path]:
    """Write ``fit.md`` and ``fit.png`` to ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    chart, text = directory / "fit.png", directory / "fit.md"
    fit_chart(comparison).savefig(chart, dpi=110)
    text.write_text(fit_markdown(calibration, comparison))
    return [text, chart]
