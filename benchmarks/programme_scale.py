"""The 15-district day: runs per second and cost per district on 1 vs 2 local workers and on Dask.

Plans the shipped programme's baselines for its last year (15 pilot districts: 2 shipped, 1
imported from OpenStreetMap, 12 generated archetypes; one replication each) and runs them through
the batch executors (:func:`simulation.batch.executors.open_pool`), as ``python -m simulation
programme`` does, but without the store (every configuration computes every run):

- ``local × 1`` (the reference, in the same process), ``local × 2``, ``dask LocalCluster × 2``;
- with ``--cluster``, also a Dask cluster started the way docs/batch.md says ("On one machine"):
  ``dask scheduler`` and ``dask worker --nworkers 2 --nthreads 1`` as separate processes on
  127.0.0.1, reached through ``--scheduler``; ``--scheduler ADDRESS`` uses a cluster already running;
- runs/s once the workers are up, and per district the run's own wall time (``RunResult.wall_s``).

Target (issue "the programme"): 2 local workers ≥ 1.8× one worker.

    .venv/bin/python benchmarks/programme_scale.py                  # the full day (24 h per district)
    .venv/bin/python benchmarks/programme_scale.py --duration 6h --repeat 2   # a shorter day, best of 2
    .venv/bin/python benchmarks/programme_scale.py --cluster        # + a `dask scheduler`/`dask worker` cluster

Figures measured on this machine are in docs/programme.md ("Scale").
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _tasks(duration: str, store: Path) -> list:
    from simulation.batch.worker import RunTask
    from simulation.config.programme import load_programme
    from simulation.programme.run import longest_first, plan_runs

    prog = load_programme(ROOT / "config" / "programme.yaml")
    run = prog.run.model_copy(update={"replications": 1, "duration": _seconds(duration)})
    prog = prog.model_copy(update={"run": run})
    runs = longest_first([r for r in plan_runs(prog, store) if r.variant == "baseline"])
    return [RunTask(r.scenario, r.seed, r.run_id, k, 0) for k, r in enumerate(runs)]


def _seconds(text: str) -> float:
    from simulation.config.scenario import parse_duration

    return float(parse_duration(text))


def _measure(executor: str, workers: int, tasks: list, scheduler: str | None = None) -> dict:
    from simulation.batch.executors import open_pool
    from simulation.batch.worker import execute

    t0 = time.perf_counter()
    pool = open_pool(executor, execute, workers, scheduler, timeout_s=60.0)
    up = time.perf_counter()
    try:
        futs = {pool.submit(t): t for t in tasks}
        walls: dict[str, float] = {}
        pending = set(futs)
        while pending:
            for f in pool.wait(list(pending), 1.0):
                pending.discard(f)
                kind, res = pool.outcome(f)
                if kind != "ok" or res.status != "ok":
                    raise RuntimeError(f"run {futs[f].run_id} failed: {res if kind != 'ok' else res.error}")
                walls[res.district] = res.wall_s
    finally:
        end = time.perf_counter()
        pool.close()
    return {
        "start_s": up - t0,
        "wall_s": end - up,
        "runs_per_s": len(tasks) / (end - up),
        "walls": walls,
        "workers": max(1, pool.workers),
    }


@contextlib.contextmanager
def dask_cluster(workers: int) -> Iterator[str]:
    """A scheduler and worker processes started with Dask's own commands, as docs/batch.md shows."""
    import socket

    from distributed import Client

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).parent / "dask")
    env = os.environ | {"DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}
    with tempfile.TemporaryFile() as log:
        procs = [
            subprocess.Popen(
                [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"],
                env=env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            ),
            subprocess.Popen(  # in another folder: the workers import the installed package, not this checkout
                [dask, "worker", address, "--nworkers", str(workers), "--nthreads", "1", "--host", "127.0.0.1"],
                env=env,
                cwd=tempfile.gettempdir(),
                stdout=log,
                stderr=log,
                start_new_session=True,
            ),
        ]
        try:
            with Client(address, timeout=60, set_as_default=False) as client:
                client.wait_for_workers(workers, timeout=120)  # every worker up before the clock starts
            yield address
        finally:
            for proc in reversed(procs):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(20)


def main(argv: list[str] | None = None) -> int:
    """Run the three configurations and print their figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", default="24h", help="simulated time per district (default 24h)")
    ap.add_argument("--no-dask", action="store_true", help="skip the Dask LocalCluster")
    ap.add_argument("--repeat", type=int, default=1, help="rounds over the configurations; the best round counts")
    ap.add_argument("--cluster", action="store_true", help="also start a `dask scheduler` + `dask worker` cluster")
    ap.add_argument("--scheduler", metavar="ADDRESS", help="also use a Dask cluster already running at ADDRESS")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error(f"--repeat must be at least 1, not {args.repeat}")
    with tempfile.TemporaryDirectory() as tmp:
        tasks = _tasks(args.duration, Path(tmp))
        print(f"{len(tasks)} districts, one {args.duration} day each (baseline services, seed 1)")
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        configs: list[tuple[str, int, str | None]] = [("local", 1, None), ("local", 2, None)]
        configs += [] if args.no_dask else [("dask", 2, None)]
        with contextlib.ExitStack() as stack:
            if args.cluster:
                configs.append(("dask", 2, stack.enter_context(dask_cluster(2))))
            if args.scheduler:
                configs.append(("dask", 0, args.scheduler))
            out: dict[tuple[str, int, str | None], dict] = {}
            for _ in range(args.repeat):
                for executor, n, address in configs:
                    m = _measure(executor, n, tasks, address)
                    if (executor, n, address) not in out or m["runs_per_s"] > out[(executor, n, address)]["runs_per_s"]:
                        out[(executor, n, address)] = m | {"workers": m.get("workers", n)}
        for (executor, n, address), m in out.items():
            n = m["workers"]
            label = f"local × {n}" if executor == "local" else f"dask LocalCluster × {n}"
            if address:
                label = f"dask cluster × {n}"
            print(
                f"{label:<22} {len(tasks)} runs  {m['runs_per_s']:.3f} runs/s  (start {m['start_s']:.1f} s, "
                f"wall {m['wall_s']:.1f} s, {m['wall_s'] * n / len(tasks):.1f} worker-s per district)",
                flush=True,
            )
        ref = out[("local", 1, None)]
        print("per district (run wall time on 1 worker):")
        for name, w in sorted(ref["walls"].items(), key=lambda kv: -kv[1]):
            print(f"  {name:<20} {w:6.1f} s")
        print(f"load average after: {os.getloadavg()[0]:.1f}")
        two = out[("local", 2, None)]["runs_per_s"]
        print(f"2 workers / 1 worker: {two / ref['runs_per_s']:.2f}× (target ≥ 1.8×)")
        for (executor, _, address), m in out.items():
            if executor == "dask":
                where = f"cluster at {address}" if address else "LocalCluster"
                print(f"dask {where} / local × 2: {m['runs_per_s'] / two:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
