from pathlib import Path

from rampsim.cli import main
from rampsim.plan import load_plan

REFERENCE = Path(__file__).parent.parent / "scenarios" / "ramp-phase-50k.yaml"


def test_explain_names_every_rule_checkpoint_criterion_and_window(capsys):
    assert main(["explain", str(REFERENCE)]) == 0
    text = capsys.readouterr().out
    plan = load_plan(REFERENCE)
    for name, rule in plan.rules.items():
        assert f"{name}: {rule.describe()}" in text
    for name, checkpoint in plan.ordered_checkpoints():
        assert f"[{name}]" in text
        for criterion_name, criterion in checkpoint.criteria.items():
            assert f"{criterion_name}: {criterion.describe()}" in text
        for item in checkpoint.manual:
            assert f"[ ] manual: {item}" in text
    assert "error rate over the last 1m > 0.75% for 2m or longer: warning → warn" in text
    assert "availability over the last 15m > 99.95%" in text
    assert "segment spread (absolute) since the ramp began < 0.05%" in text
    assert "error rate trend (ratio to the previous window) since the previous checkpoint < 1.5" in text


def test_explain_promql(capsys):
    assert main(["explain", str(REFERENCE), "--promql"]) == 0
    text = capsys.readouterr().out
    assert ('PromQL: histogram_quantile(0.99, sum by (le)(increase(rampsim_request_duration_seconds_bucket'
            '{arm="canary"}[1m])))') in text
    assert 'sum(increase(rampsim_health_checks_ok_total{arm="canary"}[15m]))' in text


def test_explain_promql_for_prometheus_3(capsys):
    assert main(["explain", str(REFERENCE), "--promql", "3"]) == 0
    text = capsys.readouterr().out
    assert ('PromQL: histogram_quantile(0.99, sum by (le)(increase(rampsim_request_duration_seconds_bucket'
            '{arm="canary"}[1m] anchored)))') in text
    assert "[1m])" not in text.replace("[1m] anchored)", "")  # every counter range is anchored on 3.x


def test_a_reader_that_closes_the_pipe_is_not_an_internal_error(tmp_path):
    import subprocess
    import sys

    shell = f"{sys.executable} -m rampsim.cli explain {REFERENCE} --promql | head -1"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True, timeout=120)
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr


def test_an_imported_gate_is_shown_by_explain_and_named_by_validate(capsys):
    """An imported plan has no rules or checkpoints of its own: explain shows the gate it is judged by, in
    its controller's format, and validate does not summarise it as '0 rule(s), 0 checkpoint(s)'."""
    plan = str(REFERENCE.with_name("ramp-phase-50k-kayenta.yaml"))
    assert main(["validate", plan]) == 0
    out = capsys.readouterr().out
    assert "an imported kayenta gate (see 'rampsim explain')" in out and "0 rule(s)" not in out
    assert main(["explain", plan]) == 0
    out = capsys.readouterr().out
    assert "Imported Kayenta gate, judged as Kayenta judges it" in out
    assert '"allowedIncrease": 1.2' in out and '"pass": 95' in out


def test_a_rate_per_second_is_a_query_prometheus_reads():
    """A review found `... / 5m (in seconds)`, which no PromQL parser reads: the window's length is a number."""
    from rampsim.engine.promql import promql
    from rampsim.plan.schema import Measurement
    from rampsim.promql.parse import parse

    measure = Measurement(metric="request_rate", window="5m")
    query = promql(measure, "5m")
    assert query.endswith("/ 300") and parse(query) is not None
    revenue = promql(Measurement(metric="revenue_rate", window="10m"), "10m")
    assert revenue.endswith("/ 10") and parse(revenue) is not None


def test_a_relative_segment_spread_may_exceed_100_percent():
    """(max − min) / mean reaches the number of segments; a review found `> 150%` refused as out of range and
    `<= 100%` as always holding."""
    from rampsim.plan import plan_from_text
    from tests.test_plan_errors import MINIMAL

    text = MINIMAL.replace('      p99: {metric: p99, op: "<", threshold: 200ms, window: 15m}',
                           '      spread: {metric: segment_spread, definition: relative, op: "<=", threshold: 100%, '
                           'window: 15m}').replace(
        "    metric: error_rate\n    op: \">\"\n    threshold: 1%",
        "    metric: segment_spread\n    definition: relative\n    op: \">\"\n    threshold: 150%")
    plan = plan_from_text(text, "plan.yaml")
    assert plan.rules["error_rate"].threshold == 1.5


def test_explain_refuses_a_plan_validate_refuses(tmp_path, capsys):
    """``explain`` printed a plan whose fault (or traffic) section ``validate`` and ``rehearse`` refuse, exit 0."""
    plan = tmp_path / "fault.yaml"
    plan.write_text(REFERENCE.read_text().replace(
        "faults: []", "faults: [{kind: error-rate, target: canary, magnitude: 1e3%, start: 1m}]"))
    assert main(["validate", str(plan)]) == 3
    validated = capsys.readouterr().err
    assert main(["explain", str(plan)]) == 3
    explained = capsys.readouterr()
    assert "faults.0.magnitude: '1e3%' is out of range" in explained.err and explained.out == ""
    assert explained.err.replace("rampsim explain", "") == validated.replace("rampsim validate", "")
