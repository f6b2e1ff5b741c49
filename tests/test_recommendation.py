"""One recommended gate everywhere: its rule, its agreement across outputs, and ``--write-best``."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rampsim.cli import main
from rampsim.experiment.mix import load_mix
from rampsim.experiment.results import Costs, SweepResult, recommended
from rampsim.experiment.sweep import sweep
from rampsim.plan import load_plan
from tests.sim_helpers import MIX_SMALL, VALIDATION

GRID = ["rules.error_rate_rollback.threshold=0.3%,0.5%,1%", "rules.*.sustain=1m,3m"]


@pytest.fixture(scope="module")
def result():
    plan = load_plan(VALIDATION)
    return sweep(plan, load_mix(MIX_SMALL, plan), GRID, replicates=24, seed=3, workers=1)


values = st.sampled_from([0.0, 1.0, 2.0, np.nan])


@given(st.lists(st.tuples(values, values, values, st.integers(0, 2)), min_size=1, max_size=12))
def test_the_recommendation_is_the_lowest_cost_then_detection_then_harm_then_fewest_changes(rows):
    table = pd.DataFrame(rows, columns=["cost", "detect_median_s", "harm_mean", "changes"])
    chosen = recommended(table)

    def key(i):
        return tuple(np.inf if np.isnan(x) else x for x in table.iloc[i][["cost", "detect_median_s", "harm_mean",
                                                                           "changes"]]) + (i,)
    assert key(chosen) == min(key(i) for i in range(len(table)))


@given(st.floats(0, 5), st.floats(0, 50), st.sampled_from([0.0, 1e-4]))
def test_one_gate_is_starred_and_best_agrees_for_any_costs(result, false_rollback, missed, harm):
    costs = Costs(false_rollback, missed, harm)
    summary = result.summary(costs)
    assert summary["cost_optimal"].sum() == 1
    starred = summary[summary["cost_optimal"]].iloc[0]
    assert starred["cost"] == summary["cost"].min()
    assert result.best(costs)["gate"] == starred["gate"]


def test_table_footnote_and_summary_csv_name_the_same_gate(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    assert main(["sweep", str(VALIDATION), "--mix", str(MIX_SMALL), *sum((["--grid", g] for g in GRID), []),
                 "--replicates", "24", "--seed", "3", "--workers", "1", "--no-progress", "--out", str(out),
                 "--costs", "fr=1,mi=1,harm=0"]) == 0
    printed = capsys.readouterr().out.replace("\n", " ")
    summary = pd.read_csv(out / "summary.csv")
    assert summary["cost_optimal"].sum() == 1
    best = summary[summary["cost_optimal"]].iloc[0]
    footnote = printed.split("★ recommended for fr=1, mi=1, harm=0:")[1].split("(the rule")[0]
    assert f"threshold={best['rules.error_rate_rollback.threshold']}" in footnote.replace(" ", "")
    assert f"sustain={best['rules.*.sustain']}" in footnote.replace(" ", "")
    assert printed.count("★") == 3  # the starred table row, its legend line and the footnote
    assert re.search(rf"\b{int(best['gate'])} ★ ", printed)   # the table and legend star the gate by its number


def test_write_best_over_the_swept_plan_is_refused_before_the_sweep(tmp_path, capsys):
    plan = tmp_path / "plan.yaml"
    plan.write_text(VALIDATION.read_text())
    assert main(["sweep", str(plan), "--grid", GRID[0], "--replicates", "2", "--workers", "1", "--no-progress",
                 "--out", str(tmp_path / "grid"), "--write-best", str(plan)]) == 2
    assert "that is the plan file this command reads" in capsys.readouterr().err
    assert plan.read_text() == VALIDATION.read_text() and not (tmp_path / "grid").exists()


def test_write_best_writes_a_plan_that_reproduces_its_row(result, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    costs = "fr=1,mi=3,harm=0"
    assert main(["sweep", str(VALIDATION), "--mix", str(MIX_SMALL), *sum((["--grid", g] for g in GRID), []),
                 "--replicates", "24", "--seed", "3", "--workers", "1", "--no-progress", "--out", "grid",
                 "--costs", costs, "--write-best", "best.yaml"]) == 0
    out = capsys.readouterr().out
    assert "recommended gate written to best.yaml" in out
    # each changed parameter as the swept plan writes it, then the recommendation's value
    from rampsim.experiment.axes import written_values

    changed = re.findall(r"^  (\S+): (.*) → (\S+)$", out, re.M)
    assert changed or "nothing: the plan's own gate is the recommendation" in out
    for parameter, was, now in changed:
        assert was == ", ".join(written_values(load_plan(VALIDATION), parameter)) and was and was != now
    assert main(["validate", "best.yaml"]) == 0
    best = result.best(Costs.parse(costs))
    plan = load_plan(tmp_path / "best.yaml")
    alone = sweep(plan, load_mix(MIX_SMALL, plan), [], replicates=24, seed=3, workers=1).summary(Costs.parse(costs))
    for column in ("false_rollbacks", "missed_incidents", "caught", "cost", "detect_median_s", "harm_mean"):
        assert alone[column].iloc[0] == pytest.approx(best[column], nan_ok=True), column


def test_the_per_scenario_breakdown_adds_up_to_the_totals(result):
    breakdown, summary = result.breakdown(), result.summary()
    totals = breakdown.groupby("gate")[["runs", "incident_runs", "false_rollbacks", "missed_incidents"]].sum()
    merged = summary.merge(totals.add_suffix("_by_scenario"), left_on="gate", right_index=True)
    for column in ("runs", "incident_runs", "false_rollbacks", "missed_incidents"):
        assert (merged[column] == merged[f"{column}_by_scenario"]).all(), column
    assert set(breakdown["scenario"]) == set(result.tally.scenarios)   # every scenario of the small mix has runs
    assert breakdown["incident"].any() and (~breakdown["incident"]).any()


def test_breakdown_notes_name_the_healthy_scenarios_behind_half_the_false_rollbacks():
    """Gate 0: 3 false rollbacks, 2 of them stops of 'bump' (healthy by the SLO): named. Gate 1: 1 of 3: not."""
    rows = []
    for gate, stops in ((0, {"healthy": 1, "bump": 2}), (1, {"healthy": 2, "bump": 1})):
        for scenario in ("healthy", "bump", "outage"):
            for replicate in range(4):
                stopped = replicate < stops.get(scenario, 4)
                rows.append({"gate": gate, "scenario": scenario, "replicate": replicate,
                             "incident": scenario == "outage", "decision": "rollback" if stopped else "advance",
                             "decision_time": 60.0 if stopped else 600.0, "incident_start": 0.0, "source": "",
                             "harmed": 0.0})
    result = SweepResult.from_runs(pd.DataFrame(rows), pd.DataFrame({"gate": [0, 1]}))
    (note,) = result.breakdown_notes(0)
    assert note.startswith("the SLO does not count bump as an incident, yet 2 of the 3 false rollbacks")
    assert result.breakdown_notes(1) == []
    # a healthy scenario by another name (no faults) is never "not counted as an incident" (a review found it was)
    renamed = SweepResult.from_runs(pd.DataFrame(rows).replace({"scenario": {"healthy": "steady", "bump": "steady-2"}}),
                                    pd.DataFrame({"gate": [0, 1]}), meta={"fault_free": ["steady", "steady-2"]})
    assert renamed.breakdown_notes(0) == [] and renamed.breakdown_notes(1) == []


def test_a_cost_given_twice_is_refused():
    from rampsim.errors import UsageError

    with pytest.raises(UsageError, match="false_rollback is given twice"):
        Costs.parse("fr=1,false_rollback=5")
    assert Costs.parse("fr=2, mi=3").missed_incident == 3.0


def test_a_reloaded_sweep_recommends_with_the_costs_it_was_reported_with(tmp_path, capsys):
    """``SweepResult.load(...).best()`` priced the gates with the default costs, not the sweep's own: with a harm
    cost it named another gate than the table, its star and ``summary.csv``."""
    costs = "fr=1,mi=10,harm=1e-5"
    assert main(["sweep", str(VALIDATION), "--mix", str(MIX_SMALL), *sum((["--grid", g] for g in GRID), []),
                 "--replicates", "24", "--seed", "3", "--workers", "1", "--no-progress", "--out", str(tmp_path / "s"),
                 "--costs", costs]) == 0
    loaded = SweepResult.load(tmp_path / "s")
    written = pd.read_csv(tmp_path / "s" / "summary.csv")
    assert loaded.best()["gate"] == written[written["cost_optimal"]].iloc[0]["gate"]
    assert loaded.summary()["cost"].to_numpy() == pytest.approx(written["cost"].to_numpy())
    assert loaded.summary(costs)["cost"].to_numpy() == pytest.approx(written["cost"].to_numpy())
    assert loaded.summary(Costs()).equals(loaded.summary("fr=1,mi=10,harm=0"))


def test_costs_of_another_type_and_another_plan_are_refused(result):
    from rampsim.errors import UsageError

    with pytest.raises(UsageError, match="costs: a Costs or its text"):
        result.summary({"false_rollback": 1})
    other = load_plan(VALIDATION.parent / "ramp-phase-50k.yaml")
    with pytest.raises(UsageError, match="is not the plan this sweep ran on"):
        result.best_plan(other)
    assert result.best_plan(load_plan(VALIDATION)).name == load_plan(VALIDATION).name


def test_a_mix_that_does_not_fit_the_plan_is_refused_before_any_worker_starts(tmp_path):
    """A mix made in Python reached the workers, whose PlanError came back one character per line."""
    import pickle

    from rampsim.experiment.mix import single_scenario_mix
    from rampsim.faults import parse_fault
    from rampsim.plan.loader import PlanError

    late = single_scenario_mix("late", (parse_fault("error-rate:canary:+1%@1h"),))
    with pytest.raises(PlanError, match=r"mix 'late', scenario 'late': fault 1: error-rate: starts at 1h") as caught:
        sweep(load_plan(VALIDATION), late, replicates=2, workers=1, out=tmp_path / "s")
    assert not (tmp_path / "s").exists()
    error = pickle.loads(pickle.dumps(caught.value))
    assert error.problems == caught.value.problems and str(error) == str(caught.value)


def test_a_sweep_result_reads_in_a_console_as_one_line(result):
    """Its repr was the dataclass's: 33 KB of the tally's arrays in a notebook's plain-text output."""
    text = repr(result)
    assert "\n" not in text and len(text) < 300
    assert f"{len(result.grid)} gates x 24 replicates" in text
