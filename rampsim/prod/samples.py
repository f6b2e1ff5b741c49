"""Raw samples: the samples of one series as a source returns them, and notices about them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

__all__ = ["RawSeries", "Notice"]


@dataclass(frozen=True)
class RawSeries:
    """The samples of one series: labels (``__name__`` included), times in ms, values."""

    labels: Mapping[str, str]
    timestamps_ms: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class Notice:
    """Something wrong with the data at a tick: ``missing``, ``reset``, ``unmapped``, ``duplicate``, ``damaged``,
    ``stopped``, ``warning`` (the source's) or ``aligned`` (a history read on slots centred on its scrapes)."""

    tick: int
    kind: str
    message: str
