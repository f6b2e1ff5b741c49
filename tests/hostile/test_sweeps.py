"""Hostile inputs to sweeps, reports, check and rehearse: never an internal error (70), never mixed results.

Damaged saved chunks are recomputed (with a notice) and the sweep equals a clean run of the same seed;
damaged output directories, result files and arguments get their documented exit code (2 bad
arguments, 5 data unavailable) and a message naming the option or the file.
"""
from __future__ import annotations

import gzip
import json
import shutil
import socket
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest

from rampsim.cli import main
from rampsim.errors import UsageError
from rampsim.experiment.results import SweepResult
from rampsim.experiment.sweep import sweep
from rampsim.experiment.tally import Tally
from rampsim.plan import Plan
from tests.sim_helpers import VALIDATION

PLAN = str(VALIDATION)
REPLICATES, SEED, OTHER_SEED = 3, 7, 8  # one chunk of three healthy 20-minute ramps
FAST = ["--replicates", str(REPLICATES), "--seed", str(SEED), "--workers", "1", "--no-progress"]
OTHER = [str(OTHER_SEED) if part == str(SEED) and FAST[i - 1] == "--seed" else part for i, part in enumerate(FAST)]


def run(argv: list[str]) -> int:
    """The exit code of ``rampsim ARGV``, whether argparse exits or the command returns."""
    try:
        return main(argv)
    except SystemExit as exit:
        return int(exit.code or 0)


def only_chunk(out: Path) -> Path:
    (chunk,) = (out / "chunks").glob("*.npz")
    return chunk


@pytest.fixture(scope="module")
def clean(validation_plan: Plan) -> dict[int, pd.DataFrame]:
    """The runs of a sweep without an output directory, for each seed."""
    return {seed: sweep(validation_plan, replicates=REPLICATES, seed=seed, workers=1, keep_runs=True).runs
            for seed in (SEED, OTHER_SEED)}


@pytest.fixture(scope="module")
def saved(validation_plan: Plan, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """A finished sweep's output directory (chunks, manifest and results, runs kept) for each seed; tests damage
    copies."""
    outs = {}
    for seed in (SEED, OTHER_SEED):
        outs[seed] = tmp_path_factory.mktemp(f"seed{seed}")
        sweep(validation_plan, replicates=REPLICATES, seed=seed, workers=1, out=outs[seed], keep_runs=True)
    return outs


@pytest.fixture
def out(saved: dict[int, Path], tmp_path: Path) -> Path:
    """A copy of the seed-``SEED`` sweep's output directory."""
    return Path(shutil.copytree(saved[SEED], tmp_path / "out"))


# -- saved chunks ---------------------------------------------------------------------------------------------------

def _flip(position: float) -> Callable[[Path, bytes], None]:
    def damage(chunk: Path, foreign: bytes) -> None:
        data = bytearray(chunk.read_bytes())
        data[int(position * (len(data) - 1))] ^= 0x10
        chunk.write_bytes(bytes(data))
    return damage


DAMAGES: dict[str, Callable[[Path, bytes], object]] = {
    "truncated": lambda chunk, foreign: chunk.write_bytes(chunk.read_bytes()[:len(chunk.read_bytes()) // 2]),
    "empty": lambda chunk, foreign: chunk.write_bytes(b""),
    "bit flipped in the arrays": _flip(0.5),
    "bit flipped in the zip directory": _flip(0.95),
    "bit flipped in the checksum": _flip(1.0),
    "another sweep's (other seed, same name)": lambda chunk, foreign: chunk.write_bytes(foreign),
    "garbage": lambda chunk, foreign: chunk.write_bytes(b"PK\x03\x04 not a chunk at all" * 10),
}


@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_an_unusable_chunk_is_recomputed_with_a_notice_never_mixed_in(damage, validation_plan, clean, saved, out,
                                                                      capsys):
    assert not clean[SEED].equals(clean[OTHER_SEED])  # a foreign chunk would show
    chunk = only_chunk(out)
    damage(chunk, only_chunk(saved[OTHER_SEED]).read_bytes())
    resumed = sweep(validation_plan, replicates=REPLICATES, seed=SEED, workers=1, out=out, keep_runs=True)
    pd.testing.assert_frame_equal(resumed.runs, clean[SEED])
    err = capsys.readouterr().err
    assert f"rampsim: {chunk}: " in err and "recomputing it" in err
    again = sweep(validation_plan, replicates=REPLICATES, seed=SEED, workers=1, out=out,
                  keep_runs=True)  # the chunk was written anew
    pd.testing.assert_frame_equal(again.runs, clean[SEED])
    assert "recomputing" not in capsys.readouterr().err


def test_without_its_manifest_a_directory_never_lends_its_chunks_to_another_seed(validation_plan, clean, out, capsys):
    (out / "sweep-spec.json").unlink()
    other = sweep(validation_plan, replicates=REPLICATES, seed=OTHER_SEED, workers=1, out=out, keep_runs=True)
    pd.testing.assert_frame_equal(other.runs, clean[OTHER_SEED])
    assert "a chunk of another sweep" in capsys.readouterr().err


def test_a_garbled_manifest_is_written_again(validation_plan, clean, out, capsys):
    manifest = out / "sweep-spec.json"
    manifest.write_text('{"key": ')
    resumed = sweep(validation_plan, replicates=REPLICATES, seed=SEED, workers=1, out=out, keep_runs=True)
    pd.testing.assert_frame_equal(resumed.runs, clean[SEED])
    assert f"{manifest}: damaged" in capsys.readouterr().err
    assert run(["sweep", PLAN, *OTHER, "--out", str(out)]) == 2  # it guards again
    assert "holds the chunks of another sweep" in capsys.readouterr().err


def test_force_replaces_another_sweep_and_the_default_directory_always_does(clean, out, tmp_path, monkeypatch,
                                                                             capsys):
    assert run(["sweep", PLAN, *OTHER, "--out", str(out), "--force", "--keep-runs"]) == 0
    assert f"{out} held another sweep" in capsys.readouterr().err
    pd.testing.assert_frame_equal(SweepResult.load(out).runs, clean[OTHER_SEED], check_dtype=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)   # the default --out, out/sweep-NAME, under the working directory
    for seed in (SEED, OTHER_SEED, SEED):   # iterating on one plan: each sweep replaces the last, no flag needed
        assert run(["sweep", PLAN, "--replicates", str(REPLICATES), "--seed", str(seed), "--workers", "1",
                    "--no-progress"]) == 0
        (default,) = (cwd / "out").glob("sweep-*")
        assert json.loads((default / "sweep.json").read_text())["seed"] == seed
    assert capsys.readouterr().err.count("held another sweep") == 2
    (default,) = (cwd / "out").glob("sweep-*")
    assert run(["sweep", PLAN, "--replicates", str(REPLICATES), "--seed", str(SEED), "--workers", "1",
                "--no-progress", "--grid", "rules.error_rate_rollback.threshold=0.3%,1%", "--html"]) == 0
    assert (default / "report.html").exists() and (default / "operating-curve.png").exists()
    assert run(["sweep", PLAN, "--replicates", str(REPLICATES), "--seed", str(SEED), "--workers", "1",
                "--no-progress"]) == 0   # replaced: the old sweep's page and its one-axis chart go with it
    assert not (default / "report.html").exists() and not (default / "operating-curve.png").exists()


def _directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _file(path: Path) -> None:
    shutil.rmtree(path)
    path.write_text("not a directory")


@pytest.mark.parametrize("name, replace", [
    ("sweep-spec.json", _directory),
    ("chunks", _file),
    ("chunks/s000-r000000-000003.npz", _directory),
], ids=["manifest is a directory", "chunks is a file", "a chunk is a directory"])
def test_a_replaced_entry_of_the_output_directory_is_exit_2_naming_it(name, replace, out, capsys):
    replace(out / name)
    assert run(["sweep", PLAN, *FAST, "--out", str(out)]) == 2
    assert str(out / name) in capsys.readouterr().err


# -- output paths ---------------------------------------------------------------------------------------------------

def test_a_plan_name_cannot_send_the_default_output_outside_the_working_directory(tmp_path, monkeypatch):
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text(VALIDATION.read_text().replace("name: ramp-phase-5k-validation",
                                                      "name: '../../../../../ESCAPED'", 1))
    work = tmp_path / "work" / "deep"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    assert run(["sweep", str(hostile), *FAST]) == 0
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != hostile]
    assert written and all(work in p.parents for p in written), written
    assert (work / "out" / "sweep-ESCAPED" / "sweep.json").is_file()


@pytest.mark.parametrize("command", [["sweep", PLAN, *FAST], ["rehearse", PLAN], ["report", "RESULTS"]],
                         ids=["sweep", "rehearse", "report"])
@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_an_out_that_is_a_file_or_cannot_be_written_is_exit_2_naming_it(command, where, saved, tmp_path, capsys):
    blocker = tmp_path / "taken"
    blocker.write_text("a file")
    target = blocker if where == "a file" else blocker / "results"
    argv = [str(saved[SEED]) if word == "RESULTS" else word for word in command]
    assert run([*argv, "--out", str(target)]) == 2
    assert str(target) in capsys.readouterr().err
    assert blocker.read_text() == "a file"


# -- sweep arguments ------------------------------------------------------------------------------------------------

def test_sweep_refuses_bad_counts_and_seeds(capsys):
    for option, value in [("--workers", "0"), ("--workers", "-1"), ("--seed", "-1"), ("--replicates", "0"),
                          ("--replicates", "-1")]:
        assert run(["sweep", PLAN, *FAST, option, value]) == 2, (option, value)
        assert f"argument {option}" in capsys.readouterr().err, (option, value)


def test_an_absurd_grid_is_exit_2_with_its_bound(tmp_path, capsys):
    out = str(tmp_path / "out")
    assert run(["sweep", PLAN, *FAST, "--out", out, "--grid",
                "rules.error_rate_rollback.threshold=0.1%..1%:99999999999999"]) == 2
    assert "at most 10,000" in capsys.readouterr().err
    assert run(["sweep", PLAN, *FAST, "--out", out, "--grid", "rules.error_rate_rollback.threshold=0.1%..1%:200",
                "--grid", "rules.p99_rollback.threshold=100ms..300ms:200"]) == 2
    err = capsys.readouterr().err
    assert "200 × 200 = 40,000 gates" in err and "at most 10,000" in err


def test_an_unreachable_dask_scheduler_is_exit_5_within_seconds(tmp_path, capsys):
    pytest.importorskip("distributed")
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = time.monotonic()
    code = run(["sweep", PLAN, *FAST, "--out", str(tmp_path / "out"), "--dask", f"tcp://127.0.0.1:{port}"])
    assert code == 5 and time.monotonic() - started < 15
    assert f"--dask tcp://127.0.0.1:{port}: no Dask scheduler reachable" in capsys.readouterr().err


# -- report ---------------------------------------------------------------------------------------------------------

def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])


def _rewrite_tally(path: Path, gates: int = 0, negative: bool = False, delays: bool = False,
                   squares: int = 0) -> None:
    """Save the tally at ``path`` again with one thing wrong: its gates, a count, a delay too many, or its sums of
    squared harm (``squares``: every one set to it)."""
    tally = Tally.load(path)
    if squares:
        tally.harm_squares[...] = squares
        tally.harm[...] = 10 ** 6    # a sum of squares below (sum)² / runs: no runs have these
    if gates:
        tally = Tally.empty(gates, tally.scenarios, tally.sources)
    if negative:
        tally.outcomes.flat[0] = -1
    if delays:
        tally._delays = [(np.array([0]), np.array([60.0]), np.array([1]))]
    path.write_bytes(tally.to_bytes())


def _runs_alone(path: Path, column: str, change: float) -> None:
    """An older rampsim's results (runs, no tally) whose runs no sweep writes: ``column`` changed by ``change``
    (harm by half a request; a run made both an incident and an environment incident)."""
    (path.parent / "tally.npz").unlink()
    runs = pd.read_csv(path)
    if column == "environment":
        runs.loc[0, ["incident", "environment"]] = True
    else:
        runs[column] = runs[column] + change
    runs.to_csv(path, index=False)


REPORT_DAMAGES: dict[str, tuple[str, Callable[[Path], object]]] = {
    "truncated runs": ("runs.csv.gz", _truncate),
    "runs not gzip": ("runs.csv.gz", lambda path: path.write_bytes(b"\x00\xff garbage " * 50)),
    "runs gzip of garbage": ("runs.csv.gz", lambda path: path.write_bytes(gzip.compress(b"\xff\xfe\x00" * 50))),
    "runs of another table": ("runs.csv.gz", lambda path: path.write_bytes(gzip.compress(b"a,b\n1,2\n"))),
    "runs without rows": ("runs.csv.gz", lambda path: path.write_bytes(
        gzip.compress(gzip.decompress(path.read_bytes()).splitlines(keepends=True)[0]))),
    "tally truncated": ("tally.npz", _truncate),
    "tally garbage": ("tally.npz", lambda path: path.write_bytes(b"PK\x03\x04 not a tally" * 20)),
    "tally of another sweep's gates": ("tally.npz", lambda path: _rewrite_tally(path, gates=2)),
    "tally with a negative count": ("tally.npz", lambda path: _rewrite_tally(path, negative=True)),
    "tally with delays that are not the catches": ("tally.npz", lambda path: _rewrite_tally(path, delays=True)),
    "tally with negative squares": ("tally.npz", lambda path: _rewrite_tally(path, squares=-5)),
    "tally with squares below the sums'": ("tally.npz", lambda path: _rewrite_tally(path, squares=1)),
    "runs alone with harm no sweep counts": ("runs.csv.gz", lambda path: _runs_alone(path, "harmed", 0.5)),
    "runs alone both incident and environment": ("runs.csv.gz", lambda path: _runs_alone(path, "environment", 1)),
    "tally and runs that disagree": ("runs.csv.gz", lambda path: path.write_bytes(gzip.compress(
        gzip.decompress(path.read_bytes()).replace(b",advance,", b",rollback,")))),
    "sweep.json a list": ("sweep.json", lambda path: path.write_text("[1, 2]")),
    "sweep.json truncated": ("sweep.json", _truncate),
    "sweep.json bad costs": ("sweep.json", lambda path: path.write_text('{"costs": {"fr": "cheap"}}')),
    "sweep.json replicates as text": ("sweep.json", lambda path: path.write_text(
        path.read_text().replace('"replicates": ', '"replicates": "abc", "was": '))),
    "sweep.json seed a list": ("sweep.json", lambda path: path.write_text(
        path.read_text().replace('"seed": ', '"seed": [1], "was": '))),
    "grid.csv garbage": ("grid.csv", lambda path: path.write_text("gate,x\nzero,1\n")),
    "sweep.json a directory": ("sweep.json", _directory),
}


@pytest.mark.parametrize("name, damage", REPORT_DAMAGES.values(), ids=REPORT_DAMAGES.keys())
def test_report_on_damaged_results_is_exit_5_naming_the_file(name, damage, out, capsys):
    damage(out / name)
    assert run(["report", str(out)]) == 5
    assert f"rampsim report: {out / name}: " in capsys.readouterr().err


def test_results_without_runs_or_with_runs_alone_are_reported_alike(out, capsys):
    """A sweep without --keep-runs saves no runs; an older rampsim saved runs and no tally: both are read."""
    assert run(["report", str(out)]) == 0
    expected = pd.read_csv(out / "summary.csv")
    for name in ("runs.csv.gz", "tally.npz"):
        shutil.copytree(out, out.parent / name)
        (out.parent / name / name).unlink()
        assert run(["report", str(out.parent / name)]) == 0
        pd.testing.assert_frame_equal(pd.read_csv(out.parent / name / "summary.csv"), expected)
    with pytest.raises(UsageError, match="keep_runs=True"):
        SweepResult.load(out.parent / "runs.csv.gz").runs
    (out / "tally.npz").unlink()
    (out / "runs.csv.gz").unlink()
    assert run(["report", str(out)]) == 5
    assert f"{out}: not a sweep's results (missing tally.npz or runs.csv.gz)" in capsys.readouterr().err


def test_report_on_a_missing_directory_is_exit_5(tmp_path, capsys):
    assert run(["report", str(tmp_path / "nowhere")]) == 5
    assert f"{tmp_path / 'nowhere'}: no such directory" in capsys.readouterr().err
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("costs, field", [("fr=nan", "false_rollback"), ("mi=inf", "missed_incident"),
                                          ("harm=-1", "harmed_request"), ("fr=1e308", "false_rollback")])
def test_non_finite_negative_or_overflowing_costs_are_exit_2(costs, field, saved, capsys):
    """1e308 is finite, but a count of false rollbacks times it is not: every gate cost inf, and the recommendation
    came from the tie-break."""
    assert run(["report", str(saved[SEED]), "--costs", costs]) == 2
    assert f"rampsim report: --costs: cost {field}=" in capsys.readouterr().err


def test_empty_costs_are_exit_2_not_the_defaults(saved, capsys):
    assert run(["report", str(saved[SEED]), "--costs", ""]) == 2
    assert "rampsim report: --costs: costs '': expected NAME=NUMBER" in capsys.readouterr().err


# -- check and rehearse arguments -----------------------------------------------------------------------------------

CHECK = ["check", PLAN, "--max-false-rollback", "50%", "--workers", "1"]
SHORT = ["--batch", "1", "--max-replicates", "1"]  # what runs if a value were wrongly accepted stays short


@pytest.mark.parametrize("arguments, option", [
    ([*SHORT, "--confidence", "0%"], "--confidence"),
    ([*SHORT, "--confidence", "100%"], "--confidence"),
    ([*SHORT, "--max-false-rollback", "200%"], "--max-false-rollback"),
    ([*SHORT, "--max-false-rollback", "100%"], "--max-false-rollback"),   # a bound that can never fail
    ([*SHORT, "--max-missed-incident", "100%"], "--max-missed-incident"),
    ([*SHORT, "--max-detect", "5m", "--detect-quantile", "0%"], "--detect-quantile"),
    ([*SHORT, "--max-detect", "5m", "--detect-quantile", "150%"], "--detect-quantile"),
    ([*SHORT, "--seed", "-1"], "--seed"),
    (["--batch", "0", "--max-replicates", "1"], "--batch"),
    (["--batch", "1", "--max-replicates", "0"], "--max-replicates"),
], ids=["confidence 0%", "confidence 100%", "false rollback 200%", "false rollback 100%", "missed 100%",
        "quantile 0%", "quantile 150%", "seed -1",
        "batch 0", "max replicates 0"])
def test_check_refuses_out_of_range_arguments(arguments, option, capsys):
    assert run([*CHECK, *arguments]) == 2
    assert f"argument {option}" in capsys.readouterr().err


def test_rehearse_refuses_a_negative_seed_and_a_speed_that_is_not_a_positive_number(tmp_path, capsys):
    for option, value in [("--seed", "-1"), ("--speed", "nan"), ("--speed", "inf"), ("--speed", "0")]:
        assert run(["rehearse", PLAN, "--out", str(tmp_path), f"{option}={value}"]) == 2, (option, value)
        assert f"argument {option}" in capsys.readouterr().err, (option, value)


def test_chunks_of_an_older_draw_scheme_are_refused_never_mixed_in(validation_plan, clean, out, monkeypatch, capsys):
    import rampsim.experiment.chunks as chunks

    monkeypatch.setattr(chunks, "DRAW_SCHEME", chunks.DRAW_SCHEME - 1)   # an older rampsim wrote this directory
    older = Path(shutil.copytree(out, out.parent / "older"))
    shutil.rmtree(older / "chunks")
    (older / "sweep-spec.json").unlink()
    sweep(validation_plan, replicates=REPLICATES, seed=SEED, workers=1, out=older, keep_runs=True)
    monkeypatch.undo()
    with pytest.raises(UsageError, match=f"draw scheme {chunks.DRAW_SCHEME - 1} by another rampsim version"):
        sweep(validation_plan, replicates=REPLICATES, seed=SEED, workers=1, out=older, keep_runs=True)
    chunk = only_chunk(out)   # an older scheme's chunk in this sweep's directory: recomputed with a notice
    chunk.write_bytes(only_chunk(older).read_bytes())
    resumed = sweep(validation_plan, replicates=REPLICATES, seed=SEED, workers=1, out=out, keep_runs=True)
    pd.testing.assert_frame_equal(resumed.runs, clean[SEED])
    err = capsys.readouterr().err
    assert f"drawn with draw scheme {chunks.DRAW_SCHEME - 1} by another rampsim version" in err and "recomputing it" in err


# -- lost workers, killed drivers, file modes and stale outputs ------------------------------------------------------

def test_a_lost_worker_is_reported_with_the_way_to_continue_not_as_a_bug(validation_plan, tmp_path, monkeypatch):
    """A review killed a worker mid-sweep (and a dask scheduler): exit 70, "internal error; please report it",
    although every finished chunk was saved and the same command continued from them."""
    from concurrent.futures import Executor, Future
    from concurrent.futures.process import BrokenProcessPool

    from rampsim.experiment.chunks import WorkersLost

    class Broken(Executor):
        def submit(self, fn, /, *args, **kwargs):
            future: Future = Future()
            future.set_exception(BrokenProcessPool("A process in the process pool was terminated abruptly"))
            return future

    with pytest.raises(WorkersLost, match=r"a worker process or the scheduler was lost \(BrokenProcessPool: A process "
                                          r"in the process pool was terminated abruptly\) after 0 of 1 chunks"):
        sweep(validation_plan, replicates=REPLICATES, seed=SEED, executor=Broken(), out=tmp_path / "lost")
    monkeypatch.setattr("rampsim.experiment.chunks.local_executor", lambda workers=None: Broken())
    code = run(["sweep", PLAN, "--replicates", str(REPLICATES), "--seed", str(SEED), "--workers", "2",
                "--no-progress", "--out", str(tmp_path / "cli")])
    assert code == 5   # as an unreachable --dask scheduler; the message says to run the same command again


def test_sweep_workers_exit_when_the_sweep_is_killed(tmp_path):
    """A review killed a sweep with SIGTERM and SIGKILL (as timeout, a cancelled CI job or the OOM killer do): its
    spawned workers lived on, idle, re-parented to init."""
    import os
    import signal
    import subprocess
    import sys

    script = tmp_path / "driver.py"
    script.write_text(
        "import os, sys, time\n"
        "from rampsim.experiment.chunks import local_executor\n"
        "if __name__ == '__main__':\n"
        "    pool = local_executor(1)\n"
        "    print(pool.submit(os.getpid).result(), flush=True)\n"
        "    time.sleep(600)\n")
    driver = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        worker = int(driver.stdout.readline())
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(worker, 0)
            except ProcessLookupError:
                break
            with open(f"/proc/{worker}/stat") as stat:   # a zombie (exited, not reaped by this container's init)
                if stat.read().split(") ")[1].startswith("Z"):
                    break
            time.sleep(0.2)
        else:
            os.kill(worker, signal.SIGKILL)
            pytest.fail(f"worker {worker} outlived its killed driver by 15 s")
    finally:
        driver.kill()


def test_saved_files_follow_the_umask_and_a_stale_report_is_removed(validation_plan, tmp_path):
    """Chunks and the spec were 0600 (a temporary file's mode, kept by the rename): another user could not resume a
    shared sweep. An earlier run's report.html (and charts of another grid) stayed beside new results."""
    import os
    import stat

    out = tmp_path / "shared"
    mask = os.umask(0o022)   # a known umask: under 077 the check below would hold for the 0600 it found
    try:
        assert run(["sweep", PLAN, *FAST, "--out", str(out), "--html",
                    "--grid", "rules.error_rate_rollback.threshold=0.5%,1%",
                    "--grid", "rules.*.sustain=1m,3m"]) == 0
    finally:
        os.umask(mask)
    assert (out / "report.html").exists() and (out / "heatmap.png").exists()
    for path in [out / "sweep-spec.json", *(out / "chunks").glob("*.npz")]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert run(["sweep", PLAN, *FAST, "--out", str(out), "--force",
                "--grid", "rules.error_rate_rollback.threshold=0.5%,1%"]) == 0
    assert not (out / "report.html").exists() and not (out / "heatmap.png").exists()
    assert (out / "operating-curve.png").exists()


def test_rampsim_report_removes_nothing_it_did_not_write(tmp_path):
    """Only a rerun of the sweep clears its earlier outputs: `rampsim report` of the same results, without --html,
    deleted the report.html that `sweep --html` had written (a review)."""
    out = tmp_path / "results"
    assert run(["sweep", PLAN, *FAST, "--out", str(out), "--html"]) == 0
    assert run(["report", str(out)]) == 0
    assert (out / "report.html").exists()
