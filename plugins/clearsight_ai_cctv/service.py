"""Clearsight Analytics: edge AI re-scoring of CCTV detections for selective control.

Written against ``simulation.sdk`` only, as an outside company would. The policy:

1. deploy: with ``dock_watch``, first one edge unit on each drone dock's pole (or the nearest pole
   with room within 50 m) to watch the landing area; then each further edge unit on the pole (with
   a free slot and power headroom) where it covers the most AI cameras within ``coverage_m`` not
   yet covered; operate the AI cameras the units cover.
2. every tick: group the detections of the tick into events (same place, same two minutes); an
   event seen by two or more cameras is escalated at once (highest confidence, high priority);
   a single-camera event is escalated if its confidence reaches the bar for its label
   (``threshold`` for "crime", where false alarms concentrate; ``threshold_other`` otherwise).
3. keep each working edge unit streaming ``clip_mbps`` of event clips over the backhaul.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from simulation.sdk import Action, Deployment, Flag, Install, Observation, Service, SiteView, Transmit

# The company's model: camera false alarms concentrate in the "crime" label (loitering, shadows,
# reflections), so crime detections need more confidence than fires, accidents and falls.
NOISY_LABELS = {"crime"}
URGENT = {"fire", "accident"}
DOCK_WATCH_M = 50.0  # a dock-watch unit's pole must see the landing pad


class ClearsightAnalytics(Service):
    """Edge units re-score AI-camera detections; only likely-real events reach the operators."""

    def deploy(self, site: SiteView, params: Mapping[str, Any]) -> Deployment:
        self.threshold = float(params["threshold"])
        self.threshold_other = float(params["threshold_other"])
        self.corroborate_m = float(params["corroborate_m"])
        self.clip_mbps = float(params["clip_mbps"])
        cover = float(params["coverage_m"])
        ai = [c for c in site.devices_of("camera") if c.props.get("camera_type") == "ai"]
        catalogue = site.module_types.get("edge_unit", {})
        need_w = float(catalogue.get("power_w", 40.0))
        room = [
            p for p in site.poles if p.free_slots >= 1 and p.power_headroom_w >= need_w and p.road_class != "pedestrian"
        ]

        def around(x: float, y: float) -> set[str]:
            return {c.id for c in ai if math.hypot(c.x - x, c.y - y) <= cover}

        units = int(params["edge_units"])
        chosen: list[tuple[str, set[str]]] = []
        covered: set[str] = set()
        if params["dock_watch"]:  # the landing areas first: the dock's own pole, else the nearest one
            for d in sorted(site.devices_of("drone_dock"), key=lambda d: d.id):
                taken = {q for q, _n in chosen}
                near_dock = [p for p in room if p.id not in taken and math.hypot(p.x - d.x, p.y - d.y) <= DOCK_WATCH_M]
                if len(chosen) >= units or not near_dock:
                    continue
                p = min(near_dock, key=lambda p: (math.hypot(p.x - d.x, p.y - d.y), p.id))
                chosen.append((p.id, around(p.x, p.y)))
                covered |= chosen[-1][1]
        taken = {q for q, _n in chosen}
        candidates = {p.id: near for p in room if p.id not in taken and (near := around(p.x, p.y))}
        # greedy set cover: each further edge unit goes where it adds the most cameras not yet covered
        while len(chosen) < units and candidates:
            pole = max(sorted(candidates), key=lambda q: len(candidates[q] - covered))
            gain = candidates.pop(pole) - covered
            if not gain:
                break
            chosen.append((pole, gain))
            covered |= gain
        self.unit_cameras = {f"clearsight-edge-{i + 1}": set(near) for i, (_p, near) in enumerate(chosen)}
        self.streaming: dict[str, float] = {}
        installs = tuple(Install(pole, "edge_unit", f"clearsight-edge-{i + 1}") for i, (pole, _n) in enumerate(chosen))
        return Deployment(installs=installs, operates=tuple(sorted(covered)), feeds=("cctv.detections",))

    def on_tick(self, obs: Observation) -> Sequence[Action]:
        working = {m["id"] for m in obs.modules if m["up"]}
        cameras = set().union(*(self.unit_cameras.get(u, set()) for u in working)) if working else set()
        out: list[Action] = []
        for unit in sorted(self.unit_cameras):  # clips flow only from edge units that are mounted and up
            want = self.clip_mbps if unit in working else 0.0
            mounted = any(m["id"] == unit for m in obs.modules)
            if mounted and self.streaming.get(unit) != want:
                self.streaming[unit] = want
                out.append(Transmit(unit, want))
        events: list[list[Mapping[str, Any]]] = []
        for d in sorted(obs.feed("cctv.detections"), key=lambda d: (d["time_s"], d["id"])):
            if d["camera"] not in cameras:
                continue
            for ev in events:
                first = ev[0]
                if (
                    math.hypot(d["x"] - first["x"], d["y"] - first["y"]) <= self.corroborate_m
                    and abs(d["time_s"] - first["time_s"]) <= 120
                ):
                    ev.append(d)
                    break
            else:
                events.append([d])
        for ev in events:
            best = max(ev, key=lambda d: (d["confidence"], d["id"]))
            cams = {d["camera"] for d in ev}
            bar = self.threshold if best["label"] in NOISY_LABELS else self.threshold_other
            if len(cams) >= 2 or best["confidence"] >= bar:
                urgent = len(cams) >= 2 or best["label"] in URGENT
                out.append(Flag(best["id"], priority=1 if urgent else 0))
        return out
