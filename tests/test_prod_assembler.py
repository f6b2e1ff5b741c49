"""Series -> telemetry columns: the scrape grid, several series per column, data notices."""
import io
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rampsim.cli import main
from rampsim.prod.assembler import STOPPED_AFTER, Assembler, _SeriesState
from rampsim.prod.samples import RawSeries
from rampsim.prod.series_map import SeriesMap
from rampsim.prod.clock import ScrapeGrid
from rampsim.prod.instants import format_instant, parse_instant
from rampsim.prod.naming import Naming
from rampsim.prod.openmetrics import write_openmetrics
from rampsim.telemetry import Layout, Telemetry
from tests.sim_helpers import REFERENCE

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


def test_one_value_twice_in_a_slot_is_read_once_and_reported_at_its_scrape():
    telemetry, notices, _ = fill([series("rampsim_requests_total", [S_MS, S_MS + 15_000, S_MS + 20_000], [1, 2, 2],
                                         arm="canary", segment="A")])
    assert canary_requests(telemetry)[:2].tolist() == [1, 2]
    assert [(n.tick, n.kind) for n in notices if n.kind in ("duplicate", "damaged")] == [(1, "duplicate")]


def test_a_faster_scrape_gives_each_slot_its_latest_sample_with_a_duplicate_notice():
    """A counter scraped every 10 s on 15-second slots rises within the slots that hold two of its samples: each such
    slot was damaged ('two different values within one scrape slot') and `rampsim gate` held on half the scrapes.
    The latest is the slot's, noted (the gate and calibrate refuse a whole history at another interval)."""
    stamps = [S_MS + 10_000 * k for k in range(7)]   # slots 0..4 hold 0 | 10, 20 | 30 | 40, 50 | 60 s
    telemetry, notices, _ = fill([series("rampsim_requests_total", stamps, [0, 10, 20, 30, 40, 50, 60],
                                         arm="canary", segment="A")], ticks=5)
    assert canary_requests(telemetry).tolist() == [0, 20, 30, 50, 60]
    assert [(n.tick, n.kind, n.message) for n in notices if n.kind in ("duplicate", "damaged", "reset")] == [
        (tick, "duplicate", "1 extra sample(s) within one scrape slot; the latest of each slot is used")
        for tick in (1, 3)]


def test_two_values_at_one_timestamp_or_a_counter_falling_within_a_slot_are_damaged():
    """Two values at one timestamp cannot both be true; a counter lower later in its slot was reset inside it (its
    latest alone would lose the increase before) or holds a second source's value, which cannot be told apart. A
    rise a second after the scrape is the slot's latest, as a faster scrape's: PromQL's increase() reads those
    samples as a jump and a reset too."""
    for stamps, values, why in (
            ([S_MS, S_MS + 15_000, S_MS + 15_000, S_MS + 30_000], [10, 20, 100_020, 30], "two different values at one "
                                                                                          "timestamp"),
            ([S_MS, S_MS + 14_000, S_MS + 16_000, S_MS + 30_000], [10, 100_020, 20, 30], "the counter falls within one "
                                                                                          "scrape slot")):
        telemetry, notices, _ = fill([series("rampsim_requests_total", stamps, values, arm="canary", segment="A")],
                                     ticks=3)
        assert canary_requests(telemetry)[[0, 2]].tolist() == [10, 30] and canary_requests(telemetry)[1] == -math.inf
        (damaged,) = [n for n in notices if n.kind == "damaged"]
        assert damaged.tick == 1 and why in damaged.message
        assert not [n for n in notices if n.kind in ("duplicate", "reset")]
    telemetry, notices, _ = fill([series("rampsim_requests_total", [S_MS, S_MS + 15_000, S_MS + 16_000, S_MS + 30_000],
                                         [10, 20, 100_020, 30], arm="canary", segment="A")], ticks=3)
    assert canary_requests(telemetry).tolist() == [10, 100_020, 30]
    assert [(n.tick, n.kind) for n in notices if n.kind in ("duplicate", "damaged", "reset")] == [(1, "duplicate"),
                                                                                                  (2, "reset")]
    gauge = series("rampsim_cpu_utilization", [S_MS, S_MS + 14_000, S_MS + 16_000], [0.5, 0.9, 0.4], arm="canary")
    telemetry, notices, _ = fill([gauge], ticks=2)   # a gauge goes up and down: its latest
    assert telemetry.gauges[1, LAYOUT.channels("cpu", LAYOUT.arm("canary"))] == 0.4
    assert not [n for n in notices if n.kind == "damaged"]


def test_series_ignored_are_noted_at_every_scrape_they_are_met_at():
    """The notice was at the batch's first scrape: a segment the plan lacks, present at every scrape of six hours,
    was summarised as '7 times from 00:00 to 06:00' (once per batch read)."""
    stray = series("rampsim_requests_total", [S_MS + 15_000 * t for t in (1, 2, 4)], [1, 2, 3], arm="canary",
                   segment="D")
    _, notices, _ = fill([stray], first=0, last=5)
    ignored = [n for n in notices if n.kind == "unmapped"]
    assert [n.tick for n in ignored] == [1, 2, 4] and len({n.message for n in ignored}) == 1
    assert ignored[0].message.startswith("1 series ignored: ")


def test_rampsim_gate_prints_a_notice_at_every_scrape_as_one_line_whatever_comes_between(tmp_path, healthy_telemetry,
                                                                                          capsys):
    """``rampsim gate`` reads through the assembler: series it cannot place, now noted at each scrape they are met
    at (once per batch read before, at its first scrape), still print as one line beside another notice's run."""
    gap = healthy_telemetry.copy()
    gap.counters[10:15] = np.nan
    gap.gauges[10:15] = np.nan
    buffer = io.StringIO()
    write_openmetrics(gap, buffer, START)
    stray = "".join(f'rampsim_requests_total{{arm="baseline",segment="D"}} {t} {START + 15 * t:.3f}\n'
                    for t in range(40))
    path = tmp_path / "run.om"
    path.write_text(buffer.getvalue().replace("# EOF\n", stray + "# EOF\n"))
    main(["gate", str(REFERENCE), "--replay", str(path)])
    err = capsys.readouterr().err
    assert "rampsim gate: +0:02:30..+0:03:30 (5 scrapes) missing: no samples at all for this scrape" in err, err
    ignored = [line for line in err.splitlines() if "unmapped" in line]
    assert ignored == ["rampsim gate: +0:00:00..+0:09:45 (40 scrapes) unmapped: 1 series ignored: unknown "
                       "segment='D' (the plan's telemetry.segments: A, B, C)"], err


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
    assert unmapped == ["1 series ignored: the histogram rampsim_request_duration_seconds_bucket{arm=\"canary\","
                        "segment=\"A\"} lacks le=0.1, +Inf of the plan's telemetry.latency_buckets (it has le=0.3); "
                        "set telemetry.latency_buckets to bounds every histogram of the service has",
                        "1 series ignored: unknown segment='Z' (the plan's telemetry.segments: A)"]
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
    # fractions of any length, read apart from the rest (Python 3.10's fromisoformat reads only 3 or 6 digits)
    ("2025-03-01T00:00:00.5Z", START + 0.5), ("2025-03-01T00:00:00.25", START + 0.25),
    ("2025-03-01T01:00:00.125+01:00", START + 0.125), ("2025-03-01T00:00:00.1234567Z", START + 0.1234567),
])
def test_instants(text, expected):
    assert parse_instant(text, now=lambda: 1000.0) == expected


def test_bad_instant_says_what_is_accepted():
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_instant("yesterday")
    with pytest.raises(ValueError, match="now-5x"):
        parse_instant("now-5x")
    assert format_instant(START + 0.25) == "2025-03-01T00:00:00.250Z"


# Several series per column, read in random batches: the Assembler against a test oracle.

POD_COLUMNS = (("rampsim_requests_total", {"arm": "canary", "segment": "A"}),
               ("rampsim_requests_total", {"arm": "baseline", "segment": "A"}),
               ("rampsim_cpu_utilization", {"arm": "canary"}))
SAMPLE_VALUES = st.one_of(st.integers(0, 10**6).map(float), st.floats(0, 1e6),
                          st.sampled_from([0.0, 0.1, 0.3, math.inf]))


class TickByTickOracle(Assembler):
    """Test oracle: shared columns combined one tick and one series at a time (the Assembler's first version)."""

    def _combine(self, kind, columns, matrix, first, resets, notices):   # no "stopped" notices: tested on their own
        return np.column_stack([self._one_column(column, shared, list(zip(keys, matrix[indices])), first, resets)
                                for column, shared, keys, indices in columns])

    def _one_column(self, column, shared, keyed, first, resets):
        width = len(keyed[0][1])
        if column.kind == "gauges":
            return np.array([max((row[j] for _, row in keyed if not math.isnan(row[j])), default=math.nan)
                             for j in range(width)])
        description = self.map.descriptions["counters"][column.index]
        rows = dict(keyed)
        for key in rows:
            shared.series.setdefault(key, _SeriesState())
        result = np.full(width, np.nan)
        with np.errstate(invalid="ignore"):  # an infinite counter: inf - inf is NaN, as intended
            for j in range(width):
                present = [(key, row[j]) for key, row in rows.items() if not math.isnan(row[j])]
                if not present:
                    continue
                for key, raw in present:
                    series = shared.series[key]
                    if math.isnan(series.last_raw):
                        series.offset = -raw if shared.started else 0.0
                    elif raw < series.last_raw:
                        series.offset += series.last_raw
                        resets.setdefault(first + j, []).append(description)
                    series.last_raw = raw
                    series.contribution = raw + series.offset
                shared.started = True
                total = 0.0
                for series in shared.series.values():
                    total += series.contribution
                result[j] = total
        return result


@st.composite
def pod_samples(draw, ticks: int, counter: bool):
    """One pod's sample per tick (NaN: none): it appears at some tick, loses scrapes, its counters restart."""
    appears = draw(st.integers(0, ticks - 1))
    steps = draw(st.lists(st.tuples(st.sampled_from(["grow", "grow", "grow", "restart", "lost"]), SAMPLE_VALUES),
                          min_size=ticks - appears, max_size=ticks - appears))
    values = np.full(ticks, np.nan)
    current = draw(SAMPLE_VALUES)  # a pod may appear with its counters well under way
    for tick, (step, amount) in enumerate(steps, start=appears):
        if step == "lost":
            continue
        if not counter:
            current = amount
        elif step == "grow":
            current += amount
        else:
            current = min(amount, current) / 2
        values[tick] = current
    return values


@st.composite
def pods_in_batches(draw):
    """Pods of each of ``POD_COLUMNS`` over some ticks, and how the ticks are cut into batches."""
    ticks = draw(st.integers(1, 24))
    pods = []
    for name, labels in POD_COLUMNS:
        for pod in range(draw(st.integers(1, 4))):
            values = draw(pod_samples(ticks, counter=name.endswith("_total")))
            pods.append(({"__name__": name, **labels, "pod": f"p{pod}"}, values))
    scrape_by_scrape = draw(st.booleans())
    cuts = [scrape_by_scrape or draw(st.booleans()) for _ in range(ticks - 1)]
    lasts = [tick for tick, cut in enumerate(cuts) if cut] + [ticks - 1]
    return ticks, pods, list(zip([0] + [last + 1 for last in lasts[:-1]], lasts))


def read(pods, first: int, last: int, order) -> list[RawSeries]:
    """What a source returns for ticks ``first..last``: the pods with samples there, in ``order``."""
    batch = []
    for labels, values in (pods[i] for i in order):
        ticks = np.flatnonzero(~np.isnan(values[first:last + 1])) + first
        if len(ticks):
            batch.append(RawSeries(labels, S_MS + 15_000 * ticks, values[ticks]))
    return batch


def carried_state(assembler: Assembler):
    """What an assembler carries to its next batch, floats as bytes (so that -0.0 and NaN compare exactly)."""
    def bits(value):
        return np.float64(value).tobytes()
    shared = {column: ([(key, bits(s.last_raw), bits(s.offset), bits(s.contribution)) for key, s in c.series.items()],
                       c.started) for column, c in assembler._shared.items()}
    return shared, dict(assembler._owner), assembler._last_raw.tobytes()


@given(pods_in_batches(), st.randoms(use_true_random=False))
def test_several_series_per_column_combine_as_the_tick_by_tick_oracle(case, random):
    ticks, pods, batches = case
    grid = ScrapeGrid(START, 15.0, ticks)
    actual = (Assembler(SeriesMap(LAYOUT, Naming()), grid), Telemetry.empty(LAYOUT, ticks))
    oracle = (TickByTickOracle(SeriesMap(LAYOUT, Naming()), grid), Telemetry.empty(LAYOUT, ticks))
    for first, last in batches:
        batch = read(pods, first, last, random.sample(range(len(pods)), len(pods)))
        notices = [assembler.fill(telemetry, first, last, batch) for assembler, telemetry in (actual, oracle)]
        assert [n for n in notices[0] if n.kind != "stopped"] == notices[1]
        assert carried_state(actual[0]) == carried_state(oracle[0])
    assert actual[1].counters.tobytes() == oracle[1].counters.tobytes()
    assert actual[1].gauges.tobytes() == oracle[1].gauges.tobytes()


@given(pods_in_batches())
def test_scrape_by_scrape_equals_one_batch_when_every_pod_is_there_from_the_first(case):
    ticks, pods, _ = case
    pods = [(labels, values) for labels, values in pods if not math.isnan(values[0])]
    order = range(len(pods))
    whole, whole_notices, _ = fill(read(pods, 0, ticks - 1, order), ticks=ticks)
    follow, follow_notices, assembler = fill(read(pods, 0, 0, order), ticks=ticks, last=0)
    for tick in range(1, ticks):
        follow_notices += assembler.fill(follow, tick, tick, read(pods, tick, tick, order))
    assert follow.counters.tobytes() == whole.counters.tobytes()
    assert follow.gauges.tobytes() == whole.gauges.tobytes()
    assert sorted(follow_notices, key=str) == sorted(whole_notices, key=str)


def test_a_pod_whose_series_stop_while_the_others_go_on_is_noted_once_whatever_the_batches():
    """A review found a canary pod's series vanishing mid-ramp without a word: the sums went on over the pods
    left (as PromQL's would), and an incident on the vanished pod advanced. Now a notice says so, once, at the
    scrape that makes STOPPED_AFTER without a sample, read in one batch or scrape by scrape."""
    stamps = [S_MS + 15_000 * t for t in range(12)]
    a = series("rampsim_requests_total", stamps, np.arange(1, 13) * 10.0, arm="canary", segment="A", pod="a")
    b = series("rampsim_requests_total", stamps[:3], [5, 10, 15], arm="canary", segment="A", pod="b")
    _, whole, _ = fill([a, b], ticks=12)
    telemetry, split, assembler = fill([a, b], ticks=12, last=5)
    assert not [n for n in split if n.kind == "stopped"]   # ticks 3-5: three scrapes without, not yet four
    for tick in range(6, 12):
        split += assembler.fill(telemetry, tick, tick, [RawSeries(x.labels, x.timestamps_ms[tick:tick + 1],
                                                                  x.values[tick:tick + 1]) for x in (a,)])
    for notices in (whole, split):
        (stopped,) = [n for n in notices if n.kind == "stopped"]
        assert stopped.tick == 3 + STOPPED_AFTER - 1 and '{arm="canary", pod="b", segment="A"}' in stopped.message


def test_a_stopped_series_is_named_with_its_label_values_escaped():
    """A pod label holding a newline and an ANSI escape forged a line of the gate's notices on the terminal."""
    stamps = [S_MS + 15_000 * t for t in range(12)]
    a = series("rampsim_requests_total", stamps, np.arange(1, 13) * 10.0, arm="canary", segment="A", pod="a")
    b = series("rampsim_requests_total", stamps[:3], [5, 10, 15], arm="canary", segment="A",
               pod="b\nFAKE LINE\x1b[31m\x85\u202e", **{"x\n\x1b": "y"})   # any UTF-8 label name, as 3.x allows
    _, notices, _ = fill([a, b], ticks=12)
    (stopped,) = [n for n in notices if n.kind == "stopped"]
    assert 'pod="b\\nFAKE LINE\\u001b[31m\\u0085\\u202e"' in stopped.message and 'x\\n\\u001b="y"' in stopped.message
    assert not any(c in stopped.message for c in "\n\x1b\x85\u202e")


@pytest.mark.parametrize("hole", ["missed", "damaged", "jittered"])
def test_a_missed_damaged_or_jittered_scrape_is_no_pod_gone(hole):
    stamps = [S_MS + 15_000 * t for t in range(10)]
    values = list(np.arange(1, 11) * 5.0)
    b_stamps, b_values = list(stamps), list(values)
    if hole == "missed":
        del b_stamps[4], b_values[4]
    elif hole == "damaged":
        b_values[4] = math.inf
    else:
        b_stamps[4] -= 8_000   # lands in slot 3: slot 4 holds nothing
    a = series("rampsim_requests_total", stamps, values, arm="canary", segment="A", pod="a")
    b = series("rampsim_requests_total", b_stamps, b_values, arm="canary", segment="A", pod="b")
    _, notices, _ = fill([a, b], ticks=10)
    assert not [n for n in notices if n.kind == "stopped"]


def test_a_scrape_every_pod_misses_is_missing_not_stopped():
    stamps = [S_MS + 15_000 * t for t in range(4)]
    a = series("rampsim_requests_total", stamps, [10, 20, 30, 40], arm="canary", segment="A", pod="a")
    b = series("rampsim_requests_total", stamps, [5, 10, 15, 20], arm="canary", segment="A", pod="b")
    _, notices, _ = fill([a, b], ticks=6)
    assert not [n for n in notices if n.kind == "stopped"] and [n.tick for n in notices if n.kind == "missing"]


@pytest.mark.parametrize("text", ["now--5m", "now+-5m", "20250301T010000", "2025-W09-6T00:00:15", "2025-03-01T00Z",
                                  "2025-03-01"])
def test_a_time_that_is_not_rfc_3339_or_relative_with_one_sign_is_refused(text):
    """A review found now--5m read as now+5m, and compact, week-date and bare-hour forms accepted."""
    from rampsim.errors import UsageError

    with pytest.raises(UsageError, match="cannot read"):
        parse_instant(text, lambda: 0.0)


@pytest.mark.parametrize("text, seconds", [("2025-03-01T00:00:00Z", 1740787200.0), ("2025-03-01 00:00:00", 1740787200.0),
                                           ("2025-03-01T01:00:00.5+01:00", 1740787200.5), ("now-5m", -300.0),
                                           ("1740787200", 1740787200.0)])
def test_rfc_3339_unix_seconds_and_now_are_read(text, seconds):
    assert parse_instant(text, lambda: 0.0) == seconds


# -- histograms: the bucket series of one histogram are summed together ----------------------------------------------

BUCKETS = Layout(segments=("A",), latency_buckets=(0.1, 0.2, float("inf")))
BUCKET = "rampsim_request_duration_seconds_bucket"


def pod_histogram(pod: str, counts: dict, ticks: int = 3) -> list[RawSeries]:
    """One pod's histogram: cumulative ``counts[le]`` growing by that much each scrape."""
    stamps = [S_MS + 15_000 * t for t in range(ticks)]
    return [series(BUCKET, stamps, [count * (t + 1) for t in range(ticks)], arm="canary", segment="A", pod=pod,
                   le=le) for le, count in counts.items()]


def fill_buckets(batch, ticks: int = 3):
    telemetry = Telemetry.empty(BUCKETS, ticks)
    notices = Assembler(SeriesMap(BUCKETS, Naming()), ScrapeGrid(START, 15.0, ticks)).fill(telemetry, 0, ticks - 1,
                                                                                         batch)
    return telemetry.latency_bucket[:, BUCKETS.arm("canary"), 0], notices


def test_a_histogram_without_one_of_the_plans_bounds_is_left_out_whole():
    """A rolling deploy that changed the buckets: pod b exports 0.1 and +Inf but not 0.2. Summed bound by bound, 0.2
    counted pod a alone and fell below 0.1 (a review read 41,000 at 10 ms and 30,388 at 20 ms, and a P99 of 51 ms
    for 46); pod b's histogram is now left out whole, with its bounds named beside the plan's."""
    full = pod_histogram("a", {"0.1": 40, "0.2": 45, "+Inf": 50})
    partial = pod_histogram("b", {"0.1": 40, "+Inf": 50, "0.05": 30})
    buckets, notices = fill_buckets(full + partial)
    np.testing.assert_array_equal(buckets, [[40, 45, 50], [80, 90, 100], [120, 135, 150]])   # pod a alone
    ignored = [n for n in notices if n.kind == "unmapped"]
    assert [n.tick for n in ignored] == [0, 1, 2]   # each scrape it was met at
    (left_out,) = {n.message for n in ignored}
    assert left_out == (f'3 series ignored: the histogram {BUCKET}{{arm="canary",pod="b",segment="A"}} lacks le=0.2 '
                        "of the plan's telemetry.latency_buckets (it has le=0.05, 0.1, +Inf); set "
                        "telemetry.latency_buckets to bounds every histogram of the service has")
    assert not [n for n in notices if n.kind == "damaged"]


def test_buckets_falling_as_le_rises_are_damaged():
    """One histogram whose cumulative counts fall from 0.1 to 0.2 at one scrape is no histogram there."""
    (low, middle, top) = pod_histogram("a", {"0.1": 40, "0.2": 45, "+Inf": 50})
    middle = RawSeries(middle.labels, middle.timestamps_ms, np.array([45.0, 70.0, 135.0]))
    buckets, notices = fill_buckets([low, middle, top])
    assert (buckets[1] == -math.inf).all()
    np.testing.assert_array_equal(buckets[[0, 2]], [[40, 45, 50], [120, 135, 150]])
    (damaged,) = [n for n in notices if n.kind == "damaged"]
    assert damaged.tick == 1 and "cumulative counts fall as le rises" in damaged.message
