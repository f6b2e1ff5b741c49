"""YAML documents that remember where each value was written.

A plan error must name the file, line and field. PyYAML's node tree has the
positions; this module turns it into plain Python data plus a map from each key
path (``("rules", "error_rate", "threshold")``) to its line, and refuses duplicate
keys, which plain ``yaml.safe_load`` silently merges.

Plans, mixes and namings are a few kilobytes written by people, so a damaged or
hostile file is refused before it can cost time or memory, each refusal located:
more than :data:`MAX_BYTES` bytes, text that is not UTF-8 (a BOM is accepted),
nesting deeper than :data:`MAX_DEPTH`, more than :data:`MAX_VALUES` values once
aliases are expanded (a "billion laughs"), an alias inside its own anchor, any
explicit tag (``!!python/name:...``, ``!include``): tags are never resolved, and a control
character in a key or a string (``"\\e[2J"``: names and titles reach terminals, reports
and web pages; tab, newline and carriage return are text).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import yaml

from rampsim.errors import InvalidPlanError

__all__ = ["Document", "SourceError", "read_document", "parse_document", "check_text", "check_texts", "printable",
           "MAX_BYTES", "MAX_DEPTH", "MAX_VALUES"]

Path_ = tuple[Any, ...]

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 100_000

_BOM = b"\xef\xbb\xbf"
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f]")   # C0 and C1 but tab, LF, CR, NEL
_STANDARD_TAG = "tag:yaml.org,2002:"


class SourceError(InvalidPlanError):
    """A file that is not well-formed YAML, repeats a key, or exceeds a limit."""


@dataclass
class Document:
    """Data read from YAML, with the line (1-based) of every key path in it."""

    data: Any
    filename: str
    lines: dict[Path_, int] = field(default_factory=dict)
    _constructor: Any = field(default=None, repr=False)
    duplicates: list[str] = field(default_factory=list)
    """Repeated keys found while reading with ``collect_duplicates`` (the first value kept): problems to report."""

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


def read_document(path: str | Path, collect_duplicates: bool = False) -> Document:
    """Read and compose the YAML file at ``path``; see :func:`parse_document` for ``collect_duplicates``."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise SourceError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    _check_size(len(data), str(path))
    skipped = len(_BOM) if data.startswith(_BOM) else 0
    try:
        text = data[skipped:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = skipped + exc.start
        line = data.count(b"\n", 0, offset) + 1
        raise SourceError(f"{path}:{line}: not UTF-8 text (byte 0x{data[offset]:02x} at offset {offset})") from None
    return parse_document(text, str(path), collect_duplicates)


def parse_document(text: str, filename: str = "<plan>", collect_duplicates: bool = False,
                   controls: bool = False) -> Document:
    """Compose YAML ``text``; ``filename`` is used in messages.

    A repeated key is refused (:class:`SourceError`), or with ``collect_duplicates`` listed in
    :attr:`Document.duplicates`, its first value kept, for a caller that reports every problem
    of the file at once and refuses it all the same. A control character is refused (:func:`check_text`)
    unless ``controls``: a team's manifest holds objects rampsim only passes through (a ConfigMap's banner).
    """
    _check_size(len(text), filename)
    try:
        node = _Loader(text, filename).get_single_node()
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise SourceError(f"{filename}:{line}: not valid YAML: unacceptable character #x{exc.character:04x}: "
                          f"{exc.reason}") from None
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
    document.data = _build(node, (), document, collect_duplicates)
    document._constructor = None  # keeps documents picklable (plans travel to worker processes)
    if not controls:
        check_texts(document.data, (), document)
    return document


def _check_size(size: int, filename: str) -> None:
    if size > MAX_BYTES:
        raise SourceError(f"{filename}: too large: more than {MAX_BYTES // 1024 // 1024} MiB "
                          f"(a plan, mix or naming file is a few kilobytes)")


class _Loader(yaml.SafeLoader):
    """PyYAML's safe composer, counting as it composes: depth, expanded size, tags."""

    def __init__(self, text: str, filename: str) -> None:
        super().__init__(text)
        self.filename = filename
        self.depth = 0
        self.values = 0  # nodes composed so far, an alias counting as the whole of its anchor
        self.sizes: dict[str, int] = {}  # the expanded size of each finished anchor

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            anchor = str(event.anchor)
            if anchor in self.anchors and anchor not in self.sizes:
                self._refuse(event, f"alias *{anchor} inside its own anchor (a structure containing itself)")
            self._count(self.sizes.get(anchor, 0), event)  # an undefined alias is PyYAML's error
            return super().compose_node(parent, index)
        tag = getattr(event, "tag", None)
        if tag is not None:
            shown = "!!" + tag[len(_STANDARD_TAG):] if tag.startswith(_STANDARD_TAG) else tag
            self._refuse(event, f"tags are not supported ({shown})")
        if self.depth >= MAX_DEPTH:
            self._refuse(event, f"nested more than {MAX_DEPTH} levels deep")
        before = self.values
        self._count(1, event)
        self.depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        if event.anchor is not None:
            self.sizes[event.anchor] = self.values - before
        return node

    def _count(self, values: int, event: yaml.Event) -> None:
        self.values += values
        if self.values > MAX_VALUES:
            self._refuse(event, f"too large: more than {MAX_VALUES:,} values once aliases are expanded")

    def _refuse(self, event: yaml.Event, problem: str) -> NoReturn:
        where = f"{self.filename}:{event.start_mark.line + 1}" if event.start_mark else self.filename
        raise SourceError(f"{where}: {problem}")


def _build(node: yaml.Node, path: Path_, document: Document, collect: bool) -> Any:
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise SourceError(f"{document.filename}:{key_node.start_mark.line + 1}: YAML merge keys (<<) are not supported")
            key = _scalar(key_node, document)
            if key in result:
                first = document.lines.get((*path, key))
                problem = (f"{document.filename}:{key_node.start_mark.line + 1}: {_dotted((*path, key))}: "
                           f"duplicate key {key!r} (first written on line {first})")
                if not collect:
                    raise SourceError(problem)
                document.duplicates.append(problem)
                continue
            document.lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = _build(value_node, (*path, key), document, collect)
        return result
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            document.lines[(*path, index)] = item.start_mark.line + 1
            items.append(_build(item, (*path, index), document, collect))
        return items
    return _scalar(node, document)


def _scalar(node: yaml.Node, document: Document) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise SourceError(f"{document.filename}:{node.start_mark.line + 1}: a key must be a plain value")
    try:
        return document._constructor.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, OverflowError) as exc:  # e.g. a date like 2025-13-01
        problem = getattr(exc, "problem", None) or str(exc)
        raise SourceError(f"{document.filename}:{node.start_mark.line + 1}: cannot read {node.value!r}: "
                          f"{problem}") from None


def check_texts(node: Any, path: Path_, document: Document) -> None:
    """:func:`check_text` on every key and string under ``node`` (at ``path`` of ``document``), in document order."""
    if isinstance(node, dict):
        for key, value in node.items():
            check_text(key, (*path, key), document)
            check_texts(value, (*path, key), document)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            check_texts(item, (*path, index), document)
    else:
        check_text(node, path, document)


def printable(text: str) -> str:
    """``text`` with each control character shown as ``\\xNN`` (text from a team's files, printed to a terminal)."""
    return _CONTROL.sub(lambda c: f"\\x{ord(c.group()):02x}", text)


def check_text(value: Any, path: Path_, document: Document) -> None:
    """Refuse ``value`` at ``path`` of ``document`` (:class:`SourceError`) if it is a string holding a control
    character (see the module docstring)."""
    found = _CONTROL.search(value) if isinstance(value, str) else None
    if found is not None:
        code = ord(found.group())
        name = unicodedata.name(found.group(), "") or {0x1B: "escape", 0x7F: "delete"}.get(code, "a control code")
        shown = printable(_dotted(path)) or "(top level)"
        raise SourceError(f"{document.where(path)}: {shown}: holds the control character "
                          f"U+{code:04X} ({name.lower()}), which terminals act on: write the text without it")


def _dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path)
