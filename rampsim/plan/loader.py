"""Loading plans from YAML, with every error located by file, line and field.

``load_plan(path)`` returns a validated :class:`~rampsim.plan.schema.Plan` or raises
:class:`PlanError` listing *all* problems at once, each as
``file:line: dotted.field: what is wrong (what was expected)``.
``with_overrides`` re-validates a plan's source with some fields replaced (the
sweep grid uses it: ``{"rules.error_rate.threshold": "0.3%"}``).
"""
from __future__ import annotations

import copy
import difflib
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from pydantic import BaseModel, ValidationError

from rampsim.errors import InvalidPlanError, UsageError
from rampsim.plan import schema
from rampsim.plan.source import Document, SourceError, parse_document, read_document

__all__ = ["PlanError", "FieldPathError", "load_plan", "plan_from_document", "plan_from_text", "plan_from_data",
           "with_overrides", "set_path", "as_plan"]


class PlanError(InvalidPlanError):
    """A plan that cannot be used; ``problems`` holds one located message per error."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def _field_names() -> set[str]:
    names: set[str] = set()
    for value in vars(schema).values():
        if isinstance(value, type) and issubclass(value, BaseModel):
            names.update(value.model_fields)
            names.update(f.alias for f in value.model_fields.values() if f.alias)
    return names


class FieldPathError(UsageError, KeyError):
    """A dotted plan path that names no field of the plan (``rules.nope.threshold``). A :class:`UsageError`, and a
    ``KeyError`` for the callers of :func:`matched_paths` that catch one; shown as its message, not its repr."""

    __str__ = Exception.__str__


_KNOWN_FIELDS = _field_names()


def load_plan(path: str | Path) -> schema.Plan:
    """Read, validate and return the plan at ``path``."""
    if not isinstance(path, (str, os.PathLike)):
        raise UsageError(f"load_plan: path is the path of a plan file (a str or pathlib.Path), got {path!r}")
    try:
        document = read_document(path, collect_duplicates=True)
    except SourceError as exc:
        raise PlanError([str(exc)]) from None
    return plan_from_document(document)


def plan_from_text(text: str, filename: str = "<plan>") -> schema.Plan:
    """Validate a plan written as YAML ``text``."""
    try:
        document = parse_document(text, filename, collect_duplicates=True)
    except SourceError as exc:
        raise PlanError([str(exc)]) from None
    return plan_from_document(document)


def plan_from_data(data: dict, filename: str = "<plan>") -> schema.Plan:
    """Validate a plan given as plain data (what YAML would load), keeping it for :func:`with_overrides`."""
    return plan_from_document(Document(data=copy.deepcopy(data), filename=filename))


def plan_from_document(document: Document) -> schema.Plan:
    """Validate an already composed document; errors are located in it, repeated keys among them."""
    if not isinstance(document.data, dict):
        raise PlanError([*document.duplicates,
                         f"{document.where(())}: a plan is a mapping of sections (name, phases, checkpoints, ...)"])
    if "scenarios" in document.data and "phases" not in document.data:
        raise PlanError([f"{document.filename}: a scenario mix, not a plan (a plan has phases, rules and "
                         f"checkpoints; a mix goes with --mix)"])
    try:
        plan = schema.Plan.model_validate(document.data)
    except ValidationError as exc:
        raise PlanError([*document.duplicates, *describe_errors(exc.errors(), document)]) from None
    if document.duplicates:
        raise PlanError(list(document.duplicates))
    plan._source = document
    return plan


def describe_errors(errors: Iterable[Mapping[str, Any]], document: Document, prefix: tuple = ()) -> Iterable[str]:
    """Pydantic errors as ``file:line: field: message`` lines."""
    for error in errors:
        loc = (*prefix, *(part for part in error["loc"] if not _is_internal(part)))
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, schema.LocatedError):
            loc = (*loc, *cause.path)
        field = ".".join(str(part) for part in loc) or "(top level)"
        yield f"{document.where(loc)}: {field}: {_message(error, loc)}"


def _is_internal(part: Any) -> bool:
    # pydantic adds the validator kind to locations of some errors, e.g. 'function-after[...]'
    return isinstance(part, str) and ("[" in part and "]" in part)


def _message(error: Mapping[str, Any], loc: tuple) -> str:
    kind, message = error["type"], error["msg"]
    if kind == "extra_forbidden":
        name = str(loc[-1]) if loc else "?"
        if name in _KNOWN_FIELDS:   # a field of another part of a plan: no spelling to suggest
            return f"unknown field {name!r} here"
        close = difflib.get_close_matches(name, _KNOWN_FIELDS, n=1, cutoff=0.7)
        return f"unknown field {name!r}" + (f"; did you mean {close[0]!r}?" if close else "")
    if kind == "missing":
        return "missing required field"
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    if kind in ("enum", "literal_error"):
        message = f"{message}, got {error.get('input')!r}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):   # not "... or instance of _ScenarioModel"
        message = f"expected a mapping of fields (key: value), got {_shown(error.get('input'))}"
    return message


def _shown(value: Any) -> str:
    """A value from the file, as its type and a short form."""
    kind = {str: "text", int: "a number", float: "a number", bool: "a boolean", list: "a list"}.get(type(value))
    if value is None:
        return "nothing"
    text = repr(value)
    return f"{kind or type(value).__name__} {text if len(text) <= 40 else text[:40] + '...'}"


def matched_paths(data: Any, dotted: str) -> list[tuple]:
    """The key paths in nested ``data`` that ``dotted`` (``rules.error_rate.threshold``) names.

    ``*`` matches every key at its level; branches below a ``*`` that lack the rest
    of the path are passed over (``checkpoints.*.criteria.availability.threshold``
    names it wherever a checkpoint has that criterion); the last key may be new.
    :class:`FieldPathError` (a ``KeyError`` too) if nothing matches.
    """
    parts = dotted.split(".")
    found: list[tuple] = []

    def walk(node: Any, index: int, wildcard: bool, at: tuple) -> None:
        part = parts[index]
        last = index == len(parts) - 1
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            keys: list[Any] = [int(part)]
        elif isinstance(node, dict) and part == "*":
            keys, wildcard = list(node), True
        elif isinstance(node, dict) and (part in node or last):
            keys = [part]
        elif wildcard:
            return
        else:
            known = [str(k) for k in node] if isinstance(node, dict) else []
            close = difflib.get_close_matches(part, known, n=1, cutoff=0.6)
            raise FieldPathError(f"{dotted!r}: no field {'.'.join(parts[:index + 1])!r} in the plan"
                           + (f"; did you mean {'.'.join([*parts[:index], close[0]])!r}?" if close else
                              f" (there: {', '.join(known)})" if 0 < len(known) <= 12 else ""))
        for key in keys:
            if last:
                found.append((*at, key))
            else:
                walk(node[key], index + 1, wildcard, (*at, key))

    walk(data, 0, False, ())
    if not found:
        raise FieldPathError(f"{dotted!r} matched nothing in the plan")
    return found


def set_path(data: dict, dotted: str, value: Any) -> None:
    """Set every field of nested ``data`` that ``dotted`` names (:func:`matched_paths`) to ``value``."""
    for path in matched_paths(data, dotted):
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value


def with_overrides(plan: schema.Plan, overrides: Mapping[str, Any]) -> schema.Plan:
    """``plan`` validated again with the fields at dotted paths replaced by ``overrides``
    (``{"rules.error_rate.threshold": "0.3%"}``). A path that names no field of the plan is a :class:`FieldPathError`
    (a :class:`UsageError`), a value the plan refuses a :class:`PlanError`."""
    plan = as_plan("with_overrides: plan", plan)
    if not isinstance(overrides, Mapping) or not all(isinstance(key, str) for key in overrides):
        raise UsageError("with_overrides: overrides is a mapping of dotted plan paths to values, e.g. "
                         f"{{'rules.error_rate.threshold': '0.3%'}}, got {_shown_argument(overrides)}")
    document: Document | None = plan.source
    if document is None:
        raise UsageError("this plan was built from models, not read: load it with load_plan, plan_from_text or "
                         "plan_from_data to vary its fields")
    data = copy.deepcopy(document.data)
    for dotted, value in overrides.items():
        set_path(data, dotted, value)
    changed = Document(data=data, filename=document.filename, lines=document.lines)
    return plan_from_document(changed)


def _shown_argument(value: Any) -> str:
    """An argument's value in an error message: its repr, shortened."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def as_plan(name: str, plan: Any) -> schema.Plan:
    """The plan an API function's argument ``name`` gives: a :class:`~rampsim.plan.schema.Plan`, or the path of a
    plan file (a str or ``os.PathLike``), read with :func:`load_plan`; anything else is a :class:`UsageError` naming
    the argument, raised before anything is simulated."""
    if isinstance(plan, schema.Plan):
        return plan
    if isinstance(plan, (str, os.PathLike)):
        return load_plan(Path(plan))
    raise UsageError(f"{name} is a Plan (rampsim.load_plan(path)) or the path of a plan file, got "
                     f"{_shown_argument(plan)}")
