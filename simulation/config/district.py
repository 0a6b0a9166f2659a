"""Districts: ``district.yaml`` (metadata) + ``layout.geojson`` (what exists, where) -> District.

The format is documented in ``docs/districts.md``. Coordinates in the GeoJSON are WGS84 lon/lat
(RFC 7946), so the file opens unchanged in GIS tools; the loader projects them to metres on a local
plane around the district's origin, which is what the simulation works in.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import networkx as nx
from pydantic import Field
from scipy.spatial import cKDTree

from simulation._files import project_path
from simulation.config._yaml import MAX_YAML_BYTES, Strict, parse_model, parse_yaml, read_bytes_capped, read_yaml
from simulation.errors import DistrictError

__all__ = [
    "DISTRICTS_DIR",
    "Block",
    "Device",
    "District",
    "Link",
    "ModuleType",
    "Pole",
    "PoleModel",
    "Site",
    "Street",
    "list_districts",
    "load_district",
    "load_pole_catalogue",
]

DISTRICTS_DIR = Path(__file__).resolve().parents[2] / "districts"
#: Largest layout.geojson a district may have (checked before it is parsed).
MAX_GEOJSON_BYTES = 32 << 20
LAND_USES = ("residential", "commercial", "office", "industrial", "mixed", "park")
ROAD_CLASSES = ("arterial", "collector", "local", "pedestrian")
DEVICE_KINDS = ("ap", "camera", "sensor", "gateway", "small_cell", "ev_charger", "drone_dock")
SITE_KINDS = ("control_centre", "cabinet", "police", "fire", "hub")
M_PER_DEG_LAT = 110_540.0
M_PER_DEG_LON_EQ = 111_320.0


# --------------------------------------------------------------------------- pole catalogue
class ModuleType(Strict):
    """A kind of module that mounts on an S-Pole: slots it takes and power it draws."""

    slots: int = Field(ge=0)
    power_w: float = Field(ge=0)
    idle_power_w: float | None = Field(default=None, ge=0)
    bandwidth_mbps: float = Field(default=0.0, ge=0)
    description: str = ""


class PoleModel(Strict):
    """One of the city's S-Pole standard models (a variant per road condition)."""

    road_classes: tuple[Literal["arterial", "collector", "local", "pedestrian"], ...]
    height_m: float = Field(gt=0)
    slots: int = Field(ge=1)
    power_budget_w: float = Field(gt=0)
    mounts: tuple[str, ...]
    description: str = ""


class ModuleCost(Strict):
    """What one module costs to buy and to mount on a pole, and where the figure comes from."""

    capex_krw: float = Field(ge=0, description="purchase, per unit")
    install_krw: float = Field(ge=0, description="mounting and connection, per unit")
    source: str = Field(min_length=1, description="a published source (see docs/sources.md) or 'judgement'")


class PoleCatalogue(Strict):
    """The catalogue file: module types, pole models and what each module costs."""

    modules: dict[str, ModuleType]
    models: dict[str, PoleModel]
    module_costs: dict[str, ModuleCost] = Field(default_factory=dict)


def load_pole_catalogue(path: Path | None = None) -> PoleCatalogue:
    """Load ``districts/pole_models.yaml`` (or ``path``) and check models mount known modules."""
    path = path or DISTRICTS_DIR / "pole_models.yaml"
    cat = parse_model(PoleCatalogue, read_yaml(path, DistrictError), path, DistrictError)
    for name, model in cat.models.items():
        for m in model.mounts:
            if m not in cat.modules:
                raise DistrictError(
                    path,
                    f"mounts unknown module {m!r}; known modules: {', '.join(sorted(cat.modules))}",
                    key=f"models.{name}.mounts",
                )
    for m in cat.module_costs:
        if m not in cat.modules:
            raise DistrictError(
                path,
                f"costs an unknown module {m!r}; known modules: {', '.join(sorted(cat.modules))}",
                key=f"module_costs.{m}",
            )
    return cat


# --------------------------------------------------------------------------- district.yaml
class Origin(Strict):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class ControlCentre(Strict):
    """The district control centre: operators per shift and its connections."""

    operators_day: int = Field(ge=1, description="operators on the 07:00-19:00 shift")
    operators_night: int = Field(ge=1, description="operators on the 19:00-07:00 shift")
    screens_per_operator: int = Field(default=16, ge=1)
    integrated: bool = Field(description="connected to the city's integrated centre and police/fire dispatch")


class Population(Strict):
    """People present on a typical working day."""

    residents: int = Field(ge=0)
    workers: int = Field(ge=0, description="commuters who work in the district")
    visitors: int = Field(ge=0)


class DistrictMeta(Strict):
    name: str
    title: str
    description: str = ""
    surveyed: bool = False
    origin: Origin
    population: Population
    control_centre: ControlCentre
    notes: dict[str, str] = Field(default_factory=dict)


# --------------------------------------------------------------------------- elements
@dataclass(frozen=True, slots=True)
class Street:
    """An edge of the street graph between two intersections."""

    id: str
    u: str
    v: str
    road_class: str
    length_m: float
    coords: tuple[tuple[float, float], ...]  # local metres


@dataclass(frozen=True, slots=True)
class Block:
    """A city block with its land use, residents and jobs."""

    id: str
    land_use: str
    residents: int
    jobs: int
    x: float
    y: float
    area_m2: float
    node: str
    ring: tuple[tuple[float, float], ...]  # lon/lat, for maps


@dataclass(frozen=True, slots=True)
class Pole:
    """An S-Pole: where modules mount, with its model's slots and power budget."""

    id: str
    x: float
    y: float
    lon: float
    lat: float
    model: str
    road_class: str
    slots: int
    power_budget_w: float
    link: str
    modules: tuple[str, ...]
    used_slots: int
    base_power_w: float

    @property
    def free_slots(self) -> int:
        """Slots not taken by the modules already mounted."""
        return self.slots - self.used_slots


@dataclass(frozen=True, slots=True)
class Device:
    """A module mounted on a pole (AP, camera, sensor, gateway, small cell, charger, dock)."""

    id: str
    kind: str
    pole: str
    x: float
    y: float
    lon: float
    lat: float
    props: Mapping[str, Any]

    def get(self, key: str, default: Any = None) -> Any:
        """A kind-specific property (e.g. ``range_m``)."""
        return self.props.get(key, default)


@dataclass(frozen=True, slots=True)
class Link:
    """A fibre link between two nodes (pole or site) of the backhaul tree."""

    id: str
    a: str
    b: str
    capacity_mbps: float
    length_m: float
    level: str
    coords: tuple[tuple[float, float], ...]  # lon/lat


@dataclass(frozen=True, slots=True)
class Site:
    """A control centre, fibre cabinet, police or fire station, or logistics hub."""

    id: str
    kind: str
    name: str
    x: float
    y: float
    lon: float
    lat: float
    node: str


@dataclass(frozen=True)
class District:
    """An immutable pilot district in local metres, with lookups by id."""

    name: str
    meta: DistrictMeta
    catalogue: PoleCatalogue
    streets: tuple[Street, ...]
    nodes: Mapping[str, tuple[float, float]]
    blocks: tuple[Block, ...]
    poles: tuple[Pole, ...]
    devices: tuple[Device, ...]
    links: tuple[Link, ...]
    sites: tuple[Site, ...]
    digest: str
    path: Path
    geojson: Mapping[str, Any] = field(repr=False)

    @cached_property
    def pole_by_id(self) -> Mapping[str, Pole]:
        return MappingProxyType({p.id: p for p in self.poles})

    @cached_property
    def link_by_id(self) -> Mapping[str, Link]:
        return MappingProxyType({lk.id: lk for lk in self.links})

    @cached_property
    def site_by_id(self) -> Mapping[str, Site]:
        return MappingProxyType({s.id: s for s in self.sites})

    def devices_of(self, kind: str) -> tuple[Device, ...]:
        """Every device of one kind, in file order."""
        return tuple(d for d in self.devices if d.kind == kind)

    def sites_of(self, kind: str) -> tuple[Site, ...]:
        """Every site of one kind, in file order."""
        return tuple(s for s in self.sites if s.kind == kind)

    @cached_property
    def graph(self) -> nx.Graph:
        """The street graph: nodes are intersections, edge weight ``length`` in metres."""
        g = nx.Graph()
        for nid, (x, y) in self.nodes.items():
            g.add_node(nid, x=x, y=y)
        for s in self.streets:
            g.add_edge(s.u, s.v, length=s.length_m, id=s.id, road_class=s.road_class)
        return g

    @cached_property
    def parent_link(self) -> Mapping[str, str]:
        """For each backhaul node (pole, cabinet), the link towards the control centre."""
        return MappingProxyType({lk.b: lk.id for lk in self.links})

    def uplink_path(self, node: str) -> tuple[str, ...]:
        """Links from ``node`` up to the control centre, nearest first."""
        out: list[str] = []
        parents = self.parent_link
        while node in parents:
            lid = parents[node]
            out.append(lid)
            node = self.link_by_id[lid].a
        return tuple(out)

    @property
    def area_km2(self) -> float:
        """Area covered by the blocks, in km²."""
        return sum(b.area_m2 for b in self.blocks) / 1e6

    def key_figures(self) -> dict[str, Any]:
        """The figures ``python -m simulation districts`` and the app show."""
        count = {k: len(self.devices_of(k)) for k in DEVICE_KINDS}
        cams = self.devices_of("camera")
        return {
            "district": self.name,
            "title": self.meta.title,
            "area_km2": round(self.area_km2, 2),
            "residents": sum(b.residents for b in self.blocks),
            "jobs": sum(b.jobs for b in self.blocks),
            "poles": len(self.poles),
            "aps": count["ap"],
            "cameras": len(cams),
            "ai_cameras": sum(1 for c in cams if c.get("camera_type") == "ai"),
            "sensors": count["sensor"],
            "gateways": count["gateway"],
            "small_cells": count["small_cell"],
            "ev_chargers": count["ev_charger"],
            "drone_docks": count["drone_dock"],
            "fibre_km": round(sum(lk.length_m for lk in self.links) / 1000, 1),
            "streets_km": round(sum(s.length_m for s in self.streets) / 1000, 1),
            "integrated_centre": self.meta.control_centre.integrated,
        }


# --------------------------------------------------------------------------- loading
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


def _resolve_dir(name_or_path: str | Path) -> Path:
    p = project_path(name_or_path)
    if p.is_dir():
        return p
    if p.name == "district.yaml" and p.is_file():
        return p.parent
    cand = DISTRICTS_DIR / str(name_or_path)
    if cand.is_dir():
        return cand
    known = ", ".join(d.name for d in list_districts()) or "(none)"
    raise DistrictError(name_or_path, f"no such district; known districts: {known}")


def list_districts(root: Path | None = None) -> list[Path]:
    """Folders under ``districts/`` that hold a ``district.yaml``."""
    root = root or DISTRICTS_DIR
    return sorted(p.parent for p in root.glob("*/district.yaml"))


def load_district(name_or_path: str | Path) -> District:
    """Load a district by name (folder under ``districts/``) or by folder path."""
    folder = _resolve_dir(name_or_path)
    return _load(folder.resolve())


_CACHE: dict[tuple[Path, str], District] = {}


def _load(folder: Path) -> District:
    yml, geo = folder / "district.yaml", folder / "layout.geojson"
    raw_yaml = read_bytes_capped(yml, DistrictError, MAX_YAML_BYTES)
    raw_geo = read_bytes_capped(geo, DistrictError, MAX_GEOJSON_BYTES) if geo.is_file() else b""
    cat_path = folder.parent / "pole_models.yaml"
    if not cat_path.is_file():
        cat_path = DISTRICTS_DIR / "pole_models.yaml"
    raw_cat = read_bytes_capped(cat_path, DistrictError, MAX_YAML_BYTES) if cat_path.is_file() else b""
    digest = hashlib.sha256(raw_yaml + b"\0" + raw_geo + b"\0" + raw_cat).hexdigest()[:16]
    hit = _CACHE.get((folder, digest))
    if hit is not None:
        return hit
    try:
        yaml_text = raw_yaml.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DistrictError(yml, f"is not UTF-8 text (bad byte at offset {exc.start})") from None
    meta = parse_model(DistrictMeta, parse_yaml(yaml_text, yml, DistrictError), yml, DistrictError)
    catalogue = load_pole_catalogue(cat_path)
    if not raw_geo:
        raise DistrictError(geo, "file not found")
    gj = _parse_geojson(raw_geo, geo)
    if not isinstance(gj, dict) or gj.get("type") != "FeatureCollection" or not isinstance(gj.get("features"), list):
        raise DistrictError(geo, "must be a GeoJSON FeatureCollection with a 'features' list")
    d = _build(folder, meta, catalogue, gj, geo, digest)
    _CACHE[(folder, digest)] = d
    return d


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (RFC 8259); use a finite number")


def _parse_geojson(raw: bytes, geo: Path) -> Any:
    """JSON with no NaN/Infinity, no number too long to convert and no nesting deep enough to recurse."""
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise DistrictError(geo, f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except UnicodeDecodeError as exc:
        raise DistrictError(geo, f"not valid JSON (not UTF-8 text: bad byte at offset {exc.start})") from None
    except RecursionError:
        raise DistrictError(geo, "not valid JSON for a layout (nested too deep)") from None
    except ValueError as exc:
        raise DistrictError(geo, f"not valid JSON ({str(exc)[:120]})") from None


def _build(folder: Path, meta: DistrictMeta, cat: PoleCatalogue, gj: dict, geo: Path, digest: str) -> District:
    r = _Reader(geo)
    proj = _Projector(meta.origin.lat, meta.origin.lon)
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

    node_ids = list(nodes)
    tree = cKDTree([nodes[n] for n in node_ids])

    def nearest_node(x: float, y: float) -> str:
        return node_ids[int(tree.query((x, y))[1])]

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

    # Poles first without their modules; devices then mount on them.
    pole_rows = []
    for where, f in by_kind.get("pole", []):
        lon, lat = r.point(f, where)
        model = r.prop(f, where, "model", str)
        if model not in cat.models:
            raise r.fail(f"{where}.model", f"unknown pole model {model!r}; known: {', '.join(cat.models)}")
        pole_rows.append((where, f, lon, lat, model))
    pole_ids = {f["properties"]["id"] for _, f, *_ in pole_rows}

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
    link_ids = set(link_a)

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
