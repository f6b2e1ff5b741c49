"""The Prometheus version whose PromQL semantics an evaluation follows: 2.x or 3.x.

Choose by major line (``2``, ``3``: :attr:`Semantics.V2` is the last 2.x line, 2.55;
:attr:`Semantics.V3` the current 3.x line) or by an exact version such as ``"2.42.0"``
(what a server's ``/api/v1/status/buildinfo`` reports), which also selects the few
behaviours that changed inside a line. The differences rampsim models, each cited where
it is implemented:

* range selectors: 2.x selects samples in the closed window ``[t-w, t]``, 3.x in the
  left-open ``(t-w, t]`` (``promql/engine.go``, ``matrixIterSlice``);
* instant selectors look back ``lookback`` (default 5m) for the latest sample: 2.x
  accepts a sample at exactly ``t-lookback``, 3.x does not (``vectorSelectorSingle``);
* ``extrapolatedRate`` (``promql/functions.go``): before prometheus/prometheus#13725
  (2.48 and earlier among the vendored test files) the counter's zero point limits the
  start extrapolation *before* the start gap is compared with the extrapolation
  threshold; from then on (2.55, 3.x) the threshold is applied first;
* one-to-one matching: 3.x reports an ambiguous match even when the comparison filters
  the pair away (``VectorBinop``);
* regular expressions: in 3.x ``.`` also matches a newline;
* durations written as numbers of seconds (``rate(x[60])``, ``x offset 90``, ``[1.5]``) parse
  from 2.53 on (prometheus/prometheus#9138, "durations and number literals the same"); 2.52
  and earlier fail (``missing unit character in duration``);
* the ``anchored``/``smoothed`` range modifiers exist from 3.7 on
  (prometheus/prometheus#16457, behind ``--enable-feature=promql-extended-range-selectors``
  until they became stable); earlier versions do not parse them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Union

from rampsim.promql.errors import PromQLError

__all__ = ["Semantics", "SemanticsLike", "as_semantics"]


@dataclass(frozen=True, order=True)
class Semantics:
    """A Prometheus version, as far as PromQL's semantics go (``major``, ``minor``)."""

    major: int
    minor: int

    V2: ClassVar["Semantics"]
    V3: ClassVar["Semantics"]

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    @property
    def left_open(self) -> bool:
        """Whether range and lookback windows exclude their start (3.x)."""
        return self.major >= 3

    @property
    def regex_dotall(self) -> bool:
        """Whether ``.`` in a label regex matches a newline (3.x)."""
        return self.major >= 3

    @property
    def zero_point_before_threshold(self) -> bool:
        """``extrapolatedRate`` before prometheus/prometheus#13725 (March 2024): zero point first."""
        return (self.major, self.minor) < (2, 51)

    @property
    def number_durations(self) -> bool:
        """Whether a duration may be a number of seconds without a unit, ``[60]`` (2.53 and later,
        prometheus/prometheus#9138)."""
        return (self.major, self.minor) >= (2, 53)

    @property
    def extended_range_selectors(self) -> bool:
        """Whether the ``anchored``/``smoothed`` modifiers parse (3.7 and later)."""
        return (self.major, self.minor) >= (3, 7)

    @property
    def strict_one_to_one(self) -> bool:
        """Ambiguous one-to-one matches fail even where a comparison drops the pair (3.x)."""
        return self.major >= 3


Semantics.V2 = Semantics(2, 55)
Semantics.V3 = Semantics(3, 14)

SemanticsLike = Union[Semantics, int, str]


def as_semantics(value: SemanticsLike) -> Semantics:
    """``3``, ``"3"``, ``"3.x"``, ``"v2.42.0"``, ``"2.42"``... as a :class:`Semantics` (a bare major is its current line)."""
    if isinstance(value, Semantics):
        return value
    text = str(value).strip().lower().lstrip("v")
    m = re.fullmatch(r"(\d+)(?:\.(\d+|x))?(?:\.\d+)?(?:[-+].*)?", text)
    if m:
        major = int(m.group(1))
        minor = m.group(2)
        if major in (2, 3):
            if minor is None or minor == "x":
                return Semantics.V2 if major == 2 else Semantics.V3
            return Semantics(major, int(minor))
    raise PromQLError(f"unknown Prometheus semantics {value!r}: expected 2, 3 or a version such as 2.42.0")
