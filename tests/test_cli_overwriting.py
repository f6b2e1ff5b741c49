"""Commands that write a file never write it over one of the files they read."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rampsim.cli import main

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


@pytest.mark.parametrize("command, reads", [
    (["import", "argo", "{input}"], "template"),
    (["import", "argo", "t.yaml", "--rollout", "{input}"], "--rollout"),
    (["import", "flagger", "{input}"], "Canary"),
    (["import", "flagger", "c.yaml", "--metric-template", "m.yaml", "--metric-template", "{input}"],
     "--metric-template"),
    (["import", "kayenta", "{input}"], "config"),
    (["import", "kayenta", "config.json", "--stage", "{input}"], "--stage"),
    (["import", "kayenta", "config.json", "--plan", "{input}"], "--plan"),
])
def test_an_import_refuses_an_output_that_is_one_of_its_inputs(command, reads, tmp_path, capsys):
    target = tmp_path / "input.yaml"
    target.write_text("kind: kept as it was\n")
    argv = [str(target) if part == "{input}" else part for part in command]
    assert main([*argv, "-o", str(target)]) == 2
    assert f"that is the {reads} file this command reads" in capsys.readouterr().err
    assert target.read_text() == "kind: kept as it was\n"


@pytest.mark.parametrize("option", ["-o", "--stage"])
def test_export_refuses_writing_over_its_plan(option, tmp_path, capsys):
    plan = tmp_path / "plan.yaml"
    shutil.copy(SCENARIOS / "ramp-phase-50k-kayenta.yaml", plan)
    before = plan.read_bytes()
    assert main(["export", "kayenta", str(plan), option, str(plan)]) == 2
    assert "that is the plan file this command reads" in capsys.readouterr().err
    assert plan.read_bytes() == before


def test_export_refuses_one_file_for_the_config_and_the_stage(tmp_path, capsys):
    plan = SCENARIOS / "ramp-phase-50k-kayenta.yaml"
    both = tmp_path / "kayenta.json"
    assert main(["export", "kayenta", str(plan), "-o", str(both), "--stage", str(both)]) == 2
    assert "the same file as -o" in capsys.readouterr().err and not both.exists()


def test_a_hard_link_to_an_input_is_that_input(tmp_path, capsys):
    """A review wrote --write-best through a hard link to the swept plan, which changed: a hard link is another
    name for the same file."""
    plan = tmp_path / "plan.yaml"
    shutil.copy(SCENARIOS / "ramp-phase-50k-kayenta.yaml", plan)
    link = tmp_path / "link.yaml"
    link.hardlink_to(plan)
    before = plan.read_bytes()
    assert main(["export", "kayenta", str(plan), "-o", str(link)]) == 2
    assert "that is the plan file this command reads" in capsys.readouterr().err
    assert plan.read_bytes() == before


def test_write_best_that_cannot_be_written_is_refused_before_the_sweep(tmp_path, capsys):
    """A review found a --write-best into a missing directory refused only after the whole sweep had run."""


    plan = str(Path(__file__).parent.parent / "scenarios" / "ramp-phase-5k-validation.yaml")
    assert main(["sweep", plan, "--replicates", "2", "--out", str(tmp_path / "out"),
                 "--write-best", str(tmp_path / "no" / "best.yaml")]) == 2
    assert f"--write-best {tmp_path / 'no' / 'best.yaml'}: no directory" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
