"""Determinism, the closed loop, the open loop, ground truth and outcomes."""
from __future__ import annotations

import numpy as np
import pytest

from rampsim.engine.events import Decision, DecisionKind
from rampsim.faults import parse_fault
from rampsim.sim import Scenario, ground_truth, simulate
from rampsim.sim.control import Control
from rampsim.sim.outcome import outcome

REGRESSION = parse_fault("error-rate:canary:+1.5%@01:00")


def _same(a, b) -> bool:
    return (np.array_equal(a.telemetry.counters, b.telemetry.counters, equal_nan=True)
            and np.array_equal(a.telemetry.gauges, b.telemetry.gauges, equal_nan=True) and a.events == b.events)


def test_same_seed_same_run(sampling_reference_plan):
    plan = sampling_reference_plan
    assert _same(simulate(plan, [REGRESSION], seed=7), simulate(plan, [REGRESSION], seed=7))
    assert not _same(simulate(plan, seed=7), simulate(plan, seed=8))


def test_closed_loop_stops_harm_after_rollback(sampling_reference_plan):
    closed = simulate(sampling_reference_plan, [REGRESSION], seed=3)
    assert closed.outcome.decision is DecisionKind.ROLLBACK
    tick = int(round(closed.outcome.time / 15))
    assert closed.weights[tick + 1:].max() == 0.0
    assert closed.canary_requests[tick + 1:].sum() == 0 and closed.harmed[tick + 1:].sum() == 0
    assert closed.harmed[: tick + 1].sum() > 0
    assert closed.harmed_total == closed.outcome.harmed
    open_loop = simulate(sampling_reference_plan, [REGRESSION], seed=3, engine_factory=None)
    assert open_loop.events == [] and open_loop.harmed[tick + 1:].sum() > 0
    assert np.all(open_loop.weights == 0.10)


def test_open_loop_outcome_of_a_gate_decision(sampling_reference_plan):
    run = simulate(sampling_reference_plan, [REGRESSION], seed=3, engine_factory=None)
    decision = Decision(time=3810.0, kind=DecisionKind.ROLLBACK, weight=0.0, reason="test", source="test")
    late = Decision(time=7200.0, kind=DecisionKind.ROLLBACK, weight=0.0, reason="test", source="test")
    def outcome_at(decision):
        return outcome([], run.truth, run.telemetry.time, run.canary_requests, run.harmed, decision)

    early, slow = outcome_at(decision), outcome_at(late)
    assert early.verdict == "caught" and early.detection_delay == pytest.approx(3810.0 - run.truth.start)
    assert slow.harmed > early.harmed > 0
    assert early.harmed == pytest.approx(run.harmed[: 3810 // 15 + 1].sum())
    assert outcome_at(None).verdict == "missed"


def test_ground_truth_ignores_seed_and_gate(sampling_reference_plan):
    scenario = Scenario.build(sampling_reference_plan, [REGRESSION])
    truth = ground_truth(scenario)
    assert truth.incident and truth.objective == "error_rate"
    assert 3600 < truth.start < truth.confirmed <= truth.start + 300 + 15
    assert simulate(sampling_reference_plan, [REGRESSION], seed=1).truth.start == truth.start
    assert not ground_truth(Scenario.build(sampling_reference_plan)).incident


def test_hold_keeps_5_percent_and_phases_step_the_weight():
    control = Control(np.array([0.01] * 5 + [0.10] * 5))
    control.apply(2, [Decision(30.0, DecisionKind.CONTINUE, 0.02, "custom", "x")])
    assert list(control.weights) == [0.01] * 3 + [0.02] * 2 + [0.10] * 5
    control.apply(6, [Decision(90.0, DecisionKind.HOLD, 0.05, "hold", "x")])
    assert list(control.weights[7:]) == [0.05] * 3


def test_unknown_fidelity_is_refused(sampling_reference_plan):
    with pytest.raises(ValueError, match="fidelity"):
        simulate(sampling_reference_plan, fidelity="exact")


def test_simulation_knows_nothing_of_charts():
    import subprocess
    import sys
    code = ("import sys, rampsim.sim, rampsim.faults; "
            "print([m for m in sys.modules if m.startswith(('matplotlib', 'rampsim.report', 'rich'))])")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"


def test_diurnal_and_flat_loads_follow_their_shape(sampling_reference_plan):
    from rampsim.plan import with_overrides
    plan = with_overrides(sampling_reference_plan, {"traffic.load": {
        "shape": "diurnal", "average": "12,500/s", "peak": "21,000/s", "start": "14:00", "peak_at": "16:00"}})
    scenario = Scenario.build(plan)
    rates = scenario.conditions(scenario.scheduled_weights()).rates[1:, 1].sum(axis=1)
    middle = int(np.argmax(rates))
    assert rates[middle] == pytest.approx(2100.0, rel=1e-4) and 470 < middle < 490   # the peak at 16:00
    assert rates[0] < rates[middle] and rates[-1] < rates[middle]


class _Silent:
    """An engine that never decides: the simpy-driven loop with the open loop's weights."""

    def __init__(self, plan):
        self.plan = plan

    def observe(self, telemetry, tick):
        return []


ONE_FAULT_PER_KIND = [
    "error-rate:canary:+1.5%@01:00", "slow-burn:canary:+2%@1h/2h", "latency:canary:+100ms@1h/30m",
    "tail-latency:canary:3%@1h/30m,delay=400ms", "memory-leak:canary:1GB/h@30m",
    "crash:canary:100%@1h/10m,shape=flapping,period=2m", "slow-dependency:+150ms@1h/20m",
    "cache:canary:100%@1h/30m", "cold-cache:canary:100%@1h/30m", "surge:shared:+60%@1h/30m",
    "scrape-gap:shared@1h/5m", "scrape-delay:shared:45s@1h/30m", "counter-reset:canary@1h",
]


@pytest.mark.parametrize("faults", [[f] for f in ONE_FAULT_PER_KIND] + [[
    "scrape-delay:canary:45s@1h/30m", "counter-reset:canary@1h10m", "scrape-gap:canary@1h05m/2m",
    "counter-reset:canary@1h12m", "scrape-gap:baseline@1h11m/1m", "counter-reset:baseline@30m"]])
def test_open_loop_fast_path_equals_the_simpy_loop(sampling_reference_plan, faults):
    from rampsim.faults.catalogue import CATALOGUE

    assert {f.split(":")[0] for f in ONE_FAULT_PER_KIND} == set(CATALOGUE)
    parsed = [parse_fault(f) for f in faults]
    fast = simulate(sampling_reference_plan, parsed, seed=11, engine_factory=None)
    stepped = simulate(sampling_reference_plan, parsed, seed=11, engine_factory=_Silent)
    assert np.array_equal(fast.telemetry.counters, stepped.telemetry.counters, equal_nan=True)
    assert np.array_equal(fast.telemetry.gauges, stepped.telemetry.gauges, equal_nan=True)
    assert np.array_equal(fast.requests, stepped.requests) and np.array_equal(fast.harmed, stepped.harmed)
    assert fast.fault_log == stepped.fault_log and fast.fault_log


def test_drawing_fewer_histograms_leaves_every_other_draw_unchanged(sampling_reference_plan):
    layout = sampling_reference_plan.layout
    everything = simulate(sampling_reference_plan, [REGRESSION], seed=4, engine_factory=None)
    canary_only = simulate(sampling_reference_plan, [REGRESSION], seed=4, engine_factory=None, histograms=["canary"])
    baseline = layout.channels("latency_bucket", arm=layout.arm("baseline")).ravel()
    others = np.setdiff1d(np.arange(layout.n_counters), baseline)
    assert np.isnan(canary_only.telemetry.counters[:, baseline]).all()
    assert not np.isnan(everything.telemetry.counters[:, baseline]).any()
    np.testing.assert_array_equal(canary_only.telemetry.counters[:, others], everything.telemetry.counters[:, others])
    np.testing.assert_array_equal(canary_only.telemetry.gauges, everything.telemetry.gauges)


def test_a_fault_that_makes_nothing_worse_harms_no_one(sampling_reference_plan):
    """Harm counts canary requests served while a fault makes them worse: an error-rate fault of -0.05 points
    (an improvement) or of 0 harms no request, +0.05 points harms every canary request it covers."""
    from rampsim.faults import parse_fault

    for magnitude, harms in (("-0.05%", False), ("+0%", False), ("+0.05%", True)):
        run = simulate(sampling_reference_plan, [parse_fault(f"error-rate:canary:{magnitude}@1m")], seed=2,
                       engine_factory=None)
        assert bool(run.harmed.sum() > 0) is harms, magnitude
        if harms:
            assert run.harmed.sum() == pytest.approx(run.canary_requests[run.telemetry.time > 60].sum(), rel=0.01)


def test_a_daily_shape_with_harmonics_is_integrated_exactly_and_keeps_its_average():
    """Each interval's mean rate is the exact integral of the 24-hour cosine plus its harmonics (against a fine
    midpoint sum), and a whole day's mean is the configured average."""
    from rampsim.sim.config import Load
    from rampsim.sim.load import LoadProfile

    load = Load.model_validate({"shape": "diurnal", "average": "1000/s", "peak": "1500/s", "peak_at": "16:00",
                                "start": "09:30", "harmonics": {"12h": {"amplitude": "20%", "peak_at": "03:00"},
                                                                "8h": {"amplitude": "7%", "peak_at": "01:10"}}})
    profile = LoadProfile(load, 86400.0)
    edges = np.arange(0.0, 86400.0 + 1, 900.0)
    fine = (np.arange(86400 * 4) + 0.5) / 4   # quarter-second midpoints
    clock = fine + 9.5 * 3600
    rate = 1000 * (1 + 0.5 * np.cos(2 * np.pi * (clock - 16 * 3600) / 86400)
                   + 0.2 * np.cos(2 * np.pi * 2 * (clock - 3 * 3600) / 86400)
                   + 0.07 * np.cos(2 * np.pi * 3 * (clock - (3600 + 600)) / 86400))
    midpoint = rate.reshape(len(edges) - 1, -1).mean(axis=1)
    assert profile.mean_rates(edges) == pytest.approx(midpoint, rel=1e-9)
    assert profile.mean_rates(np.array([0.0, 86400.0]))[0] == pytest.approx(1000.0, rel=1e-12)
