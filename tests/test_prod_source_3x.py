"""The production source reads raw samples exactly from Prometheus 2.x and 3.x.

3.x has no Debian package here, so fake servers on 127.0.0.1 stand in: one selects a range
vector's samples as 2.x does (the closed ``[t-w, t]``), the other as 3.x does (the left-open
``(t-w, t]``, which drops a sample exactly at the range's start). Scrapes that land exactly on
the edges of the gate's scrape slots (half an interval early or late, to the millisecond) must be
read the same from both, and the gate must decide exactly as it does on the recording itself.
The fake 3.x server also answers ``/api/v1/status/buildinfo`` and forwarded instant queries, with
rampsim's own evaluator in 3.x semantics.
"""
from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from rampsim.cli import main
from rampsim.prod.gate_run import GateOutcome, GateRun
from rampsim.prod.instants import parse_instant
from rampsim.prod.replay import FileSource
from rampsim.prod.samples import RawSeries
from rampsim.prod.source import PrometheusSource, QueryRejected, RetryPolicy, SourceUnavailable, _parse
from rampsim.promql import SeriesStore, evaluate
from rampsim.promql.errors import PromQLError
from tests.builders import steady
from tests.prometheus_server import FakePrometheus, LocalServer

START = 1740787200.0
END = START + 4 * 3600
HALF = 7500   # ms: half the 15 s scrape interval, where one slot ends and the next begins


class Prometheus3(LocalServer):
    """A fake Prometheus 3.x: range vectors select ``(t-w, t]``; instant queries run rampsim's 3.x evaluator."""

    def __init__(self, series: list[RawSeries], version: str = "3.5.0") -> None:
        self.series, self.version, self.queries = series, version, []
        self.store = SeriesStore()
        for s in series:
            self.store.add_ms(s.labels, s.timestamps_ms, s.values)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                url = urlparse(self.path)
                params = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/api/v1/status/buildinfo":
                    return self._send(200, {"status": "success", "data": {"version": fake.version}})
                fake.queries.append(params["query"])
                at_ms = int(round(parse_instant(params["time"]) * 1000))
                matrix = re.fullmatch(r"(.*)\[(\d+)ms\]", params["query"])
                if matrix:
                    width = int(matrix.group(2))
                    result = []
                    for s in fake.series:
                        keep = (s.timestamps_ms > at_ms - width) & (s.timestamps_ms <= at_ms)   # left-open
                        if keep.any():
                            result.append({"metric": dict(s.labels), "values": [
                                [t / 1000, repr(float(v))] for t, v in zip(s.timestamps_ms[keep], s.values[keep])]})
                    return self._send(200, {"status": "success", "data": {"resultType": "matrix", "result": result}})
                try:
                    answer = evaluate(params["query"], fake.store, at_ms / 1000, semantics=3)
                except PromQLError as exc:
                    return self._send(400, {"status": "error", "errorType": "bad_data", "error": str(exc)})
                return self._send(200, {"status": "success", "data": answer.to_api_json(),
                                        "warnings": ["evaluated by a fake"]})

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.serve(Handler)


def on_slot_edges(telemetry) -> list[RawSeries]:
    """The recording of ``telemetry`` with every scrape on an edge of its slot: even ticks half an interval
    early (at a batch's first millisecond), odd ticks half an interval late, less a millisecond (its last)."""
    recorded = FileSource.from_telemetry(telemetry, START).series
    edged = []
    for s in recorded:
        tick = (s.timestamps_ms - int(START * 1000)) // 15000
        jitter = np.where(tick % 2 == 0, -HALF, HALF - 1)
        edged.append(RawSeries(s.labels, s.timestamps_ms + jitter, s.values))
    return edged


def gate(plan, url: str) -> GateRun:
    return GateRun(plan, PrometheusSource(url, plan.layout, policy=RetryPolicy(timeout=5.0, attempts=1)), START)


@pytest.fixture(scope="module")
def incident(reference_plan):
    errors = np.full(961, 0.0007)
    errors[300:] = 0.012
    return steady(reference_plan.layout, error_rate=errors)


def test_samples_on_the_edges_of_a_read_come_back_once_from_2x_and_3x(reference_plan, healthy_telemetry):
    series = on_slot_edges(healthy_telemetry.head(40))
    grid_low = int(START * 1000) + 20 * 15000 - HALF        # tick 20's slot begins: a sample sits there
    grid_high = int(START * 1000) + 29 * 15000 + HALF - 1   # tick 29's slot ends: a sample sits there
    expected = {tuple(sorted(s.labels.items())): s.timestamps_ms[(s.timestamps_ms >= grid_low)
                                                                 & (s.timestamps_ms <= grid_high)].tolist()
                for s in series}
    assert all(times[0] == grid_low and times[-1] == grid_high for times in expected.values())
    with Prometheus3(series) as v3, FakePrometheus(FileSource(series)) as v2:
        for url in (v3.url, v2.url):
            read = PrometheusSource(url, reference_plan.layout).read(grid_low, grid_high)
            assert {tuple(sorted(s.labels.items())): s.timestamps_ms.tolist() for s in read} == expected, url


@pytest.mark.parametrize("server", ["2.x", "3.x"])
def test_the_gate_decides_as_on_the_recording_against_either_line(reference_plan, incident, server):
    series = on_slot_edges(incident)
    offline = GateRun(reference_plan, FileSource(series), START)
    offline_steps = list(offline.run_until(END))
    fake = Prometheus3(series) if server == "3.x" else FakePrometheus(FileSource(series))
    with fake:
        live = gate(reference_plan, fake.url)
        live_steps = list(live.run_until(END))
    assert live.events == offline.events and live.outcome() is offline.outcome() is GateOutcome.ROLLBACK
    assert [n for s in live_steps for n in s.notices] == [n for s in offline_steps for n in s.notices] == []


def test_the_old_read_would_lose_the_first_scrape_of_every_batch_on_3x(reference_plan, healthy_telemetry):
    """Why the range is one millisecond wider: a 3.x range of exactly ``high - low`` leaves out ``low``."""
    series = on_slot_edges(healthy_telemetry.head(40))
    source = PrometheusSource("http://127.0.0.1:1", reference_plan.layout)
    low, high = int(START * 1000) - HALF, int(START * 1000) + 9 * 15000 + HALF - 1
    promql, _ = source.query(low, high)
    assert promql.endswith(f"[{high - low + 1}ms]")
    with Prometheus3(series) as v3:
        narrow = PrometheusSource(v3.url, reference_plan.layout)._get(
            "/api/v1/query", {"query": f"{source.selector()}[{high - low}ms]", "time": str(high / 1000)}, _parse)[0]
    assert all(s.timestamps_ms[0] > low for s in narrow)      # the sample at `low` is gone


def test_version_and_forwarded_instant_queries(reference_plan, healthy_telemetry):
    series = FileSource.from_telemetry(healthy_telemetry.head(40), START).series
    with Prometheus3(series, version="3.4.1") as v3:
        source = PrometheusSource(v3.url, reference_plan.layout)
        assert source.version() == "3.4.1"
        data = source.instant('sum(rate(rampsim_requests_total{arm="canary"}[1m]))', START + 300)
        assert data["resultType"] == "vector"
        assert float(data["result"][0]["value"][1]) == pytest.approx(400.0)  # 6,000 per 15 s
        assert source.warnings == ["evaluated by a fake"]
        assert source.instant("scalar(vector(2))", START)["result"] == [int(START), "2"]
        with pytest.raises(QueryRejected, match="refused the query: HTTP 400.*topk"):
            source.instant("topk(1, rampsim_requests_total)", START)
        assert len(v3.queries) == 3    # a refused query is not retried


def test_malformed_buildinfo_is_unavailable(reference_plan):
    with FakePrometheus(failures=[(200, '{"status":"success","data":{"branch":"main"}}')]) as fake:
        with pytest.raises(SourceUnavailable, match="no version"):
            PrometheusSource(fake.url, reference_plan.layout).version()


def test_query_command_forwards_and_evaluates_locally_with_the_servers_version(healthy_telemetry, capsys):
    series = FileSource.from_telemetry(healthy_telemetry.head(40), START).series
    query = 'sum(count_over_time(rampsim_requests_total{arm="canary",segment=~"A|B"}[1m]))'
    at = "2025-03-01T00:05:00Z"    # on the grid: 2.x and 3.x ranges differ there
    with Prometheus3(series, version="3.5.0") as v3:
        assert main(["query", query, "--prometheus", v3.url, "--time", at]) == 0
        forwarded = json.loads(capsys.readouterr().out)
        assert main(["query", query, "--prometheus", v3.url, "--time", at, "--local"]) == 0
        local = json.loads(capsys.readouterr().out)
        assert main(["query", query, "--prometheus", v3.url, "--time", at, "--local", "--promql", "2"]) == 0
        local_2x = json.loads(capsys.readouterr().out)
        assert main(["query", "topk(1, x)", "--prometheus", v3.url, "--time", at]) == 2
        assert "refused the query" in capsys.readouterr().err
    assert forwarded == local != local_2x
    assert local_2x["result"][0]["value"][1] == "10"    # 2 segments, 5 samples in [t-1m, t]
    assert local["result"][0]["value"][1] == "8"        # 4 in (t-1m, t]


@pytest.mark.parametrize("modifier", ["anchored", "smoothed"])
def test_local_evaluation_reads_the_samples_around_a_modified_range(healthy_telemetry, capsys, modifier):
    """``anchored`` needs the last sample before the range (up to a lookback earlier), ``smoothed`` the first after
    it too: ``--local`` fetches them, so its answer is the server's, off the scrape grid."""
    series = FileSource.from_telemetry(healthy_telemetry.head(40), START).series
    query = f'sum(increase(rampsim_requests_total{{arm="canary"}}[1m] {modifier}))'
    at = "2025-03-01T00:05:07Z"
    with Prometheus3(series, version="3.7.0") as v3:
        assert main(["query", query, "--prometheus", v3.url, "--time", at]) == 0
        forwarded = json.loads(capsys.readouterr().out)
        assert main(["query", query, "--prometheus", v3.url, "--time", at, "--local"]) == 0
        local = json.loads(capsys.readouterr().out)
    assert forwarded == local and local["result"]
