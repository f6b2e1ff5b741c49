"""Edge cases where the engine's metrics must answer as Prometheus does, never crash."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from rampsim.cli import main
from rampsim.engine.metrics import Series, evaluate, histogram_quantile, histogram_quantile_scalar
from rampsim.plan import PlanError, plan_from_text
from rampsim.plan.schema import Measure
from rampsim.telemetry import Layout, Telemetry
from tests.test_plan_errors import MINIMAL


@pytest.mark.parametrize("q", [0.0, 0.5, 0.99])
def test_a_single_inf_bucket_gives_nan_as_prometheus_does(q):
    assert math.isnan(histogram_quantile(q, [math.inf], np.array([[7.0]]))[0])
    assert math.isnan(histogram_quantile_scalar(q, [math.inf], [7.0]))


def test_q_zero_with_an_empty_lowest_bucket_is_nan_not_a_crash():
    """Go computes 0/0 = NaN for the lowest bucket's interpolation; Python would raise."""
    bounds, counts = [0.1, 0.2, math.inf], [0.0, 4.0, 5.0]
    assert math.isnan(histogram_quantile_scalar(0.0, bounds, counts))
    assert math.isnan(histogram_quantile(0.0, bounds, np.array([counts]))[0])
    assert histogram_quantile_scalar(0.0, bounds, [2.0, 4.0, 5.0]) == 0.0    # a non-empty lowest bucket: 0


def test_avg_of_gauges_near_the_float_limit_stays_finite():
    layout = Layout()
    telemetry = Telemetry.empty(layout, 3)
    telemetry.counters[:] = 0.0
    telemetry.gauges[:] = 9.988e307
    measure = Measure(metric="cpu", agg="avg", window="30s", op="<", threshold=0.8)
    value = evaluate(Series.from_telemetry(telemetry), measure, np.array([0]), np.array([2]))[0]
    assert value == pytest.approx(9.988e307)


def test_validate_refuses_inf_only_buckets(tmp_path, capsys):
    text = MINIMAL + 'telemetry:\n  latency_buckets: ["+Inf"]\n'
    with pytest.raises(PlanError, match=r"telemetry.latency_buckets: .*at least one finite upper bound"):
        plan_from_text(text, "plan.yaml")
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 3
    assert "at least one finite upper bound" in capsys.readouterr().err


@given(st.integers(0, 20), st.floats(0.0, 400.0))
def test_chi2_survival_equals_scipy(df, x):
    """The closed-form chi-square tail (no scipy on the production path) against scipy's."""
    from scipy import stats

    from rampsim.plan.functions import chi2_survival

    ours, theirs = float(chi2_survival(np.array([x]), df)[0]), float(stats.chi2.sf(x, df))
    assert ours == pytest.approx(theirs, rel=1e-11, abs=1e-300, nan_ok=True)
