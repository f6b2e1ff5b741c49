"""An in-memory store of labelled float series, the data PromQL selects from.

Each series is a label set (``__name__`` included) with sorted sample times and values;
Prometheus's staleness markers are a per-sample flag. Times are kept as integer
milliseconds, as Prometheus keeps them, so window boundaries (closed in 2.x, left-open
in 3.x) compare exactly.

For speed the store compiles its series into flat arrays ordered by (series, time),
with one int64 search key per sample, so that the samples of many series at many
evaluation times are found with one :func:`numpy.searchsorted`. Selections by label
matchers are cached. Adding a series invalidates both.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from rampsim.promql.errors import QueryError
from rampsim.promql.values import NAME, Labels, labels_of

__all__ = ["SeriesStore", "Matcher", "seconds_to_ms"]


def seconds_to_ms(times: ArrayLike) -> np.ndarray:
    """Times in seconds as int64 milliseconds (rounded to the nearest millisecond)."""
    return np.round(np.asarray(times, dtype=np.float64) * 1000.0).astype(np.int64)


@dataclass(frozen=True)
class Matcher:
    """One label matcher: ``name op value`` with ``op`` one of ``=``, ``!=``, ``=~``, ``!~``."""

    name: str
    op: str
    value: str

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value!r}"


_regex_cache: dict[tuple[str, bool], "re.Pattern[str]"] = {}
_FLAGS = re.compile(r"\(\?([imsU-]+)\)")


def go_regex(pattern: str) -> str:
    """A Go (RE2) pattern in Python's syntax: inline flags ``(?i)`` after the start become scoped groups.

    RE2 applies ``(?i)`` from where it appears to the end of the enclosing group; Python
    accepts global flags only at the very start, so ``a((?i)b)c`` becomes ``a((?i:b))c``.
    """
    out: list[str] = []
    closers: list[int] = [0]       # extra ")" owed at the end of each open group
    i = 0
    in_class = False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
            out.append(ch)
            i += 1
            continue
        if ch == "[":
            in_class = True
            out.append(ch)
            i += 1
            if pattern[i:i + 1] == "^":
                out.append("^")
                i += 1
            if pattern[i:i + 1] == "]":
                out.append("]")
                i += 1
            continue
        m = _FLAGS.match(pattern, i)
        if m and i > 0:
            flags = m.group(1).replace("U", "")
            out.append(f"(?{flags}:" if flags.strip("-") else "(?:")
            closers[-1] += 1
            i = m.end()
            continue
        if ch == "(":
            closers.append(0)
        elif ch == ")" and len(closers) > 1:
            out.append(")" * closers.pop())
        out.append(ch)
        i += 1
    out.append(")" * closers[0])
    return "".join(out)


def _regex(pattern: str, dotall: bool) -> "re.Pattern[str]":
    key = (pattern, dotall)
    compiled = _regex_cache.get(key)
    if compiled is None:
        try:
            compiled = re.compile(go_regex(pattern), re.DOTALL if dotall else 0)
        except re.error as exc:
            raise QueryError(f"invalid regular expression {pattern!r}: {exc}") from None
        _regex_cache[key] = compiled
    return compiled


def matches(labels: Mapping[str, str], matcher: Matcher, dotall: bool) -> bool:
    """Whether a label set satisfies a matcher (a missing label has the empty value), regexes fully anchored."""
    value = labels.get(matcher.name, "")
    if matcher.op == "=":
        return value == matcher.value
    if matcher.op == "!=":
        return value != matcher.value
    hit = _regex(matcher.value, dotall).fullmatch(value) is not None
    return hit if matcher.op == "=~" else not hit


@dataclass
class _Flat:
    """Samples of all series in (series, time) order, one search key per sample."""

    keys: np.ndarray     # int64
    times: np.ndarray    # int64 ms
    values: np.ndarray   # float64
    starts: np.ndarray   # int64, (series + 1,)


class _Compiled:
    """The store's series compiled into flat arrays (see the module docstring)."""

    def __init__(self, labels: list[Labels], times: list[np.ndarray], values: list[np.ndarray],
                 stale: list[np.ndarray]) -> None:
        order = sorted(range(len(labels)), key=lambda i: labels[i])
        self.labels = [labels[i] for i in order]
        self.label_maps = [dict(lab) for lab in self.labels]
        ts = [times[i] for i in order]
        vs = [values[i] for i in order]
        st = [stale[i] for i in order]
        nonempty = [t for t in ts if len(t)]
        self.base = int(min(int(t[0]) for t in nonempty)) if nonempty else 0
        top = int(max(int(t[-1]) for t in nonempty)) if nonempty else 0
        self.span = top - self.base
        self.stride = self.span + 3
        sids = np.arange(len(ts), dtype=np.int64)
        self.full = self._flat(sids, ts, vs)
        clean_ts = [t[~s] for t, s in zip(ts, st)]
        clean_vs = [v[~s] for v, s in zip(vs, st)]
        self.clean = self._flat(sids, clean_ts, clean_vs)
        self.full_stale = np.concatenate(st) if st else np.zeros(0, dtype=bool)
        # Counter resets in the clean samples: reset[j] when v[j] < v[j-1] within a series.
        cv = self.clean.values
        reset = np.zeros(len(cv), dtype=bool)
        if len(cv) > 1:
            reset[1:] = cv[1:] < cv[:-1]
            reset[self.clean.starts[:-1][self.clean.starts[:-1] < len(cv)]] = False
        self.clean_reset_count = np.cumsum(reset, dtype=np.int64)
        changed = np.zeros(len(cv), dtype=bool)
        if len(cv) > 1:
            changed[1:] = (cv[1:] != cv[:-1]) & ~(np.isnan(cv[1:]) & np.isnan(cv[:-1]))
            changed[self.clean.starts[:-1][self.clean.starts[:-1] < len(cv)]] = False
        self.clean_change_count = np.cumsum(changed, dtype=np.int64)
        # One sentinel sample after the last, so that window indices i0 <= len and i1 - 1 >= -1
        # can be gathered without clipping (windows that use it have no result).
        self.padded_times = np.append(self.clean.times, 0)
        self.padded_values = np.append(self.clean.values, np.nan)
        self.padded_resets = np.append(self.clean_reset_count, self.clean_reset_count[-1:] if len(cv) else 0)
        self.padded_changes = np.append(self.clean_change_count, self.clean_change_count[-1:] if len(cv) else 0)

    def _flat(self, sids: np.ndarray, ts: list[np.ndarray], vs: list[np.ndarray]) -> _Flat:
        lengths = np.array([len(t) for t in ts], dtype=np.int64)
        starts = np.zeros(len(ts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        times = np.concatenate(ts) if ts else np.zeros(0, dtype=np.int64)
        values = np.concatenate(vs) if vs else np.zeros(0)
        keys = np.repeat(sids * self.stride, lengths) + (times - self.base + 1)
        return _Flat(keys, times, values, starts)

    def keys_for(self, sids: np.ndarray, times_ms: np.ndarray) -> np.ndarray:
        """Search keys of ``times_ms`` (shape ``(T,)``) in each series of ``sids``: shape ``(S, T)``."""
        rel = np.minimum(np.maximum(times_ms - (self.base - 1), 0), self.span + 2)
        return (sids * self.stride)[:, None] + rel


class SeriesStore:
    """Labelled float series for PromQL to select from.

    >>> store = SeriesStore()
    >>> store.add({"__name__": "http_requests_total", "code": "200"}, times=[0, 15, 30], values=[0, 10, 25])

    ``add_grid`` adds many series sampled on one time grid at once (NaN meaning "no sample",
    e.g. before a series' first increment), the cheap way to present simulated telemetry.
    """

    def __init__(self) -> None:
        self._index: dict[Labels, int] = {}
        self._labels: list[Labels] = []
        self._times: list[np.ndarray] = []
        self._values: list[np.ndarray] = []
        self._stale: list[np.ndarray] = []
        self._compiled: _Compiled | None = None
        self._selections: dict[tuple[tuple[Matcher, ...], bool], np.ndarray] = {}
        self._selection_labels: dict[tuple[tuple[Matcher, ...], bool, bool], tuple[Labels, ...]] = {}

    def __len__(self) -> int:
        return len(self._labels)

    @property
    def labels(self) -> list[dict[str, str]]:
        """The label sets of the stored series."""
        return [dict(lab) for lab in self._labels]

    def add(self, labels: Mapping[str, str], times: ArrayLike, values: ArrayLike,
            stale: ArrayLike | None = None) -> None:
        """Add one series: ``times`` in seconds (any order), ``values``, optional ``stale`` flags (staleness markers).

        Adding a label set already stored merges the samples (a later sample at the same time wins).
        """
        self.add_ms(labels, seconds_to_ms(times), values, stale)

    def add_ms(self, labels: Mapping[str, str], times_ms: ArrayLike, values: ArrayLike,
               stale: ArrayLike | None = None) -> None:
        """:meth:`add` with times in integer milliseconds."""
        lab = labels_of(labels)
        t = np.asarray(times_ms, dtype=np.int64).ravel()
        v = np.asarray(values, dtype=np.float64).ravel()
        s = np.zeros(len(t), dtype=bool) if stale is None else np.asarray(stale, dtype=bool).ravel()
        if not (len(t) == len(v) == len(s)):
            raise QueryError(f"series {dict(lab)}: times, values and stale flags differ in length")
        index = self._index.get(lab)
        if index is not None:
            t = np.concatenate([self._times[index], t])
            v = np.concatenate([self._values[index], v])
            s = np.concatenate([self._stale[index], s])
        if len(t) > 1 and not np.all(t[1:] > t[:-1]):
            order = np.argsort(t, kind="stable")
            t, v, s = t[order], v[order], s[order]
            keep = np.ones(len(t), dtype=bool)
            keep[:-1] = t[1:] != t[:-1]      # the last sample at a time wins
            t, v, s = t[keep], v[keep], s[keep]
        if index is None:
            self._index[lab] = len(self._labels)
            self._labels.append(lab)
            self._times.append(t)
            self._values.append(v)
            self._stale.append(s)
        else:
            self._times[index], self._values[index], self._stale[index] = t, v, s
        self._compiled = None
        self._selections.clear()
        self._selection_labels.clear()

    def add_grid(self, labels: Sequence[Mapping[str, str]], times: ArrayLike, values: ArrayLike) -> None:
        """Add series sampled on one grid: ``times`` (T,) seconds, ``values`` (len(labels), T); NaN = no sample."""
        t = seconds_to_ms(times)
        vals = np.asarray(values, dtype=np.float64).reshape(len(labels), len(t))
        for lab, row in zip(labels, vals):
            have = ~np.isnan(row)
            self.add_ms(lab, t[have], row[have])

    def compiled(self) -> _Compiled:
        if self._compiled is None:
            self._compiled = _Compiled(self._labels, self._times, self._values, self._stale)
        return self._compiled

    def select(self, matchers: Iterable[Matcher], dotall: bool = True) -> np.ndarray:
        """Compiled series ids (sorted by labels) whose labels satisfy every matcher."""
        key = (tuple(matchers), dotall)
        hit = self._selections.get(key)
        if hit is None:
            compiled = self.compiled()
            chosen = [sid for sid, lab in enumerate(compiled.label_maps)
                      if all(matches(lab, m, dotall) for m in key[0])]
            hit = np.asarray(chosen, dtype=np.int64)
            self._selections[key] = hit
        return hit

    def selection_labels(self, matchers: tuple[Matcher, ...], dotall: bool, without_name: bool) -> tuple[Labels, ...]:
        """The labels of :meth:`select`'s series (optionally without ``__name__``), cached."""
        key = (matchers, dotall, without_name)
        hit = self._selection_labels.get(key)
        if hit is None:
            compiled = self.compiled()
            labels = [compiled.labels[s] for s in self.select(matchers, dotall)]
            if without_name:
                labels = [tuple(p for p in lab if p[0] != NAME) for lab in labels]
            hit = tuple(labels)
            self._selection_labels[key] = hit
        return hit

    def names(self) -> set[str]:
        """The metric names in the store."""
        return {dict(lab).get(NAME, "") for lab in self._labels}
