"""Environment: PM2.5, PM10, temperature, humidity and noise fields; S-DoT sensors; exposure; alerts.

The fields live on a coarse grid (``grid_m``, 100 m) at a coarse time step (``step_min``, 10 min)
and are computed once, with numpy, when the world is built: every input (the day's weather, the
scheduled rain, heat waves, pollution episodes and festivals) is known from the scenario and the
seed. A value between grid times is interpolated linearly. Each field is a background with a
diurnal profile, times a spatially correlated random field, plus traffic along the streets
(weighted by road class, following the traffic profile, diluted by wind) and land-use sources;
heavy rain washes PM out and it recovers after, a heat wave adds heat and secondary PM.

Citizens accumulate exposure per stay and per trip, not per minute: a stay's exposure is a
difference of the cumulative field at its cell (exact for the piecewise-linear field), a trip's is
Simpson's rule over its start, middle and end. Both are computed in one vectorised pass at the end.

S-DoT sensors report every 2 minutes with grade-2 errors (gain, drift, noise, humidity artefact)
and outages. Their readings are built only for the ``sdot.readings`` feed when a service subscribes
and for a 15-minute sample kept in the run's time series; availability is computed from intervals.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from datetime import timedelta

import numpy as np
import simpy
from scipy.ndimage import gaussian_filter

from simulation import sdk
from simulation.config.district import District
from simulation.config.scenario import Scenario
from simulation.rng import Streams
from simulation.world.infrastructure import Infrastructure
from simulation.world.lighting import Lighting
from simulation.world.log import Series
from simulation.world.population import ADULT, RESIDENT, WALK_M_S, Citizen, Population

SENSOR_INTERVAL_S = 120.0  # sources.md: one S-DoT reading every 2 minutes
SERIES_VARS = ("pm25", "pm10", "temperature_c", "humidity_pct", "noise_db")
# Seoul monthly mean temperature, °C (judgement, rounded from KMA 1991-2020 normals).
SEOUL_MEAN_C = (-2.0, 0.6, 6.3, 12.9, 18.2, 22.4, 25.3, 26.1, 21.6, 15.0, 7.5, 0.2)
# Background PM2.5 by hour, relative (judgement: morning and late-evening peaks, afternoon mixing).
BG_HOURLY = (1.05, 1.02, 1.0, 0.97, 0.95, 0.95, 0.98, 1.05, 1.12, 1.12, 1.08, 1.0,
             0.93, 0.88, 0.85, 0.85, 0.88, 0.95, 1.02, 1.08, 1.12, 1.12, 1.1, 1.08)  # fmt: skip
# Road traffic by hour, relative (judgement: rush hours at 8 and 18).
TRAFFIC_HOURLY = (0.25, 0.15, 0.1, 0.1, 0.15, 0.35, 0.7, 1.3, 1.6, 1.2, 1.0, 1.0,
                  1.05, 1.0, 1.0, 1.05, 1.2, 1.5, 1.6, 1.3, 1.0, 0.8, 0.6, 0.4)  # fmt: skip
# Traffic by road class, relative, and the distance over which its PM falls by e (judgement).
ROAD_WEIGHT = {"arterial": 1.0, "collector": 0.45, "local": 0.12, "pedestrian": 0.0}
ROAD_DECAY_M = 50.0
# Traffic noise: sound power by road class and a shorter reach (buildings shield side streets).
NOISE_WEIGHT = {"arterial": 1.0, "collector": 0.35, "local": 0.06, "pedestrian": 0.0}
NOISE_DECAY_M = 25.0
KERB_DB = 72.0  # LAeq at an arterial kerb at traffic profile 1 (judgement)
HEAT_ISLAND_C = {"commercial": 1.0, "industrial": 1.2, "office": 0.8, "mixed": 0.6, "residential": 0.3, "park": -1.5}
OUTDOOR_SHARE = {"park": 0.8, "commercial": 0.15, "mixed": 0.1, "industrial": 0.1, "residential": 0.05, "office": 0.05}
WIND_MEAN_M_S = 2.2  # judgement: Seoul's mean wind speed is about 2-2.5 m/s
VULNERABLE = (0, 2)  # CHILD, ELDERLY
STAY_RECORD = struct.Struct("5d")  # see Environment.stays
TRIP_RECORD = struct.Struct("6d")  # see Environment.trips


class Environment:
    """The environment domain: fields, sensors, exposure, air-quality alerts."""

    def __init__(
        self,
        env: simpy.Environment,
        d: District,
        sc: Scenario,
        streams: Streams,
        infra: Infrastructure,
        pop: Population,
        lights: Lighting,
    ) -> None:
        self.env, self.d, self.sc, self.infra, self.pop, self.lights = env, d, sc, infra, pop, lights
        self.cfg = cfg = sc.demand.environment
        self.day0 = sc.start.hour * 3600 + sc.start.minute * 60
        self._grid(d, cfg.grid_m)
        self.dt = cfg.step_min * 60.0
        self.n_slots = int(math.ceil(sc.duration / self.dt)) + 1
        self._build_fields(streams("environment.weather"), streams("environment.field"))
        # exposure bookkeeping: closed stays and trips as flat lists, open stays by citizen id
        n_ids = max((c.unique_id for c in pop.citizens), default=0) + 1
        self.group = np.full(n_ids, ADULT, dtype=np.int8)
        self.kind = np.full(n_ids, -1, dtype=np.int8)
        ids = np.fromiter((c.unique_id for c in pop.citizens), int, len(pop.citizens))
        self.group[ids] = np.fromiter((c.group for c in pop.citizens), np.int8, len(pop.citizens))
        self.kind[ids] = np.fromiter((c.kind for c in pop.citizens), np.int8, len(pop.citizens))
        self.u_comply = streams("environment.compliance").random(n_ids)
        self.block_fac = [
            OUTDOOR_SHARE.get(b.land_use, 0.1) + (1 - OUTDOOR_SHARE.get(b.land_use, 0.1)) * cfg.indoor_factor
            for b in d.blocks
        ]
        self._open: dict[int, tuple[float, int, float, int]] = {}
        # flat records of doubles (no object per record: a day has ~170k, and the collector need not
        # visit them), read with np.frombuffer. Packed with struct into a bytearray: array.extend of
        # a small tuple grows the array one item at a time, at twice the cost.
        self.stays = bytearray()  # (citizen, cell, t0, t1, factor) per stay
        self.trips = bytearray()  # (citizen, t0, t1, cell0, cell_mid, cell1) per trip
        self._mid: dict[tuple[str, str], tuple[int, int, int]] = {}  # a walk's (start, middle, end) cells
        self._node_cell = {n: self.cell(x, y) for n, (x, y) in d.nodes.items()}
        self.members: list[dict[Citizen, None]] = [{} for _ in d.blocks]
        self.travelling: dict[Citizen, None] = {}
        self.windows: list[tuple[int, float, float]] = []  # (citizen, from, until) sheltering after alerts
        self.alerts: list[tuple[float, float, float, float, int, int]] = []  # (t, x, y, r, reached, complied)
        self.other_notices = 0
        self.exposure: dict[str, float] = {}
        self._sensors(streams("environment.sensors"))
        pop.listen(*self._listeners())
        infra.listeners.append(self._on_poles)

    # ---------------------------------------------------------------- grid and fields
    def _grid(self, d: District, g: float) -> None:
        xs = [x for x, _ in d.nodes.values()] + [b.x for b in d.blocks]
        ys = [y for _, y in d.nodes.values()] + [b.y for b in d.blocks]
        self.g = g
        margin = max(g, 80.0)  # people stand up to 60 m from a block's centroid: no clamping needed
        self.x0, self.y0 = min(xs) - margin, min(ys) - margin
        self.nx = int(math.ceil((max(xs) + margin - self.x0) / g)) + 1
        self.ny = int(math.ceil((max(ys) + margin - self.y0) / g)) + 1
        self.cx = self.x0 + (np.arange(self.nx) + 0.5) * g
        self.cy = self.y0 + (np.arange(self.ny) + 0.5) * g
        bx = [b.x for b in d.blocks]
        by = [b.y for b in d.blocks]
        gx, gy = np.meshgrid(self.cx, self.cy)
        self.inside = ((gx >= min(bx)) & (gx <= max(bx)) & (gy >= min(by)) & (gy <= max(by))).ravel()

    def cell(self, x: float, y: float) -> int:
        """Flat index of the grid cell holding (x, y) (clamped to the grid)."""
        ix = min(max(int((x - self.x0) / self.g), 0), self.nx - 1)
        iy = min(max(int((y - self.y0) / self.g), 0), self.ny - 1)
        return iy * self.nx + ix

    def _hours(self, t: np.ndarray) -> np.ndarray:
        return ((t + self.day0) / 3600.0) % 24.0

    @staticmethod
    def _profile(table: tuple[float, ...], h: np.ndarray) -> np.ndarray:
        ext = np.array([*table, table[0]])
        return np.interp(h, np.arange(25), ext)

    def _proximity(
        self, px: np.ndarray, py: np.ndarray, weights: dict[str, float] = ROAD_WEIGHT, decay: float = ROAD_DECAY_M
    ) -> np.ndarray:
        """Traffic proximity at points: 1 at an arterial kerb, falling with distance and road class."""
        sx, sy, sw = [], [], []
        for st in self.d.streets:
            w = weights.get(st.road_class, 0.0)
            if w <= 0:
                continue
            for (ax, ay), (bx, by) in zip(st.coords, st.coords[1:], strict=False):
                n = max(1, int(math.hypot(bx - ax, by - ay) / 15))  # a point every ~15 m
                f = (np.arange(n) + 0.5) / n
                sx.append(ax + f * (bx - ax))
                sy.append(ay + f * (by - ay))
                sw.append(np.full(n, w * math.hypot(bx - ax, by - ay) / n))
        if not sx:
            return np.zeros_like(px)
        qx, qy, qw = np.concatenate(sx), np.concatenate(sy), np.concatenate(sw)
        out = np.empty(len(px))
        for k in range(0, len(px), 256):  # chunks keep the distance matrix small
            dx = px[k : k + 256, None] - qx[None, :]
            dy = py[k : k + 256, None] - qy[None, :]
            out[k : k + 256] = (np.exp(-np.hypot(dx, dy) / decay) * qw).sum(axis=1)
        return np.minimum(out / (2 * decay), 1.0)

    def _build_fields(self, wx: np.random.Generator, fx: np.random.Generator) -> None:
        cfg, sc, d = self.cfg, self.sc, self.d
        t = np.arange(self.n_slots) * self.dt
        self.t_slots = t
        h = self._hours(t)
        # the day's weather (seed-dependent, shared by every scenario with this seed)
        day = math.exp(cfg.day_sd * float(wx.normal()) - cfg.day_sd**2 / 2)
        w0 = WIND_MEAN_M_S * math.exp(0.3 * float(wx.normal()))
        self.wind_dir0 = float(wx.uniform(0, 360))
        self.wind = w0 * (0.75 + 0.5 * np.clip(np.sin(np.pi * (h - 9) / 12), 0, None))
        dil = np.clip(WIND_MEAN_M_S / self.wind, 0.6, 1.6)
        tp = self._profile(TRAFFIC_HOURLY, h)
        self.traffic = tp
        bg = cfg.background_pm25 * day * self._profile(BG_HOURLY, h)
        # scheduled weather and events
        rain = np.zeros(self.n_slots)
        heat = np.zeros(self.n_slots)
        episodes: list[tuple[np.ndarray, np.ndarray]] = []
        festival: list[tuple[np.ndarray, np.ndarray]] = []
        gx, gy = np.meshgrid(self.cx, self.cy)
        gx, gy = gx.ravel(), gy.ravel()
        blocks = {b.id: b for b in d.blocks}
        for f in sc.faults:
            t0 = sc.fault_offset(f)
            on = (t >= t0) & (t < t0 + f.duration)
            if f.kind == "heavy_rain":
                rain = np.where(on, np.maximum(rain, f.intensity_mm_h or 20.0), rain)
            elif f.kind == "heat_wave":
                heat = np.maximum(heat, on.astype(float))
            elif f.kind == "pollution_episode":
                ramp = np.clip(np.minimum(t - t0, t0 + f.duration - t) / 3600.0, 0, 1)
                b = blocks.get(f.block) if f.block else None
                r = f.radius_m or 400.0
                w = np.ones(len(gx)) if b is None else np.exp(-((gx - b.x) ** 2 + (gy - b.y) ** 2) / r**2)
                episodes.append(((f.pm25_ug_m3 or 60.0) * ramp, w))
            elif f.kind == "festival_crowd":
                b = blocks.get(f.block) if f.block else None
                w = np.full(len(gx), 0.3) if b is None else np.exp(-((gx - b.x) ** 2 + (gy - b.y) ** 2) / 200.0**2)
                festival.append((on.astype(float), w))
        self.rain, self.heat = rain, heat
        # washout: PM falls while it rains and recovers after (one pass over the slots)
        lam = math.log(2) / cfg.washout_mm_h_half
        wash = np.ones(self.n_slots)
        for k in range(1, self.n_slots):
            dt_h = self.dt / 3600
            prev = wash[k - 1]
            if rain[k - 1] > 0:
                wash[k] = max(0.25, prev * math.exp(-lam * rain[k - 1] * dt_h))
            else:
                wash[k] = 1 - (1 - prev) * math.exp(-dt_h / cfg.recovery_h)
        # static maps
        prox = self._proximity(gx, gy)
        loud = self._proximity(gx, gy, NOISE_WEIGHT, NOISE_DECAY_M)
        lu_pm = np.zeros(len(gx))
        uhi = np.zeros(len(gx))
        area = np.zeros(len(gx))
        for b in d.blocks:
            c = self.cell(b.x, b.y)
            lu_pm[c] += cfg.land_use_pm25.get(b.land_use, 0.0) * b.area_m2  # type: ignore[call-overload]
            uhi[c] += HEAT_ISLAND_C.get(b.land_use, 0.0) * b.area_m2
            area[c] += b.area_m2
        shape = (self.ny, self.nx)
        sig = max(0.5, 150.0 / self.g)
        area_s = gaussian_filter(area.reshape(shape), sig, mode="nearest").ravel()
        lu_pm = np.where(
            area_s > 0, gaussian_filter(lu_pm.reshape(shape), sig, mode="nearest").ravel() / np.maximum(area_s, 1e-9), 0
        )
        uhi = np.where(
            area_s > 0, gaussian_filter(uhi.reshape(shape), sig, mode="nearest").ravel() / np.maximum(area_s, 1e-9), 0
        )
        z = []
        for _ in range(2):
            f = gaussian_filter(fx.normal(size=shape), cfg.correlation_m / self.g, mode="reflect").ravel()
            z.append(f / f.std() if f.std() > 0 else f)
        z1, z2 = z
        self.prox, self.z1 = prox, z1
        # fields, shape (slots, cells)
        ang = 2 * np.pi * t[:, None] / 86400.0
        corr = np.exp(cfg.spatial_sd * (np.cos(ang) * z1 + np.sin(ang) * z2) - cfg.spatial_sd**2 / 2)
        local = (cfg.traffic_pm25 * prox[None, :] * tp[:, None] + lu_pm[None, :]) * dil[:, None]
        extra = np.zeros((self.n_slots, len(gx)))
        for amp, w in episodes:
            extra += amp[:, None] * w[None, :]
        fest = np.zeros((self.n_slots, len(gx)))
        for on, w in festival:
            fest += on[:, None] * w[None, :]
        heat_pm = 1 + (cfg.heat_wave_pm_factor - 1) * heat
        pm25 = (bg[:, None] * corr + local + extra + 2.0 * fest) * (wash * heat_pm)[:, None]
        self.pm25 = np.maximum(pm25, 1.0)
        self.pm10 = self.pm25 * (cfg.pm10_ratio + 0.6 * prox[None, :]) * (wash**0.3)[:, None]
        month = sc.start.month - 1
        t_mean = cfg.temperature_mean_c if cfg.temperature_mean_c is not None else SEOUL_MEAN_C[month]
        raining = (rain > 0).astype(float)
        t_day = t_mean + cfg.temperature_amplitude_c * np.cos(2 * np.pi * (h - 15) / 24)
        t_day = t_day + cfg.heat_wave_delta_c * heat - 3.0 * raining
        self.temp = t_day[:, None] + uhi[None, :] + 0.3 * z1[None, :]
        hum = cfg.humidity_mean_pct - 2.5 * (t_day - t_mean) + 30.0 * raining
        self.hum = np.clip(hum[:, None] + 2.0 * z2[None, :], 15.0, 100.0)
        l_bg = 45.0 + 5.0 * np.minimum(tp, 1.0) + 3.0 * raining
        road = 10 ** (KERB_DB / 10) * loud[None, :] * tp[:, None]
        self.noise = 10 * np.log10(10 ** (l_bg[:, None] / 10) + road) + 10.0 * fest
        # cumulative PM2.5 (µg/m³·h) at slot edges, for exact stay integrals
        inc = (self.pm25[1:] + self.pm25[:-1]) / 2 * (self.dt / 3600.0)
        self.cum25 = np.vstack([np.zeros((1, len(gx))), np.cumsum(inc, axis=0)])

    def value(self, field: np.ndarray, t: float, cell: int) -> float:
        """A field's value at time ``t`` in one cell (linear in time)."""
        u = min(max(t / self.dt, 0.0), self.n_slots - 1.000001)
        k = int(u)
        f = u - k
        return float(field[k, cell] * (1 - f) + field[k + 1, cell] * f)

    # ---------------------------------------------------------------- exposure
    def _listeners(
        self,
    ) -> tuple[Callable[[Citizen, int, float, float], None], Callable[[Citizen, float, float], None]]:
        """The stay and trip listeners, as closures over locals: they run ~120k times a district-day."""
        open_, members, travelling, fac = self._open, self.members, self.travelling, self.block_fac
        add_stay, add_trip = self.stays.extend, self.trips.extend
        stay_rec, trip_rec = STAY_RECORD.pack, TRIP_RECORD.pack
        x0, y0, ig, nx = self.x0, self.y0, 1.0 / self.g, self.nx
        node_cell, mids, pop = self._node_cell, self._mid, self.pop

        def on_stay(c: Citizen, b: int, t0: float, _t1: float) -> None:
            open_[c.unique_id] = (t0, int((c.y - y0) * ig) * nx + int((c.x - x0) * ig), fac[b], b)
            members[b][c] = None
            travelling.pop(c, None)

        def on_trip(c: Citizen, t0: float, t1: float) -> None:
            uid = c.unique_id
            rec = open_.pop(uid, None)
            if rec is not None:
                add_stay(stay_rec(uid, rec[1], rec[0], t0, rec[2]))
                del members[rec[3]][c]
            trip = c.trip
            if trip is None:
                return
            key = (trip[2], trip[3])
            cells = mids.get(key)
            if cells is None:  # the cells of its ends and middle node (paths are cached by the population)
                path = pop.paths_from(key[0])[1].get(key[1]) or [key[0]]
                cells = mids[key] = (node_cell[key[0]], node_cell[path[len(path) // 2]], node_cell[key[1]])
            add_trip(trip_rec(uid, t0, t1, cells[0], cells[1], cells[2]))
            travelling[c] = None

        return on_stay, on_trip

    def _cum(self, cells: np.ndarray, t: np.ndarray) -> np.ndarray:
        u = np.clip(t / self.dt, 0, self.n_slots - 1.000001)
        k = u.astype(int)
        f = u - k
        return self.cum25[k, cells] * (1 - f) + self.cum25[k + 1, cells] * f

    def _val(self, field: np.ndarray, cells: np.ndarray, t: np.ndarray) -> np.ndarray:
        u = np.clip(t / self.dt, 0, self.n_slots - 1.000001)
        k = u.astype(int)
        f = u - k
        return field[k, cells] * (1 - f) + field[k + 1, cells] * f

    def finish(self) -> None:
        """Close open stays and integrate every citizen's exposure (µg/m³·h of PM2.5)."""
        now = self.env.now
        for cid, (s0, c0, f0, _b) in self._open.items():
            self.stays.extend(STAY_RECORD.pack(cid, c0, s0, now, f0))
        self._open.clear()
        n = len(self.group)
        total = np.zeros(n)
        present = np.zeros(n)
        if self.stays:
            st = np.frombuffer(self.stays, float).reshape(-1, 5)
            cit, cell = st[:, 0].astype(int), st[:, 1].astype(int)
            t0, t1, fac = st[:, 2], np.minimum(st[:, 3], now), st[:, 4]
            total += np.bincount(cit, weights=fac * (self._cum(cell, t1) - self._cum(cell, t0)), minlength=n)
            present += np.bincount(cit, weights=t1 - t0, minlength=n)
            total += self._sheltered(cit, cell, t0, t1, fac, n)
        if self.trips:
            tr = np.frombuffer(self.trips, float).reshape(-1, 6)
            tcit = tr[:, 0].astype(int)
            a, b = tr[:, 1], np.minimum(tr[:, 2], now)
            tm = (a + b) / 2
            ca, cm, cb = tr[:, 3].astype(int), tr[:, 4].astype(int), tr[:, 5].astype(int)
            simpson = (self._val(self.pm25, ca, a) + 4 * self._val(self.pm25, cm, tm) + self._val(self.pm25, cb, b)) / 6
            total += np.bincount(tcit, weights=simpson * np.maximum(b - a, 0) / 3600, minlength=n)
            present += np.bincount(tcit, weights=np.maximum(b - a, 0), minlength=n)
        here = present > 0
        vul = here & np.isin(self.group, VULNERABLE) & (self.kind == RESIDENT)
        self.exposure = {
            "mean": float(total[here].mean()) if here.any() else math.nan,
            "vulnerable": float(total[vul].mean()) if vul.any() else math.nan,
        }
        self.per_citizen = total
        self.present, self.vulnerable = here, vul  # who counts in the mean, and in the vulnerable mean

    def _sheltered(
        self, cit: np.ndarray, cell: np.ndarray, t0: np.ndarray, t1: np.ndarray, fac: np.ndarray, n: int
    ) -> np.ndarray:
        """Exposure change of stays overlapping a citizen's shelter windows (factor becomes shelter_factor)."""
        out = np.zeros(n)
        if not self.windows:
            return out
        merged: list[tuple[int, float, float]] = []
        for cid, a, b in sorted(self.windows):
            if merged and merged[-1][0] == cid and a <= merged[-1][2]:
                merged[-1] = (cid, merged[-1][1], max(b, merged[-1][2]))
            else:
                merged.append((cid, a, b))
        order = np.argsort(cit, kind="stable")
        sc = cit[order]
        w = np.array(merged)
        wc = w[:, 0].astype(int)
        lo = np.searchsorted(sc, wc, "left")
        hi = np.searchsorted(sc, wc, "right")
        cnt = hi - lo
        if cnt.sum() == 0:
            return out
        rep = np.repeat(np.arange(len(w)), cnt)
        offs = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        s = order[np.repeat(lo, cnt) + offs]
        a = np.maximum(t0[s], w[rep, 1])
        b = np.minimum(t1[s], w[rep, 2])
        ok = b > a
        s, a, b = s[ok], a[ok], b[ok]
        dose = self._cum(cell[s], b) - self._cum(cell[s], a)
        np.add.at(out, cit[s], (self.cfg.shelter_factor - fac[s]) * dose)
        return out

    # ---------------------------------------------------------------- alerts
    def notify(self, a: sdk.Notify) -> str | None:
        """Deliver a ``Notify``: on topic ``air_quality``, people in range who comply stay in."""
        if a.topic != "air_quality":
            self.other_notices += 1
            return None
        now, x, y, r = self.env.now, float(a.x), float(a.y), float(a.radius_m)
        r2 = r * r
        cfg = self.cfg
        until = now + cfg.shelter_min * 60
        reached = complied = 0
        reach: list[Citizen] = []
        for b, blk in enumerate(self.d.blocks):
            if self.members[b] and math.hypot(blk.x - x, blk.y - y) <= r + 90.0:
                reach.extend(c for c in self.members[b] if (c.x - x) ** 2 + (c.y - y) ** 2 <= r2)
        nodes = self.d.nodes
        for c in list(self.travelling):
            trip = c.trip
            if trip is None:
                del self.travelling[c]
                continue
            # every point of a walk is within half its length of one of its ends: skip far walks cheaply
            half = 0.5 * (trip[1] - trip[0]) * WALK_M_S
            (sx, sy), (ex, ey) = nodes[trip[2]], nodes[trip[3]]
            if min(math.hypot(sx - x, sy - y), math.hypot(ex - x, ey - y)) > r + half:
                continue
            px, py = self.pop.trip_position(c, now)
            if (px - x) ** 2 + (py - y) ** 2 <= r2:
                reach.append(c)
        for c in reach:
            reached += 1
            if self.u_comply[c.unique_id] < cfg.comply_probability:
                complied += 1
                c.stay_in_until = max(c.stay_in_until, until)
                self.windows.append((c.unique_id, now, until))
        self.alerts.append((now, x, y, r, reached, complied))
        return None

    def alert_scores(self) -> tuple[float, float]:
        """Precision and recall (%) of air-quality alerts against the true PM2.5 field.

        An alert is right if PM2.5 at its centre exceeds the threshold within the hour after it.
        An exceedance is a district cell-hour whose mean PM2.5 exceeds the threshold; it is caught
        if an alert covering the cell was sent in that hour or the hour before.
        """
        hits, over, caught = self.alert_items()
        precision = 100.0 * int(hits.sum()) / len(hits) if len(hits) else math.nan
        total = int(over.sum())
        recall = 100.0 * int(caught.sum()) / total if total else math.nan
        return precision, recall

    def alert_items(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per alert: right or not; per grid cell: hours over the threshold, and of those caught."""
        thr = self.cfg.alert_threshold_pm25
        per_h = max(1, int(round(3600 / self.dt)))
        hits = np.zeros(len(self.alerts), bool)
        for i, (t, x, y, _r, _n, _c) in enumerate(self.alerts):
            k0 = int(t // self.dt)
            k1 = min(self.n_slots, k0 + per_h + 1)
            hits[i] = self.pm25[k0:k1, self.cell(x, y)].max(initial=0.0) > thr
        n_hours = int(math.ceil(self.sc.duration / 3600))
        over_n = np.zeros(self.nx * self.ny, int)
        caught_n = np.zeros(self.nx * self.ny, int)
        ax = np.array([a[1] for a in self.alerts]) if self.alerts else np.zeros(0)
        ay = np.array([a[2] for a in self.alerts]) if self.alerts else np.zeros(0)
        ar = np.array([a[3] for a in self.alerts]) if self.alerts else np.zeros(0)
        at = np.array([a[0] for a in self.alerts]) if self.alerts else np.zeros(0)
        gx, gy = np.meshgrid(self.cx, self.cy)
        gx, gy = gx.ravel(), gy.ravel()
        for hr in range(n_hours):
            ks = slice(hr * per_h, min(self.n_slots, (hr + 1) * per_h))
            over = (self.pm25[ks].mean(axis=0) > thr) & self.inside
            if not over.any():
                continue
            idx = np.flatnonzero(over)
            over_n[idx] += 1
            live = (at >= (hr - 1) * 3600) & (at < (hr + 1) * 3600)
            if live.any():
                d2 = (gx[idx, None] - ax[None, live]) ** 2 + (gy[idx, None] - ay[None, live]) ** 2
                caught_n[idx[(d2 <= ar[None, live] ** 2).any(axis=1)]] += 1
        return hits, over_n, caught_n

    # ---------------------------------------------------------------- sensors
    def _sensors(self, rng: np.random.Generator) -> None:
        cfg = self.cfg
        self.sensors = self.d.devices_of("sensor")
        n = len(self.sensors)
        self.n_samples = int(math.ceil(self.sc.duration / SENSOR_INTERVAL_S))
        self.s_gain = 1 + 0.1 * rng.normal(size=n)
        self.s_drift = cfg.sensor_drift_per_day * rng.normal(size=n)
        self.s_noise = rng.normal(size=(n, self.n_samples, 8))
        self.s_outages: list[list[tuple[float, float]]] = []
        for _ in range(n):
            k = int(rng.poisson(cfg.sensor_outages_per_day * self.sc.duration / 86400))
            starts = rng.uniform(0, self.sc.duration, k)
            lengths = rng.exponential(cfg.sensor_outage_mean_min * 60, k)
            self.s_outages.append(sorted(zip(starts.tolist(), (starts + lengths).tolist(), strict=True)))
        self.s_cells: list[tuple[np.ndarray, np.ndarray]] = []
        for s in self.sensors:
            fx = min(max((s.x - self.x0) / self.g - 0.5, 0), self.nx - 1.000001)
            fy = min(max((s.y - self.y0) / self.g - 0.5, 0), self.ny - 1.000001)
            ix, iy = int(fx), int(fy)
            ax, ay = fx - ix, fy - iy
            jx, jy = min(ix + 1, self.nx - 1), min(iy + 1, self.ny - 1)
            cells = np.array([iy * self.nx + ix, iy * self.nx + jx, jy * self.nx + ix, jy * self.nx + jx])
            w = np.array([(1 - ax) * (1 - ay), ax * (1 - ay), (1 - ax) * ay, ax * ay])
            self.s_cells.append((cells, w))
        self.s_idx = np.array([c for c, _w in self.s_cells], dtype=int).reshape(n, 4)
        self.s_w = np.array([w for _c, w in self.s_cells], dtype=float).reshape(n, 4)
        self._core_cache: dict[int, np.ndarray] = {}
        self.s_prox = self._proximity(np.array([s.x for s in self.sensors]), np.array([s.y for s in self.sensors]))
        self._down: dict[str, list[list[float]]] = {s.pole: [] for s in self.sensors}
        self._cursor = 0  # next sample index not yet handed to services

    def _on_poles(self, down: set[str], back: set[str]) -> None:
        now = self.env.now
        for pole, spans in self._down.items():
            if pole in down:
                spans.append([now, math.inf])
            elif pole in back and spans and spans[-1][1] == math.inf:
                spans[-1][1] = now

    def up_at(self, i: int, t: float) -> bool:
        """Did sensor ``i`` deliver its reading at time ``t`` (pole up and no outage)?"""
        if not self._down[self.sensors[i].pole] and not self.s_outages[i]:
            return True
        if any(a <= t < b for a, b in self._down[self.sensors[i].pole]):
            return False
        return not any(a <= t < b for a, b in self.s_outages[i])

    def _at_all(self, field: np.ndarray, t: float) -> np.ndarray:
        """A field at every sensor at time ``t`` (bilinear in space, linear in time)."""
        u = min(max(t / self.dt, 0.0), self.n_slots - 1.000001)
        k = int(u)
        f = u - k
        return ((field[k, self.s_idx] * (1 - f) + field[k + 1, self.s_idx] * f) * self.s_w).sum(axis=1)

    def _sun(self, t: float) -> float:
        h = ((t + self.day0) / 3600) % 24
        rise, sset = self.lights.sunrise, self.lights.sunset
        return max(0.0, math.sin(math.pi * (h - rise) / (sset - rise))) if rise < h < sset else 0.0

    def _core(self, j: int) -> np.ndarray:
        """PM2.5, PM10, temperature, humidity, noise as every sensor measures them at sample ``j`` (rows)."""
        hit = self._core_cache.get(j)
        if hit is not None:
            return hit
        t = j * SENSOR_INTERVAL_S
        e = self.s_noise[:, j, :]
        hum = self._at_all(self.hum, t)
        art = 1 + 0.4 * np.maximum(0.0, hum - 75) / 25  # optical dust sensors read high in humid air
        drift = self.s_drift * t / 86400
        rel = self.cfg.sensor_noise_pct / 100
        gain = self.s_gain * art
        pm25 = np.maximum(0.0, self._at_all(self.pm25, t) * gain + drift + e[:, 0] * (rel * 15 + 2))
        pm10 = np.maximum(0.0, self._at_all(self.pm10, t) * gain + 1.5 * drift + e[:, 1] * (rel * 25 + 3))
        temp = self._at_all(self.temp, t) + 0.3 * e[:, 2] + 0.8 * self._sun(t)
        hum_m = np.clip(hum + 3 * e[:, 3], 0.0, 100.0)
        noise = self._at_all(self.noise, t) + 1.5 * e[:, 4]
        out = np.vstack([pm25, pm10, temp, hum_m, noise])
        if len(self._core_cache) > 32:
            self._core_cache.clear()
        self._core_cache[j] = out
        return out

    def readings(self, j: int) -> list[dict]:
        """Every sensor's reading at sample ``j`` in the published S-DoT columns (docs/sources.md), as dicts."""
        t = j * SENSOR_INTERVAL_S
        e = self.s_noise[:, j, :]
        k = min(int(t / self.dt), self.n_slots - 1)
        rain = 0.2 if self.rain[k] > 0 else 1.0
        pm25, pm10, temp, hum, noise = self._core(j)
        sun = self._sun(t)
        wind = np.maximum(0.0, float(self.wind[k]) * (1 + 0.2 * e[:, 4]))
        wdir = (self.wind_dir0 + 15 * t / 3600 + 20 * e[:, 5]) % 360
        tp = float(self.traffic[k]) * self.s_prox
        vib = [np.round(0.02 + 0.15 * tp * np.abs(x), 3) for x in (e[:, 6], e[:, 7], e[:, 6] * e[:, 7])]
        if sun > 0:
            lux = np.full(len(self.sensors), 100000 * sun * rain)
        else:  # at night a pole's sensor sees its own streetlight
            lux = np.array(
                [25.0 * self.lights.level[s.pole] if self.infra.powered[s.pole] else 0.5 for s in self.sensors]
            )
        art = 1 + 0.4 * np.maximum(0.0, hum - 75) / 25
        stamp = (self.sc.start + timedelta(seconds=t)).strftime("%Y%m%d%H%M")
        cols = {
            "pm25": np.round(pm25, 1),
            "pm10": np.round(pm10, 1),
            "temperature_c": np.round(temp, 1),
            "humidity_pct": np.round(hum, 1),
            "wind_direction_deg": np.round(wdir, 0),
            "wind_speed_m_s": np.round(wind, 1),
            "gust_direction_deg": np.round((wdir + 10 * e[:, 6]) % 360, 0),
            "gust_speed_m_s": np.round(wind * 1.6 + 0.3 * np.abs(e[:, 7]), 1),
            "illuminance_lux": np.round(lux, 0),
            "uv_index": np.full(len(self.sensors), round(9 * sun * rain, 1)),
            "noise_db": np.round(noise, 1),
            "vibration_x_mm_s": vib[0],
            "vibration_y_mm_s": vib[1],
            "vibration_z_mm_s": vib[2],
            "vibration_x_max_mm_s": np.round(3 * vib[0], 3),
            "vibration_y_max_mm_s": np.round(3 * vib[1], 3),
            "vibration_z_max_mm_s": np.round(3 * vib[2], 3),
            "black_globe_temperature_c": np.round(temp + 12 * sun * (0.3 if rain < 1 else 1.0), 1),
            "pm25_corrected": np.round(pm25 / art, 1),
            "pm10_corrected": np.round(pm10 / art, 1),
        }
        keys = list(cols)
        rows = zip(*(cols[k].tolist() for k in keys), strict=True)
        return [
            {"sensor": s.id, "serial": s.id, "model": "S-DoT", "time_s": t, "measured_at": stamp, "x": round(s.x, 1),
             "y": round(s.y, 1), **dict(zip(keys, row, strict=True))}
            for s, row in zip(self.sensors, rows, strict=True)
        ]  # fmt: skip

    def reading(self, i: int, j: int) -> dict:
        """Sensor ``i``'s reading at sample ``j``."""
        return self.readings(j)[i]

    def drain(self) -> list[dict]:
        """Readings taken since the last call (only called when a service subscribes)."""
        last = min(self.n_samples, int(self.env.now // SENSOR_INTERVAL_S) + 1)
        out: list[dict] = []
        for j in range(self._cursor, last):
            t = j * SENSOR_INTERVAL_S
            out.extend(r for i, r in enumerate(self.readings(j)) if self.up_at(i, t))
        self._cursor = last
        return out

    def availability(self) -> float:
        """Share (%) of scheduled readings that were delivered."""
        if not self.sensors or not self.n_samples:
            return math.nan
        return 100.0 * int(self.delivered_readings().sum()) / (len(self.sensors) * self.n_samples)

    def delivered_readings(self) -> np.ndarray:
        """Readings each sensor delivered (of ``n_samples`` scheduled)."""
        t = np.arange(self.n_samples) * SENSOR_INTERVAL_S
        out = np.zeros(len(self.sensors), int)
        for i, s in enumerate(self.sensors):
            up = np.ones(self.n_samples, bool)
            for a, b in [*self._down[s.pole], *self.s_outages[i]]:
                up &= ~((t >= a) & (t < b))
            out[i] = int(up.sum())
        return out

    # ---------------------------------------------------------------- views
    def sample(self, series: Series, t: float) -> None:
        """District means of the true fields and a 15-minute sample of every sensor's reading."""
        u = min(max(t / self.dt, 0.0), self.n_slots - 1.000001)
        k = int(u)
        f = u - k
        pm = self.pm25[k] * (1 - f) + self.pm25[k + 1] * f
        inside = self.inside
        series.add(t, "environment.pm25_mean", float(pm[inside].mean()))
        series.add(t, "environment.pm25_max", float(pm[inside].max()))
        series.add(t, "environment.temperature_mean_c", float(self.temp[k][inside].mean()))
        series.add(t, "environment.noise_mean_db", float(self.noise[k][inside].mean()))
        j = int(t // SENSOR_INTERVAL_S)
        if j >= self.n_samples:
            return
        up = 0
        core = self._core(j) if self.sensors else None
        for i, s in enumerate(self.sensors):
            if not self.up_at(i, j * SENSOR_INTERVAL_S):
                continue
            up += 1
            for v, x in zip(SERIES_VARS, core[:, i].tolist(), strict=True):  # type: ignore[index]
                series.add(t, f"sdot:{s.id}:{v}", round(x, 1))
        series.add(t, "environment.sensors_up", up)
