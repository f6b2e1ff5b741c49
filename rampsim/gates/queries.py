"""Where an imported gate's queries are answered: an injected query source, so one engine serves every backend.

An engine evaluates its PromQL at its own measurement times. What answers depends on where it
runs: in a simulation, the simulated telemetry presented as an exporter names its series
(``rampsim.promql`` over a store built from the telemetry); in production, a Prometheus server;
in tests, a hand-built :class:`~rampsim.promql.SeriesStore`. The engine is given a
:data:`QueryProvider`: at each scrape it is called with the telemetry seen so far and returns the
:data:`QueryFunction` to ask, which must answer for any time up to that scrape's time.

A query source signals a failed query by raising a :class:`rampsim.errors.RampsimError`
(:class:`rampsim.promql.PromQLError`, :class:`rampsim.errors.DataUnavailable`): Argo makes the
measurement an Error, Flagger counts a failed check.
"""
from __future__ import annotations

from typing import Callable

from rampsim.promql import InstantResult, SeriesStore, evaluate
from rampsim.telemetry import Telemetry

__all__ = ["QueryFunction", "QueryProvider", "store_queries", "result_values"]

QueryFunction = Callable[[str, float], InstantResult]
"""``query(expr, at)``: the instant query ``expr`` evaluated at ``at`` seconds after the ramp began."""

QueryProvider = Callable[[Telemetry, int], QueryFunction]
"""``provider(telemetry, tick)``: the query function valid up to ``telemetry.time[tick]``."""


def store_queries(store: SeriesStore, semantics: int = 3) -> QueryProvider:
    """A provider answering every query from one fixed ``store`` (tests, recorded history)."""
    def query(expr: str, at: float) -> InstantResult:
        return evaluate(expr, store, at, semantics=semantics)

    def provider(telemetry: Telemetry, tick: int) -> QueryFunction:
        return query

    return provider


def result_values(result: InstantResult) -> float | list[float]:
    """The value Argo's Prometheus provider hands to the conditions (``processResponse``): a float for a scalar,
    the vector's sample values in the order returned for a vector."""
    if result.result_type == "scalar":
        assert result.scalar is not None
        return float(result.scalar)
    return [float(sample.value) for sample in result.vector]
