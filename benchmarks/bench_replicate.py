"""Per-replicate cost of a sweep, and the compiled judge alone.

Run ``python benchmarks/bench_replicate.py`` (one core; nothing runs in parallel). It
prints plain figures and asserts nothing. The reference plan and mix, warm (every
scenario of the mix built and one chunk run first, as a long sweep's workers are):

1. CPU time (``time.process_time``) and wall time per replicate of a whole sweep chunk
   with 100 gates (10 error-rate thresholds x 10 sustain times), with the minor page faults it
   took (on a VM each fresh page of memory costs microseconds: about 5 us here); simulation, then judging, split;
   and, first, what a short sweep pays on top in a fresh process: the first replicate of each
   scenario (building it) and the next ten (latency CDF ranges not reached yet);
2. the judge alone: gate x replicate evaluations per second of CPU time on chunks of 10
   simulated replicates, for 100 and 1,000 gates (100 thresholds x 10 sustain times).

    python benchmarks/bench_replicate.py [--chunks N]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from rampsim.engine.judge import CompiledGates  # noqa: E402
from rampsim.experiment.axes import expand, parse_axis  # noqa: E402
from rampsim.experiment.chunks import SweepSpec, _prepared, compile_grid, replicate_seed, run_chunk  # noqa: E402
from rampsim.experiment.mix import load_mix  # noqa: E402
from rampsim.plan import load_plan  # noqa: E402
from rampsim.sim import simulate  # noqa: E402

HERE = os.path.join(os.path.dirname(__file__), "..", "scenarios")
SUSTAINS = "rules.*.sustain=0s,30s,1m,90s,2m,3m,4m,5m,7m,10m"
GRID_100 = ["rules.error_rate_rollback.threshold=0.2%..2%:10", SUSTAINS]
GRID_1000 = ["rules.error_rate_rollback.threshold=0.2%..2%:100", SUSTAINS]


def clocks() -> tuple[float, float]:
    return time.process_time(), time.perf_counter()


def main(chunks: int) -> None:
    plan = load_plan(os.path.join(HERE, "ramp-phase-50k.yaml"))
    mix = load_mix(os.path.join(HERE, "mix-reference.yaml"), plan)
    spec = SweepSpec.of(plan, mix, [parse_axis(a) for a in GRID_100], 1000, seed=1)
    tasks = spec.tasks()
    gates = compile_grid(spec)
    scenarios, _, histograms = _prepared(spec, gates)
    cpu, wall = clocks()
    for scenario in range(len(scenarios)):  # cold: each scenario's first replicate computes its tables
        run_chunk(spec, gates, scenario, 0, 1)
    cold = time.process_time() - cpu
    cpu = time.process_time()
    for scenario in range(len(scenarios)):  # the next ten reach stretches the first did not
        run_chunk(spec, gates, scenario, 1, 11)
    early = time.process_time() - cpu
    chosen = tasks[:: max(1, len(tasks) // chunks)][:chunks]
    replicates = sum(stop - start for _, start, stop in chosen)

    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    cpu, wall = clocks()
    for task in chosen:
        run_chunk(spec, gates, *task)
    cpu_total, wall_total = (b - a for a, b in zip((cpu, wall), clocks()))
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults

    telemetries, sim_cpu = [], 0.0
    for scenario, start, stop in chosen:
        began = time.process_time()
        runs = [simulate(scenarios[scenario].plan, seed=replicate_seed(spec.seed, scenario, r), engine_factory=None,
                         scenario=scenarios[scenario], histograms=histograms) for r in range(start, stop)]
        sim_cpu += time.process_time() - began
        telemetries.append([run.telemetry for run in runs])
    print(f"reference plan and mix, {len(gates)} gates, {replicates} replicates in {len(chosen)} chunks (warm)")
    print(f"  whole chunk:  {cpu_total / replicates * 1000:6.2f} ms CPU, {wall_total / replicates * 1000:6.2f} ms wall "
          f"per replicate ({faults / replicates:,.0f} minor page faults)")
    print(f"  simulation:   {sim_cpu / replicates * 1000:6.2f} ms CPU per replicate")
    print(f"  before that, as a short sweep runs: the first replicate of each of the {len(scenarios)} scenarios "
          f"{cold / len(scenarios) * 1000:6.1f} ms CPU, the next ten {early / len(scenarios) / 10 * 1000:6.2f} ms CPU "
          "per replicate (scenario and latency tables built as runs reach them)")
    for label, grid in (("100", GRID_100), ("1,000", GRID_1000)):
        compiled = CompiledGates([p.plan for p in expand(plan, [parse_axis(a) for a in grid])])
        compiled.judge(telemetries[0])
        began = time.process_time()
        for batch in telemetries:
            compiled.judge(batch)
        judged = time.process_time() - began
        print(f"  judge alone, {label:>5} gates: {judged / replicates * 1000:6.2f} ms CPU per replicate, "
              f"{len(compiled) * replicates / judged:12,.0f} gate x replicate evaluations per second")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chunks", type=int, default=12, help="chunks of 10 replicates to time (default 12)")
    main(parser.parse_args().chunks)
