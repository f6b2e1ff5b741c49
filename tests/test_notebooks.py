"""The notebooks under ``notebooks/`` run top to bottom, and are committed without outputs.

Each notebook is executed with nbclient on the ``python3`` kernel (installed with
``python -m ipykernel install --user --name python3`` if it is missing), from a
temporary working directory, with a small replicate count and one worker:
``RAMPSIM_NOTEBOOK_REPLICATES=30`` and ``RAMPSIM_NOTEBOOK_WORKERS=1`` (the
notebooks' parameters cells read them). Any cell that raises fails the test.

The notebooks are committed **without outputs** (no stale numbers in git). To see
them with outputs, execute a copy; from the repository root::

    jupyter execute notebooks/threshold-tuning.ipynb --output='{notebook_name}-executed'
    jupyter execute notebooks/game-day-rehearsal.ipynb --output='{notebook_name}-executed'
    jupyter execute notebooks/calibration.ipynb --output='{notebook_name}-executed'

which writes ``notebooks/*-executed.ipynb`` (do not commit them). Prefix
``RAMPSIM_NOTEBOOK_REPLICATES=30`` for a quick run of the tuning notebook (the
default, 400 replicates, takes about two and a half minutes on 2 cores; the
calibration notebook under a minute). The calibration notebook reads the shipped
recording ``examples/history/learning-api-1d.csv.gz``, which
``python examples/make_history.py`` regenerates from the reference plan (do so
after changing the plan's ``traffic:`` section or the simulation). To regenerate outputs
in place instead (``jupyter execute --inplace …``, or *Run All* in Jupyter), strip
them again before committing::

    python tests/test_notebooks.py --strip notebooks/*.ipynb

``python tests/test_notebooks.py --check notebooks/*.ipynb`` only reports notebooks
that still hold outputs (what ``test_notebooks_are_committed_without_outputs`` checks).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

# The repository, as tests.sim_helpers.ROOT (not imported from there: this file also runs as a script,
# ``python tests/test_notebooks.py --strip``, where the ``tests`` package is not importable).
ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
NAMES = ["threshold-tuning.ipynb", "game-day-rehearsal.ipynb", "calibration.ipynb"]
KERNEL = "python3"


def _has_outputs(notebook) -> bool:
    return any(cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)
               for cell in notebook.cells)


def strip(path: Path) -> bool:
    """Remove outputs and execution counts from the notebook at ``path``; True when it changed."""
    notebook = nbformat.read(path, as_version=4)
    if not _has_outputs(notebook):
        return False
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
    nbformat.write(notebook, path)
    return True


@pytest.fixture(scope="session")
def kernel_name() -> str:
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        subprocess.run([sys.executable, "-m", "ipykernel", "install", "--user", "--name", KERNEL], check=True)
    return KERNEL


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_top_to_bottom(name, kernel_name, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    # The kernel inherits this environment: few replicates, no process pool, files in tmp_path.
    monkeypatch.setenv("RAMPSIM_NOTEBOOK_REPLICATES", "30")
    monkeypatch.setenv("RAMPSIM_NOTEBOOK_WORKERS", "1")
    monkeypatch.setenv("RAMPSIM_SCENARIOS", str(ROOT / "scenarios"))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the notebooks choose %matplotlib inline
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(notebook, timeout=300, kernel_name=kernel_name,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, naming the cell, when any cell fails

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    kinds = {mime for o in outputs for mime in o.get("data", {})}
    assert "image/png" in kinds, "the notebook should show its charts"
    assert "text/markdown" in kinds, "the notebook should explain its results in computed Markdown"
    assert "text/html" in kinds, "the notebook should show its tables as DataFrames"


@pytest.mark.parametrize("name", NAMES)
def test_notebooks_are_committed_without_outputs(name):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(notebook)
    assert not _has_outputs(notebook), f"strip it: python tests/test_notebooks.py --strip notebooks/{name}"
    tagged = [cell for cell in notebook.cells if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"


if __name__ == "__main__":
    action, *paths = sys.argv[1:] or ["--help"]
    if action not in ("--strip", "--check") or not paths:
        sys.exit(__doc__)
    dirty = []
    for path in map(Path, paths):
        if action == "--strip":
            print(f"{path}: {'stripped' if strip(path) else 'already clean'}")
        elif _has_outputs(nbformat.read(path, as_version=4)):
            dirty.append(path)
            print(f"{path}: has outputs")
    sys.exit(1 if dirty else 0)
