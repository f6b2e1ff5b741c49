"""``rampsim serve``: the gate as a Flagger webhook (see :mod:`rampsim.prod.webhook`).

Binds to 127.0.0.1 unless ``--host`` says otherwise (in a cluster: ``--host 0.0.0.0``
behind a ClusterIP service). Every number is checked when the arguments are read
(exit 2 with a message naming the option), before the server starts.
"""
from __future__ import annotations

import argparse
import sys

from rampsim.cli import arguments
from rampsim.cli.plan_commands import EXIT_INVALID_PLAN
from rampsim.cli.plan_commands import load_plan_and_naming
from rampsim.errors import UsageError
from rampsim.prod.instants import parse_instant
from rampsim.prod.source import PrometheusSource, RetryPolicy, bearer_headers
from rampsim.prod.webhook import MAX_CANARIES, WebhookGate, serve_webhook

__all__ = ["register", "run_serve"]


def host(text: str) -> str:
    """An address to bind; an empty one (every interface, by accident) is refused."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty host would listen on every interface: give 127.0.0.1 "
                                         "(this machine only) or 0.0.0.0 (every interface) explicitly")
    return text


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser("serve", help="answer Flagger webhooks with the gate's decisions",
                                  description=__doc__)
    serve.add_argument("plan", help="plan YAML file")
    serve.add_argument("--prometheus", metavar="URL", required=True, help="Prometheus base URL")
    serve.add_argument("--host", type=host, default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=arguments.port, default=8080, help="port to bind (default 8080; 0: any free)")
    serve.add_argument("--start", metavar="TIME", type=arguments.instant,
                       help="ramp start for canaries without a pre-rollout call or metadata.start")
    arguments.add_prometheus_options(serve)
    serve.add_argument("--settle", type=arguments.seconds(allow_zero=True), default=5.0,
                       help="seconds after a scrape slot before judging it (default 5)")
    serve.add_argument("--max-canaries", type=arguments.count(1, 10_000), default=MAX_CANARIES,
                       help=f"canaries remembered at once (default {MAX_CANARIES}); when full, the oldest finished "
                            f"one is forgotten, and a new canary gets 503 if none has finished")
    serve.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    loaded = load_plan_and_naming(args)
    if loaded is None:
        return EXIT_INVALID_PLAN
    plan, naming = loaded
    start = parse_instant(args.start) if args.start else None
    try:
        headers = bearer_headers(args.bearer_token_file)
    except OSError as exc:
        raise UsageError(f"--bearer-token-file: {exc}") from None
    source = PrometheusSource(args.prometheus, plan.layout, naming,
                              RetryPolicy(timeout=args.timeout, attempts=args.attempts), headers)
    gate = WebhookGate(plan, source, naming, start, settle=args.settle, max_canaries=args.max_canaries)
    try:
        server = serve_webhook(gate, args.host, args.port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    address, port = server.server_address[:2]
    print(f"rampsim serve: Flagger webhooks on http://{address!s}:{port}/ (pre-rollout, rollout, confirm-promotion)",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
