"""Parking guidance: occupancy sensors, displays and app notices that send drivers to free spaces.

Parking itself (spaces per block, occupancy over the day, cruising for a space) lives in
``mobility.py``: an arriving driver circles the blocks nearest their destination, 1 / (1 - occupancy)
passes per block, spilling to the next block when one is full. This module adds what a guidance
service can change:

- ``parking_sensor`` modules a service installs sense the spaces of the block nearest their pole
  and report over the LoRaWAN network (``iot.py``): the ``parking.occupancy`` feed lists a sensed
  block only when its sensor's latest uplink got through.
- ``display`` modules show a block (action ``ShowParking``). A driver whose destination is within
  ``DISPLAY_REACH_M`` of a lit display that points to a block within ``WALK_MAX_M`` of the
  destination follows it with probability ``P_FOLLOW_DISPLAY``.
- A ``Notify`` on topic ``parking`` whose message is a block id guides drivers arriving within
  ``APP_NOTICE_MIN`` to destinations within its radius; app users (``APP_SHARE``) follow with
  ``P_FOLLOW_APP``.
- A guided driver drives straight to the advised block: one pass if a space is free there,
  otherwise one wasted pass and the usual search from there.

Cruising becomes vehicle-km at ``CRUISE_KMH`` and CO2 at ``CO2_KG_PER_KM``. Following draws come
from the named stream ``parking.follow`` (one pair per citizen), so guidance never shifts other draws.
"""

from __future__ import annotations

import math

import simpy

from simulation import sdk
from simulation.config.district import District
from simulation.rng import Streams
from simulation.world.infrastructure import Infrastructure
from simulation.world.iot import IoT
from simulation.world.mobility import Mobility
from simulation.world.population import Population

WALK_MAX_M = 400.0  # judgement: drivers accept a ~5-minute walk from the advised block
DISPLAY_REACH_M = 350.0  # judgement: drivers pass a display on the last few hundred metres
P_FOLLOW_DISPLAY = 0.5  # judgement
APP_SHARE = 0.4  # judgement: drivers with the city/navigation app that relays notices
P_FOLLOW_APP = 0.7  # judgement
APP_NOTICE_MIN = 5.0  # judgement: free-space advice goes stale within minutes
CRUISE_KMH = 15.0  # judgement: cruising speed while looking for a space
CO2_KG_PER_KM = 0.17  # judgement: a Korean passenger car's average tailpipe CO2 per km


class Parking:
    """Sensors, displays, notices, and the guided drivers' choices."""

    def __init__(
        self,
        env: simpy.Environment,
        d: District,
        streams: Streams,
        infra: Infrastructure,
        mobility: Mobility,
        pop: Population,
        iot: IoT,
    ) -> None:
        self.env, self.d, self.infra, self.mob, self.iot = env, d, infra, mobility, iot
        n_ids = max((c.unique_id for c in pop.citizens), default=0) + 1
        self.u = streams("parking.follow").random((n_ids, 2))
        self.block_ids = {b.id: i for i, b in enumerate(d.blocks)}
        self.sensors: dict[str, tuple[int, str]] = {}  # sensor id -> (block, owner)
        self.displays: dict[str, list] = {}  # display id -> [pole, x, y, owner, block or -1]
        self.notices: list[tuple[float, float, float, float, int]] = []  # (x, y, r, until, block)
        self.guided = 0
        self.followed_full = 0

    # ---------------------------------------------------------------- hardware
    def add_sensor(self, mid: str, pole: str, owner: str) -> None:
        """A parking sensor: it senses the block nearest its pole."""
        p = self.d.pole_by_id[pole]
        b = min(
            range(len(self.d.blocks)), key=lambda i: (self.d.blocks[i].x - p.x) ** 2 + (self.d.blocks[i].y - p.y) ** 2
        )
        self.sensors[mid] = (b, owner)

    def add_display(self, mid: str, pole: str, owner: str) -> None:
        """A display: blank until the service shows a block."""
        p = self.d.pole_by_id[pole]
        self.displays[mid] = [pole, p.x, p.y, owner, -1]
        self.mob.guide = self.guide

    # ---------------------------------------------------------------- services
    def occupancy(self, owner: str) -> list[dict]:
        """The ``parking.occupancy`` feed: sensed blocks whose sensor's latest uplink got through."""
        out = []
        for mid, (b, who) in self.sensors.items():
            if who != owner or not self.infra.powered[self.iot.devices[mid].pole] or not self.iot.uplink_ok(mid):
                continue
            blk = self.d.blocks[b]
            cap, occ = self.mob.cap[b], self.mob.occ[b]
            out.append(
                {
                    "sensor": mid,
                    "block": blk.id,
                    "x": round(blk.x, 1),
                    "y": round(blk.y, 1),
                    "spaces": cap,
                    "occupied": occ,
                    "free": cap - occ,
                }
            )
        return out

    def show(self, owner: str, a: sdk.ShowParking) -> str | None:
        """Point a display at a block (``""`` blanks it); return a rejection reason or None."""
        disp = self.displays.get(a.display)
        if disp is None or disp[3] != owner:
            return f"display {a.display!r} was not installed by this service"
        if a.block == "":
            disp[4] = -1
            return None
        b = self.block_ids.get(a.block)
        if b is None:
            return f"no block {a.block!r} in this district"
        disp[4] = b
        return None

    def notify(self, a: sdk.Notify) -> str | None:
        """A ``parking`` notice: its message names the block drivers are guided to."""
        b = self.block_ids.get(a.message.strip())
        if b is None:
            return (
                f"a parking notice's message must be a block id (the block drivers are sent to); got {a.message[:40]!r}"
            )
        self.notices.append((float(a.x), float(a.y), float(a.radius_m), self.env.now + APP_NOTICE_MIN * 60, b))
        self.mob.guide = self.guide
        return None

    # ---------------------------------------------------------------- drivers
    def guide(self, uid: int, b: int) -> tuple[int, float] | None:
        """A driver heading for block ``b``: where guidance sends them, parked, with the cruising minutes."""
        now = self.env.now
        while self.notices and self.notices[0][3] <= now:  # expired notices (they expire in order)
            self.notices.pop(0)
        blocks = self.d.blocks
        blk = blocks[b]

        def walkable(tb: int) -> bool:
            return math.hypot(blocks[tb].x - blk.x, blocks[tb].y - blk.y) <= WALK_MAX_M

        target = -1
        best = math.inf
        for pole, x, y, _owner, tb in self.displays.values():
            if tb < 0 or not self.infra.powered[pole] or not walkable(tb):
                continue
            dist = math.hypot(x - blk.x, y - blk.y)
            if dist <= DISPLAY_REACH_M and dist < best:
                best, target = dist, tb
        if target >= 0 and self.u[uid, 0] >= P_FOLLOW_DISPLAY:
            target = -1
        if target < 0 and self.u[uid, 1] < APP_SHARE * P_FOLLOW_APP:
            for x, y, r, until, tb in reversed(self.notices):
                if until > now and walkable(tb) and math.hypot(blk.x - x, blk.y - y) <= r:
                    target = tb
                    break
        if target < 0:
            return None
        self.guided += 1
        search = self.mob.cfg.search_min_per_block
        if self.mob.occ[target] < self.mob.cap[target]:
            self.mob.occ[target] += 1
            return target, search
        self.followed_full += 1
        spot, cruise = self.mob._park(target)
        return spot, search + cruise

    def totals(self) -> dict[str, float]:
        """Cruising vehicle-km and CO2 of every arriving driver, and drivers guided."""
        minutes = sum(self.mob.cruise_min)
        vkm = minutes / 60.0 * CRUISE_KMH
        return {"vehicle_km": vkm, "co2_kg": vkm * CO2_KG_PER_KM, "guided": float(self.guided)}
