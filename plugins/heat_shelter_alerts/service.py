"""CoolWave: heat-wave alerts that send the vulnerable indoors or to cooling shelters (``simulation.sdk`` only).

Reads every S-DoT sensor's air temperature (and black-globe temperature when present). Near a
sensor whose last ``window`` readings all stay at or above ``threshold_c``, it pushes a ``heat``
notice: stay in or go to a cooling shelter. One notice per area per ``cooldown_min``; the city's
notice response keeps complying people in for three hours, so the default cooldown re-alerts
before that runs out while the heat lasts.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from simulation.sdk import Action, Deployment, Notify, Observation, Service, SiteView

MESSAGE = "Heat wave: stay indoors or go to a cooling shelter (senior centres, libraries) until evening."


class HeatShelterAlerts(Service):
    """S-DoT temperatures to heat notices near each hot sensor."""

    def deploy(self, site: SiteView, params: Mapping[str, Any]) -> Deployment:
        self.threshold = float(params["threshold_c"])
        self.window = int(params["window"])
        self.radius = float(params["radius_m"])
        self.cooldown_s = 60.0 * float(params["cooldown_min"])
        self.recent: dict[str, deque[float]] = {}
        self.where: dict[str, tuple[float, float]] = {}
        self.quiet_until: dict[str, float] = {}
        return Deployment(feeds=("sdot.readings",))

    def on_tick(self, obs: Observation) -> Sequence[Action]:
        for r in sorted(obs.feed("sdot.readings"), key=lambda r: (r["time_s"], r["sensor"])):
            value = r.get("temperature_c")
            if not isinstance(value, int | float) or not math.isfinite(value):
                continue
            self.recent.setdefault(r["sensor"], deque(maxlen=self.window)).append(float(value))
            self.where[r["sensor"]] = (r["x"], r["y"])
        out: list[Action] = []
        for sensor in sorted(self.recent):
            vals = self.recent[sensor]
            if len(vals) < self.window or min(vals) < self.threshold:
                continue
            if obs.time_s < self.quiet_until.get(sensor, 0.0):
                continue
            x, y = self.where[sensor]
            out.append(Notify("heat", MESSAGE, x, y, self.radius))
            for other, xy in self.where.items():  # one notice covers the sensors inside its radius
                if math.dist(xy, (x, y)) <= self.radius:
                    self.quiet_until[other] = obs.time_s + self.cooldown_s
        return out
