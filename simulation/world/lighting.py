"""Streetlights and daylight: what is lit, when, and the energy it takes."""

from __future__ import annotations

import math
from collections.abc import Set as AbstractSet
from datetime import datetime

import simpy

from simulation.config.district import District
from simulation.world.infrastructure import Infrastructure
from simulation.world.log import Series

SEOUL_SOLAR_NOON_H = 12.53  # KST, at 127° E


def sun_hours(day: datetime, lat: float) -> tuple[float, float]:
    """Sunrise and sunset (clock hours, KST) on ``day`` at latitude ``lat`` (standard formula)."""
    n = day.timetuple().tm_yday
    decl = math.radians(23.44) * math.sin(2 * math.pi * (284 + n) / 365)
    x = -math.tan(math.radians(lat)) * math.tan(decl)
    half = math.degrees(math.acos(max(-1.0, min(1.0, x)))) / 15
    return SEOUL_SOLAR_NOON_H - half, SEOUL_SOLAR_NOON_H + half


class Lighting:
    """Light level per pole (0..1, set by services through ``SetLight``) and its energy."""

    def __init__(self, env: simpy.Environment, d: District, start: datetime, infra: Infrastructure) -> None:
        self.env, self.infra = env, infra
        self.level = {p.id: 0.0 for p in d.poles}
        self.watts = d.catalogue.modules["light"].power_w
        self.sunrise, self.sunset = sun_hours(start, d.meta.origin.lat)
        self._day0 = start.hour * 3600 + start.minute * 60
        self._since = {p.id: 0.0 for p in d.poles}
        self.wh = 0.0
        self.wh_pole = {p.id: 0.0 for p in d.poles}  # the same energy, pole by pole (the maps)
        self.changes = 0

    def daylight(self, t: float) -> bool:
        """Is the sun up at scenario time ``t``?"""
        h = ((t + self._day0) / 3600) % 24
        return self.sunrise <= h < self.sunset

    def lit(self, pole: str, t: float) -> float:
        """Effective light at a pole: 1 in daylight, else its level if powered, else 0."""
        if self.daylight(t):
            return 1.0
        return self.level[pole] if self.infra.powered[pole] else 0.0

    def _account(self, pole: str) -> None:
        now = self.env.now
        on = self.level[pole] if self.infra.powered[pole] else 0.0
        wh = on * self.watts * (now - self._since[pole]) / 3600
        self.wh += wh
        self.wh_pole[pole] += wh
        self._since[pole] = now

    def set(self, pole: str, level: float) -> None:
        """Change one pole's light level (energy is accounted up to now)."""
        if self.level[pole] != level:
            self._account(pole)
            self.level[pole] = level
            self.changes += 1

    def power_changed(self, poles: AbstractSet[str]) -> None:
        """Account energy before a power outage starts or ends on ``poles``."""
        for p in poles:
            self._account(p)

    def finish(self) -> float:
        """Close the books; total lighting energy in kWh."""
        for p in self.level:
            self._account(p)
        return self.wh / 1000

    def sample(self, series: Series, t: float) -> None:
        """Record the share of poles lit."""
        lit = sum(1 for p, lv in self.level.items() if lv > 0 and self.infra.powered[p])
        series.add(t, "lights.on_pct", 100.0 * lit / max(1, len(self.level)))
