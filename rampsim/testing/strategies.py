"""Hypothesis strategies for telemetry, plans, gates and faults, composable like hypothesis's own.

* ``telemetry(...)`` draws scrape-by-scrape counters that are internally consistent
  (errors never exceed requests, histogram buckets are cumulative), optionally with
  missing scrapes, counter resets and arms that differ;
* ``single_rule_plans(...)`` and ``gate_plans(...)`` draw small plans: one rule
  under test, or random rules, checkpoints and a final gate (comparisons with the
  baseline and sequential tests among their measures);
* ``gates(plan, **{path: values})`` draws variants of your own plan (``percents``
  and ``durations`` write drawn values with units);
* ``faults(kinds=..., targets=..., magnitudes=...)`` draws faults to inject.

A drawn plan or telemetry is a :class:`~rampsim.plan.schema.Plan` or :class:`~rampsim.telemetry.Telemetry` like any
other, shown by what was drawn (``gates(<my-plan>, rules.x.threshold='0.5%')``, telemetry by its shape and what was
injected) rather than field by field, so that a falsifying example reads in a few lines.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal, Optional, Sequence, get_args, get_origin

import numpy as np
from hypothesis import strategies as st

from rampsim.engine.metrics import BETS_TUNED_FOR, LATENCY_RATIO_BOUND
from rampsim.judges.sequential import RATE_RATIO_BOUND, fewest_to_reject
from rampsim.plan.loader import plan_from_data, plan_from_text
from rampsim.plan.metric_definitions import definition_of, resolve_alias
from rampsim.plan.schema import Measurement, Plan
from rampsim.telemetry import Layout, Telemetry
from rampsim.units import parse_duration

if TYPE_CHECKING:
    from rampsim.faults import FaultKind

__all__ = ["telemetry", "single_rule_plan", "single_rule_plans", "gate_plans", "faults", "DrawnPlan", "DrawnTelemetry",
           "gates", "percents", "durations", "SMALL_LAYOUT", "SMALL_LAYOUTS"]

SMALL_LAYOUT = Layout(arms=("baseline", "canary"), segments=("A", "B"),
                      latency_buckets=(0.025, 0.05, 0.1, 0.2, 0.4, float("inf")), scrape_interval=15.0)
SMALL_LAYOUTS = tuple(Layout(segments=segments, latency_buckets=SMALL_LAYOUT.latency_buckets, scrape_interval=15.0)
                      for segments in (("A",), ("A", "B"), ("A", "B", "C")))


class DrawnPlan(Plan):
    """A :class:`~rampsim.plan.schema.Plan` drawn by a strategy of this module, the same in every use but its repr:
    what was drawn (hypothesis prints a falsifying example's ``repr``: a whole plan's ran to kilobytes)."""

    def __repr__(self) -> str:
        return str((self.__pydantic_private__ or {}).get("_drawn") or super().__repr__())

    def _repr_pretty_(self, printer, cycle: bool) -> None:   # hypothesis's pretty printer asks for this first
        printer.text(repr(self))

    def __eq__(self, other: object) -> bool:
        """Equal to any plan with the same fields, drawn or loaded (pydantic compares the classes too)."""
        if not isinstance(other, Plan):
            return NotImplemented
        def private(plan: Plan) -> dict:
            return {k: v for k, v in (plan.__pydantic_private__ or {}).items() if k != "_drawn"}
        return self.__dict__ == other.__dict__ and private(self) == private(other)

    __hash__ = Plan.__hash__


class DrawnTelemetry(Telemetry):
    """:class:`~rampsim.telemetry.Telemetry` drawn by :func:`telemetry`, the same in every use but its repr: its
    shape, levels and what was injected, not every array in full."""

    _drawn: str = ""

    def __repr__(self) -> str:
        return self._drawn or super().__repr__()

    def _repr_pretty_(self, printer, cycle: bool) -> None:   # before hypothesis's field-by-field dataclass printer
        printer.text(repr(self))


def _drawn_plan(plan: Plan, label: str) -> Plan:
    """``plan``, shown as ``label``: its class becomes :class:`DrawnPlan` (no field, validator nor value changes)."""
    object.__setattr__(plan, "__class__", DrawnPlan)
    if plan.__pydantic_private__ is not None:
        plan.__pydantic_private__["_drawn"] = label
    return plan


def _layout_text(layout: Layout) -> str:
    return (f"{layout.scrape_interval:g}s scrapes, arms {', '.join(layout.arms)} x segments "
            f"{', '.join(layout.segments)} x {len(layout.latency_buckets)} latency buckets")


def telemetry(layout: Layout = SMALL_LAYOUT, min_ticks: int = 10, max_ticks: int = 80,
              gaps: bool = False, resets: bool = False, max_requests: int = 2000,
              arms_differ: bool = False) -> st.SearchStrategy[Telemetry]:
    """Random but consistent telemetry on ``layout``, ``min_ticks`` to ``max_ticks`` scrapes.

    Per scrape and series: requests, errors (at most the requests), latency bucket
    counts that add up to the requests, health checks with some failures, cache
    hits and misses, revenue, and gauges. ``gaps`` blanks whole scrapes (NaN);
    ``resets`` restarts some counters from zero (after the first scrape: at least 2 scrapes). ``arms_differ`` draws
    each arm's error rate, and how far its latencies lean to the slow buckets, on its own (so that
    comparisons with the baseline and sequential tests have something to find). Arguments are checked when the
    strategy is built.
    """
    from hypothesis.errors import InvalidArgument

    if not isinstance(layout, Layout):
        raise InvalidArgument(f"layout must be a rampsim.telemetry.Layout, got {layout!r:.80}")
    fewest = 2 if resets else 1   # a reset restarts the counters after some scrape: one scrape has none after it
    for name, value, least in (("min_ticks", min_ticks, fewest), ("max_ticks", max_ticks, fewest),
                               ("max_requests", max_requests, 0)):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise InvalidArgument(f"telemetry(): {name} must be a whole number, at least {least}"
                                  f"{' with resets=True' if least == 2 else ''}, got {value!r}")
    if min_ticks > max_ticks:
        raise InvalidArgument(f"telemetry(): min_ticks={min_ticks} is above max_ticks={max_ticks}")
    for name, flag in (("gaps", gaps), ("resets", resets), ("arms_differ", arms_differ)):
        if not isinstance(flag, bool):
            raise InvalidArgument(f"telemetry(): {name} must be True or False, got {flag!r}")
    return _telemetry(layout, min_ticks, max_ticks, gaps, resets, max_requests, arms_differ)


@st.composite
def _telemetry(draw, layout: Layout, min_ticks: int, max_ticks: int, gaps: bool, resets: bool, max_requests: int,
               arms_differ: bool) -> Telemetry:
    n = draw(st.integers(min_ticks, max_ticks))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    arms, segments, buckets = len(layout.arms), len(layout.segments), len(layout.latency_buckets)
    level = draw(st.integers(0, max_requests))
    error_rate = np.array(draw(st.lists(st.floats(0.0, 0.05), min_size=arms, max_size=arms)) if arms_differ
                          else [draw(st.floats(0.0, 0.05))] * arms)
    slowness = draw(st.lists(st.floats(1.0, 4.0), min_size=arms, max_size=arms)) if arms_differ else [1.0] * arms
    requests = rng.poisson(level, size=(n, arms, segments)).astype(float)
    requests[0] = 0.0
    errors = rng.binomial(requests.astype(np.int64), error_rate[None, :, None]).astype(float)
    shares = np.stack([rng.dirichlet(np.linspace(1.0, lean, buckets), size=(n, segments)) for lean in slowness],
                      axis=1)
    per_bucket = np.stack([rng.multinomial(int(r), p) for r, p in
                           zip(requests.reshape(-1), shares.reshape(-1, buckets))]).reshape(n, arms, segments, buckets)
    checks = np.full((n, arms), 6.0)
    checks[0] = 0.0
    failed = rng.binomial(6, draw(st.floats(0.0, 0.05)), size=(n, arms)).astype(float)
    failed[0] = 0.0
    hits = rng.binomial(requests.sum(axis=2).astype(np.int64), 0.8).astype(float)
    families = dict(
        requests=requests.cumsum(0), errors=errors.cumsum(0),
        latency_bucket=per_bucket.cumsum(axis=3).cumsum(axis=0),
        latency_sum=(requests * 0.04).cumsum(0), revenue=(requests * 0.03).cumsum(0),
        health_checks=checks.cumsum(0), health_checks_ok=(checks - failed).cumsum(0),
        cache_hits=hits.cumsum(0), cache_misses=(requests.sum(axis=2) - hits).cumsum(0),
        cpu=rng.uniform(0.3, 0.95, (n, arms)), memory=rng.uniform(0.3, 0.95, (n, arms)),
        network=rng.uniform(0.3, 0.95, (n, arms)), memory_bytes=rng.uniform(1e9, 2e9, (n, arms)),
    )
    result = Telemetry.from_arrays(layout, **families)
    injected = []
    if resets:
        restarts = sorted(set(draw(st.lists(st.integers(1, n - 1), max_size=3))))
        for tick in restarts:
            result.counters[tick:] -= result.counters[tick - 1]  # the process restarted before this scrape
        injected.append(f"counters reset before scrapes {restarts}" if restarts else "no counter reset")
    if gaps:
        missing = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=max(1, n // 5)))
        for tick in missing:
            result.counters[tick] = np.nan
        blanks = [(tick, draw(st.integers(0, layout.n_gauges - 1))) for tick in draw(st.lists(st.integers(0, n - 1),
                                                                                                max_size=3))]
        for tick, column in blanks:
            result.gauges[tick, column] = np.nan
        injected.append(f"scrapes missing {sorted(set(missing))}"
                        + (f", gauge samples (scrape, column) missing {blanks}" if blanks else ""))
    rates = ", ".join(f"{arm} {rate:.3%}" for arm, rate in zip(layout.arms, error_rate)) if arms_differ \
        else f"{error_rate[0]:.3%}"
    drawn = DrawnTelemetry(result.layout, result.time, result.counters, result.gauges)
    drawn._drawn = (f"<telemetry: {n} scrapes, {_layout_text(layout)}; about {level} requests a scrape per arm "
                    f"and segment, error rate {rates}"
                    + (f", latency lean {', '.join(f'{s:.2f}' for s in slowness)}" if arms_differ else "")
                    + "".join(f"; {text}" for text in injected) + f"; rng seed {seed}>")
    return drawn


RULE_METRICS = {
    "error_rate": ("'>'", ["0.5%", "1%", "2%", "3%"]),
    "p99": ("'>'", ["50ms", "100ms", "200ms", "300ms"]),
    "availability": ("'<'", ["99%", "95%", "90%"]),
    "cache_hit_rate": ("'<'", ["70%", "80%", "85%"]),
}


def _on_grid(candidates: Sequence[str], interval: float, longest: float = math.inf) -> list[str]:
    """The ``candidates`` (durations) that are whole numbers of the scrape ``interval`` and at most ``longest``
    seconds: a plan's windows, sustains, peaks and batches must be (``0s`` always is)."""
    return [c for c in candidates if parse_duration(c) <= longest
            and math.isclose(parse_duration(c) / interval, round(parse_duration(c) / interval))]


def _slo_window(interval: float, duration_minutes: int) -> float:
    """The drawn plans' SLO window: 5 minutes, or the most whole scrape intervals within 5 minutes and the ramp."""
    return interval * max(1, int(min(300.0, duration_minutes * 60.0) / interval))


def _check_shape(layout: Layout, duration_minutes: int) -> None:
    """Refuse, when the strategy is built, a ramp no drawn plan could fit: not whole minutes, or minutes that are
    not a whole number of the layout's scrape intervals."""
    from hypothesis.errors import InvalidArgument

    if not isinstance(duration_minutes, int) or isinstance(duration_minutes, bool) or duration_minutes < 1:
        raise InvalidArgument(f"duration_minutes must be a whole number of minutes, at least 1, got "
                              f"{duration_minutes!r}")
    if not isinstance(layout, Layout):
        raise InvalidArgument(f"layout must be a rampsim.telemetry.Layout, got {layout!r}")
    if not _on_grid([f"{duration_minutes}m"], layout.scrape_interval):
        raise InvalidArgument(f"a ramp of {duration_minutes}m is not a whole number of the layout's "
                              f"{layout.scrape_interval:g}s scrape intervals")


def single_rule_plan(metric: str = "error_rate", threshold: str = "1%", window: str = "1m", sustain: str = "0s",
                     action: str = "rollback", layout: Layout = SMALL_LAYOUT, duration_minutes: int = 20) -> Plan:
    """A plan with one continuous rule (``gate``) on ``layout``; its checkpoints only ask for traffic."""
    op = RULE_METRICS[metric][0]
    interval = layout.scrape_interval
    early = interval * max(1, min(int(300.0 / interval), int(duration_minutes * 60 / interval) // 2))   # 5m, or
    # the most whole scrape intervals within it and before half the ramp
    slo_window = _slo_window(interval, duration_minutes)
    segments = ", ".join(layout.segments)
    buckets = ", ".join(f"{b * 1000:g}ms" for b in layout.latency_buckets[:-1])
    text = f"""
name: drawn
telemetry: {{segments: [{segments}], scrape_interval: {layout.scrape_interval:g}s, latency_buckets: [{buckets}]}}
phases: [{{weight: 10%, duration: {duration_minutes}m}}]
rules:
  gate: {{metric: {metric}, op: {op}, threshold: "{threshold}", window: {window}, sustain: {sustain}, action: {action},
         severity: critical}}
checkpoints:
  early: {{at: {early:g}s, criteria: {{traffic: {{metric: request_rate, op: ">", threshold: "0/s",
                                            window: {early:g}s}}}}}}
final_gate:
  at: {duration_minutes}m
  criteria: {{traffic: {{metric: request_rate, op: ">", threshold: "0/s", window: cumulative}}}}
slo: {{objectives: {{errors: {{metric: error_rate, op: ">", threshold: 5%, window: {slo_window:g}s}}}}}}
"""
    return plan_from_text(text, "single-rule-plan.yaml")


def single_rule_plans(metrics: Sequence[str] = tuple(RULE_METRICS), layout: Layout = SMALL_LAYOUT,
                      duration_minutes: int = 20, threshold: Optional[str] = None,
                      action: str = "rollback") -> st.SearchStrategy[Plan]:
    """Plans from :func:`single_rule_plan` with a drawn metric, threshold, window and sustain (windows and
    sustains whole numbers of the layout's scrape interval that fit the ramp). Arguments are checked when the
    strategy is built."""
    from hypothesis.errors import InvalidArgument

    if isinstance(metrics, str) or not metrics:
        raise InvalidArgument(f"metrics is a list of names, e.g. metrics=['error_rate'], got {metrics!r}")
    unknown = [m for m in metrics if m not in RULE_METRICS]
    if unknown:
        raise InvalidArgument(f"single_rule_plans() draws rules on {', '.join(RULE_METRICS)}; not on "
                              f"{', '.join(map(repr, unknown))}")
    _check_shape(layout, duration_minutes)
    room = duration_minutes * 60.0
    if room < 2 * layout.scrape_interval:
        raise InvalidArgument(f"a ramp of {duration_minutes}m is one {layout.scrape_interval:g}s scrape: its "
                              "checkpoint needs a scrape before the end")
    windows = _on_grid(["15s", "30s", "1m", "2m"], layout.scrape_interval, room) \
        or [f"{layout.scrape_interval:g}s"]
    sustains = _on_grid(["0s", "15s", "30s", "1m", "2m"], layout.scrape_interval, room)
    _check_rule(metrics, threshold, action, layout, duration_minutes, windows[0])
    return _single_rule_plans(tuple(metrics), layout, duration_minutes, threshold, action, tuple(windows),
                              tuple(sustains))


def _check_rule(metrics: Sequence[str], threshold: Optional[str], action: str, layout: Layout,
                duration_minutes: int, window: str) -> None:
    """Refuse, when the strategy is built, a ``threshold`` or ``action`` a drawn plan would refuse at every draw: one
    plan of each metric is built with them (the drawn window and sustain never make a plan invalid)."""
    from hypothesis.errors import InvalidArgument

    from rampsim.plan.loader import PlanError

    if not isinstance(action, str):
        raise InvalidArgument(f"single_rule_plans(): action is 'warn', 'escalate', 'hold' or 'rollback', "
                              f"got {action!r}")
    if threshold is not None and not isinstance(threshold, str):
        raise InvalidArgument(f"single_rule_plans(): threshold is written as in a plan ('1%', '200ms'), got "
                              f"{threshold!r}")
    for metric in metrics:
        try:
            single_rule_plan(metric, threshold or RULE_METRICS[metric][1][0], window, "0s", action, layout,
                             duration_minutes)
        except PlanError as exc:
            problems = "; ".join(problem.partition("rules.gate.")[2] or problem for problem in exc.problems)
            raise InvalidArgument(f"single_rule_plans(): a rule on {metric} with threshold={threshold!r}, "
                                  f"action={action!r} is no valid rule: {problems}") from None


@st.composite
def _single_rule_plans(draw, metrics: tuple[str, ...], layout: Layout, duration_minutes: int,
                       threshold: Optional[str], action: str, windows: tuple[str, ...],
                       sustains: tuple[str, ...]) -> Plan:
    metric = draw(st.sampled_from(metrics))
    drawn_threshold = threshold or draw(st.sampled_from(RULE_METRICS[metric][1]))
    window = draw(st.sampled_from(windows))
    sustain = draw(st.sampled_from([s for s in sustains
                                    if parse_duration(s) + parse_duration(window) <= duration_minutes * 60]))
    plan = single_rule_plan(metric=metric, threshold=drawn_threshold, window=window, sustain=sustain, action=action,
                            layout=layout, duration_minutes=duration_minutes)
    shape = (f", layout={layout!r}" if layout != SMALL_LAYOUT else "") \
        + (f", duration_minutes={duration_minutes}" if duration_minutes != 20 else "")
    return _drawn_plan(plan, f"single_rule_plan(metric={metric!r}, threshold={drawn_threshold!r}, window={window!r}, "
                             f"sustain={sustain!r}, action={action!r}{shape})")


# The metrics random gates measure, with the comparison that breaches (a rule's), the one that passes (a
# criterion's) and thresholds worth drawing for the telemetry above; their parameters come from their definitions.
_MEASURES = {
    "error_rate": (">", "<", lambda d: f"{d(st.sampled_from([0.5, 1, 2, 3, 5]))}%"),
    "p99": (">", "<", lambda d: f"{d(st.sampled_from([30, 50, 100, 200, 350]))}ms"),
    "p50": (">", "<", lambda d: f"{d(st.sampled_from([20, 40, 80, 150]))}ms"),
    "availability": ("<", ">", lambda d: f"{d(st.sampled_from([90, 95, 99, 99.9]))}%"),
    "cache_hit_rate": ("<", ">", lambda d: f"{d(st.sampled_from([70, 78, 80, 85]))}%"),
    "cpu": (">", "<", lambda d: f"{d(st.sampled_from([50, 80, 90]))}%"),
    "segment_spread": (">", "<", lambda d: f"{d(st.sampled_from([0.1, 0.5, 1, 2]))}%"),
    "revenue_delta": ("<", ">", lambda d: f"{d(st.sampled_from([-5, -1, 0, 1]))}%"),
    "memory_growth": (">", "<", lambda d: f"{d(st.sampled_from([10, 100, 1000]))}MB/h"),
}
_WINDOWS = ["15s", "30s", "1m", "2m", "5m"]
# Metrics a comparison with the baseline may measure, with the thresholds worth drawing for a difference (in the
# metric's unit), a ratio and a relative change; the comparison breaches upwards but for the "higher is better" ones.
_DIFFERENCES = {
    "error_rate": ["-0.5%", "0%", "0.5%", "1%"], "p99": ["-20ms", "0ms", "20ms", "50ms"],
    "p50": ["-10ms", "0ms", "10ms", "30ms"], "availability": ["-1%", "0%", "1%"],
    "cache_hit_rate": ["-5%", "0%", "5%"], "cpu": ["-10%", "0%", "10%"], "segment_spread": ["0%", "0.5%", "1%"],
    "memory_growth": ["-100MB/h", "0MB/h", "100MB/h"],
}
_CONTRASTS: dict[str, list] = {"ratio": [0.5, 1, 1.2, 1.5, 2], "relative": ["-20%", "0%", "20%", "50%"]}
_CHOICES = {name: get_args(choice) for name, field in Measurement.model_fields.items()
            for choice in get_args(field.annotation) if get_origin(choice) is Literal}


def _parameters(draw, metric: str) -> dict:
    """A value of each parameter ``metric`` takes (unless its alias sets it), among those the plan schema allows."""
    name, fixed = resolve_alias(metric) or (metric, {})
    return {parameter: draw(st.sampled_from(_CHOICES[parameter])) for parameter in definition_of(name).parameters
            if parameter not in fixed and parameter in _CHOICES}


def _peak_fits(draw, measure: dict, room: float, since: Optional[tuple[float, float]], interval: float) -> None:
    """Give ``measure`` a peak shorter than its window (at a criterion's checkpoint, ``room`` seconds into the ramp,
    ``since`` the since-checkpoint window's length and start): a longer one is always inconclusive, a refused plan."""
    window = measure["window"]
    length = {"cumulative": room, "since_checkpoint": since[0] if since else room}.get(window) \
        or parse_duration(window)
    peaks = _on_grid(("15s", "30s", "1m"), interval, length)
    if peaks:
        measure["peak"] = draw(st.sampled_from(peaks))


def _comparison(draw, criterion: bool, windows: list[str], room: float, interval: float,
                since: Optional[tuple[float, float]] = None) -> dict:
    """A random comparison with the baseline: a difference, ratio or relative change, perhaps guarded by
    ``min_requests`` or taken at its peak; or a sequential test (a p-value, its threshold alpha), its batch
    no longer than the ``room`` seconds it has."""
    metric = draw(st.sampled_from(list(_DIFFERENCES)))
    breach_op, pass_op, _ = _MEASURES[metric]
    if metric in ("error_rate", "p99", "p50") and draw(st.integers(0, 3)) == 0:
        margin, threshold = draw(st.sampled_from(["0%", "10%", "50%"])), draw(st.sampled_from(["5%", "20%", "50%"]))
        test = {"metric": metric, "compare": "baseline", "test": "sequential", "margin": margin,
                "op": ">" if criterion else "<=", "threshold": threshold}
        count = metric == "error_rate"
        bound = math.log(RATE_RATIO_BOUND if count else LATENCY_RATIO_BOUND)
        needed = fewest_to_reject(float(threshold[:-1]) / 100, math.log1p(float(margin[:-1]) / 100), bound,
                                  BETS_TUNED_FOR)

        def reaches(batch: Optional[str]) -> bool:   # a test that could never reject is a refused plan
            if batch is None:
                return count or room // interval >= needed
            return room // parse_duration(batch) - (1 if count else 0) >= needed

        batches = [b for b in _on_grid(("15s", "30s", "1m"), interval, room) if reaches(b)]
        if batches and (draw(st.booleans()) or not reaches(None)):
            test["batch"] = draw(st.sampled_from(batches))
        if "batch" in test or reaches(None):
            return test
    how = "difference" if metric == "memory_growth" else draw(st.sampled_from(["difference", *_CONTRASTS]))
    thresholds = _DIFFERENCES[metric] if how == "difference" else _CONTRASTS[how]
    measure = {"metric": metric, "compare": "baseline", "as": how, "op": pass_op if criterion else breach_op,
               "threshold": draw(st.sampled_from(thresholds)), "window": draw(st.sampled_from(windows))}
    measure.update(_parameters(draw, metric))
    if measure.get("definition") == "chi2":  # a p-value: not compared
        measure["definition"] = "absolute"
    if metric not in ("cpu", "memory_growth") and draw(st.booleans()):
        measure["min_requests"] = draw(st.sampled_from([1, 200, 2000, 20000]))
    if metric in ("error_rate", "p99") and measure["window"] in ("2m", "5m", "cumulative", "since_checkpoint") \
            and draw(st.booleans()):
        _peak_fits(draw, measure, room, since, interval)
    return measure


def _measure(draw, criterion: bool, room: float, compared: bool = False, interval: float = 15.0,
             since: Optional[tuple[float, float]] = None) -> dict:
    """A random measure: a rule's breach condition, or a criterion's pass condition.

    Rolling windows (twice over, for a trend) fit in ``room`` seconds, as a valid plan's must; a criterion's
    since-checkpoint window (``since``: its length and start) holds a trend only when the window as long before
    it starts in the ramp, and a peak only when it is longer than the peak. One in four compares the canary with
    the baseline (:func:`_comparison`); every one if ``compared``.
    """
    fitting = _on_grid(_WINDOWS, interval, room)
    if compared or draw(st.integers(0, 3)) == 0:
        return _comparison(draw, criterion, fitting + ["cumulative", "since_checkpoint"], room, interval, since)
    metric = draw(st.sampled_from(list(_MEASURES)))
    breach_op, pass_op, threshold = _MEASURES[metric]
    windows = fitting + ["cumulative", "since_checkpoint"]
    measure = {"metric": metric, "op": pass_op if criterion else breach_op, "threshold": threshold(draw),
               "window": draw(st.sampled_from(windows))}
    measure.update(_parameters(draw, metric))
    if measure.get("definition") == "chi2":  # a p-value: small values breach
        measure.update(op=">" if criterion else "<", threshold=draw(st.sampled_from(["1%", "0.1%"])))
    if metric in ("error_rate", "p99") and draw(st.booleans()):
        window = measure["window"]
        trend_fits = (2 * parse_duration(window) <= room if window in fitting else
                      window == "since_checkpoint" and (since is None or since[0] <= since[1]))
        if trend_fits and draw(st.booleans()):
            measure["trend"] = True
            measure["threshold"] = draw(st.sampled_from([1.2, 1.5, 2.0]))
        elif window in ("2m", "5m", "cumulative", "since_checkpoint"):
            _peak_fits(draw, measure, room, since, interval)
    return measure


def gate_plans(layout: Layout = SMALL_LAYOUT, duration_minutes: int = 20,
               compared: bool = False) -> st.SearchStrategy[Plan]:
    """Random gates: one to four rules (warn, hold or rollback), checkpoints and a final gate.

    Measures mix rolling, cumulative and since-checkpoint windows, peaks, trends,
    gauge aggregates, every segment-spread definition, revenue and memory growth,
    comparisons with the baseline (differences, ratios, relative changes, guarded or
    not), sequential tests and the alerts count, so everything the engine decides on
    is exercised. ``compared`` makes every measure but the alerts count a comparison
    with the baseline or a sequential test. Windows, sustains, peaks and batches are
    whole numbers of the layout's scrape interval that fit the ramp; arguments are
    checked when the strategy is built.
    """
    _check_shape(layout, duration_minutes)
    return _gate_plans(layout, duration_minutes, bool(compared))


@st.composite
def _gate_plans(draw, layout: Layout, duration_minutes: int, compared: bool) -> Plan:
    rules = {}
    sustains = _on_grid(["0s", "15s", "45s", "1m", "2m"], layout.scrape_interval, duration_minutes * 60 / 2)
    for index in range(draw(st.integers(1, 4))):
        sustain = draw(st.sampled_from(sustains))
        rule = _measure(draw, criterion=False, room=duration_minutes * 60 - parse_duration(sustain), compared=compared,
                        interval=layout.scrape_interval, since=(math.inf, 0.0))   # no since-checkpoint trend:
        # without checkpoints (drawn below) it could never fire
        rule.update(sustain=sustain, action=draw(st.sampled_from(["warn", "hold", "rollback", "rollback"])),
                    severity=draw(st.sampled_from(["warning", "critical"])))
        rules[f"rule{index}"] = rule
    scrapes = int(duration_minutes * 60 / layout.scrape_interval)
    times = sorted(draw(st.lists(st.integers(1, scrapes - 1), min_size=0, max_size=3, unique=True))) \
        if scrapes > 1 else []
    checkpoints = {}
    previous = 0.0
    for index, scrape in enumerate(times):
        at = scrape * layout.scrape_interval
        criteria = {f"c{i}": _measure(draw, criterion=True, room=at, compared=compared,
                                      interval=layout.scrape_interval, since=(at - previous, previous))
                    for i in range(draw(st.integers(1, 3)))}
        previous = at
        if draw(st.booleans()):
            criteria["alerts"] = {"metric": "alerts", "alert_severity": draw(st.sampled_from(["warning", "critical"])),
                                  "op": "<=", "threshold": 0, "window": "cumulative"}
        checkpoints[f"cp{index}"] = {"at": f"{scrape * layout.scrape_interval:g}s", "criteria": criteria,
                                     "on_fail": draw(st.sampled_from(["hold", "rollback", "continue"])),
                                     "on_inconclusive": draw(st.sampled_from(["continue", "hold"]))}
    final_gate = {"at": f"{duration_minutes}m",
                  "criteria": {f"c{i}": _measure(draw, criterion=True, room=duration_minutes * 60, compared=compared,
                                                 interval=layout.scrape_interval,
                                                 since=(duration_minutes * 60 - previous, previous))
                               for i in range(draw(st.integers(1, 3)))},
                  "require_checkpoints": draw(st.booleans()),
                  "require_no_alerts": draw(st.sampled_from([None, "warning", "critical"])),
                  "max_missing_scrapes": draw(st.integers(0, 2))}
    data = {
        "name": "drawn-gate",
        "telemetry": {"segments": list(layout.segments), "scrape_interval": f"{layout.scrape_interval:g}s",
                      "latency_buckets": [f"{b * 1000:g}ms" for b in layout.latency_buckets[:-1]]},
        "phases": [{"weight": "10%", "duration": f"{duration_minutes}m"}],
        "rules": rules, "checkpoints": checkpoints, "final_gate": final_gate,
        "slo": {"objectives": {"errors": {"metric": "error_rate", "op": ">", "threshold": "5%",
                                          "window": f"{_slo_window(layout.scrape_interval, duration_minutes):g}s"}}},
    }
    summary = [f"<gate_plans() plan: a {duration_minutes}m ramp, {_layout_text(layout)}"]
    summary += [f"  rules.{name}: {_measure_text(rule)}" for name, rule in rules.items()]
    summary += [f"  checkpoints.{name} at {checkpoint['at']}: "
                + "; ".join(f"{key}: {_measure_text(c)}" for key, c in checkpoint["criteria"].items())
                + f" (on_fail={checkpoint['on_fail']}, on_inconclusive={checkpoint['on_inconclusive']})"
                for name, checkpoint in checkpoints.items()]
    summary.append(f"  final_gate at {final_gate['at']}: "
                   + "; ".join(f"{key}: {_measure_text(c)}" for key, c in final_gate["criteria"].items())
                   + " (" + ", ".join(f"{key}={final_gate[key]}" for key in
                                      ("require_checkpoints", "require_no_alerts", "max_missing_scrapes")) + ")>")
    return _drawn_plan(plan_from_data(data, "drawn-gate"), "\n".join(summary))


def _measure_text(measure: dict) -> str:
    """A drawn rule's or criterion's measure in a line: ``error_rate > 1% over 1m (sustain=15s, action=rollback)``."""
    rest = dict(measure)
    text = f"{rest.pop('metric', '?')} {rest.pop('op', '?')} {rest.pop('threshold', '?')}"
    if "window" in rest:
        text += f" over {rest.pop('window')}"
    return text + (f" ({', '.join(f'{key}={value}' for key, value in rest.items())})" if rest else "")


def _percent(fraction: float) -> str:
    return f"{fraction * 100!r}%"


def faults(kinds: Sequence[str] = ("error-rate",), targets: Sequence[str] = ("canary",),
           magnitudes: Optional[st.SearchStrategy] = None, start_minutes: st.SearchStrategy = st.integers(5, 180),
           duration_minutes: Optional[st.SearchStrategy] = None, **options: st.SearchStrategy) -> st.SearchStrategy:
    """Faults of the given kinds and targets (see ``rampsim faults`` for the catalogue).

    ``magnitudes`` draws the magnitude in base units (fractions for rates, seconds
    for latencies); by default a moderate value of the kind's own range.
    ``duration_minutes=None`` lasts to the end of the ramp. Arguments are checked
    when the strategy is built, as hypothesis's own strategies do.
    """
    import difflib

    from hypothesis.errors import InvalidArgument

    from rampsim.faults import CATALOGUE, Fault

    if isinstance(kinds, str) or isinstance(targets, str):
        raise InvalidArgument("kinds and targets are lists of names, e.g. kinds=['error-rate']")
    if not kinds or not targets:
        raise InvalidArgument("faults() needs at least one kind and one target")
    strays = [name for name in (*kinds, *targets) if not isinstance(name, str)]
    if strays:
        raise InvalidArgument(f"kinds and targets are lists of names, e.g. targets=['canary'], got {strays[0]!r}")
    for kind in kinds:
        if kind not in CATALOGUE:
            close = difflib.get_close_matches(kind, list(CATALOGUE), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InvalidArgument(f"unknown fault kind {kind!r}{hint} Known kinds: {', '.join(CATALOGUE)}")
    for target in targets:
        if target.split("/")[0] not in ("canary", "baseline", "shared"):
            raise InvalidArgument(f"unknown target {target!r}: canary, baseline or shared, optionally /SEGMENT")
    for name, strategy in (("magnitudes", magnitudes), ("start_minutes", start_minutes),
                           ("duration_minutes", duration_minutes), *options.items()):
        if strategy is not None and not isinstance(strategy, st.SearchStrategy):
            raise InvalidArgument(f"{name} must be a hypothesis strategy, got {strategy!r}")
    unknown = sorted(set(options) - set(Fault.model_fields) | set(options) & set(_FAULT_ARGUMENTS))
    if unknown:
        raise InvalidArgument(f"unknown fault option(s) {', '.join(map(repr, unknown))}: "
                              f"options are {', '.join(f for f in Fault.model_fields if f not in _FAULT_ARGUMENTS)}"
                              " (kind, target, magnitude, start and duration have their own arguments)")
    for kind in kinds:
        spec = CATALOGUE[kind]
        if not [t for t in targets if _target_fits(spec, t)]:
            raise InvalidArgument(f"{kind} cannot target {', '.join(targets)}: "
                                  + ("its target is 'shared'" if spec.shared_only else
                                     "it acts on whole instances, not one segment"))
        if spec.needs_duration and duration_minutes is None:
            raise InvalidArgument(f"{kind} needs a duration (the time it takes to recover): give duration_minutes")
    if magnitudes is not None and all(CATALOGUE[kind].magnitude is None for kind in kinds):
        raise InvalidArgument(f"magnitudes given, but {', '.join(kinds)} take(s) no magnitude")
    if duration_minutes is not None and not any(CATALOGUE[kind].timed for kind in kinds):
        raise InvalidArgument(f"duration_minutes given, but {', '.join(kinds)} happen(s) once at the start")
    return _faults(tuple(kinds), tuple(targets), magnitudes, start_minutes, duration_minutes, options)


_FAULT_ARGUMENTS = ("kind", "target", "magnitude", "start", "duration")


def _target_fits(spec: "FaultKind", target: str) -> bool:
    """Whether a fault of kind ``spec`` may have ``target`` (the rules :class:`~rampsim.faults.Fault` checks)."""
    arm, _, segment = target.partition("/")
    return not (spec.shared_only and arm != "shared") and not (segment and not spec.segment_target)


@st.composite
def _faults(draw, kinds: tuple[str, ...], targets: tuple[str, ...], magnitudes: Optional[st.SearchStrategy],
            start_minutes: st.SearchStrategy, duration_minutes: Optional[st.SearchStrategy],
            options: dict[str, st.SearchStrategy]):
    from rampsim.faults import CATALOGUE, Fault
    from rampsim.units import Kind

    from hypothesis.errors import InvalidArgument
    from pydantic import ValidationError

    kind = CATALOGUE[draw(st.sampled_from(list(kinds)))]
    fields: dict = {"kind": kind.name, "target": draw(st.sampled_from([t for t in targets if _target_fits(kind, t)])),
                    "start": f"{draw(start_minutes)}m"}
    if kind.magnitude is not None:
        default = {Kind.RATIO: st.floats(0.005, 0.05), Kind.DURATION: st.floats(0.05, 0.5)}.get(
            kind.magnitude, st.floats(1e8, 1e9))
        value = draw(magnitudes if magnitudes is not None else default)
        fields["magnitude"] = (_percent(value) if kind.magnitude is Kind.RATIO
                               else f"{value * 1000!r}ms" if kind.magnitude is Kind.DURATION else f"{value / 1e6!r}MB/h")
    if duration_minutes is not None and kind.timed:
        fields["duration"] = f"{draw(duration_minutes)}m"
    fields.update({name: draw(strategy) for name, strategy in options.items()})
    try:
        return Fault.model_validate(fields)
    except ValidationError as exc:   # a drawn value out of range: the strategy passed in draws it
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or kind.name}: {e['msg']}" for e in exc.errors())
        raise InvalidArgument(f"faults() drew {fields}, not a valid fault: {problems}") from None


def gates(plan: Plan, **axes: st.SearchStrategy) -> st.SearchStrategy[Plan]:
    """Variants of ``plan`` with some fields drawn: ``gates(plan, **{"rules.x.threshold": st.sampled_from(...)})``.

    Values are written as in a plan file (``"0.5%"``, ``"3m"``); the variant is
    validated again like any plan. The plan, the strategies and the paths are checked
    when the strategy is built.
    """
    from hypothesis.errors import InvalidArgument

    from rampsim.plan.loader import matched_paths

    if not isinstance(plan, Plan) or plan.source is None:
        raise InvalidArgument(f"gates() varies a plan read from a file or data (load_plan, plan_from_text or "
                              f"plan_from_data), got {type(plan).__name__}")
    for path, strategy in axes.items():
        if not isinstance(strategy, st.SearchStrategy):
            raise InvalidArgument(f"{path}: a hypothesis strategy of values, e.g. st.sampled_from(['1%', '2%']), "
                                  f"got {strategy!r}")
        try:
            matched_paths(plan.source.data, path)
        except KeyError as exc:
            raise InvalidArgument(str(exc.args[0])) from None
    return _gates(plan, axes)


@st.composite
def _gates(draw, plan: Plan, axes: dict[str, st.SearchStrategy]) -> Plan:
    from rampsim.plan.loader import with_overrides

    values = {path: draw(strategy) for path, strategy in axes.items()}
    varied = with_overrides(plan, values)
    return _drawn_plan(varied, f"gates(<{plan.name}>" + "".join(f", {path}={value!r}" for path, value in values.items())
                       + ")")


def percents(low: float, high: float, *, relative: bool = False) -> st.SearchStrategy[str]:
    """Ratios between ``low`` and ``high`` written as percentages, for :func:`gates`: shares of a whole, fractions
    from 0 to 1 (``0.01`` is 1%), as a rate's or an availability's threshold is. ``relative=True`` draws relative
    changes instead (a ``relative`` comparison's or ``revenue_delta``'s threshold), above -1 (-100%) and possibly
    above 1 (+100%)."""
    from hypothesis.errors import InvalidArgument

    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in (low, high)) \
            or low > high:
        raise InvalidArgument(f"percents(low, high) takes finite fractions with low <= high, got {low!r}, {high!r}")
    if not isinstance(relative, bool):
        raise InvalidArgument(f"percents(): relative must be True or False, got {relative!r}")
    if relative and low <= -1:
        raise InvalidArgument(f"percents(low={low!r}, relative=True): a relative change is above -1 (-100%)")
    if not relative and not 0 <= low <= high <= 1:
        raise InvalidArgument(f"percents({low!r}, {high!r}) would draw {_percent(low)} to {_percent(high)}: a share "
                              "is a fraction from 0 to 1 (0.01 is 1%); for relative changes, give relative=True")
    return st.floats(low, high).map(_percent)


def durations(low_seconds: int, high_seconds: int, step: int = 15) -> st.SearchStrategy[str]:
    """Durations from ``low_seconds`` to ``high_seconds`` on a ``step``-second grid, written as ``'90s'``, for
    :func:`gates`."""
    from hypothesis.errors import InvalidArgument

    for name, value in (("low_seconds", low_seconds), ("high_seconds", high_seconds), ("step", step)):
        if not isinstance(value, int) or isinstance(value, bool) or value < (1 if name == "step" else 0):
            raise InvalidArgument(f"durations(): {name} must be a whole number of seconds"
                                  f"{' above 0' if name == 'step' else ', at least 0'}, got {value!r}")
    first, last = -(-low_seconds // step), high_seconds // step
    if first > last:
        raise InvalidArgument(f"durations({low_seconds}, {high_seconds}, step={step}): no multiple of {step}s "
                              "lies between them")
    return st.integers(first, last).map(lambda k: f"{k * step}s")
