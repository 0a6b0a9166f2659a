"""Cash-flow maths: the evaluator's inputs (horizon, discount rate, annualisation), NPV, BCR, payback; money as text.

Capex is paid at year 0; opex, revenue and benefit flow at the end of years 1..H. KPI totals cover
the simulated run; they are annualised by ``24 / run_hours * days_per_year``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from simulation.config._yaml import Strict, parse_model
from simulation.errors import DecideError

__all__ = [
    "EconomicsInputs",
    "annuity_factor",
    "bcr",
    "eok",
    "inputs",
    "krw",
    "npv",
    "payback_years",
]


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
    operator_hours: float | None = Field(default=None, gt=0, description="on-duty control-centre operator-hours a run")
    arriving_drivers: float | None = Field(default=None, gt=0, description="drivers arriving to park a run")

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


# --------------------------------------------------------------------------- money as people read it
def krw(v: float | None, unit: bool = True) -> str:
    """KRW with separators: ``KRW 12.3 M`` (millions, one decimal; whole millions from a billion), or ``—``."""
    if v is None or not math.isfinite(v):
        return "—"
    m = v / 1e6
    digits = 0 if abs(m) >= 1000 else 1
    text = f"{m:,.{digits}f}".replace("-", "−")
    if text in ("−0", "−0.0"):
        text = text[1:]
    return f"KRW {text} M" if unit else text


def eok(v: float | None) -> str:
    """KRW in 억원 (10⁸) or 만원 (10⁴) with separators: ``1,303.8억원``, ``450만원``."""
    if v is None or not math.isfinite(v):
        return "—"
    if abs(v) >= 1e8:
        text = f"{v / 1e8:,.1f}억원"
    else:
        text = f"{v / 1e4:,.0f}만원"
    return text.replace("-", "−")
