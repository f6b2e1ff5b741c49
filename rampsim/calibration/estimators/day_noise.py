"""The request noise day by day: what the fit report's day-to-day check and the day spread read.

Per whole day of request counts (from the history's first tick), the noise beyond
Poisson's sampling, read after a centred one-hour rolling mean (:func:`noise_statistics`):
its standard deviation as a share of the rate (from the residuals' robust scale: bursts are
not the day's level), and its lag-1 autocorrelation (:func:`day_noise`). The fit report's day-to-day check
(:mod:`rampsim.calibration.day_to_day`) compares them with the model's days.

The day spread (:mod:`rampsim.calibration.day_spread`) sets the history's days against the
fitted model's in the same terms.
"""
from __future__ import annotations

import numpy as np

from rampsim.calibration.estimators.shared import DAY

__all__ = ["noise_statistics", "rolling_window", "day_noise", "whole_days", "MIN_DAYS", "MIN_PRESENT",
           "MIN_DISPERSION", "MAX_STEP"]

HOUR = 3600.0
MIN_DAYS = 3          # whole days a day-by-day reading needs: fewer leave an F test (2 and 2 degrees of freedom)
                      # powerless
MIN_PRESENT = 0.8     # share of a day's ticks that must be present for the day to count
CLIP = 4.0            # a day's residuals beyond this many of its robust standard deviations are clipped
MIN_DISPERSION = 3.0  # below, the noise is too small beside Poisson's sampling: D / (D - 1) scales up the sampling
                      # error of both statistics, by more on quieter days (a quiet weekend read as noisier)
MAX_STEP = 600.0      # coarser ticks leave an hour's rolling mean fewer than 7 of them


def rolling_window(step: float) -> int:
    """Ticks in the centred rolling mean at ``step`` seconds: the odd number nearest an hour, at least 3."""
    return max(3, 2 * int(round(HOUR / step / 2)) + 1)


def _residuals(counts: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Counts ``(T, R)`` less their centred rolling mean: residuals (0 where missing), each tick's weight
    ``1 - 1/c`` (``c`` the ticks its window holds), the ticks present and the counts (0 where missing)."""
    valid = np.isfinite(counts)
    half = rolling_window(step) // 2
    x = np.where(valid, counts, 0.0)
    zeros = np.zeros((1, counts.shape[1]))
    cx, cc = np.concatenate([zeros, np.cumsum(x, axis=0)]), np.concatenate([zeros, np.cumsum(valid, axis=0)])
    index = np.arange(len(counts))
    lo, hi = np.clip(index - half, 0, len(counts)), np.clip(index + half + 1, 0, len(counts))
    c = cc[hi] - cc[lo]
    r = np.where(valid, counts - (cx[hi] - cx[lo]) / np.maximum(c, 1), 0.0)
    return r, np.where(valid, 1.0 - 1.0 / np.maximum(c, 1), 0.0), valid, x


def _statistics(r: np.ndarray, weight: np.ndarray, valid: np.ndarray, x: np.ndarray, lags: int) -> np.ndarray:
    squares, present = (r ** 2).sum(axis=0), valid.sum(axis=0)
    out = np.empty((r.shape[1], 1 + lags))
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:, 0] = squares / weight.sum(axis=0) / (x.sum(axis=0) / present)
        for h in range(1, lags + 1):
            pairs = (valid[:-h] & valid[h:]).sum(axis=0)
            out[:, h] = (r[:-h] * r[h:]).sum(axis=0) / pairs / (squares / present)
    return out


def noise_statistics(counts: np.ndarray, step: float, lags: int = 10) -> np.ndarray:
    """Dispersion index and autocorrelations at lags ``1..lags`` of counts ``(T,)`` or ``(T, R)``: ``(..., 1 + lags)``.

    Remove a centred rolling mean of :func:`rolling_window` ticks (about an hour;
    partial windows at the ends; missing ticks left out of it and of everything
    else), then

    * ``D = sum r_t^2 / sum (1 - 1/c_t) / mean(n)``, ``r_t`` the residual and ``c_t``
      the ticks in its window: the residual variance over the mean, corrected for
      the rolling mean's own share of each tick so that Poisson counts give 1;
    * ``acf(h) = mean(r_t r_{t+h}) / mean(r_t^2)`` over the pairs present (white
      counts give about ``-1/window``, the rolling mean's own imprint).
    """
    y = np.asarray(counts, dtype=float)
    out = _statistics(*_residuals(y[:, None] if y.ndim == 1 else y, step), lags)
    return out[0] if y.ndim == 1 else out


def day_noise(days: np.ndarray, step: float) -> np.ndarray:
    """``(days, 2)``: each day's noise beyond Poisson's, scale-free: the standard deviation of its multiplier and the
    lag-1 autocorrelation of that noise, both ``NaN`` below :data:`MIN_DISPERSION`.

    The residuals are :func:`noise_statistics`'s, after the centred rolling mean. The standard deviation is
    ``sqrt((D_r - 1) / mean)``, ``D_r`` the dispersion index of the residuals' robust scale (1.4826 times their
    median absolute value), so that a day's bursts, which are not the day's noise level, hardly move it (a few
    bursts of a few minutes are under 1% of the ticks; their clipped squares had added a level of their own to
    every day, which hid how much quieter a quiet day is). The autocorrelation is the residuals' ``acf1 * D / (D -
    1)`` with the residuals clipped at :data:`CLIP` robust standard deviations (at least Poisson's,
    ``sqrt(mean)``). ``D`` alone grows with the day's volume (``D = 1 + sd^2 mean``): a quiet weekend would read
    as a quieter service."""
    r, weight, valid, x = _residuals(days, step)
    mean = x.sum(axis=0) / np.maximum(valid.sum(axis=0), 1)
    spread = np.array([np.median(np.abs(r[valid[:, d], d])) if valid[:, d].any() else 0.0
                       for d in range(r.shape[1])]) * 1.4826
    limit = CLIP * np.maximum(spread, np.sqrt(mean))
    d, acf1 = _statistics(np.clip(r, -limit, limit), weight, valid, x, 1).T
    with np.errstate(invalid="ignore", divide="ignore"):
        robust = spread ** 2 / (weight.sum(axis=0) / np.maximum(valid.sum(axis=0), 1)) / mean
        excess = np.where(d >= MIN_DISPERSION, (robust - 1) / mean, np.nan)
        return np.stack([np.sqrt(excess), np.where(d >= MIN_DISPERSION, acf1 * d / (d - 1), np.nan)], axis=1)


def whole_days(counts: np.ndarray, step: float) -> np.ndarray:
    """``(ticks a day, days)``: whole days of ``counts`` ``(T,)`` (or of each column of ``(T, R)``) from the first
    tick, a day with too few ticks present or no request left out (a trailing part day dropped)."""
    per_day = int(round(DAY / step))
    values = np.asarray(counts, dtype=float)
    columns = values[:, None] if values.ndim == 1 else values
    n = len(columns) // per_day
    days = columns[: n * per_day].T.reshape(-1, per_day).T
    served = np.nansum(days, axis=0) > 0   # a day without a request (an outage, a stuck exporter) is missing
    return days[:, (np.isfinite(days).mean(axis=0) >= MIN_PRESENT) & served]
