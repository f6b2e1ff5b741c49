"""Does the request model reproduce its own training data, and does the estimator read its own model back?

    python benchmarks/refit_real_fits.py [SERIES ...]    # default: ms/mongo-02 ms/mongo-04 ms/machine-01

For each production series (``tests/realdata.py`` loads them from ``../shared/real-metrics``):
``fit_requests`` on the first 65% (as the real-data test does), then

1. the training part's own statistics (dispersion index ``D`` and acf at lags 1, 2 and 5, after the
   centred one-hour rolling mean) against the medians of 60 simulations of that part at the point
   estimates, with the fitted bursts and without them;
2. ``fit_requests`` again on ``--refits`` (default 4) of those simulations: a self-consistent estimator
   reads back about the parameters it simulated.

Prints plain figures; asserts nothing. Needs ``../shared/real-metrics``.
"""
from __future__ import annotations

import dataclasses
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from rampsim.calibration.estimators import fit_requests  # noqa: E402
from tests import realdata  # noqa: E402

DEFAULT = ("ms/mongo-02", "ms/mongo-04", "ms/machine-01")


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


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if {"-h", "--help"} & set(arguments):
        print(__doc__)
    else:
        main(arguments or list(DEFAULT))
