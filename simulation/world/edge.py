"""Edge units: on-pole analytics that send clips instead of streams and verify detections.

An ``edge_unit`` a service installs serves the cameras the service operates within
``EDGE_LINK_M`` of its pole (a local link). Those cameras stop streaming full video over the fibre
and send event clips instead (``CLIP_SHARE`` of the bitrate on average), which frees backhaul.
The unit also re-checks the AI detections of those cameras before they leave the pole: a false
alarm is caught with probability ``CATCH_FALSE`` and never reaches the service (so no operator's
time goes on it); a true detection is passed on, marked ``"verified": True``. Catch draws come from
the named stream ``edge.verify``. A unit whose pole is down does nothing (its cameras are down too).
"""

from __future__ import annotations

import math

import simpy

from simulation.config.district import District
from simulation.rng import Streams
from simulation.world.infrastructure import Infrastructure

EDGE_LINK_M = 150.0  # judgement: one box serves the cameras around its junction
CLIP_SHARE = 0.15  # judgement: event clips average ~15% of a continuous stream's bitrate
CATCH_FALSE = 0.8  # judgement: a second, larger on-pole model rejects most false alarms


class Edge:
    """Edge units, the cameras they serve, and their verdicts."""

    def __init__(self, env: simpy.Environment, d: District, streams: Streams, infra: Infrastructure) -> None:
        self.env, self.d, self.infra = env, d, infra
        self.rng = streams("edge.verify")
        self.units: dict[str, tuple[str, str]] = {}  # unit id -> (pole, owner)
        self.served: dict[str, str] = {}  # camera id -> unit id
        self.saved_mbps = 0.0
        self.filtered = 0
        self.saved_at: dict[str, float] = {}  # camera id -> Mbps kept off the fibre (the maps)
        self.filtered_at: dict[str, int] = {}  # camera id -> false detections caught
        self.verified = 0

    def add_unit(self, mid: str, pole: str, owner: str, operates: set[str]) -> None:
        """An edge unit: its nearby operated cameras switch to clips."""
        self.units[mid] = (pole, owner)
        p = self.d.pole_by_id[pole]
        for cam in (*self.d.devices_of("camera"), *self.d.devices_of("ai_camera")):
            if cam.id not in operates or cam.id in self.served or math.hypot(cam.x - p.x, cam.y - p.y) > EDGE_LINK_M:
                continue
            key = f"camera:{cam.id}"
            if key not in self.infra.streams:
                continue
            cpole, mbps = self.infra.streams[key]
            self.infra.set_stream(key, cpole, mbps * CLIP_SHARE)
            self.saved_mbps += mbps * (1 - CLIP_SHARE)
            self.saved_at[cam.id] = mbps * (1 - CLIP_SHARE)
            self.served[cam.id] = mid

    def check(self, owner: str, items: tuple[dict, ...], truth: dict[str, dict]) -> tuple[dict, ...]:
        """A service's detections after its edge units' checks (false alarms caught, true ones verified)."""
        if not self.served:
            return items
        out = []
        for det in items:
            unit = self.served.get(det["camera"])
            if unit is None or self.units[unit][1] != owner or not self.infra.up(self.units[unit][0]):
                out.append(det)
                continue
            if truth.get(det["id"], {}).get("_incident") is None:
                if float(self.rng.random()) < CATCH_FALSE:
                    self.filtered += 1
                    self.filtered_at[det["camera"]] = self.filtered_at.get(det["camera"], 0) + 1
                    continue
                out.append(det)
            else:
                self.verified += 1
                out.append({**det, "verified": True})
        return tuple(out)
