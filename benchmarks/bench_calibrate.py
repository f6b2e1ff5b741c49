"""Calibration speed: 7 days of 15-second history of the reference plan's series.

The history is simulated (the reference service's stable arm, open loop), exported
as rampsim's per-tick CSV of the stable arm, read back through the recording
source and the gate's assembler (``read_history``), then fitted (``calibrate``).
Target (issue 9): under 30 seconds for reading and fitting together.

    python benchmarks/bench_calibrate.py
"""
from __future__ import annotations

import io
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from _script import answer_help  # noqa: E402  (beside this script)

from rampsim.calibration.comparison import history_plan  # noqa: E402
from rampsim.calibration.fit import calibrate  # noqa: E402
from rampsim.plan import load_plan  # noqa: E402
from rampsim.prod.history import read_history  # noqa: E402
from rampsim.prod.replay import FileSource  # noqa: E402
from rampsim.prod.tickcsv import read_tick_csv, write_tick_csv  # noqa: E402
from rampsim.sim import simulate  # noqa: E402

REFERENCE = os.path.join(os.path.dirname(__file__), "..", "scenarios", "ramp-phase-50k.yaml")
START = 1_740_787_200
DAYS = 7


def main() -> None:
    plan = load_plan(REFERENCE)
    begin = time.perf_counter()
    telemetry = simulate(history_plan(plan, DAYS * 86400), seed=1, engine_factory=None).telemetry
    simulated = time.perf_counter() - begin
    buffer = io.StringIO()
    write_tick_csv(telemetry, buffer, START, arms=["baseline"])
    text = buffer.getvalue()
    print(f"history: {DAYS} days, {len(telemetry):,} scrapes, CSV {len(text) / 1e6:.0f} MB "
          f"(simulated in {simulated:.1f} s)")
    wall, cpu = time.perf_counter(), time.process_time()
    source = FileSource(read_tick_csv(io.StringIO(text), "history.csv"))
    parsed = time.perf_counter() - wall
    history = read_history(plan, source, START, START + DAYS * 86400)
    assembled = time.perf_counter() - wall - parsed
    fitted = calibrate(plan, history.telemetry)
    total_wall, total_cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"parse CSV {parsed:.1f} s, assemble {assembled:.1f} s, fit {total_wall - parsed - assembled:.1f} s")
    print(f"calibrate 7 days: {total_wall:.1f} s wall, {total_cpu:.1f} s CPU (target < 30 s); "
          f"{len(fitted.notes())} parameters fell back to defaults")


if __name__ == "__main__":
    answer_help(__doc__)
    main()
