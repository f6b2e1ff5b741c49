"""``rampsim import``, ``rampsim lint`` and ``rampsim export``: bring an Argo or Flagger gate in, check it, write it back.

* ``rampsim import argo TEMPLATE.yaml... [--rollout ROLLOUT.yaml] [--arg NAME=VALUE]... [--profile P] -o plan.yaml``
* ``rampsim import flagger CANARY.yaml [--metric-template FILE]... [--mesh PROVIDER] [--canary NAME] -o plan.yaml``
* ``rampsim lint FILE... [--no-simulate] [--seeds N] [--max-duration D]``: the hazards of the real-gates
  README, one line each (exit 1 when any); each hazard that can stop a healthy release also gets its
  measured consequence: the gate, as ``import`` would write it (rampsim's default traffic), rehearses
  ``--seeds`` healthy ramps (default 5, at most ``--max-duration`` of each, default 30m) and the line
  says how many the hazard stopped, and when ("on 5 healthy simulated ramps: aborts 5 of 5 (100%) at
  ~40 s"). ``--no-simulate`` (or a production install, without the simulator) reads the files only.
* ``rampsim export argo|flagger PLAN [-o FILE]``: the plan's gate as the controller's files

What import defaulted or passed over is printed on stderr and written as comments in the plan.
Exit codes: 0 done, 1 lint found hazards, 2 bad arguments, 3 a file refused or invalid.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from rampsim.errors import UsageError
from rampsim.gates.refusals import GateError

EXIT_HAZARDS = 1
EXIT_INVALID = 3


def register(subparsers: argparse._SubParsersAction) -> None:
    importer = subparsers.add_parser(
        "import", help="turn an Argo Rollouts or Flagger gate into a rampsim plan",
        description="Turn an Argo Rollouts analysis (AnalysisTemplates and their Rollout) or a Flagger Canary "
                    "(and its MetricTemplates) into a plan judged with that controller's semantics. Exit codes: "
                    "0 imported; 2 bad arguments; 3 refused (the message names the file, the metric and why).")
    kinds = importer.add_subparsers(dest="kind", metavar="KIND")
    argo = kinds.add_parser("argo", help="AnalysisTemplates (and their Rollout) → a plan judged with Argo's semantics",
                            description="AnalysisTemplates (and the Rollout whose canary steps run them) as a plan "
                                        "judged with Argo Rollouts' semantics. Exit codes: 0 imported; 2 bad "
                                        "arguments; 3 refused (file, metric and why).")
    argo.add_argument("templates", nargs="+", metavar="TEMPLATE.yaml",
                      help="files with AnalysisTemplates or ClusterAnalysisTemplates (a Rollout in them is used)")
    argo.add_argument("--rollout", metavar="ROLLOUT.yaml", help="the Rollout whose canary steps run the analysis")
    argo.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE",
                      help="a value for a template arg (wins over the Rollout's and the template's)")
    argo.add_argument("--profile", choices=_profiles(), help="the exporter whose series the queries read "
                                                             "(default: inferred from the queries)")
    _output_options(argo)
    argo.set_defaults(run=run_import_argo)
    flagger = kinds.add_parser("flagger", help="a Canary (and its MetricTemplates) → a plan judged with Flagger's "
                                               "semantics",
                               description="A Flagger Canary (and the MetricTemplates its metrics refer to) as a plan "
                                           "judged with Flagger's semantics. Exit codes: 0 imported; 2 bad "
                                           "arguments; 3 refused (file, metric and why).")
    flagger.add_argument("canary", metavar="CANARY.yaml", help="the file with the Canary")
    flagger.add_argument("--metric-template", action="append", default=[], metavar="FILE",
                         help="a file with MetricTemplates the Canary's metrics refer to")
    flagger.add_argument("--mesh", choices=_meshes(), help="Flagger's -mesh-provider (default istio)")
    flagger.add_argument("--canary", dest="canary_name", metavar="NAME", help="which Canary, if the file has several")
    flagger.add_argument("--strict", action="store_true",
                         help="refuse a metric whose MetricTemplate is not given (default: simulate Flagger failing it)")
    _output_options(flagger)
    flagger.set_defaults(run=run_import_flagger)
    importer.set_defaults(run=lambda args: _usage(importer))

    lint = subparsers.add_parser("lint", help="report the hazards of Argo and Flagger gate files, and what they do to "
                                              "a healthy simulated ramp",
                                 description="Report the known hazards of Argo Rollouts and Flagger gate files "
                                             "(line, explanation, what the controller does) and, for those that can "
                                             "stop a healthy release, what they did on healthy simulated ramps. "
                                             "Exit codes: 0 clean; 1 hazards found; 2 bad arguments; 3 a file that "
                                             "cannot be read.")
    lint.add_argument("files", nargs="+", metavar="FILE", help="gate files (Rollouts and MetricTemplates help)")
    lint.add_argument("--simulate", action=argparse.BooleanOptionalAction, default=True,
                      help="measure each hazard that can stop a healthy release on a few healthy simulated ramps "
                           "(default; needs the sim extra, else skipped with a note)")
    lint.add_argument("--seeds", type=_seeds, default=5, metavar="N",
                      help="healthy ramps simulated per gate (default 5)")
    lint.add_argument("--max-duration", type=_max_duration, default=1800.0, metavar="DURATION",
                      help="simulate at most this much of each ramp (default 30m)")
    lint.set_defaults(run=run_lint)

    export = subparsers.add_parser("export", help="write a plan's gate as Argo or Flagger files",
                                   description="Write a plan's imported (or swept and recommended) gate back as an "
                                               "Argo AnalysisTemplate or a Flagger analysis. Exit codes: 0 written; "
                                               "2 bad arguments (an unwritable -o); 3 invalid plan, or a plan without "
                                               "that controller's section.")
    export.add_argument("kind", choices=("argo", "flagger"), help="which controller's files")
    export.add_argument("plan", help="a plan with an argo: or flagger: section")
    export.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    export.set_defaults(run=run_export)


def _seeds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of seeds, got {text!r}") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"between 1 and 100 seeds, got {value}")
    return value


def _max_duration(text: str) -> float:
    from rampsim.units import UnitError, parse_duration
    try:
        seconds = parse_duration(text)
    except UnitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not 60 <= seconds <= 86_400 or seconds % 60:
        raise argparse.ArgumentTypeError(f"a whole number of minutes from 1m to 24h, got {text!r}")
    return float(seconds)


def _profiles() -> Sequence[str]:
    from rampsim.gates.profiles import PROFILES
    return PROFILES


def _meshes() -> Sequence[str]:
    from rampsim.gates.flagger_model import MESHES
    return MESHES


def _output_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--output", metavar="PLAN.yaml", help="write the plan here instead of stdout")
    parser.add_argument("--name", help="the plan's name (default: from the gate)")


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _report(command: str, exc: GateError) -> int:
    print(f"rampsim {command}: {len(exc.problems)} problem(s):", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
    return exc.exit_code


def _args(pairs: Sequence[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--arg {pair!r}: expected NAME=VALUE")
        values[name.strip()] = value
    return values


def _write(text: str, output: Optional[str]) -> None:
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text)


def _finish(kind: str, gate: object, name: str, sources: Sequence[str], notes: Sequence[str],
            output: Optional[str]) -> int:
    from rampsim.gates.imported_plan import plan_yaml
    from rampsim.gates.plan_sections import gated_plan_from_text

    text = plan_yaml(kind, gate, name, sources, notes)  # type: ignore[arg-type]
    plan = gated_plan_from_text(text, output or "<plan>")  # the written plan must validate
    _write(text, output)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    where = output or "stdout"
    print(f"{where}: plan {plan.name!r}: {kind} gate, {len(plan.phases)} phase(s) over "
          f"{plan.duration:g} s; complete its slo: and traffic: sections", file=sys.stderr)
    return 0


def run_import_argo(args: argparse.Namespace) -> int:
    from rampsim.gates.argo_import import import_argo

    try:
        imported = import_argo(args.templates, rollout=args.rollout, args=_args(args.arg), profile=args.profile)
    except GateError as exc:
        return _report("import argo", exc)
    name = args.name or next(iter(imported.gate.templates), "argo-gate")
    return _finish("argo", imported.gate, name, imported.sources, imported.notes, args.output)


def run_import_flagger(args: argparse.Namespace) -> int:
    from rampsim.gates.flagger_import import import_flagger

    try:
        imported = import_flagger(args.canary, args.metric_template, mesh=args.mesh, canary=args.canary_name,
                                  strict=args.strict)
    except GateError as exc:
        return _report("import flagger", exc)
    name = args.name or imported.gate.name
    return _finish("flagger", imported.gate, name, imported.sources, imported.notes, args.output)


def run_lint(args: argparse.Namespace) -> int:
    from rampsim.gates.lint import OUTCOME_CODES, LintedGate, lint_gates

    measure = _measurer(args) if args.simulate else None
    findings = 0
    problems: list[str] = []
    for path in args.files:
        linted, stopped = lint_gates(path, [p for p in args.files if p != path])
        problems.extend(stopped)
        for gate in linted:
            rehearsed = None
            if measure is not None and any(f.code in OUTCOME_CODES for f in gate.findings):
                rehearsed = measure(gate)
            for finding in gate.findings:
                print(finding.format(_consequence(finding, rehearsed)), flush=True)
            findings += len(gate.findings)
            if rehearsed is not None:
                print(f"{path}: {gate.kind} gate {gate.name!r}: {rehearsed.summary()} "
                      f"(rampsim's default traffic; no fault)", file=sys.stderr)
    for problem in problems:
        print(f"not linted: {problem}", file=sys.stderr)
    print(f"{findings} hazard(s) in {len(args.files)} file(s)" +
          (f"; {len(problems)} problem(s) stopped linting" if problems else ""), file=sys.stderr)
    if findings:
        return EXIT_HAZARDS
    return EXIT_INVALID if problems and len(problems) >= len(args.files) else 0


def _measurer(args: argparse.Namespace) -> Optional[Callable[[Any], Any]]:
    """Rehearses a linted gate on healthy simulated ramps, or ``None`` (with a note) without the simulator."""
    try:
        from rampsim.experiment.lint_rehearsals import rehearse_healthy
        import simpy  # noqa: F401  the simulator's engine: a production install has none
    except ModuleNotFoundError as exc:
        print(f"note: hazards not simulated ({exc.name!r} is not installed: pip install 'rampsim[sim]'); "
              f"static findings only", file=sys.stderr)
        return None
    return lambda gate: rehearse_healthy(gate, seeds=args.seeds, max_duration=args.max_duration)


def _consequence(finding: Any, rehearsed: Any) -> str:
    if rehearsed is None:
        return ""
    from rampsim.experiment.lint_rehearsals import consequence
    return consequence(finding, rehearsed)


def run_export(args: argparse.Namespace) -> int:
    from rampsim.gates.argo_model import ArgoGate
    from rampsim.gates.export import export_argo, export_flagger
    from rampsim.gates.flagger_model import FlaggerGate
    from rampsim.gates.plan_sections import gate_of, load_gated_plan

    plan = load_gated_plan(args.plan)
    gate = gate_of(plan)
    if args.kind == "argo" and isinstance(gate, ArgoGate):
        text = export_argo(gate)
    elif args.kind == "flagger" and isinstance(gate, FlaggerGate):
        text = export_flagger(gate)
    else:
        has = "an argo: section" if isinstance(gate, ArgoGate) else "a flagger: section" if gate else "no gate section"
        raise UsageError(f"{args.plan}: the plan has {has}; 'rampsim export {args.kind}' needs "
                           f"a{'n argo' if args.kind == 'argo' else ' flagger'}: section (import a gate first)")
    _write(text, args.output)
    return 0
