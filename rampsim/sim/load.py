"""The load profile: requests per second from the whole population over the window.

Rates are integrated exactly over each interval, so a burst that covers part of a
scrape interval contributes in proportion, and the window's mean is the
configured average to floating-point precision.
"""
from __future__ import annotations

import math

import numpy as np

from rampsim.sim.config import Load

__all__ = ["LoadProfile"]

_DAY = 86400.0


class LoadProfile:
    """``Load`` settings made concrete for a window of ``duration`` seconds."""

    def __init__(self, load: Load, duration: float) -> None:
        self.load = load
        self.duration = duration
        self.base = load.average
        if load.shape == "bursts":
            # No burst before ``duration`` (the default load's first comes at 20 minutes; a plan that writes a
            # load bursting after its ramp is refused by its traffic section): the average throughout.
            burst_time = self._burst_time(np.array([duration]))[0]
            self.base = (load.average * duration - load.peak * burst_time) / (duration - burst_time)
            if self.base < 0:
                raise ValueError("bursts at the peak rate take more than the average allows: "
                                 "make them shorter or rarer")
        self.cycles = load.cycles()

    def _burst_time(self, t: np.ndarray) -> np.ndarray:
        """Seconds of burst in ``[0, t]``."""
        load = self.load
        since = np.asarray(t, dtype=float) - load.first
        index = np.floor(np.maximum(since, 0.0) / load.every)
        partial = np.clip(since - index * load.every, 0.0, load.burst)
        return np.where(since > 0, index * load.burst + partial, 0.0)

    def integral(self, t: np.ndarray) -> np.ndarray:
        """Requests from the whole population in ``[0, t]`` (expected)."""
        t = np.asarray(t, dtype=float)
        load = self.load
        if load.shape == "flat":
            return load.average * t
        if load.shape == "bursts":
            assert load.peak is not None  # Load's validator requires a peak for every shape but flat
            return self.base * t + (load.peak - self.base) * self._burst_time(t)
        wave = np.zeros_like(t)
        for cycles, amplitude, peak_at in self.cycles:
            omega = 2 * math.pi * cycles / _DAY
            phase = omega * (load.start - peak_at)
            wave += amplitude / omega * (np.sin(omega * t + phase) - math.sin(phase))
        return load.average * (t + wave)

    def mean_rates(self, edges: np.ndarray) -> np.ndarray:
        """Mean rate over each interval between consecutive ``edges`` (seconds)."""
        edges = np.asarray(edges, dtype=float)
        return np.diff(self.integral(edges)) / np.diff(edges)
