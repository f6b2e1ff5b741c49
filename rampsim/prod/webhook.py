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

Each canary (namespace/name) has its own :class:`~rampsim.prod.runner.GateRun`,
judged incrementally across calls. The body of every answer is JSON with the
outcome and the events of the call.
"""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional

from rampsim.engine import event_to_dict
from rampsim.plan.schema import Plan
from rampsim.prod.grid import parse_instant
from rampsim.prod.naming import Naming
from rampsim.prod.runner import GateRun, Outcome, Source

__all__ = ["WebhookGate", "serve_webhook", "ROLLOUT_STATUS", "MAX_BODY", "CLIENT_TIMEOUT"]

MAX_BODY = 64 * 1024      # bytes: Flagger's payloads are a few hundred
CLIENT_TIMEOUT = 10.0     # seconds a client may take to send its request

ROLLOUT_STATUS = {Outcome.CONTINUE: 200, Outcome.ADVANCE: 200, Outcome.ROLLBACK: 403, Outcome.HOLD: 409,
                  Outcome.INCONCLUSIVE: 409, Outcome.UNAVAILABLE: 503}


class WebhookGate:
    """The hooks' logic, independent of HTTP: payload in, (status, body) out."""

    def __init__(self, plan: Plan, source: Source, naming: Naming, start: Optional[float] = None,
                 clock: Callable[[], float] = time.time, settle: float = 5.0) -> None:
        self.plan, self.source, self.naming = plan, source, naming
        self.start, self.clock, self.settle = start, clock, settle
        self._runs: dict[str, GateRun] = {}
        self._locks: dict[str, threading.Lock] = {}  # one per canary: a slow Prometheus call holds up only its own
        self._registry = threading.Lock()

    def handle(self, hook: str, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Answer ``hook`` (``pre-rollout``, ``rollout`` or ``confirm-promotion``) for ``payload``."""
        if hook not in ("pre-rollout", "rollout", "confirm-promotion"):
            return 404, {"error": f"unknown hook {hook!r}: pre-rollout, rollout or confirm-promotion"}
        canary = f"{payload.get('namespace', '')}/{payload.get('name', '')}"
        metadata = payload.get("metadata") or {}
        if not isinstance(metadata, dict):
            return 400, {"canary": canary, "error": "metadata must be a JSON object"}
        try:
            start = parse_instant(str(metadata["start"])) if "start" in metadata else None
        except ValueError as exc:
            return 400, {"canary": canary, "error": f"metadata.start: {exc}"}
        with self._registry:
            lock = self._locks.setdefault(canary, threading.Lock())
        with lock:
            if hook == "pre-rollout":
                began = start if start is not None else self.clock()
                self._runs[canary] = GateRun(self.plan, self.source, began, self.naming)
                return 200, {"canary": canary, "started": self._runs[canary].grid.start}
            run = self._runs.get(canary)
            began = start if start is not None else self.start
            if run is None and began is not None:
                run = self._runs[canary] = GateRun(self.plan, self.source, began, self.naming)
            if run is None:
                return 409, {"canary": canary, "outcome": Outcome.INCONCLUSIVE.value,
                             "error": "no start known: add a pre-rollout webhook, metadata.start or --start"}
            events = []
            if not run.finished:
                run.problem = ""  # a new call retries a source that failed before
                now = self.clock()
                events = [e for step in run.run_until(now, now, self.settle) for e in step.events]
            outcome = run.outcome()
            if hook == "confirm-promotion" and outcome is Outcome.ADVANCE:
                self._runs.pop(canary, None)  # promoted: the canary's analysis is over
        if hook == "confirm-promotion":
            status = 200 if outcome is Outcome.ADVANCE else 403
        else:
            status = ROLLOUT_STATUS[outcome]
        return status, {"canary": canary, "outcome": outcome.value, "problem": run.problem or None,
                        "scrapes_judged": run.next_tick, "events": [event_to_dict(e) for e in events]}


def serve_webhook(gate: WebhookGate, host: str = "127.0.0.1", port: int = 8080) -> ThreadingHTTPServer:
    """An HTTP server for ``gate`` (call ``serve_forever()`` on it; ``shutdown()`` to stop)."""

    class Handler(BaseHTTPRequestHandler):
        timeout = CLIENT_TIMEOUT   # socket timeout: a client that sends nothing is dropped

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._answer(200 if self.path == "/healthz" else 404, {"ok": self.path == "/healthz"})

        def do_POST(self) -> None:  # noqa: N802
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                self._answer(400, {"error": "bad Content-Length"})
                return
            if length < 0:
                self._answer(400, {"error": "bad Content-Length"})
                return
            if length > MAX_BODY:
                self._answer(413, {"error": f"the payload is over {MAX_BODY} bytes"})
                return
            try:
                payload = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(payload, dict):
                    raise ValueError("the payload must be a JSON object")
            except (ValueError, RecursionError) as exc:
                self._answer(400, {"error": f"bad payload: {exc}"})
                return
            self._answer(*gate.handle(self.path.strip("/"), payload))

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
            pass

    return ThreadingHTTPServer((host, port), Handler)
