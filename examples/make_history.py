"""Make the shipped recording ``examples/history/learning-api-1d.csv.gz``, reproducibly.

One day of the reference plan's stable service (``scenarios/ramp-phase-50k.yaml`` as
shipped, with its background variability), simulated open loop with every request on
the baseline (``history_plan``: one 24-hour phase at 0% canary, no checkpoints) and the
baseline on all 50 of the plan's instances, as the service runs outside a ramp. It is
written as a gzip-compressed per-tick CSV of the baseline's series only, the way a
team would export a day of its own Prometheus data. The seed and the first timestamp
(midnight UTC) are fixed and the gzip header carries no time, so every run writes the
same bytes.

It is the history the calibration notebook (``notebooks/calibration.ipynb``) and the
commands below read::

    rampsim calibrate scenarios/ramp-phase-50k.yaml --replay examples/history/learning-api-1d.csv.gz \\
        -o traffic.yaml --report fit
    rampsim backtest scenarios/ramp-phase-50k.yaml --replay examples/history/learning-api-1d.csv.gz

Run it from anywhere: ``python examples/make_history.py`` (a few seconds).
"""
from __future__ import annotations

import gzip
import io
import sys
import time
from pathlib import Path

from rampsim.calibration.comparison import history_plan
from rampsim.plan import load_plan, with_overrides
from rampsim.prod.tickcsv import write_tick_csv
from rampsim.sim import simulate

HERE = Path(__file__).resolve().parent
PLAN = HERE.parent / "scenarios" / "ramp-phase-50k.yaml"
OUTPUT = HERE / "history" / "learning-api-1d.csv.gz"

SECONDS = 86_400          # one day
SEED = 20240301           # the simulation's seed
START = 1_709_251_200     # 2024-03-01T00:00:00Z: the recording's first scrape


def main(output: Path = OUTPUT) -> int:
    """Write the recording to ``output`` (the shipped file by default)."""
    began = time.perf_counter()
    reference = load_plan(PLAN)
    # Outside a ramp the stable service runs on every instance: give the baseline the canary's
    # instances too, so that its per-instance load, CPU and network are the runbook's (250/s, 65%,
    # 58% at normal load) rather than those of 45 instances carrying all the traffic.
    instances = reference.source.data["traffic"]["service"]["instances"]
    stable = with_overrides(reference, {"traffic.service.instances.baseline": sum(instances.values())})
    plan = history_plan(stable, SECONDS)
    run = simulate(plan, seed=SEED, engine_factory=None)   # open loop: no gate, no decision
    output.parent.mkdir(parents=True, exist_ok=True)
    # gzip.open(OUTPUT, "wt", newline="") but with mtime=0 and no file name in the gzip header,
    # so that rerunning the script gives the same bytes (git sees no change).
    with open(output, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as compressed, \
            io.TextIOWrapper(compressed, encoding="utf-8", newline="") as handle:
        write_tick_csv(run.telemetry, handle, start=START, arms=["baseline"])
    print(f"{output}: {len(run.telemetry):,} scrapes of {plan.name} (seed {SEED}), "
          f"{output.stat().st_size / 1e6:.1f} MB, in {time.perf_counter() - began:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
