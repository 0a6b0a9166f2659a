"""From evidence to a recommendation: the scorecard, evaluator weights, sensitivity, and the rules.

Seven criteria, each scored 0-100 by a rule written next to it (``RULES``), mirror CITYkeys'
with-project vs without-project comparison (people, planet, prosperity, governance, propagation):

effectiveness, economics, scalability, reliability (under faults), infrastructure (burden and
conflicts), privacy, readiness (TRL; public procurement designates from TRL 7).

The weighted total, a few hard conditions and thresholds (``Rules``) give the recommendation:
commercialise, extend pilot or stop, with the reasons that drove it. The decision record that the
evaluator accepts or overrides lives in :mod:`simulation.decision.record`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from simulation.config._yaml import read_yaml
from simulation.decision.economics import (
    DecideError,
    DistrictFigures,
    EconomicsInputs,
    EconomicsResult,
    ScaleRow,
    ServiceCosts,
    UnitValues,
    _json_safe,
    candidate_rows,
    economics,
    scale_up,
)

__all__ = [
    "CRITERIA",
    "DECISIONS",
    "DEFAULT_WEIGHTS",
    "RULES",
    "Criterion",
    "Evaluation",
    "InfraUsage",
    "Recommendation",
    "Rules",
    "Scorecard",
    "check_weights",
    "evaluate",
    "parse_weights",
    "recommend",
    "score",
    "sensitivity",
]

CRITERIA = ("effectiveness", "economics", "scalability", "reliability", "infrastructure", "privacy", "readiness")
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "effectiveness": 0.25,
    "economics": 0.20,
    "scalability": 0.15,
    "reliability": 0.10,
    "infrastructure": 0.10,
    "privacy": 0.10,
    "readiness": 0.10,
}
DECISIONS = ("commercialise", "extend_pilot", "stop")
LABELS = {"commercialise": "commercialise", "extend_pilot": "extend pilot", "stop": "stop"}
TRL_SCORE = {1: 0, 2: 5, 3: 10, 4: 15, 5: 25, 6: 45, 7: 70, 8: 85, 9: 100}
PERSONAL_FEEDS = ("cctv.detections", "lights.presence")
SENSITIVITY = (0.8, 1.2)

RULES: Mapping[str, str] = {
    "effectiveness": "KPIs with a direction (privacy.* excluded) whose change is significant: each weighs "
    "min(1, |relative change| / 10%); score = 50 + 50 × (better - worse) / max(1, better + worse). "
    "No significant change scores 50.",
    "economics": "100 × (0.6 × P(NPV > 0) + 0.4 × min(1, BCR / 2)); no costs and a positive benefit count as BCR ≥ 2.",
    "scalability": "At 15 pilot districts: 100 × (0.5 × min(1, BCR / 2) + 0.3 × share of hardware that fits existing "
    "poles + 0.2 × pace), pace = 1 if city-wide pole conversions take ≤ 1 year at the natural "
    "replacement rate, 0 at ≥ 10 years.",
    "reliability": "Share of each significant clean improvement kept under faults (mean, capped 0-1) × 100, "
    "-15 per KPI significantly worse only under faults, -60 × share of runs where the service failed, "
    "-20 × share where it was degraded. Without a fault comparison: 50 (not assessed) less the penalties.",
    "infrastructure": "100 × (1 - largest share of the district's free pole slots, power headroom or trunk backhaul "
    "the hardware takes), -40 × share of installs rejected, -15 per significantly worse KPI in a "
    "domain the service does not serve (a conflict with other services).",
    "privacy": "80 - 100 × relative change in camera-minutes viewed (bounded -20..+50), - 100 × share of people "
    "present tracked (at most 40), - 5 per personal-data feed (CCTV detections, WiFi presence).",
    "readiness": "Claimed TRL: 1-4 → 0-15, 5 → 25, 6 → 45, 7 → 70, 8 → 85, 9 → 100 "
    "(procurement designates from TRL 7).",
}


def _clip(x: float, lo: float = 0.0, hi: float = 100.0) -> float:
    return max(lo, min(hi, x))


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


# --------------------------------------------------------------------------- evidence
@dataclass(frozen=True)
class InfraUsage:
    """What the service's hardware takes of the district's shared capacity, and how installs went."""

    slots_needed: float = 0.0
    slots_free: float = 0.0
    power_w_needed: float = 0.0
    power_headroom_w: float = 0.0
    bandwidth_mbps_needed: float = 0.0
    backhaul_mbps: float = 0.0
    installs_claimed: float = 0.0
    installs_done: float = 0.0

    @classmethod
    def from_district(cls, d: Any, costs: ServiceCosts, installs_done: float | None = None) -> InfraUsage:
        """Needs from the manifest's hardware against a loaded district's free capacity."""
        cat = d.catalogue.modules
        claimed = sum(h.units for h in costs.hardware)
        return cls(
            slots_needed=sum(
                h.units * (h.slots or (cat[h.module].slots if h.module in cat else 0)) for h in costs.hardware
            ),
            slots_free=sum(p.free_slots for p in d.poles),
            power_w_needed=sum(
                h.units * (h.power_w or (cat[h.module].power_w if h.module in cat else 0)) for h in costs.hardware
            ),
            power_headroom_w=sum(p.power_budget_w - p.base_power_w for p in d.poles),
            bandwidth_mbps_needed=sum(h.units * h.bandwidth_mbps for h in costs.hardware),
            backhaul_mbps=sum(lk.capacity_mbps for lk in d.links if lk.level == "trunk"),
            installs_claimed=claimed,
            installs_done=claimed if installs_done is None else installs_done,
        )


@dataclass(frozen=True)
class Criterion:
    """One criterion's score (0-100), whether evidence allowed it to be assessed, and why."""

    name: str
    score: float
    assessed: bool
    rule: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scorecard:
    """A candidate's seven criteria and the facts the recommendation rules read."""

    candidate: str
    criteria: tuple[Criterion, ...]
    facts: Mapping[str, Any] = field(default_factory=dict)

    def score_of(self, name: str) -> float:
        """The score of one criterion."""
        return next(c.score for c in self.criteria if c.name == name)

    def total(self, weights: Mapping[str, float]) -> float:
        """Weighted total with normalised weights."""
        return sum(weights[c.name] * c.score for c in self.criteria)


def _directional(rows: pd.DataFrame) -> pd.DataFrame:
    keep = rows["better"].isin(["higher", "lower"]) & ~rows.index.str.startswith("privacy.")
    r = rows[keep].copy()
    r["improvement"] = [
        float(d) if b == "higher" else -float(d) for d, b in zip(r["diff_mean"], r["better"], strict=True)
    ]
    return r[r["improvement"].map(math.isfinite)]


def _sig(rows: pd.DataFrame, better: bool) -> list[str]:
    r = _directional(rows)
    mask = r["significant"].astype(bool) & ((r["improvement"] > 0) if better else (r["improvement"] < 0))
    return list(r.index[mask])


def _effectiveness(rows: pd.DataFrame) -> Criterion:
    r = _directional(rows)
    b = w = 0.0
    details = []
    for k, row in r[r["significant"].astype(bool)].iterrows():
        base = abs(float(row["baseline_mean"]))
        rel = abs(float(row["diff_mean"])) / base if base > 0 else 1.0
        weight = min(1.0, rel / 0.10)
        if row["improvement"] > 0:
            b += weight
        elif row["improvement"] < 0:
            w += weight
        details.append(
            f"{k}: {'better' if row['improvement'] > 0 else 'worse'} by {rel:.1%} "
            f"({float(row['diff_mean']):+.3g} {row['unit']}, "
            f"95% CI {float(row['ci_low']):.3g}..{float(row['ci_high']):.3g})"
        )
    if not details:
        details.append("no KPI changed significantly")
    return Criterion(
        "effectiveness", _clip(50 + 50 * (b - w) / max(1.0, b + w)), True, RULES["effectiveness"], tuple(details)
    )


def _economics(e: EconomicsResult) -> Criterion:
    ratio = e.bcr if e.bcr is not None else (2.0 if e.pv_benefits > 0 else 0.0)
    s = 100 * (0.6 * e.p_npv_positive + 0.4 * min(1.0, max(0.0, ratio) / 2))
    bcr_txt = "n/a (no costs)" if e.bcr is None else f"{e.bcr:.2f}"
    details = (
        f"NPV KRW {e.npv / 1e6:,.1f} M (90% range {e.npv_p05 / 1e6:,.1f} .. {e.npv_p95 / 1e6:,.1f} M) over "
        f"{e.horizon_years} y at {e.discount_rate:.1%}",
        f"P(NPV > 0) = {e.p_npv_positive:.2f}; BCR {bcr_txt}",
        "payback " + (f"{e.payback_years:.1f} y" if e.payback_years is not None else "not within the horizon"),
    )
    return Criterion("economics", _clip(s), True, RULES["economics"], details)


def _scalability(scale: Sequence[ScaleRow]) -> Criterion:
    r15 = next(r for r in scale if r.scope.startswith("15 "))
    city = scale[-1]
    ratio = r15.bcr if r15.bcr is not None else (2.0 if r15.benefit_per_year + r15.revenue_per_year > 0 else 0.0)
    fits = 1 - r15.poles_to_convert / r15.hardware_units if r15.hardware_units else 1.0
    pace = _clip((10 - city.conversion_years) / 9, 0, 1)
    s = 100 * (0.5 * min(1.0, max(0.0, ratio) / 2) + 0.3 * fits + 0.2 * pace)
    details = (
        f"15 pilot districts: NPV KRW {r15.npv / 1e6:,.0f} M, BCR {'n/a' if r15.bcr is None else f'{r15.bcr:.2f}'}, "
        f"{r15.poles_to_convert} of {r15.hardware_units} units need pole conversions",
        f"city-wide: {city.poles_to_convert:,} pole conversions ≈ "
        f"{city.conversion_years:.1f} years at the natural rate",
    )
    return Criterion("scalability", _clip(s), True, RULES["scalability"], details)


def _reliability(rows: pd.DataFrame, fault_rows: pd.DataFrame | None, statuses: Mapping[str, int]) -> Criterion:
    runs = sum(statuses.values())
    failed = statuses.get("failed", 0) / runs if runs else 0.0
    degraded = statuses.get("degraded", 0) / runs if runs else 0.0
    penalty = 60 * failed + 20 * degraded
    details = (
        [f"service status over {runs} runs: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))]
        if runs
        else []
    )
    if fault_rows is None:
        details.insert(0, "not assessed under faults (no fault comparison): neutral 50")
        return Criterion("reliability", _clip(50 - penalty), False, RULES["reliability"], tuple(details))
    clean = _directional(rows)
    faulted = _directional(fault_rows)
    better = [k for k in _sig(rows, True) if k in faulted.index]
    kept = [_clip(faulted.loc[k, "improvement"] / clean.loc[k, "improvement"], 0, 1) for k in better]
    base = 100 * (sum(kept) / len(kept)) if kept else 100.0
    new_harm = [k for k in _sig(fault_rows, False) if k not in _sig(rows, False)]
    details[:0] = [
        f"{k}: {x:.0%} of the clean improvement kept under faults" for k, x in zip(better, kept, strict=True)
    ]
    details += [f"{k}: significantly worse only under faults" for k in new_harm]
    return Criterion(
        "reliability", _clip(base - 15 * len(new_harm) - penalty), True, RULES["reliability"], tuple(details)
    )


def _infrastructure(rows: pd.DataFrame, u: InfraUsage, serves: set[str]) -> Criterion:
    def share(need: float, have: float) -> float:
        return 0.0 if need <= 0 else (need / have if have > 0 else 1.0)

    parts = {
        "pole slots": share(u.slots_needed, u.slots_free),
        "power headroom": share(u.power_w_needed, u.power_headroom_w),
        "trunk backhaul": share(u.bandwidth_mbps_needed, u.backhaul_mbps),
    }
    worst = max(parts, key=lambda k: parts[k])
    rejected = 1 - u.installs_done / u.installs_claimed if u.installs_claimed else 0.0
    conflicts = [k for k in _sig(rows, False) if k.split(".", 1)[0] not in serves]
    s = 100 * (1 - min(1.0, parts[worst])) - 40 * max(0.0, rejected) - 15 * len(conflicts)
    details = [", ".join(f"{k} {v:.1%}" for k, v in parts.items()) + " of the district's free capacity"]
    if u.installs_claimed:
        details.append(f"installs: {u.installs_done:g} of {u.installs_claimed:g} accepted")
    details += [f"conflict: {k} significantly worse (a domain the service does not serve)" for k in conflicts]
    return Criterion("infrastructure", _clip(s), True, RULES["infrastructure"], tuple(details))


def _privacy(rows: pd.DataFrame, feeds: Sequence[str], population: float | None) -> Criterion:
    s, details, assessed = 80.0, [], True
    cam = "privacy.camera_minutes_viewed"
    if cam in rows.index:
        base, diff = float(rows.loc[cam, "baseline_mean"]), float(rows.loc[cam, "diff_mean"])
        rel = diff / base if base > 0 else (1.0 if diff > 0 else 0.0)
        rel = rel if math.isfinite(rel) else 0.0
        s -= _clip(100 * rel, -20, 50)
        details.append(f"camera-minutes viewed {rel:+.1%} ({diff:+,.0f} camera-min per run)")
    else:
        assessed = False
        details.append("camera-minutes viewed not measured")
    tracked = "privacy.tracked_citizens"
    if tracked in rows.index and population:
        share = float(rows.loc[tracked, "candidate_mean"]) / population
        share = share if math.isfinite(share) else 0.0
        s -= min(40.0, 100 * share)
        details.append(f"tracked citizens: {share:.1%} of people present")
    else:
        details.append("tracked citizens not measured")
    personal = [f for f in feeds if f in PERSONAL_FEEDS]
    s -= 5 * len(personal)
    if personal:
        details.append("personal-data feeds: " + ", ".join(personal))
    return Criterion("privacy", _clip(s), assessed, RULES["privacy"], tuple(details))


def _readiness(trl: int | None) -> Criterion:
    if trl is None:
        return Criterion("readiness", 0.0, False, RULES["readiness"], ("no TRL claimed",))
    note = (
        "eligible for innovative-prototype procurement (TRL ≥ 7)"
        if trl >= 7
        else "below TRL 7: procurement cannot designate it yet"
    )
    return Criterion("readiness", float(TRL_SCORE[trl]), True, RULES["readiness"], (f"claimed TRL {trl}: {note}",))


def score(
    rows: pd.DataFrame,
    costs: ServiceCosts,
    econ: EconomicsResult,
    scale: Sequence[ScaleRow],
    *,
    fault_rows: pd.DataFrame | None = None,
    statuses: Mapping[str, int] | None = None,
    infra: InfraUsage | None = None,
    population: float | None = None,
    candidate: str = "",
) -> Scorecard:
    """Score the seven criteria for one candidate from its comparison rows, economics and scale-up."""
    statuses = dict(statuses or {})
    runs = sum(statuses.values())
    crit = (
        _effectiveness(rows),
        _economics(econ),
        _scalability(scale),
        _reliability(rows, fault_rows, statuses),
        _infrastructure(rows, infra or InfraUsage(), costs.domains),
        _privacy(rows, costs.feeds, population),
        _readiness(costs.trl),
    )
    facts = {
        "better": _sig(rows, True),
        "worse": _sig(rows, False),
        "worse_safety": [k for k in _sig(rows, False) if k.startswith("safety.")],
        "p_npv_positive": econ.p_npv_positive,
        "trl": costs.trl,
        "failed_share": statuses.get("failed", 0) / runs if runs else 0.0,
    }
    return Scorecard(candidate or costs.name, crit, facts)


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
    """The recommendation, its weighted total and the reasons that drove it."""

    decision: str
    total: float
    reasons: tuple[str, ...]

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
    stop = []
    if total < rules.stop_total:
        stop.append(f"weighted score {total:.0f} < {rules.stop_total:.0f}")
    if p < rules.stop_p_npv:
        stop.append(f"P(NPV > 0) = {p:.2f} < {rules.stop_p_npv}")
    if not f["better"] and p < rules.stop_p_npv_no_effect:
        stop.append(f"no KPI improved significantly and P(NPV > 0) = {p:.2f} < {rules.stop_p_npv_no_effect}")
    if f["failed_share"] >= rules.stop_failed_share:
        stop.append(f"the service failed in {f['failed_share']:.0%} of its runs")
    if stop:
        return Recommendation("stop", total, tuple(stop))
    unmet: list[str] = []
    met: list[str] = []
    checks = [
        (
            trl is not None and trl >= rules.min_trl,
            f"TRL {trl} ≥ {rules.min_trl} (procurement designates from TRL 7)",
            f"TRL {trl if trl is not None else 'not claimed'} < {rules.min_trl}: "
            "procurement designates only from TRL 7",
        ),
        (
            p >= rules.min_p_npv,
            f"P(NPV > 0) = {p:.2f} ≥ {rules.min_p_npv}",
            f"P(NPV > 0) = {p:.2f} < {rules.min_p_npv}",
        ),
        (
            bool(f["better"]),
            f"significantly better: {', '.join(f['better'])}" if f["better"] else "",
            "no KPI improved significantly",
        ),
        (
            not f["worse_safety"],
            "no safety KPI significantly worse",
            f"safety KPI significantly worse: {', '.join(f['worse_safety'])}",
        ),
        (
            f["failed_share"] == 0,
            "the service never failed",
            f"the service failed in {f['failed_share']:.0%} of its runs",
        ),
        (
            total >= rules.min_total,
            f"weighted score {total:.0f} ≥ {rules.min_total:.0f}",
            f"weighted score {total:.0f} < {rules.min_total:.0f}",
        ),
    ]
    for ok, yes, no in checks:
        (met if ok else unmet).append(yes if ok else no)
    if not unmet:
        return Recommendation("commercialise", total, tuple(met))
    return Recommendation("extend_pilot", total, tuple(unmet))


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
                },
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
) -> Evaluation:
    """Economics, scale-up, scorecard, recommendation and weight sensitivity for one candidate.

    ``others`` are scorecards of competing candidates, ranked against this one in the sensitivity view.
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
    return Evaluation(name, rows, costs, econ, scale, card, w, note, rec, sens, inputs, unit_values)
