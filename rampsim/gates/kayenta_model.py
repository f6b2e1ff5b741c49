"""An imported Kayenta canary analysis, as typed models: the canary config and the stage that runs it.

This is the ``kayenta:`` section of a plan. It has two parts, each with its own system's field names:

* ``config``: the Kayenta canary config as written (the JSON Kayenta stores; read by
  :mod:`rampsim.judges.kayenta_config`), whose metrics carry Prometheus queries
  (:class:`PrometheusQuery`: Kayenta's ``PrometheusCanaryMetricSetQueryConfig``);
* ``stage``: what Spinnaker's ``kayentaCanary`` stage says about running it (its ``canaryConfig``
  block: ``lifetimeDuration``, ``canaryAnalysisIntervalMins``, ``beginCanaryAnalysisAfterMins``,
  ``lookbackMins``, ``scoreThresholds``, ``scopes``), with Orca's defaults (``KayentaCanaryContext``:
  thresholds pass 75 / marginal 50, scope step 60 s, no warm-up, no lookback: each analysis reads
  everything since the analysis began).

What rampsim adds is named as such: ``profile`` (the exporter whose series the queries read),
``identity`` (the service and namespace the simulated series carry) and ``scope_label`` (the label
Kayenta's Prometheus account matches a scope against when a query selects it by resource type).

The schedule (:func:`analyses`) is Orca's ``RunCanaryIntervalsStage``: ``lifetime // interval``
analyses (whole minutes), the k-th ending ``warmup + k × interval`` after the stage began, each a
range query from the analysis's start (``warmup``, or ``end - lookback``) to its end at the scope's
``step``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rampsim.judges.kayenta_config import KayentaConfig, KayentaMetric, ScoreThresholds
from rampsim.plan.schema import MAX_DURATION
from rampsim.promql.exposition import PROFILES
from rampsim.units import Count, UnitError, ascii_digits

__all__ = ["ORCA_THRESHOLDS", "KAYENTA_PROFILES", "PrometheusQuery", "KayentaScope", "KayentaStage",
           "KayentaIdentity", "KayentaGate", "Analysis", "analyses", "parse_iso_duration", "format_iso_duration",
           "query_problems", "step_problems"]

ORCA_THRESHOLDS = {"pass": 75.0, "marginal": 50.0}
"""The score thresholds Orca uses when a stage gives none (``KayentaCanaryContext``)."""
KAYENTA_PROFILES = PROFILES
"""Exporter profiles a Kayenta gate's queries may read (``rampsim``: rampsim's own series names)."""

_ISO = re.compile(r"^P(?:(?P<d>[0-9]+)D)?(?:T(?:(?P<h>[0-9]+)H)?(?:(?P<m>[0-9]+)M)?(?:(?P<s>[0-9]+(?:\.[0-9]+)?)S)?)?$")


def parse_iso_duration(text: str) -> float:
    """Seconds in an ISO-8601 duration as Java's ``Duration.parse`` reads Spinnaker's ``lifetimeDuration``
    (``PT4H``, ``PT1H30M``, ``P1DT2H``), in ASCII digits as Java reads them; ``ValueError`` otherwise."""
    if isinstance(text, str):
        try:
            ascii_digits(text)   # Python's float() reads 'PT３H' as 3 hours; Java refuses it
        except UnitError as exc:
            raise ValueError(str(exc)) from None
    found = _ISO.match(text.strip().upper()) if isinstance(text, str) else None
    parts = {k: float(v) for k, v in found.groupdict().items() if v} if found else {}
    if not parts:
        raise ValueError(f"expected an ISO-8601 duration such as PT4H or PT1H30M, got {text!r}")
    return parts.get("d", 0.0) * 86_400 + parts.get("h", 0.0) * 3600 + parts.get("m", 0.0) * 60 + parts.get("s", 0.0)


def format_iso_duration(seconds: float) -> str:
    """``seconds`` as Spinnaker writes a ``lifetimeDuration`` (``PT4H``, ``PT1H30M``, ``PT45S``)."""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{secs}S" if secs else "")
    return text if text != "PT" else "PT0S"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PrometheusQuery(_Model):
    """A metric's ``query`` for Kayenta's Prometheus provider (``PrometheusCanaryMetricSetQueryConfig``).

    Either a whole expression, ``customInlineTemplate: "PromQL:..."``, or ``metricName`` with a filter
    (``customInlineTemplate`` without the prefix, or the ``templates`` entry ``customFilterTemplate``
    names) and ``labelBindings``, averaged (``avg(...)``) and grouped ``by`` ``groupByFields``. Templates
    are expanded with the scope (``${scope}``, ``${location}``, ``${project}``, ``${resourceType}``) and
    the scope's ``extendedScopeParams``. ``functions``, ``scopeLabel``, ``locationLabel`` and the
    early ``aggregationPeriod`` and ``sumByFields`` are accepted and, as Kayenta's query builder does,
    not used.
    """

    type: str = "prometheus"
    serviceType: Optional[str] = None
    metricName: Optional[str] = None
    resourceType: Optional[str] = None
    labelBindings: list[str] = Field(default_factory=list)
    groupByFields: list[str] = Field(default_factory=list)
    customInlineTemplate: Optional[str] = None
    customFilterTemplate: Optional[str] = None
    customFilter: Optional[str] = None
    functions: Optional[list[Any]] = None
    scopeLabel: Optional[str] = None
    locationLabel: Optional[str] = None
    aggregationPeriod: Optional[str] = None
    sumByFields: Optional[list[str]] = None

    @property
    def inline(self) -> bool:
        """Whether the query is a whole PromQL expression (``customInlineTemplate: "PromQL:..."``)."""
        return bool(self.customInlineTemplate and self.customInlineTemplate.startswith("PromQL:"))


class KayentaScope(_Model):
    """One entry of the stage's ``scopes``: the control (baseline) and experiment (canary) scopes of a scope name.

    ``step`` is the seconds between two values of a range query (Orca's default, 60 s)."""

    scopeName: str = "default"
    controlScope: str
    experimentScope: str
    controlLocation: Optional[str] = None
    experimentLocation: Optional[str] = None
    step: Count = Field(60, gt=0)
    extendedScopeParams: dict[str, str] = Field(default_factory=dict)

    @field_validator("extendedScopeParams", mode="before")
    @classmethod
    def _texts(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: (str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
                    for k, v in value.items()}
        return value

    def scope(self, arm: str) -> str:
        """The scope of ``arm`` (``canary``: the experiment's, else the control's)."""
        return self.experimentScope if arm == "canary" else self.controlScope

    def location(self, arm: str) -> Optional[str]:
        return self.experimentLocation if arm == "canary" else self.controlLocation


class KayentaStage(_Model):
    """Spinnaker's ``kayentaCanary`` stage, its ``canaryConfig`` block: when the analyses run and what they pass.

    Minutes, hours and a scope's ``step`` are whole numbers (:data:`~rampsim.units.Count`: ``true`` is refused, not
    read as 1). Bookkeeping fields of the stage (accounts, the config's id or name) are accepted and not used."""

    lifetimeDuration: Optional[str] = None
    lifetimeHours: Optional[Count] = Field(None, gt=0)
    canaryAnalysisIntervalMins: Optional[Count] = Field(None, ge=0)
    beginCanaryAnalysisAfterMins: Count = Field(0, ge=0)
    lookbackMins: Count = Field(0, ge=0)
    scoreThresholds: ScoreThresholds = Field(default_factory=lambda: ScoreThresholds.model_validate(ORCA_THRESHOLDS))
    scopes: list[KayentaScope] = Field(min_length=1)
    metricsAccountName: Optional[str] = None
    storageAccountName: Optional[str] = None
    configurationAccountName: Optional[str] = None
    canaryConfigId: Optional[str] = None
    canaryConfigName: Optional[str] = None

    @field_validator("lifetimeDuration")
    @classmethod
    def _iso(cls, value: Optional[str]) -> Optional[str]:
        if value is not None:
            parse_iso_duration(value)
        return value

    @model_validator(mode="after")
    def _lifetime(self) -> "KayentaStage":
        if self.lifetimeDuration is None and self.lifetimeHours is None:
            raise ValueError("the stage needs lifetimeDuration (or the older lifetimeHours), as Orca does")
        if self.lifetime < 60:
            raise ValueError("the lifetime is shorter than a minute: Orca counts the analyses in whole minutes")
        if self.lifetime + self.warmup > MAX_DURATION:
            field = "lifetimeDuration" if self.lifetimeDuration is not None else "lifetimeHours"
            raise ValueError(f"{field}: the warm-up and the lifetime last {self.lifetime + self.warmup:.6g} s, "
                             f"longer than the {MAX_DURATION / 86400:g} days a simulated ramp can last")
        names = [s.scopeName for s in self.scopes]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"scope names must be unique; given twice: {', '.join(twice)}")
        return self

    @property
    def lifetime(self) -> float:
        """Seconds: ``lifetimeDuration`` wins over the deprecated ``lifetimeHours``, as in Orca."""
        if self.lifetimeDuration is not None:
            return parse_iso_duration(self.lifetimeDuration)
        return float(self.lifetimeHours or 0) * 3600

    @property
    def interval_minutes(self) -> int:
        """Minutes between analyses: the lifetime when none is given, zero, or longer than it (Orca)."""
        lifetime = int(self.lifetime // 60)
        given = self.canaryAnalysisIntervalMins
        return lifetime if not given or given > lifetime else given

    @property
    def warmup(self) -> float:
        return self.beginCanaryAnalysisAfterMins * 60.0

    @property
    def end(self) -> float:
        """Seconds from the stage's start to its last analysis."""
        return self.warmup + len(analyses(self)) * self.interval_minutes * 60.0

    def scope_named(self, name: str) -> Optional[KayentaScope]:
        return next((s for s in self.scopes if s.scopeName == name), None)


class KayentaIdentity(_Model):
    """The names the simulated series carry under an exporter profile: the service (its arms' workloads are
    ``<service>-canary`` and ``<service>-stable``) and its namespace."""

    service: str = "app"
    namespace: str = "default"


class KayentaGate(_Model):
    """The ``kayenta:`` section of a plan (see the module docstring)."""

    profile: str = "rampsim"
    identity: KayentaIdentity = Field(default_factory=KayentaIdentity)
    scope_label: str = "instance"
    stage: KayentaStage
    config: KayentaConfig

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: str) -> str:
        if value not in KAYENTA_PROFILES:
            raise ValueError(f"unknown profile {value!r}; profiles: {', '.join(KAYENTA_PROFILES)}")
        return value

    def query(self, metric: KayentaMetric) -> PrometheusQuery:
        """The metric's Prometheus query (valid in a validated section: :func:`query_problems` found none)."""
        return PrometheusQuery.model_validate(metric.query)

    def scope_of(self, metric: KayentaMetric) -> KayentaScope:
        scope = self.stage.scope_named(metric.scopeName)
        assert scope is not None, metric.scopeName  # checked by query_problems
        return scope


def query_problems(gate: KayentaGate) -> list[tuple[tuple[Union[str, int], ...], str]]:
    """Problems of the metrics' queries and scopes, each with its key path in the section: a provider other than
    Prometheus, a field Kayenta's Prometheus query does not have, the deprecated ``customFilter`` (Kayenta refuses
    it), a ``customFilterTemplate`` not among the ``templates``, a query with neither ``metricName`` nor a whole
    ``PromQL:`` expression, a ``scopeName`` the stage has no scope for."""
    problems: list[tuple[tuple[Union[str, int], ...], str]] = []
    for i, metric in enumerate(gate.config.metrics):
        at: tuple[Union[str, int], ...] = ("config", "metrics", i, "query")
        kind = metric.query.get("type", metric.query.get("serviceType", "prometheus"))
        if kind != "prometheus":
            problems.append(((*at, "type"), f"metric {metric.name!r} queries {kind!r}: rampsim simulates Kayenta's "
                                            f"Prometheus provider only"))
            continue
        try:
            query = PrometheusQuery.model_validate(metric.query)
        except ValidationError as exc:
            for error in exc.errors():
                problems.append(((*at, *error["loc"]), error["msg"]))
            continue
        if query.customFilter is not None:
            problems.append(((*at, "customFilter"), "deprecated: Kayenta refuses it (use customInlineTemplate)"))
        if query.customFilterTemplate and not query.customInlineTemplate \
                and query.customFilterTemplate not in gate.config.templates:
            problems.append(((*at, "customFilterTemplate"),
                             f"no template {query.customFilterTemplate!r} (templates: "
                             f"{', '.join(gate.config.templates) or 'none'})"))
        if not query.inline and not query.metricName:
            problems.append((at, "a Prometheus query needs metricName, or a whole expression in "
                                 "customInlineTemplate ('PromQL:...')"))
        if gate.stage.scope_named(metric.scopeName) is None:
            problems.append((("config", "metrics", i, "scopeName"),
                             f"the stage has no scope {metric.scopeName!r} (scopes: "
                             f"{', '.join(s.scopeName for s in gate.stage.scopes)})"))
    return problems + [(("stage", *loc), message) for loc, message in step_problems(gate.stage)]


def step_problems(stage: KayentaStage) -> list[tuple[tuple[Union[str, int], ...], str]]:
    """A scope whose ``step`` gives an analysis window fewer than 2 values a side (with the key path of the step in
    the stage): Kayenta's judge cannot judge one value against one, every metric is ``Error`` (counted nowhere),
    and every analysis scores 100 and passes."""
    shortest = min(analyses(stage), key=lambda analysis: analysis.end - analysis.start)
    window = shortest.end - shortest.start
    which = "lookbackMins" if stage.lookbackMins else "the interval, lookbackMins being 0"
    problems: list[tuple[tuple[Union[str, int], ...], str]] = []
    for index, scope in enumerate(stage.scopes):
        values = len(shortest.times(scope.step))
        if values < 2:
            problems.append((("scopes", index, "step"),
                             f"a step of {scope.step} s gives {values} value a side in an analysis window of "
                             f"{window / 60:g} min ({which}): with fewer than 2, Kayenta's judge scores every "
                             f"metric Error, counted nowhere, so every analysis scores 100 and passes; give a step "
                             f"of at most {window:g} s"))
    return problems


@dataclass(frozen=True)
class Analysis:
    """One judgement of the stage: its number (from 1), the window's start and end (seconds from the stage's
    start), and whether it is the last."""

    number: int
    start: float
    end: float
    last: bool

    def times(self, step: float) -> np.ndarray:
        """The times a range query from ``start`` to ``end`` at ``step`` evaluates (both ends included)."""
        count = int(np.floor((self.end - self.start) / step + 1e-9)) + 1
        return self.start + step * np.arange(count)


def analyses(stage: KayentaStage) -> tuple[Analysis, ...]:
    """The stage's judgements (Orca's ``RunCanaryIntervalsStage.buildRequestScopes``)."""
    interval = stage.interval_minutes
    count = int(stage.lifetime // 60) // interval
    warmup, lookback = stage.warmup, stage.lookbackMins * 60.0
    found = []
    for k in range(1, count + 1):
        end = warmup + k * interval * 60.0
        found.append(Analysis(k, end - lookback if lookback > 0 else warmup, end, k == count))
    return tuple(found)
