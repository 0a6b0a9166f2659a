"""Maps of KPIs (results.places): every KPI is mapped or says why not, and a map adds up to its KPI."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
from conftest import BASE_SERVICES, ROOT, write_scenario

from simulation.config.scenario import load_scenario
from simulation.results.kpis import CATALOGUE
from simulation.results.places import GRID_M, NOT_MAPPED, SPATIAL_COLUMNS, WHERE, mapped, spatial_frame
from simulation.results.places.core import where as register_map
from simulation.results.run import run_scenario
from simulation.results.store import Store

# KPIs the run below must put on the map (its services, heat wave and evening exercise them): a
# test that passed on an empty frame would prove nothing.
MUST_MAP = {
    "connectivity.sessions_served_pct",
    "connectivity.mean_throughput_mbps",
    "connectivity.demand_met_pct",
    "connectivity.clients_mean",
    "cellular.sessions_served",
    "cellular.offload_pct",
    "safety.incidents",
    "safety.time_to_respond_s",
    "safety.operator_wait_s",
    "privacy.camera_minutes_viewed",
    "energy.lighting_kwh",
    "energy.total_kwh",
    "energy.kwh_per_pole",
    "energy.lit_where_people_pct",
    "environment.mean_exposure",
    "environment.vulnerable_exposure",
    "environment.sensor_availability_pct",
    "environment.alert_precision_pct",
    "environment.alert_recall_pct",
    "heat.exposure_h",
    "heat.vulnerable_exposure_h",
    "logistics.requests",
    "logistics.completed_pct",
    "logistics.delivery_time_min",
    "logistics.vehicle_km",
    "logistics.van_km",
    "logistics.courier_km",
    "mobility.cruising_time_min",
    "mobility.charger_utilisation_pct",
    "parking.cruising_vehicle_km",
    "parking.cruising_co2_kg",
    "iot.delivery_ratio_pct",
    "iot.latency_s",
    "iot.sensor_availability_pct",
    "notices.reached",
    "notices.complied",
}


def test_every_catalogue_kpi_is_mapped_or_says_why_not() -> None:
    assert set(WHERE) | set(NOT_MAPPED) == set(CATALOGUE)
    assert not set(WHERE) & set(NOT_MAPPED)
    for name, reason in NOT_MAPPED.items():
        assert reason.strip() and "\n" not in reason and len(reason) <= 120, name
        assert mapped(name) is None
    for name, where in WHERE.items():
        assert where.how in ("sum", "mean", "share") and where.place.strip(), name
        assert mapped(name) is where
    assert len(WHERE) >= 50  # nearly every KPI has a place; the district-wide few do not


def test_the_model_docs_list_every_kpi_with_its_place_or_reason() -> None:
    doc = (ROOT / "docs" / "model.md").read_text()
    section = doc[doc.index("### 3.6 Maps of KPIs") :]
    for name, where in WHERE.items():
        assert f"| `{name}` | {where.place} |" in section, name
    for name, reason in NOT_MAPPED.items():
        assert f"- `{name}`: {reason}." in section, name


def test_a_map_for_a_name_outside_the_catalogue_is_refused() -> None:
    with pytest.raises(KeyError, match=r"safety\.nonsense is not a catalogue KPI"):
        register_map("safety.nonsense", "incident", "sum")(lambda w: (w, w, w, w))
    assert "safety.nonsense" not in WHERE


@pytest.fixture(scope="module")
def run(tiny_district: Path, tmp_path_factory: pytest.TempPathFactory):
    """A tiny district from late morning into the evening of a heat wave, with alerts, notices and deliveries."""
    plugins = ("airwatch_alerts", "heat_shelter_alerts", "parking_guidance", "skyport_drone_delivery")
    poles = [f"pole-{i:03d}" for i in range(1, 11)]
    sc = write_scenario(
        tmp_path_factory.mktemp("places"),
        "places",
        {
            "district": str(tiny_district),
            "start": "2026-08-04T10:00",
            "duration": "12h",
            "seed": 3,
            "services": [*BASE_SERVICES, *({"use": str(ROOT / "plugins" / p)} for p in plugins)],
            "faults": [
                {"kind": "heat_wave", "at": "11:00", "duration": "8h"},
                {"kind": "power_outage", "at": "14:00", "duration": "1h", "poles": poles},
                {"kind": "pollution_episode", "at": "12:00", "duration": "3h", "pm25_ug_m3": 80},
            ],
        },
    )
    r = run_scenario(load_scenario(sc), allow_inline=True)
    assert r.status == "ok", r.error
    r.meta["scenario_path"] = str(sc)
    return r


def _aggregate(cells: pd.DataFrame, how: str) -> float:
    if how == "sum":
        return float(cells["value"].sum())
    return float((cells["value"] * cells["n"]).sum() / cells["n"].sum())


def test_every_mapped_kpi_of_a_run_is_on_its_map_and_adds_up_to_the_kpi(run) -> None:
    sp = run.spatial
    assert list(sp.columns) == SPATIAL_COLUMNS
    on_map = set(sp["metric"])
    assert on_map >= MUST_MAP, sorted(MUST_MAP - on_map)
    assert on_map <= set(WHERE)
    for name, where in WHERE.items():
        value, cells = run.kpis[name], sp[sp["metric"] == name]
        if math.isnan(value) or (where.how == "sum" and value == 0 and cells.empty):
            assert cells.empty or where.how == "sum", name  # no items: nothing to map
            continue
        assert not cells.empty, f"{name} = {value} but not on the map"
        assert (cells["n"] > 0).all() if where.how != "sum" else True, name
        assert _aggregate(cells, where.how) == pytest.approx(value, rel=1e-6, abs=1e-9), name
    # cells, not points: centres of GRID_M squares, one row per KPI and cell
    assert ((sp["x"] / GRID_M - 0.5) % 1 == 0).all() and ((sp["y"] / GRID_M - 0.5) % 1 == 0).all()
    assert not sp.duplicated(["metric", "x", "y"]).any()
    assert len(sp) < 60 * 40  # a 500 m district: at most ~36 cells per KPI


def test_the_stored_map_is_the_computed_one_and_regrids_to_the_same_total(run, tmp_path: Path) -> None:
    from simulation.results.compare import spatial_means

    store = Store(tmp_path / "store")
    store.put(run)
    back = store.load(run.run_id).spatial
    pd.testing.assert_frame_equal(back[SPATIAL_COLUMNS].reset_index(drop=True), run.spatial, check_dtype=False)

    one = type("C", (), {"groups": {"only": {run.seed: run.run_id}}, "run_ids": staticmethod(lambda: [run.run_id])})()
    for name in ("safety.incidents", "logistics.vehicle_km", "environment.mean_exposure", "cellular.offload_pct"):
        how = WHERE[name].how
        fine = spatial_means(store, one, name, cell_m=100)
        coarse = spatial_means(store, one, name, cell_m=400)
        assert len(coarse) < len(fine)
        if how == "sum":
            assert coarse["value"].sum() == pytest.approx(run.kpis[name], rel=1e-6)
        else:  # coarse cells are the weighted means of the run's cells
            sp = run.spatial[run.spatial["metric"] == name]
            gx, gy = (sp["x"] // 400).astype(int), (sp["y"] // 400).astype(int)
            want = (sp["value"] * sp["n"]).groupby([gx, gy]).sum() / sp["n"].groupby([gx, gy]).sum()
            got = coarse.set_index(["gx", "gy"])["value"]
            assert got.sort_index().to_numpy() == pytest.approx(want.sort_index().to_numpy(), rel=1e-9)


def test_a_world_without_any_item_maps_nothing(tiny_district: Path, tmp_path: Path) -> None:
    from simulation.results.run import build_world

    sc = write_scenario(
        tmp_path, "empty", {"district": str(tiny_district), "start": "2026-05-12T03:00", "duration": "60s"}
    )
    w = build_world(load_scenario(sc), 1)
    w.run()
    sp = spatial_frame(w)
    assert list(sp.columns) == SPATIAL_COLUMNS
    assert "safety.incidents" not in set(sp["metric"])  # nothing happened in a minute at 3 am


def test_the_same_run_maps_the_same_bit_for_bit(run) -> None:
    again = run_scenario(load_scenario(run.meta["scenario_path"]), allow_inline=True)
    pd.testing.assert_frame_equal(again.spatial, run.spatial, check_exact=True)
