"""The gate grid: plan parameters to vary, and the plan of every combination.

An axis is written ``PATH=VALUES``, PATH in the gate (``rules``, ``checkpoints``,
``final_gate``; the simulated ramp and the SLO are shared by every gate): ``rules.error_rate.threshold=0.3%..1%:8`` (8
evenly spaced values, the unit kept), ``rules.*.sustain=1m,2m,3m,5m`` (a list; ``*``
matches every key at that level). Several axes make a Cartesian product of at
most :data:`MAX_GRID_POINTS` gates. Every point is a whole plan validated again; a value
the plan refuses is reported as a grid error (the command line's, exit 2) naming the axis and value.
A value is written in ASCII digits, as a plan's are (:func:`rampsim.units.ascii_digits`): ``０.５%``
or a range ``٠.٣%..1%:3`` is a grid error, never read as 0.5% or 0.3%.
"""
from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import numpy as np

from rampsim.errors import UsageError
from rampsim.plan.loader import PlanError, matched_paths, with_overrides
from rampsim.plan.schema import IMPORTED_GATES, Plan
from rampsim.units import UnitError, ascii_digits, unitless

__all__ = ["Axis", "GridError", "GridPoint", "parse_axis", "parse_grid", "expand", "values_at", "gate_values",
           "grid_overrides", "written_values", "own_value_text", "MAX_GRID_POINTS"]

MAX_GRID_POINTS = 10_000
"""The most gates one sweep judges (every one is a validated plan, judged on every replicate)."""

_END = re.compile(r"^\s*(\$?)\s*([+-]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?)\s*([A-Za-z%/]*)\s*$")


class GridError(UsageError):
    """A grid axis that cannot be read or applied."""


GATE_SECTIONS = ("rules", "checkpoints", "final_gate", *IMPORTED_GATES)


@dataclass(frozen=True)
class Axis:
    """One varied parameter: a dotted plan path (``*`` allowed) and the values it takes."""

    path: str
    values: tuple[str, ...]

    def __post_init__(self) -> None:
        for value in self.values:
            _ascii_digits(f"{self.path}={','.join(self.values)}", value)


def _ascii_digits(axis: str, value: str) -> None:
    """A :class:`GridError` naming ``axis`` when ``value`` is written with a digit other than ASCII (the plan's own
    check: float() would read ``'０.５%'`` as 0.5%)."""
    try:
        ascii_digits(value)
    except UnitError as exc:
        raise GridError(f"grid axis {axis!r}: {exc}") from None


@dataclass(frozen=True)
class GridPoint:
    """One gate of the grid: its index, the value of each axis, the resulting plan, and how many
    axes set a value other than the plan's own (``changes``: 0 is the plan itself)."""

    index: int
    values: dict[str, str]
    plan: Plan
    changes: int = 0


def values_at(model: Any, path: str) -> list[Any]:
    """The validated values at a dotted plan ``path`` (``*`` matches every key; a number is a list's index:
    ``kayenta.stage.scopes.0.step``) of a plan model."""
    found = [model]
    for part in path.split("."):
        step: list[Any] = []
        for item in found:
            if isinstance(item, dict):
                step.extend(item.values() if part == "*" else [item[part]] if part in item else [])
            elif part == "*" and hasattr(item, "model_fields"):
                step.extend(getattr(item, name) for name in type(item).model_fields)
            elif isinstance(item, (list, tuple)):   # an index, as the grid's paths write it
                step.extend([item[int(part)]] if part.isdigit() and int(part) < len(item) else [])
            elif hasattr(item, part):
                step.append(getattr(item, part))
        found = step
    return found


def gate_values(plan: Plan, path: str) -> list[Any]:
    """What the gate of ``plan`` holds at a dotted ``path``, comparable across plans: :func:`values_at`, with an
    imported gate's values (which its sections keep as written: ``1`` in the file, ``'1'`` from a grid) read as
    numbers where they are numbers, and an Argo metric's ``threshold`` absent from its section read from its
    conditions (the one number they compare the result with; ``None`` when they compare it with several)."""
    parts = path.split(".")
    if parts[0] not in IMPORTED_GATES:
        return values_at(plan, path)
    if parts[0] == "argo" and len(parts) == 4 and parts[1] == "metrics" and parts[3] == "threshold":
        from rampsim.gates.exprlang import ConditionError, threshold_literals

        metrics = (plan.argo or {}).get("metrics") or {}
        found: list[Any] = []
        for key, metric in metrics.items():
            if parts[2] not in ("*", key) or not isinstance(metric, dict):
                continue
            if metric.get("threshold") is not None:
                found.append(_number_or_text(metric["threshold"]))
                continue
            literals: set[float] = set()
            for condition in (metric.get("successCondition"), metric.get("failureCondition")):
                try:
                    literals |= {value for _, _, value in threshold_literals(condition)} if condition else set()
                except ConditionError:
                    pass
            found.append(literals.pop() if len(literals) == 1 else None)
        return found
    read = _duration_reader(parts[0], parts[-1])
    return [_as_read(value, read) for value in values_at(plan, path)]


def _duration_reader(gate: str, name: str) -> Optional[Callable[[Any], float]]:
    """How the controller of an imported ``gate`` reads its duration field ``name`` (``None`` if it is none): Go's
    ``time.ParseDuration`` (Argo's pause: seconds too), Java's ``Duration.parse`` (Spinnaker's ``lifetimeDuration``).
    Imported here: a sweep of the plan's own gate loads no gate package."""
    from rampsim.gates.goduration import parse_go_duration, parse_pause_duration
    from rampsim.gates.kayenta_model import parse_iso_duration

    readers: dict[str, dict[str, Callable[[Any], float]]] = {
        "argo": {"interval": parse_go_duration, "initialDelay": parse_go_duration, "duration": parse_pause_duration,
                 "manual_promotion_after": parse_go_duration},
        "flagger": {"interval": parse_go_duration},
        "kayenta": {"lifetimeDuration": parse_iso_duration},
    }
    return readers.get(gate, {}).get(name)


def _as_read(value: Any, duration: Optional[Callable[[Any], float]]) -> Any:
    """An imported gate's value as its controller reads it: a duration field's seconds (``60s`` and ``1m``,
    ``PT4H`` and ``PT240M`` are one value), else :func:`_number_or_text`; a value it cannot read (an Argo
    ``{{args.interval}}``) as written."""
    if duration is not None and not isinstance(value, bool):
        try:
            return duration(value)
        except (ValueError, UsageError):
            pass
    return _number_or_text(value)


def grid_overrides(values: Mapping[str, str], plan: Optional[Plan] = None) -> dict[str, Any]:
    """The fields a grid point's ``values`` (path → text) set, for :func:`~rampsim.plan.with_overrides`. An imported
    gate keeps its fields as the files wrote them: ``true`` and ``false`` become booleans (Kayenta's ``critical``, as
    its JSON writes it), and, given the swept ``plan``, a number where the plan's own value is one (as the files
    write it or, for an Argo metric's threshold, as its conditions compare it; a Kayenta
    ``step: 60`` stays a number in the plan ``--write-best`` writes and the JSON ``export kayenta`` writes); else the
    text as written."""
    def written(path: str, text: str) -> Any:
        if path.split(".")[0] not in IMPORTED_GATES:
            return text
        if text in ("true", "false"):
            return text == "true"
        own = values_at(plan.source.data, path) if plan is not None and plan.source is not None else []
        if not own and plan is not None:   # a value the section does not write (an Argo metric's threshold)
            own = [v for v in gate_values(plan, path) if v is not None]
        number = _number_or_text(text)
        numeric = own and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in own)
        return number if numeric and isinstance(number, (int, float)) else text

    return {path: written(path, text) for path, text in values.items()}


def _number_or_text(value: Any) -> Any:
    """A number written as text (``'1'``, ``'0.95'``) as the number, read as a plan reads one
    (:func:`rampsim.units.unitless`: ASCII digits); anything else as it is."""
    if isinstance(value, str):
        number = unitless(value)
        if number is None:
            return value
        return int(number) if re.fullmatch(r"\s*[+-]?[0-9]+\s*", value) else float(number)
    return value


def own_value_text(plan: Plan, path: str) -> str:
    """``plan``'s value at ``path`` for a person: as its file writes it, else as its gate holds it (an Argo
    threshold read from its condition), else ``default``."""
    written = written_values(plan, path) or [f"{v:g}" if isinstance(v, float) else str(v)
                                             for v in gate_values(plan, path) if v is not None]
    return ", ".join(dict.fromkeys(written)) or "default"


def written_values(plan: Plan, path: str) -> list[str]:
    """The distinct values ``plan``'s file writes at a dotted ``path`` (``*`` allowed), as written; none when
    the plan has no file or leaves the field to its default."""
    if plan.source is None:
        return []
    written: dict[str, None] = {}
    for field in matched_paths(plan.source.data, path):
        node: Any = plan.source.data
        for key in field:
            if not isinstance(node, (dict, list)) or (isinstance(node, dict) and key not in node):
                break
            node = node[key]
        else:
            written[str(node).lower() if isinstance(node, bool) else str(node)] = None   # YAML's true
    return list(written)


def parse_grid(grid: Any) -> tuple[Axis, ...]:
    """The axes of a sweep's ``grid`` argument: a list of axes, each ``PATH=VALUES`` text or an :class:`Axis`; one
    axis alone (a text or an :class:`Axis`) is a grid of that axis. Anything else is a :class:`GridError` naming
    ``grid`` (a text was read one character at a time, an integer met deep inside)."""
    if isinstance(grid, (str, Axis)):
        grid = [grid]
    elif isinstance(grid, (Mapping, bytes, bytearray)) or not isinstance(grid, Iterable):
        raise GridError(f"grid is a list of axes such as ['rules.error_rate.threshold=0.3%..1%:8'], got "
                        f"{grid!r:.80}")
    axes = []
    for item in grid:
        if not isinstance(item, (str, Axis)):
            raise GridError(f"grid: {item!r:.80} is not an axis: write each as 'PATH=VALUES', e.g. "
                            "'rules.*.sustain=1m,2m,3m', or an Axis")
        axes.append(parse_axis(item) if isinstance(item, str) else item)
    return tuple(axes)


def parse_axis(text: str) -> Axis:
    """An axis from ``PATH=a,b,c`` or ``PATH=LOW..HIGH:N``."""
    path, eq, values = text.partition("=")
    path = path.strip()
    if not eq or not path or not values.strip():
        raise GridError(f"grid axis {text!r}: write PATH=VALUES, e.g. 'rules.error_rate.threshold=0.3%..1%:8' "
                        f"or 'rules.*.sustain=1m,2m,3m'")
    if path.split(".")[0] not in GATE_SECTIONS:
        raise GridError(f"grid axis {text!r}: a sweep varies the gate ({', '.join(GATE_SECTIONS)}); "
                        f"{path.split('.')[0]!r} changes the simulated ramp or its ground truth, which every gate "
                        f"must share: run one sweep per setting instead")
    if ".." in values:
        low_text, _, rest = values.partition("..")
        high_text, colon, count = rest.rpartition(":")
        for end in (low_text, high_text, count):   # converted below: ranges of '０.３%' were 0.3%
            _ascii_digits(text, end.strip())
        low, high = _END.match(low_text), _END.match(high_text)
        if not (low and high and colon and count.strip().isdecimal()):
            raise GridError(f"grid axis {text!r}: a range is LOW..HIGH:COUNT with one unit, e.g. 0.3%..1%:8 "
                            f"(list compound values such as 1h30m instead: 1h,1h30m,2h)")
        (dollar, low_number, unit), (high_dollar, high_number, high_unit) = low.groups(), high.groups()
        if (dollar, unit) != (high_dollar, high_unit) and high_unit and unit:
            raise GridError(f"grid axis {text!r}: both ends of a range need the same unit ({unit!r} vs {high_unit!r})")
        unit, dollar = unit or high_unit, dollar or high_dollar
        count = count.strip()
        if len(count) > len(str(MAX_GRID_POINTS)) or int(count) > MAX_GRID_POINTS:  # int() refuses 4,300 digits
            raise GridError(f"grid axis {text!r}: a range has at most {MAX_GRID_POINTS:,} values")
        if int(count) < 2:
            raise GridError(f"grid axis {text!r}: a range needs at least 2 values")
        if float(low_number.replace(",", "")) == float(high_number.replace(",", "")):
            raise GridError(f"grid axis {text!r}: a range from a value to itself repeats it: give one value")
        points = np.linspace(float(low_number.replace(",", "")), float(high_number.replace(",", "")), int(count))
        return Axis(path, tuple(f"{dollar}{number}{unit}" for number in _short_numbers(points)))
    items = tuple(v.strip() for v in values.split(","))
    if not all(items):
        raise GridError(f"grid axis {text!r}: an empty value (two commas in a row, or one at an end)")
    return Axis(path, items)   # a value repeated, however written, is refused by expand (read by the plan)


def _short_numbers(points: np.ndarray) -> list[str]:
    """``points`` written with the fewest significant digits, at least 4, that keep them all distinct (``0.7667``
    for 0.766666..., what a person writes in a plan); exact values stay exact (``0.4``)."""
    for digits in range(4, 17):
        texts = [np.format_float_positional(p, precision=digits, unique=True, fractional=False, trim="-")
                 for p in points]
        if len(set(texts)) == len(texts):
            return texts
    return [repr(float(p)) for p in points]


def expand(plan: Plan, axes: Sequence[Axis]) -> list[GridPoint]:
    """Every combination of the axes' values, as plans (the plan itself when there are no axes)."""
    paths = [axis.path for axis in axes]
    if len(set(paths)) != len(paths):
        raise GridError("each plan path can be varied by one axis only")
    if len(axes) > 1 and plan.source is not None:
        varied_by: dict[tuple, str] = {}
        for path in paths:
            try:
                fields = matched_paths(plan.source.data, path)
            except KeyError:
                continue   # reported with the grid point below
            for field in fields:   # the same field, or one inside another (an axis setting a whole section)
                for known, other in varied_by.items():
                    outer, inner = sorted((field, known), key=len)
                    if other != path and inner[:len(outer)] == outer:
                        whole = f" ({_dotted(outer)} as a whole)" if outer != inner else ""
                        raise GridError(f"grid axes {other!r} and {path!r} both vary {_dotted(inner)}{whole}: "
                                        "each field by one axis only")
            varied_by.update(dict.fromkeys(fields, path))
    size = math.prod(len(axis.values) for axis in axes)
    if size > MAX_GRID_POINTS:
        raise GridError(f"grid: {' × '.join(str(len(axis.values)) for axis in axes)} = {size:,} gates; a sweep "
                        f"judges at most {MAX_GRID_POINTS:,} (split it into several sweeps)")
    validate_gate: Optional[Callable[[Plan], object]] = None
    if any(path.split(".")[0] in IMPORTED_GATES for path in paths):   # the imported gate's own fields,
        from rampsim.gates.plan_sections import gate_of                # validated like the plan's
        validate_gate = gate_of
    points = []
    for index, combination in enumerate(itertools.product(*(axis.values for axis in axes))):
        values = dict(zip(paths, combination))
        try:
            varied = with_overrides(plan, grid_overrides(values, plan)) if values else plan
            if validate_gate is not None:
                validate_gate(varied)
        except KeyError as exc:
            raise GridError(f"grid: {exc.args[0]}") from None
        except PlanError as exc:  # the plan itself is valid: the grid's values are at fault, not its lines
            where = f"{plan.source.filename}:" if plan.source is not None and plan.source.filename else None
            problems = [_unlocated(problem, where) for problem in exc.problems]
            more = f" (and {len(problems) - 2} more)" if len(problems) > 2 else ""
            raise GridError(f"grid point {', '.join(f'{p}={v}' for p, v in values.items())}: "
                            + "; ".join(problems[:2]) + more) from None
        changes = sum(gate_values(varied, path) != gate_values(plan, path) for path in paths)
        points.append(GridPoint(index, values, varied, changes))
    _refuse_repeated_values(axes, points)
    return points


def _refuse_repeated_values(axes: Sequence[Axis], points: Sequence[GridPoint]) -> None:
    """A :class:`GridError` when two values of an axis give its field one value as the plan reads it (``0.3%``,
    ``0.30%`` and ``0.003``; ``75`` and ``75.0``): they would be one gate twice, tied on every rate, and the
    recommendation among them would fall to grid order. Compared on the points where every other axis takes
    its first value (``points`` in product order)."""
    stride = len(points)
    for axis in axes:
        stride //= len(axis.values)
        read: list[tuple[list[Any], str]] = []
        for position, value in enumerate(axis.values):
            held = gate_values(points[position * stride].plan, axis.path)
            same = next((text for other, text in read if other == held), None)
            if same is not None:
                alike = f"{value!r}" if same == value else f"{same!r} and {value!r} are one value"
                raise GridError(f"grid axis {axis.path + '=' + ','.join(axis.values)!r}: a value is repeated "
                                f"({alike} of {axis.path}): give each value once")
            read.append((held, value))


def _dotted(field: tuple) -> str:
    """A plan field's key path written as a dotted path."""
    return ".".join(str(part) for part in field)


def _unlocated(problem: str, where: str | None) -> str:
    """A plan problem without its ``file:line:`` prefix (the line is the plan's, not the grid's)."""
    if where and problem.startswith(where):
        return problem[len(where):].partition(": ")[2] or problem
    return problem
