"""A diurnal fit's ``peak_at`` is written as the clock time a plan writes (``peak_at: "16:00"``, README "Load"), with
its interval in clock times too: calibrate wrote ``peak_at: 57795.3s   # 95% [5.746e+04s, 5.813e+04s]``."""
from __future__ import annotations

from dataclasses import replace

import pytest
import yaml

from rampsim.calibration.comparison import history_plan
from rampsim.calibration.estimators import Estimate, HarmonicFit, LoadFit
from rampsim.calibration.fit import calibrate, clock_time, with_traffic
from rampsim.calibration.traffic_yaml import traffic_yaml
from rampsim.cli import main
from rampsim.sim import simulate
from rampsim.sim.config import traffic_config
from tests.sim_helpers import REFERENCE

PHASE = "block jackknife, t on the phase"


@pytest.mark.parametrize(("seconds", "clock"), [
    (57795.3, "16:03"), (57460.0, "15:58"), (58130.0, "16:09"), (0.0, "00:00"), (86390.0, "00:00"),
    (-300.0, "23:55"), (86400.0 + 600.0, "00:10"), (39659.7, "11:01"),
])
def test_clock_time(seconds, clock):
    assert clock_time(seconds) == clock


@pytest.fixture(scope="module")
def diurnal_fit(reference_plan):
    """A fit whose load is a diurnal one peaking at 16:03:15 (interval 15:57:40 to 16:08:50) with a 12-hour cycle
    peaking at 11:59:50 (the minute rounds to 12:00, one period on: still below 24:00)."""
    fit = calibrate(reference_plan, simulate(history_plan(reference_plan, 1200), seed=3,
                                             engine_factory=None).telemetry)
    twelve = HarmonicFit(2, Estimate(0.15, 0.14, 0.16, "block jackknife, t"),
                         Estimate(43190.0, 42800.0, 43580.0, PHASE), 1e-6)
    load = LoadFit("diurnal", Estimate(12000.0, 11900.0, 12100.0, "block jackknife, t"),
                   Estimate(18000.0, 17800.0, 18200.0, "block jackknife, t"),
                   Estimate(57795.3, 57460.0, 58130.0, PHASE), 1e-20, 15.0, (0.0,) * 5, (twelve,))
    return replace(fit, load=load)


def test_a_diurnal_peak_is_written_as_a_clock_time_with_its_interval(diurnal_fit, reference_plan):
    text = traffic_yaml(reference_plan, diurnal_fit)
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("peak_at:")]
    assert lines == [f"peak_at: '16:03'   # 95% [15:58, 16:09] ({PHASE})",
                     f"peak_at: '12:00'   # 95% [11:53, 12:06] ({PHASE})"], lines
    load = yaml.safe_load(text)["traffic"]["load"]
    assert load["peak_at"] == "16:03" and load["harmonics"]["12h"]["peak_at"] == "12:00"


def test_the_clock_times_written_validate_and_read_back(diurnal_fit, reference_plan, tmp_path, capsys):
    read_back = traffic_config(with_traffic(reference_plan, diurnal_fit)).load
    assert read_back.peak_at == 16 * 3600 + 3 * 60 and read_back.harmonics["12h"].peak_at == 12 * 3600
    plan = tmp_path / "calibrated.yaml"
    plan.write_text(REFERENCE.read_text().split("\ntraffic:\n")[0] + "\n"
                    + traffic_yaml(reference_plan, diurnal_fit))
    assert main(["validate", str(plan)]) == 0, capsys.readouterr()
