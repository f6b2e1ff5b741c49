"""One self-contained HTML page of a sweep or a check, for a CI job to keep as an artifact.

:func:`write_sweep_html` writes the recommended gate and its diff against the swept
plan, the table of gates (rates with Wilson 95% intervals, detection, harm, cost),
the per-scenario breakdown and the sweep's charts; :func:`write_check_html` writes a
check's verdict, its bounds and their intervals look by look.

The page loads nothing: charts are PNG ``data:`` URIs, the style sheet is inline,
there is no script, and a Content-Security-Policy forbids any other resource, so it
reads the same from an artifact store, offline or printed. Every text that comes from
a plan, a mix or a grid is escaped.
"""
from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from rampsim.experiment.axes import gate_values, own_value_text
from rampsim.experiment.check import EXCEEDED, MET, BoundVerdict, CheckReport
from rampsim.experiment.results import RECOMMENDATION_RULE, Costs, SweepResult, runs_in_words
from rampsim.plan.schema import Plan
from rampsim.report.chart import in_one_unit as _in_one_unit
from rampsim.report.tradeoff import gate_label, gate_values as grid_values
from rampsim.units import Kind

__all__ = ["write_sweep_html", "write_check_html", "MAX_ROWS"]

MAX_ROWS = 30
"""Sweeps with more gates list only the Pareto front and the recommended gate (all are in ``summary.csv``)."""

MAX_GATE_COLUMNS = 10
"""The per-scenario breakdown has one column per listed gate up to this many (one row per scenario, readable
without scrolling at 1400 px); with more, it shows the recommended gate's measures, and every gate's in a
``<details>`` element."""

_CSS = """
:root { --ink: #1f2328; --muted: #57606a; --line: #d0d7de; --head: #f6f8fa; --mark: #fff8c5;
        --good: #1a7f37; --bad: #cf222e; --warn: #9a6700; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       max-width: 1600px; margin: 2rem auto; padding: 0 1rem; }
p { max-width: 110ch; }
h1 { font-size: 1.5rem; margin: 0 0 .3rem; }
h2 { font-size: 1.15rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; margin-top: 2rem; }
p { margin: .4rem 0; }
.meta, .note, figcaption { color: var(--muted); font-size: .9rem; }
.callout { border-left: 4px solid var(--warn); background: var(--mark); padding: .6rem 1rem; margin: .8rem 0; }
.callout.met { border-left-color: var(--good); background: #dafbe1; color: var(--ink); }
.callout.exceeded { border-left-color: var(--bad); background: #ffebe9; color: var(--ink); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .88rem; }
th, td { border: 1px solid var(--line); padding: .25rem .55rem; text-align: left; vertical-align: top; }
th { background: var(--head); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
th .sub, td .sub { display: block; color: var(--muted); font-size: .85em; font-weight: normal; }
tr.best td, td.best, th.best { background: var(--mark); font-weight: 600; }
td.flag { color: var(--bad); font-weight: 600; }
td.missed { color: var(--bad); font-weight: 700; background: #ffebe9; }
td.false { color: var(--warn); }
td .early { color: var(--warn); font-style: italic; }
details > summary { cursor: pointer; color: var(--muted); margin: .5rem 0; }
.met { color: var(--good); } .exceeded { color: var(--bad); } .undecided { color: var(--warn); }
figure { margin: 1.2rem 0; }
img { max-width: 100%; height: auto; border: 1px solid var(--line); }
code { font-size: .9em; background: var(--head); padding: 0 .2em; }
@media print {
  body { max-width: none; margin: 0; font-size: 10pt; }
  .scroll { overflow: visible; }
  table { font-size: 8.5pt; } td.num { white-space: normal; }
  h2 { break-after: avoid; }
  table, figure, .callout { break-inside: avoid; }
  tr.best td, th, .callout { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""
_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"  # nothing loads but the page itself

Cell = Union[str, tuple[str, str]]
"""A table cell: its text, or its text and a CSS class (``num``, ``flag``). A text's further lines (after
``\n``) are shown below its first, smaller (an interval below its estimate); one that starts with ``~`` is an
early-stop note (styled apart)."""


def _e(value: object) -> str:
    return html.escape(str(value))


def _page(title: str, sections: Iterable[str]) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<link rel="icon" href="data:,">\n<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n'
            f"<body>\n" + "\n".join(sections) + "\n</body>\n</html>\n")


def _lines(text: str, breakable: bool = False) -> str:
    """``text`` escaped, its first line as is, each further one below it (``.sub``; ``.early`` after ``~``); with
    ``breakable``, the first line may break after its dots and underscores (a parameter's long path)."""
    first, *rest = text.split("\n")
    head = _e(first).replace(".", ".<wbr>").replace("_", "_<wbr>") if breakable else _e(first)
    return head + "".join(f'<span class="sub{" early" if line.startswith("~") else ""}">{_e(line.lstrip("~"))}'
                               "</span>" for line in rest)


def _table(header: Sequence[Cell], rows: Iterable[tuple[str, Sequence[Cell]]]) -> str:
    """``rows`` as (row CSS class, cells); every text escaped."""
    def css(name: str) -> str:
        return f' class="{name}"' if name else ""

    def cell(c: Cell, tag: str = "td") -> str:
        text, name = (c, "") if isinstance(c, str) else c
        shown = _lines(text, breakable=tag == "th")   # a header's long parameter path may break
        return f"<{tag}{css(name)}>{shown}</{tag}>"
    body = "".join(f"<tr{css(name)}>{''.join(map(cell, cells))}</tr>\n" for name, cells in rows)
    head = "".join(cell(h, "th") for h in header)
    return f'<div class="scroll"><table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}</tbody></table></div>'


def _figure(png: bytes, caption: str) -> str:
    uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return f'<figure><img src="{uri}" alt="{_e(caption)}"><figcaption>{_e(caption)}</figcaption></figure>'


def _interval(row: pd.Series, name: str, kind: Kind, sep: str = " ") -> str:
    """``1.2% [0.3%, 4.5%]`` from a summary row's ``NAME_rate``/``NAME_s``, ``NAME_low`` and ``NAME_high``, in one
    unit; ``sep`` between the estimate and its interval (``\n``: the interval on a line of its own)."""
    estimate = row[f"{name}_rate"] if kind is Kind.RATIO else row[f"{name}_s"]
    low, high = row[f"{name}_low"], row[f"{name}_high"]
    if pd.isna(estimate):
        return "n/a"
    if pd.isna(low) or pd.isna(high):
        return _in_one_unit([estimate], kind)[0]
    middle, lower, upper = _in_one_unit([estimate, low, high], kind)
    return f"{middle}{sep}[{lower}, {upper}]"


# -- sweeps ----------------------------------------------------------------------------------------

def write_sweep_html(result: SweepResult, path: Path, *, charts: Sequence[Path] = (),
                     costs: Optional[Costs] = None, plan: Optional[Plan] = None) -> Path:
    """Write ``path`` (e.g. ``DIR/report.html``): the recommended gate, the gates, the per-scenario
    breakdown and the ``charts`` (PNG files, e.g. what :func:`~rampsim.report.tradeoff.render`
    returned), for ``costs`` (default: the sweep's own). With the swept ``plan`` the recommendation is
    shown as a diff against it. Returns ``path``."""
    costs = costs or result.costs()
    summary = result.summary(costs)
    parameters = result.parameters
    best = summary[summary["cost_optimal"]].iloc[0]
    shown = summary if len(summary) <= MAX_ROWS else summary[summary["pareto"] | summary["cost_optimal"]]
    meta = result.meta
    name = plan.name if plan is not None else Path(str(meta.get("plan", "a plan"))).name
    costs_text = f"fr={costs.false_rollback:g}, mi={costs.missed_incident:g}, harm={costs.harmed_request:g}"
    environment = int(best["environment_runs"])
    sections = [
        f"<h1>Sweep of {_e(name)}</h1>",
        f'<p class="meta">{len(summary)} gate(s) × {_e(meta.get("replicates", "?"))} replicates of mix '
        f'{_e(meta.get("mix", "?"))} (seed {_e(meta.get("seed", "?"))}, {_e(meta.get("fidelity", "?"))} fidelity, '
        f'rampsim {_e(meta.get("rampsim_version", "?"))}): {runs_in_words(best)} per gate, ground truth from the '
        f"plan's SLO. Costs {_e(costs_text)}.</p>",
        "<h2>Recommended gate</h2>",
        f'<div class="callout"><p><strong>★ {_e(gate_label(best, parameters))}</strong></p>'
        f"<p>false rollbacks {_e(_interval(best, 'false_rollback', Kind.RATIO))}; missed incidents "
        f"{_e(_interval(best, 'missed_incident', Kind.RATIO))}; "
        + f"environment stops {_e(_interval(best, 'environment_stop', Kind.RATIO))}; " * bool(environment)
        + "median detection "
        f"{_e(_interval(best, 'detect_median', Kind.DURATION))}; cost {best['cost']:.3f} per run.</p>"
        f'<p class="note">The rule: {_e(RECOMMENDATION_RULE)}.</p></div>',
        _diff(result, best, costs, plan),
        "<h2>Gates</h2>",
        _gates_table(shown, parameters, bool(environment)),
        '<p class="note">Detection: the decision\'s time minus the incident\'s start by the SLO, negative when '
        "the gate stopped before the SLO was breached. Harm: canary requests served by a faulty arm before the "
        "decision, per incident run. Pareto: no other gate has a false-rollback rate and a missed-incident rate as "
        "low or lower, one of them lower."
        + " Environment stops: stops of environment incidents (SLO breaches the release did not cause: stopping "
          "the canary does not fix them), neither false rollbacks nor catches, at no cost." * bool(environment)
        + "</p>",
        f'<p class="note">{len(shown)} of the {len(summary)} gates: the Pareto front and the recommended one; '
        "all are in summary.csv and SweepResult.summary().</p>"
        if len(shown) < len(summary) else "",
        "<h2>By scenario</h2>",
        _breakdown_table(result.breakdown(), shown, parameters),
        *(f'<p class="note"><strong>Note:</strong> {_e(note)}.</p>' for note in result.breakdown_notes(int(best["gate"]))),
    ]
    if charts:
        sections += ["<h2>Charts</h2>", *(_figure(Path(chart).read_bytes(), Path(chart).name) for chart in charts)]
    path = Path(path)
    path.write_text(_page(f"rampsim sweep: {name}", sections), encoding="utf-8")
    return path


def _diff(result: SweepResult, best: pd.Series, costs: Costs, plan: Optional[Plan]) -> str:
    """The recommended grid values against the swept plan's (as written in its file)."""
    if not result.parameters:
        return '<p class="note">No parameter was varied: the recommendation is the plan as written.</p>'
    if plan is None:
        return (_table(["parameter", "recommended"], (("", [p, str(best[p])]) for p in result.parameters))
                + '<p class="note">Without the swept plan the values it had cannot be shown.</p>')
    chosen = result.best_plan(plan, costs)
    rows = [("best" if gate_values(chosen, p) != gate_values(plan, p) else "", [p, own_value_text(plan, p), str(best[p])])
            for p in result.parameters]
    changed = sum(css == "best" for css, _ in rows)
    verdict = (f"{changed} of {len(rows)} parameter(s) differ from the plan (highlighted)." if changed else
               "Nothing changes: the plan's own gate is the recommendation.")
    return _table(["parameter", "the plan", "recommended"], rows) + f'<p class="note">{_e(verdict)}</p>'


def _gates_table(summary: pd.DataFrame, parameters: Sequence[str], environment: bool) -> str:
    """The gates' rates, detection, harm and cost; their environment stops too when the mix has any. One column
    per varied parameter (its value), each interval below its estimate: it fits a 1400 px window."""
    rows: list[tuple[str, list[Cell]]] = []
    for _, row in summary.iterrows():
        harm = "n/a" if pd.isna(row["harm_mean"]) else f"{row['harm_mean']:,.0f}"
        values: list[Cell] = [str(row[p]) for p in parameters] or [gate_label(row, parameters)]
        rows.append(("best" if row["cost_optimal"] else "", [
            (("★ " if row["cost_optimal"] else "") + str(int(row["gate"])), "num"),
            *values,
            (_interval(row, "false_rollback", Kind.RATIO, "\n"), "num"),
            (_interval(row, "missed_incident", Kind.RATIO, "\n"), "num"),
            *[(_interval(row, "environment_stop", Kind.RATIO, "\n"), "num")] * environment,
            (_interval(row, "detect_median", Kind.DURATION, "\n"), "num"), (harm, "num"),
            (f"{row['cost']:.3f}", "num"), "yes" if row["pareto"] else ""]))
    names: list[Cell] = [".".join(p.split(".")[-2:]) for p in parameters] or ["gate"]
    return _table(["#", *names, "false rollback\n95% interval", "missed incident\n95% interval",
                   *["environment stops\n95% interval"] * environment, "detect median\n95% interval",
                   "harm / incident", "cost / run", "Pareto"], rows)


def _breakdown_table(breakdown: pd.DataFrame, shown: pd.DataFrame, parameters: Sequence[str]) -> str:
    """The shown gates' stops of each scenario: one row per scenario, one column per gate (up to
    :data:`MAX_GATE_COLUMNS`; beyond, the recommended gate's measures, and every gate's in a ``<details>``).
    A cell is red when incidents got through (missed), amber when healthy runs were stopped (false rollbacks);
    stops of incidents before their fault (early: false alarms) are a note of their own."""
    scenarios = breakdown.drop_duplicates("scenario")[["scenario", "incident_runs", "environment_runs"]]
    cells = breakdown.set_index(["gate", "scenario"])
    gates = [gate for _, gate in shown.iterrows()]
    header: list[Cell] = ["scenario", "truth", "runs"]
    header += [
        (f"#{int(g['gate'])}{' ★' if g['cost_optimal'] else ''}\n{grid_values(g, parameters)}",
         "best" if g["cost_optimal"] else "") for g in gates]
    rows: list[tuple[str, list[Cell]]] = []
    for _, truth in scenarios.iterrows():
        scenario = str(truth["scenario"])
        runs = int(cells.loc[(gates[0]["gate"], scenario), "runs"]) if gates else 0
        row: list[Cell] = [scenario, _truth_label(int(truth["incident_runs"]), int(truth["environment_runs"])),
                           (str(runs), "num")]
        for g in gates:
            c = cells.loc[(g["gate"], scenario)]
            notes = [f"{c['false_rollbacks']} false"] * bool(c["false_rollbacks"]) + \
                    [f"{c['missed_incidents']} missed"] * bool(c["missed_incidents"]) + \
                    [f"~{c['early_stops']} early"] * bool(c["early_stops"])
            css = ["num", *["missed"] * bool(c["missed_incidents"]), *["false"] * bool(c["false_rollbacks"]),
                   *["best"] * bool(g["cost_optimal"])]
            row.append(("\n".join([f"{c['stops']}/{c['runs']}", *notes]), " ".join(css)))
        rows.append(("", row))
    legend = (
        '<p class="note">Each cell: the gate\'s stops (hold or rollback) / the scenario\'s runs. A scenario is an '
        "incident when the plan's SLO says so; an environment incident when faults outside the release breach it "
        "(stopping the canary does not fix it: its stops are neither false rollbacks nor catches). "
        "In red: incidents the gate let through (missed). In amber: stops of runs "
        "the SLO calls healthy (false rollbacks). <em>early</em>: stops of incidents before their fault began "
        "(false alarms: the release was still healthy; neither caught nor missed).</p>")
    lead = ('<p class="note">Stops / runs of each scenario by each gate (# and grid values as in the Gates '
            "table).</p>")
    if len(gates) <= MAX_GATE_COLUMNS:
        return lead + _table(header, rows) + legend
    best = shown[shown["cost_optimal"]]
    return (f'<p class="note">The recommended gate, #{int(best["gate"].iloc[0])}:</p>'
            + _breakdown_table(breakdown, best, parameters)
            + f"<details><summary>All {len(gates)} listed gates by scenario (wider than the page: scroll)</summary>"
            + lead + _table(header, rows) + "</details>")


def _truth_label(incidents: int, environment: int) -> str:
    """What the ground truth calls a scenario with ``incidents`` incident and ``environment`` environment-incident
    runs (it depends on the scenario alone, so all its runs or none are either)."""
    return "incident" if incidents else "environment incident" if environment else "no incident"


# -- checks ----------------------------------------------------------------------------------------

def write_check_html(report: CheckReport, path: Path, *, plan: Plan, mix: Optional[str] = None,
                     seed: int = 0) -> Path:
    """Write ``path`` (e.g. ``report.html``): the verdict of :func:`~rampsim.experiment.check.check` on
    ``plan`` (with ``mix``, a file name, and ``seed``), each bound and their intervals look by look."""
    source = plan.source.filename if plan.source is not None and plan.source.filename else plan.name
    rows: list[tuple[str, list[Cell]]] = [  # an interval's end the data cannot bound yet is NaN: open
        ("", [v.name, *_bound(v),
              (str(v.samples), "num"), (v.verdict, v.verdict)]) for v in report.verdicts]
    sections = [
        f'<h1>Check of {_e(plan.name)}: <span class="{_e(report.verdict)}">{_e(report.verdict.upper())}</span></h1>',
        f'<p class="meta">{_e(source)}, mix {_e(mix or "healthy ramps only")}, seed {seed}: '
        f"{report.replicates} replicates in {report.looks} look(s), {report.confidence:.0%} overall confidence.</p>",
        f'<div class="callout {_e(report.verdict)}"><p>{_e(_meaning(report.verdict))}</p></div>',
        "<h2>Bounds</h2>",
        _table(["bound", "limit", "estimate", "interval", "runs", "verdict"], rows),
        '<p class="note">Each look\'s intervals are at a Bonferroni share of the error rate, so the verdict '
        "holds at the overall confidence however many looks were taken.</p>",
        "<h2>Look by look</h2>",
        _figure(_history_png(report), "Each bound at every look: the estimate (dot), its interval (bar; an open "
                "triangle where the data do not bound it yet) and the limit (dashed red)."),
    ]
    path = Path(path)
    path.write_text(_page(f"rampsim check: {plan.name}", sections), encoding="utf-8")
    return path


def _meaning(verdict: str) -> str:
    if verdict == MET:
        return "MET: every bound's interval lies within it."
    if verdict == EXCEEDED:
        return "EXCEEDED: a bound's whole interval lies beyond it: the gate does not meet it."
    return "UNDECIDED: an interval still straddles its bound after the most replicates allowed; run more."


def _bound(verdict: BoundVerdict) -> tuple[str, str, str]:
    """A bound's limit, estimate and interval (an end the data cannot bound yet, NaN, open: ``∞``), a duration's
    all in one unit (a limit "30m" stood beside an estimate "14.9min"); a rate's limit as given."""
    limit, estimate, low, high = _in_one_unit([verdict.limit, verdict.estimate,
                                               np.nan_to_num(verdict.low, nan=-math.inf),
                                               np.nan_to_num(verdict.high, nan=math.inf)], verdict.kind)
    return limit if verdict.kind is Kind.DURATION else verdict.limit_text, estimate, f"[{low}, {high}]"


def _history_png(report: CheckReport) -> bytes:
    """One panel per bound: estimate and interval at each look (rates in %, delays in minutes); an end the
    data do not bound is drawn to the panel's edge with an open triangle."""
    figure = Figure(figsize=(3.6 * len(report.verdicts) + 0.4, 3.2), layout="constrained")
    for axes, bound in zip(figure.subplots(1, len(report.verdicts), squeeze=False)[0], report.verdicts):
        scale, unit = (1 / 60, "minutes") if bound.kind is Kind.DURATION else (100, "%")
        looks = [next(v for v in history if v.name == bound.name) for history in report.history]
        estimate, low, high = (np.array([getattr(v, end) for v in looks]) * scale
                               for end in ("estimate", "low", "high"))
        known = np.concatenate([a[np.isfinite(a)] for a in (estimate, low, high)] + [[bound.limit * scale, 0.0]])
        bottom, top = known.min(), known.max() * 1.15 or 1.0
        if unit == "%":
            top = min(top, 100.0)   # a rate tops out at 100%
        x = np.arange(1, len(looks) + 1)
        axes.vlines(x, np.where(np.isfinite(low), low, bottom), np.where(np.isfinite(high), high, top),
                    color="tab:blue")
        axes.plot(x, estimate, "o", color="tab:blue")
        axes.plot(x[~np.isfinite(high)], np.full((~np.isfinite(high)).sum(), top), "^", color="tab:blue", mfc="white")
        axes.plot(x[~np.isfinite(low)], np.full((~np.isfinite(low)).sum(), bottom), "v", color="tab:blue",
                  mfc="white")
        axes.axhline(bound.limit * scale, color="tab:red", linestyle="--")
        axes.set_ylim(bottom - 0.05 * (top - bottom), top + 0.05 * (top - bottom))
        axes.set_title(f"{bound.name}: {bound.verdict}", fontsize=9)
        axes.set(xlabel="look", ylabel=unit, xticks=x, xlim=(0.5, len(looks) + 0.5))
        axes.grid(True, alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
