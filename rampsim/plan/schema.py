"""The plan: what a rollout does and how it is judged, as validated pydantic models.

A plan has phases (canary weight and duration), checkpoints (a time and criteria,
each criterion with its own window), continuous rules (a breach condition held for
a sustain time, with a severity and an action), a final gate, the traffic weights
each action moves to, and the SLO that says what a real incident is. Quantities
are written with units (see :mod:`rampsim.units`) and stored in base units.

Comparison semantics: a *criterion* passes when ``value <op> threshold`` holds; a
*rule* or SLO *objective* is breached when ``value <op> threshold`` holds.

A measurement may compare the canary with the baseline (``compare: baseline``): as a
difference, a ratio or a relative change (``as:``), inconclusive while either arm has served
fewer than ``min_requests`` requests in the window; or with an anytime-valid sequential test
(``test: sequential``), whose value is the test's p-value, so that a rule breaches (and a
criterion fails) when it reaches the threshold, the test's level alpha.
"""
from __future__ import annotations

import enum
import functools
import math
import operator
from typing import Annotated, Any, Callable, ClassVar, Literal, Optional, overload

import numpy as np

from pydantic import (
    AfterValidator, BaseModel, ConfigDict, Field, PrivateAttr, ValidationInfo, field_validator, model_validator,
)

from rampsim.errors import InvalidPlanError
from rampsim.plan.metric_definitions import (
    CONTRASTS, Metric, MetricDefinition, definition_of, metric_names, resolve_alias,
)
from rampsim.telemetry import DEFAULT_LATENCY_BUCKETS, Layout
from rampsim.units import (
    MAX_RATE, Count, Duration, Kind, PositiveDuration, Share, Unit, UnitError, count, format_value, parse, quantity,
    unitless,
)

__all__ = [
    "Metric", "Op", "WindowKind", "Window", "Measurement", "Measure", "Criterion", "Rule", "Objective",
    "Checkpoint", "FinalGate", "Phase", "Actions", "TelemetrySettings", "SLO", "Remediation", "ReportText", "Plan",
    "IMPORTED_GATES",
]

IMPORTED_GATES = ("argo", "flagger", "kayenta")
"""The plan sections that carry an imported gate (read by :mod:`rampsim.gates`), one per plan."""


class Op(str, enum.Enum):
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="

    @property
    def compare(self) -> Callable[[Any, Any], Any]:
        """The comparison as a function (works on floats and numpy arrays; ``False`` for NaN)."""
        return _COMPARISONS[self.value]

    @overload
    def holds(self, value: float, threshold: float) -> bool: ...

    @overload
    def holds(self, value: np.ndarray, threshold: float) -> np.ndarray: ...

    def holds(self, value: float | np.ndarray, threshold: float) -> bool | np.ndarray:
        """``value <op> threshold`` (elementwise on an array); ``False`` for a missing (NaN) value."""
        return _COMPARISONS[self.value](value, threshold)


_COMPARISONS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


class WindowKind(str, enum.Enum):
    ROLLING = "rolling"
    CUMULATIVE = "cumulative"
    SINCE_CHECKPOINT = "since_checkpoint"


class Window(BaseModel):
    """Which scrapes a metric is computed over.

    ``rolling`` covers the last ``seconds`` (PromQL ``[5m]``); ``cumulative`` everything
    since the ramp began; ``since_checkpoint`` everything since the previous checkpoint.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: WindowKind
    seconds: float = 0.0

    @field_validator("seconds", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):  # the field's name is its unit
            if isinstance(value, int) and abs(value) > 10 ** 300:   # math.isfinite would overflow
                raise ValueError("not a finite number (too large)")
            if math.isfinite(value) and value < 0:
                raise ValueError(f"must be zero or positive, got {value!r}")
            value = f"{value!r}s" if math.isfinite(value) else value
        return _positive_duration(value, allow_zero=True)

    @model_validator(mode="after")
    def _seconds_fit_kind(self) -> "Window":
        if self.kind is WindowKind.ROLLING and not self.seconds > 0:
            raise ValueError("a rolling window needs 'seconds' longer than zero, e.g. {kind: rolling, seconds: 5m}")
        if self.kind is not WindowKind.ROLLING and self.seconds:
            raise ValueError(f"a {self.kind.value} window has no length; drop 'seconds'")
        return self

    def describe(self) -> str:
        if self.kind is WindowKind.ROLLING:
            return f"over the last {format_value(self.seconds, Kind.DURATION)}"
        if self.kind is WindowKind.CUMULATIVE:
            return "since the ramp began"
        return "since the previous checkpoint"

    def __str__(self) -> str:
        return format_value(self.seconds, Kind.DURATION) if self.kind is WindowKind.ROLLING else self.kind.value


def _parse_window(value: Any) -> Window:
    if isinstance(value, Window):
        return value
    if isinstance(value, str) and value.strip() in ("cumulative", "since_start"):
        return Window(kind=WindowKind.CUMULATIVE)
    if isinstance(value, str) and value.strip() in ("since_checkpoint", "since_previous_checkpoint"):
        return Window(kind=WindowKind.SINCE_CHECKPOINT)
    if isinstance(value, dict):
        return Window.model_validate(value)
    try:
        seconds = parse(value, Kind.DURATION)
    except UnitError as exc:
        raise ValueError(f"{exc}; or one of 'cumulative', 'since_checkpoint'") from None
    if seconds <= 0:
        raise ValueError(f"a window must be longer than zero, got {value!r}")
    return Window(kind=WindowKind.ROLLING, seconds=seconds)


def _positive_duration(value: Any, allow_zero: bool = False) -> float:
    return quantity(value, Kind.DURATION, allow_low=allow_zero)


MAX_DURATION = 30 * 86400.0
"""The longest ramp a plan may describe."""

MAX_SCRAPES = 200_000
"""The most scrapes a ramp may have (its telemetry is held in memory)."""


def _on_grid(seconds: float, interval: float) -> bool:
    return abs(seconds / interval - round(seconds / interval)) <= 1e-9


class LocatedError(InvalidPlanError):
    """A cross-field problem that belongs to the field at ``path`` (dotted), not to the whole model."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = tuple(int(p) if p.isdigit() else p for p in path.split("."))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


MAX_MARGIN = 10.0
"""The largest ``margin`` of a sequential test: its null is "canary at most 11 times the baseline"."""

_NEEDS_CONTRAST = ("a comparison needs 'as', which says how to read its threshold: difference (in the metric's "
                   "unit), ratio (a number) or relative (a percentage)")


class Measurement(_Model):
    """What is measured: a metric of an arm (and segment) over a window, with the metric's parameters.

    ``metric`` may be written as an alias (``p99`` is ``latency`` with ``quantile:
    0.99``). ``peak`` takes the maximum over the window of the metric computed on
    rolling sub-windows of that length (``max_over_time`` of a subquery); ``trend``
    divides the value by the one over the equally long window before. The metric's
    :class:`~rampsim.plan.metric_definitions.MetricDefinition` checks the rest.

    ``compare: baseline`` measures the metric on the arm *and* on the baseline
    (:attr:`compared`) and contrasts them ``as`` a ``difference``, ``ratio`` or ``relative``
    change (:data:`~rampsim.plan.metric_definitions.CONTRASTS`); with ``min_requests`` the
    value is inconclusive (NaN) unless each arm served at least that many requests in the
    window. With ``test: sequential`` instead of ``as``, the value is the anytime-valid
    p-value of the null "the arm's metric is at most ``1 + margin`` times the baseline's",
    from the ramp's start (``window: cumulative``, the default); ``batch`` makes the test read
    one ratio per batch of that length instead of one per scrape interval, robust to noise of
    one arm: see :mod:`rampsim.engine.metrics`.

    Frozen and hashable, with no comparison: equal measurements have equal values, so
    a measurement is the key values are shared and cached under.
    """

    model_config = ConfigDict(validate_by_name=True)  # 'as' is a Python keyword: the field is 'contrast'

    metric: Metric
    arm: str = "canary"
    segment: Optional[str] = None
    quantile: Optional[float] = None
    definition: Optional[Literal["absolute", "relative", "chi2"]] = None
    agg: Optional[Literal["last", "avg", "max"]] = None
    alert_severity: Optional[Literal["warning", "critical"]] = None
    window: Window = Field(default_factory=lambda: Window(kind=WindowKind.ROLLING, seconds=60.0))
    peak: Optional[PositiveDuration] = None
    trend: bool = False

    rejects_with: ClassVar[Optional[tuple[Op, ...]]] = None
    """The comparisons with which a measure acts when its sequential test rejects (see :class:`Measure`)."""

    compare: Optional[Literal["baseline"]] = None
    contrast: Optional[Literal["difference", "ratio", "relative"]] = Field(None, alias="as")
    min_requests: Optional[int] = None
    test: Optional[Literal["sequential"]] = None
    margin: Optional[float] = None
    batch: Optional[PositiveDuration] = None

    @model_validator(mode="before")
    @classmethod
    def _sequential_window(cls, data: Any) -> Any:
        """A sequential test accumulates evidence from the ramp's start: its window is cumulative unless written."""
        if isinstance(data, dict) and data.get("test") == "sequential" and "window" not in data:
            data = {**data, "window": "cumulative"}
        return data

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        alias = resolve_alias(data["metric"]) if isinstance(data, dict) and isinstance(data.get("metric"), str) \
            else None
        if alias is not None:
            data, (metric, parameters) = dict(data), alias
            for parameter, value in parameters.items():
                if data.get(parameter) is not None:
                    raise ValueError(f"metric {data['metric']!r} already sets the {parameter}; drop {parameter!r}")
                data[parameter] = value
            data["metric"] = metric
        return data

    @field_validator("metric", mode="before")
    @classmethod
    def _metric_known(cls, value: Any) -> Any:
        known = metric_names()
        if isinstance(value, str) and value not in known:
            raise ValueError(f"unknown metric {value!r}; known metrics: {', '.join(known)}")
        return value

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> Window:
        return _parse_window(value)

    @field_validator("quantile")
    @classmethod
    def _quantile(cls, value: Optional[float]) -> Optional[float]:
        if value is not None and not 0 < value < 1:
            raise ValueError(f"a quantile is between 0 and 1 (exclusive), got {value}")
        return value

    @field_validator("min_requests", mode="before")
    @classmethod
    def _min_requests(cls, value: Any) -> Any:
        if value is None:
            return value
        try:
            number = count(value)   # a percentage is no number of requests ('100%' is not 1)
        except UnitError as exc:
            raise ValueError(f"{exc} (a number of requests)") from None
        if not 1 <= number < 2**53:
            raise ValueError(f"min_requests is a whole number of requests, at least 1; got {value!r}")
        return number

    @field_validator("margin", mode="before")
    @classmethod
    def _margin(cls, value: Any) -> Optional[float]:
        if value is None:
            return value
        if _bare_number_at_least_one(value):
            raise ValueError(f"a margin is written as a percentage, e.g. '10%' (the null allows the canary 10% "
                             f"worse than the baseline); the bare number {value!r} would read as "
                             f"{_as_percentage(value)}")
        try:
            margin = parse(value, Kind.RATIO)
        except UnitError as exc:
            raise ValueError(str(exc)) from None
        if not 0.0 <= margin <= MAX_MARGIN:
            raise ValueError(f"margin is how much worse than the baseline the null allows, between 0% and "
                             f"{format_value(MAX_MARGIN, Kind.RATIO)}; got {value!r}")
        return margin

    @model_validator(mode="after")
    def _fits_metric(self) -> "Measurement":
        self._check_comparison()
        self.metric_definition.check(self)
        return self

    def _check_comparison(self) -> None:
        """Refuse comparison fields that make no sense together (the metric's definition checks the rest)."""
        if self.compare is None:
            for name, written in (("contrast", "as"), ("min_requests", "min_requests"), ("test", "test"),
                                  ("margin", "margin"), ("batch", "batch")):
                if getattr(self, name) is not None:
                    raise ValueError(f"{written!r} applies to a comparison with the baseline: add compare: baseline")
            return
        if self.arm == self.compare:
            raise ValueError(f"compare: {self.compare} on the {self.arm} arm compares it with itself: measure the "
                             f"canary (drop 'arm')")
        if self.trend:
            raise ValueError("a trend divides by the previous window and a comparison by the baseline: choose one")
        if self.test is None:
            if self.contrast is None:
                raise ValueError(_NEEDS_CONTRAST)
            if self.margin is not None:
                raise ValueError("'margin' is a sequential test's (test: sequential); a comparison's threshold "
                                 "already says how far from the baseline the arm may be")
            if self.batch is not None:
                raise ValueError("'batch' is a sequential test's (test: sequential): a comparison reads its window "
                                 "whole")
            return
        if self.rejects_with == ():
            raise ValueError("a sequential test judges noisy telemetry as it arrives: it is a rule or a "
                             "checkpoint criterion, not an SLO objective (judged on expected metrics)")
        if self.contrast is not None:
            raise ValueError("a sequential test compares as a ratio (its null: arm <= (1 + margin) x baseline): "
                             "drop 'as'")
        if self.min_requests is not None:
            raise ValueError("a sequential test needs no minimum sample (its evidence grows with the counts): "
                             "drop min_requests")
        if self.window.kind is not WindowKind.CUMULATIVE:
            raise ValueError("a sequential test accumulates evidence from the ramp's start: its window is "
                             "cumulative (the default; drop 'window')")
        if self.peak is not None:
            raise ValueError("a sequential test's p-value only falls as evidence accumulates: it has no 'peak'")

    @property
    def metric_definition(self) -> MetricDefinition:
        """The metric's definition: its parameters, unit, computation and PromQL."""
        return definition_of(self.metric)

    @property
    def measurement(self) -> "Measurement":
        """What is measured, without a comparison: this measurement itself."""
        return self

    @property
    def compared(self) -> tuple["Measurement", "Measurement"]:
        """A comparison's two plain measurements: the metric on the arm, then on the baseline (``compare``)."""
        if self.compare is None:
            raise ValueError("not a comparison with the baseline")
        plain = self.measurement.model_copy(update={"compare": None, "contrast": None, "min_requests": None,
                                                    "test": None, "margin": None, "batch": None})
        return plain, plain.model_copy(update={"arm": self.compare})

    @property
    def kind(self) -> Kind:
        """The unit of the value: a plain number for a trend, a ratio's, a percentage for a relative change or a
        sequential test's p-value, else the metric's."""
        if self.test is not None:
            return Kind.RATIO
        if self.contrast is not None:
            return CONTRASTS[self.contrast] or self.metric_definition.unit
        return Kind.NUMBER if self.trend else self.metric_definition.unit

    @property
    def reads_latest(self) -> bool:
        """Whether the value is read at the latest scrape alone (a gauge's last sample): the window plays no part."""
        return self.metric_definition.reads_latest(self)

    @property
    def label(self) -> str:
        """Short name of the measured quantity, e.g. ``p99 latency`` or ``error rate (segment B)``."""
        name = self.metric_definition.label(self)
        if self.agg and self.agg != "last":
            name = f"{self.agg} {name}"
        if self.peak:
            name = f"peak {name} (per {format_value(self.peak, Kind.DURATION)})"
        if self.trend:
            name = f"{name} trend (ratio to the previous window)"
        if self.segment:
            name = f"{name} in segment {self.segment}"
        if self.test is not None:
            factor = f"{format_value(1.0 + self.margin, Kind.NUMBER)} x " if self.margin else ""
            test = f"{self.metric_definition.sequential} test" if self.batch is None else \
                f"batched {self.metric_definition.sequential} test, one ratio per " \
                f"{format_value(self.batch, Kind.DURATION)}"
            return f"anytime-valid p-value of '{self.arm} {name} at most {factor}the {self.compare}'s' ({test})"
        if self.contrast == "difference":
            name = f"{name}, {self.arm} minus {self.compare}"
        elif self.contrast is not None:
            name = f"{name} {'ratio' if self.contrast == 'ratio' else 'relative change'}, {self.arm} vs {self.compare}"
        elif self.arm != "canary":
            name = f"{name} on {self.arm}"
        return name

    def describe(self) -> str:
        """The measurement in words: ``P99 latency over the last 1m``."""
        guard = f" (inconclusive until each arm has served {self.min_requests:,} requests in it)" \
            if self.min_requests else ""
        return f"{self.label} {'at the latest scrape' if self.reads_latest else self.window.describe()}{guard}"


class Measure(Measurement):
    """A measurement compared with a threshold: ``value <op> threshold`` (see the module docstring).

    Written flat, the comparison beside the measured fields; :attr:`measurement` is
    what is measured without it. A sequential test's threshold is its level alpha, in
    (0%, 100%), and its comparison is :attr:`rejects_with`'s: a rule breaches when the p-value
    falls to alpha (``<`` or ``<=``), a criterion passes while it stays above (``>`` or ``>=``).
    """

    rejects_with: ClassVar[Optional[tuple[Op, ...]]] = ()   # a plain measure (an SLO objective) cannot hold one
    breaches: ClassVar[bool] = True   # the condition is a breach (off if no value meets it), not a pass (off if all do)

    op: Op
    threshold: float

    @functools.cached_property
    def measurement(self) -> Measurement:
        """What is measured, without the comparison."""
        return Measurement.model_construct(**{name: getattr(self, name) for name in Measurement.model_fields})

    @field_validator("threshold", mode="before")
    @classmethod
    def _threshold(cls, value: Any, info: ValidationInfo) -> float:
        metric = info.data.get("metric")
        if metric is None:
            raise ValueError("cannot read the threshold without a valid metric")
        if info.data.get("compare") is not None and info.data.get("contrast") is None and info.data.get("test") is None:
            raise ValueError(_NEEDS_CONTRAST)
        if info.data.get("test") is not None:
            try:
                alpha = parse(value, Kind.RATIO)
            except UnitError as exc:
                raise ValueError(str(exc)) from None
            if not 0.0 < alpha < 1.0:
                raise ValueError(f"a sequential test's threshold is its level alpha, between 0% and 100% "
                                 f"(exclusive), e.g. 5%; got {value!r}")
            return alpha
        if info.data.get("contrast") == "relative" and _bare_number_at_least_one(value):
            raise ValueError(f"a relative change is written as a percentage, e.g. '+10%' (10% more than the "
                             f"baseline); the bare number {value!r} would read as {_as_percentage(value)}")
        return definition_of(metric).read_threshold(value, bool(info.data.get("trend")), info.data.get("contrast"),
                                                    info.data.get("definition"))

    @model_validator(mode="after")
    def _not_off(self) -> "Measure":
        """Refuse a condition the value cannot change (:meth:`condition_problem`)."""
        problem = self.condition_problem()
        if problem:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _sequential_comparison(self) -> "Measure":
        if self.test is not None and self.rejects_with and self.op not in self.rejects_with:
            ops = " or ".join(f"'{op.value}'" for op in self.rejects_with)
            raise ValueError(f"a sequential test's value is its p-value, and the test rejects when it falls to "
                             f"alpha (the threshold): write op {ops} here")
        return self

    def describe(self) -> str:
        """The measure in words: ``P99 latency over the last 1m < 200ms``."""
        return f"{super().describe()} {self.op.value} {format_value(self.threshold, self.kind)}"

    def value_range(self, bounds: Optional[tuple[float, float]] = None) -> tuple[float, float]:
        """The values what is measured can take: a p-value's, a contrast's, a trend's, else the metric's
        ``bounds`` (by default its definition's)."""
        if self.test is not None:
            return 0.0, 1.0
        low, high = bounds or definition_of(self.metric).bounds_for(self.definition)
        if self.contrast == "difference":
            return low - high, high - low
        if self.contrast == "ratio" or (self.trend and self.contrast is None):
            return 0.0, math.inf
        if self.contrast == "relative":
            return -1.0, math.inf
        return low, high

    def condition_problem(self, bounds: Optional[tuple[float, float]] = None) -> Optional[str]:
        """Why ``value <op> threshold`` decides the same whatever the value over :meth:`value_range` (``bounds``:
        the metric's, where the plan narrows them): a breach condition no value meets (the measure is off) or
        every value meets (it stops every ramp), a pass condition every value meets (off) or none does (every
        ramp fails it); ``None`` when it depends on the value."""
        low, high = self.value_range(bounds)
        t, op = self.threshold, self.op
        if {Op.GT: t < low, Op.GE: t <= low, Op.LT: t > high, Op.LE: t >= high}[op]:
            holds = "always holds"
            verdict = ("would be breached at every conclusive value (it would stop every ramp)" if self.breaches
                       else "could never fail (it would be off)")
        elif not {Op.GT: t < high, Op.GE: t <= high, Op.LT: t > low, Op.LE: t >= low}[op]:
            holds = "never holds"
            verdict = ("could never be breached (it would be off)" if self.breaches
                       else "could never pass (every ramp would fail it)")
        else:
            return None
        return (f"'{op.value} {format_value(t, self.kind)}' {holds}: the value lies between "
                f"{format_value(low, self.kind)} and {format_value(high, self.kind)}, so this {verdict}")


def _bare_number_at_least_one(value: Any) -> bool:
    """Whether ``value`` is a whole number written without a unit, 1 or more, in any notation (``10``, ``10.0``,
    ``1e1``, ``'1e+1'``): ``threshold: 10`` meant as "+10%" (Keptn's habit) would read as +1000%. A fraction
    (``0.1``, ``1.5``) reads as written."""
    number = unitless(value)
    return (number is not None and math.isfinite(float(number)) and abs(number) >= 1
            and number == number.to_integral_value())   # one beyond a float ('1e400') is refused as out of range


def _as_percentage(value: Any) -> str:
    """A bare number as the percentage it reads as: ``10`` as ``1000%``."""
    return format_value(float(unitless(value) or 0), Kind.RATIO)


class Criterion(Measure):
    """A checkpoint criterion: passes when ``value <op> threshold``."""

    rejects_with = (Op.GT, Op.GE)
    breaches = False


class Rule(Measure):
    """A continuous rule: breached when ``value <op> threshold`` for ``sustain`` or longer."""

    rejects_with = (Op.LT, Op.LE)

    sustain: Duration = 0.0
    severity: Literal["info", "warning", "critical"] = "warning"
    action: Literal["warn", "escalate", "hold", "rollback"] = "warn"

    def describe(self) -> str:
        held = f" for {format_value(self.sustain, Kind.DURATION)} or longer" if self.sustain else ""
        return f"when {super().describe()}{held}: {self.severity} → {self.action}"


class Objective(Measure):
    """An SLO objective: an incident when ``value <op> threshold`` holds for ``sustain``."""

    sustain: Duration = 0.0


ActionName = Literal["continue", "hold", "rollback", "advance"]


def _checklist_item(item: str) -> str:
    """A checklist item: one non-blank line, without its surrounding spaces."""
    line = item.strip()
    if not line:
        raise ValueError("a checklist item cannot be blank")
    if len(line.splitlines()) > 1:
        raise ValueError(f"a checklist item is one line, got {line!r}")
    return line


ChecklistItem = Annotated[str, AfterValidator(_checklist_item)]
"""One item of a checklist (a checkpoint's ``manual`` list, a ``report:`` list): one line of text."""



class Checkpoint(_Model):
    """A scheduled judgement: at ``at``, every criterion is evaluated and a decision taken."""

    at: PositiveDuration
    title: Optional[str] = None
    criteria: dict[str, Criterion] = Field(default_factory=dict)
    on_pass: ActionName = "continue"
    on_fail: ActionName = "hold"
    on_inconclusive: ActionName = "continue"
    manual: list[ChecklistItem] = Field(default_factory=list)

    @field_validator("on_inconclusive", "on_fail")
    @classmethod
    def _never_advance_unproven(cls, value: str, info: ValidationInfo) -> str:
        if value == "advance":
            why = "missing data" if info.field_name == "on_inconclusive" else "a failed criterion"
            raise ValueError(f"{info.field_name} cannot be 'advance': {why} never leads to advance")
        return value


class FinalGate(Checkpoint):
    """The decision gate at the end: advance when all holds, else hold (or roll back)."""

    on_pass: ActionName = "advance"
    on_fail: ActionName = "hold"
    on_inconclusive: ActionName = "hold"
    require_checkpoints: bool = True
    require_no_alerts: Optional[Literal["warning", "critical"]] = "critical"
    max_missing_scrapes: Count = Field(0, ge=0)

    @field_validator("on_fail", "on_inconclusive")
    @classmethod
    def _decides(cls, value: str, info: ValidationInfo) -> str:
        """The final gate is the ramp's decision: a failure (or missing data) that continues would leave the canary
        at its weight, undecided, whatever the criteria said."""
        if value == "continue":
            why = "a failed criterion" if info.field_name == "on_fail" else "missing data"
            raise ValueError(f"the final gate's {info.field_name} cannot be 'continue': it is the ramp's last "
                             f"decision, and {why} would decide nothing (the canary left at its weight); "
                             "write hold or rollback")
        return value


class Phase(_Model):
    """A stretch of the ramp at one canary traffic weight."""

    name: Optional[str] = None
    weight: Share
    duration: PositiveDuration


class Actions(_Model):
    """The canary traffic weight each terminal action moves to."""

    rollback: Share = 0.0
    hold: Share = 0.05
    advance: Share = 1.0

    def weight(self, action: str, current: float) -> float:
        """The canary weight a ``rollback``, ``hold`` or ``advance`` moves to from ``current``: a hold never raises
        the exposure (a hold to 5% of a canary at 2% stays at 2%)."""
        return {"rollback": self.rollback, "hold": min(self.hold, current), "advance": self.advance}[action]


class TelemetrySettings(_Model):
    """How the service is observed: arms, segments, histogram buckets, cadence."""

    arms: tuple[str, ...] = ("baseline", "canary")
    segments: tuple[str, ...] = ("A", "B", "C")
    scrape_interval: Annotated[float, Unit(Kind.DURATION, low=1.0, high=3600.0)] = 15.0
    health_check_interval: Annotated[float, Unit(Kind.DURATION, low=0.1, high=3600.0)] = 5.0
    latency_buckets: tuple[float, ...] = DEFAULT_LATENCY_BUCKETS

    @field_validator("latency_buckets", mode="before")
    @classmethod
    def _buckets(cls, value: Any) -> tuple[float, ...]:
        if not isinstance(value, (list, tuple)) or not value:
            raise ValueError("latency_buckets is a list of upper bounds such as [10ms, 50ms, 200ms]")
        bounds = []
        for item in value:
            if isinstance(item, str) and item.strip() in ("+Inf", "inf", "Inf"):
                bounds.append(math.inf)
                continue
            bounds.append(_positive_duration(item))
        if bounds[-1] != math.inf:
            bounds.append(math.inf)
        if len(bounds) < 2:
            raise ValueError("latency_buckets needs at least one finite upper bound below +Inf: "
                             "histogram_quantile has no answer with a single bucket")
        if any(a >= b for a, b in zip(bounds, bounds[1:])):
            raise ValueError("latency_buckets must be strictly increasing")
        return tuple(bounds)

    @field_validator("segments")
    @classmethod
    def _some_segments(cls, segments: tuple[str, ...]) -> tuple[str, ...]:
        if not segments:
            raise ValueError("segments is a list of at least one segment name, such as [A, B, C] (the default): "
                             "every request belongs to a segment")
        return segments

    @model_validator(mode="after")
    def _arms(self) -> "TelemetrySettings":
        if "canary" not in self.arms or "baseline" not in self.arms:
            raise ValueError("arms must include 'baseline' and 'canary'")
        if len(set(self.segments)) != len(self.segments) or len(set(self.arms)) != len(self.arms):
            raise ValueError("arm and segment names must be unique")
        if self.health_check_interval > self.scrape_interval:   # a scrape without a round has no pool state
            raise ValueError(f"health_check_interval ({self.health_check_interval:g}s) is longer than "
                             f"scrape_interval ({self.scrape_interval:g}s): some scrapes would count no health-check "
                             "round; check at least once a scrape")
        return self

    @property
    def layout(self) -> Layout:
        return Layout(arms=self.arms, segments=self.segments, latency_buckets=self.latency_buckets,
                      scrape_interval=self.scrape_interval, health_check_interval=self.health_check_interval)


class SLO(_Model):
    """What counts as a real incident: any objective breached on the expected metrics.

    ``environment_incidents`` is the team's policy for a breach that faults outside the
    release cause (the shared infrastructure, the baseline): ``separate`` (the default)
    reports stops of such scenarios in a column of their own, neither false rollbacks nor
    catches, since stopping the canary does not fix them; ``incident`` counts them as
    incidents the gate must stop.
    """

    objectives: dict[str, Objective]
    environment_incidents: Literal["separate", "incident"] = "separate"

    @field_validator("objectives")
    @classmethod
    def _some(cls, objectives: dict[str, Objective]) -> dict[str, Objective]:
        if not objectives:
            raise ValueError("an SLO without objectives calls every scenario healthy (every stop a false rollback, "
                             "no incident to miss): list at least one")
        return objectives


def _checklist(items: list[str]) -> list[str]:
    """At least one item: an empty list would silently drop the checklist."""
    if not items:
        raise ValueError("an empty list would leave this checklist out of the report: list at least one item, or "
                         "drop the key for the default the report derives from the plan")
    return items


Checklist = Annotated[list[ChecklistItem], AfterValidator(_checklist)]
"""Items of a checklist, each shown as an unticked box ``- [ ] item``."""


class Remediation(_Model):
    """A report's remediation plan after a hold or rollback: ``options`` to choose one of, then ``actions``
    taken whichever is chosen."""

    options: Checklist
    actions: Optional[Checklist] = None


class ReportText(_Model):
    """The wording of a rehearsal report's checklists; each one left out is derived from the plan.

    ``readiness`` after an advance, ``remediation`` after a hold or rollback, ``sign_off``
    whatever the decision (by default the final gate's ``manual`` items).
    """

    readiness: Optional[Checklist] = None
    remediation: Optional[Remediation] = None
    sign_off: Optional[Checklist] = None


class Plan(_Model):
    """A whole rollout plan (see the module docstring)."""

    name: str
    description: Optional[str] = None
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    phases: list[Phase]
    actions: Actions = Field(default_factory=Actions)
    rules: dict[str, Rule] = Field(default_factory=dict)
    checkpoints: dict[str, Checkpoint] = Field(default_factory=dict)
    final_gate: FinalGate
    slo: SLO
    report: ReportText = Field(default_factory=ReportText)
    traffic: Optional[dict[str, Any]] = None
    faults: Optional[list[Any]] = None
    prometheus: Optional[dict[str, Any]] = None
    argo: Optional[dict[str, Any]] = None       # an imported Argo Rollouts analysis (rampsim.gates)
    flagger: Optional[dict[str, Any]] = None    # an imported Flagger canary analysis (rampsim.gates)
    kayenta: Optional[dict[str, Any]] = None    # an imported Kayenta canary analysis (rampsim.gates)
    _source: Any = PrivateAttr(default=None)
    _memo: dict = PrivateAttr(default_factory=dict)  # derived data computed once per plan (see ``memo``)

    def memo(self, key: str, compute: Callable[["Plan"], Any]) -> Any:
        """``compute(self)``, computed once per plan object (plans are immutable)."""
        if key not in self._memo:
            self._memo[key] = compute(self)
        return self._memo[key]

    @property
    def source(self) -> Any:
        """The :class:`~rampsim.plan.source.Document` this plan was read from, if any."""
        return self._source

    @field_validator("phases")
    @classmethod
    def _phases(cls, phases: list[Phase]) -> list[Phase]:
        if not phases:
            raise ValueError("a plan needs at least one phase")
        return phases

    @model_validator(mode="after")
    def _consistent(self) -> "Plan":
        if "final_gate" in self.checkpoints:
            raise LocatedError("checkpoints.final_gate", "'final_gate' names the final gate (its own section): "
                               "name this checkpoint otherwise")
        end = self.duration
        if end > MAX_DURATION:
            longest = max(range(len(self.phases)), key=lambda i: self.phases[i].duration)
            raise LocatedError(f"phases.{longest}.duration", f"the phases last {format_value(end, Kind.DURATION)}; "
                                         f"at most {format_value(MAX_DURATION, Kind.DURATION)} is supported")
        if self.n_scrapes > MAX_SCRAPES:
            raise LocatedError("telemetry.scrape_interval", f"{self.n_scrapes:,} scrapes in "
                               f"the ramp; at most {MAX_SCRAPES:,} are supported: lengthen the scrape interval")
        self._actions_move_the_canary()
        arms, segments = self.telemetry.arms, self.telemetry.segments
        if self.final_gate.at > end + 1e-9:
            raise LocatedError("final_gate.at", f"final_gate.at ({format_value(self.final_gate.at, Kind.DURATION)}) is after the "
                             f"end of the phases ({format_value(end, Kind.DURATION)})")
        for name, checkpoint in self.checkpoints.items():
            if checkpoint.at >= self.final_gate.at:
                raise LocatedError(f"checkpoints.{name}.at", f"checkpoint {name!r} at {format_value(checkpoint.at, Kind.DURATION)} is not before "
                                 f"the final gate at {format_value(self.final_gate.at, Kind.DURATION)}")
        seen: dict[float, str] = {}
        for name, checkpoint in self.checkpoints.items():
            if checkpoint.at in seen:
                raise LocatedError(f"checkpoints.{name}.at", f"checkpoints {seen[checkpoint.at]!r} and {name!r} are both at "
                                 f"{format_value(checkpoint.at, Kind.DURATION)}")
            seen[checkpoint.at] = name
        for where, measure in self.measures():
            if measure.arm not in arms:
                raise LocatedError(f"{where}.arm", f"unknown arm {measure.arm!r}; arms are {', '.join(arms)}")
            if measure.segment is not None and measure.segment not in segments:
                raise LocatedError(f"{where}.segment", f"unknown segment {measure.segment!r}; segments are {', '.join(segments)}")
        for where, measure in self.measures():
            if measure.metric is Metric.ALERTS and not where.startswith(("checkpoints.", "final_gate.")):
                raise LocatedError(f"{where}.metric", "the alerts metric counts the rules' own alerts: it can only "
                                                      "be a checkpoint criterion")
        self._latency_thresholds_reachable()
        self._relative_spreads_reachable()
        self._min_requests_reachable()
        interval = self.telemetry.scrape_interval
        timed = [(f"phases.{i}.duration", p.duration) for i, p in enumerate(self.phases)]
        timed += [(f"checkpoints.{name}.at", c.at) for name, c in self.checkpoints.items()]
        timed += [("final_gate.at", self.final_gate.at)]
        for where, seconds in timed:
            if not _on_grid(seconds, interval):
                raise LocatedError(where, f"{format_value(seconds, Kind.DURATION)} is not a whole number of scrape "
                                          f"intervals ({format_value(interval, Kind.DURATION)}): a decision can only "
                                          f"be taken at a scrape")
        self._windows_fit()
        sustained = [(f"rules.{name}", rule.sustain) for name, rule in self.rules.items()]
        sustained += [(f"slo.objectives.{name}", o.sustain) for name, o in self.slo.objectives.items()]
        for where, sustain in sustained:
            if sustain and not _on_grid(sustain, interval):
                acts = math.ceil(sustain / interval - 1e-9) * interval
                raise LocatedError(f"{where}.sustain", f"sustain {format_value(sustain, Kind.DURATION)} is not a "
                                   f"whole number of scrape intervals ({format_value(interval, Kind.DURATION)}): a breach "
                                   f"is judged at scrapes, so it would act as {format_value(acts, Kind.DURATION)}")
        for where, measure in self.measures():
            for what, seconds in (("window", measure.window.seconds), ("peak", measure.peak or 0.0),
                                  ("batch", measure.batch or 0.0)):
                if seconds and not _on_grid(seconds, interval):
                    raise LocatedError(f"{where}.{what}", f"{what} {format_value(seconds, Kind.DURATION)} is not a whole number "
                                     f"of scrape intervals ({format_value(interval, Kind.DURATION)})")
        return self

    def _actions_move_the_canary(self) -> None:
        """Refuse a rollback that does not lower the canary below every phase, or an advance that does not raise it
        above every phase: at a phase of that weight the action would change nothing, and the canary would stay
        exposed (or never be promoted) while the log reports a rollback (an advance). 0% and 100% are the ends:
        a rollback to 0% (an advance to 100%) is kept at a phase already there."""
        weights = [phase.weight for phase in self.phases]
        lowest, highest = min(weights), max(weights)
        rollback, advance = self.actions.rollback, self.actions.advance
        shown = functools.partial(format_value, kind=Kind.RATIO)
        if rollback > lowest + 1e-12:
            raise LocatedError("actions.rollback", f"a rollback to {shown(rollback)} would raise the canary's share "
                               f"above the phase at {shown(lowest)}: a rollback moves the canary below every phase "
                               "weight (usually to 0%)")
        if rollback > 0 and rollback >= lowest - 1e-12:
            raise LocatedError("actions.rollback", f"a rollback to {shown(rollback)} is the weight of the phase at "
                               f"{shown(lowest)}: there it would change nothing and leave the canary serving "
                               "its share; a rollback moves the canary below every phase weight (usually to 0%)")
        if advance < highest - 1e-12:
            raise LocatedError("actions.advance", f"an advance to {shown(advance)} would lower the canary's share "
                               f"below the phase at {shown(highest)}: an advance moves the canary above every phase "
                               "weight (usually to 100%)")
        if advance < 1.0 and advance <= highest + 1e-12:
            raise LocatedError("actions.advance", f"an advance to {shown(advance)} is the weight of the phase at "
                               f"{shown(highest)}: there it would change nothing and the canary would never be "
                               "promoted; an advance moves the canary above every phase weight (usually to 100%)")

    def _windows_fit(self) -> None:
        """Refuse windows that can never be judged: a rule that cannot fire before the ramp ends,
        a checkpoint criterion whose window (and the one before it, for a trend) starts before the ramp."""
        end = self.duration
        gate = self.final_gate   # a final gate whose every outcome is terminal ends the ramp at its time
        decided_by = gate.at if "continue" not in (gate.on_pass, gate.on_fail, gate.on_inconclusive) else end
        for name, objective in self.slo.objectives.items():
            span = (objective.window.seconds if objective.window.kind is WindowKind.ROLLING else 0.0) + objective.sustain
            if span > end + 1e-9:
                raise LocatedError(f"slo.objectives.{name}.sustain" if objective.sustain else
                                   f"slo.objectives.{name}.window",
                                   f"window and sustain ({format_value(span, Kind.DURATION)}) are longer than the ramp "
                                   f"({format_value(end, Kind.DURATION)}): no ramp could ever breach this objective")
        for where, measure in self.measures():
            if measure.batch is not None:
                checkpoint_at = self.final_gate.at if where.startswith("final_gate.") else \
                    self.checkpoints[where.split(".")[1]].at if where.startswith("checkpoints.") else end
                if measure.batch > checkpoint_at + 1e-9:
                    raise LocatedError(f"{where}.batch", f"batch {format_value(measure.batch, Kind.DURATION)} is longer "
                                       f"than the {'ramp' if where.startswith('rules.') else 'time to the checkpoint'} "
                                       f"({format_value(checkpoint_at, Kind.DURATION)}): no batch would end in time, "
                                       f"and the test would never reject")
            rolling = measure.window.kind is WindowKind.ROLLING
            window = measure.window.seconds if rolling else 0.0
            sustain = getattr(measure, "sustain", 0.0)
            needed = window * (2 if measure.trend else 1) + sustain
            if where.startswith("rules.") and needed > decided_by + 1e-9:
                parts = ([f"window {format_value(window, Kind.DURATION)}" + (" (twice, for a trend)" if measure.trend
                                                                             else "")] if rolling else [])
                parts += [f"sustain {format_value(sustain, Kind.DURATION)}"] if sustain else []
                ramp = (f"the ramp ({format_value(end, Kind.DURATION)})" if decided_by >= end - 1e-9 else
                        f"the ramp up to its final gate ({format_value(decided_by, Kind.DURATION)})")
                raise LocatedError(f"{where}.{'window' if rolling else 'sustain'}",
                                   f"{' plus '.join(parts)} is longer than {ramp}: it could never fire")
            checkpoint = self.final_gate if where.startswith("final_gate.") else \
                self.checkpoints[where.split(".")[1]] if where.startswith("checkpoints.") else None
            if not rolling:
                if checkpoint is not None:
                    self._unrolled_window_fits(where, measure, checkpoint)
                continue
            needed = window * (2 if measure.trend else 1)
            if checkpoint is not None and not measure.reads_latest and needed > checkpoint.at + 1e-9:
                raise LocatedError(f"{where}.window", f"window {format_value(window, Kind.DURATION)}"
                                   + (" (twice, for a trend)" if measure.trend else "")
                                   + f" starts before the ramp when judged at "
                                     f"{format_value(checkpoint.at, Kind.DURATION)}: it would always be inconclusive")

    def _unrolled_window_fits(self, where: str, measure: "Measure", checkpoint: "Checkpoint") -> None:
        """Refuse a criterion over a since-checkpoint or cumulative window that is inconclusive at every ramp: a
        trend whose window before would start before the ramp (at the first checkpoint, or over a cumulative
        window), or a peak longer than the window."""
        ordered = [c for _, c in self.ordered_checkpoints()]
        index = next(i for i, c in enumerate(ordered) if c is checkpoint)
        start = ordered[index - 1].at if measure.window.kind is WindowKind.SINCE_CHECKPOINT and index > 0 else 0.0
        length = checkpoint.at - start
        at = format_value(checkpoint.at, Kind.DURATION)
        kind = measure.window.kind.value.replace("_", "-")
        if measure.trend and length > start + 1e-9:
            raise LocatedError(f"{where}.window", f"a trend compares its {kind} window "
                               f"({format_value(length, Kind.DURATION)} at {at}) with the one as long before it, "
                               "which would start before the ramp: it would always be inconclusive (a rolling "
                               "window, or a later checkpoint, fits)")
        if measure.peak is not None and measure.peak > length + 1e-9:
            raise LocatedError(f"{where}.peak", f"peak {format_value(measure.peak, Kind.DURATION)} is longer than the "
                               f"{kind} window ({format_value(length, Kind.DURATION)} at {at}): it would always be "
                               "inconclusive")

    @property
    def duration(self) -> float:
        """Total length of the phases, in seconds."""
        return sum(p.duration for p in self.phases)

    @property
    def n_scrapes(self) -> int:
        """The scrapes of the ramp: one at its start, then one every scrape interval to its end."""
        return int(round(self.duration / self.telemetry.scrape_interval)) + 1

    @property
    def layout(self) -> Layout:
        return self.telemetry.layout

    @property
    def imported_gate(self) -> Optional[str]:
        """Which imported gate's section (``argo``, ``flagger``, ``kayenta``) decides this plan's ramp, if any: its
        rules, checkpoints and final gate are then placeholders the controller's semantics replace."""
        return next((kind for kind in IMPORTED_GATES if getattr(self, kind) is not None), None)

    def ordered_checkpoints(self) -> list[tuple[str, Checkpoint]]:
        """Checkpoints in time order, the final gate last (named ``final_gate``)."""
        ordered = sorted(self.checkpoints.items(), key=lambda item: item[1].at)
        return [*ordered, ("final_gate", self.final_gate)]

    def _latency_thresholds_reachable(self) -> None:
        """Refuse a latency condition the histogram cannot reach: ``histogram_quantile`` is never above the
        largest finite bucket bound, so ``p99 > 10s`` with buckets up to 5s would never be breached; nor is a
        difference beyond it either way (``> -10s`` would be breached at every conclusive scrape), as a rate's
        difference threshold is refused when read (:meth:`MetricDefinition.read_threshold`)."""
        top = max(b for b in self.telemetry.latency_buckets if math.isfinite(b))
        for where, measure in self.measures():
            if measure.metric is Metric.LATENCY:
                problem = None
                if measure.contrast == "difference" and abs(measure.threshold) > top:
                    shown = format_value(measure.threshold, measure.kind)
                    problem = measure.metric_definition.difference_out_of_range(shown, (0.0, top))
                problem = problem or measure.condition_problem((0.0, top))
                if problem:
                    raise LocatedError(f"{where}.threshold", f"{problem}: histogram_quantile never exceeds the "
                                                             f"largest finite bucket ({format_value(top, Kind.DURATION)})")

    def _relative_spreads_reachable(self) -> None:
        """Refuse a relative segment spread no value can reach: (max − min) over the segments' mean rate is at most
        the number of segments (one segment has every error), so ``> 300%`` over three segments never fires."""
        segments = float(len(self.telemetry.segments))
        for where, measure in self.measures():
            if measure.metric is Metric.SEGMENT_SPREAD and measure.definition == "relative":
                problem = measure.condition_problem((0.0, segments))
                if problem:
                    raise LocatedError(f"{where}.threshold", f"{problem} (with {len(self.telemetry.segments)} "
                                                             "segments, the relative spread's largest value)")

    def _min_requests_reachable(self) -> None:
        """Refuse a ``min_requests`` no window could hold (at :data:`~rampsim.units.MAX_RATE` requests per
        second): the comparison would stay inconclusive and its rule off."""
        for where, measure in self.measures():
            if measure.min_requests is None:
                continue
            rolling = measure.window.kind is WindowKind.ROLLING
            seconds = measure.window.seconds if rolling else self.duration
            if measure.min_requests > MAX_RATE * seconds:
                span = f"a {format_value(seconds, Kind.DURATION)} window" if rolling else "the whole ramp"
                raise LocatedError(f"{where}.min_requests",
                                   f"{measure.min_requests:,} requests are more than {span} can hold at "
                                   f"{MAX_RATE:,.0f} requests/s: the comparison would never have enough requests "
                                   "(it would be off)")

    def measures(self) -> list[tuple[str, Measure]]:
        """Every measure in the plan with its dotted path."""
        found: list[tuple[str, Measure]] = [(f"rules.{n}", r) for n, r in self.rules.items()]
        for name, checkpoint in self.ordered_checkpoints():
            prefix = "final_gate" if name == "final_gate" else f"checkpoints.{name}"
            found += [(f"{prefix}.criteria.{c}", m) for c, m in checkpoint.criteria.items()]
        found += [(f"slo.objectives.{n}", o) for n, o in self.slo.objectives.items()]
        return found

    def weight_at(self, seconds: float) -> float:
        """The scheduled canary weight at ``seconds`` after the start (before any decision)."""
        return float(self.weights_at(np.array([seconds]))[0])

    def weights_at(self, seconds: np.ndarray) -> np.ndarray:
        """:meth:`weight_at` for an array of instants: the phase whose end comes after each (the last one after
        the ramp)."""
        ends = np.cumsum([phase.duration for phase in self.phases])
        index = np.minimum(np.searchsorted(ends, seconds, side="right"), len(self.phases) - 1)
        return np.array([phase.weight for phase in self.phases])[index]
