"""Random streams of a run: every draw flows from one ``numpy.random.SeedSequence(seed)``.

Each source of randomness has its own child sequence, so changing how many draws
one source makes (for example health checks) never shifts the draws of another.
The latency histogram has one stream per arm, so drawing only the arms a sweep's
gates read leaves the others' draws unchanged.

:data:`DRAW_SCHEME` numbers the way a run turns its seed into draws; it changes
whenever the same seed would give other draws, so saved results of an older scheme
are never mixed with new ones.
"""
from __future__ import annotations

import numpy as np

__all__ = ["Streams", "STREAMS", "DRAW_SCHEME"]

STREAMS = ("requests", "errors", "latency", "health", "cache", "gauges", "router", "service", "variability")
DRAW_SCHEME = 7  # 2: health checks one binomial per tick and arm, a latency stream per arm;
                 # 3: latent AR(1) paths filtered by a doubling scan, the stretched latency lookup reordered
                 #    (the same random numbers, other rounding);
                 # 4: one latency CDF table per scenario, computed a log unit at a time (the same counts in
                 #    208 of 208 reference-mix runs compared; latency sums differ by about 1e-10 s);
                 # 5: latency multipliers rounded to the table's steps and their outcomes read from a table per
                 #    scenario (exact beside sharp bends); the service's latency scale solved by bisection;
                 # 6: the table's bucket probabilities held as 32-bit floats; the latency scale by regula falsi
                 # 7: a fault's strength integrated over each scrape interval and health-check round (it was read
                 #    at their middles: a fault starting, ending or flapping between them acted otherwise)


class Streams:
    """Named generators spawned from one seed."""

    def __init__(self, seed: int | np.random.SeedSequence) -> None:
        root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        self.seed = root
        children = root.spawn(len(STREAMS))
        self._generators = {name: np.random.default_rng(child) for name, child in zip(STREAMS, children)}
        self._latency = children[STREAMS.index("latency")]
        self._per_arm: list[np.random.Generator] = []

    def latency_of(self, arm: int) -> np.random.Generator:
        """The latency histogram's stream of arm ``arm`` (arms are numbered as in the layout)."""
        while len(self._per_arm) <= arm:  # the i-th child is the same however many are spawned at once
            self._per_arm.extend(np.random.default_rng(child) for child in self._latency.spawn(1))
        return self._per_arm[arm]

    def __getattr__(self, name: str) -> np.random.Generator:
        try:
            return self.__dict__["_generators"][name]
        except KeyError:
            raise AttributeError(name) from None
