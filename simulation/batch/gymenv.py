"""A service slot as a Gymnasium environment: ``gymnasium.make("PilotSandbox/ServiceSlot-v0", scenario=...)``.

The agent takes the place of one service of a scenario — the *slot*, today the ``streetlights``
service — and gets exactly what a company's service gets through the SDK, one step per decision
tick (the scenario's ``tick``):

observation (``Box``, float32), from the tick's :class:`simulation.sdk.Observation`
    ``[sin(2π·hour/24), cos(2π·hour/24), daylight (0/1), people near the poles of group 1 … group G]``
    — the clock, ``Observation.daylight`` and the ``lights.presence`` feed summed per pole group
    (the poles split into ``groups`` bands west to east of :class:`simulation.sdk.SiteView`).
action (``Box(0, 1, (G,))``)
    a light level per pole group, sent as one :class:`simulation.sdk.SetLight` per group.
reward
    0 at every step; at the last step Σ weight × KPI over ``reward`` (KPI name -> weight), by
    default ``energy.lit_where_people_pct`` × 0.01 − ``energy.kwh_per_pole`` (light where people
    are, spend little energy; a judgement: pass ``reward=`` to choose). ``info["kpis"]`` holds every KPI.

The world runs in a worker thread that stops at each tick until :meth:`step` gives the action, so
an episode is one ordinary run: same scenario, seed and actions -> the same KPIs, bit for bit.
``reset(seed=s)`` runs the scenario with seed ``s`` (default: the scenario's seed).
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simulation import sdk
from simulation.errors import ScenarioError

ENV_ID = "PilotSandbox/ServiceSlot-v0"
SLOTS = ("streetlights",)
MAX_PEOPLE = 1e6  # the observation's bound on people near a group of poles
DEFAULT_REWARD = {"energy.lit_where_people_pct": 0.01, "energy.kwh_per_pole": -1.0}

try:  # gymnasium is the [research] extra; the module imports without it for documentation
    import gymnasium as gym
    from gymnasium import spaces

    _Base: Any = gym.Env
except ImportError:  # pragma: no cover - only without the extra
    gym = None  # type: ignore[assignment]
    _Base = object


class _Abort(Exception):
    """The env was reset or closed mid-episode."""


class _Slot(sdk.Service):
    """The service in the slot: hands each observation to the env and returns the env's action."""

    def __init__(self, bridge: _Bridge) -> None:
        self.bridge = bridge

    def deploy(self, site: sdk.SiteView, params: Mapping[str, Any]) -> sdk.Deployment:
        self.bridge.set_site(site)
        return sdk.Deployment(operates=("lights",), feeds=("lights.presence",))

    def on_tick(self, obs: sdk.Observation) -> Sequence[sdk.Action]:
        levels = self.bridge.exchange(obs)
        if levels is None:  # aborted: let the run finish quietly
            return []
        return [sdk.SetLight(tuple(g), float(lv)) for g, lv in zip(self.bridge.groups, levels, strict=True) if g]


class _Bridge:
    """Hands observations from the world's thread to the env and actions back."""

    def __init__(self, n_groups: int) -> None:
        self.n_groups = n_groups
        self.obs: queue.Queue = queue.Queue()
        self.act: queue.Queue = queue.Queue()
        self.groups: list[list[str]] = []
        self.pole_group: dict[str, int] = {}
        self.aborted = False

    def set_site(self, site: sdk.SiteView) -> None:
        poles = sorted(site.poles, key=lambda p: (p.x, p.id))
        k = max(1, math.ceil(len(poles) / self.n_groups))
        self.groups = [[p.id for p in poles[i * k : (i + 1) * k]] for i in range(self.n_groups)]
        self.pole_group = {pid: g for g, ids in enumerate(self.groups) for pid in ids}

    def exchange(self, obs: sdk.Observation) -> np.ndarray | None:
        if self.aborted:
            return None
        self.obs.put(("obs", obs))
        levels = self.act.get()
        return None if levels is None else levels


class ServiceSlotEnv(_Base):
    """One scenario with the agent in a service's slot (see the module docstring)."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012

    def __init__(
        self,
        scenario: str | Path,
        slot: str = "streetlights",
        reward: Mapping[str, float] | None = None,
        groups: int = 4,
        seed: int | None = None,
    ) -> None:
        from simulation.config.scenario import load_scenario
        from simulation.results.kpis import CATALOGUE

        if gym is None:
            raise ImportError("the Gymnasium slot needs gymnasium: pip install 'pilot-district-sandbox[research]'")
        self.sc = load_scenario(scenario)
        if slot not in SLOTS:
            raise ScenarioError(
                self.sc.source or scenario, f"slot {slot!r} is not supported; slots: {', '.join(SLOTS)}"
            )
        keys = [s.key for s in self.sc.services]
        if slot not in keys:
            raise ScenarioError(
                self.sc.source or scenario,
                f"the scenario has no service {slot!r} to put the agent in place of; its services: {', '.join(keys)}",
                key="services",
            )
        self.reward_weights = dict(DEFAULT_REWARD if reward is None else reward)
        for k in self.reward_weights:
            if k not in CATALOGUE:
                raise ScenarioError(
                    self.sc.source or scenario, f"reward: unknown KPI {k!r}; see `python -m simulation kpis`"
                )
        if not 1 <= groups <= 64:
            raise ScenarioError(self.sc.source or scenario, f"groups must be from 1 to 64; got {groups}")
        self.slot, self.n_groups, self.default_seed = slot, groups, seed if seed is not None else self.sc.seed
        self.action_space = spaces.Box(0.0, 1.0, shape=(groups,), dtype=np.float32)
        low = np.array([-1, -1, 0] + [0] * groups, dtype=np.float32)
        high = np.array([1, 1, 1] + [MAX_PEOPLE] * groups, dtype=np.float32)
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self.max_steps = math.ceil(self.sc.duration / self.sc.tick)
        self._thread: threading.Thread | None = None
        self._bridge: _Bridge | None = None
        self._last = np.zeros(3 + groups, dtype=np.float32)

    # ---------------------------------------------------------------- episode
    def _vector(self, obs: sdk.Observation) -> np.ndarray:
        assert self._bridge is not None
        hour = (self.sc.start.hour + self.sc.start.minute / 60 + obs.time_s / 3600) % 24
        people = np.zeros(self.n_groups)
        for item in obs.feed("lights.presence"):
            g = self._bridge.pole_group.get(str(item["pole"]))
            if g is not None:
                people[g] = min(MAX_PEOPLE, people[g] + float(item["people"]))
        head = [math.sin(2 * math.pi * hour / 24), math.cos(2 * math.pi * hour / 24), float(obs.daylight)]
        return np.asarray(head + people.tolist(), dtype=np.float32)

    def _run(self, seed: int, bridge: _Bridge) -> None:
        from simulation.config.scenario import scenario_district
        from simulation.plugins.inline import InlineRunner
        from simulation.plugins.runners import start_services
        from simulation.results.kpis import compute_kpis
        from simulation.world import World
        from simulation.world.host import ReadyService

        try:
            others = [s for s in self.sc.services if s.key != self.slot]
            ready = start_services(others, self.sc.source or self.sc.name)
            slot = ReadyService(self.slot, InlineRunner(_Slot(bridge)), {}, {"code": "gym:slot", "isolation": "inline"})
            order = [s.key for s in self.sc.services]
            services = sorted([*ready, slot], key=lambda r: order.index(r.name))
            world = World(scenario_district(self.sc), self.sc, seed, services, share_cpu=False)
            world.run()
            bridge.obs.put(("done", compute_kpis(world)))
        except BaseException as exc:  # handed to the env's thread
            bridge.obs.put(("error", exc))

    def _stop(self) -> None:
        if self._thread is not None and self._thread.is_alive() and self._bridge is not None:
            self._bridge.aborted = True
            self._bridge.act.put(None)
            self._thread.join(timeout=120)
        self._thread, self._bridge = None, None

    def _next(self) -> tuple[str, Any]:
        assert self._bridge is not None
        kind, payload = self._bridge.obs.get()
        if kind == "error":
            self._thread = None
            raise payload
        return kind, payload

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Start an episode: the scenario with ``seed`` (default: the env's), up to its first decision tick."""
        super().reset(seed=seed)
        self._stop()
        run_seed = self.default_seed if seed is None else int(seed)
        self._bridge = _Bridge(self.n_groups)
        self._steps = 0
        self._thread = threading.Thread(target=self._world_thread, args=(run_seed,), daemon=True)
        self._thread.start()
        kind, payload = self._next()
        if kind == "done":
            raise ScenarioError(self.sc.source or self.sc.name, "the scenario ends before the slot's first tick")
        self._last = self._vector(payload)
        return self._last.copy(), {"time_s": payload.time_s, "clock": payload.clock}

    def _world_thread(self, seed: int) -> None:
        assert self._bridge is not None
        self._run(seed, self._bridge)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Apply the light levels, run to the next decision tick (or the end) and observe."""
        if self._bridge is None or self._thread is None:
            raise RuntimeError("call reset() before step()")
        levels = np.clip(np.asarray(action, dtype=np.float64).reshape(self.n_groups), 0.0, 1.0)
        self._bridge.act.put(levels)
        self._steps += 1
        kind, payload = self._next()
        if kind == "done":
            kpis = {k: v for k, v in payload.items() if v is not None and not math.isnan(v)}
            reward = float(sum(w * kpis.get(k, 0.0) for k, w in self.reward_weights.items()))
            self._thread.join(timeout=60)
            self._thread = None
            return self._last.copy(), reward, True, False, {"kpis": kpis}
        self._last = self._vector(payload)
        return self._last.copy(), 0.0, False, False, {"time_s": payload.time_s, "clock": payload.clock}

    def close(self) -> None:
        """Stop a running episode's world."""
        self._stop()


def register() -> None:
    """Register :data:`ENV_ID` with gymnasium (the entry point is a string: nothing heavy is imported)."""
    import gymnasium

    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point="simulation.batch.gymenv:ServiceSlotEnv")
