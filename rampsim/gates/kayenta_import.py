"""A Kayenta canary config (and the Spinnaker stage that runs it) → a :class:`~rampsim.gates.kayenta_model.KayentaGate`.

The config is Kayenta's JSON (:func:`rampsim.judges.kayenta_config.parse_kayenta_config` reads it);
the schedule is the stage's (a Spinnaker pipeline or ``kayentaCanary`` stage JSON given as ``stage``:
its ``canaryConfig``), each value overridable by :class:`StageOptions`, with Orca's defaults
otherwise. Both files are read strictly (a repeated key is an error) and every problem is located in
the file it is in (``file:line: metrics[0] (cpu).field: message``; a stage's field that is not
Orca's, a misspelt ``lookbakMins``, is an error with the closest field, :data:`NOT_SIMULATED` a note):

* refused (:class:`~rampsim.gates.refusals.GateRefused`): a metric of a provider other than
  Prometheus (Atlas, Stackdriver, Datadog...: their queries cannot be answered from simulated
  series), PromQL outside rampsim's subset;
* faithful (a note, and Kayenta's behaviour in the simulation): a query Kayenta cannot build for a
  scope (no custom filter and no resource type, a resource type without a location): Kayenta's
  canary execution fails, so every analysis rolls the canary back.

Template variables no scope binds (``${namespace}`` in Kayenta's integration-test configs) would fail
Kayenta's query: the importer gives each a value in the scope's ``extendedScopeParams`` (the simulated
namespace for ``namespace``, the variable's name otherwise) and says so; ``scope_params`` sets them.
The scopes default to the names the simulated series carry: the arm (``canary``, ``baseline``) under
the ``rampsim`` profile, the arm's workload (``app-canary``, ``app-stable``) under an exporter's. A team's
own scopes stand for the simulated arms (:func:`~rampsim.gates.kayenta_queries.simulated_scope`, noted),
the simulated service and namespace are named after those the queries select
(:func:`~rampsim.gates.series_names.infer_identity`), and a metric whose query selects no simulated
series is noted where the config writes it (it never has data).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import numpy as np
from pydantic import ValidationError

from rampsim.errors import InvalidPlanError, RampsimError
from rampsim.gates.kayenta_model import (
    ORCA_THRESHOLDS, KayentaGate, KayentaIdentity, KayentaStage, PrometheusQuery, analyses, format_iso_duration,
    query_problems, step_problems,
)
from rampsim.gates.kayenta_queries import (
    ARMS, QueryBuildError, metric_queries, simulated_scope, template_variables,
)
from rampsim.gates.profiles import infer_profile
from rampsim.gates.series_names import infer_identity, query_selectors
from rampsim.gates.refusals import GateError, GateRefused
from rampsim.plan.json_source import read_json as read_json_document
from rampsim.judges.kayenta_config import KayentaConfig, parse_kayenta_config, validation_problems
from rampsim.plan.sections import locate
from rampsim.plan.source import Document, SourceError
from rampsim.promql import Deployment, QueryError, SeriesStore, UnsupportedQuery, check_supported
from rampsim.promql.exposition import exposition_store
from rampsim.promql.parse import parse, selectors
from rampsim.telemetry import Layout, Telemetry
from rampsim.units import Kind, format_value

__all__ = ["StageOptions", "KayentaImport", "Origins", "import_kayenta", "import_kayenta_data", "read_json",
           "stage_of", "NOT_SIMULATED", "simulated_scopes"]

KeyPath = tuple[Union[str, int], ...]

NOT_SIMULATED = ("baselineAnalysisOffsetInMins", "siteLocal", "combinedCanaryResultStrategy")
"""Fields of a stage's ``canaryConfig`` that Orca reads, or Spinnaker's UI (Deck) writes, and rampsim does not
simulate: noted, then dropped. Any other field the stage model does not have is an error (a misspelt
``lookbakMins`` would silently be 0)."""


@dataclass(frozen=True)
class StageOptions:
    """What the command line says about the stage; ``None`` keeps the stage file's value, else Orca's default.

    Durations in seconds (``interval``, ``warmup`` and ``lookback`` whole minutes, as the stage writes them);
    ``lifetime`` defaults to ``default_lifetime`` (the base plan's phases) less the warm-up in force (the option's,
    else the stage file's), else 1 hour."""

    lifetime: Optional[float] = None
    interval: Optional[float] = None
    warmup: Optional[float] = None
    lookback: Optional[float] = None
    step: Optional[float] = None
    pass_threshold: Optional[float] = None
    marginal: Optional[float] = None
    canary_scope: Optional[str] = None
    baseline_scope: Optional[str] = None
    location: Optional[str] = None
    scope_params: Mapping[str, str] = field(default_factory=dict)
    profile: Optional[str] = None
    default_lifetime: Optional[float] = None


@dataclass(frozen=True)
class Origins:
    """Where the config and the stage were read (documents with the line of each key path), and the key path of the
    stage's ``canaryConfig`` block in its document; no stage document: the stage comes from options and defaults."""

    config: Document
    stage: Optional[Document] = None
    stage_path: KeyPath = ()


@dataclass
class KayentaImport:
    """An imported gate, its ``kayenta:`` section as plain data (the config as written), notes and sources."""

    gate: KayentaGate
    section: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)


def read_json(path: Union[str, Path]) -> Document:
    """The JSON in ``path`` with each key path's line; :class:`GateError` naming the file (and the line) when it
    cannot be read, is not JSON or repeats a key."""
    try:
        return read_json_document(path)
    except SourceError as exc:
        raise GateError([str(exc)]) from None


def stage_of(data: Any, source: str) -> tuple[dict[str, Any], KeyPath]:
    """The ``canaryConfig`` of the first ``kayentaCanary`` stage in a pipeline or stage JSON (or the block itself),
    and its key path in ``data``."""
    found: list[tuple[dict[str, Any], KeyPath]] = []

    def walk(node: Any, path: KeyPath) -> None:
        if isinstance(node, dict):
            if node.get("type") == "kayentaCanary" and isinstance(node.get("canaryConfig"), dict):
                found.append((node["canaryConfig"], (*path, "canaryConfig")))
            for key, value in node.items():
                walk(value, (*path, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, (*path, index))

    walk(data, ())
    if found:
        return found[0]
    if isinstance(data, dict) and ("lifetimeDuration" in data or "lifetimeHours" in data or "scopes" in data):
        return data, ()
    raise GateError([f"{source}: no kayentaCanary stage (a stage with type kayentaCanary and its canaryConfig)"])


def import_kayenta(config: Union[str, Path], stage: Optional[Union[str, Path]] = None,
                   options: StageOptions = StageOptions()) -> KayentaImport:
    """Import the canary config in the JSON file ``config``, run as the stage in ``stage`` says (a pipeline or
    stage JSON file), with ``options`` over both."""
    document = read_json(config)
    origins = Origins(document)
    written: dict[str, Any] = {}
    if stage is not None:
        stage_document = read_json(stage)
        written, path = stage_of(stage_document.data, str(stage))
        origins = Origins(document, stage_document, path)
    sources = [str(config)] + ([str(stage)] if stage is not None else [])
    return import_kayenta_data(document.data, str(config), written, options, sources, origins)


def _config(data: Any, source: str, document: Document) -> KayentaConfig:
    try:
        return parse_kayenta_config(data, source, document)
    except InvalidPlanError as exc:
        raise GateError(str(exc).splitlines()) from None


def _refusals(config: KayentaConfig, source: str) -> list[str]:
    refused = []
    for i, metric in enumerate(config.metrics):
        kind = metric.query.get("type", metric.query.get("serviceType", "prometheus"))
        if kind != "prometheus":
            refused.append(f"{source}: metrics[{i}] ({metric.name}): provider {kind!r}: rampsim simulates Kayenta's "
                           f"Prometheus provider only (its queries cannot be answered from simulated series)")
    return refused


def _profile(config: KayentaConfig, options: StageOptions) -> str:
    if options.profile:
        return options.profile
    texts = [str(m.query.get("customInlineTemplate") or m.query.get("metricName") or "") for m in config.metrics]
    inferred = infer_profile(texts)
    return "rampsim" if inferred == "custom" else inferred


def _minutes(seconds: Optional[float], what: str) -> Optional[int]:
    if seconds is None:
        return None
    if seconds < 0 or abs(seconds / 60 - round(seconds / 60)) > 1e-9:
        raise GateError([f"--{what}: the stage counts it in whole minutes, got {format_value(seconds, Kind.DURATION)}"])
    return int(round(seconds / 60))


def _less_warmup(phases: Optional[float], stage: Mapping[str, Any]) -> Optional[float]:
    """The base plan's phases less the stage's warm-up (``None`` without phases; a warm-up the stage cannot hold is
    reported when the stage is checked)."""
    if phases is None:
        return None
    try:
        warmup = float(stage.get("beginCanaryAnalysisAfterMins") or 0) * 60
    except (TypeError, ValueError):
        warmup = 0.0
    return phases - warmup if 0 <= warmup < phases else phases


def _stage(written: Mapping[str, Any], config: KayentaConfig, options: StageOptions, profile: str,
           notes: list[str]) -> dict[str, Any]:
    """The stage as plain data: the file's known fields, the options over them, Orca's defaults noted."""
    stage = {k: v for k, v in written.items() if k not in NOT_SIMULATED}
    ignored = [k for k in NOT_SIMULATED if k in written]
    if ignored:
        notes.append(f"stage fields not simulated: {', '.join(ignored)}")
    warmup = _minutes(options.warmup, "warmup")
    if warmup is not None:
        stage["beginCanaryAnalysisAfterMins"] = warmup
    if options.lifetime is not None or ("lifetimeDuration" not in stage and "lifetimeHours" not in stage):
        lifetime = options.lifetime or _less_warmup(options.default_lifetime, stage) or 3600.0
        stage.pop("lifetimeHours", None)
        stage["lifetimeDuration"] = format_iso_duration(lifetime)
        if options.lifetime is None:
            notes.append(f"lifetime {format_value(lifetime, Kind.DURATION)}"
                         + ((" (the base plan's phases" + (" less the warm-up)" if lifetime != options.default_lifetime
                                                             else ")")) if options.default_lifetime
                            else " (assumed: give --lifetime)"))
    for key, value in (("canaryAnalysisIntervalMins", _minutes(options.interval, "interval")),
                       ("lookbackMins", _minutes(options.lookback, "lookback"))):
        if value is not None:
            stage[key] = value
    if "canaryAnalysisIntervalMins" not in stage:
        notes.append("no analysis interval: one analysis at the end of the lifetime, as Spinnaker does "
                     "(give --interval)")
    thresholds = dict(stage.get("scoreThresholds") or {})
    if not thresholds:   # the stage gives none: the config's, else Orca's defaults, each option over them
        given = config.classifier.scoreThresholds
        thresholds = {"pass": given.pass_, "marginal": given.marginal} if given else dict(ORCA_THRESHOLDS)
        origin = "the config's" if given else "Orca's default"
        origins = {key: origin for key in thresholds}
        for key, option in (("pass", options.pass_threshold), ("marginal", options.marginal)):
            if option is not None:
                thresholds[key], origins[key] = option, f"--{key}"
        if origin in origins.values():
            notes.append("score thresholds " + ", ".join(f"{key} {thresholds[key]:g} ({origins[key]})"
                                                         for key in ("pass", "marginal")))
    if options.pass_threshold is not None:
        thresholds["pass"] = options.pass_threshold
    if options.marginal is not None:
        thresholds["marginal"] = options.marginal
    stage["scoreThresholds"] = thresholds
    stage["scopes"] = _scopes(written.get("scopes"), config, options, profile, notes)
    return stage


def simulated_scopes(profile: str) -> dict[str, str]:
    """The scope of each arm (``canary``, ``baseline``) when neither the stage nor the options name it: the names
    the simulated series carry under ``profile``."""
    deployment = Deployment()
    return {"canary": "canary", "baseline": "baseline"} if profile == "rampsim" else \
        {arm: deployment.workload(arm) for arm in ARMS}


def _scopes(written: Any, config: KayentaConfig, options: StageOptions, profile: str,
            notes: list[str]) -> list[dict[str, Any]]:
    """A scope for every scope name the metrics use: the stage's, the options over it, the simulated names else."""
    given = {s.get("scopeName", "default"): s for s in written or [] if isinstance(s, dict)}
    default = simulated_scopes(profile)
    scopes = []
    for name in dict.fromkeys(m.scopeName for m in config.metrics):
        scope = {k: v for k, v in given.get(name, {}).items() if k not in ("startTimeIso", "endTimeIso")}
        if set(given.get(name, {})) & {"startTimeIso", "endTimeIso"}:
            notes.append(f"scope {name!r}: startTimeIso/endTimeIso not simulated (the analyses follow the ramp)")
        scope["scopeName"] = name
        for arm, key, chosen in (("canary", "experimentScope", options.canary_scope),
                                 ("baseline", "controlScope", options.baseline_scope)):
            if chosen is not None or key not in scope:
                scope[key] = chosen or default[arm]
        if options.location is not None:
            scope["controlLocation"] = scope["experimentLocation"] = options.location
        if options.step is not None:
            scope["step"] = int(options.step)
        params = {**scope.get("extendedScopeParams", {}), **options.scope_params}
        scope.pop("extendedScopeParams", None)
        if params:
            scope["extendedScopeParams"] = params
        scopes.append(scope)
    return scopes


def _check_written_scopes(written: Any, config: KayentaConfig, origins: Origins, notes: list[str]) -> None:
    """:class:`GateError` for a stage's ``scopes`` that are not a list of objects with distinct text names (each
    would otherwise be dropped unseen); a note for a scope no metric uses (a misspelt ``defualt``)."""
    if written is None:
        return
    document = origins.stage or Document(data={"stage": {"scopes": written}}, filename=origins.config.filename)
    base = (*origins.stage_path, "scopes") if origins.stage is not None else ("stage", "scopes")
    if not isinstance(written, list):
        raise GateError([locate(document, base, "a list of scopes, each an object with its scopeName")])
    problems: list[str] = []
    first: dict[str, int] = {}
    for index, scope in enumerate(written):
        if not isinstance(scope, dict):
            problems.append(locate(document, (*base, index), "a scope is an object with its scopeName"))
            continue
        name = scope.get("scopeName", "default")
        if not isinstance(name, str):
            problems.append(locate(document, (*base, index, "scopeName"), f"a scope's name is text, got {name!r}"))
        elif name in first:
            problems.append(locate(document, (*base, index, "scopeName"),
                                   f"a second scope named {name!r} (the first is scopes[{first[name]}])"))
        else:
            first[name] = index
    if problems:
        raise GateError(problems)
    used = list(dict.fromkeys(m.scopeName for m in config.metrics))
    for name in first:
        if name not in used:
            close = difflib.get_close_matches(name, used, n=1, cutoff=0.6)
            notes.append(f"stage scope {name!r} is used by no metric (they use {', '.join(map(repr, used))})"
                         + (f": did you mean {close[0]!r}?" if close else ""))


def _check_stage(stage: dict[str, Any], written: Mapping[str, Any], origins: Origins) -> None:
    """:class:`GateError` with every problem of the stage as built (the file's fields, the options over them), each
    located in the stage file (its line, the field as the file writes it), else named as the stage's field: its
    fields, and a step too long for its analysis windows (:func:`~rampsim.gates.kayenta_model.step_problems`)."""
    try:
        errors: list[Any] = [{"loc": loc, "msg": message, "type": "value_error"}
                             for loc, message in step_problems(KayentaStage.model_validate(stage))]
    except ValidationError as exc:
        errors = exc.errors()
    if errors and origins.stage is not None:
        errors = _as_written(errors, stage, written)
    if errors:
        document = origins.stage or Document(data={"stage": stage}, filename=origins.config.filename)
        path = origins.stage_path if origins.stage is not None else ("stage",)
        raise GateError(validation_problems(errors, KayentaStage, document, path))


def _as_written(errors: list[Any], stage: Mapping[str, Any], written: Mapping[str, Any]) -> list[dict[str, Any]]:
    """pydantic's ``errors``, each scope's index made that of the scope in the file (the stage's scopes follow the
    metrics' order)."""
    names = [s.get("scopeName", "default") if isinstance(s, dict) else None for s in written.get("scopes") or []]
    located = []
    for error in errors:
        loc = tuple(error["loc"])
        if loc[:1] == ("scopes",) and len(loc) > 1 and isinstance(loc[1], int):
            name = stage["scopes"][loc[1]].get("scopeName")
            loc = ("scopes", names.index(name), *loc[2:]) if name in names else ("scopes",)
        located.append({**error, "loc": loc})
    return located


def _query_errors(config: KayentaConfig, document: Document) -> list[str]:
    """Every metric's query that is not a Prometheus query as Kayenta reads one (an unknown field, a value of the
    wrong type), located in the config file."""
    problems = []
    for i, metric in enumerate(config.metrics):
        try:
            PrometheusQuery.model_validate(metric.query)
        except ValidationError as exc:
            problems += validation_problems(exc.errors(), PrometheusQuery, document, ("metrics", i, "query"))
    return problems


def _bind_variables(section: dict[str, Any], config: KayentaConfig, namespace: str, notes: list[str]) -> None:
    """Give every template variable no scope binds a value in its scope's ``extendedScopeParams``, and say so."""
    scopes = {s["scopeName"]: s for s in section["stage"]["scopes"]}
    for metric in config.metrics:
        query = PrometheusQuery.model_validate(metric.query)
        template = query.customInlineTemplate or config.templates.get(query.customFilterTemplate or "", "")
        scope = scopes[metric.scopeName]
        params = scope.get("extendedScopeParams", {})
        bound = {"scope", *params} | ({"resourceType"} if query.resourceType else set()) \
            | ({"location"} if scope.get("controlLocation") and scope.get("experimentLocation") else set())
        for name in template_variables(template):
            if name in bound:
                continue
            params[name] = namespace if name == "namespace" else name
            scope["extendedScopeParams"] = params
            notes.append(f"metric {metric.name!r}: template variable ${{{name}}} has no value in the scope (Kayenta "
                         f"would fail the query): set to {params[name]!r} in extendedScopeParams "
                         f"(--scope-param {name}=VALUE sets it)")


def _infer_identity(section: dict[str, Any], gate: KayentaGate) -> list[str]:
    """Name the simulated service and namespace after those the queries select with the stage's scopes
    (:func:`~rampsim.gates.series_names.infer_identity`, as for an Argo gate): ``section["identity"]`` and a note,
    when they are not rampsim's defaults."""
    default = KayentaIdentity()
    found = [uses for arms in metric_queries(gate).values() for query in arms.values() if isinstance(query, str)
             for uses in query_selectors(query)]
    service, namespace = infer_identity(gate.profile, found, {}, default.service, default.namespace)
    if (service, namespace) == (default.service, default.namespace):
        return []
    section["identity"] = {"service": service, "namespace": namespace}
    return [f"identity: the simulated service is {service!r} in namespace {namespace!r}, the names the queries "
            f"select (under the {gate.profile} profile, each arm's workload is {service}-canary or "
            f"{service}-stable); edit kayenta.identity to rename"]


def _stand_ins(gate: KayentaGate) -> list[str]:
    """A note for each scope that stands for its simulated arm under another name in the queries
    (:func:`~rampsim.gates.kayenta_queries.simulated_scope`: a team's own server groups)."""
    found: dict[tuple[str, str, str, str, str], list[str]] = {}
    asked, written_queries = metric_queries(gate, simulated=True), metric_queries(gate)
    for metric in gate.config.metrics:
        if asked[metric.name] == written_queries[metric.name]:   # no stand-in tells the arms apart: none in force
            continue
        scope = gate.scope_of(metric)
        for arm, key in (("canary", "experimentScope"), ("baseline", "controlScope")):
            simulated = simulated_scope(gate, metric, arm)
            if simulated != scope.scope(arm):
                found.setdefault((scope.scopeName, key, scope.scope(arm), arm, simulated), []).append(metric.name)
    return [f"scope {name!r}: {key} {written!r} is the simulated {arm}: "
            + (f"metric {metrics[0]!r} selects" if len(metrics) == 1 else
               f"metrics {', '.join(map(repr, metrics))} select") + f" its series as {simulated!r}"
            for (name, key, written, arm, simulated), metrics in found.items()]


def _simulated_series(gate: KayentaGate) -> SeriesStore:
    """Every series the simulation writes under the gate's profile and identity: two scrapes in which every counter
    counts and every gauge has a value (a series that never counts is never written)."""
    layout = Layout()
    counters = np.repeat([[1.0], [2.0]], layout.n_counters, axis=1)
    telemetry = Telemetry(layout, np.array([0.0, layout.scrape_interval]), counters, np.ones((2, layout.n_gauges)))
    deployment = Deployment(service=gate.identity.service, namespace=gate.identity.namespace)
    return exposition_store(telemetry, gate.profile, deployment=deployment)


def _empty_selector(query: str, store: SeriesStore) -> Optional[str]:
    """Why the first selector of ``query`` that selects no series of ``store`` selects none, or ``None``."""
    try:
        tree = parse(query)
    except RampsimError:
        return None
    for selector in selectors(tree):
        named = [m for m in selector.matchers if m.name == "__name__"]
        matchers = [m for m in selector.matchers if m.name != "segment"]   # the plan's segments, not known here
        if len(store.select(matchers)):
            continue
        names = sorted(store.names())
        if named and not len(store.select(named)):
            close = difflib.get_close_matches(named[0].value, names, n=1) if named[0].op == "=" else []
            return f"{selector.text}: no simulated series is named so" + (f"; closest: {close[0]}" if close else "")
        failing = [str(m) for m in matchers if m not in named and not len(store.select([*named, m]))]
        return f"{selector.text}: no simulated series matches {', '.join(failing) or 'these matchers together'}"
    return None


def _unselected(gate: KayentaGate, document: Document) -> list[str]:
    """A located note for each scored metric whose query, as the simulation asks it, has a selector that selects no
    simulated series: the metric never has data (and a critical one fails every analysis)."""
    store = _simulated_series(gate)
    notes = []
    for index, (metric, arms) in enumerate(zip(gate.config.metrics, metric_queries(gate, simulated=True).values())):
        if metric.analysis.muted:   # never scored
            continue
        why = next((f"the {arm}'s query selects no series rampsim simulates under the {gate.profile} profile "
                    f"({why})" for arm, query in arms.items() if isinstance(query, str)
                    for why in [_empty_selector(query, store)] if why), None)
        if why is None:
            continue
        field = "customInlineTemplate" if gate.query(metric).customInlineTemplate else "metricName"
        effect = ("it is critical: every analysis fails and rolls the canary back" if metric.analysis.critical
                  else "it is Nodata at every analysis")
        message = (f"{why}: the metric never has data, and {effect} (--profile names the "
                   "exporter whose series the queries read)")
        notes += validation_problems([{"loc": ("metrics", index, "query", field), "msg": message,
                                       "type": "value_error"}], KayentaConfig, document)
    return notes


def _weightless_notes(config: KayentaConfig, document: Document) -> list[str]:
    """A note, located at the config's ``classifier.groupWeights``, for the metrics that can never lower the score
    (:meth:`~rampsim.judges.kayenta_config.KayentaConfig.weightless`): those of each group weighted 0, and those in
    no weighted group while the weights add up to 100."""
    weightless = config.weightless()
    found: list[tuple[tuple[Union[str, int], ...], str]] = []
    for group, weight in config.classifier.groupWeights.items():
        named = [m for m in weightless if weight == 0 and group in config.metric(m).groups]
        if named:
            found.append((("classifier", "groupWeights", group),
                          f"group {group!r} is weighted 0: "
                          + (f"its metric {named[0]!r} earns" if len(named) == 1 else
                             f"its metrics {', '.join(map(repr, named))} earn") + " no weight"))
            weightless = [m for m in weightless if m not in named]
    if weightless:
        found.append((("classifier", "groupWeights"), f"metric {', '.join(map(repr, weightless))}: in no weighted "
                                                      "group, and the weights add up to 100: unweighted groups share "
                                                      "nothing"))
    return [validation_problems([{"loc": loc, "type": "value_error",
                                  "msg": f"{why}, so a failure there cannot lower the score (only a critical failure "
                                         "counts), as in Kayenta"}], KayentaConfig, document)[0]
            for loc, why in found]


def import_kayenta_data(data: Any, source: str, written_stage: Optional[Mapping[str, Any]] = None,
                        options: StageOptions = StageOptions(), sources: Optional[list[str]] = None,
                        origins: Optional[Origins] = None) -> KayentaImport:
    """:func:`import_kayenta` for parsed JSON: the config ``data`` read from ``source``, the stage's ``canaryConfig``
    (``written_stage``, none by default); ``origins`` (the files they were read from) locates each problem."""
    origins = origins or Origins(Document(data=data, filename=source),
                                 Document(data=written_stage, filename="<stage>") if written_stage else None)
    config = _config(data, source, origins.config)
    refused = _refusals(config, source)
    if refused:
        raise GateRefused(refused)
    malformed = _query_errors(config, origins.config)
    if malformed:
        raise GateError(malformed)
    notes = _weightless_notes(config, origins.config)
    _check_written_scopes((written_stage or {}).get("scopes"), config, origins, notes)
    profile = _profile(config, options)
    section: dict[str, Any] = {"profile": profile, "stage": _stage(written_stage or {}, config, options, profile, notes),
                               "config": data}
    _bind_variables(section, config, "default", notes)
    _check_stage(section["stage"], written_stage or {}, origins)
    try:
        gate = KayentaGate.model_validate(section)
    except ValidationError as exc:
        raise GateError([f"{source}: {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]) from None
    problems = [validation_problems([{"loc": loc[1:], "msg": message, "type": "value_error"}], KayentaConfig,
                                    origins.config)[0] if loc[:1] == ("config",)
                else f"{source}: {'.'.join(map(str, loc))}: {message}" for loc, message in query_problems(gate)]
    if problems:
        raise GateError(problems)
    unsupported = []
    for name, arms in metric_queries(gate).items():
        broken = [(arm, built) for arm, built in arms.items() if isinstance(built, QueryBuildError)]
        if broken:
            which = "either scope" if len(broken) == len(arms) else f"the {broken[0][0]} scope"
            notes.append(f"metric {name!r}: Kayenta cannot build its query for {which} ({broken[0][1]}): every "
                         f"analysis fails and rolls the canary back (give --scope-param and --location)")
        for arm, built in arms.items():
            if isinstance(built, QueryBuildError):
                continue
            try:
                check_supported(built)
            except (QueryError, UnsupportedQuery) as exc:
                unsupported.append(f"{source}: metric {name!r}: query {built!r}: {exc}")
    if unsupported:
        raise GateRefused(unsupported)
    notes.extend(_infer_identity(section, gate))
    gate = KayentaGate.model_validate(section)
    notes.extend(_stand_ins(gate) + _unselected(gate, origins.config))
    schedule = analyses(gate.stage)
    notes.append(f"{len(schedule)} analysis(es), every {gate.stage.interval_minutes} min from "
                 + (f"{format_value(gate.stage.warmup, Kind.DURATION)}" if gate.stage.warmup else "the start")
                 + ", each over "
                 + (f"the last {gate.stage.lookbackMins} min" if gate.stage.lookbackMins else
                    "everything since the analysis began") + f"; profile {profile}")
    return KayentaImport(gate, section, notes, sources or [source])
