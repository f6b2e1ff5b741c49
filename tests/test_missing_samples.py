"""A missing sample inside a window: what PromQL computes, the engine computes.

Prometheus's range functions read the samples a range holds: ``deriv`` fits its least-squares line to the
present samples (at least two), ``avg_over_time`` and ``max_over_time`` reduce the present samples, and a
peak's ``max_over_time`` over a subquery leaves out the steps without a value. So a scrape lost inside a gauge
window, or inside a peak's window, must not make the measure inconclusive (it hid a memory leak: one lost
scrape at 1h turned a 346 MB/h growth against a 100 MB/h limit into "inconclusive, continue"). A damaged
gauge sample is still never read as a number. (``tests/test_prod_roundtrip.py`` checks the same numbers
against a real Prometheus.)
"""
from __future__ import annotations

import numpy as np
import pytest

from rampsim.engine import DecisionEngine
from rampsim.engine.events import CheckpointReport, Status
from rampsim.engine.judge import judge
from rampsim.engine.metrics import Series, evaluate
from rampsim.faults import parse_fault
from rampsim.plan.functions import avg_over_time, max_over_time, slope_per_hour
from rampsim.plan.schema import Criterion
from rampsim.sim import simulate
from rampsim.telemetry import DAMAGED
from tests.builders import run, steady

NAN = np.nan
TIMES = np.arange(8) * 15.0


def rows(*values: list[float]) -> np.ndarray:
    return np.array(values, dtype=float)


# -- the reducers, one window per row --------------------------------------------------------------------------

def test_slope_fits_the_present_samples_wherever_one_is_missing():
    rng = np.random.default_rng(1)
    line = 1e9 + 3e4 * TIMES + rng.normal(0, 1e5, len(TIMES))
    for missing in ([3], [0], [7], [2, 5], [0, 1, 2, 3, 4, 5]):   # inside, at the start, at the end, several
        values = line.copy()
        values[missing] = NAN
        present = ~np.isnan(values)
        expected = np.polyfit(TIMES[present], values[present], 1)[0] * 3600.0
        assert slope_per_hour(values[None], TIMES[None])[0] == pytest.approx(expected, rel=1e-9), missing


def test_slope_needs_two_present_samples_and_is_unchanged_on_complete_windows():
    one = np.full(len(TIMES), NAN)
    one[4] = 5.0
    assert np.isnan(slope_per_hour(rows(one, [NAN] * len(TIMES)), np.tile(TIMES, (2, 1)))).all()
    values = rows([1.0, 2.0, 4.0, 8.0, 8.0, 9.0, 12.0, 15.0])
    t = TIMES[None]
    t_centred = (t - t[:, :1]) - (t - t[:, :1]).mean(axis=1, keepdims=True)
    before = (t_centred * (values - values.mean(axis=1, keepdims=True))).sum(axis=1) / (t_centred ** 2).sum(axis=1)
    assert slope_per_hour(values, t)[0] == before[0] * 3600.0   # the same floats as before gaps were allowed


def test_avg_over_time_averages_the_present_samples():
    values = rows([1.0, NAN, 3.0, 5.0], [NAN, NAN, NAN, 7.0], [NAN] * 4, [2.0, 4.0, 6.0, 8.0])
    assert avg_over_time(values, values)[:2].tolist() == [3.0, 7.0]
    assert np.isnan(avg_over_time(values, values)[2])
    assert avg_over_time(values, values)[3] == (values[3] / 4).sum()


def test_max_over_time_takes_the_largest_present_value():
    values = rows([1.0, NAN, 3.0, 2.0], [NAN, NAN, NAN, -7.0], [NAN] * 4, [NAN, np.inf, 1.0, NAN])
    assert max_over_time(values, values).tolist()[:2] == [3.0, -7.0]
    assert np.isnan(max_over_time(values, values)[2]) and max_over_time(values, values)[3] == np.inf


# -- through evaluate (the function the step engine and the compiled judge share) ---------------------------------

def value(telemetry, measure: dict, start: int, end: int) -> float:
    threshold = "100MB/h" if measure["metric"] == "memory_growth" else 0.5
    criterion = Criterion.model_validate({"op": "<", "threshold": threshold, **measure})
    return float(evaluate(Series.from_telemetry(telemetry), criterion, np.array([start]), np.array([end]))[0])


def leaking(ticks: int = 41):
    """Ten minutes of a canary leaking 10 MB a scrape, its cpu rising, a lost scrape (tick 20) on every series."""
    telemetry = steady(minutes=(ticks - 1) * 15 / 60, memory_bytes=2e9 + 1e7 * np.arange(ticks),
                       cpu=0.2 + 0.01 * np.arange(ticks))
    telemetry = telemetry.copy()
    telemetry.counters[20] = NAN
    telemetry.gauges[20] = NAN
    return telemetry


@pytest.mark.parametrize("end", [30, 20])   # the gap inside the window; at its end
def test_a_lost_scrape_leaves_gauge_windows_conclusive(end):
    telemetry = leaking()
    assert value(telemetry, {"metric": "memory_growth", "window": "5m"}, end - 20, end) == \
        pytest.approx(1e7 * 240, rel=1e-12)
    present = [t for t in range(end - 20, end + 1) if t != 20]
    cpu = 0.2 + 0.01 * np.array(present)
    assert value(telemetry, {"metric": "cpu", "agg": "avg", "window": "5m"}, end - 20, end) == \
        pytest.approx(cpu.mean(), rel=1e-12)
    assert value(telemetry, {"metric": "cpu", "agg": "max", "window": "5m"}, end - 20, end) == cpu.max()
    latest = value(telemetry, {"metric": "cpu", "window": "5m"}, end - 20, end)   # agg: last reads the end alone
    assert np.isnan(latest) if end == 20 else latest == 0.2 + 0.01 * end


def test_a_damaged_gauge_sample_still_makes_its_windows_inconclusive():
    telemetry = leaking()
    canary = telemetry.layout.arm("canary")
    telemetry.memory_bytes[10, canary] = DAMAGED
    telemetry.cpu[10, canary] = -1.0
    for measure in ({"metric": "memory_growth", "window": "5m"}, {"metric": "cpu", "agg": "max", "window": "5m"}):
        assert np.isnan(value(telemetry, measure, 5, 25))      # over the damaged sample
        assert not np.isnan(value(telemetry, measure, 11, 31))  # after it


def test_a_peak_is_the_largest_conclusive_sub_window():
    """A sub-window with a missing end sample is inconclusive (the engine's increase is exact); the peak is the
    largest of the others, and inconclusive only when none is conclusive."""
    ticks = 41
    rate = np.full(ticks, 0.001)
    rate[30:35] = 0.004     # a burst the sub-windows ending at 31..38 see
    telemetry = steady(minutes=10, error_rate=rate).copy()
    telemetry.counters[12] = NAN
    peak = {"metric": "error_rate", "peak": "1m", "window": "5m"}
    assert value(telemetry, peak, 20, 40) == pytest.approx(0.004)   # the gap is before this window
    assert value(telemetry, peak, 8, 28) == pytest.approx(0.001)    # sub-windows ending or starting at 12 left out
    telemetry.counters[12:41] = NAN
    assert np.isnan(value(telemetry, peak, 8, 28))                  # no sub-window has both ends


def test_a_gauge_window_with_a_gap_judges_alike_in_the_engine_and_the_compiled_judge(sampling_reference_plan):
    plan = sampling_reference_plan
    ticks = int(plan.duration / plan.telemetry.scrape_interval) + 1
    telemetry = steady(plan.layout, memory_bytes=2e9 + 2e8 * np.arange(ticks) / 240).copy()   # 200 MB/h
    telemetry.memory_bytes[240:244] = NAN                                                       # a minute lost at 1h
    events = run(DecisionEngine(plan), telemetry)
    report = next(e for e in events if isinstance(e, CheckpointReport) and "memory_growth" in
                  {c.name for c in e.results})
    growth = next(c for c in report.results if c.name == "memory_growth")
    assert growth.value == pytest.approx(2e8) and growth.status is Status.FAIL   # not inconclusive
    assert judge([plan], telemetry).named()[0][:2] == ("hold", report.time)


def test_a_memory_leak_is_caught_through_a_lost_scrape(sampling_reference_plan):
    """The reviewer's rehearsal: 400 MB/h from 30m, with (and without) one canary scrape lost at 1h, fails
    checkpoint 4's memory_growth < 100MB/h (2-hour window) and holds, rather than reading "inconclusive"."""
    seen = []
    for faults in (["memory-leak:canary:400MB/h@30m"], ["memory-leak:canary:400MB/h@30m", "scrape-gap:canary@1h/15s"]):
        events = simulate(sampling_reference_plan, [parse_fault(f) for f in faults], seed=0).events
        report = next(e for e in events if isinstance(e, CheckpointReport) and e.time == 2 * 3600)
        growth = next(c for c in report.results if c.name == "memory_growth")
        assert growth.status is Status.FAIL and growth.value > 300e6, (faults, growth)
        seen.append(growth.value)
    assert seen[1] == pytest.approx(seen[0], rel=0.01)


def test_a_flat_gauge_has_no_slope_as_in_prometheus():
    """Prometheus's ``linearRegression`` gives 0 when the samples present are all equal; a fit leaves noise."""
    values = rows([0.65] * 6 + [NAN, 0.65], [0.65, 0.65, 0.65, NAN, 0.65, 0.65, 0.65, 0.65])   # means of 7: inexact
    assert slope_per_hour(values, np.tile(TIMES, (2, 1))).tolist() == [0.0, 0.0]
