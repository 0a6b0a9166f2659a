"""The results store: a folder of runs, one atomic write per run, queried with embedded DuckDB.

Layout (open it with DuckDB or pandas, no code of ours needed)::

    STORE/runs/<run_id>/run.json           metadata: scenario, district, seed, status, kpis,
                                           services, provenance, wall time
    STORE/runs/<run_id>/kpis.parquet       run_id, scenario, seed, kpi, value, unit
    STORE/runs/<run_id>/timeseries.parquet run_id, t, time, metric, value, unit
    STORE/runs/<run_id>/events.parquet     run_id, t, time, kind, subject, detail (JSON)
    STORE/runs/<run_id>/spatial.parquet    run_id, metric, x, y, value, unit, lon, lat, geometry (GeoParquet)
    STORE/runs/<run_id>/queues.parquet     run_id, queue, server, job, user, priority, arrival, start, end,
                                           outcome: one row per job of every queue (operators, pads,
                                           chargers, AP clients; see world/queues.py)
    STORE/runs/<run_id>/logs.json          each service's captured output and log entries (capped)

Every table is written by :func:`simulation.results.tables.write_table` (run_id, units, timestamps,
WGS84, Parquet field metadata); read several runs' tables with a glob, e.g. DuckDB
``SELECT * FROM 'STORE/runs/*/timeseries.parquet'``.

A run is written to a hidden temporary folder and renamed into place, so a reader never sees half
a run and a killed writer leaves nothing behind but a ``.tmp-*`` folder that the next open sweeps.
Many processes can write different runs at once; DuckDB reads them all through globbed views.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from simulation.errors import StoreError
from simulation.results.run import RunResult
from simulation.results.tables import from_stored, write_table

__all__ = ["DEFAULT_STORE", "Store"]

DEFAULT_STORE = Path("results")
TABLES = ("kpis", "timeseries", "events", "spatial", "queues")


def _clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_clean(x) for x in v]
    return v


def _queues(df: pd.DataFrame) -> pd.DataFrame:
    """The queue records with their columns even when there are none (a failed run)."""
    from simulation.world.queues import COLUMNS

    if len(df.columns):
        return df
    return pd.DataFrame({c: pd.Series(dtype=float if c in ("arrival", "start", "end") else object) for c in COLUMNS})


class Store:
    """A results folder. ``Store("results")`` creates it on first write."""

    def __init__(self, root: str | Path = DEFAULT_STORE) -> None:
        self.root = Path(root)
        self.runs_dir = self.root / "runs"
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"{self.root}: is a file, not a results folder")

    # ---------------------------------------------------------------- writing
    def put(self, r: RunResult, replace: bool = False) -> Path:
        """Write one run atomically.

        A run id names its inputs exactly, so if another writer stored the same run first, that
        copy is kept (the results are identical); ``replace=True`` swaps in this one whole.
        """
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        final = self.runs_dir / r.run_id
        tmp = self.runs_dir / f".tmp-{r.run_id}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            meta = {
                "run_id": r.run_id,
                "scenario": r.scenario,
                "district": r.district,
                "seed": r.seed,
                "status": r.status,
                "error": r.error,
                "kpis": r.kpis,
                "services": r.services,
                "provenance": r.provenance,
                "wall_s": r.wall_s,
                "sim_events": r.sim_events,
                "meta": r.meta,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
            }
            (tmp / "run.json").write_text(json.dumps(_clean(meta), indent=1, sort_keys=True, default=str))
            for name, frame in self.frames(r).items():  # every table gets run_id, units, time, WGS84
                write_table(tmp / f"{name}.parquet", name, frame, meta)
            (tmp / "logs.json").write_text(json.dumps(_clean(getattr(r, "logs", {}) or {}), default=str))
            for f in tmp.iterdir():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
            if final.exists() and replace:
                old = self.runs_dir / f".old-{r.run_id}-{uuid.uuid4().hex[:8]}"
                try:
                    os.replace(final, old)
                except FileNotFoundError:
                    old = None  # type: ignore[assignment]
                if old is not None:
                    shutil.rmtree(old, ignore_errors=True)
            try:
                os.replace(tmp, final)
            except OSError:
                if not (final / "run.json").is_file():
                    raise
                shutil.rmtree(tmp, ignore_errors=True)  # another writer stored the same run first
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return final

    @staticmethod
    def frames(r: RunResult) -> dict[str, pd.DataFrame]:
        """The tables a run writes, by name (each becomes ``<name>.parquet``)."""
        return {
            "kpis": r.kpi_rows(),
            "timeseries": r.timeseries,
            "events": r.events,
            "spatial": r.spatial,
            "queues": _queues(r.queues),
        }

    def sweep(self, older_than_s: float = 3600) -> int:
        """Remove temporary folders of writers that died (older than ``older_than_s``)."""
        n = 0
        if self.runs_dir.is_dir():
            for p in self.runs_dir.glob(".*-*"):
                if time.time() - p.stat().st_mtime > older_than_s:
                    shutil.rmtree(p, ignore_errors=True)
                    n += 1
        return n

    # ---------------------------------------------------------------- reading
    def has(self, run_id: str) -> bool:
        """Is this run in the store (complete)?"""
        return (self.runs_dir / run_id / "run.json").is_file()

    def logs(self, run_id: str) -> dict[str, Any]:
        """Each service's output in one run (``results.logs.ServiceLog``); {} for runs stored before logs were kept."""
        p = self.runs_dir / run_id / "logs.json"
        if not (self.runs_dir / run_id / "run.json").is_file():
            raise StoreError(f"{self.root}: no run {run_id!r}")
        return json.loads(p.read_text()) if p.is_file() else {}

    def meta(self, run_id: str) -> dict[str, Any]:
        """The run.json of one run."""
        p = self.runs_dir / run_id / "run.json"
        if not p.is_file():
            raise StoreError(f"{self.root}: no run {run_id!r}")
        return json.loads(p.read_text())

    def runs(self) -> pd.DataFrame:
        """One row per run: run_id, scenario, district, seed, status, created, wall_s."""
        rows = []
        if self.runs_dir.is_dir():
            for p in sorted(self.runs_dir.glob("*/run.json")):
                if p.parent.name.startswith("."):
                    continue
                m = json.loads(p.read_text())
                rows.append(
                    {k: m.get(k) for k in ("run_id", "scenario", "district", "seed", "status", "created", "wall_s")}
                    | {"scenario_digest": m.get("provenance", {}).get("scenario_digest")}
                )
        cols = ["run_id", "scenario", "district", "seed", "status", "created", "wall_s", "scenario_digest"]
        return pd.DataFrame(rows, columns=cols)

    def connect(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with views ``runs``, ``kpis``, ``timeseries``, ``events``, ``spatial``."""
        con = duckdb.connect()
        base = self.runs_dir.as_posix()
        for t in TABLES:
            if any(self.runs_dir.glob(f"[!.]*/{t}.parquet")):
                con.execute(
                    f"CREATE VIEW {t} AS SELECT * FROM "
                    f"read_parquet('{base}/[!.]*/{t}.parquet', filename=true, union_by_name=true)"
                )
        if any(self.runs_dir.glob("[!.]*/run.json")):
            con.execute(
                f"CREATE VIEW runs AS SELECT * FROM read_json_auto('{base}/[!.]*/run.json', union_by_name=true)"
            )
        return con

    def table(self, name: str, run_ids: list[str] | tuple[str, ...]) -> pd.DataFrame:
        """Rows of one table for the given runs (``run_id`` column added where missing)."""
        if name not in TABLES:
            raise StoreError(f"no table {name!r}; tables: {', '.join(TABLES)}")
        frames = []
        for rid in run_ids:
            p = self.runs_dir / rid / f"{name}.parquet"
            if not p.is_file() and name == "queues" and self.has(rid):
                continue  # a run stored before queue records existed
            if not p.is_file():
                raise StoreError(f"{self.root}: no run {rid!r}")
            df = pd.read_parquet(p)
            if "run_id" not in df.columns:
                df.insert(0, "run_id", rid)
            frames.append(df)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def kpis(self, run_ids: list[str] | tuple[str, ...]) -> pd.DataFrame:
        """Tidy KPI rows of the given runs."""
        return self.table("kpis", run_ids)

    def load(self, run_id: str) -> RunResult:
        """A stored run as a RunResult."""
        m = self.meta(run_id)
        d = self.runs_dir / run_id
        return RunResult(
            run_id=m["run_id"],
            scenario=m["scenario"],
            district=m["district"],
            seed=m["seed"],
            status=m["status"],
            kpis={k: (math.nan if v is None else v) for k, v in m["kpis"].items()},
            services=m["services"],
            timeseries=from_stored(d / "timeseries.parquet"),
            events=from_stored(d / "events.parquet"),
            spatial=from_stored(d / "spatial.parquet"),
            provenance=m["provenance"],
            error=m.get("error"),
            wall_s=m.get("wall_s", 0.0),
            sim_events=m.get("sim_events", 0),
            meta=m.get("meta", {}),
            logs=json.loads((d / "logs.json").read_text()) if (d / "logs.json").is_file() else {},
            queues=from_stored(d / "queues.parquet") if (d / "queues.parquet").is_file() else pd.DataFrame(),
        )
