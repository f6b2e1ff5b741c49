"""Estimates and their intervals: :class:`Estimate`, the stated defaults a fallback carries
(:data:`DEFAULTS`), and the interval constructions the estimators share.

Intervals are 95% (:data:`LEVEL`), two-sided. A block jackknife (:func:`_jackknife`) is honest under
overdispersion and autocorrelation as long as blocks are much longer than the correlation time; the interval is
centred on the full estimate (``estimate -/+ t(K-1) * se``), over ``K`` contiguous blocks holding equal numbers
of valid ticks (:func:`_block_edges`). Exact intervals: Garwood's for a Poisson mean, Clopper-Pearson's for a
share, Bonett's (chi-square below 5 values) for a variance.

When a parameter cannot be estimated (history too short, no burst seen, no persistent variation,
no second arm) its :class:`Estimate` says ``fallback=True``, carries the stated
default of :mod:`rampsim.sim.config` as ``value`` and a note, never an invented
number.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats  # type: ignore[import-untyped]

LEVEL = 0.95
MIN_BLOCKS, MAX_BLOCKS = 5, 40

# The stated defaults, mirroring rampsim.sim.config (not imported: it would pull in simpy).
DEFAULTS: dict[str, float] = {
    "sd": 0.0, "correlation_time": 300.0, "common": 0.5, "jitter": 0.0, "day_spread": 0.0,
    "burst_per_day": 0.0, "burst_duration": 180.0, "burst_multiplier": 10.0, "burst_spread": 0.0,
    "burst_common": 0.5, "blip_per_day": 0.0, "blip_duration": 10.0, "peak_at": 16 * 3600.0,
}


@dataclass(frozen=True)
class Estimate:
    """One estimated parameter: ``value`` and a 95% interval ``[low, high]``.

    ``method`` names the interval's construction. ``fallback`` is true when the data
    could not inform the parameter: ``value`` is then the stated default and the
    interval what is known without it (often ``[0, inf]``); ``note`` says why.
    """

    value: float
    low: float
    high: float
    method: str
    fallback: bool = False
    note: str = ""

    def __post_init__(self) -> None:
        for name in ("value", "low", "high"):
            object.__setattr__(self, name, float(getattr(self, name)))

    def contains(self, x: float) -> bool:
        """Whether ``x`` lies in the interval (ends included)."""
        return bool(self.low <= x <= self.high)


def _fallback(name: str, note: str, low: float = 0.0, high: float = math.inf) -> Estimate:
    return Estimate(DEFAULTS[name], low, high, "default", fallback=True, note=note)


def _t(k: int) -> float:
    return float(stats.t.ppf(0.5 + LEVEL / 2, k - 1))


def _jackknife(full: float, leave_out: np.ndarray) -> tuple[float, float]:
    """Delete-a-block jackknife interval: the estimate -/+ t(K-1) * the jackknife standard error.

    Centred on the full-data estimate, not on the pseudo-values' mean: the
    estimators here are nearly unbiased, and the jackknife's bias correction of a
    fitted (argmax) estimator is noisier than the bias it would remove.
    """
    leave = np.asarray(leave_out, dtype=float)
    leave = leave[np.isfinite(leave)]
    k = len(leave)
    if k < 3 or not math.isfinite(full):
        return -math.inf, math.inf
    se = math.sqrt((k - 1) / k * float(((leave - leave.mean()) ** 2).sum()))
    half = _t(k) * se
    return full - half, full + half


def _positive_jackknife(full: float, leave_out: np.ndarray) -> tuple[float, float]:
    """:func:`_jackknife` of a variance: on the log scale when clearly positive, else on the linear scale.

    Variance estimates are right-skewed; once the linear interval excludes 0 (and
    every leave-out is positive) the log scale gives the better-balanced interval.
    """
    low, high = _jackknife(full, leave_out)
    leave = np.asarray(leave_out, dtype=float)
    if low > 0 and np.all(leave[np.isfinite(leave)] > 0):
        log_low, log_high = _jackknife(math.log(full), np.log(leave))
        return math.exp(log_low), math.exp(log_high)
    return low, high


def _garwood(count: float) -> tuple[float, float]:
    """Exact (Garwood) interval for a Poisson mean given ``count`` events."""
    a = 1.0 - LEVEL
    low = 0.0 if count <= 0 else float(stats.chi2.ppf(a / 2, 2 * count)) / 2
    return low, float(stats.chi2.ppf(1 - a / 2, 2 * count + 2)) / 2


def _block_edges(valid: np.ndarray, k: int) -> np.ndarray:
    """Edges of ``k`` contiguous blocks holding equal numbers of valid ticks (block ``b``:
    ``edges[b]:edges[b + 1]``)."""
    index = np.flatnonzero(valid)
    inner = index[np.linspace(0, len(index), k + 1).astype(np.intp)[1:-1]]
    return np.concatenate([[0], inner, [len(valid)]]).astype(np.intp)


def _block_ids(valid: np.ndarray, k: int) -> np.ndarray:
    """The block of each tick (see :func:`_block_edges`)."""
    return np.searchsorted(_block_edges(valid, k)[1:-1], np.arange(len(valid)), side="right")


def _replicates(per_block: np.ndarray) -> np.ndarray:
    """Full sums then leave-one-block-out sums, ``(K + 1, ...)`` from ``(K, ...)``."""
    total = per_block.sum(axis=0)
    return np.concatenate([total[None], total[None] - per_block])


def _block_sum(values: np.ndarray, blocks: np.ndarray, k: int) -> np.ndarray:
    """Per-block sums of ``values`` (``(T,)`` or ``(T, S)``), ``NaN`` counting as zero."""
    v = np.nan_to_num(np.asarray(values, dtype=float))
    if v.ndim == 1:
        return np.bincount(blocks, v, minlength=k)
    return np.stack([np.bincount(blocks, v[:, j], minlength=k) for j in range(v.shape[1])], axis=1)


def _variance_interval(y: np.ndarray) -> tuple[float, float, str]:
    """Interval for the variance of ``y``: Bonett's (2006) from 5 values on, chi-square below.

    Bonett's interval, ``exp(log(c s^2) -/+ z se)`` with ``c = n / (n - z)`` and ``se`` from
    a kurtosis estimate centred on a trimmed mean, stays close to nominal when a few
    values are outliers (two overlapping bursts measured as one), where the
    chi-square interval does not.
    """
    n, s2 = len(y), float(np.var(y, ddof=1))
    a = 1 - LEVEL
    if n < 5 or s2 <= 0:
        return ((n - 1) * s2 / float(stats.chi2.ppf(1 - a / 2, n - 1)),
                (n - 1) * s2 / float(stats.chi2.ppf(a / 2, n - 1)), "chi-square")
    z = float(stats.norm.ppf(1 - a / 2))
    centre = float(stats.trim_mean(y, 1 / (2 * math.sqrt(n - 4))))
    kurtosis = n * float(((y - centre) ** 4).sum()) / float(((y - y.mean()) ** 2).sum()) ** 2
    c = n / (n - z)
    se = c * math.sqrt(max(kurtosis - (n - 3) / n, 0.0) / (n - 1))
    return math.exp(math.log(c * s2) - z * se), math.exp(math.log(c * s2) + z * se), "Bonett"


def _clopper_pearson(x: int, n: int) -> tuple[float, float]:
    a = 1 - LEVEL
    low = 0.0 if x == 0 else float(stats.beta.ppf(a / 2, x, n - x + 1))
    high = 1.0 if x == n else float(stats.beta.ppf(1 - a / 2, x + 1, n - x))
    return low, high
