"""What a worker process runs: one scenario with one seed. Kept tiny so workers import little."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulation.config.scenario import Scenario
from simulation.results.run import RunResult, run_scenario

__all__ = ["RunTask", "execute"]


@dataclass(frozen=True)
class RunTask:
    """One run to do: a point's resolved scenario (plain data), a seed, and the id the parent expects."""

    scenario: dict[str, Any]
    seed: int
    run_id: str
    point: int
    replication: int


def execute(task: RunTask) -> RunResult:
    """Validate the scenario and run it; a crash inside the world comes back as ``status="failed"``.

    Runs here do not keep to one CPU with their sandboxed services (``share_cpu``): with a worker
    per core, two workers' runs could end up sharing one CPU while another idles.
    """
    from simulation.plugins.settings import SETTINGS

    with SETTINGS.override(share_cpu=False):
        return run_scenario(Scenario.model_validate(task.scenario), task.seed)
