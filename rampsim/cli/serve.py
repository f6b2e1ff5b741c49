"""``rampsim serve``: the gate as a Flagger webhook (see :mod:`rampsim.prod.webhook`).

Binds to 127.0.0.1 unless ``--host`` says otherwise (in a cluster: ``--host 0.0.0.0``
behind a ClusterIP service).
"""
from __future__ import annotations

import argparse
import sys

from rampsim.errors import UsageError
from rampsim.cli.plan_commands import EXIT_INVALID_PLAN, EXIT_USAGE
from rampsim.cli.plan_commands import load_plan_and_naming
from rampsim.prod.grid import parse_instant
from rampsim.prod.source import PrometheusSource, RetryPolicy, bearer_headers
from rampsim.prod.webhook import WebhookGate, serve_webhook

__all__ = ["register", "run_serve"]


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser("serve", help="answer Flagger webhooks with the gate's decisions",
                                  description=__doc__)
    serve.add_argument("plan", help="plan YAML file")
    serve.add_argument("--prometheus", metavar="URL", required=True, help="Prometheus base URL")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to bind (default 8080)")
    serve.add_argument("--start", metavar="TIME", help="ramp start for canaries without a pre-rollout call")
    serve.add_argument("--naming", metavar="FILE", help="YAML naming; overrides the plan's prometheus: section")
    serve.add_argument("--timeout", type=float, default=5.0, help="seconds per Prometheus request (default 5)")
    serve.add_argument("--attempts", type=int, default=3, help="tries per request (default 3)")
    serve.add_argument("--settle", type=float, default=5.0, help="seconds after a scrape slot before judging it")
    serve.add_argument("--bearer-token-file", metavar="FILE", help="send 'Authorization: Bearer <file content>'")
    serve.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    loaded = load_plan_and_naming(args)
    if loaded is None:
        return EXIT_INVALID_PLAN
    plan, naming = loaded
    try:
        start = parse_instant(args.start) if args.start else None
        source = PrometheusSource(args.prometheus, plan.layout, naming,
                                  RetryPolicy(timeout=args.timeout, attempts=args.attempts),
                                  bearer_headers(args.bearer_token_file))
        server = serve_webhook(WebhookGate(plan, source, naming, start, settle=args.settle), args.host, args.port)
    except (UsageError, OSError) as exc:
        print(f"rampsim serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    host, port = server.server_address[:2]
    print(f"rampsim serve: Flagger webhooks on http://{host}:{port}/ (pre-rollout, rollout, confirm-promotion)",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
