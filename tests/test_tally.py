"""The tally of a sweep: exact quantiles from histograms, folds in any order, and the summary of the runs."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from rampsim.experiment.chunks import KINDS, Chunk, SweepSpec, compile_grid, run_chunk
from rampsim.experiment.axes import parse_axis
from rampsim.experiment.mix import load_mix
from rampsim.experiment.results import SweepResult, quantile_interval
from rampsim.experiment.sweep import sweep
from rampsim.experiment.tally import TRUTHS, Tally, harm_interval, histogram_quantiles
from tests.conftest import examples
from tests.sim_helpers import MIX_SMALL, validation

GRID = ["rules.error_rate_rollback.threshold=0.1%,0.3%,0.5%,1%", "rules.*.sustain=0s,1m,3m",
        "final_gate.criteria.error_rate.threshold=0.5%,2%"]   # early stops (0.1%, 0s) and misses (1%, 2%)


def per_run_quantile_interval(values: np.ndarray, p: float, confidence: float) -> tuple[float, float, float]:
    """The oracle: ``numpy.quantile`` and scipy's order-statistic interval on the raw values."""
    if len(values) == 0:
        return np.nan, np.nan, np.nan
    estimate = float(np.quantile(values, p))
    if len(values) < 3:
        return estimate, np.nan, np.nan
    interval = stats.quantile_test(values, q=estimate, p=p).confidence_interval(confidence)
    return estimate, float(interval.low), float(interval.high)


on_a_grid = st.integers(-40, 200).map(lambda k: k * 15.0 - 7.5)   # delays on a scrape grid, shifted by a start
anywhere = st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False)


@settings(max_examples=examples(fast=300), deadline=None)
@given(st.lists(st.lists(st.one_of(on_a_grid, anywhere), max_size=60), min_size=1, max_size=5),
       st.one_of(st.sampled_from([0.5, 0.9, 0.25, 0.75, 0.05, 0.95]), st.floats(0.01, 0.99)),
       st.sampled_from([0.95, 0.99, 0.999, 0.8]))
def test_quantiles_of_a_histogram_equal_those_of_the_raw_values(samples, p, confidence):
    parts = [np.unique(np.array(s, float), return_counts=True) for s in samples]
    cell = np.concatenate([np.full(len(v), i) for i, (v, _) in enumerate(parts)]).astype(np.int64)
    value = np.concatenate([v for v, _ in parts])
    count = np.concatenate([c for _, c in parts]).astype(np.int64)
    estimate, low, high = histogram_quantiles(cell, value, count, len(samples), p, confidence)
    for i, sample in enumerate(samples):
        expected = per_run_quantile_interval(np.array(sample, float), p, confidence)
        np.testing.assert_array_equal([estimate[i], low[i], high[i]], expected)
        if confidence == 0.95:
            np.testing.assert_array_equal(quantile_interval(np.array(sample, float), p), expected)


@settings(max_examples=examples(fast=200), deadline=None)
@given(st.lists(st.integers(0, 10**12), min_size=1, max_size=80))
def test_the_harm_interval_is_the_normal_interval_of_the_mean(harm):
    values = np.array(harm, dtype=float)
    total = np.array([sum(harm)], np.int64)
    squares = np.array([sum(h * h for h in harm)], dtype=object)
    mean, low, high = harm_interval(total, squares, np.array([len(harm)]))
    assert mean[0] == pytest.approx(values.mean(), rel=1e-12)
    if len(harm) < 53 and max(harm) < 2 ** 40:
        assert mean[0] == values.mean()   # exact sums: the same float as numpy's mean of the raw values
    half = stats.norm.ppf(0.975) * values.std(ddof=1) / np.sqrt(len(harm)) if len(harm) > 1 else 0.0
    assert high[0] - mean[0] == pytest.approx(half, rel=1e-6, abs=1e-6 * max(1.0, mean[0]))
    # harm counts requests: the lower end stops at 0
    assert low[0] == pytest.approx(max(mean[0] - half, 0.0), rel=1e-6, abs=1e-6 * max(1.0, mean[0]))
    assert low[0] >= 0.0


def test_no_runs_give_nan_and_equal_values_a_zero_width_interval():
    mean, low, high = harm_interval(np.array([0, 21]), np.array([0, 147], dtype=object), np.array([0, 3]))
    assert np.isnan([mean[0], low[0], high[0]]).all()
    assert (mean[1], low[1], high[1]) == (7.0, 7.0, 7.0)


# -- folding ------------------------------------------------------------------------------------------------------

SCENARIOS, SOURCES, GATES = ("healthy", "outage", "shared"), ("rule:a", "rule:b", "checkpoint:final"), 40


def synthetic_chunk(seed: int, scenario: int, start: int, replicates: int = 10) -> Chunk:
    """Random outcomes of ``GATES`` gates on some replicates: delays on a grid, harm up to 10¹⁰ requests."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 4, (replicates, GATES)).astype(np.int8)
    time = np.where(kind == 0, np.nan, rng.integers(0, 960, kind.shape) * 15.0)
    source = np.where(kind == 0, -1, rng.integers(0, len(SOURCES), kind.shape)).astype(np.int16)
    harmed = rng.integers(0, 10 ** 10, kind.shape).astype(float)
    incident = rng.random(replicates) < 0.5
    environment = ~incident & (rng.random(replicates) < 0.4)
    start_time = np.where(incident, rng.integers(0, 40, replicates) * 15.0 + 7.5, np.nan)
    onset = np.where(incident | environment, rng.integers(0, 200, replicates) * 15.0, np.nan)  # some stops before it
    return Chunk(scenario, start, kind, time, source, harmed, harmed * 2, incident, environment, start_time, onset)


SYNTHETIC = [synthetic_chunk(i, i % len(SCENARIOS), 10 * (i // len(SCENARIOS))) for i in range(60)]


def folded(chunks: list[Chunk]) -> Tally:
    tally = Tally.empty(GATES, SCENARIOS, SOURCES)
    for chunk in chunks:
        tally.fold(chunk)
    return tally


REFERENCE = folded(SYNTHETIC)


@settings(max_examples=examples(fast=25), deadline=None)
@given(st.permutations(range(len(SYNTHETIC))), st.lists(st.integers(1, len(SYNTHETIC) - 1), max_size=6),
       st.randoms(use_true_random=False))
def test_folds_and_merges_give_the_same_tally_in_any_order_and_grouping(order, cuts, rnd):
    """Chunks folded in any order, in groups of any size (workers), the groups merged in any order."""
    bounds = [0, *sorted(set(cuts)), len(order)]
    parts = [folded([SYNTHETIC[i] for i in order[a:b]]) for a, b in zip(bounds, bounds[1:])]
    while len(parts) > 1:
        i = rnd.randrange(len(parts) - 1)
        parts[i:i + 2] = [parts[i].merge(parts[i + 1]) if rnd.random() < 0.5 else parts[i + 1].merge(parts[i])]
    assert parts[0].equals(REFERENCE)


def test_the_delay_histogram_is_compacted_as_it_grows_and_counts_every_catch():
    cell, value, count = REFERENCE.delays
    assert len(REFERENCE._delays) == 1 and len(cell) > 4096   # large enough to have been compacted on the way
    table = SweepResult.from_chunks(SYNTHETIC, [{}] * GATES, SCENARIOS, SOURCES, {}, REFERENCE).runs
    runs = SweepResult.from_runs(table, pd.DataFrame({"gate": range(GATES)}), scenarios=SCENARIOS, sources=SOURCES)
    assert runs.tally.equals(REFERENCE)   # the runs table and the chunks are tallied alike
    table = runs.runs
    caught = table[table["incident"] & table["decision"].isin(["hold", "rollback"])
                   & ~(table["decision_time"] <= table["fault_start"])]   # a stop before the fault is no catch
    delays = caught["decision_time"] - caught["incident_start"]
    assert count.sum() == len(caught)
    expected = delays.groupby([caught["gate"], caught["scenario"].map(SCENARIOS.index), delays]).size()
    np.testing.assert_array_equal(count, expected.to_numpy())


def test_harm_that_is_not_a_whole_number_of_requests_is_refused():
    chunk = synthetic_chunk(1, 0, 0)
    chunk.harmed[0, 0] = 0.5
    with pytest.raises(ValueError, match="harm must count requests"):
        Tally.empty(GATES, SCENARIOS, SOURCES).fold(chunk)


def test_a_saved_tally_reads_back_equal(tmp_path):
    (tmp_path / "tally.npz").write_bytes(REFERENCE.to_bytes())
    assert Tally.load(tmp_path / "tally.npz").equals(REFERENCE)


# -- a real sweep: the tally's summary is the runs' -------------------------------------------------------------------

@pytest.fixture(scope="module")
def kept() -> SweepResult:
    plan = validation()
    return sweep(plan, load_mix(MIX_SMALL, plan), GRID, replicates=40, seed=3, workers=1, keep_runs=True)


def per_run_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """The oracle: the counts, detection quantiles, mean harm and cost computed run by run. An incident run stopped
    at its first fault's start or before is an early stop: neither caught nor missed, a false alarm in the
    precision, and it costs what a false rollback costs."""
    rows = []
    for gate, group in runs.groupby("gate", sort=True):
        healthy, incident = ~group["incident"] & ~group["environment"], group["incident"]
        stopped = group["decision"].isin(["hold", "rollback"])
        early = incident & stopped & (group["decision_time"] <= group["fault_start"] + 1e-9)
        faced = incident & ~early
        false_rollbacks, caught = int((stopped & healthy).sum()), int((stopped & faced).sum())
        missed, early_stops = int((~stopped & faced).sum()), int(early.sum())
        delays = (group["decision_time"] - group["incident_start"])[stopped & faced].to_numpy()
        median = per_run_quantile_interval(delays, 0.5, 0.95)
        p90 = per_run_quantile_interval(delays, 0.9, 0.95)
        alarms = caught + false_rollbacks + early_stops
        rows.append({"gate": gate, "runs": len(group), "healthy_runs": int(healthy.sum()),
                     "incident_runs": int(incident.sum()), "faced_incidents": int(faced.sum()),
                     "environment_runs": int(group["environment"].sum()),
                     "false_rollbacks": false_rollbacks, "missed_incidents": missed, "caught": caught,
                     "early_stops": early_stops, "environment_stops": int((stopped & group["environment"]).sum()),
                     "detect_median_s": median[0], "detect_median_low": median[1], "detect_median_high": median[2],
                     "detect_p90_s": p90[0], "detect_p90_low": p90[1], "detect_p90_high": p90[2],
                     "harm_mean": group["harmed"][incident].mean() if incident.any() else np.nan,
                     "precision": caught / alarms if alarms else np.nan,
                     "cost": (1.0 * (false_rollbacks + early_stops) + 10.0 * missed
                              + 1e-3 * group["harmed"][~group["environment"]].sum()) / len(group)})
    return pd.DataFrame(rows)


def test_the_summary_from_the_tally_equals_the_summary_of_the_runs(kept):
    from rampsim.experiment.results import Costs

    summary = kept.summary(Costs(1, 10, 1e-3))
    expected = per_run_summary(kept.runs)
    assert expected["caught"].gt(0).all() and expected["detect_median_low"].notna().any()
    assert expected["early_stops"].gt(0).any() and expected["missed_incidents"].gt(0).any()   # every kind of run
    pd.testing.assert_frame_equal(summary[list(expected.columns)], expected, check_dtype=False)
    harm = kept.runs[kept.runs["incident"]].groupby("gate")["harmed"]
    half = stats.norm.ppf(0.975) * harm.std() / np.sqrt(harm.size())
    np.testing.assert_allclose(summary["harm_high"] - summary["harm_mean"], half, rtol=1e-9)
    np.testing.assert_allclose(summary["harm_low"], np.maximum(summary["harm_mean"] - half, 0.0), rtol=1e-9)
    assert (summary["harm_low"] == 0).any()   # harm counts requests: a noisy gate's interval stops at 0
    assert_wilson_intervals(summary, expected)
    rates = expected["false_rollbacks"] / expected["healthy_runs"]
    assert rates.eq(0).any() and rates.eq(1).any() and rates.between(0, 1, inclusive="neither").any()
    assert expected["missed_incidents"].gt(0).any() and expected["environment_runs"].eq(0).all()   # NaN intervals


WILSON = {"false_rollback": ("false_rollbacks", "healthy_runs"),
          "missed_incident": ("missed_incidents", "faced_incidents"),
          "environment_stop": ("environment_stops", "environment_runs")}


def assert_wilson_intervals(summary: pd.DataFrame, counts: pd.DataFrame) -> None:
    """Each rate and its ``*_low``/``*_high`` columns in ``summary`` are ``k / n`` and scipy's 95% Wilson interval
    from the oracle's ``counts`` (NaN where there are no trials)."""
    for name, (successes, trials) in WILSON.items():
        for gate, k, n in zip(counts["gate"], counts[successes], counts[trials]):
            row = summary.loc[summary["gate"] == gate].iloc[0]
            got = (row[f"{name}_rate"], row[f"{name}_low"], row[f"{name}_high"])
            if n == 0:
                assert np.isnan(got).all(), (name, gate, got)
                continue
            interval = stats.binomtest(int(k), int(n)).proportion_ci(0.95, method="wilson")
            assert got == pytest.approx((k / n, interval.low, interval.high), rel=1e-12, abs=1e-15), (name, gate)


def test_the_summary_of_a_tally_gives_wilson_intervals_of_its_counts():
    """Every kind of count (environment runs too, which the sweep above has none of), on the synthetic tally."""
    summary = SweepResult.from_chunks([], [{}] * GATES, SCENARIOS, SOURCES, {}, REFERENCE).summary()
    counts = REFERENCE.counts(by_scenario=False)
    assert all(counts[n].gt(0).all() and counts[k].gt(0).any() for k, n in WILSON.values())
    assert_wilson_intervals(summary, counts)


def test_the_breakdown_from_the_tally_equals_the_breakdown_of_the_runs(kept):
    runs = kept.runs
    stopped = runs["decision"].isin(["hold", "rollback"])
    healthy = ~runs["incident"] & ~runs["environment"]
    early = stopped & runs["incident"] & (runs["decision_time"] <= runs["fault_start"] + 1e-9)
    expected = (runs.assign(stops=stopped, false_rollbacks=stopped & healthy,
                            missed_incidents=~stopped & runs["incident"],
                            environment_stops=stopped & runs["environment"], early_stops=early)
                .groupby(["gate", "scenario"], sort=True)
                .agg(runs=("replicate", "size"), incident_runs=("incident", "sum"),
                     environment_runs=("environment", "sum"), stops=("stops", "sum"),
                     false_rollbacks=("false_rollbacks", "sum"), missed_incidents=("missed_incidents", "sum"),
                     environment_stops=("environment_stops", "sum"), early_stops=("early_stops", "sum"))
                .reset_index())
    assert expected["early_stops"].gt(0).any()
    breakdown = kept.breakdown()
    pd.testing.assert_frame_equal(breakdown[list(expected.columns)], expected, check_dtype=False)
    decisions = kept.decisions().groupby(["gate", "scenario", "decision", "source"])["runs"].sum()
    pd.testing.assert_series_equal(decisions, runs.groupby(["gate", "scenario", "decision", "source"]).size(),
                                   check_names=False)


def test_a_sweep_tallies_every_chunk_whatever_the_order_it_finishes_in(kept):
    plan = validation()
    spec = SweepSpec.of(plan, load_mix(MIX_SMALL, plan), [parse_axis(a) for a in GRID], 40, 3)
    gates = compile_grid(spec)
    chunks = [run_chunk(spec, gates, *task) for task in spec.tasks()]
    backwards = Tally.empty(len(kept.grid), kept.tally.scenarios, kept.tally.sources)
    for chunk in reversed(chunks):
        backwards.fold(chunk)
    assert backwards.equals(kept.tally)


def test_a_stop_before_the_gate_saw_the_fault_is_counted_apart_never_as_a_catch():
    """A gate stopping an incident before it saw a request the fault acted on (at the fault's start or before: a
    scrape counts the interval ending at it) reacted to noise on a healthy release: it was counted as catching the
    incident (with a negative detection delay), flattering noisy gates. It is an early stop: neither a catch nor a
    miss, and the false-rollback rate stays over the healthy scenarios' runs."""
    rollback = KINDS.index("rollback")
    kind = np.full((1, 3), rollback, np.int8)
    time = np.array([[480.0, 3600.0, 3720.0]])      # 8 min; at the fault's start; two minutes after it
    chunk = Chunk(0, 0, kind, time, np.zeros((1, 3), np.int16), np.zeros((1, 3)), np.zeros((1, 3)),
                  np.array([True]), np.array([False]), np.array([3660.0]), np.array([3600.0]))
    tally = Tally.empty(3, SCENARIOS, SOURCES)
    tally.fold(chunk)
    counts = tally.counts(by_scenario=False)
    assert counts["early_stops"].tolist() == [1, 1, 0] and counts["caught"].tolist() == [0, 0, 1]
    assert counts["incident_runs"].tolist() == [1, 1, 1] and counts["healthy_runs"].tolist() == [0, 0, 0]
    assert counts["missed_incidents"].tolist() == [0, 0, 0]
    cell, value, count = tally.delays
    assert cell.tolist() == [2 * len(SCENARIOS)] and value.tolist() == [60.0] and count.tolist() == [1]
    healthy, early = TRUTHS.index("healthy"), TRUTHS.index("early")
    assert tally.outcomes[:, :, healthy].sum() == 0 and tally.outcomes[:, :, early].sum() == 2
    result = SweepResult.from_chunks([], [{}] * 3, SCENARIOS, SOURCES, {}, tally)
    summary = result.summary()
    assert summary["faced_incidents"].tolist() == [0, 0, 1]   # the missed-incident rate's runs: early ones left out
    assert np.isnan(summary["missed_incident_rate"][0]) and summary["missed_incident_rate"][2] == 0.0
    assert summary["precision"].tolist()[:2] == [0.0, 0.0]    # an early stop is a false alarm
    breakdown = result.breakdown()
    assert breakdown["early_stops"].tolist() == [1, 1, 0] and bool(breakdown["incident"].all())


@pytest.mark.parametrize("values, p, expected", [
    ([10.0, 20.0, np.inf, np.inf], 0.9, np.inf),     # both order statistics infinite: numpy's inf - inf is NaN
    ([10.0, 20.0, 30.0, np.inf], 0.9, np.inf),       # weighed in: infinite
    ([10.0, 20.0, 30.0, np.inf], 2 / 3, 30.0),       # not weighed in (on the third value exactly): finite
    ([10.0, 20.0, 30.0, 40.0], 0.9, np.quantile([10.0, 20.0, 30.0, 40.0], 0.9)),
])
def test_an_infinite_value_weighed_in_gives_an_infinite_quantile(values, p, expected):
    """A review found `check --max-detect` printing the p90 detection delay as n/a when missed incidents (never
    detected: infinite delays) held it."""
    value, count = np.unique(np.array(values), return_counts=True)
    estimate, _, _ = histogram_quantiles(np.zeros(len(value), np.int64), value, count, 1, p)
    assert estimate[0] == expected


def test_the_detection_bound_reads_missed_incidents_as_never_detected():
    from rampsim.experiment.check import EXCEEDED, _quantile_verdict

    verdict = _quantile_verdict("detect_p90_s", (np.array([30.0, 45.0]), np.array([1, 1])), 0.9, 600.0, 0.95, missed=8)
    assert verdict.estimate == np.inf and verdict.verdict == EXCEEDED
