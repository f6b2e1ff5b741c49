"""Recording formats: OpenMetrics with timestamps and per-tick CSV, written and read back bit for bit."""
import io

import numpy as np
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from rampsim.prod.assembler import Assembler
from rampsim.prod.series_map import SeriesMap
from rampsim.prod.clock import ScrapeGrid
from rampsim.prod.naming import Naming
from rampsim.prod.openmetrics import OpenMetricsError, read_openmetrics, write_openmetrics
from rampsim.prod.tickcsv import read_tick_csv, write_tick_csv
from rampsim.telemetry import Layout, Telemetry
from tests.builders import steady

START = 1740787200.0  # 2025-03-01T00:00:00Z


def awkward_telemetry(minutes: float = 10) -> Telemetry:
    """Non-integer counters, a counter reset, missing samples and a missing whole scrape."""
    telemetry = steady(minutes=minutes, error_rate=0.000713, revenue_per_request=0.0317)
    telemetry.counters[20:, 0] -= telemetry.counters[19, 0]  # a reset
    telemetry.counters[7, 3] = np.nan
    telemetry.gauges[9, 1] = np.nan
    telemetry.counters[11] = np.nan
    telemetry.gauges[11] = np.nan
    return telemetry


def read_back(series, telemetry: Telemetry, naming: Naming = Naming()) -> Telemetry:
    result = Telemetry.empty(telemetry.layout, len(telemetry))
    grid = ScrapeGrid(START, telemetry.layout.scrape_interval, len(telemetry))
    Assembler(SeriesMap(telemetry.layout, naming), grid).fill(result, 0, len(telemetry) - 1, series)
    return result


def assert_same(a: Telemetry, b: Telemetry) -> None:
    np.testing.assert_array_equal(a.counters, b.counters)  # NaN == NaN here, floats bit for bit
    np.testing.assert_array_equal(a.gauges, b.gauges)


@pytest.mark.parametrize("naming", [Naming(), Naming(metrics={"requests": "http_requests_total"},
                                                     labels={"arm": "track", "segment": "region"},
                                                     matchers={"job": "api"})])
def test_openmetrics_round_trip_is_exact(naming):
    telemetry = awkward_telemetry()
    text = io.StringIO()
    write_openmetrics(telemetry, text, START, naming)
    assert_same(read_back(read_openmetrics(io.StringIO(text.getvalue())), telemetry, naming), telemetry)


def test_one_scrape_passes_the_strict_reference_parser():
    # prometheus_client's parser wrongly drops repeated series at later timestamps, so it checks one scrape;
    # promtool reads the whole export in the round-trip test.
    telemetry = steady(Layout(segments=("A", "B"), latency_buckets=(0.1, 0.5, float("inf"))), minutes=1)
    text = io.StringIO()
    write_openmetrics(telemetry.head(1), text, START)
    families = {f.name: f for f in text_string_to_metric_families(text.getvalue())}
    assert families["rampsim_requests"].type == "counter"
    assert families["rampsim_request_duration_seconds"].type == "histogram"
    assert families["rampsim_cpu_utilization"].type == "gauge"
    assert len(families) == 12


def test_export_layout_is_what_promtool_needs():
    layout = Layout(segments=("A",), latency_buckets=(0.1, 0.5, float("inf")))
    telemetry = steady(layout, minutes=1)
    telemetry.counters[2, 0] = np.nan
    text = io.StringIO()
    write_openmetrics(telemetry, text, START + 0.25)
    body = text.getvalue()
    assert body.endswith("# EOF\n") and "\n\n" not in body
    by_series: dict = {}
    for line in body.splitlines():
        if not line.startswith("#"):
            series, _, stamp = line.rsplit(" ", 2)
            by_series.setdefault(series, []).append(stamp)
    requests = by_series['rampsim_requests_total{arm="baseline",segment="A"}']
    assert requests == ["1740787200.25", "1740787215.25", "1740787245.25", "1740787260.25"]
    for stamps in by_series.values():  # promtool silently drops an out-of-order or repeated sample
        assert [float(s) for s in stamps] == sorted({float(s) for s in stamps})
    assert 'rampsim_request_duration_seconds_count{arm="canary",segment="A"}' in by_series


def test_tick_csv_round_trip_is_exact(tmp_path):
    telemetry = awkward_telemetry()
    path = tmp_path / "run.csv"
    with path.open("w", newline="") as handle:
        write_tick_csv(telemetry, handle, START)
    with path.open(newline="") as handle:
        series = read_tick_csv(handle, str(path))
    assert_same(read_back(series, telemetry), telemetry)


@pytest.mark.parametrize("text, message", [
    ('x_total{a="1"} 1 1740787200\n', "no '# EOF'"),
    ('x_total{a="1"} 1 1740787200000\n# EOF\n', "milliseconds"),
    ('x_total{a=1} 1 1740787200\n# EOF\n', ":1: malformed labels"),
    ('# TYPE x counter\nx_total 1\n# EOF\n', ":2: expected 'series value timestamp'"),
    ('x_total 1 1740787200\n# EOF\nx_total 2 1740787215\n', ":3: data after # EOF"),
    # a review found the last of two values of one label read, and Python-only numbers accepted
    ('x_total{arm="canary",arm="baseline"} 1 1740787200\n# EOF\n', ":1: label 'arm' repeated"),
    ('x_total 1_000 1740787200\n# EOF\n', ":1: cannot read the value"),
    ('x_total \uff11\uff12 1740787200\n# EOF\n', ":1: cannot read the value"),
])
def test_bad_recordings_are_refused_with_their_line(text, message):
    with pytest.raises(OpenMetricsError, match=message):
        read_openmetrics(io.StringIO(text), "rec.om")


def test_label_escapes_and_exemplars_are_read():
    text = 'x_total{a="q\\"uote",b="back\\\\slash"} 2.5 1740787200.5 # {trace="1"} 1\n# EOF\n'
    (series,) = read_openmetrics(io.StringIO(text))
    assert series.labels == {"__name__": "x_total", "a": 'q"uote', "b": "back\\slash"}
    assert series.timestamps_ms.tolist() == [1740787200500] and series.values.tolist() == [2.5]


def test_a_tick_csv_naming_one_series_in_two_columns_is_refused():
    """Two columns of one series (labels in another order included) would give it two values a scrape: the
    file is refused naming both columns, rather than summed by one reader and the last kept by another."""
    header = 'timestamp,"x_total{a=""1"",b=""2""}",y_total,"x_total{b=""2"",a=""1""}"\n'
    with pytest.raises(OpenMetricsError, match=r"^h\.csv:1: column 4: the series of column 2 again"):
        read_tick_csv(io.StringIO(header + "1700000000,1,2,3\n"), "h.csv")
    assert len(read_tick_csv(io.StringIO(header.replace("b=", "c=", 1) + "1700000000,1,2,3\n"), "h.csv")) == 3
    with pytest.raises(OpenMetricsError, match="column 3: the series of column 2 again"):   # a="" is no label
        read_tick_csv(io.StringIO('timestamp,x_total,"x_total{a=""""}"\n1700000000,1,2\n'), "h.csv")


@pytest.mark.parametrize("stamp, message", [
    ("now", r"cannot read 'now' as a time: a recorded time is not relative to now \(RFC 3339 like "
            r"2025-03-01T00:00:00Z, unix seconds\)$"),
    ("-5", r"cannot read '-5' as a time: expected RFC 3339 like 2025-03-01T00:00:00Z, unix seconds$"),
])
def test_a_tick_csv_timestamp_error_offers_only_what_a_recording_can_hold(stamp, message):
    with pytest.raises(OpenMetricsError, match=r"^h\.csv:2: timestamp: " + message):
        read_tick_csv(io.StringIO(f"timestamp,x_total\n{stamp},1\n"), "h.csv")
