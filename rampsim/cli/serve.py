"""rampsim serve: the gate as a Flagger webhook server (its logic: rampsim.prod.webhook).

Answer Flagger's webhooks for every canary whose analysis calls them, judging
PLAN on the metrics in Prometheus, each canary (namespace/name) on its own
ramp:

  POST /pre-rollout        the canary's analysis begins: its ramp starts now
                           (or at the payload's metadata.start); 200
  POST /rollout            judge every settled scrape since the start: 200
                           continue or advance, 403 rollback, 409 hold or
                           inconclusive, 503 metrics unavailable (Flagger
                           counts any non-2xx as a failed check and rolls
                           back after the analysis' threshold of them)
  POST /confirm-promotion  200 once the plan's final gate advanced, else 403
                           (Flagger waits instead of promoting)
  GET  /healthz            200 while the server answers: a Kubernetes liveness
                           and readiness probe (it does not query Prometheus)

An answer is a small JSON object: the canary, the outcome and its reason, the
scrapes judged; add ?history=1 to a hook's URL for every event since the ramp's
start. Another method on these paths is 405 (with an Allow header), another
path 404. Each request is one line on stderr: time, client, method, path,
status, canary, outcome and reason (or error), ms.

Binds to 127.0.0.1 unless --host says otherwise (in a cluster: --host 0.0.0.0
behind a ClusterIP service). Every number is checked when the arguments are
read, before the server starts.
"""
from __future__ import annotations

import argparse
import signal
import sys

from rampsim.cli import EXIT_INVALID_PLAN, arguments
from rampsim.cli.plan_commands import load_plan_and_naming
from rampsim.errors import UsageError
from rampsim.prod.gate_queries import gate_run_for
from rampsim.prod.instants import is_relative, parse_instant
from rampsim.prod.source import PrometheusSource, RetryPolicy, bearer_headers
from rampsim.prod.webhook import DEADLINE, IDLE_CANARY, MAX_CANARIES, WebhookGate, serve_webhook

__all__ = ["register", "run_serve"]

_EPILOG = """example:
  rampsim serve plan.yaml --prometheus http://prometheus.monitoring:9090 \\
      --host 0.0.0.0 --port 8080

exit codes: the server runs until it is stopped: 130 on Ctrl-C or SIGTERM
(requests in progress are answered first); 2 bad arguments, an unreadable
--bearer-token-file or an address it cannot listen on; 3 invalid plan or
naming file."""


def host(text: str) -> str:
    """An address to bind; an empty one (every interface, by accident) is refused."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty host would listen on every interface: give 127.0.0.1 "
                                         "(this machine only) or 0.0.0.0 (every interface) explicitly")
    return text


def register(subparsers: argparse._SubParsersAction) -> None:
    serve = subparsers.add_parser("serve", help="answer Flagger webhooks with the gate's decisions",
                                  description=__doc__.split("\n\n", 1)[1], epilog=_EPILOG,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    serve.add_argument("plan", help="plan YAML file")
    serve.add_argument("--prometheus", metavar="URL", type=arguments.prometheus_url,
                       required=True, help="Prometheus base URL")
    serve.add_argument("--host", type=host, default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=arguments.port, default=8080, help="port to bind (default 8080; 0: any free)")
    serve.add_argument("--start", metavar="TIME", type=arguments.instant,
                       help="ramp start for canaries without a pre-rollout call or metadata.start: an absolute "
                            "time (RFC 3339 or unix seconds), the same at every restart of the server")
    arguments.add_prometheus_options(serve)
    serve.add_argument("--settle", type=arguments.seconds(allow_zero=True), default=5.0,
                       help="seconds after a scrape slot before judging it (default 5)")
    serve.add_argument("--max-canaries", type=arguments.count(1, 10_000), default=MAX_CANARIES,
                       help=f"canaries remembered at once (default {MAX_CANARIES}); when full, the oldest one that "
                            f"is decided, past its ramp or not called for {IDLE_CANARY / 60:g} minutes is forgotten, "
                            f"and a new canary gets 503 if there is none")
    serve.add_argument("--deadline", type=arguments.seconds(0.0, 600.0), default=DEADLINE,
                       help=f"seconds a hook judges for before it answers (default {DEADLINE:g}): no new "
                            f"Prometheus read starts after it; scrapes due left unjudged answer 409, and the next "
                            f"call goes on. Keep it, plus one read, under the webhook's timeout in the Canary")
    serve.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    loaded = load_plan_and_naming(args)
    if loaded is None:
        return EXIT_INVALID_PLAN
    plan, naming = loaded
    if args.start and is_relative(args.start):
        raise UsageError(f"--start {args.start!r} is relative: read again at every restart of the server, it would "
                         f"judge every canary it forgot from the restart on (and lose a rollback found before it); "
                         f"give an absolute time (RFC 3339 or unix seconds), or a pre-rollout webhook")
    start = parse_instant(args.start) if args.start else None
    try:
        headers = bearer_headers(args.bearer_token_file)
    except OSError as exc:
        raise UsageError(f"--bearer-token-file: {exc}") from None
    source = PrometheusSource(args.prometheus, plan.layout, naming,
                              RetryPolicy(timeout=args.timeout, attempts=args.attempts), headers)
    if start is not None:   # a ramp from --start must fit the clock (checked now, not at every hook's 400)
        gate_run_for(plan, source, start, naming)
    gate = WebhookGate(plan, source, naming, start, settle=args.settle, max_canaries=args.max_canaries,
                       deadline=args.deadline)
    try:
        server = serve_webhook(gate, args.host, args.port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc}") from None
    address, port = server.server_address[:2]
    print(f"rampsim serve: Flagger webhooks on http://{address!s}:{port}/ (POST /pre-rollout, /rollout, "
          f"/confirm-promotion; GET /healthz); one line per request follows", file=sys.stderr, flush=True)
    previous = signal.signal(signal.SIGTERM, _interrupt)   # Kubernetes stops a pod with SIGTERM: drain as on Ctrl-C
    try:
        server.serve_forever()
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
