"""The 15-district day: runs per second and cost per district on 1 vs 2 local workers and on Dask.

Plans the shipped programme's baselines for its last year (15 pilot districts: 2 shipped, 1
imported from OpenStreetMap, 12 generated archetypes; one replication each) and runs them through
the batch executors (:func:`simulation.batch.executors.open_pool`), as ``python -m simulation
programme`` does, but without the store (every configuration computes every run):

- ``local × 1`` (the reference, in the same process), ``local × 2``, ``dask LocalCluster × 2``;
- runs/s once the workers are up, and per district the run's own wall time (``RunResult.wall_s``).

Target (issue "the programme"): 2 local workers ≥ 1.8× one worker.

    .venv/bin/python benchmarks/programme_scale.py                  # the full day (24 h per district)
    .venv/bin/python benchmarks/programme_scale.py --duration 6h --repeat 2   # a shorter day, best of 2

Figures measured on this machine are in docs/programme.md ("Scale").
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
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


def _measure(executor: str, workers: int, tasks: list) -> dict:
    from simulation.batch.executors import open_pool
    from simulation.batch.worker import execute

    t0 = time.perf_counter()
    pool = open_pool(executor, execute, workers)
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
    return {"start_s": up - t0, "wall_s": end - up, "runs_per_s": len(tasks) / (end - up), "walls": walls}


def main(argv: list[str] | None = None) -> int:
    """Run the three configurations and print their figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", default="24h", help="simulated time per district (default 24h)")
    ap.add_argument("--no-dask", action="store_true", help="skip the Dask LocalCluster")
    ap.add_argument("--repeat", type=int, default=1, help="rounds over the configurations; the best round counts")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tasks = _tasks(args.duration, Path(tmp))
        print(f"{len(tasks)} districts, one {args.duration} day each (baseline services, seed 1)")
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
        configs = [("local", 1), ("local", 2)] + ([] if args.no_dask else [("dask", 2)])
        out: dict[tuple[str, int], dict] = {}
        for _ in range(args.repeat):
            for executor, n in configs:
                m = _measure(executor, n, tasks)
                if (executor, n) not in out or m["runs_per_s"] > out[(executor, n)]["runs_per_s"]:
                    out[(executor, n)] = m
        for (executor, n), m in out.items():
            label = f"{'dask LocalCluster' if executor == 'dask' else 'local'} × {n}"
            print(
                f"{label:<22} {len(tasks)} runs  {m['runs_per_s']:.3f} runs/s  (start {m['start_s']:.1f} s, "
                f"wall {m['wall_s']:.1f} s, {m['wall_s'] * n / len(tasks):.1f} worker-s per district)",
                flush=True,
            )
        ref = out[("local", 1)]
        print("per district (run wall time on 1 worker):")
        for name, w in sorted(ref["walls"].items(), key=lambda kv: -kv[1]):
            print(f"  {name:<20} {w:6.1f} s")
        print(f"load average after: {os.getloadavg()[0]:.1f}")
        r2 = out[("local", 2)]["runs_per_s"] / ref["runs_per_s"]
        print(f"2 workers / 1 worker: {r2:.2f}× (target ≥ 1.8×)")
        if ("dask", 2) in out:
            print(f"dask × 2 / local × 2: {out[('dask', 2)]['runs_per_s'] / out[('local', 2)]['runs_per_s']:.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
