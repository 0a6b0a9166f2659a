"""Districts from OpenStreetMap: real streets and land use, the city's infrastructure placed on them.

``import_osm(FILE, out_dir, name=...)`` reads a local extract (see :mod:`simulation.config.osm_read`),
keeps the streets inside the bounding box, classifies them by the S-Pole standard model's road
classes (arterial, collector, local, pedestrian), takes the blocks the streets enclose, gives each
block a land use from OSM ``landuse``/``leisure`` areas, buildings and shops, and then places
S-Poles, devices and the fibre tree with :class:`simulation.config.placement.Placement`, the same
code the synthetic generator uses. Streets and land use are real; population and every pole,
camera, AP, sensor and link are modelled (seeded: the same file, box and seed give the same bytes).
Documented in ``docs/districts.md``.
"""

from __future__ import annotations

import itertools
import math
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
from shapely import STRtree
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.polygon import orient
from shapely.ops import polygonize, unary_union

from simulation.config.district import LAND_USES, M_PER_DEG_LAT, M_PER_DEG_LON_EQ, load_pole_catalogue
from simulation.config.generator import population_from_density
from simulation.config.geometry import area_centroid
from simulation.config.osm_read import BBox, OsmData, read_osm
from simulation.config.placement import HALF_WIDTH_M, BlockShape, Placement, write_district
from simulation.errors import OsmError

__all__ = ["ROAD_CLASS_OF", "ImportReport", "import_osm"]

XY = tuple[float, float]

#: OSM ``highway`` value -> road class of the S-Pole standard model (judgement, docs/districts.md).
ROAD_CLASS_OF = {
    **dict.fromkeys(("motorway", "trunk", "primary", "motorway_link", "trunk_link", "primary_link"), "arterial"),
    **dict.fromkeys(("secondary", "tertiary", "secondary_link", "tertiary_link"), "collector"),
    **dict.fromkeys(("residential", "unclassified", "living_street", "service", "road"), "local"),
    **dict.fromkeys(("pedestrian", "footway", "path", "steps", "cycleway"), "pedestrian"),
}
_SKIP_SERVICE = {"parking_aisle", "driveway", "drive-through"}
_SKIP_FOOTWAY = {"sidewalk", "crossing"}
_RANK = {"arterial": 0, "collector": 1, "local": 2, "pedestrian": 3}
#: OSM tag value -> land use, for areas, buildings and points.
_LAND_USE_OF = {
    ("landuse", "residential"): "residential",
    ("landuse", "commercial"): "commercial",
    ("landuse", "retail"): "commercial",
    ("landuse", "industrial"): "industrial",
    ("landuse", "construction"): "mixed",
    ("landuse", "grass"): "park",
    ("landuse", "recreation_ground"): "park",
    ("landuse", "cemetery"): "park",
    ("leisure", "park"): "park",
    ("leisure", "garden"): "park",
    ("leisure", "playground"): "park",
    ("leisure", "pitch"): "park",
    ("amenity", "grave_yard"): "park",
    ("amenity", "school"): "mixed",
    ("amenity", "university"): "office",
    ("amenity", "marketplace"): "commercial",
    ("building", "apartments"): "residential",
    ("building", "residential"): "residential",
    ("building", "house"): "residential",
    ("building", "commercial"): "commercial",
    ("building", "retail"): "commercial",
    ("building", "office"): "office",
    ("building", "industrial"): "industrial",
    ("building", "warehouse"): "industrial",
}
BLOCK_SETBACK_M = 6.0  # judgement: a block's edge is ~6 m from the street axes around it
MIN_BLOCK_M2, MAX_BLOCK_M2 = 400.0, 250_000.0  # faces outside this range are not blocks
DEFAULT_DENSITY = 15_000.0  # people per km² of the box (as make-district), split 55/35/10


@dataclass(frozen=True)
class ImportReport:
    """What an import kept and dropped, for the command's summary."""

    ways_read: int
    streets: int
    blocks: int
    land_use_from_osm: int
    nodes_dropped: int


class _Proj:
    def __init__(self, lat0: float, lon0: float) -> None:
        self.lat0, self.lon0 = lat0, lon0
        self.kx = M_PER_DEG_LON_EQ * math.cos(math.radians(lat0))

    def __call__(self, lon: float, lat: float) -> XY:
        return ((lon - self.lon0) * self.kx, (lat - self.lat0) * M_PER_DEG_LAT)


def _road_class(tags: dict[str, str]) -> str | None:
    hw = tags.get("highway", "")
    cls = ROAD_CLASS_OF.get(hw)
    if cls is None or tags.get("area") == "yes":
        return None
    if hw == "service" and tags.get("service") in _SKIP_SERVICE:
        return None
    if hw == "footway" and tags.get("footway") in _SKIP_FOOTWAY:
        return None
    return cls


def _simplify(idx: list[int], pts: dict[int, XY], tol: float) -> list[int]:
    """Douglas-Peucker on node ids: keep the ends and every vertex further than ``tol`` from the chord."""
    if len(idx) <= 2:
        return idx
    (x0, y0), (x1, y1) = pts[idx[0]], pts[idx[-1]]
    ln = math.hypot(x1 - x0, y1 - y0)
    best, far = -1.0, 0
    for k in range(1, len(idx) - 1):
        x, y = pts[idx[k]]
        d = math.hypot(x - x0, y - y0) if ln < 1e-9 else abs((x1 - x0) * (y0 - y) - (x0 - x) * (y1 - y0)) / ln
        if d > best:
            best, far = d, k
    if best <= tol:
        return [idx[0], idx[-1]]
    return _simplify(idx[: far + 1], pts, tol)[:-1] + _simplify(idx[far:], pts, tol)


class _OsmPlacement(Placement):
    """Streets and blocks from an extract; the poles, devices and fibre come from :class:`Placement`."""

    def __init__(self, rng: np.random.Generator, data: OsmData, bbox: BBox, path: Path) -> None:
        cat = load_pole_catalogue()
        self.proj = _Proj((bbox[1] + bbox[3]) / 2, (bbox[0] + bbox[2]) / 2)
        x0, y0 = self.proj(bbox[0], bbox[1])
        x1, y1 = self.proj(bbox[2], bbox[3])
        super().__init__(rng, cat, (x1 - x0) * (y1 - y0) / 1e6)
        self.data, self.bbox, self.path = data, bbox, path
        self.w, self.h = x1 - x0, y1 - y0

    def inside(self, nid: int) -> bool:
        lon, lat = self.data.nodes[nid]
        b = self.bbox
        return b[0] <= lon <= b[2] and b[1] <= lat <= b[3]

    # streets ----------------------------------------------------------------------------------
    def streets(self) -> None:
        data = self.data
        pts: dict[int, XY] = {}
        runs: list[tuple[list[int], str]] = []  # node-id runs inside the box, with their class
        use: dict[int, int] = {}
        for way in data.ways:
            cls = _road_class(way.tags)
            if cls is None:
                continue
            run: list[int] = []
            for nid in [*way.nodes, None]:
                if nid is not None and nid in data.nodes and self.inside(nid):
                    if not run or run[-1] != nid:
                        run.append(nid)
                    continue
                if len(run) >= 2:
                    runs.append((run, cls))
                    for n in run:
                        use[n] = use.get(n, 0) + 1
                run = []
        if not runs:
            raise OsmError(self.path, "holds no highway inside the bounding box; try a larger --bbox")
        for n in use:
            pts[n] = self.proj(*data.nodes[n])
        ends = {r[0] for r, _ in runs} | {r[-1] for r, _ in runs}
        keep = ends | {n for n, k in use.items() if k > 1}  # junctions stay nodes of the graph
        edges: dict[tuple[int, int], str] = {}
        chains: list[list[tuple[int, int]]] = []
        owner: dict[tuple[int, int], int] = {}
        for run, cls in runs:
            cut = [k for k, n in enumerate(run) if n in keep or k in (0, len(run) - 1)]
            chain: list[tuple[int, int]] = []
            for a, b in itertools.pairwise(cut):
                seq = _simplify(run[a : b + 1], pts, 3.0)
                for u, v in itertools.pairwise(seq):
                    if u == v or math.dist(pts[u], pts[v]) < 1.0:
                        continue
                    e = (u, v) if (v, u) not in edges else (v, u)
                    if e in edges and _RANK[edges[e]] <= _RANK[cls]:
                        continue
                    edges[e], owner[e] = cls, len(chains)
                    chain.append(e)
            chains.append(chain)
        g = nx.Graph(list(edges))
        if g.number_of_nodes() == 0:
            raise OsmError(self.path, "holds no street segment longer than 1 m inside the bounding box")
        main = max(nx.connected_components(g), key=lambda c: (len(c), min(c)))
        self.nodes_dropped = g.number_of_nodes() - len(main)
        self.edges = {e: c for e, c in edges.items() if e[0] in main}
        self.nodes = {n: pts[n] for n in sorted(main)}
        self.osm_chains = [[e for e in ch if e in self.edges and owner[e] == i] for i, ch in enumerate(chains)]
        self.osm_chains = [ch for ch in self.osm_chains if ch]
        self.paths: list[tuple[Any, Any]] = []
        items = sorted(self.edges.items(), key=lambda kv: (_RANK[kv[1]], kv[0]))
        w = max(3, len(str(len(items))))
        self.street_id = {e: f"st-{k + 1:0{w}d}" for k, (e, _) in enumerate(items)}
        self.street_items = items

    # blocks -----------------------------------------------------------------------------------
    def blocks(self) -> int:
        lines = [LineString([self.nodes[a], self.nodes[b]]) for a, b in self.edges]
        faces = [f for f in polygonize(unary_union(lines)) if MIN_BLOCK_M2 <= f.area <= MAX_BLOCK_M2]
        self.block_list: list[BlockShape] = []
        self.block_geom: list[Polygon] = []
        for face in sorted(faces, key=lambda f: (round(f.centroid.y, 3), round(f.centroid.x, 3))):
            inner = face.buffer(-BLOCK_SETBACK_M, join_style="mitre")
            if inner.is_empty:
                continue
            poly = max(getattr(inner, "geoms", [inner]), key=lambda p: p.area)
            poly = orient(poly.simplify(0.5), 1.0)
            if poly.area < MIN_BLOCK_M2 / 4:
                continue
            ring = [(round(x, 2), round(y, 2)) for x, y in list(poly.exterior.coords)[:-1]]
            area, cx, cy = area_centroid(ring)
            b = BlockShape(f"blk-{len(self.block_list) + 1:04d}", ring, area, cx, cy, set())
            self.block_list.append(b)
            self.block_geom.append(Polygon(ring))
        if not self.block_list:
            raise OsmError(self.path, "its streets enclose no block inside the bounding box; try a larger --bbox")
        self.block_tree = STRtree(self.block_geom)
        street_tree = STRtree(lines)
        classes = list(self.edges.values())
        for b, geom in zip(self.block_list, self.block_geom, strict=True):
            for k in street_tree.query(geom.buffer(BLOCK_SETBACK_M + 2)):
                b.frontage.add(classes[int(k)])
        return self.land_use()

    def land_use(self) -> int:
        """Give each block the land use with the most evidence inside it; returns how many had any."""
        score: list[dict[str, float]] = [dict.fromkeys(LAND_USES, 0.0) for _ in self.block_list]
        data = self.data
        for way in data.ways:
            if len(way.nodes) < 4 or way.nodes[0] != way.nodes[-1]:
                continue
            kinds = [
                (k, _LAND_USE_OF.get((k, v)) or ("residential" if k == "building" and v == "yes" else None))
                for k, v in way.tags.items()
            ]
            lus = [(k, lu) for k, lu in kinds if lu]
            if not lus or any(n not in data.nodes for n in way.nodes):
                continue
            poly = Polygon([self.proj(*data.nodes[n]) for n in way.nodes])
            if not poly.is_valid:
                poly = poly.buffer(0)
            for k in self.block_tree.query(poly):
                share = self.block_geom[int(k)].intersection(poly).area
                for key, lu in lus:
                    score[int(k)][lu] += share * (0.5 if key == "building" and lu == "residential" else 1.0)
        for lon, lat, tags in data.points:
            if "office" not in tags and "shop" not in tags:
                continue
            lu = "office" if "office" in tags else "commercial"
            pt = Point(self.proj(lon, lat))
            for k in self.block_tree.query(pt):
                if self.block_geom[int(k)].contains(pt):
                    score[int(k)][lu] += 150.0  # judgement: a shop or office counts as 150 m² of its use
        evidence = 0
        for b, s in zip(self.block_list, score, strict=True):
            best: str = max(LAND_USES, key=lambda lu: (s[lu], -LAND_USES.index(lu)))
            if s[best] > 0:
                b.land_use, evidence = best, evidence + 1
            else:
                b.land_use = "residential"  # judgement: most of Seoul's untagged blocks are housing
        return evidence

    # sites ------------------------------------------------------------------------------------
    def sites(self) -> None:
        blocks = self.block_list
        self.site_list: list[tuple[str, str, XY]] = []
        mx = float(np.mean([b.cx for b in blocks]))
        my = float(np.mean([b.cy for b in blocks]))
        busy = [b for b in blocks if b.land_use in ("office", "commercial", "mixed")] or blocks
        cc = min(busy, key=lambda b: (math.dist((b.cx, b.cy), (mx, my)), b.id))
        self.site_list.append(("control_centre", "District control centre", (cc.cx, cc.cy)))
        found = {"police": "", "fire_station": ""}
        for lon, lat, tags in self.data.points:
            am = tags.get("amenity", "")
            b = self.bbox
            if am in found and not found[am] and b[0] <= lon <= b[2] and b[1] <= lat <= b[3]:
                found[am] = tags.get("name:en") or tags.get("name") or am
                kind = "police" if am == "police" else "fire"
                self.site_list.append((kind, f"{found[am]} (OSM)", self.proj(lon, lat)))
        if not found["police"]:
            target = (float(self.rng.uniform(-0.4, 0.4) * self.w), float(self.rng.uniform(-0.4, 0.4) * self.h))
            pb = min(blocks, key=lambda b: (math.dist((b.cx, b.cy), target), b.id))
            self.site_list.append(("police", "Police box", (pb.cx, pb.cy)))
        if not found["fire_station"]:  # serves several districts: at the box's edge, on its biggest street
            top = min(_RANK[c] for c in self.edges.values())
            ends = sorted({n for e, c in self.edges.items() if _RANK[c] == top for n in e})
            n = max(ends, key=lambda n: (max(abs(self.nodes[n][0]) / self.w, abs(self.nodes[n][1]) / self.h), n))
            self.site_list.append(("fire", "Fire station", self.nodes[n]))
        hub_c = [b for b in blocks if b.land_use in ("industrial", "commercial")] or blocks
        hub = max(
            hub_c, key=lambda b: (math.dist((b.cx, b.cy), (cc.cx, cc.cy)) + 300 * ("arterial" in b.frontage), b.id)
        )
        self.site_list.append(("hub", "Logistics hub 1", (hub.cx, hub.cy)))

    # what Placement needs ---------------------------------------------------------------------
    def chains(self) -> list[tuple[list[tuple[Any, Any]], bool]]:
        """One chain per OSM way run, so poles keep their rhythm along a street."""
        return [(ch, False) for ch in self.osm_chains]

    def side_block(self, e: tuple[Any, Any], side: int) -> BlockShape:
        """The block containing a point beside the street's middle, else the nearest block."""
        (x0, y0), (x1, y1) = self.nodes[e[0]], self.nodes[e[1]]
        ln = math.hypot(x1 - x0, y1 - y0) or 1.0
        off = HALF_WIDTH_M[self.edges[e]] + BLOCK_SETBACK_M
        pt = Point((x0 + x1) / 2 - (y1 - y0) / ln * off * side, (y0 + y1) / 2 + (x1 - x0) / ln * off * side)
        k = self.block_tree.nearest(pt)
        return self.block_list[int(k)]


def _fmt_box(bbox: BBox) -> str:
    return ", ".join(f"{v:.5f}" for v in bbox)


def import_osm(
    src: Path,
    out_dir: Path,
    *,
    name: str,
    bbox: BBox | None = None,
    seed: int | None = None,
    density: float = DEFAULT_DENSITY,
    ai_camera_share: float = 0.3,
    title: str | None = None,
) -> ImportReport:
    """Import an OSM extract as a district folder (``district.yaml`` + ``layout.geojson``).

    Args:
        src: Local ``.osm``/``.osm.gz``/``.osm.bz2``/``.osm.pbf`` file.
        out_dir: Folder to write (created; the two files are replaced atomically).
        name: District name (letters, digits, ``_``, ``-``).
        bbox: ``(minlon, minlat, maxlon, maxlat)``; default the file's ``<bounds>`` or its data's extent.
        seed: Seed of every modelled draw; default derived from ``name``.
        density: People per km² of the box, split 55% residents, 35% workers, 10% visitors.
        ai_camera_share: Share of cameras that are AI cameras, 0..1.
        title: Human-readable title; default from ``name``.

    Returns:
        What was kept and dropped.

    Raises:
        OsmError: The file cannot be read or holds no usable street network in the box.
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
        raise OsmError("NAME", f"must be letters, digits, '_' or '-'; got {name!r}")
    if not (math.isfinite(density) and 100 <= density <= 100_000):
        raise OsmError("--density", f"must be between 100 and 100000 people per km²; got {density!r}")
    if not 0 <= ai_camera_share <= 1:
        raise OsmError("--ai-share", f"must be between 0 and 1; got {ai_camera_share!r}")
    src = Path(src)
    data = read_osm(src)
    if bbox is None:
        if data.bounds is not None:
            bbox = data.bounds
        else:
            lons = [p[0] for p in data.nodes.values()]
            lats = [p[1] for p in data.nodes.values()]
            bbox = (min(lons), min(lats), max(lons), max(lats))
    seed = zlib.crc32(name.encode()) if seed is None else seed
    gen = _OsmPlacement(np.random.default_rng(seed), data, bbox, src)
    if gen.w > 10_000 or gen.h > 10_000:
        raise OsmError("--bbox", f"covers {gen.w:.0f} m x {gen.h:.0f} m; a pilot district is at most 10 km across")
    gen.streets()
    n_lu = gen.blocks()
    people = population_from_density(density, gen.gross_km2)
    residents, workers, visitors = people["residents"], people["workers"], people["visitors"]
    gen.population(residents, workers)
    gen.sites()
    gen.poles()
    gen.devices(ai_camera_share)
    gen.fibre()
    lat0, lon0 = gen.proj.lat0, gen.proj.lon0
    meta = {
        "name": name,
        "title": title or f"{name.replace('_', ' ').replace('-', ' ').title()} (OpenStreetMap)",
        "description": f"Streets and land use from OpenStreetMap ({src.name}, box {_fmt_box(bbox)}); "
        "population and infrastructure modelled. Map data © OpenStreetMap contributors, ODbL 1.0.",
        "surveyed": False,
        "origin": {"lat": round(lat0, 6), "lon": round(lon0, 6)},
        "population": {"residents": residents, "workers": workers, "visitors": visitors},
        "control_centre": {"operators_day": 2, "operators_night": 1, "screens_per_operator": 16, "integrated": True},
        "notes": {
            "layout": f"streets and land use from OpenStreetMap ({src.name}); poles, devices and fibre "
            f"placed by the S-Pole standard model per road class (seed {seed}), not surveyed",
            "licence": "map data © OpenStreetMap contributors, available under the ODbL 1.0",
            "streets": "OSM highway -> road class: motorway/trunk/primary arterial, secondary/tertiary collector, "
            "residential/unclassified/service local, footway/path/pedestrian/steps pedestrian (judgement)",
            "land_use": f"{n_lu} of {len(gen.block_list)} blocks from OSM landuse, leisure, buildings and shops; "
            "the rest residential (judgement)",
            "population": f"judgement: {density:g} people per km² of the box, split 55/35/10",
            "poles": "judgement: as make-district (docs/districts.md): spacing per road class scaled to ~125 per km²",
        },
    }
    head = (
        f"# District imported from OpenStreetMap by simulation.config.osm.import_osm (seed {seed}).\n"
        "# Map data (c) OpenStreetMap contributors, ODbL 1.0. Infrastructure modelled, NOT surveyed.\n"
    )
    write_district(Path(out_dir), gen, gen.street_items, lambda n: f"osm-{n}", (lat0, lon0), meta, head)
    return ImportReport(len(data.ways), len(gen.edges), len(gen.block_list), n_lu, gen.nodes_dropped)
