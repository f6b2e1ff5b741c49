"""A/B across versions: CPU time per replicate of whole sweep chunks (reference plan and mix, 100 gates).

Runs whichever rampsim is imported, so two checkouts can be compared in one session,
alternating to share the machine's noise::

    git worktree add --detach /tmp/old 1c7cd27        # the commit before the compiled judge
    for i in 1 2; do PYTHONPATH=/tmp/old python benchmarks/ab_chunk.py .; python benchmarks/ab_chunk.py .; done

The argument is the checkout whose ``scenarios/`` to read. Prints plain figures; asserts nothing.
"""
import inspect, sys, time
if {"-h", "--help"} & set(sys.argv[1:]) or len(sys.argv) != 2:
    print(__doc__, file=sys.stdout if len(sys.argv) == 2 else sys.stderr)
    sys.exit(0 if len(sys.argv) == 2 else 2)
import rampsim
from rampsim.experiment import chunks as c
from rampsim.experiment.axes import parse_axis
from rampsim.experiment.mix import load_mix
from rampsim.plan import load_plan
root = sys.argv[1]
GRID = ["rules.error_rate_rollback.threshold=0.2%..2%:10", "rules.*.sustain=0s,30s,1m,90s,2m,3m,4m,5m,7m,10m"]
plan = load_plan(f"{root}/scenarios/ramp-phase-50k.yaml"); mix = load_mix(f"{root}/scenarios/mix-reference.yaml", plan)
spec = c.SweepSpec.of(plan, mix, [parse_axis(a) for a in GRID], 1000, 1)
new = "gates" in inspect.signature(c.run_chunk).parameters
args = (c.compile_grid(spec),) if new else ()
tasks = spec.tasks()
for s in range(len(spec.scenarios)): c.run_chunk(spec, *args, s, 0, 1)
chosen = tasks[::len(tasks)//12][:12]
t = time.process_time()
for task in chosen: c.run_chunk(spec, *args, *task)
n = sum(b - a for _, a, b in chosen)
print(f"{'new' if new else 'old'} ({rampsim.__file__}): {(time.process_time()-t)/n*1000:.1f} ms CPU per replicate")
