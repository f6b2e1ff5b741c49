"""The values a PromQL expression evaluates to, internally and as results.

Internally every value is evaluated at ``T`` times at once (an instant query is ``T = 1``):

* :class:`Vector`: an instant vector as rows of series, ``labels`` (one :data:`Labels` per
  row), ``values`` and ``present`` arrays of shape ``(rows, T)``. A row's labels are fixed;
  whether it has a sample at each time is its ``present`` mask. Two rows may share labels
  only if they are never present at the same time.
* :class:`Scalar`: a float per time, shape ``(T,)``.

Results mirror Prometheus's HTTP API: :class:`InstantResult` (``vector`` or ``scalar``) and
:class:`RangeResult` (``matrix``), each with ``to_api_json()`` giving the ``data`` object of
``/api/v1/query`` and ``/api/v1/query_range``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal, Mapping

import numpy as np

__all__ = ["Labels", "labels_of", "Vector", "Scalar", "Value", "Sample", "sample", "InstantResult", "Series",
           "RangeResult", "format_scalar", "format_value", "format_time", "NAME"]

Labels = tuple[tuple[str, str], ...]
"""A label set: ``(name, value)`` pairs sorted by name, empty values left out."""

NAME = "__name__"


def labels_of(mapping: Mapping[str, str]) -> Labels:
    """The :data:`Labels` of a mapping (sorted, labels with an empty value dropped, as Prometheus does)."""
    return tuple(sorted((str(k), str(v)) for k, v in mapping.items() if v != ""))


def drop_name(labels: Labels) -> Labels:
    """``labels`` without ``__name__``."""
    if labels and labels[0][0] == NAME:
        return labels[1:]
    return tuple(pair for pair in labels if pair[0] != NAME)


@dataclass
class Vector:
    """An instant vector at ``T`` times: rows of (labels, values, present)."""

    labels: list[Labels]
    values: np.ndarray   # float64, (rows, T)
    present: np.ndarray  # bool, (rows, T)

    @staticmethod
    def empty(n_times: int) -> "Vector":
        return Vector([], np.empty((0, n_times)), np.zeros((0, n_times), dtype=bool))


@dataclass
class Scalar:
    """A scalar at ``T`` times."""

    values: np.ndarray  # float64, (T,)


Value = Vector | Scalar


def format_scalar(value: float) -> str:
    """A scalar as Prometheus's API writes it (``Scalar.MarshalJSON``: Go's ``FormatFloat(v, 'f', -1, 64)``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return np.format_float_positional(value, trim="-")


def format_value(value: float) -> str:
    """A sample value of a vector or matrix as Prometheus's API writes it (``jsonutil.MarshalFloat``: Go's
    ``'f'`` format, ``'e'`` below 1e-6 and from 1e21 in magnitude, shortest digits: ``1e-07``, ``1e+22``)."""
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21) and math.isfinite(value):
        return repr(float(value))   # Python's repr is exponent form there too, two exponent digits at least
    return format_scalar(value)


def format_time(ms: int) -> float | int:
    """A timestamp in milliseconds as the API's seconds (whole seconds as an integer)."""
    return ms // 1000 if ms % 1000 == 0 else ms / 1000


@dataclass(frozen=True)
class Sample:
    """One element of an instant vector."""

    labels: Mapping[str, str]
    value: float

    def to_api_json(self, time_ms: int) -> dict[str, Any]:
        return {"metric": dict(self.labels), "value": [format_time(time_ms), format_value(self.value)]}


_new = object.__new__


def sample(labels: Mapping[str, str], value: float) -> Sample:
    """``Sample(labels, value)`` without the frozen dataclass's per-field ``__init__`` (many per query)."""
    out = _new(Sample)
    out.__dict__.update(labels=labels, value=value)
    return out


@dataclass(frozen=True)
class InstantResult:
    """The result of an instant query: a ``vector`` (list of :class:`Sample`) or a ``scalar``."""

    result_type: Literal["vector", "scalar"]
    time: float
    vector: tuple[Sample, ...] = ()
    scalar: float | None = None

    @property
    def time_ms(self) -> int:
        return int(round(self.time * 1000))

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.vector)

    def __len__(self) -> int:
        return len(self.vector)

    @staticmethod
    def make(result_type: Literal["vector", "scalar"], time: float, vector: tuple[Sample, ...] = (),
             scalar: float | None = None) -> "InstantResult":
        """The same as the constructor, without the frozen dataclass's per-field ``__init__``."""
        out = _new(InstantResult)
        out.__dict__.update(result_type=result_type, time=time, vector=vector, scalar=scalar)
        return out

    def to_api_json(self) -> dict[str, Any]:
        """``{"resultType": ..., "result": ...}`` as Prometheus's ``/api/v1/query`` returns in ``data``."""
        if self.result_type == "scalar":
            assert self.scalar is not None
            return {"resultType": "scalar", "result": [format_time(self.time_ms), format_scalar(self.scalar)]}
        return {"resultType": "vector", "result": [s.to_api_json(self.time_ms) for s in self.vector]}


@dataclass(frozen=True)
class Series:
    """One series of a range query's result: its labels and the times (seconds) and values it has."""

    labels: Mapping[str, str]
    times: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class RangeResult:
    """The result of a range query (Prometheus's ``matrix``).

    ``series`` as Prometheus returns them (one per label set, only the times where it has a
    value). ``times``, ``values`` and ``present`` give the same as arrays, one row per series,
    for callers that work on the whole grid (``values`` is NaN where ``present`` is false).
    """

    times: np.ndarray
    labels: tuple[Mapping[str, str], ...]
    values: np.ndarray
    present: np.ndarray
    series: tuple[Series, ...] = field(init=False)

    def __post_init__(self) -> None:
        series = tuple(Series(lab, self.times[mask], vals[mask])
                       for lab, vals, mask in zip(self.labels, self.values, self.present))
        object.__setattr__(self, "series", series)

    result_type: Literal["matrix"] = "matrix"

    def to_api_json(self) -> dict[str, Any]:
        """``{"resultType": "matrix", "result": ...}`` as ``/api/v1/query_range`` returns in ``data``."""
        result = []
        for s in self.series:
            points = [[format_time(int(round(t * 1000))), format_value(float(v))] for t, v in zip(s.times, s.values)]
            result.append({"metric": dict(s.labels), "values": points})
        return {"resultType": "matrix", "result": result}
