"""The persistent process and the jitter of one latent process by the method of moments: one
implementation for both scales (:func:`_core`), on the series with its bursts masked.

Moments are lag products summed per jackknife block (:func:`_lag_sums`). Blocks are chosen at least four times
the longest lag used (four pilot correlation times), and a leave-out drops every lag pair that touches its block.
With several segments the jitter is their spread within a tick, free of the persistent fit.

Intervals (95%, two-sided):

==========================  ==================================================================
parameter                   interval
==========================  ==================================================================
sd, jitter                  block jackknife on sd**2 and on the jitter's variance term (on their
                            logs once the linear interval excludes 0), then mapped (square
                            root; inverse trigamma on the log scale)
correlation_time            block jackknife on correlation_time^(-1/2), whose spread hardly
                            depends on it (the standard error of its log grows as
                            sqrt(correlation_time): on the log scale a low estimate got too
                            narrow an interval, 93% coverage); a stated default when no
                            persistent variation is detected. Near nominal with histories of
                            100+ correlation times; about 0.92 with 50, 0.87 with 25
==========================  ==================================================================
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy import optimize, special  # type: ignore[import-untyped]

from rampsim.calibration.estimators.intervals import (
    MIN_BLOCKS, Estimate, _block_edges, _block_sum, _fallback, _jackknife, _positive_jackknife, _replicates,
)
from rampsim.calibration.estimators.shared import MIN_TICKS, Scale

BLOCK_LAGS = 4            # a jackknife block spans at least this many times the longest lag fitted
LAG_SPAN = 4.0           # lags fitted: up to this many (pilot) correlation times


def _lag_sums(x: np.ndarray, y: np.ndarray, edges: np.ndarray, lags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Replicates of ``sum x_t y_{t+h}`` and of the number of pairs with both present, ``(K + 1, lags)``.

    Row 0 sums every pair; row ``1 + b`` leaves out every pair with either tick in
    block ``b`` (ticks ``edges[b]:edges[b + 1]``; a pair straddling two blocks leaves
    with either), so that a leave-out holds no trace of its block. Block sums come
    from cumulative sums: one pass over the ticks per lag.
    """
    n = len(x)
    vx, vy = np.isfinite(x), np.isfinite(y)
    x0, y0 = np.where(vx, x, 0.0), np.where(vy, y, 0.0)
    k = len(edges) - 1
    starts, stops = edges[:-1], edges[1:]
    products, counts = np.zeros((k + 1, len(lags))), np.zeros((k + 1, len(lags)))
    cumulative = np.zeros(n + 1)
    for j, lag in enumerate(lags):
        h = abs(int(lag))
        m = n - h
        first, second = (x0, y0) if lag >= 0 else (y0, x0)
        valid_pair = (vx[:m] & vy[h:]) if lag >= 0 else (vy[:m] & vx[h:])
        # pairs (t, t + h) by the block of t, by the block of t + h, and with both in one block
        lo = np.minimum(np.maximum(np.stack([starts, starts - h, starts]), 0), m)
        hi = np.minimum(np.maximum(np.stack([stops, stops - h, stops - h]), lo), m)
        for out, weights in ((products, first[:m] * second[h:]), (counts, valid_pair.astype(float))):
            np.cumsum(weights, out=cumulative[1:m + 1])
            sums = cumulative[hi] - cumulative[lo]
            out[0, j] = cumulative[m]
            out[1:, j] = cumulative[m] - (sums[0] + sums[1] - sums[2])
    return products, counts


def _autocovariance(x: np.ndarray, max_lag: int) -> np.ndarray:
    """``mean x_t x_{t+h}`` over pairs with both present, lags ``0..max_lag`` (FFT, no blocks)."""
    valid = np.isfinite(x)
    size = 1 << int(math.ceil(math.log2(2 * len(x))))
    spectra = np.fft.rfft(np.stack([np.where(valid, x, 0.0), valid.astype(float)]), size)
    sums = np.fft.irfft(spectra * spectra.conj(), size)[:, :max_lag + 1]
    return sums[0] / np.maximum(np.round(sums[1]), 1)


def _phi_grid(dt: float, n: int) -> np.ndarray:
    """AR(1) coefficients for correlation times from dt/3 to ten histories, log-spaced."""
    return np.exp(-dt / np.geomspace(dt / 3, 10 * n * dt, 800))


def _project(g: np.ndarray, basis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least squares ``g ~ amplitude * basis[i]`` over candidate shapes ``i``: best amplitude and ``i`` per row."""
    g = np.nan_to_num(g)
    numerator = g @ basis.T
    denominator = (basis ** 2).sum(axis=1)
    best = np.argmax(numerator ** 2 / denominator, axis=1)
    return numerator[np.arange(len(g)), best] / denominator[best], best


def _mean_variance(amp: np.ndarray, phi: np.ndarray, n: int, scale: Scale) -> np.ndarray:
    """Variance of the mean of ``n`` ticks of the fitted persistent process (the centring bias of covariances)."""
    longest = float(np.max(np.where(amp > 0, phi, 0.0)))
    reach = n if longest <= 0 else int(math.log(1e-12) / math.log(min(longest, 1 - 1e-12)))
    h = np.arange(1, max(2, min(n, reach)))
    terms = np.maximum(amp, 0.0)[:, None] * phi[:, None] ** h[None, :]
    lag0 = np.maximum(amp, 0.0)
    if scale == "ratio":
        terms, lag0 = np.expm1(terms), np.expm1(lag0)
    return (lag0 + 2 * (terms * (1 - h / n)[None, :]).sum(axis=1)) / n


def _to_log_cov(c: np.ndarray, scale: Scale) -> np.ndarray:
    """Covariances of ``M`` (ratio scale) to covariances of ``log M``: ``log(1 + c)``."""
    if scale == "log":
        return c
    return np.log1p(np.maximum(c, -0.999))


@dataclass(frozen=True)
class _Core:
    """Replicates (full data first, then leave-one-block-out) of the persistent and jitter fit."""

    sd2: np.ndarray      # variance of x
    phi: np.ndarray      # lag-1 autocorrelation of x
    jitter: np.ndarray   # ratio scale: jitter**2; log scale: variance of log G
    edges: np.ndarray    # jackknife blocks: block b is ticks edges[b]:edges[b + 1]
    k: int
    lags: np.ndarray
    mean: np.ndarray     # column means removed


def _core(values: np.ndarray, noise: np.ndarray, dt: float, scale: Scale, max_blocks: int) -> Optional[_Core]:
    """Method of moments on the masked series ``values`` ``(T, S)`` (columns share ``x``, not ``G``).

    For lags ``h >= 1`` the covariance of the column mean is ``exp(sd^2 phi^h) - 1``
    (ratio scale) or ``sd^2 phi^h`` (log scale), and, with several columns, so is the
    lag-0 covariance between columns. ``sd^2`` and ``phi`` are fitted by least squares
    to the log-scale covariances over lags up to four correlation times (a pilot fit
    picks the lags). Each column's variance less its mean sampling variance is
    ``(1 + jitter^2) exp(c) - 1`` (ratio) or ``c + trigamma(1 / jitter^2)`` (log), ``c`` the
    lag-0 covariance between columns when there are several (``sd^2`` otherwise).
    """
    valid = np.isfinite(values) & np.isfinite(noise)
    tick_valid = valid.any(axis=1)
    n_valid = int(tick_valid.sum())
    if n_valid < MIN_TICKS:
        return None
    v = np.where(valid, values, 0.0)
    mean = v.sum(axis=0) / np.maximum(valid.sum(axis=0), 1)
    z = np.where(valid, values - mean, np.nan)
    count = valid.sum(axis=1)
    zbar = np.where(count > 0, np.nansum(z, axis=1) / np.maximum(count, 1), np.nan)
    n, columns = z.shape
    phis = _phi_grid(dt, n)
    pilot = np.arange(1, max(5, min(200, n_valid // 20)) + 1)
    amp, best = _project(_to_log_cov(_autocovariance(zbar, len(pilot))[None, 1:], scale),
                         phis[:, None] ** pilot[None, :])
    tau = -dt / math.log(phis[best[0]])
    h_max = (int(np.clip(math.ceil(LAG_SPAN * tau / dt), 5, max(5, min(1000, n_valid // 10)))) if amp[0] > 0
             else len(pilot))
    lags = np.arange(1, h_max + 1)
    k = int(np.clip(n_valid // (BLOCK_LAGS * h_max), MIN_BLOCKS, max_blocks))
    edges = _block_edges(tick_valid, k)
    blocks = np.searchsorted(edges[1:-1], np.arange(n), side="right")
    p, c = _lag_sums(zbar, zbar, edges, lags)
    covariances = p / np.maximum(c, 1)
    fit_lags = lags
    if columns > 1:
        zs, zq = np.nansum(z, axis=1), np.nansum(z * z, axis=1)
        cross = _replicates(_block_sum(zs * zs - zq, blocks, k))
        pairs = _replicates(_block_sum((count * (count - 1)).astype(float), blocks, k))
        covariances = np.concatenate([(cross / np.maximum(pairs, 1))[:, None], covariances], axis=1)
        fit_lags = np.concatenate([[0], lags])
    basis = phis[:, None] ** fit_lags[None, :]
    amp, best = _project(_to_log_cov(covariances, scale), basis)
    # Removing the sample mean lowers every covariance by about the variance of the mean: add it back, refit.
    for _ in range(3):
        centring = _mean_variance(amp, phis[best], n_valid, scale)
        amp, best = _project(_to_log_cov(covariances + centring[:, None], scale), basis)
    squares = _replicates(_block_sum(np.where(valid, z * z, 0.0), blocks, k))
    noises = _replicates(_block_sum(np.where(valid, noise, 0.0), blocks, k))
    counts = _replicates(_block_sum(valid.astype(float), blocks, k))
    v0 = _column_mean(squares - noises, counts) + centring
    # With several columns the jitter is their spread within a tick (column variance less the
    # covariance between columns), free of the persistent fit; with one, the fit's lag-0 extrapolation.
    shared = _to_log_cov(covariances[:, 0] + centring, scale) if columns > 1 else amp
    jitter = (1 + v0) * np.exp(-shared) - 1 if scale == "ratio" else v0 - shared
    if scale == "ratio" and columns > 1:
        # E[Y_i^2] = E[M^2] (1 + jitter^2) + noise and E[Y_i Y_j] = E[M^2]: their ratio, each replicate on its own
        # ticks. The deviations above are from the whole history's means: a block left out moves the level the
        # rest wander about, and with it, tenfold, the jackknife's spread of (1 + v0) / (1 + covariance).
        # Without a tick two columns share, the deviations' formula above stands.
        level = 1 + mean   # the ratio scale's values are M - 1
        y = np.where(valid, (1 + values) / level, 0.0)
        ys = y.sum(axis=1)
        products = _replicates(_block_sum(ys * ys - (y * y).sum(axis=1), blocks, k)) / np.maximum(pairs, 1)
        raw = _replicates(_block_sum(np.where(valid, y * y - noise / level ** 2, 0.0), blocks, k))
        with np.errstate(divide="ignore", invalid="ignore"):
            jitter = np.where((pairs > 0) & (products > 0), _column_mean(raw, counts) / products - 1, jitter)
    return _Core(amp, phis[best], jitter, edges, k, lags, mean)


def _column_mean(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per replicate ``(K + 1, columns)``, the mean over columns of ``sums / counts``, a column without a valid tick
    in the replicate left out (a segment without an error all day is no column of spread 0)."""
    present = counts > 0
    return np.where(present, sums / np.maximum(counts, 1), 0.0).sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def _inverse_trigamma(y: float) -> float:
    """``k`` with ``trigamma(k) = y`` (``y > 0``)."""
    if y > 1e12:
        return 1.0 / math.sqrt(y)
    if y < 1e-12:
        return 1.0 / y
    return math.exp(optimize.brentq(lambda lk: float(special.polygamma(1, math.exp(lk))) - y, -40.0, 40.0))


def _jitter_from(term: float, scale: Scale) -> float:
    """The jitter (coefficient of variation of ``G``) from its variance term on either scale."""
    if not term > 0:
        return 0.0
    if math.isinf(term):
        return math.inf
    return math.sqrt(term) if scale == "ratio" else math.sqrt(1.0 / _inverse_trigamma(term))


def _jitter_log_var(term: float, scale: Scale) -> float:
    """The variance of ``log G`` from the jitter's variance term."""
    if not term > 0:
        return 0.0
    return float(special.polygamma(1, 1.0 / term)) if scale == "ratio" else term


def _persistent_estimates(core: _Core, dt: float, scale: Scale) -> tuple[Estimate, Estimate, Estimate, bool]:
    """``sd``, ``correlation_time`` and ``jitter`` with their jackknife intervals, and whether ``x`` was detected."""
    low, high = _positive_jackknife(core.sd2[0], core.sd2[1:])
    sd = Estimate(math.sqrt(max(core.sd2[0], 0.0)), math.sqrt(max(low, 0.0)), math.sqrt(max(high, 0.0)),
                  "block jackknife on sd^2 (log scale once positive), t")
    detected = low > 0
    if detected:
        with np.errstate(divide="ignore"):
            rate = np.sqrt(-np.log(core.phi) / dt)   # correlation_time ** -1/2: its variance hardly depends on it
        low, high = _jackknife(rate[0], rate[1:])
        tau = Estimate(1 / rate[0] ** 2, 1 / high ** 2, math.inf if low <= 0 else 1 / low ** 2,
                       "block jackknife on correlation_time^-1/2, t")
    else:
        tau = _fallback("correlation_time", "no persistent variation detected (the sd interval includes 0)")
    low, high = _positive_jackknife(core.jitter[0], core.jitter[1:])
    jitter = Estimate(_jitter_from(core.jitter[0], scale), _jitter_from(low, scale), _jitter_from(high, scale),
                      "block jackknife on the jitter's variance term (log scale once positive), t")
    return sd, tau, jitter, detected
