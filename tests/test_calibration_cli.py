"""``rampsim calibrate`` and ``rampsim backtest`` on recordings of a simulated service's history."""
from __future__ import annotations

import csv
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
from rampsim.plan import load_plan, plan_from_text, with_overrides
from rampsim.prod.replay import FileSource
from rampsim.prod.tickcsv import write_tick_csv
from rampsim.sim import simulate
from rampsim.sim.config import traffic_config
from rampsim.telemetry import Telemetry
from tests.gates_helpers import corpus
from tests.prometheus_server import FakePrometheus
from tests.sim_helpers import REFERENCE, realistic_reference

START = 1_740_787_200  # 2025-03-01T00:00:00Z
EXAMPLE = Path(__file__).parent.parent / "examples" / "history" / "learning-api-1d.csv.gz"
CORPUS_ARGO = corpus("argo") / "AliyunContainerService__gitops-demo__analysis.yaml"


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
    # in the units the traffic: section writes (a review found 0.04609 beside 46.09ms, and inf as text)
    p99 = next(line for line in fit.splitlines() if line.startswith("| `service.p99`"))
    assert p99.split("|")[2].strip().endswith("ms") and "inf" not in fit
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


def _without_series(source: Path, target: Path, series: str) -> Path:
    """``source`` (a per-tick CSV) without the columns of ``series``: a recording that lacks them."""
    with gzip.open(source, "rt", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    keep = [i for i, name in enumerate(rows[0]) if not name.startswith(series + "{")]
    assert 1 < len(keep) < len(rows[0])
    with gzip.open(target, "wt", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([row[i] for i in keep] for row in rows)
    return target


def test_a_series_missing_from_the_history_keeps_the_plans_values(one_day, tmp_path, capsys, reference_plan):
    """No error series: the error rates stay the plan's own, said so; nothing is written as NaN, and the
    section makes a valid plan."""
    history = _without_series(one_day, tmp_path / "no-errors.csv.gz", "rampsim_request_errors_total")
    out, report = tmp_path / "traffic.yaml", tmp_path / "report"
    assert main(["calibrate", str(REFERENCE), "--replay", str(history), "-o", str(out), "--report", str(report)]) == 0
    text, err = out.read_text(), capsys.readouterr().err
    assert "nan" not in text.lower()
    fit = (report / "fit.md").read_text()
    assert "| `segments.A.error_rate` | the plan's own value | not estimable |" in fit
    assert "| error rate | not in the history |" in fit and "nan" not in fit
    assert "segments.A.error_rate: no scrape with both requests and errors; the plan's own value is kept" in err
    assert "variability.errors.sd: no scrape of the history holds this series" in err
    section = yaml.safe_load(text)["traffic"]
    assert section["segments"]["A"]["error_rate"] == reference_plan.traffic["segments"]["A"]["error_rate"]
    assert section["load"]["average"] != reference_plan.traffic["load"]["average"]     # the requests were fitted
    plan_text = REFERENCE.read_text().split("\ntraffic:\n")[0] + "\n" + yaml.safe_dump({"traffic": section})
    assert traffic_config(plan_from_text(plan_text + "\nfaults: []\n", "calibrated.yaml")).segments["A"].error_rate \
        == pytest.approx(0.00065)


def _damaged(source: Path, target: Path) -> Path:
    """``source`` with one baseline request sample not finite and one scrape's timestamp repeated with
    other values (two values of every series in one slot)."""
    with gzip.open(source, "rt", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][1].startswith('rampsim_requests_total{arm="baseline"')
    rows[200][1] = "inf"
    rows[300][0] = rows[299][0]
    with gzip.open(target, "wt", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return target


def test_damaged_samples_are_read_as_missing(one_day, tmp_path, capsys):
    """An infinite counter and a slot with two values are missing samples: the fit keeps its request
    variability (it read 'not estimable' when one sample poisoned the sums) and the backtest runs."""
    history = _damaged(one_day, tmp_path / "damaged.csv.gz")
    out = tmp_path / "traffic.yaml"
    assert main(["calibrate", str(REFERENCE), "--replay", str(history), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "damaged sample(s) read as missing" in err
    requests = yaml.safe_load(out.read_text())["traffic"]["variability"]["requests"]
    assert 0.02 < requests["sd"] < 0.1, requests                # the reference service's 0.05
    assert main(["backtest", str(REFERENCE), "--replay", str(history), "--replicates", "2"]) == 0


def test_a_gap_in_the_history_leaves_the_rest_of_the_window_whole(reference_plan):
    """A missing scrape is missing in both arms at that scrape only: the increase across the gap goes to
    the next scrape, so every request is still split and later scrapes are present."""
    from rampsim.calibration.backtest import split_window

    history = simulated_history(0.25, seed=3)
    gap = 100
    history.counters[gap] = np.nan
    window = split_window(reference_plan, history, 0, np.random.default_rng(0))
    assert np.isnan(window.counters[gap]).all()
    assert np.isfinite(window.requests[gap + 1:]).all() and np.isfinite(window.requests[:gap]).all()
    base = window.layout.arm("baseline")
    assert window.requests[-1].sum() == history.requests[len(window) - 1, base].sum() - history.requests[0, base].sum()


def test_a_counter_reset_in_the_history_counts_from_zero_in_both_arms(reference_plan):
    """After a reset the stable series restarts near 0: the split reads it as the gate does, increments never
    negative, so neither arm's counters drop (the baseline's went negative, damaged, before)."""
    from rampsim.calibration.backtest import split_window

    history = simulated_history(0.25, seed=3)
    base = history.layout.arm("baseline")
    reset = 200
    history.requests[reset:, base] -= history.requests[reset - 1, base] - 5.0
    window = split_window(reference_plan, history, 0, np.random.default_rng(0))
    requests = window.requests.reshape(len(window), -1)
    assert (np.diff(requests, axis=0) >= 0).all() and (requests >= 0).all()
    before = history.requests[reset - 1, base].sum() - history.requests[0, base].sum()
    after = history.requests[len(window) - 1, base].sum()     # counted from the reset's zero
    assert window.requests[-1].sum() == before + after


def test_a_history_without_an_errors_counter_splits_its_requests_alone(reference_plan):
    """Without errors the requests were split as errors + (requests - errors): NaN, so every window lacked the
    requests and a gate reading only latency was refused as "no sample of the baseline arm"."""
    from rampsim.calibration.backtest import split_window

    history = simulated_history(0.5, seed=3)
    history.errors[:] = np.nan
    window = split_window(reference_plan, history, 0, np.random.default_rng(0))
    base, canary = window.layout.arm("baseline"), window.layout.arm("canary")
    assert np.isfinite(window.requests).all() and np.isfinite(window.latency_sum).all()
    assert np.isnan(window.errors).all()
    total = window.requests[-1].sum()
    assert total == history.requests[len(window) - 1, base].sum() - history.requests[0, base].sum()
    assert abs(window.requests[-1, canary].sum() / total - 0.10) < 4 * math.sqrt(0.1 * 0.9 / total)
    result = backtest(reference_plan, history, seed=5)
    assert result.lacking == ("errors",) and result.unreadable == 3
    without_error_rules = with_overrides(reference_plan, {"rules": {}, "checkpoints": {}, "final_gate.criteria": {
        "p99": {"metric": "p99", "op": "<", "threshold": "200ms", "window": "cumulative"}}})
    assert len(backtest(without_error_rules, history, seed=5).windows) == 3


def test_calibrate_never_writes_over_what_it_reads(one_day, tmp_path, capsys):
    plan = tmp_path / "plan.yaml"
    plan.write_text(REFERENCE.read_text())
    for target, name in ((plan, "plan"), (one_day, "--replay")):
        before = target.read_bytes()
        assert main(["calibrate", str(plan), "--replay", str(one_day), "-o", str(target)]) == 2
        assert f"that is the {name} file this command reads" in capsys.readouterr().err
        assert target.read_bytes() == before


@pytest.mark.parametrize("series, arm", [("rampsim_requests_total", "baseline"), (None, "canary")])
def test_a_history_without_the_arms_requests_is_unavailable(one_day, tmp_path, capsys, series, arm):
    history = _without_series(one_day, tmp_path / "h.csv.gz", series) if series else one_day
    for command in ("calibrate", "backtest"):
        assert main([command, str(REFERENCE), "--replay", str(history), "--arm", arm]) == 5
        err = capsys.readouterr().err
        assert (f"history unavailable: no scrape from 2025-03-01T00:00:00Z to 2025-03-02T00:00:00Z holds the {arm} "
                f"arm's requests") in err, err
        assert f'rampsim_requests_total{{arm="{arm}"}}' in err and "check the range (--start, --end)" in err


def test_calibrate_refuses_outputs_it_cannot_write_before_reading_the_history(tmp_path, capsys):
    missing = tmp_path / "no-such-recording.csv"      # never read: the outputs are refused first
    (tmp_path / "a-file").write_text("")
    for options, message in ((["-o", str(tmp_path)], "is a directory"),
                             (["-o", str(tmp_path / "nowhere" / "t.yaml")], "no directory"),
                             (["--report", str(tmp_path / "a-file")], "is not a directory")):
        assert main(["calibrate", str(REFERENCE), "--replay", str(missing), *options]) == 2
        assert message in capsys.readouterr().err


@pytest.mark.parametrize("command, option", [
    ("calibrate", "-o"), ("calibrate", "--report"), ("calibrate", "--naming"), ("calibrate", "--bearer-token-file"),
    ("backtest", "--naming"), ("gate", "--record"), ("gate", "--naming"), ("query", "--naming")])
def test_an_empty_file_or_directory_option_is_a_usage_error_naming_it(tmp_path, capsys, command, option):
    """An unset shell variable: --report '' wrote no report and exited 0, --record '' recorded nothing, --naming ''
    and --bearer-token-file '' were ignored, -o '' said ' : is a directory'."""
    missing = str(tmp_path / "never-read.csv")   # argparse refuses the option before anything is read
    head = ["query", "up"] if command == "query" else [command, str(REFERENCE)]
    with pytest.raises(SystemExit) as exit:
        main([*head, "--replay", missing, option, ""])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}" in err and "empty: give" in err and not list(tmp_path.iterdir())


def test_backtest_prints_the_history_next_to_the_simulation(one_day, capsys):
    assert main(["backtest", str(REFERENCE), "--replay", str(one_day), "--replicates", "20"]) == 0
    out = capsys.readouterr().out
    assert "A/A backtest of ramp-phase-50k on 6 windows of 4h" in out
    assert "history:" in out and "simulation:" in out and "under the model calibrated on this history" in out


def test_a_history_shorter_than_a_ramp_is_unavailable(tmp_path, capsys):
    short = write_history(tmp_path / "short.csv.gz", simulated_history(2 / 24, seed=1))
    assert main(["backtest", str(REFERENCE), "--replay", str(short), "--replicates", "5"]) == 5
    assert "history unavailable: the history spans 2h, shorter than one 4h ramp window" in capsys.readouterr().err


def test_an_unreadable_recording_is_unavailable_and_a_missing_range_is_a_usage_error(tmp_path, capsys):
    broken = tmp_path / "broken.csv"
    broken.write_text("time,x\n1,2\n")
    assert main(["calibrate", str(REFERENCE), "--replay", str(broken)]) == 5
    assert "history unavailable" in capsys.readouterr().err
    assert main(["calibrate", str(REFERENCE), "--prometheus", "http://127.0.0.1:9"]) == 2
    assert "--start and --end are required" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["calibrate", "backtest"])
def test_a_recording_of_one_scrape_is_unavailable_not_a_usage_error(tmp_path, capsys, command):
    """Its start and end, both taken from the recording, are one instant: read as 'the history ends before it
    starts', a usage error (exit 2) about times no one gave."""
    one = tmp_path / "one.csv"
    with gzip.open(EXAMPLE, "rt", encoding="utf-8") as handle:
        one.write_text(handle.readline() + handle.readline())
    assert main([command, str(REFERENCE), "--replay", str(one)]) == 5
    err = capsys.readouterr().err
    assert "history unavailable" in err and "the recording holds one scrape (2024-03-01T00:00:00Z)" in err, err
    assert "before it starts" not in err
    # with --start before it, the range read held one scrape too: a 'fit' of no increment was written, exit 0
    assert main([command, str(REFERENCE), "--replay", str(one), "--start", "2024-02-29T23:00:00Z",
                 "-o" if command == "calibrate" else "--replicates", str(tmp_path / "t.yaml") if command ==
                 "calibrate" else "2"]) == 5
    assert "the range read holds one scrape (2024-03-01T00:00:00Z)" in capsys.readouterr().err


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


@pytest.mark.parametrize("source", [["--replay", "RECORDING"], ["--prometheus", "http://127.0.0.1:9"]])
def test_a_history_that_ends_before_it_starts_names_both_options(one_day, capsys, source):
    source = [str(one_day) if part == "RECORDING" else part for part in source]
    assert main(["calibrate", str(REFERENCE), *source, "--start", str(START + 100), "--end", str(START)]) == 2
    assert "--end 2025-03-01T00:00:00Z is not after --start 2025-03-01T00:01:40Z" in capsys.readouterr().err


@pytest.mark.parametrize("days", [1, 12, 258])
def test_the_fit_reports_history_plan_reads_back_histories_of_any_length(days):
    """From 11.6 days on, the fit report's simulated history was written '1.0368e+06s', which no plan reads:
    calibrating two weeks of history failed in the report, and more than 30 days (the longest plan) too."""
    plan = history_plan(realistic_reference(), days * 86400.0 + 10.0)
    assert plan.duration == min(days * 86400.0 + 15.0, 30 * 86400.0)


def test_a_counter_reset_in_the_history_does_not_move_the_fitted_load(one_day_telemetry, reference_plan):
    """A reset was differenced raw: one huge negative increment took the fitted average from 11,866/s to 4,736/s
    with a negative interval end. Read as a restart from zero (as the gate reads it), every increment is the same."""
    history = Telemetry(one_day_telemetry.layout, one_day_telemetry.time, one_day_telemetry.counters.copy(),
                        one_day_telemetry.gauges.copy())
    reset = 3000
    history.counters[reset:] -= history.counters[reset - 1]
    plain, after_reset = (calibrate(reference_plan, t).load.average for t in (one_day_telemetry, history))
    assert after_reset.value == pytest.approx(plain.value, rel=1e-9) and after_reset.low > 0


def test_the_diurnal_peak_is_placed_on_the_clock_whatever_hour_the_history_starts(reference_plan):
    """``peak_at`` was measured from the history's first scrape: a history starting at 06:00 of a service
    peaking at 16:00 gave a peak at 10:00. The plan's own ramp start is kept."""
    plan = with_overrides(history_plan(reference_plan, 2 * 86400), {
        "traffic.load": {"shape": "diurnal", "average": "12000/s", "peak": "20000/s", "peak_at": "16h", "start": "0s"}})
    telemetry = simulate(plan, seed=5, engine_factory=None).telemetry
    six = int(6 * 3600 / plan.telemetry.scrape_interval)
    late = Telemetry(telemetry.layout, telemetry.time[six:] - telemetry.time[six], telemetry.counters[six:],
                     telemetry.gauges[six:])
    fit = calibrate(reference_plan, late, start=6 * 3600.0)
    assert fit.load.shape == "diurnal"
    assert fit.load.peak_at.low <= 16 * 3600 <= fit.load.peak_at.high, fit.load.peak_at
    load = fit.traffic(with_overrides(reference_plan, {"traffic.load.start": "9h"}))["load"]
    assert load["start"] == "9h" and load["shape"] == "diurnal"


def test_the_fit_report_simulates_no_rule_of_the_plan(one_day, tmp_path, reference_plan):
    """A rule whose window and sustain outlast a short history made the fit report's simulated history an invalid
    plan (exit 3 blaming the user's valid plan): nothing judges that history, so it has no rules."""
    plan = history_plan(with_overrides(reference_plan, {"rules.error_rate_rollback.window": "1h"}), 1800)
    assert not plan.rules and plan.duration == 1800


def test_backtest_leaves_out_windows_without_the_arms_data_and_marks_gapped_ones(reference_plan):
    """Windows where the arm has no sample were judged and held as false rollbacks; a window with a gap is judged as
    the gate would judge it, and counted apart."""
    history = simulated_history(1, seed=3)
    n = reference_plan.n_scrapes
    history.counters[:n] = np.nan     # all of the first window (and the second's first scrape, which it shares)
    history.counters[2 * (n - 1) + 5: 2 * (n - 1) + 125] = np.nan    # 30 minutes missing in the third
    result = backtest(reference_plan, history, seed=0)
    assert result.empty == 1 and len(result.windows) == 5
    assert [w.missing for w in result.windows] == [1, 120, 0, 0, 0]
    assert len(result.complete) == 3


def test_backtest_judges_an_imported_gate_with_its_controllers_semantics(tmp_path, reference_plan):
    """The history side ran the reference engine on an imported gate's plan (which has no rules of its own), so
    every window advanced whatever the gate said; it now runs the plan's own engine, as the simulated side does."""
    from rampsim.gates.plan_sections import load_gated_plan

    assert main(["import", "argo", str(CORPUS_ARGO), "-o", str(tmp_path / "argo.yaml")]) == 0
    plan = load_gated_plan(tmp_path / "argo.yaml")
    history = simulated_history(plan.duration / 86400 * 2 + 0.01, seed=2)
    base = history.layout.arm("baseline")
    history.errors[:, base] = history.requests[:, base] * 0.3    # 30% errors: the gate's success rate fails
    result = backtest(plan, history, seed=0)
    assert result.windows and all(w.decision == "rollback" for w in result.windows), result.windows


def test_a_history_scraped_less_often_than_the_plan_says_so(reference_plan):
    """Scraped every 30 s against a 15 s plan, no two consecutive scrapes were present and the notes blamed a
    missing series ('no scrape of the history holds this series'); the notes now name the cause and the fix."""
    history = simulated_history(0.25, seed=1)
    history.counters[1::2] = np.nan
    notes = calibrate(reference_plan, history).notes()
    assert any("scrapes are 30s apart, the plan's 15s" in n and "telemetry.scrape_interval: 30s" in n
               for n in notes), notes


def test_segment_names_yaml_would_read_as_other_types_are_written_quoted(reference_plan):
    from rampsim.calibration.traffic_yaml import traffic_yaml

    plan = with_overrides(reference_plan, {"traffic.segments": {"on": {"share": "40%", "error_rate": "0.1%"},
                                                                "2": {"share": "35%", "error_rate": "0.1%"},
                                                                "x#y": {"share": "25%", "error_rate": "0.1%"}},
                                           "telemetry.segments": ["on", "2", "x#y"]})
    history = simulate(history_plan(plan, 3600), seed=1, engine_factory=None).telemetry
    section = yaml.safe_load(traffic_yaml(plan, calibrate(plan, history)))["traffic"]
    assert list(section["segments"]) == ["on", "2", "x#y"]


def test_the_traffic_section_is_never_written_where_the_fit_report_goes(one_day, tmp_path, capsys):
    """``-o DIR/fit.md --report DIR`` said the section was written, then the report overwrote it."""
    assert main(["calibrate", str(REFERENCE), "--replay", str(one_day), "-o", str(tmp_path / "fit.md"),
                 "--report", str(tmp_path)]) == 2
    assert "the fit report writes that file" in capsys.readouterr().err and not (tmp_path / "fit.md").exists()


def test_a_history_of_requests_alone_makes_a_fit_report_without_warnings(one_day, tmp_path):
    """Errors, latency and health checks missing: the report's autocorrelations and densities of those series had
    numpy's "Mean of empty slice" and a division by zero printed over the command's output."""
    import warnings

    history = one_day
    for series in ("rampsim_request_errors_total", "rampsim_request_duration_seconds_bucket",
                   "rampsim_health_checks_total"):
        history = _without_series(history, tmp_path / f"without-{series}.csv.gz", series)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert main(["calibrate", str(REFERENCE), "--replay", str(history), "-o", str(tmp_path / "t.yaml"),
                     "--report", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "fit.png").exists()


# -- common shares from a second set of pods --------------------------------------------------------------------

COMMON_PATHS = ("variability.requests.common", "variability.errors.common", "variability.latency.common")


def aa_history(days: float, seed: int, service=None) -> Telemetry:
    """An A/A history: ``service``'s (default: the reference's) traffic split evenly between two equal sets of pods,
    on a flat load (the reference's scheduled load bursts hit both arms at once, whatever the variability's common
    shares)."""
    plan = with_overrides(service or realistic_reference(), {"traffic.service.instances": {"baseline": 25, "canary": 25},
                                                  "traffic.load": {"shape": "flat", "average": "12500/s"}})
    return simulate(history_plan(plan, days * 86400, weight="50%"), seed=seed, engine_factory=None).telemetry


def test_a_second_arm_gives_the_common_shares(tmp_path, capsys, reference_plan):
    telemetry = aa_history(1, seed=5)
    recording = tmp_path / "aa.csv.gz"
    with gzip.open(recording, "wt", encoding="utf-8", newline="") as handle:
        write_tick_csv(telemetry, handle, START)
    out = tmp_path / "traffic.yaml"
    assert main(["calibrate", str(REFERENCE), "--replay", str(recording), "--second-arm", "canary",
                 "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "with baseline requests" in err and "with canary requests" in err
    expected = calibrate(reference_plan, telemetry, second_arm="canary")
    written = yaml.safe_load(out.read_text())["traffic"]["variability"]
    for path in COMMON_PATHS:
        estimate = expected.estimates()[path]
        assert not estimate.fallback and estimate.low < estimate.high, (path, estimate)
        process = path.split(".")[1]
        assert written[process]["common"] == pytest.approx(estimate.value, rel=1e-3)   # written to 4 digits
    assert "common: 0.5   # not estimable" not in out.read_text()
    assert "needs a second arm's series (a disjoint set of pods" not in err


@pytest.mark.parametrize("arguments, code, message", [
    (["--second-arm", "canary"], 5, "holds the canary arm's requests"),
    (["--second-arm", "baseline"], 2, "--second-arm must name another arm than --arm 'baseline'"),
    (["--second-arm", "blue"], 2, "--second-arm 'blue' is not an arm of the plan (baseline, canary)"),
])
def test_a_second_arm_must_be_another_arm_the_history_holds(one_day, capsys, arguments, code, message):
    assert main(["calibrate", str(REFERENCE), "--replay", str(one_day), *arguments]) == code
    err = capsys.readouterr().err
    assert message in err, err
    if code == 5:
        assert "--second-arm and the plan's prometheus: naming" in err


def truths(plan) -> dict[str, float]:
    """Every variability parameter of ``plan`` by its path in the calibration's estimates; a process that does not
    vary has no correlation time or common share, and bursts that never come no duration, multiplier or spread."""
    variability = traffic_config(plan).variability
    found: dict[str, float] = {}
    for process in ("requests", "errors", "latency"):
        latent = getattr(variability, process) if variability is not None else None
        prefix = f"variability.{process}"
        found[f"{prefix}.sd"] = latent.sd if latent else 0.0
        found[f"{prefix}.jitter"] = latent.jitter if latent else 0.0
        found[f"{prefix}.bursts.per_day"] = latent.bursts.per_day if latent else 0.0
        if latent and latent.sd > 0:
            found.update({f"{prefix}.correlation_time": latent.correlation_time, f"{prefix}.common": latent.common})
        if latent and latent.bursts.per_day > 0:
            found.update({f"{prefix}.bursts.{field}": getattr(latent.bursts, field)
                          for field in ("duration", "multiplier", "spread", "common")})
    blips = variability.health_checks if variability is not None else None
    found["variability.health_checks.per_day"] = blips.per_day if blips else 0.0
    if blips and blips.per_day > 0:
        found["variability.health_checks.duration"] = blips.duration
    return found


@pytest.mark.slow
@pytest.mark.parametrize("variability", ["reference", "none"])
def test_calibrating_simulated_histories_covers_every_variability_parameter(variability):
    """Simulate a day of an A/A history of a service with known variability, calibrate it back (with the second
    arm): every parameter's interval holds the simulator's own value at the rate it promises (the binomial
    acceptance bound over 40 seeds), the ``common`` shares included."""
    from tests.test_calibration_estimators import Coverage

    plan = realistic_reference()
    if variability == "none":
        plan = with_overrides(plan, {"traffic.variability": "none"})
    truth = truths(plan)
    coverage = Coverage()
    for seed in range(100, 140):
        estimates = calibrate(plan, aa_history(1, seed, plan), second_arm="canary").estimates()
        for path, value in truth.items():
            coverage.add(path, estimates[path], value)
    known = KNOWN_TOO_WIDE.get(variability, {})
    assert set(coverage.too_wide()) == set(known), (coverage.too_wide(), known)   # each known one still is
    coverage.widths = {name: rows for name, rows in coverage.widths.items() if name not in known}
    coverage.check()


KNOWN_TOO_WIDE = {"reference": {
    "variability.latency.jitter": "measured 3.2 times as wide as its estimates' spread over 40 seeds: the estimates "
                                  "read 3.5% high (0.0516-0.0523 for 0.05 on seeds 100-107) and the jackknife's "
                                  "interval reaches down to the truth (0.048-0.053). The sd reads high alike "
                                  "(0.152-0.156 for 0.15), and steady requests change neither: the log stretch "
                                  "read from the buckets is likely about 3% steeper than the one simulated"}}
"""Jackknife intervals of the simulator's own histories that are wider than their estimates vary (Coverage.too_wide),
with what was measured; the test fails when one of them is no longer, or another one is."""


def test_the_fit_reports_autocorrelation_stops_at_a_quarter_of_the_series():
    """A 9-minute history's report drew autocorrelations of 1.4 and -1.75 at lags 7 and 8, from one or two pairs."""
    from rampsim.calibration.comparison import autocorrelation

    rng = np.random.default_rng(0)
    short = autocorrelation(rng.normal(size=9))
    assert np.isfinite(short).sum() == 2 and np.all(np.abs(short[:2]) <= 1)
    assert np.isfinite(autocorrelation(rng.normal(size=1440))).sum() == 30


def test_a_daily_shape_with_a_twelve_hour_cycle_is_calibrated_into_harmonics_the_plan_reads_back(reference_plan):
    """A service simulated two days with a 12-hour cycle on top of its 24-hour cosine: calibrate finds the cycle,
    its amplitude and clock time inside their intervals, and the ``traffic:`` it writes loads back as a plan whose
    load has the same daily shape."""
    from rampsim.calibration.traffic_yaml import traffic_yaml

    shape = {"shape": "diurnal", "average": "12000/s", "peak": "18000/s", "peak_at": "16h", "start": "0s",
             "harmonics": {"12h": {"amplitude": "20%", "peak_at": "3h"}}}
    plan = with_overrides(history_plan(reference_plan, 2 * 86400), {"traffic.load": shape})
    fit = calibrate(reference_plan, simulate(plan, seed=2, engine_factory=None).telemetry)
    assert fit.load.cycles == (1, 2), fit.load
    (twelve,) = fit.load.harmonics
    assert twelve.period == "12h" and twelve.amplitude.contains(0.20) and twelve.peak_at.contains(3 * 3600.0)
    section = yaml.safe_load(traffic_yaml(reference_plan, fit))["traffic"]
    assert set(section["load"]["harmonics"]) == {"12h"}
    read_back = traffic_config(with_overrides(reference_plan, {"traffic": section})).load
    assert [h for h, _, _ in read_back.cycles()] == [1, 2]
    assert read_back.harmonics["12h"].amplitude == pytest.approx(0.20, abs=0.03)


def test_the_fit_report_simulates_a_plan_whose_rollback_is_above_zero(one_day, tmp_path):
    """A plan rolling back to 1% (valid: below its first phase) made the fit report's one-phase history at 0% a
    plan whose rollback would raise the canary: the section was written, then exit 3 blamed the user's plan."""
    plan = tmp_path / "rollback.yaml"
    plan.write_text(REFERENCE.read_text().replace("rollback: 0%", "rollback: 1%"))
    assert "rollback: 1%" in plan.read_text()
    assert main(["validate", str(plan)]) == 0
    assert main(["calibrate", str(plan), "--replay", str(one_day), "-o", str(tmp_path / "traffic.yaml"),
                 "--report", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "fit.md").exists()


def test_the_history_of_a_plan_without_an_actions_section_is_a_plan():
    """history_plan set actions.rollback field by field: a plan writing no actions: section (the validation plan)
    failed with 'no field actions in the plan' (calibrate, backtest and their Prometheus tests)."""
    validation = Path(__file__).parent.parent / "scenarios" / "ramp-phase-5k-validation.yaml"
    assert "\nactions:" not in validation.read_text()
    plan = history_plan(load_plan(validation), 3600)
    assert (plan.actions.rollback, plan.actions.advance) == (0.0, 1.0) and len(plan.phases) == 1


# -- windows that miss scrapes, ranges outside the recording ---------------------------------------------------


def _gapped_recording(tmp_path: Path, gapped: int) -> tuple[Path, Path]:
    """A plan whose gate seldom stops a healthy ramp, and a day of its history in which the last 2 hours of the
    first ``gapped`` 4-hour windows hold no sample (the final gate holds on them)."""
    from tests.test_calibration_prometheus import PLAN_HEAD, TRAFFIC

    plan_path = tmp_path / "compact.yaml"
    plan_path.write_text(PLAN_HEAD + "\n" + TRAFFIC)
    plan = load_plan(plan_path)
    telemetry = simulate(history_plan(plan, 86400), seed=1, engine_factory=None).telemetry
    n = plan.n_scrapes
    for k in range(gapped):
        end = (k + 1) * (n - 1)
        telemetry.counters[end - 480:end] = np.nan
    with (tmp_path / "gapped.csv").open("w", newline="") as handle:
        write_tick_csv(telemetry, handle, START, arms=["baseline"])
    return plan_path, tmp_path / "gapped.csv"


def test_backtest_compares_the_complete_windows_alone_with_the_simulation(tmp_path, capsys):
    """Five windows of six held by the final gate on two hours without data read as 5 stopped of 6, 'the intervals
    do not overlap: the model and the history disagree': the simulated ramps miss no scrape, so only the complete
    windows estimate their rate."""
    plan_path, recording = _gapped_recording(tmp_path, gapped=5)
    assert main(["backtest", str(plan_path), "--replay", str(recording), "--replicates", "10"]) == 0
    out = capsys.readouterr().out
    assert "5 window(s) miss scrapes, 5 of them stopped" in out and "over the 1 complete window(s): 0.0%" in out
    assert "  the intervals (the history's over its 1 complete window(s)) overlap" in out, out
    assert "disagree" not in out
    assert "hold at 4h into it (checkpoint:final_gate), 480 scrape(s) missing" in out


def test_backtest_gives_no_verdict_when_no_window_is_complete(tmp_path, capsys):
    plan_path, recording = _gapped_recording(tmp_path, gapped=6)
    assert main(["backtest", str(plan_path), "--replay", str(recording), "--replicates", "10"]) == 0
    out = capsys.readouterr().out
    assert "6 window(s) miss scrapes" in out and "no window is complete" in out
    assert "  no verdict: every window judged misses scrapes" in out, out
    assert "the intervals" not in out


@pytest.mark.parametrize("bounds, asked", [
    (["--start", "2025-03-05T00:00:00Z"], "--start 2025-03-05T00:00:00Z"),
    (["--end", "2025-02-01T00:00:00Z"], "--end 2025-02-01T00:00:00Z"),
    (["--start", "2025-03-05T00:00:00Z", "--end", "2025-03-06T00:00:00Z"],
     "--start 2025-03-05T00:00:00Z --end 2025-03-06T00:00:00Z")])
def test_a_range_outside_the_recording_is_unavailable_naming_the_range_and_the_recordings_span(
        one_day, capsys, bounds, asked):
    """It was exit 2, 'the history ends (2025-03-02T00:00:00Z) before it starts': the recording's last sample, a time
    the user never gave; Prometheus says exit 5 and 'check the range (--start, --end)'."""
    assert main(["calibrate", str(REFERENCE), "--replay", str(one_day), *bounds]) == 5
    err = capsys.readouterr().err
    assert f"no scrape in the range read ({asked}): the recording spans 2025-03-01T00:00:00Z to " \
           "2025-03-02T00:00:00Z; check the range (--start, --end)" in err, err
    assert "before it starts" not in err


def test_a_backtest_range_past_the_recordings_end_says_what_was_read(one_day, capsys):
    assert main(["backtest", str(REFERENCE), "--replay", str(one_day), "--start", "2025-03-01T22:00:00Z",
                 "--end", "2025-03-02T06:00:00Z", "--replicates", "2"]) == 5
    assert "the history spans 2h (from 2025-03-01T22:00:00Z to 2025-03-02T00:00:00Z: all the recording holds of " \
           "--start 2025-03-01T22:00:00Z --end 2025-03-02T06:00:00Z), shorter than one 4h ramp window" \
           in capsys.readouterr().err


def test_a_missing_series_is_named_as_the_naming_asked_for_it(one_day, tmp_path, capsys):
    """With ``matchers: {job: web}`` the message showed ``rampsim_requests_total{arm="baseline"}``, not the
    ``job="web"`` matcher applied; a renamed errors counter missing from the history was noted only as 'no scrape
    with both requests and errors'."""
    naming = tmp_path / "nm.yaml"
    naming.write_text("prometheus:\n  matchers: {job: web}\n")
    assert main(["calibrate", str(REFERENCE), "--replay", str(one_day), "--naming", str(naming)]) == 5
    err = capsys.readouterr().err
    assert 'holds the baseline arm\'s requests (series rampsim_requests_total{job="web",arm="baseline"})' in err, err
    assert f"and the naming of --naming {naming}" in err
    naming.write_text("metrics: {errors: http_errors_total}\n")
    assert main(["calibrate", str(REFERENCE), "--replay", str(one_day), "--naming", str(naming),
                 "-o", str(tmp_path / "t.yaml")]) == 0
    err = capsys.readouterr().err
    assert "note: no sample of the baseline arm's errors in the history (series " \
           'http_errors_total{arm="baseline",segment="' in err, err


def shipped_cut(tmp_path: Path, scrapes: int) -> Path:
    """The first ``scrapes`` scrapes of the shipped recording (header and rows), as the reviewer cut it."""
    with gzip.open(EXAMPLE, "rt", encoding="utf-8") as handle:
        lines = [line for _, line in zip(range(scrapes + 1), handle)]
    path = tmp_path / f"short-{scrapes}.csv"
    path.write_text("".join(lines))
    return path


def calibrated(plan: Path, history: Path, out: Path, capsys) -> tuple[dict, str, list[str]]:
    """``rampsim calibrate plan --replay history -o out``: the traffic section written, its text and the notes."""
    assert main(["calibrate", str(plan), "--replay", str(history), "-o", str(out)]) == 0
    notes = [line[len("note: "):] for line in capsys.readouterr().err.splitlines() if line.startswith("note: ")]
    return yaml.safe_load(out.read_text())["traffic"], out.read_text(), notes


def test_no_burst_in_a_short_history_keeps_the_plans_rate_it_cannot_tell_from_0(tmp_path, capsys):
    """Half an hour of the shipped recording wrote error and latency bursts of 0 a day (95% [0, 177.1]) and blips of
    0 a day (95% [0, 32.5]) over the plan's 2, 2 and 1: a model cleaner than the plan from a history that could not
    tell those rates from 0. The plan's rates are kept, flagged, as is the request bursts' rate beside them."""
    section, text, notes = calibrated(REFERENCE, shipped_cut(tmp_path, 121), tmp_path / "t.yaml", capsys)
    variability = section["variability"]
    assert variability["errors"]["bursts"]["per_day"] == 2 and variability["latency"]["bursts"]["per_day"] == 2
    assert variability["health_checks"]["per_day"] == 1
    assert "variability.errors.bursts.per_day: no burst in the history, whose 95% interval [0, 177.1] a day holds " \
           "the plan's 2: it cannot tell that rate from 0; the plan's own value is kept" in notes
    assert "variability.health_checks.per_day: no blip in the history, whose 95% interval [0, 32.5] a day holds " \
           "the plan's 1: it cannot tell that rate from 0; the plan's own value is kept" in notes
    assert "per_day: 2   # not estimable (no burst in the history" in text and "per_day: 0.0" not in text


def test_no_burst_in_a_history_long_enough_to_contradict_the_plans_rate_writes_0(tmp_path, capsys):
    """Six hours without an error burst: the interval [0, 14.76] a day holds the plan's 2 (kept), not a plan's 50
    (the fitted 0 is written, with its interval)."""
    history = shipped_cut(tmp_path, 1441)
    section, _, notes = calibrated(REFERENCE, history, tmp_path / "t.yaml", capsys)
    assert section["variability"]["errors"]["bursts"]["per_day"] == 2
    assert any(note.startswith("variability.errors.bursts.per_day: no burst in the history") for note in notes)
    plan = tmp_path / "often.yaml"
    plan.write_text(REFERENCE.read_text().replace("bursts: {per_day: 2, duration: 3m, multiplier: 30",
                                                  "bursts: {per_day: 50, duration: 3m, multiplier: 30"))
    section, text, notes = calibrated(plan, history, tmp_path / "t.yaml", capsys)
    assert section["variability"]["errors"]["bursts"]["per_day"] == 0
    assert "per_day: 0.0   # 95% [0, 14.76] (exact Poisson (Garwood) on detected bursts)" in text
    assert not any(note.startswith("variability.errors.bursts.per_day") for note in notes)


@pytest.mark.parametrize("scrapes", [41, 121])
def test_a_history_shorter_than_a_day_keeps_the_plans_load_of_bursts(tmp_path, capsys, scrapes):
    """Ten minutes and half an hour of the shipped recording wrote `shape: flat   # history shorter than a day: flat
    load assumed` at 12,085.6/s: the plan's 21,000/s peaks every 30 minutes were gone, and no note said the shape
    could not be told. Such a history cannot tell a daily shape, and a bursts load's average counts the peaks the
    fit sets apart as request bursts: the plan's whole load is kept, said so."""
    section, text, notes = calibrated(REFERENCE, shipped_cut(tmp_path, scrapes), tmp_path / "t.yaml", capsys)
    own = yaml.safe_load(REFERENCE.read_text())["traffic"]
    assert section["load"] == own["load"]
    # too short for the P99 too: the plan's own P99 holds at its own normal load (the history's 241.7/s was written)
    assert section["service"]["normal_load"] == own["service"]["normal_load"]
    assert "normal_load: 250/s   # the plan's own: the plan's own P99 holds there" in text
    assert "shape: bursts   # the plan's own (history shorter than a day: its daily cycle cannot be told)" in text
    assert "load.shape: history shorter than a day: its daily cycle cannot be told; the plan's own value is kept" \
        in notes
    assert "load.average: history shorter than a day: its daily cycle cannot be told, and a bursts load's average " \
           "counts its peaks, which this fit sets apart as request bursts; the plan's own value is kept" in notes


def test_six_hours_write_the_level_between_the_plans_peaks_and_fit_the_peaks_as_bursts(tmp_path, capsys):
    """Kept beside the request bursts six hours of the shipped recording fit (its peaks), the plan's load of bursts
    put the peaks in the model twice: the flat level between them is written with the bursts, as for a day."""
    section, text, notes = calibrated(REFERENCE, shipped_cut(tmp_path, 1441), tmp_path / "t.yaml", capsys)
    assert section["load"]["shape"] == "flat" and section["variability"]["requests"]["bursts"]["per_day"] > 20
    assert "shape: flat   # history shorter than a day: its daily cycle cannot be told: flat, its peaks the fitted " \
           "request bursts (variability.requests.bursts)" in text
    assert "load.shape: history shorter than a day: its daily cycle cannot be told; flat written: its peaks are the " \
           "fitted request bursts (variability.requests.bursts)" in notes
    assert not any(note.startswith("load.average") for note in notes)


@pytest.mark.parametrize("load, fitted", [
    ("{shape: flat, average: 12500/s}", True),
    ("{shape: diurnal, average: 12500/s, peak: 15000/s, peak_at: '16:00'}", False),
])
def test_a_history_shorter_than_a_day_fits_the_average_of_a_flat_load_alone(tmp_path, capsys, load, fitted):
    """The plan's shape is kept either way; a flat load's average is the stretch's mean rate (fitted, with its
    interval), a diurnal load's is the whole day's, which half an hour cannot tell (kept)."""
    plan = tmp_path / "plan.yaml"
    text = REFERENCE.read_text()
    start = text.index("  load:\n")
    plan.write_text(text[:start] + f"  load: {load}\n" + text[text.index("  service:\n"):])
    section, text, notes = calibrated(plan, shipped_cut(tmp_path, 121), tmp_path / "t.yaml", capsys)
    own = yaml.safe_load(plan.read_text())["traffic"]["load"]
    assert section["load"]["shape"] == own["shape"]
    assert "load.shape: history shorter than a day: its daily cycle cannot be told; the plan's own value is kept" \
        in notes
    if fitted:
        assert section["load"]["average"] != own["average"] and "average: 11864.2/s   # 95% [" in text
        assert not any(note.startswith("load.average") for note in notes)
    else:
        assert section["load"] == own
        assert "load.average: history shorter than a day: its daily cycle cannot be told, and a diurnal load's " \
               "average is the whole day's; the plan's own value is kept" in notes


# -- Prometheus and a recording of the same samples -----------------------------------------------------------


def test_prometheus_and_a_recording_of_the_same_samples_cut_a_range_past_their_end_alike(one_day, capsys):
    """Against Prometheus the range past the data's end was read whole: a second window of one sample in 961 held
    at the final gate, '2 stopped of 2: false-rollback rate 100.0%', where the recording gave 1 window."""
    range_ = ["--start", "2025-03-01T20:00:00Z", "--end", "2025-03-02T06:00:00Z", "--replicates", "2"]
    with FakePrometheus(FileSource.open(one_day)) as server:
        assert main(["backtest", str(REFERENCE), "--prometheus", server.url, *range_]) == 0
        prometheus = capsys.readouterr()
    assert main(["backtest", str(REFERENCE), "--replay", str(one_day), *range_]) == 0
    replay = capsys.readouterr()
    assert prometheus.out == replay.out and "A/A backtest of ramp-phase-50k on 1 window of 4h" in replay.out
    assert "scrape(s) missing" not in prometheus.out
    assert prometheus.err == replay.err


@pytest.mark.parametrize("command", ["calibrate", "backtest"])
def test_a_prometheus_range_holding_one_scrape_is_unavailable(one_day, tmp_path, capsys, command):
    """It exited 0, writing a traffic: section of '0.00 days of history (0 complete scrapes)'."""
    with FakePrometheus(FileSource.open(one_day)) as server:
        code = main([command, str(REFERENCE), "--prometheus", server.url, "--start", "2025-03-02T00:00:00Z",
                     "--end", "2025-03-02T01:00:00Z", *(["-o", str(tmp_path / "t.yaml")] if command == "calibrate"
                                                        else ["--replicates", "2"])])
        assert code == 5
        err = capsys.readouterr().err
        assert f"history unavailable: Prometheus at {server.url}: the range read holds one scrape " \
               "(2025-03-02T00:00:00Z): a history needs two or more" in err, err
    assert not (tmp_path / "t.yaml").exists()


# -- what the history: line says ---------------------------------------------------------------------------------


def _example_rows(path: Path, keep) -> Path:
    """The shipped recording's header and the rows ``keep`` (a list of rows, or a function of them) makes of it."""
    with gzip.open(EXAMPLE, "rt", encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *keep(rows)])
    return path


def test_the_history_line_counts_slots_and_scrapes_with_samples_and_names_the_gaps(tmp_path, capsys):
    """Six hours with a 2-hour hole read '1441 scrapes over 6.0 h, 962 with baseline requests', nothing of the
    outage; a recording keeping every third row '5758 scrapes ... 1920 with baseline requests'."""
    holed = _example_rows(tmp_path / "holed.csv", lambda rows: rows[:480] + rows[960:1441])
    assert main(["calibrate", str(REFERENCE), "--replay", str(holed), "-o", str(tmp_path / "t.yaml")]) == 0
    err = capsys.readouterr().err
    assert "history: 1,441 scrape slots over 6.0 h, 961 with samples, 961 with baseline requests\n" in err, err
    assert "history: 1 gap(s) of more than 5m without any sample (an outage; its slots are missing scrapes): " \
           "2024-03-01T02:00:00Z to 2024-03-01T03:59:45Z (2h)\n" in err, err
    third = _example_rows(tmp_path / "third.csv", lambda rows: rows[:1441:3])
    assert main(["calibrate", str(REFERENCE), "--replay", str(third), "-o", str(tmp_path / "t.yaml")]) == 5
    err = capsys.readouterr().err   # read, then refused: samples 45 s apart on the plan's 15 s slots
    assert "use a plan with telemetry.scrape_interval: 45s" in err, err
    assert "history: 1,441 scrape slots over 6.0 h, 481 with samples, 481 with baseline requests\n" in err, err
    assert "gap(s)" not in err   # two slots without a sample at a time: no outage
    gappy = _example_rows(tmp_path / "gappy.csv", lambda rows: [r for k, r in enumerate(rows[:1441]) if k % 60 < 30])
    assert main(["calibrate", str(REFERENCE), "--replay", str(gappy), "-o", str(tmp_path / "t.yaml")]) == 0
    gaps = [line for line in capsys.readouterr().err.splitlines() if "gap(s)" in line]
    assert gaps == ["history: 24 gap(s) of more than 5m without any sample (an outage; its slots are missing "
                    "scrapes): 2024-03-01T00:07:30Z to 2024-03-01T00:14:45Z (7m30s); 2024-03-01T00:22:30Z to "
                    "2024-03-01T00:29:45Z (7m30s); 2024-03-01T00:37:30Z to 2024-03-01T00:44:45Z (7m30s); "
                    "2024-03-01T00:52:30Z to 2024-03-01T00:59:45Z (7m30s); 2024-03-01T01:07:30Z to "
                    "2024-03-01T01:14:45Z (7m30s); and 19 more"]


def test_a_nan_cell_is_read_as_missing_and_noted(tmp_path, capsys):
    """A literal NaN was dropped as an empty cell, with no notice, where +Inf beside it was counted as damaged."""
    def written(rows):
        rows = [list(row) for row in rows[:1441]]
        rows[100][1], rows[200][2] = "NaN", "+Inf"
        return rows

    marked = _example_rows(tmp_path / "marked.csv", written)
    assert main(["calibrate", str(REFERENCE), "--replay", str(marked), "-o", str(tmp_path / "t.yaml")]) == 0
    err = capsys.readouterr().err
    assert "1 damaged sample(s) read as missing, 1 NaN sample(s) read as missing\n" in err, err
    assert 'note: nan: rampsim_requests_total{arm="baseline",segment="A"}: NaN (a staleness marker, or no value), ' \
           "read as a missing sample (at 2024-03-01T00:25:00Z)" in err, err


def test_a_nan_beside_a_value_in_its_slot_hides_nothing(tmp_path, capsys):
    """An outer join of pods scraped 7 s apart writes NaN in every other row: the NaN, the slot's latest sample, hid
    the value beside it ('0 with baseline requests', exit 5). A NaN stands for a slot holding nothing else."""
    def joined(rows):
        out = []
        for row in rows[:360]:
            first, second = list(row), list(row)
            second[0] = str(int(row[0]) + 7)
            half = len(row) // 2
            first[half:] = ["NaN"] * (len(row) - half)
            second[1:half] = ["NaN"] * (half - 1)
            out += [first, second]
        return out

    assert main(["calibrate", str(REFERENCE), "--replay", str(_example_rows(tmp_path / "joined.csv", joined)),
                 "-o", str(tmp_path / "t.yaml")]) == 0
    err = capsys.readouterr().err
    assert "history: 360 scrape slots over 1.5 h, 360 with samples, 360 with baseline requests" in err, err
    assert "NaN sample(s)" not in err and "duplicate" not in err, err


def test_the_day_spread_is_written_for_the_requests_and_the_plans_own_kept_for_the_rest(tmp_path):
    """Four days of a service whose request noise changes from day to day: ``calibrate`` writes the requests'
    ``day_spread`` with its interval; the errors' and latency's are not read from the history, so the plan's own
    (here the errors' 0.2) is written back as it is, with no note, and a process whose plan states none gets none."""
    from rampsim.calibration.traffic_yaml import traffic_yaml

    plan = with_overrides(realistic_reference(), {"traffic.variability.requests.day_spread": 0.5,
                                                  "traffic.variability.errors.day_spread": 0.2})
    calibration = calibrate(plan, simulate(history_plan(plan, 4 * 86400), seed=3, engine_factory=None).telemetry)
    spread = calibration.requests.day_spread
    assert spread is not None and not spread.fallback, spread   # its coverage: tests/test_day_spread.py
    text = traffic_yaml(plan, calibration)
    written = [line.strip() for line in text.splitlines() if "day_spread" in line]
    assert len(written) == 2 and written[0].startswith(f"day_spread: {spread.value:.4g}   # 95% [")
    assert "matched to 4 days'" in written[0] and written[1] == "day_spread: 0.2"
    section = yaml.safe_load(text)["traffic"]["variability"]
    assert section["errors"]["day_spread"] == 0.2 and "day_spread" not in section["latency"]
    assert not [note for note in calibration.notes() if "day_spread" in note]
    one_day = calibrate(plan, simulate(history_plan(plan, 86400), seed=3, engine_factory=None).telemetry)
    assert "variability.requests.day_spread: 1 whole day with 80% of their counts present, 3 needed; the plan's own " \
           "value is kept" in one_day.notes()
    assert yaml.safe_load(traffic_yaml(plan, one_day))["traffic"]["variability"]["requests"]["day_spread"] == 0.5
