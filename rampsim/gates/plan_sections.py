"""The ``argo:`` and ``flagger:`` plan sections: read, validated with located errors, registered.

A plan that carries an imported gate has one of these sections (fields as the files wrote
them, see :mod:`rampsim.gates.argo_model` and :mod:`rampsim.gates.flagger_model`). Their readers
report every problem as ``file:line: argo.metrics.success-rate.interval: message`` and register
with :func:`rampsim.plan.sections.register_section` when the plan schema knows the section.

Until ``rampsim.plan.schema.Plan`` has the two fields, a plan file with a gate section is read
with :func:`load_gated_plan`: the rest is validated as a plan and the gate section read from the
plan's source document, so the same reader serves both.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from rampsim.gates.argo_model import ArgoGate
from rampsim.gates.exprlang import ConditionError, threshold_literals
from rampsim.gates.flagger_model import FlaggerGate
from rampsim.plan.loader import PlanError, plan_from_document, set_path
from rampsim.plan.schema import Plan
from rampsim.plan.sections import locate, plan_document, register_section, validate_section
from rampsim.plan.source import Document, SourceError, parse_document, read_document

__all__ = ["GATE_SECTIONS", "Gate", "argo_section", "flagger_section", "gate_of", "load_gated_plan",
           "gated_plan_from_text", "gated_plan_from_document", "schema_has_gate_sections", "with_gate_overrides"]

GATE_SECTIONS = ("argo", "flagger")
Gate = Union[ArgoGate, FlaggerGate]


def schema_has_gate_sections() -> bool:
    """Whether the plan schema has the ``argo`` and ``flagger`` fields (then ``load_plan`` reads gated plans)."""
    return all(name in Plan.model_fields for name in GATE_SECTIONS)


def _section_data(plan: Plan, name: str) -> Any:
    if name in Plan.model_fields:
        return getattr(plan, name)
    document = plan.source
    data = getattr(document, "data", None)
    return data.get(name) if isinstance(data, dict) else None


def argo_section(plan: Plan) -> Optional[ArgoGate]:
    """The plan's ``argo:`` section validated, or ``None``; :class:`PlanError` with located problems."""
    data = _section_data(plan, "argo")
    if data is None:
        return None
    document = plan_document(plan)
    gate = validate_section(ArgoGate, data, document, ("argo",))
    problems = []
    for key, metric in gate.metrics.items():
        if metric.threshold is None:
            continue
        found = 0
        for condition in (metric.successCondition, metric.failureCondition):
            try:
                found += len(threshold_literals(condition)) if condition else 0
            except ConditionError:
                pass
        if found == 0:
            problems.append(locate(document, ("argo", "metrics", key, "threshold"),
                                   "the metric's conditions compare the result with no number this could replace"))
    if problems:
        raise PlanError(problems)
    return gate


def flagger_section(plan: Plan) -> Optional[FlaggerGate]:
    """The plan's ``flagger:`` section validated, or ``None``; :class:`PlanError` with located problems."""
    data = _section_data(plan, "flagger")
    if data is None:
        return None
    return validate_section(FlaggerGate, data, plan_document(plan), ("flagger",))


def gate_of(plan: Plan) -> Optional[Gate]:
    """The imported gate a plan carries, if any; :class:`PlanError` when it is invalid or there are two."""
    argo, flagger = argo_section(plan), flagger_section(plan)
    if argo is not None and flagger is not None:
        raise PlanError([locate(plan_document(plan), ("flagger",), "a plan carries one imported gate: argo or "
                                                                    "flagger, not both")])
    return argo if argo is not None else flagger


def gated_plan_from_document(document: Document) -> Plan:
    """A plan (gate section included) from a composed document; :class:`PlanError` with every problem."""
    if not isinstance(document.data, dict):
        raise PlanError([f"{document.where(())}: a plan is a mapping of sections (name, phases, checkpoints, ...)"])
    if schema_has_gate_sections():
        plan = plan_from_document(document)
    else:
        rest = {k: v for k, v in document.data.items() if k not in GATE_SECTIONS}
        plan = plan_from_document(Document(data=rest, filename=document.filename, lines=document.lines))
        plan._source = document  # the section readers find the gate in the whole document
    gate_of(plan)
    return plan


def load_gated_plan(path: str | Path) -> Plan:
    """Read and validate the plan at ``path``, its ``argo:`` or ``flagger:`` section included."""
    try:
        document = read_document(path)
    except SourceError as exc:
        raise PlanError([str(exc)]) from None
    return gated_plan_from_document(document)


def gated_plan_from_text(text: str, filename: str = "<plan>") -> Plan:
    """:func:`load_gated_plan` for YAML text."""
    try:
        document = parse_document(text, filename)
    except SourceError as exc:
        raise PlanError([str(exc)]) from None
    return gated_plan_from_document(document)


def with_gate_overrides(plan: Plan, overrides: Mapping[str, Any]) -> Plan:
    """``plan`` validated again with fields at dotted paths replaced (``argo.metrics.success-rate.failureLimit``).

    :func:`rampsim.plan.with_overrides` does the same once the schema has the gate sections."""
    document = plan.source
    if not isinstance(document, Document):
        raise PlanError(["this plan was built from models, not read: load it to vary its fields"])
    data = copy.deepcopy(document.data)
    for dotted, value in overrides.items():
        set_path(data, dotted, value)
    return gated_plan_from_document(Document(data=data, filename=document.filename, lines=document.lines))


if "argo" in Plan.model_fields:
    register_section("argo", argo_section)
if "flagger" in Plan.model_fields:
    register_section("flagger", flagger_section)
