"""The README's figures for the count tests on 4-hour reference ramps with the shipped variability.

    python benchmarks/batched_count_test.py [RUNS]      # default 200 healthy ramps, 100 and 60 regressed

Simulates ramps of ``scenarios/ramp-phase-50k.yaml`` (its traffic model, whose error noise is
half shared and half each arm's own): healthy; with the canary's error rate raised by 0.07
points from the start (about twice the baseline's); and by 1.5 points from 1 hour (the
reference mix's error regression). It reads each scrape interval's errors and requests of both
arms as the engine does and prints, for the plain count test and the batched test at 1 and 2
minutes (alpha 5%, margins 0% and 100%), how often it rejects (healthy: a false detection, with
its Wilson 95% interval; regressed: a detection) and the median time of the rejections, from
the regression's start. It asserts nothing.
"""
from __future__ import annotations

import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from rampsim.engine.metrics import Series, sequential_inputs  # noqa: E402
from rampsim.experiment.results import wilson  # noqa: E402
from rampsim.faults import parse_fault  # noqa: E402
from rampsim.judges.sequential import batched_count_regression_test, count_regression_test  # noqa: E402
from rampsim.plan import load_plan  # noqa: E402
from rampsim.plan.schema import Criterion  # noqa: E402
from rampsim.sim import simulate  # noqa: E402

PLAN = os.path.join(os.path.dirname(__file__), "..", "scenarios", "ramp-phase-50k.yaml")
REGRESSION = "error-rate:canary:+0.07%@00:00"
LATE_REGRESSION = "error-rate:canary:+1.5%@1h"
TEST = Criterion.model_validate({"metric": "error_rate", "compare": "baseline", "test": "sequential",
                                 "op": ">", "threshold": "5%"}).measurement


def intervals(runs: int, fault: str | None, seed: int) -> tuple[np.ndarray, float]:
    """``(runs, intervals, 4)``: each scrape interval's canary errors, requests, baseline errors, requests."""
    plan, rows = load_plan(PLAN), []
    faults = [parse_fault(fault)] if fault else []
    for run in range(runs):
        telemetry = simulate(plan, faults, seed=seed + run, engine_factory=None).telemetry
        rows.append(sequential_inputs(Series.from_telemetry(telemetry), TEST, np.arange(1, len(telemetry.time))))
    return np.stack(rows), plan.telemetry.scrape_interval


def describe(crossing: np.ndarray, scrape: float, onset: float) -> str:
    found = crossing >= 0
    low, high = (float(bound[0]) for bound in wilson([found.sum()], [found.size]))
    median = f"{(np.median(crossing[found] + 1) * scrape - onset) / 60:.1f} min" if found.any() else "-"
    return f"{found.sum():4d}/{found.size} ({found.mean():6.1%}, [{low:.1%}, {high:.1%}]), median {median}"


def main(runs: int) -> None:
    began = time.perf_counter()
    for label, fault, onset, count, seed in (("healthy", None, 0.0, runs, 5000),
                                             ("2x errors from the start", REGRESSION, 0.0, runs // 2, 9000),
                                             ("+1.5 points from 1h", LATE_REGRESSION, 3600.0, runs * 3 // 10, 7000)):
        data, scrape = intervals(count, fault, seed)
        errors, requests, base_errors, base_requests = np.moveaxis(data, -1, 0)
        print(f"{label}, {count} ramps of 4 hours:")
        for margin in (0.0, 1.0):
            plain = count_regression_test(errors, base_errors, requests / (requests + base_requests),
                                          margin=margin).crossing
            print(f"  margin {margin:4.0%}  count test            {describe(plain, scrape, onset)}")
            for minutes in (1, 2):
                batch = int(round(60 * minutes / scrape))
                crossing = batched_count_regression_test(errors, requests, base_errors, base_requests,
                                                         batch=batch, margin=margin).crossing
                print(f"  margin {margin:4.0%}  batched, {minutes}-min batch  {describe(crossing, scrape, onset)}")
    print(f"({time.perf_counter() - began:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
