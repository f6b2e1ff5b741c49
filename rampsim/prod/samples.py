"""Raw samples: the samples of one series as a source returns them, and notices about them."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

__all__ = ["RawSeries", "Notice", "sample_values"]

_NOT_IN_A_NUMBER = re.compile(r"[^0-9A-Za-z.+-]")
_INFINITE = frozenset(("inf", "infinity"))


def sample_values(texts: Sequence[object]) -> np.ndarray:
    """The values of samples as Prometheus's API writes them (text: ``"0.99"``, ``"NaN"``, ``"+Inf"``), read as
    Prometheus's own client reads them (Go's ``strconv.ParseFloat``); :class:`ValueError` for anything else.

    Python's ``float()`` reads more: ``"3268_0"`` as 32680, ``" 0.99"``, Unicode digits, ``"1e999"`` as ``+Inf``
    (Go: out of range), and a JSON ``true`` or number is no sample text at all. Each of those is refused.
    """
    try:
        joined = "".join(texts)   # type: ignore[arg-type]  # refuses what is not text
    except TypeError:
        raise ValueError("a sample value that is not text") from None
    if _NOT_IN_A_NUMBER.search(joined):
        raise ValueError("a sample value with a character no number holds")
    values = np.array(texts, dtype=float)
    infinite = np.flatnonzero(np.isinf(values))
    if any(str(texts[i]).lstrip("+-").lower() not in _INFINITE for i in infinite.tolist()):
        raise ValueError("a sample value out of a float's range")
    return values


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
