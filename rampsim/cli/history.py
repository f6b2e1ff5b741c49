"""``rampsim calibrate`` and ``rampsim backtest``: a team's own history, from Prometheus or a recording.

``calibrate`` fits the plan's ``traffic:`` section (load profile, segment error
rates, latency, health checks and every background-variability parameter, each
with its 95% interval) to the stable arm's history and writes it as YAML, with a
fit report (observed against simulated distributions, autocorrelations, bursts).
``backtest`` judges the plan's gate on the history itself, A/A: each ramp-length
window's stable traffic is split between a baseline and a canary at the plan's
weights, and every window the gate stops is an empirical false rollback, printed
next to the simulated false-rollback rate of the same plan under the calibrated
model.

Both print on standard error what reading the history met (series ignored, such as
a histogram without one of the plan's bucket bounds, duplicate samples, stopped
series, damaged samples, the source's warnings) and the fit's notes.

Exit codes: 0 done; 2 usage error (an ``-o`` file or ``--report`` directory that
cannot be written is refused before the history is read; an ``--end`` not after ``--start``);
3 invalid plan or naming file; 5 history unavailable (Prometheus unreachable or failing,
unreadable recording, a range holding none of the recording, too short, no scrape
holding the arm's requests, or samples at another interval than
the plan's scrape interval; for backtest also nothing fitted, or a series the gate
reads missing from every window; windows that miss some scrapes are judged as the gate
judges missing data, and counted; the agreement with the simulation is judged on the
complete windows alone, and not at all when none is).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np

from rampsim.cli import EXIT_INVALID_PLAN, EXIT_UNAVAILABLE, EXIT_USAGE, arguments
from rampsim.cli.plan_commands import load_plan_and_naming
from rampsim.plan import Plan
from rampsim.prod.instants import format_instant, parse_instant
from rampsim.prod.gate_run import Source
from rampsim.prod.history import LONG_GAP, History, read_history
from rampsim.prod.naming import Naming
from rampsim.prod.replay import FileSource
from rampsim.prod.source import PrometheusSource, RetryPolicy, SourceUnavailable, bearer_headers
from rampsim.errors import DataUnavailable, UsageError, write_error
from rampsim.units import Kind, format_value

if TYPE_CHECKING:
    import pandas as pd

    from rampsim.calibration.backtest import Backtest
    from rampsim.calibration.fit import Calibration

__all__ = ["register"]

GAPS_SHOWN = 5   # gaps named on the history: line


def _history_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("plan", help="plan YAML file")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--prometheus", metavar="URL", type=arguments.prometheus_url,
                       help="Prometheus base URL, e.g. http://prometheus:9090")
    where.add_argument("--replay", metavar="FILE", type=arguments.recording,
                       help="recorded metrics: OpenMetrics (.om/.txt) or per-tick CSV")
    parser.add_argument("--start", metavar="TIME", type=arguments.instant,
                        help="start of the history: RFC 3339, unix seconds or 'now-7d' (required with --prometheus; "
                             "a recording's first sample)")
    parser.add_argument("--end", metavar="TIME", type=arguments.instant,
                        help="end of the history (required with --prometheus; a recording's last sample)")
    parser.add_argument("--arm", default="baseline", help="the arm whose series are the stable service "
                                                          "(default baseline)")
    parser.add_argument("--second-arm", metavar="ARM",
                        help="another arm of the history holding a second, disjoint set of the stable service's pods "
                             "(an A/A pair, or a past canary known to be healthy): what the two arms share gives the "
                             "common shares of the variability, which one arm cannot tell")
    arguments.add_prometheus_options(parser)
    parser.add_argument("--seed", type=arguments.seed, default=0, help="seed of the simulations (and of the A/A split)")


def register(subparsers: argparse._SubParsersAction) -> None:
    text = arguments.help_text(__doc__ or "")
    calibrate = subparsers.add_parser(
        "calibrate", help="fit the plan's traffic: section to a service's history",
        description=text, formatter_class=argparse.RawDescriptionHelpFormatter)
    _history_options(calibrate)
    calibrate.add_argument("-o", "--output", metavar="FILE", default="-", type=arguments.output_file,
                           help="where to write the traffic: section (default: standard output)")
    calibrate.add_argument("--report", metavar="DIR", type=arguments.directory,
                           help="write the fit report (fit.md, fit.png) to DIR")
    calibrate.set_defaults(run=run_calibrate)
    backtest = subparsers.add_parser(
        "backtest", help="A/A: the plan's gate on the service's own history, next to the simulated rate",
        description=text, formatter_class=argparse.RawDescriptionHelpFormatter)
    _history_options(backtest)
    backtest.add_argument("--replicates", type=arguments.replicates, default=200,
                          help="simulated healthy ramps under the calibrated model (default 200)")
    backtest.add_argument("--workers", type=arguments.workers, default=1,
                          help="processes for the simulation (default 1)")
    backtest.add_argument("--as-is", action="store_true",
                          help="simulate the plan's own traffic: section instead of calibrating it")
    backtest.set_defaults(run=run_backtest)


def _range_checked(args: argparse.Namespace) -> None:
    """Refuse an ``--end`` that is not after ``--start`` (a usage error naming both)."""
    if args.start and args.end and parse_instant(args.end) <= parse_instant(args.start):
        raise UsageError(f"--end {format_instant(parse_instant(args.end))} is not after --start "
                         f"{format_instant(parse_instant(args.start))}: give a range from --start to a later --end")


def _outside_recording(args: argparse.Namespace, first: float, last: float) -> str:
    """Why ``--start``/``--end`` hold no sample of the recording spanning ``first`` to ``last`` ('' if they do)."""
    start = parse_instant(args.start) if args.start else None
    end = parse_instant(args.end) if args.end else None
    if (start is None or start <= last) and (end is None or end >= first):
        return ""
    asked = " ".join(f"{option} {format_instant(value)}" for option, value in (("--start", start), ("--end", end))
                     if value is not None)
    return (f"{args.replay}: no scrape in the range read ({asked}): the recording spans {format_instant(first)} to "
            f"{format_instant(last)}; check the range (--start, --end)")


def _read(args: argparse.Namespace, plan: Plan, naming: Naming) -> History:
    """The history ``--prometheus`` or ``--replay`` holds in ``--start`` .. ``--end`` (a recording's first and last
    sample when not given), from its first scrape to its last: both are read alike, over the slots their samples
    fall in alone."""
    _range_checked(args)
    source: Source
    if args.prometheus:
        if not (args.start and args.end):
            raise UsageError("--start and --end are required with --prometheus")
        policy = RetryPolicy(timeout=args.timeout, attempts=args.attempts)
        source = PrometheusSource(args.prometheus, plan.layout, naming, policy, bearer_headers(args.bearer_token_file))
        start, end, where = parse_instant(args.start), parse_instant(args.end), source.description
    else:
        recording = source = FileSource.open(args.replay)
        first, last = recording.first_timestamp, recording.last_timestamp
        if first is None or last is None:
            raise SourceUnavailable(f"{args.replay}: no samples in the recording")
        if outside := _outside_recording(args, first, last):
            raise DataUnavailable(outside)
        start = parse_instant(args.start) if args.start else first
        end = parse_instant(args.end) if args.end else last
        where = args.replay
    history = read_history(plan, source, start, end, naming)
    if len(history.telemetry) < 2:
        what = "the range read" if args.start or args.end else "the recording"
        raise DataUnavailable(f"{where}: {what} holds one scrape ({format_instant(history.grid.start)}): a "
                              "history needs two or more, an increment spans two consecutive scrapes")
    return history


def _load(args: argparse.Namespace) -> tuple[Optional[tuple[Plan, Naming, History]], int]:
    loaded = load_plan_and_naming(args)
    if loaded is None:
        return None, EXIT_INVALID_PLAN
    plan, naming = loaded
    for option, arm in (("--arm", args.arm), ("--second-arm", args.second_arm)):
        if arm is not None and arm not in plan.layout.arms:
            print(f"rampsim: {option} {arm!r} is not an arm of the plan ({', '.join(plan.layout.arms)})",
                  file=sys.stderr)
            return None, EXIT_USAGE
    if args.second_arm == args.arm:
        print(f"rampsim: --second-arm must name another arm than --arm {args.arm!r}", file=sys.stderr)
        return None, EXIT_USAGE
    try:
        history = _read(args, plan, naming)
    except DataUnavailable as exc:
        print(f"rampsim: history unavailable: {exc}", file=sys.stderr)
        return None, EXIT_UNAVAILABLE
    arms = [args.arm] + ([args.second_arm] if args.second_arm else [])
    _print_read(plan, history, arms)
    for line in history.summary():
        print(f"note: {line}", file=sys.stderr)
    if problem := _unavailable(args, plan, naming, history):
        print(f"rampsim: history unavailable: {problem}", file=sys.stderr)
        return None, EXIT_UNAVAILABLE
    for arm in arms:
        for line in _absent(plan, naming, history, arm):
            print(f"note: {line}", file=sys.stderr)
    return (plan, naming, history), 0


def _print_read(plan: Plan, history: History, arms: list[str]) -> None:
    """The ``history:`` lines: the scrape slots read, how many hold a sample, and of the ``arms``' requests, the
    samples read as missing, and the gaps without any sample longer than :data:`LONG_GAP` (the first few)."""
    held = "".join(f", {int(_with_requests(plan, history, arm).any(axis=1).sum()):,} with {arm} requests"
                   for arm in arms)
    damaged = f", {history.damaged:,} damaged sample(s) read as missing" if history.damaged else ""
    nan = f", {history.not_a_number:,} NaN sample(s) read as missing" if history.not_a_number else ""
    print(f"history: {len(history.telemetry):,} scrape slots over {history.duration / 3600:.1f} h, "
          f"{history.scraped:,} with samples{held}{damaged}{nan}", file=sys.stderr)
    gaps = history.gaps()
    if gaps:
        grid = history.grid
        shown = "; ".join(f"{format_instant(grid.time_of(first))} to {format_instant(grid.time_of(last))} "
                          f"({format_value((last - first + 1) * grid.interval, Kind.DURATION)})"
                          for first, last in gaps[:GAPS_SHOWN])
        more = f"; and {len(gaps) - GAPS_SHOWN} more" if len(gaps) > GAPS_SHOWN else ""
        print(f"history: {len(gaps)} gap(s) of more than {format_value(LONG_GAP, Kind.DURATION)} without any "
              f"sample (an outage; its slots are missing scrapes): {shown}{more}", file=sys.stderr)


def _with_requests(plan: Plan, history: History, arm: str) -> np.ndarray:
    """``(ticks, segments)``: where the history holds ``arm``'s requests of each segment."""
    return ~np.isnan(history.telemetry.counters[:, plan.layout.channels("requests", plan.layout.arm(arm))])


def _unavailable(args: argparse.Namespace, plan: Plan, naming: Naming, history: History) -> str:
    """Why the history cannot be fitted ('' if it can): an arm, or a segment of an arm, without one scrape of its
    requests (every complete scrape needs them all), or samples at another interval than the plan's."""
    requests, arm_label, segment_label = naming.metrics["requests"], naming.labels.arm, naming.labels.segment
    for option, arm in (("--arm", args.arm), ("--second-arm", args.second_arm)):
        if arm is None:
            continue
        seen: np.ndarray = np.asarray(_with_requests(plan, history, arm).any(axis=0))
        if not seen.any():
            grid = history.grid
            return (f"no scrape from {format_instant(grid.start)} to {format_instant(grid.start + history.duration)} "
                    f"holds the {arm} arm's requests (series {requests}{{{naming.selector({arm_label: arm})}}}): "
                    f"check the range (--start, --end), {option} and {_naming_source(args)}")
        if not seen.all():
            lacking = [segment for segment, held in zip(plan.layout.segments, seen.tolist()) if not held]
            selector = naming.selector({arm_label: arm, segment_label: lacking[0]})
            return (f"no scrape holds the {arm} arm's requests of segment(s) {', '.join(lacking)} (series "
                    f"{requests}{{{selector}}}), and a scrape needs every segment to count: list only the history's "
                    f"segments in the plan's telemetry.segments, or check {_naming_source(args)}")
    return history.interval_problem()


def _naming_source(args: argparse.Namespace) -> str:
    """Where the naming the history was read with comes from."""
    return f"the naming of --naming {args.naming}" if args.naming else "the plan's prometheus: naming"


FITTED = ("errors", "latency_bucket", "health_checks", "health_checks_ok")   # what the fit reads beside the requests


def _absent(plan: Plan, naming: Naming, history: History, arm: str) -> list[str]:
    """A note for each family the fit reads of which the history holds no sample of ``arm``, naming the series as
    they were asked for (the naming's series names, labels and matchers)."""
    from rampsim.prod.series_map import SeriesMap

    descriptions = SeriesMap(plan.layout, naming).descriptions["counters"]
    notes = []
    for family in FITTED:
        columns = np.ravel(plan.layout.channels(family, plan.layout.arm(arm)))
        if np.isnan(history.telemetry.counters[:, columns]).all():
            more = f" and {len(columns) - 1} more" if len(columns) > 1 else ""
            notes.append(f"no sample of the {arm} arm's {family.replace('_', ' ')} in the history (series "
                         f"{descriptions[int(columns[0])]}{more})")
    return notes


def _output_checked(args: argparse.Namespace) -> None:
    """Refuse, before any work, an ``-o`` file or a ``--report`` directory that cannot be written."""
    from rampsim.experiment.chunks import output_directory

    if args.output != "-":
        arguments.refuse_overwriting("-o", args.output, {"plan": args.plan, "--replay": args.replay,
                                                          "--naming": args.naming})
        arguments.refuse_unwritable("-o", args.output)
    if args.report:
        output_directory(Path(args.report))
        if args.output != "-" and Path(args.output).resolve() in {(Path(args.report) / name).resolve()
                                                                  for name in ("fit.md", "fit.png")}:
            raise UsageError(f"-o {args.output}: the fit report writes that file in --report {args.report}")


def _calibration(args: argparse.Namespace, plan: Plan, history: History) -> "Calibration":
    """The traffic model of the history's ``--arm`` (and ``--second-arm``)."""
    from rampsim.calibration.fit import calibrate

    return calibrate(plan, history.telemetry, arm=args.arm, start=history.grid.start, second_arm=args.second_arm,
                     latency_absent=history.latency_absent())


def _print_notes(notes: list[str]) -> None:
    for note in notes:
        print(f"note: {note}", file=sys.stderr)


def run_calibrate(args: argparse.Namespace) -> int:
    from rampsim.calibration.traffic_yaml import traffic_yaml

    _output_checked(args)
    loaded, code = _load(args)
    if loaded is None:
        return code
    plan, _, history = loaded
    calibration = _calibration(args, plan, history)
    text = traffic_yaml(plan, calibration)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        try:
            Path(args.output).write_text(text)
        except OSError as exc:
            raise write_error(args.output, exc) from None
        print(f"traffic: section written to {args.output}", file=sys.stderr)
    _print_notes(calibration.notes())
    if args.report:
        from rampsim.calibration.comparison import compare
        from rampsim.report.calibration import write_fit_report

        comparison = compare(plan, calibration, history.telemetry, arm=args.arm, seed=args.seed)
        paths = write_fit_report(Path(args.report), calibration, comparison, plan)
        print(f"fit report: {', '.join(str(p) for p in paths)}", file=sys.stderr)
        if comparison.day_to_day.differs:
            print(f"note: {comparison.day_to_day.summary()}", file=sys.stderr)
    return 0


def run_backtest(args: argparse.Namespace) -> int:
    from rampsim.calibration.backtest import backtest
    from rampsim.calibration.fit import with_traffic
    from rampsim.experiment.mix import single_scenario_mix
    from rampsim.experiment.sweep import sweep

    if args.replicates < 1 or args.workers < 1:
        print("rampsim: --replicates and --workers must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    loaded, code = _load(args)
    if loaded is None:
        return code
    plan, naming, history = loaded
    calibration = _calibration(args, plan, history)
    _print_notes(list(calibration.data_problems) if args.as_is else calibration.notes())
    result = backtest(plan, history.telemetry, seed=args.seed, arm=args.arm)
    if why := _not_comparable(args, plan, naming, history, calibration, result):
        print(f"rampsim: history unavailable: {why}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    simulated_plan = plan if args.as_is else with_traffic(plan, calibration)
    simulated = sweep(simulated_plan, single_scenario_mix("healthy"), replicates=args.replicates, seed=args.seed,
                      workers=args.workers)
    _print_backtest(args, plan, naming, history, result, simulated.summary().iloc[0])
    return 0


def _not_comparable(args: argparse.Namespace, plan: Plan, naming: Naming, history: History,
                    calibration: "Calibration", result: "Backtest") -> str:
    """Why the history's windows give no false-rollback rate to set beside the simulated one ('' if they do)."""
    ramp = format_value(plan.duration, Kind.DURATION)
    if calibration.ticks == 0:
        return (f"no two consecutive scrapes of the history hold the {args.arm} arm's requests, so the fit used "
                "nothing of it (see the notes)")
    if not (result.windows or result.unreadable):
        return (f"its {result.empty} whole {ramp} window(s) hold no scrape of the {args.arm} arm's requests"
                if result.empty else
                f"the history spans {format_value(history.duration, Kind.DURATION)}{_read_of_range(args, history)}, "
                f"shorter than one {ramp} ramp window")
    if not result.windows:
        return (f"the gate reads {_named_families(naming, result.lacking)}, of which none of the {result.unreadable} "
                f"{ramp} window(s) holds a sample of the {args.arm} arm: the gate would hold on the missing "
                "measure, which says nothing of its false rollbacks (see the notes)")
    return ""


def _read_of_range(args: argparse.Namespace, history: History) -> str:
    """`` (from .. to ..: all the source holds of --start .. --end)`` when a range was given ('' otherwise): the
    range given is not the stretch read."""
    if not (args.start or args.end):
        return ""
    first, last = history.grid.start, history.grid.start + history.duration
    held = "Prometheus" if args.prometheus else "the recording"
    return (f" (from {format_instant(first)} to {format_instant(last)}: all {held} holds of --start "
            f"{args.start or '(its first sample)'} --end {args.end or '(its last sample)'})")


def _named_families(naming: Naming, families: tuple[str, ...]) -> str:
    """Telemetry families as the service names them: ``latency_bucket (http_request_duration_seconds_bucket)``."""
    return ", ".join(f"{family} ({naming.metrics.get(family, family)})" for family in families)


def _print_backtest(args: argparse.Namespace, plan: Plan, naming: Naming, history: History, result: "Backtest",
                    row: "pd.Series") -> None:
    """The history's false-rollback rate beside the simulated one, what fired and the windows stopped."""
    from rampsim.experiment.results import wilson

    stops, n = result.false_rollbacks, len(result.windows)
    low, high = wilson(np.array([stops]), np.array([n]))
    model = "the plan's own traffic model" if args.as_is else "the model calibrated on this history"
    print(f"A/A backtest of {plan.name} on {n} window{'s' * (n != 1)} of {format_value(plan.duration, Kind.DURATION)} "
          f"(split seed {args.seed}):")
    print(f"  history:    {stops} stopped of {n}: false-rollback rate {stops / n:.1%} "
          f"[{low[0]:.1%}, {high[0]:.1%}]")
    if result.empty:
        print(f"              ({result.empty} window(s) without one scrape of the {args.arm} arm's requests left out)")
    if result.unreadable:
        print(f"              ({result.unreadable} window(s) without one sample of "
              f"{_named_families(naming, result.lacking)}, which the gate reads, left out)")
    gapped = [w for w in result.windows if w.missing]
    whole = result.complete
    whole_stops = sum(w.stopped for w in whole)
    whole_low, whole_high = wilson(np.array([whole_stops]), np.array([max(len(whole), 1)]))
    if gapped:
        over = (f"over the {len(whole)} complete window(s): {whole_stops / len(whole):.1%} "
                f"[{whole_low[0]:.1%}, {whole_high[0]:.1%}]" if whole else "no window is complete")
        print(f"              {len(gapped)} window(s) miss scrapes, {sum(w.stopped for w in gapped)} of them stopped "
              f"(a gate may hold on missing data); {over}")
    if int(row["healthy_runs"]) == 0:
        print(f"  simulation: none of the {args.replicates} simulated ramps under {model} is healthy: its SLO calls "
              "every one an incident, so there is no false-rollback rate to compare (see `rampsim rehearse` of "
              "the calibrated plan)")
        return
    print(f"  simulation: {int(row['false_rollbacks'])} stopped of {int(row['healthy_runs'])} healthy ramps under "
          f"{model}: {row['false_rollback_rate']:.1%} [{row['false_rollback_low']:.1%}, "
          f"{row['false_rollback_high']:.1%}]")
    # The simulated ramps miss no scrape: only the complete windows estimate the same rate (a final gate holding on
    # two hours without data is no false rollback of the model's).
    if not whole:
        print("  no verdict: every window judged misses scrapes, and a gate may hold on missing data, so the "
              "history's rate is not the one the simulated ramps (which miss none) estimate; backtest a range "
              "the history covers whole")
    else:
        overlap = whole_low[0] <= row["false_rollback_high"] and row["false_rollback_low"] <= whole_high[0]
        basis = f" (the history's over its {len(whole)} complete window(s))" if gapped else ""
        print(f"  the intervals{basis} " + ("overlap" if overlap else
                                             "do not overlap: the model and the history disagree"))
    counts = result.rule_counts()
    if counts:
        print("what fired in the history (windows):")
        for name, count in counts.items():
            print(f"  {count:4d}  {name}")
    print("windows stopped:")
    for window in result.windows:
        if window.stopped and window.time is not None:
            print(f"  window from {format_instant(history.grid.start + window.start)}: {window.decision} at "
                  f"{format_value(window.time, Kind.DURATION)} into it "
                  f"({window.source})" + (f", {window.missing} scrape(s) missing" if window.missing else ""))
