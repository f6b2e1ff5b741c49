"""``rampsim rehearse``: play a ramp with chosen faults and follow the runbook as checkpoints come.

Exit codes: 0 the gate did what the ground truth calls for (advanced a healthy
release, or stopped an incident), or the ground truth is an environment incident
the plan reports on its own (``slo.environment_incidents: separate``: a breach the
release did not cause, so neither a stop nor a pass is wrong), whatever the gate did;
1 it did not (a false alarm, a missed incident, or no decision); 2 bad command-line
arguments (an unreadable ``--fault``, an ``--out`` that is a file or cannot be written,
included); 3 an invalid plan file (its ``traffic:`` and ``faults:`` sections included).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from rampsim.cli import EXIT_INVALID_PLAN, arguments
from rampsim.cli.plan_commands import faulted_scenario, load_or_report
from rampsim.faults import CATALOGUE, FaultError, parse_fault

EXIT_AGREES, EXIT_DISAGREES = 0, 1
MAX_SPEED = 1_000_000.0

_EPILOG = """fault syntax: KIND[:TARGET][:MAGNITUDE][@START[/DURATION]][,OPTION=VALUE...]
  e.g. 'error-rate:canary:+1.5%@01:00', 'tail-latency:canary:3%@1h/30m,delay=400ms',
       'crash:canary:40%@2h/10m,shape=flapping,period=2m', 'scrape-gap:shared@1h/5m'
  targets: canary, baseline, shared (both arms), optionally /SEGMENT (canary/C)
  options: shape=step|ramp|flapping, period=, duty=, rise=, delay= (tail-latency)
kinds: """ + ", ".join(CATALOGUE) + """

exit codes: 0 the gate agreed with the ground truth (advanced a healthy release or
stopped an incident), or the truth is an environment incident (a breach the release
did not cause, e.g. a 'shared' fault; slo.environment_incidents: separate), whatever
the gate did; 1 it did not (false alarm, missed incident, no decision), 2 bad
arguments (--fault, --seed, --speed, an unwritable --out), 3 invalid plan file."""


def _fault(text: str):
    try:
        return parse_fault(text)
    except FaultError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None


def _speed(text: str) -> float:
    """A finite acceleration in (0, MAX_SPEED]: 60 plays one simulated minute per second."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number (try 60 for one simulated minute per second)") from None
    if not 0 < value <= MAX_SPEED:  # NaN too
        raise argparse.ArgumentTypeError(f"{text!r} is outside (0, {MAX_SPEED:,.0f}] (try 60 for one simulated "
                                         f"minute per second)")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "rehearse", help="game-day rehearsal: simulate the ramp with faults and follow the runbook",
        description="Simulate PLAN's ramp (closed loop: the gate's decisions move the traffic), with the plan's "
                    "faults and any --fault, then print the checkpoint log, alerts and decisions, the final "
                    "GO/NO-GO and the ground truth, and write report.md and timeline.png into --out.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("plan", help="plan YAML file (with a traffic: section, or the runbook's defaults)")
    parser.add_argument("--fault", action="append", default=[], type=_fault, metavar="SPEC",
                        help="inject a fault (repeatable); see the syntax below")
    parser.add_argument("--seed", type=arguments.seed, default=0, help="random seed (same seed, same run; default 0)")
    parser.add_argument("--fidelity", choices=("fluid", "request"), default="fluid",
                        help="fluid: bulk draws per tick (fast); request: one simpy process per request (slow)")
    parser.add_argument("--out", type=arguments.directory, default=Path("out") / "rehearsal", metavar="DIR",
                        help="directory for report.md and timeline.png (default: out/rehearsal)")
    parser.add_argument("--speed", type=_speed, default=None, metavar="X",
                        help="play in real time accelerated X times with a live dashboard of the plan's rules and "
                             "checkpoints (60: 4 hours in 4 minutes), up to the gate's terminal decision")
    parser.set_defaults(run=run_rehearse)


def run_rehearse(args: argparse.Namespace) -> int:
    plan = load_or_report(args.plan)
    if plan is None:
        return EXIT_INVALID_PLAN
    from rampsim.report import checkpoint_log, go_no_go, markdown_report, timeline, truth_comparison
    from rampsim.experiment.chunks import output_directory, writing
    from rampsim.report.chart import timeline_chart
    from rampsim.sim import simulate
    from rampsim.sim.clock import clock

    scenario = faulted_scenario("rehearse", args, plan)
    if isinstance(scenario, int):
        return scenario
    out = output_directory(args.out)  # before the rehearsal, which may play in real time
    print(f"Rehearsing {plan.name} ({args.plan}), seed {args.seed}, {args.fidelity} fidelity")
    for fault in scenario.faults:
        print(f"  fault: {fault.describe()}")
    print()
    if args.speed:
        from rampsim.report.dashboard import Dashboard
        with Dashboard(plan) as dashboard:
            run = simulate(plan, seed=args.seed, fidelity=args.fidelity, speed=args.speed,
                           observers=[dashboard], scenario=scenario)
        if run.outcome.time is not None and run.outcome.time < plan.duration:
            print(f"Playback stopped at the decision ({clock(run.outcome.time)}); the rest of the ramp was computed "
                  "at full speed.")
        print()
    else:
        run = simulate(plan, seed=args.seed, fidelity=args.fidelity, scenario=scenario)
    print("CHECKPOINT LOG")
    print("\n".join(checkpoint_log(run)))
    print("ALERTS AND DECISIONS")
    print("\n".join(timeline(run)))
    print()
    print("\n".join(go_no_go(run)))
    print()
    print("\n".join(truth_comparison(run)))
    report, chart = markdown_report(run, "timeline.png"), timeline_chart(run)   # both made before either is written
    with writing(out):
        chart.savefig(out / "timeline.png", dpi=90)
        (out / "report.md").write_text(report, encoding="utf-8")
    print()
    print(f"Wrote {out / 'report.md'} and {out / 'timeline.png'}")
    return EXIT_AGREES if run.outcome.agrees or run.outcome.environment else EXIT_DISAGREES
