"""A hostile or broken Prometheus, and bad arguments, never hang ``rampsim gate`` nor crash it.

Servers on 127.0.0.1 (threads) drip their answers, redirect, answer too much or
answer nonsense: each request is done within ``--timeout`` (connection, headers and
body together), answers are bounded, redirects are never followed (the bearer token
stays with the server it was given for), malformed answers are retried and then
exit 5. Arguments that cannot be used are refused with exit 2 and a message that
names them, before any request.
"""
import json
import re
import socket
import threading
import time

import pytest

from rampsim.cli import build_parser, main
from tests.prometheus_server import FakePrometheus
from tests.sim_helpers import REFERENCE

PLAN = str(REFERENCE)
STARTED = "2025-03-01T00:00:00Z"
AT = "2025-03-01T00:01:00Z"  # five scrapes: one request
EMPTY = {"status": "success", "data": {"resultType": "matrix", "result": []}}
UNREACHABLE = "http://127.0.0.1:9"

build_parser()  # import every command module now, so the timed calls below time the request, not imports


class RawServer:
    """A TCP server on 127.0.0.1 that answers each request with ``answer(connection, request, stop)``.

    ``requests`` holds every request received (line and headers, raw).
    """

    def __init__(self, answer) -> None:
        self.answer, self.requests, self.stop = answer, [], threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> "RawServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.listener.close()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        with connection:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = connection.recv(4096)
                if not chunk:
                    return
                request += chunk
            self.requests.append(request)
            try:
                self.answer(connection, request, self.stop)
            except OSError:
                pass  # the client hung up


def drip(first: bytes, piece: bytes, pieces: int = 50, every: float = 0.1):
    """An answer that sends ``first``, then ``piece`` every ``every`` seconds (5 s in all by default)."""
    def answer(connection, request, stop):
        connection.sendall(first)
        for _ in range(pieces):
            if stop.wait(every):
                return
            connection.sendall(piece)
    return answer


def run(*args, plan=PLAN):
    """``rampsim gate PLAN ARGS``'s exit code (argparse's exit included)."""
    try:
        return main(["gate", plan, *args])
    except SystemExit as exc:
        return exc.code


def prometheus(url, *args):
    return run("--prometheus", url, "--start", STARTED, "--at", AT, "--json", *args)


def outcome(capsys):
    return json.loads(capsys.readouterr().out.splitlines()[-1])


# -- a request is done within its timeout, whatever the server does ---------------------

@pytest.mark.parametrize("answer", [
    drip(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", b" "),
    drip(b"HTTP/1.1 200 OK\r\n", b"X-Drip: 1\r\n"),
    drip(b"", b"H", pieces=17),
], ids=["body byte by byte", "header line by line", "status line byte by byte"])
def test_a_dripping_server_is_cut_off_at_the_timeout(answer, capsys):
    with RawServer(answer) as server:
        began = time.monotonic()
        code = prometheus(server.url, "--timeout", "0.5", "--attempts", "2")
        elapsed = time.monotonic() - began
        assert len(server.requests) == 2
    assert code == 5
    assert elapsed < 2 * 0.5 + 0.5 + 1.0  # two attempts, one backoff, a margin; the drip lasts 5 s
    assert "no answer within 0.5s (after 2 attempts)" in outcome(capsys)["problem"]


def test_an_answer_announced_too_large_is_refused_at_once(capsys):
    with RawServer(drip(b"HTTP/1.1 200 OK\r\nContent-Length: 1073741824\r\n\r\n", b"x" * 1024)) as server:
        assert prometheus(server.url, "--timeout", "5") == 5
        # not retried as is (it would be as large again): asked again for half the scrapes, down to one
        assert 1 < len(server.requests) <= 3
    problem = outcome(capsys)["problem"]
    assert "an answer larger than 64 MiB" in problem and "even for the samples of one scrape slot" in problem


def test_an_answer_that_grows_too_large_is_refused(monkeypatch, capsys):
    monkeypatch.setattr("rampsim.prod.source.MAX_ANSWER", 2**20)
    chunk = b"x" * 2**16
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    answer = drip(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", framed, pieces=40, every=0.0)
    with RawServer(answer) as server:
        assert prometheus(server.url) == 5
    assert "an answer larger than 1 MiB" in outcome(capsys)["problem"]


# -- redirects are not followed: the bearer token never leaves the server it was given for --

def test_a_redirect_is_refused_and_the_token_stays_home(tmp_path, capsys):
    token = tmp_path / "token"
    token.write_text("s3cret\n")

    def elsewhere(connection, request, stop):
        body = json.dumps(EMPTY).encode()
        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    with RawServer(elsewhere) as other:
        def redirect(connection, request, stop):
            path = request.split(b" ")[1].decode()
            connection.sendall(f"HTTP/1.1 302 Found\r\nLocation: {other.url}{path}\r\n"
                               f"Content-Length: 0\r\n\r\n".encode())

        with RawServer(redirect) as server:
            code = prometheus(server.url, "--bearer-token-file", str(token))
            assert b"Authorization: Bearer s3cret" in server.requests[0]
            assert len(server.requests) == 1  # not retried
        assert not any(b"s3cret" in request for request in other.requests)
        assert other.requests == []
    assert code == 5
    problem = outcome(capsys)["problem"]
    assert f"a redirect to {other.url}; rampsim does not follow redirects" in problem
    assert "give that URL with --prometheus" in problem


# -- malformed answers are retried, then exit 5; never an internal error ------------------

@pytest.mark.parametrize("body, message", [
    ({**EMPTY, "warnings": 5}, "malformed answer: warnings must be a list of strings"),
    ({**EMPTY, "warnings": [{"nested": "object"}]}, "malformed answer: warnings"),
    ({"status": "success", "data": {"resultType": "matrix", "result": [5]}}, "malformed series"),
    ({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": ["not", "a", "string"]}, "values": []}]}}, "malformed series"),
    ({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "rampsim_requests_total"}, "values": [[1e300, "1"]]}]}}, "malformed series"),
    ({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "rampsim_requests_total"}, "values": [[1740787200, "1", "2"]]}]}},
     "malformed series"),
    ({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "rampsim_requests_total"}, "values": [[10 ** 400, "1"]]}]}}, "malformed series"),
    ("[" * 100_000, "not a Prometheus API answer"),
    ({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "rampsim_requests_total"}, "values": [[1740787200, "3268_0"]]}]}}, "malformed series"),
    ({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "rampsim_requests_total"}, "values": [[1740787200, "1e999"]]}]}}, "malformed series"),
], ids=["warnings 5", "warnings objects", "result entry 5", "label value list", "timestamp 1e300",
        "sample triple", "timestamp of 400 digits", "deep nesting", "underscore in a value (Python reads 32680)",
        "a value out of range (Python reads +Inf)"])
def test_a_malformed_answer_is_retried_then_unavailable(body, message, capsys):
    text = body if isinstance(body, str) else json.dumps(body)
    with FakePrometheus(failures=[(200, text)] * 2) as fake:
        assert prometheus(fake.url, "--attempts", "2") == 5
        assert fake.requests == 2
    assert message in outcome(capsys)["problem"]


def test_warnings_are_printed_bounded_and_without_control_characters(capsys):
    body = json.dumps({**EMPTY, "warnings": ["\x1b[31mred\x1b[0m"] + [f"warning {i}" for i in range(24)]})
    with FakePrometheus(failures=[(200, body)]) as fake:
        assert run("--prometheus", fake.url, "--start", STARTED, "--at", AT) == 4  # no samples: inconclusive
    err = capsys.readouterr().err
    assert "Prometheus: ?[31mred?[0m" in err and "\x1b" not in err
    assert "Prometheus: warning 8" in err and "warning 9" not in err
    assert "Prometheus: and 15 more warnings" in err


# -- bad arguments: exit 2, a message naming them, no request -----------------------------

@pytest.mark.parametrize("args, message", [
    (["--start", "0001-01-01T00:00:00Z"], r"argument --start: '0001-01-01T00:00:00Z' is outside 1970-01-01"),
    (["--start", "300000000000"], r"argument --start: '300000000000' is outside .* 9999-12-31T23:59:59Z"),
    (["--start", "99999999999999999999"], r"argument --start: '99999999999999999999' is outside"),
    (["--start", "now-99999999999d"], r"argument --start: 'now-99999999999d' is outside"),
    (["--start", "nan"], r"argument --start: cannot read 'nan' as a time"),
    (["--start", "9999-12-31T23:00:00Z"], r"does not fit between 1970-01-01T00:00:00Z and 9999-12-31T23:59:59Z"),
    (["--start", STARTED, "--at", "99999999999999999999"], r"argument --at: .* is outside"),
    (["--start", STARTED, "--at", "nan"], r"argument --at: cannot read 'nan'"),
    *[(["--start", STARTED, "--timeout", value], rf"argument --timeout: '{value}'") for value in
      ("-1", "nan", "inf", "0")],
    *[(["--start", STARTED, "--settle", value], rf"argument --settle: '{value}'") for value in ("nan", "-1", "inf")],
    *[(["--start", STARTED, "--max-outage", value], rf"argument --max-outage: '{value}'") for value in
      ("nan", "inf", "-1", "0")],
    *[(["--start", STARTED, "--attempts", value], rf"argument --attempts: '{value}'") for value in ("0", "-3")],
])
def test_bad_gate_arguments_exit_2(args, message, capsys):
    assert run("--prometheus", UNREACHABLE, "--attempts", "1", *args) == 2
    err = capsys.readouterr().err
    assert re.search(message, err), err


@pytest.mark.parametrize("value", ["21", "1000000"])
def test_attempts_are_bounded(value, capsys):
    with pytest.raises(SystemExit) as refused:  # parsed only: an unbounded retry loop would not return
        build_parser().parse_args(["gate", PLAN, "--prometheus", UNREACHABLE, "--attempts", value])
    assert refused.value.code == 2
    assert f"argument --attempts: '{value}' is outside [1, 20]" in capsys.readouterr().err


@pytest.mark.parametrize("url, message", [
    ("http://[::1", "cannot read the Prometheus URL 'http://[::1': Invalid IPv6 URL"),
    ("http://", "the Prometheus URL 'http://' names no host"),
    ("http://:9090", "names no host"),
    ("http://127.0.0.1:99999", "Port out of range"),
    ("http://user:password@127.0.0.1:9", "holds credentials: use --bearer-token-file"),
    ("http://127.0.0.1:9/?x=1", "has a query or fragment"),
    ("http://127.0.0.1:9/a b", "holds spaces, control or non-ASCII characters"),
    ("http://prométhée:9090", "holds spaces, control or non-ASCII characters"),
])
def test_an_unusable_prometheus_url_exits_2(url, message, capsys):
    assert run("--prometheus", url, "--start", STARTED) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("content, message", [
    ("", "the file is empty"),
    ("\n \n", "the file is empty"),
    ("first\nsecond\n", "the file spans several lines"),
    ("one\r\ntwo", "the file spans several lines"),
    ("a token", "the file holds a space or a character an HTTP header cannot carry"),
])
def test_an_unusable_bearer_token_file_exits_2(tmp_path, content, message, capsys):
    token = tmp_path / "token"
    token.write_text(content, newline="")
    assert run("--prometheus", UNREACHABLE, "--start", STARTED, "--bearer-token-file", str(token)) == 2
    assert f"--bearer-token-file {token}: {message}" in capsys.readouterr().err


# -- calibrate and backtest share the options, and their checks ----------------------------

HISTORY = ["--prometheus", UNREACHABLE, "--start", STARTED, "--end", "2025-03-01T04:00:00Z", "--attempts", "1"]


@pytest.mark.parametrize("command", ["calibrate", "backtest"])
@pytest.mark.parametrize("args, message", [
    (["--timeout", "nan"], "argument --timeout: 'nan' is not a finite number"),
    (["--timeout", "-1"], "argument --timeout: '-1' seconds is outside"),
    (["--attempts", "0"], "argument --attempts: '0' is outside [1, 20]"),
    (["--start", "0001-01-01T00:00:00Z"], "argument --start: '0001-01-01T00:00:00Z' is outside"),
    (["--end", "99999999999999999999"], "argument --end: '99999999999999999999' is outside"),
    (["--prometheus", "http://[::1"], "cannot read the Prometheus URL"),
    (["--bearer-token-file", "/nonexistent/token"], "--bearer-token-file /nonexistent/token: cannot read it"),
])
def test_bad_history_arguments_exit_2(command, args, message, capsys):
    given = dict(zip(HISTORY[::2], HISTORY[1::2])) | dict(zip(args[::2], args[1::2]))   # an option given once
    try:
        code = main([command, PLAN, *(part for pair in given.items() for part in pair)])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err


# -- text from the server never carries the bearer token back out -----------------------------

@pytest.mark.parametrize("status", [200, 401])
def test_a_server_echoing_the_token_has_it_taken_out_of_every_message(tmp_path, status, capsys):
    """A server (or a proxy before it) that puts the request's Authorization header into its error: the token
    reached the gate's message, and ``serve``'s answer to any client."""
    token = tmp_path / "token"
    token.write_text("s3cr/et\n")

    def echo(connection, request, stop):
        header = next(line for line in request.decode().split("\r\n") if line.startswith("Authorization"))
        body = json.dumps({"status": "error", "errorType": "auth", "error": f"bad credentials: {header}"}).encode()
        connection.sendall(b"HTTP/1.1 %d %s\r\nContent-Length: %d\r\n\r\n%s"
                           % (status, header.encode(), len(body), body))

    with RawServer(echo) as server:
        assert prometheus(server.url, "--bearer-token-file", str(token), "--attempts", "1") == 5
    out, err = capsys.readouterr()
    assert "bad credentials: Authorization: Bearer <token>" in out
    assert "s3cr" not in out + err


def test_an_answer_holding_the_tokens_text_is_read_as_sent_and_told_without_it():
    """Taking the token out of every answer rewrote data that happened to hold its text (a token 'api' turned a
    job 'checkout-api' into 'checkout-<token>'); only what is told in words (warnings, failures) is scrubbed."""
    from rampsim.prod.source import PrometheusSource, _parse_instant
    from rampsim.telemetry import Layout

    source = PrometheusSource("http://127.0.0.1:9", Layout(("baseline", "canary"), ("A",)),
                              headers={"Authorization": "Bearer api"})
    answer = {"status": "success", "warnings": ["your token api expires"], "data": {"resultType": "vector", "result": [
        {"metric": {"job": "checkout-api"}, "value": [1740787200, "0.5"]}]}}
    data, warnings = source._parsed(json.dumps(answer).encode(), _parse_instant)
    assert data["result"][0]["metric"]["job"] == "checkout-api" and warnings == ["your token <token> expires"]


def test_a_token_echoed_as_go_escapes_it_is_taken_out_before_a_message_clips_it():
    """Go's encoding/json (Prometheus's) writes & < > as \\u0026...: that form was not recognised, and a failure
    message clipped at 200 characters kept the token's start where the later redaction of the whole token missed it."""
    from rampsim.prod.source import PrometheusSource, _Failure, _parse_instant
    from rampsim.telemetry import Layout

    token = "abcdefgh&ijklmnop"
    source = PrometheusSource("http://127.0.0.1:9", Layout(("baseline", "canary"), ("A",)),
                              headers={"Authorization": f"Bearer {token}"})
    metric = {"pad": "x" * 170, "auth": f"Bearer {token}"}
    raw = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": metric, "value": [1740787200, "1"]}, {"metric": metric, "value": [1740787200, "2"]}]}})
    raw = raw.replace("&", "\\u0026")   # as Go writes it
    with pytest.raises(_Failure, match="comes twice") as failure:
        source._parsed(raw.encode(), _parse_instant)
    assert "abcdefgh" not in str(failure.value)
