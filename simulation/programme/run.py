"""Running a programme: every pilot's baseline and candidates, seeds paired, through the batch executors.

:func:`plan_runs` turns a :class:`~simulation.config.programme.Programme` into runs: per pilot running
in the chosen year, a baseline (the city's own services) and one candidate per service whose status
is ``piloting`` or ``evaluated`` (baseline services + that plugin), each with the same seeds.
Generated archetype districts are made (deterministically) under ``STORE/programme/districts/``.
:func:`run_programme` skips every run the store already holds (same identity: scenario, district,
code, seed), runs the rest on local worker processes or a Dask cluster
(:func:`simulation.batch.executors.open_pool`) and writes each result to the store as it arrives,
so an interrupted programme resumes where it stopped.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulation.batch.executors import open_pool
from simulation.batch.worker import RunTask, execute
from simulation.config.district import load_district
from simulation.config.generator import make_district, population_from_density
from simulation.config.programme import (
    BUILTIN_BASELINE,
    PLUGINS_DIR,
    RUN_STATUSES,
    Pilot,
    Programme,
    district_folder,
)
from simulation.config.scenario import Scenario, check_against_district
from simulation.errors import ProgrammeError
from simulation.results.kpis import CATALOGUE
from simulation.results.run import replication_seeds, run_id_for, services_digest
from simulation.results.store import Store

__all__ = ["PlannedRun", "RunStats", "district_ref", "longest_first", "plan_runs", "run_programme"]


#: The fixed part of a run's cost (build the world, start the services) in people-equivalents: a
#: district-day here takes about 0.4 s + 0.15 ms per person (the 15 shipped pilots, one worker).
RUN_FIXED_COST = 2_700.0


@dataclass(frozen=True)
class PlannedRun:
    """One run the programme needs: which pilot, which variant (``baseline`` or a service), which seed."""

    pilot: str
    variant: str
    seed: int
    run_id: str
    scenario: dict[str, Any] = field(repr=False)
    cost: float = field(default=0.0, compare=False)  # expected work, in people-equivalents (see longest_first)


@dataclass
class RunStats:
    """What a programme run did."""

    planned: int = 0
    reused: int = 0
    ran: int = 0
    failed: int = 0
    wall_s: float = 0.0
    startup_s: float = 0.0
    executor: str = "local"
    workers: int = 1
    errors: list[str] = field(default_factory=list)

    @property
    def runs_per_s(self) -> float:
        """Runs done per second once the workers were up."""
        busy = self.wall_s - self.startup_s
        return self.ran / busy if self.ran and busy > 0 else 0.0


def district_ref(prog: Programme, pilot: Pilot, store: Path) -> str:
    """The district a pilot's scenarios name: a shipped folder's name, or a generated folder's path."""
    if pilot.source != "generated":
        return pilot.name if pilot.folder is None else str(district_folder(prog, pilot).resolve())
    assert pilot.archetype is not None
    root = store / "programme" / "districts"
    out = root / pilot.name
    if not (out / "district.yaml").is_file() or not (out / "layout.geojson").is_file():
        a = pilot.archetype
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{pilot.name}-"))
        try:
            make_district(
                tmp,
                name=pilot.name,
                title=f"{pilot.title} (generated archetype)",
                origin_lat=pilot.lat,
                origin_lon=pilot.lon,
                width_m=a.width_m,
                height_m=a.height_m,
                **population_from_density(a.density, a.width_m * a.height_m / 1e6),
                seed=a.seed,
                land_use_mix=dict(a.land_use_mix),
                ai_camera_share=a.ai_camera_share,
                integrated=a.integrated,
                description=f"Generated archetype for the programme pilot {pilot.title}; plausible, not surveyed.",
            )
            shutil.rmtree(out, ignore_errors=True)
            tmp.rename(out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return str(out)


def _scenario(prog: Programme, pilot: Pilot, ref: str, variant: str) -> dict[str, Any]:
    """The scenario of one variant: the city's services, plus the candidate (with the params it asks of them)."""
    asks = next((s.baseline_params for s in pilot.services if s.service == variant), {})
    services: list[dict[str, Any]] = [
        {"use": u, **({"params": asks[u]} if u in asks else {})} for u in BUILTIN_BASELINE
    ]
    if variant != "baseline":
        services.append({"use": str(PLUGINS_DIR / variant)})
    r = prog.run
    return {
        "name": f"{pilot.name}.{variant}",
        "description": f"{prog.title}: {pilot.title}, {variant}",
        "district": ref,
        "start": r.start.isoformat(),
        "duration": r.duration,
        "seed": r.seed,
        "replications": r.replications,
        "population_scale": r.population_scale,
        "tick": r.tick,
        "services": services,
        "source": prog.path,
    }


def variants(pilot: Pilot) -> list[str]:
    """``baseline`` then every service the programme runs in this pilot."""
    return ["baseline", *(s.service for s in pilot.services if s.status in RUN_STATUSES)]


def plan_runs(prog: Programme, store: Path, year: int | None = None) -> list[PlannedRun]:
    """Every run the programme needs for ``year`` (default: its last year), in a fixed order."""
    from simulation.plugins import resolve_plugin

    year = prog.years[-1] if year is None else year
    if year not in prog.years:
        raise ProgrammeError(prog.path, f"--year {year} is outside the programme's years {list(prog.years)}")
    for i, p in enumerate(prog.pilots):
        for k, s in enumerate(p.services):
            for kpi in s.kpis:
                if kpi not in CATALOGUE:
                    key = f"pilots[{i}] ({p.name}).services[{k}].kpis"
                    raise ProgrammeError(prog.path, f"unknown KPI {kpi!r}; see python -m simulation kpis", key=key)
    seeds = replication_seeds(prog.run.seed, prog.run.replications)
    codes: dict[str, str] = {}
    out = []
    for pilot in prog.pilots_until(year):
        ref = district_ref(prog, pilot, store)
        district = load_district(ref)
        for variant in variants(pilot):
            data = _scenario(prog, pilot, ref, variant)
            sc = Scenario.model_validate(data)
            check_against_district(sc, district)
            uses = [s.use for s in sc.services]
            for u in uses:
                if u not in codes:
                    codes[u] = u if u.startswith("builtin:") else resolve_plugin(u, prog.path).code
            digest = services_digest([codes[u] for u in uses])
            people = district.meta.population
            cost = RUN_FIXED_COST + (people.residents + people.workers + people.visitors) * sc.population_scale
            for seed in seeds:
                rid = run_id_for(sc, district.digest, seed, digest)
                out.append(PlannedRun(pilot.name, variant, seed, rid, data, cost))
    return out


def longest_first(runs: list[PlannedRun]) -> list[PlannedRun]:
    """The runs in the order to start them: largest expected cost first (ties keep the plan's order).

    A run's cost grows about linearly with the people simulated, plus a fixed part for building the
    world (:data:`RUN_FIXED_COST`). Starting the big districts first keeps every worker busy to the
    end instead of leaving one idle while the other finishes a large district started last
    (longest-processing-time order).
    """
    return sorted(runs, key=lambda r: -r.cost)


def run_programme(
    prog: Programme,
    store: str | Path = "results",
    *,
    year: int | None = None,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> tuple[list[PlannedRun], RunStats]:
    """Run (or reuse) every run the programme needs; returns the planned runs and what was done.

    ``progress(done, total, what)`` is called after each run resolves (reused or finished).
    """
    t0 = time.perf_counter()
    st = Store(store)
    runs = plan_runs(prog, Path(store), year)
    stats = RunStats(planned=len(runs), executor=executor)
    todo: list[PlannedRun] = []
    seen: set[str] = set()
    for r in runs:
        if st.has(r.run_id) or r.run_id in seen:
            stats.reused += 1
            if progress:
                progress(stats.reused, len(runs), f"{r.pilot} {r.variant} seed {r.seed} (stored)")
        else:
            seen.add(r.run_id)
            todo.append(r)
    if not todo:
        stats.wall_s = time.perf_counter() - t0
        return runs, stats
    pool = open_pool(executor, execute, workers, scheduler)
    stats.workers = max(1, pool.workers)
    stats.startup_s = time.perf_counter() - t0
    try:
        queue = list(reversed(longest_first(todo)))
        inflight: dict[Any, PlannedRun] = {}
        while queue or inflight:
            while queue and len(inflight) < pool.slots:
                r = queue.pop()
                task = RunTask(r.scenario, r.seed, r.run_id, 0, 0)
                inflight[pool.submit(task)] = r
            for fut in pool.wait(list(inflight), 0.5):
                r = inflight.pop(fut)
                kind, value = pool.outcome(fut)
                if kind == "ok" and value.status == "ok":
                    st.put(value)
                    stats.ran += 1
                else:
                    stats.failed += 1
                    reason = value if isinstance(value, str) else getattr(value, "error", "") or "failed"
                    stats.errors.append(f"{r.pilot} {r.variant} seed {r.seed}: {str(reason).splitlines()[0]}")
                if progress:
                    done = stats.reused + stats.ran + stats.failed
                    progress(done, len(runs), f"{r.pilot} {r.variant} seed {r.seed}")
    finally:
        pool.close()
    stats.wall_s = time.perf_counter() - t0
    return runs, stats
