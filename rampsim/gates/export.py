"""A plan's gate written back as the controller's own files: import reads them back to the same gate.

``rampsim export argo`` writes the AnalysisTemplates (metrics as the gate holds them, a varied
``threshold`` written into the conditions, metrics rampsim did not simulate written back as
they were) and the Rollout (steps and analyses, with the args in effect). ``rampsim export
flagger`` writes the Canary and its MetricTemplates. What the files cannot say (the exporter
profile, the mesh, the assumptions) travels as ``rampsim.io/...`` annotations, which the
controllers ignore and the importer reads.

``--onto FILE...`` writes the gate into the team's own manifests instead (:func:`onto_text`):
each object the gate names keeps every field rampsim does not model (a Rollout's pod template,
selector and traffic routing, a Canary's autoscaler and deadlines, a template's namespace, an
analysis step's ``analysisRunMetadata``), read as Kubernetes reads it
(:func:`~rampsim.gates.yamlout.go_load`), and the fields it models are the gate's; every other
object is written byte for byte as in its file. What the team's files do not run stays off: no
background analysis for a Rollout that runs none, no value for an arg nothing supplies
(``argo.placeholders``).

Import after export is the identity on gates in normal form (:func:`normalize_argo`: args the
command line gave are written into the Rollout's analyses, a threshold into the conditions, a limit
a grid set as text, ``'0'``, as a number).
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Collection, Optional, Sequence

from rampsim.gates.argo_model import ArgoArg, ArgoGate, ArgoMetric, ArgoPrometheus, RolloutAnalysis, whole_text
from rampsim.errors import UsageError
from rampsim.gates.exprlang import ConditionError, with_threshold
from rampsim.gates.flagger_model import FlaggerAnalysis, FlaggerGate, FlaggerMetric
from rampsim.gates.manifests import Manifest, comment_lines, render_raw_strings
from rampsim.gates.refusals import GateError
from rampsim.gates.imported_plan import gate_data
from rampsim.gates.yamlout import dump, go_load

__all__ = ["ANNOTATION", "normalize_argo", "argo_documents", "flagger_documents", "export_argo", "export_flagger",
           "written_onto", "onto_text", "identity_text", "parse_identity", "fragment_note"]

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
    """``analysis`` with ``argo.args`` written for the declared args it gives no value (what it writes stays), but
    rampsim's placeholders (``argo.placeholders``): an arg nothing supplies stays unsupplied."""
    declared = [arg.name for ref in analysis.templates for arg in gate.templates[ref.templateName].args]
    given = {arg.name: arg for arg in analysis.args}
    for name in declared:
        written = given.get(name)
        if name in gate.args and name not in gate.placeholders and \
                (written is None or (written.value is None and written.valueFrom is None)):
            given[name] = ArgoArg(name=name, value=gate.args[name])
    return analysis.model_copy(update={"args": list(given.values())})


_WHOLE_FIELDS = ("count", "failureLimit", "inconclusiveLimit", "consecutiveErrorLimit")


def _apply_threshold(metric: ArgoMetric) -> ArgoMetric:
    whole = {field: number for field in _WHOLE_FIELDS if isinstance(value := getattr(metric, field), str)
             and (number := whole_text(value)) is not None}
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
    leftover = {k: v for k, v in gate.args.items() if k not in used or k in gate.placeholders}
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
        metadata: dict[str, Any] = {"name": name, **{key: template_data[key] for key in ("namespace", "labels")
                                                     if template_data.get(key)}}
        documents.append({"apiVersion": _ARGO_API, "kind": template.kind, "metadata": metadata, "spec": spec})
    annotations = {f"{ANNOTATION}profile": gate.profile,
                   f"{ANNOTATION}identity": identity_text(gate.identity.model_dump(exclude_none=True)),
                   f"{ANNOTATION}manual-promotion-after": str(gate.assume.manual_promotion_after or "never")}
    given = {name: value for name, value in data.get("args", {}).items() if name not in gate.placeholders}
    if given:
        annotations[f"{ANNOTATION}args"] = identity_text(given)
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


def fragment_note(kind: str, name: str) -> str:
    """What export without ``--onto`` says of the Rollout or Canary it writes: only the gate's part of it."""
    part = "canary steps and analysis" if kind == "Rollout" else "target, service and analysis"
    return (f"{kind} {name!r} is a fragment, only its {part}: merge it into your {kind}, or write the gate into "
            f"your files with --onto")


def _commented(documents: Sequence[dict[str, Any]]) -> str:
    """``documents`` as YAML, the Rollout or Canary with the :func:`fragment_note` as a comment."""
    text = ""
    for document in documents:
        kind, name = document["kind"], document["metadata"]["name"]
        comment = f"# rampsim: {fragment_note(kind, name)}\n" if kind in ("Rollout", "Canary") else ""
        text += "---\n" + comment + dump(document)
    return text


def export_argo(gate: ArgoGate) -> str:
    """The gate as YAML: AnalysisTemplates then the Rollout (a fragment, marked as such)."""
    return _commented(argo_documents(gate))


def export_flagger(gate: FlaggerGate) -> str:
    """The gate as YAML: the Canary (a fragment, marked as such) then its MetricTemplates."""
    return _commented(flagger_documents(gate))


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
    """``new``'s items (mappings with a ``name``), each ``merge``d over the first ``original`` item of that name, in
    ``original``'s order, then the items it does not have; an ``original`` item ``new`` has no counterpart for
    stays as written (export never removes a team's metric, :func:`_unexported_metrics`)."""
    pending = list(new)
    out = []
    for item in original if isinstance(original, list) else []:
        index = next((i for i, written in enumerate(pending)
                      if isinstance(item, dict) and written.get("name") == item.get("name")), None)
        out.append(item if index is None else merge(item, pending.pop(index)))
    return out + [merge(None, item) for item in pending]


def _metric_names(document: Any, kind: str) -> list[Any]:
    """The names of the metrics of an AnalysisTemplate or a Canary (as written: a name may be repeated)."""
    spec = document.get("spec") if isinstance(document, dict) else None
    spec = spec if isinstance(spec, dict) else {}
    if kind == "Canary":
        spec = next((spec[k] for k in ("canaryAnalysis", "analysis") if isinstance(spec.get(k), dict)), {})
    metrics = spec.get("metrics")
    return [item.get("name") if isinstance(item, dict) else item for item in (metrics if isinstance(metrics, list)
                                                                            else [])]


def _unexported_metrics(manifest: Manifest, document: dict[str, Any]) -> list[str]:
    """A note for each metric of the file's object that the gate does not write (the plan has none of that name, or
    the file repeats a name): it is kept as the file writes it, not removed, nor was it simulated."""
    if manifest.kind not in ("AnalysisTemplate", "ClusterAnalysisTemplate", "Canary"):
        return []
    exported = _metric_names(document, manifest.kind)
    notes = []
    for name in _metric_names(go_load(render_raw_strings(manifest.body)), manifest.kind):
        if name in exported:
            exported.remove(name)
            continue
        notes.append(f"{manifest.where()}: {manifest.kind} {manifest.name!r}: metric {name!r} is not in the plan's "
                     f"gate (or its name is repeated): kept as the file writes it, not simulated (remove it yourself "
                     f"if the gate should not run it)")
    return notes


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


def _steps(original: Any, new: list[Any]) -> list[Any]:
    """The gate's canary steps over the file's, step by step: an analysis step keeps the fields of the file's step
    at that place that rampsim does not model (``analysisRunMetadata``, ``measurementRetention``...)."""
    old = original if isinstance(original, list) else []
    steps = []
    for index, step in enumerate(new):
        before = old[index] if index < len(old) and isinstance(old[index], dict) else {}
        if isinstance(step, dict) and "analysis" in step and isinstance(before.get("analysis"), dict):
            step = {**step, "analysis": _kept(before["analysis"], step["analysis"], _ANALYSIS_FIELDS)}
        steps.append(step)
    return steps


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
        strategy["canary"]["steps"] = _steps(old.get("steps"), written["steps"])
        if "analysis" in written:
            strategy["canary"]["analysis"] = _kept(old.get("analysis"), written["analysis"], _ANALYSIS_FIELDS)
    elif kind in ("AnalysisTemplate", "ClusterAnalysisTemplate"):
        template_spec = merged.get("spec")
        merged["spec"] = _kept(template_spec, spec, ("args", "dryRun", "metrics"))
        old_metrics = template_spec.get("metrics") if isinstance(template_spec, dict) else None
        merged["spec"]["metrics"] = _by_name(old_metrics, spec["metrics"], _argo_metric)
    elif kind == "Canary":
        merged["spec"] = _merged_canary(merged.get("spec"), spec)
    else:   # a MetricTemplate
        merged["spec"] = _kept(merged.get("spec"), spec, ("provider", "query"))
    return _numbers_as_written(original, merged)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _numbers_as_written(original: Any, new: Any, whole: bool = False) -> Any:
    """``new`` with each number the file wrote at the same place kept as written when it is the same number (``500``
    stays ``500``, not ``500.0``), and a whole number written as an integer where the file wrote one there, or
    (``whole``) where the file wrote only integers beside it."""
    if isinstance(new, dict):
        old = original if isinstance(original, dict) else {}
        numbers = [value for value in old.values() if _is_number(value)]
        ints = bool(numbers) and all(isinstance(value, int) for value in numbers)
        return {key: _numbers_as_written(old.get(key), value, ints) for key, value in new.items()}
    if isinstance(new, list):
        items = original if isinstance(original, list) else []
        return [_numbers_as_written(items[i] if i < len(items) else None, value) for i, value in enumerate(new)]
    if _is_number(new) and _is_number(original) and new == original:
        return original
    if isinstance(new, float) and new.is_integer() and abs(new) < 1e15 and \
            (isinstance(original, int) and _is_number(original) or (original is None and whole)):
        return int(new)
    return new


def _merged_canary(found: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """A Canary's ``spec`` with the gate's ``spec`` written into it (the analysis under the file's own key)."""
    written_key = "canaryAnalysis" if "canaryAnalysis" in spec else "analysis"
    old_spec: dict[str, Any] = found if isinstance(found, dict) else {}
    key = next((k for k in ("canaryAnalysis", "analysis") if k in old_spec), written_key)   # the file's own key
    written = {**{k: v for k, v in spec.items() if k != written_key}, key: spec[written_key]}
    merged = _kept(old_spec, written, ("targetRef", "service", "ingressRef", "routeRef", "provider", "skipAnalysis",
                                       "analysis", "canaryAnalysis"))
    old_analysis = old_spec.get(key)
    analysis = _kept(old_analysis, written[key], FlaggerAnalysis.model_fields)
    if "metrics" in written[key]:
        analysis["metrics"] = _by_name(old_analysis.get("metrics") if isinstance(old_analysis, dict) else None,
                                       written[key]["metrics"],
                                       lambda old, item: _kept(old, item, FlaggerMetric.model_fields))
    merged[key] = analysis
    return merged


def _runs_analysis(manifest: Manifest) -> bool:
    """Whether the Rollout ``manifest`` runs any analysis (a background one, or a step's)."""
    canary = manifest.get("spec", "strategy", "canary")
    steps = canary.get("steps") if isinstance(canary, dict) else None
    return isinstance(canary, dict) and ("analysis" in canary or any(
        isinstance(step, dict) and "analysis" in step for step in (steps if isinstance(steps, list) else [])))


def _without_unrun_analysis(manifest: Manifest, document: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``document`` without the background analysis when the file's Rollout runs none (import simulated its
    templates as one, an assumption: written, it would turn on a gate the team does not run), and the note."""
    if manifest.kind != "Rollout" or "analysis" not in document["spec"]["strategy"]["canary"] or \
            _runs_analysis(manifest):
        return document, []
    written = copy.deepcopy(document)
    del written["spec"]["strategy"]["canary"]["analysis"]
    return written, [f"{manifest.where('spec', 'strategy')}: Rollout {manifest.name!r} runs no analysis: the "
                     f"background analysis rampsim simulated is not written (nothing gates this release until you "
                     f"add one)"]


def _analysis_args(analysis: Any) -> dict[str, Any]:
    """The args an analysis (as written) gives a value or ``valueFrom``, by name."""
    written = analysis.get("args") if isinstance(analysis, dict) else None
    args = written if isinstance(written, list) else []
    return {arg["name"]: arg.get("value", arg.get("valueFrom")) for arg in args
            if isinstance(arg, dict) and "name" in arg and (arg.get("value") is not None or arg.get("valueFrom"))}


def _args_added(manifest: Manifest, document: dict[str, Any]) -> list[str]:
    """A note for each arg value the exported Rollout ``document`` gives an analysis the file's Rollout does not:
    a value of the plan's ``argo.args`` (from ``--arg`` at import), which the team's Rollout did not supply."""
    if manifest.kind != "Rollout":
        return []
    canary = document["spec"]["strategy"]["canary"]
    places: list[tuple[tuple[Any, ...], Any]] = [
        (("spec", "strategy", "canary", "steps", index, "analysis"), step["analysis"])
        for index, step in enumerate(canary.get("steps", [])) if isinstance(step, dict) and "analysis" in step]
    if "analysis" in canary:
        places.append((("spec", "strategy", "canary", "analysis"), canary["analysis"]))
    notes = []
    for path, analysis in places:
        before = _analysis_args(manifest.get(*path))
        for name, value in _analysis_args(analysis).items():
            if name not in before:
                notes.append(f"{manifest.where(*path)}: Rollout {manifest.name!r}: arg {name!r} written with the value "
                             f"{value!r} from the plan's argo.args, which the file does not supply (check it is yours, "
                             f"an --arg of the import, not a placeholder of an import older than argo.placeholders)")
    return notes


def _checked(exported: dict[tuple[str, str], dict[str, Any]], manifests: Sequence[Manifest]
             ) -> dict[tuple[str, str], Manifest]:
    """The manifest of each exported object the files hold; :class:`GateError` when one is there twice, or is a
    blue/green Rollout."""
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
    return seen


def written_onto(documents: Sequence[dict[str, Any]], manifests: Sequence[Manifest]
                 ) -> tuple[list[Manifest | dict[str, Any]], list[str]]:
    """The team's ``manifests`` with the exported ``documents`` written into the objects of the same kind and
    name, then the AnalysisTemplates and MetricTemplates no manifest holds; and the notes (a Rollout or Canary the
    files do not hold is not written: export writes only the gate's part of it). An object the gate changes is
    its data as Kubernetes reads it (:func:`~rampsim.gates.yamlout.go_load`) with the gate's fields; one it does
    not change (every other object) stays its :class:`Manifest`, to be written as it is.
    :class:`~rampsim.gates.refusals.GateError` when an object is there twice, or is a blue/green Rollout."""
    exported = {(d["kind"], d["metadata"]["name"]): d for d in documents}
    seen = _checked(exported, manifests)
    out: list[Manifest | dict[str, Any]] = []
    notes: list[str] = []
    for manifest in manifests:
        document = exported.get((manifest.kind, manifest.name))
        if document is None:
            out.append(manifest)
            continue
        document, unrun = _without_unrun_analysis(manifest, document)
        notes += unrun + _args_added(manifest, document) + _unexported_metrics(manifest, document)
        original = go_load(render_raw_strings(manifest.body))
        merged = _merged(original, document)
        out.append(manifest if merged == original else merged)
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


def onto_text(documents: Sequence[dict[str, Any]], manifests: Sequence[Manifest]) -> tuple[str, list[str]]:
    """:func:`written_onto` as one YAML stream, and its notes: an object the gate does not change is written byte
    for byte as in its file (comments too); one it changes keeps the comments before it, and a note counts those
    in it, which are not written."""
    pieces, notes = written_onto(documents, manifests)
    sources: list[Optional[Manifest]] = [*manifests, *[None] * (len(pieces) - len(manifests))]
    text = ""
    for index, (piece, source) in enumerate(zip(pieces, sources)):
        if isinstance(piece, Manifest) and (index == len(pieces) - 1 or _ends_cleanly(piece.body)):
            text = _appended(text, piece.preamble, piece.body)
            continue
        if isinstance(piece, Manifest):   # its last value would gain the line break that ends it: written anew
            piece = go_load(render_raw_strings(piece.body))
        head = source.head if source else ""
        text = _appended(text, source.preamble if source else "", head + dump(piece))
        notes += _rewrite_notes(source) if source else []
    return text, notes


def _rewrite_notes(manifest: Manifest) -> list[str]:
    """What is lost when the object of ``manifest`` is written anew: its comments, its Helm raw strings."""
    notes = []
    dropped = comment_lines(manifest.body[len(manifest.head):])
    if dropped:
        notes.append(f"{manifest.where()}: {manifest.kind} {manifest.name!r}: {dropped} comment line(s) not "
                     f"written (rampsim rewrote the object; the comments before it are kept)")
    if "{{`" in manifest.body:
        notes.append(f"{manifest.where()}: {manifest.kind} {manifest.name!r}: its Helm raw strings "
                     f"({{{{`{{{{args.x}}}}`}}}}) are written rendered ({{{{args.x}}}}): escape them again before "
                     f"the file goes back into the chart")
    return notes


def _ends_cleanly(body: str) -> bool:
    """Whether ``body`` ends with a line break, or reads the same with one (a file's last document may end without:
    a ``|`` block then ends there too)."""
    return body.endswith("\n") or go_load(render_raw_strings(body)) == go_load(render_raw_strings(body + "\n"))


def _appended(text: str, preamble: str, body: str) -> str:
    """``text`` with one more document: the comments before it, then ``body`` (a ``---`` put before them when it
    follows another document, a ``...`` before its directives)."""
    if text and not text.endswith("\n"):
        text += "\n"
    if text and body.startswith("%") and not text.rstrip().endswith("\n..."):
        text += "...\n"
    elif text and not body.startswith(("---", "%")):
        text += "---\n"   # before the comments: they are the document's (the first of a file, or of the export)
    return text + preamble + body
