from rampsim.cli import main
from tests.sim_helpers import REFERENCE


def test_reference_plan_validates(capsys):
    assert main(["validate", str(REFERENCE)]) == 0
    assert "valid plan 'ramp-phase-50k'" in capsys.readouterr().out
