"""Engine throughput on the reference plan, step by step through the incremental API.

4 hours of telemetry at 5-second scrapes (2 arms x 3 segments), one ``observe`` call
per scrape, on one core. Target (issue 2): under 50 ms per 4-hour run.

    python benchmarks/bench_engine.py
"""
from __future__ import annotations

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from _script import answer_help  # noqa: E402  (beside this script)

from rampsim.engine import DecisionEngine  # noqa: E402
from rampsim.plan import load_plan, with_overrides  # noqa: E402
from tests.builders import steady  # noqa: E402

REFERENCE = os.path.join(os.path.dirname(__file__), "..", "scenarios", "ramp-phase-50k.yaml")


def main(repeats: int = 15) -> None:
    plan = with_overrides(load_plan(REFERENCE), {"telemetry.scrape_interval": "5s"})
    telemetry = steady(plan.layout, minutes=240, requests_per_scrape=1250 * 5)
    timings = []
    for _ in range(repeats):
        engine = DecisionEngine(plan)
        begin = time.perf_counter()
        for tick in range(len(telemetry)):
            engine.observe(telemetry, tick)
        timings.append(time.perf_counter() - begin)
    best, median = min(timings), statistics.median(timings)
    print(f"engine, reference plan, {len(telemetry)} scrapes at 5 s (4 h), {len(plan.rules)} rules, "
          f"{len(plan.checkpoints) + 1} checkpoints")
    print(f"  best {best * 1e3:.1f} ms, median {median * 1e3:.1f} ms per 4-hour run "
          f"({median / len(telemetry) * 1e6:.1f} us per scrape; target < 50 ms)")


if __name__ == "__main__":
    answer_help(__doc__)
    main()
