"""Flagger's canary analysis as a pure, tick-driven state machine (rules F1–F4 of the real-gates README).

Each rule from Flagger's source (``pkg/controller/scheduler.go`` unless named):

* **F1 schedule** (``scheduleCanaries``; ``v1beta1/canary.go`` ``GetAnalysisInterval``,
  ``GetAnalysisThreshold``): a tick every ``interval`` (default 60 s, at least 10 s); ``threshold``
  defaults to 1; a builtin check's ``{{ interval }}`` defaults to ``1m``, a template's is left as
  written (empty when unset).
* **F2 one tick** (``advanceCanary``): time 0 is the tick that detects the new revision and
  scales the canary up. On every later tick: if ``failedChecks >= threshold`` the canary is
  **rolled back**, *before* this tick's analysis; the first tick of the revision (weight 0, no
  iterations) runs only the pre-rollout webhooks; otherwise ``runAnalysis``: the **first failing
  check stops the tick and adds exactly 1** to failedChecks (whatever the number of failing
  metrics), and the weight does not move. ``failedChecks`` is **cumulative**: never reset by
  later successes. On success: canary (``runCanary``): the weight grows by ``stepWeight`` (or
  to the next ``stepWeights`` entry, ``nextStepWeight``) while below ``maxWeight``, and the
  canary is **promoted in the tick where the weight is already at least maxWeight**; A/B
  (``match`` + ``iterations``, ``runAB``) and blue/green (``iterations``, ``runBlueGreen``): each
  successful tick adds an iteration, and promotion comes once ``iterations`` are done
  (blue/green first routes all traffic to the canary for one more checked tick). The
  ``kubernetes`` provider forces blue/green with 10 iterations when none are set.
* **F3 checks** (``scheduler_metrics.go``, ``runBuiltinMetricChecks``, ``runMetricChecks``):
  ``thresholdRange`` fails when the value is below ``min`` or above ``max``; the legacy
  ``threshold`` fails a success rate below it, a duration or custom value above it; the
  duration is truncated to whole milliseconds (``time.Duration(int64(v)) * time.Millisecond``)
  before it is compared. A metric that is none of the builtins, has no ``templateRef`` and no
  ``query`` is never checked.
* **F4 no data** (``providers/prometheus.go`` ``RunQuery``): no series or NaN is "no values
  found", a failed check; a failed query too; with several series **the last one's value wins**.

Webhooks are assumed to pass (they call systems rampsim does not simulate).
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, replace
from typing import Callable, Optional

from rampsim.errors import RampsimError
from rampsim.gates.flagger_model import FlaggerGate, FlaggerMetric
from rampsim.gates.flagger_queries import (
    BUILTIN_QUERIES, MetricModel, _RenderError, duration_in_seconds, observer_for, render_query, trim_query,
)
from rampsim.gates.goduration import GoDurationError, parse_go_duration
from rampsim.gates.queries import QueryFunction

__all__ = ["Strategy", "CheckResult", "Tick", "CanaryMachine", "analysis_interval", "analysis_threshold", "threshold_ns",
           "max_weight", "next_step_weight", "never_shifted", "strategy_of", "run_check", "go_milliseconds",
           "MIN_INTERVAL", "DEFAULT_INTERVAL", "TOTAL_WEIGHT"]

MIN_INTERVAL = 10.0
DEFAULT_INTERVAL = 60.0
DEFAULT_METRIC_INTERVAL = "1m"
TOTAL_WEIGHT = 100
_INT64 = 2 ** 63


class Strategy(str, enum.Enum):
    CANARY = "canary"
    AB = "A/B"
    BLUEGREEN = "blue/green"


def analysis_interval(gate: FlaggerGate) -> float:
    """``GetAnalysisInterval``: the tick period (default 60 s, at least 10 s)."""
    written = gate.analysis.interval
    if not written:
        return DEFAULT_INTERVAL
    try:
        seconds = parse_go_duration(written)
    except GoDurationError:
        return DEFAULT_INTERVAL
    return max(seconds, MIN_INTERVAL)


def analysis_threshold(gate: FlaggerGate) -> int:
    """``GetAnalysisThreshold``: failed checks that trigger the rollback (default 1)."""
    return gate.analysis.threshold if gate.analysis.threshold and gate.analysis.threshold > 0 else 1


def max_weight(gate: FlaggerGate) -> int:
    """``maxWeight``: the last ``stepWeights`` entry, else ``maxWeight``, else 100."""
    analysis = gate.analysis
    if analysis.stepWeights:
        return min(TOTAL_WEIGHT, analysis.stepWeights[-1])
    if analysis.maxWeight:
        return analysis.maxWeight
    return TOTAL_WEIGHT


def never_shifted(gate: FlaggerGate) -> Optional[str]:
    """Why a Canary of the weights strategy never sends the canary traffic (no ``stepWeight`` above 0 and no
    ``stepWeights``: each tick adds 0%, and Flagger runs no metric check at 0%), or ``None``: rampsim refuses it in
    import, a plan's ``flagger:`` section and a sweep's grid, since nothing would be judged."""
    if strategy_of(gate)[0] is not Strategy.CANARY or next_step_weight(gate, 0) > 0:
        return None
    written = "no stepWeight" if gate.analysis.stepWeight is None else f"stepWeight {gate.analysis.stepWeight}"
    return (f"{written} and no stepWeights: each tick adds 0% to the canary's weight, and Flagger runs no metric "
            f"check at 0%: the canary never gets traffic, is never judged and never promoted (set the step it "
            f"should take, such as stepWeight: 10)")


def next_step_weight(gate: FlaggerGate, weight: int) -> int:
    """``nextStepWeight``: how much the canary weight grows on a successful tick."""
    analysis = gate.analysis
    steps = analysis.stepWeights or []
    if (analysis.stepWeight or 0) > 0 or not steps:
        return analysis.stepWeight or 0
    room = TOTAL_WEIGHT - weight
    if room == 0:
        return 1
    if weight == 0:
        return min(room, steps[0])
    for current, following in zip(steps, steps[1:]):
        if current == weight:
            return min(room, following - weight)
    return room


def _provider(gate: FlaggerGate) -> str:
    return gate.provider or gate.mesh


def strategy_of(gate: FlaggerGate) -> tuple[Strategy, int]:
    """The strategy and its iterations (``advanceCanary``): A/B, blue/green or canary weights."""
    iterations = gate.analysis.iterations or 0
    match = bool(gate.analysis.match)
    if _provider(gate) == "kubernetes":
        match = False
        if iterations < 1:
            iterations = 10
    if match and iterations > 0:
        return Strategy.AB, iterations
    if iterations > 0:
        return Strategy.BLUEGREEN, iterations
    return Strategy.CANARY, 0


def go_milliseconds(value: float, seconds: bool) -> int:
    """``time.Duration(int64(v)) * time.Millisecond`` in nanoseconds, with Go's int64 conversion and wrap-around
    on amd64 (a NaN or out-of-range float converts to -2**63)."""
    scaled = value * 1000 if seconds else value
    if not math.isfinite(scaled) or not -_INT64 <= scaled < _INT64:
        whole = -_INT64
    else:
        whole = int(scaled)
    return _wrap(whole * 1_000_000)


def _wrap(value: int) -> int:
    return (value + _INT64) % (2 * _INT64) - _INT64


def threshold_ns(value: float) -> int:
    """``time.Duration(threshold) * time.Millisecond`` (the float threshold truncated to whole ms)."""
    whole = int(value) if math.isfinite(value) and -_INT64 <= value < _INT64 else -_INT64
    return _wrap(whole * 1_000_000)


@dataclass(frozen=True)
class CheckResult:
    """One metric check of a tick."""

    metric: str
    passed: bool
    value: Optional[float]
    message: str


def _value(query: QueryFunction, expr: str, at: float) -> float:
    """``RunQuery``: the value of the last series; ``LookupError`` for no values (none or NaN)."""
    result = query(trim_query(expr), at)
    if result.result_type == "scalar":
        raise LookupError("error unmarshaling result: a scalar is not a vector")
    value: Optional[float] = None
    for sample in result.vector:  # the loop overwrites: the last series wins
        value = float(sample.value)
    if value is None or math.isnan(value):
        raise LookupError("no values found")
    return value


def run_check(gate: FlaggerGate, metric: FlaggerMetric, query: QueryFunction, at: float,
              kind: str) -> Optional[CheckResult]:
    """The check of ``metric`` as ``runBuiltinMetricChecks`` (``kind='builtin'``) or ``runMetricChecks``
    (``kind='template'``) runs it; ``None`` when that function does not check this metric."""
    observer = observer_for(gate.mesh, gate.provider)
    ingress = str((gate.ingressRef or {}).get("name") or gate.target)
    service = str((gate.service or {}).get("name") or gate.target)
    if kind == "builtin":
        if metric.name in BUILTIN_QUERIES[observer]:
            model = MetricModel(gate.name, gate.namespace, gate.target, service, ingress,
                                metric.interval or DEFAULT_METRIC_INTERVAL)
            builtin = _builtin(metric, observer, model, query, at)
            if not builtin.passed or not metric.query:
                return builtin
        if metric.query:
            return _judge(metric, lambda: _value(query, metric.query or "", at), legacy="above")
        return None
    if metric.templateRef is None:
        return None
    template = gate.template_for(metric)
    if template is None:
        ref = metric.templateRef
        return CheckResult(metric.name, False, None, f"Metric template {ref.name}.{ref.namespace or gate.namespace} "
                                                     f"error: not found")
    model = MetricModel(gate.name, gate.namespace, gate.target, service, ingress, metric.interval or "",
                        tuple(sorted((metric.templateVariables or {}).items())),
                        str((gate.routeRef or {}).get("name") or gate.target))
    try:
        rendered = render_query(template.query, model)
    except _RenderError as exc:
        return CheckResult(metric.name, False, None, f"Metric template {template.name} query render error: {exc}")
    return _judge(metric, lambda: _value(query, rendered, at), legacy="above")


def _builtin(metric: FlaggerMetric, observer: str, model: MetricModel, query: QueryFunction,
             at: float) -> CheckResult:
    rendered = render_query(BUILTIN_QUERIES[observer][metric.name], model)
    if metric.name == "request-success-rate":
        return _judge(metric, lambda: _value(query, rendered, at), legacy="below")
    try:
        raw = _value(query, rendered, at)
    except LookupError as exc:
        return CheckResult(metric.name, False, None, f"Halt advancement {exc} for {observer} metric {metric.name}")
    except RampsimError as exc:
        return CheckResult(metric.name, False, None, f"Prometheus query failed: {exc}")
    nanos = go_milliseconds(raw, duration_in_seconds(observer))
    shown = nanos / 1e6
    bounds = metric.thresholdRange
    if bounds is not None:
        if bounds.min is not None and nanos < threshold_ns(bounds.min):
            return CheckResult(metric.name, False, shown, f"request duration {shown:g}ms < {bounds.min:g}ms")
        if bounds.max is not None and nanos > threshold_ns(bounds.max):
            return CheckResult(metric.name, False, shown, f"request duration {shown:g}ms > {bounds.max:g}ms")
    elif nanos > threshold_ns(metric.threshold or 0.0):
        return CheckResult(metric.name, False, shown, f"request duration {shown:g}ms > {metric.threshold or 0:g}ms")
    return CheckResult(metric.name, True, shown, "")


def _judge(metric: FlaggerMetric, read: Callable[[], float], legacy: str) -> CheckResult:
    try:
        value = read()
    except LookupError as exc:
        return CheckResult(metric.name, False, None, f"Halt advancement {exc} for metric {metric.name}")
    except RampsimError as exc:
        return CheckResult(metric.name, False, None, f"Prometheus query failed for {metric.name}: {exc}")
    bounds = metric.thresholdRange
    if bounds is not None:
        if bounds.min is not None and value < bounds.min:
            return CheckResult(metric.name, False, value, f"{metric.name} {value:.2f} < {bounds.min:g}")
        if bounds.max is not None and value > bounds.max:
            return CheckResult(metric.name, False, value, f"{metric.name} {value:.2f} > {bounds.max:g}")
        return CheckResult(metric.name, True, value, "")
    threshold = metric.threshold or 0.0
    if legacy == "below" and threshold > value:
        return CheckResult(metric.name, False, value, f"{metric.name} {value:.2f} < {threshold:g}")
    if legacy == "above" and value > threshold:
        return CheckResult(metric.name, False, value, f"{metric.name} {value:.2f} > {threshold:g}")
    return CheckResult(metric.name, True, value, "")



@dataclass(frozen=True)
class Tick:
    """What one tick did: its time, number, checks, and the resulting weight, failed checks and decision."""

    time: float
    number: int
    checks: tuple[CheckResult, ...]
    weight: int
    failed_checks: int
    action: str          # "advance", "iterate", "halt", "rollback", "promote"
    message: str = ""
    traffic: float = 0.0  # the canary's share of traffic after the tick


@dataclass
class CanaryMachine:
    """One analysis of a new revision, from ``start`` (tick 0: the revision is detected)."""

    gate: FlaggerGate
    start: float = 0.0
    nominal: bool = False
    weight: int = 0
    iterations: int = 0
    failed_checks: int = 0
    ticks_done: int = 0
    outcome: Optional[str] = None      # "promoted" or "rolled back"
    bluegreen_all: bool = False
    log: list[Tick] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.interval = analysis_interval(self.gate)
        self.threshold = analysis_threshold(self.gate)
        self.max_weight = max_weight(self.gate)
        self.strategy, self.target_iterations = strategy_of(self.gate)

    @property
    def done(self) -> bool:
        return self.outcome is not None

    def next_time(self) -> Optional[float]:
        return None if self.done else self.start + (self.ticks_done + 1) * self.interval

    @property
    def traffic(self) -> float:
        """The canary's share of live traffic now (0 to 1)."""
        if self.outcome == "promoted":
            return 1.0
        if self.outcome == "rolled back":
            return 0.0
        if self.strategy is Strategy.CANARY:
            return self.weight / TOTAL_WEIGHT
        if self.strategy is Strategy.AB:
            return self.gate.assume.ab_weight if self.iterations > 0 else 0.0
        if self.bluegreen_all:
            return 1.0
        return self.gate.assume.bluegreen_weight if self.iterations > 0 else 0.0

    def advance(self, until: float, query: Optional[QueryFunction]) -> list[Tick]:
        """Every tick up to ``until`` (inclusive)."""
        out: list[Tick] = []
        while not self.done:
            at = self.next_time()
            if at is None or at > until + 1e-9:
                break
            out.append(replace(self._tick(at, query), traffic=self.traffic))
        self.log.extend(out)
        return out

    def _tick(self, at: float, query: Optional[QueryFunction]) -> Tick:
        self.ticks_done += 1
        number = self.ticks_done
        if self.gate.skipAnalysis:
            self.outcome = "promoted"
            return Tick(at, number, (), TOTAL_WEIGHT, self.failed_checks, "promote", "analysis skipped")
        if self.failed_checks >= self.threshold:
            self.outcome = "rolled back"
            self.weight = 0
            return Tick(at, number, (), 0, self.failed_checks, "rollback",
                        f"Rolling back {self.gate.name}.{self.gate.namespace} failed checks threshold reached "
                        f"{self.failed_checks}")
        checks: tuple[CheckResult, ...] = ()
        if self.weight == 0 and self.iterations == 0:
            action_note = "pre-rollout webhooks"
        else:
            checks = self._analysis(at, query)
            if checks and not checks[-1].passed:
                self.failed_checks += 1
                return Tick(at, number, checks, self.weight, self.failed_checks, "halt", checks[-1].message)
            action_note = ""
        return self._progress(at, number, checks, action_note)

    def _analysis(self, at: float, query: Optional[QueryFunction]) -> tuple[CheckResult, ...]:
        """``runAnalysis``: builtin and inline checks, then template checks; stops at the first failure."""
        if self.nominal or query is None:
            return ()
        results: list[CheckResult] = []
        for kind in ("builtin", "template"):
            for metric in self.gate.analysis.metrics.values():
                result = run_check(self.gate, metric, query, at, kind)
                if result is None:
                    continue
                results.append(result)
                if not result.passed:
                    return tuple(results)
        return tuple(results)

    def _progress(self, at: float, number: int, checks: tuple[CheckResult, ...], note: str) -> Tick:
        if self.strategy is Strategy.CANARY:
            if self.weight < self.max_weight:
                step = next_step_weight(self.gate, self.weight)
                if step <= 0:
                    return Tick(at, number, checks, self.weight, self.failed_checks, "halt",
                                "no step weight: the canary cannot progress")
                self.weight = min(self.weight + step, TOTAL_WEIGHT)
                return Tick(at, number, checks, self.weight, self.failed_checks, "advance",
                            f"Advance {self.gate.name}.{self.gate.namespace} canary weight {self.weight}"
                            + (f" ({note})" if note else ""))
            self.outcome = "promoted"
            return Tick(at, number, checks, self.weight, self.failed_checks, "promote",
                        f"Copying {self.gate.target}.{self.gate.namespace} template spec to {self.gate.target}-primary")
        if self.iterations < self.target_iterations:
            self.iterations += 1
            return Tick(at, number, checks, self.weight, self.failed_checks, "iterate",
                        f"Advance {self.gate.name}.{self.gate.namespace} canary iteration {self.iterations}/"
                        f"{self.target_iterations}" + (f" ({note})" if note else ""))
        if self.strategy is Strategy.BLUEGREEN and self.iterations == self.target_iterations:
            routed = _provider(self.gate) != "kubernetes"
            self.bluegreen_all = routed
            self.iterations += 1
            return Tick(at, number, checks, self.weight, self.failed_checks, "iterate",
                        "Routing all traffic to canary" if routed else "iterations done (no routing: kubernetes)")
        self.outcome = "promoted"
        return Tick(at, number, checks, self.weight, self.failed_checks, "promote",
                    f"Copying {self.gate.target}.{self.gate.namespace} template spec to {self.gate.target}-primary")
