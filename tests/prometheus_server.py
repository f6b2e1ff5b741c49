"""A real Prometheus for tests: find the binaries, backfill, start on 127.0.0.1, stop by pid.

Tests that need it call :func:`require_binaries` (it skips with a reason when the
binaries are absent, and fails instead under ``CI``), write OpenMetrics, then::

    with backfilled_server(openmetrics_path, tmp_path) as server:
        ...  # server.url

The server has no scrape targets and a retention of 100 years (the longest
Prometheus accepts; retention is measured from the newest block, so old
backfilled data stays). It is stopped by its pid when the block exits, failure
included.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator
from urllib.parse import parse_qs, urlparse

import pytest

from rampsim.prod.instants import parse_instant
from tests.conftest import missing

__all__ = ["require_binaries", "free_port", "backfill", "PrometheusServer", "start_server", "stop_server",
           "backfilled_server", "FakePrometheus"]

CONFIG = "global:\n  scrape_interval: 15s\nscrape_configs: []\n"


def require_binaries() -> tuple[str, str]:
    """Paths of ``prometheus`` and ``promtool``; skip (or, under CI, fail) when they are absent."""
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if prometheus and promtool:
        return prometheus, promtool
    reason = "needs the prometheus and promtool binaries (apt-get install prometheus)"
    missing(f"Prometheus is missing: {reason}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def backfill(promtool: str, openmetrics: Path, data_dir: Path) -> None:
    """``promtool tsdb create-blocks-from openmetrics`` into ``data_dir``; raises with promtool's output."""
    data_dir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", str(openmetrics),
                             str(data_dir)], capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"promtool backfill failed ({result.returncode}): {result.stderr or result.stdout}")


@dataclass
class PrometheusServer:
    """A running server: its process, port and log file."""

    process: subprocess.Popen
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_server(prometheus: str, data_dir: Path, workdir: Path, ready_timeout: float = 30.0,
                 config_text: str = CONFIG) -> PrometheusServer:
    """Start ``prometheus`` on a free 127.0.0.1 port over ``data_dir`` and wait for ``/-/ready``."""
    config = workdir / "prometheus.yml"
    config.write_text(config_text)
    last_error = ""
    for _ in range(3):  # a port taken between free_port() and the bind: try another
        port = free_port()
        log = workdir / f"prometheus-{port}.log"
        with log.open("w") as handle:
            process = subprocess.Popen(
                [prometheus, f"--config.file={config}", f"--storage.tsdb.path={data_dir}",
                 "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{port}"],
                stdout=handle, stderr=subprocess.STDOUT)
        server = PrometheusServer(process, port, log)
        try:
            if _wait_ready(server, ready_timeout):
                return server
        except BaseException:
            stop_server(server)
            raise
        stop_server(server)
        last_error = log.read_text()[-2000:]
    raise RuntimeError(f"prometheus did not become ready:\n{last_error}")


def _wait_ready(server: PrometheusServer, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=1.0) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.05)
    return False


def stop_server(server: PrometheusServer, timeout: float = 10.0) -> None:
    """Stop the server by its pid: SIGTERM, then SIGKILL if it lingers."""
    if server.process.poll() is not None:
        return
    os.kill(server.pid, signal.SIGTERM)
    try:
        server.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(server.pid, signal.SIGKILL)
        server.process.wait(timeout=timeout)


@contextlib.contextmanager
def backfilled_server(openmetrics_files: list[Path], workdir: Path) -> Iterator[PrometheusServer]:
    """A server over a fresh TSDB backfilled from ``openmetrics_files``, stopped on exit."""
    prometheus, promtool = require_binaries()
    data_dir = workdir / "tsdb"
    for path in openmetrics_files:
        backfill(promtool, path, data_dir)
    server = start_server(prometheus, data_dir, workdir)
    try:
        yield server
    finally:
        stop_server(server)


class LocalServer:
    """An HTTP server on 127.0.0.1 in a daemon thread, for the fake servers of the tests (a context manager)."""

    def serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


class FakePrometheus(LocalServer):
    """A tiny stand-in for Prometheus's query API on 127.0.0.1, for failure cases.

    It answers ``/api/v1/query`` for rampsim's range-vector queries from ``source``
    (anything with ``read(low_ms, high_ms)``), unless ``failures`` says otherwise:
    each entry is consumed by one request and is ``(status, body)`` or
    ``("sleep", seconds)``. ``requests`` counts the requests received.
    """

    def __init__(self, source=None, failures=None) -> None:
        self.source, self.failures, self.requests = source, list(failures or []), 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                fake.requests += 1
                if fake.failures:
                    status, body = fake.failures.pop(0)
                    if status == "sleep":
                        time.sleep(body)
                        status, body = 200, '{"status":"success","data":{"resultType":"matrix","result":[]}}'
                    return self._send(status, body)
                params = parse_qs(urlparse(self.path).query)
                high_ms = int(round(parse_instant(params["time"][0]) * 1000))
                width = int(re.search(r"\[(\d+)ms\]$", params["query"][0]).group(1))
                result = [{"metric": dict(s.labels),
                           "values": [[t / 1000, repr(float(v))] for t, v in zip(s.timestamps_ms, s.values)]}
                          for s in fake.source.read(high_ms - width, high_ms)]
                self._send(200, json.dumps({"status": "success", "data": {"resultType": "matrix",
                                                                          "result": result}}))

            def _send(self, status: int, body: str) -> None:
                data = body.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, *args) -> None:
                pass

        self.serve(Handler)
