"""The scraper: what the monitoring system records of the service, every scrape interval.

It copies the service's true counters and gauges into the observed telemetry,
through the telemetry faults: a *scrape gap* leaves the target arm's samples
missing (``NaN``), a *scrape delay* records the state of some ticks earlier, a
*counter reset* makes the target arm's counters restart from zero (the engine
must correct for it, as PromQL's ``increase`` does). A delay never shows a state
older than one already shown: when it begins, the samples hold the last state
until the delayed one passes it (a lagging pipeline stalls, it does not count
backwards; a backward step would read as a counter reset, phantom requests).

:meth:`Scraper.scrape` records one tick as the closed loop reaches it;
:meth:`Scraper.record` records every tick at once (the open loop), with the same floats.
"""
from __future__ import annotations

import numpy as np

from rampsim.sim.scenario import Scenario
from rampsim.telemetry import COUNTER_FAMILIES, GAUGE_FAMILIES, Telemetry

__all__ = ["Scraper"]


class Scraper:
    """Writes one observed telemetry row per scrape (see the module docstring)."""

    def __init__(self, scenario: Scenario) -> None:
        layout = scenario.layout
        self.effects = scenario.effects
        self.telemetry = Telemetry.empty(layout, scenario.grid.n_ticks)
        self._counter_columns = []
        self._gauge_columns = []
        for a in range(len(layout.arms)):
            counters = np.zeros(layout.n_counters, bool)
            gauges = np.zeros(layout.n_gauges, bool)
            for family in COUNTER_FAMILIES:
                counters[layout.channels(family, arm=a).ravel()] = True
            for family in GAUGE_FAMILIES:
                gauges[layout.channels(family, arm=a).ravel()] = True
            self._counter_columns.append(counters)
            self._gauge_columns.append(gauges)
        self._offset = np.zeros(layout.n_counters)
        self._shown = np.zeros(len(layout.arms), np.intp)   # the latest true tick each arm's samples have shown
        self._faithful = not (self.effects.gap.any() or self.effects.delay.any() or self.effects.reset.any())

    def record(self, counters: np.ndarray, gauges: np.ndarray) -> Telemetry:
        """Record every tick from the true ``counters`` and ``gauges``: :meth:`scrape` of each tick in turn."""
        if self._faithful:
            self.telemetry.counters[:] = counters
            self.telemetry.gauges[:] = gauges
            return self.telemetry
        effects = self.effects
        ticks = np.arange(len(counters))
        observed_counters, observed_gauges = counters.copy(), gauges.copy()
        for a, (c_cols, g_cols) in enumerate(zip(self._counter_columns, self._gauge_columns)):
            lag = effects.delay[:, a].astype(np.intp)
            source = np.maximum.accumulate(np.maximum(ticks - lag, 0))   # never a state older than one shown
            rows = counters[source][:, c_cols]
            observed_gauges[:, g_cols] = gauges[source][:, g_cols]
            last_reset = np.maximum.accumulate(np.where(effects.reset[:, a], ticks, -1))
            previous = np.concatenate([[0], source[:-1]])   # the state shown at the scrape before (what scrape() uses)
            offset = np.where((last_reset >= 0)[:, None], counters[previous[np.maximum(last_reset, 0)]][:, c_cols], 0.0)
            rows -= offset
            gap = effects.gap[:, a]
            rows[gap] = np.nan
            observed_gauges[np.ix_(gap, g_cols)] = np.nan
            observed_counters[:, c_cols] = rows
        self.telemetry.counters[:] = observed_counters
        self.telemetry.gauges[:] = observed_gauges
        return self.telemetry

    def scrape(self, k: int, counters: np.ndarray, gauges: np.ndarray) -> Telemetry:
        """Record tick ``k`` from the true ``counters`` and ``gauges`` rows (all ticks up to ``k``)."""
        if self._faithful:
            self.telemetry.counters[k] = counters[k]
            self.telemetry.gauges[k] = gauges[k]
            return self.telemetry
        effects = self.effects
        counter_row = counters[k].copy()
        gauge_row = gauges[k].copy()
        for a, (c_cols, g_cols) in enumerate(zip(self._counter_columns, self._gauge_columns)):
            previous = int(self._shown[a]) if k > 0 else 0
            source = max(k - int(effects.delay[k, a]), previous, 0)
            self._shown[a] = source
            if source != k:
                counter_row[c_cols] = counters[source, c_cols]
                gauge_row[g_cols] = gauges[source, g_cols]
            if effects.reset[k, a]:
                self._offset[c_cols] = counters[previous, c_cols]
            counter_row[c_cols] -= self._offset[c_cols]
            if effects.gap[k, a]:
                counter_row[c_cols] = np.nan
                gauge_row[g_cols] = np.nan
        self.telemetry.counters[k] = counter_row
        self.telemetry.gauges[k] = gauge_row
        return self.telemetry

