"""What the pages share: where the store, scenarios and districts are; cached loaders; the store's jobs;
how numbers and KPIs are written for people.

Folders come from the environment so tests and deployments can point the app elsewhere:
``PILOT_STORE`` (results store, default ``results``), ``PILOT_SCENARIOS`` and ``PILOT_DISTRICTS``
(extra folders, ``os.pathsep``-separated, searched besides the shipped ``scenarios/`` and
``districts/``). Nothing here imports plugin code or runs a simulation.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd
import streamlit as st

from simulation.config.district import District, list_districts, load_district
from simulation.config.scenario import SCENARIOS_DIR, list_scenarios
from simulation.errors import SandboxError
from simulation.jobs.runs import JobStatus, cancel_job, job_status, list_jobs
from simulation.results.compare import Comparison, compare, latest_runs, run_index, scenario_groups
from simulation.results.numbers import fmt_duration
from simulation.results.store import Store

ACTIVE_POLL_S = 1.0


def store_root() -> Path:
    """The results store the app reads (``$PILOT_STORE``, default ``results``)."""
    return Path(os.environ.get("PILOT_STORE", "results"))


def _env_dirs(var: str) -> list[Path]:
    return [Path(p) for p in os.environ.get(var, "").split(os.pathsep) if p.strip()]


def scenario_files() -> list[Path]:
    """Scenario files: ``$PILOT_SCENARIOS`` folders first, then the shipped ``scenarios/``."""
    seen: dict[Path, None] = {}
    for folder in [*_env_dirs("PILOT_SCENARIOS"), SCENARIOS_DIR]:
        for p in list_scenarios(folder) if folder.is_dir() else []:
            seen.setdefault(p.resolve())
    return list(seen)


def district_dirs() -> list[Path]:
    """District folders: those under (or named by) ``$PILOT_DISTRICTS`` first, then the shipped ones."""
    seen: dict[Path, None] = {}
    for folder in [*_env_dirs("PILOT_DISTRICTS"), None]:
        if folder is not None and (folder / "district.yaml").is_file():
            seen.setdefault(folder.resolve())
            continue
        for p in list_districts(folder) if folder is None or folder.is_dir() else []:
            seen.setdefault(p.resolve())
    return list(seen)


def _mtime(p: Path) -> int:
    try:
        return p.stat().st_mtime_ns
    except OSError:
        return 0


@st.cache_resource(show_spinner=False, max_entries=8)
def _district(path: str, version: tuple[int, int]) -> District:
    return load_district(path)


def get_district(ref: str | Path) -> District:
    """A district by name or folder, cached until its files change."""
    p = Path(ref)
    folder = p if p.is_dir() else Path(load_district(ref).path)
    return _district(str(folder), (_mtime(folder / "layout.geojson"), _mtime(folder / "district.yaml")))


# --------------------------------------------------------------------------- store
def store_version(root: Path) -> tuple[int, int]:
    """Changes whenever a run lands in (or leaves) the store: the runs folder's mtime and size."""
    runs = root / "runs"
    try:
        return runs.stat().st_mtime_ns, sum(1 for _ in runs.iterdir())
    except OSError:
        return 0, 0


@st.cache_data(show_spinner=False, max_entries=16)
def _index(root: str, version: tuple[int, int]) -> pd.DataFrame:
    return run_index(Store(root))


def index() -> pd.DataFrame:
    """The store's run index; re-read when runs arrive, so new runs show without a restart."""
    root = store_root()
    return _index(str(root), store_version(root))


def groups() -> pd.DataFrame:
    """Comparable scenario groups of the store (see ``simulation.results.compare.scenario_groups``)."""
    return scenario_groups(index())


def group_runs(labels: list[str]) -> dict[str, list[str]]:
    """Label -> run ids (newest complete run per seed) for the chosen scenario groups."""
    idx = index()
    g = scenario_groups(idx).set_index("label")
    store = Store(store_root())
    out = {}
    for lb in labels:
        row = g.loc[lb]
        runs = latest_runs(store, row["scenario"], variant=row["variant"], index=idx)
        # Failed runs of seeds without a complete run go along, so the page can say why they are missing.
        bad = idx[
            (idx["scenario"] == row["scenario"])
            & (idx["variant"] == row["variant"])
            & (idx["status"] != "ok")
            & ~idx["seed"].isin(list(runs))
        ].drop_duplicates("seed", keep="last")
        out[lb] = list(runs.values()) + list(bad["run_id"])
    return out


@st.cache_data(show_spinner=False, max_entries=16)
def _compare(root: str, groups: tuple[tuple[str, tuple[str, ...]], ...], version: tuple[int, int]) -> Comparison:
    return compare(Store(root), {lb: list(ids) for lb, ids in groups})


def cached_compare(groups: dict[str, list[str]]) -> Comparison:
    """:func:`simulation.results.compare.compare` on the app's store, cached per set of runs."""
    root = store_root()
    key = tuple((lb, tuple(ids)) for lb, ids in groups.items())
    return _compare(str(root), key, store_version(root))


# --------------------------------------------------------------------------- numbers for people
# (simulation.results.numbers: the HTML report and the CLI write numbers the same way)


# --------------------------------------------------------------------------- jobs of the store
def who() -> str:
    """The name this session gives (sidebar), shown on the runs it starts."""
    return str(st.session_state.get("who") or "").strip() or "anonymous"


def session_jobs() -> list[str]:
    """Job ids started from this browser session (for its own notes; every session sees every job)."""
    return st.session_state.setdefault("jobs", [])


def store_jobs(include_finished_s: float = 0.0) -> list[JobStatus]:
    """The store's jobs still running, plus those that ended in the last ``include_finished_s`` seconds."""
    now = time.time()
    out = []
    for s in list_jobs(store_root()):
        if not s.finished or now - float(s.updated or 0) <= include_finished_s:
            out.append(s)
    return out


def active_jobs() -> list[str]:
    """Ids of the store's jobs whose worker still runs (whoever started them)."""
    return [s.job_id for s in store_jobs()]


def job_line(s: JobStatus) -> str:
    """Who started a job and how long it has left."""
    eta = s.eta_s
    left = "estimating time left…" if eta is None else f"about {fmt_duration(eta)} left"
    at = time.strftime("%H:%M", time.localtime(s.started))
    return f"started by **{s.started_by or 'anonymous'}** at {at} · {left}"


def job_sidebar() -> None:
    """Sidebar: the store in use, the session's name, and the store's runs in progress (every page)."""
    with st.sidebar:
        st.caption(f"Results store: `{store_root()}`")
        st.text_input("Your name", key="who", placeholder="shown on runs you start", max_chars=80)
        st.fragment(_sidebar_jobs, run_every=2.0 if active_jobs() else 5.0)()


def _sidebar_jobs() -> None:
    running = store_jobs()
    if not running:
        st.caption("No runs in progress.")
        return
    st.markdown(f"**Runs in progress ({len(running)})**")
    for s in running:
        st.progress(min(1.0, max(0.0, s.fraction)), text=f"{s.scenario} · {s.done}/{s.total}")
        st.caption(job_line(s))


def jobs_panel(key: str = "jobs") -> None:
    """ "Runs in progress": every running job of the store with progress, who started it, time left and Cancel."""
    st.subheader("Runs in progress")
    st.fragment(_jobs_fragment, run_every=ACTIVE_POLL_S if active_jobs() else 5.0)(key)


def _jobs_fragment(key: str) -> None:
    root = store_root()
    jobs = store_jobs(include_finished_s=3600.0)
    running = [s for s in jobs if not s.finished]
    if not running:
        st.caption("None right now. Runs started from any browser show here until they finish.")
    for s in running:
        with st.container(border=True, key=f"{key}-{s.job_id}"):
            st.progress(min(1.0, max(0.0, s.fraction)), text=s.text)
            c1, c2 = st.columns([5, 1])
            c1.caption(job_line(s))
            if c2.button("Cancel", key=f"cancel-{s.job_id}", help="Stops this run for everyone."):
                try:
                    s = cancel_job(root, s.job_id)
                except SandboxError as exc:
                    st.error(str(exc))
                else:
                    st.warning(f"{s.scenario}: {s.message}. {s.done} finished run(s) stay in the store.")
    done = [s for s in jobs if s.finished]
    if done:
        st.markdown("**Finished in the last hour**")
        for s in reversed(done[-5:]):
            with st.container(key=f"{key}-done-{s.job_id}"):
                _final(s)
    finished = {s.job_id for s in done}
    if "jobs_seen_final" not in st.session_state:
        st.session_state["jobs_seen_final"] = set(finished)
    seen: set[str] = st.session_state["jobs_seen_final"]
    if finished - seen:
        seen |= finished
        st.rerun()  # refresh the whole page: the store has new runs


def _final(s: JobStatus) -> None:
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


def job_status_or_none(job_id: str) -> JobStatus | None:
    """A job's status, None when its folder is gone."""
    try:
        return job_status(store_root(), job_id)
    except SandboxError:
        return None
