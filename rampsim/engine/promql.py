"""The PromQL that computes each plan measure, in the form exact on Prometheus 2.x or 3.x.

Each metric's definition (:meth:`~rampsim.plan.metric_definitions.MetricDefinition.promql`)
writes its query from the series names here; this module wraps peaks and trends.
``rampsim explain PLAN --promql`` prints them.

The engine's window is closed: a measure over ``[t-w, t]`` reads the samples at both ends
(an increase is the reset-corrected counter at ``t`` minus at ``t-w``). Which PromQL gives
that number depends on the Prometheus line (``line``):

* **2.x** (``line=2``, the default and what ``explain`` prints): ``increase(x[w])`` and
  ``avg_over_time(x[w])`` evaluated at a time on the scrape grid. A 2.x range ``[t-w, t]``
  holds both end samples, so ``increase`` needs no extrapolation and equals the engine's
  increase; the whole query gives the engine's number wherever the engine has one, except
  where the engine gives 0/0 a value (a trend of two windows without errors is 1, a relative
  segment spread with a zero mean is 0) and PromQL gives NaN.
  Checked against rampsim's PromQL evaluator with 2.x semantics (2.42 and 2.55) on
  simulated series (``tests/test_promql_exposition.py``).
* **3.x** (``line=3``): a 3.x range ``(t-w, t]`` leaves out the sample at ``t-w``, so
  ``increase(x[w])`` extrapolates the increase over ``(t-w+scrape, t]`` to the whole range,
  a different number (and ratios of such increases differ too: the left-out first
  increment, and a per-series extrapolation that a counter's zero point may limit). The
  exact form is ``increase(x[w] anchored)`` (3.x's extended range selectors, behind
  ``--enable-feature=promql-extended-range-selectors`` until they became stable): it anchors
  the range at the last sample at or before ``t-w`` and does not extrapolate. rampsim's
  parser (``promql-parser`` 0.12) does not read ``anchored``, so that form is not checked
  here. Functions ``anchored`` does not allow (``*_over_time``, ``deriv``) take the range
  widened by one millisecond, ``[w1ms]``, which holds the same samples on either line
  (checked with 3.x semantics), as does a peak's subquery range.

Instant selectors (a gauge's latest sample) read the same sample on both lines.
"""
from __future__ import annotations

import re

from rampsim.plan.metric_definitions import QueryParts
from rampsim.plan.schema import Measurement
from rampsim.telemetry import METRIC_NAMES
from rampsim.units import UnitError, parse_duration

__all__ = ["promql", "for_line"]

_SELECTOR = r'(?:[^()\[\]{}"]|\{(?:[^}"]|"(?:[^"\\]|\\.)*")*\})*?'   # a series selector, quoted values skipped
_ANCHORABLE = re.compile(r"(\b(?:increase|rate|delta|changes|resets)\(" + _SELECTOR + r"\[)([^\]:]+)\]")
_WIDEN = re.compile(r"(\b(?:(?:avg|min|max|sum|count|last|present)_over_time|deriv)\(" + _SELECTOR + r"\[)([^\]:]+)\]")
_SUBQUERY = re.compile(r"\[([^\]:]+):([^\]]+)\]")


def promql(measure: Measurement, window: str = "", names: dict[str, str] | None = None,
           arm_label: str = "arm", segment_label: str = "segment", interval: float = 15.0, line: int = 2) -> str:
    """The PromQL query that gives ``measure``'s value, for a range such as ``"15m"``.

    Evaluated at a time on the scrape grid, with ``window`` the measure's window
    (for ``cumulative`` and ``since_checkpoint``, the time elapsed since that start).
    The metric's definition writes the query; a ``peak`` and a ``trend`` wrap it.
    A ``peak``'s subquery steps by ``interval`` (the scrape interval); Prometheus aligns
    subquery steps to absolute time, so it is exact when the ramp starts on that grid.
    ``line`` is the Prometheus line (2 or 3) the query is exact on (see the module docstring).
    """
    names = {**METRIC_NAMES, **(names or {})}
    w = window or (str(measure.window) if measure.window.kind.value == "rolling" else "<elapsed>")
    query = measure.metric_definition.promql(measure, QueryParts(measure, w, names, arm_label, segment_label))
    if measure.peak is not None:  # sub-windows end at every scrape from start + peak to the end
        step = f"{measure.peak:g}s"
        try:
            span = f"{parse_duration(w) - measure.peak:g}s"
        except UnitError:  # "<elapsed>"
            span = f"{w} - {step}"
        query = f"max_over_time(({query.replace(f'[{w}]', f'[{step}]')})[{span}:{interval:g}s])"
    if measure.trend:
        query = f"({query}) / ({query.replace(f'[{w}]', f'[{w}] offset {w}')})"
    return for_line(query, line)


def for_line(query: str, line: int) -> str:
    """``query`` (the 2.x form :func:`promql` writes) in the form exact on Prometheus ``line`` (2 or 3).

    For 3.x: ``increase(x[w])`` becomes ``increase(x[w] anchored)``; the ranges of
    ``*_over_time`` and ``deriv`` and of a subquery are widened by one millisecond.
    """
    if line == 2:
        return query
    if line != 3:
        raise ValueError(f"Prometheus line 2 or 3, got {line!r}")
    query = _SUBQUERY.sub(lambda m: f"[{_plus_1ms(m.group(1))}:{m.group(2)}]", query)
    query = _WIDEN.sub(lambda m: f"{m.group(1)}{_plus_1ms(m.group(2))}]", query)
    return _ANCHORABLE.sub(lambda m: f"{m.group(1)}{m.group(2)}] anchored", query)


def _plus_1ms(duration: str) -> str:
    """A PromQL duration one millisecond longer (``15m`` -> ``15m1ms``; ``<elapsed>`` -> ``<elapsed>+1ms``)."""
    duration = duration.strip()
    if re.fullmatch(r"(?:\d+(?:y|w|d|h|m|s))+", duration):
        return f"{duration}1ms"
    try:
        return f"{int(round(parse_duration(duration) * 1000)) + 1}ms"
    except UnitError:
        return f"{duration}+1ms"
