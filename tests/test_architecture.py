"""Dependencies point one way: the engine knows nothing of simpy, the simulation nothing of charts,
the production adapters nothing of the simulation.

The allow-list lives in pyproject.toml (``[tool.importlinter]``: the layers and a few forbidden
imports) and import-linter checks it, imports inside functions included. What import-linter cannot
see is checked here: imports by name (``importlib.import_module``), which the public API's lazy
exports use.
"""
from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "rampsim"

# The only modules that may import by name: the public API's lazy exports, and the command line
# collecting its own subcommand modules.
DYNAMIC_IMPORTS_ALLOWED = {"rampsim/__init__.py", "rampsim/cli/__init__.py"}


def lint_imports() -> str:
    for path in (str(Path(sys.executable).parent), None):
        found = shutil.which("lint-imports", path=path)
        if found:
            return found
    pytest.fail("lint-imports not found: install the test extra (pip install -e '.[test]') or import-linter")


def test_import_contracts_are_kept():
    # from the project root, so that import-linter reads its pyproject.toml and analyses this checkout
    result = subprocess.run([lint_imports(), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                            timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    contracts = (ROOT / "pyproject.toml").read_text().count("[[tool.importlinter.contracts]]")
    assert re.search(rf"Contracts: {contracts} kept, 0 broken", output), output


def _modules_named(tree: ast.AST) -> list[tuple[int, str]]:
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in {"import_module", "__import__"}:
                calls.append((node.lineno, name))
    return calls


def test_imports_by_name_only_where_allowed():
    """import-linter sees ``import x`` and ``from x import y`` anywhere, but not ``import_module("x")``."""
    offences = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative in DYNAMIC_IMPORTS_ALLOWED:
            continue
        for line, name in _modules_named(ast.parse(path.read_text())):
            offences.append(f"{relative}:{line} calls {name}() (invisible to import-linter)")
    assert offences == []


def _lazy_exports(init: Path) -> dict[str, str] | None:
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "_EXPORTS":
            return ast.literal_eval(node.value)
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_EXPORTS" for t in node.targets):
            return ast.literal_eval(node.value)
    return None


LAZY_SUBPACKAGES = sorted(init.parent.name for init in PACKAGE.glob("*/__init__.py")
                          if _lazy_exports(init) is not None)


def test_lazy_subpackages_found():
    assert {"experiment", "prod"} <= set(LAZY_SUBPACKAGES)


@pytest.mark.parametrize("subpackage", LAZY_SUBPACKAGES)
def test_subpackage_lazy_exports_stay_inside(subpackage):
    """A subpackage's lazy exports (imported by name, so unseen by import-linter) come from the subpackage
    itself: ``rampsim.prod.X`` can never pull in the simulator behind the contracts' back."""
    exports = _lazy_exports(PACKAGE / subpackage / "__init__.py")
    package = f"rampsim.{subpackage}"
    outside = {name: module for name, module in (exports or {}).items() if not module.startswith(package + ".")}
    assert outside == {}
