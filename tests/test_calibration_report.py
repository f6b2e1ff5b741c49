"""The fit report's chart: every share of minutes it does not draw is said, and it warns of nothing."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from rampsim.calibration.comparison import Comparison, SeriesComparison, autocorrelation
from rampsim.calibration.day_to_day import DayToDay, day_to_day
from rampsim.report.calibration import fit_chart

UNCHECKED = DayToDay((), 1, "day-to-day noise not checked: 1 whole day with 80% of the ticks present, 3 needed")


def series(name: str, unit: str, observed, simulated) -> SeriesComparison:
    observed, simulated = np.asarray(observed, float), np.asarray(simulated, float)
    return SeriesComparison(name, unit, observed, simulated, autocorrelation(observed), autocorrelation(simulated),
                            0.013 if len(observed) else np.nan, 0.5)


def texts(figure) -> list[str]:
    """Every panel's title and text, in order."""
    return [t for ax in figure.axes for t in [ax.get_title(), *(text.get_text() for text in ax.texts)] if t]


def chart(*rows: SeriesComparison):
    with warnings.catch_warnings():
        warnings.simplefilter("error")    # numpy's RuntimeWarnings, matplotlib's empty-legend UserWarning
        figure = fit_chart(Comparison(tuple(rows), {}, 1.0, UNCHECKED))
        figure.canvas.draw()
    return figure


def test_the_minutes_without_errors_are_said_not_dropped():
    """At low traffic 99% of minutes have no errors: the bars showed the history's 1% at 5-12% under 'KS distance
    0.013', as if the model fitted, and said nothing of the rest."""
    rng = np.random.default_rng(0)
    observed = np.where(rng.random(1440) < 0.013, rng.uniform(0.05, 0.12, 1440), 0.0)
    simulated = np.where(rng.random(1440) < 0.001, 0.08, 0.0)
    shown = texts(chart(series("error_rate", "error rate", observed, simulated)))
    distribution = shown[0]
    assert "KS distance 0.013 over all minutes" in distribution
    share = f"{np.mean(observed == 0):.1%} of history minutes and {np.mean(simulated == 0):.1%} of model minutes " \
            "have no errors; bars show the rest"
    assert share in distribution.replace("\n", " "), distribution


def test_a_panel_with_nothing_to_draw_says_why():
    """No errors at all: both panels were empty axes from -0.04 to 0.04 with nothing saying why (and numpy warned
    of 0/0 twice); a two-scrape history (no whole minute) also warned of an empty legend."""
    shown = " | ".join(texts(chart(series("error_rate", "error rate", np.zeros(600), np.zeros(600)),
                                   series("p99", "P99 latency", [], []))))
    assert "100.0% of history minutes and 100.0% of model minutes have no errors: no distribution above 0" in \
        shown.replace("\n", " ")
    assert "no autocorrelation to draw (history: every minute has no errors; calibrated model: every minute has no " \
           "errors)" in shown.replace("\n", " ")
    assert "no whole minute in the history or the model: nothing to draw" in shown.replace("\n", " ")


def test_the_tails_beyond_the_axis_are_counted_in_the_outermost_bars():
    values = np.concatenate([np.full(997, 100.0) + np.arange(997) % 7, [1e5, 2e5, 3e5]])
    figure = chart(series("requests", "requests per minute", values, values))
    bars = figure.axes[0].patches
    assert sum(b.get_height() for b in bars) == pytest.approx(200.0)   # each side's 100% of minutes, nothing lost
    assert "the outermost bars also hold the tails" in figure.axes[0].get_title()


def test_the_autocorrelation_of_a_constant_series_is_undefined_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(autocorrelation(np.zeros(100))).all()


def test_a_tail_of_a_few_minutes_keeps_its_bars_visible():
    """On log-spaced bins a density divided by each bin's width: the error-rate bursts (1.7% of the history's minutes
    above 0.5%, at 1-5%) drew as bars a hundredth of the bulk's, empty to the eye. Each bar is now the share of its
    side's minutes, the smallest (one minute) above the log axis' foot."""
    rng = np.random.default_rng(1)
    bulk = rng.lognormal(np.log(0.0006), 0.4, 1416)
    burst = rng.uniform(0.01, 0.05, 24)
    observed = np.concatenate([bulk, burst])
    axes = chart(series("error_rate", "error rate", observed, observed)).axes[0]   # drawn in %
    assert (axes.get_xscale(), axes.get_yscale()) == ("log", "log")
    assert "share of minutes" in axes.get_ylabel()
    history = axes.containers[0]   # the bars of the first side drawn: the history's
    assert history.patches[0].get_label() == "history"
    above = sum(bar.get_height() for bar in history if bar.get_x() >= 0.5)
    assert above == pytest.approx(100 * np.mean(observed > 0.005), abs=100 / len(observed))   # one bin may straddle
    one_minute = 100 / len(observed)
    assert axes.get_ylim()[0] < one_minute
    assert min(bar.get_height() for bar in history if bar.get_height() > 0) == pytest.approx(one_minute)


def test_the_plans_rule_thresholds_are_drawn_where_the_gate_would_stop():
    """A review: whether the model has the history's minutes above the rollback threshold is what makes a simulated
    false-rollback rate believable, and the chart did not say where that threshold is. The rules that read a series
    as drawn (the whole arm, not compared, not a trend) are lines near the minutes, and named in the legend when far
    beyond them."""
    from rampsim.plan import load_plan
    from rampsim.report.calibration import rule_thresholds
    from tests.sim_helpers import SCENARIOS

    thresholds = rule_thresholds(load_plan(SCENARIOS / "ramp-phase-50k.yaml"))
    assert {name: sorted(value for _, _, value in lines) for name, lines in thresholds.items()} == {
        "error_rate": [0.005, 0.0075], "p99": [0.2, 0.25, 0.25]}   # segment spread and resources read no series
    rng = np.random.default_rng(1)
    rates = np.exp(rng.normal(np.log(0.001), 0.5, 1440))
    latency = rng.uniform(0.030, 0.070, 1440)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figure = fit_chart(Comparison((series("error_rate", "error rate", rates, rates),
                                       series("p99", "P99 latency", latency, latency)), {}, 1.0, UNCHECKED),
                                  thresholds)
        figure.canvas.draw()
    errors, p99 = figure.axes[0], figure.axes[2]
    assert sorted(round(line.get_xdata()[0], 6) for line in errors.get_lines()) == [0.5, 0.75]   # in %, as drawn
    assert errors.get_xlim()[1] > 0.75
    assert not p99.get_lines() and p99.get_xlim()[1] < 100   # 200 and 250 ms would squeeze 30-70 ms into a sliver
    legend = " ".join(text.get_text() for text in p99.get_legend().get_texts())
    assert "p99_rollback: 200" in legend and "latency_warning, latency_rollback: 250" in legend
    assert not p99.texts   # named in the legend, placed with it where it covers the fewest bars


def test_the_days_are_drawn_when_checked_and_their_verdict_said():
    """A week of quiet and loud days against a model between them: a last row draws each day's noise sd (on a log
    axis: it spans more than a factor of 4) and its lag-1 autocorrelation, history against model, and says which
    days spread more."""
    from tests.test_day_to_day import BETWEEN, QUIET, latent, minutes

    rng = np.random.default_rng(3)
    history, model = minutes(rng, 7, [QUIET, latent(0.3, 300, 0.15)])[:, 0], minutes(rng, 7, [BETWEEN])[:, 0]
    days = day_to_day(history, model)
    row = series("requests", "requests per minute", history, model)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figure = fit_chart(Comparison((row,), {}, 7.0, days))
        figure.canvas.draw()
    assert len(figure.axes) == 4
    dispersion, lag_one = figure.axes[2], figure.axes[3]
    assert dispersion.get_title().startswith("requests day by day: noise sd\nthe history's days spread more")
    assert dispersion.get_yscale() == "log" and lag_one.get_yscale() == "linear"
    assert [len(line.get_ydata()) for line in dispersion.get_lines()] == [7, 7]
    assert [t.get_text() for t in dispersion.get_xticklabels()] == ["history", "calibrated model"]
    unchecked = fit_chart(Comparison((row,), {}, 1.0, UNCHECKED))
    assert len(unchecked.axes) == 2


def test_the_report_text_says_the_day_to_day_verdict():
    from rampsim.calibration.fit import calibrate
    from rampsim.report.calibration import fit_markdown
    from tests.test_calibration_cli import aa_history, realistic_reference
    from tests.test_day_to_day import BETWEEN, NOISY, QUIET, minutes

    plan = realistic_reference()
    calibration = calibrate(plan, aa_history(0.25, 3, plan))
    rng = np.random.default_rng(3)
    days = day_to_day(minutes(rng, 7, [QUIET, NOISY])[:, 0], minutes(rng, 7, [BETWEEN])[:, 0])
    text = fit_markdown(calibration, Comparison((), {}, 7.0, days))
    section = text[text.index("## Day to day"):]
    assert days.summary() in section
    assert "| noise sd | " in section and "| noise lag-1 autocorrelation | " in section
    assert fit_markdown(calibration, Comparison((), {}, 1.0, UNCHECKED)).endswith(
        "## Day to day\n\n" + UNCHECKED.note + ".\n\n![fit](fit.png)\n")
