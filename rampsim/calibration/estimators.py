"""Estimators of the traffic model from one arm's per-tick history, each with a 95% interval.

The model is the one :mod:`rampsim.sim.variability` draws (see
:class:`~rampsim.sim.config.Latent`): per scrape tick of ``dt`` seconds a latent
multiplier ``M_t = exp(x_t - sd**2 / 2) * G_t * B_t`` with ``x`` a stationary AR(1)
on the log scale (marginal sd ``sd``, ``phi = exp(-dt / correlation_time)``), ``G``
a gamma variable of mean 1 and coefficient of variation ``jitter``, independent per
tick and segment, and ``B`` the bursts in force (Poisson starts, exponential
durations, log-normal multipliers). It multiplies the request rate (counts
Poisson), the error probability (errors binomial) and every latency (observed as
classic-histogram buckets). Health checks fail independently with probability
``q`` plus during per-instance blips.

Inputs are per-tick *increments* (not cumulative counters); a ``NaN`` anywhere in
a tick's row marks a missing scrape and that tick is left out (lag products that
touch it too). Everything is vectorized over ticks with numpy; the only Python
loops run over lags, blocks, segments and detected bursts.

Intervals (95%, two-sided), per parameter:

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
error rate (segment)        block jackknife widened to the exact Poisson (Garwood) interval;
                            Garwood alone when errors are sparse; none (fallback) below
                            MIN_TICKS ticks
sd, jitter                  block jackknife on sd**2 and on the jitter's variance term (on their
                            logs once the linear interval excludes 0), then mapped (square
                            root; inverse trigamma on the log scale)
correlation_time            block jackknife on correlation_time^(-1/2), whose spread hardly
                            depends on it (the standard error of its log grows as
                            sqrt(correlation_time): on the log scale a low estimate got too
                            narrow an interval, 93% coverage); a stated default when no
                            persistent variation is detected. Near nominal with histories of
                            100+ correlation times; about 0.92 with 50, 0.87 with 25
common                      block jackknife on the cross-arm/own covariance ratio (second arm)
burst per_day               exact Poisson (Garwood) on the number of detected bursts
burst duration              exponential mean: 2*sum/chi2(2n) (exact for exponential durations)
burst multiplier (median)   t interval on the mean log multiplier (n-1 df)
burst spread                Bonett's interval (chi-square below 5 bursts) on the variance of
                            log multipliers, less the mean measurement variance of one
burst common                Clopper-Pearson on the share of bursts coincident in both arms
typical P99                 the band pooled again around the ends of the mean log-stretch's
                            block jackknife interval (histogram_quantile's linear interpolation
                            in a wide bucket makes P99 a curved function of the mean: on the log
                            scale alone 88% coverage under strong wander), the rest of the
                            jackknife on log P99 added in quadrature
health q                    block jackknife (blips present) or Garwood on all failures (none);
                            none (fallback) below MIN_TICKS ticks
blip per_day, duration      block jackknife on the logs; upper bound only when not detected
==========================  ==================================================================

A block jackknife is honest under overdispersion and autocorrelation as long as
blocks are much longer than the correlation time: blocks are chosen at least four
times the longest lag used (four pilot correlation times), a leave-out drops
every lag pair that touches its block, and the interval is centred on the full
estimate (``estimate -/+ t(K-1) * se``). Counts are fitted on the log scale when
large (at least :data:`LOG_SCALE_COUNT` per tick), on the ratio scale otherwise;
with several segments the jitter is their spread within a tick, free of the
persistent fit. When a parameter
cannot be estimated (history too short, no burst seen, no persistent variation,
no second arm) its :class:`Estimate` says ``fallback=True``, carries the stated
default of :mod:`rampsim.sim.config` as ``value`` and a note, never an invented
number.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Literal, Optional, Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special, stats  # type: ignore[import-untyped]

from rampsim.engine.metrics import histogram_quantile
from rampsim.plan.daily_shape import daily_minimum, period_name
from rampsim.telemetry import DEFAULT_LATENCY_BUCKETS
from rampsim.units import positional

__all__ = [
    "Estimate", "HarmonicFit", "LoadFit", "ErrorRateFit", "BurstFit", "LatentFit", "LatencyFit", "HealthFit",
    "fit_load", "fit_error_rates", "fit_latent", "fit_latency", "fit_health", "fit_requests", "fit_errors",
    "count_problems", "DEFAULTS",
]

DAY = 86400.0
LEVEL = 0.95
MIN_TICKS = 120          # fewer valid ticks than this: the latent fit returns fallbacks
MIN_BLOCKS, MAX_BLOCKS = 5, 40
BLOCK_LAGS = 4            # a jackknife block spans at least this many times the longest lag fitted
LAG_SPAN = 4.0           # lags fitted: up to this many (pilot) correlation times
DETECTION_WINDOW = 20    # ticks either side of a tick that set its persistent level
LOG_SCALE_COUNT = 100.0  # counts expected per tick above which a latent process is fitted on the log scale
GROWTH_SD = 2.0          # a detected burst grows over neighbours this many standard deviations above its level
FALSE_BURSTS = 0.05      # expected false detections per history (Gaussian residuals)
MAX_HARMONIC = 4          # a diurnal load may gain the 12-, 8- and 6-hour harmonics
MIN_DAILY_SHARE = 0.05    # ... while its daily shape stays above this share of the average all day
MIN_HISTOGRAM_COUNT = 10  # a tick with fewer observations has no usable log-stretch
ABSENT = "no scrape of the history holds this series"   # why a parameter fell back when its series is not there

# The stated defaults, mirroring rampsim.sim.config (not imported: it would pull in simpy).
DEFAULTS: dict[str, float] = {
    "sd": 0.0, "correlation_time": 300.0, "common": 0.5, "jitter": 0.0,
    "burst_per_day": 0.0, "burst_duration": 180.0, "burst_multiplier": 10.0, "burst_spread": 0.0,
    "burst_common": 0.5, "blip_per_day": 0.0, "blip_duration": 10.0, "peak_at": 16 * 3600.0,
}

Scale = Literal["ratio", "log"]


# -- results ---------------------------------------------------------------------------------------

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
    cycle (``NaN`` when the history is shorter than a day). ``coefficients`` are
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


@dataclass(frozen=True)
class ErrorRateFit:
    """Base error rate per segment (column order of the input) and pooled over segments."""

    rates: tuple[Estimate, ...]
    overall: Estimate


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
class LatentFit:
    """One latent process (:class:`~rampsim.sim.config.Latent`): persistent wander, jitter, bursts.

    ``ticks`` valid ticks were used, ``masked`` of them set aside as bursts; the
    jackknife used ``blocks`` blocks.
    """

    sd: Estimate
    correlation_time: Estimate
    jitter: Estimate
    common: Estimate
    bursts: BurstFit
    ticks: int
    masked: int
    blocks: int

    def as_config(self) -> dict[str, Any]:
        """A mapping :class:`~rampsim.sim.config.Latent` validates (point estimates, clipped to its ranges)."""
        b = self.bursts
        return {
            "sd": min(max(self.sd.value, 0.0), 3.0),
            "correlation_time": f"{positional(max(self.correlation_time.value, 1e-3))}s",
            "common": min(max(self.common.value, 0.0), 1.0),
            "jitter": min(max(self.jitter.value, 0.0), 3.0),
            "bursts": {"per_day": min(max(b.per_day.value, 0.0), 1e4),
                       "duration": f"{positional(max(b.duration.value, 1e-3))}s",
                       "multiplier": min(max(b.multiplier.value, 1.0), 1e6),
                       "spread": min(max(b.spread.value, 0.0), 5.0),
                       "common": min(max(b.common.value, 0.0), 1.0)},
        }


@dataclass(frozen=True)
class LatencyFit:
    """Latency: the latent fit of the per-tick log-stretch, the typical P99 and the log-stretch itself.

    ``log_stretch`` is ``(ticks, columns)``: each tick's log multiplier of latency
    relative to a typical tick (``NaN`` where missing).
    """

    latent: LatentFit
    p99: Estimate
    log_stretch: np.ndarray = field(compare=False, repr=False)


@dataclass(frozen=True)
class HealthFit:
    """Health checks: the independent failure probability and the instance blips.

    ``detected`` says whether blips were detected (their failed-check covariance
    interval excludes zero).
    """

    failure: Estimate
    per_day: Estimate
    duration: Estimate
    detected: bool


# -- interval helpers ------------------------------------------------------------------------------

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
    """Edges of ``k`` contiguous blocks holding equal numbers of valid ticks (block ``b``: ``edges[b]:edges[b + 1]``)."""
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


def _mad_var(x: np.ndarray) -> float:
    """Robust variance: (1.4826 * median absolute deviation) squared."""
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return 0.0
    return float((1.4826 * np.median(np.abs(x - np.median(x)))) ** 2)


def _as_2d(values: ArrayLike) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array[:, None] if array.ndim == 1 else array


# -- load ------------------------------------------------------------------------------------------

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
    p < 0.01); otherwise ``flat`` with the mean rate. A diurnal load then gains the
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
                       _fallback("peak_at", "history shorter than a day: flat load assumed", 0.0, DAY),
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


# -- error rates -----------------------------------------------------------------------------------

def _rate_estimate(errors: float, requests: float, jack: Optional[tuple[float, float]]) -> Estimate:
    if requests <= 0:
        return Estimate(math.nan, 0.0, 1.0, "default", True, "no scrape with both requests and errors")
    low, high = (g / requests for g in _garwood(errors))
    if jack is None:
        return Estimate(errors / requests, low, min(high, 1.0), "exact Poisson (Garwood)",
                        note="sparse errors: assumes no overdispersion")
    return Estimate(errors / requests, max(min(jack[0], low), 0.0), min(max(jack[1], high), 1.0),
                    "block jackknife (t) widened to the exact Poisson interval")


def fit_error_rates(requests: ArrayLike, errors: ArrayLike, *, blocks: Optional[int] = None,
                    min_errors: int = 50, min_ticks: int = MIN_TICKS) -> ErrorRateFit:
    """Base error rate per segment from requests and errors per tick, ``(T, S)`` or ``(T,)``.

    The rate is total errors over total requests. Its interval is the block
    jackknife's (t with K-1 df: honest under overdispersion and persistence) widened
    to the exact Poisson interval (overdispersion can only widen it); with fewer than
    ``min_errors`` errors or fewer than 5 blocks, the exact Poisson interval alone,
    flagged in the note. ``blocks``: as in :func:`fit_load` (:func:`fit_errors` passes
    the latent fit's). With fewer than ``min_ticks`` ticks holding requests, no rate: a
    short stretch's errors vary with its own bursts and wander, which neither interval
    holds (the exact Poisson one held a 10-minute stretch's day rate 15 times in 143).
    """
    n, e = _as_2d(requests), _as_2d(errors)
    valid = np.isfinite(n) & np.isfinite(e) & (n > 0)
    n, e = np.where(valid, n, 0.0), np.where(valid, e, 0.0)
    tick_valid = valid.any(axis=1)
    k = min(blocks or 20, int(tick_valid.sum()) // 10)
    short = 0 < tick_valid.sum() < min_ticks

    def estimates(nn: np.ndarray, ee: np.ndarray) -> list[Estimate]:
        total_n, total_e = nn.sum(axis=0), ee.sum(axis=0)
        if short:
            note = (f"history too short: {int(tick_valid.sum())} ticks with requests and errors, at least "
                    f"{min_ticks} needed")
            return [Estimate(math.nan, 0.0, 1.0, "default", True, note) for _ in range(nn.shape[1])]
        if k < MIN_BLOCKS:
            return [_rate_estimate(total_e[j], total_n[j], None) for j in range(nn.shape[1])]
        blocks = _block_ids(tick_valid, k)
        rn, re = _replicates(_block_sum(nn, blocks, k)), _replicates(_block_sum(ee, blocks, k))
        with np.errstate(invalid="ignore", divide="ignore"):
            p = re / rn
        return [_rate_estimate(total_e[j], total_n[j], _jackknife(p[0, j], p[1:, j])
                               if total_e[j] >= min_errors else None) for j in range(nn.shape[1])]

    return ErrorRateFit(tuple(estimates(n, e)), estimates(n.sum(axis=1, keepdims=True), e.sum(axis=1, keepdims=True))[0])


# -- burst detection -------------------------------------------------------------------------------

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


# -- the persistent process and the jitter: one implementation for both scales ---------------------

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
    amp, best = _project(_to_log_cov(_autocovariance(zbar, len(pilot))[None, 1:], scale), phis[:, None] ** pilot[None, :])
    tau = -dt / math.log(phis[best[0]])
    h_max = int(np.clip(math.ceil(LAG_SPAN * tau / dt), 5, max(5, min(1000, n_valid // 10)))) if amp[0] > 0 else len(pilot)
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
    present = counts > 0   # a column without a valid tick in a replicate is no column of its mean
    v0 = (np.where(present, (squares - noises) / np.maximum(counts, 1), 0.0).sum(axis=1)
          / np.maximum(present.sum(axis=1), 1)) + centring
    # With several columns the jitter is their spread within a tick (column variance less the
    # covariance between columns), free of the persistent fit; with one, the fit's lag-0 extrapolation.
    shared = _to_log_cov(covariances[:, 0] + centring, scale) if columns > 1 else amp
    jitter = (1 + v0) * np.exp(-shared) - 1 if scale == "ratio" else v0 - shared
    if scale == "ratio" and columns > 1:
        # E[Y_i^2] = E[M^2] (1 + jitter^2) + noise and E[Y_i Y_j] = E[M^2]: their ratio, each replicate on its own
        # ticks. The deviations above are from the whole history's means: a block left out moves the level the
        # rest wander about, and with it, tenfold, the jackknife's spread of (1 + v0) / (1 + covariance).
        # Columns with no valid tick in a replicate (a segment without an error all day) are left out of its
        # mean; without a tick two columns share, the deviations' formula above stands.
        level = 1 + mean   # the ratio scale's values are M - 1
        y = np.where(valid, (1 + values) / level, 0.0)
        ys = y.sum(axis=1)
        products = _replicates(_block_sum(ys * ys - (y * y).sum(axis=1), blocks, k)) / np.maximum(pairs, 1)
        raw = _replicates(_block_sum(np.where(valid, y * y - noise / level ** 2, 0.0), blocks, k))
        squares_mean = (np.where(present, raw / np.maximum(counts, 1), 0.0).sum(axis=1)
                        / np.maximum(present.sum(axis=1), 1))
        with np.errstate(divide="ignore", invalid="ignore"):
            jitter = np.where((pairs > 0) & (products > 0), squares_mean / products - 1, jitter)
    return _Core(amp, phis[best], jitter, edges, k, lags, mean)


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


# -- bursts ----------------------------------------------------------------------------------------

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
        weights = np.concatenate([np.full(len(inner), 1.0 / len(inner)), np.full(len(reference), -1.0 / len(reference))])
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


# -- one latent process: detection, masking, moments -----------------------------------------------

@dataclass(frozen=True)
class _Prepared:
    """A latent series ready to fit: a per-tick log series for burst detection and masked values."""

    scale: Scale
    detect: np.ndarray        # (T,) log series
    detect_noise: np.ndarray  # (T,) its sampling variance
    make: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # burst mask -> values, noise (T, S)
    weights: np.ndarray       # (S,) weight of each column in the detection series
    improbable: Optional[Callable[[np.ndarray, float], np.ndarray]] = None   # counts: see :func:`_detect`

    def detection(self, window: int = DETECTION_WINDOW) -> "_Detection":
        """The bursts of :attr:`detect` (:func:`_detect`)."""
        return _detect(self.detect, self.detect_noise, window, self.improbable)


def _ratio_prepared(observed: ArrayLike, base: ArrayLike, trials: Optional[ArrayLike]) -> _Prepared:
    """Counts around a base, on the scale their size allows.

    Large counts (the 1st percentile of the base at least :data:`LOG_SCALE_COUNT`)
    are fitted on the log scale, ``log((observed + 1/2) / (base * r + 1/2))`` with
    sampling variance ``1 / (observed + 1/2)`` (times ``1 - observed / trials`` for
    binomial counts): the persistent process is linear there, and its moments are
    not dominated by the largest multipliers. Smaller counts are fitted on the
    ratio scale, ``z = observed / (base * r) - 1`` with sampling variance
    ``1 / (base * r)``. ``r`` is the ratio of sums outside bursts (per column).
    """
    y, b = _as_2d(observed), _as_2d(base)
    if y.shape != b.shape:
        raise ValueError(f"observed {y.shape} and base {b.shape} differ in shape")
    n_trials = _as_2d(trials) if trials is not None else None
    valid = np.isfinite(y) & np.isfinite(b) & (b > 0) & (y >= 0)
    if n_trials is not None:
        valid &= np.isfinite(n_trials) & (n_trials > 0)
    total_y, total_b = np.where(valid, y, 0.0).sum(axis=1), np.where(valid, b, 0.0).sum(axis=1)
    any_valid = valid.any(axis=1)
    detect = np.where(any_valid, np.log((total_y + 0.5) / (total_b + 0.5)), np.nan)
    detect_noise = np.where(any_valid, total_b / (total_b + 0.5) ** 2, np.nan)
    scale: Scale = "log" if valid.any() and float(np.quantile(b[valid], 0.01)) >= LOG_SCALE_COUNT else "ratio"

    def make(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        use = valid & ~mask[:, None]
        observed_sum, base_sum = np.where(use, y, 0.0).sum(axis=0), np.where(use, b, 0.0).sum(axis=0)
        ratio = np.where(base_sum > 0, observed_sum / np.where(base_sum > 0, base_sum, 1.0), 0.0)
        expected = b * ratio
        use &= expected > 0
        safe = np.where(use, expected, 1.0)
        count = np.where(use, y, 0.0)
        binomial = (np.clip(1.0 - (count if scale == "log" else safe) / np.where(use, n_trials, 1.0), 0.0, 1.0)
                    if n_trials is not None else 1.0)
        if scale == "log":
            values, noise = np.log((count + 0.5) / (safe + 0.5)), binomial / (count + 0.5)
        else:
            values, noise = count / safe - 1.0, binomial / safe
        return np.where(use, values, np.nan), np.where(use, noise, np.nan)

    def improbable(level: np.ndarray, alpha: float) -> np.ndarray:
        """Ticks whose count is at most ``alpha`` likely under sampling alone, their base times ``exp(level)``
        expected (the tail of a Poisson count: a binomial one's is thinner)."""
        with np.errstate(invalid="ignore", over="ignore"):
            return stats.poisson.sf(total_y - 1, total_b * np.exp(level)) <= alpha

    column_base = np.where(valid, b, 0.0).sum(axis=0)
    return _Prepared(scale, detect, detect_noise, make, column_base / max(float(column_base.sum()), 1e-300),
                     improbable)


def _log_prepared(values: np.ndarray, noise: np.ndarray) -> _Prepared:
    """Log-scale values ``(T, S)`` (a latency log-stretch) with their sampling variances."""
    valid = np.isfinite(values) & np.isfinite(noise)
    count = valid.sum(axis=1)
    detect = np.where(count > 0, np.where(valid, values, 0.0).sum(axis=1) / np.maximum(count, 1), np.nan)
    detect_noise = np.where(count > 0, np.where(valid, noise, 0.0).sum(axis=1) / np.maximum(count, 1) ** 2, np.nan)

    def make(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        use = valid & ~mask[:, None]
        return np.where(use, values, np.nan), np.where(use, noise, np.nan)

    columns = values.shape[1]
    return _Prepared("log", detect, detect_noise, make, np.full(columns, 1.0 / columns))


def _column_mean(values: np.ndarray) -> np.ndarray:
    valid = np.isfinite(values)
    count = valid.sum(axis=1)
    centred = values - np.nanmean(np.where(valid.any(axis=0), values, 0.0), axis=0) if valid.any() else values
    return np.where(count > 0, np.where(valid, centred, 0.0).sum(axis=1) / np.maximum(count, 1), np.nan)


def _common_share(core: _Core, first: np.ndarray, second: np.ndarray, scale: Scale) -> Estimate:
    """Share of ``x``'s variance common to both arms: cross-arm over own lag covariances (lags -H..H)."""
    lags = np.arange(-len(core.lags), len(core.lags) + 1)
    p, c = _lag_sums(first, second, core.edges, lags)
    cross = _to_log_cov(p / np.maximum(c, 1), scale).sum(axis=1)
    own = (core.sd2[:, None] * core.phi[:, None] ** np.abs(lags)[None, :]).sum(axis=1)
    share = cross / own
    low, high = _jackknife(share[0], share[1:])
    return Estimate(min(max(float(share[0]), 0.0), 1.0), min(max(low, 0.0), 1.0), min(max(high, 0.0), 1.0),
                    "block jackknife on the cross-arm covariance ratio, t")


def _fit(prepared: _Prepared, dt: float, other: Optional[_Prepared], max_blocks: int,
         absent: str = ABSENT) -> tuple[LatentFit, Optional[_Core], _Detection]:
    """Detect and mask bursts, fit the persistent process and the jitter, then measure the bursts; ``absent`` says
    why no tick is usable when none is."""
    det = prepared.detection()
    values, noise = prepared.make(det.mask)
    core = _core(values, noise, dt, prepared.scale, max_blocks)
    n_valid = int((np.isfinite(prepared.detect) & np.isfinite(prepared.detect_noise)).sum())
    if core is None:
        note = f"history too short: {n_valid} valid ticks, at least {MIN_TICKS} needed" if n_valid else absent
        sd, tau, jitter = _fallback("sd", note), _fallback("correlation_time", note), _fallback("jitter", note)
        detected, sd2, phi, jitter_var, k = False, 0.0, 0.0, det.level_var, 0
    else:
        sd, tau, jitter, detected = _persistent_estimates(core, dt, prepared.scale)
        sd2, phi, k = float(core.sd2[0]), float(core.phi[0]), core.k
        # the detection series averages the columns, whose jitters are independent
        jitter_var = _jitter_log_var(float(core.jitter[0]), prepared.scale) * float((prepared.weights ** 2).sum())
    measures = _measure_bursts(prepared.detect, prepared.detect_noise, det, dt, sd2, phi, jitter_var)
    coincident: Optional[int] = None
    if other is None:
        common = _fallback("common", "needs a second arm's series (a disjoint set of pods: calibrate --second-arm)",
                           0.0, 1.0)
    else:
        other_det = other.detection()
        coincident = _coincident(det, other_det)
        if core is None or not detected:
            common = _fallback("common", "no persistent variation detected in this arm", 0.0, 1.0)
        else:
            union = det.mask | other_det.mask
            common = _common_share(core, _column_mean(prepared.make(union)[0]), _column_mean(other.make(union)[0]),
                                   prepared.scale)
    valid = np.isfinite(prepared.detect) & np.isfinite(prepared.detect_noise)
    unusable = "" if core is not None else absent if not n_valid else (
        f"history too short to tell bursts from the persistent variation: {n_valid} valid ticks, at least "
        f"{MIN_TICKS} needed")
    fit = LatentFit(sd, tau, jitter, common, _burst_fit(measures, det, valid, dt, coincident, unusable),
                    n_valid, int((det.mask & np.isfinite(prepared.detect)).sum()), k)
    return fit, core, det


def fit_latent(observed: ArrayLike, base: ArrayLike, dt: float = 15.0, *, trials: Optional[ArrayLike] = None,
               other: Optional[tuple[ArrayLike, ArrayLike]] = None, other_trials: Optional[ArrayLike] = None,
               max_blocks: int = MAX_BLOCKS, absent: str = "") -> LatentFit:
    """The latent multiplier of counts ``observed ~ Poisson(base * M)`` (or binomial out of ``trials``).

    ``observed`` and ``base`` are ``(T,)`` or ``(T, S)``: columns (segments) share the
    persistent process and bursts but have their own jitter, as in the simulator;
    a single column of an arm's total gives the jitter of the total instead. For
    requests ``base`` is the fitted ``rate * dt`` (times the segment's share), for
    errors ``requests * p_hat`` with ``trials=requests``. Bursts are detected first
    and masked (:func:`_detect`); the persistent process and the jitter come from
    moments of ``z = observed / base - 1`` (:func:`_core`), sampling noise ``1/base``
    (times ``1 - p`` for binomial counts) removed. ``other`` is a second arm's
    ``(observed, base)`` on the same ticks: it gives the ``common`` shares. ``absent`` says why no tick is usable
    when none is (by default: the series is not there, or ``base`` is nowhere known).
    """
    second = _ratio_prepared(other[0], other[1], other_trials) if other is not None else None
    present = np.isfinite(np.asarray(observed, dtype=float)).any()
    absent = absent or ("no expected level to compare the counts with (the load or the error rate could not be fitted: "
              "too few ticks outside bursts)" if present and not np.isfinite(np.asarray(base, dtype=float)).any()
              else ABSENT)
    return _fit(_ratio_prepared(observed, base, trials), dt, second, max_blocks, absent)[0]


def _burst_ticks(observed: np.ndarray, base: np.ndarray, trials: Optional[np.ndarray] = None) -> np.ndarray:
    """Ticks a first burst detection sets aside (runs widened by a tick), for refitting a base without them."""
    prepared = _ratio_prepared(observed, base, trials)
    return prepared.detection().mask


def fit_requests(times: ArrayLike, requests: ArrayLike, dt: Optional[float] = None, *,
                 other: Optional[ArrayLike] = None) -> tuple[LoadFit, LatentFit]:
    """The load profile and the request-rate latent process from requests per tick ``(T,)`` or ``(T, S)``.

    Bursts raise the mean rate, while the configured ``average`` is the rate around
    which the burst-free multiplier (mean 1) varies: the load is fitted once, bursts
    are detected against it, and the load is refitted without the burst ticks.
    Each segment's base is then the fitted rate times ``dt`` times its share of all
    requests. Last, the load's intervals are recomputed over the latent fit's
    blocks (long enough for its correlation time). ``other`` is a second arm's
    requests on the same ticks.
    """
    t = np.asarray(times, dtype=float)

    def base_of(load: LoadFit, counts: np.ndarray) -> np.ndarray:
        shares = np.nansum(counts, axis=0) / max(float(np.nansum(counts)), 1e-300)
        return (load.rate(t) * load.dt)[:, None] * shares[None, :]

    def without_bursts(counts: np.ndarray, step: Optional[float]) -> tuple[LoadFit, np.ndarray, np.ndarray]:
        load = fit_load(t, counts.sum(axis=1), step)
        mask = np.zeros(len(counts), bool)
        if np.all(np.isfinite(load.coefficients)):
            mask = _burst_ticks(counts, base_of(load, counts))
            if mask.any():
                load = fit_load(t, np.where(mask, np.nan, counts.sum(axis=1)), load.dt)
        kept = np.where(mask[:, None], np.nan, counts)
        return load, base_of(load, kept), kept

    counts = _as_2d(requests)
    load, base, kept = without_bursts(counts, dt)
    second = None
    if other is not None:
        other_counts = _as_2d(other)
        second = (other_counts, without_bursts(other_counts, load.dt)[1])
    latent = fit_latent(counts, base, load.dt, other=second)
    if latent.blocks >= MIN_BLOCKS:
        refit = fit_load(t, kept.sum(axis=1), load.dt, blocks=latent.blocks)
        if refit.cycles != load.cycles:   # the honest blocks do not bear the first shape out: fit the wander again
            latent = fit_latent(counts, base_of(refit, kept), load.dt, other=second)
        load = refit
    return load, latent


def _rates_without_bursts(n: np.ndarray, e: np.ndarray) -> tuple[ErrorRateFit, np.ndarray]:
    """Error rates refitted without the ticks a first burst detection sets aside, and those ticks."""
    rates = fit_error_rates(n, e)
    p = np.array([np.nan_to_num(r.value) for r in rates.rates])
    mask = _burst_ticks(e, n * p[None, :], n)
    if not mask.any():
        return rates, mask
    return fit_error_rates(np.where(mask[:, None], np.nan, n), np.where(mask[:, None], np.nan, e)), mask


def fit_errors(requests: ArrayLike, errors: ArrayLike, dt: float = 15.0, *,
               other: Optional[tuple[ArrayLike, ArrayLike]] = None) -> tuple[ErrorRateFit, LatentFit]:
    """Base error rates per segment and the error-probability latent process (errors binomial out of requests).

    The base rates are refitted without the burst ticks (bursts raise the mean error
    rate above the configured one, around which the burst-free multiplier varies),
    their intervals over the latent fit's blocks. ``other`` is a second arm's
    ``(requests, errors)`` on the same ticks.
    """
    n, e = _as_2d(requests), _as_2d(errors)
    rates, mask = _rates_without_bursts(n, e)
    p = np.array([r.value for r in rates.rates])   # NaN for a segment not fitted: its ticks are not usable
    unfitted = next((r.note for r in rates.rates if not math.isfinite(r.value) and r.note), "") \
        if np.isfinite(e).any() else ""   # the series there, its rates not fitted (a short history): say why
    if not unfitted and np.isfinite(e).any() and np.nansum(e) == 0:
        unfitted = "no errors in the history (the series is there, at 0 throughout): no variability to measure"
    second = None
    other_trials = None
    if other is not None:
        n2, e2 = _as_2d(other[0]), _as_2d(other[1])
        p2 = np.array([np.nan_to_num(r.value) for r in _rates_without_bursts(n2, e2)[0].rates])
        second, other_trials = (e2, n2 * p2[None, :]), n2
    latent = fit_latent(e, n * p[None, :], dt, trials=n, other=second, other_trials=other_trials, absent=unfitted)
    if latent.blocks >= MIN_BLOCKS:
        rates = fit_error_rates(np.where(mask[:, None], np.nan, n), np.where(mask[:, None], np.nan, e),
                                blocks=latent.blocks)
    return rates, latent


# -- latency ---------------------------------------------------------------------------------------

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


# -- health checks ---------------------------------------------------------------------------------

def _blip_basis(r: np.ndarray, rounds: int, lags: np.ndarray) -> np.ndarray:
    """Covariance shapes of per-tick failed checks from blips, per ``r = exp(-interval / duration)``.

    Failed checks of one round from blips have ``Cov(X_j, X_{j+m}) = lambda mu r^m``
    (``lambda`` blips per second, ``mu`` their mean duration); a tick sums ``rounds``
    rounds. Lag 0 is the variance less the mean (the independent failures'
    binomial variance, and the blips' own Poisson part, cancel).
    """
    d = np.arange(-(rounds - 1), rounds)
    multiplicity = rounds - np.abs(d)
    shift = np.abs(rounds * lags[:, None] + d[None, :])                  # (lags, offsets)
    terms = multiplicity[None, None, :] * r[:, None, None] ** shift[None, :, :]
    terms[:, lags == 0, rounds - 1] = 0.0                                  # lag 0, offset 0: the Poisson part
    return terms.sum(axis=2)


def fit_health(checks: ArrayLike, ok: ArrayLike, instances: int, check_interval: float = 5.0, dt: float = 15.0, *,
               min_duration: Optional[float] = None, max_lag: int = 4, max_blocks: int = MAX_BLOCKS) -> HealthFit:
    """Independent check failure probability and instance blips from per-tick check totals.

    Moments of the failed checks per tick ``f``: the variance less the mean and the
    lag 1..``max_lag`` autocovariances equal ``lambda mu`` times known shapes of
    ``r = exp(-check_interval / mu)`` (:func:`_blip_basis`), fitted by least squares
    over a grid of ``mu``; then ``q = (mean f - rounds * lambda mu) / mean checks``.
    Intervals: block jackknife (t) on ``q``, ``log mu`` and ``log per_day``. When
    ``lambda mu`` is not significantly positive, blips are not detected: ``q`` gets the
    exact Poisson interval of all failures over all checks (an upper bound holds
    whatever the blips), ``per_day`` the interval ``[0, upper]`` assuming blips last
    at least ``min_duration`` (default: one check interval; shorter blips are
    indistinguishable from independent failures), ``duration`` the default.
    """
    c, o = np.asarray(checks, dtype=float), np.asarray(ok, dtype=float)
    f = c - o
    valid = np.isfinite(c) & np.isfinite(o) & (c > 0) & (f >= 0)
    n_valid = int(valid.sum())
    rounds = max(1, int(round(dt / check_interval)))
    shortest = check_interval if min_duration is None else min_duration
    total_f, total_c = float(f[valid].sum()), float(c[valid].sum())
    if total_c <= 0:
        note = "no health checks observed"
        return HealthFit(Estimate(math.nan, 0.0, 1.0, "default", True, note), _fallback("blip_per_day", note),
                         _fallback("blip_duration", note), False)
    if n_valid < MIN_TICKS:   # a short stretch's failures are its blips': the plan's own rate is kept
        note = f"history too short: {n_valid} valid ticks, at least {MIN_TICKS} needed"
        return HealthFit(Estimate(math.nan, 0.0, 1.0, "default", True, note), _fallback("blip_per_day", note),
                         _fallback("blip_duration", note), False)
    low, high = (g / total_c for g in _garwood(total_f))
    garwood = Estimate(total_f / total_c, low, min(high, 1.0), "exact Poisson (Garwood) on all failures",
                       note="blips not detected: failures of blips, if any, are counted in")
    k = int(np.clip(n_valid // 50, MIN_BLOCKS, max_blocks))
    edges = _block_edges(valid, k)
    blocks = np.searchsorted(edges[1:-1], np.arange(len(valid)), side="right")
    centred = np.where(valid, f - total_f / n_valid, np.nan)
    lags = np.arange(0, max_lag + 1)
    p, pairs = _lag_sums(centred, centred, edges, lags)
    n = _replicates(_block_sum(valid.astype(float), blocks, k))
    mean_f = _replicates(_block_sum(np.where(valid, f, 0.0), blocks, k)) / n
    mean_c = _replicates(_block_sum(np.where(valid, c, 0.0), blocks, k)) / n
    g = p / np.maximum(pairs, 1)
    g[:, 0] -= mean_f
    r = np.exp(-check_interval / np.geomspace(check_interval / 20, 1000 * check_interval, 600))
    amp, best = _project(g, _blip_basis(r, rounds, lags))
    low, high = _jackknife(amp[0], amp[1:])
    if not low > 0:
        bound = max(high, _garwood(total_f)[1] / (rounds * n_valid))
        per_day = Estimate(0.0, 0.0, bound / shortest * DAY / instances, "jackknife / Poisson bound",
                           note=f"blips not detected; upper bound assumes blips last at least {shortest:g} s")
        return HealthFit(garwood, per_day, _fallback("blip_duration", "blips not detected"), False)
    mu = -check_interval / np.log(r[best])
    q = (mean_f - rounds * amp) / mean_c
    per_day = amp / mu * DAY / instances
    q_low, q_high = _jackknife(q[0], q[1:])
    mu_low, mu_high = _jackknife(math.log(mu[0]), np.log(mu[1:]))
    with np.errstate(invalid="ignore", divide="ignore"):
        log_rate = np.log(per_day)
    rate_low, rate_high = _jackknife(log_rate[0], log_rate[1:])
    return HealthFit(
        Estimate(max(float(q[0]), 0.0), max(q_low, 0.0), min(max(q_high, 0.0), 1.0), "block jackknife, t"),
        Estimate(float(per_day[0]), math.exp(rate_low), math.exp(rate_high), "block jackknife on log per_day, t"),
        Estimate(float(mu[0]), math.exp(mu_low), math.exp(mu_high), "block jackknife on log duration, t"),
        True)


# -- what per-tick counts cannot be ----------------------------------------------------------------

UNDERDISPERSION_Z = 4.0   # standard errors below Poisson's dispersion before counts are called too regular


def count_problems(counts: ArrayLike, dt: float, name: str, *, dispersion: bool = True) -> list[str]:
    """What makes per-tick ``counts`` ``(T,)`` or ``(T, S)`` unlike a counter's increments, one sentence each.

    Increments of a counter are whole numbers, and counts of independent events vary
    at least as much as Poisson counts around their level (every variability process
    only adds to that). Around a centred ~1-hour rolling mean (partial at the ends and
    gaps), the dispersion index ``D = sum r^2 / sum (1 - 1/c) / mean`` of the arm's
    total is about 1 for Poisson counts with a standard error of ``sqrt((2 + 1/mean) / n)``;
    below 1 by :data:`UNDERDISPERSION_Z` of those, the counts are too regular for the
    model's sampling noise (a scaled rate, a smoothed series), and its fitted noise
    is wrong. ``dispersion=False`` checks whole numbers alone (binomial errors at a high
    error rate vary less than Poisson counts).
    """
    y = _as_2d(counts)
    valid = np.isfinite(y).all(axis=1)
    n = int(valid.sum())
    if n == 0:
        return []
    problems = []
    fractional = float(np.mean((y[valid] != np.round(y[valid])).any(axis=1)))
    if fractional > 0.01:
        problems.append(f"{name}: {fractional:.1%} of the {n:,} complete scrapes' increases are not whole numbers: "
                        "the series holds rates or scaled counts, not a counter's increments (the sampling noise "
                        "the fit sets apart assumes whole counts)")
    total = np.where(valid, y.sum(axis=1), np.nan)
    window = max(3, 2 * int(round(3600.0 / dt / 2)) + 1)
    x = np.where(valid, total, 0.0)
    cx, cc = np.concatenate([[0.0], np.cumsum(x)]), np.concatenate([[0.0], np.cumsum(valid)])
    index = np.arange(len(total))
    lo, hi = np.clip(index - window // 2, 0, len(total)), np.clip(index + window // 2 + 1, 0, len(total))
    c = cc[hi] - cc[lo]
    residual = np.where(valid, total - (cx[hi] - cx[lo]) / np.maximum(c, 1), 0.0)
    weight = float(np.where(valid, 1.0 - 1.0 / np.maximum(c, 1), 0.0).sum())
    mean = float(x.sum()) / n
    if dispersion and n >= MIN_TICKS and weight > 0 and mean > 0:
        index_d = float((residual ** 2).sum()) / weight / mean
        if index_d < 1.0 - UNDERDISPERSION_Z * math.sqrt((2.0 + 1.0 / mean) / n):
            problems.append(f"{name}: per-scrape counts vary less than counts of independent requests can "
                            f"(dispersion index {index_d:.2f} around an hour's rolling mean, over {n:,} scrapes; "
                            "Poisson counts give 1): the model's sampling noise is larger than this history's, "
                            "so its fitted variability is not this service's")
    return problems
