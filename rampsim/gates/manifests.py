"""Kubernetes manifests read from YAML files: every document of a file, with the line of each field.

A gate file may hold several documents (``---``), of any kind: an AnalysisTemplate next to its
Rollout, a Canary next to its Deployment. Each document is composed with
:mod:`rampsim.plan.source` (bounded, duplicate keys refused, every key path's line kept) with its
lines counted from the top of the file, so a problem is reported as ``file:line: field: message``.

Helm chart templates (``{{ .Values.x }}``, ``{{- if ...}}``, ``{{ include ...}}``) are refused
before parsing: they are not the gate a cluster runs until ``helm template`` renders them. The one
Helm action rendered here is the raw string (``{{`{{args.x}}`}}``, how charts escape Argo's own
tags), which renders to its content whatever the values. (``rampsim lint`` reads what it can of an
unrendered chart: :mod:`rampsim.gates.unrendered`.)
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from rampsim.gates.refusals import GateError, GateRefused, located
from rampsim.plan.source import MAX_BYTES, Document, SourceError, parse_document

__all__ = ["Manifest", "read_manifests", "read_text", "parse_manifests", "helm_marker", "render_raw_strings"]

_SEPARATOR = re.compile(r"^---(?:[ \t].*)?$|^\.\.\.[ \t]*$", re.M)
_HELM = re.compile(
    r"\{\{-|-\}\}|\{\{\s*(?:\.Values|\.Release|\.Chart|\.Capabilities|\.Files|\$\.|\$[A-Za-z_]\w*\s*:?=|include\b|"
    r"template\b|if\b|else\b|end\b|range\b|with\b|define\b|toYaml\b|quote\b|default\b|printf\b|tpl\b)"
)
_HELM_RAW_STRING = re.compile(r"\{\{`([^`]*)`\}\}")
"""``{{`{{args.x}}`}}``: a Helm action that only writes a raw string (how charts escape Argo's own tags)."""


@dataclass(frozen=True)
class Manifest:
    """One Kubernetes object: its kind, name, and the document it was read from (lines relative to the file)."""

    kind: str
    name: str
    api_version: str
    document: Document
    index: int

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


def parse_manifests(text: str, filename: str) -> list[Manifest]:
    """Every Kubernetes object in YAML ``text`` (see :func:`read_manifests`)."""
    text = render_raw_strings(text)
    helm = helm_marker(text)
    if helm is not None:
        line, snippet = helm
        raise GateRefused([located(filename, line, "", f"a Helm chart template ({snippet!r}): render it with "
                                                        f"'helm template' first and import the output")])
    manifests: list[Manifest] = []
    starts = [0] + [m.end() + 1 for m in _SEPARATOR.finditer(text)]
    ends = [m.start() for m in _SEPARATOR.finditer(text)] + [len(text)]
    problems: list[str] = []
    for index, (start, end) in enumerate(zip(starts, ends)):
        chunk = text[start:end] if start <= end else ""
        if not chunk.strip() or all(not line.strip() or line.lstrip().startswith("#") for line in chunk.splitlines()):
            continue
        offset = text.count("\n", 0, start)
        try:
            document = parse_document("\n" * offset + chunk, filename)
        except SourceError as exc:
            problems.append(str(exc))
            continue
        data = document.data
        if not isinstance(data, dict):
            problems.append(located(filename, offset + 1, "", "a document that is not a mapping (a Kubernetes object "
                                                              "has apiVersion, kind, metadata, spec)"))
            continue
        kind = data.get("kind")
        name = (data.get("metadata") or {}).get("name") if isinstance(data.get("metadata"), dict) else None
        manifests.append(Manifest(kind=str(kind) if kind is not None else "", name=str(name) if name else "",
                                  api_version=str(data.get("apiVersion") or ""), document=document, index=index))
    if problems:
        raise GateError(problems)
    return manifests
