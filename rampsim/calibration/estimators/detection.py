"""Burst detection in one latent process's per-tick log series: runs of ticks far above the persistent
level (:func:`_detect`), grown over their partial edges and the dips inside them (:func:`_grow`). The latent fit
masks them before fitting the persistent process and the jitter; :mod:`~rampsim.calibration.estimators.bursts`
measures them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
from scipy import stats  # type: ignore[import-untyped]

DETECTION_WINDOW = 20    # ticks either side of a tick that set its persistent level
GROWTH_SD = 2.0          # a detected burst grows over neighbours this many standard deviations above its level
FALSE_BURSTS = 0.05      # expected false detections per history (Gaussian residuals)


def _mad_var(x: np.ndarray) -> float:
    """Robust variance: (1.4826 * median absolute deviation) squared."""
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return 0.0
    return float((1.4826 * np.median(np.abs(x - np.median(x)))) ** 2)


def _rolling_mean(values: np.ndarray, use: np.ndarray, window: int, after: Optional[int] = None) -> np.ndarray:
    """Mean of ``values[use]`` from ``window`` ticks before to ``after`` (default ``window``) after, the tick excluded.

    Where no tick qualifies the level is interpolated from the nearest defined ones.
    """
    n = len(values)
    x = np.where(use, values, 0.0)
    c = use.astype(float)
    cx, cc = np.concatenate([[0.0], np.cumsum(x)]), np.concatenate([[0.0], np.cumsum(c)])
    index = np.arange(n)
    lo, hi = np.clip(index - window, 0, n), np.clip(index + (window if after is None else after) + 1, 0, n)
    total, count = cx[hi] - cx[lo] - x, cc[hi] - cc[lo] - c
    defined = count > 0
    if not defined.any():
        return np.full(n, np.nan)
    level = np.where(defined, total / np.where(defined, count, 1.0), np.nan)
    return np.interp(index, index[defined], level[defined])


def _runs(flags: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Runs ``[start, stop)`` of flagged ticks, a missing tick between two flagged ones bridging them."""
    n = len(flags)
    index = np.arange(n)
    previous = np.maximum.accumulate(np.where(valid, index, -1))
    following = np.minimum.accumulate(np.where(valid, index, n)[::-1])[::-1]
    padded = np.concatenate([flags, [False]])
    bridge = ~valid & (previous >= 0) & (following < n) & padded[previous] & padded[np.minimum(following, n)]
    on = (flags | bridge).astype(np.int8)
    change = np.diff(np.concatenate([[0], on, [0]]))
    return np.flatnonzero(change == 1), np.flatnonzero(change == -1)


@dataclass(frozen=True)
class _Detection:
    starts: np.ndarray
    stops: np.ndarray
    mask: np.ndarray       # ticks set aside from the latent fit: runs widened by a tick either side
    k: float               # threshold in standard deviations
    level_var: float       # variance of a tick about its persistent level, sampling noise excluded
    typical_noise: float


def _reference(n: int, start: int, stop: int, use: np.ndarray, window: int, side: str = "both") -> np.ndarray:
    """Unmasked ticks within ``window`` before and/or after the run ``[start, stop)``, a tick apart from it."""
    before = np.arange(max(start - 1 - window, 0), max(start - 1, 0)) if side != "after" else np.zeros(0, np.intp)
    after = np.arange(min(stop + 1, n), min(stop + 1 + window, n)) if side != "before" else np.zeros(0, np.intp)
    ticks = np.concatenate([before, after]).astype(np.intp)
    return ticks[use[ticks]]


def _grow(e: np.ndarray, sigma: np.ndarray, valid: np.ndarray, starts: np.ndarray, stops: np.ndarray,
          window: int, low: float = GROWTH_SD) -> tuple[np.ndarray, np.ndarray]:
    """Extend each run over its neighbours that stay ``low`` standard deviations above the run's outside level,
    across dips of one tick (:func:`_reach`).

    Growth (at most ``window`` ticks either side: a burst's partial edge ticks and
    dips) is against the level of the ticks around the run, not inside it. A burst
    longer than the detection window raises its own rolling level and is flagged
    only at its two edges: filling the gap between two runs that stays above the
    levels outside both (:func:`_fill_gaps`) recovers the whole burst. Runs that
    meet are merged.
    """
    n = len(e)
    flags = np.zeros(n, bool)
    for a, b in zip(starts, stops):
        flags[a:b] = True
    use = valid & ~flags
    on = flags.copy()
    for a, b in zip(starts, stops):
        reference = _reference(n, a, b, use, window)
        if len(reference) == 0:
            continue
        level = float(e[reference].mean())
        high = valid & (e - level > low * sigma)
        on[b:b + _reach(high[b:b + window])] = True
        on[a - _reach(high[max(a - window, 0):a][::-1]):a] = True
    starts, stops = _runs(on, valid)
    for _ in range(8):
        new_starts, new_stops = _fill_gaps(e, sigma, valid, starts, stops, window, low)
        if len(new_starts) == len(starts):
            break
        starts, stops = new_starts, new_stops
    return starts, stops


def _reach(high: np.ndarray) -> int:
    """How far a run grows over ``high`` (its neighbours outward): up to the last high tick before two low ones
    in a row (one low tick is a jittered dip inside the burst, not its end)."""
    low = ~high
    ends = np.flatnonzero(low[:-1] & low[1:]) if len(high) > 1 else np.flatnonzero(low)
    stop = int(ends[0]) if len(ends) else len(high)
    inside = np.flatnonzero(high[:stop])
    return int(inside[-1]) + 1 if len(inside) else 0


def _fill_gaps(e: np.ndarray, sigma: np.ndarray, valid: np.ndarray, starts: np.ndarray, stops: np.ndarray,
               window: int, low: float) -> tuple[np.ndarray, np.ndarray]:
    """Merge consecutive runs when 90% of the ticks between stay ``low`` standard deviations above the
    levels before the first run and after the second (the two edges of one long burst)."""
    if len(starts) < 2:
        return starts, stops
    n = len(e)
    flags = np.zeros(n, bool)
    for a, b in zip(starts, stops):
        flags[a:b] = True
    use = valid & ~flags
    keep = np.ones(len(starts), bool)   # keep[i]: run i starts a merged run
    for i in range(1, len(starts)):
        outside = [_reference(n, int(starts[i - 1]), int(stops[i - 1]), use, window, "before"),
                   _reference(n, int(starts[i]), int(stops[i]), use, window, "after")]
        levels = [float(e[r].mean()) for r in outside if len(r)]
        gap = np.arange(stops[i - 1], starts[i])
        gap = gap[valid[gap]]
        if levels and np.mean(e[gap] - max(levels) > low * sigma[gap]) >= 0.9:
            keep[i] = False
    merged_stops = np.append(stops[np.flatnonzero(keep)[1:] - 1], stops[-1])
    return starts[keep], merged_stops


def _level_var(resid: np.ndarray, noise: np.ndarray, use: np.ndarray) -> float:
    """Robust variance of residuals about a level, less their median sampling variance (at least 0)."""
    if not use.any():
        return 0.0
    return max(_mad_var(resid[use]) - float(np.median(noise[use])), 0.0)


def _detect(e: np.ndarray, noise: np.ndarray, window: int = DETECTION_WINDOW,
            improbable: Optional[Callable[[np.ndarray, float], np.ndarray]] = None) -> _Detection:
    """Bursts: ticks whose log value exceeds the persistent level by ``k`` standard deviations.

    The persistent level is the mean of the unflagged ticks within ``window`` either
    side, and also (for the edges of bursts longer than the window) on one side
    only; the standard deviation of a tick about each combines the robust (MAD)
    variance of unflagged residuals, less their median sampling variance, with the
    tick's own sampling variance. ``k = max(3.5, z(1 - 0.05 / (3 ticks)))`` keeps
    false detections near 0.05 per history; three passes refine the flags, then
    each run grows over its neighbours 2 standard deviations above its outside
    level (:func:`_grow`). ``improbable(level, alpha)``, for counts, says which ticks
    are also improbable by the exact sampling tail (at most ``alpha``, the tail ``k``
    stands for) at ``level``, their persistent level relative to the typical (median)
    tick's: only those are flagged. A few expected counts a tick make
    the normal approximation's tail far too thin (one error where 0.01 was expected
    is 10 of its standard deviations, but happens once in a hundred ticks).
    """
    valid = np.isfinite(e) & np.isfinite(noise)
    n_valid = int(valid.sum())
    empty = np.zeros(0, np.intp)
    if n_valid < 10:
        return _Detection(empty, empty, np.zeros(len(e), bool), math.inf, 0.0, 0.0)
    k = max(3.5, float(stats.norm.isf(FALSE_BURSTS / (3 * n_valid))))   # three residuals tested per tick
    alpha, typical = float(stats.norm.sf(k)), float(np.median(e[valid]))

    def above(level: np.ndarray, sd: np.ndarray) -> np.ndarray:
        flagged = valid & (e - level > k * sd)
        if improbable is not None and flagged.any():
            flagged[flagged] = improbable(np.broadcast_to(level - typical, e.shape), alpha)[flagged]
        return flagged

    typical_noise = float(np.median(noise[valid]))
    spread = math.sqrt(max(_mad_var(e[valid]), typical_noise, 1e-12))
    flags = above(np.full(len(e), typical), np.full(len(e), spread))
    level_var = 0.0
    for _ in range(3):
        use = valid & ~flags
        level = _rolling_mean(e, use, window)
        level_var = _level_var(e - level, noise, use)
        new = above(level, np.sqrt(level_var + noise))
        # A burst longer than the window raises its own centred level: its edges stand out against
        # the level on one side only.
        for before, after in ((window, 0), (0, window)):
            level = _rolling_mean(e, use, before, after)
            new |= above(level, np.sqrt(_level_var(e - level, noise, use) + noise))
        if np.array_equal(new, flags):
            break
        flags = new
    starts, stops = _runs(flags, valid)
    starts, stops = _grow(e, np.sqrt(level_var + np.where(valid, noise, 0.0)), valid, starts, stops, window)
    edges = np.zeros(len(e) + 1, np.int64)
    np.add.at(edges, np.maximum(starts - 1, 0), 1)
    np.add.at(edges, np.minimum(stops + 1, len(e)), -1)
    return _Detection(starts, stops, np.cumsum(edges)[:-1] > 0, k, level_var, typical_noise)
