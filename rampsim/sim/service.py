"""The calibrated service: latency scale, utilisation, gauges and revenue at normal load.

Calibration reads the runbook's figures as holding at *normal load* (``normal_load``
requests per second on an instance, no fault): the service-time scale is solved
so that ``histogram_quantile(0.99, ...)`` of the expected latency histogram is the
configured P99 (46 ms); CPU grows linearly from ``cpu_idle`` with worker
utilisation and reads ``cpu`` at normal load; network grows from ``network_idle``
with requests per instance; memory is ``memory`` of the limit at normal load, of
which ``memory_load_share`` follows the load, plus whatever a leak added;
revenue per successful request makes the canary pool earn ``revenue`` per minute.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from rampsim.engine.metrics import histogram_quantile
from rampsim.sim import latency
from rampsim.sim.config import TrafficConfig
from rampsim.sim.queueing import Queue, queue

__all__ = ["ServiceModel", "bucket_probabilities", "stretched_bucket_probabilities", "mean_served_latency"]


def _outcomes(bounds: np.ndarray, in_range: np.ndarray, at_timeout: np.ndarray, shed: np.ndarray,
              fail_fast: np.ndarray, timeout: float, served_mean: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Buckets, timeout share and mean latency from the served-latency CDF at the bounds below the timeout
    (``in_range``: the first ones, bounds being increasing; the others read 1) and at the timeout."""
    keep = 1 - shed
    cumulative = np.ones(in_range.shape[:-1] + (len(bounds),))
    np.multiply(keep[..., None], in_range, out=cumulative[..., :in_range.shape[-1]])
    p_timeout = shed + keep * (1 - at_timeout)
    mean = p_timeout * timeout + (1 - p_timeout) * np.minimum(served_mean, timeout)
    if np.any(fail_fast):   # requests refused by a down instance take 1 ms
        ff = np.asarray(fail_fast, dtype=float)[..., None]
        cumulative = ff * (bounds >= latency.FAIL_FAST) + (1 - ff) * cumulative
        mean = fail_fast * latency.FAIL_FAST + (1 - fail_fast) * mean
    return cumulative, p_timeout, mean


def _points(bounds: np.ndarray, timeout: float) -> np.ndarray:
    return np.append(np.minimum(bounds, timeout), timeout)


def mean_served_latency(mix: latency.Mixture, q: Queue) -> np.ndarray:
    return (mix.weight * (mix.shift + mix.mean)).sum(axis=-1) + q.p_wait * q.wait_mean


def bucket_probabilities(bounds: np.ndarray, mix: latency.Mixture, q: Queue, fail_fast: np.ndarray,
                         timeout: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative ``P(latency <= le)`` per bound, the timeout probability and the mean latency.

    Requests refused by a down instance (``fail_fast``) take 1 ms; shed requests and those
    slower than ``timeout`` are cut off at the timeout.
    """
    bounds = np.asarray(bounds, dtype=float)
    served = latency.cdf(_points(bounds, timeout), mix, q.p_wait, q.wait_mean)
    below = int(np.searchsorted(bounds, timeout))
    return _outcomes(bounds, served[..., :below], served[..., -1], q.shed, fail_fast, timeout,
                     mean_served_latency(mix, q))


def stretched_bucket_probabilities(bounds: np.ndarray, table: latency.CdfTable, q: Queue, fail_fast: np.ndarray,
                                   served_mean: np.ndarray, timeout: float, steps: np.ndarray, index: np.ndarray,
                                   grid: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`bucket_probabilities` of cells that use row ``index`` of ``table``, ``q``, ``fail_fast`` and
    ``served_mean``, with every served request's latency multiplied by ``exp(steps * TABLE_STEP)``. With
    ``grid``, the cells are every row (``index`` a column ``(rows, 1)``) at consecutive steps (``steps`` a
    row ``(1, n)``), read from the table as slices.

    ``P(stretch * L <= le) = P(L <= le / stretch)``, read from the row's tabulated CDF.
    """
    bounds = np.asarray(bounds, dtype=float)
    below = int(np.searchsorted(bounds, timeout))     # increasing bounds: those at or above the timeout read 1
    points = np.log(np.append(bounds[:below], timeout))
    part = (table.stepped(points, int(steps[0, 0]), int(steps[0, -1]) + 1) if grid
            else table.at_steps(points, steps, index))
    stretch = np.exp(steps * latency.TABLE_STEP)
    return _outcomes(bounds, part[..., :-1], part[..., -1], q.shed[index], fail_fast[index], timeout,
                     served_mean[index] * stretch)


def _increasing_root(f: Callable[[float], float], low: float, high: float, tolerance: float = 1e-12) -> float:
    """The root of increasing ``f`` between ``low`` (``f < 0``) and ``high`` (``f > 0``), to within
    ``tolerance`` absolute plus relative: regula falsi, the Illinois way (an end kept twice running has its
    value halved, so both ends close in), and a bisection whenever two steps have not halved the bracket.
    Nearly linear functions take a few steps. (``scipy.optimize.brentq`` would do; importing
    ``scipy.optimize`` takes most of a second, which every sweep worker would pay for this one root.)"""
    f_low, f_high, kept = f(low), f(high), 0
    steps, width = 0, high - low
    while high - low > tolerance * (1 + max(abs(low), abs(high))):
        steps += 1
        bisect = steps % 2 == 0 and high - low > width / 2     # two steps have not halved the bracket
        guess = (low * f_high - high * f_low) / (f_high - f_low)
        if bisect or not low < guess < high:
            guess = (low + high) / 2
        value = f(guess)
        if value == 0:
            return guess
        if value < 0:
            low, f_low = guess, value
            if kept == 1:
                f_high /= 2
            kept = 1
        else:
            high, f_high = guess, value
            if kept == -1:
                f_low /= 2
            kept = -1
        if steps % 2 == 0:
            width = high - low
    return (low + high) / 2


@dataclass(frozen=True)
class ServiceModel:
    """A service configuration with its calibrated constants (build with :meth:`calibrate`)."""

    config: TrafficConfig
    bounds: tuple[float, ...]
    scale: float
    rho_normal: float
    revenue_per_success: float

    @classmethod
    def calibrate(cls, config: TrafficConfig, bounds: tuple[float, ...]) -> "ServiceModel":
        service = config.service
        le = np.asarray(bounds, dtype=float)

        def p99(scale: float) -> float:
            mean, scv = latency.service_moments(service.cache_hit_rate, scale)
            q = queue(np.array(service.normal_load), mean, scv, service.workers)
            mix = latency.mixture(service.cache_hit_rate, scale, 0.0, 0.0, 0.0, 0.0)
            cumulative, _, _ = bucket_probabilities(le, mix, q, np.array(0.0), service.timeout)
            return float(histogram_quantile(0.99, le, cumulative))

        low, high = 1e-3, 1.0
        while p99(high) < service.p99 and high < 1e3:
            high *= 2
        if not p99(low) < service.p99 < p99(high):
            raise ValueError(f"no service-time scale gives a P99 of {service.p99 * 1000:g}ms at "
                             f"{service.normal_load:g}/s per instance: check p99, workers and the latency buckets")
        # P99 grows about in proportion to the scale: on log scales the root is found in a few steps
        scale = math.exp(_increasing_root(lambda u: math.log(max(p99(math.exp(u)), 1e-300) / service.p99),
                                          math.log(low), math.log(high)))
        mean, _ = latency.service_moments(service.cache_hit_rate, scale)
        rho = service.normal_load * float(mean) / service.workers
        if rho >= 1:
            raise ValueError(f"at normal load the instances would be saturated (utilisation {rho:.2f}): "
                             "add workers or lower normal_load")
        base_errors = sum(s.share * s.error_rate for s in config.segments.values())
        canary_rate = service.normal_load * service.instances["canary"]
        revenue = config.revenue / 60.0 / (canary_rate * (1 - base_errors))
        return cls(config=config, bounds=tuple(bounds), scale=float(scale), rho_normal=rho,
                   revenue_per_success=revenue)

    def queue(self, per_instance: np.ndarray, hit: np.ndarray) -> Queue:
        """The queue at an instance receiving ``per_instance`` requests per second."""
        mean, scv = latency.service_moments(hit, self.scale)
        return queue(per_instance, mean, scv, self.config.service.workers)

    def cpu(self, rho: np.ndarray) -> np.ndarray:
        s = self.config.service
        return np.minimum(s.cpu_idle + (s.cpu - s.cpu_idle) * np.minimum(rho, 1.0) / self.rho_normal, 1.0)

    def network(self, per_instance: np.ndarray) -> np.ndarray:
        s = self.config.service
        return np.minimum(s.network_idle + (s.network - s.network_idle) * per_instance / s.normal_load, 1.0)

    def memory_bytes(self, per_instance: np.ndarray, leaked: np.ndarray) -> np.ndarray:
        s = self.config.service
        share = s.memory - s.memory_load_share + s.memory_load_share * per_instance / s.normal_load
        return s.memory_limit * share + leaked

    @property
    def headroom(self) -> float:
        """Bytes an instance at normal load can leak before it is OOM-killed."""
        s = self.config.service
        return s.memory_limit * (1 - s.memory)

    def revenue_per_request(self, arm: str) -> float:
        uplift = self.config.revenue_uplift
        return self.revenue_per_success if arm == "canary" else self.revenue_per_success / (1 + uplift)
