"""Compare page: two or more scenarios from the store, paired by seed, with 95% confidence intervals.

Everything shown is computed by ``simulation.results.compare`` from runs in the store (the run ids are
listed at the bottom), and the KPI table is the same HTML the exported report contains.
"""

from __future__ import annotations

import html
import re

import pandas as pd
import streamlit as st

from simulation.errors import SandboxError
from simulation.results.compare import Comparison, hourly_means, spatial_means, spatial_metrics
from simulation.results.kpis import CATALOGUE
from simulation.results.numbers import fmt_value, kpi_header, kpi_label
from simulation.results.places import mapped
from simulation.results.report import (
    kpi_table_html,
    render_report,
    scenario_legend_html,
    series_svg,
    services_summary,
    table_html,
)
from simulation.results.store import Store

from . import maps
from .common import (
    cached_compare,
    get_district,
    group_runs,
    groups,
    index,
    store_root,
    store_version,
)
from .compare_view import by_change, series_kpis, top_changes


def page() -> None:
    """Render the Compare page."""
    st.title("Compare")
    g = groups()
    if g.empty:
        st.info(
            f"No runs in the store `{store_root()}` yet: start one on the **Run** page "
            "(or `python -m simulation run SCENARIO`)."
        )
        return
    labels = g["label"].tolist()
    info = g.set_index("label")
    picked = st.multiselect(
        "Scenarios to compare (two or more)",
        labels,
        default=labels[:2][::-1],
        key="cmp_pick",
        format_func=lambda lb: f"{lb} · {info.loc[lb, 'runs']} runs",
        help="Runs pair by seed (common random numbers).",
    )
    if len(picked) < 2:
        st.info("Pick at least two scenarios: a baseline and a candidate.")
        return
    # Keyed on the selection: picking other scenarios makes the first of them the baseline again.
    base = st.selectbox("Baseline", picked, key=f"cmp_base:{'|'.join(picked)}")
    order = [base, *[p for p in picked if p != base]]
    runs = group_runs(order)
    idx = index()
    seed_of = dict(zip(idx["run_id"], idx["seed"], strict=True))
    seeds = sorted({int(seed_of[r]) for ids in runs.values() for r in ids})
    with st.expander(f"Runs: seeds {seeds[0]}–{seeds[-1]}" if len(seeds) > 1 else f"Runs: seed {seeds[0]}"):
        keep = st.multiselect(
            "Seeds to include (a seed's runs pair across scenarios)", seeds, default=seeds, key="cmp_seeds"
        )
    runs = {lb: [r for r in ids if seed_of[r] in keep] for lb, ids in runs.items()}
    try:
        cmp = cached_compare(runs)
    except SandboxError as exc:
        st.error(str(exc))
        return
    for note in cmp.notes:
        st.warning(note)
    # What changed first: the KPI table, then the map of the KPI that changed most, then the KPIs over
    # the day. The page loads no chart library and no data grid (SVG and HTML tables): what the browser
    # must render besides the map is small, so the map draws sooner.
    # The map is sent before the KPI table it sits under: the browser starts loading deck.gl while it
    # lays the table out (a container keeps its place on the page, whatever order it is filled in).
    table = st.container()
    _maps(cmp)
    with table:
        _kpis(cmp)
    _series(cmp)
    _services(cmp)
    _service_logs(cmp)
    _export(cmp)
    with st.expander(f"Runs in this comparison ({len(cmp.run_ids())})"):
        st.html(
            table_html(
                pd.DataFrame(
                    [{"Scenario": lb, "Seed": s, "Run id": r} for lb, gr in cmp.groups.items() for s, r in gr.items()]
                ),
                "runs",
                numeric=("Seed",),
            )
        )


def _key(cmp: Comparison) -> tuple:
    return tuple((lb, tuple(cmp.run_ids(lb))) for lb in cmp.labels)


# --------------------------------------------------------------------------- KPIs
def _kpis(cmp: Comparison) -> None:
    st.header("KPIs")
    st.caption(
        "Difference = candidate − baseline, averaged over runs paired by seed, with a 95% paired-t confidence "
        "interval. **≈ not significant**: the interval includes 0. Better/worse follows each KPI's direction."
    )
    only = st.checkbox("Only significant changes", key="cmp_only_sig")
    for c in cmp.candidates:
        t = cmp.table[cmp.table["candidate"] == c]
        vc = t["verdict"].value_counts()
        st.subheader(f"{c} vs {cmp.baseline}")
        st.markdown(  # one line, not four metrics: every element is a message the page re-renders on
            f"**{len(cmp.pair_seeds(c))}** paired runs (seeds) · **{int(vc.get('better', 0))}** KPIs better · "
            f"**{int(vc.get('worse', 0))}** worse · **{int(vc.get('no significant change', 0))}** not "
            "significantly changed"
        )
        st.html(kpi_table_html(cmp, c, only_significant=only))


# --------------------------------------------------------------------------- over the day
@st.cache_data(show_spinner=False, max_entries=16)
def _hourly(root: str, key: tuple, version: tuple) -> pd.DataFrame:
    return hourly_means(Store(root), cached_compare({lb: list(ids) for lb, ids in key}))


def _series(cmp: Comparison) -> None:
    st.header("Over the day")
    root = store_root()
    s = _hourly(str(root), _key(cmp), store_version(root))
    kpis = series_kpis(cmp, list(set(s["kpi"])))
    if not kpis:
        st.caption("These runs have no hourly KPI series.")
        return
    cand = cmp.candidates[0]
    default = top_changes(cmp, cand, among=kpis, n=2)
    chosen = st.multiselect(
        "KPIs (the two that changed most are shown first)",
        kpis,
        default=default,
        key=f"cmp_series:{'|'.join(cmp.labels)}",
        format_func=kpi_label,
    )
    # Inline SVG, not a Vega chart: the page then loads no charting library, and its map draws sooner.
    start = str(cmp.meta[cmp.baseline].get("start") or "")
    charts = "".join(
        f'<p style="margin:12px 0 0" title="{html.escape(k)}"><b>{html.escape(kpi_header(k))}</b></p>'
        f"<div>{series_svg(s, k, cmp.labels, start) or '<i>No value in any hour of these runs.</i>'}</div>"
        for k in chosen
    )
    st.markdown(
        f'<div class="over-the-day"><p style="font-size:0.9em;color:#5f6368">Lines: the mean over each scenario\'s '
        f"runs, hour by hour; bands: its 95% confidence interval (hover a point for its values).</p>"
        f"<p>{scenario_legend_html(cmp.labels)}</p>{charts}</div>",
        unsafe_allow_html=True,
    )


# --------------------------------------------------------------------------- maps
_HOW = {
    "sum": "their sum (the cells add up to the KPI)",
    "mean": "their mean (weighted by how many each cell holds, the cells average to the KPI)",
    "share": "their percentage (weighted by how many each cell holds, the cells average to the KPI)",
}


@st.cache_data(show_spinner=False, max_entries=32)
def _cells(root: str, key: tuple, version: tuple, metric: str, cell_m: float) -> pd.DataFrame:
    return spatial_means(Store(root), cached_compare({lb: list(ids) for lb, ids in key}), metric, cell_m)


def _maps(cmp: Comparison) -> None:
    st.header("Where it changed")
    root = store_root()
    metrics = spatial_metrics(Store(root), cmp.run_ids())
    if not metrics:
        st.caption("These runs have no spatial data.")
        return
    c1, c2, c3 = st.columns([2, 1, 1])  # the KPI picker: room for the longest descriptions
    cand = (
        c2.selectbox("Candidate", cmp.candidates, key="cmp_map_cand") if len(cmp.candidates) > 1 else cmp.candidates[0]
    )
    ordered = by_change(cmp, cand, metrics)
    metric = c1.selectbox(
        "Map of (the KPI that changed most first)",
        ordered,
        key=f"cmp_map_metric:{'|'.join(cmp.labels)}:{cand}",
        format_func=kpi_label,
        help=f"{len(ordered)} KPIs of these runs have a place in the district and can be mapped; "
        "those that changed significantly come first, largest change first.",
    )
    cell_m = float(c3.selectbox("Grid cell (m)", [100, 200, 400], key="cmp_cell"))
    where = mapped(metric)
    if where is not None:
        st.caption(f"`{metric}` · each value sits at its {where.place}; a cell shows {_HOW[where.how]}.")
    cells = _cells(str(root), _key(cmp), store_version(root), metric, cell_m)
    b, c = cells[cells["label"] == cmp.baseline], cells[cells["label"] == cand]
    if b.empty or c.empty:
        st.caption(f"No values of “{kpi_label(metric)}” on the map for one of the scenarios.")
        return
    try:
        d = get_district(cmp.meta[cmp.baseline].get("district_ref") or cmp.meta[cmp.baseline]["district"])
    except (SandboxError, OSError):
        d = None  # the district folder moved: cells still show, without streets
    o = maps.origin(d)
    lon, lat = maps.lonlat(o, cells["x"].to_numpy(float), cells["y"].to_numpy(float))
    view = maps.view_state(d, lon, lat, px=380)  # one view state, shared by the maps
    streets = maps.district_layers(d, ["streets"], maps.metres_per_pixel(view)) if d is not None else []
    spec = CATALOGUE.get(metric)
    unit = spec.unit if spec else ""
    summed = where is not None and where.how == "sum"
    if summed:  # a cell with nothing in one scenario has 0 there
        diff = b.merge(c, on=["gx", "gy", "x", "y"], suffixes=("_b", "_c"), how="outer")
        diff[["value_b", "value_c"]] = diff[["value_b", "value_c"]].fillna(0.0)
    else:
        diff = b.merge(c, on=["gx", "gy", "x", "y"], suffixes=("_b", "_c"))
    diff["diff"] = diff["value_c"] - diff["value_b"]
    better = spec.better if spec else "none"
    tips = [
        f"{cand} − {cmp.baseline}\n{kpi_label(metric)}: {fmt_value(v, unit, signed=True)}\n"
        f"({fmt_value(x, unit)} → {fmt_value(y, unit)})"
        for v, x, y in zip(diff["diff"], diff["value_b"], diff["value_c"], strict=True)
    ]
    # The difference first, alone: it is what changed. The two scenarios' own maps are one click away
    # (each map is a WebGL canvas the browser must set up: one map paints about twice as fast as three).
    dl, dr = st.columns(2)
    dl.markdown(f"**Difference** ({cand} − {cmp.baseline})")
    dl.pydeck_chart(
        maps.deck(
            [
                *streets,
                maps.cells_layer(diff, o, cell_m, maps.diverging(diff["diff"].to_numpy(), better), tips, "cells-diff"),
            ],
            view,
        ),
        height=420,
        key="map-diff",
        alt=f"difference of {kpi_label(metric)}",
    )
    worse, improved = int(_count(diff["diff"], better, -1)), int(_count(diff["diff"], better, 1))
    dr.markdown(
        maps.legend_html(
            [("better", [26, 150, 65]), ("worse", [215, 48, 39]), ("no change / no direction", [150, 150, 150])]
        )
        + f"<p><b>{improved:,}</b> grid cells better · <b>{worse:,}</b> worse</p>",
        unsafe_allow_html=True,
    )
    dr.caption(
        f"{len(diff)} cells of {cell_m:g} m with values in {'either' if summed else 'both'} scenario"
        f"{'' if summed else 's'}; the colour's strength is the size "
        "of the change. Per-cell differences are means over runs, without confidence intervals."
    )
    if not dr.toggle(
        "Show each scenario's own map",
        key="cmp_map_both",
        help="The baseline's and the candidate's values side by side, on one colour scale.",
    ):
        return
    vmin = float(min(b["value"].min(), c["value"].min()))
    vmax = float(max(b["value"].max(), c["value"].max()))
    left, right = st.columns(2)
    for col, lb, df in ((left, cmp.baseline, b), (right, cand, c)):
        tips = [
            f"{lb}\n{kpi_label(metric)}: {fmt_value(v, unit)}\nruns: {n}"
            for v, n in zip(df["value"], df["n"], strict=True)
        ]
        layer = maps.cells_layer(
            df, o, cell_m, maps.sequential(df["value"].to_numpy(), vmin, vmax), tips, f"cells-{lb}"
        )
        col.markdown(f"**{lb}**")
        col.pydeck_chart(
            maps.deck([*streets, layer], view), height=420, key=f"map-{_slug(lb)}", alt=f"{kpi_label(metric)}, {lb}"
        )
    st.markdown(_scale(vmin, vmax, unit), unsafe_allow_html=True)


def _count(diff: pd.Series, better: str, sign: int) -> int:
    s = {"higher": 1, "lower": -1}.get(better, 0)
    return int(((diff * s * sign) > 0).sum()) if s else 0


def _scale(vmin: float, vmax: float, unit: str) -> str:
    stops = ", ".join(
        f"rgb({r},{g},{b})" for r, g, b, _ in maps.sequential(pd.Series([0, 0.25, 0.5, 0.75, 1.0]).to_numpy(), 0, 1)
    )
    return (
        f"<div style='font-size:0.85em'>{fmt_value(vmin, unit)} <span style='display:inline-block;width:200px;"
        f"height:10px;background:linear-gradient(to right, {stops});vertical-align:middle'></span> "
        f"{fmt_value(vmax, unit)}</div>"
    )


# --------------------------------------------------------------------------- services and export
def _services(cmp: Comparison) -> None:
    st.header("Services")
    svc = services_summary(cmp)
    if svc.empty:
        st.caption("No services in these runs.")
        return
    for r in svc.itertuples(index=False):
        if r.status != "ok":
            st.error(f"{r.scenario} · {r.service}: {r.status}" + (f" — {r.reasons}" if r.reasons else ""))
    names = {
        "scenario": "Scenario",
        "service": "Service",
        "status": "Status",
        "runs": "Runs",
        "rejected_actions": "Actions rejected by the district",
        "reasons": "Why (if not ok)",
    }
    st.html(table_html(svc.rename(columns=names), "services", numeric=("Runs", "Actions rejected by the district")))


def _service_logs(cmp: Comparison) -> None:
    """Each service's own output (prints and self.log entries) in the compared runs (issue 14)."""
    from .logs_view import run_logs_expander

    labels = {r: f"{lb} · seed {s} · {r}" for lb, gr in cmp.groups.items() for s, r in gr.items()}
    run_logs_expander(cmp.run_ids(), labels, key="cmp_logs")


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", s).strip("_")[:60] or "x"


def _export(cmp: Comparison) -> None:
    st.header("Export")
    root = store_root()
    name = f"compare-{_slug(cmp.baseline)}-vs-{_slug('-'.join(cmp.candidates))}"
    c1, c2 = st.columns(2)
    c1.download_button(
        "Download CSV",
        cmp.table.to_csv(index=False),
        file_name=f"{name}.csv",
        mime="text/csv",
        key="dl_csv",
        on_click="ignore",
    )
    series = _hourly(str(root), _key(cmp), store_version(root))
    report = render_report(cmp, series=series, store_root=str(root))
    c2.download_button(
        "Download HTML report", report, file_name=f"{name}.html", mime="text/html", key="dl_html", on_click="ignore"
    )
