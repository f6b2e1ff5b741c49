"""What calibrate's error-burst detection finds when errors are sparse (the README's calibrate section).

    python benchmarks/sparse_error_bursts.py

Four days of 15-second ticks at 20,000 requests a tick, 0.02 or 0.04 errors expected a tick,
without bursts and with 20 bursts of 30 times the rate over 12 ticks; five seeds each. Prints,
per seed, the bursts ``fit_errors`` found and its base rate over the truth. It asserts nothing.
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from _script import answer_help  # noqa: E402  (beside this script)

from rampsim.calibration.estimators import fit_errors  # noqa: E402

TICKS, REQUESTS = 4 * 5760, 20_000


def main() -> None:
    for expected in (0.02, 0.04):
        for multiplier, bursts in ((1, 0), (30, 20)):
            found = []
            for seed in range(5):
                rng = np.random.default_rng(100 + seed)
                m = np.ones(TICKS)
                for start in (rng.choice(np.arange(50, TICKS - 50, 200), bursts, replace=False) if bursts else []):
                    m[start:start + 12] *= multiplier
                errors = rng.binomial(REQUESTS, expected / REQUESTS * m)
                rates, latent = fit_errors(np.full(TICKS, float(REQUESTS)), errors.astype(float), 15.0)
                found.append(f"{latent.bursts.count} bursts, rate x{rates.rates[0].value / (expected / REQUESTS):.2f}")
            print(f"{expected} errors a tick, {bursts} bursts of x{multiplier} over 12 ticks: " + "; ".join(found))


if __name__ == "__main__":
    answer_help(__doc__)
    main()
