"""Plane geometry and spread-out sampling in local metres, for the district makers.

Pure functions on ``(x, y)`` tuples and a ``numpy.random.Generator``; no district knowledge.
"""

from __future__ import annotations

import itertools
import math
from typing import Protocol

import numpy as np

__all__ = [
    "apportion",
    "area_centroid",
    "bisect",
    "dedupe",
    "farthest",
    "inset",
    "polyline_length",
    "weighted",
]

XY = tuple[float, float]


class _HasXY(Protocol):
    id: str
    x: float
    y: float


def area_centroid(ring: list[XY]) -> tuple[float, float, float]:
    a = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True):
        c = x0 * y1 - x1 * y0
        a += c
        cx += (x0 + x1) * c
        cy += (y0 + y1) * c
    a /= 2
    return a, cx / (6 * a), cy / (6 * a)


def inset(ring: list[XY], dists: list[float]) -> list[XY]:
    """Offset every edge of a counter-clockwise ring inwards by its own distance."""
    n = len(ring)
    lines = []
    for k in range(n):
        (x0, y0), (x1, y1) = ring[k], ring[(k + 1) % n]
        ln = math.hypot(x1 - x0, y1 - y0)
        ex, ey = (x1 - x0) / ln, (y1 - y0) / ln
        lines.append((x0 - ey * dists[k], y0 + ex * dists[k], ex, ey))  # left normal is inwards
    out = []
    for k in range(n):
        ax, ay, aex, aey = lines[k - 1]
        bx, by, bex, bey = lines[k]
        den = aex * bey - aey * bex
        if abs(den) < 1e-9:  # collinear edges: the offset corner is the offset start of edge k
            out.append((bx, by))
            continue
        s = ((bx - ax) * bey - (by - ay) * bex) / den
        out.append((ax + s * aex, ay + s * aey))
    return out


def polyline_length(pts: list[XY]) -> float:
    return sum(math.dist(a, b) for a, b in itertools.pairwise(pts))


def dedupe(pts: list[XY]) -> list[XY]:
    out = [pts[0]]
    for p in pts[1:]:
        if math.dist(p, out[-1]) > 0.05:
            out.append(p)
    return out


def farthest(rng: np.random.Generator, pts: np.ndarray, n: int, first: int | None = None) -> list[int]:
    """Indices of ``n`` points spread out by farthest-point sampling."""
    n = min(n, len(pts))
    if n <= 0:
        return []
    idx = [int(rng.integers(len(pts))) if first is None else first]
    dist = np.hypot(pts[:, 0] - pts[idx[0], 0], pts[:, 1] - pts[idx[0], 1])
    while len(idx) < n:
        k = int(np.argmax(dist))
        idx.append(k)
        dist = np.minimum(dist, np.hypot(pts[:, 0] - pts[k, 0], pts[:, 1] - pts[k, 1]))
    return idx


def weighted(rng: np.random.Generator, weights: list[float], n: int) -> list[int]:
    """``n`` distinct indices drawn with probability proportional to ``weights``."""
    w = np.asarray(weights, dtype=float)
    n = min(n, int((w > 0).sum()))
    if n <= 0:
        return []
    return sorted(int(i) for i in rng.choice(len(w), size=n, replace=False, p=w / w.sum()))


def apportion(total: int, weights: list[float]) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` that sum exactly to it."""
    w = np.asarray(weights, dtype=float)
    if total <= 0 or len(w) == 0:
        return [0] * len(w)
    if w.sum() <= 0:
        w = np.ones(len(w))
    share = w / w.sum() * total
    out = np.floor(share).astype(int)
    rest = total - int(out.sum())
    order = sorted(range(len(w)), key=lambda k: (-(share[k] - out[k]), k))
    for k in order[:rest]:
        out[k] += 1
    return [int(v) for v in out]


def bisect[P: _HasXY](poles: list[P], k: int) -> list[list[P]]:
    """Split poles into ``k`` compact groups of near-equal size (recursive coordinate bisection)."""
    if k <= 1:
        return [poles]
    xs, ys = [p.x for p in poles], [p.y for p in poles]
    along_x = max(xs) - min(xs) >= max(ys) - min(ys)
    srt = sorted(poles, key=lambda p: (p.x, p.y, p.id) if along_x else (p.y, p.x, p.id))
    cut = round(len(srt) * (k // 2) / k)
    return bisect(srt[:cut], k // 2) + bisect(srt[cut:], k - k // 2)
