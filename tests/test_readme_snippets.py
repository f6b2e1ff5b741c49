"""Every command and Python snippet in the README runs as written, from a temporary directory.

The README is read top to bottom and its blocks run in order in one temporary directory,
as a reader following it would run them from a clone (``scenarios/`` and ``examples/``
are linked in, so its relative paths resolve as in the repository root):

- a ``yaml`` block whose documents start with a ``# NAME.yaml`` comment is written to
  ``NAME.yaml`` (the walkthroughs' gate and mix files);
- an ``sh`` block: each command (continuation lines joined) runs in bash and must exit
  0, or the code its trailing ``# exit N`` comment states;
- a ``python`` block is saved as a script and run with ``python`` (so a snippet that needs
  ``if __name__ == "__main__":`` without having it fails here, as it would for a user); one that
  defines ``test_`` functions is a test file, run with pytest (every test must pass);
- a ``console`` block: each ``$ `` command runs and its output must read as shown (a line
  ``...`` stands for any number of lines).

Three changes, and nothing else: a leading ``pip install ... &&`` is dropped (the project
is installed: that is ``.ci/run``'s first step); sample sizes in ``sh`` and ``python`` blocks are capped (``--replicates``/``replicates=`` at :data:`REPLICATES`; the
figures are other tests' business) and real-time playback is sped up (``--speed``/``speed=``).
A block is skipped only when an HTML comment right before it says why
(``<!-- readme-test: skip: needs a live Prometheus -->``): live clusters and servers, and
commands other tests run (the set-up commands are ``.ci/run`` itself); and a block whose
results later blocks use keeps its sample sizes when a comment says ``as written``.
"""
from __future__ import annotations

import functools
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.sim_helpers import ROOT

README = ROOT / "README.md"
REPLICATES = 20
SPEED = 100_000
RUNNABLE = {"sh", "python", "console"}
_FENCE = re.compile(r"^(?:<!-- readme-test: (?:skip: (?P<reason>[^>]*?)|(?P<full>as written)) -->\n)?"
                    r"```(?P<lang>[\w-]*)\n(?P<body>.*?)^```", re.M | re.S)


@dataclass(frozen=True)
class Block:
    line: int
    lang: str
    body: str
    skip: str | None
    full: bool = False   # its sample sizes are kept: later blocks depend on its results

    @property
    def name(self) -> str:
        return f"README.md:{self.line} ({self.lang})"


def readme_blocks() -> list[Block]:
    text = README.read_text()
    return [Block(text[:m.start("lang")].count("\n") + 1, m["lang"], m["body"], m["reason"], bool(m["full"]))
            for m in _FENCE.finditer(text)]


BLOCKS = readme_blocks()
RUN = [b for b in BLOCKS if b.lang in RUNNABLE and b.skip is None]


def _capped(block: Block) -> str:
    text = block.body
    if block.full:
        return text
    text = re.sub(r"(--replicates[ =]|replicates=)([\d_]+)", lambda m: f"{m[1]}{min(int(m[2].replace('_', '')), REPLICATES)}",
                  text)
    return re.sub(r"(--speed[ =]|speed=)[\d.e_]+", rf"\g<1>{SPEED}", text)


def _commands(body: str) -> list[str]:
    lines = body.replace("\\\n", " ").splitlines()
    return [re.sub(r"^pip install [^&]*&&\s*", "", line) for line in lines
            if line.strip() and not line.lstrip().startswith("#")]


def _expected_exit(command: str) -> int:
    found = re.search(r"#\s*exit (\d+)", command)
    return int(found.group(1)) if found else 0


def _run(command: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "80", "PYTHONPATH": str(ROOT)}
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _write_files(block: Block, cwd: Path) -> None:
    for document in re.split(r"^---\n", block.body, flags=re.M):
        first = document.lstrip().splitlines()[0] if document.strip() else ""
        named = re.match(r"#\s*([\w.-]+\.ya?ml)\b", first)
        if named:
            (cwd / named.group(1)).write_text(document)


def _command_and_output(chunk: str) -> tuple[str, list[str]]:
    """A transcript's command (continued while a quote is open or a line ends with a backslash) and the
    lines it shows after it."""
    lines = chunk.replace("\\\n", " ").splitlines()
    for end in range(1, len(lines) + 1):
        command = "\n".join(lines[:end])
        try:
            shlex.split(command)
        except ValueError:   # an open quote: the command goes on
            continue
        return command, [line.rstrip() for line in lines[end:]]
    raise AssertionError(f"an unterminated command in a transcript: {chunk[:200]}")


def _console(block: Block, cwd: Path) -> list[str]:
    problems = []
    chunks = re.split(r"^\$ ", block.body, flags=re.M)[1:]
    for chunk in chunks:
        command, shown = _command_and_output(chunk)
        result = _run(command, cwd)
        printed = [line.rstrip() for line in (result.stdout + result.stderr).splitlines()]
        if not _matches(tuple(" ".join(x.split()) for x in shown), tuple(" ".join(x.split()) for x in printed)):
            problems.append(f"$ {command}\nexpected:\n" + "\n".join(shown) + "\ngot:\n" + "\n".join(printed))
    return problems


@functools.lru_cache(maxsize=None)
def _matches(expected: tuple[str, ...], got: tuple[str, ...]) -> bool:
    """Whether ``got`` reads as ``expected``, where a line ``...`` stands for any number of lines."""
    if not expected:
        return not got
    if expected[0] == "...":
        return any(_matches(expected[1:], got[k:]) for k in range(len(got) + 1))
    return bool(got) and got[0] == expected[0] and _matches(expected[1:], got[1:])


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[int, list[str]]:
    """Every block run in README order in one directory: its problems (none when it ran as documented)."""
    cwd = tmp_path_factory.mktemp("readme")
    for name in ("scenarios", "examples"):
        (cwd / name).symlink_to(ROOT / name)
    found: dict[int, list[str]] = {}
    timings = []
    for block in BLOCKS:
        started = time.perf_counter()
        if block.skip is not None:
            continue
        if block.lang == "yaml":
            _write_files(block, cwd)
        elif block.lang == "sh":
            problems = []
            for command in _commands(_capped(block)):
                result = _run(command, cwd)
                if result.returncode != _expected_exit(command):
                    problems.append(f"{command}\nexit {result.returncode} (expected {_expected_exit(command)})\n"
                                    f"{result.stdout[-2000:]}{result.stderr[-3000:]}")
            found[block.line] = problems
        elif block.lang == "python":
            script = cwd / f"snippet_{block.line}.py"
            script.write_text(_capped(block))
            tests = re.search(r"^def test_", block.body, re.M) is not None
            command = ([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", script.name]
                       if tests else [sys.executable, script.name])
            result = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                                    timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
            found[block.line] = [] if result.returncode == 0 else [
                f"exit {result.returncode}\n{result.stdout[-3000:]}{result.stderr[-3000:]}"]
        elif block.lang == "console":
            found[block.line] = _console(block, cwd)
        timings.append((time.perf_counter() - started, block.name))
    print("README blocks by time:", ", ".join(f"{name} {seconds:.0f}s" for seconds, name in sorted(timings)[::-1][:8]))
    return found


def test_every_runnable_block_runs_or_says_why_not():
    """A command block without a language would escape this test: commands are sh, console or python."""
    for block in BLOCKS:
        if block.lang not in RUNNABLE:
            assert not re.search(r"^\$ ", block.body, re.M), f"{block.name}: a transcript: mark it ```console"
        if block.skip is not None:
            assert block.lang in RUNNABLE and len(block.skip) > 10, f"{block.name}: skipped without a reason"
    assert len(RUN) >= 15


@pytest.mark.slow
@pytest.mark.parametrize("block", RUN, ids=[b.name for b in RUN])
def test_the_readme_block_runs_as_written(block, outcomes):
    problems = outcomes[block.line]
    assert not problems, f"{block.name}:\n" + "\n\n".join(problems)


def test_an_unguarded_script_sweeps_in_process_with_a_notice_and_a_guarded_one_uses_the_pool(tmp_path):
    body = ('import rampsim\nplan = rampsim.load_plan({plan!r})\n'
            'result = rampsim.sweep(plan, grid=["rules.error_rate_rollback.threshold=0.3%,1%"], replicates=4, workers=2, keep_runs=True)\n'
            'print(len(result.runs))\n')
    plan = str(ROOT / "scenarios" / "ramp-phase-5k-validation.yaml")
    unguarded = tmp_path / "unguarded.py"
    unguarded.write_text(body.format(plan=plan))
    guarded = tmp_path / "guarded.py"
    guarded.write_text('if __name__ == "__main__":\n' + "".join(f"    {line}\n" for line in body.format(plan=plan).splitlines()))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = subprocess.run([sys.executable, str(unguarded)], capture_output=True, text=True, timeout=300, env=env)
    second = subprocess.run([sys.executable, str(guarded)], capture_output=True, text=True, timeout=300, env=env)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout == second.stdout == "8\n"
    assert "running the sweep in this process" in first.stderr and "unguarded.py, line 3" in first.stderr
    assert "running the sweep in this process" not in second.stderr
    package = tmp_path / "team"   # `python -m team.job`: spawned workers run the module again too
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "job.py").write_text(body.format(plan=plan))
    third = subprocess.run([sys.executable, "-m", "team.job"], capture_output=True, text=True, timeout=300,
                           env={**env, "PYTHONPATH": f"{ROOT}:{tmp_path}"}, cwd=tmp_path)
    assert third.returncode == 0 and third.stdout == "8\n", third.stderr
    assert "job.py, line 3" in third.stderr
    # `python -m team` runs team/__main__.py, which spawned workers never run again (multiprocessing skips a
    # package's __main__): a review found `python -m rampsim sweep` held to one core by a false notice
    (package / "__main__.py").write_text(body.format(plan=plan))
    fourth = subprocess.run([sys.executable, "-m", "team"], capture_output=True, text=True, timeout=300,
                            env={**env, "PYTHONPATH": f"{ROOT}:{tmp_path}"}, cwd=tmp_path)
    assert fourth.returncode == 0 and fourth.stdout == "8\n", fourth.stderr
    assert "running the sweep in this process" not in fourth.stderr


def test_an_unguarded_script_checks_in_process_with_a_notice(tmp_path):
    """A review found `rampsim.check` building its own process pool, so an unguarded script crashed
    (BrokenProcessPool) where `rampsim.sweep` ran in-process with a notice."""
    plan = str(ROOT / "scenarios" / "ramp-phase-5k-validation.yaml")
    script = tmp_path / "unguarded_check.py"
    script.write_text(f"import rampsim\nplan = rampsim.load_plan({plan!r})\n"
                      "print(rampsim.check(plan, max_false_rollback=0.5, batch=4, max_replicates=8, workers=2).verdict)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in ("met", "exceeded", "undecided")
    assert "running the sweep in this process" in done.stderr and "unguarded_check.py, line 3" in done.stderr
