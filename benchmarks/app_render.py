"""Render time of the web app's pages (Streamlit AppTest, no browser), from a results store.

    .venv/bin/python benchmarks/app_render.py [--store DIR] [--replications 10]

1. Compare page: 2 scenarios × 10 replications of a 24 h day in a small generated district
   (the runs are simulated once into ``--store``, default a temporary folder, and reused after).
2. District page with a 20 k-point layer: a generated district of 20,000 people with the
   "People (dots)" layer at one dot per person.

Compare: "first render" is the first page view of a fresh process (module imports included: the
first evaluator after the server starts), "new session" a page view with empty caches in a running
app (it includes ~0.7 s of AppTest's own set-up), "warm" a rerun (every widget interaction).
Target: under 2 s each. Figures, no asserts.

Reference figures (2 cores shared with other jobs, load average ~4.5, 2026-11-25):
    compare page, 2 × 10 runs: first render in a new process 2.47 s (~1.5 s of it one-time module
        imports: pandas, duckdb, pyarrow, pydeck, altair), new session 1.03 s, warm rerun 0.40 s
    district page, 20,000-point layer (2.4 MB of deck JSON): empty caches 0.31 s, warm rerun 0.26 s
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402
import yaml  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from simulation.config.generator import make_district  # noqa: E402
from simulation.config.scenario import load_scenario  # noqa: E402
from simulation.results.reuse import run_or_reuse  # noqa: E402
from simulation.results.run import replication_seeds  # noqa: E402
from simulation.results.store import Store  # noqa: E402

SERVICES = [{"use": "builtin:cctv_monitoring"}, {"use": "builtin:public_wifi"}, {"use": "builtin:streetlights"}]


def compare_page() -> None:
    from webapp.compare import page

    page()


def district_page() -> None:
    from webapp.district import page

    page()


def timed(at: AppTest) -> float:
    t0 = time.perf_counter()
    at.run(timeout=120)
    dt = time.perf_counter() - t0
    if at.exception:
        raise SystemExit(f"the page raised: {at.exception[0].value}")
    return dt


def build_store(work: Path, store: Path, reps: int) -> None:
    district = work / "districts" / "bench"
    if not (district / "district.yaml").is_file():
        make_district(
            district,
            name="bench",
            title="Benchmark district",
            origin_lat=37.55,
            origin_lon=126.99,
            width_m=700,
            height_m=700,
            residents=3000,
            workers=1500,
            visitors=400,
            seed=11,
        )
    common = {
        "district": str(district),
        "start": "2026-05-12T00:00",
        "duration": "24h",
        "seed": 1,
        "replications": reps,
    }
    scs = work / "scenarios"
    scs.mkdir(parents=True, exist_ok=True)
    (scs / "bench_base.yaml").write_text(yaml.safe_dump(common | {"services": SERVICES}))
    (scs / "bench_cand.yaml").write_text(
        yaml.safe_dump(common | {"services": [SERVICES[0], SERVICES[2]], "population_scale": 1.2})
    )
    t0 = time.perf_counter()
    made = 0
    for name in ("bench_base", "bench_cand"):
        sc = load_scenario(scs / f"{name}.yaml")
        for seed in replication_seeds(sc.seed, sc.replications):
            made += not run_or_reuse(sc, seed, Store(store))[1]
    print(f"store {store}: 2 scenarios × {reps} runs ({made} simulated now in {time.perf_counter() - t0:.1f} s)")


def main() -> None:
    for name in list(logging.root.manager.loggerDict):  # "No runtime found" chatter of caches outside a server
        if name.startswith("streamlit"):
            logging.getLogger(name).setLevel(logging.ERROR)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", help="results folder to fill and reuse (default: a temporary folder)")
    ap.add_argument("--replications", type=int, default=10)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.store).parent if args.store else Path(tmp)
        store = Path(args.store) if args.store else Path(tmp) / "store"
        build_store(work, store, args.replications)
        os.environ["PILOT_STORE"] = str(store)

        times = []
        for _ in range(2):  # 1st: a fresh process (module imports included); 2nd: a new session, empty caches
            st.cache_data.clear()
            st.cache_resource.clear()
            at = AppTest.from_function(compare_page, default_timeout=120)
            times.append(timed(at))  # opens on the two newest scenarios: bench_base vs bench_cand
            assert at.multiselect(key="cmp_pick").value == ["bench_base", "bench_cand"]
        first, new_session = times
        warm = min(timed(at) for _ in range(3))
        n = len(at.get("deck_gl_json_chart"))
        print(
            f"compare page, 2 scenarios × {args.replications} replications ({n} maps, 2 charts): first render in a new "
            f"process {first:.2f} s, new session {new_session:.2f} s, warm rerun {warm:.2f} s   [target < 2 s]"
        )

        people = work / "districts" / "people20k"
        if not (people / "district.yaml").is_file():
            make_district(
                people,
                name="people20k",
                title="20k people",
                origin_lat=37.55,
                origin_lon=126.99,
                width_m=1200,
                height_m=1200,
                residents=14000,
                workers=6000,
                visitors=1000,
                seed=5,
            )
        os.environ["PILOT_DISTRICTS"] = str(people)
        at = AppTest.from_function(district_page, default_timeout=120)
        at.run(timeout=120)  # the page as it opens (first district, default layers)
        at.selectbox(key="district_pick").set_value(str(people.resolve()))
        at.checkbox(key="layer_population").check()
        at.run(timeout=120)
        at.number_input(key="per_dot").set_value(1)
        st.cache_data.clear()
        st.cache_resource.clear()
        cold = timed(at)
        warm = min(timed(at) for _ in range(3))
        import json

        spec = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
        dots = next(len(layer["data"]) for layer in spec["layers"] if layer["id"] == "population")
        size = len(at.get("deck_gl_json_chart")[0].proto.json) / 1e6
        print(
            f"district page, {dots:,}-point layer (+ {len(spec['layers']) - 1} other layers, {size:.1f} MB of JSON): "
            f"empty caches {cold:.2f} s, warm rerun {warm:.2f} s   [target < 2 s]"
        )


if __name__ == "__main__":
    main()
