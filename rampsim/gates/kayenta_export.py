"""A plan's Kayenta gate back as the files Kayenta and Spinnaker read: the canary config and the stage.

The ``kayenta:`` section keeps both as written (:mod:`rampsim.gates.kayenta_model`), so exporting is
writing them as JSON: ``config`` as the canary config Kayenta stores (after a sweep's ``--write-best``,
with the recommended values), ``stage`` as a ``kayentaCanary`` stage whose ``canaryConfig`` is the
section's (paste it into the pipeline, or give it back to ``rampsim import kayenta --stage``).
What the stage then says that is rampsim's, not the team's (no ``canaryConfigId``, scopes named
after the simulated arms because import had no ``--stage``) is listed by :func:`stage_warnings`.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from rampsim.gates.kayenta_import import simulated_scopes

__all__ = ["config_json", "stage_json", "stage_warnings"]


def config_json(section: Mapping[str, Any]) -> str:
    """The section's canary config as Kayenta's JSON."""
    return json.dumps(section["config"], indent=2, ensure_ascii=False) + "\n"


def stage_json(section: Mapping[str, Any]) -> str:
    """A Spinnaker ``kayentaCanary`` stage running the section's analysis."""
    stage = {"type": "kayentaCanary", "name": "Canary Analysis", "analysisType": "realTime",
             "canaryConfig": section["stage"]}
    return json.dumps(stage, indent=2, ensure_ascii=False) + "\n"


def stage_warnings(section: Mapping[str, Any]) -> list[str]:
    """What the stage :func:`stage_json` writes is rampsim's own and would not run the team's canary: no
    ``canaryConfigId`` (Spinnaker finds the config by it), a scope whose canary and baseline are the simulated
    arms' names (import had no ``--stage``, ``--canary-scope`` or ``--baseline-scope``)."""
    stage = section["stage"]
    warnings = []
    if not stage.get("canaryConfigId"):
        warnings.append("the stage has no canaryConfigId: Spinnaker cannot find the canary config; set the id "
                        "Kayenta stores it under")
    simulated = simulated_scopes(str(section.get("profile", "rampsim")))
    for scope in stage.get("scopes") or []:
        if scope.get("experimentScope") == simulated["canary"] and scope.get("controlScope") == simulated["baseline"]:
            warnings.append(f"scope {scope.get('scopeName', 'default')!r}: experimentScope "
                            f"{simulated['canary']!r} and controlScope {simulated['baseline']!r} are the simulated "
                            f"arms' names, not your server groups': set them (import --stage, --canary-scope, "
                            f"--baseline-scope)")
    return warnings
