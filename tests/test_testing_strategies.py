"""The hypothesis strategies of ``rampsim.testing``: arguments checked when a strategy is built, and every drawn
plan, fault and duration valid for the arguments given."""
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.conftest import examples


def test_testing_strategies_check_their_arguments_when_built():
    from hypothesis.errors import InvalidArgument

    from rampsim.testing import strategies as rst

    with pytest.raises(InvalidArgument, match="did you mean 'error-rate'"):
        rst.faults(kinds=["eror-rate"])
    with pytest.raises(InvalidArgument, match="unknown target"):
        rst.faults(targets=["canry"])
    with pytest.raises(InvalidArgument, match="must be a hypothesis strategy"):
        rst.faults(magnitudes=0.01)


@pytest.mark.parametrize("build, message", [
    (lambda rst, plan: rst.faults(kinds=["slow-dependency"]), "slow-dependency cannot target canary: its target is "
                                                              "'shared'"),
    (lambda rst, plan: rst.faults(kinds=["crash"], targets=["canary/A"]), "acts on whole instances"),
    (lambda rst, plan: rst.faults(kinds=["cold-cache"], targets=["shared"]), "cold-cache needs a duration"),
    (lambda rst, plan: rst.faults(kinds=["counter-reset"], magnitudes=st.just(0.1)), "take(s) no magnitude"),
    (lambda rst, plan: rst.faults(kinds=["counter-reset"], duration_minutes=st.just(5)), "happen(s) once"),
    (lambda rst, plan: rst.faults(sahpe=st.just("ramp")), "unknown fault option(s) 'sahpe'"),
    (lambda rst, plan: rst.faults(kind=st.just("crash")), "unknown fault option(s) 'kind'"),
    (lambda rst, plan: rst.durations(50, 40), "no multiple of 15s lies between them"),
    (lambda rst, plan: rst.durations(20, 25), "no multiple of 15s"),
    (lambda rst, plan: rst.durations(-60, 30), "low_seconds must be a whole number of seconds, at least 0"),
    (lambda rst, plan: rst.durations(10, 20, step=0), "step must be a whole number of seconds above 0"),
    (lambda rst, plan: rst.percents(0.2, 0.1), "low <= high"),
    (lambda rst, plan: rst.percents(0.0, float("nan")), "finite fractions"),
    (lambda rst, plan: rst.percents(-0.5, 0.1), "would draw -50.0% to 10.0%: a share is a fraction from 0 to 1"),
    (lambda rst, plan: rst.percents(0.5, 2.0), "would draw 50.0% to 200.0%"),
    (lambda rst, plan: rst.percents(-1.0, 0.5, relative=True), "a relative change is above -1 (-100%)"),
    (lambda rst, plan: rst.telemetry(min_ticks=50, max_ticks=10), "min_ticks=50 is above max_ticks=10"),
    (lambda rst, plan: rst.telemetry(min_ticks=0, max_ticks=1), "min_ticks must be a whole number, at least 1"),
    (lambda rst, plan: rst.telemetry(min_ticks=1, max_ticks=1, resets=True), "at least 2 with resets=True, got 1"),
    (lambda rst, plan: rst.telemetry(max_requests=-1), "max_requests must be a whole number, at least 0, got -1"),
    (lambda rst, plan: rst.telemetry(layout="x"), "layout must be a rampsim.telemetry.Layout, got 'x'"),
    (lambda rst, plan: rst.telemetry(gaps="no"), "gaps must be True or False, got 'no'"),
    (lambda rst, plan: rst.single_rule_plans(metrics=["error_rate"], threshold="abc"), "cannot read 'abc' as ratio"),
    (lambda rst, plan: rst.single_rule_plans(metrics=["p99"], threshold="1%"), "cannot read '1%' as a duration"),
    (lambda rst, plan: rst.single_rule_plans(action="explode"), "action: Input should be 'warn', 'escalate'"),
    (lambda rst, plan: rst.faults(targets=[1]), "kinds and targets are lists of names, e.g. targets=['canary'], got 1"),
    (lambda rst, plan: rst.gates(plan, **{"rules.error_rate_rolback.threshold": st.just("1%")}),
     "did you mean 'rules.error_rate_rollback'"),
    (lambda rst, plan: rst.gates(plan, **{"rules.error_rate_rollback.threshold": "1%"}), "a hypothesis strategy"),
    (lambda rst, plan: rst.single_rule_plans(metrics="error_rate"), "metrics is a list of names"),
    (lambda rst, plan: rst.single_rule_plans(metrics=["latency"]), "not on 'latency'"),
    (lambda rst, plan: rst.gate_plans(duration_minutes=0), "duration_minutes must be a whole number of minutes"),
    (lambda rst, plan: rst.gate_plans(layout=rst.SMALL_LAYOUT.__class__(scrape_interval=45.0), duration_minutes=1),
     "not a whole number of the layout's 45s scrape intervals"),
])
def test_testing_strategies_refuse_what_they_could_never_draw_when_built(reference_plan, build, message):
    """Refused when the strategy is built, as hypothesis's own strategies refuse bad arguments; each of these drew
    invalid values, failed at every draw or drew outside its range until a review (durations(50, 100) drew '45s';
    telemetry(min_ticks=0) was an IndexError at the first draw, layout='x' an AttributeError, faults(targets=[1])
    an AttributeError when built; single_rule_plans(threshold='abc') a PlanError during the test)."""
    from hypothesis.errors import InvalidArgument

    from rampsim.testing import strategies as rst

    with pytest.raises(InvalidArgument, match=re.escape(message)):
        build(rst, reference_plan)


@settings(max_examples=examples(fast=60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([5.0, 10.0, 15.0, 30.0, 45.0, 60.0, 90.0]), st.integers(1, 25), st.data())
def test_drawn_plans_are_valid_for_every_scrape_interval_and_ramp_length(interval, minutes, data):
    """gate_plans and single_rule_plans drew 15-second windows on 30-second scrapes and a 5-minute checkpoint in a
    4-minute ramp (a PlanError at every draw); faults drawn from mixed kinds and targets are valid faults."""
    from hypothesis.errors import InvalidArgument

    from rampsim.telemetry import Layout
    from rampsim.testing import strategies as rst

    layout = Layout(segments=("A", "B"), latency_buckets=rst.SMALL_LAYOUT.latency_buckets, scrape_interval=interval)
    if (minutes * 60) % interval:
        with pytest.raises(InvalidArgument):
            rst.gate_plans(layout=layout, duration_minutes=minutes)
        return
    plan = data.draw(rst.gate_plans(layout=layout, duration_minutes=minutes))
    assert plan.layout.scrape_interval == interval and plan.final_gate.at == minutes * 60
    if minutes * 60 < 2 * interval:   # no scrape before the end for its checkpoint
        with pytest.raises(InvalidArgument, match="its checkpoint needs a scrape before the end"):
            rst.single_rule_plans(layout=layout, duration_minutes=minutes)
    else:
        single = data.draw(rst.single_rule_plans(layout=layout, duration_minutes=minutes))
        assert single.final_gate.at == minutes * 60
    fault = data.draw(rst.faults(kinds=["error-rate", "slow-dependency", "counter-reset", "cold-cache"],
                                 targets=["canary", "canary/A", "shared"], duration_minutes=st.integers(1, 30)))
    assert fault.kind in ("error-rate", "slow-dependency", "counter-reset", "cold-cache")


@settings(max_examples=examples(fast=100), deadline=None)
@given(st.integers(0, 600), st.integers(0, 600), st.sampled_from([1, 5, 15, 60]), st.data())
def test_drawn_durations_lie_within_their_bounds_on_their_grid(low, span, step, data):
    from hypothesis.errors import InvalidArgument

    from rampsim.testing import strategies as rst
    from rampsim.units import parse_duration

    high = low + span
    if -(-low // step) > high // step:
        with pytest.raises(InvalidArgument):
            rst.durations(low, high, step)
        return
    seconds = parse_duration(data.draw(rst.durations(low, high, step)))
    assert low <= seconds <= high and seconds % step == 0


@settings(max_examples=examples(fast=30), deadline=None)
@given(st.data())
def test_percents_draw_shares_and_relative_changes_within_their_bounds(data):
    from rampsim.testing import strategies as rst
    from rampsim.units import Kind, parse

    share = parse(data.draw(rst.percents(0.0, 1.0)), Kind.RATIO)
    change = parse(data.draw(rst.percents(-0.5, 2.0, relative=True)), Kind.RATIO)
    assert 0.0 <= share <= 1.0 and -0.5 <= change <= 2.0
    ticks = data.draw(rst.telemetry(min_ticks=2, max_ticks=3, resets=True, gaps=True))
    assert 2 <= len(ticks) <= 3


def _falsifying_example(test) -> str:
    """What hypothesis reports for a failing property ``test``: its falsifying example."""
    with pytest.raises(AssertionError) as info:
        test()
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "Falsifying example" in notes
    return notes


def test_a_falsifying_gate_reads_as_what_was_drawn(validation_plan):
    """A failing threshold property over gates() printed a 3 KB pydantic Plan with the drawn value buried."""
    from rampsim.plan import Plan, with_overrides
    from rampsim.testing import strategies as rst

    @settings(max_examples=examples(fast=50), deadline=None, database=None)
    @given(gate=rst.gates(validation_plan, **{"rules.error_rate_rollback.threshold": rst.percents(0.003, 0.02),
                                              "rules.error_rate_rollback.sustain": rst.durations(60, 300)}))
    def test_fails(gate):
        assert isinstance(gate, Plan) and gate.source is not None
        assert with_overrides(gate, {"rules.*.sustain": "1m"}).rules["error_rate_rollback"].sustain == 60
        assert gate.rules["error_rate_rollback"].threshold < 0.007

    notes = _falsifying_example(test_fails)
    assert re.search(r"gate=gates\(<ramp-phase-5k-validation>, rules\.error_rate_rollback\.threshold='[\d.]+%', "
                     r"rules\.error_rate_rollback\.sustain='\d+s'\)", notes), notes
    assert len(notes) < 400, notes


def test_a_falsifying_gate_plan_and_telemetry_read_in_a_few_lines():
    """rst.gate_plans() with rst.telemetry(gaps=True) gave a 19 KB falsifying example (every array in full)."""
    from rampsim.engine.engine import DecisionEngine
    from rampsim.plan import Plan
    from rampsim.telemetry import Telemetry
    from rampsim.testing import strategies as rst

    @settings(max_examples=examples(fast=30), deadline=None, database=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.generate])   # shrinking random gates takes long; the example is reported unshrunk
    @given(plan=rst.gate_plans(), single=rst.single_rule_plans(),
           telemetry=rst.telemetry(min_ticks=5, max_ticks=20, gaps=True, resets=True))
    def test_fails(plan, single, telemetry):
        assert isinstance(plan, Plan) and isinstance(single, Plan) and isinstance(telemetry, Telemetry)
        DecisionEngine(plan).observe(telemetry.copy(), 0)   # usable as any plan and telemetry
        assert not np.isnan(telemetry.counters).any()

    notes = _falsifying_example(test_fails)
    assert "plan=<gate_plans() plan: a 20m ramp, 15s scrapes" in notes and "rules.rule0: " in notes
    assert re.search(r"single=single_rule_plan\(metric='\w+', threshold='[^']+', window='\w+', sustain='\w+', "
                     r"action='rollback'\)", notes), notes
    assert re.search(r"telemetry=<telemetry: \d+ scrapes, .*(counters reset before scrapes \[|no counter reset)"
                     r".*scrapes missing \[",
                     notes), notes
    assert len(notes) < 4000, notes   # was 19 KB


def test_a_drawn_plan_equals_the_same_plan_loaded():
    """Drawn plans (DrawnPlan, for a short repr) compared unequal to a field-identical Plan: pydantic compares the
    classes and the private attributes, the drawn label among them."""
    from rampsim.plan.loader import plan_from_document
    from rampsim.testing import strategies as rst

    seen = []

    @settings(max_examples=examples(fast=3), database=None, suppress_health_check=list(HealthCheck))
    @given(rst.gate_plans())
    def draw(plan):
        seen.append(plan)

    draw()
    for plan in seen:
        loaded = plan_from_document(plan.source)
        assert plan == loaded and loaded == plan and type(plan) is not type(loaded)
