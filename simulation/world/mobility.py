"""Mobility: parking searches by arriving cars, EV charging, and the chargers and docks themselves.

Every EV charger and drone dock on an S-Pole is one shared, finite ``simpy.PriorityResource``
(a slot per pad): public EVs, service fleets and reservations all queue for the same pads, so
contention between them is a finding, not a bug. A pad charges only while its pole has power; a
charge caught by an outage resumes when power returns.

Arriving drivers (a share of workers and visitors) park near their first destination when they
enter the district (read off their plans): the search
takes longer the fuller the block is (expected blocks tried = 1 / (1 - occupancy)), spilling to
neighbouring blocks when it is full. An electric car may then want a charger within walking
distance: it charges if a pad is free or frees within 15 minutes, and leaves unserved otherwise.
Each driver is two events (park, leave); nothing runs per minute or per stay.

Every request for a pad is a queue record (``ev_chargers``, ``drone_pads``, ``hub_pads``) with
its user: ``ev_driver``, ``fleet`` or ``reservation`` — so EV drivers and fleet units are
counted apart.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import simpy

from simulation.config.district import District
from simulation.config.scenario import FaultSpec, Scenario
from simulation.rng import Streams
from simulation.world.calendar import Calendar
from simulation.world.energy import Energy, dist2_from
from simulation.world.infrastructure import Infrastructure
from simulation.world.log import Series
from simulation.world.population import RESIDENT, VISITOR, Population
from simulation.world.queues import QueueRecords

EV_MAX_WAIT_S = 900.0  # a driver waits at most 15 minutes for a pad (judgement)
SPILL_BLOCKS = 6  # blocks tried before giving up and parking off-street outside (judgement)
GIVE_UP_MIN = 5.0  # extra minutes to reach an off-street car park (judgement)


QUEUE_OF = {"ev_charger": "ev_chargers", "drone_dock": "drone_pads", "hub_pad": "hub_pads"}


def _node_d2(d: District, x: float, y: float) -> Callable[[str], float]:
    return lambda n: (d.nodes[n][0] - x) ** 2 + (d.nodes[n][1] - y) ** 2


@dataclass(eq=False)
class Charger:
    """A charger or dock: a finite resource of ``pads`` charging slots on a pole."""

    id: str
    kind: str  # ev_charger, drone_dock, or hub_pad (a service's own pads at a hub, no pole)
    pole: str | None
    x: float
    y: float
    node: str
    pads: int
    power_w: float
    res: simpy.PriorityResource
    active: int = 0
    busy_s: float = 0.0
    since: float = 0.0
    powered: bool = True
    outage_s: float = 0.0
    back: simpy.Event | None = None
    held: dict[str, Any] = field(default_factory=dict)  # unit id -> request held by a reservation
    reservations: list[tuple[float, float, str]] = field(default_factory=list)  # (start, end, unit)


class Mobility:
    """Chargers and docks, public EV charging, parking occupancy and cruising."""

    def __init__(
        self,
        env: simpy.Environment,
        d: District,
        sc: Scenario,
        streams: Streams,
        infra: Infrastructure,
        pop: Population,
        energy: Energy,
        cal: Calendar,
    ) -> None:
        self.env, self.d, self.sc, self.infra, self.pop, self.energy, self.cal = env, d, sc, infra, pop, energy, cal
        self.cfg = cfg = sc.demand.mobility
        cat = d.catalogue.modules
        self.chargers: dict[str, Charger] = {}
        for dev in (*d.devices_of("ev_charger"), *d.devices_of("drone_dock")):
            pads = int(dev.get("pads", 1)) if dev.kind == "drone_dock" else 1
            # a pad's draw while charging: the charger's rating, or the dock's power shared by its pads
            power = float(dev.get("power_kw", 0) or 0) * 1000 or cat[dev.kind].power_w / pads
            node = min(d.nodes, key=_node_d2(d, dev.x, dev.y))
            self.chargers[dev.id] = Charger(
                dev.id, dev.kind, dev.pole, dev.x, dev.y, node, pads, power, simpy.PriorityResource(env, pads)
            )
        # parking
        self.cap = [
            max(2, round(b.area_m2 / 1e4 * cfg.spaces_per_ha.get(b.land_use, 15.0)))  # type: ignore[call-overload]
            for b in d.blocks
        ]
        self.occ = [min(c, round(cfg.base_occupancy * c)) for c in self.cap]
        bx = np.array([b.x for b in d.blocks])
        by = np.array([b.y for b in d.blocks])
        self.spill = [np.argsort(np.hypot(bx - b.x, by - b.y), kind="stable")[:SPILL_BLOCKS].tolist() for b in d.blocks]
        evs = [c for c in self.chargers.values() if c.kind == "ev_charger"]
        self.block_charger: list[Charger | None] = []
        for b in d.blocks:
            best = min(evs, key=dist2_from(b.x, b.y), default=None)
            ok = best is not None and math.hypot(best.x - b.x, best.y - b.y) <= cfg.charger_walk_m
            self.block_charger.append(best if ok else None)
        n_ids = max((c.unique_id for c in pop.citizens), default=0) + 1
        self.u = streams("mobility.drivers").random((n_ids, 4))
        self.parked: dict[int, int] = {}  # citizen id -> block where the car is (or -1 off-street)
        self.cruise_min: list[float] = []
        self.cruise_block: list[int] = []  # the block each arriving driver was heading for (the maps)
        self.guided_at: list[int] = []  # blocks of drivers who followed guidance
        self.no_charger_at: list[int] = []  # blocks of EV drivers with no charger within walking distance
        self.ev_sessions = 0
        self.ev_unserved = 0
        self.ev_no_charger = 0
        self.fleet_waits: list[float] = []
        self.records = QueueRecords()  # the world hands its own in
        self._rows: list[list] = []  # this domain's rows
        self._held_rows: dict[tuple[str, str], list] = {}  # (charger, unit) -> a reservation's row
        # parking guidance (world.parking): (driver id, destination block) -> (spot, cruising min), or None
        self.guide: Callable[[int, int], tuple[int, float] | None] | None = None

    def _arrive_row(self, ch: Charger, job: str, user: str, prio: int) -> list:
        row = self.records.arrive(QUEUE_OF[ch.kind], ch.id, job, user, prio, self.env.now)
        self._rows.append(row)
        return row

    def waiting(self, user: str) -> int:
        """Requests of ``user`` (ev_driver, fleet, reservation) waiting for a pad now."""
        return sum(1 for r in self._rows if r[3] == user and r[8] == "waiting")

    # ---------------------------------------------------------------- power
    def _acc(self, ch: Charger) -> None:
        now = self.env.now
        if ch.powered:
            ch.busy_s += ch.active * (now - ch.since)
        else:
            ch.outage_s += now - ch.since
        ch.since = now

    def up(self, ch: Charger) -> bool:
        """Has the charger's pole power?"""
        return ch.pole is None or self.infra.powered[ch.pole]

    def on_fault(self, f: FaultSpec, start: bool) -> None:
        """Chargers on poles that lose power stop charging until it returns."""
        if f.kind != "power_outage":
            return
        poles = set(f.poles)
        for ch in self.chargers.values():
            if ch.pole in poles:
                self._acc(ch)
                ch.powered = self.infra.powered[ch.pole]
                if not ch.powered and ch.back is None:
                    ch.back = self.env.event()
                elif ch.powered and ch.back is not None:
                    ch.back.succeed()
                    ch.back = None

    def _draw(self, ch: Charger, key: str, on: bool) -> None:
        self._acc(ch)
        ch.active += 1 if on else -1
        if ch.pole is not None:
            self.energy.set_draw(ch.pole, key, ch.power_w if on else 0.0)

    # ---------------------------------------------------------------- charging (fleets)
    def charge(
        self, ch: Charger, unit: str, seconds: float, on_start: Callable[[], None] | None = None, prio: int = 1
    ) -> Generator[simpy.Event, Any, float]:
        """Queue for a pad (or use a reservation held for ``unit``), charge, release; return the wait."""
        env = self.env
        t0 = env.now
        req = ch.held.pop(unit, None)  # a reservation's pad (granted, or still queued ahead of others)
        held = self._held_rows.pop((ch.id, unit), None)
        if held is not None and held[8] in ("waiting", "in_service"):
            self.records.end(held, t0, "taken_over")
        if req is None:
            req = ch.res.request(priority=prio)
        row = self._arrive_row(ch, unit, "fleet", prio)
        yield req
        self.records.start(row, env.now)
        while not ch.powered and ch.back is not None:
            yield ch.back
        wait = env.now - t0
        self.fleet_waits.append(wait)
        if on_start is not None:
            on_start()
        key = f"unit:{unit}"
        self._draw(ch, key, True)
        start_out = ch.outage_s
        yield env.timeout(seconds)
        self._acc(ch)
        lost = ch.outage_s - start_out
        while lost > 1e-9:  # an outage interrupted the charge: make up the lost time
            if ch.back is not None:
                yield ch.back
            start_out = ch.outage_s
            yield env.timeout(lost)
            self._acc(ch)
            lost = ch.outage_s - start_out
        self._draw(ch, key, False)
        ch.res.release(req)
        self.records.end(row, env.now)
        return wait

    def reserve(self, ch: Charger, unit: str, start: float, end: float) -> str | None:
        """Hold a pad for ``unit`` from ``start`` to ``end``; return a reason if impossible."""
        mine = [r for r in ch.reservations if r[2] == unit and r[1] > self.env.now]
        if mine:
            a, b, _u = mine[0]
            return f"{unit} already holds a reservation at {ch.id} (from {a:.0f} s to {b:.0f} s); one at a time"
        overlap = [r for r in ch.reservations if start < r[1] and r[0] < end]
        if len(overlap) >= ch.pads:
            a, b, u = overlap[0]
            return f"{ch.id} has all {ch.pads} pad(s) reserved then (from {a:.0f} s to {b:.0f} s, by {u})"
        ch.reservations.append((start, end, unit))
        self.env.process(self._hold(ch, unit, start, end))
        return None

    def _hold(self, ch: Charger, unit: str, start: float, end: float) -> Generator[simpy.Event, Any, None]:
        env = self.env
        if start > env.now:
            yield env.timeout(start - env.now)
        req = ch.res.request(priority=0)
        ch.held[unit] = req  # from now on the unit may take this request over, granted or not
        row = self._held_rows[(ch.id, unit)] = self._arrive_row(ch, unit, "reservation", 0)
        yield req
        if ch.held.get(unit) is not req:
            return  # the unit took it over and releases it after charging
        self.records.start(row, env.now)
        if env.now < end:
            yield env.timeout(end - env.now)
        if ch.held.get(unit) is req:  # the window passed unused: give the pad back
            del ch.held[unit]
            self._held_rows.pop((ch.id, unit), None)
            ch.res.release(req)
            self.records.end(row, env.now)

    # ---------------------------------------------------------------- parking and public EVs
    def start(self) -> None:
        """Schedule every arriving driver: parks when entering the district, leaves with the car.

        Drivers are read off the plans (workers and visitors entering from outside), so parking
        costs two scheduled events per driver and nothing per stay.
        """
        cfg = self.cfg
        for c in self.pop.citizens:
            if c.kind == RESIDENT or not c.plan or c.plan[0][1] < 0:
                continue
            share = cfg.drive_share_visitors if c.kind == VISITOR else cfg.drive_share_workers
            if self.u[c.unique_id, 0] >= share:
                continue
            arrive, block = c.plan[0]
            leave = next((t for t, dest in c.plan if dest == -1), self.sc.duration)
            self.cal.at(arrive, partial(self._arrive, c.unique_id, block, leave))

    def _arrive(self, uid: int, b: int, leave: float, _event: object = None) -> None:
        guided = self.guide(uid, b) if self.guide is not None else None
        spot, cruise = self._park(b) if guided is None else guided
        self.parked[uid] = spot
        self.cruise_min.append(cruise)
        self.cruise_block.append(b)
        if guided is not None:
            self.guided_at.append(b)
        self.cal.at(max(leave, self.env.now), partial(self._leave, uid))
        u = self.u[uid]
        if u[1] < self.cfg.ev_share and u[2] < self.cfg.ev_charge_share:
            ch = self.block_charger[b]
            if ch is None:
                self.ev_no_charger += 1
                self.no_charger_at.append(b)
            else:
                minutes = self.cfg.ev_session_min * (0.6 + 0.8 * u[3])
                self.env.process(self._ev(ch, uid, min(minutes * 60, max(0.0, leave - self.env.now))))

    def _park(self, b: int) -> tuple[int, float]:
        search = self.cfg.search_min_per_block
        cruise = 0.0
        for k in self.spill[b]:
            if self.occ[k] < self.cap[k]:
                # circling for a free space: expected passes 1 / (1 - occupancy), capped at 10
                cruise += search / (1.0 - min(self.occ[k] / self.cap[k], 0.9))
                self.occ[k] += 1
                return k, cruise
            cruise += search  # drive past a full block
        return -1, cruise + GIVE_UP_MIN

    def _leave(self, uid: int, _event: object = None) -> None:
        spot = self.parked.pop(uid, -1)
        if spot >= 0:
            self.occ[spot] -= 1

    def _ev(self, ch: Charger, uid: int, seconds: float) -> Generator[simpy.Event, Any, None]:
        env = self.env
        row = self._arrive_row(ch, f"ev-{uid}", "ev_driver", 2)
        if seconds <= 0 or not ch.powered or len(ch.res.queue) >= 1:
            self.ev_unserved += 1
            self.records.end(row, env.now, "balked")
            return
        req = ch.res.request(priority=2)
        got = yield req | env.timeout(EV_MAX_WAIT_S)
        if req not in got:
            req.cancel()
            self.ev_unserved += 1
            self.records.end(row, env.now, "reneged")
            return
        self.records.start(row, env.now)
        self.ev_sessions += 1
        key = f"ev:{uid}"
        self._draw(ch, key, True)
        yield env.timeout(seconds)
        self._draw(ch, key, False)
        ch.res.release(req)
        self.records.end(row, env.now)

    # ---------------------------------------------------------------- views
    def status(self) -> list[dict]:
        """Every charger and dock for the ``ev.chargers`` feed."""
        now = self.env.now
        return [
            {
                "id": c.id,
                "kind": c.kind,
                "pole": c.pole,
                "x": round(c.x, 1),
                "y": round(c.y, 1),
                "up": c.powered,
                "pads": c.pads,
                "busy": c.active,
                "queue": len(c.res.queue),
                "reserved": [{"from_s": a, "to_s": b, "unit": u} for a, b, u in c.reservations if b > now],
            }
            for c in self.chargers.values()
            if c.kind != "hub_pad"
        ]

    def finish(self) -> None:
        """Close the chargers' time integrals."""
        for ch in self.chargers.values():
            self._acc(ch)

    def utilisation(self, kind: str = "ev_charger") -> float:
        """Pad-time spent charging over pad-time available (%), for chargers of one kind."""
        chs = [c for c in self.chargers.values() if c.kind == kind]
        cap = sum(c.pads for c in chs) * self.env.now
        return 100.0 * sum(c.busy_s for c in chs) / cap if cap > 0 else math.nan

    def sample(self, series: Series, t: float) -> None:
        """Parking occupancy, pads busy and queued."""
        series.add(t, "mobility.parking_occupancy_pct", 100.0 * sum(self.occ) / max(1, sum(self.cap)))
        series.add(t, "mobility.chargers_busy", sum(c.active for c in self.chargers.values() if c.kind == "ev_charger"))
        series.add(t, "logistics.charge_queue", self.waiting("fleet"))  # fleet units only
        series.add(t, "mobility.ev_queue", self.waiting("ev_driver"))
