"""Poles, power, fibre: shared capacity and the faults that take it away.

Every stream (CCTV video, WiFi backhaul, sensor data, a service's ``Transmit``) loads the links on
its pole's path to the control centre. A power outage darkens poles; a fibre cut disconnects every
pole below the cut link. Domains register listeners to hear when poles go up or down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import simpy

from simulation.config.district import District
from simulation.config.scenario import FaultSpec, Scenario
from simulation.world.log import EventLog, Series

Listener = Callable[[set[str], set[str]], None]  # (poles that went down, poles that came back)


class Infrastructure:
    """Live state of poles and links, loads on links, and modules services installed."""

    def __init__(self, env: simpy.Environment, district: District, log: EventLog) -> None:
        self.env, self.d, self.log = env, district, log
        self.powered = {p.id: True for p in district.poles}
        self.link_up = {lk.id: True for lk in district.links}
        self.path = {p.id: district.uplink_path(p.id) for p in district.poles}
        self.capacity = {lk.id: lk.capacity_mbps for lk in district.links}
        self.trunks = [lk.id for lk in district.links if lk.level == "trunk"]
        self.static_load = dict.fromkeys(self.capacity, 0.0)  # constant streams (video, sensors)
        self.dynamic_load = dict.fromkeys(self.capacity, 0.0)  # sessions
        self.peak_util = dict.fromkeys(self.capacity, 0.0)
        self.streams: dict[str, tuple[str, float]] = {}  # stream id -> (pole, mbps)
        self.listeners: list[Listener] = []
        self.before_power: list[Callable[[set[str]], None]] = []  # told before poles' power flips
        self.connected: set[str] = set(self.powered)
        # modules mounted during the run by services: id -> (pole, module, owner)
        self.installed: dict[str, tuple[str, str, str]] = {}
        self.extra_slots = dict.fromkeys(self.powered, 0)
        self.extra_power = dict.fromkeys(self.powered, 0.0)
        self.overruns = 0

    # ---------------------------------------------------------------- state
    def up(self, pole: str) -> bool:
        """Powered and connected to the control centre."""
        return pole in self.connected

    def _recompute(self) -> None:
        before = self.connected
        self.connected = {p for p, on in self.powered.items() if on and all(self.link_up[lk] for lk in self.path[p])}
        down, back = before - self.connected, self.connected - before
        self._restream()
        for fn in self.listeners:
            fn(down, back)

    def _restream(self) -> None:
        load = dict.fromkeys(self.capacity, 0.0)
        for pole, mbps in self.streams.values():
            if pole in self.connected:
                for lk in self.path[pole]:
                    load[lk] += mbps
        self.static_load = load
        for lk in load:
            self._peak(lk)

    def set_stream(self, sid: str, pole: str, mbps: float) -> None:
        """Start, change (or with ``mbps=0`` stop) a constant stream from ``pole``."""
        if mbps <= 0:
            self.streams.pop(sid, None)
        else:
            self.streams[sid] = (pole, mbps)
        self._restream()

    def _peak(self, lk: str) -> None:
        u = (self.static_load[lk] + self.dynamic_load[lk]) / self.capacity[lk]
        self.peak_util[lk] = max(self.peak_util[lk], u)

    def add_session_load(self, pole: str, mbps: float) -> float:
        """Add a session's load on the pole's path; return the share of it the path can carry."""
        share = 1.0
        for lk in self.path[pole]:
            self.dynamic_load[lk] += mbps
            total = self.static_load[lk] + self.dynamic_load[lk]
            cap = self.capacity[lk]
            if total > cap:
                share = min(share, cap / total)
            u = total / cap
            self.peak_util[lk] = max(self.peak_util[lk], u)
        return share

    def remove_session_load(self, pole: str, mbps: float) -> None:
        """Take a finished session's load off the pole's path."""
        for lk in self.path[pole]:
            self.dynamic_load[lk] -= mbps

    def trunk_utilisation(self) -> float:
        """Highest current utilisation over trunk links."""
        return max(((self.static_load[t] + self.dynamic_load[t]) / self.capacity[t] for t in self.trunks), default=0.0)

    # ---------------------------------------------------------------- hardware
    def mount(self, mid: str, pole: str, module: str, owner: str) -> str | None:
        """Mount a module for a service; return a reason if it cannot be mounted."""
        p = self.d.pole_by_id.get(pole)
        if p is None:
            return f"no pole {pole!r}"
        mtype = self.d.catalogue.modules.get(module)
        if mtype is None:
            return f"unknown module type {module!r}; known: {', '.join(sorted(self.d.catalogue.modules))}"
        model = self.d.catalogue.models[p.model]
        if module not in model.mounts:
            return f"pole {pole} (model {p.model}) cannot mount {module!r}"
        if mtype.slots > p.free_slots - self.extra_slots[pole]:
            return f"pole {pole} has {p.free_slots - self.extra_slots[pole]} free slots; {module} needs {mtype.slots}"
        headroom = p.power_budget_w - p.base_power_w - self.extra_power[pole]
        if mtype.power_w > headroom:
            return f"pole {pole} has {headroom:.0f} W power headroom; {module} draws {mtype.power_w:.0f} W"
        if mid in self.installed:
            return f"module id {mid!r} is already taken"
        self.installed[mid] = (pole, module, owner)
        self.extra_slots[pole] += mtype.slots
        self.extra_power[pole] += mtype.power_w
        return None

    # ---------------------------------------------------------------- faults
    def schedule_faults(self, scenario: Scenario, on_event: Callable[[FaultSpec, bool], None]) -> None:
        """Start a process per fault; infrastructure faults act here, others call ``on_event``."""
        for f in scenario.faults:
            self.env.process(self._fault(f, scenario.fault_offset(f), on_event))

    def _fault(self, f: FaultSpec, at: float, on_event: Callable[[FaultSpec, bool], None]):
        yield self.env.timeout(at)
        self._apply(f, True)
        on_event(f, True)
        yield self.env.timeout(f.duration)
        self._apply(f, False)
        on_event(f, False)

    def _apply(self, f: FaultSpec, start: bool) -> None:
        subject = f.link or ",".join(f.poles) or f.block or ""
        self.log.add(self.env.now, f"{f.kind}.{'start' if start else 'end'}", subject)
        if f.kind == "fibre_cut" and f.link:
            self.link_up[f.link] = not start
            self._recompute()
        elif f.kind == "power_outage":
            for fn in self.before_power:
                fn(set(f.poles))
            for p in f.poles:
                self.powered[p] = not start
            self._recompute()

    def sample(self, series: Series, t: float) -> None:
        """Record backhaul utilisation and poles up."""
        series.add(t, "infra.trunk_utilisation", self.trunk_utilisation())
        series.add(t, "infra.poles_up_pct", 100.0 * len(self.connected) / max(1, len(self.powered)))


def poles_near(district: District, x: float, y: float, k: int = 1) -> Iterable[str]:
    """The ``k`` poles nearest to (x, y)."""
    ranked = sorted(district.poles, key=lambda p: (p.x - x) ** 2 + (p.y - y) ** 2)
    return [p.id for p in ranked[:k]]
