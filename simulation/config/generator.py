"""Synthetic pilot districts: a deterministic generator of ``district.yaml`` + ``layout.geojson``.

The layout is plausible, not surveyed: a slightly irregular street grid (arterials ~440 m apart,
collectors ~220 m, local streets ~110 m, a few pedestrian paths), blocks with land use, residents
and jobs, S-Poles along the streets, their modules, and a fibre tree from the control centre
through street cabinets to every pole. The same arguments always give byte-identical files: every
draw comes from one ``numpy.random.default_rng(seed)``, in a fixed order.

``python -m simulation make-district NAME`` is the command-line door (see :func:`add_arguments`).
The format is documented in ``docs/districts.md``; ``simulation/district.py`` is its reference.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import yaml

from simulation._files import write_atomic
from simulation.config.district import (
    DISTRICTS_DIR,
    LAND_USES,
    M_PER_DEG_LAT,
    M_PER_DEG_LON_EQ,
    PoleCatalogue,
    load_district,
    load_pole_catalogue,
)
from simulation.errors import SandboxError

__all__ = ["DEFAULT_LAND_USE_MIX", "add_arguments", "make_district", "run"]

Node = tuple[int, int]
Edge = tuple[Node, Node]
XY = tuple[float, float]

# Judgement figures (documented in docs/districts.md and in each district's notes).
LOCAL_SPACING_M = 110.0  # between parallel streets; every 2nd is a collector, every 4th an arterial
HALF_WIDTH_M = {"arterial": 16.0, "collector": 9.0, "local": 4.5, "pedestrian": 2.5}  # axis to block
POLE_SPACING_M = {"arterial": 40.0, "collector": 45.0, "local": 90.0, "pedestrian": 60.0}  # nominal
POLES_PER_KM2 = 125.0  # of the generated rectangle (~165 per km² of blocks): spacings are scaled to it
SMALL_CELLS_PER_KM2 = 32.0  # sources.md: 25-45 per km² for street coverage
CAMERA_SHARE, SENSOR_SHARE = 0.8, 0.10  # of poles (judgement: Seoul averages ~260 cameras per km², sources.md)
AP_PEAK_MBPS = 17.0  # busy-hour backhaul per AP; the baseline day of world/connectivity.py gives 11-22
CAMERA_MBPS = 2.4  # sources.md: 1080p H.264 ~2 Mbps + 20% overhead
TRUNK_TARGET_PEAK = 0.45  # size each trunk so its expected busy-hour peak is ~45% of it...
TRUNK_STEP_MBPS, TRUNK_MIN_MBPS, TRUNK_MAX_MBPS = 250, 1000, 10_000  # ...in 250 Mbps steps
ACCESS_MBPS = 1000
DEFAULT_LAND_USE_MIX = {
    "residential": 0.42,
    "mixed": 0.14,
    "commercial": 0.12,
    "office": 0.12,
    "industrial": 0.08,
    "park": 0.12,
}
# People per m² of block, relative: where residents live and where jobs are.
_RES_WEIGHT = {"residential": 1.0, "mixed": 0.6, "commercial": 0.1, "office": 0.04, "industrial": 0.03, "park": 0.0}
_JOB_WEIGHT = {"office": 1.0, "commercial": 0.7, "industrial": 0.45, "mixed": 0.35, "residential": 0.05, "park": 0.01}
_AP_WEIGHT = {"commercial": 3.0, "office": 2.5, "mixed": 2.0, "park": 1.6, "residential": 1.1, "industrial": 0.6}
_CAM_WEIGHT = {"commercial": 1.4, "park": 1.4, "mixed": 1.2, "residential": 1.1, "office": 1.0, "industrial": 0.8}
_LAND_USE_ORDER = ("park", "industrial", "office", "commercial", "mixed", "residential")


@dataclass
class _Pole:
    id: str
    x: float
    y: float
    road_class: str
    model: str
    street: str
    edge: Edge
    t: float  # metres from edge[0] along the street axis
    land_use: str
    near_junction: bool
    used_slots: int = 0
    power_w: float = 0.0
    modules: list[str] = field(default_factory=list)
    link: str = ""


@dataclass
class _Block:
    id: str
    ring: list[XY]  # counter-clockwise, open, local metres
    area: float
    cx: float
    cy: float
    frontage: set[str]
    land_use: str = "residential"
    residents: int = 0
    jobs: int = 0


# --------------------------------------------------------------------------- geometry helpers
def _area_centroid(ring: list[XY]) -> tuple[float, float, float]:
    a = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True):
        c = x0 * y1 - x1 * y0
        a += c
        cx += (x0 + x1) * c
        cy += (y0 + y1) * c
    a /= 2
    return a, cx / (6 * a), cy / (6 * a)


def _inset(ring: list[XY], dists: list[float]) -> list[XY]:
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


def _polyline_length(pts: list[XY]) -> float:
    return sum(math.dist(a, b) for a, b in itertools.pairwise(pts))


def _dedupe(pts: list[XY]) -> list[XY]:
    out = [pts[0]]
    for p in pts[1:]:
        if math.dist(p, out[-1]) > 0.05:
            out.append(p)
    return out


def _farthest(rng: np.random.Generator, pts: np.ndarray, n: int, first: int | None = None) -> list[int]:
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


def _weighted(rng: np.random.Generator, weights: list[float], n: int) -> list[int]:
    """``n`` distinct indices drawn with probability proportional to ``weights``."""
    w = np.asarray(weights, dtype=float)
    n = min(n, int((w > 0).sum()))
    if n <= 0:
        return []
    return sorted(int(i) for i in rng.choice(len(w), size=n, replace=False, p=w / w.sum()))


def _apportion(total: int, weights: list[float]) -> list[int]:
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


def _bisect(poles: list[_Pole], k: int) -> list[list[_Pole]]:
    """Split poles into ``k`` compact groups of near-equal size (recursive coordinate bisection)."""
    if k <= 1:
        return [poles]
    xs, ys = [p.x for p in poles], [p.y for p in poles]
    along_x = max(xs) - min(xs) >= max(ys) - min(ys)
    srt = sorted(poles, key=lambda p: (p.x, p.y, p.id) if along_x else (p.y, p.x, p.id))
    cut = round(len(srt) * (k // 2) / k)
    return _bisect(srt[:cut], k // 2) + _bisect(srt[cut:], k - k // 2)


# --------------------------------------------------------------------------- the generator
class _Gen:
    def __init__(self, rng: np.random.Generator, cat: PoleCatalogue, width: float, height: float) -> None:
        self.rng, self.cat, self.w, self.h = rng, cat, width, height
        self.gross_km2 = width * height / 1e6
        self.model_of: dict[str, str] = {}
        for rc in ("arterial", "collector", "local", "pedestrian"):
            models = [m for m, pm in cat.models.items() if rc in pm.road_classes]
            if not models:
                raise ValueError(f"the pole catalogue has no model for road class {rc!r}")
            self.model_of[rc] = models[0]

    # streets ----------------------------------------------------------------------------------
    def streets(self) -> None:
        rng, w, h = self.rng, self.w, self.h
        nx_, ny_ = max(2, round(w / LOCAL_SPACING_M)), max(2, round(h / LOCAL_SPACING_M))
        self.nx, self.ny = nx_, ny_

        def classes(n: int) -> list[str]:
            out = ["arterial" if i % 4 == 0 else "collector" if i % 2 == 0 else "local" for i in range(n + 1)]
            out[-1] = "arterial" if n % 4 == 0 else "collector"  # the far edge is never a local street
            return out

        self.cls_v, self.cls_h = classes(nx_), classes(ny_)
        xs = [-w / 2 + i * w / nx_ + (rng.uniform(-10, 10) if 0 < i < nx_ else 0.0) for i in range(nx_ + 1)]
        ys = [-h / 2 + j * h / ny_ + (rng.uniform(-10, 10) if 0 < j < ny_ else 0.0) for j in range(ny_ + 1)]
        theta = math.radians(rng.uniform(-7, 7))
        ax, ay = rng.uniform(6, 14), rng.uniform(6, 14)
        lx, ly = rng.uniform(900, 1600), rng.uniform(900, 1600)
        px, py = rng.uniform(0, 2 * math.pi, size=2)
        cos_t, sin_t = math.cos(theta), math.sin(theta)
        self.nodes: dict[Node, XY] = {}
        for j in range(ny_ + 1):
            for i in range(nx_ + 1):
                ux, uy = xs[i] + rng.uniform(-5, 5), ys[j] + rng.uniform(-5, 5)
                wx = ux + ax * math.sin(2 * math.pi * uy / ly + px)
                wy = uy + ay * math.sin(2 * math.pi * ux / lx + py)
                self.nodes[(i, j)] = (wx * cos_t - wy * sin_t, wx * sin_t + wy * cos_t)
        edges: dict[Edge, str] = {}
        for j in range(ny_ + 1):
            for i in range(nx_ + 1):
                if j < ny_:
                    edges[((i, j), (i, j + 1))] = self.cls_v[i]
                if i < nx_:
                    edges[((i, j), (i + 1, j))] = self.cls_h[j]

        # Merge a few pairs of cells by dropping the local street between them (superblocks).
        def inner(e: Edge) -> bool:  # not on the grid's edge, so there is a cell on both sides
            return 0 < e[0][0] < nx_ if e[0][0] == e[1][0] else 0 < e[0][1] < ny_

        interior = [e for e, c in edges.items() if c == "local" and inner(e)]
        self.merged: dict[Node, Node] = {}
        used_nodes: set[Node] = set()
        n_drop = round(0.05 * nx_ * ny_)
        for k in rng.permutation(len(interior)):
            if len(self.merged) >= 2 * n_drop:
                break
            (a, b) = interior[int(k)]
            cells = ((a[0] - 1, a[1]), a) if a[0] == b[0] else ((a[0], a[1] - 1), a)
            if a in used_nodes or b in used_nodes or any(c in self.merged for c in cells):
                continue
            used_nodes.update((a, b))
            self.merged[cells[0]], self.merged[cells[1]] = cells[1], cells[0]
            del edges[(a, b)]
        # A few local streets become pedestrian streets.
        rest = [e for e in interior if e in edges]
        for k in rng.permutation(len(rest))[: max(1, round(0.05 * len(rest))) if rest else 0]:
            edges[rest[int(k)]] = "pedestrian"
        self.edges = edges

    def cell_edges(self, ring: list[Node]) -> list[str]:
        out = []
        for a, b in zip(ring, ring[1:] + ring[:1], strict=True):
            out.append(self.edges.get((a, b)) or self.edges[(b, a)])
        return out

    # blocks -----------------------------------------------------------------------------------
    def blocks(self, mix: dict[str, float]) -> None:
        self.block_list: list[_Block] = []
        self.cell_block: dict[Node, _Block] = {}
        self.block_cells: dict[str, list[Node]] = {}
        for j in range(self.ny):
            for i in range(self.nx):
                if (i, j) in self.cell_block:
                    continue
                other = self.merged.get((i, j))
                if other is None:
                    ring = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)]
                    cells = [(i, j)]
                elif other == (i + 1, j):
                    ring = [(i, j), (i + 1, j), (i + 2, j), (i + 2, j + 1), (i + 1, j + 1), (i, j + 1)]
                    cells = [(i, j), other]
                else:
                    ring = [(i, j), (i + 1, j), (i + 1, j + 1), (i + 1, j + 2), (i, j + 2), (i, j + 1)]
                    cells = [(i, j), other]
                classes = self.cell_edges(ring)
                pts = _inset([self.nodes[n] for n in ring], [HALF_WIDTH_M[c] for c in classes])
                area, cx, cy = _area_centroid(pts)
                if area < 0:
                    pts.reverse()
                    area = -area
                b = _Block(f"blk-{len(self.block_list) + 1:04d}", pts, area, cx, cy, set(classes))
                self.block_list.append(b)
                self.block_cells[b.id] = cells
                for c in cells:
                    self.cell_block[c] = b
        self.land_use(mix)

    def land_use(self, mix: dict[str, float]) -> None:
        rng, blocks = self.rng, self.block_list
        diag = math.hypot(self.w, self.h)
        self.core = (rng.uniform(-0.2, 0.2) * self.w, rng.uniform(-0.2, 0.2) * self.h)
        a = rng.uniform(0, 2 * math.pi)
        edge_pt = (0.5 * self.w * math.cos(a), 0.5 * self.h * math.sin(a))
        parks = [(rng.uniform(-0.4, 0.4) * self.w, rng.uniform(-0.4, 0.4) * self.h) for _ in range(3)]
        score: dict[str, list[float]] = {lu: [] for lu in LAND_USES}
        for b in blocks:
            dc = math.dist((b.cx, b.cy), self.core) / diag
            de = math.dist((b.cx, b.cy), edge_pt) / diag
            dp = min(math.dist((b.cx, b.cy), p) for p in parks) / diag
            art, col = float("arterial" in b.frontage), float("collector" in b.frontage)
            noise = rng.normal(0, 0.15, size=6)
            score["office"].append(-2.5 * dc + 0.6 * art + noise[0])
            score["commercial"].append(-1.8 * dc + 0.4 * art + 0.3 * col + noise[1])
            score["industrial"].append(-3.0 * de + 0.3 * art + noise[2])
            score["park"].append(-4.0 * dp - 0.4 * art + noise[3])
            score["mixed"].append(0.4 * col - 0.8 * abs(dc - 0.2) + noise[4])
            score["residential"].append(-0.3 * art + noise[5])
        total = sum(b.area for b in blocks)
        present = [lu for lu in _LAND_USE_ORDER if mix.get(lu, 0) > 0]
        free = set(range(len(blocks)))
        for lu in present[:-1]:
            target, acc = mix[lu] * total, 0.0
            for k in sorted(free, key=lambda k: (-score[lu][k], k)):
                if acc + 0.5 * blocks[k].area > target:
                    break
                blocks[k].land_use = lu
                acc += blocks[k].area
                free.discard(k)
        for k in free:
            blocks[k].land_use = present[-1]

    def population(self, residents: int, workers: int) -> None:
        rng, blocks = self.rng, self.block_list
        noise = rng.lognormal(0, 0.25, size=(2, len(blocks)))
        res_w = [b.area * _RES_WEIGHT[b.land_use] * noise[0, k] for k, b in enumerate(blocks)]
        job_w = [b.area * _JOB_WEIGHT[b.land_use] * noise[1, k] for k, b in enumerate(blocks)]
        for b, r, j in zip(blocks, _apportion(residents, res_w), _apportion(workers, job_w), strict=True):
            b.residents, b.jobs = r, j

    def park_paths(self) -> None:
        """Footpaths across a few single-cell parks, corner to corner."""
        single = [b for b in self.block_list if b.land_use == "park" and len(self.block_cells[b.id]) == 1]
        self.paths: list[Edge] = []
        for k in sorted(int(v) for v in self.rng.permutation(len(single))[: max(1, len(single) // 3)]):
            i, j = self.block_cells[single[k].id][0]
            e: Edge = ((i, j), (i + 1, j + 1)) if self.rng.random() < 0.5 else ((i + 1, j), (i, j + 1))
            self.edges[e] = "pedestrian"
            self.paths.append(e)

    def name_streets(self) -> list[tuple[Edge, str]]:
        items = sorted(self.edges.items(), key=lambda kv: (_CLASS_ORDER.index(kv[1]), kv[0]))
        w = max(3, len(str(len(items))))
        self.street_id = {e: f"st-{k + 1:0{w}d}" for k, (e, _) in enumerate(items)}
        return items

    # poles ------------------------------------------------------------------------------------
    def chains(self) -> list[tuple[list[Edge], bool]]:
        out: list[tuple[list[Edge], bool]] = []
        for i in range(self.nx + 1):
            chain = [((i, j), (i, j + 1)) for j in range(self.ny) if ((i, j), (i, j + 1)) in self.edges]
            out.append((chain, i in (0, self.nx)))
        for j in range(self.ny + 1):
            chain = [((i, j), (i + 1, j)) for i in range(self.nx) if ((i, j), (i + 1, j)) in self.edges]
            out.append((chain, j in (0, self.ny)))
        out.extend(([e], False) for e in self.paths)
        return out

    def side_block(self, e: Edge, side: int) -> _Block:
        """The block on the left (side +1) or right (-1) of a street edge, or the nearest one."""
        (i0, j0), (i1, j1) = e
        if e in self.paths:
            return self.cell_block[(min(i0, i1), min(j0, j1))]
        if i0 == i1:  # northward: left is west
            cells = [(i0 - 1, j0), (i0, j0)] if side > 0 else [(i0, j0), (i0 - 1, j0)]
        else:  # eastward: left is north
            cells = [(i0, j0), (i0, j0 - 1)] if side > 0 else [(i0, j0 - 1), (i0, j0)]
        for c in cells:
            if c in self.cell_block:
                return self.cell_block[c]
        raise AssertionError(f"street {e} has no block on either side")

    def poles(self) -> None:
        rng = self.rng
        chains = self.chains()
        nominal = [
            math.dist(self.nodes[a], self.nodes[b]) / POLE_SPACING_M[self.edges[(a, b)]]
            for c, _ in chains
            for a, b in c
        ]
        expected = sum(nominal)
        self.spacing_factor = min(6.0, max(0.75, expected / (POLES_PER_KM2 * self.gross_km2)))
        self.pole_list: list[_Pole] = []
        light = self.cat.modules["light"]
        for chain, boundary in chains:
            phase, u = rng.uniform(0.15, 0.85), 0.0
            side = 1 if rng.random() < 0.5 else -1
            for a, b in chain:
                cls = self.edges[(a, b)]
                (x0, y0), (x1, y1) = self.nodes[a], self.nodes[b]
                length = math.hypot(x1 - x0, y1 - y0)
                ex, ey = (x1 - x0) / length, (y1 - y0) / length
                step = POLE_SPACING_M[cls] * self.spacing_factor
                k = math.ceil(u - phase) if u > phase else 0
                ts = []
                while phase + k < u + length / step:
                    ts.append((phase + k - u) * step)
                    k += 1
                if not ts and (a, b) in self.paths:
                    ts = [length / 2]
                u += length / step
                margin, last = min(12.0, length / 3), -1e9
                for t in ts:
                    t = min(max(t, margin), length - margin)
                    if t - last < 8:
                        continue
                    last = t
                    if boundary:  # keep poles on the district's side of its edge streets
                        mx, my = x0 + ex * t, y0 + ey * t
                        side = 1 if (-ey) * (0 - mx) + ex * (0 - my) > 0 else -1
                    else:
                        side = -side
                    off = max(1.0, HALF_WIDTH_M[cls] - 1.0) * side
                    x, y = x0 + ex * t - ey * off, y0 + ey * t + ex * off
                    p = _Pole(
                        "",
                        x,
                        y,
                        cls,
                        self.model_of[cls],
                        self.street_id[(a, b)],
                        (a, b),
                        t,
                        self.side_block((a, b), side).land_use,
                        min(t, length - t) < 25,
                    )
                    p.used_slots, p.power_w, p.modules = light.slots, light.power_w, ["light"]
                    self.pole_list.append(p)
        w = max(3, len(str(len(self.pole_list))))
        for k, p in enumerate(self.pole_list):
            p.id = f"pole-{k + 1:0{w}d}"

    def can_mount(self, p: _Pole, module: str) -> bool:
        pm, mt = self.cat.models[p.model], self.cat.modules[module]
        fits = p.used_slots + mt.slots <= pm.slots and p.power_w + mt.power_w <= pm.power_budget_w
        return module in pm.mounts and fits

    # devices ----------------------------------------------------------------------------------
    def devices(self, ai_share: float) -> None:
        rng, poles = self.rng, self.pole_list
        self.device_list: list[tuple[str, _Pole, dict[str, Any]]] = []

        def mount(kind: str, module: str, p: _Pole, props: dict[str, Any]) -> None:
            mt = self.cat.modules[module]
            p.used_slots += mt.slots
            p.power_w += mt.power_w
            p.modules.append(module)
            self.device_list.append((kind, p, props))

        def cands(module: str, models: tuple[str, ...] | None = None, avoid: str = "") -> list[_Pole]:
            return [
                p
                for p in poles
                if self.can_mount(p, module) and (models is None or p.model in models) and avoid not in p.modules
            ]

        def spread(
            module: str, n: int, models: tuple[str, ...] | None, first: XY | None = None, avoid: str = ""
        ) -> list[_Pole]:
            c = cands(module, models, avoid)
            if not c:
                return []
            pts = np.array([(p.x, p.y) for p in c])
            start = None if first is None else int(np.argmin(np.hypot(pts[:, 0] - first[0], pts[:, 1] - first[1])))
            return [c[k] for k in sorted(_farthest(rng, pts, n, start))]

        big = (self.model_of["arterial"], self.model_of["collector"])
        a = self.gross_km2
        for p in spread("small_cell", round(SMALL_CELLS_PER_KM2 * a), big):
            mount("small_cell", "small_cell", p, {"capacity_mbps": 800, "range_m": 150})
        ev = cands("ev_charger", avoid="drone_dock")
        for k in _weighted(
            rng,
            [2.0 if p.land_use in ("commercial", "office", "mixed") else 1.0 for p in ev],
            min(6, max(2, round(2.5 * a))),
        ):
            mount("ev_charger", "ev_charger", ev[k], {"power_kw": 7})
        hub = self.sites_of("hub")[0][2] if self.sites_of("hub") else None
        for p in spread("drone_dock", min(4, max(1, round(1.5 * a))), big, hub, avoid="ev_charger"):
            mount("drone_dock", "drone_dock", p, {"pads": int(rng.integers(1, 3))})
        for p in spread("gateway", min(6, max(2, round(1.5 * a))), big):
            mount("gateway", "gateway", p, {"range_m": 800, "protocol": "LoRaWAN"})
        for p in spread("sensor", max(1, round(SENSOR_SHARE * len(poles))), None):
            mount("sensor", "sensor", p, {"variables": 17, "interval_s": 120})
        cam = cands("camera")
        cam_w = [_CAM_WEIGHT[p.land_use] * (1.8 if p.near_junction else 1.0) for p in cam]
        chosen = [cam[k] for k in _weighted(rng, cam_w, round(CAMERA_SHARE * len(poles)))]
        ai_ok = [k for k, p in enumerate(chosen) if self.can_mount(p, "ai_camera")]
        n_ai = min(len(ai_ok), round(ai_share * len(chosen)))
        ai = {ai_ok[int(k)] for k in rng.choice(len(ai_ok), size=n_ai, replace=False)} if n_ai else set()
        for k, p in enumerate(chosen):
            kind = "ai" if k in ai else "plain"
            rng_m = int(rng.integers(50, 81)) if kind == "ai" else int(rng.integers(40, 71))
            mount(
                "camera",
                "ai_camera" if kind == "ai" else "camera",
                p,
                {"camera_type": kind, "range_m": rng_m, "bitrate_mbps": CAMERA_MBPS},
            )
        busy = sum(b.area for b in self.block_list if b.land_use in ("commercial", "office", "mixed"))
        ap_share = 0.4 + 0.2 * busy / sum(b.area for b in self.block_list)
        ap = cands("ap")
        ap_w = [_AP_WEIGHT[p.land_use] * (1.2 if p.road_class in ("arterial", "pedestrian") else 1.0) for p in ap]
        for k in _weighted(rng, ap_w, round(ap_share * len(poles))):
            p = ap[k]
            cap = 600 if p.road_class in ("arterial", "collector") else int(rng.choice([300, 400]))
            props = {
                "capacity_mbps": cap,
                "max_clients": {300: 64, 400: 96, 600: 128}[cap],
                "range_m": int(rng.integers(50, 81)),
            }
            mount("ap", "ap", p, props)
        self.device_list.sort(key=lambda d: _KIND_ORDER.index(d[0]))  # stable: mount order within a kind

    # sites and fibre --------------------------------------------------------------------------
    def sites_of(self, kind: str) -> list[tuple[str, str, XY]]:
        return [s for s in self.site_list if s[0] == kind]

    def sites(self) -> None:
        rng, blocks = self.rng, self.block_list
        self.site_list: list[tuple[str, str, XY]] = []  # (site_type, name, xy)
        taken: set[str] = set()

        def pick(pred_order: list[set[str]], key: Any) -> _Block:
            for lus in pred_order:
                c = [b for b in blocks if b.land_use in lus and b.id not in taken]
                if c:
                    best = min(c, key=lambda b: (key(b), b.id))
                    taken.add(best.id)
                    return best
            raise AssertionError("no block left for a site")

        non_park = set(LAND_USES) - {"park"}
        cc = pick(
            [{"office", "commercial", "mixed"}, non_park, set(LAND_USES)], lambda b: math.dist((b.cx, b.cy), self.core)
        )
        self.site_list.append(("control_centre", "District control centre", (cc.cx, cc.cy)))
        target = (rng.uniform(-0.4, 0.4) * self.w, rng.uniform(-0.4, 0.4) * self.h)
        police = pick([non_park, set(LAND_USES)], lambda b: math.dist((b.cx, b.cy), target))
        self.site_list.append(("police", "Police box", (police.cx, police.cy)))
        # The fire station serves several districts: just outside the edge, where an arterial meets it.
        side = int(rng.integers(4))
        if side < 2:
            i = 0 if side == 0 else self.nx
            js = [j for j in range(1, self.ny) if self.cls_h[j] == "arterial"] or [self.ny // 2]
            edge_node, inner = (i, js[len(js) // 2]), (1 if i == 0 else self.nx - 1, js[len(js) // 2])
        else:
            j = 0 if side == 2 else self.ny
            is_ = [i for i in range(1, self.nx) if self.cls_v[i] == "arterial"] or [self.nx // 2]
            edge_node, inner = (is_[len(is_) // 2], j), (is_[len(is_) // 2], 1 if j == 0 else self.ny - 1)
        (ex, ey), (ix, iy) = self.nodes[edge_node], self.nodes[inner]
        d = math.hypot(ex - ix, ey - iy)
        self.site_list.append(("fire", "Fire station", (ex + (ex - ix) / d * 60, ey + (ey - iy) / d * 60)))
        first: _Block | None = None
        for k in range(1 if self.gross_km2 < 1.0 else 2):
            ref = (cc.cx, cc.cy) if first is None else (first.cx, first.cy)
            hub = pick(
                [{"industrial"}, {"commercial"}, non_park, set(LAND_USES)],
                lambda b: -math.dist((b.cx, b.cy), ref) - 300 * ("arterial" in b.frontage),
            )
            first = first or hub
            self.site_list.append(("hub", f"Logistics hub {k + 1}", (hub.cx, hub.cy)))

    def fibre(self) -> None:
        poles = self.pole_list
        g = nx.Graph()
        for a, b in self.edges:
            g.add_edge(a, b, length=math.dist(self.nodes[a], self.nodes[b]))
        cc_xy = self.sites_of("control_centre")[0][2]
        # 4-6 cabinets (one cut loses 17-25% of poles); big grids get one per ~50 poles instead.
        k = min(6, max(4, round(2 * self.gross_km2 + 1)))
        k = min(len(poles), k if len(poles) <= 60 * k else math.ceil(len(poles) / 50))
        self.cabinets: list[tuple[str, XY, _Pole]] = []
        self.link_list: list[dict[str, Any]] = []
        cc_node = min(self.nodes, key=lambda n: (math.dist(self.nodes[n], cc_xy), n))
        cc_dist, cc_path = nx.single_source_dijkstra(g, cc_node, weight="length")
        for s, sector in enumerate(_bisect(poles, k), start=1):
            mx, my = np.mean([p.x for p in sector]), np.mean([p.y for p in sector])
            host = min(sector, key=lambda p: (math.hypot(p.x - mx, p.y - my), p.id))
            foot = self.foot(host)
            d = math.dist(foot, (host.x, host.y)) or 1.0
            cab_xy = (host.x + (host.x - foot[0]) / d * 2.0, host.y + (host.y - foot[1]) / d * 2.0)
            cab_id = f"cab-{s}"
            self.cabinets.append((cab_id, cab_xy, host))
            # Trunk: control centre -> along the streets -> cabinet.
            a, b = host.edge
            end = min((a, b), key=lambda n: (cc_dist[n] + math.dist(self.nodes[n], foot), n))
            pts = [cc_xy, *(self.nodes[n] for n in cc_path[end]), foot, cab_xy]
            n_cam = sum(1 for p in sector for m in p.modules if m in ("camera", "ai_camera"))
            n_ap = sum(1 for p in sector if "ap" in p.modules)
            peak = n_cam * CAMERA_MBPS + n_ap * AP_PEAK_MBPS
            cap = TRUNK_STEP_MBPS * math.ceil(peak / TRUNK_TARGET_PEAK / TRUNK_STEP_MBPS)
            self.add_link(f"trunk-{s}", "trunk", "cc", cab_id, min(TRUNK_MAX_MBPS, max(TRUNK_MIN_MBPS, cap)), pts)
            # Access: cabinet -> each pole of its sector, along the streets (shortest route from the
            # cabinet's street position, entered as a virtual node on its street).
            reach = max(math.dist(foot, (p.x, p.y)) for p in sector)
            g.add_edge("cab", a, length=math.dist(foot, self.nodes[a]))
            g.add_edge("cab", b, length=math.dist(foot, self.nodes[b]))
            dist, path = nx.single_source_dijkstra(g, "cab", cutoff=3 * reach + 500, weight="length")
            if any(n not in dist for p in sector for n in p.edge):
                dist, path = nx.single_source_dijkstra(g, "cab", weight="length")
            g.remove_node("cab")
            for p in sorted(sector, key=lambda p: p.id):
                p.link = f"acc-{p.id.removeprefix('pole-')}"
                if p is host:
                    pts = [cab_xy, (p.x, p.y)]
                elif p.edge == host.edge:
                    pts = [cab_xy, foot, self.foot(p), (p.x, p.y)]
                else:
                    e0 = min(p.edge, key=lambda n: (dist[n] + math.dist(self.nodes[n], self.foot(p)), n))
                    pts = [cab_xy, foot, *(self.nodes[n] for n in path[e0][1:]), self.foot(p), (p.x, p.y)]
                self.add_link(p.link, "access", cab_id, p.id, ACCESS_MBPS, pts)
        self.link_list.sort(key=lambda lk: lk["level"] != "trunk")  # stable: trunks first

    def foot(self, p: _Pole) -> XY:
        (x0, y0), (x1, y1) = self.nodes[p.edge[0]], self.nodes[p.edge[1]]
        length = math.hypot(x1 - x0, y1 - y0)
        return (x0 + (x1 - x0) * p.t / length, y0 + (y1 - y0) * p.t / length)

    def add_link(self, lid: str, level: str, a: str, b: str, cap: float, pts: list[XY]) -> None:
        pts = _dedupe(pts)
        if len(pts) < 2:
            pts = [pts[0], (pts[0][0] + 0.5, pts[0][1])]
        self.link_list.append(
            {
                "id": lid,
                "level": level,
                "a": a,
                "b": b,
                "capacity_mbps": cap,
                "length_m": round(max(0.1, _polyline_length(pts)), 1),
                "pts": pts,
            }
        )


_PREFIX = {
    "ap": "ap",
    "camera": "cam",
    "sensor": "sdot",
    "gateway": "gw",
    "small_cell": "sc",
    "ev_charger": "ev",
    "drone_dock": "dock",
}
_KIND_ORDER = ("ap", "camera", "sensor", "gateway", "small_cell", "ev_charger", "drone_dock")


# --------------------------------------------------------------------------- output
def _check_args(
    name: str, width_m: float, height_m: float, people: dict[str, int], ai: float, mix: dict[str, float]
) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
        raise ValueError(f"name must be letters, digits, '_' or '-'; got {name!r}")
    for key, v in (("width_m", width_m), ("height_m", height_m)):
        if not (math.isfinite(v) and v >= 200):
            raise ValueError(f"{key} must be >= 200 m; got {v!r}")
    for key, n in people.items():
        if n < 0:
            raise ValueError(f"{key} must be >= 0; got {n!r}")
    if not 0 <= ai <= 1:
        raise ValueError(f"ai_camera_share must be between 0 and 1; got {ai!r}")
    for lu, v in mix.items():
        if lu not in LAND_USES:
            raise ValueError(f"land_use_mix has unknown land use {lu!r}; allowed: {', '.join(LAND_USES)}")
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"land_use_mix[{lu!r}] must be >= 0; got {v!r}")
    if sum(mix.values()) <= 0:
        raise ValueError("land_use_mix must give at least one land use a share > 0")


def make_district(
    out_dir: Path,
    *,
    name: str,
    title: str,
    origin_lat: float,
    origin_lon: float,
    width_m: float,
    height_m: float,
    residents: int,
    workers: int,
    visitors: int,
    seed: int,
    land_use_mix: dict[str, float] | None = None,
    ai_camera_share: float = 0.3,
    integrated: bool = True,
    description: str = "",
    notes: dict[str, str] | None = None,
) -> Path:
    """Generate a plausible synthetic district and write it to ``out_dir``.

    Writes ``district.yaml`` and ``layout.geojson`` (each atomically); the same arguments always
    give byte-identical files.

    Args:
        out_dir: Folder to write into (created if missing; the two files in it are replaced).
        name: District name (letters, digits, ``_``, ``-``); usually the folder's name.
        title: Human-readable title.
        origin_lat: Latitude of the district's centre (WGS84 degrees).
        origin_lon: Longitude of the district's centre (WGS84 degrees).
        width_m: East-west extent of the street grid in metres (>= 200).
        height_m: North-south extent in metres (>= 200).
        residents: Residents, spread over blocks (sum is exact).
        workers: Jobs held by commuters, spread over blocks as ``jobs`` (sum is exact).
        visitors: Visitors on a typical day (metadata only).
        seed: Seed of the one random generator every draw comes from.
        land_use_mix: Share of block area per land use; defaults to :data:`DEFAULT_LAND_USE_MIX`.
        ai_camera_share: Share of cameras that are intelligent (AI) cameras, 0..1.
        integrated: Whether the control centre is linked to the city's integrated centre.
        description: One paragraph for ``district.yaml``.
        notes: Extra notes for ``district.yaml``; they override the generated ones by key.

    Returns:
        ``out_dir``.

    Raises:
        ValueError: An argument is out of range.
    """
    mix = dict(DEFAULT_LAND_USE_MIX if land_use_mix is None else land_use_mix)
    people = {"residents": residents, "workers": workers, "visitors": visitors}
    _check_args(name, width_m, height_m, people, ai_camera_share, mix)
    total = sum(mix.values())
    mix = {lu: v / total for lu, v in mix.items()}
    out_dir = Path(out_dir)
    cat_path = out_dir.parent / "pole_models.yaml"
    cat = load_pole_catalogue(cat_path if cat_path.is_file() else None)

    gen = _Gen(np.random.default_rng(seed), cat, float(width_m), float(height_m))
    gen.streets()
    gen.blocks(mix)
    gen.population(residents, workers)
    gen.park_paths()
    street_items = gen.name_streets()
    gen.sites()
    gen.poles()
    gen.devices(ai_camera_share)
    gen.fibre()

    kx = M_PER_DEG_LON_EQ * math.cos(math.radians(origin_lat))

    def ll(p: XY) -> list[float]:
        return [round(origin_lon + p[0] / kx, 7), round(origin_lat + p[1] / M_PER_DEG_LAT, 7)]

    def feat(geom_type: str, coords: Any, props: dict[str, Any]) -> dict[str, Any]:
        return {"type": "Feature", "geometry": {"type": geom_type, "coordinates": coords}, "properties": props}

    def nid(n: Node) -> str:
        return f"n{n[0]:02d}-{n[1]:02d}"

    feats = []
    for (a, b), cls in street_items:
        feats.append(
            feat(
                "LineString",
                [ll(gen.nodes[a]), ll(gen.nodes[b])],
                {
                    "kind": "street",
                    "id": gen.street_id[(a, b)],
                    "from": nid(a),
                    "to": nid(b),
                    "road_class": cls,
                    "length_m": round(math.dist(gen.nodes[a], gen.nodes[b]), 1),
                },
            )
        )
    for bl in gen.block_list:
        ring = [ll(p) for p in bl.ring]
        feats.append(
            feat(
                "Polygon",
                [[*ring, ring[0]]],
                {"kind": "block", "id": bl.id, "land_use": bl.land_use, "residents": bl.residents, "jobs": bl.jobs},
            )
        )
    n_site: dict[str, int] = {}
    for kind, sname, xy in gen.site_list:
        n_site[kind] = n_site.get(kind, 0) + 1
        sid = "cc" if kind == "control_centre" else f"{kind}-{n_site[kind]}"
        feats.append(feat("Point", ll(xy), {"kind": "site", "id": sid, "site_type": kind, "name": sname}))
    for cab_id, xy, _ in gen.cabinets:
        feats.append(
            feat(
                "Point",
                ll(xy),
                {
                    "kind": "site",
                    "id": cab_id,
                    "site_type": "cabinet",
                    "name": f"Fibre cabinet {cab_id.removeprefix('cab-')}",
                },
            )
        )
    for lk in gen.link_list:
        props = {"kind": "link", **{k: v for k, v in lk.items() if k != "pts"}}
        feats.append(feat("LineString", [ll(p) for p in lk["pts"]], props))
    for p in gen.pole_list:
        feats.append(
            feat(
                "Point",
                ll((p.x, p.y)),
                {
                    "kind": "pole",
                    "id": p.id,
                    "model": p.model,
                    "road_class": p.road_class,
                    "street": p.street,
                    "link": p.link,
                },
            )
        )
    on_pole: dict[str, int] = {}
    per_kind = {kind: sum(1 for d in gen.device_list if d[0] == kind) for kind in _KIND_ORDER}
    counts: dict[str, int] = {}
    for kind, p, props in gen.device_list:
        counts[kind] = counts.get(kind, 0) + 1
        did = f"{_PREFIX[kind]}-{counts[kind]:0{max(3, len(str(per_kind[kind])))}d}"
        k = on_pole[p.id] = on_pole.get(p.id, 0) + 1
        xy = (p.x + math.cos(k * math.pi / 4), p.y + math.sin(k * math.pi / 4))  # 1 m from the pole
        feats.append(feat("Point", ll(xy), {"kind": kind, "id": did, "pole": p.id, **props}))
    geo = (
        "\n".join(
            ['{"type": "FeatureCollection", "features": [']
            + [
                json.dumps(f, ensure_ascii=False, separators=(",", ":")) + ("," if k < len(feats) - 1 else "")
                for k, f in enumerate(feats)
            ]
            + ["]}"]
        )
        + "\n"
    )

    n_cam = per_kind["camera"]
    meta = {
        "name": name,
        "title": title,
        "description": description,
        "surveyed": False,
        "origin": {"lat": round(float(origin_lat), 6), "lon": round(float(origin_lon), 6)},
        "population": people,
        "control_centre": {
            "operators_day": 2,
            "operators_night": 1,
            "screens_per_operator": 16,
            "integrated": bool(integrated),
        },
        "notes": {**_notes(gen, seed, ai_camera_share, n_cam), **(notes or {})},
    }
    head = (
        f"# Synthetic district written by simulation.config.generator.make_district (seed {seed}).\n"
        "# Plausible, NOT surveyed: see notes for which figures are judgement and which come from docs/sources.md.\n"
    )
    text = head + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=100)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "layout.geojson", geo.encode("utf-8"))
    write_atomic(out_dir / "district.yaml", text.encode("utf-8"))
    return out_dir


_CLASS_ORDER = ("arterial", "collector", "local", "pedestrian")


def _notes(gen: _Gen, seed: int, ai: float, n_cam: int) -> dict[str, str]:
    f = gen.spacing_factor
    sp = {c: f"~{s * f:.0f} m" for c, s in POLE_SPACING_M.items()}
    trunks = sorted({lk["capacity_mbps"] for lk in gen.link_list if lk["level"] == "trunk"})
    return {
        "layout": f"synthetic (seed {seed}), not surveyed: no street, pole or device here is real",
        "streets": "judgement: irregular grid, arterials ~440 m apart, collectors ~220 m, local ~110 m",
        "population": "judgement: totals as given; spread over blocks by land use and area",
        "poles": f"judgement: ~{POLES_PER_KM2:.0f} S-Poles per km² of grid; one every {sp['arterial']} on "
        f"arterials, {sp['collector']} on collectors, {sp['local']} on local streets",
        "pole_models": "judgement: SP-A/C/L/P slots and power from pole_models.yaml",
        "cameras": f"bitrate 2.4 Mbps, published (1080p H.264 + 20%); {n_cam} cameras, AI share {ai:.0%} (judgement)",
        "wifi": "judgement: APs on 40-60% of poles, 300-600 Mbps usable (sources.md rule of thumb)",
        "sensors": "S-DoT 17 variables every 2 min (sources.md); on ~10% of poles (judgement)",
        "small_cells": "~32 per km², 800 Mbps, 150 m range (sources.md: 25-45 per km², 40-1,100 Mbps)",
        "gateways": "LoRaWAN range 800 m (sources.md: ~0.86 km urban at SF7); count is judgement",
        "fibre": f"judgement: star from each cabinet; trunks {'/'.join(map(str, trunks))} Mbps, each sized "
        f"so 2.4 Mbps/camera + {AP_PEAK_MBPS:.0f} Mbps/AP is ~{TRUNK_TARGET_PEAK:.0%} of it",
        "control_centre": "judgement: 2 operators by day, 1 at night (sources.md: ~1,200 cameras per operator)",
    }


# --------------------------------------------------------------------------- command line
_LIMITS = {
    "width_m": ("--width-m", 200, 10_000, "m"),
    "height_m": ("--height-m", 200, 10_000, "m"),
    "density": ("--density", 100, 100_000, "people per km²"),
    "ai_share": ("--ai-share", 0, 1, ""),
    "lat": ("--lat", -80, 80, "degrees"),
    "lon": ("--lon", -180, 180, "degrees"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``make-district`` arguments to ``parser`` (a subcommand's parser)."""
    parser.add_argument("name", metavar="NAME", help="district name (letters, digits, '_', '-')")
    parser.add_argument("--out", metavar="DIR", default=None, help="folder to write (default: districts/NAME)")
    parser.add_argument("--width-m", type=float, default=1000.0, help="east-west extent in m (200..10000)")
    parser.add_argument("--height-m", type=float, default=1000.0, help="north-south extent in m (200..10000)")
    parser.add_argument(
        "--density",
        type=float,
        default=15_000.0,
        help="people per km² (100..100000), split 55%% residents, 35%% workers, 10%% visitors",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: derived from NAME)")
    parser.add_argument("--lat", type=float, default=37.55, help="latitude of the centre (default 37.55)")
    parser.add_argument("--lon", type=float, default=126.99, help="longitude of the centre (default 126.99)")
    parser.add_argument("--ai-share", type=float, default=0.3, help="share of AI cameras, 0..1 (default 0.3)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing district folder")
    parser.add_argument("--json", action="store_true", help="print the district's key figures as JSON")


def run(args: argparse.Namespace) -> int:
    """Generate the district ``args`` describe, load it back and print its key figures.

    Returns:
        0 on success, 2 on bad input (message on stderr), 1 if the result does not load.
    """

    def fail(msg: str) -> int:
        print(f"make-district: {msg}", file=sys.stderr)
        return 2

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", args.name):
        return fail(f"NAME must be letters, digits, '_' or '-'; got {args.name!r}")
    for attr, (opt, lo, hi, unit) in _LIMITS.items():
        v = getattr(args, attr)
        if not (math.isfinite(v) and lo <= v <= hi):
            return fail(f"{opt} must be between {lo:g} and {hi:g} {unit}; got {v:g}".replace(" ;", ";"))
    out = Path(args.out) if args.out else DISTRICTS_DIR / args.name
    if out.exists() and not out.is_dir():
        return fail(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not args.force:
        return fail(f"{out} already exists; pass --force to overwrite it")
    people = args.density * args.width_m * args.height_m / 1e6
    seed = args.seed if args.seed is not None else zlib.crc32(args.name.encode())
    try:
        make_district(
            out,
            name=args.name,
            title=f"{args.name.replace('_', ' ').replace('-', ' ').title()} (synthetic)",
            origin_lat=args.lat,
            origin_lon=args.lon,
            width_m=args.width_m,
            height_m=args.height_m,
            residents=round(0.55 * people),
            workers=round(0.35 * people),
            visitors=round(0.10 * people),
            seed=seed,
            ai_camera_share=args.ai_share,
            description=f"Synthetic district: {args.width_m:g} m x {args.height_m:g} m, "
            f"{args.density:g} people per km², seed {seed}.",
        )
    except OSError as exc:
        return fail(f"cannot write {out}: {exc.strerror or exc}")
    try:
        district = load_district(out)
    except SandboxError as exc:
        print(f"make-district: the generated district does not load: {exc}", file=sys.stderr)
        return 1
    if getattr(args, "json", False):
        doc = {"folder": str(out), "seed": seed, "files": ["district.yaml", "layout.geojson"]}
        print(json.dumps(doc | {"figures": district.key_figures()}, indent=1, default=str))
        return 0
    print(f"wrote {out / 'district.yaml'} and {out / 'layout.geojson'} (seed {seed})")
    for key, value in district.key_figures().items():
        print(f"  {key:<18} {value}")
    return 0
