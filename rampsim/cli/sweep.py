"""``rampsim sweep`` and ``rampsim report``: operating characteristics across a gate grid.

The experiment machinery (pandas, scipy, matplotlib) is imported when a command
runs, so that every other ``rampsim`` command starts quickly.
"""
from __future__ import annotations

import argparse
import re
import sys
from concurrent.futures import Executor
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from rampsim.cli import EXIT_INTERRUPTED, EXIT_INVALID_PLAN, arguments
from rampsim.cli.plan_commands import load_or_report, report_problems
from rampsim.errors import DataUnavailable, UsageError, write_error
from rampsim.plan import PlanError

if TYPE_CHECKING:
    import pandas as pd

    from rampsim.experiment.results import Costs, SweepResult
    from rampsim.plan.schema import Plan

_DASK_CONNECT_TIMEOUT = 5  # seconds to reach a --dask scheduler before giving up (exit 5)


def register(subparsers: argparse._SubParsersAction) -> None:
    command = subparsers.add_parser(
        "sweep", help="false-rollback and missed-incident rates of every gate in a grid",
        description="Simulate REPLICATES ramps of the scenario mix and judge every gate of the grid on each "
                    "(common random numbers). Writes tally.npz (the outcomes counted per gate and scenario), grid.csv, "
                    "sweep.json, summary.csv and the charts to --out, and runs.csv.gz with --keep-runs. "
                    "Exit codes: 0 done; 2 bad arguments (a grid axis, more than 10,000 gates, an --out that is a "
                    "file, unwritable, or holding another sweep without --force); 3 invalid plan or mix; 5 --dask "
                    "scheduler unreachable, or a worker or the scheduler lost mid-sweep; 130 interrupted (after "
                    "either, run the same command again to continue). An option that takes one value, given twice, "
                    "is refused (exit 2); --grid repeats.")
    command.add_argument("plan", help="plan YAML file")
    command.add_argument("--mix", help="scenario mix YAML (default: healthy ramps only)")
    command.add_argument("--grid", action="append", default=[], metavar="PATH=VALUES",
                         help="a plan parameter to vary: 'rules.error_rate_rollback.threshold=0.3%%..1%%:8' or "
                              "'rules.*.sustain=1m,3m' (repeat for a product; at most 10,000 gates)")
    command.add_argument("--replicates", type=arguments.replicates, default=200,
                         help="simulated ramps in all (default 200)")
    command.add_argument("--seed", type=arguments.seed, default=0, help="seed of the whole experiment (default 0)")
    command.add_argument("--workers", type=arguments.workers,
                         help="local worker processes (default: all cores; 1 runs inline)")
    command.add_argument("--dask", metavar="ADDRESS", help="run on a Dask cluster: a scheduler address, or 'local' "
                                                           "for a LocalCluster on this machine")
    command.add_argument("--fidelity", choices=["fluid", "request"], default="fluid")
    command.add_argument("--out", type=arguments.directory,
                         help="results directory (default out/sweep-NAME, NAME the plan's name: for an imported gate, "
                              "the name import gave it; a sweep of another grid, mix or seed there "
                              "replaces the previous one); an interrupted sweep continues from it")
    command.add_argument("--force", action="store_true", help="replace another sweep's chunks in --out (without "
                                                              "it, an --out holding another sweep is refused)")
    command.add_argument("--costs", default="fr=1,mi=10,harm=0", help="cost of a false rollback, a missed "
                                                                       "incident and a harmed request (fr=,mi=,harm=)")
    command.add_argument("--write-best", type=Path, metavar="FILE", help="write the recommended gate as a complete "
                         "plan file (the swept plan with the recommended grid values), and print what changed")
    command.add_argument("--html", action="store_true", help="also write report.html: the table, the "
                         "per-scenario breakdown, the charts and the recommended gate on one self-contained page")
    command.add_argument("--keep-runs", action="store_true", help="also keep every run (one row per gate, scenario "
                         "and replicate) and write them to runs.csv.gz: memory and disk grow with gates x replicates")
    command.add_argument("--no-progress", action="store_true", help="no progress bar")
    command.set_defaults(run=run_sweep)

    report = subparsers.add_parser("report", help="render a saved sweep's table and charts again, without re-running",
                                   description="Print a saved sweep's table, recommendation and per-scenario "
                                               "breakdown again and write summary.csv and the charts, without "
                                               "re-running. Exit codes: 0 done; 2 bad arguments (--costs, an "
                                               "unwritable --out); 5 results missing or damaged (the message names "
                                               "the file); an option given twice is refused (exit 2).")
    report.add_argument("results", type=Path, help="a sweep's results directory")
    report.add_argument("--costs", default=None, help="costs as for sweep (default: the sweep's own)")
    report.add_argument("--out", type=arguments.directory,
                        help="where to write the charts (default: the results directory)")
    report.add_argument("--html", action="store_true", help="also write report.html: the table, the per-scenario "
                        "breakdown, the charts and the recommended gate (against the swept plan, when its file is "
                        "still there) on one self-contained page")
    report.set_defaults(run=run_report)


def _executor(address: Optional[str], workers: Optional[int], stack: ExitStack) -> Optional[Executor]:
    """The executor of ``--dask ADDRESS`` (``None``: the local pool); its client and cluster close with ``stack``."""
    if address is None:
        return None
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UsageError("--dask needs Dask's distributed package: pip install 'rampsim[dask]'") from None

    if address == "local":
        cluster = stack.enter_context(LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True,
                                                   dashboard_address=None))
        client = stack.enter_context(Client(cluster))
    else:
        try:
            client = stack.enter_context(Client(address, timeout=_DASK_CONNECT_TIMEOUT))
        except ValueError as exc:  # distributed's reading of the address
            raise UsageError(f"--dask {address!r}: {exc}") from None
        except OSError as exc:
            raise DataUnavailable(f"--dask {address}: no Dask scheduler reachable ({exc})") from None
    return client.get_executor()


def plain_console(**options: Any) -> Console:
    """A console that prints text as given: what it prints holds the user's scenario names, paths and grid
    values, in which Rich would read ``[/]`` or ``[red]`` as markup (an error, or text that vanishes) and
    ``:x:`` as an emoji. Style goes in :class:`~rich.text.Text` instead."""
    return Console(markup=False, emoji=False, **options)


def default_out(plan_name: str) -> Path:
    """``out/sweep-NAME``, the plan's name made one safe path component (no separators, no ``..``)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", plan_name).strip(".-") or "plan"
    return Path("out") / f"sweep-{slug}"


def run_sweep(args: argparse.Namespace) -> int:
    from rampsim.experiment.mix import load_mix
    from rampsim.experiment.chunks import SWEEP_OUTPUTS, SweepInterrupted, WorkersLost
    from rampsim.experiment.sweep import sweep

    console = Console(stderr=True)
    arguments.refuse_overwriting("--write-best", args.write_best, {"plan": args.plan, "--mix": args.mix})
    arguments.refuse_unwritable("--write-best", args.write_best)
    plan = load_or_report(args.plan)
    if plan is None:
        return EXIT_INVALID_PLAN
    costs = _costs(args.costs)
    try:
        mix = load_mix(args.mix, plan) if args.mix else None
    except PlanError as exc:
        return report_problems(args.mix, exc.problems)
    out = args.out or default_out(plan.name)  # checked by the sweep, after the grid and before any simulation
    progress = Progress(TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("chunks"),
                        TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(), console=console,
                        disable=args.no_progress)
    with ExitStack() as stack:
        try:
            executor = _executor(args.dask, args.workers, stack)
            task = progress.add_task("sweep", total=None)
            stack.callback(_stop_if_started, progress)

            def advance(done: int, total: int) -> None:  # the bar appears with the first chunk, after the checks
                progress.start()
                progress.update(task, completed=done, total=total)

            result = sweep(plan, mix, args.grid, args.replicates, args.seed, fidelity=args.fidelity,
                           executor=executor, workers=args.workers, out=out, on_chunk=advance,
                           replace=args.force or args.out is None, keep_runs=args.keep_runs)
        except PlanError as exc:
            return report_problems(args.plan, exc.problems)
        except SweepInterrupted as exc:
            print(f"rampsim sweep: {exc}; run the same command again to continue from {out}", file=sys.stderr)
            return EXIT_INTERRUPTED
        except WorkersLost as exc:
            print(f"rampsim sweep: {exc}; run the same command again to continue from {out}", file=sys.stderr)
            return exc.exit_code
    result.meta["costs"] = vars(costs)
    for name in SWEEP_OUTPUTS:   # an earlier run's page, or charts of another grid, would pass for this run's
        if name.endswith(".png") or (name == "report.html" and not args.html):
            (out / name).unlink(missing_ok=True)
    result.save(out)
    _print_report(result, costs, out, plan if args.html else None, html=args.html)
    if args.write_best:
        _write_best(result, plan, costs, args.write_best)
    return 0


def _stop_if_started(progress: Progress) -> None:
    if progress.live.is_started:
        progress.stop()


def _write_best(result: "SweepResult", plan: "Plan", costs: "Costs", path: Path) -> None:
    """The recommended gate as a plan file at ``path``, and the grid values that differ from ``plan``'s."""
    import yaml

    from rampsim.experiment.axes import gate_values, own_value_text
    from rampsim.experiment.results import RECOMMENDATION_RULE
    from rampsim.plan.edits import is_json

    row = result.best(costs)
    best = result.best_plan(plan, costs)
    assert best.source is not None and plan.source is not None  # a loaded plan, and with_overrides keeps the document
    body = _edited_plan_text(plan, best)
    kept = body is not None
    if body is None:
        body = yaml.safe_dump(best.source.data, sort_keys=False, allow_unicode=True)
    eol = "\r\n" if body.partition("\n")[0].endswith("\r") else "\n"   # the file's own line endings, kept
    priced = f"fr={costs.false_rollback:g}, mi={costs.missed_incident:g}, harm={costs.harmed_request:g}"
    header = f"# {plan.name}: the gate `rampsim sweep` recommends ({RECOMMENDATION_RULE}),{eol}"
    json_plan = kept and is_json(body)   # a JSON plan edited in place stays JSON: no comment header
    text = body if json_plan else f"{header}# for costs {priced}.{eol}{body}"
    try:
        with path.open("w", encoding="utf-8", newline="") as out:
            out.write(text)
    except OSError as exc:
        raise write_error(path, exc) from None
    console = plain_console()
    if json_plan:
        console.print(f"{path} is JSON, which has no comments: it holds the gate `rampsim sweep` recommends "
                      f"({RECOMMENDATION_RULE}), for costs {priced}")
    if not kept:
        console.print(f"note: {plan.source.filename}'s comments and layout are not kept: the recommendation changes "
                      "more than values the file writes (a key it leaves at its default, a value an imported gate's "
                      "section or an alias holds), or the file changed since the sweep read it")
    console.print(f"recommended gate written to {path}; it differs from {plan.source.filename} in:")
    changed = [p for p in result.parameters if gate_values(best, p) != gate_values(plan, p)]
    for parameter in changed:
        console.print(f"  {parameter}: {own_value_text(plan, parameter)} → {row[parameter]}")
    if not changed:
        console.print("  nothing: the plan's own gate is the recommendation")


def _edited_plan_text(plan: "Plan", best: "Plan") -> Optional[str]:
    """``plan``'s file with ``best``'s values written in place of its own (comments and layout kept); ``None`` when
    they cannot be (:func:`rampsim.plan.edits.with_values`), the file is gone, or no longer holds ``plan``."""
    from rampsim.plan.edits import changed_values, with_values
    from rampsim.plan.source import parse_document

    assert plan.source is not None and best.source is not None
    changes = changed_values(plan.source.data, best.source.data)
    if changes is None:
        return None
    try:
        with open(plan.source.filename, encoding="utf-8-sig", newline="") as source:   # CRLF kept
            text = source.read()
    except (OSError, UnicodeDecodeError):
        return None
    edited = with_values(text, changes)   # read back: exactly the recommended plan's data, or a file changed since
    return edited if edited is not None and parse_document(edited).data == best.source.data else None


def run_report(args: argparse.Namespace) -> int:
    from rampsim.experiment.results import SweepResult
    from rampsim.experiment.chunks import output_directory

    costs = _costs(args.costs) if args.costs is not None else None  # bad arguments (2) before damaged files (5)
    result = SweepResult.load(args.results)
    out = output_directory(args.out or args.results)
    plan = _swept_plan(result) if args.html else None
    _print_report(result, result.costs() if costs is None else costs, out, plan, html=args.html)
    return 0


def _swept_plan(result: "SweepResult") -> "Optional[Plan]":
    """The plan a saved sweep was run on, read again from its file; ``None`` (with a notice) when it is gone,
    invalid, or no longer the plan that was swept (its digest in ``sweep.json`` differs: edited since)."""
    from rampsim.experiment.chunks import plan_digest
    from rampsim.plan import load_plan

    path = str(result.meta.get("plan", ""))
    try:
        plan = load_plan(path)
    except (PlanError, OSError):
        print(f"rampsim: {path or 'the swept plan'}: cannot be read again: the report shows no diff against it",
              file=sys.stderr)
        return None
    digest = result.meta.get("plan_digest")
    if digest is None or plan.source is None or plan_digest(plan.source.data) != digest:
        print(f"rampsim: {path}: not the plan this sweep ran on (edited since, or another file of that name): the "
              "report shows no diff against it", file=sys.stderr)
        return None
    return plan


def _costs(text: str) -> "Costs":
    from rampsim.experiment.results import Costs

    try:
        return Costs.parse(text)
    except UsageError as exc:
        raise UsageError(f"--costs: {exc}") from None


def _print_report(result: "SweepResult", costs: "Costs", out: Path, plan: "Optional[Plan]" = None, *,
                  html: bool = False) -> None:
    import pandas as pd

    from rampsim.experiment.chunks import writing
    from rampsim.experiment.results import RECOMMENDATION_RULE, runs_in_words
    from rampsim.report.tradeoff import gate_label, render
    from rampsim.units import Kind, format_value

    summary = result.summary(costs)
    parameters = result.parameters
    with writing(out):
        charts = render(result.tally, summary, parameters, out, title=f"{Path(str(result.meta.get('plan', ''))).name}: "
                                                                      f"{result.meta.get('replicates')} replicates",
                        costs=costs)
        summary.to_csv(Path(out) / "summary.csv", index=False)
        if html:
            from rampsim.report.html import write_sweep_html

            charts.append(write_sweep_html(result, Path(out) / "report.html", charts=charts, costs=costs, plan=plan))
    console = plain_console()
    meta = result.meta
    environment = int(summary["environment_runs"].iloc[0])
    console.print(Text.assemble((f"{len(summary)} gate(s)", "bold"),
                                f" × {meta.get('replicates')} replicates of mix {meta.get('mix')} (seed "
                                f"{meta.get('seed')}): {runs_in_words(summary.iloc[0])} per gate (ground truth "
                                f"from the plan's SLO)"))
    table = Table(title="Pareto front: no other gate has a false-rollback rate and a missed-incident rate as low or "
                        "lower, one of them lower",
                  box=box.SIMPLE_HEAD, title_justify="left", caption_justify="left", pad_edge=False)
    columns = ["#", "false\nrollback", "missed\nincident", *["env\nstops"] * bool(environment), "detect",
               "harm", "cost"]
    for column in columns:
        table.add_column(column, no_wrap=True, justify="left" if column == "#" else "right")
    front = summary[summary["pareto"] | summary["cost_optimal"]].sort_values(
        ["false_rollback_rate", "missed_incident_rate", "cost_optimal", "cost", "harm_mean"],
        ascending=[True, True, False, True, True])   # the recommended gate stands for its tied rates
    rates = front[["false_rollback_rate", "missed_incident_rate"]].fillna(-1.0)   # equal rates tie (NaN with NaN)
    ties = rates.groupby(["false_rollback_rate", "missed_incident_rate"])["false_rollback_rate"].transform("size")
    front = front.assign(ties=ties)[~rates.duplicated().to_numpy()]
    legend = []
    for _, row in front.head(15).iterrows():
        number = f"{int(row['gate'])}{' ★' if row['cost_optimal'] else ''}"
        tied = f" (+{row['ties'] - 1} with the same rates)" if row["ties"] > 1 else ""
        legend.append(f"  {number:>6}  {gate_label(row, parameters)}{tied}")
        table.add_row(number, _rate_text(row, "false_rollback"), _rate_text(row, "missed_incident"),
                      *[f"{int(row['environment_stops'])}/{environment}"] * bool(environment),
                      format_value(None if pd.isna(row["detect_median_s"]) else row["detect_median_s"], Kind.DURATION),
                      "n/a" if pd.isna(row["harm_mean"]) else f"{row['harm_mean']:,.0f}",
                      f"{row['cost']:.3f}")
    console.print(table)
    console.print("gates (# as in summary.csv and the charts; rates with their 95% intervals; detect: median; "
                  "harm: harmed requests per incident run):")
    for line in legend:
        console.print(line, highlight=False)
    if environment:
        console.print("env stops: of the environment incidents (breaches the release did not cause), those the gate "
                      "stopped: neither false rollbacks nor catches, they cost nothing")
    best = summary[summary["cost_optimal"]].iloc[0]
    console.print(f"★ recommended for fr={costs.false_rollback:g}, mi={costs.missed_incident:g}, "
                  f"harm={costs.harmed_request:g}: {gate_label(best, parameters)}")
    console.print(f"  (the rule: {RECOMMENDATION_RULE})")
    _print_breakdown(console, result, int(best["gate"]))
    written = [p.name for p in charts] + ["summary.csv"]
    written += [name for name in ("tally.npz", "runs.csv.gz") if (Path(out) / name).exists()]
    console.print(f"results and charts in {out}: " + ", ".join(written))


def _print_breakdown(console: Console, result: "SweepResult", gate: int) -> None:
    """Where the recommended gate's stops and misses come from, scenario by scenario."""
    breakdown = result.breakdown()
    rows = breakdown[breakdown["gate"] == gate]
    table = Table(title="The recommended gate by scenario (the plan's SLO decides which are incidents; "
                        "environment: a breach the release did not cause)", box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("scenario", "truth", "runs", "stopped", "before the fault", "missed"):
        table.add_column(column)
    for _, row in rows.iterrows():
        truth = "incident" if row["incident"] else "environment" if row["environment"] else "healthy"
        table.add_row(str(row["scenario"]), truth, str(row["runs"]), str(row["stops"]),
                      str(row["early_stops"]) if row["incident"] else "",
                      str(row["missed_incidents"]) if row["incident"] else "")
    console.print(table)
    for note in result.breakdown_notes(gate):
        console.print(f"note: {note}")


def _rate_text(row: "pd.Series", name: str) -> str:
    import pandas as pd

    rate, low, high = row[f"{name}_rate"], row[f"{name}_low"], row[f"{name}_high"]
    if pd.isna(rate):
        return "n/a"
    return f"{rate * 100:.1f}% [{low * 100:.1f}–{high * 100:.1f}]"
