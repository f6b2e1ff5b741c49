"""``rampsim check``: a CI gate for gate configurations (exit 0 when every bound is met)."""
from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from rampsim.errors import UsageError
from rampsim.cli.plan_commands import EXIT_INTERRUPTED, EXIT_INVALID_PLAN, EXIT_USAGE, load_or_report, report_problems
from rampsim.plan import PlanError
from rampsim.units import Kind, UnitError, format_value, parse

EXIT_EXCEEDED = 1
EXIT_UNDECIDED = 4


def register(subparsers: argparse._SubParsersAction) -> None:
    command = subparsers.add_parser(
        "check", help="check a gate's false-rollback, missed-incident and detection bounds (for CI)",
        description="Run replicates in batches until every bound is met or one is exceeded with confidence. "
                    "Exit 0: all bounds met; 1: a bound exceeded; 4: undecided after --max-replicates; "
                    "2: bad arguments; 3: invalid plan or mix.")
    command.add_argument("plan", help="plan YAML file")
    command.add_argument("--mix", help="scenario mix YAML (default: healthy ramps only)")
    command.add_argument("--max-false-rollback", metavar="RATE", help="e.g. 1%%")
    command.add_argument("--max-missed-incident", metavar="RATE", help="e.g. 5%%")
    command.add_argument("--max-detect", metavar="DURATION", help="bound on the detection delay quantile, e.g. 5m")
    command.add_argument("--detect-quantile", default="90%", help="which quantile --max-detect bounds (90%%)")
    command.add_argument("--confidence", default="95%", help="overall confidence of the verdict (95%%)")
    command.add_argument("--batch", type=int, default=100, help="replicates between looks (100)")
    command.add_argument("--max-replicates", type=int, default=2000, help="stop undecided after this many (2000)")
    command.add_argument("--seed", type=int, default=0)
    command.add_argument("--workers", type=int, help="local worker processes (default: all cores)")
    command.set_defaults(run=run_check)


def run_check(args: argparse.Namespace) -> int:
    from rampsim.experiment.check import EXCEEDED, MET, check
    from rampsim.experiment.mix import load_mix
    from rampsim.experiment.runner import SweepInterrupted

    plan = load_or_report(args.plan)
    if plan is None:
        return EXIT_INVALID_PLAN
    if not (args.max_false_rollback or args.max_missed_incident or args.max_detect):
        print("rampsim check: error: give at least one bound: --max-false-rollback, --max-missed-incident or "
              "--max-detect", file=sys.stderr)
        return EXIT_USAGE
    try:
        bounds = dict(
            max_false_rollback=parse(args.max_false_rollback, Kind.RATIO) if args.max_false_rollback else None,
            max_missed_incident=parse(args.max_missed_incident, Kind.RATIO) if args.max_missed_incident else None,
            max_detect=parse(args.max_detect, Kind.DURATION) if args.max_detect else None,
            detect_quantile=parse(args.detect_quantile, Kind.RATIO),
            confidence=parse(args.confidence, Kind.RATIO),
        )
    except UnitError as exc:
        print(f"rampsim check: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        mix = load_mix(args.mix, plan) if args.mix else None
    except PlanError as exc:
        return report_problems(args.mix, exc.problems)
    console = Console(stderr=True)
    try:
        report = check(plan, mix, batch=args.batch, max_replicates=args.max_replicates, seed=args.seed,
                       workers=args.workers,
                       on_look=lambda r: console.print(f"look {r.looks}: {r.replicates} replicates, {r.verdict}"),
                       **bounds)
    except UsageError as exc:
        print(f"rampsim check: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SweepInterrupted as exc:
        print(f"rampsim check: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    _print(report)
    return {MET: 0, EXCEEDED: EXIT_EXCEEDED}.get(report.verdict, EXIT_UNDECIDED)


def _print(report) -> None:  # a rampsim.experiment.check.CheckReport
    table = Table(title=f"rampsim check: {report.verdict.upper()} after {report.replicates} replicates "
                        f"({report.looks} look(s), {report.confidence:.0%} confidence)")
    for column in ("bound", "limit", "estimate", "interval", "runs", "verdict"):
        table.add_column(column)
    for v in report.verdicts:
        kind = Kind.DURATION if v.name.startswith("detect") else Kind.RATIO
        table.add_row(v.name, format_value(v.limit, kind), format_value(v.estimate, kind),
                      f"[{format_value(v.low, kind)}, {format_value(v.high, kind)}]", str(v.samples), v.verdict)
    Console().print(table)
