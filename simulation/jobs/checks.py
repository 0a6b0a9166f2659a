"""Conformance checks in a background worker, and the reports they leave in the results store.

The web app starts ``check-plugin`` on a plugin folder with :func:`start_check`; the worker
(``python -m simulation.jobs.checks JOB_DIR``) runs :func:`~simulation.results.conformance.check_plugin`
(the plugin itself runs in the sandbox, as always) and writes the report atomically::

    STORE/conformance/<name>-<code hash>.json    the report (check-plugin --json) + code_hash, checked_at
    STORE/conformance/jobs/<job_id>/             spec.json, progress.json, heartbeat, cancel, worker.log

Job folders follow :mod:`simulation.jobs.runs`' layout and its worker plumbing is reused (the launcher
thread behind ``PR_SET_PDEATHSIG``, the watchdog, SIGTERM handling, atomic JSON), so
``job_status``/``heartbeat``/``cancel_job`` of that module work on them with
:func:`conformance_root` as the store. The app process only reads these JSON files: it never
imports plugin code.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
import traceback
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from simulation.errors import SandboxError
from simulation.jobs import runs as jobs

__all__ = [
    "cancel_check",
    "check_heartbeat",
    "check_status",
    "conformance_root",
    "latest_report",
    "read_report",
    "report_path",
    "start_check",
]

DEFAULT_ABANDON_S = 1800.0  # a check is short; let it finish while the user looks at other pages


def conformance_root(store_root: str | Path) -> Path:
    """Where reports (and check jobs, under ``jobs/``) live: ``STORE/conformance``."""
    return Path(store_root) / "conformance"


def report_path(store_root: str | Path, name: str, code_hash: str) -> Path:
    """The report of plugin ``name`` with code ``code_hash`` (see ``Plugin.code_hash``)."""
    return conformance_root(store_root) / f"{name}-{code_hash}.json"


def read_report(path: str | Path) -> dict[str, Any] | None:
    """A stored report, or None when it is missing or unreadable."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def latest_report(
    store_root: str | Path, name: str, code_hash: str, folder: str | Path | None = None
) -> tuple[dict[str, Any] | None, bool]:
    """The report for this exact code, else the newest for older code of ``folder``: ``(report, is_current)``.

    Reports are per code, wherever it lives: an uploaded copy of a shipped plugin shares its result.
    An outdated report counts only for the folder it was made in (another folder with the same
    plugin name is another company's variant, not an earlier version).
    """
    current = read_report(report_path(store_root, name, code_hash))
    if current is not None:
        return current, True
    if folder is None:
        return None, False
    where = str(Path(folder).resolve())
    root = conformance_root(store_root)
    older = sorted(
        (p for p in root.glob(f"{name}-*.json") if p.stem[len(name) + 1 :].isalnum()),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for p in older:
        doc = read_report(p)
        if doc is not None and doc.get("folder") == where:
            return doc, False
    return None, False


# --------------------------------------------------------------------------- app side
def start_check(
    folder: str | Path,
    store_root: str | Path,
    *,
    label: str | None = None,
    districts: list[str] | None = None,
    duration: str | float = "2h",
    abandon_after_s: float | None = None,
) -> str:
    """Start ``check-plugin`` on ``folder`` in a worker process; return the job id.

    Args:
        folder: The plugin folder.
        store_root: The results store; the report lands in ``STORE/conformance/``.
        label: Name shown while the check runs (default: the folder's name).
        districts: Districts to check in (default: every shipped one, as the CLI does).
        duration: Length of the standard scenario (default 2 h, as the CLI).
        abandon_after_s: Stop when no page has called :func:`check_heartbeat` for this long.
    """
    from simulation.config.scenario import parse_duration
    from simulation.errors import ScenarioError

    try:
        parse_duration(duration)
    except ValueError as exc:
        raise ScenarioError("check duration", f"{exc}; got {duration!r}") from None
    croot = conformance_root(store_root)
    jobs._sweep(croot / "jobs")
    job_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    d = croot / "jobs" / job_id
    d.mkdir(parents=True)
    now = time.time()
    spec = {
        "job_id": job_id,
        "kind": "check-plugin",
        "folder": str(Path(folder).resolve()),
        "label": label or Path(folder).name,
        "districts": list(districts) if districts else None,
        "duration": duration,
        "store": str(Path(store_root).resolve()),
        "parent_pid": os.getpid(),
        "abandon_after_s": float(abandon_after_s or DEFAULT_ABANDON_S),
        "created": now,
    }
    jobs._write_json(d / "spec.json", spec)
    jobs._write_json(d / "progress.json", _initial(spec) | {"updated": now})
    (d / "heartbeat").touch()
    jobs.spawn_worker(d, "simulation.jobs.checks")
    return job_id


def check_status(store_root: str | Path, job_id: str) -> jobs.JobStatus:
    """The check's progress (``message`` says what runs now; at the end, the verdict or the error)."""
    return jobs.job_status(conformance_root(store_root), job_id)


def running_check(store_root: str | Path, folder: str | Path) -> str | None:
    """The newest unfinished check of the plugin in ``folder``, whoever started it, or None."""
    want = str(Path(folder).resolve())
    croot = conformance_root(store_root)
    for status in reversed(jobs.list_jobs(croot)):  # newest first
        if status.finished:
            continue
        with contextlib.suppress(OSError, ValueError):
            if jobs._read_json(croot / "jobs" / status.job_id / "spec.json").get("folder") == want:
                return status.job_id
    return None


def check_heartbeat(store_root: str | Path, job_id: str) -> None:
    """Tell the worker a page still shows it."""
    jobs.heartbeat(conformance_root(store_root), job_id)


def cancel_check(store_root: str | Path, job_id: str) -> jobs.JobStatus:
    """Stop the check's worker and its sandboxes; no report is written."""
    return jobs.cancel_job(conformance_root(store_root), job_id)


def _initial(spec: dict[str, Any]) -> dict[str, Any]:
    """A progress document with the fields of :class:`simulation.jobs.runs.JobStatus`."""
    return {
        "job_id": spec["job_id"],
        "state": "starting",
        "scenario": f"check-plugin {spec['label']}",
        "total": 0,
        "done": 0,
        "seed": None,
        "fraction": 0.0,
        "sim_s": 0.0,
        "duration_s": 0.0,
        "clock": "",
        "run_ids": [],
        "reused": 0,
        "failed": [],
        "message": "starting the worker…",
        "started": spec["created"],
        "updated": spec["created"],
        "pid": None,
        "report": None,
    }


# --------------------------------------------------------------------------- worker side
class _Progress:
    """progress.json of a check: atomic writes; a final state is written once (also from SIGTERM)."""

    def __init__(self, d: Path, spec: dict[str, Any]) -> None:
        self.path = d / "progress.json"
        self.doc = _initial(spec) | {"pid": os.getpid()}
        self.lock = threading.RLock()
        self.final = False

    def update(self, **kw: Any) -> None:
        with self.lock:
            if self.final:
                return
            self.doc |= kw | {"updated": time.time()}
            jobs._write_json(self.path, self.doc)

    def finish(self, state: str, message: str, **kw: Any) -> None:
        with self.lock:
            if self.final:
                return
            self.update(state=state, message=message, **kw)
            self.final = True


def _write_report(store: str, doc: dict[str, Any]) -> Path:
    path = report_path(store, doc["plugin"], doc["code_hash"])
    path.parent.mkdir(parents=True, exist_ok=True)
    jobs._write_json(path, doc)
    return path


def worker(job_dir: str | Path) -> int:
    """Run one check (the body of ``python -m simulation.jobs.checks JOB_DIR``)."""
    from simulation.config.district import list_districts
    from simulation.config.scenario import parse_duration
    from simulation.plugins.discovery import open_plugin
    from simulation.results import conformance

    d = Path(job_dir)
    spec = jobs._read_json(d / "spec.json")
    prog = _Progress(d, spec)
    jobs._guard(d, spec, prog)  # type: ignore[arg-type]  # duck-typed: only finish() is used
    head: dict[str, Any] = {}
    try:
        plugin = open_plugin(spec["folder"])
        head = {
            "plugin": plugin.name,
            "version": plugin.manifest.version,
            "folder": str(plugin.folder),
            "code_hash": plugin.code_hash,
            "job_id": spec["job_id"],
        }
        duration = parse_duration(spec["duration"])
        districts = spec["districts"] or [str(p) for p in list_districts()] or None
        total = 2 * len(districts or [None]) + 1  # baseline + candidate per district, one repeat
        prog.update(state="running", total=total, duration_s=duration, message="importing the service in the sandbox")
        original = conformance._run
        count = [0]

        def counted(sc: Any, seed: int) -> Any:
            what = "baseline" if sc.name == "check_baseline" else "with the service"
            prog.update(message=f"run {count[0] + 1} of {total}: {what} in {Path(sc.district).name}")
            out = original(sc, seed)
            count[0] += 1
            prog.update(done=count[0], fraction=min(0.99, count[0] / total))
            return out

        conformance._run = counted  # progress per simulated run; this process does nothing else
        t0 = time.time()
        report = conformance.check_plugin(spec["folder"], districts=districts, duration=duration)
        doc = (
            head
            | report.to_json()
            | {
                "code_hash": head["code_hash"],
                "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "duration_s": duration,
                "elapsed_s": round(time.time() - t0, 1),
            }
        )
        path = _write_report(spec["store"], doc)
        failed = [c["name"] for c in doc["checks"] if not c["passed"]]
        verdict = (
            "conforms: every check passed"
            if doc["conforms"]
            else f"does not conform: {len(failed)} check(s) failed ({', '.join(failed[:3])})"
        )
        prog.finish("done", verdict, done=count[0], fraction=1.0, report=str(path))
        return 0 if doc["conforms"] else 1
    except SandboxError as exc:  # bad manifest, no sandbox on this machine, bad district: say why
        if head:
            doc = head | {
                "conforms": False,
                "error": str(exc),
                "checks": [],
                "runs": [],
                "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            _write_report(spec["store"], doc)
        prog.finish("failed", f"the check could not run: {exc}")
        return 2
    except Exception as exc:
        traceback.print_exc()
        prog.finish("failed", f"the check crashed: {type(exc).__name__}: {exc}")
        return 1


if __name__ == "__main__":
    sys.exit(worker(sys.argv[1]))
