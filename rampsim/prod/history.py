"""History: a stretch of a service's past metrics on the plan's scrape grid.

:func:`read_history` fills a :class:`~rampsim.telemetry.Telemetry` with every scrape
from ``start`` to ``end`` of a source (Prometheus or a recording), through the same
assembler a gate run uses, so calibration and backtests read the samples exactly as
the gate would: counter resets corrected, missing scrapes ``NaN``, one tick per
scrape slot. A damaged sample (a counter not finite, negative or beyond the counter
limit, two different values in one slot, a gauge not finite or negative) says nothing of
the service: the history holds it as missing, and counts it in ``History.damaged``. A stretch too long to hold in memory (:data:`MAX_SAMPLES`; say a
recording with one stray timestamp years before the rest) is refused before
anything is allocated.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from rampsim.errors import DataUnavailable, UsageError
from rampsim.plan.schema import Plan
from rampsim.prod.assembler import Assembler
from rampsim.prod.samples import Notice
from rampsim.prod.series_map import SeriesMap
from rampsim.prod.clock import ScrapeGrid
from rampsim.prod.instants import format_instant
from rampsim.prod.naming import Naming
from rampsim.prod.gate_run import Source
from rampsim.telemetry import Telemetry, damaged_counters, damaged_gauges

__all__ = ["History", "read_history"]

BATCH_TICKS = 240
MAX_SAMPLES = 2**27  # scrapes × series of one history: 1 GiB of float64 (140 days of the reference plan)


class History:
    """Telemetry of ``grid``'s ticks read from a source, with the data notices met on the way and the
    number of damaged samples held as missing."""

    def __init__(self, telemetry: Telemetry, grid: ScrapeGrid, notices: list[Notice], damaged: int = 0) -> None:
        self.telemetry = telemetry
        self.grid = grid
        self.notices = notices
        self.damaged = damaged

    @property
    def duration(self) -> float:
        return (self.grid.n_ticks - 1) * self.grid.interval


def read_history(plan: Plan, source: Source, start: float, end: float, naming: Optional[Naming] = None) -> History:
    """Every scrape of ``source`` in ``[start, end]`` (unix seconds) on ``plan``'s layout and scrape grid."""
    interval = plan.telemetry.scrape_interval
    if end <= start:
        raise UsageError(f"the history ends ({format_instant(end)}) before it starts ({format_instant(start)})")
    grid = ScrapeGrid(start, interval, int((end - start) // interval) + 1)
    series = plan.layout.n_counters + plan.layout.n_gauges
    if grid.n_ticks * series > MAX_SAMPLES:
        raise DataUnavailable(f"the history spans {(end - start) / 86400:,.0f} days, {grid.n_ticks:,} scrapes of "
                              f"{series} series: more than {MAX_SAMPLES:,} samples (1 GiB); read a shorter stretch")
    telemetry = Telemetry.empty(plan.layout, grid.n_ticks)
    assembler = Assembler(SeriesMap(plan.layout, naming or Naming()), grid)
    notices: list[Notice] = []
    for first in range(0, grid.n_ticks, BATCH_TICKS):
        last = min(first + BATCH_TICKS, grid.n_ticks) - 1
        notices += assembler.fill(telemetry, first, last, source.read(*grid.slot_ms(first, last)))
    counters, gauges = damaged_counters(telemetry.counters), damaged_gauges(telemetry.gauges)
    telemetry.counters[counters] = np.nan
    telemetry.gauges[gauges] = np.nan
    return History(telemetry, grid, notices, int(counters.sum() + gauges.sum()))
