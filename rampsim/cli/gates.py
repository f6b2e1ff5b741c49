"""``rampsim import``, ``rampsim lint`` and ``rampsim export``: bring an Argo, Flagger or Kayenta gate in, check it,
write it back.

* ``rampsim import argo TEMPLATE.yaml... [--rollout ROLLOUT.yaml] [--arg NAME=VALUE]... [--profile P] -o plan.yaml``
* ``rampsim import flagger CANARY.yaml [--metric-template FILE]... [--mesh PROVIDER] [--canary NAME] -o plan.yaml``
* ``rampsim import kayenta CONFIG.json [--plan BASE.yaml] [--stage STAGE.json] [--lifetime D] [--interval D]
  [--warmup D] [--lookback D] [--step S] [--pass N] [--marginal N] [--canary-scope S] [--baseline-scope S]
  [--location L] [--scope-param KEY=VALUE]... [--profile P] [--weight W] -o plan.yaml``: a Kayenta canary config
  judged on the schedule of Spinnaker's kayentaCanary stage (from ``--stage``, the options, Orca's defaults)
* ``rampsim lint FILE... [--no-simulate] [--seeds N] [--max-duration D]``: the hazards of the real-gates
  README, one line each (exit 1 when any); each hazard that can stop a healthy release also gets its
  measured consequence: the gate, as ``import`` would write it (rampsim's default traffic), rehearses
  ``--seeds`` healthy ramps (default 5, at most ``--max-duration`` of each, default 30m) and the line
  says how many the hazard stopped, and when ("on 5 healthy simulated ramps: aborts 5 of 5 (100%) at
  ~40 s"). ``--no-simulate`` (or a production install, without the simulator) reads the files only.
* ``rampsim export argo|flagger PLAN [-o FILE]``: the plan's gate as the controller's files

What import defaulted or passed over is printed on stderr and written as comments in the plan (lint prints
it too). Exit codes: 0 done, 1 lint found hazards, 2 bad arguments (lint: or a file it cannot read), 3 a file
refused or invalid.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from rampsim.cli import EXIT_INVALID_PLAN, EXIT_USAGE
from rampsim.cli.arguments import refuse_overwriting
from rampsim.errors import UsageError, write_error
from rampsim.gates.refusals import GateError
from rampsim.plan.source import printable
from rampsim.plan import Plan, PlanError
from rampsim.units import Kind, format_value

EXIT_HAZARDS = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    importer = subparsers.add_parser(
        "import", help="turn an Argo Rollouts, Flagger or Kayenta gate into a rampsim plan",
        description="Turn an Argo Rollouts analysis (AnalysisTemplates and their Rollout), a Flagger Canary "
                    "(and its MetricTemplates) or a Kayenta canary config (and its Spinnaker stage) into a plan judged "
                    "with that controller's semantics. Exit codes: 0 imported; 2 bad arguments; 3 refused (the "
                    "message names the file, the metric and why).")
    kinds = importer.add_subparsers(dest="kind", metavar="KIND")
    argo = kinds.add_parser("argo", help="AnalysisTemplates (and their Rollout) → a plan judged with Argo's semantics",
                            description="AnalysisTemplates (and the Rollout whose canary steps run them) as a plan "
                                        "judged with Argo Rollouts' semantics. Exit codes: 0 imported; 2 bad "
                                        "arguments; 3 refused (file, metric and why).")
    argo.add_argument("templates", nargs="+", metavar="TEMPLATE.yaml",
                      help="files with AnalysisTemplates or ClusterAnalysisTemplates (a Rollout in them is used)")
    argo.add_argument("--rollout", metavar="ROLLOUT.yaml", help="the Rollout whose canary steps run the analysis")
    argo.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE",
                      help="a value for a template arg: wins over the template's default and fills an arg the "
                           "Rollout's analysis does not write; a value the Rollout writes wins (a note says so)")
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
    _kayenta_parser(kinds)
    importer.set_defaults(run=lambda args: _usage(importer))

    lint = subparsers.add_parser("lint", help="report the hazards of Argo and Flagger gate files, and what they do to "
                                              "a healthy simulated ramp",
                                 description="Report the known hazards of Argo Rollouts and Flagger gate files "
                                             "(line, explanation, what the controller does) and, for those that can "
                                             "stop a healthy release, what they did on healthy simulated ramps. "
                                             "Exit codes: 0 clean; 1 hazards found; 2 bad arguments, or a file that "
                                             "cannot be read; 3 no hazard found but a file could not be linted "
                                             "(invalid, refused, or holding no gate rampsim can lint, such as an "
                                             "AnalysisTemplate with no Prometheus metric; a file of other kinds given "
                                             "with others is skipped), or no file held a gate.")
    lint.add_argument("files", nargs="+", metavar="FILE", help="gate files (Rollouts and MetricTemplates help)")
    lint.add_argument("--simulate", action=argparse.BooleanOptionalAction, default=True,
                      help="measure each hazard that can stop a healthy release on a few healthy simulated ramps "
                           "(default; needs the sim extra, else skipped with a note)")
    lint.add_argument("--seeds", type=_seeds, default=5, metavar="N",
                      help="healthy ramps simulated per gate (default 5)")
    lint.add_argument("--max-duration", type=_max_duration, default=1800.0, metavar="DURATION",
                      help="simulate at most this much of each ramp (default 30m)")
    lint.set_defaults(run=run_lint)

    export = subparsers.add_parser("export", help="write a plan's gate as Argo, Flagger or Kayenta files",
                                   description="Write a plan's imported (or swept and recommended) gate back as an "
                                               "Argo AnalysisTemplate, a Flagger analysis or a Kayenta canary config "
                                               "(JSON; --stage also writes the Spinnaker kayentaCanary stage). Exit "
                                               "codes: 0 written; 2 bad arguments (an unwritable -o, or a plan without "
                                               "that controller's section); 3 invalid plan.")
    export.add_argument("kind", choices=("argo", "flagger", "kayenta"), help="which controller's files")
    export.add_argument("plan", help="a plan with an argo:, flagger: or kayenta: section")
    export.add_argument("-o", "--output", metavar="FILE", help="write here instead of stdout")
    export.add_argument("--stage", metavar="FILE", help="kayenta: also write the kayentaCanary stage (JSON) here")
    export.add_argument("--onto", metavar="FILE", nargs="+", default=[],
                        help="argo, flagger: your manifests (the Rollout or Canary with everything else); the gate is "
                             "written into the objects it names, their other fields and the other objects kept")
    export.set_defaults(run=run_export)


def _kayenta_parser(kinds: argparse._SubParsersAction) -> None:
    from rampsim.cli.arguments import count, percent

    kayenta = kinds.add_parser(
        "kayenta", help="a Kayenta canary config (and its Spinnaker stage) → a plan judged with Kayenta's semantics",
        description="A Kayenta canary config (NetflixACAJudge, Prometheus metrics) as a plan judged as Spinnaker's "
                    "kayentaCanary stage judges it: an analysis every --interval, each metric's canary and baseline "
                    "values compared by Kayenta's Mann-Whitney judge, the score against --marginal (not above it: "
                    "roll back) and, at the last analysis, --pass (advance, else hold). The schedule comes from "
                    "--stage, then the options, then Orca's defaults. Exit codes: 0 imported; 2 bad arguments; "
                    "3 refused (a provider other than Prometheus, PromQL rampsim cannot evaluate) or invalid.")
    kayenta.add_argument("config", metavar="CONFIG.json", help="the Kayenta canary config")
    kayenta.add_argument("--plan", metavar="BASE.yaml", help="a rampsim plan whose ramp (phases, telemetry, actions, "
                         "SLO, traffic) the stage judges, its rules, checkpoints and final-gate criteria replaced "
                         "(default: one phase at --weight up to the last analysis, rampsim's default SLO and traffic)")
    kayenta.add_argument("--stage", metavar="STAGE.json", help="a Spinnaker pipeline or kayentaCanary stage JSON: "
                                                               "its canaryConfig gives the schedule and scopes")
    kayenta.add_argument("--lifetime", type=_minutes_duration(positive=True), metavar="DURATION",
                         help="the stage's lifetime (default: the stage's, else the base plan's phases less the "
                              "warm-up, else 1h)")
    kayenta.add_argument("--interval", type=_minutes_duration(positive=True), metavar="DURATION",
                         help="time between analyses, whole minutes (canaryAnalysisIntervalMins; default: the "
                              "stage's, else the lifetime: one analysis at the end, as Spinnaker)")
    kayenta.add_argument("--warmup", type=_minutes_duration(positive=False), metavar="DURATION",
                         help="wait before the analysis begins (beginCanaryAnalysisAfterMins; default 0)")
    kayenta.add_argument("--lookback", type=_minutes_duration(positive=False), metavar="DURATION",
                         help="each analysis reads this much before it (lookbackMins; default 0: everything since "
                              "the analysis began)")
    kayenta.add_argument("--step", type=count(1, 3600), metavar="SECONDS",
                         help="seconds between two values of a metric (the scope's step; default 60)")
    kayenta.add_argument("--pass", dest="pass_threshold", type=_score, metavar="SCORE",
                         help="final score to advance (default: the stage's, else the config's, else 75)")
    kayenta.add_argument("--marginal", type=_score, metavar="SCORE",
                         help="a score not above it rolls back (default: the stage's, else the config's, else 50)")
    kayenta.add_argument("--canary-scope", metavar="SCOPE", help="the experiment scope ${scope} stands for in the "
                         "canary's queries (default: the simulated canary's name: 'canary' under the rampsim profile, "
                         "'app-canary' under an exporter's)")
    kayenta.add_argument("--baseline-scope", metavar="SCOPE", help="the control scope (default: 'baseline', or "
                                                                    "'app-stable' under an exporter's profile)")
    kayenta.add_argument("--location", metavar="LOCATION", help="both scopes' location (${location}; a region)")
    kayenta.add_argument("--scope-param", action="append", default=[], metavar="KEY=VALUE",
                         help="an extendedScopeParams entry of the scopes (a template variable, resourceType, "
                              "project...)")
    kayenta.add_argument("--profile", choices=_kayenta_profiles(), help="the exporter whose series the queries read "
                         "(default: inferred from the queries; rampsim's own names otherwise)")
    kayenta.add_argument("--weight", type=percent, default=0.1, metavar="SHARE",
                         help="the canary's share of traffic without --plan (default 10%%)")
    _output_options(kayenta)
    kayenta.set_defaults(run=run_import_kayenta)


def _minutes_duration(positive: bool) -> Callable[[str], float]:
    """A duration of whole minutes (the stage's fields count minutes), above zero when ``positive``."""
    def parse(text: str) -> float:
        from rampsim.units import UnitError, parse_duration
        try:
            seconds = parse_duration(text)
        except UnitError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if seconds % 60 or seconds < 0 or (positive and seconds == 0) or seconds > 86_400 * 7:
            raise argparse.ArgumentTypeError(f"whole minutes{' above zero' if positive else ''}, up to a week, "
                                             f"got {text!r}")
        return float(seconds)

    return parse


def _score(text: str) -> float:
    from rampsim.units import UnitError, plain_number

    try:
        value = float(plain_number(text))   # type: ignore[arg-type]  # text gives a float; ASCII digits only
    except (UnitError, ValueError):
        raise argparse.ArgumentTypeError(f"a score from 0 to 100 in ASCII digits, got {text!r}") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"a score from 0 to 100, got {text!r}")
    return value


def _kayenta_profiles() -> Sequence[str]:
    from rampsim.gates.kayenta_model import KAYENTA_PROFILES
    return KAYENTA_PROFILES


def _seeds(text: str) -> int:
    from rampsim.units import UnitError, count

    try:
        value = count(text)
    except UnitError:
        raise argparse.ArgumentTypeError(f"expected a whole number of seeds in ASCII digits, got {text!r}") from None
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
    return EXIT_USAGE


def _report(command: str, exc: GateError) -> int:
    print(f"rampsim {command}: {len(exc.problems)} problem(s):", file=sys.stderr)
    for problem in exc.problems:
        print(f"  {problem}", file=sys.stderr)
    return exc.exit_code


def _args(pairs: Sequence[str], option: str = "--arg") -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"{option} {pair!r}: expected NAME=VALUE")
        values[name.strip()] = value
    return values


def _write(text: str, output: Optional[str]) -> None:
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise write_error(output, exc) from None
    else:
        sys.stdout.write(text)


def _imported_plan(text: str, output: Optional[str], sources: Sequence[str]) -> Plan:
    """The plan an import writes, validated first as ``rampsim validate`` validates it (every section, and what the
    simulation refuses): a problem names the files imported and the plan's field (the plan itself is not written,
    so its lines would point nowhere)."""
    from rampsim.cli.plan_commands import whole_plan_problems
    from rampsim.gates.plan_sections import gated_plan_from_text

    generated = output or "<plan>"
    try:
        plan = gated_plan_from_text(text, generated)
        problems = whole_plan_problems(plan)
        if problems:
            raise PlanError(problems)
        return plan
    except PlanError as exc:
        prefix = re.compile(re.escape(generated) + r"(:\d+)?: ")
        raise PlanError([f"{', '.join(sources)}: the imported plan (not written) would be invalid: "
                         f"{prefix.sub('', problem, count=1)}" for problem in exc.problems]) from None


def _finish(kind: str, gate: object, name: str, sources: Sequence[str], notes: Sequence[str],
            output: Optional[str]) -> int:
    from rampsim.gates.imported_plan import plan_yaml

    text = plan_yaml(kind, gate, name, sources, notes)  # type: ignore[arg-type]
    plan = _imported_plan(text, output, sources)
    _write(text, output)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    where = output or "stdout"
    print(f"{where}: plan {plan.name!r}: {kind} gate, {len(plan.phases)} phase(s) over "
          f"{format_value(plan.duration, Kind.DURATION)}; complete its slo: and traffic: sections", file=sys.stderr)
    return 0


def run_import_argo(args: argparse.Namespace) -> int:
    from rampsim.gates.argo_import import import_argo

    refuse_overwriting("-o", args.output, {"template": args.templates, "--rollout": args.rollout})
    try:
        imported = import_argo(args.templates, rollout=args.rollout, args=_args(args.arg), profile=args.profile)
    except GateError as exc:
        return _report("import argo", exc)
    name = args.name or next(iter(imported.gate.templates), "argo-gate")
    return _finish("argo", imported.gate, name, imported.sources, imported.notes, args.output)


def run_import_flagger(args: argparse.Namespace) -> int:
    from rampsim.gates.flagger_import import import_flagger

    refuse_overwriting("-o", args.output, {"Canary": args.canary, "--metric-template": args.metric_template})
    try:
        imported = import_flagger(args.canary, args.metric_template, mesh=args.mesh, canary=args.canary_name,
                                  strict=args.strict)
    except GateError as exc:
        return _report("import flagger", exc)
    name = args.name or imported.gate.name
    return _finish("flagger", imported.gate, name, imported.sources, imported.notes, args.output)


def run_import_kayenta(args: argparse.Namespace) -> int:
    from rampsim.gates.imported_plan import kayenta_plan_yaml
    from rampsim.gates.kayenta_import import StageOptions, import_kayenta
    from rampsim.gates.plan_sections import load_gated_plan

    refuse_overwriting("-o", args.output, {"config": args.config, "--stage": args.stage, "--plan": args.plan})
    base = load_gated_plan(args.plan) if args.plan else None
    options = StageOptions(
        lifetime=args.lifetime, interval=args.interval, warmup=args.warmup, lookback=args.lookback, step=args.step,
        pass_threshold=args.pass_threshold, marginal=args.marginal, canary_scope=args.canary_scope,
        baseline_scope=args.baseline_scope, location=args.location,
        scope_params=_args(args.scope_param, "--scope-param"), profile=args.profile,
        default_lifetime=base.duration if base is not None else None)
    try:
        imported = import_kayenta(args.config, args.stage, options)
    except GateError as exc:
        return _report("import kayenta", exc)
    name = args.name or imported.gate.config.name or Path(args.config).stem
    text = kayenta_plan_yaml(imported.section, imported.gate, name, imported.sources, imported.notes, base,
                             args.weight)
    plan = _imported_plan(text, args.output, imported.sources)
    _write(text, args.output)
    for note in imported.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"{args.output or 'stdout'}: plan {plan.name!r}: kayenta gate, {len(plan.phases)} phase(s) over "
          f"{format_value(plan.duration, Kind.DURATION)}"
          + ("" if base is not None else "; complete its slo: and traffic: sections"),
          file=sys.stderr)
    return 0


def run_lint(args: argparse.Namespace) -> int:
    from rampsim.gates.lint import lint_gates

    measure = _measurer(args) if args.simulate else None
    findings = gates = 0
    problems: list[str] = []
    unreadable = [path for path in args.files if not _readable(path)]
    for path in args.files:
        linted, stopped = lint_gates(path, [p for p in args.files if p != path])
        problems.extend(stopped)
        gates += len(linted)
        for gate in linted:
            findings += _print_linted(path, gate, measure, args.files)
    if not gates and not problems and not unreadable:
        problems.append(f"no AnalysisTemplate or Canary to lint in the {len(args.files)} file(s) given")
    for problem in problems:
        print(f"not linted: {problem}", file=sys.stderr)
    print(f"{findings} hazard(s) in {len(args.files)} file(s)" +
          (f"; {len(problems)} problem(s) stopped linting" if problems else ""), file=sys.stderr)
    if unreadable:
        return EXIT_USAGE
    if findings:
        return EXIT_HAZARDS
    return EXIT_INVALID_PLAN if problems else 0


def _readable(path: str) -> bool:
    """Whether ``path`` is a file this process may read (else the command's arguments are wrong: exit 2)."""
    return Path(path).is_file() and os.access(path, os.R_OK)


def _print_linted(path: str, gate: Any, measure: Optional[Callable[[Any], Any]], files: Sequence[str]) -> int:
    """One line per hazard of a linted gate (with its consequence on healthy simulated ramps when ``measure``), its
    notes on stderr; the number of hazards."""
    from rampsim.gates.lint import OUTCOME_CODES

    outcomes = any(f.code in OUTCOME_CODES for f in gate.findings)
    rehearsed = measure(gate) if measure is not None and not gate.unsimulated and outcomes else None
    for finding in gate.findings:   # a team's text, control characters shown as escapes (a terminal acts on them)
        print(printable(finding.format(_consequence(finding, rehearsed))), flush=True)
    for note in (*gate.imported, *gate.notes):
        print(printable(f"note: {note}" if note.startswith(tuple(files)) else f"note: {path}: {note}"),
              file=sys.stderr)
    if rehearsed is not None:
        print(f"{path}: {gate.kind} gate {gate.name!r}: {rehearsed.summary()} "
              f"(rampsim's default traffic; no fault)", file=sys.stderr)
    elif measure is not None and gate.unsimulated and outcomes:
        print(f"{path}: {gate.kind} gate {gate.name!r}: not simulated: {gate.unsimulated}", file=sys.stderr)
    return len(gate.findings)


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
    from rampsim.gates.export import fragment_note
    from rampsim.gates.flagger_model import FlaggerGate
    from rampsim.gates.kayenta_export import stage_json, stage_warnings
    from rampsim.gates.kayenta_model import KayentaGate
    from rampsim.gates.plan_sections import gate_of, load_gated_plan

    for option in ("-o", "--stage"):
        refuse_overwriting(option, getattr(args, "output" if option == "-o" else "stage"),
                           {"plan": args.plan, "--onto": args.onto})
    if args.output and args.stage and Path(args.output).resolve() == Path(args.stage).resolve():
        raise UsageError(f"--stage {args.stage}: the same file as -o; the config and the stage need two files")
    plan = load_gated_plan(args.plan)
    gate = gate_of(plan)
    kinds = {"argo": ArgoGate, "flagger": FlaggerGate, "kayenta": KayentaGate}
    if not isinstance(gate, kinds[args.kind]):
        named = {kind: f"a{'n' if kind == 'argo' else ''} {kind}: section" for kind in kinds}
        has = next((named[kind] for kind, model in kinds.items() if isinstance(gate, model)), "no gate section")
        raise UsageError(f"{args.plan}: the plan has {has}; 'rampsim export {args.kind}' needs {named[args.kind]} "
                         f"(import a gate first)")
    if args.stage and args.kind != "kayenta":
        raise UsageError("--stage: only a Kayenta gate has a Spinnaker stage")
    if args.onto and args.kind == "kayenta":
        raise UsageError("--onto: a Kayenta config is written whole (--stage writes its stage)")
    if args.stage:
        _write(stage_json(plan.kayenta), args.stage)
        for warning in stage_warnings(plan.kayenta):
            print(f"warning: {args.stage}: {warning}", file=sys.stderr)
    text = _onto(gate, args.onto) if args.onto else exported(plan)
    _write(text, args.output)
    if isinstance(gate, (ArgoGate, FlaggerGate)):
        if not args.onto:
            document = ("Rollout", gate.rollout.name) if isinstance(gate, ArgoGate) else ("Canary", gate.name)
            print(f"note: {fragment_note(*document)}", file=sys.stderr)
        _warn_hazards(text, args.output or "<stdout>")
    return 0


def _warn_hazards(text: str, written: str) -> None:
    """Lint's hazards of the gate export wrote (lines of ``written``), as warnings: a value that switches a check
    off (``failureLimit: -1``, every metric in ``dryRun``, a condition no value fails) is never written silently."""
    from rampsim.gates.lint import lint_text

    try:
        findings = lint_text(text, written)
    except GateError as exc:
        print(f"note: {written}: the gate written could not be linted ({'; '.join(exc.problems)})", file=sys.stderr)
        return
    for finding in findings:
        print(f"warning: {finding.format()}", file=sys.stderr)
    if findings:
        print(f"warning: {written}: the gate written has {len(findings)} hazard(s): 'rampsim lint' on it measures "
              f"what they do", file=sys.stderr)


def _onto(gate: Any, paths: list[str]) -> str:
    """The gate written into the manifests at ``paths`` (:func:`~rampsim.gates.export.onto_text`)."""
    from rampsim.gates.argo_model import ArgoGate
    from rampsim.gates.export import argo_documents, flagger_documents, onto_text
    from rampsim.gates.manifests import read_manifests

    manifests = [manifest for path in paths for manifest in read_manifests(path)]
    documents = argo_documents(gate) if isinstance(gate, ArgoGate) else flagger_documents(gate)
    text, notes = onto_text(documents, manifests)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return text


def exported(plan: Plan) -> str:
    """The imported gate ``plan`` carries, written back in its controller's format ('' when it has none)."""
    from rampsim.gates.argo_model import ArgoGate
    from rampsim.gates.export import export_argo, export_flagger
    from rampsim.gates.flagger_model import FlaggerGate
    from rampsim.gates.kayenta_export import config_json
    from rampsim.gates.plan_sections import gate_of

    gate = gate_of(plan)
    if isinstance(gate, ArgoGate):
        return export_argo(gate)
    if isinstance(gate, FlaggerGate):
        return export_flagger(gate)
    return config_json(plan.kayenta) if gate is not None and plan.kayenta is not None else ""
