"""The unit values the city puts on outcomes, the costs of pole conversions and the scale-up settings.

One YAML file (``config/unit_values.yaml``) holds them, each with low / central / high and its
source (or "judgement"). KPIs a service can move but that are not valued on purpose are listed
under ``not_valued`` with the reason (e.g. an intermediate KPI whose outcome is valued instead).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from simulation.config._yaml import Strict, parse_model, read_yaml
from simulation.errors import DecideError

__all__ = [
    "CONTEXT",
    "DEFAULT_UNIT_VALUES",
    "DRIVERS",
    "PEOPLE",
    "ROOT",
    "CityFigure",
    "CityFigures",
    "KpiLink",
    "ScaleUpSettings",
    "UnitValue",
    "UnitValues",
    "load_unit_values",
]

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_UNIT_VALUES = ROOT / "config" / "unit_values.yaml"

#: ``per: people_present`` multiplies a per-person KPI by the people present in the district.
PEOPLE = "people_present"
#: District figures a ``per`` may name besides a KPI: people present, on-duty operator-hours a run,
#: drivers arriving to park a run (all from the district and the scenario, see ``EconomicsInputs``).
CONTEXT = (PEOPLE, "operator_hours", "arriving_drivers")
DRIVERS = ("people", "residents", "jobs", "poles", "area_km2", "built_area_km2")
Driver = Literal["people", "residents", "jobs", "poles", "area_km2", "built_area_km2"]


class Range(Strict):
    """A figure with its low, central and high value, unit and source."""

    description: str
    unit: str
    low: float = Field(ge=0)
    central: float = Field(ge=0)
    high: float = Field(ge=0)
    source: str = Field(min_length=1, description="where the figure comes from, or 'judgement'")

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if not self.low <= self.central <= self.high:
            raise ValueError(
                f"needs low <= central <= high; got low={self.low}, central={self.central}, high={self.high}"
            )
        return self

    @property
    def mean(self) -> float:
        """Mean of the triangular distribution over (low, central, high)."""
        return (self.low + self.central + self.high) / 3


_Range = Range  # the name older code knows


class KpiLink(Strict):
    """How a KPI change becomes a quantity of the unit value (``factor`` × change × ``per``)."""

    kpi: str
    factor: float = Field(default=1.0, gt=0, description="value units per KPI unit (e.g. 1/60 for s -> min)")
    per: str | None = Field(
        default=None,
        description="multiply by this KPI's baseline mean (e.g. safety.incidents), or by a district figure: "
        + ", ".join(CONTEXT),
    )


class UnitValue(Range):
    """The value the city puts on one unit of an outcome, with the KPIs it applies to."""

    kpis: tuple[KpiLink, ...] = ()
    scales_with: Driver = "people"


class CityFigure(Strict):
    """One Seoul-wide figure and its source."""

    value: float = Field(gt=0)
    source: str = Field(min_length=1)


class CityFigures(Strict):
    """Seoul-wide figures for the city-wide projection (each with its source)."""

    residents: CityFigure = CityFigure(value=9_400_000, source="judgement: about 9.4 M residents")
    jobs: CityFigure = CityFigure(value=5_000_000, source="judgement: about 5 M jobs")
    poles: CityFigure = CityFigure(value=240_000, source="about 240,000 roadside poles (docs/sources.md)")
    spoles: CityFigure = CityFigure(value=621, source="221 S-Poles (2021) + 100 a year to 2025 (docs/sources.md)")
    area_km2: CityFigure = CityFigure(value=605, source="judgement: Seoul's area, about 605 km²")
    built_area_km2: CityFigure = CityFigure(value=440, source="judgement: area less parks and green belt")
    conversions_per_year: CityFigure = CityFigure(
        value=3_600, source="3,500-3,700 poles replaced a year (docs/sources.md)"
    )


_MODULE_DRIVERS: dict[str, Driver] = {"drone_dock": "area_km2", "ev_charger": "people"}


class ScaleUpSettings(Strict):
    """What drives each module's count when scaling up; Seoul-wide figures."""

    module_drivers: dict[str, Driver] = Field(default_factory=lambda: dict(_MODULE_DRIVERS))
    default_driver: Driver = "poles"
    city: CityFigures = CityFigures()


class UnitValues(Strict):
    """The whole unit-values file: benefit values, KPIs not valued on purpose, cost items, scale-up settings."""

    currency: Literal["KRW"] = "KRW"
    values: dict[str, UnitValue]
    not_valued: dict[str, str] = Field(default_factory=dict, description="KPI -> why it has no unit value")
    costs: dict[Literal["spole_conversion"], Range]
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
        both = sorted(set(seen) & set(self.not_valued))
        if both:
            raise ValueError(f"KPI {both[0]!r} is both valued ({seen[both[0]]!r}) and listed under not_valued")
        if "spole_conversion" not in self.costs:
            raise ValueError("costs needs 'spole_conversion' (KRW to give a pole free slots and power)")
        return self

    @property
    def valued_kpis(self) -> dict[str, str]:
        """KPI -> the unit value that applies to it."""
        return {link.kpi: vid for vid, v in self.values.items() for link in v.kpis}

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
            "must be a mapping with keys values, costs (and optionally currency, not_valued, scale_up)",
            value=type(data).__name__,
        )
    from simulation.results.kpis import CATALOGUE

    uv = parse_model(UnitValues, {**data, "source": str(p)}, p, DecideError)
    for vid, v in uv.values.items():
        for i, link in enumerate(v.kpis):
            k = CATALOGUE.get(link.kpi)
            if k is not None and k.better == "none":
                raise DecideError(
                    p,
                    "a context KPI (better: none) has no direction to value",
                    value=link.kpi,
                    key=f"values.{vid}.kpis[{i}].kpi",
                    allowed="KPIs with better higher or lower",
                )
            if link.per and link.per not in CONTEXT and link.per not in CATALOGUE:
                raise DecideError(
                    p,
                    "per must name a KPI or a district figure",
                    value=link.per,
                    key=f"values.{vid}.kpis[{i}].per",
                    allowed=", ".join(CONTEXT) + " or a KPI of the catalogue",
                )
    return uv
