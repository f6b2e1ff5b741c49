"""YAML as people write gate files: block order kept, multi-line text (PromQL) as ``|`` literal blocks."""
from __future__ import annotations

from typing import Any, Iterable

import yaml

__all__ = ["dump", "dump_all"]


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, writing multi-line strings as literal blocks."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _text)


def dump(data: Any) -> str:
    """``data`` as YAML text, keys in their order."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120,
                     default_flow_style=False)


def dump_all(documents: Iterable[Any]) -> str:
    """Several documents separated by ``---``."""
    return yaml.dump_all(list(documents), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120,
                         default_flow_style=False, explicit_start=True)
