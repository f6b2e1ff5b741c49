"""A gate's number that is not finite disables its rule, so it is refused wherever it enters, located.

A Flagger ``thresholdRange`` bound of ``.nan``, ``.inf`` or ``1e400`` (YAML reads it as infinity) passes
every value; a Kayenta ``allowedIncrease`` or ``criticalIncrease`` of ``Infinity`` (or ``1e400``) can
never be reached; an Argo ``threshold`` of ``inf`` makes the condition always hold. Each is refused in
the imported files (``file:line: field: message``), in a plan's gate section, and as a sweep's grid value.
"""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest

from rampsim.cli import main
from rampsim.gates.flagger_import import import_flagger
from rampsim.gates.imported_plan import plan_yaml
from rampsim.gates.kayenta_import import import_kayenta
from rampsim.gates.lint import lint_file
from rampsim.gates.plan_sections import gated_plan_from_text, with_gate_overrides
from rampsim.gates.refusals import GateError
from rampsim.plan.loader import PlanError
from tests.test_gates_import import PLAN as ARGO_PLAN

CANARY = """\
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  analysis:
    interval: 1m
    threshold: 5
    maxWeight: 50
    stepWeight: 10
    metrics:
    - name: request-success-rate
      interval: 1m
      thresholdRange: {min: 99}
"""
NOT_FINITE_YAML = (".nan", ".inf", "-.inf", "1e400")

KAYENTA = "scenarios/ramp-phase-50k-kayenta.yaml"
ALLOWED = "kayenta.config.metrics.0.analysisConfigurations.canary.effectSize.allowedIncrease"


def _canary(tmp_path: Path, bound: str) -> Path:
    path = tmp_path / "canary.yaml"
    path.write_text(CANARY.replace("{min: 99}", f"{{min: {bound}}}"))
    return path


@pytest.mark.parametrize("bound", NOT_FINITE_YAML)
def test_flagger_import_and_lint_refuse_a_threshold_range_that_is_not_finite(tmp_path, bound):
    path = _canary(tmp_path, bound)
    expected = f"{path}:14: spec.analysis.metrics.0.thresholdRange.min: Input should be a finite number"
    with pytest.raises(GateError) as caught:
        import_flagger(path, mesh="istio")
    assert caught.value.problems == [expected]
    findings, problems = lint_file(path)
    assert findings == [] and problems == [expected]


def test_flagger_import_command_exits_3_naming_the_line(tmp_path, capsys):
    path = _canary(tmp_path, "1e400")
    assert main(["import", "flagger", str(path), "--mesh", "istio", "-o", str(tmp_path / "plan.yaml")]) == 3
    assert f"{path}:14: spec.analysis.metrics.0.thresholdRange.min: Input should be a finite number" \
        in capsys.readouterr().err
    assert not (tmp_path / "plan.yaml").exists()


def _flagger_plan_text(tmp_path: Path) -> str:
    imported = import_flagger(_canary(tmp_path, "99"), mesh="istio")
    return plan_yaml("flagger", imported.gate, "podinfo", ["canary.yaml"], imported.notes)


def test_a_flagger_plan_section_and_a_sweep_grid_refuse_a_bound_that_is_not_finite(tmp_path):
    text = _flagger_plan_text(tmp_path)
    plan = gated_plan_from_text(text, "plan.yaml")
    assert "min: 99\n" in text
    for bound in NOT_FINITE_YAML:
        with pytest.raises(PlanError) as caught:
            gated_plan_from_text(text.replace("min: 99\n", f"min: {bound}\n"), "plan.yaml")
        [problem] = caught.value.problems
        assert problem.endswith("flagger.analysis.metrics.request-success-rate.thresholdRange.min: "
                                "Input should be a finite number"), problem
        assert problem.startswith("plan.yaml:"), problem
    for value in (math.nan, math.inf, "nan", "inf", "1e400"):
        with pytest.raises(PlanError, match=r"thresholdRange\.max: Input should be a finite number"):
            with_gate_overrides(plan, {"flagger.analysis.metrics.request-success-rate.thresholdRange.max": value})
    varied = with_gate_overrides(plan, {"flagger.analysis.metrics.request-success-rate.thresholdRange.max": 1})
    assert varied.flagger["analysis"]["metrics"]["request-success-rate"]["thresholdRange"]["max"] == 1


def test_an_argo_threshold_that_is_not_finite_is_refused_as_nan_is():
    argo = gated_plan_from_text(ARGO_PLAN.replace('"30"', "30s"), "plan.yaml")
    for value in (math.nan, math.inf, -math.inf, "1e400"):
        with pytest.raises(PlanError, match=r"argo\.metrics\.m\.threshold: Input should be a finite number"):
            with_gate_overrides(argo, {"argo.metrics.m.threshold": value})


# ---- Kayenta ----------------------------------------------------------------------------------

def _kayenta_files(tmp_path: Path) -> tuple[Path, Path, str]:
    config, stage = tmp_path / "config.json", tmp_path / "stage.json"
    assert main(["export", "kayenta", KAYENTA, "-o", str(config), "--stage", str(stage)]) == 0
    return config, stage, config.read_text()


@pytest.mark.parametrize("literal", ["Infinity", "1e400", "-Infinity"])
@pytest.mark.parametrize("field", ["allowedIncrease", "criticalIncrease"])
def test_kayenta_import_refuses_an_effect_size_that_is_not_finite_naming_file_line_and_field(tmp_path, field,
                                                                                              literal):
    config, stage, text = _kayenta_files(tmp_path)
    data = json.loads(text)
    data["metrics"][0]["analysisConfigurations"]["canary"]["effectSize"][field] = 12345.5
    written = json.dumps(data, indent=2).replace("12345.5", literal)
    config.write_text(written)
    line = written[:written.index(literal)].count("\n") + 1
    with pytest.raises(GateError) as caught:
        import_kayenta(config, stage)
    assert caught.value.problems == [f"{config}:{line}: metrics[0] (error-rate).analysisConfigurations.canary."
                                     f"effectSize.{field}: Input should be a finite number"]


def test_the_kayenta_import_command_exits_3_instead_of_writing_an_infinite_bound(tmp_path, capsys):
    config, stage, text = _kayenta_files(tmp_path)
    data = json.loads(text)
    data["metrics"][0]["analysisConfigurations"]["canary"]["effectSize"]["allowedIncrease"] = 12345.5
    config.write_text(json.dumps(data, indent=2).replace("12345.5", "1e400"))
    output = tmp_path / "plan.yaml"
    assert main(["import", "kayenta", str(config), "--stage", str(stage), "-o", str(output)]) == 3
    assert "allowedIncrease: Input should be a finite number" in capsys.readouterr().err
    assert not output.exists()


def test_a_kayenta_plan_section_and_a_sweep_grid_refuse_an_infinite_bound():
    text = Path(KAYENTA).read_text()
    plan = gated_plan_from_text(text, "plan.yaml")
    for value in (math.inf, "inf", "Infinity", "1e400", math.nan):
        with pytest.raises(PlanError, match=rf"{ALLOWED.replace('.', '[.]')}: Input should be a finite number"):
            with_gate_overrides(plan, {ALLOWED: value})
    assert "allowedIncrease: 3" in text
    with pytest.raises(PlanError) as caught:
        gated_plan_from_text(text.replace("allowedIncrease: 3", "allowedIncrease: .inf", 1), "plan.yaml")
    [problem] = caught.value.problems
    assert problem.startswith("plan.yaml:") and problem.endswith(f"{ALLOWED}: Input should be a finite number")


def _stage_with(stage: Path, **fields: Any) -> None:
    data = json.loads(stage.read_text())
    block = copy.deepcopy(data)["canaryConfig"]
    block.update(fields)
    stage.write_text(json.dumps({**data, "canaryConfig": block}, indent=2))


def test_kayenta_score_thresholds_that_are_not_finite_are_refused_in_the_stage_file(tmp_path):
    config, stage, _ = _kayenta_files(tmp_path)
    _stage_with(stage, scoreThresholds={"pass": 95, "marginal": 12345.5})
    stage.write_text(stage.read_text().replace("12345.5", "NaN"))
    line = next(i for i, text in enumerate(stage.read_text().splitlines(), 1) if "NaN" in text)
    with pytest.raises(GateError) as caught:
        import_kayenta(config, stage)
    assert caught.value.problems == [f"{stage}:{line}: canaryConfig.scoreThresholds.marginal: "
                                     f"Input should be a finite number"]


def test_the_reference_kayenta_files_still_import(tmp_path):
    config, stage, _ = _kayenta_files(tmp_path)
    imported = import_kayenta(config, stage)
    assert imported.gate.config.metrics[0].analysis.effectSize.allowedIncrease == 3


def test_lint_of_a_refused_canary_with_its_metric_templates_is_not_clean(tmp_path, capsys):
    """The Canary is refused and its MetricTemplate file holds no gate of its own: nothing was linted, so
    the exit is 3, not the 0 of a clean gate."""
    canary = _canary(tmp_path, "1e400")
    templates = tmp_path / "templates.yaml"
    templates.write_text("apiVersion: flagger.app/v1beta1\nkind: MetricTemplate\nmetadata: {name: errors}\n"
                         "spec:\n  provider: {type: prometheus, address: 'http://prometheus:9090'}\n"
                         "  query: sum(rate(requests_total[1m]))\n")
    assert main(["lint", str(canary), str(templates), "--no-simulate"]) == 3
    assert "not linted:" in capsys.readouterr().err
