"""Robustness of the production gate: a failing Prometheus or bad data never advances, never crashes.

A tiny fake Prometheus on 127.0.0.1 serves recorded telemetry or misbehaves on cue.
"""
import json
import time

import numpy as np
import pytest

from rampsim.cli import main
from rampsim.engine import DecisionEngine, DecisionKind
from rampsim.prod.samples import Notice
from rampsim.prod.replay import FileSource
from rampsim.prod.gate_run import GateRun, GateOutcome
from rampsim.prod.source import PrometheusSource, RetryPolicy, SourceUnavailable
from tests.builders import run, steady
from tests.prometheus_server import FakePrometheus, free_port
from tests.sim_helpers import REFERENCE

PLAN_PATH = str(REFERENCE)
START = 1740787200.0
END = START + 4 * 3600
EMPTY = '{"status":"success","data":{"resultType":"matrix","result":[]}}'


def gate(plan, url, attempts=3, timeout=2.0, sleeps=None):
    policy = RetryPolicy(timeout=timeout, attempts=attempts, backoff=0.01)
    source = PrometheusSource(url, plan.layout, policy=policy,
                              sleep=(sleeps.append if sleeps is not None else time.sleep))
    return GateRun(plan, source, START)


def judge(plan, telemetry, until=END):
    """Events and outcome of the gate over ``telemetry`` served by the fake Prometheus."""
    with FakePrometheus(FileSource.from_telemetry(telemetry, START)) as fake:
        gate_run = gate(plan, fake.url)
        steps = list(gate_run.run_until(until))
    return gate_run, [n for s in steps for n in s.notices]


def no_advance(events):
    return not any(getattr(e, "kind", None) is DecisionKind.ADVANCE for e in events)


def test_unreachable_prometheus_is_unavailable_after_bounded_attempts(reference_plan):
    sleeps = []
    gate_run = gate(reference_plan, f"http://127.0.0.1:{free_port()}", attempts=3, sleeps=sleeps)
    assert list(gate_run.run_until(END)) == []
    assert gate_run.outcome() is GateOutcome.UNAVAILABLE
    assert "unreachable" in gate_run.problem and "after 3 attempts" in gate_run.problem
    assert sleeps == [0.01, 0.02]  # bounded, with exponential backoff


def test_slow_prometheus_times_out(reference_plan):
    with FakePrometheus(failures=[("sleep", 1.0)] * 2) as fake:
        began = time.monotonic()
        with pytest.raises(SourceUnavailable, match=r"no answer within 0.2s \(after 2 attempts\)"):
            gate(reference_plan, fake.url, attempts=2, timeout=0.2).source.read(0, 1)
        assert time.monotonic() - began < 1.0
        assert fake.requests == 2


def test_server_errors_are_retried_then_the_gate_goes_on(reference_plan, healthy_telemetry):
    expected = run(DecisionEngine(reference_plan), healthy_telemetry)
    with FakePrometheus(FileSource.from_telemetry(healthy_telemetry, START),
                        failures=[(503, '{"status":"error","error":"overloaded"}'), (500, "oops")]) as fake:
        gate_run = gate(reference_plan, fake.url)
        list(gate_run.run_until(END))
        assert fake.requests == 2 + 5  # two failures, then 961 scrapes in batches of 240
    assert gate_run.events == expected and gate_run.outcome() is GateOutcome.ADVANCE


@pytest.mark.parametrize("failure, message, requests", [
    ((400, '{"status":"error","errorType":"bad_data","error":"parse error at char 3"}'),
     "HTTP 400 Bad Request: parse error at char 3 (after 1 attempt)", 1),
    ((401, "unauthorised"), "HTTP 401", 1),
    ((200, "<html>a proxy page</html>"), "not a Prometheus API answer", 3),
    ((200, '{"status":"error","error":"query timed out"}'), "query failed: query timed out", 3),
    ((200, '{"status":"success","data":{"resultType":"vector","result":[]}}'), "expected a matrix", 3),
    ((429, "slow down"), "HTTP 429", 3),
])
def test_bad_answers_make_the_gate_unavailable(reference_plan, failure, message, requests):
    with FakePrometheus(failures=[failure] * 3) as fake:
        gate_run = gate(reference_plan, fake.url)
        assert list(gate_run.run_until(END)) == []
        assert fake.requests == requests
    assert gate_run.outcome() is GateOutcome.UNAVAILABLE and message in gate_run.problem


@pytest.mark.parametrize("result, message", [
    ([{"metric": {"__name__": "rampsim_requests_total", "arm": "canary"}, "values": [[1740787200, "1"]]},
      {"metric": {"arm": "canary", "__name__": "rampsim_requests_total"}, "values": [[1740787200, "0"]]}],
     "comes twice"),
    ([{"metric": {"__name__": "rampsim_requests_total"}, "values": [[1740787200, True]]}], "malformed series"),
    ([{"metric": {"__name__": "rampsim_requests_total"}, "values": [[1740787200, 1]]}], "malformed series"),
    ([{"metric": {"__name__": "rampsim_requests_total"}, "values": [["1740787200", "1"]]}], "malformed series"),
])
def test_an_answer_that_repeats_a_series_or_writes_values_as_numbers_is_malformed(reference_plan, result, message):
    """A review found an answer repeating a label set (which Prometheus never sends) read as two pods, the last
    copy's zeros winning: an incident advanced. Both are malformed answers, retried, then unavailable."""
    body = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}})
    with FakePrometheus(failures=[(200, body)] * 3) as fake:
        gate_run = gate(reference_plan, fake.url)
        list(gate_run.run_until(END))
    assert gate_run.outcome() is GateOutcome.UNAVAILABLE and message in gate_run.problem


def test_garbage_values_are_refused_without_a_crash(reference_plan):
    body = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "rampsim_requests_total"}, "values": [[1740787200, "many"]]}]}})
    with FakePrometheus(failures=[(200, body)] * 3) as fake:
        gate_run = gate(reference_plan, fake.url)
        list(gate_run.run_until(END))
        assert fake.requests == 3  # a malformed answer is retried, like any other
    assert gate_run.outcome() is GateOutcome.UNAVAILABLE and "malformed series" in gate_run.problem


def test_partial_series_hold_and_say_which(reference_plan, healthy_telemetry):
    partial = healthy_telemetry.copy()
    partial.requests[:, reference_plan.layout.arm("canary"), reference_plan.layout.segment("C")] = np.nan
    gate_run, notices = judge(reference_plan, partial)
    assert gate_run.outcome() is GateOutcome.HOLD and no_advance(gate_run.events)
    assert 'rampsim_requests_total{arm="canary",segment="C"}' in notices[0].message
    assert gate_run.events == run(DecisionEngine(reference_plan), partial)


def test_missing_scrapes_hold(reference_plan, healthy_telemetry):
    stale = healthy_telemetry.copy()
    stale.counters[100:108] = np.nan
    stale.gauges[100:108] = np.nan
    gate_run, notices = judge(reference_plan, stale)
    assert gate_run.outcome() is GateOutcome.HOLD and no_advance(gate_run.events)
    assert "8 scrape(s) missing" in gate_run.decision.reason
    assert [n.tick for n in notices if n.message == "no samples at all for this scrape"] == list(range(100, 108))


def test_data_ending_early_is_inconclusive_not_continue(reference_plan, healthy_telemetry):
    gate_run, notices = judge(reference_plan, healthy_telemetry.head(200), until=START + 3600)
    assert gate_run.decision is None and gate_run.outcome() is GateOutcome.INCONCLUSIVE
    assert gate_run.next_tick == 241 and notices[-1].message == "no samples at all for this scrape"


def test_counter_resets_are_corrected_like_promql_and_reported(reference_plan, healthy_telemetry):
    reset = healthy_telemetry.copy()
    canary = [int(c) for f in ("requests", "errors", "latency_bucket", "health_checks", "health_checks_ok")
              for c in np.atleast_1d(reference_plan.layout.channels(f, reference_plan.layout.arm("canary"))).ravel()]
    reset.counters[500:, canary] -= reset.counters[499, canary]
    gate_run, notices = judge(reference_plan, reset)
    assert gate_run.events == run(DecisionEngine(reference_plan), reset)
    assert gate_run.outcome() is GateOutcome.ADVANCE  # the increase across the restart is still exact
    assert [n.tick for n in notices if n.kind == "reset"] == [500]


def test_follow_rides_out_an_outage_and_gives_the_same_events(reference_plan):
    errors = np.full(961, 0.0007)
    errors[80:] = 0.02
    incident = steady(reference_plan.layout, error_rate=errors)
    expected = run(DecisionEngine(reference_plan), incident)
    clock = [START + 30.0]
    with FakePrometheus(FileSource.from_telemetry(incident, START), failures=[(503, "down")] * 3) as fake:
        gate_run = gate(reference_plan, fake.url, attempts=1)
        items = list(gate_run.follow(clock=lambda: clock[0], sleep=lambda s: clock.__setitem__(0, clock[0] + s),
                                     settle=5.0, max_outage=120.0))
    outages = [i for i in items if isinstance(i, Notice)]
    assert len(outages) == 3 and all("retrying" in n.message for n in outages)
    assert gate_run.events == expected and gate_run.outcome() is GateOutcome.ROLLBACK
    assert clock[0] >= START + gate_run.decision.time + 7.5 + 5.0  # never judged a scrape before it settled


def test_follow_gives_up_after_max_outage(reference_plan):
    clock = [START + 30.0]
    with FakePrometheus(failures=[(503, "down")] * 100) as fake:
        gate_run = gate(reference_plan, fake.url, attempts=1)
        list(gate_run.follow(clock=lambda: clock[0], sleep=lambda s: clock.__setitem__(0, clock[0] + s),
                             max_outage=60.0))
    assert gate_run.outcome() is GateOutcome.UNAVAILABLE and "gave up after 60s" in gate_run.problem


def test_follow_counts_the_failed_reads_retries_in_the_outage_and_never_sleeps_past_it(reference_plan):
    """A review gave up after 17 s with --max-outage 3: the outage began after the first read's retries, and the
    loop then slept a whole scrape interval. Here each read takes 2 s of the clock."""
    clock = [START + 30.0]

    class Slow:
        def read(self, first, last):
            clock[0] += 2.0
            raise SourceUnavailable("Prometheus unreachable")

    gate_run = GateRun(reference_plan, Slow(), START)
    list(gate_run.follow(clock=lambda: clock[0], sleep=lambda s: clock.__setitem__(0, clock[0] + s), max_outage=5.0))
    assert gate_run.outcome() is GateOutcome.UNAVAILABLE and "gave up after 7s" in gate_run.problem


def test_follow_catching_up_times_the_outage_from_the_read_that_failed(reference_plan, healthy_telemetry):
    """Review: catching up over several batches, a read that failed after good ones was timed from the first,
    and one failed read gave up. Here each read takes 2 s of the clock, the 4th fails once, --max-outage 5."""
    clock = [START + 4 * 3600 + 60.0]
    inner = FileSource.from_telemetry(healthy_telemetry, START)
    reads = []

    class Flaky:
        def read(self, first, last):
            clock[0] += 2.0
            reads.append(first)
            if len(reads) == 4:
                raise SourceUnavailable("Prometheus unreachable")
            return inner.read(first, last)

    gate_run = GateRun(reference_plan, Flaky(), START)
    gate_run.batch_ticks = 100
    list(gate_run.follow(clock=lambda: clock[0], sleep=lambda s: clock.__setitem__(0, clock[0] + s), max_outage=5.0))
    assert not gate_run.problem and gate_run.outcome() is GateOutcome.ADVANCE and len(reads) >= 5


def test_cli_exit_code_for_an_unreachable_prometheus(capsys):
    code = main(["gate", PLAN_PATH, "--prometheus", f"http://127.0.0.1:{free_port()}", "--start",
                 "2025-03-01T00:00:00Z", "--at", "2025-03-01T00:20:00Z", "--attempts", "1", "--json"])
    out = capsys.readouterr().out.splitlines()
    assert code == 5
    outcome = json.loads(out[-1])
    assert outcome["event"] == "Outcome" and outcome["outcome"] == "unavailable"
    assert "unreachable" in outcome["problem"]


def test_series_the_plan_does_not_read_may_be_absent_mid_ramp(validation_plan):
    """A service without health-check or cache series, judged by a plan that reads neither: continue, not inconclusive."""
    small = validation_plan  # reads error rate and P99 only
    telemetry = steady(small.layout, minutes=20)
    for family in ("health_checks", "health_checks_ok", "cache_hits", "cache_misses"):
        getattr(telemetry, family)[...] = np.nan
    gate_run = GateRun(small, FileSource.from_telemetry(telemetry, START), START)
    list(gate_run.run_until(START + 10 * 60))
    assert gate_run.outcome() is GateOutcome.CONTINUE
    telemetry.requests[30:] = np.nan  # a series the plan reads
    gate_run = GateRun(small, FileSource.from_telemetry(telemetry, START), START)
    list(gate_run.run_until(START + 10 * 60))
    assert gate_run.outcome() is GateOutcome.INCONCLUSIVE


@pytest.mark.parametrize("value", [np.inf, -np.inf, -5.0, 1e300])
def test_a_damaged_latest_sample_is_inconclusive_not_continue(validation_plan, value):
    """A review found a damaged sample in the latest scrape (inf, negative, beyond 2^53) reported CONTINUE, exit 0,
    where a blank one is INCONCLUSIVE: exit 0 needs the latest scrape whole and sound."""
    telemetry = steady(validation_plan.layout, minutes=20)
    telemetry.errors[40, validation_plan.layout.arm("canary"), 0] = value
    gate_run = GateRun(validation_plan, FileSource.from_telemetry(telemetry, START), START)
    list(gate_run.run_until(START + 40 * 15))
    assert gate_run.decision is None and gate_run.outcome() is GateOutcome.INCONCLUSIVE
    canary = validation_plan.layout.arm("canary")
    telemetry.errors[40, canary, 0] = telemetry.errors[39, canary, 0]
    gate_run = GateRun(validation_plan, FileSource.from_telemetry(telemetry, START), START)
    list(gate_run.run_until(START + 40 * 15))
    assert gate_run.outcome() is GateOutcome.CONTINUE
