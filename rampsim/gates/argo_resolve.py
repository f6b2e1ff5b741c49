"""Argo's templated args (rule A6) and its defaults: a metric as written → the metric an AnalysisRun measures.

Follows ``utils/template/template.go`` (``ResolveArgs``: every ``{{...}}`` tag, trimmed, must be
``args.<name>``; an unknown tag is "failed to resolve {{tag}}"), ``utils/analysis/factory.go``
(``MergeArgs``: the run's args are the templates' args, each overridden by the Rollout's value of
the same name; an arg left without a value fails the run) and ``ValidateMetric``. The values
rampsim adds come last: ``argo.args`` (``--arg NAME=VALUE``, or a placeholder for an arg no file
supplies). ``valueFrom.podTemplateHashValue`` resolves to the canary (``Latest``) or stable pod
hash of :class:`~rampsim.gates.argo_model.Identity`.

Anything that makes Argo fail the run raises :class:`_RunError`; the run is then Error and the
rollout aborts, as in Argo.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from rampsim.gates.argo_model import (
    ArgoArg, ArgoGate, ArgoMetric, ArgValueFrom, IntOrString, RolloutAnalysis, whole_text,
)
from rampsim.gates.exprlang import ConditionError, threshold_literals, with_threshold
from rampsim.promql.store import go_regex
from rampsim.gates.goduration import GoDurationError, parse_go_duration

__all__ = ["MetricSpec", "run_args", "resolve_metric", "substitute", "DEFAULT_CONSECUTIVE_ERROR_LIMIT",
           "ERROR_RETRY_INTERVAL", "run_metrics", "dry_run_matches", "repeated_metric"]

DEFAULT_CONSECUTIVE_ERROR_LIMIT = 4
"""``utils/defaults/defaults.go``, ``DefaultConsecutiveErrorLimit``."""

ERROR_RETRY_INTERVAL = 10.0
"""``analysis/analysis.go``, ``DefaultErrorRetryInterval``: an Error measurement is retried after 10 s."""

_TAG = re.compile(r"\{\{(.*?)\}\}", re.S)


class _RunError(Exception):
    """Why Argo would put the AnalysisRun in phase Error before measuring (a message as Argo words it); ``field``: the
    metric's field at fault, when one is."""

    def __init__(self, message: str, field: Optional[str] = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class MetricSpec:
    """A metric as an AnalysisRun measures it: args substituted, Argo's defaults applied."""

    key: str
    name: str
    query: str
    interval: Optional[float]
    initial_delay: float
    count: Optional[int]           # the effective count (``EffectiveCount``); None: until the run is terminated;
    # negative: one measurement, whatever its phase (Argo's "count reached" holds as soon as one is taken)
    failure_limit: int
    inconclusive_limit: int
    consecutive_error_limit: int
    success: Optional[str]
    failure: Optional[str]
    dry_run: bool = False


def substitute(text: str, args: dict[str, str]) -> str:
    """``text`` with every ``{{args.name}}`` replaced (``fasttemplate``); :class:`_RunError` for any other tag."""
    def replace(match: re.Match[str]) -> str:
        tag = match.group(1).strip()
        if tag.startswith("args.") and tag[5:] in args:
            return args[tag[5:]]
        raise _RunError(f"failed to resolve {{{{{match.group(1)}}}}}")
    return _TAG.sub(replace, text)


def _value_from(source: ArgValueFrom, gate: ArgoGate) -> str:
    if source.podTemplateHashValue is not None:
        return gate.identity.canary_hash if source.podTemplateHashValue == "Latest" else gate.identity.stable_hash
    if source.fieldRef is not None:
        path = str(source.fieldRef.get("fieldPath", ""))
        if path == "metadata.namespace":
            return gate.identity.namespace
        if path == "metadata.name":
            return gate.rollout.name
        return gate.identity.service
    secret = source.secretKeyRef or {}
    return f"secret:{secret.get('name', '')}/{secret.get('key', '')}"


def run_args(gate: ArgoGate, analysis: RolloutAnalysis, written_only: bool = False) -> dict[str, str]:
    """The args of an AnalysisRun for ``analysis`` (``MergeArgs``): the value the Rollout's analysis gives, else
    ``argo.args`` (the command line's ``--arg``, or the importer's placeholder for an arg nothing gives), else the
    template's default; :class:`_RunError` when one has no value. (An ``argo.args`` value never replaces what the
    Rollout writes for one analysis: a placeholder for another analysis's missing arg would retarget it.)

    ``written_only``: only the values the files write as text, the Rollout's ``value``, else the template's default
    (what a deploy cannot change): args taken by ``valueFrom``, from ``argo.args`` or from nothing are left out."""
    declared: dict[str, ArgoArg] = {}
    for ref in analysis.templates:
        for arg in gate.templates[ref.templateName].args:
            declared.setdefault(arg.name, arg)
    given = {arg.name: arg for arg in analysis.args}
    values: dict[str, str] = {}
    for name, arg in declared.items():
        supplied = given.get(name)
        explicit = supplied is not None and (supplied.value is not None or supplied.valueFrom is not None)
        chosen = supplied if explicit and supplied is not None else arg
        if name in gate.args and not explicit and not written_only:
            values[name] = gate.args[name]
        elif chosen.value is not None:
            values[name] = chosen.value
        elif written_only:
            continue
        elif chosen.valueFrom is not None:
            values[name] = _value_from(chosen.valueFrom, gate)
        else:
            raise _RunError(f"args.{name} was not resolved")
    return values


def _whole(value: Optional[IntOrString], args: dict[str, str], field: str, default: int) -> int:
    if value is None:
        return default
    if not isinstance(value, str):
        return value
    text = substitute(value, args)
    number = whole_text(text)   # as Argo reads it: int() would read ' 3 ' or '３' as 3
    if number is None:
        raise _RunError(f"{field}: {text!r} is not a whole number")
    return number


def _seconds(value: Optional[str], args: dict[str, str], field: str) -> Optional[float]:
    if value is None or value == "":
        return None
    text = substitute(value, args)
    try:
        return parse_go_duration(text)
    except GoDurationError as exc:
        raise _RunError(f"{field}: {exc}") from None


def resolve_metric(gate: ArgoGate, key: str, metric: ArgoMetric, args: dict[str, str],
                   dry_run: bool = False) -> MetricSpec:
    """``metric`` as the run measures it; :class:`_RunError` where Argo fails the run (A6, ``ValidateMetric``)."""
    query = substitute(metric.query, args)
    for field in ("address",):
        written = getattr(metric.provider.prometheus, field)
        if isinstance(written, str):
            substitute(written, args)
    for header in metric.provider.prometheus.headers or []:
        for value in header.values():
            if isinstance(value, str):
                substitute(value, args)
    success = substitute(metric.successCondition, args) if metric.successCondition else None
    failure = substitute(metric.failureCondition, args) if metric.failureCondition else None
    if metric.threshold is not None:
        success = with_threshold(success, metric.threshold) if success and _has_threshold(success) else success
        failure = with_threshold(failure, metric.threshold) if failure and _has_threshold(failure) else failure
    interval = _seconds(metric.interval, args, "interval")
    initial_delay = _seconds(metric.initialDelay, args, "initialDelay") or 0.0
    count = _whole(metric.count, args, "count", 0)
    failure_limit = _whole(metric.failureLimit, args, "failureLimit", 0)
    inconclusive_limit = _whole(metric.inconclusiveLimit, args, "inconclusiveLimit", 0)
    error_limit = _whole(metric.consecutiveErrorLimit, args, "consecutiveErrorLimit", DEFAULT_CONSECUTIVE_ERROR_LIMIT)
    # ValidateMetric (utils/analysis/factory.go)
    if count > 0 and count < failure_limit:
        raise _RunError(f"metric '{metric.name}': count must be >= failureLimit", "count")
    if count > 0 and count < inconclusive_limit:
        raise _RunError(f"metric '{metric.name}': count must be >= inconclusiveLimit", "count")
    if count > 1 and interval is None:
        raise _RunError(f"metric '{metric.name}': interval must be specified when count > 1", "count")
    if failure_limit < -1:
        raise _RunError(f"metric '{metric.name}': failureLimit must be >= -1", "failureLimit")
    if inconclusive_limit < 0:
        raise _RunError(f"metric '{metric.name}': inconclusiveLimit must be >= 0", "inconclusiveLimit")
    if error_limit < 0:
        raise _RunError(f"metric '{metric.name}': consecutiveErrorLimit must be >= 0", "consecutiveErrorLimit")
    if interval is not None and interval <= 0:
        raise _RunError(f"metric '{metric.name}': interval {metric.interval!r} is zero: measuring back to back at "
                        "every reconcile is not simulated", "interval")
    # EffectiveCount (analysis_types.go): only an unset or 0 count is defaulted; a negative count is kept, and
    # "result.Count >= count" then holds after the first measurement (Error included): the metric takes one
    effective: Optional[int] = count if count != 0 else (1 if interval is None else None)
    return MetricSpec(key=key, name=metric.name, query=query, interval=interval, initial_delay=initial_delay,
                      count=effective, failure_limit=failure_limit, inconclusive_limit=inconclusive_limit,
                      consecutive_error_limit=error_limit, success=success, failure=failure, dry_run=dry_run)


def _has_threshold(condition: str) -> bool:
    try:
        return len(threshold_literals(condition)) == 1
    except ConditionError:
        return False


def run_metrics(gate: ArgoGate, analysis: RolloutAnalysis) -> list[MetricSpec]:
    """The metrics of the run for ``analysis``, templates merged in order; :class:`_RunError` when Argo fails it.

    The run's ``dryRun`` rules (the templates' and the Rollout analysis's) apply to every metric of the merged
    run; a rule that matches none fails the run (``GetDryRunMetrics``: "Rule didn't match any metric name(s)").
    """
    args = run_args(gate, analysis)
    metrics = [(key, metric) for ref in analysis.templates for key, metric in gate.template_metrics(ref.templateName)]
    repeated = repeated_metric(gate, analysis)
    if repeated is not None:
        raise _RunError(f"two metrics named {repeated[1]!r} in one analysis run", "name")
    patterns = [entry.get("metricName", "") for ref in analysis.templates
                for entry in gate.templates[ref.templateName].dryRun]
    patterns += [entry.get("metricName", "") for entry in analysis.dryRun]
    dry: set[str] = set()
    for index, pattern in enumerate(patterns):
        matched = {metric.name for _, metric in metrics if dry_run_matches(pattern, metric.name)}
        if not matched:
            raise _RunError(f"Analysis spec invalid: dryRun[{index}]: Rule didn't match any metric name(s) "
                            f"(metricName {pattern!r})")
        dry |= matched
    return [resolve_metric(gate, key, metric, args, metric.name in dry) for key, metric in metrics]


def repeated_metric(gate: ArgoGate, analysis: RolloutAnalysis) -> Optional[tuple[str, str]]:
    """``(template, metric)``: the first metric of the run for ``analysis`` (its templates merged, the metrics rampsim
    does not simulate too) whose name an earlier one has, or ``None``. Argo cannot merge them: the run is Error at its
    start."""
    seen: set[str] = set()
    for ref in analysis.templates:
        names = [m.name for _, m in gate.template_metrics(ref.templateName)]
        names += [item.name for item in gate.not_simulated if item.template == ref.templateName]
        for name in names:
            if name in seen:
                return ref.templateName, name
            seen.add(name)
    return None


def dry_run_matches(pattern: str, name: str) -> bool:
    """``regexp.MatchString`` (``GetDryRunMetrics``): the pattern found anywhere in the name (an empty pattern
    matches every name; one that does not compile matches none)."""
    try:
        return re.search(go_regex(pattern), name) is not None
    except re.error:
        return False
