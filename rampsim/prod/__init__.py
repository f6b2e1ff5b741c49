"""Production: the same decision engine against a real Prometheus, or a recording.

- :mod:`~rampsim.prod.naming`: what a service calls its series and labels (the plan's ``prometheus:`` section).
- :mod:`~rampsim.prod.clock` and :mod:`~rampsim.prod.instants`: wall-clock time <-> the engine's scrape ticks; the times a user writes.
- :mod:`~rampsim.prod.samples`, :mod:`~rampsim.prod.series_map` and :mod:`~rampsim.prod.assembler`: raw samples, which column each series fills, and filling telemetry rows with data-quality notices.
- :mod:`~rampsim.prod.openmetrics` and :mod:`~rampsim.prod.tickcsv`: the recording formats.
- :mod:`~rampsim.prod.source`: raw samples from Prometheus's HTTP API, with timeouts and bounded retries.
- :mod:`~rampsim.prod.replay`: the same from a recorded file.
- :mod:`~rampsim.prod.gate_run`: a gate run: source -> telemetry -> engine -> events and an outcome.
- :mod:`~rampsim.prod.history`: a stretch of a service's history as telemetry (for calibration).
- :mod:`~rampsim.prod.exporter`: a live ``/metrics`` endpoint for accelerated rehearsals.
- :mod:`~rampsim.prod.webhook`: the gate behind Flagger's webhooks (``rampsim serve``).

Nothing here imports the simulator: production code runs without it. The names below
are loaded on first use (PEP 562).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from rampsim import _lazy_exports

_EXPORTS: dict[str, str] = {
    "Naming": "rampsim.prod.naming",
    "Labels": "rampsim.prod.naming",
    "load_naming": "rampsim.prod.naming",
    "naming_for_plan": "rampsim.prod.naming",
    "ScrapeGrid": "rampsim.prod.clock",
    "PrometheusSource": "rampsim.prod.source",
    "RetryPolicy": "rampsim.prod.source",
    "SourceUnavailable": "rampsim.prod.source",
    "bearer_headers": "rampsim.prod.source",
    "FileSource": "rampsim.prod.replay",
    "load_recording": "rampsim.prod.replay",
    "write_openmetrics": "rampsim.prod.openmetrics",
    "read_openmetrics": "rampsim.prod.openmetrics",
    "OpenMetricsError": "rampsim.prod.openmetrics",
    "write_tick_csv": "rampsim.prod.tickcsv",
    "read_tick_csv": "rampsim.prod.tickcsv",
    "GateRun": "rampsim.prod.gate_run",
    "Source": "rampsim.prod.gate_run",
    "Step": "rampsim.prod.gate_run",
    "GateOutcome": "rampsim.prod.gate_run",
    "History": "rampsim.prod.history",
    "read_history": "rampsim.prod.history",
    "MetricsExporter": "rampsim.prod.exporter",
    "rehearse": "rampsim.prod.exporter",
    "WebhookGate": "rampsim.prod.webhook",
    "serve_webhook": "rampsim.prod.webhook",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:
    from rampsim.prod.exporter import MetricsExporter, rehearse
    from rampsim.prod.clock import ScrapeGrid
    from rampsim.prod.history import History, read_history
    from rampsim.prod.naming import Labels, Naming, load_naming, naming_for_plan
    from rampsim.prod.openmetrics import OpenMetricsError, read_openmetrics, write_openmetrics
    from rampsim.prod.replay import FileSource, load_recording
    from rampsim.prod.gate_run import GateRun, GateOutcome, Source, Step
    from rampsim.prod.source import PrometheusSource, RetryPolicy, SourceUnavailable, bearer_headers
    from rampsim.prod.tickcsv import read_tick_csv, write_tick_csv
    from rampsim.prod.webhook import WebhookGate, serve_webhook
else:
    __getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS, globals())
