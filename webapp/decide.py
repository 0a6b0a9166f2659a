"""Decide: scorecard, economics, scale-up and recommendation for a candidate; accept or override; reopen.

Works on runs already in the store (run them on the Run page or with ``python -m simulation decide``):
nothing here simulates or imports plugin code; a manifest is only read as YAML.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from simulation.decision.economics import DEFAULT_UNIT_VALUES, load_unit_values
from simulation.decision.evaluate import CRITERIA, DECISIONS, DEFAULT_WEIGHTS, LABELS, RULES
from simulation.decision.evidence import FAULT_SUFFIX, evaluate_runs
from simulation.decision.record import (
    decision_html,
    decisions_frame,
    load_decision,
    make_record,
    report_section,
    save_decision,
)
from simulation.errors import SandboxError
from simulation.results.run import PACKAGE_VERSION, code_digest
from simulation.results.store import Store
from webapp.common import group_runs, groups, store_root


def _unit_values_path() -> Path:
    up = st.file_uploader("Unit values (YAML)", type=["yaml", "yml"], help="default: config/unit_values.yaml")
    if up is None:
        return DEFAULT_UNIT_VALUES
    p = Path(tempfile.gettempdir()) / f"unit_values-{up.file_id}.yaml"
    p.write_bytes(up.getvalue())
    return p


def _weights() -> dict[str, float]:
    with st.expander("Weights (normalised to sum 1)", expanded=False):
        cols = st.columns(len(CRITERIA))
        return {
            c: col.slider(c, 0.0, 1.0, float(DEFAULT_WEIGHTS[c]), 0.05, key=f"w_{c}", help=RULES[c])
            for c, col in zip(CRITERIA, cols, strict=True)
        }


def _pick() -> tuple[dict[str, list[str]], dict[str, list[str]] | None] | None:
    g = groups()
    labels = [lb for lb in g["label"] if not str(lb).endswith(FAULT_SUFFIX)] if not g.empty else []
    if len(labels) < 2:
        st.info(
            "The store needs runs of a baseline and a candidate scenario (same district, at least 2 seeds each). "
            "Run them on the Run page, or: `python -m simulation decide CANDIDATE --baseline BASELINE`."
        )
        return None
    c1, c2 = st.columns(2)
    base = c1.selectbox("Baseline", labels, key="decide_base")
    cand = c2.selectbox("Candidate", [lb for lb in labels if lb != base], key="decide_cand")
    chosen = group_runs([base, cand])
    faults = None
    fb, fc = f"{base}{FAULT_SUFFIX}", f"{cand}{FAULT_SUFFIX}"
    if {fb, fc} <= set(g["label"]):
        faults = group_runs([fb, fc])
    else:
        st.caption(
            "No fault variants of these scenarios in the store: reliability is not assessed "
            "(the CLI runs them for you)."
        )
    return chosen, faults


def page() -> None:
    """The Decide page."""
    st.title("Decide")
    tab_eval, tab_list = st.tabs(["Evaluate", "Decisions"])
    with tab_eval:
        _evaluate()
    with tab_list:
        _decisions()


def _evaluate() -> None:
    picked = _pick()
    if picked is None:
        return
    chosen, faults = picked
    c1, c2, c3 = st.columns(3)
    horizon = c1.slider("Horizon (years)", 1, 30, 10)
    discount = c2.slider("Discount rate (%)", 0.0, 20.0, 4.5, 0.5) / 100
    days = c3.number_input("Days a year like the simulated one", 1, 366, 365)
    weights = _weights()
    uv_path = _unit_values_path()
    try:
        from simulation.decision.economics import inputs

        uv = load_unit_values(uv_path)
        inp = inputs("Decide page", horizon_years=horizon, discount_rate=discount, days_per_year=float(days))
        ev, evidence = evaluate_runs(Store(store_root()), chosen, uv, inp, fault_groups=faults, weights=weights)
    except SandboxError as exc:
        st.error(str(exc))
        return
    doc = ev.to_dict() | {"run_ids": evidence.run_ids(), "notes": evidence.notes}
    rec = ev.recommendation
    colour = {"commercialise": "green", "extend_pilot": "orange", "stop": "red"}[rec.decision]
    st.markdown(f"### Recommendation: :{colour}[{rec.label}] — weighted score {rec.total:.0f}/100")
    for r in rec.reasons:
        st.markdown(f"- {r}")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "criterion": c["name"] + ("" if c["assessed"] else " (not assessed)"),
                    "score": round(c["score"]),
                    "weight": round(c["weight"], 3),
                    "evidence": " · ".join(c["details"]),
                }
                for c in doc["scorecard"]
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    if ev.weights_note:
        st.caption(ev.weights_note)
    _sensitivity(doc["sensitivity"])
    _economics(doc)
    for n in [*doc["notes"], *doc["economics"]["notes"]]:
        st.caption(f"note: {n}")
    _record(ev, evidence, doc)


def _sensitivity(rows: list[dict[str, Any]]) -> None:
    st.subheader("Weight sensitivity (each weight ±20%)")
    df = pd.DataFrame(
        [
            {
                "criterion": r["criterion"],
                "factor": r["factor"],
                "total": round(next(iter(r["totals"].values())), 1),
                "recommendation": LABELS[next(iter(r["recommendations"].values()))],
                "ranking changes": r["rank_changed"],
                "recommendation changes": r["recommendation_changed"],
            }
            for r in rows
        ]
    )
    if not (df["ranking changes"].any() or df["recommendation changes"].any()):
        st.success("Ranking and recommendation are stable within ±20% of every weight.")
    st.dataframe(df, hide_index=True, width="stretch")


def _economics(doc: dict[str, Any]) -> None:
    e = doc["economics"]
    st.subheader("Economics")
    m = st.columns(4)
    m[0].metric(
        "NPV (KRW M)",
        f"{e['npv'] / 1e6:,.1f}",
        help="central unit values and KPI differences",
    )
    m[1].metric("P(NPV > 0)", f"{e['p_npv_positive']:.2f}")
    m[2].metric("BCR", "—" if e["bcr"] is None else f"{e['bcr']:.2f}")
    m[3].metric("Payback", "—" if e["payback_years"] is None else f"{e['payback_years']:.1f} y")
    st.caption(
        f"NPV 90% range KRW {e['npv_p05'] / 1e6:,.0f} M to {e['npv_p95'] / 1e6:,.0f} M (Monte-Carlo) · "
        f"capex KRW {e['capex'] / 1e6:,.1f} M · opex {e['opex_per_year'] / 1e6:,.1f} M/y · revenue "
        f"{e['revenue_per_year'] / 1e6:,.1f} M/y ({e['requests_source']}) · "
        f"benefit {e['benefit_per_year'] / 1e6:,.1f} M/y"
    )
    if e["lines"]:
        st.dataframe(pd.DataFrame(e["lines"]), hide_index=True, width="stretch")
    st.subheader("Scale-up, beside the programme's budget lines")
    cols = [
        "scope",
        "hardware_units",
        "poles_to_convert",
        "conversion_years",
        "capex",
        "opex_per_year",
        "benefit_per_year",
        "revenue_per_year",
        "npv",
        "budget_line",
        "budget_krw",
        "capex_share_of_budget",
    ]
    st.dataframe(pd.DataFrame(doc["scale_up"])[cols], hide_index=True, width="stretch")


def _record(ev: Any, evidence: Any, doc: dict[str, Any]) -> None:
    st.subheader("Record the decision")
    choice = st.radio(
        "Decision",
        ["accept", *DECISIONS],
        horizontal=True,
        format_func=lambda d: f"accept ({ev.recommendation.label})" if d == "accept" else f"override: {LABELS[d]}",
    )
    note = st.text_area("Note", placeholder="why (required for an override)")
    who = st.text_input("Evaluator")
    if st.button("Record decision", type="primary"):
        try:
            rec = make_record(
                ev,
                scenario=evidence.comparison.candidates[0],
                baseline=evidence.comparison.baseline,
                run_ids=evidence.run_ids(),
                accept=choice == "accept",
                override=None if choice == "accept" else choice,
                note=note,
                evaluator=who,
                provenance={
                    "code_digest": code_digest(),
                    "package_version": PACKAGE_VERSION,
                    "notes": evidence.notes,
                    "district": evidence.district.name,
                    "district_digest": evidence.district.digest,
                    "manifest": ev.costs.source,
                },
            )
            save_decision(store_root(), rec)
        except SandboxError as exc:
            st.error(str(exc))
            return
        st.success(f"Decision {rec.id} recorded.")
        from simulation.results.report import render_report

        report = render_report(
            evidence.comparison, extra_sections=[report_section(doc, rec)], store_root=str(store_root())
        )
        st.download_button(
            "Download the report (HTML, printable to PDF)",
            report,
            file_name=f"decision-{rec.id}.html",
            mime="text/html",
        )


def _decisions() -> None:
    df = decisions_frame(store_root())
    if df.empty:
        st.info("No decisions recorded yet.")
        return
    st.dataframe(df, hide_index=True, width="stretch")
    rid = st.selectbox("Reopen", list(df["id"])[::-1])
    if rid:
        try:
            rec = load_decision(store_root(), rid)
        except SandboxError as exc:
            st.error(str(exc))
            return
        st.html(decision_html(rec.evaluation, rec))
        st.download_button("Download record (JSON)", rec.model_dump_json(indent=1), file_name=f"decision-{rec.id}.json")
