"""Lumen Adaptive: presence-based streetlight dimming, written against ``simulation.sdk`` only.

At night each pole is at ``base_level`` unless people were counted near it or near a pole within
``spread_m`` in the last ``hold_ticks`` ticks, in which case it is at ``busy_level``. By day the
lights are off. Only changes are sent, batched into one ``SetLight`` per level.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from simulation.sdk import Action, Deployment, Observation, Service, SetLight, SiteView


class AdaptiveDimming(Service):
    """Dim empty streets, light occupied ones and the poles around them."""

    def deploy(self, site: SiteView, params: Mapping[str, Any]) -> Deployment:
        self.base = float(params["base_level"])
        self.busy = float(params["busy_level"])
        self.min_people = int(params["min_people"])
        self.hold = int(params["hold_ticks"])
        spread = float(params["spread_m"])
        self.poles = tuple(p.id for p in site.poles)
        xy = {p.id: (p.x, p.y) for p in site.poles}
        # neighbourhoods once, at deploy: the poles to light when someone is near a given pole
        self.around = {a: tuple(b for b in self.poles if math.dist(xy[a], xy[b]) <= spread) for a in self.poles}
        self.last_seen: dict[str, int] = {}
        self.level: dict[str, float] = {}
        return Deployment(operates=("lights",), feeds=("lights.presence",))

    def on_tick(self, obs: Observation) -> Sequence[Action]:
        if obs.daylight:
            want = dict.fromkeys(self.poles, 0.0)
        else:
            for item in obs.feed("lights.presence"):
                if item["people"] >= self.min_people and item["pole"] in self.around:
                    for p in self.around[item["pole"]]:
                        self.last_seen[p] = obs.tick
            want = {
                p: self.busy if obs.tick - self.last_seen.get(p, -(10**9)) <= self.hold else self.base
                for p in self.poles
            }
        changed: dict[float, list[str]] = {}
        for p in self.poles:
            if self.level.get(p) != want[p]:
                changed.setdefault(want[p], []).append(p)
                self.level[p] = want[p]
        return [SetLight(tuple(ps), level) for level, ps in sorted(changed.items())]
