"""The Gymnasium slot: registered after `import simulation`, check_env, deterministic episodes, a trained policy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from conftest import BASE_SERVICES, ROOT, write_scenario
from gymnasium.utils.env_checker import check_env

import simulation  # noqa: F401  (registers the env)
from simulation.errors import ScenarioError

ID = "PilotSandbox/ServiceSlot-v0"


@pytest.fixture(scope="module")
def night(tiny_district: Path, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("gym")
    return write_scenario(
        folder,
        "night",
        {
            "district": str(tiny_district),
            "start": "2026-05-12T21:00",
            "duration": "1h",
            "population_scale": 0.5,
            "seed": 3,
            "services": BASE_SERVICES,
        },
    )


def test_import_simulation_does_not_import_gymnasium_but_registers_the_env() -> None:
    code = (
        "import sys, simulation\n"
        "assert 'gymnasium' not in sys.modules\n"
        "import gymnasium\n"
        f"assert {ID!r} in gymnasium.registry\n"
        "assert 'simulation.batch.gymenv' in sys.modules  # registration only; the env class loads at make()\n"
    )
    r = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]


def test_spaces_come_from_the_sdk_messages_and_check_env_passes(night: Path) -> None:
    env = gymnasium.make(ID, scenario=str(night), groups=3)
    assert env.action_space.shape == (3,) and env.observation_space.shape == (6,)
    obs, info = env.reset(seed=1)
    assert info["clock"] == "2026-05-12T21:00:00" and obs[2] == 0.0  # night: daylight 0
    assert obs[3:].sum() > 0  # people near the poles (the lights.presence feed)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def _episode(env, level: float, seed: int) -> tuple[float, dict, int]:
    env.reset(seed=seed)
    done, steps = False, 0
    while not done:
        _, reward, done, truncated, info = env.step(np.full(env.action_space.shape, level, dtype=np.float32))
        steps += 1
        assert not truncated
    return reward, info["kpis"], steps


def test_one_step_per_tick_deterministic_and_reward_from_kpis(night: Path) -> None:
    env = gymnasium.make(ID, scenario=str(night), reward={"energy.lighting_kwh": -1.0})
    r1, k1, steps = _episode(env, 0.5, seed=7)
    r2, k2, _ = _episode(env, 0.5, seed=7)
    assert steps == 60  # 1 h at the default 60 s decision tick
    assert k1 == k2 and r1 == r2 == -k1["energy.lighting_kwh"]
    _, dark, _ = _episode(env, 0.0, seed=7)
    _, full, _ = _episode(env, 1.0, seed=7)
    assert dark["energy.lighting_kwh"] < k1["energy.lighting_kwh"] < full["energy.lighting_kwh"]
    assert dark["energy.lit_where_people_pct"] < full["energy.lit_where_people_pct"]
    env.close()


def test_a_trivial_policy_learns_the_best_constant_level(night: Path) -> None:
    """Epsilon-greedy over three constant light levels, a few episodes on different seeds."""
    env = gymnasium.make(ID, scenario=str(night))
    levels = [0.0, 0.4, 1.0]
    totals, counts = np.zeros(3), np.zeros(3)
    rng = np.random.default_rng(0)
    for episode in range(8):
        arm = (
            episode
            if episode < 3
            else (int(rng.integers(3)) if rng.random() < 0.2 else int(np.argmax(totals / counts)))
        )
        reward, _, _ = _episode(env, levels[arm], seed=episode + 1)
        totals[arm] += reward
        counts[arm] += 1
    best = int(np.argmax(totals / counts))
    # the default reward (light where people are, little energy) prefers some light to none
    assert levels[best] > 0.0 and counts[best] >= 3
    env.close()


def test_bad_slot_and_reward_are_named(night: Path) -> None:
    with pytest.raises(ScenarioError, match="slot 'cctv' is not supported; slots: streetlights"):
        gymnasium.make(ID, scenario=str(night), slot="cctv")
    with pytest.raises(ScenarioError, match=r"reward: unknown KPI 'energy\.nope'"):
        gymnasium.make(ID, scenario=str(night), reward={"energy.nope": 1.0})
    no_lights = write_scenario(
        night.parent, "nolights", {"district": yaml_district(night), "services": BASE_SERVICES[:2]}
    )
    with pytest.raises(ScenarioError, match="has no service 'streetlights' to put the agent in place of"):
        gymnasium.make(ID, scenario=str(no_lights))


def yaml_district(p: Path) -> str:
    import yaml

    return yaml.safe_load(p.read_text())["district"]
