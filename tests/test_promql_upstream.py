"""Conformance of rampsim.promql against Prometheus's own PromQL test files, per version.

Every ``eval`` case of ``../shared/promql-tests/<version>/*.test`` whose expression is in
rampsim's subset runs with that version's semantics (v2.* as 2.x, v3.0.0 and main (3.14)
as 3.x) and must pass with Prometheus's tolerance; cases outside the subset are counted
by reason. Known divergences are listed in ``KNOWN_DIVERGENCES`` with the reason, and
must keep diverging (a fixed one fails until it is removed from the list). Run with ``-s``
to see the per-file table.
"""
from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from tests.promql_upstream import TESTS_ROOT, VERSIONS, Outcome, run_file
from tests.conftest import missing

_DELAYED_NAME_REMOVAL = ("the test engine of this version runs with the experimental delayed __name__ removal "
                         "(EnableDelayedNameRemoval); rampsim removes __name__ immediately, as a default server does")
_ATAN2 = "Prometheus 2.42 kept __name__ on atan2 results; rampsim drops it, as 2.48 and later do"

# (version, file, line) -> why rampsim's answer differs from the file's expectation.
KNOWN_DIVERGENCES: dict[tuple[str, str, int], str] = {
    ("v2.42.0", "operators.test", 479): _ATAN2,
    ("v2.42.0", "operators.test", 482): _ATAN2,
    ("v2.55.1", "name_label_dropping.test", 80): _DELAYED_NAME_REMOVAL,
    ("v3.0.0", "name_label_dropping.test", 76): _DELAYED_NAME_REMOVAL,
    ("main", "name_label_dropping.test", 89): _DELAYED_NAME_REMOVAL,
    ("main", "name_label_dropping.test", 119): _DELAYED_NAME_REMOVAL,
    ("main", "name_label_dropping.test", 123): _DELAYED_NAME_REMOVAL,
}

_CASES = [(version, path.name) for version in VERSIONS
          for path in sorted((TESTS_ROOT / version).glob("*.test"))] if TESTS_ROOT.is_dir() else \
    [pytest.param(None, None, id="no-test-files")]   # one case, to skip (or fail under CI) rather than none


def _require_test_files() -> None:
    """Skip when Prometheus's test files are not beside the project; fail under CI, as the Prometheus and Chromium
    fixtures do (a CI run without them would pass untested)."""
    if TESTS_ROOT.is_dir():
        return
    reason = f"Prometheus's PromQL test files are not at {TESTS_ROOT}"
    missing(reason)
_RESULTS: dict[tuple[str, str], list[Outcome]] = {}


def _run(version: str, name: str) -> list[Outcome]:
    key = (version, name)
    if key not in _RESULTS:
        xfails = {line: why for (v, f, line), why in KNOWN_DIVERGENCES.items() if (v, f) == key}
        _RESULTS[key] = run_file(TESTS_ROOT / version / name, VERSIONS[version], xfails)
    return _RESULTS[key]


def _row(label: str, outcomes: list[Outcome]) -> str:
    count = Counter((o.kind, o.status) for o in outcomes)
    ran = sum(n for (kind, status), n in count.items() if kind == "instant" and status != "out")
    ran_range = sum(n for (kind, status), n in count.items() if kind == "range" and status != "out")
    return (f"{label:<40} instant ran {ran:4d} passed {count['instant', 'passed']:4d} "
            f"xfailed {count['instant', 'xfailed']:2d} failed {count['instant', 'failed']:2d} "
            f"out {count['instant', 'out']:4d} | range ran {ran_range:3d} passed {count['range', 'passed']:3d} "
            f"out {count['range', 'out']:3d}")


@pytest.mark.parametrize("version,name", _CASES)
def test_upstream_file(version: str, name: str) -> None:
    _require_test_files()
    outcomes = _run(version, name)
    print("\n" + _row(f"{version}/{name}", outcomes))
    failures = [o for o in outcomes if o.status == "failed"]
    assert not failures, "\n".join(f"{version}/{o.file}:{o.line} {o.expr}\n    {o.reason}" for o in failures)


def test_upstream_summary() -> None:
    """The per-version table, and the reasons cases fall outside the subset (printed with ``-s``)."""
    _require_test_files()
    by_version: dict[str, list[Outcome]] = defaultdict(list)
    for version, name in _CASES:
        by_version[version].extend(_run(version, name))
    lines = ["", "PromQL conformance against Prometheus's test files (rampsim.promql)"]
    for version, outcomes in by_version.items():
        lines.append(_row(f"{version} ({VERSIONS[version]} semantics)", outcomes))
    for version, outcomes in by_version.items():
        reasons = Counter(o.reason for o in outcomes if o.status == "out")
        lines.append(f"{version} out of subset: " + ", ".join(f"{r}: {n}" for r, n in reasons.most_common()))
    print("\n".join(lines))
    ran = sum(1 for outs in by_version.values() for o in outs if o.status in ("passed", "xfailed", "failed"))
    assert ran > 1500, "far fewer cases ran than expected: is the test-file reader broken?"
    assert all(o.status != "failed" for outs in by_version.values() for o in outs)
