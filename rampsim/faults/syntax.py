"""The ``--fault`` syntax, and faults read from a scenario's ``faults:`` list.

One fault on the command line::

    KIND[:TARGET][:MAGNITUDE][@START[/DURATION]][,OPTION=VALUE...]

    error-rate:canary:+1.5%@01:00            canary errors +1.5 points from 1h to the end
    error-rate:canary/C:+0.3%@30m/1h         segment C only, from 30m for one hour
    tail-latency:canary:3%@1h/30m,delay=400ms
    crash:canary:40%@2h/10m,shape=flapping,period=2m
    slow-dependency:+150ms@1h/20m            target defaults to shared
    scrape-gap:shared@1h/5m                  kinds without a magnitude omit it

TARGET is ``canary``, ``baseline`` or ``shared`` (both arms), optionally
``/SEGMENT``; START and DURATION are durations (``1h30m``, ``90s``) or clock
offsets (``01:30``). OPTIONs are the fields of :class:`~rampsim.faults.spec.Fault`
(``shape``, ``period``, ``duty``, ``rise``, ``delay``). Nothing is evaluated: the
text is split on its separators and every value is read by :mod:`rampsim.units`.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from pydantic import ValidationError

from rampsim.errors import UsageError
from rampsim.faults.catalogue import ARMS, SHARED
from rampsim.faults.spec import Fault
from rampsim.plan.loader import PlanError
from rampsim.plan.schema import Plan
from rampsim.plan.sections import locate, plan_document, register_section, validate_section
from rampsim.plan.source import Document
from rampsim.units import Kind, format_value

__all__ = ["FaultError", "parse_fault", "fault_fields", "plan_faults", "read_faults", "check_faults"]

_OPTIONS = ("shape", "period", "duty", "rise", "delay", "target", "magnitude", "start", "duration")


class FaultError(UsageError):
    """A fault that cannot be used; the message names the text and what is wrong."""


def fault_fields(text: str) -> dict[str, Any]:
    """The fields written in ``text`` (see the module docstring), not yet validated."""
    if not isinstance(text, str) or not text.strip():
        raise FaultError("a fault is written KIND[:TARGET][:MAGNITUDE][@START[/DURATION]][,OPTION=VALUE...]")
    head, *options = [part.strip() for part in text.strip().split(",")]
    main, at, timing = head.partition("@")
    kind, *rest = [part.strip() for part in main.split(":")]
    fields: dict[str, Any] = {"kind": kind}
    if len(rest) > 2:
        raise FaultError(f"too many ':' parts in {main!r}: expected KIND[:TARGET][:MAGNITUDE]")
    if len(rest) == 2:
        fields["target"], fields["magnitude"] = rest
    elif len(rest) == 1:
        looks_like_target = rest[0].partition("/")[0] in (*ARMS, SHARED)
        fields["target" if looks_like_target else "magnitude"] = rest[0]
    if at:
        start, slash, duration = timing.partition("/")
        if not start.strip():
            raise FaultError(f"nothing after '@' in {head!r}: write a start such as @01:00 or @1h")
        fields["start"] = start.strip()
        if slash:
            if not duration.strip():
                raise FaultError(f"nothing after '/' in {head!r}: write a duration such as /30m, "
                                 f"or drop the '/' to last to the end")
            fields["duration"] = duration.strip()
    for option in options:
        key, eq, value = option.partition("=")
        key = key.strip()
        if not eq or not key:
            raise FaultError(f"option {option!r} is not KEY=VALUE")
        if key not in _OPTIONS:
            raise FaultError(f"unknown option {key!r}; options: {', '.join(_OPTIONS[:5])}")
        if key in fields:
            raise FaultError(f"{key!r} is given twice")
        fields[key] = value.strip()
    return {k: v for k, v in fields.items() if v != ""}


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        loc = ".".join(str(p) for p in error["loc"]) or "fault"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = f"unknown field; fields: {', '.join(Fault.model_fields)}"
        parts.append(f"{loc}: {message}")
    return "; ".join(parts)


def parse_fault(text: str) -> Fault:
    """The fault written as ``text``; :class:`FaultError` says what is wrong."""
    fields = fault_fields(text)
    try:
        return Fault.model_validate(fields)
    except ValidationError as exc:
        raise FaultError(_validation_message(exc)) from None


def check_faults(faults: Sequence[Fault], plan: Plan) -> list[tuple[int, str]]:
    """Problems of ``faults`` that only the plan can reveal, as ``(index, message)``."""
    problems = []
    for index, fault in enumerate(faults):
        if fault.segment is not None and fault.segment not in plan.telemetry.segments:
            problems.append((index, f"{fault.kind}: unknown segment {fault.segment!r}; segments are "
                                    f"{', '.join(plan.telemetry.segments)}"))
        if fault.start >= plan.duration:
            problems.append((index, f"{fault.kind}: starts at {format_value(fault.start, Kind.DURATION)}, "
                                    f"when the ramp has ended ({format_value(plan.duration, Kind.DURATION)})"))
    return problems


def plan_faults(plan: Plan) -> list[Fault]:
    """The faults of ``plan``'s ``faults:`` list; :class:`~rampsim.plan.PlanError` with located messages."""
    return read_faults(plan.faults or [], plan_document(plan), ("faults",), plan)


def read_faults(items: Iterable[Any], document: Document, prefix: tuple, plan: Plan) -> list[Fault]:
    """Faults from a YAML list at ``prefix`` in ``document`` (strings or mappings), checked against ``plan``.

    Raises :class:`~rampsim.plan.PlanError` listing every problem as ``file:line: field: message``.
    """
    faults: list[Fault] = []
    problems: list[str] = []
    for index, item in enumerate(items):
        where = (*prefix, index)
        try:
            if isinstance(item, str):
                faults.append(parse_fault(item))
                continue
            if not isinstance(item, dict):
                raise FaultError("a fault is a mapping (kind, target, magnitude, start, ...) or a string such as "
                                 "'error-rate:canary:+1.5%@1h'")
            faults.append(validate_section(Fault, item, document, where))
        except FaultError as exc:
            problems.append(locate(document, where, str(exc)))
        except PlanError as exc:
            problems.extend(exc.problems)
    if not problems:
        problems = [locate(document, (*prefix, index), message) for index, message in check_faults(faults, plan)]
    if problems:
        raise PlanError(problems)
    return faults


register_section("faults", plan_faults)
