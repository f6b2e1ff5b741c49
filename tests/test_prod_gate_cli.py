"""``rampsim gate`` on recordings: exit codes, output, replay and record; ``rampsim serve``'s hooks."""
import json
import socket
import threading
import time
import urllib.error
import urllib.request

from pathlib import Path

import numpy as np
import pytest

from rampsim.cli import main
from rampsim.engine import DecisionEngine, event_to_dict
from rampsim.prod.assembler import Assembler
from rampsim.prod.samples import RawSeries
from rampsim.prod.series_map import SeriesMap
from rampsim.prod.exporter import MetricsExporter, rehearse
from rampsim.prod.gate_run import GateRun
from rampsim.prod.clock import ScrapeGrid
from rampsim.prod.naming import Naming, naming_for_plan
from rampsim.prod.openmetrics import parse_series, read_openmetrics, write_openmetrics
from rampsim.prod.replay import FileSource
from rampsim.prod.tickcsv import write_tick_csv
from rampsim.prod.webhook import MAX_BODY, WebhookGate, serve_webhook
from rampsim.telemetry import Telemetry
from tests.builders import run, steady
from tests.prometheus_server import FakePrometheus
from tests.sim_helpers import REFERENCE

PLAN = str(REFERENCE)
START = 1740787200.0
STARTED = "2025-03-01T00:00:00Z"


@pytest.fixture(scope="module")
def incident(reference_plan):
    errors = np.full(961, 0.0007)
    errors[400:] = 0.02
    return steady(reference_plan.layout, error_rate=errors)


def record(tmp_path, telemetry, name="run.om"):
    path = tmp_path / name
    with path.open("w", newline="") as handle:
        (write_tick_csv if name.endswith(".csv") else write_openmetrics)(telemetry, handle, START)
    return str(path)


def gate(*args):
    return main(["gate", PLAN, *args])


def test_replay_of_an_incident_rolls_back(tmp_path, incident, capsys):
    assert gate("--replay", record(tmp_path, incident)) == 1
    out = capsys.readouterr().out
    assert "DECISION ROLLBACK -> canary 0%: rule error_rate_rollback" in out
    assert out.splitlines()[-1].startswith("outcome: ROLLBACK (exit 1); 413 scrape(s) judged")


def test_replay_of_a_healthy_ramp_advances_from_csv(tmp_path, healthy_telemetry, capsys):
    assert gate("--replay", record(tmp_path, healthy_telemetry, "run.csv")) == 0
    assert "DECISION ADVANCE -> canary 100%" in capsys.readouterr().out


def test_json_lines_are_the_engines_events(tmp_path, reference_plan, incident, capsys):
    assert gate("--replay", record(tmp_path, incident), "--json", "--start", STARTED) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = [json.loads(json.dumps(event_to_dict(e))) for e in run(DecisionEngine(reference_plan), incident)]
    assert [{k: v for k, v in line.items() if k != "at"} for line in lines[:-1]] == expected
    assert lines[0]["at"] == "2025-03-01T00:15:00Z"
    assert lines[-1] == {"event": "Outcome", "outcome": "rollback", "exit_code": 1, "scrapes_judged": 413,
                         "judged_until": "2025-03-01T01:43:00Z", "problem": None}


def test_at_stops_early_and_continue_exits_zero(tmp_path, incident, capsys):
    assert gate("--replay", record(tmp_path, incident), "--at", "2025-03-01T01:00:00Z") == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("outcome: CONTINUE (exit 0); 241 scrape(s)")


def test_missing_data_holds_with_a_coalesced_notice(tmp_path, healthy_telemetry, capsys):
    gap = healthy_telemetry.copy()
    gap.counters[100:120] = np.nan
    gap.gauges[100:120] = np.nan
    assert gate("--replay", record(tmp_path, gap)) == 4
    captured = capsys.readouterr()
    assert "DECISION HOLD -> canary 5%" in captured.out
    assert "rampsim gate: +0:25:00..+0:29:45 (20 scrapes) missing: no samples at all for this scrape" in captured.err


def test_a_recording_scraped_more_often_than_the_plan_reads_each_slots_latest_sample(tmp_path, healthy_telemetry,
                                                                                   capsys):
    """Scraped every 10 s against the plan's 15 s, half the slots hold two samples: each was damaged ('two different
    values within one scrape slot', though a counter scraped twice rises), and the gate held (exit 4). The latest
    of each slot is read, noted as a duplicate (the recording, two thirds of the ramp's length, then ends)."""
    path = tmp_path / "ten.om"
    origin = int(START * 1000)
    lines = []
    for line in Path(record(tmp_path, healthy_telemetry)).read_text().splitlines(keepends=True):
        if line.startswith("#"):
            lines.append(line)
            continue
        sample, stamp = line.rsplit(" ", 1)
        lines.append(f"{sample} {(origin + (round(float(stamp) * 1000) - origin) * 2 // 3) / 1000:.3f}\n")
    path.write_text("".join(lines))
    gate("--replay", str(path))
    captured = capsys.readouterr()
    assert "damaged" not in captured.err and "the latest of each slot is used" in captured.err, captured.err
    missing = [line for line in captured.err.splitlines() if "missing" in line]
    assert missing and all(line.startswith("rampsim gate: +2:40:15") or line.startswith("rampsim gate: +3:")
                           for line in missing), missing


def test_a_live_gate_reading_scrape_by_scrape_is_not_ended_by_a_stray_sample(reference_plan, healthy_telemetry):
    """Scrape by scrape (--follow, serve), a missed scrape or a stray sample a second after a scrape left too few gaps
    to measure the spacing on: a check of it ended healthy live runs ('samples are 1s apart'). The gate reads each
    slot's latest sample and goes on."""
    series = FileSource.from_telemetry(healthy_telemetry, START).series
    missed = FileSource([RawSeries(s.labels, np.delete(s.timestamps_ms, 1), np.delete(s.values, 1)) for s in series])
    run = GateRun(reference_plan, missed, START)
    assert [step.tick for tick in range(12) for step in run.run_to(tick)] == list(range(12)) and run.problem == ""
    stray = FileSource([RawSeries(s.labels, np.insert(s.timestamps_ms, 3, s.timestamps_ms[2] + 1000),
                                  np.insert(s.values, 3, s.values[2] + (5 if "_total" in str(s.labels) else 0)))
                        for s in series])
    run = GateRun(reference_plan, stray, START)
    assert [step.tick for tick in range(12) for step in run.run_to(tick)] == list(range(12)) and run.problem == ""

def test_record_then_replay_gives_the_same_events(tmp_path, incident, capsys):
    source = record(tmp_path, incident)
    recorded = tmp_path / "recorded.om"
    assert gate("--replay", source, "--json", "--record", str(recorded)) == 1
    first = capsys.readouterr().out
    assert len([s for s in read_openmetrics(recorded.open()) if s.labels["__name__"] == "rampsim_cpu_utilization"
                and len(s.timestamps_ms) == 413]) == 2
    assert gate("--replay", str(recorded), "--json") == 1
    assert capsys.readouterr().out == first


def test_a_record_path_that_cannot_be_written_is_refused_before_the_run(tmp_path, incident, capsys):
    """A review found the path checked only after the run: the ROLLBACK verdict became exit 2 with no Outcome line
    (and a 4-hour --follow would fail at its end)."""
    source = record(tmp_path, incident)
    for target, problem in ((tmp_path / "no" / "x.om", "no directory"), (tmp_path, "is a directory")):
        assert gate("--replay", source, "--json", "--record", str(target)) == 2
        out, err = capsys.readouterr()
        assert problem in err and "DECISION" not in out and '"Decision"' not in out


def test_a_recording_lost_after_the_run_keeps_the_verdict(tmp_path, incident, capsys, monkeypatch):
    import rampsim.cli.gate as gate_cli

    def refused(*_):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(gate_cli, "_record", refused)
    assert gate("--replay", record(tmp_path, incident), "--json", "--record", str(tmp_path / "x.om")) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[-2] == {"event": "Error", "message": f"--record: cannot write {tmp_path / 'x.om'}: Permission denied"}
    assert lines[-1]["event"] == "Outcome" and lines[-1]["outcome"] == "rollback"


def test_at_before_the_ramp_starts_is_a_usage_error(tmp_path, incident, capsys):
    assert gate("--replay", record(tmp_path, incident), "--at", "2025-02-01T00:10:00Z") == 2
    assert "--at 2025-02-01T00:10:00Z: before the ramp's start (2025-03-01T00:00:00Z)" in capsys.readouterr().err


def test_record_over_the_replayed_file_is_refused_before_anything_is_read(tmp_path, incident, capsys):
    source = record(tmp_path, incident)
    before = Path(source).read_bytes()
    assert gate("--replay", source, "--record", source) == 2
    assert "--record" in capsys.readouterr().err and Path(source).read_bytes() == before


@pytest.mark.parametrize("option", ["--naming", "--bearer-token-file"])
def test_record_over_the_naming_or_token_file_is_refused(tmp_path, incident, capsys, option):
    """A review found --record writing OpenMetrics over the --naming file (the next run failed with exit 3)."""
    source, read = record(tmp_path, incident), tmp_path / "read.yaml"
    read.write_text("metrics: {requests: rampsim_requests_total}\n" if option == "--naming" else "token\n")
    before = read.read_bytes()
    assert gate("--replay", source, option, str(read), "--record", str(read)) == 2
    assert f"that is the {option} file this command reads" in capsys.readouterr().err and read.read_bytes() == before


@pytest.mark.parametrize("args, code, message", [
    (["--prometheus", "http://127.0.0.1:9"], 2, "--start is required"),
    (["--prometheus", "ftp://x", "--start", "now"], 2, "must start with http"),
    (["--prometheus", "http://127.0.0.1:9", "--start", "tomorrow"], 2, "RFC 3339"),
    (["--replay", "missing.om"], 5, "cannot read"),
])
def test_usage_errors(args, code, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # an empty directory: 'missing.om' is missing wherever pytest runs
    try:
        result = gate(*args)
    except SystemExit as exc:  # argparse refused an argument (a time it cannot read)
        result = exc.code
    assert result == code
    assert message in capsys.readouterr().err


def test_a_bad_recording_is_unavailable_not_a_crash(tmp_path, capsys):
    path = tmp_path / "broken.om"
    path.write_text('rampsim_requests_total{arm="canary"} 1 1740787200\n')
    assert gate("--replay", str(path)) == 5
    assert "no '# EOF'" in capsys.readouterr().err


def test_invalid_plan_and_naming_exit_3(tmp_path, capsys):
    bad_plan = tmp_path / "plan.yaml"
    bad_plan.write_text(REFERENCE.read_text() + "\nprometheus:\n  labels: {arm: __x}\n")
    assert main(["gate", str(bad_plan), "--replay", "x.om"]) == 3
    assert "prometheus.labels.arm" in capsys.readouterr().err
    naming = tmp_path / "naming.yaml"
    naming.write_text("metrics: {nope: x}\n")
    assert gate("--replay", "x.om", "--naming", str(naming)) == 3


def test_follow_needs_prometheus(tmp_path, healthy_telemetry, capsys):
    assert gate("--replay", record(tmp_path, healthy_telemetry), "--follow") == 2


# -- rampsim serve: Flagger's hooks ---------------------------------------------------

def test_webhook_answers_flaggers_hooks(reference_plan, incident):
    clock = [START + 3600.0]
    hooks = WebhookGate(reference_plan, FileSource.from_telemetry(incident, START), naming_for_plan(reference_plan),
                        clock=lambda: clock[0])
    canary = {"name": "api", "namespace": "learning", "phase": "Progressing", "metadata": {"start": STARTED}}
    assert hooks.handle("pre-rollout", canary)[0] == 200
    status, body = hooks.handle("rollout", canary)
    assert status == 200 and body["outcome"] == "continue" and body["scrapes_judged"] == 240
    assert hooks.handle("confirm-promotion", canary)[0] == 403  # not before the final gate advances
    clock[0] = START + 2 * 3600
    status, body = hooks.handle("rollout", canary)
    assert status == 403 and body["outcome"] == "rollback"
    assert body["reason"].startswith("rule error_rate_rollback") and "events" not in body  # history on request
    assert hooks.handle("rollout", canary, history=True)[1]["events"][-1]["kind"] == "rollback"
    assert hooks.handle("rollout", {"name": "other", "namespace": "x"})[0] == 409  # no start known
    assert hooks.handle("nonsense", canary)[0] == 404


def test_webhook_over_http_on_localhost(reference_plan, healthy_telemetry):
    hooks = WebhookGate(reference_plan, FileSource.from_telemetry(healthy_telemetry, START),
                        naming_for_plan(reference_plan), start=START, clock=lambda: START + 4 * 3600 + 60)
    server = serve_webhook(hooks, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        assert host == "127.0.0.1"

        def post(hook, payload):
            request = urllib.request.Request(f"http://{host}:{port}/{hook}", data=json.dumps(payload).encode(),
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    return response.status, json.load(response)
            except urllib.error.HTTPError as exc:
                return exc.code, json.load(exc)

        status, body = post("confirm-promotion", {"name": "api", "namespace": "learning"})
        assert status == 200 and body["outcome"] == "advance"
        assert post("rollout", ["not", "an", "object"])[0] == 400
        assert post("rollout", {"name": "api", "metadata": "a string"})[0] == 400
        assert post("rollout", {"name": "api", "padding": "x" * MAX_BODY})[0] == 413
        nested = urllib.request.Request(f"http://{host}:{port}/rollout", data=b"[" * 20_000 + b"]" * 20_000)
        with pytest.raises(urllib.error.HTTPError) as deep:
            urllib.request.urlopen(nested, timeout=10)
        assert deep.value.code == 400
    finally:
        server.shutdown()
        server.server_close()


def test_webhook_drops_a_client_that_sends_nothing(reference_plan, healthy_telemetry, monkeypatch):
    monkeypatch.setattr("rampsim.prod.webhook.CLIENT_TIMEOUT", 0.5)
    hooks = WebhookGate(reference_plan, FileSource.from_telemetry(healthy_telemetry, START),
                        naming_for_plan(reference_plan), start=START)
    server = serve_webhook(hooks, port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with socket.create_connection(server.server_address[:2], timeout=5) as silent:
            began = time.monotonic()
            silent.sendall(b"POST /rollout HTTP/1.1\r\nContent-Length: 10\r\n\r\n")   # and then nothing
            assert silent.recv(1024) == b""          # the server closes the connection...
            assert time.monotonic() - began < 4      # ...after its client timeout, not the test's
    finally:
        server.shutdown()
        server.server_close()


# -- the live /metrics exporter ---------------------------------------------------------

def test_exporter_serves_the_published_scrape_under_the_services_names(reference_plan, incident):
    naming = Naming(metrics={"requests": "http_requests_total"}, labels={"arm": "track", "segment": "region"})
    published = []
    with MetricsExporter(reference_plan.layout, naming) as exporter:
        rehearse(incident.head(3), exporter, speed=1e9, sleep=lambda s: None, on_tick=published.append)
        with urllib.request.urlopen(f"http://127.0.0.1:{exporter.port}/metrics", timeout=10) as response:
            text = response.read().decode()
    assert published == [0, 1, 2]
    series = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            labels, end = parse_series(line)
            series.append(RawSeries(labels, np.array([int(START * 1000)]), np.array([float(line[end:].split()[0])])))
    scrape = Telemetry.empty(reference_plan.layout, 1)
    Assembler(SeriesMap(reference_plan.layout, naming), ScrapeGrid(START, 15.0, 1)).fill(scrape, 0, 0, series)
    np.testing.assert_array_equal(scrape.counters[0], incident.counters[2])
    np.testing.assert_array_equal(scrape.gauges[0], incident.gauges[2])
    assert 'http_requests_total{region="A",track="canary"}' in text


def test_follow_on_the_command_line_catches_up_and_stops_at_the_decision(reference_plan, incident, capsys):
    start = int(time.time()) - 5 * 3600  # every scrape has settled: --follow catches up, then ends at rollback
    with FakePrometheus(FileSource.from_telemetry(incident, start)) as fake:
        code = gate("--prometheus", fake.url, "--start", str(start), "--follow", "--json")
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1 and lines[-1]["outcome"] == "rollback" and lines[-2]["kind"] == "rollback"


def test_serve_refuses_an_invalid_plan(tmp_path, capsys):
    bad_plan = tmp_path / "plan.yaml"
    bad_plan.write_text("name: x\n")
    assert main(["serve", str(bad_plan), "--prometheus", "http://127.0.0.1:9"]) == 3
