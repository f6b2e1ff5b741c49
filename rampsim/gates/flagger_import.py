"""Flagger files → a :class:`~rampsim.gates.flagger_model.FlaggerGate`: the Canary's analysis and its MetricTemplates.

Reads a Canary (``flagger.app/v1beta1`` ``spec.analysis``, or the legacy ``v1alpha3``
``spec.canaryAnalysis``) and the MetricTemplates its metrics refer to, from the Canary's file and
any ``--metric-template`` files. Every problem is located (``file:line: field: message``):

* refused (:class:`~rampsim.gates.refusals.GateRefused`): Helm chart templates, files without a
  Canary, MetricTemplates of a provider other than Prometheus, PromQL outside rampsim's subset, a
  Canary of the weights strategy that never shifts traffic (``stepWeight: 0`` and no ``stepWeights``);
* faithful (a note, and Flagger's behaviour in the simulation): a ``templateRef`` to a template
  not among the files (Flagger fails that check every tick: give it with ``--metric-template``,
  or pass ``strict`` to refuse instead), a template that does not render or a query Prometheus
  rejects (failed checks), metrics Flagger never checks (a name that is not a builtin, without
  ``templateRef`` or ``query``).

The controller-wide mesh provider is not in the files: ``mesh`` (``--mesh``) gives it, istio
(Flagger's default) otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from pydantic import ValidationError

from rampsim.gates.export import ANNOTATION
from rampsim.gates.flagger_canary import Strategy, never_shifted, strategy_of
from rampsim.gates.flagger_model import (
    BUILTIN_METRICS, MESHES, FlaggerAnalysis, FlaggerAssumptions, FlaggerGate, FlaggerMetric, MetricTemplate,
    template_key,
)
from rampsim.gates.flagger_queries import BUILTIN_QUERIES, MetricModel, _RenderError, observer_for, render_query
from rampsim.gates.manifests import Manifest, read_manifests
from rampsim.gates.refusals import GateError, GateRefused
from rampsim.promql import QueryError, UnsupportedQuery, check_supported

__all__ = ["FlaggerImport", "import_flagger", "import_flagger_manifests", "read_metric_templates"]

_ANALYSIS_FIELDS = set(FlaggerAnalysis.model_fields)
_METRIC_FIELDS = set(FlaggerMetric.model_fields)
_LOAD_TESTERS = ("loadtester", "hey ", "k6", "wrk", "vegeta", "locust", "siege", "ab -")


@dataclass
class FlaggerImport:
    """An imported gate, what was defaulted or noted, and the files it came from."""

    gate: FlaggerGate
    notes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def import_flagger(path: str | Path, metric_templates: Sequence[str | Path] = (), mesh: Optional[str] = None,
                   canary: Optional[str] = None, strict: bool = False) -> FlaggerImport:
    """Import the Canary in ``path`` (the one named ``canary`` if the file holds several)."""
    manifests = read_manifests(path)
    templates: list[Manifest] = []
    for extra in metric_templates:
        found = [m for m in read_manifests(extra) if m.kind == "MetricTemplate"]
        if not found:
            raise GateError([f"{extra}: no MetricTemplate in the file"])
        templates.extend(found)
    return import_flagger_manifests(manifests, templates, mesh, canary, strict, [str(path), *map(str, metric_templates)])


def read_metric_templates(manifests: Sequence[Manifest]) -> tuple[dict[str, MetricTemplate], list[str], list[str]]:
    """The Prometheus MetricTemplates among ``manifests`` (keyed ``namespace/name``), the refused ones' reasons,
    and located problems."""
    found: dict[str, MetricTemplate] = {}
    refused: list[str] = []
    problems: list[str] = []
    for manifest in manifests:
        if manifest.kind != "MetricTemplate":
            continue
        spec = manifest.get("spec")
        if not isinstance(spec, dict) or not isinstance(spec.get("query"), str):
            problems.append(manifest.problem(("spec", "query"), "a MetricTemplate needs a query"))
            continue
        written = spec.get("provider")
        provider: dict[str, Any] = written if isinstance(written, dict) else {"type": "prometheus"}
        kind = str(provider.get("type", "prometheus"))
        namespace = manifest.get("metadata", "namespace")
        key = template_key(manifest.name, namespace)
        if kind != "prometheus":
            refused.append(manifest.problem(("spec", "provider", "type"), f"MetricTemplate {manifest.name!r}: "
                                            f"refused: provider {kind!r} is not simulated (only Prometheus)"))
            continue
        found[key] = MetricTemplate(name=manifest.name, namespace=namespace, provider=provider, query=spec["query"])
    return found, refused, problems


def import_flagger_manifests(manifests: Sequence[Manifest], extra_templates: Sequence[Manifest] = (),
                             mesh: Optional[str] = None, canary: Optional[str] = None, strict: bool = False,
                             sources: Sequence[str] = (), weights_unread: bool = False) -> FlaggerImport:
    """Import from manifests already read (see :func:`import_flagger`); ``weights_unread``: an unrendered Helm
    chart's values decide the Canary's weights (lint reads such a chart), so a Canary that seems never to shift
    traffic is not refused."""
    if mesh is not None and mesh not in MESHES:
        raise GateError([f"--mesh: unknown mesh provider {mesh!r}; providers: {', '.join(MESHES)}"])
    canaries = [m for m in manifests if m.kind == "Canary"]
    files = ", ".join(sorted({m.filename for m in manifests})) or ", ".join(sources)
    if not canaries:
        kinds = sorted({m.kind or "(no kind)" for m in manifests})
        raise GateRefused([f"{files}: no Flagger Canary in the file (found: {', '.join(kinds) or 'nothing'})"])
    notes: list[str] = []
    chosen = canaries[0]
    if canary is not None:
        named = [m for m in canaries if m.name == canary]
        if not named:
            raise GateError([f"{files}: no Canary named {canary!r} (Canaries: {', '.join(m.name for m in canaries)})"])
        chosen = named[0]
    elif len(canaries) > 1:
        notes.append(f"{chosen.where('metadata', 'name')}: {len(canaries)} Canaries in the file; imported "
                     f"{chosen.name!r} (choose another with --canary NAME)")
    templates, refused, problems = read_metric_templates([*manifests, *extra_templates])
    gate = _canary(chosen, templates, mesh, notes, problems)
    unshifted = None if weights_unread else never_shifted(gate)
    if unshifted is not None:
        key = ("spec", "canaryAnalysis" if gate.legacy_analysis_field else "analysis")
        raise GateRefused([chosen.problem((*key, *(("stepWeight",) if gate.analysis.stepWeight is not None else ())),
                                          f"refused: {unshifted}")])
    notes.extend(_check(gate, chosen, refused, strict))
    return FlaggerImport(gate=gate, notes=notes, sources=list(sources) or sorted({m.filename for m in manifests}))


def _canary(manifest: Manifest, templates: dict[str, MetricTemplate], mesh: Optional[str], notes: list[str],
            problems: list[str]) -> FlaggerGate:
    spec = manifest.get("spec")
    if not isinstance(spec, dict):
        raise GateError([manifest.problem(("spec",), "a Canary needs a spec")])
    legacy = "analysis" not in spec and "canaryAnalysis" in spec
    key = "canaryAnalysis" if legacy else "analysis"
    written = spec.get(key)
    if not isinstance(written, dict):
        raise GateError([manifest.problem(("spec",), "a Canary needs spec.analysis (or the legacy canaryAnalysis)")])
    for extra in sorted(set(written) - _ANALYSIS_FIELDS):
        notes.append(manifest.problem(("spec", key, extra), f"{extra!r} is not simulated (not a field that decides "
                                                            f"which checks run or when): ignored"))
    metrics: dict[str, dict[str, Any]] = {}
    indices: dict[str, int] = {}  # a metric's key in the gate → its index in the Canary's list
    for index, metric in enumerate(written.get("metrics") or []):
        if not isinstance(metric, dict) or not isinstance(metric.get("name"), str):
            problems.append(manifest.problem(("spec", key, "metrics", index), "a metric is a mapping with a name"))
            continue
        name, suffix = metric["name"], 2
        while name in metrics:
            name, suffix = f"{metric['name']}-{suffix}", suffix + 1
        for extra in sorted(set(metric) - _METRIC_FIELDS):
            notes.append(manifest.problem(("spec", key, "metrics", index, extra),
                                          f"metric {metric['name']!r}: {extra!r} is not a Flagger metric field: ignored"))
        metrics[name] = {k: v for k, v in metric.items() if k in _METRIC_FIELDS}
        indices[name] = index
    analysis_data = {k: v for k, v in written.items() if k in _ANALYSIS_FIELDS and k != "metrics"}
    analysis_data["metrics"] = metrics
    provider = spec.get("provider")
    annotations = manifest.get("metadata", "annotations")
    written = {str(k): str(v) for k, v in annotations.items()} if isinstance(annotations, dict) else {}
    written_mesh = written.get(f"{ANNOTATION}mesh")
    chosen_mesh = mesh or (written_mesh if written_mesh in MESHES else None) or "istio"
    if mesh is None and not provider and written_mesh is None:
        notes.append("mesh: istio (Flagger's default -mesh-provider; the Canary sets no spec.provider): "
                     "set it with --mesh")
    try:
        analysis = FlaggerAnalysis.model_validate(analysis_data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = ("spec", key, *_as_written(tuple(error["loc"]), indices))
            problems.append(manifest.problem(loc, error["msg"].removeprefix("Value error, ")))
        raise GateError(problems) from None
    if problems:
        raise GateError(problems)
    data: dict[str, Any] = {
        "name": manifest.name or "canary",
        "namespace": str(manifest.get("metadata", "namespace") or "default"),
        "apiVersion": manifest.api_version or "flagger.app/v1beta1",
        "targetRef": spec.get("targetRef") or {"kind": "Deployment", "name": manifest.name or "app"},
        "service": spec.get("service"), "ingressRef": spec.get("ingressRef"),
        "routeRef": spec.get("routeRef"), "provider": provider,
        "mesh": chosen_mesh, "skipAnalysis": spec.get("skipAnalysis"), "legacy_analysis_field": legacy,
        "analysis": analysis, "templates": _used_templates(analysis, templates, manifest, notes),
    }
    try:
        gate = FlaggerGate.model_validate({k: v for k, v in data.items() if v is not None})
    except ValidationError as exc:
        raise GateError([manifest.problem(("spec", *[p for p in error["loc"] if isinstance(p, (str, int))]),
                                          error["msg"].removeprefix("Value error, ")) for error in exc.errors()]) from None
    strategy, iterations = strategy_of(gate)
    if f"{ANNOTATION}ab-weight" in written or f"{ANNOTATION}bluegreen-weight" in written:
        try:
            # the annotations' text read as the plan reads a share (float() would read '٠.٥' as 0.5)
            assume = FlaggerAssumptions(ab_weight=written.get(f"{ANNOTATION}ab-weight", 0.1),
                                        bluegreen_weight=written.get(f"{ANNOTATION}bluegreen-weight", 0.0))
        except ValidationError as exc:
            why = "; ".join(error["msg"].removeprefix("Value error, ") for error in exc.errors())
            raise GateError([manifest.problem(("metadata", "annotations"), "rampsim.io/ab-weight and "
                                              f"rampsim.io/bluegreen-weight are shares between 0 and 1: {why}")]
                            ) from None
        return gate.model_copy(update={"assume": assume})
    if strategy is Strategy.BLUEGREEN:
        testers = [str(hook.get("name", "")) for hook in analysis.webhooks
                   if hook.get("type", "rollout") == "rollout" and _load_test(hook)]
        weight = 0.05 if testers else 0.0
        gate = gate.model_copy(update={"assume": FlaggerAssumptions(bluegreen_weight=weight)})
        notes.append(f"blue/green ({iterations} iterations): no user traffic reaches the canary before promotion; "
                     + (f"the load test ({', '.join(testers)}) is assumed to send it {weight:.0%} of the traffic"
                        if testers else "nothing does, so every metric check finds no values")
                     + " (set flagger.assume.bluegreen_weight)")
    elif strategy is Strategy.AB:
        notes.append(f"A/B test ({iterations} iterations): the users 'match' selects are assumed to be "
                     f"{gate.assume.ab_weight:.0%} of the traffic (set flagger.assume.ab_weight)")
    return gate


def _as_written(loc: tuple[Any, ...], indices: dict[str, int]) -> tuple[Any, ...]:
    """A location in :class:`FlaggerAnalysis` (metrics keyed by name) as the Canary writes it (a list of metrics)."""
    if loc[:1] == ("metrics",) and len(loc) > 1 and loc[1] in indices:
        return ("metrics", indices[loc[1]], *loc[2:])
    return loc


def _load_test(hook: dict[str, Any]) -> bool:
    text = " ".join(str(v) for v in (hook.get("url"), (hook.get("metadata") or {}).get("cmd"),
                                     (hook.get("metadata") or {}).get("type"), hook.get("name")))
    return any(marker in text.lower() for marker in _LOAD_TESTERS)


def _used_templates(analysis: FlaggerAnalysis, templates: dict[str, MetricTemplate],
                    manifest: Manifest, notes: list[str]) -> dict[str, MetricTemplate]:
    used: dict[str, MetricTemplate] = {}
    namespace = str(manifest.get("metadata", "namespace") or "default")
    for metric in analysis.metrics.values():
        ref = metric.templateRef
        if ref is None:
            continue
        for key in (template_key(ref.name, ref.namespace or namespace), template_key(ref.name, ref.namespace),
                    template_key(ref.name, None)):
            if key in templates:
                used[key] = templates[key]
                break
        else:
            wanted = ref.namespace or namespace
            elsewhere = sorted({t.namespace or "" for t in templates.values() if t.name == ref.name} - {wanted, ""})
            if elsewhere:   # Flagger looks a template up in the reference's namespace only (runMetricChecks)
                notes.append(manifest.problem(("metadata", "name"), f"MetricTemplate {ref.name!r} is in namespace "
                                              f"{', '.join(elsewhere)}, and the Canary refers to {wanted}/{ref.name}: "
                                              f"Flagger finds no such template and fails the check every tick"))
    return used


def _check(gate: FlaggerGate, manifest: Manifest, refused: list[str], strict: bool) -> list[str]:
    """Refuse what cannot be simulated; note what Flagger will do with what cannot be checked."""
    notes: list[str] = []
    refusals: list[str] = []
    key = "canaryAnalysis" if gate.legacy_analysis_field else "analysis"
    if gate.analysis.mirror:
        notes.append(manifest.problem(("spec", key, "mirror"), "traffic mirroring is not simulated: Flagger first "
                                      "mirrors the canary's share for a checked tick before users reach it, so its "
                                      "schedule runs a tick later than the simulated phases"))
    observer = observer_for(gate.mesh, gate.provider)
    for index, (name, metric) in enumerate(gate.analysis.metrics.items()):
        path = ("spec", key, "metrics", index)
        if metric.kind == "ignored":
            notes.append(manifest.problem(path, f"metric {name!r} is not a builtin ({', '.join(BUILTIN_METRICS)}) and "
                                                f"has no templateRef or query: Flagger never checks it"))
            continue
        queries: list[str] = []
        if metric.name in BUILTIN_QUERIES[observer]:
            queries.append(render_query(BUILTIN_QUERIES[observer][metric.name],
                                        MetricModel(gate.name, gate.namespace, gate.target, gate.target, gate.target,
                                                    metric.interval or "1m")))
        if metric.query:
            queries.append(metric.query)
        if metric.templateRef is not None:
            template = gate.template_for(metric)
            ref = metric.templateRef
            if template is None:
                reason = next((r for r in refused if f"MetricTemplate {ref.name!r}" in r), None)
                if reason:
                    refusals.append(reason)
                    continue
                message = (f"metric {name!r} uses MetricTemplate {ref.namespace or gate.namespace}/{ref.name}, which is "
                           f"not among the files: give it with --metric-template FILE")
                if strict:
                    refusals.append(manifest.problem((*path, "templateRef"), f"refused: {message}"))
                else:
                    notes.append(manifest.problem((*path, "templateRef"), f"{message}; until then Flagger fails this "
                                                                          f"check every tick, and so does the simulation"))
                continue
            try:
                queries.append(render_query(template.query, MetricModel(
                    gate.name, gate.namespace, gate.target, gate.target, gate.target, metric.interval or "",
                    tuple(sorted((metric.templateVariables or {}).items())))))
            except _RenderError as exc:
                notes.append(manifest.problem((*path, "templateRef"), f"metric {name!r}: template {ref.name!r} does not "
                                                                      f"render ({exc}): a failed check every tick"))
                continue
        for query in queries:
            try:
                check_supported(query)
            except UnsupportedQuery as exc:
                refusals.append(manifest.problem(path, f"metric {name!r}: refused: {exc}"))
            except QueryError as exc:
                notes.append(manifest.problem(path, f"metric {name!r}: Prometheus would reject the query ({exc}): a "
                                                    f"failed check every tick, as in Flagger"))
    if refusals:
        raise GateRefused(refusals)
    return notes
