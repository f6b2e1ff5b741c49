"""``rampsim gate``: judge a plan on live or recorded metrics, as a CI/CD step.

Reads raw samples from Prometheus (``--prometheus URL``) or a recording
(``--replay FILE``), feeds them scrape by scrape to the same engine the simulator
uses, prints each event as it comes (``--json`` for JSON lines) and exits with one
of these exit codes, which a pipeline can branch on:

====  =====================================================================
code  meaning
====  =====================================================================
0     continue (no terminal decision yet, latest scrape complete) or advance
1     rollback
2     usage error (bad arguments)
3     invalid plan or naming file
4     hold, or inconclusive (latest scrape incomplete, nothing judged yet)
5     metrics unavailable (Prometheus unreachable, failing or unreadable
      after bounded retries; a recording that cannot be read)
====  =====================================================================

0 means go on (the ramp continues, or the final gate advanced: promote); every
other code means: do not advance.

A plan with an imported gate (an ``argo:`` or ``flagger:`` section, from ``rampsim import``)
is judged the way Argo Rollouts or Flagger would judge it: the gate's own PromQL queries,
sent to Prometheus at the gate's own measurement (or tick) times counted from ``--start``
(when the rollout began), judged with the controller's semantics; every measurement or
tick is printed as it is judged. ``--replay`` answers the queries from a recording of the
gate's series instead (evaluated by rampsim, Prometheus 3.x semantics; ``--start`` is then
required too). Prometheus refusing a query is the controller's failed query (Argo: an Error
measurement; Flagger: a failed check); Prometheus unreachable is exit 5, as above.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Optional, TextIO

from rampsim.cli import EXIT_INVALID_PLAN, EXIT_UNAVAILABLE, EXIT_USAGE, arguments
from rampsim.cli.plan_commands import load_plan_and_naming
from rampsim.errors import UsageError
from rampsim.engine import AlertFired, AlertResolved, CheckpointReport, Decision, Event, event_to_dict
from rampsim.plan import Plan
from rampsim.prod.samples import Notice
from rampsim.prod.instants import format_instant, parse_instant
from rampsim.prod.naming import Naming
from rampsim.prod.openmetrics import OpenMetricsError, write_openmetrics
from rampsim.prod.replay import FileSource
from rampsim.prod.gate_run import GateRun, GateOutcome, Step
from rampsim.prod.source import PrometheusSource, RetryPolicy, bearer_headers
from rampsim.prod.tickcsv import write_tick_csv
from rampsim.units import Kind, format_value

__all__ = ["register", "run_gate", "EXIT_CODES"]

EXIT_CODES = {GateOutcome.CONTINUE: 0, GateOutcome.ADVANCE: 0, GateOutcome.ROLLBACK: 1, GateOutcome.HOLD: 4,
              GateOutcome.INCONCLUSIVE: 4, GateOutcome.UNAVAILABLE: EXIT_UNAVAILABLE}


def register(subparsers: argparse._SubParsersAction) -> None:
    gate = subparsers.add_parser(
        "gate", help="judge a plan on Prometheus or recorded metrics (exit code = decision)",
        description=arguments.help_text(__doc__ or ""), formatter_class=argparse.RawDescriptionHelpFormatter)
    gate.add_argument("plan", help="plan YAML file")
    where = gate.add_mutually_exclusive_group(required=True)
    where.add_argument("--prometheus", metavar="URL", type=arguments.prometheus_url,
                       help="Prometheus base URL, e.g. http://prometheus:9090")
    where.add_argument("--replay", metavar="FILE", type=arguments.recording,
                       help="recorded metrics: OpenMetrics (.om/.txt) or per-tick CSV (.csv)")
    gate.add_argument("--start", metavar="TIME", type=arguments.instant,
                      help="when the ramp began: RFC 3339, unix seconds, 'now' or 'now-30m' "
                           "(required with --prometheus; a recording's first sample otherwise)")
    when = gate.add_mutually_exclusive_group()
    when.add_argument("--at", metavar="TIME", type=arguments.instant,
                      help="judge every scrape up to TIME, then exit (default: now, or the end of a recording)")
    when.add_argument("--follow", action="store_true", help="keep judging scrapes as they arrive until a "
                                                            "terminal decision or the end of the plan")
    gate.add_argument("--json", action="store_true", help="print JSON lines (events, notices, the outcome)")
    arguments.add_prometheus_options(gate)
    gate.add_argument("--settle", type=arguments.seconds(allow_zero=True), default=5.0,
                      help="seconds to wait after a scrape slot closes before judging it (default 5)")
    gate.add_argument("--max-outage", type=arguments.seconds(), default=300.0,
                      help="with --follow: seconds Prometheus may stay unavailable before the gate exits 5")
    gate.add_argument("--record", metavar="FILE", type=arguments.file_name,
                      help="write the scrapes judged to FILE (.csv, else OpenMetrics) for later replay")
    gate.set_defaults(run=run_gate)


def run_gate(args: argparse.Namespace) -> int:
    arguments.refuse_overwriting("--record", args.record, {"--replay": args.replay, "plan": args.plan,
                                                           "--naming": args.naming,
                                                           "--bearer-token-file": args.bearer_token_file})
    loaded = load_plan_and_naming(args)
    if loaded is None:
        return EXIT_INVALID_PLAN
    plan, naming = loaded
    out = Output(sys.stdout, sys.stderr, args.json)
    if args.record and (problem := arguments.unwritable(args.record)):
        out.fail(f"--record {args.record}: {problem}")   # before the run: a 4-hour --follow must not fail at its end
        return EXIT_USAGE
    try:
        run = _gate_run(args, plan, naming, out)
    except OpenMetricsError as exc:
        out.fail(str(exc))
        return EXIT_CODES[GateOutcome.UNAVAILABLE]
    except (UsageError, OSError) as exc:
        out.fail(str(exc))
        return EXIT_USAGE
    if run is None:
        return EXIT_USAGE
    if args.follow:
        for item in run.follow(settle=args.settle, max_outage=args.max_outage):
            out.show(run, item)
    else:
        for step in run.run_until(_at(args, run), time.time() if args.prometheus else None, args.settle):
            out.show(run, step)
    out.flush_notices(run)
    if args.record:
        try:
            _record(run, Path(args.record), naming)
        except OSError as exc:   # the verdict stands: only the recording is lost
            out.fail(f"--record: cannot write {args.record}: {exc.strerror or exc}")
    outcome = run.outcome()
    return out.finish(run, outcome, EXIT_CODES[outcome])


def _gate_run(args: argparse.Namespace, plan: Plan, naming: Naming, out: "Output") -> Optional[GateRun]:
    """The run judging the plan on Prometheus or a recording; an imported Argo, Flagger or Kayenta gate asks its own
    queries (:func:`~rampsim.prod.gate_queries.gate_run_for`)."""
    from rampsim.gates.plan_sections import gate_of
    from rampsim.prod.gate_queries import gate_run_for

    imported = gate_of(plan) is not None
    if imported and args.record:
        out.fail("--record saves the series a rampsim plan reads; an imported gate reads its own queries' answers "
                 "from Prometheus: leave --record out (a recording of the gate's series replays with --replay)")
        return None
    if args.prometheus:
        if not args.start:
            out.fail(f"--start is required with --prometheus (when did the {'rollout' if imported else 'ramp'} "
                     "begin?)")
            return None
        policy = RetryPolicy(timeout=args.timeout, attempts=args.attempts)
        source = PrometheusSource(args.prometheus, plan.layout, naming, policy, bearer_headers(args.bearer_token_file))
        return gate_run_for(plan, source, parse_instant(args.start), naming)
    if args.follow:
        out.fail("--follow needs --prometheus: a recording does not grow")
        return None
    if imported and not args.start:
        out.fail("--start is required for an imported gate (when did the rollout begin?): an exporter's series "
                 "appear at their first request, so a recording's first sample may come later")
        return None
    recording = FileSource.open(args.replay)
    start = parse_instant(args.start) if args.start else recording.first_timestamp
    if start is None:
        out.fail(f"{args.replay}: no samples in the recording")
        return None
    return gate_run_for(plan, recording, start, naming)


def _at(args: argparse.Namespace, run: GateRun) -> float:
    if args.at:
        at = parse_instant(args.at)
        if at < run.grid.start:
            raise UsageError(f"--at {args.at}: before the ramp's start ({format_instant(run.grid.start)}): "
                             "there is no scrape to judge")
        return at
    return time.time() if args.prometheus else run.grid.time_of(run.grid.n_ticks - 1)


def _record(run: GateRun, path: Path, naming: Naming) -> None:
    judged = run.telemetry.head(run.next_tick)
    with path.open("w", encoding="utf-8", newline="") as handle:
        if path.suffix.lower() == ".csv":
            write_tick_csv(judged, handle, run.grid.start, naming)
        else:
            write_openmetrics(judged, handle, run.grid.start, naming)


def _elapsed(seconds: float) -> str:
    hours, rest = divmod(int(round(seconds)), 3600)
    return f"+{hours}:{rest // 60:02d}:{rest % 60:02d}"


class Output:
    """Prints events as they come, human-readable or as JSON lines; notices are coalesced: a notice repeated at
    consecutive scrapes is one line, whatever other notices come between (series ignored at every scrape beside
    scrapes missing a series)."""

    def __init__(self, out: TextIO, err: TextIO, as_json: bool) -> None:
        self.out, self.err, self.as_json = out, err, as_json
        self._pending: dict[tuple[str, str], tuple[int, int, Notice]] = {}   # (kind, message) -> its run

    def show(self, run: GateRun, item: Step | Notice) -> None:
        if isinstance(item, Notice):
            self.notice(run, item, item.tick)
            return
        for notice in item.notices:
            self.notice(run, notice, item.tick)
        for event in item.events:
            self.flush_notices(run)
            self.event(run, event)

    def notice(self, run: GateRun, notice: Notice, tick: int) -> None:
        ended = [key for key, (_, last, _) in self._pending.items() if last < tick - 1]
        if ended:
            self._flush(run, ended)
        key = (notice.kind, notice.message)
        pending = self._pending.get(key)
        if pending and tick == pending[1] + 1:
            self._pending[key] = (pending[0], tick, notice)
            return
        if pending:
            self._flush(run, [key])
        self._pending[key] = (tick, tick, notice)

    def flush_notices(self, run: GateRun) -> None:
        self._flush(run, list(self._pending))

    def _flush(self, run: GateRun, keys: list[tuple[str, str]]) -> None:
        """Print the runs of ``keys``, earliest first."""
        for first, last, notice in sorted((self._pending.pop(key) for key in keys), key=lambda r: (r[0], r[1])):
            self._print_notice(run, first, last, notice)

    def _print_notice(self, run: GateRun, first: int, last: int, notice: Notice) -> None:
        span = (first, last)
        when = [format_instant(run.grid.time_of(t)) for t in span]
        if self.as_json:
            self._line({"event": "Notice", "kind": notice.kind, "message": notice.message,
                        "from": when[0], "to": when[1], "scrapes": last - first + 1})
            return
        interval = run.grid.interval
        elapsed = _elapsed(first * interval) + (f"..{_elapsed(last * interval)}" if last > first else "")
        count = f" ({last - first + 1} scrapes)" if last > first else ""
        print(f"rampsim gate: {elapsed}{count} {notice.kind}: {notice.message}", file=self.err, flush=True)

    def event(self, run: GateRun, event: Event) -> None:
        at = format_instant(run.grid.start + event.time)
        if self.as_json:
            self._line({**event_to_dict(event), "at": at})
            return
        print(f"{at}  {_elapsed(event.time)}  {describe(run.plan, event)}", file=self.out, flush=True)

    def fail(self, message: str) -> None:
        if self.as_json:
            self._line({"event": "Error", "message": message})
        print(f"rampsim gate: {message}", file=self.err, flush=True)

    def finish(self, run: GateRun, outcome: GateOutcome, code: int) -> int:
        judged = run.next_tick - 1
        until = format_instant(run.grid.time_of(judged)) if judged >= 0 else None
        if self.as_json:
            self._line({"event": "Outcome", "outcome": outcome.value, "exit_code": code, "scrapes_judged":
                        judged + 1, "judged_until": until, "problem": run.problem or None})
        else:
            detail = f"; {run.problem}" if run.problem else ""
            scope = f"{judged + 1} scrape(s) judged, up to {until}" if until else "no scrape judged yet"
            print(f"outcome: {outcome.value.upper()} (exit {code}); {scope}{detail}", file=self.out, flush=True)
        return code

    def _line(self, data: dict) -> None:
        print(json.dumps(data, allow_nan=False, default=str), file=self.out, flush=True)


def describe(plan: Plan, event: Event) -> str:
    """One event in words (a checkpoint report over several lines)."""
    if isinstance(event, Decision):
        return (f"DECISION {event.kind.value.upper()} -> canary {format_value(event.weight, Kind.RATIO)}: "
                f"{event.reason}")
    if isinstance(event, AlertFired):
        rule = plan.rules.get(event.rule)
        kind = rule.kind if rule is not None else Kind.NUMBER
        return (f"ALERT {event.rule} ({event.severity} -> {event.action}): {format_value(event.value, kind)} "
                f"vs {format_value(event.threshold, kind)}, breaching since {_elapsed(event.breach_start)}")
    if isinstance(event, AlertResolved):
        return f"RESOLVED {event.rule}"
    if isinstance(event, CheckpointReport):
        lines = [f"CHECKPOINT {event.checkpoint} {event.status.value}: {event.title}"]
        for result in event.results:
            kind = Kind(result.unit)
            if result.op:
                lines.append(f"      {result.status.value:<12} {result.name}: {format_value(result.value, kind)} "
                             f"(needs {result.op} {format_value(result.threshold, kind)})")
            else:  # an imported gate's measurement (its condition) or Flagger check (its message)
                shown = "no value" if result.value is None else format_value(result.value, kind)
                lines.append(f"      {result.status.value:<12} {result.name}: {shown} ({result.description})")
        lines += [f"      note: {note}" for note in event.notes]
        lines += [f"      [ ] manual: {item}" for item in event.manual]
        return "\n".join(lines)
    return str(event)
