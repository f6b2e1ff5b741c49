"""Imported Kayenta canary analyses: import, queries, Orca's schedule, the engine against the judge, simulated ramps.

* every Prometheus config of the real-gates corpus imports into a plan that validates; the others are
  refused naming their provider;
* Kayenta's query builder (``PrometheusMetricsService.buildQuery``, ``QueryConfigUtils``) and Orca's schedule
  (``RunCanaryIntervalsStage``) on hand-worked cases;
* the engine's score at every analysis, and its decisions, equal a direct call of the judge
  (:func:`rampsim.judges.kayenta.judge`) on the series the store was built from (a hypothesis property);
* on short simulated ramps a canary regression is rolled back and a healthy canary advances, and a sweep's
  verdicts equal the closed-loop rehearsals' for the same seeds;
* bad ``kayenta:`` sections are reported as ``file:line: field: message``.
"""
from __future__ import annotations

import copy
import json
import textwrap
from typing import Any, Optional

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rampsim.cli import main
from rampsim.engine.events import CheckpointReport, Decision, DecisionKind, first_terminal_decision
from rampsim.experiment.chunks import replicate_seed
from rampsim.experiment.engine_gates import EngineGates
from rampsim.faults import parse_fault
from rampsim.gates.imported_plan import kayenta_plan_data, kayenta_plan_yaml
from rampsim.gates.kayenta_engine import KayentaEngine
from rampsim.gates.kayenta_import import StageOptions, import_kayenta, import_kayenta_data
from rampsim.gates.kayenta_model import KayentaGate, KayentaStage, analyses, parse_iso_duration
from rampsim.gates.kayenta_queries import ARMS, QueryBuildError, build_query, metric_queries
from rampsim.gates.plan_sections import gate_of, gated_plan_from_document, gated_plan_from_text, with_gate_overrides
from rampsim.gates.queries import store_queries
from rampsim.gates.refusals import GateError, GateRefused
from rampsim.judges.kayenta import judge
from rampsim.plan.loader import PlanError
from rampsim.plan.source import Document
from rampsim.promql import SeriesStore
from rampsim.sim import simulate
from tests.conftest import examples
from tests.gates_helpers import clock, corpus, run_engine

ERRORS = ('PromQL:sum(rate(rampsim_request_errors_total{arm="${scope}"}[1m])) '
          '/ sum(rate(rampsim_requests_total{arm="${scope}"}[1m]))')
P99 = ('PromQL:histogram_quantile(0.99, sum by (le) '
       '(rate(rampsim_request_duration_seconds_bucket{arm="${scope}"}[1m])))')


def _metric(name: str, template: str, group: str, **canary: Any) -> dict[str, Any]:
    return {"name": name, "groups": [group], "query": {"type": "prometheus", "customInlineTemplate": template},
            "analysisConfigurations": {"canary": canary}}


def _config(*metrics: dict[str, Any], weights: Optional[dict[str, float]] = None) -> dict[str, Any]:
    return {"name": "test", "judge": {"name": "NetflixACAJudge-v1.0", "judgeConfigurations": {}},
            "metrics": list(metrics), "classifier": {"groupWeights": weights or {},
                                                      "scoreThresholds": {"pass": 95, "marginal": 75}}}


def _section(config: dict[str, Any], **stage: Any) -> dict[str, Any]:
    return {"profile": "rampsim",
            "stage": {"lifetimeDuration": "PT30M", "canaryAnalysisIntervalMins": 10, "lookbackMins": 0,
                      "scoreThresholds": {"pass": 95, "marginal": 75},
                      "scopes": [{"scopeName": "default", "experimentScope": "canary", "controlScope": "baseline"}],
                      **stage},
            "config": config}


def _plan(section: dict[str, Any]):
    gate = KayentaGate.model_validate(section)
    data, _ = kayenta_plan_data(section, gate, "test")
    return gated_plan_from_document(Document(data=data, filename="plan.yaml"))


ERROR_CONFIG = _config(_metric("error-rate", ERRORS, "errors", direction="increase", critical=True,
                               effectSize={"allowedIncrease": 2, "criticalIncrease": 3}),
                       _metric("p99", P99, "latency", direction="increase",
                               effectSize={"allowedIncrease": 1.2}),
                       weights={"errors": 70, "latency": 30})


# ---- import ----------------------------------------------------------------------------------

def test_every_prometheus_config_of_the_corpus_imports_and_the_others_are_refused_naming_their_provider():
    imported, refused = [], []
    for path in sorted(corpus("kayenta").glob("*.json")):
        data = json.loads(path.read_text())
        kinds = {m["query"].get("type") for m in data["metrics"]}
        if kinds == {"prometheus"}:
            result = import_kayenta(path, options=StageOptions(lifetime=1800, interval=600))
            text = kayenta_plan_yaml(result.section, result.gate, "imported", result.sources, result.notes)
            plan = gated_plan_from_text(text, "imported.yaml")
            assert isinstance(gate_of(plan), KayentaGate) and len(analyses(result.gate.stage)) == 3
            assert plan.duration == 1800 and result.section["config"] == data   # the config kept as written
            imported.append(path.name)
        else:
            with pytest.raises(GateRefused) as caught:
                import_kayenta(path)
            (kind,) = kinds
            assert all(f"provider {kind!r}" in p for p in caught.value.problems) and str(path) in str(caught.value)
            refused.append(path.name)
    assert len(imported) == 4 and len(refused) == 3


def test_import_binds_template_variables_and_notes_queries_kayenta_cannot_build():
    cpu = corpus("kayenta") / ("spinnaker__kayenta__kayenta-integration-tests__src__test__resources__canary-configs"
                               "__prometheus__integration-test-cpu.json")
    result = import_kayenta(cpu)
    (scope,) = result.gate.stage.scopes
    assert scope.extendedScopeParams == {"namespace": "default"}
    metric = result.gate.config.metrics[0]
    assert build_query(result.gate, metric, "canary") == "avg(integration_test_cpu{namespace='default', scope='canary'})"
    assert any("${namespace}" in note for note in result.notes)
    scratch = corpus("kayenta") / "spinnaker__kayenta__scratch__prometheus_canary_config.json"
    result = import_kayenta(scratch)
    assert any("Either a resource type or a custom filter is required" in note for note in result.notes)
    located = import_kayenta(scratch, options=StageOptions(scope_params={"resourceType": "aws_ec2_instance"},
                                                           location="us-east-1", canary_scope="app-v2"))
    query = build_query(located.gate, located.gate.config.metrics[0], "canary")
    assert query == 'avg(node_cpu{mode=~"user|system",job="node",asg_groupName="app-v2",zone=~"us-east-1.{1}"})'


ISTIO = ('PromQL:sum(rate(istio_requests_total{reporter="destination",destination_workload="${scope}",'
         'response_code=~"5.."}[1m])) / sum(rate(istio_requests_total{reporter="destination",'
         'destination_workload="${scope}"}[1m]))')


@pytest.mark.parametrize("template, canary, baseline, simulated", [
    (ERRORS, "learn-canary", "learn-baseline", ("canary", "baseline")),
    (ISTIO, "checkout-canary", "checkout-primary", ("checkout-canary", "checkout-stable")),
])
def test_a_stage_with_the_teams_own_scopes_judges_the_simulated_arms(template, canary, baseline, simulated):
    """The stage's scopes are the simulated arms whatever the team calls them: each scope stands for its arm's
    series (Istio's workloads named after the scopes, as an Argo gate's identity), and a healthy ramp advances."""
    config = _config(_metric("error-rate", template, "errors", direction="increase", critical=True,
                             effectSize={"allowedIncrease": 2, "criticalIncrease": 3}))
    result = import_kayenta_data(config, "config.json", options=StageOptions(
        lifetime=1800, interval=600, canary_scope=canary, baseline_scope=baseline))
    (scope,) = result.gate.stage.scopes
    assert (scope.experimentScope, scope.controlScope) == (canary, baseline)   # the team's, as Kayenta sends them
    engine = KayentaEngine(_plan(result.section), result.gate, store_queries(SeriesStore()))
    assert [q for q in engine.core.queries["error-rate"].values()] == \
        [build_query(result.gate, result.gate.config.metrics[0], arm, name) for arm, name in zip(ARMS, simulated)]
    assert any(f"controlScope {baseline!r} is the simulated baseline" in note for note in result.notes)
    decision = first_terminal_decision(simulate(_plan(result.section), seed=3).events)
    assert decision is not None and (decision.kind, decision.time) == (DecisionKind.ADVANCE, 1800), decision
    # in production the team's Prometheus is asked for the team's scopes, as Kayenta asks it
    from rampsim.prod.gate_queries import imported_engine

    production = imported_engine(_plan(result.section), result.gate, store_queries(SeriesStore()))
    assert [q for q in production.core.queries["error-rate"].values()] == \
        [build_query(result.gate, result.gate.config.metrics[0], arm) for arm in ARMS]
    assert all(name in q for name, q in zip((canary, baseline), production.core.queries["error-rate"].values()))


HTTP_APP = ('PromQL:sum(rate(http_requests_total{app="${scope}",code=~"5.."}[1m])) '
            '/ sum(rate(http_requests_total{app="${scope}"}[1m]))')


def test_stand_ins_that_would_make_both_arms_one_query_are_not_taken():
    """Under the http profile both arms' series carry the service's ``app``: each scope solved alone stood for it,
    the two queries became one, and every analysis compared the service with itself (a +20% canary passed). The
    written scopes are kept, and the baseline's query is noted as selecting no simulated series."""
    config = _config(_metric("errors", HTTP_APP, "errors", direction="increase", critical=True))
    result = import_kayenta_data(config, "config.json", options=StageOptions(
        lifetime=3600, interval=900, canary_scope="checkout-canary", baseline_scope="checkout-stable",
        profile="http"))
    queries = metric_queries(result.gate, simulated=True)["errors"]
    assert queries["canary"] != queries["baseline"]
    assert queries == metric_queries(result.gate)["errors"]
    assert not any("is the simulated baseline" in note for note in result.notes)
    assert any("the baseline's query selects no series" in note for note in result.notes), result.notes


def test_a_metric_whose_query_selects_no_simulated_series_is_noted_where_it_is_written():
    difranca = next(corpus("kayenta").glob("difranca__*.json"))
    result = import_kayenta(difranca, options=StageOptions(lifetime=1800, interval=600))
    (note,) = [n for n in result.notes if "selects no series" in n]
    assert note.startswith(f"{difranca}:14: metrics[0] (memory-usage).query.customInlineTemplate: the canary's "
                           "query selects no series rampsim simulates under the rampsim profile (memory_usage{"), note
    assert "it is critical: every analysis fails" in note
    healthy = import_kayenta_data(ERROR_CONFIG, "config.json", options=StageOptions(lifetime=1800, interval=600))
    assert not any("selects no series" in n for n in healthy.notes)


def test_import_notes_where_the_weights_leave_metrics_that_can_never_lower_the_score(tmp_path):
    """A group weighted 0 (the weights still add up to 100) earns nothing: a failure of its metrics cannot lower the
    score, as for metrics in no weighted group; both noted, located at the config's groupWeights."""
    config = _config(_metric("error-rate", ERRORS, "errors", direction="increase"),
                     _metric("p99", P99, "latency", direction="increase"),
                     _metric("p99-again", P99, "spare", direction="increase"), weights={"errors": 0, "latency": 100})
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config, indent=2))
    notes = [n for n in import_kayenta(path, options=StageOptions(lifetime=1800)).notes if "cannot lower" in n]
    assert notes == [f"{path}:56: classifier.groupWeights.errors: group 'errors' is weighted 0: its metric "
                     "'error-rate' earns no weight, so a failure there cannot lower the score (only a critical "
                     "failure counts), as in Kayenta",
                     f"{path}:55: classifier.groupWeights: metric 'p99-again': in no weighted group, and the weights "
                     "add up to 100: unweighted groups share nothing, so a failure there cannot lower the score (only "
                     "a critical failure counts), as in Kayenta"], notes


def test_the_stage_file_gives_the_schedule_and_the_options_win_over_it(tmp_path):
    pipeline = {"stages": [{"type": "deploy"}, {"type": "kayentaCanary", "canaryConfig": {
        "lifetimeDuration": "PT1H", "canaryAnalysisIntervalMins": "20", "lookbackMins": 0, "siteLocal": {},
        "scoreThresholds": {"pass": "90", "marginal": "60"},
        "scopes": [{"scopeName": "default", "controlScope": "old", "experimentScope": "new", "step": 30}]}}]}
    stage = tmp_path / "pipeline.json"
    stage.write_text(json.dumps(pipeline))
    config = tmp_path / "config.json"
    config.write_text(json.dumps(ERROR_CONFIG))
    result = import_kayenta(config, stage, StageOptions(lookback=600, marginal=70))
    assert [a.end for a in analyses(result.gate.stage)] == [1200, 2400, 3600]
    assert result.gate.stage.lookbackMins == 10 and result.gate.stage.scoreThresholds.pass_ == 90
    assert result.gate.stage.scoreThresholds.marginal == 70
    (scope,) = result.gate.stage.scopes
    assert (scope.controlScope, scope.experimentScope, scope.step) == ("old", "new", 30)
    assert any("siteLocal" in note for note in result.notes)


def test_a_malformed_query_is_located_in_the_config_not_a_crash(tmp_path):
    """An unknown field or a wrong type in a metric's query was validated only after the import had used it
    (exit 70); a template that does not exist was named by the plan's key path, without a line."""
    for change, message in (({"metricname": "x"}, "metrics[0] (error-rate).query.metricname: unknown field; "
                                                   "did you mean 'metricName'?"),
                            ({"labelBindings": "a='b'"}, "metrics[0] (error-rate).query.labelBindings: Input should "
                                                         "be a valid list"),
                            ({"customFilterTemplate": "standard-templat", "customInlineTemplate": None},
                             "metrics[0] (error-rate).query.customFilterTemplate: no template 'standard-templat'")):
        config = copy.deepcopy(ERROR_CONFIG)
        config["metrics"][0]["query"].update(change)
        config["metrics"][0]["query"] = {k: v for k, v in config["metrics"][0]["query"].items() if v is not None}
        path = tmp_path / "config.json"
        text = json.dumps(config, indent=2)
        path.write_text(text)
        line = next(n for n, row in enumerate(text.splitlines(), 1) if f'"{next(iter(change))}"' in row)
        with pytest.raises(GateError) as raised:
            import_kayenta(path)
        assert f"{path}:{line}: {message}" in str(raised.value), str(raised.value)


BOOLEAN, UNICODE = "got the boolean True", "is not an ASCII digit; write the number with ASCII digits 0-9"
STAGE = {"type": "kayentaCanary", "canaryConfig": {
    "lifetimeDuration": "PT1H", "canaryAnalysisIntervalMins": 20, "lookbackMins": 0, "beginCanaryAnalysisAfterMins": 0,
    "scopes": [{"scopeName": "default", "controlScope": "baseline", "experimentScope": "canary", "step": 30}]}}
CANARY_CONFIG = ("metrics", 0, "analysisConfigurations", "canary")


@pytest.mark.parametrize("file, path, value, where, message", [
    # a weight, threshold or bound of true was read as 1 (a marginal score of 1: every canary at least marginal)
    ("config", ("classifier", "groupWeights", "errors"), True, "classifier.groupWeights.errors", BOOLEAN),
    ("config", ("classifier", "groupWeights", "errors"), "７0", "classifier.groupWeights.errors", UNICODE),
    ("config", ("classifier", "scoreThresholds", "marginal"), True, "classifier.scoreThresholds.marginal", BOOLEAN),
    ("config", (*CANARY_CONFIG, "effectSize", "allowedIncrease"), True,
     "metrics[0] (error-rate).analysisConfigurations.canary.effectSize.allowedIncrease", BOOLEAN),
    ("config", (*CANARY_CONFIG, "outliers", "outlierFactor"), True,
     "metrics[0] (error-rate).analysisConfigurations.canary.outliers.outlierFactor", BOOLEAN),
    # minutes, hours and a step of true were read as 1
    ("stage", ("canaryConfig", "lifetimeHours"), True, "canaryConfig.lifetimeHours", BOOLEAN),
    ("stage", ("canaryConfig", "canaryAnalysisIntervalMins"), True, "canaryConfig.canaryAnalysisIntervalMins", BOOLEAN),
    ("stage", ("canaryConfig", "beginCanaryAnalysisAfterMins"), True, "canaryConfig.beginCanaryAnalysisAfterMins",
     BOOLEAN),
    ("stage", ("canaryConfig", "lookbackMins"), "５", "canaryConfig.lookbackMins", UNICODE),
    ("stage", ("canaryConfig", "scopes", 0, "step"), True, "canaryConfig.scopes[0].step", BOOLEAN),
    ("stage", ("canaryConfig", "scoreThresholds", "pass"), True, "canaryConfig.scoreThresholds.pass", BOOLEAN),
    # Java's Duration.parse reads ASCII digits: Python read PT３H as 3 hours
    ("stage", ("canaryConfig", "lifetimeDuration"), "PT３H", "canaryConfig.lifetimeDuration",
     "'３' (fullwidth digit three) " + UNICODE),
])
def test_a_value_of_the_wrong_kind_is_refused_naming_file_line_and_field(tmp_path, file, path, value, where, message):
    data = {"config": copy.deepcopy(ERROR_CONFIG), "stage": copy.deepcopy(STAGE)}
    node = data[file]
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
    if path[-2] == "scoreThresholds":   # the other threshold in order: only this one is wrong
        node.update({"pass": 95, "marginal": 0})
    if path[-1] == "lifetimeHours":
        del node["lifetimeDuration"]
    node[path[-1]] = value
    files = {name: tmp_path / f"{name}.json" for name in data}
    for name, written in data.items():
        files[name].write_text(json.dumps(written, indent=2, ensure_ascii=False), encoding="utf-8")
    text = files[file].read_text(encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if f'"{path[-1]}": ' in row)
    with pytest.raises(GateError) as raised:
        import_kayenta(files["config"], files["stage"])
    assert f"{files[file]}:{line}: {where}: " in str(raised.value) and message in str(raised.value), str(raised.value)


def test_the_default_lifetime_is_the_base_plans_phases_less_the_stage_files_warmup(tmp_path):
    stage = tmp_path / "stage.json"
    stage.write_text(json.dumps({"type": "kayentaCanary", "canaryConfig": {
        "canaryAnalysisIntervalMins": 15, "beginCanaryAnalysisAfterMins": 10,
        "scopes": [{"scopeName": "default", "controlScope": "baseline", "experimentScope": "canary"}]}}))
    config = tmp_path / "config.json"
    config.write_text(json.dumps(ERROR_CONFIG))
    result = import_kayenta(config, stage, StageOptions(default_lifetime=4 * 3600.0))
    assert result.gate.stage.lifetimeDuration == "PT3H50M"
    assert analyses(result.gate.stage)[-1].end == 600 + 15 * 900 <= 4 * 3600   # 15 whole intervals after the warm-up
    assert "lifetime 3h50m (the base plan's phases less the warm-up)" in result.notes


@pytest.mark.parametrize("options, note", [
    (StageOptions(), "score thresholds pass 95 (the config's), marginal 75 (the config's)"),
    (StageOptions(pass_threshold=90), "score thresholds pass 90 (--pass), marginal 75 (the config's)"),
    (StageOptions(pass_threshold=90, marginal=70), None)])
def test_the_score_threshold_note_says_what_the_stage_uses(tmp_path, options, note):
    """The note said "pass 75, marginal 50 (Orca's defaults)" while --pass 90 --marginal 70 were in force."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps(ERROR_CONFIG))
    result = import_kayenta(config, None, options)
    stage = result.gate.stage.scoreThresholds
    written = [n for n in result.notes if n.startswith("score thresholds")]
    assert written == ([note] if note else [])
    assert (stage.pass_, stage.marginal) == (options.pass_threshold or 95, options.marginal or 75)


def test_the_command_imports_a_config_onto_a_base_plan_and_refuses_atlas(tmp_path, capsys):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(ERROR_CONFIG))
    out = tmp_path / "plan.yaml"
    base = "scenarios/ramp-phase-5k-validation.yaml"
    assert main(["import", "kayenta", str(config), "--plan", base, "--interval", "15m", "--lookback", "15m",
                 "-o", str(out)]) == 0
    from rampsim.gates.plan_sections import load_gated_plan
    plan, reference = load_gated_plan(out), load_gated_plan(base)
    assert plan.phases == reference.phases and plan.slo == reference.slo and not plan.rules and not plan.checkpoints
    assert gate_of(plan).stage.lifetime == reference.duration   # type: ignore[union-attr]
    atlas = corpus("kayenta") / "spinnaker__kayenta__scratch__atlas_canary_config.json"
    assert main(["import", "kayenta", str(atlas)]) == 3
    assert "provider 'atlas'" in capsys.readouterr().err


# ---- queries and schedule -------------------------------------------------------------------

def _gate(query: dict[str, Any], templates: Optional[dict[str, str]] = None, **scope: Any) -> KayentaGate:
    config = _config({"name": "m", "groups": ["g"], "query": query})
    config["templates"] = templates or {}
    section = _section(config)
    section["stage"]["scopes"][0].update(scope)
    return KayentaGate.model_validate(section)


def test_queries_are_built_as_kayentas_prometheus_provider_builds_them():
    inline = _gate({"type": "prometheus", "customInlineTemplate": 'PromQL:up{pod=~".+${scope}",x="${k:-d}",y="$${k}"}'})
    assert build_query(inline, inline.config.metrics[0], "baseline") == 'up{pod=~".+baseline",x="d",y="${k}"}'
    named = _gate({"type": "prometheus", "metricName": "cpu", "customFilterTemplate": "t", "labelBindings": ['a="1"'],
                   "groupByFields": ["mode", "cpu"]}, {"t": 'ns="${namespace}",s="${scope}"'},
                  extendedScopeParams={"namespace": "prod"})
    assert build_query(named, named.config.metrics[0], "canary") == 'avg(cpu{ns="prod",s="canary",a="1"}) by (mode,cpu)'
    gce = _gate({"type": "prometheus", "metricName": "cpu", "resourceType": "gce_instance"},
                experimentLocation="us-east1", extendedScopeParams={"project": "p"})
    assert build_query(gce, gce.config.metrics[0], "canary") == \
        'avg(cpu{instance=~"canary-.{4}",zone=~".+/projects/p/zones/us-east1-.{1}"})'
    with pytest.raises(QueryBuildError, match="Location"):
        build_query(gce, gce.config.metrics[0], "baseline")   # the control scope has no location
    unbound = _gate({"type": "prometheus", "customInlineTemplate": "PromQL:up{a=\"${nope}\"}"})
    with pytest.raises(QueryBuildError, match=r"\$\{nope\}"):
        build_query(unbound, unbound.config.metrics[0], "canary")


@pytest.mark.parametrize("stage, expected", [
    ({"lifetimeDuration": "PT1H", "canaryAnalysisIntervalMins": 25}, [(0, 1500), (0, 3000)]),   # 60 // 25 = 2
    ({"lifetimeHours": 1}, [(0, 3600)]),                                                        # one at the end
    ({"lifetimeDuration": "PT30M", "canaryAnalysisIntervalMins": 45}, [(0, 1800)]),             # capped at lifetime
    ({"lifetimeDuration": "PT30M", "canaryAnalysisIntervalMins": 10, "beginCanaryAnalysisAfterMins": 5,
      "lookbackMins": 15}, [(0, 900), (600, 1500), (1200, 2100)]),
])
def test_analyses_follow_orcas_schedule(stage, expected):
    parsed = KayentaStage.model_validate({**stage, "scopes": [{"controlScope": "a", "experimentScope": "b"}]})
    found = analyses(parsed)
    assert [(a.start, a.end) for a in found] == expected and [a.last for a in found][-1]
    assert len(found[0].times(60)) == int((expected[0][1] - expected[0][0]) / 60) + 1


def test_iso_durations_are_read_as_java_reads_them():
    assert [parse_iso_duration(t) for t in ("PT4H", "PT1H30M", "P1DT2H", "PT45.5S")] == [14400, 5400, 93600, 45.5]
    for bad in ("4h", "PT", "P", "1H"):
        with pytest.raises(ValueError):
            parse_iso_duration(bad)


# ---- the engine against the judge ------------------------------------------------------------

RATIO = "PromQL:avg(num{arm=\"${scope}\"}) / avg(den{arm=\"${scope}\"})"


@settings(max_examples=examples(fast=15), deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shift=st.sampled_from([0.0, 0.3, 1.0, 4.0]),
       start=st.integers(0, 30), holes=st.floats(0.0, 0.3), lookback=st.sampled_from([0, 10]))
def test_the_engine_scores_and_decides_as_the_judge_called_directly(seed, shift, start, holes, lookback):
    rng = np.random.default_rng(seed)
    config = _config(_metric("ratio", RATIO, "g", direction="increase", critical=True,
                             effectSize={"allowedIncrease": 1.1, "criticalIncrease": 1.8}),
                     _metric("other", "PromQL:avg(other{arm=\"${scope}\"})", "h"), weights={"g": 60, "h": 40})
    plan = _plan(_section(config, lookbackMins=lookback))
    gate = gate_of(plan)
    assert isinstance(gate, KayentaGate)
    minutes = np.arange(0, 31) * 60.0
    series: dict[tuple[str, str], np.ndarray] = {}
    store = SeriesStore()
    for arm in ("canary", "baseline"):
        up = shift * (minutes >= start * 60) if arm == "canary" else 0.0
        num = rng.gamma(20, 0.05, len(minutes)) * (1 + up)
        den = np.where(rng.random(len(minutes)) < holes, 0.0, 1.0)   # x/0: NaN or Inf, no data for Kayenta
        other = rng.normal(5, 1, len(minutes))
        for name, values in (("num", num), ("den", den), ("other", other)):
            store.add({"__name__": name, "arm": arm}, minutes, values)
        with np.errstate(divide="ignore", invalid="ignore"):
            series[("ratio", arm)], series[("other", arm)] = num / den, other
    events = run_engine(KayentaEngine(plan, gate, store_queries(store)), clock(plan))
    reports = [e for e in events if isinstance(e, CheckpointReport)]
    decision = first_terminal_decision(events)
    assert decision is not None and reports
    thresholds = gate.stage.scoreThresholds
    for analysis, report in zip(analyses(gate.stage), reports):
        window = (minutes >= analysis.start) & (minutes <= analysis.end)
        direct = judge(gate.config, {m: (series[(m, "canary")][window], series[(m, "baseline")][window])
                                     for m in ("ratio", "other")}, thresholds)
        assert report.time == analysis.end and report.notes[0].startswith(f"score {float(direct.score):.2f};")
        assert [r.description for r in report.results] == [m.reason() for m in direct.metrics]  # labels, intervals
        stops = direct.score <= thresholds.marginal
        expected = "rollback" if stops else "none" if not analysis.last else \
            "advance" if direct.score >= thresholds.pass_ else "hold"
        if expected != "none":
            assert (decision.kind.value, decision.time) == (expected, analysis.end)
            break
    assert len(reports) == next(a.number for a in analyses(gate.stage) if a.end == decision.time)


def test_a_query_kayenta_cannot_build_fails_the_canary_execution_at_the_first_analysis():
    config = _config(_metric("m", "PromQL:up{a=\"${nope}\"}", "g"))
    plan = _plan(_section(config))
    events = run_engine(KayentaEngine(plan, gate_of(plan), store_queries(SeriesStore())), clock(plan))
    decision = first_terminal_decision(events)
    assert decision is not None and decision.kind is DecisionKind.ROLLBACK and decision.time == 600
    assert "canary execution failed" in decision.reason and "${nope}" in decision.reason


# ---- simulated ramps --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ramp():
    return _plan(_section(ERROR_CONFIG))


def test_a_canary_regression_is_rolled_back_and_a_healthy_canary_advances(ramp):
    healthy = simulate(ramp, seed=3)
    decision = first_terminal_decision(healthy.events)
    assert decision is not None and decision.kind is DecisionKind.ADVANCE and decision.time == 1800
    assert decision.weight == ramp.actions.advance
    scores = [e.notes[0] for e in healthy.events if isinstance(e, CheckpointReport)]
    assert len(scores) == 3 and all(s.startswith("score 100.00") for s in scores)
    sliding = with_gate_overrides(ramp, {"kayenta.stage.lookbackMins": 10})
    regression = simulate(sliding, [parse_fault("error-rate:canary:+3%@5m")], seed=3)
    decision = first_terminal_decision(regression.events)
    assert regression.truth.incident and decision is not None
    # 00:00-00:10 holds 5 elevated values of 10: the interval of the shift still reaches below 0, Pass;
    # 00:10-00:20 is all after the fault: error-rate High, and critical (about 30 times the baseline's)
    assert decision.kind is DecisionKind.ROLLBACK and decision.time == 1200
    assert "error-rate was classified as High (critical)" in decision.reason


def test_the_rehearsal_log_reads_a_passing_analysis_as_passed(ramp):
    """Each analysis's notes are what it measured, not an unmet gate requirement; the advancing analysis
    ticks Advance; the plan's own checkpoints, which the analyses replace, are not listed as unreached."""
    from rampsim.report.checklist import checkpoint_log
    from rampsim.report.markdown import markdown_report

    run = simulate(ramp, seed=3)
    log = "\n".join(checkpoint_log(run))
    assert "Gate requirement not met" not in log and "Not reached" not in log
    assert log.count("├─ Analysis: score 100.00") >= 3
    last = log.rstrip().rsplit("├─ Analysis", 1)[1]
    assert "[x] Advance" in last
    text = markdown_report(run, chart=None)
    assert "Gate requirement not met" not in text and "Not reached" not in text and "- Analysis: score" in text


def test_a_late_regression_is_diluted_in_a_window_since_the_analysis_began(ramp):
    # Spinnaker's default lookbackMins 0: at 00:30 the window 00:00-00:30 holds 18 elevated values of 30, and the
    # interval of the shift starts below a quarter of its estimate: Pass. The last 10 minutes alone: High.
    fault = [parse_fault("error-rate:canary:+3%@12m")]
    decisions = [first_terminal_decision(simulate(plan, fault, seed=3).events)
                 for plan in (ramp, with_gate_overrides(ramp, {"kayenta.stage.lookbackMins": 10}))]
    assert [(d.kind.value, d.time) for d in decisions if d is not None] == [("advance", 1800), ("rollback", 1800)]


def test_a_sweep_decides_as_the_rehearsals_of_the_same_seeds(ramp):
    grid = [with_gate_overrides(ramp, {"kayenta.stage.scoreThresholds.marginal": marginal,
                                       "kayenta.stage.lookbackMins": lookback})
            for marginal, lookback in ((75, 0), (0, 10))]
    faults = [parse_fault("latency:canary:+40ms@5m")]
    seeds = [replicate_seed(11, 0, r) for r in range(3)]
    runs = [simulate(ramp, faults, seed=s, engine_factory=None) for s in seeds]
    fast = EngineGates(grid).judge([run.telemetry for run in runs])
    engines = EngineGates(grid, fast=False).judge([run.telemetry for run in runs])
    seen = set()
    for r, seed in enumerate(seeds):
        assert fast.named(r) == engines.named(r)
        for g, plan in enumerate(grid):
            decision = first_terminal_decision(simulate(plan, faults, seed=seed).events)
            assert decision is not None
            assert fast.named(r)[g] == (decision.kind.value, decision.time,
                                        "kayenta" if decision.kind.value in ("rollback", "hold") else "")
            seen.add(decision.kind.value)
    assert len(seen) >= 2   # the grid's gates decide differently on the same runs


# ---- located errors ---------------------------------------------------------------------------

BAD = """\
name: bad
phases: [{weight: 10%, duration: 30m}]
final_gate: {at: 30m}
slo: {objectives: {e: {metric: error_rate, op: ">", threshold: 1%, window: 5m, sustain: 1m}}}
kayenta:
  stage:
    lifetimeDuration: PT40M
    lookbakMins: 5
    scopes:
      - {scopeName: default, controlScope: baseline, experimentScope: canary}
  config:
    metrics:
      - name: m
        groups: [g]
        query: {type: prometheus, metricName: up, customFilterTemplate: missing}
        analysisConfigurations: {canary: {direction: increse}}
    classifier: {groupWeights: {g: 100}}
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(PlanError) as caught:
        gated_plan_from_text(text, "plan.yaml")
    return caught.value.problems


def test_bad_kayenta_sections_are_reported_with_file_line_and_field():
    problems = _problems(BAD)
    assert any(p.startswith("plan.yaml:8: kayenta.stage.lookbakMins:") for p in problems), problems
    assert any(p.startswith("plan.yaml:16: kayenta.config.metrics.0.analysisConfigurations.canary.direction:")
               for p in problems), problems
    fixed = BAD.replace("lookbakMins", "lookbackMins").replace("increse", "increase")
    problems = _problems(fixed)
    assert any(p.startswith("plan.yaml:15: kayenta.config.metrics.0.query.customFilterTemplate: no template 'missing'")
               for p in problems), problems
    assert any(p.startswith("plan.yaml:6: kayenta.stage: the last analysis") for p in problems), problems
    atlas = fixed.replace("type: prometheus, metricName: up, customFilterTemplate: missing", "type: atlas, q: x")
    problems = _problems(atlas.replace("PT40M", "PT30M"))
    assert problems == ["plan.yaml:15: kayenta.config.metrics.0.query.type: metric 'm' queries 'atlas': rampsim "
                        "simulates Kayenta's Prometheus provider only"], problems
    valid = fixed.replace("PT40M", "PT30M").replace("customFilterTemplate: missing", "customInlineTemplate: 'job=\"x\"'")
    assert isinstance(gate_of(gated_plan_from_text(valid, "plan.yaml")), KayentaGate)
    two = valid.replace("kayenta:", "flagger: {analysis: {interval: 1m, stepWeight: 10}}\nkayenta:")
    assert _problems(two) == ["plan.yaml:6: kayenta: a plan carries one imported gate (argo, flagger or kayenta), "
                              "not 2"]


HEAD = textwrap.dedent("""\
    name: t
    phases: [{weight: 10%, duration: 30m}]
    final_gate: {at: 30m}
    slo: {objectives: {e: {metric: error_rate, op: ">", threshold: 1%, window: 5m, sustain: 1m}}}
    """)


def _section_yaml(section: dict[str, Any]) -> str:
    from rampsim.gates.yamlout import dump
    return dump({"kayenta": section})


def test_a_stage_needs_a_lifetime_and_a_metric_a_scope_of_the_stage():
    section = copy.deepcopy(_section(ERROR_CONFIG))
    del section["stage"]["lifetimeDuration"]
    problems = _problems(HEAD + _section_yaml(section))
    assert len(problems) == 1 and problems[0].startswith("plan.yaml:7: kayenta.stage: ") \
        and "lifetimeDuration" in problems[0], problems
    section = copy.deepcopy(_section(ERROR_CONFIG))
    section["config"]["metrics"][1]["scopeName"] = "other"
    problems = _problems(HEAD + _section_yaml(section))
    assert len(problems) == 1 and "kayenta.config.metrics.1.scopeName: the stage has no scope 'other'" in problems[0]


def test_a_step_leaving_one_value_a_side_per_window_is_refused_where_it_is_written(tmp_path):
    """One value a side makes every metric Error, counted nowhere: every analysis would score 100 and pass, so a
    canary with +20% errors would advance."""
    section = copy.deepcopy(_section(ERROR_CONFIG, lookbackMins=0))
    section["stage"]["scopes"][0]["step"] = 601
    problems = _problems(HEAD + _section_yaml(section))
    assert len(problems) == 1 and problems[0].startswith(
        "plan.yaml:18: kayenta.stage.scopes.0.step: a step of 601 s gives 1 value a side in an analysis window of "
        "10 min (the interval, lookbackMins being 0)"), problems
    section["stage"]["scopes"][0]["step"] = 600   # two values: 00:00 and 00:10
    assert isinstance(gate_of(gated_plan_from_text(HEAD + _section_yaml(section), "plan.yaml")), KayentaGate)
    stage = tmp_path / "stage.json"
    stage.write_text(json.dumps({"type": "kayentaCanary", "canaryConfig": {
        "lifetimeDuration": "PT3H", "beginCanaryAnalysisAfterMins": 5, "lookbackMins": 15,
        "canaryAnalysisIntervalMins": 15, "scopes": [{"scopeName": "default", "step": 1000}]}}, indent=2))
    config = tmp_path / "config.json"
    config.write_text(json.dumps(ERROR_CONFIG))
    with pytest.raises(GateError) as caught:
        import_kayenta(config, stage)
    assert caught.value.problems == [
        f"{stage}:11: canaryConfig.scopes[0].step: a step of 1000 s gives 1 value a side in an analysis window of "
        "15 min (lookbackMins): with fewer than 2, Kayenta's judge scores every metric Error, counted nowhere, so "
        "every analysis scores 100 and passes; give a step of at most 900 s"]


def test_import_refuses_promql_rampsim_cannot_evaluate():
    config = _config(_metric("m", "PromQL:quantile_over_time(0.9, up[5m]) @ start()", "g"))
    with pytest.raises(GateRefused, match="metric 'm'"):
        import_kayenta_data(config, "config.json")


def test_a_final_score_between_marginal_and_pass_holds_at_the_plans_hold_weight(ramp):
    # p99 (not critical) High from +40 ms: its group scores 0 and the canary 70, above marginal 0, below pass 95
    held = with_gate_overrides(ramp, {"kayenta.stage.scoreThresholds.marginal": 0, "actions": {"hold": "2%"}})
    decision = first_terminal_decision(simulate(held, [parse_fault("latency:canary:+40ms@0s")], seed=4).events)
    assert isinstance(decision, Decision)
    assert (decision.kind, decision.time, decision.weight) == (DecisionKind.HOLD, 1800, 0.02)
    assert "final score 70.00 is below the pass threshold 95" in decision.reason


def test_export_writes_the_config_and_stage_that_import_reads_back(tmp_path):
    scenario = "scenarios/ramp-phase-50k-kayenta.yaml"
    config, stage, plan = tmp_path / "config.json", tmp_path / "stage.json", tmp_path / "plan.yaml"
    assert main(["export", "kayenta", scenario, "-o", str(config), "--stage", str(stage)]) == 0
    assert main(["import", "kayenta", str(config), "--stage", str(stage), "--plan", "scenarios/ramp-phase-50k.yaml",
                 "-o", str(plan)]) == 0
    from rampsim.gates.plan_sections import load_gated_plan
    assert load_gated_plan(plan).kayenta == load_gated_plan(scenario).kayenta
    assert main(["export", "argo", scenario]) == 2


@pytest.mark.parametrize("option", [["--step", "\uff160"], ["--pass", "\uff19\uff10"], ["--marginal", "\uff15\uff10"]])
def test_stage_options_are_read_in_ascii_digits_as_a_stage_file_is(option, capsys):
    """``--step ６0 --pass ９0 --marginal ５0`` wrote step 60, pass 90 and marginal 50: int() and float() read any
    Unicode digit, where the same values in a --stage file were refused."""
    with pytest.raises(SystemExit) as exit_:
        main(["import", "kayenta", "config.json", *option])
    assert exit_.value.code == 2 and "ASCII" in capsys.readouterr().err
