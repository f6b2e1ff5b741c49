"""Edits: a plan file's text with some of its values changed, its comments and layout kept.

A recommended gate (``sweep --write-best``) differs from the team's plan in a few
thresholds and sustain times. Writing it back as a fresh YAML dump would drop every
comment of the runbook and turn its flow-style criteria into blocks; instead each
changed scalar is replaced where it is written (PyYAML's node marks give its exact
span), and the result is read again to check that it holds exactly the new values.
"""
from __future__ import annotations

import json
from typing import Any, Mapping, Optional

import yaml

from rampsim.plan.source import SourceError, parse_document

__all__ = ["changed_values", "with_values", "is_json"]

Path_ = tuple[Any, ...]


def changed_values(before: Any, after: Any, path: Path_ = ()) -> Optional[dict[Path_, Any]]:
    """The scalars of ``after`` that differ from ``before``, by key path; ``None`` when more than scalars changed
    (a key added or removed, a list's length, a scalar turned into a mapping)."""
    if isinstance(before, dict) and isinstance(after, dict):
        if before.keys() != after.keys():
            return None
        parts = [changed_values(before[key], after[key], (*path, key)) for key in before]
    elif isinstance(before, list) and isinstance(after, list):
        if len(before) != len(after):
            return None
        parts = [changed_values(b, a, (*path, i)) for i, (b, a) in enumerate(zip(before, after))]
    elif isinstance(before, (dict, list)) or isinstance(after, (dict, list)):
        return None
    else:
        return {} if type(before) is type(after) and before == after else {path: after}
    if any(part is None for part in parts):
        return None
    return {key: value for part in parts if part is not None for key, value in part.items()}


def with_values(text: str, values: Mapping[Path_, Any]) -> Optional[str]:
    """``text`` (one YAML document) with the scalar at each key path of ``values`` replaced by its value, everything
    else as written; ``None`` when that cannot be done exactly (a path not written as a scalar of its own, or a
    result that does not read back as the document with those values)."""
    try:
        before = parse_document(text).data
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (SourceError, yaml.YAMLError):
        return None
    spans = []
    json_text = is_json(text)
    for path, value in values.items():
        node = _node_at(root, path)
        if not isinstance(node, yaml.ScalarNode):
            return None
        written = (json.dumps(value, ensure_ascii=False) if json_text and isinstance(value, str)
                   else _written_like(node, value))   # YAML's number forms read back as numbers, and are JSON
        spans.append((node.start_mark.index, node.end_mark.index, written))
    edited = text
    for start, end, written in sorted(spans, reverse=True):
        edited = edited[:start] + written + edited[end:]
    expected = _replaced(before, values)
    try:
        return edited if parse_document(edited).data == expected else None
    except SourceError:
        return None


def _node_at(node: Optional[yaml.Node], path: Path_) -> Optional[yaml.Node]:
    for key in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == str(key)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and 0 <= key < len(node.value):
            node = node.value[key]
        else:
            return None
    return node


def is_json(text: str) -> bool:
    """Whether ``text`` is a JSON document (a plan may be written in JSON: its edits are written in JSON too)."""
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _written_like(node: yaml.ScalarNode, value: Any) -> str:
    """``value`` written in place of ``node`` of a YAML file: a string in the quotes the file used there (a team's
    ``"0.5%"`` stays quoted), anything else as :func:`_flow_scalar` writes it."""
    if isinstance(value, str) and node.style == '"':
        return json.dumps(value, ensure_ascii=False)   # JSON's escapes are YAML's too
    if isinstance(value, str) and node.style == "'" and "\n" not in value:
        return "'" + value.replace("'", "''") + "'"
    return _flow_scalar(value)


def _flow_scalar(value: Any) -> str:
    """``value`` as YAML writes it inside a flow collection (quoted only where a plain scalar would read otherwise)."""
    return yaml.safe_dump([value], default_flow_style=True, width=1 << 30, allow_unicode=True).strip()[1:-1]


def _replaced(data: Any, values: Mapping[Path_, Any]) -> Any:
    """``data`` with the value at each path of ``values`` replaced (a deep copy of what changes)."""
    def walk(node: Any, path: Path_) -> Any:
        if path in values:
            return values[path]
        if isinstance(node, dict):
            return {key: walk(value, (*path, key)) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value, (*path, i)) for i, value in enumerate(node)]
        return node
    return walk(data, ())
