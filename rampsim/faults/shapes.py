"""Fault shapes: how strongly a fault acts at each moment, from 0 (off) to 1 (full magnitude).

``step`` is on from ``start`` for ``duration``; ``ramp`` grows linearly over
``rise`` (default: the whole duration, or to the end of the ramp) and then holds;
``flapping`` is on for ``duty`` (default half) of every ``period`` (default 2m);
``warmup`` (cold cache) starts full and fades linearly to zero over the duration.

:func:`profile` is the strength at moments (what a scrape sees); :func:`mean_profile` is
its mean over intervals (what the requests of a scrape interval or the checks of a
health-check round see): a fault that flaps faster than the scrapes, or starts or ends
between them, acts for the share of each interval it is on, never sampled at one moment.
"""
from __future__ import annotations

import numpy as np

from rampsim.faults.spec import Fault

__all__ = ["profile", "mean_profile"]


def profile(fault: Fault, times: np.ndarray, horizon: float) -> np.ndarray:
    """The fault's strength at ``times`` (seconds) for a ramp that ends at ``horizon``."""
    t = np.asarray(times, dtype=float)
    since = t - fault.start
    active = (since >= 0) & (t < fault.end)
    if fault.shape == "ramp":
        strength = np.clip(since / _rise(fault, horizon), 0.0, 1.0)
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


def _rise(fault: Fault, horizon: float) -> float:
    return fault.rise or fault.duration or max(horizon - fault.start, 1e-9)


def _cumulative(fault: Fault, t: np.ndarray, horizon: float) -> np.ndarray:
    """The integral of the strength from the fault's start to ``t`` (seconds of full strength)."""
    x = np.clip(t, fault.start, fault.end) - fault.start   # time on since the start, up to the end
    if fault.shape == "ramp":
        rise = _rise(fault, horizon)
        return np.where(x <= rise, x * x / (2 * rise), rise / 2 + (x - rise))
    if fault.shape == "flapping":
        period = fault.period_or_default
        on = (fault.duty if fault.duty is not None else 0.5) * period
        return np.floor(x / period) * on + np.minimum(np.mod(x, period), on)
    if fault.shape == "warmup":
        assert fault.duration is not None  # the only kind shaped 'warmup' (cold-cache) needs a duration
        span = fault.duration
        return np.where(x <= span, x - x * x / (2 * span), span / 2)
    return x


def mean_profile(fault: Fault, starts: np.ndarray, ends: np.ndarray, horizon: float) -> np.ndarray:
    """The fault's mean strength over each interval ``[starts, ends)`` (0 for an empty one) for a ramp that ends
    at ``horizon``."""
    lo, hi = np.asarray(starts, dtype=float), np.asarray(ends, dtype=float)
    width = hi - lo
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (_cumulative(fault, hi, horizon) - _cumulative(fault, lo, horizon)) / width
    return np.where(width > 0, np.clip(mean, 0.0, 1.0), 0.0)
