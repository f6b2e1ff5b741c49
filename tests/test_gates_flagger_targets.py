"""A Flagger rehearsal shows each check's real bound as its target (a review found 'Target: 0' for every check)."""
from __future__ import annotations

import pytest

from rampsim.cli import main
from rampsim.gates.flagger_engine import _target
from rampsim.gates.flagger_model import FlaggerMetric
from tests.gates_helpers import PODINFO_CANARY

CANARY = PODINFO_CANARY + "    - {name: request-duration, thresholdRange: {max: 500}, interval: 1m}\n"


@pytest.mark.parametrize("metric, target", [
    ({"name": "request-success-rate", "thresholdRange": {"min": 99}}, (">=", 99.0)),
    ({"name": "request-duration", "thresholdRange": {"max": 500}}, ("<=", 500.0)),
    ({"name": "x", "thresholdRange": {"min": 1, "max": 5.5}}, (">= 1 and <=", 5.5)),
    ({"name": "request-success-rate", "threshold": 99}, (">=", 99.0)),     # legacy: fails below it
    ({"name": "request-duration", "threshold": 500}, ("<=", 500.0)),       # legacy: fails above it
])
def test_a_checks_target_is_its_bound(metric, target):
    assert _target(FlaggerMetric.model_validate(metric)) == target


def test_the_rehearsal_report_shows_the_bounds_not_zero(tmp_path, capsys):
    canary = tmp_path / "canary.yaml"
    canary.write_text(CANARY)
    plan = tmp_path / "podinfo.yaml"
    assert main(["import", "flagger", str(canary), "--mesh", "istio", "-o", str(plan)]) == 0
    capsys.readouterr()
    main(["rehearse", str(plan), "--seed", "0", "--out", str(tmp_path / "out")])
    targets = [line.split("Achieved")[0].strip() for line in capsys.readouterr().out.splitlines() if "Target:" in line]
    assert targets and "Target: 0" not in targets, targets
    assert set(targets) == {"│  Target: >= 99", "│  Target: <= 500"}, targets
