"""Calibration: the model's outputs beside the published figures they should match.

Each :class:`Figure` names a published value (docs/sources.md says where it was published, or
that it is judgement), a tolerance band, the baseline it is measured on, and how to measure it
on a finished world. :func:`validate` runs the baselines and returns one :class:`Check` per
figure. ``python -m simulation validate`` prints them (simulation/cli/validate.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from simulation.errors import SandboxError

if TYPE_CHECKING:
    from simulation.world import World

__all__ = ["BASELINES", "FIGURES", "Check", "Figure", "validate"]

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
#: The shipped baselines the figures are measured on: a business district and a residential one.
BASELINES = {"business": SCENARIOS / "sangam_baseline.yaml", "residential": SCENARIOS / "seongsu_baseline.yaml"}


@dataclass(frozen=True)
class Figure:
    """A published figure, its tolerance band, the baseline it is measured on, and how."""

    key: str
    name: str
    unit: str
    published: float
    low: float
    high: float
    source: str
    judgement: bool
    baseline: str  # a key of BASELINES
    measure: Callable[[World], float]


@dataclass(frozen=True)
class Check:
    """One figure measured: the model's value beside the published one."""

    key: str
    name: str
    unit: str
    scenario: str
    model: float
    published: float
    low: float
    high: float
    source: str
    judgement: bool

    @property
    def ok(self) -> bool:
        """Inside the tolerance band (inclusive)."""
        return not math.isnan(self.model) and self.low <= self.model <= self.high

    def to_json(self) -> dict[str, Any]:
        """The check as JSON (NaN as null)."""
        d = asdict(self)
        d["model"] = None if math.isnan(self.model) else round(self.model, 4)
        d["pass"] = self.ok
        return d


def _people(w: World) -> float:
    p = w.d.meta.population
    return (p.residents + p.workers + p.visitors) * w.sc.population_scale


def _days(w: World) -> float:
    return w.sc.duration / 86400.0


def _wifi_per_person(w: World) -> float:
    return sum(w.conn.rec_served) / _people(w) / _days(w)


def _wifi_per_ap(w: World) -> float:
    return sum(w.conn.rec_served) / max(1, len(w.conn.aps)) / _days(w)


def _cameras_per_operator(w: World) -> float:
    return w.safety.centre_cameras / w.safety.mean_operators


def _incidents_per_1000(w: World) -> float:
    return len(w.safety.incidents) / _people(w) * 1000 / _days(w)


def _pm25_mean(w: World) -> float:
    vals = [v for _t, m, v in w.series.rows if m == "environment.pm25_mean"]
    return float(np.mean(vals)) if vals else math.nan


def _light_kwh_per_pole(w: World) -> float:
    return float(w.energy_kwh) / max(1, len(w.d.poles)) / _days(w)


def _parcels_per_resident(w: World) -> float:
    parcels = sum(1 for r in w.logistics.requests if r.kind == "parcel")
    return parcels / max(1.0, w.d.meta.population.residents * w.sc.population_scale) / _days(w)


def _sdot_variables(w: World) -> float:
    env = w.environment
    if not env.sensors:
        return math.nan
    reading = env.readings(0)[0]
    meta = {"sensor", "serial", "model", "time_s", "measured_at", "x", "y"}
    return float(sum(1 for k, v in reading.items() if k not in meta and isinstance(v, int | float)))


def _sdot_interval(w: World) -> float:
    from simulation.world.environment import SENSOR_INTERVAL_S

    return SENSOR_INTERVAL_S if w.environment.sensors else math.nan


def _van_km_per_parcel(w: World) -> float:
    by_van = sum(1 for r in w.logistics.requests if r.by == "van")
    return w.logistics.van_km / by_van if by_van else math.nan


FIGURES: tuple[Figure, ...] = (
    Figure("wifi_uses_per_person_day", "public WiFi uses per person a day", "uses/person/day", 0.50, 0.375, 0.625,
           "1.287 bn uses in 2024 by 74.5% of ~9.4 M citizens (Chosun Biz, 2025-08)", False, "business",
           _wifi_per_person),
    Figure("wifi_sessions_per_ap_day", "public WiFi sessions per AP a day", "sessions/AP/day", 104.0, 60.0, 160.0,
           "1.287 bn uses over 34,000 APs in 2024 (Chosun Biz, 2025-08); depends on AP density", False, "business",
           _wifi_per_ap),
    Figure("cameras_per_operator", "cameras per control-centre operator", "cameras", 1200.0, 900.0, 1500.0,
           "one operator watches ~1,200 cameras (etnews)", False, "business", _cameras_per_operator),
    Figure("incidents_per_1000_day", "incidents per 1,000 people a day", "incidents", 1.28, 0.8, 1.8,
           "judgement: ~12,000 police calls a day over ~9.4 M people", True, "business", _incidents_per_1000),
    Figure("pm25_may_mean", "PM2.5, mean of a May day", "µg/m³", 21.0, 12.0, 32.0,
           "judgement: Seoul's PM2.5 runs ~20 µg/m³ a year, spring higher; one day varies widely", True,
           "residential", _pm25_mean),
    Figure("streetlight_kwh_per_pole_day", "streetlight energy per pole a day (May)", "kWh", 1.3, 0.9, 1.8,
           "judgement: 120 W LED head × ~11 h of May darkness", True, "business", _light_kwh_per_pole),
    Figure("parcels_per_person_day", "parcels per resident a day", "parcels", 0.27, 0.19, 0.35,
           "~5 bn parcels a year in Korea over ~51 M people (judgement from industry totals)", True, "residential",
           _parcels_per_resident),
    Figure("sdot_variables", "S-DoT variables per reading", "variables", 17.0, 17.0, 20.0,
           "17 data types (etoday, Kongsberg); the published CSV adds corrected PM2.5/PM10 and maxima", False,
           "residential", _sdot_variables),
    Figure("sdot_interval_s", "S-DoT reading interval", "s", 120.0, 120.0, 120.0,
           "one reading every 2 minutes (etoday, Kongsberg)", False, "residential", _sdot_interval),
    Figure("van_km_per_parcel", "delivery van km per parcel", "km", 0.12, 0.05, 0.3,
           "judgement: a courier's van delivers ~250 parcels over ~20-40 km in a dense district", True, "business",
           _van_km_per_parcel),
)  # fmt: skip


def figures(keys: Sequence[str] | None = None) -> list[Figure]:
    """The figures to check (all, or those named); an unknown name is an error naming the known ones."""
    if not keys:
        return list(FIGURES)
    known = {f.key: f for f in FIGURES}
    bad = [k for k in keys if k not in known]
    if bad:
        raise SandboxError(f"no figure {bad[0]!r}; figures: {', '.join(known)}")
    return [known[k] for k in keys]


def validate(
    figs: Sequence[Figure],
    seed: int | None = None,
    scenarios: dict[str, Path | str] | None = None,
    progress: Callable[[str, float], None] | None = None,
) -> list[Check]:
    """Run each needed baseline once (``scenarios`` replaces the shipped ones) and measure the figures."""
    from simulation.config.scenario import load_scenario
    from simulation.results.run import build_world

    where = {**BASELINES, **(scenarios or {})}
    checks: list[Check] = []
    for base in dict.fromkeys(f.baseline for f in figs):
        sc = load_scenario(where[base])
        w = build_world(sc, seed)
        w.run((lambda frac, n=sc.name: progress(n, frac)) if progress else None)
        for f in figs:
            if f.baseline == base:
                value = float(f.measure(w))
                checks.append(
                    Check(f.key, f.name, f.unit, sc.name, value, f.published, f.low, f.high, f.source, f.judgement)
                )
    order = {f.key: i for i, f in enumerate(figs)}
    return sorted(checks, key=lambda c: order[c.key])
