"""A bug is exit 70 in every command, never a code that reads as a verdict or as bad arguments.

Each case injects a bare ``ValueError`` (the class commands used to catch broadly, turning bugs
into "bad arguments") deep inside one command.
"""
from __future__ import annotations

import errno
import os

import pytest

from rampsim.cli import EXIT_INTERNAL_ERROR, build_parser, main
from tests.sim_helpers import REFERENCE, VALIDATION

build_parser()  # import every command module first, so no patch below is bound into one by its import

PLAN = str(REFERENCE)
HISTORY_ARGS = ["--replay", "history.csv"]


def _raise(exception: Exception):
    def injected(*args, **kwargs):
        raise exception
    return injected


CASES = [
    (["validate", PLAN], "rampsim.plan.loader.plan_from_document", ValueError),
    (["explain", PLAN], "rampsim.cli.plan_commands.load_or_report", ValueError),
    (["rehearse", PLAN], "rampsim.sim.simulate", ValueError),
    (["sweep", str(VALIDATION), "--replicates", "2", "--workers", "1", "--no-progress"],
     "rampsim.experiment.sweep.run_chunks", ValueError),
    (["check", str(VALIDATION), "--max-false-rollback", "50%", "--workers", "1"],
     "rampsim.experiment.check.check", ValueError),
    (["report", "results"], "rampsim.experiment.results.SweepResult.load", ValueError),
    (["gate", PLAN, "--replay", "recording.csv"], "rampsim.cli.gate.GateRun.run_until", ValueError),
    (["serve", PLAN, "--prometheus", "http://127.0.0.1:9"], "rampsim.cli.serve.serve_webhook", ValueError),
    (["calibrate", PLAN, *HISTORY_ARGS], "rampsim.calibration.fit.calibrate", ValueError),
    (["backtest", PLAN, *HISTORY_ARGS], "rampsim.calibration.backtest.backtest", ValueError),
]


@pytest.fixture
def recordings(tmp_path, monkeypatch):
    """A tiny valid recording under both names the cases use, in the working directory (every segment of the plan:
    calibrate and backtest refuse a history without one)."""
    monkeypatch.chdir(tmp_path)
    columns = ",".join(f'"rampsim_requests_total{{arm=""baseline"",segment=""{s}""}}"' for s in "ABC")
    text = f"timestamp,{columns}\n0,1,1,1\n15,2,2,2\n"
    for name in ("history.csv", "recording.csv"):
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize("argv, target, exception", CASES, ids=[case[0][0] for case in CASES])
def test_an_internal_error_exits_70_with_a_hint(argv, target, exception, recordings, monkeypatch, capsys):
    monkeypatch.setattr(target, _raise(exception("injected")))
    assert main(argv) == EXIT_INTERNAL_ERROR
    err = capsys.readouterr().err
    assert "internal error (exit 70)" in err and "--debug" in err and "Traceback" not in err


def test_debug_shows_the_traceback(recordings, monkeypatch, capsys):
    monkeypatch.setattr("rampsim.plan.loader.plan_from_document", _raise(ValueError("injected")))
    assert main(["--debug", "validate", PLAN]) == EXIT_INTERNAL_ERROR
    assert "Traceback" in capsys.readouterr().err


def test_a_usage_error_raised_anywhere_is_exit_2(monkeypatch, capsys):
    from rampsim.errors import UsageError

    monkeypatch.setattr("rampsim.experiment.sweep.run_chunks", _raise(UsageError("no such thing")))
    assert main(["sweep", str(VALIDATION), "--replicates", "2", "--workers", "1", "--no-progress"]) == 2
    assert "no such thing" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["gate", PLAN, "--prometheus", ""], ["gate", PLAN, "--replay", " "], ["query", "up", "--prometheus", ""],
    ["query", "up", "--replay", ""], ["calibrate", PLAN, "--prometheus", "", "--start", "0", "--end", "100"],
    ["backtest", PLAN, "--replay", ""], ["serve", PLAN, "--prometheus", ""],
    ["sweep", PLAN, "--out", ""], ["rehearse", PLAN, "--out", " "], ["report", "results", "--out", ""],
], ids=lambda argv: " ".join(argv[:1] + argv[2:]).replace(PLAN, "PLAN"))
def test_an_empty_url_recording_or_directory_is_exit_2_naming_the_option(argv, capsys):
    """`--prometheus ''` read as not given: gate, calibrate and query fell through to a recording of None (exit 70,
    "internal error"); `--out ''` (an unset shell variable) wrote a sweep's or a rehearsal's every output into the
    working directory."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    option = next(a for a in argv if a in ("--prometheus", "--replay", "--out"))
    assert exited.value.code == 2 and f"argument {option}: empty: give" in capsys.readouterr().err


@pytest.mark.parametrize("code, expected", [(errno.ENOSPC, 74), (errno.EIO, 74), (errno.EACCES, EXIT_INTERNAL_ERROR)])
def test_a_write_the_system_refuses_is_exit_74_not_an_internal_error(monkeypatch, capsys, code, expected):
    """`rampsim rehearse PLAN > /dev/full` was reported as an internal error (exit 70, "please report it")."""
    import io
    import sys

    class Full(io.StringIO):
        def write(self, text):
            raise OSError(code, os.strerror(code))

    monkeypatch.setattr(sys, "stdout", Full())
    assert main(["explain", str(VALIDATION)]) == expected
    err = capsys.readouterr().err
    assert ("cannot write its output" in err) == (expected == 74)


@pytest.mark.parametrize("code, expected", [(errno.ENOSPC, 74), (errno.EACCES, 2)])
def test_a_full_disk_under_out_is_exit_74_and_a_forbidden_path_exit_2(tmp_path, monkeypatch, capsys, code, expected):
    """A review filled a small tmpfs: `rehearse --out` exited 2, "bad arguments", naming the directory."""
    from matplotlib.figure import Figure

    def refused(self, path, *args, **kwargs):
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(Figure, "savefig", refused)
    assert main(["rehearse", str(VALIDATION), "--out", str(tmp_path)]) == expected
    assert f"cannot write {tmp_path / 'timeline.png'}: {os.strerror(code)}" in capsys.readouterr().err


def test_a_full_disk_for_write_best_is_exit_74(tmp_path, monkeypatch, capsys):
    """`--write-best` on a full disk was exit 2 ("bad arguments") after the whole sweep had run."""
    from pathlib import Path

    opened = Path.open

    def full(self, mode="r", *args, **kwargs):
        if self.name == "best.yaml" and "w" in mode:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return opened(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", full)
    assert main(["sweep", str(VALIDATION), "--replicates", "2", "--grid", "rules.error_rate_rollback.threshold=0.5%,1%",
                 "--out", str(tmp_path / "out"), "--write-best", str(tmp_path / "best.yaml")]) == 74
    assert f"cannot write {tmp_path / 'best.yaml'}: No space left on device" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["rehearse", "PLAN", "--seed", "1", "--seed", "2"],
                                  ["explain", "PLAN", "--promql", "2", "--promql", "3"],
                                  ["calibrate", "PLAN", "--replay", "a.csv", "--replay", "b.csv"]])
def test_an_option_given_twice_is_refused_by_every_command(argv, capsys):
    """Only check, sweep and report refused it; elsewhere the second value silently replaced the first."""
    with pytest.raises(SystemExit) as exit_:
        main([str(VALIDATION) if a == "PLAN" else a for a in argv])
    assert exit_.value.code == 2 and "given twice" in capsys.readouterr().err


def test_given_twice_shows_what_was_typed(capsys):
    """An option without a type showed its built-in const ('2', then '2') or a list's repr ("['a.yaml']")."""
    for argv, shown in ((["explain", str(VALIDATION), "--promql", "--promql"], "given twice: give it once"),
                        (["export", "flagger", str(VALIDATION), "--onto", "a.yaml", "--onto", "b.yaml"],
                         "given twice ('a.yaml', then 'b.yaml')")):
        with pytest.raises(SystemExit):
            main(argv)
        assert shown in capsys.readouterr().err
