"""The production path runs without the simulator's dependencies (`pip install rampsim`, no extras).

A child process blocks simpy, scipy, pandas, matplotlib and hypothesis (as if not installed),
then runs ``validate``, ``explain --promql`` and ``gate --replay``: each must work. A command
that needs the simulator says which extra to install, with exit 2.
"""
import subprocess
import sys

from rampsim.prod.openmetrics import write_openmetrics
from tests.sim_helpers import REFERENCE as PLAN, ROOT

START = 1740787200.0

CHILD = """
import importlib.abc, sys
BLOCKED = {"simpy", "scipy", "pandas", "matplotlib", "hypothesis"}
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Absent())
from rampsim.cli import main
code = main(sys.argv[1:])
loaded = sorted(BLOCKED & {m.partition(".")[0] for m in sys.modules})
print("LOADED", loaded, file=sys.stderr)
sys.exit(code)
"""


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CHILD, *args], cwd=ROOT, capture_output=True, text=True)


def test_validate_explain_and_gate_run_without_the_simulator(tmp_path, healthy_telemetry):
    recording = tmp_path / "healthy.om"
    with recording.open("w") as out:
        write_openmetrics(healthy_telemetry, out, START)
    for args, code in [(["validate", str(PLAN)], 0), (["explain", str(PLAN), "--promql"], 0),
                       (["gate", str(PLAN), "--replay", str(recording)], 0)]:
        result = run(*args)
        assert result.returncode == code, (args, result.stdout[-2000:], result.stderr[-2000:])
        assert "LOADED []" in result.stderr


def test_a_simulation_command_names_the_extra_to_install():
    result = run("rehearse", str(PLAN))
    assert result.returncode == 2, result.stderr[-2000:]
    assert "pip install 'rampsim[sim]'" in result.stderr
