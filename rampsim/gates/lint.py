"""Static hazards of Argo and Flagger gates: what each metric will do that its author probably did not mean.

The Argo hazards are those of the real-gates README (§1, sources in §3), found by running the
controller's own semantics on the cases that matter rather than by pattern matching: the
condition is evaluated on a one-sample vector, an empty vector and ``[NaN]``, and for H5c and H5a on every value
the query could return (a grid from -1e300 to 1e300, from 0 for a query that is never negative, with each threshold
of the condition and its neighbours: H5c when all are Successful, H5a when all are Failed); the query on an empty
store (no series yet) and parsed for its windows, ratios, filters and sign (rates, counts and bucket quantiles are
never negative, and so is a series named as Prometheus names a counter or a histogram's parts, ``_total``,
``_count``, ``_sum``, ``_bucket``, and its sum, average, maximum or minimum; any other raw series may be anything).

====  ==========================================================================================
code  hazard
====  ==========================================================================================
H1    the condition errs on every vector (``result >= 0.95`` compares ``[]float64`` with a number)
H2    ``result[0]`` with no length guard, on a query that returns nothing until its series exist
H3a   a ratio query (0/0 = NaN with no traffic) and a success condition only: NaN is Failed
H3c   a ratio query and both conditions: NaN is Inconclusive (the rollout pauses)
H4    a comparison filter inside the query (``> 0.01``): healthy data gives an empty result
H5    no condition: every measurement is Successful, the metric can never fail
H5c   a condition no value fails (``result[0] >= -5`` on a query of rates, ``"true"``): the metric can never fail
H5a   a condition no value passes (``result[0] > -1`` as a failure condition on a count, ``"false"``): every
      measurement is Failed, the metric fails after failureLimit + 1 and the rollout aborts, healthy or not
H5f   ``failureLimit: -1``: Argo never counts failed measurements, the metric can never fail
H5n   a negative ``count``: Argo keeps it (``EffectiveCount``) and reaches it after one measurement, the metric is then
      Successful: an incident after the first measurement is let through
H5d   every metric an analysis runs is in ``dryRun``: the analysis can never stop the rollout
H5r   the Rollout given runs none of the templates (its analysis commented out, or naming others): nothing gates
      the release (not simulated: there is no analysis to rehearse)
H6    a tag other than ``{{args.x}}`` in the query: Argo cannot resolve it, the run is Error
H6u   ``{{args.x}}`` for an arg no template declares: the run is Error
H7    an unknown name in a condition (``args.x`` without ``{{ }}``, ``NaN``): every measurement is Error
H8    a metric Argo cannot start a run of (``failureLimit: -2``, ``count`` below ``failureLimit``, an unresolvable
      ``{{args.x}}`` in a field other than the query, two templates of the run with a metric of one name), or an
      arg of the run the Rollout given never supplies (no default, no value: rehearsed without import's
      placeholder): the run is Error at its start
H9    a PromQL window longer than the interval: consecutive measurements overlap (not when ``count`` is 1 or negative)

A count or limit an ``{{args.x}}`` gives is judged (H5f, H5n, H8) with the value the files write for the arg (the
Rollout's ``value``, else the template's default); one whose value comes at deploy time (``valueFrom``, or no value
in the files) is not.
HQ    a query Prometheus rejects (a range vector where an instant one is needed...): Error every time
====  ==========================================================================================

Error measurements abort after the metric's ``consecutiveErrorLimit`` + 1 in a row (H1, H2, H7, HQ say when).

Flagger (``F`` codes): ``skipAnalysis: true`` (promoted without analysis, FH1), a metric Flagger never checks
(FH2), a duration or custom check with no threshold, or a duration limit under a millisecond, written in seconds
(its limit is 0: fails at 1 ms or at any positive value, FH3), a template with ``{{ interval }}`` and no metric
interval (renders ``[]``, FH4), a missing MetricTemplate (FH5), a success-rate minimum written as a fraction (FH6),
a check no value can fail (an empty ``thresholdRange``, a success rate with neither range nor threshold, or a
builtin's range that holds all of its values, FH7), a check every value fails (a range whose ``min`` is above its
``max``, or a builtin's range or threshold none of its values meets, FH8), a window longer than the analysis
interval (FH9), a blue/green canary nothing sends traffic to (FH10), a template that does not render
(``{{ variables.x }}`` without it) or whose query Prometheus rejects (FH11: a failed check every tick). The
builtins' values are known: ``request-success-rate`` is a percentage (0 to 100), ``request-duration`` whole
milliseconds (0 or more; Flagger truncates the value and the bounds).

Each finding names the file and line, says in one line what is wrong and what the controller
then does, and which metric it concerns (:attr:`Finding.metric`).

An unrendered Helm chart template is read leniently (:mod:`rampsim.gates.unrendered`): its actions
replaced in place, lines kept. What the chart's values decide is not linted (a condition or query
that is a Helm value, an interval, a field inside an ``if`` block: :attr:`LintedGate.notes` says
which); a condition whose threshold is a Helm value is judged for every number it could be. Each
finding of such a file says so (:data:`~rampsim.gates.unrendered.HELM_NOTE`), and its gate is not
simulated (:attr:`LintedGate.unsimulated`). A Kustomization patch is linted for the AnalysisTemplate
metrics it writes. :func:`lint_gates` also returns
the gates it imported, so that a caller with the simulator (``rampsim lint``, through
:mod:`rampsim.experiment.lint_rehearsals`) can measure what the hazards in :data:`OUTCOME_CODES` do
to a healthy simulated ramp; this module only reads files.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Collection, Optional, Sequence, Union

from rampsim.gates.argo_analysis import AnalysisPhase, measurement_phase
from rampsim.gates.argo_import import NO_ROLLOUT_NOTE, TEMPLATE_KINDS, import_argo_manifests, unsupplied_args
from rampsim.gates.argo_model import ArgoGate, ArgoMetric, IntOrString, whole_text
from rampsim.gates.argo_resolve import (
    DEFAULT_CONSECUTIVE_ERROR_LIMIT, ERROR_RETRY_INTERVAL, _RunError, dry_run_matches, repeated_metric, resolve_metric,
    run_args, run_metrics,
)
from rampsim.gates.exprlang import ConditionError, evaluate_condition, names_used, threshold_literals
from rampsim.gates.flagger_canary import (DEFAULT_METRIC_INTERVAL, Strategy, analysis_interval, strategy_of,
                                         threshold_ns)
from rampsim.gates.flagger_import import import_flagger_manifests
from rampsim.gates.flagger_model import FlaggerGate, FlaggerMetric
from rampsim.gates.goduration import GoDurationError, parse_go_duration
from rampsim.gates.manifests import Manifest, parse_manifests, read_manifests
from rampsim.gates.refusals import GateError
from rampsim.gates.unrendered import HELM_NOTE, HELM_UNREAD, KeyPath, Unrendered, read_unrendered
from rampsim.gates.flagger_queries import MetricModel, _RenderError, render_query
from rampsim.promql import PromQLError, SeriesStore, evaluate
from rampsim.promql.parse import Aggregate as _Aggregate
from rampsim.promql.parse import COMPARISON, Binary, Call, Node, Number, RangeSelector, Selector, Unary, parse
from rampsim.promql.values import NAME

__all__ = ["Finding", "LintedGate", "lint_file", "lint_gates", "lint_text", "lint_argo", "lint_flagger",
           "CODES", "OUTCOME_CODES"]

CODES = ("H1", "H2", "H3a", "H3c", "H4", "H5", "H5c", "H5a", "H5f", "H5n", "H5d", "H5r", "H6", "H6u", "H7", "H8", "H9",
         "HQ", "FH1", "FH2", "FH3", "FH4", "FH5", "FH6", "FH7", "FH8", "FH9", "FH10", "FH11")
OUTCOME_CODES = ("H1", "H2", "H3a", "H3c", "H4", "H5a", "H6", "H6u", "H7", "H8", "HQ", "FH3", "FH4", "FH5", "FH8", "FH10",
                 "FH11")
"""Hazards that can stop a healthy release (an abort, a pause, a rollback): their consequence is measurable on a
healthy simulated ramp. The others (a gate that cannot fail, overlapping windows) change what an incident does."""

_ARGS_TAG = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+?)\s*\}\}")
_ANY_TAG = re.compile(r"\{\{(.*?)\}\}", re.S)
_QUERY = "provider.prometheus.query"
_JUDGED = {"successCondition", "failureCondition", "query", "interval", "threshold", "thresholdRange", "templateRef",
           "iterations", "stepWeight", "stepWeights", "maxWeight", "webhooks"}
"""The Argo and Flagger fields some hazard depends on: a Helm value in one is worth a note."""


@dataclass(frozen=True)
class Finding:
    """One hazard: where, which, what is wrong, and what the controller does."""

    file: str
    line: Optional[int]
    code: str
    subject: str
    explanation: str
    behaviour: str
    metric: Optional[str] = None   # the metric's key in the gate section (None: the whole analysis)
    note: str = ""                 # about the file (an unrendered Helm template), shown last

    def format(self, consequence: str = "") -> str:
        """One line: ``file:line: CODE subject: explanation → behaviour`` (``; consequence`` when given, then
        `` (note)``)."""
        where = f"{self.file}:{self.line}" if self.line else self.file
        tail = f"; {consequence}" if consequence else ""
        note = f" ({self.note})" if self.note else ""
        return f"{where}: {self.code} {self.subject}: {self.explanation} → {self.behaviour}{tail}{note}"


@dataclass(frozen=True)
class LintedGate:
    """A gate read from a linted file (``kind`` ``argo`` or ``flagger``), and its findings."""

    kind: str
    name: str
    gate: Union[ArgoGate, FlaggerGate]
    findings: tuple[Finding, ...]
    notes: tuple[str, ...] = ()   # what lint could not judge (values an unrendered Helm chart decides)
    unsimulated: str = ""         # why its consequences cannot be simulated (empty: they can)
    imported: tuple[str, ...] = ()   # what import defaulted or assumed reading the gate (what is simulated)


# -- PromQL shape ----------------------------------------------------------------------------

def _children(node: Node) -> list[Node]:
    if isinstance(node, Call):
        return list(node.args)
    if isinstance(node, _Aggregate):
        return [node.expr]
    if isinstance(node, Binary):
        return [node.lhs, node.rhs]
    if isinstance(node, Unary):
        return [node.expr]
    return []


def _walk(node: Node) -> list[Node]:
    out = [node]
    for child in _children(node):
        out.extend(_walk(child))
    return out


def _windows(node: Node) -> list[float]:
    return [n.range_ms / 1000.0 for n in _walk(node) if isinstance(n, RangeSelector)]


def _is_ratio(node: Node) -> bool:
    """Whether the query divides by something that may be 0 (0/0 = NaN when the window has no requests)."""
    return any(isinstance(n, Binary) and n.op == "/" and not _constant(n.rhs) and not _never_zero(n.rhs)
               for n in _walk(node))


def _never_zero(node: Node) -> bool:
    """Whether a denominator is kept from 0 by a positive floor: ``clamp_min(x, c)`` or ``clamp(x, c, ...)`` with a
    constant ``c > 0``, or ``x + c`` with ``x`` never negative. ``x`` must not be NaN itself (no ratio inside: the clamp
    keeps a NaN). An ``x`` with no series stays empty, not NaN: the hazards of an empty result still apply."""
    if isinstance(node, Call) and node.name in ("clamp_min", "clamp") and len(node.args) >= 2:
        floor = node.args[1]
        return isinstance(floor, Number) and floor.value > 0 and not _is_ratio(node.args[0])
    if isinstance(node, Binary) and node.op == "+" and not node.return_bool:
        for value, floor in ((node.lhs, node.rhs), (node.rhs, node.lhs)):
            if isinstance(floor, Number) and floor.value > 0 and _nonnegative(value) and not _is_ratio(value):
                return True
    return False


def _constant(node: Node) -> bool:
    return not any(isinstance(n, (RangeSelector, Selector)) for n in _walk(node))


def _filters(node: Node) -> list[str]:
    return [n.op for n in _walk(node) if isinstance(n, Binary) and n.op in ("==", "!=", ">", "<", ">=", "<=")
            and not n.return_bool and not (_constant(n.lhs) and _constant(n.rhs))]


_NONNEGATIVE_CALLS = frozenset({"rate", "irate", "increase", "count_over_time", "present_over_time", "changes",
                                "resets", "time", "abs"})
"""Functions never negative: a counter's rate or increase (Prometheus reads a decrease as a reset), counts, time."""
_COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")
"""The endings Prometheus's naming conventions give a counter and a histogram's or summary's parts: series that
start at 0 and only go up (a ``_sum`` of durations or sizes; a raw series named otherwise may be a gauge)."""


def _nonnegative(node: Node) -> bool:
    """Whether the query never returns a negative value, by its shape (False: it may, as a raw series may, unless
    its name is a counter's: :func:`_counter`)."""
    if isinstance(node, Number):
        return node.value >= 0
    if isinstance(node, Selector):
        return _counter(node)
    if isinstance(node, Call):
        return _nonnegative_call(node)
    if isinstance(node, _Aggregate):
        return node.op == "count" or _nonnegative(node.expr)
    if isinstance(node, Binary):
        return _nonnegative_binary(node)
    return False


def _counter(selector: Selector) -> bool:
    """Whether a selector names its metric (``__name__=``) with a counter's ending (:data:`_COUNTER_SUFFIXES`)."""
    return any(matcher.name == NAME and matcher.op == "=" and matcher.value.endswith(_COUNTER_SUFFIXES)
               for matcher in selector.matchers)


def _nonnegative_call(node: Call) -> bool:
    """:func:`_nonnegative` of a function call."""
    if node.name in _NONNEGATIVE_CALLS:
        return True
    if node.name in ("vector", "scalar", "round"):
        return _nonnegative(node.args[0])
    if node.name == "clamp_max":              # min(value, upper bound)
        return all(_nonnegative(arg) for arg in node.args[:2])
    if node.name == "clamp_min":              # max(value, lower bound)
        return _nonnegative(node.args[0]) or _nonnegative(node.args[1])
    if node.name == "clamp":                  # min(max(value, lower bound), upper bound)
        return (_nonnegative(node.args[0]) or _nonnegative(node.args[1])) and _nonnegative(node.args[2])
    if node.name == "histogram_quantile":     # between bucket bounds, which measure durations or sizes
        quantile = node.args[0]
        return isinstance(quantile, Number) and 0 <= quantile.value <= 1
    return False


def _nonnegative_binary(node: Binary) -> bool:
    """:func:`_nonnegative` of a binary operation: a filter keeps its vector's values, ``bool`` gives 0 or 1."""
    if node.op in COMPARISON:
        return node.return_bool or all(_nonnegative(side) for side in (node.lhs, node.rhs) if not _constant(side))
    if node.op in ("and", "unless", "^", "%"):
        return _nonnegative(node.lhs)
    if node.op in ("+", "*", "/", "or"):
        return _nonnegative(node.lhs) and _nonnegative(node.rhs)
    return False


# -- Argo ------------------------------------------------------------------------------------

def _argo_metric_site(manifests: Sequence[Manifest], metric: ArgoMetric) -> tuple[Optional[Manifest], KeyPath]:
    """The template manifest that writes ``metric``, and the metric's key path in it."""
    for manifest in manifests:
        if manifest.kind in TEMPLATE_KINDS and manifest.name == metric.template:
            for index, written in enumerate(manifest.get("spec", "metrics") or []):
                if isinstance(written, dict) and written.get("name") == metric.name:
                    return manifest, ("spec", "metrics", index)
            return manifest, ("metadata", "name")
    return None, ()


def _run_args_for(gate: ArgoGate, template: str, written_only: bool = False) -> Optional[dict[str, str]]:
    """The args of a run of ``template`` (``written_only``: those the files write, see
    :func:`~rampsim.gates.argo_resolve.run_args`); ``None`` when no analysis runs it or its args cannot be resolved."""
    for _, analysis in gate.analyses():
        if any(ref.templateName == template for ref in analysis.templates):
            try:
                return run_args(gate, analysis, written_only)
            except _RunError:
                return None
    return None


_RUN_FIELDS = ("count", "failureLimit", "inconclusiveLimit", "consecutiveErrorLimit", "interval", "initialDelay",
               "successCondition", "failureCondition")


def _known_fields(metric: ArgoMetric, declared: set[str], written: dict[str, str]) -> ArgoMetric:
    """``metric`` with the counts, limits and durations an arg gives at deploy time left out (the interval a valid
    one): an arg taken by ``valueFrom`` or given no value in the files (lint's are placeholders). Those whose args
    the files write (``written``: a template's default, the Rollout's value) are validated with those values, and a
    tag for an arg no template declares stays, and fails as it will in Argo."""
    def given(value: object) -> bool:
        return isinstance(value, str) and any(m.group(1) in declared and m.group(1) not in written
                                              for m in _ARGS_TAG.finditer(value))

    update: dict[str, object] = {field: None for field in _RUN_FIELDS[:4] + ("initialDelay",)
                                 if given(getattr(metric, field))}
    if given(metric.interval):
        update["interval"] = "1m"
    return metric.model_copy(update=update) if update else metric


def lint_argo(gate: ArgoGate, manifests: Sequence[Manifest] = (), source: Optional[Unrendered] = None,
              rollout: Optional[Manifest] = None, templates: Optional[Collection[str]] = None) -> list[Finding]:
    """The hazards of every Prometheus metric of an Argo gate (``source``: the file read for lint, when it tells what
    an unrendered Helm chart's values decide), and of its analyses (``rollout``: the Rollout the gate's is, read
    from a file; without it, the args are not known to be missing). ``templates``: only the metrics of these (a
    file's, when the Rollout also runs another file's templates), and the analyses' hazards only when the first
    template the Rollout runs is one of them, so that each hazard is reported once."""
    findings: list[Finding] = []
    empty = SeriesStore()
    source = source or Unrendered(list(manifests))
    dry = _dry_everywhere(gate)
    for key, metric in gate.metrics.items():
        if templates is not None and metric.template not in templates:
            continue
        label = f"metric {source.show(metric.name)!r}"
        site, base = _argo_metric_site(manifests, metric)

        def add(code: str, explanation: str, behaviour: str, *path: str) -> None:
            file = site.filename if site else (manifests[0].filename if manifests else "<gate>")
            line = site.line(*base, *path) if site else None
            if metric.name in dry and code not in ("H6", "H6u", "H8"):   # a run that cannot start still aborts
                behaviour = (f"in dryRun, Argo records it but it never stops the rollout (without dryRun: "
                             f"{behaviour})")
            findings.append(Finding(file, line, code, label, explanation, behaviour, key))

        def decided(*fields: str) -> bool:
            return site is not None and bool(source.decided(site, base, *fields))

        resolved = _run_args_for(gate, metric.template)
        args = resolved or {}
        filed = _run_args_for(gate, metric.template, written_only=True) or {}   # the arg values the files write
        declared = {arg.name for template in gate.templates.values() for arg in template.args}
        tags = [m.group(0) for m in _ANY_TAG.finditer(metric.query)]
        odd = [t for t in tags if not _ARGS_TAG.fullmatch(t)]
        undeclared = [t for t in tags if (m := _ARGS_TAG.fullmatch(t)) is not None and m.group(1) not in declared]
        if odd:
            add("H6", f"the query has the tag {odd[0]}; Argo resolves only {{{{args.<name>}}}}",
                "'failed to resolve' at the start of every run: the AnalysisRun is Error and the rollout aborts",
                "provider", "prometheus", "query")
        if undeclared:
            add("H6u", f"the query uses {undeclared[0]}, an arg no template declares (spec.args)",
                "'failed to resolve' at the start of every run: the AnalysisRun is Error and the rollout aborts",
                "provider", "prometheus", "query")
        if resolved is not None and not (odd or undeclared) and not decided(*_RUN_FIELDS):
            try:
                resolve_metric(gate, key, _known_fields(metric, declared, filed), resolved)
            except _RunError as exc:   # the run never measures: what the conditions would make of values is moot
                add("H8", f"Argo cannot start a run of it: {exc}",
                    "the AnalysisRun is Error at its start: the rollout aborts", *((exc.field,) if exc.field else ()))
                continue
        # a Helm value taken out leaves its hazards silent (no condition, no interval, the query vector(0)); those
        # a missing value would raise are guarded
        conditions = [c for c in (metric.successCondition, metric.failureCondition) if c]
        judged = not decided("successCondition", "failureCondition", _QUERY)
        if not conditions and not decided("successCondition", "failureCondition"):
            add("H5", "no successCondition or failureCondition",
                "every measurement is Successful unless the query errs: the metric can never fail")
        # a count or limit an arg gives is judged when the files write the arg's value (not when a deploy does)
        count, failures = _whole_number(metric.count, filed, 0), _whole_number(metric.failureLimit, filed, 0)
        if failures == -1 and not decided("failureLimit"):
            add("H5f", f"failureLimit -1{_via(metric.failureLimit)}: Argo does not count failed measurements",
                "no failed measurement fails the metric: it can never fail, only errors or inconclusive "
                "results stop the rollout", "failureLimit")
        if count is not None and failures is not None and 0 < count <= failures \
                and not decided("count", "failureLimit"):
            add("H5f", f"failureLimit {failures}{_via(metric.failureLimit)} with count {count}{_via(metric.count)}: "
                       f"the metric takes at most {count} measurements and fails only when more than {failures} fail",
                "no failed measurement fails the metric: it can never fail, only errors or inconclusive "
                "results stop the rollout", "failureLimit")
        if count is not None and count < 0 and not decided("count"):
            add("H5n", f"count {count}{_via(metric.count)}: Argo keeps a negative count (EffectiveCount defaults "
                       f"only 0) and reaches it after the first measurement",
                "the metric takes one measurement and is then Successful unless that one trips a limit (an Error "
                "too): an incident that starts after it is let through", "count")
        errors = _error_abort(metric, args, decided("consecutiveErrorLimit"))
        for field, condition in (("successCondition", metric.successCondition),
                                 ("failureCondition", metric.failureCondition)):
            unknown = _unknown_names(condition) if condition and not _ANY_TAG.search(condition) else []
            if unknown:
                add("H7", _unknown_name_explanation(unknown[0]), f"every measurement is Error: {errors}", field)
        query = _ARGS_TAG.sub(lambda m: args.get(m.group(1), "x"), metric.query)
        try:
            tree = parse(query)
            result = evaluate(query, empty, 0.0)
        except PromQLError as exc:
            if not odd:
                add("HQ", f"Prometheus rejects the query ({exc})", f"every measurement is Error: {errors}",
                    "provider", "prometheus", "query")
            continue
        vector = result.result_type == "vector"
        success, failure = (None if c is None else _ARGS_TAG.sub(lambda m: args.get(m.group(1), m.group(0)), c)
                            for c in (metric.successCondition, metric.failureCondition))   # the run's args in
        if any(c is not None and _ANY_TAG.search(c) for c in (success, failure)):
            judged = False   # a value lint does not know: what the condition makes of values is not judged
        variants = source.condition_variants(site, base, success, failure) if site else [(success, failure)]
        nonnegative = _nonnegative(tree)
        codes = set.intersection(*(_condition_hazards(s, f, vector, len(result) == 0, _is_ratio(tree), nonnegative)
                                   for s, f in variants)) if judged else set()
        written = "successCondition" if success else "failureCondition"
        if "H1" in codes:
            add("H1", _refusal(success, failure), f"every measurement is Error: {errors}", written)
        if "H2" in codes:
            add("H2", "'result[0]' with no 'len(result)' guard, and the query returns nothing until its series "
                      "exist (no 'or vector(0)')",
                f"an empty result is an Error, retried every {ERROR_RETRY_INTERVAL:g} s: "
                f"{_error_abort(metric, args, decided('consecutiveErrorLimit'), in_a_row=True)}", written)
        if "H3a" in codes:
            add("H3a", "a ratio query (0/0 = NaN when the window has no requests) judged by a success "
                       "condition only",
                "NaN makes every comparison false: the measurement is Failed (no traffic counts as a failure)",
                "successCondition")
        if "H3c" in codes:
            add("H3c", "a ratio query (0/0 = NaN when the window has no requests) judged by both conditions",
                "NaN makes both false: the measurement is Inconclusive and the rollout pauses",
                "successCondition")
        values = "0 to 1e300: the query is never negative" if nonnegative else "-1e300 to 1e300"
        judging = " and ".join(f"{name} {text!r}" for name, text in _written(success, failure))
        if "H5c" in codes:
            add("H5c", f"no value the query can return ({values}) fails the {judging}",
                "every measurement with a value is Successful: the metric can never fail, an incident is let "
                "through (only no data, an empty result or NaN, may stop it)", "failureCondition" if failure
                else "successCondition")
        if "H5a" in codes:
            add("H5a", f"no value the query can return ({values}) passes the {judging}",
                _always_failed(metric, args, decided("failureLimit", "count", "interval")),
                "failureCondition" if failure else "successCondition")
        filters = _filters(tree)
        if filters:
            add("H4", f"a comparison filter ('{filters[0]}') inside the query",
                "a healthy service gives an empty result, which the condition must then handle "
                "(an unguarded result[0] is an Error)", "provider", "prometheus", "query")
        interval = _duration(metric.interval)
        windows = _windows(tree)
        measured = _whole_number(metric.count, args, 0)
        single = measured is not None and (measured == 1 or measured < 0)   # one measurement: nothing to overlap
        if interval is not None and windows and max(windows) > interval + 1e-9 and not single:
            add("H9", f"a [{_show(max(windows))}] window, longer than the {metric.interval} interval",
                "consecutive measurements overlap and are correlated: a blip counts in several of them",
                "interval")
    first = next((ref.templateName for _, analysis in gate.analyses() for ref in analysis.templates), None)
    if templates is not None and first not in templates:
        return findings
    findings += _dry_run_hazards(gate, manifests) + _all_dry_hazards(gate, manifests, rollout)
    if rollout is not None:
        findings += _unsupplied_hazards(gate, rollout)
    return findings


def _analysis_path(where: str) -> KeyPath:
    """The key path in a Rollout of the analysis :meth:`~rampsim.gates.argo_model.ArgoGate.analyses` names
    ``where``."""
    base = ("spec", "strategy", "canary")
    return (*base, "analysis") if where == "background" else (*base, "steps", int(where.split(".")[1]), "analysis")


def _unsupplied_hazards(gate: ArgoGate, rollout: Manifest) -> list[Finding]:
    """H8 for each arg a run of the Rollout needs and nothing gives: Argo fails the run before it measures."""
    return [Finding(rollout.filename, rollout.line(*_analysis_path(where)), "H8", f"arg {name!r}",
                    f"template {template!r} declares it with no default, and the Rollout's analysis ({where}) gives it "
                    f"no value (Argo: 'args.{name} was not resolved'; rehearsed without import's placeholder)",
                    "the AnalysisRun is Error at its start: the rollout aborts")
            for name, template, where in unsupplied_args(gate.templates, gate.rollout)]


def _dry_run_site(manifests: Sequence[Manifest], templates: Sequence[str], rollout: Optional[Manifest],
                  where: str) -> tuple[str, Optional[int]]:
    """The file and line of the dryRun rules of an analysis: its templates' ``spec.dryRun``, else the Rollout's."""
    site = next((m for m in manifests if m.kind in TEMPLATE_KINDS and m.name in templates and m.get("spec", "dryRun")),
                None)
    if site is not None:
        return site.filename, site.line("spec", "dryRun")
    if rollout is not None:
        return rollout.filename, rollout.line(*_analysis_path(where), "dryRun")
    return (manifests[0].filename if manifests else "<gate>"), None


def _all_dry_hazards(gate: ArgoGate, manifests: Sequence[Manifest], rollout: Optional[Manifest]) -> list[Finding]:
    """H5d for an analysis whose every metric is in dryRun (its own rules or its templates'): Argo measures them,
    nothing it measures can stop the rollout."""
    found = []
    for where, analysis in gate.analyses():
        templates = [ref.templateName for ref in analysis.templates]
        names = [m.name for t in templates for _, m in gate.template_metrics(t)] + \
            [item.name for item in gate.not_simulated if item.template in templates]
        patterns = [entry.get("metricName", "") for t in templates for entry in gate.templates[t].dryRun] + \
            [entry.get("metricName", "") for entry in analysis.dryRun]
        if not patterns or not all(any(dry_run_matches(p, name) for p in patterns) for name in names):
            continue
        file, line = _dry_run_site(manifests, templates, rollout, where)
        found.append(Finding(file, line, "H5d", f"analysis {where}",
                             f"every metric it runs ({', '.join(names)}) is in dryRun "
                             f"(metricName {', '.join(repr(p) for p in patterns)})",
                             "Argo measures and records them, but no result stops the rollout: the analysis can "
                             "never fail"))
    return found


def _error_abort(metric: ArgoMetric, args: dict[str, str], unread: bool, in_a_row: bool = False) -> str:
    """When consecutive Error measurements abort the rollout, by the metric's consecutiveErrorLimit (default 4; an
    Error is retried every 10 s; ``unread``: a Helm value decides the limit), as H1 words it or, ``in_a_row``,
    H2."""
    limit = None if unread else _whole_number(metric.consecutiveErrorLimit, args, DEFAULT_CONSECUTIVE_ERROR_LIMIT)
    if limit is None or limit < 0:
        return ("consecutiveErrorLimit + 1 in a row abort the rollout" if in_a_row
                else "the rollout aborts after consecutiveErrorLimit + 1 consecutive errors")
    written = "" if limit == DEFAULT_CONSECUTIVE_ERROR_LIMIT else f" (consecutiveErrorLimit {limit})"
    if limit == 0:
        return f"the first aborts the rollout{written}" if in_a_row else f"the rollout aborts at the first{written}"
    if in_a_row:
        return f"{limit + 1} in a row abort the rollout{written}"
    return (f"the rollout aborts after {limit + 1} consecutive errors, about {limit * ERROR_RETRY_INTERVAL:g} s after "
            f"the first{written}")


def _via(value: Optional[IntOrString]) -> str:
    """`` ({{args.x}})`` when an arg gives a count or limit (its value then comes from the files), else nothing."""
    return f" ({value.strip()})" if isinstance(value, str) and _ARGS_TAG.search(value) else ""


def _dry_everywhere(gate: ArgoGate) -> set[str]:
    """The metrics every run that measures them measures in dry-run (they never decide)."""
    seen: dict[str, bool] = {}
    for _, analysis in gate.analyses():
        try:
            specs = run_metrics(gate, analysis)
        except _RunError:
            continue
        for spec in specs:
            seen[spec.name] = seen.get(spec.name, True) and spec.dry_run
    return {name for name, dry in seen.items() if dry}


def _dry_run_hazards(gate: ArgoGate, manifests: Sequence[Manifest]) -> list[Finding]:
    """H8 for a run Argo fails at its start for what its templates hold together: two metrics of one name from
    different templates, a ``dryRun`` rule that matches no metric of the run (the rollout aborts)."""
    found = []
    for name, analysis in gate.analyses():
        repeated = repeated_metric(gate, analysis)
        if repeated is not None:
            site = next((m for m in manifests if m.kind in TEMPLATE_KINDS and m.name == repeated[0]), None)
            index = next((i for i, written in enumerate((site.get("spec", "metrics") if site else None) or [])
                          if isinstance(written, dict) and written.get("name") == repeated[1]), 0)
            found.append(Finding(site.filename if site else "<gate>",
                                 site.line("spec", "metrics", index, "name") if site else None, "H8",
                                 f"analysis {name}", f"Argo cannot start a run of it: template {repeated[0]!r} has "
                                 f"a metric named {repeated[1]!r}, and so has an earlier template of the run",
                                 "the AnalysisRun is Error at its start: the rollout aborts"))
            continue
        try:
            run_metrics(gate, analysis)
        except _RunError as exc:
            if "dryRun" not in str(exc):
                continue   # the metric's own H8 says it
            site = next((m for m in manifests if m.get("spec", "dryRun")), manifests[0] if manifests else None)
            found.append(Finding(site.filename if site else "<gate>", site.line("spec", "dryRun") if site else None,
                                 "H8", f"analysis {name}", f"Argo cannot start a run of it: {exc}",
                                 "the AnalysisRun is Error at its start: the rollout aborts"))
    return found


def _condition_hazards(success: Optional[str], failure: Optional[str], vector: bool, empty: bool, ratio: bool,
                       nonnegative: bool) -> set[str]:
    """H1, H2, H3a, H3c, H5c, H5a: what the conditions make of a vector, an empty vector (``empty``: the query returns
    one until its series exist), NaN (``ratio``: 0/0 with no traffic) and every value the query can return
    (``nonnegative``: none below 0): all Successful is H5c, all Failed H5a (an Error or Inconclusive is neither)."""
    conditions = [c for c in (success, failure) if c]
    if not conditions:
        return set()
    if vector and all(_errs(success, failure, sample) for sample in ([0.5], [1.0], [0.0])):
        return set() if any(_unknown_names(c) for c in conditions) else {"H1"}   # an unknown name: H7 says why
    codes = {"H2"} if vector and empty and _errs(success, failure, []) else set()
    phases = {measurement_phase([value] * length if vector else value, success, failure)[0]
              for value in _probe_values(conditions, nonnegative)
              for length in (_probe_lengths(conditions) if vector else (1,))}
    if phases == {AnalysisPhase.SUCCESSFUL}:
        codes.add("H5c")
    elif phases == {AnalysisPhase.FAILED}:
        codes.add("H5a")
    if ratio:
        phase, _ = measurement_phase([math.nan] if vector else math.nan, success, failure)
        if phase is AnalysisPhase.FAILED and success and not failure:
            codes.add("H3a")
        elif phase is AnalysisPhase.INCONCLUSIVE:
            codes.add("H3c")
    return codes


def _always_failed(metric: ArgoMetric, args: dict[str, str], unread: bool) -> str:
    """H5a's behaviour: when the Failed measurements fail the metric, by its failureLimit and count (``unread``: a
    Helm value decides them)."""
    healthy = "the rollout aborts, a healthy release as well as a bad one (only an empty result or NaN may not fail)"
    limit, count = _whole_number(metric.failureLimit, args, 0), _whole_number(metric.count, args, 0)
    if unread or limit is None or count is None:
        return f"every measurement with a value is Failed: once more than failureLimit have failed, {healthy}"
    if limit < 0:
        return "every measurement with a value is Failed, but failureLimit -1 counts none of them: it judges nothing"
    count = 1 if count < 0 else count or (0 if metric.interval else 1)   # negative, or no interval: one measurement
    if 0 < count <= limit:
        return (f"every measurement with a value is Failed, but the metric is Successful at its count ({count}) "
                f"before more than failureLimit ({limit}) fail: it judges nothing")
    interval = _duration(metric.interval)
    which = f"Failed measurement {limit + 1}" if limit else "the first Failed measurement"
    when = f", {limit * interval:g} s after the first" if interval is not None and limit else ""
    return (f"every measurement with a value is Failed: {which} fails the metric (failureLimit {limit}){when}, "
            f"and {healthy}")


def _whole_number(value: Optional[IntOrString], args: dict[str, str], default: int) -> Optional[int]:
    """A whole-number field as a run reads it (``default`` when unset; None when a tag or text leaves it unknown)."""
    if value is None:
        return default
    if not isinstance(value, str):
        return int(value)
    return whole_text(_ARGS_TAG.sub(lambda m: args.get(m.group(1), "?"), value))   # as a run reads it (Atoi)


def _errs(success: Optional[str], failure: Optional[str], value: object) -> bool:
    for condition in (success, failure):
        if condition:
            try:
                evaluate_condition(condition, value)  # type: ignore[arg-type]
            except ConditionError:
                return True
    return False


_PROBES = (0.0, 5e-324, 1e-9, 1e-6, 1e-3, 0.01, 0.05, 0.1, 0.5, 0.9, 0.95, 0.99, 1.0, 2.0, 10.0, 100.0, 1e3, 1e6,
           1e12, 1e300)
"""Values a query may return, from 0 to 1e300: ratios, percentages, latencies in seconds or milliseconds, counts."""


def _probe_values(conditions: Sequence[str], nonnegative: bool) -> list[float]:
    """The values H5c and H5a try: :data:`_PROBES` (and their negatives unless the query is ``nonnegative``), each
    threshold of the conditions and the floats either side of it, the midpoint of each gap between them, and
    infinity (a ratio over a zero denominator)."""
    points = set(_PROBES)
    for condition in conditions:
        for _, _, threshold in _thresholds(condition):
            points.update((threshold, math.nextafter(threshold, -math.inf), math.nextafter(threshold, math.inf)))
    if not nonnegative:
        points.update([-point for point in points])
    ordered = sorted(p for p in points if math.isfinite(p) and (p >= 0 or not nonnegative))
    infinite = [math.inf] if nonnegative else [math.inf, -math.inf]
    return ordered + [(low + high) / 2 for low, high in zip(ordered, ordered[1:])] + infinite


def _probe_lengths(conditions: Sequence[str]) -> list[int]:
    """The vector lengths H5c and H5a try: 1 to 3, and each whole number a condition writes (up to 1,000) and
    the next (``len(result) >= 2`` passes a query that returns two series)."""
    lengths = {1, 2, 3}
    for condition in conditions:
        lengths.update(n for written in re.findall(r"(?<![\w.])\d+(?![\w.])", condition)
                       if 1 <= int(written) <= 1000 for n in (int(written), int(written) + 1))
    return sorted(lengths)


def _thresholds(condition: str) -> list[tuple[int, int, float]]:
    try:
        return threshold_literals(condition)
    except ConditionError:
        return []


def _written(success: Optional[str], failure: Optional[str]) -> list[tuple[str, str]]:
    """The conditions set, as ``(field, text)``."""
    return [(name, text) for name, text in (("successCondition", success), ("failureCondition", failure)) if text]


def _refusal(success: Optional[str], failure: Optional[str]) -> str:
    """H1's explanation: why expr refuses the conditions (one of which errs on every vector)."""
    reason = next(r for r in (_error(condition, [0.5]) for _, condition in _written(success, failure)) if r)
    if "mismatched types []float64" in reason:
        return "the condition compares the whole vector 'result' ([]float64) with a value: expr refuses it"
    return f"expr refuses the condition on every vector ({reason})"


def _error(condition: str, value: list[float]) -> str:
    """Why evaluating ``condition`` on ``value`` errs (empty: it does not)."""
    try:
        evaluate_condition(condition, value)
    except ConditionError as exc:
        return exc.reason
    return ""


def _unknown_names(condition: str) -> list[str]:
    """The names a condition reads that Argo does not give it (it has ``result`` and functions only)."""
    try:
        return [name for name in names_used(condition) if name != "result"]
    except ConditionError:
        return []


def _unknown_name_explanation(name: str) -> str:
    """H7's explanation for the unknown ``name``."""
    if name == "args":
        return "'args.x' in the condition without {{ }}: expr sees an unknown name 'args'"
    if name.lower() == "nan":
        return (f"'{name}' in the condition: expr has no NaN constant, the condition does not compile (and a "
                f"comparison with NaN is always false in Go: isNaN(result[0]) tests for it)")
    if name.lower() in ("inf", "infinity"):
        return (f"'{name}' in the condition: expr has no infinity constant, the condition does not compile "
                f"(isInf(result[0]) tests for it)")
    return f"'{name}' in the condition: expr knows no such name (a condition sees 'result' and functions only)"


def _duration(text: Optional[str]) -> Optional[float]:
    if not text or _ANY_TAG.search(text):
        return None
    try:
        return parse_go_duration(text)
    except GoDurationError:
        return None


def _show(seconds: float) -> str:
    return f"{int(seconds // 60)}m" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:g}s"


# -- Flagger ---------------------------------------------------------------------------------

def lint_flagger(gate: FlaggerGate, manifests: Sequence[Manifest] = (), source: Optional[Unrendered] = None
                 ) -> list[Finding]:
    """The hazards of a Flagger Canary's analysis (``source``: as for :func:`lint_argo`)."""
    findings: list[Finding] = []
    source = source or Unrendered(list(manifests))
    canary = next((m for m in manifests if m.kind == "Canary" and m.name == gate.name), None)
    key = "canaryAnalysis" if gate.legacy_analysis_field else "analysis"
    file = canary.filename if canary else (manifests[0].filename if manifests else "<gate>")
    interval = analysis_interval(gate)

    def decided(base: KeyPath, *fields: str) -> bool:
        return canary is not None and bool(source.decided(canary, base, *fields))

    for index, (name, metric) in enumerate(gate.analysis.metrics.items()):
        base = ("spec", key, "metrics", index)
        line = canary.line(*base) if canary else None
        label = f"metric {source.show(name)!r}"

        def add(code: str, explanation: str, behaviour: str) -> None:
            findings.append(Finding(file, line, code, label, explanation, behaviour, name))

        if decided(base, "name", "templateRef", "query", "threshold", "thresholdRange", "interval") or \
                decided(("spec", key), "interval"):
            continue   # a value of an unrendered Helm chart: what it does depends on it
        if metric.kind == "ignored":
            add("FH2", "not a builtin, and no templateRef or query",
                "Flagger never checks it: it can never fail (flagger#1581)")
            continue
        bounds = metric.thresholdRange
        if metric.name == "request-duration" and bounds is None and not metric.threshold:
            add("FH3", "request-duration with no thresholdRange and no threshold",
                "the limit is 0 ms: every tick with a latency of 1 ms or more is a failed check")
        elif metric.kind in ("template", "query") and bounds is None and metric.threshold is None:
            add("FH3", "a custom metric with no thresholdRange and no threshold",
                "the limit is 0: every tick whose value is above 0 is a failed check")
        passing = _builtin_passing(metric) if metric.kind == "builtin" else None
        if metric.name == "request-duration" and passing is not None and passing[0] <= passing[1] < 1:
            add("FH3", f"{_limits(metric)}: Flagger reads whole milliseconds, so the limit is 0 ms (a bound in "
                       "seconds?)", "every tick with a latency of 1 ms or more is a failed check")
        if bounds is not None and bounds.min is None and bounds.max is None:
            add("FH7", "thresholdRange with neither min nor max",
                "no value fails the check: the metric can never fail")
        elif metric.name == "request-success-rate" and bounds is None and not metric.threshold:
            add("FH7", "request-success-rate with no thresholdRange and no threshold",
                "the minimum is 0%: no success rate fails the check, the metric can never fail")
        elif passing is not None and passing == _BUILTIN_VALUES[metric.name]:
            add("FH7", f"{_limits(metric)}: every {_BUILTIN_UNITS[metric.name]} passes it",
                "no value fails the check: the metric can never fail")
        if bounds is not None and bounds.min is not None and bounds.max is not None and bounds.min > bounds.max:
            add("FH8", f"thresholdRange min {bounds.min:g} above its max {bounds.max:g}",
                "every value fails the check: every canary is rolled back, healthy or not")
        elif passing is not None and passing[0] > passing[1]:
            add("FH8", f"{_limits(metric)}: no {_BUILTIN_UNITS[metric.name]} passes it",
                "every value fails the check: every canary is rolled back, healthy or not")
        minimum = (metric.thresholdRange.min if metric.thresholdRange is not None else metric.threshold)
        if metric.name == "request-success-rate" and minimum is not None and 0 < minimum <= 1:   # legacy too
            add("FH6", f"success-rate minimum {minimum:g}: Flagger's success rate is a percentage (0-100)",
                f"only a success rate under {minimum:g}% fails: the check can hardly fail")
        template = gate.template_for(metric)
        if metric.templateRef is not None and template is None:
            add("FH5", f"MetricTemplate {metric.templateRef.name!r} is not among the files",
                "'Metric template error' every tick: failed checks until the rollback")
        if template is not None and re.search(r"\{\{\s*interval\s*\}\}", template.query) and not metric.interval:
            add("FH4", "the template uses {{ interval }} and the metric sets no interval",
                "the window renders empty ('[]'), Prometheus rejects the query: a failed check every tick")
        elif template is not None and (problem := _template_problem(gate, metric, template.query)):
            add("FH11", problem, "a failed check every tick: failed checks until the rollback")
        window = _duration(metric.interval or (DEFAULT_METRIC_INTERVAL if metric.kind == "builtin" else None))
        if window is not None and window > interval + 1e-9:
            add("FH9", f"a {_show(window)} window, longer than the {_show(interval)} analysis interval",
                "consecutive checks overlap and are correlated")
    if gate.skipAnalysis and not decided(("spec",), "skipAnalysis"):
        findings.append(Finding(file, canary.line("spec", "skipAnalysis") if canary else None, "FH1", "analysis",
                                "skipAnalysis: true", "Flagger promotes the canary without running the analysis: no "
                                "check, webhook or metric, can stop the release"))
    strategy, iterations = strategy_of(gate)
    if strategy is Strategy.BLUEGREEN and gate.assume.bluegreen_weight == 0 and gate.analysis.metrics and \
            not decided(("spec", key), "iterations", "stepWeight", "stepWeights", "maxWeight", "webhooks"):
        line = canary.line("spec", key) if canary else None
        findings.append(Finding(file, line, "FH10", "analysis",
                                f"blue/green ({iterations} iterations) with no load test sending the canary traffic",
                                "every check finds no values: failed checks until the rollback"))
    return findings


def _template_problem(gate: FlaggerGate, metric: FlaggerMetric, query: str) -> str:
    """Why a MetricTemplate's query fails every check (it does not render, or Prometheus rejects it), or ``""``."""
    model = MetricModel(gate.name, gate.namespace, gate.target, gate.target, gate.target, metric.interval or "",
                        tuple(sorted((metric.templateVariables or {}).items())))
    try:
        parse(render_query(query, model))
    except _RenderError as exc:
        return f"the template does not render ({exc})"
    except PromQLError as exc:
        return f"Prometheus rejects the template's query ({exc})"
    return ""


_BUILTIN_VALUES = {"request-success-rate": (0.0, 100.0), "request-duration": (0.0, math.inf)}
"""What a builtin check compares: a success rate in percent, a latency in whole milliseconds."""
_BUILTIN_UNITS = {"request-success-rate": "success rate (a percentage, 0 to 100)",
                  "request-duration": "latency (whole milliseconds, 0 or more)"}


def _builtin_passing(metric: FlaggerMetric) -> Optional[tuple[float, float]]:
    """The builtin's values its check passes, as ``(lowest, highest)`` (empty when lowest > highest); ``None`` when
    its thresholds are missing (FH3, FH7 say so) or not finite. A duration and its bounds are truncated to whole
    milliseconds."""
    low, high = _BUILTIN_VALUES[metric.name]
    bounds = metric.thresholdRange
    if bounds is not None:
        lower, upper = bounds.min, bounds.max
    elif metric.threshold:
        lower, upper = (metric.threshold, None) if metric.name == "request-success-rate" else (None, metric.threshold)
    else:
        return None
    if any(x is not None and not math.isfinite(x) for x in (lower, upper)):
        return None   # an infinite or NaN bound: left unjudged (Go converts it to a duration unpredictably)
    if metric.name == "request-duration":   # as Flagger compares: whole milliseconds in a Go Duration, which wraps
        lower, upper = (None if x is None else threshold_ns(x) / 1e6 for x in (lower, upper))
    return (low if lower is None else max(low, lower), high if upper is None else min(high, upper))


def _limits(metric: FlaggerMetric) -> str:
    """How the metric's thresholds are written, e.g. ``request-duration thresholdRange max -1``."""
    bounds = metric.thresholdRange
    if bounds is None:
        return f"{metric.name} threshold {metric.threshold:g}"
    written = " ".join(f"{name} {value:g}" for name, value in (("min", bounds.min), ("max", bounds.max))
                       if value is not None)
    return f"{metric.name} thresholdRange {written}"


# -- files -----------------------------------------------------------------------------------

def lint_gates(path: str | Path, extra: Sequence[str | Path] = ()) -> tuple[list[LintedGate], list[str]]:
    """The gates in one file (its Rollouts, MetricTemplates and ``extra`` files help), each with its hazards, and
    the problems that stopped linting (no gate, a file that does not parse; a file of Rollouts or MetricTemplates
    given beside others only serves them). An unrendered Helm chart is read leniently (see the module docstring)."""
    try:
        source = read_unrendered(path)
    except GateError as exc:
        return [], list(exc.problems)
    others: list[Manifest] = []
    for other in extra:
        try:
            others.extend(read_manifests(other))
        except GateError:
            continue  # a file that cannot be read helps no other
    return _lint_source(source, others, str(path), bool(extra))


def lint_text(text: str, filename: str) -> list[Finding]:
    """The hazards of the gates in the YAML ``text`` (a file ``rampsim export`` writes, named ``filename``);
    :class:`~rampsim.gates.refusals.GateError` when it holds no gate that can be linted."""
    linted, problems = _lint_source(Unrendered(parse_manifests(text, filename)), [], filename, False)
    if problems:
        raise GateError(problems)
    return [finding for gate in linted for finding in gate.findings]


def _lint_source(source: Unrendered, others: Sequence[Manifest], path: str, helped: bool
                 ) -> tuple[list[LintedGate], list[str]]:
    """:func:`lint_gates` of a file read (``helped``: other files were given, which its Rollouts may serve)."""
    manifests = source.manifests
    kinds = {m.kind for m in manifests}
    linted: list[LintedGate] = []
    try:
        if kinds & set(TEMPLATE_KINDS):
            linted.append(_linted_argo(source, others))
        for canary in [m for m in manifests if m.kind == "Canary"]:
            unread = any(source.decided(canary, ("spec", key), "stepWeight", "stepWeights", "iterations")
                         for key in ("analysis", "canaryAnalysis"))
            flagger = import_flagger_manifests(manifests, [m for m in others if m.kind == "MetricTemplate"],
                                               canary=canary.name, weights_unread=unread)
            linted.append(_linted(source, "flagger", flagger.gate.name, flagger.gate,
                                  lint_flagger(flagger.gate, manifests, source), flagger.notes))
    except GateError as exc:
        return linted, [f"{problem} ({HELM_UNREAD})" if source.helm else problem for problem in exc.problems]
    if not kinds & {*TEMPLATE_KINDS, "Canary"}:
        if helped:
            return [], []   # Rollouts or MetricTemplates serving the other files, or no gate (`lint k8s/*.yaml`)
        return [], [f"{path}: no AnalysisTemplate or Canary to lint (found: {', '.join(sorted(kinds)) or 'nothing'})"]
    return linted, []


_IDLE = "the Rollout given runs none of the templates: no analysis to simulate"


def _linted_argo(source: Unrendered, others: Sequence[Manifest]) -> LintedGate:
    """The Argo gate of a file's templates, run by the Rollout of the file or of the ``others`` that runs them. A
    Rollout given that runs none of them (one of the file, or one of the others that runs no template of any file)
    is H5r: nothing gates its release, and there is nothing to simulate."""
    manifests = source.manifests
    names = {m.name for m in manifests if m.kind in TEMPLATE_KINDS}
    everywhere = names | {m.name for m in others if m.kind in TEMPLATE_KINDS}
    rollouts = [m for m in others if m.kind == "Rollout" and _template_names(m.get("spec", "strategy")) & names]
    embedded = [m for m in manifests if m.kind == "Rollout"]
    running = [m for m in embedded if _template_names(m.get("spec", "strategy")) & names]
    idle = [m for m in embedded if m not in running] + \
        [m for m in others if m.kind == "Rollout" and not _template_names(m.get("spec", "strategy")) & everywhere]
    if rollouts or running or not idle:
        helpers = _helper_templates([*rollouts, *running], others, names)
        imported = import_argo_manifests([*manifests, *helpers], rollouts)
        gate = imported.gate
        chosen = next((m for m in [*rollouts, *embedded] if m.name == gate.rollout.name), None)
        findings = lint_argo(gate, [*manifests, *helpers], source, chosen, names if helpers else None)
        theirs = tuple(f"{m.filename}:" for m in helpers)   # notes on the other files' templates are theirs
        notes = [note for note in imported.notes if not note.startswith(theirs)]
        if chosen is not None and unsupplied_args(gate.templates, gate.rollout):
            # simulated as Argo runs it: without rampsim's placeholders, a run that needs one is Error
            gate = gate.model_copy(update={"args": {k: v for k, v in gate.args.items() if k not in gate.placeholders},
                                           "placeholders": []})
        return _linted(source, "argo", next(iter(gate.templates), "argo-gate"), gate, findings, notes)
    imported = import_argo_manifests([m for m in manifests if m.kind != "Rollout"])
    notes = [note for note in imported.notes if note != NO_ROLLOUT_NOTE]
    rollout = idle[0]
    idle_finding = Finding(rollout.filename, rollout.line("spec", "strategy"), "H5r", f"Rollout {rollout.name!r}",
                           f"runs none of the templates given ({', '.join(sorted(names))}): its analysis is "
                           f"missing or names other templates",
                           "no AnalysisRun of these templates is created: nothing here gates the release, which is "
                           "promoted whatever the canary does")
    findings = [idle_finding, *lint_argo(imported.gate, manifests, source)]
    return _linted(source, "argo", next(iter(imported.gate.templates), "argo-gate"), imported.gate, findings, notes,
                   unsimulated=_IDLE)


def _helper_templates(rollouts: Sequence[Manifest], others: Sequence[Manifest], names: set[str]) -> list[Manifest]:
    """The templates of the other files that the ``rollouts`` run beside the file's own (``names``), each name once:
    Argo runs them in the same analyses, so the gate is theirs too (their hazards are their file's to report)."""
    wanted = set().union(*(_template_names(m.get("spec", "strategy")) for m in rollouts)) - names
    found: dict[str, Manifest] = {}
    for manifest in others:
        if manifest.kind in TEMPLATE_KINDS and manifest.name in wanted:
            found.setdefault(manifest.name, manifest)
    return list(found.values())


def _template_names(node: object) -> set[str]:
    """Every ``templateName`` under ``node`` (a Rollout's strategy: its steps' and background analyses'): the
    templates another file's Rollout runs, so that one refused Rollout stops only the templates it runs."""
    if isinstance(node, dict):
        found = {node["templateName"]} if isinstance(node.get("templateName"), str) else set()
        return found.union(*(_template_names(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_template_names(item) for item in node))
    return set()


def _linted(source: Unrendered, kind: str, name: str, gate: Union[ArgoGate, FlaggerGate],
            findings: list[Finding], imported: Sequence[str] = (), unsimulated: str = "") -> LintedGate:
    """The linted gate, its notes (what import defaulted, ``imported``; what a Helm chart's values decide)."""
    if not source.helm:
        return LintedGate(kind, name, gate, tuple(findings), unsimulated=unsimulated, imported=tuple(imported))
    notes = tuple(f"{manifest.where(*path)}: {'.'.join(map(str, path))} {why}: not linted, nor what depends on it "
                  f"(render the chart with `helm template` to lint it)"
                  for manifest in source.manifests for (index, path), why in source.decisions.items()
                  if index == manifest.index and (_JUDGED.intersection(path[2:])
                                                  or (len(path) > 2 and isinstance(manifest.get(*path), dict))))
    return LintedGate(kind, source.show(name), gate, tuple(replace(f, note=HELM_NOTE) for f in findings), notes,
                      unsimulated=HELM_NOTE, imported=tuple(imported))


def lint_file(path: str | Path, extra: Sequence[str | Path] = ()) -> tuple[list[Finding], list[str]]:
    """The hazards in one file (its Rollouts, MetricTemplates and ``extra`` files help), and the problems that
    stopped linting (a Helm template, no gate)."""
    linted, problems = lint_gates(path, extra)
    return [finding for gate in linted for finding in gate.findings], problems
