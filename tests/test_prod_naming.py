"""Naming: the plan's prometheus: section, validated and located; PromQL in the service's names."""

from pathlib import Path

import pytest

from rampsim.telemetry import METRIC_NAMES
from rampsim.plan import PlanError, load_plan, plan_from_text
from rampsim.prod.naming import Naming, load_naming, naming_for_plan
from tests.sim_helpers import REFERENCE



def plan_with(section: str):
    return plan_from_text(REFERENCE.read_text() + "\n" + section, "plan.yaml")


def test_defaults_are_rampsims_own_names():
    naming = naming_for_plan(load_plan(REFERENCE))
    assert naming.metrics == METRIC_NAMES
    assert (naming.labels.arm, naming.labels.segment) == ("arm", "segment")
    assert naming.series_names()["latency_sum"] == "rampsim_request_duration_seconds_sum"


def test_partial_overrides_keep_the_other_defaults():
    naming = naming_for_plan(plan_with(
        "prometheus:\n  metrics:\n    requests: http_requests_total\n"
        "    latency_bucket: http_request_duration_seconds_bucket\n"
        "  labels: {arm: track, segment: region}\n  matchers: {job: learning-api}\n"))
    assert naming.metrics["requests"] == "http_requests_total"
    assert naming.metrics["errors"] == METRIC_NAMES["errors"]
    assert naming.series_names()["latency_sum"] == "http_request_duration_seconds_sum"
    assert naming.selector({"track": "canary"}) == 'job="learning-api",track="canary"'


def test_every_error_is_located_in_the_plan_file():
    plan = plan_with("prometheus:\n  metrics:\n    errors: 9x\n    bogus: x\n  labels:\n    arm: le\n")
    with pytest.raises(PlanError) as caught:
        naming_for_plan(plan)
    problems = caught.value.problems
    lines = REFERENCE.read_text().count("\n") + 1
    assert any(p.startswith(f"plan.yaml:{lines + 3}: prometheus.metrics.errors:") for p in problems), problems
    assert any(f"plan.yaml:{lines + 4}: prometheus.metrics.bogus:" in p for p in problems), problems
    assert any("prometheus.labels.arm: 'le' is reserved" in p for p in problems), problems


@pytest.mark.parametrize("section, message", [
    ("prometheus:\n  metrics: {latency_bucket: latency_seconds}\n", "ends with _bucket"),
    ("prometheus:\n  metrics: {errors: rampsim_requests_total}\n", "share one series name"),
    ("prometheus:\n  labels: {arm: x, segment: x}\n", "must differ"),
    ("prometheus:\n  matchers: {arm: canary}\n", "cannot constrain"),
    ("prometheus:\n  metrics: {requests: foo_total, cpu: foo}\n", "would be one metric family \\('foo'\\)"),
    ("prometheus:\n  unknown: 1\n", "prometheus.unknown"),
])
def test_invalid_sections_are_refused(section, message):
    with pytest.raises(PlanError, match=message):
        naming_for_plan(plan_with(section))


def test_promql_uses_the_services_names_and_matchers():
    plan = load_plan(REFERENCE)
    naming = Naming(metrics={"errors": "http_errors_total", "requests": "http_requests_total"},
                    labels={"arm": "track", "segment": "region"}, matchers={"job": 'api"x'})
    query = naming.promql(plan.rules["error_rate_rollback"])
    assert query == ('sum(increase(http_errors_total{job="api\\"x",track="canary"}[1m])) / '
                     'sum(increase(http_requests_total{job="api\\"x",track="canary"}[1m]))')


def test_naming_file(tmp_path):
    path = tmp_path / "naming.yaml"
    path.write_text("labels:\n  arm: track\n")
    assert load_naming(path).labels.arm == "track"
    path.write_text("labels:\n  arm: 1x\n")
    with pytest.raises(PlanError, match=r"naming.yaml:2: labels.arm"):
        load_naming(path)


def test_a_naming_file_may_hold_the_readmes_prometheus_section_as_it_stands(tmp_path):
    """The README's only naming example is the section with its ``prometheus:`` key: copied into a --naming file it
    was refused, 'nm.yaml:1: prometheus: unknown field 'prometheus' here'."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("### Naming: your service's metric and label names", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert block.startswith("prometheus:\n")
    path = tmp_path / "nm.yaml"
    path.write_text(block)
    naming = load_naming(path)
    assert naming.metrics["requests"] == "http_requests_total" and naming.labels.arm == "track"
    assert naming.matchers == {"job": "learning-api"}
    path.write_text("prometheus:\n  labels:\n    arm: track\n  labls:\n    segment: region\n")
    with pytest.raises(PlanError, match=r"nm.yaml:4: prometheus.labls: unknown field"):
        load_naming(path)
    path.write_text("prometheus:\n  labels: {arm: track}\nphases: []\n")
    with pytest.raises(PlanError, match=r"nm.yaml:3: phases: a naming file holds a prometheus: section alone"):
        load_naming(path)
    path.write_text("prometheus:\n")
    assert load_naming(path) == Naming()


def test_requests_read_off_the_histograms_count_are_exposed_once(reference_plan, healthy_telemetry):
    """A request counter named after the histogram's _count (Spring's timers, express-prom-bundle) is the histogram's
    own series: the rehearsal exporter wrote it twice (an untyped family beside the histogram), which the OpenMetrics
    parser refuses as a clashing name (a review)."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.exposition import generate_latest
    from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

    from rampsim.prod.exporter import TelemetryCollector
    from rampsim.prod.naming import Naming

    naming = Naming.model_validate({"metrics": {"requests": "lat_count", "latency_bucket": "lat_bucket"}})
    registry = CollectorRegistry()
    collector = TelemetryCollector(reference_plan.layout, naming)
    registry.register(collector)
    collector.publish(healthy_telemetry, 100)
    families = {f.name: f for f in parse_openmetrics(generate_openmetrics(registry).decode())}
    counts = [s for s in families["lat"].samples if s.name == "lat_count"]
    layout = reference_plan.layout
    assert len(counts) == len(layout.arms) * len(layout.segments)
    for sample in counts:
        arm, segment = layout.arm(sample.labels["arm"]), layout.segments.index(sample.labels["segment"])
        assert sample.value == healthy_telemetry.counters[100, int(layout.channels("requests", arm, segment))]
    assert generate_latest(registry).decode().count("# TYPE lat_count") == 0
