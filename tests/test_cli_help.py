"""Every command's ``--help`` is plain text with a description and its exit codes."""
from __future__ import annotations

import argparse
import re

import pytest

from rampsim.cli import build_parser


def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append(((*prefix, name), sub))
                found.extend(_commands(sub, (*prefix, name)))
    return found


COMMANDS = _commands(build_parser())


def test_every_command_is_found():
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"validate", "explain", "sweep", "report", "check", "rehearse", "gate", "serve", "query", "calibrate",
            "backtest", "import", "import argo", "import flagger", "lint", "export"} <= names


@pytest.mark.parametrize("path, parser", COMMANDS, ids=[" ".join(path) for path, _ in COMMANDS])
def test_help_is_plain_text_with_a_description_and_exit_codes(path, parser):
    text = parser.format_help()
    assert parser.description, f"rampsim {' '.join(path)} --help has no description"
    assert re.search(r"exit\s+codes?", text, re.IGNORECASE), text
    for markup in ("``", ":mod:", ":class:", ":func:", "=====", "\n.. "):
        assert markup not in text, (markup, text)


def test_python_dash_m_rampsim_is_the_command():
    """``python -m rampsim`` runs the same command line as the console script, exit code included."""
    import subprocess
    import sys

    from rampsim import __version__

    done = subprocess.run([sys.executable, "-m", "rampsim", "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and __version__ in done.stdout + done.stderr
    assert subprocess.run([sys.executable, "-m", "rampsim", "validate", "no-such-plan.yaml"],
                          capture_output=True, timeout=60).returncode != 0
