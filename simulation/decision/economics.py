"""Money under uncertainty: monetised KPI effects, revenue, NPV range and P(NPV > 0) of one candidate.

Everything starts from a comparison table (one row per KPI and candidate: the paired difference of
candidate minus baseline with its confidence interval), the service's manifest (hardware, fleet,
pricing, :mod:`.costs`) and the unit values the city sets in one YAML file (:mod:`.unit_values`).

- Benefit of a KPI = improvement (candidate - baseline, signed so that better is positive) ×
  ``factor`` × ``per`` (a baseline KPI mean, or a district figure) × runs a year × unit value.
- A valued KPI that did not change in any pair (common random numbers) adds nothing and is noted.
- Monte Carlo, never the central value: each KPI effect is drawn from its paired-difference
  distribution (Student t with the replications' spread) and each unit value from its triangular
  (low, central, high) distribution. An effect the test cannot tell from zero (not significant,
  or too few pairs) is drawn around zero with its observed spread: it widens the NPV range but does
  not move its centre. Draws are antithetic (z and -z), so the centre is exact, and named streams
  make the whole result deterministic.
- The NPV shown is the expected NPV (each effect counted at its mean if significant, else 0, times the
  mean of its unit value's triangular distribution; exact, not a draw average); its 5-95% range and
  P(NPV > 0) come from the draws. KPIs a service moved that have no unit value are listed as not monetised.

Cash-flow maths live in :mod:`.cashflow`, scale-up in :mod:`.scaleup`; their names are re-exported here.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from simulation.decision.cashflow import (
    EconomicsInputs,
    _json_safe,
    annuity_factor,
    bcr,
    eok,
    inputs,
    krw,
    npv,
    payback_years,
)
from simulation.decision.costs import Hardware, ServiceCosts
from simulation.decision.scaleup import (
    BUDGET_LINES,
    PILOT_ROLLOUT,
    TESTBED_CAP_KRW,
    DistrictFigures,
    ScaleRow,
    scale_up,
)
from simulation.decision.unit_values import (
    CONTEXT,
    DEFAULT_UNIT_VALUES,
    PEOPLE,
    ROOT,
    Range,
    UnitValue,
    UnitValues,
    load_unit_values,
)
from simulation.errors import DecideError
from simulation.results.compare import TABLE_COLUMNS
from simulation.rng import stream
from simulation.stats import se_from_ci

__all__ = [
    "BUDGET_LINES",
    "DEFAULT_UNIT_VALUES",
    "PILOT_ROLLOUT",
    "ROOT",
    "TESTBED_CAP_KRW",
    "BenefitLine",
    "DecideError",
    "DistrictFigures",
    "EconomicsInputs",
    "EconomicsResult",
    "Hardware",
    "ScaleRow",
    "ServiceCosts",
    "UnitValue",
    "UnitValues",
    "annuity_factor",
    "bcr",
    "benefit_links",
    "candidate_rows",
    "economics",
    "eok",
    "inputs",
    "krw",
    "load_unit_values",
    "not_monetised",
    "npv",
    "payback_years",
    "scale_up",
]

# TABLE_COLUMNS (from results.compare): the columns of Comparison.table this module reads.
#: The columns read here (sd_diff, p_value, p_adjusted are used when present).
NEEDED_COLUMNS = tuple(c for c in TABLE_COLUMNS if c not in ("sd_diff", "p_value", "p_adjusted"))
REQUEST_UNITS = ("requests", "deliveries", "trips", "orders", "requests/run")


def candidate_rows(table: pd.DataFrame, candidate: str | None = None, source: str = "comparison") -> pd.DataFrame:
    """The comparison rows of one candidate, indexed by KPI; checks columns and replications."""
    missing = [c for c in NEEDED_COLUMNS if c not in table.columns]
    if missing:
        raise DecideError(
            source, "the comparison table lacks columns", value=missing, allowed=", ".join(NEEDED_COLUMNS)
        )
    names = sorted(table["candidate"].astype(str).unique())
    if candidate is None:
        if len(names) != 1:
            raise DecideError(
                source,
                "name the candidate to evaluate",
                key="candidate",
                value=None,
                allowed=", ".join(names) or "(no candidates)",
            )
        candidate = names[0]
    if candidate not in names:
        raise DecideError(
            source, "no such candidate in the comparison", key="candidate", value=candidate, allowed=", ".join(names)
        )
    rows = table[table["candidate"].astype(str) == candidate].set_index("kpi")
    n = pd.to_numeric(rows["n_pairs"], errors="coerce").fillna(0)
    if len(rows) == 0 or int(n.max()) < 2:
        raise DecideError(
            source,
            "a confidence interval needs at least 2 paired replications; run both scenarios with replications >= 2",
            key="n_pairs",
            value=int(n.max()) if len(rows) else 0,
            allowed=">= 2",
        )
    return rows


def _se(row: pd.Series) -> tuple[float, int]:
    """Standard error of the mean paired difference and its degrees of freedom."""
    n = int(row["n_pairs"])
    sd = float(row["sd_diff"]) if "sd_diff" in row.index and row["sd_diff"] is not None else math.nan
    if n >= 2 and math.isfinite(sd):
        return sd / math.sqrt(n), n - 1
    return se_from_ci(float(row["ci_low"]), float(row["ci_high"]), n), max(n - 1, 1)


def _improvement(row: pd.Series) -> float:
    d = float(row["diff_mean"])
    return d if row["better"] == "higher" else -d


# --------------------------------------------------------------------------- benefit lines
@dataclass(frozen=True)
class BenefitLine:
    """One monetised KPI effect: what was observed, what was counted, and its money (expected and 90% range)."""

    value: str
    kpi: str
    unit: str
    improvement_per_run: float
    significant: bool
    verdict: str
    counted: str
    quantity_per_year: float
    value_unit: str
    krw_per_unit: float
    krw_per_year: float
    krw_p05: float
    krw_p95: float
    scales_with: str
    source: str


@dataclass(frozen=True)
class _Link:
    value: str
    kpi: str
    factor: float
    per: float


def _per(rows: pd.DataFrame, per: str | None, inp: EconomicsInputs) -> float | None:
    if per is None:
        return 1.0
    if per in CONTEXT:
        return getattr(inp, per)
    if per not in rows.index or not math.isfinite(float(rows.loc[per, "baseline_mean"])):
        return None
    return float(rows.loc[per, "baseline_mean"])


_PER_WORDS = {
    PEOPLE: "the number of people present is unknown",
    "operator_hours": "the control centre's operator-hours are unknown",
    "arriving_drivers": "the number of arriving drivers is unknown",
}


def benefit_links(rows: pd.DataFrame, uv: UnitValues, inp: EconomicsInputs) -> tuple[list[_Link], list[str]]:
    """The (unit value, KPI) pairs this comparison can monetise; notes say what was skipped and why."""
    links, notes = [], []
    for vid, v in sorted(uv.values.items()):
        for link in v.kpis:
            if link.kpi not in rows.index:
                notes.append(f"unit value {vid!r} not applied: KPI {link.kpi} is not in this comparison")
                continue
            row = rows.loc[link.kpi]
            per = _per(rows, link.per, inp)
            if per is None:
                why = _PER_WORDS.get(str(link.per), f"no baseline figure for {link.per}")
                notes.append(f"unit value {vid!r} not applied to {link.kpi}: {why}")
                continue
            if row["better"] not in ("higher", "lower") or not math.isfinite(_improvement(row)):
                notes.append(
                    f"unit value {vid!r} not applied: KPI {link.kpi} has no finite difference with a direction"
                )
                continue
            links.append(_Link(vid, link.kpi, link.factor, per))
    return links, notes


def not_monetised(rows: pd.DataFrame, uv: UnitValues, applied: set[str]) -> list[dict[str, Any]]:
    """KPIs with a direction that moved (a non-zero mean difference) but carry no money, and why.

    ``missing`` is True where the unit-values file neither values the KPI nor says why not.
    """
    valued = uv.valued_kpis
    out = []
    for kpi, row in rows.iterrows():
        if row["better"] not in ("higher", "lower") or kpi in applied:
            continue
        d = float(row["diff_mean"])
        if not math.isfinite(d) or d == 0:
            continue
        if kpi in uv.not_valued:
            reason, missing = uv.not_valued[str(kpi)], False
        elif kpi in valued:
            reason, missing = f"unit value {valued[str(kpi)]!r} could not be applied (see the notes)", False
        else:
            reason, missing = f"no unit value in {uv.source or 'the unit values'}", True
        out.append(
            {
                "kpi": str(kpi),
                "unit": str(row["unit"]),
                "diff_mean": d,
                "verdict": str(row["verdict"]),
                "reason": reason,
                "missing": missing,
            }
        )
    out.sort(key=lambda x: (not x["missing"], x["verdict"] not in ("better", "worse"), x["kpi"]))
    return out


def completed_requests(rows: pd.DataFrame, costs: ServiceCosts, inp: EconomicsInputs) -> tuple[float, str]:
    """Completed requests per run for per-request revenue, and where the figure came from."""
    if inp.requests_per_run is not None:
        return inp.requests_per_run, "set by the evaluator"
    if inp.requests_kpi is not None:
        if inp.requests_kpi not in rows.index:
            raise DecideError(
                "economics inputs",
                "no such KPI in the comparison",
                key="requests_kpi",
                value=inp.requests_kpi,
                allowed=", ".join(rows.index),
            )
        return float(rows.loc[inp.requests_kpi, "candidate_mean"]), f"KPI {inp.requests_kpi} (candidate mean)"
    if "logistics.requests" in rows.index and "logistics.completed_pct" in rows.index:
        v = (
            float(rows.loc["logistics.requests", "candidate_mean"])
            * float(rows.loc["logistics.completed_pct", "candidate_mean"])
            / 100
        )
        if math.isfinite(v):
            return v, "KPIs logistics.requests × logistics.completed_pct (candidate means)"
    found = [k for k in rows.index if str(k).startswith("logistics.") and str(rows.loc[k, "unit"]) in REQUEST_UNITS]
    found.sort(key=lambda k: ("completed" not in k, k))
    if found:
        v = float(rows.loc[found[0], "candidate_mean"])
        return (v if math.isfinite(v) else 0.0), f"KPI {found[0]} (candidate mean)"
    if costs.revenue_krw_per_request > 0:
        return 0.0, "no completed-request count in the runs (no logistics.* count KPI): per-request revenue is 0"
    return 0.0, "no per-request pricing"


# --------------------------------------------------------------------------- the result
@dataclass(frozen=True)
class EconomicsResult:
    """Economics of one candidate in one pilot district (KRW): expected values and Monte-Carlo ranges.

    ``npv`` is the expected NPV; ``npv_p05``/``npv_p95`` bound its 90% range (Monte Carlo). Every money
    figure carries its source: ``capex_sources``, ``opex_source``, ``revenue_lines``, each benefit line's
    unit value and source. ``bcr_note`` explains a BCR below 1 (and why one is negative).
    """

    capex: float
    hardware_capex: float
    fleet_capex: float
    opex_per_year: float
    requests_per_run: float
    requests_source: str
    revenue_per_year: float
    benefit_per_year: float
    benefit_p05: float
    benefit_p95: float
    lines: tuple[BenefitLine, ...]
    pv_costs: float
    pv_benefits: float
    npv: float
    financial_npv: float
    bcr: float | None
    payback_years: float | None
    p_npv_positive: float
    npv_p05: float
    npv_p50: float
    npv_p95: float
    horizon_years: int
    discount_rate: float
    draws: int
    seed: int
    runs_per_year: float = 365.0
    capex_sources: tuple[str, ...] = ()
    opex_source: str = ""
    revenue_lines: tuple[dict[str, Any], ...] = ()
    bcr_note: str = ""
    not_monetised: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data (NaN and infinities become None)."""
        return _json_safe(asdict(self))


def _triangular(gen: np.random.Generator, r: Range, n: int) -> np.ndarray:
    if r.high == r.low:
        return np.full(n, r.central)
    return gen.triangular(r.low, r.central, r.high, size=n)


def _revenue(rows: pd.DataFrame, costs: ServiceCosts, inp: EconomicsInputs) -> tuple[float, str, list[dict[str, Any]]]:
    req, req_src = completed_requests(rows, costs, inp)
    out = []
    if costs.subscription_krw_per_month:
        out.append(
            {
                "source": "subscription",
                "krw_per_year": 12 * costs.subscription_krw_per_month,
                "how": f"KRW {costs.subscription_krw_per_month:,.0f} a month × 12 "
                "(manifest pricing.subscription_krw_per_month)",
            }
        )
    if costs.revenue_krw_per_request:
        out.append(
            {
                "source": "per-request revenue",
                "krw_per_year": req * costs.revenue_krw_per_request * inp.annualise,
                "how": f"{req:,.1f} completed requests a run ({req_src}) × KRW {costs.revenue_krw_per_request:,.0f} "
                f"× {inp.annualise:,.0f} runs a year (manifest pricing.revenue_krw_per_request)",
            }
        )
    return req, req_src, out


def _bcr_note(ratio: float | None, revenue: float, benefit: float, lines: list[BenefitLine]) -> str:
    if ratio is None:
        return "no costs to divide by: BCR not defined"
    if ratio >= 1:
        return f"benefits and revenue are {ratio:.2f} times the costs (present values)"
    worst = sorted((ln for ln in lines if ln.krw_per_year < 0), key=lambda ln: ln.krw_per_year)
    lost = "; ".join(f"{ln.kpi} costs {krw(-ln.krw_per_year)} a year" for ln in worst[:3])
    if ratio < 0:
        return (
            f"BCR is negative because the monetised effects are a net loss ({krw(benefit)} a year"
            + (f": {lost}" if lost else "")
            + f") larger than the revenue ({krw(revenue)} a year): the city would pay for the service "
            "and lose value on top"
        )
    return f"benefits and revenue cover {ratio:.0%} of the costs (present values)" + (
        f"; losses: {lost}" if lost else ""
    )


def economics(rows: pd.DataFrame, costs: ServiceCosts, uv: UnitValues, inp: EconomicsInputs) -> EconomicsResult:
    """Capex, opex, revenue, monetised benefit, expected NPV with its range, BCR, payback and P(NPV > 0).

    ``rows`` are :func:`candidate_rows` of a comparison (indexed by KPI).
    """
    links, notes = benefit_links(rows, uv, inp)
    req, req_src, revenue_lines = _revenue(rows, costs, inp)
    revenue = sum(r["krw_per_year"] for r in revenue_lines)
    af = annuity_factor(inp.discount_rate, inp.horizon_years)
    if costs.capex > TESTBED_CAP_KRW:
        notes.append(f"capex {krw(costs.capex)} is above Testbed Seoul's KRW 500 M per demonstration")

    half = (inp.draws + 1) // 2
    n = 2 * half
    total = np.zeros(n)
    lines = []
    untouched = []
    for lk in links:
        row = rows.loc[lk.kpi]
        uvv = uv.values[lk.value]
        se, df = _se(row)
        sig = bool(row["significant"])
        if float(row["diff_mean"]) == 0 and se == 0:
            untouched.append(lk.kpi)  # the same in every pair (common random numbers): no money, no spread
            continue
        z = stream(inp.seed, f"economics:kpi:{lk.kpi}").standard_t(df, size=half) * se
        centre = float(row["diff_mean"]) if sig else 0.0
        diff = centre + np.concatenate([z, -z])
        v = _triangular(stream(inp.seed, f"economics:value:{lk.value}"), uvv, half)
        value = np.concatenate([v, v])
        sign = 1.0 if row["better"] == "higher" else -1.0
        k = lk.factor * lk.per * inp.annualise
        money = sign * diff * k * value
        total += money
        p05, p95 = (float(x) for x in np.percentile(money, [5, 95]))
        verdict = str(row["verdict"]) if "verdict" in row.index else ("better" if sig else "")
        lines.append(
            BenefitLine(
                value=lk.value,
                kpi=lk.kpi,
                unit=str(row["unit"]),
                improvement_per_run=_improvement(row),
                significant=sig,
                verdict=verdict,
                counted="at its mean" if sig else "around 0 (not significant)",
                quantity_per_year=sign * centre * k,
                value_unit=uvv.unit,
                krw_per_unit=uvv.mean,
                krw_per_year=sign * centre * k * uvv.mean,
                krw_p05=p05,
                krw_p95=p95,
                scales_with=uvv.scales_with,
                source=uvv.source,
            )
        )
    if untouched:
        notes.append(f"{len(untouched)} valued KPIs did not change in any pair: {', '.join(sorted(untouched))}")
    npvs = -costs.capex + (revenue + total - costs.opex_per_year) * af
    q05, q50, q95 = (float(x) for x in np.percentile(npvs, [5, 50, 95]))
    b05, b95 = (float(x) for x in np.percentile(total, [5, 95]))
    benefit = sum(ln.krw_per_year for ln in lines)  # the expectation, exact: the draws' mean less their noise
    pv_costs = costs.capex + costs.opex_per_year * af
    pv_benefits = (revenue + benefit) * af
    ratio = bcr(pv_benefits, pv_costs)
    return EconomicsResult(
        capex=costs.capex,
        hardware_capex=costs.hardware_capex,
        fleet_capex=costs.fleet_capex,
        opex_per_year=costs.opex_per_year,
        requests_per_run=req,
        requests_source=req_src,
        revenue_per_year=revenue,
        benefit_per_year=benefit,
        benefit_p05=b05,
        benefit_p95=b95,
        lines=tuple(lines),
        pv_costs=pv_costs,
        pv_benefits=pv_benefits,
        npv=pv_benefits - pv_costs,
        financial_npv=npv(costs.capex, revenue - costs.opex_per_year, inp.discount_rate, inp.horizon_years),
        bcr=ratio,
        payback_years=payback_years(
            costs.capex, revenue + benefit - costs.opex_per_year, inp.discount_rate, inp.horizon_years
        ),
        p_npv_positive=float(np.mean(npvs > 0)),
        npv_p05=q05,
        npv_p50=q50,
        npv_p95=q95,
        horizon_years=inp.horizon_years,
        discount_rate=inp.discount_rate,
        draws=n,
        seed=inp.seed,
        runs_per_year=inp.annualise,
        capex_sources=tuple(costs.capex_sources()),
        opex_source=costs.opex_source(),
        revenue_lines=tuple(revenue_lines),
        bcr_note=_bcr_note(ratio, revenue, benefit, lines),
        not_monetised=tuple(not_monetised(rows, uv, {lk.kpi for lk in links})),
        notes=tuple(notes),
    )
