"""Naming: what a service calls the series the engine reads, in Prometheus.

Real services name their metrics and labels differently, so a plan may say how in
an optional ``prometheus:`` section::

    prometheus:
      metrics:                       # telemetry family -> series name (defaults below)
        requests: http_requests_total
        errors: http_requests_failed_total
        latency_bucket: http_request_duration_seconds_bucket
      labels:
        arm: track                   # label holding the arm (baseline / canary)
        segment: region              # label holding the segment
      matchers:                      # extra equality matchers on every series
        job: learning-api

Omitted metrics keep rampsim's own names (:data:`rampsim.telemetry.METRIC_NAMES`).
The histogram's ``_sum`` series is the ``_bucket`` name with ``_sum`` instead.
Everything here is checked against Prometheus's grammar for names, and label
values are quoted when written into PromQL, so no user text is ever evaluated.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Mapping, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from rampsim.engine.promql import promql
from rampsim.plan.loader import PlanError
from rampsim.plan.schema import Measure, Plan
from rampsim.plan.sections import plan_document, register_section, validate_section
from rampsim.plan.source import SourceError, read_document
from rampsim.telemetry import COUNTER_FAMILIES, GAUGE_FAMILIES, METRIC_NAMES

__all__ = ["Labels", "Naming", "naming_for_plan", "load_naming", "quote"]

_METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_RESERVED_LABELS = {"le", "__name__"}


def quote(value: str) -> str:
    """``value`` as a PromQL (and OpenMetrics) double-quoted string literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def quoted_text(value: str) -> str:
    """``value`` (text a server or a client sent) as a double-quoted string with every unprintable character escaped
    (newlines, ANSI escapes, bidirectional overrides): safe to print on a terminal or in a log line."""
    return "".join(c if c.isprintable() else json.dumps(c)[1:-1] for c in json.dumps(value, ensure_ascii=False))


def _check_metric_name(name: str) -> str:
    if not _METRIC_NAME.match(name):
        raise ValueError(f"{name!r} is not a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)")
    return name


if TYPE_CHECKING:
    # A Literal built at run time is no type to mypy: it sees a plain family name. Pydantic
    # validates against the Literal below, so an unknown family is still rejected.
    Family = str
else:
    Family = Literal[tuple(METRIC_NAMES)]
MetricName = Annotated[str, AfterValidator(_check_metric_name)]


def _check_label(name: str) -> str:
    if not _LABEL_NAME.match(name) or name.startswith("__"):
        raise ValueError(f"{name!r} is not a usable Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, no leading __)")
    if name in _RESERVED_LABELS:
        raise ValueError(f"{name!r} is reserved by Prometheus")
    return name


class Labels(BaseModel):
    """Names of the labels that carry the arm and the segment."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    arm: str = "arm"
    segment: str = "segment"

    @field_validator("arm", "segment")
    @classmethod
    def _label(cls, value: str) -> str:
        return _check_label(value)

    @model_validator(mode="after")
    def _distinct(self) -> "Labels":
        if self.arm == self.segment:
            raise ValueError(f"the arm and segment labels must differ, both are {self.arm!r}")
        return self


class Naming(BaseModel):
    """Series names, arm/segment label names and extra matchers of one service."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    metrics: dict[Family, MetricName] = Field(default_factory=lambda: dict(METRIC_NAMES))
    labels: Labels = Field(default_factory=Labels)
    matchers: dict[str, str] = Field(default_factory=dict)

    @field_validator("metrics", mode="before")
    @classmethod
    def _defaults(cls, value: Any) -> Any:
        return {**METRIC_NAMES, **value} if isinstance(value, dict) else value

    @field_validator("metrics")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        if not value["latency_bucket"].endswith("_bucket"):
            raise ValueError(f"latency_bucket: a classic histogram's bucket series ends with _bucket, "
                             f"got {value['latency_bucket']!r}")
        if len(set(value.values())) != len(value):
            raise ValueError("two telemetry families cannot share one series name")
        families: dict[str, str] = {}   # the metric family each series is in the exposition formats
        for family, name in value.items():
            base = (name[:-len("_bucket")] if family == "latency_bucket"
                    else name[:-len("_total")] if name.endswith("_total") else name)
            if base in families:
                raise ValueError(f"{families[base]}: {value[families[base]]!r} and {family}: {name!r} would be one "
                                 f"metric family ({base!r}) in Prometheus's exposition formats: rename one")
            families[base] = family
        return value

    @field_validator("matchers")
    @classmethod
    def _matchers(cls, value: dict[str, str]) -> dict[str, str]:
        for label in value:
            _check_label(label)
        return value

    @model_validator(mode="after")
    def _matchers_apart(self) -> "Naming":
        clash = {self.labels.arm, self.labels.segment} & set(self.matchers)
        if clash:
            raise ValueError(f"matchers cannot constrain the arm or segment label ({', '.join(sorted(clash))})")
        return self

    # -- series names ------------------------------------------------------------

    @property
    def histogram(self) -> str:
        """The classic histogram's base name (``..._seconds``)."""
        return self.metrics["latency_bucket"][: -len("_bucket")]

    def series_names(self) -> dict[str, str]:
        """Series name of every telemetry family, the histogram's ``_sum`` included."""
        names = {family: self.metrics[family] for family in (*COUNTER_FAMILIES, *GAUGE_FAMILIES)
                 if family in self.metrics}
        names["latency_sum"] = f"{self.histogram}_sum"
        return names

    def selector(self, labels: Mapping[str, str] | None = None) -> str:
        """The label matchers of a series selector: the extra matchers, then ``labels``."""
        pairs = [*self.matchers.items(), *(labels or {}).items()]
        return ",".join(f"{name}={quote(value)}" for name, value in pairs)

    # -- PromQL ------------------------------------------------------------------

    def promql(self, measure: Measure, window: str = "", interval: float = 15.0, line: int = 2) -> str:
        """The PromQL for ``measure`` in this service's names, in the form exact on Prometheus ``line``
        (see :mod:`rampsim.engine.promql`)."""
        query = promql(measure, window, names=self.metrics, arm_label=self.labels.arm,
                       segment_label=self.labels.segment, interval=interval, line=line)
        if self.matchers:
            query = query.replace("{" + f"{self.labels.arm}=", "{" + self.selector() + f",{self.labels.arm}=")
        return query


def naming_for_plan(plan: Plan, override: Optional[Naming] = None) -> Naming:
    """The naming in ``plan``'s ``prometheus:`` section (``override`` wins), or the defaults.

    Raises :class:`~rampsim.plan.loader.PlanError` with each problem located by file and line.
    """
    if override is not None:
        return override
    section = plan.prometheus
    if section is None:
        return Naming()
    return validate_section(Naming, section, plan_document(plan), ("prometheus",))


def load_naming(path: str | Path) -> Naming:
    """A naming read from its own YAML file: the fields of a plan's ``prometheus:`` section, bare or under a
    ``prometheus:`` key (the section as a plan writes it, and nothing else)."""
    try:
        document = read_document(path)
    except SourceError as exc:
        raise PlanError([str(exc)]) from None
    data = document.data or {}
    if isinstance(data, dict) and "prometheus" in data:
        others = [key for key in data if key != "prometheus"]
        if others:
            raise PlanError([f"{document.where((key,))}: {key}: a naming file holds a prometheus: section alone, "
                             "or its fields (metrics, labels, matchers) bare, not beside other keys"
                             for key in others])
        return validate_section(Naming, data["prometheus"] or {}, document, ("prometheus",))
    return validate_section(Naming, data, document)


register_section("prometheus", naming_for_plan)
