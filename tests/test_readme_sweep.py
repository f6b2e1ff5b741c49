"""The README's first sweep gives a user something to tune: under the reference plan's realistic noise,
false rollbacks fall as the swept threshold rises, with distinct rates across at least half the grid."""
from __future__ import annotations

import re
import shlex

import pandas as pd
import pytest

from rampsim.cli import main
from tests.sim_helpers import ROOT


def first_sweep_command() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text[text.index("## From install to first chart"):]
    block = block[block.index("```sh") + 5:block.index("```", block.index("```sh") + 5)]
    command = re.search(r"^rampsim sweep .*?(?<!\\)$", block.replace("\\\n", " "), re.M | re.S)
    assert command, "no rampsim sweep in the README's first chart section"
    return shlex.split(command.group(0))[1:]


@pytest.mark.slow
def test_the_readme_first_sweep_shows_the_threshold_mattering(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    argv = first_sweep_command() + ["--out", str(tmp_path / "sweep"), "--no-progress"]
    assert main(argv) == 0
    summary = pd.read_csv(tmp_path / "sweep" / "summary.csv")
    threshold = next(c for c in summary.columns if c.endswith(".threshold"))
    summary["value"] = summary[threshold].str.rstrip("%").astype(float)
    for _, per_sustain in summary.groupby("rules.*.sustain"):
        rates = per_sustain.sort_values("value")["false_rollbacks"].to_numpy()
        assert (rates[1:] <= rates[:-1]).all(), rates          # common random numbers: never rises
        assert len(set(rates)) >= len(rates) / 2, rates         # distinct across at least half the grid
        assert rates[0] > rates[-1]
