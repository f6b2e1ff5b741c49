"""Contract 2: the vectorized evaluator decides exactly as the step-by-step engine does."""
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rampsim.engine import DecisionEngine, first_terminal_decision
from rampsim.engine.vectorized import judge
from rampsim.plan import load_plan, with_overrides
from rampsim.testing import strategies as rst
from tests.builders import run, steady

REFERENCE = Path(__file__).parent.parent / "scenarios" / "ramp-phase-50k.yaml"


def engine_verdict(plan, telemetry):
    decision = first_terminal_decision(run(DecisionEngine(plan), telemetry))
    return ("none", None, "") if decision is None else (decision.kind.value, decision.time, decision.source)


def assert_same(plans, telemetry):
    verdicts = judge(plans, telemetry)
    for g, plan in enumerate(plans):
        vector = (verdicts.kind[g], None if np.isnan(verdicts.time[g]) else verdicts.time[g], verdicts.source[g])
        assert vector == engine_verdict(plan, telemetry), f"gate {g}"


@given(st.sampled_from(rst.SMALL_LAYOUTS), st.data())
def test_vectorized_equals_engine_on_random_gates(layout, data):
    telemetry = data.draw(rst.telemetry(layout, min_ticks=20, max_ticks=81, gaps=True, resets=True))
    plans = data.draw(st.lists(rst.gate_plans(layout), min_size=1, max_size=4))
    assert_same(plans, telemetry)


@pytest.mark.slow
@given(st.floats(0.0005, 0.02), st.integers(0, 900), st.integers(1, 200))
def test_vectorized_equals_engine_on_the_reference_plan(rate, start, length):
    plan = load_plan(REFERENCE)
    grid = [with_overrides(plan, {"rules.error_rate_rollback.threshold": f"{t}%", "rules.*.sustain": s})
            for t in (0.3, 0.5, 1.0) for s in ("1m", "3m")]
    errors = np.full(961, 0.0007)
    errors[start:start + length] = rate
    assert_same([plan, *grid], steady(error_rate=errors))
