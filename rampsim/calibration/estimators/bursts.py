"""Bursts of one latent process: each detected burst measured against the ticks around it
(:func:`_measure_bursts`), and the burst parameters fitted from them (:func:`_burst_fit`).

Intervals (95%, two-sided):

==========================  ==================================================================
parameter                   interval
==========================  ==================================================================
burst per_day               exact Poisson (Garwood) on the number of detected bursts
burst duration              exponential mean: 2*sum/chi2(2n) (exact for exponential durations)
burst multiplier (median)   t interval on the mean log multiplier (n-1 df)
burst spread                Bonett's interval (chi-square below 5 bursts) on the variance of
                            log multipliers, less the mean measurement variance of one
burst common                Clopper-Pearson on the share of bursts coincident in both arms
==========================  ==================================================================
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import stats  # type: ignore[import-untyped]

from rampsim.calibration.estimators.detection import DETECTION_WINDOW, _Detection, _reference, _rolling_mean
from rampsim.calibration.estimators.intervals import (
    LEVEL, Estimate, _clopper_pearson, _fallback, _garwood, _t, _variance_interval,
)
from rampsim.calibration.estimators.shared import ABSENT, DAY


@dataclass(frozen=True)
class BurstFit:
    """Bursts of a latent process, as detected: runs of ticks far above the persistent level.

    ``threshold`` is the smallest multiplier a burst covering a whole typical tick
    needs to be detected: bursts below it are missed, so ``per_day`` and ``multiplier``
    describe the bursts above it. ``count`` bursts were detected.
    """

    per_day: Estimate
    duration: Estimate
    multiplier: Estimate
    spread: Estimate
    common: Estimate
    count: int
    threshold: float


@dataclass(frozen=True)
class _Measures:
    """Per detected burst: log multiplier, its measurement variance, duration (seconds)."""

    log_multiplier: np.ndarray
    variance: np.ndarray
    duration: np.ndarray


def _measure_bursts(e: np.ndarray, noise: np.ndarray, det: _Detection, dt: float, sd2: float, phi: float,
                    jitter_log_var: float, window: int = DETECTION_WINDOW) -> _Measures:
    """Each burst against the mean of the unmasked ticks within ``window`` either side of it.

    The log multiplier is the mean log excess of the burst's full ticks (above half
    its median excess, as are both their neighbours: edge ticks may be partial);
    the duration is the summed excess of the
    widened run on the ratio scale over the interior's, times ``dt``. The measurement
    variance of the log multiplier combines the persistent process's drift between
    the interior and the reference ticks (from the fitted AR(1)) with the jitter and
    sampling variance of both.
    """
    n = len(e)
    valid = np.isfinite(e) & np.isfinite(noise)
    use = valid & ~det.mask
    level = _rolling_mean(e, use, window)
    kappa = float(np.mean(np.exp(e - level)[use])) if use.any() else 1.0
    out_log, out_var, out_duration = [], [], []
    for a, b in zip(det.starts, det.stops):
        reference = _reference(n, a, b, use, window)
        run = np.arange(a, b)[valid[a:b]]
        if len(reference) == 0 or len(run) == 0:
            continue
        base = float(e[reference].mean())
        # Full ticks: above half the run's median excess, and so are both neighbours (an edge tick,
        # possibly partial, has a weaker neighbour outside; so have ticks around a dip between two
        # merged bursts).
        strong = np.zeros(b - a + 2, bool)
        strong[1:-1] = valid[a:b] & (e[a:b] - base >= 0.5 * float(np.median(e[run] - base)))
        inner = np.arange(a, b)[strong[1:-1] & strong[:-2] & strong[2:]]
        widened = np.arange(max(a - 1, 0), min(b + 1, n))
        widened = widened[valid[widened]]
        peak = np.exp(e[inner] - base).mean() if len(inner) else np.exp(e[run] - base).max()
        ratio = float(peak) / kappa
        excess = float((np.exp(e[widened] - base) / kappa - 1.0).sum())
        out_duration.append(dt * excess / (ratio - 1.0) if ratio > 1.0 else math.nan)
        if len(inner) == 0:   # every tick may be partial: no multiplier measured
            out_log.append(math.nan)
            out_var.append(math.nan)
            continue
        out_log.append(float(e[inner].mean()) - base)
        ticks = np.concatenate([inner, reference])
        weights = np.concatenate([np.full(len(inner), 1.0 / len(inner)),
                                  np.full(len(reference), -1.0 / len(reference))])
        drift = max(sd2, 0.0) * float(weights @ (phi ** np.abs(ticks[:, None] - ticks[None, :])) @ weights)
        out_var.append(max(drift, 0.0) + (jitter_log_var + float(noise[inner].mean())) / len(inner)
                       + (jitter_log_var + float(noise[reference].mean())) / len(reference))
    return _Measures(np.array(out_log), np.array(out_var), np.array(out_duration))


def _coincident(det: _Detection, other: _Detection) -> int:
    """Bursts of ``det`` overlapping (within a tick) a burst of ``other``."""
    if len(det.starts) == 0 or len(other.starts) == 0:
        return 0
    j = np.searchsorted(other.stops, det.starts - 1, side="right")
    inside = j < len(other.starts)
    return int((inside & (other.starts[np.minimum(j, len(other.starts) - 1)] < det.stops + 1)).sum())


def _observed_ticks(valid: np.ndarray, bridge: int = DETECTION_WINDOW) -> int:
    """Ticks in which a burst could start and be seen: the valid ones, and the missing ones in gaps of at most
    ``bridge`` ticks between two valid ones (a burst there still shows on the valid ticks around it; a long
    outage hides its bursts, so it does not count)."""
    index = np.flatnonzero(valid)
    if len(index) == 0:
        return 0
    gaps = np.diff(index) - 1
    return len(index) + int(gaps[gaps <= bridge].sum())


def _burst_fallback(note: str, threshold: float) -> BurstFit:
    return BurstFit(_fallback("burst_per_day", note), _fallback("burst_duration", note),
                    _fallback("burst_multiplier", note, 1.0), _fallback("burst_spread", note),
                    _fallback("burst_common", note, 0.0, 1.0), 0, threshold)


def _burst_fit(measures: _Measures, det: _Detection, valid: np.ndarray, dt: float, coincident: Optional[int],
               unusable: str = "") -> BurstFit:
    """Burst parameters from the detected bursts (interval methods in the module docstring); every one the stated
    default, with the note ``unusable``, when the history cannot tell bursts from its persistent variation."""
    count = len(det.starts)
    n_valid = int(valid.sum())
    threshold = math.exp(det.k * math.sqrt(det.level_var + det.typical_noise)) if math.isfinite(det.k) else math.inf
    if n_valid < 10 or unusable:
        note = unusable or ("history too short to look for bursts" if n_valid else ABSENT)
        return _burst_fallback(note, threshold)
    if count and not np.isfinite(measures.log_multiplier).any():   # a rate without a size would invent bursts
        return _burst_fallback(f"{count} burst(s) detected, none covering the three ticks a multiplier needs: "
                               "their size cannot be measured", threshold)
    days = _observed_ticks(valid) * dt / DAY
    low, high = _garwood(count)
    per_day = Estimate(count / days, low / days, high / days, "exact Poisson (Garwood) on detected bursts",
                       note="" if count else "no burst detected")
    none = "no burst detected" if count == 0 else "no burst could be measured"
    d = measures.duration[np.isfinite(measures.duration)]
    if len(d):
        d = np.maximum(d, 1e-3 * dt)
        a = 1 - LEVEL
        total = 2 * float(d.sum())
        duration = Estimate(float(d.mean()), total / float(stats.chi2.ppf(1 - a / 2, 2 * len(d))),
                            total / float(stats.chi2.ppf(a / 2, 2 * len(d))), "exponential mean, chi-square")
    else:
        duration = _fallback("burst_duration", none)
    measured = np.isfinite(measures.log_multiplier)
    log_m, variance = measures.log_multiplier[measured], measures.variance[measured]
    n = len(log_m)
    if n == 0:
        note = none if count == 0 else "no burst covered three ticks (needed to measure a multiplier)"
        multiplier, spread = _fallback("burst_multiplier", note, 1.0), _fallback("burst_spread", note)
    elif n == 1:
        multiplier = Estimate(math.exp(float(log_m[0])), 1.0, math.inf, "one burst: no interval",
                              note="one burst measured")
        spread = _fallback("burst_spread", "one burst measured: no spread")
    else:
        mean, s2 = float(log_m.mean()), float(log_m.var(ddof=1))
        half = _t(n) * math.sqrt(s2 / n)
        multiplier = Estimate(math.exp(mean), math.exp(mean - half), math.exp(mean + half),
                              "t on the mean log multiplier")
        noise = float(variance.mean())
        lo_var, hi_var, method = _variance_interval(log_m)
        spread = Estimate(math.sqrt(max(s2 - noise, 0.0)), math.sqrt(max(lo_var - noise, 0.0)),
                          math.sqrt(max(hi_var - noise, 0.0)), f"{method} on the log multipliers' variance less noise")
    if coincident is None:
        common = _fallback("burst_common", "needs a second arm's series (calibrate --second-arm)", 0.0, 1.0)
    elif count == 0:
        common = _fallback("burst_common", "no burst detected", 0.0, 1.0)
    else:
        common = Estimate(coincident / count, *_clopper_pearson(coincident, count),
                          "Clopper-Pearson on bursts coincident in both arms")
    return BurstFit(per_day, duration, multiplier, spread, common, count, threshold)
