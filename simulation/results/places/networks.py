"""Maps of the networks' KPIs: WiFi attempts and APs, small cells, LoRaWAN end devices, edge units' cameras."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from simulation.results.kpis import queue_jobs
from simulation.results.places.core import EMPTY, Points, at, cache, pts, where

if TYPE_CHECKING:
    from simulation.world import World


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

    return cache(w, "_places_attempts", make)  # type: ignore[return-value]


@where("connectivity.sessions_served_pct", "WiFi attempt", "share")
def _served(w: World) -> Points:
    a = _attempts(w)
    return pts(a["x"], a["y"], 100.0 * a["served"])


@where("connectivity.coverage_pct", "WiFi attempt", "share")
def _covered(w: World) -> Points:
    a = _attempts(w)
    return pts(a["x"], a["y"], 100.0 * a["covered"])


@where("connectivity.mean_throughput_mbps", "served WiFi attempt", "mean")
def _thr(w: World) -> Points:
    a = _attempts(w)
    return pts(a["x"], a["y"], a["thr"] * a["served"], a["served"])


@where("connectivity.demand_met_pct", "WiFi attempt (weighted by its demand)", "share")
def _demand_met(w: World) -> Points:
    a = _attempts(w)
    return pts(a["x"], a["y"], 100.0 * a["thr"], a["demand"])


@where("connectivity.sessions_blocked", "WiFi attempt", "sum")
def _blocked(w: World) -> Points:
    a = _attempts(w)
    return pts(a["x"], a["y"], a["covered"] & ~a["served"])


@where("connectivity.attempts", "WiFi attempt", "sum")
def _n_attempts(w: World) -> Points:
    a = _attempts(w)
    return pts(a["x"], a["y"], np.ones(len(a["x"])))


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

    return cache(w, "_places_ap", make)  # type: ignore[return-value]


@where("connectivity.sessions_dropped", "access point", "sum")
def _dropped(w: World) -> Points:
    a = _ap_sessions(w)
    return at(w, a["aps"], np.bincount(a["ap"], weights=a["dropped"], minlength=len(a["aps"])))


@where("connectivity.clients_mean", "access point", "sum")
def _clients(w: World) -> Points:
    a = _ap_sessions(w)
    now = float(w.env.now)
    if now <= 0:
        return EMPTY
    start = a["start"]
    dur = np.where(np.isnan(start), 0.0, np.minimum(np.nan_to_num(a["end"], nan=now), now) - np.nan_to_num(start))
    return at(w, a["aps"], np.bincount(a["ap"], weights=dur / now, minlength=len(a["aps"])))


# --------------------------------------------------------------------------- cellular: the attempts WiFi did not serve
@where("cellular.sessions_served", "WiFi attempt a small cell took", "sum")
def _cell_served(w: World) -> Points:
    a = _attempts(w)
    return pts(a["x"], a["y"], a["cell"])


@where("cellular.offload_pct", "attempt WiFi did not serve", "share")
def _offload(w: World) -> Points:
    a = _attempts(w)
    u = a["unserved"]
    return pts(a["x"][u], a["y"][u], 100.0 * a["cell"][u])


@where("cellular.any_served_pct", "WiFi attempt", "share")
def _any_served(w: World) -> Points:
    a = _attempts(w)
    return pts(a["x"], a["y"], 100.0 * (a["served"] | a["cell"]))


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


@where("iot.delivery_ratio_pct", "LoRaWAN end device (weighted by its uplinks)", "share")
def _iot_ratio(w: World) -> Points:
    d = _devices(w)
    d = d[d["sent"] > 0]
    return pts(d["x"].to_numpy(), d["y"].to_numpy(), 100.0 * d["delivered"].to_numpy(), d["sent"].to_numpy())


@where("iot.latency_s", "LoRaWAN end device (weighted by its delivered uplinks)", "mean")
def _iot_latency(w: World) -> Points:
    d = _devices(w)
    d = d[d["delivered"] > 0]
    return pts(d["x"].to_numpy(), d["y"].to_numpy(), d["latency"].to_numpy(), d["delivered"].to_numpy())


@where("iot.sensor_availability_pct", "S-DoT sensor", "share")
def _iot_avail(w: World) -> Points:
    d = _devices(w, sdot_only=True)
    n = w.environment.n_samples
    if d.empty or not n:
        return EMPTY
    return pts(d["x"].to_numpy(), d["y"].to_numpy(), 100.0 * d["delivered"].to_numpy(), np.full(len(d), n))


@where("iot.uplinks_lost", "LoRaWAN end device", "sum")
def _iot_lost(w: World) -> Points:
    d = _devices(w)
    return pts(d["x"].to_numpy(), d["y"].to_numpy(), (d["sent"] - d["delivered"]).to_numpy())


@where("edge.backhaul_saved_mbps", "camera sending clips", "sum")
def _edge_saved(w: World) -> Points:
    v = w.edge.saved_at
    return at(w, list(v), list(v.values()))


@where("edge.false_alarms_filtered", "camera whose false detection was caught", "sum")
def _edge_filtered(w: World) -> Points:
    v = w.edge.filtered_at
    return at(w, list(v), [float(n) for n in v.values()])
