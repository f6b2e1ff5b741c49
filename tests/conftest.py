"""Shared test settings and fixtures.

Hypothesis profiles: ``fast`` by default, ``thorough`` on demand (``HYPOTHESIS_PROFILE=thorough``); a test that
needs its own number of examples takes it from the loaded profile with :func:`examples`.

Session fixtures, built once and shared by every test that asks for them:

* ``reference_plan``: the reference plan (``scenarios/ramp-phase-50k.yaml``) as shipped;
* ``sampling_reference_plan``: the same with ``variability: none`` (pure Poisson and binomial
  sampling noise, what the tolerances of the simulation tests are derived from);
* ``validation_plan``: the 20-minute validation plan (``scenarios/ramp-phase-5k-validation.yaml``);
* ``healthy_telemetry``: a hand-built healthy 4-hour ramp on the reference plan's layout
  (:func:`tests.builders.steady`: 0.07% errors, 40 ms latency, no failed check).

Sharing is safe: plans are frozen pydantic models (and each is checked unchanged at the end of
the session), and the telemetry's arrays are read-only, so a test that damages it works on
``healthy_telemetry.copy()``. Paths come from :mod:`tests.sim_helpers`, anchored to the repository.
"""
import os
from typing import NoReturn, Optional

import pytest
from hypothesis import HealthCheck, settings

from tests import sim_helpers
from tests.builders import steady

FAST_EXAMPLES, THOROUGH_EXAMPLES = 40, 600
settings.register_profile("fast", max_examples=FAST_EXAMPLES, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("thorough", max_examples=THOROUGH_EXAMPLES, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))


def under_ci() -> bool:
    """Whether the tests run in CI (``CI`` set to 1, true or yes, as ``.ci/run`` sets it)."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str) -> NoReturn:
    """A test whose data or tool is ``reason`` missing: skipped on a developer's machine, failed in CI, where
    ``.ci/run`` installs every tool and the data beside the project is there."""
    if under_ci():
        pytest.fail(f"CI is set but {reason}")
    pytest.skip(reason)


def examples(fast: int, thorough: Optional[int] = None) -> int:
    """``max_examples`` for a test that needs a count of its own, from the loaded profile: ``fast`` under the fast
    one, ``thorough`` (by default 10 x ``fast``) under the thorough one, and under any other ``fast`` scaled by
    that profile's count over the fast one's. A pinned ``@settings(max_examples=N)`` beats every profile (the
    thorough one ran such a test N times too): write ``@settings(max_examples=examples(fast=N))`` instead.

    Read when the test module is imported, after this file loaded the profile (``HYPOTHESIS_PROFILE``, or
    hypothesis's ``--hypothesis-profile`` option)."""
    loaded = settings.default.max_examples
    if loaded == FAST_EXAMPLES:
        return fast
    if loaded == THOROUGH_EXAMPLES:
        return 10 * fast if thorough is None else thorough
    return max(1, round(fast * loaded / FAST_EXAMPLES))


def _unchanged(plan, reload):
    """Fail the session if a test changed a shared plan (frozen models can still hold mutable containers).

    Fields only: the private ``_memo`` is the library's own cache, filled as the plan is used."""
    fields = lambda p: {name: getattr(p, name) for name in type(p).model_fields}  # noqa: E731
    assert fields(plan) == fields(reload()), "a test changed a shared plan: change a copy (with_overrides) instead"


@pytest.fixture(scope="session")
def reference_plan():
    plan = sim_helpers.realistic_reference()
    yield plan
    _unchanged(plan, lambda: sim_helpers.load_plan(sim_helpers.REFERENCE))


@pytest.fixture(scope="session")
def sampling_reference_plan():
    plan = sim_helpers.reference()
    yield plan
    _unchanged(plan, lambda: sim_helpers.with_overrides(sim_helpers.load_plan(sim_helpers.REFERENCE),
                                                        {"traffic.variability": "none"}))


@pytest.fixture(scope="session")
def validation_plan():
    plan = sim_helpers.validation()
    yield plan
    _unchanged(plan, lambda: sim_helpers.load_plan(sim_helpers.VALIDATION))


@pytest.fixture(scope="session")
def healthy_telemetry(reference_plan):
    telemetry = steady(reference_plan.layout)
    for array in (telemetry.time, telemetry.counters, telemetry.gauges):
        array.flags.writeable = False
    return telemetry
