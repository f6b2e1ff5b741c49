"""``compare_gates``: each gate's row is its own sweep's summary on the same ramps."""
from __future__ import annotations

import pandas as pd
import pytest

from rampsim.experiment.gate_comparison import COMPARISON_COLUMNS, compare_gates
from rampsim.experiment.mix import load_mix
from rampsim.experiment.sweep import sweep
from tests.sim_helpers import MIX_SMALL


def test_each_row_is_the_gates_own_sweep_with_its_overrides(validation_plan):
    mix = load_mix(MIX_SMALL, validation_plan)
    table = compare_gates({"as written": validation_plan, "jumpy": validation_plan}, mix, 12, seed=4, workers=1,
                          overrides={"jumpy": {"rules.error_rate_rollback.threshold": "0.05%",
                                               "rules.error_rate_rollback.sustain": "0s"}})
    assert list(table.index) == ["as written", "jumpy"] and list(table.columns) == list(COMPARISON_COLUMNS)
    alone = sweep(validation_plan, mix, [], 12, 4, workers=1).summary().iloc[0]
    jumpy = sweep(validation_plan, mix, ["rules.error_rate_rollback.threshold=0.05%",
                                         "rules.error_rate_rollback.sustain=0s"], 12, 4, workers=1).summary().iloc[0]
    pd.testing.assert_series_equal(table.loc["as written"], alone[list(COMPARISON_COLUMNS)], check_names=False,
                                   check_dtype=False)
    pd.testing.assert_series_equal(table.loc["jumpy"], jumpy[list(COMPARISON_COLUMNS)], check_names=False,
                                   check_dtype=False)
    assert table.loc["jumpy", "false_rollbacks"] >= table.loc["as written", "false_rollbacks"]   # same ramps


def test_overrides_for_a_gate_not_compared_are_refused(validation_plan):
    with pytest.raises(ValueError, match="overrides for gates not compared: typo"):
        compare_gates({"a": validation_plan}, None, 2, overrides={"typo": {}})
