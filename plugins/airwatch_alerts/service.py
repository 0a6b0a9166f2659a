"""AirWatch: air-quality alerts on the S-DoT feed, written against ``simulation.sdk`` only.

Per sensor, a rolling median of the humidity-corrected PM2.5 over the last ``window`` readings.
An alert goes out near a sensor whose median is above ``threshold_pm25`` if a neighbouring sensor
within ``neighbour_m`` is also above 80 % of the threshold (a single faulty sensor does not
alarm a neighbourhood), and not more than once per ``cooldown_min`` near that sensor.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from simulation.sdk import Action, Deployment, Notify, Observation, Service, SiteView

MESSAGE = "Fine dust (PM2.5) is high near you: please stay indoors and keep windows closed."


class AirWatchAlerts(Service):
    """Cleaned S-DoT PM2.5, cross-checked between neighbours, pushed as stay-indoors alerts."""

    def deploy(self, site: SiteView, params: Mapping[str, Any]) -> Deployment:
        self.threshold = float(params["threshold_pm25"])
        self.window = int(params["window"])
        self.radius = float(params["radius_m"])
        self.neighbour_m = float(params["neighbour_m"])
        self.cooldown_s = 60.0 * float(params["cooldown_min"])
        self.recent: dict[str, deque[float]] = {}
        self.where: dict[str, tuple[float, float]] = {}
        self.quiet_until: dict[str, float] = {}
        return Deployment(feeds=("sdot.readings",))

    def _median(self, sensor: str) -> float | None:
        values = self.recent.get(sensor)
        return statistics.median(values) if values and len(values) >= min(3, self.window) else None

    def on_tick(self, obs: Observation) -> Sequence[Action]:
        for r in sorted(obs.feed("sdot.readings"), key=lambda r: (r["time_s"], r["sensor"])):
            value = r.get("pm25_corrected")
            if not isinstance(value, int | float) or not math.isfinite(value):
                continue  # a reading without PM (sensor fault) is skipped
            self.recent.setdefault(r["sensor"], deque(maxlen=self.window)).append(float(value))
            self.where[r["sensor"]] = (r["x"], r["y"])
        medians = {s: m for s in sorted(self.recent) if (m := self._median(s)) is not None}
        out: list[Action] = []
        for sensor, m in medians.items():
            if m <= self.threshold or obs.time_s < self.quiet_until.get(sensor, 0.0):
                continue
            x, y = self.where[sensor]
            if self.neighbour_m > 0:
                near = [
                    o
                    for o, v in medians.items()
                    if o != sensor and v > 0.8 * self.threshold and math.dist(self.where[o], (x, y)) <= self.neighbour_m
                ]
                others = [o for o in medians if o != sensor and math.dist(self.where[o], (x, y)) <= self.neighbour_m]
                if others and not near:
                    continue  # neighbours disagree: probably this sensor, not the air
            out.append(Notify("air_quality", MESSAGE, x, y, self.radius))
            for other in medians:  # one alert covers the sensors inside its radius
                if math.dist(self.where[other], (x, y)) <= self.radius:
                    self.quiet_until[other] = obs.time_s + self.cooldown_s
        return out
