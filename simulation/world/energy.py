"""Energy: every module's power by state, pole power budgets, light where people are, darkness.

Each pole's modules draw their catalogue ``power_w`` while the pole has power, except chargers and
drone docks, which draw ``idle_power_w`` until a vehicle charges (then a charger's ``power_kw``, or a
dock's ``power_w`` shared by its pads, per charging pad). Streetlights are accounted by
:class:`~simulation.world.lighting.Lighting` (level × 120 W). Energy is accounted when something
changes (a charge starts or ends, an outage starts or ends), never per minute. A pole whose
momentary draw exceeds its model's power budget is an overrun.

Darkness has a safety cost beyond the cameras' (which :mod:`safety` already takes from
``Lighting.lit``): extra crimes and accidents are drawn for the night from their own stream and
happen only where the nearest pole is dark, in proportion to how dark it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import simpy

from simulation.config.district import District
from simulation.config.scenario import FaultSpec, Scenario
from simulation.rng import Streams
from simulation.world.calendar import Calendar
from simulation.world.infrastructure import Infrastructure
from simulation.world.lighting import Lighting
from simulation.world.log import EventLog, Series
from simulation.world.population import Population
from simulation.world.safety import HOTSPOT_LAND_USE, HOURLY, MAX_CAMS, Incident, Safety, zlib_seed

VARIABLE = ("ev_charger", "drone_dock")  # modules whose draw depends on what they charge
DARK_KINDS = ("crime", "accident")


def dist2_from(x: float, y: float) -> Callable[[Any], float]:
    """A sort key: squared distance of an object with ``x`` and ``y`` from (x, y)."""
    return lambda o: (o.x - x) ** 2 + (o.y - y) ** 2


class Energy:
    """Power drawn by every module on every pole, power-budget overruns, lit-where-people."""

    def __init__(
        self,
        env: simpy.Environment,
        d: District,
        sc: Scenario,
        infra: Infrastructure,
        lights: Lighting,
        pop: Population,
        log: EventLog,
    ) -> None:
        self.env, self.d, self.infra, self.lights, self.pop, self.log = env, d, infra, lights, pop, log
        self.cfg = sc.demand.energy
        self.tick = sc.tick
        cat = d.catalogue.modules
        self.const_w: dict[str, float] = {}
        for p in d.poles:
            w = 0.0
            for m in p.modules:
                if m == "light":
                    continue
                w += (cat[m].idle_power_w or 0.0) if m in VARIABLE else cat[m].power_w
            self.const_w[p.id] = w
        self.budget = {p.id: p.power_budget_w for p in d.poles}
        self.draws: dict[str, dict[str, float]] = {p.id: {} for p in d.poles}
        self.var_w = dict.fromkeys(self.const_w, 0.0)
        self.powered = dict(infra.powered)
        self.powered_s = dict.fromkeys(self.const_w, 0.0)
        self._since = dict.fromkeys(self.const_w, 0.0)
        self.var_wh = 0.0
        self.var_wh_pole = dict.fromkeys(self.const_w, 0.0)  # the same, pole by pole (the maps)
        self.overruns = 0
        self._over: set[str] = set()
        self.lit_people = 0.0
        self.night_people = 0.0
        self.lit_block = [0.0] * len(d.blocks)  # the same person-seconds, block by block (the maps)
        self.night_block = [0.0] * len(d.blocks)
        r2 = self.cfg.lit_radius_m**2
        self.near: list[list[str]] = []
        for b in d.blocks:
            near = [p.id for p in d.poles if (p.x - b.x) ** 2 + (p.y - b.y) ** 2 <= r2]
            if not near:
                near = [min(d.poles, key=dist2_from(b.x, b.y)).id]
            self.near.append(near)
        self.total_kwh = math.nan
        self.module_kwh = math.nan

    # ---------------------------------------------------------------- accounting
    def _acc(self, pole: str) -> None:
        now = self.env.now
        dt = now - self._since[pole]
        if dt > 0 and self.powered[pole]:
            self.powered_s[pole] += dt
            wh = self.var_w[pole] * dt / 3600
            self.var_wh += wh
            self.var_wh_pole[pole] += wh
        self._since[pole] = now

    def set_draw(self, pole: str, key: str, watts: float) -> None:
        """Set the extra draw of one charging vehicle (``key``) on ``pole`` (0 ends it)."""
        self._acc(pole)
        if watts > 0:
            self.draws[pole][key] = watts
        else:
            self.draws[pole].pop(key, None)
        self.var_w[pole] = sum(self.draws[pole].values())
        load = self.load_w(pole)
        if load > self.budget[pole] + 1e-6:
            if pole not in self._over:
                self._over.add(pole)
                self.overruns += 1
                self.log.add(self.env.now, "power.overrun", pole, load_w=round(load), budget_w=self.budget[pole])
        else:
            self._over.discard(pole)

    def load_w(self, pole: str) -> float:
        """Momentary draw of a pole: modules, services' modules, chargers, its light."""
        extra = self.infra.extra_power.get(pole, 0.0)
        return self.const_w[pole] + extra + self.var_w[pole] + self.lights.level[pole] * self.lights.watts

    def on_fault(self, f: FaultSpec, _start: bool) -> None:
        """A power outage starts or ends: account what the poles drew up to now."""
        if f.kind != "power_outage":
            return
        for p in f.poles:
            if p in self.powered:
                self._acc(p)
                self.powered[p] = self.infra.powered[p]

    def finish(self, lights_kwh: float) -> float:
        """Close the books; return total kWh (modules, services' modules, charging, lights)."""
        for p in self.const_w:
            self._acc(p)
        wh = sum((self.const_w[p] + self.infra.extra_power.get(p, 0.0)) * s / 3600 for p, s in self.powered_s.items())
        self.module_kwh = (wh + self.var_wh) / 1000
        self.total_kwh = self.module_kwh + lights_kwh
        return self.total_kwh

    # ---------------------------------------------------------------- light where people are
    def sample(self, series: Series, t: float, dt: float) -> None:
        """At night, weigh people at blocks by whether a pole near them is lit."""
        watts = sum(self.load_w(p) for p in self.const_w if self.infra.powered[p])
        series.add(t, "energy.power_kw", watts / 1000)
        if self.lights.daylight(t) or self.lights.daylight(t - self.tick):
            return  # the streetlights switch at the first decision tick after sunset
        thr = self.cfg.lit_threshold
        level, powered = self.lights.level, self.infra.powered
        lit = total = 0
        lit_b, night_b = self.lit_block, self.night_block
        for b, n in enumerate(self.pop.present):
            if n:
                total += n
                night_b[b] += n * dt
                if any(level[p] >= thr and powered[p] for p in self.near[b]):
                    lit += n
                    lit_b[b] += n * dt
        self.lit_people += lit * dt
        self.night_people += total * dt
        if total:
            series.add(t, "energy.lit_where_people_pct", 100.0 * lit / total)

    @property
    def lit_where_people_pct(self) -> float:
        """People present at night near a lit pole, over all people present at night (%)."""
        return 100.0 * self.lit_people / self.night_people if self.night_people else math.nan


class DarkIncidents:
    """Extra night-time crimes and accidents that happen only where it is dark.

    Candidates (rate ``dark_incident_uplift`` × the scenario's rate of that kind, by hour, at
    night) are drawn when the world is built from stream ``safety.dark``; at its time a candidate
    happens with probability ``1 - lit`` of its nearest pole. Fully lit streets add nothing. Off when
    incidents arrive as a homogeneous Poisson process (``arrival: poisson``, the M/M/c set-up).
    """

    def __init__(
        self,
        env: simpy.Environment,
        d: District,
        sc: Scenario,
        streams: Streams,
        safety: Safety,
        lights: Lighting,
        cal: Calendar,
    ) -> None:
        self.env, self.safety, self.lights, self.cal, self.sc = env, safety, lights, cal, sc
        self.candidates: list[tuple[Incident, float]] = []
        self.happened = 0
        uplift = sc.demand.energy.dark_incident_uplift
        scfg = sc.demand.safety
        if uplift <= 0 or scfg.incidents_per_day <= 0 or scfg.arrival == "poisson" or scfg.all_to_queue:
            return  # none in queueing-theory set-ups (homogeneous Poisson arrivals, M/M/c checks)
        rng = streams("safety.dark")
        mix_total = sum(scfg.mix.values())
        hot = Streams(zlib_seed(d.name))("safety.hotspots")
        hot_mult = np.where(hot.random(len(d.blocks)) < 0.15, 3.0, 1.0)
        day0 = sc.start.hour * 3600 + sc.start.minute * 60
        n_hours = int(math.ceil(sc.duration / 3600))
        k = 0
        for kind in DARK_KINDS:
            share = scfg.mix.get(kind, 0.0) / mix_total if mix_total else 0.0  # type: ignore[call-overload]
            lam = scfg.incidents_per_day * share * uplift * sc.population_scale / 86400
            if lam <= 0:
                continue
            prof = np.array(HOURLY[kind]) / np.mean(HOURLY[kind])
            lw = np.array([HOTSPOT_LAND_USE[kind].get(b.land_use, 1.0) for b in d.blocks]) * hot_mult
            for h in range(n_hours):
                span = min(3600.0, sc.duration - h * 3600)
                hour = int(((h * 3600 + day0) // 3600) % 24)
                n = int(rng.poisson(lam * prof[hour] * span))
                for t in sorted(rng.uniform(h * 3600, h * 3600 + span, n).tolist()):
                    bi = int(rng.choice(len(lw), p=lw / lw.sum()))
                    u = rng.random(MAX_CAMS + 8)
                    accept = float(rng.random())
                    handling = self._handling(rng)
                    call_at = (
                        t + float(rng.exponential(scfg.call_delay_min * 60))
                        if u[MAX_CAMS + 2] < scfg.call_probability
                        else None
                    )
                    if lights.daylight(t):
                        continue  # drawn anyway, so the stream does not depend on the date
                    x, y = safety._place(bi, kind, u[MAX_CAMS + 5 :])
                    pole = min(d.poles, key=dist2_from(x, y)).id
                    b = d.blocks[bi]
                    inc = Incident(f"N{k:04d}", kind, t, float(x), float(y), b.node, pole, u, handling, call_at)
                    self.candidates.append((inc, accept))
                    k += 1

    def _handling(self, rng: np.random.Generator) -> float:
        cfg = self.sc.demand.safety
        if cfg.handling == "exponential":
            return float(rng.exponential(cfg.handling_time_s))
        sigma = 0.5
        return float(rng.lognormal(math.log(cfg.handling_time_s) - sigma**2 / 2, sigma))

    def start(self) -> None:
        """Schedule every candidate."""
        for inc, accept in self.candidates:
            self.cal.at(inc.t, partial(self._maybe, inc, accept))

    def _maybe(self, inc: Incident, accept: float, _event: object = None) -> None:
        if accept >= 1.0 - self.lights.lit(inc.pole, self.env.now):
            return
        self.happened += 1
        self.safety.add_incident(inc)
