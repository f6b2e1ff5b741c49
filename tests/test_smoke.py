from rampsim.cli import main


def test_reference_plan_validates(capsys):
    assert main(["validate", "scenarios/ramp-phase-50k.yaml"]) == 0
    assert "valid plan 'ramp-phase-50k'" in capsys.readouterr().out
