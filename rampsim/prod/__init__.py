"""Production: the same decision engine against a real Prometheus, or a recording.

- :mod:`~rampsim.prod.naming`: what a service calls its series and labels (the plan's ``prometheus:`` section).
- :mod:`~rampsim.prod.grid`: wall-clock time <-> the engine's scrape ticks.
- :mod:`~rampsim.prod.columns`: Prometheus series -> telemetry columns, with data-quality notices.
- :mod:`~rampsim.prod.openmetrics` and :mod:`~rampsim.prod.tickcsv`: the recording formats.
- :mod:`~rampsim.prod.source`: raw samples from Prometheus's HTTP API, with timeouts and bounded retries.
- :mod:`~rampsim.prod.replay`: the same from a recorded file.
- :mod:`~rampsim.prod.runner`: a gate run: source -> telemetry -> engine -> events and an outcome.
- :mod:`~rampsim.prod.exporter`: a live ``/metrics`` endpoint for accelerated rehearsals.
- :mod:`~rampsim.prod.webhook`: the gate behind Flagger's webhooks (``rampsim serve``).

Nothing here imports the simulator: production code runs without it.
"""
