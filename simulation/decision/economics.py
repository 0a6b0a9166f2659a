"""Economics of a candidate service: capex, opex, revenue, monetised benefit, NPV, payback, scale-up.

Everything starts from a comparison table (one row per KPI and candidate: the paired difference of
candidate minus baseline with its confidence interval), the service's manifest (hardware, fleet,
pricing) and the unit values the city sets in one YAML file (``config/unit_values.yaml``).

Conventions, stated once:

- Capex is paid at year 0; opex, revenue and benefit flow at the end of years 1..H.
- KPI totals cover the simulated run; they are annualised by ``24 / run_hours * days_per_year``.
- Benefit of a KPI = improvement (candidate - baseline, signed so that better is positive) ×
  ``factor`` × (baseline mean of the ``per`` KPI, e.g. incidents per run) × unit value.
- Monte-Carlo: each KPI difference is drawn from a Student t around its mean with the spread of
  the replications' paired differences (recovered from the 95% interval and ``n_pairs``); each unit
  value from a triangular distribution (low, central, high). Named streams make it deterministic.
- Scale-up uses district figures (residents, jobs, poles, area, built-up area), not a flat factor.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator, model_validator
from scipy import stats

from simulation.config._yaml import Strict, parse_model, read_yaml
from simulation.errors import DecideError
from simulation.results.compare import TABLE_COLUMNS
from simulation.rng import stream

__all__ = [
    "BUDGET_LINES",
    "DEFAULT_UNIT_VALUES",
    "PILOT_ROLLOUT",
    "DecideError",
    "DistrictFigures",
    "EconomicsInputs",
    "EconomicsResult",
    "ServiceCosts",
    "UnitValues",
    "annuity_factor",
    "bcr",
    "economics",
    "inputs",
    "load_unit_values",
    "npv",
    "payback_years",
    "scale_up",
]

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_UNIT_VALUES = ROOT / "config" / "unit_values.yaml"

#: Policy task 1 of the plan, 2021-2025, KRW million (docs/sources.md; seed plan's investment table).
BUDGET_LINES: tuple[tuple[str, float], ...] = (
    ("1. smart city infrastructure (policy task 1, total)", 127_072),
    ("1-1. communication infrastructure", 67_951),
    ("1-2. Smart Seoul CCTV", 31_971),
    ("1-3. S-Pole", 2_450),
    ("1-4. smart city pilot districts", 24_700),
)
#: Pilot districts in operation, cumulative by year: 2 (2022) +5 +5 +3 = 15 (docs/sources.md).
PILOT_ROLLOUT: tuple[tuple[int, int], ...] = ((2022, 2), (2023, 7), (2024, 12), (2025, 15))
#: Testbed Seoul funds up to KRW 500 M per demonstration (docs/sources.md, sandbox rules).
TESTBED_CAP_KRW = 500e6
#: ``per: people_present`` multiplies a per-person KPI by the people present in the district.
PEOPLE = "people_present"
DRIVERS = ("people", "residents", "jobs", "poles", "area_km2", "built_area_km2")
Driver = Literal["people", "residents", "jobs", "poles", "area_km2", "built_area_km2"]


# --------------------------------------------------------------------------- unit values file
class _Range(Strict):
    description: str
    unit: str
    low: float = Field(ge=0)
    central: float = Field(ge=0)
    high: float = Field(ge=0)
    source: str = Field(min_length=1, description="where the figure comes from, or 'judgement'")

    @model_validator(mode="after")
    def _ordered(self) -> _Range:
        if not self.low <= self.central <= self.high:
            raise ValueError(
                f"needs low <= central <= high; got low={self.low}, central={self.central}, high={self.high}"
            )
        return self


class KpiLink(Strict):
    """How a KPI change becomes a quantity of the unit value (``factor`` × change × ``per``)."""

    kpi: str
    factor: float = Field(default=1.0, gt=0, description="value units per KPI unit (e.g. 1/60 for s -> min)")
    per: str | None = Field(
        default=None,
        description="multiply by this KPI's baseline mean (e.g. safety.incidents), or by people_present",
    )


class UnitValue(_Range):
    """The value the city puts on one unit of an outcome, with the KPIs it applies to."""

    kpis: tuple[KpiLink, ...] = ()
    scales_with: Driver = "people"


class CityFigure(Strict):
    value: float = Field(gt=0)
    source: str = Field(min_length=1)


class CityFigures(Strict):
    """Seoul-wide figures for the city-wide projection (each with its source)."""

    residents: CityFigure = CityFigure(value=9_400_000, source="judgement: about 9.4 M residents")
    jobs: CityFigure = CityFigure(value=5_000_000, source="judgement: about 5 M jobs")
    poles: CityFigure = CityFigure(value=240_000, source="docs/sources.md: about 240,000 roadside poles")
    spoles: CityFigure = CityFigure(value=621, source="docs/sources.md: 221 S-Poles (2021) + 100 a year to 2025")
    area_km2: CityFigure = CityFigure(value=605, source="judgement: Seoul's area, about 605 km²")
    built_area_km2: CityFigure = CityFigure(value=440, source="judgement: area less parks and green belt")
    conversions_per_year: CityFigure = CityFigure(value=3_600, source="sources.md: 3,500-3,700 poles replaced a year")


_MODULE_DRIVERS: dict[str, Driver] = {"drone_dock": "area_km2", "ev_charger": "people"}


class ScaleUpSettings(Strict):
    """What drives each module's count when scaling up; Seoul-wide figures."""

    module_drivers: dict[str, Driver] = Field(default_factory=lambda: dict(_MODULE_DRIVERS))
    default_driver: Driver = "poles"
    city: CityFigures = CityFigures()


class UnitValues(Strict):
    """The whole unit-values file: benefit values, cost items, scale-up settings."""

    currency: Literal["KRW"] = "KRW"
    values: dict[str, UnitValue]
    costs: dict[Literal["spole_conversion"], _Range]
    scale_up: ScaleUpSettings = ScaleUpSettings()
    source: str = Field(default="", description="file it was loaded from (set by the loader)")

    @model_validator(mode="after")
    def _one_value_per_kpi(self) -> UnitValues:
        seen: dict[str, str] = {}
        for vid, uv in self.values.items():
            for link in uv.kpis:
                if link.kpi in seen:
                    raise ValueError(
                        f"KPI {link.kpi!r} is valued twice ({seen[link.kpi]!r} and {vid!r}); "
                        "that would count its benefit twice"
                    )
                seen[link.kpi] = vid
        if "spole_conversion" not in self.costs:
            raise ValueError("costs needs 'spole_conversion' (KRW to give a pole free slots and power)")
        return self

    @property
    def digest(self) -> str:
        """Hash of the values themselves (not where they were read from)."""
        payload = self.model_dump(mode="json", exclude={"source"})
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def load_unit_values(path: str | Path | None = None) -> UnitValues:
    """Load and validate the unit-values YAML (default ``config/unit_values.yaml``)."""
    p = Path(path) if path is not None else DEFAULT_UNIT_VALUES
    data = read_yaml(p, DecideError)
    if not isinstance(data, dict):
        raise DecideError(
            p,
            "must be a mapping with keys values, costs (and optionally currency, scale_up)",
            value=type(data).__name__,
        )
    from simulation.results.kpis import CATALOGUE

    uv = parse_model(UnitValues, {**data, "source": str(p)}, p, DecideError)
    for vid, v in uv.values.items():
        for i, link in enumerate(v.kpis):
            for name, key in ((link.kpi, "kpi"), (link.per, "per")):
                k = CATALOGUE.get(name) if name else None
                if key == "kpi" and k is not None and k.better == "none":
                    raise DecideError(
                        p,
                        "a context KPI (better: none) has no direction to value",
                        value=name,
                        key=f"values.{vid}.kpis[{i}].{key}",
                        allowed="KPIs with better higher or lower",
                    )
    return uv


# --------------------------------------------------------------------------- evaluator's inputs
class EconomicsInputs(Strict):
    """What the evaluator sets: horizon, discount rate, annualisation, Monte-Carlo size and seed."""

    horizon_years: int = Field(default=10, description="1-30 years")
    discount_rate: float = Field(default=0.045, description="0-0.20 a year (judgement: 4.5%)")
    days_per_year: float = Field(default=365.0, description="days a year like the simulated one")
    run_hours: float = Field(default=24.0, gt=0, description="hours the simulated run covers")
    draws: int = Field(default=2000, description="Monte-Carlo draws, 100-100,000")
    seed: int = Field(default=0, ge=0)
    requests_per_run: float | None = Field(default=None, ge=0, description="completed requests per run (override)")
    requests_kpi: str | None = Field(default=None, description="KPI counting completed requests per run")
    people_present: float | None = Field(default=None, gt=0, description="people in the district (per-person KPIs)")

    @field_validator("horizon_years")
    @classmethod
    def _horizon(cls, v: int) -> int:
        if not 1 <= v <= 30:
            raise ValueError("horizon must be from 1 to 30 years")
        return v

    @field_validator("discount_rate")
    @classmethod
    def _rate(cls, v: float) -> float:
        if not (math.isfinite(v) and 0 <= v <= 0.20):
            raise ValueError("discount rate must be from 0 to 0.20 (0-20% a year)")
        return v

    @field_validator("days_per_year")
    @classmethod
    def _days(cls, v: float) -> float:
        if not (math.isfinite(v) and 1 <= v <= 366):
            raise ValueError("days per year must be from 1 to 366")
        return v

    @field_validator("draws")
    @classmethod
    def _draws(cls, v: int) -> int:
        if not 100 <= v <= 100_000:
            raise ValueError("draws must be from 100 to 100,000")
        return v

    @property
    def annualise(self) -> float:
        """Factor from one simulated run to one year."""
        return 24.0 / self.run_hours * self.days_per_year


def inputs(source: str = "economics inputs", **values: Any) -> EconomicsInputs:
    """Validated :class:`EconomicsInputs`; ``None`` values keep the defaults."""
    return parse_model(EconomicsInputs, {k: v for k, v in values.items() if v is not None}, source, DecideError)


# --------------------------------------------------------------------------- finance
def annuity_factor(rate: float, horizon: int) -> float:
    """Present value of 1 a year at the end of years 1..horizon."""
    return float(horizon) if rate == 0 else (1 - (1 + rate) ** -horizon) / rate


def npv(capex: float, annual_net: float, rate: float, horizon: int) -> float:
    """Net present value: ``-capex`` now plus ``annual_net`` at the end of each year."""
    return -capex + annual_net * annuity_factor(rate, horizon)


def bcr(pv_benefits: float, pv_costs: float) -> float | None:
    """Benefit-cost ratio; ``None`` when there are no costs to divide by."""
    return pv_benefits / pv_costs if pv_costs > 0 else None


def payback_years(capex: float, annual_net: float, rate: float, horizon: int) -> float | None:
    """Discounted payback in years (interpolated within the year); ``None`` if not within the horizon."""
    if capex <= 0:
        return 0.0 if annual_net >= 0 else None
    cum = -capex
    for t in range(1, horizon + 1):
        step = annual_net / (1 + rate) ** t
        if cum + step >= 0:
            return t - 1 + (-cum / step)
        cum += step
    return None


# --------------------------------------------------------------------------- the service's costs
@dataclass(frozen=True)
class Hardware:
    """Modules a service installs: ``units`` × (``capex_krw`` + ``install_krw``) each."""

    module: str
    units: int
    capex_krw: float
    install_krw: float = 0.0
    power_w: float = 0.0
    slots: int = 0
    bandwidth_mbps: float = 0.0


@dataclass(frozen=True)
class ServiceCosts:
    """What a service costs and earns, from its manifest (all KRW)."""

    name: str
    trl: int | None = None
    hardware: tuple[Hardware, ...] = ()
    fleet_units: int = 0
    fleet_capex_krw_per_unit: float = 0.0
    fleet_kind: str = ""
    opex_krw_per_month: float = 0.0
    revenue_krw_per_request: float = 0.0
    subscription_krw_per_month: float = 0.0
    feeds: tuple[str, ...] = ()
    serves: tuple[str, ...] = ()
    category: str = ""
    source: str = ""

    @classmethod
    def from_manifest(cls, m: Any, source: str = "") -> ServiceCosts:
        """From a plugin ``Manifest`` (pydantic model or object) or the plugin.yaml mapping."""
        d = m.model_dump() if hasattr(m, "model_dump") else (dict(m) if isinstance(m, Mapping) else vars(m))

        def get(obj: Any, key: str, default: Any = None) -> Any:
            if obj is None:
                return default
            v = obj.get(key, default) if isinstance(obj, Mapping) else getattr(obj, key, default)
            return default if v is None else v

        hw = tuple(
            Hardware(
                module=str(get(h, "module", "")),
                units=int(get(h, "units", 0)),
                capex_krw=float(get(h, "capex_krw", 0)),
                install_krw=float(get(h, "install_krw", 0)),
                power_w=float(get(h, "power_w", 0)),
                slots=int(get(h, "slots", 0)),
                bandwidth_mbps=float(get(h, "bandwidth_mbps", 0)),
            )
            for h in get(d, "hardware", ()) or ()
        )
        fleet, pricing = get(d, "fleet"), get(d, "pricing", {})
        trl = get(d, "trl")
        return cls(
            name=str(get(d, "name", "")),
            trl=None if trl is None else int(trl),
            hardware=hw,
            fleet_units=int(get(fleet, "units", 0)),
            fleet_capex_krw_per_unit=float(get(fleet, "capex_krw_per_unit", 0)),
            fleet_kind=str(get(fleet, "kind", "")),
            opex_krw_per_month=float(get(pricing, "opex_krw_per_month", 0)),
            revenue_krw_per_request=float(get(pricing, "revenue_krw_per_request", 0)),
            subscription_krw_per_month=float(get(pricing, "subscription_krw_per_month", 0)),
            feeds=tuple(get(d, "feeds", ()) or ()),
            serves=tuple(get(d, "serves", ()) or ()),
            category=str(get(d, "category", "")),
            source=source,
        )

    @property
    def domains(self) -> set[str]:
        """KPI domains the service serves (its category and the domains of ``serves``)."""
        return {x for x in (self.category, *(s.split(".", 1)[0] for s in self.serves)) if x}

    @property
    def hardware_capex(self) -> float:
        """Hardware units × (unit cost + installation)."""
        return sum(h.units * (h.capex_krw + h.install_krw) for h in self.hardware)

    @property
    def fleet_capex(self) -> float:
        """Fleet units × cost per unit."""
        return self.fleet_units * self.fleet_capex_krw_per_unit

    @property
    def capex(self) -> float:
        """Everything paid up front."""
        return self.hardware_capex + self.fleet_capex

    @property
    def opex_per_year(self) -> float:
        """Operating cost a year (the manifest's monthly figure × 12)."""
        return 12 * self.opex_krw_per_month


# --------------------------------------------------------------------------- comparison rows
# TABLE_COLUMNS (imported from .compare): the columns of Comparison.table this module reads.
REQUEST_UNITS = ("requests", "deliveries", "trips", "orders", "requests/run")


def candidate_rows(table: pd.DataFrame, candidate: str | None = None, source: str = "comparison") -> pd.DataFrame:
    """The comparison rows of one candidate, indexed by KPI; checks columns and replications."""
    missing = [c for c in TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise DecideError(source, "the comparison table lacks columns", value=missing, allowed=", ".join(TABLE_COLUMNS))
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
    """Standard error of the mean paired difference and its degrees of freedom, from the 95% CI."""
    n = int(row["n_pairs"])
    lo, hi = float(row["ci_low"]), float(row["ci_high"])
    if n < 2 or not (math.isfinite(lo) and math.isfinite(hi)):
        return 0.0, max(n - 1, 1)
    return (hi - lo) / 2 / float(stats.t.ppf(0.975, n - 1)), n - 1


# --------------------------------------------------------------------------- benefit lines
@dataclass(frozen=True)
class BenefitLine:
    """One monetised KPI change (central unit value), with how it was computed."""

    value: str
    kpi: str
    unit: str
    improvement_per_run: float
    significant: bool
    quantity_per_year: float
    value_unit: str
    krw_per_unit: float
    krw_per_year: float
    scales_with: str


def _improvement(row: pd.Series) -> float:
    d = float(row["diff_mean"])
    return d if row["better"] == "higher" else -d


def benefit_lines(rows: pd.DataFrame, uv: UnitValues, inp: EconomicsInputs) -> tuple[list[BenefitLine], list[str]]:
    """Monetise every KPI that a unit value applies to and the comparison holds; notes say what was skipped."""
    lines, notes = [], []
    for vid, v in sorted(uv.values.items()):
        for link in v.kpis:
            if link.kpi not in rows.index:
                notes.append(f"unit value {vid!r} not applied: KPI {link.kpi} is not in this comparison")
                continue
            row = rows.loc[link.kpi]
            per = 1.0
            if link.per == PEOPLE:
                if inp.people_present is None:
                    notes.append(
                        f"unit value {vid!r} not applied to {link.kpi}: the number of people present is unknown"
                    )
                    continue
                per = inp.people_present
            elif link.per:
                if link.per not in rows.index or not math.isfinite(float(rows.loc[link.per, "baseline_mean"])):
                    notes.append(f"unit value {vid!r} not applied to {link.kpi}: no baseline figure for {link.per}")
                    continue
                per = float(rows.loc[link.per, "baseline_mean"])
            imp = _improvement(row)
            if row["better"] not in ("higher", "lower") or not math.isfinite(imp):
                notes.append(
                    f"unit value {vid!r} not applied: KPI {link.kpi} has no finite difference with a direction"
                )
                continue
            qty = imp * link.factor * per * inp.annualise
            lines.append(
                BenefitLine(
                    vid,
                    link.kpi,
                    str(row["unit"]),
                    imp,
                    bool(row["significant"]),
                    qty,
                    v.unit,
                    v.central,
                    qty * v.central,
                    v.scales_with,
                )
            )
    return lines, notes


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
    """Economics of one candidate in one pilot district (KRW; central values plus Monte-Carlo)."""

    capex: float
    hardware_capex: float
    fleet_capex: float
    opex_per_year: float
    requests_per_run: float
    requests_source: str
    revenue_per_year: float
    benefit_per_year: float
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
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data (NaN and infinities become None)."""
        return _json_safe(asdict(self))


def _json_safe(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, bool | np.bool_):
        return bool(v)
    if isinstance(v, Mapping):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_safe(x) for x in v]
    return v


def _per(rows: pd.DataFrame, per: str | None, inp: EconomicsInputs) -> float:
    if per == PEOPLE:
        return float(inp.people_present or 0.0)
    return float(rows.loc[per, "baseline_mean"]) if per else 1.0


def _triangular(gen: np.random.Generator, r: _Range, n: int) -> np.ndarray:
    if r.high == r.low:
        return np.full(n, r.central)
    return gen.triangular(r.low, r.central, r.high, size=n)


def economics(rows: pd.DataFrame, costs: ServiceCosts, uv: UnitValues, inp: EconomicsInputs) -> EconomicsResult:
    """Capex, opex, revenue, monetised benefit, NPV, BCR, payback and P(NPV > 0) for one candidate.

    ``rows`` are :func:`candidate_rows` of a comparison (indexed by KPI).
    """
    lines, notes = benefit_lines(rows, uv, inp)
    req, req_src = completed_requests(rows, costs, inp)
    revenue = req * costs.revenue_krw_per_request * inp.annualise + 12 * costs.subscription_krw_per_month
    benefit = sum(ln.krw_per_year for ln in lines)
    af = annuity_factor(inp.discount_rate, inp.horizon_years)
    pv_costs = costs.capex + costs.opex_per_year * af
    pv_benefits = (revenue + benefit) * af
    net = revenue + benefit - costs.opex_per_year
    if costs.capex > TESTBED_CAP_KRW:
        notes.append(f"capex KRW {costs.capex / 1e6:,.0f} M is above Testbed Seoul's KRW 500 M per demonstration")

    # Monte-Carlo: KPI differences (Student t, paired spread) and unit values (triangular).
    n = inp.draws
    draw_benefit = np.zeros(n)
    for ln in lines:
        link = next(k for k in uv.values[ln.value].kpis if k.kpi == ln.kpi)
        row = rows.loc[ln.kpi]
        se, df = _se(row)
        sign = 1.0 if row["better"] == "higher" else -1.0
        diff = float(row["diff_mean"]) + se * stream(inp.seed, f"economics:kpi:{ln.kpi}").standard_t(df, size=n)
        per = _per(rows, link.per, inp)
        value = _triangular(stream(inp.seed, f"economics:value:{ln.value}"), uv.values[ln.value], n)
        draw_benefit += sign * diff * link.factor * per * inp.annualise * value
    npvs = -costs.capex + (revenue + draw_benefit - costs.opex_per_year) * af
    p05, p50, p95 = (float(x) for x in np.percentile(npvs, [5, 50, 95]))
    return EconomicsResult(
        capex=costs.capex,
        hardware_capex=costs.hardware_capex,
        fleet_capex=costs.fleet_capex,
        opex_per_year=costs.opex_per_year,
        requests_per_run=req,
        requests_source=req_src,
        revenue_per_year=revenue,
        benefit_per_year=benefit,
        lines=tuple(lines),
        pv_costs=pv_costs,
        pv_benefits=pv_benefits,
        npv=pv_benefits - pv_costs,
        financial_npv=npv(costs.capex, revenue - costs.opex_per_year, inp.discount_rate, inp.horizon_years),
        bcr=bcr(pv_benefits, pv_costs),
        payback_years=payback_years(costs.capex, net, inp.discount_rate, inp.horizon_years),
        p_npv_positive=float(np.mean(npvs > 0)),
        npv_p05=p05,
        npv_p50=p50,
        npv_p95=p95,
        horizon_years=inp.horizon_years,
        discount_rate=inp.discount_rate,
        draws=n,
        seed=inp.seed,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------- scale-up
@dataclass(frozen=True)
class DistrictFigures:
    """What scaling needs of a district: people, poles, area, and room on its poles per module."""

    name: str
    residents: float
    jobs: float
    poles: float
    spoles: float
    area_km2: float
    built_area_km2: float
    hostable: Mapping[str, float] = field(default_factory=dict)  # module -> share of S-Poles with room for one

    @property
    def people(self) -> float:
        """Residents plus jobs."""
        return self.residents + self.jobs

    def driver(self, name: str) -> float:
        """The value of a scaling driver."""
        return float(getattr(self, name))

    @classmethod
    def from_district(cls, d: Any, hardware: Sequence[Hardware] = ()) -> DistrictFigures:
        """From a loaded :class:`~simulation.config.district.District`, with each module's room on its poles."""
        cat = d.catalogue
        hostable = {}
        for h in hardware:
            mt = cat.modules.get(h.module)
            slots = h.slots or (mt.slots if mt else 0)
            power = h.power_w or (mt.power_w if mt else 0.0)
            ok = sum(
                1
                for p in d.poles
                if h.module in cat.models[p.model].mounts
                and p.free_slots >= slots
                and p.power_budget_w - p.base_power_w >= power
            )
            hostable[h.module] = ok / len(d.poles) if d.poles else 0.0
        built = sum(b.area_m2 for b in d.blocks if b.land_use != "park") / 1e6
        return cls(
            d.name,
            float(sum(b.residents for b in d.blocks)),
            float(sum(b.jobs for b in d.blocks)),
            float(len(d.poles)),
            float(len(d.poles)),
            d.area_km2,
            built,
            hostable,
        )


@dataclass(frozen=True)
class ScaleRow:
    """Cost and benefit of one scope of rollout (central values, KRW)."""

    scope: str
    districts: float
    people: float
    poles: float
    area_km2: float
    hardware_units: int
    poles_to_convert: int
    conversion_capex: float
    conversion_capex_low: float
    conversion_capex_high: float
    conversion_years: float
    capex: float
    opex_per_year: float
    revenue_per_year: float
    benefit_per_year: float
    npv: float
    bcr: float | None
    budget_line: str
    budget_krw: float
    capex_share_of_budget: float


def _ceil(x: float) -> int:
    return int(math.ceil(x - 1e-9))


def scale_up(
    pilot: DistrictFigures,
    peers: Sequence[DistrictFigures],
    costs: ServiceCosts,
    econ: EconomicsResult,
    uv: UnitValues,
    inp: EconomicsInputs,
) -> list[ScaleRow]:
    """Project the pilot to 2, 7, 12, 15 pilot districts and city-wide, driver by driver.

    Other pilot districts are taken to look like the mean of ``peers`` (the shipped districts);
    city-wide uses the Seoul figures in the unit-values file. Hardware beyond the S-Poles with room
    for it needs pole conversions, costed with ``costs.spole_conversion`` and paced by the natural
    replacement rate.
    """
    peers = list(peers) or [pilot]
    city = uv.scale_up.city
    mean = {k: float(np.mean([p.driver(k) for p in peers])) for k in (*DRIVERS, "spoles")}
    scopes: list[tuple[str, float, dict[str, float], str, float]] = [("this pilot district", 1, {}, "", 0.0)]
    line = dict(BUDGET_LINES)
    pilot_line = "1-4. smart city pilot districts"
    for year, n in PILOT_ROLLOUT:
        scopes.append(
            (
                f"{n} pilot districts ({year})",
                n,
                {k: pilot.driver(k) + (n - 1) * v for k, v in mean.items()},
                pilot_line,
                line[pilot_line] * 1e6,
            )
        )
    city_d = {
        "residents": city.residents.value,
        "jobs": city.jobs.value,
        "poles": city.poles.value,
        "spoles": city.spoles.value,
        "area_km2": city.area_km2.value,
        "built_area_km2": city.built_area_km2.value,
    }
    city_d["people"] = city_d["residents"] + city_d["jobs"]
    scopes.append(("city-wide (Seoul)", float("nan"), city_d, BUDGET_LINES[0][0], BUDGET_LINES[0][1] * 1e6))
    conv = uv.costs["spole_conversion"]
    af = annuity_factor(inp.discount_rate, inp.horizon_years)
    units0 = sum(h.units for h in costs.hardware)
    rows = []
    for scope, count, drv, bline, budget in scopes:
        d = {k: pilot.driver(k) for k in (*DRIVERS, "spoles")} | drv

        def ratio(name: str, d: dict[str, float] = d) -> float:
            base = pilot.driver(name)
            return d[name] / base if base > 0 else 0.0

        units = converts = 0
        hw_capex = 0.0
        for h in costs.hardware:
            drv_name = uv.scale_up.module_drivers.get(h.module, uv.scale_up.default_driver)
            u = _ceil(h.units * ratio(drv_name))
            room = pilot.hostable.get(h.module, 1.0) * d["spoles"]
            units += u
            converts += max(0, _ceil(u - room))
            hw_capex += u * (h.capex_krw + h.install_krw)
        fleet = _ceil(costs.fleet_units * ratio("people"))
        capex = hw_capex + fleet * costs.fleet_capex_krw_per_unit + converts * conv.central
        opex = costs.opex_per_year * (units / units0 if units0 else ratio("people"))
        revenue = econ.revenue_per_year * ratio("people")
        benefit = sum(ln.krw_per_year * ratio(ln.scales_with) for ln in econ.lines)
        pv_c = capex + opex * af
        pv_b = (revenue + benefit) * af
        rows.append(
            ScaleRow(
                scope=scope,
                districts=count,
                people=d["people"],
                poles=d["poles"],
                area_km2=d["area_km2"],
                hardware_units=units,
                poles_to_convert=converts,
                conversion_capex=converts * conv.central,
                conversion_capex_low=converts * conv.low,
                conversion_capex_high=converts * conv.high,
                conversion_years=converts / city.conversions_per_year.value,
                capex=capex,
                opex_per_year=opex,
                revenue_per_year=revenue,
                benefit_per_year=benefit,
                npv=pv_b - pv_c,
                bcr=bcr(pv_b, pv_c),
                budget_line=bline,
                budget_krw=budget,
                capex_share_of_budget=capex / budget if budget else float("nan"),
            )
        )
    return rows
