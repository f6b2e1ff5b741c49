"""``sweep``: the whole experiment in one call (scenarios × replicates × gate grid)."""
from __future__ import annotations

import os
from concurrent.futures import Executor
from pathlib import Path
from typing import Callable, Optional, Sequence, Union

from rampsim.errors import UsageError, whole_number
from rampsim.experiment.axes import Axis, expand, parse_grid
from rampsim.experiment.mix import Mix, as_mix
from rampsim.experiment.results import SweepResult
from rampsim.experiment.chunks import SweepSpec, gates_for, plan_digest, run_chunks, source_names, spec_metadata
from rampsim.experiment.tally import Tally
from rampsim.faults.syntax import check_faults
from rampsim.plan.loader import PlanError, as_plan
from rampsim.plan.schema import Plan

__all__ = ["sweep"]


def sweep(plan: Union[Plan, str, "os.PathLike[str]"], mix: Union[Mix, str, "os.PathLike[str]", None] = None,
          grid: Union[Sequence[Union[str, Axis]], str, Axis] = (),
          replicates: int = 100, seed: int = 0, *, fidelity: str = "fluid", executor: Optional[Executor] = None,
          workers: Optional[int] = None, out: Optional[Union[str, Path]] = None,
          on_chunk: Optional[Callable[[int, int], None]] = None, replace: bool = False,
          keep_runs: bool = False) -> SweepResult:
    """Judge every gate of ``grid`` on ``replicates`` simulated ramps of ``mix``; ``plan`` is a Plan or a plan
    file's path.

    ``mix`` is a Mix or a mix file's path, read against ``plan`` (default: healthy ramps). ``grid`` holds axes
    such as ``"rules.error_rate_rollback.threshold=0.3%..1%:8"`` (one axis may be given alone).
    Runs on ``executor`` (any ``concurrent.futures.Executor``, a Dask client's
    ``get_executor()`` included), else on a local process pool of ``workers``
    processes (all cores by default; ``workers=1`` runs in this process). With
    ``out``, chunks are saved as they finish and a rerun continues from them; the
    results are written there too; ``out`` holding another sweep is an error unless ``replace``
    (its chunks are then deleted). Identical results for any executor or worker count.

    The result holds the outcomes tallied per gate and scenario, a size that does not grow with
    ``replicates``; ``keep_runs`` keeps every run too (``result.runs``, one row per gate and replicate).
    """
    plan = as_plan("sweep: plan", plan)
    replicates, seed = whole_number("replicates", replicates, 1), whole_number("seed", seed)
    if workers is not None:
        workers = whole_number("workers", workers, 1)
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise UsageError(f"sweep: executor is a concurrent.futures.Executor (a Dask client's get_executor() too), "
                         f"got {executor!r:.80}")
    mix = as_mix("sweep: mix", mix, plan)   # a path too, as the rampsim.testing assertions and --mix take it
    axes = parse_grid(grid)
    points = expand(plan, axes)  # validates every grid point before any simulation
    given = plan
    problems = [f"mix {mix.name!r}, scenario {scenario.name!r}: fault {index + 1}: {message}"
                for scenario in mix.scenarios for index, message in check_faults(scenario.faults, given)]
    if problems:   # a mix made in Python, or read against another plan: refused before any worker starts, against
        raise PlanError(problems)   # the plan given (as load_mix and --mix), whatever the grid lengthens it to
    if plan.flagger is not None:   # a grid gate may decide later than the plan's own (a larger threshold...)
        from rampsim.gates.imported_plan import longest_flagger_ramp

        longer = longest_flagger_ramp(plan, [p.plan for p in points])
        if longer is not plan:
            plan, points = longer, expand(longer, axes)
    spec = SweepSpec.of(plan, mix, axes, replicates, seed, fidelity)
    out_path = Path(out) if out is not None else None
    gates = gates_for([p.plan for p in points])
    scenarios, sources = [s.name for s in mix.scenarios], source_names(plan)
    tally = Tally.empty(len(points), scenarios, sources)
    chunks = run_chunks(spec, tally, out_path, executor, workers, on_chunk, gates, replace, keep_runs)
    meta = {**spec_metadata(spec, mix), "changes": [p.changes for p in points]}
    if given.source is not None:   # the plan given, not a Flagger gate's lengthened one: what best_plan is given
        meta["plan_digest"] = plan_digest(given.source.data)
    result = SweepResult.from_chunks(chunks, [p.values for p in points], scenarios, sources, meta, tally)
    if out_path is not None:
        result.save(out_path)
    return result
