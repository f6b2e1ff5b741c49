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
