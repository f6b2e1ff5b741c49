"""The PromQL that computes each plan measure, in the form exact on Prometheus 2.x or 3.x.

Each metric's definition (:meth:`~rampsim.plan.metric_definitions.MetricDefinition.promql`)
writes its query from the series names here; this module wraps comparisons, peaks and trends.
``rampsim explain PLAN --promql`` prints them.

A comparison with the baseline is the two arms' queries contrasted, ``(canary) / on()
(baseline)`` (``-`` for a difference, ``- 1`` after a relative change), and with
``min_requests: N`` guarded by ``and on() (sum(increase(requests{arm="canary"}[w])) >= N) and
on() (... baseline ...)``: below the guard the query has no result, as the engine's value is
inconclusive. With a ``peak`` the guard stands outside the subquery, over the whole window ``[w]``
(as the engine's guard is on the window, not on each sub-window). A ratio over a zero baseline is
``+Inf`` (or ``NaN`` over 0/0) in both. A sequential test is no PromQL: its text names the
per-interval series it is computed from.

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

Lost scrapes: ``deriv``, ``avg_over_time`` and ``max_over_time`` read the samples the range
holds, as the engine's gauge windows do, and a peak's ``max_over_time`` leaves out subquery
steps without a value, as the engine leaves out inconclusive sub-windows. Over a range missing
its end sample, ``increase`` extrapolates from the samples present where the engine's window
(or sub-window) is inconclusive (checked on a real Prometheus in ``tests/test_prod_roundtrip.py``).
"""
from __future__ import annotations

import re

from rampsim.plan.metric_definitions import QueryParts, contrast_promql
from rampsim.plan.schema import Measurement
from rampsim.telemetry import METRIC_NAMES
from rampsim.units import Kind, UnitError, format_value, parse_duration

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
    parts = QueryParts(measure.measurement, w, names, arm_label, segment_label)
    if measure.test is not None:
        return for_line(_sequential_inputs(measure.measurement, parts, f"{interval:g}s"), line)
    query = _compared(measure.measurement, parts) if measure.compare is not None else \
        measure.metric_definition.promql(measure, parts)
    if measure.peak is not None:  # sub-windows end at every scrape from start + peak to the end
        step = f"{measure.peak:g}s"
        try:
            span = f"{parse_duration(w) - measure.peak:g}s"
        except UnitError:  # "<elapsed>"
            span = f"{w} - {step}"
        query = f"max_over_time(({query.replace(f'[{w}]', f'[{step}]')})[{span}:{interval:g}s])"
    if measure.trend:
        query = f"({query}) / ({query.replace(f'[{w}]', f'[{w}] offset {w}')})"
    if measure.compare is not None and measure.min_requests is not None:   # on the whole window, peak or not
        guards = " and on() ".join(f"({parts.increase('requests', arm=side.arm)} >= {measure.min_requests})"
                                   for side in measure.compared)
        query = f"({query}) and on() {guards}"
    return for_line(query, line)


def _compared(measure: Measurement, parts: QueryParts) -> str:
    """A comparison's query: its sides' queries contrasted (:func:`promql` adds the ``min_requests`` guard)."""
    how = measure.contrast
    assert how is not None  # the schema requires 'as' on a comparison that is not a sequential test
    definition, sides = measure.metric_definition, measure.compared
    return contrast_promql(how, *(definition.promql(side, QueryParts(side, parts.window, parts.names,
                                                                      parts.arm_label, parts.segment_label))
                                  for side in sides))


def _sequential_inputs(measure: Measurement, parts: QueryParts, interval: str) -> str:
    """What a sequential test reads: its per-interval series as PromQL (over one scrape interval), in words."""
    definition = measure.metric_definition
    per_interval = [QueryParts(side, interval, parts.names, parts.arm_label, parts.segment_label)
                    for side in measure.compared]
    if definition.sequential == "count":
        inputs = [q.increase(family) for q in per_interval for family in ("errors", "requests")]
    else:
        inputs = [definition.promql(q.measurement, q) for q in per_interval]
    test = definition.sequential if measure.batch is None else \
        f"batched {definition.sequential} (one ratio per {format_value(measure.batch, Kind.DURATION)})"
    return (f"# anytime-valid {test} test since the ramp began, computed by rampsim "
            f"(rampsim.judges.sequential) from these series at every scrape: {'; '.join(inputs)}")


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
