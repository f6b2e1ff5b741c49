"""A fault: kind, target, start, duration, shape and magnitude, validated.

Faults come from a scenario's ``faults:`` list (each item a mapping of these
fields, or a string in the command-line syntax of :mod:`rampsim.faults.syntax`)
or from ``--fault`` arguments. Quantities carry units and are stored in base
units: seconds, fractions, bytes per hour.
"""
from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from rampsim.faults.catalogue import ARMS, SHARED, FaultKind, kind_named
from rampsim.units import Duration, Kind, PositiveDuration, UnitError, format_value, parse

__all__ = ["Fault"]


class Fault(BaseModel):
    """One fault (see the module docstring). ``duration`` ``None`` lasts to the end of the ramp."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    target: Optional[str] = None
    magnitude: Optional[float] = Field(None, validate_default=True)
    start: Duration = 0.0
    duration: Optional[PositiveDuration] = None
    shape: Optional[str] = None
    period: Optional[PositiveDuration] = None
    duty: Optional[float] = None
    rise: Optional[PositiveDuration] = None
    delay: Optional[PositiveDuration] = None

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        return kind_named(value).name

    @field_validator("target")
    @classmethod
    def _target(cls, value: Optional[str], info: ValidationInfo) -> Optional[str]:
        if value is None:
            return None
        spec = _spec(info)
        arm, _, segment = value.strip().partition("/")
        if arm not in (*ARMS, SHARED):
            raise ValueError(f"unknown target {value!r}: expected canary, baseline or shared, "
                             "optionally with a segment as in canary/B")
        if spec is not None and spec.shared_only and arm != SHARED:
            raise ValueError(f"{spec.name} affects both arms: its target is 'shared'")
        if segment and spec is not None and not spec.segment_target:
            raise ValueError(f"{spec.name} acts on whole instances and cannot target one segment ({value!r})")
        if _ and not segment:
            raise ValueError(f"target {value!r} names no segment after '/'")
        return f"{arm}/{segment}" if segment else arm

    @field_validator("magnitude", mode="before")
    @classmethod
    def _magnitude(cls, value: Any, info: ValidationInfo) -> Optional[float]:
        spec = _spec(info)
        if spec is None:  # the kind's own error says what is wrong
            return None
        if spec.magnitude is None:
            if value is not None:
                raise ValueError(f"{spec.name} takes no magnitude, got {value!r}")
            return None
        if value is None:
            raise ValueError(f"{spec.name} needs a magnitude: {spec.magnitude_help}")
        if spec.magnitude is Kind.DURATION and isinstance(value, str) and value.strip().startswith("+"):
            value = value.strip()[1:]
        try:
            number = parse(value, spec.magnitude)
        except UnitError as exc:
            raise ValueError(f"{exc} ({spec.name}: {spec.magnitude_help})") from None
        if not spec.low <= number <= spec.high or (spec.low == 0 and number == 0):
            raise ValueError(f"{value!r} is out of range for {spec.name}: {spec.magnitude_help}")
        return number

    @field_validator("duty", mode="before")
    @classmethod
    def _duty(cls, value: Any) -> Optional[float]:
        if value is None:
            return None
        try:
            duty = parse(value, Kind.RATIO)
        except UnitError as exc:
            raise ValueError(str(exc)) from None
        if not 0 < duty < 1:
            raise ValueError(f"duty is the fraction of each period the fault is on, between 0% and 100%, got {value!r}")
        return duty

    @model_validator(mode="after")
    def _fits_kind(self) -> "Fault":
        spec = self.spec
        if self.target is None:
            if spec.default_target is None:
                raise ValueError(f"{spec.name} needs a target: canary, baseline or shared")
            object.__setattr__(self, "target", spec.default_target)
        if not spec.timed and (self.duration is not None or self.shape is not None):
            raise ValueError(f"{spec.name} happens once at 'start': it takes no duration or shape")
        if spec.needs_duration and self.duration is None:
            raise ValueError(f"{spec.name} needs a duration (the time it takes to recover)")
        if self.shape is None:
            object.__setattr__(self, "shape", spec.default_shape if spec.timed else None)
        elif self.shape not in spec.shapes:
            raise ValueError(f"{spec.name} cannot have shape {self.shape!r}"
                             + (f"; shapes: {', '.join(spec.shapes)}" if len(spec.shapes) > 1 else
                                f" (its shape is always {spec.default_shape!r})"))
        if self.shape != "flapping" and (self.period is not None or self.duty is not None):
            raise ValueError("'period' and 'duty' apply to shape 'flapping'")
        if self.shape != "ramp" and self.rise is not None:
            raise ValueError("'rise' applies to shape 'ramp'")
        for option in ("delay",):
            if getattr(self, option) is not None and option not in spec.options:
                raise ValueError(f"{spec.name} takes no {option!r}")
        return self

    @property
    def spec(self) -> FaultKind:
        return kind_named(self.kind)

    @property
    def arms(self) -> tuple[str, ...]:
        """The arms the fault acts on."""
        assert self.target is not None  # _fits_kind sets it (the kind's default target) or rejects the fault
        arm = self.target.partition("/")[0]
        return ARMS if arm == SHARED else (arm,)

    @property
    def segment(self) -> Optional[str]:
        """The one segment the fault acts on, or ``None`` for all."""
        assert self.target is not None  # _fits_kind sets it (the kind's default target) or rejects the fault
        return self.target.partition("/")[2] or None

    @property
    def end(self) -> float:
        return self.start + self.duration if self.duration is not None else float("inf")

    def describe(self) -> str:
        """The fault in words: ``error-rate +1.5% on canary from 1h for 30m (step)``."""
        spec = self.spec
        parts = [spec.name]
        if self.magnitude is not None:
            assert spec.magnitude is not None  # _magnitude rejects a magnitude for a kind that takes none
            sign = "+" if spec.additive and self.magnitude > 0 else ""
            parts.append(sign + format_value(self.magnitude, spec.magnitude))
        parts.append(f"on {self.target}")
        parts.append(f"at {format_value(self.start, Kind.DURATION)}" if self.start else "from the start")
        if self.duration is not None:
            parts.append(f"for {format_value(self.duration, Kind.DURATION)}")
        if self.shape and self.shape != "step":
            extra = ""
            if self.shape == "flapping":
                extra = f" every {format_value(self.period_or_default, Kind.DURATION)}"
            parts.append(f"({self.shape}{extra})")
        if self.delay is not None:
            parts.append(f"delay {format_value(self.delay, Kind.DURATION)}")
        return " ".join(parts)

    @property
    def period_or_default(self) -> float:
        return self.period if self.period is not None else 120.0

    @property
    def delay_or_default(self) -> float:
        return self.delay if self.delay is not None else 0.3


def _spec(info: ValidationInfo) -> Optional[FaultKind]:
    kind = info.data.get("kind")
    return kind_named(kind) if kind else None
