"""Run page: choose a scenario, adjust it, run its replications in a background worker process.

The page never simulates: it validates the scenario (the same loader and message as the CLI),
derives the adjusted scenario, and hands it to ``simulation.jobs.runs`` which starts a worker process.
A fragment polls the worker's progress file. Runs already in the store are reused by the worker
(``run_or_reuse``); the page says beforehand how many will be.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from simulation.config.scenario import FaultSpec, Scenario, load_scenario
from simulation.errors import SandboxError
from simulation.jobs.runs import cancel_job, expected_run_ids, heartbeat, job_status, start_job
from simulation.results.run import replication_seeds
from simulation.results.store import Store

from .common import ACTIVE_POLL_S, active_jobs, scenario_files, session_jobs, store_root


def fault_label(f: FaultSpec) -> str:
    """A fault as a person reads it: kind, when, how long, where."""
    where = f.link or (f"{len(f.poles)} poles" if f.poles else None) or f.block or ""
    hours = f.duration / 3600
    return f"{f.kind.replace('_', ' ')} at {f.at} for {hours:g} h" + (f" ({where})" if where else "")


def derive(
    sc: Scenario, seed: int, replications: int, population_scale: float, services: list[str], faults: list[int]
) -> Scenario:
    """The scenario as adjusted on the page; its name says what was changed (seeds pool anyway)."""
    changes = []
    if abs(population_scale - sc.population_scale) > 1e-9:
        changes.append(f"population ×{population_scale:g}")
    dropped = [s.key for s in sc.services if s.key not in services]
    if dropped:
        changes.append("without " + ", ".join(dropped))
    dropped_f = [f"{f.kind}@{f.at}" for i, f in enumerate(sc.faults) if i not in faults]
    if dropped_f:
        changes.append("without " + ", ".join(dropped_f))
    name = sc.name if not changes else f"{sc.name} ({'; '.join(changes)})"
    return sc.with_(
        name=name,
        seed=int(seed),
        replications=int(replications),
        population_scale=float(population_scale),
        services=[s.model_dump(mode="json") for s in sc.services if s.key in services],
        faults=[f.model_dump(mode="json") for i, f in enumerate(sc.faults) if i in faults],
    )


def page() -> None:
    """Render the Run page."""
    st.title("Run")
    files = scenario_files()
    if not files:
        st.info("No scenario files found under `scenarios/` (or PILOT_SCENARIOS).")
        _jobs_panel()
        return
    paths = [str(p) for p in files]
    choice = st.selectbox("Scenario", paths, format_func=lambda p: Path(p).stem, key="run_scenario")
    try:
        sc = load_scenario(choice)
    except SandboxError as exc:
        st.error(str(exc))  # the same message the CLI prints after "error: "
        _jobs_panel()
        return
    st.caption(
        f"{sc.description or sc.name} · district **{Path(sc.district).name}** · starts {sc.start:%Y-%m-%d %H:%M} "
        f"· runs {sc.duration / 3600:g} h"
    )

    k = f"{choice}:"  # widget keys per scenario: switching scenario shows that scenario's values
    c1, c2, c3 = st.columns(3)
    seed = c1.number_input(
        "Seed",
        min_value=0,
        value=int(sc.seed),
        step=1,
        key=k + "seed",
        help="Replication r runs with seed + r; the same seeds in two scenarios pair their runs.",
    )
    reps = c2.number_input(
        "Replications",
        min_value=1,
        max_value=1000,
        value=int(sc.replications),
        step=1,
        key=k + "reps",
        help="A 95% confidence interval in Compare needs at least 2.",
    )
    pop = c3.number_input(
        "Population scale",
        min_value=0.05,
        max_value=10.0,
        value=float(sc.population_scale),
        step=0.05,
        key=k + "pop",
        help="Multiplies residents, workers and visitors.",
    )
    svc_keys = [s.key for s in sc.services]
    services = st.multiselect(
        "Services", svc_keys, default=svc_keys, key=k + "svc", format_func=lambda key: _service_label(sc, key)
    )
    faults = st.multiselect(
        "Faults and events",
        list(range(len(sc.faults))),
        default=list(range(len(sc.faults))),
        format_func=lambda i: fault_label(sc.faults[i]),
        key=k + "faults",
        disabled=not sc.faults,
        placeholder="none in this scenario" if not sc.faults else "none",
    )
    try:
        run_sc = derive(sc, int(seed), int(reps), float(pop), services, faults)
    except SandboxError as exc:
        st.error(str(exc))
        _jobs_panel()
        return
    seeds = replication_seeds(run_sc.seed, run_sc.replications)
    _store_note(run_sc, seeds)
    busy = bool(active_jobs())
    if st.button(
        "Start",
        type="primary",
        disabled=busy,
        key="run_start",
        help="Runs in a background process; you can keep using the app." if not busy else "A run is in progress.",
    ):
        try:
            job = start_job(run_sc, store_root(), seeds=seeds)
        except (SandboxError, OSError) as exc:
            st.error(f"could not start the run: {exc}")
        else:
            session_jobs().append(job)
            st.rerun()
    _jobs_panel()


def _service_label(sc: Scenario, key: str) -> str:
    s = next(s for s in sc.services if s.key == key)
    return key if s.use.endswith(key) else f"{key} ({s.use})"


def _store_note(sc: Scenario, seeds: list[int]) -> None:
    try:
        ids = expected_run_ids(sc, seeds)
    except SandboxError as exc:
        st.error(str(exc))
        return
    name = f"**{sc.name}**, seeds {seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else f"**{sc.name}**, seed {seeds[0]}"
    if ids is None:
        st.caption(f"{name}: runs with third-party services are matched against the store once their code is loaded.")
        return
    store = Store(store_root())
    have = sum(store.has(r) for r in ids)
    if have == len(ids):
        st.success(f"{name}: all {have} runs are already in the store and will be reused (nothing to compute).")
    else:
        st.caption(
            f"{name}: {have} of {len(ids)} runs are already in the store and will be reused; "
            f"{len(ids) - have} will be computed."
        )


def _jobs_panel() -> None:
    jobs = session_jobs()
    if not jobs:
        return
    st.subheader("Runs started here")
    running = bool(active_jobs())
    st.fragment(_progress, run_every=ACTIVE_POLL_S if running else None)()


def _progress() -> None:
    root = store_root()
    seen: set[str] = st.session_state.setdefault("jobs_seen_final", set())
    changed = False
    for j in reversed(session_jobs()[-5:]):
        try:
            s = job_status(root, j)
        except SandboxError as exc:
            st.warning(str(exc))
            continue
        with st.container(border=True, key=f"job-{j}"):
            _show(root, j, s)
        if s.finished and j not in seen:
            seen.add(j)
            changed = True
    if changed:
        st.rerun()  # refresh the whole page: the store has new runs, the Start button is free again


def _show(root: Path, j: str, s: Any) -> None:
    if not s.finished:
        heartbeat(root, j)
        st.progress(min(1.0, max(0.0, s.fraction)), text=s.text)
        if st.button("Cancel", key=f"cancel-{j}"):
            s = cancel_job(root, j)
            st.warning(f"{s.scenario}: {s.message}. {s.done} finished run(s) stay in the store.")
        return
    if s.state == "done" and not s.failed:
        st.progress(1.0, text=s.text)
        st.success(f"{s.scenario}: {s.message}. Open **Compare** to compare it with its baseline.")
    elif s.state == "done":
        st.progress(1.0, text=s.text)
        st.warning(f"{s.scenario}: {s.message}")
        for f in s.failed:
            st.error(f"run {f['run_id']} (seed {f['seed']}) failed: {f['error']}")
    elif s.state == "cancelled":
        st.warning(f"{s.scenario}: {s.message}. {s.done} finished run(s) stay in the store.")
    else:
        st.error(f"{s.scenario}: {s.message}")
