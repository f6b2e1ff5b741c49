"""The public API: ``import rampsim`` is light, and the names it and its subpackages export resolve."""
from __future__ import annotations

import ast
import importlib
import json
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import rampsim
import rampsim.experiment
import rampsim.prod

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["rampsim", "rampsim.experiment", "rampsim.prod", "rampsim.sim"]
HEAVY = ["simpy", "pandas", "matplotlib", "scipy", "hypothesis"]


def fresh_python(code: str) -> subprocess.CompletedProcess:
    """``code`` run by a new interpreter that imports this checkout's rampsim, from any working directory."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("name", PACKAGES)
def test_every_exported_name_resolves(name):
    package = importlib.import_module(name)
    assert len(package.__all__) == len(set(package.__all__))
    missing = [n for n in package.__all__ if getattr(package, n, None) is None]
    assert missing == []
    assert set(package.__all__) <= set(dir(package))


def test_the_names_a_user_needs():
    assert {"load_plan", "Plan", "simulate", "sweep", "check", "DecisionEngine", "SweepResult", "Costs", "Mix",
            "load_mix", "RampsimError", "UsageError", "InvalidPlanError", "DataUnavailable", "Interrupted",
            "__version__"} <= set(rampsim.__all__)
    assert {"GateRun", "PrometheusSource", "FileSource", "Naming", "load_naming"} <= set(rampsim.prod.__all__)
    assert {"Mix", "load_mix", "SweepResult", "Costs"} <= set(rampsim.experiment.__all__)
    assert rampsim.load_plan is importlib.import_module("rampsim.plan.loader").load_plan
    assert issubclass(rampsim.InvalidPlanError, rampsim.RampsimError)


@pytest.mark.parametrize("name", PACKAGES)
def test_no_export_shadows_a_submodule(name):
    """``rampsim.experiment.sweep`` is a module: exporting a function of that name would make
    ``from rampsim.experiment import sweep`` depend on whether the module was imported already."""
    package = importlib.import_module(name)
    submodules = {m.name for m in pkgutil.iter_modules(package.__path__)}
    assert submodules & set(package.__all__) == set()


def _type_checking_imports(init: Path) -> dict[str, str]:
    names = {}
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom), ast.dump(statement)
                names.update({alias.asname or alias.name: statement.module for alias in statement.names})
    return names


@pytest.mark.parametrize("name", PACKAGES)
def test_type_checkers_see_the_lazy_names(name):
    """The ``if TYPE_CHECKING:`` imports (what mypy sees) are the lazy table (what runs)."""
    package = importlib.import_module(name)
    assert _type_checking_imports(Path(package.__file__)) == package._EXPORTS
    assert set(package.__all__) - {"__version__"} == set(package._EXPORTS)


@pytest.mark.parametrize("name", PACKAGES)
def test_import_is_light(name):
    result = fresh_python(f"import json, sys, {name}; print(json.dumps(sorted(sys.modules)))")
    assert result.returncode == 0, result.stderr
    modules = set(json.loads(result.stdout))
    assert [m for m in HEAVY if m in modules] == []
    assert sorted(m for m in modules if m.startswith("rampsim")) == sorted({"rampsim", name})


def test_the_root_imports_nothing_heavy_at_all():
    result = fresh_python("import json, sys, rampsim; print(json.dumps(sorted(sys.modules)))")
    modules = set(json.loads(result.stdout))
    assert [m for m in ["numpy", "pydantic", "yaml", "rich", *HEAVY] if m in modules] == []


def test_a_name_is_imported_on_first_use_only():
    result = fresh_python("import sys, rampsim\n"
                          "assert 'rampsim.plan.loader' not in sys.modules\n"
                          "rampsim.load_plan\n"
                          "assert 'rampsim.plan.loader' in sys.modules and 'load_plan' in vars(rampsim)\n"
                          "assert 'simpy' not in sys.modules\n")
    assert result.returncode == 0, result.stderr


def test_an_unknown_name_is_an_attribute_error_that_helps():
    with pytest.raises(AttributeError, match=r"no attribute 'laod_plan'; did you mean 'load_plan'\?") as info:
        rampsim.laod_plan  # noqa: B018
    assert info.value.name == "laod_plan"
    assert not hasattr(rampsim, "nothing_of_the_sort")
    with pytest.raises(AttributeError, match="public names: .*GateRun"):
        rampsim.prod.nothing_of_the_sort  # noqa: B018
    with pytest.raises(ImportError):
        from rampsim import nothing_of_the_sort  # noqa: F401


def test_an_unimported_submodule_is_named_as_such():
    result = fresh_python("import rampsim\n"
                          "try:\n    rampsim.calibration\n"
                          "except AttributeError as exc:\n    print(exc)\n")
    assert "import rampsim.calibration" in result.stdout, result.stdout + result.stderr


def test_version_is_the_project_version():
    declared = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)
    assert declared and rampsim.__version__ == declared.group(1)


def test_type_information_is_shipped():
    assert (ROOT / "rampsim" / "py.typed").is_file()
    assert re.search(r'\[tool\.setuptools\.package-data\]\s*rampsim = \[[^]]*"py\.typed"',
                     (ROOT / "pyproject.toml").read_text())


def test_end_to_end_through_the_public_api(tmp_path):
    plan = rampsim.load_plan(ROOT / "scenarios" / "ramp-phase-50k.yaml")
    assert isinstance(plan, rampsim.Plan)
    engine = rampsim.DecisionEngine(plan)
    assert not engine.done
    assert engine.weight == plan.phases[0].weight

    run = rampsim.simulate(plan, faults=[rampsim.parse_fault("error-rate:canary:+2%@10m")], seed=3,
                           engine_factory=rampsim.DecisionEngine)
    assert run.outcome.decision is not None and run.outcome.decision.value in {"rollback", "hold"}

    broken = tmp_path / "broken.yaml"
    broken.write_text("phases: 3\n")
    with pytest.raises(rampsim.InvalidPlanError, match="broken.yaml"):
        rampsim.load_plan(broken)


@pytest.mark.parametrize("call, arguments, message", [
    ("sweep", {"seed": 1.9}, "seed must be a whole number, got 1.9"),
    ("sweep", {"replicates": 10.9}, "replicates must be a whole number, got 10.9"),
    ("sweep", {"workers": 1.5}, "workers must be a whole number, got 1.5"),
    ("sweep", {"seed": "7"}, "seed must be a whole number, got '7'"),
    ("sweep", {"workers": 0}, "workers must be at least 1, got 0"),
    ("check", {"seed": 1.5}, "seed must be a whole number, got 1.5"),
    ("check", {"max_false_rollback": 1}, "max_false_rollback 100%: a rate is never above 100%, so this bound could "
                                         "never fail"),
    ("check", {"max_false_rollback": 0.0}, "max_false_rollback 0%: a bound of 0% or less could never be met"),
    ("check", {"max_false_rollback": float("nan")}, "max_false_rollback must be a rate"),
    ("simulate", {"seed": -1}, "seed must be at least 0, got -1"),
    ("simulate", {"seed": True}, "seed must be a whole number, got True"),
    ("simulate", {"faults": ["error-rate:canary:+1%@1m"]}, "faults must be a sequence of Fault objects"),
])
def test_api_arguments_are_checked_eagerly_never_truncated(validation_plan, call, arguments, message):
    """A float seed is never truncated to another seed's results; every refusal names the argument."""
    from rampsim.errors import UsageError

    defaults = {"sweep": {"replicates": 2, "seed": 1, "workers": 1}, "simulate": {},
                "check": {"max_false_rollback": 0.5, "batch": 5, "max_replicates": 5, "workers": 1}}[call]
    with pytest.raises(UsageError, match=re.escape(message)):
        getattr(rampsim, call)(validation_plan, **{**defaults, **arguments})


def test_a_sweep_worker_of_a_plan_gate_loads_no_gate_package_promql_pandas_nor_scipy_optimize_or_stats():
    """A worker process starts for every sweep: what it imports is start-up time every sweep pays."""
    code = ("import json, sys\n"
            "from rampsim.experiment.chunks import SweepSpec, run_chunk, compile_grid\n"
            "from rampsim.experiment.mix import single_scenario_mix\n"
            "from rampsim.experiment.axes import parse_axis\n"
            "from rampsim.plan import load_plan\n"
            "plan = load_plan('scenarios/ramp-phase-50k.yaml')\n"
            "spec = SweepSpec.of(plan, single_scenario_mix(plan), [parse_axis('rules.*.sustain=1m,3m')], 1, 1)\n"
            "gates = compile_grid(spec)\n"
            "run_chunk(spec, gates, 0, 0, 1)\n"
            "print(json.dumps(sorted(sys.modules)))\n")
    result = fresh_python(code)
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    heavy = ("rampsim.gates", "rampsim.promql", "pandas", "matplotlib", "scipy.optimize", "scipy.stats")
    assert sorted(m for m in loaded if m.startswith(heavy)) == []
