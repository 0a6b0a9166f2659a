"""Safety: incidents, cameras, the control centre's operators, and responders.

Incidents (crime, traffic accident, fall, fire) happen at hotspots by hour. An AI camera that
sees one produces a detection (a feed item) that a service may ``Flag``; flagged items enter the
operator queue first (the plan's selective control). A plain camera's picture is only noticed if
the camera is on the operators' video wall (``View``). Citizens call the emergency number too.
Each incident is at most one operator job, however many cameras see it (see ``control_centre``):
operators on duty = the centre's cameras / cameras per operator, by shift; the centre also serves
jobs from its other cameras; a district linked to the city centre sends urgent jobs that wait too
long up to it. Detection ids are opaque: they carry nothing of the incident behind them.
Every random number an incident needs is drawn when the incident is generated, so a service that
changes what happens to it does not shift any other draw (common random numbers).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from simulation.config.district import District
from simulation.config.scenario import Scenario
from simulation.rng import Streams
from simulation.world.control_centre import ROUTINE, Centre, Job
from simulation.world.infrastructure import Infrastructure
from simulation.world.lighting import Lighting
from simulation.world.log import EventLog, Series
from simulation.world.population import Population
from simulation.world.queues import QueueRecords
from simulation.world.spatial import CoverageIndex

# Relative incident rate by hour (judgement: night-time crime, rush-hour accidents).
HOURLY = {
    "crime": [1.6, 1.5, 1.3, 1.0, 0.6, 0.4, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9,
        1.0, 1.0, 1.0, 1.0, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7],
    "accident": [0.4, 0.3, 0.3, 0.3, 0.4, 0.6, 1.0, 1.6, 1.8, 1.2, 1.0, 1.0,
        1.1, 1.0, 1.0, 1.1, 1.3, 1.7, 1.9, 1.5, 1.1, 0.9, 0.7, 0.5],
    "fall": [0.3, 0.2, 0.2, 0.2, 0.3, 0.5, 0.8, 1.1, 1.3, 1.4, 1.4, 1.4,
        1.4, 1.4, 1.4, 1.4, 1.3, 1.3, 1.2, 1.1, 0.9, 0.7, 0.5, 0.4],
    "fire": [0.7, 0.6, 0.6, 0.6, 0.6, 0.7, 0.9, 1.0, 1.0, 1.0, 1.1, 1.2,
        1.3, 1.3, 1.2, 1.1, 1.1, 1.2, 1.3, 1.3, 1.2, 1.1, 0.9, 0.8],
}  # fmt: skip
HOTSPOT_LAND_USE = {
    "crime": {"commercial": 2.0, "mixed": 1.5, "park": 1.3, "residential": 0.8, "office": 0.6, "industrial": 0.7},
    "accident": {"commercial": 1.5, "office": 1.2, "mixed": 1.2, "industrial": 1.0, "residential": 0.8, "park": 0.3},
    "fall": {"residential": 1.3, "park": 1.5, "commercial": 1.2, "mixed": 1.1, "office": 0.6, "industrial": 0.5},
    "fire": {"residential": 1.2, "industrial": 1.6, "mixed": 1.1, "commercial": 1.0, "office": 0.7, "park": 0.2},
}
# Probability that a camera within range detects an incident in good light (judgement).
P_DETECT = {
    "ai": {"crime": 0.85, "accident": 0.92, "fall": 0.8, "fire": 0.9},
    "plain": {"crime": 0.7, "accident": 0.8, "fall": 0.6, "fire": 0.8},
}
DARK_FACTOR = {"ai": 0.6, "plain": 0.3}  # unlit at night (judgement; IR helps AI cameras)
P_NOTICE = 0.35  # operator notices an incident on a wall screen (judgement: 16 screens each)
RAIN_FACTOR = 0.75
RESPONDER = {"crime": "police", "accident": "police", "fall": "fire", "fire": "fire"}
DRIVE_M_S = 8.3  # 30 km/h urban emergency driving (judgement)
TURNOUT_S = {"police": 60.0, "fire": 90.0}
DISPATCH_S = {True: 30.0, False: 150.0}  # integrated link vs phone relay (judgement)
CALL_DISPATCH_S = 60.0
MAX_CAMS = 8
CITY_CAMERAS, DISTRICT_CENTRES = 160_000, 25  # sources.md: ~160,000 public cameras, 25 district control centres
OTHER_LEVELS = (0.1, 0.4, 0.5)  # other cameras' jobs: urgent / flagged / routine (judgement)


@dataclass
class Incident:
    """One incident and what happened to it."""

    id: str
    kind: str
    t: float
    x: float
    y: float
    node: str
    pole: str
    u: np.ndarray  # pre-drawn uniforms: cameras, notice, call, delays
    handling_s: float
    call_at: float | None
    detected_at: float | None = None
    detected_by: str = ""
    cctv: bool = False
    dispatched_at: float | None = None
    responded_at: float | None = None
    queue_wait: float | None = None
    cameras: list[str] = field(default_factory=list)


class Safety:
    """Incidents, detections, the operator queue and responders."""

    def __init__(
        self,
        env: simpy.Environment,
        d: District,
        sc: Scenario,
        streams: Streams,
        infra: Infrastructure,
        lights: Lighting,
        pop: Population,
        log: EventLog,
        records: QueueRecords | None = None,
    ) -> None:
        self.env, self.d, self.sc, self.infra, self.lights, self.pop, self.log = env, d, sc, infra, lights, pop, log
        self.cfg = sc.demand.safety
        cc, spec = d.meta.control_centre, sc.control_centre
        self.spec = spec
        self.screens_per_op = cc.screens_per_operator
        self.records = records if records is not None else QueueRecords()
        self.cams = d.devices_of("camera")
        self.cam_kind = [str(c.get("camera_type", "plain")) for c in self.cams]
        self.cam_index = CoverageIndex(
            [c.x for c in self.cams], [c.y for c in self.cams], [float(c.get("range_m", 40.0)) for c in self.cams]
        )
        fixed = self.cfg.operators
        # theory checks (a fixed number of operators): one isolated centre, no other load, no escalation
        self.isolated = bool(fixed)
        self.integrated = (spec.linked if spec.linked is not None else cc.integrated) and not self.isolated
        self.centre_cameras = spec.centre_cameras or CITY_CAMERAS // DISTRICT_CENTRES
        day = max(1, round(self.centre_cameras / spec.cameras_per_operator))
        night = max(1, round(self.centre_cameras * spec.night_staffing / spec.cameras_per_operator))
        if fixed:
            self.shift = lambda h: fixed
        else:
            self.shift = lambda h: day if 7 <= h < 19 else night
        # the video wall for this district's cameras stays as district.yaml staffs it
        self._wall_ops = lambda h: fixed or (cc.operators_day if 7 <= h < 19 else cc.operators_night)
        self.centre = Centre(env, "operators", self.records, self._done, self.shift(self._hour(0)))
        self.city = (
            Centre(env, "city_centre", self.records, self._done, spec.city_operators) if self.integrated else None
        )
        self.jobs: dict[str, Job] = {}  # incident id -> its one operator job
        self._ids = hashlib.blake2b(streams("safety.ids").bytes(16), digest_size=16).digest()
        self.other_jobs = [] if self.isolated else self._other_jobs(streams)
        self.wall: set[str] = set()
        self.pending: list[dict] = []  # AI detections not yet handed to services
        self.detections: dict[str, dict] = {}
        self.flagged: set[str] = set()
        self.rain = 0.0
        self.heat = False
        self.crowd_blocks: set[str] = set()
        self.false_alarms_handled = 0
        self.camera_minutes_viewed = 0.0
        self.viewed_min: dict[str, float] = {}  # the same minutes, camera by camera (the maps)
        self._pole_xy = {p.id: (p.x, p.y) for p in d.poles}
        self._stations = {k: list(d.sites_of(k)) for k in ("police", "fire")}
        self._near: dict[int, list[tuple[tuple[float, float], tuple[float, float]]]] = {}
        self.incidents = self._generate(streams)
        self.false_alarms = self._false_alarms(streams)

    # ---------------------------------------------------------------- generation
    def add_incident(self, inc: Incident) -> None:
        """Another domain adds an incident as it happens (World II: crime and accidents in the dark)."""
        self.incidents.append(inc)
        self._occur(inc)
        if inc.call_at is not None and inc.call_at < self.sc.duration:
            self.env.timeout(max(0.0, inc.call_at - self.env.now)).callbacks.append(lambda _e: self._called(inc))

    def _hour(self, t: float) -> int:
        return int(((t + self.sc.start.hour * 3600 + self.sc.start.minute * 60) // 3600) % 24)

    def _generate(self, streams: Streams) -> list[Incident]:
        rng = streams("safety.incidents")
        cfg, dur = self.cfg, self.sc.duration
        kinds = sorted(cfg.mix)
        w = np.array([cfg.mix[k] for k in kinds], float)
        w = w / w.sum()
        rate = cfg.incidents_per_day / 86400.0
        scale = self.sc.population_scale
        n_hours = int(math.ceil(dur / 3600))
        times, ktypes = [], []
        for k, kind in enumerate(kinds):
            lam = rate * w[k] * scale
            if cfg.arrival == "poisson":
                n = rng.poisson(lam * dur)
                ts = np.sort(rng.uniform(0, dur, n))
            else:
                ts_list = []
                for h in range(n_hours):
                    f = HOURLY[kind][self._hour(h * 3600)] / np.mean(HOURLY[kind])
                    span = min(3600.0, dur - h * 3600)
                    ts_list.append(rng.uniform(h * 3600, h * 3600 + span, rng.poisson(lam * f * span)))
                ts = np.concatenate(ts_list) if ts_list else np.array([])
            times.extend(ts.tolist())
            ktypes.extend([kind] * len(ts))
        order = np.argsort(np.array(times), kind="stable")
        # hotspots: a district property, the same for every seed
        hot = streams.__class__(zlib_seed(self.d.name))("safety.hotspots")
        hot_mult = np.where(hot.random(len(self.d.blocks)) < 0.15, 3.0, 1.0)
        out = []
        for j, idx in enumerate(order):
            kind, t = ktypes[idx], float(times[idx])
            lw = np.array([HOTSPOT_LAND_USE[kind].get(b.land_use, 1.0) for b in self.d.blocks]) * hot_mult
            bi = int(rng.choice(len(lw), p=lw / lw.sum()))
            b = self.d.blocks[bi]
            u = rng.random(MAX_CAMS + 8)
            x, y = self._place(bi, kind, u[MAX_CAMS + 5 :])
            if cfg.handling == "exponential":
                handling = float(rng.exponential(cfg.handling_time_s))
            else:
                sigma = 0.5
                handling = float(rng.lognormal(math.log(cfg.handling_time_s) - sigma**2 / 2, sigma))
            call_at = (
                t + float(rng.exponential(cfg.call_delay_min * 60)) if u[MAX_CAMS + 2] < cfg.call_probability else None
            )
            pole = min(self._pole_xy, key=lambda p: (self._pole_xy[p][0] - x) ** 2 + (self._pole_xy[p][1] - y) ** 2)
            out.append(Incident(f"I{j:04d}", kind, t, float(x), float(y), b.node, pole, u, handling, call_at))
        return out

    def _street_near(self, bi: int) -> list[tuple[tuple[float, float], tuple[float, float]]]:
        """Street segments within 150 m of a block's centroid (where its incidents happen)."""
        hit = self._near.get(bi)
        if hit is None:
            b = self.d.blocks[bi]
            segs = []
            for st in self.d.streets:
                for a, c in zip(st.coords, st.coords[1:], strict=False):
                    if math.dist(((a[0] + c[0]) / 2, (a[1] + c[1]) / 2), (b.x, b.y)) < 150:
                        segs.append((a, c))
            hit = self._near[bi] = segs
        return hit

    def _place(self, bi: int, kind: str, u: np.ndarray) -> tuple[float, float]:
        """A point for an incident near block ``bi``: on a street or sidewalk, sometimes inside."""
        b = self.d.blocks[bi]
        segs = self._street_near(bi)
        inside = {"crime": 0.3, "fall": 0.3, "accident": 0.0, "fire": 0.2}[kind]
        if not segs or u[0] < inside:
            half = min(60.0, 0.45 * math.sqrt(max(b.area_m2, 1.0)))
            return b.x + (2 * u[1] - 1) * half, b.y + (2 * u[2] - 1) * half
        (ax, ay), (cx, cy) = segs[min(int(u[1] * len(segs)), len(segs) - 1)]
        f = u[2]
        off = (2 * u[0] - 1) * (12.0 if kind == "fire" else 6.0)
        length = math.hypot(cx - ax, cy - ay) or 1.0
        nx_, ny_ = -(cy - ay) / length, (cx - ax) / length
        return ax + f * (cx - ax) + off * nx_, ay + f * (cy - ay) + off * ny_

    def _false_alarms(self, streams: Streams) -> list[tuple[float, int, float, float]]:
        rng = streams("safety.false_alarms")
        ai = [i for i, k in enumerate(self.cam_kind) if k == "ai"]
        n = rng.poisson(self.cfg.false_alarms_per_ai_camera_per_day * len(ai) * self.sc.duration / 86400) if ai else 0
        ts = np.sort(rng.uniform(0, self.sc.duration, n))
        cams: Any = rng.choice(ai, size=n) if n else []
        conf = rng.uniform(0.2, 0.8, n)
        handling = rng.exponential(0.4 * self.cfg.handling_time_s, n)
        return [(float(t), int(c), float(cf), float(h)) for t, c, cf, h in zip(ts, cams, conf, handling, strict=True)]

    def _other_jobs(self, streams: Streams) -> list[tuple[float, str, int, float]]:
        """Jobs from the centre's other cameras and, at the city centre, other districts' escalations."""
        rng = streams("safety.other_jobs")
        dur, spec = self.sc.duration, self.spec
        out: list[tuple[float, str, int, float]] = []
        sigma = 0.5
        loads = [("operators", max(0, self.centre_cameras - len(self.cams)) * spec.other_jobs_per_camera_per_day)]
        if self.city is not None:
            loads.append(("city_centre", (spec.linked_districts - 1) * spec.city_jobs_per_district_per_day))
        for where, per_day in loads:
            n = int(rng.poisson(per_day * dur / 86400))
            ts = np.sort(rng.uniform(0, dur, n))
            levels = rng.choice([1, 2, 3], size=n, p=list(OTHER_LEVELS)) if where == "operators" else np.ones(n, int)
            hs = rng.lognormal(math.log(self.cfg.handling_time_s) - sigma**2 / 2, sigma, n)
            out.extend(zip(ts.tolist(), [where] * n, levels.tolist(), hs.tolist(), strict=True))
        return out

    def opaque(self, key: str) -> str:
        """A detection id that says nothing about the incident behind it (drawn per run, deterministic)."""
        return "D-" + hashlib.blake2b(key.encode(), key=self._ids, digest_size=6).hexdigest()

    # ---------------------------------------------------------------- running
    def start(self) -> None:
        """Schedule every incident, false alarm, other job and shift change.

        Through the population's calendar, not straight into SimPy's queue: ~1,400 callbacks
        scheduled hours ahead would sit in SimPy's heap all day and deepen every push and pop.
        (Same times, same order: each takes the next event id as a timeout would.)
        """
        at = self.pop.cal.at
        for inc in self.incidents:
            at(inc.t, lambda _e, inc=inc: self._occur(inc))
            if inc.call_at is not None and inc.call_at < self.sc.duration:
                at(inc.call_at, lambda _e, inc=inc: self._called(inc))
        for k, (t, cam, conf, handling) in enumerate(self.false_alarms):
            at(t, lambda _e, k=k, cam=cam, conf=conf, h=handling: self._false(k, cam, conf, h))
        for k, (t, where, level, handling) in enumerate(self.other_jobs):
            job = Job(f"O{k:05d}", "other_camera" if where == "operators" else "other_district", level, handling)
            centre = self.centre if where == "operators" else self.city
            at(t, lambda _e, job=job, c=centre: c.submit(job))
        if not self.cfg.operators:
            self.env.process(self._shifts())

    def _shifts(self):
        env = self.env
        while True:
            self.centre.set_on_duty(self.shift(self._hour(env.now)))
            yield env.timeout(3600 - (env.now + self.sc.start.minute * 60) % 3600)

    @property
    def _ops_on(self) -> int:
        """Operators watching this district's video wall now."""
        return int(self._wall_ops(self._hour(self.env.now)))

    def _visible(self, inc: Incident) -> list[tuple[int, float]]:
        """Cameras that could see the incident: in range and up, nearest first."""
        return [(i, dist) for i, dist in self.cam_index.query(inc.x, inc.y) if self.infra.up(self.cams[i].pole)][
            :MAX_CAMS
        ]

    def _p(self, cam: int, dist: float, inc: Incident) -> float:
        kind = self.cam_kind[cam]
        p = P_DETECT[kind][inc.kind] * (1 - 0.5 * (dist / float(self.cams[cam].get("range_m", 40.0))) ** 2)
        light = self.lights.lit(inc.pole, self.env.now)
        p *= light + (1 - light) * DARK_FACTOR[kind]
        if self.rain > 0:
            p *= RAIN_FACTOR
        return p

    def _occur(self, inc: Incident) -> None:
        self.log.add(inc.t, "incident", inc.id, type=inc.kind, x=round(inc.x, 1), y=round(inc.y, 1))
        if self.cfg.all_to_queue:
            self._detect(inc, "theory")
            self._job(inc, ROUTINE)
            return
        u = inc.u
        noticed = False
        for k, (cam, dist) in enumerate(self._visible(inc)):
            inc.cameras.append(self.cams[cam].id)
            p = self._p(cam, dist, inc)
            if self.cam_kind[cam] == "ai" and u[k] < p:
                delay = 5 + 25 * u[MAX_CAMS]
                det = {
                    "id": self.opaque(f"{inc.id}/{k}"),
                    "camera": self.cams[cam].id,
                    "time_s": round(inc.t + delay, 1),
                    "label": inc.kind,
                    "confidence": round(0.6 + 0.4 * u[MAX_CAMS + 1], 3),
                    "x": round(inc.x, 1),
                    "y": round(inc.y, 1),
                }
                self.detections[det["id"]] = {**det, "_incident": inc, "_handling": inc.handling_s}
                ev = self.env.timeout(delay)
                ev.callbacks.append(lambda _e, det=det: self.pending.append(det))
            if not noticed and self.cams[cam].id in self.wall and u[k] < p and u[MAX_CAMS + 4] < P_NOTICE:
                noticed = True
                delay = 20 + 100 * u[MAX_CAMS + 3]
                ev = self.env.timeout(delay)
                ev.callbacks.append(lambda _e, inc=inc: self._noticed(inc))

    def _false(self, k: int, cam: int, conf: float, handling: float) -> None:
        if not self.infra.up(self.cams[cam].pole):
            return
        det = {
            "id": self.opaque(f"false/{k}"),
            "camera": self.cams[cam].id,
            "time_s": round(self.env.now, 1),
            "label": "crime",
            "confidence": round(conf, 3),
            "x": round(self.cams[cam].x, 1),
            "y": round(self.cams[cam].y, 1),
        }
        self.detections[str(det["id"])] = {**det, "_incident": None, "_handling": handling}
        self.pending.append(det)

    def drain(self) -> list[dict]:
        """Detections since the last call (the host hands them to subscribed services)."""
        out, self.pending = self.pending, []
        return out

    def flag(self, detection: str, priority: int) -> str | None:
        """A service escalates a detection; return a rejection reason or None.

        One job per incident: a flag on another detection of an incident that already has a job
        attaches to it (and moves it up if it asks for a higher level).
        """
        det = self.detections.get(detection)
        if det is None:
            return f"no detection {detection!r}"
        if detection in self.flagged:
            return f"detection {detection!r} was already flagged"
        if self.env.now - det["time_s"] > 600:
            return f"detection {detection!r} is older than 10 minutes"
        self.flagged.add(detection)
        inc = det["_incident"]
        level = flag_level(priority)
        if inc is None:
            self._submit(Job(detection, "false_alarm", level, det["_handling"], created=self.env.now))
            return None
        if inc.detected_at is None:
            self._detect(inc, "ai_flag")
        self._job(inc, level)
        return None

    def _job(self, inc: Incident, level: int) -> None:
        """The incident's one operator job: a new one, or the existing one (attached, maybe moved up)."""
        job = self.jobs.get(inc.id)
        if job is None:
            job = self.jobs[inc.id] = Job(inc.id, "incident", level, inc.handling_s, inc, created=self.env.now)
            self._submit(job)
            return
        job.attached += 1
        if level < job.level and job.centre is not None:
            job.centre.raise_level(job, level)
            self._watch(job)

    def _submit(self, job: Job) -> None:
        self.centre.submit(job)
        self._watch(job)

    def _watch(self, job: Job) -> None:
        """A linked district sends an emergency or urgent job still waiting after a while to the city centre."""
        if self.city is None or job.level > 1 or job.centre is not self.centre:
            return

        def check(_e: object) -> None:
            if self.city is not None and job.centre is self.centre and self.centre.withdraw(job, "escalated"):
                self.city.submit(job)

        self.env.timeout(self.spec.escalate_after_s).callbacks.append(check)

    def _done(self, job: Job, centre: Centre) -> None:
        if job.user == "false_alarm":
            self.false_alarms_handled += 1
        inc = job.incident
        if inc is not None:
            inc.queue_wait = job.waited
            linked = centre is self.city or self.integrated
            self._dispatch(inc, DISPATCH_S[bool(linked)])

    def _noticed(self, inc: Incident) -> None:
        if inc.detected_at is None or not inc.cctv:
            self._detect(inc, "operator")
            if inc.dispatched_at is None:
                self._job(inc, ROUTINE)

    def _called(self, inc: Incident) -> None:
        if inc.detected_at is None:
            inc.detected_at, inc.detected_by = self.env.now, "call"
        self._dispatch(inc, CALL_DISPATCH_S)

    def _detect(self, inc: Incident, by: str) -> None:
        if inc.detected_at is None:
            inc.detected_at, inc.detected_by = self.env.now, by
        inc.cctv = True

    def _dispatch(self, inc: Incident, delay: float) -> None:
        if inc.dispatched_at is not None:
            return
        inc.dispatched_at = self.env.now + delay
        kind = RESPONDER[inc.kind]
        stations = self._stations[kind] or self._stations["police"] or self._stations["fire"]
        if not stations:
            return
        best = math.inf
        for s in stations:
            dist, _ = self.pop.paths_from(s.node)
            best = min(best, dist.get(inc.node, math.inf) + math.dist((s.x, s.y), self.d.nodes[s.node]))
        travel = TURNOUT_S[kind] + best / DRIVE_M_S
        inc.responded_at = inc.dispatched_at + travel
        self.log.add(self.env.now, "dispatch", inc.id, responder=kind, eta_s=round(delay + travel, 1))

    def view_minutes(self, dt: float) -> None:
        """Account camera-minutes shown on the wall (privacy evidence)."""
        self.camera_minutes_viewed += len(self.wall) * dt / 60
        viewed = self.viewed_min
        for cam in self.wall:
            viewed[cam] = viewed.get(cam, 0.0) + dt / 60

    def finish(self) -> None:
        """Close time integrals at the end of the run."""
        self.centre.finish()
        if self.city is not None:
            self.city.finish()

    @property
    def operator_utilisation(self) -> float:
        """Busy time over on-duty operator time at the district centre."""
        return self.centre.utilisation()

    @property
    def mean_queue_length(self) -> float:
        """Time-average number of jobs waiting for a district-centre operator (the centre's own integral)."""
        return self.centre.q_area / self.env.now if self.env.now > 0 else math.nan

    @property
    def mean_operators(self) -> float:
        """Time-average operators on duty at the district centre."""
        return self.centre.duty_s / self.env.now if self.env.now > 0 else math.nan

    def sample(self, series: Series, t: float) -> None:
        """Record the operator queue and operators on duty."""
        series.add(t, "safety.queue_length", self.centre.queue_length)
        series.add(t, "safety.operators_on_duty", self.centre.on_duty)
        if self.city is not None:
            series.add(t, "safety.city_queue_length", self.city.queue_length)


def flag_level(priority: int) -> int:
    """The queue level of a ``Flag``: priority >= 2 emergency, 1 urgent, <= 0 flagged (see LEVELS)."""
    return 0 if priority >= 2 else 1 if priority == 1 else 2


def zlib_seed(name: str) -> int:
    """A stable integer from a name (for district-level, seed-independent draws)."""
    import zlib

    return zlib.crc32(name.encode())
