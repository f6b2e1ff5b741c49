"""A plan's gate written back as the controller's own files: import reads them back to the same gate.

``rampsim export argo`` writes the AnalysisTemplates (metrics as the gate holds them, a varied
``threshold`` written into the conditions, metrics rampsim did not simulate written back as
they were) and the Rollout (steps and analyses, with the args in effect). ``rampsim export
flagger`` writes the Canary and its MetricTemplates. What the files cannot say (the exporter
profile, the mesh, the assumptions) travels as ``rampsim.io/...`` annotations, which the
controllers ignore and the importer reads.

Import after export is the identity on gates in normal form (:func:`normalize_argo`: args the
command line gave are written into the Rollout's analyses, a threshold into the conditions, a limit
a grid set as text, ``'0'``, as a number).
"""
from __future__ import annotations

import re
from typing import Any

from rampsim.gates.argo_model import ArgoArg, ArgoGate, ArgoMetric, RolloutAnalysis
from rampsim.errors import UsageError
from rampsim.gates.exprlang import ConditionError, with_threshold
from rampsim.gates.flagger_model import FlaggerGate
from rampsim.gates.imported_plan import gate_data
from rampsim.gates.yamlout import dump_all

__all__ = ["ANNOTATION", "normalize_argo", "argo_documents", "flagger_documents", "export_argo", "export_flagger",
           "identity_text", "parse_identity"]

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
    declared = [arg.name for ref in analysis.templates for arg in gate.templates[ref.templateName].args]
    given = {arg.name: arg for arg in analysis.args}
    for name in declared:
        if name in gate.args:
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
    for key in ("service", "ingressRef", "provider", "skipAnalysis"):
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
