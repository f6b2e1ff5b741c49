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
- ``GET /healthz`` (or ``HEAD``): 200 while the server answers requests, with the
  number of canaries remembered; it does not query Prometheus (an outage is the
  hooks' 503, not a reason to restart the server).

Each canary (namespace/name) has its own :class:`~rampsim.prod.gate_run.GateRun`
(an imported Argo, Flagger or Kayenta gate's asks its own queries), judged incrementally
across calls. The server's ``--start`` serves a canary without a pre-rollout call or
``metadata.start`` once: not after an analysis of that canary from it was promoted (a later
release would be judged on the earlier one's data), nor for a canary first heard of more than
``LATE_FIRST_CALL`` seconds after the ramp from it ended; such a call is 409, "no start known". A hook's answer is a small JSON object: the
canary, the ``outcome``, its ``reason`` (the latest decision's, or why there is
none), the scrapes judged and the time judged up to; ``?history=1`` on the hook's
URL adds ``events``, every event since the ramp's start. A refusal is JSON with an
``error``: 404 for an unknown path (listing the known ones), 405 with an ``Allow``
header for a method the path does not take.

Every request answered, and every request dropped for taking too long, is one
line on stderr in logfmt (``key=value``, values with spaces quoted): ``time``,
``client``, ``method``, ``path``, ``status``, then the ``canary``, ``outcome`` and
``reason`` or the ``error`` when the answer has them, and ``ms`` from connection
to answer.

Hostile or broken clients are bounded: a request must arrive whole within
``CLIENT_TIMEOUT`` seconds (a client that sends nothing, or drips its headers, is
disconnected); a POST needs a ``Content-Length`` (411) of at most ``MAX_BODY``
bytes (413); a body that is not a JSON object, repeats a key (``"name"`` twice: which
canary is meant?), or has a field of the wrong kind, is 400; a bug is 500. At most ``HANDLER_THREADS`` requests are handled at once, the
rest wait in a listen backlog of ``LISTEN_BACKLOG``. A canary's name and namespace must be
Kubernetes names (400 otherwise). At most ``max_canaries`` runs are remembered: when
full, the oldest one that is decided, past its ramp by ``LATE_FIRST_CALL`` or not called
for ``IDLE_CANARY`` seconds makes room, else the new canary gets 503.

A slow Prometheus is bounded too: a hook judges for at most ``deadline`` seconds (no
new read starts after it; with scrapes due left unjudged the answer is 409 inconclusive,
"judging is behind", and the next call goes on from there), a call waits at most as long
for another call judging the same canary, and at most ``READERS`` canaries are judged at once.
"""
from __future__ import annotations

import collections
import datetime as dt
import io
import json
import re
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
from urllib.parse import parse_qsl, urlsplit

from rampsim.engine import Decision, event_to_dict
from rampsim.errors import UsageError
from rampsim.plan.json_source import parse_json_data
from rampsim.plan.schema import Plan
from rampsim.plan.source import SourceError
from rampsim.prod.instants import EARLIEST, LATEST, format_instant, is_relative, parse_instant
from rampsim.prod.naming import Naming, quoted_text
from rampsim.prod.gate_run import GateRun, GateOutcome, Source
from rampsim.prod.gate_queries import gate_run_for

__all__ = ["WebhookGate", "serve_webhook", "ROLLOUT_STATUS", "ROUTES", "MAX_BODY", "CLIENT_TIMEOUT",
           "MAX_CANARIES", "HANDLER_THREADS", "LISTEN_BACKLOG", "LATE_FIRST_CALL", "IDLE_CANARY", "DEADLINE",
           "READERS"]

MAX_BODY = 64 * 1024      # bytes: Flagger's payloads are a few hundred
CLIENT_TIMEOUT = 5.0      # seconds a client may take to send its whole request
MAX_CANARIES = 100        # runs remembered (about 1.3 MB each for the reference plan)
HANDLER_THREADS = 64      # requests handled at once
LISTEN_BACKLOG = 1024     # connections waiting for a handler (the kernel caps it at net.core.somaxconn)
LATE_FIRST_CALL = 600.0   # seconds after the ramp from --start ends past which a canary first heard of is not judged on it
IDLE_CANARY = 3600.0      # seconds without a call after which an unfinished canary may make room (abandoned)
DEADLINE = 5.0            # seconds a hook judges for before it answers with what it has judged (no new read after it)
READERS = 4               # canaries judged at once, so Prometheus reads in flight (each answer may hold 64 MiB)

HOOKS = ("pre-rollout", "rollout", "confirm-promotion")

ROLLOUT_STATUS = {GateOutcome.CONTINUE: 200, GateOutcome.ADVANCE: 200, GateOutcome.ROLLBACK: 403, GateOutcome.HOLD: 409,
                  GateOutcome.INCONCLUSIVE: 409, GateOutcome.UNAVAILABLE: 503}

ROUTES = {**{f"/{hook}": ("POST",) for hook in HOOKS}, "/healthz": ("GET", "HEAD")}
"""Each path served and the methods it takes (any other method on it is 405)."""

_HINTS = {"POST": "POST a Flagger webhook payload here (a JSON object with name and namespace)",
          "GET": "GET it, as a Kubernetes liveness or readiness probe does"}  # by a route's first method

_FLAGS = {"1": True, "true": True, "0": False, "false": False}  # the values of ?history=


@dataclass(eq=False)
class _Canary:
    """One canary's run, the lock that judges it one call at a time (a slow Prometheus holds up only it), and
    when it was last called."""

    run: GateRun
    last_call: float
    lock: threading.Lock = field(default_factory=threading.Lock)


# Kubernetes object names (RFC 1123): what Flagger's payload carries, and all a canary may be called here.
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


class WebhookGate:
    """The hooks' logic, independent of HTTP: payload in, (status, body) out."""

    def __init__(self, plan: Plan, source: Source, naming: Naming, start: Optional[float] = None,
                 clock: Callable[[], float] = time.time, settle: float = 5.0,
                 max_canaries: int = MAX_CANARIES, deadline: float = DEADLINE, readers: int = READERS) -> None:
        self.plan, self.source, self.naming = plan, source, naming
        self.start, self.clock, self.settle = start, clock, settle
        self.max_canaries, self.deadline = max_canaries, deadline
        self._judging = threading.BoundedSemaphore(readers)   # canaries judged at once: reads in flight, bounded
        self._canaries: OrderedDict[str, _Canary] = OrderedDict()  # oldest start first
        self._registry = threading.Lock()  # guards _canaries and _promoted_from_default, never held while judging
        # canaries whose analysis from --start was promoted (the newest 10 x max_canaries: a bounded memory)
        self._promoted_from_default: OrderedDict[str, None] = OrderedDict()

    def handle(self, hook: str, payload: dict[str, Any], history: bool = False) -> tuple[int, dict[str, Any]]:
        """Answer ``hook`` (``pre-rollout``, ``rollout`` or ``confirm-promotion``) for ``payload``.

        ``history`` adds ``events`` (every event since the ramp's start) to a judged hook's answer.
        Raises :class:`~rampsim.errors.UsageError` naming the field of ``payload`` that cannot be used.
        """
        if hook not in HOOKS:
            return 404, {"error": f"unknown hook {hook!r}: pre-rollout, rollout or confirm-promotion"}
        canary = f"{_name(payload, 'namespace', _LABEL, 63)}/{_name(payload, 'name', _SUBDOMAIN, 253)}"
        start = self._start(payload)
        if hook == "pre-rollout":
            begins = self.clock() if start is None else start
            entry = self._admit(canary, gate_run_for(self.plan, self.source, begins, self.naming), replace=True)
            if entry is None:
                return self._full(canary)
            return 200, {"canary": canary, "started": format_instant(entry.run.grid.start)}
        with self._registry:
            entry = self._canaries.get(canary)
        began = self.start if start is None else start
        if entry is None:
            if began is None:
                return 409, {"canary": canary, "outcome": GateOutcome.INCONCLUSIVE.value,
                             "error": "no start known: add a pre-rollout webhook, metadata.start or --start"}
            if start is None and (spent := self._default_start_spent(canary)):
                return 409, {"canary": canary, "outcome": GateOutcome.INCONCLUSIVE.value,
                             "error": f"no start known: {spent}; add a pre-rollout webhook or metadata.start"}
            entry = self._admit(canary, gate_run_for(self.plan, self.source, began, self.naming), replace=False)
        return self._judge(hook, canary, entry, history) if entry else self._full(canary)

    def health(self) -> dict[str, Any]:
        """``/healthz``'s answer: the server is up, and how many canaries it remembers."""
        with self._registry:
            return {"ok": True, "canaries": len(self._canaries), "max_canaries": self.max_canaries}

    def _judge(self, hook: str, canary: str, entry: _Canary, history: bool) -> tuple[int, dict[str, Any]]:
        run = entry.run
        deadline = time.monotonic() + self.deadline
        if not entry.lock.acquire(timeout=self.deadline):   # another call judges this canary (a retry, a flood)
            return 409, {"canary": canary, "outcome": GateOutcome.INCONCLUSIVE.value,
                         "error": f"another call is judging this canary and did not finish in {self.deadline:g} s"}
        try:
            entry.last_call = self.clock()
            behind = False
            if not run.finished:
                now = self.clock()
                if self._judging.acquire(timeout=max(deadline - time.monotonic(), 0.0)):   # else: every slot busy
                    try:
                        run.problem = ""  # a new call retries a source that failed before
                        collections.deque(run.run_until(now, now, self.settle, deadline=deadline),
                                          maxlen=0)  # judge, keep only run.events
                    finally:
                        self._judging.release()
                behind = not run.finished and not run.problem and run.next_tick <= run.due(now, now, self.settle)
            # Behind, the scrapes due but not judged could hold anything: inconclusive (409, a failed check for
            # Flagger, as a timeout was), never the judged part's "continue" for data nobody looked at.
            outcome = GateOutcome.INCONCLUSIVE if behind else run.outcome()
            judged = run.next_tick - 1
            reason = (f"judging is behind: scrapes up to now are not all judged in {self.deadline:g} s (a slow "
                      f"Prometheus, or other canaries judged at once); the next call goes on from here"
                      if behind else _reason(run, outcome))
            body: dict[str, Any] = {
                "canary": canary, "outcome": outcome.value, "reason": reason,
                "scrapes_judged": judged + 1,
                "judged_until": format_instant(run.grid.time_of(judged)) if judged >= 0 else None}
            if history:
                body["events"] = [{**event_to_dict(e), "at": format_instant(run.grid.start + e.time)}
                                  for e in run.events]
        finally:
            entry.lock.release()
        if hook == "rollout":
            return ROLLOUT_STATUS[outcome], body
        if outcome is not GateOutcome.ADVANCE:
            return 403, {**body, "reason": f"not promoted before the final gate advances; now: {body['reason']}"}
        with self._registry:  # promoted: the canary's analysis is over
            if self._canaries.get(canary) is entry:
                del self._canaries[canary]
                if self.start is not None and run.grid.start == self.start:
                    self._promoted_from_default[canary] = None
                    while len(self._promoted_from_default) > 10 * self.max_canaries:
                        self._promoted_from_default.popitem(last=False)
        return 200, body

    def _default_start_spent(self, canary: str) -> str:
        """Why ``--start`` cannot be the start of ``canary``'s analysis (empty when it can): its ramp is over, or
        an analysis of this canary from it was promoted already (a later release would be judged on its data)."""
        assert self.start is not None
        end = self.start + self.plan.duration
        if self.clock() > end + LATE_FIRST_CALL:
            return (f"the ramp from --start {format_instant(self.start)} ended at {format_instant(end)}, more than "
                    f"{LATE_FIRST_CALL / 60:g} minutes before this canary's first call")
        with self._registry:
            promoted = canary in self._promoted_from_default
        return f"its analysis from --start {format_instant(self.start)} was promoted already" if promoted else ""

    def _admit(self, canary: str, run: GateRun, replace: bool) -> Optional[_Canary]:
        """The canary's entry: a new one with ``run`` if ``replace`` or none yet; ``None`` when full."""
        with self._registry:
            entry = self._canaries.get(canary)
            if entry is not None and not replace:
                return entry
            if entry is None and len(self._canaries) >= self.max_canaries:
                spent = next((name for name, old in self._canaries.items() if self._spent(old)), None)
                if spent is None:
                    return None
                del self._canaries[spent]  # the oldest run that is over or abandoned makes room
            self._canaries.pop(canary, None)
            entry = self._canaries[canary] = _Canary(run, self.clock())  # newest last
            return entry

    def _spent(self, entry: _Canary) -> bool:
        """Whether ``entry`` may be forgotten: decided, its ramp over for ``LATE_FIRST_CALL`` seconds, or not called
        for ``IDLE_CANARY`` seconds (an analysis Flagger abandoned, a canary deleted, a client that never judged)."""
        now = self.clock()
        return (entry.run.finished or now > entry.run.grid.start + self.plan.duration + LATE_FIRST_CALL
                or now - entry.last_call > IDLE_CANARY)

    def _full(self, canary: str) -> tuple[int, dict[str, Any]]:
        return 503, {"canary": canary, "outcome": GateOutcome.UNAVAILABLE.value,
                     "error": f"already judging {self.max_canaries} unfinished canaries (--max-canaries), each "
                              f"called in the last {IDLE_CANARY / 60:g} minutes: raise the limit"}

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
        if is_relative(str(value)):
            raise UsageError(f"metadata.start {str(value)[:40]!r} is relative: read again at a call after a restart "
                             f"(or after the canary was forgotten), it would start the ramp again; give an absolute "
                             f"time (RFC 3339 or unix seconds)")
        try:
            start = parse_instant(str(value), self.clock, relative=False)
        except UsageError as exc:
            raise UsageError(f"metadata.start: {exc}") from None
        if not EARLIEST <= start <= LATEST:
            raise UsageError(f"metadata.start: {str(value)[:40]!r} is not between 1970-01-01 and 9999-12-31")
        return start


def _reason(run: GateRun, outcome: GateOutcome) -> str:
    """Why ``run`` stands at ``outcome``: the source's problem, the missing data, or the latest decision's reason."""
    if outcome is GateOutcome.UNAVAILABLE:
        return run.problem
    if outcome is GateOutcome.INCONCLUSIVE:
        return ("no scrape has settled since the start yet" if run.next_tick == 0
                else "the latest scrape lacks a series the plan reads, or holds a damaged sample of one")
    latest = next((e for e in reversed(run.events) if isinstance(e, Decision)), None)
    if latest is None:
        return "no decision yet: no hold or rollback rule fired, no checkpoint was due"
    return latest.reason


def _wants_history(query: str) -> bool:
    """Whether a hook's query string (``history=1``; nothing else) asks for the events; raises :class:`UsageError`."""
    wanted = False
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name != "history" or value not in _FLAGS:
            raise UsageError(f"query: {name[:40]}={value[:40]!r} is not understood; the only parameter is "
                             f"history=1 (add the events since the start) or history=0")
        wanted = _FLAGS[value]
    return wanted


def _name(payload: dict[str, Any], key: str, pattern: re.Pattern[str], longest: int) -> str:
    """The payload's ``key``: a Kubernetes name (RFC 1123, at most ``longest`` characters), as Flagger always sends
    (the canary's name and namespace); anything else is no canary's."""
    if key not in payload:
        raise UsageError(f"{key} is missing: Flagger's payload names the canary (name and namespace)")
    value = payload[key]
    if not isinstance(value, str):
        raise UsageError(f"{key} must be a string, got {_json_type(value)}")
    if not value.strip():
        raise UsageError(f"{key} is empty: Flagger's payload names the canary (name and namespace)")
    if len(value) > longest or not pattern.fullmatch(value):
        kind, extra = ("namespace", "") if key == "namespace" else ("object name", " or '.'")
        raise UsageError(f"{key} {value[:60]!r}{'...' if len(value) > 60 else ''} is not a Kubernetes {kind}: "
                         f"lower-case letters, digits and '-'{extra}, at most {longest} characters")
    return value


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _payload(data: bytes) -> dict[str, Any]:
    """The JSON object in a request body; raises :class:`UsageError` saying what is wrong with it (a repeated key
    too: ``{"name": "a", "name": "c"}`` would otherwise start canary ``c``)."""
    try:
        payload = parse_json_data(data.decode(json.detect_encoding(data)), "body")
    except SourceError as exc:  # not JSON, nested too deeply, or a repeated key
        raise UsageError(str(exc)) from None
    except UnicodeDecodeError as exc:
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


_LOG_LOCK = threading.Lock()  # one request's line is written whole, whatever the other handlers write
_BARE = re.compile(r"[A-Za-z0-9_.:/@%+-]+")  # a logfmt value written without quotes
_LOGGED = ("canary", "outcome", "reason", "started", "error")  # the keys of an answer that its log line repeats
_CLIENT_TEXT = 200  # characters of a client's own text (path, canary) kept in the log


def _logfmt(value: object) -> str:
    """``value`` as a logfmt value: bare when it can be, else a JSON string, every unprintable character escaped."""
    text = str(value)
    return text if _BARE.fullmatch(text) else quoted_text(text)


def _write_log_line(fields: list[tuple[str, object]]) -> None:
    """One access-log line on stderr."""
    line = " ".join(f"{key}={_logfmt(value)}" for key, value in fields) + "\n"
    with _LOG_LOCK:
        sys.stderr.write(line)
        sys.stderr.flush()


def serve_webhook(gate: WebhookGate, host: str = "127.0.0.1", port: int = 8080,
                  client_timeout: Optional[float] = None, threads: int = HANDLER_THREADS) -> HTTPServer:
    """An HTTP server for ``gate`` (call ``serve_forever()`` on it; ``shutdown()`` to stop).

    ``client_timeout`` defaults to ``CLIENT_TIMEOUT``. Each request is logged on stderr (see the module docstring).
    """
    deadline = CLIENT_TIMEOUT if client_timeout is None else client_timeout

    class Handler(BaseHTTPRequestHandler):
        timeout = deadline

        def setup(self) -> None:
            super().setup()
            self.began = time.monotonic()
            self.rfile.close()  # replaced by one that enforces the request's deadline
            self.rfile = io.BufferedReader(_DeadlineReader(self.connection, self.began + deadline))

        def route(self) -> None:
            """Every method http.server knows of: the path's answer, or why not."""
            target = urlsplit(self.path)
            path = target.path.rstrip("/") or "/"  # a webhook URL written with a trailing slash works too
            allowed = ROUTES.get(path)
            if allowed is None:
                self._refuse(404, {"error": f"no such path {target.path[:_CLIENT_TEXT]!r}",
                                   "paths": [f"{methods[0]} {known}" for known, methods in ROUTES.items()]})
            elif self.command not in allowed:
                self._refuse(405, {"error": f"{self.command} is not allowed on {path}: {_HINTS[allowed[0]]}"},
                             allow=", ".join(allowed))
            elif path == "/healthz":
                self._answer(200, gate.health())
            else:
                try:
                    history = _wants_history(target.query)
                except UsageError as exc:
                    self._refuse(400, {"error": str(exc)})
                    return
                self._post(path[1:], history)

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = route  # noqa: N815

        def _post(self, hook: str, history: bool) -> None:
            lengths = {value.strip() for value in self.headers.get_all("Content-Length") or []}
            if not lengths:
                self._refuse(411, {"error": "Content-Length required"})
                return
            if len(lengths) > 1:   # which one frames the body? (a request smuggled past a proxy, or a broken client)
                self._refuse(400, {"error": f"conflicting Content-Length headers: {', '.join(sorted(lengths))[:80]}"})
                return
            length = lengths.pop()
            if not (length.isascii() and length.isdigit()):
                self._refuse(400, {"error": f"Content-Length must be a whole number of bytes, got {length[:40]!r}"})
            elif len(digits := length.lstrip("0")) > 12 or int(digits or "0") > MAX_BODY:   # int() refuses over
                self._refuse(413, {"error": f"the payload is over {MAX_BODY} bytes"})         # 4,300 digits
            else:
                data = self.rfile.read(int(digits or "0"))  # TimeoutError: http.server drops the client (logged)
                self._answer(*self._respond(hook, data, history))

        def _respond(self, hook: str, data: bytes, history: bool) -> tuple[int, dict[str, Any]]:
            try:
                return gate.handle(hook, _payload(data), history)
            except UsageError as exc:  # a field of the payload (or the ramp it asks for) cannot be used
                return 400, {"error": str(exc)}
            except Exception as exc:  # a bug: the client still gets an answer, the server goes on
                traceback.print_exc(file=sys.stderr)
                return 500, {"error": f"internal error: {type(exc).__name__}; see the server's log"}

        def _refuse(self, status: int, body: dict[str, Any], allow: Optional[str] = None) -> None:
            """Answer before reading the body, then discard what the client still sends until its deadline."""
            self._answer(status, body, allow)
            try:
                self.connection.shutdown(socket.SHUT_WR)
                while self.rfile.read1(MAX_BODY):
                    pass
            except OSError:  # TimeoutError included: the client's time is up
                pass

        def send_error(self, code: int, message: Optional[str] = None, explain: Optional[str] = None) -> None:
            """http.server's own refusals (bad request line, header too long, unknown method), as JSON."""
            self.close_connection = True
            self._answer(code, {"error": message or self.responses[code][0]})

        def _answer(self, status: int, body: dict[str, Any], allow: Optional[str] = None) -> None:
            data = json.dumps(body, default=str).encode()
            self._log(status, [(key, body[key]) for key in _LOGGED if body.get(key) is not None])
            self.connection.settimeout(deadline)  # a client that does not read its answer is dropped too
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if allow is not None:
                self.send_header("Allow", allow)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _log(self, status: object, details: list[tuple[str, object]]) -> None:
            """The request's line: when, who, what, the answer's status and details, and how long it took."""
            details = [(key, str(value)[:_CLIENT_TEXT] if key == "canary" else value) for key, value in details]
            now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            method = getattr(self, "command", None) or "-"  # unset when the request line itself was refused
            path = (getattr(self, "path", None) or "-")[:_CLIENT_TEXT]
            _write_log_line([("time", now), ("client", self.client_address[0]), ("method", method), ("path", path),
                             ("status", status), *details, ("ms", f"{(time.monotonic() - self.began) * 1000:.1f}")])

        def log_request(self, code: object = "-", size: object = "-") -> None:
            """Silenced: :meth:`_answer` logs the request with its details."""

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
            """http.server's other messages (a request that timed out), as a line without a status."""
            self._log("-", [("error", format % args)])

    return _BoundedServer((host, port), Handler, threads)
