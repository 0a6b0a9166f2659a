"""The World: one SimPy environment, one Mesa model, the domains, and the service host."""

from __future__ import annotations

import contextlib
import gc
import math
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta

import simpy

from simulation import sdk
from simulation.config.district import District
from simulation.config.scenario import FaultSpec, Scenario
from simulation.rng import Streams
from simulation.world.calendar import run_until
from simulation.world.cellular import Cellular
from simulation.world.connectivity import Connectivity
from simulation.world.edge import Edge
from simulation.world.energy import DarkIncidents, Energy
from simulation.world.environment import Environment
from simulation.world.heat import heat_per_person, summarise_heat
from simulation.world.host import ReadyService, ServiceHost, ServiceState, one_cpu
from simulation.world.infrastructure import Infrastructure
from simulation.world.iot import IoT
from simulation.world.lighting import Lighting
from simulation.world.log import EventLog, Series
from simulation.world.logistics import Logistics
from simulation.world.mobility import Mobility
from simulation.world.notices import Notices
from simulation.world.parking import Parking
from simulation.world.population import DistrictModel, Population
from simulation.world.queues import QueueRecords
from simulation.world.safety import Safety

SAMPLE_S = 900.0


class _Collector:
    """The state behind :func:`collector_paused` (the collector is one per process)."""

    lock = threading.Lock()
    paused = 0  # regions open now
    was_enabled = True  # the collector's state when the first region opened
    # The Mesa model of the last world built. It is in reference cycles with its agents (as is the
    # rest of a world), so once its world is dropped it is freed only by a full collection. While
    # this reference is alive, that world is in use or is garbage; once dead, it is freed.
    last_model: weakref.ref | None = None


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a world is built or run.

    A district-day makes hundreds of thousands of long-lived objects (agents, plans, records) and
    almost no garbage while it runs, so the collector would only rescan the same objects over and
    over. On the way out everything made so far is filed as old (freeze + unfreeze moves it to the
    oldest generation): turning the collector back on then does not start by scanning a day's
    worth of records as if they were new. Nested use is fine. (Freeing the last world is
    :func:`free_last_world`'s job.)
    """
    state = _Collector
    with state.lock:
        if state.paused == 0:
            state.was_enabled = gc.isenabled()
            gc.disable()
        state.paused += 1
    try:
        yield
    finally:
        with state.lock:
            state.paused -= 1
            if state.paused == 0:
                gc.freeze()
                gc.unfreeze()
                if state.was_enabled:
                    gc.enable()


def free_last_world() -> None:
    """Before a new world is built: free the last one if it may be cyclic garbage.

    A world is full of reference cycles (Mesa agents and their cells, listeners), so once dropped
    it is freed only by a full collection: running one here keeps a batch worker's memory at one
    world's worth however many runs it does. It runs only if the last world's model is still alive
    (in use, or garbage): a full collection that ran since (a batch worker's, a benchmark's between
    timed runs) has freed it already. A world's run never pays for a collection (it is in use).
    """
    state = _Collector
    with state.lock:
        last = state.last_model
        if last is not None and last() is not None:
            gc.collect()
        state.last_model = None


class World:
    """A simulated district day for one scenario and seed.

    SimPy's ``env.now`` (seconds from the scenario start) is the only clock; the Mesa model holds
    the citizens on the street network and is moved by SimPy processes, never the other way round.
    """

    def __init__(
        self,
        district: District,
        scenario: Scenario,
        seed: int,
        services: Sequence[ReadyService] = (),
        share_cpu: bool = False,
    ) -> None:
        """Build the district day; ``services`` are ready-made (see ``simulation.plugins.runners``).

        ``share_cpu`` keeps the run on one CPU with its sandboxed services (see ``host.one_cpu``).
        If the world cannot be built, the services' processes are stopped before the error is raised.
        """
        self.share_cpu = share_cpu
        free_last_world()
        with collector_paused():
            try:
                self._setup(district, scenario, seed, services)
            except BaseException:
                for s in services:
                    with contextlib.suppress(Exception):
                        s.runner.close()  # the services' processes started before the world failed
                raise

    def _setup(self, district: District, scenario: Scenario, seed: int, services: Sequence[ReadyService]) -> None:
        self.d, self.sc, self.seed = district, scenario, int(seed)
        self.env = simpy.Environment()
        self.streams = Streams(self.seed)
        self.host = ServiceHost(self, services)
        self.model = DistrictModel(district, self.seed)
        _Collector.last_model = weakref.ref(self.model)  # see free_last_world
        self.log = EventLog()
        self.series = Series()
        self.infra = Infrastructure(self.env, district, self.log)
        self.pop = Population(self.env, district, scenario, self.streams, self.model)
        self.lights = Lighting(self.env, district, scenario.start, self.infra)
        self.conn = Connectivity(self.env, district, scenario, self.streams, self.infra, self.pop)
        self.queues = QueueRecords()  # every queue's per-job records (results.store keeps them as queues.parquet)
        self.safety = Safety(
            self.env, district, scenario, self.streams, self.infra, self.lights, self.pop, self.log, self.queues
        )
        self.conn.records = self.queues
        # World II: environment, energy, mobility and logistics (each draws from its own named streams)
        cal = self.pop.cal
        self.environment = Environment(self.env, district, scenario, self.streams, self.infra, self.pop, self.lights)
        self.energy = Energy(self.env, district, scenario, self.infra, self.lights, self.pop, self.log)
        self.dark = DarkIncidents(self.env, district, scenario, self.streams, self.safety, self.lights, cal)
        self.mobility = Mobility(self.env, district, scenario, self.streams, self.infra, self.pop, self.energy, cal)
        self.mobility.records = self.queues
        self.logistics = Logistics(self.env, district, scenario, self.streams, self.pop, self.mobility, cal, self.log)
        # An open world: LoRaWAN, 5G small cells, parking guidance, edge units, notices (own named streams)
        self.iot = IoT(self.env, district, self.streams, self.infra)
        self.iot.horizon(self.environment.n_samples, self.environment.up_at)
        self.cellular = Cellular(self.env, district, self.infra, cal)
        self.conn.fallback = self.cellular.serve
        self.parking = Parking(self.env, district, self.streams, self.infra, self.mobility, self.pop, self.iot)
        self.edge = Edge(self.env, district, self.streams, self.infra)
        self.notices = Notices(district, self.streams, self.pop, self.environment.travelling)
        self.notices.handlers["air_quality"] = self.environment.notify
        self.notices.handlers["parking"] = self.parking.notify
        self.heat: dict[str, float] = {}
        self.views: dict[str, set[str]] = {}
        self.infra_changes: list[dict] = []
        self.notifications = 0
        self.infra.listeners.append(self._on_poles)
        self.infra.before_power.append(self.lights.power_changed)
        for cam in district.devices_of("camera"):
            self.infra.streams[f"camera:{cam.id}"] = (cam.pole, float(cam.get("bitrate_mbps", 2.4)))
        for sensor in district.devices_of("sensor"):
            self.infra.streams[f"sensor:{sensor.id}"] = (sensor.pole, 0.01)
        self.infra._restream()

    # ---------------------------------------------------------------- running
    def run(self, progress: Callable[[float], None] | None = None, chunks: int = 48) -> None:
        """Simulate the whole scenario; ``progress`` gets the simulated fraction done."""
        with collector_paused(), one_cpu(enabled=self._shares_cpu()):
            try:
                self._run(progress, chunks)
            except BaseException:
                self.host.close()  # a crash or an interrupt mid-run: no service process outlives it
                raise

    def _shares_cpu(self) -> bool:
        """Whether this run keeps to one CPU with its sandboxed services (see ``host.one_cpu``)."""
        if all(s.runner.isolation == "inline" for s in self.host.services):
            return False
        return self.share_cpu

    def _run(self, progress: Callable[[float], None] | None, chunks: int) -> None:
        env = self.env
        self.pop.start()
        self.safety.start()
        self.infra.schedule_faults(self.sc, self._on_fault)
        self.host.deploy()
        self.logistics.start()
        self.mobility.start()
        self.dark.start()
        env.process(self.host.run())
        env.process(self._sampler())
        for k in range(1, chunks + 1):
            run_until(env, self.sc.duration * k / chunks)
            if progress:
                progress(k / chunks)
        self.host.end()
        self.safety.finish()
        self.energy_kwh = self.lights.finish()
        self.environment.finish()
        self.iot.finish()
        self.heat_people = heat_per_person(self.environment, self.notices.heat_windows, env.now)
        self.heat = summarise_heat(*self.heat_people)
        self.mobility.finish()
        self.energy.finish(self.energy_kwh)
        self.conn.finish()
        self.log.add(env.now, "state.final", "world", **self.final_state())

    def _sampler(self):
        env = self.env
        while True:
            t = env.now
            self.infra.sample(self.series, t)
            self.conn.sample(self.series, t)
            self.cellular.sample(self.series, t)
            self.safety.sample(self.series, t)
            self.lights.sample(self.series, t)
            self.series.add(t, "population.in_district", self.pop.in_district)
            self.environment.sample(self.series, t)
            self.energy.sample(self.series, t, SAMPLE_S)
            self.mobility.sample(self.series, t)
            self.logistics.sample(self.series, t)
            yield env.timeout(SAMPLE_S)
            self.safety.view_minutes(SAMPLE_S)

    def _on_fault(self, f: FaultSpec, start: bool) -> None:
        if f.kind == "heavy_rain":
            self.safety.rain = (f.intensity_mm_h or 20.0) if start else 0.0
        elif f.kind == "heat_wave":
            self.safety.heat = start
        self.energy.on_fault(f, start)
        self.mobility.on_fault(f, start)
        self.logistics.on_fault(f, start)

    def _on_poles(self, down: set[str], back: set[str]) -> None:
        now = round(self.env.now, 1)
        self.infra_changes.extend({"id": p, "kind": "pole", "up": False, "time_s": now} for p in sorted(down))
        self.infra_changes.extend({"id": p, "kind": "pole", "up": True, "time_s": now} for p in sorted(back))
        del self.infra_changes[:-500]

    # ---------------------------------------------------------------- services
    def on_deployed(self, s: ServiceState) -> None:
        """Hook a deployed service's operated devices into the domains."""
        ap_ids = {a.id: i for i, a in enumerate(self.conn.aps)}
        for dev in s.operates:
            if dev in ap_ids:
                self.conn.operated[ap_ids[dev]] = True
        for mid in s.installed:  # modules that act in the open world's domains
            pole, module, _owner = self.infra.installed[mid]
            if module in ("sensor", "parking_sensor"):
                self.iot.add_device(mid, module, pole, s.name)
            if module == "parking_sensor":
                self.parking.add_sensor(mid, pole, s.name)
            elif module == "gateway":
                self.iot.add_gateway(mid, pole)
            elif module == "small_cell":
                self.cellular.add_cell(mid, pole)
            elif module == "display":
                self.parking.add_display(mid, pole, s.name)
            elif module == "edge_unit":
                self.edge.add_unit(mid, pole, s.name, s.operates)
        if s.fleet:
            self._deploy_fleet(s)

    def _deploy_fleet(self, s: ServiceState) -> None:
        share = s.market_share if s.market_share is not None else s.params.get("market_share", 0.0)
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            s.reject(-1, "fleet", f"market_share must be from 0 to 1; got {share!r}")
            share = 0.0
        for reason in self.logistics.register(s.name, s.fleet, float(share)):
            s.reject(-1, "fleet", reason)
        if s.name in self.logistics.fleets and "logistics.requests" not in s.feeds:
            s.feeds = (*s.feeds, "logistics.requests")

    def apply(self, s: ServiceState, a: sdk.Action) -> str | None:
        """Validate and apply one action; return why it was rejected, or None."""
        if isinstance(a, sdk.Flag):
            det = self.safety.detections.get(a.detection)
            if det is None or a.detection not in s.delivered:
                return f"detection {a.detection!r} was not delivered to this service"
            return self.safety.flag(a.detection, a.priority)
        if isinstance(a, sdk.View):
            bad = [c for c in a.cameras if c not in s.operates]
            if bad:
                return f"camera {bad[0]!r} is not operated by this service"
            screens = self.d.meta.control_centre.screens_per_operator * int(self.safety._ops_on)
            if len(a.cameras) > screens:
                return f"the video wall has {screens} screens now; asked for {len(a.cameras)}"
            self.views[s.name] = set(a.cameras)
            self.safety.wall = set().union(*self.views.values())
            return None
        if isinstance(a, sdk.SetLight):
            if "lights" not in s.operates:
                return "this service does not operate streetlights (deploy with operates=('lights',))"
            if not (isinstance(a.level, int | float) and 0 <= a.level <= 1):
                return f"level must be from 0 to 1; got {a.level!r}"
            for p in a.poles:
                if p not in self.infra.powered:
                    return f"no pole {p!r}"
            if len(a.poles) == 1 and not self.infra.powered[a.poles[0]]:
                return f"pole {a.poles[0]!r} has no power"
            for p in a.poles:
                self.lights.set(p, float(a.level))
                self.host.light_owner[p] = s.name
            return None
        if isinstance(a, sdk.Transmit):
            if a.device not in s.installed:
                return f"device {a.device!r} was not installed by this service"
            if not (isinstance(a.mbps, int | float) and 0 <= a.mbps <= 1000):
                return f"mbps must be from 0 to 1000; got {a.mbps!r}"
            pole = self.infra.installed[a.device][0]
            self.infra.set_stream(f"transmit:{a.device}", pole, float(a.mbps))
            return None
        if isinstance(a, sdk.Notify):
            nums = (a.x, a.y, a.radius_m)
            if not all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in nums):
                return f"x, y and radius_m must be finite numbers; got {nums!r}"
            if a.radius_m <= 0:
                return f"radius_m must be > 0; got {a.radius_m!r}"
            if not isinstance(a.topic, str) or not isinstance(a.message, str):
                return "topic and message must be text"
            self.notifications += 1
            return self.notices.notify(a, self.env.now)
        if isinstance(a, sdk.ShowParking):
            return self.parking.show(s.name, a)
        if isinstance(a, sdk.Dispatch | sdk.Reserve):
            if s.name not in self.logistics.fleets:
                return "this service has no fleet (declare one in Deployment.fleet)"
            if isinstance(a, sdk.Dispatch):
                return self.logistics.dispatch(s.name, a, self.safety.rain)
            return self.logistics.reserve(s.name, a)
        return f"unknown action {type(a).__name__}"

    # ---------------------------------------------------------------- views
    def clock(self, t: float) -> str:
        """ISO clock time of scenario time ``t``."""
        return (self.sc.start + timedelta(seconds=t)).isoformat(timespec="seconds")

    def weather(self) -> dict:
        """Weather now, as services see it."""
        grounded = self.safety.rain > self.sc.demand.logistics.drone_max_rain_mm_h
        return {"rain_mm_h": self.safety.rain, "heat_wave": self.safety.heat, "drones_grounded": grounded}

    def final_state(self) -> dict:
        """Device state at the end of the run, kept in the event log (for ``export --format ngsi-ld``)."""
        lv = self.lights.level
        return {
            "lights": {p: round(v, 3) for p, v in lv.items() if v != 0},
            "poles_down": sorted(p for p in self.infra.powered if not self.infra.up(p)),
            "ap_clients": {a["id"]: a["clients"] for a in self.conn.ap_status() if a["clients"]},
            "chargers": {c["id"]: {"busy": c["busy"], "up": c["up"]} for c in self.mobility.status()},
        }

    def presence_by_pole(self) -> list[dict]:
        """People at each block, attributed to the block's nearest pole."""
        out: dict[str, int] = {}
        for b, n in enumerate(self.pop.present):
            if n:
                blk = self.d.blocks[b]
                pole = self._block_pole(b, blk.x, blk.y)
                out[pole] = out.get(pole, 0) + n
        return [{"pole": p, "people": n} for p, n in sorted(out.items())]

    _bp: dict[int, str] | None = None

    def _block_pole(self, b: int, x: float, y: float) -> str:
        if self._bp is None:
            self._bp = {}
        if b not in self._bp:
            self._bp[b] = min(self.d.poles, key=lambda p: (p.x - x) ** 2 + (p.y - y) ** 2).id
        return self._bp[b]
