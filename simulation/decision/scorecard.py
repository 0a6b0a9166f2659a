"""The scorecard: seven criteria, each scored 0-100 by a rule written next to it (``RULES``).

They mirror CITYkeys' with-project vs without-project comparison (people, planet, prosperity,
governance, propagation): effectiveness, economics, scalability, reliability (under faults),
infrastructure (burden and conflicts), privacy, readiness (TRL; public procurement designates from TRL 7).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from simulation.decision.cashflow import krw
from simulation.decision.costs import ServiceCosts
from simulation.decision.economics import EconomicsResult
from simulation.decision.scaleup import ScaleRow

__all__ = [
    "CRITERIA",
    "DEFAULT_WEIGHTS",
    "RULES",
    "TRL_SCORE",
    "Criterion",
    "InfraUsage",
    "Scorecard",
    "rescore",
    "score",
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
        f"expected NPV {krw(e.npv)} (90% range {krw(e.npv_p05, False)} to {krw(e.npv_p95, False)} M) over "
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
        f"15 pilot districts: NPV {krw(r15.npv)}, BCR {'n/a' if r15.bcr is None else f'{r15.bcr:.2f}'}, "
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


def rescore(card: Scorecard, econ: EconomicsResult, scale: Sequence[ScaleRow]) -> Scorecard:
    """The same scorecard with new economics and scale-up (what the tornado varies); other criteria kept."""
    new = {"economics": _economics(econ), "scalability": _scalability(scale)}
    crit = tuple(new.get(c.name, c) for c in card.criteria)
    return Scorecard(card.candidate, crit, {**card.facts, "p_npv_positive": econ.p_npv_positive})
