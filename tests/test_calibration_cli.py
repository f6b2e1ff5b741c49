"""``rampsim calibrate`` and ``rampsim backtest`` on recordings of a simulated service's history."""
from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from rampsim.calibration.backtest import backtest
from rampsim.calibration.comparison import history_plan
from rampsim.calibration.fit import calibrate
from rampsim.cli import main
from rampsim.experiment.mix import single_scenario_mix
from rampsim.experiment.sweep import sweep
from rampsim.plan import plan_from_text
from rampsim.prod.tickcsv import write_tick_csv
from rampsim.sim import simulate
from rampsim.sim.config import traffic_config
from tests.sim_helpers import REFERENCE, realistic_reference

START = 1_740_787_200  # 2025-03-01T00:00:00Z


def simulated_history(days: float, seed: int):
    return simulate(history_plan(realistic_reference(), days * 86400), seed=seed, engine_factory=None).telemetry


def write_history(path: Path, telemetry) -> Path:
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        write_tick_csv(telemetry, handle, START, arms=["baseline"])
    return path


@pytest.fixture(scope="module")
def one_day_telemetry():
    return simulated_history(1, seed=7)


@pytest.fixture(scope="module")
def one_day(tmp_path_factory, one_day_telemetry) -> Path:
    return write_history(tmp_path_factory.mktemp("history") / "history.csv.gz", one_day_telemetry)


def test_calibrate_writes_a_traffic_section_that_validates_and_a_fit_report(one_day, one_day_telemetry, tmp_path,
                                                                            capsys, reference_plan):
    out, report = tmp_path / "traffic.yaml", tmp_path / "report"
    assert main(["calibrate", str(REFERENCE), "--replay", str(one_day), "-o", str(out), "--report", str(report)]) == 0
    text = out.read_text()
    assert "95% [" in text and "not estimable" in text     # intervals, and the common shares one arm cannot tell
    section = yaml.safe_load(text)["traffic"]
    plan_text = REFERENCE.read_text().split("\ntraffic:\n")[0] + "\n" + yaml.safe_dump({"traffic": section})
    plan = plan_from_text(plan_text + "\nfaults: []\n", "calibrated.yaml")
    # The recording keeps every counter exactly, so the command's fit is the library's on the same data.
    expected = calibrate(reference_plan, one_day_telemetry).traffic(reference_plan)
    written = traffic_config(plan)
    assert written.variability is not None
    assert written.variability.errors.sd == pytest.approx(expected["variability"]["errors"]["sd"], rel=1e-3)
    assert written.segments["C"].error_rate == pytest.approx(
        float(expected["segments"]["C"]["error_rate"].rstrip("%")) / 100, rel=1e-6)
    assert (report / "fit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fit = (report / "fit.md").read_text()
    assert "KS distance" in fit and "variability.errors.sd" in fit
    err = capsys.readouterr().err
    assert "needs a second arm" in err
    assert "whole numbers" not in err and "dispersion index" not in err     # a counter's increments, as simulated


def test_calibrate_says_when_the_requests_are_not_a_counters_increments(one_day_telemetry, reference_plan):
    """A per-second rate recorded where the requests counter should be: its increments are not whole numbers.
    (Too regular for Poisson counts is tested on the estimator: this history's own variability is far larger
    than its sampling noise, so a fifteenth of it still varies more than Poisson counts would.)"""
    history = one_day_telemetry
    scaled = type(history)(history.layout, history.time, history.counters.copy(), history.gauges)
    scaled.requests[:] = history.requests / history.layout.scrape_interval
    notes = calibrate(reference_plan, scaled).notes()
    assert [note for note in notes if note.startswith("requests:")] == [
        "requests: 100.0% of the 5,760 complete scrapes' increases are not whole numbers: the series holds rates "
        "or scaled counts, not a counter's increments (the sampling noise the fit sets apart assumes whole counts)"]
    assert not any(note.startswith("errors:") for note in notes)


def test_backtest_prints_the_history_next_to_the_simulation(one_day, capsys):
    assert main(["backtest", str(REFERENCE), "--replay", str(one_day), "--replicates", "20"]) == 0
    out = capsys.readouterr().out
    assert "A/A backtest of ramp-phase-50k on 6 windows of 4 h" in out
    assert "history:" in out and "simulation:" in out and "under the model calibrated on this history" in out


def test_a_history_shorter_than_a_ramp_is_unavailable(tmp_path, capsys):
    short = write_history(tmp_path / "short.csv.gz", simulated_history(2 / 24, seed=1))
    assert main(["backtest", str(REFERENCE), "--replay", str(short), "--replicates", "5"]) == 5
    assert "holds no whole 4-hour ramp window" in capsys.readouterr().err


def test_an_unreadable_recording_is_unavailable_and_a_missing_range_is_a_usage_error(tmp_path, capsys):
    broken = tmp_path / "broken.csv"
    broken.write_text("time,x\n1,2\n")
    assert main(["calibrate", str(REFERENCE), "--replay", str(broken)]) == 5
    assert "history unavailable" in capsys.readouterr().err
    assert main(["calibrate", str(REFERENCE), "--prometheus", "http://127.0.0.1:9"]) == 2
    assert "--start and --end are required" in capsys.readouterr().err


def test_the_split_keeps_every_request_and_gives_the_canary_its_weight(reference_plan):
    plan = reference_plan
    history = simulated_history(0.5, seed=3)
    result = backtest(plan, history, seed=5)
    assert len(result.windows) == 3
    from rampsim.calibration.backtest import split_window

    window = split_window(plan, history, 0, np.random.default_rng(0))
    base, canary = window.layout.arm("baseline"), window.layout.arm("canary")
    total = window.requests[-1].sum()
    assert total == history.requests[len(window) - 1, base].sum() - history.requests[0, base].sum()
    n, k = total, window.requests[-1, canary].sum()
    # the canary's share is binomial(n, 10%): within 4 standard errors
    assert abs(k / n - 0.10) < 4 * math.sqrt(0.1 * 0.9 / n)


@pytest.mark.slow
def test_backtest_on_a_long_history_agrees_with_the_simulated_rate(reference_plan):
    """A/A on 7 simulated days of the reference service against 300 simulated healthy ramps of the same model.

    Both estimate the false-rollback rate of one gate on one model; a two-proportion z-test at the
    1% level (|z| < 2.576) is the agreement the backtest promises.
    """
    plan = reference_plan
    result = backtest(plan, simulated_history(7, seed=11), seed=0)
    simulated = sweep(plan, single_scenario_mix("healthy"), replicates=300, seed=4, workers=1).summary().iloc[0]
    x1, n1 = result.false_rollbacks, len(result.windows)
    x2, n2 = int(simulated["false_rollbacks"]), int(simulated["healthy_runs"])
    assert n1 == 42 and n2 == 300
    pooled = (x1 + x2) / (n1 + n2)
    z = (x1 / n1 - x2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    assert abs(z) < 2.576, (x1, n1, x2, n2)
