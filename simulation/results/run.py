"""Running a scenario: ``run_scenario(scenario, seed) -> RunResult`` with provenance."""

from __future__ import annotations

import hashlib
import math
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from simulation.config.scenario import Scenario, ServiceSpec, scenario_district
from simulation.errors import SandboxError
from simulation.results.kpis import compute_kpis, hourly_kpis, queue_records
from simulation.results.logs import collect_logs
from simulation.results.places import SPATIAL_COLUMNS, spatial_frame

if TYPE_CHECKING:
    from simulation.config.district import District
    from simulation.world import World

__all__ = ["RunResult", "code_digest", "replication_seeds", "run_id_for", "run_scenario", "services_digest"]

PACKAGE_VERSION = "0.1.0"


@cache
def code_digest() -> str:
    """Hash of the simulation package's source: a change of code is a change of results."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]  # the simulation package
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def replication_seeds(seed: int, replications: int) -> list[int]:
    """Seeds of replications 0..R-1: the same for every scenario, so runs pair by seed."""
    return [seed + r for r in range(replications)]


def services_digest(codes: list[str]) -> str:
    """One hash over the services' code identities (``builtin:NAME`` or a plugin's code hash)."""
    return hashlib.sha256("\n".join(sorted(codes)).encode()).hexdigest()[:16] if codes else ""


def run_id_for(sc: Scenario, district_digest: str, seed: int, plugins_digest: str = "") -> str:
    """Identity of a run: resolved scenario, district, code (and plugin code), version and seed."""
    key = "|".join([sc.digest, district_digest, code_digest(), plugins_digest, PACKAGE_VERSION, str(seed)])
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass
class RunResult:
    """Everything one run produced: KPIs, per-service status, time series, events, provenance."""

    run_id: str
    scenario: str
    district: str
    seed: int
    status: str
    kpis: dict[str, float]
    services: dict[str, dict[str, Any]]
    timeseries: pd.DataFrame
    events: pd.DataFrame
    spatial: pd.DataFrame
    provenance: dict[str, Any]
    error: str | None = None
    wall_s: float = 0.0
    sim_events: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    logs: dict[str, Any] = field(default_factory=dict)  # service -> ServiceLog (results.logs)
    queues: pd.DataFrame = field(default_factory=pd.DataFrame)  # per-job queue records (world.queues)

    def kpi_rows(self) -> pd.DataFrame:
        """Tidy rows: run_id, scenario, seed, kpi, value."""
        return pd.DataFrame(
            {
                "run_id": self.run_id,
                "scenario": self.scenario,
                "seed": self.seed,
                "kpi": list(self.kpis),
                "value": [float(v) for v in self.kpis.values()],
            }
        )

    def to_json(self) -> dict[str, Any]:
        """The run as the CLI's JSON shape (NaN becomes null)."""
        return {
            "run_id": self.run_id,
            "seed": self.seed,
            "status": self.status,
            "error": self.error,
            "kpis": {
                k: (None if v is None or (isinstance(v, float) and math.isnan(v)) else v) for k, v in self.kpis.items()
            },
            "services": {
                n: {k: s.get(k) for k in ("status", "error", "actions", "rejected_actions", "isolation")}
                for n, s in self.services.items()
            },
        }


def build_world(
    scenario: Scenario,
    seed: int | None = None,
    allow_inline: bool = False,
    services: Sequence[ServiceSpec] | None = None,
    district: District | None = None,
) -> World:
    """The world of ``scenario`` for ``seed``, with its services (default: the scenario's) started.

    The plugin host builds the services first — a sandboxed one's process starts and imports its
    code while the world is built — and hands them to the world ready to run.
    """
    from simulation.plugins.runners import start_services
    from simulation.plugins.settings import SETTINGS
    from simulation.world import World

    seed = scenario.seed if seed is None else int(seed)
    district = scenario_district(scenario) if district is None else district
    specs = scenario.services if services is None else services
    ready = start_services(specs, scenario.source or scenario.name, allow_inline=allow_inline)
    return World(district, scenario, seed, ready, share_cpu=SETTINGS.share_cpu)


def run_scenario(
    scenario: Scenario,
    seed: int | None = None,
    progress: Callable[[float], None] | None = None,
    allow_inline: bool = False,
) -> RunResult:
    """Simulate ``scenario`` once with ``seed`` (default: the scenario's) and return the result.

    Bad input raises :class:`SandboxError`; a crash inside the simulation is returned as a
    result with ``status="failed"`` and the reason, so a batch or the app keeps going.
    """
    seed = scenario.seed if seed is None else int(seed)
    t0 = time.perf_counter()
    world = build_world(scenario, seed, allow_inline=allow_inline)
    district = world.d
    plugins = services_digest([str(s.info.get("code", "")) for s in world.host.services])
    run_id = run_id_for(scenario, district.digest, seed, plugins)
    provenance = {
        "scenario_digest": scenario.digest,
        "district_digest": district.digest,
        "code_digest": code_digest(),
        "plugins": plugins,
        "package_version": PACKAGE_VERSION,
        "scenario_source": scenario.source,
        "scenario_resolved": scenario.model_dump(mode="json", exclude={"source"}),
        "district_origin": {"lat": district.meta.origin.lat, "lon": district.meta.origin.lon},
    }
    status, error = "ok", None
    try:
        world.run(progress)
        kpis = compute_kpis(world)
    except SandboxError:
        raise
    except Exception as exc:
        status, error = "failed", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
        kpis = {}
    ts = world.series.frame()
    hourly = pd.DataFrame(hourly_kpis(world) if status == "ok" else [], columns=["t", "metric", "value"])
    ts = pd.concat([ts, hourly], ignore_index=True) if len(hourly) else ts
    return RunResult(
        run_id=run_id,
        scenario=scenario.name,
        district=district.name,
        seed=seed,
        status=status,
        kpis=kpis,
        services={s.name: s.summary() for s in world.host.services},
        timeseries=ts,
        events=world.log.frame(),
        spatial=spatial_frame(world) if status == "ok" else pd.DataFrame(columns=SPATIAL_COLUMNS),
        provenance=provenance,
        error=error,
        wall_s=time.perf_counter() - t0,
        sim_events=_events_scheduled(world),
        meta={"citizens": len(world.pop.citizens), "trips": world.pop.trips},
        logs=collect_logs(world.host.services),
        queues=queue_records(world) if status == "ok" else pd.DataFrame(),  # built once, for the KPIs
    )


def _events_scheduled(world: Any) -> int:
    """Events SimPy scheduled in this run (its internal event id counter)."""
    eid = getattr(world.env, "_eid", None)
    if eid is None:
        return 0
    text = repr(eid)  # itertools.count(N)
    return int(text[text.index("(") + 1 : text.rindex(")")])
