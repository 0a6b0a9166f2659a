"""Maps of what happens on the streets: poles' energy, deliveries, drivers, chargers."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from simulation.results.kpis import _waits, queue_jobs, queue_records
from simulation.results.places.core import EMPTY, Points, at, blocks, cache, pts, where

if TYPE_CHECKING:
    from simulation.world import World


# --------------------------------------------------------------------------- energy and infrastructure: poles
@where("energy.lighting_kwh", "pole", "sum")
def _light_kwh(w: World) -> Points:
    v = w.lights.wh_pole
    return at(w, list(v), [x / 1000 for x in v.values()])


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


@where("energy.total_kwh", "pole", "sum")
def _total_kwh(w: World) -> Points:
    return at(w, *_pole_kwh(w))


@where("energy.kwh_per_pole", "pole", "mean")
def _kwh_pole(w: World) -> Points:
    return at(w, *_pole_kwh(w))


@where("energy.lit_where_people_pct", "block (people present at night)", "share")
def _lit(w: World) -> Points:
    e = w.energy
    night = np.asarray(e.night_block, float)
    b = np.flatnonzero(night > 0)
    x, y, _n, _d = blocks(w, b)
    return x, y, 100.0 * np.asarray(e.lit_block, float)[b], night[b]


@where("infra.power_overruns", "pole", "sum")
def _overruns(w: World) -> Points:
    poles = [s for _t, k, s, _d in w.log.rows if k == "power.overrun"]
    return at(w, poles, np.ones(len(poles)))


def _drivers(w: World) -> tuple[np.ndarray, np.ndarray]:
    """Arriving drivers' destination blocks and cruising minutes."""
    m = w.mobility
    return cache(  # type: ignore[return-value]
        w,
        "_places_drivers",
        lambda: (np.fromiter(m.cruise_block, np.int64), np.fromiter(m.cruise_min, float, len(m.cruise_min))),
    )


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

    return cache(w, "_places_requests", make)  # type: ignore[return-value]


def _done_by_end(w: World, r: pd.DataFrame) -> np.ndarray:
    d = r["delivered"].to_numpy()
    return ~np.isnan(d) & (d <= w.sc.duration)


@where("logistics.requests", "delivery's destination", "sum")
def _n_requests(w: World) -> Points:
    r = _requests(w)
    return pts(r["x"].to_numpy(), r["y"].to_numpy(), np.ones(len(r)))


@where("logistics.completed_pct", "destination of a delivery due in the run", "share")
def _completed(w: World) -> Points:
    r = _requests(w)
    due = (r["deadline"] <= w.sc.duration).to_numpy()
    done = _done_by_end(w, r)
    return pts(r["x"].to_numpy()[due], r["y"].to_numpy()[due], 100.0 * done[due])


@where("logistics.delivery_time_min", "delivered delivery's destination", "mean")
def _delivery_time(w: World) -> Points:
    r = _requests(w)
    ok = _done_by_end(w, r)
    mins = ((r["delivered"] - r["created"]) / 60).to_numpy()
    return pts(r["x"].to_numpy()[ok], r["y"].to_numpy()[ok], mins[ok])


@where("logistics.late_deliveries", "destination of a delivery due in the run", "sum")
def _late(w: World) -> Points:
    r = _requests(w)
    end = w.sc.duration
    d = r["delivered"].to_numpy()
    due = (r["deadline"] <= end).to_numpy()
    with np.errstate(invalid="ignore"):
        late = np.isnan(d) | (d > r["deadline"].to_numpy()) | (d > end)
    return pts(r["x"].to_numpy()[due], r["y"].to_numpy()[due], late[due])


@where("logistics.vehicle_km", "delivery's destination (a van tour's km shared by its deliveries)", "sum")
def _vkm(w: World) -> Points:
    r = _requests(w)
    return pts(r["x"].to_numpy(), r["y"].to_numpy(), (r["van_km"] + r["courier_km"]).to_numpy())


@where("logistics.van_km", "delivery's destination (a van tour's km shared by its deliveries)", "sum")
def _van_km(w: World) -> Points:
    r = _requests(w)
    return pts(r["x"].to_numpy(), r["y"].to_numpy(), r["van_km"].to_numpy())


@where("logistics.courier_km", "delivery's destination", "sum")
def _courier_km(w: World) -> Points:
    r = _requests(w)
    return pts(r["x"].to_numpy(), r["y"].to_numpy(), r["courier_km"].to_numpy())


def _waits_at(w: World, queues: tuple[str, ...], user: str, scale: float = 1.0) -> Points:
    """Each job's time in queue at the charger or pad it queued for."""
    waits = _waits(w, queues, user)
    sel = queue_jobs(w, queues, user)
    server = dict(zip(sel["job"], sel["server"], strict=True))  # a job queues at one charger or pad
    return at(w, [str(server[j]) for j in waits.index], waits.to_numpy() * scale)


@where("logistics.charge_wait_min", "charger or pad a fleet unit queued for", "mean")
def _charge_wait(w: World) -> Points:
    return _waits_at(w, ("ev_chargers", "drone_pads", "hub_pads"), "fleet", 1 / 60)


# ------------------------------------------------- mobility and parking: drivers' destinations, chargers
@where("mobility.cruising_time_min", "arriving driver's destination block", "mean")
def _cruise(w: World) -> Points:
    return blocks(w, *_drivers(w))


@where("parking.cruising_vehicle_km", "arriving driver's destination block", "sum")
def _cruise_km(w: World) -> Points:
    from simulation.world.parking import CRUISE_KMH  # here: the app imports this module, not the world

    b, mins = _drivers(w)
    return blocks(w, b, mins / 60.0 * CRUISE_KMH)


@where("parking.cruising_co2_kg", "arriving driver's destination block", "sum")
def _cruise_co2(w: World) -> Points:
    from simulation.world.parking import CO2_KG_PER_KM, CRUISE_KMH

    b, mins = _drivers(w)
    return blocks(w, b, mins / 60.0 * CRUISE_KMH * CO2_KG_PER_KM)


@where("parking.guided_drivers", "guided driver's destination block", "sum")
def _guided(w: World) -> Points:
    return blocks(w, w.mobility.guided_at)


@where("mobility.ev_no_charger", "EV driver's destination block", "sum")
def _no_charger(w: World) -> Points:
    return blocks(w, w.mobility.no_charger_at)


@where("mobility.charger_utilisation_pct", "EV charger (weighted by its pad-time)", "share")
def _charger_util(w: World) -> Points:
    chs = [c for c in w.mobility.chargers.values() if c.kind == "ev_charger"]
    now = float(w.env.now)
    if not chs or now <= 0:
        return EMPTY
    cap = np.array([c.pads * now for c in chs], float)
    return pts([c.x for c in chs], [c.y for c in chs], [100.0 * c.busy_s for c in chs], cap)


@where("mobility.ev_unserved", "EV charger", "sum")
def _ev_unserved(w: World) -> Points:
    df = queue_records(w)
    df = df[(df["user"] == "ev_driver") & df["outcome"].isin(("balked", "reneged"))]
    return at(w, df["server"], np.ones(len(df)))


@where("mobility.ev_wait_min", "EV charger", "mean")
def _ev_wait(w: World) -> Points:
    return _waits_at(w, ("ev_chargers",), "ev_driver", 1 / 60)
