"""Raw samples: the samples of one series as a source returns them, and notices about them."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

__all__ = ["RawSeries", "Notice", "NUMBER", "parse_number", "sample_values"]

NUMBER = r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[Ii]nf(?:inity)?|[Nn]a[Nn])"
"""A sample value or timestamp as Prometheus writes one (and its client, Go's ``strconv.ParseFloat``, reads it):
ASCII digits, an optional fraction and exponent, ``NaN``, ``+Inf``. Each text matches it one way only: checking
many values joined in one match stays linear in their length, whichever fails."""
_NUMBER = re.compile(NUMBER)
_NUMBERS = re.compile(f"(?:{NUMBER}\n)*{NUMBER}")


def parse_number(text: str) -> float:
    """One sample value or timestamp written as :data:`NUMBER` (and within a float's range); :class:`ValueError` for
    anything else Python's ``float`` would also read (``1_000``, full-width digits, surrounding spaces, ``1e999``
    as ``+Inf``)."""
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"not a number: {text!r}")
    value = float(text)
    if math.isinf(value) and text.lstrip("+-")[:1] not in "Ii":
        raise ValueError(f"a number out of a float's range: {text!r}")
    return value


def sample_values(texts: Sequence[object]) -> np.ndarray:
    """The values of samples as Prometheus's API writes them (text: ``"0.99"``, ``"NaN"``, ``"+Inf"``), each read
    as :func:`parse_number` reads one; :class:`ValueError` for anything else (a JSON ``true`` or number is no sample
    text at all)."""
    try:
        joined = "\n".join(texts)   # type: ignore[arg-type]  # refuses what is not text
    except TypeError:
        raise ValueError("a sample value that is not text") from None
    if texts and not _NUMBERS.fullmatch(joined):
        raise ValueError("a sample value that is not a number as Prometheus writes one")
    values = np.array(texts, dtype=float)
    for i in np.flatnonzero(np.isinf(values)).tolist():   # infinite without being written so: Go's out of range
        parse_number(str(texts[i]))
    return values


@dataclass(frozen=True)
class RawSeries:
    """The samples of one series: labels (``__name__`` included), times in ms, values."""

    labels: Mapping[str, str]
    timestamps_ms: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class Notice:
    """Something wrong with the data at a tick: ``missing``, ``nan`` (a sample written as not a number, read as
    missing), ``reset``, ``unmapped``, ``duplicate``, ``damaged``, ``stopped``, ``warning`` (the source's) or
    ``aligned`` (a history read on slots centred on its scrapes)."""

    tick: int
    kind: str
    message: str
