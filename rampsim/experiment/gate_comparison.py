"""Several gates judged on the same simulated ramps: one row of operating characteristics per gate.

Each gate is a plan (an absolute, a comparative, a sequential or a Kayenta-judged gate of the
same ramp); each is swept on the same mix, replicates and seed, so every gate sees the same
telemetry (common random numbers: the plans share their ``traffic:`` section). ``overrides``
changes fields of one gate the way a one-value grid axis does (``{"rules.x.threshold": "100%"}``
switches a rule off).
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import pandas as pd

from rampsim.experiment.mix import Mix
from rampsim.experiment.sweep import sweep
from rampsim.plan.schema import Plan

__all__ = ["compare_gates", "COMPARISON_COLUMNS"]

COMPARISON_COLUMNS = (
    "false_rollback_rate", "false_rollback_low", "false_rollback_high", "false_rollbacks", "healthy_runs",
    "environment_stops", "environment_runs", "missed_incident_rate", "missed_incident_low", "missed_incident_high",
    "missed_incidents", "incident_runs", "faced_incidents", "early_stops", "detect_median_s", "detect_p90_s",
    "harm_mean",
)
"""The columns of :func:`compare_gates`' table, from :meth:`~rampsim.experiment.results.SweepResult.summary`."""


def compare_gates(gates: Mapping[str, Plan], mix: Optional[Mix], replicates: int, seed: int = 0, *,
                  overrides: Optional[Mapping[str, Mapping[str, str]]] = None, workers: Optional[int] = None) -> pd.DataFrame:
    """One row per gate (indexed by its name in ``gates``): false rollbacks, environment stops, missed
    incidents, detection and harm on ``replicates`` ramps of ``mix`` (:data:`COMPARISON_COLUMNS`)."""
    unknown = set(overrides or {}) - set(gates)
    if unknown:
        raise ValueError(f"overrides for gates not compared: {', '.join(sorted(unknown))}")
    rows = {}
    for name, plan in gates.items():
        grid: Sequence[str] = [f"{path}={value}" for path, value in (overrides or {}).get(name, {}).items()]
        summary = sweep(plan, mix, grid, replicates, seed, workers=workers).summary()
        rows[name] = summary.iloc[0][list(COMPARISON_COLUMNS)]
    return pd.DataFrame(rows).T.rename_axis("gate")
