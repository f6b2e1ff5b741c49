"""``rampsim query``: one PromQL instant query, answered as Prometheus's ``/api/v1/query`` answers it.

Debug a gate's query against recorded, live or simulated data the way ``promtool query
instant`` does against a server. The answer is the ``data`` object of Prometheus's
instant-query API, one line of JSON on stdout (``{"resultType": "vector", "result":
[{"metric": {...}, "value": [time, "value"]}]}``, or a ``scalar``):

* ``--replay FILE``: a recording in the formats ``rampsim gate --replay`` reads
  (OpenMetrics with timestamps, rampsim's per-tick CSV, either gzipped), every series in it,
  evaluated by rampsim with ``--promql`` semantics (default 3). ``--time`` defaults to the
  recording's last sample.
* ``--prometheus URL``: the query is sent to the server's ``/api/v1/query`` and its answer
  printed as is (the server evaluates it, with its own semantics; any PromQL it accepts).
  With ``--local``, rampsim reads the raw samples of the query's selectors from the server
  and evaluates the query itself, with ``--promql`` semantics (default: the server's
  version from ``/api/v1/status/buildinfo``): the same question asked of both evaluators.
  ``--time`` defaults to now.
* ``--plan PLAN``: a simulated run of the plan (closed loop, as ``rampsim rehearse`` plays
  it; ``--seed``, ``--fault``), its telemetry exposed as exporter ``--profile`` names its
  series (``rampsim``: the plan's own ``prometheus:`` names; ``http``, ``istio``,
  ``linkerd``, ``nginx``, ``spring``, ``envoy``: see :mod:`rampsim.promql.exposition`), one pod per
  instance of the plan's service. The run starts at ``--start`` (unix time, default 0), so
  ``--time`` is the time since the ramp began (``90m``, ``5400``); default its end.

Exit codes: 0 answered (an empty vector included), 2 bad arguments or a query rampsim or
the server refuses (outside rampsim's subset, does not parse, fails as Prometheus fails),
3 an invalid plan or naming file, 5 data unavailable (a recording that cannot be read, a
Prometheus that cannot be reached).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from rampsim.cli import EXIT_INVALID_PLAN, EXIT_USAGE, arguments
from rampsim.cli.plan_commands import faulted_scenario, load_plan_and_naming
from rampsim.errors import UsageError
from rampsim.promql import DEFAULT_LOOKBACK, SeriesStore, evaluate
from rampsim.promql.errors import PromQLError
from rampsim.promql.exposition import PROFILES, Deployment, Names, expose
from rampsim.promql.parse import Aggregate, Binary, Call, Node, RangeSelector, Selector, Unary, parse
from rampsim.promql.semantics import Semantics, as_semantics
from rampsim.prod.instants import LATEST, format_instant, parse_instant
from rampsim.prod.naming import Naming, quote
from rampsim.prod.replay import load_recording
from rampsim.prod.source import PrometheusSource, RetryPolicy, bearer_headers
from rampsim.telemetry import Layout
from rampsim.units import UnitError, parse_duration

__all__ = ["register", "run_query", "store_of_recording"]

_EPILOG = """examples:
  rampsim query 'sum(rate(rampsim_request_errors_total{arm="canary"}[1m]))' --replay run.om --time 2025-03-01T01:00:00Z
  rampsim query 'sum(rate(http_requests_total{code=~"5.."}[1m])) or vector(0)' --prometheus http://prometheus:9090
  rampsim query 'histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination",
      destination_workload="app-canary"}[1m])) by (le))' --plan scenarios/ramp-phase-5k-validation.yaml \\
      --profile istio --time 10m --fault 'error-rate:canary:+2%@5m'

exit codes: 0 answered, 2 bad arguments or a refused query, 3 invalid plan or naming file,
5 data unavailable (unreadable recording, unreachable Prometheus)."""


def _semantics(text: str) -> Semantics:
    try:
        return as_semantics(text)
    except PromQLError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _fault(text: str) -> Any:
    from rampsim.faults import FaultError, parse_fault
    try:
        return parse_fault(text)
    except FaultError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "query", help="evaluate one PromQL instant query over a recording, a Prometheus or a simulated run",
        description=arguments.help_text(__doc__ or "").rsplit("\n\nExit codes", 1)[0], epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("expr", metavar="PROMQL", help="the instant query")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--replay", metavar="FILE", type=arguments.recording,
                       help="recorded metrics: OpenMetrics (.om/.txt) or per-tick CSV (.csv), optionally .gz")
    where.add_argument("--prometheus", metavar="URL", type=arguments.prometheus_url,
                       help="Prometheus base URL, e.g. http://prometheus:9090")
    where.add_argument("--plan", metavar="PLAN", help="simulate PLAN and query its series (see --profile)")
    parser.add_argument("--time", metavar="T", help="evaluation time: RFC 3339, unix seconds, 'now' or 'now-30m'; "
                                                    "with --plan, the time since the ramp began (90m, 5400)")
    parser.add_argument("--promql", type=_semantics, metavar="2|3|VERSION",
                        help="the Prometheus semantics rampsim evaluates with: 2, 3 or a version like 2.42.0 "
                             "(default 3; with --prometheus --local, the server's version)")
    parser.add_argument("--lookback-delta", type=arguments.duration(86_400.0), default=None,
                        metavar="DURATION", help="how far an instant selector looks back (default 5m, as Prometheus; "
                                                 "with --prometheus, --local only)")
    parser.add_argument("--local", action="store_true",
                        help="with --prometheus: evaluate with rampsim over the raw samples the server holds")
    simulated = parser.add_argument_group("simulated runs (--plan)")
    simulated.add_argument("--profile", choices=PROFILES, default=None,
                           help="exporter whose names the simulated series take (default rampsim: the plan's own)")
    simulated.add_argument("--seed", type=arguments.seed, default=None, help="random seed (default 0)")
    simulated.add_argument("--fault", action="append", default=[], type=_fault, metavar="SPEC",
                           help="inject a fault (repeatable; syntax as rampsim rehearse)")
    simulated.add_argument("--start", type=arguments.instant, metavar="TIME",
                           help="unix time at which the simulated ramp begins (default 0)")
    simulated.add_argument("--service", default=None, metavar="NAME", help="the service's name (default app)")
    simulated.add_argument("--namespace", default=None, metavar="NAME", help="its namespace (default default)")
    arguments.add_prometheus_options(parser)
    parser.set_defaults(run=run_query)


def run_query(args: argparse.Namespace) -> int:
    problem = _misplaced(args)
    if problem:
        print(f"rampsim query: {problem}", file=sys.stderr)
        return EXIT_USAGE
    lookback = DEFAULT_LOOKBACK if args.lookback_delta is None else args.lookback_delta
    if args.prometheus:
        source = PrometheusSource(args.prometheus, Layout(), Naming(), RetryPolicy(timeout=args.timeout,
                                                                                   attempts=args.attempts),
                                  bearer_headers(args.bearer_token_file))
        at = _instant("now" if args.time is None else args.time)
        if not args.local:
            data = source.instant(args.expr, at)
            _warn(source.warnings)
            _print(data)
            return 0
        semantics = args.promql or as_semantics(source.version())
        store = _store_from_server(source, args.expr, at, lookback)
        _warn(source.warnings)
    elif args.replay:
        parse(args.expr)   # a query rampsim cannot evaluate is refused before the recording is read
        store, last = store_of_recording(args.replay)
        at = _instant(args.time) if args.time is not None else last
        semantics = args.promql or as_semantics(3)
    else:
        parse(args.expr)
        since = _since_start(args.time) if args.time is not None else None
        if since is not None and (parse_instant(args.start) if args.start else 0.0) + since > LATEST:
            raise UsageError(f"--time: {args.time!r} after the ramp's start is past {format_instant(LATEST)}")
        simulated = _simulated(args)
        if isinstance(simulated, int):
            return simulated
        store, start, end = simulated
        at = start + (end if since is None else since)
        semantics = args.promql or as_semantics(3)
    result = evaluate(args.expr, store, at, semantics=semantics, lookback=lookback)
    _print(result.to_api_json())
    return 0


def _misplaced(args: argparse.Namespace) -> str:
    """What is wrong with the combination of options, or ''."""
    if not args.plan:
        given = [name for name, value in (("--profile", args.profile), ("--seed", args.seed),
                                          ("--fault", args.fault), ("--start", args.start),
                                          ("--service", args.service), ("--namespace", args.namespace)) if value]
        if given:
            return f"{', '.join(given)} appl{'ies' if len(given) == 1 else 'y'} to simulated runs (--plan) only"
    if args.naming and not args.plan:
        return "--naming applies to simulated runs (--plan) only: a recording or a server has its own names"
    if args.local and not args.prometheus:
        return "--local applies to --prometheus only"
    if args.prometheus and args.promql and not args.local:
        return ("--promql: the server evaluates a forwarded query with its own semantics; add --local to evaluate "
                "it with rampsim's")
    if args.prometheus and args.lookback_delta is not None and not args.local:
        return ("--lookback-delta: the server evaluates a forwarded query with its own lookback (its "
                "--query.lookback-delta); add --local to evaluate it with rampsim's")
    return ""


def _instant(text: str) -> float:
    try:
        return arguments.instant_seconds(text)
    except UsageError as exc:
        raise UsageError(f"--time: {exc}") from None


def _since_start(text: str) -> float:
    """``--time`` for a simulated run: a duration since the ramp began, or plain seconds."""
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = parse_duration(text)
        except UnitError as exc:
            raise UsageError(f"--time: with --plan, the time since the ramp began (90m, 5400): {exc}") from None
    if not (math.isfinite(seconds) and seconds >= 0):
        raise UsageError(f"--time: with --plan, a time since the ramp began from 0, got {text!r}")
    return seconds


def _print(data: dict[str, Any]) -> None:
    print(json.dumps(data, allow_nan=False))


def _warn(warnings: list[str]) -> None:
    for warning in warnings:
        print(f"rampsim query: warning from Prometheus: {warning}", file=sys.stderr)


def store_of_recording(path: str) -> tuple[SeriesStore, float]:
    """Every series of the recording at ``path`` in a store, and the time of its last sample (unix seconds)."""
    store = SeriesStore()
    last = -math.inf
    for series in load_recording(path):
        if len(series.timestamps_ms):
            store.add_ms(series.labels, series.timestamps_ms, series.values)
            last = max(last, float(series.timestamps_ms[-1]) / 1000.0)
    return store, last


# -- raw samples from a server ----------------------------------------------------------------

def _reads(node: Node) -> list[tuple[Selector, int]]:
    """Every selector of a query with the range it reads (0 for an instant selector)."""
    if isinstance(node, Selector):
        return [(node, 0)]
    if isinstance(node, RangeSelector):
        return [(node.selector, node.range_ms)]
    if isinstance(node, Call):
        return [read for arg in node.args for read in _reads(arg)]
    if isinstance(node, (Aggregate, Unary)):
        return _reads(node.expr)
    if isinstance(node, Binary):
        return _reads(node.lhs) + _reads(node.rhs)
    return []


def _store_from_server(source: PrometheusSource, expr: str, at: float, lookback: float) -> SeriesStore:
    """The raw samples every selector of ``expr`` reads at ``at``, from the server, in a store."""
    store = SeriesStore()
    at_ms, lookback_ms = int(round(at * 1000)), int(round(lookback * 1000))
    for selector, range_ms in _reads(parse(expr)):
        text = "{" + ",".join(f"{m.name}{m.op}{quote(m.value)}" for m in selector.matchers) + "}"
        high = at_ms - selector.offset_ms
        low = high - max(range_ms, lookback_ms) - 1
        if selector.modifier:    # anchored/smoothed: the sample before the range too; smoothed the one after
            low = high - range_ms - lookback_ms - 1
            high += lookback_ms if selector.modifier == "smoothed" else 0
        for series in source.samples(text, low, high):
            store.add_ms(series.labels, series.timestamps_ms, series.values)
    return store


# -- simulated runs ---------------------------------------------------------------------------

def _simulated(args: argparse.Namespace) -> tuple[SeriesStore, float, float] | int:
    """The simulated run's series in a store, its start and its length; or an exit code after reporting."""
    loaded = load_plan_and_naming(args)
    if loaded is None:
        return EXIT_INVALID_PLAN
    plan, naming = loaded
    from rampsim.sim import simulate

    scenario = faulted_scenario("query", args, plan)
    if isinstance(scenario, int):
        return scenario
    run = simulate(plan, seed=args.seed or 0, scenario=scenario)
    start = parse_instant(args.start) if args.start else 0.0
    names = Names(metrics=dict(naming.metrics), arm_label=naming.labels.arm, segment_label=naming.labels.segment,
                  labels=dict(naming.matchers))
    deployment = Deployment(service=args.service or "app", namespace=args.namespace or "default",
                            pods=dict(scenario.config.service.instances))
    exposition = expose(run.telemetry, args.profile or "rampsim", start=start, names=names, deployment=deployment)
    return exposition.store(), start, float(run.telemetry.time[-1]) if len(run.telemetry) else 0.0
