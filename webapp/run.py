"""Run page: choose a scenario, adjust it, run its replications in a background worker process.

The page never simulates: it validates the scenario (the same loader and message as the CLI),
derives the adjusted scenario, and hands it to ``simulation.jobs.runs`` which starts a worker process.
The store's jobs (every session's) are listed under "Runs in progress". Runs already in the store
are reused by the worker (``run_or_reuse``); the page says beforehand how many will be, and how long
the rest should take from the wall time of runs already measured.
"""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from simulation.config.scenario import FaultSpec, Scenario, load_scenario
from simulation.errors import SandboxError
from simulation.jobs.runs import busy_seeds, expected_run_ids, start_job
from simulation.results.numbers import fmt_duration
from simulation.results.run import replication_seeds
from simulation.results.store import Store

from .common import index, jobs_panel, scenario_files, session_jobs, store_root, who
from .run_services import add_services_section, with_extra_services

SEED_MAX = 2**32 - 1
REPS_MAX = 1000
#: Ask for a confirmation before starting work expected to take longer than this (seconds;
#: ``PILOT_CONFIRM_S`` sets it) or, with no measured runs to go by, more runs than ``CONFIRM_RUNS``.
CONFIRM_S = float(os.environ.get("PILOT_CONFIRM_S", "600"))
CONFIRM_RUNS = 20


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


def parse_number(text: str, label: str, kind: type, low: float, high: float) -> tuple[float | int | None, str]:
    """A typed number checked against its bounds: (value, "") or (None, the message saying what is allowed)."""
    t = (text or "").strip().replace(",", "").replace("_", "")
    allowed = f"a whole number from {low:,} to {high:,}" if kind is int else f"a number from {low:g} to {high:g}"
    try:
        v: float | int = int(t) if kind is int else float(t)
    except ValueError:
        return None, f"{label}: {text.strip()!r} is not a number; enter {allowed}."
    if not (low <= v <= high):  # NaN fails this too
        return None, f"{label}: {text.strip()} is out of range; enter {allowed}."
    return v, ""


def page() -> None:
    """Render the Run page."""
    st.title("Run")
    files = scenario_files()
    if not files:
        st.info("No scenario files found under `scenarios/` (or PILOT_SCENARIOS).")
        jobs_panel()
        return
    paths = [str(p) for p in files]
    choice = st.selectbox("Scenario", paths, format_func=lambda p: Path(p).stem, key="run_scenario")
    try:
        sc = load_scenario(choice)
    except SandboxError as exc:
        st.error(str(exc))  # the same message the CLI prints after "error: "
        jobs_panel()
        return
    st.caption(
        f"{sc.description or sc.name} · district **{Path(sc.district).name}** · starts {sc.start:%Y-%m-%d %H:%M} "
        f"· runs {sc.duration / 3600:g} h"
    )

    k = f"{choice}:"  # widget keys per scenario: switching scenario shows that scenario's values
    c1, c2, c3 = st.columns(3)
    seed_t = c1.text_input(
        "Seed",
        value=str(sc.seed),
        key=k + "seed",
        help=f"0 to {SEED_MAX:,}. Replication r runs with seed + r; the same seeds in two scenarios pair their runs.",
    )
    reps_t = c2.text_input(
        "Replications",
        value=str(sc.replications),
        key=k + "reps",
        help=f"1 to {REPS_MAX:,}. A 95% confidence interval in Compare needs at least 2.",
    )
    pop_t = c3.text_input(
        "Population scale",
        value=f"{sc.population_scale:g}",
        key=k + "pop",
        help="0.05 to 10. Multiplies residents, workers and visitors.",
    )
    seed, e1 = parse_number(seed_t, "Seed", int, 0, SEED_MAX)
    reps, e2 = parse_number(reps_t, "Replications", int, 1, REPS_MAX)
    pop, e3 = parse_number(pop_t, "Population scale", float, 0.05, 10.0)
    if seed is not None and reps is not None and seed + reps - 1 > SEED_MAX:
        seed, e1 = None, f"Seed: {seed:,} + {reps:,} replications goes past {SEED_MAX:,}; enter a smaller seed."
    problems = [e for e in (e1, e2, e3) if e]
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
    extra = add_services_section(sc, k)
    for msg in problems:
        st.error(msg)
    if problems:
        st.button("Start", type="primary", disabled=True, key="run_start", help="Correct the values above first.")
        jobs_panel()
        return
    try:
        run_sc = derive(sc, int(seed), int(reps), float(pop), services, faults)  # type: ignore[arg-type]
        if extra:
            run_sc = with_extra_services(run_sc, extra)
    except SandboxError as exc:
        st.error(str(exc))
        st.button("Start", type="primary", disabled=True, key="run_start")
        jobs_panel()
        return
    seeds = replication_seeds(run_sc.seed, run_sc.replications)
    to_compute = _store_note(run_sc, seeds)
    busy = busy_seeds(store_root(), run_sc)
    under_way = [s for s in seeds if s in busy]
    running = busy[seeds[0]] if seeds and len(under_way) == len(seeds) else None
    if under_way and running is None:
        st.info(
            f"{len(under_way)} of these runs are being computed by a run in progress already (below); "
            f"**Start** computes the other {len(seeds) - len(under_way)}."
        )
        to_compute = max(0, to_compute - len(under_way))
    est = estimate_s(run_sc, to_compute)
    need_ok = to_compute > 0 and (est > CONFIRM_S if est is not None else to_compute > CONFIRM_RUNS)
    if to_compute > 0:
        st.caption(_estimate_text(est, to_compute))
    ok = True
    if need_ok and running is None:
        how = f"about {fmt_duration(est)} of computing" if est is not None else "no measured runs to estimate from"
        ok = st.checkbox(f"Yes, start {to_compute:,} runs ({how})", key=k + "confirm")
    if running is not None:
        st.info("These runs are already being computed (see **Runs in progress** below): nothing to start twice.")
    if st.button(
        "Start",
        type="primary",
        disabled=running is not None or not ok,
        key="run_start",
        help="Runs in a background process that every session sees; you can keep using the app or reload.",
    ):
        try:
            job = start_job(run_sc, store_root(), seeds=seeds, started_by=who())
        except (SandboxError, OSError) as exc:
            st.error(f"could not start the run: {exc}")
        else:
            session_jobs().append(job)
            st.rerun()
    jobs_panel()


def _service_label(sc: Scenario, key: str) -> str:
    s = next(s for s in sc.services if s.key == key)
    return key if s.use.endswith(key) else f"{key} ({s.use})"


def _store_note(sc: Scenario, seeds: list[int]) -> int:
    """Say how many runs are in the store already; return how many will be computed."""
    try:
        ids = expected_run_ids(sc, seeds)
    except SandboxError as exc:
        st.error(str(exc))
        return len(seeds)
    name = f"**{sc.name}**, seeds {seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else f"**{sc.name}**, seed {seeds[0]}"
    if ids is None:
        st.caption(f"{name}: runs with third-party services are matched against the store once their code is loaded.")
        return len(seeds)
    store = Store(store_root())
    have = sum(store.has(r) for r in ids)
    if have == len(ids):
        st.success(f"{name}: all {have} runs are already in the store and will be reused (nothing to compute).")
    else:
        st.caption(
            f"{name}: {have} of {len(ids)} runs are already in the store and will be reused; "
            f"{len(ids) - have} will be computed."
        )
    return len(ids) - have


@st.cache_data(show_spinner=False, max_entries=8, ttl=60)
def _cost_rates(root: str, n_runs: int) -> dict[str, float]:
    """Median wall seconds per simulated hour (at population scale 1) of the store's runs, per district and overall."""
    import pandas as pd

    runs = Store(root).runs()
    idx = index()
    if runs.empty or idx.empty:
        return {}
    df = runs.merge(idx[["run_id", "duration_s"]], on="run_id")
    df = df[(df["status"] == "ok") & (df["wall_s"] > 0) & (df["duration_s"] > 0)]
    if df.empty:
        return {}
    rate = df["wall_s"] / (df["duration_s"] / 3600)
    per = pd.Series(rate.to_numpy(), index=df["district"]).groupby(level=0).median()
    out = {str(d): float(v) for d, v in per.items()}
    out[""] = float(rate.median())
    return out


def estimate_s(sc: Scenario, n_runs: int) -> float | None:
    """Expected wall time of ``n_runs`` new runs, from the store's measured runs; None without any."""
    if n_runs <= 0:
        return 0.0
    root = store_root()
    rates = _cost_rates(str(root), len(index()))
    district = Path(sc.district).name
    rate = rates.get(district, rates.get(""))
    if rate is None:
        return None
    return rate * (sc.duration / 3600) * max(sc.population_scale, 0.05) * n_runs


def _estimate_text(est: float | None, n: int) -> str:
    if est is None:
        return f"Time: no run in the store yet to measure from; {n:,} runs will be computed one after another."
    return (
        f"Time: about **{fmt_duration(est)}** for {n:,} new run{'s' if n != 1 else ''} "
        "(from the wall time of runs already in the store, on this machine)."
    )
