"""Scrape-grid arithmetic shared by the judges and the ground truth.

Which scrape judges each checkpoint, where each window starts, and when a breach
has lasted its sustain time, for whole arrays of scrapes.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from rampsim.engine.events import TIME_TOLERANCE
from rampsim.plan.schema import Measurement, Plan, WindowKind

__all__ = ["window_starts", "fired", "first_sustained", "checkpoint_ticks", "previous_checkpoints"]


def checkpoint_ticks(plan: Plan, time: np.ndarray) -> list[int]:
    """The scrape at which each checkpoint is judged: the first at or after its time, one per scrape."""
    ticks, previous = [], -1
    for _, checkpoint in plan.ordered_checkpoints():
        tick = max(int(np.searchsorted(time, checkpoint.at - TIME_TOLERANCE)), previous + 1)
        ticks.append(tick)
        previous = tick
    return ticks


def window_starts(measure: Measurement, ends: np.ndarray, interval: float, previous_checkpoint: np.ndarray) -> np.ndarray:
    """The first scrape of ``measure``'s window ending at each of ``ends``: the first scrape for a cumulative
    window, the previous checkpoint's for a since-checkpoint one, ``end - window / interval`` for a rolling one
    (negative when the window starts before the ramp: inconclusive)."""
    if measure.window.kind is WindowKind.CUMULATIVE:
        return np.zeros_like(ends)
    if measure.window.kind is WindowKind.SINCE_CHECKPOINT:
        return previous_checkpoint
    return ends - int(round(measure.window.seconds / interval))


def fired(breached: np.ndarray, time: np.ndarray, sustain: np.ndarray) -> np.ndarray:
    """``(gates, scrapes)``: the scrapes at which a breach first reaches its sustain time (a rule fires)."""
    ticks = np.arange(breached.shape[1])
    last_clear = np.maximum.accumulate(np.where(breached, -1, ticks), axis=1)
    run_start = np.minimum(last_clear + 1, breached.shape[1] - 1)
    held = breached & (time[None, :] - time[run_start] >= sustain[:, None] - TIME_TOLERANCE)
    return held & ~np.concatenate([np.zeros((len(held), 1), bool), held[:, :-1]], axis=1)


def first_sustained(breached: np.ndarray, time: np.ndarray, sustain: float) -> Optional[tuple[int, int]]:
    """``(start, fired)`` scrape indices of the first breach of ``breached`` to last ``sustain``, else ``None``."""
    fire = fired(breached[None, :], time, np.array([sustain]))[0]
    if not fire.any():
        return None
    tick = int(np.argmax(fire))
    clear = np.flatnonzero(~breached[:tick])
    return (int(clear[-1]) + 1 if len(clear) else 0), tick


def previous_checkpoints(n_ticks: int, checkpoint_ticks: Sequence[int]) -> np.ndarray:
    """For each scrape, the tick of the last checkpoint judged before it (0 before the first)."""
    previous = np.zeros(n_ticks, dtype=np.intp)
    for tick in checkpoint_ticks:  # a checkpoint's window counts from the next scrape
        previous[tick + 1:] = tick
    return previous
