"""Fault shapes: how strongly a fault acts at each moment, from 0 (off) to 1 (full magnitude).

``step`` is on from ``start`` for ``duration``; ``ramp`` grows linearly over
``rise`` (default: the whole duration, or to the end of the ramp) and then holds;
``flapping`` is on for ``duty`` (default half) of every ``period`` (default 2m);
``warmup`` (cold cache) starts full and fades linearly to zero over the duration.
"""
from __future__ import annotations

import numpy as np

from rampsim.faults.spec import Fault

__all__ = ["profile"]


def profile(fault: Fault, times: np.ndarray, horizon: float) -> np.ndarray:
    """The fault's strength at ``times`` (seconds) for a ramp that ends at ``horizon``."""
    t = np.asarray(times, dtype=float)
    since = t - fault.start
    active = (since >= 0) & (t < fault.end)
    if fault.shape == "ramp":
        rise = fault.rise or fault.duration or max(horizon - fault.start, 1e-9)
        strength = np.clip(since / rise, 0.0, 1.0)
    elif fault.shape == "flapping":
        period = fault.period_or_default
        duty = fault.duty if fault.duty is not None else 0.5
        strength = (np.mod(since, period) < duty * period).astype(float)
    elif fault.shape == "warmup":
        assert fault.duration is not None  # the only kind shaped 'warmup' (cold-cache) needs a duration
        strength = np.clip(1.0 - since / fault.duration, 0.0, 1.0)
    else:
        strength = np.ones_like(t)
    return np.where(active, strength, 0.0)
