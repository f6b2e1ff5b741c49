"""Sweep throughput and memory: the reference plan, the reference mix, 100 gates, on all cores.

Target (issue 4): 1,000 replicates of the mix × 100 grid points in under 60 s on
the 2-core machine. Target (issue 12): driver memory flat as replicates grow. Each
size runs in a fresh process (peak memory is a high-water mark), which prints wall
time, replicate-runs per second, gate evaluations per second, and its peak memory:
the driver's peak RSS and the largest worker's peak RSS; with ``--traced``, also the Python
memory the driver allocated at the peak of the sweep (tracemalloc: what the driver holds,
imports aside), which slows the driver (about 1.3 s of a 1,000-replicate sweep's 6.6 s here),
so the wall time of a traced run is not the sweep's.

    python benchmarks/bench_sweep.py                  # 1,000 and 10,000 replicates
    python benchmarks/bench_sweep.py 1000 5000        # chosen sizes
    python benchmarks/bench_sweep.py --keep-runs 1000 # keeping every run (one row per gate and replicate)
    python benchmarks/bench_sweep.py --traced 1000    # with the driver's Python allocations (slower)
    python benchmarks/bench_sweep.py --dask --wide 300 # 1,000 gates on a Dask LocalCluster (the driver's
                                                      # peak RSS then includes the scheduler's)
"""
from __future__ import annotations

import contextlib
import os
import resource
import subprocess
import sys
import time
import tracemalloc

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from _script import answer_help  # noqa: E402  (beside this script)

HERE = os.path.join(os.path.dirname(__file__), "..", "scenarios")
SUSTAINS = "rules.*.sustain=0s,30s,1m,90s,2m,3m,4m,5m,7m,10m"
GRID = ["rules.error_rate_rollback.threshold=0.2%..2%:10", SUSTAINS]
WIDE = ["rules.error_rate_rollback.threshold=0.2%..2%:100", SUSTAINS]
FLAGS = ("--keep-runs", "--traced", "--dask", "--wide")


def one(replicates: int, keep_runs: bool, traced: bool = False, dask: bool = False, wide: bool = False) -> None:
    """Run one sweep in this process and print its figures."""
    import scipy.stats  # noqa: F401  (the summary loads it on first use: imported here, it is not counted as held)

    from rampsim.experiment.mix import load_mix
    from rampsim.experiment.sweep import sweep
    from rampsim.plan import load_plan

    plan = load_plan(os.path.join(HERE, "ramp-phase-50k.yaml"))
    mix = load_mix(os.path.join(HERE, "mix-reference.yaml"), plan)
    workers = os.cpu_count() or 1
    if traced:
        tracemalloc.start()
    with contextlib.ExitStack() as stack:
        executor = None
        if dask:
            import distributed
            cluster = stack.enter_context(distributed.LocalCluster(n_workers=workers, threads_per_worker=1,
                                                                   processes=True, dashboard_address=None))
            executor = stack.enter_context(distributed.Client(cluster)).get_executor()
        begin = time.perf_counter()
        result = sweep(plan, mix, WIDE if wide else GRID, replicates=replicates, seed=1, workers=workers,
                       executor=executor, keep_runs=keep_runs)
        result.summary()
        elapsed = time.perf_counter() - begin
    _, allocated = tracemalloc.get_traced_memory()
    gates = len(result.grid)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"  {replicates:6d} replicates{' (runs kept)' if keep_runs else ''}{' on Dask' if dask else ''}: "
          f"{elapsed:7.1f} s wall, "
          f"{replicates / elapsed:6.1f} replicate-runs/s, {replicates * gates / elapsed:9.0f} gate evaluations/s; "
          f"driver peak RSS {own:.0f} MiB, "
          + (f"driver Python allocations at peak {allocated / 2 ** 20:.1f} MiB (traced: slower), " if traced else "")
          + f"largest worker {workers_peak:.0f} MiB", flush=True)


def main(arguments: list[str]) -> None:
    flags = [a for a in arguments if a in FLAGS]
    sizes = [int(a) for a in arguments if a not in flags] or [1000, 10000]
    gates = "1,000 gates (100 thresholds" if "--wide" in flags else "100 gates (10 thresholds"
    print(f"reference plan and mix, {gates} x 10 sustain times), {os.cpu_count() or 1} worker "
          f"processes, each size in a fresh driver process", flush=True)
    for replicates in sizes:
        subprocess.run([sys.executable, __file__, "--one", str(replicates), *flags], check=True)


if __name__ == "__main__":
    answer_help(__doc__)
    if sys.argv[1:2] == ["--one"]:
        one(int(sys.argv[2]), *(flag in sys.argv[3:] for flag in FLAGS))
    else:
        main(sys.argv[1:])
