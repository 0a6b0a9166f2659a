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
import json
import math
import random
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, TypedDict

__all__ = [
    "FEEDS",
    "LOG_MARK",
    "NOTICE_TOPICS",
    "SDK_VERSION",
    "Action",
    "BlockInfo",
    "CellularLoadItem",
    "ChargerItem",
    "DeliveryRequestItem",
    "Deployment",
    "DetectionItem",
    "DeviceInfo",
    "Dispatch",
    "EndSummary",
    "Feedback",
    "Flag",
    "FleetUnit",
    "FleetUnitItem",
    "InfraStatusItem",
    "Install",
    "IotNetworkItem",
    "LinkInfo",
    "ModuleItem",
    "Notify",
    "Observation",
    "ParkingOccupancyItem",
    "PoleInfo",
    "PresenceItem",
    "ReservationItem",
    "Reserve",
    "SdotReadingItem",
    "Service",
    "SetLight",
    "ShowParking",
    "SiteInfo",
    "SiteView",
    "Transmit",
    "View",
    "WeatherItem",
    "WifiLoadItem",
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


# --------------------------------------------------------------------------- feed items
# Every item a service receives — of every feed, of ``Observation.modules``, ``Observation.fleet``
# and ``Observation.weather`` — is a plain ``dict`` (read-only by convention), the same kind
# everywhere, whose keys are declared here as a ``TypedDict``. ``Annotated[type, unit, meaning]``
# gives each key's unit ("" when it has none) and meaning; the SDK reference in docs/sdk.md is
# generated from these declarations (``python -m simulation sdk-reference``) and a test checks
# them against what the world actually sends. A docstring line starting "Delivered:" says when.


class DetectionItem(TypedDict):
    """An AI-camera detection (some are false alarms).

    Delivered: every tick, the detections since the last tick from cameras this service operates.
    """

    id: Annotated[str, "", "detection id (pass it to Flag)"]
    camera: Annotated[str, "", "id of the camera (a DeviceInfo of kind camera)"]
    time_s: Annotated[float, "s", "when the camera raised it, seconds from the start"]
    label: Annotated[str, "", "what the analytics think it saw: crime, accident, fall or fire"]
    confidence: Annotated[float, "0-1", "the analytics' score"]
    x: Annotated[float, "m", "where (local metres, x east)"]
    y: Annotated[float, "m", "where (local metres, y north)"]


class WifiLoadItem(TypedDict):
    """The load of one access point this service operates.

    Delivered: every tick, one item per operated AP, as it is now.
    """

    id: Annotated[str, "", "AP device id"]
    clients: Annotated[int, "sessions", "sessions on it now"]
    mbps: Annotated[float, "Mbps", "throughput it carries now"]
    up: Annotated[bool, "", "its pole has power and backhaul"]


class InfraStatusItem(TypedDict):
    """A pole that went down or came back (power or backhaul).

    Delivered: every tick, the last 500 changes of the run (compare time_s to skip those already seen).
    """

    id: Annotated[str, "", "pole id"]
    kind: Annotated[str, "", "what changed: pole"]
    up: Annotated[bool, "", "the state it changed to"]
    time_s: Annotated[float, "s", "when it changed"]


class PresenceItem(TypedDict):
    """People counted near one pole (anonymous WiFi probe counts, homes included).

    Delivered: every tick, one item per pole with anybody near it now (poles with nobody are absent).
    """

    pole: Annotated[str, "", "pole id"]
    people: Annotated[int, "people", "people whose nearest pole it is"]


class SdotReadingItem(TypedDict):
    """One S-DoT environment sensor reading, in the published S-DoT columns (grade-2 sensors: gain
    error, drift, noise and a humidity artefact on the raw PM columns).

    Delivered: every tick, the readings since the last tick (every 2 min per sensor; none while a sensor is down).
    """

    sensor: Annotated[str, "", "sensor device id"]
    serial: Annotated[str, "", "the sensor's serial number"]
    model: Annotated[str, "", "sensor model"]
    time_s: Annotated[float, "s", "when it was measured"]
    measured_at: Annotated[str, "yyyymmddhhmm", "measurement time as published"]
    x: Annotated[float, "m", "sensor position"]
    y: Annotated[float, "m", "sensor position"]
    pm25: Annotated[float, "µg/m³", "PM2.5 as measured (raw)"]
    pm10: Annotated[float, "µg/m³", "PM10 as measured (raw)"]
    temperature_c: Annotated[float, "°C", "air temperature"]
    humidity_pct: Annotated[float, "%", "relative humidity"]
    wind_direction_deg: Annotated[float, "°", "wind direction"]
    wind_speed_m_s: Annotated[float, "m/s", "wind speed"]
    gust_direction_deg: Annotated[float, "°", "gust direction"]
    gust_speed_m_s: Annotated[float, "m/s", "gust speed"]
    illuminance_lux: Annotated[float, "lux", "illuminance"]
    uv_index: Annotated[float, "", "UV index"]
    noise_db: Annotated[float, "dB", "noise level"]
    vibration_x_mm_s: Annotated[float, "mm/s", "vibration, x axis"]
    vibration_y_mm_s: Annotated[float, "mm/s", "vibration, y axis"]
    vibration_z_mm_s: Annotated[float, "mm/s", "vibration, z axis"]
    vibration_x_max_mm_s: Annotated[float, "mm/s", "peak vibration, x axis"]
    vibration_y_max_mm_s: Annotated[float, "mm/s", "peak vibration, y axis"]
    vibration_z_max_mm_s: Annotated[float, "mm/s", "peak vibration, z axis"]
    black_globe_temperature_c: Annotated[float, "°C", "black-globe temperature"]
    pm25_corrected: Annotated[float, "µg/m³", "PM2.5 corrected for humidity (use this one)"]
    pm10_corrected: Annotated[float, "µg/m³", "PM10 corrected for humidity"]


class DeliveryRequestItem(TypedDict):
    """A delivery request routed to this service (its market share of the district's demand).

    Delivered: every tick, the requests routed since the last tick; undispatched after 20 minutes, a
    request goes to the conventional couriers. A service with a fleet is subscribed automatically.
    """

    id: Annotated[str, "", "request id (pass it to Dispatch)"]
    kind: Annotated[str, "", "parcel or food"]
    origin: Annotated[str, "", "pick-up place id"]
    origin_x: Annotated[float, "m", "pick-up position"]
    origin_y: Annotated[float, "m", "pick-up position"]
    dest: Annotated[str, "", "drop-off place id"]
    dest_x: Annotated[float, "m", "drop-off position"]
    dest_y: Annotated[float, "m", "drop-off position"]
    created_s: Annotated[float, "s", "when it was placed"]
    deadline_s: Annotated[float, "s", "when it is late"]
    value_krw: Annotated[float, "KRW", "what the customer pays"]
    weight_kg: Annotated[float, "kg", "weight (a drone carries up to 2.5 kg)"]


class ReservationItem(TypedDict):
    """A pad reservation on a charger or dock."""

    from_s: Annotated[float, "s", "start"]
    to_s: Annotated[float, "s", "end"]
    unit: Annotated[str, "", "the unit it is for"]


class ChargerItem(TypedDict):
    """An S-Pole EV charger or drone dock and how busy it is.

    Delivered: every tick, every charger and dock of the district, as it is now.
    """

    id: Annotated[str, "", "charger or dock device id (pass it to Reserve)"]
    kind: Annotated[str, "", "ev_charger or drone_dock"]
    pole: Annotated[str, "", "the pole it is on"]
    x: Annotated[float, "m", "position"]
    y: Annotated[float, "m", "position"]
    up: Annotated[bool, "", "it has power"]
    pads: Annotated[int, "pads", "pads it has"]
    busy: Annotated[int, "pads", "pads in use now"]
    queue: Annotated[int, "vehicles", "vehicles waiting for a pad"]
    reserved: Annotated[tuple[ReservationItem, ...], "", "reservations not yet over"]


class ParkingOccupancyItem(TypedDict):
    """On-street parking of one block, as sensed by a ``parking_sensor`` this service installed.

    Delivered: every tick, one item per sensed block (the block nearest each sensor's pole), only
    while that sensor's latest LoRaWAN uplink got through.
    """

    sensor: Annotated[str, "", "id of the parking_sensor module that sensed it"]
    block: Annotated[str, "", "block id (pass it to ShowParking, or as a parking notice's message)"]
    x: Annotated[float, "m", "block centre (local metres, x east)"]
    y: Annotated[float, "m", "block centre (local metres, y north)"]
    spaces: Annotated[int, "spaces", "on-street spaces of the block"]
    occupied: Annotated[int, "spaces", "spaces taken now"]
    free: Annotated[int, "spaces", "spaces free now"]


class IotNetworkItem(TypedDict):
    """A LoRaWAN gateway of the district (or one a service installed), or one of this service's IoT devices.

    Delivered: every tick, every gateway and every IoT device this service installed, as they are now.
    Gateways have ``kind`` "gateway", ``gateway`` "", ``sf`` 0 and ``delivery_pct`` 0; devices have ``load`` 0.
    """

    id: Annotated[str, "", "gateway or device id"]
    kind: Annotated[str, "", "gateway, sensor or parking_sensor"]
    pole: Annotated[str, "", "the pole it is on"]
    up: Annotated[bool, "", "its pole has power and backhaul"]
    load: Annotated[float, "0-1", "a gateway's channel load (airtime share busy)"]
    gateway: Annotated[str, "", "a device's gateway now ('' when none is in range)"]
    sf: Annotated[int, "", "a device's LoRa spreading factor now (7-12)"]
    delivery_pct: Annotated[float, "%", "a device's chance that an uplink reaches the platform now"]


class CellularLoadItem(TypedDict):
    """A 5G small cell and its load.

    Delivered: every tick, every small cell of the district, as it is now.
    """

    id: Annotated[str, "", "small cell device id"]
    pole: Annotated[str, "", "the pole it is on"]
    clients: Annotated[int, "sessions", "sessions on it now"]
    mbps: Annotated[float, "Mbps", "throughput it carries now"]
    up: Annotated[bool, "", "its pole has power and backhaul"]


class ModuleItem(TypedDict):
    """A module this service installed (``Observation.modules``): only what was actually mounted.

    Delivered: every tick, all of them, as they are now.
    """

    id: Annotated[str, "", "module id (Install.id, or <service>:<module>:<n>)"]
    pole: Annotated[str, "", "the pole it is on"]
    module: Annotated[str, "", "its module type"]
    up: Annotated[bool, "", "its pole has power and backhaul"]


class FleetUnitItem(TypedDict):
    """One of this service's own vehicles (``Observation.fleet``).

    Delivered: every tick, every unit, as it is now.
    """

    id: Annotated[str, "", "unit id, <service>:<kind>-<n> (pass it to Dispatch and Reserve)"]
    kind: Annotated[str, "", "drone, robot or van"]
    state: Annotated[str, "", "idle, delivering, returning, queued or charging"]
    x: Annotated[float, "m", "position"]
    y: Annotated[float, "m", "position"]
    battery_min: Annotated[float, "min", "battery left"]
    request: Annotated[str, "", "the request it serves ('' when none)"]
    home: Annotated[str, "", "the charger, dock or hub it returns to"]


class WeatherItem(TypedDict):
    """The weather now (``Observation.weather``).

    Delivered: every tick.
    """

    rain_mm_h: Annotated[float, "mm/h", "rain rate"]
    heat_wave: Annotated[bool, "", "a heat-wave day"]
    drones_grounded: Annotated[bool, "", "rain is above the drone limit: Dispatch of drones is refused"]


#: The declared item of every feed (see :data:`FEEDS`); ``Observation.modules``, ``.fleet`` and
#: ``.weather`` are declared by :class:`ModuleItem`, :class:`FleetUnitItem` and :class:`WeatherItem`.
FEED_ITEMS: Mapping[str, type] = {
    "cctv.detections": DetectionItem,
    "wifi.load": WifiLoadItem,
    "infra.status": InfraStatusItem,
    "lights.presence": PresenceItem,
    "sdot.readings": SdotReadingItem,
    "logistics.requests": DeliveryRequestItem,
    "ev.chargers": ChargerItem,
    "parking.occupancy": ParkingOccupancyItem,
    "iot.network": IotNetworkItem,
    "cellular.load": CellularLoadItem,
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

    def __getitem__(self, key: str) -> Any:
        """``fb["reason"]`` reads like every feed item (``fb.reason`` works too)."""
        if key not in _FEEDBACK_KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        """Like ``dict.get``."""
        return getattr(self, key) if key in _FEEDBACK_KEYS else default

    def keys(self) -> tuple[str, ...]:
        """The field names, like ``dict.keys``."""
        return _FEEDBACK_KEYS


_FEEDBACK_KEYS = ("index", "action", "accepted", "reason")


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

    def __post_init__(self) -> None:
        _LOG_CLOCK[0] = self.time_s  # Service.log stamps entries with the time of the observation being handled

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
    """Escalate a detection to the control centre; flagged streams are seen first.

    ``priority`` 2 or more is an emergency, 1 (the default) urgent, 0 or less flagged; all three reach
    the operators before their routine work. One operator job per incident: flagging a second detection
    of the same event joins the first job and may raise its level. A detection can be flagged once, by
    one service; detection ids are opaque.
    """

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

    def log(self, message: str, **fields: Any) -> None:
        """Record a structured log entry, kept with the run (``python -m simulation logs RUN_ID``).

        ``fields`` are plain values (numbers, text, lists, dicts), e.g.
        ``self.log("fall suspected", camera="cam-003", confidence=0.91)``. The entry is stamped with
        the simulated time of the observation being handled (``None`` during ``deploy``). Entries
        and anything you ``print`` share the service's output allowance (1 MB per run by default;
        beyond it output is dropped and the log says so).
        """
        entry = {"time_s": _LOG_CLOCK[0], "message": str(message), **fields}
        print(LOG_MARK + json.dumps(entry, default=str, ensure_ascii=False), file=sys.stderr, flush=True)


#: Prefix of a structured log line on stderr (``Service.log``); the host parses such lines into entries.
LOG_MARK = "@pilot-log "
_LOG_CLOCK: list[float | None] = [None]

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
