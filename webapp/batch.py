"""Batch page: a researcher's batch output folder — per-point means with CIs, main effects,
interactions and Sobol/Morris indices, scenario discovery (PRIM) — or an optimisation folder's best
trials / Pareto front (:mod:`webapp.research`). It reads what ``python -m simulation batch``,
``discover`` and ``optimise`` wrote.

Batch folders are looked for under ``$PILOT_BATCH`` (``os.pathsep``-separated; default ``batch-out``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import streamlit as st

from simulation.batch.analysis import Analysis, analyze, plot_interactions, plot_main_effects, plot_sensitivity
from simulation.errors import SandboxError
from simulation.results.kpis import CATALOGUE
from simulation.results.numbers import kpi_header, kpi_label
from webapp import research


def batch_roots() -> list[Path]:
    """Where batch output folders are looked for."""
    return [Path(p) for p in os.environ.get("PILOT_BATCH", "batch-out").split(os.pathsep) if p.strip()]


def batch_folders() -> list[Path]:
    """Output folders (holding a plan.json) directly in, or one level under, the batch roots."""
    found: dict[Path, None] = {}
    for root in batch_roots():
        if (root / "plan.json").is_file():
            found.setdefault(root)
        if root.is_dir():
            for p in sorted(root.glob("*/plan.json")):
                found.setdefault(p.parent)
            for p in sorted(root.glob("*/optimise.json")):  # `python -m simulation optimise` folders
                found.setdefault(p.parent)
    return list(found)


def _version(out: Path) -> tuple[int, int, int]:
    """Changes when a run lands, fails, or the plan is rewritten (so a running batch refreshes)."""
    kpis = sum(1 for _ in out.glob("kpis/*/*.parquet"))
    failures = sum(1 for _ in out.glob("failures/*.json"))
    plan = out / "plan.json"
    return kpis, failures, plan.stat().st_mtime_ns if plan.is_file() else 0


@st.cache_data(show_spinner="Reading the batch…", max_entries=8)
def _analysis(out: str, kpis: tuple[str, ...], reference: int, version: tuple[int, int, int]) -> Analysis:
    return analyze(out, list(kpis) or None, reference=reference)


def _points_table(a: Analysis, frame: pd.DataFrame, mean: str, n: str) -> pd.DataFrame:
    """Points × KPIs: a column with the value and one with its 95% CI half-width per KPI."""
    wide = frame.pivot(index="point", columns="kpi", values=[mean, "half_width"])
    out = a.points.set_index("point")[a.factors].copy()
    out[n] = frame.groupby("point")[n].max()
    for k in a.kpis:
        if (mean, k) in wide.columns:  # headers in words with units; the code is in the KPI picker below
            out[kpi_header(k)] = wide[(mean, k)]
            out[f"{kpi_header(k)} ±"] = wide[("half_width", k)]
    return out.reset_index()


def page() -> None:
    """Render the Batch page."""
    st.title("Batch")
    folders = batch_folders()
    labels = [str(p) for p in folders]
    col1, col2 = st.columns([2, 2])
    picked = col1.selectbox(
        "Batch output folder",
        labels,
        index=0 if labels else None,
        key="batch_pick",
        placeholder="no batch found under " + ", ".join(map(str, batch_roots())),
    )
    typed = col2.text_input(
        "…or a folder path", key="batch_path", help="the --out folder of `python -m simulation batch`"
    )
    chosen = typed.strip() or picked
    if not chosen:
        st.info(
            "No batch yet. Run one with `python -m simulation batch scenarios/studies/ai_cameras.yaml` "
            "(results go to `batch-out/<study>`), then pick it here."
        )
        return
    out = Path(chosen)
    if research.is_optimisation(out):
        research.optimisation_section(out)
        return
    if not (out / "plan.json").is_file():
        st.error(f"`{out}` is not a batch output folder (it has no plan.json).")
        return
    plan = json.loads((out / "plan.json").read_text())
    default = plan.get("kpis") or []
    kpis = st.multiselect(
        "KPIs", list(CATALOGUE), default=default, key="batch_kpis", help="empty: every KPI that varies over the design"
    )
    reference = st.number_input(
        "Reference point for paired differences",
        min_value=0,
        max_value=max(0, int(plan["points"]) - 1),
        value=0,
        key="batch_ref",
        help="every point shares the replication seeds, so differences pair seed by seed",
    )
    try:
        a = _analysis(str(out), tuple(kpis), int(reference), _version(out))
    except SandboxError as exc:
        st.error(str(exc))
        return
    _header(a, out)
    for note in a.notes:
        st.warning(note)
    if a.summary.empty:
        st.info("No finished runs yet.")
        return
    st.subheader("Design points (mean and 95% CI half-width)")
    table = _points_table(a, a.summary, "mean", "n")
    st.dataframe(table, hide_index=True, width="stretch")
    st.download_button("Per-point table (CSV)", table.to_csv(index=False), f"{a.plan['study']}_points.csv", "text/csv")
    if len(a.points) > 1 and not a.paired.empty:
        st.subheader(f"Difference from point {reference}, paired by seed (mean and 95% CI half-width)")
        st.dataframe(_points_table(a, a.paired, "diff", "pairs"), hide_index=True, width="stretch")
    kpi = st.selectbox("KPI for the plots", a.kpis, key="batch_plot_kpi", format_func=_unit)
    st.subheader("Main effects")
    st.pyplot(plot_main_effects(a, kpi), clear_figure=False)
    fig = plot_interactions(a, kpi)
    if fig is not None:
        st.subheader("Interactions")
        st.pyplot(fig, clear_figure=False)
    st.subheader("Sensitivity indices")
    sens = a.sensitivity[a.sensitivity["kpi"] == kpi]
    if sens.empty:
        st.caption(
            f"A {a.plan['design']['kind']} design gives main effects only; Sobol indices need "
            "`design: {kind: sobol}`, elementary effects `design: {kind: morris}`."
        )
    else:
        fig = plot_sensitivity(a, kpi)
        if fig is not None:
            st.pyplot(fig, clear_figure=False)
        st.dataframe(sens, hide_index=True, width="stretch")
    st.download_button(
        "All sensitivity indices (CSV)",
        a.sensitivity.to_csv(index=False),
        f"{a.plan['study']}_sensitivity.csv",
        "text/csv",
        disabled=a.sensitivity.empty,
    )
    research.discovery_section(out, a.kpis)


def _unit(kpi: str) -> str:
    k = CATALOGUE.get(kpi)
    return f"{kpi_label(kpi)} ({k.unit}, {k.better} is better)" if k and k.better != "none" else kpi_header(kpi)


def _header(a: Analysis, out: Path) -> None:
    p = a.plan
    reps = p["replications"]
    rep_text = (
        f"{reps['fixed']} replications"
        if "fixed" in reps
        else f"adaptive {reps['adaptive']['min']}–{reps['adaptive']['max']} replications"
    )
    summary = out / "batch.json"
    last = json.loads(summary.read_text()) if summary.is_file() else {}
    cols = st.columns(4)
    kind = str(p["design"]["kind"]).replace("_", " ")
    cols[0].metric("Design points", f"{p['points']:,}", help=f"{kind} design")
    cols[1].metric("Runs done", f"{a.runs['run_id'].nunique():,}")
    cols[2].metric("Failed runs", f"{a.failures:,}")
    cols[3].metric(
        "Last batch",
        f"{last.get('runs_per_s', 0):.2f} runs/s" if last else "—",
        help=f"{last.get('executor', '?')} × {last.get('workers', '?')} workers" if last else None,
    )
    factors = ", ".join(f"`{f['path']}`" for f in p["factors"])
    st.caption(
        f"Study **{p['study']}** on `{p['base_scenario']}` ({p['district']}): a {kind} design over {factors}; "
        f"{rep_text} from seed {p['first_seed']} (common random numbers). {p.get('description') or ''}"
    )
