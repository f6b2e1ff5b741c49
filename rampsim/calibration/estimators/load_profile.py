"""The load profile from requests per tick of one arm: flat, or a daily cosine that may gain the 12-, 8-
and 6-hour harmonics (:func:`fit_load`), and the clock times a plan reads (:func:`clock_time`).

Intervals (95%, two-sided):

==========================  ==================================================================
parameter                   interval
==========================  ==================================================================
load average, peak          delete-a-block jackknife over contiguous blocks, t with K-1 df
load peak_at                same, on the phase angle (unwrapped around the estimate)
flat vs diurnal             Hotelling T^2 on the cosine/sine coefficients with the jackknife
                            covariance, F(2, K-2); diurnal if p < 0.01 and the history
                            covers a day
harmonics (12 h, 8 h, 6 h)  each added in turn by the same test given those before it (p <
                            0.01); amplitude (a share of the average) and peak_at as above
==========================  ==================================================================
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Optional, Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats  # type: ignore[import-untyped]

from rampsim.calibration.estimators.intervals import Estimate, _block_ids, _fallback, _jackknife, _replicates
from rampsim.calibration.estimators.shared import DAY
from rampsim.plan.daily_shape import daily_minimum, period_name

MAX_HARMONIC = 4          # a diurnal load may gain the 12-, 8- and 6-hour harmonics
MIN_DAILY_SHARE = 0.05    # ... while its daily shape stays above this share of the average all day


def clock_time(seconds: float) -> str:
    """A time of day in seconds as the clock time a plan reads (``"16:00"``), to the nearest minute; a time past
    midnight or before it (an interval's end unwrapped) is read around the clock (``-300`` is ``"23:55"``).
    Rounding is monotone, so the ends of an interval written so still hold its value written so."""
    minutes = int(round(seconds / 60.0)) % 1440
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True)
class HarmonicFit:
    """A cycle dividing the day found in the load beyond the 24-hour one: ``cycles`` a day, its ``amplitude`` as a
    share of the average, ``peak_at`` the clock time of a maximum (seconds below ``DAY / cycles``; the interval's
    ends unwrapped), ``p_value`` the test that added it."""

    cycles: int
    amplitude: Estimate
    peak_at: Estimate
    p_value: float

    @property
    def period(self) -> str:
        """The key the plan writes it under (``"12h"``)."""
        return period_name(self.cycles)


@dataclass(frozen=True)
class LoadFit:
    """The load profile: ``flat`` or ``diurnal`` (rates in requests per second), a 24-hour cosine and ``harmonics``.

    ``peak`` and ``peak_at`` describe the 24-hour cycle (``peak_at`` a clock time of day
    in seconds; its interval ends are unwrapped: ``low`` may be negative or ``high``
    beyond a day when the interval spans midnight). ``p_value`` is the test of a daily
    cycle (``NaN`` when the history is shorter than a day: its ``flat`` is then the level
    alone, the shape not told, :attr:`told`). ``coefficients`` are
    ``(a, b1, c1, b2, c2, ...)`` of ``rate(u) = a + sum b_h cos(h wu) + c_h sin(h wu)``
    over the 24-hour cycle and each harmonic, in order.
    """

    shape: Literal["flat", "diurnal"]
    average: Estimate
    peak: Estimate
    peak_at: Estimate
    p_value: float
    dt: float
    coefficients: tuple[float, ...]
    harmonics: tuple[HarmonicFit, ...] = ()

    @property
    def told(self) -> bool:
        """Whether the history told the shape: it covers a day and its daily cycle was tested (``p_value``). A
        shorter history's ``flat`` is the level alone: the plan's shape is kept (``peak_at.note`` says why)."""
        return not math.isnan(self.p_value)

    @property
    def cycles(self) -> tuple[int, ...]:
        """Cycles a day of each fitted cosine: ``(1, 2, ...)`` for a diurnal load, ``()`` for a flat one."""
        return (1,) + tuple(h.cycles for h in self.harmonics) if self.shape == "diurnal" else ()

    def rate(self, times: ArrayLike) -> np.ndarray:
        """Mean fitted rate over each tick's interval ``(t - dt, t]``."""
        t = np.asarray(times, dtype=float)
        return _design(t, self.dt, self.cycles) @ np.asarray(self.coefficients) / self.dt

    def as_config(self) -> dict[str, Any]:
        """The ``traffic.load`` mapping (``shape``, ``average``, ``peak``, ``peak_at``, ``harmonics``)."""
        if self.shape == "flat":
            return {"shape": "flat", "average": f"{self.average.value:.6g}/s"}
        config: dict[str, Any] = {"shape": "diurnal", "average": f"{self.average.value:.6g}/s",
                                  "peak": f"{self.peak.value:.6g}/s", "peak_at": clock_time(self.peak_at.value)}
        if self.harmonics:   # a harmonic's maximum within its own period
            config["harmonics"] = {h.period: {"amplitude": f"{100 * h.amplitude.value:.4g}%",
                                              "peak_at": clock_time(h.peak_at.value % (DAY / h.cycles))}
                                   for h in self.harmonics}
        return config


def _cosine_integrals(t: np.ndarray, dt: float, cycles: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Integrals of cos(wu) and sin(wu) over ``(t - dt, t]`` (w: ``cycles`` a day)."""
    w = 2 * math.pi * cycles / DAY
    return ((np.sin(w * t) - np.sin(w * (t - dt))) / w, (np.cos(w * (t - dt)) - np.cos(w * t)) / w)


def _design(t: np.ndarray, dt: float, cycles: Sequence[int]) -> np.ndarray:
    """``(ticks, 1 + 2 len(cycles))``: each tick's integral of 1, then of the cosine and sine of each cycle."""
    columns = [np.full_like(t, dt)]
    for h in cycles:
        columns.extend(_cosine_integrals(t, dt, h))
    return np.stack(columns, axis=1)


def _clock_of(b: Any, c: Any, cycles: int) -> Any:
    """The clock time (seconds, within half a period of midnight) of a maximum of ``b cos + c sin`` at ``cycles``
    a day."""
    return np.arctan2(c, b) * DAY / (2 * math.pi * cycles)


def _phase_clock(b: np.ndarray, c: np.ndarray, cycles: int) -> tuple[float, float, float]:
    """The clock time of a maximum of ``b cos + c sin`` at ``cycles`` a day (full data first, then the jackknife
    replicates), with its interval: the angle unwrapped around the full data's, the clock within one period."""
    clock = _clock_of(b, c, cycles)
    period = DAY / cycles
    clock = clock[0] + (clock - clock[0] + period / 2) % period - period / 2   # unwrapped around the full data's
    low, high = _jackknife(clock[0], clock[1:])
    shift = math.floor(clock[0] * cycles / DAY) * DAY / cycles
    return float(clock[0] - shift), low - shift, high - shift


def _hotelling(beta: np.ndarray, k: int) -> float:
    """The p-value of a pair of coefficients being zero: ``beta`` ``(K + 1, 2)``, full data then the leave-one-block-out
    fits; Hotelling T^2 with the block-jackknife covariance, ``F(2, K - 2)``."""
    pseudo = k * beta[0] - (k - 1) * beta[1:]
    cov = np.cov(pseudo, rowvar=False) / k
    t2 = float(beta[0] @ np.linalg.solve(cov, beta[0])) if np.all(np.isfinite(cov)) and np.linalg.det(cov) > 0 else 0.0
    return float(stats.f.sf(t2 * (k - 2) / (2 * (k - 1)), 2, k - 2)) if k > 2 else 1.0


def fit_load(times: ArrayLike, requests_total: ArrayLike, dt: Optional[float] = None, *,
             blocks: Optional[int] = None) -> LoadFit:
    """The load profile from requests per tick of one arm (all segments).

    ``times`` are scrape times in seconds on a clock whose multiples of a day are
    midnights (Unix time qualifies); tick ``k`` counts the requests of
    ``(times[k] - dt, times[k]]``. The rate is fitted by least squares as
    ``a + b cos(wu) + c sin(wu)`` integrated over each tick. Criterion: ``diurnal``
    when the valid history spans at least a day and the daily cycle is significant
    (Hotelling T^2 on ``(b, c)`` with the block-jackknife covariance, ``F(2, K-2)``,
    p < 0.01); otherwise ``flat`` with the mean rate (the shape not told, :attr:`LoadFit.told`, when the
    history is shorter than a day). A diurnal load then gains the
    12-, 8- and 6-hour harmonics in turn while the next one is significant by the same
    test (given those before it), and only while the shape stays above
    :data:`MIN_DAILY_SHARE` of the average all day: a daily shape that is not a cosine.
    Intervals: block jackknife, t, over ``blocks`` contiguous blocks (default: 20, at
    least 10 ticks each). Blocks must be much longer than the correlation time of the
    rate's wander: :func:`fit_requests` passes the latent fit's blocks.
    """
    t = np.asarray(times, dtype=float)
    y = np.asarray(requests_total, dtype=float)
    valid = np.isfinite(t) & np.isfinite(y)
    if dt is None:
        dt = float(np.median(np.diff(t[np.isfinite(t)]))) if np.isfinite(t).sum() > 1 else 15.0
    n_valid = int(valid.sum())
    k = min(blocks or 20, n_valid // 10)
    if k < 3:
        missing = Estimate(math.nan, 0.0, math.inf, "default", True, "fewer than 30 valid ticks")
        return LoadFit("flat", missing, missing, _fallback("peak_at", "no load fitted", 0.0, DAY), math.nan,
                       dt, (math.nan,))
    blocks = _block_ids(valid, k)[valid]
    tv, yv = t[valid], y[valid]
    design = _design(tv, dt, range(1, MAX_HARMONIC + 1))
    width = design.shape[1]
    xtx = _replicates(np.stack([np.stack([np.bincount(blocks, design[:, i] * design[:, j], minlength=k)
                                          for j in range(width)], axis=-1) for i in range(width)], axis=1))
    xty = _replicates(np.stack([np.bincount(blocks, design[:, i] * yv, minlength=k) for i in range(width)], axis=1))
    flat = xty[:, 0] / xtx[:, 0, 0]
    span = float(tv.max() - tv.min() + dt)
    method = "block jackknife, t"
    average_flat = Estimate(float(flat[0]), *_jackknife(flat[0], flat[1:]), method)
    if span < DAY - dt - 1e-6:   # a day's scrapes from midnight to the last one before the next hold a day
        return LoadFit("flat", average_flat, average_flat,
                       _fallback("peak_at", "history shorter than a day: its daily cycle cannot be told", 0.0, DAY),
                       math.nan, dt, (float(flat[0]),))

    def solved(cycles: list[int]) -> np.ndarray:
        columns = [0] + [c for h in cycles for c in (2 * h - 1, 2 * h)]
        return np.linalg.solve(xtx[:, columns][:, :, columns], xty[:, columns][..., None])[..., 0]

    beta = solved([1])
    p_value = _hotelling(beta[:, 1:3], k)
    if p_value >= 0.01:
        return LoadFit("flat", average_flat, average_flat,
                       _fallback("peak_at", f"no significant daily cycle (p = {p_value:.3g})", 0.0, DAY),
                       p_value, dt, (float(flat[0]),))
    cycles, p_values = [1], [p_value]
    for h in range(2, MAX_HARMONIC + 1):
        trial = solved(cycles + [h])
        p = _hotelling(trial[:, -2:], k)
        b, c = trial[0, 1::2], trial[0, 2::2]
        shape = [(n, float(np.hypot(b[i], c[i]) / trial[0, 0]), float(_clock_of(b[i], c[i], n)))
                 for i, n in enumerate(cycles + [h])]
        if p >= 0.01 or daily_minimum(shape)[0] < MIN_DAILY_SHARE:
            break
        cycles, p_values, beta = cycles + [h], p_values + [p], trial
    a, amplitude = beta[:, 0], np.hypot(beta[:, 1], beta[:, 2])
    peak = a + amplitude
    clock, at_low, at_high = _phase_clock(beta[:, 1], beta[:, 2], 1)
    note = "" if peak[0] <= 2 * a[0] or len(cycles) > 1 else \
        "peak above twice the average: the config's cosine cannot express it"
    harmonics = []
    for i, h in enumerate(cycles[1:], start=1):
        share = np.hypot(beta[:, 2 * i + 1], beta[:, 2 * i + 2]) / a
        harmonics.append(HarmonicFit(h, Estimate(float(share[0]), *_jackknife(share[0], share[1:]), method),
                                     Estimate(*_phase_clock(beta[:, 2 * i + 1], beta[:, 2 * i + 2], h),
                                              method + " on the phase"), p_values[i]))
    return LoadFit("diurnal", Estimate(float(a[0]), *_jackknife(a[0], a[1:]), method),
                   Estimate(float(peak[0]), *_jackknife(peak[0], peak[1:]), method, note=note),
                   Estimate(clock, at_low, at_high, method + " on the phase"),
                   p_value, dt, tuple(float(x) for x in beta[0]), tuple(harmonics))
