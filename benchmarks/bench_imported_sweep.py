"""Sweep throughput of an imported Argo gate: 2 metrics measured every 30 s, a 4-hour ramp, 100 grid points.

Target (issue 14): at least 20 replicates per second per core. The gate is an AnalysisTemplate with an
error ratio and a p99 latency (the two dominant shapes of the real-gates corpus, on the ``http``
exporter's series), run as background analysis by a Rollout whose canary steps span 4 hours; the
grid varies the error ratio's ``failureLimit`` (0..9) and its threshold (10 values): 100 gates, each
run by its own Argo engine on every replicate of the reference mix (open loop, fluid fidelity).

Measured in this process (one core, no worker pool): the time per replicate split into the
simulation and the judging of the 100 gates, and the replicates per second. Prints figures, asserts
nothing.

    python benchmarks/bench_imported_sweep.py            # 40 replicates
    python benchmarks/bench_imported_sweep.py 100        # another count
    python benchmarks/bench_imported_sweep.py 40 --profile   # and the top of a cProfile of the judging
"""
from __future__ import annotations

import cProfile
import os
import pstats
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from _script import answer_help  # noqa: E402  (beside this script)

from rampsim.engine.judge import KINDS  # noqa: E402
from rampsim.experiment.chunks import SweepSpec, compile_grid, replicate_seed  # noqa: E402
from rampsim.experiment.axes import parse_axis  # noqa: E402
from rampsim.experiment.mix import load_mix  # noqa: E402
from rampsim.gates.argo_import import import_argo  # noqa: E402
from rampsim.gates.imported_plan import plan_yaml  # noqa: E402
from rampsim.plan import load_plan  # noqa: E402

HERE = Path(__file__).resolve().parent
MIX = HERE.parent / "scenarios" / "mix-reference.yaml"

TEMPLATE = """
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: canary-health}
spec:
  args:
  - name: canary-hash
  metrics:
  - name: error-ratio
    interval: 30s
    failureLimit: 2
    successCondition: len(result) == 0 || result[0] <= 0.01
    provider:
      prometheus:
        query: |
          sum(rate(http_requests_total{code=~"5..",rollouts_pod_template_hash="{{args.canary-hash}}"}[1m]))
          / sum(rate(http_requests_total{rollouts_pod_template_hash="{{args.canary-hash}}"}[1m]))
  - name: p99-latency
    interval: 30s
    failureLimit: 2
    successCondition: len(result) == 0 || result[0] < 0.5
    provider:
      prometheus:
        query: |
          histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket{rollouts_pod_template_hash="{{args.canary-hash}}"}[1m])) by (le))
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: learn}
spec:
  strategy:
    canary:
      analysis:
        templates: [{templateName: canary-health}]
        args: [{name: canary-hash, valueFrom: {podTemplateHashValue: Latest}}]
      steps:
      - setWeight: 5
      - pause: {duration: 1h}
      - setWeight: 20
      - pause: {duration: 1h}
      - setWeight: 50
      - pause: {duration: 1h}
      - setWeight: 80
      - pause: {duration: 1h}
"""
GRID = ["argo.metrics.error-ratio.failureLimit=0,1,2,3,4,5,6,7,8,9",
        "argo.metrics.error-ratio.threshold=0.005..0.05:10"]


def _plan(directory: Path):
    gate_file = directory / "gate.yaml"
    gate_file.write_text(textwrap.dedent(TEMPLATE))
    imported = import_argo([gate_file])
    plan_file = directory / "plan.yaml"
    plan_file.write_text(plan_yaml("argo", imported.gate, "imported-4h", imported.sources, imported.notes))
    return load_plan(plan_file)


def main(replicates: int, profile: bool) -> None:
    from rampsim.sim.scenario import Scenario
    from rampsim.sim.simulation import simulate

    with tempfile.TemporaryDirectory() as tmp:
        plan = _plan(Path(tmp))
    mix = load_mix(MIX, plan)
    spec = SweepSpec.of(plan, mix, [parse_axis(a) for a in GRID], replicates, seed=1)
    began = time.perf_counter()
    gates = compile_grid(spec)
    compiled = time.perf_counter() - began
    print(f"imported Argo gate (2 metrics every 30 s), {plan.duration / 3600:g}-hour ramp "
          f"({len(plan.phases)} phases, {plan.n_scrapes} scrapes), {len(gates)} grid points; reference mix; "
          f"one core; grid validated and built in {compiled:.2f} s")
    tasks = spec.tasks()
    scenarios = {}
    simulated = judged = 0.0
    runs_done = 0
    decided: dict[str, int] = {}
    profiler = cProfile.Profile() if profile else None
    for scenario, start, stop in tasks:
        if scenario not in scenarios:
            scenarios[scenario] = Scenario.build(plan, spec.scenarios[scenario][1])
        built = scenarios[scenario]
        t0 = time.perf_counter()
        runs = [simulate(built.plan, seed=replicate_seed(spec.seed, scenario, r), engine_factory=None, scenario=built)
                for r in range(start, stop)]
        t1 = time.perf_counter()
        if profiler:
            profiler.enable()
        verdicts = gates.judge([run.telemetry for run in runs])
        if profiler:
            profiler.disable()
        t2 = time.perf_counter()
        simulated += t1 - t0
        judged += t2 - t1
        runs_done += len(runs)
        for kind in verdicts.kind.ravel():
            decided[KINDS[kind]] = decided.get(KINDS[kind], 0) + 1
    total = simulated + judged
    print(f"  {runs_done} replicates in {total:.1f} s: simulation {simulated / runs_done * 1000:.0f} ms and judging "
          f"the {len(gates)} gates {judged / runs_done * 1000:.0f} ms per replicate")
    print(f"  {runs_done / total:.1f} replicates per second per core (target 20); judging alone "
          f"{runs_done / judged:.1f}/s, {runs_done * len(gates) / judged:,.0f} gate-runs/s")
    print("  verdicts (replicates x gates): " + ", ".join(f"{k} {v}" for k, v in sorted(decided.items())))
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    answer_help(__doc__)
    arguments = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(int(arguments[0]) if arguments else 40, "--profile" in sys.argv)
