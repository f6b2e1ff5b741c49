"""Damaged telemetry never advances a gate: the engine and the production reader treat it as inconclusive.

A sample that is present but cannot be true (not finite, negative, above 2**53,
or contradicted by another value at the same timestamp) makes every window over
it inconclusive. Each case hides an incident that the clean data rolls back.
"""
import json

import numpy as np
import pytest
from hypothesis import given, strategies as st

from rampsim.cli import main
from rampsim.engine import DecisionEngine, DecisionKind
from rampsim.engine.metrics import read_channels
from rampsim.engine.judge import judge
from rampsim.prod.samples import RawSeries
from rampsim.prod.openmetrics import write_openmetrics
from rampsim.prod.replay import FileSource
from rampsim.prod.gate_run import GateRun, GateOutcome
from rampsim.telemetry import COUNTER_LIMIT
from tests.builders import run, steady
from tests.sim_helpers import REFERENCE

START = 1740787200.0
END = START + 4 * 3600 + 60
INCIDENT_TICK = 16  # 4 minutes in


def incident(plan):
    rates = np.full(961, 0.0007)
    rates[INCIDENT_TICK:] = 0.03
    return steady(plan.layout, error_rate=rates)


def replay(plan, series):
    gate_run = GateRun(plan, FileSource(series), START)
    notices = [n for step in gate_run.run_until(END) for n in step.notices]
    return gate_run.outcome(), notices


def canary(series, family):
    return series.labels["__name__"] == f"rampsim_{family}" and series.labels.get("arm") == "canary"


def damaged(recording, family, change):
    return [RawSeries(s.labels, *change(s)) if canary(s, family) else s for s in recording.series]


def from_tick(s, transform):
    values = s.values.copy()
    later = s.timestamps_ms >= (START + INCIDENT_TICK * 15) * 1000
    values[later] = transform(values[later])
    return s.timestamps_ms, values


CASES = {
    "a 0 after each error sample at the same timestamp": (
        "request_errors_total",
        lambda s: (np.repeat(s.timestamps_ms, 2), np.column_stack([s.values, np.zeros_like(s.values)]).ravel()),
        "two different values at one timestamp"),
    "request counters +Inf from 4 minutes": (
        "requests_total", lambda s: from_tick(s, lambda v: np.full_like(v, np.inf)), "inf is not a finite"),
    "request counters times 1e300 from 4 minutes": (
        "requests_total", lambda s: from_tick(s, lambda v: v * 1e300), "above 2**53"),
    "error counters negated": ("request_errors_total", lambda s: (s.timestamps_ms, -s.values), "negative"),
    "error counters -Inf": (
        "request_errors_total", lambda s: from_tick(s, lambda v: np.full_like(v, -np.inf)), "-inf is not a finite"),
}


def test_the_clean_incident_rolls_back(reference_plan):
    outcome, notices = replay(reference_plan, FileSource.from_telemetry(incident(reference_plan), START).series)
    assert outcome is GateOutcome.ROLLBACK
    assert not [n for n in notices if n.kind == "damaged"]


@pytest.mark.parametrize("case", CASES)
def test_damage_that_hides_an_incident_does_not_advance(reference_plan, case):
    family, change, reason = CASES[case]
    recording = FileSource.from_telemetry(incident(reference_plan), START)
    outcome, notices = replay(reference_plan, damaged(recording, family, change))
    assert outcome is not GateOutcome.ADVANCE
    named = [n.message for n in notices if n.kind == "damaged"]
    assert named and all(f"rampsim_{family}" in m and 'arm="canary"' in m for m in named)
    assert any(reason in m for m in named)


def test_minus_inf_error_counters_through_the_cli_with_json(reference_plan, tmp_path, capsys):
    telemetry = incident(reference_plan)
    errors = reference_plan.layout.channels("errors", reference_plan.layout.arm("canary"))
    telemetry.counters[INCIDENT_TICK:, errors] = -np.inf
    path = tmp_path / "damaged.om"
    with path.open("w") as out:
        write_openmetrics(telemetry, out, START)
    code = main(["gate", str(REFERENCE), "--replay", str(path), "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code not in (0, 70)
    decisions = [line for line in lines if line.get("event") == "Decision"]
    assert decisions and decisions[-1]["kind"] != "advance"
    assert any(line.get("kind") == "damaged" for line in lines)


# -- properties: damage touching a window the final gate reads never advances ----------------------------

def final_gate_counters(plan):
    measures = [m for m in plan.final_gate.criteria.values() if m.metric.value != "alerts"]
    return read_channels(plan.layout, measures)[0]


DAMAGE = {"+Inf": lambda v: np.inf, "-Inf": lambda v: -np.inf, "negative": lambda v: -1.0 - v,
          "huge": lambda v: v * 1e300 + 2 * COUNTER_LIMIT}


@st.composite
def damage(draw, plan):
    channels = final_gate_counters(plan)
    hits = draw(st.lists(st.tuples(st.sampled_from(channels.tolist()), st.integers(1, 960),
                                   st.sampled_from(sorted(DAMAGE))), min_size=1, max_size=4,
                                   unique_by=lambda hit: hit[:2]))
    return hits, draw(st.lists(st.integers(0, 960), max_size=5)), draw(st.integers(0, 2**32 - 1))


def healthy_with(healthy, hits, gaps):
    telemetry = healthy.copy()
    telemetry.counters[sorted(set(gaps) - {tick for _, tick, _ in hits})] = np.nan
    for channel, tick, kind in hits:
        telemetry.counters[tick, channel] = DAMAGE[kind](telemetry.counters[tick, channel])
    return telemetry


def test_the_clean_healthy_ramp_advances(reference_plan, healthy_telemetry):
    assert judge([reference_plan], healthy_telemetry).named()[0][0] == "advance"


@pytest.mark.slow
@given(st.data())
def test_the_engine_never_advances_on_damage_in_a_window_it_reads(reference_plan, healthy_telemetry, data):
    hits, gaps, _ = data.draw(damage(reference_plan))
    telemetry = healthy_with(healthy_telemetry, hits, gaps)
    events = run(DecisionEngine(reference_plan), telemetry)
    assert not any(getattr(e, "kind", None) is DecisionKind.ADVANCE for e in events)
    assert judge([reference_plan], telemetry).named()[0][0] != "advance"


@pytest.mark.slow
@given(st.data())
def test_the_production_reader_never_advances_on_damage_or_conflicts(reference_plan, healthy_telemetry, data):
    hits, gaps, seed = data.draw(damage(reference_plan))
    telemetry = healthy_with(healthy_telemetry, hits, gaps)
    recording = FileSource.from_telemetry(telemetry, START).series
    rng = np.random.default_rng(seed)
    jittered = [RawSeries(s.labels, s.timestamps_ms + rng.integers(-5000, 5001, len(s.timestamps_ms)), s.values)
                for s in recording]
    counters = final_gate_counters(reference_plan).tolist()
    for channel, tick in data.draw(st.lists(st.tuples(st.sampled_from(counters), st.integers(1, 900)), max_size=2)):
        s = jittered[channel]  # the recording lists counter columns first, in column order
        k = int(np.searchsorted(s.timestamps_ms, START * 1000 + tick * 15000 - 7500))
        if k < len(s.values):  # a second, different value at that sample's timestamp
            jittered[channel] = RawSeries(s.labels, np.insert(s.timestamps_ms, k + 1, s.timestamps_ms[k]),
                                          np.insert(s.values, k + 1, s.values[k] + 1.0))
    outcome, notices = replay(reference_plan, jittered)
    assert outcome is not GateOutcome.ADVANCE
    assert any(n.kind == "damaged" for n in notices)


@pytest.mark.slow
@given(st.integers(0, 2**32 - 1))
def test_jittered_timestamps_inside_their_slot_change_nothing(reference_plan, healthy_telemetry, seed):
    recording = FileSource.from_telemetry(healthy_telemetry, START).series
    rng = np.random.default_rng(seed)
    jittered = [RawSeries(s.labels, s.timestamps_ms + rng.integers(-5000, 5001, len(s.timestamps_ms)), s.values)
                for s in recording]
    outcome, notices = replay(reference_plan, jittered)
    assert outcome is GateOutcome.ADVANCE
    assert not notices
