"""Scenario YAML -> validated, frozen :class:`Scenario`. All validation happens here, at load.

A scenario says what to run: which district, when and for how long, with which seed and how many
replications, how much demand, which faults and events at which clock times, and which services.
``extends:`` inherits from another scenario file (mappings merge, ``services`` merge by name,
other lists replace).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, model_validator

from simulation._files import project_path
from simulation.config._yaml import Strict, parse_model, read_yaml
from simulation.config.district import District, load_district
from simulation.errors import DistrictError, ScenarioError

__all__ = [
    "SCENARIOS_DIR",
    "ControlCentreSpec",
    "Duration",
    "FaultSpec",
    "Scenario",
    "ServiceSpec",
    "list_scenarios",
    "load_scenario",
    "parse_duration",
]

SCENARIOS_DIR = Path(__file__).resolve().parents[2] / "scenarios"
_DUR = re.compile(
    r"^\s*(?:(\d+(?:\.\d+)?)\s*d)?\s*(?:(\d+(?:\.\d+)?)\s*h)?\s*(?:(\d+(?:\.\d+)?)\s*m)?\s*(?:(\d+(?:\.\d+)?)\s*s)?\s*$"
)


#: Bounds on what a scenario file may ask for, checked at load (see docs/security.md, "Limits").
MAX_DURATION_S = 31 * 86400  # a run: at most 31 days (memory grows with simulated time)
MAX_ANY_DURATION_S = 366 * 86400  # any duration or offset in a file
MAX_SEED = 2**63 - 1  # seeds are stored as signed 64-bit integers
START_YEARS = (2000, 2100)  # calendar, sun and holidays are modelled for these years
MAX_SERVICES = 64  # each sandboxed service is a process
MAX_FAULTS = 1000
MAX_INCIDENTS_PER_DAY = 20_000  # incidents simulated a day (the rate is scaled by population_scale)


def parse_duration(value: Any) -> float:
    """``"24h"``, ``"90m"``, ``"1h30m"``, ``"45s"`` or a number of seconds -> seconds (at most 366 days)."""
    if isinstance(value, bool):
        raise ValueError("a duration like '24h', '90m' or '30s'")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError("a duration must be a finite number of seconds")
        if value < 0:
            raise ValueError("a duration must not be negative")
        seconds = float(value)
    elif isinstance(value, str) and len(value) <= 40 and (m := _DUR.match(value)) and any(m.groups()):
        d, h, mi, s = (float(g) if g else 0.0 for g in m.groups())
        seconds = d * 86400 + h * 3600 + mi * 60 + s
    else:
        raise ValueError("a duration like '24h', '90m', '1h30m' or '30s'")
    if seconds > MAX_ANY_DURATION_S:
        raise ValueError(f"a duration may be at most 366 days ({MAX_ANY_DURATION_S:,} s); got {value!r}")
    return seconds


def _fmt_duration(seconds: float) -> str:
    s = int(seconds)
    if s != seconds:
        return f"{seconds}s"
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return "".join(f"{v}{u}" for v, u in ((h, "h"), (m, "m"), (s, "s")) if v) or "0s"


Duration = Annotated[float, BeforeValidator(parse_duration), PlainSerializer(_fmt_duration)]
Fraction = Annotated[float, Field(ge=0, le=1)]


# --------------------------------------------------------------------------- demand
def _check_mix(mix: Mapping[Any, float]) -> None:
    if any(v < 0 for v in mix.values()) or sum(mix.values()) <= 0:
        raise ValueError(f"mix weights must be >= 0 with a positive sum; got {dict(mix)}")


class ConnectivityDemand(Strict):
    """Citizens' data sessions (per-session demand: vendor capacity guides; the rate is calibrated, docs/sources.md)."""

    sessions_per_person_per_day: float = Field(
        default=2.0, ge=0, le=200, description="calibrated: ~0.5 served public-WiFi uses per person a day (2024)"
    )
    mean_session_min: float = Field(default=10.0, gt=0, le=1440)
    mix: dict[Literal["web", "sd_video", "hd_video", "uhd_video"], float] = Field(
        default_factory=lambda: {"web": 0.6, "sd_video": 0.25, "hd_video": 0.13, "uhd_video": 0.02}  # type: ignore[arg-type]
    )
    wifi_preference: Fraction = Field(default=0.6, description="share of sessions that try WiFi")
    event_use_factor: float = Field(
        default=4.0, ge=1, description="use per person at a festival crowd, times the usual (judgement)"
    )

    @model_validator(mode="after")
    def _mix(self) -> ConnectivityDemand:
        _check_mix(self.mix)
        return self


class SafetyDemand(Strict):
    """Incidents and the control centre. ``arrival: poisson`` + exponential handling = M/M/c."""

    incidents_per_day: float = Field(default=36.0, ge=0, le=1_000_000)
    arrival: Literal["by_hour", "poisson"] = "by_hour"
    mix: dict[Literal["crime", "accident", "fall", "fire"], float] = Field(
        default_factory=lambda: {"crime": 0.45, "accident": 0.3, "fall": 0.2, "fire": 0.05}  # type: ignore[arg-type]
    )
    handling_time_s: float = Field(default=150.0, gt=0, le=86_400)
    handling: Literal["exponential", "lognormal"] = "lognormal"
    operators: int | None = Field(default=None, ge=1, le=1000, description="fixed operators (overrides shifts)")
    all_to_queue: bool = Field(
        default=False, description="every incident enters the operator queue when it occurs (theory checks)"
    )
    false_alarms_per_ai_camera_per_day: float = Field(default=0.5, ge=0, le=1000)
    call_delay_min: float = Field(default=6.0, gt=0, le=1440, description="mean time until a citizen reports it")
    call_probability: Fraction = 0.7

    @model_validator(mode="after")
    def _mix(self) -> SafetyDemand:
        _check_mix(self.mix)
        return self


LandUseMap = dict[Literal["residential", "commercial", "office", "industrial", "mixed", "park"], float]


class EnvironmentDemand(Strict):
    """Air quality, heat and noise fields, S-DoT sensors, exposure and alerts (judgement unless noted)."""

    grid_m: float = Field(default=100.0, ge=25, le=500, description="field grid spacing, m")
    step_min: float = Field(default=10.0, ge=1, le=60, description="field time step, min")
    background_pm25: float = Field(default=18.0, gt=0, description="urban background PM2.5, µg/m³")
    pm10_ratio: float = Field(default=1.7, ge=1, description="PM10 / PM2.5 away from roads")
    traffic_pm25: float = Field(default=4.0, ge=0, description="PM2.5 added at an arterial kerb, µg/m³ (traffic 1)")
    land_use_pm25: LandUseMap = Field(
        default_factory=lambda: {"industrial": 4.0, "commercial": 1.5, "mixed": 0.8, "park": -2.0},  # type: ignore[arg-type]
        description="PM2.5 added by a land use over its blocks, µg/m³",
    )
    spatial_sd: float = Field(default=0.12, ge=0, le=1, description="sd of the log of the correlated PM field")
    correlation_m: float = Field(default=300.0, gt=0, description="correlation length of that field, m")
    day_sd: float = Field(default=0.25, ge=0, le=1.5, description="sd of the log of the day's background")
    temperature_mean_c: float | None = Field(default=None, description="daily mean; None: Seoul normal of the month")
    temperature_amplitude_c: float = Field(default=5.0, ge=0, description="half the day's range, °C")
    humidity_mean_pct: float = Field(default=60.0, ge=5, le=100)
    heat_wave_delta_c: float = Field(default=7.0, ge=0, description="a heat wave adds this to the temperature, °C")
    heat_wave_pm_factor: float = Field(default=1.25, ge=1, description="secondary (ozone-ish) PM in a heat wave")
    washout_mm_h_half: float = Field(default=20.0, gt=0, description="rain that halves PM in an hour, mm/h")
    recovery_h: float = Field(default=4.0, gt=0, description="time constant of PM recovery after rain, h")
    indoor_factor: Fraction = Field(default=0.6, description="indoor / outdoor PM2.5 ratio")
    shelter_factor: Fraction = Field(default=0.35, description="indoor ratio when sheltering after an alert")
    comply_probability: Fraction = Field(default=0.5, description="share of people alerted who comply")
    shelter_min: float = Field(default=120.0, gt=0, description="how long a complying person stays in, min")
    alert_threshold_pm25: float = Field(
        default=35.0, gt=0, description="PM2.5 above which an alert is warranted, µg/m³ (Korean 'bad' from 36)"
    )
    sensor_noise_pct: float = Field(default=15.0, ge=0, description="grade-2 dust sensor noise, % of reading")
    sensor_drift_per_day: float = Field(default=2.0, ge=0, description="sd of each sensor's PM drift, µg/m³ per day")
    sensor_outages_per_day: float = Field(default=0.3, ge=0, le=100, description="random outages per sensor per day")
    sensor_outage_mean_min: float = Field(default=90.0, gt=0)


class LogisticsDemand(Strict):
    """Parcels and food deliveries, the conventional vans and couriers, and fleets' rules (judgement)."""

    parcels_per_resident_per_day: float = Field(default=0.25, ge=0, le=10, description="~5 bn parcels/yr in Korea")
    parcels_per_job_per_day: float = Field(default=0.08, ge=0, le=10)
    food_per_person_per_day: float = Field(default=0.03, ge=0, le=10, description="food orders per person present")
    parcel_deadline_h: float = Field(default=8.0, gt=0)
    food_deadline_min: float = Field(default=45.0, gt=0)
    parcel_value_krw: float = Field(default=3000.0, ge=0, description="delivery fee")
    food_value_krw: float = Field(default=3500.0, ge=0, description="delivery fee")
    van_waves: tuple[str, ...] = Field(
        default=("09:00", "13:00", "17:00"), max_length=48, description="van departures from hubs"
    )
    van_capacity: int = Field(default=120, ge=1, le=100_000, description="parcels per van tour")
    van_speed_m_s: float = Field(default=5.5, gt=0, description="20 km/h in town, stops excluded")
    van_stop_min: float = Field(default=3.0, ge=0, description="park, walk, hand over")
    courier_speed_m_s: float = Field(default=6.0, gt=0, description="motorbike food courier")
    food_prep_min: float = Field(default=12.0, ge=0)
    handover_min: float = Field(default=2.0, ge=0)
    rain_speed_factor: Fraction = Field(default=0.85, description="road speeds in heavy rain")
    rain_food_factor: float = Field(default=1.3, ge=0, le=10, description="food orders in heavy rain, relative")
    festival_orders_per_visitor: float = Field(
        default=0.05, ge=0, le=10, description="extra food orders per festival visitor"
    )
    fallback_min: float = Field(default=20.0, gt=0, description="a request a fleet leaves undispatched goes to vans")
    no_fly_radius_m: float = Field(default=150.0, ge=0, description="no-fly circle around control centre and police")
    no_fly_blocks: tuple[str, ...] = Field(default=(), description="blocks drones may not overfly")
    drone_max_rain_mm_h: float = Field(default=5.0, ge=0, description="rain above this grounds drones")
    drone_charge_min: float = Field(default=40.0, gt=0, description="empty to full at a dock")
    robot_charge_min: float = Field(default=90.0, gt=0, description="empty to full at an EV charger")
    stop_min: float = Field(default=1.0, ge=0, description="a fleet unit's pick-up or drop-off")

    @model_validator(mode="after")
    def _waves(self) -> LogisticsDemand:
        for w in self.van_waves:
            m = re.fullmatch(r"(\d{1,2}):(\d{2})", w.strip())
            if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
                raise ValueError(f"van_waves must be clock times 'HH:MM'; got {w!r}")
        return self


class MobilityDemand(Strict):
    """Arriving cars: parking search and EV charging at S-Pole chargers (judgement unless noted)."""

    drive_share_workers: Fraction = 0.35
    drive_share_visitors: Fraction = 0.3
    spaces_per_ha: LandUseMap = Field(
        default_factory=lambda: {  # type: ignore[arg-type]
            "commercial": 60.0,
            "office": 80.0,
            "mixed": 40.0,
            "residential": 30.0,
            "industrial": 40.0,
            "park": 10.0,
        },
        description="kerb, public and building parking open to arriving drivers, spaces per hectare of block",
    )
    base_occupancy: Fraction = Field(default=0.4, description="spaces taken by residents and others all day")
    search_min_per_block: float = Field(default=0.6, gt=0, description="cruising time to check one block, min")
    ev_share: Fraction = Field(default=0.08, description="arriving cars that are electric")
    ev_charge_share: Fraction = Field(default=0.35, description="EVs that want to charge here")
    ev_session_min: float = Field(default=45.0, gt=0, description="mean session (a charge in under an hour)")
    charger_walk_m: float = Field(default=400.0, gt=0, description="farthest charger a driver will use")
    visitors_drop_in_heavy_rain: Fraction = Field(default=0.3, description="visitors who stay away in heavy rain")


class EnergyDemand(Strict):
    """Energy accounting and the safety cost of darkness (judgement unless noted)."""

    lit_threshold: Fraction = Field(default=0.3, description="light level that counts as lit")
    lit_radius_m: float = Field(default=80.0, gt=0, description="poles within this of a block light it")
    dark_incident_uplift: float = Field(
        default=0.25,
        ge=0,
        le=2,
        description="extra crime and accidents where unlit at night (cf. ~21% less crime "
        "with better lighting, Welsh & Farrington 2008)",
    )


class Demand(Strict):
    """Demand per domain; every field has a documented default."""

    connectivity: ConnectivityDemand = Field(default_factory=ConnectivityDemand)
    safety: SafetyDemand = Field(default_factory=SafetyDemand)
    environment: EnvironmentDemand = Field(default_factory=EnvironmentDemand)
    logistics: LogisticsDemand = Field(default_factory=LogisticsDemand)
    mobility: MobilityDemand = Field(default_factory=MobilityDemand)
    energy: EnergyDemand = Field(default_factory=EnergyDemand)


class ControlCentreSpec(Strict):
    """The control centres: the district (gu) centre's operators and the city centre above it.

    Operators on duty = ``centre_cameras`` / ``cameras_per_operator`` (sources.md: one operator watches
    about 1,200 cameras; about 160,000 cameras over 25 district centres ≈ 6,400 each), per shift.
    The district centre also serves the jobs of its other cameras (outside the pilot district);
    a linked district passes emergency and urgent jobs still waiting after ``escalate_after_s`` up to
    the city centre, which also takes the escalations of the other linked districts.
    """

    cameras_per_operator: float = Field(default=1200.0, gt=0, description="sources.md: ~1,200 cameras per operator")
    centre_cameras: int | None = Field(
        default=None, ge=1, description="cameras the district centre watches; None: 6,400 (160,000 / 25, sources.md)"
    )
    night_staffing: float = Field(default=1.0, gt=0, le=2, description="night shift / day shift (judgement: 24/7)")
    other_jobs_per_camera_per_day: float = Field(
        default=0.3, ge=0, description="operator jobs from the centre's other cameras (judgement)"
    )
    linked: bool | None = Field(
        default=None, description="this district linked to the city centre; None: district.yaml 'integrated'"
    )
    linked_districts: int = Field(default=15, ge=1, le=25, description="districts linked to the city (plan: 15 -> 25)")
    city_operators: int = Field(default=4, ge=1, description="operators at the city centre (judgement)")
    city_jobs_per_district_per_day: float = Field(
        default=60.0, ge=0, description="escalations a linked district sends up a day (judgement)"
    )
    escalate_after_s: float = Field(default=60.0, gt=0, description="wait before an urgent job goes up (judgement)")


# --------------------------------------------------------------------------- faults
class FaultSpec(Strict):
    """A fault or event at a clock time (``"14:30"``) or offset (``"+2h"``) for a duration."""

    kind: Literal["fibre_cut", "power_outage", "heavy_rain", "heat_wave", "festival_crowd", "pollution_episode"]
    at: str
    duration: Duration
    link: str | None = None
    poles: tuple[str, ...] = ()
    intensity_mm_h: float | None = Field(default=None, gt=0, le=500)
    extra_visitors: int | None = Field(default=None, ge=1, le=1_000_000)
    block: str | None = None
    pm25_ug_m3: float | None = Field(default=None, gt=0, description="pollution_episode: PM2.5 it adds at its peak")
    radius_m: float | None = Field(default=None, gt=0, description="pollution_episode at a block: its reach")

    @model_validator(mode="after")
    def _targets(self) -> FaultSpec:
        need = {"fibre_cut": "link", "power_outage": "poles"}.get(self.kind)
        if need == "link" and not self.link:
            raise ValueError("a fibre_cut needs 'link' (the id of a fibre link)")
        if need == "poles" and not self.poles:
            raise ValueError("a power_outage needs 'poles' (a list of pole ids)")
        if self.kind == "festival_crowd" and not self.extra_visitors:
            raise ValueError("a festival_crowd needs 'extra_visitors'")
        return self


# --------------------------------------------------------------------------- services
class ServiceSpec(Strict):
    """A service in the run: ``use`` is ``builtin:NAME``, a plugin folder, or an installed name."""

    use: str
    name: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    isolation: Literal["sandbox", "inline"] | None = None

    @property
    def key(self) -> str:
        """The name this service has in the run."""
        return self.name or self.use.split(":", 1)[-1].rstrip("/").split("/")[-1]


class Scenario(Strict):
    """A resolved, validated scenario. Build with :func:`load_scenario`."""

    name: str
    description: str = ""
    district: str
    start: datetime = datetime(2026, 5, 12, 0, 0)
    duration: Duration = 86400.0
    seed: int = Field(default=1, ge=0, le=MAX_SEED)
    replications: int = Field(default=5, ge=1, le=1000)
    population_scale: float = Field(default=1.0, gt=0, le=10)
    tick: Duration = Field(default=60.0, description="decision interval for services")
    demand: Demand = Field(default_factory=Demand)
    control_centre: ControlCentreSpec = Field(default_factory=ControlCentreSpec)
    faults: tuple[FaultSpec, ...] = Field(default=(), max_length=MAX_FAULTS)
    services: tuple[ServiceSpec, ...] = Field(default=(), max_length=MAX_SERVICES)
    source: str = Field(default="", description="file it was loaded from (set by the loader)")

    @model_validator(mode="after")
    def _check(self) -> Scenario:
        if self.duration <= 0:
            raise ValueError("duration must be > 0")
        if self.duration > MAX_DURATION_S:
            raise ValueError(
                f"duration must be at most 31 days ({MAX_DURATION_S:,} s); got {_fmt_duration(self.duration)}"
            )
        if not START_YEARS[0] <= self.start.year <= START_YEARS[1]:
            raise ValueError(f"start must be in the years {START_YEARS[0]} to {START_YEARS[1]}; got {self.start}")
        if self.start.tzinfo is not None:
            raise ValueError(f"start is a local (Seoul) time without a time zone; got {self.start}")
        incidents = self.demand.safety.incidents_per_day * self.population_scale
        if incidents > MAX_INCIDENTS_PER_DAY:
            raise ValueError(
                f"demand.safety.incidents_per_day × population_scale must be at most {MAX_INCIDENTS_PER_DAY:,} "
                f"incidents a day; got {incidents:,.0f}"
            )
        if self.seed + self.replications - 1 > MAX_SEED:
            raise ValueError(
                f"seed + replications - 1 must fit a 64-bit integer (at most {MAX_SEED}); got seed {self.seed}"
            )
        if not 1 <= self.tick <= 3600:
            raise ValueError("tick must be between 1s and 1h")
        keys = [s.key for s in self.services]
        dup = {k for k in keys if keys.count(k) > 1}
        if dup:
            raise ValueError(f"two services share the name {sorted(dup)[0]!r}; give one a 'name'")
        return self

    def fault_offset(self, fault: FaultSpec) -> float:
        """Seconds from the scenario start at which ``fault`` begins."""
        return _offset(fault.at, self.start)

    @property
    def digest(self) -> str:
        """Hash of what a run of this scenario depends on.

        Leaves out the source path, the description, and ``seed``/``replications``: a run is
        identified by its own seed, so asking for more replications reuses the runs already made.
        """
        payload = self.model_dump(mode="json", exclude={"source", "description", "seed", "replications"})
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def with_(self, **changes: Any) -> Scenario:
        """A re-validated copy with top-level fields changed."""
        data = self.model_dump(mode="json")
        data.update(changes)
        return parse_model(Scenario, data, self.source or self.name, ScenarioError)


def _offset(at: str, start: datetime) -> float:
    at = at.strip()
    if at.startswith("+"):
        return parse_duration(at[1:])
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", at)
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError("'at' must be a clock time 'HH:MM' or an offset like '+2h'")
    t = start.replace(hour=int(m.group(1)), minute=int(m.group(2)), second=0, microsecond=0)
    if t < start:
        t += timedelta(days=1)
    return (t - start).total_seconds()


# --------------------------------------------------------------------------- loading
def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(base[k], v) if k in base and k != "services" else v
            if k == "services" and k in base:
                out[k] = _merge_services(base[k], v)
        return out
    return over


def _merge_services(base: Any, over: Any) -> Any:
    if not isinstance(base, list) or not isinstance(over, list):
        return over

    def key(s: Any) -> Any:
        return (
            (s.get("name") or str(s.get("use", "")).split(":", 1)[-1].rstrip("/").split("/")[-1])
            if isinstance(s, dict)
            else None
        )

    out = list(base)
    for s in over:
        k = key(s)
        idx = next((i for i, b in enumerate(out) if key(b) == k), None)
        if isinstance(s, dict) and s.get("remove") is True:
            if idx is not None:
                out.pop(idx)
            continue
        if idx is None:
            out.append(s)
        else:
            out[idx] = _merge(out[idx], s)
    return out


def _raw(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    if path in chain:
        cycle = " -> ".join(p.name for p in (*chain, path))
        raise ScenarioError(
            chain[-1], f"'extends' makes a cycle ({cycle}); a scenario cannot extend itself", key="extends"
        )
    data = read_yaml(path, ScenarioError)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError(path, f"must be a mapping of keys to values; got {type(data).__name__}")
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str) or not plain_path(parent) or not parent.endswith((".yaml", ".yml")):
        raise ScenarioError(
            path,
            "must be a scenario file name ending in .yaml (a path of at most 1,024 characters, "
            "no control characters); "
            f"got {_short(parent)}",
            key="extends",
        )
    try:
        ppath = (path.parent / parent).resolve()
        found = ppath.is_file()
    except (OSError, ValueError) as exc:
        raise ScenarioError(
            path, f"cannot be opened ({type(exc).__name__}); got {_short(parent)}", key="extends"
        ) from None
    if not found:
        raise ScenarioError(path, f"no scenario file {parent!r} next to this one", key="extends")
    inherited = _raw(ppath, (*chain, path))
    if ppath.parent != path.parent:
        _rebase_uses(inherited, ppath.parent, path.parent)
    return _merge(inherited, data)


def plain_path(text: str) -> bool:
    """A path a file may name: not empty, at most 1,024 characters, no control characters, parts under 256 bytes."""
    return (
        0 < len(text) <= 1024
        and not any(ord(c) < 32 or ord(c) == 127 for c in text)
        and all(len(part.encode("utf-8", "surrogatepass")) < 256 for part in text.split("/"))
    )


def _short(v: Any, limit: int = 80) -> str:
    text = repr(v)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _rebase_uses(data: dict[str, Any], src: Path, dst: Path) -> None:
    """Plugin folders named relative to a parent file stay pointing at the same folder."""
    services = data.get("services")
    if not isinstance(services, list):
        return
    for s in services:
        use = s.get("use") if isinstance(s, dict) else None
        if isinstance(use, str) and plain_path(use) and ":" not in use and not Path(use).is_absolute():
            with contextlib.suppress(OSError, ValueError):
                if (src / use).exists():
                    s["use"] = os.path.relpath((src / use).resolve(), dst)


def load_scenario(path: str | Path, **overrides: Any) -> Scenario:
    """Load, resolve ``extends``, validate, and cross-check against the district."""
    p = Path(path)
    try:
        p = project_path(path)
        if not p.is_file() and not p.suffix and (SCENARIOS_DIR / f"{p}.yaml").is_file():
            p = SCENARIOS_DIR / f"{p}.yaml"
        if not p.is_file():
            raise ScenarioError(p, "file not found")
        p = p.resolve()
    except (OSError, ValueError) as exc:
        raise ScenarioError(
            str(p)[:200], f"cannot be opened ({getattr(exc, 'strerror', None) or type(exc).__name__})"
        ) from None
    data = _raw(p, ())
    data.setdefault("name", p.stem)
    data.update({k: v for k, v in overrides.items() if v is not None})
    data["source"] = str(p)
    sc = parse_model(Scenario, data, p, ScenarioError)
    district = scenario_district(sc)
    check_against_district(sc, district)
    return sc


def scenario_district(sc: Scenario) -> District:
    """Load the scenario's district, reporting a bad name as a scenario error."""
    try:
        return load_district(sc.district)
    except DistrictError as exc:
        if exc.msg.startswith("no such district"):
            raise ScenarioError(sc.source or sc.name, exc.msg + f"; got {sc.district!r}", key="district") from None
        raise


def check_against_district(sc: Scenario, d: District) -> None:
    """Faults must name links, poles and blocks that exist and happen inside the run."""
    where = sc.source or sc.name
    for i, f in enumerate(sc.faults):
        key = f"faults[{i}]"
        try:
            off = sc.fault_offset(f)
        except ValueError as exc:
            raise ScenarioError(where, f"{exc}; got {f.at!r}", key=f"{key}.at") from None
        if off >= sc.duration:
            raise ScenarioError(
                where,
                f"starts {_fmt_duration(off)} after the start, outside the run of {_fmt_duration(sc.duration)}; "
                f"got {f.at!r}",
                key=f"{key}.at",
            )
        if f.link is not None and f.link not in d.link_by_id:
            sample = ", ".join(lk.id for lk in d.links if lk.level == "trunk")
            raise ScenarioError(
                where, f"no fibre link {f.link!r} in district {d.name!r} (trunk links: {sample})", key=f"{key}.link"
            )
        for pid in f.poles:
            if pid not in d.pole_by_id:
                raise ScenarioError(where, f"no pole {pid!r} in district {d.name!r}", key=f"{key}.poles")
        if f.block is not None and f.block not in {b.id for b in d.blocks}:
            raise ScenarioError(where, f"no block {f.block!r} in district {d.name!r}", key=f"{key}.block")
    blocks = {b.id for b in d.blocks}
    for b in sc.demand.logistics.no_fly_blocks:
        if b not in blocks:
            raise ScenarioError(where, f"no block {b!r} in district {d.name!r}", key="demand.logistics.no_fly_blocks")


def list_scenarios(root: Path | None = None) -> list[Path]:
    """Scenario files under ``scenarios/`` (not studies)."""
    root = root or SCENARIOS_DIR
    return sorted(root.glob("*.yaml"))
