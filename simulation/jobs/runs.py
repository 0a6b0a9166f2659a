"""Background simulation jobs: one worker process per job, its progress in a small JSON file.

The web app starts a job with :func:`start_job` and polls :func:`job_status`; the worker
(``python -m simulation.jobs.runs JOB_DIR``) runs the replications through
:func:`simulation.results.reuse.run_or_reuse`, so each finished run lands in the store atomically and runs
already there are reused. Every job has its own folder, so jobs of two browser sessions never
share a file::

    STORE/jobs/<job_id>/spec.json       what to run: the resolved scenario, seeds, store, parent pid
    STORE/jobs/<job_id>/progress.json   state, replications done, simulated clock (atomic writes)
    STORE/jobs/<job_id>/heartbeat       touched by the app while a page shows the job
    STORE/jobs/<job_id>/cancel          written by the app before it stops the worker
    STORE/jobs/<job_id>/worker.log      the worker's stdout and stderr

Lifetime. The worker leads its own process group (plugin sandboxes it starts belong to it), so a
cancel kills the whole group, and a killed writer leaves no half-written run (the store renames
finished runs into place). A worker does not outlive the app: Linux sends it SIGTERM when the app
dies (``PR_SET_PDEATHSIG``; workers are forked from a long-lived launcher thread because that
signal follows the *thread* that forked, and Streamlit's script threads end after each rerun),
a watchdog notices re-parenting elsewhere. Jobs belong to the store, not to a browser session:
every session lists them (:func:`running_jobs`), a reload finds them again, and a job runs until it
finishes or someone cancels it. Starting a job identical to one still running (same resolved
scenario, same seeds) returns the running one instead of computing the same runs twice. Only a
caller that asks for it (``abandon_after_s``, used by conformance checks) gets a job that stops when
nobody has called :func:`heartbeat` for that long.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import math
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from simulation.errors import SandboxError, StoreError

__all__ = [
    "FINAL_STATES",
    "JobStatus",
    "busy_seeds",
    "cancel_job",
    "expected_run_ids",
    "heartbeat",
    "job_status",
    "list_jobs",
    "running_jobs",
    "same_job",
    "spawn_worker",
    "start_job",
]

FINAL_STATES = frozenset({"done", "failed", "cancelled"})
JOB_KEEP_S = 7 * 86400.0
_ROOT = Path(__file__).resolve().parents[2]  # the project: workers run from here
_PROCS: dict[str, subprocess.Popen] = {}
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class JobStatus:
    """What a job's progress file says (corrected if its worker died without a last word)."""

    job_id: str
    state: str
    scenario: str
    total: int
    done: int
    seed: int | None
    fraction: float
    sim_s: float
    duration_s: float
    clock: str
    run_ids: tuple[str, ...]
    reused: int
    failed: tuple[dict[str, Any], ...]
    message: str
    started: float
    updated: float
    started_by: str = ""

    @property
    def finished(self) -> bool:
        """The job is done, failed or cancelled: its worker has stopped."""
        return self.state in FINAL_STATES

    @property
    def text(self) -> str:
        """One line for a progress bar: replications done and the simulated clock."""
        if self.state == "starting":
            return f"{self.scenario}: starting the worker…"
        head = f"{self.scenario}: {self.done}/{self.total} replications done"
        if self.finished or self.seed is None:
            return head
        hours = f"{self.sim_s / 3600:.1f} of {self.duration_s / 3600:.1f} h"
        return f"{head} · seed {self.seed} · simulated clock {self.clock} ({hours})"

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the pace so far; None until there is a pace to go by (or once finished)."""
        if self.finished or self.fraction < 0.01 or not self.updated or not self.started:
            return None
        spent = max(0.0, float(self.updated) - float(self.started))
        return spent * (1.0 - self.fraction) / self.fraction


# --------------------------------------------------------------------------- files
def _write_json(path: Path, doc: dict[str, Any]) -> None:
    """Write JSON atomically: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(doc, default=str))
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any]:
    for _ in range(3):
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise
        except (OSError, ValueError):
            time.sleep(0.02)
    return json.loads(path.read_text())


def _job_dir(store_root: str | Path, job_id: str) -> Path:
    d = Path(store_root) / "jobs" / job_id
    if not job_id or "/" in job_id or job_id.startswith(".") or not (d / "spec.json").is_file():
        raise StoreError(f"{store_root}: no job {job_id!r}")
    return d


# --------------------------------------------------------------------------- app side
class _Launcher:
    """Forks workers from one long-lived daemon thread (see the module doc: PR_SET_PDEATHSIG)."""

    def __init__(self) -> None:
        self.requests: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def popen(self, args: list[str], **kw: Any) -> subprocess.Popen:
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._loop, name="pilot-job-launcher", daemon=True)
                self.thread.start()
        box: queue.Queue = queue.Queue(maxsize=1)
        self.requests.put((args, kw, box))
        ok, value = box.get()
        if not ok:
            raise value
        return value

    def _loop(self) -> None:
        while True:
            args, kw, box = self.requests.get()
            try:
                box.put((True, subprocess.Popen(args, **kw)))
            except Exception as exc:
                box.put((False, exc))


_LAUNCHER = _Launcher()


def start_job(
    scenario: Any,
    store_root: str | Path,
    seeds: list[int] | None = None,
    abandon_after_s: float | None = None,
    started_by: str = "",
) -> str:
    """Start a worker process that runs ``scenario`` for ``seeds`` into the store; return the job id.

    If a job with the same resolved scenario and seeds is still running, its id is returned and
    nothing new starts (no run is computed twice).

    Args:
        scenario: A validated :class:`simulation.config.scenario.Scenario` (it is sent resolved, so the
            worker runs exactly it, with the same digest and hence the same run ids).
        store_root: The results store folder.
        seeds: Seeds to run; default the scenario's replication seeds.
        abandon_after_s: Stop when no caller has called :func:`heartbeat` for this long; default
            ``$PILOT_JOB_ABANDON_S`` if set, else never (the job runs until done or cancelled).
        started_by: Who started it (shown to every session that lists the job).
    """
    from simulation.results.run import replication_seeds

    seeds = list(seeds) if seeds is not None else replication_seeds(scenario.seed, scenario.replications)
    if abandon_after_s is None and os.environ.get("PILOT_JOB_ABANDON_S"):
        abandon_after_s = float(os.environ["PILOT_JOB_ABANDON_S"])
    key = job_key(scenario, seeds)
    busy = busy_seeds(store_root, scenario)
    if seeds and all(s in busy for s in seeds):
        return busy[seeds[0]]  # every run is being computed already
    elsewhere = {str(s): busy[s] for s in seeds if s in busy}
    seeds = [s for s in seeds if s not in busy]  # the others land in the store from their own job
    _sweep(Path(store_root) / "jobs")
    job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    d = Path(store_root) / "jobs" / job_id
    d.mkdir(parents=True)
    spec = {
        "job_id": job_id,
        "scenario": scenario.model_dump(mode="json"),
        "seeds": seeds,
        "store": str(Path(store_root).resolve()),
        "parent_pid": os.getpid(),
        "abandon_after_s": abandon_after_s,
        "created": time.time(),
        "started_by": started_by.strip()[:80],
        "key": key,
        "scenario_key": job_key(scenario, []),
        "elsewhere": elsewhere,
    }
    _write_json(d / "spec.json", spec)
    _write_json(d / "progress.json", _initial(spec))
    (d / "heartbeat").touch()
    spawn_worker(d, "simulation.jobs.runs")
    return job_id


def job_key(scenario: Any, seeds: list[int]) -> str:
    """What makes two jobs the same work: the resolved scenario (without its name, its own seed and
    replication count, which no run id depends on) and the seeds."""
    doc = scenario.model_dump(mode="json", exclude={"name", "description", "source", "seed", "replications"})
    return hashlib.sha256(json.dumps([doc, list(seeds)], sort_keys=True, default=str).encode()).hexdigest()[:16]


def busy_seeds(store_root: str | Path, scenario: Any) -> dict[int, str]:
    """Seed -> id of the running job computing this scenario's run for that seed."""
    skey = job_key(scenario, [])
    out: dict[int, str] = {}
    for s in running_jobs(store_root):
        with contextlib.suppress(OSError, ValueError):
            spec = _read_json(Path(store_root) / "jobs" / s.job_id / "spec.json")
            if spec.get("scenario_key") == skey:
                for seed in spec.get("seeds") or ():
                    out.setdefault(int(seed), s.job_id)
    return out


def same_job(store_root: str | Path, scenario: Any, seeds: list[int]) -> str | None:
    """The id of a running job that computes these runs (all of them are under way), if any."""
    busy = busy_seeds(store_root, scenario)
    return busy[seeds[0]] if seeds and all(s in busy for s in seeds) else None


def spawn_worker(job_dir: Path, module: str) -> subprocess.Popen:
    """Start ``python -m MODULE JOB_DIR`` as a job's worker: its own session, output to
    ``worker.log``, forked from the long-lived launcher thread (so it dies with the app), its pid
    in ``pid``, and reaped as soon as it exits."""
    job_id = job_dir.name
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_ROOT), env.get("PYTHONPATH", "")) if p)
    with open(job_dir / "worker.log", "ab") as log:
        proc = _LAUNCHER.popen(
            [sys.executable, "-m", module, str(job_dir.resolve())],
            cwd=os.getcwd(),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    (job_dir / "pid").write_text(str(proc.pid))
    _PROCS[job_id] = proc
    # Reap the worker as soon as it exits, so no zombie waits for the next poll.
    threading.Thread(target=proc.wait, name=f"pilot-job-reaper-{job_id}", daemon=True).start()
    return proc


def _sweep(jobs: Path, older_than_s: float = JOB_KEEP_S) -> None:
    """Remove folders of finished jobs not touched for a week (their runs stay in the store)."""
    for p in jobs.glob("*/progress.json") if jobs.is_dir() else []:
        with contextlib.suppress(OSError, ValueError):
            if time.time() - p.stat().st_mtime > older_than_s and json.loads(p.read_text())["state"] in FINAL_STATES:
                shutil.rmtree(p.parent, ignore_errors=True)


def _initial(spec: dict[str, Any]) -> dict[str, Any]:
    sc = spec["scenario"]
    from simulation.config.scenario import parse_duration

    return {
        "job_id": spec["job_id"],
        "state": "starting",
        "scenario": sc.get("name", "?"),
        "total": len(spec["seeds"]),
        "done": 0,
        "seed": None,
        "fraction": 0.0,
        "sim_s": 0.0,
        "duration_s": parse_duration(sc.get("duration", 0)),
        "clock": "",
        "run_ids": [],
        "reused": 0,
        "failed": [],
        "message": "",
        "started": spec["created"],
        "updated": time.time(),
        "pid": None,
        "started_by": spec.get("started_by", ""),
    }


def _alive(job_id: str, d: Path) -> tuple[bool, int | None]:
    proc = _PROCS.get(job_id)
    if proc is not None:
        code = proc.poll()
        return code is None, code
    try:
        pid = int((d / "pid").read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return False, None
    return str(d).encode() in cmdline, None


def job_status(store_root: str | Path, job_id: str) -> JobStatus:
    """The job's progress; a worker that vanished without a final state is reported as failed."""
    d = _job_dir(store_root, job_id)
    doc = _read_json(d / "progress.json")
    if doc["state"] not in FINAL_STATES:
        alive, code = _alive(job_id, d)
        if not alive:
            time.sleep(0.05)  # the worker may have written its last word just now
            doc = _read_json(d / "progress.json")
            if doc["state"] not in FINAL_STATES:
                tail = _log_tail(d)
                doc |= {
                    "state": "failed",
                    "updated": time.time(),
                    "message": f"the worker stopped unexpectedly (exit code {code}){': ' + tail if tail else ''}",
                }
                _write_json(d / "progress.json", doc)
    fields = JobStatus.__dataclass_fields__
    vals: dict[str, Any] = {k: doc.get(k) for k in fields}
    vals["run_ids"] = tuple(doc.get("run_ids") or ())
    vals["failed"] = tuple(doc.get("failed") or ())
    vals["started_by"] = str(doc.get("started_by") or "")
    return JobStatus(**vals)


def _log_tail(d: Path, lines: int = 3) -> str:
    try:
        text = (d / "worker.log").read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


def heartbeat(store_root: str | Path, job_id: str) -> None:
    """Tell the worker a page is still watching it (see ``abandon_after_s``)."""
    with contextlib.suppress(OSError):
        os.utime(Path(store_root) / "jobs" / job_id / "heartbeat")


def cancel_job(store_root: str | Path, job_id: str, timeout: float = 5.0) -> JobStatus:
    """Stop a job's worker and everything it started; return the final status.

    Its process group goes first, then any descendant that left the group (plugin sandboxes run
    in sessions of their own). Runs the worker already finished stay in the store; the run it was
    writing is not there (the store writes a run to a hidden folder and renames it into place).
    """
    d = _job_dir(store_root, job_id)
    (d / "cancel").write_text(str(time.time()))
    proc = _PROCS.get(job_id)
    alive, _ = _alive(job_id, d)
    if alive:
        pgid = proc.pid if proc is not None else int((d / "pid").read_text())
        tree = _descendants(pgid)
        _signal_group(pgid, signal.SIGTERM)
        if not _wait_exit(job_id, d, timeout):
            _signal_group(pgid, signal.SIGKILL)
            _wait_exit(job_id, d, timeout)
        _signal_group(pgid, signal.SIGKILL)  # stragglers still in the group
        for pid in tree:  # and those in sessions of their own
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    doc = _read_json(d / "progress.json")
    if doc["state"] not in FINAL_STATES:
        doc |= {"state": "cancelled", "message": "cancelled in the app", "updated": time.time()}
        _write_json(d / "progress.json", doc)
    return job_status(store_root, job_id)


def _descendants(pid: int) -> list[int]:
    """Pids of every process below ``pid`` (Linux ``/proc``; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait_exit(job_id: str, d: Path, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not _alive(job_id, d)[0]:
            return True
        time.sleep(0.05)
    return False


def list_jobs(store_root: str | Path) -> list[JobStatus]:
    """Every job in the store's ``jobs`` folder, oldest first."""
    root = Path(store_root) / "jobs"
    out = []
    for d in sorted(root.glob("*/spec.json")) if root.is_dir() else []:
        with contextlib.suppress(OSError, ValueError, StoreError):
            out.append(job_status(store_root, d.parent.name))
    return sorted(out, key=lambda s: s.started)


def running_jobs(store_root: str | Path) -> list[JobStatus]:
    """The store's jobs whose worker still runs, oldest first (every session sees the same list)."""
    return [s for s in list_jobs(store_root) if not s.finished]


def expected_run_ids(scenario: Any, seeds: list[int]) -> list[str] | None:
    """Run ids ``run_or_reuse`` will look up for these seeds; None when a plugin's code decides them."""
    from simulation.config.scenario import scenario_district
    from simulation.results.run import code_digest, run_id_for, services_digest

    if any(not s.use.startswith("builtin:") for s in scenario.services):
        return None
    # A fresh worker hashes the package's code as it is now; the app's process may be older than that.
    code_digest.cache_clear()
    district = scenario_district(scenario)
    plugins = services_digest([s.use for s in scenario.services])
    return [run_id_for(scenario, district.digest, s, plugins) for s in seeds]


# --------------------------------------------------------------------------- worker side
class _Progress:
    """The worker's progress file: throttled atomic writes; a final state is written once."""

    def __init__(self, d: Path, spec: dict[str, Any]) -> None:
        self.path = d / "progress.json"
        self.doc = _initial(spec) | {"pid": os.getpid()}
        self.lock = threading.RLock()  # RLock: the SIGTERM handler may interrupt a write
        self.final = False
        self.last = 0.0
        self.start: datetime | None = None

    def update(self, force: bool = True, **kw: Any) -> None:
        with self.lock:
            if self.final:
                return
            self.doc |= kw
            now = time.time()
            if force or now - self.last >= 0.2:
                self.doc["updated"] = self.last = now
                _write_json(self.path, self.doc)

    def tick(self, k: int, frac: float) -> None:
        dur = float(self.doc["duration_s"])
        clock = (self.start + timedelta(seconds=frac * dur)).strftime("%H:%M") if self.start else ""
        self.update(force=False, sim_s=frac * dur, clock=clock, fraction=(k + frac) / max(1, self.doc["total"]))

    def finish(self, state: str, message: str) -> None:
        with self.lock:
            if self.final:
                return
            self.update(state=state, message=message)
            self.final = True


def _stop(prog: _Progress, state: str, message: str) -> None:
    prog.finish(state, message)
    os.killpg(os.getpgrp(), signal.SIGKILL)  # the worker and any sandbox it started


def _guard(d: Path, spec: dict[str, Any], prog: _Progress) -> None:
    """Die with the app (PDEATHSIG + watchdog), on SIGTERM, or when nobody watches any more."""
    parent = int(spec["parent_pid"])

    def on_term(_sig: int, _frame: Any) -> None:
        why = "cancelled in the app" if (d / "cancel").exists() else "stopped: the app that started this job has exited"
        _stop(prog, "cancelled", why)

    signal.signal(signal.SIGTERM, on_term)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    abandon = float(spec["abandon_after_s"]) if spec.get("abandon_after_s") else math.inf

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                _stop(prog, "cancelled", "stopped: the app that started this job has exited")
            try:
                idle = time.time() - (d / "heartbeat").stat().st_mtime
            except OSError:
                idle = 0.0
            if idle > abandon:
                _stop(prog, "cancelled", f"stopped: no page has shown this job for {idle:.0f} s (browser closed?)")
            time.sleep(0.25)

    threading.Thread(target=watch, name="pilot-job-watchdog", daemon=True).start()


def worker(job_dir: str | Path) -> int:
    """Run one job (the body of ``python -m simulation.jobs.runs JOB_DIR``)."""
    from simulation.config._yaml import parse_model
    from simulation.config.scenario import Scenario, check_against_district, scenario_district
    from simulation.errors import ScenarioError
    from simulation.results.reuse import run_or_reuse
    from simulation.results.store import Store

    d = Path(job_dir)
    spec = _read_json(d / "spec.json")
    prog = _Progress(d, spec)
    _guard(d, spec, prog)
    try:
        raw = spec["scenario"]
        sc = parse_model(Scenario, raw, raw.get("source") or raw.get("name", "scenario"), ScenarioError)
        check_against_district(sc, scenario_district(sc))
        prog.start = sc.start
        store = Store(spec["store"])
        prog.update(state="running")
        run_ids: list[str] = []
        failed: list[dict[str, Any]] = []
        reused_n = 0
        for k, seed in enumerate(spec["seeds"]):
            prog.update(seed=seed, sim_s=0.0, clock=sc.start.strftime("%H:%M"))

            def cb(frac: float, k: int = k) -> None:
                prog.tick(k, frac)

            try:
                r, reused = run_or_reuse(sc, seed, store, progress=cb)
            except OSError:  # another session stored the same run at the same moment: take it
                r, reused = run_or_reuse(sc, seed, store, progress=cb)
            run_ids.append(r.run_id)
            reused_n += int(reused)
            if r.status != "ok":
                reason = (r.error or "no reason recorded").strip().splitlines()[0]
                failed.append({"seed": seed, "run_id": r.run_id, "error": reason})
            prog.update(
                done=k + 1, fraction=(k + 1) / len(spec["seeds"]), run_ids=run_ids, reused=reused_n, failed=failed
            )
        n = len(run_ids)
        msg = f"{n} run{'s' if n != 1 else ''} in the store ({n - reused_n} new, {reused_n} reused)"
        if failed:
            msg += f"; {len(failed)} failed (seed {failed[0]['seed']}: {failed[0]['error']})"
        prog.finish("done", msg)
        return 0
    except SandboxError as exc:
        prog.finish("failed", str(exc))
        return 2
    except Exception as exc:
        traceback.print_exc()
        prog.finish("failed", f"the worker crashed: {type(exc).__name__}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(worker(sys.argv[1]))
