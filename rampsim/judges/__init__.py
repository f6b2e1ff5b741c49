"""Statistical judges of a canary against its baseline: pure functions of per-interval series.

They know nothing of plans, simulations or Prometheus: the engine and the sweeps feed them arrays.
(A config read from a file is located as a plan is: :mod:`rampsim.plan.json_source`.)

- :mod:`~rampsim.judges.kayenta`: Kayenta's NetflixACAJudge (a Mann-Whitney test per metric, a
  weighted score), configured by a Kayenta canary config read by :mod:`~rampsim.judges.kayenta_config`.

The names below are loaded on first use (PEP 562): importing one judge does not import the others.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from rampsim import _lazy_exports

_EXPORTS: dict[str, str] = {
    "CONFIDENCE": "rampsim.judges.kayenta",
    "NODATA_SHARE": "rampsim.judges.kayenta",
    "TOLERANCE": "rampsim.judges.kayenta",
    "Judgement": "rampsim.judges.kayenta",
    "Label": "rampsim.judges.kayenta",
    "MetricResult": "rampsim.judges.kayenta",
    "Verdict": "rampsim.judges.kayenta",
    "classify": "rampsim.judges.kayenta",
    "judge": "rampsim.judges.kayenta",
    "score": "rampsim.judges.kayenta",
    "CanaryAnalysis": "rampsim.judges.kayenta_config",
    "KayentaConfig": "rampsim.judges.kayenta_config",
    "KayentaMetric": "rampsim.judges.kayenta_config",
    "ScoreThresholds": "rampsim.judges.kayenta_config",
    "load_kayenta_config": "rampsim.judges.kayenta_config",
    "parse_kayenta_config": "rampsim.judges.kayenta_config",
}

__all__ = list(_EXPORTS)

if TYPE_CHECKING:
    from rampsim.judges.kayenta import (
        CONFIDENCE, NODATA_SHARE, TOLERANCE, Judgement, Label, MetricResult, Verdict, classify, judge, score,
    )
    from rampsim.judges.kayenta_config import (
        CanaryAnalysis, KayentaConfig, KayentaMetric, ScoreThresholds, load_kayenta_config, parse_kayenta_config,
    )
else:
    __getattr__, __dir__ = _lazy_exports(__name__, _EXPORTS, globals())
