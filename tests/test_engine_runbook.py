"""One hand-built telemetry test per runbook rule, on the reference plan (the ``reference_plan`` fixture)."""
import numpy as np
import pytest

from rampsim.engine import AlertFired, CheckpointReport, Decision, DecisionEngine, DecisionKind, Status
from tests.builders import REFERENCE_LAYOUT, latency_at, run, steady

SCRAPE = 15.0
WINDOW_SCRAPES = 4  # the reference rules read 1-minute windows


def latency_near(seconds: float) -> np.ndarray:
    """Bucket fractions of latencies just below ``seconds`` on the reference layout."""
    return latency_at(REFERENCE_LAYOUT, seconds)


def measured_breach(n_ticks: int, start_minute: float, seconds: float, base, high):
    """Per-scrape values whose 1-minute window is above the rule for exactly ``seconds``.

    A window is fully elevated from the 4th elevated scrape on, and ``high`` is
    chosen so that only fully elevated windows breach: the rule's measured breach
    runs from the first to the last breaching scrape, ``seconds`` apart.
    """
    values = np.full(n_ticks, base, dtype=float)
    first = int(start_minute * 60 / SCRAPE)
    elevated = int(seconds / SCRAPE) + WINDOW_SCRAPES
    values[first:first + elevated] = high
    breach_start = (first + WINDOW_SCRAPES - 1) * SCRAPE
    return values, breach_start


def alerts(events, rule):
    return [e for e in events if isinstance(e, AlertFired) and e.rule == rule]


def decisions(events):
    return [e for e in events if isinstance(e, Decision)]


N = 961  # 4 hours of 15-second scrapes, plus the scrape at the start


def test_healthy_ramp_advances_to_full_rollout(reference_plan, healthy_telemetry):
    assert reference_plan.layout == REFERENCE_LAYOUT  # what steady() builds on by default
    events = run(DecisionEngine(reference_plan), healthy_telemetry)
    reports = [e for e in events if isinstance(e, CheckpointReport)]
    assert [r.checkpoint for r in reports] == ["cp1_15m", "cp2_30m", "cp3_1h", "cp4_2h", "cp5_3h", "final_gate"]
    assert all(r.status is Status.PASS for r in reports)
    final = decisions(events)[-1]
    assert (final.kind, final.weight, final.time) == (DecisionKind.ADVANCE, 1.0, 4 * 3600.0)
    assert not [e for e in events if isinstance(e, AlertFired)]


@pytest.mark.parametrize("minutes, warns", [(2.0, True), (1.0, False), (1.75, False), (3.0, True)])
def test_error_rate_above_075_percent_for_two_minutes_warns(reference_plan, minutes, warns):
    rate, breach_start = measured_breach(N, 70, minutes * 60, 0.0007, 0.0070)
    # 0.70% stays under the 0.75% warning; 0.9% breaches it without reaching any rollback.
    rate[rate > 0.001] = 0.009
    events = run(DecisionEngine(reference_plan), steady(error_rate=rate))
    fired = alerts(events, "error_rate_warning")
    assert bool(fired) is warns
    if warns:
        assert fired[0].time == breach_start + 120.0 and fired[0].breach_start == breach_start
        assert fired[0].severity == "warning"


def test_p99_above_250ms_for_two_minutes_warns(reference_plan):
    slow = latency_near(0.04) * 0.9 + latency_near(0.3) * 0.1
    normal = latency_near(0.04)
    shape = np.tile(normal, (N, 1))
    first = int(70 * 60 / SCRAPE)
    shape[first:first + 8 + WINDOW_SCRAPES] = slow
    events = run(DecisionEngine(reference_plan), steady(latency=shape))
    fired = alerts(events, "latency_warning")
    # 10% of one scrape's requests in the window already lifts the window's P99: the breach starts at once
    assert fired and fired[0].time == first * SCRAPE + 120.0
    assert 0.25 < fired[0].value <= 0.3


@pytest.mark.parametrize("rule", ["error_rate_rollback", "p99_rollback", "availability_rollback"])
def test_success_criterion_breached_three_minutes_rolls_back_to_zero(reference_plan, rule):
    first = int(100 * 60 / SCRAPE)
    elevated = slice(first, first + 12 + WINDOW_SCRAPES)
    if rule == "error_rate_rollback":
        rate = np.full(N, 0.0007)
        rate[elevated] = 0.006
        telemetry = steady(error_rate=rate)
    elif rule == "p99_rollback":
        shape = np.tile(latency_near(0.04), (N, 1))
        shape[elevated] = latency_near(0.04) * 0.95 + latency_near(0.22) * 0.05
        telemetry = steady(latency=shape)
    else:
        failed = np.zeros(N)
        failed[elevated] = 1
        telemetry = steady(failed_checks=failed)
    events = run(DecisionEngine(reference_plan), telemetry)
    final = decisions(events)[-1]
    # one failed check, or 5% slow requests in one scrape of four, breach the window at once;
    # 0.6% errors need the whole window
    breach_start = first * SCRAPE if rule != "error_rate_rollback" else (first + WINDOW_SCRAPES - 1) * SCRAPE
    assert final.kind is DecisionKind.ROLLBACK and final.weight == 0.0
    assert final.source == f"rule:{rule}"
    assert final.time == breach_start + 180.0


def test_breach_shorter_than_three_minutes_does_not_roll_back(reference_plan):
    rate, _ = measured_breach(N, 100, 165.0, 0.0007, 0.006)
    events = run(DecisionEngine(reference_plan), steady(error_rate=rate))
    assert not alerts(events, "error_rate_rollback")
    assert decisions(events)[-1].kind is DecisionKind.ADVANCE


def test_latency_rollback_after_five_minutes_above_250ms(reference_plan):
    shape = np.tile(latency_near(0.04), (N, 1))
    first = int(100 * 60 / SCRAPE)
    shape[first:first + 20 + WINDOW_SCRAPES] = latency_near(0.04) * 0.95 + latency_near(0.3) * 0.05
    events = run(DecisionEngine(reference_plan), steady(latency=shape))
    fired = {e.rule: e.time for e in events if isinstance(e, AlertFired)}
    breach_start = first * SCRAPE
    assert fired["latency_warning"] == breach_start + 120
    assert fired["p99_rollback"] == breach_start + 180  # the 200 ms criterion acts first
    assert decisions(events)[-1].source == "rule:p99_rollback"


def test_resources_above_90_percent_escalate_without_moving_traffic(reference_plan):
    cpu = np.full(N, 0.65)
    cpu[400:404] = 0.93
    events = run(DecisionEngine(reference_plan), steady(cpu=cpu))
    fired = alerts(events, "cpu_escalation")
    assert len(fired) == 1 and fired[0].action == "escalate" and fired[0].time == 400 * SCRAPE
    assert decisions(events)[-1].kind is DecisionKind.ADVANCE  # a warning does not block the gate


def test_final_gate_holds_at_five_percent_when_a_criterion_fails(reference_plan):
    failed = np.zeros(N)
    failed[np.arange(730, 960, 12)] = 1  # 20 isolated failed checks in the last hour
    events = run(DecisionEngine(reference_plan), steady(failed_checks=failed))
    gate = [e for e in events if isinstance(e, CheckpointReport)][-1]
    assert gate.checkpoint == "final_gate" and gate.status is Status.FAIL
    availability = next(r for r in gate.results if r.name == "availability")
    assert availability.status is Status.FAIL
    assert availability.value == pytest.approx(1 - 20 / (960 * 30))
    final = decisions(events)[-1]
    assert (final.kind, final.weight, final.time) == (DecisionKind.HOLD, 0.05, 4 * 3600.0)


@pytest.mark.parametrize("instances, failures, status", [
    (8, 1, Status.FAIL), (8, 0, Status.PASS), (12, 1, Status.PASS),
])
def test_one_failed_health_check_in_the_first_15_minutes(reference_plan, instances, failures, status):
    # 5-second checks: 3 per instance per 15-second scrape; 15 minutes = 180 checks per instance.
    # With 8 instances one failure leaves 1439/1440 = 99.93% < 99.95%; with 12, 2159/2160 = 99.954%.
    failed = np.zeros(N)
    failed[20] = failures
    events = run(DecisionEngine(reference_plan), steady(checks_per_scrape=3 * instances, failed_checks=failed))
    cp1 = next(e for e in events if isinstance(e, CheckpointReport))
    availability = next(r for r in cp1.results if r.name == "availability")
    assert availability.status is status
    assert cp1.status is status
    if status is Status.FAIL:
        assert decisions(events)[0].kind is DecisionKind.HOLD and decisions(events)[0].time == 900.0


def test_missing_scrapes_make_checkpoints_inconclusive_and_block_advance(reference_plan, healthy_telemetry):
    telemetry = healthy_telemetry.copy()
    telemetry.counters[60] = np.nan  # the scrape at exactly 15 minutes is lost
    events = run(DecisionEngine(reference_plan), telemetry)
    cp1 = next(e for e in events if isinstance(e, CheckpointReport))
    assert cp1.status is Status.INCONCLUSIVE
    assert all(r.value is None for r in cp1.results if r.name in ("error_rate", "p99", "availability"))
    final = decisions(events)[-1]
    assert final.kind is DecisionKind.HOLD and final.weight == 0.05
    assert "INCONCLUSIVE" in final.reason and "missing" in final.reason


def test_segment_spread_breached_three_minutes_rolls_back(reference_plan, healthy_telemetry):
    """One segment's errors 0.3 points above the others: the absolute spread criterion (0.05 points) acts."""
    telemetry = healthy_telemetry.copy()
    canary, segment_c = reference_plan.layout.arm("canary"), reference_plan.layout.segment("C")
    first = int(100 * 60 / SCRAPE)
    extra = np.zeros(N)
    extra[first:] = 0.003 * 2000  # 2,000 canary requests per segment and scrape
    telemetry.errors[:, canary, segment_c] += np.cumsum(extra)
    events = run(DecisionEngine(reference_plan), telemetry)
    final = decisions(events)[-1]
    # the 5-minute window's spread reaches 0.05 points once 4 of its 20 scrapes carry the extra errors
    breach_start = (first + 3) * SCRAPE
    assert (final.kind, final.weight, final.source) == (DecisionKind.ROLLBACK, 0.0, "rule:segment_spread_rollback")
    assert final.time == breach_start + 180.0
