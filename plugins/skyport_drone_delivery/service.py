"""Skyport: drone delivery from the S-Pole drone docks, written against ``simulation.sdk`` only.

Deploy: every dock needs ``c2_links`` command-and-control gateways (two = a redundant C2 link, the
condition for flying beyond visual line of sight over people) on its own pole or on the nearest
poles with room within ``c2_range_m``. Docks that cannot be equipped get no drones.

Policy every tick: remember the requests routed to us; drop the ones too heavy, too late or behind
a no-fly zone; give each idle drone the most urgent request it can fly there and back with a
battery reserve (nearest first among equally urgent ones). Drones stay on the dock when the world
says they are grounded, and when their dock's C2 gateways are not all mounted and up (an install
refused because another service took the pole's last slot, a power cut, a fibre cut). Each dock's
first working gateway streams ``video_mbps`` per drone of that dock in the air.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from simulation.sdk import Action, Deployment, Dispatch, FleetUnit, Install, Observation, Service, SiteView, Transmit

SPEED_M_S = 12.0  # as declared in plugin.yaml
BATTERY_MIN = 30.0
PAYLOAD_KG = 2.5
STOP_S = 60.0  # pick-up and drop-off, each
HANDOVER_S = 18 * 60  # the world hands an undispatched request to couriers after 20 minutes
MAX_GATEWAYS = 6  # as declared in plugin.yaml (hardware: gateway, units)


def _segment_hits(ax: float, ay: float, bx: float, by: float, zone: Mapping[str, Any]) -> bool:
    """Does the straight flight from a to b pass within the zone's radius of its centre?"""
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((zone["x"] - ax) * dx + (zone["y"] - ay) * dy) / length2))
    return math.hypot(ax + t * dx - zone["x"], ay + t * dy - zone["y"]) < zone["radius_m"]


class SkyportDelivery(Service):
    """Drones from the docks, most urgent order first, live video over the fibre."""

    def deploy(self, site: SiteView, params: Mapping[str, Any]) -> Deployment:
        self.video = float(params["video_mbps"])
        self.margin = float(params["reserve_margin"])
        self.no_fly = tuple(site.no_fly)
        links = int(params["c2_links"])
        c2_range = float(params["c2_range_m"])
        self.pending: dict[str, Mapping[str, Any]] = {}
        self.streaming: dict[str, float] = {}
        need = site.module_types.get("gateway", {})
        slots, watts = int(need.get("slots", 1)), float(need.get("power_w", 12.0))
        taken: dict[str, int] = {}  # pole -> gateways planned on it
        installs: list[Install] = []
        self.gateways: dict[str, tuple[str, ...]] = {}  # dock -> its C2 gateways, primary first
        docks = sorted(site.devices_of("drone_dock"), key=lambda d: d.id)
        for d in docks:  # the dock's own pole while it has room, then the nearest poles in range
            if len(installs) + links > MAX_GATEWAYS:
                break
            plan: list[str] = []
            for _ in range(links):
                room = [
                    p
                    for p in site.poles
                    if p.road_class != "pedestrian"
                    and p.free_slots - slots * taken.get(p.id, 0) >= slots
                    and p.power_headroom_w - watts * taken.get(p.id, 0) >= watts
                    and math.hypot(p.x - d.x, p.y - d.y) <= c2_range
                ]
                if not room:
                    break
                pole = min(room, key=lambda p: (math.hypot(p.x - d.x, p.y - d.y), p.id))
                taken[pole.id] = taken.get(pole.id, 0) + 1
                plan.append(pole.id)
            if len(plan) < links:  # this dock cannot get its C2 links: no drones there
                for pole in plan:
                    taken[pole] -= 1
                continue
            ids = tuple(f"skyport-c2-{d.id}-{k + 1}" for k in range(links))
            self.gateways[d.id] = ids
            installs.extend(Install(pole, "gateway", gid) for pole, gid in zip(plan, ids, strict=True))
        n = int(params["drones"])
        equipped = sorted(self.gateways)
        if not equipped:
            fleet: tuple[FleetUnit, ...] = ()
        elif len(equipped) == len(docks):  # every dock: the world spreads the drones over them
            fleet = (FleetUnit("drone", n, SPEED_M_S, BATTERY_MIN),)
        else:  # only at the docks with C2 links
            per = [n // len(equipped) + (1 if k < n % len(equipped) else 0) for k in range(len(equipped))]
            fleet = tuple(
                FleetUnit("drone", c, SPEED_M_S, BATTERY_MIN, home=dock)
                for dock, c in zip(equipped, per, strict=True)
                if c
            )
        return Deployment(
            installs=tuple(installs),
            feeds=("logistics.requests", "ev.chargers"),
            fleet=fleet,
            market_share=float(params["market_share"]),
        )

    # ------------------------------------------------------------------ helpers
    def _flyable(self, r: Mapping[str, Any]) -> bool:
        if r["weight_kg"] >= PAYLOAD_KG:  # the feed rounds weights: 2.5 may be 2.503 kg
            return False
        return not any(math.hypot(r["dest_x"] - z["x"], r["dest_y"] - z["y"]) < z["radius_m"] for z in self.no_fly)

    def _mission_s(self, u: Mapping[str, Any], r: Mapping[str, Any], home: tuple[float, float]) -> float | None:
        pts = [(u["x"], u["y"]), (r["origin_x"], r["origin_y"]), (r["dest_x"], r["dest_y"]), home]
        for (ax, ay), (bx, by) in itertools.pairwise(pts):
            if any(_segment_hits(ax, ay, bx, by, z) for z in self.no_fly):
                return None
        metres = sum(math.dist(p, q) for p, q in itertools.pairwise(pts))
        return metres / SPEED_M_S + 2 * STOP_S

    # ------------------------------------------------------------------ policy
    def on_tick(self, obs: Observation) -> Sequence[Action]:
        now = obs.time_s
        for r in obs.feed("logistics.requests"):
            if self._flyable(r):
                self.pending[r["id"]] = r
        for rid in [k for k, r in self.pending.items() if now - r["created_s"] > HANDOVER_S or r["deadline_s"] < now]:
            del self.pending[rid]
        docks = {c["id"]: (c["x"], c["y"]) for c in obs.feed("ev.chargers") if c["kind"] == "drone_dock"}
        working = {m["id"] for m in obs.modules if m["up"]}
        ready = {dock for dock, gws in self.gateways.items() if all(g in working for g in gws)}
        out: list[Action] = []
        if not obs.weather.get("drones_grounded"):
            idle = [u for u in obs.fleet if u["state"] == "idle" and u["home"] in ready]
            for rid, r in sorted(self.pending.items(), key=lambda kv: (kv[1]["deadline_s"], kv[0])):
                best: tuple[float, str] | None = None
                for u in idle:
                    home = docks.get(u["home"], (u["x"], u["y"]))
                    need = self._mission_s(u, r, home)
                    if need is None or need > (1 - self.margin) * u["battery_min"] * 60:
                        continue
                    dist = math.hypot(u["x"] - r["origin_x"], u["y"] - r["origin_y"])
                    if best is None or (dist, u["id"]) < best:
                        best = (dist, u["id"])
                if best is not None:
                    out.append(Dispatch(best[1], rid))
                    idle = [u for u in idle if u["id"] != best[1]]
                    del self.pending[rid]
                if not idle:
                    break
        airborne: dict[str, int] = {}
        for u in obs.fleet:
            if u["state"] in ("delivering", "returning"):
                airborne[u["home"]] = airborne.get(u["home"], 0) + 1
        mounted = {m["id"] for m in obs.modules}
        for dock, gws in sorted(self.gateways.items()):
            primary = next((g for g in gws if g in working), None)
            for gw in gws:
                want = self.video * airborne.get(dock, 0) if gw == primary else 0.0
                if gw in mounted and self.streaming.get(gw, 0.0) != want:
                    self.streaming[gw] = want
                    out.append(Transmit(gw, want))
        return out
