"""Citizens: residents, commuting workers and visitors on daily activity schedules.

Each citizen is a Mesa ``CellAgent`` on the street network (a cell per intersection) whose day is
a chain of scheduled callbacks: at its next departure it walks the shortest street path, and on
arrival it schedules the departure after: two events per trip, nothing per minute. Domains listen
for stays and trips (to start data sessions, accumulate exposure, count people near a pole)
through :meth:`Population.listen`.

A citizen's place is its street node (``Citizen.node``); its Mesa cell follows lazily. Moving an
agent between Mesa cells costs an O(n) ``list.remove`` on a crowded cell, ~90k times a
district-day, while the cells' agent lists are read only when a notice looks for the people near
a point. So a move is noted, and :meth:`Population.street_cells` replays the noted moves through
Mesa's public API (``CellAgent.cell = ...``) before anyone reads the cells: what a reader sees is
exactly what moving at every arrival would have left, in the same order.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import networkx as nx
import numpy as np
import simpy
from mesa import Model
from mesa.discrete_space import Cell, CellAgent, Network

from simulation.config.district import District
from simulation.config.scenario import Scenario
from simulation.rng import Streams
from simulation.world.calendar import Calendar

WALK_M_S = 1.3  # judgement: urban walking speed
LAND_USE_VISIT = {"commercial": 1.0, "mixed": 0.7, "park": 0.6, "office": 0.15, "residential": 0.05, "industrial": 0.05}
# Age groups of residents (judgement from Seoul's ~18% aged 65+ and ~12% under 15).
CHILD, ADULT, ELDERLY = 0, 1, 2
RESIDENT, WORKER, VISITOR = 0, 1, 2
KIND_NAMES = ("resident", "worker", "visitor")


class Citizen(CellAgent):
    """A person in (or passing through) the district."""

    def __init__(
        self,
        model: Model,
        kind: int,
        group: int,
        plan: list[tuple[float, int]],
        start: int,
        jitter: tuple[float, float],
    ) -> None:
        super().__init__(model)
        self.kind, self.group, self.plan, self.start, self.jitter = kind, group, plan, start, jitter
        self.block = -1  # block index where the citizen is, -1 when travelling or outside
        self.x = self.y = 0.0
        self.trip: tuple[float, float, str, str] | None = None  # (t0, t1, from node, to node)
        self.stay_in_until = -1.0  # set when an alert tells the citizen to stay in
        self.node: str | None = None  # street node where the citizen is (None when outside); Mesa's
        # ``cell`` follows it when read through Population.street_cells (see the module docstring)


class Step:
    """A citizen's next plan step, as the SimPy event that runs it (one per citizen, used again and again).

    A citizen has one step pending at a time (its next departure, or the arrival of its trip), so
    instead of a new event and ``functools.partial`` per step (~180k a district-day, each made an
    hour before it runs) the citizen's ``Step`` is put back on the calendar with the step's
    callback and leg: SimPy runs it like any triggered event (``callbacks``, ``_ok``).
    """

    __slots__ = ("c", "callbacks", "k", "target")
    _ok = True  # env.step reads it after the callbacks: a step never fails
    _value = None

    def __init__(self, c: Citizen) -> None:
        self.c = c
        self.callbacks: tuple[Callable[[Step], None], ...] | None = None
        self.k = 0  # the plan leg
        self.target = ""  # the street node the trip ends at (arrivals)


@dataclass(frozen=True)
class Stay:
    """A citizen at a block from t0 until t1 (planned)."""

    citizen: Citizen
    block: int
    t0: float
    t1: float


StayListener = Callable[[Citizen, int, float, float], None]
TripListener = Callable[[Citizen, float, float], None]
Decider = Callable[[Citizen, int, int, float], int]  # (citizen, leg, destination, now) -> destination


class DistrictModel(Model):
    """The Mesa model: the street network space and every citizen agent."""

    def __init__(self, district: District, seed: int) -> None:
        super().__init__(rng=seed)
        g = district.graph
        layout = {n: (g.nodes[n]["x"], g.nodes[n]["y"]) for n in g.nodes}
        self.space = Network(g, random=self.random, layout=layout)


class Population:
    """Builds the citizens' plans, runs their days, and tells listeners where people are."""

    def __init__(
        self,
        env: simpy.Environment,
        d: District,
        sc: Scenario,
        streams: Streams,
        model: DistrictModel,
        cal: Calendar | None = None,
    ) -> None:
        self.env, self.d, self.sc, self.model = env, d, sc, model
        self.cal = cal or Calendar(env)
        self._put, self._duration = self.cal.put, sc.duration
        self._departs, self._arriveds = (self._depart,), (self._arrived,)  # a Step's callbacks (bound once)
        self.rng = streams("population")
        self.blocks = d.blocks
        self.block_node = [b.node for b in d.blocks]
        self.block_xy = [(b.x, b.y) for b in d.blocks]
        self.block_half = [min(60.0, 0.45 * math.sqrt(max(b.area_m2, 1.0))) for b in d.blocks]
        self.present = [0] * len(d.blocks)
        # how far from its street node a block's people may stand (for "who is near" through Mesa's cells)
        self.node_reach: dict[str, float] = {}
        for (bx, by), node, h in zip(self.block_xy, self.block_node, self.block_half, strict=True):
            nx_, ny_ = d.nodes[node]
            reach = math.hypot(bx - nx_, by - ny_) + h * math.sqrt(2)
            self.node_reach[node] = max(self.node_reach.get(node, 0.0), reach)
        self.outside = 0
        self.gates = _gates(d)
        self._cells = {cell.coordinate: cell for cell in model.space}  # node id -> Mesa cell (public iteration)
        # citizens whose node changed since Mesa's cells were last brought up to date, in the order
        # of their latest change (a dict: ordered, and a citizen moved again goes to the end)
        self._moved: dict[Citizen, None] = {}
        self.deciders: list[Decider] = []  # rules that may change a departing citizen's destination
        self._paths: dict[str, tuple[dict, dict]] = {}
        self._lines: dict[tuple[str, str], tuple[list[tuple[float, float]], list[float]]] = {}
        self.stay_listeners: list[StayListener] = []
        self.trip_listeners: list[TripListener] = []
        self.citizens: list[Citizen] = []
        self.trips = 0
        self.walk_m = 0.0
        self._build()
        self._rain_keeps_visitors_away(streams("population.rain"))

    # ---------------------------------------------------------------- plans
    def _pick_blocks(self, weights: np.ndarray, n: int) -> np.ndarray:
        p = weights / weights.sum() if weights.sum() > 0 else np.full(len(weights), 1 / len(weights))
        return self.rng.choice(len(weights), size=n, p=p)

    def _build(self) -> None:
        pop = self.d.meta.population
        scale = self.sc.population_scale
        n_res, n_wrk, n_vis = (round(v * scale) for v in (pop.residents, pop.workers, pop.visitors))
        res_w = np.array([b.residents for b in self.blocks], float)
        job_w = np.array([b.jobs for b in self.blocks], float)
        visit_w = np.array(
            [LAND_USE_VISIT.get(b.land_use, 0.1) * (1 + math.sqrt(b.area_m2) / 100) for b in self.blocks]
        )
        school_w = np.array([1.0 if b.land_use in ("residential", "mixed") else 0.0 for b in self.blocks])
        rng, end = self.rng, self.sc.duration
        day0 = self.sc.start.hour * 3600 + self.sc.start.minute * 60  # clock seconds at t=0

        def at(clock_h: float) -> float:
            """Scenario time of a clock hour (today, or tomorrow if already past)."""
            t = clock_h * 3600 - day0
            return t if t >= 0 else t + 86400

        # The draws are made as arrays (the streams' order), then read as Python numbers: the same
        # IEEE doubles and ints as numpy's scalars, at a fraction of the cost per element.
        batch: list[tuple[int, int, list[tuple[float, int]], int]] = []
        homes = self._pick_blocks(res_w, n_res).tolist()
        groups = rng.choice(3, size=n_res, p=[0.12, 0.70, 0.18]).tolist()
        commute_out = (rng.random(n_res) < 0.55).tolist()
        u = rng.random((n_res, 6)).tolist()
        errand_blocks = self._pick_blocks(visit_w, 2 * n_res).reshape(n_res, 2).tolist()
        schools = self._pick_blocks(school_w, n_res).tolist()
        for i in range(n_res):
            home, grp, uu, errands = homes[i], groups[i], u[i], errand_blocks[i]
            plan: list[tuple[float, int]] = []
            if grp == CHILD:
                plan = [(at(8.0 + 0.5 * uu[0]), schools[i]), (at(14.5 + 1.5 * uu[1]), home)]
                if uu[2] < 0.4:
                    plan.append((at(16.5 + 2 * uu[3]), errands[0]))
                    plan.append((at(18.5 + uu[4]), home))
            elif grp == ADULT and commute_out[i]:
                plan = [(at(7.0 + 2 * uu[0]), -1), (at(17.5 + 3 * uu[1]), home)]
                if uu[2] < 0.3:
                    plan.append((at(20.5 + 1.5 * uu[3]), errands[0]))
                    plan.append((at(22.0 + 1.5 * uu[4]), home))
            else:
                k = 1 + int(uu[0] < 0.5)
                t = 9.5 + 3 * uu[1] if grp == ELDERLY else 10 + 6 * uu[1]
                for j in range(k):
                    plan.append((at(t), errands[j]))
                    t += 0.75 + 1.25 * uu[2 + j]
                    plan.append((at(t), home))
                    t += 1 + 3 * uu[4]
            batch.append((RESIDENT, grp, plan, home))
        self._add(batch)

        jobs = self._pick_blocks(job_w, n_wrk).tolist()
        lunch = self._pick_blocks(visit_w, n_wrk).tolist()
        uw = rng.random((n_wrk, 5)).tolist()
        for i in range(n_wrk):
            uu, job = uw[i], jobs[i]
            plan = [(at(7.0 + 2.5 * uu[0]), job)]
            if uu[1] < 0.6:
                t = 11.75 + 1.25 * uu[2]
                plan += [(at(t), lunch[i]), (at(t + 0.75), job)]
            plan.append((at(17.0 + 3 * uu[3]), -1))
            batch.append((WORKER, ADULT, plan, -1))
        self._add(batch)

        places = self._pick_blocks(visit_w, 3 * max(n_vis, 1)).reshape(-1, 3).tolist()
        uv = rng.random((n_vis, 5)).tolist()
        for i in range(n_vis):
            uu = uv[i]
            t = 10 + 9 * uu[0]
            plan = []
            for j in range(1 + int(uu[1] * 3)):
                plan.append((at(t), places[i][j]))
                t += 0.75 + 1.25 * uu[2 + min(j, 2)]
            plan.append((at(t), -1))
            batch.append((VISITOR, ADULT, plan, -1))
        self._add(batch)

        for f in self.sc.faults:
            if f.kind != "festival_crowd" or not f.extra_visitors:
                continue
            t0 = self.sc.fault_offset(f)
            b = next((k for k, blk in enumerate(self.blocks) if blk.id == f.block), None)
            n = round(f.extra_visitors * scale)
            targets = self._pick_blocks(visit_w, n) if b is None else np.full(n, b)
            uf = rng.random((n, 2))
            for i in range(n):
                arrive = t0 + 1800 * uf[i, 0] - 900
                plan = [(max(0.0, arrive), int(targets[i])), (t0 + f.duration + 1800 * uf[i, 1], -1)]
                batch.append((VISITOR, ADULT, plan, -1))
            self._add(batch)

        # drop legs beyond the end of the run; keep order by time
        for c in self.citizens:
            c.plan = [(t, b) for t, b in c.plan if t < end]

    def _rain_keeps_visitors_away(self, rng: np.random.Generator) -> None:
        """World II: a share of visitors due to arrive in heavy rain stays away (own stream; dry days draw nothing)."""
        drop = self.sc.demand.mobility.visitors_drop_in_heavy_rain
        spans = [(self.sc.fault_offset(f), f.duration) for f in self.sc.faults if f.kind == "heavy_rain"]
        if not spans or drop <= 0:
            return
        for c in self.citizens:
            due = c.kind == VISITOR and c.plan and any(a <= c.plan[0][0] < a + d for a, d in spans)
            if due and rng.random() < drop:
                c.plan = []

    def _add(self, batch: list[tuple[int, int, list[tuple[float, int]], int]]) -> None:
        """Create the citizens in ``batch`` (kind, group, plan, start block), then empty it."""
        jitter = self.rng.uniform(-1, 1, size=(len(batch), 2)).tolist()  # each one's offset in its blocks
        model, add = self.model, self.citizens.append
        for (kind, group, plan, start), (jx, jy) in zip(batch, jitter, strict=True):
            add(Citizen(model, kind, group, plan, start, (jx, jy)))
        batch.clear()

    # ---------------------------------------------------------------- running
    def listen(self, on_stay: StayListener | None = None, on_trip: TripListener | None = None) -> None:
        """Be told of every stay (citizen, block, t0, planned t1) and trip (citizen, t0, t1)."""
        if on_stay:
            self.stay_listeners.append(on_stay)
        if on_trip:
            self.trip_listeners.append(on_trip)

    def start(self) -> None:
        """Place residents at home and schedule every citizen's first departure."""
        put = self._put
        for c in self.citizens:
            if c.start >= 0:
                c.node = self.block_node[c.start]
                self._moved[c] = None
                self._arrive(c, c.start, next_leave=c.plan[0][0] if c.plan else self.sc.duration)
            else:
                self.outside += 1
            if c.plan:
                step = Step(c)
                step.callbacks = self._departs
                put(c.plan[0][0], step)

    def _arrive(self, c: Citizen, b: int, next_leave: float) -> None:
        """``c`` is at block ``b`` now, until ``next_leave`` (``_arrived`` does the same, written out)."""
        c.block = b
        h = self.block_half[b]
        x, y = self.block_xy[b]
        jx, jy = c.jitter
        c.x, c.y = x + jx * h, y + jy * h  # a fixed offset per citizen within the block
        self.present[b] += 1
        now = self.env._now  # type: ignore[attr-defined]
        for fn in self.stay_listeners:
            fn(c, b, now, next_leave)

    def paths_from(self, node: str) -> tuple[dict, dict]:
        """Shortest street distances and paths from ``node`` (cached)."""
        hit = self._paths.get(node)
        if hit is None:
            hit = self._paths[node] = nx.single_source_dijkstra(self.d.graph, node, weight="length")
        return hit

    def _depart(self, step: Step) -> None:
        """Leg ``step.k`` of the plan starts now: walk the shortest street path to its destination."""
        now = self.env._now  # type: ignore[attr-defined]
        c, k = step.c, step.k
        dest = c.plan[k][1]
        if c.stay_in_until > now and c.block >= 0 and dest != -1:
            step.callbacks = self._departs
            self._put(c.stay_in_until, step)
            return
        if self.deciders:  # citizens who decide (world.citizens): only when a rule is active
            for rule in self.deciders:
                new = rule(c, k, dest, now)
                if new != dest:
                    dest = new
                    c.plan[k] = (c.plan[k][0], new)
        node = c.node
        if node is None:  # entering from outside through a gate
            node = self.gates[c.unique_id % len(self.gates)]
            self.outside -= 1
        if c.block >= 0:
            self.present[c.block] -= 1
            c.block = -1
        target = self.block_node[dest] if dest >= 0 else self.gates[(c.unique_id * 7) % len(self.gates)]
        paths = self._paths.get(node)
        if paths is None:
            paths = self.paths_from(node)
        length = paths[0].get(target, 0.0)
        arrive = now + (length / WALK_M_S + 20.0)
        c.trip = (now, arrive, node, target)
        self.trips += 1
        self.walk_m += length
        for fn in self.trip_listeners:
            fn(c, now, arrive)
        step.callbacks, step.target = self._arriveds, target
        self._put(arrive, step)

    def _arrived(self, step: Step) -> None:
        now = self.env._now  # type: ignore[attr-defined]
        c, k = step.c, step.k
        plan = c.plan
        c.trip = None
        dest = plan[k][1]
        last = k + 1 >= len(plan)
        node = step.target if dest >= 0 else None
        if c.node != node:  # a new street cell (coming back to the same one is no move in Mesa either)
            # noted for Mesa (see street_cells); a citizen moved again goes to the end of the order
            moved = self._moved
            moved.pop(c, None)
            moved[c] = None
            c.node = node
        if dest >= 0:  # as _arrive (written out: this runs ~90k times a district-day)
            nxt = self._duration if last else plan[k + 1][0]
            nxt = nxt if nxt > now else now
            c.block = dest
            h = self.block_half[dest]
            x, y = self.block_xy[dest]
            jx, jy = c.jitter
            c.x, c.y = x + jx * h, y + jy * h
            self.present[dest] += 1
            for fn in self.stay_listeners:
                fn(c, dest, now, nxt)
        else:
            self.outside += 1
        if not last:
            step.callbacks, step.k = self._departs, k + 1
            self._put(plan[k + 1][0], step)

    def street_cells(self) -> dict[str, Cell]:
        """Mesa's street cells by node id, each holding the citizens at its node now.

        Replays the moves noted since the last call through Mesa's public ``CellAgent.cell``
        setter, in the order of each citizen's latest move. That leaves every cell's agent list as
        moving at every arrival would have: a citizen who left a cell and came back is taken out
        and put back, so it stands after those who stayed, as a real move would leave it.
        """
        cells = self._cells
        for c in self._moved:
            cell = cells[c.node] if c.node is not None else None
            if cell is not None and cell is c.cell:
                c.cell = None  # left and came back since the last sync: Mesa puts a returning agent last
            c.cell = cell
        self._moved.clear()
        return cells

    @property
    def cells(self) -> dict[str, Cell]:
        """Mesa's street cells by node id, up to date (the same as :meth:`street_cells`)."""
        return self.street_cells()

    def trip_position(self, c: Citizen, t: float) -> tuple[float, float]:
        """Where a travelling citizen is at time ``t`` (linear along the street path)."""
        assert c.trip is not None
        t0, t1, src, dst = c.trip
        pts, cum = self._polyline(src, dst)
        total = cum[-1]
        if total <= 0 or len(pts) == 1:
            return pts[0]
        s = total * min(1.0, max(0.0, (t - t0) / max(t1 - t0, 1e-9)))
        k = min(bisect.bisect_right(cum, s) - 1, len(pts) - 2)  # on the list itself (no array made per call)
        seg = cum[k + 1] - cum[k]
        f = (s - cum[k]) / seg if seg > 0 else 0.0
        (ax, ay), (bx, by) = pts[k], pts[k + 1]
        return ax + f * (bx - ax), ay + f * (by - ay)

    def _polyline(self, src: str, dst: str) -> tuple[list[tuple[float, float]], list[float]]:
        key = (src, dst)
        hit = self._lines.get(key)
        if hit is None:
            pts = [self.d.nodes[n] for n in self.paths_from(src)[1][dst]]
            cum, acc = [0.0], 0.0
            for a, b in itertools.pairwise(pts):
                acc += math.dist(a, b)
                cum.append(acc)
            hit = self._lines[key] = (pts, cum)
        return hit

    def where(self, c: Citizen, t: float) -> tuple[float, float] | None:
        """Current position, or None when the citizen is outside the district."""
        if c.block >= 0:
            return c.x, c.y
        if c.trip is not None:
            return self.trip_position(c, t)
        return None

    @property
    def in_district(self) -> int:
        """People in the district now (at a place or on the way)."""
        return len(self.citizens) - self.outside


def _gates(d: District) -> list[str]:
    """Street nodes on the district's edge, where people come and go."""
    xs = {n: xy[0] for n, xy in d.nodes.items()}
    ys = {n: xy[1] for n, xy in d.nodes.items()}
    x0, x1, y0, y1 = min(xs.values()), max(xs.values()), min(ys.values()), max(ys.values())
    tol = 0.05 * max(x1 - x0, y1 - y0, 1.0)
    gates = sorted(n for n in d.nodes if xs[n] < x0 + tol or xs[n] > x1 - tol or ys[n] < y0 + tol or ys[n] > y1 - tol)
    return gates or sorted(d.nodes)[:1]
