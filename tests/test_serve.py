"""``rampsim serve`` over HTTP: Flagger's status contract, compact answers, routing, /healthz and the access log.

Each server runs in-process on 127.0.0.1 with an ephemeral port (``tests.hostile.test_serve.serving``)
over a recording held in memory; its stderr is captured to read the log lines.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import io
import json
import re
import socket
import time
from typing import Any, Iterator, Optional

import numpy as np
import pytest
from hypothesis import given, strategies as st

from rampsim.cli import main
from rampsim.engine import DecisionEngine, event_to_dict
from rampsim.prod.naming import naming_for_plan
from rampsim.prod.replay import FileSource
from rampsim.prod.source import SourceUnavailable
from rampsim.prod.webhook import ROUTES, WebhookGate
from tests.builders import run, steady
from tests.sim_helpers import REFERENCE
from tests.hostile.test_serve import serving

START = 1740787200.0
STARTED = "2025-03-01T00:00:00Z"
END = START + 4 * 3600 + 60  # every scrape of the reference plan has settled
CANARY = {"name": "api", "namespace": "learning"}

# Flagger's contract (README): 2xx lets the canary go on, anything else is a failed check.
ROLLOUT = {"continue": 200, "advance": 200, "rollback": 403, "hold": 409, "inconclusive": 409, "unavailable": 503}
COMPACT = {"canary", "outcome", "reason", "scrapes_judged", "judged_until"}
LOG_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s"]+)(?: |$)')


@pytest.fixture(scope="module")
def incident(reference_plan):
    errors = np.full(961, 0.0007)
    errors[400:] = 0.02
    return steady(reference_plan.layout, error_rate=errors)


def gate_on(plan, source, now: float, **options: Any) -> WebhookGate:
    return WebhookGate(plan, source, naming_for_plan(plan), start=START, clock=lambda: now, **options)


def call(address: tuple[str, int], method: str, path: str, payload: Any = None
         ) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request (``payload`` as its JSON body, or the body itself when bytes): status, headers, raw body."""
    connection = http.client.HTTPConnection(*address, timeout=10)
    body = payload if isinstance(payload, bytes) or payload is None else json.dumps(payload).encode()
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def parse_log_line(line: str) -> dict[str, str]:
    """A logfmt line as a dict in order; a quoted value is a JSON string. Fails on anything else."""
    fields = {}
    position = 0
    for match in LOG_FIELD.finditer(line):
        assert match.start() == position, f"not logfmt at {position}: {line!r}"
        key, value = match.groups()
        fields[key] = json.loads(value) if value.startswith('"') else value
        position = match.end()
    assert position == len(line), f"not logfmt at {position}: {line!r}"
    return fields


@contextlib.contextmanager
def access_log() -> Iterator[list[dict[str, str]]]:
    """The server's stderr while the block runs, parsed line by line into the list yielded (filled on exit)."""
    lines: list[dict[str, str]] = []
    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer):
        yield lines
    lines.extend(parse_log_line(line) for line in buffer.getvalue().splitlines())


def assert_logged(line: dict[str, str], method: str, path: str, status: object, answer: Optional[dict] = None) -> None:
    """``line`` is the access-log line of that request and ``answer``."""
    assert list(line)[:5] == ["time", "client", "method", "path", "status"] and list(line)[-1] == "ms"
    assert dt.datetime.fromisoformat(line["time"].replace("Z", "+00:00")).tzinfo is not None
    assert (line["client"], line["method"], line["path"], line["status"]) == ("127.0.0.1", method, path, str(status))
    assert float(line["ms"]) >= 0
    for key in ("canary", "outcome", "reason", "error"):
        assert line.get(key) == (answer or {}).get(key)


# -- Flagger's contract: each outcome's status, in the answer and in the log ---------------------------

def broken_source():
    class Broken:
        def read(self, low_ms: int, high_ms: int) -> list:
            raise SourceUnavailable("Prometheus at http://prometheus:9090 unreachable")
    return Broken()


def outcome_case(name: str, plan, healthy, incident):
    """A gate whose canary stands at outcome ``name`` when called."""
    gap = healthy.copy()
    gap.counters[100:120] = np.nan  # 20 scrapes without samples: the final gate holds
    gap.gauges[100:120] = np.nan
    telemetry, now = {"continue": (healthy, START + 3600), "advance": (healthy, END), "rollback": (incident, END),
                      "hold": (gap, END), "inconclusive": (healthy, START), "unavailable": (None, START + 3600)}[name]
    source = broken_source() if telemetry is None else FileSource.from_telemetry(telemetry, START)
    return gate_on(plan, source, now)


@pytest.mark.parametrize("outcome", ROLLOUT)
def test_each_outcome_keeps_its_status_for_flagger_and_is_logged(outcome, reference_plan, healthy_telemetry,
                                                                 incident):
    with serving(outcome_case(outcome, reference_plan, healthy_telemetry, incident)) as address:
        with access_log() as lines:
            status, _, raw = call(address, "POST", "/rollout", CANARY)
            confirm, _, confirm_raw = call(address, "POST", "/confirm-promotion", CANARY)
            health, _, _ = call(address, "GET", "/healthz")  # never asks the source, even a broken one
    answer, promotion = json.loads(raw), json.loads(confirm_raw)
    assert (answer["outcome"], status) == (outcome, ROLLOUT[outcome])
    assert (promotion["outcome"], confirm) == (outcome, 200 if outcome == "advance" else 403)
    assert set(answer) == COMPACT and answer["reason"] and answer["canary"] == "learning/api"
    if outcome != "advance":
        assert promotion["reason"].startswith("not promoted before the final gate advances; now: ")
    assert health == 200
    assert len(lines) == 3
    assert_logged(lines[0], "POST", "/rollout", status, answer)
    assert_logged(lines[1], "POST", "/confirm-promotion", confirm, promotion)
    assert_logged(lines[2], "GET", "/healthz", 200)


# -- compact answers, history on request -----------------------------------------------------------------

def test_the_answer_is_the_decision_and_its_reason_and_the_history_comes_on_request(reference_plan, incident):
    with serving(gate_on(reference_plan, FileSource.from_telemetry(incident, START), END)) as address:
        status, _, compact = call(address, "POST", "/rollout", CANARY)
        again, _, full = call(address, "POST", "/rollout?history=1", CANARY)
        off, _, explicit = call(address, "POST", "/rollout/?history=0", CANARY)
    answer, history = json.loads(compact), json.loads(full)
    expected = [json.loads(json.dumps(event_to_dict(e))) for e in run(DecisionEngine(reference_plan), incident)]
    decision = expected[-1]
    assert status == again == off == 403 and compact == explicit
    assert set(answer) == COMPACT and len(compact) < 512  # not the ~8 KB of events it used to send
    assert answer["reason"] == decision["reason"] and decision["kind"] == answer["outcome"] == "rollback"
    assert answer["scrapes_judged"] == decision["time"] / reference_plan.telemetry.scrape_interval + 1
    assert set(history) == COMPACT | {"events"} and {k: history[k] for k in COMPACT} == answer
    assert [{k: v for k, v in e.items() if k != "at"} for e in history["events"]] == expected
    assert history["events"][-1]["at"] == answer["judged_until"]


@pytest.mark.parametrize("query, named", [("history=2", "history='2'"), ("histroy=1", "histroy='1'"),
                                          ("history=1&x=", "x=''")])
def test_a_query_other_than_history_is_refused_naming_it(reference_plan, healthy_telemetry, query, named):
    with serving(gate_on(reference_plan, FileSource.from_telemetry(healthy_telemetry, START), START)) as address:
        with access_log() as lines:
            status, _, raw = call(address, "POST", f"/rollout?{query}", CANARY)
    answer = json.loads(raw)
    assert status == 400 and named in answer["error"] and "history=1" in answer["error"]
    assert_logged(lines[0], "POST", f"/rollout?{query}", 400, answer)


# -- routing: 405 with Allow and a hint, 404 listing the paths --------------------------------------------

@pytest.fixture(scope="module")
def server(reference_plan, healthy_telemetry):
    with serving(gate_on(reference_plan, FileSource.from_telemetry(healthy_telemetry, START), START + 3600)) as address:
        yield address


METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")


@pytest.mark.parametrize("path, method", [(path, method) for path, allowed in ROUTES.items()
                                          for method in METHODS if method not in allowed])
def test_a_method_the_path_does_not_take_is_405_with_allow_and_a_hint(server, path, method):
    allowed = ROUTES[path]
    with access_log() as lines:
        status, headers, raw = call(server, method, path, {} if method == "POST" else None)
    assert status == 405 and headers["Allow"] == ", ".join(allowed)
    hint = "POST a Flagger webhook payload here" if allowed == ("POST",) else "GET it"
    error = lines[0]["error"]
    assert error.startswith(f"{method} is not allowed on {path}: ") and hint in error
    if method == "HEAD":  # the headers of the answer, without its body
        assert raw == b"" and int(headers["Content-Length"]) == len(json.dumps({"error": error}))
    else:
        assert json.loads(raw) == {"error": error}
    assert len(lines) == 1
    assert_logged(lines[0], method, path, 405, {"error": error})


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("path", ["/", "/flagger/rollout", "/metrics", "/rollout-now"])
def test_an_unknown_path_is_404_listing_the_known_ones(server, path, method):
    with access_log() as lines:
        status, _, raw = call(server, method, path, CANARY if method == "POST" else None)
    answer = json.loads(raw)
    assert status == 404 and answer["error"] == f"no such path {path!r}"
    assert answer["paths"] == [f"{methods[0]} {known}" for known, methods in ROUTES.items()]
    assert {known.split()[1] for known in answer["paths"]} == {"/pre-rollout", "/rollout", "/confirm-promotion",
                                                               "/healthz"}
    assert_logged(lines[0], method, path, 404, answer)


def test_an_unknown_method_is_still_501(server):
    status, _, raw = call(server, "BREW", "/rollout")
    assert status == 501 and "BREW" in json.loads(raw)["error"]


# -- /healthz ---------------------------------------------------------------------------------------------

def test_healthz_answers_get_and_head_with_the_canaries_remembered(reference_plan, healthy_telemetry):
    gate = gate_on(reference_plan, FileSource.from_telemetry(healthy_telemetry, START), START + 3600, max_canaries=7)
    with serving(gate) as address:
        before = json.loads(call(address, "GET", "/healthz")[2])
        for name in ("a", "b"):
            assert call(address, "POST", "/pre-rollout", {"name": name, "namespace": "x"})[0] == 200
        status, headers, raw = call(address, "GET", "/healthz")
        head_status, head_headers, head_raw = call(address, "HEAD", "/healthz")
    assert before == {"ok": True, "canaries": 0, "max_canaries": 7}
    assert status == 200 and json.loads(raw) == {"ok": True, "canaries": 2, "max_canaries": 7}
    assert headers["Content-Type"] == "application/json"
    assert head_status == 200 and head_raw == b"" and int(head_headers["Content-Length"]) == len(raw)


# -- the access log ---------------------------------------------------------------------------------------

def test_pre_rollout_is_logged_with_the_start(server):
    payload = {**CANARY, "name": "started", "metadata": {"start": STARTED}}
    with access_log() as lines:
        status, _, raw = call(server, "POST", "/pre-rollout", payload)
    answer = json.loads(raw)
    assert status == 200 and answer == {"canary": "learning/started", "started": STARTED}
    assert len(lines) == 1 and lines[0]["started"] == STARTED
    assert_logged(lines[0], "POST", "/pre-rollout", 200, answer)


def test_a_bad_payload_is_logged_with_its_error(server):
    with access_log() as lines:
        status, _, raw = call(server, "POST", "/rollout", {"name": {"not": "a string"}})
    assert status == 400
    assert_logged(lines[0], "POST", "/rollout", 400, json.loads(raw))


def test_a_client_that_times_out_is_logged_without_a_status(reference_plan, healthy_telemetry):
    gate = gate_on(reference_plan, FileSource.from_telemetry(healthy_telemetry, START), START)
    with serving(gate, client_timeout=0.3) as address:
        with access_log() as lines:
            with socket.create_connection(address, timeout=10) as client:
                client.sendall(b"POST /rollout HTTP/1.1\r\nContent-Length: 10\r\n\r\n")  # and no body
                assert client.recv(1024) == b""  # dropped, unanswered
    assert len(lines) == 1 and lines[0]["status"] == "-" and "timed out" in lines[0]["error"]
    assert (lines[0]["method"], lines[0]["path"]) == ("POST", "/rollout")


@pytest.mark.parametrize("payload, error", [
    ({"name": "api"}, "namespace is missing"), ({"name": "", "namespace": ""}, "namespace is empty"),
    ({"namespace": "learning", "name": "  "}, "name is empty"),
])
def test_a_payload_that_names_no_canary_is_refused(server, payload, error):
    with access_log() as lines:
        status, _, raw = call(server, "POST", "/pre-rollout", payload)
    answer = json.loads(raw)
    assert status == 400 and error in answer["error"], answer
    assert_logged(lines[0], "POST", "/pre-rollout", 400, answer)


def test_a_payload_that_repeats_a_key_is_refused_naming_it(server):
    # json.loads keeps the last "name": the hook would start canary b/c, not the one Flagger meant
    with access_log() as lines:
        status, _, raw = call(server, "POST", "/pre-rollout", b'{"name": "a", "name": "c", "namespace": "b"}')
    answer = json.loads(raw)
    assert status == 400 and answer == {"error": "body:1: name: duplicate key 'name' (first written on line 1)"}
    assert_logged(lines[0], "POST", "/pre-rollout", 400, answer)


_NAMED = st.text(min_size=1, max_size=30).filter(str.strip)
_KUBERNETES = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)


@given(namespace=st.one_of(_KUBERNETES, _NAMED), name=st.one_of(_KUBERNETES, st.text(min_size=1, max_size=300)
                                                                .filter(str.strip)))
def test_any_canary_name_is_one_log_line_that_reads_back(server, namespace, name):
    """Any text a client sends is one log line; only Kubernetes names (what Flagger sends) name a canary, the rest
    is refused naming the field (a review kept 65,000-character names, NULs and lone surrogates as canaries)."""
    payload = {"name": name, "namespace": namespace, "metadata": {"start": STARTED}}
    with access_log() as lines:
        status, _, raw = call(server, "POST", "/pre-rollout", payload)
    answer = json.loads(raw)
    assert len(lines) == 1
    valid = re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", namespace) and len(namespace) <= 63 and \
        re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", name) and len(name) <= 253
    if valid:
        assert status in (200, 503)  # 503 once --max-canaries unfinished canaries are remembered
        assert lines[0]["canary"] == f"{namespace}/{name}" == answer["canary"]
    else:
        assert status == 400 and "is not a Kubernetes" in answer["error"] == lines[0]["error"]


# -- serve --help ------------------------------------------------------------------------------------------

def test_serve_help_is_plain_text_with_the_paths_and_exit_codes(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--help"])
    text = capsys.readouterr().out
    assert exited.value.code == 0
    assert not re.search(r"``|:mod:|:class:|:func:|^\s*[=-]{4,}\s", text, re.MULTILINE)  # no reStructuredText
    assert all(len(line) <= 80 for line in text.splitlines())
    for path, methods in ROUTES.items():
        assert re.search(rf"^  {methods[0]} +{path} ", text, re.MULTILINE)
    flat = re.sub(r"\s+", " ", text)
    for outcome, status in ROLLOUT.items():  # the contract as the help states it: "409 hold or inconclusive"
        assert re.search(rf"{status} [a-z ]*{outcome}", flat), outcome
    assert re.search(r"exit codes:.*130 on Ctrl-C.*2 bad arguments.*3 invalid plan", flat)


def test_a_payload_with_a_number_too_long_for_python_is_a_400_not_a_500(server):
    """A review found a 5,000-digit number answered 500 'internal error' (Python's int conversion limit)."""
    body = b'{"name": "a", "namespace": "b", "n": 1' + b"0" * 5000 + b"}"
    with access_log() as lines:
        status, _, raw = call(server, "POST", "/pre-rollout", body)
    answer = json.loads(raw)
    assert status == 400 and answer == {"error": "body: not JSON rampsim reads: a number of more than 4,300 digits"}
    assert_logged(lines[0], "POST", "/pre-rollout", 400, answer)


# -- the server's --start, and imported gates ---------------------------------------------------------------------

def test_the_servers_start_serves_a_canary_once(reference_plan, healthy_telemetry):
    """A release promoted on the ramp from --start leaves it: a later release of the same canary, or a canary first
    heard of long after that ramp ended, is not judged on its data (409, no start known)."""
    now = [END]
    hooks = WebhookGate(reference_plan, FileSource.from_telemetry(healthy_telemetry, START),
                        naming_for_plan(reference_plan), start=START, clock=lambda: now[0])
    assert hooks.handle("rollout", CANARY)[0] == 200
    assert hooks.handle("confirm-promotion", CANARY)[0] == 200
    status, body = hooks.handle("rollout", CANARY)
    assert status == 409 and "its analysis from --start 2025-03-01T00:00:00Z was promoted already" in body["error"]
    assert hooks.handle("rollout", {**CANARY, "metadata": {"start": STARTED}})[0] == 200   # its own start: judged
    now[0] = START + 3 * 86400
    status, body = hooks.handle("rollout", {"name": "new", "namespace": "learning"})
    assert status == 409 and "ended at 2025-03-01T04:00:00Z, more than 10 minutes before" in body["error"]


def test_serve_judges_an_imported_gate_with_its_controllers_engine():
    """A Kayenta gate served as a webhook rolls back where `rampsim gate` does, and a canary without data is not
    promoted (the plan's own final gate, which reads none of the gate's series, would pass it)."""
    from rampsim.cli.plan_commands import load_plan_and_naming
    from rampsim.faults import parse_fault
    from rampsim.prod.gate_queries import gate_run_for
    from rampsim.sim import simulate
    import argparse

    plan, naming = load_plan_and_naming(argparse.Namespace(plan="scenarios/ramp-phase-50k-kayenta.yaml",
                                                           naming=None))
    incident = simulate(plan, faults=[parse_fault("error-rate:canary:+1.5%@01:00")], seed=1, engine_factory=None)
    payload = {**CANARY, "metadata": {"start": STARTED}}
    for source, analysis in ((FileSource.from_telemetry(incident.telemetry, START, naming), "analysis 5 of 16"),
                             (FileSource([]), "analysis 1 of 16")):
        hooks = WebhookGate(plan, source, naming, clock=lambda: START + 5 * 3600)
        status, body = hooks.handle("rollout", payload)
        assert status == 403 and body["outcome"] == "rollback" and f"Kayenta {analysis}" in body["reason"], body
        assert hooks.handle("confirm-promotion", payload)[0] == 403
        replayed = gate_run_for(plan, source, START, naming)
        list(replayed.run_until(START + 5 * 3600))
        assert replayed.decision is not None and replayed.decision.reason == body["reason"]


# -- bounded by hostile or broken clients and a slow Prometheus ----------------------------------------------------

def test_a_canary_that_is_over_or_abandoned_makes_room(reference_plan, healthy_telemetry):
    """A review filled --max-canaries with pre-rollouts that were never judged: never finished, never forgotten,
    every new canary got 503 until a restart. A run whose ramp is over, or that nobody called for an hour, makes
    room; fresh unjudged ones do not."""
    from rampsim.prod.webhook import IDLE_CANARY, LATE_FIRST_CALL

    now = [START + 60]
    hooks = WebhookGate(reference_plan, FileSource.from_telemetry(healthy_telemetry, START),
                        naming_for_plan(reference_plan), clock=lambda: now[0], max_canaries=2)
    long_ago = {"start": "2020-01-01T00:00:00Z"}   # a ramp over years ago, never judged
    assert hooks.handle("pre-rollout", {"name": "old", "namespace": "x", "metadata": long_ago})[0] == 200
    assert hooks.handle("pre-rollout", {"name": "fresh", "namespace": "x"})[0] == 200
    assert hooks.handle("pre-rollout", {"name": "new", "namespace": "x"})[0] == 200      # "old" made room
    status, body = hooks.handle("pre-rollout", {"name": "newer", "namespace": "x"})
    assert status == 503 and "called in the last 60 minutes" in body["error"]       # both fresh, both wanted
    now[0] += IDLE_CANARY + 1
    assert hooks.handle("rollout", {"name": "new", "namespace": "x"})[0] == 200        # "new" called, "fresh" idle
    assert hooks.handle("pre-rollout", {"name": "newer", "namespace": "x"})[0] == 200   # "fresh" made room
    assert hooks.handle("rollout", {"name": "fresh", "namespace": "x"})[0] == 409       # forgotten: no start known
    assert LATE_FIRST_CALL < IDLE_CANARY


def test_a_slow_prometheus_makes_a_hook_answer_in_time_with_what_it_judged(reference_plan, healthy_telemetry):
    """A review timed a /rollout at 16.5 s on a Prometheus answering in 6 s (Flagger's timeout in the README's
    example: 15 s): no new read starts past the deadline, the answer says the judging is behind, the next call goes
    on where this one stopped, and nothing is lost."""
    recording = FileSource.from_telemetry(healthy_telemetry, START)

    class Slow:
        reads = 0

        def read(self, low_ms: int, high_ms: int) -> list:
            Slow.reads += 1
            time.sleep(0.3)
            return recording.read(low_ms, high_ms)

    hooks = WebhookGate(reference_plan, Slow(), naming_for_plan(reference_plan), start=START, clock=lambda: END,
                        deadline=0.5)
    judged, calls = [], 0
    while True:
        began = time.monotonic()
        status, body = hooks.handle("rollout", {"name": "api", "namespace": "learning"})
        elapsed, calls = time.monotonic() - began, calls + 1
        assert elapsed < 0.5 + 0.3 + 1.5, elapsed    # the deadline and one read past it (slack for a loaded machine)
        judged.append(body["scrapes_judged"])
        if "judging is behind" not in body["reason"]:
            break
        # never the judged part's "continue" for scrapes nobody looked at: a failed check for Flagger
        assert status == 409 and body["outcome"] == "inconclusive"
    assert calls > 1 and judged == sorted(judged) and len(set(judged)) == len(judged)
    assert body["outcome"] == "advance" and body["scrapes_judged"] == len(healthy_telemetry)
    whole = gate_on(reference_plan, recording, END).handle("rollout", {"name": "api", "namespace": "learning"})[1]
    assert {k: whole[k] for k in ("outcome", "reason", "scrapes_judged")} == \
        {k: body[k] for k in ("outcome", "reason", "scrapes_judged")}


def test_conflicting_or_zero_padded_content_lengths(server):
    """Two different Content-Length headers: which frames the body? (a review saw the first one used and the
    request hang); leading zeros are still the number they write (a review got 413 for '00...02')."""
    body = json.dumps({"name": "padded", "namespace": "x", "metadata": {"start": STARTED}}).encode()
    for lengths, expected in (([str(len(body)), "2"], 400), (["0" * 30 + str(len(body))], 200),
                              (["0" * 5000 + str(len(body))], 200)):   # past int()'s 4,300 digits: was a traceback
        with socket.create_connection(server, timeout=10) as client:
            headers = "".join(f"Content-Length: {n}\r\n" for n in lengths)
            client.sendall(f"POST /pre-rollout HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode() + body)
            answer = client.recv(65536).decode()
        assert answer.startswith(f"HTTP/1.0 {expected} ") or answer.startswith(f"HTTP/1.1 {expected} "), answer[:200]


def test_a_relative_start_is_refused_by_serve(capsys):
    """Read again at every restart, --start now judged every forgotten canary from the restart: a review saw a
    rolled-back canary promoted after one."""
    assert main(["serve", str(REFERENCE), "--prometheus", "http://127.0.0.1:9", "--start", "now-10m"]) == 2
    assert "is relative: read again at every restart" in capsys.readouterr().err


def test_calls_for_one_canary_wait_at_most_the_deadline_for_each_other(reference_plan, healthy_telemetry):
    """Overlapping calls for one canary queued behind each other (a review: 1.2, 2.2, 3.2 and 4.3 s with 1-second
    reads and a 0.5-second deadline): one that cannot take its turn in time answers 409."""
    import threading

    recording = FileSource.from_telemetry(healthy_telemetry, START)

    class Slow:
        def read(self, low_ms: int, high_ms: int) -> list:
            time.sleep(1.0)
            return recording.read(low_ms, high_ms)

    hooks = WebhookGate(reference_plan, Slow(), naming_for_plan(reference_plan), start=START, clock=lambda: END,
                        deadline=0.3)
    answers: list = []

    def call() -> None:
        began = time.monotonic()
        answers.append((*hooks.handle("rollout", {"name": "api", "namespace": "learning"}), time.monotonic() - began))

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join(timeout=30)
    waited = [a for a in answers if "another call is judging" in a[1].get("error", "")]
    assert len(waited) == 2 and all(status == 409 and elapsed < 0.3 + 1.0 for status, _, elapsed in waited)


def test_an_imported_gate_asks_no_query_past_the_deadline_and_goes_on_at_the_next_call():
    """An analysis of a Kayenta gate asks about 150 queries: a review timed a /rollout at 30 times the deadline,
    checked only between scrapes. Queries stop at the deadline; the next call goes on with the answers kept, and the
    decisions equal one uninterrupted run's."""
    from rampsim.gates.plan_sections import gate_of
    from rampsim.plan import load_plan
    from rampsim.prod.gate_queries import Deadline, ImportedGateRun, prometheus_queries
    from tests.sim_helpers import ROOT

    kayenta_plan = load_plan(ROOT / "scenarios" / "ramp-phase-50k-kayenta.yaml")

    class Server:
        warnings: list = []
        asked = 0

        def instant(self, expr: str, at: float) -> dict:
            Server.asked += 1
            time.sleep(0.002)
            return {"resultType": "vector", "result": [{"metric": {}, "value": [at, "1"]}]}

    def run_for(deadline: Deadline | None) -> ImportedGateRun:
        return ImportedGateRun(kayenta_plan, gate_of(kayenta_plan), prometheus_queries(Server(), START, warnings=[],
                               deadline=deadline), START, deadline=deadline)

    whole = run_for(None)
    per_scrape = []
    for _ in whole.run_until(END, END):
        per_scrape.append(Server.asked - sum(per_scrape))
    asked_whole, Server.asked = Server.asked, 0
    # With 2 ms a query, a call with a 50 ms deadline asks at most 25 queries and the one in flight (fewer on a slow
    # machine); checked only between scrapes, it would finish a scrape of an analysis once it started it.
    most_per_call = 0.05 / 0.002 + 1
    assert max(per_scrape) > 2 * most_per_call, "the plan's analyses ask too few queries for this test to tell"
    deadline = Deadline()
    cut = run_for(deadline)
    calls = 0
    while not cut.finished and cut.next_tick <= cut.due(END, END):
        before = Server.asked
        collections_deque(cut.run_until(END, END, deadline=time.monotonic() + 0.05))
        assert Server.asked - before <= most_per_call, "queries went on past the deadline"
        calls += 1
    assert calls > 1 and Server.asked == asked_whole   # no query asked twice, none lost
    assert [(e.time, type(e).__name__) for e in cut.events] == [(e.time, type(e).__name__) for e in whole.events]


def collections_deque(steps) -> None:
    for _ in steps:
        pass


def test_a_relative_metadata_start_is_refused(server):
    """Read again at a call after a restart, a relative start would begin the ramp again (the restart hazard the
    --start refusal closes)."""
    status, _, raw = call(server, "POST", "/pre-rollout",
                          {"name": "api", "namespace": "learning", "metadata": {"start": "now-10m"}})
    assert status == 400 and "metadata.start 'now-10m' is relative" in json.loads(raw)["error"]
