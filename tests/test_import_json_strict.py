"""The JSON rampsim reads (Kayenta canary configs, Spinnaker stages, webhook payloads) is read strictly and located.

A repeated key is refused naming the file, line and key (Python's ``json`` and Jackson keep the last
value silently); a stage's problems name the stage file, its line and the field as the file writes it;
a stage field Orca does not have is an error with the closest one (a misspelt ``lookbakMins`` would be 0).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rampsim.cli import main
from rampsim.gates.kayenta_import import import_kayenta
from rampsim.gates.refusals import GateError
from rampsim.errors import InvalidPlanError, UsageError
from rampsim.judges import load_kayenta_config
from rampsim.plan.json_source import parse_json
from rampsim.plan.source import SourceError
from rampsim.prod.webhook import _payload

KAYENTA = "scenarios/ramp-phase-50k-kayenta.yaml"


def test_parse_json_gives_each_key_path_its_line_and_refuses_a_repeated_key_anywhere():
    document = parse_json('{"a": 1,\n "b": [\n  {"c": 2},\n  3]}', "f.json")
    assert document.data == {"a": 1, "b": [{"c": 2}, 3]}
    assert document.lines == {("a",): 1, ("b",): 2, ("b", 0): 3, ("b", 0, "c"): 3, ("b", 1): 4}
    with pytest.raises(SourceError, match=r"^f\.json:3: b\.0\.c: duplicate key 'c' \(first written on line 1\)$"):
        parse_json('{"b": [{"c": 2,\n\n "c": 3}]}', "f.json")
    with pytest.raises(SourceError, match=r"^f\.json:1: a: duplicate key 'a' \(first written on line 1\)$"):
        parse_json('{"a": 1, "a": 1}', "f.json")   # even with the same value
    with pytest.raises(SourceError, match=r"^f\.json:2: not JSON: "):
        parse_json('{"a": 1,\n', "f.json")
    assert parse_json('{"x": NaN, "y": 1e400}', "f.json").data == {"x": pytest.approx(float("nan"), nan_ok=True),
                                                                      "y": float("inf")}


def _files(tmp_path: Path) -> tuple[Path, Path]:
    config, stage = tmp_path / "config.json", tmp_path / "stage.json"
    assert main(["export", "kayenta", KAYENTA, "-o", str(config), "--stage", str(stage)]) == 0
    return config, stage


def _line(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_a_repeated_key_in_the_canary_config_is_refused_naming_file_line_and_key(tmp_path, capsys):
    config, stage = _files(tmp_path)
    text = config.read_text()
    assert text.count('"allowedIncrease": 3') == 1
    config.write_text(text.replace('"allowedIncrease": 3', '"allowedIncrease": 3, "allowedIncrease": 1000000'))
    line = _line(config, '"allowedIncrease": 3')
    expected = (f"{config}:{line}: metrics.0.analysisConfigurations.canary.effectSize.allowedIncrease: "
                f"duplicate key 'allowedIncrease' (first written on line {line})")
    with pytest.raises(GateError) as caught:
        import_kayenta(config, stage)
    assert caught.value.problems == [expected]
    with pytest.raises(InvalidPlanError) as refused:
        load_kayenta_config(config)
    assert str(refused.value) == expected
    output = tmp_path / "plan.yaml"
    assert main(["import", "kayenta", str(config), "--stage", str(stage), "-o", str(output)]) == 3
    assert expected in capsys.readouterr().err and not output.exists()


def test_a_repeated_key_in_the_stage_is_refused_naming_the_stage_file(tmp_path):
    config, stage = _files(tmp_path)
    text = stage.read_text()
    assert text.count('"lookbackMins": 15') == 1
    stage.write_text(text.replace('"lookbackMins": 15', '"lookbackMins": 15,\n    "lookbackMins": 0'))
    first = _line(stage, '"lookbackMins": 15')
    with pytest.raises(GateError) as caught:
        import_kayenta(config, stage)
    assert caught.value.problems == [f"{stage}:{first + 1}: canaryConfig.lookbackMins: duplicate key 'lookbackMins' "
                                     f"(first written on line {first})"]


def _stage_with(stage: Path, **fields: Any) -> None:
    data = json.loads(stage.read_text())
    data["canaryConfig"].update(fields)
    stage.write_text(json.dumps(data, indent=2))


def test_a_stage_problem_names_the_stage_file_its_line_and_the_field_as_written(tmp_path):
    config, stage = _files(tmp_path)
    _stage_with(stage, scoreThresholds={"pass": 95, "marginal": -1})
    with pytest.raises(GateError) as caught:
        import_kayenta(config, stage)
    assert caught.value.problems == [f"{stage}:{_line(stage, '-1')}: canaryConfig.scoreThresholds.marginal: "
                                     f"Input should be greater than or equal to 0"]


def test_a_scope_problem_is_located_at_the_scope_the_file_writes(tmp_path):
    config, stage = _files(tmp_path)
    data = json.loads(stage.read_text())
    scope = data["canaryConfig"]["scopes"][0]
    data["canaryConfig"]["scopes"] = [{**scope, "scopeName": "other"}, {**scope, "step": -5}]
    stage.write_text(json.dumps(data, indent=2))
    with pytest.raises(GateError) as caught:
        import_kayenta(config, stage)
    assert caught.value.problems == [f"{stage}:{_line(stage, '-5')}: canaryConfig.scopes[1].step: "
                                     f"Input should be greater than 0"]


def test_a_misspelt_stage_field_is_an_error_with_the_closest_field_and_a_known_one_a_note(tmp_path):
    config, stage = _files(tmp_path)
    text = stage.read_text()
    stage.write_text(text.replace('"lookbackMins"', '"lookbakMins"'))
    with pytest.raises(GateError) as caught:
        import_kayenta(config, stage)
    [problem] = caught.value.problems
    assert problem.startswith(f"{stage}:{_line(stage, 'lookbakMins')}: canaryConfig.lookbakMins: unknown field; "
                              f"did you mean 'lookbackMins'? fields here: "), problem
    stage.write_text(text)
    # Deck (Spinnaker's UI) writes combinedCanaryResultStrategy into every stage it saves
    _stage_with(stage, siteLocal={"k": "v"}, baselineAnalysisOffsetInMins=0, combinedCanaryResultStrategy="LOWEST")
    imported = import_kayenta(config, stage)
    assert "stage fields not simulated: baselineAnalysisOffsetInMins, siteLocal, combinedCanaryResultStrategy" \
        in imported.notes
    assert imported.gate.stage.lookbackMins == 15


def test_a_webhook_payload_that_repeats_a_key_is_refused():
    with pytest.raises(UsageError, match=r"^body:1: name: duplicate key 'name' \(first written on line 1\)$"):
        _payload(b'{"name": "a", "name": "c", "namespace": "b"}')
    with pytest.raises(UsageError, match=r"metadata\.start: duplicate key 'start'"):
        _payload(b'{"name": "a", "namespace": "b", "metadata": {"start": "x", "start": "y"}}')
    assert _payload('{"name": "é", "namespace": "b"}'.encode("utf-16")) == {"name": "é", "namespace": "b"}
    with pytest.raises(UsageError, match="nested too deeply"):
        _payload(b"[" * 100_000)


@pytest.mark.parametrize("text", [
    '{"a": [1, {"b": 2.5e3}], "c": null}', '[1, 2]', '"x"', '{"a": {"a": 1}}', '{"a": 1, "b": {"c": 1, "c": 2}}',
    '{"a": 1,\n "a": 2}', '{a: 1}', '', '[' * 3000 + ']' * 3000, '{"x": NaN, "y": Infinity}',
])
def test_the_fast_reader_gives_the_located_readers_data_and_messages(text):
    """A request body is read by the C decoder (about 50 times faster), with the same data and the same refusals."""
    from rampsim.plan.json_source import parse_json_data

    try:
        expected: object = parse_json(text, "body").data
    except SourceError as exc:
        expected = str(exc)
    try:
        got: object = parse_json_data(text, "body")
    except SourceError as exc:
        got = str(exc)
    assert json.dumps(got) == json.dumps(expected)


@pytest.mark.parametrize("scopes, message", [
    ("x", "canaryConfig.scopes: a list of scopes"),
    ([5], "canaryConfig.scopes.0: a scope is an object"),
    ([{"scopeName": 5}], "canaryConfig.scopes.0.scopeName: a scope's name is text, got 5"),
    ([{"scopeName": "default"}, {"scopeName": "default", "step": -1}],
     "canaryConfig.scopes.1.scopeName: a second scope named 'default' (the first is scopes[0])"),
])
def test_stage_scopes_that_would_be_dropped_unseen_are_refused(tmp_path, scopes, message):
    config, stage = _files(tmp_path)
    _stage_with(stage, scopes=scopes)
    with pytest.raises(GateError) as caught:
        import_kayenta(config, stage)
    [problem] = caught.value.problems
    assert problem.startswith(f"{stage}:") and message in problem, problem


def test_a_stage_scope_no_metric_uses_is_noted_with_the_closest_name(tmp_path):
    config, stage = _files(tmp_path)
    scopes = json.loads(stage.read_text())["canaryConfig"]["scopes"]
    _stage_with(stage, scopes=[*scopes, {**scopes[0], "scopeName": "defualt", "step": 30}])
    imported = import_kayenta(config, stage)
    assert any("stage scope 'defualt' is used by no metric" in note and "did you mean 'default'?" in note
               for note in imported.notes), imported.notes
