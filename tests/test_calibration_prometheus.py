"""``rampsim calibrate`` and ``rampsim backtest`` against a real Prometheus holding days of history.

Three days of a compact plan's stable service (two segments, nine latency buckets,
15-second scrapes, known background variability with error bursts) are simulated by
:func:`rampsim.sim.simulate` open loop with all traffic on the baseline
(:func:`~rampsim.calibration.comparison.history_plan`), exported as OpenMetrics (the
baseline arm's series only, as a service's history before any canary), backfilled
with ``promtool`` and served by ``prometheus`` on 127.0.0.1.

Read back through :func:`~rampsim.prod.history.read_history` the history is the
simulated one, bit for bit; calibrating it gives the in-process estimates, whose
intervals contain the simulated model's parameters; ``rampsim calibrate`` writes a
``traffic:`` section a plan accepts, commented with those intervals, and ``rampsim
backtest`` judges the windows as :func:`rampsim.calibration.backtest.backtest` does in
process. An unreachable Prometheus and a history without bounds are refused with
their exit codes. The commands run in process (``main(argv)``), as the console
script runs them.
"""
import math
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pytest
import yaml

from rampsim.calibration.backtest import backtest
from rampsim.calibration.comparison import history_plan
from rampsim.calibration.fit import calibrate
from rampsim.cli import main
from rampsim.plan import plan_from_text
from rampsim.prod.instants import format_instant
from rampsim.prod.history import read_history
from rampsim.prod.openmetrics import write_openmetrics
from rampsim.prod.source import PrometheusSource
from rampsim.prod.tickcsv import write_tick_csv
from rampsim.sim import simulate, traffic_config
from rampsim.telemetry import COUNTER_FAMILIES, GAUGE_FAMILIES, Telemetry
from rampsim.units import Kind, format_value
from tests.prometheus_server import backfill, free_port, require_binaries, start_server, stop_server

# slow: the shared history (3 simulated days, backfilled into Prometheus) takes over 10 s to build
pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

DAY = 86400
DAYS = 3
START = 1740787200  # 2025-03-01T00:00:00Z: days and promtool's 2-hour blocks start on the same boundaries
END = START + DAYS * DAY
SEED = 0

# Everything of the plan but its traffic: section, so that a calibrated section can be put in its place.
PLAN_HEAD = """\
name: compact-history
description: Two segments, nine latency buckets, a 4-hour ramp; its stable service has known variability.

telemetry:
  segments: [A, B]
  scrape_interval: 15s
  health_check_interval: 5s
  latency_buckets: [10ms, 20ms, 30ms, 40ms, 50ms, 60ms, 80ms, 100ms, 200ms]

phases:
  - name: ramp
    weight: 10%
    duration: 4h

rules:
  error_rate_warning: {metric: error_rate, op: ">", threshold: 0.3%, window: 1m, sustain: 1m,
                       severity: warning, action: warn}
  error_rate_rollback: {metric: error_rate, op: ">=", threshold: 0.5%, window: 1m, sustain: 3m,
                        severity: critical, action: rollback}
  p99_rollback: {metric: p99, op: ">=", threshold: 200ms, window: 1m, sustain: 3m,
                 severity: critical, action: rollback}

checkpoints:
  cp1_30m:
    at: 30m
    criteria:
      error_rate: {metric: error_rate, op: "<", threshold: 0.15%, window: 30m}
      p99: {metric: p99, op: "<", threshold: 60ms, window: 30m}
  cp2_2h:
    at: 2h
    criteria:
      error_rate: {metric: error_rate, op: "<", threshold: 0.3%, window: cumulative}

final_gate:
  at: 4h
  criteria:
    error_rate: {metric: error_rate, op: "<", threshold: 0.3%, window: cumulative}
    p99: {metric: p99, op: "<", threshold: 150ms, window: cumulative}

slo:
  objectives:
    error_rate: {metric: error_rate, op: ">", threshold: 0.5%, window: 5m, sustain: 5m}
"""

# The history's model. All traffic runs on the nine baseline instances: 540/s is 60/s each, the
# normal load, so the service's figures hold as configured.
TRAFFIC = """\
traffic:
  learners: 50,000
  segments:
    A: {share: 60%, error_rate: 0.08%}
    B: {share: 40%, error_rate: 0.12%}
  load:
    shape: flat
    average: 540/s
  service:
    instances: {baseline: 9, canary: 1}
    workers: 8
    normal_load: 60/s
    p99: 46ms
    health_check_failure: 0.001%
  variability:
    requests: {sd: 0.05, correlation_time: 4.5m, jitter: 0.02, common: 50%}
    errors:
      sd: 0.4
      correlation_time: 3m
      jitter: 0.26
      common: 50%
      bursts: {per_day: 2, duration: 1m, multiplier: 20, spread: 0.3, common: 50%}
    latency: {sd: 0.15, correlation_time: 75s, jitter: 0.05, common: 50%}
"""

# What the estimators must find.
TRUE_VALUES = {
    "load.average": 540.0,
    "service.p99": 0.046,
    "segments.A.error_rate": 0.0008,
    "segments.B.error_rate": 0.0012,
    "service.health_check_failure": 1e-5,
    "variability.requests.sd": 0.05,
    "variability.requests.correlation_time": 270.0,
    "variability.requests.jitter": 0.02,
    "variability.errors.sd": 0.4,
    "variability.errors.correlation_time": 180.0,
    "variability.errors.jitter": 0.26,
    "variability.latency.sd": 0.15,
    "variability.latency.correlation_time": 75.0,
    "variability.latency.jitter": 0.05,
}


def arm_columns(layout, arm: str) -> dict[str, np.ndarray]:
    """Counter and gauge columns of one arm."""
    a = layout.arm(arm)
    return {kind: np.concatenate([np.atleast_1d(layout.channels(family, a)).ravel() for family in families])
            for kind, families in (("counters", COUNTER_FAMILIES), ("gauges", GAUGE_FAMILIES))}


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def rampsim(capsys, *args: str) -> Result:
    """``rampsim ARGS`` in process (as ``sys.exit(main())`` runs it), with what it printed."""
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "internal error" not in err, err
    return Result(code, out, err)


@pytest.fixture(scope="module", autouse=True)
def binaries():
    """Skip (or fail, under CI) before simulating anything when Prometheus is not installed."""
    return require_binaries()


@pytest.fixture(scope="module")
def plan():
    return plan_from_text(PLAN_HEAD + "\n" + TRAFFIC, "compact-history.yaml")


@pytest.fixture(scope="module")
def plan_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("plan") / "compact-history.yaml"
    path.write_text(PLAN_HEAD + "\n" + TRAFFIC)
    return path


@pytest.fixture(scope="module")
def history(plan) -> Telemetry:
    """Three days of the stable service, every tick, as the process saw it."""
    config = traffic_config(plan)
    assert config.load.average / config.service.instances["baseline"] == config.service.normal_load
    telemetry = simulate(history_plan(plan, DAYS * DAY), seed=SEED, engine_factory=None).telemetry
    assert len(telemetry) == DAYS * DAY // 15 + 1
    return telemetry


@pytest.fixture(scope="module")
def server(plan, history, binaries, tmp_path_factory):
    """Prometheus over the baseline arm's series, backfilled from one OpenMetrics file per day.

    ``promtool`` parses its whole input once per 2-hour block, so each day is its own
    file, and the days are backfilled in parallel (each block has its own directory).
    """
    prometheus, promtool = binaries
    work = tmp_path_factory.mktemp("prometheus")
    data_dir = work / "tsdb"
    baseline = history.copy()
    canary = arm_columns(plan.layout, "canary")
    baseline.counters[:, canary["counters"]] = np.nan   # missing samples are not written
    baseline.gauges[:, canary["gauges"]] = np.nan
    per_day = DAY // 15
    with ThreadPoolExecutor(DAYS) as pool:
        backfills = []
        for day in range(DAYS):
            rows = slice(day * per_day, len(history) if day == DAYS - 1 else (day + 1) * per_day)
            part = Telemetry(plan.layout, baseline.time[rows], baseline.counters[rows], baseline.gauges[rows])
            path = work / f"day{day}.om"
            with path.open("w") as handle:
                write_openmetrics(part, handle, START)
            backfills.append(pool.submit(backfill, promtool, path, data_dir))
        for done in backfills:
            done.result()
    running = start_server(prometheus, data_dir, work)
    try:
        yield running
    finally:
        stop_server(running)


@pytest.fixture(scope="module")
def read(plan, server):
    return read_history(plan, PrometheusSource(server.url, plan.layout), START, END)


@pytest.fixture(scope="module")
def calibration(plan, history):
    return calibrate(plan, history)


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)


def test_history_read_from_prometheus_is_the_simulated_history(plan, history, read):
    telemetry = read.telemetry
    assert len(telemetry) == len(history) and read.duration == DAYS * DAY
    np.testing.assert_array_equal(telemetry.time, history.time)
    baseline, canary = arm_columns(plan.layout, "baseline"), arm_columns(plan.layout, "canary")
    assert not np.isnan(history.counters[:, baseline["counters"]]).any()
    # Counters and gauges were written on the scrape grid in shortest round-trip form: equal bit for bit.
    for kind in ("counters", "gauges"):
        columns = baseline[kind]
        np.testing.assert_array_equal(getattr(telemetry, kind)[:, columns], getattr(history, kind)[:, columns])
    assert np.isnan(telemetry.counters[:, canary["counters"]]).all()  # never exported
    # The only notices: the canary's series, absent from a stable service's history, at every tick.
    missing = len(canary["counters"]) + len(canary["gauges"])
    assert [n.tick for n in read.notices] == list(range(len(history)))
    assert all(n.kind == "missing" and n.message.startswith(f"{missing} of {2 * missing} series missing: ")
               and 'arm="baseline"' not in n.message for n in read.notices)


def test_calibration_of_the_prometheus_history_is_the_in_process_one(plan, read, calibration):
    from_prometheus = calibrate(plan, read.telemetry).estimates()
    in_process = calibration.estimates()
    assert from_prometheus.keys() == in_process.keys()
    different = [f"{path}: {from_prometheus[path]} != {estimate}" for path, estimate in in_process.items()
                 if not (all(same(getattr(from_prometheus[path], f), getattr(estimate, f))
                             for f in ("value", "low", "high"))
                         and from_prometheus[path].fallback == estimate.fallback)]
    assert different == []


def test_intervals_contain_the_simulated_model(plan, calibration):
    estimates = calibration.estimates()
    truth = TRUE_VALUES
    assert not [path for path in truth if estimates[path].fallback]
    outside = [f"{path}: {truth[path]:.6g} not in [{estimates[path].low:.6g}, {estimates[path].high:.6g}]"
               for path in truth if not estimates[path].contains(truth[path])]
    # Each interval is a 95% interval of one history: the count that misses is Binomial(len(truth), 5%); more
    # than its 99% quantile means the intervals do not cover. (Coverage per parameter over many seeds is
    # checked in test_calibration_estimators.py.)
    from scipy import stats
    assert len(outside) <= stats.binom.ppf(0.99, len(truth), 0.05), outside
    # Informative, not merely wide: the history pins the parameters down.
    assert estimates["service.p99"].high < 1.02 * estimates["service.p99"].low
    for process in ("requests", "errors", "latency"):
        for field in ("sd", "jitter"):
            estimate = estimates[f"variability.{process}.{field}"]
            assert estimate.high < 1.5 * estimate.low, (process, field, estimate)
        estimate = estimates[f"variability.{process}.correlation_time"]
        assert estimate.high < 2 * estimate.low, (process, estimate)
    assert estimates["variability.errors.bursts.per_day"].low > 0   # the error bursts are seen


UNITS = {"%": 0.01, "ms": 0.001, "s": 1.0, "/s": 1.0, "": 1.0}


def commented_intervals(text: str) -> dict[str, tuple[float, float]]:
    """``path -> (low, high)`` of every ``# 95% [low, high]`` comment of a traffic: YAML, in base units."""
    found, stack = {}, []
    for line in text.splitlines():
        match = re.match(r"^( *)([\w.]+):", line)
        if not match or line.lstrip().startswith("#"):
            continue
        depth = len(match.group(1)) // 2
        stack[depth:] = [match.group(2)]
        interval = re.search(r"# 95% \[([-\d.e+]+|inf)([a-z/%]*), ([-\d.e+]+|inf)([a-z/%]*)\]", line)
        if interval:
            low, low_unit, high, high_unit = interval.groups()
            found[".".join(stack[1:])] = (float(low) * UNITS[low_unit], float(high) * UNITS[high_unit])
    return found


def test_calibrate_command_against_prometheus(plan, plan_path, server, calibration, tmp_path, capsys):
    out, report = tmp_path / "traffic.yaml", tmp_path / "report"
    result = rampsim(capsys, "calibrate", str(plan_path), "--prometheus", server.url, "--start", format_instant(START),
                     "--end", format_instant(END), "-o", str(out), "--report", str(report))
    assert result.returncode == 0, result.stderr
    scrapes = f"{DAYS * DAY // 15 + 1:,}"
    assert f"history: {scrapes} scrape slots over {DAYS * 24:.1f} h, {scrapes} with samples, {scrapes} with " \
           "baseline requests" in result.stderr
    assert sorted(p.name for p in report.iterdir()) == ["fit.md", "fit.png"]
    text = out.read_text()

    # The section is a plan's traffic: section, its values the fitted ones.
    calibrated = plan_from_text(PLAN_HEAD + "\n" + text, str(out))
    config = traffic_config(calibrated)
    estimates = calibration.estimates()
    assert config.load.average == pytest.approx(estimates["load.average"].value, rel=1e-5)
    assert config.segments["B"].error_rate == pytest.approx(estimates["segments.B.error_rate"].value, rel=1e-5)
    assert config.service.p99 == pytest.approx(estimates["service.p99"].value, rel=1e-5)
    assert config.service.p99 > calibration.latency.p99.value    # P99 at multiplier 1: a typical tick's is below it
    assert config.variability.errors.sd == pytest.approx(estimates["variability.errors.sd"].value, rel=1e-3)
    assert config.variability.latency.correlation_time == pytest.approx(
        estimates["variability.latency.correlation_time"].value, rel=1e-5)
    assert yaml.safe_load(text)["traffic"]["service"]["instances"] == {"baseline": 9, "canary": 1}  # kept

    # Every fitted value's comment is its interval, to the four digits shown, and holds the truth wherever the
    # fit's interval does (how often those cover is the coverage test's, above).
    comments = commented_intervals(text)
    fitted = [path for path, estimate in estimates.items() if not estimate.fallback]
    assert set(fitted) <= set(comments)
    for path in fitted:
        for shown, exact in zip(comments[path], (estimates[path].low, estimates[path].high)):
            assert shown == exact or shown == pytest.approx(exact, rel=6e-4), path
    shown_outside = [path for path, value in TRUE_VALUES.items()
                     if not comments[path][0] * (1 - 6e-4) <= value <= comments[path][1] * (1 + 6e-4)]
    assert set(shown_outside) <= {path for path, value in TRUE_VALUES.items() if not estimates[path].contains(value)}


def window_lines(result) -> list[str]:
    """The CLI's lines for stopped windows, as it prints them."""
    return [f"  window from {format_instant(START + w.start)}: {w.decision} at "
            f"{format_value(w.time, Kind.DURATION)} into it ({w.source})"
            for w in result.windows if w.stopped]


def test_backtest_command_against_prometheus(plan, plan_path, history, read, server, capsys):
    expected = backtest(plan, history, seed=0)
    assert backtest(plan, read.telemetry, seed=0) == expected   # every window's verdict, alerts included
    stops = expected.false_rollbacks
    assert len(expected.windows) == DAYS * 6 and 0 < stops < len(expected.windows)  # some stop, not all

    result = rampsim(capsys, "backtest", str(plan_path), "--prometheus", server.url, "--start", format_instant(START),
                     "--end", format_instant(END), "--replicates", "4")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    n = len(expected.windows)
    assert lines[0] == f"A/A backtest of compact-history on {n} windows of 4h (split seed 0):"
    assert lines[1].startswith(f"  history:    {stops} stopped of {n}: false-rollback rate {stops / n:.1%} [")
    assert re.match(r"  simulation: \d+ stopped of 4 healthy ramps under the model calibrated on this history: ",
                    lines[2])
    fired = lines.index("what fired in the history (windows):")
    stopped = lines.index("windows stopped:")
    assert lines[fired + 1:stopped] == [f"  {count:4d}  {name}" for name, count in expected.rule_counts().items()]
    assert lines[stopped + 1:] == window_lines(expected)


def test_a_range_wider_than_the_data_is_read_over_the_datas_span_alone(plan, read, server):
    """90 days around the data were read and held as 90 days of scrapes (2.58 GB of peak memory for a day)."""
    wide = read_history(plan, PrometheusSource(server.url, plan.layout), START - 45 * DAY, END + 45 * DAY)
    assert wide.grid.start == START and len(wide.telemetry) == len(read.telemetry) == DAYS * DAY // 15 + 1
    np.testing.assert_array_equal(wide.telemetry.counters, read.telemetry.counters)


def test_prometheus_and_a_recording_of_its_data_give_the_same_history(plan, plan_path, history, server, tmp_path,
                                                                     capsys):
    """A range past the data's end: Prometheus's was read whole, a last window of one sample held at the final
    gate and counted as a false rollback, where the recording's was cut at its last sample; and a range holding
    one scrape wrote a traffic: section of no increment (exit 0) where the recording's is unavailable (exit 5)."""
    recording = tmp_path / "history.csv"
    with recording.open("w", newline="") as handle:
        write_tick_csv(history, handle, START, arms=["baseline"])
    printed = {}
    for source in (["--prometheus", server.url], ["--replay", str(recording)]):
        result = rampsim(capsys, "backtest", str(plan_path), *source, "--start", format_instant(END - 4 * 3600),
                         "--end", format_instant(END + 6 * 3600), "--replicates", "2")
        assert result.returncode == 0, result.stderr
        printed[source[0]] = result
        one = rampsim(capsys, "calibrate", str(plan_path), *source, "--start", format_instant(END),
                      "--end", format_instant(END + 3600), "-o", str(tmp_path / "t.yaml"))
        assert one.returncode == 5 and not (tmp_path / "t.yaml").exists()
        assert f"the range read holds one scrape ({format_instant(END)})" in one.stderr, one.stderr
    assert printed["--prometheus"].stdout == printed["--replay"].stdout
    assert printed["--prometheus"].stderr == printed["--replay"].stderr
    assert "compact-history on 1 window" in printed["--replay"].stdout


@pytest.mark.parametrize("command, options", [("calibrate", []), ("backtest", ["--timeout", "1", "--attempts", "1"])])
def test_unreachable_prometheus_is_history_unavailable(plan_path, command, options, capsys):
    url = f"http://127.0.0.1:{free_port()}"   # nothing listens there
    result = rampsim(capsys, command, str(plan_path), "--prometheus", url, "--start", format_instant(START),
                     "--end", format_instant(END), *options)
    assert result.returncode == 5, result.stderr
    assert f"history unavailable: Prometheus at {url}: unreachable" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["calibrate", "backtest"])
@pytest.mark.parametrize("bounds", [[], ["--start", format_instant(START)], ["--end", format_instant(END)]])
def test_prometheus_needs_start_and_end(plan_path, command, bounds, capsys):
    result = rampsim(capsys, command, str(plan_path), "--prometheus", "http://127.0.0.1:9", *bounds)
    assert result.returncode == 2
    assert "--start and --end are required with --prometheus" in result.stderr
