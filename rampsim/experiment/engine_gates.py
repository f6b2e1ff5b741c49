"""Gates judged by running their own engines: imported Argo and Flagger gates, which do not compile.

A rampsim plan's gate compiles into arrays (:class:`~rampsim.engine.judge.CompiledGates`); an
imported gate is a controller's state machine over PromQL answers (:mod:`rampsim.gates`), so
a sweep runs each gate's engine over each open-loop run, scrape by scrape, up to its first
terminal decision. The gates of a grid judged on one run share its exposed series and the
answers to their queries (:func:`~rampsim.sim.exposed.gate_queries`), which is most of the work.

A verdict's source is the controller (``argo`` or ``flagger``); the decision's own reason is
in a rehearsal's report.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from rampsim.engine.events import Decision
from rampsim.engine.judge import KINDS, Verdicts
from rampsim.gates.engines import engine_for
from rampsim.plan.schema import Plan
from rampsim.sim.exposed import gate_queries
from rampsim.telemetry import Telemetry

__all__ = ["EngineGates", "CONTROLLERS"]

CONTROLLERS = ("argo", "flagger")


class EngineGates:
    """Imported gates with the :class:`~rampsim.engine.judge.CompiledGates` interface (see the module docstring)."""

    def __init__(self, plans: Sequence[Plan]) -> None:
        if not plans:
            raise ValueError("no gates to judge")
        self.plans = tuple(plans)
        self.n_gates = len(plans)
        self.layout = plans[0].layout
        self.read_counters = np.arange(self.layout.n_counters)   # any series may be queried
        self.sources = CONTROLLERS

    def __len__(self) -> int:
        return self.n_gates

    def judge(self, telemetries: Sequence[Telemetry]) -> Verdicts:
        shape = (len(telemetries), self.n_gates)
        verdicts = Verdicts(np.zeros(shape, np.int8), np.full(shape, np.nan), np.full(shape, -1, np.int16),
                            self.sources)
        for r, telemetry in enumerate(telemetries):
            shared: dict = {}
            for g, plan in enumerate(self.plans):
                engine = engine_for(plan, gate_queries(plan, complete=True, shared=shared))
                for tick in range(len(telemetry)):
                    decision = next((e for e in engine.observe(telemetry, tick)
                                     if isinstance(e, Decision) and e.terminal), None)
                    if decision is not None:
                        verdicts.kind[r, g] = KINDS.index(decision.kind.value)
                        verdicts.time[r, g] = decision.time
                        controller = decision.source.split(":")[0]
                        verdicts.source[r, g] = CONTROLLERS.index(controller) if controller in CONTROLLERS else -1
                        break
        return verdicts
