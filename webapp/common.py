"""What the pages share: where the store, scenarios and districts are; cached loaders; jobs of a session.

Folders come from the environment so tests and deployments can point the app elsewhere:
``PILOT_STORE`` (results store, default ``results``), ``PILOT_SCENARIOS`` and ``PILOT_DISTRICTS``
(extra folders, ``os.pathsep``-separated, searched besides the shipped ``scenarios/`` and
``districts/``). Nothing here imports plugin code or runs a simulation.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import streamlit as st

from simulation.config.district import District, list_districts, load_district
from simulation.config.scenario import SCENARIOS_DIR, list_scenarios
from simulation.jobs.runs import heartbeat, job_status
from simulation.results.compare import Comparison, compare, latest_runs, run_index, scenario_groups
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


# --------------------------------------------------------------------------- jobs of this session
def session_jobs() -> list[str]:
    """Job ids started from this browser session (each session sees only its own)."""
    return st.session_state.setdefault("jobs", [])


def active_jobs() -> list[str]:
    """This session's jobs whose worker still runs."""
    root = store_root()
    out = []
    for j in session_jobs():
        try:
            if not job_status(root, j).finished:
                out.append(j)
        except Exception:
            continue
    return out


def job_sidebar() -> None:
    """Sidebar: the store in use and, while this session has a running job, its progress.

    It also keeps the job's heartbeat going on every page, so a job stops only when no page of
    the session is open any more (see ``simulation.jobs.runs``).
    """
    with st.sidebar:
        st.caption(f"Results store: `{store_root()}`")
        if active_jobs():
            st.fragment(_job_monitor, run_every=2.0)()


def _job_monitor() -> None:
    root = store_root()
    running = active_jobs()
    for j in running:
        heartbeat(root, j)
        s = job_status(root, j)
        st.progress(min(1.0, max(0.0, s.fraction)), text=f"Running · {s.text}")
    if not running:
        st.rerun()
