"""Production request series from ``../shared/real-metrics`` (read in place, never copied) and the held-out check.

The directory sits beside the repository (``<repo>/../shared/real-metrics``); its
README describes every dataset. :func:`production_series` returns each PRODUCTION
request-count series on a regular grid of its step; :func:`compare` calibrates the
model on a series' first part and checks it against the held-out rest (used by
``tests/test_real_data.py`` and ``benchmarks/real_data_table.py``).

==========================  =====  ===================================================================
series                      step   requests per tick, and what is masked
==========================  =====  ===================================================================
ms/mongo-01 .. mongo-04     1 min  MongoDB queries per minute per application scenario:
                                   60 x ``Value`` (a 1-minute average in queries/s, fractional);
                                   expert-labelled anomaly minutes (``Label == 1``) masked
ms/machine-01               1 min  queries per minute to one MongoDB server (integer ``Value``);
                                   expert-labelled anomaly minutes masked
ms/api-01                   1 h    e-commerce API requests per hour: 3600 x ``Value`` (req/s);
                                   expert-labelled anomaly hours masked
azure/conv, azure/code      15 s   Azure LLM inference request arrivals binned to the simulator's
                                   default 15-second scrape interval over the whole minutes between
                                   the first and the last arrival (one hour of trace: at 1-minute
                                   bins the first part would hold fewer ticks than the latent fit
                                   needs, 120); compared as 1-minute counts. No labels.
nab/elb_request_count       5 min  AWS ELB RequestCount per 5 minutes; the NAB anomaly windows
                                   (``labels/combined_windows.json``) masked
twitter/raw_data            1 min  the Twitter AnomalyDetection ``count`` (non-integer, about
                                   110-180 per minute; the metric is not named). No labels.
==========================  =====  ===================================================================

Not request counts, and so left out: ``service-unavailable`` (error counts),
``data-ingress-rate`` (unit not stated), ``consumer-purchase-rate`` (purchases),
the latency and crash-rate series, and ``nezha`` (a benchmark driven by a load
generator, not production).

``times`` are Unix seconds at the END of each tick (tick ``k`` counts the requests
of ``(times[k] - dt, times[k]]``, the convention of
:func:`rampsim.calibration.estimators.fit_load`); the source timestamps label the
start of their interval. Masked and missing ticks are ``NaN``.

Quirks handled here:

* ``api-01``'s timestamps are a local clock written with a ``Z``: the hour
  2017-11-05T01 appears twice and 2018-03-11T02 is missing (daylight-saving
  changes), yet its 6,192 rows are 258 whole days of consecutive hours. Its
  times are therefore the first timestamp plus whole hours.
* The NAB file has 8 gaps of one 5-minute tick (left ``NaN``).
* Twitter's timestamps are shifted to 1980 by the source; only the time of day
  matters to the load fit.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Callable, Optional

import numpy as np
import pandas as pd

from rampsim.calibration.day_to_day import DayToDay, day_to_day, noise_statistics
from rampsim.units import positional
from tests.sim_helpers import REAL_METRICS

if TYPE_CHECKING:
    from rampsim.calibration.estimators import LatentFit, LoadFit

__all__ = ["DATA_DIR", "RequestSeries", "SERIES", "available", "load", "production_series", "bin_arrivals",
           "Comparison", "compare", "simulate", "parameter_draws", "statistics", "aggregate",
           "MISFITS", "STATISTICS"]

DATA_DIR = REAL_METRICS  # <repo>/../shared/real-metrics


@dataclass(frozen=True)
class RequestSeries:
    """Requests per tick of one production series on a regular grid (see the module docstring).

    ``compare_ticks`` ticks make one compared count (4 for the 15-second Azure bins:
    1-minute counts; 1 elsewhere). ``masked`` ticks were set to ``NaN`` as
    labelled anomalies, ``missing`` ticks are absent from the source.
    """

    name: str
    dt: float
    times: np.ndarray
    counts: np.ndarray
    masked: int
    missing: int
    labels: str
    source: str
    compare_ticks: int = 1

    @property
    def compare_step(self) -> float:
        return self.dt * self.compare_ticks


def _seconds(stamps: pd.Series) -> np.ndarray:
    """Unix seconds of timestamps (naive ones read as UTC), whatever pandas' resolution."""
    t = pd.to_datetime(stamps.astype(str).str.strip('"'), utc=True)
    return ((t - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta("1ms")).to_numpy(dtype=float) / 1000.0


def _on_grid(starts: np.ndarray, values: np.ndarray, mask: np.ndarray, dt: float
             ) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Values placed on the regular grid of step ``dt`` from the first start; ``(times, counts, masked, missing)``."""
    slot = np.rint((starts - starts[0]) / dt).astype(np.intp)
    if np.any(np.diff(slot) <= 0):
        raise ValueError("timestamps are not strictly increasing on the grid")
    n = int(slot[-1]) + 1
    counts = np.full(n, np.nan)
    counts[slot] = np.where(mask, np.nan, values)
    times = starts[0] + dt * (np.arange(n) + 1.0)
    return times, counts, int(mask.sum()), n - len(slot)


def _microsoft(folder: str, stem: str, scale: float, dt: float, consecutive: bool = False) -> RequestSeries:
    path = DATA_DIR / "microsoft-cloud-monitoring" / folder / f"{stem}.csv"
    frame = pd.read_csv(path)
    starts = _seconds(frame["TimeStamp"])
    if consecutive:
        starts = starts[0] + dt * np.arange(len(frame))
    labelled = frame["Label"].to_numpy() == 1
    times, counts, masked, missing = _on_grid(starts, frame["Value"].to_numpy(dtype=float) * scale, labelled, dt)
    return RequestSeries(f"ms/{stem}", dt, times, counts, masked, missing,
                         "expert anomaly labels (Label == 1) masked" if masked else "expert labels: none in this file",
                         f"microsoft-cloud-monitoring/{folder}/{stem}.csv")


def bin_arrivals(arrivals: np.ndarray, dt: float, start: float, stop: float) -> tuple[np.ndarray, np.ndarray]:
    """Arrivals (seconds) counted in ticks ``(t - dt, t]`` from ``start`` on, whole ticks up to ``stop``."""
    n = int(math.floor((stop - start) / dt + 1e-9))
    edges = start + dt * np.arange(n + 1)
    counts, _ = np.histogram(arrivals, bins=edges)
    return edges[1:], counts.astype(float)


def _azure(kind: str, dt: float = 15.0) -> RequestSeries:
    path = DATA_DIR / "azure-llm-inference-2023" / f"AzureLLMInferenceTrace_{kind}.csv"
    arrivals = _seconds(pd.read_csv(path, usecols=["TIMESTAMP"])["TIMESTAMP"])
    # Whole minutes between the first and the last arrival: the trace's own window
    # (the README's 18:15-19:15 is rounded; no arrivals are recorded outside it).
    start, stop = math.ceil(arrivals.min() / 60) * 60, math.floor(arrivals.max() / 60) * 60
    times, counts = bin_arrivals(arrivals, dt, start, stop)
    return RequestSeries(f"azure/{kind}", dt, times, counts, 0, 0, "no labels in the source",
                         f"azure-llm-inference-2023/AzureLLMInferenceTrace_{kind}.csv", compare_ticks=int(60 / dt))


def _nab() -> RequestSeries:
    key = "realAWSCloudwatch/elb_request_count_8c0756.csv"
    frame = pd.read_csv(DATA_DIR / "nab" / key)
    starts = _seconds(frame["timestamp"])
    windows = json.loads((DATA_DIR / "nab" / "labels" / "combined_windows.json").read_text())[key]
    inside = np.zeros(len(frame), bool)
    for low, high in windows:
        a, b = _seconds(pd.Series([low, high]))
        inside |= (starts >= a) & (starts <= b)
    times, counts, masked, missing = _on_grid(starts, frame["value"].to_numpy(dtype=float), inside, 300.0)
    return RequestSeries("nab/elb_request_count", 300.0, times, counts, masked, missing,
                         "NAB anomaly windows masked", f"nab/{key}")


def _twitter() -> RequestSeries:
    frame = pd.read_csv(DATA_DIR / "twitter-anomalydetection" / "raw_data.derived.csv")
    starts = _seconds(frame["timestamp"])
    times, counts, masked, missing = _on_grid(starts, frame["count"].to_numpy(dtype=float),
                                              np.zeros(len(frame), bool), 60.0)
    return RequestSeries("twitter/raw_data", 60.0, times, counts, masked, missing, "no labels in the source",
                         "twitter-anomalydetection/raw_data.derived.csv")


SERIES: dict[str, Callable[[], RequestSeries]] = {
    **{f"ms/mongo-0{i}": (lambda i=i: _microsoft("mongodb-application-rps", f"mongo-0{i}", 60.0, 60.0))
       for i in range(1, 5)},
    "ms/machine-01": lambda: _microsoft("mongodb-machine-rps", "machine-01", 1.0, 60.0),
    "ms/api-01": lambda: _microsoft("ecommerce-api-incoming-rps", "api-01", 3600.0, 3600.0, consecutive=True),
    "azure/conv": lambda: _azure("conv"),
    "azure/code": lambda: _azure("code"),
    "nab/elb_request_count": _nab,
    "twitter/raw_data": _twitter,
}


def available() -> Optional[str]:
    """``None`` when the data directory is there, else why not (a skip reason)."""
    if DATA_DIR.is_dir():
        return None
    return f"real telemetry not found at {DATA_DIR} (the shared directory beside the repository)"


@lru_cache(maxsize=None)
def load(name: str) -> RequestSeries:
    """One series by name (a key of :data:`SERIES`)."""
    return SERIES[name]()


def production_series() -> list[RequestSeries]:
    """Every production request series, in :data:`SERIES` order."""
    return [load(name) for name in SERIES]


# -- the held-out comparison -----------------------------------------------------------------------
#
# Calibrate on the first part, simulate the held-out rest, compare dispersion and
# autocorrelation (the "real data" check). Shared by tests/test_real_data.py
# and benchmarks/real_data_table.py, so the README table and the tests agree.

FIRST_PART = 0.65       # share of each series the model is calibrated on; the rest is held out
REPLICATES = 1000       # simulated held-out periods per series: the joint 99% band's edge is their 10th largest
                        # max |z| (at 200, their 2nd: a verdict at the edge turned on the seed)
DAY_REPLICATES = 20     # simulated first parts pooled as the day-to-day check's model days
LEVEL = 0.99            # joint coverage of the band over the 11 statistics of a series
LAGS = 10               # autocorrelation lags 1..LAGS, in compared steps
SEED = 20240601
STATISTICS = ("D",) + tuple(f"acf{h}" for h in range(1, LAGS + 1))

# Series the fitted model does not reproduce, with the measured reason (see the
# README table; benchmarks/real_data_table.py prints the figures). The tests mark
# them xfail(strict=True): a series that starts passing fails the suite until it is
# moved out of here and the table re-run.
MISFITS: dict[str, str] = {
    "ms/mongo-01": (
        "held-out minutes smoother than the fit: acf1 0.96 above the band [0.88, 0.93] (acf1-acf4 outside; D and "
        "acf5-acf10 inside); with honest blocks (5 of them, for a 3-hour wander) the daily cycle is not significant, "
        "so the load is flat and the fitted wander (sd 0.40, 3 h, no jitter) carries the day"),
    "ms/mongo-02": (
        "the held-out days are quieter than the first part (detrended D 24.6 -> 7.1, acf1 0.81 -> 0.65): the "
        "band of D 15-247 (33-133 before the fitted day spread, 0.49 [0.30, inf]) and of acf3-acf10 above the "
        "held-out's; the 12-hour harmonic found (7% of the average) took the wander from sd 0.10 to 0.076 and "
        "brought acf1 inside"),
    "ms/mongo-04": (
        "held-out acf decays faster than the fitted wander (sd 0.24, correlation time 11 h) gives: acf4-acf6 "
        "below the band (acf4 0.209 against a band from 0.215), with or without the fitted day spread (0.33, 95% "
        "[0.15, inf]); D, acf1-acf3 and acf7-acf10 inside"),
    "ms/machine-01": (
        "the held-out's minute-to-minute noise is nearly white (acf1 0.24, D 5.3), the model's persistent "
        "(simulated acf1 0.66-0.89; D alone inside): a 12-hour harmonic (24% of the average) now carries the "
        "daily shape the cosine missed, but the day-to-day level changes (daily means 590-870/min) still fit as "
        "a one-hour wander (sd 0.22) with no jitter, which an AR(1) of one correlation time puts inside the hour too"),
    "twitter/raw_data": (
        "not a count: held-out D 0.50, below Poisson's 1 (the source's non-integer 'count' is a scaled rate, "
        "which no Poisson model reproduces); the rest of the fit is ordinary: a diurnal load with 12-, 8- and "
        "6-hour harmonics, 3 bursts in the first part's 6.5 days"),
}


def aggregate(counts: np.ndarray, ticks: int) -> np.ndarray:
    """Sums of ``ticks`` consecutive ticks along axis 0 (``NaN`` if any is missing); a trailing part is dropped."""
    if ticks == 1:
        return counts
    n = counts.shape[0] // ticks
    return counts[: n * ticks].reshape((n, ticks) + counts.shape[1:]).sum(axis=1)


def statistics(counts: np.ndarray, step: float, lags: int = LAGS) -> np.ndarray:
    """Dispersion index and autocorrelations at lags ``1..lags`` of counts ``(T,)`` or ``(T, R)``, after the centred
    one-hour rolling mean: :func:`rampsim.calibration.day_to_day.noise_statistics`, the calibration's own."""
    return noise_statistics(counts, step, lags)


def rate_draws(estimate, q: float, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """Correlation times drawn normal on ``correlation_time^(-1/2)``, the scale its interval was built on."""
    if estimate.fallback or not math.isfinite(estimate.value) or not estimate.low > 0:
        return np.full(replicates, float(estimate.value))
    centre, near, far = (1 / math.sqrt(v) for v in (estimate.value, estimate.high, estimate.low))
    rate = centre + (far - near) / (2 * q) * rng.standard_normal(replicates)
    return 1 / np.maximum(rate, centre / 100) ** 2   # a rate at or below 0: at most 10,000 times the estimate


def parameter_draws(latent: "LatentFit", replicates: int, rng: np.random.Generator) -> list[dict]:
    """One :class:`~rampsim.sim.config.Latent` mapping per replicate, the fitted values perturbed by their errors.

    A held-out check must allow for the calibration's own sampling error, not only
    the held-out period's: each replicate draws its parameters from normal
    approximations of the estimates' 95% intervals, on the scale each interval was
    built on (see :mod:`rampsim.calibration.estimators.moments` and
    :mod:`~rampsim.calibration.estimators.bursts`): ``sd^2`` (on the log scale
    once its interval excludes 0), ``correlation_time^(-1/2)`` and the jitter's
    variance ``jitter^2`` with the jackknife's ``t(K-1)``; burst ``per_day`` from a
    gamma of the detected count; ``log multiplier``, ``log duration`` and
    ``day_spread^2`` (on the log scale once its interval excludes 0; a day spread
    whose interval has no upper end, ``log day_spread`` with the lower half's scale)
    with ``z = 1.96``. A fallback (a parameter the history could not inform) keeps its
    stated value.
    """
    from scipy import stats

    t = float(stats.t.ppf(0.975, max(latent.blocks, 3) - 1))

    def normal(estimate, square: bool, log: bool, q: float) -> np.ndarray:
        power = 2 if square else 1
        value, low, high = (float(v) ** power for v in (estimate.value, estimate.low, estimate.high))
        if estimate.fallback or not (math.isfinite(low) and math.isfinite(high)) or high <= low:
            return np.full(replicates, value)
        if log and low > 0 and value > 0:
            se = (math.log(high) - math.log(low)) / (2 * q)
            return np.exp(math.log(value) + se * rng.standard_normal(replicates))
        return np.maximum(value + (high - low) / (2 * q) * rng.standard_normal(replicates), 0.0)

    config = latent.as_config()
    sd = np.sqrt(normal(latent.sd, True, latent.sd.low > 0, t))
    tau = rate_draws(latent.correlation_time, t, replicates, rng)
    jitter = np.sqrt(normal(latent.jitter, True, False, t))
    spread = latent.day_spread
    if spread.low > 0 and not math.isfinite(spread.high):   # an unbounded upper end: the lower half's scale
        day_spread = np.exp(math.log(spread.value) + math.log(spread.value / spread.low) / 1.96
                            * rng.standard_normal(replicates))
    else:
        day_spread = np.sqrt(normal(spread, True, spread.low > 0, 1.96))
    b = latent.bursts
    per_day = (rng.gamma(b.count, b.per_day.value / b.count, replicates) if b.count > 0 and not b.per_day.fallback
               else np.full(replicates, config["bursts"]["per_day"]))
    multiplier = normal(b.multiplier, False, True, 1.96)
    duration = normal(b.duration, False, True, 1.96)
    return [{"sd": min(float(sd[i]), 3.0), "correlation_time": f"{positional(max(float(tau[i]), 1e-3))}s", "common": 0.0,
             "jitter": min(float(jitter[i]), 3.0), "day_spread": min(float(day_spread[i]), 1.5),
             "bursts": {**config["bursts"], "per_day": min(float(per_day[i]), 1e4),
                        "multiplier": min(max(float(multiplier[i]), 1.0), 1e6),
                        "duration": f"{positional(max(float(duration[i]), 1e-3))}s", "common": 0.0}}
            for i in range(replicates)]


def simulate(load: "LoadFit", latent: "LatentFit", times: np.ndarray, dt: float, replicates: int,
             rng: np.random.Generator, scale: float = 1.0, uncertainty: bool = True) -> np.ndarray:
    """Requests per tick ``(len(times), replicates)`` of the fitted model: independent replicates.

    The simulator's own draw, :func:`rampsim.sim.variability.draw_paths` (``ou_path``
    for ``x``, ``burst_factor`` for the bursts, the gamma jitter), of the fitted
    :class:`~rampsim.sim.config.Latent` with its ``common`` shares set to 0, so that
    each replicate carries one arm's whole process. With ``uncertainty`` each
    replicate has its own parameters (:func:`parameter_draws`), one ``draw_paths``
    call each; without, one call with the replicates as arms. Counts are Poisson
    around ``scale * load.rate(times) * dt`` times the multiplier.
    """
    from rampsim.sim.config import Latent, Variability
    from rampsim.sim.clock import Grid
    from rampsim.sim.variability import draw_paths

    n = len(times)
    grid = Grid(dt, n + 1, dt)

    def multiplier(config: dict, arms: int) -> np.ndarray:
        paths = draw_paths(Variability(requests=Latent.model_validate(config)), grid, arms, 1, (), rng)
        return paths.requests[1:, :, 0] if paths is not None else np.ones((n, arms))

    if uncertainty:
        m = np.concatenate([multiplier(config, 1) for config in parameter_draws(latent, replicates, rng)], axis=1)
    else:
        config = latent.as_config()
        config["common"] = 0.0
        config["bursts"] = {**config["bursts"], "common": 0.0}
        m = multiplier(config, replicates)
    base = np.maximum(scale * load.rate(times) * dt, 0.0)
    return rng.poisson(base[:, None] * m).astype(float)


@dataclass(frozen=True)
class Comparison:
    """The held-out check of one series (see :func:`compare`).

    ``observed`` ``(11,)`` and ``simulated`` ``(R, 11)`` are :data:`STATISTICS`;
    ``low``/``high`` the joint band; ``z`` the observed deviations in replicate
    standard deviations (of ``log D`` and ``atanh acf``); ``critical`` the ``LEVEL``
    quantile of the replicates' largest ``|z|``; ``level_ratio`` the held-out mean
    over the fitted load's mean on the same ticks (the simulation's scale); ``days``
    the fit report's day-to-day check of the first part against :data:`DAY_REPLICATES`
    simulations of it, pooled.
    """

    series: RequestSeries
    cut: int
    load: "LoadFit"
    latent: "LatentFit"
    observed: np.ndarray
    simulated: np.ndarray
    low: np.ndarray
    high: np.ndarray
    z: np.ndarray
    critical: float
    level_ratio: float
    days: DayToDay

    @property
    def inside(self) -> bool:
        """Every observed statistic inside the joint band (a non-finite one is never inside)."""
        return bool(np.all(np.abs(self.z) <= self.critical))

    @property
    def outside(self) -> list[str]:
        """The statistics outside the band, each as ``name observed [low, high]``."""
        return [f"{STATISTICS[i]} {self.observed[i]:.3g} not in [{self.low[i]:.3g}, {self.high[i]:.3g}]"
                for i in range(len(STATISTICS)) if not abs(self.z[i]) <= self.critical]

    @property
    def first_ticks(self) -> int:
        return self.cut

    @property
    def held_ticks(self) -> int:
        return len(self.series.counts) // self.series.compare_ticks * self.series.compare_ticks - self.cut


def _transform(values: np.ndarray) -> np.ndarray:
    """``log D`` and ``atanh acf``: scales on which the replicates' statistics are near normal."""
    out = np.array(values, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[..., 0] = np.log(out[..., 0])
    out[..., 1:] = np.arctanh(np.clip(out[..., 1:], -0.999999, 0.999999))
    return out


def _untransform(values: np.ndarray) -> np.ndarray:
    out = np.array(values, dtype=float)
    out[..., 0] = np.exp(out[..., 0])
    out[..., 1:] = np.tanh(out[..., 1:])
    return out


def fit_with_days(times: np.ndarray, counts: np.ndarray, dt: float) -> tuple["LoadFit", "LatentFit"]:
    """``fit_requests`` and the day spread, as ``rampsim calibrate`` fits the requests."""
    from rampsim.calibration.day_spread import with_day_spread
    from rampsim.calibration.estimators import fit_requests

    load, latent = fit_requests(times, counts, dt)
    return load, with_day_spread(load, latent, times, counts)


def compare(series: RequestSeries, *, first_part: float = FIRST_PART, replicates: int = REPLICATES,
            level: float = LEVEL, seed: int = SEED, match_level: bool = True, uncertainty: bool = True,
            fit: Optional[Callable] = None) -> Comparison:
    """Calibrate on the first part of ``series``, simulate the held-out rest ``replicates`` times, compare.

    1. The first ``first_part`` of the ticks (whole compared steps) go to
       :func:`fit_with_days` (``dt`` the series' step, Unix times so that the daily
       cycle can be found).
    2. The fitted model runs over the held-out ticks (their own clock times: the
       fitted daily cycle is extrapolated), ``replicates`` times (:func:`simulate`),
       with the held-out data's missing and masked ticks masked in every replicate.
       With ``match_level`` the simulated load is scaled by one factor, the held-out
       mean over the fitted load's mean there (``level_ratio``): the rolling mean
       removes the load profile and its drift from both sides, but ``D`` of
       multiplicative noise grows with the level (``D ~ 1 + s^2 mu``), so a level
       drift would otherwise count against the noise model.
    3. :func:`statistics` on the compared step (1 minute for the Azure 15-second
       bins, the native step elsewhere), observed and per replicate.

    Inside sampling error means: every observed statistic lies in the joint
    ``level`` band of the replicates. Each statistic is standardised by the
    replicates' mean and standard deviation on a near-normal scale (``log D``,
    ``atanh acf``); the band is ``mean +/- c sd``, ``c`` the ``level`` quantile over
    the replicates of their largest ``|z|`` across the 11 statistics: a max-|z|
    simultaneous band whose 11 checks together hold with probability ``level``
    (Bonferroni's aim, without its conservatism for strongly correlated lags).
    """
    if fit is None:
        fit = fit_with_days
    k = series.compare_ticks
    n = len(series.counts) // k * k
    cut = int(round(first_part * n / k)) * k
    load, latent = fit(series.times[:cut], series.counts[:cut], series.dt)
    held_times, held = series.times[cut:n], series.counts[cut:n]
    present = np.isfinite(held)
    predicted = float(np.mean(load.rate(held_times[present]) * series.dt))
    level_ratio = float(np.mean(held[present])) / predicted if predicted > 0 else math.nan
    scale = level_ratio if match_level and math.isfinite(level_ratio) else 1.0
    rng = np.random.default_rng(seed)
    simulated = simulate(load, latent, held_times, series.dt, replicates, rng, scale=scale, uncertainty=uncertainty)
    simulated[~present] = np.nan
    step = series.compare_step
    observed = statistics(aggregate(held, k), step)
    replica = statistics(aggregate(simulated, k), step)
    t_obs, t_rep = _transform(observed), _transform(replica)
    mean, sd = np.nanmean(t_rep, axis=0), np.nanstd(t_rep, axis=0, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (t_obs - mean) / sd
        critical = float(np.nanquantile(np.nanmax(np.abs((t_rep - mean) / sd), axis=1), level))
    low, high = _untransform(mean - critical * sd), _untransform(mean + critical * sd)
    first, model = series.counts[:cut], simulate(load, latent, series.times[:cut], series.dt, DAY_REPLICATES,
                                                 np.random.default_rng(seed + 1), uncertainty=False)
    model[~np.isfinite(first)] = np.nan
    days = day_to_day(aggregate(first, k), aggregate(model, k), step)
    return Comparison(series, cut, load, latent, observed, replica, low, high, z, critical, level_ratio, days)
