"""The learners: who is in which segment, and who the router sends to the canary.

Assignment is sticky: each learner's id is hashed (SplitMix64 with a salt) to a
fixed position in a pseudorandom order, and at canary weight ``w`` the first
``round(w * learners)`` learners of that order are on the canary. Raising the
weight only adds learners; lowering it only removes the last added, so a ramp
keeps every learner where it was. Segments come from a second, independent hash.
Nothing here depends on the run's seed: the cohort is a property of the release.
"""
from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Population", "population", "hash_unit"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def hash_unit(ids: np.ndarray, salt: str) -> np.ndarray:
    """SplitMix64 of ``ids`` xor a salt, as floats uniform in ``[0, 1)``."""
    key = np.uint64(zlib.crc32(salt.encode()) * 0x100000001)
    with np.errstate(over="ignore"):
        z = (np.asarray(ids, dtype=np.uint64) ^ key) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)


@dataclass(frozen=True)
class Population:
    """Learners with their segment and their position in the canary order."""

    segment: np.ndarray   # (learners,) segment index of each learner
    rank: np.ndarray      # (learners,) position in the canary order (0 joins first)
    order: np.ndarray     # (learners,) learner ids by rank
    n_segments: int
    _cohorts: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def size(self) -> int:
        return len(self.segment)

    def canary_size(self, weight: float) -> int:
        """How many learners are on the canary at ``weight``."""
        return int(round(min(max(weight, 0.0), 1.0) * self.size))

    def cohorts(self, weight: float) -> np.ndarray:
        """Learners per ``(arm, segment)`` at ``weight``: row 0 baseline, row 1 canary."""
        size = self.canary_size(weight)
        if size not in self._cohorts:
            if "total" not in self._cohorts:
                self._cohorts["total"] = np.bincount(self.segment, minlength=self.n_segments)
            canary = np.bincount(self.segment[self.order[:size]], minlength=self.n_segments)
            self._cohorts[size] = np.stack([self._cohorts["total"] - canary, canary])
        return self._cohorts[size]

    def on_canary(self, ids: np.ndarray, weight: float) -> np.ndarray:
        """Whether each learner in ``ids`` is routed to the canary at ``weight``."""
        return self.rank[ids] < self.canary_size(weight)

    def members(self, segment: int) -> np.ndarray:
        """Ids of the learners in ``segment``."""
        return np.flatnonzero(self.segment == segment)


@functools.lru_cache(maxsize=8)
def population(learners: int, shares: tuple[float, ...], salt: str) -> Population:
    """The population of ``learners`` split by segment ``shares`` (cached: it never changes)."""
    ids = np.arange(learners, dtype=np.uint64)
    order = np.argsort(hash_unit(ids, salt + "/arm"), kind="stable")
    rank = np.empty(learners, dtype=np.int64)
    rank[order] = np.arange(learners)
    bounds = np.cumsum(shares)[:-1]
    segment = np.searchsorted(bounds, hash_unit(ids, salt + "/segment"), side="right")
    for array in (order, rank, segment):
        array.setflags(write=False)
    return Population(segment=segment, rank=rank, order=order, n_segments=len(shares))
