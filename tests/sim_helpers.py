"""Shared helpers for the simulation tests: plans, metric readings over windows."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from rampsim.engine.metrics import Series
from rampsim.plan import load_plan, with_overrides
from rampsim.report.metrics import measure, over
from rampsim.telemetry import Telemetry

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "scenarios" / "ramp-phase-50k.yaml"
VALIDATION = ROOT / "scenarios" / "ramp-phase-5k-validation.yaml"

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
def flat_reference():
    """The reference plan at a flat normal load (the runbook's figures hold at normal load)."""
    return with_overrides(reference(), {"traffic.load": {"shape": "flat", "average": "12,500/s"}})


def readings(telemetry: Telemetry, start: int, end: int, arm: str = "canary", segment: str | None = None) -> dict:
    """Every reading of :data:`READINGS` over the scrapes ``[start, end]``."""
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
