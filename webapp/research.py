"""Batch page sections for researchers: scenario discovery (PRIM boxes) and optimisation results (optuna).

Both read what the CLI wrote (``OUT/discovery/*.json``, ``OUT/optimise.json``); discovery can also be
run from the page on the batch shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from simulation.batch.discovery import discover, load_discoveries, plot_tradeoff, save
from simulation.batch.optimise import load_result
from simulation.errors import SandboxError
from simulation.results.kpis import CATALOGUE

__all__ = ["discovery_section", "is_optimisation", "optimisation_section", "pareto_figure"]


def _limits_table(box: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for name, lim in box["limits"].items():
        if lim and isinstance(lim[0], str):
            rows.append({"factor": name, "in the box": ", ".join(lim)})
        else:
            rows.append({"factor": name, "from": lim[0], "to": lim[1]})
    return pd.DataFrame(rows) if rows else pd.DataFrame([{"factor": "(none)", "in the box": "the whole space"}])


def discovery_section(out: Path, kpis: list[str]) -> None:
    """Saved PRIM results of this batch, and a form to find boxes for a KPI."""
    st.header("Scenario discovery (PRIM)")
    st.caption(
        "Which factor ranges hold the bad outcomes? PRIM peels the design space to boxes: *coverage* is the share "
        "of all cases of interest inside a box, *density* the share of the box that is of interest. "
        "CLI: `python -m simulation discover OUT --kpi K`."
    )
    with st.form("discover_form"):
        c1, c2, c3 = st.columns([3, 2, 1])
        kpi = c1.selectbox("KPI", kpis or list(CATALOGUE), key="discover_kpi")
        rule = c2.selectbox("Cases of interest", ["the worst 25%", "above a value", "below a value"], key="disc_rule")
        value = c3.number_input("value", value=0.0, key="discover_value")
        go = st.form_submit_button("Find boxes")
    if go:
        try:
            found_now = discover(
                out,
                kpi,
                above=value if rule == "above a value" else None,
                below=value if rule == "below a value" else None,
            )
            save(found_now)
        except SandboxError as exc:
            st.error(str(exc))
    found = load_discoveries(out)
    if not found:
        st.info("No discovery yet for this batch.")
        return
    for doc in found:
        _show(doc)


def _show(d: dict[str, Any]) -> None:
    """One saved discovery: its rule, each box's quality and limits, the trade-off plot."""
    st.markdown(f"**{d['rule']}** — {d['cases']} of {d['points']} design points are cases of interest")
    left, right = st.columns([3, 2])
    with left:
        for b in d["boxes"]:
            st.markdown(
                f"Box {b['box']}: coverage **{b['coverage']:.0%}**, density **{b['density']:.0%}**, "
                f"mass {b['mass']:.0%} (peeling step {b['step']})"
            )
            st.dataframe(_limits_table(b), hide_index=True, width="stretch")
    with right:
        st.pyplot(_tradeoff(d), clear_figure=False)
    for n in d.get("notes", []):
        st.warning(n)


def _tradeoff(d: dict[str, Any]) -> Any:
    from simulation.batch.discovery import Box, Discovery

    boxes = [Box(**b) for b in d["boxes"]]
    rest = {k: v for k, v in d.items() if k != "boxes"}
    return plot_tradeoff(Discovery(**rest, boxes=boxes))


def is_optimisation(out: Path) -> bool:
    """Does the folder hold an optimisation (``optimise.json``)?"""
    return (out / "optimise.json").is_file()


def pareto_figure(res: dict[str, Any]) -> Any:
    """Two objectives: every run trial, the Pareto front joined; one: the objective by trial, best so far."""
    from matplotlib.figure import Figure

    objs = list(res["objectives"])
    t = pd.DataFrame(res["trials"])
    t = t[t["state"] == "COMPLETE"]
    fig = Figure(figsize=(5.5, 3.8), layout="constrained")
    ax = fig.subplots()
    best = t[t["trial"].isin(res["best"])]
    if len(objs) >= 2:
        a, b = (f"kpi:{k}" for k in objs[:2])
        ax.scatter(t[a], t[b], s=18, color="0.6", label="trials")
        front = best.sort_values(a)
        ax.plot(front[a], front[b], marker="o", color="C3", label="Pareto front")
        ax.set_xlabel(f"{objs[0]} ({res['objectives'][objs[0]]})")
        ax.set_ylabel(f"{objs[1]} ({res['objectives'][objs[1]]})")
    else:
        k = f"kpi:{objs[0]}"
        ax.plot(t["trial"], t[k], marker=".", ls="", color="0.5", label="trial")
        run = t[k].cummin() if res["objectives"][objs[0]] == "minimize" else t[k].cummax()
        ax.step(t["trial"], run, where="post", color="C3", label="best so far")
        ax.set_xlabel("trial")
        ax.set_ylabel(objs[0])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def optimisation_section(out: Path) -> None:
    """An optimisation folder: best trials or the Pareto front, every trial, and the plot."""
    res = load_result(out)
    if res is None:
        return
    st.header("Optimisation (optuna)")
    budget = res.get("capex_budget_krw")
    st.caption(
        f"Study **{res['study']}** · {res['sampler']} · {res['trials_done']} trials run, "
        f"{res['trials_pruned']} not run (over the capex budget{f' of {budget:,.0f} KRW' if budget else ''} "
        "or invalid) · every trial with seeds "
        f"{res['seeds']} (paired). CLI: `python -m simulation optimise STUDY`."
    )
    trials = pd.DataFrame(res["trials"])
    best = trials[trials["trial"].isin(res["best"])].drop(columns=["run_ids", "reason"], errors="ignore")
    st.markdown("**Pareto front**" if len(res["objectives"]) > 1 else "**Best trial**")
    st.dataframe(best, hide_index=True, width="stretch")
    if res["trials_done"]:
        st.pyplot(pareto_figure(res), clear_figure=False)
    with st.expander(f"All {len(trials)} trials"):
        st.dataframe(trials, hide_index=True, width="stretch")
    st.download_button("Trials (CSV)", trials.to_csv(index=False), f"{res['study']}_trials.csv", "text/csv")
