"""An imported Argo Rollouts gate, as typed models: its templates, metrics and Rollout, fields as written.

This is the ``argo:`` section of a plan. Field names are Argo's own (``successCondition``,
``failureLimit``, ``initialDelay``...) and values are kept as written (``interval: 30s``, a
``count`` that is ``"{{args.count}}"``): Argo substitutes args into the whole metric before it
reads any field, so a field is interpreted only when an AnalysisRun starts
(:mod:`rampsim.gates.argo_resolve`). What rampsim adds is named as such: ``profile`` (the
exporter whose series the queries read), ``args`` (values given on the command line, or
placeholders for args no file supplies, named in ``placeholders``), ``identity`` (the pod-template hashes and names the
simulated series carry), ``assume`` (what a person would do: promote after an indefinite
pause) and ``not_simulated`` (metrics of providers without telemetry, kept as written).

Metrics are keyed by name (``template/metric`` when two templates share a name) so that a sweep
can vary one: ``argo.metrics.success-rate.failureLimit``; ``threshold`` replaces the one number
a metric's conditions compare the result with (``argo.metrics.success-rate.threshold=0.99``).
"""
from __future__ import annotations

import re
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from rampsim.gates.goduration import parse_go_duration, parse_pause_duration
from rampsim.gates.profiles import PROFILES
from rampsim.plan.schema import MAX_DURATION
from rampsim.promql.exposition import ClientNames
from rampsim.units import Count, PlainNumber, UnitError, ascii_digits

__all__ = [
    "ArgoArg", "ArgValueFrom", "ArgoPrometheus", "ArgoProvider", "ArgoMetric", "ArgoTemplate",
    "TemplateRef", "RolloutAnalysis", "Pause", "Step", "ArgoRollout", "Identity", "Assumptions", "NotSimulated",
    "ArgoGate", "DEFAULT_ROLLOUT_STEPS", "IntOrString", "whole_text", "repeated_name",
]

IntOrString = Union[int, str]
_TAG = re.compile(r"\{\{.*?\}\}")
_ATOI = re.compile(r"[+-]?[0-9]+")
"""What Go's ``strconv.Atoi`` reads, with which Argo reads a limit written as text (``IntOrString.IntValue()``):
ASCII digits, a sign, no space; it reads any other text (``' 3 '``, ``'３'``) as 0."""

DEFAULT_ROLLOUT_STEPS: list[dict[str, Any]] = [
    {"setWeight": 20}, {"pause": {"duration": "5m"}},
    {"setWeight": 50}, {"pause": {"duration": "5m"}},
    {"setWeight": 80}, {"pause": {"duration": "5m"}},
]
"""The canary steps of the Rollout rampsim assumes when none is given (the analysis runs in the background)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _templated(value: Any) -> bool:
    return isinstance(value, str) and bool(_TAG.search(value))


def whole_text(text: str) -> Optional[int]:
    """The whole number Argo reads in a limit written as text (``'3'``, ``'+3'``, ``'-1'``), or ``None`` when it
    reads none (``' 3 '``, ``'3.0'``, ``'３'``: Argo's ``strconv.Atoi`` fails, and the limit is 0)."""
    return int(text) if _ATOI.fullmatch(text) else None


def repeated_name(name: str, template: str) -> str:
    """Why a template cannot have a second metric named ``name``: what Argo does with it."""
    return (f"a second metric named {name!r} in template {template!r}: Argo refuses it (ValidateMetrics: "
            f"duplicate name {name!r}), so every AnalysisRun of the template is Error at its start and the rollout "
            f"aborts; rename one")


class ArgValueFrom(_Model):
    """Where a Rollout takes an arg's value: the pod-template hash, a field of the Rollout, or a secret."""

    podTemplateHashValue: Optional[Literal["Stable", "Latest"]] = None
    fieldRef: Optional[dict[str, Any]] = None
    secretKeyRef: Optional[dict[str, Any]] = None

    @model_validator(mode="after")
    def _one(self) -> "ArgValueFrom":
        given = [n for n in ("podTemplateHashValue", "fieldRef", "secretKeyRef") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("valueFrom takes exactly one of podTemplateHashValue, fieldRef, secretKeyRef")
        return self


class ArgoArg(_Model):
    """An argument: a template's (``value`` is its default) or a Rollout analysis's."""

    name: str
    value: Optional[str] = None
    valueFrom: Optional[ArgValueFrom] = None

    @field_validator("value", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return str(value)
        return value


class ArgoPrometheus(_Model):
    """``provider.prometheus``: the query (an instant query at the measurement's time) and the fields kept as
    written but not simulated (address, timeout, insecure, headers, authentication)."""

    query: str
    address: Optional[str] = None
    timeout: Optional[IntOrString] = None
    insecure: Optional[bool] = None
    headers: Optional[list[dict[str, Any]]] = None
    authentication: Optional[dict[str, Any]] = None


class ArgoProvider(_Model):
    prometheus: ArgoPrometheus


class ArgoMetric(_Model):
    """One metric of an AnalysisTemplate, fields as written (Argo's defaults applied when a run starts)."""

    name: str
    template: str
    provider: ArgoProvider
    interval: Optional[str] = None
    initialDelay: Optional[str] = None
    count: Optional[IntOrString] = None
    successCondition: Optional[str] = None
    failureCondition: Optional[str] = None
    failureLimit: Optional[IntOrString] = None
    inconclusiveLimit: Optional[IntOrString] = None
    consecutiveErrorLimit: Optional[IntOrString] = None
    threshold: Optional[PlainNumber] = None

    @field_validator("interval", "initialDelay")
    @classmethod
    def _duration(cls, value: Optional[str], info: ValidationInfo) -> Optional[str]:
        """A Go duration (one an ``{{args.x}}`` tag gives is read when a run starts): not negative, within a simulated
        ramp, and an ``interval`` longer than zero (Argo measures a zero one at every reconcile of the run, back to
        back, which is not simulated). Import, a plan's ``argo:`` section and a sweep's grid read it alike."""
        if value is not None and not _templated(value):
            seconds = parse_go_duration(value)
            if seconds < 0:
                raise ValueError(f"cannot be negative, got {value!r}")
            if seconds > MAX_DURATION:
                raise ValueError(f"{value}: longer than the {MAX_DURATION / 86400:g} days a simulated ramp can last")
            if seconds == 0 and info.field_name == "interval":
                raise ValueError(f"interval {value!r} is zero: Argo then measures at every reconcile of the "
                                 f"AnalysisRun, back to back, which is not simulated (write the interval your "
                                 f"measurements should keep)")
        return value

    @field_validator("count", "failureLimit", "inconclusiveLimit", "consecutiveErrorLimit", mode="before")
    @classmethod
    def _whole(cls, value: Any) -> Any:
        """A Kubernetes IntOrString: a 32-bit whole number or text (an ``{{args.x}}`` tag, or ASCII digits as Argo
        reads them, :func:`whole_text`); a bool, which YAML's ``true`` gives and the API server refuses, is not one."""
        if isinstance(value, float) and value.is_integer():
            value = int(value)   # kubectl sends YAML's 3.0 as the JSON number 3
        if isinstance(value, bool) or not isinstance(value, (int, str, type(None))):
            raise ValueError(f"expected a whole number or a string, got {value!r}")
        number = value if isinstance(value, int) else None
        if isinstance(value, str) and not _templated(value):
            try:
                ascii_digits(value)
            except UnitError as exc:   # int() reads '３' as 3; Argo's strconv.Atoi reads it as 0
                raise ValueError(str(exc)) from None
            number = whole_text(value)
            if number is None:
                raise ValueError(f"expected a whole number, got {value!r} (Argo reads text that is not one as 0)")
        if number is not None and not -2 ** 31 <= number < 2 ** 31:
            raise ValueError(f"{value!r} is beyond a 32-bit whole number (Kubernetes' IntOrString)")
        return value

    @property
    def query(self) -> str:
        return self.provider.prometheus.query


class ArgoTemplate(_Model):
    """An AnalysisTemplate or ClusterAnalysisTemplate: its args (with defaults) and dry-run patterns, and the
    namespace and labels of its metadata (written back by ``rampsim export``; not simulated).

    Its metrics are in :attr:`ArgoGate.metrics`, in the order written, with ``template`` naming it."""

    kind: Literal["AnalysisTemplate", "ClusterAnalysisTemplate"] = "AnalysisTemplate"
    namespace: Optional[str] = None
    labels: Optional[dict[str, Any]] = None
    args: list[ArgoArg] = Field(default_factory=list)
    dryRun: list[dict[str, str]] = Field(default_factory=list)


class TemplateRef(_Model):
    templateName: str
    clusterScope: Optional[bool] = None


class RolloutAnalysis(_Model):
    """An analysis a Rollout runs: a step's ``analysis`` or the background ``strategy.canary.analysis``."""

    templates: list[TemplateRef]
    args: list[ArgoArg] = Field(default_factory=list)
    startingStep: Optional[Count] = Field(None, ge=0)
    dryRun: list[dict[str, str]] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        """Rollouts before v0.9 wrote one ``templateName`` instead of a list of ``templates``."""
        if isinstance(data, dict) and "templateName" in data and "templates" not in data:
            data = {**{k: v for k, v in data.items() if k != "templateName"},
                    "templates": [{"templateName": data["templateName"]}]}
        return data

    @field_validator("templates")
    @classmethod
    def _some(cls, value: list[TemplateRef]) -> list[TemplateRef]:
        if not value:
            raise ValueError("an analysis names at least one template")
        return value


class Pause(_Model):
    """``pause: {duration: 30s}``, or ``pause: {}``: until a person promotes."""

    duration: Optional[IntOrString] = None

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: Optional[IntOrString]) -> Optional[IntOrString]:
        if value is not None:
            parse_pause_duration(value)
        return value

    @property
    def seconds(self) -> Optional[float]:
        return None if self.duration is None else parse_pause_duration(self.duration)


class Step(_Model):
    """One canary step, exactly one field set. ``experiment``, ``setCanaryScale``, ``setHeaderRoute``,
    ``setMirrorRoute`` and ``plugin`` are kept as written and take no time in the simulation."""

    setWeight: Optional[Count] = Field(None, ge=0, le=100)
    pause: Optional[Pause] = None
    analysis: Optional[RolloutAnalysis] = None
    experiment: Optional[dict[str, Any]] = None
    setCanaryScale: Optional[dict[str, Any]] = None
    setHeaderRoute: Optional[dict[str, Any]] = None
    setMirrorRoute: Optional[dict[str, Any]] = None
    plugin: Optional[dict[str, Any]] = None

    @model_validator(mode="before")
    @classmethod
    def _pause_null(cls, data: Any) -> Any:
        if isinstance(data, dict) and "pause" in data and data["pause"] is None:
            data = {**data, "pause": {}}
        return data

    @model_validator(mode="after")
    def _one(self) -> "Step":
        given = [n for n in type(self).model_fields if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"a step sets exactly one of {', '.join(type(self).model_fields)}; "
                             f"this one sets {', '.join(given) or 'none'}")
        return self

    @property
    def kind(self) -> str:
        return next(n for n in type(self).model_fields if getattr(self, n) is not None)


class ArgoRollout(_Model):
    """The canary strategy of a Rollout: its steps and its background analysis."""

    name: str = "rollout"
    steps: list[Step] = Field(default_factory=list)
    analysis: Optional[RolloutAnalysis] = None


class Identity(_Model):
    """The names the simulated series carry, which args and ``valueFrom`` resolve to; under the ``http`` profile,
    the client library's series names too (:class:`~rampsim.promql.exposition.ClientNames`; unset: those of Go's
    and Python's ``prometheus_client``; ``requests_series: ""``: the library has no request counter)."""

    namespace: str = "default"
    service: str = "app"
    canary_hash: str = "canary"
    stable_hash: str = "stable"
    requests_series: Optional[str] = None
    status_label: Optional[str] = None
    duration_series: Optional[str] = None
    status_on_histogram: Optional[bool] = None

    def client(self) -> ClientNames:
        """The client library's names the ``http`` profile writes."""
        default = ClientNames()
        requests = default.requests if self.requests_series is None else (self.requests_series or None)
        return ClientNames(requests=requests, status_label=self.status_label or default.status_label,
                           duration=self.duration_series or default.duration,
                           status_on_histogram=bool(self.status_on_histogram))

    @classmethod
    def client_fields(cls, client: ClientNames) -> dict[str, Any]:
        """The fields that name ``client`` (none for the default library)."""
        default = ClientNames()
        fields: dict[str, Any] = {}
        if client.requests != default.requests:
            fields["requests_series"] = client.requests or ""
        if client.status_label != default.status_label:
            fields["status_label"] = client.status_label
        if client.duration != default.duration:
            fields["duration_series"] = client.duration
        if client.status_on_histogram and client.requests is not None:
            fields["status_on_histogram"] = True
        return fields


class Assumptions(_Model):
    """What a person does that the files cannot say: when they promote past an indefinite pause or an analysis
    step that never ends on its own (``never``: the rollout waits to the end of the simulation)."""

    manual_promotion_after: Optional[str] = "5m"

    @field_validator("manual_promotion_after")
    @classmethod
    def _duration(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and value != "never":
            if parse_go_duration(value) <= 0:
                raise ValueError("must be longer than zero (or 'never')")
        return value

    @property
    def promotion_after(self) -> Optional[float]:
        if self.manual_promotion_after in (None, "never"):
            return None
        return parse_go_duration(self.manual_promotion_after)


class NotSimulated(_Model):
    """A metric rampsim cannot simulate (a ``job``, ``web``... provider), kept as written; it is assumed to pass."""

    template: str
    name: str
    provider: str
    reason: str
    spec: dict[str, Any]


class ArgoGate(_Model):
    """The ``argo:`` section of a plan (see the module docstring)."""

    profile: str = "http"
    templates: dict[str, ArgoTemplate]
    metrics: dict[str, ArgoMetric]
    rollout: ArgoRollout
    args: dict[str, str] = Field(default_factory=dict)
    placeholders: list[str] = Field(default_factory=list)
    """The ``args`` import gave a placeholder because nothing supplies them (Argo would fail the run): the
    simulation runs on them, ``rampsim export`` never writes them into the team's Rollout."""
    identity: Identity = Field(default_factory=Identity)
    assume: Assumptions = Field(default_factory=Assumptions)
    not_simulated: list[NotSimulated] = Field(default_factory=list)

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: str) -> str:
        if value not in PROFILES:
            raise ValueError(f"unknown profile {value!r}; profiles: {', '.join(PROFILES)}")
        return value

    @field_validator("args", mode="before")
    @classmethod
    def _args(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
                    for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _references(self) -> "ArgoGate":
        for name in self.placeholders:
            if name not in self.args:
                raise ValueError(f"placeholders: {name!r} is not an arg of args "
                                 f"(args: {', '.join(self.args) or 'none'})")
        named: set[tuple[str, str]] = set()
        written = [(f"metrics.{key}", m.template, m.name) for key, m in self.metrics.items()]
        written += [(f"not_simulated.{i}", item.template, item.name) for i, item in enumerate(self.not_simulated)]
        for where, template, name in written:
            if template not in self.templates:
                raise ValueError(f"{where}.template: no template {template!r} "
                                 f"(templates: {', '.join(self.templates) or 'none'})")
            if (template, name) in named:
                raise ValueError(f"{where}.name: {repeated_name(name, template)}")
            named.add((template, name))
        analyses = [(f"rollout.steps.{i}.analysis", s.analysis) for i, s in enumerate(self.rollout.steps)
                    if s.analysis is not None]
        if self.rollout.analysis is not None:
            analyses.append(("rollout.analysis", self.rollout.analysis))
        for where, analysis in analyses:
            for ref in analysis.templates:
                if ref.templateName not in self.templates:
                    raise ValueError(f"{where}: no template {ref.templateName!r} "
                                     f"(templates: {', '.join(self.templates) or 'none'})")
        return self

    def template_metrics(self, template: str) -> list[tuple[str, ArgoMetric]]:
        """The metrics of ``template`` in the order written, with their keys."""
        return [(key, m) for key, m in self.metrics.items() if m.template == template]

    def analyses(self) -> list[tuple[str, RolloutAnalysis]]:
        """Every analysis the Rollout runs, with where it is written."""
        found = [(f"steps.{i}", s.analysis) for i, s in enumerate(self.rollout.steps) if s.analysis is not None]
        if self.rollout.analysis is not None:
            found.append(("background", self.rollout.analysis))
        return found
