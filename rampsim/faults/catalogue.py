"""The fault catalogue: every kind of fault, what its magnitude means, what it may target.

A kind says which unit its magnitude is written in, which targets make sense
(an arm, ``shared`` infrastructure serving both arms, one segment of an arm), its
default shape, whether requests served while it is active count as *harmed*, and
whether it acts on the telemetry (in the scraper) rather than on the service.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Optional

from rampsim.units import Kind

__all__ = ["FaultKind", "CATALOGUE", "kind_named", "ARMS", "SHARED"]

ARMS = ("baseline", "canary")
SHARED = "shared"


@dataclass(frozen=True)
class FaultKind:
    """One kind of fault (see the module docstring)."""

    name: str
    summary: str
    magnitude: Optional[Kind]
    magnitude_help: str = ""
    low: float = 0.0
    high: float = float("inf")
    segment_target: bool = False
    shared_only: bool = False
    default_target: Optional[str] = None
    default_shape: str = "step"
    shapes: tuple[str, ...] = ("step", "ramp", "flapping")
    needs_duration: bool = False
    timed: bool = True
    harms: bool = True
    telemetry: bool = False
    options: dict[str, Kind] = field(default_factory=dict)
    additive: bool = False


CATALOGUE: dict[str, FaultKind] = {k.name: k for k in (
    FaultKind("error-rate", "requests fail more often (a regression in the release)", Kind.RATIO,
              "added error probability, e.g. +1.5%", low=-1.0, high=1.0, segment_target=True, additive=True),
    FaultKind("slow-burn", "an error increase that grows linearly over hours (error-rate with a ramp)", Kind.RATIO,
              "error probability added once fully grown, e.g. +0.6%", low=-1.0, high=1.0, segment_target=True,
              additive=True, default_shape="ramp"),
    FaultKind("latency", "every request is slower by the same amount (the whole distribution shifts)", Kind.DURATION,
              "added latency, e.g. +120ms", high=60.0, segment_target=True, additive=True),
    FaultKind("tail-latency", "a fraction of requests takes a slow path: P99 rises, P50 does not", Kind.RATIO,
              "fraction of requests on the slow path, e.g. 3%", high=1.0, segment_target=True,
              options={"delay": Kind.DURATION}),
    FaultKind("memory-leak", "resident memory grows until instances are OOM-killed and restart", Kind.BYTES_PER_HOUR,
              "leak per instance, e.g. 400MB/h"),
    FaultKind("crash", "a fraction of an arm's instances is down (capacity loss)", Kind.RATIO,
              "fraction of the pool down, e.g. 40%", high=1.0),
    FaultKind("slow-dependency", "a backend both arms call on cache misses is slow", Kind.DURATION,
              "added latency on every cache miss, e.g. +150ms", high=60.0, shared_only=True, additive=True,
              default_target=SHARED),
    FaultKind("cache", "the cache loses hits: more misses, more work per request", Kind.RATIO,
              "fraction of cache hits lost, e.g. 100% (cache down)", high=1.0),
    FaultKind("cold-cache", "the cache starts empty and warms up linearly over the duration", Kind.RATIO,
              "fraction of cache hits lost at the start, e.g. 100%", high=1.0, default_shape="warmup",
              shapes=("warmup",), needs_duration=True),
    FaultKind("surge", "more traffic than planned", Kind.RATIO, "added traffic, e.g. +60%", low=-1.0, high=100.0,
              additive=True, segment_target=True, harms=False),
    FaultKind("scrape-gap", "scrapes are missing (the samples are absent)", None, telemetry=True, harms=False),
    FaultKind("scrape-delay", "scrapes arrive late: each sample shows the service as it was earlier", Kind.DURATION,
              "how stale each sample is, e.g. 45s", high=3600.0, telemetry=True, harms=False),
    FaultKind("counter-reset", "the target's counters restart from zero (a process restart)", None,
              telemetry=True, harms=False, timed=False, shapes=()),
)}


def kind_named(name: str) -> FaultKind:
    """The kind called ``name``; a ``ValueError`` suggesting the closest name otherwise."""
    try:
        return CATALOGUE[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), CATALOGUE, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown fault kind {name!r}{hint} Known kinds: {', '.join(CATALOGUE)}") from None
