"""The Flagger webhook: the gate answering Flagger's hooks over HTTP.

Flagger POSTs a JSON payload (``name``, ``namespace``, ``phase``, ``metadata``) to
each webhook of a canary's analysis and reads only the status code:

- ``POST /pre-rollout``: a new analysis begins; the ramp's start is now (or
  ``metadata.start``). Answers 200.
- ``POST /rollout``: judge every settled scrape since the start. 200 on continue or
  advance; 403 rollback; 409 hold or inconclusive; 503 metrics unavailable. Flagger
  counts any non-2xx as a failed check and rolls back after ``threshold`` of them
  (Flagger has no "hold").
- ``POST /confirm-promotion``: 200 only once the plan's final gate advanced;
  otherwise 403, and Flagger waits instead of promoting.
- ``GET /healthz``: 200.

Each canary (namespace/name) has its own :class:`~rampsim.prod.gate_run.GateRun`,
judged incrementally across calls. The body of every answer is JSON with the
outcome and the events of the call, or an ``error`` naming what was wrong.

Hostile or broken clients are bounded: a request must arrive whole within
``CLIENT_TIMEOUT`` seconds (a client that sends nothing, or drips its headers, is
disconnected); a POST needs a ``Content-Length`` (411) of at most ``MAX_BODY``
bytes (413); a body that is not a JSON object, or a field of the wrong kind, is
400; a bug is 500. At most ``HANDLER_THREADS`` requests are handled at once, the
rest wait in a listen backlog of ``LISTEN_BACKLOG``. At most ``max_canaries`` runs
are remembered: when full, the oldest finished run makes room, else the new
canary gets 503.
"""
from __future__ import annotations

import io
import json
import socket
import sys
import threading
import time
import traceback
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Callable, Optional

from rampsim.engine import event_to_dict
from rampsim.errors import UsageError
from rampsim.plan.schema import Plan
from rampsim.prod.instants import EARLIEST, LATEST, parse_instant
from rampsim.prod.naming import Naming
from rampsim.prod.gate_run import GateRun, GateOutcome, Source

__all__ = ["WebhookGate", "serve_webhook", "ROLLOUT_STATUS", "MAX_BODY", "CLIENT_TIMEOUT", "MAX_CANARIES",
           "HANDLER_THREADS", "LISTEN_BACKLOG"]

MAX_BODY = 64 * 1024      # bytes: Flagger's payloads are a few hundred
CLIENT_TIMEOUT = 10.0     # seconds a client may take to send its whole request
MAX_CANARIES = 100        # runs remembered (about 1.3 MB each for the reference plan)
HANDLER_THREADS = 32      # requests handled at once
LISTEN_BACKLOG = 1024     # connections waiting for a handler (the kernel caps it at net.core.somaxconn)

HOOKS = ("pre-rollout", "rollout", "confirm-promotion")

ROLLOUT_STATUS = {GateOutcome.CONTINUE: 200, GateOutcome.ADVANCE: 200, GateOutcome.ROLLBACK: 403, GateOutcome.HOLD: 409,
                  GateOutcome.INCONCLUSIVE: 409, GateOutcome.UNAVAILABLE: 503}


@dataclass(frozen=True)
class _Canary:
    """One canary's run and the lock that judges it one call at a time (a slow Prometheus holds up only it)."""

    run: GateRun
    lock: threading.Lock = field(default_factory=threading.Lock)


class WebhookGate:
    """The hooks' logic, independent of HTTP: payload in, (status, body) out."""

    def __init__(self, plan: Plan, source: Source, naming: Naming, start: Optional[float] = None,
                 clock: Callable[[], float] = time.time, settle: float = 5.0,
                 max_canaries: int = MAX_CANARIES) -> None:
        self.plan, self.source, self.naming = plan, source, naming
        self.start, self.clock, self.settle = start, clock, settle
        self.max_canaries = max_canaries
        self._canaries: OrderedDict[str, _Canary] = OrderedDict()  # oldest start first
        self._registry = threading.Lock()  # guards _canaries only, never held while judging

    def handle(self, hook: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Answer ``hook`` (``pre-rollout``, ``rollout`` or ``confirm-promotion``) for ``payload``.

        Raises :class:`~rampsim.errors.UsageError` naming the field of ``payload`` that cannot be used.
        """
        if hook not in HOOKS:
            return 404, {"error": f"unknown hook {hook!r}: pre-rollout, rollout or confirm-promotion"}
        canary = f"{_text(payload, 'namespace')}/{_text(payload, 'name')}"
        start = self._start(payload)
        if hook == "pre-rollout":
            begins = self.clock() if start is None else start
            entry = self._admit(canary, GateRun(self.plan, self.source, begins, self.naming), replace=True)
            return (200, {"canary": canary, "started": entry.run.grid.start}) if entry else self._full(canary)
        with self._registry:
            entry = self._canaries.get(canary)
        began = self.start if start is None else start
        if entry is None:
            if began is None:
                return 409, {"canary": canary, "outcome": GateOutcome.INCONCLUSIVE.value,
                             "error": "no start known: add a pre-rollout webhook, metadata.start or --start"}
            entry = self._admit(canary, GateRun(self.plan, self.source, began, self.naming), replace=False)
        return self._judge(hook, canary, entry) if entry else self._full(canary)

    def _judge(self, hook: str, canary: str, entry: _Canary) -> tuple[int, dict[str, Any]]:
        run = entry.run
        with entry.lock:
            events = []
            if not run.finished:
                run.problem = ""  # a new call retries a source that failed before
                now = self.clock()
                events = [e for step in run.run_until(now, now, self.settle) for e in step.events]
            outcome = run.outcome()
        if hook == "confirm-promotion" and outcome is GateOutcome.ADVANCE:
            with self._registry:  # promoted: the canary's analysis is over
                if self._canaries.get(canary) is entry:
                    del self._canaries[canary]
        if hook == "confirm-promotion":
            status = 200 if outcome is GateOutcome.ADVANCE else 403
        else:
            status = ROLLOUT_STATUS[outcome]
        return status, {"canary": canary, "outcome": outcome.value, "problem": run.problem or None,
                        "scrapes_judged": run.next_tick, "events": [event_to_dict(e) for e in events]}

    def _admit(self, canary: str, run: GateRun, replace: bool) -> Optional[_Canary]:
        """The canary's entry: a new one with ``run`` if ``replace`` or none yet; ``None`` when full."""
        with self._registry:
            entry = self._canaries.get(canary)
            if entry is not None and not replace:
                return entry
            if entry is None and len(self._canaries) >= self.max_canaries:
                finished = next((name for name, old in self._canaries.items() if old.run.finished), None)
                if finished is None:
                    return None
                del self._canaries[finished]  # the oldest finished run makes room
            self._canaries.pop(canary, None)
            entry = self._canaries[canary] = _Canary(run)  # newest last
            return entry

    def _full(self, canary: str) -> tuple[int, dict[str, Any]]:
        return 503, {"canary": canary, "outcome": GateOutcome.UNAVAILABLE.value,
                     "error": f"already judging {self.max_canaries} unfinished canaries (--max-canaries): "
                              f"finish, promote or roll back one, or raise the limit"}

    def _start(self, payload: dict[str, Any]) -> Optional[float]:
        """``metadata.start`` as unix seconds, ``None`` if absent."""
        metadata = payload.get("metadata")
        if metadata is None:
            return None
        if not isinstance(metadata, dict):
            raise UsageError(f"metadata must be a JSON object, got {_json_type(metadata)}")
        value = metadata.get("start")
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise UsageError(f"metadata.start must be an RFC 3339 time or unix seconds, got {_json_type(value)}")
        try:
            start = parse_instant(str(value), self.clock)
        except UsageError as exc:
            raise UsageError(f"metadata.start: {exc}") from None
        if not EARLIEST <= start <= LATEST:
            raise UsageError(f"metadata.start: {str(value)[:40]!r} is not between 1970-01-01 and 9999-12-31")
        return start


def _text(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key, "")
    if not isinstance(value, str):
        raise UsageError(f"{key} must be a string, got {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _payload(data: bytes) -> dict[str, Any]:
    """The JSON object in a request body; raises :class:`UsageError` saying what is wrong with it."""
    try:
        payload = json.loads(data)
    except RecursionError:
        raise UsageError("body: JSON nested too deeply") from None
    except ValueError as exc:  # also a body that is not UTF-8
        raise UsageError(f"body: not JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise UsageError(f"body: must be a JSON object, got {_json_type(payload)}")
    return payload


class _DeadlineReader(io.RawIOBase):
    """A socket's input that raises :class:`TimeoutError` once ``deadline`` (monotonic) has passed."""

    def __init__(self, connection: socket.socket, deadline: float) -> None:
        super().__init__()
        self.connection, self.deadline = connection, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the client did not send its request in time")
        self.connection.settimeout(left)
        return self.connection.recv_into(buffer)


class _BoundedServer(HTTPServer):
    """An HTTP server handling at most ``threads`` requests at once; other clients wait in the listen backlog."""

    request_queue_size = LISTEN_BACKLOG  # socketserver's 5 left clients of a burst retrying their SYN for seconds

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], threads: int) -> None:
        self._slots = threading.BoundedSemaphore(threads)
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="rampsim-webhook")
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        self._slots.acquire()  # every handler busy: stop accepting until one is free
        self._pool.submit(self._process, request, client_address)

    def _process(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client that went away is not an error
            super().handle_error(request, client_address)

    def server_close(self) -> None:
        super().server_close()
        self._pool.shutdown()


def serve_webhook(gate: WebhookGate, host: str = "127.0.0.1", port: int = 8080,
                  client_timeout: Optional[float] = None, threads: int = HANDLER_THREADS) -> HTTPServer:
    """An HTTP server for ``gate`` (call ``serve_forever()`` on it; ``shutdown()`` to stop).

    ``client_timeout`` defaults to ``CLIENT_TIMEOUT``.
    """
    deadline = CLIENT_TIMEOUT if client_timeout is None else client_timeout

    class Handler(BaseHTTPRequestHandler):
        timeout = deadline

        def setup(self) -> None:
            super().setup()
            self.rfile.close()  # replaced by one that enforces the request's deadline
            self.rfile = io.BufferedReader(_DeadlineReader(self.connection, time.monotonic() + deadline))

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._answer(200 if self.path == "/healthz" else 404, {"ok": self.path == "/healthz"})

        def do_POST(self) -> None:  # noqa: N802
            length = self.headers.get("Content-Length")
            if length is None:
                self._refuse(411, "Content-Length required")
                return
            length = length.strip()
            if not (length.isascii() and length.isdigit()):
                self._refuse(400, f"Content-Length must be a whole number of bytes, got {length[:40]!r}")
            elif len(length) > 12 or int(length) > MAX_BODY:  # int() refuses over 4,300 digits
                self._refuse(413, f"the payload is over {MAX_BODY} bytes")
            else:
                data = self.rfile.read(int(length))  # TimeoutError: http.server drops the client
                self._answer(*self._respond(data))

        def _respond(self, data: bytes) -> tuple[int, dict[str, Any]]:
            try:
                return gate.handle(self.path.strip("/"), _payload(data))
            except UsageError as exc:  # a field of the payload (or the ramp it asks for) cannot be used
                return 400, {"error": str(exc)}
            except Exception as exc:  # a bug: the client still gets an answer, the server goes on
                traceback.print_exc(file=sys.stderr)
                return 500, {"error": f"internal error: {type(exc).__name__}; see the server's log"}

        def _refuse(self, status: int, error: str) -> None:
            """Answer before reading the body, then discard what the client still sends until its deadline."""
            self._answer(status, {"error": error})
            try:
                self.connection.shutdown(socket.SHUT_WR)
                while self.rfile.read1(MAX_BODY):
                    pass
            except OSError:  # TimeoutError included: the client's time is up
                pass

        def send_error(self, code: int, message: Optional[str] = None, explain: Optional[str] = None) -> None:
            """http.server's own refusals (bad request line, header too long, method), as JSON."""
            self.close_connection = True
            self._answer(code, {"error": message or self.responses[code][0]})

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body, default=str).encode()
            self.connection.settimeout(deadline)  # a client that does not read its answer is dropped too
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
            pass

    return _BoundedServer((host, port), Handler, threads)
