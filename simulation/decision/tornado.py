"""Which assumptions drive the verdict: a tornado of NPV and of the recommendation, and the flip points.

Each assumption (a unit value, capex, opex, the discount rate, days per year, the horizon, the cost
of a pole conversion, the pace of conversions) is set to the low and the high end of its stated
range, all else as in the evaluation; the bar shows the expected NPV and the recommendation at both
ends. Bars that change the recommendation come first, then by the width of their NPV swing.

Then, assumption by assumption, the value at which the recommendation would change is searched
(a grid outwards from today's value, then bisection) within a wide but sane range; the result is
said in plain words ("stop instead of extend pilot if the value of a kWh saved were at most …").
Every evaluation reuses the same named random streams, so a change is the assumption's, not noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from simulation.decision.cashflow import EconomicsInputs
from simulation.decision.costs import ServiceCosts
from simulation.decision.unit_values import UnitValues

__all__ = ["Assumption", "assumptions", "flip_points", "tornado"]

#: Judgement: cost estimates of a pilot service run 30% under to 50% over (a class-4 estimate).
COST_RANGE = (0.7, 1.5)
#: Judgement: 2.5-7% a year around the 4.5% default.
RATE_RANGE = (0.025, 0.07)
#: Judgement: a day like the simulated one on working days only (250) up to every day.
DAYS_RANGE = (250.0, 365.0)
HORIZON_RANGE = (5, 15)
GRID = 8
BISECT = 7

Variant = tuple[UnitValues, ServiceCosts, EconomicsInputs]
Assess = Callable[[UnitValues, ServiceCosts, EconomicsInputs], tuple[float, str]]


@dataclass(frozen=True)
class Assumption:
    """One input the verdict rests on: its value now, its stated range, where to search, how to apply it."""

    key: str
    label: str
    unit: str
    base: float
    low: float
    high: float
    search: tuple[float, float]
    apply: Callable[[float], Variant]
    integer: bool = False

    def fmt(self, v: float) -> str:
        """The value with its unit, as people read it."""
        if self.unit == "%":
            return f"{v:.1%}"
        if self.unit.startswith("×"):
            return f"×{v:.2f}"
        if self.integer:
            return f"{v:,.0f} {self.unit}"
        text = f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.3g}"
        return f"{text} {self.unit}"


def _scale_costs(c: ServiceCosts, capex: float = 1.0, opex: float = 1.0) -> ServiceCosts:
    hw = tuple(replace(h, capex_krw=h.capex_krw * capex, install_krw=h.install_krw * capex) for h in c.hardware)
    return replace(
        c,
        hardware=hw,
        fleet_capex_krw_per_unit=c.fleet_capex_krw_per_unit * capex,
        opex_krw_per_month=c.opex_krw_per_month * opex,
    )


def _point_value(uv: UnitValues, vid: str, x: float) -> UnitValues:
    values = dict(uv.values)
    values[vid] = values[vid].model_copy(update={"low": x, "central": x, "high": x})
    return uv.model_copy(update={"values": values})


def _conversion(uv: UnitValues, x: float) -> UnitValues:
    costs = dict(uv.costs)
    costs["spole_conversion"] = costs["spole_conversion"].model_copy(update={"low": x, "central": x, "high": x})
    return uv.model_copy(update={"costs": costs})


def _pace(uv: UnitValues, x: float) -> UnitValues:
    city = uv.scale_up.city
    new_city = city.model_copy(
        update={"conversions_per_year": city.conversions_per_year.model_copy(update={"value": x})}
    )
    return uv.model_copy(update={"scale_up": uv.scale_up.model_copy(update={"city": new_city})})


def assumptions(
    uv: UnitValues, costs: ServiceCosts, inp: EconomicsInputs, valued: Sequence[str] = ()
) -> list[Assumption]:
    """The assumptions of one evaluation: the unit values it applied (``valued``), costs, rates, scale-up."""
    out = []
    for vid in sorted(set(valued)):
        v = uv.values[vid]
        out.append(
            Assumption(
                f"unit_value:{vid}",
                f"the value of {v.description}",
                v.unit,
                v.central,
                v.low,
                v.high,
                (0.0, max(10 * v.high, 1.0)),
                lambda x, vid=vid: (_point_value(uv, vid, x), costs, inp),
            )
        )
    if costs.capex > 0:
        out.append(
            Assumption(
                "capex",
                "the service's capex (× the manifest's figure)",
                "× manifest",
                1.0,
                *COST_RANGE,
                (0.0, 10.0),
                lambda x: (uv, _scale_costs(costs, capex=x), inp),
            )
        )
    if costs.opex_per_year > 0:
        out.append(
            Assumption(
                "opex",
                "the service's operating cost (× the manifest's figure)",
                "× manifest",
                1.0,
                *COST_RANGE,
                (0.0, 10.0),
                lambda x: (uv, _scale_costs(costs, opex=x), inp),
            )
        )
    r = inp.discount_rate
    out.append(
        Assumption(
            "discount_rate",
            "the discount rate",
            "%",
            r,
            min(r, RATE_RANGE[0]),
            max(r, RATE_RANGE[1]),
            (0.0, 0.20),
            lambda x: (uv, costs, inp.model_copy(update={"discount_rate": x})),
        )
    )
    d = inp.days_per_year
    out.append(
        Assumption(
            "days_per_year",
            "the days a year like the simulated one",
            "days",
            d,
            min(d, DAYS_RANGE[0]),
            max(d, DAYS_RANGE[1]),
            (1.0, 366.0),
            lambda x: (uv, costs, inp.model_copy(update={"days_per_year": x})),
        )
    )
    h = inp.horizon_years
    out.append(
        Assumption(
            "horizon_years",
            "the appraisal horizon",
            "years",
            h,
            min(h, HORIZON_RANGE[0]),
            max(h, HORIZON_RANGE[1]),
            (1.0, 30.0),
            lambda x: (uv, costs, inp.model_copy(update={"horizon_years": int(round(x))})),
            integer=True,
        )
    )
    if costs.hardware:
        c = uv.costs["spole_conversion"]
        out.append(
            Assumption(
                "spole_conversion",
                "the cost of converting a pole to host the hardware (scale-up)",
                "KRW per pole",
                c.central,
                c.low,
                c.high,
                (0.0, 10 * c.high),
                lambda x: (_conversion(uv, x), costs, inp),
            )
        )
        pace = uv.scale_up.city.conversions_per_year.value
        out.append(
            Assumption(
                "conversions_per_year",
                "the poles Seoul can convert a year (scale-up pace)",
                "poles a year",
                pace,
                pace * 0.5,
                pace * 1.5,
                (100.0, 20 * pace),
                lambda x: (_pace(uv, x), costs, inp),
                integer=True,
            )
        )
    return out


def tornado(assess: Assess, items: Sequence[Assumption], base_decision: str) -> list[dict[str, Any]]:
    """One bar per assumption: expected NPV and recommendation at its low and high end; flips first."""
    bars: list[dict[str, Any]] = []
    for a in items:
        npv_lo, dec_lo = assess(*a.apply(a.low))
        npv_hi, dec_hi = assess(*a.apply(a.high))
        bars.append(
            {
                "key": a.key,
                "label": a.label,
                "unit": a.unit,
                "base": a.base,
                "low": a.low,
                "high": a.high,
                "low_text": a.fmt(a.low),
                "high_text": a.fmt(a.high),
                "npv_low": npv_lo,
                "npv_high": npv_hi,
                "decision_low": dec_lo,
                "decision_high": dec_hi,
                "swing": abs(npv_hi - npv_lo),
                "flips": dec_lo != base_decision or dec_hi != base_decision,
            }
        )
    bars.sort(key=lambda b: (not b["flips"], -float(b["swing"]), str(b["key"])))
    return bars


def _search(assess: Assess, a: Assumption, base_decision: str, end: float) -> tuple[float, str] | None:
    """The value nearest today's, towards ``end``, at which the recommendation changes (None if it never does)."""
    if end == a.base:
        return None
    prev = a.base
    for i in range(1, GRID + 1):
        x = a.base + (end - a.base) * (i / GRID) ** 2  # finer near today's value
        if a.integer:
            x = float(round(x))
        _, dec = assess(*a.apply(x))
        if dec != base_decision:
            lo, hi, found = prev, x, dec
            for _ in range(BISECT):
                if a.integer and abs(hi - lo) <= 1:
                    break
                mid = (lo + hi) / 2
                mid = float(round(mid)) if a.integer else mid
                _, d = assess(*a.apply(mid))
                if d != base_decision:
                    hi, found = mid, d
                else:
                    lo = mid
            return hi, found
        prev = x
    return None


def flip_points(
    assess: Assess, items: Sequence[Assumption], base_decision: str, labels: dict[str, str]
) -> list[dict[str, Any]]:
    """Per assumption and direction, where the recommendation changes, in plain words; nearest first."""
    out = []
    for a in items:
        for end, way in ((a.search[0], "at most"), (a.search[1], "at least")):
            hit = _search(assess, a, base_decision, end)
            if hit is None:
                continue
            x, dec = hit
            inside = min(a.low, a.high) <= x <= max(a.low, a.high)
            rel = abs(x - a.base) / abs(a.base) if a.base else math.inf
            out.append(
                {
                    "key": a.key,
                    "threshold": x,
                    "direction": "below" if way == "at most" else "above",
                    "decision": dec,
                    "within_range": inside,
                    "relative_change": rel,
                    "text": f"{labels[dec]} instead of {labels[base_decision]} if {a.label} were {way} "
                    f"{a.fmt(x)} (now {a.fmt(a.base)}; stated range {a.fmt(a.low)} to {a.fmt(a.high)})"
                    + (" — inside the stated range" if inside else ""),
                }
            )
    out.sort(key=lambda f: (not f["within_range"], f["relative_change"], f["key"]))
    return out
