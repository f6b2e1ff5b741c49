"""Simulated telemetry exposed as exporters name it, and the engine's metrics from ``explain --promql``.

* The engine's metrics (:func:`rampsim.engine.metrics.evaluate`) equal rampsim's PromQL evaluator
  evaluating the ``explain --promql`` text over the ``rampsim`` profile's series of a simulated run
  (with an error burst, a counter reset and a scrape gap), on the scrape grid, with 2.x semantics
  (2.42 and 2.55), wherever the engine has a value; the 3.x forms of the gauge measures with 3.x
  semantics; and the 2.x form of a counter ratio is *not* the engine's number on 3.x.
* Each profile's series add up to the telemetry (pods, status codes, the histogram split by
  status), counters stay monotonic between resets, histograms stay monotonic in ``le``, and a
  labelled series exists only where its counter is above zero (hypothesis, random counters with
  resets and gaps).
* The ``rampsim`` profile is what rampsim's own recordings hold, and the OpenMetrics text
  reads back as the same series.
"""
from __future__ import annotations

import io
import math
from collections import defaultdict
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, strategies as st

from rampsim.engine import metrics
from rampsim.engine.promql import for_line, promql
from rampsim.faults import parse_fault
from rampsim.promql import SeriesStore, evaluate, evaluate_range
from rampsim.promql.exposition import PROFILES, ClientNames, Deployment, Names, expose, exposition_store
from rampsim.prod.naming import Naming
from rampsim.prod.openmetrics import read_openmetrics, write_openmetrics
from rampsim.telemetry import COUNTER_FAMILIES, Layout, Telemetry
from tests.sim_helpers import realistic_reference

INTERVAL = 15.0
FAULTS = ("error-rate:canary:+1%@1h30m/20m", "counter-reset:canary@1h10m", "scrape-gap:shared@3h30m/2m")


# -- the engine's metrics and the explain --promql text -------------------------------------------

@pytest.fixture(scope="module")
def reference_run():
    from rampsim.sim import simulate
    plan = realistic_reference()
    run = simulate(plan, [parse_fault(f) for f in FAULTS], seed=5, engine_factory=None)
    return plan, run.telemetry


@pytest.fixture(scope="module")
def reference_store(reference_run):
    _, telemetry = reference_run
    return exposition_store(telemetry, "rampsim")


def _rolling(plan):
    """The plan's measures over rolling windows that ``explain --promql`` writes as a PromQL query."""
    found = []
    for where, measure in plan.measures():
        m = measure.measurement
        if not m.metric_definition.from_telemetry or m.peak is not None:
            continue   # alerts are the engine's own; a peak is a subquery, outside the evaluated subset
        text = promql(m, interval=INTERVAL)
        if text.startswith("#") or "(in " in text or m.window.kind.value != "rolling":
            continue   # chi-square, counter rates written in words; cumulative windows: below
        found.append((where, measure, m))
    return found


def _compare(engine: np.ndarray, ours: np.ndarray, context: str) -> int:
    """``ours`` equals ``engine`` (relative 1e-9) wherever the engine has a value; returns how many were."""
    defined = np.isfinite(engine)
    assert np.all(np.isfinite(ours[defined])), f"{context}: PromQL has no value where the engine has one"
    scale = np.maximum(np.abs(engine[defined]), 1e-12)
    worst = np.max(np.abs(ours[defined] - engine[defined]) / scale, initial=0.0)
    assert worst <= 1e-9, f"{context}: relative difference {worst:.3g}"
    return int(defined.sum())


@pytest.mark.parametrize("semantics,line", [("2.42.0", 2), ("2.55", 2), ("3", 3)])
def test_explain_promql_gives_the_engine_metrics(reference_run, reference_store, semantics, line):
    """Every rolling measure of the reference plan: the form of its line (3.x: ``anchored`` counter ranges, gauge
    ranges widened by 1 ms) evaluated with that line's semantics gives the engine's number."""
    plan, telemetry = reference_run
    series = metrics.Series.from_telemetry(telemetry)
    checked = set()
    for where, measure, m in _rolling(plan):
        w = int(round(m.window.seconds / INTERVAL))
        end = np.arange(w, len(telemetry))
        engine = metrics.evaluate(series, measure, end - w, end)
        result = evaluate_range(promql(m, interval=INTERVAL, line=line), reference_store, telemetry.time[end],
                                semantics=semantics)
        assert len(result.labels) <= 1, where
        ours = (np.where(result.present[0], result.values[0], np.nan) if len(result.labels)
                else np.full(len(end), np.nan))
        if _compare(engine, ours, f"{where} ({semantics})"):
            checked.add(m.metric.value + (" trend" if m.trend else "") + (f" {m.agg}" if m.agg else ""))
    assert {"error_rate", "latency", "availability", "segment_spread", "cpu", "memory", "network",
            "memory_growth", "error_rate trend", "latency trend"} <= checked, checked


@pytest.mark.parametrize("semantics", ["2.42.0", "2.55"])
def test_explain_promql_over_cumulative_and_since_checkpoint_windows(reference_run, reference_store, semantics):
    """``<elapsed>`` is the time since the window's start; the engine's window starts there."""
    plan, telemetry = reference_run
    series = metrics.Series.from_telemetry(telemetry)
    windows = [(0, 60), (0, 240), (0, 500), (0, 960), (240, 480), (600, 700)]
    kinds = set()
    for where, measure in plan.measures():
        m = measure.measurement
        if m.window.kind.value == "rolling" or not m.metric_definition.from_telemetry:
            continue
        text = promql(m, interval=INTERVAL)
        if text.startswith("#") or "(in " in text:
            continue
        for start, end in windows:
            if m.trend and start == 0:
                continue    # no window before the ramp: the engine is inconclusive
            engine = metrics.evaluate(series, measure, np.array([start]), np.array([end]))
            query = text.replace("<elapsed>", f"{(end - start) * INTERVAL:g}s")
            answer = evaluate(query, reference_store, telemetry.time[end], semantics=semantics)
            ours = np.array([answer.vector[0].value if len(answer) else np.nan])
            _compare(engine, ours, f"{where} over [{start}, {end}] ({semantics})")
        kinds.add(f"{m.metric.value} {m.window.kind.value}")
    assert {"error_rate cumulative", "latency since_checkpoint", "revenue_delta since_checkpoint",
            "cache_hit_rate cumulative", "segment_spread cumulative"} <= kinds, kinds


def test_the_2x_form_of_a_counter_ratio_is_not_the_engine_metric_on_3x(reference_run, reference_store):
    """A 3.x range leaves out the sample at t-w, so increase() extrapolates another increase."""
    plan, telemetry = reference_run
    measure = plan.rules["error_rate_rollback"]
    m = measure.measurement
    end = np.arange(4, len(telemetry))
    engine = metrics.evaluate(metrics.Series.from_telemetry(telemetry), measure, end - 4, end)
    on_3x = evaluate_range(promql(m, interval=INTERVAL), reference_store, telemetry.time[end], semantics=3)
    differs = np.abs(on_3x.values[0] - engine) > 1e-9 * np.abs(engine)
    assert differs.mean() > 0.5


def test_the_3x_form_anchors_counters_and_widens_gauge_ranges():
    assert for_line('sum(increase(x{arm="canary"}[1m])) / sum(increase(y{arm="canary"}[1m] offset 1m))', 3) == \
        'sum(increase(x{arm="canary"}[1m] anchored)) / sum(increase(y{arm="canary"}[1m] anchored offset 1m))'
    assert for_line('deriv(m{a="[1m]"}[2h]) * 3600', 3) == 'deriv(m{a="[1m]"}[2h1ms]) * 3600'
    assert for_line('max_over_time((sum(increase(x[60s])))[3540s:15s])', 3) == \
        'max_over_time((sum(increase(x[60s] anchored)))[3540s1ms:15s])'
    assert for_line("avg_over_time(c[1500ms])", 3) == "avg_over_time(c[1501ms])"
    assert for_line("increase(x[1m])", 2) == "increase(x[1m])"


# -- random telemetry -------------------------------------------------------------------------------

LAYOUT = Layout(latency_buckets=(0.01, 0.05, 0.1, 0.5, math.inf))


def random_telemetry(seed: int, ticks: int, reset_at: int, gap: tuple[int, int], errorless: bool) -> Telemetry:
    """Counters per arm and segment with a canary reset at ``reset_at`` (0: none) and missing scrapes ``gap``."""
    rng = np.random.default_rng(seed)
    arms, segments, buckets = len(LAYOUT.arms), len(LAYOUT.segments), len(LAYOUT.latency_buckets)
    requests = rng.poisson(rng.uniform(0, 40), (ticks, arms, segments)).astype(float)
    requests[0] = rng.integers(0, 3, (arms, segments))
    errors = rng.binomial(requests.astype(int), 0.0 if errorless else rng.uniform(0, 0.3)).astype(float)
    split = rng.dirichlet(np.ones(buckets), (ticks, arms, segments))
    per_bucket = np.stack([rng.multinomial(int(n), p) for n, p in zip(requests.ravel(), split.reshape(-1, buckets))])
    per_bucket = per_bucket.reshape(ticks, arms, segments, buckets).astype(float)
    latency_sum = (per_bucket * np.array([0.005, 0.03, 0.07, 0.3, 2.0])).sum(axis=-1)
    families = {"requests": requests, "errors": errors, "latency_bucket": np.cumsum(per_bucket, axis=-1),
                "latency_sum": latency_sum, "revenue": requests * 0.031,
                "health_checks": np.full((ticks, arms), 3.0), "health_checks_ok": np.full((ticks, arms), 3.0),
                "cache_hits": requests.sum(axis=2), "cache_misses": np.zeros((ticks, arms))}
    cumulative = {}
    canary = LAYOUT.arm("canary")
    for name, per_tick in families.items():
        total = np.cumsum(per_tick, axis=0)
        if reset_at:
            restart = total[reset_at - 1, canary].copy()
            total[reset_at:, canary] -= restart           # the canary's process restarts from zero
        cumulative[name] = total
    gauges = {name: rng.uniform(0.1, 0.9, (ticks, arms)) for name in ("cpu", "memory", "network")}
    telemetry = Telemetry.from_arrays(LAYOUT, n_ticks=ticks, memory_bytes=rng.uniform(1e9, 2e9, (ticks, arms)),
                                      **cumulative, **gauges)
    telemetry.counters[gap[0]:gap[1]] = np.nan
    telemetry.gauges[gap[0]:gap[1]] = np.nan
    return telemetry


telemetries = st.builds(
    lambda seed, ticks, reset, gap, length, errorless: random_telemetry(
        seed, ticks, reset if 2 <= reset < ticks else 0, (gap, min(gap + length, ticks - 1)), errorless),
    st.integers(0, 2**32 - 1), st.integers(6, 30), st.integers(0, 30), st.integers(1, 25), st.integers(0, 3),
    st.booleans())
deployments = st.builds(lambda b, c, seg: Deployment(pods={"baseline": b, "canary": c},
                                                     segment_label="segment" if seg else None),
                        st.integers(1, 4), st.integers(1, 3), st.booleans())

# profile -> (request counter, label marking errors, value; series to leave out (duplicates))
COUNTERS = {"http": ("http_requests_total", "code", "500", {}),
            "istio": ("istio_requests_total", "response_code", "500", {"reporter": "source"}),
            "linkerd": ("response_total", "classification", "failure", {}),
            "nginx": ("nginx_ingress_controller_requests", "status", "500", {}),
            "spring": ("http_server_requests_seconds_count", "status", "500", {}),
            "envoy": ("envoy_cluster_upstream_rq", "envoy_response_code", "500", {})}


def _arm_of(labels: dict[str, str], deployment: Deployment) -> str:
    for arm in LAYOUT.arms:
        if deployment.workload(arm) in labels.values() or deployment.template_hash(arm) in labels.values():
            return arm
    raise AssertionError(f"no arm in {labels}")


@given(telemetries, deployments, st.sampled_from(sorted(COUNTERS)))
def test_profile_counters_add_up_to_the_telemetry(telemetry, deployment, profile):
    exposition = expose(telemetry, profile, deployment=deployment, others=False)
    name, label, error_value, skip = COUNTERS[profile]
    present = ~np.isnan(telemetry.requests[:, 0, 0])
    for arm in LAYOUT.arms:
        a = LAYOUT.arm(arm)
        totals = {"all": np.zeros(len(telemetry)), "errors": np.zeros(len(telemetry))}
        for labels, values in zip(exposition.labels, exposition.values):
            if labels["__name__"] != name or any(labels.get(k) == v for k, v in skip.items()) \
                    or _arm_of(labels, deployment) != arm:
                continue
            totals["all"] += np.nan_to_num(values)
            if labels[label] == error_value:
                totals["errors"] += np.nan_to_num(values)
        np.testing.assert_array_equal(totals["all"][present], telemetry.requests[present, a].sum(axis=1))
        np.testing.assert_array_equal(totals["errors"][present], telemetry.errors[present, a].sum(axis=1))


@given(telemetries, deployments, st.sampled_from([ClientNames(requests=None, status_label="status_code",
                                                              duration="gateway_request_duration_seconds"),
                                                  ClientNames(requests="flask_http_request_total", status_label="status",
                                                              status_on_histogram=True)]))
def test_a_client_librarys_own_names_count_the_same_requests(telemetry, deployment, client):
    """Under another library's names (the request counter, or the histogram's _count, by its status label)."""
    exposition = expose(telemetry, "http", deployment=replace(deployment, client=client), others=False)
    present = ~np.isnan(telemetry.requests[:, 0, 0])
    names = {labels["__name__"] for labels in exposition.labels}
    assert ("http_requests_total" in names) is False and (client.requests in names) is (client.requests is not None)
    for counter in filter(None, (client.requests, client.duration + "_count")):
        for arm in LAYOUT.arms:
            rows = [(labels, values) for labels, values in zip(exposition.labels, exposition.values)
                    if labels["__name__"] == counter and _arm_of(labels, deployment) == arm]
            a = LAYOUT.arm(arm)
            every = sum(np.nan_to_num(values) for _, values in rows)
            errors = sum(np.nan_to_num(values) for labels, values in rows if labels[client.status_label] == "500")
            np.testing.assert_array_equal(np.asarray(every)[present], telemetry.requests[present, a].sum(axis=1))
            np.testing.assert_array_equal(np.broadcast_to(errors, every.shape)[present],
                                          telemetry.errors[present, a].sum(axis=1))


@given(telemetries, deployments, st.sampled_from(sorted(COUNTERS)))
def test_series_exist_from_their_first_increment_and_stay_monotonic(telemetry, deployment, profile):
    exposition = expose(telemetry, profile, deployment=deployment, others=False)
    canary = LAYOUT.arm("canary")
    columns = np.concatenate([np.atleast_1d(LAYOUT.channels(f, canary)).ravel() for f in COUNTER_FAMILIES])
    raw = telemetry.counters[:, columns]                      # any of the canary's counters dropping: a restart
    last = np.maximum.accumulate(np.where(np.isnan(raw), 0, np.arange(len(raw))[:, None]), axis=0)
    filled = np.take_along_axis(raw, last, axis=0)
    restarted = np.zeros(len(telemetry), dtype=bool)
    with np.errstate(invalid="ignore"):
        restarted[1:] = (raw[1:] < filled[:-1]).any(axis=1)
    gap = np.isnan(telemetry.requests[:, 0, 0])
    for labels, values in zip(exposition.labels, exposition.values):
        have = ~np.isnan(values)
        assert not (have & gap).any(), f"{labels['__name__']}: a sample in a missing scrape"
        if labels["__name__"].endswith(("_total", "_count")) or labels["__name__"] == COUNTERS["nginx"][0]:
            assert np.all(values[have] > 0), f"{labels}: a labelled child exists only once it counted"
        # monotonic, except across the canary's restart (on the canary's series)
        steps = np.flatnonzero(have)
        for before, after in zip(steps, steps[1:]):
            if values[after] < values[before]:
                assert _arm_of(labels, deployment) == "canary" and restarted[before + 1:after + 1].any(), \
                    f"{labels}: {values[before]} -> {values[after]} without a reset"


@given(telemetries, deployments, st.sampled_from(["istio", "nginx", "spring", "http", "linkerd"]))
def test_histograms_are_consistent_and_their_status_split_adds_up(telemetry, deployment, profile):
    exposition = expose(telemetry, profile, deployment=deployment, others=False)
    present = ~np.isnan(telemetry.requests[:, 0, 0])
    total = defaultdict(lambda: np.zeros((len(telemetry), len(LAYOUT.latency_buckets))))
    for family in exposition.families:
        for buckets, count, sum_row in family.children:
            if family.kind == "summary":
                continue
            values = exposition.values[buckets]                           # (B, T)
            have = ~np.isnan(exposition.values[count])
            assert np.array_equal(~np.isnan(values), np.broadcast_to(have, values.shape))
            assert np.array_equal(have, ~np.isnan(exposition.values[sum_row]))
            assert np.all(np.diff(values[:, have], axis=0) >= 0), "buckets decrease with le"
            np.testing.assert_array_equal(values[-1], exposition.values[count])
            labels = exposition.labels[count]
            if labels.get("reporter") == "source":
                continue
            total[_arm_of(labels, deployment)] += np.nan_to_num(values.T)
    for arm in LAYOUT.arms:
        expected = telemetry.latency_bucket[present, LAYOUT.arm(arm)].sum(axis=1)
        np.testing.assert_array_equal(total[arm][present], expected)


@given(telemetries, deployments)
def test_nginx_upstream_latency_summary_counts_each_arms_requests_and_their_time(telemetry, deployment):
    """Flagger's builtin nginx duration is this summary's mean: its _count is the arm's requests, its _sum their time."""
    exposition = expose(telemetry, "nginx", deployment=deployment, others=False)
    family = next(f for f in exposition.families if f.name == "nginx_ingress_controller_ingress_upstream_latency_seconds")
    assert family.kind == "summary" and len(family.children) == len(_cells_of(telemetry, deployment))
    for arm in LAYOUT.arms:
        rows = [(c, t) for _, c, t in family.children
                if exposition.labels[c]["service"] == deployment.workload(arm)]
        counts = np.nansum([exposition.values[c] for c, _ in rows], axis=0)
        sums = np.nansum([exposition.values[t] for _, t in rows], axis=0)
        requests = np.nan_to_num(telemetry.requests[:, LAYOUT.arm(arm)].sum(axis=1))
        np.testing.assert_array_equal(counts, requests)
        np.testing.assert_allclose(sums, np.nan_to_num(telemetry.latency_sum[:, LAYOUT.arm(arm)].sum(axis=1)),
                                   rtol=1e-12)


def _cells_of(telemetry, deployment):
    return [(a, s) for a in LAYOUT.arms for s in (LAYOUT.segments if deployment.segment_label else [None])]


@given(telemetries, deployments, st.sampled_from(PROFILES), st.integers(1, 30))
def test_the_exposition_of_the_first_scrapes_is_the_first_scrapes_of_the_exposition(telemetry, deployment, profile,
                                                                                      ticks):
    """Causal: a closed loop that exposes the run scrape by scrape sees the series a whole run would show."""
    ticks = min(ticks, len(telemetry))
    whole = expose(telemetry, profile, deployment=deployment)
    head = expose(telemetry.head(ticks), profile, deployment=deployment)
    assert head.labels == whole.labels
    np.testing.assert_array_equal(head.values, whole.values[:, :ticks])


def test_a_healthy_service_has_no_error_series_so_an_unguarded_ratio_is_empty():
    telemetry = random_telemetry(1, 12, 0, (0, 0), errorless=True)
    for profile, query in (("http", 'sum(rate(http_requests_total{code=~"5.."}[1m])) / sum(rate(http_requests_total'
                                    '[1m]))'),
                           ("istio", 'sum(rate(istio_requests_total{reporter="destination",response_code=~"5.*"}[1m]))'
                                     ' / sum(rate(istio_requests_total{reporter="destination"}[1m]))'),
                           ("linkerd", 'sum(rate(response_total{classification="failure"}[1m])) / '
                                       'sum(rate(response_total[1m]))'),
                           ("nginx", 'sum(rate(nginx_ingress_controller_requests{status=~"5.*"}[1m])) / '
                                     'sum(rate(nginx_ingress_controller_requests[1m]))'),
                           ("spring", 'sum(rate(http_server_requests_seconds_count{outcome="SERVER_ERROR"}[1m])) / '
                                      'sum(rate(http_server_requests_seconds_count[1m]))')):
        store = exposition_store(telemetry, profile)
        assert evaluate(query, store, 150.0).to_api_json()["result"] == [], profile
        guarded = f"({query.split(' / ')[0]} or vector(0)) / {query.split(' / ', 1)[1]}"
        assert evaluate(guarded, store, 150.0).to_api_json()["result"][0]["value"][1] == "0", profile
    # rampsim's own exporter writes its error counter from the first scrape, zeros included
    store = exposition_store(telemetry, "rampsim")
    answer = evaluate('sum(rate(rampsim_request_errors_total[1m])) / sum(rate(rampsim_requests_total[1m]))', store, 150)
    assert answer.to_api_json()["result"][0]["value"][1] == "0"


# -- labels -------------------------------------------------------------------------------------------

def test_profile_labels_name_arms_pods_and_segments():
    telemetry = random_telemetry(2, 8, 0, (0, 0), errorless=False)
    deployment = Deployment(service="podinfo", namespace="test", pods={"baseline": 2, "canary": 1},
                            workloads={"baseline": "podinfo-primary", "canary": "podinfo"})
    labels = {profile: expose(telemetry, profile, deployment=deployment, others=False).labels for profile in PROFILES}
    canary_pods = deployment.pod_names("canary")
    assert len(canary_pods) == 1 and canary_pods[0].startswith(f"podinfo-{deployment.template_hash('canary')}-")
    assert deployment.pod_names("baseline") == Deployment(service="podinfo", namespace="test", pods={"baseline": 2},
                                                          workloads={"baseline": "podinfo-primary"}
                                                          ).pod_names("baseline")     # deterministic
    assert {(lab["pod"], lab["rollouts_pod_template_hash"]) for lab in labels["http"]} == \
        {(p, deployment.template_hash(arm)) for arm in LAYOUT.arms for p in deployment.pod_names(arm)}
    istio = [lab for lab in labels["istio"] if lab["__name__"] == "istio_requests_total"]
    assert {lab["reporter"] for lab in istio} == {"source", "destination"}
    assert {lab["destination_workload"] for lab in istio} == {"podinfo-primary", "podinfo"}
    assert {lab["destination_service"] for lab in istio} == {"podinfo.test.svc.cluster.local",
                                                             "podinfo-primary.test.svc.cluster.local"}
    assert {lab.get("pod") for lab in istio if lab["reporter"] == "source"} == {None}
    nginx = [lab for lab in labels["nginx"] if lab["__name__"] == "nginx_ingress_controller_requests"]
    assert {lab.get("canary") for lab in nginx} == {None, "test-podinfo-80"}
    assert {lab["le"] for lab in labels["istio"] if "le" in lab} == {"10", "50", "100", "500", "+Inf"}
    assert {lab["le"] for lab in labels["spring"] if "le" in lab} == {"0.01", "0.05", "0.1", "0.5", "+Inf"}
    assert {lab["le"] for lab in labels["rampsim"] if "le" in lab} == {"0.01", "0.05", "0.1", "0.5", "+Inf"}
    assert {lab["le"] for lab in labels["http"] if "le" in lab} == {"0.01", "0.05", "0.1", "0.5", "+Inf"}
    assert all(lab["segment"] in LAYOUT.segments for lab in labels["linkerd"])
    summed = expose(telemetry, "linkerd", deployment=Deployment(segment_label=None), others=False)
    assert all("segment" not in lab for lab in summed.labels)


def test_custom_names_come_from_a_plan_naming():
    telemetry = random_telemetry(3, 8, 0, (0, 0), errorless=False)
    naming = Naming.model_validate({"metrics": {"requests": "http_requests_total", "errors": "http_errors_total",
                                                "latency_bucket": "http_latency_seconds_bucket"},
                                    "labels": {"arm": "track", "segment": "region"}, "matchers": {"job": "api"}})
    names = Names(dict(naming.metrics), naming.labels.arm, naming.labels.segment, dict(naming.matchers))
    store = exposition_store(telemetry, "rampsim", names=names)
    assert {"http_requests_total", "http_errors_total", "http_latency_seconds_bucket", "http_latency_seconds_sum",
            "http_latency_seconds_count", "rampsim_cpu_utilization"} <= store.names()
    answer = evaluate('sum(http_requests_total{job="api",track="canary",region="B"})', store, 7 * 15.0)
    assert float(answer.vector[0].value) == telemetry.requests[7, 1, 1]


# -- OpenMetrics -----------------------------------------------------------------------------------------

def _series_of(text: str) -> dict:
    return {tuple(sorted(s.labels.items())): (list(s.timestamps_ms), list(s.values))
            for s in read_openmetrics(io.StringIO(text))}


@pytest.mark.parametrize("profile", PROFILES)
def test_openmetrics_reads_back_as_the_same_series(profile):
    telemetry = random_telemetry(4, 10, 6, (3, 5), errorless=False)
    exposition = expose(telemetry, profile, start=1740787200.0, deployment=Deployment(pods=2))
    out = io.StringIO()
    written = exposition.write_openmetrics(out)
    assert written == int((~np.isnan(exposition.values)).sum())
    read = _series_of(out.getvalue())
    expected = {tuple(sorted(lab.items())): (list(exposition.times_ms[~np.isnan(v)]), list(v[~np.isnan(v)]))
                for lab, v in zip(exposition.labels, exposition.values) if (~np.isnan(v)).any()}
    assert read == expected


def test_the_rampsim_profile_is_what_rampsim_records():
    telemetry = random_telemetry(5, 10, 4, (6, 7), errorless=False)
    recorded = io.StringIO()
    write_openmetrics(telemetry, recorded, 1740787200.0)
    exposition = expose(telemetry, "rampsim", start=1740787200.0)
    mine = io.StringIO()
    exposition.write_openmetrics(mine)
    assert _series_of(mine.getvalue()) == _series_of(recorded.getvalue())


def test_staleness_markers_end_series_that_disappear():
    telemetry = random_telemetry(6, 12, 0, (5, 7), errorless=False)
    exposition = expose(telemetry, "http")
    query = 'sum(http_requests_total{code="200"})'
    at = float(telemetry.time[5]) + 1
    assert len(evaluate(query, exposition.store(), at)) == 1          # backfilled: the last sample, looked back at
    assert len(evaluate(query, exposition.store(staleness=True), at)) == 0   # live: marked stale at the missed scrape
    assert len(evaluate(query, exposition.store(staleness=True), float(telemetry.time[8]))) == 1


def test_unknown_profiles_and_bad_pods_are_refused():
    telemetry = random_telemetry(7, 6, 0, (0, 0), errorless=False)
    with pytest.raises(ValueError, match="unknown exporter profile 'contour'"):
        expose(telemetry, "contour")
    with pytest.raises(ValueError, match="number of pods"):
        expose(telemetry, "http", deployment=Deployment(pods={"canary": 0}))
    store = SeriesStore()
    assert expose(telemetry, "nginx").store(store=store) is store and len(store) > 0
