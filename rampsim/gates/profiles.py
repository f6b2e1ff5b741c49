"""Exporter profiles: which exporter's series names an imported gate's queries read.

The simulated telemetry is presented to PromQL as one exporter would name it (``http``: the
Prometheus client libraries' ``http_requests_total``; ``istio``; ``linkerd``; ``nginx``: the
ingress controller; ``spring``: Micrometer's ``http_server_requests_seconds``; ``envoy``: a
sidecar's stats, as App Mesh's; ``custom``: names the user maps). :func:`infer_profile` guesses the profile from the metric names a gate's queries
select; the command line's ``--profile`` overrides it.

HTTP client libraries name their series differently (``flask_http_request_total{status}``,
``http_requests_received_total{code}``, a histogram's ``_count`` with ``status_code``...):
:func:`infer_client` reads the names and the status label a gate's queries use, so that the
``http`` profile writes its series under them (a query naming a series no library writes,
``container_cpu_usage_seconds_total`` say, is left unmatched).
"""
from __future__ import annotations

import re
from typing import Iterable, Optional

from rampsim.errors import RampsimError
from rampsim.promql.exposition import ClientNames
from rampsim.promql.parse import parse, selectors
from rampsim.promql.store import go_regex

__all__ = ["PROFILES", "infer_profile", "infer_client"]

PROFILES = ("http", "istio", "linkerd", "nginx", "spring", "envoy", "custom")

_SIGNATURES = (
    ("istio", re.compile(r"\bistio_")),
    ("linkerd", re.compile(r"\b(response_total|response_latency_ms_bucket|request_total)\b")),
    ("nginx", re.compile(r"\bnginx_ingress_controller_")),
    ("spring", re.compile(r"\bhttp_server_requests_seconds")),
    ("envoy", re.compile(r"\benvoy_(cluster_upstream_rq|http_downstream_rq)")),
    ("http", re.compile(r"\bhttp_requests?_(total|duration_seconds)")),
)


def infer_profile(queries: Iterable[str]) -> str:
    """The profile whose series names the queries use most: ``http`` where they read an HTTP client library's
    series under other names (:func:`infer_client`), ``custom`` when none is recognised."""
    queries = list(queries)
    votes: dict[str, int] = {}
    for query in queries:
        for profile, pattern in _SIGNATURES:
            if pattern.search(query):
                votes[profile] = votes.get(profile, 0) + 1
                break
    if not votes:
        return "http" if infer_client(queries) is not None else "custom"
    return max(votes, key=lambda p: (votes[p], -PROFILES.index(p)))


_TAG = re.compile(r"\{\{.*?\}\}", re.S)
_STATUS_LABELS = ("code", "status", "status_code", "http_status", "http_status_code", "http_response_status_code")
_CODES = ("200", "201", "204", "301", "302", "400", "404", "429", "500", "502", "503", "504")
_REQUEST_COUNTER = re.compile(r"(^|_)requests?(_received|_handled)?_total$")
_NOT_A_CLIENT = re.compile(r"^(istio_|envoy_|nginx_|haproxy_|promhttp_|rampsim_|container_|kube_|node_|process_|go_"
                           r"|up$)|^response_")   # meshes, proxies, Prometheus's own and the cluster's series
_DURATION = re.compile(r"(duration|latency|time)", re.I)


def infer_client(queries: Iterable[str]) -> Optional[ClientNames]:
    """The HTTP client library's names the queries read (its request counter, status label and latency
    histogram), or ``None`` when they read no such series: a counter selected by a status code
    (``status=~"5.."``) or named like one (``*_requests_total``), a latency histogram's buckets, or its
    ``_count`` selected by a status code (then the histogram carries the status and there is no counter)."""
    requests: Optional[str] = None
    duration: Optional[str] = None
    status_label: Optional[str] = None
    count_is_counter = status_on_histogram = False
    for query in queries:
        try:
            tree = parse(_TAG.sub("x", query))
        except RampsimError:
            continue
        for selector in selectors(tree):
            named = [m.value for m in selector.matchers if m.name == "__name__" and m.op == "="]
            if not named or _NOT_A_CLIENT.search(named[0]):
                continue
            name = named[0]
            status = next((m.name for m in selector.matchers
                           if m.name in _STATUS_LABELS and _selects_a_code(m.op, m.value)), None)
            base = re.sub(r"_(bucket|count|sum)$", "", name)
            if name.endswith("_bucket") or (base != name and _DURATION.search(base)):
                duration = base
                if status is not None:
                    status_on_histogram = True
                    count_is_counter = count_is_counter or name.endswith("_count")
            elif status is not None or _REQUEST_COUNTER.search(name):
                requests = name
            else:
                continue
            status_label = status_label or status
    if requests is None and duration is None:
        return None
    default = ClientNames()
    return ClientNames(requests=requests or (None if count_is_counter else default.requests),
                       status_label=status_label or default.status_label, duration=duration or default.duration,
                       status_on_histogram=status_on_histogram)


def _selects_a_code(op: str, value: str) -> bool:
    """Whether a matcher's value is an HTTP status code (``500``) or a regex matching one (``5..``, ``2..|3..``):
    not a status class (``5xx``, a proxy's)."""
    if op in ("=", "!="):
        return value in _CODES
    try:
        pattern = re.compile(go_regex(value), re.S)
    except re.error:
        return False
    return any(pattern.fullmatch(code) for code in _CODES)
