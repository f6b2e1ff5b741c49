"""Hostile clients of ``rampsim serve``: each gets its documented answer, and the server stays bounded.

The webhook runs in-process on 127.0.0.1 (port 0) over a recording held in memory;
requests are written on raw sockets, so malformed ones reach the server as sent.
"""
from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from typing import Iterator, Optional

import pytest

from rampsim.cli import main
from rampsim.prod.naming import naming_for_plan
from rampsim.prod.replay import FileSource
from rampsim.prod.webhook import CLIENT_TIMEOUT, HANDLER_THREADS, MAX_BODY, WebhookGate, serve_webhook
from tests.sim_helpers import REFERENCE

PLAN = str(REFERENCE)
START = 1740787200.0
STARTED = "2025-03-01T00:00:00Z"
END = START + 4 * 3600 + 60  # every scrape of the reference plan has settled


@pytest.fixture(scope="module")
def source(healthy_telemetry):
    return FileSource.from_telemetry(healthy_telemetry, START)


def gate_for(plan, source, **options) -> WebhookGate:
    return WebhookGate(plan, source, naming_for_plan(plan), **options)


@contextlib.contextmanager
def serving(gate: WebhookGate, client_timeout: float = 2.0) -> Iterator[tuple[str, int]]:
    """``gate`` served on 127.0.0.1, stopped (handlers included) when the block exits."""
    server = serve_webhook(gate, port=0, client_timeout=client_timeout)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                              name="serve")
    thread.start()
    try:
        yield server.server_address[0], server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def request(hook: str, body: bytes, method: str = "POST") -> bytes:
    return b"%s /%s HTTP/1.1\r\nHost: test\r\nContent-Length: %d\r\n\r\n" % (method.encode(), hook.encode(),
                                                                            len(body)) + body


def hook_request(hook: str, payload: object) -> bytes:
    return request(hook, json.dumps(payload).encode())


def exchange(address: tuple[str, int], data: bytes, timeout: float = 10.0) -> tuple[int, dict, float]:
    """Send ``data``, read until the server closes: (status, JSON body, seconds); status 0 if no answer."""
    began = time.monotonic()
    with socket.create_connection(address, timeout=timeout) as client:
        client.sendall(data)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split()[1]) if head else 0
    return status, (json.loads(body) if body else {}), time.monotonic() - began


@pytest.fixture(scope="module")
def webhook(reference_plan, source):
    """One server for the bodies: their answers do not depend on one another."""
    with serving(gate_for(reference_plan, source, start=START, clock=lambda: START + 3600)) as address:
        yield address


# -- slow or silent clients ------------------------------------------------------------

def seconds_until_dropped(client: socket.socket, drip: Optional[float]) -> float:
    """Wait for the server to close (``drip``: send a header line every ``drip`` seconds meanwhile)."""
    began = time.monotonic()
    with contextlib.suppress(OSError):  # a reset, a broken pipe, or this side's 5-second timeout
        while time.monotonic() - began < 5:
            if drip is None and client.recv(1024) == b"":
                break
            if drip is not None:
                time.sleep(drip)
                client.sendall(b"X-Drip: 1\r\n")
    return time.monotonic() - began


@pytest.mark.parametrize("drip", [None, 0.1], ids=["silent", "one-header-line-every-0.1s"])
def test_a_slow_client_is_disconnected_within_the_timeout(reference_plan, source, drip: Optional[float]):
    with serving(gate_for(reference_plan, source, start=START), client_timeout=0.5) as address:
        with socket.create_connection(address, timeout=5) as client:
            client.sendall(b"POST /rollout HTTP/1.1\r\n")
            assert seconds_until_dropped(client, drip) < 1.5


@pytest.mark.parametrize("header, status, error", [
    (b"Content-Length: -1\r\n", 400, "Content-Length must be a whole number"),
    (b"Content-Length: ten\r\n", 400, "Content-Length must be a whole number"),
    (b"", 411, "Content-Length required"),
    (b"Content-Length: 1000000000\r\n", 413, f"over {MAX_BODY} bytes"),
], ids=["negative", "not-a-number", "missing", "over-the-cap"])
def test_a_bad_content_length_is_answered_at_once(reference_plan, source, header, status, error):
    with serving(gate_for(reference_plan, source, start=START), client_timeout=5.0) as address:
        answer, body, seconds = exchange(address, b"POST /rollout HTTP/1.1\r\nHost: test\r\n" + header + b"\r\n")
    assert answer == status and error in body["error"]
    assert seconds < 1.0  # not when the client gives up, nor at the server's timeout


# -- hostile bodies ----------------------------------------------------------------------

CANARY = {"name": "api", "namespace": "hostile"}

BODIES = {
    "metadata-string": (json.dumps({**CANARY, "metadata": "start=now"}), 400, r"^metadata must be a JSON object"),
    "metadata-list": (json.dumps({**CANARY, "metadata": [STARTED]}), 400, r"^metadata must be a JSON object"),
    "start-year-0": (json.dumps({**CANARY, "metadata": {"start": "0000-01-01T00:00:00Z"}}), 400, r"^metadata\.start"),
    "start-year-1": (json.dumps({**CANARY, "metadata": {"start": "0001-01-01T00:00:00Z"}}), 400,
                     r"^metadata\.start: .* not between 1970"),
    "start-not-a-time": (json.dumps({**CANARY, "metadata": {"start": "yesterday"}}), 400, r"^metadata\.start"),
    "start-infinite": (json.dumps({**CANARY, "metadata": {"start": "9" * 400}}), 400, r"^metadata\.start"),
    "start-object": (json.dumps({**CANARY, "metadata": {"start": {}}}), 400, r"^metadata\.start must be"),
    "name-object": (json.dumps({"name": {"x": 1}, "namespace": "hostile"}), 400, r"^name must be a string"),
    "not-json": ("{name: api", 400, r"^body(:\d+)?: not JSON"),
    "not-utf8": (b"\xff\xfe{}", 400, r"^body(:\d+)?: not JSON"),
    "empty": ("", 400, r"^body(:\d+)?: not JSON"),
    "array": (json.dumps(["api", "hostile"]), 400, r"^body: must be a JSON object, got an array"),
    "nested-under-the-cap": ("[" * 30_000 + "]" * 30_000, 400, r"^body(:\d+)?: (not JSON: )?(JSON )?nested too deeply"),
    "100000-nested-arrays": ("[" * 100_000 + "]" * 100_000, 413, rf"over {MAX_BODY} bytes"),
}


@pytest.mark.parametrize("body, status, error", BODIES.values(), ids=BODIES.keys())
def test_a_hostile_body_is_answered_with_a_message_naming_the_field(webhook, body, status, error):
    data = body if isinstance(body, bytes) else body.encode()
    answer, reply, _ = exchange(webhook, request("rollout", data))
    assert answer == status and re.search(error, reply["error"]), reply
    assert exchange(webhook, b"GET /healthz HTTP/1.1\r\n\r\n")[0] == 200  # and the server goes on


@pytest.mark.parametrize("data, status", [
    (request("rollout", b"{}", method="BREW"), 501),
    (request("rollout", b"{}", method="PUT"), 405),
    (b"GET /healthz now please HTTP/1.1\r\n\r\n", 400),
], ids=["unknown-method", "method-not-allowed", "garbage-request-line"])
def test_http_servers_own_refusals_are_json_too(webhook, data, status):
    answer, reply, _ = exchange(webhook, data)
    assert answer == status and reply["error"]


def test_a_bug_in_a_handler_answers_500_and_the_server_goes_on(reference_plan, capsys):
    class BrokenSource:
        def read(self, low_ms: int, high_ms: int) -> list:
            raise RuntimeError("a bug in the source")

    with serving(gate_for(reference_plan, BrokenSource(), start=START, clock=lambda: START + 3600)) as address:
        for _ in range(2):
            status, reply, _ = exchange(address, hook_request("rollout", CANARY))
            assert status == 500 and reply["error"].startswith("internal error: RuntimeError")
        assert exchange(address, b"GET /healthz HTTP/1.1\r\n\r\n")[0] == 200
    assert "a bug in the source" in capsys.readouterr().err  # the traceback is in the server's log


# -- remembered canaries ------------------------------------------------------------------

def test_remembered_canaries_are_bounded_forgetting_the_oldest_finished_first(reference_plan, source):
    clock = [START]
    gate = gate_for(reference_plan, source, clock=lambda: clock[0], max_canaries=3)
    with serving(gate) as address:
        def call(hook: str, name: str) -> tuple[int, dict]:
            return exchange(address, hook_request(hook, {"name": name, "namespace": "hostile"}))[:2]

        for name in "abc":
            assert call("pre-rollout", name)[0] == 200
        status, reply = call("pre-rollout", "d")
        assert status == 503 and re.search(r"3 unfinished canaries \(--max-canaries\)", reply["error"])
        assert call("pre-rollout", "b")[0] == 200  # a known canary restarts without growing: a, c, b
        clock[0] = END
        assert [call("rollout", name)[1]["outcome"] for name in "ca"] == ["advance", "advance"]  # finished
        assert call("pre-rollout", "d")[0] == 200  # a, the oldest finished, is forgotten: c, b, d
        assert call("rollout", "a")[0] == 409      # no start known any more
        assert call("rollout", "c")[0] == 200      # still remembered
        assert call("pre-rollout", "e")[0] == 200  # c forgotten: b, d, e, none finished
        assert call("pre-rollout", "b")[0] == 200  # b's new analysis (idle for 4 h, it could have made room)
        status, reply = call("pre-rollout", "f")   # d, e, b: all called just now, none decided
        assert status == 503 and reply["outcome"] == "unavailable"


# -- the command line ----------------------------------------------------------------------

@pytest.mark.parametrize("option, value, message", [
    ("--host", "", "give 127.0.0.1 .*or 0.0.0.0 .*explicitly"),
    ("--host", " ", "give 127.0.0.1 .*or 0.0.0.0 .*explicitly"),
    ("--port", "-1", "argument --port: '-1' is outside"),
    ("--port", "70000", "argument --port: '70000' is outside"),
    ("--timeout", "-1", "argument --timeout: '-1' seconds is outside"),
    ("--timeout", "nan", "argument --timeout: 'nan' is not a finite number"),
    ("--timeout", "inf", "argument --timeout: 'inf' is not a finite number"),
    ("--settle", "nan", "argument --settle: 'nan' is not a finite number"),
    ("--attempts", "0", "argument --attempts: '0' is outside"),
    ("--max-canaries", "0", "argument --max-canaries: '0' is outside"),
    ("--start", "0001-01-01T00:00:00Z", "argument --start: .* is outside 1970"),
    ("--start", "9999-12-31T23:00:00Z", "does not fit between 1970"),   # a review found every hook a 400 instead
])
def test_serve_refuses_a_bad_argument_with_exit_2(option, value, message, monkeypatch, capsys):
    def started(*args, **kwargs):
        raise AssertionError("the server must not start")

    monkeypatch.setattr("rampsim.cli.serve.serve_webhook", started)
    try:
        code = main(["serve", PLAN, "--prometheus", "http://127.0.0.1:9", f"{option}={value}"])
    except SystemExit as exited:  # argparse refused the argument
        code = exited.code
    assert code == 2
    assert re.search(message, capsys.readouterr().err)


# -- a burst of clients ----------------------------------------------------------------------

class SlowSource:
    """``source`` answering after ``latency`` seconds, like a Prometheus across the network."""

    def __init__(self, source: FileSource, latency: float) -> None:
        self.source, self.latency = source, latency

    def read(self, low_ms: int, high_ms: int) -> list:
        time.sleep(self.latency)
        return self.source.read(low_ms, high_ms)


@pytest.mark.slow
def test_200_concurrent_rollouts_are_all_answered_within_the_client_timeout(reference_plan, source):
    canaries = [{"name": f"app{i}", "namespace": "hostile", "metadata": {"start": STARTED}} for i in range(20)]
    results: list[tuple[int, dict, float]] = [(0, {}, float("inf"))] * 200
    peak_handlers = [0]
    done = threading.Event()
    gate = gate_for(reference_plan, SlowSource(source, 0.5), clock=lambda: START + 3600)
    ours = set(threading.enumerate())

    def client(i: int, barrier: threading.Barrier) -> None:
        barrier.wait()
        with contextlib.suppress(OSError):
            results[i] = exchange(address, hook_request("rollout", canaries[i % len(canaries)]),
                                  timeout=3 * CLIENT_TIMEOUT)

    def watch() -> None:
        while not done.wait(0.01):
            handlers = [t for t in threading.enumerate()
                        if t not in ours and not t.name.startswith(("client-", "watch", "serve"))]
            peak_handlers[0] = max(peak_handlers[0], len(handlers))

    with serving(gate, client_timeout=CLIENT_TIMEOUT) as address:
        barrier = threading.Barrier(len(results))
        clients = [threading.Thread(target=client, args=(i, barrier), name=f"client-{i}")
                   for i in range(len(results))]
        watcher = threading.Thread(target=watch, name="watch")
        watcher.start()
        for thread in clients:
            thread.start()
        for thread in clients:
            thread.join()
        done.set()
        watcher.join()
    assert [status for status, _, _ in results] == [200] * len(results)
    assert max(seconds for _, _, seconds in results) < CLIENT_TIMEOUT
    assert peak_handlers[0] <= HANDLER_THREADS
