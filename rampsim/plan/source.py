"""YAML documents that remember where each value was written.

A plan error must name the file, line and field. PyYAML's node tree has the
positions; this module turns it into plain Python data plus a map from each key
path (``("rules", "error_rate", "threshold")``) to its line, and refuses duplicate
keys, which plain ``yaml.safe_load`` silently merges.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rampsim.errors import InvalidPlanError
__all__ = ["Document", "SourceError", "read_document", "parse_document"]

Path_ = tuple[Any, ...]


class SourceError(InvalidPlanError):
    """A file that is not well-formed YAML, or that repeats a key."""


@dataclass
class Document:
    """Data read from YAML, with the line (1-based) of every key path in it."""

    data: Any
    filename: str
    lines: dict[Path_, int] = field(default_factory=dict)
    _constructor: Any = field(default=None, repr=False)

    def line_of(self, path: Path_) -> int | None:
        """Line of ``path``, or of its nearest ancestor that has one."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    def where(self, path: Path_) -> str:
        """``file:line`` for ``path``."""
        line = self.line_of(path)
        return f"{self.filename}:{line}" if line else self.filename


def read_document(path: str | Path) -> Document:
    """Read and compose the YAML file at ``path``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    return parse_document(text, str(path))


def parse_document(text: str, filename: str = "<plan>") -> Document:
    """Compose YAML ``text``; ``filename`` is used in messages."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}" if mark else filename
        problem = getattr(exc, "problem", None) or str(exc)
        context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and context_mark and (not mark or context_mark.line != mark.line):
            problem += f" ({context} started on line {context_mark.line + 1})"
        raise SourceError(f"{where}: not valid YAML: {problem}") from exc
    document = Document(data=None, filename=filename)
    document._constructor = yaml.SafeLoader("")
    if node is None:
        document.data = {}
        return document
    document.lines[()] = node.start_mark.line + 1
    document.data = _build(node, (), document)
    document._constructor = None  # keeps documents picklable (plans travel to worker processes)
    return document


def _build(node: yaml.Node, path: Path_, document: Document) -> Any:
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise SourceError(f"{document.filename}:{key_node.start_mark.line + 1}: YAML merge keys (<<) are not supported")
            key = _scalar(key_node, document)
            if key in result:
                first = document.lines.get((*path, key))
                raise SourceError(
                    f"{document.filename}:{key_node.start_mark.line + 1}: {_dotted((*path, key))}: "
                    f"duplicate key {key!r} (first written on line {first})"
                )
            document.lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _build(value_node, (*path, key), document)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            document.lines[(*path, index)] = item.start_mark.line + 1
            items.append(_build(item, (*path, index), document))
        return items
    return _scalar(node, document)


def _scalar(node: yaml.Node, document: Document) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise SourceError(f"{document.filename}:{node.start_mark.line + 1}: a key must be a plain value")
    return document._constructor.construct_object(node, deep=True)


def _dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path)
