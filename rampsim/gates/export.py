"""A plan's gate written back as the controller's own files: import reads them back to the same gate.

``rampsim export argo`` writes the AnalysisTemplates (metrics as the gate holds them, a varied
``threshold`` written into the conditions, metrics rampsim did not simulate written back as
they were) and the Rollout (steps and analyses, with the args in effect). ``rampsim export
flagger`` writes the Canary and its MetricTemplates. What the files cannot say (the exporter
profile, the mesh, the assumptions) travels as ``rampsim.io/...`` annotations, which the
controllers ignore and the importer reads.

``--onto FILE...`` writes the gate into the team's own manifests instead (:func:`written_onto`):
each object the gate names keeps every field rampsim does not model (a Rollout's pod template,
selector and traffic routing, a Canary's autoscaler and deadlines, a template's namespace), and the
fields it models are the gate's.

Import after export is the identity on gates in normal form (:func:`normalize_argo`: args the
command line gave are written into the Rollout's analyses, a threshold into the conditions, a limit
a grid set as text, ``'0'``, as a number).
"""
from __future__ import annotations

import copy
import re
from typing import Any, Callable, Collection, Sequence

from rampsim.gates.argo_model import ArgoArg, ArgoGate, ArgoMetric, ArgoPrometheus, RolloutAnalysis
from rampsim.errors import UsageError
from rampsim.gates.exprlang import ConditionError, with_threshold
from rampsim.gates.flagger_model import FlaggerAnalysis, FlaggerGate, FlaggerMetric
from rampsim.gates.manifests import Manifest
from rampsim.gates.refusals import GateError
from rampsim.gates.imported_plan import gate_data
from rampsim.gates.yamlout import dump_all

__all__ = ["ANNOTATION", "normalize_argo", "argo_documents", "flagger_documents", "export_argo", "export_flagger",
           "written_onto", "identity_text", "parse_identity"]

ANNOTATION = "rampsim.io/"
_ARGO_API = "argoproj.io/v1alpha1"


def identity_text(values: dict[str, str]) -> str:
    """``namespace=default,service=app,...``: an identity as one annotation value."""
    return ",".join(f"{k}={v}" for k, v in values.items())


def parse_identity(text: str) -> dict[str, str]:
    """The inverse of :func:`identity_text`."""
    out: dict[str, str] = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        if key.strip():
            out[key.strip()] = value.strip()
    return out


def _with_args(analysis: RolloutAnalysis, gate: ArgoGate) -> RolloutAnalysis:
    """``analysis`` with ``argo.args`` written for the declared args it gives no value (what it writes stays)."""
    declared = [arg.name for ref in analysis.templates for arg in gate.templates[ref.templateName].args]
    given = {arg.name: arg for arg in analysis.args}
    for name in declared:
        written = given.get(name)
        if name in gate.args and (written is None or (written.value is None and written.valueFrom is None)):
            given[name] = ArgoArg(name=name, value=gate.args[name])
    return analysis.model_copy(update={"args": list(given.values())})


_WHOLE_FIELDS = ("count", "failureLimit", "inconclusiveLimit", "consecutiveErrorLimit")


def _apply_threshold(metric: ArgoMetric) -> ArgoMetric:
    whole = {field: int(value) for field in _WHOLE_FIELDS
             if isinstance(value := getattr(metric, field), str) and re.fullmatch(r"\s*-?\d+\s*", value)}
    if whole:   # a sweep's grid sets limits as text ('0'): written back as the numbers Argo's users write
        metric = metric.model_copy(update=whole)
    if metric.threshold is None:
        return metric
    update: dict[str, Any] = {"threshold": None}
    for field in ("successCondition", "failureCondition"):
        condition = getattr(metric, field)
        if condition:
            try:
                update[field] = with_threshold(condition, metric.threshold)
            except (UsageError, ConditionError):  # not exactly one threshold: the condition keeps its text
                pass
    return metric.model_copy(update=update)


def normalize_argo(gate: ArgoGate) -> ArgoGate:
    """The gate as export writes it: ``args`` folded into the Rollout's analyses, thresholds into conditions."""
    rollout = gate.rollout
    steps = [step.model_copy(update={"analysis": _with_args(step.analysis, gate)}) if step.analysis else step
             for step in rollout.steps]
    background = _with_args(rollout.analysis, gate) if rollout.analysis else None
    used = {arg.name for _, analysis in gate.analyses() for ref in analysis.templates
            for arg in gate.templates[ref.templateName].args}
    leftover = {k: v for k, v in gate.args.items() if k not in used}
    return gate.model_copy(update={
        "rollout": rollout.model_copy(update={"steps": steps, "analysis": background}),
        "args": leftover,
        "metrics": {key: _apply_threshold(metric) for key, metric in gate.metrics.items()},
    })


def argo_documents(gate: ArgoGate) -> list[dict[str, Any]]:
    """The AnalysisTemplates and the Rollout of a gate, as Kubernetes objects."""
    gate = normalize_argo(gate)
    data = gate_data(gate)
    documents: list[dict[str, Any]] = []
    for name, template in gate.templates.items():
        template_data = data["templates"][name]
        metrics = []
        for key, metric in gate.template_metrics(name):
            written = {k: v for k, v in data["metrics"][key].items() if k not in ("template", "threshold")}
            metrics.append(written)
        metrics.extend(item.spec for item in gate.not_simulated if item.template == name)
        spec: dict[str, Any] = {}
        if template_data.get("args"):
            spec["args"] = template_data["args"]
        if template_data.get("dryRun"):
            spec["dryRun"] = template_data["dryRun"]
        spec["metrics"] = metrics
        documents.append({"apiVersion": _ARGO_API, "kind": template.kind, "metadata": {"name": name}, "spec": spec})
    annotations = {f"{ANNOTATION}profile": gate.profile,
                   f"{ANNOTATION}identity": identity_text(gate.identity.model_dump(exclude_none=True)),
                   f"{ANNOTATION}manual-promotion-after": str(gate.assume.manual_promotion_after or "never")}
    if data.get("args"):
        annotations[f"{ANNOTATION}args"] = identity_text(data["args"])
    canary: dict[str, Any] = {"steps": data["rollout"].get("steps", [])}
    if "analysis" in data["rollout"]:
        canary["analysis"] = data["rollout"]["analysis"]
    documents.append({"apiVersion": _ARGO_API, "kind": "Rollout",
                      "metadata": {"name": gate.rollout.name, "annotations": annotations},
                      "spec": {"strategy": {"canary": canary}}})
    return documents


def flagger_documents(gate: FlaggerGate) -> list[dict[str, Any]]:
    """The Canary and its MetricTemplates, as Kubernetes objects."""
    data = gate_data(gate)
    analysis = dict(data["analysis"])
    analysis["metrics"] = [metric for metric in data["analysis"].get("metrics", {}).values()]
    if not analysis["metrics"]:
        analysis.pop("metrics")
    spec: dict[str, Any] = {"targetRef": data["targetRef"]}
    for key in ("service", "ingressRef", "routeRef", "provider", "skipAnalysis"):
        if key in data:
            spec[key] = data[key]
    spec["canaryAnalysis" if gate.legacy_analysis_field else "analysis"] = analysis
    annotations = {f"{ANNOTATION}mesh": gate.mesh,
                   f"{ANNOTATION}ab-weight": repr(gate.assume.ab_weight),
                   f"{ANNOTATION}bluegreen-weight": repr(gate.assume.bluegreen_weight)}
    documents: list[dict[str, Any]] = [{"apiVersion": gate.apiVersion, "kind": "Canary",
                                        "metadata": {"name": gate.name, "namespace": gate.namespace,
                                                     "annotations": annotations},
                                        "spec": spec}]
    for template in gate.templates.values():
        metadata: dict[str, Any] = {"name": template.name}
        if template.namespace is not None:
            metadata["namespace"] = template.namespace
        documents.append({"apiVersion": "flagger.app/v1beta1", "kind": "MetricTemplate", "metadata": metadata,
                          "spec": {"provider": template.provider, "query": template.query}})
    return documents


def export_argo(gate: ArgoGate) -> str:
    """The gate as YAML: AnalysisTemplates then the Rollout."""
    return dump_all(argo_documents(gate))


def export_flagger(gate: FlaggerGate) -> str:
    """The gate as YAML: the Canary then its MetricTemplates."""
    return dump_all(flagger_documents(gate))


# -- onto the team's manifests ----------------------------------------------------------------

def _kept(original: Any, new: dict[str, Any], modelled: Collection[str]) -> dict[str, Any]:
    """``new`` over ``original``: in ``original``'s key order, the keys ``new`` has take its values, the other
    ``modelled`` keys go (the gate has none; written empty, they stay), every other key of ``original`` stays;
    ``new``'s other keys follow."""
    old = original if isinstance(original, dict) else {}
    out = {key: new[key] if key in new else value for key, value in old.items()
           if key in new or key not in modelled or value in ([], {}, None)}   # an empty value is the default
    out.update((key, value) for key, value in new.items() if key not in old)
    return out


def _by_name(original: Any, new: list[Any], merge: Callable[[Any, dict[str, Any]], dict[str, Any]]) -> list[Any]:
    """``new``'s items (mappings with a ``name``), each ``merge``d over the ``original`` item of that name, in
    ``original``'s order, then the items it does not have."""
    old = {item.get("name"): item for item in original if isinstance(item, dict)} if isinstance(original, list) else {}
    rank = {name: index for index, name in enumerate(old)}
    ordered = sorted(new, key=lambda item: rank.get(item.get("name"), len(rank)))
    return [merge(old.get(item.get("name")), item) for item in ordered]


def _argo_metric(original: Any, new: dict[str, Any]) -> dict[str, Any]:
    """An AnalysisTemplate metric: :func:`_kept`, its Prometheus provider too (``args`` and such kept)."""
    metric = _kept(original, new, ArgoMetric.model_fields)
    old_provider = original.get("provider") if isinstance(original, dict) else None
    written = (new.get("provider") or {}).get("prometheus")
    if isinstance(old_provider, dict) and written is not None:
        metric["provider"] = _kept(old_provider, {"prometheus": _kept(old_provider.get("prometheus"), written,
                                                                      ArgoPrometheus.model_fields)}, ("prometheus",))
    return metric


def _path(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The mapping at ``keys`` (made when missing or not a mapping)."""
    for key in keys:
        if not isinstance(data.get(key), dict):
            data[key] = {}
        data = data[key]
    return data


_ANALYSIS_FIELDS = (*RolloutAnalysis.model_fields, "templateName")   # templateName: before Argo v0.9


def _merged(original: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The object ``original`` with the gate's fields of its counterpart ``new`` written into it."""
    merged = copy.deepcopy(original)
    annotations = (new.get("metadata") or {}).get("annotations")
    if annotations:
        _path(merged, "metadata", "annotations").update(annotations)
    kind, spec = new["kind"], new["spec"]
    if kind == "Rollout":
        strategy, written = _path(merged, "spec", "strategy"), spec["strategy"]["canary"]
        found = strategy.get("canary")
        old: dict[str, Any] = found if isinstance(found, dict) else {}
        strategy["canary"] = _kept(old, written, ("steps", "analysis"))
        if "analysis" in written:
            strategy["canary"]["analysis"] = _kept(old.get("analysis"), written["analysis"], _ANALYSIS_FIELDS)
    elif kind in ("AnalysisTemplate", "ClusterAnalysisTemplate"):
        template_spec = merged.get("spec")
        merged["spec"] = _kept(template_spec, spec, ("args", "dryRun", "metrics"))
        old_metrics = template_spec.get("metrics") if isinstance(template_spec, dict) else None
        merged["spec"]["metrics"] = _by_name(old_metrics, spec["metrics"], _argo_metric)
    elif kind == "Canary":
        written_key = "canaryAnalysis" if "canaryAnalysis" in spec else "analysis"
        found_spec = merged.get("spec")
        old_spec: dict[str, Any] = found_spec if isinstance(found_spec, dict) else {}
        key = next((k for k in ("canaryAnalysis", "analysis") if k in old_spec), written_key)   # the file's own key
        written = {**{k: v for k, v in spec.items() if k != written_key}, key: spec[written_key]}
        merged["spec"] = _kept(old_spec, written, ("targetRef", "service", "ingressRef", "routeRef", "provider", "skipAnalysis",
                                                   "analysis", "canaryAnalysis"))
        old_analysis = old_spec.get(key)
        analysis = _kept(old_analysis, written[key], FlaggerAnalysis.model_fields)
        if "metrics" in written[key]:
            analysis["metrics"] = _by_name((old_analysis or {}).get("metrics") if isinstance(old_analysis, dict)
                                           else None, written[key]["metrics"],
                                           lambda old, item: _kept(old, item, FlaggerMetric.model_fields))
        merged["spec"][key] = analysis
    else:   # a MetricTemplate
        merged["spec"] = _kept(merged.get("spec"), spec, ("provider", "query"))
    return merged


def written_onto(documents: Sequence[dict[str, Any]], manifests: Sequence[Manifest]
                 ) -> tuple[list[Any], list[str]]:
    """The team's ``manifests`` with the exported ``documents`` written into the objects of the same kind and
    name (the other objects as they are), then the AnalysisTemplates and MetricTemplates no manifest holds; and
    the notes (a Rollout or Canary the files do not hold is not written: export writes only the gate's part of
    it). :class:`~rampsim.gates.refusals.GateError` when an object is there twice, or is a blue/green Rollout."""
    exported = {(d["kind"], d["metadata"]["name"]): d for d in documents}
    seen: dict[tuple[str, str], Manifest] = {}
    problems = []
    for manifest in manifests:
        key = (manifest.kind, manifest.name)
        if key not in exported:
            continue
        if key in seen:
            problems.append(manifest.problem(("metadata", "name"), f"a second {manifest.kind} named {manifest.name!r} "
                                                                   f"(first in {seen[key].where()}): which one "
                                                                   f"is the gate's?"))
        seen[key] = manifest
        if manifest.kind == "Rollout" and isinstance(manifest.get("spec", "strategy", "blueGreen"), dict):
            problems.append(manifest.problem(("spec", "strategy", "blueGreen"), "a blue/green Rollout: the gate "
                                                                                 "is a canary strategy's"))
    if problems:
        raise GateError(problems)
    out = [_merged(m.data, exported[(m.kind, m.name)]) if (m.kind, m.name) in exported else m.data
           for m in manifests]
    notes = []
    for (kind, name), document in exported.items():
        if (kind, name) in seen:
            continue
        if kind in ("Rollout", "Canary"):
            notes.append(f"{kind} {name!r} is not in the files given with --onto: not written (export without "
                         f"--onto shows its part of it)")
        else:
            notes.append(f"{kind} {name!r} is not in the files given with --onto: written after them")
            out.append(document)
    return out, notes
