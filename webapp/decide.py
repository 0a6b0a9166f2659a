"""Decide: rank candidates against a baseline; the chain, money, tornado and scorecard; accept or override; reopen.

Works on runs already in the store (run them on the Run page or with ``python -m simulation decide``):
nothing here simulates or imports plugin code; a manifest is only read as YAML. The pickers follow the
scenario files' ``extends``: a candidate is a scenario that adds a service, its baseline what it extends.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
import yaml

from simulation.decision.evaluate import CRITERIA, DECISIONS, DEFAULT_WEIGHTS, LABELS, RULES
from simulation.decision.evidence import FAULT_SUFFIX, evaluate_runs
from simulation.decision.record import (
    decision_html,
    list_decisions,
    load_decision,
    make_record,
    record_page,
    report_section,
    save_decision,
)
from simulation.decision.unit_values import DEFAULT_UNIT_VALUES, load_unit_values
from simulation.errors import SandboxError
from simulation.results.run import PACKAGE_VERSION, code_digest
from simulation.results.store import Store
from webapp import decide_view as view
from webapp.common import group_runs, groups, scenario_files, store_root, store_version

_COLOUR = {"commercialise": "green", "extend_pilot": "orange", "stop": "red"}


# --------------------------------------------------------------------------- who extends whom
def lineage() -> dict[str, tuple[str | None, bool]]:
    """Scenario name -> (the scenario it extends, whether it adds services), read from the scenario files."""
    files: dict[str, dict[str, Any]] = {}
    for p in scenario_files():
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            continue
        if isinstance(data, dict):
            files[p.name] = data | {"_name": str(data.get("name") or p.stem)}
    out: dict[str, tuple[str | None, bool]] = {}
    for data in files.values():
        parent = files.get(str(data.get("extends") or ""))
        out[data["_name"]] = (parent["_name"] if parent else None, bool(data.get("services")) and parent is not None)
    return out


def default_pair(labels: list[str], tree: dict[str, tuple[str | None, bool]]) -> tuple[str, list[str]]:
    """Baseline and candidates to open on: the first stored scenario that adds a service, and what it extends."""
    for lb in labels:
        parent, adds = tree.get(lb, (None, False))
        if adds and parent in labels:
            return parent, [lb]
    return labels[0], [lb for lb in labels[1:2]]


def _pick() -> tuple[str, list[str], pd.DataFrame] | None:
    g = groups()
    labels = [lb for lb in g["label"] if not str(lb).endswith(FAULT_SUFFIX)] if not g.empty else []
    if len(labels) < 2:
        st.info(
            "The store needs runs of a baseline and a candidate scenario (same district, at least 5 seeds each "
            "for a verdict). Run them on the Run page, or: `python -m simulation decide CANDIDATE --baseline BASELINE`."
        )
        return None
    tree = lineage()
    base0, cands0 = default_pair(labels, tree)
    c1, c2 = st.columns([1, 2])
    base = c1.selectbox("Baseline", labels, index=labels.index(base0), key="decide_base")
    options = [lb for lb in labels if lb != base]  # a baseline cannot be its own candidate
    children = [lb for lb in options if tree.get(lb, (None, False)) == (base, True)]
    default = [c for c in cands0 if c in options] if base == base0 else children[:1]
    if st.session_state.get("decide_cands_for") != base:  # a new baseline: its own default candidates
        st.session_state["decide_cands_for"] = base
        st.session_state["decide_cands"] = default or options[:1]
    else:  # keep what the evaluator picked, less anything no longer in the store
        st.session_state["decide_cands"] = [c for c in st.session_state.get("decide_cands", []) if c in options]
    cands = c2.multiselect(
        "Candidates",
        options,
        key="decide_cands",
        help="scenarios that add a service to the baseline; pick several to rank them",
    )
    if not cands:
        st.info("Pick at least one candidate.")
        return None
    return base, cands, g


# --------------------------------------------------------------------------- evaluation (cached per inputs)
@st.cache_resource(show_spinner=False, max_entries=16)
def _evaluate_cached(
    root: str,
    version: tuple[int, int],
    chosen: tuple[tuple[str, tuple[str, ...]], ...],
    faults: tuple[tuple[str, tuple[str, ...]], ...] | None,
    uv_path: str,
    uv_mtime: int,
    inp: tuple[tuple[str, Any], ...],
    weights: tuple[tuple[str, float], ...],
    detail: bool,
) -> tuple[Any, Any]:
    from simulation.decision.economics import inputs

    uv = load_unit_values(uv_path)
    return evaluate_runs(
        Store(root),
        {k: list(v) for k, v in chosen},
        uv,
        inputs("Decide page", **dict(inp)),
        fault_groups={k: list(v) for k, v in faults} if faults else None,
        weights=dict(weights),
        assumptions_check=detail,
    )


def _evaluate_one(base: str, cand: str, all_labels: set[str], settings: dict[str, Any], detail: bool) -> Any:
    chosen = group_runs([base, cand])
    fb, fc = f"{base}{FAULT_SUFFIX}", f"{cand}{FAULT_SUFFIX}"
    faults = group_runs([fb, fc]) if {fb, fc} <= all_labels else None
    root = store_root()
    uv_path = Path(settings["uv_path"])
    return _evaluate_cached(
        str(root),
        store_version(root),
        tuple((k, tuple(v)) for k, v in chosen.items()),
        tuple((k, tuple(v)) for k, v in faults.items()) if faults else None,
        str(uv_path),
        uv_path.stat().st_mtime_ns if uv_path.is_file() else 0,
        tuple(sorted(settings["inputs"].items())),
        tuple(sorted(settings["weights"].items())),
        detail,
    ), faults is not None


def _settings() -> dict[str, Any]:
    c1, c2, c3 = st.columns(3)
    horizon = c1.slider("Horizon (years)", 1, 30, 10)
    discount = c2.slider("Discount rate (% a year)", 0.0, 20.0, 4.5, 0.5) / 100
    days = c3.number_input("Days a year like the simulated one", 1, 366, 365)
    with st.expander("Weights (normalised to sum 1)", expanded=False):
        cols = st.columns(len(CRITERIA))
        weights = {
            c: col.slider(c, 0.0, 1.0, float(DEFAULT_WEIGHTS[c]), 0.05, key=f"w_{c}", help=RULES[c])
            for c, col in zip(CRITERIA, cols, strict=True)
        }
    up = st.file_uploader("Unit values (YAML)", type=["yaml", "yml"], help="default: config/unit_values.yaml")
    uv_path = DEFAULT_UNIT_VALUES
    if up is not None:
        uv_path = Path(tempfile.gettempdir()) / f"unit_values-{up.file_id}.yaml"
        uv_path.write_bytes(up.getvalue())
    inp = {"horizon_years": horizon, "discount_rate": discount, "days_per_year": float(days)}
    return {"inputs": inp, "weights": weights, "uv_path": str(uv_path)}


# --------------------------------------------------------------------------- the page
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
    base, cands, g = picked
    settings = _settings()
    labels = set(g["label"])
    try:
        if len(cands) > 1:
            ranked = []
            for c in cands:
                (ev, _), _ = _evaluate_one(base, c, labels, settings, detail=False)
                ranked.append(ev)
            ranked.sort(key=lambda e: (list(DECISIONS).index(e.recommendation.decision), -e.recommendation.total))
            view.ranking(ranked, base)
            cand = st.selectbox("Details for", [e.candidate for e in ranked], key="decide_detail")
        else:
            cand = cands[0]
        with st.spinner("Weighing the evidence and testing the assumptions…"):
            (ev, evidence), has_faults = _evaluate_one(base, cand, labels, settings, detail=True)
    except SandboxError as exc:
        st.error(str(exc))
        return
    if not has_faults:
        st.caption(
            "No fault variants of these scenarios in the store: reliability is not assessed "
            "(the CLI runs them for you)."
        )
    doc = ev.to_dict() | {"run_ids": evidence.run_ids(), "notes": evidence.notes}
    rec = ev.recommendation
    st.markdown(
        f"### Recommendation: :{_COLOUR[rec.decision]}[{rec.label}] — weighted score {rec.total:.0f}/100",
        help=f"{cand} against {base}",
    )
    for r in rec.reasons:
        st.markdown(f"- {r}")
    view.headline(doc["economics"])
    view.chain(doc)
    view.scorecard(doc, ev.weights_note)
    view.money(doc["economics"])
    view.tornado(doc)
    view.sensitivity(doc["sensitivity"])
    view.scale(doc["scale_up"])
    for n in [*doc["notes"], *doc["economics"]["notes"]]:
        st.caption(f"note: {n}")
    _record(ev, evidence, doc)


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


# --------------------------------------------------------------------------- the decisions list
def _decisions() -> None:
    try:
        recs = list_decisions(store_root())
    except SandboxError as exc:
        st.error(str(exc))
        return
    if not recs:
        st.info("No decisions recorded yet.")
        return
    recs = recs[::-1]  # newest first
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Date": r.created.replace("T", " "),
                    "Scenario": r.candidate,
                    "Baseline": r.baseline,
                    "Verdict": r.label,
                    "Recommended": LABELS[r.recommendation],
                    "Accepted": "yes" if r.accepted else "overridden",
                    "Evaluator": r.evaluator or "—",
                    "Note": r.note,
                }
                for r in recs
            ]
        ),
        hide_index=True,
        width="stretch",
        column_config={"Note": st.column_config.TextColumn(width="large")},
    )
    by_id = {r.id: r for r in recs}
    rid = st.selectbox(
        "Open a decision",
        list(by_id),
        format_func=lambda i: (
            f"{by_id[i].created.replace('T', ' ')} · {by_id[i].candidate} · {by_id[i].label}"
            + (f" · {by_id[i].evaluator}" if by_id[i].evaluator else "")
        ),
        key="decide_open",
    )
    if not rid:
        return
    try:
        rec = load_decision(store_root(), rid)
    except SandboxError as exc:
        st.error(str(exc))
        return
    c1, c2 = st.columns(2)
    c1.download_button(
        "Download report (HTML)", record_page(rec), file_name=f"decision-{rec.id}.html", mime="text/html"
    )
    c2.download_button(
        "Download record (JSON)",
        rec.model_dump_json(indent=1),
        file_name=f"decision-{rec.id}.json",
        mime="application/json",
    )
    st.html(decision_html(rec.evaluation, rec, svg_as_img=True))
