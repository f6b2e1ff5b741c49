"""Shared helpers for the tests: the repository's paths, plans, metric readings over windows.

Every path a test reads is anchored here, to the repository (never to the working directory),
so ``python -m pytest /path/to/repo/tests`` passes from any directory. The plans below are cached
for the session; ``tests/conftest.py`` serves the same objects as fixtures.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from rampsim.plan import load_plan, with_overrides
from rampsim.telemetry import Telemetry

ROOT = Path(__file__).resolve().parent.parent        # the repository
SCENARIOS = ROOT / "scenarios"
REFERENCE = SCENARIOS / "ramp-phase-50k.yaml"         # the reference plan (the customer's runbook)
VALIDATION = SCENARIOS / "ramp-phase-5k-validation.yaml"  # a 20-minute ramp for quick sweeps
EXAMPLES = ROOT / "examples"
NOTEBOOKS = ROOT / "notebooks"
TEST_DATA = ROOT / "tests" / "data"
MIX_SMALL = TEST_DATA / "mix-small.yaml"              # a small mix for the validation ramp
REAL_METRICS = ROOT.parent / "shared" / "real-metrics"  # read in place (tests/realdata.py)

READINGS = ("error_rate", "p50", "p99", "availability", "cpu", "memory", "network", "cache_hit_rate", "request_rate")


@lru_cache(maxsize=None)
def reference():
    """The reference plan with pure sampling noise (``variability: none``): the tolerances of the
    tests that use it are derived from Poisson and binomial sampling alone."""
    return with_overrides(load_plan(REFERENCE), {"traffic.variability": "none"})


@lru_cache(maxsize=None)
def realistic_reference():
    """The reference plan as shipped, with its background variability fitted to real telemetry."""
    return load_plan(REFERENCE)


def sampling_only_plan_file(directory: Path, source: Path = REFERENCE) -> Path:
    """``source`` written to ``directory`` with ``variability: none`` (for tests of the command line)."""
    lines = source.read_text().splitlines()
    start = lines.index("  variability:")
    end = start + 1
    while end < len(lines) and lines[end].startswith("    "):
        end += 1
    path = directory / source.name
    path.write_text("\n".join(lines[:start] + ["  variability: none"] + lines[end:]) + "\n")
    return path


@lru_cache(maxsize=None)
def validation():
    """The 20-minute validation plan as shipped."""
    return load_plan(VALIDATION)


@lru_cache(maxsize=None)
def flat_reference():
    """The reference plan at a flat normal load (the runbook's figures hold at normal load)."""
    return with_overrides(reference(), {"traffic.load": {"shape": "flat", "average": "12,500/s"}})


def readings(telemetry: Telemetry, start: int, end: int, arm: str = "canary", segment: str | None = None) -> dict:
    """Every reading of :data:`READINGS` over the scrapes ``[start, end]``."""
    from rampsim.engine.metrics import Series   # imported here: the paths above stay cheap to import
    from rampsim.report.readings import measure, over

    series = Series.from_telemetry(telemetry)
    values = {}
    for name in READINGS:
        fields = {"arm": arm}
        if name in ("cpu", "memory", "network"):
            fields["agg"] = "avg"
        if segment and name in ("error_rate", "p50", "p99", "request_rate"):
            fields["segment"] = segment
        values[name] = over(series, measure(name, "cumulative", **fields), start, end)
    return values
