"""Fault effects as arrays over the grid: what every fault does to the model, combined.

Each fault's strength over time (its shape) times its magnitude lands in the
arrays of the arms and segments it targets; overlapping faults combine (added
errors and latencies add up, lost fractions and surges multiply, crashes take the
largest fraction). Both fidelities and the ground truth read these arrays, so a
fault means the same thing everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from rampsim.faults import Fault, mean_profile, profile
from rampsim.sim.clock import Grid
from rampsim.telemetry import Layout

__all__ = ["Effects", "FaultWindow"]


@dataclass(frozen=True)
class FaultWindow:
    """When a fault acts, for logs and charts."""

    fault: Fault
    start: float
    end: float


@dataclass
class Effects:
    """Per-tick ``(ticks, arms, segments)`` and per-round ``(rounds, arms)`` fault effects."""

    error_add: np.ndarray
    shift: np.ndarray
    miss_shift: np.ndarray
    tail_fraction: np.ndarray
    tail_delay: np.ndarray
    surge: np.ndarray
    cache_loss: np.ndarray          # (ticks, arms)
    leak: np.ndarray                # (rounds, arms) bytes per second per instance
    crash: np.ndarray               # (rounds, arms) fraction of the pool down
    gap: np.ndarray                 # (ticks, arms) scrape missing
    delay: np.ndarray               # (ticks, arms) staleness in ticks
    reset: np.ndarray               # (ticks, arms) counters restart at this tick
    harmful: np.ndarray             # (ticks, arms, segments) a harming fault acts here
    windows: list[FaultWindow] = field(default_factory=list)

    @classmethod
    def build(cls, faults: Sequence[Fault], layout: Layout, grid: Grid) -> "Effects":
        arms, segments = len(layout.arms), len(layout.segments)
        ticks, rounds = grid.n_ticks, grid.n_rounds
        cell = (ticks, arms, segments)
        effects = cls(
            error_add=np.zeros(cell), shift=np.zeros(cell), miss_shift=np.zeros(cell),
            tail_fraction=np.zeros(cell), tail_delay=np.zeros(cell), surge=np.ones(cell),
            cache_loss=np.zeros((ticks, arms)), leak=np.zeros((rounds, arms)), crash=np.zeros((rounds, arms)),
            gap=np.zeros((ticks, arms), bool), delay=np.zeros((ticks, arms), np.intp),
            reset=np.zeros((ticks, arms), bool), harmful=np.zeros(cell, bool),
        )
        # the interval each tick's traffic comes from (tick 0's is empty: it carries none) and each round checks
        traffic = (np.maximum(grid.times - grid.interval, 0.0), grid.times)
        checked = (np.maximum(grid.round_times - grid.check_interval, 0.0), grid.round_times)
        for fault in faults:
            effects._add(fault, layout, grid, traffic, checked)
        return effects

    def _add(self, fault: Fault, layout: Layout, grid: Grid, traffic: tuple[np.ndarray, np.ndarray],
             rounds: tuple[np.ndarray, np.ndarray]) -> None:
        """Add ``fault``'s effects: its mean strength over each tick's ``traffic`` interval and each health-check
        round's interval (:func:`~rampsim.faults.mean_profile`), its strength at the scrape times for a fault of
        the scrapes."""
        a = np.array([layout.arm(arm) for arm in fault.arms])
        s = slice(None) if fault.segment is None else layout.segment(fault.segment)
        m = fault.magnitude
        kind = fault.kind
        self.windows.append(FaultWindow(fault, fault.start, min(fault.end, grid.horizon)))
        if kind == "counter-reset":
            self.reset[max(grid.tick_of(fault.start), 1), a] = True
            return
        at_ticks = mean_profile(fault, *traffic, grid.horizon)
        strength = at_ticks[:, None, None] if fault.segment is None else at_ticks[:, None]
        if kind in ("error-rate", "slow-burn"):
            self.error_add[:, a, s] += m * strength
        elif kind == "latency":
            self.shift[:, a, s] += m * strength
        elif kind == "slow-dependency":
            self.miss_shift[:, a, s] += m * strength
        elif kind == "tail-latency":
            on = strength > 0
            self.tail_fraction[:, a, s] = 1 - (1 - self.tail_fraction[:, a, s]) * (1 - m * strength)
            self.tail_delay[:, a, s] = np.where(on, np.maximum(self.tail_delay[:, a, s], fault.delay_or_default),
                                                self.tail_delay[:, a, s])
        elif kind == "surge":
            self.surge[:, a, s] *= 1 + m * strength
        elif kind in ("cache", "cold-cache"):
            self.cache_loss[:, a] = 1 - (1 - self.cache_loss[:, a]) * (1 - m * at_ticks[:, None])
        elif kind == "memory-leak":
            assert m is not None  # Fault's validator requires a magnitude for every kind that has one
            self.leak[:, a] += m / 3600.0 * mean_profile(fault, *rounds, grid.horizon)[:, None]
        elif kind == "crash":
            self.crash[:, a] = np.maximum(self.crash[:, a], m * mean_profile(fault, *rounds, grid.horizon)[:, None])
        elif fault.spec.telemetry:  # scrape faults act at scrape times
            at_scrapes = profile(fault, grid.times, grid.horizon)[:, None] > 0
            if kind == "scrape-gap":
                self.gap[:, a] |= at_scrapes
            else:
                assert m is not None  # scrape-delay: Fault's validator requires its magnitude
                lag = int(np.ceil(m / grid.interval - 1e-9))
                self.delay[:, a] = np.where(at_scrapes, np.maximum(self.delay[:, a], lag), self.delay[:, a])
            return
        if fault.spec.harms and (m is None or m > 0):   # a fault that makes nothing worse harms no one
            active = (at_ticks > 0)[:, None, None] if fault.segment is None else (at_ticks > 0)[:, None]
            self.harmful[:, a, s] |= active
