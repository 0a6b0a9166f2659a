"""Runs through the store: reuse a stored run with the same identity instead of recomputing."""

from __future__ import annotations

from collections.abc import Callable

from simulation.config.scenario import Scenario
from simulation.results.run import RunResult, run_scenario
from simulation.results.store import Store

__all__ = ["run_or_reuse"]


def run_or_reuse(
    sc: Scenario,
    seed: int,
    store: Store,
    progress: Callable[[float], None] | None = None,
    force: bool = False,
    allow_inline: bool = False,
) -> tuple[RunResult, bool]:
    """Return the stored run for (scenario, seed) if it exists, else run it and store it.

    The second value says whether the run was reused.
    """
    from simulation.config.scenario import scenario_district
    from simulation.results.run import run_id_for, services_digest

    district = scenario_district(sc)
    if not force and not any(not s.use.startswith("builtin:") for s in sc.services):
        rid = run_id_for(sc, district.digest, seed, services_digest([s.use for s in sc.services]))
        if store.has(rid):
            return store.load(rid), True
    r = run_scenario(sc, seed, progress=progress, allow_inline=allow_inline)
    if not force and store.has(r.run_id):
        return store.load(r.run_id), True
    store.put(r, replace=force)
    return r, False
