"""``rampsim lint``: a condition or a range that no value can fail (H5c, FH7) or pass (H5a, FH8), judged on every
value the query or the builtin check can give; and a NaN in an Argo condition named for what it is (H7, not H1)."""
from __future__ import annotations

import textwrap

import pytest

from rampsim.gates.lint import lint_argo, lint_flagger, lint_gates, lint_text
from tests.gates_helpers import argo_gate, flagger_gate
from tests.test_gates_lint import canary

TEMPLATE = """
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: gate}
spec:
  metrics:
  - name: m
    interval: 1m
CONDITIONS
    provider:
      prometheus:
        query: QUERY
"""
RATIO = "sum(rate(http_requests_total{code!~'5..'}[1m])) / sum(rate(http_requests_total[1m]))"
"""A success rate: a ratio of rates, never negative."""
GAUGE = "avg(node_temperature_celsius)"
"""A raw series: any value, negative ones included."""
ERRORS = "sum(rate(http_requests_total{code=~'5..'}[1m])) / sum(rate(http_requests_total[1m]))"
"""An error ratio: never negative."""
GUARDED_ABOVE_MINUS_ONE = "failureCondition: len(result) > 0 && result[0] > -1.00"
"""A failure condition every value meets on a query never negative (the real gate Q42-KoraD/GitOps has it)."""


def template(conditions: str, query: str = RATIO) -> str:
    """:data:`TEMPLATE` with ``conditions`` (one ``field: text`` a line) and ``query``."""
    lines = "".join(f"    {line}\n" for line in conditions.splitlines())
    return TEMPLATE.replace("CONDITIONS\n", lines).replace("QUERY", f'"{query}"')


def codes(text: str) -> list[str]:
    return [f.code for f in lint_argo(argo_gate(text))]


@pytest.mark.parametrize("conditions, query", [
    ('successCondition: "true"', RATIO),
    ("successCondition: result[0] >= -5", RATIO),                   # a success rate is never below 0
    ("failureCondition: result[0] < -1", RATIO),
    ("successCondition: result[0] >= 0", "histogram_quantile(0.95, sum(rate(latency_bucket[1m])) by (le))"),
    ("successCondition: result[0] >= -1\nfailureCondition: result[0] < -1", RATIO),
    ('successCondition: "true"', GAUGE),
    ("failureCondition: result[0] > 1e308 && result[0] < -1e308", GAUGE),
    ("successCondition: result >= -0.5", f"scalar({RATIO})"),
], ids=["true", "above -5", "failure below -1", "latency >= 0", "both", "true on a gauge", "impossible failure",
        "scalar"])
def test_a_condition_no_value_fails_is_h5c(conditions, query):
    (finding,) = [f for f in lint_argo(argo_gate(template(conditions, query))) if f.code == "H5c"]
    assert "can never fail" in finding.behaviour and "an incident is let through" in finding.behaviour
    assert ("0 to 1e300" if query != GAUGE else "-1e300 to 1e300") in finding.explanation


@pytest.mark.parametrize("conditions, query", [
    ("successCondition: len(result) == 0 || result[0] >= 0.95", RATIO),
    ("successCondition: result[0] >= 0.95", RATIO),
    ("successCondition: result[0] >= -5", GAUGE),                   # a raw series may be -10
    ("successCondition: result[0] >= 0", "sum(rate(a_total[1m])) - sum(rate(b_total[1m]))"),
    ("failureCondition: result[0] > 0.7 && result[0] < 0.8", RATIO),  # a narrow band still fails
    ("successCondition: result[0] >= -1\nfailureCondition: result[0] > 0.05", RATIO),
    ("successCondition: result[0] * 100 >= 95", RATIO),
    ("successCondition: result[0] > -1e300", GAUGE),                 # -1e300 itself fails it
    ("successCondition: '!isInf(result[0])'", RATIO),                # x / 0 is +Inf
    ("successCondition: result[0] >= 0", "clamp(sum(rate(a_total[1m])), -10, -1)"),   # every value is -1
], ids=["guarded", "threshold", "gauge", "difference", "band", "failure decides", "scaled", "extreme threshold",
        "infinite ratio", "clamped below zero"])
def test_a_condition_some_value_fails_is_not_h5c(conditions, query):
    assert "H5c" not in codes(template(conditions, query))


def test_h5c_names_the_condition_and_its_line(tmp_path):
    gate = tmp_path / "gate.yaml"
    gate.write_text(template("successCondition: result[0] >= 0\nfailureCondition: result[0] < -1"))
    (linted,), problems = lint_gates(gate)
    assert not problems
    (finding,) = [f for f in linted.findings if f.code == "H5c"]
    assert finding.line == 10   # the failure condition: the one that should fail the metric
    assert "successCondition 'result[0] >= 0' and failureCondition 'result[0] < -1'" in finding.explanation


@pytest.mark.parametrize("conditions, query", [
    (GUARDED_ABOVE_MINUS_ONE, "sum(rate(http_requests_total[1m]))"),
    (GUARDED_ABOVE_MINUS_ONE, "sum(promhttp_metric_handler_requests_total{code=~'5.*'})"),   # a raw counter
    ("successCondition: result[0] < 0", RATIO),                     # a success rate is never below 0
    ('successCondition: "false"', GAUGE),
    ("successCondition: result[0] >= 0.95\nfailureCondition: result[0] >= 0", RATIO),
    ("successCondition: result < -0.5", f"scalar({RATIO})"),
    ("failureCondition: result[0] >= 0", "x_total"),
    ("failureCondition: result[0] >= 0", "sum(x_count)"),
    ("failureCondition: result[0] >= 0", "max(x_sum)"),
    ("failureCondition: result[0] >= 0", "min(x_bucket{le='0.5'})"),
    ("failureCondition: result[0] >= 0", "avg(x_total) by (pod)"),
], ids=["above -1 on rates", "above -1 on a counter", "below 0", "false", "failure holds", "scalar", "bare _total",
        "sum of _count", "max of _sum", "min of _bucket", "avg of _total"])
def test_a_condition_no_value_passes_is_h5a(conditions, query):
    (finding,) = [f for f in lint_argo(argo_gate(template(conditions, query))) if f.code == "H5a"]
    values = "-1e300 to 1e300" if query == GAUGE else "0 to 1e300"
    assert finding.explanation.startswith(f"no value the query can return ({values}")
    assert " passes the " in finding.explanation
    assert finding.behaviour.startswith("every measurement with a value is Failed: the first Failed measurement "
                                        "fails the metric (failureLimit 0), and the rollout aborts, a healthy release")


@pytest.mark.parametrize("conditions, query", [
    ("successCondition: result[0] < 0.05", ERRORS),
    ("successCondition: len(result) == 0 || result[0] >= 0.95", RATIO),
    (GUARDED_ABOVE_MINUS_ONE, GAUGE),                               # a raw series may be -10
    (GUARDED_ABOVE_MINUS_ONE, "sum(requests_total_ratio)"),         # not a counter's name: may be a gauge
    (GUARDED_ABOVE_MINUS_ONE, "sum(rate(a_total[1m])) - sum(rate(b_total[1m]))"),
    ("successCondition: result[0] < 0 && result[1] > 0", GAUGE),   # Failed at 0 and above, Error below: not Failed
    ("successCondition: result[0] < 0\nfailureCondition: result[0] > 0.5", RATIO),   # Inconclusive up to 0.5
    ("successCondition: result[0] < -1e300", GAUGE),                 # below -1e300 passes it
    ("successCondition: len(result) >= 2", "sum by (code) (rate(a_total[1m]))"),   # two series pass it
    ("successCondition: len(result) >= 12", "sum by (code) (rate(a_total[1m]))"),
], ids=["error ratio", "guarded", "gauge", "gauge named total", "difference", "error", "inconclusive",
        "extreme threshold", "two series", "twelve series"])
def test_a_condition_some_value_passes_is_not_h5a(conditions, query):
    assert "H5a" not in codes(template(conditions, query))


@pytest.mark.parametrize("limits, behaviour", [
    ("failureLimit: 3", "Failed measurement 4 fails the metric (failureLimit 3), 180 s after the first, and the "
                        "rollout aborts"),
    ("failureLimit: 2\ncount: 3", "Failed measurement 3 fails the metric (failureLimit 2), 120 s after the first"),
    ("failureLimit: 3\ncount: 3", "but the metric is Successful at its count (3) before more than failureLimit (3) "
                                  "fail: it judges nothing"),
    ("failureLimit: -1", "but failureLimit -1 counts none of them: it judges nothing"),
    ("failureLimit: '{{args.limit}}'", "once more than failureLimit have failed, the rollout aborts"),
], ids=["limit", "count above it", "count reached first", "minus one", "unresolved"])
def test_h5a_says_when_the_failed_measurements_fail_the_metric(limits, behaviour):
    text = template(f"{GUARDED_ABOVE_MINUS_ONE}\n{limits}", "sum(rate(http_requests_total[1m]))")
    if "{{args.limit}}" in limits:   # declared, its value given at deploy time: lint cannot know it
        text = text.replace("spec:\n  metrics:", "spec:\n  args: [{name: limit}]\n  metrics:")
    (finding,) = [f for f in lint_argo(argo_gate(text)) if f.code == "H5a"]
    assert behaviour in finding.behaviour


@pytest.mark.parametrize("fields, message", [
    ("successCondition: result[0] >= 0.95\ncount: '{{args.count}}'", "failed to resolve {{args.count}}"),
    ("successCondition: result[0] >= 0.95\nfailureLimit: -2", "failureLimit must be >= -1"),
    ("successCondition: result[0] >= {{args.thr}}", "failed to resolve {{args.thr}}"),
    ("successCondition: result[0] >= 0.95\ncount: 2\nfailureLimit: 3", "count must be >= failureLimit"),
])
def test_a_metric_argo_cannot_start_a_run_of_is_h8_and_nothing_else(fields, message):
    """A review found lint silent on an undeclared arg in count and on failureLimit -2, and calling an undeclared arg
    in a condition a map literal (H1): Argo fails the run at its start (ValidateMetric, 'failed to resolve')."""
    (finding,) = lint_argo(argo_gate(template(fields)))
    assert finding.code == "H8" and message in finding.explanation
    assert finding.behaviour == "the AnalysisRun is Error at its start: the rollout aborts"


def test_a_condition_with_the_runs_args_is_judged_with_their_values_not_as_a_map_literal():
    """A review found 'result[0] >= {{args.thr}}' with thr declared as 0.9 called H1 (a map literal: every
    measurement Error); the run substitutes the arg first. An arg whose value lint cannot know leaves it unjudged."""
    known = template("successCondition: len(result) > 0 && result[0] >= {{args.thr}}").replace(
        "spec:\n  metrics:", "spec:\n  args: [{name: thr, value: '0.9'}]\n  metrics:")
    assert codes(known) == ["H3a"]
    assert codes(template("successCondition: len(result) > 0 && result[0] >= -5")) == ["H3a", "H5c"]
    never = template("successCondition: len(result) > 0 && result[0] >= {{args.thr}}").replace(
        "spec:\n  metrics:", "spec:\n  args: [{name: thr, value: '-5'}]\n  metrics:")
    assert "H5c" in codes(never)


def test_lint_measures_that_a_condition_no_value_passes_aborts_every_healthy_ramp(tmp_path):
    from rampsim.experiment.lint_rehearsals import consequence, rehearse_healthy

    gate = tmp_path / "gate.yaml"
    gate.write_text(template(f"{GUARDED_ABOVE_MINUS_ONE}\nfailureLimit: 2", "sum(rate(http_requests_total[1m]))"))
    (linted,), problems = lint_gates(gate)
    assert not problems and [f.code for f in linted.findings] == ["H5a"]
    line = consequence(linted.findings[0], rehearse_healthy(linted, seeds=1))
    assert line.startswith("on 1 healthy simulated ramp: aborts 1 of 1 (100%)"), line
    assert line.endswith("after 3 Failed measurements"), line


@pytest.mark.parametrize("name, test", [("NaN", "isNaN"), ("Inf", "isInf")])
def test_a_nan_in_a_condition_is_an_unknown_name_not_a_vector_comparison(name, test):
    (finding,) = [f for f in lint_argo(argo_gate(template(f"successCondition: result[0] >= {name}")))
                  if f.code in ("H1", "H7")]
    assert finding.code == "H7" and "whole vector" not in finding.explanation
    assert f"'{name}'" in finding.explanation and f"{test}(result[0])" in finding.explanation
    assert "every measurement is Error" in finding.behaviour


def test_a_vector_comparison_is_still_h1_and_another_refusal_says_why():
    (h1,) = [f for f in lint_argo(argo_gate(template("successCondition: result >= 0.95"))) if f.code == "H1"]
    assert "compares the whole vector" in h1.explanation
    (h1,) = [f for f in lint_argo(argo_gate(template("successCondition: result.value >= 0.95"))) if f.code == "H1"]
    assert "has no field value" in h1.explanation and "whole vector" not in h1.explanation


@pytest.mark.parametrize("metric, code", [
    ("{name: request-success-rate, thresholdRange: {min: 200}, interval: 1m}", "FH8"),
    ("{name: request-success-rate, thresholdRange: {max: -1}, interval: 1m}", "FH8"),
    ("{name: request-success-rate, threshold: 101, interval: 1m}", "FH8"),
    ("{name: request-duration, thresholdRange: {max: -1}, interval: 1m}", "FH8"),
    ("{name: request-duration, threshold: -2, interval: 1m}", "FH8"),
    ("{name: request-success-rate, thresholdRange: {min: -1}, interval: 1m}", "FH7"),
    ("{name: request-success-rate, thresholdRange: {min: 0, max: 100}, interval: 1m}", "FH7"),
    ("{name: request-success-rate, threshold: -1, interval: 1m}", "FH7"),
    ("{name: request-duration, thresholdRange: {min: 0}, interval: 1m}", "FH7"),
])
def test_a_builtin_range_none_or_all_of_its_values_pass_is_a_hazard(metric, code):
    (finding,) = lint_flagger(flagger_gate(canary(metric)))
    assert finding.code == code
    assert ("every value fails" if code == "FH8" else "can never fail") in finding.behaviour
    assert ("percentage" if "success" in metric else "milliseconds") in finding.explanation


@pytest.mark.parametrize("metric", [
    "{name: request-success-rate, thresholdRange: {min: 99, max: 100}, interval: 1m}",
    "{name: request-success-rate, threshold: 99, interval: 1m}",
    "{name: request-duration, thresholdRange: {min: 0, max: 500}, interval: 1m}",
    "{name: request-duration, threshold: 500, interval: 1m}",
    "{name: custom, query: 'sum(rate(errors_total[1m]))', thresholdRange: {min: -1}, interval: 1m}",  # any value
])
def test_a_builtin_range_that_judges_is_no_hazard(metric):
    assert lint_flagger(flagger_gate(canary(metric))) == []


def test_a_fractional_success_rate_minimum_says_what_fails():
    (finding,) = lint_flagger(flagger_gate(canary("{name: request-success-rate, thresholdRange: {min: 0.5}, "
                                                  "interval: 1m}")))
    assert finding.code == "FH6" and finding.behaviour.startswith("only a success rate under 0.5% fails")


@pytest.mark.parametrize("limits", ["thresholdRange: {max: 0.5}", "thresholdRange: {min: 0, max: 0.999}",
                                    "threshold: 0.5"])
def test_a_duration_limit_written_in_seconds_is_a_limit_of_0_ms(limits):
    """Flagger truncates the bound to whole milliseconds (``time.Duration(*tr.Max) * time.Millisecond``):
    ``max: 0.5`` (half a second meant) is 0 ms, and every tick with a latency of 1 ms or more fails."""
    (finding,) = lint_flagger(flagger_gate(canary(f"{{name: request-duration, {limits}, interval: 1m}}")))
    assert finding.code == "FH3" and "whole milliseconds" in finding.explanation
    assert finding.behaviour == "every tick with a latency of 1 ms or more is a failed check"


def test_lint_measures_that_an_unreachable_success_rate_rolls_back_every_healthy_ramp(tmp_path):
    from rampsim.experiment.lint_rehearsals import consequence, rehearse_healthy

    gate = tmp_path / "canary.yaml"
    gate.write_text(textwrap.dedent(canary("{name: request-success-rate, thresholdRange: {min: 200}, interval: 1m}")
                                    .replace("threshold: 5", "threshold: 2")))
    (linted,), problems = lint_gates(gate)
    assert not problems and [f.code for f in linted.findings] == ["FH8"]
    line = consequence(linted.findings[0], rehearse_healthy(linted, seeds=1))
    assert line.startswith("on 1 healthy simulated ramp: rolls back 1 of 1"), line


ERRORS = "sum(rate(http_requests_total{code=~'5..'}[1m]))"
TOTAL = "sum(rate(http_requests_total[1m]))"


@pytest.mark.parametrize("denominator, ratio", [
    (TOTAL, True),
    (f"clamp_min({TOTAL}, 0.001)", False),         # never below 0.001 (real-gates README A2)
    (f"clamp({TOTAL}, 0.001, 1e9)", False),
    (f"({TOTAL} + 0.001)", False),                  # a sum of rates is never negative
    (f"clamp_min({TOTAL}, 0)", True),               # a floor of 0 is no floor
    (f"clamp_min({ERRORS} / {TOTAL}, 0.5)", True),  # the clamp keeps the NaN of the ratio inside
    ("(avg(node_temperature_celsius) + 1)", True),  # a gauge may be -1
], ids=["plain", "clamp_min", "clamp", "plus", "clamp at 0", "ratio inside", "gauge plus"])
def test_a_denominator_clamped_to_a_positive_floor_is_no_0_over_0(denominator, ratio):
    """A review found H3a (0/0 = NaN with no requests) on '/ clamp_min(sum(rate(...)), 0.001)', which is never 0. An
    empty denominator (no series at all) is still an empty result: H2 stays."""
    found = codes(template("successCondition: result[0] < 0.05", f"{ERRORS} / {denominator}"))
    assert ("H3a" in found) == ratio, found
    assert "H2" in found


@pytest.mark.parametrize("field", ["consecutiveErrorLimit", "inconclusiveLimit", "failureLimit"])
def test_a_negative_limit_is_h8_at_its_own_line_in_argos_words(field):
    """A review found H8 for 'consecutiveErrorLimit: -1' located at the metric's name and worded 'inconclusiveLimit
    and consecutiveErrorLimit must be >= 0'; Argo's ValidateMetric says which field, and so does lint."""
    value = "-2" if field == "failureLimit" else "-1"
    text = template(f"successCondition: result[0] >= 0.95\n{field}: {value}")
    (finding,) = lint_text(text, "gate.yaml")
    assert finding.code == "H8"
    assert finding.explanation.endswith(f"{field} must be >= {'-1' if field == 'failureLimit' else '0'}")
    assert finding.line == text.splitlines().index(f"    {field}: {value}") + 1
