"""5G small cells: the data sessions public WiFi could not serve, on the same fibre backhaul.

A session first tries WiFi (``connectivity.py``). If no working, operated AP in range had room, it
tries the nearest small cell in range whose pole is up and that has a free client slot (the
district's ``small_cell`` devices and any a service installs). It gets a fair share of the cell's
capacity, limited, like WiFi, by the fibre path of its pole: the same links, so 5G and WiFi traffic
compete for the backhaul. A cell whose pole loses power or backhaul drops its sessions. Sessions
neither serves go to the operators' macro network, which is not modelled. No random draws.
"""

from __future__ import annotations

from functools import partial

import simpy

from simulation.config.district import District
from simulation.world.calendar import Calendar
from simulation.world.infrastructure import Infrastructure
from simulation.world.log import Series
from simulation.world.spatial import CoverageIndex

RANGE_M = 100.0  # judgement: cells every 150-200 m along streets (FACTS) overlap at ~100 m
CAPACITY_MBPS = 400.0  # judgement, within FACTS' 40-1,100 Mbps per cell
MAX_CLIENTS = 200  # judgement


class Cellular:
    """Small cells: admission, fair share, shared backhaul, drops."""

    def __init__(self, env: simpy.Environment, d: District, infra: Infrastructure, cal: Calendar) -> None:
        self.env, self.d, self.infra, self.cal = env, d, infra, cal
        self.cells: list[tuple[str, str, float, float]] = [(c.id, c.pole, c.x, c.y) for c in d.devices_of("small_cell")]
        self.clients: list[int] = [0] * len(self.cells)
        self.load: list[float] = [0.0] * len(self.cells)
        self.active: list[set[int]] = [set() for _ in self.cells]
        self.sessions: dict[int, tuple[int, float]] = {}
        self._sid = 0
        self._index()
        self.tried = 0
        self.served = 0
        self.served_at: list[int] = []  # which tries (0, 1, ...) were served: where, with WiFi's attempts
        self.thr_sum = 0.0
        self.demand_sum = 0.0
        self.dropped = 0
        infra.listeners.append(self._on_poles)

    def _index(self) -> None:
        self.index = CoverageIndex([c[2] for c in self.cells], [c[3] for c in self.cells], [RANGE_M] * len(self.cells))

    def add_cell(self, mid: str, pole: str) -> None:
        """A small cell a service installed."""
        p = self.d.pole_by_id[pole]
        self.cells.append((mid, pole, p.x, p.y))
        self.clients.append(0)
        self.load.append(0.0)
        self.active.append(set())
        self._index()

    def serve(self, x: float, y: float, demand: float, duration: float) -> None:
        """A session WiFi could not serve at (x, y): take it on a small cell if one can."""
        self.tried += 1
        self.demand_sum += demand
        up = self.infra.up
        for i in self.index.nearest(x, y):
            if self.clients[i] >= MAX_CLIENTS or not up(self.cells[i][1]):
                continue
            share = self.infra.add_session_load(self.cells[i][1], demand)
            self.thr_sum += min(demand, CAPACITY_MBPS / (self.clients[i] + 1)) * share
            self.served += 1
            self.served_at.append(self.tried - 1)
            self.clients[i] += 1
            self.load[i] += demand
            sid = self._sid = self._sid + 1
            self.sessions[sid] = (i, demand)
            self.active[i].add(sid)
            self.cal.at(self.env.now + duration, partial(self._end, sid))
            return

    def _end(self, sid: int, _event: object = None) -> None:
        s = self.sessions.pop(sid, None)
        if s is None:
            return
        i, demand = s
        self.clients[i] -= 1
        self.load[i] -= demand
        self.active[i].discard(sid)
        self.infra.remove_session_load(self.cells[i][1], demand)

    def _on_poles(self, down: set[str], _back: set[str]) -> None:
        for i, (_cid, pole, _x, _y) in enumerate(self.cells):
            if pole in down:
                for sid in sorted(self.active[i]):
                    self._end(sid)
                    self.dropped += 1

    def status(self) -> list[dict]:
        """The ``cellular.load`` feed: every small cell's clients, Mbps and state."""
        return [
            {
                "id": cid,
                "pole": pole,
                "clients": self.clients[i],
                "mbps": round(self.load[i], 3),
                "up": self.infra.up(pole),
            }
            for i, (cid, pole, _x, _y) in enumerate(self.cells)
        ]

    def sample(self, series: Series, t: float) -> None:
        """Live 5G sessions."""
        series.add(t, "cellular.active_sessions", len(self.sessions))
