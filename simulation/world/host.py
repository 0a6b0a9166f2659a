"""The world's side of the service contract: deploy, tick, validate and apply actions, feedback.

The world states what it needs from a running service (:class:`Runner`: deploy, tick, end, close;
:class:`ServiceFailure` for how it failed) and receives them ready made (:class:`ReadyService`).
Building runners — built-ins, manifests, sandboxes — is the plugin host's job
(``simulation.plugins.runners``); nothing here imports it. The host turns every failure of a
service into a recorded status and never lets it stop the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from simulation import sdk
from simulation.rng import stream

if TYPE_CHECKING:
    from simulation.world.engine import World

FATAL = {"crash", "timeout", "memory", "garbage", "deploy_error", "protocol"}
MAX_ERRORS_BEFORE_FAILED = 10
MAX_ACTIONS_PER_TICK = 1000


class ServiceFailure(Exception):
    """Raised by a runner when the service misbehaved; ``kind`` says how."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Runner(Protocol):
    """How the host talks to one service: plain data in, plain data out.

    ``tick`` gets the host's :class:`~simulation.sdk.Observation` (frozen, plain-data fields, but
    holding feed items the world may still use): the runner hands the service its own copy, inline
    through ``to_data``/``from_data``, sandboxed through the pipe.
    """

    isolation: str

    def deploy(self, site: dict, params: dict, seed: int) -> dict: ...
    def tick(self, obs: sdk.Observation) -> list: ...
    def end(self, summary: dict) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class ReadyService:
    """A service the world receives ready to run: its name in the scenario, runner, params, description.

    The world never builds these: the plugin host (``simulation.plugins.runners``) does, from a
    scenario's service list, so the world knows no manifests, discovery or sandboxes.
    """

    name: str
    runner: Runner
    params: dict
    info: dict


@dataclass
class ServiceState:
    """A service in the run: its runner, what it deployed, and how it behaved."""

    name: str
    runner: Runner
    params: dict
    info: dict
    seed: int
    status: str = "ok"
    errors: list[dict] = field(default_factory=list)
    actions: int = 0
    rejected: int = 0
    feeds: tuple[str, ...] = ()
    operates: set[str] = field(default_factory=set)
    installed: list[str] = field(default_factory=list)
    feedback: list[sdk.Feedback] = field(default_factory=list)
    delivered: set[str] = field(default_factory=set)
    lights: set[str] = field(default_factory=set)
    tick_no: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    fleet: tuple[sdk.FleetUnit, ...] = ()  # World II: vehicles the service brings
    market_share: float | None = None
    action_digests: list[str] = field(default_factory=list)  # one digest of the actions per tick it answered

    def record_actions(self, raw: Any) -> None:
        """Keep a digest of this tick's actions exactly as the service returned them (determinism check)."""
        try:
            text = repr(raw).encode("utf-8", "backslashreplace")
        except (RecursionError, ValueError, MemoryError):
            text = b"(actions that cannot be represented)"
        self.action_digests.append(hashlib.blake2b(text, digest_size=8).hexdigest())

    @property
    def active(self) -> bool:
        return self.status != "failed"

    def fail(self, t: float, kind: str, message: str) -> None:
        self.errors.append({"time": round(t, 1), "kind": kind, "message": message[:500]})
        if kind in FATAL or len(self.errors) >= MAX_ERRORS_BEFORE_FAILED:
            self.status = "failed"
        elif self.status == "ok":
            self.status = "degraded"

    def reject(self, index: int, action: str, reason: str) -> None:
        """Refuse one action (or install, subscription, fleet): feedback next tick, counted by reason."""
        self.feedback.append(sdk.Feedback(index, action, False, reason))
        self.rejected += 1
        key = f"{action}: {reason}"[:160]
        self.reasons[key] = self.reasons.get(key, 0) + 1

    def summary(self) -> dict:
        """The per-service block of a run result."""
        return {
            "status": self.status,
            "error": self.errors[0]["message"] if self.errors else None,
            "errors": self.errors,
            "actions": self.actions,
            "rejected_actions": self.rejected,
            "rejections": dict(sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))[:20]),
            "isolation": self.runner.isolation,
            "installed": list(self.installed),
            **{k: v for k, v in self.info.items() if k in ("use", "category")},
        }


def _current_cpu() -> int | None:
    """The CPU the calling thread runs on now (Linux), or None."""
    try:
        import ctypes

        cpu = int(ctypes.CDLL(None, use_errno=True).sched_getcpu())
    except (OSError, AttributeError, ValueError):
        return None
    return cpu if cpu >= 0 else None


@contextlib.contextmanager
def one_cpu(enabled: bool = True) -> Iterator[int | None]:
    """Keep the calling thread on the CPU it runs on now, until the block ends (then as before).

    A sandboxed service answers each decision tick over a pipe while the host waits, so host and
    service never run at once: on one CPU each call is a local switch, where on two every call
    wakes the other CPU (costly in a VM). Sandboxed services pin themselves to the host's CPU when
    they deploy. Yields the CPU, or None when there is nothing to pin (disabled, one CPU, not Linux).
    """
    old = os.sched_getaffinity(0) if enabled and hasattr(os, "sched_setaffinity") else set()
    cpu = _current_cpu() if len(old) > 1 else None
    if cpu is None or cpu not in old:
        yield None
        return
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, old)


def _service_seed(seed: int, name: str) -> int:
    """The seed a service's own random draws start from: its own named stream of the run's seed."""
    return int(stream(seed, f"service:{name}").integers(2**31))


class ServiceHost:
    """Deploys the scenario's services and runs their decision ticks."""

    def __init__(self, world: World, services: Sequence[ReadyService]) -> None:
        self.w = world
        self.services: list[ServiceState] = [
            ServiceState(s.name, s.runner, s.params, s.info, _service_seed(world.seed, s.name)) for s in services
        ]
        self.light_owner: dict[str, str] = {}
        self._readings: list[dict] = []
        self._clock = ""  # the clock of the tick being run (see tick)

    # ---------------------------------------------------------------- site view
    def site_view(self) -> sdk.SiteView:
        d, infra = self.w.d, self.w.infra
        poles = tuple(
            sdk.PoleInfo(
                p.id,
                round(p.x, 1),
                round(p.y, 1),
                p.model,
                p.road_class,
                p.modules,
                p.free_slots - infra.extra_slots[p.id],
                round(p.power_budget_w - p.base_power_w - infra.extra_power[p.id], 1),
                p.link,
            )
            for p in d.poles
        )
        devices = tuple(
            sdk.DeviceInfo(x.id, x.kind, x.pole, round(x.x, 1), round(x.y, 1), dict(x.props)) for x in d.devices
        )
        cc = d.meta.control_centre
        return sdk.SiteView(
            district=d.name,
            poles=poles,
            devices=devices,
            links=tuple(sdk.LinkInfo(lk.id, lk.a, lk.b, lk.capacity_mbps, lk.level) for lk in d.links),
            sites=tuple(sdk.SiteInfo(s.id, s.kind, round(s.x, 1), round(s.y, 1)) for s in d.sites),
            blocks=tuple(
                sdk.BlockInfo(b.id, b.land_use, b.residents, b.jobs, round(b.x, 1), round(b.y, 1)) for b in d.blocks
            ),
            module_types={k: v.model_dump() for k, v in d.catalogue.modules.items()},
            control_centre=cc.model_dump(),
            tick_s=self.w.sc.tick,
            duration_s=self.w.sc.duration,
            no_fly=tuple(self.w.logistics.no_fly),
        )

    # ---------------------------------------------------------------- deploy
    def deploy(self) -> None:
        site = sdk.to_data(self.site_view()) if self.services else None
        device_ids = {x.id for x in self.w.d.devices}
        for s in self.services:
            try:
                raw = s.runner.deploy(site or {}, s.params, s.seed)
                dep = sdk.from_data(raw)
                if not isinstance(dep, sdk.Deployment):
                    raise ServiceFailure("garbage", f"deploy returned a {type(dep).__name__}, not a Deployment")
            except ServiceFailure as exc:
                s.fail(self.w.env.now, exc.kind, f"deploy: {exc}")
                s.status = "failed"
                continue
            except ValueError as exc:
                s.fail(self.w.env.now, "garbage", f"deploy returned an invalid Deployment: {exc}")
                s.status = "failed"
                continue
            for feed in dep.feeds:
                if feed not in sdk.FEEDS:
                    s.feedback.append(
                        sdk.Feedback(-1, "subscribe", False, f"no feed {feed!r}; feeds: {', '.join(sorted(sdk.FEEDS))}")
                    )
            s.feeds = tuple(f for f in dep.feeds if f in sdk.FEEDS)
            for dev in dep.operates:
                if dev == "lights" or dev in device_ids:
                    s.operates.add(dev)
                else:
                    s.reject(-1, "operate", f"no device {dev!r} in this district")
            for k, inst in enumerate(dep.installs):
                mid = inst.id or f"{s.name}:{inst.module}:{k}"
                reason = self.w.infra.mount(mid, inst.pole, inst.module, s.name)
                if reason:
                    s.reject(k, "install", reason)
                else:
                    s.installed.append(mid)
                    s.feedback.append(sdk.Feedback(k, "install", True))
            s.fleet, s.market_share = tuple(dep.fleet), dep.market_share
            self.w.on_deployed(s)

    # ---------------------------------------------------------------- ticks
    def run(self):
        env, dt = self.w.env, self.w.sc.tick
        while True:
            self.tick()
            yield env.timeout(dt)

    def tick(self) -> None:
        w = self.w
        detections = w.safety.drain()
        # S-DoT readings are built only when someone reads them (~14k items a district-day)
        wanted = any(s.active and "sdot.readings" in s.feeds for s in self.services)
        self._readings = w.iot.filter_readings(w.environment.drain()) if wanted else []  # over LoRaWAN
        self._clock = w.clock(w.env.now)  # formatted once a tick, for every service
        for s in self.services:
            if not s.active:
                continue
            obs = self._observation(s, detections)
            s.feedback = []
            s.tick_no += 1
            try:
                raw = s.runner.tick(obs)
            except ServiceFailure as exc:
                s.fail(w.env.now, exc.kind, f"on_tick: {exc}")
                if not s.active:
                    self.safe_state(s)
                continue
            s.record_actions(raw)
            if len(raw) > MAX_ACTIONS_PER_TICK:
                s.fail(
                    w.env.now, "garbage", f"returned {len(raw)} actions in one tick (at most {MAX_ACTIONS_PER_TICK})"
                )
                raw = raw[:MAX_ACTIONS_PER_TICK]
            for i, item in enumerate(raw):
                s.actions += 1
                try:
                    action = sdk.from_data(item, actions_only=True)
                except (ValueError, TypeError) as exc:
                    reason: str | None = f"not a valid action: {exc}"
                    name = str(item.get("type")) if isinstance(item, dict) else type(item).__name__
                else:
                    name = type(action).__name__
                    try:
                        reason = w.apply(s, action)
                    except (TypeError, ValueError, AttributeError, KeyError) as exc:  # wrong types inside an action
                        reason = f"malformed {name}: {type(exc).__name__}: {exc}"[:300]
                if reason:
                    s.reject(i, name, reason)
                else:
                    s.feedback.append(sdk.Feedback(i, name, True))

    def _observation(self, s: ServiceState, detections: list[dict]) -> sdk.Observation:
        w = self.w
        feeds: dict[str, tuple[Mapping[str, Any], ...]] = {}
        for f in s.feeds:
            if f == "cctv.detections":
                items = w.edge.check(
                    s.name, tuple(d for d in detections if d["camera"] in s.operates), w.safety.detections
                )
                s.delivered.update(d["id"] for d in items)
                feeds[f] = items
            elif f == "wifi.load":
                feeds[f] = tuple(w.conn.ap_status(s.operates))
            elif f == "infra.status":
                feeds[f] = tuple(w.infra_changes)
            elif f == "lights.presence":
                feeds[f] = tuple(w.presence_by_pole())
            elif f == "sdot.readings":
                feeds[f] = tuple(self._readings)
            elif f == "logistics.requests":
                feeds[f] = tuple(w.logistics.drain(s.name))
            elif f == "ev.chargers":
                feeds[f] = tuple(w.mobility.status())
            elif f == "parking.occupancy":
                feeds[f] = tuple(w.parking.occupancy(s.name))
            elif f == "iot.network":
                feeds[f] = tuple(w.iot.status(s.name))
            elif f == "cellular.load":
                feeds[f] = tuple(w.cellular.status())
        modules = tuple(
            {
                "id": mid,
                "pole": w.infra.installed[mid][0],
                "module": w.infra.installed[mid][1],
                "up": w.infra.up(w.infra.installed[mid][0]),
            }
            for mid in s.installed
        )
        return sdk.Observation(
            time_s=w.env.now,
            clock=self._clock,
            tick=s.tick_no,
            daylight=w.lights.daylight(w.env.now),
            weather=w.weather(),
            feeds=feeds,
            modules=modules,
            feedback=tuple(s.feedback),
            fleet=w.logistics.fleet_state(s.name),
        )

    def safe_state(self, s: ServiceState) -> None:
        """A failed service's hardware goes quiet; lights it controlled return to full at night."""
        for mid in s.installed:
            self.w.infra.set_stream(f"transmit:{mid}", self.w.infra.installed[mid][0], 0.0)
        for pole, owner in list(self.light_owner.items()):
            if owner == s.name:
                self.w.lights.set(pole, 1.0 if not self.w.lights.daylight(self.w.env.now) else 0.0)
                del self.light_owner[pole]
        self.w.safety.wall -= {c for c in s.operates}
        self.w.log.add(self.w.env.now, "service.failed", s.name, errors=len(s.errors))

    def end(self) -> None:
        for s in self.services:
            if s.active:
                summary = sdk.EndSummary(self.w.env.now, s.actions, s.rejected)
                try:
                    s.runner.end(sdk.to_data(summary))
                except ServiceFailure as exc:
                    s.fail(self.w.env.now, exc.kind, str(exc))
            s.runner.close()

    def close(self) -> None:
        """Stop every service's process without telling it the run ended (the run stopped short)."""
        for s in self.services:
            with contextlib.suppress(Exception):
                s.runner.close()
