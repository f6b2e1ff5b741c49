"""A plan's Kayenta gate back as the files Kayenta and Spinnaker read: the canary config and the stage.

The ``kayenta:`` section keeps both as written (:mod:`rampsim.gates.kayenta_model`), so exporting is
writing them as JSON: ``config`` as the canary config Kayenta stores (after a sweep's ``--write-best``,
with the recommended values), ``stage`` as a ``kayentaCanary`` stage whose ``canaryConfig`` is the
section's (paste it into the pipeline, or give it back to ``rampsim import kayenta --stage``).
"""
from __future__ import annotations

import json
from typing import Any, Mapping

__all__ = ["config_json", "stage_json"]


def config_json(section: Mapping[str, Any]) -> str:
    """The section's canary config as Kayenta's JSON."""
    return json.dumps(section["config"], indent=2, ensure_ascii=False) + "\n"


def stage_json(section: Mapping[str, Any]) -> str:
    """A Spinnaker ``kayentaCanary`` stage running the section's analysis."""
    stage = {"type": "kayentaCanary", "name": "Canary Analysis", "analysisType": "realTime",
             "canaryConfig": section["stage"]}
    return json.dumps(stage, indent=2, ensure_ascii=False) + "\n"
