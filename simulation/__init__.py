"""Pilot District Sandbox: simulate smart-city pilot districts and the services companies bring.

The public API::

    from simulation import load_scenario, run_scenario, Store
    sc = load_scenario("scenarios/sangam_baseline.yaml")
    result = run_scenario(sc, seed=1)
    Store("results").put(result)
"""

from .district import District, list_districts, load_district
from .errors import DistrictError, PluginError, SandboxError, ScenarioError, StoreError
from .kpis import CATALOGUE, KPI
from .results import RunResult, replication_seeds, run_scenario
from .runs import run_or_reuse
from .scenario import Scenario, list_scenarios, load_scenario
from .store import Store

__all__ = [
    "CATALOGUE",
    "KPI",
    "District",
    "DistrictError",
    "PluginError",
    "RunResult",
    "SandboxError",
    "Scenario",
    "ScenarioError",
    "Store",
    "StoreError",
    "list_districts",
    "list_scenarios",
    "load_district",
    "load_scenario",
    "replication_seeds",
    "run_or_reuse",
    "run_scenario",
]

__version__ = "0.1.0"
