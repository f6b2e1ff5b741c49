"""An imported Flagger gate, as typed models: the Canary's analysis and its MetricTemplates, fields as written.

This is the ``flagger:`` section of a plan. Field names are Flagger's (``interval``,
``threshold``, ``maxWeight``, ``stepWeight``, ``stepWeights``, ``iterations``,
``thresholdRange``...), values as written (``interval: 30s``). ``analysis.metrics`` is keyed by
metric name so that a sweep can vary one
(``flagger.analysis.metrics.request-success-rate.thresholdRange.min=98``), and
``flagger.analysis.threshold=1..10`` varies the failed-check limit. ``templates`` holds the
MetricTemplates the metrics refer to, keyed ``namespace/name``.

What rampsim adds is named as such: ``mesh`` (the controller-wide ``-mesh-provider`` flag; a
Canary's ``spec.provider`` overrides it), and ``assume``: the share of traffic an A/B test's
``match`` routes to the canary, and the traffic load tests send to a blue/green canary that
receives no user traffic.
"""
from __future__ import annotations

from typing import Annotated, Any, Optional

from pydantic import (
    BaseModel, ConfigDict, Field, PlainSerializer, ValidatorFunctionWrapHandler, WrapValidator, field_validator,
    model_validator,
)

from rampsim.gates.goduration import parse_go_duration
from rampsim.plan.schema import MAX_DURATION
from rampsim.units import Count, PlainNumber, Share

__all__ = ["MESHES", "ThresholdRange", "MetricTemplateRef", "FlaggerMetric", "FlaggerAnalysis", "MetricTemplate",
           "FlaggerAssumptions", "FlaggerGate", "BUILTIN_METRICS", "template_key"]

MESHES = ("istio", "linkerd", "nginx", "appmesh", "appmesh:v1beta2", "contour", "gloo", "kubernetes", "traefik",
          "kuma", "osm", "skipper", "apisix", "gatewayapi")
"""Flagger's mesh and ingress providers (``spec.provider`` and ``-mesh-provider``)."""

BUILTIN_METRICS = ("request-success-rate", "request-duration")


def template_key(name: str, namespace: Optional[str]) -> str:
    """How a MetricTemplate is keyed in :attr:`FlaggerGate.templates`: ``namespace/name``."""
    return f"{namespace or ''}/{name}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _as_written(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    checked = handler(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else checked


Bound = Annotated[PlainNumber, WrapValidator(_as_written), PlainSerializer(lambda value: value)]
"""A finite number (:data:`~rampsim.units.PlainNumber`: ``true``, ``'99%'`` or ``'９９'`` is refused, not read as 1,
0.99 or 99); one written as an integer stays an integer (``max: 500`` is written back ``500``, not ``500.0``)."""


class ThresholdRange(_Model):
    """``thresholdRange``: the check fails when the value is below ``min`` or above ``max`` (bounds pass).

    A bound must be finite: ``.nan``, ``.inf`` or ``1e400`` (which YAML reads as infinity) would let every
    value pass, switching the check off."""

    min: Optional[Bound] = None
    max: Optional[Bound] = None


class MetricTemplateRef(_Model):
    name: str
    namespace: Optional[str] = None


class FlaggerMetric(_Model):
    """One entry of ``analysis.metrics``: a builtin (by name), a ``templateRef``, or a legacy inline ``query``."""

    name: str
    interval: Optional[str] = None
    thresholdRange: Optional[ThresholdRange] = None
    threshold: Optional[Bound] = None
    templateRef: Optional[MetricTemplateRef] = None
    query: Optional[str] = None
    templateVariables: Optional[dict[str, str]] = None

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and value != "":
            parse_go_duration(value)
        return value

    @property
    def kind(self) -> str:
        """``builtin``, ``template``, ``query`` or ``ignored`` (a name Flagger neither knows nor resolves)."""
        if self.templateRef is not None:
            return "template"
        if self.query:
            return "query"
        if self.name in BUILTIN_METRICS:
            return "builtin"
        return "ignored"


class FlaggerAnalysis(_Model):
    """``spec.analysis`` (or the legacy ``spec.canaryAnalysis``), fields as written. A count or a weight is a whole
    number (:data:`~rampsim.units.Count`): ``threshold: true`` is refused, where Python would read it as 1."""

    interval: Optional[str] = None
    threshold: Optional[Count] = Field(None, ge=0)
    maxWeight: Optional[Count] = Field(None, ge=0, le=100)
    stepWeight: Optional[Count] = Field(None, ge=0, le=100)
    stepWeights: list[Count] = Field(default_factory=list)
    stepWeightPromotion: Optional[Count] = Field(None, ge=0, le=100)
    iterations: Optional[Count] = Field(None, ge=0)
    match: list[dict[str, Any]] = Field(default_factory=list)
    mirror: Optional[bool] = None
    mirrorWeight: Optional[Count] = None
    metrics: dict[str, FlaggerMetric] = Field(default_factory=dict)
    webhooks: list[dict[str, Any]] = Field(default_factory=list)
    alerts: list[dict[str, Any]] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (v is None and k in ("stepWeights", "match", "alerts",
                                                                               "webhooks", "metrics"))}
        return data

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and parse_go_duration(value) > MAX_DURATION:
            raise ValueError(f"{value}: longer than the {MAX_DURATION / 86400:g} days a simulated ramp can last")
        return value

    @field_validator("stepWeights")
    @classmethod
    def _steps(cls, value: list[int]) -> list[int]:
        if any(not 0 < w <= 100 for w in value):
            raise ValueError("stepWeights are percentages between 1 and 100")
        if any(a >= b for a, b in zip(value, value[1:])):
            raise ValueError("stepWeights must increase")
        return value


class MetricTemplate(_Model):
    """A Flagger MetricTemplate: a Prometheus query with ``{{ namespace }}``, ``{{ target }}``, ``{{ interval }}``..."""

    name: str
    namespace: Optional[str] = None
    provider: dict[str, Any] = Field(default_factory=lambda: {"type": "prometheus"})
    query: str

    @field_validator("provider")
    @classmethod
    def _prometheus(cls, value: dict[str, Any]) -> dict[str, Any]:
        kind = value.get("type", "prometheus")
        if kind != "prometheus":
            raise ValueError(f"provider type {kind!r}: only Prometheus MetricTemplates are simulated")
        return value


class FlaggerAssumptions(_Model):
    """What the files cannot say: the canary's share of traffic in an A/B test (the users ``match`` selects), and
    during blue/green iterations (only load tests reach the canary then)."""

    ab_weight: Share = 0.1
    bluegreen_weight: Share = 0.0


class FlaggerGate(_Model):
    """The ``flagger:`` section of a plan (see the module docstring)."""

    name: str = "canary"
    namespace: str = "default"
    apiVersion: str = "flagger.app/v1beta1"
    targetRef: dict[str, Any] = Field(default_factory=lambda: {"apiVersion": "apps/v1", "kind": "Deployment",
                                                               "name": "app"})
    service: Optional[dict[str, Any]] = None
    ingressRef: Optional[dict[str, Any]] = None
    routeRef: Optional[dict[str, Any]] = None
    provider: Optional[str] = None
    mesh: str = "istio"
    skipAnalysis: Optional[bool] = None
    legacy_analysis_field: bool = False
    analysis: FlaggerAnalysis
    templates: dict[str, MetricTemplate] = Field(default_factory=dict)
    assume: FlaggerAssumptions = Field(default_factory=FlaggerAssumptions)

    @field_validator("mesh")
    @classmethod
    def _mesh(cls, value: str) -> str:
        base = value.split(":")[0]
        if value not in MESHES and base not in ("appmesh", "gloo", "smi"):
            raise ValueError(f"unknown mesh provider {value!r}; providers: {', '.join(MESHES)}")
        return value

    @model_validator(mode="after")
    def _target(self) -> "FlaggerGate":
        if not isinstance(self.targetRef.get("name"), str):
            raise ValueError("targetRef needs a name")
        return self

    @property
    def target(self) -> str:
        return str(self.targetRef["name"])

    def template_for(self, metric: FlaggerMetric) -> Optional[MetricTemplate]:
        """The MetricTemplate a metric refers to (looked up in its namespace, then the Canary's), if given."""
        if metric.templateRef is None:
            return None
        ref = metric.templateRef
        for key in (template_key(ref.name, ref.namespace or self.namespace), template_key(ref.name, ref.namespace),
                    template_key(ref.name, None)):
            if key in self.templates:
                return self.templates[key]
        return None

