"""Contract 2: the compiled judge decides exactly as the step-by-step engine does.

On random gates, on grids of one random gate (the compiled path proper: one family,
many thresholds and sustain times, up to 1,000 gates) and on several runs judged at once;
on gates whose every measure compares the canary with the baseline or is a sequential test.
"""
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rampsim.engine import DecisionEngine, first_terminal_decision
from rampsim.engine.judge import CompiledGates, _Runs, judge
from rampsim.engine.metrics import check_reach, corrected_counters
from rampsim.plan import PlanError, load_plan, with_overrides
from rampsim.testing import strategies as rst
from tests.builders import run, steady

REFERENCE = Path(__file__).parent.parent / "scenarios" / "ramp-phase-50k.yaml"


def engine_verdict(plan, telemetry):
    decision = first_terminal_decision(run(DecisionEngine(plan), telemetry))
    return ("none", None, "") if decision is None else (decision.kind.value, decision.time, decision.source)


def assert_same(plans, telemetry):
    verdicts = judge(plans, telemetry).named()
    for g, plan in enumerate(plans):
        assert verdicts[g] == engine_verdict(plan, telemetry), f"gate {g}"


@given(st.sampled_from(rst.SMALL_LAYOUTS), st.data())
def test_compiled_judge_equals_engine_on_random_gates(layout, data):
    telemetry = data.draw(rst.telemetry(layout, min_ticks=20, max_ticks=81, gaps=True, resets=True,
                                        arms_differ=data.draw(st.booleans())))
    plans = data.draw(st.lists(rst.gate_plans(layout), min_size=1, max_size=4))
    assert_same(plans, telemetry)


@given(st.sampled_from(rst.SMALL_LAYOUTS), st.data())
def test_compiled_judge_equals_engine_on_comparisons_and_sequential_tests(layout, data):
    """Every measure compares the canary with the baseline (difference, ratio, relative change, a
    ``min_requests`` guard, a peak) or is a sequential test, on arms that differ, with gaps and resets."""
    telemetry = data.draw(rst.telemetry(layout, min_ticks=20, max_ticks=81, gaps=data.draw(st.booleans()),
                                        resets=True, arms_differ=True))
    plans = data.draw(st.lists(rst.gate_plans(layout, compared=True), min_size=1, max_size=3))
    assert_same(plans, telemetry)


@pytest.mark.slow
@given(st.floats(0.0005, 0.02), st.integers(0, 900), st.integers(1, 200))
def test_compiled_judge_equals_engine_on_the_reference_plan(rate, start, length):
    plan = load_plan(REFERENCE)
    grid = [with_overrides(plan, {"rules.error_rate_rollback.threshold": f"{t}%", "rules.*.sustain": s})
            for t in (0.3, 0.5, 1.0) for s in ("1m", "3m")]
    errors = np.full(961, 0.0007)
    errors[start:start + length] = rate
    assert_same([plan, *grid], steady(error_rate=errors))


def variants(plan, draw_factor, draw_sustain, n):
    """Up to ``n`` copies of ``plan`` with every rule's threshold and sustain and every criterion's threshold redrawn
    (those that validation would refuse left out)."""
    def scaled(measure, factor):
        return measure.model_copy(update={"threshold": measure.threshold * factor if measure.threshold else factor})

    grid = []
    for _ in range(n):
        rules = {name: scaled(rule, draw_factor()).model_copy(update={"sustain": draw_sustain()})
                 for name, rule in plan.rules.items()}
        checkpoints = {name: cp.model_copy(update={"criteria": {c: scaled(m, draw_factor()) for c, m in cp.criteria.items()}})
                       for name, cp in plan.checkpoints.items()}
        final = plan.final_gate.model_copy(update={"criteria": {c: scaled(m, draw_factor())
                                                                 for c, m in plan.final_gate.criteria.items()}})
        variant = plan.model_copy(update={"rules": rules, "checkpoints": checkpoints, "final_gate": final})
        try:
            check_reach(variant)
        except PlanError:   # a sequential test's level scaled below what its window can ever reject at
            continue        # (validation refuses such a gate, so no sweep judges it)
        grid.append(variant)
    return grid


FACTORS = [0.25, 0.5, 1.0, 1.0, 2.0, 4.0]
SUSTAINS = [0.0, 15.0, 30.0, 45.0, 60.0, 120.0]


@given(st.sampled_from(rst.SMALL_LAYOUTS), st.data())
def test_compiled_grid_equals_engine_on_several_runs(layout, data):
    base = data.draw(rst.gate_plans(layout))
    pick = lambda options: (lambda: data.draw(st.sampled_from(options)))  # noqa: E731
    plans = [base, *variants(base, pick(FACTORS), pick(SUSTAINS), data.draw(st.integers(1, 12)))]
    n_ticks = data.draw(st.integers(20, 81))
    runs = [data.draw(rst.telemetry(layout, min_ticks=n_ticks, max_ticks=n_ticks, gaps=data.draw(st.booleans()),
                                    resets=True, arms_differ=data.draw(st.booleans())))
            for _ in range(data.draw(st.integers(1, 3)))]
    # counts that are not whole numbers (a recording of rates, say) are corrected by summing, as the engine does
    scales = [data.draw(st.sampled_from([1.0, 1.0, 0.37, 1e-3])) for _ in runs]
    runs = [type(t)(t.layout, runs[0].time, t.counters * scale, t.gauges) for t, scale in zip(runs, scales)]
    verdicts = CompiledGates(plans).judge(runs)
    for r, telemetry in enumerate(runs):
        named = verdicts.named(r)
        for g, plan in enumerate(plans):
            assert named[g] == engine_verdict(plan, telemetry), f"run {r}, gate {g}"


@given(st.sampled_from(rst.SMALL_LAYOUTS), st.data())
def test_runs_judged_together_hold_each_runs_corrected_counters_to_the_bit(layout, data):
    """The compiled judge skips summing a column of whole numbers that never drops (its correction is
    itself); every other column is summed exactly as the engine sums it."""
    n_ticks = data.draw(st.integers(2, 40))
    runs = [data.draw(rst.telemetry(layout, min_ticks=n_ticks, max_ticks=n_ticks, gaps=data.draw(st.booleans()),
                                    resets=data.draw(st.booleans())))
            for _ in range(data.draw(st.integers(1, 3)))]
    scales = [data.draw(st.sampled_from([1.0, 0.37])) for _ in runs]
    runs = [type(t)(t.layout, runs[0].time, t.counters * scale, t.gauges) for t, scale in zip(runs, scales)]
    read = np.arange(layout.n_counters)
    held = _Runs(runs, read).series.counters.reshape(len(runs), n_ticks, -1)
    for r, telemetry in enumerate(runs):
        assert np.array_equal(held[r], corrected_counters(telemetry.counters), equal_nan=True), f"run {r}"


@given(st.sampled_from(rst.SMALL_LAYOUTS), st.data())
def test_group_sums_made_run_by_run_as_the_runs_are_read_equal_the_stacked_series_own(layout, data):
    """The judge sums the groups its rules read one run at a time, as it reads each run (while it is in
    cache): to the bit the sums the stacked series makes when asked."""
    gates = CompiledGates(data.draw(st.lists(rst.gate_plans(layout), min_size=1, max_size=3)))
    n_ticks = data.draw(st.integers(2, 40))
    runs = [data.draw(rst.telemetry(layout, min_ticks=n_ticks, max_ticks=n_ticks, resets=data.draw(st.booleans())))
            for _ in range(data.draw(st.integers(1, 3)))]
    scales = [data.draw(st.sampled_from([1.0, 0.37])) for _ in runs]
    runs = [type(t)(t.layout, runs[0].time, t.counters * scale, t.gauges) for t, scale in zip(runs, scales)]
    summed = _Runs(runs, gates.read_counters, gates.summed_groups).series
    stacked = _Runs(runs, gates.read_counters).series
    for groups in gates.summed_groups:
        assert np.array_equal(summed.aggregate(groups), stacked.aggregate(groups))


def test_a_counter_of_fractions_is_summed_even_where_its_sum_is_not_its_last_sample():
    """``a + (b - a)`` is not always ``b`` in floating point: the engine's running sum is what counts."""
    telemetry = steady(minutes=1)
    low, high = 547326792947875.25, 3961434419979789.5
    assert low + (high - low) != high
    telemetry.counters[:, 0] = low
    telemetry.counters[-1, 0] = high
    held = _Runs([telemetry], np.arange(telemetry.layout.n_counters)).series.counters
    assert np.array_equal(held, corrected_counters(telemetry.counters))
    assert held[-1, 0] != high


@pytest.mark.slow
def test_compiled_grid_of_a_thousand_gates_equals_engine():
    rng = np.random.default_rng(5)
    plan = load_plan(REFERENCE)
    plans = variants(plan, lambda: float(rng.choice([0.5, 0.8, 1.0, 1.25, 2.0])),
                     lambda: float(rng.choice([0.0, 60.0, 180.0, 300.0])), 1000)
    errors = np.full(961, 0.0007)
    errors[300:420] = 0.006
    telemetry = steady(error_rate=errors)
    named = CompiledGates(plans).judge([telemetry]).named()
    stops = {kind for kind, _, _ in named}
    assert {"rollback", "advance"} <= stops  # the grid spans gates that stop and gates that do not
    for g, plan in enumerate(plans):
        assert named[g] == engine_verdict(plan, telemetry), f"gate {g}"


@pytest.mark.parametrize("damage", [-1.0, 2.0 ** 53 + 2, np.inf, np.nan])
def test_a_damaged_sample_is_judged_as_the_engine_does_whatever_runs_share_the_batch(damage):
    plan = rst.single_rule_plan("error_rate", "1%", "1m", "0s", "rollback")
    damaged = steady(rst.SMALL_LAYOUT, minutes=20, error_rate=0.002)
    errors = damaged.layout.channels("errors", arm=damaged.layout.arm("canary")).ravel()[0]
    damaged.counters[30, errors] = damage
    gap = steady(rst.SMALL_LAYOUT, minutes=20, error_rate=0.002)
    gap.counters[10, errors] = np.nan
    expected = engine_verdict(plan, damaged)
    gates = CompiledGates([plan])
    assert gates.judge([damaged]).named(0)[0] == expected
    assert gates.judge([damaged, gap]).named(0)[0] == expected
    assert gates.judge([gap, damaged]).named(1)[0] == expected


def test_the_judge_refuses_telemetry_of_another_layout():
    plan = rst.single_rule_plan("error_rate", "1%", "1m", "0s", "rollback")
    other = steady(minutes=20, error_rate=0.002)   # the reference layout, three segments
    with pytest.raises(ValueError, match="does not match"):
        CompiledGates([plan]).judge([other])
    with pytest.raises(ValueError, match="no runs"):
        CompiledGates([plan]).judge([])
