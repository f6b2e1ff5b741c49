"""The timeline chart of a rehearsal, and the figure and label helpers every report chart uses.

:func:`timeline_chart` draws one row per quantity the plan reads (rules, checkpoint
criteria and the final gate; the SLO is the ground truth, not the gate, and the
``alerts`` metric is drawn as the alerts themselves), under a row of canary weight:

* a line per distinct measurement the rules read (their own window, so an alert
  fires where the line has stayed across its threshold for the sustain time); a row
  read only by checkpoints shows the first criterion's measurement (a trend or a
  peak drawn as the plain metric, "since the previous checkpoint" as since the ramp
  began); the baseline dotted beside a single line; the canary drawn only while it
  has traffic (its weight above 0%);
* every rule's threshold, labelled once per value (rules sharing a threshold share a
  label) beside its own line, in the thresholds' order; each checkpoint criterion on a
  drawn quantity as its value (a dot coloured by its verdict) and its target (a bar) at
  the checkpoint; alerts as triangles;
* y axes spanning the thresholds, the canary's values and the criteria, never the
  baseline's excursions (so 99.95% stands apart from 100%);
* checkpoints, decisions, fault windows (shaded) and the start of the real breach as
  vertical lines, labelled in the weight row;
* each row's legend where it hides no criterion, alert or threshold label, and the fewest
  points of the row's lines;
* beside the whole ramp, a zoom on the minutes from the first fault (or, without one,
  the first alert's breach) to the terminal decision, where the alerts are labelled.

:func:`place_labels` moves labels among candidate offsets until no two overlap; the
sweep charts (:mod:`rampsim.report.tradeoff`) use it too, :func:`costs_note` to say
the costs that picked their ★ gate, and :func:`in_one_unit` to write durations as the
HTML reports do.
"""
from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Optional, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Annotation
from matplotlib.ticker import FixedLocator, FuncFormatter
from matplotlib.transforms import Bbox, BboxBase

from rampsim.engine.events import AlertFired, CheckpointReport, Status, first_terminal_decision
from rampsim.engine.metrics import Series
from rampsim.plan.schema import Criterion, Measurement, Metric, Rule, Window, WindowKind
from rampsim.report.readings import rolling
from rampsim.sim.run import Run
from rampsim.units import Kind, format_value

if TYPE_CHECKING:
    from rampsim.experiment.results import Costs

__all__ = ["timeline_chart", "new_figure", "place_labels", "costs_note", "in_one_unit", "Placement",
           "Obstacle", "LABEL_SIZE"]

LABEL_SIZE = 8
"""Font size (points) of the labels drawn on a chart."""

Placement = tuple[Annotation, Sequence[tuple[float, float]]]
"""A label and its candidate offsets (points from its anchor), best first: :func:`place_labels` picks one."""

Obstacle = tuple[Axes, tuple[float, float, float, float], float]
"""What a label must not cover: a rectangle ``(x0, y0, x1, y1)`` in an axes' data coordinates (a point or a
line when degenerate) and a margin around it in points."""

_SCALES = {Kind.RATIO: (100.0, "%"), Kind.DURATION: (1000.0, "ms"), Kind.BYTES: (1e-6, "MB"),
           Kind.BYTES_PER_HOUR: (1e-6, "MB/h"), Kind.DOLLARS_PER_MINUTE: (1.0, "$/min"),
           Kind.REQUESTS_PER_SECOND: (1.0, "requests/s"), Kind.DOLLARS: (1.0, "$"), Kind.NUMBER: (1.0, "")}
_ROWS = {Metric.CPU: "resources", Metric.MEMORY: "resources", Metric.NETWORK: "resources"}
_STATUS_COLOURS = {Status.PASS: "tab:green", Status.FAIL: "tab:red", Status.INCONCLUSIVE: "tab:gray"}
_STOPS = ("rollback", "hold")
_FAULT_COLOUR = "tab:purple"
_TICK_STEPS = np.array([15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400], dtype=float)


def new_figure(width: float, height: float, layout: Optional[Literal["constrained"]] = "constrained") -> Figure:
    """A figure with an Agg canvas (so text can be measured before saving), by default with constrained layout."""
    figure = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(figure)
    return figure


def _quantity(value: float, kind: Kind) -> str:
    """A duration as :func:`~rampsim.units.format_value` writes it, a rate as a percentage to three
    significant digits; an unbounded end as ∞."""
    if math.isnan(value):
        return "n/a"
    if kind is Kind.RATIO and math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if kind is Kind.RATIO:
        return np.format_float_positional(value * 100, precision=3, fractional=False, trim="-") + "%"
    return format_value(value, kind)


_DURATION_UNITS = ((1.0, 1e-3, "ms"), (120.0, 1.0, "s"), (3 * 3600.0, 60.0, "min"), (math.inf, 3600.0, "h"))
"""(below how many seconds, seconds per unit, unit): the unit of an interval of durations by its largest end."""


def in_one_unit(values: Sequence[float], kind: Kind) -> list[str]:
    """``values`` (an estimate and its interval's ends) as :func:`_quantity` writes them, durations all in one unit
    chosen by the largest finite magnitude: ``-15s [-15s, 0s]``, ``1.5min [-62.8min, 1.75min]`` (not ``-15s [-15s,
    0ms]`` nor ``1m30s [-1h2m45s, 1m45s]``), to three significant digits. The HTML reports and the trade-off
    chart's table both write durations so: 142.5 s read "2m22s" in the chart beside "2.38min" in the page."""
    if kind is not Kind.DURATION:
        return [_quantity(v, kind) for v in values]
    finite = [abs(v) for v in values if math.isfinite(v)]
    largest = max(finite, default=0.0)
    _, scale, unit = next(u for u in _DURATION_UNITS if largest < u[0]) if largest else (0.0, 1.0, "s")

    def one(value: float) -> str:
        if math.isnan(value):
            return "n/a"
        if math.isinf(value):
            return "∞" if value > 0 else "-∞"
        number = np.format_float_positional(value / scale, precision=3, fractional=False, trim="-")
        return ("0" if float(number) == 0 else number) + unit
    return [one(v) for v in values]


def costs_note(costs: Optional["Costs"], width: int = 0) -> str:
    """``costs: false rollback 1, missed incident 100, harm 1e-06 per harmed request``, the costs that picked a
    sweep chart's ★ gate ('' without them); with a ``width``, broken into lines of at most that many characters
    between the costs, never inside one ("harm 0 / per harmed request" read as two things)."""
    if costs is None:
        return ""
    parts = [f"false rollback {costs.false_rollback:g}", f"missed incident {costs.missed_incident:g}",
             f"harm {costs.harmed_request:g} per harmed request"]
    lines = ["costs: " + parts[0]]
    for part in parts[1:]:
        if width and len(lines[-1]) + 2 + len(part) > width:
            lines[-1] += ","
            lines.append(part)
        else:
            lines[-1] += ", " + part
    return "\n".join(lines)


def place_labels(figure: Figure, labels: Sequence[Placement], avoid: Sequence[Obstacle] = (),
                 gap: float = 0.0) -> None:
    """Give each annotation the first of its candidate offsets (points from its anchor) at which it overlaps no
    label placed before it (nor comes within ``gap`` points of one: side by side, "5 7" read as one label), no
    legend and no ``avoid`` obstacle, and stays inside its axes; the least overlapping one when none does.

    Fixes the figure's layout first (a layout engine runs once, then is turned off): the labels are placed where
    the axes will be drawn.
    """
    if figure.get_layout_engine() is not None:
        figure.draw_without_rendering()
        figure.set_layout_engine("none")
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]  # an Agg canvas (new_figure)
    fixed = [legend.get_window_extent(renderer) for ax in figure.axes if (legend := ax.get_legend()) is not None]
    for ax, (x0, y0, x1, y1), margin in avoid:
        (left, bottom), (right, top) = ax.transData.transform([(x0, y0), (x1, y1)])
        pad = margin * figure.dpi / 72
        fixed.append(Bbox.from_extents(min(left, right) - pad, min(bottom, top) - pad,
                                       max(left, right) + pad, max(bottom, top) + pad))
    placed: list[BboxBase] = []
    apart = gap * figure.dpi / 72
    for label, offsets in labels:
        inside = label.axes.get_window_extent(renderer) if label.axes is not None else figure.bbox
        costs = []
        for offset in offsets:
            label.xyann = offset
            box = label.get_window_extent(renderer)
            spaced = box.expanded(1.0 + 2 * apart / max(box.width, 1.0), 1.0 + 2 * apart / max(box.height, 1.0))
            costs.append(sum(_overlap(box, other) for other in fixed) + sum(_overlap(spaced, other) for other in placed)
                         + _area(box) - _overlap(box, inside))
            if costs[-1] == 0:
                break
        label.xyann = offsets[int(np.argmin(costs))]
        placed.append(label.get_window_extent(renderer))


def _overlap(a: BboxBase, b: BboxBase) -> float:
    return max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0)) * max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))


def _area(box: BboxBase) -> float:
    return box.width * box.height


# -- what the plan reads ---------------------------------------------------------------------------


def _shape(m: Measurement) -> tuple:
    """What a measurement reads, whatever its window, peak or trend: equal shapes are one quantity."""
    return tuple(getattr(m, name) for name in Measurement.model_fields if name not in ("window", "peak", "trend"))


def _drawn(m: Measurement) -> Measurement:
    """The plain quantity of ``m`` as a line: no trend nor peak, "since the previous checkpoint" as cumulative."""
    window = Window(kind=WindowKind.CUMULATIVE) if m.window.kind is WindowKind.SINCE_CHECKPOINT else m.window
    return m.measurement.model_copy(update={"window": window, "trend": False, "peak": None})


@dataclass
class _Row:
    """One row of the timeline: its name, its unit, the lines drawn and the rules whose thresholds it shows."""

    name: str
    kind: Kind
    lines: list[Measurement] = field(default_factory=list)
    rules: dict[str, Rule] = field(default_factory=dict)

    @property
    def scale(self) -> float:
        return _SCALES.get(self.kind, (1.0, ""))[0]

    @property
    def ylabel(self) -> str:
        unit = _SCALES.get(self.kind, (1.0, ""))[1]
        return textwrap.fill(self.name + (f" ({unit})" if unit else ""), 18)


def _row_key(measure: Measurement) -> tuple:
    """The row a measure is drawn in (a comparison with the baseline is a quantity of its own)."""
    return (_ROWS.get(measure.metric, measure.metric.value), measure.definition, measure.compare, measure.contrast,
            measure.test)


def _rows(run: Run) -> list[_Row]:
    """The rows for the quantities the plan's rules, checkpoints and final gate read, in the plan's order."""
    rows: dict[tuple, _Row] = {}
    criteria: dict[tuple, list[Measurement]] = {}
    measures = [(w, m) for w, m in run.plan.measures() if m.metric is not Metric.ALERTS]
    gate = [(w, m) for w, m in measures if not w.startswith("slo.")]
    for where, measure in gate or measures:   # an imported gate reads its own queries: draw what the SLO judges
        if where.startswith("slo."):
            criteria.setdefault(_row_key(measure), []).append(_drawn(measure))
            rows.setdefault(_row_key(measure), _Row(_row_key(measure)[0], _drawn(measure).kind))
            continue
        key = _row_key(measure)
        row = rows.setdefault(key, _Row(key[0], _drawn(measure).kind))
        if isinstance(measure, Rule):
            row.rules[where.split(".", 1)[1]] = measure
            if measure.measurement not in row.lines:
                row.lines.append(measure.measurement)
        elif not measure.trend:   # a trend's ratio has no line here: its checkpoint's label names it when it fails
            criteria.setdefault(key, []).append(_drawn(measure))
    for key, row in rows.items():
        for quantity in criteria.get(key, []):   # each quantity a criterion reads (P50, P95...) has its line
            if _shape(quantity) not in {_shape(m) for m in row.lines}:
                row.lines.append(quantity)
        if not row.lines:   # a row of trend criteria only
            row.lines.append(_drawn(next(m for w, m in run.plan.measures() if _row_key(m) == key)))
        first = row.lines[0]
        if first.test is not None:   # the legend has the test's whole name; the axis a short one
            tested = "latency" if len({m.quantile for m in row.lines}) > 1 else first.metric_definition.label(first)
            row.name = f"p-value, {tested} {first.arm} vs {first.compare}"
        elif key[2] is not None:   # a comparison with the baseline: named as one ("error rate ratio, canary vs ...")
            row.name = first.label
        elif len({m.quantile for m in row.lines}) > 1:   # several quantiles of one latency
            row.name = "latency"
        elif row.name not in _ROWS.values():  # a row of one metric is named after its first line's metric
            row.name = row.lines[0].metric_definition.label(row.lines[0])
    return list(rows.values())


# -- the chart -------------------------------------------------------------------------------------


def timeline_chart(run: Run) -> Figure:
    """The run's timeline as a matplotlib figure (``figure.savefig("timeline.png")``; shown inline in Jupyter)."""
    rows = _rows(run)
    zoom = _zoom_window(run)
    columns = 2 if zoom else 1
    width, height = (16.0 if zoom else 12.0), 2.2 + 1.55 * len(rows)
    figure = new_figure(width, height, layout=None)  # fixed margins (inches): a layout pass costs seconds here
    grid = figure.add_gridspec(len(rows) + 1, columns, height_ratios=[1.5] + [1] * len(rows),
                               width_ratios=[2.3, 1][:columns], left=1.0 / width, right=1 - 0.2 / width,
                               top=1 - 0.8 / height, bottom=0.6 / height, hspace=0.12, wspace=0.06)
    full = [figure.add_subplot(grid[0, 0])]
    full += [figure.add_subplot(grid[i + 1, 0], sharex=full[0]) for i in range(len(rows))]
    panels = [full]
    if zoom:
        zoomed = [figure.add_subplot(grid[0, 1], sharey=full[0])]
        zoomed += [figure.add_subplot(grid[i + 1, 1], sharex=zoomed[0], sharey=full[i + 1]) for i in range(len(rows))]
        panels.append(zoomed)
    end = float(run.telemetry.time[-1])
    figure.suptitle(f"{run.plan.name}: seed {run.seed}, {run.fidelity} fidelity — {run.outcome.describe()}")
    full[0].set_title("the whole ramp", fontsize=10)
    values = _values(run, rows)
    labels: list[Placement] = []
    for column in panels:
        _weight(column[0], run)
        for ax, row in zip(column[1:], rows):
            _row(ax, row, run, values)
        for ax in column:
            _marks(ax, run)
        for ax in column[:-1]:
            ax.tick_params(labelbottom=False)
        column[-1].set_xlabel("time since the ramp began (h:mm)")
    _clock(full[0], 0.0, end, ticks=8, margin=0.012 * end)   # the final gate's marks at the end drawn whole
    full[0].set_ylabel("canary weight (%)", fontsize=9)
    lines: list[Obstacle] = []
    for ax, row in zip(full[1:], rows):
        ax.set_ylabel(row.ylabel, fontsize=9)
        _limits(ax, row, run, values)
        thresholds = _threshold_labels(ax, row, end)
        _legend(ax, row, run, values, thresholds)
        labels += thresholds
        lines += [(ax, (0.0, value * row.scale, end, value * row.scale), 1.0) for value in _by_threshold(row)]
    labels += _event_labels(full[0], run, (0.0, end), alerts=False)
    if zoom:
        zoomed = panels[1]
        _clock(zoomed[0], *zoom, ticks=4)
        zoomed[0].set_title(f"zoom {_hhmm(zoom[0], 60)}–{_hhmm(zoom[1], 60)}: from the "
                            f"{'fault' if _faults(run, _zoom_end(run)) else 'first alert breach'} to the decision",
                            fontsize=10)
        for ax in zoomed:
            ax.tick_params(labelleft=False)
        labels += _event_labels(zoomed[0], run, zoom, alerts=True)
    place_labels(figure, labels, avoid=lines)
    return figure


def _weight(ax: Axes, run: Run) -> None:
    weights = run.weights * 100
    ax.step(run.telemetry.time, weights, where="pre", color="black")
    top = max(float(np.max(weights)), 1.0)
    ax.set_ylim(0, top * 2.2)   # the upper half holds the event labels: no weight ticks there (none past 100%)
    ax.set_yticks([0.0, top / 2, top])


def _values(run: Run, rows: Sequence[_Row]) -> dict[Measurement, np.ndarray]:
    """Every line's values at every scrape; the canary's ``NaN`` where it serves nothing (its weight is 0%)."""
    series = Series.from_telemetry(run.telemetry)
    silent = run.weights <= 0
    values = {}
    for row in rows:
        for m in row.lines:
            values[m] = np.where(silent, np.nan, rolling(series, m)) if m.arm == "canary" else rolling(series, m)
            if len(row.lines) == 1 and m.arm == "canary" and m.compare is None:
                baseline = m.model_copy(update={"arm": "baseline"})
                values[baseline] = rolling(series, baseline)
    return values


def _row(ax: Axes, row: _Row, run: Run, values: dict[Measurement, np.ndarray]) -> None:
    """The row's lines, its rules' thresholds, its checkpoint criteria and the alerts of its rules."""
    time, scale = run.telemetry.time, row.scale
    for m in row.lines:
        line = ax.plot(time, values[m] * scale, linewidth=1.1, label=_line_label(m))[0]
        baseline = m.model_copy(update={"arm": "baseline"})
        if baseline in values and baseline != m and m.compare is None:
            ax.plot(time, values[baseline] * scale, ":", color=line.get_color(), alpha=0.7, linewidth=1,
                    label="baseline, same measurement")
    for threshold, rules in _by_threshold(row).items():
        ax.axhline(threshold * scale, color=_rule_colour(rules), linestyle="--", linewidth=0.9)
    for time_, _, value, criterion, status in _criteria(run, row):
        colour = _STATUS_COLOURS[status]
        ax.plot(time_, criterion.threshold * scale, marker="_", markersize=14, markeredgewidth=2, color=colour)
        if value is not None:
            ax.plot(time_, value * scale, marker="o", markersize=5, color=colour)
    for event in run.events:
        if isinstance(event, AlertFired) and event.rule in row.rules:
            ax.plot(event.time, event.threshold * scale, marker="v", markersize=7, linestyle="none",
                    color="tab:red" if event.action in _STOPS else "tab:orange")
    ax.yaxis.get_major_formatter().set_useOffset(False)  # type: ignore[attr-defined]  # a ScalarFormatter


def _line_label(m: Measurement) -> str:
    window = "latest scrape" if m.reads_latest else str(m.window).replace("_", " ")
    return f"{m.label}, {window}"


def _by_threshold(row: _Row) -> dict[float, dict[str, Rule]]:
    found: dict[float, dict[str, Rule]] = {}
    for name, rule in row.rules.items():
        found.setdefault(rule.threshold, {})[name] = rule
    return found


def _rule_colour(rules: dict[str, Rule]) -> str:
    return "tab:red" if any(rule.action in _STOPS for rule in rules.values()) else "tab:orange"


def _criteria(run: Run, row: _Row) -> list[tuple[float, str, Optional[float], Criterion, Status]]:
    """``(time, checkpoint, value, criterion, status)`` of each judged criterion on a quantity the row draws."""
    shapes = {_shape(m) for m in row.lines}
    checkpoints = dict(run.plan.ordered_checkpoints())
    found = []
    for event in run.events:
        if isinstance(event, CheckpointReport) and event.checkpoint in checkpoints:
            criteria = checkpoints[event.checkpoint].criteria
            for result in event.results:
                criterion = criteria.get(result.name)
                if criterion is not None and not criterion.trend and _shape(criterion) in shapes:
                    found.append((event.time, event.checkpoint, result.value, criterion, result.status))
    return found


def _limits(ax: Axes, row: _Row, run: Run, values: dict[Measurement, np.ndarray]) -> None:
    """Y limits spanning the row's thresholds, criteria and drawn values (the baseline's excursions only when the
    canary has no value to draw: a panel sized by a target alone hid the baseline)."""
    shown = [np.array([rule.threshold for rule in row.rules.values()])]
    shown += [np.array([c.threshold, np.nan if v is None else v]) for _, _, v, c, _ in _criteria(run, row)]
    drawn = [values[m] for m in row.lines]
    if not any(np.isfinite(v).any() for v in drawn):   # the canary shows nothing: the baseline is what is drawn
        drawn += [values[b] for m in row.lines if (b := m.model_copy(update={"arm": "baseline"})) in values]
    every = np.concatenate(shown + drawn) * row.scale
    every = every[np.isfinite(every)]
    if not len(every):
        return
    low, high = float(every.min()), float(every.max())
    if row.kind is Kind.DURATION and low > 0 and high / low > 10:   # 20 ms and 1 s targets both legible
        ax.set_yscale("log")
        ax.set_ylim(low / 1.5, high * 3)
        return
    pad = (high - low) * 0.12 or abs(high) * 0.05 or 1.0
    top = high + 2 * pad                    # room above for the threshold labels
    if row.kind is Kind.RATIO and high <= 100.0 <= top:   # a share (in %) tops out at 100%
        top = max(high + pad / 2, 100.0 + pad / 2)
    ax.set_ylim(low - pad, top)


def _threshold_labels(ax: Axes, row: _Row, end: float) -> list[Placement]:
    """One label per threshold value at the right end, beside its own line: above it where the gap up to the next
    line (or the top of the axes) holds the label, else below it where the gap down to the next one does, so that
    the labels keep the thresholds' order and none sits across another line from its own; a line too close to both
    neighbours has its label on it, the label's white box over the line."""
    renderer = ax.figure.canvas.get_renderer()  # type: ignore[attr-defined]  # an Agg canvas (new_figure)
    by_threshold = sorted(_by_threshold(row).items())
    heights = [float(ax.transData.transform((end, threshold * row.scale))[1]) for threshold, _ in by_threshold]
    frame = ax.get_window_extent(renderer)
    points = 72.0 / ax.figure.dpi
    labels: list[Placement] = []
    for i in reversed(range(len(by_threshold))):   # the highest first: it takes the room above the rest
        threshold, rules = by_threshold[i]
        ops = {rule.op.value for rule in rules.values()}
        value = format_value(threshold, row.kind)
        text = (f"{ops.pop()} {value}: {', '.join(rules)}" if len(ops) == 1
                else f"{value}: " + ", ".join(f"{name} ({rule.op.value})" for name, rule in rules.items()))
        label = ax.annotate(text, (end, threshold * row.scale), textcoords="offset points", xytext=(-4, 2),
                            ha="right", va="bottom", fontsize=LABEL_SIZE, color=_rule_colour(rules),
                            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none",
                                  "alpha": 0.85}, annotation_clip=False, in_layout=False)
        height = label.get_window_extent(renderer).height * points
        above = ((heights[i + 1] if i + 1 < len(heights) else frame.y1) - heights[i]) * points
        below = (heights[i] - (heights[i - 1] if i > 0 else frame.y0)) * points
        offsets = [(-4.0, dy) for dy, room in ((2.0, above), (-2.0 - height, below)) if room >= height + 3]
        labels.append((label, offsets + [(-4.0, -height / 2)]))
    return labels


def _legend(ax: Axes, row: _Row, run: Run, values: dict[Measurement, np.ndarray],
            thresholds: Sequence[Placement]) -> None:
    """The row's legend where it hides least: no checkpoint criterion, alert or threshold label, then as few
    threshold lines and points of the canary's (then the baseline's) lines as it can (matplotlib's "best" counts a
    target bar as one point among thousands, and knows nothing of the labels placed after it)."""
    legend = ax.legend(loc="lower left", borderaxespad=0, fontsize=7, framealpha=0.85)
    renderer = ax.figure.canvas.get_renderer()  # type: ignore[attr-defined]  # an Agg canvas (new_figure)
    size, frame = legend.get_window_extent(renderer), ax.get_window_extent(renderer)
    time, scale = run.telemetry.time, row.scale
    marks = [(t, c.threshold * scale) for t, _, _, c, _ in _criteria(run, row)]
    marks += [(t, v * scale) for t, _, v, _, _ in _criteria(run, row) if v is not None]
    marks += [(e.time, e.threshold * scale) for e in run.events if isinstance(e, AlertFired) and e.rule in row.rules]
    pixels = ax.figure.dpi / 72
    hidden = [(1000.0, ax.transData.transform(np.array(marks, dtype=float).reshape(-1, 2)), 8.0 * pixels)]  # a bar
    for m, data in values.items():   # the row's lines and their baselines' (dotted), whose points weigh less
        if m in row.lines or m.model_copy(update={"arm": "canary"}) in row.lines:
            points = np.column_stack([time, data * scale])
            hidden.append((1.0 if m in row.lines else 0.3, ax.transData.transform(points[np.isfinite(points[:, 1])]),
                           2.0 * pixels))
    lines = [float(ax.transData.transform((0.0, t * scale))[1]) for t in _by_threshold(row)]
    labels = []
    for label, offsets in thresholds:
        label.xyann = offsets[0]
        labels.append(label.get_window_extent(renderer))
    pad = 3.0 * pixels
    xs = np.linspace(frame.x0 + pad, frame.x1 - pad - size.width, 9)
    ys = [frame.y1 - pad - size.height, frame.y0 + pad, (frame.y0 + frame.y1 - size.height) / 2]
    corners = [(xs[0], ys[0]), (xs[0], ys[1]), (xs[-1], ys[1]), (xs[-1], ys[0])]   # first, on a tie
    best: tuple[float, float, float] = (np.inf, 0.0, 0.0)
    for x, y in corners + [(x, y) for y in ys for x in xs]:
        box = Bbox.from_bounds(x, y, size.width, size.height)
        cost = sum(weight * float(np.count_nonzero((points[:, 0] >= x - margin) & (points[:, 0] <= box.x1 + margin) &
                                                   (points[:, 1] >= y - margin) & (points[:, 1] <= box.y1 + margin)))
                   for weight, points, margin in hidden)
        cost += 1000.0 * sum(_overlap(box, other) > 0 for other in labels)
        cost += 100.0 * sum(y - pad <= line <= box.y1 + pad for line in lines)
        if cost < best[0]:
            best = (cost, x, y)
    legend.set_bbox_to_anchor(((best[1] - frame.x0) / frame.width, (best[2] - frame.y0) / frame.height),
                              transform=ax.transAxes)


def _marks(ax: Axes, run: Run) -> None:
    """Fault windows, checkpoints, the terminal decision and the real breach's start as vertical marks."""
    for window in run.scenario.effects.windows:
        ax.axvspan(window.start, window.end, color=_FAULT_COLOUR, alpha=0.08, linewidth=0)
    reports = [e for e in run.events if isinstance(e, CheckpointReport)]
    crowded = len(reports) > 12   # an imported gate's measurements: the passing ones faint, the others as they are
    for event in reports:
        faint = crowded and event.status is Status.PASS
        ax.axvline(event.time, color=_STATUS_COLOURS[event.status], linewidth=0.5 if faint else 0.8,
                   alpha=0.25 if faint else 1.0)
    decision = first_terminal_decision(run.events)
    if decision is not None:
        ax.axvline(decision.time, color="black", linewidth=1.5)
    if run.truth.incident and run.truth.start is not None:
        ax.axvline(run.truth.start, color=_FAULT_COLOUR, linestyle=":", linewidth=1.2)


def _event_labels(ax: Axes, run: Run, span: tuple[float, float],
                  alerts: bool) -> list[Placement]:
    """Labels in the weight row for the events within ``span``: checkpoints, faults, the breach, the decision and,
    with ``alerts``, the alerts (those fired at one scrape share a label)."""
    events: list[tuple[float, str, str]] = []
    crowded = sum(isinstance(e, CheckpointReport) and span[0] <= e.time <= span[1] for e in run.events) > 6
    for window in run.scenario.effects.windows:
        events.append((window.start, f"fault: {window.fault.describe()}", _FAULT_COLOUR))
    for event in run.events:
        if isinstance(event, CheckpointReport):
            if event.status is Status.PASS and crowded:   # many checkpoints (an imported gate's analyses): the
                continue                                  # passing ones are green lines, only the others labelled
            failed = [r.name for r in event.results if r.status is not Status.PASS]
            because = f" ({', '.join(failed)})" if failed and event.status is not Status.PASS else ""
            events.append((event.time, f"{event.checkpoint} {event.status.value}{because}",
                           _STATUS_COLOURS[event.status]))
    if run.truth.incident and run.truth.start is not None:
        events.append((run.truth.start, "SLO breach begins (truth)", _FAULT_COLOUR))
    if alerts:
        fired: dict[float, list[AlertFired]] = {}
        for event in run.events:
            if isinstance(event, AlertFired):
                fired.setdefault(event.time, []).append(event)
        for time, group in fired.items():
            colour = "tab:red" if any(a.action in _STOPS for a in group) else "tab:orange"
            events.append((time, "▼ " + ", ".join(a.rule for a in group), colour))
    decision = first_terminal_decision(run.events)
    if decision is not None:
        events.append((decision.time, f"{decision.kind.value.upper()} → {decision.weight * 100:g}%", "black"))
    labels: list[Placement] = []
    for time, text, colour in sorted(events, key=lambda e: e[0]):
        if span[0] <= time <= span[1]:
            # right of its mark, or left of it in the last third of the axis; the first free row from the top
            side = 1.0 if time < span[0] + (span[1] - span[0]) * 2 / 3 else -1.0
            rows = [(3.0 * side, -3.0 - 12.0 * k) for k in range(9)]
            label = ax.annotate(text, (time, 1.0), xycoords=("data", "axes fraction"), textcoords="offset points",
                                xytext=rows[0], ha="left" if side > 0 else "right", va="top", fontsize=LABEL_SIZE,
                                color=colour, annotation_clip=False, in_layout=False)
            labels.append((label, rows))
    return labels


def _faults(run: Run, end: float) -> list[float]:
    return sorted(window.start for window in run.scenario.effects.windows if window.start <= end)


def _zoom_end(run: Run) -> float:
    """Where the zoom's span ends, before its padding: the terminal decision, else the last alert, else the run's end."""
    decision = first_terminal_decision(run.events)
    alerts = [event for event in run.events if isinstance(event, AlertFired)]
    return decision.time if decision is not None else (alerts[-1].time if alerts else float(run.telemetry.time[-1]))


def _zoom_window(run: Run) -> Optional[tuple[float, float]]:
    """From the first fault (else the first alert's breach) to the terminal decision (else the last alert), padded;
    ``None`` when there is neither, or when that is most of the ramp."""
    end_of_run = float(run.telemetry.time[-1])
    alerts = [event for event in run.events if isinstance(event, AlertFired)]
    end = _zoom_end(run)
    starts = _faults(run, end) or [a.breach_start for a in alerts if a.time <= end][:1]
    if not starts or end - starts[0] > end_of_run / 2:
        return None
    pad = max(60.0, 0.15 * (end - starts[0]))
    return max(0.0, starts[0] - pad), min(end_of_run, end + pad)


def _clock(ax: Axes, start: float, end: float, ticks: int, margin: float = 0.0) -> None:
    """X axis from ``start`` to ``end`` seconds (and ``margin`` beyond it) with about ``ticks`` ticks at round times,
    written ``h:mm`` (``h:mm:ss`` below a minute), none at the very edges (where a neighbouring axis has its own)."""
    ax.set_xlim(start, end + margin)
    index = min(int(np.searchsorted(_TICK_STEPS, (end - start) / ticks)), len(_TICK_STEPS) - 1)
    step = float(_TICK_STEPS[index])
    at = np.arange(np.ceil(start / step) * step, end + 1e-9, step)
    margin = 0.04 * (end - start) if start > 0 else 0.0
    ax.xaxis.set_major_locator(FixedLocator(at[(at >= start + margin) & (at <= end - margin)].tolist()))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda seconds, _: _hhmm(seconds, step)))


def _hhmm(seconds: float, step: float) -> str:
    hours, rest = divmod(int(round(seconds)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}" + (f":{secs:02d}" if step < 60 else "")
