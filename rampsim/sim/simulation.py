"""The closed loop: a simpy model of the ramp, with the engine reacting to every scrape.

Processes of one run, all on one simpy ``Environment`` (or a
``RealtimeEnvironment`` when the run is played at ``speed`` times real time):

* **meter**: at every scrape time, closes the tick that just ended (the request
  fidelity counts the requests that completed; the fluid one has drawn them);
* **scraper**: records the tick through the telemetry faults and calls
  ``engine.observe``; observers (a live dashboard) see each scrape;
* **decision applier**: every decision's weight applies from the next tick on;
* **router**: as soon as the next tick's weight is known, sends its traffic (the
  fluid fidelity draws it, the request fidelity starts one process per request);
* **fault injector**: logs each fault as it starts and ends;
* **health checkers** (request fidelity): one per instance, every check interval.

The hand-offs go through channels (simpy events), so at one instant the order is
always meter, scraper, applier, router. Played at ``speed``, the playback (the pacing
and the observers) stops at the terminal decision: the rest of the ramp is computed
without pacing and unobserved, so the run is the same as without ``speed``. Without an
engine (``engine_factory=None``) the run is open loop: the weights follow the phase
schedule, which is what a sweep evaluates many gates on. In the fluid fidelity nothing
then reacts during the run, so it takes a fast path without simpy: every tick is drawn
at once and recorded through the telemetry faults with numpy
(:meth:`~rampsim.sim.scraper.Scraper.record`), giving the same telemetry, bit for bit,
as stepping the processes above.
"""
from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass
from typing import Callable, Literal, Optional, Sequence, Union

import numpy as np
import simpy
import simpy.rt

from rampsim.errors import UsageError, whole_number
from rampsim.engine.events import Decision, Event
from rampsim.engine.engine import DecisionEngine
from rampsim.engine.protocol import Engine, EngineFactory
from rampsim.faults import Fault
from rampsim.plan.loader import as_plan
from rampsim.plan.schema import Plan
from rampsim.sim.control import Control
from rampsim.sim.fluid import FluidTraffic
from rampsim.sim.outcome import outcome
from rampsim.sim.request import RequestTraffic
from rampsim.sim.run import FaultNote, Run
from rampsim.sim.scenario import Scenario
from rampsim.sim.scraper import Scraper
from rampsim.sim.streams import Streams
from rampsim.sim.truth import ground_truth
from rampsim.sim.variability import draw_paths
from rampsim.telemetry import Telemetry

__all__ = ["simulate", "Progress", "Fidelity"]

Fidelity = Literal["fluid", "request"]


@dataclass(frozen=True)
class Progress:
    """What an observer sees after each scrape."""

    tick: int
    time: float
    horizon: float
    telemetry: Telemetry                 # rows up to ``tick`` are filled
    events: tuple[Event, ...]            # the events of this scrape
    history: tuple[Event, ...]           # every event so far
    weight: float                        # canary weight from the next tick on
    canary_learners: int
    active_faults: tuple[Fault, ...]


Observer = Callable[[Progress], None]


class _Channel:
    """Hands items from one process to another in order (a lean ``simpy.Store``)."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self._items: deque = deque()
        self._waiting: Optional[simpy.Event] = None

    def put(self, item: object) -> None:
        if self._waiting is not None:
            waiting, self._waiting = self._waiting, None
            waiting.succeed(item)
        else:
            self._items.append(item)

    def get(self) -> simpy.Event:
        event = self.env.event()
        if self._items:
            event.succeed(self._items.popleft())
        else:
            self._waiting = event
        return event


def plan_engine(plan: Plan) -> Engine:
    """A fresh engine for one simulated run of ``plan``: the reference engine, or its imported gate's
    (:func:`rampsim.sim.exposed.gate_engine`, loaded with the gates package only for such a plan)."""
    if plan.imported_gate is None:
        return DecisionEngine(plan)
    from rampsim.sim.exposed import gate_engine

    return gate_engine(plan)


def simulate(plan: Union[Plan, str, "os.PathLike[str]"], faults: Sequence[Fault] = (), seed: int = 0,
             fidelity: Fidelity = "fluid",
             engine_factory: Optional[EngineFactory] = plan_engine, *, speed: Optional[float] = None,
             observers: Sequence[Observer] = (), scenario: Optional[Scenario] = None,
             histograms: Optional[Sequence[str]] = None) -> Run:
    """Simulate ``plan`` (a Plan, or a plan file's path) with ``faults`` (added to the plan's own) and return the
    :class:`Run`.

    The engine is the plan's own (:func:`plan_engine`: the reference
    engine, or an imported Argo or Flagger gate's); ``engine_factory=None`` runs open loop.
    ``speed`` plays the run in real time accelerated by that factor up to the terminal
    decision: observers see no later scrape, and the rest of the ramp is computed at full
    speed (the run is the same as without ``speed``). A prepared ``scenario`` of the same
    plan and faults may be passed to skip building it again (sweeps do). ``histograms``
    names the arms whose latency histogram the fluid fidelity draws (all by default): a
    sweep whose gates read only the canary's skips the baseline's, whose buckets are then
    missing.
    """
    plan = as_plan("simulate: plan", plan)
    if fidelity not in ("fluid", "request"):
        raise UsageError(f"unknown fidelity {fidelity!r}: 'fluid' or 'request'")
    if not isinstance(seed, np.random.SeedSequence):
        seed = whole_number("seed", seed)
    if isinstance(faults, (str, Fault)) or not all(isinstance(f, Fault) for f in faults):
        raise UsageError("faults must be a sequence of Fault objects: read fault strings with rampsim.parse_fault")
    scenario = scenario or Scenario.build(plan, faults)
    arms = None if histograms is None else [scenario.layout.arm(arm) for arm in histograms]
    simulation = _Simulation(scenario, seed, fidelity, engine_factory, speed, observers, arms)
    if engine_factory is None and fidelity == "fluid" and speed is None and not observers:
        return simulation.run_open_loop()
    return simulation.run()


class _Playback(simpy.rt.RealtimeEnvironment):
    """Real time accelerated ``speed`` times while :attr:`paced`, then as fast as the events can be processed."""

    def __init__(self, speed: float) -> None:
        super().__init__(factor=1.0 / speed, strict=False)
        self.paced = True

    def step(self) -> None:
        if self.paced:
            super().step()
        else:
            simpy.Environment.step(self)


class _Simulation:
    def __init__(self, scenario: Scenario, seed: int, fidelity: Fidelity, engine_factory: Optional[EngineFactory],
                 speed: Optional[float], observers: Sequence[Observer],
                 histograms: Optional[Sequence[int]] = None) -> None:
        if speed is not None and speed <= 0:
            raise UsageError(f"speed must be positive, got {speed}")
        self.scenario, self.seed, self.fidelity = scenario, seed, fidelity
        self.env = _Playback(speed) if speed else simpy.Environment()
        self.streams = Streams(seed)
        self.control = Control(scenario.scheduled_weights())
        self.scraper = Scraper(scenario)
        self.engine = engine_factory(scenario.plan) if engine_factory else None
        self.observers = tuple(observers)
        self.events: list[Event] = []
        self.fault_log: list[FaultNote] = []
        self.active: list[Fault] = []
        layout = scenario.layout
        paths = draw_paths(scenario.config.variability, scenario.grid, len(layout.arms), len(layout.segments),
                           [pool.size for pool in scenario.pools], self.streams.variability)
        self.traffic: FluidTraffic | RequestTraffic
        if fidelity == "fluid":
            self.traffic = FluidTraffic(scenario, self.streams, paths, histograms)
        else:
            self.traffic = RequestTraffic(self.env, scenario, self.streams, self.control, paths)
        self.closed = _Channel(self.env)
        self.decided = _Channel(self.env)
        self.routed = _Channel(self.env)

    def run(self) -> Run:
        env, grid = self.env, self.scenario.grid
        for process in (self._meter(), self._scrape(), self._apply(), self._route()):
            env.process(process)
        for window in self.scenario.effects.windows:
            env.process(self._inject(window.fault, window.start, window.end))
        self.traffic.start()
        env.run(until=grid.horizon + grid.interval / 2)
        return self._result()

    def run_open_loop(self) -> Run:
        """The fluid open loop without simpy: the same telemetry and fault log as :meth:`run`."""
        self.traffic.route(0, self.control)
        self.scraper.record(self.traffic.counters, self.traffic.gauges)
        notes = []
        until = self.scenario.grid.horizon + self.scenario.grid.interval / 2
        for order, window in enumerate(self.scenario.effects.windows):
            fault, start = window.fault, window.start
            if start >= until:
                continue
            notes.append(((start, 0, 0.0, order), FaultNote(start, fault.describe(), "start")))
            end = start + (window.end - start)  # the time simpy reaches after two timeouts
            if fault.spec.timed and fault.duration is not None and end < until:
                notes.append(((end, 1, start, order), FaultNote(end, fault.describe(), "end")))
        self.fault_log = [note for _, note in sorted(notes, key=lambda pair: pair[0])]
        return self._result()

    # -- processes ---------------------------------------------------------------------

    def _meter(self):
        grid = self.scenario.grid
        self.traffic.route(0, self.control)
        for k in range(grid.n_ticks):
            if k:
                yield self.env.timeout(grid.interval)
            self.traffic.close(k)
            self.closed.put(k)

    def _scrape(self):
        while True:
            k = yield self.closed.get()
            telemetry = self.scraper.scrape(k, self.traffic.counters, self.traffic.gauges)
            events = list(self.engine.observe(telemetry, k)) if self.engine else []
            self.events.extend(events)
            decisions = [e for e in events if isinstance(e, Decision)]
            if self.observers:
                self._notify(k, telemetry, events, decisions)
            if isinstance(self.env, _Playback) and any(d.terminal for d in decisions):
                self.env.paced, self.observers = False, ()  # the playback ends at the terminal decision
            self.decided.put((k, decisions))

    def _apply(self):
        while True:
            k, decisions = yield self.decided.get()
            self.control.apply(k, decisions)
            self.routed.put(k)

    def _route(self):
        last = self.scenario.grid.n_ticks - 1
        while True:
            k = yield self.routed.get()
            if k < last:
                self.traffic.route(k + 1, self.control)

    def _inject(self, fault: Fault, start: float, end: float):
        yield self.env.timeout(start)
        self.active.append(fault)
        self.fault_log.append(FaultNote(self.env.now, fault.describe(), "start"))
        if not fault.spec.timed:
            self.active.remove(fault)
            return
        if fault.duration is None:  # lasts to the end of the ramp
            return
        yield self.env.timeout(end - start)
        self.active.remove(fault)
        self.fault_log.append(FaultNote(self.env.now, fault.describe(), "end"))

    # -- results -----------------------------------------------------------------------

    def _notify(self, k: int, telemetry: Telemetry, events: list[Event], decisions: list[Decision]) -> None:
        weight = self.control.weight(k + 1)
        progress = Progress(tick=k, time=float(telemetry.time[k]), horizon=self.scenario.grid.horizon,
                            telemetry=telemetry, events=tuple(events), history=tuple(self.events), weight=weight,
                            canary_learners=self.scenario.population.canary_size(weight),
                            active_faults=tuple(self.active))
        for observer in self.observers:
            observer(progress)

    def _result(self) -> Run:
        scenario = self.scenario
        canary = scenario.layout.arm("canary")
        requests = self.traffic.requests
        canary_requests = requests[:, canary].sum(axis=1)
        harmed = (requests[:, canary] * scenario.effects.harmful[:, canary]).sum(axis=1)
        truth = ground_truth(scenario)
        times = scenario.grid.times
        return Run(scenario=scenario, seed=self.seed, fidelity=self.fidelity, telemetry=self.scraper.telemetry,
                   events=self.events, weights=self.control.weights.copy(), requests=requests,
                   canary_requests=canary_requests, harmed=harmed, truth=truth,
                   outcome=outcome(self.events, truth, times, canary_requests, harmed), fault_log=self.fault_log)
