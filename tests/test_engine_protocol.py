"""The engine protocol: a team's own gate plugs in wherever the reference engine does."""
import pytest

from rampsim.engine import Decision, DecisionEngine, DecisionKind, Engine, event_to_dict
from rampsim.engine.metrics import Series, evaluate
from tests.builders import run, steady


class ErrorBudgetGate:
    """A custom production gate: roll back once the canary has spent an absolute error budget."""

    def __init__(self, plan, budget: int = 500):
        self.plan, self.budget, self.done = plan, budget, False

    def observe(self, telemetry, tick):
        if self.done or tick == 0:
            return []
        canary = telemetry.layout.arm("canary")
        spent = telemetry.errors[tick, canary].sum() - telemetry.errors[0, canary].sum()
        if spent > self.budget:
            self.done = True
            return [Decision(float(telemetry.time[tick]), DecisionKind.ROLLBACK, 0.0,
                             f"error budget spent: {spent:.0f} > {self.budget}", "custom:error-budget")]
        return []


def test_custom_engine_satisfies_the_protocol_and_decides(reference_plan, healthy_telemetry):
    gate = ErrorBudgetGate(reference_plan, budget=500)
    assert isinstance(gate, Engine) and isinstance(DecisionEngine(reference_plan), Engine)
    events = run(gate, healthy_telemetry)  # 0.07% of 6,000 canary requests per scrape: 4.2 errors per scrape
    assert len(events) == 1 and events[0].kind is DecisionKind.ROLLBACK
    assert events[0].time == 120 * 15.0  # the 120th scrape takes the count past 500 (504)


def test_events_serialise_to_plain_json(reference_plan, healthy_telemetry):
    events = run(DecisionEngine(reference_plan), healthy_telemetry)
    report = event_to_dict(events[0])
    assert report["event"] == "CheckpointReport" and report["status"] == "PASS"
    assert report["results"][0]["name"] == "error_rate" and isinstance(report["results"][0]["value"], float)
    assert event_to_dict(events[-1]) == {"event": "Decision", "time": 14400.0, "kind": "advance", "weight": 1.0,
                                         "reason": events[-1].reason, "source": "checkpoint:final_gate"}


def test_checkpoint_values_are_the_metric_over_the_window(reference_plan):
    telemetry = steady(reference_plan.layout, error_rate=0.002)
    events = run(DecisionEngine(reference_plan), telemetry)
    cp3 = next(e for e in events if getattr(e, "checkpoint", None) == "cp3_1h")
    error_rate = next(r for r in cp3.results if r.name == "error_rate")
    expected = evaluate(Series.from_telemetry(telemetry), reference_plan.checkpoints["cp3_1h"].criteria["error_rate"],
                        [0], [240])[0]
    assert error_rate.value == expected and abs(expected - 0.002) < 1e-12
