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
