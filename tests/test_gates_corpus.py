"""The real-gates corpus (``../shared/real-gates``, read in place): how much of it imports, and how the rest is refused.

* every Argo file with a Prometheus metric is imported: at least 90% become valid plans, the others are
  refused with located messages (no traceback);
* every Flagger file is imported likewise (Canaries with their repository's MetricTemplates);
* every imported gate runs as an engine over a whole ramp (here on an empty store: no crash, a decision).

The tests print the coverage.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from rampsim.engine.events import first_terminal_decision
from rampsim.gates.argo_import import import_argo
from rampsim.gates.engines import engine_for
from rampsim.gates.flagger_import import import_flagger_manifests, read_metric_templates
from rampsim.gates.imported_plan import plan_yaml
from rampsim.gates.manifests import read_manifests
from rampsim.gates.plan_sections import gate_of, gated_plan_from_text
from rampsim.gates.queries import store_queries
from rampsim.gates.refusals import GateError
from rampsim.promql import SeriesStore, check_supported
from rampsim.gates.flagger_queries import MetricModel, render_query
from tests.gates_helpers import clock, corpus, run_engine

_PROMETHEUS = re.compile(r"^\s*prometheus:", re.M)


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.is_file() and p.suffix in (".yaml", ".yml"))


def _repo(path: Path) -> str:
    return "__".join(path.name.split("__")[:2])


def _refusal_is_clear(path: Path, problems: list[str]) -> None:
    assert problems, f"{path.name}: refused without a message"
    for problem in problems:
        assert str(path) in problem or path.name in problem, f"the refusal does not name the file: {problem}"
        assert "Traceback" not in problem


def test_argo_files_with_a_prometheus_metric_import(capsys):
    files = [p for p in _files(corpus("argo")) if _PROMETHEUS.search(p.read_text(encoding="utf-8"))]
    assert len(files) >= 50
    imported, refused = [], []
    for path in files:
        try:
            result = import_argo([path])
        except GateError as exc:
            _refusal_is_clear(path, exc.problems)
            refused.append((path.name, exc.problems[0]))
            continue
        plan = gated_plan_from_text(plan_yaml("argo", result.gate, path.stem, result.sources, result.notes),
                                    f"{path.stem}.plan.yaml")
        assert gate_of(plan) == result.gate
        imported.append(path.name)
    share = len(imported) / len(files)
    with capsys.disabled():
        print(f"\nArgo files with a Prometheus metric: {len(imported)}/{len(files)} imported as valid plans "
              f"({share:.1%}); refused:")
        for name, reason in refused:
            print(f"  {name}: {reason.split(': ', 1)[-1][:110]}")
    assert share >= 0.9


def test_other_argo_files_are_refused_with_a_clear_message():
    others = [p for p in _files(corpus("argo")) if not _PROMETHEUS.search(p.read_text(encoding="utf-8"))]
    assert others
    for path in others:
        with pytest.raises(GateError) as caught:
            import_argo([path])
        _refusal_is_clear(path, caught.value.problems)


def _flagger_templates(path: Path, files: list[Path]) -> list:
    found = []
    for other in files:
        if other != path and _repo(other) == _repo(path):
            try:
                found.extend(m for m in read_manifests(other) if m.kind == "MetricTemplate")
            except GateError:
                continue
    return found


def test_flagger_files_import(capsys):
    files = _files(corpus("flagger"))
    assert len(files) >= 55
    imported, refused, missing_templates = [], [], []
    for path in files:
        try:
            manifests = read_manifests(path)
            canaries = [m.name for m in manifests if m.kind == "Canary"]
            if not canaries:  # a file of MetricTemplates: its templates render and are in the PromQL subset
                templates, refusals, problems = read_metric_templates(manifests)
                if refusals or problems or not templates:
                    raise GateError(refusals + problems or [f"{path}: no MetricTemplate"])
                for template in templates.values():
                    check_supported(render_query(template.query, MetricModel("c", "ns", "app", "app", "app", "1m")))
                imported.append(path.name)
                continue
            extra = _flagger_templates(path, files)
            notes: list[str] = []
            for name in canaries:
                result = import_flagger_manifests(manifests, extra, canary=name)
                plan = gated_plan_from_text(plan_yaml("flagger", result.gate, name, result.sources, result.notes),
                                            f"{path.stem}.plan.yaml")
                assert gate_of(plan) == result.gate
                notes.extend(result.notes)
        except GateError as exc:
            _refusal_is_clear(path, exc.problems)
            refused.append((path.name, exc.problems[0]))
            continue
        imported.append(path.name)
        if any("not among the files" in note for note in notes):
            missing_templates.append(path.name)
    share = len(imported) / len(files)
    strict = (len(imported) - len(missing_templates)) / len(files)
    with capsys.disabled():
        print(f"\nFlagger files: {len(imported)}/{len(files)} imported as valid plans ({share:.1%}); "
              f"{len(missing_templates)} of them refer to MetricTemplates the corpus lacks (simulated as Flagger "
              f"fails those checks; refused with --strict: {strict:.1%}); refused:")
        for name, reason in refused:
            print(f"  {name}: {reason.split(': ', 1)[-1][:110]}")
        for name in missing_templates:
            print(f"  (templates missing) {name}")
    assert share >= 0.9


def test_argo_rollouts_pair_with_their_repositorys_templates(capsys):
    rollouts = _files(corpus("argo") / "rollouts")
    templates = [p for p in _files(corpus("argo")) if _PROMETHEUS.search(p.read_text(encoding="utf-8"))]
    paired = imported = 0
    for rollout in rollouts:
        text = rollout.read_text(encoding="utf-8")
        wanted = set(re.findall(r"templateName:\s*['\"]?([\w.-]+)", text))
        mine, named = [], set()
        for template in (t for t in templates if _repo(t) == _repo(rollout)):
            names = set(re.findall(r"^\s*name:\s*['\"]?([\w.-]+)", template.read_text(encoding="utf-8"), re.M))
            if names & wanted - named:  # one file per template name (a repository may keep two versions)
                mine.append(template)
                named |= names & wanted
        if not mine:
            continue
        paired += 1
        try:
            result = import_argo(mine, rollout=rollout)
        except GateError as exc:
            _refusal_is_clear(rollout, exc.problems) if str(rollout) in " ".join(exc.problems) else None
            continue
        gated_plan_from_text(plan_yaml("argo", result.gate, "r", result.sources, result.notes))
        imported += 1
    with capsys.disabled():
        print(f"\nArgo Rollouts with templates from their repository: {imported}/{paired} imported together")
    assert paired and imported >= paired // 2


@pytest.mark.slow
def test_every_imported_corpus_gate_runs_as_an_engine():
    store = store_queries(SeriesStore())
    ran = 0
    for path in _files(corpus("argo")):
        try:
            result = import_argo([path])
        except GateError:
            continue
        plan = gated_plan_from_text(plan_yaml("argo", result.gate, "x", result.sources, result.notes))
        events = run_engine(engine_for(plan, store), clock(plan))
        assert first_terminal_decision(events) is not None  # no data: Error or Failed → abort, or promotion
        ran += 1
    flagger = _files(corpus("flagger"))
    for path in flagger:
        try:
            manifests = read_manifests(path)
            if not any(m.kind == "Canary" for m in manifests):
                continue
            result = import_flagger_manifests(manifests, _flagger_templates(path, flagger))
        except GateError:
            continue
        plan = gated_plan_from_text(plan_yaml("flagger", result.gate, "x", result.sources, result.notes))
        run_engine(engine_for(plan, store), clock(plan))
        ran += 1
    assert ran >= 100


def _imported_corpus_plans():
    """Every corpus file that imports, as a plan: (name, plan)."""
    for path in _files(corpus("argo")):
        if not _PROMETHEUS.search(path.read_text(encoding="utf-8")):
            continue
        try:
            result = import_argo([path])
        except GateError:
            continue
        yield path.name, gated_plan_from_text(plan_yaml("argo", result.gate, "x", result.sources, result.notes))
    flagger = _files(corpus("flagger"))
    for path in flagger:
        try:
            manifests = read_manifests(path)
            if not any(m.kind == "Canary" for m in manifests):
                continue
            result = import_flagger_manifests(manifests, _flagger_templates(path, flagger))
        except GateError:
            continue
        yield path.name, gated_plan_from_text(plan_yaml("flagger", result.gate, "x", result.sources, result.notes))


@pytest.mark.slow
def test_every_imported_corpus_gate_rehearses_on_a_healthy_simulated_ramp(capsys):
    from rampsim.gates.argo_model import ArgoGate
    from rampsim.gates.lint import lint_argo
    from rampsim.sim import simulate

    outcomes: dict[str, list[str]] = {}
    always_error: list[str] = []
    for name, plan in _imported_corpus_plans():
        run = simulate(plan, seed=0)          # closed loop: the gate's own engine over the exposed series
        decision = first_terminal_decision(run.events)
        outcomes.setdefault("none" if decision is None else decision.kind.value, []).append(name)
        gate = gate_of(plan)
        if isinstance(gate, ArgoGate) and any(f.code == "H1" for f in lint_argo(gate)):
            always_error.append(name)
    total = sum(len(v) for v in outcomes.values())
    with capsys.disabled():
        print(f"\nimported corpus gates rehearsed on a healthy ramp: {total}; "
              + ", ".join(f"{kind}: {len(names)}" for kind, names in sorted(outcomes.items())))
    assert total >= 100
    assert len(outcomes.get("advance", [])) >= 70  # names and client libraries chosen to match (72 at seed 0)
    # the README's figures are this test's, and its command prints them (-n0: xdist's workers swallow -s)
    readme = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    stated = re.search(r"Of the (\d+) public Argo and Flagger gates rampsim imports, (\d+) promote .*? "
                       r"and (\d+) roll it back \((\d+) reach(?:es)? no decision; `(python -m pytest [^`]*)`", readme)
    assert stated is not None
    counts = [len(outcomes.get(kind, [])) for kind in ("advance", "rollback", "none")]
    assert [int(n) for n in stated.groups()[:4]] == [total, *counts], stated.groups()
    assert " -n0 " in f" {stated.group(5)} " and " -s " in f" {stated.group(5)} ", stated.group(5)
    # the names never hide a real hazard: a condition that errs on every vector (H1) aborts every healthy rehearsal
    assert always_error and set(always_error) <= set(outcomes.get("rollback", [])), always_error
