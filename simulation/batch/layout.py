"""The on-disk layout of a batch's output folder; every file is written whole or not at all.

::

    OUT/plan.json                          the study as planned: factors, design, SALib sample, seeds
    OUT/study.yaml                         the study file as given
    OUT/points.parquet                     point, one column per factor (its label), scenario_digest
    OUT/kpis/point=<p>/<run_id>.parquet    run_id, replication, seed, kpi, value  (hive-partitioned)
    OUT/failures/<run_id>.json             run_id, points, seed, attempts, reason
    OUT/runs/<run_id>/...                  the full run (simulation.results.store.Store layout)
    OUT/batch.json                         the last batch: counts, executor, wall time, runs/s
    OUT/analysis/                          plots and tables written by ``python -m simulation analyze``

A run's KPI file is its "done" marker: written after the full run is in the store, to a temporary
file under ``OUT/.tmp`` and renamed into place, so a killed batch leaves no torn or partial files.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from simulation.batch.study import BatchError

__all__ = ["Layout"]


class Layout:
    """Paths and atomic writes of one output folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.plan = self.root / "plan.json"
        self.study = self.root / "study.yaml"
        self.points = self.root / "points.parquet"
        self.kpis = self.root / "kpis"
        self.failures = self.root / "failures"
        self.summary = self.root / "batch.json"
        self.analysis = self.root / "analysis"
        self.tmp = self.root / ".tmp"

    def lock(self) -> Any:
        """Hold ``OUT/.lock`` for as long as the returned file is open: one batch writes to a folder at a time.

        The operating system drops the lock when the process dies, even by SIGKILL.
        """
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        fh = open(self.root / ".lock", "a+")  # noqa: SIM115 - held open for the whole batch
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "?"
            fh.close()
            raise BatchError(
                f"{self.root}: another batch (pid {holder}) is writing to this folder; wait for it "
                "or choose another --out"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        return fh

    # ---------------------------------------------------------------- writing
    def _atomic(self, final: Path, write: Any) -> Path:
        self.tmp.mkdir(parents=True, exist_ok=True)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.tmp / f"{final.name}.{uuid.uuid4().hex[:8]}"
        try:
            write(tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return final

    def write_json(self, final: Path, doc: Any) -> Path:
        """Write JSON atomically."""
        text = json.dumps(doc, indent=1, sort_keys=True, default=str, allow_nan=False)
        return self._atomic(final, lambda p: p.write_text(text, encoding="utf-8"))

    def write_bytes(self, final: Path, data: bytes) -> Path:
        """Write bytes atomically."""
        return self._atomic(final, lambda p: p.write_bytes(data))

    def write_parquet(self, final: Path, df: pd.DataFrame) -> Path:
        """Write a DataFrame as Parquet atomically."""
        return self._atomic(final, lambda p: df.to_parquet(p, index=False))

    def kpi_file(self, pid: int, rid: str) -> Path:
        """Where point ``pid``'s run ``rid`` KPI rows live."""
        return self.kpis / f"point={pid}" / f"{rid}.parquet"

    def failure_file(self, rid: str) -> Path:
        """Where a failed run's reason lives."""
        return self.failures / f"{rid}.json"

    def sweep(self) -> None:
        """Remove temporary files a killed writer left behind."""
        shutil.rmtree(self.tmp, ignore_errors=True)

    def set_aside(self, paths: list[Path]) -> Path | None:
        """Move results that no longer belong to the plan (e.g. older code) to ``OUT/superseded/<time>``."""
        if not paths:
            return None
        dest = self.root / "superseded" / time.strftime("%Y%m%dT%H%M%S")
        for p in paths:
            target = dest / p.relative_to(self.root)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p, target)
        return dest

    # ---------------------------------------------------------------- reading
    def done(self) -> Iterator[tuple[int, str, Path]]:
        """Every finished (point, run_id, file) on disk."""
        if not self.kpis.is_dir():
            return
        for d in os.scandir(self.kpis):
            if d.is_dir() and d.name.startswith("point="):
                pid = int(d.name.split("=", 1)[1])
                for f in os.scandir(d.path):
                    if f.name.endswith(".parquet") and not f.name.startswith("."):
                        yield pid, f.name[: -len(".parquet")], Path(f.path)

    def failed(self) -> Iterator[tuple[str, Path]]:
        """Every recorded failure (run_id, file)."""
        if self.failures.is_dir():
            for f in os.scandir(self.failures):
                if f.name.endswith(".json"):
                    yield f.name[: -len(".json")], Path(f.path)
