"""Sweep throughput: the reference plan, the reference mix, 100 gates, on all cores.

Target (issue 4): 1,000 replicates of the mix × 100 grid points in under 60 s on
the 2-core machine. Prints wall time, replicate-runs per second, gate evaluations
per second, and peak memory (this process and the worker processes) for growing
replicate counts, to show memory stays flat.

    python benchmarks/bench_sweep.py            # 250, 500 and 1,000 replicates
    python benchmarks/bench_sweep.py 1000       # one size
"""
from __future__ import annotations

import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from rampsim.experiment.mix import load_mix  # noqa: E402
from rampsim.experiment.sweep import sweep  # noqa: E402
from rampsim.plan import load_plan  # noqa: E402

HERE = os.path.join(os.path.dirname(__file__), "..", "scenarios")
GRID = ["rules.error_rate_rollback.threshold=0.2%..2%:10", "rules.*.sustain=0s,30s,1m,90s,2m,3m,4m,5m,7m,10m"]


def main(sizes: list[int]) -> None:
    plan = load_plan(os.path.join(HERE, "ramp-phase-50k.yaml"))
    mix = load_mix(os.path.join(HERE, "mix-reference.yaml"), plan)
    workers = os.cpu_count() or 1
    print(f"reference plan and mix, 100 gates (10 thresholds x 10 sustain times), {workers} worker processes")
    for replicates in sizes:
        begin = time.perf_counter()
        result = sweep(plan, mix, GRID, replicates=replicates, seed=1, workers=workers)
        elapsed = time.perf_counter() - begin
        gates = len(result.grid)
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        workers_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(f"  {replicates:5d} replicates: {elapsed:6.1f} s wall, {replicates / elapsed:6.1f} replicate-runs/s, "
              f"{replicates * gates / elapsed:9.0f} gate evaluations/s; peak RSS driver {own:.0f} MiB, "
              f"largest worker {workers_peak:.0f} MiB")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [250, 500, 1000])
