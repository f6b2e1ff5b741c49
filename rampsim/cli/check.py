"""``rampsim check``: a CI gate for gate configurations (exit 0 when every bound is met)."""
from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
import sys
from typing import TYPE_CHECKING

from rich import box
from rich.table import Table

from rampsim.cli import arguments
from rampsim.cli.sweep import plain_console
from rampsim.cli import EXIT_INTERRUPTED, EXIT_INVALID_PLAN
from rampsim.cli.plan_commands import load_or_report, report_problems
from rampsim.errors import UsageError
from rampsim.plan import PlanError
from rampsim.units import Kind, format_value

if TYPE_CHECKING:
    from rampsim.experiment.check import CheckReport

EXIT_EXCEEDED = 1
EXIT_UNDECIDED = 4
_MAX_DETECT = 7 * 86_400.0  # a week: a longer detection bound means none


def _bound(text: str) -> float:
    """A rate bound, above 0% and below 100% (:func:`~rampsim.experiment.check.rate_bound`)."""
    from rampsim.experiment.check import rate_bound

    try:
        return rate_bound("bound", arguments.percent(text))
    except UsageError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {str(exc).partition(': ')[2]}") from None


def register(subparsers: argparse._SubParsersAction) -> None:
    command = subparsers.add_parser(
        "check", help="check a gate's false-rollback, missed-incident and detection bounds (for CI)",
        description="Run replicates in batches until every bound is met or one is exceeded with confidence. "
                    "Exit codes: 0 all bounds met; 1 a bound exceeded; 4 undecided after --max-replicates; "
                    "2 bad arguments (an option given twice too: a second bound would replace the first); "
                    "3 invalid plan or mix.")
    command.add_argument("plan", help="plan YAML file")
    command.add_argument("--mix", help="scenario mix YAML (default: healthy ramps only)")
    command.add_argument("--max-false-rollback", type=_bound, metavar="RATE",
                         help="e.g. 1%% (above 0%% and below 100%%)")
    command.add_argument("--max-missed-incident", type=_bound, metavar="RATE",
                         help="e.g. 5%% (above 0%% and below 100%%)")
    command.add_argument("--max-detect", type=arguments.duration(_MAX_DETECT), metavar="DURATION",
                         help="bound on the detection delay quantile, e.g. 5m")
    command.add_argument("--detect-quantile", type=arguments.open_percent, default="90%",
                         help="which quantile --max-detect bounds (90%%)")
    command.add_argument("--confidence", type=arguments.open_percent, default="95%",
                         help="overall confidence of the verdict (95%%)")
    command.add_argument("--batch", type=arguments.replicates, default=100,
                         help="replicates between looks (100)")
    command.add_argument("--max-replicates", type=arguments.replicates, default=2000,
                         help="stop undecided after this many (2000)")
    command.add_argument("--seed", type=arguments.seed, default=0)
    command.add_argument("--workers", type=arguments.workers,
                         help="local worker processes (default: all cores)")
    command.add_argument("--html", type=Path, metavar="FILE",
                         help="also write the verdict, its bounds and their intervals look by look as one "
                              "self-contained HTML page (a CI artifact)")
    command.set_defaults(run=run_check)


def run_check(args: argparse.Namespace) -> int:
    from rampsim.experiment.check import EXCEEDED, MET, check
    from rampsim.experiment.mix import load_mix
    from rampsim.experiment.chunks import SweepInterrupted

    plan = load_or_report(args.plan)
    if plan is None:
        return EXIT_INVALID_PLAN
    if args.max_false_rollback is None and args.max_missed_incident is None and args.max_detect is None:
        raise UsageError("give at least one bound: --max-false-rollback, --max-missed-incident or --max-detect")
    if args.max_replicates < args.batch:
        raise UsageError(f"--max-replicates ({args.max_replicates}) must be at least one --batch ({args.batch})")
    arguments.refuse_overwriting("--html", args.html, {"plan": args.plan, "--mix": args.mix})
    arguments.refuse_unwritable("--html", args.html)   # before minutes of checking
    try:
        mix = load_mix(args.mix, plan) if args.mix else None
    except PlanError as exc:
        return report_problems(args.mix, exc.problems)
    console = plain_console(stderr=True)
    try:
        report = check(plan, mix, max_false_rollback=args.max_false_rollback,
                       max_missed_incident=args.max_missed_incident, max_detect=args.max_detect,
                       detect_quantile=args.detect_quantile, confidence=args.confidence, batch=args.batch,
                       max_replicates=args.max_replicates, seed=args.seed, workers=args.workers,
                       on_look=lambda r: console.print(f"look {r.looks}: {r.replicates} replicates, {r.verdict}"))
    except SweepInterrupted as exc:
        print(f"rampsim check: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED
    _print(report)
    if args.html:
        from rampsim.report.html import write_check_html

        try:
            write_check_html(report, args.html, plan=plan, mix=args.mix, seed=args.seed)
            console.print(f"report written to {args.html}")
        except OSError as exc:   # the verdict stands: its exit code is what a pipeline branches on
            print(f"rampsim check: warning: --html {args.html} not written: {exc.strerror or exc}", file=sys.stderr)
    return {MET: 0, EXCEEDED: EXIT_EXCEEDED}.get(report.verdict, EXIT_UNDECIDED)


def _print(report: "CheckReport") -> None:
    table = Table(title=f"rampsim check: {report.verdict.upper()} after {report.replicates} replicates "
                        f"({report.looks} look(s), {format_value(report.confidence, Kind.RATIO)} confidence)",
                  box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("bound", "limit", "estimate", "interval", "runs", "verdict"):
        table.add_column(column, no_wrap=True)
    for v in report.verdicts:
        kind = v.kind
        table.add_row(v.name, v.limit_text, format_value(v.estimate, kind),
                      f"[{format_value(_end(v.low, -math.inf), kind)}, {format_value(_end(v.high, math.inf), kind)}]",
                      str(v.samples), v.verdict)
    console = plain_console()
    if not console.is_terminal and "COLUMNS" not in os.environ:   # a CI log: Rich would cut the table at 80
        console = plain_console(width=240)                          # columns (the verdict read 'undecid…')
    console.print(table)


def _end(value: float, unbounded: float) -> float:
    """An interval's end, unknown (NaN) read as unbounded: as the HTML report shows it (``∞``)."""
    return unbounded if math.isnan(value) else value
