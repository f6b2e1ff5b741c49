"""Arguments of the public Python API: a bad one is a RampsimError naming it, raised at the call, never an
AttributeError, TypeError or KeyError from deep inside (a review found each of these)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

import rampsim
from rampsim.errors import RampsimError, UsageError

ROOT = Path(__file__).resolve().parent.parent
VALIDATION = ROOT / "scenarios" / "ramp-phase-5k-validation.yaml"


@pytest.mark.parametrize("call, message", [
    (lambda p: rampsim.plan.with_overrides(p, {"rules.nope.threshold": "1%"}), "no field 'rules.nope' in the plan"),
    (lambda p: rampsim.plan.with_overrides(p, {"rules.*.nope.x": 1}), "'rules.*.nope.x' matched nothing"),
    (lambda p: rampsim.plan.with_overrides(p, ["a=1"]), "with_overrides: overrides is a mapping of dotted plan paths"),
    (lambda p: rampsim.plan.with_overrides(3, {}), "with_overrides: plan is a Plan"),
    (lambda p: rampsim.load_plan(42), "load_plan: path is the path of a plan file"),
    (lambda p: rampsim.load_plan(None), "load_plan: path is the path of a plan file"),
])
def test_plan_functions_refuse_bad_arguments_with_a_usage_error(validation_plan, call, message):
    """with_overrides raised a bare KeyError for an unknown path (rampsim.testing.gates turned the same one into
    InvalidArgument) and an AttributeError for a list; load_plan(42) a TypeError from pathlib."""
    import rampsim.plan

    with pytest.raises(UsageError, match=re.escape(message)):
        call(validation_plan)


def test_an_unknown_override_path_is_still_a_key_error_for_those_catching_one(validation_plan):
    from rampsim.plan import with_overrides

    with pytest.raises(KeyError) as info:
        with_overrides(validation_plan, {"rules.nope.threshold": "1%"})
    assert str(info.value).startswith("'rules.nope.threshold': no field")   # its message, not its repr
    varied = with_overrides(str(VALIDATION), {"rules.error_rate_rollback.threshold": "0.7%"})   # a path is a plan
    assert varied.rules["error_rate_rollback"].threshold == pytest.approx(0.007)


@pytest.mark.parametrize("call, message", [
    (lambda: rampsim.simulate(None), "simulate: plan is a Plan (rampsim.load_plan(path)) or the path of a plan file, "
                                     "got None"),
    (lambda: rampsim.sweep(3, replicates=1, workers=1), "sweep: plan is a Plan"),
    (lambda: rampsim.load_mix(ROOT / "scenarios" / "mix-reference.yaml", 5), "load_mix: plan is a Plan"),
    (lambda: rampsim.load_mix(5, VALIDATION), "load_mix: path is the path of a mix file"),
    (lambda: rampsim.DecisionEngine("plan.yaml"), "DecisionEngine: plan is a Plan"),
    (lambda: __import__("rampsim.testing.assertions").testing.assertions.assert_advances(None),
     "assert_advances: plan is a Plan"),
    (lambda: __import__("rampsim.testing.assertions").testing.assertions.assert_false_rollback_rate_below(
        {"name": "x"}, "1%"), "assert_false_rollback_rate_below: plan is a Plan"),
])
def test_a_plan_argument_that_is_none_is_refused_naming_it(call, message):
    """Each raised AttributeError "'str' object has no attribute 'memo'" (or 'flagger', 'duration', ...)."""
    with pytest.raises(UsageError, match=re.escape(message)):
        call()


def test_a_plan_argument_may_be_the_path_of_a_plan_file(validation_plan):
    """What load_mix and the assertions' mix argument already took: a path, read as load_plan reads it."""
    from rampsim.testing.assertions import assert_false_rollback_rate_below, assert_stops_within

    fault = rampsim.parse_fault("error-rate:canary:+3%@5m")
    run = rampsim.simulate(str(VALIDATION), [fault], seed=1)
    assert run.outcome == rampsim.simulate(validation_plan, [fault], seed=1).outcome
    assert_stops_within(VALIDATION, [fault], within="5m", seeds=[0])
    mix = rampsim.load_mix(ROOT / "scenarios" / "mix-reference.yaml", str(ROOT / "scenarios" / "ramp-phase-50k.yaml"))
    assert mix.name == "reference"
    with pytest.raises(AssertionError, match="UNDECIDED|FAIL"):   # a path reaches the check, not an AttributeError
        assert_false_rollback_rate_below(str(VALIDATION), "0.1%", max_replicates=10, batch=10)
    result = rampsim.sweep(str(VALIDATION), replicates=2, workers=1)
    assert len(result.summary()) == 1
    with pytest.raises(RampsimError, match="nope.yaml: cannot read"):
        rampsim.simulate("nope.yaml")


@pytest.mark.parametrize("arguments, message", [
    ({"grid": [5]}, "grid: 5 is not an axis: write each as 'PATH=VALUES'"),
    ({"grid": 5}, "grid is a list of axes such as"),
    ({"grid": {"rules.error_rate_rollback.threshold": "0.3%"}}, "grid is a list of axes such as"),
    ({"executor": "x"}, "sweep: executor is a concurrent.futures.Executor"),
    ({"mix": 5}, "sweep: mix is a Mix (rampsim.load_mix(path, plan)) or the path of a mix file, got 5"),
])
def test_sweep_refuses_a_grid_mix_or_executor_that_is_none(validation_plan, arguments, message):
    """grid=[5] and executor='x' were AttributeErrors from inside the sweep."""
    with pytest.raises(UsageError, match=re.escape(message)):
        rampsim.sweep(validation_plan, **{"replicates": 1, "workers": 1, **arguments})


def test_sweep_takes_one_axis_alone_and_a_mix_file_path(validation_plan, tmp_path):
    """A grid given as one text was read one character at a time ("grid axis 'r'"); a mix path (what the
    assertions take) was an AttributeError."""
    result = rampsim.sweep(validation_plan, grid="rules.error_rate_rollback.threshold=0.5%,1%", replicates=2,
                           workers=1)
    assert list(result.summary()["rules.error_rate_rollback.threshold"]) == ["0.5%", "1%"]
    mix = tmp_path / "mix.yaml"
    mix.write_text("name: small\nscenarios:\n  healthy: {weight: 9}\n"
                   "  regression: {weight: 1, faults: ['error-rate:canary:+3%@5m']}\n")
    from_path = rampsim.sweep(validation_plan, str(mix), replicates=4, workers=1)
    given = rampsim.sweep(validation_plan, rampsim.load_mix(mix, validation_plan), replicates=4, workers=1)
    assert from_path.summary().equals(given.summary())
    with pytest.raises(RampsimError, match="starts at 1h, when the ramp has ended"):   # read against the plan
        rampsim.sweep(validation_plan, ROOT / "scenarios" / "mix-reference.yaml", replicates=1, workers=1)


@pytest.mark.parametrize("seeds", [3, "012", None])
def test_assertion_seeds_that_are_no_collection_are_refused_naming_them(validation_plan, seeds):
    """seeds=3 was a TypeError ('int' object is not iterable)."""
    from rampsim.testing.assertions import assert_advances, assert_stops_within

    fault = rampsim.parse_fault("error-rate:canary:+3%@5m")
    with pytest.raises(UsageError, match=re.escape("assert_stops_within: seeds is a collection of seeds such as "
                                                   "range(3)")):
        assert_stops_within(validation_plan, [fault], within="5m", seeds=seeds)
    with pytest.raises(UsageError, match="assert_advances: seeds is a collection"):
        assert_advances(validation_plan, seeds=seeds)


def test_check_takes_paths_and_load_refuses_what_is_not_one():
    """``rampsim.check('plan.yaml', ...)`` raised "'str' object has no attribute 'memo'", and
    ``SweepResult.load(3)`` a TypeError from pathlib."""
    mix = ROOT / "tests" / "data" / "mix-small.yaml"
    report = rampsim.check(str(VALIDATION), str(mix), max_false_rollback=0.9, batch=4, max_replicates=4, workers=1)
    assert report.looks
    with pytest.raises(UsageError, match="check: mix is a Mix"):
        rampsim.check(VALIDATION, 3, max_false_rollback=0.9, workers=1)
    with pytest.raises(UsageError, match="SweepResult.load: directory is a path, got int"):
        rampsim.SweepResult.load(3)


def test_best_plan_takes_a_path_and_a_python_mix_is_checked_against_the_plan_given(tmp_path):
    """best_plan('plan.yaml') raised an AttributeError; a mix built in Python was checked against a Flagger plan
    lengthened for the grid, so whether a fault past the plan's end was refused depended on the grid."""
    from rampsim.experiment.mix import single_scenario_mix
    from rampsim.faults import parse_fault
    from rampsim.plan.loader import PlanError

    result = rampsim.sweep(VALIDATION, grid=["rules.error_rate_rollback.threshold=0.5%,1%"], replicates=2, workers=1)
    assert result.best_plan(str(VALIDATION)).name == rampsim.load_plan(VALIDATION).name
    with pytest.raises(UsageError, match="best_plan: plan is a Plan"):
        result.best_plan(None)
    assert "over 1 scenario (" in repr(result)
    with pytest.raises(UsageError, match="grid is a list of axes"):
        rampsim.sweep(VALIDATION, grid=b"rules.error_rate_rollback.threshold=1%", replicates=2, workers=1)
    late = single_scenario_mix("late", (parse_fault("error-rate:canary:+1%@19m"),))
    rampsim.sweep(VALIDATION, late, replicates=1, workers=1)   # inside the 20-minute ramp
    with pytest.raises(PlanError, match="starts at 20m"):
        rampsim.sweep(VALIDATION, single_scenario_mix("late", (parse_fault("error-rate:canary:+1%@20m"),)),
                      replicates=1, workers=1)
