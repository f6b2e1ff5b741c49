"""The scenario mix: which ramps an experiment simulates, and in what proportion.

A mix file names scenarios, each with a weight (its share of the replicates) and
the faults injected into it (strings in the ``--fault`` syntax or mappings)::

    name: reference
    scenarios:
      healthy: {weight: 90%}
      error-regression: {weight: 10%, faults: ["error-rate:canary:+1.5%@1h"]}

Whether a scenario is an incident is not declared: it is the plan's SLO judged on
the scenario's expected metrics (the ground truth), so a "benign" fault that does
breach the SLO is counted as an incident.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from rampsim.faults import Fault
from rampsim.faults.syntax import read_faults
from rampsim.errors import UsageError
from rampsim.plan.loader import PlanError, as_plan
from rampsim.plan.schema import Plan
from rampsim.plan.sections import locate, validate_section
from rampsim.plan.source import Document, SourceError, read_document
from rampsim.units import PositiveRatio

__all__ = ["MixScenario", "Mix", "load_mix", "as_mix", "allocate", "single_scenario_mix"]


MAX_WEIGHT = 1e12
"""The largest relative weight: the shares are each weight over their sum, which must stay finite."""


class _ScenarioModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    weight: PositiveRatio = 1.0
    description: Optional[str] = None
    faults: list[Union[str, dict[str, Any]]] = Field(default_factory=list)


class _MixModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = "mix"
    description: Optional[str] = None
    scenarios: dict[str, _ScenarioModel]

    @field_validator("scenarios")
    @classmethod
    def _some(cls, value: dict) -> dict:
        if not value:
            raise ValueError("a mix needs at least one scenario")
        return value


@dataclass(frozen=True)
class MixScenario:
    """One scenario of the mix: its name, share of the replicates, and faults."""

    name: str
    weight: float
    faults: tuple[Fault, ...]
    description: Optional[str] = None


@dataclass(frozen=True)
class Mix:
    """The scenarios of an experiment; weights are shares of the replicates."""

    name: str
    scenarios: tuple[MixScenario, ...]
    source: Optional[str] = None

    @property
    def shares(self) -> np.ndarray:
        weights = np.array([s.weight for s in self.scenarios], dtype=float)
        return weights / weights.sum()


def load_mix(path: Union[str, Path], plan: Union[Plan, str, "os.PathLike[str]"]) -> Mix:
    """Read the mix at ``path``; its faults are checked against ``plan`` (a Plan, or a plan file's path). Errors name
    file, line and field."""
    if not isinstance(path, (str, os.PathLike)):
        raise UsageError(f"load_mix: path is the path of a mix file (a str or pathlib.Path), got {path!r:.80}")
    plan = as_plan("load_mix: plan", plan)
    try:
        document = read_document(path)
    except SourceError as exc:
        raise PlanError([str(exc)]) from None
    return mix_from_document(document, plan)


def mix_from_document(document: Document, plan: Plan) -> Mix:
    """The mix in ``document``, its faults checked against ``plan``; every problem reported at once."""
    data = document.data if document.data is not None else {}
    if isinstance(data, dict) and "scenarios" not in data and {"phases", "rules"} & set(data):
        raise PlanError([f"{document.filename}: a plan, not a scenario mix (a mix has 'name' and 'scenarios')"])
    if isinstance(data, dict) and isinstance(data.get("scenarios"), dict):   # `healthy:` alone: weight 1, no faults
        data = {**data, "scenarios": {name: {} if body is None else body for name, body in data["scenarios"].items()}}
    problems: list[str] = []
    try:
        model: Optional[_MixModel] = validate_section(_MixModel, data, document)
    except PlanError as exc:
        problems.extend(exc.problems)
        model = None
    raw = data.get("scenarios") if isinstance(data, dict) else None
    scenarios = []
    for name, scenario in (raw.items() if isinstance(raw, dict) else ()):
        listed = scenario.get("faults", []) if isinstance(scenario, dict) else []
        if not isinstance(listed, list):
            continue   # the model's problem
        try:
            faults = read_faults(listed, document, ("scenarios", name, "faults"), plan)
        except PlanError as exc:
            problems.extend(exc.problems)
            continue
        if model is not None:
            checked = model.scenarios[name]
            scenarios.append(MixScenario(name, checked.weight, tuple(faults), checked.description))
    if model is not None and isinstance(raw, dict):
        problems.extend(_percentages_not_whole(document, raw, model))
        problems.extend(locate(document, ("scenarios", name, "weight"), f"weight {scenario.weight:g}: a relative "
                                                                        f"weight is at most {MAX_WEIGHT:g}")
                        for name, scenario in model.scenarios.items() if scenario.weight > MAX_WEIGHT)
    if problems or model is None:
        raise PlanError(problems)
    return Mix(model.name, tuple(scenarios), document.filename)


def _percentages_not_whole(document: Document, raw: dict, model: "_MixModel") -> list[str]:
    """A problem when every weight is written as a percentage and they do not add up to 100% within the
    rounding they are written to (``33.3%`` three times, ``17%`` six times are the whole): shares that
    were meant to be the whole, not relative weights (which are written without ``%``)."""
    written = [scenario.get("weight", 1.0) if isinstance(scenario, dict) else None for scenario in raw.values()]
    texts = [w.strip() for w in written if isinstance(w, str) and w.strip().endswith("%")]
    if texts and len(texts) < len(written):
        return [locate(document, ("scenarios",), "some weights are percentages and some plain numbers: write "
                                                 "every weight as a share of the whole (90%, 10%) or every one "
                                                 "as a relative weight (9, 1)")]
    if not texts:
        return []
    rounding = sum(0.5 * 10.0 ** -len(text[:-1].partition(".")[2]) for text in texts) / 100
    total = sum(scenario.weight for scenario in model.scenarios.values())
    if abs(total - 1.0) <= rounding + 1e-12:
        return []
    digits = next((d for d in range(4, 17) if float(f"{total * 100:.{d}g}") != 100), 17)   # never "100%, not 100%"
    return [locate(document, ("scenarios",), f"the weights, written as percentages, add up to "
                                             f"{total * 100:.{digits}g}%, not 100%: make them add up, or write "
                                             "relative weights without '%' (5, 1 for five to one)")]


def as_mix(name: str, mix: Any, plan: Plan) -> Mix:
    """The mix an API function's argument ``name`` gives: a :class:`Mix`, the path of a mix file (read against
    ``plan``, as the command line's ``--mix``), or ``None`` for one healthy scenario; else a :class:`UsageError`."""
    if mix is None:
        return single_scenario_mix("healthy")
    if isinstance(mix, (str, os.PathLike)):
        return load_mix(Path(mix), plan)
    if not isinstance(mix, Mix):
        raise UsageError(f"{name} is a Mix (rampsim.load_mix(path, plan)) or the path of a mix file, got {mix!r:.80}")
    return mix


def single_scenario_mix(name: str, faults: tuple[Fault, ...] = ()) -> Mix:
    """A mix of one scenario (all replicates alike)."""
    return Mix(name, (MixScenario(name, 1.0, tuple(faults)),))


def allocate(total: int, shares: np.ndarray) -> np.ndarray:
    """``total`` replicates split by ``shares``: the first ``total`` of one fixed sequence of scenarios.

    Replicate ``j`` goes to the scenario furthest behind its share after ``j + 1``
    replicates, so any count is within one of ``share × total``, and a larger total
    only adds replicates: the first 100 of a 2,000-replicate experiment are the
    100 of a 100-replicate one (what sequential checks and resumed sweeps rely on).
    """
    shares = np.asarray(shares, dtype=float)
    counts = np.zeros(len(shares), dtype=int)
    for j in range(total):
        counts[int(np.argmax(shares * (j + 1) - counts))] += 1
    return counts
