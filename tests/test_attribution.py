"""Attribution in the ground truth: a breach the release causes is an incident, one the shared infrastructure
causes is an environment incident, reported on its own unless the plan's ``slo.environment_incidents`` says
``incident``; sweeps, checks, rehearsals and ``validate`` say so."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from rampsim.cli import main
from rampsim.engine.events import Decision, DecisionKind
from rampsim.experiment.mix import load_mix
from rampsim.experiment.results import Costs, SweepResult
from rampsim.experiment.sweep import sweep
from rampsim.faults import parse_fault
from rampsim.plan import with_overrides
from rampsim.sim.outcome import outcome
from rampsim.sim.scenario import Scenario
from rampsim.sim.truth import ground_truth, release_faults
from tests.sim_helpers import VALIDATION, validation

# The validation ramp's SLO: canary error rate above 0.5% over 5m, sustained 5m (base rate about 0.07%).
RELEASE = "error-rate:canary:+1.5%@5m"            # breaches alone
SHARED = "error-rate:shared:+1.5%@5m/5m"           # breaches alone, on both arms
SMALL_RELEASE = "error-rate:canary:+0.3%@5m"       # does not breach alone
SMALL_SHARED = "error-rate:shared:+0.3%@5m"        # does not breach alone
MIX = """name: attribution
scenarios:
  healthy: {weight: 50%}
  regression: {weight: 25%, faults: ["error-rate:canary:+1.5%@5m"]}
  shared-burst: {weight: 25%, faults: ["error-rate:shared:+1.5%@5m/5m"]}
"""


def truth_of(*faults: str, plan=None):
    return ground_truth(Scenario.build(plan or validation(), [parse_fault(f) for f in faults]))


def incident_policy():
    return with_overrides(validation(), {"slo.environment_incidents": "incident"})


# -- the ground truth ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("faults, cause", [
    ((RELEASE,), "release"),
    ((SHARED,), "environment"),
    ((RELEASE, SHARED), "release"),                 # the release's part breaches alone
    ((SMALL_RELEASE, SHARED), "environment"),       # it does not; the shared part does
    ((SMALL_RELEASE, SMALL_SHARED), "release"),     # neither alone: the breach needs the release
    (("error-rate:canary/C:+4%@5m", SHARED), "release"),   # a segment of the canary is the release's
])
def test_a_breach_is_attributed_to_the_release_or_the_environment(faults, cause):
    truth = truth_of(*faults)
    assert truth.incident and truth.cause == cause
    assert truth.counted is (cause == "release") and truth.environment is (cause == "environment")
    assert ("environment incident" in truth.describe()) is (cause == "environment")


def test_healthy_scenarios_have_no_cause():
    for faults in ((), (SMALL_RELEASE,), (SMALL_SHARED,), ("error-rate:baseline:+2%@5m",)):
        truth = truth_of(*faults)
        assert not truth.incident and truth.cause is None and not truth.counted and not truth.environment


def test_faults_on_the_canary_are_the_releases_and_the_others_the_environments():
    faults = [parse_fault(f) for f in (RELEASE, SHARED, "error-rate:canary/B:+1%@5m", "crash:baseline:40%@5m/5m",
                                       "slow-dependency:shared:+300ms@5m/5m")]
    release, environment = release_faults(faults)
    assert release == (faults[0], faults[2]) and environment == (faults[1], faults[3], faults[4])


MAGNITUDES = [0.0, 0.002, 0.003, 0.005, 0.015]


@pytest.mark.parametrize("canary", MAGNITUDES)
@pytest.mark.parametrize("shared", MAGNITUDES)
def test_the_rule_on_each_part_alone(canary, shared):
    """The cause follows from each part's ground truth, each scenario built on its own."""
    def faults(arm, magnitude):
        return [f"error-rate:{arm}:+{magnitude * 100:g}%@5m"] if magnitude else []
    both = truth_of(*faults("canary", canary), *faults("shared", shared))
    release_alone = truth_of(*faults("canary", canary)).incident
    environment_alone = truth_of(*faults("shared", shared)).incident
    if not both.incident:
        assert both.cause is None
    else:
        assert both.cause == ("environment" if environment_alone and not release_alone else "release")


def test_the_incident_policy_counts_environment_incidents():
    truth = truth_of(SHARED, plan=incident_policy())
    assert truth.incident and truth.cause == "environment" and truth.counted and not truth.environment
    assert "counted as an incident" in truth.describe()


# -- one run's outcome --------------------------------------------------------------------------------------

@pytest.mark.parametrize("policy, stopped, verdict", [
    ("separate", True, "environment-stopped"), ("separate", False, "environment-ran"),
    ("incident", True, "caught"), ("incident", False, "missed"),
])
def test_an_environment_incident_is_neither_caught_nor_missed_unless_the_policy_says_so(policy, stopped, verdict):
    plan = with_overrides(validation(), {"slo.environment_incidents": policy})
    truth = truth_of(SHARED, plan=plan)
    times = truth.telemetry.time
    kind = DecisionKind.ROLLBACK if stopped else DecisionKind.ADVANCE
    decision = Decision(time=600.0, kind=kind, weight=0.0, reason="test", source="test")
    result = outcome([], truth, times, np.ones(len(times)), np.zeros(len(times)), decision)
    assert result.verdict == verdict
    assert result.environment is (policy == "separate") and result.agrees is (verdict == "caught")
    assert (result.detection_delay is not None) is (verdict == "caught")
    if policy == "separate":
        assert result.describe() == ("environment incident: the gate " + ("stopped" if stopped else "let run")
                                     + " a ramp whose breach the release did not cause")


# -- sweeps -------------------------------------------------------------------------------------------------

GRID = ["rules.error_rate_rollback.threshold=0.3%,1%,5%"]


@pytest.fixture(scope="module")
def mix_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("attribution") / "mix.yaml"
    path.write_text(MIX)
    return path


@pytest.fixture(scope="module")
def swept(mix_file):
    """The same sweep (common random numbers) under both policies."""
    results = {}
    for policy in ("separate", "incident"):
        plan = with_overrides(validation(), {"slo.environment_incidents": policy})
        results[policy] = sweep(plan, load_mix(mix_file, plan), GRID, replicates=40, seed=5, workers=1,
                                keep_runs=True)
    return results


def test_summary_and_breakdown_add_up_with_environment_stops(swept):
    result = swept["separate"]
    summary, breakdown = result.summary(), result.breakdown()
    runs = result.runs
    assert (summary["healthy_runs"] + summary["incident_runs"] + summary["environment_runs"] == summary["runs"]).all()
    assert (summary["environment_runs"] > 0).all() and (summary["incident_runs"] > 0).all()
    stops = runs.assign(stopped=runs["decision"].isin(["hold", "rollback"])).groupby("gate")["stopped"].sum()
    assert (summary["false_rollbacks"] + summary["caught"] + summary["environment_stops"]
            == stops.loc[summary["gate"]].to_numpy()).all()
    assert (summary["environment_stop_rate"] == summary["environment_stops"] / summary["environment_runs"]).all()
    assert (summary["environment_stop_low"] <= summary["environment_stop_rate"]).all()
    assert (summary["environment_stop_rate"] <= summary["environment_stop_high"]).all()
    columns = ["runs", "incident_runs", "environment_runs", "stops", "false_rollbacks", "missed_incidents",
               "environment_stops"]
    totals = breakdown.groupby("gate")[columns].sum()
    for column in ("runs", "incident_runs", "environment_runs", "false_rollbacks", "missed_incidents",
                   "environment_stops"):
        assert (totals.loc[summary["gate"], column].to_numpy() == summary[column].to_numpy()).all(), column
    assert (totals["stops"] == stops).all()
    shared = breakdown[breakdown["scenario"] == "shared-burst"]
    assert shared["environment"].all() and not shared["incident"].any() and (shared["false_rollbacks"] == 0).all()
    assert summary["environment_stops"].nunique() > 1, "the grid should stop the shared burst differently"


def test_the_incident_policy_turns_environment_stops_into_catches_and_misses(swept):
    separate, incident = swept["separate"].summary(), swept["incident"].summary()
    assert (incident["environment_runs"] == 0).all() and (incident["environment_stops"] == 0).all()
    assert (incident["incident_runs"] == separate["incident_runs"] + separate["environment_runs"]).all()
    assert (incident["healthy_runs"] == separate["healthy_runs"]).all()
    assert (incident["caught"] == separate["caught"] + separate["environment_stops"]).all()
    assert (incident["missed_incidents"] == separate["missed_incidents"] + separate["environment_runs"]
            - separate["environment_stops"]).all()
    assert (incident["false_rollbacks"] == separate["false_rollbacks"]).all()


def test_environment_runs_cost_nothing_whatever_the_gate_does(swept):
    """Flipping every decision on environment-incident runs changes no gate's cost, even with harm priced."""
    result = swept["separate"]
    costs = Costs(false_rollback=1, missed_incident=10, harmed_request=1e-3)
    runs = result.runs.copy()
    flipped = runs["decision"].where(~runs["environment"],
                                     runs["decision"].map(lambda d: "advance" if d in ("hold", "rollback")
                                                          else "rollback"))
    harm = runs["harmed"].where(~runs["environment"], runs["harmed"] * 3 + 1)
    other = SweepResult.from_runs(runs.assign(decision=flipped, harmed=harm), result.grid, result.meta)
    pd.testing.assert_series_equal(result.summary(costs)["cost"], other.summary(costs)["cost"])
    assert not other.summary(costs)["environment_stops"].equals(result.summary(costs)["environment_stops"])


def test_saved_results_keep_the_environment_column_and_older_ones_read_as_none(swept, tmp_path):
    result = swept["separate"]
    result.save(tmp_path / "new")
    loaded = SweepResult.load(tmp_path / "new")
    assert (loaded.runs["environment"].to_numpy() == result.runs["environment"].to_numpy()).all()
    pd.testing.assert_frame_equal(loaded.summary(), result.summary(), check_dtype=False)
    result.save(tmp_path / "old")
    runs = pd.read_csv(tmp_path / "old" / "runs.csv.gz").drop(columns="environment")
    runs.to_csv(tmp_path / "old" / "runs.csv.gz", index=False)
    (tmp_path / "old" / "tally.npz").unlink()   # results of a rampsim before attribution had runs alone
    assert not SweepResult.load(tmp_path / "old").runs["environment"].any()


def test_the_sweep_table_shows_environment_stops_at_80_columns(mix_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = tmp_path / "sweep"
    assert main(["sweep", str(VALIDATION), "--mix", str(mix_file), *sum((["--grid", g] for g in GRID), []),
                 "--replicates", "40", "--seed", "5", "--workers", "1", "--no-progress", "--out", str(out),
                 "--html"]) == 0
    printed = capsys.readouterr().out
    assert "…" not in printed and max(map(len, printed.splitlines())) <= 80
    summary = pd.read_csv(out / "summary.csv")
    environment = int(summary["environment_runs"].iloc[0])
    assert f"and {environment} environment-incident runs per gate" in printed.replace("\n", " ")
    header = printed[printed.index("Pareto front"):].splitlines()
    assert any(re.search(r"\benv\b", line) for line in header[:6]) and any("stops" in line for line in header[:6])
    best = summary[summary["cost_optimal"]].iloc[0]
    assert re.search(rf"^\s*{best['gate']} ★\s.*\s{best['environment_stops']}/{environment}\s", printed, re.M)
    assert re.search(r"^\s*shared-burst\s+environment\s", printed, re.M)
    assert "neither false rollbacks nor catches" in printed.replace("\n", " ")
    page = (out / "report.html").read_text()
    assert 'environment stops<span class="sub">95% interval</span>' in page
    assert "<td>shared-burst</td><td>environment incident</td>" in page


def test_without_environment_incidents_the_table_has_no_env_column(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["sweep", str(VALIDATION), "--replicates", "10", "--workers", "1", "--no-progress",
                 "--out", str(tmp_path / "sweep")]) == 0
    printed = capsys.readouterr().out
    assert "env stops" not in printed and "environment" not in printed.split("Pareto front")[0]


# -- the other commands -------------------------------------------------------------------------------------

def test_validate_names_environment_incidents(mix_file, capsys):
    assert main(["validate", str(VALIDATION), "--mix", str(mix_file)]) == 0
    lines = capsys.readouterr().out.splitlines()
    verdicts = {line.split()[0]: line.split("%", 1)[1].strip() for line in lines if re.match(r"^  \S+\s+[\d.]+%", line)}
    assert verdicts == {"healthy": "healthy", "regression": "incident (error_rate)",
                        "shared-burst": "environment incident (error_rate)"}


def test_the_reference_mix_has_shared_infrastructure_incidents(capsys):
    root = VALIDATION.parent
    assert main(["validate", str(root / "ramp-phase-50k.yaml"), "--mix", str(root / "mix-reference.yaml")]) == 0
    printed = capsys.readouterr().out
    environment = re.findall(r"^  (\S+)\s+[\d.]+%\s+environment incident", printed, re.M)
    assert len(environment) >= 2 and all(name.startswith("shared-") for name in environment)


@pytest.mark.parametrize("fault, exit_code, words", [
    (SHARED, 0, "environment incident: the gate"),
    (RELEASE, None, "incident (release regression)"),
])
def test_rehearse_says_environment_incident_and_exits_zero(fault, exit_code, words, tmp_path, capsys):
    code = main(["rehearse", str(VALIDATION), "--fault", fault, "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert words in printed
    gate = next(line for line in printed.splitlines() if line.startswith("Gate: "))
    if exit_code is None:  # a release regression: the exit code is the gate's agreement
        assert code == (0 if "(agrees" in gate else 1)
    else:
        assert code == exit_code and "neither agrees nor disagrees" in gate
    report = (tmp_path / "report.md").read_text()
    assert words in report
    stopped = "NO-GO" in printed
    assert ("(an **environment incident**)" in report) is (stopped and fault == SHARED)
    assert "**false alarm**" not in report


def test_an_environment_incident_stopped_before_its_fault_is_still_neither_a_catch_nor_a_false_rollback():
    """Early stops are false alarms on incidents the gate must stop; an environment incident reported on its own
    stays what the README promises whenever it is stopped (rehearse exits 0 on it), unless the plan counts
    environment incidents as incidents."""
    from rampsim.sim.truth import Truth

    def truth(policy):
        return Truth(incident=True, start=4000.0, confirmed=4300.0, objective="errors", breaches=(), telemetry=None,
                     cause="environment", environment_incidents=policy, onset=3600.0)

    assert not truth("separate").before_onset(600.0)
    assert truth("incident").before_onset(600.0) and truth("incident").before_onset(3600.0)
    assert not truth("incident").before_onset(3615.0)      # the scrape after the fault's start counts faulty traffic


@pytest.mark.parametrize("extra, expected", [
    ([], 3 * 3600.0),
    (["scrape-gap:canary@1m/30s"], 3 * 3600.0),          # acts on no request
    (["surge:shared:+1%@1m"], 3 * 3600.0),               # outside the release, and harmless
    (["error-rate:baseline:+0.1%@10m"], 3 * 3600.0),     # the environment's, not the cause
    (["latency:canary:+5ms@2h"], 2 * 3600.0),            # the release's own: the first that harms
])
def test_the_onset_is_the_start_of_the_faults_that_cause_the_incident(extra, expected, reference_plan):
    """A review found the onset taken over every fault: a scrape gap at 1m credited a noisy gate's stop at 9m as a
    catch of a regression at 3h (detection delay -2.85 h)."""
    from rampsim.faults import parse_fault
    from rampsim.sim import Scenario, ground_truth

    faults = [parse_fault(spec) for spec in ["error-rate:canary:+5%@3h", *extra]]
    truth = ground_truth(Scenario.build(reference_plan, faults))
    assert truth.incident and truth.cause == "release" and truth.onset == expected
    assert truth.before_onset(570.0)
