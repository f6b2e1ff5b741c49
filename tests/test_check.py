"""rampsim check: sequential verdicts, their agreement with a fixed large run, and exit codes."""
import math
import re

import numpy as np
import pytest

from rampsim.engine.events import DecisionKind
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from rampsim.cli import main
from rampsim.experiment.check import EXCEEDED, MET, UNDECIDED, _quantile_verdict, check
from rampsim.experiment.mix import load_mix
from rampsim.plan import with_overrides
from rampsim.testing.assertions import assert_false_rollback_rate_below
from tests.conftest import examples
from tests.sim_helpers import MIX_SMALL as MIX, VALIDATION as SMALL


@pytest.fixture(scope="module")
def plans(validation_plan):
    good = validation_plan
    # rolls back as soon as the canary shows its own normal error rate (0.074%): fails every healthy ramp
    jumpy = with_overrides(good, {"rules.error_rate_rollback.threshold": "0.05%",
                                  "rules.error_rate_rollback.sustain": "0s"})
    return good, jumpy, load_mix(MIX, good)


@pytest.mark.parametrize("which, bounds, verdict", [
    ("good", dict(max_false_rollback=0.25, max_missed_incident=0.5), MET),
    ("jumpy", dict(max_false_rollback=0.10), EXCEEDED),
])
def test_early_stopping_gives_the_verdict_of_a_fixed_large_run(plans, which, bounds, verdict):
    good, jumpy, mix = plans
    plan = good if which == "good" else jumpy
    sequential = check(plan, mix, batch=20, max_replicates=200, workers=1, **bounds)
    fixed = check(plan, mix, batch=200, max_replicates=200, workers=1, **bounds)
    assert sequential.verdict == fixed.verdict == verdict
    assert sequential.replicates < fixed.replicates == 200  # it did stop early
    assert sequential.looks == len(sequential.history)


def test_an_unreachable_bound_stays_undecided(plans):
    good, _, mix = plans
    report = check(good, mix, max_false_rollback=0.001, batch=20, max_replicates=60, workers=1)
    assert report.verdict == UNDECIDED and report.replicates == 60 and report.looks == 3


def test_each_look_is_corrected_for_repeated_looks(plans):
    good, _, mix = plans
    once = check(good, mix, max_false_rollback=0.25, batch=40, max_replicates=40, workers=1)
    many = check(good, mix, max_false_rollback=0.25, batch=40, max_replicates=400, workers=1)
    first_look = many.history[0][0]
    assert first_look.samples == once.verdicts[0].samples
    assert first_look.high > once.verdicts[0].high  # a 99.5% interval on the first of ten looks, not 95%
    two_bounds = check(good, mix, max_false_rollback=0.25, max_missed_incident=0.5, batch=40, max_replicates=40,
                       workers=1)
    assert two_bounds.verdicts[0].high > once.verdicts[0].high  # 97.5% each when two bounds share the 5%


def test_check_command_exit_codes(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    page = tmp_path / "check.html"
    assert main(["check", str(SMALL), "--mix", str(MIX), "--max-false-rollback", "25%", "--max-missed-incident",
                 "50%", "--batch", "20", "--max-replicates", "100", "--workers", "1", "--html", str(page)]) == 0
    printed = capsys.readouterr().out
    assert "MET" in printed and "false_rollback_rate" in printed and "missed_incident_rate" in printed
    assert "…" not in printed and max(map(len, printed.splitlines())) <= 80   # readable at 80 columns
    assert "MET" in page.read_text() and "data:image/png;base64," in page.read_text()
    jumpy = tmp_path / "jumpy.yaml"
    text = SMALL.read_text().replace("threshold: 0.5%, window: 1m, sustain: 3m",
                                     "threshold: 0.05%, window: 1m, sustain: 0s", 1)
    assert "0.05%" in text
    jumpy.write_text(text)
    assert main(["check", str(jumpy), "--max-false-rollback", "10%", "--batch", "20", "--max-replicates", "100",
                 "--workers", "1"]) == 1
    assert "EXCEEDED" in capsys.readouterr().out
    assert main(["check", str(SMALL), "--max-false-rollback", "0.1%", "--batch", "10", "--max-replicates", "20",
                 "--workers", "1", "--confidence", "99.9%"]) == 4
    assert "99.9% confidence" in capsys.readouterr().out   # a review found it printed as 100%
    with pytest.raises(SystemExit, match="2"):  # refused by argparse, before any work
        main(["check", str(SMALL), "--max-false-rollback", "1 pct"])
    assert main(["check", str(SMALL)]) == 2  # no bound given
    # an --html that cannot be written is refused before any replicate runs
    assert main(["check", str(SMALL), "--max-false-rollback", "50%", "--html", str(tmp_path / "no" / "r.html")]) == 2
    assert "no directory" in capsys.readouterr().err
    # nor over the plan or the mix it reads (a review found the plan overwritten with HTML, exit 0)
    for read, name in ((SMALL, "plan"), (MIX, "--mix")):
        before = read.read_bytes()
        assert main(["check", str(SMALL), "--mix", str(MIX), "--max-false-rollback", "50%", "--html", str(read)]) == 2
        assert f"that is the {name} file this command reads" in capsys.readouterr().err
        assert read.read_bytes() == before


def test_assertion_helper_fails_with_the_evidence(plans):
    good, jumpy, _ = plans
    assert_false_rollback_rate_below(good, "25%", batch=20, max_replicates=100)
    with pytest.raises(AssertionError, match=r"(?s)EXCEEDED after \d+ replicates.*false_rollback_rate"):
        assert_false_rollback_rate_below(jumpy, "10%", batch=20, max_replicates=100)


def test_stopping_before_the_fault_is_not_a_catch(plans):
    from rampsim.faults import parse_fault
    from rampsim.testing.assertions import assert_stops_within

    good, jumpy, _ = plans
    fault = [parse_fault("error-rate:canary:+2%@10m")]
    assert_stops_within(good, fault, within="5m", seeds=[0])
    with pytest.raises(AssertionError, match="expected a hold or rollback within 5m of the fault at 10m"):
        assert_stops_within(jumpy, fault, within="5m", seeds=[0])  # it rolls back on healthy noise, before 10m
    with pytest.raises(ValueError, match="needs at least one fault"):
        assert_stops_within(good, [], within="5m")


def test_a_stop_at_the_faults_start_is_not_a_catch(plans, monkeypatch):
    """The scrape at the fault's start counts the interval before it: a stop then saw no faulty request (the tally
    and the rehearsal call it an early stop); the assertion took it for a catch."""
    from rampsim.faults import parse_fault
    from rampsim.testing import assertions

    class Stopped:
        outcome = type("Outcome", (), {"decision": DecisionKind.ROLLBACK, "time": 600.0, "reason": "a rule"})()

    monkeypatch.setattr(assertions, "_simulate", lambda plan, faults, seed: Stopped())
    with pytest.raises(AssertionError, match=r"got rollback at 10m \(at or before the fault's start: a false alarm"):
        assertions.assert_stops_within(plans[0], [parse_fault("error-rate:canary:+2%@10m")], within="5m", seeds=[0])
    # a telemetry fault harms no request: the clock starts at the regression, so a stop at 10m is still early
    # (a review found a counter reset at 30s made a stop 14 minutes before the regression pass)
    faults = [parse_fault("counter-reset:canary@30s"), parse_fault("error-rate:canary:+2%@15m")]
    with pytest.raises(AssertionError, match=r"within 5m of the fault at 15m, got rollback at 10m \(at or before"):
        assertions.assert_stops_within(plans[0], faults, within="5m", seeds=[0])
    assertions.assert_stops_within(plans[0], [parse_fault("error-rate:canary:+2%@8m")], within=300, seeds=[0])
    with pytest.raises(ValueError, match="needs at least one fault that harms requests"):
        assertions.assert_stops_within(plans[0], faults[:1], within="5m", seeds=[0])


@pytest.mark.parametrize("call, arguments, message", [
    ("assert_stops_within", {"seeds": []}, "needs at least one seed: over none it would check nothing"),
    ("assert_advances", {"seeds": []}, "needs at least one seed"),
    ("assert_stops_within", {"within": "-5m"}, "within must be a positive, finite duration, got '-5m'"),
    ("assert_stops_within", {"within": 0}, "within must be a positive, finite duration, got 0"),
    ("assert_stops_within", {"within": [300]}, "within is a duration such as '5m' or a number of seconds"),
    ("assert_stops_within", {"faults": "single"}, "faults is a list of faults"),
    ("assert_stops_within", {"faults": ["error-rate:canary:+2%@10m"]}, "is not a Fault"),
    ("assert_stops_within", {"seeds": [1.5]}, "seeds must be a whole number, got 1.5"),
    ("assert_false_rollback_rate_below", {"rate": 1}, "rate 100%: a rate is never above 100%, so this bound could "
                                                      "never fail"),
    ("assert_false_rollback_rate_below", {"rate": "100%"}, "a rate is never above 100%"),
    ("assert_missed_incident_rate_below", {"rate": "0%"}, "rate 0%: a bound of 0% or less could never be met"),
    ("assert_missed_incident_rate_below", {"rate": -0.1}, "could never be met"),
    ("assert_missed_incident_rate_below", {"mix": 42}, "assert_missed_incident_rate_below: mix is a Mix "
                                                       "(rampsim.experiment.mix.load_mix(path, plan)) or the path "
                                                       "of a mix file, got 42"),
    ("assert_false_rollback_rate_below", {"mix": {"healthy": 1}}, "mix is a Mix"),
])
def test_assertions_refuse_arguments_under_which_they_would_check_nothing(plans, monkeypatch, call, arguments,
                                                                          message):
    """Refused before any simulation, with the argument named: a rate of 1 read as 100% made an assertion that
    could never fail, an empty list of seeds one that checked nothing (a review found both passing silently)."""
    from rampsim.errors import UsageError
    from rampsim.faults import parse_fault
    from rampsim.testing import assertions

    monkeypatch.setattr(assertions, "_simulate", lambda *a: pytest.fail("simulated despite a refused argument"))
    monkeypatch.setattr(assertions, "check", lambda *a, **k: pytest.fail("checked despite a refused argument"))
    good, _, mix = plans
    fault = parse_fault("error-rate:canary:+2%@10m")
    defaults = {"assert_stops_within": {"faults": [fault], "within": "5m", "seeds": [0]},
                "assert_advances": {}, "assert_false_rollback_rate_below": {"rate": "1%"},
                "assert_missed_incident_rate_below": {"rate": "1%", "mix": mix}}[call]
    if call == "assert_stops_within" and isinstance(arguments.get("faults"), str):
        arguments = {**arguments, "faults": fault}   # one Fault, not a list of them
    with pytest.raises(UsageError, match=re.escape(message)):
        getattr(assertions, call)(good, **{**defaults, **arguments})


@pytest.mark.parametrize("call", ["assert_false_rollback_rate_below", "assert_missed_incident_rate_below"])
def test_assertions_take_a_mix_files_path_as_the_cli_does(plans, monkeypatch, call):
    """A path, what ``--mix`` takes, reached the check unread: a raw ``AttributeError: 'str' object has no
    attribute 'shares'``. It is read against the plan, its errors located like the CLI's."""
    from pathlib import Path

    from rampsim.plan import PlanError
    from rampsim.testing import assertions

    good, _, mix = plans
    given_mixes = []

    class Passed:
        passed = True

    monkeypatch.setattr(assertions, "check", lambda plan, mix, **k: given_mixes.append(mix) or Passed())
    for path in (str(MIX), Path(MIX)):
        getattr(assertions, call)(good, "50%", path)
    assert given_mixes == [mix, mix]
    with pytest.raises(PlanError, match=r"ramp-phase-5k-validation.yaml: a plan, not a scenario mix"):
        getattr(assertions, call)(good, "50%", str(SMALL))


@settings(max_examples=examples(fast=150), deadline=None)
@given(st.lists(st.integers(-20, 100).map(lambda k: k * 15.0), max_size=50), st.integers(0, 20),
       st.sampled_from([0.5, 0.9, 0.99]), st.sampled_from([0.95, 0.9995]))
def test_the_detection_bound_from_a_histogram_is_the_bound_from_the_raw_delays(delays, missed, quantile, level):
    """Misses count as infinite delays; estimate and interval as numpy and scipy give them on the raw values."""
    values = np.concatenate([delays, np.full(missed, np.inf)])
    verdict = _quantile_verdict("detect", np.unique(np.array(delays, float), return_counts=True), quantile, 600.0,
                                level, missed)
    assert verdict.samples == len(values)
    if len(values) < 3:
        assert verdict.verdict == UNDECIDED
        return
    with np.errstate(invalid="ignore"):   # infinite delays: NaN where numpy interpolates towards one
        estimate = float(np.quantile(values, quantile))
    if np.isnan(estimate):   # never detected: infinite when weighed in, else the order statistic itself
        virtual = (len(values) - 1) * quantile
        estimate = float(np.sort(values)[int(virtual)]) if virtual == int(virtual) else np.inf
    interval = stats.quantile_test(values, q=min(estimate, np.finfo(float).max), p=quantile).confidence_interval(level)
    np.testing.assert_array_equal([verdict.estimate, verdict.low, verdict.high],
                                  [estimate, interval.low, interval.high])


def test_a_bound_no_replicate_of_the_mix_can_decide_is_refused_up_front(plans):
    """A missed-incident or detection bound on healthy ramps only, or a false-rollback bound on incidents only,
    would run to max_replicates and end undecided: refused before anything is simulated."""
    from rampsim.errors import UsageError
    from rampsim.experiment.mix import single_scenario_mix
    from rampsim.faults import parse_fault

    plan = plans[0]
    with pytest.raises(UsageError, match="no scenario the plan's SLO counts as an incident"):
        check(plan, max_missed_incident=0.5, batch=5, max_replicates=10, workers=1)
    with pytest.raises(UsageError, match="no scenario the plan's SLO counts as an incident"):
        check(plan, max_detect=600, batch=5, max_replicates=10, workers=1)
    outage = single_scenario_mix("outage", (parse_fault("error-rate:canary:+20%@1m"),))
    with pytest.raises(UsageError, match="every scenario of the mix 'outage' is an incident"):
        check(plan, outage, max_false_rollback=0.5, batch=5, max_replicates=10, workers=1)
    # an incident too rare to get one of the replicates the check may run counts as none
    from rampsim.experiment.mix import Mix, MixScenario

    rare = Mix("rare", (MixScenario("healthy", 0.99999, ()), MixScenario("outage", 0.00001, outage.scenarios[0].faults)))
    with pytest.raises(UsageError, match=r"no scenario the plan's SLO counts as an incident among the scenarios "
                                         r"that get one of the 10 replicates \(too small a share for any: outage\)"):
        check(plan, rare, max_missed_incident=0.5, batch=5, max_replicates=10, workers=1)


def test_check_in_a_ci_log_never_cuts_the_verdict(capsys, monkeypatch):
    """A review read 'undecid…' in a CI log: without a terminal (and no COLUMNS), Rich cut the table at 80."""
    from rampsim.cli.check import _print
    from rampsim.experiment.check import CheckReport, BoundVerdict

    monkeypatch.delenv("COLUMNS", raising=False)
    verdict = BoundVerdict("missed_incident_rate_for_a_long_bound_name", 0.08, 0.0712345, 0.0312345, 0.1512345, 20000,
                           "undecided")
    _print(CheckReport([verdict], 20000, 40, 0.95))
    printed = capsys.readouterr().out
    assert "undecided" in printed and "…" not in printed


def test_an_unknown_interval_end_reads_as_unbounded_in_the_terminal_as_in_the_html(capsys, monkeypatch):
    """A review saw an unbounded detection interval as 'n/a' in the terminal and '∞' in the HTML report."""
    from rampsim.cli.check import _print
    from rampsim.experiment.check import BoundVerdict, CheckReport

    monkeypatch.delenv("COLUMNS", raising=False)
    _print(CheckReport([BoundVerdict("detect_p90_s", 600.0, math.nan, math.nan, math.nan, 0, "undecided")], 100, 1, 0.95))
    printed = capsys.readouterr().out
    assert "[-∞, ∞]" in printed


@pytest.mark.parametrize("limit", [0.001, 0.003, 0.005, 0.01])
@pytest.mark.parametrize("per_look", [60, 100])
def test_a_rate_at_its_limit_is_called_exceeded_at_most_as_often_as_the_confidence_allows(limit, per_look):
    """The exact probability (dynamic programming over the looks' cumulative counts, no sampling) that the check
    says EXCEEDED when the true rate equals the bound: at most 1 - confidence. A review found Wilson intervals at
    the Bonferroni level giving 9.7% at a 0.1% limit with 60 healthy runs a look; exact intervals hold it."""
    from scipy import stats as st

    from rampsim.experiment.check import EXCEEDED, MET, _rate_verdict

    looks, confidence = 20, 0.95
    level = 1 - (1 - confidence) / looks
    alive = np.zeros(per_look * looks + 1)
    alive[0] = 1.0
    step = st.binom.pmf(np.arange(per_look + 1), per_look, limit)
    exceeded = 0.0
    for look in range(1, looks + 1):
        alive = np.convolve(alive, step)[:per_look * looks + 1]
        for count in np.flatnonzero(alive > 1e-15):
            verdict = _rate_verdict("false_rollback_rate", int(count), per_look * look, limit, level).verdict
            if verdict == EXCEEDED:
                exceeded += alive[count]
            if verdict in (EXCEEDED, MET):
                alive[count] = 0.0
    assert exceeded <= 1 - confidence, exceeded


def test_a_limit_reads_as_given_in_the_terminal_the_html_and_the_assertion(plans, tmp_path, capsys, monkeypatch):
    """A review gave --max-false-rollback 99.999% and read "limit 100%" (four significant digits)."""
    from rampsim.experiment.check import BoundVerdict, CheckReport
    from rampsim.cli.check import _print
    from rampsim.report.html import write_check_html

    monkeypatch.setenv("COLUMNS", "200")
    verdicts = [BoundVerdict("false_rollback_rate", 0.99999, 0.5, 0.4, 0.6, 100, UNDECIDED),
                BoundVerdict("detect_p90", 300.0, 120.0, 90.0, 200.0, 40, MET)]
    report = CheckReport(verdicts, 100, 1, 0.95, history=[verdicts])   # one look, as check() records it
    assert report.verdicts[0].limit_text == "99.999%" and report.verdicts[1].limit_text == "5m"
    _print(report)
    assert "99.999%" in capsys.readouterr().out
    assert "vs bound 99.999% over 100 runs" in report.describe() and "vs bound 300 s over 40 runs" in report.describe()
    page = tmp_path / "check.html"
    write_check_html(report, page, plan=plans[0], mix=str(MIX), seed=0)
    assert "99.999%" in page.read_text()


def test_check_prints_the_html_path_as_written_not_as_rich_markup(tmp_path, capsys, monkeypatch):
    """Rich read ``x[/b]`` in the --html path as a closing tag: the verdict was given, the page written, then the
    notice crashed the command (exit 70); ``[red]`` vanished from it."""
    monkeypatch.setenv("COLUMNS", "400")
    folder = tmp_path / "[red]x[" / "b]y"
    folder.mkdir(parents=True)
    page = folder / "check.html"
    assert main(["check", str(SMALL), "--max-false-rollback", "50%", "--batch", "10", "--max-replicates", "10",
                 "--workers", "1", "--html", str(page)]) == 0
    assert f"report written to {page}" in capsys.readouterr().err and page.exists()


@pytest.mark.parametrize("option, first, second", [
    ("--max-false-rollback", "10%", "99%"), ("--max-missed-incident", "5%", "50%"), ("--max-detect", "5m", "1h"),
    ("--detect-quantile", "90%", "50%"), ("--confidence", "95%", "60%"), ("--seed", "0", "1")])
def test_a_bound_given_twice_is_refused_naming_both_values(capsys, option, first, second):
    """``--max-false-rollback 10% --max-false-rollback 99%`` checked against 99% alone: the second value replaced
    the first without a word, loosening a CI gate unnoticed. Now exit 2 before any work, naming both."""
    with pytest.raises(SystemExit) as exit:
        main(["check", str(SMALL), "--mix", str(MIX), option, first, "--batch", "10", f"{option}={second}"])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {option}: given twice ({first!r}, then {second!r})" in err

