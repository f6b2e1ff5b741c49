"""Kubernetes manifests read from YAML files: every document of a file, with the line of each field.

A gate file may hold several documents (``---``), of any kind: an AnalysisTemplate next to its
Rollout, a Canary next to its Deployment. Each document is composed with
:mod:`rampsim.plan.source` (bounded, duplicate keys refused, every key path's line kept) with its
lines counted from the top of the file, so a problem is reported as ``file:line: field: message``.

The documents are found by PyYAML's parser, so a document written on its ``---`` line
(``--- {kind: ConfigMap, ...}``) or after a ``%YAML`` directive is read like any other. Each
:class:`Manifest` keeps its text as written (the comments before it too), so that ``export --onto``
writes the objects it does not change byte for byte.

Helm chart templates (``{{ .Values.x }}``, ``{{- if ...}}``, ``{{ include ...}}``) are refused
(:class:`HelmTemplate`): they are not the gate a cluster runs until ``helm template`` renders them.
Only the documents of the controllers' kinds (:data:`GATE_KINDS`), and those that cannot be read or
have no kind, are checked: Go template text in another object (a PrometheusRule's
``{{ printf "%.2f" $value }}``) is that object's own business. The one Helm action rendered here is
the raw string (``{{`{{args.x}}`}}``, how charts escape Argo's own tags), which renders to its
content whatever the values. (``rampsim lint`` reads what it can of an unrendered chart:
:mod:`rampsim.gates.unrendered`.)
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from rampsim.gates.refusals import GateError, GateRefused, located
from rampsim.plan.source import MAX_BYTES, Document, SourceError, parse_document

__all__ = ["Manifest", "read_manifests", "read_text", "parse_manifests", "helm_marker", "render_raw_strings",
           "HelmTemplate", "GATE_KINDS", "comment_lines", "document_head"]

GATE_KINDS = ("AnalysisTemplate", "ClusterAnalysisTemplate", "Rollout", "Canary", "MetricTemplate")
"""The kinds of object a gate is made of: a Helm action in one of them is refused."""
_HELM = re.compile(
    r"\{\{-|-\}\}|\{\{\s*(?:\.Values|\.Release|\.Chart|\.Capabilities|\.Files|\$\.|\$[A-Za-z_]\w*\s*:?=|include\b|"
    r"template\b|if\b|else\b|end\b|range\b|with\b|define\b|toYaml\b|quote\b|default\b|printf\b|tpl\b)"
)
_HELM_RAW_STRING = re.compile(r"\{\{`([^`]*)`\}\}")
"""``{{`{{args.x}}`}}``: a Helm action that only writes a raw string (how charts escape Argo's own tags)."""
_COMMENT = re.compile(r"(?:^|(?<=[ \t]))#", re.M)


class HelmTemplate(GateRefused):
    """A gate object written as a Helm chart template: refused until ``helm template`` renders it."""


@dataclass(frozen=True)
class Manifest:
    """One Kubernetes object: its kind, name, and the document it was read from (lines relative to the file)."""

    kind: str
    name: str
    api_version: str
    document: Document
    index: int
    preamble: str = ""   # the comments and blank lines written before the document, as in the file
    body: str = ""       # the document as written in the file (before Helm's raw strings are rendered)

    @property
    def head(self) -> str:
        """The start of :attr:`body` before the object's first field: its directives and ``---`` line, and the
        comment and blank lines after them (the comments of a file's later objects are written there)."""
        return document_head(self.body)

    @property
    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.document.data
        return data

    @property
    def filename(self) -> str:
        return self.document.filename

    def line(self, *path: Any) -> Optional[int]:
        """The line of the key path (or its nearest written ancestor)."""
        return self.document.line_of(path)

    def where(self, *path: Any) -> str:
        return self.document.where(path)

    def problem(self, path: tuple[Any, ...], message: str) -> str:
        """``file:line: dotted.path: message`` for a problem at ``path`` in this object."""
        field = ".".join(str(p) for p in path)
        return located(self.filename, self.line(*path), field, message)

    def get(self, *path: Any) -> Any:
        """The value at ``path`` (``None`` when any part is missing)."""
        node: Any = self.data
        for part in path:
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                node = node[part]
            else:
                return None
        return node


_HEAD_LINE = re.compile(r"[ \t]*(?:#.*)?|%.*|---[ \t]*(?:#.*)?|\.\.\.[ \t]*(?:#.*)?")
"""A line before a document's first token: blank, a comment, a directive, a ``---`` or ``...`` with nothing after."""


def document_head(body: str) -> str:
    """The lines of the document text ``body`` before its first token (see :attr:`Manifest.head`)."""
    end = 0
    for line in body.splitlines(keepends=True):
        if not line.endswith("\n") or not _HEAD_LINE.fullmatch(line.rstrip("\r\n")):
            break
        end += len(line)
    return body[:end]


def helm_marker(text: str) -> Optional[tuple[int, str]]:
    """The line and text of the first Helm template action in ``text``, if any."""
    match = _HELM.search(text)
    if match is None:
        return None
    line = text.count("\n", 0, match.start()) + 1
    end = text.find("}}", match.start())
    snippet = text[match.start(): end + 2 if end >= 0 else match.end() + 20].splitlines()[0]
    return line, snippet


def read_manifests(path: str | Path) -> list[Manifest]:
    """Every Kubernetes object in the file at ``path``; :class:`GateError` (located) when it cannot be read."""
    return parse_manifests(read_text(path), str(path))


def read_text(path: str | Path) -> str:
    """The text of the gate file at ``path`` (UTF-8, a few kilobytes); :class:`GateError` (located) otherwise."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise GateError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    if len(raw) > MAX_BYTES:
        raise GateError([f"{path}: too large: a gate file is a few kilobytes"])
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise GateError([f"{path}:{line}: not UTF-8 text"]) from None
    return text


def render_raw_strings(text: str) -> str:
    """``text`` with Helm's raw-string actions rendered (``{{`{{args.x}}`}}`` is ``{{args.x}}``), exactly as
    ``helm template`` would: a chart whose only actions are these needs no values to render."""
    return _HELM_RAW_STRING.sub(lambda match: match.group(1), text)


def _unrendered_index(text: str, index: int) -> int:
    """The index in ``text`` of what is at ``index`` once its raw strings are rendered (a document boundary, never
    inside one)."""
    shift = 0
    for match in _HELM_RAW_STRING.finditer(text):
        if index <= match.start() - shift:
            break
        shift += len(match.group(0)) - len(match.group(1))
    return index + shift


def _document_spans(text: str) -> tuple[list[tuple[int, int]], Optional[int]]:
    """Where each YAML document of ``text`` starts (its directives or ``---``, else its first token) and ends, as
    PyYAML's parser finds them; and where the text stops being YAML (``None``: it never does)."""
    spans: list[tuple[int, int]] = []
    start: Optional[int] = None
    try:
        parser = yaml.SafeLoader(text)
    except yaml.YAMLError:   # a character YAML refuses: parse_document says where
        return [], 0
    try:
        while not parser.check_event(yaml.StreamEndEvent):
            event = parser.get_event()
            if isinstance(event, yaml.DocumentStartEvent) and event.start_mark is not None:
                start = event.start_mark.index
            elif isinstance(event, yaml.DocumentEndEvent) and start is not None and event.end_mark is not None:
                spans.append((start, event.end_mark.index))
                start = None
    except yaml.YAMLError:
        return spans, start if start is not None else (spans[-1][1] if spans else 0)
    finally:
        parser.dispose()
    return spans, None


def comment_lines(text: str) -> int:
    """How many lines of the YAML ``text`` hold a comment (a ``#`` in a string or block scalar is no comment)."""
    try:
        scalars = sorted((token.start_mark.index, token.end_mark.index) for token in yaml.scan(text, yaml.SafeLoader)
                         if isinstance(token, yaml.ScalarToken))
    except yaml.YAMLError:
        return 0
    starts = [start for start, _ in scalars]
    lines = set()
    for match in _COMMENT.finditer(text):
        at = bisect.bisect_right(starts, match.start()) - 1
        if at < 0 or not scalars[at][0] <= match.start() < scalars[at][1]:
            lines.add(text.count("\n", 0, match.start()))
    return len(lines)


def _helm_refusal(filename: str, text: str, offset: int) -> Optional[str]:
    """The refusal of the Helm template in ``text`` (lines from ``offset``), if it holds one."""
    helm = helm_marker(text)
    if helm is None:
        return None
    line, snippet = helm
    return located(filename, offset + line, "", f"a Helm chart template ({snippet!r}): render it with "
                                                 f"'helm template' first and import the output")


def parse_manifests(text: str, filename: str) -> list[Manifest]:
    """Every Kubernetes object in YAML ``text`` (see :func:`read_manifests`); :class:`HelmTemplate` when a gate
    object is a Helm chart template."""
    rendered = render_raw_strings(text)
    spans, broken = _document_spans(rendered)
    manifests: list[Manifest] = []
    problems: list[str] = []
    helm: list[str] = []
    previous = 0
    for index, (start, end) in enumerate(spans):
        start = _line_start(rendered, start)
        offset = rendered.count("\n", 0, start)
        chunk = rendered[start:end]
        lead, previous = previous, end
        try:
            document = parse_document("\n" * offset + chunk, filename, controls=True)
        except SourceError as exc:
            refusal = _helm_refusal(filename, chunk, offset)
            helm.append(refusal) if refusal else problems.append(str(exc))
            continue
        data = document.data
        kind = data.get("kind") if isinstance(data, dict) else None
        refusal = _helm_refusal(filename, chunk, offset)
        if refusal is not None and (kind in GATE_KINDS or not isinstance(kind, str)):
            helm.append(refusal)
            continue
        if data is None:
            continue   # an empty document
        if not isinstance(data, dict):
            problems.append(located(filename, offset + 1, "", "a document that is not a mapping (a Kubernetes object "
                                                              "has apiVersion, kind, metadata, spec)"))
            continue
        metadata = data.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        written = [_unrendered_index(text, i) for i in (lead, start, end)]
        manifests.append(Manifest(kind=str(kind) if kind is not None else "", name=str(name) if name else "",
                                  api_version=str(data.get("apiVersion") or ""), document=document, index=index,
                                  preamble=text[written[0]:written[1]], body=text[written[1]:written[2]]))
    if broken is not None:
        start = _line_start(rendered, broken)
        offset = rendered.count("\n", 0, start)
        refusal = _helm_refusal(filename, rendered[start:], offset)
        if refusal is not None:
            helm.append(refusal)
        else:
            try:
                parse_document("\n" * offset + rendered[start:], filename, controls=True)
            except SourceError as exc:
                problems.append(str(exc))
    if helm:
        raise HelmTemplate(helm[:1])
    if problems:
        raise GateError(problems)
    return manifests


def _line_start(text: str, index: int) -> int:
    """``index``, or the start of its line when only blanks come before it there."""
    start = text.rfind("\n", 0, index) + 1
    return start if not text[start:index].strip() else index
