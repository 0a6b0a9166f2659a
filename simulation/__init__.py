"""Pilot District Sandbox: simulate smart-city pilot districts and the services companies bring.

The public API::

    from simulation import load_scenario, run_scenario, Store
    sc = load_scenario("scenarios/sangam_baseline.yaml")
    result = run_scenario(sc, seed=1)
    Store("results").put(result)
"""

from simulation.config.district import District, list_districts, load_district
from simulation.config.scenario import Scenario, list_scenarios, load_scenario
from simulation.errors import (
    BatchError,
    DecideError,
    DistrictError,
    PluginError,
    SandboxError,
    ScenarioError,
    StoreError,
    StudyError,
)
from simulation.results.kpis import CATALOGUE, KPI
from simulation.results.reuse import run_or_reuse
from simulation.results.run import RunResult, replication_seeds, run_scenario
from simulation.results.store import Store

__all__ = [
    "CATALOGUE",
    "KPI",
    "BatchError",
    "Comparison",
    "DecideError",
    "District",
    "DistrictError",
    "PluginError",
    "RunResult",
    "SandboxError",
    "Scenario",
    "ScenarioError",
    "Store",
    "StoreError",
    "StudyError",
    "analyze",
    "compare",
    "list_districts",
    "list_scenarios",
    "load_district",
    "load_scenario",
    "make_plan",
    "replication_seeds",
    "run_batch",
    "run_or_reuse",
    "run_scenario",
]

__version__ = "0.1.0"

_LAZY = {
    "analyze": "batch",
    "make_plan": "batch",
    "run_batch": "batch",
    "compare": "results.compare",
    "Comparison": "results.compare",
}


def __getattr__(name: str) -> object:
    """Import the batch engine and the comparison only when first used (they pull in SALib, Dask)."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'simulation' has no attribute {name!r}")


def _install_gym_hook() -> None:
    """``gymnasium.make("PilotSandbox/ServiceSlot-v0", scenario=...)`` works after ``import simulation``."""
    from simulation import _gym

    _gym.install()


_install_gym_hook()
