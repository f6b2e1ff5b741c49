"""Argo Rollouts' AnalysisRun as a pure state machine: when each metric is measured and what the run concludes.

Rules A1–A4 of the real-gates README, each from Argo's source (``analysis/analysis.go`` unless
named):

* **A1 schedule** (``generateMetricTasks``, ``calculateNextReconcileTime``): a metric is first
  measured when the run starts, or ``initialDelay`` later; the next measurement is due
  ``interval`` after the previous one *finished*; after an Error it is retried after
  :data:`~rampsim.gates.argo_resolve.ERROR_RETRY_INTERVAL` (10 s) whatever the interval. Errors do
  not count toward ``count`` (``runMeasurements``); a Successful, Failed or Inconclusive
  measurement resets the consecutive-error count. Queries take no time here (the measurement
  finishes when it starts), so the cadence is exactly the interval.
* **A2 measurement** (``metricproviders/prometheus/prometheus.go`` ``processResponse``;
  ``utils/evaluate/evaluate.go`` ``EvaluateResult``): a scalar gives ``result`` as a float, a vector
  as a list of floats; the conditions are evaluated by :mod:`rampsim.gates.exprlang`; the
  decision table is :func:`measurement_phase`.
* **A3 metric** (``assessMetricStatus``): Failed when failed > failureLimit (−1 disables),
  Inconclusive when inconclusive > inconclusiveLimit, Error when consecutive errors >
  consecutiveErrorLimit, checked in that order each overwriting the last (Error wins over
  Inconclusive over Failed); Successful when ``count`` is reached or the run is terminated.
* **A4 run** (``asssessRunStatus``, ``utils/analysis/helpers.go`` ``IsTerminating``): once a
  non-dry-run metric is Failed, Error or Inconclusive the run terminates (the status update
  requeues it at once, so in the same instant): in-flight metrics stop, and the run's phase is
  the worst of its metrics (Successful < Running < Pending < Inconclusive < Error < Failed).

No clock, no I/O: :meth:`AnalysisRun.reconcile` is given the time and the query function.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Optional, Sequence

from rampsim.errors import RampsimError
from rampsim.gates.argo_resolve import ERROR_RETRY_INTERVAL, MetricSpec
from rampsim.gates.exprlang import ConditionError, ResultValue, evaluate_condition
from rampsim.gates.queries import QueryFunction, result_values

__all__ = ["AnalysisPhase", "ArgoMeasurement", "MetricState", "AnalysisRun", "measurement_phase", "take_measurement",
           "RUN_ORDER", "TOLERANCE"]

TOLERANCE = 1e-9
"""Seconds of float error below which two instants are the same reconcile."""


class AnalysisPhase(str, enum.Enum):
    """``AnalysisPhase`` (``pkg/apis/rollouts/v1alpha1/analysis_types.go``)."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCESSFUL = "Successful"
    FAILED = "Failed"
    ERROR = "Error"
    INCONCLUSIVE = "Inconclusive"

    @property
    def completed(self) -> bool:
        return self in (AnalysisPhase.SUCCESSFUL, AnalysisPhase.FAILED, AnalysisPhase.ERROR,
                        AnalysisPhase.INCONCLUSIVE)


RUN_ORDER = (AnalysisPhase.SUCCESSFUL, AnalysisPhase.RUNNING, AnalysisPhase.PENDING, AnalysisPhase.INCONCLUSIVE,
             AnalysisPhase.ERROR, AnalysisPhase.FAILED)
"""``analysisStatusOrder``: the worst metric decides the run."""


@dataclass(frozen=True)
class ArgoMeasurement:
    """One measurement: when, the phase, the value handed to the conditions, and Argo's message."""

    at: float
    metric: str
    phase: AnalysisPhase
    value: Optional[ResultValue]
    message: str = ""


def measurement_phase(value: ResultValue, success: Optional[str], failure: Optional[str]) -> tuple[AnalysisPhase, str]:
    """``EvaluateResult``: the phase of a measurement whose query returned ``value``.

    ==========================  =================================================================
    conditions set              phase
    ==========================  =================================================================
    neither                     Successful
    success only                Successful if it holds, else Failed
    failure only                Failed if it holds, else Successful
    both                        Failed if failure holds; else Successful if success holds; else Inconclusive
    an evaluation error         Error
    ==========================  =================================================================
    """
    holds_success = holds_failure = False
    try:
        if success:
            holds_success = evaluate_condition(success, value)
        if failure:
            holds_failure = evaluate_condition(failure, value)
    except ConditionError as exc:
        return AnalysisPhase.ERROR, exc.reason
    if not success and not failure:
        return AnalysisPhase.SUCCESSFUL, ""
    if success and not failure:
        holds_failure = not holds_success
    elif failure and not success:
        holds_success = not holds_failure
    if holds_failure:
        return AnalysisPhase.FAILED, ""
    if not holds_success:
        return AnalysisPhase.INCONCLUSIVE, ""
    return AnalysisPhase.SUCCESSFUL, ""


def take_measurement(spec: MetricSpec, query: Optional[QueryFunction], at: float) -> ArgoMeasurement:
    """Run ``spec``'s query at ``at`` and judge it (A2); ``query=None`` takes a nominal Successful measurement."""
    if query is None:
        return ArgoMeasurement(at, spec.key, AnalysisPhase.SUCCESSFUL, None, "nominal")
    try:
        value = result_values(query(spec.query, at))
    except RampsimError as exc:
        return ArgoMeasurement(at, spec.key, AnalysisPhase.ERROR, None, str(exc))
    phase, message = measurement_phase(value, spec.success, spec.failure)
    return ArgoMeasurement(at, spec.key, phase, value, message)


@dataclass
class MetricState:
    """``MetricResult``: the counters of one metric of a run."""

    spec: MetricSpec
    measurements: list[ArgoMeasurement] = field(default_factory=list)
    count: int = 0
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    error: int = 0
    consecutive_error: int = 0
    phase: AnalysisPhase = AnalysisPhase.PENDING
    message: str = ""

    def next_due(self, started_at: float) -> Optional[float]:
        """When the next measurement is due (A1), or ``None`` when this metric takes no more."""
        if self.phase.completed:
            return None
        if not self.measurements:
            return started_at + self.spec.initial_delay
        if self.spec.count is not None and self.count >= self.spec.count:
            return None
        last = self.measurements[-1]
        if last.phase is AnalysisPhase.ERROR:
            return last.at + ERROR_RETRY_INTERVAL
        if self.spec.interval is None:
            return None
        return last.at + self.spec.interval

    def record(self, measurement: ArgoMeasurement) -> None:
        """Count a finished measurement (``runMeasurements``)."""
        self.measurements.append(measurement)
        if measurement.phase is AnalysisPhase.ERROR:
            self.error += 1
            self.consecutive_error += 1
            return
        self.count += 1
        self.consecutive_error = 0
        if measurement.phase is AnalysisPhase.SUCCESSFUL:
            self.successful += 1
        elif measurement.phase is AnalysisPhase.FAILED:
            self.failed += 1
        else:
            self.inconclusive += 1

    def assess(self, terminating: bool) -> tuple[AnalysisPhase, str]:
        """``assessMetricStatus`` (A3): the metric's phase and why."""
        if self.phase.completed:
            return self.phase, self.message
        if not self.measurements:
            return (AnalysisPhase.SUCCESSFUL, "run terminated") if terminating else (AnalysisPhase.PENDING, "")
        spec = self.spec
        phase: Optional[AnalysisPhase] = None
        message = ""
        if spec.failure_limit >= 0 and self.failed > spec.failure_limit:
            phase, message = AnalysisPhase.FAILED, f"failed ({self.failed}) > failureLimit ({spec.failure_limit})"
        if self.inconclusive > spec.inconclusive_limit:
            phase, message = (AnalysisPhase.INCONCLUSIVE,
                              f"inconclusive ({self.inconclusive}) > inconclusiveLimit ({spec.inconclusive_limit})")
        if self.consecutive_error > spec.consecutive_error_limit:
            phase, message = (AnalysisPhase.ERROR, f"consecutiveErrors ({self.consecutive_error}) > consecutiveErrorLimit "
                                           f"({spec.consecutive_error_limit})")
        if phase is not None:
            return phase, message
        if spec.count is not None and self.count >= spec.count:
            return AnalysisPhase.SUCCESSFUL, f"count ({spec.count}) reached"
        if terminating:
            return AnalysisPhase.SUCCESSFUL, "run terminated"
        return AnalysisPhase.RUNNING, ""


class AnalysisRun:
    """One AnalysisRun: its metrics, measured at their due times, and its phase (A1–A4).

    ``error`` makes a run that fails before measuring (unresolved args, an invalid spec): it is
    Error from the start. ``nominal`` runs take every measurement as Successful without querying
    (the schedule when everything passes).
    """

    def __init__(self, name: str, specs: Sequence[MetricSpec], started_at: float, error: Optional[str] = None,
                 nominal: bool = False) -> None:
        self.name = name
        self.started_at = started_at
        self.metrics = [MetricState(spec) for spec in specs]
        self.nominal = nominal
        self.phase = AnalysisPhase.ERROR if error else AnalysisPhase.RUNNING if self.metrics else AnalysisPhase.SUCCESSFUL
        self.message = error or ("" if self.metrics else "no metrics")
        self.finished_at: Optional[float] = None if self.phase is AnalysisPhase.RUNNING else started_at
        self.terminated = False
        self.log: list[ArgoMeasurement] = []

    @property
    def completed(self) -> bool:
        return self.phase.completed

    @property
    def endless(self) -> bool:
        """Whether some metric measures until the run is terminated (no count, an interval)."""
        return any(state.spec.count is None for state in self.metrics)

    def next_due(self) -> Optional[float]:
        """The earliest time a measurement is due, or ``None``."""
        if self.completed:
            return None
        times = [t for t in (state.next_due(self.started_at) for state in self.metrics) if t is not None]
        return min(times) if times else None

    def reconcile(self, at: float, query: Optional[QueryFunction]) -> list[ArgoMeasurement]:
        """Take every measurement due at ``at`` (all metrics in parallel, as goroutines do), then assess."""
        if self.completed:
            return []
        taken: list[ArgoMeasurement] = []
        for state in self.metrics:
            due = state.next_due(self.started_at)
            if due is not None and due <= at + TOLERANCE:
                measurement = take_measurement(state.spec, None if self.nominal else query, at)
                state.record(measurement)
                taken.append(measurement)
        self.log.extend(taken)
        self._assess(at)
        return taken

    def terminate(self, at: float, reason: str = "run terminated") -> None:
        """Stop the run (a promotion past its step, the rollout fully promoted): unfinished metrics end Successful."""
        if self.completed:
            return
        self.terminated = True
        self._assess(at, reason)

    def _assess(self, at: float, reason: str = "") -> None:
        for _ in range(2):  # a metric that trips terminates the run: assess the others again, terminating
            terminating = self.terminated or any(
                state.phase in (AnalysisPhase.FAILED, AnalysisPhase.ERROR, AnalysisPhase.INCONCLUSIVE) and not state.spec.dry_run
                for state in self.metrics)
            for state in self.metrics:
                state.phase, state.message = state.assess(terminating)
            if terminating:
                break
        counted = [state for state in self.metrics if not state.spec.dry_run] or self.metrics
        if not all(state.phase.completed for state in counted):
            return
        if not self.metrics:
            self.phase, self.message, self.finished_at = AnalysisPhase.SUCCESSFUL, reason or "no metrics", at
            return
        worst = max(counted, key=lambda state: RUN_ORDER.index(state.phase))
        if any(state.spec.dry_run for state in counted):  # only dry-run metrics: they never fail the run
            worst = counted[0]
            worst_phase = AnalysisPhase.SUCCESSFUL
        else:
            worst_phase = worst.phase
        self.phase = worst_phase
        self.message = (f'Metric "{worst.spec.name}" assessed {worst_phase.value} due to {worst.message}'
                        if worst_phase is not AnalysisPhase.SUCCESSFUL else reason or "all metrics completed")
        self.finished_at = at

    def summary(self) -> str:
        """One line per metric: measurements and phase."""
        parts = []
        for state in self.metrics:
            parts.append(f"{state.spec.name}: {state.phase.value} ({state.successful} ok, {state.failed} failed, "
                         f"{state.inconclusive} inconclusive, {state.error} errors)")
        return "; ".join(parts)

