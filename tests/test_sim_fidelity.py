"""The fluid and request fidelities of one model agree statistically (5,000 learners)."""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import pytest

from rampsim.engine.metrics import histogram_quantile
from rampsim.plan import load_plan, with_overrides
from rampsim.sim import simulate
from tests.sim_helpers import VALIDATION

Z = 4.0


@lru_cache(maxsize=None)
def runs():
    plan = with_overrides(load_plan(VALIDATION), {"phases.0.duration": "8m", "final_gate.at": "8m"})
    return simulate(plan, seed=21, fidelity="fluid"), simulate(plan, seed=22, fidelity="request")


def _two_proportions(x1: float, n1: float, x2: float, n2: float) -> float:
    pooled = (x1 + x2) / (n1 + n2)
    return abs(x1 / n1 - x2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))


@pytest.mark.parametrize("arm", [0, 1])
def test_error_rates_agree(arm):
    fluid, request = runs()
    end = len(fluid.telemetry) - 1
    counts = [(r.telemetry.errors[end, arm].sum(), r.telemetry.requests[end, arm].sum()) for r in (fluid, request)]
    assert min(n for _, n in counts) > 10_000
    assert _two_proportions(*counts[0], *counts[1]) < Z


@pytest.mark.parametrize("arm", [0, 1])
@pytest.mark.parametrize("bound", [0.01, 0.02, 0.05, 0.1])
def test_latency_distributions_agree(arm, bound):
    """The share of requests under each bound (which fixes P50 and P99) agrees within sampling error."""
    fluid, request = runs()
    end = len(fluid.telemetry) - 1
    b = list(fluid.telemetry.layout.latency_buckets).index(bound)
    counts = [(r.telemetry.latency_bucket[end, arm, :, b].sum(), r.telemetry.requests[end, arm].sum())
              for r in (fluid, request)]
    assert _two_proportions(*counts[0], *counts[1]) < Z


@pytest.mark.parametrize("arm", [0, 1])
@pytest.mark.parametrize("q", [0.5, 0.99])
def test_quantiles_agree(arm, q):
    """The fluid run's quantile lies within the request run's quantiles at q ± Z standard errors of a rank."""
    fluid, request = runs()
    end = len(fluid.telemetry) - 1
    bounds = fluid.telemetry.layout.latency_buckets
    fluid_buckets = fluid.telemetry.latency_bucket[end, arm].sum(axis=0)
    request_buckets = request.telemetry.latency_bucket[end, arm].sum(axis=0)
    n = request_buckets[-1]
    shift = Z * math.sqrt(2 * q * (1 - q) / n)  # two independent samples of about n requests each
    low, high = histogram_quantile(q - shift, bounds, request_buckets[None])[0], \
        histogram_quantile(q + shift, bounds, request_buckets[None])[0]
    assert low <= histogram_quantile(q, bounds, fluid_buckets[None])[0] <= high


def test_availability_and_gauges_agree():
    fluid, request = runs()
    end = len(fluid.telemetry) - 1
    for run in (fluid, request):
        checks, ok = run.telemetry.health_checks[end], run.telemetry.health_checks_ok[end]
        assert np.all(checks - ok <= 3)   # 0.001% spurious failures: almost surely none
    for gauge in ("cpu", "network"):
        a = getattr(fluid.telemetry, gauge)[2:, 1]
        b = getattr(request.telemetry, gauge)[2:, 1]
        spread = math.sqrt(a.var() / len(a) + b.var() / len(b))
        assert abs(a.mean() - b.mean()) < Z * spread


def test_request_fidelity_is_closed_loop_too():
    fluid, request = runs()
    assert fluid.outcome.verdict == request.outcome.verdict == "advanced"
