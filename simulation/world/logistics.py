"""Logistics: delivery requests, the conventional vans and couriers, and services' fleets.

Requests (parcels from the hubs, food from commercial blocks) are drawn when the world is built,
by hour and land use, with origin, destination, deadline, value and weight; heavy rain and
festivals add food orders. Each request carries a pre-drawn number that routes it to a service
with a fleet by the services' declared market shares (sorted by name), or to the conventional
operators. Services see their requests in the ``logistics.requests`` feed and serve them with
``Dispatch``; a request left undispatched for ``fallback_min`` goes to the conventional operators.

Conventional parcels leave the hubs in van waves (nearest-neighbour tours on the streets); food
goes by motorbike courier. Both are computed in closed form per wave or per order, so the baseline
costs a handful of events. A fleet unit's mission is one SimPy process: to the pick-up, to the
drop-off, back to its dock or charger, and a charge there (queueing for a pad) when low.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Generator
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import simpy

from simulation import sdk
from simulation.config.district import District
from simulation.config.scenario import FaultSpec, Scenario
from simulation.rng import Streams
from simulation.world.calendar import Calendar
from simulation.world.energy import dist2_from
from simulation.world.log import EventLog, Series
from simulation.world.mobility import Charger, Mobility
from simulation.world.population import Population

# Parcels ready at the hubs by hour, relative (judgement: sorted overnight, out from the morning).
PARCEL_HOURLY = (0, 0, 0, 0, 0, 0, 0.5, 1.5, 2.0, 2.0, 1.8, 1.5, 1.2, 1.2, 1.2, 1.0, 0.8, 0.6, 0.4, 0.2, 0.1, 0, 0, 0)
# Food orders by hour, relative (judgement: lunch and dinner peaks, some late night).
FOOD_HOURLY = (
    0.3,
    0.2,
    0.1,
    0,
    0,
    0,
    0,
    0.1,
    0.2,
    0.3,
    0.6,
    1.8,
    2.2,
    1.0,
    0.5,
    0.5,
    0.7,
    1.6,
    2.4,
    2.2,
    1.4,
    0.9,
    0.6,
    0.4,
)
PAYLOAD_KG = {"drone": 2.5, "robot": 20.0, "van": 500.0}  # judgement
RECHARGE_BELOW = {"drone": 0.5, "robot": 0.3, "van": 0.3}  # share of battery left that triggers a charge
DETOUR = 1.3  # street distance over straight distance where no street path is known


def _num(v: Any, kind: type | tuple[type, ...] = (int, float)) -> bool:
    """A finite number of the given kind (bools are not numbers here)."""
    return isinstance(v, kind) and not isinstance(v, bool) and math.isfinite(float(v))  # type: ignore[arg-type]


@dataclass(eq=False, slots=True)
class Request:
    """One delivery and what became of it."""

    id: str
    kind: str
    created: float
    deadline: float
    value: float
    weight: float
    origin: str
    ox: float
    oy: float
    onode: str
    dest: str
    dx: float
    dy: float
    dnode: str
    hub: int
    u_route: float
    service: str | None = None
    by: str = ""
    dispatched: float | None = None
    delivered: float | None = None
    van_km: float = 0.0  # road km of the van that carried it (a tour's km shared by its requests)
    courier_km: float = 0.0  # road km of the courier that carried it
    handed: float | None = None

    def item(self) -> dict:
        """The request as a ``logistics.requests`` feed item."""
        return {
            "id": self.id,
            "kind": self.kind,
            "origin": self.origin,
            "origin_x": round(self.ox, 1),
            "origin_y": round(self.oy, 1),
            "dest": self.dest,
            "dest_x": round(self.dx, 1),
            "dest_y": round(self.dy, 1),
            "created_s": round(self.created, 1),
            "deadline_s": round(self.deadline, 1),
            "value_krw": self.value,
            "weight_kg": round(self.weight, 2),
        }


@dataclass(eq=False, slots=True)
class Unit:
    """One vehicle of a service's fleet."""

    id: str
    service: str
    kind: str
    speed: float
    battery_full_s: float
    battery_s: float
    home: Charger
    x: float
    y: float
    node: str
    state: str = "idle"  # idle, delivering, returning, queued, charging
    request: str = ""
    km: float = 0.0


class Logistics:
    """Delivery demand, conventional service, fleets, and the actions that steer them."""

    def __init__(
        self,
        env: simpy.Environment,
        d: District,
        sc: Scenario,
        streams: Streams,
        pop: Population,
        mobility: Mobility,
        cal: Calendar,
        log: EventLog,
    ) -> None:
        self.env, self.d, self.sc, self.pop, self.mob, self.cal, self.log = env, d, sc, pop, mobility, cal, log
        self.cfg = sc.demand.logistics
        self.day0 = sc.start.hour * 3600 + sc.start.minute * 60
        self.hubs = list(d.sites_of("hub")) or list(d.sites_of("control_centre"))
        self.rain_spans = [
            (sc.fault_offset(f), sc.fault_offset(f) + f.duration, f.intensity_mm_h or 20.0)
            for f in sc.faults
            if f.kind == "heavy_rain"
        ]
        self.no_fly = self._no_fly()
        self.requests: list[Request] = []
        self.by_id: dict[str, Request] = {}
        self._generate(streams("logistics.requests"))
        self.units: dict[str, Unit] = {}
        self.fleets: dict[str, list[Unit]] = {}
        self.shares: dict[str, float] = {}
        self.inbox: dict[str, list[dict]] = {}
        self.pending: list[list[Request]] = [[] for _ in self.hubs]  # parcels waiting for a van, by hub
        self.van_km = 0.0
        self.courier_km = 0.0
        self.van_tours = 0

    # ---------------------------------------------------------------- geometry
    def _no_fly(self) -> list[dict]:
        cfg, zones = self.cfg, []
        if cfg.no_fly_radius_m > 0:
            for s in self.d.sites:
                if s.kind in ("control_centre", "police"):
                    zones.append(
                        {"id": f"nfz-{s.id}", "x": s.x, "y": s.y, "radius_m": cfg.no_fly_radius_m, "reason": s.kind}
                    )
        for b in self.d.blocks:
            if b.id in cfg.no_fly_blocks:
                r = 0.5 * math.sqrt(max(b.area_m2, 1.0)) + 20.0
                zones.append({"id": f"nfz-{b.id}", "x": b.x, "y": b.y, "radius_m": r, "reason": "block"})
        return zones

    def _crosses(self, ax: float, ay: float, bx: float, by: float) -> str | None:
        """The first no-fly zone the straight segment a-b passes through, or None."""
        for z in self.no_fly:
            zx, zy, r = z["x"], z["y"], z["radius_m"]
            vx, vy = bx - ax, by - ay
            ll = vx * vx + vy * vy
            f = 0.0 if ll == 0 else max(0.0, min(1.0, ((zx - ax) * vx + (zy - ay) * vy) / ll))
            if math.hypot(ax + f * vx - zx, ay + f * vy - zy) < r:
                return z["id"]
        return None

    def street_m(self, a: str, b: str) -> float:
        """Street distance between two nodes (metres)."""
        if a == b:
            return 0.0
        dist = self.pop.paths_from(a)[0].get(b)
        if dist is None:
            (ax, ay), (bx, by) = self.d.nodes[a], self.d.nodes[b]
            return DETOUR * math.hypot(bx - ax, by - ay)
        return float(dist)

    def rain_at(self, t: float) -> float:
        """Rain intensity (mm/h) scheduled at time ``t``."""
        return max((r for a, b, r in self.rain_spans if a <= t < b), default=0.0)

    def _road_speed(self, v: float, t: float) -> float:
        return v * (self.cfg.rain_speed_factor if self.rain_at(t) > 0 else 1.0)

    # ---------------------------------------------------------------- demand
    def _rate(self, table: tuple[float, ...], per_day: float, t: np.ndarray) -> np.ndarray:
        prof = np.array(table, float)
        h = (((t + self.day0) // 3600) % 24).astype(int)
        return per_day / 86400 * prof[h] / prof.mean()

    def _generate(self, rng: np.random.Generator) -> None:
        cfg, sc, d = self.cfg, self.sc, self.d
        blocks = d.blocks
        dur = sc.duration
        scale = sc.population_scale
        res = np.array([b.residents for b in blocks], float)
        jobs = np.array([b.jobs for b in blocks], float)
        n_hours = int(math.ceil(dur / 3600))
        hours = np.arange(n_hours) * 3600.0
        span = np.minimum(3600.0, dur - hours)
        # parcels: from the nearest hub
        per_day = (cfg.parcels_per_resident_per_day * res.sum() + cfg.parcels_per_job_per_day * jobs.sum()) * scale
        w_parcel = cfg.parcels_per_resident_per_day * res + cfg.parcels_per_job_per_day * jobs
        hub_of = [self.hubs.index(min(self.hubs, key=dist2_from(b.x, b.y))) if self.hubs else -1 for b in blocks]
        # food: from commercial and mixed blocks, nearer ones preferred
        pop_meta = d.meta.population
        people = (pop_meta.residents + pop_meta.workers + pop_meta.visitors) * scale
        w_food = res + jobs
        rest = [k for k, b in enumerate(blocks) if b.land_use in ("commercial", "mixed")] or list(range(len(blocks)))
        rx = np.array([blocks[k].x for k in rest])
        ry = np.array([blocks[k].y for k in rest])
        ra = np.array([blocks[k].area_m2 for k in rest])
        rain_f = np.array([cfg.rain_food_factor if self.rain_at(h + 1800) > 0 else 1.0 for h in hours])
        out: list[tuple[float, str, int]] = []  # (time, kind, destination block)
        for kind, table, total, w in (
            ("parcel", PARCEL_HOURLY, per_day, w_parcel),
            ("food", FOOD_HOURLY, cfg.food_per_person_per_day * people, w_food),
        ):
            if total <= 0 or w.sum() <= 0:
                continue
            lam = self._rate(table, total, hours) * span * (rain_f if kind == "food" else 1.0)
            counts = rng.poisson(lam)
            for h, n in zip(hours, counts, strict=True):
                ts = rng.uniform(h, min(h + 3600.0, dur), n)
                dests = rng.choice(len(blocks), size=n, p=w / w.sum())
                out.extend(zip(ts.tolist(), [kind] * n, dests.tolist(), strict=True))
        for f in sc.faults:
            if f.kind != "festival_crowd" or not f.extra_visitors:
                continue
            n = int(rng.poisson(f.extra_visitors * scale * cfg.festival_orders_per_visitor))
            t0 = sc.fault_offset(f)
            b = next((k for k, blk in enumerate(blocks) if blk.id == f.block), None)
            ts = rng.uniform(t0, min(dur, t0 + f.duration), n)
            dests = np.full(n, b) if b is not None else rng.choice(len(blocks), size=n, p=w_food / w_food.sum())
            out.extend((float(t), "food", int(k)) for t, k in zip(ts, dests, strict=True))
        out.sort(key=lambda r: (r[0], r[1], r[2]))
        n = len(out)
        u = rng.random((n, 3))
        for i, (t, kind, bi) in enumerate(out):
            blk = blocks[bi]
            if kind == "parcel" and self.hubs:
                hub = hub_of[bi]
                s = self.hubs[hub]
                origin, ox, oy, onode = s.id, s.x, s.y, s.node
                deadline, value = t + cfg.parcel_deadline_h * 3600, cfg.parcel_value_krw
                weight = float(np.exp(0.3 + 0.8 * (u[i, 1] - 0.5) * 2))
            else:
                hub = -1
                wr = ra * np.exp(-np.hypot(rx - blk.x, ry - blk.y) / 800.0)
                k = rest[min(int(np.searchsorted(np.cumsum(wr) / wr.sum(), u[i, 1])), len(rest) - 1)]
                o = blocks[k]
                origin, ox, oy, onode = o.id, o.x, o.y, o.node
                deadline, value = t + cfg.food_deadline_min * 60, cfg.food_value_krw
                weight = 0.8 + 1.4 * float(u[i, 2])
                kind = "food"
            r = Request(f"R{i:05d}", kind, t, deadline, value, weight, origin, ox, oy, onode,
                        blk.id, blk.x, blk.y, blk.node, hub, float(u[i, 0]))  # fmt: skip
            self.requests.append(r)
            self.by_id[r.id] = r

    # ---------------------------------------------------------------- fleets
    def register(self, name: str, fleet: tuple[sdk.FleetUnit, ...], share: float) -> list[str]:
        """Create a service's units; return reasons for anything rejected."""
        problems: list[str] = []
        units: list[Unit] = []
        docks = sorted((c for c in self.mob.chargers.values() if c.kind == "drone_dock"), key=lambda c: c.id)
        evs = sorted((c for c in self.mob.chargers.values() if c.kind == "ev_charger"), key=lambda c: c.id)
        for k, f in enumerate(fleet):
            if not isinstance(f.kind, str) or f.kind not in PAYLOAD_KG:
                problems.append(f"fleet[{k}]: kind must be drone, robot or van; got {f.kind!r}")
                continue
            bad = [
                m
                for m, ok in (
                    (f"units must be 1..500; got {f.units!r}", _num(f.units, int) and 1 <= f.units <= 500),
                    (
                        f"speed_m_s must be > 0 and <= 40; got {f.speed_m_s!r}",
                        _num(f.speed_m_s) and 0 < f.speed_m_s <= 40,
                    ),
                    (
                        f"battery_min must be > 0; got {f.battery_min!r}",
                        _num(f.battery_min) and 0 < f.battery_min < 1e5,
                    ),
                )
                if not ok
            ]
            if bad:
                problems.append(f"fleet[{k}]: {bad[0]}")
                continue
            pool = docks if f.kind == "drone" else evs
            home_ch: Charger | None = None
            if f.home:
                home_ch = self.mob.chargers.get(f.home)
                hub = next((s for s in self.hubs if s.id == f.home), None)
                if home_ch is None and hub is None:
                    problems.append(f"fleet[{k}]: no dock, charger or hub {f.home!r}; using the world's choice")
                elif home_ch is not None and (home_ch.kind == "drone_dock") != (f.kind == "drone"):
                    problems.append(f"fleet[{k}]: a {f.kind} cannot charge at {home_ch.kind} {f.home!r}")
                    home_ch = None
                elif hub is not None:
                    pool = sorted(pool, key=dist2_from(hub.x, hub.y))[:1]
            if not pool and home_ch is None:
                home_ch = self._hub_pad(name, k, f)
                what = "drone docks" if f.kind == "drone" else "EV chargers"
                problems.append(
                    f"fleet[{k}]: no {what} in this district; units charge on {f.units} pad(s) of their own at a hub"
                )
            for j in range(f.units):
                ch = home_ch or pool[j % len(pool)]
                uid = f"{name}:{f.kind}-{len(units) + 1}"
                full = f.battery_min * 60.0
                units.append(Unit(uid, name, f.kind, f.speed_m_s, full, full, ch, ch.x, ch.y, ch.node))
        if units:
            self.fleets[name] = units
            self.units.update((u.id, u) for u in units)
            self.shares[name] = share
            self.inbox[name] = []
        return problems

    def _hub_pad(self, name: str, k: int, f: sdk.FleetUnit) -> Charger:
        hub = self.hubs[0] if self.hubs else self.d.sites[0]
        cid = f"{name}:pads-{k}"
        ch = Charger(
            cid, "hub_pad", None, hub.x, hub.y, hub.node, f.units, 0.0, simpy.PriorityResource(self.env, f.units)
        )
        self.mob.chargers[cid] = ch
        return ch

    # ---------------------------------------------------------------- running
    def start(self) -> None:
        """Route every request (shares are known once services deployed) and schedule the day."""
        names = sorted(self.shares)
        total = sum(self.shares.values())
        scale = 1.0 / total if total > 1 else 1.0
        cum, edges = 0.0, []
        for n in names:
            cum += self.shares[n] * scale
            edges.append((cum, n))
        for r in self.requests:
            svc = next((n for edge, n in edges if r.u_route < edge), None)
            r.service = svc
            if svc is not None:
                self.cal.at(r.created, partial(self._arrive, r))
                self.cal.at(r.created + self.cfg.fallback_min * 60, partial(self._fallback, r))
            elif r.kind == "food" or r.hub < 0:
                self._courier(r, r.created)
            else:
                self.pending[r.hub].append(r)
        for t in self._wave_times():
            self.cal.at(t, lambda _e: self._wave())

    def _wave_times(self) -> list[float]:
        out = []
        for w in self.cfg.van_waves:
            hh, mm = (int(v) for v in w.split(":"))
            t = (hh * 3600 + mm * 60 - self.day0) % 86400
            while t < self.sc.duration:
                out.append(float(t))
                t += 86400
        return sorted(out)

    def _arrive(self, r: Request, _event: object = None) -> None:
        self.inbox[str(r.service)].append(r.item())

    def _fallback(self, r: Request, _event: object = None) -> None:
        if r.dispatched is not None or r.handed is not None:
            return
        r.handed = self.env.now
        if r.kind == "parcel" and r.hub >= 0:
            self.pending[r.hub].append(r)
        else:
            self._courier(r, self.env.now)

    def _courier(self, r: Request, t: float) -> None:
        """A motorbike courier picks the order up when it is ready and rides to the door."""
        cfg = self.cfg
        ready = max(t, r.created + cfg.food_prep_min * 60)
        dist = self.street_m(r.onode, r.dnode)
        r.delivered = ready + dist / self._road_speed(cfg.courier_speed_m_s, ready) + cfg.handover_min * 60
        r.by = "courier"
        r.courier_km = 1.5 * dist / 1000  # delivery leg plus repositioning (judgement)
        self.courier_km += r.courier_km

    def _wave(self) -> None:
        """Vans leave every hub with the parcels ready now, in nearest-neighbour tours."""
        now, cfg = self.env.now, self.cfg
        for h, hub in enumerate(self.hubs):
            ready = [r for r in self.pending[h] if r.created <= now]
            if not ready:
                continue
            self.pending[h] = [r for r in self.pending[h] if r.created > now]
            ready.sort(key=lambda r: (r.created, r.id))
            speed = self._road_speed(cfg.van_speed_m_s, now)
            for k in range(0, len(ready), cfg.van_capacity):
                load = ready[k : k + cfg.van_capacity]
                stops: dict[str, list[Request]] = {}
                for r in load:
                    stops.setdefault(r.dnode, []).append(r)
                names = sorted(stops)
                xy = np.array([self.d.nodes[n] for n in names])
                open_ = np.ones(len(names), bool)
                t, node, x, y = now, hub.node, hub.x, hub.y
                metres = 0.0
                for _ in names:  # nearest open stop next (ties: by node id)
                    d2 = np.where(open_, (xy[:, 0] - x) ** 2 + (xy[:, 1] - y) ** 2, np.inf)
                    i = int(np.argmin(d2))
                    open_[i] = False
                    nxt = names[i]
                    leg = self.street_m(node, nxt)
                    metres += leg
                    t += leg / speed + cfg.van_stop_min * 60
                    for r in stops[nxt]:
                        r.delivered, r.by = t, "van"
                    node, x, y = nxt, float(xy[i, 0]), float(xy[i, 1])
                metres += self.street_m(node, hub.node)
                self.van_km += metres / 1000
                for r in load:  # where the km went: shared by the tour's requests (results.places)
                    r.van_km = metres / 1000 / len(load)
                self.van_tours += 1

    # ---------------------------------------------------------------- actions
    def dispatch(self, service: str, a: sdk.Dispatch, rain_mm_h: float) -> str | None:
        """Validate and start a ``Dispatch``; return why it was rejected, or None."""
        if not isinstance(a.unit, str) or not isinstance(a.request, str):
            return f"unit and request must be ids (strings); got {a.unit!r} and {a.request!r}"
        u = self.units.get(a.unit)
        if u is None or u.service != service:
            return f"unit {a.unit!r} is not in this service's fleet"
        r = self.by_id.get(a.request)
        if r is None:
            return f"no request {a.request!r}"
        if r.service != service:
            return f"request {a.request!r} was not routed to this service"
        if r.handed is not None:
            return (
                f"request {a.request!r} went to the conventional couriers at {r.handed:.0f} s (not dispatched in time)"
            )
        if r.dispatched is not None:
            return f"request {a.request!r} was already dispatched"
        if u.state != "idle":
            return f"unit {u.id} is {u.state}" + (f" {u.request}" if u.request else "")
        if u.kind == "drone" and rain_mm_h > self.cfg.drone_max_rain_mm_h:
            return f"drones are grounded: rain of {rain_mm_h:g} mm/h (limit {self.cfg.drone_max_rain_mm_h:g})"
        if r.weight > PAYLOAD_KG[u.kind]:
            return f"request {r.id} weighs {r.weight:.1f} kg; a {u.kind} carries up to {PAYLOAD_KG[u.kind]:g} kg"
        legs = self._legs(u, r)
        if isinstance(legs, str):
            return legs
        need = sum(legs) / u.speed + 2 * self.cfg.stop_min * 60
        if need > u.battery_s:
            return (
                f"unit {u.id} needs {need / 60:.1f} min of battery (pick-up, drop-off and back to "
                f"{u.home.id}); it has {u.battery_s / 60:.1f} min"
            )
        r.dispatched, r.by = self.env.now, u.id
        u.state, u.request = "delivering", r.id
        self.env.process(self._mission(u, r, legs))
        return None

    def _legs(self, u: Unit, r: Request) -> tuple[float, float, float] | str:
        if u.kind == "drone":
            pts = [(u.x, u.y), (r.ox, r.oy), (r.dx, r.dy), (u.home.x, u.home.y)]
            for z in self.no_fly:
                if math.hypot(r.dx - z["x"], r.dy - z["y"]) < z["radius_m"]:
                    return f"the destination of {r.id} is inside no-fly zone {z['id']}"
            for (ax, ay), (bx, by) in itertools.pairwise(pts):
                zone = self._crosses(ax, ay, bx, by)
                if zone:
                    return f"the flight path for {r.id} crosses no-fly zone {zone}"
            return tuple(math.dist(p, q) for p, q in itertools.pairwise(pts))  # type: ignore[return-value]
        return (self.street_m(u.node, r.onode), self.street_m(r.onode, r.dnode), self.street_m(r.dnode, u.home.node))

    def _mission(self, u: Unit, r: Request, legs: tuple[float, float, float]) -> Generator[simpy.Event, Any, None]:
        env, cfg = self.env, self.cfg
        speed = u.speed if u.kind == "drone" else self._road_speed(u.speed, env.now)
        out = (legs[0] + legs[1]) / speed + 2 * cfg.stop_min * 60
        yield env.timeout(out)
        r.delivered = env.now
        u.state, u.x, u.y, u.node = "returning", r.dx, r.dy, r.dnode
        back = legs[2] / speed
        yield env.timeout(back)
        u.x, u.y, u.node = u.home.x, u.home.y, u.home.node
        u.battery_s = max(0.0, u.battery_s - (out + back))
        metres = sum(legs)
        u.km += metres / 1000
        if u.kind == "van":
            self.van_km += metres / 1000
            r.van_km = metres / 1000
        u.request = ""
        if u.battery_s < RECHARGE_BELOW[u.kind] * u.battery_full_s:
            yield from self._recharge(u)
        u.state = "idle"

    def _recharge(self, u: Unit) -> Generator[simpy.Event, Any, None]:
        full_s = (self.cfg.drone_charge_min if u.kind == "drone" else self.cfg.robot_charge_min) * 60
        seconds = full_s * (1 - u.battery_s / u.battery_full_s)
        u.state = "queued"

        def started() -> None:
            u.state = "charging"

        yield from self.mob.charge(u.home, u.id, seconds, on_start=started)
        u.battery_s = u.battery_full_s

    def reserve(self, service: str, a: sdk.Reserve) -> str | None:
        """Validate and book a ``Reserve``; return why it was rejected, or None."""
        if not isinstance(a.unit, str) or not isinstance(a.charger, str):
            return f"charger and unit must be ids (strings); got {a.charger!r} and {a.unit!r}"
        u = self.units.get(a.unit)
        if u is None or u.service != service:
            return f"unit {a.unit!r} is not in this service's fleet"
        ch = self.mob.chargers.get(a.charger)
        if ch is None or ch.kind == "hub_pad":
            known = ", ".join(sorted(c for c, x in self.mob.chargers.items() if x.kind != "hub_pad")) or "none"
            return f"no charger or dock {a.charger!r} (chargers and docks: {known})"
        if (ch.kind == "drone_dock") != (u.kind == "drone"):
            return f"a {u.kind} cannot charge at {ch.kind} {ch.id}"
        if ch is not u.home:
            return f"unit {u.id} charges at {u.home.id}, not {ch.id}"
        now = self.env.now
        if not (_num(a.minutes) and 0 < a.minutes <= 240):
            return f"minutes must be > 0 and <= 240; got {a.minutes!r}"
        if not (_num(a.start_s) and now - 1 <= a.start_s < self.sc.duration):
            return f"start_s must be from now ({now:.0f}) to the end of the run; got {a.start_s!r}"
        if not ch.powered:
            return f"{ch.kind} {ch.id} has no power"
        start = max(now, float(a.start_s))
        return self.mob.reserve(ch, u.id, start, start + a.minutes * 60)

    # ---------------------------------------------------------------- views
    def drain(self, service: str) -> list[dict]:
        """Requests routed to ``service`` since its last tick."""
        box = self.inbox.get(service)
        if not box:
            return []
        out = list(box)
        box.clear()
        return out

    def fleet_state(self, service: str) -> tuple[dict, ...]:
        """The service's units, for its observation."""
        return tuple(
            {
                "id": u.id,
                "kind": u.kind,
                "state": u.state,
                "x": round(u.x, 1),
                "y": round(u.y, 1),
                "battery_min": round(u.battery_s / 60, 1),
                "request": u.request,
                "home": u.home.id,
            }
            for u in self.fleets.get(service, ())
        )

    def on_fault(self, f: FaultSpec, start: bool) -> None:
        """Log what a fault means for deliveries (drones grounded in heavy rain)."""
        if f.kind == "heavy_rain" and self.fleets and (f.intensity_mm_h or 20.0) > self.cfg.drone_max_rain_mm_h:
            self.log.add(self.env.now, "drones.grounded" if start else "drones.cleared", "logistics")

    def sample(self, series: Series, t: float) -> None:
        """Fleet units busy and parcels waiting for a van."""
        series.add(t, "logistics.parcels_waiting", sum(len(p) for p in self.pending))
        if self.units:
            series.add(t, "logistics.units_busy", sum(1 for u in self.units.values() if u.state != "idle"))

    def outcome(self) -> dict[str, float]:
        """Raw figures for the KPIs: requests due in the run and what became of them."""
        end = self.sc.duration
        due = [r for r in self.requests if r.deadline <= end]
        done = [r for r in due if r.delivered is not None and r.delivered <= end]
        late = sum(1 for r in due if r.delivered is None or r.delivered > r.deadline or r.delivered > end)
        times = [
            (r.delivered - r.created) / 60 for r in self.requests if r.delivered is not None and r.delivered <= end
        ]
        return {
            "requests": float(len(self.requests)),
            "due": float(len(due)),
            "completed": float(len(done)),
            "late": float(late),
            "time_min": float(np.mean(times)) if times else math.nan,
            "vehicle_km": self.van_km + self.courier_km,
            "by_fleet": float(sum(1 for r in self.requests if r.dispatched is not None and r.delivered is not None)),
        }
