"""The HTML reports of a sweep and of a check, loaded in a real headless browser (Debian's chromium).

Each page is opened as ``file://`` in headless Chromium through chromedriver: it must load
without console errors, fetch nothing but itself, show every chart (``naturalWidth > 0``),
name the recommended gate, escape the plan's name, and a full-page screenshot is written.
Without chromium the tests skip, except under CI, where a missing browser fails them.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from rampsim.experiment.check import check
from rampsim.experiment.mix import load_mix
from rampsim.experiment.sweep import sweep
from rampsim.plan import load_plan, with_overrides
from rampsim.report.html import MAX_ROWS, write_check_html, write_sweep_html
from rampsim.report.tradeoff import gate_label, render
from tests.sim_helpers import MIX_SMALL, VALIDATION
from tests.conftest import missing

HOSTILE_NAME = "<script>alert('x')</script> & \"<b>ops</b>\""
# healthy runs, a bump the SLO (0.5% errors) does not call an incident, and a real regression
MIX = """name: "html <mix> & co"
scenarios:
  healthy: {weight: 50%}
  benign-bump: {weight: 20%, faults: ["error-rate:canary:+0.3%@5m"]}
  error-regression: {weight: 30%, faults: ["error-rate:canary:+1.5%@5m"]}
"""
GRID = ["rules.error_rate_rollback.threshold=0.2%,0.5%,1%,2.5%", "rules.*.sustain=1m,3m"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium driven by the system chromedriver (``--no-sandbox``: CI runs as root)."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        reason = "needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
        missing(f"the browser is missing: {reason}")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,800"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    session = webdriver.Chrome(service=Service(driver), options=options)
    yield session
    session.quit()


def load(browser, page: Path, screenshot: Path) -> dict:
    """Open ``page``, write a full-page screenshot, and return what the page did: its console messages,
    its images' load state and sources, the resources it fetched and its text."""
    browser.set_window_size(1200, 800)
    browser.get(page.resolve().as_uri())
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1200, height + 80)
    assert browser.save_screenshot(str(screenshot))
    return {
        "console": browser.get_log("browser"),
        "images": browser.execute_script(
            "return [...document.images].map(i => [i.complete, i.naturalWidth, i.src.slice(0, 22)])"),
        "fetched": browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)"),
        "scripts": browser.execute_script("return document.scripts.length"),
        "text": browser.find_element("tag name", "body").text,
        "title": browser.title,
        "h1": browser.execute_script("return document.querySelector('h1')?.textContent"),
    }


def assert_self_contained_and_clean(seen: dict, screenshot: Path, images: int) -> None:
    assert [m for m in seen["console"] if m["level"] in ("SEVERE", "WARNING")] == []
    assert seen["fetched"] == [], "the page fetched resources: it must be self-contained"
    assert seen["scripts"] == 0
    assert len(seen["images"]) == images
    assert all(complete and width > 0 and src == "data:image/png;base64," for complete, width, src in seen["images"])
    assert screenshot.read_bytes().startswith(PNG_SIGNATURE)


@pytest.fixture(scope="module")
def mix_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mix") / "mix.yaml"
    path.write_text(MIX)
    return path


@pytest.fixture(scope="module")
def swept(tmp_path_factory, mix_file):
    """A small sweep of a plan with a hostile name, its charts and its HTML report."""
    directory = tmp_path_factory.mktemp("sweep")
    plan = with_overrides(load_plan(VALIDATION), {"name": HOSTILE_NAME})
    result = sweep(plan, load_mix(mix_file, plan), GRID, replicates=40, seed=1, workers=1)
    charts = render(result.tally, result.summary(), result.parameters, directory)
    page = write_sweep_html(result, directory / "report.html", charts=charts, plan=plan)
    return result, plan, charts, page


def test_the_sweep_report_loads_in_headless_chromium_with_its_charts(browser, swept, tmp_path):
    result, plan, charts, page = swept
    seen = load(browser, page, tmp_path / "sweep.png")
    assert_self_contained_and_clean(seen, tmp_path / "sweep.png", images=len(charts))
    best = result.best()
    assert "★ " + gate_label(best, result.parameters) in seen["text"]
    assert seen["h1"] == f"Sweep of {HOSTILE_NAME}" and HOSTILE_NAME in seen["title"]
    for scenario in ("healthy", "benign-bump", "error-regression"):
        assert scenario in seen["text"]
    breakdown = result.breakdown()
    false = breakdown[breakdown["false_rollbacks"] > 0]
    assert len(false), "the sweep should have false rollbacks to flag"
    for row in false.itertuples():
        assert f"{row.stops}/{row.runs}\n{row.false_rollbacks} false" in seen["text"]


def test_the_recommended_gate_is_shown_as_a_diff_against_the_plan(browser, swept, tmp_path):
    result, plan, _, page = swept
    diff = load(browser, page, tmp_path / "sweep.png")["text"].split("Recommended gate")[1].split("Gates")[0]
    best = result.best()
    as_written = {"rules.error_rate_rollback.threshold": "0.5%", "rules.*.sustain": "3m"}  # the plan's file
    for parameter in result.parameters:
        assert f"{parameter} {as_written[parameter]} {best[parameter]}" in diff
    changed = sum(str(best[p]) != as_written[p] for p in result.parameters)
    assert (f"{changed} of 2 parameter(s) differ" if changed else "Nothing changes") in diff


def test_the_plans_own_gate_recommended_is_said_to_change_nothing(browser, tmp_path):
    plan = load_plan(VALIDATION)
    result = sweep(plan, load_mix(MIX_SMALL, plan), ["rules.*.sustain=3m"], replicates=10, seed=2, workers=1)
    page = write_sweep_html(result, tmp_path / "report.html", plan=plan)
    seen = load(browser, page, tmp_path / "own.png")
    assert_self_contained_and_clean(seen, tmp_path / "own.png", images=0)
    assert "Nothing changes: the plan's own gate is the recommendation." in seen["text"]


def test_a_sweep_of_many_gates_lists_the_pareto_front_and_the_recommendation(browser, mix_file, tmp_path):
    plan = load_plan(VALIDATION)
    result = sweep(plan, load_mix(mix_file, plan), [f"rules.error_rate_rollback.threshold=0.1%..3%:{MAX_ROWS + 1}"],
                   replicates=10, seed=2, workers=1)
    summary = result.summary()
    page = write_sweep_html(result, tmp_path / "report.html")
    text = load(browser, page, tmp_path / "many.png")["text"]
    rows = browser.execute_script("return [...document.querySelectorAll('h2')].find(h => h.textContent == 'Gates')"
                                  ".nextElementSibling.querySelectorAll('tbody tr').length")
    listed = (summary["pareto"] | summary["cost_optimal"]).sum()
    assert rows == listed < len(summary)
    assert f"{listed} of the {len(summary)} gates: the Pareto front and the recommended one" in text
    assert text.count("no other gate has a false-rollback rate") == 1   # the definition, said once


def test_the_check_report_loads_in_headless_chromium(browser, tmp_path):
    plan = with_overrides(load_plan(VALIDATION), {"name": HOSTILE_NAME})
    report = check(plan, load_mix(MIX_SMALL, plan), max_false_rollback=0.3, max_missed_incident=0.5, max_detect=600,
                   batch=20, max_replicates=40, seed=0, workers=1)
    page = write_check_html(report, tmp_path / "report.html", plan=plan, mix=str(MIX_SMALL))
    seen = load(browser, page, tmp_path / "check.png")
    assert_self_contained_and_clean(seen, tmp_path / "check.png", images=1)
    assert seen["h1"] == f"Check of {HOSTILE_NAME}: {report.verdict.upper()}"
    for bound in report.verdicts:
        assert f"{bound.name} " in seen["text"] and bound.verdict in seen["text"]
    assert f"{report.replicates} replicates in {report.looks} look(s)" in seen["text"]


def test_the_browser_checks_catch_a_broken_page(browser, tmp_path):
    """The harness can fail: a console error is caught, and an image that does not decode has no width."""
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><head><title>broken</title></head><body>'
                    '<img src="data:image/png;base64,bm90IGEgcG5n">'
                    '<script>console.error("boom")</script></body></html>')
    seen = load(browser, page, tmp_path / "broken.png")
    assert any(m["level"] == "SEVERE" and "boom" in m["message"] for m in seen["console"])
    assert seen["images"][0][:2] == [True, 0]
    with pytest.raises(AssertionError):
        assert_self_contained_and_clean(seen, tmp_path / "broken.png", images=1)


def test_the_breakdown_colours_missed_incidents_red_and_shows_early_stops_apart():
    """Every cell with an early stop was red as a whole ('24/24 stopped (7 before the fault)'), so a caught
    incident looked like a missed one. Red is for missed incidents only, amber for false rollbacks, and an early
    stop is a note of its own (``.early``); the legend says so."""
    import re

    import pandas as pd

    from rampsim.report.html import _breakdown_table

    counts = dict(false_rollbacks=0, early_stops=0, missed_incidents=0, environment_stops=0)
    breakdown = pd.DataFrame([
        dict(gate=0, scenario="healthy", runs=4, stops=1, incident_runs=0, environment_runs=0,
             **{**counts, "false_rollbacks": 1}),
        dict(gate=0, scenario="tail-latency", runs=3, stops=3, incident_runs=3, environment_runs=0,
             **{**counts, "early_stops": 2}),
        dict(gate=0, scenario="regression", runs=3, stops=2, incident_runs=3, environment_runs=0,
             **{**counts, "missed_incidents": 1}),
        dict(gate=0, scenario="caught", runs=3, stops=3, incident_runs=3, environment_runs=0, **counts),
    ])
    html = _breakdown_table(breakdown, pd.DataFrame([dict(gate=0, cost_optimal=False)]), [])
    cells = dict(re.findall(r'<tr><td>([^<]*)</td><td>[^<]*</td><td class="num">\d+</td><td class="([^"]*)">', html))
    assert cells == {"healthy": "num false", "tail-latency": "num", "regression": "num missed", "caught": "num"}
    assert '2/3<span class="sub">1 missed</span>' in html
    assert '3/3<span class="sub early">2 early</span>' in html   # caught, with early stops: not red
    legend = html.partition("In red:")[2]
    assert "missed" in legend.partition(".")[0] and "false rollbacks" in legend and "early" in legend
    assert "false alarms" in legend


def test_an_interval_of_durations_is_written_in_one_unit():
    """'-15s [-15s, 0ms]' and '1m30s [-1h2m45s, 1m45s]' mixed units within one interval."""
    import numpy as np

    from rampsim.report.html import _in_one_unit
    from rampsim.units import Kind

    assert _in_one_unit([-15.0, -15.0, 0.0], Kind.DURATION) == ["-15s", "-15s", "0s"]
    assert _in_one_unit([90.0, -3765.0, 105.0], Kind.DURATION) == ["1.5min", "-62.8min", "1.75min"]
    assert _in_one_unit([225.0, 225.0, 300.0], Kind.DURATION) == ["3.75min", "3.75min", "5min"]
    assert _in_one_unit([0.2, 0.05, 0.5], Kind.DURATION) == ["200ms", "50ms", "500ms"]
    assert _in_one_unit([36000.0, -np.inf, np.inf], Kind.DURATION) == ["10h", "-∞", "∞"]
    assert _in_one_unit([0.5, 0.4, 0.6], Kind.RATIO) == ["50%", "40%", "60%"]


WIDE_MIX = "name: wide\nscenarios:\n  healthy: {weight: 34%}\n" + "".join(
    f'  {name}: {{weight: 6%, faults: ["{fault}"]}}\n' for name, fault in [
        ("benign-error-bump", "error-rate:canary:+0.3%@5m"), ("small-error-regression", "error-rate:canary:+0.8%@5m"),
        ("error-regression", "error-rate:canary:+1.5%@5m"), ("late-error-regression", "error-rate:canary:+1.5%@12m"),
        ("large-error-regression", "error-rate:canary:+5%@5m"), ("latency-regression", "latency:canary:+200ms@5m"),
        ("tail-latency", "tail-latency:canary:3%@5m,delay=400ms"), ("surge", "surge:shared:+30%@5m/5m"),
        ("cold-cache", "cold-cache:canary:100%@0s/5m"), ("counter-reset", "counter-reset:canary@8m"),
        ("shared-error-burst", "error-rate:shared:+2%@5m/5m")])


def test_a_sweep_of_nine_gates_and_twelve_scenarios_reads_without_scrolling_at_1400_px(browser, tmp_path):
    """The body was capped at 1100 px with its tables in ``overflow-x: auto``: the Gates table's detection was cut
    mid-value, harm, cost and Pareto off-screen, and 'By scenario' (one column per scenario) showed 3 of 13. Now
    no table is wider than the page at 1400 px: one row per scenario, one column per gate."""
    plan = load_plan(VALIDATION)
    mix = tmp_path / "mix.yaml"
    mix.write_text(WIDE_MIX)
    result = sweep(plan, load_mix(mix, plan), ["rules.error_rate_rollback.threshold=0.2%,0.5%,1%",
                                               "rules.*.sustain=1m,3m,5m"], replicates=24, seed=3, workers=1)
    page = write_sweep_html(result, tmp_path / "report.html", plan=plan)
    browser.set_window_size(1400, 900)
    browser.get(page.resolve().as_uri())
    widths = browser.execute_script(
        "return [...document.querySelectorAll('.scroll')].map(d => [d.scrollWidth, d.clientWidth])")
    assert len(widths) >= 3 and all(scroll <= client for scroll, client in widths), widths
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
    rows = browser.execute_script("return [...document.querySelectorAll('.scroll')].at(-1)"
                                  ".querySelectorAll('tbody tr').length")   # the last table: by scenario
    assert rows == len(result.breakdown()["scenario"].unique()) == 12


def test_a_duration_bounds_limit_is_written_in_the_unit_of_its_estimate():
    """The check page wrote a limit "30m" beside an estimate "14.9min"."""
    from rampsim.experiment.check import BoundVerdict
    from rampsim.report.html import _bound

    detection = BoundVerdict("detect_p90", limit=1800.0, estimate=894.0, low=600.0, high=float("nan"), samples=40,
                             verdict="undecided")
    assert _bound(detection) == ("30min", "14.9min", "[10min, ∞]")
    rate = BoundVerdict("false_rollback_rate", limit=0.99999, estimate=0.5, low=0.4, high=0.6, samples=40,
                        verdict="met")
    assert _bound(rate) == ("99.999%", "50%", "[40%, 60%]")
