"""Plan values that would disable a rule, hang or crash a command: each is refused by ``validate``.

Every case gives exit 3 and one located message (``file:line: field: message``).
"""
import re

import pytest

from rampsim.cli import main
from rampsim.plan import plan_from_text
from tests.test_plan_errors import MINIMAL, broken, line_of

P99 = '{metric: p99, op: "<", threshold: 200ms, window: 15m}'

CASES = [
    # (what, old, new, line fragment, field, message pattern)
    ("a checkpoint that advances on missing data", "    at: 15m\n", "    at: 15m\n    on_inconclusive: advance\n",
     "on_inconclusive", "checkpoints.first.on_inconclusive", r"cannot be 'advance'"),
    # a review found these accepted: each switches a rule off or turns a decision around
    ("a checkpoint that advances on a failure", "    at: 15m\n", "    at: 15m\n    on_fail: advance\n",
     "on_fail", "checkpoints.first.on_fail", r"cannot be 'advance'"),
    ("a rollback that raises the canary", "slo:", "actions: {rollback: 100%}\nslo:", "actions:", "actions.rollback",
     r"a rollback to 100% would raise the canary's share"),
    ("an advance that lowers the canary", "slo:", "actions: {advance: 1%}\nslo:", "actions:", "actions.advance",
     r"an advance to 1% would lower"),
    # a third review found these accepted: a rollback or advance that moves nothing, a final gate that decides nothing,
    # markdown injected into the report, a "final gate" passing at 15 minutes
    ("a rollback to the phase's weight", "slo:", "actions: {rollback: 10%}\nslo:", "actions:", "actions.rollback",
     r"a rollback to 10% is the weight of the phase at 10%: there it would change nothing"),
    ("an advance to the phase's weight", "slo:", "actions: {advance: 10%}\nslo:", "actions:", "actions.advance",
     r"an advance to 10% is the weight of the phase at 10%: there it would change nothing"),
    ("a final gate that continues on a failure", "final_gate:\n  at: 1h\n",
     "final_gate:\n  at: 1h\n  on_fail: continue\n", "on_fail", "final_gate.on_fail",
     r"the final gate's on_fail cannot be 'continue': it is the ramp's last decision"),
    ("a final gate that continues on missing data", "final_gate:\n  at: 1h\n",
     "final_gate:\n  at: 1h\n  on_inconclusive: continue\n", "on_inconclusive", "final_gate.on_inconclusive",
     r"the final gate's on_inconclusive cannot be 'continue'"),
    ("a blank manual item", "    at: 15m\n", "    at: 15m\n    manual: [ok, '  ']\n", "manual:",
     "checkpoints.first.manual.1", r"a checklist item cannot be blank"),
    ("a manual item spanning lines", "final_gate:\n  at: 1h\n",
     'final_gate:\n  at: 1h\n  manual: ["Sign here\\n## GO: approved"]\n', "manual:", "final_gate.manual.0",
     r"a checklist item is one line"),
    ("a checkpoint named final_gate", "checkpoints:\n  first:", "checkpoints:\n  final_gate:", "final_gate:",
     "checkpoints.final_gate", r"'final_gate' names the final gate \(its own section\)"),
    ("a cumulative rule that cannot be sustained", "    window: 1m\n    sustain: 3m\n",
     "    window: cumulative\n    sustain: 2h\n", "sustain: 2h", "rules.error_rate.sustain",
     r"sustain 2h is longer than the ramp \(1h\): it could never fire"),
    ("a trend rule whose two windows do not fit", "    window: 1m\n    sustain: 3m\n",
     "    window: 40m\n    trend: true\n    sustain: 0s\n", "window: 40m", "rules.error_rate.window",
     r"window 40m \(twice, for a trend\) is longer than the ramp"),
    ("an SLO objective no ramp can breach", "window: 5m, sustain: 5m}", "window: 5m, sustain: 2h}", "errors:",
     "slo.objectives.errors.sustain", r"no ramp could ever breach this objective"),
    ("an SLO sustain between scrapes", "window: 5m, sustain: 5m}", "window: 5m, sustain: 7s}", "errors:",
     "slo.objectives.errors.sustain", r"sustain 7s is not a whole number of scrape intervals"),
    ("a decimal comma", "    threshold: 1%\n", "    threshold: 0,075%\n", "0,075", "rules.error_rate.threshold",
     r"cannot read '0,075%'"),
    ("a threshold of 400 digits", "    threshold: 1%\n", f"    threshold: {'9' * 400}\n", "threshold: 999",
     "rules.error_rate.threshold", r"not a finite number \(too large\)"),
    ("a window mapping with a typo", P99, P99.replace("15m}", "{kind: rolling, secnds: 300}}"), "secnds",
     "checkpoints.first.criteria.p99.window.secnds", r"unknown field 'secnds'; did you mean 'seconds'"),
    ("a window of zero seconds", P99, P99.replace("15m}", "{kind: rolling, seconds: 0}}"), "seconds: 0",
     "checkpoints.first.criteria.p99.window", r"needs 'seconds' longer than zero"),
    ("a negative window", P99, P99.replace("15m}", "{kind: rolling, seconds: -60}}"), "seconds: -60",
     "checkpoints.first.criteria.p99.window.seconds", r"must be zero or positive"),
    ("an infinite window", P99, P99.replace("15m}", "{kind: rolling, seconds: .inf}}"), "seconds: .inf",
     "checkpoints.first.criteria.p99.window.seconds", r"not a finite number"),
    ("a cumulative window with a length", P99, P99.replace("15m}", "{kind: cumulative, seconds: 60}}"),
     "kind: cumulative", "checkpoints.first.criteria.p99.window", r"has no length"),
    ("a rule window longer than the ramp", "    window: 1m\n", "    window: 5h\n", "window: 5h",
     "rules.error_rate.window", r"window 5h plus sustain 3m is longer than the ramp \(1h\): it could never fire"),
    ("a rule that cannot be sustained before the end", "    sustain: 3m\n", "    sustain: 1h\n", "window: 1m",
     "rules.error_rate.window", r"longer than the ramp"),
    ("a checkpoint window longer than its time", P99, P99.replace("15m}", "1h}"), "p99:",
     "checkpoints.first.criteria.p99.window", r"window 1h starts before the ramp when judged at 15m"),
    ("a final-gate window longer than the ramp", "window: cumulative}", "window: 2h}", "window: 2h",
     "final_gate.criteria.error_rate.window", r"window 2h starts before the ramp when judged at 1h"),
    ("a threshold that overflows", "    threshold: 1%\n", "    threshold: 1e400%\n", "1e400%",
     "rules.error_rate.threshold", r"not a finite number \(too large\)"),
    ("a memory-growth threshold that overflows", P99, '{metric: memory_growth, op: "<", threshold: 1e400MB/h, '
     'window: 15m}', "1e400MB", "checkpoints.first.criteria.p99.threshold", r"not a finite number"),
    ("a revenue threshold that overflows", P99, '{metric: revenue_rate, op: ">", threshold: $1e400/min, '
     'window: 15m}', "1e400", "checkpoints.first.criteria.p99.threshold", r"not a finite number"),
    ("a 1 ms scrape interval", "name: minimal\n", "name: minimal\ntelemetry:\n  scrape_interval: 1ms\n",
     "scrape_interval", "telemetry.scrape_interval", r"out of range: expected at least 1s and at most 1h"),
    # a review found scrapes without a health-check round: NaN pool state, so the truth missed every incident
    ("health checks rarer than scrapes", "name: minimal\n",
     "name: minimal\ntelemetry:\n  health_check_interval: 30s\n", "telemetry:", "telemetry",
     r"health_check_interval \(30s\) is longer than scrape_interval \(15s\)"),
    ("a phase of 99999999999h", "    duration: 1h", "    duration: 99999999999h", "duration:", "phases.0.duration",
     r"at most 720h is supported"),
    ("a trillion learners", "slo:", "traffic:\n  learners: 1e12\nslo:", "learners", "traffic.learners",
     r"less than or equal to 20000000"),
    ("a load of 1e300/s", "slo:", "traffic:\n  load: {shape: flat, average: 1e300/s}\nslo:", "load:",
     "traffic.load.average", r"at most 10,000,000/s"),
    ("ten million instances", "slo:", "traffic:\n  service:\n    instances: {baseline: 10000000, canary: 5}\nslo:",
     "instances", "traffic.service.instances", r"needs 1 to 10,000 instances"),
    ("a memory limit that overflows", "slo:", "traffic:\n  service:\n    memory_limit: 1e400GiB\nslo:",
     "memory_limit", "traffic.service.memory_limit", r"not a finite number"),
    ("bursts after the ramp", "slo:", "traffic:\n  load: {shape: bursts, average: 100/s, peak: 200/s, first: 2h}\n"
     "slo:", "load:", "traffic.load.first", r"comes after the ramp ends \(1h\)"),
    ("a fault with an empty duration", "slo:", "faults: ['error-rate:canary:+1%@30m/']\nslo:", "faults:",
     "faults.0", r"nothing after '/'"),
    # a second review found these accepted: a division by zero later (exit 70), criteria or rules that are off
    ("a trend over since-checkpoint at the first checkpoint", P99, '{metric: error_rate, trend: true, op: "<", '
     'threshold: 1.5, window: since_checkpoint}', "trend: true", "checkpoints.first.criteria.p99.window",
     r"a trend compares its since-checkpoint window \(15m at 15m\) with the one as long before it"),
    ("a peak longer than a cumulative window", P99, '{metric: p99, peak: 20m, op: "<", threshold: 200ms, '
     'window: cumulative}', "peak: 20m", "checkpoints.first.criteria.p99.peak",
     r"peak 20m is longer than the cumulative window \(15m at 15m\)"),
    ("latency buckets no service's P99 fits", "slo:", "telemetry:\n  latency_buckets: [5s]\ntraffic:\n"
     "  revenue: $100/min\nslo:", "traffic:", "traffic", r"no service-time scale gives a P99 of"),   # was rehearse's
    ("a rule on a segment without traffic", "    action: rollback\n", "    action: rollback\n    segment: A\ntraffic:\n"
     "  segments:\n    A: {share: 0%, error_rate: 0.1%}\n    B: {share: 75%, error_rate: 0.1%}\n"
     "    C: {share: 25%, error_rate: 0.1%}\n", "segment: A", "rules.error_rate.segment", r"segment A has no traffic"),
    ("a revenue uplift of -100%", "slo:", "traffic:\n  revenue_uplift: -100%\nslo:", "revenue_uplift",
     "traffic.revenue_uplift", r"expected more than -100%"),
    ("an alerts criterion every count passes", P99, '{metric: alerts, alert_severity: critical, op: ">=", '
     'threshold: 0, window: cumulative}', "alerts", "checkpoints.first.criteria.p99",
     r"'>= 0' always holds: the value lies between 0 and inf"),
    ("a relative spread above the number of segments", P99, '{metric: segment_spread, definition: relative, '
     'op: "<=", threshold: 300%, window: 15m}', "segment_spread", "checkpoints.first.criteria.p99.threshold",
     r"'<= 300%' always holds: the value lies between 0% and 300%.*with 3 segments"),
    # a fourth review found these accepted: a rule every value breaches stopped every ramp (and, alone in a
    # grid, was recommended), a criterion no value passes failed every ramp
    ("a rule every value breaches", '    op: ">"\n    threshold: 1%', '    op: ">="\n    threshold: 0%', "  error_rate:",
     "rules.error_rate", r"'>= 0%' always holds: the value lies between 0% and 100%, so this would be breached at "
     r"every conclusive value \(it would stop every ramp\)"),
    ("a criterion no value passes", P99, '{metric: error_rate, op: "<", threshold: 0%, window: 15m}', "error_rate, op",
     "checkpoints.first.criteria.p99", r"'< 0%' never holds: .* so this could never pass \(every ramp would fail it\)"),
    ("an objective every value meets", 'op: ">", threshold: 1%, window: 5m', 'op: ">=", threshold: 0%, window: 5m',
     "sustain: 5m", "slo.objectives.errors", r"'>= 0%' always holds"),
    # telemetry the default traffic model was checked against first, as not matching its segments A, B, C
    ("an empty segment list", "name: minimal\n", "name: minimal\ntelemetry:\n  segments: []\n", "segments:",
     "telemetry.segments", r"segments is a list of at least one segment name"),
    # a fifth review found these accepted: Python's float() and Decimal() read any Unicode decimal digit
    ("Arabic-Indic digits", "    threshold: 1%\n", "    threshold: \u0660.\u0665%\n", "threshold: \u0660",
     "rules.error_rate.threshold", r"'\u0660' \(arabic-indic digit zero\) is not an ASCII digit; write the number with "
     r"ASCII digits 0-9"),
    ("fullwidth digits", "threshold: 0.5%, window: cumulative", "threshold: \uff10.\uff15%, window: cumulative",
     "\uff10", "final_gate.criteria.error_rate.threshold", r"write the number with ASCII digits 0-9"),
    ("a fullwidth sustain", "    sustain: 3m\n", "    sustain: \uff13m\n", "sustain:", "rules.error_rate.sustain",
     r"'\uff13' \(fullwidth digit three\) is not an ASCII digit"),
    ("a window in Devanagari digits", P99, P99.replace("15m}", "\u0967\u096bm}"), "p99:",
     "checkpoints.first.criteria.p99.window", r"write the number with ASCII digits 0-9"),
    # ... and a boolean read as a count (Python's True is 1): a canary of one instance, one worker
    ("a boolean instance count", "slo:", "traffic:\n  service:\n    instances: {baseline: 45, canary: true}\nslo:",
     "instances", "traffic.service.instances.canary", r"expected a whole number such as 5, got the boolean True"),
    ("a boolean number of workers", "slo:", "traffic:\n  service:\n    workers: true\nslo:", "workers",
     "traffic.service.workers", r"expected a whole number such as 5, got the boolean True"),
    ("a boolean unhealthy_after", "slo:", "traffic:\n  service:\n    unhealthy_after: yes\nslo:", "unhealthy_after",
     "traffic.service.unhealthy_after", r"expected a whole number such as 5, got the boolean True"),
    ("a boolean number of learners", "slo:", "traffic:\n  learners: true\nslo:", "learners", "traffic.learners",
     r"expected a whole number such as 5, got the boolean True"),
    ("a percentage of learners", "slo:", "traffic:\n  learners: 100%\nslo:", "learners", "traffic.learners",
     r"expected a whole number such as 5, got '100%'"),
    ("an instance count in fullwidth digits", "slo:", "traffic:\n  service:\n    instances: {baseline: 45, "
     "canary: \uff15}\nslo:", "instances", "traffic.service.instances.canary", r"write the number with ASCII digits"),
    ("a boolean max_missing_scrapes", "final_gate:\n  at: 1h\n",
     "final_gate:\n  at: 1h\n  max_missing_scrapes: true\n", "max_missing_scrapes", "final_gate.max_missing_scrapes",
     r"expected a whole number such as 5, got the boolean True"),
    # ... and a percentage as a count: 5% of alerts read as 0.05 alerts (a count has no unit, as a latency has no %)
    ("a percentage of alerts", "threshold: 0.5%, window: cumulative}", "threshold: 0.5%, window: cumulative}\n"
     '    critical_incidents: {metric: alerts, alert_severity: critical, op: "<=", threshold: 5%, window: cumulative}',
     "critical_incidents", "final_gate.criteria.critical_incidents.threshold",
     r"cannot read '5%' as a count of alerts: expected a plain number such as 0 or 2 \(a count takes no unit\)"),
    ("alerts with a unit", P99, '{metric: alerts, alert_severity: warning, op: "<", threshold: 2ms, window: 15m}',
     "alerts", "checkpoints.first.criteria.p99.threshold", r"cannot read '2ms' as a count of alerts"),
    ("a percentage of requests", "    action: rollback\n", "    action: rollback\n  worse: {metric: error_rate, "
     'compare: baseline, as: ratio, op: ">", threshold: 1.5, min_requests: 100%, window: 1m}\n', "worse:",
     "rules.worse.min_requests", r"expected a whole number such as 5, got '100%' \(a number of requests\)"),
]


@pytest.mark.parametrize("what,old,new,fragment,field,pattern", CASES, ids=[c[0] for c in CASES])
def test_validate_refuses_with_a_located_message(tmp_path, capsys, what, old, new, fragment, field, pattern):
    text = broken(old, new)
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    assert main(["validate", str(path)]) == 3
    err = capsys.readouterr().err
    line = line_of(text, fragment)
    assert re.search(rf"plan\.yaml:{line}: {re.escape(field)}: .*{pattern}", err), err


@pytest.mark.parametrize("threshold, expected", [("0", 0.0), ("1", 1.0), ("2", 2.0), ("'2'", 2.0), ("1.5", 1.5)])
def test_a_count_of_alerts_is_a_plain_number(threshold, expected):
    text = broken(P99, '{metric: alerts, alert_severity: critical, op: "<=", threshold: %s, window: 15m}' % threshold)
    assert plan_from_text(text, "plan.yaml").checkpoints["first"].criteria["p99"].threshold == expected


@pytest.mark.parametrize("fault,pattern", [
    ("error-rate:canary:+1%@1h/", r"nothing after '/'"),
    ("memory-leak:canary:1e400MB/h@1h", r"not a finite number"),
])
def test_rehearse_refuses_a_bad_fault_with_exit_2(tmp_path, capsys, fault, pattern):
    path = tmp_path / "plan.yaml"
    path.write_text(MINIMAL)
    with pytest.raises(SystemExit) as exit_:
        main(["rehearse", str(path), "--fault", fault])
    assert exit_.value.code == 2
    assert re.search(pattern, capsys.readouterr().err)


def test_a_kayenta_lifetime_longer_than_a_ramp_is_refused_at_once(tmp_path, capsys):
    """Every analysis was listed before the lifetime was compared with the ramp: PT99999999999999999999H hung
    ``validate`` and ``import kayenta`` (PT1000000H took 15 s and 940 MB)."""
    from tests.sim_helpers import SCENARIOS

    text = (SCENARIOS / "ramp-phase-50k-kayenta.yaml").read_text()
    assert "lifetimeDuration: PT4H" in text
    path = tmp_path / "plan.yaml"
    path.write_text(text.replace("lifetimeDuration: PT4H", "lifetimeDuration: PT99999999999999999999H"))
    assert main(["validate", str(path)]) == 3
    err = capsys.readouterr().err
    assert re.search(r"plan\.yaml:\d+: kayenta\.stage: lifetimeDuration: the warm-up and the lifetime last "
                     r"3\.6e\+23 s, longer than the 30 days a simulated ramp can last", err), err
