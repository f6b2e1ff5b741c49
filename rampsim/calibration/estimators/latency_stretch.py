"""Latency from classic-histogram buckets (:func:`fit_latency`): each tick's log-stretch relative to a
typical tick read off its histogram (:func:`_log_stretch`), its latent process fitted as counts' are (on the log
scale), and the P99 of a typical tick (:func:`_typical_p99`).

Intervals (95%, two-sided):

==========================  ==================================================================
parameter                   interval
==========================  ==================================================================
typical P99                 the band pooled again around the ends of the mean log-stretch's
                            block jackknife interval (histogram_quantile's linear interpolation
                            in a wide bucket makes P99 a curved function of the mean: on the log
                            scale alone 88% coverage under strong wander), the rest of the
                            jackknife on log P99 added in quadrature
==========================  ==================================================================
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Optional, Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats  # type: ignore[import-untyped]

from rampsim.calibration.estimators.intervals import (
    MAX_BLOCKS, MIN_BLOCKS, Estimate, _block_ids, _jackknife, _replicates,
)
from rampsim.calibration.estimators.latent import LatentFit, _fit, _log_prepared
from rampsim.calibration.estimators.shared import ABSENT
from rampsim.engine.metrics import histogram_quantile
from rampsim.telemetry import DEFAULT_LATENCY_BUCKETS

MIN_HISTOGRAM_COUNT = 10  # a tick with fewer observations has no usable log-stretch


@dataclass(frozen=True)
class LatencyFit:
    """Latency: the latent fit of the per-tick log-stretch, the typical P99 and the log-stretch itself.

    ``log_stretch`` is ``(ticks, columns)``: each tick's log multiplier of latency
    relative to a typical tick (``NaN`` where missing).
    """

    latent: LatentFit
    p99: Estimate
    log_stretch: np.ndarray = field(compare=False, repr=False)


_STRETCH_GRID = np.linspace(-5.0, 5.0, 1001)


@dataclass(frozen=True)
class _Response:
    """How a tick's statistic ``sum_b w_b F(le_b)`` responds to a stretch ``exp(s)`` of a pooled distribution."""

    value: np.ndarray     # R(s) on _STRETCH_GRID, decreasing
    slope: np.ndarray     # dR/ds
    variance: np.ndarray  # variance of one observation's contribution


def _trapezoid_weights(u: np.ndarray) -> np.ndarray:
    if len(u) == 1:
        return np.ones(1)
    w = np.zeros(len(u))
    d = np.diff(u)
    w[:-1] += d / 2
    w[1:] += d / 2
    return w


def _response(pooled: np.ndarray, u: np.ndarray, w: np.ndarray) -> Optional[_Response]:
    """The response table of a pooled cumulative histogram, its CDF interpolated between bounds.

    The pooled CDF is interpolated linearly on the probit scale against log latency
    (exact for a log-normal) and extrapolated linearly beyond the outer bounds.
    """
    total = pooled[-1]
    below = pooled[:-1]
    keep = (below > 0) & (total - below > 0)
    if keep.sum() < 2:
        return None
    zk, uk = stats.norm.ppf(below[keep] / total), u[keep]
    overall = (zk[-1] - zk[0]) / (uk[-1] - uk[0])
    if not overall > 0:
        return None
    left = (zk[1] - zk[0]) / (uk[1] - uk[0])
    right = (zk[-1] - zk[-2]) / (uk[-1] - uk[-2])
    left, right = (left if left > 0 else overall), (right if right > 0 else overall)
    x = u[None, :] - _STRETCH_GRID[:, None]
    probit = np.where(x < uk[0], zk[0] + left * (x - uk[0]),
                      np.where(x > uk[-1], zk[-1] + right * (x - uk[-1]), np.interp(x, uk, zk)))
    cdf = stats.norm.cdf(probit)
    value = cdf @ w
    mass = np.diff(np.concatenate([np.zeros((len(cdf), 1)), cdf, np.ones((len(cdf), 1))], axis=1), axis=1)
    weight = np.concatenate([np.cumsum(w[::-1])[::-1], [0.0]])
    variance = np.maximum(mass @ weight ** 2 - (mass @ weight) ** 2, 0.0)
    return _Response(value, np.gradient(value, _STRETCH_GRID), variance)


def _invert(stat: np.ndarray, counts: np.ndarray, response: Optional[_Response]) -> tuple[np.ndarray, np.ndarray]:
    """Log-stretch per tick and its delta-method sampling variance (``NaN`` outside the informative range)."""
    if response is None:
        return np.full(len(stat), np.nan), np.full(len(stat), np.nan)
    r = response.value
    s = np.interp(stat, r[::-1], _STRETCH_GRID[::-1])
    slope = np.interp(s, _STRETCH_GRID, response.slope)
    margin = 1e-6 * (r.max() - r.min())
    inside = np.isfinite(stat) & (stat > r.min() + margin) & (stat < r.max() - margin) & (np.abs(slope) > 1e-9)
    with np.errstate(invalid="ignore", divide="ignore"):
        variance = np.interp(s, _STRETCH_GRID, response.variance) / (counts * slope ** 2)
    return np.where(inside, s, np.nan), np.where(inside, variance, np.nan)


def _log_stretch(cumulative: np.ndarray, u: np.ndarray, w: np.ndarray,
                 interior: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """One histogram column ``(T, B)``: each tick's log-stretch relative to a typical tick, and its variance.

    The statistic ``sum_b w_b F_t(le_b)`` (trapezoid weights in log latency: the
    mean log latency up to a constant) is inverted through its response to a
    stretch of the pooled distribution. Two passes: the first pools every tick, the
    second only the ticks near the median stretch (the typical tick), so that the
    reference is not widened by the stretches themselves. With ``interior`` the
    statistic leaves out the outermost bounds the pooled histogram informs (``0 < F < 1``),
    where the distribution's density is extrapolated from one side only.
    """
    c = np.maximum.accumulate(cumulative, axis=1)
    counts = c[:, -1]
    ok = np.all(np.isfinite(c), axis=1) & (counts >= MIN_HISTOGRAM_COUNT)
    safe = np.where(ok, counts, 1.0)
    if interior:
        pooled = np.where(ok[:, None], c, 0.0).sum(axis=0)
        informative = np.flatnonzero((pooled[:-1] > 0) & (pooled[-1] - pooled[:-1] > 0))
        if len(informative) >= 4:
            w = w.copy()
            w[informative[[0, -1]]] = 0.0
    stat = np.where(ok, (np.where(ok[:, None], c[:, :-1], 0.0) / safe[:, None]) @ w, np.nan)
    s, v = _invert(stat, safe, _response(np.where(ok[:, None], c, 0.0).sum(axis=0), u, w))
    if not np.isfinite(s).any():
        return s, v
    centre = float(np.nanmedian(s))
    delta = max(float(np.nanquantile(np.abs(s - centre), 0.2)), 2 * math.sqrt(float(np.nanmedian(v))))
    band = np.isfinite(s) & (np.abs(s - centre) <= delta)
    return _invert(stat, safe, _response(np.where(band[:, None], c, 0.0).sum(axis=0), u, w))


def _typical_p99(cells: np.ndarray, stretch: np.ndarray, noise: np.ndarray, ok: np.ndarray,
                 bounds: np.ndarray, blocks: int, absent: str = ABSENT) -> Estimate:
    """P99 that ``histogram_quantile`` reads on a histogram at the mean log-stretch (bursts excluded).

    Each segment's histograms ``cells[:, s]`` (``(T, S, B)``: a tick's segments each have their own
    jitter) whose own log-stretch lies within a band around that segment's mean (the tenth of them
    nearest to it, or two sampling standard deviations) are pooled, each segment weighted by the
    inverse of the share of its histograms kept, so the pool keeps the segments' traffic shares,
    and read with :func:`~rampsim.engine.metrics.histogram_quantile`. (Pooling whole ticks would
    mix their segments' stretches, whose spread lifts the pooled tail.)

    The interval has two parts. Where the mean log-stretch lies is uncertain (block jackknife
    over ticks); the band is pooled again around the ends of that interval, so a reading that is
    a curved function of the mean (linear interpolation inside a wide bucket: a wandering
    service's P99 read high on average) keeps its coverage. What the jackknife on log P99 finds
    beyond that (the tail's own sampling noise) widens each side in quadrature. ``absent`` says why there is no
    tick to read when there is none.
    """
    ok = ok[:, None] & np.isfinite(stretch) & np.isfinite(noise) & np.all(np.isfinite(cells), axis=2)
    ticks: np.ndarray = np.asarray(ok.any(axis=1))
    k = min(blocks, int(ticks.sum()) // 50)
    if k < MIN_BLOCKS:
        observed = np.isfinite(cells).all(axis=2).any(axis=1).sum()
        note = absent if not observed else (
            f"too few ticks with a readable histogram: {int(ticks.sum()):,} of {observed:,} (outside bursts, at "
            f"least {MIN_HISTOGRAM_COUNT:g} observations in a segment), at least {MIN_BLOCKS * 50} needed")
        return Estimate(math.nan, 0.0, math.inf, "default", True, note)
    n_segments = stretch.shape[1]
    block = np.broadcast_to(_block_ids(ticks, k)[:, None], stretch.shape)
    cell_block = (block * n_segments + np.arange(n_segments))[ok]

    def per_segment(weights: Optional[np.ndarray] = None) -> np.ndarray:
        """Full then leave-one-block-out sums per segment, ``(k + 1, S)``."""
        return _replicates(np.bincount(cell_block, weights, minlength=k * n_segments).reshape(k, n_segments))

    available = per_segment()
    with np.errstate(invalid="ignore", divide="ignore"):
        centres = per_segment(stretch[ok]) / available
        delta = np.array([max(float(np.quantile(np.abs(stretch[ok[:, s], s] - centres[0, s]), 0.1)),
                              2 * math.sqrt(float(np.median(noise[ok[:, s], s])))) if ok[:, s].any() else 0.0
                          for s in range(n_segments)])
    flat_cells = np.where(ok[..., None], cells, 0.0).reshape(-1, cells.shape[2])

    def pooled_p99(around: np.ndarray, counted: np.ndarray) -> np.ndarray:
        """P99 of the histograms within each segment's band around ``around`` ``(R, S)``, counting the ticks
        ``counted`` ``(R, T, 1)``; ``available`` ``(R, S)`` histograms of each segment are to be represented."""
        with np.errstate(invalid="ignore"):
            band = ok[None] & counted & (np.abs(stretch[None] - around[:, None, :]) <= delta)
        kept = band.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            weight = np.where(kept > 0, available[:len(around)] / np.maximum(kept, 1), 0.0)
        pooled = (band * weight[:, None, :]).reshape(len(around), -1) @ flat_cells
        return histogram_quantile(0.99, [float(b) for b in bounds], pooled)

    leave_out = np.ones((k + 1, len(stretch), 1), bool)
    leave_out[1:] = (block[None, :, :1] != np.arange(k)[:, None, None])
    p99 = pooled_p99(centres, leave_out)
    if not np.isfinite(p99[0]) or p99[0] <= 0:
        return Estimate(float(p99[0]), 0.0, math.inf, "default", True, "no P99 readable")
    low, high = _jackknife(math.log(p99[0]), np.log(np.maximum(p99[1:], 1e-300)))
    whole = np.ones((1, len(stretch), 1), bool)
    shift = np.array([_jackknife(0.0, centres[1:, s])[1] for s in range(n_segments)])   # each mean's half-width
    ends = pooled_p99(centres[:1] + np.array([[-1.0], [1.0]]) * np.nan_to_num(shift)[None, :], whole)
    if not (np.all(np.isfinite(ends)) and np.all(ends > 0) and math.isfinite(low)):
        return Estimate(float(p99[0]), math.exp(low), math.exp(high), "block jackknife on log P99, t")
    centre, (down, up) = math.log(p99[0]), np.log(ends)
    mapped = (up - down) / 2                                                    # the mean's part of the half-width
    rest = math.sqrt(max((high - low) ** 2 / 4 - mapped ** 2, 0.0))            # what the jackknife finds beyond it
    return Estimate(float(p99[0]), math.exp(centre - math.hypot(max(centre - down, 0.0), rest)),
                    math.exp(centre + math.hypot(max(up - centre, 0.0), rest)),
                    "P99 pooled around the ends of the mean log-stretch's jackknife interval, the rest of the "
                    "jackknife on log P99 in quadrature, t")


def _stretch_columns(buckets: ArrayLike, bounds: np.ndarray,
                     interior: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log-stretch and variance ``(T, S)`` of cumulative buckets ``(T, B)`` or ``(T, S, B)``, and the buckets
    ``(T, S, B)`` (``interior``: see :func:`_log_stretch`)."""
    cumulative = np.asarray(buckets, dtype=float)
    if cumulative.ndim == 2:
        cumulative = cumulative[:, None, :]
    if cumulative.shape[-1] != len(bounds):
        raise ValueError(f"{cumulative.shape[-1]} buckets for {len(bounds)} bounds")
    if not (math.isinf(bounds[-1]) and np.all(bounds[:-1] > 0) and np.all(np.diff(bounds) > 0) and len(bounds) >= 3):
        raise ValueError("bounds must be positive, increasing, at least two finite ones and end with +Inf")
    u = np.log(bounds[:-1])
    w = _trapezoid_weights(u)
    columns = [_log_stretch(cumulative[:, j, :], u, w, interior) for j in range(cumulative.shape[1])]
    stretch = np.stack([c[0] for c in columns], axis=1)
    noise = np.stack([c[1] for c in columns], axis=1)
    return stretch, noise, cumulative


def _unreadable(cells: np.ndarray) -> str:
    """Why no tick's log-stretch can be read off cumulative buckets ``(T, S, B)``; ``""`` when no scrape holds them."""
    present = np.isfinite(cells).all(axis=2)
    if not present.any():
        return ""
    if not np.max(np.where(present, cells[:, :, -1], 0.0)) >= MIN_HISTOGRAM_COUNT:
        return (f"too few requests a tick to read the latency: no tick holds {MIN_HISTOGRAM_COUNT:g} observations in "
                "a segment")
    pooled = np.where(present[:, :, None], np.maximum.accumulate(np.nan_to_num(cells), axis=2), 0.0).sum(axis=(0, 1))
    if np.count_nonzero(np.diff(pooled)) <= 1:
        return "the histogram cannot show the latency move: every observation falls between the same two bucket bounds"
    return "no tick's latency could be read against the others'"


def fit_latency(buckets: ArrayLike, bounds: Sequence[float] = DEFAULT_LATENCY_BUCKETS, dt: float = 15.0, *,
                other: Optional[ArrayLike] = None, max_blocks: int = MAX_BLOCKS, absent: str = "") -> LatencyFit:
    """The latency multiplier from classic-histogram bucket increments per tick, cumulative by ``le``.

    ``buckets`` is ``(T, B)`` or ``(T, S, B)`` (one histogram per segment; segments
    share the persistent process, each has its own jitter). Each tick's log-stretch
    relative to a typical tick is read off its histogram (:func:`_log_stretch`);
    the persistent process, jitter and bursts are fitted to it on the log scale
    with the same code as counts (``Var(log G) = trigamma(1 / jitter^2)``). ``p99`` is
    what ``histogram_quantile(0.99, ...)`` reads at a typical tick. ``other`` is a
    second arm's buckets on the same ticks, for the ``common`` shares. ``absent`` says why the history holds no
    histogram, if it knows (default: no scrape holds the series).
    """
    le = np.asarray(bounds, dtype=float)
    stretch, noise, cells = _stretch_columns(buckets, le)
    if not absent and not np.isfinite(stretch).any():
        absent = _unreadable(cells)
    absent = absent or ABSENT
    prepared = _log_prepared(stretch, noise)
    second = _log_prepared(*_stretch_columns(other, le)[:2]) if other is not None else None
    fit, _, det = _fit(prepared, dt, second, max_blocks, absent)
    # How far a stretch moves the statistic rests on the density at the bounds, interpolated between them; at the
    # outermost informed bounds it is extrapolated. The scales the fit reads are widened to hold what the
    # interior bounds alone read (the two agree where the interpolation holds, as for a log-normal).
    interior = _fit(_log_prepared(*_stretch_columns(buckets, le, interior=True)[:2]), dt, None, max_blocks)[0]
    fit = replace(fit, sd=_widened(fit.sd, interior.sd), jitter=_widened(fit.jitter, interior.jitter),
                  bursts=replace(fit.bursts, multiplier=_widened(fit.bursts.multiplier, interior.bursts.multiplier),
                                 spread=_widened(fit.bursts.spread, interior.bursts.spread)))
    p99 = _typical_p99(cells, stretch, noise, ~det.mask, le,
                       fit.blocks if fit.blocks >= MIN_BLOCKS else 20, absent)
    return LatencyFit(fit, p99, stretch)


def _widened(estimate: Estimate, alternative: Estimate) -> Estimate:
    """``estimate`` with its interval widened to hold ``alternative``'s (the same quantity read from the interior
    histogram bounds alone); unchanged when either is a fallback or they agree."""
    if estimate.fallback or alternative.fallback:
        return estimate
    low, high = min(estimate.low, alternative.low), max(estimate.high, alternative.high)
    if (low, high) == (estimate.low, estimate.high):
        return estimate
    return replace(estimate, low=low, high=high,
                   method=f"{estimate.method}, widened to the interior histogram bounds' reading")
