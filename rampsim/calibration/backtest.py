"""A/A backtests: a plan's gate judged on a service's own healthy history.

The history of the stable service is cut into consecutive ramp-length windows.
In each window the stable arm's traffic is split the way a ramp would split it:
every counter increment of the stable series (requests and errors apart, each
latency bucket, health checks passed and failed, cache hits and misses) goes to
the canary with the plan's scheduled canary weight of that tick, by a binomial
draw, and the rest stays on the baseline; revenue and latency sums follow their
requests; both arms read the stable gauges. The canary is then a random sample of
the real traffic at the canary's real volume, so its metrics carry the history's
own variability and the sampling noise of a canary of that size, and a healthy
window stopped by the gate is an empirical false rollback. A history without an
errors counter (or without passed health checks) splits the requests (the checks)
alone and leaves the errors missing.

Missing scrapes stay missing (``NaN``) in both arms, as the gate would see them; the
increase across a gap is split at the first scrape after it, so a gap leaves the
rest of the window whole. A counter reset in the history counts from zero again, as
the gate reads it (its increments are never negative). A window in which a series the
gate reads has no sample at all (the history lacks it: a histogram without the plan's
bounds, say) is left out and counted, with the families it lacks: the gate would hold
on the missing measure, which says nothing of false rollbacks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Optional

import numpy as np

from rampsim.engine import Engine
from rampsim.engine.events import AlertFired, Decision
from rampsim.engine.metrics import carried_forward, corrected_counters, plan_channels
from rampsim.plan.schema import Plan
from rampsim.telemetry import COUNTER_FAMILIES, GAUGE_FAMILIES, Layout, Telemetry

__all__ = ["WindowVerdict", "Backtest", "split_window", "backtest"]

@dataclass(frozen=True)
class WindowVerdict:
    """How the gate judged one window of history."""

    start: float                      # seconds from the history's start
    decision: str                     # advance, hold, rollback, or none
    time: Optional[float]             # seconds into the window
    source: str
    alerts: tuple[tuple[str, float], ...]   # (rule, seconds into the window) of every alert fired
    missing: int = 0                  # scrapes of the window missing a series the gate reads (it saw a gap)

    @property
    def stopped(self) -> bool:
        return self.decision in ("hold", "rollback")


@dataclass(frozen=True)
class Backtest:
    """Every window's verdict; a stop is a false rollback (the history is taken as healthy)."""

    windows: tuple[WindowVerdict, ...]
    seed: int
    empty: int = 0      # windows left out: not one scrape of the arm's requests in them
    unreadable: int = 0                 # windows left out: a series the gate reads has no sample in them
    lacking: tuple[str, ...] = ()       # the families the gate reads that those windows lack

    @property
    def false_rollbacks(self) -> int:
        return sum(w.stopped for w in self.windows)

    @property
    def complete(self) -> tuple[WindowVerdict, ...]:
        """The windows in which the gate missed no scrape of a series it reads."""
        return tuple(w for w in self.windows if not w.missing)

    def rule_counts(self) -> dict[str, int]:
        """Windows in which each rule fired at least once, and windows stopped by each decision source."""
        counts: dict[str, int] = {}
        for window in self.windows:
            for rule in {name for name, _ in window.alerts}:
                counts[f"alert:{rule}"] = counts.get(f"alert:{rule}", 0) + 1
            if window.stopped:
                counts[window.source] = counts.get(window.source, 0) + 1
        return dict(sorted(counts.items(), key=lambda item: -item[1]))


def _thin(rng: np.random.Generator, increments: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Binomial thinning of counts (``NaN`` kept), ``share`` broadcast along the first axis."""
    present = ~np.isnan(increments)
    counts = np.where(present, np.maximum(np.rint(increments), 0), 0).astype(np.int64)
    p = np.broadcast_to(share.reshape((-1,) + (1,) * (increments.ndim - 1)), increments.shape)
    return np.where(present, rng.binomial(counts, p), np.nan)


def _thin_with_part(rng: np.random.Generator, total: np.ndarray, part: np.ndarray, share: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The canary's ``(total, part)`` of counts of which ``part`` is a subset (requests and their errors): the part
    thinned, and the rest apart, so the canary's part never exceeds its total. Where ``part`` is missing (a history
    without an errors counter) the total is thinned on its own and the part stays missing."""
    absent = np.isnan(part)
    canary_part = _thin(rng, part, share)
    canary_total = np.where(absent, 0.0, canary_part) + _thin(rng, total - np.where(absent, 0.0, part), share)
    return canary_total, canary_part


def split_window(plan: Plan, history: Telemetry, first: int, rng: np.random.Generator, arm: str = "baseline"
                 ) -> Telemetry:
    """Ticks ``first .. first + ramp`` of ``history``'s ``arm`` split into a baseline and a canary."""
    interval = plan.telemetry.scrape_interval
    n = plan.n_scrapes
    layout = history.layout
    source = layout.arm(arm)
    canary, baseline = layout.arm("canary"), layout.arm("baseline")
    rows = slice(first, first + n)
    times = np.arange(n) * interval
    share = plan.weights_at(np.maximum(times - interval, 0.0))   # the weight during each tick's interval
    window = Telemetry.empty(layout, n)

    def increments(family: str) -> np.ndarray:
        values = getattr(history, family)[rows, source]
        flat = carried_forward(corrected_counters(values.reshape(len(values), -1)))
        flat = carried_forward(flat[::-1])[::-1]   # before the first sample, the first one
        filled = flat.reshape(values.shape)
        return np.diff(filled, axis=0, prepend=filled[:1])

    requests, errors = increments("requests"), increments("errors")
    canary_requests, canary_errors = _thin_with_part(rng, requests, errors, share)
    split = {"requests": (canary_requests, requests), "errors": (canary_errors, errors)}
    buckets = increments("latency_bucket")
    per_bucket = np.diff(buckets, axis=-1, prepend=np.zeros(buckets.shape[:-1] + (1,)))
    split["latency_bucket"] = (np.cumsum(_thin(rng, per_bucket, share), axis=-1), buckets)
    checks, ok = increments("health_checks"), increments("health_checks_ok")
    canary_checks, canary_ok = _thin_with_part(rng, checks, ok, share)
    split["health_checks_ok"] = (canary_ok, ok)
    split["health_checks"] = (canary_checks, checks)
    for family in ("cache_hits", "cache_misses"):
        total = increments(family)
        split[family] = (_thin(rng, total, share), total)
    with np.errstate(invalid="ignore", divide="ignore"):
        fraction = np.where(requests > 0, canary_requests / requests, 0.0)
        for family in ("latency_sum", "revenue"):
            total = increments(family)
            split[family] = (total * fraction, total)
    for family, (to_canary, total) in split.items():
        view = getattr(window, family)
        missing = np.isnan(getattr(history, family)[rows, source])
        view[:, canary] = np.where(missing, np.nan, np.cumsum(to_canary, axis=0))
        view[:, baseline] = np.where(missing, np.nan, np.cumsum(total - to_canary, axis=0))
    for family in ("cpu", "memory", "network", "memory_bytes"):
        values = getattr(history, family)[rows, source]
        view = getattr(window, family)
        view[:, canary] = values
        view[:, baseline] = values
    return window


def _family_of_column(layout: Layout, families: Iterable[str]) -> dict[int, str]:
    """The family of every column of ``families`` in ``layout``."""
    return {int(column): family for family in families for column in np.ravel(layout.channels(family))}


def _unread(window: Telemetry, counters: np.ndarray, gauges: np.ndarray) -> tuple[set[str], int]:
    """The families of the columns ``counters`` and ``gauges`` (those the gate reads) without one sample in
    ``window``, and how many of its scrapes miss one of them."""
    layout = window.layout
    read = [(window.counters[:, counters], counters, _family_of_column(layout, COUNTER_FAMILIES)),
            (window.gauges[:, gauges], gauges, _family_of_column(layout, GAUGE_FAMILIES))]
    absent = {names[int(c)] for values, columns, names in read for c in columns[np.isnan(values).all(axis=0)]}
    complete = np.ones(len(window), bool)
    for values, _, _ in read:
        complete &= ~np.isnan(values).any(axis=1)
    return absent, int(len(window) - complete.sum())


def _judge(engine: Engine, telemetry: Telemetry) -> tuple[Optional[Decision], list[AlertFired]]:
    alerts: list[AlertFired] = []
    for tick in range(len(telemetry)):
        for event in engine.observe(telemetry, tick):
            if isinstance(event, AlertFired):
                alerts.append(event)
            elif isinstance(event, Decision) and event.terminal:
                return event, alerts
    return None, alerts


def backtest(plan: Plan, history: Telemetry, seed: int = 0, arm: str = "baseline",
             engine_factory: Optional[Callable[[Plan], Engine]] = None) -> Backtest:
    """The gate of ``plan`` on every whole ramp-length window of ``history`` (see the module docstring), judged
    by ``engine_factory`` (by default the plan's own: the reference engine, or its imported gate's, as a
    rehearsal judges it). A window without one scrape of the arm's requests is left out (counted in
    :attr:`Backtest.empty`), and so is one in which a series the gate reads has no sample
    (:attr:`Backtest.unreadable`); one with some scrapes missing is judged as the gate would judge it, and marked.

    Window ``j`` splits its traffic with ``SeedSequence(seed, spawn_key=(j,))``, so a window's
    verdict does not depend on how many windows the history holds.
    """
    if engine_factory is None:
        from rampsim.sim.simulation import plan_engine
        engine_factory = plan_engine
    n = plan.n_scrapes
    verdicts, empty, unreadable, lacking = [], 0, 0, set()
    counters, gauges = plan_channels(plan)   # and the requests, which an imported gate's own queries read too
    counters = np.union1d(counters, np.ravel(history.layout.channels("requests"))).astype(np.intp)
    present = np.isfinite(history.requests[:, history.layout.arm(arm)]).all(axis=-1)
    for j, first in enumerate(range(0, len(history) - n + 1, n - 1)):
        if not present[first:first + n].any():
            empty += 1
            continue
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(j,)))
        window = split_window(plan, history, first, rng, arm)
        absent, missing = _unread(window, counters, gauges)
        if absent:
            unreadable += 1
            lacking |= absent
            continue
        decision, alerts = _judge(engine_factory(plan), window)
        verdicts.append(WindowVerdict(
            start=float(history.time[first] - history.time[0]),
            decision=decision.kind.value if decision else "none",
            time=decision.time if decision else None, source=decision.source if decision else "",
            alerts=tuple((a.rule, a.time) for a in alerts), missing=missing))
    return Backtest(tuple(verdicts), seed, empty, unreadable, tuple(sorted(lacking)))

