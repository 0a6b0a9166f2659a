"""The Decide page's views of one evaluation: ranking, headline, chain, scorecard, money, tornado, scale-up."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from simulation.decision.cashflow import eok, krw
from simulation.decision.evaluate import LABELS
from simulation.decision.html import tornado_svg
from simulation.results.kpis import CATALOGUE

__all__ = ["chain", "headline", "money", "ranking", "scale", "scorecard", "sensitivity", "tornado"]


def _label(kpi: str) -> str:
    """A KPI as people read it: the catalogue's description (the code stays in its own column)."""
    k = CATALOGUE.get(kpi)
    return k.description[:1].upper() + k.description[1:] if k else kpi


def _m(v: Any) -> str:
    return krw(v, unit=False)


def ranking(evs: list[Any], base: str) -> None:
    """Candidates ranked against the baseline."""
    st.subheader(f"Candidates ranked against {base}")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Rank": i + 1,
                    "Candidate": e.candidate,
                    "Recommendation": e.recommendation.label,
                    "Weighted score (0–100)": round(e.recommendation.total),
                    "Expected NPV (million KRW)": _m(e.economics.npv),
                    "NPV 90% range (million KRW)": f"{_m(e.economics.npv_p05)} to {_m(e.economics.npv_p95)}",
                    "P(NPV > 0)": f"{e.economics.p_npv_positive:.2f}",
                }
                for i, e in enumerate(evs)
            ]
        ),
        hide_index=True,
        width="stretch",
    )


def headline(e: dict[str, Any]) -> None:
    """Expected NPV, P(NPV > 0), BCR and payback as metrics."""
    m = st.columns(4)
    m[0].metric(
        "Expected NPV", krw(e["npv"]), help=f"{eok(e['npv'])}; 90% range {krw(e['npv_p05'])} to {krw(e['npv_p95'])}"
    )
    m[1].metric("P(NPV > 0)", f"{e['p_npv_positive']:.2f}", help=f"{e['draws']:,} Monte-Carlo draws")
    m[2].metric("BCR", "—" if e["bcr"] is None else f"{e['bcr']:.2f}", help=e.get("bcr_note") or None)
    m[3].metric("Payback", "—" if e["payback_years"] is None else f"{e['payback_years']:.1f} years")
    st.caption(
        f"NPV 90% range {krw(e['npv_p05'])} to {krw(e['npv_p95'])} over {e['horizon_years']} years at "
        f"{e['discount_rate']:.1%}. {e.get('bcr_note', '')}"
    )


def chain(doc: dict[str, Any]) -> None:
    """The chain from KPI effect to verdict."""
    st.subheader("How the recommendation follows")
    for step in doc.get("chain") or []:
        st.markdown(f"**{step['step']}**\n" + "\n".join(f"- {line}" for line in step["lines"]))


def scorecard(doc: dict[str, Any], note: str | None) -> None:
    """The seven criteria with their scores, weights and evidence."""
    st.subheader("Scorecard")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Criterion": c["name"] + ("" if c["assessed"] else " (not assessed)"),
                    "Score (0–100)": round(c["score"]),
                    "Weight": round(c["weight"], 3),
                    "Evidence": " · ".join(c["details"]),
                }
                for c in doc["scorecard"]
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    if note:
        st.caption(note)


def money(e: dict[str, Any]) -> None:
    """Economics, where the money comes from, monetised effects and what is not monetised."""
    st.subheader("Economics")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Capex (million KRW)": _m(e["capex"]),
                    "Opex a year (million KRW)": _m(e["opex_per_year"]),
                    "Revenue a year (million KRW)": _m(e["revenue_per_year"]),
                    "Benefit a year, expected (million KRW)": _m(e["benefit_per_year"]),
                    "Expected NPV (million KRW)": _m(e["npv"]),
                    "NPV 90% range (million KRW)": f"{_m(e['npv_p05'])} to {_m(e['npv_p95'])}",
                }
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    src = [f"- capex: {s}" for s in e.get("capex_sources") or []]
    src.append(f"- opex: {e.get('opex_source') or '—'}")
    src += [f"- revenue, {r['source']}: {krw(r['krw_per_year'])} a year — {r['how']}" for r in e["revenue_lines"]]
    if not e["revenue_lines"]:
        src.append("- revenue: none (no subscription or per-request price in the manifest)")
    st.markdown("**Where the money comes from**\n" + "\n".join(src))
    if e["lines"]:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "KPI": _label(ln["kpi"]),
                        "Improvement a run (+ better)": f"{ln['improvement_per_run'] + 0.0:+.3g} {ln['unit']}",
                        "Verdict": ln["verdict"],
                        "Counted": ln["counted"],
                        "Unit value": f"{ln['krw_per_unit']:,.0f} {ln['value_unit']}",
                        "Expected (million KRW a year)": _m(ln["krw_per_year"]),
                        "90% range (million KRW a year)": f"{_m(ln['krw_p05'])} to {_m(ln['krw_p95'])}",
                        "Source": ln["source"],
                        "Code": ln["kpi"],
                    }
                    for ln in e["lines"]
                ]
            ),
            hide_index=True,
            width="stretch",
        )
    nm = e.get("not_monetised") or []
    if nm:
        st.markdown(
            "**Not monetised** (moved, but carry no money)\n"
            + "\n".join(
                f"- {'**missing unit value** — ' if x['missing'] else ''}{_label(x['kpi'])} "
                f"({x['diff_mean']:+.3g} {x['unit']}, {x['verdict']}): {x['reason']}"
                for x in nm
            )
        )


def tornado(doc: dict[str, Any]) -> None:
    """The tornado of assumptions and the flip points in words."""
    bars = doc.get("tornado") or []
    if not bars:
        return
    st.subheader("What drives the verdict")
    st.caption(
        "Each assumption at the low and the high end of its range, all else as evaluated: the bar spans the "
        "expected NPV; a red bar changes the recommendation."
    )
    st.html(tornado_svg(bars, doc["economics"]["npv"], doc["recommendation"]["decision"], as_img=True))
    flips = doc.get("flips") or []
    if flips:
        st.markdown(
            "**What would change the recommendation** (nearest first)\n"
            + "\n".join(f"- {f['text']}" for f in flips[:8])
        )
    else:
        st.markdown("No single assumption changes the recommendation within its search range.")


def sensitivity(rows: list[dict[str, Any]]) -> None:
    """Each weight at ×0.8 and ×1.2."""
    st.subheader("Weight sensitivity (each weight ±20%)")
    df = pd.DataFrame(
        [
            {
                "Criterion": r["criterion"],
                "Weight ×": r["factor"],
                "Weighted score": round(next(iter(r["totals"].values())), 1),
                "Recommendation": LABELS[next(iter(r["recommendations"].values()))],
                "Ranking changes": r["rank_changed"],
                "Recommendation changes": r["recommendation_changed"],
            }
            for r in rows
        ]
    )
    if not (df["Ranking changes"].any() or df["Recommendation changes"].any()):
        st.success("Ranking and recommendation are stable within ±20% of every weight.")
    with st.expander("Every weight at ×0.8 and ×1.2"):
        st.dataframe(df, hide_index=True, width="stretch")


def scale(rows: list[dict[str, Any]]) -> None:
    """Scale-up beside the programme budget lines."""
    st.subheader("Scale-up, beside the programme's budget lines")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Scope": r["scope"],
                    "Hardware units": f"{r['hardware_units']:,}",
                    "Poles to convert": f"{r['poles_to_convert']:,}",
                    "Conversion years": f"{r['conversion_years']:.1f}",
                    "Capex (million KRW)": _m(r["capex"]),
                    "Opex a year (million KRW)": _m(r["opex_per_year"]),
                    "Benefit + revenue a year (million KRW)": _m(r["benefit_per_year"] + r["revenue_per_year"]),
                    "NPV (million KRW)": _m(r["npv"]),
                    "Budget line": r["budget_line"] or "—",
                    "Capex share of the line": "—"
                    if r["capex_share_of_budget"] is None
                    else f"{r['capex_share_of_budget']:.1%}",
                }
                for r in rows
            ]
        ),
        hide_index=True,
        width="stretch",
    )
