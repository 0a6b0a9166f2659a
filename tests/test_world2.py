"""World II: environment, logistics and mobility, energy, faults across domains, NGSI-LD export."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from simulation import ScenarioError, load_scenario, run_scenario, sdk
from simulation.cli.main import main
from simulation.config.district import load_district
from simulation.plugins.builtin import BUILTINS, BuiltinService
from simulation.results.export import validate
from simulation.results.kpis import compute_kpis
from simulation.results.run import build_world
from simulation.results.store import Store
from simulation.world import World
from tests.conftest import BASE_SERVICES, write_scenario

CCTV_WIFI = [{"use": "builtin:cctv_monitoring"}, {"use": "builtin:public_wifi"}]


# --------------------------------------------------------------------------- inline services
class NoOp(sdk.Service):
    """Deploys nothing, does nothing."""


class AirAlert(sdk.Service):
    """Sends one district-wide air-quality alert at 08:30."""

    def deploy(self, site: sdk.SiteView, params: Mapping[str, Any]) -> sdk.Deployment:
        self.sent = False
        return sdk.Deployment(feeds=("sdot.readings",))

    def on_tick(self, obs: sdk.Observation) -> Sequence[sdk.Action]:
        if self.sent or obs.time_s < 2.5 * 3600:
            return []
        self.sent = True
        return [sdk.Notify("air_quality", "PM2.5 episode coming: stay in", 0.0, 0.0, 3000.0)]


class DroneDelivery(sdk.Service):
    """Takes every request (market share 1) and flies what a drone can carry with an idle drone."""

    units = 4
    battery_min = 30.0

    def deploy(self, site: sdk.SiteView, params: Mapping[str, Any]) -> sdk.Deployment:
        self.queue: list[Mapping[str, Any]] = []
        self.rejections: list[str] = []
        self.fleet_seen: list[Mapping[str, Any]] = []
        fleet = (sdk.FleetUnit("drone", self.units, 12.0, self.battery_min, capex_krw_per_unit=15e6),)
        return sdk.Deployment(fleet=fleet, market_share=1.0)

    def on_tick(self, obs: sdk.Observation) -> Sequence[sdk.Action]:
        self.rejections += [f.reason for f in obs.feedback if not f.accepted]
        self.fleet_seen = list(obs.fleet)
        self.queue += [r for r in obs.feed("logistics.requests") if r["weight_kg"] <= 2.5]
        idle = [u["id"] for u in obs.fleet if u["state"] == "idle"]
        out: list[sdk.Action] = []
        while idle and self.queue:
            out.append(sdk.Dispatch(idle.pop(), self.queue.pop(0)["id"]))
        return out


class BigDroneFleet(DroneDelivery):
    units = 8
    battery_min = 8.0


class OneDrone(DroneDelivery):
    units = 1
    battery_min = 8.0


class Dimmer(sdk.Service):
    """Streetlights at 20% all night."""

    def deploy(self, site: sdk.SiteView, params: Mapping[str, Any]) -> sdk.Deployment:
        self.poles = tuple(p.id for p in site.poles)
        self.night: bool | None = None
        return sdk.Deployment(operates=("lights",))

    def on_tick(self, obs: sdk.Observation) -> Sequence[sdk.Action]:
        if (not obs.daylight) == self.night:
            return []
        self.night = not obs.daylight
        return [sdk.SetLight(self.poles, 0.2 if self.night else 0.0)]


class Mischief(sdk.Service):
    """Asks the world for impossible things and records why they were refused."""

    def deploy(self, site: sdk.SiteView, params: Mapping[str, Any]) -> sdk.Deployment:
        self.reasons: list[str] = []
        self.site = site
        self.done = False
        return sdk.Deployment(fleet=(sdk.FleetUnit("drone", 2, 10.0, 1.0),), market_share=1.0)

    def on_tick(self, obs: sdk.Observation) -> Sequence[sdk.Action]:
        self.reasons += [f.reason for f in obs.feedback if not f.accepted]
        reqs = obs.feed("logistics.requests")
        if self.done or not reqs:
            return []
        self.done = True
        light = min(reqs, key=lambda r: r["weight_kg"])["id"]
        units = [u["id"] for u in obs.fleet]
        dock = self.site.devices_of("drone_dock")[0].id
        charger = self.site.devices_of("ev_charger")[0].id
        return [
            sdk.Dispatch("someone-else:drone-1", light),
            sdk.Dispatch(units[0], "R-none"),
            sdk.Dispatch(units[0], light),  # 1 minute of battery: too far
            sdk.Reserve(charger, units[1], obs.time_s, 30),  # drones charge at docks
            sdk.Reserve(dock, units[1], obs.time_s, 0),
            sdk.Reserve("dock-none", units[1], obs.time_s, 30),
            sdk.Dispatch(["a", "list"], 5),  # type: ignore[arg-type] - garbage a sandboxed service could send
        ]


@pytest.fixture
def services(monkeypatch):
    for name, cls in {
        "noop": NoOp,
        "air_alert": AirAlert,
        "drones": DroneDelivery,
        "big_fleet": BigDroneFleet,
        "one_drone": OneDrone,
        "dimmer": Dimmer,
        "mischief": Mischief,
    }.items():
        monkeypatch.setitem(BUILTINS, name, BuiltinService(cls, name, "test"))  # type: ignore[index]


def _world(folder, name: str, data: dict, seed: int = 1) -> World:
    sc = load_scenario(write_scenario(folder, name, data))
    w = build_world(sc, seed)
    w.run()
    w.kpis = compute_kpis(w)  # type: ignore[attr-defined]
    return w


def _service(w: World, name: str) -> Any:
    return next(s for s in w.host.services if s.name == name).runner.service  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- environment
def test_alert_before_a_pollution_episode_lowers_exposure(tiny_district, tmp_path, services):
    base = {
        "district": str(tiny_district),
        "start": "2026-05-12T06:00",
        "duration": "8h",
        "demand": {"environment": {"comply_probability": 1.0, "shelter_min": 300}},
        "faults": [{"kind": "pollution_episode", "at": "09:00", "duration": "3h", "pm25_ug_m3": 80}],
    }
    quiet = _world(tmp_path, "quiet", base | {"services": [{"use": "builtin:noop"}]})
    alerted = _world(tmp_path, "alerted", base | {"services": [{"use": "builtin:air_alert"}]})
    q, a = quiet.kpis, alerted.kpis  # type: ignore[attr-defined]
    assert a["environment.mean_exposure"] < 0.9 * q["environment.mean_exposure"]
    assert a["environment.vulnerable_exposure"] < 0.9 * q["environment.vulnerable_exposure"]
    assert a["environment.alert_precision_pct"] == 100.0
    assert 0 < a["environment.alert_recall_pct"] < 100  # one alert covers the episode's first hours only
    assert math.isnan(q["environment.alert_precision_pct"])
    assert alerted.environment.alerts[0][5] > 0  # people complied
    # the field itself does not depend on who is told
    assert (quiet.environment.pm25 == alerted.environment.pm25).all()


def test_sdot_readings_carry_the_published_columns_only_for_subscribers(tiny_district, tmp_path, services):
    base = {"district": str(tiny_district), "start": "2026-05-12T08:00", "duration": "1h"}
    w = _world(tmp_path, "sub", base | {"services": [{"use": "builtin:air_alert"}]})
    n_sensors = len(load_district(tiny_district).devices_of("sensor"))
    assert w.environment._cursor == 30  # every 2-minute sample of the hour was built...
    r = w.environment.reading(0, 5)
    for col in ("pm25", "pm10", "temperature_c", "humidity_pct", "wind_direction_deg", "wind_speed_m_s",
                "gust_direction_deg", "gust_speed_m_s", "illuminance_lux", "uv_index", "noise_db",
                "vibration_x_mm_s", "vibration_z_max_mm_s", "black_globe_temperature_c", "pm25_corrected",
                "pm10_corrected"):  # fmt: skip
        assert isinstance(r[col], float), col
    assert r["measured_at"] == "202605120810"
    quiet = _world(tmp_path, "nosub", base | {"services": [{"use": "builtin:noop"}]})
    assert quiet.environment._cursor == 0  # ...and none without a subscriber
    assert n_sensors > 0


def test_rain_washes_pm_out_keeps_visitors_away_and_a_heat_wave_heats(tiny_district, tmp_path):
    base = {"district": str(tiny_district), "start": "2026-05-12T10:00", "duration": "6h", "services": BASE_SERVICES}
    dry = _world(tmp_path, "dry", base)
    wet = _world(
        tmp_path,
        "wet",
        base
        | {
            "faults": [
                {"kind": "heavy_rain", "at": "11:00", "duration": "4h", "intensity_mm_h": 30},
                {"kind": "heat_wave", "at": "10:00", "duration": "6h"},
            ]
        },
    )
    k = int(4 * 3600 / dry.environment.dt)
    assert wet.environment.pm25[k].mean() < 0.6 * dry.environment.pm25[k].mean()
    assert wet.environment.temp[1].mean() > dry.environment.temp[1].mean() + 5

    def absent(w: World) -> int:  # visitors who never come (after the run, or kept away by rain)
        return sum(1 for c in w.pop.citizens if c.kind == 2 and not c.plan)

    assert 0 < absent(wet) - absent(dry) < 0.3 * sum(1 for c in wet.pop.citizens if c.kind == 2)


def test_power_outage_and_fibre_cut_take_sensors_offline(tiny_district, tmp_path):
    d = load_district(tiny_district)
    sensor_poles = [s.pole for s in d.devices_of("sensor")]
    trunks = [lk.id for lk in d.links if lk.level == "trunk"]
    base = {
        "district": str(tiny_district),
        "start": "2026-05-12T10:00",
        "duration": "6h",
        "services": BASE_SERVICES,
        "demand": {"environment": {"sensor_outages_per_day": 0}},
    }
    ok = _world(tmp_path, "ok", base).kpis  # type: ignore[attr-defined]
    dark = base | {"faults": [{"kind": "power_outage", "poles": sensor_poles, "at": "11:00", "duration": "2h"}]}
    cut = base | {"faults": [{"kind": "fibre_cut", "link": t, "at": "11:00", "duration": "3h"} for t in trunks]}
    assert ok["environment.sensor_availability_pct"] == 100.0
    assert _world(tmp_path, "dark", dark).kpis["environment.sensor_availability_pct"] == pytest.approx(  # type: ignore[attr-defined]
        100 * 4 / 6, abs=0.5
    )
    assert _world(tmp_path, "cut", cut).kpis["environment.sensor_availability_pct"] == pytest.approx(  # type: ignore[attr-defined]
        100 * 3 / 6, abs=0.5
    )


# --------------------------------------------------------------------------- logistics and mobility
LOGISTICS = {"logistics": {"no_fly_radius_m": 0}}


def test_deliveries_take_longer_in_heavy_rain_when_drones_are_grounded(tiny_district, tmp_path, services):
    base = {
        "district": str(tiny_district),
        "start": "2026-05-12T10:00",
        "duration": "6h",
        "demand": LOGISTICS,
        "services": [{"use": "builtin:drones"}],
    }
    rain = [{"kind": "heavy_rain", "at": "10:00", "duration": "6h", "intensity_mm_h": 25}]
    dry = _world(tmp_path, "dry", base)
    wet = _world(tmp_path, "wet", base | {"faults": rain})
    assert dry.kpis["logistics.delivery_time_min"] < wet.kpis["logistics.delivery_time_min"] - 10  # type: ignore[attr-defined]
    assert dry.logistics.outcome()["by_fleet"] > 20
    assert wet.logistics.outcome()["by_fleet"] == 0
    assert any(r.startswith("drones are grounded: rain of 25 mm/h") for r in _service(wet, "drones").rejections)
    assert wet.weather()["drones_grounded"] is True


def test_a_dock_queue_forms_when_drones_outnumber_pads(tiny_district, tmp_path, services):
    base = {"district": str(tiny_district), "start": "2026-05-12T11:00", "duration": "3h", "demand": LOGISTICS}
    pads = sum(int(x.get("pads", 1)) for x in load_district(tiny_district).devices_of("drone_dock"))
    one = _world(tmp_path, "one", base | {"services": [{"use": "builtin:one_drone"}]})
    many = _world(tmp_path, "many", base | {"services": [{"use": "builtin:big_fleet"}]})
    assert BigDroneFleet.units > pads
    assert one.kpis["logistics.charge_wait_min"] == 0  # type: ignore[attr-defined]
    assert many.kpis["logistics.charge_wait_min"] > 1  # type: ignore[attr-defined]
    assert max(v for _t, m, v in many.series.rows if m == "logistics.charge_queue") >= 1
    states = {u["state"] for u in _service(many, "big_fleet").fleet_seen}
    assert states <= {"idle", "delivering", "returning", "queued", "charging"}


def test_a_reservation_keeps_a_pad_for_its_unit(tiny_district, tmp_path):
    sc = load_scenario(write_scenario(tmp_path, "r", {"district": str(tiny_district), "duration": "6h"}))

    def waits(reserve: bool) -> dict[str, float]:
        w = build_world(sc, 1)
        mob, env = w.mobility, w.env
        dock = next(c for c in mob.chargers.values() if c.kind == "drone_dock" and c.pads == 2)
        out: dict[str, float] = {}

        def unit(name: str, at: float, seconds: float):
            yield env.timeout(at)
            out[name] = yield from mob.charge(dock, name, seconds)

        for name, at, secs in (("A", 0, 3600), ("B", 0, 7200), ("D", 1800, 3600), ("C", 4200, 600)):
            env.process(unit(name, at, secs))
        if reserve:
            assert mob.reserve(dock, "C", 600.0, 600.0 + 3600) is None
            assert "one at a time" in str(mob.reserve(dock, "C", 700.0, 800.0))
        env.run(until=4 * 3600)
        return out

    plain, booked = waits(False), waits(True)
    assert plain["D"] == 1800 and plain["C"] == 3000  # first come, first served
    assert booked["C"] == 0 and booked["D"] == 3000  # the reservation jumps the queue; D waits for C


def test_impossible_actions_are_rejected_with_reasons(tiny_district, tmp_path, services):
    w = _world(
        tmp_path,
        "mischief",
        {
            "district": str(tiny_district),
            "start": "2026-05-12T11:00",
            "duration": "1h",
            "demand": LOGISTICS,
            "services": [{"use": "builtin:mischief"}],
        },
    )
    reasons = _service(w, "mischief").reasons
    assert "unit 'someone-else:drone-1' is not in this service's fleet" in reasons
    assert "no request 'R-none'" in reasons
    assert any(r.startswith("unit mischief:drone-1 needs") and r.endswith("it has 1.0 min") for r in reasons)
    assert any(r.startswith("a drone cannot charge at ev_charger") for r in reasons)
    assert "minutes must be > 0 and <= 240; got 0" in reasons
    assert any(r.startswith("no charger or dock 'dock-none'") for r in reasons)
    assert any(r.startswith("unit and request must be ids (strings)") for r in reasons)
    assert w.host.services[0].status == "ok"


def test_no_fly_zones_reject_flights_over_the_police_station(tiny_district, tmp_path, services):
    d = load_district(tiny_district)
    police = d.sites_of("police")[0]
    w = _world(
        tmp_path,
        "nfz",
        {
            "district": str(tiny_district),
            "start": "2026-05-12T11:00",
            "duration": "2h",
            "demand": {"logistics": {"no_fly_radius_m": 120}},
            "services": [{"use": "builtin:drones"}],
        },
    )
    reasons = _service(w, "drones").rejections
    assert {
        "id": f"nfz-{police.id}",
        "x": police.x,
        "y": police.y,
        "radius_m": 120.0,
        "reason": "police",
    } in w.logistics.no_fly
    assert any("no-fly zone nfz-" in r for r in reasons)


def test_parking_fills_and_cruising_grows_with_more_drivers(tiny_district, tmp_path):
    base = {"district": str(tiny_district), "start": "2026-05-12T06:00", "duration": "6h", "services": BASE_SERVICES}
    few = _world(tmp_path, "few", base | {"demand": {"mobility": {"drive_share_workers": 0.1}}}).kpis  # type: ignore[attr-defined]
    many = _world(
        tmp_path, "many", base | {"demand": {"mobility": {"drive_share_workers": 1.0, "base_occupancy": 0.8}}}
    ).kpis  # type: ignore[attr-defined]
    assert many["mobility.cruising_time_min"] > few["mobility.cruising_time_min"]


# --------------------------------------------------------------------------- energy
def test_dimming_saves_energy_and_shows_its_safety_cost(tiny_district, tmp_path, services):
    base = {
        "district": str(tiny_district),
        "start": "2026-05-12T21:00",
        "duration": "6h",
        "demand": {"safety": {"incidents_per_day": 800}},
    }
    full = _world(tmp_path, "full", base | {"services": [*CCTV_WIFI, {"use": "builtin:streetlights"}]}).kpis  # type: ignore[attr-defined]
    dim = _world(tmp_path, "dim", base | {"services": [*CCTV_WIFI, {"use": "builtin:dimmer"}]}).kpis  # type: ignore[attr-defined]
    assert dim["energy.lighting_kwh"] == pytest.approx(0.2 * full["energy.lighting_kwh"], rel=0.02)
    assert full["energy.total_kwh"] - dim["energy.total_kwh"] == pytest.approx(
        full["energy.lighting_kwh"] - dim["energy.lighting_kwh"], rel=1e-6
    )
    assert dim["energy.lit_where_people_pct"] < 1 < full["energy.lit_where_people_pct"] == 100
    assert dim["safety.incidents"] > full["safety.incidents"]
    assert dim["safety.detected_pct"] < full["safety.detected_pct"]


# --------------------------------------------------------------------------- determinism
def test_noop_service_changes_nothing_bit_for_bit(tiny_district, tmp_path, services):
    base = {
        "district": str(tiny_district),
        "start": "2026-05-12T16:00",
        "duration": "8h",
        "services": BASE_SERVICES,
        "faults": [{"kind": "pollution_episode", "at": "18:00", "duration": "2h"}],
    }
    a = run_scenario(load_scenario(write_scenario(tmp_path, "plain", base)), seed=4)
    b = run_scenario(
        load_scenario(write_scenario(tmp_path, "noop", base | {"services": [*BASE_SERVICES, {"use": "builtin:noop"}]})),
        seed=4,
    )
    assert a.kpis == pytest.approx(b.kpis, nan_ok=True, rel=0, abs=0)
    assert a.timeseries.equals(b.timeseries)
    assert a.events.equals(b.events)


def test_same_seed_same_kpis_with_every_domain_busy(tiny_district, tmp_path, services):
    data = {
        "district": str(tiny_district),
        "start": "2026-05-12T10:00",
        "duration": "8h",
        "demand": LOGISTICS,
        "services": [*BASE_SERVICES, {"use": "builtin:drones"}, {"use": "builtin:air_alert"}],
        "faults": [
            {"kind": "heavy_rain", "at": "12:00", "duration": "1h"},
            {"kind": "festival_crowd", "at": "15:00", "duration": "2h", "extra_visitors": 300},
            {"kind": "pollution_episode", "at": "11:00", "duration": "2h", "pm25_ug_m3": 50},
        ],
    }
    sc = load_scenario(write_scenario(tmp_path, "busy", data))
    a, b = run_scenario(sc, seed=9), run_scenario(sc, seed=9)
    assert a.status == "ok", a.error
    assert a.kpis == pytest.approx(b.kpis, nan_ok=True, rel=0, abs=0)
    assert a.events.equals(b.events)
    for k in ("logistics.completed_pct", "environment.mean_exposure", "energy.total_kwh", "mobility.cruising_time_min"):
        assert math.isfinite(a.kpis[k]), k


# --------------------------------------------------------------------------- scenario and export
def test_bad_world2_keys_are_scenario_errors(tiny_district, tmp_path):
    base = {"district": str(tiny_district), "duration": "1h"}
    with pytest.raises(ScenarioError, match="van_waves must be clock times 'HH:MM'; got '25:00'"):
        load_scenario(write_scenario(tmp_path, "w", base | {"demand": {"logistics": {"van_waves": ["25:00"]}}}))
    with pytest.raises(ScenarioError, match="no_fly_blocks: no block 'nowhere' in district 'tiny'"):
        load_scenario(write_scenario(tmp_path, "b", base | {"demand": {"logistics": {"no_fly_blocks": ["nowhere"]}}}))
    with pytest.raises(ScenarioError, match="comply_probability"):
        load_scenario(write_scenario(tmp_path, "c", base | {"demand": {"environment": {"comply_probability": 2}}}))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_export_ngsi_ld_of_a_district_and_a_stored_run(tiny_district, tmp_path, capsys):
    out = tmp_path / "district.json"
    assert main(["export", str(tiny_district), "--out", str(out)]) == 0
    ents = json.loads(out.read_text())
    assert out.stat().st_mode & 0o777 == 0o666 & ~_umask()  # as a plain write would make it, not 0600
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temporary left over
    kinds = {e["type"] for e in ents}
    assert {"Streetlight", "AccessPoint", "Camera", "Device", "EVChargingStation"} <= kinds
    assert all(not validate(e) for e in ents)
    light = next(e for e in ents if e["type"] == "Streetlight")
    assert light["id"].startswith("urn:ngsi-ld:Streetlight:tiny:")
    assert light["location"]["type"] == "GeoProperty" and len(light["location"]["value"]["coordinates"]) == 2

    sc = load_scenario(
        write_scenario(
            tmp_path,
            "run",
            {"district": str(tiny_district), "start": "2026-05-12T18:00", "duration": "3h", "services": BASE_SERVICES},
        )
    )
    r = run_scenario(sc, seed=1)
    Store(tmp_path / "store").put(r)
    out = tmp_path / "run.json"
    assert main(["export", r.run_id, "--store", str(tmp_path / "store"), "--out", str(out), "--all-samples"]) == 0
    ents = json.loads(out.read_text())
    aq = [e for e in ents if e["type"] == "AirQualityObserved"]
    assert len(aq) == 12 * len(load_district(tiny_district).devices_of("sensor"))  # 15-minute samples over 3 h
    assert aq[0]["pm25"]["unitCode"] == "GQ" and aq[0]["refDevice"]["object"].startswith("urn:ngsi-ld:Device:tiny:")
    assert any(e["type"] == "NoiseLevelObserved" for e in ents)
    assert {e["powerState"]["value"] for e in ents if e["type"] == "Streetlight"} == {"on"}

    bad = dict(light, status={"type": "Property", "value": "shiny"})
    assert any("status has a value of the wrong type" in p for p in validate(bad))
    assert main(["export", "no-such-thing", "--store", str(tmp_path / "store")]) == 2
    assert "neither a district" in capsys.readouterr().err
