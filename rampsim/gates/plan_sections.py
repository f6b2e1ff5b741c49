"""The ``argo:``, ``flagger:`` and ``kayenta:`` plan sections: read, validated with located errors, registered.

A plan that carries an imported gate has one of these sections (fields as the files wrote
them, see :mod:`rampsim.gates.argo_model`, :mod:`rampsim.gates.flagger_model` and
:mod:`rampsim.gates.kayenta_model`). Their readers report every problem as
``file:line: argo.metrics.success-rate.interval: message`` and register with
:func:`rampsim.plan.sections.register_section` when the plan schema knows the section.

A gate section that ``rampsim.plan.schema.Plan`` does not (yet) have as a field is read with
:func:`load_gated_plan`: the rest is validated as a plan and the gate section read from the
plan's source document, so the same reader serves both.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Union

from rampsim.gates.argo_model import ArgoGate
from rampsim.gates.exprlang import ConditionError, threshold_literals
from rampsim.gates.flagger_canary import never_shifted
from rampsim.gates.flagger_model import FlaggerGate
from rampsim.gates.kayenta_model import KayentaGate, analyses, query_problems
from rampsim.plan.loader import PlanError, plan_from_document, with_overrides
from rampsim.plan.schema import Plan
from rampsim.plan.sections import locate, plan_document, register_section, validate_section
from rampsim.plan.source import Document, SourceError, parse_document, read_document

__all__ = ["Gate", "argo_section", "flagger_section", "kayenta_section", "gate_of", "load_gated_plan",
           "gated_plan_from_text", "gated_plan_from_document", "with_gate_overrides"]

Gate = Union[ArgoGate, FlaggerGate, KayentaGate]


def argo_section(plan: Plan) -> Optional[ArgoGate]:
    """The plan's ``argo:`` section validated, or ``None``; :class:`PlanError` with located problems."""
    data = plan.argo
    if data is None:
        return None
    document = plan_document(plan)
    gate = validate_section(ArgoGate, data, document, ("argo",))
    problems = []
    for key, metric in gate.metrics.items():
        if metric.threshold is None:
            continue
        found = 0
        for name, condition in (("successCondition", metric.successCondition),
                                ("failureCondition", metric.failureCondition)):
            try:
                literals = threshold_literals(condition) if condition else []
            except ConditionError:
                continue
            found += len(literals)
            if len(literals) > 1:
                numbers = " and ".join(f"{value:g}" for _, _, value in literals)
                problems.append(locate(document, ("argo", "metrics", key, "threshold"),
                                       f"the metric's {name} compares the result with {len(literals)} numbers "
                                       f"({numbers}): which one this replaces is ambiguous; vary the condition "
                                       "itself instead"))
        if found == 0:
            problems.append(locate(document, ("argo", "metrics", key, "threshold"),
                                   "the metric's conditions compare the result with no number this could replace"))
    if problems:
        raise PlanError(problems)
    return gate


def flagger_section(plan: Plan) -> Optional[FlaggerGate]:
    """The plan's ``flagger:`` section validated, or ``None``; :class:`PlanError` with located problems."""
    data = plan.flagger
    if data is None:
        return None
    document = plan_document(plan)
    gate = validate_section(FlaggerGate, data, document, ("flagger",))
    unshifted = never_shifted(gate)
    if unshifted is not None:
        raise PlanError([locate(document, ("flagger", "analysis", "stepWeight"), unshifted)])
    return gate


def kayenta_section(plan: Plan) -> Optional[KayentaGate]:
    """The plan's ``kayenta:`` section validated, or ``None``; :class:`PlanError` with located problems: the
    section's fields, the metrics' queries (:func:`~rampsim.gates.kayenta_model.query_problems`), and a stage
    that ends after the plan's phases (its last analysis would never run)."""
    data = plan.kayenta
    if data is None:
        return None
    document = plan_document(plan)
    gate = validate_section(KayentaGate, data, document, ("kayenta",))
    problems = [locate(document, ("kayenta", *loc), message) for loc, message in query_problems(gate)]
    last = analyses(gate.stage)[-1].end
    if last > plan.duration + 1e-9:
        problems.append(locate(document, ("kayenta", "stage"), f"the last analysis is {last:g} s after the start, "
                                                                f"after the end of the phases ({plan.duration:g} s)"))
    if problems:
        raise PlanError(problems)
    return gate


def gate_of(plan: Plan) -> Optional[Gate]:
    """The imported gate a plan carries, if any; :class:`PlanError` when it is invalid or there are several."""
    gates = [(name, gate) for name, gate in (("argo", argo_section(plan)), ("flagger", flagger_section(plan)),
                                              ("kayenta", kayenta_section(plan))) if gate is not None]
    if len(gates) > 1:
        raise PlanError([locate(plan_document(plan), (gates[-1][0],), "a plan carries one imported gate (argo, "
                                                                       f"flagger or kayenta), not {len(gates)}")])
    return gates[0][1] if gates else None


def gated_plan_from_document(document: Document) -> Plan:
    """A plan (gate section included) from a composed document; :class:`PlanError` with every problem."""
    if not isinstance(document.data, dict):
        raise PlanError([f"{document.where(())}: a plan is a mapping of sections (name, phases, checkpoints, ...)"])
    plan = plan_from_document(document)
    gate_of(plan)
    return plan


def with_gate_overrides(plan: Plan, overrides: Mapping[str, Any]) -> Plan:
    """:func:`~rampsim.plan.with_overrides`, the imported gate validated too (``argo.metrics.m.failureLimit``)."""
    varied = with_overrides(plan, overrides)
    gate_of(varied)
    return varied


def load_gated_plan(path: str | Path) -> Plan:
    """Read and validate the plan at ``path``, its ``argo:``, ``flagger:`` or ``kayenta:`` section included."""
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


register_section("argo", argo_section)
register_section("flagger", flagger_section)
register_section("kayenta", kayenta_section)
