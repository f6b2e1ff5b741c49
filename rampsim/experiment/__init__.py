"""Experiments: a scenario mix × replicates × a grid of gates → operating characteristics.

- :mod:`~rampsim.experiment.mix`: the scenario mix (:class:`Mix`, :func:`load_mix`);
- :mod:`~rampsim.experiment.axes`: grid axes such as ``rules.error_rate_rollback.threshold=0.3%..1%:8``;
- :mod:`~rampsim.experiment.chunks`: replicates in chunks on any executor, saved as they finish;
- :mod:`~rampsim.experiment.tally`: a sweep's outcomes counted per gate and scenario (:class:`Tally`);
- :mod:`~rampsim.experiment.results`: :class:`SweepResult` and its summary under :class:`Costs`;
- :mod:`~rampsim.experiment.gate_comparison`: several gates judged on the same ramps (:func:`compare_gates`);
- :mod:`~rampsim.experiment.sweep` and :mod:`~rampsim.experiment.check`: the two entry points,
  ``rampsim.sweep`` and ``rampsim.check``. They are not re-exported here: ``rampsim.experiment.sweep``
  and ``rampsim.experiment.check`` name their modules.

The names below are loaded on first use (PEP 562): importing this package imports no simulation.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from rampsim import _lazy_exports

_EXPORTS: dict[str, str] = {
    "Mix": "rampsim.experiment.mix",
    "MixScenario": "rampsim.experiment.mix",
    "load_mix": "rampsim.experiment.mix",
    "single_scenario_mix": "rampsim.experiment.mix",
    "Axis": "rampsim.experiment.axes",
    "GridError": "rampsim.experiment.axes",
    "parse_axis": "rampsim.experiment.axes",
    "SweepSpec": "rampsim.experiment.chunks",
    "SweepInterrupted": "rampsim.experiment.chunks",
    "DamagedChunk": "rampsim.experiment.chunks",
    "run_chunks": "rampsim.experiment.chunks",
    "local_executor": "rampsim.experiment.chunks",
    "Tally": "rampsim.experiment.tally",
    "SweepResult": "rampsim.experiment.results",
    "Costs": "rampsim.experiment.results",
    "CheckReport": "rampsim.experiment.check",
    "BoundVerdict": "rampsim.experiment.check",
    "compare_gates": "rampsim.experiment.gate_comparison",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:
    from rampsim.experiment.check import BoundVerdict, CheckReport
    from rampsim.experiment.axes import Axis, GridError, parse_axis
    from rampsim.experiment.mix import Mix, MixScenario, load_mix, single_scenario_mix
    from rampsim.experiment.results import Costs, SweepResult
    from rampsim.experiment.tally import Tally
    from rampsim.experiment.chunks import DamagedChunk, SweepInterrupted, SweepSpec, local_executor, run_chunks
    from rampsim.experiment.gate_comparison import compare_gates
else:
    __getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS, globals())
