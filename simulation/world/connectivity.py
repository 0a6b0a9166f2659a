"""Connectivity: citizens' data sessions served by public WiFi APs and the fibre backhaul.

Sessions arrive while a citizen is in the district, at a rate that follows the hour of day and the
land use of the block (calibrated to published public-WiFi use per person a day); people at a
festival crowd use their phones ``event_use_factor`` times as much. A session that tries WiFi joins
the nearest AP in range that is up, operated by a service, and has both a free client slot and
free airtime (the demand already booked on it plus the new session's within its usable Mbps); it
gets a fair share of the AP's usable Mbps, limited by the backhaul on the pole's path. A fault
that takes an AP's pole down drops its sessions. Every attempt made within range of an AP is a
record in the ``ap_clients`` queue (served, blocked, dropped). A session no AP can take is offered
to ``fallback`` (the 5G small cells of ``cellular.py``), which draws nothing.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from array import array
from collections.abc import Callable
from functools import partial

import numpy as np
import simpy

from simulation.config.district import District
from simulation.config.scenario import Scenario
from simulation.rng import Streams
from simulation.world.infrastructure import Infrastructure
from simulation.world.log import Series
from simulation.world.population import Citizen, Population
from simulation.world.queues import QueueRecords
from simulation.world.spatial import CoverageIndex

# Sessions per hour of day, relative (judgement shaped like mobile-traffic daily profiles).
HOURLY = np.array(
    [
        0.3,
        0.2,
        0.15,
        0.1,
        0.1,
        0.2,
        0.5,
        0.9,
        1.2,
        1.1,
        1.1,
        1.2,
        1.5,
        1.3,
        1.1,
        1.1,
        1.2,
        1.4,
        1.6,
        1.7,
        1.7,
        1.5,
        1.0,
        0.6,
    ]
)
LAND_USE_RATE = {"commercial": 1.3, "office": 1.2, "mixed": 1.1, "residential": 1.0, "park": 0.7, "industrial": 0.8}
DEMAND_MBPS = {"web": 0.5, "sd_video": 3.0, "hd_video": 5.0, "uhd_video": 25.0}  # docs/sources.md


class Connectivity:
    """The WiFi domain: session generation, AP admission, throughput, drops, KPIs' raw data."""

    def __init__(
        self,
        env: simpy.Environment,
        d: District,
        sc: Scenario,
        streams: Streams,
        infra: Infrastructure,
        pop: Population,
    ) -> None:
        self.env, self.sc, self.infra, self.pop = env, sc, infra, pop
        # stdlib generator seeded from the named stream: scalar draws at ~50 ns each
        self.rng = random.Random(int(streams("connectivity").integers(2**63)))
        dem = sc.demand.connectivity
        self.aps = d.devices_of("ap")
        self.ap_pole = [a.pole for a in self.aps]
        self.ap_cap = [float(a.get("capacity_mbps", 300.0)) for a in self.aps]
        self.ap_max = [int(a.get("max_clients", 64)) for a in self.aps]
        self.clients = [0] * len(self.aps)
        self.load = [0.0] * len(self.aps)
        self.operated = [False] * len(self.aps)
        self.index = CoverageIndex(
            [a.x for a in self.aps], [a.y for a in self.aps], [float(a.get("range_m", 60.0)) for a in self.aps]
        )
        self.active: list[set[int]] = [set() for _ in self.aps]
        self.sessions: dict[int, tuple[int, float]] = {}  # live session id -> (ap, mbps on the path)
        self._sid = 0
        # per-second rate profile, integrated: rate(t) = base * HOURLY[hour(t)] / mean(HOURLY)
        base = dem.sessions_per_person_per_day * dem.wifi_preference / 86400.0
        day0 = sc.start.hour * 3600 + sc.start.minute * 60
        n_hours = int(math.ceil((sc.duration + day0) / 3600)) + 1
        prof = np.array([HOURLY[h % 24] for h in range(n_hours)]) / HOURLY.mean() * base * 3600
        self._cum = [0.0, *np.cumsum(prof).tolist()]  # expected sessions per person, by hour edge
        self._slope = [b - a for a, b in itertools.pairwise(self._cum)]  # the same, per hour within it
        self._last = len(self._cum) - 2
        self._end_t = float(sc.duration)
        self._day0 = day0
        self.lu_rate = [LAND_USE_RATE.get(b.land_use, 1.0) for b in d.blocks]
        # Each citizen's candidate session times: a Poisson process at the highest rate any stay
        # or trip can have (per second); see _schedule. Next candidate per citizen id, drawn ahead
        # (a flat array: read at every stay and trip, at random citizens, it stays cache-friendly).
        self._lam_max = max([1.0, *self.lu_rate]) * max(self._slope) / 3600
        n_ids = max((c.unique_id for c in pop.citizens), default=0) + 1
        if self._lam_max > 0:
            self._next = array("d", [self.rng.expovariate(self._lam_max) for _ in range(n_ids)])
        else:
            self._next = array("d", [math.inf] * n_ids)
        self.mean_s = dem.mean_session_min * 60
        kinds = sorted(dem.mix)
        w = np.array([dem.mix[k] for k in kinds], float)
        self._mix_cum = (np.cumsum(w) / w.sum()).tolist()
        self._mix_mbps = [DEMAND_MBPS[k] for k in kinds]
        # raw results: one row per WiFi attempt
        self.rec_t: list[float] = []
        self.rec_xy = array("d")  # x, y of each attempt, flat
        self.rec_covered: list[bool] = []
        self.rec_served: list[bool] = []
        self.rec_thr: list[float] = []
        self.rec_demand: list[float] = []
        self.dropped = 0
        self.blocked = 0  # covered attempts no AP in range could take (clients or airtime full)
        self.records = QueueRecords()  # the world hands its own in
        self._rows: dict[int, list] = {}
        self.client_area = 0.0  # time integral of connected clients (all APs)
        self._n_clients = 0
        self._since = 0.0
        self.crowds = [
            (b, sc.fault_offset(f), sc.fault_offset(f) + f.duration)
            for f in sc.faults
            if f.kind == "festival_crowd" and f.block is not None
            for b in [next((k for k, blk in enumerate(d.blocks) if blk.id == f.block), -1)]
            if b >= 0
        ]
        self.event_factor = dem.event_use_factor
        # a session WiFi cannot serve may go to a 5G small cell (world.cellular): (x, y, Mbps, seconds)
        self.fallback: Callable[[float, float, float, float], None] | None = None
        pop.listen(*self._listeners())
        infra.listeners.append(self._on_poles)

    # ---------------------------------------------------------------- arrivals
    def _expected(self, t0: float, t1: float) -> float:
        """Expected sessions per person between t0 and t1 (t0 <= t1): the hourly profile, linear within each hour."""
        cum, slope, last, day0 = self._cum, self._slope, self._last, self._day0
        h0, h1 = (t0 + day0) / 3600, (t1 + day0) / 3600
        k0, k1 = int(h0), int(h1)
        k0 = last if k0 > last else k0
        k1 = last if k1 > last else k1
        return cum[k1] + (h1 - k1) * slope[k1] - cum[k0] - (h0 - k0) * slope[k0]

    def _schedule(self, c: Citizen, t0: float, t1: float, factor: float, moving: bool) -> None:
        """Put the sessions ``c`` starts between t0 and t1 on the calendar.

        The model: a Poisson number of sessions with mean ``factor`` × the profile's expected
        sessions over [t0, t1), at times uniform within it. Drawn by thinning, because this runs
        for every stay and trip (~170k a district-day) and most have no session: each citizen has
        a stream of candidate times at the highest rate any interval can have (``_lam_max``), and a
        candidate inside [t0, t1) is a session with probability (this interval's rate / that
        rate). A homogeneous Poisson process thinned at a constant probability over an interval is
        a Poisson count with uniform times, independent between intervals: the same law as drawing
        each interval's count, but an interval with no candidate (most) costs one comparison.
        Candidates in the gaps (outside the district, waiting past a planned departure) are dropped.
        """
        nxt = self._next
        uid = c.unique_id
        t = nxt[uid]
        if t >= t1:
            return  # no candidate before this interval ends
        t1 = min(t1, self._end_t)
        random, lam_max, log = self.rng.random, self._lam_max, math.log
        p = -1.0  # acceptance probability, worked out at the first candidate inside the interval
        while t < t1:
            if t >= t0:
                if p < 0:
                    p = factor * self._expected(t0, t1) / ((t1 - t0) * lam_max)
                if random() < p:
                    self.pop.cal.at(t, partial(self._start, c, moving))
            t += -log(1.0 - random()) / lam_max  # rng.expovariate(lam_max), as the standard library draws it
        nxt[uid] = t

    def _schedule_extra(self, c: Citizen, t0: float, t1: float, factor: float) -> None:
        """Sessions on top of a stay's (a festival crowd's extra use): Poisson count, uniform times."""
        lam = factor * self._expected(t0, t1)
        rng = self.rng
        if lam > 30:
            n = max(0, round(rng.gauss(lam, math.sqrt(lam))))
        else:  # Poisson by inversion
            u, n, p = rng.random(), 0, math.exp(-lam)
            s = p
            while u > s:
                n += 1
                p *= lam / n
                s += p
        at, uniform, start = self.pop.cal.at, rng.uniform, self._start
        for _ in range(n):
            at(uniform(t0, t1), partial(start, c, False))

    def _listeners(
        self,
    ) -> tuple[Callable[[Citizen, int, float, float], None], Callable[[Citizen, float, float], None]]:
        """The stay and trip listeners, as closures over locals: together they run ~170k times a district-day."""
        nxt, lu_rate, schedule, crowds = self._next, self.lu_rate, self._schedule, self.crowds

        def on_stay(c: Citizen, b: int, t0: float, t1: float) -> None:
            if nxt[c.unique_id] < t1:  # a candidate before the stay ends (else no session: see _schedule)
                schedule(c, t0, t1, lu_rate[b], False)
            for cb, a, z in crowds:  # at a festival crowd: the extra use, over the overlap
                s, e = max(t0, a), min(t1, z, self._end_t)
                if cb == b and self.event_factor > 1 and s < e:
                    self._schedule_extra(c, s, e, lu_rate[b] * (self.event_factor - 1))

        def on_trip(c: Citizen, t0: float, t1: float) -> None:
            if nxt[c.unique_id] < t1:  # as in on_stay
                schedule(c, t0, t1, 1.0, True)

        return on_stay, on_trip

    # ---------------------------------------------------------------- sessions
    def _start(self, c: Citizen, moving: bool, _event: object = None) -> None:
        if moving:
            if c.trip is None:
                return  # plans changed (stayed in): the session does not happen
            x, y = self.pop.trip_position(c, self.env._now)  # type: ignore[attr-defined]
        elif c.block < 0:
            return  # left early
        else:
            x, y = c.x, c.y
        rng = self.rng
        demand = self._mix_mbps[bisect.bisect_right(self._mix_cum, rng.random() * self._mix_cum[-1])]
        duration = -math.log(1.0 - rng.random()) / (1.0 / self.mean_s)  # rng.expovariate(1.0 / self.mean_s)
        covered = served = False
        thr = 0.0
        ap = first = -1
        now = self.env._now  # type: ignore[attr-defined]
        for i in self.index.nearest(x, y):
            if not self.operated[i] or not self.infra.up(self.ap_pole[i]):
                continue
            covered = True
            if self.clients[i] < self.ap_max[i] and self.load[i] + demand <= self.ap_cap[i]:
                ap = i
                break
            first = i if first < 0 else first
        if ap >= 0:
            share = self.infra.add_session_load(self.ap_pole[ap], demand)
            fair = self.ap_cap[ap] / (self.clients[ap] + 1)
            thr = min(demand, fair) * share
            served = True
            self.clients[ap] += 1
            self.load[ap] += demand
            sid = self._sid = self._sid + 1
            self.sessions[sid] = (ap, demand)
            self.active[ap].add(sid)
            row = self.records.arrive("ap_clients", self.aps[ap].id, f"S{sid}", "session", 0, now)
            row[6] = now
            row[8] = "in_service"
            self._rows[sid] = row
            self._clients_change(+1)
            self.pop.cal.at(self.env._now + duration, partial(self._end, sid))  # type: ignore[attr-defined]
        elif covered:
            self.blocked += 1
            row = self.records.arrive("ap_clients", self.aps[first].id, f"B{len(self.rec_t)}", "session", 0, now)
            self.records.end(row, now, "blocked")
            if self.fallback is not None:
                self.fallback(x, y, demand, duration)
        elif self.fallback is not None:
            self.fallback(x, y, demand, duration)
        self.rec_t.append(self.env.now)
        self.rec_xy.extend((x, y))
        self.rec_covered.append(covered)
        self.rec_served.append(served)
        self.rec_thr.append(thr)
        self.rec_demand.append(demand)

    def _clients_change(self, k: int) -> None:
        now = self.env._now  # type: ignore[attr-defined]
        self.client_area += self._n_clients * (now - self._since)
        self._since, self._n_clients = now, self._n_clients + k

    def _end(self, sid: int, _event: object = None, outcome: str = "served") -> None:
        s = self.sessions.pop(sid, None)
        if s is None:
            return  # dropped earlier by a fault
        self.records.end(self._rows.pop(sid), self.env._now, outcome)  # type: ignore[attr-defined]
        self._clients_change(-1)
        ap, demand = s
        self.clients[ap] -= 1
        self.load[ap] -= demand
        self.active[ap].discard(sid)
        self.infra.remove_session_load(self.ap_pole[ap], demand)

    def _on_poles(self, down: set[str], _back: set[str]) -> None:
        for i, pole in enumerate(self.ap_pole):
            if pole in down:
                for sid in sorted(self.active[i]):
                    self._end(sid, outcome="dropped")
                    self.dropped += 1

    # ---------------------------------------------------------------- views
    def ap_status(self, ids: set[str] | None = None) -> list[dict]:
        """Load of APs (all, or those in ``ids``) for the ``wifi.load`` feed."""
        return [
            {"id": a.id, "clients": self.clients[i], "mbps": round(self.load[i], 3), "up": self.infra.up(a.pole)}
            for i, a in enumerate(self.aps)
            if ids is None or a.id in ids
        ]

    def finish(self) -> None:
        """Close the clients' time integral at the end of the run."""
        self._clients_change(0)

    def sample(self, series: Series, t: float) -> None:
        """Record live sessions and the share of operated APs that are up."""
        series.add(t, "connectivity.active_sessions", len(self.sessions))
        up = sum(1 for i, p in enumerate(self.ap_pole) if self.operated[i] and self.infra.up(p))
        series.add(t, "connectivity.aps_up", up)
