"""Writing a plan back with some values changed, its comments and layout kept (``sweep --write-best``)."""
from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from rampsim.cli import main
from rampsim.plan import load_plan
from rampsim.plan.edits import changed_values, with_values
from tests.sim_helpers import MIX_SMALL, VALIDATION

TEXT = """\
# the runbook's gate
rules:
  errors:            # the page at 2am
    metric: error_rate
    threshold: 1%
    sustain: 3m
checkpoints:
  first:
    criteria:
      p99: {metric: p99, op: "<", threshold: 200ms, window: 15m}   # flow style
list: [1, 2, 3]
"""


def test_changed_scalars_are_written_in_place_and_nothing_else_moves():
    edited = with_values(TEXT, {("rules", "errors", "threshold"): "0.5%",
                                ("checkpoints", "first", "criteria", "p99", "threshold"): "150ms",
                                ("list", 1): 20})
    assert edited == (TEXT.replace("threshold: 1%", "threshold: 0.5%").replace("threshold: 200ms", "threshold: 150ms")
                      .replace("[1, 2, 3]", "[1, 20, 3]"))


@given(st.one_of(st.text(max_size=12), st.integers(), st.floats(allow_nan=False), st.booleans(), st.none()))
def test_any_scalar_reads_back_as_itself(value):
    """A value that would read as another type unquoted (``'10'``, ``'yes'``, ``'1e3'``) is quoted, in a block
    mapping and in a flow one; what cannot be written in place is refused (``None``), never written wrong."""
    for path in (("rules", "errors", "sustain"), ("checkpoints", "first", "criteria", "p99", "window"),
                 ("checkpoints", "first", "criteria", "p99", "op")):   # written in double quotes
        edited = with_values(TEXT, {path: value})
        if edited is not None:
            data = yaml.safe_load(edited)
            node = data
            for key in path:
                node = node[key]
            assert node == value and type(node) is type(value)


def test_a_json_plans_small_and_large_numbers_stay_json_numbers():
    """json.dumps writes 1e-05, which YAML (the read-back) takes for text: the edit was refused."""
    import json

    edited = with_values('{"a": 0.5, "b": "x", "c": 3}\n', {("a",): 1e-05, ("c",): 1e16, ("b",): "0.3%"})
    assert edited is not None and json.loads(edited) == {"a": 1e-05, "b": "0.3%", "c": 1e16}


def test_a_quoted_value_is_written_in_the_quotes_the_file_used():
    text = 'a: "1%"   # double\nb: \'2m\'\nc: 3m\n'
    assert with_values(text, {("a",): "0.5%", ("b",): "it's 3m", ("c",): "4m"}) == (
        'a: "0.5%"   # double\nb: \'it\'\'s 3m\'\nc: 4m\n')


@pytest.mark.parametrize("threshold", ["0.5%", 0.005], ids=["as text", "as a number"])
def test_write_best_of_a_json_plan_is_json(tmp_path, capsys, monkeypatch, threshold):
    """A JSON plan came back with its thresholds unquoted under two comment lines: YAML, no longer JSON."""
    import json

    monkeypatch.chdir(tmp_path)
    plan = tmp_path / "plan.json"
    data = yaml.safe_load(VALIDATION.read_text())
    data["rules"]["error_rate_rollback"]["threshold"] = threshold
    plan.write_text(json.dumps(data, indent=2))
    assert main(["sweep", str(plan), "--mix", str(MIX_SMALL), "--grid",
                 "rules.error_rate_rollback.threshold=0.3%,0.45%", "--replicates", "4", "--seed", "3",
                 "--workers", "1", "--no-progress", "--out", "grid", "--write-best", "best.json"]) == 0
    out = capsys.readouterr().out
    assert "not kept" not in out and "is JSON, which has no comments" in out
    written = json.loads((tmp_path / "best.json").read_text())
    assert written["rules"]["error_rate_rollback"]["threshold"] in ("0.3%", "0.45%")
    assert load_plan(tmp_path / "best.json").rules["error_rate_rollback"].threshold in (0.003, 0.0045)


def test_what_is_not_a_scalar_of_the_file_is_not_edited():
    assert with_values(TEXT, {("rules", "errors", "window"): "1m"}) is None   # a key the file does not write
    assert with_values(TEXT, {("rules", "errors"): "x"}) is None              # a mapping
    assert with_values("a: &x 1\nb: *x\n", {("b",): 2}) is None              # an alias: its anchor is shared
    assert changed_values({"a": {"b": 1}}, {"a": {"b": 1, "c": 2}}) is None    # a key added
    assert changed_values({"a": [1, "2m"]}, {"a": [1, "3m"]}) == {("a", 1): "3m"}


def test_write_best_keeps_the_plans_comments_and_layout(tmp_path, capsys, monkeypatch):
    """The recommended gate used to be a fresh YAML dump of the plan: every comment of the runbook was lost and
    flow-style criteria became blocks."""
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(VALIDATION), "--mix", str(MIX_SMALL), "--grid",
                 "rules.error_rate_rollback.threshold=0.3%,0.45%", "--replicates", "4", "--seed", "3",
                 "--workers", "1", "--no-progress", "--out", "grid", "--write-best", "best.yaml"]) == 0
    assert "not kept" not in capsys.readouterr().out
    original = VALIDATION.read_text().splitlines()
    written = (tmp_path / "best.yaml").read_text().splitlines()
    assert written[0].startswith("# ") and written[1].startswith("# for costs")
    differing = [(a, b) for a, b in zip(original, written[2:]) if a != b]
    assert len(written) == len(original) + 2 and len(differing) <= 1
    assert all("threshold:" in a and "threshold:" in b for a, b in differing)
    best = load_plan(tmp_path / "best.yaml")
    assert best.rules["error_rate_rollback"].threshold in (0.003, 0.0045)


def test_write_best_keeps_a_windows_plans_line_endings(tmp_path, capsys, monkeypatch):
    """A CRLF plan came back with LF endings: every line of the diff changed."""
    monkeypatch.chdir(tmp_path)
    plan = tmp_path / "plan.yaml"
    plan.write_bytes(VALIDATION.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    assert main(["sweep", str(plan), "--mix", str(MIX_SMALL),
                 "--grid", "rules.error_rate_rollback.threshold=0.3%,0.45%", "--replicates", "4", "--seed", "3", "--workers", "1", "--no-progress", "--out", "grid",
                 "--write-best", "best.yaml"]) == 0
    assert "not kept" not in capsys.readouterr().out
    written = (tmp_path / "best.yaml").read_bytes()
    assert written.count(b"\r\n") == written.count(b"\n") == plan.read_bytes().count(b"\n") + 2


def test_the_header_takes_the_line_ending_of_the_plans_first_line(tmp_path, monkeypatch):
    """One CRLF line in an LF plan (a paste from another editor) gave the header CRLF endings."""
    monkeypatch.chdir(tmp_path)
    plan = tmp_path / "plan.yaml"
    text = VALIDATION.read_text().replace("\r\n", "\n")
    assert text.endswith("\n")
    plan.write_bytes((text[:-1] + "\r\n").encode())   # the last line alone ends CRLF
    assert main(["sweep", str(plan), "--mix", str(MIX_SMALL), "--grid", "rules.error_rate_rollback.threshold=0.3%,0.45%",
                 "--replicates", "4", "--seed", "3", "--workers", "1", "--no-progress", "--out", "grid",
                 "--write-best", "best.yaml"]) == 0
    written = (tmp_path / "best.yaml").read_bytes()
    assert written.count(b"\r\n") == 1 and written.endswith(b"\r\n")


def test_a_plan_file_changed_since_it_was_read_is_not_edited(tmp_path):
    """The recommended values are written into the plan's own text only while that text still holds the plan."""
    from rampsim.cli.sweep import _edited_plan_text
    from rampsim.plan import with_overrides

    path = tmp_path / "plan.yaml"
    path.write_text(VALIDATION.read_text())
    plan = load_plan(path)
    best = with_overrides(plan, {"rules.error_rate_rollback.threshold": "0.3%"})
    edited = _edited_plan_text(plan, best)
    assert edited is not None and load_plan_text(edited).rules["error_rate_rollback"].threshold == 0.003
    path.write_text(VALIDATION.read_text().replace("name: ", "name: edited-", 1))
    assert _edited_plan_text(plan, best) is None


def load_plan_text(text: str):
    from rampsim.plan.loader import plan_from_text

    return plan_from_text(text, "edited.yaml")
