"""Gate evaluation against a local Prometheus, one 15-second scrape at a time.

Backfills a 4-hour ramp of the reference plan into a fresh TSDB, starts
``prometheus`` on 127.0.0.1 (stopped by its pid at the end), catches the gate up
to 2 hours, then times the per-scrape step ``--follow`` takes every 15 s: one
HTTP query for the new scrape's samples, filling the telemetry row, and the
engine's ``observe``. Target (issue 5): under 100 ms per scrape.

    python benchmarks/bench_gate.py
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from _script import answer_help  # noqa: E402  (beside this script)

from rampsim.plan import load_plan  # noqa: E402
from rampsim.prod.openmetrics import write_openmetrics  # noqa: E402
from rampsim.prod.gate_run import GateRun  # noqa: E402
from rampsim.prod.source import PrometheusSource  # noqa: E402
from tests.builders import steady  # noqa: E402
from tests.prometheus_server import backfill, start_server, stop_server  # noqa: E402

REFERENCE = os.path.join(os.path.dirname(__file__), "..", "scenarios", "ramp-phase-50k.yaml")
START = 1740787200.0  # 2025-03-01T00:00:00Z


def main(scrapes: int = 480) -> None:
    plan = load_plan(REFERENCE)
    telemetry = steady(plan.layout, minutes=240, requests_per_scrape=1250 * 15)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with (work / "ramp.om").open("w") as handle:
            samples = write_openmetrics(telemetry, handle, START)
        began = time.perf_counter()
        backfill("promtool", work / "ramp.om", work / "tsdb")
        backfilled = time.perf_counter() - began
        server = start_server("prometheus", work / "tsdb", work)
        try:
            source = PrometheusSource(server.url, plan.layout)
            catch_up = GateRun(plan, source, START)
            began = time.perf_counter()
            list(catch_up.run_until(START + plan.duration))
            whole = time.perf_counter() - began

            gate = GateRun(plan, source, START, batch_ticks=1)
            half = len(telemetry) // 2
            list(gate.run_until(START + (half - 1) * plan.telemetry.scrape_interval))
            steps, reads = [], []
            for tick in range(half, min(half + scrapes, len(telemetry))):
                low, high = gate.grid.slot_ms(tick, tick)
                began = time.perf_counter()
                source.read(low, high)
                reads.append(time.perf_counter() - began)
                began = time.perf_counter()
                list(gate.run_to(tick))
                steps.append(time.perf_counter() - began)
        finally:
            stop_server(server)
    steps.sort()
    print(f"gate vs local Prometheus, reference plan ({len(telemetry)} scrapes of 15 s, "
          f"{len(plan.rules)} rules, {len(plan.checkpoints) + 1} checkpoints, {samples} samples backfilled "
          f"in {backfilled:.2f} s)")
    print(f"  one scrape (query + fill + engine), {len(steps)} scrapes from 2 h on: median "
          f"{statistics.median(steps) * 1e3:.1f} ms, p95 {steps[int(0.95 * len(steps))] * 1e3:.1f} ms, "
          f"max {steps[-1] * 1e3:.1f} ms (target < 100 ms)")
    print(f"  of which the HTTP query alone: median {statistics.median(reads) * 1e3:.1f} ms")
    print(f"  whole 4 h catch-up ({len(telemetry)} scrapes, batches of 240): {whole * 1e3:.0f} ms")


if __name__ == "__main__":
    answer_help(__doc__)
    main()
