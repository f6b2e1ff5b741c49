"""One latent process (:func:`fit_latent`): bursts detected and masked, the persistent process and the
jitter fitted, the bursts measured; and the two count series fitted with it, requests with the load profile
(:func:`fit_requests`) and errors with the base error rates (:func:`fit_errors`).

Counts are fitted on the log scale when large (at least :data:`LOG_SCALE_COUNT` per tick), on the ratio scale
otherwise (:func:`_ratio_prepared`). A second arm's series on the same ticks gives the share of the persistent
process common to both arms (:func:`_common_share`).

Intervals (95%, two-sided):

==========================  ==================================================================
parameter                   interval
==========================  ==================================================================
common                      block jackknife on the cross-arm/own covariance ratio (second arm)
==========================  ==================================================================
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats  # type: ignore[import-untyped]

from rampsim.calibration.estimators.bursts import BurstFit, _burst_fit, _coincident, _measure_bursts
from rampsim.calibration.estimators.detection import DETECTION_WINDOW, _Detection, _detect
from rampsim.calibration.estimators.error_rates import ErrorRateFit, fit_error_rates
from rampsim.calibration.estimators.intervals import MAX_BLOCKS, MIN_BLOCKS, Estimate, _fallback, _jackknife
from rampsim.calibration.estimators.load_profile import LoadFit, fit_load
from rampsim.calibration.estimators.moments import (
    _Core, _core, _jitter_log_var, _lag_sums, _persistent_estimates, _to_log_cov,
)
from rampsim.calibration.estimators.shared import ABSENT, MIN_TICKS, Scale, _as_2d
from rampsim.units import positional

LOG_SCALE_COUNT = 100.0  # counts expected per tick above which a latent process is fitted on the log scale


@dataclass(frozen=True)
class LatentFit:
    """One latent process (:class:`~rampsim.sim.config.Latent`): persistent wander, jitter, bursts.

    ``ticks`` valid ticks were used, ``masked`` of them set aside as bursts; the
    jackknife used ``blocks`` blocks. ``day_spread`` is read for the requests only, by
    :func:`rampsim.calibration.day_spread.with_day_spread` (``None`` until then).
    """

    sd: Estimate
    correlation_time: Estimate
    jitter: Estimate
    common: Estimate
    bursts: BurstFit
    ticks: int
    masked: int
    blocks: int
    day_spread: Optional[Estimate] = None   # read for the requests only (:mod:`rampsim.calibration.day_spread`)

    def as_config(self) -> dict[str, Any]:
        """A mapping :class:`~rampsim.sim.config.Latent` validates (point estimates, clipped to its ranges)."""
        b = self.bursts
        day = {} if self.day_spread is None else {"day_spread": min(max(self.day_spread.value, 0.0), 1.5)}
        return {
            "sd": min(max(self.sd.value, 0.0), 3.0),
            "correlation_time": f"{positional(max(self.correlation_time.value, 1e-3))}s",
            "common": min(max(self.common.value, 0.0), 1.0),
            "jitter": min(max(self.jitter.value, 0.0), 3.0),
            **day,
            "bursts": {"per_day": min(max(b.per_day.value, 0.0), 1e4),
                       "duration": f"{positional(max(b.duration.value, 1e-3))}s",
                       "multiplier": min(max(b.multiplier.value, 1.0), 1e6),
                       "spread": min(max(b.spread.value, 0.0), 5.0),
                       "common": min(max(b.common.value, 0.0), 1.0)},
        }


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


def _too_short(valid: int, masked: int, left: int) -> str:
    """How many ticks a latent fit had against the :data:`MIN_TICKS` it needs: the ``valid`` ones and, when bursts
    were masked, the ``left`` ones outside them, which the fit reads (``"129 valid ticks, 12 in bursts: 117 left,
    at least 120 needed"``)."""
    counted = f"{valid} valid ticks, {masked} in bursts: {left} left" if masked else f"{left} valid ticks"
    return f"{counted}, at least {MIN_TICKS} needed"


def _fit(prepared: _Prepared, dt: float, other: Optional[_Prepared], max_blocks: int,
         absent: str = ABSENT) -> tuple[LatentFit, Optional[_Core], _Detection]:
    """Detect and mask bursts, fit the persistent process and the jitter, then measure the bursts; ``absent`` says
    why no tick is usable when none is."""
    det = prepared.detection()
    values, noise = prepared.make(det.mask)
    core = _core(values, noise, dt, prepared.scale, max_blocks)
    valid = np.isfinite(prepared.detect) & np.isfinite(prepared.detect_noise)
    n_valid, masked = int(valid.sum()), int((det.mask & valid).sum())
    left = int((np.isfinite(values) & np.isfinite(noise)).any(axis=1).sum())   # the ticks _core reads
    short = _too_short(n_valid, masked, left)
    if core is None:
        note = f"history too short: {short}" if n_valid else absent
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
    unusable = "" if core is not None else absent if not n_valid else (
        f"history too short to tell bursts from the persistent variation: {short}")
    fit = LatentFit(sd, tau, jitter, common, _burst_fit(measures, det, valid, dt, coincident, unusable),
                    n_valid, masked, k)
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
    requests on the same ticks. The day spread is left to
    :func:`rampsim.calibration.day_spread.with_day_spread`, which simulates the fitted model.
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
