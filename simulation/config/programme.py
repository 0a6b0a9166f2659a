"""The programme: the plan's yearly indicators and budget, the pilot districts by year, their services.

``config/programme.yaml`` is read by :func:`load_programme` into a frozen :class:`Programme`
(pydantic, strict: unknown keys are errors naming the file and the key). It holds

- ``indicators``: the plan's performance indicators with their yearly targets (``null`` = "-") and the
  district figure the sandbox measures each by (``measure``);
- ``budget``: the plan's investment lines, KRW million per year, and ``unit_costs`` that turn a
  pilot's infrastructure into spend against those lines;
- ``pilots``: each pilot district, the year it starts, where it comes from (``shipped``, ``imported``
  from OpenStreetMap, or a ``generated`` archetype with its size and land-use mix) and its services
  with their status (proposed -> piloting -> evaluated -> commercialised / stopped), optionally linked
  to a decision recorded in the store;
- ``run``: the simulated day every pilot's baseline and candidates get (seeds paired).

The format is documented in ``docs/programme.md``.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from simulation.config._yaml import Strict, parse_model, read_yaml
from simulation.config.district import DISTRICTS_DIR, LAND_USES
from simulation.config.scenario import Duration
from simulation.errors import ProgrammeError

__all__ = [
    "MEASURES",
    "STATUSES",
    "Archetype",
    "BudgetLine",
    "Indicator",
    "Pilot",
    "PilotService",
    "Programme",
    "load_programme",
]

PROGRAMME_FILE = Path(__file__).resolve().parents[2] / "config" / "programme.yaml"
STATUSES = ("proposed", "piloting", "evaluated", "commercialised", "stopped")
#: Statuses whose services the programme runs (evidence being gathered or just gathered).
RUN_STATUSES = ("piloting", "evaluated")
#: District figures an indicator can be measured by, summed (or counted) over the year's new pilots.
MEASURES = (
    "fibre_km",
    "aps",
    "cameras",
    "poles",
    "small_cell_districts",
    "iot_districts",
    "selective_control_districts",
    "integrated_districts",
    "pilot_districts",
    "safety_services",
)
BUILTIN_BASELINE = ("builtin:cctv_monitoring", "builtin:public_wifi", "builtin:streetlights")


class Indicator(Strict):
    """A performance indicator of the plan: its yearly targets and how the sandbox measures it."""

    id: str
    task: str = Field(description="the plan's detailed project, e.g. '1-1'")
    label: str
    unit: str
    targets: dict[int, float | None]
    measure: Literal[MEASURES] | None = None  # type: ignore[valid-type]
    note: str = ""


class BudgetLine(Strict):
    """An investment line of the plan, KRW million per year."""

    id: str
    label: str
    total: float = Field(ge=0)
    by_year: dict[int, float | None]

    @model_validator(mode="after")
    def _total(self) -> BudgetLine:
        s = sum(v or 0 for v in self.by_year.values())
        if abs(s - self.total) > 0.5:
            raise ValueError(f"by_year adds up to {s:g}, not the total {self.total:g}")
        return self


class UnitCosts(Strict):
    """KRW million per unit, each charged to a budget line (sources in docs/sources.md, Programme)."""

    ap: float = Field(ge=0)
    fibre_km: float = Field(ge=0)
    camera: float = Field(ge=0)
    pole: float = Field(ge=0)
    demonstration: float = Field(ge=0, description="one service pilot in one district")
    lines: dict[Literal["ap", "fibre_km", "camera", "pole", "demonstration"], str]


class Archetype(Strict):
    """A generated district: size, people and land-use mix (see simulation.config.generator)."""

    width_m: float = Field(ge=200, le=10_000)
    height_m: float = Field(ge=200, le=10_000)
    density: float = Field(ge=100, le=100_000, description="people per km², split 55/35/10")
    seed: int = Field(ge=0)
    ai_camera_share: float = Field(default=0.3, ge=0, le=1)
    integrated: bool = True
    land_use_mix: dict[str, float]

    @model_validator(mode="after")
    def _mix(self) -> Archetype:
        bad = [lu for lu in self.land_use_mix if lu not in LAND_USES]
        if bad:
            raise ValueError(f"land_use_mix has unknown land use {bad[0]!r}; allowed: {', '.join(LAND_USES)}")
        if sum(self.land_use_mix.values()) <= 0 or min(self.land_use_mix.values()) < 0:
            raise ValueError("land_use_mix needs shares >= 0, at least one > 0")
        return self


class PilotService(Strict):
    """A service in a pilot: a plugin folder under plugins/, its status and its recorded decision."""

    service: str
    status: Literal[STATUSES]  # type: ignore[valid-type]
    since: int
    decision: str | None = Field(default=None, description="id of a decision in STORE/decisions/")
    kpis: tuple[str, ...] = ()
    baseline_params: dict[str, dict[str, bool | int | float | str]] = Field(
        default_factory=dict,
        description="params of the city's own services while this one runs, by service (e.g. "
        "builtin:cctv_monitoring selective: false when the vendor does the flagging)",
    )

    @model_validator(mode="after")
    def _baseline_params(self) -> PilotService:
        bad = [k for k in self.baseline_params if k not in BUILTIN_BASELINE]
        if bad:
            raise ValueError(
                f"baseline_params names {bad[0]!r}, not one of the city's services: {', '.join(BUILTIN_BASELINE)}"
            )
        return self


class Pilot(Strict):
    """A pilot district: where it is, where its layout comes from, when it starts, its services."""

    name: str
    title: str
    year: int
    lat: float = Field(ge=37.4, le=37.72, description="Seoul: roughly 37.43-37.70 N")
    lon: float = Field(ge=126.76, le=127.19, description="Seoul: roughly 126.76-127.18 E")
    source: Literal["shipped", "imported", "generated"]
    folder: str | None = Field(default=None, description="district folder, relative to the programme file")
    archetype: Archetype | None = None
    services: tuple[PilotService, ...] = ()

    @model_validator(mode="after")
    def _source(self) -> Pilot:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", self.name):
            raise ValueError(f"name must be letters, digits, '_' or '-'; got {self.name!r}")
        if (self.source == "generated") != (self.archetype is not None):
            raise ValueError("a 'generated' pilot needs an archetype, and only a generated one has it")
        names = [s.service for s in self.services]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"service {sorted(dup)[0]!r} is listed twice")
        return self


class RunSettings(Strict):
    """The day each pilot's baseline and candidates are simulated (seeds paired across them)."""

    start: datetime = datetime(2026, 5, 12, 0, 0)
    duration: Duration = 86400.0
    seed: int = Field(default=1, ge=0)
    replications: int = Field(default=2, ge=1, le=100)
    population_scale: float = Field(default=1.0, gt=0, le=10)
    tick: Duration = 60.0


class Programme(Strict):
    """The whole programme file, validated."""

    name: str
    title: str
    source: str = Field(description="where the indicators and budget come from")
    years: tuple[int, ...]
    indicators: tuple[Indicator, ...]
    budget: tuple[BudgetLine, ...]
    unit_costs: UnitCosts
    run: RunSettings = Field(default_factory=RunSettings)
    pilots: tuple[Pilot, ...]
    path: str = Field(default="", description="file it was loaded from (set by the loader)")

    @model_validator(mode="after")
    def _check(self) -> Programme:
        years = set(self.years)
        for ind in self.indicators:
            if set(ind.targets) - years:
                raise ValueError(f"indicator {ind.id!r} has targets for years outside {sorted(years)}")
        for line in self.budget:
            if set(line.by_year) - years:
                raise ValueError(f"budget line {line.id!r} has years outside {sorted(years)}")
        ids = {b.id for b in self.budget}
        for what, line_id in self.unit_costs.lines.items():
            if line_id not in ids:
                known = ", ".join(sorted(ids))
                raise ValueError(f"unit_costs.lines.{what} names budget line {line_id!r}; lines: {known}")
        names = [p.name for p in self.pilots]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"pilot {sorted(dup)[0]!r} is listed twice")
        for p in self.pilots:
            if p.year not in years:
                raise ValueError(f"pilot {p.name!r} starts in {p.year}, outside the programme's years")
        return self

    def pilots_until(self, year: int) -> tuple[Pilot, ...]:
        """Pilots running in ``year`` (started that year or before)."""
        return tuple(p for p in self.pilots if p.year <= year)


def load_programme(path: str | Path | None = None) -> Programme:
    """Load and validate a programme file; check its districts, plugins and KPIs exist."""
    p = Path(path) if path is not None else PROGRAMME_FILE
    data = read_yaml(p, ProgrammeError)
    if isinstance(data, dict):
        data = {**data, "path": str(p)}
    prog = parse_model(Programme, data, p, ProgrammeError)
    plugins = PLUGINS_DIR
    for i, pilot in enumerate(prog.pilots):
        where = f"pilots[{i}] ({pilot.name})"
        if pilot.folder is not None:
            if not (district_folder(prog, pilot) / "district.yaml").is_file():
                raise ProgrammeError(p, f"no district.yaml in {district_folder(prog, pilot)}", key=f"{where}.folder")
        elif pilot.source != "generated" and not (DISTRICTS_DIR / pilot.name / "district.yaml").is_file():
            known = ", ".join(sorted(d.name for d in DISTRICTS_DIR.glob("*") if (d / "district.yaml").is_file()))
            raise ProgrammeError(p, f"no district {pilot.name!r} under districts/; known: {known}", key=where)
        for k, s in enumerate(pilot.services):
            if not (plugins / s.service / "plugin.yaml").is_file():
                known = ", ".join(sorted(d.name for d in plugins.glob("*") if (d / "plugin.yaml").is_file()))
                key = f"{where}.services[{k}]"
                raise ProgrammeError(p, f"no plugin {s.service!r} under plugins/; known: {known}", key=key)
    return prog


def district_folder(prog: Programme, pilot: Pilot) -> Path:
    """The folder of a shipped or imported pilot's district."""
    if pilot.folder is None:
        return DISTRICTS_DIR / pilot.name
    f = Path(pilot.folder)
    return f if f.is_absolute() else Path(prog.path).parent / f


PLUGINS_DIR = Path(__file__).resolve().parents[2] / "plugins"
