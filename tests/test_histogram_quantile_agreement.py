"""The engine's ``histogram_quantile`` (``rampsim.plan.functions``, vectorized and per scrape) equals the PromQL
evaluator's (``rampsim.promql.histogram``, transcribed from Prometheus's ``quantile.go``) bit for bit.

A review found them apart: the engine's only flattened decreasing counts, where Prometheus also holds a count
within a relative 1e-12 of the one below it (``ensureMonotonicAndIgnoreSmallDeltas``): for counts
``[1, 1 + 1e-13, 2]`` the engine read 0.15 where Prometheus reads 0.2. Both now make counts monotonic with the
evaluator's one implementation.
"""
from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from rampsim.plan.functions import histogram_quantile, histogram_quantile_scalar
from rampsim.promql.histogram import bucket_quantile, bucket_quantiles


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@st.composite
def histograms(draw):
    """Sorted bounds ending in +Inf and cumulative counts: whole, fractional, with steps below a relative 1e-12
    (as float noise in an exporter's counts gives) and decreases (a bad exporter)."""
    size = draw(st.integers(2, 8))
    finite = sorted(draw(st.lists(st.floats(-1.0, 10.0, allow_nan=False), min_size=size - 1, max_size=size - 1,
                                  unique=True)))
    count = draw(st.sampled_from([0.0, 1.0, 7.0, 1e6, 3.5e12]))
    counts = [count]
    for _ in range(size - 1):
        step = draw(st.sampled_from(["same", "tiny", "whole", "fraction", "down"]))
        last = counts[-1]
        counts.append(last if step == "same" else last + abs(last) * 1e-13 + 1e-320 if step == "tiny"
                      else last + draw(st.integers(1, 50)) if step == "whole"
                      else last + draw(st.floats(1e-9, 5.0)) if step == "fraction"
                      else last - draw(st.floats(0.0, 3.0)))
    return [*finite, math.inf], counts


@given(histograms(), st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 0.5, 0.5 + 2.5e-14, 0.99, 1.0])))
def test_the_engines_quantile_is_the_evaluators(histogram, q):
    bounds, counts = histogram
    expected = bucket_quantile(q, bounds, counts)
    assert same(expected, float(bucket_quantiles(np.array([q]), bounds, np.array(counts)[:, None])[0]))
    assert same(float(histogram_quantile(q, bounds, np.array([counts]))[0]), expected), (bounds, counts, q)
    assert same(histogram_quantile_scalar(q, bounds, counts), expected), (bounds, counts, q)


def test_a_step_below_a_relative_1e_12_is_no_step():
    bounds, counts, q = [0.1, 0.2, math.inf], [1.0, 1.0 + 1e-13, 2.0], 0.5 + 2.5e-14
    assert bucket_quantile(q, bounds, counts) == 0.2   # Prometheus: the +Inf bucket's rank: the largest bound
    assert histogram_quantile(q, bounds, np.array([counts]))[0] == 0.2 == histogram_quantile_scalar(q, bounds, counts)


@given(histograms(), st.floats(0.0, 1.0), st.data())
def test_a_damaged_count_makes_the_engines_quantile_nan_on_both_paths(histogram, q, data):
    """A NaN bucket sample (damaged data) makes the window's quantile NaN, per scrape and vectorized alike: a review
    found the vectorized one reading a finite value past it, and the compiled judge rolling back where the step
    engine held."""
    bounds, counts = histogram
    counts[data.draw(st.integers(0, len(counts) - 1))] = math.nan
    assert math.isnan(histogram_quantile_scalar(q, bounds, counts))
    assert math.isnan(float(histogram_quantile(q, bounds, np.array([counts]))[0]))


def test_infinite_counts_read_alike_per_scrape_and_vectorized():
    """``sum()`` of +inf and -inf is NaN: the per-scrape quantile read a row holding both as damaged, the vectorized
    one did not (a review's fuzzing found 386 of 100,000 rows apart)."""
    bounds, counts = [0.0, 1e-300, 2.5, math.inf], [-math.inf, math.inf, math.inf, math.inf]
    assert same(histogram_quantile_scalar(0.0, bounds, counts), float(histogram_quantile(0.0, bounds,
                                                                                       np.array([counts]))[0]))
