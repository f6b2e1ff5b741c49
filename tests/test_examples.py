"""The example test file a team copies (``examples/test_gate_properties.py``) runs green in CI.

It runs in a subprocess, as a user would run it (``python -m pytest
examples/test_gate_properties.py``), from a temporary directory so that hypothesis
and pytest leave nothing in the tree. The run must pass, with exactly one expected
failure: the deliberately weak gate, kept as ``xfail(strict=True)`` to prove that the
assertions can fail. (The example is not collected by ``python -m pytest`` itself:
``testpaths`` is ``tests``.)
"""
import re
import subprocess
import sys

import pytest

from tests.sim_helpers import EXAMPLES

EXAMPLE = EXAMPLES / "test_gate_properties.py"
EXPECTED_XFAILS = 1


@pytest.mark.slow
def test_example_gate_properties_pass_with_exactly_the_weak_gate_failing(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(EXAMPLE), "-q", "-p", "no:cacheprovider", "-n", "0", "-rxXfE",
         "--junitxml", str(tmp_path / "report.xml")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"the example test file failed (exit {result.returncode}):\n{output}"
    summary = next(line for line in reversed(result.stdout.strip().splitlines()) if re.search(r"\d+ passed", line))
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|failed|errors?|xfailed|xpassed|skipped)",
                                                     summary)}
    assert counts.get("xfailed") == EXPECTED_XFAILS, f"expected {EXPECTED_XFAILS} xfail, got: {summary}\n{output}"
    assert counts.get("passed", 0) >= 6, summary
    for bad in ("failed", "error", "errors", "xpassed", "skipped"):
        assert counts.get(bad, 0) == 0, f"{bad} in: {summary}\n{output}"
    assert "test_weak_gate_does_not_roll_back_within_5_minutes" in output  # -rx names the xfailed test


def test_the_shipped_recording_is_what_make_history_writes_today(tmp_path):
    """``examples/history/learning-api-1d.csv.gz`` is the simulator's output, byte for byte: a change to the simulation
    or the plan's traffic that leaves it stale fails here (a review found every latency and health-check row stale,
    while the README and the notebook said the script regenerates it)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_history", EXAMPLES / "make_history.py")
    assert spec is not None and spec.loader is not None
    make_history = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_history)
    written = tmp_path / "history.csv.gz"
    assert make_history.main(written) == 0
    import gzip

    # the text, not the gzip bytes: another zlib build (zlib-ng) compresses the same text otherwise
    assert gzip.decompress(written.read_bytes()) == gzip.decompress(make_history.OUTPUT.read_bytes()), \
        "the shipped recording is stale: run python examples/make_history.py and commit it"
