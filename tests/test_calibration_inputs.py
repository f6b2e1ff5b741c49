"""What a history can and cannot tell: short stretches, histograms the plan cannot read, scrape intervals, series
left out, as ``calibrate`` and ``backtest`` say them (library and command line).

Histories are the reference service's stable arm simulated open loop
(:func:`~rampsim.calibration.comparison.history_plan`), recorded as OpenMetrics or per-tick CSV in
``tmp_path`` and changed the way a review found real histories to be.
"""
from __future__ import annotations

import csv
import gzip
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from rampsim.calibration.backtest import backtest
from rampsim.calibration.comparison import history_plan
from rampsim.calibration.estimators.shared import MIN_TICKS
from rampsim.calibration.fit import calibrate
from rampsim.calibration.traffic_yaml import traffic_yaml
from rampsim.cli import main
from rampsim.plan import with_overrides
from rampsim.prod.history import read_history
from rampsim.prod.replay import FileSource
from rampsim.prod.samples import RawSeries
from rampsim.prod.tickcsv import write_tick_csv
from rampsim.sim import simulate
from rampsim.sim.config import traffic_config
from rampsim.telemetry import Telemetry
from tests.sim_helpers import REFERENCE, realistic_reference

START = 1_740_787_200  # 2025-03-01T00:00:00Z


def simulated(seconds: float, seed: int = 7) -> Telemetry:
    """``seconds`` of the reference service's history, all traffic on the baseline (its load flat: the shipped
    load's first burst comes 20 minutes in)."""
    service = with_overrides(realistic_reference(), {"traffic.load": {"shape": "flat", "average": "12000/s"}})
    return simulate(history_plan(service, seconds), seed=seed, engine_factory=None).telemetry


def recording(path: Path, telemetry: Telemetry) -> Path:
    """``telemetry``'s baseline arm as a gzipped per-tick CSV from START."""
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        write_tick_csv(telemetry, handle, START, arms=["baseline"])
    return path


@pytest.fixture(scope="module")
def half_day() -> Telemetry:
    return simulated(12 * 3600)


# -- a short history --------------------------------------------------------------------------------------------------

def test_a_short_history_keeps_the_plans_error_rates_shares_and_health_check_failure():
    """Ten minutes (40 increments) gave exact-Poisson error-rate intervals about ten times too narrow (over 143
    ten-minute slices of a day they held the day's rate 10% of the time, not 95%), shares of that stretch and a
    health-check failure rate of 0% from two scrapes, while the same run called the history too short for the
    variability (at least 120 ticks). The same minimum now holds for all three: the plan's own values are kept, said
    so."""
    plan = realistic_reference()
    fit = calibrate(plan, simulated(600))
    assert fit.ticks == 40 < MIN_TICKS
    estimates = fit.estimates()
    for path in ("segments.A.error_rate", "segments.C.error_rate", "service.health_check_failure"):
        assert estimates[path].fallback, (path, estimates[path])
    assert fit.shares == ()
    notes = fit.notes()
    assert "segments.B.error_rate: history too short: 40 ticks with requests and errors, at least 120 needed; the " \
           "plan's own value is kept" in notes
    assert "service.health_check_failure: history too short: 40 valid ticks, at least 120 needed; the plan's own " \
           "value is kept" in notes
    assert "segments.*.share: history too short: 40 valid ticks, at least 120 needed; the plan's own shares are " \
           "kept" in notes
    section = yaml.safe_load(traffic_yaml(plan, fit))["traffic"]
    assert section["segments"] == plan.traffic["segments"]
    assert section["service"]["health_check_failure"] == plan.traffic["service"]["health_check_failure"]
    assert "share: 40%   # the plan's own (history too short" in traffic_yaml(plan, fit)


def test_half_an_hour_of_history_is_enough_for_the_error_rates_and_shares():
    fit = calibrate(realistic_reference(), simulated(1800))
    assert fit.ticks == MIN_TICKS and len(fit.shares) == 3
    assert not any(rate.fallback for rate in fit.error_rates.rates) and not fit.health.failure.fallback


def test_the_fit_report_of_a_history_shorter_than_the_slo_window_is_written(tmp_path, capsys):
    """Nine minutes of history: the fit report's simulated stretch kept the plan's SLO, whose 5-minute window and
    5-minute sustain outlast it, and the command failed with exit 3 blaming the (valid) plan after writing -o."""
    short = recording(tmp_path / "short.csv.gz", simulated(540))
    out, report = tmp_path / "traffic.yaml", tmp_path / "report"
    assert main(["calibrate", str(REFERENCE), "--replay", str(short), "-o", str(out), "--report", str(report)]) == 0
    assert sorted(p.name for p in report.iterdir()) == ["fit.md", "fit.png"]
    assert not re.search(r"\bslo\b", capsys.readouterr().err)   # the plan's slo: named nowhere
    (objective,) = history_plan(realistic_reference(), 540).slo.objectives.values()   # none of the plan's
    assert objective.window.seconds == 15.0 and objective.threshold == 0.99


def test_the_fit_report_of_a_history_ending_before_the_plans_first_burst_is_written(tmp_path, capsys):
    """Twenty scrapes (2 to 29 alike): the fit keeps the plan's own load of bursts, whose first burst (20m) comes
    after the fit report's simulated stretch ends, and --report failed with exit 3 blaming the valid plan's
    traffic.load.first; the stretch's load is now flat at the plan's average."""
    short = recording(tmp_path / "short.csv.gz", simulated(19 * 15))
    out, report = tmp_path / "traffic.yaml", tmp_path / "report"
    assert main(["calibrate", str(REFERENCE), "--replay", str(short), "-o", str(out), "--report", str(report)]) == 0
    assert sorted(p.name for p in report.iterdir()) == ["fit.md", "fit.png"]
    assert "traffic.load.first" not in capsys.readouterr().err
    stretch = traffic_config(history_plan(realistic_reference(), 19 * 15)).load
    assert stretch.shape == "flat" and stretch.average == 12_500
    assert traffic_config(history_plan(realistic_reference(), 3600)).load.shape == "bursts"


def test_the_traffic_sections_header_gives_the_historys_own_span(tmp_path, capsys):
    """Six hours read with --start and --end 90 days apart: the header said '90.00 days of history' beside a load
    'shorter than a day', and the 90 days of empty scrapes were allocated and fitted."""
    six_hours = simulated(6 * 3600)
    out = tmp_path / "traffic.yaml"
    history = recording(tmp_path / "h.csv.gz", six_hours)
    code, _, err = run(capsys, "calibrate", str(REFERENCE), "--replay", str(history),
                       "--start", str(START - 86400), "--end", str(START + 90 * 86400), "-o", str(out))
    assert code == 0 and "history: 1,441 scrape slots over 6.0 h, 1,441 with samples" in err, err
    assert out.read_text().startswith("# rampsim calibrate: ramp-phase-50k, arm baseline, 0.25 days of history "
                                      "(1,440 complete scrapes).")
    padded = Telemetry.empty(six_hours.layout, 3 * len(six_hours))     # a Prometheus range wider than the data
    padded.counters[len(six_hours):2 * len(six_hours)] = six_hours.counters
    padded.gauges[len(six_hours):2 * len(six_hours)] = six_hours.gauges
    fit = calibrate(realistic_reference(), padded, start=START)
    assert fit.duration == 6 * 3600 and fit.start == START + len(six_hours) * 15


def test_start_keeps_the_first_scrape_of_a_recording_just_past_its_slots_edge(tmp_path, capsys):
    """Scrapes 8 s past --start's quarter minutes: the range began at the grid point nearest the first scrape
    (00:00:15), the slots were then moved 8 s forward to centre them on the scrapes, and the first scrape (00:00:08)
    fell before slot 0: one scrape fewer with --start than without (5,760 of a shifted day's 5,761)."""
    hour = simulated(3600)
    n = len(hour)
    whole = f"history: {n} scrape slots over 1.0 h, {n} with samples, {n} with baseline requests"
    shifted = tmp_path / "shift8.csv.gz"
    with gzip.open(shifted, "wt", encoding="utf-8", newline="") as handle:
        write_tick_csv(hour, handle, START + 8, arms=["baseline"])
    for given in ([], ["--start", str(START)]):
        code, _, err = run(capsys, "calibrate", str(REFERENCE), "--replay", str(shifted), *given,
                           "-o", str(tmp_path / "traffic.yaml"))
        assert code == 0 and whole in err, err
    assert ("the scrapes fall 8s past the slots starting at 2025-03-01T00:00:00Z" in err
            and "(at 2025-03-01T00:00:08Z)" in err), err
    # 12 s past the grid point (3 s before the next: no slot moved), the range began at the point before: an empty
    # first slot, and the last scrape's slot was cut off the end
    code, _, err = run(capsys, "calibrate", str(REFERENCE), "--replay", str(shifted), "--start", str(START - 4),
                       "-o", str(tmp_path / "traffic.yaml"))
    assert code == 0 and whole in err, err
    # --end at the last sample itself cut its slot off (a backtest of exactly one ramp was refused)
    last = START + 8 + (len(hour) - 1) * 15
    code, _, err = run(capsys, "calibrate", str(REFERENCE), "--replay", str(shifted), "--start", str(START - 4),
                       "--end", str(last), "-o", str(tmp_path / "traffic.yaml"))
    assert code == 0 and whole in err, err
    # a first scrape jittered across three quarters of an interval (12.5 s past, the others 10 s): the range's start
    # was chosen from it alone and the alignment on the others moved it out
    jittered = tmp_path / "jitter.csv"
    with gzip.open(shifted, "rt", encoding="utf-8") as handle:
        header, first, *rest = handle.read().splitlines()
    stamp, values = first.split(",", 1)
    jittered.write_text("\n".join([header, f"{int(stamp) + 4}.5,{values}"]
                                  + [f"{int(r.split(',', 1)[0]) + 2},{r.split(',', 1)[1]}" for r in rest]) + "\n")
    code, _, err = run(capsys, "calibrate", str(REFERENCE), "--replay", str(jittered), "--start", str(START),
                       "-o", str(tmp_path / "traffic.yaml"))
    assert code == 0 and whole in err, err


# -- a histogram the plan cannot read ---------------------------------------------------------------------------------

def test_a_history_without_the_plans_buckets_says_which_setting_to_change(half_day):
    """The history's histogram lacks some of the plan's bounds: the notes said 'no scrape of the history holds this
    series' and 'too few ticks with latency observations' beside 70,000 observations a scrape."""
    plan = realistic_reference()
    telemetry = half_day.copy()
    telemetry.latency_bucket[...] = np.nan
    why = "the history's histograms lack some of the plan's bucket bounds (telemetry.latency_buckets)"
    notes = calibrate(plan, telemetry, latency_absent=why).notes()
    assert f"service.p99: {why}; the plan's own value is kept" in notes
    assert f"variability.latency.sd: {why}; the plan's own value is kept" in notes
    assert not any("no scrape of the history holds" in note and "latency" in note for note in notes)


def test_backtest_leaves_out_windows_lacking_a_series_the_gate_reads(half_day):
    """Without latency buckets from 08:00, the final gate held every window on a missing P99 (a review counted 70 of
    72 windows stopped so): the window without one sample of them is left out, counted with what it lacks, and the
    window that loses them at its last scrape is judged as gapped."""
    plan = realistic_reference()
    telemetry = half_day.copy()
    n = plan.n_scrapes
    telemetry.latency_bucket[2 * (n - 1):] = np.nan
    result = backtest(plan, telemetry, seed=0)
    assert (result.unreadable, result.lacking) == (1, ("latency_bucket",))
    assert [w.missing for w in result.windows] == [0, 1] and len(result.complete) == 1
    assert backtest(plan, half_day, seed=0).unreadable == 0


# -- histograms of pods with different bucket sets --------------------------------------------------------------------

def two_pods(telemetry: Telemetry, dropped: tuple[str, ...]) -> FileSource:
    """``telemetry``'s baseline arm split over two pods (one counts half of every counter, rounded down, the other
    the rest: each a whole histogram), the second pod exporting no bucket whose ``le`` is in ``dropped``."""
    pods = []
    for series in FileSource.from_telemetry(telemetry, START).series:
        if series.labels.get("arm") != "baseline" or not len(series.timestamps_ms):
            continue
        counter = not series.labels["__name__"].endswith(("utilization", "bytes"))
        half = np.floor(series.values / 2) if counter else series.values
        pods.append(RawSeries({**series.labels, "pod": "a"}, series.timestamps_ms, half))
        if series.labels.get("le") not in dropped:
            rest = series.values - half if counter else series.values
            pods.append(RawSeries({**series.labels, "pod": "b"}, series.timestamps_ms, rest))
    return FileSource(pods)


def test_pods_exporting_different_buckets_give_the_histogram_of_those_with_every_bound(half_day):
    """A rolling deploy changed the buckets: each bound summed only the pods exporting it, the buckets stopped rising
    with le, and the P99 read 51.36 ms [51.35, 51.37] for 46.08 (backtest: 72 of 72 windows stopped by the P99 rule,
    2 of 72 on the whole history). The pod lacking bounds is left out, said so; the P99 is the whole history's."""
    plan = realistic_reference()
    end = START + (len(half_day) - 1) * 15
    whole = calibrate(plan, read_history(plan, two_pods(half_day, ()), START, end).telemetry).service_p99()
    history = read_history(plan, two_pods(half_day, ("0.02", "0.03", "0.04")), START, end)
    assert history.partial_histograms == 3
    assert len([line for line in history.summary() if "lacks le=0.02, 0.03, 0.04" in line]) == 3   # per segment
    p99 = calibrate(plan, history.telemetry).service_p99()
    assert not p99.fallback and abs(p99.value / whole.value - 1) < 0.01, (p99, whole)
    assert p99.contains(whole.value)


# -- the command line: what the history holds, said before any number -------------------------------------------------

@pytest.fixture(scope="module")
def half_day_recording(tmp_path_factory, half_day) -> Path:
    return recording(tmp_path_factory.mktemp("history") / "half-day.csv.gz", half_day)


def run(capsys, *args: str) -> tuple[int, str, str]:
    """``rampsim ARGS`` in process: the exit code, standard output and standard error."""
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "internal error" not in err, err
    return code, out, err


def test_backtest_prints_the_calibrations_notes(half_day_recording, capsys):
    """backtest printed none of the notes calibrate prints on the same history (a review's 30-second history read as
    'your gate fails' beside them)."""
    code, out, err = run(capsys, "backtest", str(REFERENCE), "--replay", str(half_day_recording), "--replicates", "2")
    assert code == 0 and "A/A backtest of ramp-phase-50k on 3 windows of 4h" in out
    assert "note: variability.requests.common: needs a second arm's series" in err


def every_other_scrape(telemetry: Telemetry) -> Telemetry:
    """``telemetry`` scraped every 30 s instead of 15 s."""
    return Telemetry(telemetry.layout, telemetry.time[::2], telemetry.counters[::2], telemetry.gauges[::2])


@pytest.mark.parametrize("command", ["calibrate", "backtest"])
def test_a_history_scraped_at_another_interval_is_refused_naming_the_setting(half_day, tmp_path, capsys, command):
    """Scraped every 30 s against a 15-second plan: backtest stopped 72 windows of 72 ('the model and the history
    disagree') on a history whose every fitted value had fallen back, and printed none of calibrate's notes."""
    sparse = recording(tmp_path / "30s.csv.gz", every_other_scrape(half_day))
    code, out, err = run(capsys, command, str(REFERENCE), "--replay", str(sparse),
                         *(["--replicates", "2"] if command == "backtest" else []))
    assert code == 5 and out == ""
    assert "history unavailable: the history's samples are 30s apart" in err
    assert "use a plan with telemetry.scrape_interval: 30s" in err


@pytest.mark.parametrize("command", ["calibrate", "backtest"])
def test_requests_scraped_at_another_interval_are_refused_whatever_the_other_series(half_day, tmp_path, capsys,
                                                                                    command):
    """Requests scraped every 30 s, everything else every 15 s: no increment of the requests. The buckets outvoted
    the requests in the spacing check, so calibrate fitted nothing (exit 0) and backtest refused with another
    reason; both now name the requests' interval and the setting to change (exit 5)."""
    telemetry = half_day.copy()
    telemetry.requests[1::2] = np.nan
    history = recording(tmp_path / "requests-30s.csv.gz", telemetry)
    extra = ["--replicates", "2"] if command == "backtest" else ["-o", str(tmp_path / "t.yaml")]
    code, out, err = run(capsys, command, str(REFERENCE), "--replay", str(history), *extra)
    assert code == 5 and out == ""
    assert "the history's samples are 30s apart" in err and "use a plan with telemetry.scrape_interval: 30s" in err


def test_backtest_judges_windows_that_miss_a_few_scrapes_as_the_gate_would(half_day, tmp_path, capsys):
    """A review found a history missing 12 of 5,761 scrapes (normal for a Prometheus) refused, exit 5: every window
    missed one. They are judged as the gate judges missing data, and counted."""
    telemetry = half_day.copy()
    telemetry.counters[100::realistic_reference().n_scrapes - 1] = np.nan    # one scrape missing in every window
    history = recording(tmp_path / "gapped.csv.gz", telemetry)
    code, out, err = run(capsys, "backtest", str(REFERENCE), "--replay", str(history), "--replicates", "2")
    assert code == 0, err
    assert "A/A backtest of ramp-phase-50k on 3 windows of 4h" in out
    assert "3 window(s) miss scrapes" in out and "no window is complete" in out


def without_columns(source: Path, target: Path, marker: str) -> Path:
    """The per-tick CSV ``source`` without the columns whose header holds ``marker``."""
    with gzip.open(source, "rt", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    keep = [i for i, name in enumerate(rows[0]) if marker not in name]
    with gzip.open(target, "wt", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([row[i] for i in keep] for row in rows)
    return target


def test_a_histogram_without_the_plans_bounds_is_named_and_not_backtested(half_day_recording, tmp_path, capsys):
    """The history's histogram lacks le=0.02: calibrate now lists its bounds beside the plan's and names
    telemetry.latency_buckets; backtest, whose final gate held 70 of 72 windows on the missing P99 (a 'false
    rollback rate' of 97%), says the gate reads a series the history lacks, and exits 5."""
    history = without_columns(half_day_recording, tmp_path / "no-20ms.csv.gz", 'le="0.02"')
    code, _, err = run(capsys, "calibrate", str(REFERENCE), "--replay", str(history), "-o", str(tmp_path / "t.yaml"))
    assert code == 0
    assert ("note: unmapped: 20 series ignored: the histogram rampsim_request_duration_seconds_bucket{arm=\"baseline\","
            "segment=\"A\"} lacks le=0.02 of the plan's telemetry.latency_buckets (it has le=0.005, 0.01, 0.03,") in err
    assert "note: service.p99: the history's histograms lack some of the plan's bucket bounds" in err
    code, out, err = run(capsys, "backtest", str(REFERENCE), "--replay", str(history), "--replicates", "2")
    assert code == 5 and out == ""
    assert ("history unavailable: the gate reads latency_bucket (rampsim_request_duration_seconds_bucket), of which "
            "none of the 3 4h window(s) holds a sample of the baseline arm") in err


def test_series_the_plan_cannot_place_and_the_sources_warnings_are_printed(half_day, half_day_recording, tmp_path,
                                                                           capsys, monkeypatch):
    """A plan of segments A and B on a history of A, B and C: segment C's quarter of the load was dropped silently
    (average 8,893/s for 11,866/s); a Prometheus partial response's warning was dropped too (gate prints both)."""
    text = REFERENCE.read_text().replace("segments: [A, B, C]", "segments: [A, B]").replace(
        "    C: {share: 25%, error_rate: 0.085%}\n", "").replace("A: {share: 40%", "A: {share: 65%")
    plan = tmp_path / "ab.yaml"
    plan.write_text(text)
    code, _, err = run(capsys, "calibrate", str(plan), "--replay", str(half_day_recording), "-o",
                       str(tmp_path / "t.yaml"))
    assert code == 0
    assert "note: unmapped: 25 series ignored: unknown segment='C' (the plan's telemetry.segments: A, B) (" in err

    from rampsim.prod import source as source_module
    from rampsim.prod.instants import format_instant
    from tests.prometheus_server import FakePrometheus

    parse = source_module._parse
    monkeypatch.setattr(source_module, "_parse", lambda raw: (parse(raw)[0], ["partial response: a store is down"]))
    with FakePrometheus(FileSource.from_telemetry(half_day, START)) as server:
        code, _, err = run(capsys, "calibrate", str(REFERENCE), "--prometheus", server.url, "--start",
                           format_instant(START), "--end", format_instant(START + 3600), "-o", str(tmp_path / "p.yaml"))
    assert code == 0
    assert ("note: warning: Prometheus: partial response: a store is down (2 times from 2025-03-01T00:00:00Z to "
            "2025-03-01T01:00:00Z)") in err


def test_a_gap_is_marked_in_the_windows_of_an_imported_gate(tmp_path):
    """An imported gate reads its own queries, not the plan's rules: the arm's requests still mark its windows' gaps."""
    from rampsim.gates.plan_sections import load_gated_plan
    from tests.gates_helpers import corpus

    analysis = corpus("argo") / "AliyunContainerService__gitops-demo__analysis.yaml"
    assert main(["import", "argo", str(analysis), "-o", str(tmp_path / "argo.yaml")]) == 0
    plan = load_gated_plan(tmp_path / "argo.yaml")
    history = simulated(plan.duration * 2 + 60)
    history.counters[5] = np.nan
    result = backtest(plan, history, seed=0)
    assert [w.missing for w in result.windows] == [1, 0]


def test_a_history_without_one_of_the_plans_segments_names_it(half_day_recording, tmp_path, capsys):
    """Segment C absent from the history: no scrape was complete, and the notes blamed a history 'too short' (0 valid
    ticks) or scrapes never consecutive, beside error rates of a fit that had nothing to compare counts with."""
    history = without_columns(half_day_recording, tmp_path / "no-c.csv.gz", 'segment="C"')
    for command in ("calibrate", "backtest"):
        code, out, err = run(capsys, command, str(REFERENCE), "--replay", str(history))
        assert code == 5 and out == ""
        assert ("history unavailable: no scrape holds the baseline arm's requests of segment(s) C (series "
                "rampsim_requests_total{arm=\"baseline\",segment=\"C\"})") in err and "telemetry.segments" in err
