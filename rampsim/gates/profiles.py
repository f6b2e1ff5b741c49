"""Exporter profiles: which exporter's series names an imported gate's queries read.

The simulated telemetry is presented to PromQL as one exporter would name it (``http``: the
Prometheus client libraries' ``http_requests_total``; ``istio``; ``linkerd``; ``nginx``: the
ingress controller; ``spring``: Micrometer's ``http_server_requests_seconds``; ``custom``: names
the user maps). :func:`infer_profile` guesses the profile from the metric names a gate's queries
select; the command line's ``--profile`` overrides it.
"""
from __future__ import annotations

import re
from typing import Iterable

__all__ = ["PROFILES", "infer_profile"]

PROFILES = ("http", "istio", "linkerd", "nginx", "spring", "custom")

_SIGNATURES = (
    ("istio", re.compile(r"\bistio_")),
    ("linkerd", re.compile(r"\b(response_total|response_latency_ms_bucket|request_total)\b")),
    ("nginx", re.compile(r"\bnginx_ingress_controller_")),
    ("spring", re.compile(r"\bhttp_server_requests_seconds")),
    ("http", re.compile(r"\bhttp_requests?_(total|duration_seconds)")),
)


def infer_profile(queries: Iterable[str]) -> str:
    """The profile whose series names the queries use most (``custom`` when none is recognised)."""
    votes: dict[str, int] = {}
    for query in queries:
        for profile, pattern in _SIGNATURES:
            if pattern.search(query):
                votes[profile] = votes.get(profile, 0) + 1
                break
    if not votes:
        return "custom"
    return max(votes, key=lambda p: (votes[p], -PROFILES.index(p)))
