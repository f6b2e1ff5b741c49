"""The PromQL that computes each plan measure.

Each metric's definition (:meth:`~rampsim.plan.metric_definitions.MetricDefinition.promql`)
writes its query from the series names here; this module wraps peaks and trends.
Evaluated at a query time on the scrape grid with a range equal to the measure's
window, each query gives the number :mod:`rampsim.engine.metrics` computes from the
same samples. ``rampsim explain PLAN --promql`` prints them.
"""
from __future__ import annotations

from rampsim.plan.metric_definitions import QueryParts
from rampsim.plan.schema import Measurement
from rampsim.telemetry import METRIC_NAMES
from rampsim.units import UnitError, parse_duration

__all__ = ["promql"]

def promql(measure: Measurement, window: str = "", names: dict[str, str] | None = None,
           arm_label: str = "arm", segment_label: str = "segment", interval: float = 15.0) -> str:
    """The PromQL query that gives ``measure``'s value, for a range such as ``"15m"``.

    Evaluated at a time on the scrape grid, with ``window`` the measure's window
    (for ``cumulative`` and ``since_checkpoint``, the time elapsed since that start).
    The metric's definition writes the query; a ``peak`` and a ``trend`` wrap it.
    A ``peak``'s subquery steps by ``interval`` (the scrape interval); Prometheus aligns
    subquery steps to absolute time, so it is exact when the ramp starts on that grid.
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
    return query
