"""Batch throughput and driver memory: 1 vs 2 local workers vs a Dask LocalCluster of 2 workers.

On the same 40-run study (a generated 1 km² district, 6 h per run) this prints runs per second
once the workers are up, for ``--workers 1``, ``--workers 2`` and ``--executor dask --workers 2``,
and the driver's peak memory (its own max RSS; workers are separate processes) for a 40-run and a
400-run study. Each configuration runs in a fresh child process with a fresh output folder.
Targets (issue "batch engine"): 2 workers ≥ 1.7× one worker; Dask within 1.25× of local
processes; driver memory for 400 runs within 1.2× of that for 40.

    .venv/bin/python benchmarks/batch_scaling.py                     # all four configurations
    .venv/bin/python benchmarks/batch_scaling.py --throughput-only   # the three 40-run ones

Reference, measured 2026-11-25 on 2 vCPUs with nothing else running (runs of ~0.5 s each):

    local × 1                  40 runs    1.70 runs/s  (start 0.8 s, wall 24.4 s)  driver peak RSS 194 MB
    local × 2                  40 runs    3.22 runs/s  (start 0.9 s, wall 13.3 s)  driver peak RSS 194 MB
    dask LocalCluster × 2      40 runs    2.79 runs/s  (start 0.7 s, wall 15.1 s)  driver peak RSS 213 MB
    local × 2                 400 runs    3.52 runs/s  (start 0.9 s, wall 114.6 s) driver peak RSS 195 MB
    2 workers / 1 worker 1.90×; local / dask 1.16× (1.07-1.26× over several runs); driver memory 1.00×

Dask's task profiler (on by default in a Dask worker) slowed each run by about a fifth; the
LocalCluster the batch starts has it off, and docs/batch.md says how to start external workers.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVICES = [{"use": "builtin:cctv_monitoring"}, {"use": "builtin:public_wifi"}, {"use": "builtin:streetlights"}]


def _setup(tmp: Path) -> dict[int, Path]:
    from simulation.config.generator import make_district

    district = tmp / "bench"
    make_district(
        district,
        name="bench",
        title="Batch benchmark district",
        origin_lat=37.55,
        origin_lon=126.99,
        width_m=1000,
        height_m=1000,
        residents=5000,
        workers=2500,
        visitors=800,
        seed=11,
    )
    (tmp / "base.yaml").write_text(
        yaml.safe_dump(
            {
                "district": str(district),
                "start": "2026-05-12T16:00",
                "duration": "6h",
                "seed": 1,
                "replications": 1,
                "services": SERVICES,
            },
            sort_keys=False,
        )
    )
    studies = {}
    for runs, levels in ((40, 4), (400, 40)):
        p = tmp / f"study{runs}.yaml"
        p.write_text(
            yaml.safe_dump(
                {
                    "base": "base.yaml",
                    "budget": runs,
                    "factors": {"demand.safety.incidents_per_day": {"levels": [24 + 6 * k for k in range(levels)]}},
                    "replications": 10,
                },
                sort_keys=False,
            )
        )
        studies[runs] = p
    return studies


def _child(study: str, out: str, executor: str, workers: int) -> None:
    from simulation.batch import make_plan, run_batch

    s = run_batch(make_plan(study), out, executor=executor, workers=workers, quiet=True)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "ran": s.ran,
                "failed": s.failed,
                "wall_s": s.wall_s,
                "startup_s": s.startup_s,
                "runs_per_s": s.runs_per_s,
                "driver_rss_mb": round(rss_mb, 1),
            }
        )
    )


def _measure(study: Path, out: Path, executor: str, workers: int) -> dict:
    res = subprocess.run(
        [sys.executable, __file__, "--child", str(study), str(out), executor, str(workers)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(memory: bool = True) -> None:
    configs = [("local × 1", 40, "local", 1), ("local × 2", 40, "local", 2), ("dask LocalCluster × 2", 40, "dask", 2)]
    if memory:
        configs.append(("local × 2", 400, "local", 2))
    with tempfile.TemporaryDirectory() as tmp_:
        tmp = Path(tmp_)
        studies = _setup(tmp)
        rows = []
        for name, runs, executor, workers in configs:
            r = _measure(studies[runs], tmp / f"out-{executor}-{workers}-{runs}", executor, workers)
            rows.append((name, runs, r))
            print(
                f"{name:24s} {runs:4d} runs  {r['runs_per_s']:6.2f} runs/s  (start {r['startup_s']:.1f} s, "
                f"wall {r['wall_s']:.1f} s, failed {r['failed']})  driver peak RSS {r['driver_rss_mb']:.0f} MB",
                flush=True,
            )
        one, two, dask = (r for _, _, r in rows[:3])
        print(f"\n2 workers / 1 worker: {two['runs_per_s'] / one['runs_per_s']:.2f}× (target ≥ 1.7)")
        print(f"local / dask (2 workers each): {two['runs_per_s'] / dask['runs_per_s']:.2f}× (target ≤ 1.25)")
        if memory:
            big = rows[3][2]
            print(
                f"driver memory 400 runs / 40 runs: {big['driver_rss_mb'] / two['driver_rss_mb']:.2f}× (target ≤ 1.2)"
            )


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        main(memory="--throughput-only" not in sys.argv)
