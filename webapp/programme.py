"""Programme page: the pilot districts on a map of Seoul, the services' pipeline, indicators and budget per year.

Reads the programme file (``$PILOT_PROGRAMME``, default ``config/programme.yaml``) and the results
store; the report is :func:`simulation.programme.report.programme_report`, the same the CLI prints.
"Run the programme" starts ``python -m simulation programme`` in a worker process (never in the
script thread); its runs land in the store one by one and the page shows how many are there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pydeck as pdk
import streamlit as st

from simulation.config.programme import STATUSES, load_programme
from simulation.errors import SandboxError
from simulation.programme.report import programme_report
from simulation.programme.run import district_ref, plan_runs
from simulation.results.store import Store

from .common import get_district, store_root
from .maps import deck, district_layers, metres_per_pixel, view_state

ROOT = Path(__file__).resolve().parent.parent
YEAR_COLOURS = {
    2021: [120, 120, 120],
    2022: [33, 102, 172],
    2023: [67, 147, 195],
    2024: [244, 165, 130],
    2025: [202, 0, 32],
}
# Seoul's administrative extent, roughly (for the frame of the programme map; no basemap is fetched).
SEOUL = [[126.764, 37.428], [127.184, 37.428], [127.184, 37.701], [126.764, 37.701], [126.764, 37.428]]


def programme_file() -> Path:
    """The programme file the page shows."""
    return Path(os.environ.get("PILOT_PROGRAMME", ROOT / "config" / "programme.yaml"))


@st.cache_data(show_spinner="Reading the programme and its districts…")
def _report(path: str, mtime: float, store: str, year: int, stored: int) -> tuple[dict[str, Any], int]:
    prog = load_programme(path)
    runs = plan_runs(prog, Path(store), year)
    return programme_report(prog, runs, store, year), len(runs)


def _stored(store: Path) -> int:
    d = store / "runs"
    return sum(1 for _ in d.iterdir()) if d.is_dir() else 0


def _map(rep: dict[str, Any], selected: str | None) -> pdk.Deck:
    rows = [
        {
            "lon": p["lon"],
            "lat": p["lat"],
            "name": p["name"],
            "colour": [*YEAR_COLOURS.get(p["year"], [0, 0, 0]), 230 if p["name"] == selected else 170],
            "radius": 600 if p["name"] == selected else 380,
            "tip": f"<b>{p['title']}</b><br/>from {p['year']} · {p['source']}<br/>"
            f"{p['figures']['poles']} S-Poles · {p['figures']['cameras']} cameras · {p['figures']['aps']} APs",
        }
        for p in rep["pilots"]
    ]
    layers = [
        pdk.Layer(
            "PathLayer", [{"path": SEOUL}], get_path="path", get_color=[150, 150, 150], get_width=80, width_min_pixels=2
        ),
        pdk.Layer(
            "ScatterplotLayer",
            rows,
            get_position=["lon", "lat"],
            get_radius="radius",
            get_fill_color="colour",
            get_line_color=[255, 255, 255],
            stroked=True,
            line_width_min_pixels=1,
            pickable=True,
        ),
        pdk.Layer(
            "TextLayer", rows, get_position=["lon", "lat"], get_text="name", get_size=12, get_pixel_offset=[0, -16]
        ),
    ]
    view = pdk.ViewState(latitude=37.565, longitude=126.975, zoom=9.45)  # all of Seoul in ~460 px
    return deck(layers, view)


def _board(rep: dict[str, Any]) -> None:
    cols = st.columns(len(STATUSES))
    for col, status in zip(cols, STATUSES, strict=True):
        items = [s for s in rep["services"] if s["status"] == status]
        col.markdown(f"**{status}** ({len(items)})")
        for s in items:
            d = s["decision"]
            dec = "" if d is None else (f" — decision: {d['decision']}" if d["found"] else f" — {d['id']} not in store")
            col.markdown(f"- `{s['service']}` in {s['pilot']} (since {s['since']}){dec}")


def _indicator_frame(rep: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for y in rep["years"]:
        for r in y["indicators"]:
            rows.append({"year": y["year"], **r})
    return pd.DataFrame(rows)


def _budget_frame(rep: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for y in rep["years"]:
        for r in y["budget"]:
            rows.append({"year": y["year"], **r})
    return pd.DataFrame(rows)


def _run_button(path: Path, store: Path, year: int, missing: int) -> None:
    proc: subprocess.Popen | None = st.session_state.get("programme_proc")
    running = proc is not None and proc.poll() is None
    if running:
        st.info("The programme is running in a worker process; its runs appear in the store as they finish.")
        if st.button("Refresh"):
            st.rerun()
        return
    if proc is not None and proc.returncode not in (0, None):
        st.error(f"The last programme run ended with exit code {proc.returncode}; see {store}/programme/run.log")
    if missing and st.button(f"Run the programme ({missing} runs missing)", type="primary"):
        log_dir = store / "programme"
        log_dir.mkdir(parents=True, exist_ok=True)
        with open(log_dir / "run.log", "wb") as log:
            st.session_state["programme_proc"] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "simulation",
                    "programme",
                    str(path),
                    "--store",
                    str(store),
                    "--year",
                    str(year),
                    "--quiet",
                ],
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        st.rerun()


def page() -> None:
    """The Programme page."""
    st.title("Programme")
    path, store = programme_file(), store_root()
    try:
        prog = load_programme(path)
    except SandboxError as exc:
        st.error(str(exc))
        return
    st.caption(f"{prog.title} · {path} · source: {prog.source}")
    year = st.select_slider("Year", options=list(prog.years), value=prog.years[-1])
    try:
        rep, planned = _report(str(path), path.stat().st_mtime, str(store), int(year), _stored(store))
    except SandboxError as exc:
        st.error(str(exc))
        return
    st.markdown(
        f"**{len(rep['pilots'])} pilot districts** running in {year} · {planned} runs needed "
        f"(baselines and candidates, {prog.run.replications} paired seeds, {prog.run.duration / 3600:g} h each)"
    )
    st_store = Store(store)
    runs = plan_runs(prog, store, int(year))
    missing = sum(1 for r in runs if not st_store.has(r.run_id))
    st.progress(1 - missing / max(1, planned), text=f"{planned - missing} of {planned} runs in the store")
    _run_button(path, store, int(year), missing)

    names = [p["name"] for p in rep["pilots"]]
    left, right = st.columns([3, 2])
    with left:
        st.subheader("Pilot districts in Seoul")
        st.pydeck_chart(_map(rep, st.session_state.get("programme_pilot")), height=460)
        st.caption(
            "Colour: year the pilot starts (2022 dark blue → 2025 red). No basemap: the frame is Seoul's extent."
        )
    with right:
        st.subheader("Pilots")
        table = pd.DataFrame(
            [
                {
                    "pilot": p["name"],
                    "from": p["year"],
                    "source": p["source"],
                    "poles": p["figures"]["poles"],
                    "area km²": p["figures"]["area_km2"],
                    "residents": p["figures"]["residents"],
                }
                for p in rep["pilots"]
            ]
        )
        st.dataframe(table, hide_index=True, height=460)

    st.subheader("Services by status")
    _board(rep)

    st.subheader("Indicators against the plan")
    ind = _indicator_frame(rep)
    labels = {r["id"]: f"{r['task']} {r['label']} ({r['unit']})" for _, r in ind.iterrows()}
    chosen = st.selectbox("Indicator", list(labels), format_func=lambda k: labels[k])
    sel = ind[ind["id"] == chosen][["year", "plan_target", "pilots_added"]].rename(
        columns={"plan_target": "plan target (city-wide)", "pilots_added": "added by the pilots"}
    )
    st.bar_chart(sel, x="year", y=["plan target (city-wide)", "added by the pilots"], stack=False, height=280)
    now = ind[ind["year"] == year][["task", "label", "unit", "plan_target", "pilots_added", "share_pct"]]
    st.dataframe(now, hide_index=True)

    st.subheader("Spend against the investment plan (KRW million)")
    bud = _budget_frame(rep)
    tot = bud[bud["line"] == "total"][["year", "plan_krw_m", "pilots_krw_m"]].rename(
        columns={"plan_krw_m": "plan (policy task 1)", "pilots_krw_m": "new pilots' infrastructure + demonstrations"}
    )
    st.bar_chart(tot, x="year", y=list(tot.columns[1:]), stack=False, height=280)
    st.dataframe(bud[bud["year"] == year].drop(columns=["year"]), hide_index=True)

    st.subheader("Drill down")
    pick = st.selectbox("District", names, key="programme_pilot")
    p = next(x for x in rep["pilots"] if x["name"] == pick)
    d = get_district(district_ref(prog, next(pl for pl in prog.pilots if pl.name == pick), store))
    a, b = st.columns([3, 2])
    with a:
        view = view_state(d, px=520)
        st.pydeck_chart(deck(district_layers(d, ("blocks", "streets", "poles", "sites"), metres_per_pixel(view)), view))
    with b:
        st.markdown(f"**{p['title']}** — from {p['year']}, {p['source']}")
        if p["land_use_mix"]:
            st.caption("land-use mix: " + ", ".join(f"{k} {v:.0%}" for k, v in p["land_use_mix"].items()))
        st.dataframe(pd.Series(p["figures"], name="value").astype(str), height=300)
    mine = [s for s in rep["services"] if s["pilot"] == pick]
    for s in mine:
        eff = "; ".join(
            f"{k}: {e['mean_diff']:+.3g}" + (f" ± {e['ci95']:.2g}" if e["ci95"] is not None else "") + f" (n={e['n']})"
            for k, e in s["effects"].items()
            if e["mean_diff"] is not None
        )
        st.markdown(f"- **{s['service']}** · {s['status']} since {s['since']} · effect {eff or '—'}")
    decided = [s["decision"] for s in mine if s["decision"] and s["decision"]["found"]]
    if decided:
        ids = [x["id"] for x in decided]
        did = st.selectbox("Decision", ids)
        st.json(next(x for x in decided if x["id"] == did))
