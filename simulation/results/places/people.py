"""Maps of what happens to people: incidents, cameras on the wall, doses and heat at a person's place, notices."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from simulation.results.kpis import _waits, queue_records
from simulation.results.places.core import EMPTY, Points, at, blocks, cache, placed, pts, where

if TYPE_CHECKING:
    from simulation.world import World


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

    return cache(w, "_places_incidents", make)  # type: ignore[return-value]


def _incident_xy(w: World) -> dict[str, tuple[float, float]]:
    return {i.id: (i.x, i.y) for i in w.safety.incidents}


@where("safety.incidents", "incident", "sum")
def _n_incidents(w: World) -> Points:
    a = _incidents(w)
    return pts(a["x"], a["y"], np.ones(len(a["x"])))


@where("safety.detected_pct", "incident", "share")
def _detected(w: World) -> Points:
    a = _incidents(w)
    return pts(a["x"], a["y"], 100.0 * a["cctv"])


@where("safety.time_to_detect_s", "detected incident", "mean")
def _to_detect(w: World) -> Points:
    a = _incidents(w)
    ok = ~np.isnan(a["detected"])
    return pts(a["x"][ok], a["y"][ok], (a["detected"] - a["t"])[ok])


@where("safety.time_to_respond_s", "incident a responder reached", "mean")
def _to_respond(w: World) -> Points:
    a = _incidents(w)
    ok = ~np.isnan(a["responded"])
    return pts(a["x"][ok], a["y"][ok], (a["responded"] - a["t"])[ok])


@where("safety.missed", "incident", "sum")
def _missed(w: World) -> Points:
    a = _incidents(w)
    return pts(a["x"], a["y"], np.isnan(a["detected"]))


def _by_incident(w: World, jobs: Iterable[str], num: Iterable[float]) -> Points:
    return placed(_incident_xy(w), jobs, num)


@where("safety.operator_wait_s", "incident (its operator job)", "mean")
def _op_wait(w: World) -> Points:
    waits = _waits(w, ("operators", "city_centre"), "incident")
    return _by_incident(w, waits.index, waits.to_numpy())


@where("safety.escalated", "incident", "sum")
def _escalated(w: World) -> Points:
    df = queue_records(w)
    df = df[(df["queue"] == "operators") & (df["user"] == "incident") & (df["outcome"] == "escalated")]
    return _by_incident(w, df["job"], np.ones(len(df)))


@where("safety.false_alarms_handled", "camera that raised the false alarm", "sum")
def _false_alarms(w: World) -> Points:
    df = queue_records(w)
    df = df[(df["user"] == "false_alarm") & (df["outcome"] == "served")]
    dets = w.safety.detections
    rows = [(float(dets[j]["x"]), float(dets[j]["y"])) for j in df["job"] if j in dets]
    if not rows:
        return EMPTY
    a = np.asarray(rows, float)
    return a[:, 0], a[:, 1], np.ones(len(a)), np.ones(len(a))


@where("privacy.camera_minutes_viewed", "camera", "sum")
def _viewed(w: World) -> Points:
    v = w.safety.viewed_min  # filled from a set: in id order, so cells add up in the same order every run
    return at(w, sorted(v), [v[c] for c in sorted(v)])


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

    return cache(w, "_places_homes", make)  # type: ignore[return-value]


def _people(w: World, values: np.ndarray | None, who: np.ndarray) -> Points:
    hx, hy = _homes(w)
    vals = np.zeros(len(who)) if values is None else values
    ok = who & ~np.isnan(hx)
    return pts(hx[ok], hy[ok], vals[ok])


@where("environment.mean_exposure", "person's longest stay (home, workplace)", "mean")
def _exposure(w: World) -> Points:
    e = w.environment
    return _people(w, e.per_citizen, e.present) if hasattr(e, "present") else EMPTY


@where("environment.vulnerable_exposure", "child's or elderly resident's longest stay (home)", "mean")
def _vul_exposure(w: World) -> Points:
    e = w.environment
    return _people(w, e.per_citizen, e.vulnerable) if hasattr(e, "vulnerable") else EMPTY


@where("heat.exposure_h", "person's longest stay (home, workplace)", "mean")
def _heat(w: World) -> Points:
    total, here, _vul = w.heat_people
    return _people(w, total, here)


@where("heat.vulnerable_exposure_h", "child's or elderly resident's longest stay (home)", "mean")
def _heat_vul(w: World) -> Points:
    total, _here, vul = w.heat_people
    return _people(w, total, vul)


@where("environment.sensor_availability_pct", "S-DoT sensor", "share")
def _sensor_avail(w: World) -> Points:
    e = w.environment
    if not e.sensors or not e.n_samples:
        return EMPTY
    ok = e.delivered_readings()
    return pts([s.x for s in e.sensors], [s.y for s in e.sensors], 100.0 * ok, np.full(len(ok), e.n_samples))


@where("environment.alert_precision_pct", "air-quality alert's centre", "share")
def _precision(w: World) -> Points:
    e = w.environment
    hits, _over, _caught = _alert_items(w)
    return pts([a[1] for a in e.alerts], [a[2] for a in e.alerts], 100.0 * hits)


@where("environment.alert_recall_pct", "PM2.5 grid cell (its hours over the threshold)", "share")
def _recall(w: World) -> Points:
    e = w.environment
    _hits, over, caught = _alert_items(w)
    k = np.flatnonzero(over)
    gx, gy = np.meshgrid(e.cx, e.cy)
    return gx.ravel()[k], gy.ravel()[k], 100.0 * caught[k], over[k].astype(float)


def _alert_items(w: World) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return cache(w, "_places_alerts", w.environment.alert_items)  # type: ignore[return-value]


# --------------------------------------------------------------------------- notices and edge units
@where("notices.reached", "notice's centre", "sum")
def _reached(w: World) -> Points:
    s = w.notices.sent
    return pts([a[0] for a in s], [a[1] for a in s], [a[2] for a in s])


@where("notices.complied", "notice's centre", "sum")
def _complied(w: World) -> Points:
    s = w.notices.sent
    return pts([a[0] for a in s], [a[1] for a in s], [a[3] for a in s])


@where("notices.rerouted_trips", "block an errand was moved away from", "sum")
def _rerouted(w: World) -> Points:
    return blocks(w, w.notices.rerouted_from)
