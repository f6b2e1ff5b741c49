"""The sweep charts' scales and marks tell what the numbers are: no stray interval flattening a panel, costs drawn
from 0, identical gates not zoomed into, a tie said to be one."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rampsim.report.operating_curve import operating_curve


def curve_summary(delays_min, low_min, high_min, p90_min, costs, best) -> pd.DataFrame:
    """A one-axis sweep's summary (threshold 0.05%...) with the given detection minutes and costs."""
    n = len(costs)
    return pd.DataFrame({
        "threshold": [f"{0.05 * (i + 1):g}%" for i in range(n)],
        "false_rollback_rate": np.linspace(1.0, 0.45, n), "false_rollback_low": np.linspace(0.95, 0.38, n),
        "false_rollback_high": np.linspace(1.0, 0.55, n), "missed_incident_rate": np.zeros(n),
        "missed_incident_low": np.zeros(n), "missed_incident_high": np.full(n, 0.07),
        "detect_median_s": np.asarray(delays_min) * 60, "detect_median_low": np.asarray(low_min) * 60,
        "detect_median_high": np.asarray(high_min) * 60, "detect_p90_s": np.asarray(p90_min) * 60,
        "cost": costs, "cost_optimal": np.arange(n) == best})


def test_a_stray_detection_band_is_clipped_and_its_end_written():
    """One median's 95% band down to -62.8 min flattened the detection panel of medians at 1.5-2.8 min."""
    summary = curve_summary([1.5, 1.75, 1.75, 2.0, 2.8], [-62.8, 1.5, 1.5, 1.75, 1.75], [1.75, 2.0, 2.0, 2.75, 3.0],
                            [3.0, 3.0, 3.0, 3.5, 14.4], [0.94, 0.72, 0.68, 0.74, 0.8], best=2)
    figure = operating_curve(summary, "threshold")
    detection = figure.axes[1]
    bottom, top = detection.get_ylim()
    shown = np.concatenate([summary["detect_median_s"], summary["detect_p90_s"], [0.0]]) / 60
    assert bottom < shown.min() and top > shown.max()
    assert bottom > summary["detect_median_low"].min() / 60   # the stray band end is beyond the axis...
    assert top - bottom < 2 * (shown.max() - shown.min())      # ...and does not set its scale
    clipped = [line for line in detection.get_lines() if line.get_marker() == "v"]
    assert len(clipped) == 1 and list(clipped[0].get_xdata()) == [0] and clipped[0].get_ydata()[0] == bottom
    assert [text.get_text() for text in detection.texts] == ["-62.8 min"]   # ...and written


def test_the_cost_panel_starts_at_zero_and_a_tie_is_said_to_be_one():
    """The cost axis ran 0.31-0.44 (the differences exaggerated, the star half cut off), and a gate the tie-break
    picked among equal costs was '(lowest cost)'."""
    delays = [2.0, 2.0, 2.0]
    distinct = operating_curve(curve_summary(delays, delays, delays, delays, [0.44, 0.31, 0.40], best=1), "threshold")
    assert distinct.axes[2].get_ylim()[0] == 0
    star = [line for line in distinct.axes[2].get_lines() if line.get_marker() == "*"]
    assert len(star) == 1 and star[0].get_ydata()[0] == pytest.approx(0.31) and not star[0].get_clip_on()
    labels = [line.get_label() for line in distinct.axes[0].get_lines() if line.get_label().startswith("★")]
    assert labels == ["★ recommended: 0.1% (lowest cost)"]
    tied = operating_curve(curve_summary(delays, delays, delays, delays, [0.4, 0.4, 0.4], best=0), "threshold")
    labels = [line.get_label() for line in tied.axes[0].get_lines() if line.get_label().startswith("★")]
    assert labels == ["★ recommended: 0.05% (tie-break among the 3 at the lowest cost)"]


def tradeoff_summary(false_rollback, missed, costs, pareto, best) -> pd.DataFrame:
    """A sweep's summary over one threshold with the given rates (fractions), costs and Pareto front."""
    fr, mi = np.asarray(false_rollback, float), np.asarray(missed, float)
    n = len(fr)
    return pd.DataFrame({
        "gate": np.arange(n), "threshold": [f"{0.05 * (i + 1):g}%" for i in range(n)],
        "false_rollback_rate": fr, "false_rollback_low": np.clip(fr - 0.031, 0, 1),
        "false_rollback_high": np.clip(fr + 0.02, 0, 1), "missed_incident_rate": mi,
        "missed_incident_low": np.clip(mi - 0.02, 0, 1), "missed_incident_high": np.clip(mi + 0.07, 0, 1),
        "pareto": pareto, "cost_optimal": np.arange(n) == best, "detect_median_s": np.full(n, 105.0),
        "detect_median_low": np.full(n, 90.0), "detect_median_high": np.full(n, 120.0),
        "cost": costs, "missed_incidents": np.zeros(n, int), "faced_incidents": np.full(n, 50),
        "early_stops": np.full(n, 14)})


def test_identical_gates_are_not_zoomed_into_and_a_tie_is_said_to_be_one():
    """Nine gates all at 100% false rollbacks: the x axis ran 96.9-100.2%, and the table said '★ recommended: the
    lowest cost' of a gate the tie-break picked among nine."""
    from rampsim.report.tradeoff import tradeoff_chart

    n = 9
    figure = tradeoff_chart(tradeoff_summary([1.0] * n, [0.0] * n, [0.96] * n, [True] * n, best=0), ["threshold"])
    plot, side = figure.axes[:2]
    for low, high in (plot.get_xlim(), plot.get_ylim()):
        assert high - low >= 10 and low >= -5 and high <= 105
    assert plot.get_xlim()[1] > 100 > plot.get_xlim()[0] + 10   # the gates' 100% inside, 10 points of rate shown
    assert "tie-break among the 9 gates at the lowest cost (#0–8)" in side.get_title(loc="left").replace("\n", " ")
    distinct = tradeoff_chart(tradeoff_summary([1.0, 0.5], [0.0, 0.1], [0.96, 0.7], [False, True], best=1),
                              ["threshold"])
    assert "★ recommended: the lowest cost (ties:" in distinct.axes[1].get_title(loc="left")


def test_numbers_stay_clear_of_other_points_and_each_other_and_lead_to_their_own():
    """Neighbouring points' numbers read as '4, 5 3 2', '5 7' as one pair, '6, 7' sat over another dot; the
    Pareto front's dot under the star was hidden though the legend named it."""
    from rampsim.report.tradeoff import tradeoff_chart

    summary = tradeoff_summary([0.467, 0.467, 0.475, 0.475, 0.492, 0.50, 0.633, 1.0], [0.0] * 8,
                               [0.80, 0.80, 0.78, 0.79, 0.74, 0.68, 0.73, 0.95],
                               [True, True, False, False, False, False, False, False], best=5)
    summary.loc[5, "pareto"] = True    # the star on the front: its blue dot is under it
    figure = tradeoff_chart(summary, ["threshold"])
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    plot = figure.axes[0]
    points = plot.transData.transform(np.unique(summary[["false_rollback_rate", "missed_incident_rate"]] * 100,
                                                axis=0))
    numbers = [text for text in plot.texts if text.get_text()]
    leaders = {tuple(text.xy) for text in plot.texts if not text.get_text() and text.arrow_patch is not None}
    boxes = [number.get_window_extent(renderer) for number in numbers]
    for number, box in zip(numbers, boxes):
        own = plot.transData.transform(number.xy)
        others = points[np.hypot(*(points - own).T) > 0.5]
        assert not any(box.x0 - 3 < x < box.x1 + 3 and box.y0 - 3 < y < box.y1 + 3 for x, y in others), \
            f"{number.get_text()!r} is over another gate's point"
        centre = np.array([(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2])
        if np.hypot(*(others - centre).T).min() < 2 * np.hypot(*(own - centre)):   # as near another point
            assert tuple(number.xy) in leaders, f"{number.get_text()!r} has no line to its point"
    for a, b in [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:]]:
        assert max(a.x0 - b.x1, b.x0 - a.x1, a.y0 - b.y1, b.y0 - a.y1) >= 3, "two numbers side by side"
    star = summary.loc[5, ["false_rollback_rate", "missed_incident_rate"]].to_numpy(float) * 100
    rings = [line for line in plot.get_lines() if line.get_marker() == "o" and line.get_markerfacecolor() == "none"]
    assert len(rings) == 1 and rings[0].get_markeredgecolor() == "tab:blue"
    assert (rings[0].get_xdata()[0], rings[0].get_ydata()[0]) == pytest.approx(tuple(star))
    stars = [line for line in plot.get_lines() if line.get_marker() == "*"]
    assert rings[0].get_markersize() > stars[0].get_markersize()
