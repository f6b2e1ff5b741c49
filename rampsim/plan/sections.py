"""Plan sections owned by other layers: validated one way, listed in one registry.

A plan carries some sections as plain data for the layers above it to read:
``traffic`` (the simulation's model), ``faults`` (the injected faults) and
``prometheus`` (production's metric names). The plan layer cannot import those
layers, so each owner registers the function that reads its section when its module
is imported::

    register_section("traffic", traffic_config)

and ``rampsim validate`` (the command line, above every layer) imports the owners
and reports the problems of every registered section at once
(:func:`section_problems`). A reader takes the plan and returns its section, or
raises :class:`~rampsim.plan.loader.PlanError` with located problems;
:func:`validate_section` is the common part: a pydantic model validated with each
error as ``file:line: field: message``.
"""
from __future__ import annotations

from typing import Any, Callable, TypeVar

from pydantic import BaseModel, ValidationError

from rampsim.plan.loader import PlanError, describe_errors
from rampsim.plan.schema import Plan
from rampsim.plan.source import Document

__all__ = ["SectionReader", "validate_section", "locate", "plan_document", "register_section", "registered",
           "section_problems"]

M = TypeVar("M", bound=BaseModel)

SectionReader = Callable[[Plan], object]
"""Reads one section of a plan: returns it, or raises ``PlanError`` with located problems."""

_READERS: dict[str, SectionReader] = {}


def validate_section(model: type[M], data: Any, document: Document, prefix: tuple = ()) -> M:
    """``data`` validated as ``model``, or :class:`PlanError` listing every problem.

    ``data`` was read from ``document`` at the key path ``prefix`` (``("traffic",)``,
    ``()`` for a whole file), so each problem is ``file:line: prefix.field: message``
    with the line the field was written on.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise PlanError(list(describe_errors(exc.errors(), document, prefix=prefix))) from None


def locate(document: Document, loc: tuple, message: str) -> str:
    """A problem found after validation, ``file:line: dotted.field: message``, at key path ``loc``."""
    field = ".".join(str(part) for part in loc) or "(top level)"
    return f"{document.where(loc)}: {field}: {message}"


def plan_document(plan: Plan) -> Document:
    """The document ``plan`` was read from (a nameless one for a plan built from models)."""
    document: Document | None = plan.source
    return document if document is not None else Document(data=None, filename="<plan>")


def register_section(name: str, reader: SectionReader) -> SectionReader:
    """Make ``reader`` the reader of the plan section ``name``; returns ``reader``.

    ``name`` must be a field of :class:`~rampsim.plan.schema.Plan`. Registering the same
    function again (a re-imported module) is harmless; a second, different reader for
    one section is an error.
    """
    if name not in Plan.model_fields:
        raise ValueError(f"{name!r} is not a section of a plan (sections: {', '.join(Plan.model_fields)})")
    known = _READERS.get(name)
    if known is not None and _qualified(known) != _qualified(reader):
        raise ValueError(f"section {name!r} is already read by {_qualified(known)}")
    _READERS[name] = reader
    return reader


def registered() -> dict[str, SectionReader]:
    """The registered sections and their readers, in the order the plan's schema lists them."""
    order = list(Plan.model_fields)
    return {name: _READERS[name] for name in sorted(_READERS, key=order.index)}


def section_problems(plan: Plan) -> list[str]:
    """The located problems of every registered section of ``plan``, section by section."""
    problems: list[str] = []
    for reader in registered().values():
        try:
            reader(plan)
        except PlanError as exc:
            problems.extend(exc.problems)
    return problems


def _qualified(reader: SectionReader) -> str:
    return f"{getattr(reader, '__module__', '?')}.{getattr(reader, '__qualname__', repr(reader))}"
