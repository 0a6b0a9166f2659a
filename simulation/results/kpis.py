"""The KPI catalogue: each KPI is a named function with a unit and a direction.

Names are ``domain.metric``. ``better`` is ``higher`` or ``lower`` (``none`` for context figures
such as how many incidents happened), which the comparison uses to call a change better or worse.
A KPI that has no meaning in a run (no incidents, no sessions) is NaN, never a made-up zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from simulation.results.queueing import time_in_queue

if TYPE_CHECKING:
    from simulation.world import World

__all__ = ["CATALOGUE", "KPI", "compute_kpis", "hourly_kpis", "kpi", "queue_jobs", "queue_records"]


@dataclass(frozen=True)
class KPI:
    """One KPI: name, unit, direction, meaning, and how it is computed from a finished world."""

    name: str
    unit: str
    better: Literal["higher", "lower", "none"]
    description: str
    fn: Callable[[World], float]

    @property
    def domain(self) -> str:
        """The part of the name before the dot."""
        return self.name.split(".", 1)[0]


CATALOGUE: dict[str, KPI] = {}


def kpi(name: str, unit: str, better: Literal["higher", "lower", "none"], description: str) -> Callable:
    """Register a KPI function in the catalogue."""

    def deco(fn: Callable[[World], float]) -> Callable[[World], float]:
        CATALOGUE[name] = KPI(name, unit, better, description, fn)
        return fn

    return deco


def _mean(xs: list[float] | np.ndarray) -> float:
    return float(np.mean(xs)) if len(xs) else math.nan


def _pct(num: int | float, den: int | float) -> float:
    return 100.0 * num / den if den else math.nan


def queue_records(w: World) -> pd.DataFrame:
    """The world's per-job queue records (built once per finished world)."""
    df = w.__dict__.get("_queue_frame")
    if df is None:
        df = w.__dict__["_queue_frame"] = w.queues.frame()
    return df


def queue_jobs(w: World, queues: tuple[str, ...], user: str) -> pd.DataFrame:
    """The queue records of ``user``'s jobs on ``queues`` (once per finished world: KPIs and maps share them)."""
    cache = w.__dict__.setdefault("_queue_jobs", {})
    sel = cache.get((queues, user))
    if sel is None:
        df = queue_records(w)
        sel = cache[(queues, user)] = df[df["queue"].isin(queues) & (df["user"] == user)]
    return sel


def _waits(w: World, queues: tuple[str, ...], user: str) -> pd.Series:
    """Time in queue of ``user``'s jobs on ``queues`` (jobs unfinished at the end count up to it), per job."""
    cache = w.__dict__.setdefault("_queue_waits", {})
    waits = cache.get((queues, user))
    if waits is None:
        sel = queue_jobs(w, queues, user)
        waits = cache[(queues, user)] = time_in_queue(sel, float(w.env.now)).groupby(sel["job"], sort=False).sum()
    return waits


# --------------------------------------------------------------------------- connectivity
@kpi("connectivity.sessions_served_pct", "%", "higher", "WiFi session attempts served by an AP")
def sessions_served(w: World) -> float:
    return _pct(sum(w.conn.rec_served), len(w.conn.rec_served))


@kpi("connectivity.coverage_pct", "%", "higher", "WiFi attempts made within range of a working, operated AP")
def coverage(w: World) -> float:
    return _pct(sum(w.conn.rec_covered), len(w.conn.rec_covered))


@kpi("connectivity.mean_throughput_mbps", "Mbps", "higher", "mean throughput at start of served sessions")
def throughput(w: World) -> float:
    return _mean([t for t, s in zip(w.conn.rec_thr, w.conn.rec_served, strict=True) if s])


@kpi("connectivity.demand_met_pct", "%", "higher", "throughput delivered over throughput wanted, all attempts")
def demand_met(w: World) -> float:
    return _pct(sum(w.conn.rec_thr), sum(w.conn.rec_demand))


@kpi("connectivity.backhaul_peak_pct", "%", "lower", "peak utilisation of the busiest trunk fibre link")
def backhaul_peak(w: World) -> float:
    return 100.0 * max((w.infra.peak_util[t] for t in w.infra.trunks), default=math.nan)


@kpi("connectivity.sessions_dropped", "sessions", "lower", "sessions cut off when their AP lost power or backhaul")
def dropped(w: World) -> float:
    return float(w.conn.dropped)


@kpi(
    "connectivity.sessions_blocked",
    "sessions",
    "lower",
    "attempts within range that no AP could take (clients or airtime full)",
)
def blocked(w: World) -> float:
    return float(w.conn.blocked)


@kpi("connectivity.clients_mean", "clients", "none", "time-average clients connected over all APs")
def clients_mean(w: World) -> float:
    return w.conn.client_area / w.env.now if w.env.now > 0 else math.nan


@kpi("connectivity.attempts", "sessions", "none", "WiFi session attempts (demand)")
def attempts(w: World) -> float:
    return float(len(w.conn.rec_served))


# --------------------------------------------------------------------------- safety
@kpi("safety.incidents", "incidents", "none", "incidents that happened")
def incidents(w: World) -> float:
    return float(len(w.safety.incidents))


@kpi("safety.detected_pct", "%", "higher", "incidents detected through CCTV (AI flag or operator)")
def detected(w: World) -> float:
    inc = w.safety.incidents
    return _pct(sum(1 for i in inc if i.cctv), len(inc))


@kpi("safety.time_to_detect_s", "s", "lower", "occurrence to first detection by any channel (CCTV or call)")
def time_to_detect(w: World) -> float:
    return _mean([i.detected_at - i.t for i in w.safety.incidents if i.detected_at is not None])


@kpi("safety.time_to_respond_s", "s", "lower", "occurrence to a responder's arrival")
def time_to_respond(w: World) -> float:
    return _mean([i.responded_at - i.t for i in w.safety.incidents if i.responded_at is not None])


@kpi("safety.missed", "incidents", "lower", "incidents nobody detected before the run ended")
def missed(w: World) -> float:
    return float(sum(1 for i in w.safety.incidents if i.detected_at is None))


@kpi(
    "safety.operator_wait_s",
    "s",
    "lower",
    "mean wait for an operator per incident (district and city centre; unfinished jobs count to the end)",
)
def operator_wait(w: World) -> float:
    return _mean(_waits(w, ("operators", "city_centre"), "incident").to_numpy())


@kpi("safety.escalated", "incidents", "none", "incidents a linked district passed up to the city centre")
def escalated(w: World) -> float:
    df = queue_records(w)
    return float(((df["queue"] == "operators") & (df["user"] == "incident") & (df["outcome"] == "escalated")).sum())


@kpi("safety.operators_on_duty", "operators", "none", "mean operators on duty at the district centre")
def operators_on_duty(w: World) -> float:
    return w.safety.mean_operators


@kpi("safety.operator_queue_mean", "jobs", "lower", "time-average number of jobs waiting for an operator")
def queue_mean(w: World) -> float:
    return w.safety.mean_queue_length


@kpi("safety.operator_utilisation_pct", "%", "lower", "busy time over on-duty operator time")
def utilisation(w: World) -> float:
    return 100.0 * w.safety.operator_utilisation


@kpi("safety.false_alarms_handled", "jobs", "lower", "false AI alarms that took an operator's time")
def false_alarms(w: World) -> float:
    df = queue_records(w)
    return float(((df["user"] == "false_alarm") & (df["outcome"] == "served")).sum())


# --------------------------------------------------------------------------- energy, infra, privacy
@kpi("energy.lighting_kwh", "kWh", "lower", "energy drawn by streetlights")
def lighting_kwh(w: World) -> float:
    return float(w.energy_kwh)


@kpi("infra.poles_up_min_pct", "%", "higher", "lowest share of poles powered and connected during the run")
def poles_up_min(w: World) -> float:
    vals = [v for _t, m, v in w.series.rows if m == "infra.poles_up_pct"]
    return min(vals) if vals else math.nan


@kpi("privacy.camera_minutes_viewed", "camera-min", "lower", "camera-minutes shown to operators on the wall")
def camera_minutes(w: World) -> float:
    return float(w.safety.camera_minutes_viewed)


# --------------------------------------------------------------------------- World II: environment
@kpi("environment.mean_exposure", "µg/m³·h", "lower", "PM2.5 dose per person while in the district (stays and trips)")
def mean_exposure(w: World) -> float:
    return w.environment.exposure.get("mean", math.nan)


@kpi("environment.vulnerable_exposure", "µg/m³·h", "lower", "PM2.5 dose per child or elderly resident")
def vulnerable_exposure(w: World) -> float:
    return w.environment.exposure.get("vulnerable", math.nan)


@kpi("environment.sensor_availability_pct", "%", "higher", "S-DoT readings delivered over readings scheduled")
def sensor_availability(w: World) -> float:
    return w.environment.availability()


@kpi("environment.alert_precision_pct", "%", "higher", "air-quality alerts where PM2.5 truly exceeded the threshold")
def alert_precision(w: World) -> float:
    return w.environment.alert_scores()[0]


@kpi("environment.alert_recall_pct", "%", "higher", "cell-hours over the PM2.5 threshold covered by an alert")
def alert_recall(w: World) -> float:
    return w.environment.alert_scores()[1]


# --------------------------------------------------------------------------- World II: logistics, mobility
@kpi("logistics.requests", "requests", "none", "delivery requests (parcels and food)")
def requests(w: World) -> float:
    return w.logistics.outcome()["requests"]


@kpi("logistics.completed_pct", "%", "higher", "requests due in the run that were delivered")
def completed(w: World) -> float:
    o = w.logistics.outcome()
    return _pct(o["completed"], o["due"])


@kpi("logistics.delivery_time_min", "min", "lower", "request to delivery, delivered requests")
def delivery_time(w: World) -> float:
    return w.logistics.outcome()["time_min"]


@kpi(
    "logistics.late_deliveries",
    "requests",
    "lower",
    "requests due in the run delivered after the deadline or not at all",
)
def late(w: World) -> float:
    return w.logistics.outcome()["late"]


@kpi("logistics.vehicle_km", "km", "lower", "road vehicle-km of vans and couriers (conventional and fleets)")
def vehicle_km(w: World) -> float:
    return w.logistics.outcome()["vehicle_km"]


@kpi("logistics.van_km", "km", "lower", "road km of the conventional parcel vans and fleet vans")
def van_km(w: World) -> float:
    return w.logistics.van_km


@kpi("logistics.courier_km", "km", "lower", "road km of motorbike food couriers (delivery leg and repositioning)")
def courier_km(w: World) -> float:
    return w.logistics.courier_km


@kpi("logistics.charge_wait_min", "min", "lower", "fleet units' wait for a dock or charger pad (not EV drivers)")
def charge_wait(w: World) -> float:
    return _mean(_waits(w, ("ev_chargers", "drone_pads", "hub_pads"), "fleet").to_numpy()) / 60


@kpi("mobility.cruising_time_min", "min", "lower", "time arriving drivers spend looking for parking")
def cruising(w: World) -> float:
    return _mean(w.mobility.cruise_min)


@kpi("mobility.charger_utilisation_pct", "%", "none", "S-Pole EV charger time spent charging")
def charger_utilisation(w: World) -> float:
    return w.mobility.utilisation("ev_charger")


@kpi(
    "mobility.ev_unserved",
    "drivers",
    "lower",
    "EV drivers at a charger who found no pad (left at once or after 15 min)",
)
def ev_unserved(w: World) -> float:
    df = queue_records(w)
    return float(((df["user"] == "ev_driver") & df["outcome"].isin(("balked", "reneged"))).sum())


@kpi(
    "mobility.ev_no_charger",
    "drivers",
    "none",
    "EV drivers who wanted to charge with no charger within walking distance",
)
def ev_no_charger(w: World) -> float:
    return float(w.mobility.ev_no_charger)


@kpi("mobility.ev_wait_min", "min", "lower", "EV drivers' wait for a charger pad (not fleet units)")
def ev_wait(w: World) -> float:
    return _mean(_waits(w, ("ev_chargers",), "ev_driver").to_numpy()) / 60


# --------------------------------------------------------------------------- World II: energy, infra
@kpi("energy.total_kwh", "kWh", "lower", "energy drawn by every module on every pole, lights and charging")
def total_kwh(w: World) -> float:
    return w.energy.total_kwh


@kpi("energy.kwh_per_pole", "kWh", "lower", "total energy over poles")
def kwh_per_pole(w: World) -> float:
    return w.energy.total_kwh / max(1, len(w.d.poles))


@kpi("energy.lit_where_people_pct", "%", "higher", "people present at night near a lit pole")
def lit_where_people(w: World) -> float:
    return w.energy.lit_where_people_pct


@kpi("infra.power_overruns", "events", "lower", "times a pole drew more than its power budget")
def power_overruns(w: World) -> float:
    return float(w.energy.overruns)


# --------------------------------------------------------------------------- an open world
@kpi("iot.delivery_ratio_pct", "%", "higher", "LoRaWAN uplinks (S-DoT and service sensors) that reached the platform")
def iot_delivery(w: World) -> float:
    t = w.iot.totals()
    return _pct(t["delivered"], t["sent"])


@kpi("iot.latency_s", "s", "lower", "mean airtime plus network time of delivered LoRaWAN uplinks")
def iot_latency(w: World) -> float:
    return w.iot.totals()["latency_s"]


@kpi("iot.sensor_availability_pct", "%", "higher", "S-DoT readings scheduled that reached the platform over LoRaWAN")
def iot_availability(w: World) -> float:
    t = w.iot.totals()
    scheduled = len(w.iot.sdot) * w.environment.n_samples
    return _pct(t["sdot_delivered"], scheduled)


@kpi("iot.uplinks_lost", "uplinks", "lower", "LoRaWAN uplinks lost (collisions, duty cycle, no gateway in range)")
def iot_lost(w: World) -> float:
    t = w.iot.totals()
    return t["sent"] - t["delivered"]


@kpi("cellular.sessions_served", "sessions", "higher", "sessions WiFi could not serve that a 5G small cell served")
def cellular_served(w: World) -> float:
    return float(w.cellular.served)


@kpi("cellular.offload_pct", "%", "higher", "share of sessions WiFi could not serve that 5G small cells served")
def cellular_offload(w: World) -> float:
    return _pct(w.cellular.served, w.cellular.tried)


@kpi("cellular.any_served_pct", "%", "higher", "session attempts served by WiFi or a 5G small cell")
def any_served(w: World) -> float:
    return _pct(sum(w.conn.rec_served) + w.cellular.served, len(w.conn.rec_served))


@kpi("parking.cruising_vehicle_km", "km", "lower", "vehicle-km driven looking for a parking space")
def parking_vkm(w: World) -> float:
    return w.parking.totals()["vehicle_km"]


@kpi("parking.cruising_co2_kg", "kg", "lower", "CO2 emitted while cruising for a parking space")
def parking_co2(w: World) -> float:
    return w.parking.totals()["co2_kg"]


@kpi("parking.guided_drivers", "drivers", "none", "arriving drivers who followed a display or a parking notice")
def parking_guided(w: World) -> float:
    return w.parking.totals()["guided"]


@kpi("heat.exposure_h", "h", "lower", "hours outdoors at 33 °C or more, per person in the district")
def heat_mean(w: World) -> float:
    return w.heat.get("mean", math.nan)


@kpi("heat.vulnerable_exposure_h", "h", "lower", "hours outdoors at 33 °C or more, per child or elderly resident")
def heat_vulnerable(w: World) -> float:
    return w.heat.get("vulnerable", math.nan)


@kpi(
    "notices.reached",
    "people",
    "none",
    "notice receipts (heat, outage, safety, crowd; a person reached twice counts twice)",
)
def notices_reached(w: World) -> float:
    return float(sum(v[1] for v in w.notices.counts.values()))


@kpi(
    "notices.complied",
    "people",
    "none",
    "notice receipts acted on (did what a heat, outage, safety or crowd notice asked)",
)
def notices_complied(w: World) -> float:
    return float(sum(v[2] for v in w.notices.counts.values()))


@kpi("notices.rerouted_trips", "trips", "none", "errands moved out of an area a notice asked people to avoid")
def notices_rerouted(w: World) -> float:
    return float(w.notices.rerouted)


@kpi("edge.backhaul_saved_mbps", "Mbps", "higher", "camera video kept off the fibre by edge units (clips, not streams)")
def edge_saved(w: World) -> float:
    return w.edge.saved_mbps


@kpi("edge.false_alarms_filtered", "detections", "none", "false AI detections caught on the pole by edge units")
def edge_filtered(w: World) -> float:
    return float(w.edge.filtered)


def compute_kpis(w: World) -> dict[str, float]:
    """Every catalogue KPI for a finished world, in catalogue order."""
    return {name: float(k.fn(w)) for name, k in CATALOGUE.items()}


def hourly_kpis(w: World) -> list[tuple[float, str, float]]:
    """KPIs by hour of the run, for charts over the day: ``(t_hour_start, kpi, value)``."""
    rows: list[tuple[float, str, float]] = []
    n = int(math.ceil(w.sc.duration / 3600))
    if w.conn.rec_t:
        t = np.asarray(w.conn.rec_t)
        h = (t // 3600).astype(int)
        served = np.asarray(w.conn.rec_served, float)
        thr = np.asarray(w.conn.rec_thr)
        cnt = np.bincount(h, minlength=n)
        s = np.bincount(h, weights=served, minlength=n)
        tp = np.bincount(h, weights=thr * served, minlength=n)
        for k in range(n):
            if cnt[k]:
                rows.append((k * 3600.0, "connectivity.sessions_served_pct", 100.0 * s[k] / cnt[k]))
            if s[k]:
                rows.append((k * 3600.0, "connectivity.mean_throughput_mbps", tp[k] / s[k]))
    by_hour: dict[int, list[float]] = {}
    for i in w.safety.incidents:
        if i.responded_at is not None:
            by_hour.setdefault(int(i.t // 3600), []).append(i.responded_at - i.t)
    for k, v in sorted(by_hour.items()):
        rows.append((k * 3600.0, "safety.time_to_respond_s", float(np.mean(v))))
    return rows
