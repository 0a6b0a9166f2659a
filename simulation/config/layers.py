"""Reading ``layout.geojson`` layer by layer: streets, blocks, sites, poles, devices, fibre links.

Each layer has its own function; every check names the file, the feature (index and id) and the
key. :func:`build_district` runs them in order and returns the immutable
:class:`~simulation.config.district.District`. ``load_district`` in :mod:`simulation.config.district`
is the public door.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import networkx as nx
from scipy.spatial import cKDTree

from simulation.config.district_model import (
    DEVICE_KINDS,
    LAND_USES,
    M_PER_DEG_LAT,
    M_PER_DEG_LON_EQ,
    ROAD_CLASSES,
    SITE_KINDS,
    Block,
    Device,
    District,
    DistrictMeta,
    Link,
    Pole,
    PoleCatalogue,
    Site,
    Street,
)
from simulation.errors import DistrictError

__all__ = ["build_district"]


class _Projector:
    def __init__(self, lat0: float, lon0: float) -> None:
        self.lat0, self.lon0 = lat0, lon0
        self.kx = M_PER_DEG_LON_EQ * math.cos(math.radians(lat0))

    def __call__(self, lon: float, lat: float) -> tuple[float, float]:
        return ((lon - self.lon0) * self.kx, (lat - self.lat0) * M_PER_DEG_LAT)


def _polygon_area_centroid(ring: list[tuple[float, float]]) -> tuple[float, float, float]:
    a = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True):
        c = x0 * y1 - x1 * y0
        a += c
        cx += (x0 + x1) * c
        cy += (y0 + y1) * c
    a /= 2
    if abs(a) < 1e-9:
        xs, ys = zip(*ring, strict=True)
        return 0.0, sum(xs) / len(xs), sum(ys) / len(ys)
    return abs(a), cx / (6 * a), cy / (6 * a)


def _short(v: Any, limit: int = 80) -> str:
    text = repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class _Reader:
    """Reads features with errors that name the file, the feature and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, msg: str) -> DistrictError:
        return DistrictError(self.path, msg, key=where)

    def props(self, f: dict, where: str) -> dict:
        props = f.get("properties")
        if props is None:
            return {}
        if not isinstance(props, dict):
            raise self.fail(f"{where}.properties", f"must be a mapping of property: value; got {_short(props)}")
        return props

    def geometry(self, f: dict, where: str) -> dict:
        g = f.get("geometry")
        if g is None:
            return {}
        if not isinstance(g, dict):
            raise self.fail(f"{where}.geometry", f"must be a GeoJSON geometry object; got {_short(g)}")
        return g

    def prop(self, f: dict, where: str, key: str, typ: Any, default: Any = ..., **bounds: float) -> Any:
        props = self.props(f, where)
        if key not in props:
            if default is ...:
                raise self.fail(where, f"required property {key!r} is missing")
            return default
        v = props[key]
        if typ is float and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if typ is int and isinstance(v, float) and v.is_integer():
            v = int(v)
        if not isinstance(v, typ) or (isinstance(v, bool) and typ is not bool):
            raise self.fail(f"{where}.{key}", f"must be {typ.__name__}; got {_short(v)}")
        if "ge" in bounds and v < bounds["ge"]:
            raise self.fail(f"{where}.{key}", f"must be >= {bounds['ge']}; got {_short(v)}")
        if "gt" in bounds and v <= bounds["gt"]:
            raise self.fail(f"{where}.{key}", f"must be > {bounds['gt']}; got {_short(v)}")
        if "le" in bounds and v > bounds["le"]:
            raise self.fail(f"{where}.{key}", f"must be <= {bounds['le']:g}; got {_short(v)}")
        if isinstance(v, float) and not math.isfinite(v):
            raise self.fail(f"{where}.{key}", f"must be a finite number; got {_short(v)}")
        return v

    def choice(self, f: dict, where: str, key: str, allowed: tuple[str, ...]) -> str:
        v = self.prop(f, where, key, str)
        if v not in allowed:
            raise self.fail(f"{where}.{key}", f"must be one of {', '.join(allowed)}; got {v!r}")
        return str(v)

    def point(self, f: dict, where: str) -> tuple[float, float]:
        g = self.geometry(f, where)
        c = g.get("coordinates")
        if g.get("type") != "Point" or not _is_pos(c):
            raise self.fail(f"{where}.geometry", f"must be a Point [lon, lat]; got {g!r}"[:200])
        assert c is not None
        return float(c[0]), float(c[1])

    def line(self, f: dict, where: str) -> list[tuple[float, float]]:
        g = self.geometry(f, where)
        c = g.get("coordinates")
        if g.get("type") != "LineString" or not isinstance(c, list) or len(c) < 2 or not all(map(_is_pos, c)):
            raise self.fail(f"{where}.geometry", "must be a LineString of at least 2 [lon, lat] positions")
        return [(float(p[0]), float(p[1])) for p in c]

    def polygon(self, f: dict, where: str) -> list[tuple[float, float]]:
        g = self.geometry(f, where)
        c = g.get("coordinates")
        if g.get("type") != "Polygon" or not isinstance(c, list) or not c or not isinstance(c[0], list):
            raise self.fail(f"{where}.geometry", "must be a Polygon")
        ring = c[0]
        if len(ring) < 4 or not all(map(_is_pos, ring)):
            raise self.fail(f"{where}.geometry", "a Polygon ring needs at least 4 [lon, lat] positions")
        if list(ring[0][:2]) != list(ring[-1][:2]):
            raise self.fail(f"{where}.geometry", "a Polygon ring must be closed (last position = first, RFC 7946)")
        return [(float(p[0]), float(p[1])) for p in ring[:-1]]


def _is_pos(c: Any) -> bool:
    return (
        isinstance(c, list | tuple)
        and len(c) >= 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in c[:2])
        and -180 <= c[0] <= 180
        and -90 <= c[1] <= 90
    )


def build_district(folder: Path, meta: DistrictMeta, cat: PoleCatalogue, gj: dict, geo: Path, digest: str) -> District:
    """Check a parsed ``layout.geojson`` layer by layer and build the immutable :class:`District`."""
    r = _Reader(geo)
    proj = _Projector(meta.origin.lat, meta.origin.lon)
    by_kind = _features_by_kind(r, gj)
    nodes, streets = _streets(r, proj, by_kind, geo)
    node_ids = list(nodes)
    tree = cKDTree([nodes[n] for n in node_ids])

    def nearest_node(x: float, y: float) -> str:
        return node_ids[int(tree.query((x, y))[1])]

    blocks = _blocks(r, proj, by_kind, geo, nodes, nearest_node)
    sites = _sites(r, proj, by_kind, geo, nearest_node)
    pole_rows = _pole_rows(r, by_kind, cat)
    pole_ids = {f["properties"]["id"] for _, f, *_ in pole_rows}
    devices, mounted = _devices(r, proj, by_kind, pole_ids)
    links, child_of = _links(r, by_kind, geo, pole_ids, sites)
    poles = _poles(r, proj, cat, pole_rows, mounted, {lk.id for lk in links}, child_of, geo)
    return District(
        name=meta.name,
        meta=meta,
        catalogue=cat,
        streets=tuple(streets),
        nodes=MappingProxyType(nodes),
        blocks=tuple(blocks),
        poles=tuple(poles),
        devices=tuple(devices),
        links=tuple(links),
        sites=tuple(sites),
        digest=digest,
        path=folder,
        geojson=gj,
    )


_ByKind = dict[str, list[tuple[str, dict]]]


def _features_by_kind(r: _Reader, gj: dict) -> _ByKind:
    by_kind: dict[str, list[tuple[str, dict]]] = {}
    seen: set[str] = set()
    allowed = ("street", "block", "pole", "link", "site", *DEVICE_KINDS)
    for i, f in enumerate(gj["features"]):
        where = f"features[{i}]"
        if not isinstance(f, dict) or f.get("type") != "Feature":
            raise r.fail(where, "must be a GeoJSON Feature")
        kind = r.choice(f, where, "kind", allowed)
        fid = r.prop(f, where, "id", str)
        where = f"features[{i}] (id {_short(fid, 60)})"
        if fid in seen:
            raise r.fail(where, f"duplicate id {fid!r}; ids must be unique")
        seen.add(fid)
        by_kind.setdefault(kind, []).append((where, f))

    return by_kind


def _streets(
    r: _Reader, proj: _Projector, by_kind: _ByKind, geo: Path
) -> tuple[dict[str, tuple[float, float]], list[Street]]:
    nodes: dict[str, tuple[float, float]] = {}
    streets = []
    for where, f in by_kind.get("street", []):
        pts = r.line(f, where)
        u, v = r.prop(f, where, "from", str), r.prop(f, where, "to", str)
        xy = [proj(*p) for p in pts]
        for nid, p in ((u, xy[0]), (v, xy[-1])):
            old = nodes.setdefault(nid, p)
            if math.dist(old, p) > 1.0:
                raise r.fail(where, f"node {nid!r} is at two places ({old} and {p}) in local metres")
        length = sum(math.dist(a, b) for a, b in itertools.pairwise(xy))
        streets.append(
            Street(
                r.prop(f, where, "id", str),
                u,
                v,
                r.choice(f, where, "road_class", ROAD_CLASSES),
                float(r.prop(f, where, "length_m", float, default=length, gt=0)),
                tuple(xy),
            )
        )
    if not streets:
        raise DistrictError(geo, "has no street features; a district needs a street graph")
    g = nx.Graph()
    g.add_edges_from((s.u, s.v) for s in streets)
    if not nx.is_connected(g):
        parts = nx.number_connected_components(g)
        raise DistrictError(geo, f"the street graph is in {parts} pieces; it must be connected")

    return nodes, streets


def _blocks(
    r: _Reader, proj: _Projector, by_kind: _ByKind, geo: Path, nodes: Mapping[str, Any], nearest_node: Any
) -> list[Block]:
    blocks = []
    for where, f in by_kind.get("block", []):
        ring_ll = r.polygon(f, where)
        area, cx, cy = _polygon_area_centroid([proj(*p) for p in ring_ll])
        node = r.prop(f, where, "node", str, default=None)
        if node is not None and node not in nodes:
            raise r.fail(f"{where}.node", f"no street node {node!r}")
        blocks.append(
            Block(
                r.prop(f, where, "id", str),
                r.choice(f, where, "land_use", LAND_USES),
                r.prop(f, where, "residents", int, ge=0),
                r.prop(f, where, "jobs", int, ge=0),
                cx,
                cy,
                area,
                node or nearest_node(cx, cy),
                tuple(ring_ll),
            )
        )
    if not blocks:
        raise DistrictError(geo, "has no block features; a district needs blocks with land use")

    return blocks


def _sites(r: _Reader, proj: _Projector, by_kind: _ByKind, geo: Path, nearest_node: Any) -> list[Site]:
    sites = []
    for where, f in by_kind.get("site", []):
        lon, lat = r.point(f, where)
        x, y = proj(lon, lat)
        sites.append(
            Site(
                r.prop(f, where, "id", str),
                r.choice(f, where, "site_type", SITE_KINDS),
                r.prop(f, where, "name", str, default=""),
                x,
                y,
                lon,
                lat,
                nearest_node(x, y),
            )
        )
    if not any(s.kind == "control_centre" for s in sites):
        raise DistrictError(geo, "has no site with site_type 'control_centre'; fibre links lead to one")

    return sites


def _pole_rows(r: _Reader, by_kind: _ByKind, cat: PoleCatalogue) -> list[tuple[str, dict, float, float, str]]:
    """Poles first without their modules; devices then mount on them."""
    pole_rows = []
    for where, f in by_kind.get("pole", []):
        lon, lat = r.point(f, where)
        model = r.prop(f, where, "model", str)
        if model not in cat.models:
            raise r.fail(f"{where}.model", f"unknown pole model {model!r}; known: {', '.join(cat.models)}")
        pole_rows.append((where, f, lon, lat, model))
    return pole_rows


def _devices(
    r: _Reader, proj: _Projector, by_kind: _ByKind, pole_ids: set[str]
) -> tuple[list[Device], dict[str, list[str]]]:
    devices = []
    mounted: dict[str, list[str]] = {pid: [] for pid in pole_ids}
    for kind in DEVICE_KINDS:
        for where, f in by_kind.get(kind, []):
            lon, lat = r.point(f, where)
            pole = r.prop(f, where, "pole", str)
            if pole not in pole_ids:
                raise r.fail(f"{where}.pole", f"no pole {pole!r} in this district")
            props = {k: v for k, v in (f.get("properties") or {}).items() if k not in ("kind", "id", "pole")}
            for num_key in ("range_m", "capacity_mbps", "max_clients", "bitrate_mbps", "power_kw", "pads"):
                if num_key in props:
                    r.prop(f, where, num_key, float, gt=0)
            if kind == "camera":
                r.choice(f, where, "camera_type", ("plain", "ai"))
            module = "ai_camera" if kind == "camera" and props.get("camera_type") == "ai" else kind
            x, y = proj(lon, lat)
            devices.append(Device(f["properties"]["id"], kind, pole, x, y, lon, lat, MappingProxyType(props)))
            mounted[pole].append(module)

    return devices, mounted


def _links(
    r: _Reader, by_kind: _ByKind, geo: Path, pole_ids: set[str], sites: list[Site]
) -> tuple[list[Link], dict[str, str]]:
    links = []
    for where, f in by_kind.get("link", []):
        coords = r.line(f, where)
        links.append(
            Link(
                r.prop(f, where, "id", str),
                r.prop(f, where, "a", str),
                r.prop(f, where, "b", str),
                r.prop(f, where, "capacity_mbps", float, gt=0),
                r.prop(f, where, "length_m", float, gt=0),
                r.choice(f, where, "level", ("trunk", "access")),
                tuple(coords),
            )
        )
    endpoints = pole_ids | {s.id for s in sites}
    child_of: dict[str, str] = {}
    for lk in links:
        for end in (lk.a, lk.b):
            if end not in endpoints:
                raise DistrictError(geo, f"link {lk.id!r} ends at {end!r}, which is no pole or site")
        if lk.b in child_of:
            raise DistrictError(
                geo, f"node {lk.b!r} has two uplinks ({child_of[lk.b]!r}, {lk.id!r}); backhaul is a tree"
            )
        child_of[lk.b] = lk.id
    # every uplink chain must end at a control centre (no cycles, no stranded cabinets)
    link_a = {lk.id: lk.a for lk in links}
    roots = {s.id for s in sites if s.kind == "control_centre"}
    reaches: dict[str, bool] = {}
    for start in child_of:
        chain, node = [], start
        while node not in reaches and node in child_of and node not in chain:
            chain.append(node)
            node = link_a[child_of[node]]
        ok = reaches.get(node, node in roots)
        if node in chain:
            raise DistrictError(geo, f"the backhaul has a cycle through {node!r}; links must form a tree")
        if not ok:
            raise DistrictError(
                geo, f"node {start!r} has no fibre path to a control centre (its uplinks stop at {node!r})"
            )
        reaches.update(dict.fromkeys(chain, True))
    return links, child_of


def _poles(
    r: _Reader,
    proj: _Projector,
    cat: PoleCatalogue,
    pole_rows: list[tuple[str, dict, float, float, str]],
    mounted: dict[str, list[str]],
    link_ids: set[str],
    child_of: dict[str, str],
    geo: Path,
) -> list[Pole]:
    poles = []
    for where, f, lon, lat, model_name in pole_rows:
        pm = cat.models[model_name]
        pid = f["properties"]["id"]
        link = r.prop(f, where, "link", str)
        if link not in link_ids or child_of.get(pid) != link:
            raise r.fail(f"{where}.link", f"{link!r} is not a fibre link whose end 'b' is this pole")
        mods = ["light", *sorted(mounted[pid])]
        for m in mods:
            if m not in pm.mounts:
                raise r.fail(where, f"pole model {model_name!r} cannot mount {m!r}; it mounts {', '.join(pm.mounts)}")
        used = sum(cat.modules[m].slots for m in mods)
        power = sum(cat.modules[m].power_w for m in mods)
        if used > pm.slots:
            raise r.fail(where, f"modules take {used} slots but model {model_name!r} has {pm.slots}")
        if power > pm.power_budget_w:
            raise r.fail(where, f"modules draw {power:.0f} W but model {model_name!r} allows {pm.power_budget_w:.0f} W")
        x, y = proj(lon, lat)
        poles.append(
            Pole(
                pid,
                x,
                y,
                lon,
                lat,
                model_name,
                r.choice(f, where, "road_class", ROAD_CLASSES),
                pm.slots,
                pm.power_budget_w,
                link,
                tuple(mods),
                used,
                power,
            )
        )
    if not poles:
        raise DistrictError(geo, "has no pole features")

    return poles
