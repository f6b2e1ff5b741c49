"""Plan sections owned by other layers: one validation helper, one registry that ``rampsim validate`` runs."""
from __future__ import annotations

import subprocess
import sys
from typing import Optional

import pytest
from pydantic import BaseModel, ConfigDict

from rampsim.cli import main
from rampsim.cli.plan_commands import import_section_owners
from rampsim.plan import PlanError, plan_from_text
from rampsim.plan import sections
from rampsim.plan.sections import locate, register_section, registered, section_problems, validate_section
from rampsim.plan.source import parse_document
from rampsim.units import Kind, PositiveDuration, Share, Unit
from tests.test_plan_errors import MINIMAL, broken, line_of


class _Limit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    share: Share
    wait: Optional[PositiveDuration] = None


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")
    limits: dict[str, _Limit]
    steps: list[_Limit] = []


SECTION = """\
name: x
custom:
  limits:
    cpu:
      share: 90%
      wait: 200 mins
  steps:
    - {share: 10%}
    - share: 150%
      zzz: 1m
"""


def test_a_nested_error_is_located_by_file_line_and_field():
    document = parse_document(SECTION, "plan.yaml")
    with pytest.raises(PlanError) as caught:
        validate_section(_Section, document.data["custom"], document, ("custom",))
    assert caught.value.problems == [
        "plan.yaml:6: custom.limits.cpu.wait: unknown unit 'mins' in '200 mins': a duration takes ms, s, m, h or d"
        " (for example '15m', '90s', '1h30m', '250ms' or '01:20' (hh:mm))",
        "plan.yaml:9: custom.steps.1.share: '150%' is out of range: expected at least 0% and at most 100%",
        "plan.yaml:10: custom.steps.1.zzz: unknown field 'zzz'",
    ]


def test_a_valid_section_is_returned_as_its_model():
    document = parse_document(SECTION.replace("200 mins", "200m").replace("150%", "15%").replace("zzz", "wait"),
                              "plan.yaml")
    section = validate_section(_Section, document.data["custom"], document, ("custom",))
    assert (section.limits["cpu"].share, section.limits["cpu"].wait) == (0.9, 12000.0)
    assert [step.share for step in section.steps] == [0.1, 0.15]


def test_a_whole_file_is_a_section_at_the_top_level():
    document = parse_document("limits: {cpu: {share: 2%}}\nextra: 1\n", "naming.yaml")
    with pytest.raises(PlanError) as caught:
        validate_section(_Section, document.data, document)
    assert caught.value.problems == ["naming.yaml:2: extra: unknown field 'extra'"]


def test_problems_found_after_validation_are_located_alike():
    document = parse_document(SECTION, "plan.yaml")
    assert locate(document, ("custom", "steps", 1), "too big") == "plan.yaml:9: custom.steps.1: too big"
    assert locate(document, ("custom", "nowhere"), "absent") == "plan.yaml:2: custom.nowhere: absent"
    assert locate(document, (), "empty") == "plan.yaml:1: (top level): empty"


# -- the registry ------------------------------------------------------------------------------


def test_the_registry_lists_the_sections_other_layers_own():
    import_section_owners()
    readers = registered()
    assert list(readers) == ["traffic", "faults", "prometheus", "argo", "flagger", "kayenta"]   # the plan's order
    from rampsim.faults import plan_faults
    from rampsim.gates.plan_sections import argo_section, flagger_section, kayenta_section
    from rampsim.prod.naming import naming_for_plan
    from rampsim.sim.config import traffic_config
    assert readers == {"traffic": traffic_config, "faults": plan_faults, "prometheus": naming_for_plan,
                       "argo": argo_section, "flagger": flagger_section, "kayenta": kayenta_section}


def test_registering_checks_the_name_and_refuses_a_second_reader(monkeypatch):
    import_section_owners()
    monkeypatch.setattr(sections, "_READERS", dict(sections._READERS))
    traffic = registered()["traffic"]
    assert register_section("traffic", traffic) is traffic   # a module imported again
    with pytest.raises(ValueError, match="'traffic' is already read by rampsim.sim.config.traffic_config"):
        register_section("traffic", lambda plan: None)
    with pytest.raises(ValueError, match="'trafic' is not a section of a plan"):
        register_section("trafic", traffic)


def test_the_plan_layer_imports_no_section_owner():
    """The registry lives in the plan layer, below the modules that register in it."""
    code = ("import sys, rampsim.plan.sections\n"
            "above = sorted(m for m in sys.modules if m.startswith(('rampsim.sim', 'rampsim.faults', 'rampsim.prod')))\n"
            "assert not above, above\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


BROKEN_SECTIONS = """\
traffic:
  load: {shape: flat, average: 0/s}
faults: ['error-rate:canary:+1%@30m/', {kind: error-rate, target: canary, magnitude: 1%, start: 2 mins}]
prometheus:
  labels: {arm: le}
slo:"""


def test_section_problems_are_reported_for_every_section_at_once():
    plan = plan_from_text(broken("slo:", BROKEN_SECTIONS), "plan.yaml")
    import_section_owners()
    problems = section_problems(plan)
    assert [p.split(": ")[1] for p in problems] == [
        "traffic.load.average", "faults.0", "faults.1.start", "prometheus.labels.arm"]
    assert section_problems(plan_from_text(MINIMAL, "plan.yaml")) == []


def test_validate_reports_the_problems_of_all_sections_at_once(tmp_path, capsys):
    text = broken("slo:", BROKEN_SECTIONS)
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 3
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"{path}: 4 problem(s):",
        f"  {path}:{line_of(text, 'average')}: traffic.load.average: '0/s' is out of range: expected more than 0/s "
        "and at most 10,000,000/s",
        f"  {path}:{line_of(text, 'faults:')}: faults.0: nothing after '/' in 'error-rate:canary:+1%@30m/': write a "
        "duration such as /30m, or drop the '/' to last to the end",
        f"  {path}:{line_of(text, 'faults:')}: faults.1.start: unknown unit 'mins' in '2 mins': a duration takes ms, "
        "s, m, h or d (for example '15m', '90s', '1h30m', '250ms' or '01:20' (hh:mm))",
        f"  {path}:{line_of(text, 'arm: le')}: prometheus.labels.arm: 'le' is reserved by Prometheus",
    ]


def test_validate_accepts_a_plan_whose_sections_are_valid(tmp_path, capsys):
    path = tmp_path / "plan.yaml"
    path.write_text(broken("slo:", "traffic:\n  load: {shape: flat, average: 100/s}\n"
                                   "faults: ['error-rate:canary:+1%@30m/10m']\nprometheus:\n  labels: {arm: track}\nslo:"))
    assert main(["validate", str(path)]) == 0
    assert capsys.readouterr().out == (f"{path}: valid plan 'minimal': 1 phase(s), 1 rule(s), 1 checkpoint(s) and a "
                                       "final gate, 1 SLO objective(s)\n")


# -- the sections' unit fields are typed, not validated one by one ---------------------------------


def _unit_fields():
    from rampsim.experiment.mix import _ScenarioModel
    from rampsim.faults.spec import Fault
    from rampsim.sim.config import Load, Segment, Service, TrafficConfig
    return [
        (Segment, "share", Kind.RATIO), (Segment, "error_rate", Kind.RATIO),
        (Load, "average", Kind.REQUESTS_PER_SECOND), (Load, "peak", Kind.REQUESTS_PER_SECOND),
        (Load, "every", Kind.DURATION), (Load, "first", Kind.DURATION),
        (Service, "normal_load", Kind.REQUESTS_PER_SECOND), (Service, "p99", Kind.DURATION),
        (Service, "cpu", Kind.RATIO), (Service, "memory_limit", Kind.BYTES),
        (TrafficConfig, "revenue", Kind.DOLLARS_PER_MINUTE), (TrafficConfig, "revenue_uplift", Kind.RATIO),
        (Fault, "start", Kind.DURATION), (Fault, "duration", Kind.DURATION), (Fault, "delay", Kind.DURATION),
        (_ScenarioModel, "weight", Kind.RATIO),
    ]


def _unit_of(annotation) -> Optional[Unit]:
    from typing import get_args
    for part in (annotation, *get_args(annotation)):
        for meta in getattr(part, "__metadata__", ()):
            if isinstance(meta, Unit):
                return meta
    return None


@pytest.mark.parametrize("model, field, kind", _unit_fields(), ids=lambda x: getattr(x, "__name__", str(x)))
def test_unit_fields_carry_their_unit(model, field, kind):
    unit = _unit_of(model.model_fields[field].annotation) or next(
        (m for m in model.model_fields[field].metadata if isinstance(m, Unit)), None)
    assert unit is not None and unit.kind is kind
