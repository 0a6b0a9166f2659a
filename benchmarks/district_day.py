"""How long a simulated district-day takes, against bare SimPy in the same process.

For each shipped district (and a synthetic 20 k-citizen district) this runs the baseline scenario
for one 24 h day in a fresh child process and prints: simulated events, wall seconds, events per
second, peak memory of the child, and the wall time of the same number of bare SimPy timeout events
timed in that same child (the reference ratio). Targets (issue "World I"): a 20 k-citizen
district-day in under 10 s, and under 10x bare SimPy.

Shared machines are noisy (a VM here varies by +-15 % from one run to the next), so the child
alternates ``--repeat`` runs of the district-day with bare-SimPy references and reports the best of
each; the spread of the district-day runs is printed too, and every repeat must give identical KPIs
(the status column says so).

    .venv/bin/python benchmarks/district_day.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _bare_simpy(n_events: int) -> float:
    import simpy

    env = simpy.Environment()
    per = 200

    def proc(env: simpy.Environment, k: int):
        for _ in range(k):
            yield env.timeout(1)

    t = time.perf_counter()
    for _ in range(max(1, n_events // per)):
        env.process(proc(env, per - 2))  # a process costs 2 events of its own (start, end)
    env.run()
    return time.perf_counter() - t


def _measure(scenario: str, district_dir: str | None, repeat: int, queue: mp.Queue) -> None:
    from simulation import load_scenario, run_scenario
    from simulation.world import World  # noqa: F401 - import the engine (and Mesa) before timing

    sc = load_scenario(scenario) if district_dir is None else load_scenario(scenario, district=district_dir)
    sc = sc.with_(replications=1)
    walls, bares, kpis = [], [], []
    for _ in range(repeat):  # alternate, so a slow spell of the machine hits both sides
        gc.collect()  # the last repeat's world, outside the timing: each run starts as in a fresh process
        t = time.perf_counter()
        r = run_scenario(sc, seed=1)
        walls.append(time.perf_counter() - t)
        kpis.append(json.dumps(r.kpis, sort_keys=True))  # as text: NaN equals NaN
        bares.append(min(_bare_simpy(r.sim_events) for _ in range(3)))  # the reference: best of three
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    status = r.status if all(k == kpis[0] for k in kpis) else "KPIs differ between repeats"
    queue.put((r.district, r.meta["citizens"], r.sim_events, walls, peak_mb, min(bares), status))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="district-day runs per district (best is reported)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, not {args.repeat}")
    ctx = mp.get_context("spawn")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        from simulation.config.generator import make_district

        synth = Path(tmp) / "synthetic_20k"
        make_district(
            synth,
            name="synthetic_20k",
            title="Synthetic 20k",
            origin_lat=37.55,
            origin_lon=126.99,
            width_m=1200,
            height_m=1200,
            residents=11000,
            workers=7000,
            visitors=2000,
            seed=1,
        )
        cases = [
            (str(ROOT / "scenarios/sangam_baseline.yaml"), None),
            (str(ROOT / "scenarios/seongsu_baseline.yaml"), None),
            (str(ROOT / "scenarios/sangam_baseline.yaml"), str(synth)),
        ]
        for scenario, district in cases:
            q: mp.Queue = ctx.Queue()
            p = ctx.Process(target=_measure, args=(scenario, district, args.repeat, q))
            p.start()
            rows.append(q.get())
            p.join()
    print(
        f"{'district':16s} {'citizens':>9s} {'events':>9s} {'wall s':>7s} {'(all runs)':>18s} {'events/s':>9s} "
        f"{'peak MB':>8s} {'bare s':>7s} {'ratio':>6s}  status"
    )
    for name, citizens, events, walls, peak, bare, status in rows:
        wall = min(walls)
        spread = " ".join(f"{w:.2f}" for w in walls)
        print(
            f"{name:16s} {citizens:9d} {events:9d} {wall:7.2f} {spread:>18s} {events / wall:9.0f} "
            f"{peak:8.0f} {bare:7.2f} {wall / bare:6.1f}x  {status}"
        )
    print("targets: 20k-citizen district-day < 10 s; ratio to bare SimPy < 10x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
