"""``rampsim gate`` on an imported gate: the controller's queries at the controller's times, against Prometheus.

A simulated ramp with a 5xx regression is exposed as the gate's exporter names its series, written as OpenMetrics
(unix times from ``START``), backfilled with ``promtool`` and served by the real Prometheus 2.42 on 127.0.0.1.
``rampsim gate PLAN --prometheus URL --start START --at END`` catches up on the ramp as Argo or Flagger would have
judged it live (each measurement's query sent to ``/api/v1/query`` at its own time): its decision must be the
rehearsal's (same kind, same time), and every measurement's value the one rampsim's evaluator gives on a local store
of the same exposition with the server's semantics (2.42.0). Without a server: ``--replay`` of the same recording, a refused query (Argo: an Error
measurement), an unreachable server (exit 5) and an outage in the middle of a catch-up (the run resumes exactly).
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from rampsim.cli import main
from rampsim.engine.events import CheckpointReport, Decision, DecisionKind, first_terminal_decision
from rampsim.faults import parse_fault
from rampsim.gates.engines import engine_for
from rampsim.gates.imported_plan import plan_yaml
from rampsim.gates.queries import store_queries
from rampsim.prod.gate_queries import ImportedGateRun, imported_engine, prometheus_queries
from rampsim.prod.gate_run import GateOutcome
from rampsim.prod.instants import format_instant
from rampsim.prod.source import PrometheusSource, SourceUnavailable
from rampsim.promql import evaluate
from rampsim.promql.exposition import expose
from rampsim.sim import simulate
from rampsim.sim.exposed import exposition_for
from tests.gates_helpers import argo_gate, clock, flagger_gate, plan_for, run_engine
from tests.prometheus_server import FakePrometheus, backfilled_server, free_port
from tests.test_gates_simulated import REGRESSION, ROLLOUT, SUCCESS_RATE

START = 1740787200.0          # 2025-03-01T00:00:00Z
STARTED = format_instant(START)

CANARY = """
apiVersion: flagger.app/v1beta1
kind: Canary
metadata: {name: podinfo, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  analysis:
    interval: 30s
    threshold: 3
    maxWeight: 50
    stepWeight: 5
    metrics:
    - {name: request-success-rate, thresholdRange: {min: 99}, interval: 1m}
    - {name: request-duration, thresholdRange: {max: 500}, interval: 30s}
"""
FLAGGER_REGRESSION = parse_fault("error-rate:canary:+20%@120s")


class Case:
    """An imported gate, its plan file, a rehearsal with a regression and the rehearsal's exposition."""

    def __init__(self, kind, gate, fault, seed, directory) -> None:
        self.kind, self.gate = kind, gate
        self.plan = plan_for(kind, gate)
        self.path = directory / f"{kind}.yaml"
        self.path.write_text(plan_yaml(kind, gate, f"{kind}-gate", ["test"], []))
        self.run = simulate(self.plan, [fault], seed=seed)
        self.decision = first_terminal_decision(self.run.events)
        profile, deployment = exposition_for(gate)
        self.local = expose(self.run.telemetry, profile, deployment=deployment, others=False)
        self.recording = directory / f"{kind}.om"
        with self.recording.open("w") as handle:
            expose(self.run.telemetry, profile, start=START, deployment=deployment, others=False) \
                .write_openmetrics(handle)

    def engine_decision(self, semantics) -> Decision:
        """The gate's engine over a local store of the same series, with the given PromQL semantics."""
        engine = engine_for(self.plan, store_queries(self.local.store(), semantics))
        return first_terminal_decision(run_engine(engine, clock(self.plan)))

    def engine_readings(self, semantics) -> list[tuple]:
        """(time, metric, status, value) of every measurement or check the engine takes on the local store."""
        engine = imported_engine(self.plan, self.gate, store_queries(self.local.store(), semantics))
        return [(e.time, r.name, r.status.value, r.value) for e in run_engine(engine, clock(self.plan))
                if isinstance(e, CheckpointReport) for r in e.results]


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    directory = tmp_path_factory.mktemp("imported-gates")
    return {"argo": Case("argo", argo_gate(SUCCESS_RATE, rollout=ROLLOUT), REGRESSION, 2, directory),
            "flagger": Case("flagger", flagger_gate(CANARY, mesh="istio"), FLAGGER_REGRESSION, 3, directory)}


def _decisions(out: str) -> list[dict]:
    lines = [json.loads(line) for line in out.splitlines()]
    return [line for line in lines if line["event"] == "Decision" and line["kind"] in ("rollback", "advance", "hold")]


@pytest.mark.prometheus
def test_an_imported_gate_against_prometheus_decides_as_its_rehearsal(cases, tmp_path, capsys):
    with backfilled_server([c.recording for c in cases.values()], tmp_path) as server:
        version = PrometheusSource(server.url, cases["argo"].plan.layout).version()
        for kind, case in cases.items():
            rehearsed = case.decision
            assert rehearsed is not None and rehearsed.kind is DecisionKind.ROLLBACK, kind
            end = format_instant(START + case.plan.duration)
            code = main(["gate", str(case.path), "--prometheus", server.url, "--start", STARTED, "--at", end,
                         "--json"])
            out = capsys.readouterr().out
            assert code == 1, (kind, out[-2000:])
            (decision,) = _decisions(out)
            assert (decision["kind"], decision["time"]) == (rehearsed.kind.value, rehearsed.time), kind
            assert decision["at"] == format_instant(START + rehearsed.time)
            local = case.engine_decision(semantics=version)    # the server's semantics, rampsim's evaluator
            assert (local.kind, local.time, local.reason) == (rehearsed.kind, rehearsed.time, decision["reason"])
            reports = [json.loads(line) for line in out.splitlines() if '"CheckpointReport"' in line]
            served = [(e["time"], r["name"], r["status"], r["value"]) for e in reports for r in e["results"]]
            expected = case.engine_readings(semantics=version)
            assert len(served) == len(expected) > 5, kind   # every measurement (Argo) or check (Flagger) is shown
            for got, want in zip(served, expected):
                assert got[:3] == want[:3] and (got[3] is None) == (want[3] is None), (kind, got, want)
                assert got[3] is None or got[3] == pytest.approx(want[3], rel=1e-9, abs=1e-12), (kind, got, want)


def test_replay_of_the_gates_recording_decides_as_its_rehearsal(cases, capsys):
    for kind, case in cases.items():
        assert main(["gate", str(case.path), "--replay", str(case.recording), "--start", STARTED, "--json"]) == 1
        (decision,) = _decisions(capsys.readouterr().out)
        assert (decision["kind"], decision["time"]) == (case.decision.kind.value, case.decision.time), kind


def test_a_query_prometheus_refuses_is_an_error_measurement(cases, capsys):
    # Argo (metricproviders/prometheus): the provider's error makes the measurement Error; retried after 10 s, the
    # 5th consecutive Error exceeds consecutiveErrorLimit (4) and the rollout aborts at 40 s.
    refusal = (400, '{"status":"error","errorType":"bad_data","error":"1:1: parse error: unexpected"}')
    with FakePrometheus(failures=[refusal] * 5) as server:
        code = main(["gate", str(cases["argo"].path), "--prometheus", server.url, "--start", STARTED,
                     "--at", format_instant(START + 600), "--json"])
        assert server.requests == 5
    assert code == 1
    (decision,) = _decisions(capsys.readouterr().out)
    assert (decision["kind"], decision["time"]) == ("rollback", 40.0)
    assert "consecutiveErrors (5) > consecutiveErrorLimit (4)" in decision["reason"]


def test_an_unreachable_prometheus_is_unavailable_not_a_verdict(cases, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    code = main(["gate", str(cases["argo"].path), "--prometheus", url, "--start", STARTED,
                 "--at", format_instant(START + 600), "--attempts", "1", "--timeout", "1"])
    assert code == 5
    out = capsys.readouterr().out
    assert "outcome: UNAVAILABLE (exit 5); no scrape judged yet" in out


class _Flaky:
    """A Prometheus stand-in answering from a store (unix times), unreachable for the calls in ``down``."""

    def __init__(self, store, down) -> None:
        self.store, self.down, self.calls, self.warnings = store, set(down), 0, []

    def instant(self, promql, at):
        self.calls += 1
        if self.calls in self.down:
            raise SourceUnavailable("Prometheus at http://prometheus: unreachable (after 1 attempt)")
        return evaluate(promql, self.store, at, semantics=3).to_api_json()


def test_an_outage_mid_catch_up_resumes_where_the_gate_stood(cases):
    case = cases["argo"]
    profile, deployment = exposition_for(case.gate)
    store = expose(case.run.telemetry, profile, start=START, deployment=deployment, others=False).store()
    source = _Flaky(store, down={7, 8})
    run = ImportedGateRun(case.plan, case.gate, prometheus_queries(source, START), START)
    steps = list(run.run_until(START + case.plan.duration))
    assert run.outcome() is GateOutcome.UNAVAILABLE and "unreachable" in run.problem
    stopped = run.next_tick
    assert steps and stopped == steps[-1].tick + 1
    run.problem = ""
    assert list(run.run_until(START + case.plan.duration)) == []   # still down: nothing judged twice
    assert run.next_tick == stopped
    run.problem = ""
    later = list(run.run_until(START + case.plan.duration))
    assert later[0].tick == stopped and run.outcome() is GateOutcome.ROLLBACK
    assert (run.decision.kind, run.decision.time) == (case.decision.kind, case.decision.time)
    events = [e for step in steps + later for e in step.events if isinstance(e, Decision)]
    assert sum(e.terminal for e in events) == 1


def test_replay_of_an_imported_gate_needs_start(cases, capsys):
    assert main(["gate", str(cases["argo"].path), "--replay", str(cases["argo"].recording)]) == 2
    assert "--start is required for an imported gate" in capsys.readouterr().err


def test_record_is_refused_for_an_imported_gate(cases, tmp_path, capsys):
    code = main(["gate", str(cases["argo"].path), "--replay", str(cases["argo"].recording), "--start", STARTED,
                 "--record", str(tmp_path / "x.om")])
    assert code == 2
    assert "--record" in capsys.readouterr().err


def test_follow_judges_measurements_as_their_slots_settle_and_retries_an_outage(cases):
    case = cases["argo"]
    profile, deployment = exposition_for(case.gate)
    store = expose(case.run.telemetry, profile, start=START, deployment=deployment, others=False).store()
    source = _Flaky(store, down={3})
    now = [START]

    def sleep(seconds):
        now[0] += max(seconds, 1.0)

    run = ImportedGateRun(case.plan, case.gate, prometheus_queries(source, START), START)
    items = list(run.follow(clock=lambda: now[0], sleep=sleep, settle=5.0, max_outage=600.0))
    notices = [item for item in items if not hasattr(item, "events")]
    assert len(notices) == 1 and "unreachable" in notices[0].message and "retrying" in notices[0].message
    assert run.outcome() is GateOutcome.ROLLBACK
    assert (run.decision.kind, run.decision.time) == (case.decision.kind, case.decision.time)
    assert now[0] >= START + case.decision.time + 5.0   # never judged a measurement before its slot settled


def test_an_imported_gate_that_ends_without_a_decision_is_inconclusive_not_a_go():
    """Flagger with a failed-check threshold it never reaches and checks that never pass neither promotes nor aborts:
    once every scrape is judged the outcome is inconclusive (exit 4), never continue (exit 0, a pipeline goes on)."""
    from rampsim.prod.gate_queries import gate_run_for
    from rampsim.prod.replay import FileSource

    from rampsim.plan import with_overrides

    plan = with_overrides(plan_for("flagger", flagger_gate(CANARY.replace("threshold: 3", "threshold: 10000"))),
                          {"phases": [{"name": "analysis", "weight": "10%", "duration": "5m"}], "final_gate.at": "5m",
                           "slo.objectives.*.sustain": "0s"})
    run = gate_run_for(plan, FileSource([]), START)
    assert isinstance(run, ImportedGateRun)
    list(run.run_until(START + plan.duration + 60))
    assert run.finished and run.decision is None
    assert run.outcome() is GateOutcome.INCONCLUSIVE
    partway = gate_run_for(plan, FileSource([]), START)
    list(partway.run_until(START + plan.duration / 2))
    assert partway.outcome() is GateOutcome.CONTINUE     # still measuring: the controller goes on


@pytest.mark.parametrize("values", [[10 ** 400], [True], [0.99], ["1e999"], ["0.99_9"], [" 0.99"], ["0.99", "0.10"]],
                         ids=["400 digits", "true", "a JSON number", "out of range", "underscore", "space", "twice"])
def test_a_prometheus_answer_with_a_malformed_sample_is_a_failed_query(values):
    """An imported gate promoted on ``true`` (read as 1.0), on ``"1e999"`` (read as +Inf), and on a series that came
    twice with conflicting values (the first judged): Prometheus's client refuses them, so Argo records an Error."""
    from rampsim.promql import QueryError
    from rampsim.prod.gate_queries import instant_result

    result = [{"metric": {"a": "1"}, "value": [1.0, value]} for value in values]
    with pytest.raises(QueryError, match="malformed vector"):
        instant_result({"resultType": "vector", "result": result}, 0.0)
    if len(values) == 1:
        with pytest.raises(QueryError, match="malformed scalar"):
            instant_result({"resultType": "scalar", "result": [1.0, values[0]]}, 0.0)


def test_a_malformed_sample_among_many_whole_numbers_is_refused_at_once():
    """The first check of joined sample texts backtracked through every way of splitting each earlier value's digits:
    eleven counter values before a bad one took 75 s, and a matrix answer of fifteen hung the reader (its timeout
    covers the network only). In a child process, so that a return of the bug fails the test instead of hanging it."""
    import subprocess
    import sys

    code = ("from rampsim.prod.samples import sample_values\n"
            "try:\n    sample_values(['48213'] * 100_000 + ['4821_3'])\nexcept ValueError:\n    print('refused')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "refused", done.stderr


def test_prometheus_sample_texts_are_read_as_its_client_reads_them():
    from rampsim.prod.samples import sample_values

    read = sample_values(["0.99", "NaN", "+Inf", "-Inf", "Infinity", "1e300", "-0", "12"])
    assert read[0] == 0.99 and np.isnan(read[1]) and list(read[2:5]) == [np.inf, -np.inf, np.inf]
    assert list(read[5:]) == [1e300, 0.0, 12.0]
    for text in ("3268_0", " 0.99", "0.99\n", "\u0663", "1e999", "-1e400", "", True, 1.0):
        with pytest.raises(ValueError):
            sample_values([text])


def test_a_flagger_ramp_lasts_long_enough_for_every_decision_flagger_can_take():
    """A review found the simulated ramp ending a minute after the on-time promotion: each failed check holds the
    canary a tick, so a gate with threshold 10 rolled back after the ramp's end (a sweep called it a miss)."""
    from rampsim.experiment.mix import single_scenario_mix
    from rampsim.experiment.sweep import sweep
    from rampsim.gates.flagger_canary import analysis_interval
    from rampsim.gates.imported_plan import flagger_ramp_seconds

    gate = flagger_gate(CANARY)
    plan = plan_for("flagger", gate)
    interval = analysis_interval(gate)
    assert plan.duration >= flagger_ramp_seconds(gate) - 1e-9
    assert plan.duration >= 10 * interval + 3 * interval   # the on-time promotion (10 ticks) and threshold 3 ticks
    mix = single_scenario_mix("regression", (parse_fault("error-rate:canary:+5%@90s"),))
    result = sweep(plan, mix, grid=["flagger.analysis.threshold=3,12"], replicates=2, workers=1)
    summary = result.summary()
    assert list(summary["missed_incidents"]) == [0, 0] and list(summary["caught"]) == [2, 2], summary
