"""Dependencies point one way: the engine knows nothing of simpy, the simulation nothing of charts,
the production adapters nothing of the simulation."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "rampsim"

FORBIDDEN = {
    "engine": {"simpy", "matplotlib", "rampsim.sim", "rampsim.prod", "rampsim.report", "rampsim.experiment",
               "rampsim.faults", "rampsim.cli"},
    "plan": {"simpy", "matplotlib", "rampsim.engine", "rampsim.sim", "rampsim.prod", "rampsim.report",
             "rampsim.experiment", "rampsim.cli"},
    "sim": {"matplotlib", "rampsim.report", "rampsim.prod", "rampsim.experiment", "rampsim.cli"},
    "faults": {"simpy", "matplotlib", "rampsim.sim", "rampsim.report", "rampsim.prod", "rampsim.experiment"},
    "prod": {"simpy", "matplotlib", "rampsim.sim", "rampsim.report", "rampsim.experiment"},
    "experiment": {"matplotlib", "rampsim.report", "rampsim.prod", "rampsim.cli"},
    "report": {"rampsim.prod", "rampsim.cli"},
    "calibration": {"matplotlib", "rampsim.report", "rampsim.cli"},
}


def imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_dependencies_point_one_way(package):
    offences = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        for name in imports(path):
            if any(name == banned or name.startswith(banned + ".") for banned in FORBIDDEN[package]):
                offences.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    assert offences == []
