"""The round trip through a real Prometheus: the same engine gives the same events.

Four 4-hour ramps of the reference plan, simulated by :func:`rampsim.sim.simulate`
(an incident, a healthy ramp, a canary whose counters restart mid-way, five minutes
of lost scrapes) are exported as OpenMetrics, backfilled with ``promtool`` into one
TSDB (each on its own day, the third under a service's own metric and label names
and a ``job`` matcher), and served by ``prometheus`` on 127.0.0.1. The gate then reads each
ramp back through the HTTP API and must emit exactly the in-process events. The
PromQL written in :mod:`rampsim.engine.promql` is checked against the engine's
numbers on the same data, comparisons of the canary with the baseline included.
"""
import json
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass

import numpy as np
import pytest

from rampsim.engine import CheckpointReport, DecisionEngine, DecisionKind, event_to_dict
from rampsim.engine.metrics import Series, evaluate
from rampsim.plan import Metric, WindowKind, load_plan, with_overrides
from rampsim.plan.schema import Criterion
from rampsim.prod.exporter import MetricsExporter, rehearse
from rampsim.prod.instants import format_instant
from rampsim.prod.naming import Naming
from rampsim.prod.openmetrics import write_openmetrics
from rampsim.prod.gate_run import GateRun, GateOutcome
from rampsim.prod.source import PrometheusSource
from rampsim.telemetry import Telemetry
from tests.builders import latency_at, run, steady
from tests.prometheus_server import backfilled_server, require_binaries, start_server, stop_server
from tests.sim_helpers import REFERENCE, SCENARIOS

pytestmark = pytest.mark.prometheus

PLAN_PATH = str(REFERENCE)
DAY = 86400
START = 1740787200  # 2025-03-01T00:00:00Z; retention is counted from the newest block, so it stays
SERVICE_NAMING = Naming(metrics={"requests": "http_requests_total", "errors": "http_requests_failed_total",
                                 "latency_bucket": "http_request_duration_seconds_bucket"},
                        labels={"arm": "track", "segment": "region"}, matchers={"job": "learning-api"})


@dataclass
class Case:
    name: str
    start: int
    telemetry: Telemetry
    naming: Naming
    expected: list
    outcome: GateOutcome


def noisy_ramp(plan, seed: int, incident_from: int | None = None) -> Telemetry:
    """Hand-built 4-hour ramp with per-scrape noise; an incident (errors and latency) from a tick on."""
    rng = np.random.default_rng(seed)
    ticks = int(plan.duration / plan.telemetry.scrape_interval) + 1
    errors = 0.0007 * rng.uniform(0.5, 1.5, ticks)
    slow = rng.uniform(0.0, 0.008, ticks)
    if incident_from is not None:
        errors[incident_from:] += 0.012
        slow[incident_from:] += 0.02
    latency = (latency_at(plan.layout, 0.04)[None, :] * (1 - slow[:, None])
               + latency_at(plan.layout, 0.3)[None, :] * slow[:, None])
    telemetry = steady(plan.layout, error_rate=errors, latency=latency,
                       failed_checks=(rng.uniform(size=ticks) < 0.002).astype(float))
    telemetry.errors[...] *= np.array([0.9, 1.0, 1.15])  # segments differ a little
    return telemetry


def restart_canary(plan, telemetry: Telemetry, tick: int) -> Telemetry:
    """The canary's counters restart from zero at ``tick`` (a pod restart), as Prometheus would see them."""
    restarted = telemetry.copy()
    canary = plan.layout.arm("canary")
    columns = np.concatenate([np.atleast_1d(plan.layout.channels(family, canary)).ravel()
                              for family in ("requests", "errors", "latency_bucket", "latency_sum", "revenue",
                                             "health_checks", "health_checks_ok", "cache_hits", "cache_misses")])
    restarted.counters[tick:, columns] -= restarted.counters[tick - 1, columns]
    return restarted


def without_scrapes(telemetry: Telemetry, first: int, count: int) -> Telemetry:
    gap = telemetry.copy()
    gap.counters[first:first + count] = np.nan
    gap.gauges[first:first + count] = np.nan
    return gap


def in_process(plan, fault: str | None, seed: int, built) -> tuple[Telemetry, list]:
    """A simulated ramp and its in-process events (``rampsim.sim``), or ``built()`` judged by the engine."""
    try:
        from rampsim.faults import parse_fault
        from rampsim.sim import simulate
    except ImportError:
        telemetry = built()
        return telemetry, run(DecisionEngine(plan), telemetry)
    simulation = simulate(plan, faults=[parse_fault(fault)] if fault else [], seed=seed)
    return simulation.telemetry, simulation.events


@pytest.fixture(scope="module", autouse=True)
def binaries():
    """Skip (or fail, under CI) before simulating anything when Prometheus is not installed."""
    return require_binaries()


@pytest.fixture(scope="module")
def cases(sampling_reference_plan):
    """The four ramps, on the reference plan with pure sampling noise: their seeds were chosen on it."""
    plan = sampling_reference_plan
    healthy = lambda: noisy_ramp(plan, 12)  # noqa: E731
    specs = [
        ("incident", "error-rate:canary:+1.5%@1h40m", lambda: noisy_ramp(plan, 11, incident_from=400),
         Naming(), GateOutcome.ROLLBACK),
        ("healthy", None, healthy, Naming(), GateOutcome.ADVANCE),
        ("counter-reset", "counter-reset:canary@2h", lambda: restart_canary(plan, healthy(), 480),
         SERVICE_NAMING, GateOutcome.ADVANCE),
        ("scrape-gap", "scrape-gap:shared@1h/5m", lambda: without_scrapes(healthy(), 240, 20),
         Naming(), GateOutcome.HOLD),
    ]
    built = {}
    for index, (name, fault, fallback, naming, outcome) in enumerate(specs):
        telemetry, events = in_process(plan, fault, 11 + index, fallback)
        built[name] = Case(name, START + index * DAY, telemetry, naming, events, outcome)
    return built


@pytest.fixture(scope="module")
def server(cases, tmp_path_factory):
    work = tmp_path_factory.mktemp("prometheus")
    files = []
    for case in cases.values():
        path = work / f"{case.name}.om"
        with path.open("w") as handle:
            write_openmetrics(case.telemetry, handle, case.start, case.naming)
        files.append(path)
    with backfilled_server(files, work) as running:
        yield running


@pytest.mark.parametrize("name", ["incident", "healthy", "counter-reset", "scrape-gap"])
def test_events_read_back_from_prometheus_equal_the_in_process_events(sampling_reference_plan, cases, server, name):
    case = cases[name]
    plan = sampling_reference_plan
    gate = GateRun(plan, PrometheusSource(server.url, plan.layout, case.naming), case.start, case.naming)
    notices = [n for step in gate.run_until(case.start + plan.duration) for n in step.notices]
    assert gate.events == case.expected
    assert gate.outcome() is case.outcome
    kinds = {n.kind for n in notices}
    assert kinds == {"counter-reset": {"reset"}, "scrape-gap": {"missing"}}.get(name, set())


@pytest.mark.parametrize("plan_name, name", [("ramp-phase-50k-comparative", "incident"),
                                             ("ramp-phase-50k-comparative", "counter-reset"),
                                             ("ramp-phase-50k-sequential", "incident")])
def test_comparative_and_sequential_gates_read_back_from_prometheus_decide_as_in_process(cases, server, name,
                                                                                        plan_name):
    """The gate reads both arms' series (the baseline's too) and, on the same samples, emits the engine's events
    (the sequential plan on one ramp only: its step engine reads every interval since the start at each scrape)."""
    case = cases[name]
    plan = with_overrides(load_plan(SCENARIOS / f"{plan_name}.yaml"), {"traffic.variability": "none"})
    gate = GateRun(plan, PrometheusSource(server.url, plan.layout, case.naming), case.start, case.naming)
    list(gate.run_until(case.start + plan.duration))
    expected = run(DecisionEngine(plan), case.telemetry)
    assert gate.events == expected
    assert any(isinstance(e, CheckpointReport) for e in expected)


def test_scrape_by_scrape_queries_give_the_same_events(sampling_reference_plan, cases, server):
    case = cases["incident"]
    plan = sampling_reference_plan
    gate = GateRun(plan, PrometheusSource(server.url, plan.layout), case.start, batch_ticks=1)
    list(gate.run_until(case.start + 35 * 60))  # the first checkpoints, one query per scrape as --follow does
    assert gate.events == [e for e in case.expected if e.time <= 35 * 60]


def test_gate_command_against_prometheus(sampling_reference_plan, cases, server):
    case = cases["incident"]
    end = case.start + sampling_reference_plan.duration
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from rampsim.cli import main; sys.exit(main())",
         "gate", PLAN_PATH, "--prometheus", server.url, "--json",
         "--start", format_instant(case.start), "--at", format_instant(end)],
        capture_output=True, text=True, timeout=120)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 1, result.stderr
    assert [{k: v for k, v in line.items() if k != "at"} for line in lines[:-1]] == \
        [json.loads(json.dumps(event_to_dict(e))) for e in case.expected]
    assert lines[-1]["outcome"] == "rollback" and lines[-1]["exit_code"] == 1
    assert any(e.kind is DecisionKind.ROLLBACK for e in case.expected if hasattr(e, "kind"))


def promql_value(url: str, query: str, at: float):
    params = urllib.parse.urlencode({"query": query, "time": format_instant(at)})
    with urllib.request.urlopen(f"{url}/api/v1/query?{params}", timeout=10) as response:
        result = json.load(response)["data"]["result"]
    return float(result[0]["value"][1]) if result else None


def cross_check(plan, case, server, peak: bool) -> list[str]:
    """Measures whose documented PromQL, at grid times, differs from the engine's number."""
    series = Series.from_telemetry(case.telemetry)
    interval = plan.telemetry.scrape_interval
    wrong = []
    for where, measure in plan.measures():
        if measure.metric is Metric.ALERTS or (measure.peak is not None) != peak:
            continue
        if measure.metric is Metric.SEGMENT_SPREAD and measure.definition == "chi2":
            continue
        for tick in (240, 480, 960):
            if measure.window.kind is WindowKind.ROLLING:
                start, window = tick - int(round(measure.window.seconds / interval)), ""
            else:
                start = 0 if measure.window.kind is WindowKind.CUMULATIVE else tick - 120
                window = f"{int((tick - start) * interval)}s"
            if start < 0 or (measure.trend and 2 * start - tick < 0):
                continue  # the engine calls a window reaching before the ramp inconclusive, PromQL takes what is there
            engine = float(evaluate(series, measure, np.array([start]), np.array([tick]))[0])
            if np.isnan(engine):
                continue  # inconclusive for the engine (e.g. a sub-window without traffic); PromQL skips such points
            prom = promql_value(server.url, case.naming.promql(measure, window), case.start + tick * interval)
            same = np.isnan(engine) if prom is None else bool(np.isclose(prom, engine, rtol=1e-9, atol=0.0,
                                                                           equal_nan=True))
            if not same:
                wrong.append(f"{where} at tick {tick}: engine {engine!r}, PromQL {prom!r}")
    return wrong


@pytest.mark.parametrize("name", ["incident", "counter-reset"])
def test_documented_promql_gives_the_engines_numbers(sampling_reference_plan, cases, server, name):
    # Equal up to floating-point summation order (rtol 1e-9): PromQL sums per-series increases,
    # the engine differences summed counters. Decisions use the raw samples, so they are exact.
    assert cross_check(sampling_reference_plan, cases[name], server, peak=False) == []


def test_documented_peak_promql_gives_the_engines_numbers(sampling_reference_plan, cases, server):
    assert cross_check(sampling_reference_plan, cases["incident"], server, peak=True) == []


GAUGE_WINDOWS = [{"metric": "memory_growth", "window": "2h", "threshold": "100MB/h"},
                 {"metric": "memory_growth", "window": "15m", "threshold": "100MB/h"},
                 {"metric": "memory", "agg": "avg", "window": "15m", "threshold": 0.9},
                 {"metric": "cpu", "agg": "max", "window": "15m", "threshold": 0.9}]


def promql_values(url: str, query: str, first: float, last: float, step: float) -> dict[float, float]:
    """``query``'s value at each step from ``first`` to ``last`` (a range query), by time (steps without one: none)."""
    params = urllib.parse.urlencode({"query": query, "start": format_instant(first), "end": format_instant(last),
                                     "step": f"{step:g}s"})
    with urllib.request.urlopen(f"{url}/api/v1/query_range?{params}", timeout=10) as response:
        result = json.load(response)["data"]["result"]
    return {float(t): float(v) for t, v in result[0]["values"]} if result else {}


@pytest.mark.parametrize("tick", [245, 259, 270, 300, 500, 700])   # the scrapes at 240..259 are lost
def test_gauge_windows_over_lost_scrapes_give_prometheus_numbers(cases, server, tick):
    """``deriv``, ``avg_over_time`` and ``max_over_time`` over a range with lost scrapes (inside it, or at its end)
    read the samples present, on a real Prometheus as in the engine: the window is conclusive."""
    case = cases["scrape-gap"]
    series, interval = Series.from_telemetry(case.telemetry), case.telemetry.layout.scrape_interval
    assert np.isnan(case.telemetry.gauges[240:260]).all()
    checked = 0
    for spec in GAUGE_WINDOWS:
        measure = Criterion.model_validate({"op": "<", **spec})
        start = tick - int(round(measure.window.seconds / interval))
        if start < 0 or start > 259:
            continue   # a window reaching before the ramp (inconclusive), or after the gap
        engine = float(evaluate(series, measure, np.array([start]), np.array([tick]))[0])
        prom = promql_value(server.url, case.naming.promql(measure), case.start + tick * interval)
        # a flat 3 GB series: both fits leave rounding noise of microbytes an hour (Prometheus's sums are not centred)
        noise = 1e-3 if spec["metric"] == "memory_growth" else 0.0
        assert prom is not None and np.isclose(prom, engine, rtol=1e-9, atol=noise), (spec, tick, engine, prom)
        checked += 1
    assert checked


def test_a_peak_over_lost_scrapes_is_the_largest_conclusive_sub_window(sampling_reference_plan, cases, server):
    """Over lost scrapes, PromQL's peak subquery steps through sub-windows whose increase it reads from the samples
    present, extrapolated; the engine's exact increase has no value over a sub-window missing an end sample. So the
    engine's peak is the largest sub-window value PromQL gives where both of its end samples are present, PromQL's the
    largest of all (the same when the largest sub-window is whole)."""
    case = cases["scrape-gap"]
    series, interval = Series.from_telemetry(case.telemetry), case.telemetry.layout.scrape_interval
    present = ~np.isnan(case.telemetry.counters).any(axis=1)
    checked = 0
    for where, measure in sampling_reference_plan.measures():
        if measure.peak is None:
            continue
        width = int(round(measure.peak / interval))
        sub_window = Criterion.model_validate({**measure.model_dump(include={"metric", "quantile", "arm", "op"}),
                                               "threshold": "1s" if measure.quantile else 0.5,
                                               "window": f"{measure.peak:g}s"})
        for tick in (300, 480):
            start = tick - int(round(measure.window.seconds / interval))
            engine = float(evaluate(series, measure, np.array([start]), np.array([tick]))[0])
            peak = promql_value(server.url, case.naming.promql(measure), case.start + tick * interval)
            inner = promql_values(server.url, case.naming.promql(sub_window), case.start + (start + width) * interval,
                                  case.start + tick * interval, interval)
            whole = [v for t, v in inner.items() if present[round((t - case.start) / interval)]
                     and present[round((t - case.start) / interval) - width]]
            assert len(whole) < len(inner), (where, tick)   # sub-windows over the gap are in PromQL's peak
            assert engine == pytest.approx(max(whole), rel=1e-9), (where, tick)
            assert peak == pytest.approx(max(inner.values()), rel=1e-9), (where, tick)
            checked += 1
    assert checked == 4


def comparisons() -> list[tuple[str, Criterion]]:
    """The comparative plan's comparisons with the baseline, and more: every contrast, gauges, a guard every window
    meets and one none does (its PromQL has no result where the engine's value is inconclusive)."""
    plan = load_plan(SCENARIOS / "ramp-phase-50k-comparative.yaml")
    found = [(where, m) for where, m in plan.measures() if m.compare is not None]
    extra = [
        {"metric": "error_rate", "as": "ratio", "min_requests": 1000, "window": "5m"},
        {"metric": "error_rate", "as": "relative", "min_requests": 10**9, "window": "5m"},
        {"metric": "error_rate", "as": "relative", "segment": "C", "window": "15m"},
        {"metric": "p50", "as": "ratio", "window": "cumulative"},
        {"metric": "availability", "as": "difference", "window": "15m"},
        {"metric": "cache_hit_rate", "as": "relative", "min_requests": 1000, "window": "cumulative"},
        {"metric": "segment_spread", "definition": "relative", "as": "difference", "window": "1h"},
        {"metric": "cpu", "as": "difference", "window": "1m"},
        {"metric": "memory", "agg": "avg", "as": "ratio", "window": "15m"},
    ]
    found += [(f"extra {i}", Criterion.model_validate({**m, "compare": "baseline", "op": "<",  # a ratio < 0: refused
                                                      "threshold": 1 if m["as"] == "ratio" else 0}))
              for i, m in enumerate(extra)]
    return found


@pytest.mark.parametrize("name", ["incident", "counter-reset"])
def test_comparisons_promql_gives_the_engines_numbers(cases, server, name):
    """Each comparison's documented PromQL on the real Prometheus equals the engine's value (up to summation order,
    as above); where the engine's value is inconclusive, PromQL has no number either (no result below the
    ``min_requests`` guard, NaN over 0/0) but for a peak, whose subquery skips the sub-windows the engine finds
    inconclusive (as above)."""
    case = cases[name]
    series, interval = Series.from_telemetry(case.telemetry), case.telemetry.layout.scrape_interval
    wrong, answers = [], {}
    for where, measure in comparisons():
        for tick in (240, 480, 960):
            if measure.window.kind is WindowKind.ROLLING:
                start, window = tick - int(round(measure.window.seconds / interval)), ""
            else:
                start = 0 if measure.window.kind is WindowKind.CUMULATIVE else tick - 120
                window = f"{int((tick - start) * interval)}s"
            engine = float(evaluate(series, measure, np.array([start]), np.array([tick]))[0])
            prom = promql_value(server.url, case.naming.promql(measure, window), case.start + tick * interval)
            answers[where, tick] = prom
            if np.isnan(engine):
                same = measure.peak is not None or prom is None or np.isnan(prom)
            else:
                same = prom is not None and bool(np.isclose(prom, engine, rtol=1e-9, atol=1e-15))
            if not same:
                wrong.append(f"{where} at tick {tick}: engine {engine!r}, PromQL {prom!r}")
    assert wrong == [], "\n".join(wrong)
    assert [answers["extra 1", tick] for tick in (240, 480, 960)] == [None] * 3   # the guard no window meets
    assert answers["extra 0", 240] is not None                                     # one it meets


@pytest.mark.slow  # waits for real-time scrapes
def test_a_rehearsal_is_scraped_by_a_real_prometheus(sampling_reference_plan, cases, tmp_path):
    """The live exporter, published 60x faster than real time, scraped every second by Prometheus."""
    prometheus, _ = require_binaries()
    telemetry = cases["healthy"].telemetry
    series = 'rampsim_requests_total{arm="canary",segment="A",job="rehearsal"}'
    layout = sampling_reference_plan.layout
    with MetricsExporter(layout) as exporter:
        exporter.publish(telemetry, 0)
        config = (f"global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: rehearsal\n"
                  f"    static_configs:\n      - targets: ['127.0.0.1:{exporter.port}']\n")
        server = start_server(prometheus, tmp_path / "tsdb", tmp_path, config_text=config)
        try:
            assert wait_for(server.url, series, telemetry.requests[0, layout.arm("canary"), 0])
            rehearse(telemetry.head(10), exporter, speed=60.0)  # a scrape every 0.25 s
            assert wait_for(server.url, series, telemetry.requests[9, layout.arm("canary"), 0])
        finally:
            stop_server(server)


def wait_for(url: str, query: str, value: float, timeout: float = 30.0) -> bool:
    """Whether ``query`` gives ``value`` within ``timeout`` seconds (Prometheus applies targets every 5 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if promql_value(url, query, time.time()) == value:
            return True
        time.sleep(0.2)
    return False
