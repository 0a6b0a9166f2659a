"""The LoRaWAN IoT network: gateways on poles carry S-DoT readings and the sensors services install.

Every end device (the district's S-DoT sensors, and any ``sensor`` or ``parking_sensor`` module a
service installs) sends a small uplink every ``interval``. The network is evaluated per state, not
per packet: it is recomputed when a pole (so a gateway) goes down or comes back, or a device or
gateway is installed, and packets are counted per device over each state's span.

- Range and spreading factor: a device uses the lowest SF at which its nearest working gateway is
  in range (ADR); range grows with SF (``RANGE_SF7_M`` × ``RANGE_STEP`` per SF step).
- Airtime: a 25-byte packet takes 36 ms at SF7 and 682 ms at SF12 (FACTS), geometric in between.
- Duty cycle: 1% (FACTS): a device may send at most once per 100 airtimes; faster readings are lost.
- Collisions: pure ALOHA at each gateway and SF over ``CHANNELS`` channels: a packet survives with
  probability exp(-2G), G the offered load of the devices heard there plus background traffic.
- A packet is delivered if any working gateway in range receives it (LoRaWAN has no handover):
  when a gateway's pole loses power or backhaul its devices move to the next gateway (at a higher
  SF, more airtime, more collisions) or, with none in range, their traffic is lost.

Delivered counts are drawn from the named streams ``iot.packets`` (counts) and ``iot.sdot`` (one
uniform per S-DoT reading, which decides both the ``sdot.readings`` feed and the KPIs).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import simpy

from simulation.config.district import District
from simulation.rng import Streams
from simulation.world.infrastructure import Infrastructure

SF_RANGE = range(7, 13)
AIRTIME_S = {sf: 0.036 * (0.682 / 0.036) ** ((sf - 7) / 5) for sf in SF_RANGE}  # FACTS: 36 ms .. 682 ms
RANGE_SF7_M = 860.0  # FACTS: urban range at SF7 about 0.86 km
RANGE_STEP = 1.25  # judgement: each SF step adds ~2.5 dB of link budget, ~25% range in town
DUTY_CYCLE = 0.01  # FACTS: 1%
CHANNELS = 8  # judgement: an 8-channel gateway
BACKGROUND_G = 0.02  # judgement: other operators' devices on the same channels (offered load per channel)
NETWORK_S = 0.5  # judgement: gateway to network server to platform
INTERVAL_S = {"sdot": 120.0, "sensor": 120.0, "parking_sensor": 60.0}  # S-DoT: FACTS; parking: judgement


@dataclass
class EndDevice:
    """An end device: where it is, how often it sends, and its link now."""

    id: str
    kind: str
    pole: str
    x: float
    y: float
    interval_s: float
    owner: str = ""
    sf: int = 0  # 0: no gateway in range
    gateway: str = ""
    p: float = 0.0  # delivery probability of one reading now
    latency_s: float = math.nan
    sent: int = 0
    delivered: int = 0
    latency_sum: float = 0.0


class IoT:
    """Gateways, end devices, and the delivery of their uplinks."""

    def __init__(self, env: simpy.Environment, d: District, streams: Streams, infra: Infrastructure) -> None:
        self.env, self.d, self.infra = env, d, infra
        self.gateways: dict[str, tuple[str, float, float]] = {g.id: (g.pole, g.x, g.y) for g in d.devices_of("gateway")}
        self.devices: dict[str, EndDevice] = {}
        self.sdot = [s.id for s in d.devices_of("sensor")]
        for s in d.devices_of("sensor"):
            self.devices[s.id] = EndDevice(s.id, "sdot", s.pole, s.x, s.y, float(s.get("interval_s", 120.0)))
        self.rng = streams("iot.packets")
        self._dev_rng = streams("iot.devices")
        self.sensor_up: Callable[[int, float], bool] | None = None  # S-DoT sensor i working at t (environment)
        self._sdot_u: np.ndarray | None = None
        self._sdot_seed = streams("iot.sdot")
        self.sdot_index = {sid: i for i, sid in enumerate(self.sdot)}
        self.sdot_delivered: dict[str, int] = {}
        self._since = 0.0
        self.gw_load: dict[str, float] = {}
        infra.listeners.append(lambda _down, _back: self.update())
        self._assign()

    def horizon(self, n_samples: int, sensor_up: Callable[[int, float], bool]) -> None:
        """Draw one uniform per S-DoT reading of the run (sensor x 2-minute sample); learn when sensors work."""
        self._sdot_u = self._sdot_seed.random((len(self.sdot), n_samples))
        self.sensor_up = sensor_up

    # ---------------------------------------------------------------- topology
    def add_gateway(self, mid: str, pole: str) -> None:
        """A gateway a service installed."""
        p = self.d.pole_by_id[pole]
        self.gateways[mid] = (pole, p.x, p.y)
        self.update()

    def add_device(self, mid: str, kind: str, pole: str, owner: str) -> None:
        """A sensor a service installed: it sends through the LoRaWAN network."""
        p = self.d.pole_by_id[pole]
        self.devices[mid] = EndDevice(mid, kind, pole, p.x, p.y, INTERVAL_S.get(kind, 120.0), owner)
        self.update()

    def update(self) -> None:
        """Count packets up to now under the old state, then re-evaluate the network."""
        self._account(float(self.env.now))
        self._assign()

    def _assign(self) -> None:
        up = [(gid, x, y) for gid, (pole, x, y) in self.gateways.items() if self.infra.up(pole)]
        heard: dict[str, list[str]] = {}
        for dev in self.devices.values():
            dists = sorted((math.hypot(x - dev.x, y - dev.y), gid) for gid, x, y in up)
            dev.sf, dev.gateway, dev.p = 0, "", 0.0
            if not dists or dists[0][0] > RANGE_SF7_M * RANGE_STEP**5:
                heard[dev.id] = []
                continue
            dev.gateway = dists[0][1]
            dev.sf = next(sf for sf in SF_RANGE if dists[0][0] <= RANGE_SF7_M * RANGE_STEP ** (sf - 7))
            reach = RANGE_SF7_M * RANGE_STEP ** (dev.sf - 7)
            heard[dev.id] = [gid for dist, gid in dists if dist <= reach]
        load: dict[tuple[str, int], float] = {}
        for dev in self.devices.values():
            for gid in heard[dev.id]:
                key = (gid, dev.sf)
                load[key] = load.get(key, 0.0) + AIRTIME_S[dev.sf] / dev.interval_s / CHANNELS
        self.gw_load = {}
        for (gid, _sf), g in load.items():
            self.gw_load[gid] = self.gw_load.get(gid, 0.0) + g
        for dev in self.devices.values():
            if not dev.sf:
                dev.latency_s = math.nan
                continue
            miss = 1.0
            for gid in heard[dev.id]:
                miss *= 1.0 - math.exp(-2.0 * (load[(gid, dev.sf)] + BACKGROUND_G))
            airtime = AIRTIME_S[dev.sf]
            allowed = min(1.0, dev.interval_s * DUTY_CYCLE / airtime)  # readings the duty cycle lets out
            dev.p = allowed * (1.0 - miss)
            dev.latency_s = airtime + NETWORK_S

    def _account(self, now: float) -> None:
        """Packets sent and delivered by every device from the last state change until ``now``."""
        a = self._since
        if now <= a:
            return
        u, up = self._sdot_u, self.sensor_up
        for dev in self.devices.values():
            if dev.kind == "sdot":  # reading by reading: taken (sensor working) and through the network
                i = self.sdot_index[dev.id]
                if u is None or up is None:
                    continue
                for j in range(int(math.ceil(a / 120.0)), min(int(math.ceil(now / 120.0)), u.shape[1])):
                    if up(i, j * 120.0):
                        dev.sent += 1
                        if u[i, j] < dev.p:
                            dev.delivered += 1
                            dev.latency_sum += dev.latency_s
                continue
            n = int(now // dev.interval_s) - int(a // dev.interval_s)
            if n <= 0:
                continue
            ok = int(self.rng.binomial(n, dev.p)) if dev.p > 0 else 0
            dev.sent += n
            dev.delivered += ok
            dev.latency_sum += ok * (dev.latency_s if dev.sf else 0.0)
        self._since = now

    # ---------------------------------------------------------------- S-DoT readings
    def sdot_ok(self, sensor: str, j: int) -> bool:
        """Whether S-DoT ``sensor``'s reading number ``j`` reaches the platform (under the network now)."""
        i = self.sdot_index.get(sensor)
        if i is None or self._sdot_u is None or j >= self._sdot_u.shape[1]:
            return True
        return bool(self._sdot_u[i, j] < self.devices[sensor].p)

    def filter_readings(self, readings: list[dict]) -> list[dict]:
        """The S-DoT readings of the ``sdot.readings`` feed that travelled over the network."""
        return [r for r in readings if self.sdot_ok(r["sensor"], int(round(r["time_s"]) // 120))]

    def uplink_ok(self, mid: str) -> bool:
        """Whether a service device's latest uplink got through (one draw per ask)."""
        dev = self.devices.get(mid)
        return dev is not None and dev.p > 0 and float(self._dev_rng.random()) < dev.p

    # ---------------------------------------------------------------- results and views
    def finish(self) -> None:
        """Close the counts at the end of the run."""
        self._account(float(self.env.now))

    def totals(self) -> dict[str, float]:
        """Uplinks sent, delivered, mean latency of delivered ones, S-DoT availability at the platform."""
        sent = sum(d.sent for d in self.devices.values())
        ok = sum(d.delivered for d in self.devices.values())
        lat = sum(d.latency_sum for d in self.devices.values())
        sdot_sent = sum(self.devices[s].sent for s in self.sdot)
        sdot_ok = sum(self.devices[s].delivered for s in self.sdot)
        return {
            "sent": float(sent),
            "delivered": float(ok),
            "latency_s": lat / ok if ok else math.nan,
            "sdot_scheduled": float(sdot_sent),
            "sdot_delivered": float(sdot_ok),
        }

    def status(self, owner: str) -> list[dict]:
        """The ``iot.network`` feed: every gateway, and the service's own devices."""
        out: list[dict] = [
            {
                "id": gid,
                "kind": "gateway",
                "pole": pole,
                "up": self.infra.up(pole),
                "load": round(self.gw_load.get(gid, 0), 4),
                "gateway": "",
                "sf": 0,
                "delivery_pct": 0.0,
            }
            for gid, (pole, _x, _y) in self.gateways.items()
        ]
        out.extend(
            {
                "id": d.id,
                "kind": d.kind,
                "pole": d.pole,
                "up": self.infra.up(d.pole),
                "load": 0.0,
                "gateway": d.gateway or "",
                "sf": int(d.sf),
                "delivery_pct": round(100 * d.p, 2),
            }
            for d in self.devices.values()
            if d.owner == owner
        )
        return out
