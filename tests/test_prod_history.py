"""Reading a history (``read_history``): how the raw samples were scraped, answers too large, the source's warnings.

Histories are two simulated hours of the reference service's stable arm, recorded in memory
(:meth:`~rampsim.prod.replay.FileSource.from_telemetry`) and re-timed the way a scraper or a
recording rule would have them.
"""
import numpy as np
import pytest

from rampsim.calibration.comparison import history_plan
from rampsim.errors import DataUnavailable
from rampsim.faults import parse_fault
from rampsim.prod import source as source_module
from rampsim.prod.history import read_history
from rampsim.prod.replay import FileSource
from rampsim.prod.samples import RawSeries
from rampsim.prod.source import AnswerTooLarge, PrometheusSource, RetryPolicy
from rampsim.sim import simulate
from tests.prometheus_server import FakePrometheus
from tests.sim_helpers import realistic_reference

START = 1_740_787_200  # 2025-03-01T00:00:00Z
HOURS = 2


@pytest.fixture(scope="module")
def plan():
    return realistic_reference()


@pytest.fixture(scope="module")
def recorded(plan) -> list[RawSeries]:
    """Two hours of the stable arm, one series per column, scraped on the plan's 15-second grid from START."""
    telemetry = simulate(history_plan(plan, HOURS * 3600), seed=1, engine_factory=None).telemetry
    return [s for s in FileSource.from_telemetry(telemetry, START).series
            if s.labels.get("arm") == "baseline" and len(s.timestamps_ms)]


def rescraped(series: list[RawSeries], every_s: float, offset_s: float = 0.0, jitter_ms: int = 0) -> FileSource:
    """``series`` as if scraped every ``every_s`` seconds from ``offset_s`` past START (counters interpolated and
    rounded, as a counter read between two scrapes), each timestamp moved by up to ``jitter_ms`` either way."""
    first, end = START * 1000 + offset_s * 1000, START * 1000 + HOURS * 3_600_000
    stamps = np.arange(first, end, every_s * 1000).astype(np.int64)
    moved = stamps + np.random.default_rng(3).integers(-jitter_ms, jitter_ms + 1, len(stamps))
    return FileSource([RawSeries(s.labels, moved, np.round(np.interp(stamps, s.timestamps_ms, s.values)))
                       for s in series])


def read(plan, source):
    return read_history(plan, source, START, START + HOURS * 3600)


@pytest.mark.parametrize("every, problem", [(15, ""), (10, "a slot holds one or two of its samples"),
                                            (30, "an increment needs two consecutive scrapes")])
def test_the_samples_spacing_is_measured_and_held_against_the_plans_interval(plan, recorded, every, problem):
    """Scraped every 10 s, a 15-second slot holds one or two samples: the increments alternate between 10 and 20
    seconds (a review's calibration read request sd 0.37 for 0.047 and a correlation time of 5 s, with no note);
    every 30 s, no two consecutive slots hold a sample. Both are named, with the plan setting to change."""
    history = read(plan, rescraped(recorded, every))
    requests = sum(s.labels["__name__"] == "rampsim_requests_total" for s in recorded)
    assert history.scraping.spacing == every and history.scraping.series == requests == 3
    if not problem:
        assert history.interval_problem() == ""
        return
    assert history.interval_problem() == (
        f"the history's samples are {every}s apart (the median spacing of 3 series of requests, or of every series "
        f"without them), the plan scrapes "
        f"every 15s: read on the plan's scrape slots, {problem}"
        + (", which this history seldom has" if every > 15 else ", so increments span unequal times")
        + f"; use a plan with telemetry.scrape_interval: {every}s")


def test_samples_alternating_between_slot_edges_are_no_other_interval(plan, recorded):
    """One sample at the start of a slot, the next at the end of the following one: 1 ms, then 30 s apart, a median
    spacing of 1 ms, but one sample a slot (the gate, which measures the spacing too, judged nothing of them)."""
    edged = [RawSeries(s.labels, s.timestamps_ms + np.where(np.arange(len(s.timestamps_ms)) % 2, 7_499, -7_500),
                       s.values) for s in recorded]
    history = read(plan, FileSource(edged))
    assert history.scraping.spacing == 0.001 and history.scraping.mean_spacing == pytest.approx(15, abs=0.1)
    assert history.interval_problem() == ""


def test_scrapes_on_the_edge_of_the_slots_are_read_on_slots_centred_on_them(plan, recorded):
    """Scrapes 7.5 s past the slots of --start, jittered by up to 75 ms, landed two in one slot and none in the next:
    half the scrapes were lost, silently (a review's day kept 2,946 of 5,759 complete scrapes)."""
    history = read(plan, rescraped(recorded, 15, offset_s=7.5, jitter_ms=75))
    requests = history.telemetry.requests[:, history.telemetry.layout.arm("baseline")]
    assert history.grid.start == START + 7.5 and len(history.telemetry) == HOURS * 240
    assert np.isfinite(requests).all()
    assert not [n for n in history.notices if n.kind in ("duplicate", "missing") and "baseline" in n.message]
    (aligned,) = [line for line in history.summary() if line.startswith("aligned:")]
    assert "7.5s past the slots starting at 2025-03-01T00:00:00Z" in aligned
    on_grid = read(plan, rescraped(recorded, 15, jitter_ms=75))
    assert on_grid.grid.start == START and not [n for n in on_grid.notices if n.kind == "aligned"]


class WarningSource(FileSource):
    """A recording whose every answer carries a warning, as a Thanos or Cortex partial response does."""

    warnings = ["partial response: store gateway 10.0.0.7:10901 unavailable"]


def test_the_sources_warnings_are_notices_and_the_summary_groups_them(plan, recorded):
    history = read(plan, WarningSource(recorded))
    warnings = [n for n in history.notices if n.kind == "warning"]
    assert len(warnings) == 3 and warnings[0].message == f"Prometheus: {WarningSource.warnings[0]}"   # a read each
    assert history.summary() == [f"warning: Prometheus: {WarningSource.warnings[0]} (3 times from "
                                 "2025-03-01T00:00:00Z to 2025-03-01T02:00:00Z)"]


def test_the_summary_says_at_which_scrapes_and_how_often(plan, recorded):
    """The notices were dated at the start of the batch read (an hour of scrapes): a duplicate at 01:09:45 was
    summarised 'at 01:00:00', a segment the plan lacks, present at every scrape, '3 times from 00:00 to 02:00'. A
    second sample a second after a scrape is the slot's latest, as a faster scrape's, and noted; a counter falling
    within its slot is damaged."""
    stray = [RawSeries({**s.labels, "segment": "D"}, s.timestamps_ms, s.values) for s in recorded
             if s.labels.get("segment") == "A" and s.labels["__name__"] == "rampsim_requests_total"]
    at = START * 1000 + (3600 + 9 * 60 + 45) * 1000
    changed = []
    for s in recorded:
        if s.labels["__name__"] == "rampsim_requests_total" and s.labels.get("segment") in ("B", "C"):
            k = int(np.searchsorted(s.timestamps_ms, at))
            later = s.values[k] + 5 if s.labels["segment"] == "B" else s.values[k] - 5
            s = RawSeries(s.labels, np.insert(s.timestamps_ms, k + 1, at + 1000), np.insert(s.values, k + 1, later))
        changed.append(s)
    history = read(plan, FileSource(changed + stray))
    scrapes = HOURS * 240 + 1
    summary = "\n".join(history.summary())
    assert (f"unmapped: 1 series ignored: unknown segment='D' (the plan's telemetry.segments: A, B, C) ({scrapes:,} "
            "times from 2025-03-01T00:00:00Z to 2025-03-01T02:00:00Z)") in summary, summary
    assert ("duplicate: 1 extra sample(s) within one scrape slot; the latest of each slot is used "
            "(at 2025-03-01T01:09:45Z)") in summary, summary
    assert ('damaged: rampsim_requests_total{arm="baseline",segment="C"}: the counter falls within one scrape slot '
            "(a reset inside the slot cannot be told from a second source's value); windows over this scrape are "
            "inconclusive (at 2025-03-01T01:09:45Z)") in summary, summary
    assert history.damaged == 1


def test_an_answer_too_large_is_asked_again_for_half_the_ticks(plan, recorded, monkeypatch):
    """Each request covered 240 scrapes whatever the answer's size: a service of 150 pods could not be read (exit 5,
    'an answer larger than 64 MiB'). The range is halved until the answer fits, and the history is the same."""
    expected = read(plan, FileSource(recorded))
    monkeypatch.setattr(source_module, "MAX_ANSWER", 300_000)   # about 60 scrapes of this history's series
    with FakePrometheus(FileSource(recorded)) as server:
        history = read(plan, PrometheusSource(server.url, plan.layout, policy=RetryPolicy(attempts=1)))
        asked = server.requests
    np.testing.assert_array_equal(history.telemetry.counters, expected.telemetry.counters)
    assert asked > 2 * HOURS   # more than one request per 240 scrapes

    monkeypatch.setattr(source_module, "MAX_ANSWER", 2_000)   # not even one scrape's samples
    with FakePrometheus(FileSource(recorded)) as server, pytest.raises(AnswerTooLarge) as refused:
        read(plan, PrometheusSource(server.url, plan.layout, policy=RetryPolicy(attempts=1)))
    assert isinstance(refused.value, DataUnavailable)
    message = str(refused.value)
    assert "an answer larger than" in message and "even for the samples of one scrape slot" in message
    assert "narrow them with the naming's matchers" in message


def test_the_gate_asks_an_answer_too_large_again_for_half_the_ticks(monkeypatch):
    """`rampsim gate` read 240 scrapes a request whatever the answer's size: a service of many pods stopped it
    (exit 5). It halves the span as the history does, keeps the smaller span, and judges the same."""
    from rampsim.prod.gate_run import GateRun
    from tests.sim_helpers import validation

    ramp = validation()
    telemetry = simulate(ramp, [parse_fault("error-rate:canary:+2%@5m")], seed=2, engine_factory=None).telemetry
    series = [s for s in FileSource.from_telemetry(telemetry, START).series if len(s.timestamps_ms)]
    offline = GateRun(ramp, FileSource(series), START)
    list(offline.run_to(ramp.n_scrapes - 1))
    monkeypatch.setattr(source_module, "MAX_ANSWER", 150_000)
    with FakePrometheus(FileSource(series)) as server:
        online = GateRun(ramp, PrometheusSource(server.url, ramp.layout, policy=RetryPolicy(attempts=1)), START)
        list(online.run_to(ramp.n_scrapes - 1))
        asked = server.requests
    assert offline.decision is not None and online.decision == offline.decision
    assert asked > 2 and online.batch_ticks < 240
    np.testing.assert_array_equal(online.telemetry.counters[:online.next_tick],
                                  offline.telemetry.counters[:offline.next_tick])


def test_the_requests_decide_the_spacing_whatever_the_other_series(plan, recorded):
    """Requests recorded every 30 s beside buckets every 15 s: the buckets outvoted the requests, the check passed,
    and calibrate fitted nothing (an increment needs two consecutive scrapes of the requests)."""
    requests = [s for s in recorded if s.labels["__name__"] == "rampsim_requests_total"]
    others = [s for s in recorded if s.labels["__name__"] != "rampsim_requests_total"]
    history = read(plan, FileSource(rescraped(requests, 30).series + others))
    assert history.scraping.spacing == 30 and "an increment needs two consecutive scrapes" in history.interval_problem()


def test_no_smaller_span_is_asked_after_the_deadline(plan):
    """`serve`'s deadline was checked between batches only: a source answering 'too large' was asked again for 120,
    60, ... 1 scrapes, up to 8 reads, each up to --timeout long, while the webhook waited."""
    import time

    from rampsim.prod.gate_run import GateRun

    class TooLarge:
        reads = 0

        def read(self, low_ms, high_ms):
            TooLarge.reads += 1
            time.sleep(0.2)
            raise AnswerTooLarge("an answer larger than 64 MiB")

    run = GateRun(plan, TooLarge(), START)
    steps = list(run.run_until(START + 3600, deadline=time.monotonic() + 0.3))
    assert steps == [] and run.problem == "" and run.next_tick == 0
    assert 1 <= TooLarge.reads <= 2 and run.batch_ticks < 240   # the next call starts with the smaller span


def test_a_range_far_wider_than_the_samples_is_read_over_their_span_alone(plan, recorded):
    """A range of 90 days around one day of samples was read 240 scrapes a request and allocated 90 days of empty
    scrapes (a review measured 27.6 s and 2.58 GB of peak memory against Prometheus, 4.2 s and 163 MB from the
    recording): the empty stretches are now read in batches growing to 16 hours and never allocated, and the
    history is the one of the samples' own span, as read from the recording."""
    expected = read(plan, FileSource(recorded))
    with FakePrometheus(FileSource(recorded)) as server:
        history = read_history(plan, PrometheusSource(server.url, plan.layout, policy=RetryPolicy(attempts=1)),
                               START - 45 * 86400, START + 45 * 86400)
        asked = server.requests
    assert history.grid.start == START and len(history.telemetry) == len(expected.telemetry) == HOURS * 240 + 1
    np.testing.assert_array_equal(history.telemetry.counters, expected.telemetry.counters)
    np.testing.assert_array_equal(history.telemetry.gauges, expected.telemetry.gauges)
    assert [(n.tick, n.kind, n.message) for n in history.notices] == \
        [(n.tick, n.kind, n.message) for n in expected.notices]
    assert asked < 200   # 5,400 with the old batches of an hour


def test_a_gap_inside_the_samples_is_kept_and_a_range_without_one_is_unavailable(plan, recorded):
    """The batches holding no sample are read longer and longer: a gap between samples is still a stretch of
    missing scrapes, and a range holding no sample at all is named as such."""
    hole = [RawSeries(s.labels, s.timestamps_ms[keep], s.values[keep]) for s in recorded
            for keep in [(s.timestamps_ms < (START + 1800) * 1000) | (s.timestamps_ms >= (START + 5400) * 1000)]]
    history = read(plan, FileSource(hole))
    requests = history.telemetry.requests[:, history.telemetry.layout.arm("baseline")]
    assert len(history.telemetry) == HOURS * 240 + 1
    assert np.isnan(requests[120:360]).all() and np.isfinite(requests[:120]).all() and np.isfinite(requests[360:]).all()
    with pytest.raises(DataUnavailable, match="holds no sample from 2025-03-01T00:40:00Z to 2025-03-01T01:20:00Z"):
        read_history(plan, FileSource(hole), START + 2400, START + 4800)
