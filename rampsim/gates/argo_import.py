"""Argo Rollouts files → an :class:`~rampsim.gates.argo_model.ArgoGate`: templates, metrics, the Rollout, args.

Reads AnalysisTemplates, ClusterAnalysisTemplates and Rollouts from any number of multi-document
files (other kinds are passed over). Every problem is located (``file:line: field: message``):

* refused (:class:`~rampsim.gates.refusals.GateRefused`): Helm chart templates, files with no
  template, a Rollout with a blue-green strategy, PromQL outside rampsim's subset, conditions
  outside the expr subset, ``rangeQuery`` and ``consecutiveSuccessLimit``, and templates whose
  metrics all use a provider without telemetry;
* kept but not simulated (a note): metrics of the ``job``, ``web``, ``kayenta``, ``datadog``...
  providers next to Prometheus ones: they cannot be computed from telemetry, so the simulation
  assumes they pass (they are written back by ``rampsim export``);
* faithful (a note, and Argo's behaviour in the simulation): a condition expr cannot parse, a
  query Prometheus would reject, a tag other than ``{{args.x}}``: Argo makes those measurements
  or runs Error, and so does the engine.

Args with no value anywhere (no default, not given by the Rollout) would fail Argo's run; the
importer gives each a placeholder (the simulated service's names) in ``argo.args``, names it in
``argo.placeholders`` (``rampsim export`` writes none of them) and says so.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from pydantic import ValidationError

from rampsim.gates.argo_model import (
    DEFAULT_ROLLOUT_STEPS, ArgoGate, Assumptions, ArgoMetric, ArgoRollout, ArgoTemplate, Identity, NotSimulated,
    RolloutAnalysis, Step, repeated_name,
)
from rampsim.gates.argo_resolve import _RunError, repeated_metric, run_args, run_metrics
from rampsim.gates.export import ANNOTATION, parse_identity
from rampsim.gates.exprlang import ConditionSyntaxError, UnsupportedCondition, parse_condition
from rampsim.gates.manifests import Manifest, read_manifests
from rampsim.gates.profiles import PROFILES, infer_client, infer_profile
from rampsim.gates.refusals import GateError, GateRefused
from rampsim.gates.series_names import Use, infer_identity, prefers_stable, query_selectors, solve_placeholder
from rampsim.promql import QueryError, UnsupportedQuery, check_supported

__all__ = ["ArgoImport", "import_argo", "import_argo_manifests", "TEMPLATE_KINDS", "NOT_SIMULATED_REASONS",
           "placeholder_arg", "unsupplied_args", "NO_ROLLOUT_NOTE", "manual_promotion_notes"]

TEMPLATE_KINDS = ("AnalysisTemplate", "ClusterAnalysisTemplate")

NOT_SIMULATED_REASONS = {
    "job": "runs a Kubernetes Job (a load or smoke test) whose outcome does not depend on the service's telemetry",
    "web": "calls an HTTP endpoint rampsim cannot simulate",
    "kayenta": "asks Kayenta's statistical judge, which rampsim does not simulate",
    "plugin": "runs a metric plugin rampsim cannot simulate",
}
NO_ROLLOUT_NOTE = ("no Rollout given: rampsim assumes steps setWeight 20/50/80 with 5m pauses and runs the templates "
                   "as background analysis (give the Rollout with --rollout)")
"""What import says when it simulates the templates without their Rollout."""
_METRIC_FIELDS = {"name", "interval", "initialDelay", "count", "successCondition", "failureCondition", "failureLimit",
                  "inconclusiveLimit", "consecutiveErrorLimit", "provider", "consecutiveSuccessLimit"}
_PROMETHEUS_FIELDS = {"query", "address", "timeout", "insecure", "headers", "authentication", "rangeQuery"}
_ARGS_TAG = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+?)\s*\}\}")
_ANY_TAG = re.compile(r"\{\{(.*?)\}\}", re.S)


@dataclass
class ArgoImport:
    """An imported gate, what was defaulted or passed over (``notes``), and the files it came from."""

    gate: ArgoGate
    notes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def placeholder_arg(name: str, identity: Identity) -> str:
    """The value given to an arg nothing supplies: the simulated service's names, by the arg's name."""
    lowered = name.lower()
    if "namespace" in lowered or lowered in ("ns",):
        return identity.namespace
    if "hash" in lowered:
        return identity.stable_hash if "stable" in lowered else identity.canary_hash
    return identity.service


def import_argo(paths: Sequence[str | Path], rollout: Optional[str | Path] = None,
                args: Optional[Mapping[str, str]] = None, profile: Optional[str] = None) -> ArgoImport:
    """Import Argo templates from ``paths`` (and a Rollout from them or from ``rollout``)."""
    manifests: list[Manifest] = []
    for path in paths:
        manifests.extend(read_manifests(path))
    rollouts: list[Manifest] = []
    if rollout is not None:
        rollouts = [m for m in read_manifests(rollout) if m.kind == "Rollout"]
        if not rollouts:
            raise GateError([f"{rollout}: no Rollout in the file"])
    return import_argo_manifests(manifests, rollouts, args or {}, profile, [str(p) for p in paths])


def import_argo_manifests(manifests: Sequence[Manifest], rollouts: Sequence[Manifest] = (),
                          args: Optional[Mapping[str, str]] = None, profile: Optional[str] = None,
                          sources: Sequence[str] = ()) -> ArgoImport:
    """Import from manifests already read (see :func:`import_argo`)."""
    args = dict(args or {})
    if profile is not None and profile not in PROFILES:
        raise GateError([f"--profile: unknown profile {profile!r}; profiles: {', '.join(PROFILES)}"])
    templates = [m for m in manifests if m.kind in TEMPLATE_KINDS]
    if not templates:
        files = sorted({m.filename for m in manifests}) or list(sources)
        kinds = sorted({m.kind or "(no kind)" for m in manifests})
        hint = (" (a Kustomization patch: render it with 'kustomize build' first)" if "Kustomization" in kinds else "")
        raise GateRefused([f"{', '.join(files)}: no AnalysisTemplate or ClusterAnalysisTemplate in the file "
                           f"(found: {', '.join(kinds) or 'nothing'}){hint}"])
    notes: list[str] = []
    problems: list[str] = []
    refusals: list[str] = []
    gate_templates: dict[str, ArgoTemplate] = {}
    metrics: list[tuple[str, ArgoMetric]] = []
    skipped: list[NotSimulated] = []
    for manifest in templates:
        _read_template(manifest, gate_templates, metrics, skipped, notes, problems, refusals)
    if refusals:
        raise GateRefused(refusals + problems)
    if problems:
        raise GateError(problems)
    if not metrics:
        reasons = "; ".join(f"metric {s.name!r} ({s.provider}) {s.reason}" for s in skipped)
        where = ", ".join(sorted({m.filename for m in templates}))
        raise GateRefused([f"{where}: no metric rampsim can simulate: {reasons or 'the templates have no metrics'}"])
    keyed = _keys(metrics)
    embedded = [m for m in manifests if m.kind == "Rollout"]
    rollout, rollout_notes, annotations, rollout_manifest = _read_rollout(list(rollouts) + embedded, gate_templates)
    notes.extend(rollout_notes)
    written_identity = parse_identity(annotations.get(f"{ANNOTATION}identity", ""))
    identity = Identity(**{k: v for k, v in written_identity.items() if k in Identity.model_fields})
    args = {**parse_identity(annotations.get(f"{ANNOTATION}args", "")), **args}
    queries = [m.query for _, m in keyed.items()]
    written_profile = annotations.get(f"{ANNOTATION}profile")
    chosen = profile or (written_profile if written_profile in PROFILES else None) or infer_profile(queries)
    if profile is None and chosen != written_profile:
        notes.append(f"profile: {chosen} (inferred from the series the queries select; set it with --profile)")
    known, overridden = _known_args(gate_templates, rollout, args)
    notes.extend(overridden)
    if not written_identity:
        identity, identity_notes = _infer_identity(chosen, keyed, known)
        notes.extend(identity_notes)
        client = infer_client(queries) if chosen == "http" else None
        if client is not None and Identity.client_fields(client):
            identity = identity.model_copy(update=Identity.client_fields(client))
            counter = (f"{client.requests}{{{client.status_label}}}" if client.requests
                       else f"{client.duration}_count{{{client.status_label}}}")
            notes.append(f"series: the queries read an HTTP client library's series under its own names: the "
                         f"simulated requests are counted by {counter}, their latency in {client.duration}_bucket "
                         f"(argo.identity's requests_series, status_label and duration_series name them)")
    gate_args, arg_notes, placeholders = _fill_args(gate_templates, rollout, args, identity, chosen, keyed, known)
    notes.extend(arg_notes)
    promotion = annotations.get(f"{ANNOTATION}manual-promotion-after")
    for item in skipped:
        notes.append(f"metric {item.name!r} of template {item.template!r} is not simulated ({item.provider} "
                     f"provider: {item.reason}): the simulation assumes it passes")
    try:
        gate = ArgoGate(profile=chosen, templates=gate_templates, metrics=keyed, rollout=rollout, args=gate_args,
                        placeholders=placeholders, identity=identity, not_simulated=skipped,
                        assume=Assumptions(manual_promotion_after=promotion) if promotion else Assumptions())
    except ValidationError as exc:
        raise GateError([f"{', '.join(sources) or 'argo'}: {error['msg']}" for error in exc.errors()]) from None
    notes.extend(_check_queries(gate, templates))
    notes.extend(_repeated_notes(gate, templates))
    notes.extend(manual_promotion_notes(gate, rollout_manifest))
    return ArgoImport(gate=gate, notes=notes, sources=list(sources) or sorted({m.filename for m in manifests}))


def _keys(metrics: list[tuple[str, ArgoMetric]]) -> dict[str, ArgoMetric]:
    names = [m.name for _, m in metrics]
    keyed: dict[str, ArgoMetric] = {}
    for template, metric in metrics:
        key = metric.name if names.count(metric.name) == 1 else f"{template}/{metric.name}"
        keyed[key] = metric
    return keyed


def _metadata(manifest: Manifest) -> dict[str, Any]:
    """The template's ``namespace`` and ``labels``, as written (what is not text or a mapping is left out: the API
    server would refuse it, and no simulation reads it)."""
    namespace, labels = manifest.get("metadata", "namespace"), manifest.get("metadata", "labels")
    written: dict[str, Any] = {"namespace": namespace} if isinstance(namespace, str) else {}
    if isinstance(labels, dict) and labels:
        written["labels"] = {str(key): value for key, value in labels.items()}
    return written


def _read_template(manifest: Manifest, templates: dict[str, ArgoTemplate], metrics: list[tuple[str, ArgoMetric]],
                   skipped: list[NotSimulated], notes: list[str], problems: list[str], refusals: list[str]) -> None:
    name = manifest.name or f"template-{len(templates) + 1}"
    if name in templates:
        problems.append(manifest.problem(("metadata", "name"), f"a second template named {name!r}"))
        return
    spec = manifest.get("spec")
    if not isinstance(spec, dict):
        problems.append(manifest.problem(("spec",), "an AnalysisTemplate needs a spec with metrics"))
        return
    try:
        template = ArgoTemplate(kind=manifest.kind, args=spec.get("args") or [], dryRun=spec.get("dryRun") or [],
                                **_metadata(manifest))
    except ValidationError as exc:
        problems.extend(_located_errors(manifest, exc, ("spec",)))
        return
    templates[name] = template
    written = spec.get("metrics")
    if not isinstance(written, list) or not written:
        problems.append(manifest.problem(("spec", "metrics"), "a template needs a list of metrics"))
        return
    names: set[str] = set()
    for index, metric in enumerate(written):
        path = ("spec", "metrics", index)
        if not isinstance(metric, dict) or not isinstance(metric.get("name"), str):
            problems.append(manifest.problem(path, "a metric is a mapping with a name"))
            continue
        label = f"metric {metric['name']!r}"
        if metric["name"] in names:
            problems.append(manifest.problem((*path, "name"), f"{label}: {repeated_name(metric['name'], name)}"))
            continue
        names.add(metric["name"])
        provider = metric.get("provider")
        if not isinstance(provider, dict) or len(provider) != 1:
            problems.append(manifest.problem((*path, "provider"), f"{label}: a provider names exactly one kind "
                                                                  f"(prometheus, job, web...)"))
            continue
        kind = next(iter(provider))
        if kind != "prometheus":
            reason = NOT_SIMULATED_REASONS.get(kind, f"queries {kind}, which rampsim does not simulate "
                                                     f"(only Prometheus)")
            skipped.append(NotSimulated(template=name, name=metric["name"], provider=kind, reason=reason,
                                        spec=metric))
            continue
        converted = _metric(manifest, path, name, metric, notes, problems, refusals)
        if converted is not None:
            metrics.append((name, converted))


def _metric(manifest: Manifest, path: tuple, template: str, metric: dict[str, Any], notes: list[str],
            problems: list[str], refusals: list[str]) -> Optional[ArgoMetric]:
    label = f"metric {metric['name']!r}"
    prometheus = metric["provider"]["prometheus"]
    if not isinstance(prometheus, dict) or not isinstance(prometheus.get("query"), str):
        problems.append(manifest.problem((*path, "provider", "prometheus", "query"),
                                         f"{label}: provider.prometheus needs a query"))
        return None
    if prometheus.get("rangeQuery") is not None:
        refusals.append(manifest.problem((*path, "provider", "prometheus", "rangeQuery"),
                                         f"{label}: refused: range queries are not simulated"))
        return None
    if metric.get("consecutiveSuccessLimit") is not None:
        refusals.append(manifest.problem((*path, "consecutiveSuccessLimit"),
                                         f"{label}: refused: consecutiveSuccessLimit is not simulated"))
        return None
    for extra in sorted(set(metric) - _METRIC_FIELDS):
        notes.append(manifest.problem((*path, extra), f"{label}: {extra!r} is not a field of an Argo metric: "
                                                      f"ignored (Kubernetes prunes it)"))
    for extra in sorted(set(prometheus) - _PROMETHEUS_FIELDS):
        notes.append(manifest.problem((*path, "provider", "prometheus", extra),
                                      f"{label}: {extra!r} is not a field of the Prometheus provider: ignored"))
    for condition_field in ("successCondition", "failureCondition"):
        condition = metric.get(condition_field)
        if condition is None or condition == "":
            continue   # Argo's EvaluateResult reads an empty condition as none
        if not isinstance(condition, str):
            condition = str(condition).lower() if isinstance(condition, bool) else str(condition)
            metric = {**metric, condition_field: condition}
        if _ANY_TAG.search(condition):
            continue  # checked once args are substituted, when a run starts
        try:
            parse_condition(condition)
        except UnsupportedCondition as exc:
            refusals.append(manifest.problem((*path, condition_field), f"{label}: refused: {exc}"))
            return None
        except ConditionSyntaxError as exc:
            notes.append(manifest.problem((*path, condition_field),
                                          f"{label}: expr cannot compile this condition ({exc}): every measurement "
                                          f"is Error, as in Argo"))
    fields = {key: metric[key] for key in ("interval", "initialDelay", "count", "successCondition",
                                           "failureCondition", "failureLimit", "inconclusiveLimit",
                                           "consecutiveErrorLimit") if metric.get(key) is not None}
    for key in ("interval", "initialDelay"):
        if isinstance(fields.get(key), (int, float)) and not isinstance(fields.get(key), bool):
            problems.append(manifest.problem((*path, key), f"{label}: {key} is a Go duration such as '30s' "
                                                           f"(Argo refuses a bare number), got {fields[key]!r}"))
            return None
    provider = {key: prometheus[key] for key in ("query", "address", "timeout", "insecure", "headers",
                                                 "authentication") if prometheus.get(key) is not None}
    try:
        return ArgoMetric(name=metric["name"], template=template, provider={"prometheus": provider}, **fields)
    except ValidationError as exc:
        problems.extend(_located_errors(manifest, exc, path, label))
        return None


def _located_errors(manifest: Manifest, exc: ValidationError, prefix: tuple, label: str = "") -> list[str]:
    out = []
    for error in exc.errors():
        loc = (*prefix, *(p for p in error["loc"] if not (isinstance(p, str) and "[" in p)))
        message = error["msg"].removeprefix("Value error, ")
        out.append(manifest.problem(loc, f"{label}: {message}" if label else message))
    return out


def _read_rollout(rollouts: Sequence[Manifest], templates: Mapping[str, ArgoTemplate]
                  ) -> tuple[ArgoRollout, list[str], dict[str, str], Optional[Manifest]]:
    notes: list[str] = []
    usable: list[tuple[Manifest, dict[str, Any]]] = []
    for manifest in rollouts:
        strategy = manifest.get("spec", "strategy")
        if not isinstance(strategy, dict):
            raise GateError([manifest.problem(("spec", "strategy"), "a Rollout needs a strategy")])
        if "canary" not in strategy:
            kinds = ", ".join(sorted(strategy)) or "none"
            raise GateRefused([manifest.problem(("spec", "strategy"), f"refused: only the canary strategy is "
                                                                      f"simulated (this Rollout uses {kinds}); "
                                                                      f"import the templates alone")])
        usable.append((manifest, strategy.get("canary") or {}))
    chosen: Optional[tuple[Manifest, dict[str, Any]]] = None
    for manifest, canary in usable:
        if _references(canary) & set(templates):
            chosen = (manifest, canary)
            break
    if chosen is None and usable:
        chosen = usable[0]
    if len(usable) > 1 and chosen is not None:
        notes.append(f"{chosen[0].where('metadata', 'name')}: several Rollouts given; using {chosen[0].name!r}")
    if chosen is None:
        names = [{"templateName": name} for name in templates]
        notes.append(NO_ROLLOUT_NOTE)
        return ArgoRollout(name="rollout", steps=[Step.model_validate(s) for s in DEFAULT_ROLLOUT_STEPS],
                           analysis=RolloutAnalysis.model_validate({"templates": names})), notes, {}, None
    manifest, canary = chosen
    base = ("spec", "strategy", "canary")
    problems: list[str] = []
    steps: list[Step] = []
    for index, written in enumerate(canary.get("steps") or []):
        if isinstance(written, dict) and isinstance(written.get("analysis"), dict):
            written = {**written, "analysis": {k: v for k, v in written["analysis"].items()
                                               if k not in _UNMODELLED_ANALYSIS_FIELDS}}
        try:
            steps.append(Step.model_validate(written))
        except ValidationError as exc:
            problems.extend(_located_errors(manifest, exc, (*base, "steps", index)))
    analysis: Optional[RolloutAnalysis] = None
    if canary.get("analysis") is not None:
        try:
            analysis = RolloutAnalysis.model_validate(_analysis_fields(canary["analysis"]))
        except ValidationError as exc:
            problems.extend(_located_errors(manifest, exc, (*base, "analysis")))
    if problems:
        raise GateError(problems)
    for index, step in enumerate(steps):
        refs = step.analysis.templates if step.analysis else []
        for ref_index, ref in enumerate(refs):
            if ref.templateName not in templates:
                problems.append(manifest.problem((*base, "steps", index, "analysis", "templates", ref_index),
                                                 f"the analysis uses template {ref.templateName!r}, not among the "
                                                 f"imported files: add it"))
    for ref_index, ref in enumerate(analysis.templates if analysis else []):
        if ref.templateName not in templates:
            problems.append(manifest.problem((*base, "analysis", "templates", ref_index),
                                             f"the background analysis uses template {ref.templateName!r}, not among "
                                             f"the imported files: add it"))
    if problems:
        raise GateError(problems)
    if not any(s.analysis for s in steps) and analysis is None:
        names = [{"templateName": name} for name in templates]
        analysis = RolloutAnalysis.model_validate({"templates": names})
        notes.append(f"{manifest.where(*base)}: the Rollout runs no analysis; rampsim runs the templates as "
                     f"background analysis from the first step")
    annotations = manifest.get("metadata", "annotations")
    written = {str(k): str(v) for k, v in annotations.items()} if isinstance(annotations, dict) else {}
    return ArgoRollout(name=manifest.name or "rollout", steps=steps, analysis=analysis), notes, written, manifest


def manual_promotion_notes(gate: ArgoGate, manifest: Optional[Manifest] = None) -> list[str]:
    """A note, located at the step, for each step only a person ends: an indefinite ``pause: {}``, and an analysis
    step whose run measures until terminated (a metric with an ``interval`` and no ``count``): Argo holds the rollout
    there until a person promotes past it (A1, A5); rampsim assumes the promotion ``argo.assume`` says."""
    after = gate.assume.manual_promotion_after
    assumed = (f"rampsim assumes a person promotes {after} after the step begins (argo.assume.manual_promotion_after "
               f"in the plan; 'never' waits to the end of the simulation)"
               if gate.assume.promotion_after is not None else
               "rampsim waits to the end of the simulation (argo.assume.manual_promotion_after: never)")
    notes: list[str] = []
    for index, step in enumerate(gate.rollout.steps):
        path: tuple[Any, ...] = ("spec", "strategy", "canary", "steps", index)
        if step.pause is not None and step.pause.seconds is None:
            path, why = (*path, "pause"), "an indefinite pause waits for a person to promote"
        elif step.analysis is not None:
            try:
                endless = [spec.name for spec in run_metrics(gate, step.analysis) if spec.count is None]
            except _RunError:
                continue  # the run is Error at once: the rollout aborts, nobody promotes
            if not endless:
                continue
            names = ", ".join(repr(name) for name in endless)
            path, why = (*path, "analysis"), (f"the analysis never ends on its own (metric {names}: an interval and "
                                              f"no count): Argo holds the rollout on this step until the run fails "
                                              f"or a person promotes past it (which ends it Successful)")
        else:
            continue
        message = f"step {index}: {why}; {assumed}: the promotion is not the controller's"
        notes.append(manifest.problem(path, message) if manifest is not None else message)
    return notes


_UNMODELLED_ANALYSIS_FIELDS = ("measurementRetention", "analysisRunMetadata")
"""Fields of a Rollout's analysis that change what the AnalysisRun keeps or is labelled with, not what it decides."""


def _analysis_fields(written: Any) -> Any:
    if isinstance(written, dict):
        return {k: v for k, v in written.items() if k in ("templates", "templateName", "args", "startingStep", "dryRun")}
    return written


def _references(canary: Mapping[str, Any]) -> set[str]:
    names: set[str] = set()
    analyses = [step.get("analysis") for step in canary.get("steps") or [] if isinstance(step, dict)]
    analyses.append(canary.get("analysis"))
    for analysis in analyses:
        if isinstance(analysis, dict):
            refs = analysis.get("templates") or [analysis]
            for ref in refs if isinstance(refs, list) else []:
                if isinstance(ref, dict) and isinstance(ref.get("templateName"), str):
                    names.add(ref["templateName"])
    return names


def _known_args(templates: Mapping[str, ArgoTemplate], rollout: ArgoRollout,
                given: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Every arg value the files or the command line give, in the precedence of
    :func:`~rampsim.gates.argo_resolve.run_args`: a template's default, replaced by ``--arg``, replaced by a value the
    Rollout's analysis writes (an ``--arg`` fills what the Rollout does not write or takes by ``valueFrom``); and a
    note for each ``--arg`` a value the Rollout writes overrides."""
    known = {arg.name: arg.value for template in templates.values() for arg in template.args if arg.value is not None}
    known.update({str(k): str(v) for k, v in given.items()})
    analyses = [s.analysis for s in rollout.steps if s.analysis is not None]
    if rollout.analysis is not None:
        analyses.append(rollout.analysis)
    written: dict[str, str] = {}
    for analysis in analyses:
        written.update({arg.name: arg.value for arg in analysis.args if arg.value is not None})
    notes = [f"--arg {name}={given[name]}: the Rollout's analysis gives {name!r} the value {written[name]!r}, which "
             f"wins, as in Argo: the --arg only fills an analysis that does not write it"
             for name in sorted(set(given) & set(written)) if str(given[name]) != written[name]]
    known.update(written)
    return known, notes


def _selectors(metrics: Mapping[str, ArgoMetric], templates: Optional[set[str]] = None) -> list[list[Use]]:
    return [uses for metric in metrics.values() if templates is None or metric.template in templates
            for uses in query_selectors(metric.query)]


def _infer_identity(profile: str, metrics: Mapping[str, ArgoMetric],
                    known: Mapping[str, str]) -> tuple[Identity, list[str]]:
    """The service and namespace the simulated series carry: those the queries select (:mod:`~rampsim.gates.series_names`)."""
    default = Identity()
    service, namespace = infer_identity(profile, _selectors(metrics), known, default.service, default.namespace)
    if (service, namespace) == (default.service, default.namespace):
        return default, []
    return Identity(service=service, namespace=namespace), [
        f"identity: the simulated service is {service!r} in namespace {namespace!r}, the names the queries select "
        f"(under the {profile} profile, each arm's workload is {service}-canary or {service}-stable); edit "
        f"argo.identity to rename"]


def unsupplied_args(templates: Mapping[str, ArgoTemplate], rollout: ArgoRollout) -> list[tuple[str, str, str]]:
    """The args an analysis of ``rollout`` runs a template with and nothing in the files gives a value (no default,
    no ``valueFrom``, not in the analysis's args): ``(arg, template, analysis)``, each arg once, the analysis named
    as :meth:`~rampsim.gates.argo_model.ArgoGate.analyses` names it. Argo fails such a run ("args.x was not
    resolved")."""
    analyses = [(f"steps.{i}", s.analysis) for i, s in enumerate(rollout.steps) if s.analysis is not None]
    if rollout.analysis is not None:
        analyses.append(("background", rollout.analysis))
    missing: list[tuple[str, str, str]] = []
    for where, analysis in analyses:
        rollout_args = {arg.name: arg for arg in analysis.args}
        for ref in analysis.templates:
            for arg in templates[ref.templateName].args:
                supplied = rollout_args.get(arg.name)
                if any(arg.name == name for name, *_ in missing) or arg.value is not None or arg.valueFrom is not None:
                    continue
                if supplied is not None and (supplied.value is not None or supplied.valueFrom is not None):
                    continue
                missing.append((arg.name, ref.templateName, where))
    return missing


def _fill_args(templates: Mapping[str, ArgoTemplate], rollout: ArgoRollout, given: Mapping[str, str],
               identity: Identity, profile: str = "http", metrics: Optional[Mapping[str, ArgoMetric]] = None,
               known: Optional[Mapping[str, str]] = None) -> tuple[dict[str, str], list[str], list[str]]:
    """``argo.args``: the command line's values, and a placeholder for each arg nothing else supplies (the value its
    queries' matchers need to select the canary's series, :func:`~rampsim.gates.series_names.solve_placeholder`);
    the notes, and the names of the placeholders (``argo.placeholders``)."""
    notes: list[str] = []
    values = {str(k): str(v) for k, v in given.items()}
    context = dict(known or values)
    declared = {arg.name for template in templates.values() for arg in template.args}
    for name in sorted(set(values) - declared):
        notes.append(f"--arg {name}: no template declares this arg; kept, but no query uses it")
    missing = [(name, template) for name, template, _ in unsupplied_args(templates, rollout) if name not in values]
    # names whose default is reliable (namespaces, pod hashes) first: the others may be read from matchers using them
    missing.sort(key=lambda item: 0 if _reliable(item[0]) else 1)
    for name, template in missing:
        default = placeholder_arg(name, identity)
        value = default
        if metrics is not None:
            value = solve_placeholder(name, default, profile, identity.service, identity.namespace,
                                      _selectors(metrics, {template}), context)
        values[name] = context[name] = value
        why = "" if value == default else (f", the value its matchers need to select the "
                                           f"{'stable' if prefers_stable(name) else 'canary'} arm's series under the "
                                           f"{profile} profile")
        notes.append(f"arg {name!r} of template {template!r} has no value (Argo would fail the "
                     f"run): defaulted to {value!r}{why}; set it with --arg {name}=VALUE")
    return values, notes, sorted(name for name, _ in missing)


def _reliable(name: str) -> bool:
    lowered = name.lower()
    return "namespace" in lowered or lowered == "ns" or "hash" in lowered


def _check_queries(gate: ArgoGate, templates: Sequence[Manifest]) -> list[str]:
    """Refuse queries outside rampsim's PromQL subset; note those Prometheus itself would reject."""
    notes: list[str] = []
    refusals: list[str] = []
    where = {m.name: m for m in templates}
    analyses = [a for _, a in gate.analyses()]
    unrun = sorted({m.template for m in gate.metrics.values()} - {ref.templateName for analysis in analyses
                                                                  for ref in analysis.templates})
    for name in unrun:
        notes.append(_where(where.get(name), ("metadata", "name"), f"template {name!r} is not run by the Rollout's "
                                                                    f"analyses: imported, never measured"))
    for key, metric in gate.metrics.items():
        declared = {arg.name: arg for arg in gate.templates[metric.template].args}
        # a template no analysis runs is read with its own args (a value for each: Argo never resolves them)
        args: dict[str, str] = {name: arg.value if arg.value is not None else gate.args.get(name)
                                or placeholder_arg(name, gate.identity) for name, arg in declared.items()} \
            if metric.template in unrun else {}
        for analysis in analyses:
            if any(ref.templateName == metric.template for ref in analysis.templates):
                try:
                    args = run_args(gate, analysis)
                except _RunError:
                    args = {}
                break
        query = _ARGS_TAG.sub(lambda m: args.get(m.group(1), m.group(0)), metric.query)
        manifest = where.get(metric.template)
        index = _metric_index(manifest, metric.name)
        path = ("spec", "metrics", index, "provider", "prometheus", "query")
        tag = _ANY_TAG.search(query)
        if tag is not None:
            undeclared = _ARGS_TAG.fullmatch(tag.group(0))
            why = (f"has the tag {tag.group(0)!r}, and Argo resolves only {{{{args.<name>}}}} tags" if not undeclared
                   else f"uses {tag.group(0)}, but the arg {undeclared.group(1)!r} has no value" if
                   undeclared.group(1) in declared else
                   f"uses {tag.group(0)}, but no template declares the arg {undeclared.group(1)!r} (spec.args)")
            notes.append(_where(manifest, path, f"metric {metric.name!r}: the query {why}: every run is Error, "
                                                f"as in Argo"))
            continue
        try:
            check_supported(query)
        except UnsupportedQuery as exc:
            refusals.append(_where(manifest, path, f"metric {metric.name!r}: refused: {exc}"))
        except QueryError as exc:
            notes.append(_where(manifest, path, f"metric {metric.name!r}: Prometheus would reject this query ({exc}):"
                                                f" every measurement is Error, as in Argo"))
    if refusals:
        raise GateRefused(refusals)
    return notes


def _repeated_notes(gate: ArgoGate, templates: Sequence[Manifest]) -> list[str]:
    """A note for each analysis that runs two metrics of one name from different templates (Argo cannot merge them:
    the run is Error at its start, and so is the simulation's), at the second one's name."""
    where = {m.name: m for m in templates}
    notes = []
    for name, analysis in gate.analyses():
        repeated = repeated_metric(gate, analysis)
        if repeated is None:
            continue
        template, metric = repeated
        manifest = where.get(template)
        notes.append(_where(manifest, ("spec", "metrics", _metric_index(manifest, metric), "name"),
                            f"metric {metric!r} of template {template!r}: the analysis {name} runs another metric of "
                            f"that name (from an earlier template): Argo cannot merge them into one AnalysisRun, which "
                            f"is Error at its start, and the rollout aborts, as in the simulation (rename one)"))
    return notes


def _metric_index(manifest: Optional[Manifest], name: str) -> int:
    if manifest is None:
        return 0
    for index, metric in enumerate(manifest.get("spec", "metrics") or []):
        if isinstance(metric, dict) and metric.get("name") == name:
            return index
    return 0


def _where(manifest: Optional[Manifest], path: tuple, message: str) -> str:
    if manifest is None:
        return message
    return manifest.problem(path, message)

