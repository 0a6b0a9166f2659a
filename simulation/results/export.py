"""Export a district and a run's feeds as NGSI-LD entities in FIWARE Smart Data Models shapes.

A company that wrote code for a real city platform (an NGSI-LD context broker fed with Smart Data
Models) can read the sandbox's district and its simulated feeds unchanged:

=====================  =============================  ==============================================
entity type            data model (context)           from
=====================  =============================  ==============================================
``Streetlight``        dataModel.Streetlighting       every pole (light level at the end of a run)
``AccessPoint``        dataModel.WifiNetwork          every public WiFi AP (clients at the end)
``Camera``             dataModel.Device               every CCTV camera
``Device``             dataModel.Device               S-DoT sensors, IoT gateways, 5G small cells
``EVChargingStation``  dataModel.Transportation       every S-Pole EV charger (availability)
``AirQualityObserved`` dataModel.Environment          a run's S-DoT readings (last, or every sample)
``NoiseLevelObserved`` dataModel.Environment          a run's S-DoT noise readings
=====================  =============================  ==============================================

Every entity is checked against :data:`FIELDS` (attribute kinds: Property, GeoProperty, Relationship)
and against the official Smart Data Models JSON Schemas (:mod:`simulation.results.sdm`, vendored)
before anything is written. Measured values carry ``observedAt``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pandas as pd

from simulation.config.district import Device, District
from simulation.errors import SandboxError

__all__ = ["CONTEXTS", "FIELDS", "district_entities", "run_entities", "validate"]

CORE_CONTEXT = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"
_SDM = "https://raw.githubusercontent.com/smart-data-models/dataModel.{}/master/context.jsonld"
CONTEXTS = {
    "Streetlight": _SDM.format("Streetlighting"),
    "AccessPoint": _SDM.format("WifiNetwork"),
    "Camera": _SDM.format("Device"),
    "Device": _SDM.format("Device"),
    "EVChargingStation": _SDM.format("Transportation"),
    "AirQualityObserved": _SDM.format("Environment"),
    "NoiseLevelObserved": _SDM.format("Environment"),
}
KST = timezone(timedelta(hours=9))
#: Device.supportedProtocol's published enum (dataModel.Device device-schema.json)
PROTOCOLS: tuple[str, ...] = ("3g", "bluetooth", "bluetooth LE", "cat-m", "coap", "ec-gsm-iot", "gprs", "http")
PROTOCOLS += ("lwm2m", "lora", "lte-m", "mqtt", "nb-iot", "onem2m", "sigfox", "ul20", "websocket")
_PROTOCOL_NAMES = {"lorawan": "lora", "lora": "lora", "nb-iot": "nb-iot", "lte-m": "lte-m", "mqtt": "mqtt"}

# attribute -> (NGSI-LD kind, value type); value types: str, num, num01, int, bool, datetime, point,
# ("enum", values), ("list", values or None). Required attributes are marked with a leading "!".
_COMMON = {"name": ("Property", "str"), "description": ("Property", "str"), "location": ("GeoProperty", "point")}
FIELDS: dict[str, dict[str, tuple[str, Any]]] = {
    "Streetlight": {
        **_COMMON,
        "!location": ("GeoProperty", "point"),
        "!status": ("Property", ("enum", ("ok", "defectiveLamp", "columnIssue", "brokenLantern"))),
        "powerState": ("Property", ("enum", ("on", "off", "low", "bootingUp"))),
        "illuminanceLevel": ("Property", "num01"),
        "lanternHeight": ("Property", "num"),  # "laternHeight" before 2021
        "locationCategory": ("Property", ("enum", ("road", "sidewalk", "pedestrianPath", "park"))),
        "circuit": ("Property", "str"),
        "controllingMethod": ("Property", ("enum", ("group", "individual"))),
    },
    "AccessPoint": {
        **_COMMON,
        "!name": ("Property", "str"),
        "clientsConnected": ("Property", "int"),
        "apState": ("Property", ("enum", ("up", "down"))),
        "dateLastValueReported": ("Property", "datetime"),
    },
    "Camera": {
        **_COMMON,
        "cameraName": ("Property", "str"),
        "cameraType": ("Property", ("enum", ("FIXED", "PTZ", "DOME", "DAY/NIGHT", "C-MOUNT", "BULLET"))),
        "cameraUsage": ("Property", ("enum", ("SURVEILLANCE", "RLVD", "ANPR/LPR"))),
        "on": ("Property", "bool"),
        "streamName": ("Property", "str"),
    },
    "Device": {
        **_COMMON,
        "category": ("Property", ("list", ("sensor", "network", "actuator", "meter", "multimedia"))),
        "controlledProperty": (
            "Property",
            (
                "list",
                (
                    "airPollution",
                    "temperature",
                    "humidity",
                    "noiseLevel",
                    "light",
                    "windSpeed",
                    "windDirection",
                    "occupancy",
                ),
            ),
        ),
        "deviceState": ("Property", "str"),
        "serialNumber": ("Property", "str"),
        "supportedProtocol": ("Property", ("list", PROTOCOLS)),
        "dateLastValueReported": ("Property", "datetime"),
    },
    "EVChargingStation": {
        **_COMMON,
        "!capacity": ("Property", "int"),
        "!allowedVehicleType": ("Property", ("list", ("car", "bicycle", "bus", "motorcycle", "motorscooter", "truck"))),
        "!socketType": ("Property", ("list", ("J-1772", "Type2", "CHAdeMO", "CCS/SAE", "Other"))),
        "availableCapacity": ("Property", "int"),
        "status": ("Property", ("enum", ("working", "outOfService", "withIncidence", "full", "almostFull", "empty"))),
        "amperage": ("Property", "num"),
        "voltage": ("Property", "num"),
        "operator": ("Property", "str"),
    },
    "AirQualityObserved": {
        **_COMMON,
        "!dateObserved": ("Property", "datetime"),
        "pm25": ("Property", "num"),
        "pm10": ("Property", "num"),
        "temperature": ("Property", "num"),
        "relativeHumidity": ("Property", "num01"),
        "reliability": ("Property", "num01"),
        "refDevice": ("Relationship", "Device"),
    },
    "NoiseLevelObserved": {
        **_COMMON,
        "!dateObservedFrom": ("Property", "datetime"),
        "!dateObservedTo": ("Property", "datetime"),
        "LAeq": ("Property", "num"),
        "sonometerClass": ("Property", ("enum", ("0", "1", "2"))),
        "refDevice": ("Relationship", "Device"),
    },
}


# --------------------------------------------------------------------------- shapes
def urn(kind: str, *parts: str) -> str:
    """``urn:ngsi-ld:<Type>:<part>:...``."""
    return ":".join(("urn:ngsi-ld", kind, *parts))


def _prop(value: Any, unit: str | None = None, at: datetime | None = None) -> dict:
    out: dict[str, Any] = {"type": "Property", "value": value}
    if unit:
        out["unitCode"] = unit
    if at is not None:  # a measurement: when it was observed
        out["observedAt"] = _stamp(at)
    return out


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(value: datetime) -> dict:
    return {
        "type": "Property",
        "value": {"@type": "DateTime", "@value": _stamp(value)},
    }


def _point(lon: float, lat: float) -> dict:
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [round(lon, 7), round(lat, 7)]}}


def _entity(kind: str, eid: str, **attrs: Any) -> dict:
    return {
        "id": eid,
        "type": kind,
        **{k: v for k, v in attrs.items() if v is not None},
        "@context": [CONTEXTS[kind], CORE_CONTEXT],
    }


def _dev_id(district: str, dev: Device | str) -> str:
    return urn("Device", district, dev if isinstance(dev, str) else dev.id)


# --------------------------------------------------------------------------- district
def district_entities(d: District, state: Mapping[str, Any] | None = None, at: datetime | None = None) -> list[dict]:
    """The district's poles and devices as entities; ``state`` (a run's final state) adds live values."""
    st = state or {}
    lights = st.get("lights")
    down = set(st.get("poles_down", ()))
    clients = st.get("ap_clients", {})
    chargers = st.get("chargers", {})
    heights = {m: pm.height_m for m, pm in d.catalogue.models.items()}
    category = {"arterial": "road", "collector": "road", "local": "road", "pedestrian": "pedestrianPath"}
    out = []
    for p in d.poles:
        level = None if lights is None else float(lights.get(p.id, 0.0))
        power = None if level is None else ("off" if level <= 0 or p.id in down else "on" if level >= 0.99 else "low")
        out.append(
            _entity(
                "Streetlight",
                urn("Streetlight", d.name, p.id),
                name=_prop(p.id),
                location=_point(p.lon, p.lat),
                status=_prop("ok"),
                powerState=None if power is None else _prop(power, at=at),
                illuminanceLevel=None if level is None else _prop(round(level, 3), at=at),
                lanternHeight=_prop(heights.get(p.model, 8.0), "MTR"),
                locationCategory=_prop(category.get(p.road_class, "road")),
                circuit=_prop(p.link),
                controllingMethod=_prop("individual"),
            )
        )
    pole_of = {x.id: x.pole for x in d.devices}
    for x in d.devices_of("ap"):
        out.append(
            _entity(
                "AccessPoint",
                urn("AccessPoint", d.name, x.id),
                name=_prop(x.id),
                location=_point(x.lon, x.lat),
                clientsConnected=_prop(int(clients.get(x.id, 0)), at=at) if state is not None else None,
                apState=_prop("down" if pole_of[x.id] in down else "up", at=at) if state is not None else None,
                dateLastValueReported=_time(at) if at is not None else None,
            )
        )
    for x in d.devices_of("camera"):
        ai = x.get("camera_type") == "ai"
        out.append(
            _entity(
                "Camera",
                urn("Camera", d.name, x.id),
                name=_prop(x.id),
                cameraName=_prop(x.id),
                location=_point(x.lon, x.lat),
                cameraType=_prop("FIXED"),
                cameraUsage=_prop("SURVEILLANCE"),
                description=_prop("intelligent (AI) CCTV camera" if ai else "CCTV camera"),
                on=_prop(pole_of[x.id] not in down, at=at) if state is not None else None,
                streamName=_prop(f"{d.name}/{x.id}"),
            )
        )
    sdot_props = ["airPollution", "temperature", "humidity", "noiseLevel", "light", "windSpeed", "windDirection"]
    # controlledProperty is required: a gateway carries the S-DoT sensors' properties; a small cell
    # serves sessions, the nearest published value being "occupancy" (judgement)
    kinds = {
        "sensor": (["sensor"], sdot_props, "S-DoT environment sensor (17 variables every 2 min)"),
        "gateway": (["network"], sdot_props[:4], "LoRaWAN / IoT gateway"),
        "small_cell": (["network"], ["occupancy"], "5G small cell"),
    }
    for kind, (cat, props, desc) in kinds.items():
        for x in d.devices_of(kind):
            out.append(
                _entity(
                    "Device",
                    _dev_id(d.name, x),
                    name=_prop(x.id),
                    location=_point(x.lon, x.lat),
                    category=_prop(cat),
                    controlledProperty=_prop(props) if props else None,
                    description=_prop(desc),
                    serialNumber=_prop(x.id),
                    supportedProtocol=_protocol(x.get("protocol")),
                    deviceState=_prop("down" if x.pole in down else "ok", at=at) if state is not None else None,
                )
            )
    for x in d.devices_of("ev_charger"):
        c = chargers.get(x.id)
        avail = None if c is None else int(c["up"] and c["busy"] == 0)
        out.append(
            _entity(
                "EVChargingStation",
                urn("EVChargingStation", d.name, x.id),
                name=_prop(x.id),
                location=_point(x.lon, x.lat),
                capacity=_prop(1),
                allowedVehicleType=_prop(["car"]),
                socketType=_prop(["J-1772"]),
                availableCapacity=None if avail is None else _prop(avail, at=at),
                status=None if c is None else _prop("working" if c["up"] else "outOfService", at=at),
                amperage=_prop(round(float(x.get("power_kw", 7)) * 1000 / 220, 1), "AMP"),
                voltage=_prop(220, "VLT"),
                description=_prop(f"S-Pole EV charger on {x.pole}, {x.get('power_kw', 7)} kW"),
            )
        )
    return out


# --------------------------------------------------------------------------- run
def run_entities(d: District, run: Any, all_samples: bool = False) -> list[dict]:
    """A stored run: the district with its final state, plus S-DoT readings kept in its time series."""
    start = datetime.fromisoformat(str(run.provenance.get("scenario_resolved", {}).get("start", "2026-05-12T00:00")))
    start = start.replace(tzinfo=KST) if start.tzinfo is None else start
    ev: pd.DataFrame = run.events
    state: dict[str, Any] = {}
    end_t = float(ev["t"].max()) if len(ev) else 0.0
    final = ev[ev["kind"] == "state.final"] if len(ev) else ev
    if len(final):
        import json

        state = json.loads(final["detail"].iloc[-1])
        end_t = float(final["t"].iloc[-1])
    out = district_entities(d, state if len(final) else None, start + timedelta(seconds=end_t))
    ts: pd.DataFrame = run.timeseries
    rows = ts[ts["metric"].str.startswith("sdot:")] if len(ts) else ts
    if not len(rows):
        return out
    parts = rows["metric"].str.split(":", expand=True)
    df = pd.DataFrame({"t": rows["t"].to_numpy(), "sensor": parts[1].to_numpy(), "var": parts[2].to_numpy(),
                       "value": rows["value"].to_numpy()})  # fmt: skip
    wide = df.pivot_table(index=["sensor", "t"], columns="var", values="value", aggfunc="last").reset_index()
    if not all_samples:
        wide = wide.sort_values("t").groupby("sensor", sort=True).tail(1)
    devs = {x.id: x for x in d.devices_of("sensor")}
    for r in wide.sort_values(["sensor", "t"]).itertuples(index=False):
        dev = devs.get(r.sensor)
        if dev is None:
            continue
        when = start + timedelta(seconds=float(r.t))
        stamp = when.strftime("%Y%m%dT%H%M")
        suffix = (r.sensor, stamp) if all_samples else (r.sensor,)
        rec = r._asdict()
        out.append(
            _entity(
                "AirQualityObserved",
                urn("AirQualityObserved", d.name, *suffix),
                location=_point(dev.lon, dev.lat),
                dateObserved=_time(when),
                pm25=_num(rec.get("pm25"), "GQ", when),
                pm10=_num(rec.get("pm10"), "GQ", when),
                temperature=_num(rec.get("temperature_c"), "CEL", when),
                relativeHumidity=_num(
                    None if rec.get("humidity_pct") is None else rec["humidity_pct"] / 100, None, when
                ),
                reliability=_prop(0.7),  # grade-2 simple instrument (docs/sources.md)
                refDevice={"type": "Relationship", "object": _dev_id(d.name, dev)},
            )
        )
        if _ok(rec.get("noise_db")):
            out.append(
                _entity(
                    "NoiseLevelObserved",
                    urn("NoiseLevelObserved", d.name, *suffix),
                    location=_point(dev.lon, dev.lat),
                    dateObservedFrom=_time(when - timedelta(minutes=2)),
                    dateObservedTo=_time(when),
                    LAeq=_num(rec["noise_db"], "2N", when),
                    sonometerClass=_prop("2"),
                    refDevice={"type": "Relationship", "object": _dev_id(d.name, dev)},
                )
            )
    return out


def _ok(v: Any) -> bool:
    return v is not None and isinstance(v, int | float) and math.isfinite(v)


def _num(v: Any, unit: str | None = None, at: datetime | None = None) -> dict | None:
    return _prop(round(float(v), 3), unit, at) if _ok(v) else None


def _protocol(raw: Any) -> dict | None:
    """A device's protocol as the published enum value (``LoRaWAN`` -> ``lora``), None when it has none."""
    if not raw:
        return None
    value = _PROTOCOL_NAMES.get(str(raw).lower(), str(raw))
    return _prop([value]) if value in PROTOCOLS else None


# --------------------------------------------------------------------------- validation
def _check_value(vt: Any, v: Any) -> bool:
    if vt == "str":
        return isinstance(v, str) and v != ""
    if vt == "num":
        return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    if vt == "num01":
        return _check_value("num", v) and 0 <= v <= 1
    if vt == "int":
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0
    if vt == "bool":
        return isinstance(v, bool)
    if vt == "datetime":
        return isinstance(v, dict) and v.get("@type") == "DateTime" and isinstance(v.get("@value"), str)
    if vt == "point":
        c = v.get("coordinates") if isinstance(v, dict) else None
        return (
            isinstance(v, dict) and v.get("type") == "Point" and isinstance(c, list) and len(c) == 2
            and -180 <= c[0] <= 180 and -90 <= c[1] <= 90
        )  # fmt: skip
    if isinstance(vt, tuple) and vt[0] == "enum":
        return v in vt[1]
    if isinstance(vt, tuple) and vt[0] == "list":
        return isinstance(v, list) and bool(v) and all(isinstance(x, str) and (vt[1] is None or x in vt[1]) for x in v)
    return False


def validate(e: Mapping[str, Any]) -> list[str]:
    """Problems of one entity against :data:`FIELDS` (empty when it conforms)."""
    kind = str(e.get("type"))
    spec = FIELDS.get(kind)
    if spec is None:
        return [f"unknown entity type {kind!r}"]
    where = f"{e.get('id', '?')}"
    probs = []
    if not str(e.get("id", "")).startswith(f"urn:ngsi-ld:{kind}:"):
        probs.append(f"{where}: id must start with 'urn:ngsi-ld:{kind}:'")
    if e.get("@context") != [CONTEXTS[kind], CORE_CONTEXT]:
        probs.append(f"{where}: @context must be [{CONTEXTS[kind]!r}, core]")
    fields = {k.lstrip("!"): v for k, v in spec.items()}
    for k in spec:
        if k.startswith("!") and k[1:] not in e:
            probs.append(f"{where}: required attribute {k[1:]!r} is missing")
    for k, attr in e.items():
        if k in ("id", "type", "@context"):
            continue
        if k not in fields:
            probs.append(f"{where}: {kind} has no published attribute {k!r}")
            continue
        nk, vt = fields[k]
        if not isinstance(attr, dict) or attr.get("type") != nk:
            probs.append(f"{where}: {k} must be a {nk}")
            continue
        if nk == "Relationship":
            if not str(attr.get("object", "")).startswith(f"urn:ngsi-ld:{vt}:"):
                probs.append(f"{where}: {k} must point at a urn:ngsi-ld:{vt}:... entity")
        elif not _check_value(vt, attr.get("value")):
            probs.append(f"{where}: {k} has a value of the wrong type or range: {attr.get('value')!r}")
    return probs


def check_all(entities: Iterable[Mapping[str, Any]]) -> None:
    """Raise a SandboxError listing the first problems if any entity does not conform."""
    probs = [p for e in entities for p in validate(e)]
    if probs:
        more = f" (and {len(probs) - 5} more)" if len(probs) > 5 else ""
        raise SandboxError("NGSI-LD export does not conform to the Smart Data Models: " + "; ".join(probs[:5]) + more)
