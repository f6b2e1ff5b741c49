"""What calibrate writes for a parameter the history cannot tell, and for one it estimated as about 0.

A twenty-minute history cannot estimate the variability: the fit used to write the stated defaults (``sd: 0``,
``jitter: 0``, no bursts) over the plan's own ``sd: 0.05``, making the model cleaner than the service, under a header
saying what the history cannot tell is the plan's own. It now keeps the plan's own value (the stated default where
the plan gives none). A long history without wander estimates ``sd`` as about 0: that is an estimate, written as
fitted, not the plan's value.
"""
from __future__ import annotations

import math

import pytest
import yaml

from rampsim.calibration.comparison import history_plan
from rampsim.calibration.fit import calibrate, with_traffic
from rampsim.calibration.traffic_yaml import traffic_yaml
from rampsim.plan import with_overrides
from rampsim.sim import simulate
from rampsim.sim.config import traffic_config


def _history(plan, seconds: float, seed: int = 3):
    return simulate(history_plan(plan, seconds), seed=seed, engine_factory=None).telemetry


@pytest.fixture(scope="module")
def short_fit(reference_plan):
    return calibrate(reference_plan, _history(reference_plan, 20 * 60))


def test_a_short_history_keeps_the_plans_own_variability(short_fit, reference_plan):
    own = reference_plan.traffic["variability"]
    fallbacks = [path for path, estimate in short_fit.estimates().items()
                 if path.startswith("variability.") and estimate.fallback]
    assert "variability.requests.sd" in fallbacks and "variability.latency.jitter" in fallbacks
    written = short_fit.traffic(reference_plan)["variability"]
    for process in ("requests", "errors", "latency"):
        assert {key: written[process][key] for key in own[process]} == own[process], process
    assert written["health_checks"] == own["health_checks"]
    # the plan simulated is the plan's own variability, not a noise-free one
    assert traffic_config(with_traffic(reference_plan, short_fit)).variability == \
        traffic_config(reference_plan).variability
    notes = [n for n in short_fit.notes() if n.startswith("variability.requests.sd:")]
    assert len(notes) == 1 and "history too short" in notes[0], notes
    assert notes[0].endswith("; the plan's own value is kept") and "stated default" not in notes[0], notes


def test_the_yaml_says_which_value_is_kept(short_fit, reference_plan):
    # the plan states its requests' wander and no bursts of them: those keep the stated default, said so
    plan = with_overrides(reference_plan, {"traffic.variability.requests": {"sd": 0.05, "correlation_time": "4.5m"}})
    text = traffic_yaml(plan, short_fit)
    lines = {line.split(":")[0].strip(): line for line in text.split("\n    requests:\n")[1].splitlines()[:11]}
    assert lines["sd"].startswith("      sd: 0.05   # not estimable (history too short")
    assert lines["sd"].endswith("): the plan's own")
    assert lines["per_day"].startswith("        per_day: 0.0   # not estimable (")
    assert lines["per_day"].endswith("): the stated default (the plan gives none)")
    assert "values the history cannot tell are the plan's own (the stated default where the plan gives none)" in text
    section = yaml.safe_load(text)["traffic"]
    assert section["variability"]["errors"] == reference_plan.traffic["variability"]["errors"]
    assert "nan" not in text.lower()


def test_an_sd_estimated_as_about_zero_is_written_as_fitted(reference_plan):
    """Three hours without wander, calibrated against the reference plan (request sd 0.05): the sd is estimated,
    its interval holds 0, and the fitted value is written, not the plan's; the correlation time it cannot tell
    without persistent variation keeps the plan's own."""
    quiet = with_overrides(reference_plan, {"traffic.variability": "none"})
    fit = calibrate(reference_plan, _history(quiet, 3 * 3600))
    sd = fit.estimates()["variability.requests.sd"]
    assert not sd.fallback and sd.low == 0.0 and math.isfinite(sd.value) and sd.value < 0.02
    assert fit.estimates()["variability.requests.correlation_time"].fallback
    written = fit.traffic(reference_plan)["variability"]["requests"]
    assert written["sd"] == pytest.approx(max(sd.value, 0.0)) and written["sd"] != 0.05
    assert written["correlation_time"] == reference_plan.traffic["variability"]["requests"]["correlation_time"]
    text = traffic_yaml(reference_plan, fit)
    assert "      sd: " in text and "# 95% [0, " in text.split("\n    requests:\n")[1].splitlines()[0]


def test_the_notes_and_the_report_say_what_the_yaml_keeps(reference_plan):
    """With a plan that states no variability, the notes said "the plan's own value is kept" of a parameter the YAML
    wrote as "the stated default (the plan gives none)"."""
    from rampsim.calibration.comparison import compare
    from rampsim.report.calibration import fit_markdown

    plan = with_overrides(reference_plan, {"traffic.variability": "none"})
    history = _history(reference_plan, 20 * 60)
    fit = calibrate(plan, history)
    (note,) = [n for n in fit.notes() if n.startswith("variability.requests.sd:")]
    assert note.endswith("; the stated default (the plan gives none) is kept"), note
    assert "variability.requests.sd" not in fit.stated and "segments.A.error_rate" in fit.stated
    assert "| `variability.requests.sd` | the stated default (the plan gives none) | not estimable |" in \
        fit_markdown(fit, compare(plan, fit, history, seed=1))
