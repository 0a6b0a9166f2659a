"""Synthetic pilot districts: a deterministic generator of ``district.yaml`` + ``layout.geojson``.

The layout is plausible, not surveyed: a slightly irregular street grid (arterials ~440 m apart,
collectors ~220 m, local streets ~110 m, a few pedestrian paths), blocks with land use, residents
and jobs, S-Poles along the streets, their modules, and a fibre tree from the control centre
through street cabinets to every pole. The same arguments always give byte-identical files: every
draw comes from one ``numpy.random.default_rng(seed)``, in a fixed order.

``python -m simulation make-district NAME`` is the command-line door (:mod:`simulation.cli.districts`).
The format is documented in ``docs/districts.md``; ``simulation/district.py`` is its reference.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, TypedDict

import numpy as np

from simulation.config.district import (
    LAND_USES,
    PoleCatalogue,
    load_pole_catalogue,
)
from simulation.config.geometry import area_centroid, inset
from simulation.config.placement import (
    AP_PEAK_MBPS,
    HALF_WIDTH_M,
    POLE_SPACING_M,
    POLES_PER_KM2,
    TRUNK_TARGET_PEAK,
    BlockShape,
    Placement,
    write_district,
)

__all__ = ["DEFAULT_LAND_USE_MIX", "PEOPLE_SPLIT", "make_district", "population_from_density"]

Node = tuple[int, int]
Edge = tuple[Node, Node]
XY = tuple[float, float]

# Judgement figures (documented in docs/districts.md and in each district's notes).
LOCAL_SPACING_M = 110.0  # between parallel streets; every 2nd is a collector, every 4th an arterial
DEFAULT_LAND_USE_MIX = {
    "residential": 0.42,
    "mixed": 0.14,
    "commercial": 0.12,
    "office": 0.12,
    "industrial": 0.08,
    "park": 0.12,
}
_LAND_USE_ORDER = ("park", "industrial", "office", "commercial", "mixed", "residential")


# --------------------------------------------------------------------------- the generator
class _Gen(Placement):
    def __init__(self, rng: np.random.Generator, cat: PoleCatalogue, width: float, height: float) -> None:
        super().__init__(rng, cat, width * height / 1e6)
        self.w, self.h = width, height

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
        self.block_list: list[BlockShape] = []
        self.cell_block: dict[Node, BlockShape] = {}
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
                pts = inset([self.nodes[n] for n in ring], [HALF_WIDTH_M[c] for c in classes])
                area, cx, cy = area_centroid(pts)
                if area < 0:
                    pts.reverse()
                    area = -area
                b = BlockShape(f"blk-{len(self.block_list) + 1:04d}", pts, area, cx, cy, set(classes))
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

    def side_block(self, e: Edge, side: int) -> BlockShape:
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

    def sites(self) -> None:
        rng, blocks = self.rng, self.block_list
        self.site_list: list[tuple[str, str, XY]] = []  # (site_type, name, xy)
        taken: set[str] = set()

        def pick(pred_order: list[set[str]], key: Any) -> BlockShape:
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
        first: BlockShape | None = None
        for k in range(1 if self.gross_km2 < 1.0 else 2):
            ref = (cc.cx, cc.cy) if first is None else (first.cx, first.cy)
            hub = pick(
                [{"industrial"}, {"commercial"}, non_park, set(LAND_USES)],
                lambda b: -math.dist((b.cx, b.cy), ref) - 300 * ("arterial" in b.frontage),
            )
            first = first or hub
            self.site_list.append(("hub", f"Logistics hub {k + 1}", (hub.cx, hub.cy)))


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


#: How a generated or imported district's people split: residents, workers (commuters), visitors
#: (judgement: docs/districts.md, "People").
PEOPLE_SPLIT = (0.55, 0.35, 0.10)


class People(TypedDict):
    """A district's people by group, as ``make_district`` takes them."""

    residents: int
    workers: int
    visitors: int


def population_from_density(density: float, km2: float) -> People:
    """Residents, workers and visitors of ``km2`` at ``density`` people per km² (split by PEOPLE_SPLIT)."""
    people = density * km2
    r, w, v = (round(share * people) for share in PEOPLE_SPLIT)
    return People(residents=r, workers=w, visitors=v)


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

    n_cam = sum(1 for d in gen.device_list if d[0] == "camera")
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

    def nid(n: Node) -> str:
        return f"n{n[0]:02d}-{n[1]:02d}"

    write_district(out_dir, gen, street_items, nid, (origin_lat, origin_lon), meta, head)
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
