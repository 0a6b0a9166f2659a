"""Infrastructure placement by the S-Pole standard model, shared by every way of making a district.

Given a street graph (nodes in local metres, edges with a road class), blocks with land use and
sites, :class:`Placement` puts S-Poles along the streets at the spacing of each road class
(arterial, collector, local, pedestrian), mounts the devices (small cells, EV chargers, drone docks,
LoRaWAN gateways, S-DoT sensors, plain and AI cameras, WiFi APs) within each pole model's slots and
power budget, and draws a fibre tree from the control centre through street cabinets to every pole.
:func:`write_district` then writes ``district.yaml`` + ``layout.geojson`` (atomically).

Two street makers use it: the synthetic grid of :mod:`simulation.config.generator` and the
OpenStreetMap importer :mod:`simulation.config.osm`. A maker subclasses :class:`Placement` and
supplies ``chains()`` (runs of street edges along which the pole rhythm continues) and
``side_block()`` (the block beside a street edge). Every draw comes from the maker's one
``numpy.random.Generator``, in a fixed order, so the same inputs give byte-identical files.
The figures below are judgement unless marked (documented in ``docs/districts.md``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np

from simulation._files import write_atomic
from simulation.config._yaml import dump_yaml
from simulation.config.district import M_PER_DEG_LAT, M_PER_DEG_LON_EQ, PoleCatalogue
from simulation.config.geometry import apportion, area_centroid, bisect, dedupe, farthest, polyline_length, weighted

__all__ = ["BlockShape", "PlacedPole", "Placement", "apportion", "area_centroid", "write_district"]

Edge = tuple[Any, Any]
XY = tuple[float, float]

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
# People per m² of block, relative: where residents live and where jobs are.

_RES_WEIGHT = {"residential": 1.0, "mixed": 0.6, "commercial": 0.1, "office": 0.04, "industrial": 0.03, "park": 0.0}
_JOB_WEIGHT = {"office": 1.0, "commercial": 0.7, "industrial": 0.45, "mixed": 0.35, "residential": 0.05, "park": 0.01}
_AP_WEIGHT = {"commercial": 3.0, "office": 2.5, "mixed": 2.0, "park": 1.6, "residential": 1.1, "industrial": 0.6}
_CAM_WEIGHT = {"commercial": 1.4, "park": 1.4, "mixed": 1.2, "residential": 1.1, "office": 1.0, "industrial": 0.8}


@dataclass
class PlacedPole:
    """A pole being placed: where, on which street, and what it carries so far."""

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
class BlockShape:
    """A block being made: its ring in local metres, land use, residents and jobs."""

    id: str
    ring: list[XY]  # counter-clockwise, open, local metres
    area: float
    cx: float
    cy: float
    frontage: set[str]
    land_use: str = "residential"
    residents: int = 0
    jobs: int = 0


# --------------------------------------------------------------------------- placement
class Placement:
    """Poles, devices and fibre on a street graph; subclasses supply the streets and blocks.

    A subclass sets ``nodes`` (node -> local metres), ``edges`` ((a, b) -> road class),
    ``paths`` (edges that get at least one pole however short), ``street_id`` (edge -> id),
    ``block_list`` and ``site_list`` before calling :meth:`poles`, :meth:`devices` and :meth:`fibre`.
    """

    nodes: dict[Any, XY]
    edges: dict[Edge, str]
    paths: list[Edge]
    street_id: dict[Edge, str]
    block_list: list[BlockShape]
    site_list: list[tuple[str, str, XY]]

    def __init__(self, rng: np.random.Generator, cat: PoleCatalogue, gross_km2: float) -> None:
        self.rng, self.cat, self.gross_km2 = rng, cat, gross_km2
        self.model_of: dict[str, str] = {}
        for rc in ("arterial", "collector", "local", "pedestrian"):
            models = [m for m, pm in cat.models.items() if rc in pm.road_classes]
            if not models:
                raise ValueError(f"the pole catalogue has no model for road class {rc!r}")
            self.model_of[rc] = models[0]

    def chains(self) -> list[tuple[list[Edge], bool]]:
        """Runs of edges along which the pole rhythm continues, each with 'on the district's edge'."""
        raise NotImplementedError

    def side_block(self, e: Edge, side: int) -> BlockShape:
        """The block on the left (side +1) or right (-1) of a street edge."""
        raise NotImplementedError

    def population(self, residents: int, workers: int) -> None:
        """Spread residents and jobs over the blocks by land use and area (sums are exact)."""
        rng, blocks = self.rng, self.block_list
        noise = rng.lognormal(0, 0.25, size=(2, len(blocks)))
        res_w = [b.area * _RES_WEIGHT[b.land_use] * noise[0, k] for k, b in enumerate(blocks)]
        job_w = [b.area * _JOB_WEIGHT[b.land_use] * noise[1, k] for k, b in enumerate(blocks)]
        for b, r, j in zip(blocks, apportion(residents, res_w), apportion(workers, job_w), strict=True):
            b.residents, b.jobs = r, j

    def poles(self) -> None:
        """S-Poles along every chain at its road class's spacing, alternating sides, model by road class."""
        rng = self.rng
        chains = self.chains()
        nominal = [
            math.dist(self.nodes[a], self.nodes[b]) / POLE_SPACING_M[self.edges[(a, b)]]
            for c, _ in chains
            for a, b in c
        ]
        expected = sum(nominal)
        self.spacing_factor = min(6.0, max(0.75, expected / (POLES_PER_KM2 * self.gross_km2)))
        self.pole_list: list[PlacedPole] = []
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
                    p = PlacedPole(
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

    def can_mount(self, p: PlacedPole, module: str) -> bool:
        """Whether the pole's model mounts ``module`` and has the slots and power left for it."""
        pm, mt = self.cat.models[p.model], self.cat.modules[module]
        fits = p.used_slots + mt.slots <= pm.slots and p.power_w + mt.power_w <= pm.power_budget_w
        return module in pm.mounts and fits

    # devices ----------------------------------------------------------------------------------
    def devices(self, ai_share: float) -> None:
        """Mount small cells, chargers, docks, gateways, sensors, cameras (``ai_share`` AI) and APs."""
        rng, poles = self.rng, self.pole_list
        self.device_list: list[tuple[str, PlacedPole, dict[str, Any]]] = []

        def mount(kind: str, module: str, p: PlacedPole, props: dict[str, Any]) -> None:
            mt = self.cat.modules[module]
            p.used_slots += mt.slots
            p.power_w += mt.power_w
            p.modules.append(module)
            self.device_list.append((kind, p, props))

        def cands(module: str, models: tuple[str, ...] | None = None, avoid: str = "") -> list[PlacedPole]:
            return [
                p
                for p in poles
                if self.can_mount(p, module) and (models is None or p.model in models) and avoid not in p.modules
            ]

        def spread(
            module: str, n: int, models: tuple[str, ...] | None, first: XY | None = None, avoid: str = ""
        ) -> list[PlacedPole]:
            c = cands(module, models, avoid)
            if not c:
                return []
            pts = np.array([(p.x, p.y) for p in c])
            start = None if first is None else int(np.argmin(np.hypot(pts[:, 0] - first[0], pts[:, 1] - first[1])))
            return [c[k] for k in sorted(farthest(rng, pts, n, start))]

        big = (self.model_of["arterial"], self.model_of["collector"])
        a = self.gross_km2
        for p in spread("small_cell", round(SMALL_CELLS_PER_KM2 * a), big):
            mount("small_cell", "small_cell", p, {"capacity_mbps": 800, "range_m": 150})
        ev = cands("ev_charger", avoid="drone_dock")
        for k in weighted(
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
        chosen = [cam[k] for k in weighted(rng, cam_w, round(CAMERA_SHARE * len(poles)))]
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
        for k in weighted(rng, ap_w, round(ap_share * len(poles))):
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
        """The sites of one kind, in order."""
        return [s for s in self.site_list if s[0] == kind]

    def fibre(self) -> None:
        """Cabinets for compact groups of poles, trunks from the control centre, an access link per pole."""
        poles = self.pole_list
        g = nx.Graph()
        for a, b in self.edges:
            g.add_edge(a, b, length=math.dist(self.nodes[a], self.nodes[b]))
        cc_xy = self.sites_of("control_centre")[0][2]
        # 4-6 cabinets (one cut loses 17-25% of poles); big grids get one per ~50 poles instead.
        k = min(6, max(4, round(2 * self.gross_km2 + 1)))
        k = min(len(poles), k if len(poles) <= 60 * k else math.ceil(len(poles) / 50))
        self.cabinets: list[tuple[str, XY, PlacedPole]] = []
        self.link_list: list[dict[str, Any]] = []
        cc_node = min(self.nodes, key=lambda n: (math.dist(self.nodes[n], cc_xy), n))
        cc_dist, cc_path = nx.single_source_dijkstra(g, cc_node, weight="length")
        for s, sector in enumerate(bisect(poles, k), start=1):
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

    def foot(self, p: PlacedPole) -> XY:
        """The point on the street axis beside a pole."""
        (x0, y0), (x1, y1) = self.nodes[p.edge[0]], self.nodes[p.edge[1]]
        length = math.hypot(x1 - x0, y1 - y0)
        return (x0 + (x1 - x0) * p.t / length, y0 + (y1 - y0) * p.t / length)

    def add_link(self, lid: str, level: str, a: str, b: str, cap: float, pts: list[XY]) -> None:
        """Record a fibre link along ``pts``."""
        pts = dedupe(pts)
        if len(pts) < 2:
            pts = [pts[0], (pts[0][0] + 0.5, pts[0][1])]
        self.link_list.append(
            {
                "id": lid,
                "level": level,
                "a": a,
                "b": b,
                "capacity_mbps": cap,
                "length_m": round(max(0.1, polyline_length(pts)), 1),
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
def _feat(geom_type: str, coords: Any, props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": geom_type, "coordinates": coords}, "properties": props}


def write_district(
    out_dir: Path,
    p: Placement,
    street_items: list[tuple[Edge, str]],
    node_id: Any,
    origin: XY,
    meta: dict[str, Any],
    head: str,
    street_coords: dict[Edge, list[XY]] | None = None,
) -> dict[str, int]:
    """Write ``layout.geojson`` and ``district.yaml`` (each atomically) for a placed district.

    Args:
        out_dir: Folder to write into (created if missing).
        p: The placement, after :meth:`Placement.fibre`.
        street_items: ``((a, b), road_class)`` in file order; ids come from ``p.street_id``.
        node_id: Function from a graph node to its id string in the file.
        origin: ``(lat, lon)`` of the local metre plane's origin.
        meta: The ``district.yaml`` mapping.
        head: Comment lines written above the YAML.
        street_coords: Optional polyline per street edge (local metres); default a straight line.

    Returns:
        The number of devices of each kind.
    """
    origin_lat, origin_lon = origin
    kx = M_PER_DEG_LON_EQ * math.cos(math.radians(origin_lat))

    def ll(q: XY) -> list[float]:
        return [round(origin_lon + q[0] / kx, 7), round(origin_lat + q[1] / M_PER_DEG_LAT, 7)]

    feats = []
    for (a, b), cls in street_items:
        pts = (street_coords or {}).get((a, b)) or [p.nodes[a], p.nodes[b]]
        feats.append(
            _feat(
                "LineString",
                [ll(q) for q in pts],
                {
                    "kind": "street",
                    "id": p.street_id[(a, b)],
                    "from": node_id(a),
                    "to": node_id(b),
                    "road_class": cls,
                    "length_m": round(polyline_length(pts), 1) if len(pts) > 2 else round(math.dist(*pts), 1),
                },
            )
        )
    for bl in p.block_list:
        ring = [ll(q) for q in bl.ring]
        feats.append(
            _feat(
                "Polygon",
                [[*ring, ring[0]]],
                {"kind": "block", "id": bl.id, "land_use": bl.land_use, "residents": bl.residents, "jobs": bl.jobs},
            )
        )
    n_site: dict[str, int] = {}
    for kind, sname, xy in p.site_list:
        n_site[kind] = n_site.get(kind, 0) + 1
        sid = "cc" if kind == "control_centre" else f"{kind}-{n_site[kind]}"
        feats.append(_feat("Point", ll(xy), {"kind": "site", "id": sid, "site_type": kind, "name": sname}))
    for cab_id, xy, _ in p.cabinets:
        props = {"kind": "site", "id": cab_id, "site_type": "cabinet", "name": f"Fibre cabinet {cab_id[4:]}"}
        feats.append(_feat("Point", ll(xy), props))
    for lk in p.link_list:
        props = {"kind": "link", **{k: v for k, v in lk.items() if k != "pts"}}
        feats.append(_feat("LineString", [ll(q) for q in lk["pts"]], props))
    for pl in p.pole_list:
        props = {"kind": "pole", "id": pl.id, "model": pl.model, "road_class": pl.road_class, "street": pl.street}
        feats.append(_feat("Point", ll((pl.x, pl.y)), {**props, "link": pl.link}))
    on_pole: dict[str, int] = {}
    per_kind = {kind: sum(1 for d in p.device_list if d[0] == kind) for kind in _KIND_ORDER}
    counts: dict[str, int] = {}
    for kind, pl, props in p.device_list:
        counts[kind] = counts.get(kind, 0) + 1
        did = f"{_PREFIX[kind]}-{counts[kind]:0{max(3, len(str(per_kind[kind])))}d}"
        k = on_pole[pl.id] = on_pole.get(pl.id, 0) + 1
        xy = (pl.x + math.cos(k * math.pi / 4), pl.y + math.sin(k * math.pi / 4))  # 1 m from the pole
        feats.append(_feat("Point", ll(xy), {"kind": kind, "id": did, "pole": pl.id, **props}))
    lines = [json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in feats]
    geo = '{"type": "FeatureCollection", "features": [\n' + ",\n".join(lines) + "\n]}\n"
    text = head + dump_yaml(meta, sort_keys=False, allow_unicode=True, width=100)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(out_dir / "layout.geojson", geo.encode("utf-8"))
    write_atomic(out_dir / "district.yaml", text.encode("utf-8"))
    return per_kind
