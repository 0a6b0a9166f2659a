"""Where each KPI happens: the map of a KPI, cell by cell, consistent with its district value.

Every KPI of the catalogue (``results.kpis``) is either **mapped** — its items have a place in the
district (an incident, a WiFi attempt, a delivery's destination, a driver's destination block, a
citizen's home block, a pole, a camera, a sensor, a charger, a notice's centre …) — or **not
mapped**, with the reason (:data:`NOT_MAPPED`). A mapped KPI declares how its items add up in a
grid cell (:class:`Where`), the same way the KPI adds them up over the district:

- ``sum``: the cell's value is the sum of its items (incidents, km, kWh); the cells sum to the KPI;
- ``mean``: the cell's value is the mean over its items (a time, a dose); the cells' values,
  weighted by ``n`` (items in the cell), average to the KPI;
- ``share``: the cell's value is a percentage of its items (served, delivered); weighted by ``n``
  (the items, or the quantity the percentage is of) they average to the KPI.

:func:`spatial_frame` computes every mapped KPI at the end of a run, vectorised, on a grid of
``GRID_M`` squares: one row per KPI and cell (``metric``, ``x``, ``y`` the cell centre, ``value``,
``n``). The world only keeps the places its totals come from (a list append per rare event).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from simulation.results.kpis import CATALOGUE, _waits, queue_jobs, queue_records

if TYPE_CHECKING:
    from simulation.world import World

__all__ = ["GRID_M", "NOT_MAPPED", "SPATIAL_COLUMNS", "WHERE", "Where", "mapped", "spatial_frame"]

GRID_M = 100.0
SPATIAL_COLUMNS = ["metric", "x", "y", "value", "n"]

#: x, y, numerator, weight of every item (a ``sum`` KPI's value is the sum of numerators).
Points = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
How = Literal["sum", "mean", "share"]


@dataclass(frozen=True)
class Where:
    """How a KPI is mapped: what its items are placed at, and how a cell adds them up."""

    place: str
    how: How
    fn: Callable[[World], Points]


WHERE: dict[str, Where] = {}

#: KPIs with no place in the district, and why.
NOT_MAPPED: dict[str, str] = {
    "connectivity.backhaul_peak_pct": "the peak of the busiest trunk fibre link: one maximum over links and time",
    "safety.operators_on_duty": "the staffing of the district control centre: one place, not spread over the district",
    "safety.operator_queue_mean": "a queue at the control centre, averaged over time: not at a place in the district",
    "safety.operator_utilisation_pct": "the control centre's operators' busy time: not at a place in the district",
    "infra.poles_up_min_pct": "the lowest district-wide share of poles up over time: a minimum of a district total",
}


def mapped(kpi: str) -> Where | None:
    """How ``kpi`` is mapped, or None (see :data:`NOT_MAPPED` for why)."""
    return WHERE.get(kpi)


def _where(name: str, place: str, how: How) -> Callable[[Callable[[World], Points]], Callable[[World], Points]]:
    def deco(fn: Callable[[World], Points]) -> Callable[[World], Points]:
        if name not in CATALOGUE:
            raise KeyError(f"{name} is not a catalogue KPI")
        WHERE[name] = Where(place, how, fn)
        return fn

    return deco


def _pts(x: Iterable[float], y: Iterable[float], num: Iterable[float], den: Iterable[float] | None = None) -> Points:
    xa, ya, na = (np.asarray(list(v) if not isinstance(v, np.ndarray) else v, float) for v in (x, y, num))
    da = np.ones(len(na)) if den is None else np.asarray(list(den) if not isinstance(den, np.ndarray) else den, float)
    return xa, ya, na, da


_EMPTY: Points = (np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))


def _cache(w: World, key: str, make: Callable[[], object]) -> object:
    """Per finished world, one copy of what several KPIs' maps share."""
    v = w.__dict__.get(key)
    if v is None:
        v = w.__dict__[key] = make()
    return v


def _xy_of(w: World) -> dict[str, tuple[float, float]]:
    """Positions of poles, devices and chargers by id."""

    def make() -> dict[str, tuple[float, float]]:
        out = {p.id: (p.x, p.y) for p in w.d.poles}
        out.update({d.id: (d.x, d.y) for d in w.d.devices})
        out.update({c.id: (c.x, c.y) for c in w.mobility.chargers.values()})
        return out

    return _cache(w, "_places_xy", make)  # type: ignore[return-value]


def _at(w: World, ids: Iterable[str], num: Iterable[float]) -> Points:
    """Items at the place (pole, device, charger) of each id; ids without a place are left out."""
    xy = _xy_of(w)
    rows = [(*xy[i], v) for i, v in zip(ids, num, strict=True) if i in xy]
    if not rows:
        return _EMPTY
    a = np.asarray(rows, float)
    return a[:, 0], a[:, 1], a[:, 2], np.ones(len(a))


def _blocks(w: World, blocks: Iterable[int] | np.ndarray, num: np.ndarray | None = None) -> Points:
    """Items at blocks (indices into the district's blocks)."""
    b = np.fromiter(blocks, np.int64) if not isinstance(blocks, np.ndarray) else blocks
    if not len(b):
        return _EMPTY
    xy: tuple[np.ndarray, np.ndarray] = _cache(  # type: ignore[assignment]
        w, "_places_blocks", lambda: (np.array([k.x for k in w.d.blocks]), np.array([k.y for k in w.d.blocks]))
    )
    bx, by = xy
    n = np.ones(len(b)) if num is None else num
    return bx[b], by[b], n, np.ones(len(b))


def _drivers(w: World) -> tuple[np.ndarray, np.ndarray]:
    """Arriving drivers' destination blocks and cruising minutes."""
    m = w.mobility
    return _cache(  # type: ignore[return-value]
        w,
        "_places_drivers",
        lambda: (np.fromiter(m.cruise_block, np.int64), np.fromiter(m.cruise_min, float, len(m.cruise_min))),
    )


# --------------------------------------------------------------------------- connectivity: WiFi attempts
def _attempts(w: World) -> dict[str, np.ndarray]:
    def make() -> dict[str, np.ndarray]:
        c = w.conn
        xy = np.frombuffer(c.rec_xy, float).reshape(-1, 2)
        served = np.asarray(c.rec_served, bool)
        cell = np.zeros(len(served), bool)
        unserved = np.flatnonzero(~served)
        if len(unserved) == w.cellular.tried:  # the k-th small-cell try is the k-th attempt WiFi did not serve
            cell[unserved[np.asarray(w.cellular.served_at, int)]] = True
        return {
            "x": xy[:, 0],
            "y": xy[:, 1],
            "served": served,
            "covered": np.asarray(c.rec_covered, bool),
            "thr": np.asarray(c.rec_thr, float),
            "demand": np.asarray(c.rec_demand, float),
            "cell": cell,
            "unserved": ~served,
        }

    return _cache(w, "_places_attempts", make)  # type: ignore[return-value]


@_where("connectivity.sessions_served_pct", "WiFi attempt", "share")
def _served(w: World) -> Points:
    a = _attempts(w)
    return _pts(a["x"], a["y"], 100.0 * a["served"])


@_where("connectivity.coverage_pct", "WiFi attempt", "share")
def _covered(w: World) -> Points:
    a = _attempts(w)
    return _pts(a["x"], a["y"], 100.0 * a["covered"])


@_where("connectivity.mean_throughput_mbps", "served WiFi attempt", "mean")
def _thr(w: World) -> Points:
    a = _attempts(w)
    return _pts(a["x"], a["y"], a["thr"] * a["served"], a["served"])


@_where("connectivity.demand_met_pct", "WiFi attempt (weighted by its demand)", "share")
def _demand_met(w: World) -> Points:
    a = _attempts(w)
    return _pts(a["x"], a["y"], 100.0 * a["thr"], a["demand"])


@_where("connectivity.sessions_blocked", "WiFi attempt", "sum")
def _blocked(w: World) -> Points:
    a = _attempts(w)
    return _pts(a["x"], a["y"], a["covered"] & ~a["served"])


@_where("connectivity.attempts", "WiFi attempt", "sum")
def _n_attempts(w: World) -> Points:
    a = _attempts(w)
    return _pts(a["x"], a["y"], np.ones(len(a["x"])))


def _ap_sessions(w: World) -> dict[str, np.ndarray]:
    """The APs' client records: AP (as an index into ``aps``), start, end, outcome."""

    def make() -> dict[str, np.ndarray]:
        df = queue_jobs(w, ("ap_clients",), "session")
        ap, aps = pd.factorize(df["server"], sort=True)
        return {
            "aps": np.asarray(list(aps), object),
            "ap": np.asarray(ap, np.int64),
            "start": df["start"].to_numpy(float),
            "end": df["end"].to_numpy(float),
            "dropped": (df["outcome"] == "dropped").to_numpy(),
        }

    return _cache(w, "_places_ap", make)  # type: ignore[return-value]


@_where("connectivity.sessions_dropped", "access point", "sum")
def _dropped(w: World) -> Points:
    a = _ap_sessions(w)
    return _at(w, a["aps"], np.bincount(a["ap"], weights=a["dropped"], minlength=len(a["aps"])))


@_where("connectivity.clients_mean", "access point", "sum")
def _clients(w: World) -> Points:
    a = _ap_sessions(w)
    now = float(w.env.now)
    if now <= 0:
        return _EMPTY
    start = a["start"]
    dur = np.where(np.isnan(start), 0.0, np.minimum(np.nan_to_num(a["end"], nan=now), now) - np.nan_to_num(start))
    return _at(w, a["aps"], np.bincount(a["ap"], weights=dur / now, minlength=len(a["aps"])))


# --------------------------------------------------------------------------- cellular: the attempts WiFi did not serve
@_where("cellular.sessions_served", "WiFi attempt a small cell took", "sum")
def _cell_served(w: World) -> Points:
    a = _attempts(w)
    return _pts(a["x"], a["y"], a["cell"])


@_where("cellular.offload_pct", "attempt WiFi did not serve", "share")
def _offload(w: World) -> Points:
    a = _attempts(w)
    u = a["unserved"]
    return _pts(a["x"][u], a["y"][u], 100.0 * a["cell"][u])


@_where("cellular.any_served_pct", "WiFi attempt", "share")
def _any_served(w: World) -> Points:
    a = _attempts(w)
    return _pts(a["x"], a["y"], 100.0 * (a["served"] | a["cell"]))


# --------------------------------------------------------------------------- safety: incidents
def _incidents(w: World) -> dict[str, np.ndarray]:
    def make() -> dict[str, np.ndarray]:
        inc = w.safety.incidents
        nan = math.nan
        return {
            "x": np.array([i.x for i in inc], float),
            "y": np.array([i.y for i in inc], float),
            "t": np.array([i.t for i in inc], float),
            "cctv": np.array([i.cctv for i in inc], bool),
            "detected": np.array([nan if i.detected_at is None else i.detected_at for i in inc], float),
            "responded": np.array([nan if i.responded_at is None else i.responded_at for i in inc], float),
        }

    return _cache(w, "_places_incidents", make)  # type: ignore[return-value]


def _incident_xy(w: World) -> dict[str, tuple[float, float]]:
    return {i.id: (i.x, i.y) for i in w.safety.incidents}


@_where("safety.incidents", "incident", "sum")
def _n_incidents(w: World) -> Points:
    a = _incidents(w)
    return _pts(a["x"], a["y"], np.ones(len(a["x"])))


@_where("safety.detected_pct", "incident", "share")
def _detected(w: World) -> Points:
    a = _incidents(w)
    return _pts(a["x"], a["y"], 100.0 * a["cctv"])


@_where("safety.time_to_detect_s", "detected incident", "mean")
def _to_detect(w: World) -> Points:
    a = _incidents(w)
    ok = ~np.isnan(a["detected"])
    return _pts(a["x"][ok], a["y"][ok], (a["detected"] - a["t"])[ok])


@_where("safety.time_to_respond_s", "incident a responder reached", "mean")
def _to_respond(w: World) -> Points:
    a = _incidents(w)
    ok = ~np.isnan(a["responded"])
    return _pts(a["x"][ok], a["y"][ok], (a["responded"] - a["t"])[ok])


@_where("safety.missed", "incident", "sum")
def _missed(w: World) -> Points:
    a = _incidents(w)
    return _pts(a["x"], a["y"], np.isnan(a["detected"]))


def _by_incident(w: World, jobs: Iterable[str], num: Iterable[float]) -> Points:
    xy = _incident_xy(w)
    rows = [(*xy[j], v) for j, v in zip(jobs, num, strict=True) if j in xy]
    if not rows:
        return _EMPTY
    a = np.asarray(rows, float)
    return a[:, 0], a[:, 1], a[:, 2], np.ones(len(a))


@_where("safety.operator_wait_s", "incident (its operator job)", "mean")
def _op_wait(w: World) -> Points:
    waits = _waits(w, ("operators", "city_centre"), "incident")
    return _by_incident(w, waits.index, waits.to_numpy())


@_where("safety.escalated", "incident", "sum")
def _escalated(w: World) -> Points:
    df = queue_records(w)
    df = df[(df["queue"] == "operators") & (df["user"] == "incident") & (df["outcome"] == "escalated")]
    return _by_incident(w, df["job"], np.ones(len(df)))


@_where("safety.false_alarms_handled", "camera that raised the false alarm", "sum")
def _false_alarms(w: World) -> Points:
    df = queue_records(w)
    df = df[(df["user"] == "false_alarm") & (df["outcome"] == "served")]
    dets = w.safety.detections
    rows = [(float(dets[j]["x"]), float(dets[j]["y"])) for j in df["job"] if j in dets]
    if not rows:
        return _EMPTY
    a = np.asarray(rows, float)
    return a[:, 0], a[:, 1], np.ones(len(a)), np.ones(len(a))


@_where("privacy.camera_minutes_viewed", "camera", "sum")
def _viewed(w: World) -> Points:
    v = w.safety.viewed_min
    return _at(w, list(v), list(v.values()))


# --------------------------------------------------------------------------- energy and infrastructure: poles
@_where("energy.lighting_kwh", "pole", "sum")
def _light_kwh(w: World) -> Points:
    v = w.lights.wh_pole
    return _at(w, list(v), [x / 1000 for x in v.values()])


def _pole_kwh(w: World) -> tuple[list[str], np.ndarray]:
    e, infra, lights = w.energy, w.infra, w.lights
    ids = list(e.const_w)
    kwh = np.array(
        [
            ((e.const_w[p] + infra.extra_power.get(p, 0.0)) * e.powered_s[p] / 3600 + e.var_wh_pole[p]) / 1000
            + lights.wh_pole.get(p, 0.0) / 1000
            for p in ids
        ]
    )
    return ids, kwh


@_where("energy.total_kwh", "pole", "sum")
def _total_kwh(w: World) -> Points:
    return _at(w, *_pole_kwh(w))


@_where("energy.kwh_per_pole", "pole", "mean")
def _kwh_pole(w: World) -> Points:
    return _at(w, *_pole_kwh(w))


@_where("energy.lit_where_people_pct", "block (people present at night)", "share")
def _lit(w: World) -> Points:
    e = w.energy
    night = np.asarray(e.night_block, float)
    b = np.flatnonzero(night > 0)
    x, y, _n, _d = _blocks(w, b)
    return x, y, 100.0 * np.asarray(e.lit_block, float)[b], night[b]


@_where("infra.power_overruns", "pole", "sum")
def _overruns(w: World) -> Points:
    poles = [s for _t, k, s, _d in w.log.rows if k == "power.overrun"]
    return _at(w, poles, np.ones(len(poles)))


# ----------------------------------------------------------------- environment and heat: people, sensors, alerts
def _homes(w: World) -> tuple[np.ndarray, np.ndarray]:
    """Each citizen id's place: the cell of their longest stay in the district (home for most residents,
    the workplace for workers), else the middle of their first trip; x, y (NaN: never in the district)."""

    def make() -> tuple[np.ndarray, np.ndarray]:
        e = w.environment
        n = len(e.group)
        cell = np.full(n, -1, np.int64)
        tr = np.frombuffer(e.trips, float).reshape(-1, 6)
        if len(tr):  # the middle of each citizen's first trip
            tcit = tr[:, 0].astype(int)
            first = np.unique(tcit, return_index=True)[1]
            cell[tcit[first]] = tr[first, 4].astype(np.int64)
        st = np.frombuffer(e.stays, float).reshape(-1, 5)
        if len(st):  # the cell of each citizen's longest stay (ties: the later one)
            cit = st[:, 0].astype(int)
            order = np.lexsort((st[:, 3] - st[:, 2], cit))
            last = order[np.r_[cit[order][1:] != cit[order][:-1], True]]
            cell[cit[last]] = st[last, 1].astype(np.int64)
        gx, gy = np.meshgrid(e.cx, e.cy)
        cx = np.append(gx.ravel(), math.nan)
        cy = np.append(gy.ravel(), math.nan)
        return cx[cell], cy[cell]  # -1 picks the NaN at the end

    return _cache(w, "_places_homes", make)  # type: ignore[return-value]


def _people(w: World, values: np.ndarray | None, who: np.ndarray) -> Points:
    hx, hy = _homes(w)
    vals = np.zeros(len(who)) if values is None else values
    ok = who & ~np.isnan(hx)
    return _pts(hx[ok], hy[ok], vals[ok])


@_where("environment.mean_exposure", "person's longest stay (home, workplace)", "mean")
def _exposure(w: World) -> Points:
    e = w.environment
    return _people(w, e.per_citizen, e.present) if hasattr(e, "present") else _EMPTY


@_where("environment.vulnerable_exposure", "child's or elderly resident's longest stay (home)", "mean")
def _vul_exposure(w: World) -> Points:
    e = w.environment
    return _people(w, e.per_citizen, e.vulnerable) if hasattr(e, "vulnerable") else _EMPTY


@_where("heat.exposure_h", "person's longest stay (home, workplace)", "mean")
def _heat(w: World) -> Points:
    total, here, _vul = w.heat_people
    return _people(w, total, here)


@_where("heat.vulnerable_exposure_h", "child's or elderly resident's longest stay (home)", "mean")
def _heat_vul(w: World) -> Points:
    total, _here, vul = w.heat_people
    return _people(w, total, vul)


@_where("environment.sensor_availability_pct", "S-DoT sensor", "share")
def _sensor_avail(w: World) -> Points:
    e = w.environment
    if not e.sensors or not e.n_samples:
        return _EMPTY
    ok = e.delivered_readings()
    return _pts([s.x for s in e.sensors], [s.y for s in e.sensors], 100.0 * ok, np.full(len(ok), e.n_samples))


@_where("environment.alert_precision_pct", "air-quality alert's centre", "share")
def _precision(w: World) -> Points:
    e = w.environment
    hits, _over, _caught = _alert_items(w)
    return _pts([a[1] for a in e.alerts], [a[2] for a in e.alerts], 100.0 * hits)


@_where("environment.alert_recall_pct", "PM2.5 grid cell (its hours over the threshold)", "share")
def _recall(w: World) -> Points:
    e = w.environment
    _hits, over, caught = _alert_items(w)
    k = np.flatnonzero(over)
    gx, gy = np.meshgrid(e.cx, e.cy)
    return gx.ravel()[k], gy.ravel()[k], 100.0 * caught[k], over[k].astype(float)


def _alert_items(w: World) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _cache(w, "_places_alerts", w.environment.alert_items)  # type: ignore[return-value]


# --------------------------------------------------------------------------- logistics: destinations
def _requests(w: World) -> pd.DataFrame:
    def make() -> pd.DataFrame:
        rs = w.logistics.requests
        nan = math.nan
        return pd.DataFrame(
            {
                "x": [r.dx for r in rs],
                "y": [r.dy for r in rs],
                "created": [r.created for r in rs],
                "deadline": [r.deadline for r in rs],
                "delivered": [nan if r.delivered is None else r.delivered for r in rs],
                "van_km": [r.van_km for r in rs],
                "courier_km": [r.courier_km for r in rs],
            },
            dtype=float,
        )

    return _cache(w, "_places_requests", make)  # type: ignore[return-value]


def _done_by_end(w: World, r: pd.DataFrame) -> np.ndarray:
    d = r["delivered"].to_numpy()
    return ~np.isnan(d) & (d <= w.sc.duration)


@_where("logistics.requests", "delivery's destination", "sum")
def _n_requests(w: World) -> Points:
    r = _requests(w)
    return _pts(r["x"].to_numpy(), r["y"].to_numpy(), np.ones(len(r)))


@_where("logistics.completed_pct", "destination of a delivery due in the run", "share")
def _completed(w: World) -> Points:
    r = _requests(w)
    due = (r["deadline"] <= w.sc.duration).to_numpy()
    done = _done_by_end(w, r)
    return _pts(r["x"].to_numpy()[due], r["y"].to_numpy()[due], 100.0 * done[due])


@_where("logistics.delivery_time_min", "delivered delivery's destination", "mean")
def _delivery_time(w: World) -> Points:
    r = _requests(w)
    ok = _done_by_end(w, r)
    mins = ((r["delivered"] - r["created"]) / 60).to_numpy()
    return _pts(r["x"].to_numpy()[ok], r["y"].to_numpy()[ok], mins[ok])


@_where("logistics.late_deliveries", "destination of a delivery due in the run", "sum")
def _late(w: World) -> Points:
    r = _requests(w)
    end = w.sc.duration
    d = r["delivered"].to_numpy()
    due = (r["deadline"] <= end).to_numpy()
    with np.errstate(invalid="ignore"):
        late = np.isnan(d) | (d > r["deadline"].to_numpy()) | (d > end)
    return _pts(r["x"].to_numpy()[due], r["y"].to_numpy()[due], late[due])


@_where("logistics.vehicle_km", "delivery's destination (a van tour's km shared by its deliveries)", "sum")
def _vkm(w: World) -> Points:
    r = _requests(w)
    return _pts(r["x"].to_numpy(), r["y"].to_numpy(), (r["van_km"] + r["courier_km"]).to_numpy())


@_where("logistics.van_km", "delivery's destination (a van tour's km shared by its deliveries)", "sum")
def _van_km(w: World) -> Points:
    r = _requests(w)
    return _pts(r["x"].to_numpy(), r["y"].to_numpy(), r["van_km"].to_numpy())


@_where("logistics.courier_km", "delivery's destination", "sum")
def _courier_km(w: World) -> Points:
    r = _requests(w)
    return _pts(r["x"].to_numpy(), r["y"].to_numpy(), r["courier_km"].to_numpy())


def _waits_at(w: World, queues: tuple[str, ...], user: str, scale: float = 1.0) -> Points:
    """Each job's time in queue at the charger or pad it queued for."""
    waits = _waits(w, queues, user)
    sel = queue_jobs(w, queues, user)
    server = dict(zip(sel["job"], sel["server"], strict=True))  # a job queues at one charger or pad
    return _at(w, [str(server[j]) for j in waits.index], waits.to_numpy() * scale)


@_where("logistics.charge_wait_min", "charger or pad a fleet unit queued for", "mean")
def _charge_wait(w: World) -> Points:
    return _waits_at(w, ("ev_chargers", "drone_pads", "hub_pads"), "fleet", 1 / 60)


# ------------------------------------------------- mobility and parking: drivers' destinations, chargers
@_where("mobility.cruising_time_min", "arriving driver's destination block", "mean")
def _cruise(w: World) -> Points:
    return _blocks(w, *_drivers(w))


@_where("parking.cruising_vehicle_km", "arriving driver's destination block", "sum")
def _cruise_km(w: World) -> Points:
    from simulation.world.parking import CRUISE_KMH  # here: the app imports this module, not the world

    b, mins = _drivers(w)
    return _blocks(w, b, mins / 60.0 * CRUISE_KMH)


@_where("parking.cruising_co2_kg", "arriving driver's destination block", "sum")
def _cruise_co2(w: World) -> Points:
    from simulation.world.parking import CO2_KG_PER_KM, CRUISE_KMH

    b, mins = _drivers(w)
    return _blocks(w, b, mins / 60.0 * CRUISE_KMH * CO2_KG_PER_KM)


@_where("parking.guided_drivers", "guided driver's destination block", "sum")
def _guided(w: World) -> Points:
    return _blocks(w, w.mobility.guided_at)


@_where("mobility.ev_no_charger", "EV driver's destination block", "sum")
def _no_charger(w: World) -> Points:
    return _blocks(w, w.mobility.no_charger_at)


@_where("mobility.charger_utilisation_pct", "EV charger (weighted by its pad-time)", "share")
def _charger_util(w: World) -> Points:
    chs = [c for c in w.mobility.chargers.values() if c.kind == "ev_charger"]
    now = float(w.env.now)
    if not chs or now <= 0:
        return _EMPTY
    cap = np.array([c.pads * now for c in chs], float)
    return _pts([c.x for c in chs], [c.y for c in chs], [100.0 * c.busy_s for c in chs], cap)


@_where("mobility.ev_unserved", "EV charger", "sum")
def _ev_unserved(w: World) -> Points:
    df = queue_records(w)
    df = df[(df["user"] == "ev_driver") & df["outcome"].isin(("balked", "reneged"))]
    return _at(w, df["server"], np.ones(len(df)))


@_where("mobility.ev_wait_min", "EV charger", "mean")
def _ev_wait(w: World) -> Points:
    return _waits_at(w, ("ev_chargers",), "ev_driver", 1 / 60)


# --------------------------------------------------------------------------- LoRaWAN: end devices
def _devices(w: World, sdot_only: bool = False) -> pd.DataFrame:
    devs = [d for d in w.iot.devices.values() if not sdot_only or d.kind == "sdot"]
    return pd.DataFrame(
        {
            "x": [d.x for d in devs],
            "y": [d.y for d in devs],
            "sent": [d.sent for d in devs],
            "delivered": [d.delivered for d in devs],
            "latency": [d.latency_sum for d in devs],
        },
        dtype=float,
    )


@_where("iot.delivery_ratio_pct", "LoRaWAN end device (weighted by its uplinks)", "share")
def _iot_ratio(w: World) -> Points:
    d = _devices(w)
    d = d[d["sent"] > 0]
    return _pts(d["x"].to_numpy(), d["y"].to_numpy(), 100.0 * d["delivered"].to_numpy(), d["sent"].to_numpy())


@_where("iot.latency_s", "LoRaWAN end device (weighted by its delivered uplinks)", "mean")
def _iot_latency(w: World) -> Points:
    d = _devices(w)
    d = d[d["delivered"] > 0]
    return _pts(d["x"].to_numpy(), d["y"].to_numpy(), d["latency"].to_numpy(), d["delivered"].to_numpy())


@_where("iot.sensor_availability_pct", "S-DoT sensor", "share")
def _iot_avail(w: World) -> Points:
    d = _devices(w, sdot_only=True)
    n = w.environment.n_samples
    if d.empty or not n:
        return _EMPTY
    return _pts(d["x"].to_numpy(), d["y"].to_numpy(), 100.0 * d["delivered"].to_numpy(), np.full(len(d), n))


@_where("iot.uplinks_lost", "LoRaWAN end device", "sum")
def _iot_lost(w: World) -> Points:
    d = _devices(w)
    return _pts(d["x"].to_numpy(), d["y"].to_numpy(), (d["sent"] - d["delivered"]).to_numpy())


# --------------------------------------------------------------------------- notices and edge units
@_where("notices.reached", "notice's centre", "sum")
def _reached(w: World) -> Points:
    s = w.notices.sent
    return _pts([a[0] for a in s], [a[1] for a in s], [a[2] for a in s])


@_where("notices.complied", "notice's centre", "sum")
def _complied(w: World) -> Points:
    s = w.notices.sent
    return _pts([a[0] for a in s], [a[1] for a in s], [a[3] for a in s])


@_where("notices.rerouted_trips", "block an errand was moved away from", "sum")
def _rerouted(w: World) -> Points:
    return _blocks(w, w.notices.rerouted_from)


@_where("edge.backhaul_saved_mbps", "camera sending clips", "sum")
def _edge_saved(w: World) -> Points:
    v = w.edge.saved_at
    return _at(w, list(v), list(v.values()))


@_where("edge.false_alarms_filtered", "camera whose false detection was caught", "sum")
def _edge_filtered(w: World) -> Points:
    v = w.edge.filtered_at
    return _at(w, list(v), [float(n) for n in v.values()])


# --------------------------------------------------------------------------- the run's spatial frame
def spatial_frame(w: World, grid_m: float = GRID_M) -> pd.DataFrame:
    """Every mapped KPI per ``grid_m`` cell of a finished world: metric, x, y (cell centre), value, n.

    A ``sum`` KPI's cells sum to its value; a ``mean``/``share`` KPI's cells, weighted by ``n``,
    average to it. Cells without items (or, for a mean or share, with no weight) have no row.
    Each KPI is binned on its own (items never pile up across KPIs); items at the same places
    (the WiFi attempts of several KPIs) are binned once.
    """
    binned: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # id(x) -> (x kept alive, cells, codes)
    names: list[str] = []
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for name, where in WHERE.items():
        x, y, num, den = where.fn(w)
        if not len(x):
            continue
        hit = binned.get(id(x))
        if hit is None or hit[0] is not x:
            key = (np.floor(x / grid_m).astype(np.int64) << 32) + (np.floor(y / grid_m).astype(np.int64) + (1 << 31))
            cells, codes = np.unique(key, return_inverse=True)
            hit = binned[id(x)] = (x, cells, codes)
        _x, cells, codes = hit
        total = np.bincount(codes, weights=num, minlength=len(cells))
        weight = np.bincount(codes, weights=den, minlength=len(cells))
        if where.how == "sum":
            keep, value = np.ones(len(cells), bool), total
        else:
            keep = weight > 0
            value = total[keep] / weight[keep]
        names.append(name)
        parts.append((cells[keep], value, weight[keep], np.full(int(keep.sum()), len(names) - 1)))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "metric" else float) for c in SPATIAL_COLUMNS})
    cells, value, weight, k = (np.concatenate(p) for p in zip(*parts, strict=True))
    return pd.DataFrame(
        {
            "metric": np.asarray(names, object)[k],
            "x": ((cells >> 32) + 0.5) * grid_m,
            "y": ((cells & 0xFFFFFFFF) - (1 << 31) + 0.5) * grid_m,
            "value": value,
            "n": weight,
        }
    )
