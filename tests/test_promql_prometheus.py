"""rampsim's PromQL evaluator against the real Prometheus 2.42 on simulated series named as exporters name them.

A simulated ramp of the small validation plan (20 minutes, open loop) with an error burst, a
canary counter reset and a scrape gap is exposed under every exporter profile (several pods per
arm), written as OpenMetrics, backfilled with ``promtool`` and served by ``prometheus`` on
127.0.0.1 (one backfill, one server for the module). Every query shape of the real-gates corpus
(``../shared/real-gates/README.md``: success and error ratios over ``rate``/``irate``, bucket
quantiles, error counts with ``increase``/``delta``, ``or vector(0)``, ``clamp_*``, ``scalar()``,
``* 100``, comparison filters, ``on()``/``group_left``, ``=~``/``!~``, ``by``), rendered with
each profile's labels, is evaluated by rampsim with semantics ``2.42.0`` at times off the scrape
grid and compared with the server's instant-query answer: the same result type, the same label
sets, values equal to a relative 1e-9, the same empty results and NaNs.
"""
from __future__ import annotations

import json
import math
import urllib.parse
import urllib.request
from dataclasses import dataclass

import numpy as np
import pytest

from rampsim.faults import parse_fault
from rampsim.promql import evaluate
from rampsim.promql.exposition import Deployment, expose
from tests.prometheus_server import backfilled_server
from tests.sim_helpers import validation

pytestmark = pytest.mark.prometheus

START = 1740787200.0          # 2025-03-01T00:00:00Z
SEMANTICS = "2.42.0"
DEPLOYMENT = Deployment(service="learn", namespace="prod", pods={"baseline": 3, "canary": 2})
FAULTS = ("error-rate:canary:+1.5%@6m/5m", "tail-latency:canary:5%@9m/4m", "counter-reset:canary@12m",
          "scrape-gap:shared@15m/1m")
# Off the 15 s scrape grid: just after the first samples, inside the error burst, around the reset and
# the gap, at the end.
OFFSETS = (16.5, 31.234, 44.9, 97.001, 391.7, 480.25, 617.5, 722.9, 735.1, 801.123, 905.6, 962.75, 1010.2, 1199.999)


@dataclass(frozen=True)
class Shape:
    """How one profile writes a request counter, its error and success subsets and its latency buckets."""

    requests: str        # the request counter
    canary: str          # matchers selecting the canary arm
    errors: str          # matcher of the error responses
    success: str         # matcher of the successful responses
    buckets: str         # the latency histogram's bucket series
    errors_metric: str = ""   # a separate error counter (rampsim), instead of a matcher


HASH = DEPLOYMENT.template_hash("canary")
SHAPES = {
    "rampsim": Shape("rampsim_requests_total", 'arm="canary"', "", "", "rampsim_request_duration_seconds_bucket",
                     errors_metric="rampsim_request_errors_total"),
    "http": Shape("http_requests_total", f'rollouts_pod_template_hash="{HASH}"', 'code=~"5.."', 'code!~"5.."',
                  "http_request_duration_seconds_bucket"),
    "istio": Shape("istio_requests_total", 'reporter="destination",destination_workload=~"learn-canary"',
                   'response_code=~"5.*"', 'response_code!~"5.*"', "istio_request_duration_milliseconds_bucket"),
    "linkerd": Shape("response_total", 'deployment="learn-canary",direction="inbound"', 'classification="failure"',
                     'classification!="failure"', "response_latency_ms_bucket"),
    "nginx": Shape("nginx_ingress_controller_requests", 'canary!="",ingress="learn"', 'status=~"5.*"',
                   'status!~"[4-5].*"', "nginx_ingress_controller_request_duration_seconds_bucket"),
    "spring": Shape("http_server_requests_seconds_count", f'rollouts_pod_template_hash="{HASH}"', 'status=~"5.."',
                    'outcome="SUCCESS"', "http_server_requests_seconds_bucket"),
    "envoy": Shape("envoy_cluster_upstream_rq", 'pod=~"learn-canary-[0-9a-zA-Z]+(-[0-9a-zA-Z]+)"',
                   'envoy_response_code=~"5.*"', 'envoy_response_code!~"5.*"', "envoy_cluster_upstream_rq_time_bucket"),
}


def queries(profile: str) -> list[str]:
    """The corpus's query shapes in ``profile``'s names."""
    s = SHAPES[profile]
    every = f"{s.requests}{{{s.canary}}}"
    if s.errors_metric:
        errors = f"{s.errors_metric}{{{s.canary}}}"
        good = f"(sum(rate({every}[1m])) - sum(rate({errors}[1m])))"
    else:
        errors = f"{s.requests}{{{s.canary},{s.errors}}}"
        good = f"sum(rate({s.requests}{{{s.canary},{s.success}}}[1m]))"
    return [
        f"{good} / sum(rate({every}[1m]))",                                            # success ratio
        f"{good} / sum(rate({every}[1m])) * 100",                                      # Flagger's percentage
        f"sum(rate({errors}[1m])) / sum(rate({every}[1m]))",                           # error ratio
        f"(sum(rate({errors}[2m])) or vector(0)) / sum(rate({every}[2m]))",            # ... guarded
        f"sum(irate({errors}[1m])) / sum(irate({every}[1m]))",
        f"sum(irate({every}[40s]))",
        f"sum(rate({errors}[5m])) / sum(rate({every}[5m])) > 0.01",                    # comparison filter
        f"sum(rate({errors}[1m])) / sum(rate({every}[1m])) >= bool 0.005",
        f"histogram_quantile(0.95, sum(rate({s.buckets}{{{s.canary}}}[5m])) by (le))",
        f"histogram_quantile(0.99, sum by (le) (rate({s.buckets}{{{s.canary}}}[1m]))) * 1000",
        f"histogram_quantile(0.5, sum(irate({s.buckets}[1m])) by (le, segment))",
        f"sum(increase({errors}[2m]))",                                                # error count
        f"sum(increase({errors}[1m])) or vector(0)",
        f"sum(delta({every}[1m]))",
        f"increase({every}[30s])",                                                     # per pod / segment
        f"clamp_min(sum(rate({errors}[1m])), 0.5)",
        f"clamp_max(sum(rate({every}[1m])) / 100, 1)",
        f"clamp(sum(rate({errors}[1m])) / sum(rate({every}[1m])), 0, 0.01)",
        f"scalar(sum(rate({errors}[1m]))) / scalar(sum(rate({every}[1m])))",
        f"sum by (segment) (rate({errors}[1m])) / on() group_left() sum(rate({every}[1m]))",
        f"sum by (segment) (rate({every}[1m])) / ignoring(segment) group_left sum(rate({every}[1m]))",
        f"max(sum by (segment) (rate({errors}[5m])) / sum by (segment) (rate({every}[5m])))",
        f"avg(rate({every}[1m])) + min(rate({every}[1m])) - count(rate({every}[1m]))",
        f"sum(rate({errors}[1m])) / sum(rate({every}[1m])) unless sum(rate({errors}[1m])) == 0",
    ]


GAUGE_QUERIES = [
    'avg_over_time(rampsim_cpu_utilization{arm="canary"}[5m])',
    'max_over_time(rampsim_memory_utilization[2m])',
    'deriv(rampsim_memory_bytes{arm="canary"}[10m]) * 3600',
    'rampsim_network_utilization > 0.5',
    'sum(increase(rampsim_health_checks_ok_total{arm="canary"}[1m])) / sum(increase(rampsim_health_checks_total'
    '{arm="canary"}[1m]))',
    'abs(round(sum(rate(rampsim_revenue_dollars_total[1m])) * 60, 0.01))',
    'vector(1) and on() (sum(rate(rampsim_request_errors_total[1m])) > 0)',
]


@pytest.fixture(scope="module")
def run():
    plan = validation()
    from rampsim.sim import simulate
    return simulate(plan, [parse_fault(f) for f in FAULTS], seed=7, engine_factory=None)


@pytest.fixture(scope="module")
def expositions(run):
    return {profile: expose(run.telemetry, profile, start=START, deployment=DEPLOYMENT, others=profile == "rampsim")
            for profile in SHAPES}


@pytest.fixture(scope="module")
def stores(expositions):
    return {profile: exposition.store() for profile, exposition in expositions.items()}


@pytest.fixture(scope="module")
def server(expositions, tmp_path_factory):
    work = tmp_path_factory.mktemp("prometheus-promql")
    path = work / "profiles.om"
    with path.open("w") as handle:
        for exposition in expositions.values():   # one file: every family once, then one # EOF
            text = _without_eof(exposition)
            handle.write(text)
        handle.write("# EOF\n")
    with backfilled_server([path], work) as running:
        yield running


def _without_eof(exposition) -> str:
    import io
    buffer = io.StringIO()
    exposition.write_openmetrics(buffer)
    text = buffer.getvalue()
    assert text.endswith("# EOF\n")
    return text[: -len("# EOF\n")]


def server_answer(url: str, query: str, at: float) -> dict:
    params = urllib.parse.urlencode({"query": query, "time": f"{at:.3f}"})
    with urllib.request.urlopen(f"{url}/api/v1/query?{params}", timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


def _value(text: str) -> float:
    return float(text)


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b)) or abs(a - b) <= 1e-300


def assert_same_answer(ours: dict, theirs: dict, context: str) -> None:
    assert ours["resultType"] == theirs["resultType"], context
    if ours["resultType"] == "scalar":
        assert _same(_value(ours["result"][1]), _value(theirs["result"][1])), f"{context}: {ours} != {theirs}"
        return
    mine = {tuple(sorted(s["metric"].items())): _value(s["value"][1]) for s in ours["result"]}
    real = {tuple(sorted(s["metric"].items())): _value(s["value"][1]) for s in theirs["result"]}
    assert set(mine) == set(real), \
        f"{context}: label sets differ:\n  rampsim {sorted(mine)}\n  prometheus {sorted(real)}"
    for labels, value in real.items():
        assert _same(mine[labels], value), f"{context}: {dict(labels)}: rampsim {mine[labels]!r}, prometheus {value!r}"


@pytest.mark.parametrize("profile", list(SHAPES))
def test_corpus_query_shapes_equal_prometheus_off_the_grid(profile, stores, server):
    checked, empty, nan, values = 0, 0, 0, 0
    for query in queries(profile):
        for offset in OFFSETS:
            at = START + offset
            ours = evaluate(query, stores[profile], at, semantics=SEMANTICS).to_api_json()
            theirs = server_answer(server.url, query, at)
            assert_same_answer(ours, theirs, f"{profile} at +{offset}s: {query}")
            checked += 1
            empty += ours["resultType"] == "vector" and not ours["result"]
            values += len(ours["result"]) if ours["resultType"] == "vector" else 1
            nan += any(s["value"][1] == "NaN" for s in ours["result"]) if ours["resultType"] == "vector" else \
                ours["result"][1] == "NaN"
    # the comparison covered empty vectors (series that do not exist yet, filters) and NaN (no traffic, scalar())
    assert checked == len(queries(profile)) * len(OFFSETS)
    assert empty > 0 and nan > 0 and values > checked, (empty, nan, values)


def test_other_families_and_gauges_equal_prometheus(stores, server):
    for query in GAUGE_QUERIES:
        for offset in OFFSETS:
            at = START + offset
            ours = evaluate(query, stores["rampsim"], at, semantics=SEMANTICS).to_api_json()
            assert_same_answer(ours, server_answer(server.url, query, at), f"+{offset}s: {query}")


def test_the_error_series_does_not_exist_before_the_first_error(run, stores, server):
    """On a healthy start the 5xx series is absent: the unguarded error ratio is empty on both, the guarded 0."""
    canary = run.telemetry.layout.arm("canary")
    first_error = int(np.argmax(np.nansum(run.telemetry.errors[:, canary], axis=1) > 0))
    assert first_error > 2, "the run must start without canary errors for this test"
    at = START + run.telemetry.time[first_error - 1] + 0.5
    s = SHAPES["http"]
    bare = f'sum(rate({s.requests}{{{s.canary},{s.errors}}}[1m])) / sum(rate({s.requests}{{{s.canary}}}[1m]))'
    guarded = f'(sum(rate({s.requests}{{{s.canary},{s.errors}}}[1m])) or vector(0)) / ' \
              f'sum(rate({s.requests}{{{s.canary}}}[1m]))'
    for query, expected in ((bare, []), (guarded, ["0"])):
        ours = evaluate(query, stores["http"], at, semantics=SEMANTICS).to_api_json()
        theirs = server_answer(server.url, query, at)
        assert [r["value"][1] for r in ours["result"]] == [r["value"][1] for r in theirs["result"]] == expected


def test_query_command_forwarded_and_local_agree_with_the_server(server, capsys):
    """``rampsim query --prometheus`` prints the server's answer; ``--local`` evaluates the server's raw samples
    with the server's own version (read from its buildinfo) and gives the same answer."""
    from rampsim.cli import main
    from rampsim.prod.source import PrometheusSource
    from rampsim.telemetry import Layout

    assert PrometheusSource(server.url, Layout()).version().startswith("2.42.0")
    for query in (queries("istio")[3], queries("nginx")[8], queries("spring")[19], GAUGE_QUERIES[2]):
        at = f"{START + 617.5:.3f}"
        answers = []
        for extra in ([], ["--local"]):
            assert main(["query", query, "--prometheus", server.url, "--time", at, *extra]) == 0
            answers.append(json.loads(capsys.readouterr().out))
        assert_same_answer(answers[1], answers[0], query)
        assert answers[0]["result"], query
