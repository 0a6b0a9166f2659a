"""The programme's report: indicators reached against the plan, spend against its lines, services' decisions.

Plain data in, plain (JSON-safe) data out, so the CLI, the app and tests read the same thing.

- **Indicators**: for each year, the district figure an indicator is measured by (``measure``),
  summed over the pilots that start that year, next to the plan's target for that year (what the
  plan adds city-wide), with cumulative sums and the share of the target the pilots account for.
- **Budget**: the new pilots' infrastructure (APs, fibre, cameras, S-Poles) and the service
  demonstrations that start that year, priced with ``unit_costs`` and charged to the plan's lines.
- **Services**: each pilot's services with their status and linked decision (read from the store),
  and for those the programme ran, the paired difference candidate - baseline of their KPIs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from scipy import stats

from simulation.config.district import load_district
from simulation.config.programme import PLUGINS_DIR, Pilot, Programme
from simulation.programme.run import PlannedRun, district_ref
from simulation.results.store import Store

__all__ = ["district_figures", "programme_report"]


def district_figures(prog: Programme, store: Path, year: int | None = None) -> dict[str, dict[str, Any]]:
    """Key figures of the district of every pilot running in ``year`` (generated ones are made if missing)."""
    pilots = prog.pilots if year is None else prog.pilots_until(year)
    return {p.name: load_district(district_ref(prog, p, store)).key_figures() for p in pilots}


def _category(service: str) -> str:
    try:
        data = yaml.safe_load((PLUGINS_DIR / service / "plugin.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return ""
    return str(data.get("category", "")) if isinstance(data, dict) else ""


def _measure(measure: str, fig: dict[str, Any]) -> float:
    direct = {"fibre_km": "fibre_km", "aps": "aps", "cameras": "cameras", "poles": "poles"}
    if measure in direct:
        return float(fig[direct[measure]])
    flag = {
        "small_cell_districts": fig["small_cells"] > 0,
        "iot_districts": fig["gateways"] > 0,
        "selective_control_districts": fig["ai_cameras"] > 0,
        "integrated_districts": bool(fig["integrated_centre"]),
        "pilot_districts": True,
    }
    return float(flag[measure])


def _safety_services(pilots: list[Pilot], year: int) -> float:
    n = 0
    for p in pilots:
        for s in p.services:
            if s.since == year and s.status != "proposed" and _category(s.service) == "safety":
                n += 1
    return float(n)


def _indicators(prog: Programme, figs: dict[str, dict[str, Any]], year: int) -> list[dict[str, Any]]:
    rows = []
    new = [p for p in prog.pilots if p.year == year]
    active = list(prog.pilots_until(year))
    for ind in prog.indicators:
        target = ind.targets.get(year)
        plan_cum = sum(v or 0 for y, v in ind.targets.items() if y <= year)
        if ind.measure is None:
            added = cum = None
        elif ind.measure == "safety_services":
            added = _safety_services(active, year)
            cum = sum(_safety_services(active, y) for y in prog.years if y <= year)
        else:
            added = sum(_measure(ind.measure, figs[p.name]) for p in new)
            cum = sum(_measure(ind.measure, figs[p.name]) for p in active)
        share = None if added is None or not target else round(100 * added / target, 1)
        rows.append(
            {
                "id": ind.id,
                "task": ind.task,
                "label": ind.label,
                "unit": ind.unit,
                "measure": ind.measure,
                "plan_target": target,
                "pilots_added": None if added is None else round(added, 1),
                "plan_cumulative": plan_cum,
                "pilots_cumulative": None if cum is None else round(cum, 1),
                "share_pct": share,
                "note": ind.note,
            }
        )
    return rows


def _budget(prog: Programme, figs: dict[str, dict[str, Any]], year: int) -> list[dict[str, Any]]:
    uc = prog.unit_costs
    spend = {line.id: 0.0 for line in prog.budget}
    for p in prog.pilots_until(year):
        if p.year == year:
            f = figs[p.name]
            spend[uc.lines["ap"]] += f["aps"] * uc.ap
            spend[uc.lines["fibre_km"]] += f["fibre_km"] * uc.fibre_km
            spend[uc.lines["camera"]] += f["cameras"] * uc.camera
            spend[uc.lines["pole"]] += f["poles"] * uc.pole
        for s in p.services:
            if s.since == year and s.status != "proposed":
                spend[uc.lines["demonstration"]] += uc.demonstration
    rows = []
    for line in prog.budget:
        plan = line.by_year.get(year)
        rows.append(
            {
                "line": line.id,
                "label": line.label,
                "plan_krw_m": plan,
                "pilots_krw_m": round(spend[line.id], 1),
                "share_pct": None if not plan else round(100 * spend[line.id] / plan, 1),
            }
        )
    plan_total = sum(r["plan_krw_m"] or 0 for r in rows)
    spent = sum(r["pilots_krw_m"] for r in rows)
    rows.append(
        {
            "line": "total",
            "label": "Policy task 1 (sum of the lines)",
            "plan_krw_m": plan_total,
            "pilots_krw_m": round(spent, 1),
            "share_pct": None if not plan_total else round(100 * spent / plan_total, 1),
        }
    )
    return rows


def _paired(base: list[float], cand: list[float]) -> dict[str, Any]:
    d = [c - b for b, c in zip(base, cand, strict=True) if not (math.isnan(b) or math.isnan(c))]
    if not d:
        return {"n": 0, "mean_diff": None, "ci95": None}
    n = len(d)
    mean = sum(d) / n
    if n < 2:
        return {"n": n, "mean_diff": mean, "ci95": None}
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    return {"n": n, "mean_diff": mean, "ci95": float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)}


def _num(v: Any) -> float:
    return math.nan if v is None else float(v)


def _decision(store: Path, decision_id: str | None) -> dict[str, Any] | None:
    if not decision_id:
        return None
    from simulation.decision.record import load_decision
    from simulation.errors import StoreError

    try:
        rec = load_decision(store, decision_id)
    except StoreError:
        return {"id": decision_id, "found": False}
    return {
        "id": rec.id,
        "found": True,
        "decision": rec.decision,
        "recommendation": rec.recommendation,
        "accepted": rec.accepted,
        "created": rec.created,
        "note": rec.note,
        "scenario": rec.scenario,
    }


def _services(prog: Programme, runs: list[PlannedRun], store: Path, year: int) -> list[dict[str, Any]]:
    st = Store(store)
    kpis: dict[tuple[str, str], dict[int, dict[str, float]]] = {}
    for r in runs:
        if st.has(r.run_id):
            kpis.setdefault((r.pilot, r.variant), {})[r.seed] = st.meta(r.run_id).get("kpis", {})
    rows = []
    for p in prog.pilots_until(year):
        base = kpis.get((p.name, "baseline"), {})
        for s in p.services:
            cand = kpis.get((p.name, s.service), {})
            seeds = sorted(set(base) & set(cand))
            effects = {}
            for k in s.kpis:
                b = [_num(base[sd].get(k)) for sd in seeds]
                c = [_num(cand[sd].get(k)) for sd in seeds]
                known = [v for v in b if not math.isnan(v)]
                effects[k] = {**_paired(b, c), "baseline_mean": sum(known) / len(known) if known else None}
            rows.append(
                {
                    "pilot": p.name,
                    "pilot_title": p.title,
                    "service": s.service,
                    "category": _category(s.service),
                    "status": s.status,
                    "since": s.since,
                    "runs": len(seeds),
                    "effects": effects,
                    "decision": _decision(store, s.decision),
                }
            )
    return rows


def programme_report(prog: Programme, runs: list[PlannedRun], store: str | Path, year: int | None = None) -> dict:
    """The whole report for the programme up to ``year`` (default its last), JSON-safe."""
    store = Path(store)
    year = prog.years[-1] if year is None else year
    figs = district_figures(prog, store, year)
    years = [y for y in prog.years if y <= year]
    return {
        "programme": prog.name,
        "title": prog.title,
        "source": prog.source,
        "year": year,
        "pilots": [
            {
                "name": p.name,
                "title": p.title,
                "year": p.year,
                "lat": p.lat,
                "lon": p.lon,
                "source": p.source,
                "land_use_mix": dict(p.archetype.land_use_mix) if p.archetype else None,
                "figures": figs[p.name],
                "services": [s.model_dump(mode="json") for s in p.services],
            }
            for p in prog.pilots_until(year)
        ],
        "years": [
            {
                "year": y,
                "pilots_active": len(prog.pilots_until(y)),
                "pilots_new": [p.name for p in prog.pilots if p.year == y],
                "indicators": _indicators(prog, figs, y),
                "budget": _budget(prog, figs, y),
            }
            for y in years
        ],
        "services": _services(prog, runs, store, year),
    }
