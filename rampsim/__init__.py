"""rampsim: a flight simulator for progressive-delivery gates.

The few names most scripts need, importable from the top::

    import rampsim

    plan = rampsim.load_plan("scenarios/ramp-phase-50k.yaml")
    run = rampsim.simulate(plan, faults=[rampsim.parse_fault("error-rate:canary:+1.5%@1h40m")], seed=11)
    result = rampsim.sweep(plan, rampsim.load_mix("scenarios/mix-reference.yaml", plan),
                           grid=["rules.segment_spread_rollback.threshold=0.05%..0.4%:8"], replicates=200)
    result.summary(rampsim.Costs(false_rollback=1, missed_incident=20))

Everything else lives in its subpackage (:mod:`rampsim.sim`, :mod:`rampsim.engine`,
:mod:`rampsim.report`, ...). The names are loaded on first use (PEP 562), so
``import rampsim`` and ``rampsim --help`` import neither simpy, pandas nor matplotlib.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Callable, Mapping, MutableMapping

__version__ = "0.1.0"

# name -> the module that defines it; the TYPE_CHECKING block below mirrors this table for
# type checkers (tests/test_public_api.py keeps the two equal).
_EXPORTS: dict[str, str] = {
    "load_plan": "rampsim.plan.loader",
    "Plan": "rampsim.plan.schema",
    "parse_fault": "rampsim.faults.syntax",
    "DecisionEngine": "rampsim.engine.engine",
    "simulate": "rampsim.sim.simulation",
    "Mix": "rampsim.experiment.mix",
    "load_mix": "rampsim.experiment.mix",
    "sweep": "rampsim.experiment.sweep",
    "SweepResult": "rampsim.experiment.results",
    "Costs": "rampsim.experiment.results",
    "check": "rampsim.experiment.check",
    "RampsimError": "rampsim.errors",
    "UsageError": "rampsim.errors",
    "InvalidPlanError": "rampsim.errors",
    "DataUnavailable": "rampsim.errors",
    "Interrupted": "rampsim.errors",
}

__all__ = ["__version__", *_EXPORTS]

if TYPE_CHECKING:
    from rampsim.errors import DataUnavailable, Interrupted, InvalidPlanError, RampsimError, UsageError
    from rampsim.engine.engine import DecisionEngine
    from rampsim.experiment.check import check
    from rampsim.experiment.mix import Mix, load_mix
    from rampsim.experiment.results import Costs, SweepResult
    from rampsim.experiment.sweep import sweep
    from rampsim.faults.syntax import parse_fault
    from rampsim.plan.loader import load_plan
    from rampsim.plan.schema import Plan
    from rampsim.sim.simulation import simulate


def _lazy_exports(package: str, exports: Mapping[str, str], namespace: MutableMapping[str, Any]
                  ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A PEP 562 ``__getattr__`` and ``__dir__`` for ``package``, whose ``exports`` map a name to its module.

    A name is imported on first access and then kept in ``namespace`` (the package's
    globals), so later accesses are plain attribute lookups. An unknown name raises
    :class:`AttributeError` naming the closest public name and, when it is a submodule
    not imported yet, how to import it.
    """
    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(_unknown(package, name, exports, namespace), name=name)
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:  # the public names, the submodules imported so far, and the dunders
        submodules = {n for n, v in namespace.items()
                      if isinstance(v, ModuleType) and v.__name__ == f"{package}.{n}"}
        dunders = {n for n in namespace if n.startswith("__") and n.endswith("__")}
        return sorted({*namespace.get("__all__", exports), *submodules, *dunders})

    return __getattr__, __dir__


def _unknown(package: str, name: str, exports: Mapping[str, str], namespace: Mapping[str, Any]) -> str:
    import difflib

    message = f"module {package!r} has no attribute {name!r}"
    directory = Path(str(namespace.get("__file__", ""))).parent
    if (directory / f"{name}.py").is_file() or (directory / name / "__init__.py").is_file():
        return f"{message}: {package}.{name} is a submodule, import it first (import {package}.{name})"
    public = list(namespace.get("__all__", exports))
    close = difflib.get_close_matches(name, public, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{message}{hint} (public names: {', '.join(public)}; the rest lives in {package}'s submodules)"


if not TYPE_CHECKING:  # type checkers see the imports above, and no catch-all __getattr__
    __getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS, globals())
