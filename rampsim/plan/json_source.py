"""JSON that remembers where each value was written, and refuses a repeated key.

Python's ``json`` keeps the last of two values given the same key (``"allowedIncrease": 3,
"allowedIncrease": 1e6`` reads as 1e6), silently. The JSON rampsim reads (Kayenta canary configs,
Spinnaker stages, Flagger's webhook payloads) is refused instead, as the YAML plans are
(:mod:`rampsim.plan.source`), with the file, line and key path of the repeat. What is read is a
:class:`~rampsim.plan.source.Document`: the data and the line of every key path in it, so that a
problem found later can be located as in a plan.

Values are read as Python's ``json`` reads them (``NaN``, ``Infinity`` and ``1e400``, which is too
large for a float, included: whether a value may be infinite is for the model it fills to say).
"""
from __future__ import annotations

import bisect
import json
# the pure-Python parts of the standard library's decoder, which typeshed does not declare
from json.decoder import JSONArray, JSONObject  # type: ignore[attr-defined]
from json.scanner import py_make_scanner  # type: ignore[attr-defined]
from pathlib import Path
from typing import Any, Callable, Optional, Union

from rampsim.plan.source import Document, SourceError

__all__ = ["parse_json", "parse_json_data", "read_json"]

_Scan = Callable[[str, int], tuple[Any, int]]


class _Decoder(json.JSONDecoder):
    """Python's decoder (its pure-Python scanner, which calls back for each object and array) noting the line of
    every object key and array item, and the first repeated key with its line and its first line."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.parse_object = self._object
        self.parse_array = self._array
        self.scan_once = py_make_scanner(self)
        self._newlines = [i for i, char in enumerate(text) if char == "\n"]
        self.keys: dict[int, dict[str, int]] = {}
        self.items: dict[int, list[int]] = {}
        self.repeated: Optional[tuple[dict[str, Any], str, int, int]] = None

    def line(self, position: int) -> int:
        """The 1-based line of the character at ``position``."""
        return bisect.bisect_left(self._newlines, position) + 1

    @staticmethod
    def _recording(scan_once: _Scan, starts: list[int]) -> _Scan:
        """``scan_once``, noting where each value it reads starts."""
        def scan(text: str, index: int) -> tuple[Any, int]:
            starts.append(index)
            return scan_once(text, index)
        return scan

    def _object(self, s_and_end: tuple[str, int], strict: bool, scan_once: _Scan, object_hook: Any,
                object_pairs_hook: Any, memo: Optional[dict[str, str]] = None) -> tuple[dict[str, Any], int]:
        """An object, its keys' lines noted (a key's line is its colon's); a repeated key keeps its first value."""
        text = s_and_end[0]
        starts: list[int] = []
        pairs, end = JSONObject(s_and_end, strict, self._recording(scan_once, starts), None, list, memo)
        result: dict[str, Any] = {}
        lines: dict[str, int] = {}
        for (key, value), start in zip(pairs, starts):
            line = self.line(text.rfind(":", 0, start))
            if key in result:
                if self.repeated is None:
                    self.repeated = (result, key, line, lines[key])
                continue
            result[key], lines[key] = value, line
        self.keys[id(result)] = lines
        return result, end

    def _array(self, s_and_end: tuple[str, int], scan_once: _Scan) -> tuple[list[Any], int]:
        """An array, its items' lines noted."""
        starts: list[int] = []
        values, end = JSONArray(s_and_end, self._recording(scan_once, starts))
        self.items[id(values)] = [self.line(start) for start in starts]
        return values, end


def _located(node: Any, path: tuple[Any, ...], decoder: _Decoder, document: Document,
             paths: dict[int, tuple[Any, ...]]) -> None:
    """Note the line of every key path under ``node`` (at ``path``) in ``document``, and each object's path."""
    if isinstance(node, dict):
        paths[id(node)] = path
        for key, value in node.items():
            document.lines[(*path, key)] = decoder.keys[id(node)][key]
            _located(value, (*path, key), decoder, document, paths)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            document.lines[(*path, index)] = decoder.items[id(node)][index]
            _located(item, (*path, index), decoder, document, paths)


def parse_json(text: str, filename: str) -> Document:
    """The JSON ``text`` read from ``filename``, with the line of each key path; :class:`SourceError` naming the file
    and line when it is not JSON, nests too deeply, or repeats a key in an object."""
    decoder = _Decoder(text)
    try:
        data = decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{filename}:{exc.lineno}: not JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise SourceError(f"{filename}: not JSON: nested too deeply") from None
    except ValueError:   # Python's limit on converting long digit strings to int
        raise SourceError(f"{filename}: not JSON rampsim reads: {_LONG_NUMBER}") from None
    document = Document(data=data, filename=filename)
    paths: dict[int, tuple[Any, ...]] = {}
    _located(data, (), decoder, document, paths)
    if decoder.repeated is not None:
        holder, key, line, first = decoder.repeated
        path = paths.get(id(holder))
        field = "" if path is None else ".".join(map(str, (*path, key))) + ": "
        raise SourceError(f"{filename}:{line}: {field}duplicate key {key!r} (first written on line {first})")
    return document


_LONG_NUMBER = "a number of more than 4,300 digits"


class _Repeated(Exception):
    """A key written twice in one object (raised by :func:`_unique_keys`)."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Repeated
    return result


def parse_json_data(text: str, filename: str) -> Any:
    """:func:`parse_json`'s data without the lines, read by the standard library's C decoder (the located reader
    is about 50 times slower: a request body needs no lines unless it is refused); the same :class:`SourceError`
    messages."""
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{filename}:{exc.lineno}: not JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise SourceError(f"{filename}: not JSON: nested too deeply") from None
    except ValueError:
        raise SourceError(f"{filename}: not JSON rampsim reads: {_LONG_NUMBER}") from None
    except _Repeated:
        return parse_json(text, filename).data   # raises, naming the key path and both lines


def read_json(path: Union[str, Path]) -> Document:
    """The JSON file at ``path`` (:func:`parse_json`; a leading byte-order mark is skipped, as Jackson and rampsim's
    YAML reader skip it); :class:`SourceError` naming it when it cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not JSON: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return parse_json(text, str(path))
