"""Gates judged by their controllers' semantics: imported Argo, Flagger and Kayenta gates, which do not compile.

A rampsim plan's gate compiles into arrays (:class:`~rampsim.engine.judge.CompiledGates`); an
imported gate is a controller's state machine over PromQL answers (:mod:`rampsim.gates`). A sweep
judges each gate of the grid on each open-loop run:

* an Argo gate, on the fast path (:func:`rampsim.gates.argo_batch.judge_run`): its nominal schedule is
  computed once per grid, each metric's measurements once per run and grid (gates that differ only in
  their limits share them), each query answered at all its times by one range evaluation over the run's
  exposed series (:class:`~rampsim.sim.exposed.ExposedAnswers`); the verdict is the engine's terminal
  decision, exactly (tested against it);
* a Kayenta gate, on every run of the chunk at once: each metric's query of each scope answered at all
  the times of its analyses by one range evaluation per run (gates of the grid that ask the same queries
  share the answers), then each analysis judged on the arrays ``(runs, times)`` of the runs still undecided
  by the decision core the engine uses (:class:`~rampsim.gates.kayenta_engine.StageJudge`);
* otherwise (a Flagger gate, or an Argo gate or run the fast path declines), by running the gate's
  engine over the run, scrape by scrape, up to its first terminal decision; the gates of a grid share
  the run's exposed series and the answers to their queries (:func:`~rampsim.sim.exposed.gate_queries`).

A verdict's source is the controller (``argo``, ``flagger`` or ``kayenta``) for an abort, a pause or a
rollback, none for a promotion (as the engines report it); the decision's own reason is in a rehearsal's
report.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from rampsim.engine.events import Decision
from rampsim.engine.judge import KINDS, Verdicts
from rampsim.gates.argo_batch import ArgoSchedule, judge_run, schedule_of
from rampsim.gates.applied_weight import AppliedWeight
from rampsim.gates.argo_model import ArgoGate
from rampsim.gates.engines import engine_for
from rampsim.gates.kayenta_engine import StageJudge, batch_values
from rampsim.gates.kayenta_model import KayentaGate
from rampsim.gates.kayenta_queries import ARMS
from rampsim.gates.plan_sections import Gate, gate_of
from rampsim.plan.schema import IMPORTED_GATES, Plan
from rampsim.sim.exposed import gate_answers, gate_queries
from rampsim.telemetry import Telemetry

__all__ = ["EngineGates", "CONTROLLERS"]

CONTROLLERS = IMPORTED_GATES


class EngineGates:
    """Imported gates with the :class:`~rampsim.engine.judge.CompiledGates` interface (see the module docstring).

    ``fast=False`` runs every gate's engine (the reference the fast paths are tested against)."""

    def __init__(self, plans: Sequence[Plan], fast: bool = True) -> None:
        if not plans:
            raise ValueError("no gates to judge")
        self.plans = tuple(plans)
        self.n_gates = len(plans)
        self.layout = plans[0].layout
        self.read_counters = np.arange(self.layout.n_counters)   # any series may be queried
        self.sources = CONTROLLERS
        self.fast = fast
        gates = []
        for plan in self.plans:   # validated once, here (the driver), and shipped with the grid
            gate = gate_of(plan)
            if gate is None:
                raise ValueError(f"plan {plan.name!r} carries no imported gate")
            gates.append(gate)
        self.gates: tuple[Gate, ...] = tuple(gates)
        self.schedules: tuple[Optional[ArgoSchedule], ...] = tuple(
            schedule_of(g) if fast and isinstance(g, ArgoGate) else None for g in gates)
        self.stages: tuple[Optional[StageJudge], ...] = tuple(
            StageJudge(g) if fast and isinstance(g, KayentaGate) else None for g in gates)

    def __len__(self) -> int:
        return self.n_gates

    def judge(self, telemetries: Sequence[Telemetry]) -> Verdicts:
        shape = (len(telemetries), self.n_gates)
        verdicts = Verdicts(np.zeros(shape, np.int8), np.full(shape, np.nan), np.full(shape, -1, np.int16),
                            self.sources)
        shared: list[dict] = [{} for _ in telemetries]   # per run: the exposed series and answers the gates share
        for g, stage in enumerate(self.stages):
            if stage is not None:
                kinds, times = _stage_decisions(stage, telemetries, shared)
                verdicts.kind[:, g], verdicts.time[:, g] = kinds, times
                stopped = np.isin(kinds, [KINDS.index("rollback"), KINDS.index("hold")])
                verdicts.source[:, g] = np.where(stopped, CONTROLLERS.index("kayenta"), -1)
        argo = CONTROLLERS.index("argo")
        for r, telemetry in enumerate(telemetries):
            horizon = float(telemetry.time[-1])
            for g, (plan, gate, schedule) in enumerate(zip(self.plans, self.gates, self.schedules)):
                if self.stages[g] is not None:
                    continue
                if schedule is not None:
                    answers, sequences = gate_answers(gate, telemetry, shared[r])
                    verdict = judge_run(schedule, answers, horizon, sequences)
                    if verdict is not None:
                        kind, time = verdict
                        verdicts.kind[r, g] = KINDS.index(kind)
                        verdicts.time[r, g] = time
                        verdicts.source[r, g] = argo if kind in ("rollback", "hold") else -1
                        continue
                decision, steered = _engine_decision(plan, gate, telemetry, shared[r])
                if steered is not None:
                    verdicts.steered[(r, g)] = steered
                if decision is not None:
                    verdicts.kind[r, g] = KINDS.index(decision.kind.value)
                    verdicts.time[r, g] = decision.time
                    controller = decision.source.split(":")[0]
                    verdicts.source[r, g] = CONTROLLERS.index(controller) if controller in CONTROLLERS else -1
        return verdicts


def _stage_decisions(stage: StageJudge, telemetries: Sequence[Telemetry],
                     shared: Sequence[dict]) -> tuple[np.ndarray, np.ndarray]:
    """A Kayenta gate's first terminal decision on every run: the queries answered run by run, the analyses judged
    on all the runs at once."""
    measured = stage.empty(len(telemetries))
    for r, telemetry in enumerate(telemetries):
        answers, _ = gate_answers(stage.gate, telemetry, shared[r])
        for name, grid in stage.grids.items():
            for arm in ARMS:
                expr = stage.queries[name][arm]
                if isinstance(expr, str):
                    values, failed = batch_values(answers.results(expr, grid))
                    measured.values[(name, arm)][r], measured.failed[(name, arm)][r] = values, failed
    return stage.first_decisions(measured, len(telemetries))


def _engine_decision(plan: Plan, gate: Gate, telemetry: Telemetry,
                     shared: dict) -> tuple[Optional[Decision], Optional[np.ndarray]]:
    """The first terminal decision of the gate's engine over the whole run, and the canary weight in force during
    each scrape interval up to it when the engine held the canary off the plan's phases (``None`` when it did not):
    its decisions applied as the simulator applies them (:class:`~rampsim.gates.applied_weight.AppliedWeight`)."""
    engine = engine_for(plan, gate_queries(plan, complete=True, shared=shared, gate=gate), gate)
    applied, scheduled = AppliedWeight(plan), AppliedWeight(plan)
    in_force = np.full(len(telemetry), np.nan)
    steered = False
    for tick in range(len(telemetry)):
        now = float(telemetry.time[tick])
        if tick:
            previous = float(telemetry.time[tick - 1])
            in_force[tick] = applied.at(previous)
            steered |= in_force[tick] != scheduled.at(previous)
        for event in engine.observe(telemetry, tick):
            if isinstance(event, Decision) and event.terminal:
                return event, in_force if steered else None
            if isinstance(event, Decision):
                applied.tell(now, event.weight)
    return None, in_force if steered else None
