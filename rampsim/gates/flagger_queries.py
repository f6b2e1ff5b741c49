"""Flagger's PromQL: the builtin checks of each mesh, and the rendering of MetricTemplates (rules F3, F5).

The builtin ``request-success-rate`` and ``request-duration`` are queries fixed per observer
(``pkg/metrics/observers/{istio,linkerd,nginx,appmesh,contour,gloo,http,traefik,kuma,osm}.go``):
the success rate is ``100 × non-5xx / all`` over ``{{ interval }}``, linkerd counting
``classification!="failure"``; the duration is the P99 of the mesh's histogram in
milliseconds, except **nginx, whose builtin duration is the mean** (``_sum / _count × 1000``);
the ``kubernetes`` provider uses the ``http`` observer, whose histogram is in seconds.
Which observer answers (``observers/factory.go``, ``runBuiltinMetricChecks``): ``spec.provider``
if set (a controller-wide linkerd mesh wins), else the controller's mesh; appmesh and gloo by
prefix; anything unknown is istio.

Rendering (``observers/render.go``, ``RenderQuery``) is Go ``text/template`` with
``missingkey=error`` and the functions ``name``, ``namespace``, ``target``, ``service``,
``ingress``, ``interval`` and ``variables``; the rendered query is whitespace-collapsed before it is
sent (``trimQuery``). A tag that is not one of these fails the render, which Flagger counts as a
failed check.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

__all__ = ["BUILTIN_QUERIES", "observer_for", "MetricModel", "render_query", "trim_query",
           "duration_in_seconds"]

_SUCCESS = """
sum(rate({metric}{{{selector},{ok}}}[{{{{ interval }}}}]))
/
sum(rate({metric}{{{selector}}}[{{{{ interval }}}}]))
* 100"""
_P99 = """
histogram_quantile(0.99, sum(rate({metric}{{{selector}}}[{{{{ interval }}}}])) by (le))"""


def _pair(metric: str, selector: str, ok: str, bucket: str) -> dict[str, str]:
    return {"request-success-rate": _SUCCESS.format(metric=metric, selector=selector, ok=ok),
            "request-duration": _P99.format(metric=bucket, selector=selector)}


_ISTIO = ('reporter="destination",destination_workload_namespace="{{ namespace }}",'
          'destination_workload=~"{{ target }}"')
_LINKERD = 'namespace="{{ namespace }}",deployment=~"{{ target }}",direction="inbound"'
_NGINX = 'namespace="{{ namespace }}",ingress="{{ ingress }}"'
_POD = 'kubernetes_namespace="{{ namespace }}",kubernetes_pod_name=~"{{ target }}-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"'
_CONTOUR = 'envoy_cluster_name=~"{{ namespace }}_{{ target }}-canary_[0-9a-zA-Z-]+"'
_GLOO = 'envoy_cluster_name=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+_[0-9a-zA-Z-]+"'
_KUMA = 'service=~"{{ target }}-canary_{{ namespace }}_svc_[0-9a-zA-Z-]+"'
_TRAEFIK = 'service=~"{{ namespace }}-{{ target }}-canary-[0-9a-zA-Z-]+@kubernetescrd"'
_OSM = ('destination_namespace="{{ namespace }}",destination_kind="Deployment",'
        'destination_name="{{ target }}"')

BUILTIN_QUERIES: dict[str, dict[str, str]] = {
    "istio": _pair("istio_requests_total", _ISTIO, 'response_code!~"5.*"', "istio_request_duration_milliseconds_bucket"),
    "linkerd": _pair("response_total", _LINKERD, 'classification!="failure"', "response_latency_ms_bucket"),
    "nginx": {
        "request-success-rate": _SUCCESS.format(metric="nginx_ingress_controller_requests", selector=_NGINX,
                                                ok='status!~"5.*"'),
        "request-duration": """
sum(rate(nginx_ingress_controller_ingress_upstream_latency_seconds_sum{%s}[{{ interval }}]))
/
sum(rate(nginx_ingress_controller_ingress_upstream_latency_seconds_count{%s}[{{ interval }}]))
* 1000""" % (_NGINX, _NGINX),
    },
    "appmesh": _pair("envoy_cluster_upstream_rq", _POD, 'envoy_response_code!~"5.*"',
                     "envoy_cluster_upstream_rq_time_bucket"),
    "contour": _pair("envoy_cluster_upstream_rq", _CONTOUR, 'envoy_response_code!~"5.*"',
                     "envoy_cluster_upstream_rq_time_bucket"),
    "gloo": _pair("envoy_cluster_upstream_rq", _GLOO, 'envoy_response_code!~"5.*"', "envoy_cluster_upstream_rq_time_bucket"),
    "http": _pair("http_request_duration_seconds_count", _POD, 'status!~"5.*"', "http_request_duration_seconds_bucket"),
    "traefik": {
        "request-success-rate": _SUCCESS.format(metric="traefik_service_request_duration_seconds_bucket",
                                                selector=_TRAEFIK + ',le="+Inf"', ok='code!~"5.."'),
        "request-duration": _P99.format(metric="traefik_service_request_duration_seconds_bucket", selector=_TRAEFIK),
    },
    "kuma": _pair("envoy_cluster_upstream_rq", _KUMA, 'envoy_response_code!~"5.*"', "envoy_cluster_upstream_rq_time_bucket"),
    "osm": _pair("osm_request_total", _OSM, 'response_code!~"5.*"', "osm_request_duration_ms_bucket"),
}
"""The builtin queries per observer (whitespace aside, as in Flagger's source)."""

_SECONDS_HISTOGRAM = {"http"}
"""Observers whose request-duration query returns seconds (``value*1000`` before truncation); the rest return ms."""


def observer_for(mesh: str, provider: Optional[str]) -> str:
    """The observer whose builtin queries a Canary's checks run (``runBuiltinMetricChecks``, ``Factory.Observer``)."""
    chosen = mesh
    if provider:
        chosen = "linkerd" if "linkerd" in mesh else provider
    chosen = chosen.removesuffix(":service")
    if chosen.startswith("appmesh"):
        return "appmesh"
    if chosen.startswith("gloo"):
        return "gloo"
    if chosen == "kubernetes":
        return "http"
    if chosen in BUILTIN_QUERIES:
        return chosen
    return "istio"


def duration_in_seconds(observer: str) -> bool:
    """Whether the observer's request-duration query returns seconds rather than milliseconds."""
    return observer in _SECONDS_HISTOGRAM


class _RenderError(Exception):
    """A template Flagger cannot render (``missingkey=error``, an unknown function): a failed check."""


@dataclass(frozen=True)
class MetricModel:
    """``MetricTemplateModel``: what a template's ``{{ ... }}`` can read."""

    name: str
    namespace: str
    target: str
    service: str
    ingress: str
    interval: str
    variables: tuple[tuple[str, str], ...] = ()
    route: str = ""   # routeRef's name, else the target (Flagger's ``route`` function)


_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)
_SPACE = re.compile(r"\s+")


def render_query(template: str, model: MetricModel) -> str:
    """``template`` rendered for ``model``; :class:`_RenderError` as Flagger fails the render."""
    def action(match: re.Match[str]) -> str:
        expr = match.group(1).strip()
        if expr in ("name", "namespace", "target", "service", "ingress", "interval"):
            return str(getattr(model, expr))
        if expr == "route":
            return model.route or model.target
        if expr.startswith("variables."):
            key = expr[len("variables."):]
            variables = dict(model.variables)
            if key not in variables:
                raise _RenderError(f'map has no entry for key "{key}"')
            return variables[key]
        raise _RenderError(f'function "{expr.split()[0] if expr else expr}" not defined')
    return _ACTION.sub(action, template)


def trim_query(query: str) -> str:
    """``trimQuery``: every run of whitespace becomes one space."""
    return _SPACE.sub(" ", query)
