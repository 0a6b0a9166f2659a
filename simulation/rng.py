"""Named random streams: the same (seed, name) gives the same numbers whatever else runs.

Every stochastic component draws from its own stream, so adding a component (a service, a new
demand generator) never shifts the draws of another. A baseline and a candidate run with the same
seed therefore see the same district day: common random numbers for paired comparisons.
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["Streams", "stream"]


def stream(seed: int, name: str) -> np.random.Generator:
    """Return the generator for component ``name`` under ``seed``."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, int(seed) >> 32, zlib.crc32(name.encode())])


class Streams:
    """A lazily filled registry of named streams for one run."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._streams: dict[str, np.random.Generator] = {}

    def __call__(self, name: str) -> np.random.Generator:
        """The stream for ``name`` (created on first use, then shared)."""
        gen = self._streams.get(name)
        if gen is None:
            gen = self._streams[name] = stream(self.seed, name)
        return gen
