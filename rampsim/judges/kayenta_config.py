"""A Kayenta canary config (the JSON Spinnaker's Kayenta reads), as typed models with its own field names.

Read with :func:`load_kayenta_config` (a file) or :func:`parse_kayenta_config` (parsed JSON). Field
names and defaults are Kayenta's, from ``docs/canary-config.md`` and the defaults
``NetflixACAJudge.classifyMetric`` passes to ``MapUtils.getAs*WithDefault`` (spinnaker/kayenta,
``kayenta-judge``): ``direction`` ``either``, ``nanStrategy`` ``remove``, ``critical``,
``mustHaveData`` and ``muted`` false, every ``effectSize`` bound 1.0 (0.5 for the ``cles`` measure,
per the Spinnaker judge docs), ``outliers.strategy`` ``keep`` with factor 3.

Two things are stricter than Kayenta, on purpose:

* Kayenta's ``MetricDirection.parse`` and ``NaNStrategy.parse`` map any unknown word to the default
  (a typo ``"increse"`` silently judges both directions); here an unknown value, an unknown field,
  a value of the wrong type (a weight, threshold or bound of ``true``, which Python reads as 1; a
  digit other than ASCII), a number that is not finite (an ``allowedIncrease`` of ``Infinity``,
  or ``1e400``, could never be reached) or a repeated key (Jackson keeps the last) is an
  :class:`~rampsim.errors.InvalidPlanError` naming the file, the line, the metric and the field.
* A weighted group that no metric belongs to is refused: Kayenta's ``WeightedSumScorer`` scores
  only groups that have results, so such a weight can never be earned and the canary could never
  pass.

Queries (``query``) and ``templates`` are kept as written and not interpreted: which series a metric
reads is decided where the config is attached to a plan. The legacy ``extensions`` key of Kayenta's
early samples (``kayenta-judge/src/test/resources/test-config.json``) is read as
``analysisConfigurations``; the early judge name ``dredd-v1.0`` of the ``scratch/`` samples is judged
as ``NetflixACAJudge-v1.0``.
"""
from __future__ import annotations

import difflib
import enum
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator, model_validator

from rampsim.errors import InvalidPlanError
from rampsim.plan.json_source import read_json
from rampsim.plan.source import Document
from rampsim.units import Count, PlainNumber

__all__ = [
    "Direction", "NanStrategy", "EffectMeasure", "OutlierStrategy", "EffectSize", "Outliers",
    "CanaryAnalysis", "KayentaMetric", "ScoreThresholds", "Classifier", "JudgeConfig", "KayentaConfig",
    "JUDGE_NAMES", "parse_kayenta_config", "load_kayenta_config", "validation_problems",
]

JUDGE_NAMES = ("NetflixACAJudge-v1.0", "dredd-v1.0")
"""Judge names accepted in ``judge.name``; both are judged with NetflixACAJudge-v1.0's rules."""

class Direction(str, enum.Enum):
    """Which change fails the metric (``MetricDirection`` in ``BaseMetricClassifier.scala``)."""

    INCREASE = "increase"
    DECREASE = "decrease"
    EITHER = "either"


class NanStrategy(str, enum.Enum):
    """What a NaN interval becomes (``NaNStrategy``): dropped, or 0.0 (``Transforms.replaceNaNs``)."""

    REMOVE = "remove"
    REPLACE = "replace"


class EffectMeasure(str, enum.Enum):
    """The effect size compared with the bounds: ratio of means, or the common-language effect size."""

    MEAN_RATIO = "meanRatio"
    CLES = "cles"


class OutlierStrategy(str, enum.Enum):
    """Whether intervals outside the IQR fences are dropped before the test."""

    KEEP = "keep"
    REMOVE = "remove"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class EffectSize(_Model):
    """``effectSize``: how large the effect must be to fail the metric, or to fail the canary critically.

    A bound left out is 1.0 for ``meanRatio`` and 0.5 for ``cles`` (no effect), so that by default
    the rank test alone decides. A bound must be finite: ``Infinity`` (or ``1e400``, which JSON reads
    as infinity) could never be reached, so the metric could never fail.
    """

    allowedIncrease: Optional[PlainNumber] = Field(default=None, gt=0)
    allowedDecrease: Optional[PlainNumber] = Field(default=None, gt=0)
    criticalIncrease: Optional[PlainNumber] = Field(default=None, gt=0)
    criticalDecrease: Optional[PlainNumber] = Field(default=None, gt=0)
    measure: EffectMeasure = EffectMeasure.MEAN_RATIO

    @model_validator(mode="after")
    def _reachable(self) -> "EffectSize":
        if self.measure is EffectMeasure.CLES:
            beyond = [f"{name} {value:g}" for name in ("allowedIncrease", "criticalIncrease")
                      for value in [getattr(self, name)] if value is not None and value > 1]
            if beyond:
                raise ValueError(f"{', '.join(beyond)}: the common-language effect size lies between 0 and 1, "
                                 "so an increase bound above 1 could never be reached and the metric could never "
                                 "fail on it")
        return self

    @property
    def neutral(self) -> float:
        """The value of the measure when canary and baseline do not differ."""
        return 0.5 if self.measure is EffectMeasure.CLES else 1.0

    def bound(self, name: str) -> float:
        """The bound ``name`` (``allowedIncrease``...), or the neutral value when it is not given."""
        value: Optional[float] = getattr(self, name)
        return self.neutral if value is None else value


class Outliers(_Model):
    """``outliers``: keep every interval, or drop those outside the wider of the IQR and 1st/99th-percentile fences."""

    strategy: OutlierStrategy = OutlierStrategy.KEEP
    outlierFactor: PlainNumber = Field(default=3.0, gt=0)


class CanaryAnalysis(_Model):
    """``analysisConfigurations.canary``: how one metric is judged."""

    direction: Direction = Direction.EITHER
    nanStrategy: NanStrategy = NanStrategy.REMOVE
    critical: StrictBool = False       # a bool as JSON writes it: "yes" or 0 is refused, not read as true or false
    mustHaveData: StrictBool = False
    muted: StrictBool = False
    effectSize: EffectSize = EffectSize()
    outliers: Outliers = Outliers()


class AnalysisConfigurations(_Model):
    """``analysisConfigurations``: the judge's settings live under ``canary``."""

    canary: CanaryAnalysis = CanaryAnalysis()


class KayentaMetric(_Model):
    """One entry of ``metrics``: its name, query (as written), groups and analysis."""

    name: str = Field(min_length=1)
    query: dict[str, Any]
    groups: list[str] = Field(min_length=1)
    analysisConfigurations: AnalysisConfigurations = AnalysisConfigurations()
    scopeName: str = "default"

    @model_validator(mode="before")
    @classmethod
    def _legacy_extensions(cls, data: Any) -> Any:
        if isinstance(data, dict) and "extensions" in data:
            if "analysisConfigurations" in data:
                raise ValueError("give analysisConfigurations or the legacy extensions, not both")
            data = {("analysisConfigurations" if k == "extensions" else k): v for k, v in data.items()}
        return data

    @property
    def analysis(self) -> CanaryAnalysis:
        """The metric's canary analysis settings."""
        return self.analysisConfigurations.canary


class ScoreThresholds(_Model):
    """``scoreThresholds``: a score at least ``pass`` passes, at least ``marginal`` is marginal, else fails."""

    pass_: PlainNumber = Field(alias="pass", ge=0, le=100)
    marginal: PlainNumber = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> "ScoreThresholds":
        if self.marginal > self.pass_:
            raise ValueError(f"marginal ({self.marginal:g}) is above pass ({self.pass_:g})")
        return self


class Classifier(_Model):
    """``classifier``: the weight of each group (unweighted groups share what is left of 100) and thresholds."""

    groupWeights: dict[str, PlainNumber] = Field(default_factory=dict)
    scoreThresholds: Optional[ScoreThresholds] = None

    @field_validator("groupWeights")
    @classmethod
    def _weights(cls, weights: dict[str, float]) -> dict[str, float]:
        negative = [g for g, w in weights.items() if w < 0]
        if negative:
            raise ValueError(f"negative weight for {', '.join(map(repr, negative))}")
        if sum(weights.values()) > 100 + 1e-9:
            raise ValueError(f"weights add up to {sum(weights.values()):g}, more than 100")
        return weights

    def weights(self, groups: Sequence[str]) -> dict[str, float]:
        """The weight of each of ``groups`` (the scored metrics'): its ``groupWeights`` entry, else an equal share of
        what the entries leave of 100."""
        unweighted = [g for g in groups if g not in self.groupWeights]
        share = (100.0 - sum(self.groupWeights.values())) / len(unweighted) if unweighted else 0.0
        return {g: self.groupWeights.get(g, share) for g in groups}


class JudgeConfig(_Model):
    """``judge``: the judge's name; Kayenta documents ``judgeConfigurations`` as always empty."""

    name: str = JUDGE_NAMES[0]
    judgeConfigurations: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in JUDGE_NAMES:
            raise ValueError(f"unknown judge {name!r}; rampsim judges like {JUDGE_NAMES[0]} (also accepts "
                             f"{', '.join(JUDGE_NAMES[1:])})")
        return name

    @field_validator("judgeConfigurations")
    @classmethod
    def _empty(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value:
            raise ValueError(f"{JUDGE_NAMES[0]} takes no judgeConfigurations (got {', '.join(value)})")
        return value


class KayentaConfig(_Model):
    """A whole canary config. Bookkeeping fields Kayenta stores with a config are accepted and kept."""

    id: Optional[str] = None
    name: Optional[str] = None
    description: Optional[str] = None
    configVersion: Optional[Union[str, float]] = None
    applications: list[str] = Field(default_factory=list)
    createdTimestamp: Optional[Count] = None
    updatedTimestamp: Optional[Count] = None
    createdTimestampIso: Optional[str] = None
    updatedTimestampIso: Optional[str] = None
    judge: JudgeConfig = JudgeConfig()
    metrics: list[KayentaMetric] = Field(min_length=1)
    templates: dict[str, str] = Field(default_factory=dict)
    classifier: Classifier

    @model_validator(mode="after")
    def _consistent(self) -> "KayentaConfig":
        names = [m.name for m in self.metrics]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"metric names must be unique; given twice: {', '.join(map(repr, twice))}")
        weights = self.classifier.groupWeights
        used = {g for m in self.metrics for g in m.groups}
        unused = [g for g in weights if g not in used]
        if unused:
            raise ValueError(f"classifier.groupWeights: no metric is in group {', '.join(map(repr, unused))}, "
                             "so its weight could never be earned")
        scored = list(dict.fromkeys(g for m in self.metrics if not m.analysis.muted for g in m.groups))
        silent = [g for g in weights if g not in scored]
        if silent:
            raise ValueError(f"classifier.groupWeights: every metric of group {', '.join(map(repr, silent))} is "
                             "muted, so its weight could never be earned")
        unweighted = [g for g in scored if g not in weights]
        total = sum(weights.values())
        if scored and not unweighted and total < 100 - 1e-9:
            raise ValueError(f"classifier.groupWeights add up to {total:g}, not 100, and every group is weighted: "
                             f"a canary whose every metric passes would score {total:g} (Kayenta's UI requires "
                             "weights adding up to 100)")
        return self

    def weightless(self) -> list[str]:
        """The scored metrics in no group with weight: each of their groups weighted 0, or unweighted while the
        weights already add up to 100 (unweighted groups then share nothing). They can lower the score only by
        failing critically (Kayenta accepts both; its own judge tests write the second)."""
        scored = [m for m in self.metrics if not m.analysis.muted]
        weights = self.classifier.weights(list(dict.fromkeys(g for m in scored for g in m.groups)))
        return [m.name for m in scored if not any(weights[g] > 1e-9 for g in m.groups)]

    def metric(self, name: str) -> KayentaMetric:
        """The metric called ``name``."""
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise KeyError(name)


def _where(data: Any, loc: tuple[Union[int, str], ...]) -> str:
    """A pydantic location as ``metrics[0] (cpu).analysisConfigurations.canary.direction``."""
    parts: list[str] = []
    node = data
    for part in loc:
        if isinstance(part, int):
            label = f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("name"), str):
                label += f" ({node['name']})"
            parts.append(label)
        else:
            parts.append(("." if parts else "") + part)
            node = node.get(part) if isinstance(node, dict) else None
    return "".join(parts)


def _model_at(root: type[BaseModel], loc: tuple[Union[int, str], ...]) -> Optional[type[BaseModel]]:
    """The model (under ``root``) whose field sits at ``loc`` (list indices skipped), or None."""
    model: Optional[type[BaseModel]] = root
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        types = [field.annotation] if field is not None else []
        model = None
        while types:
            kind = types.pop()
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                model = kind
            types.extend(get_args(kind))
    return model


def _unknown_field(root: type[BaseModel], loc: tuple[Union[int, str], ...]) -> str:
    """``unknown field``, with the closest known field and the list of known ones."""
    model = _model_at(root, loc[:-1])
    if model is None:
        return "unknown field"
    known = [f.alias or n for n, f in model.model_fields.items()]
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown field; {hint}fields here: {', '.join(known)}"


def validation_problems(errors: Sequence[Mapping[str, Any]], model: type[BaseModel], document: Document,
                        path: tuple[Union[int, str], ...] = ()) -> list[str]:
    """Each of pydantic's ``errors`` as ``file:line: field: message``: what was validated as ``model`` is at the key path
    ``path`` in ``document`` (a JSON file read by :func:`~rampsim.plan.json_source.read_json`, which gives the
    lines; a document without lines gives the file alone). Fields are named as the file writes them
    (``metrics[0] (cpu).analysisConfigurations.canary.direction``); an unknown field gets the closest known one."""
    problems = []
    for error in errors:
        loc = (*path, *error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = _unknown_field(model, tuple(error["loc"]))
        where = _where(document.data, loc)
        problems.append(f"{document.where(loc)}: {where}: {message}" if where else f"{document.where(loc)}: {message}")
    return problems


def parse_kayenta_config(data: Any, source: str = "<kayenta config>",
                         document: Optional[Document] = None) -> KayentaConfig:
    """``data`` (parsed JSON) as a :class:`KayentaConfig`; :class:`InvalidPlanError` lists every problem, each with
    its line when ``document`` (what ``data`` was read from) is given."""
    try:
        return KayentaConfig.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc.errors(), KayentaConfig, document or Document(data=data, filename=source))
        raise InvalidPlanError("\n".join(problems)) from None


def load_kayenta_config(path: Union[str, Path]) -> KayentaConfig:
    """The Kayenta canary config in the JSON file ``path`` (a repeated key refused, every problem located)."""
    document = read_json(path)
    return parse_kayenta_config(document.data, str(path), document)
