"""The decision core: how values, alerts and statuses become a gate's decision.

Both judges apply these rules: the step-by-step
:class:`~rampsim.engine.engine.DecisionEngine` on one scrape's floats, and the
compiled sweep judge (:mod:`rampsim.engine.judge`) on arrays over replicates and
gates. Every function here works on a plain number or on a numpy array alike.

* A criterion passes when ``value <op> threshold``; a missing value (NaN) is
  inconclusive, never a pass.
* A checkpoint's status is the worst of its criteria's (fail over inconclusive over
  pass); the final gate adds its requirements: earlier checkpoints, no alerts of a
  severity, at most so many missing scrapes.
* A status maps to the checkpoint's action (``on_pass``, ``on_fail``, ``on_inconclusive``).
* Rules that fire at the same scrape decide together: a rollback outranks a hold,
  then the plan's rule order.
"""
from __future__ import annotations

from typing import overload

import numpy as np

from rampsim.engine.events import Status
from rampsim.plan.schema import Checkpoint, FinalGate, Op

__all__ = ["PASS", "INCONCLUSIVE", "FAIL", "STATUSES", "ACTIONS", "criterion_status", "gate_requirements",
           "action_codes", "rule_rank"]

PASS, INCONCLUSIVE, FAIL = 0, 1, 2   # ordered: the worst of several statuses is their maximum
STATUSES = (Status.PASS, Status.INCONCLUSIVE, Status.FAIL)
ACTIONS = ("continue", "hold", "rollback", "advance")

@overload
def criterion_status(value: float, op: Op, threshold: float) -> int: ...


@overload
def criterion_status(value: np.ndarray, op: Op, threshold: np.ndarray) -> np.ndarray: ...


def criterion_status(value: float | np.ndarray, op: Op, threshold: float | np.ndarray) -> int | np.ndarray:
    """:data:`PASS` when ``value <op> threshold``, :data:`FAIL` when not, :data:`INCONCLUSIVE` when NaN."""
    with np.errstate(invalid="ignore"):
        status = np.where(np.isnan(value), INCONCLUSIVE, np.where(op.compare(value, threshold), PASS, FAIL))
    return status if isinstance(value, np.ndarray) else int(status)


@overload
def gate_requirements(gate: FinalGate, worst_earlier: int, alerts_fired: int, missing: int) -> int: ...


@overload
def gate_requirements(gate: FinalGate, worst_earlier: np.ndarray, alerts_fired: np.ndarray,
                      missing: np.ndarray) -> np.ndarray: ...


def gate_requirements(gate: FinalGate, worst_earlier: int | np.ndarray, alerts_fired: int | np.ndarray,
                      missing: int | np.ndarray) -> int | np.ndarray:
    """The final gate's own status: ``worst_earlier`` is the worst earlier checkpoint status,
    ``alerts_fired`` the alerts of at least ``require_no_alerts`` severity so far, ``missing``
    the scrapes missing a series the gate reads."""
    status = np.zeros(np.shape(missing), dtype=np.int64)
    if gate.require_checkpoints:
        status = np.maximum(status, worst_earlier)
    if gate.require_no_alerts:
        status = np.where(np.asarray(alerts_fired) > 0, FAIL, status)
    status = np.where(np.asarray(missing) > gate.max_missing_scrapes, np.maximum(status, INCONCLUSIVE), status)
    return status if isinstance(missing, np.ndarray) else int(status)


def action_codes(checkpoint: Checkpoint) -> np.ndarray:
    """The index into :data:`ACTIONS` of the checkpoint's action for each status (indexed by status)."""
    by_status = {PASS: checkpoint.on_pass, INCONCLUSIVE: checkpoint.on_inconclusive, FAIL: checkpoint.on_fail}
    return np.array([ACTIONS.index(by_status[s]) for s in (PASS, INCONCLUSIVE, FAIL)], dtype=np.int8)


def rule_rank(action: str) -> int:
    """Among rules firing at one scrape, the lower rank decides: a rollback before a hold."""
    return 0 if action == "rollback" else 1
