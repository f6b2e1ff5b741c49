"""The README's figures for the sequential tests on 4-hour reference ramps with the shipped variability.

    python benchmarks/sequential_tests.py [RUNS]      # default 200 healthy ramps, fewer regressed

Simulates ramps of ``scenarios/ramp-phase-50k.yaml`` (its traffic model, whose error and latency
noise is half shared and half each arm's own): healthy; with the canary's error rate raised by
0.07 points from the start (about twice the baseline's); by 1.5 points from 1 hour (the reference
mix's error regression); and every canary request 200 ms slower from 90 minutes (its latency
regression). Each test reads the scrape intervals as the engine does
(:func:`~rampsim.engine.metrics.sequential_p_values`), alpha 5%, at every scrape. It prints how
often each test rejects (healthy: a false detection, with its Wilson 95% interval; regressed: a
detection) and the median delay of the rejections from the regression's start. It asserts
nothing.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from _script import answer_help  # noqa: E402  (beside this script)

from rampsim.engine.metrics import Series, sequential_inputs, sequential_p_values  # noqa: E402
from rampsim.experiment.results import wilson  # noqa: E402
from rampsim.faults import parse_fault  # noqa: E402
from rampsim.plan import load_plan  # noqa: E402
from rampsim.plan.schema import Criterion, Measurement  # noqa: E402
from rampsim.sim import simulate  # noqa: E402

PLAN = os.path.join(os.path.dirname(__file__), "..", "scenarios", "ramp-phase-50k.yaml")
ALPHA = 0.05
SCENARIOS = (  # label, fault, its start (s), share of RUNS, seed, the metric it regresses
    ("healthy", None, 0.0, 1.0, 5000, None),
    ("2x errors from the start", "error-rate:canary:+0.07%@00:00", 0.0, 0.5, 9000, "error_rate"),
    ("+1.5 error points from 1h", "error-rate:canary:+1.5%@1h", 3600.0, 0.3, 7000, "error_rate"),
    ("+200 ms from 1h30m", "latency:canary:+200ms@1h30m", 5400.0, 0.3, 8000, "p99"),
)
TESTS = [(metric, margin, batch) for metric, margins in (("error_rate", ("0%", "100%")), ("p99", ("0%", "25%")))
         for margin in margins for batch in (None, "1m", "2m")]


def measurement(metric: str, margin: str, batch: str | None) -> Measurement:
    fields = {"metric": metric, "compare": "baseline", "test": "sequential", "margin": margin, "op": ">",
              "threshold": f"{ALPHA:%}"}
    return Criterion.model_validate({**fields, **({"batch": batch} if batch else {})}).measurement


def crossings(count: int, fault: str | None, seed: int, metrics: set[str]) -> tuple[dict, float]:
    """The first interval at which each test's p-value falls to alpha (-1: never), per ramp, and the scrape."""
    plan = load_plan(PLAN)
    faults = [parse_fault(fault)] if fault else []
    tests = {test: measurement(*test) for test in TESTS if test[0] in metrics}
    found: dict = {test: [] for test in tests}
    for run in range(count):
        telemetry = simulate(plan, faults, seed=seed + run, engine_factory=None).telemetry
        series, ends = Series.from_telemetry(telemetry), np.arange(1, len(telemetry.time))
        inputs = {metric: sequential_inputs(series, measurement(metric, "0%", None), ends) for metric in metrics}
        for test, measure in tests.items():
            crossed = sequential_p_values(measure, inputs[test[0]], telemetry.layout) <= ALPHA
            found[test].append(int(crossed.argmax()) if crossed.any() else -1)
    return {test: np.array(values) for test, values in found.items()}, plan.telemetry.scrape_interval


def describe(crossing: np.ndarray, scrape: float, onset: float) -> str:
    hit = crossing >= 0
    low, high = (float(bound[0]) for bound in wilson([hit.sum()], [hit.size]))
    median = f"{(np.median(crossing[hit] + 1) * scrape - onset) / 60:.1f} min" if hit.any() else "-"
    return f"{hit.sum():4d}/{hit.size} ({hit.mean():6.1%}, [{low:.1%}, {high:.1%}]), median {median}"


def main(runs: int) -> None:
    began = time.perf_counter()
    for label, fault, onset, share, seed, regressed in SCENARIOS:
        count = max(1, int(runs * share))
        metrics = {"error_rate", "p99"} if regressed is None else {regressed}
        found, scrape = crossings(count, fault, seed, metrics)
        print(f"{label}, {count} ramps of 4 hours:")
        for (metric, margin, batch), crossing in found.items():
            name = f"{metric} margin {margin}, {'batch ' + batch if batch else 'per scrape'}"
            print(f"  {name:34s} {describe(crossing, scrape, onset)}")
    print(f"({time.perf_counter() - began:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    answer_help(__doc__)
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
