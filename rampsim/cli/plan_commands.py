"""``rampsim validate`` and ``rampsim explain``: check a plan and read it in words."""
from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Optional

from rampsim.cli import EXIT_INVALID_PLAN, EXIT_USAGE
from rampsim.plan import PlanError, load_plan
from rampsim.plan.explain import explain

if TYPE_CHECKING:
    from rampsim.plan.schema import Plan
    from rampsim.sim import Scenario


def register(subparsers: argparse._SubParsersAction) -> None:
    validate = subparsers.add_parser(
        "validate", help="check a plan file (and scenario mixes) and report every error with its line",
        description="Check a plan file, every section included, and with --mix the scenario mixes swept "
                    "against it (their faults must fit the plan); every problem is listed as "
                    "file:line: field: message. Exit codes: 0 valid, 2 bad arguments (a mix given as the "
                    "plan), 3 invalid plan or mix.")
    validate.add_argument("plan", help="plan YAML file")
    validate.add_argument("--mix", action="append", default=[], metavar="MIX",
                          help="a scenario mix YAML to check against the plan (repeatable)")
    validate.set_defaults(run=run_validate)

    explain_cmd = subparsers.add_parser(
        "explain", help="print a plan as a person reads it",
        description="Print a plan as a person reads it: phases, every rule, checkpoint, criterion and window in "
                    "words; with --promql, the PromQL behind each measure. Exit codes: 0 printed; 2 bad arguments; "
                    "3 invalid plan.")
    explain_cmd.add_argument("plan", help="plan YAML file")
    explain_cmd.add_argument("--promql", nargs="?", const="2", choices=["2", "3"], metavar="2|3",
                             help="show the PromQL behind every measure, in the form exact on Prometheus 2.x "
                                  "(the default) or 3.x")
    explain_cmd.set_defaults(run=run_explain)


def report_problems(path: str, problems: list[str]) -> int:
    """Print ``problems`` found in ``path`` to stderr; returns the invalid-plan exit code."""
    print(f"{path}: {len(problems)} problem(s):", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return EXIT_INVALID_PLAN


def faulted_scenario(command: str, args: argparse.Namespace, plan: "Plan") -> "Scenario | int":
    """The scenario of ``plan`` with ``args.fault``, or the exit code after reporting why not: a fault that
    does not fit the plan (2, naming the ``--fault``), a plan section the scenario cannot read (3)."""
    from rampsim.faults import check_faults
    from rampsim.sim import Scenario

    misfits = check_faults(args.fault, plan)
    if misfits:
        for index, message in misfits:
            print(f"rampsim {command}: error: argument --fault (number {index + 1}): {message}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return Scenario.build(plan, args.fault)
    except PlanError as exc:
        return report_problems(args.plan, exc.problems)


def load_or_report(path: str):
    """The plan at ``path``, or ``None`` after printing its errors to stderr."""
    try:
        return load_plan(path)
    except PlanError as exc:
        report_problems(path, exc.problems)
        return None


def load_plan_and_naming(args: argparse.Namespace):
    """The plan at ``args.plan`` and its Prometheus naming (``--naming`` wins), or ``None`` after reporting."""
    plan = load_or_report(args.plan)
    if plan is None:
        return None
    from rampsim.prod.naming import load_naming, naming_for_plan
    try:
        return plan, naming_for_plan(plan, load_naming(args.naming) if args.naming else None)
    except PlanError as exc:
        report_problems(args.naming or args.plan, exc.problems)
        return None


def import_section_owners() -> None:
    """Import the modules that own plan sections: each registers its section in :mod:`rampsim.plan.sections`.

    The plan layer cannot import the layers above it; the command line, above them all, can.
    A module that gains a section is added here.
    """
    import rampsim.faults.syntax  # noqa: F401  faults
    import rampsim.gates.plan_sections  # noqa: F401  argo, flagger, kayenta
    import rampsim.prod.naming  # noqa: F401  prometheus
    import rampsim.sim.config  # noqa: F401  traffic


def run_validate(args: argparse.Namespace) -> int:
    from rampsim.plan.loader import plan_from_document
    from rampsim.plan.source import SourceError, read_document

    try:   # read once: the plan may be a pipe (validate <(...)) or a FIFO
        document = read_document(args.plan, collect_duplicates=True)
        data = document.data
        if isinstance(data, dict) and "scenarios" in data and "phases" not in data:
            print(f"rampsim validate: {args.plan} is a scenario mix; its faults are checked against a plan: "
                  f"rampsim validate PLAN --mix {args.plan}", file=sys.stderr)
            return EXIT_USAGE
        plan = plan_from_document(document)
    except SourceError as exc:
        report_problems(args.plan, [str(exc)])
        return EXIT_INVALID_PLAN
    except PlanError as exc:
        report_problems(args.plan, exc.problems)
        return EXIT_INVALID_PLAN
    problems = whole_plan_problems(plan)
    if problems:
        return report_problems(args.plan, problems)
    gate = plan.imported_gate
    judged = (f"an imported {gate} gate (see 'rampsim explain')" if gate else
              f"{len(plan.rules)} rule(s), {len(plan.checkpoints)} checkpoint(s) and a final gate")
    print(f"{args.plan}: valid plan {plan.name!r}: {len(plan.phases)} phase(s), {judged}, "
          f"{len(plan.slo.objectives)} SLO objective(s)")
    breach = _fault_free_breach(plan)
    if breach:
        print(breach)
    code = 0
    for path in args.mix:
        code = max(code, _validate_mix(path, plan))
    return code


def _fault_free_breach(plan: "Plan") -> str:
    """A note when the plan's simulated service breaches its SLO with no fault (its ``traffic:`` section does not
    model a healthy service), else ``""`` (and without the sim extra installed)."""
    try:
        from rampsim.sim import Scenario
        from rampsim.sim.clock import clock
        from rampsim.sim.truth import without_faults
    except ImportError:
        return ""
    truth = without_faults(Scenario.build(plan))
    if not truth.incident or truth.start is None:
        return ""
    return (f"note: with no fault at all, the simulated service breaches SLO objective {truth.objective!r} from "
            f"{clock(truth.start)}: its traffic: section (base error rates, latency, or instances for the phase "
            f"weights) does not model a healthy service; it counts as an environment incident does "
            f"(slo.environment_incidents: {plan.slo.environment_incidents}), not as a release regression")


def whole_plan_problems(plan: "Plan", build: bool = True) -> list[str]:
    """What a plan that loads may still hold wrong, as ``validate`` reports it: its sections' problems (traffic,
    faults, imported gates), sequential tests that could never reject, then (with ``build``) what building its
    scenario refuses (building the learner population takes seconds and a gigabyte at 20 million learners)."""
    from rampsim.engine.metrics import check_reach
    from rampsim.plan.sections import section_problems

    import_section_owners()
    problems = section_problems(plan)
    try:
        check_reach(plan)
    except PlanError as exc:
        problems += exc.problems
    return problems or (_simulation_problems(plan) if build else [])


def _simulation_problems(plan: "Plan") -> list[str]:
    """What the simulation refuses that no section sees on its own (a service no time scale calibrates with these
    latency buckets): the problems of building the plan's scenario; none without the sim extra installed."""
    try:
        from rampsim.sim import Scenario

        Scenario.build(plan)
    except ImportError:
        return []
    except PlanError as exc:
        return exc.problems
    return []


def _validate_mix(path: str, plan: "Plan") -> int:
    """Check the mix at ``path`` against ``plan``; print its scenarios and which the plan's SLO calls incidents
    (release regressions) or environment incidents (breaches the release did not cause)."""
    from rampsim.experiment.mix import load_mix
    from rampsim.sim import Scenario
    from rampsim.sim.truth import ground_truth

    try:
        mix = load_mix(path, plan)
    except PlanError as exc:
        return report_problems(path, exc.problems)
    print(f"{path}: valid mix {mix.name!r} for this plan: {len(mix.scenarios)} scenario(s); the plan's SLO "
          f"calls these incidents:")
    causes = set()
    for scenario, share in zip(mix.scenarios, mix.shares):
        truth = ground_truth(Scenario.build(plan, list(scenario.faults)))
        causes.add(truth.cause)
        kind = "the service's own breach" if truth.cause == "service" else "environment incident"
        verdict = ("healthy" if not truth.incident else f"incident ({truth.objective})" if truth.cause == "release"
                   else f"{kind} ({truth.objective}; counted as an incident)" if truth.counted
                   else f"{kind} ({truth.objective})")
        print(f"  {scenario.name:<28} {share * 100:5.1f}%  {verdict}")
    if "environment" in causes:
        print("  (environment incident: faults outside the release, on shared infrastructure or the baseline, breach "
              "the SLO; stopping the canary does not fix it)")
    if "service" in causes:
        print("  (the service's own breach: the simulated service breaches the SLO with no fault at all; the plan's "
              "traffic: section does not model a healthy service)")
    return 0


def run_explain(args: argparse.Namespace) -> int:
    plan = load_or_report(args.plan)
    if plan is None:
        return EXIT_INVALID_PLAN
    problems = whole_plan_problems(plan, build=False)
    if problems:   # explained, such a plan would read as one rampsim runs
        return report_problems(args.plan, problems)
    query = None
    if args.promql:
        from rampsim.prod.naming import naming_for_plan
        try:
            naming = naming_for_plan(plan)
        except PlanError as exc:
            return report_problems(args.plan, exc.problems)
        line = int(args.promql)
        query = lambda measure: naming.promql(measure, interval=plan.telemetry.scrape_interval,  # noqa: E731
                                              line=line)
    print(explain(plan, query))
    gate = _imported_gate(plan)
    if gate:
        kind, text = gate
        controller = {"argo": "Argo Rollouts", "flagger": "Flagger", "kayenta": "Kayenta"}[kind]
        print(f"\nImported {controller} gate, judged as {controller} judges it (shown as 'rampsim export {kind}' "
              "writes it back):\n")
        print(text.rstrip("\n"))
    return 0


def _imported_gate(plan: "Plan") -> Optional[tuple[str, str]]:
    """``(kind, the gate in its controller's format)`` of the imported gate ``plan`` carries, if any."""
    kind = plan.imported_gate
    if kind is None:
        return None
    from rampsim.cli.gates import exported

    return kind, exported(plan)
