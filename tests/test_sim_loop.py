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
