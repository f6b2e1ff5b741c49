"""What several of the estimators share: a day in seconds, the shortest history a latent fit needs
(:data:`MIN_TICKS`), the note of a series no scrape holds (:data:`ABSENT`), the two scales a latent process is
fitted on (:data:`Scale`), and per-tick inputs as ``(T, S)`` arrays.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

DAY = 86400.0
MIN_TICKS = 120          # fewer valid ticks than this: the latent fit returns fallbacks
ABSENT = "no scrape of the history holds this series"   # why a parameter fell back when its series is not there
Scale = Literal["ratio", "log"]


def _as_2d(values: ArrayLike) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    return array[:, None] if array.ndim == 1 else array
