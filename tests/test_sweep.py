"""Sweeps: exact probabilities, determinism across executors, resumption, monotonicity, errors."""
import math
import json
import re
import pickle
from concurrent.futures import Executor, Future, ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from scipy import stats

from rampsim.cli import main
from rampsim.engine.judge import CompiledGates, judge
from rampsim.experiment import chunks
from rampsim.experiment.axes import GridError, parse_axis
from rampsim.experiment.mix import load_mix
from rampsim.experiment.results import SweepResult
from rampsim.experiment.chunks import SweepInterrupted
from rampsim.experiment.sweep import sweep
from rampsim.plan import PlanError, load_plan, with_overrides
from rampsim.sim.simulation import simulate
from rampsim.testing import strategies as rst
from tests.sim_helpers import MIX_SMALL, VALIDATION, validation


def one_criterion_plan(criterion: dict, **traffic):
    """The small validation ramp judged by its final gate on one criterion, with no rules."""
    overrides = {"rules": {}, "final_gate.criteria": {"only": criterion}}
    overrides.update({f"traffic.service.{k}": v for k, v in traffic.items()})
    return with_overrides(validation(), overrides)


def interval(successes: int, trials: int, comparisons: int) -> tuple[float, float]:
    """A Wilson interval whose 5% error is shared by ``comparisons`` checks (Bonferroni)."""
    ci = stats.binomtest(successes, trials).proportion_ci(1 - 0.05 / comparisons, method="wilson")
    return ci.low, ci.high


def test_availability_false_rollbacks_match_the_binomial_tail():
    plan = one_criterion_plan({"metric": "availability", "op": ">", "threshold": "99.5%", "window": "cumulative"},
                              health_check_failure="1%")
    thresholds = ["99.9%", "99.5%", "99%", "98.6%"]  # with 240 checks: 0, 1, 2 and 3 failures allowed
    result = sweep(plan, grid=[f"final_gate.criteria.only.threshold={','.join(thresholds)}"], replicates=300,
                   seed=11, workers=1)
    checks = int(simulate(plan, seed=0, engine_factory=None).telemetry.health_checks[-1, 1])
    summary = result.summary()
    assert (summary["healthy_runs"] == 300).all()
    allowed_counts = []
    for _, row in summary.iterrows():
        threshold = float(row["final_gate.criteria.only.threshold"].rstrip("%")) / 100
        # passes iff (checks - failures) / checks > threshold
        allowed = int(np.ceil(checks * (1 - threshold)) - 1)
        allowed_counts.append(allowed)
        exact = stats.binom.sf(allowed, checks, 0.01)
        low, high = interval(int(row["false_rollbacks"]), 300, len(thresholds))
        assert low <= exact <= high, (threshold, exact, row.to_dict())
    assert allowed_counts == [0, 1, 2, 3]  # four different probabilities, not one tested twice
    assert summary["false_rollback_rate"].is_monotonic_decreasing


def test_error_rate_false_rollbacks_match_the_poisson_probability():
    plan = one_criterion_plan({"metric": "error_rate", "op": "<", "threshold": "0.08%", "window": "cumulative"})
    thresholds = ["0.06%", "0.07%", "0.08%", "0.09%"]
    result = sweep(plan, grid=[f"final_gate.criteria.only.threshold={','.join(thresholds)}"], replicates=300,
                   seed=5, workers=1)
    expected = simulate(plan, seed=0, engine_factory=None).truth.telemetry
    canary = plan.layout.arm("canary")
    mean_errors = expected.errors[-1, canary].sum() - expected.errors[0, canary].sum()
    mean_successes = expected.requests[-1, canary].sum() - expected.requests[0, canary].sum() - mean_errors
    errors = np.arange(0, int(mean_errors * 4) + 50)
    for _, row in result.summary().iterrows():
        threshold = float(row["final_gate.criteria.only.threshold"].rstrip("%")) / 100
        # errors and successes are independent Poisson counts; the criterion fails when E/(E+S) >= threshold
        exact = float(np.sum(stats.poisson.pmf(errors, mean_errors)
                             * stats.poisson.cdf(np.floor(errors * (1 - threshold) / threshold), mean_successes)))
        low, high = interval(int(row["false_rollbacks"]), int(row["healthy_runs"]), len(thresholds))
        assert low <= exact <= high, (threshold, exact)


@pytest.fixture(scope="module")
def small_mix_setup(validation_plan):
    return validation_plan, load_mix(MIX_SMALL, validation_plan)


GRID = ["rules.error_rate_rollback.threshold=0.3%,0.5%,1%", "rules.*.sustain=1m,3m"]


def test_results_are_identical_for_any_executor_and_worker_count(small_mix_setup):
    plan, mix = small_mix_setup
    inline = sweep(plan, mix, GRID, replicates=24, seed=3, workers=1, keep_runs=True)
    pool = sweep(plan, mix, GRID, replicates=24, seed=3, workers=2, keep_runs=True)
    with ThreadPoolExecutor(3) as threads:
        threaded = sweep(plan, mix, GRID, replicates=24, seed=3, executor=threads)
    pd.testing.assert_frame_equal(inline.runs, pool.runs)
    assert inline.tally.equals(pool.tally) and inline.tally.equals(threaded.tally)
    pd.testing.assert_frame_equal(inline.summary(), threaded.summary())
    assert inline.runs["incident"].any() and (~inline.runs["incident"]).any()
    other_seed = sweep(plan, mix, GRID, replicates=24, seed=4, workers=1)
    assert not inline.tally.equals(other_seed.tally)


class PicklingExecutor(Executor):
    """Runs each call in this thread on its arguments pickled and unpickled, as a process pool sends them."""

    def submit(self, fn, /, *args, **kwargs):
        future: Future = Future()
        future.set_result(fn(*pickle.loads(pickle.dumps(args)), **kwargs))
        return future


def test_the_gates_are_pickled_once_and_opened_once_per_worker(small_mix_setup, monkeypatch):
    plan, mix = small_mix_setup
    counts = {"pickled": 0, "opened": 0}
    state = CompiledGates.__getstate__

    def pickled(self):
        counts["pickled"] += 1
        return state(self)

    def opened(self, state):
        counts["opened"] += 1
        self.__dict__.update(state)

    monkeypatch.setattr(CompiledGates, "__getstate__", pickled)
    monkeypatch.setattr(CompiledGates, "__setstate__", opened, raising=False)
    monkeypatch.setattr(chunks, "_OPENED", {}, raising=False)
    shipped = sweep(plan, mix, GRID, replicates=24, seed=3, executor=PicklingExecutor())
    assert len(chunks.SweepSpec.of(plan, mix, [parse_axis(a) for a in GRID], 24, seed=3).tasks()) > 2
    assert counts == {"pickled": 1, "opened": 1}
    assert shipped.tally.equals(sweep(plan, mix, GRID, replicates=24, seed=3, workers=1).tally)


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_results(small_mix_setup):
    distributed = pytest.importorskip("distributed")
    plan, mix = small_mix_setup
    inline = sweep(plan, mix, GRID, replicates=12, seed=3, workers=1, keep_runs=True)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            on_dask = sweep(plan, mix, GRID, replicates=12, seed=3, executor=client.get_executor(), keep_runs=True)
    pd.testing.assert_frame_equal(inline.runs, on_dask.runs)
    assert inline.tally.equals(on_dask.tally)


def test_an_interrupted_sweep_continues_where_it_stopped(small_mix_setup, tmp_path):
    plan, mix = small_mix_setup
    uninterrupted = sweep(plan, mix, GRID, replicates=40, seed=9, workers=1, keep_runs=True)

    def stop_after_two(done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(SweepInterrupted, match="stopped after 2 of"):
        sweep(plan, mix, GRID, replicates=40, seed=9, workers=1, out=tmp_path, on_chunk=stop_after_two)
    assert len(list((tmp_path / "chunks").glob("*.npz"))) == 2
    seen = []
    resumed = sweep(plan, mix, GRID, replicates=40, seed=9, workers=1, out=tmp_path,
                    on_chunk=lambda done, total: seen.append(done), keep_runs=True)
    assert seen[0] == 2  # the saved chunks were loaded, not run again
    pd.testing.assert_frame_equal(uninterrupted.runs, resumed.runs)
    assert uninterrupted.tally.equals(resumed.tally)
    reloaded = SweepResult.load(tmp_path)
    pd.testing.assert_frame_equal(resumed.summary(), reloaded.summary(), check_dtype=False)
    pd.testing.assert_frame_equal(resumed.runs, reloaded.runs, check_dtype=False)
    lean = sweep(plan, mix, GRID, replicates=40, seed=9, workers=1, out=tmp_path)   # from the chunks, runs not kept
    assert lean.tally.equals(resumed.tally) and not (tmp_path / "runs.csv.gz").exists()
    with pytest.raises(ValueError, match="keep_runs=True"):
        SweepResult.load(tmp_path).runs
    with pytest.raises(ValueError, match="holds the chunks of another sweep"):
        sweep(plan, mix, GRID, replicates=40, seed=10, workers=1, out=tmp_path)


def test_a_save_cut_short_leaves_no_results_mixing_two_sweeps(small_mix_setup, tmp_path, monkeypatch):
    """A Ctrl-C while the results were written left one sweep's tally beside another's grid and sweep.json."""
    from rampsim.errors import DataUnavailable
    from rampsim.experiment import results

    plan, mix = small_mix_setup
    first = sweep(plan, mix, GRID, replicates=12, seed=3, workers=1)
    first.save(tmp_path)
    second = sweep(plan, mix, GRID[:1], replicates=12, seed=4, workers=1)
    written = results.write_atomically

    def interrupted(path, data):
        if path.name == "grid.csv":
            raise KeyboardInterrupt
        written(path, data)

    monkeypatch.setattr(results, "write_atomically", interrupted)
    with pytest.raises(KeyboardInterrupt):
        second.save(tmp_path)
    with pytest.raises(DataUnavailable, match="missing sweep.json"):
        SweepResult.load(tmp_path)
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.setattr(results, "write_atomically", written)
    second.save(tmp_path)
    assert SweepResult.load(tmp_path).tally.equals(second.tally)


@given(rst.telemetry(min_ticks=40, max_ticks=81, gaps=True), st.data())
def test_stricter_thresholds_never_lower_false_rollbacks_nor_raise_missed_incidents(telemetry, data):
    """On the same telemetry (common random numbers) a stricter gate stops whenever a looser one does."""
    base = data.draw(rst.gate_plans())
    assume(any(r.threshold > 0 for r in base.rules.values()))
    names = [n for n, r in base.rules.items() if r.threshold > 0]  # scaling a positive threshold moves it one way
    name = data.draw(st.sampled_from(names))
    rule = base.rules[name]
    factors = sorted(data.draw(st.lists(st.floats(0.5, 2.0), min_size=2, max_size=5)))
    plans = []
    for factor in factors:  # raising an upper-bound breach threshold loosens the gate
        threshold = rule.threshold * factor
        plans.append(with_overrides_from_model(base, f"rules.{name}.threshold", threshold, rule))
    verdicts = judge(plans, telemetry)
    stopped = np.isin([kind for kind, _, _ in verdicts.named()], ["hold", "rollback"])
    strictness = np.argsort(factors) if rule.op.value in (">", ">=") else np.argsort(factors)[::-1]
    ordered = stopped[strictness]  # from strictest to loosest
    assert all(ordered[i] >= ordered[i + 1] for i in range(len(ordered) - 1))


def with_overrides_from_model(plan, path, threshold, rule):
    kind = rule.kind.value
    if kind == "duration":   # at most the largest finite bucket, which histogram_quantile never exceeds
        top = max(b for b in plan.telemetry.latency_buckets if math.isfinite(b))
        text = f"{min(threshold, top if rule.op.value != '>' else top * (1 - 1e-9)) * 1000!r}ms"
    elif kind == "bytes per hour":
        text = f"{threshold!r}B/h"
    elif rule.contrast == "relative":   # a relative change, written as a percentage (a bare 1.0 reads as 100%: refused)
        text = f"{threshold * 100!r}%"
    else:   # a ratio: at most 100% (just under it for '>', which no ratio could breach at 100%)
        text = f"{min(threshold, 1.0 if rule.op.value != '>' else 1.0 - 1e-9)!r}"
    return with_overrides(plan, {path: text})


def test_sweep_rates_are_monotone_in_a_threshold_axis(small_mix_setup):
    plan, mix = small_mix_setup
    result = sweep(plan, mix, ["rules.error_rate_rollback.threshold=0.1%..1%:6"], replicates=30, seed=2, workers=1)
    summary = result.summary()
    assert summary["false_rollbacks"].is_monotonic_decreasing
    assert summary["missed_incidents"].is_monotonic_increasing
    assert summary["false_rollbacks"].iloc[0] > summary["false_rollbacks"].iloc[-1]


def test_bad_grid_and_mix_are_reported(tmp_path, validation_plan):
    plan = validation_plan
    with pytest.raises(GridError, match="write PATH=VALUES"):
        parse_axis("rules.error_rate_rollback.threshold")
    with pytest.raises(GridError, match="LOW..HIGH:COUNT"):
        parse_axis("rules.x.threshold=0.3%..1%")
    assert parse_axis("rules.x.sustain=30s..300s:4").values == ("30s", "120s", "210s", "300s")
    assert parse_axis("rules.x.threshold=0.3%..0.5%:3").values == ("0.3%", "0.4%", "0.5%")
    assert parse_axis("rules.x.sustain=1000000s..2000000s:2").values == ("1000000s", "2000000s")  # no 1e+06s
    # as a person writes them: 4 significant digits, more only where needed to keep the values apart
    assert parse_axis("rules.x.threshold=0.3%..1%:4").values == ("0.3%", "0.5333%", "0.7667%", "1%")
    assert parse_axis("rules.x.threshold=1000..1001:3").values == ("1000", "1000.5", "1001")
    assert len(set(parse_axis("rules.x.threshold=1000..1000.01:101").values)) == 101
    with pytest.raises(GridError, match="one unit"):
        parse_axis("rules.x.sustain=1h30m..2h:3")
    with pytest.raises(GridError, match="a range from a value to itself repeats it"):
        parse_axis("rules.x.threshold=0.5%..0.5%:3")
    with pytest.raises(GridError, match="an empty value"):
        parse_axis("rules.x.threshold=1%,,2%")
    with pytest.raises(GridError, match="'traffic' changes the simulated ramp"):
        parse_axis("traffic.service.health_check_failure=0.001%,0.035%")
    with pytest.raises(GridError, match="no field 'rules.nope'"):
        sweep(plan, grid=["rules.nope.threshold=1%,2%"], replicates=1, workers=1)
    with pytest.raises(GridError, match="did you mean 'rules.error_rate_rollback'"):
        sweep(plan, grid=["rules.error_rate_rolback.threshold=1%,2%"], replicates=1, workers=1)
    # a value the plan refuses is the grid's fault: named with its axis, not located at the plan's line
    with pytest.raises(GridError, match=r"^grid point rules.error_rate_rollback.threshold=1 mins: "
                                        r"rules.error_rate_rollback.threshold: unknown unit 'mins'"):
        sweep(plan, grid=["rules.error_rate_rollback.threshold=1 mins,2%"], replicates=1, workers=1)
    # two axes that vary one field (a wildcard over it) would label the gates by the one that lost
    with pytest.raises(GridError, match="grid axes 'rules.error_rate_rollback.sustain' and 'rules.[*].sustain' both "
                                        "vary rules.error_rate_rollback.sustain"):
        sweep(plan, grid=["rules.error_rate_rollback.sustain=2m", "rules.*.sustain=1m"], replicates=1, workers=1)
    bad = tmp_path / "mix.yaml"
    bad.write_text("scenarios:\n  healthy: {weight: 50%}\n  broken:\n    weight: 5%\n"
                   "    faults: ['eror-rate:canary:+1%@1m']\n")
    with pytest.raises(PlanError, match=r"mix.yaml:5: scenarios.broken.faults.0: .*eror-rate"):
        load_mix(bad, plan)


@pytest.mark.parametrize("grid", [
    ["rules.error_rate_rollback={metric: error_rate}", "rules.error_rate_rollback.threshold=1%"],
    ["rules.*=x", "rules.error_rate_rollback.threshold=1%"],
    ["rules.error_rate_rollback.threshold=1%", "rules.*=x"],
])
def test_an_axis_inside_another_axis_is_refused_naming_both(validation_plan, grid):
    """An axis setting a whole section replaced the field another axis varies inside it: the sweep said that field
    was not in the plan ('no field ... in the plan'), though it is."""
    first, second = (axis.partition("=")[0] for axis in grid)
    with pytest.raises(GridError, match=re.escape(f"grid axes {first!r} and {second!r} both vary "
                                                  "rules.error_rate_rollback.threshold (rules.error_rate_rollback "
                                                  "as a whole): each field by one axis only")):
        sweep(validation_plan, grid=grid, replicates=1, workers=1)


@pytest.mark.parametrize("plan_file, grid, alike", [
    (VALIDATION, ["rules.error_rate_rollback.threshold=0.3%,0.30%"], "'0.3%' and '0.30%' are one value"),
    (VALIDATION, ["rules.*.window=1m,2m", "rules.error_rate_rollback.threshold=0.3%,0.5%,0.003"],
     "'0.3%' and '0.003' are one value"),
    (VALIDATION, ["rules.*.sustain=90s,1m30s"], "'90s' and '1m30s' are one value"),
    (VALIDATION, ["rules.error_rate_rollback.threshold=0.5%,0.5%"], "'0.5%' of"),
    ("scenarios/ramp-phase-50k-kayenta.yaml", ["kayenta.stage.scoreThresholds.marginal=75.0,75"],
     "'75.0' and '75' are one value"),
    ("scenarios/ramp-phase-50k-kayenta.yaml", ["kayenta.stage.scopes.0.step=30,30.0"], "'30' and '30.0' are one value"),
    ("scenarios/ramp-phase-50k-kayenta.yaml", ["kayenta.stage.lifetimeDuration=PT4H,PT240M"],
     "'PT4H' and 'PT240M' are one value"),   # as Spinnaker reads it (the text was compared: two gates, one twice)
])
def test_a_value_written_twice_two_ways_is_refused_naming_both(grid, plan_file, alike):
    """Only the text was compared: ``0.3%,0.30%`` made two gates, one gate twice, tied on everything, the
    recommendation between them falling to grid order."""
    plan = load_plan(plan_file)
    with pytest.raises(GridError, match=rf"^grid axis '{re.escape(grid[-1])}': a value is repeated "
                                        rf"\({re.escape(alike)}"):
        sweep(plan, grid=grid, replicates=1, workers=1)


KAYENTA_CANARY = "kayenta.config.metrics.0.analysisConfigurations.canary"


def test_values_on_a_list_path_are_read_through_its_index(tmp_path, capsys, monkeypatch):
    """A review found every value of a path through a list (``scopes.0.step``, ``metrics.0...``) refused as
    repeated (the plan's values were never read there: none for every value), GridPoint.changes 0 for them, and
    --write-best writing ``allowedIncrease: '2'`` while printing that the plan's own gate was the recommendation.
    A Kayenta boolean could not be swept at all (``'true'`` is no boolean to Kayenta's JSON)."""
    from rampsim.experiment.axes import expand

    plan = load_plan("scenarios/ramp-phase-50k-kayenta.yaml")   # step 60, allowedIncrease 3, critical true
    points = expand(plan, [parse_axis("kayenta.stage.scopes.0.step=30,60"),
                           parse_axis(f"{KAYENTA_CANARY}.effectSize.allowedIncrease=2,3,4"),
                           parse_axis(f"{KAYENTA_CANARY}.critical=true,false")])
    assert len(points) == 12
    changes = {tuple(point.values.values()): point.changes for point in points}
    assert changes[("60", "3", "true")] == 0 and changes[("30", "3", "true")] == 1
    assert changes[("30", "2", "false")] == 3 and changes[("60", "4", "true")] == 1
    assert [point.plan.kayenta["config"]["metrics"][0]["analysisConfigurations"]["canary"]["critical"]
            for point in points[:2]] == [True, False]
    monkeypatch.setenv("COLUMNS", "200")
    best = tmp_path / "best.yaml"
    assert main(["sweep", "scenarios/ramp-phase-50k-kayenta.yaml", "--grid", f"{KAYENTA_CANARY}.critical=false",
                 "--grid", f"{KAYENTA_CANARY}.effectSize.allowedIncrease=2", "--replicates", "2", "--workers", "1",
                 "--out", str(tmp_path / "sweep"), "--no-progress", "--write-best", str(best)]) == 0
    printed = capsys.readouterr().out.split("recommended gate written to", 1)[1]
    assert f"{KAYENTA_CANARY}.critical: true → false" in printed
    assert f"{KAYENTA_CANARY}.effectSize.allowedIncrease: 3 → 2" in printed and "nothing" not in printed
    written = load_plan(best).kayenta["config"]["metrics"][0]["analysisConfigurations"]["canary"]
    assert written["critical"] is False   # a boolean, as Kayenta reads it
    assert written["effectSize"]["allowedIncrease"] == 2   # a number, as the plan wrote it ('2' reached Spinnaker)
    assert [point.plan.kayenta["stage"]["scopes"][0]["step"] for point in points[::6]] == [30, 60]


@pytest.mark.parametrize("axis", ["kayenta.stage.scopes.0.step=\uff13\uff10,60", "kayenta.stage.scopes.0.step=3\u0660",
                                  "kayenta.stage.scopes.0.step=\u0663\u0660..60:2"])
def test_grid_values_are_written_in_ascii_digits_as_plan_values_are(axis):
    """An imported gate's number was read with float(): a step of '３0' was swept as 30 (the plan refuses '３0')."""
    from rampsim.experiment.axes import Axis, grid_overrides

    with pytest.raises(GridError, match=re.escape(f"grid axis {axis!r}: cannot read ") + ".*is not an ASCII digit; "
                                        "write the number with ASCII digits 0-9"):
        parse_axis(axis)
    with pytest.raises(GridError, match="grid axis 'rules.x.threshold=1%,\uff12%': cannot read '\uff12%'"):
        Axis("rules.x.threshold", ("1%", "\uff12%"))   # an axis built in Python, as sweep(grid=[Axis(...)]) takes
    plan = load_plan("scenarios/ramp-phase-50k-kayenta.yaml")
    assert grid_overrides({"kayenta.stage.scopes.0.step": "30"}, plan) == {"kayenta.stage.scopes.0.step": 30}
    assert grid_overrides({"kayenta.stage.scopes.0.step": "\uff13\uff10"}, plan) == {
        "kayenta.stage.scopes.0.step": "\uff13\uff10"}   # text, for the plan to refuse, never the number 30


def test_mix_weights_written_as_percentages_must_add_up_to_the_whole(tmp_path):
    """``50%`` and ``5%`` read as shares of the replicates: scaled up silently, the healthy share would be 91%."""
    plan = load_plan(VALIDATION)
    mix = tmp_path / "mix.yaml"
    mix.write_text("scenarios:\n  healthy: {weight: 50%}\n  regression:\n    weight: 5%\n"
                   "    faults: ['error-rate:canary:+1%@1m']\n")
    with pytest.raises(PlanError, match=r"mix.yaml:1: scenarios: the weights, written as percentages, add up to "
                                        r"55%, not 100%"):
        load_mix(mix, plan)
    mix.write_text("scenarios:\n  healthy: {weight: 10}\n  regression: {weight: 1, faults: ['error-rate:canary:+1%@1m']}\n")
    assert load_mix(mix, plan).shares.tolist() == pytest.approx([10 / 11, 1 / 11])   # relative weights
    mix.write_text("scenarios:\n  a: {weight: 33.3%}\n  b: {weight: 33.3%}\n  c: {weight: 33.3%}\n")
    assert load_mix(mix, plan).shares.tolist() == pytest.approx([1 / 3] * 3)   # rounded thirds are the whole
    mix.write_text("scenarios:\n" + "".join(f"  s{i}: {{weight: 17%}}\n" for i in range(6)))
    assert load_mix(mix, plan).shares.tolist() == pytest.approx([1 / 6] * 6)   # sixths rounded to whole percents
    mix.write_text("scenarios:\n" + "".join(f"  s{i}: {{weight: 16.7%}}\n" for i in range(6)))
    assert load_mix(mix, plan).shares.tolist() == pytest.approx([1 / 6] * 6)
    mix.write_text("scenarios:\n  a: {weight: 90%}\n  b: {weight: 10}\n")   # 0.9 and 10 would be 8% and 92%
    with pytest.raises(PlanError, match="some weights are percentages and some plain numbers"):
        load_mix(mix, plan)
    mix.write_text("scenarios:\n  a: {weight: 33.3%}\n  b: {weight: 33.3%}\n  c: {weight: 32.9%}\n")
    with pytest.raises(PlanError, match="add up to 99.5%"):   # beyond the rounding of what is written (0.15)
        load_mix(mix, plan)
    for written in ("100.00001%", "99.99999%"):   # read "add up to 100%, not 100%"
        mix.write_text(f"scenarios:\n  healthy: {{weight: {written}}}\n")
        with pytest.raises(PlanError, match=f"add up to {re.escape(written)}, not 100%"):
            load_mix(mix, plan)


@pytest.mark.parametrize("axis, message", [
    ("rules.error_rate_rolback.threshold=1%,2%", "did you mean 'rules.error_rate_rollback'?"),
    ("rules.error_rate_rollback.threshold=abc", "grid point rules.error_rate_rollback.threshold=abc: "),
    ("rules.error_rate_rollback.treshold=1%", "unknown field 'treshold'; did you mean 'threshold'?"),
    # float() read digits of any script: a range of '٠.٣%..1%' was 0.3%..1%, a count of '３' 3 values
    ("rules.error_rate_rollback.threshold=\uff10.\uff15%", "grid axis 'rules.error_rate_rollback.threshold="
     "\uff10.\uff15%': cannot read '\uff10.\uff15%': '\uff10' (fullwidth digit zero) is not an ASCII digit; write "
     "the number with ASCII digits 0-9"),
    ("rules.error_rate_rollback.threshold=\u0660.\u0663%..1%:3", "'\u0660' (arabic-indic digit zero) is not an ASCII "
     "digit; write the number with ASCII digits 0-9"),
    ("rules.*.sustain=1m..3m:\uff13", "grid axis 'rules.*.sustain=1m..3m:\uff13': cannot read '\uff13'"),
])
def test_grid_errors_are_usage_errors_without_a_progress_bar(tmp_path, capsys, axis, message):
    code = main(["sweep", str(VALIDATION), "--grid", axis, "--replicates", "2", "--workers", "1",
                 "--out", str(tmp_path / "sweep")])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.startswith("rampsim sweep: grid") and message in captured.err, captured.err
    assert "chunks" not in captured.err and captured.out == ""
    assert not (tmp_path / "sweep").exists()


def test_sweep_and_report_commands(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = tmp_path / "sweep"
    code = main(["sweep", str(VALIDATION), "--mix", str(MIX_SMALL),
                 "--grid", "rules.error_rate_rollback.threshold=0.3%,1%", "--grid", "rules.*.sustain=1m,3m",
                 "--replicates", "8", "--workers", "1", "--out", str(out), "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "Pareto front" in printed and "★ recommended for" in printed and "The recommended gate by scenario" in printed
    assert "…" not in printed and max(map(len, printed.splitlines())) <= 80   # readable at 80 columns
    assert re.search(r"^\s+\d+( ★)?\s+error_rate_rollback\.threshold=(0\.3|1)%, \*\.sustain=[13]m", printed, re.M)
    for name in ("tally.npz", "grid.csv", "sweep.json", "summary.csv", "tradeoff.png", "heatmap.png",
                 "detection.png"):
        assert (out / name).exists(), name
    assert not (out / "runs.csv.gz").exists()   # only with --keep-runs
    first = pd.read_csv(out / "summary.csv")
    (out / "tradeoff.png").unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "tradeoff.png").exists() and not (out / "report.html").exists()
    capsys.readouterr()
    assert main(["report", str(out), "--html"]) == 0
    assert "report.html" in capsys.readouterr().out
    page = (out / "report.html").read_text()
    assert "Recommended gate" in page and page.count("data:image/png;base64,") >= 2
    pd.testing.assert_frame_equal(first, pd.read_csv(out / "summary.csv"))
    capsys.readouterr()
    assert main(["sweep", str(VALIDATION), "--mix", str(MIX_SMALL),
                 "--grid", "rules.error_rate_rollback.threshold=0.3%,1%", "--grid", "rules.*.sustain=1m,3m",
                 "--replicates", "8", "--workers", "1", "--out", str(out), "--no-progress", "--keep-runs"]) == 0
    assert "runs.csv.gz" in capsys.readouterr().out
    kept = SweepResult.load(out)
    assert len(kept.runs) == 8 * len(kept.grid)
    pd.testing.assert_frame_equal(first, pd.read_csv(out / "summary.csv"))


def test_the_commands_charts_say_the_costs_that_picked_the_star(tmp_path, capsys, monkeypatch):
    """The charts could say the costs behind their ★, but ``sweep`` and ``report`` did not give them theirs: a
    report re-rendered under other costs starred another gate over the same titles."""
    from pathlib import Path

    from matplotlib.figure import Figure

    out = tmp_path / "sweep"
    titles: dict[str, str] = {}
    monkeypatch.setattr(Figure, "savefig", lambda figure, path, **_: titles.update(
        {Path(path).name: " ".join(ax.get_title(loc).replace("\n", " ") for ax in figure.axes
                                   for loc in ("left", "center"))}))
    assert main(["sweep", str(VALIDATION), "--grid", "rules.error_rate_rollback.threshold=0.3%,1%",
                 "--replicates", "4", "--workers", "1", "--out", str(out), "--no-progress"]) == 0
    assert "costs: false rollback 1, missed incident 10" in titles["tradeoff.png"], titles
    assert main(["report", str(out), "--costs", "fr=1,mi=100,harm=0.000001"]) == 0
    for name in ("tradeoff.png", "operating-curve.png"):
        assert "costs: false rollback 1, missed incident 100, harm 1e-06" in titles[name], (name, titles[name])


def test_report_html_diffs_against_the_swept_plan_only(tmp_path, capsys, monkeypatch):
    """``sweep.json`` kept the plan's path as given (relative) and the report read whatever file was there: after an
    edit, or from another directory, it named and diffed another plan. The path is now absolute and the plan's
    digest recorded: a plan that is no longer the swept one gets a notice and no diff."""
    plan = tmp_path / "val.yaml"
    plan.write_text(VALIDATION.read_text())
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "sweep"
    assert main(["sweep", "val.yaml", "--grid", "rules.error_rate_rollback.threshold=0.3%,1%", "--replicates", "4",
                 "--workers", "1", "--out", str(out), "--no-progress"]) == 0
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["plan"] == str(plan) and len(meta["plan_digest"]) == 16
    monkeypatch.chdir(out)
    capsys.readouterr()
    assert main(["report", str(out), "--html"]) == 0
    assert "not the plan" not in capsys.readouterr().err and "differ from the plan" in (out / "report.html").read_text()
    plan.write_text(VALIDATION.read_text().replace("threshold: 0.5%", "threshold: 7%", 1))
    assert main(["report", str(out), "--html"]) == 0
    assert "not the plan this sweep ran on (edited since" in capsys.readouterr().err
    assert "differ from the plan" not in (out / "report.html").read_text()


def test_the_front_ties_gates_on_equal_rates_not_equal_counts(tmp_path, capsys, monkeypatch):
    """With early stops the missed-incident rate's runs differ by gate: two gates with 2 misses each (25% and 20%)
    were tied on their counts, and the table dropped the recommended one under 'the same rates'."""
    from rampsim.cli.sweep import _print_report
    from rampsim.experiment.results import Costs

    monkeypatch.setenv("COLUMNS", "120")
    rows = []

    def add(gate, incident, decision, time, harm):
        rows.append({"gate": gate, "scenario": "bad" if incident else "healthy", "replicate": len(rows),
                     "incident": incident, "environment": False, "incident_start": 600.0 if incident else np.nan,
                     "fault_start": 600.0 if incident else np.nan, "decision": decision, "decision_time": time,
                     "source": "rule:r" if decision != "advance" else "", "harmed": harm, "exposed": harm})

    for gate in (0, 1):
        for _ in range(10):
            add(gate, False, "advance", 1200.0, 0)
    for decision, time in [("rollback", 300.0)] * 2 + [("advance", 1200.0)] * 2 + [("rollback", 660.0)] * 6:
        add(0, True, decision, time, 10)         # 2 early stops, 2 missed of 8 faced: 25%
    for decision, time in [("advance", 1200.0)] * 2 + [("rollback", 900.0)] * 8:
        add(1, True, decision, time, 100000)     # 2 missed of 10 faced: 20%, and much harm
    result = SweepResult.from_runs(pd.DataFrame(rows), pd.DataFrame({"gate": [0, 1], "x": ["a", "b"]}),
                                   {"replicates": 10})
    costs = Costs(false_rollback=1, missed_incident=10, harmed_request=1e-4)
    assert result.summary(costs)["cost_optimal"].tolist() == [True, False]
    _print_report(result, costs, tmp_path)
    printed = capsys.readouterr().out
    assert re.search(r"^\s*0 ★\s", printed, re.M) and "with the same rates" not in printed, printed


def test_scenario_names_and_paths_print_as_written_not_as_rich_markup(tmp_path, capsys, monkeypatch):
    """Rich read a scenario named ``[/]`` as a closing tag (sweep and report ended in exit 70, --write-best never
    written) and ``[red]`` as a style (the name vanished); paths and grid values are the user's text too."""
    monkeypatch.setenv("COLUMNS", "200")
    folder = tmp_path / "[red]mixes"
    folder.mkdir()
    mix = folder / "m.yaml"
    mix.write_text('name: x\nscenarios:\n  "[/]": {weight: 1}\n  "[red]": {weight: 1}\n  ":x:": {weight: 1}\n'
                   '  "[i]regression": {weight: 1, faults: ["error-rate:canary:+1.5%@5m"]}\n')
    out, best = tmp_path / "[bold]out", tmp_path / "[i]best.yaml"
    assert main(["sweep", str(VALIDATION), "--mix", str(mix), "--grid", "rules.error_rate_rollback.threshold=0.3%,0.5%",
                 "--replicates", "8", "--workers", "1", "--out", str(out), "--no-progress",
                 "--write-best", str(best)]) == 0
    printed = capsys.readouterr().out
    for text in ("[/]", "[red]", ":x:", "[i]regression", str(mix), str(out), str(best)):
        assert text in printed, text
    assert best.exists()
    assert main(["report", str(out)]) == 0
    printed = capsys.readouterr().out
    assert all(re.search(rf"^\s*{re.escape(name)}\s+(healthy|incident)", printed, re.M)
               for name in ("[/]", "[red]", ":x:", "[i]regression")), printed


def test_sweep_and_report_refuse_an_option_given_twice_but_repeat_grid(tmp_path, capsys):
    """A repeated single-valued option silently replaced the first (``--replicates 2000 --replicates 20``): exit
    2 naming the option and both values; ``--grid`` is meant to repeat and still does."""
    for argv, option, values in (
            (["sweep", str(VALIDATION), "--replicates", "2000", "--replicates", "20"], "--replicates", "'2000', then '20'"),
            (["sweep", str(VALIDATION), "--out", str(tmp_path / "a"), "--out", str(tmp_path / "b")], "--out",
             f"{str(tmp_path / 'a')!r}, then {str(tmp_path / 'b')!r}"),
            (["report", str(tmp_path), "--costs", "fr=1", "--costs", "fr=2"], "--costs", "'fr=1', then 'fr=2'")):
        with pytest.raises(SystemExit) as exit:
            main(argv)
        assert exit.value.code == 2
        assert f"argument {option}: given twice ({values})" in capsys.readouterr().err
    from rampsim.cli import build_parser

    args = build_parser().parse_args(["sweep", str(VALIDATION), "--grid", "rules.*.sustain=1m,3m",
                                      "--grid", "rules.error_rate_rollback.threshold=0.5%,1%"])
    assert args.grid == ["rules.*.sustain=1m,3m", "rules.error_rate_rollback.threshold=0.5%,1%"]


def test_the_pareto_front_is_described_as_it_is_computed(capsys, tmp_path):
    """The CLI's header said 'no other gate has fewer false rollbacks and fewer missed incidents' (strict on
    both) and the README 'no other gate beats on both rates', while the code puts a gate off the front when
    another is as low on both rates and lower on one. Every description now says that."""
    from pathlib import Path

    import rampsim.experiment.results as results
    from rampsim.experiment.results import pareto_front

    # gate 1 ties gate 0's false-rollback rate and misses more: off the front, though not beaten on both
    assert pareto_front([0.1, 0.1, 0.2, 0.1], [0.2, 0.3, 0.1, 0.2]).tolist() == [True, False, True, True]
    definition = ("no other gate has a false-rollback rate and a missed-incident rate as low or lower, "
                  "one of them lower")
    root = Path(__file__).parent.parent
    readme = " ".join(root.joinpath("README.md").read_text().split())
    assert main(["sweep", str(VALIDATION), "--replicates", "4", "--workers", "1", "--no-progress", "--html",
                 "--grid", "rules.*.sustain=1m,3m", "--out", str(tmp_path / "sweep")]) == 0
    assert f"Pareto front: {definition}" in " ".join(capsys.readouterr().out.split())
    html = " ".join((tmp_path / "sweep" / "report.html").read_text().split())
    for text in (readme, " ".join((results.__doc__ or "").split()), " ".join((pareto_front.__doc__ or "").split()),
                 html):
        assert definition in text
        assert "beats on both" not in text and "fewer false rollbacks and fewer" not in text
