"""ParkSmart: kerb-side parking sensors and street displays, written against ``simulation.sdk`` only.

At deploy it puts a display on an arterial or collector pole next to each of the district's
busiest blocks (by jobs and visitor land use) and a parking sensor on the pole nearest each of the
blocks around them (any land use: that is where the free spaces are). Every tick it reads the
``parking.occupancy`` feed and points each display at the sensed block near it with the most
free spaces (blank when none has ``min_free``); every ``notice_min`` it also pushes the same
advice as an app notice (topic ``parking``) around the display.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from simulation.sdk import Action, BlockInfo, Deployment, Install, Notify, Observation, Service, ShowParking, SiteView

BUSY_USE = {"commercial": 3.0, "office": 2.0, "mixed": 1.5}


class ParkingGuidance(Service):
    """Sensors on the busiest blocks, displays pointing drivers to free spaces."""

    def deploy(self, site: SiteView, params: Mapping[str, Any]) -> Deployment:
        self.reach = float(params["display_reach_m"])
        self.min_free = int(params["min_free"])
        self.notice_s = 60.0 * float(params["notice_min"])
        busy = sorted(site.blocks, key=lambda b: -(b.jobs + 200 * BUSY_USE.get(b.land_use, 0.0)))
        taken: set[str] = set()
        installs: list[Install] = []

        def pole_near(x: float, y: float, kinds: tuple[str, ...], module: str) -> str | None:
            ok = [
                p
                for p in site.poles
                if p.id not in taken and p.road_class in kinds and p.free_slots >= 1
                and p.power_headroom_w >= site.module_types[module]["power_w"]
            ]  # fmt: skip
            best = min(ok, key=lambda p: (p.x - x) ** 2 + (p.y - y) ** 2, default=None)
            return best.id if best is not None else None

        self.displays: dict[str, tuple[float, float]] = {}
        sensed: list[BlockInfo] = []
        for b in busy[: int(params["displays"])]:
            pole = pole_near(b.x, b.y, ("arterial", "collector"), "display")
            if pole:
                taken.add(pole)
                did = f"disp-{b.id}"
                installs.append(Install(pole, "display", did))
                p = next(q for q in site.poles if q.id == pole)
                self.displays[did] = (p.x, p.y)
            # the blocks around a busy one, any land use: where the free spaces are
            around = sorted(site.blocks, key=lambda o: (o.x - b.x) ** 2 + (o.y - b.y) ** 2)
            sensed += [o for o in around[: int(params["sensors_per_display"])] if o not in sensed]
        taken.clear()
        for b in sensed:
            pole = pole_near(b.x, b.y, ("arterial", "collector", "local", "pedestrian"), "parking_sensor")
            if pole:
                taken.add(pole)
                installs.append(Install(pole, "parking_sensor", f"ps-{b.id}"))
        self.shown: dict[str, str] = {}
        self.next_notice = 0.0
        return Deployment(installs=tuple(installs), feeds=("parking.occupancy",))

    def on_tick(self, obs: Observation) -> Sequence[Action]:
        sensed = obs.feed("parking.occupancy")
        out: list[Action] = []
        notices = obs.time_s >= self.next_notice
        for did, (x, y) in self.displays.items():
            near = [
                r for r in sensed if r["free"] >= self.min_free and math.hypot(r["x"] - x, r["y"] - y) <= self.reach
            ]
            if not near:  # nothing worth advising: blank the display rather than send drivers to a full block
                if self.shown.get(did, ""):
                    self.shown[did] = ""
                    out.append(ShowParking(did, ""))
                continue
            best = max(near, key=lambda r: (r["free"], r["block"]))  # the most room: followers fill it slowest
            if self.shown.get(did) != best["block"]:
                self.shown[did] = best["block"]
                out.append(ShowParking(did, best["block"]))
            if notices:
                out.append(Notify("parking", best["block"], x, y, self.reach))
        if notices:
            self.next_notice = obs.time_s + self.notice_s
        return out
