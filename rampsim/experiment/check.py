"""``check``: does a gate meet its bounds on false rollbacks, missed incidents and detection time?

A CI gate for gate configurations. Replicates run in batches; after each batch
every bound gets a confidence interval and a verdict: **met** (the whole interval
is within the bound), **exceeded** (the whole interval is beyond it) or
**undecided**. The check stops as soon as a bound is exceeded or all are met, else
at ``max_replicates``. Looking after every batch would inflate the error rate, so
each look uses a Bonferroni share of it: with ``K`` possible looks, intervals at
``1 - (1 - confidence) / K`` (exact, Clopper-Pearson, for the rates: Wilson's are too narrow
at such levels with few events); the overall verdict then holds at ``confidence``.

The rates are those of :meth:`~rampsim.experiment.results.SweepResult.summary`: stops of
environment incidents (a breach the release did not cause, reported on its own under
the plan's ``slo.environment_incidents: separate``) count neither as false rollbacks
nor as catches; under ``incident`` they are incidents like any other.

Because replicate ``j`` is the same simulated ramp whatever the total (see
:func:`~rampsim.experiment.mix.allocate`), stopping early sees exactly the first
runs of a longer check.
"""
from __future__ import annotations

import math
import tempfile
from contextlib import ExitStack
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from rampsim.errors import UsageError, whole_number
from rampsim.experiment.mix import Mix, as_mix
from rampsim.experiment.chunks import local_executor
from rampsim.experiment.main_guard import unguarded_script_line
from rampsim.experiment.sweep import sweep
from rampsim.experiment.tally import histogram_quantiles
from rampsim.plan.loader import as_plan
from rampsim.plan.schema import Plan
from rampsim.units import Kind, format_value

__all__ = ["BoundVerdict", "CheckReport", "check", "rate_bound", "MET", "EXCEEDED", "UNDECIDED"]

MET, EXCEEDED, UNDECIDED = "met", "exceeded", "undecided"


@dataclass(frozen=True)
class BoundVerdict:
    """One bound after the last look: the estimate, its interval and the verdict."""

    name: str
    limit: float
    estimate: float
    low: float
    high: float
    samples: int
    verdict: str

    @property
    def kind(self) -> Kind:
        """The bound's unit: a duration (the detection delay's quantile) or a rate."""
        return Kind.DURATION if self.name.startswith("detect") else Kind.RATIO

    @property
    def limit_text(self) -> str:
        """The bound as given: a rate to six significant digits (four read 99.999% as "100%")."""
        return f"{self.limit * 100:.6g}%" if self.kind is Kind.RATIO else format_value(self.limit, self.kind)


@dataclass
class CheckReport:
    """Every bound's verdict, the replicates run and the looks taken."""

    verdicts: list[BoundVerdict]
    replicates: int
    looks: int
    confidence: float
    history: list[list[BoundVerdict]] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        if any(v.verdict == EXCEEDED for v in self.verdicts):
            return EXCEEDED
        return MET if all(v.verdict == MET for v in self.verdicts) else UNDECIDED

    @property
    def passed(self) -> bool:
        return self.verdict == MET

    def describe(self) -> str:
        lines = [f"{self.verdict.upper()} after {self.replicates} replicates ({self.looks} look(s); "
                 f"{format_value(self.confidence, Kind.RATIO)} overall confidence)"]
        for v in self.verdicts:
            unit, scale = (" s", 1) if v.kind is Kind.DURATION else ("%", 100)
            bound = f"{v.limit:.6g} s" if v.kind is Kind.DURATION else v.limit_text
            lines.append(f"  {v.name}: {v.estimate * scale:.3g}{unit} [{v.low * scale:.3g}{unit}, "
                         f"{v.high * scale:.3g}{unit}] vs bound {bound} over {v.samples} runs: {v.verdict}")
        return "\n".join(lines)


def _rate_verdict(name: str, successes: int, trials: int, limit: float, level: float) -> BoundVerdict:
    if trials == 0:
        return BoundVerdict(name, limit, math.nan, 0.0, 1.0, 0, UNDECIDED)
    from scipy import stats   # on first use: importing scipy.stats takes a second

    interval = stats.binomtest(successes, trials).proportion_ci(level, method="exact")
    return _verdict(name, limit, successes / trials, interval.low, interval.high, trials)


def _quantile_verdict(name: str, delays: tuple[np.ndarray, np.ndarray], quantile: float, limit: float, level: float,
                      missed: int) -> BoundVerdict:
    """The bound on a quantile of the detection delays (a histogram: distinct values, counts)."""
    values, counts = delays  # a missed incident is never detected: it counts as an infinite delay
    values, counts = np.append(values, np.inf), np.append(counts, missed)
    samples = int(counts.sum())
    if samples < 3:
        return BoundVerdict(name, limit, math.nan, -math.inf, math.inf, samples, UNDECIDED)
    kept = counts > 0
    estimate, low, high = histogram_quantiles(np.zeros(int(kept.sum()), np.int64), values[kept], counts[kept], 1,
                                              quantile, level)
    return _verdict(name, limit, float(estimate[0]), float(low[0]), float(high[0]), samples)


def _verdict(name: str, limit: float, estimate: float, low: float, high: float, samples: int) -> BoundVerdict:
    verdict = MET if high <= limit else EXCEEDED if low > limit else UNDECIDED
    return BoundVerdict(name, limit, estimate, low, high, samples, verdict)


def rate_bound(name: str, rate: float) -> float:
    """``rate`` if it can serve as a bound on a rate (a fraction strictly between 0 and 1), else a
    :class:`~rampsim.errors.UsageError` naming ``name``: a bound of 0% could never be met (an interval from
    finitely many runs always reaches above 0%), one of 100% or more never exceeded (no rate is above 100%)."""
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not math.isfinite(rate):
        raise UsageError(f"{name} must be a rate (a fraction such as 0.01 for 1%), got {rate!r}")
    if rate >= 1:
        raise UsageError(f"{name} {format_value(rate, Kind.RATIO)}: a rate is never above 100%, so this bound could "
                         "never fail; give one below 100%")
    if rate <= 0:
        raise UsageError(f"{name} {format_value(rate, Kind.RATIO)}: a bound of 0% or less could never be met (an "
                         "interval from finitely many runs always reaches above 0%); give one above 0%")
    return float(rate)


def check(plan: Plan, mix: Optional[Mix] = None, *, max_false_rollback: Optional[float] = None,
          max_missed_incident: Optional[float] = None, max_detect: Optional[float] = None,
          detect_quantile: float = 0.9, confidence: float = 0.95, batch: int = 100, max_replicates: int = 2000,
          seed: int = 0, workers: Optional[int] = None, executor: Optional[Executor] = None,
          on_look: Optional[Callable[[CheckReport], None]] = None) -> CheckReport:
    """Check ``plan``'s gate against the bounds given (rates as fractions, ``max_detect`` in seconds)."""
    if max_false_rollback is None and max_missed_incident is None and max_detect is None:
        raise UsageError("give at least one bound: max_false_rollback, max_missed_incident or max_detect")
    plan = as_plan("check: plan", plan)
    mix = as_mix("check: mix", mix, plan)
    batch, max_replicates = whole_number("batch", batch, 1), whole_number("max_replicates", max_replicates, 1)
    seed = whole_number("seed", seed)
    if workers is not None:
        workers = whole_number("workers", workers, 1)
    if max_replicates < batch:
        raise UsageError("max_replicates must be at least one batch")
    if not (0 < confidence < 1 and 0 < detect_quantile < 1):
        raise UsageError(f"confidence ({confidence}) and detect_quantile ({detect_quantile}) must be strictly "
                         f"between 0 and 1")
    for name, rate in (("max_false_rollback", max_false_rollback), ("max_missed_incident", max_missed_incident)):
        if rate is not None:
            rate_bound(name, rate)
    if max_detect is not None and not 0 < max_detect < math.inf:
        raise UsageError(f"max_detect must be a positive, finite number of seconds, got {max_detect}")
    _decidable(plan, mix, max_replicates, max_false_rollback is not None,
               max_missed_incident is not None or max_detect is not None)
    looks_allowed = math.ceil(max_replicates / batch)
    bounds = sum(b is not None for b in (max_false_rollback, max_missed_incident, max_detect))
    level = 1 - (1 - confidence) / (looks_allowed * bounds)
    report = CheckReport([], 0, 0, confidence)
    with ExitStack() as stack:
        scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="rampsim-check-"))
        if executor is None and workers != 1 and unguarded_script_line() is None:   # one pool for every look
            executor = stack.enter_context(local_executor(workers))   # (an unguarded script: sweep says so, in-process)
        for look in range(1, looks_allowed + 1):
            replicates = min(look * batch, max_replicates)
            tally = sweep(plan, mix, replicates=replicates, seed=seed, workers=workers, executor=executor,
                          out=Path(scratch)).tally
            counts = tally.counts(by_scenario=False).iloc[0]   # environment incidents count on neither side
            verdicts = []
            if max_false_rollback is not None:
                verdicts.append(_rate_verdict("false_rollback_rate", int(counts["false_rollbacks"]),
                                              int(counts["healthy_runs"]), max_false_rollback, level))
            missed = int(counts["missed_incidents"])  # advanced, or never decided
            if max_missed_incident is not None:
                verdicts.append(_rate_verdict("missed_incident_rate", missed, int(counts["faced_incidents"]),
                                              max_missed_incident, level))   # early stops: neither caught nor missed
            if max_detect is not None:
                _, values, histogram = tally.gate_delays()
                verdicts.append(_quantile_verdict(f"detect_p{detect_quantile * 100:g}_s", (values, histogram),
                                                  detect_quantile, max_detect, level, missed))
            report = CheckReport(verdicts, replicates, look, confidence, [*report.history, verdicts])
            if on_look:
                on_look(report)
            if report.verdict != UNDECIDED:
                break
    return report


def _decidable(plan: Plan, mix: Mix, max_replicates: int, healthy_needed: bool, incidents_needed: bool) -> None:
    """A :class:`UsageError` when no replicate could ever count towards a bound asked for: a false-rollback bound
    on a mix of incidents only, or a missed-incident or detection bound on a mix the SLO finds no incident in
    (the check would run to ``max_replicates`` and end undecided), counting only the scenarios whose share
    gives them a replicate of the ``max_replicates``."""
    from rampsim.experiment.mix import allocate
    from rampsim.sim import Scenario
    from rampsim.sim.truth import ground_truth

    runs = allocate(max_replicates, mix.shares)
    truths = [ground_truth(Scenario.build(plan, list(scenario.faults))) for scenario in mix.scenarios]
    unrun = "" if runs.all() else (f" among the scenarios that get one of the {max_replicates:,} replicates (too small "
                                   f"a share for any: {', '.join(s.name for s, n in zip(mix.scenarios, runs) if not n)})")
    if incidents_needed and not any(truth.counted for truth, n in zip(truths, runs) if n):
        raise UsageError(f"the mix {mix.name!r} has no scenario the plan's SLO counts as an incident{unrun}: a "
                         "missed-incident or detection bound could never be decided (give a mix with incidents, e.g. "
                         "scenarios/mix-reference.yaml)")
    if healthy_needed and all(truth.incident for truth, n in zip(truths, runs) if n):
        raise UsageError(f"every scenario of the mix {mix.name!r} is an incident{unrun}: a false-rollback bound could "
                         "never be decided (add healthy scenarios)")
