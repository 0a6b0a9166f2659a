"""VoltRoute: robot delivery with EV-charger reservations, written against ``simulation.sdk`` only.

Every tick: remember the requests routed to us; give each idle robot the most urgent request within
``max_trip_m`` it can do with its battery (street detour estimated at 1.4x the straight line);
when a mission will leave a robot below the level at which it recharges, reserve a pad at its home
charger from its estimated return for ``reserve_min`` minutes, so it charges without queueing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from simulation.sdk import Action, Deployment, Dispatch, FleetUnit, Observation, Reserve, Service, SiteView

SPEED_M_S = 1.8  # as declared in plugin.yaml
BATTERY_MIN = 240.0
PAYLOAD_KG = 20.0
DETOUR = 1.4
STOP_S = 60.0
RECHARGE_BELOW = 0.3  # the share of battery at which robots recharge (published by the city)
HANDOVER_S = 18 * 60


class VoltRoute(Service):
    """Robots on the sidewalks, pads reserved before they are needed."""

    def deploy(self, site: SiteView, params: Mapping[str, Any]) -> Deployment:
        self.max_trip = float(params["max_trip_m"])
        self.reserve = bool(params["reserve"])
        self.reserve_s = 60.0 * float(params["reserve_min"])
        self.end_s = site.duration_s
        self.pending: dict[str, Mapping[str, Any]] = {}
        self.reserved_until: dict[str, float] = {}
        fleet = (FleetUnit("robot", int(params["robots"]), SPEED_M_S, BATTERY_MIN),)
        return Deployment(
            feeds=("logistics.requests", "ev.chargers"), fleet=fleet, market_share=float(params["market_share"])
        )

    def on_tick(self, obs: Observation) -> Sequence[Action]:
        now = obs.time_s
        for r in obs.feed("logistics.requests"):
            trip = math.dist((r["origin_x"], r["origin_y"]), (r["dest_x"], r["dest_y"]))
            if r["weight_kg"] <= PAYLOAD_KG and trip <= self.max_trip:
                self.pending[r["id"]] = r
        for rid in [k for k, r in self.pending.items() if now - r["created_s"] > HANDOVER_S or r["deadline_s"] < now]:
            del self.pending[rid]
        chargers = {c["id"]: c for c in obs.feed("ev.chargers")}
        idle = [u for u in obs.fleet if u["state"] == "idle"]
        out: list[Action] = []
        for rid, r in sorted(self.pending.items(), key=lambda kv: (kv[1]["deadline_s"], kv[0])):
            if not idle:
                break
            best: tuple[float, str, float, float] | None = None
            for u in idle:
                home = chargers.get(u["home"])
                hx, hy = (home["x"], home["y"]) if home else (u["x"], u["y"])
                out_m = math.dist((u["x"], u["y"]), (r["origin_x"], r["origin_y"])) + math.dist(
                    (r["origin_x"], r["origin_y"]), (r["dest_x"], r["dest_y"])
                )
                back_m = math.dist((r["dest_x"], r["dest_y"]), (hx, hy))
                need_s = DETOUR * (out_m + back_m) / SPEED_M_S + 2 * STOP_S
                if need_s > 0.9 * u["battery_min"] * 60:
                    continue
                key = (out_m, u["id"], need_s, u["battery_min"] * 60 - need_s)
                if best is None or key[:2] < best[:2]:
                    best = key
            if best is None:
                continue
            _, unit, need_s, left_s = best
            out.append(Dispatch(unit, rid))
            del self.pending[rid]
            idle = [u for u in idle if u["id"] != unit]
            home_id = next(u["home"] for u in obs.fleet if u["id"] == unit)
            back_at = now + need_s
            if (
                self.reserve
                and home_id in chargers
                and left_s < RECHARGE_BELOW * BATTERY_MIN * 60
                and back_at < self.end_s
                and self.reserved_until.get(unit, 0.0) < back_at
            ):
                out.append(Reserve(home_id, unit, back_at, self.reserve_s / 60.0))
                self.reserved_until[unit] = back_at + self.reserve_s
        return out
