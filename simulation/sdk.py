"""The service SDK: everything a company's service sees of the sandbox, and nothing else.

A service is a policy: it gets plain-data messages (:class:`SiteView` once, an
:class:`Observation` every decision tick) and returns plain-data :class:`Action` objects. It never
touches the simulation's objects. Every message is a frozen dataclass that round-trips through
:func:`to_data` / :func:`from_data` (JSON- and msgpack-safe), so a sandboxed service receives the
same bytes an inline one does. A plugin imports nothing from ``simulation`` but this module.

    class MyService(Service):
        def deploy(self, site, params):
            return Deployment(feeds=("cctv.detections",))

        def on_tick(self, obs):
            return [Flag(d["id"]) for d in obs.feed("cctv.detections") if d["confidence"] > 0.8]
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "FEEDS",
    "NOTICE_TOPICS",
    "SDK_VERSION",
    "Action",
    "BlockInfo",
    "Deployment",
    "DeviceInfo",
    "Dispatch",
    "EndSummary",
    "Feedback",
    "Flag",
    "FleetUnit",
    "Install",
    "LinkInfo",
    "Notify",
    "Observation",
    "PoleInfo",
    "Reserve",
    "Service",
    "SetLight",
    "ShowParking",
    "SiteInfo",
    "SiteView",
    "Transmit",
    "View",
    "from_data",
    "to_data",
]

SDK_VERSION = "1.0"

#: Feeds a service may subscribe to, with what each item holds.
FEEDS: Mapping[str, str] = {
    "cctv.detections": "AI-camera detections since the last tick: id, camera, time_s, label, confidence, x, y",
    "wifi.load": "per operated AP: id, clients, mbps, up",
    "infra.status": "poles and links that changed state: id, kind, up",
    "lights.presence": "people counted near each pole (from WiFi probes): pole, people",
    "sdot.readings": "S-DoT sensor readings (every 2 min) since the last tick, in the published S-DoT columns: "
    "sensor, serial, time_s, measured_at (yyyymmddhhmm), pm25, pm10, temperature_c, humidity_pct, wind and gust, "
    "illuminance_lux, uv_index, noise_db, vibration_*, black_globe_temperature_c, pm25_corrected, pm10_corrected",
    "logistics.requests": "delivery requests routed to this service since the last tick: id, kind, origin, "
    "origin_x, origin_y, dest, dest_x, dest_y, created_s, deadline_s, value_krw, weight_kg",
    "ev.chargers": "every EV charger and drone dock: id, kind, pole, x, y, up, pads, busy, queue, reserved",
    "parking.occupancy": "blocks sensed by this service's parking_sensor modules whose latest LoRaWAN uplink got "
    "through: sensor, block, x, y, spaces, occupied, free",
    "iot.network": "LoRaWAN gateways (id, kind='gateway', pole, up, load) and this service's own IoT devices "
    "(id, kind, pole, gateway, sf, delivery_pct)",
    "cellular.load": "every 5G small cell: id, pole, clients, mbps, up",
}

#: ``Notify`` topics the world answers, with what complying citizens do.
NOTICE_TOPICS: Mapping[str, str] = {
    "heat": "stay in or go to a cooling shelter for 3 h (errands wait; counts as indoors for heat exposure)",
    "air_quality": "stay indoors for the scenario's shelter_min (lower PM2.5 exposure)",
    "parking": "message is a block id: drivers arriving within 5 min to destinations in the radius are guided there",
    "outage": "avoid the area for 2 h: errands inside it go to the nearest like block outside",
    "safety": "stay in for 30 min, then avoid the area for 30 min",
    "crowd": "avoid the area for 2 h: errands inside it go to the nearest like block outside",
}


# --------------------------------------------------------------------------- site view
@dataclass(frozen=True, slots=True)
class PoleInfo:
    """An S-Pole as a service sees it: where, what it carries, and what room is left."""

    id: str
    x: float
    y: float
    model: str
    road_class: str
    modules: tuple[str, ...]
    free_slots: int
    power_headroom_w: float
    link: str


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """An installed module (AP, camera, sensor, ...) and its properties."""

    id: str
    kind: str
    pole: str
    x: float
    y: float
    props: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LinkInfo:
    """A fibre link of the backhaul tree (``a`` is nearer the control centre)."""

    id: str
    a: str
    b: str
    capacity_mbps: float
    level: str


@dataclass(frozen=True, slots=True)
class SiteInfo:
    """A control centre, cabinet, police or fire station, or hub."""

    id: str
    kind: str
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class BlockInfo:
    """A city block: land use, residents, jobs, centroid."""

    id: str
    land_use: str
    residents: int
    jobs: int
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class SiteView:
    """The read-only district a service deploys into (local metres, origin at the centre)."""

    district: str
    poles: tuple[PoleInfo, ...]
    devices: tuple[DeviceInfo, ...]
    links: tuple[LinkInfo, ...]
    sites: tuple[SiteInfo, ...]
    blocks: tuple[BlockInfo, ...]
    module_types: Mapping[str, Mapping[str, Any]]
    control_centre: Mapping[str, Any]
    tick_s: float
    duration_s: float
    no_fly: tuple[Mapping[str, Any], ...] = ()  # drone no-fly zones: id, x, y, radius_m, reason

    def devices_of(self, kind: str) -> tuple[DeviceInfo, ...]:
        """Installed devices of one kind (``"camera"``, ``"ap"``, ...)."""
        return tuple(d for d in self.devices if d.kind == kind)


# --------------------------------------------------------------------------- deployment
@dataclass(frozen=True, slots=True)
class Install:
    """Mount one module of a catalogue type on a pole; ``id`` names it in later actions."""

    pole: str
    module: str
    id: str = ""


@dataclass(frozen=True, slots=True)
class FleetUnit:
    """A group of identical vehicles a service brings (the manifest's ``fleet`` block).

    ``kind`` is ``"drone"`` (flies straight, charges at drone docks), ``"robot"`` (sidewalk robot on
    streets) or ``"van"`` (on streets); both charge at S-Pole EV chargers. ``home`` names the dock,
    charger or hub where the units start and charge (empty: the world picks). Units are named
    ``<service>:<kind>-<n>`` in ``Observation.fleet`` and in ``Dispatch``.
    """

    kind: str
    units: int
    speed_m_s: float
    battery_min: float
    home: str = ""
    capex_krw_per_unit: float = 0.0


@dataclass(frozen=True, slots=True)
class Deployment:
    """What a service asks for at start: modules to mount, devices it operates, feeds it reads.

    A service with a ``fleet`` gets ``market_share`` (0..1) of the district's delivery requests
    through the ``logistics.requests`` feed; ``None`` takes the share from its ``market_share`` param.
    """

    installs: tuple[Install, ...] = ()
    operates: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    fleet: tuple[FleetUnit, ...] = ()
    market_share: float | None = None


# --------------------------------------------------------------------------- observation
@dataclass(frozen=True, slots=True)
class Feedback:
    """What became of one action of the previous tick."""

    index: int
    action: str
    accepted: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Observation:
    """What a service learns at a decision tick."""

    time_s: float
    clock: str
    tick: int
    daylight: bool
    weather: Mapping[str, Any]
    feeds: Mapping[str, tuple[Mapping[str, Any], ...]]
    modules: tuple[Mapping[str, Any], ...] = ()
    feedback: tuple[Feedback, ...] = ()
    fleet: tuple[Mapping[str, Any], ...] = ()  # own units: id, kind, state, x, y, battery_min, request, home

    def feed(self, name: str) -> tuple[Mapping[str, Any], ...]:
        """Items of one subscribed feed since the last tick (empty if none)."""
        return self.feeds.get(name, ())


@dataclass(frozen=True, slots=True)
class EndSummary:
    """Sent once when the run ends."""

    time_s: float
    actions: int
    rejected: int


# --------------------------------------------------------------------------- actions
@dataclass(frozen=True, slots=True)
class Action:
    """Base of every action. The world validates each one and reports back in ``feedback``."""

    kind: ClassVar[str] = "action"


@dataclass(frozen=True, slots=True)
class Flag(Action):
    """Escalate a detection to the control centre; flagged streams are seen first."""

    kind: ClassVar[str] = "flag"
    detection: str
    priority: int = 1


@dataclass(frozen=True, slots=True)
class View(Action):
    """Put these cameras on the operators' video wall until the next View."""

    kind: ClassVar[str] = "view"
    cameras: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SetLight(Action):
    """Set streetlights on these poles to ``level`` (0 = off, 1 = full)."""

    kind: ClassVar[str] = "set_light"
    poles: tuple[str, ...]
    level: float


@dataclass(frozen=True, slots=True)
class Notify(Action):
    """Send a message on ``topic`` to people within ``radius_m`` of (x, y)."""

    kind: ClassVar[str] = "notify"
    topic: str
    message: str
    x: float
    y: float
    radius_m: float


@dataclass(frozen=True, slots=True)
class ShowParking(Action):
    """Point a ``display`` the service installed at a block with free spaces (``""`` blanks it)."""

    kind: ClassVar[str] = "show_parking"
    display: str
    block: str


@dataclass(frozen=True, slots=True)
class Dispatch(Action):
    """Send one of the service's fleet units to serve a request."""

    kind: ClassVar[str] = "dispatch"
    unit: str
    request: str


@dataclass(frozen=True, slots=True)
class Reserve(Action):
    """Reserve a charger or dock for a unit from ``start_s`` for ``minutes``."""

    kind: ClassVar[str] = "reserve"
    charger: str
    unit: str
    start_s: float
    minutes: float


@dataclass(frozen=True, slots=True)
class Transmit(Action):
    """Stream ``mbps`` from a module the service installed over the district backhaul."""

    kind: ClassVar[str] = "transmit"
    device: str
    mbps: float


# --------------------------------------------------------------------------- service
class Service:
    """Base class of every service. Override :meth:`deploy` and :meth:`on_tick`.

    ``self.random`` is the service's own seeded stream, set by the host before ``deploy``;
    use it and nothing else for randomness, so that runs are reproducible.
    """

    random: random.Random

    def deploy(self, site: SiteView, params: Mapping[str, Any]) -> Deployment:
        """Once, at start: say what to install, which devices to operate, which feeds to read."""
        return Deployment()

    def on_tick(self, obs: Observation) -> Sequence[Action]:
        """Every decision interval: return the actions to take now."""
        return []

    def on_end(self, summary: EndSummary) -> None:
        """Once, when the run ends (optional)."""


# --------------------------------------------------------------------------- plain data
_TYPES: dict[str, type] = {
    c.__name__: c
    for c in (
        PoleInfo,
        DeviceInfo,
        LinkInfo,
        SiteInfo,
        BlockInfo,
        SiteView,
        Install,
        FleetUnit,
        Deployment,
        Feedback,
        Observation,
        EndSummary,
        Flag,
        View,
        SetLight,
        Notify,
        Dispatch,
        Reserve,
        Transmit,
        ShowParking,
    )
}
_ACTIONS = {c.__name__ for c in (Flag, View, SetLight, Notify, Dispatch, Reserve, Transmit, ShowParking)}
# Field names per message class, computed once (dataclasses.fields() per call is slow).
_FIELDS: dict[type, tuple[str, ...]] = {c: tuple(f.name for f in dataclasses.fields(c)) for c in _TYPES.values()}
_FIELD_SETS: dict[str, frozenset[str]] = {c.__name__: frozenset(names) for c, names in _FIELDS.items()}


_SCALARS = frozenset((str, int, float, bool))


def to_data(obj: Any) -> Any:
    """A message as plain data (dicts with a ``"type"`` key, lists, str, numbers, bools, None)."""
    if obj is None or type(obj) in _SCALARS:  # fast path: feeds are mostly numbers and strings
        return obj
    names = _FIELDS.get(type(obj))
    if names is None and dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        names = tuple(f.name for f in dataclasses.fields(obj))
    if names is not None:
        out: dict[str, Any] = {"type": type(obj).__name__}
        for n in names:
            out[n] = to_data(getattr(obj, n))
        return out
    if isinstance(obj, Mapping):
        return {str(k): to_data(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_data(v) for v in obj]
    return obj


def _tuples(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_tuples(x) for x in v)
    if isinstance(v, dict):
        if "type" in v and v["type"] in _TYPES:
            return from_data(v)
        return {k: _tuples(x) for k, x in v.items()}
    return v


def _build(cls: type, name: str, kwargs: dict[str, Any]) -> Any:
    """``cls(**kwargs)`` with from_data's checks: no unknown field, every float finite."""
    extra = kwargs.keys() - _FIELD_SETS[name]
    if extra:
        raise ValueError(f"{name} has no field {sorted(extra)[0]!r}")
    try:
        obj = cls(**kwargs)
    except TypeError as exc:
        raise ValueError(f"{name}: {exc}") from None
    for n in _FIELDS[cls]:
        v = getattr(obj, n)
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"{name}.{n} must be a finite number; got {v!r}")
    return obj


def from_data(data: Any, *, actions_only: bool = False) -> Any:
    """Rebuild a message from :func:`to_data` output; raise ``ValueError`` on anything else."""
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ValueError(f"expected a message with a 'type'; got {type(data).__name__}")
    name = data["type"]
    if actions_only and name not in _ACTIONS:
        raise ValueError(f"unknown action type {name!r}; actions are {', '.join(sorted(_ACTIONS))}")
    cls = _TYPES.get(name)
    if cls is None:
        raise ValueError(f"unknown message type {name!r}")
    return _build(cls, name, {k: _tuples(v) for k, v in data.items() if k != "type"})


def _from_map(d: dict) -> Any:
    """msgpack ``object_hook`` (arrays unpacked as tuples): what :func:`from_data` makes of one map.

    Maps are unpacked innermost first, so a message's fields arrive already rebuilt; a map whose
    ``"type"`` names a message becomes that message, any other map stays a dict.
    """
    name = d.get("type")
    if name.__class__ is not str or name not in _TYPES:
        return d
    del d["type"]
    return _build(_TYPES[name], name, d)


def _to_map(obj: Any) -> dict:
    """msgpack ``default``: a message as the map :func:`to_data` makes of it, fields left to msgpack.

    Packing with this hook gives what packing ``to_data(obj)`` gives, without first building the
    plain-data copy in Python (mapping keys that are not strings are left to the receiver).
    """
    names = _FIELDS.get(type(obj))
    if names is None:
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            names = tuple(f.name for f in dataclasses.fields(obj))
        elif isinstance(obj, Mapping):
            return dict(obj)
        else:
            raise TypeError(f"cannot send a {type(obj).__name__}")
    out: dict[str, Any] = {"type": type(obj).__name__}
    for n in names:
        out[n] = getattr(obj, n)
    return out
