"""Scale-up: the pilot projected to 2, 7, 12, 15 pilot districts and city-wide, beside the programme's budget lines.

District figures (residents, jobs, poles, area, built-up area) drive each module's count, not a flat
factor; hardware beyond the S-Poles with room for it needs pole conversions, costed from the unit
values file and paced by the natural pole-replacement rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from simulation.decision.cashflow import EconomicsInputs, annuity_factor, bcr
from simulation.decision.costs import Hardware, ServiceCosts
from simulation.decision.unit_values import DRIVERS, UnitValues

if TYPE_CHECKING:
    from simulation.decision.economics import EconomicsResult

__all__ = ["BUDGET_LINES", "PILOT_ROLLOUT", "TESTBED_CAP_KRW", "DistrictFigures", "ScaleRow", "scale_up"]

#: Policy task 1 of the plan, 2021-2025, KRW million (docs/sources.md: the plan's investment table).
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
