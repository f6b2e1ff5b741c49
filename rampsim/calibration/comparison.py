"""How well a calibrated model reproduces its history: observed against simulated, minute by minute.

:func:`compare` simulates the calibrated model over as long a stretch as the
history (open loop, all traffic on the stable arm) and compares, per series, the
distribution of 1-minute request counts, error rates and P99 latencies (two-sample
Kolmogorov-Smirnov statistic), their autocorrelation up to 30 minutes, and the
number of bursts the estimators detect in each. Minutes are autocorrelated, so the
KS p-value overstates the evidence: read the statistic as a distance. Last, whether
the request noise changes from day to day as the model's does
(:mod:`rampsim.calibration.day_to_day`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from rampsim.calibration.day_to_day import DayToDay, day_to_day
from rampsim.calibration.estimators.shared import DAY
from rampsim.calibration.fit import Calibration, calibrate, with_traffic
from rampsim.engine.metrics import histogram_quantile
from rampsim.plan import Plan, with_overrides
from rampsim.plan.schema import MAX_DURATION
from rampsim.telemetry import Telemetry
from rampsim.units import Kind, parse, positional

__all__ = ["SeriesComparison", "Comparison", "compare", "per_minute", "autocorrelation", "history_plan"]

MAX_LAG_MINUTES = 30


@dataclass(frozen=True)
class SeriesComparison:
    """One series, observed and simulated: per-minute values (P99 in seconds) and autocorrelations at lags 1..30
    minutes; ``unit`` is the series' label."""

    name: str
    unit: str
    observed: np.ndarray
    simulated: np.ndarray
    acf_observed: np.ndarray
    acf_simulated: np.ndarray
    ks: float
    p_value: float


@dataclass(frozen=True)
class Comparison:
    """Every compared series, the bursts detected in each process (observed, simulated) and the day-to-day check of
    the requests."""

    series: tuple[SeriesComparison, ...]
    bursts: dict[str, tuple[int, int]]
    simulated_days: float
    day_to_day: DayToDay


def history_plan(plan: Plan, duration: float, weight: str = "0%") -> Plan:
    """``plan`` as a long stretch of history: one phase at ``weight`` lasting ``duration`` (at most the
    longest plan, :data:`~rampsim.plan.schema.MAX_DURATION`), no rules, no checkpoints, no final-gate criteria,
    one SLO objective no service breaches (99% errors over a scrape interval, on an arm the history gives
    traffic: a plan needs one), rollback and advance at 0% and 100% (nothing judges it: a rule's window, or an
    objective's window and sustain, may be longer than a short history; a measure of an arm the history gives no
    traffic, or an action that would not move the canary from its one phase, is refused), and a load of bursts
    whose first burst comes after the stretch ends (the plan's own, kept by a fit of a short history) flat at its
    average: the plan would be refused for a load never reaching its peak."""
    from rampsim.sim.config import traffic_config

    interval = plan.telemetry.scrape_interval
    seconds = max(interval, min(round(duration / interval), MAX_DURATION // interval) * interval)
    written = f"{positional(seconds, 12)}s"
    overrides = {"phases": [{"name": "history", "weight": weight, "duration": written}],
                 "rules": {}, "checkpoints": {}, "final_gate.at": written,
                 "final_gate.criteria": {}, "slo.objectives": {"history": {
                     "metric": "error_rate", "arm": "canary" if parse(weight, Kind.RATIO) >= 1 else "baseline",
                     "op": ">", "threshold": "99%", "window": f"{positional(interval)}s"}},
                 "actions": {"rollback": "0%", "advance": "100%"}}   # a plan may write no actions: section
    load = plan.traffic.get("load") if isinstance(plan.traffic, dict) else None
    if isinstance(load, dict) and traffic_config(plan).load.shape == "bursts" and \
            traffic_config(plan).load.first >= seconds:
        overrides["traffic.load"] = {key: value for key, value in load.items() if key in ("average", "start")}
    return with_overrides(plan, overrides)


def per_minute(telemetry: Telemetry, arm: str) -> dict[str, np.ndarray]:
    """1-minute requests, error rate and P99 of ``arm`` (all segments), from whole minutes of scrapes."""
    layout = telemetry.layout
    a = layout.arm(arm)
    step = max(int(round(60.0 / layout.scrape_interval)), 1)
    ticks = (len(telemetry) - 1) // step * step
    rows = np.arange(0, ticks + 1, step)

    def increase(values: np.ndarray) -> np.ndarray:
        return np.diff(values[rows], axis=0)

    requests = increase(telemetry.requests[:, a].sum(axis=1))
    errors = increase(telemetry.errors[:, a].sum(axis=1))
    buckets = increase(telemetry.latency_bucket[:, a].sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        error_rate = np.where(requests > 0, errors / requests, np.nan)
    p99 = histogram_quantile(0.99, layout.latency_buckets, buckets)
    return {"requests": requests, "error_rate": error_rate, "p99": p99}


def autocorrelation(values: np.ndarray, lags: int = MAX_LAG_MINUTES) -> np.ndarray:
    """Sample autocorrelation at lags ``1..lags`` (missing values left out of each lag's pairs); ``NaN`` throughout
    for a series with fewer than two values (a series the history lacks) or of one value throughout (no minute with
    errors: it divided 0 by 0, with numpy's warning), and beyond a quarter of the series' values (Box and Jenkins'
    bound: with fewer pairs the estimate is noise, and left it above 1 on a 9-minute history)."""
    valid = int(np.isfinite(values).sum())
    if valid < 2:
        return np.full(lags, np.nan)
    x = values - np.nanmean(values)
    variance = np.nanmean(x * x)
    result = np.full(lags, np.nan)
    if not variance > 0:    # every value the same (no errors in any minute): no correlation is defined
        return result
    for lag in range(1, min(lags, len(x) - 1, valid // 4) + 1):
        result[lag - 1] = np.nanmean(x[lag:] * x[:-lag]) / variance
    return result


def compare(plan: Plan, calibration: Calibration, history: Telemetry, arm: str = "baseline",
            seed: int = 0) -> Comparison:
    """The calibrated model against ``history`` (see the module docstring)."""
    from rampsim.sim import simulate

    simulated_plan = with_overrides(history_plan(with_traffic(plan, calibration), calibration.duration),
                                    {"traffic.load.start": f"{positional(calibration.start % DAY)}s"})  # its clock
    run = simulate(simulated_plan, seed=seed, engine_factory=None)
    observed, simulated = per_minute(history, arm), per_minute(run.telemetry, "baseline")
    units = {"requests": "requests per minute", "error_rate": "error rate", "p99": "P99 latency"}
    series = []
    for name, unit in units.items():
        o, s = observed[name], simulated[name]
        o, s = o[np.isfinite(o)], s[np.isfinite(s)]
        ks = stats.ks_2samp(o, s) if len(o) and len(s) else None
        series.append(SeriesComparison(name, unit, o, s, autocorrelation(observed[name]),
                                       autocorrelation(simulated[name]),
                                       float(ks.statistic) if ks else np.nan, float(ks.pvalue) if ks else np.nan))
    refit = calibrate(simulated_plan, run.telemetry, arm="baseline", start=calibration.start)
    bursts = {"requests": (calibration.requests.bursts.count, refit.requests.bursts.count),
              "errors": (calibration.errors.bursts.count, refit.errors.bursts.count),
              "latency": (calibration.latency.latent.bursts.count, refit.latency.latent.bursts.count)}
    interval = history.layout.scrape_interval
    days = day_to_day(observed["requests"], simulated["requests"], max(int(round(60.0 / interval)), 1) * interval)
    return Comparison(tuple(series), bursts, float(run.telemetry.time[-1]) / 86400.0, days)
