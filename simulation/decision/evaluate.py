"""From evidence to a recommendation: evaluator weights, the rules and their gates, sensitivity, the chain.

The scorecard's seven criteria live in :mod:`.scorecard`. The weighted total, a few hard conditions
(gates: TRL, reliability, safety, P(NPV > 0)) and thresholds (``Rules``) give the recommendation:
commercialise, extend pilot or stop, with the reasons that drove it. The tornado over assumptions
is :mod:`.tornado`; the decision record that the evaluator accepts or overrides is :mod:`.record`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from simulation.config._yaml import read_yaml
from simulation.decision.cashflow import EconomicsInputs, _json_safe, krw
from simulation.decision.costs import ServiceCosts
from simulation.decision.economics import EconomicsResult, candidate_rows, economics
from simulation.decision.scaleup import DistrictFigures, ScaleRow, scale_up
from simulation.decision.scorecard import (
    CRITERIA,
    DECISIONS,
    DEFAULT_WEIGHTS,
    LABELS,
    RULES,
    SENSITIVITY,
    Criterion,
    InfraUsage,
    Scorecard,
    rescore,
    score,
)
from simulation.decision.tornado import assumptions, flip_points, tornado
from simulation.decision.unit_values import UnitValues
from simulation.errors import DecideError
from simulation.stats import MIN_PAIRS, chance_findings

__all__ = [
    "CRITERIA",
    "DECISIONS",
    "DEFAULT_WEIGHTS",
    "LABELS",
    "RULES",
    "Criterion",
    "Evaluation",
    "InfraUsage",
    "Recommendation",
    "Rules",
    "Scorecard",
    "chain",
    "check_weights",
    "evaluate",
    "parse_weights",
    "recommend",
    "score",
    "sensitivity",
]


# --------------------------------------------------------------------------- weights
def check_weights(weights: Mapping[str, Any] | None, source: str = "weights") -> tuple[dict[str, float], str | None]:
    """Validate evaluator weights; unnamed criteria keep their defaults; normalise to sum 1 with a note."""
    merged: dict[str, float] = dict(DEFAULT_WEIGHTS)
    for k, v in (weights or {}).items():
        if k not in CRITERIA:
            raise DecideError(source, "unknown criterion", key=str(k), value=k, allowed=", ".join(CRITERIA))
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise DecideError(source, "a weight must be a finite number", key=str(k), value=v, allowed="numbers >= 0")
        if v < 0:
            raise DecideError(source, "a weight must not be negative", key=str(k), value=v, allowed="numbers >= 0")
        merged[k] = float(v)
    total = sum(merged.values())
    if total <= 0:
        raise DecideError(
            source, "at least one weight must be > 0", value=dict(weights or {}), allowed="weights >= 0, not all 0"
        )
    note = None
    if abs(total - 1) > 1e-9:
        note = f"weights summed to {total:g}; normalised to sum to 1"
    return {k: merged[k] / total for k in CRITERIA}, note


def parse_weights(spec: str | None) -> dict[str, float]:
    """``--weights``: a YAML/JSON file of criterion: weight, or ``k=v,k=v``."""
    if not spec:
        return {}
    p = Path(spec)
    if p.is_file():
        data = read_yaml(p, DecideError)
        if not isinstance(data, dict):
            raise DecideError(p, "must be a mapping of criterion: weight", value=data, allowed=", ".join(CRITERIA))
        return data
    out: dict[str, float] = {}
    for part in spec.split(","):
        k, sep, v = part.partition("=")
        if not sep or not k.strip():
            raise DecideError(
                "--weights",
                "expected a file or criterion=weight pairs like economics=0.3,privacy=0.2",
                value=spec,
                allowed=", ".join(CRITERIA),
            )
        try:
            out[k.strip()] = float(v)
        except ValueError:
            raise DecideError("--weights", "a weight must be a number", key=k.strip(), value=v.strip()) from None
    return out


# --------------------------------------------------------------------------- recommendation
@dataclass(frozen=True)
class Rules:
    """Thresholds of the recommendation (documented in :func:`recommend`)."""

    min_trl: int = 7
    min_p_npv: float = 0.8
    min_total: float = 60.0
    stop_total: float = 40.0
    stop_p_npv: float = 0.1
    stop_p_npv_no_effect: float = 0.5
    stop_failed_share: float = 0.5


@dataclass(frozen=True)
class Recommendation:
    """The recommendation, its weighted total, the reasons that drove it and every gate it passed or failed."""

    decision: str
    total: float
    reasons: tuple[str, ...]
    gates: tuple[dict[str, Any], ...] = ()

    @property
    def label(self) -> str:
        """``commercialise``, ``extend pilot`` or ``stop``."""
        return LABELS[self.decision]


def recommend(card: Scorecard, weights: Mapping[str, float], rules: Rules = Rules()) -> Recommendation:
    """Commercialise, extend pilot or stop.

    Stop if the weighted total is below ``stop_total``, or P(NPV > 0) is below ``stop_p_npv``, or
    no KPI improved significantly and P(NPV > 0) is below ``stop_p_npv_no_effect``, or the service
    failed in at least ``stop_failed_share`` of its runs. Commercialise only if the claimed TRL is
    at least 7 (public procurement designates from TRL 7), P(NPV > 0) ≥ 0.8, some KPI improved
    significantly, no safety KPI got significantly worse, the service never failed, and the total
    is at least 60. Otherwise extend the pilot; the unmet conditions are what it must show.
    """
    total = card.total(weights)
    f = card.facts
    p, trl = float(f["p_npv_positive"]), f["trl"]
    stops = [
        (
            "weighted score",
            total < rules.stop_total,
            f"weighted score {total:.0f} < {rules.stop_total:.0f}",
            f"weighted score {total:.0f} ≥ {rules.stop_total:.0f}",
        ),
        (
            "money",
            p < rules.stop_p_npv,
            f"P(NPV > 0) = {p:.2f} < {rules.stop_p_npv}",
            f"P(NPV > 0) = {p:.2f} ≥ {rules.stop_p_npv}",
        ),
        (
            "effect and money",
            not f["better"] and p < rules.stop_p_npv_no_effect,
            f"no KPI improved significantly and P(NPV > 0) = {p:.2f} < {rules.stop_p_npv_no_effect}",
            "some KPI improved significantly"
            if f["better"]
            else f"P(NPV > 0) = {p:.2f} ≥ {rules.stop_p_npv_no_effect} without a significant improvement",
        ),
        (
            "reliability",
            f["failed_share"] >= rules.stop_failed_share,
            f"the service failed in {f['failed_share']:.0%} of its runs",
            f"the service failed in {f['failed_share']:.0%} of its runs (< {rules.stop_failed_share:.0%})",
        ),
    ]
    checks = [
        (
            "readiness (TRL)",
            trl is not None and trl >= rules.min_trl,
            f"TRL {trl} ≥ {rules.min_trl} (procurement designates from TRL 7)",
            f"TRL {trl if trl is not None else 'not claimed'} < {rules.min_trl}: "
            "procurement designates only from TRL 7",
        ),
        (
            "money",
            p >= rules.min_p_npv,
            f"P(NPV > 0) = {p:.2f} ≥ {rules.min_p_npv}",
            f"P(NPV > 0) = {p:.2f} < {rules.min_p_npv}",
        ),
        (
            "effect",
            bool(f["better"]),
            f"significantly better: {', '.join(f['better'])}" if f["better"] else "",
            "no KPI improved significantly",
        ),
        (
            "safety",
            not f["worse_safety"],
            "no safety KPI significantly worse",
            f"safety KPI significantly worse: {', '.join(f['worse_safety'])}",
        ),
        (
            "reliability",
            f["failed_share"] == 0,
            "the service never failed",
            f"the service failed in {f['failed_share']:.0%} of its runs",
        ),
        (
            "weighted score",
            total >= rules.min_total,
            f"weighted score {total:.0f} ≥ {rules.min_total:.0f}",
            f"weighted score {total:.0f} < {rules.min_total:.0f}",
        ),
    ]
    gates = [
        {"gate": g, "kind": "stop", "passed": not hit, "text": f"stop if {g}: " + (yes if hit else f"{no}, no stop")}
        for g, hit, yes, no in stops
    ]
    gates += [
        {"gate": g, "kind": "commercialise", "passed": ok, "text": yes if ok else no} for g, ok, yes, no in checks
    ]
    stop = [t for _, hit, t, _ in stops if hit]
    if stop:
        return Recommendation("stop", total, tuple(stop), tuple(gates))
    unmet = [no for _, ok, _, no in checks if not ok]
    if not unmet:
        return Recommendation("commercialise", total, tuple(yes for _, _, yes, _ in checks), tuple(gates))
    return Recommendation("extend_pilot", total, tuple(unmet), tuple(gates))


def sensitivity(
    cards: Sequence[Scorecard], weights: Mapping[str, float], rules: Rules = Rules()
) -> list[dict[str, Any]]:
    """Each weight × 0.8 and × 1.2 (renormalised): does the ranking or a recommendation change?"""

    def ranking(w: Mapping[str, float]) -> list[str]:
        return [c.candidate for c in sorted(cards, key=lambda c: (-round(c.total(w), 9), c.candidate))]

    base_rank = ranking(weights)
    base_rec = {c.candidate: recommend(c, weights, rules).decision for c in cards}
    out = []
    for name in CRITERIA:
        for factor in SENSITIVITY:
            w = dict(weights)
            w[name] *= factor
            tot = sum(w.values())
            w = {k: v / tot for k, v in w.items()}
            rank = ranking(w)
            recs = {c.candidate: recommend(c, w, rules).decision for c in cards}
            out.append(
                {
                    "criterion": name,
                    "factor": factor,
                    "ranking": rank,
                    "rank_changed": rank != base_rank,
                    "totals": {c.candidate: c.total(w) for c in cards},
                    "recommendations": recs,
                    "recommendation_changed": recs != base_rec,
                }
            )
    return out


# --------------------------------------------------------------------------- the chain
def chain(
    rows: pd.DataFrame, econ: EconomicsResult, card: Scorecard, weights: Mapping[str, float], rec: Recommendation
) -> list[dict[str, Any]]:
    """The recommendation as a chain: KPI effect (CI) → money (range) → criteria → weighted score → gates → verdict."""
    effects = []
    monetised = {ln.kpi for ln in econ.lines}
    for kpi, r in rows.iterrows():
        if r["better"] not in ("higher", "lower"):
            continue
        if not (bool(r["significant"]) or kpi in monetised):
            continue
        lo, hi = float(r["ci_low"]), float(r["ci_high"])
        ci = f"[{lo:+.3g}, {hi:+.3g}]" if math.isfinite(lo) else "[—]"
        effects.append(
            f"{kpi}: {float(r['diff_mean']):+.3g} {r['unit']} a run, 95% CI {ci}, "
            f"{r['verdict']} ({int(r['n_pairs'])} pairs)"
        )
    if not effects:
        effects.append("no KPI changed significantly and none is monetised")
    directional = rows[rows["better"].isin(["higher", "lower"])]
    pairs = int(directional["n_pairs"].max()) if len(directional) else 0
    if pairs < MIN_PAIRS:
        effects.append(f"{pairs} pairs: too few for any verdict (at least {MIN_PAIRS})")
    else:
        tested = int((directional["n_pairs"] >= MIN_PAIRS).sum())
        holm = "p_adjusted" in rows and bool((rows["p_adjusted"].fillna(0) != rows["p_value"].fillna(0)).any())
        effects.append(
            f"{tested} KPIs tested at 5% on {pairs} pairs: "
            + (
                f"Holm-corrected, at most {chance_findings(tested, 0.05, True):.2f} chance findings"
                if holm
                else f"about {chance_findings(tested):.1f} would look significant by chance alone"
            )
        )
    money = [
        f"{ln.kpi} → {ln.value}: expected {krw(ln.krw_per_year)} a year (90% range {krw(ln.krw_p05, False)} to "
        f"{krw(ln.krw_p95, False)} M; counted {ln.counted})"
        for ln in econ.lines
    ]
    money += [f"revenue, {r['source']}: {krw(r['krw_per_year'])} a year ({r['how']})" for r in econ.revenue_lines]
    money.append(
        f"capex {krw(econ.capex)} ({'; '.join(econ.capex_sources)}); opex {krw(econ.opex_per_year)} a year "
        f"({econ.opex_source})"
    )
    money.append(
        f"expected NPV {krw(econ.npv)} (90% range {krw(econ.npv_p05, False)} to {krw(econ.npv_p95, False)} M), "
        f"P(NPV > 0) = {econ.p_npv_positive:.2f}; {econ.bcr_note}"
    )
    if econ.not_monetised:
        money.append("not monetised: " + ", ".join(x["kpi"] for x in econ.not_monetised))
    scores = [f"{c.name}: {c.score:.0f}/100" + ("" if c.assessed else " (not assessed)") for c in card.criteria]
    weighted = " + ".join(f"{weights[c.name]:.2f} × {c.score:.0f}" for c in card.criteria)
    gates = [("✓ " if g["passed"] else "✗ ") + g["text"] for g in rec.gates]
    return [
        {"step": "KPI effect (95% CI)", "lines": effects},
        {"step": "money (90% range)", "lines": money},
        {"step": "criterion scores", "lines": scores},
        {"step": "weighted score", "lines": [f"{weighted} = {rec.total:.1f}"]},
        {"step": "gates", "lines": gates},
        {"step": "verdict", "lines": [f"{rec.label}: " + "; ".join(rec.reasons)]},
    ]


# --------------------------------------------------------------------------- the whole evaluation
@dataclass(frozen=True)
class Evaluation:
    """Everything behind one candidate's recommendation, ready to show or record."""

    candidate: str
    rows: pd.DataFrame
    costs: ServiceCosts
    economics: EconomicsResult
    scale: tuple[ScaleRow, ...]
    scorecard: Scorecard
    weights: Mapping[str, float]
    weights_note: str | None
    recommendation: Recommendation
    sensitivity: tuple[dict[str, Any], ...]
    inputs: EconomicsInputs
    unit_values: UnitValues
    tornado: tuple[dict[str, Any], ...] = ()
    flips: tuple[dict[str, Any], ...] = ()
    chain: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe data of the whole evaluation (what the record stores and ``--json`` prints)."""
        rows = self.rows.reset_index()
        return _json_safe(
            {
                "candidate": self.candidate,
                "recommendation": {
                    "decision": self.recommendation.decision,
                    "label": self.recommendation.label,
                    "total": self.recommendation.total,
                    "reasons": list(self.recommendation.reasons),
                    "gates": list(self.recommendation.gates),
                },
                "chain": list(self.chain),
                "tornado": list(self.tornado),
                "flips": list(self.flips),
                "scorecard": [asdict(c) | {"weight": self.weights[c.name]} for c in self.scorecard.criteria],
                "facts": dict(self.scorecard.facts),
                "weights": dict(self.weights),
                "weights_note": self.weights_note,
                "sensitivity": list(self.sensitivity),
                "economics": self.economics.to_dict(),
                "scale_up": [asdict(r) for r in self.scale],
                "costs": asdict(self.costs),
                "inputs": self.inputs.model_dump(mode="json"),
                "comparison": rows.astype(object).where(rows.notna(), None).to_dict(orient="records"),
            }
        )


def evaluate(
    table: pd.DataFrame,
    costs: ServiceCosts,
    unit_values: UnitValues,
    inputs: EconomicsInputs,
    *,
    candidate: str | None = None,
    weights: Mapping[str, Any] | None = None,
    pilot: DistrictFigures | None = None,
    peers: Sequence[DistrictFigures] = (),
    fault_table: pd.DataFrame | None = None,
    statuses: Mapping[str, int] | None = None,
    infra: InfraUsage | None = None,
    population: float | None = None,
    others: Sequence[Scorecard] = (),
    rules: Rules = Rules(),
    source: str = "comparison",
    assumptions_check: bool = True,
) -> Evaluation:
    """Economics, scale-up, scorecard, recommendation, weight sensitivity, tornado and chain for one candidate.

    ``others`` are scorecards of competing candidates, ranked against this one in the sensitivity view.
    ``assumptions_check=False`` skips the tornado and flip search (they re-evaluate a few hundred times).
    """
    w, note = check_weights(weights)
    rows = candidate_rows(table, candidate, source)
    name = candidate or str(rows["candidate"].iloc[0])
    fault_rows = None
    if fault_table is not None:  # the faulted candidate may carry another label (e.g. "name (faults)")
        labels = set(fault_table["candidate"].astype(str)) if "candidate" in fault_table else set()
        fault_rows = candidate_rows(fault_table, name if name in labels else None, f"{source} (faults)")
    econ = economics(rows, costs, unit_values, inputs)
    pilot = pilot or DistrictFigures("pilot", 1, 1, 1, 1, 1, 1)
    peers = list(peers)
    scale = tuple(scale_up(pilot, peers, costs, econ, unit_values, inputs))
    card = score(
        rows,
        costs,
        econ,
        scale,
        fault_rows=fault_rows,
        statuses=statuses,
        infra=infra,
        population=population,
        candidate=name,
    )
    rec = recommend(card, w, rules)
    sens = tuple(sensitivity([card, *others], w, rules))
    bars: list[dict[str, Any]] = []
    flips: list[dict[str, Any]] = []
    if assumptions_check:

        def assess(uv: UnitValues, c: ServiceCosts, inp: EconomicsInputs) -> tuple[float, str]:
            e = economics(rows, c, uv, inp)
            s = scale_up(pilot, peers, c, e, uv, inp)
            return e.npv, recommend(rescore(card, e, s), w, rules).decision

        items = assumptions(unit_values, costs, inputs, [ln.value for ln in econ.lines])
        bars = tornado(assess, items, rec.decision)
        flips = flip_points(assess, items, rec.decision, LABELS)
    steps = chain(rows, econ, card, w, rec)
    return Evaluation(
        name,
        rows,
        costs,
        econ,
        scale,
        card,
        w,
        note,
        rec,
        sens,
        inputs,
        unit_values,
        tuple(bars),
        tuple(flips),
        tuple(steps),
    )
