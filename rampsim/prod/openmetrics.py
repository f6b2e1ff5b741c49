"""OpenMetrics text with explicit timestamps: writing a run, reading a recording.

:func:`write_openmetrics` writes telemetry the way ``promtool tsdb
create-blocks-from openmetrics`` backfills it: one metric family after another
(``*_total`` counters, a classic ``*_seconds`` histogram with ``le`` buckets,
gauges), each series' samples in increasing time order (promtool silently drops
an out-of-order sample), timestamps in seconds with millisecond precision, values
in Python's shortest round-trip form (read back bit for bit), a missing sample
simply absent, and ``# EOF`` last.

:func:`read_openmetrics` parses such text (any OpenMetrics with timestamps, not
only rampsim's) into :class:`~rampsim.prod.samples.RawSeries`; the parser is a
tokenizer, it never evaluates what it reads. Values may be ``NaN`` or ``±Inf`` (read
as such; the assembler and engine judge them); a timestamp must be unix seconds
from 1970 to the year 9999 (:func:`timestamp_ms`), so one in milliseconds is refused.
"""
from __future__ import annotations

import math
import re
from typing import Iterable, Iterator, TextIO

import numpy as np

from rampsim.errors import DataUnavailable
from rampsim.prod.samples import RawSeries, parse_number
from rampsim.prod.series_map import SeriesMap
from rampsim.prod.instants import EARLIEST, LATEST
from rampsim.prod.naming import Naming
from rampsim.telemetry import FAMILIES, Telemetry

__all__ = ["write_openmetrics", "read_openmetrics", "parse_series", "OpenMetricsError", "format_timestamp",
           "timestamp_ms"]

class OpenMetricsError(DataUnavailable, ValueError):
    """Text that is not OpenMetrics with timestamps; the message names the line."""


def timestamp_ms(seconds: float, where: str, written: str) -> int:
    """Unix ``seconds`` (``written`` so in the file) as milliseconds; an error located by ``where`` when
    no recording can hold it: not finite, before 1970 or after the year 9999."""
    if not math.isfinite(seconds):
        raise OpenMetricsError(f"{where}timestamp {written} is not a number of seconds")
    if seconds < EARLIEST:
        raise OpenMetricsError(f"{where}timestamp {written} is before 1970")
    if seconds > LATEST:
        hint = ": timestamps look like milliseconds" if seconds / 1000 <= LATEST else ""
        raise OpenMetricsError(f"{where}timestamp {written} is after the year 9999 in unix seconds{hint}")
    return int(round(seconds * 1000))


def format_timestamp(milliseconds: int) -> str:
    """Unix milliseconds as OpenMetrics seconds (``1740787200`` or ``1740787200.5``)."""
    seconds, rest = divmod(int(milliseconds), 1000)
    return f"{seconds}.{rest:03d}".rstrip("0").rstrip(".") if rest else str(seconds)


def write_openmetrics(telemetry: Telemetry, out: TextIO, start: float, naming: Naming | None = None) -> int:
    """Write ``telemetry`` (tick times offset by ``start``, unix seconds) to ``out``; returns the sample count."""
    naming = naming or Naming()
    series_map = SeriesMap(telemetry.layout, naming)
    stamps = [format_timestamp(int(round(start * 1000)) + int(round(t * 1000))) for t in telemetry.time]
    names = naming.series_names()
    written = 0

    def samples(name_and_labels: str, column: np.ndarray) -> Iterator[tuple[int, str]]:
        for tick in np.flatnonzero(~np.isnan(column)):
            yield int(tick), f"{name_and_labels} {_value(column[tick])} {stamps[tick]}\n"

    for family in ("requests", "errors", "revenue", "health_checks", "health_checks_ok", "cache_hits",
                   "cache_misses"):
        name = names[family]
        base, kind = (name[: -len("_total")], "counter") if name.endswith("_total") else (name, "unknown")
        out.write(f"# HELP {base} {FAMILIES[family].help}\n# TYPE {base} {kind}\n")
        for column in np.atleast_1d(telemetry.layout.channels(family)).reshape(-1):
            for _, line in samples(series_map.descriptions["counters"][int(column)], telemetry.counters[:, column]):
                out.write(line)
                written += 1
    written += _write_histogram(telemetry, out, naming, series_map, samples)
    for family in ("cpu", "memory", "network", "memory_bytes"):
        name = names[family]
        out.write(f"# HELP {name} {FAMILIES[family].help}\n# TYPE {name} gauge\n")
        for column in np.atleast_1d(telemetry.layout.channels(family)).reshape(-1):
            for _, line in samples(series_map.descriptions["gauges"][int(column)], telemetry.gauges[:, column]):
                out.write(line)
                written += 1
    out.write("# EOF\n")
    return written


def _write_histogram(telemetry: Telemetry, out: TextIO, naming: Naming, series_map: SeriesMap, samples) -> int:
    """The histogram family: per series, per tick, the buckets then ``_count`` then ``_sum``."""
    layout, base = telemetry.layout, naming.histogram
    out.write(f"# HELP {base} {FAMILIES['latency_bucket'].help}\n# TYPE {base} histogram\n")
    written = 0
    describe = series_map.descriptions["counters"]
    for a in range(len(layout.arms)):
        for s in range(len(layout.segments)):
            buckets = np.atleast_1d(layout.channels("latency_bucket", a, s))
            total = int(layout.channels("latency_sum", a, s))
            pairs = {naming.labels.arm: layout.arms[a], naming.labels.segment: layout.segments[s]}
            lines: dict[int, list[str]] = {}
            for column in buckets:
                for tick, line in samples(describe[int(column)], telemetry.counters[:, column]):
                    lines.setdefault(tick, []).append(line)
            for tick, line in samples(series_map.series(f"{base}_count", pairs), telemetry.counters[:, buckets[-1]]):
                lines.setdefault(tick, []).append(line)
            for tick, line in samples(series_map.series(f"{base}_sum", pairs), telemetry.counters[:, total]):
                lines.setdefault(tick, []).append(line)
            for tick in sorted(lines):
                out.writelines(lines[tick])
                written += len(lines[tick])
    return written


def _value(value: float) -> str:
    if math.isfinite(value) and float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


# -- reading -------------------------------------------------------------------------

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,?)')
_UNESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", "\\": "\\", '"': '"'}


def parse_series(text: str, where: str = "") -> tuple[dict[str, str], int]:
    """Labels (``__name__`` included) of the series written at the start of ``text``, and where it ends."""
    match = _NAME.match(text)
    if not match:
        raise OpenMetricsError(f"{where}expected a metric name, got {text[:40]!r}")
    labels = {"__name__": match.group(0)}
    position = match.end()
    if position < len(text) and text[position] == "{":
        position += 1
        while True:
            if text.startswith("}", position):
                position += 1
                break
            label = _LABEL.match(text, position)
            if not label:
                raise OpenMetricsError(f"{where}malformed labels in {text[:80]!r}")
            if label.group(1) in labels:   # Prometheus's parser refuses it: which value is meant?
                raise OpenMetricsError(f"{where}label {label.group(1)!r} repeated in {text[:80]!r}")
            labels[label.group(1)] = _UNESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), label.group(2))
            position = label.end()
            if not label.group(3) and not text.startswith("}", position):
                raise OpenMetricsError(f"{where}expected ',' or '}}' in the labels of {text[:80]!r}")
    return labels, position


def read_openmetrics(lines: Iterable[str], filename: str = "<openmetrics>") -> list[RawSeries]:
    """Every series in OpenMetrics text ``lines``, samples sorted by time (each needs a timestamp)."""
    heads: dict[str, tuple] = {}  # the text before the value -> the series' key (parsed once per series)
    found: dict[tuple, tuple[dict[str, str], list[int], list[float]]] = {}
    ended = False
    for number, line in enumerate(lines, 1):
        line = line.rstrip("\n")
        if ended and line.strip():
            raise OpenMetricsError(f"{filename}:{number}: data after # EOF")
        if not line.strip():
            continue
        if line.startswith("#"):
            ended = ended or line.strip() == "# EOF"
            continue
        parts = line.rsplit(" ", 2)
        key = heads.get(parts[0]) if len(parts) == 3 else None
        if key is None:
            key, parts = _parse_sample(line, f"{filename}:{number}: ", heads, found)
        try:
            value, timestamp = parse_number(parts[1]), parse_number(parts[2])
        except ValueError:
            raise OpenMetricsError(f"{filename}:{number}: cannot read the value or timestamp "
                                   f"in {line[:80]!r}") from None
        entry = found[key]
        entry[1].append(timestamp_ms(timestamp, f"{filename}:{number}: ", parts[2]))
        entry[2].append(value)
    if not ended:
        raise OpenMetricsError(f"{filename}: no '# EOF' line: the file is incomplete")
    result = []
    for labels, stamps, values in found.values():
        order = np.argsort(np.asarray(stamps, dtype=np.int64), kind="stable")
        result.append(RawSeries(labels, np.asarray(stamps, dtype=np.int64)[order], np.asarray(values)[order]))
    return result


def _parse_sample(line: str, where: str, heads: dict, found: dict) -> tuple[tuple, list[str]]:
    """The series key of a sample line and its ``[head, value, timestamp]``; remembers a plain head."""
    labels, position = parse_series(line, where)
    fields = line[position:].split("#", 1)[0].split()  # an exemplar ('# {...} v') is dropped
    if len(fields) != 2:
        raise OpenMetricsError(f"{where}expected 'series value timestamp', got {line[:80]!r}")
    key = tuple(sorted(labels.items()))
    found.setdefault(key, (labels, [], []))
    head = line[:position]
    if line == f"{head} {fields[0]} {fields[1]}":
        heads[head] = key
    return key, [head, *fields]
