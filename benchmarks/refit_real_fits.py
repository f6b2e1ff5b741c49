"""Does the request model reproduce its own training data, and does the estimator read its own model back?

    python benchmarks/refit_real_fits.py [SERIES ...]    # default: the four Microsoft 1-minute series

For each production series (``tests/realdata.py`` loads them from ``../shared/real-metrics``):
``fit_requests`` on the first 65% (as the real-data test does), then

1. the training part's own statistics (dispersion index ``D`` and acf at lags 1, 2 and 5, after the
   centred one-hour rolling mean) against the medians of 60 simulations of that part at the point
   estimates, with the fitted bursts and without them;
2. ``fit_requests`` again on 4 of those simulations: a self-consistent estimator reads back about the
   parameters it simulated;
3. the shape of the wander: the autocovariance of the log ratio of the burst-free counts to the fitted
   load, at lags 1 to four correlation times, fitted by least squares with the model's shape (an AR(1),
   ``r^h``) and with a smooth one (an AR(1) filtered twice, ``r^h (1 + h (1 - r^2) / (1 + r^2))``,
   whose covariance is flat at lag 0), each with its residual sum of squares relative to the covariances'.

Prints plain figures; asserts nothing. Needs ``../shared/real-metrics``.
"""
from __future__ import annotations

import dataclasses
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from _script import answer_help  # noqa: E402  (beside this script)

from rampsim.calibration.estimators import fit_requests  # noqa: E402
from rampsim.calibration.estimators.latent import _burst_ticks  # noqa: E402
from rampsim.calibration.estimators.moments import _autocovariance  # noqa: E402
from tests import realdata  # noqa: E402

DEFAULT = ("ms/mongo-01", "ms/mongo-02", "ms/mongo-04", "ms/machine-01")
DAY = 86400.0


def described(latent) -> str:
    b = latent.bursts
    return (f"sd {latent.sd.value:.3f}, correlation time {latent.correlation_time.value / 60:.0f} min, jitter "
            f"{latent.jitter.value:.3f}; bursts {b.per_day.value:.1f}/day ({b.count}), {b.duration.value / 60:.0f} min, "
            f"x{b.multiplier.value:.2f}, spread {b.spread.value:.2f}")


def shown(statistics: np.ndarray) -> str:
    return f"D {statistics[0]:6.1f}  acf1 {statistics[1]:.2f}  acf2 {statistics[2]:.2f}  acf5 {statistics[5]:.2f}"


def main(names: list[str], refits: int = 4) -> None:
    missing = realdata.available()
    if missing:
        sys.exit(missing)
    for name in names:
        series = realdata.load(name)
        k = series.compare_ticks
        n = len(series.counts) // k * k
        cut = int(round(realdata.FIRST_PART * n / k)) * k
        times, counts = series.times[:cut], series.counts[:cut]
        load, latent = fit_requests(times, counts, series.dt)
        present = np.isfinite(counts)
        rng = np.random.default_rng(1)

        def simulated(model, replicates: int) -> np.ndarray:
            runs = realdata.simulate(load, model, times, series.dt, replicates, rng, uncertainty=False)
            runs[~present] = np.nan
            return runs

        no_bursts = dataclasses.replace(latent, bursts=dataclasses.replace(
            latent.bursts, per_day=dataclasses.replace(latent.bursts.per_day, value=0.0)))
        print(f"{name}: first part {cut * series.dt / 86400:.1f} days; fitted {described(latent)}")
        print(f"  observed                   {shown(realdata.statistics(realdata.aggregate(counts, k), series.compare_step))}")
        for label, model in (("simulated (median of 60)", latent), ("the same without bursts", no_bursts)):
            stats = realdata.statistics(realdata.aggregate(simulated(model, 60), k), series.compare_step)
            print(f"  {label:26} {shown(np.median(stats, axis=0))}")
        for run in simulated(latent, refits).T:
            _, again = fit_requests(times, run, series.dt)
            print(f"  refitted on a simulation:  {described(again)}")
        base = load.rate(times) * series.dt
        kept = np.isfinite(counts) & (counts > 0) & ~_burst_ticks(counts[:, None], base[:, None])
        log_ratio = np.where(kept, np.log(np.where(kept, counts, 1.0) / base), np.nan)
        for shape, (sd, tau, misfit) in covariance_shapes(log_ratio, series.dt).items():
            print(f"  covariance as {shape:7}: sd {sd:.3f}, correlation time {tau / 60:.0f} min, "
                  f"relative squared misfit {misfit:.4f}")


def covariance_shapes(x: np.ndarray, dt: float) -> dict[str, tuple[float, float, float]]:
    """The best ``sd^2 * shape(h)`` for each shape over lags 1 to four (pilot) correlation times: sd, correlation
    time and residual sum of squares over the covariances' (the estimator's own lag choice, shape by shape)."""
    covariance = _autocovariance(x - np.nanmean(x), len(x) // 8)
    taus = np.geomspace(dt / 2, 10 * DAY, 600)
    r = np.exp(-dt / taus)[:, None]
    shapes = {"AR(1)": lambda h: r ** h, "smooth": lambda h: r ** h * (1 + h * (1 - r ** 2) / (1 + r ** 2))}
    out = {}
    for name, shape in shapes.items():
        lags = np.arange(1, min(200, len(x) // 8) + 1)
        for _ in range(2):   # a pilot over 200 lags, then lags up to four of its correlation times
            basis, target = shape(lags), covariance[lags]
            amplitude = basis @ target / (basis ** 2).sum(axis=1)
            best = int(np.argmin(((amplitude[:, None] * basis - target) ** 2).sum(axis=1)))
            lags = np.arange(1, int(np.clip(4 * taus[best] / dt, 5, len(x) // 8)) + 1)
        misfit = float(((amplitude[best] * basis[best] - target) ** 2).sum() / (target ** 2).sum())
        out[name] = (math.sqrt(max(amplitude[best], 0.0)), float(taus[best]), misfit)
    return out


if __name__ == "__main__":
    answer_help(__doc__)
    main(sys.argv[1:] or list(DEFAULT))
