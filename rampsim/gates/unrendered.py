"""Gate files that are not yet what a cluster runs, read leniently for ``rampsim lint``: unrendered Helm chart
templates, and the AnalysisTemplate metrics a Kustomization patch carries.

``rampsim import`` refuses both (:mod:`rampsim.gates.manifests`, :mod:`rampsim.gates.argo_import`): simulating
them would be a guess. Lint can still judge what does not depend on the chart's values, the way the
real-gates README counted its hazards ("their actions replaced by placeholders"):

* **Helm actions** (``{{ .Values.x }}``, ``{{ include ... }}``, ``{{- if ... }}``, ``{{- end }}``...) are
  replaced in place, one line for one line, so every line number stays the file's. An action among
  other text becomes a placeholder ``__HELM_<n>__``; a line holding only actions becomes a YAML comment
  listing their placeholders, indented like the next line (inside a block scalar, a line of its text).
  Actions that only write a string (``{{`{{args.x}}`}}``, ``{{ "{{" }}``) are rendered, as ``helm
  template`` would whatever the values (the ``-`` of such an action trims nothing here). The
  controllers' own tags are not Helm actions and stay as written: Argo's ``{{args.x}}`` /
  ``{{ args.x }}`` (any dotted name without a leading ``.`` or ``$``: ``{{rollout.spec.x}}`` is Argo's
  unresolvable tag, not Go template syntax) and Flagger's ``{{ namespace }}``, ``{{ target }}``,
  ``{{ interval }}``, ``{{ name }}``, ``{{ service }}``, ``{{ ingress }}``, ``{{ route }}``.
* **Decided by the values** (:meth:`Unrendered.decided`): a field whose value holds a placeholder, and a
  field written inside an ``if``/``range``/``with`` block its parent is not inside (a block around a whole
  object or a whole metric decides only whether it exists, not what it says). Such a value is taken out
  of the data (a query becomes ``vector(0)``; names and list items stay), and a linter reports nothing that
  depends on it. Two kinds of placeholder are kept because lint can still judge them: a PromQL query's
  placeholders inside string literals (label values: no hazard depends on them) and a condition's
  placeholders that are all thresholds compared with ``result`` (:meth:`Unrendered.condition_variants`
  tries every threshold on a few numbers; a hazard counts only if it holds for each).
* **Kustomization patches** (``patches`` / ``patchesJson6902`` with an inline ``patch``): the metrics a
  JSON 6902 ``add``/``replace`` of ``/spec/metrics`` (or a strategic-merge AnalysisTemplate) writes become
  an AnalysisTemplate named after the patch target, with the lines of the patch in the file. It declares
  the args its queries use, since the base template (not read) does.
"""
from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from rampsim.gates.argo_import import TEMPLATE_KINDS
from rampsim.gates.exprlang import ConditionError, threshold_literals
from rampsim.gates.manifests import HelmTemplate, Manifest, parse_manifests, read_text, render_raw_strings
from rampsim.gates.refusals import GateError
from rampsim.plan.source import Document, SourceError, parse_document

__all__ = ["Unrendered", "read_unrendered", "blank_helm_actions", "HelmText", "HELM_NOTE", "HELM_UNREAD", "KeyPath"]

HELM_NOTE = "an unrendered Helm template: consequence not simulated; render it with `helm template` to measure"
"""What each finding in a Helm chart template says about it."""
HELM_UNREAD = "an unrendered Helm template, its actions blanked: render it with `helm template` to lint it"
"""What a problem that stops linting a Helm chart template says about it."""

KeyPath = tuple[Any, ...]

_ACTION = re.compile(r'\{\{((?:"(?:[^"\\]|\\.)*"|`[^`]*`|[^"`}]|\}(?!\}))*)\}\}')
"""A Go template action; its strings may hold ``}}`` (``{{ "}}" }}``, ``(dict "k" "{{.args.x}}")``)."""
_LITERAL = re.compile(r'\s*-?\s*(?:"((?:[^"\\]|\\.)*)"|`([^`]*)`)\s*-?\s*')
"""An action that only writes a string (``{{ "{{" }}``): Helm renders it to its content, whatever the values."""
_CONTROLLER_TAG = re.compile(r"[A-Za-z_][\w-]*(?:\.[\w-]+)+|name|namespace|target|service|ingress|route|interval")
_TOKEN = re.compile(r"__HELM_(\d+)__")
_STANDALONE = re.compile(r"([ \t]*)((?:__HELM_\d+__[ \t]*)+)")
_OPENS = ("if", "range", "with", "define", "block")
_PROMQL_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|`[^`]*`')
_ARGS_TAG = re.compile(r"\{\{\s*args\.([A-Za-z0-9_.-]+?)\s*\}\}")
_CONDITIONS = ("successCondition", "failureCondition")
_SAMPLE_THRESHOLDS = ("0", "0.5", "1", "1000")
_METRICS_PATH = re.compile(r"/spec/metrics(?:/(?:\d+|-))?")


@dataclass(frozen=True)
class HelmText:
    """A chart template with its Helm actions replaced (see the module docstring)."""

    text: str
    actions: tuple[str, ...]                 # the action each ``__HELM_<n>__`` replaced
    blocks: tuple[tuple[int, int, str], ...]  # control blocks: opening line, ``end`` line, the opening action
    injections: tuple[tuple[int, str], ...] = ()  # lines of actions alone that write text (YAML), and the action


def _controller_tag(body: str) -> bool:
    return not body.startswith("-") and not body.endswith("-") and bool(_CONTROLLER_TAG.fullmatch(body.strip()))


def blank_helm_actions(text: str) -> HelmText:
    """``text`` with Helm's raw strings rendered and every other Helm action replaced in place, one line for one."""
    text = render_raw_strings(text)
    actions: list[str] = []
    opened: list[tuple[int, str]] = []
    blocks: list[tuple[int, int, str]] = []

    def replace(match: re.Match[str]) -> str:
        if _controller_tag(match.group(1)):
            return match.group(0)
        literal = _LITERAL.fullmatch(match.group(1))
        if literal is not None and "\n" not in match.group(0):
            return literal.group(1) if literal.group(1) is not None else literal.group(2)
        line = text.count("\n", 0, match.start()) + 1
        words = match.group(1).strip(" \t\n-").split(maxsplit=1)
        if words and words[0] in _OPENS:
            opened.append((line, match.group(0)))
        elif words and words[0] == "end" and opened:
            start, action = opened.pop()
            blocks.append((start, line, action))
        actions.append(match.group(0))
        return f"__HELM_{len(actions) - 1}__" + "\n" * match.group(0).count("\n")

    lines = _ACTION.sub(replace, text).split("\n")
    out = list(lines)
    injections: list[tuple[int, str]] = []
    for index, line in enumerate(lines):
        alone = _STANDALONE.fullmatch(line)
        if alone is None:
            continue
        following = (later for later in lines[index + 1:] if later.strip() and not _STANDALONE.fullmatch(later))
        indent = next((later[:len(later) - len(later.lstrip(" "))] for later in following), alone.group(1))
        out[index] = f"{indent}# {alone.group(2).strip()}"
        for token in _TOKEN.findall(alone.group(2)):
            words = actions[int(token)].strip("{} \t\n-").split(maxsplit=1)
            if words and words[0] not in (*_OPENS, "else", "end") and not words[0].startswith("/*"):
                injections.append((index + 1, actions[int(token)]))   # toYaml, include...: fields of its own
    return HelmText("\n".join(out), tuple(actions), tuple(sorted(blocks)), tuple(injections))


@dataclass
class Unrendered:
    """A gate file read for lint: its manifests (Helm values taken out, patched templates added), and what the
    chart's values decide."""

    manifests: list[Manifest]
    helm: bool = False
    actions: tuple[str, ...] = ()
    decisions: dict[tuple[int, KeyPath], str] = field(default_factory=dict)   # (manifest index, path) -> why
    thresholds: dict[tuple[int, KeyPath], str] = field(default_factory=dict)  # conditions as written, placeholders

    def show(self, text: str) -> str:
        """``text`` with each placeholder shown as the Helm action it replaced."""
        return _TOKEN.sub(lambda m: self.actions[int(m.group(1))], text)

    def decided(self, manifest: Manifest, base: KeyPath, *fields: str) -> list[str]:
        """Why the chart's values decide the dotted ``fields`` under ``base`` (a metric, an analysis) of ``manifest``:
        a field, a value in it, or a key between ``base`` and it (empty: the values decide none of them)."""
        wanted = [(*base, *name.split(".")) for name in fields]
        return [f"{'.'.join(map(str, path[len(base):])) or 'the mapping'} {why}"
                for (index, path), why in self.decisions.items()
                if index == manifest.index and any(path[:len(w)] == w or (len(base) <= len(path) and w[:len(path)] ==
                                                                          path) for w in wanted)]

    def condition_variants(self, manifest: Manifest, metric: KeyPath, success: Optional[str],
                           failure: Optional[str]) -> list[tuple[Optional[str], Optional[str]]]:
        """The metric's (success, failure) conditions with each Helm threshold set to each of a few numbers."""
        written = [self.thresholds.get((manifest.index, (*metric, name))) for name in _CONDITIONS]
        tokens = sorted({t for text in written if text for t in _TOKEN.findall(text)})
        if not tokens:
            return [(success, failure)]
        variants = []
        for values in itertools.product(_SAMPLE_THRESHOLDS, repeat=len(tokens)):
            chosen = dict(zip(tokens, values))
            success_, failure_ = (_TOKEN.sub(lambda m: chosen[m.group(1)], text) if text else given
                                  for text, given in zip(written, (success, failure)))
            variants.append((success_, failure_))
        return variants


def read_unrendered(path: str | Path) -> Unrendered:
    """The manifests of the file at ``path`` for lint: a Helm chart template read leniently, a Kustomization's
    patched AnalysisTemplates added; :class:`~rampsim.gates.refusals.GateError` when it cannot be read."""
    text = read_text(path)
    try:
        manifests = parse_manifests(text, str(path))
    except HelmTemplate:
        pass   # a gate object written as a chart template: read leniently below
    else:
        return Unrendered(manifests + _patched_templates(manifests))
    blanked = blank_helm_actions(text)
    source = Unrendered([], helm=True, actions=blanked.actions)
    try:
        manifests = parse_manifests(blanked.text, str(path))
    except GateError as exc:
        raise GateError([f"{problem} ({HELM_UNREAD})" for problem in exc.problems]) from None
    source.manifests.extend(_take_out_values(manifest, blanked, source) for manifest in manifests)
    return source


# -- Helm values -----------------------------------------------------------------------------

def _take_out_values(manifest: Manifest, blanked: HelmText, source: Unrendered) -> Manifest:
    document = manifest.document
    lines = document.lines
    for path, line in lines.items():
        parent = lines.get(path[:-1]) if path else None
        for start, end, action in blanked.blocks:
            if parent is not None and start < line < end and not start < parent < end:
                source.decisions[(manifest.index, path)] = f"is written inside {action!r} (line {start})"
    keys = sorted((line, path) for path, line in lines.items() if path)
    for line, action in blanked.injections:
        after = next((path for key_line, path in keys if key_line > line), None)
        if after is not None:   # the action writes keys of the mapping whose next key follows it
            source.decisions[(manifest.index, after[:-1])] = f"may be written by {action!r} (line {line})"
    data = copy.deepcopy(document.data)
    _take_out(data, (), manifest.index, source)
    taken = Document(data=data, filename=document.filename, lines=dict(lines))
    return Manifest(kind=manifest.kind, name=manifest.name, api_version=manifest.api_version, document=taken,
                    index=manifest.index)


def _take_out(node: Any, path: KeyPath, index: int, source: Unrendered) -> None:
    items = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) if isinstance(node, list) else []
    for key, value in items:
        here = (*path, key)
        if isinstance(key, str) and _TOKEN.search(key):   # a key the values name: any field of this mapping
            source.decisions[(index, path)] = f"has a key that is a Helm value ({source.show(key)!r})"
            continue
        if not isinstance(value, str):
            _take_out(value, here, index, source)
            continue
        if not _TOKEN.search(value):
            continue
        if key == "query" and not _TOKEN.search(_PROMQL_STRING.sub("", value)):
            continue   # placeholders in label values only
        if key in _CONDITIONS:
            probe = _threshold_probe(value)
            if probe is not None:
                source.thresholds[(index, here)] = value
                node[key] = probe
                continue
        source.decisions[(index, here)] = _why(value, source)
        if key == "query":
            node[key] = "vector(0)"
        elif isinstance(node, dict) and key != "name":
            del node[key]


def _why(value: str, source: Unrendered) -> str:
    if "\n" not in value.strip():
        return f"is a Helm value ({source.show(value).strip()!r})"
    actions = list(dict.fromkeys(source.actions[int(n)] for n in _TOKEN.findall(value)))
    return f"depends on Helm actions ({', '.join(actions[:3])}{', ...' if len(actions) > 3 else ''})"


def _threshold_probe(condition: str) -> Optional[str]:
    """``condition`` with its placeholders set to a number, if each is a threshold compared with ``result``."""
    pieces: list[str] = []
    starts: list[int] = []
    position = 0
    for match in _TOKEN.finditer(condition):
        pieces.append(condition[position:match.start()])
        starts.append(sum(map(len, pieces)))
        pieces.append(_SAMPLE_THRESHOLDS[1])
        position = match.end()
    probe = "".join(pieces) + condition[position:]
    try:
        literals = {start for start, _, _ in threshold_literals(probe)}
    except ConditionError:
        return None
    return probe if set(starts) <= literals else None


# -- Kustomization patches -------------------------------------------------------------------

def _patched_templates(manifests: list[Manifest]) -> list[Manifest]:
    found: list[Manifest] = []
    for manifest in manifests:
        if manifest.kind != "Kustomization":
            continue
        for entries in ("patches", "patchesJson6902"):
            written = manifest.get(entries)
            for number, entry in enumerate(written if isinstance(written, list) else []):
                if isinstance(entry, dict) and isinstance(entry.get("patch"), str):
                    template = _patched_template(manifest, (entries, number), entry,
                                                 len(manifests) + len(found))
                    if template is not None:
                        found.append(template)
    return found


def _patched_template(kustomization: Manifest, at: KeyPath, entry: dict[str, Any], index: int
                      ) -> Optional[Manifest]:
    text: str = entry["patch"]
    line = kustomization.line(*at, "patch") or 1
    try:
        patch = parse_document("\n" * (line if "\n" in text else line - 1) + text, kustomization.filename,
                               controls=True)
    except SourceError:
        return None
    target: dict[str, Any] = entry["target"] if isinstance(entry.get("target"), dict) else {}
    kind, name = target.get("kind"), target.get("name")
    metrics: list[tuple[KeyPath, Any]] = []
    if isinstance(patch.data, list):   # JSON 6902 operations
        for number, op in enumerate(patch.data):
            if not (isinstance(op, dict) and op.get("op") in ("add", "replace")
                    and _METRICS_PATH.fullmatch(str(op.get("path")))):
                continue
            value = op.get("value")
            if op["path"] == "/spec/metrics" and isinstance(value, list):
                metrics.extend(((number, "value", k), metric) for k, metric in enumerate(value))
            elif isinstance(value, dict):
                metrics.append(((number, "value"), value))
    elif isinstance(patch.data, dict):   # a strategic-merge patch
        metadata, spec = patch.data.get("metadata"), patch.data.get("spec")
        kind = patch.data.get("kind", kind)
        name = metadata.get("name", name) if isinstance(metadata, dict) else name
        written = spec.get("metrics") if isinstance(spec, dict) else None
        metrics.extend((("spec", "metrics", k), m) for k, m in enumerate(written if isinstance(written, list) else []))
    if kind not in TEMPLATE_KINDS or not metrics:
        return None
    used = sorted({tag for _, metric in metrics for tag in _ARGS_TAG.findall(repr(metric))})
    data = {"apiVersion": "argoproj.io/v1alpha1", "kind": kind, "metadata": {"name": str(name or "patched")},
            "spec": {"args": [{"name": arg} for arg in used], "metrics": [metric for _, metric in metrics]}}
    lines: dict[KeyPath, int] = {(): line, ("spec",): line, ("spec", "metrics"): line}
    for target_path in [("kind",), ("metadata", "name")]:
        lines[target_path] = kustomization.line(*at, "target", target_path[-1]) or line
    for k, (prefix, _) in enumerate(metrics):
        for path, written_line in patch.lines.items():
            if path[:len(prefix)] == prefix:
                lines[("spec", "metrics", k, *path[len(prefix):])] = written_line
    document = Document(data=data, filename=kustomization.filename, lines=lines)
    return Manifest(kind=str(kind), name=str(name or "patched"), api_version="argoproj.io/v1alpha1",
                    document=document, index=index)
