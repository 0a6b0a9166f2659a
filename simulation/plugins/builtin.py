"""Reference services: conventional CCTV monitoring, the installed public WiFi, streetlights.

They use exactly the SDK a company uses (and import nothing else from the package), so a baseline
is "the city's services as they are" and a candidate adds or replaces one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from simulation.sdk import Action, Deployment, Flag, Observation, Service, SetLight, SiteView, View


class CCTVMonitoring(Service):
    """Operators rotate camera feeds over the video wall; AI detections are flagged first.

    Params: ``rotate_every_s`` (how often the wall changes), ``flag_threshold`` (AI detections at
    or above this confidence are flagged; the plan's selective control), ``selective`` (flag at all).
    """

    def deploy(self, site: SiteView, params: Mapping[str, Any]) -> Deployment:
        self.cameras = [c.id for c in site.devices_of("camera")]
        cc = site.control_centre
        self.screens = int(cc["screens_per_operator"]) * int(min(cc["operators_day"], cc["operators_night"]))
        self.every = float(params["rotate_every_s"])
        self.threshold = float(params["flag_threshold"])
        self.selective = bool(params["selective"])
        self.next_rotate = 0.0
        self.offset = 0
        return Deployment(operates=tuple(self.cameras), feeds=("cctv.detections",))

    def on_tick(self, obs: Observation) -> Sequence[Action]:
        out: list[Action] = []
        if self.selective:
            out += [Flag(d["id"]) for d in obs.feed("cctv.detections") if d["confidence"] >= self.threshold]
        if obs.time_s >= self.next_rotate and self.cameras:
            n = min(self.screens, len(self.cameras))
            view = [self.cameras[(self.offset + k) % len(self.cameras)] for k in range(n)]
            self.offset = (self.offset + n) % len(self.cameras)
            self.next_rotate = obs.time_s + self.every
            out.append(View(tuple(view)))
        return out


class PublicWifi(Service):
    """The installed public WiFi: operates every AP in the district, as it is."""

    def deploy(self, site: SiteView, params: Mapping[str, Any]) -> Deployment:
        return Deployment(operates=tuple(a.id for a in site.devices_of("ap")))


class Streetlights(Service):
    """Streetlights on the city's fixed schedule: full from sunset to sunrise."""

    def deploy(self, site: SiteView, params: Mapping[str, Any]) -> Deployment:
        self.poles = tuple(p.id for p in site.poles)
        self.level = float(params["night_level"])
        self.state: bool | None = None
        return Deployment(operates=("lights",))

    def on_tick(self, obs: Observation) -> Sequence[Action]:
        night = not obs.daylight
        if night == self.state:
            return []
        self.state = night
        return [SetLight(self.poles, self.level if night else 0.0)]


@dataclass(frozen=True)
class BuiltinService:
    """A built-in service: its class, what it does, and its params (default, min, max)."""

    cls: type[Service]
    description: str
    category: str
    params: Mapping[str, tuple[Any, Any, Any]] = field(default_factory=dict)
    takeover: str = ""  # how a company's service takes over from it (printed in the SDK reference)


BUILTINS: Mapping[str, BuiltinService] = {
    "cctv_monitoring": BuiltinService(
        CCTVMonitoring,
        "Conventional CCTV monitoring by control-centre operators, with selective control of AI detections",
        "safety",
        {"rotate_every_s": (120.0, 10.0, 3600.0), "flag_threshold": (0.5, 0.0, 1.0), "selective": (True, None, None)},
        "It operates every camera and, listed first in every baseline, acts first each tick: it flags each AI "
        "detection at or above flag_threshold before the actions of services listed after it are applied, so "
        "their Flag of the same detection is rejected ('was already flagged'). To hand flagging over, keep it and set "
        "`params: {selective: false}` (it still rotates the wall), or raise flag_threshold to leave low-confidence "
        "detections to you; to take over the wall too, remove it (`remove: true`) and send your own View. Two "
        "services may operate the same camera: both receive its detections.",
    ),
    "public_wifi": BuiltinService(
        PublicWifi,
        "The district's installed public WiFi (S-Net APs)",
        "connectivity",
        takeover="An AP serves sessions only while some service operates it. To replace the city's WiFi, remove "
        "this service and operate the APs yourself (Deployment.operates with their ids); keep it to add to it.",
    ),
    "streetlights": BuiltinService(
        Streetlights,
        "Streetlights on the fixed city schedule (sunset to sunrise)",
        "energy",
        {"night_level": (1.0, 0.0, 1.0)},
        "It sets every pole's light at sunset and sunrise; the last SetLight on a pole wins. To control the lights, "
        "remove it (`use: builtin:streetlights` with `remove: true`) and deploy with operates=('lights',).",
    ),
}
