"""A uniform-grid index for "which devices cover this point" queries in local metres."""

from __future__ import annotations

import math
from collections.abc import Sequence


class CoverageIndex:
    """Devices with a range, bucketed by the grid cells their range circle touches.

    ``query(x, y)`` returns ``(index, distance)`` for every device whose range covers the point,
    nearest first. Building is O(devices × cells touched); queries touch one cell.
    """

    def __init__(self, xs: Sequence[float], ys: Sequence[float], ranges: Sequence[float], cell: float = 50.0) -> None:
        self.cell = cell
        self.xs, self.ys, self.r2 = list(xs), list(ys), [r * r for r in ranges]
        self.buckets: dict[tuple[int, int], list[int]] = {}
        for i, (x, y, r) in enumerate(zip(xs, ys, ranges, strict=True)):
            for cx in range(math.floor((x - r) / cell), math.floor((x + r) / cell) + 1):
                for cy in range(math.floor((y - r) / cell), math.floor((y + r) / cell) + 1):
                    self.buckets.setdefault((cx, cy), []).append(i)

    def _covering(self, x: float, y: float) -> list[tuple[float, int]]:
        """(squared distance, index) of the devices covering (x, y), nearest first."""
        cand = self.buckets.get((math.floor(x / self.cell), math.floor(y / self.cell)))
        if not cand:
            return []
        xs, ys, r2 = self.xs, self.ys, self.r2
        out = []
        for i in cand:
            d2 = (xs[i] - x) ** 2 + (ys[i] - y) ** 2
            if d2 <= r2[i]:
                out.append((d2, i))
        if len(out) > 1:
            out.sort()
        return out

    def query(self, x: float, y: float) -> list[tuple[int, float]]:
        """Devices covering (x, y), nearest first, with their distances."""
        return [(i, math.sqrt(d2)) for d2, i in self._covering(x, y)]

    def nearest(self, x: float, y: float) -> list[int]:
        """Indices of the devices covering (x, y), nearest first."""
        return [i for _d2, i in self._covering(x, y)]
