"""Malformed plans: each gives one clear error naming the file, line and field."""
import re
from pathlib import Path

import pytest

from rampsim.cli import main
from rampsim.plan import PlanError, load_plan, plan_from_text, with_overrides

REFERENCE = Path(__file__).parent.parent / "scenarios" / "ramp-phase-50k.yaml"

MINIMAL = """\
name: minimal
phases:
  - weight: 10%
    duration: 1h
rules:
  error_rate:
    metric: error_rate
    op: ">"
    threshold: 1%
    window: 1m
    sustain: 3m
    action: rollback
checkpoints:
  first:
    at: 15m
    criteria:
      p99: {metric: p99, op: "<", threshold: 200ms, window: 15m}
final_gate:
  at: 1h
  criteria:
    error_rate: {metric: error_rate, op: "<", threshold: 0.5%, window: cumulative}
slo:
  objectives:
    errors: {metric: error_rate, op: ">", threshold: 1%, window: 5m, sustain: 5m}
"""


def broken(old: str, new: str) -> str:
    assert old in MINIMAL, old
    return MINIMAL.replace(old, new, 1)


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


def test_minimal_plan_is_valid():
    plan = plan_from_text(MINIMAL, "minimal.yaml")
    assert plan.rules["error_rate"].threshold == 0.01
    assert plan.checkpoints["first"].criteria["p99"].quantile == 0.99


CASES = [
    # (what, old, new, line fragment, field, message pattern)
    ("typo in a key", "    threshold: 1%", "    threshhold: 1%", "threshhold",
     "rules.error_rate.threshhold", r"unknown field 'threshhold'; did you mean 'threshold'\?"),
    ("unknown metric", "    metric: error_rate\n", "    metric: eror_rate\n", "eror_rate",
     "rules.error_rate.metric", r"unknown metric 'eror_rate'; known metrics: error_rate"),
    ("negative duration", "    sustain: 3m", "    sustain: -3m", "sustain",
     "rules.error_rate.sustain", r"must be zero or positive, got '-3m'"),
    ("checkpoint after the end", "    at: 15m", "    at: 2h", "at: 2h",
     "checkpoints.first.at", r"checkpoint 'first' at 2h is not before the final gate at 1h"),
    ("unknown unit", "    window: 1m\n", "    window: 200 mins\n", "200 mins",
     "rules.error_rate.window", r"unknown unit 'mins' in '200 mins'"),
    ("threshold out of range", "threshold: 0.5%, window: cumulative", "threshold: 150%, window: cumulative",
     "150%", "final_gate.criteria.error_rate.threshold", r"'150%' is out of range for error_rate"),
    ("duplicate names", "checkpoints:\n  first:", "checkpoints:\n  first:\n    at: 10m\n  first:  # again", "# again",
     "checkpoints.first", r"duplicate key 'first' \(first written on line \d+\)"),
    ("latency threshold in percent", "threshold: 200ms, window: 15m", "threshold: 2%, window: 15m", "p99:",
     "checkpoints.first.criteria.p99.threshold", r"cannot read '2%' as a duration"),
    ("missing comparator", '    op: ">"\n    threshold: 1%', "    threshold: 1%", "  error_rate:\n    metric",
     "rules.error_rate.op", r"missing required field"),
    ("unknown comparator", '    op: ">"\n', '    op: "=>"\n', '"=>"',
     "rules.error_rate.op", r"Input should be '<', '<=', '>' or '>=', got '=>'"),
    ("window off the scrape grid", "    window: 1m\n", "    window: 20s\n", "window: 20s",
     "rules.error_rate.window", r"window 20s is not a whole number of scrape intervals \(15s\)"),
    ("sustain off the scrape grid", "    sustain: 3m", "    sustain: 76s", "sustain: 76s",
     "rules.error_rate.sustain", r"sustain 1m16s is not a whole number of scrape intervals \(15s\): a breach is judged "
                                 r"at scrapes, so it would act as 1m30s"),
    ("checkpoint between scrapes", "    at: 15m", "    at: 15m7s", "at: 15m7s",
     "checkpoints.first.at", r"15m7s is not a whole number of scrape intervals \(15s\)"),
    ("unknown segment", "{metric: p99, op:", "{metric: p99, segment: D, op:", "p99:",
     "checkpoints.first.criteria.p99.segment", r"unknown segment 'D'; segments are A, B, C"),
    ("advance on missing data", "final_gate:\n  at: 1h", "final_gate:\n  at: 1h\n  on_inconclusive: advance",
     "on_inconclusive: advance", "final_gate.on_inconclusive", r"on_inconclusive cannot be 'advance'"),
    ("unknown action", "    action: rollback", "    action: abort", "action: abort",
     "rules.error_rate.action", r"Input should be 'warn', 'escalate', 'hold' or 'rollback', got 'abort'"),
]


@pytest.mark.parametrize("what, old, new, fragment, field, pattern", CASES, ids=[c[0] for c in CASES])
def test_malformed_plan_gives_located_error(what, old, new, fragment, field, pattern):
    text = broken(old, new)
    with pytest.raises(PlanError) as caught:
        plan_from_text(text, "plan.yaml")
    message = str(caught.value)
    expected_line = line_of(text, fragment.splitlines()[0])
    located = re.compile(rf"^plan\.yaml:(\d+): (?:{re.escape(field)}: )?{pattern}", re.M)
    match = located.search(message)
    assert match, f"{what}: {message!r} does not match {located.pattern!r}"
    assert abs(int(match.group(1)) - expected_line) <= 1, (what, message, expected_line)
    assert f"{field}: " in message


def test_all_problems_are_reported_at_once():
    text = broken("    sustain: 3m", "    sustain: -3m").replace("window: 15m}", "window: 15 mins}")
    with pytest.raises(PlanError) as caught:
        plan_from_text(text, "plan.yaml")
    assert len(caught.value.problems) == 2
    assert any("sustain" in p for p in caught.value.problems)
    assert any("15 mins" in p for p in caught.value.problems)


def test_not_yaml_is_located():
    with pytest.raises(PlanError, match=r"^plan\.yaml:4: not valid YAML: .* started on line 3"):
        plan_from_text("name: x\nphases:\n  - weight: [10%\n", "plan.yaml")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(PlanError, match="nowhere.yaml: cannot read"):
        load_plan(tmp_path / "nowhere.yaml")


def test_validate_command_reports_errors_with_exit_code(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(broken("    window: 1m\n", "    window: 200 mins\n"))
    assert main(["validate", str(path)]) == 3
    err = capsys.readouterr().err
    assert f"{path}:10: rules.error_rate.window: unknown unit 'mins'" in err


def test_overrides_revalidate_and_locate():
    plan = load_plan(REFERENCE)
    stricter = with_overrides(plan, {"rules.error_rate_rollback.threshold": "0.3%", "rules.*.sustain": "1m"})
    assert stricter.rules["error_rate_rollback"].threshold == pytest.approx(0.003)
    assert all(rule.sustain == 60 for rule in stricter.rules.values())
    assert plan.rules["error_rate_rollback"].threshold == pytest.approx(0.005)
    with pytest.raises(PlanError, match=r"ramp-phase-50k.yaml:\d+: rules.error_rate_rollback.threshold: "
                                        r"unknown unit 'mins'"):
        with_overrides(plan, {"rules.error_rate_rollback.threshold": "3 mins"})
    with pytest.raises(KeyError, match="no field 'rules.nope'"):
        with_overrides(plan, {"rules.nope.threshold": "1%"})
    everywhere = with_overrides(plan, {"checkpoints.*.criteria.availability.threshold": "99.5%"})
    assert [c.criteria["availability"].threshold for c in everywhere.checkpoints.values() if "availability" in
            c.criteria] == [0.995, 0.995, 0.995]
    assert "availability" not in everywhere.checkpoints["cp2_30m"].criteria
    with pytest.raises(KeyError, match="matched nothing"):
        with_overrides(plan, {"checkpoints.*.criteria.nope.threshold": "1%"})


def test_scheduled_weights_follow_the_phases_at_and_between_boundaries():
    plan = plan_from_text(MINIMAL.replace("""phases:
  - weight: 10%
    duration: 1h""", """phases:
  - {weight: 1%, duration: 15m}
  - {weight: 10%, duration: 30m}
  - {weight: 50%, duration: 15m}"""), "phases.yaml")
    import numpy as np

    seconds = np.array([0.0, 899.0, 900.0, 2699.0, 2700.0, 3599.0, 3600.0, 9999.0])
    assert plan.weights_at(seconds).tolist() == [0.01, 0.01, 0.1, 0.1, 0.5, 0.5, 0.5, 0.5]
    assert [plan.weight_at(s) for s in seconds] == plan.weights_at(seconds).tolist()


def test_a_repeated_key_is_reported_with_every_other_problem_of_the_plan(tmp_path, capsys):
    from rampsim.cli import main

    path = tmp_path / "plan.yaml"
    path.write_text("name: x\nname: y\nphases:\n  - weight: 200%\n    duration: 1h\nfinal_gate: {at: 1h}\n"
                    "slo: {objectives: {e: {metric: error_rate, op: '>', threshold: 1%}}}\n")
    assert main(["validate", str(path)]) == 3
    err = capsys.readouterr().err
    assert f"{path}:2: name: duplicate key 'name' (first written on line 1)" in err
    assert f"{path}:4: phases.0.weight:" in err and "2 problem(s)" in err


def test_an_slo_without_objectives_is_refused(tmp_path, capsys):
    """``slo: {objectives: {}}`` validated: the ground truth then called every scenario healthy (error regressions
    listed as 'healthy' by validate --mix, every stop a false rollback)."""
    from rampsim.cli import main

    path = tmp_path / "plan.yaml"
    path.write_text(MINIMAL.replace(MINIMAL[MINIMAL.index("slo:"):], "slo: {objectives: {}}\n"))
    assert main(["validate", str(path)]) == 3
    err = capsys.readouterr().err
    assert f"{path}:{MINIMAL[:MINIMAL.index('slo:')].count(chr(10)) + 1}: slo.objectives: an SLO without " \
           "objectives calls every scenario healthy" in err, err


def test_validate_checks_mixes_against_the_plan_and_names_each_problem(tmp_path, capsys):
    from tests.sim_helpers import MIX_SMALL, VALIDATION

    assert main(["validate", str(VALIDATION), "--mix", str(MIX_SMALL)]) == 0
    out = capsys.readouterr().out
    assert "valid mix 'small'" in out
    assert re.search(r"healthy\s+60\.0%\s+healthy", out) and re.search(r"error-regression\s+25\.0%\s+incident", out)
    bad = tmp_path / "mix.yaml"
    bad.write_text("scenarios:\n  healthy: {weight: 50%}\n  broken:\n    weight: 5%\n    faults: ['eror-rate:canary:+1%@1m']\n"
                   "  also: {weight: -3%}\n")
    assert main(["validate", str(VALIDATION), "--mix", str(MIX_SMALL), "--mix", str(bad)]) == 3
    err = capsys.readouterr().err
    assert f"{bad}: 2 problem(s)" in err and "mix.yaml:6: scenarios.also.weight" in err, err
    # a mix given where the plan goes: a usage error that says how to check it
    assert main(["validate", str(MIX_SMALL)]) == 2
    assert f"validate PLAN --mix {MIX_SMALL}" in capsys.readouterr().err


def test_a_short_ramp_without_a_traffic_section_is_not_refused_for_the_default_load(tmp_path, capsys):
    """The default load (the runbook's, bursts from 20 minutes in) is not the user's: a 15-minute ramp that
    writes no traffic: section simulates it without a burst; a bursts load the plan writes is still checked."""
    short = MINIMAL.replace("duration: 1h", "duration: 15m").replace("at: 15m", "at: 10m") \
        .replace("window: 15m}", "window: 10m}").replace("at: 1h", "at: 15m")
    plan = tmp_path / "short.yaml"
    plan.write_text(short)
    assert main(["validate", str(plan)]) == 0
    plan.write_text(short + "traffic:\n  load: {shape: bursts, average: 100/s, peak: 200/s}\n")
    assert main(["validate", str(plan)]) == 3
    assert f"short.yaml:{short.count(chr(10)) + 2}: traffic.load.first: the first burst at 20m comes after the ramp " \
           "ends (15m)" in capsys.readouterr().err


ZERO_CANARY = """\
name: zero-canary
phases: [{name: ramp, weight: 0%, duration: 20m}]
rules:
  error_rate: {metric: error_rate, op: ">=", threshold: 0.5%, window: 1m, sustain: 3m, action: rollback}
  cpu: {metric: cpu, op: ">", threshold: 90%, window: 1m}
final_gate:
  at: 20m
  criteria:
    no_alerts: {metric: alerts, alert_severity: warning, op: "<", threshold: 1, window: cumulative}
slo:
  objectives:
    error_rate: {metric: error_rate, op: ">", threshold: 0.5%, window: 5m, sustain: 5m}
"""


def test_an_arm_no_phase_gives_traffic_is_refused_where_a_measure_reads_it(tmp_path, capsys):
    """Every phase at 0%: the canary's rules and objectives never have a value, and a rehearsal with a +20% canary
    error fault auto-advanced to 100% (the final gate read only alerts), "agreeing with the ground truth". Every
    phase at 100%: a comparison with the baseline, likewise. Refused at the measure's arm or compare field (gauges
    are left alone: an idle instance still reports); a phase at another weight leaves the plan valid."""
    path = tmp_path / "zero.yaml"
    path.write_text(ZERO_CANARY)
    assert main(["validate", str(path)]) == 3
    err = capsys.readouterr().err
    message = "the canary has no traffic (every phase at 0%): this would never have a value to judge"
    assert f"zero.yaml:4: rules.error_rate.arm: {message}" in err
    assert f"zero.yaml:12: slo.objectives.error_rate.arm: {message}" in err
    assert "2 problem(s)" in err and "rules.cpu" not in err, err
    path.write_text(ZERO_CANARY.replace("phases: [{name: ramp, weight: 0%, duration: 20m}]",
                                        "phases: [{weight: 0%, duration: 5m}, {weight: 5%, duration: 15m}]"))
    assert main(["validate", str(path)]) == 0
    capsys.readouterr()
    full = ZERO_CANARY.replace("weight: 0%", "weight: 100%").replace(
        "error_rate: {metric: error_rate, op: \">=\"", "error_rate: {metric: error_rate, compare: baseline, "
        "as: difference, op: \">=\"")
    path.write_text(full)
    assert main(["validate", str(path)]) == 3
    err = capsys.readouterr().err
    assert "zero.yaml:4: rules.error_rate.compare: the baseline has no traffic (every phase at 100%): this would " \
           "never have a value to judge" in err and "1 problem(s)" in err, err


def test_a_plan_given_as_the_mix_is_named_so_and_a_plan_field_in_a_mix_is_not_misspelt(tmp_path, capsys):
    assert main(["validate", str(REFERENCE), "--mix", str(REFERENCE)]) == 3
    assert f"{REFERENCE}: a plan, not a scenario mix (a mix has 'name' and 'scenarios')" in capsys.readouterr().err
    mix = tmp_path / "mix.yaml"
    mix.write_text("name: m\nscenarios:\n  healthy: {weight: 1, faults: []}\nphases: []\n")
    assert main(["validate", str(REFERENCE), "--mix", str(mix)]) == 3
    err = capsys.readouterr().err
    assert "mix.yaml:4: phases: unknown field 'phases' here" in err and "did you mean" not in err


@pytest.mark.parametrize("old, new, field, message", [
    ("op: \">\"\n    threshold: 1%", "op: \">\"\n    threshold: 100%", "rules.error_rate", "'> 100%' never holds"),
    ("op: \">\"\n    threshold: 1%", "op: \"<\"\n    threshold: 0%", "rules.error_rate", "'< 0%' never holds"),
    ("errors: {metric: error_rate, op: \">\", threshold: 1%", "errors: {metric: error_rate, op: \">\", threshold: 100%",
     "slo.objectives.errors", "'> 100%' never holds"),
    ("error_rate: {metric: error_rate, op: \"<\", threshold: 0.5%", "error_rate: {metric: error_rate, op: \"<=\", "
     "threshold: 100%", "final_gate.criteria.error_rate", "'<= 100%' always holds"),
    ("p99: {metric: p99, op: \"<\", threshold: 200ms", "p99: {metric: p99, op: \">=\", threshold: 0ms",
     "checkpoints.first.criteria.p99", "'>= 0ms' always holds"),
])
def test_a_condition_that_switches_its_rule_off_is_refused(tmp_path, capsys, old, new, field, message):
    """A rule or SLO objective no value can breach, a criterion no value can fail: refused with file, line and
    field, never accepted as a rule that is silently off."""
    assert old in MINIMAL
    path = tmp_path / "plan.yaml"
    path.write_text(MINIMAL.replace(old, new))
    assert main(["validate", str(path)]) == 3
    err = capsys.readouterr().err
    assert re.search(rf"plan.yaml:\d+: {re.escape(field)}: {re.escape(message)}: the value lies between", err), err
    assert main(["validate", str(path)]) == 3 and "could never" in capsys.readouterr().err


LATENCY_RULE = "    action: rollback\n  slow:\n    metric: p99\n    op: \">\"\n    threshold: {}\n" \
               "    window: 1m\n    sustain: 1m\n    action: rollback\n"


@pytest.mark.parametrize("old, new, fragment, field, message", [
    ("    action: rollback\n", LATENCY_RULE.format("10s"), "threshold: 10s", "rules.slow.threshold",
     "'> 10s' never holds"),
    ("    action: rollback\n", LATENCY_RULE.format("5s"), "threshold: 5s", "rules.slow.threshold", "'> 5s' never holds"),
    ("threshold: 200ms", "threshold: 10s", "threshold: 10s", "checkpoints.first.criteria.p99.threshold",
     "'< 10s' always holds"),
    ("errors: {metric: error_rate, op: \">\", threshold: 1%", "errors: {metric: p99, op: \">\", threshold: 6s",
     "threshold: 6s", "slo.objectives.errors.threshold", "'> 6s' never holds"),
])
def test_a_latency_condition_beyond_the_largest_bucket_is_refused(tmp_path, capsys, old, new, fragment, field,
                                                                  message):
    """histogram_quantile is never above the largest finite bucket bound (5s by default): a latency rule or
    SLO objective above it could never be breached, a criterion asking for less than it could never fail."""
    path = tmp_path / "plan.yaml"
    path.write_text(broken(old, new))
    assert main(["validate", str(path)]) == 3
    err = capsys.readouterr().err
    line = line_of(path.read_text(), fragment)
    assert f"plan.yaml:{line}: {field}: {message}: the value lies between 0ms and 5s" in err, err
    assert "never exceeds the largest finite bucket (5s)" in err


COMPARED_RULE = "    action: rollback\n  worse:\n    metric: error_rate\n    compare: baseline\n    as: difference\n" \
                "    min_requests: {}\n    op: \">\"\n    threshold: 0.5%\n    window: 1m\n    sustain: 1m\n" \
                "    action: rollback\n"


def test_a_min_requests_no_window_can_hold_is_refused(tmp_path, capsys):
    """At 10M requests/s a 1-minute window holds 6e8 requests: 1e15 would keep the comparison inconclusive
    for ever; 6e8 itself is accepted."""
    assert plan_from_text(broken("    action: rollback\n", COMPARED_RULE.format("6e8"))).rules["worse"].min_requests \
        == 600_000_000
    path = tmp_path / "plan.yaml"
    path.write_text(broken("    action: rollback\n", COMPARED_RULE.format("1e15")))
    assert main(["validate", str(path)]) == 3
    err = capsys.readouterr().err
    assert f"plan.yaml:{line_of(path.read_text(), 'min_requests: 1e15')}: rules.worse.min_requests: " \
           "1,000,000,000,000,000 requests are more than a 1m window can hold at 10,000,000 requests/s" in err, err


def test_rollback_and_advance_at_the_ends_are_kept_beside_a_phase_already_there():
    """Refused when they equal a phase's weight (they would change nothing), except at the ends: an imported Argo or
    Flagger plan may start at 0% or reach 100%, and rollback 0% / advance 100% are still the actions' ends."""
    plan = plan_from_text(MINIMAL.replace("  - weight: 10%\n    duration: 1h\n", "  - weight: 0%\n    duration: 15m\n"
                                          "  - weight: 10%\n    duration: 30m\n  - weight: 100%\n    duration: 15m\n"))
    assert (plan.actions.rollback, plan.actions.advance) == (0.0, 1.0)
    assert plan_from_text(broken("slo:", "actions: {rollback: 9.9%, advance: 10.1%}\nslo:")).actions.rollback == 0.099


def test_a_latency_condition_the_histogram_can_reach_is_kept():
    """At the largest bucket bound: '>= 5s' can fire (the quantile sits in the +Inf bucket), '< 5s' can fail;
    with a larger bucket the same 10s rule is valid."""
    assert plan_from_text(broken("    action: rollback\n", LATENCY_RULE.format("5s").replace('">"', '">="'))).rules
    assert plan_from_text(broken("threshold: 200ms", "threshold: 5s")).checkpoints["first"]
    wider = broken("    action: rollback\n", LATENCY_RULE.format("10s")) + \
        "telemetry:\n  latency_buckets: [100ms, 1s, 30s, +Inf]\n"
    assert plan_from_text(wider).rules["slow"].threshold == 10.0


def test_a_condition_that_holds_at_its_bound_is_kept():
    plan = plan_from_text(MINIMAL.replace('op: ">"\n    threshold: 1%', 'op: ">="\n    threshold: 100%'))
    assert plan.rules["error_rate"].threshold == 1.0


# MINIMAL without its latency criterion (which the buckets below would refuse first)
WITHOUT_P99 = MINIMAL.replace('p99: {metric: p99, op: "<", threshold: 200ms, window: 15m}',
                              'errors: {metric: error_rate, op: "<", threshold: 1%, window: 15m}')


@pytest.mark.parametrize("telemetry, field, message", [
    ("segments: [A, B]", "telemetry.segments", "the plan has no traffic: section, and the default traffic model's "
     "segments A, B, C do not match these A, B: add a traffic: section with their shares and error rates"),
    ("latency_buckets: [1ms, 2ms, 3ms]", "telemetry.latency_buckets", "the plan has no traffic: section, and the "
     "default traffic model's service (P99 46ms) cannot be calibrated with these buckets (no service-time scale"),
])
def test_telemetry_the_default_traffic_model_does_not_fit_is_refused_where_it_is_written(tmp_path, capsys, telemetry,
                                                                                          field, message):
    """Without a traffic: section, the problems of the default model were put on 'traffic' at line 1, a section the
    file does not have; they belong to the telemetry field the default does not fit. With a traffic: section,
    the section is still the one named."""
    path = tmp_path / "plan.yaml"
    text = WITHOUT_P99.replace("name: minimal\n", f"name: minimal\ntelemetry:\n  {telemetry}\n")
    path.write_text(text)
    assert main(["validate", str(path)]) == 3
    err = capsys.readouterr().err
    assert f"plan.yaml:{line_of(text, telemetry)}: {field}: {message}" in err, err
    assert not re.search(r": traffic[.:]", err), err   # no problem named at a traffic field
    assert main(["rehearse", str(path), "--out", str(tmp_path / "out")]) == 3
    assert f"{field}: {message}" in capsys.readouterr().err
    path.write_text(text + "traffic:\n  revenue: $100/min\n")
    assert main(["validate", str(path)]) == 3
    written = "traffic.segments: segments A, B, C do not match" if "segments" in field else \
        "traffic: no service-time scale gives a P99 of 46ms"
    assert f"plan.yaml:{line_of(text + 'traffic:', 'traffic:')}: {written}" in capsys.readouterr().err


def test_a_mix_given_as_the_plan_is_named_so_by_every_command(capsys):
    """A review found sweep, check and explain answering a mix given as the plan with 'final_gate: missing required
    field ... scenarios: unknown field'."""
    from tests.sim_helpers import MIX_SMALL

    for command in (["sweep", str(MIX_SMALL), "--mix", str(MIX_SMALL), "--replicates", "2"], ["explain", str(MIX_SMALL)],
                    ["check", str(MIX_SMALL), "--max-false-rollback", "5%"]):
        assert main(command) == 3
        assert f"{MIX_SMALL}: a scenario mix, not a plan" in capsys.readouterr().err, command


def test_a_scenario_written_alone_is_weight_one_without_faults_and_an_endless_weight_is_refused(tmp_path, capsys):
    from tests.sim_helpers import VALIDATION

    mix = tmp_path / "mix.yaml"
    mix.write_text("name: m\nscenarios:\n  healthy:\n  big:\n    weight: 3\n    faults: ['error-rate:canary:+2%@5m']\n")
    assert main(["validate", str(VALIDATION), "--mix", str(mix)]) == 0
    assert re.search(r"healthy\s+25\.0%\s+healthy", capsys.readouterr().out)
    mix.write_text("name: m\nscenarios:\n  healthy: {weight: 1e308}\n  big:\n    weight: 1e308\n"
                   "    faults: ['error-rate:canary:+2%@5m']\n")
    assert main(["validate", str(VALIDATION), "--mix", str(mix)]) == 3
    err = capsys.readouterr().err
    assert "mix.yaml:3: scenarios.healthy.weight: weight 1e+308: a relative weight is at most 1e+12" in err
    assert "mix.yaml:5: scenarios.big.weight" in err


def test_a_value_where_a_mapping_belongs_says_so_without_naming_a_class(tmp_path, capsys):
    """A review read 'Input should be a valid dictionary or instance of _ScenarioModel' (and '... of Rule')."""
    from tests.sim_helpers import VALIDATION

    mix = tmp_path / "mix.yaml"
    mix.write_text("name: m\nscenarios:\n  healthy: 3\n")
    assert main(["validate", str(VALIDATION), "--mix", str(mix)]) == 3
    err = capsys.readouterr().err
    assert "mix.yaml:3: scenarios.healthy: expected a mapping of fields (key: value), got a number 3" in err
    assert "instance of" not in err
    with pytest.raises(PlanError, match=r"rules\.error_rate: expected a mapping of fields \(key: value\), got text '1'"):
        with_overrides(plan_from_text(MINIMAL, "plan.yaml"), {"rules.error_rate": "1"})


@pytest.mark.parametrize("suffix, text, field, line", [
    (".yaml", 'name: "ramp \\e[2J phase"\n', "name", 1),
    (".yaml", 'phases:\n  - {weight: 10%, duration: 1h}\nrules:\n  "bad\\x9bname": {metric: error_rate}\n',
     "rules.bad\\x9bname", 4),
    (".json", '{\n  "name": "a\\u001b]0;title\\u0007b"\n}\n', "name", 2),
])
def test_a_control_character_in_the_plan_is_refused_with_its_place(tmp_path, capsys, suffix, text, field, line):
    """Names and titles reach terminals, reports and web pages: an escape sequence in a plan cleared the screen,
    set the window title or hid the verdict's lines."""
    path = tmp_path / f"plan{suffix}"
    path.write_text(text)
    assert main(["validate", str(path)]) == 3
    err = capsys.readouterr().err
    assert f"{path}:{line}: {field}: holds the control character U+00" in err and "which terminals act on" in err


def test_tabs_and_line_breaks_in_plan_text_are_text(tmp_path, capsys):
    plan = tmp_path / "plan.yaml"
    plan.write_text(MINIMAL.replace("name: minimal", 'name: "minimal\\tplan"\ndescription: "two\\nlines\\r"'))
    assert main(["validate", str(plan)]) == 0, capsys.readouterr().err


def test_a_control_character_in_a_teams_manifest_does_not_stop_lint(tmp_path, capsys):
    """Only rampsim's own files (plans, mixes, namings) refuse control characters: a ConfigMap's coloured banner
    beside a team's AnalysisTemplate made the file unlintable (exit 3). Printed, they are escapes."""
    from tests.test_gates_simulated import SUCCESS_RATE

    manifest = tmp_path / "gate.yaml"
    manifest.write_text(SUCCESS_RATE.replace("- name: error-ratio", "- name: \"error\\e[2J-ratio\"") +
                        '---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: banner}\ndata:\n'
                        '  motd: "\\e[1;32mWelcome\\e[0m"\n')
    assert main(["lint", "--no-simulate", str(manifest)]) in (0, 1)
    captured = capsys.readouterr()
    assert "\x1b" not in captured.out + captured.err and "control character" not in captured.err
    assert "metric 'error\\x1b[2J-ratio'" in captured.out


@pytest.mark.parametrize("harmonics, where, message", [
    ("{7h: {amplitude: 5%}}", "traffic.load.harmonics",
     "harmonic period '7h' must divide the day into 2 to 24 whole cycles"),
    ("{30m: {amplitude: 5%}}", "traffic.load.harmonics", "must divide the day into 2 to 24 whole cycles"),
    ("{12 hours: {amplitude: 5%}}", "traffic.load.harmonics", "unknown unit 'hours' in '12 hours'"),
    ("{12h: {amplitude: 150%}}", "traffic.load.harmonics.12h.amplitude", "150%"),
    ("{12h: {amplitude: 45%, peak_at: '10:00'}}", "traffic.load",
     "the daily shape (the 24-hour cosine and its harmonics) falls to -0."),
    ("{12h: {amplitude: 5%, phase: 3h}}", "traffic.load.harmonics.12h.phase", ""),
    ("{12h: {amplitude: 5%}, 720m: {amplitude: 5%}}", "traffic.load.harmonics",
     "harmonics '12h' and '720m' are one period: write it once"),
])
def test_a_daily_shape_that_cannot_be_is_refused_where_it_is_written(tmp_path, capsys, harmonics, where, message):
    """A harmonic whose period does not divide the day, an amplitude above the average, or a shape whose trough
    goes below zero (the 24-hour cosine at 1.6x the average troughs at 0.4 at 04:00, where a 12-hour cycle of 45%
    peaking at 10:00 troughs too: -0.05) is refused, located; a 12-hour cycle of 5% is a valid plan."""
    load = ("traffic:\n  load:\n    shape: diurnal\n    average: 100/s\n    peak: 160/s\n    peak_at: '16:00'\n"
            f"    harmonics: {harmonics}\n")
    plan = tmp_path / "shape.yaml"
    plan.write_text(MINIMAL + load)
    assert main(["validate", str(plan)]) == 3
    err = capsys.readouterr().err
    assert f"shape.yaml:{MINIMAL.count(chr(10)) + 2 if where == 'traffic.load' else MINIMAL.count(chr(10)) + 7}: " \
           f"{where}" in err and message in err, err
    plan.write_text(MINIMAL + load.replace(harmonics, "{12h: {amplitude: 5%, peak_at: '03:00'}}"))
    assert main(["validate", str(plan)]) == 0


@pytest.mark.parametrize("load, message", [
    ("{shape: flat, average: 100/s, harmonics: {12h: {amplitude: 5%}}}",
     "a flat load does not read 'harmonics' (shape 'diurnal' does): drop it or choose that shape"),
    ("{shape: diurnal, average: 100/s, peak: 150/s, first: 5m, every: 10m}",
     "a diurnal load does not read 'first', 'every' (shape 'bursts' does): drop them or choose that shape"),
    ("{shape: bursts, average: 100/s, peak: 150/s, first: 5m, peak_at: '16:00'}",
     "a bursts load does not read 'peak_at' (shape 'diurnal' does)"),
    ("{shape: diurnal, average: 100/s, peak: 150/s, peak_at: 30h}",
     "'peak_at' is a clock time of day, below 24:00 (not 30h)"),
])
def test_a_load_field_its_shape_does_not_read_is_refused(tmp_path, capsys, load, message):
    """Burst timings under a diurnal load (or a daily peak under bursts) were ignored without a word: the user
    believed the bursts simulated. A clock time past midnight of the next day was read modulo a day."""
    plan = tmp_path / "load.yaml"
    plan.write_text(MINIMAL + f"traffic:\n  load: {load}\n")
    assert main(["validate", str(plan)]) == 3
    err = capsys.readouterr().err
    assert f"load.yaml:{MINIMAL.count(chr(10)) + 2}: traffic.load" in err and message in err, err
