"""The batch driver: submit a plan's runs, write each result as it arrives, resume, retry, adapt.

The driver keeps a bounded window of runs in flight and holds no results: each finished run goes to
the store (``OUT/runs``) and then to its KPI partition file (the "done" marker), and is dropped. A
run is skipped when its KPI file exists; when only its full run is in the store (the driver was
killed between the two writes) its KPI file is rebuilt from the store without running it again.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from simulation.batch.executors import open_pool
from simulation.batch.layout import Layout
from simulation.batch.plan import Plan
from simulation.batch.study import BatchError
from simulation.batch.worker import RunTask, execute
from simulation.results.run import RunResult
from simulation.results.store import Store
from simulation.stats import summarise

__all__ = ["BatchSummary", "run_batch"]

ATTEMPTS = 2  # a failing run is retried once


@dataclass
class BatchSummary:
    """What a batch did: counts, where, how fast."""

    study: str
    out: str
    executor: str
    workers: int
    points: int
    planned: int = 0
    skipped: int = 0
    recovered: int = 0
    ran: int = 0
    ok: int = 0
    failed: int = 0
    retried: int = 0
    wall_s: float = 0.0
    startup_s: float = 0.0  # starting the workers (or connecting to the cluster)
    runs_per_s: float = 0.0  # runs done per second once the workers were up
    replications: dict[int, int] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 when every run is done, 1 when some failed."""
        return 1 if self.failed else 0


@dataclass
class _Job:
    pid: int
    rep: int
    seed: int
    rid: str
    attempt: int = 1
    isolated: bool = False  # runs alone in its own worker (after a shared pool broke)
    also: list[tuple[int, int]] = field(default_factory=list)  # other points with the same run


class _Batch:
    def __init__(self, plan: Plan, layout: Layout, pool: Any, summary: BatchSummary, progress: Any) -> None:
        self.plan, self.layout, self.pool, self.s, self.progress = plan, layout, pool, summary, progress
        self.store = Store(layout.root)
        self.store.sweep(older_than_s=0)  # we hold OUT/.lock: any half-written run is from a dead batch
        self.reps = dict.fromkeys(range(len(plan.points)), plan.initial_replications)
        self.open = dict.fromkeys(range(len(plan.points)), 0)  # replications not yet resolved
        self.where: dict[str, Path] = {}  # run_id -> one KPI file holding it
        self.queue: deque[tuple[int, int]] = deque()
        self.inflight: dict[Any, _Job] = {}
        self.by_rid: dict[str, _Job] = {}

    # ---------------------------------------------------------------- scan what is on disk
    def scan(self) -> None:
        """Index finished runs; set aside KPI files and failures of runs the plan no longer has."""
        wanted = {
            (pid, self.plan.run_id(pid, seed)) for pid in range(len(self.plan.points)) for seed in self.plan.seeds()
        }
        stale = []
        for pid, rid, path in self.layout.done():
            if (pid, rid) in wanted:
                self.where.setdefault(rid, path)
            else:
                stale.append(path)
        ids = {rid for _, rid in wanted}
        stale += [p for rid, p in self.layout.failed() if rid not in ids]
        moved = self.layout.set_aside(stale)
        if moved is not None:
            self.progress.console.print(
                f"[yellow]{len(stale)} result files of runs not in this plan (older code or "
                f"study) were moved to {moved}[/yellow]"
            )

    # ---------------------------------------------------------------- scheduling
    def enqueue(self, pid: int, reps: range) -> None:
        for rep in reps:
            self.open[pid] += 1
            self.queue.append((pid, rep))
        self.progress.update(self.task, total=sum(self.reps.values()))

    def start(self) -> None:
        self.task = self.progress.add_task(self.plan.study.name, total=0, failed=0)
        for rep in range(self.plan.initial_replications):
            for pid in range(len(self.plan.points)):
                self.enqueue(pid, range(rep, rep + 1))

    def _take(self, pid: int, rep: int) -> None:
        """Resolve a queued (point, replication) from disk, join a run in flight, or submit it."""
        seed = self.plan.seeds(rep + 1)[rep]
        rid = self.plan.run_id(pid, seed)
        target = self.layout.kpi_file(pid, rid)
        if target.exists():
            self.s.skipped += 1
            return self.resolved(pid)
        if rid in self.where:  # the same scenario is another design point too
            self.layout.write_bytes(target, self.where[rid].read_bytes())
            self.s.skipped += 1
            return self.resolved(pid)
        if rid in self.by_rid:
            self.by_rid[rid].also.append((pid, rep))
            return None
        if self.store.has(rid):
            meta = self.store.meta(rid)
            if meta.get("status") == "ok":
                self._write_kpis([(pid, rep)], rid, seed, meta["kpis"])
                self.s.recovered += 1
                return self.resolved(pid)
        return self.submit(_Job(pid, rep, seed, rid))

    def submit(self, job: _Job, isolated: bool = False) -> None:
        task = RunTask(self.plan.scenario_data(job.pid), job.seed, job.rid, job.pid, job.rep)
        self.inflight[self.pool.submit(task, isolated=isolated)] = job
        self.by_rid[job.rid] = job

    def loop(self) -> None:
        while self.queue or self.inflight:
            while self.queue and len(self.inflight) < self.pool.slots:
                self._take(*self.queue.popleft())
            if not self.inflight:
                continue
            for fut in self.pool.wait(list(self.inflight), timeout=1.0):
                job = self.inflight.pop(fut)
                kind, payload = self.pool.outcome(fut)
                self.finished(job, kind, payload)

    # ---------------------------------------------------------------- results
    def finished(self, job: _Job, kind: str, payload: Any) -> None:
        if kind == "ok" and payload.status == "ok":
            r: RunResult = payload
            if r.run_id != job.rid:
                return self.failed(
                    job,
                    f"the worker computed run id {r.run_id}, not {job.rid}: it runs other code "
                    f"(code digest {r.provenance.get('code_digest')}); install the same version of "
                    "the project on every worker",
                    retry=False,
                )
            self.store.put(r)
            self._write_kpis([(job.pid, job.rep), *job.also], job.rid, job.seed, r.kpis)
            self.layout.failure_file(job.rid).unlink(missing_ok=True)
            self.s.ran += 1
            self.s.ok += 1
            del self.by_rid[job.rid]
            for pid, _rep in [(job.pid, job.rep), *job.also]:
                self.resolved(pid)
            return None
        if kind == "died" and self.pool.isolates and not job.isolated:
            # A shared local pool breaks for every run in it: this one may be innocent, so it does not
            # count as an attempt; it runs again alone, where a death is its own.
            job.isolated = True
            self.s.retried += 1
            return self.submit(job, isolated=True)
        reason = payload if kind != "ok" else f"run failed: {(payload.error or 'no reason given').strip()}"
        return self.failed(job, reason, retry=True)

    def failed(self, job: _Job, reason: str, retry: bool) -> None:
        if retry and job.attempt < ATTEMPTS:
            job.attempt += 1
            self.s.retried += 1
            return self.submit(job, isolated=job.isolated)
        del self.by_rid[job.rid]
        points = [(job.pid, job.rep), *job.also]
        self.layout.write_json(
            self.layout.failure_file(job.rid),
            {
                "run_id": job.rid,
                "points": [p for p, _ in points],
                "replication": job.rep,
                "seed": job.seed,
                "attempts": job.attempt,
                "reason": reason,
                "executor": self.pool.name,
                "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
            },
        )
        self.s.ran += 1
        self.s.failed += 1
        self.progress.update(self.task, failed=self.s.failed)
        first = reason.strip().splitlines()[0] if reason.strip() else "?"
        self.progress.console.print(
            f"[red]run {job.rid} (point {job.pid}, seed {job.seed}) failed after {job.attempt} attempts:[/red] {first}"
        )
        for pid, _rep in points:
            self.resolved(pid)
        return None

    def _write_kpis(self, points: list[tuple[int, int]], rid: str, seed: int, kpis: dict[str, Any]) -> None:
        names = list(kpis)
        for pid, rep in points:
            df = pd.DataFrame(
                {
                    "run_id": rid,
                    "replication": rep,
                    "seed": seed,
                    "kpi": names,
                    "value": [math.nan if kpis[k] is None else float(kpis[k]) for k in names],
                }
            )
            self.where.setdefault(rid, self.layout.write_parquet(self.layout.kpi_file(pid, rid), df))

    def resolved(self, pid: int) -> None:
        self.progress.advance(self.task)
        self.open[pid] -= 1
        if self.open[pid] == 0 and self.plan.adaptive is not None:
            more = self.more_replications(pid)
            if more:
                old = self.reps[pid]
                self.reps[pid] = old + more
                self.enqueue(pid, range(old, old + more))

    # ---------------------------------------------------------------- adaptive replications
    def more_replications(self, pid: int) -> int:
        """How many replications point ``pid`` still needs for every target KPI's CI (0 when met or capped)."""
        ad = self.plan.adaptive
        assert ad is not None
        n_now = self.reps[pid]
        if n_now >= ad.max:
            return 0
        values = point_values(
            self.layout, pid, [self.plan.run_id(pid, s) for s in self.plan.seeds(n_now)], list(ad.target)
        )
        need = 0
        for kpi in ad.target:
            xs = values.get(kpi, [])
            mean, half = summarise(xs)
            goal = ad.half_width_target(kpi, mean) if math.isfinite(mean) else math.nan
            if math.isfinite(half) and math.isfinite(goal) and half <= goal:
                continue
            if math.isfinite(half) and goal > 0:
                # CI half-width shrinks like 1/sqrt(n): estimate n, but at most double per step.
                want = math.ceil(n_now * (half / goal) ** 2)
                need = max(need, min(max(want - n_now, 1), n_now))
            else:
                need = max(need, 1)
        return min(need, ad.max - n_now)


def point_values(layout: Layout, pid: int, run_ids: list[str], kpis: list[str]) -> dict[str, list[float]]:
    """Values of ``kpis`` over the given runs of one point (runs without a KPI file are left out)."""
    out: dict[str, list[float]] = {k: [] for k in kpis}
    for rid in run_ids:
        f = layout.kpi_file(pid, rid)
        if f.exists():
            df = pd.read_parquet(f, columns=["kpi", "value"])
            for k, v in zip(df["kpi"], df["value"], strict=True):
                if k in out:
                    out[k].append(float(v))
    return out


def check_out(plan: Plan, layout: Layout, resume: bool) -> None:
    """Refuse an output folder that holds another study (or nothing, with ``--resume``)."""
    import json

    if layout.root.exists() and not layout.root.is_dir():
        raise BatchError(f"{layout.root}: is a file, not an output folder")
    if layout.plan.is_file():
        old = json.loads(layout.plan.read_text()).get("plan_digest")
        if old != plan.digest:
            raise BatchError(
                f"{layout.root} holds results of another study or design (plan {old}, this one "
                f"{plan.digest}); choose another --out, or delete the folder to start over"
            )
    elif layout.root.is_dir() and any(not p.name.startswith(".") for p in layout.root.iterdir()):
        raise BatchError(f"{layout.root} is not empty and holds no batch; choose an empty or new --out folder")
    # No plan.json and nothing else but a batch's own dot files (.lock, .tmp): a batch killed before it
    # wrote its plan, or none yet. Nothing has run, so resuming it is starting it (``--resume`` is safe
    # to give after a kill at any moment).


def write_plan(plan: Plan, layout: Layout) -> None:
    """Write plan.json, study.yaml and points.parquet (the same content on every run of the plan)."""
    import json

    layout.root.mkdir(parents=True, exist_ok=True)
    layout.sweep()
    layout.write_json(layout.plan, plan.to_json())
    layout.write_bytes(layout.study, plan.path.read_bytes())
    rows = []
    for p in plan.points:
        row: dict[str, Any] = {"point": p.id}
        for lab, v in zip(plan.design.labels, p.values.values(), strict=True):
            row[lab] = json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v
        rows.append(row | {"scenario_digest": p.scenario_digest})
    layout.write_parquet(layout.points, pd.DataFrame(rows))


def run_batch(
    plan: Plan,
    out: str | Path,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    quiet: bool = False,
    resume: bool = False,
    timeout_s: float = 5.0,
    run_fn: Callable[[RunTask], RunResult] = execute,
) -> BatchSummary:
    """Run every run of ``plan`` not yet in ``out``; write each as it finishes; return what was done.

    Raises :class:`BatchError` before anything runs when the executor cannot start or ``out`` holds
    another study. ``run_fn`` must be a module-level function (it is pickled to the workers).
    """
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    layout = Layout(out)
    check_out(plan, layout, resume)
    t0 = time.perf_counter()
    pool = open_pool(executor, run_fn, workers, scheduler, timeout_s)
    try:
        lock = layout.lock()
    except BatchError:
        pool.close()
        raise
    summary = BatchSummary(plan.study.name, str(layout.root), pool.name, pool.workers, len(plan.points))
    summary.startup_s = round(time.perf_counter() - t0, 3)
    try:
        write_plan(plan, layout)
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("runs"),
            TextColumn("[red]{task.fields[failed]} failed"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=quiet,
        ) as progress:
            b = _Batch(plan, layout, pool, summary, progress)
            b.scan()
            b.start()
            b.loop()
        layout.sweep()
    finally:
        pool.close()
        lock.close()
    summary.wall_s = round(time.perf_counter() - t0, 3)
    summary.planned = sum(b.reps.values())
    busy = summary.wall_s - summary.startup_s
    summary.runs_per_s = round(summary.ran / busy, 3) if busy > 0 else 0.0
    counts: dict[int, int] = {}
    for n in b.reps.values():
        counts[n] = counts.get(n, 0) + 1
    summary.replications = dict(sorted(counts.items()))
    layout.write_json(layout.summary, asdict(summary) | {"finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return summary
