"""The decision record: the evaluator accepts or overrides a recommendation, with a note.

Stored as ``STORE/decisions/<id>.json`` (written to a temporary file and renamed, so a reader never
sees half a record) with everything behind it: the decision, the recommendation and its reasons,
weights, the unit values file's content, economics inputs and results, the scorecard, the
comparison rows and the exact run ids. :func:`load_decision` gives back an equal record.
"""

from __future__ import annotations

import hashlib
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
    "record_page",
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
    """One row per decision: id, created, scenario, baseline, candidate, recommendation, decision, evaluator, …"""
    cols = [
        "id",
        "created",
        "scenario",
        "baseline",
        "candidate",
        "recommendation",
        "decision",
        "accepted",
        "evaluator",
        "note",
    ]
    return pd.DataFrame([{c: getattr(r, c) for c in cols} for r in list_decisions(store)], columns=cols)


# --------------------------------------------------------------------------- HTML (in simulation.decision.html)
def report_section(evaluation: dict[str, Any], record: DecisionRecord | None = None) -> tuple[str, str]:
    """``(heading, html)`` for ``simulation.results.report.render_report(..., extra_sections=[...])``."""
    from simulation.decision.html import decision_html

    heading = f"Scorecard and recommendation: {evaluation['candidate']}"
    return heading, decision_html(evaluation, record, heading=False)


def decision_html(
    evaluation: dict[str, Any], record: DecisionRecord | None = None, heading: bool = True, svg_as_img: bool = False
) -> str:
    """A self-contained HTML section for the report (see :func:`simulation.decision.html.decision_html`)."""
    from simulation.decision.html import decision_html as _html

    return _html(evaluation, record, heading, svg_as_img)


def record_page(record: DecisionRecord) -> str:
    """A recorded decision as a whole, self-contained HTML document (printable to PDF)."""
    from simulation.decision.html import record_page as _page

    return _page(record)
