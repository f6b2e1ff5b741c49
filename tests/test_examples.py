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
