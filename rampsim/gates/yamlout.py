"""YAML as people write gate files, and as Kubernetes reads them back.

Block order is kept and multi-line text (PromQL) written as ``|`` literal blocks. Kubernetes reads
YAML with go-yaml v2 (``sigs.k8s.io/yaml``), whose plain scalars follow YAML 1.1 differently from
PyYAML: ``y``, ``n``, ``on``... are booleans, ``1e3`` a float, ``12:30`` a string (no base 60).
So a string that Go would read as anything else is written quoted (:func:`go_scalar` says what Go
reads), and :func:`go_load` reads a document the way Kubernetes does, for the objects
``export --onto`` rewrites: their other fields then mean to Kubernetes what they meant before.
"""
from __future__ import annotations

import math
import re
from typing import Any

import yaml

__all__ = ["dump", "go_scalar", "go_load"]

_GO_WORDS: dict[str, Any] = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
"""go-yaml v2's ``resolveMap``: the plain scalars it reads as a boolean, null or special float."""
_GO_INT = re.compile(r"([-+]?)(0[bB][01]+|0[oO][0-7]+|0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)")
"""``strconv.ParseInt(s, 0, 64)``: decimal, or 0b, 0o, 0x or a leading 0 (octal)."""
_GO_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
"""go-yaml v2's ``yamlStyleFloat``."""
_GO_TIMESTAMP = re.compile(r"[0-9]{4}-")
"""What go-yaml v2 tries as a timestamp; decoded into an interface{}, it stays a string (backward compatibility)."""


def go_scalar(text: str) -> Any:
    """What go-yaml v2 (Kubernetes) reads the plain scalar ``text`` as: a bool, None, an int, a float or a str."""
    if text in _GO_WORDS:
        return _GO_WORDS[text]
    if text[0] == ".":
        return _go_float(text)
    if not (text[0].isdigit() or text[0] in "+-") or _GO_TIMESTAMP.match(text):
        return text
    plain = text.replace("_", "")
    whole = _GO_INT.fullmatch(plain)
    if whole is not None:
        digits = whole.group(2)
        prefix = digits[1:2].lower() if digits[0] == "0" else ""
        base = {"b": 2, "o": 8, "x": 16, "": 10}.get(prefix, 8)
        value = int(digits[2:] if prefix in ("b", "o", "x") else digits, base)
        value = -value if whole.group(1) == "-" else value
        if -2 ** 63 <= value < 2 ** 64:
            return value
    return _go_float(plain) if _GO_FLOAT.fullmatch(plain) else text


def _go_float(text: str) -> Any:
    """``strconv.ParseFloat``, or ``text`` when it is not a number or out of range (``1e400``)."""
    try:
        value = float(text)
    except ValueError:
        return text
    return text if math.isinf(value) else value


class _GoLoader(yaml.SafeLoader):
    """PyYAML's safe loader, every plain scalar read as go-yaml v2 reads it (:func:`go_scalar`)."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0]:
            return "tag:rampsim,go:plain"
        return super().resolve(kind, value, implicit)


_GoLoader.add_constructor("tag:rampsim,go:plain", lambda loader, node: go_scalar(node.value))


def go_load(text: str) -> Any:
    """The one YAML document ``text`` as Kubernetes reads it (text already checked: its size, tags, aliases)."""
    return yaml.load(text, Loader=_GoLoader)   # noqa: S506 - a safe loader: only the plain scalars differ


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, writing multi-line strings as literal blocks, quoting what Go would not read as a
    string, and every value in full (no anchors)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    if not isinstance(go_scalar(value), str):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _text)


def dump(data: Any) -> str:
    """``data`` as YAML text, keys in their order."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120,
                     default_flow_style=False)

