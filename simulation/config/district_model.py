"""What a district is: the pole catalogue, the metadata of ``district.yaml`` and the immutable objects a
layout becomes (streets, blocks, poles, devices, links, sites, the District itself).

Reading the files is :mod:`simulation.config.district` (and its per-layer reader,
:mod:`simulation.config.layers`); this module holds the types both use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import networkx as nx
from pydantic import Field

from simulation.config._yaml import Strict, parse_model, read_yaml
from simulation.errors import DistrictError

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
