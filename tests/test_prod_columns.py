"""Series -> telemetry columns: the scrape grid, several series per column, data notices."""
import numpy as np
import pytest

from rampsim.prod.columns import Assembler, RawSeries, SeriesMap
from rampsim.prod.grid import ScrapeGrid, format_instant, parse_instant
from rampsim.prod.naming import Naming
from rampsim.telemetry import Layout, Telemetry

START = 1740787200.0
S_MS = int(START * 1000)
LAYOUT = Layout(segments=("A",), latency_buckets=(0.1, float("inf")))


def series(name: str, stamps_ms, values, **labels) -> RawSeries:
    return RawSeries({"__name__": name, **labels}, np.asarray(stamps_ms, dtype=np.int64), np.asarray(values, float))


def fill(batch, ticks: int = 6, first: int = 0, last=None, assembler=None, telemetry=None):
    telemetry = telemetry or Telemetry.empty(LAYOUT, ticks)
    assembler = assembler or Assembler(SeriesMap(LAYOUT, Naming()), ScrapeGrid(START, 15.0, ticks))
    notices = assembler.fill(telemetry, first, ticks - 1 if last is None else last, batch)
    return telemetry, notices, assembler


def canary_requests(telemetry):
    return telemetry.requests[:, LAYOUT.arm("canary"), 0]


def test_jittered_scrapes_land_on_their_grid_slot():
    stamps = [S_MS + 400, S_MS + 15_000 - 7_500, S_MS + 30_000 + 7_499, S_MS + 60_000 + 7_500]
    telemetry, notices, _ = fill([series("rampsim_requests_total", stamps, [1, 2, 3, 4], arm="canary", segment="A")])
    assert canary_requests(telemetry)[:6].tolist()[:3] == [1, 2, 3]
    assert np.isnan(canary_requests(telemetry)[3]) and canary_requests(telemetry)[5] == 4


def test_the_latest_sample_of_a_slot_wins_and_is_reported():
    telemetry, notices, _ = fill([series("rampsim_requests_total", [S_MS, S_MS + 5_000], [1, 2],
                                         arm="canary", segment="A")])
    assert canary_requests(telemetry)[0] == 2
    assert any(n.kind == "duplicate" for n in notices)


def test_several_series_per_column_sum_their_increments():
    # pod a: steady, vanishes after tick 3; pod b: restarts at tick 2; pod c: appears at tick 3 with 100 already.
    a = series("rampsim_requests_total", [S_MS + 15_000 * t for t in range(4)], [10, 20, 30, 40],
               arm="canary", segment="A", pod="a")
    b = series("rampsim_requests_total", [S_MS + 15_000 * t for t in range(6)], [5, 10, 3, 8, 13, 18],
               arm="canary", segment="A", pod="b")
    c = series("rampsim_requests_total", [S_MS + 15_000 * t for t in (3, 4, 5)], [100, 107, 114],
               arm="canary", segment="A", pod="c")
    telemetry, notices, _ = fill([a, b, c])
    # increments per tick: t1 10+5, t2 10+3 (b restarted: counted from zero), t3 10+5 (+0 for newcomer c),
    # t4 5+7 (a gone, keeps its last value), t5 5+7
    assert canary_requests(telemetry).tolist() == [15, 30, 43, 58, 70, 82]
    assert [n.tick for n in notices if n.kind == "reset"] == [2]


def test_several_series_per_column_across_batches_keep_their_state():
    pods = [series("rampsim_requests_total", [S_MS + 15_000 * t for t in range(6)], values,
                   arm="canary", segment="A", pod=name)
            for name, values in (("a", [1, 2, 3, 4, 5, 6]), ("b", [10, 20, 1, 2, 3, 4]))]
    whole, _, _ = fill(pods)
    split, _, assembler = fill([RawSeries(p.labels, p.timestamps_ms[:3], p.values[:3]) for p in pods], last=2)
    fill([RawSeries(p.labels, p.timestamps_ms[3:], p.values[3:]) for p in pods], first=3,
         assembler=assembler, telemetry=split)
    np.testing.assert_array_equal(canary_requests(whole), canary_requests(split))


def test_several_gauges_take_the_worst():
    pods = [series("rampsim_cpu_utilization", [S_MS, S_MS + 15_000], values, arm="canary", pod=name)
            for name, values in (("a", [0.5, np.nan]), ("b", [0.7, 0.2]))]
    telemetry, _, _ = fill(pods, ticks=2)
    assert telemetry.cpu[:, LAYOUT.arm("canary")].tolist() == [0.7, 0.2]


def test_a_single_series_is_copied_raw_resets_included():
    telemetry, notices, _ = fill([series("rampsim_requests_total", [S_MS, S_MS + 15_000, S_MS + 30_000],
                                         [10.5, 20.25, 3.0], arm="canary", segment="A")], ticks=3)
    assert canary_requests(telemetry).tolist() == [10.5, 20.25, 3.0]
    assert [(n.tick, n.kind) for n in notices if n.kind == "reset"] == [(2, "reset")]


def test_foreign_and_unmappable_series():
    batch = [series("rampsim_requests_total", [S_MS], [1], arm="canary", segment="Z"),
             series("rampsim_requests_total", [S_MS], [1], arm="shadow", segment="A"),
             series("rampsim_request_duration_seconds_bucket", [S_MS], [1], arm="canary", segment="A", le="0.3"),
             series("something_else_total", [S_MS], [1], arm="canary")]
    telemetry, notices, _ = fill(batch, ticks=1)
    unmapped = sorted(n.message for n in notices if n.kind == "unmapped")
    assert unmapped == ["1 series ignored: le='0.3' is not one of the plan's latency buckets",
                        "1 series ignored: unknown segment='Z'"]
    assert np.isnan(telemetry.counters).all()
    (missing,) = [n for n in notices if n.kind == "missing"]
    assert missing.message == "no samples at all for this scrape"


def test_matchers_select_the_service():
    naming = Naming(matchers={"job": "api"})
    assembler = Assembler(SeriesMap(LAYOUT, naming), ScrapeGrid(START, 15.0, 1))
    batch = [series("rampsim_requests_total", [S_MS], [1], arm="canary", segment="A", job="api"),
             series("rampsim_requests_total", [S_MS], [7], arm="canary", segment="A", job="other")]
    telemetry, notices, _ = fill(batch, ticks=1, assembler=assembler)
    assert canary_requests(telemetry).tolist() == [1]
    partial = [n for n in notices if n.kind == "missing"][0].message
    assert partial.startswith(f"{LAYOUT.n_counters + LAYOUT.n_gauges - 1} of ")
    assert 'rampsim_requests_total{job="api",arm="baseline",segment="A"}' in partial


def test_grid_arithmetic():
    grid = ScrapeGrid(START, 15.0, 961)
    assert grid.slot_ms(0, 0) == (S_MS - 7_500, S_MS + 7_499)
    assert grid.slot_ms(2, 3) == (S_MS + 22_500, S_MS + 52_499)
    assert grid.tick_at(START + 14.999) == 0 and grid.tick_at(START + 15) == 1
    assert grid.tick_at(START - 100) == -1 and grid.tick_at(START + 10**6) == 960
    assert grid.last_settled(START + 7.5 + 5, settle=5) == 0
    assert grid.last_settled(START + 7.499 + 5, settle=5) == -1


@pytest.mark.parametrize("text, expected", [
    ("2025-03-01T00:00:00Z", START), ("2025-03-01T00:00:00", START), ("2025-03-01T01:00:00+01:00", START),
    ("1740787200", START), ("1740787200.5", START + 0.5), ("now", 1000.0), ("now-30m", -800.0),
    ("now+1h", 4600.0),
])
def test_instants(text, expected):
    assert parse_instant(text, now=lambda: 1000.0) == expected


def test_bad_instant_says_what_is_accepted():
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_instant("yesterday")
    with pytest.raises(ValueError, match="now-5x"):
        parse_instant("now-5x")
    assert format_instant(START + 0.25) == "2025-03-01T00:00:00.250Z"
