"""Simulated telemetry as a real exporter would expose it: series for PromQL to select.

A :class:`~rampsim.telemetry.Telemetry` holds counters per family, arm and segment (and
latency bucket) and gauges per arm. Real gates query what their exporter writes:
``http_requests_total{code="500"}``, ``istio_requests_total{response_code=...}``,
``response_total{classification="failure"}``... :func:`expose` presents a telemetry under
an *exporter profile* as labelled series on the telemetry's scrape grid, ready for
:class:`~rampsim.promql.SeriesStore` (:meth:`Exposition.store`) or for ``promtool``
backfill (:meth:`Exposition.write_openmetrics`).

Profiles (:data:`PROFILES`): the request counter (success and error series) and the latency
histogram each exposes:

* ``rampsim``: ``rampsim_requests_total`` and ``rampsim_request_errors_total{arm, segment}``,
  ``rampsim_request_duration_seconds_{bucket,sum,count}{arm, segment}`` (seconds): rampsim's
  own names (:data:`rampsim.telemetry.METRIC_NAMES`, as ``rampsim.prod``'s default naming);
* ``http`` (a Go or Python client on the pods): ``http_requests_total{code, method}``,
  ``http_request_duration_seconds_{bucket,sum,count}{method}`` (seconds), with pod labels;
  other client libraries' names and status label (:class:`ClientNames`, in the deployment);
* ``istio``: ``istio_requests_total{response_code, reporter, destination_workload, ...}``,
  ``istio_request_duration_milliseconds_{bucket,sum,count}`` with the same labels
  (milliseconds);
* ``linkerd``: ``response_total{classification, status_code, direction, deployment}``,
  ``response_latency_ms_{bucket,sum,count}{direction, deployment}`` (milliseconds);
* ``nginx`` (ingress-nginx): ``nginx_ingress_controller_requests{status, ingress, service,
  canary}``, ``nginx_ingress_controller_request_duration_seconds_{bucket,sum,count}`` with the
  same labels (seconds), and the upstream latency summary
  ``nginx_ingress_controller_ingress_upstream_latency_seconds_{sum,count}`` (per ingress and
  service, no status; Flagger's builtin nginx duration reads it);
* ``spring`` (Micrometer): ``http_server_requests_seconds_{count,sum,bucket}{status, outcome,
  uri, method, exception}`` (seconds): the request counter is the timer's ``_count``;
* ``envoy`` (a sidecar on each pod, App Mesh's or a plain Envoy's, its stats scraped by
  Prometheus): ``envoy_cluster_upstream_rq{envoy_response_code, envoy_cluster_name}``,
  ``envoy_cluster_upstream_rq_time_{bucket,sum,count}`` (milliseconds, no status) and the
  listener's ``envoy_http_downstream_rq_xx{envoy_response_code_class,
  envoy_http_conn_manager_prefix="ingress"}``, with the pod labels of ``http``.

*Custom* names (a plan's ``prometheus:`` section) are the ``rampsim`` profile with other
series and label names: :class:`Names`. The other families (revenue, health checks, cache,
CPU, memory, network) have no standard exporter; every profile exposes them as the
``rampsim`` profile does (``others=False`` leaves them out).

How arms and segments become labels (:class:`Deployment`):

* ``rampsim``/custom: the arm and segment labels of the naming (``arm``, ``segment``),
  plus its constant labels (the naming's matchers, e.g. ``job``), as rampsim's own
  exporter and recordings write them.
* Each arm is a workload, ``<service>-stable`` (baseline) and ``<service>-canary`` by
  default (Flagger's convention is ``workloads={"baseline": "<target>-primary", "canary":
  "<target>"}``), running ``pods`` instances (per arm). ``http``, ``spring``, ``istio``
  (destination-reported series) and ``linkerd`` are scraped per pod: each series carries
  ``pod="<workload>-<template hash>-<suffix>"`` and ``namespace``; ``http`` and ``spring``
  also ``job``/``service``/``app`` = the service and Argo Rollouts'
  ``rollouts_pod_template_hash`` (one deterministic hash per arm, or ``template_hashes``);
  ``envoy`` the same pod labels, ``app`` and
  ``envoy_cluster_name="cds_ingress_<namespace>_<workload>_http_80"``. The pod's namespace and
  name labels are those of the scrape job (``pod_labels``): ``namespace``/``pod``, or the older
  ``kubernetes-pods`` job's ``kubernetes_namespace``/``kubernetes_pod_name`` (what Flagger's
  ``kubernetes`` provider and App Mesh's Prometheus select pods by).
  An arm's counts are split across its pods deterministically, round robin: pod ``i`` of
  ``n`` holds requests ``i, i+n, i+2n, ...`` of each counter (``ceil((c - i) / n)``), so the
  pods' integer counters sum exactly to the arm's and stay monotonic; a histogram's
  ``_sum`` (and any non-integer counter) is split evenly.
* ``istio``: ``destination_workload``/``destination_service_name`` = the arm's workload,
  ``destination_service`` its cluster FQDN, ``destination_app`` the service,
  ``destination_version`` ``stable``/``canary``; every request is reported twice, by the
  ingress gateway (``reporter="source"``, one series per arm, not per pod) and by the
  destination's sidecar (``reporter="destination"``, per pod), as Istio does: a query
  without a ``reporter`` matcher counts each request twice.
* ``linkerd``: ``deployment`` = the arm's workload, ``direction="inbound"``.
* ``nginx``: the ingress controller, not the service's pods, is scraped: ``ingress`` = the
  service, ``service`` = the arm's workload, and ``canary="<namespace>-<workload>-80"`` on
  the canary arm only (absent, i.e. empty, on the baseline), as ingress-nginx labels
  requests sent to a canary backend.
* The segment is a ``segment`` label (``segment_label``) in every profile; with
  ``segment_label=None`` the HTTP series sum the segments (no standard exporter knows them).

**Series existence follows reality.** A labelled child (``code="500"`` on one pod) is
created by the client library at its first increment, so its series exists only where
its counter is above zero: an error ratio without ``or vector(0)`` is an empty vector on
a service that has served no error, and a pod's series vanish after a counter reset until
it counts again. A histogram child exists from its first observation, all its buckets at
once. The ``rampsim`` profile's series exist from the first scrape, zeros included, as
rampsim's exporter writes them. A missing scrape (a ``NaN`` row) is an absent sample of
every series; :meth:`Exposition.store` with ``staleness=True`` also writes the staleness
marker a live Prometheus writes when a series disappears (a backfilled or recorded
history has none, hence the default).

Error responses are ``500`` (success ``200``). The histograms of ``istio``, ``nginx`` and
``spring`` carry the status like their exporters, so the telemetry's per-arm histogram is
split between the two statuses: each scrape's new error observations go to the buckets
in proportion to that scrape's new observations (largest remainders, integer counts),
which keeps every bucket monotonic in time and in ``le``. ``linkerd``'s and ``envoy``'s
histograms carry no status, nor does ``http``'s unless its client library's does (:class:`ClientNames`). ``le`` is written as each exporter's language writes a float:
Go (``0.005``, ``1``, ``+Inf``) for ``http``, ``istio``, ``linkerd`` and ``nginx``, Java
(``1.0``) for ``spring``, Python (``1.0``) for ``rampsim``; millisecond histograms scale the
plan's bucket bounds by 1000. (Prometheus 3.x normalizes ``le`` values on ingestion, ``"1"``
becoming ``"1.0"``; only a selector on a literal ``le`` value notices.)

Everything is vectorized over time with numpy; Python loops only over series.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional, Sequence, TextIO, Union

import numpy as np

from rampsim.errors import UsageError
from rampsim.promql.store import SeriesStore
from rampsim.telemetry import FAMILIES, METRIC_NAMES, Telemetry

__all__ = ["PROFILES", "Names", "ClientNames", "Deployment", "Exposition", "ExposedFamily", "expose", "exposition_store"]

PROFILES: tuple[str, ...] = ("rampsim", "http", "istio", "linkerd", "nginx", "spring", "envoy")
"""The exporter profiles :func:`expose` knows (custom names: the ``rampsim`` profile with :class:`Names`)."""

_OK, _ERROR = "200", "500"
_OTHERS = ("revenue", "health_checks", "health_checks_ok", "cache_hits", "cache_misses")
_GAUGES = ("cpu", "memory", "network", "memory_bytes")
_SAFE = "bcdfghjklmnpqrstvwxz2456789"   # Kubernetes' alphabet for generated names (no vowels, no 0/1/3)


@dataclass(frozen=True)
class Names:
    """Series and label names of the ``rampsim`` profile: rampsim's own, or a service's custom ones.

    ``metrics`` maps telemetry families to series names (missing ones keep rampsim's,
    :data:`rampsim.telemetry.METRIC_NAMES`); the histogram's ``_sum``/``_count`` are its
    ``_bucket`` name with those suffixes. ``labels`` are constant labels on every series (a
    naming's matchers, e.g. ``{"job": "api"}``).
    """

    metrics: Mapping[str, str] = field(default_factory=lambda: dict(METRIC_NAMES))
    arm_label: str = "arm"
    segment_label: str = "segment"
    labels: Mapping[str, str] = field(default_factory=dict)

    def series_name(self, family: str) -> str:
        return {**METRIC_NAMES, **self.metrics}[family]

    @property
    def histogram(self) -> str:
        bucket = self.series_name("latency_bucket")
        if not bucket.endswith("_bucket"):
            raise UsageError(f"latency_bucket: a classic histogram's bucket series ends with _bucket, got {bucket!r}")
        return bucket[: -len("_bucket")]


@dataclass(frozen=True)
class ClientNames:
    """How the ``http`` profile's client library names its series: libraries differ (Go's and Python's
    ``prometheus_client``: ``http_requests_total{code}``; prometheus-flask-exporter:
    ``flask_http_request_total{status}``; express-prom-bundle: the histogram's ``_count`` with
    ``status_code``; OpenTelemetry: ``http_server_request_duration_seconds``).

    ``requests`` is the request counter (``None``: the library has none, the histogram's ``_count``
    counts requests), ``status_label`` the status code's label, ``duration`` the latency histogram's
    base name; the histogram carries the status too when ``status_on_histogram`` (always when there
    is no counter)."""

    requests: Optional[str] = "http_requests_total"
    status_label: str = "code"
    duration: str = "http_request_duration_seconds"
    status_on_histogram: bool = False

    def __post_init__(self) -> None:
        if self.requests is None and not self.status_on_histogram:
            object.__setattr__(self, "status_on_histogram", True)


@dataclass(frozen=True)
class Deployment:
    """Where the service runs, as the labels of a Kubernetes scrape see it (see the module docstring)."""

    service: str = "app"
    namespace: str = "default"
    workloads: Mapping[str, str] = field(default_factory=dict)
    pods: Union[int, Mapping[str, int]] = 1
    template_hashes: Mapping[str, str] = field(default_factory=dict)
    segment_label: Optional[str] = "segment"
    client: "ClientNames" = field(default_factory=lambda: ClientNames())
    pod_labels: tuple[str, str] = ("namespace", "pod")

    def alias(self, arm: str) -> str:
        """``stable`` for the baseline, the arm's own name otherwise."""
        return "stable" if arm == "baseline" else arm

    def workload(self, arm: str) -> str:
        return self.workloads.get(arm) or f"{self.service}-{self.alias(arm)}"

    def template_hash(self, arm: str) -> str:
        return self.template_hashes.get(arm) or _safe_hash(f"{self.namespace}/{self.service}/{arm}", 10)

    def n_pods(self, arm: str) -> int:
        n = self.pods if isinstance(self.pods, int) else self.pods.get(arm, 1)
        if not (isinstance(n, int) and 1 <= n <= 10_000):
            raise UsageError(f"arm {arm!r}: the number of pods must be a whole number from 1 to 10,000, got {n!r}")
        return n

    def pod_identity(self, pod_name: str) -> dict[str, str]:
        """The labels the scrape job gives a pod of the ``http``, ``spring`` and ``envoy`` profiles: its namespace
        and name under :attr:`pod_labels`."""
        namespace_label, pod_label = self.pod_labels
        return {namespace_label: self.namespace, pod_label: pod_name}

    def pod_names(self, arm: str) -> list[str]:
        base = f"{self.workload(arm)}-{self.template_hash(arm)}"
        return [f"{base}-{_safe_hash(f'{base}/{i}', 5)}" for i in range(self.n_pods(arm))]


def _safe_hash(text: str, length: int) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return "".join(_SAFE[b % len(_SAFE)] for b in digest[:length])


@dataclass
class ExposedFamily:
    """One metric family as OpenMetrics writes it: name, type, help, and its series (rows).

    A histogram (or a summary, without quantiles) lists its children: each the rows of its
    buckets (in ``le`` order; none for a summary), its ``_count`` and its ``_sum``.
    """

    name: str
    kind: str                                  # counter, gauge, histogram, summary, unknown
    help: str
    rows: list[int] = field(default_factory=list)
    children: list[tuple[list[int], int, int]] = field(default_factory=list)


@dataclass
class Exposition:
    """Series of one telemetry under one profile, on the telemetry's scrape grid.

    ``times_ms`` (T,) unix milliseconds; ``labels`` one label set per series (``__name__``
    included); ``values`` (series, T), ``NaN`` where the series has no sample (it does not
    exist yet, or the scrape is missing).
    """

    times_ms: np.ndarray
    labels: list[dict[str, str]]
    values: np.ndarray
    families: list[ExposedFamily]

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def times(self) -> np.ndarray:
        """Sample times in seconds."""
        return self.times_ms / 1000.0

    def store(self, staleness: bool = False, store: Optional[SeriesStore] = None) -> SeriesStore:
        """The series in a :class:`SeriesStore` (``store`` if given); ``staleness`` adds the staleness
        marker a live Prometheus writes at the first scrape where a series is absent after being present."""
        store = store if store is not None else SeriesStore()
        if not staleness:
            store.add_grid_ms(self.labels, self.times_ms, self.values)
            return store
        present = ~np.isnan(self.values)
        gone = np.zeros_like(present)
        gone[:, 1:] = present[:, :-1] & ~present[:, 1:]
        for row, labels in enumerate(self.labels):
            keep = present[row]
            if gone[row].any():
                mask = keep | gone[row]
                store.add_ms(labels, self.times_ms[mask], np.where(keep, self.values[row], np.nan)[mask],
                             stale=gone[row][mask])
            elif keep.any():
                store.add_ms(labels, self.times_ms[keep], self.values[row, keep])
        return store

    def write_openmetrics(self, out: TextIO) -> int:
        """Write the series as OpenMetrics text with timestamps (what ``promtool tsdb create-blocks-from
        openmetrics`` backfills); returns the number of samples written."""
        stamps = [_timestamp(int(ms)) for ms in self.times_ms]
        heads = [_series_text(labels) for labels in self.labels]
        written = 0
        for family in self.families:
            out.write(f"# HELP {family.name} {family.help}\n# TYPE {family.name} {family.kind}\n")
            if family.kind not in ("histogram", "summary"):
                for row in family.rows:
                    for tick in np.flatnonzero(~np.isnan(self.values[row])):
                        out.write(f"{heads[row]} {_number(self.values[row, tick])} {stamps[tick]}\n")
                        written += 1
                continue
            for buckets, count, total in family.children:
                rows = [*buckets, count, total]
                for tick in np.flatnonzero(~np.isnan(self.values[count])):
                    out.writelines(f"{heads[r]} {_number(self.values[r, tick])} {stamps[tick]}\n" for r in rows)
                    written += len(rows)
        out.write("# EOF\n")
        return written


def _timestamp(ms: int) -> str:
    seconds, rest = divmod(ms, 1000)
    return f"{seconds}.{rest:03d}".rstrip("0").rstrip(".") if rest else str(seconds)


def _number(value: float) -> str:
    if math.isfinite(value) and float(value).is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def _series_text(labels: Mapping[str, str]) -> str:
    pairs = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items() if k != "__name__")
    return labels["__name__"] + ("{" + pairs + "}" if pairs else "")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# -- le values as exporters write them ------------------------------------------------------

def _le_go(bound: float) -> str:
    """As Go's ``strconv.FormatFloat(b, 'f', -1, 64)`` writes it (``1``, ``0.005``)."""
    if math.isinf(bound):
        return "+Inf"
    return np.format_float_positional(bound, trim="-") if abs(bound) < 1e21 else repr(bound)


def _le_float(bound: float) -> str:
    """As Java's ``Double.toString`` and Python's ``repr`` write it (``1.0``, ``0.005``)."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))


# -- counts ---------------------------------------------------------------------------------

def _ffill(raw: np.ndarray) -> np.ndarray:
    """``raw`` (time first) with each missing sample replaced by the last present one."""
    missing = np.isnan(raw)
    if not missing.any():
        return raw
    flat = raw.reshape(len(raw), -1)
    index = np.where(missing.reshape(len(raw), -1), 0, np.arange(len(raw))[:, None])
    np.maximum.accumulate(index, axis=0, out=index)
    return flat[index, np.arange(flat.shape[1])].reshape(raw.shape)


def _increments(raw: np.ndarray, reset: np.ndarray) -> np.ndarray:
    """Counter increments at each present sample (a reset restarts from zero); 0 where missing."""
    filled = _ffill(raw)
    previous = np.full_like(filled, np.nan)
    previous[1:] = filled[:-1]
    with np.errstate(invalid="ignore"):
        inc = np.where(np.isnan(previous) | reset, filled, filled - previous)
    return np.where(np.isnan(raw), 0.0, np.maximum(np.nan_to_num(inc), 0.0))


def _accumulate(inc: np.ndarray, reset: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Counters from increments, restarting at each reset; ``NaN`` where ``present`` is false."""
    total = np.cumsum(inc, axis=0)
    ticks = np.arange(len(inc)).reshape((-1,) + (1,) * (inc.ndim - 1))
    last = np.broadcast_to(np.maximum.accumulate(np.where(reset, ticks, 0), axis=0), total.shape)
    before = np.where(last > 0, np.take_along_axis(total, np.maximum(last - 1, 0), axis=0), 0.0)
    return np.where(present, total - before, np.nan)


def _split_errors(buckets: np.ndarray, errors: np.ndarray, total: np.ndarray) -> tuple[np.ndarray, ...]:
    """The histogram of the error observations and of the rest: buckets ``(T, ..., B)`` and sums.

    Each scrape's new error observations go to the buckets in proportion to that scrape's
    new observations, by largest remainders (integers; proportional floats when the counts
    are not whole numbers). A drop in any of the counters is a restart of all three.
    """
    reset = np.zeros(buckets.shape[:-1], dtype=bool)     # a restart: any of the counters drops
    for counter in (buckets, errors[..., None], total[..., None]):
        filled = _ffill(counter)
        with np.errstate(invalid="ignore"):
            reset[1:] |= (filled[1:] < filled[:-1]).any(axis=-1)
    present = ~np.isnan(buckets[..., -1]) & ~np.isnan(errors) & ~np.isnan(total)
    # Increments that no histogram can have (fewer new observations below a bound than below a lower
    # one, more new errors than observations) betray a restart hidden in missing scrapes.
    cum_inc = _increments(buckets, reset[..., None])                  # (T, ..., B) increments of each le
    impossible = (np.diff(cum_inc, axis=-1) < 0).any(axis=-1) | (_increments(errors, reset) > cum_inc[..., -1])
    reset |= present & impossible
    cum_inc = _increments(buckets, reset[..., None])
    per_bucket = np.maximum(np.diff(cum_inc, axis=-1, prepend=0.0), 0.0)
    seen = per_bucket.sum(axis=-1)
    err_inc = np.minimum(_increments(errors, reset), seen)
    whole = bool(np.all(per_bucket == np.round(per_bucket)) and np.all(err_inc == np.round(err_inc)))
    if whole and seen.size and seen.max() < 2**31:
        d = per_bucket.astype(np.int64)
        e = err_inc.astype(np.int64)
        r = np.maximum(d.sum(axis=-1), 1)
        share = e[..., None] * d
        base, rest = share // r[..., None], share % r[..., None]
        left = e - base.sum(axis=-1)
        order = np.argsort(-rest, axis=-1, kind="stable")
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.broadcast_to(np.arange(d.shape[-1]), d.shape), axis=-1)
        err_bucket_inc = (base + (rank < left[..., None])).astype(float)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            err_bucket_inc = np.where(seen[..., None] > 0, per_bucket * (err_inc / seen)[..., None], 0.0)
    # Both halves are accumulated from their own (non-negative) increments, never as a difference of
    # floats, so that each stays monotonic: a counter that went down by a rounding error is a reset.
    err_buckets = _accumulate(np.cumsum(err_bucket_inc, axis=-1), reset[..., None], present[..., None])
    ok_bucket_inc = np.maximum(per_bucket - err_bucket_inc, 0.0)
    ok_buckets = _accumulate(np.cumsum(ok_bucket_inc, axis=-1), reset[..., None], present[..., None])
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(seen > 0, err_inc / seen, 0.0)
    sum_inc = _increments(total, reset)
    err_sum_inc = sum_inc * fraction
    err_sum = _accumulate(err_sum_inc, reset, present)
    ok_sum = _accumulate(np.maximum(sum_inc - err_sum_inc, 0.0), reset, present)
    return err_buckets, ok_buckets, err_sum, ok_sum


def _share(values: np.ndarray, pod: int, pods: int, whole: bool) -> np.ndarray:
    """Pod ``pod`` of ``pods``'s part of an arm's counter: round robin for whole counts, else even."""
    if pods == 1:
        return values
    if whole:
        return np.maximum(np.floor_divide(values - pod + pods - 1, pods), 0.0)
    return values / pods


def _existing(values: np.ndarray) -> np.ndarray:
    """A labelled child's samples: only where its counter is above zero (created at its first increment)."""
    with np.errstate(invalid="ignore"):
        return np.where(values > 0, values, np.nan)


# -- building -------------------------------------------------------------------------------

class _Builder:
    """Collects series rows and their families."""

    def __init__(self, n_ticks: int) -> None:
        self.n_ticks = n_ticks
        self.labels: list[dict[str, str]] = []
        self.rows: list[np.ndarray] = []
        self.families: dict[str, ExposedFamily] = {}

    def family(self, name: str, kind: str, help_text: str) -> ExposedFamily:
        if name not in self.families:
            self.families[name] = ExposedFamily(name, kind, help_text)
        return self.families[name]

    def add(self, labels: dict[str, str], values: np.ndarray) -> int:
        self.labels.append({k: v for k, v in labels.items() if v != ""})
        self.rows.append(np.asarray(values, dtype=float))
        return len(self.rows) - 1

    def counter(self, name: str, help_text: str, labels: Mapping[str, str], values: np.ndarray) -> None:
        """A counter series ``name`` (a ``_total`` name is an OpenMetrics counter, another ``unknown``)."""
        base, kind = (name[: -len("_total")], "counter") if name.endswith("_total") else (name, "unknown")
        family = self.family(base, kind, help_text)
        family.rows.append(self.add({"__name__": name, **labels}, values))

    def gauge(self, name: str, help_text: str, labels: Mapping[str, str], values: np.ndarray) -> None:
        self.family(name, "gauge", help_text).rows.append(self.add({"__name__": name, **labels}, values))

    def histogram(self, base: str, help_text: str, labels: Mapping[str, str], bounds: Sequence[str],
                  buckets: np.ndarray, total: np.ndarray, exists: np.ndarray) -> None:
        """One histogram child: ``buckets`` (T, B) cumulative, ``total`` its sum; samples only where ``exists``."""
        family = self.family(base, "histogram", help_text)
        rows = [self.add({"__name__": f"{base}_bucket", **labels, "le": le},
                         np.where(exists, buckets[:, b], np.nan)) for b, le in enumerate(bounds)]
        count = self.add({"__name__": f"{base}_count", **labels}, np.where(exists, buckets[:, -1], np.nan))
        sum_row = self.add({"__name__": f"{base}_sum", **labels}, np.where(exists, total, np.nan))
        family.children.append((rows, count, sum_row))

    def summary(self, base: str, help_text: str, labels: Mapping[str, str], count: np.ndarray,
                total: np.ndarray) -> None:
        """A summary child without quantiles: its ``_count`` and ``_sum`` (samples where they are not NaN)."""
        family = self.family(base, "summary", help_text)
        count_row = self.add({"__name__": f"{base}_count", **labels}, count)
        sum_row = self.add({"__name__": f"{base}_sum", **labels}, total)
        family.children.append(([], count_row, sum_row))

    def build(self, times_ms: np.ndarray) -> Exposition:
        values = np.vstack(self.rows) if self.rows else np.empty((0, self.n_ticks))
        return Exposition(times_ms, self.labels, values, list(self.families.values()))


@dataclass
class _Cell:
    """One arm (and segment, unless segments are summed): its counts over time."""

    arm: str
    segment: Optional[str]
    requests: np.ndarray       # (T,)
    errors: np.ndarray         # (T,)
    buckets: np.ndarray        # (T, B)
    total: np.ndarray          # (T,) the histogram's sum, seconds
    _split: Optional[tuple[np.ndarray, ...]] = None

    def split(self) -> tuple[np.ndarray, ...]:
        """(error buckets, ok buckets, error sum, ok sum), computed once."""
        if self._split is None:
            self._split = _split_errors(self.buckets, self.errors, self.total)
        return self._split


def _cells(telemetry: Telemetry, by_segment: bool) -> list[_Cell]:
    layout = telemetry.layout
    cells = []
    for a, arm in enumerate(layout.arms):
        if by_segment:
            for s, segment in enumerate(layout.segments):
                cells.append(_Cell(arm, segment, telemetry.requests[:, a, s], telemetry.errors[:, a, s],
                                   telemetry.latency_bucket[:, a, s, :], telemetry.latency_sum[:, a, s]))
        else:
            cells.append(_Cell(arm, None, telemetry.requests[:, a].sum(axis=1), telemetry.errors[:, a].sum(axis=1),
                               telemetry.latency_bucket[:, a].sum(axis=1), telemetry.latency_sum[:, a].sum(axis=1)))
    return cells


def _whole(*arrays: np.ndarray) -> bool:
    return all(bool(np.all(np.isnan(x) | (x == np.round(x)))) for x in arrays)


def expose(telemetry: Telemetry, profile: str = "rampsim", *, start: float = 0.0, names: Optional[Names] = None,
           deployment: Optional[Deployment] = None, others: bool = True) -> Exposition:
    """``telemetry``'s series under exporter ``profile`` (one of :data:`PROFILES`), at unix ``start`` + its times.

    ``names`` customizes the ``rampsim`` profile (a plan's ``prometheus:`` section);
    ``deployment`` says how arms, pods and segments become labels (see the module docstring);
    ``others`` includes the families no HTTP exporter has, under rampsim's names.
    """
    if profile not in PROFILES:
        raise UsageError(f"unknown exporter profile {profile!r}; known: {', '.join(PROFILES)}")
    if not math.isfinite(start):
        raise UsageError(f"the start must be a finite unix time, got {start!r}")
    deployment = deployment or Deployment()
    names = names or Names()
    builder = _Builder(len(telemetry))
    times_ms = int(round(start * 1000)) + np.round(np.asarray(telemetry.time, dtype=float) * 1000).astype(np.int64)
    if profile == "rampsim":
        _rampsim_http(builder, telemetry, names)
    else:
        segment_label = deployment.segment_label
        cells = _cells(telemetry, by_segment=segment_label is not None)
        _PROFILE_WRITERS[profile](builder, telemetry, cells, deployment)
    if profile == "rampsim" or others:
        _rampsim_others(builder, telemetry, names)
    return builder.build(times_ms)


def exposition_store(telemetry: Telemetry, profile: str = "rampsim", *, start: float = 0.0,
                     names: Optional[Names] = None, deployment: Optional[Deployment] = None, others: bool = True,
                     staleness: bool = False) -> SeriesStore:
    """:func:`expose` straight into a :class:`SeriesStore`."""
    return expose(telemetry, profile, start=start, names=names, deployment=deployment,
                  others=others).store(staleness=staleness)


# -- rampsim / custom -------------------------------------------------------------------------

def _rampsim_http(b: _Builder, telemetry: Telemetry, names: Names) -> None:
    layout = telemetry.layout
    for family in ("requests", "errors"):
        name = names.series_name(family)
        for a, arm in enumerate(layout.arms):
            for s, segment in enumerate(layout.segments):
                labels = {**names.labels, names.arm_label: arm, names.segment_label: segment}
                b.counter(name, FAMILIES[family].help, labels, getattr(telemetry, family)[:, a, s])
    bounds = [_le_float(x) for x in layout.latency_buckets]
    for a, arm in enumerate(layout.arms):
        for s, segment in enumerate(layout.segments):
            buckets, total = telemetry.latency_bucket[:, a, s, :], telemetry.latency_sum[:, a, s]
            exists = ~np.isnan(buckets).any(axis=1) & ~np.isnan(total)
            b.histogram(names.histogram, FAMILIES["latency_bucket"].help,
                        {**names.labels, names.arm_label: arm, names.segment_label: segment},
                        bounds, buckets, total, exists)


def _rampsim_others(b: _Builder, telemetry: Telemetry, names: Names) -> None:
    layout = telemetry.layout
    for family in _OTHERS:
        data = getattr(telemetry, family)
        for a, arm in enumerate(layout.arms):
            if data.ndim == 3:
                for s, segment in enumerate(layout.segments):
                    b.counter(names.series_name(family), FAMILIES[family].help,
                              {**names.labels, names.arm_label: arm, names.segment_label: segment}, data[:, a, s])
            else:
                b.counter(names.series_name(family), FAMILIES[family].help,
                          {**names.labels, names.arm_label: arm}, data[:, a])
    for family in _GAUGES:
        data = getattr(telemetry, family)
        for a, arm in enumerate(layout.arms):
            b.gauge(names.series_name(family), FAMILIES[family].help, {**names.labels, names.arm_label: arm},
                    data[:, a])


# -- the exporters ----------------------------------------------------------------------------

def _segment(d: Deployment, cell: _Cell) -> dict[str, str]:
    return {d.segment_label: cell.segment} if d.segment_label is not None and cell.segment is not None else {}


def _per_pod(d: Deployment, arm: str) -> Iterable[tuple[int, int, str]]:
    pods = d.pod_names(arm)
    return ((i, len(pods), name) for i, name in enumerate(pods))


def _ms(bounds: Sequence[float]) -> list[float]:
    return [b if math.isinf(b) else round(b * 1000.0, 9) for b in bounds]


def _pod_histogram(b: _Builder, base: str, help_text: str, labels: Mapping[str, str], bounds: Sequence[str],
                   buckets: np.ndarray, total: np.ndarray, scale: float, pod: int, pods: int, whole: bool) -> None:
    """A pod's share of a histogram child (it exists from the pod's first observation)."""
    pod_buckets = _share(buckets, pod, pods, whole)
    count = pod_buckets[:, -1]
    with np.errstate(invalid="ignore"):
        exists = count > 0
    b.histogram(base, help_text, labels, bounds, pod_buckets, _share(total, pod, pods, False) * scale, exists)


def _http(b: _Builder, telemetry: Telemetry, cells: list[_Cell], d: Deployment) -> None:
    bounds = [_le_go(x) for x in telemetry.layout.latency_buckets]
    client = d.client
    for cell in cells:
        whole = _whole(cell.requests, cell.errors, cell.buckets)
        for pod, pods, pod_name in _per_pod(d, cell.arm):
            ident = {**d.pod_identity(pod_name), "job": d.service, "service": d.service, "app": d.service,
                     "rollouts_pod_template_hash": d.template_hash(cell.arm), **_segment(d, cell)}
            if client.requests is not None:
                for code, counts in ((_OK, cell.requests - cell.errors), (_ERROR, cell.errors)):
                    b.counter(client.requests, "Requests served, by status code.",
                              {client.status_label: code, "method": "GET", **ident},
                              _existing(_share(counts, pod, pods, whole)))
            if client.status_on_histogram:
                err_buckets, ok_buckets, err_sum, ok_sum = cell.split()
                for code, buckets, total in ((_OK, ok_buckets, ok_sum), (_ERROR, err_buckets, err_sum)):
                    _pod_histogram(b, client.duration, "Request latency.",
                                   {client.status_label: code, "method": "GET", **ident}, bounds, buckets, total,
                                   1.0, pod, pods, whole)
            else:
                _pod_histogram(b, client.duration, "Request latency.", {"method": "GET", **ident},
                               bounds, cell.buckets, cell.total, 1.0, pod, pods, whole)


def _istio(b: _Builder, telemetry: Telemetry, cells: list[_Cell], d: Deployment) -> None:
    bounds = [_le_go(x) for x in _ms(telemetry.layout.latency_buckets)]
    for cell in cells:
        whole = _whole(cell.requests, cell.errors, cell.buckets)
        workload = d.workload(cell.arm)
        common = {"request_protocol": "http", "response_flags": "-",
                  "source_workload": "istio-ingressgateway", "source_workload_namespace": "istio-system",
                  "source_app": "istio-ingressgateway", "destination_workload": workload,
                  "destination_workload_namespace": d.namespace, "destination_app": d.service,
                  "destination_version": d.alias(cell.arm), "destination_service_name": workload,
                  "destination_service_namespace": d.namespace,
                  "destination_service": f"{workload}.{d.namespace}.svc.cluster.local", **_segment(d, cell)}
        err_buckets, ok_buckets, err_sum, ok_sum = cell.split()
        outcomes = ((_OK, cell.requests - cell.errors, ok_buckets, ok_sum),
                    (_ERROR, cell.errors, err_buckets, err_sum))
        reporters = [("source", 0, 1, {"connection_security_policy": "unknown"})]
        reporters += [("destination", pod, pods, {"connection_security_policy": "mutual_tls",
                                                  "namespace": d.namespace, "pod": name})
                      for pod, pods, name in _per_pod(d, cell.arm)]
        for reporter, pod, pods, extra in reporters:
            labels = {"reporter": reporter, **common, **extra}
            for code, counts, buckets, total in outcomes:
                b.counter("istio_requests_total", "Requests, as Istio's proxies report them.",
                          {**labels, "response_code": code}, _existing(_share(counts, pod, pods, whole)))
                _pod_histogram(b, "istio_request_duration_milliseconds", "Request duration, milliseconds.",
                               {**labels, "response_code": code}, bounds, buckets, total, 1000.0, pod, pods, whole)


def _linkerd(b: _Builder, telemetry: Telemetry, cells: list[_Cell], d: Deployment) -> None:
    bounds = [_le_go(x) for x in _ms(telemetry.layout.latency_buckets)]
    for cell in cells:
        whole = _whole(cell.requests, cell.errors, cell.buckets)
        for pod, pods, pod_name in _per_pod(d, cell.arm):
            ident = {"direction": "inbound", "namespace": d.namespace, "deployment": d.workload(cell.arm),
                     "pod": pod_name, "tls": "true", **_segment(d, cell)}
            for classification, code, counts in (("success", _OK, cell.requests - cell.errors),
                                                 ("failure", _ERROR, cell.errors)):
                b.counter("response_total", "Responses, as Linkerd's proxy classifies them.",
                          {**ident, "classification": classification, "status_code": code},
                          _existing(_share(counts, pod, pods, whole)))
            _pod_histogram(b, "response_latency_ms", "Response latency, milliseconds.", ident, bounds,
                           cell.buckets, cell.total, 1000.0, pod, pods, whole)


def _nginx(b: _Builder, telemetry: Telemetry, cells: list[_Cell], d: Deployment) -> None:
    bounds = [_le_go(x) for x in telemetry.layout.latency_buckets]
    controller = f"ingress-nginx-controller-{_safe_hash('ingress-nginx', 10)}-{_safe_hash('ingress-nginx/0', 5)}"
    for cell in cells:
        workload = d.workload(cell.arm)
        labels = {"controller_class": "k8s.io/ingress-nginx", "controller_namespace": "ingress-nginx",
                  "controller_pod": controller, "host": f"{d.service}.example.com", "ingress": d.service,
                  "method": "GET", "namespace": d.namespace, "path": "/", "service": workload,
                  "canary": "" if cell.arm == "baseline" else f"{d.namespace}-{workload}-80", **_segment(d, cell)}
        err_buckets, ok_buckets, err_sum, ok_sum = cell.split()
        for code, counts, buckets, total in ((_OK, cell.requests - cell.errors, ok_buckets, ok_sum),
                                             (_ERROR, cell.errors, err_buckets, err_sum)):
            b.counter("nginx_ingress_controller_requests", "The total number of client requests.",
                      {**labels, "status": code}, _existing(counts))
            _pod_histogram(b, "nginx_ingress_controller_request_duration_seconds",
                           "The request processing time in seconds.", {**labels, "status": code}, bounds,
                           buckets, total, 1.0, 0, 1, True)
        upstream = {k: v for k, v in labels.items() if k not in ("method", "path", "host")}
        with np.errstate(invalid="ignore"):
            seen = cell.requests > 0
        b.summary("nginx_ingress_controller_ingress_upstream_latency_seconds", "Upstream service latency per "
                  "Ingress (the time the service took, as the controller measured it).", upstream,
                  np.where(seen, cell.requests, np.nan), np.where(seen, cell.total, np.nan))


def _spring(b: _Builder, telemetry: Telemetry, cells: list[_Cell], d: Deployment) -> None:
    bounds = [_le_float(x) for x in telemetry.layout.latency_buckets]
    for cell in cells:
        whole = _whole(cell.requests, cell.errors, cell.buckets)
        err_buckets, ok_buckets, err_sum, ok_sum = cell.split()
        for pod, pods, pod_name in _per_pod(d, cell.arm):
            ident = {**d.pod_identity(pod_name), "job": d.service, "service": d.service, "app": d.service,
                     "application": d.service, "rollouts_pod_template_hash": d.template_hash(cell.arm),
                     **_segment(d, cell)}
            for code, outcome, buckets, total in ((_OK, "SUCCESS", ok_buckets, ok_sum),
                                                  (_ERROR, "SERVER_ERROR", err_buckets, err_sum)):
                _pod_histogram(b, "http_server_requests_seconds", "Duration of HTTP server request handling.",
                               {"exception": "None", "method": "GET", "outcome": outcome, "status": code,
                                "uri": "/", **ident}, bounds, buckets, total, 1.0, pod, pods, whole)


def _envoy(b: _Builder, telemetry: Telemetry, cells: list[_Cell], d: Deployment) -> None:
    bounds = [_le_go(x) for x in _ms(telemetry.layout.latency_buckets)]
    for cell in cells:
        whole = _whole(cell.requests, cell.errors, cell.buckets)
        workload = d.workload(cell.arm)
        for pod, pods, pod_name in _per_pod(d, cell.arm):
            ident = {**d.pod_identity(pod_name), "app": d.service,
                     "rollouts_pod_template_hash": d.template_hash(cell.arm), **_segment(d, cell)}
            cluster = {"envoy_cluster_name": f"cds_ingress_{d.namespace}_{workload}_http_80"}
            for code, counts in ((_OK, cell.requests - cell.errors), (_ERROR, cell.errors)):
                share = _existing(_share(counts, pod, pods, whole))
                b.counter("envoy_cluster_upstream_rq", "Requests the sidecar sent to the local service, by code.",
                          {**ident, **cluster, "envoy_response_code": code}, share)
                b.counter("envoy_http_downstream_rq_xx", "Requests the sidecar's listener answered, by code class.",
                          {**ident, "envoy_http_conn_manager_prefix": "ingress",
                           "envoy_response_code_class": code[0]}, share)
            _pod_histogram(b, "envoy_cluster_upstream_rq_time", "Request time to the local service, milliseconds.",
                           {**ident, **cluster}, bounds, cell.buckets, cell.total, 1000.0, pod, pods, whole)


_PROFILE_WRITERS = {"http": _http, "istio": _istio, "linkerd": _linkerd, "nginx": _nginx, "spring": _spring,
                    "envoy": _envoy}
