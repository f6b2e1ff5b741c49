"""The engine protocol: what the simulator and the production gate talk to.

Any object with an ``observe(telemetry, tick)`` method is an engine, so a team can
plug its own production gate into the simulator. The telemetry passed in holds
every scrape up to and including ``tick`` (later rows may be unfilled, and rows
already observed must not change); the engine returns the events that scrape causes. An engine must be pure: the same telemetry
in the same order gives the same events.
"""
from __future__ import annotations

from typing import Callable, Protocol, Sequence, runtime_checkable

from rampsim.engine.events import Event
from rampsim.plan.schema import Plan
from rampsim.telemetry import Telemetry

__all__ = ["Engine", "EngineFactory"]


@runtime_checkable
class Engine(Protocol):
    """Judges a ramp scrape by scrape."""

    def observe(self, telemetry: Telemetry, tick: int) -> Sequence[Event]:
        """Events caused by scrape ``tick`` (``telemetry.time[tick]`` seconds after the start)."""
        ...


EngineFactory = Callable[[Plan], Engine]
"""Makes a fresh engine for one run of a plan (the simulator calls it once per replicate)."""
