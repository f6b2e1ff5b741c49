"""Random streams of a run: every draw flows from one ``numpy.random.SeedSequence(seed)``.

Each source of randomness has its own child sequence, so changing how many draws
one source makes (for example health checks) never shifts the draws of another.
"""
from __future__ import annotations

import numpy as np

__all__ = ["Streams", "STREAMS"]

STREAMS = ("requests", "errors", "latency", "health", "cache", "gauges", "router", "service", "variability")


class Streams:
    """Named generators spawned from one seed."""

    def __init__(self, seed: int | np.random.SeedSequence) -> None:
        root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        self.seed = root
        self._generators = {name: np.random.default_rng(child)
                            for name, child in zip(STREAMS, root.spawn(len(STREAMS)))}

    def __getattr__(self, name: str) -> np.random.Generator:
        try:
            return self.__dict__["_generators"][name]
        except KeyError:
            raise AttributeError(name) from None
