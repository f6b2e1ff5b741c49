"""An in-memory store of labelled float series, the data PromQL selects from.

Each series is a label set (``__name__`` included) with sorted sample times and values;
Prometheus's staleness markers are a per-sample flag. Times are kept as integer
milliseconds, as Prometheus keeps them, so window boundaries (closed in 2.x, left-open
in 3.x) compare exactly.

For speed the store compiles its series into flat arrays ordered by (series, time),
with one int64 search key per sample, so that the samples of many series at many
evaluation times are found with one :func:`numpy.searchsorted`. Selections by label
matchers are cached, and so are a selection's own samples (:class:`Selection`: the
selected series' samples gathered into local flat arrays, with a table of window indices
over the union of their sample times, so that finding every selected series' window at a
time is one binary search). Queries compiled against the store
(:class:`~rampsim.promql.evaluate.CompiledQuery`) are kept in :attr:`SeriesStore.compiled_queries`.
Adding a series invalidates all of these.
"""
from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from typing import Any, Hashable, Iterable, Literal, Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from rampsim.promql.errors import QueryError
from rampsim.promql.values import NAME, Labels, labels_of

__all__ = ["SeriesStore", "Matcher", "Selection", "seconds_to_ms"]


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


_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z", "alpha": "A-Za-z", "ascii": "\\x00-\\x7f", "blank": "\\t ", "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9", "graph": "!-~", "lower": "a-z", "print": " -~", "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ", "upper": "A-Z", "word": "0-9A-Za-z_", "xdigit": "0-9A-Fa-f",
}
"""RE2's POSIX character classes (ASCII), as the ranges Python writes inside a bracket expression."""
_RE2_SPACE = "\\t\\n\\f\\r "   # RE2's \s: no vertical tab, unlike Python's
_RE2_PERL = {"d": "0-9", "w": "0-9A-Za-z_", "s": _RE2_SPACE}
"""RE2's Perl classes, ASCII only, as ranges (Python's are Unicode; compiling with ``re.ASCII`` instead would also
make ``(?i)`` fold ASCII only, where RE2 folds every letter)."""
_WORD = "[0-9A-Za-z_]"
_RE2_BOUNDARY = {"\\b": f"(?:(?<={_WORD})(?!{_WORD})|(?<!{_WORD})(?={_WORD}))",
                 "\\B": f"(?:(?<={_WORD})(?={_WORD})|(?<!{_WORD})(?!{_WORD}))"}
"""RE2's ASCII word boundaries (Python's ``\\b`` and ``\\B`` use Unicode word characters)."""
_POSIX = re.compile(r"\[:(\^?)([a-z]+):\]")


def go_regex(pattern: str) -> str:
    """A Go (RE2) pattern in Python's syntax.

    RE2 applies ``(?i)`` from where it appears to the end of the enclosing group; Python
    accepts global flags only at the very start, so ``a((?i)b)c`` becomes ``a((?i:b))c``.
    POSIX classes (``[[:digit:]]``) become their ranges, as do ``\\d``, ``\\w`` and ``\\s`` (ASCII in
    RE2, Unicode in Python; ``\\D``, ``\\W``, ``\\S`` outside a bracket expression too, and ``\\b``,
    ``\\B`` as ASCII lookarounds), and ``{,n}``, which RE2 reads as literal text (Python as a repeat), is
    escaped. Inside a bracket expression ``\\D``, ``\\W`` and ``\\S`` keep Python's (Unicode) meaning.
    A negated POSIX class (``[[:^digit:]]``) is refused as outside the subset.
    """
    out: list[str] = []
    closers: list[int] = [0]       # extra ")" owed at the end of each open group
    i = 0
    in_class = False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            escape = pattern[i:i + 2]
            ascii_class = _RE2_PERL.get(escape[1:2].lower())
            if escape in _RE2_BOUNDARY and not in_class:
                out.append(_RE2_BOUNDARY[escape])
            elif ascii_class is not None and in_class and escape[1:2].islower():
                out.append(ascii_class)
            elif ascii_class is not None and not in_class:
                out.append(f"[{'^' if escape[1:2].isupper() else ''}{ascii_class}]")
            else:
                out.append(escape)
            i += 2
            continue
        if in_class:
            posix = _POSIX.match(pattern, i)
            if posix:
                if posix.group(1) or posix.group(2) not in _POSIX_CLASSES:
                    raise QueryError(f"the character class {posix.group(0)} is outside rampsim's regex subset")
                out.append(_POSIX_CLASSES[posix.group(2)])
                i = posix.end()
                continue
            if ch == "]":
                in_class = False
            out.append(ch)
            i += 1
            continue
        if ch == "{" and pattern[i + 1:i + 2] == ",":
            out.append("\\{")
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


def _flat(sids: np.ndarray, ts: list[np.ndarray], vs: list[np.ndarray], base: int, stride: int) -> _Flat:
    lengths = np.array([len(t) for t in ts], dtype=np.int64)
    starts = np.zeros(len(ts) + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    times = np.concatenate(ts) if ts else np.zeros(0, dtype=np.int64)
    values = np.concatenate(vs) if vs else np.zeros(0)
    keys = np.repeat(sids * stride, lengths) + (times - base + 1)
    return _Flat(keys, times, values, starts)


class _Compiled:
    """The store's series compiled into flat arrays (see the module docstring).

    Built from per-series arrays (:meth:`of_series`) or, for series sampled on one time grid
    without staleness markers, straight from the grid (:meth:`of_grid`): the same arrays."""

    def __init__(self, labels: list[Labels], full: _Flat, clean: _Flat, full_stale: np.ndarray, base: int,
                 top: int) -> None:
        self.labels = labels
        self.label_maps = [dict(lab) for lab in labels]
        self.base = base
        self.span = top - base
        self.stride = self.span + 3
        self.full = full
        self.clean = clean
        self.full_stale = full_stale
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
        self._selections: dict[tuple[bytes, bool], Selection] = {}
        # Whether every sample time is exact as a float64 (see rate.extrapolated_rate's ``times_f``).
        self.exact = max(abs(self.base), abs(top)) < _EXACT_MS

    @classmethod
    def of_series(cls, labels: list[Labels], times: list[np.ndarray], values: list[np.ndarray],
                  stale: list[np.ndarray]) -> "_Compiled":
        """Compiled from each series' sorted sample times, values and staleness flags."""
        order = sorted(range(len(labels)), key=lambda i: labels[i])
        ts = [times[i] for i in order]
        vs = [values[i] for i in order]
        st = [stale[i] for i in order]
        nonempty = [t for t in ts if len(t)]
        base = int(min(int(t[0]) for t in nonempty)) if nonempty else 0
        top = int(max(int(t[-1]) for t in nonempty)) if nonempty else 0
        stride = top - base + 3
        sids = np.arange(len(ts), dtype=np.int64)
        full = _flat(sids, ts, vs, base, stride)
        clean = _flat(sids, [t[~s] for t, s in zip(ts, st)], [v[~s] for v, s in zip(vs, st)], base, stride)
        full_stale = np.concatenate(st) if st else np.zeros(0, dtype=bool)
        return cls([labels[i] for i in order], full, clean, full_stale, base, top)

    @classmethod
    def of_grid(cls, labels: list[Labels], times_ms: np.ndarray, values: np.ndarray) -> "_Compiled":
        """Compiled from series sampled on one grid (``values`` (len(labels), T), NaN = no sample; each series has
        at least one sample and no staleness markers): the arrays :meth:`of_series` builds from the same samples."""
        order = sorted(range(len(labels)), key=lambda i: labels[i])
        grid = values[order]
        present = ~np.isnan(grid)
        columns = np.flatnonzero(present.any(axis=0))
        base = int(times_ms[columns[0]]) if len(columns) else 0
        top = int(times_ms[columns[-1]]) if len(columns) else 0
        stride = top - base + 3
        lengths = present.sum(axis=1)
        starts = np.zeros(len(order) + 1, dtype=np.int64)
        np.cumsum(lengths, out=starts[1:])
        sids = np.arange(len(order), dtype=np.int64)
        times = np.broadcast_to(times_ms, grid.shape)[present]
        keys = np.broadcast_to((sids * stride)[:, None] + (times_ms - base + 1)[None, :], grid.shape)[present]
        flat = _Flat(keys, times, grid[present], starts)
        return cls([labels[i] for i in order], flat, flat, np.zeros(len(times), dtype=bool), base, top)

    def keys_for(self, sids: np.ndarray, times_ms: np.ndarray) -> np.ndarray:
        """Search keys of ``times_ms`` (shape ``(T,)``) in each series of ``sids``: shape ``(S, T)``."""
        rel = np.minimum(np.maximum(times_ms - (self.base - 1), 0), self.span + 2)
        return (sids * self.stride)[:, None] + rel

    def selection(self, sids: np.ndarray, clean: bool) -> "Selection":
        """The samples of the series ``sids`` (all of them, or the staleness-free ones if ``clean``), cached."""
        key = (sids.tobytes(), clean)
        hit = self._selections.get(key)
        if hit is None:
            hit = Selection(self, sids, clean)
            self._selections[key] = hit
        return hit


# A window table of up to this many entries may always be built; a larger one only if it is
# at most this many times the selection's sample count (sample times shared across series).
_TABLE_ENTRIES = 1 << 16
_TABLE_RATIO = 8
# Table rows kept as Python lists (for evaluations at one time) up to this many entries.
_PY_TABLE_ENTRIES = 1 << 18
# Times of magnitude below this (ms) are exact as float64, and so are their differences' roundings.
_EXACT_MS = 2 ** 53
# Evaluations at this many times at once build a selection's window table.
_TABLE_TIMES = 16
# Evaluations at one time build a selection's Python lists from this many on.
_WARM_ONE = 8


class Samples:
    """Flat sample arrays and, for some series, where each series' samples start in them.

    ``times`` (int64 ms; ``times_f`` the same as float64 where exact, else None),
    ``values`` and, for staleness-free samples, ``resets``/``changes`` (running counts of
    counter resets and value changes, within a series their difference counts those of a
    window), else ``stale`` flags, in (series, time) order. Staleness-free arrays end with
    one sentinel sample (time 0, value NaN) so that window indices ``i0 == len`` and
    ``i1 - 1 == -1`` gather safely. ``first[j]`` is the index of series ``j``'s first sample.
    """

    def __init__(self, times: np.ndarray, values: np.ndarray, resets: np.ndarray, changes: np.ndarray,
                 stale: np.ndarray, first: np.ndarray, times_f: np.ndarray | None) -> None:
        self.times = times
        self.values = values
        self.resets = resets
        self.changes = changes
        self.stale = stale
        self.first = first
        self.times_f = times_f


class _Local:
    """A selection's samples gathered into local flat arrays, with its window table (see :class:`Selection`)."""

    def __init__(self, samples: Samples, union: np.ndarray, table: np.ndarray) -> None:
        self.samples = samples
        self.union = union
        self.table = table
        self.warm = False
        self.union_py: list[int] = []
        self.rows_py: list[list[int]] | None = None
        self._lists: dict[str, list[Any]] = {}

    def make_warm(self) -> None:
        self.union_py = self.union.tolist()
        if self.table.size <= _PY_TABLE_ENTRIES:
            self.rows_py = self.table.T.tolist()
        self.warm = True

    def lists(self, *names: str) -> list[list[Any]]:
        """The arrays ``names`` of :attr:`samples` as Python lists (each converted once, when first needed)."""
        out = []
        for name in names:
            hit = self._lists.get(name)
            if hit is None:
                array = getattr(self.samples, name)
                hit = self._lists[name] = [] if array is None else array.tolist()
            out.append(hit)
        return out


def _union_table(times: np.ndarray, starts: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The sorted union of the series' sample times (series ``j`` is ``times[starts[j]:starts[j + 1]]``) and the table.

    None if the table would have more than ``limit`` entries. Series scraped together are
    runs of one grid: where every series is a contiguous run of the longest one's times,
    that is the union and each table row a clipped ramp."""
    size = len(starts) - 1
    lengths = np.diff(starts)
    longest = int(np.argmax(lengths)) if size else 0
    union = times[starts[longest]:starts[longest + 1]] if size else times[:0]
    if len(union):
        nonempty = lengths > 0
        a = np.where(nonempty, np.searchsorted(union, times[np.minimum(starts[:-1], len(times) - 1)]), 0)
        if np.all(a + lengths <= len(union)):
            # Each series' times are union[a_j:a_j + n_j] exactly?
            at = np.repeat(a - starts[:-1], lengths) + np.arange(len(times), dtype=np.int64)
            if np.array_equal(union[at], times):
                if size * (len(union) + 1) > limit:
                    return None
                ramp = np.arange(len(union) + 1, dtype=np.int64)[None, :] - a[:, None]
                table = np.minimum(np.maximum(ramp, 0), lengths[:, None])
                table += starts[:-1, None]
                return union, table
    union = np.sort(times, kind="stable")       # sorted runs: a merge
    if len(union) > 1:
        keep = np.empty(len(union), dtype=bool)
        keep[0] = True
        np.not_equal(union[1:], union[:-1], out=keep[1:])
        union = union[keep]
    if size * (len(union) + 1) > limit:
        return None
    table = np.empty((size, len(union) + 1), dtype=np.int64)
    table[:, 0] = starts[:-1]
    for j in range(size):
        lo, hi = int(starts[j]), int(starts[j + 1])
        table[j, 1:] = np.searchsorted(times[lo:hi], union, side="right") + lo
    return union, table


class Selection:
    """The samples of a fixed list of series (staleness-free ones, or all), and where their windows are.

    Windows are found per series in the store's flat arrays by their search keys, as the
    store always did. A selection evaluated at many times at once (or at one time again and
    again) gathers its samples into local flat arrays once, with the sorted union of their
    times and a table ``table[j, k]``: the local index just past series ``j``'s samples at or
    before ``union[k - 1]`` (``k == 0``: none). The samples ``<= x`` of every series then end
    at ``table[:, searchsorted(union, x, "right")]`` and those ``< x`` at ``table[:,
    searchsorted(union, x, "left")]``: one binary search for all series. Where the table
    would be too large (irregular sample times over many series), the keys are searched.
    Once a selection has served enough evaluations at one time to repay it, the table rows
    and the samples they need become Python lists (:meth:`warm`).
    """

    def __init__(self, comp: _Compiled, sids: np.ndarray, clean: bool) -> None:
        # The compiled store's arrays, not the compiled store: it keeps its selections (no cycle).
        self.sids = sids
        self.clean = clean
        self.size = len(sids)
        flat = comp.clean if clean else comp.full
        self._flat = flat
        self._base, self._span, self._exact = comp.base, comp.span, comp.exact
        self._sid_keys = (sids * comp.stride)[:, None]
        first = flat.starts[sids]
        empty = np.zeros(0, dtype=np.int64)
        if clean:     # searched at few times: integer times (no float copy of the store's)
            self._global = Samples(comp.padded_times, comp.padded_values, comp.padded_resets, comp.padded_changes,
                                   np.zeros(0, dtype=bool), first, None)
            self._counts = (comp.clean_reset_count, comp.clean_change_count)
        else:
            self._global = Samples(flat.times, flat.values, empty, empty, comp.full_stale, first, None)
            self._counts = (empty, empty)
        self._local: _Local | None = None
        self._no_table = False
        self._uses_one = 0
        total = int((flat.starts[sids + 1] - first).sum()) if len(sids) else 0
        # Python lists cost about as much per sample as a single-time evaluation saves per series.
        self._warm_after = max(_WARM_ONE, total // (64 * max(self.size, 1)))

    # -- where the samples are

    def _local_samples(self) -> _Local | None:
        """The local arrays and table (built on first use); None where the table would be too large."""
        if self._local is None and not self._no_table:
            flat, sids = self._flat, self.sids
            lo = flat.starts[sids]
            lengths = flat.starts[sids + 1] - lo
            size = self.size
            starts = np.zeros(size + 1, dtype=np.int64)
            np.cumsum(lengths, out=starts[1:])
            total = int(starts[-1])
            gather = np.arange(total, dtype=np.int64) + np.repeat(lo - starts[:-1], lengths)
            times = flat.times[gather]
            found = _union_table(times, starts, max(_TABLE_ENTRIES, _TABLE_RATIO * total))
            if found is None:
                self._no_table = True
                return None
            union, table = found
            if self.clean:
                resets = self._counts[0][gather]
                changes = self._counts[1][gather]
                samples = Samples(np.append(times, 0), np.append(flat.values[gather], np.nan),
                                  np.append(resets, resets[-1:] if total else 0),
                                  np.append(changes, changes[-1:] if total else 0),
                                  np.zeros(0, dtype=bool), starts[:-1], None)
                if self._exact:
                    samples.times_f = samples.times.astype(np.float64)
            else:
                samples = Samples(np.append(times, 0), np.append(flat.values[gather], np.nan),
                                  np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64),
                                  np.append(self._global.stale[gather], True), starts[:-1], None)
            self._local = _Local(samples, union, table)
        return self._local

    def _search(self, at: np.ndarray, right: bool) -> tuple[Samples, np.ndarray]:
        side: Literal["left", "right"] = "right" if right else "left"
        local = self._local if self._local is not None or len(at) < _TABLE_TIMES else self._local_samples()
        if local is not None:   # np.take: C order (not table[:, k]'s), as numpy's row-by-row sums expect
            return local.samples, np.take(local.table, np.searchsorted(local.union, at, side=side), axis=1)
        rel = np.minimum(np.maximum(at - (self._base - 1), 0), self._span + 2)
        return self._global, np.searchsorted(self._flat.keys, self._sid_keys + rel, side=side)

    def windows(self, start: np.ndarray, end: np.ndarray, left_open: bool) -> tuple[Samples, np.ndarray, np.ndarray]:
        """The samples in ``(start, end]`` (``left_open``) or ``[start, end]`` of every series at every time.

        Returns the arrays and the window bounds ``[i0, i1)`` into them, each ``(S, T)``."""
        samples, i1 = self._search(end, right=True)
        samples0, i0 = self._search(start, right=left_open)
        assert samples0 is samples
        return samples, i0, i1

    def latest(self, at: np.ndarray) -> tuple[Samples, np.ndarray]:
        """The index of each series' latest sample at or before ``at`` (``< first`` if none): the arrays, ``(S, T)``."""
        samples, end = self._search(at, right=True)
        end -= 1
        return samples, end

    # -- at one time, in Python

    def warm(self) -> _Local | None:
        """The local samples, table rows as lists, once this selection has served enough single-time evaluations."""
        local = self._local
        if local is not None and local.warm:
            return local
        self._uses_one += 1
        if self._uses_one < self._warm_after:
            return None
        local = self._local_samples()
        if local is not None:
            local.make_warm()
        return local

    @staticmethod
    def bound_one(local: _Local, at: int, right: bool) -> list[int]:
        """At one time (ms): the local index just past each series' samples ``<= at`` (``right``) or ``< at``."""
        k = (bisect_right if right else bisect_left)(local.union_py, at)
        if local.rows_py is not None:
            return local.rows_py[k]
        return local.table[:, k].tolist()  # type: ignore[no-any-return]


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
        self._grid: tuple[np.ndarray, np.ndarray] | None = None   # (times_ms, values) of _labels, not yet split
        self._compiled: _Compiled | None = None
        self._selections: dict[tuple[tuple[Matcher, ...], bool], np.ndarray] = {}
        self._selection_labels: dict[tuple[tuple[Matcher, ...], bool, bool], tuple[Labels, ...]] = {}
        self.compiled_queries: dict[Hashable, Any] = {}
        """Queries compiled against this store (by :mod:`rampsim.promql.api`); cleared when a series is added."""

    def __len__(self) -> int:
        return len(self._labels)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without its compiled queries (caches, compiled again where needed)."""
        state = dict(self.__dict__)
        state["compiled_queries"] = {}
        return state

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
        self._split_grid()
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
        self._invalidate()

    def add_grid(self, labels: Sequence[Mapping[str, str]], times: ArrayLike, values: ArrayLike) -> None:
        """Add series sampled on one grid: ``times`` (T,) seconds, ``values`` (len(labels), T); NaN = no sample."""
        self.add_grid_ms(labels, seconds_to_ms(times), values)

    def add_grid_ms(self, labels: Sequence[Mapping[str, str]], times_ms: ArrayLike, values: ArrayLike) -> None:
        """:meth:`add_grid` with times in integer milliseconds. Series with no sample are not added. Into an
        empty store, distinct label sets on an increasing grid are kept as the grid and compiled from it at once."""
        t = np.asarray(times_ms, dtype=np.int64).ravel()
        vals = np.asarray(values, dtype=np.float64).reshape(len(labels), len(t))
        have = ~np.isnan(vals)
        rows = np.flatnonzero(have.any(axis=1))
        keys = [labels_of(labels[i]) for i in rows.tolist()]
        if not self._labels and len(set(keys)) == len(keys) and bool(np.all(t[1:] > t[:-1])):
            self._labels = keys
            self._index = {lab: i for i, lab in enumerate(keys)}
            self._grid = (t, vals[rows])
            self._invalidate()
            return
        for lab, row, keep in zip(keys, vals[rows], have[rows]):
            self.add_ms(dict(lab), t[keep], row[keep])

    def _split_grid(self) -> None:
        """Turn a grid kept whole (see :meth:`add_grid_ms`) into per-series arrays, before another series is added."""
        if self._grid is not None:
            t, vals = self._grid
            self._grid = None
            have = ~np.isnan(vals)
            self._times = [t[keep] for keep in have]
            self._values = [row[keep] for row, keep in zip(vals, have)]
            self._stale = [np.zeros(int(keep.sum()), dtype=bool) for keep in have]

    def _invalidate(self) -> None:
        self._compiled = None
        self._selections.clear()
        self._selection_labels.clear()
        self.compiled_queries.clear()

    def compiled(self) -> _Compiled:
        if self._compiled is None:
            if self._grid is not None:
                self._compiled = _Compiled.of_grid(self._labels, *self._grid)
            else:
                self._compiled = _Compiled.of_series(self._labels, self._times, self._values, self._stale)
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
