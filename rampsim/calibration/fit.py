"""Calibration: the ``traffic:`` section of a plan fitted to the stable arm's history.

:func:`calibrate` reads per-tick increments of one arm of a history (requests and
errors per segment, latency buckets, health checks) and runs the estimators of
:mod:`rampsim.calibration.estimators`: the load profile, per-segment error rates,
the typical P99, the health-check failure rate and blips, and the request, error
and latency latent processes. :meth:`Calibration.traffic` writes the fitted values
over the plan's own section (what the history cannot tell, such as the instance
counts or revenue, is kept from the plan), and :func:`with_traffic` gives the plan
simulating that model. A parameter the history is too short or too sparse to estimate
(an :class:`~rampsim.calibration.estimators.Estimate` with ``fallback``) keeps the plan's
own value too, or the stated default where the plan gives none (the value the plan
simulates): a noise-free ``sd: 0`` in its place would make the model cleaner than
the service. A parameter the history did estimate, even as about 0 (an ``sd`` whose
interval holds 0), is written as fitted; but a rate of bursts or blips none of which the
history shows, whose interval still holds the plan's rate, cannot tell that rate from 0,
and a history shorter than a day cannot tell the load's shape, nor the average of a shape
but flat: the plan's are kept (:func:`_indistinct`).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace
from typing import Any, Optional

import numpy as np
from scipy import special

from rampsim.calibration.day_spread import with_day_spread
from rampsim.calibration.estimators import (
    ErrorRateFit, Estimate, HealthFit, LatencyFit, LatentFit, LoadFit, count_problems, fit_errors, fit_health,
    fit_latency, fit_requests,
)
from rampsim.calibration.estimators.load_profile import clock_time
from rampsim.calibration.estimators.shared import MIN_TICKS
from rampsim.engine.metrics import corrected_counters
from rampsim.plan import Plan, with_overrides
from rampsim.sim.config import TrafficConfig, Variability, traffic_config
from rampsim.telemetry import Telemetry
from rampsim.units import positional

__all__ = ["Calibration", "calibrate", "with_traffic", "clock_time", "states", "PEAKS_AS"]



@dataclass(frozen=True)
class Calibration:
    """Every fitted part of a service's traffic model, with the history it came from."""

    load: LoadFit
    error_rates: ErrorRateFit
    requests: LatentFit
    errors: LatentFit
    latency: LatencyFit
    health: HealthFit
    segments: tuple[str, ...]
    shares: tuple[float, ...]   # each segment's share of the requests; empty when the history has none
    instances: int
    ticks: int
    duration: float                       # from the history's first scrape of the arm's requests to its last
    arm: str
    data_problems: tuple[str, ...] = ()   # what the history's counts hold that the model cannot
    start: float = 0.0                    # that first scrape, unix seconds (its clock time of day)
    second_arm: Optional[str] = None      # the arm whose pods gave the common shares, if any
    shares_note: str = ""                 # why the shares are the plan's own, when the history has requests
    stated: frozenset[str] = frozenset()  # the estimates' paths the plan's traffic: section writes a value for
    # the plan's traffic as it simulates it, beside which an estimate may tell nothing (:func:`_indistinct`)
    simulated: Optional[TrafficConfig] = None

    def kept(self, path: str) -> str:
        """What stands for the estimate at ``path`` when the history cannot tell it: the plan's own value, or the
        stated default when the plan writes none."""
        return "the plan's own value" if path in self.stated else "the stated default (the plan gives none)"

    def estimates(self) -> dict[str, Estimate]:
        """Every estimate by its path in the ``traffic:`` section; the value of one the history could not tell
        (``fallback``) is ``NaN``: the plan's own is kept (:meth:`traffic`)."""
        found: dict[str, Estimate] = {"load.average": self.load.average}
        if self.load.shape == "diurnal":
            found.update({"load.peak": self.load.peak, "load.peak_at": self.load.peak_at})
            for harmonic in self.load.harmonics:
                found.update({f"load.harmonics.{harmonic.period}.amplitude": harmonic.amplitude,
                              f"load.harmonics.{harmonic.period}.peak_at": harmonic.peak_at})
        for name, rate in zip(self.segments, self.error_rates.rates):
            found[f"segments.{name}.error_rate"] = rate
        found["service.p99"] = self.service_p99()
        found["service.health_check_failure"] = self.health.failure
        for process, fit in (("requests", self.requests), ("errors", self.errors), ("latency", self.latency.latent)):
            prefix = f"variability.{process}"
            for field in ("sd", "correlation_time", "jitter", "common"):
                found[f"{prefix}.{field}"] = getattr(fit, field)
            if fit.day_spread is not None:
                found[f"{prefix}.day_spread"] = fit.day_spread
            for field in ("per_day", "duration", "multiplier", "spread", "common"):
                found[f"{prefix}.bursts.{field}"] = getattr(fit.bursts, field)
        found["variability.health_checks.per_day"] = self.health.per_day
        found["variability.health_checks.duration"] = self.health.duration
        if self.simulated is not None:
            found.update({path: replace(found[path], fallback=True, note=note)
                          for path, note in _indistinct(found, self.load, self.simulated).items()})
        # a parameter the history could not tell has no value of its own: the plan's is kept (NaN says so)
        return {path: replace(estimate, value=math.nan) if estimate.fallback else estimate
                for path, estimate in found.items()}

    def service_p99(self) -> Estimate:
        """The P99 at multiplier 1 (what ``service.p99`` means) from the P99 of a typical tick.

        A typical tick's latency multiplier is ``exp(E[log M])`` with ``E[log M] = -sd**2 / 2 +
        E[log G]`` and, for ``G ~ Gamma(k, 1/k)``, ``E[log G] = digamma(k) - log(k)``; a stretch
        multiplies every latency, so it divides the typical P99 and its interval (the uncertainty
        of ``sd`` and ``jitter`` moves the factor by far less than the interval's width).
        """
        latent = self.latency.latent
        sd, jitter = max(latent.sd.value, 0.0), max(latent.jitter.value, 0.0)
        mean_log = -sd * sd / 2
        if jitter > 0:
            k = 1.0 / jitter ** 2
            mean_log += float(special.digamma(k) - np.log(k))
        factor = float(np.exp(mean_log))
        typical = self.latency.p99
        return replace(typical, value=typical.value / factor, low=typical.low / factor, high=typical.high / factor,
                       method=f"{typical.method}, divided by a typical tick's latency multiplier {factor:.4g}")

    @property
    def peaks_as_bursts(self) -> bool:
        """Whether a history that cannot tell the load's shape (:attr:`LoadFit.told`) writes the flat level between
        the peaks of the plan's load of bursts, its request bursts holding them (else the plan's shape is kept)."""
        return not self.load.told and self.simulated is not None and _peaks_fitted(self.estimates(), self.simulated)

    def notes(self) -> list[str]:
        """What the history could not tell, each keeping the plan's own value (the stated default where the
        plan gives none); then what its counts hold that no counter of independent requests can
        (:func:`~rampsim.calibration.estimators.count_problems`)."""
        shape = [] if self.load.told else [f"load.shape: {self.load.peak_at.note}; " + (
            f"flat written: its peaks are the fitted {PEAKS_AS}" if self.peaks_as_bursts
            else f"{self.kept('load.shape')} is kept")]
        return shape + [f"{path}: {estimate.note or 'not estimable'}; {self.kept(path)} is kept"
                        for path, estimate in self.estimates().items() if estimate.fallback] + (
                    [f"segments.*.share: {self.shares_note}; the plan's own shares are kept"] if self.shares_note
                    else []) + list(self.data_problems)

    def traffic(self, plan: Plan) -> dict[str, Any]:
        """The plan's ``traffic:`` data with every fitted value written over it; a value the history could
        not tell stays the plan's own (a variability parameter the plan does not state: the stated default,
        which the plan simulates)."""
        traffic: dict[str, Any] = copy.deepcopy(plan.traffic or {})
        known = math.isfinite
        estimates = self.estimates()
        if known(estimates["load.average"].value):   # when the plan's ramp starts is the plan's, not the history's
            start = {"start": traffic["load"]["start"]} if "start" in (traffic.get("load") or {}) else {}
            traffic["load"] = {**self.load.as_config(), **start}
        segments = dict(traffic.get("segments") or {})
        if self.shares:   # the history's request shares (none without requests: the plan's stay)
            percents = [round(share * 100, 4) for share in self.shares]
            percents[-1] = round(100 - sum(percents[:-1]), 4)   # shares must add up to 100% exactly
            segments = {name: {**dict(segments.get(name) or {}), "share": f"{percent:.4f}%"}
                        for name, percent in zip(self.segments, percents)}
        for name, rate in zip(self.segments, self.error_rates.rates):
            if known(rate.value) and name in segments:
                segments[name] = {**dict(segments[name]), "error_rate": f"{max(rate.value, 0.0) * 100:.6g}%"}
        traffic["segments"] = segments
        service = dict(traffic.get("service") or {})
        instances = service.get("instances") or {"baseline": 45, "canary": 5}
        p99 = self.service_p99().value
        if known(p99):   # it holds at the history's average load, spread over the plan's instances
            service["p99"] = f"{positional(p99 * 1000)}ms"
            if known(self.load.average.value):   # (the plan's own P99 holds at its own normal load)
                service["normal_load"] = f"{self.load.average.value / sum(instances.values()):.6g}/s"
        if known(self.health.failure.value):
            service["health_check_failure"] = f"{min(max(self.health.failure.value, 0.0), 1.0) * 100:.6g}%"
        traffic["service"] = service
        traffic["variability"] = _kept({
            "requests": self.requests.as_config(), "errors": self.errors.as_config(),
            "latency": self.latency.latent.as_config(),
            "health_checks": {"per_day": max(self.health.per_day.value, 0.0),
                              "duration": f"{positional(max(self.health.duration.value, 1e-3))}s"},
        }, traffic.get("variability"), "variability", estimates)
        return traffic


def _kept(fitted: dict[str, Any], own: Any, path: str, estimates: dict[str, Estimate]) -> dict[str, Any]:
    """``fitted`` (the section at ``path``) with each parameter the history could not tell set back to the plan's
    own ``own`` where the plan states it (else the fitted mapping's stated default stays: the plan's value too), and
    what the plan states that the fit does not write kept as it is (the errors' and latency's ``day_spread``)."""
    own = own if isinstance(own, dict) else {}   # `variability: none`, or a process the plan leaves out
    kept: dict[str, Any] = {}
    for key, value in fitted.items():
        here = f"{path}.{key}"
        if isinstance(value, dict):
            kept[key] = _kept(value, own.get(key), here, estimates)
        elif here in estimates and estimates[here].fallback and own.get(key) is not None:
            kept[key] = copy.deepcopy(own[key])
        else:
            kept[key] = value
    kept.update({key: copy.deepcopy(value) for key, value in own.items() if key not in fitted})
    return kept


def _increments(values: np.ndarray) -> np.ndarray:
    """Per-tick increments of cumulative counters, a counter reset read as a restart from zero (as PromQL's
    ``increase`` reads it); ``NaN`` where either sample is missing."""
    return np.diff(corrected_counters(values), axis=0, prepend=np.full((1,) + values.shape[1:], np.nan))


def _sparse_scrapes(requests: np.ndarray, dt: float) -> list[str]:
    """A note when the history's scrapes of the arm's requests are farther apart than the plan's: an increment needs
    two consecutive scrapes, so most of such a history cannot be used."""
    present = np.flatnonzero(np.isfinite(requests).any(axis=-1))
    if len(present) < 3:
        return []
    spacing = float(np.median(np.diff(present))) * dt
    if spacing < 1.5 * dt:
        return []
    usable = int((np.diff(present) == 1).sum())
    return [f"the history's scrapes are {positional(spacing)}s apart, the plan's {positional(dt)}s: an increment "
            f"needs two consecutive scrapes, so {usable:,} of {len(present):,} are usable; calibrate against a plan "
            f"with telemetry.scrape_interval: {positional(spacing)}s"]


def calibrate(plan: Plan, history: Telemetry, arm: str = "baseline", start: float = 0.0,
              second_arm: Optional[str] = None, latency_absent: str = "") -> Calibration:
    """The traffic model of ``history``'s ``arm`` (see the module docstring); ``start`` is the history's first
    scrape in unix seconds, which places it in the day for the diurnal fit. ``latency_absent`` says why the
    history holds no latency histogram, when the reader knows (its histograms lack the plan's bounds).

    ``second_arm`` names another arm of the history holding a second, disjoint set of the stable service's pods
    on the same infrastructure (an A/A pair, or a past canary known to be healthy): what the two share gives the
    ``common`` shares of every latent process, which one arm cannot tell. Everything else is fitted from ``arm``.
    """
    layout = history.layout
    a = layout.arm(arm)
    dt = layout.scrape_interval
    times = start + history.time
    requests = _increments(history.requests[:, a])
    errors = _increments(history.errors[:, a])
    buckets = _increments(history.latency_bucket[:, a])
    checks = _increments(history.health_checks[:, a])
    ok = _increments(history.health_checks_ok[:, a])
    if second_arm is None:
        load, request_fit = fit_requests(times, requests, dt)
        rates, error_fit = fit_errors(requests, errors, dt)
        latency = fit_latency(buckets, layout.latency_buckets, dt, absent=latency_absent)
    else:
        if second_arm == arm:
            raise ValueError(f"the second arm must be another arm than {arm!r}")
        b = layout.arm(second_arm)
        requests_2 = _increments(history.requests[:, b])
        load, request_fit = fit_requests(times, requests, dt, other=requests_2)
        rates, error_fit = fit_errors(requests, errors, dt, other=(requests_2, _increments(history.errors[:, b])))
        latency = fit_latency(buckets, layout.latency_buckets, dt, other=_increments(history.latency_bucket[:, b]),
                              absent=latency_absent)
    request_fit = with_day_spread(load, request_fit, times, requests)
    rounds = dt / layout.health_check_interval
    per_tick = np.nanmedian(checks) if np.isfinite(checks).any() else 0.0
    instances = max(int(round(per_tick / rounds)), 1)
    health = fit_health(checks, ok, instances, layout.health_check_interval, dt)
    valid = int(np.isfinite(requests).all(axis=1).sum())
    shares, shares_note = _shares(requests, valid)
    read = np.flatnonzero(np.isfinite(history.requests[:, a]).any(axis=-1))   # the scrapes of the arm read
    first, last = (float(times[read[0]]), float(times[read[-1]])) if len(read) else (float(start), float(start))
    calibration = Calibration(
        load=load, error_rates=rates, requests=request_fit, errors=error_fit, latency=latency, health=health,
        segments=layout.segments, shares=shares, instances=instances, ticks=valid, duration=last - first, arm=arm,
        data_problems=tuple(_sparse_scrapes(history.requests[:, a], dt) + count_problems(requests, dt, "requests")
                            + count_problems(errors, dt, "errors", dispersion=False)),
        start=first, second_arm=second_arm, shares_note=shares_note, simulated=traffic_config(plan))
    return replace(calibration, stated=frozenset(p for p in [*calibration.estimates(), "load.shape"]
                                                 if states(plan.traffic, p)))


PEAKS_AS = "request bursts (variability.requests.bursts)"
EVENT_RATES = ("variability.requests.bursts.per_day", "variability.errors.bursts.per_day",
               "variability.latency.bursts.per_day", "variability.health_checks.per_day")
_LOAD_AVERAGES = {"bursts": "a bursts load's average counts its peaks, which this fit sets apart as request bursts",
                  "diurnal": "a diurnal load's average is the whole day's"}


def _indistinct(estimates: dict[str, Estimate], load: LoadFit, config: TrafficConfig) -> dict[str, str]:
    """The ``estimates`` a history made that cannot tell the value ``config`` simulates apart (path: why), for the
    plan's to be kept.

    A rate of events (bursts, blips) of which the history shows none, whose interval ``[0, high]`` still holds the
    plan's rate above 0: such a history is too short to tell that rate from 0, and its 0 would make the model
    cleaner than the service; a history whose bound falls below the plan's rate contradicts it, and its 0 is
    written. The load's average, when the history cannot tell the load's shape (shorter than a day, ``load``'s
    :attr:`~LoadFit.told`) and the plan's is not flat: a stretch's mean rate is not that shape's average, and the
    plan's whole load is kept (a flat one's is the mean rate, fitted). Not when the plan's load is one of bursts and
    the history's request bursts were fitted (:func:`_peaks_fitted`): they carry its peaks, and the flat level
    between them is written with them, as for a day or more of history (kept, the peaks were in the model twice).
    """
    indistinct = {}
    shape = config.load.shape
    if not load.told and shape != "flat" and not estimates["load.average"].fallback \
            and not _peaks_fitted(estimates, config):
        indistinct["load.average"] = f"{load.peak_at.note}, and {_LOAD_AVERAGES[shape]}"
    for path in EVENT_RATES:
        estimate = estimates[path]
        own = _configured(config.variability or Variability(), path)
        if not estimate.fallback and estimate.value == 0 and 0 < own <= estimate.high:
            event = "blip" if path.startswith("variability.health_checks") else "burst"
            indistinct[path] = (f"no {event} in the history, whose 95% interval [0, {estimate.high:.4g}] a day holds "
                                f"the plan's {own:g}: it cannot tell that rate from 0")
    return indistinct


def _peaks_fitted(estimates: dict[str, Estimate], config: TrafficConfig) -> bool:
    """Whether the plan's load is one of bursts and the history's request bursts were fitted: they hold its peaks."""
    bursts = estimates["variability.requests.bursts.per_day"]
    return config.load.shape == "bursts" and not bursts.fallback and bursts.value > 0


def _configured(variability: Variability, path: str) -> float:
    """The value ``variability`` simulates at the ``traffic:`` ``path`` (``variability.errors.bursts.per_day``)."""
    node: Any = variability
    for key in path.split(".")[1:]:
        node = getattr(node, key)
    return float(node)


def states(traffic: Any, path: str) -> bool:
    """Whether the plan's ``traffic:`` data writes a value at ``path`` (``variability.errors.sd``)."""
    for key in path.split("."):
        if not isinstance(traffic, dict) or traffic.get(key) is None:
            return False
        traffic = traffic[key]
    return True


def _shares(requests: np.ndarray, valid: int) -> tuple[tuple[float, ...], str]:
    """Each segment's share of the requests ``(T, S)`` and, when there are none to give (no requests, or fewer than
    :data:`~rampsim.calibration.estimators.shared.MIN_TICKS` complete ticks: a short stretch's shares are its own
    wander's), why not."""
    totals = np.nansum(requests, axis=0)
    if totals.sum() <= 0:
        return (), ""
    if valid < MIN_TICKS:
        return (), f"history too short: {valid} valid ticks, at least {MIN_TICKS} needed"
    return tuple(float(share) for share in totals / totals.sum()), ""


def with_traffic(plan: Plan, calibration: Calibration) -> Plan:
    """``plan`` simulating the calibrated traffic model."""
    return with_overrides(plan, {"traffic": calibration.traffic(plan)})
