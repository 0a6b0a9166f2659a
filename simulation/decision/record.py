"""The decision record: the evaluator accepts or overrides a recommendation, with a note.

Stored as ``STORE/decisions/<id>.json`` (written to a temporary file and renamed, so a reader never
sees half a record) with everything behind it: the decision, the recommendation and its reasons,
weights, the unit values file's content, economics inputs and results, the scorecard, the
comparison rows and the exact run ids. :func:`load_decision` gives back an equal record.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from simulation.decision.economics import DecideError, _json_safe
from simulation.decision.evaluate import DECISIONS, LABELS, Evaluation
from simulation.errors import StoreError

__all__ = [
    "DecisionRecord",
    "decision_html",
    "decisions_frame",
    "list_decisions",
    "load_decision",
    "make_record",
    "report_section",
    "save_decision",
]

DIR = "decisions"


class DecisionRecord(BaseModel):
    """One recorded decision and all that it rests on (JSON-safe)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    created: str
    scenario: str
    baseline: str
    candidate: str
    recommendation: str
    decision: str
    accepted: bool
    note: str
    evaluator: str
    run_ids: dict[str, list[str]]
    unit_values_file: str
    unit_values_digest: str
    unit_values: dict[str, Any]
    evaluation: dict[str, Any]
    provenance: dict[str, Any]

    @property
    def label(self) -> str:
        """The decision as people say it."""
        return LABELS[self.decision]


def make_record(
    ev: Evaluation,
    *,
    scenario: str,
    baseline: str,
    run_ids: dict[str, list[str]],
    accept: bool,
    override: str | None = None,
    note: str = "",
    evaluator: str = "",
    provenance: dict[str, Any] | None = None,
) -> DecisionRecord:
    """Build the record of accepting (``accept=True``) or overriding (``override=...``, note required)."""
    if accept == (override is not None):
        raise DecideError(
            "decision",
            "either accept the recommendation or override it, not both or neither",
            allowed="--accept | --override DECISION --note TEXT",
        )
    decision = ev.recommendation.decision
    if override is not None:
        value = override.replace("-", "_").replace(" ", "_")
        if value not in DECISIONS:
            raise DecideError("--override", "unknown decision", value=override, allowed=", ".join(DECISIONS))
        if not note.strip():
            raise DecideError("--note", "an override needs a note saying why", value=note, allowed="a non-empty text")
        decision = value
    created = time.strftime("%Y-%m-%dT%H:%M:%S")
    evaluation = ev.to_dict()
    uv = ev.unit_values.model_dump(mode="json", exclude={"source"})
    body = json.dumps([scenario, baseline, ev.candidate, decision, note, run_ids, evaluation], sort_keys=True)
    rid = f"{created.replace('-', '').replace(':', '')}-{hashlib.sha256(body.encode()).hexdigest()[:8]}"
    return DecisionRecord(
        id=rid,
        created=created,
        scenario=scenario,
        baseline=baseline,
        candidate=ev.candidate,
        recommendation=ev.recommendation.decision,
        decision=decision,
        accepted=override is None,
        note=note,
        evaluator=evaluator,
        run_ids={k: list(v) for k, v in run_ids.items()},
        unit_values_file=ev.unit_values.source,
        unit_values_digest=ev.unit_values.digest,
        unit_values=uv,
        evaluation=evaluation,
        provenance=_json_safe(provenance or {}),
    )


def save_decision(store: str | Path, record: DecisionRecord) -> Path:
    """Write ``STORE/decisions/<id>.json`` atomically; an id is written once."""
    folder = Path(store) / DIR
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{record.id}.json"
    if final.exists():
        raise StoreError(f"{folder}: decision {record.id!r} exists already; a decision is recorded once")
    tmp = folder / f".tmp-{record.id}-{uuid.uuid4().hex[:8]}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(record.model_dump_json(indent=1))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def load_decision(store: str | Path, decision_id: str) -> DecisionRecord:
    """Reopen a recorded decision exactly as it was written."""
    folder = Path(store) / DIR
    p = folder / f"{decision_id}.json"
    if not p.is_file() or "/" in decision_id:
        known = ", ".join(r.id for r in list_decisions(store)[-5:]) or "(none)"
        raise StoreError(f"{folder}: no decision {decision_id!r}; latest decisions: {known}")
    try:
        return DecisionRecord.model_validate_json(p.read_text(encoding="utf-8"))
    except (ValidationError, ValueError) as exc:
        raise StoreError(f"{p}: not a readable decision record ({str(exc).splitlines()[0]})") from None


def list_decisions(store: str | Path) -> list[DecisionRecord]:
    """Every recorded decision in the store, oldest first."""
    folder = Path(store) / DIR
    if not folder.is_dir():
        return []
    out = [load_decision(store, p.stem) for p in folder.glob("[!.]*.json")]
    return sorted(out, key=lambda r: (r.created, r.id))


def decisions_frame(store: str | Path) -> pd.DataFrame:
    """One row per decision: id, created, scenario, baseline, candidate, recommendation, decision, note."""
    cols = ["id", "created", "scenario", "baseline", "candidate", "recommendation", "decision", "accepted", "note"]
    return pd.DataFrame([{c: getattr(r, c) for c in cols} for r in list_decisions(store)], columns=cols)


# --------------------------------------------------------------------------- HTML for the report
_CSS = """<style>
.decide table{border-collapse:collapse;margin:.5em 0}.decide td,.decide th{border:1px solid #bbb;padding:3px 8px;
font-size:13px;vertical-align:top}.decide th{background:#eee}.decide .rec{font-size:18px;font-weight:bold}
.decide .small{font-size:11px;color:#555}@media print{.decide{page-break-inside:avoid}}</style>"""


def report_section(evaluation: dict[str, Any], record: DecisionRecord | None = None) -> tuple[str, str]:
    """``(heading, html)`` for ``simulation.results.report.render_report(..., extra_sections=[...])``."""
    heading = f"Scorecard and recommendation: {evaluation['candidate']}"
    return heading, decision_html(evaluation, record, heading=False)


def decision_html(evaluation: dict[str, Any], record: DecisionRecord | None = None, heading: bool = True) -> str:
    """A self-contained HTML section (scorecard, economics, scale-up, recommendation, decision) for the report.

    ``evaluation`` is :meth:`Evaluation.to_dict` (or a record's ``evaluation``).
    """
    e = html.escape
    ev = evaluation
    rec = ev["recommendation"]
    out = [
        _CSS,
        '<section class="decide">',
        f"<h2>Scorecard and recommendation: {e(str(ev['candidate']))}</h2>" if heading else "",
        f'<p class="rec">Recommendation: {e(rec["label"])} (weighted score {rec["total"]:.0f}/100)</p><ul>',
    ]
    out += [f"<li>{e(r)}</li>" for r in rec["reasons"]]
    out.append("</ul><table><tr><th>criterion</th><th>score</th><th>weight</th><th>evidence</th><th>rule</th></tr>")
    for c in ev["scorecard"]:
        mark = "" if c["assessed"] else " (not assessed)"
        out.append(
            f"<tr><td>{e(c['name'])}{mark}</td><td>{c['score']:.0f}</td><td>{c['weight']:.2f}</td>"
            f"<td>{'<br>'.join(e(d) for d in c['details'])}</td><td class='small'>{e(c['rule'])}</td></tr>"
        )
    out.append("</table>")
    if ev.get("weights_note"):
        out.append(f"<p class='small'>{e(ev['weights_note'])}</p>")
    flips = [s for s in ev["sensitivity"] if s["rank_changed"] or s["recommendation_changed"]]
    out.append(
        "<p>Weight sensitivity (each weight ±20%): "
        + (
            "; ".join(
                f"{e(s['criterion'])} ×{s['factor']}: "
                + ("ranking changes" if s["rank_changed"] else "recommendation changes")
                for s in flips
            )
            if flips
            else "ranking and recommendation stable"
        )
        + "</p>"
    )
    m = ev["economics"]

    def krw(v: Any) -> str:
        return "—" if v is None else f"{v / 1e6:,.1f}"

    out.append(
        "<h3>Economics (KRW million)</h3><table><tr><th>capex</th><th>opex / y</th><th>revenue / y</th>"
        "<th>benefit / y</th><th>NPV</th><th>90% range</th><th>P(NPV&gt;0)</th><th>BCR</th><th>payback</th></tr>"
        f"<tr><td>{krw(m['capex'])}</td><td>{krw(m['opex_per_year'])}</td><td>{krw(m['revenue_per_year'])}</td>"
        f"<td>{krw(m['benefit_per_year'])}</td><td>{krw(m['npv'])}</td>"
        f"<td>{krw(m['npv_p05'])} .. {krw(m['npv_p95'])}</td>"
        f"<td>{m['p_npv_positive']:.2f}</td><td>{'—' if m['bcr'] is None else f'{m["bcr"]:.2f}'}</td>"
        f"<td>{'—' if m['payback_years'] is None else f'{m["payback_years"]:.1f} y'}</td></tr></table>"
    )
    out.append(
        f"<p class='small'>{m['horizon_years']} years at {m['discount_rate']:.1%}; "
        f"{m['draws']} Monte-Carlo draws, seed {m['seed']}. " + e(" ".join(m["notes"])) + "</p>"
    )
    out.append(
        "<h3>Scale-up</h3><table><tr><th>scope</th><th>hardware units</th><th>poles to convert</th>"
        "<th>capex</th><th>benefit + revenue / y</th><th>NPV</th><th>budget line</th><th>capex share</th></tr>"
    )
    for r in ev["scale_up"]:
        share = "—" if r["capex_share_of_budget"] is None else f"{r['capex_share_of_budget']:.1%}"
        budget = f"{e(r['budget_line'])} ({krw(r['budget_krw'])})" if r["budget_line"] else "—"
        out.append(
            f"<tr><td>{e(r['scope'])}</td><td>{r['hardware_units']:,}</td><td>{r['poles_to_convert']:,}</td>"
            f"<td>{krw(r['capex'])}</td><td>{krw(r['benefit_per_year'] + r['revenue_per_year'])}</td>"
            f"<td>{krw(r['npv'])}</td><td>{budget}</td><td>{share}</td></tr>"
        )
    out.append("</table>")
    if record is not None:
        verb = "accepted" if record.accepted else f"overrode it with: {record.label}"
        out.append(
            f"<h3>Decision {e(record.id)}</h3><p>On {e(record.created)} the evaluator "
            f"{e(record.evaluator) + ' ' if record.evaluator else ''}{e(verb)}."
            + (f" Note: {e(record.note)}" if record.note else "")
            + "</p>"
        )
        runs = "; ".join(f"{e(k)}: {', '.join(e(x) for x in v)}" for k, v in record.run_ids.items())
        out.append(
            f"<p class='small'>Runs: {runs}. Unit values {e(record.unit_values_file)} "
            f"(digest {e(record.unit_values_digest)}).</p>"
        )
    out.append("</section>")
    return "\n".join(out)
