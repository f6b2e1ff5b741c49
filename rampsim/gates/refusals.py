"""The errors of importing a gate: a file, metric or field rampsim cannot simulate, located.

Every refusal names the file (and the line when it is known), the metric or field, and the
reason, so ``rampsim import`` prints one line per problem and no traceback. They derive from
:class:`rampsim.errors.InvalidPlanError` (exit 3): a gate file is a plan written in another
controller's language.
"""
from __future__ import annotations

from typing import Optional, Sequence

from rampsim.errors import InvalidPlanError

__all__ = ["GateError", "GateRefused", "located"]


def located(filename: str, line: Optional[int], subject: str, message: str) -> str:
    """``file:line: subject: message`` (the line left out when unknown, the subject when empty)."""
    where = f"{filename}:{line}" if line else filename
    return f"{where}: {subject}: {message}" if subject else f"{where}: {message}"


class GateError(InvalidPlanError):
    """A gate (Argo Rollouts or Flagger file, or a plan's ``argo:``/``flagger:`` section) that cannot be used.

    ``problems`` holds one located message per problem, like :class:`rampsim.plan.PlanError`.
    """

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class GateRefused(GateError):
    """A gate rampsim refuses to simulate (a provider without telemetry, a Helm template, a query outside
    the PromQL subset): the file is understood, but simulating it would be a guess."""
