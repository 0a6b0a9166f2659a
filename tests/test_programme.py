"""The programme: the shipped file, its validation, and a small programme run end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from simulation.cli.main import main
from simulation.config._yaml import dump_yaml
from simulation.config.osm import import_osm
from simulation.config.programme import load_programme
from simulation.errors import ProgrammeError

ROOT = Path(__file__).resolve().parent.parent
EXTRACT = Path(__file__).parent / "data" / "gongdeok_small.osm"


def test_shipped_programme_holds_the_plans_figures() -> None:
    p = load_programme(ROOT / "config" / "programme.yaml")
    assert [len(p.pilots_until(y)) for y in p.years] == [0, 2, 7, 12, 15]
    assert {pl.source for pl in p.pilots} == {"shipped", "imported", "generated"}
    lines = {b.id: b for b in p.budget}
    assert sum(b.total for b in lines.values()) == 127_072  # the plan's policy task 1 total
    assert lines["1-4"].by_year == {2021: None, 2022: 3200, 2023: 6200, 2024: 8400, 2025: 6900}
    ind = {i.id: i for i in p.indicators}
    assert ind["public_wifi"].targets[2023] == 3190 and ind["cctv_units"].targets[2021] == 1430
    assert ind["s_poles"].measure == "poles"


def _small(tmp_path: Path) -> dict[str, Any]:
    """A programme of 3 districts: one imported from the test extract, two generated archetypes."""
    districts = tmp_path / "districts"
    import_osm(EXTRACT, districts / "gd", name="gd", seed=3)
    arche = {"width_m": 300, "height_m": 300, "density": 8000, "land_use_mix": {"residential": 0.6, "office": 0.4}}
    return {
        "name": "small",
        "title": "Small test programme",
        "source": "tests",
        "years": [2022, 2023],
        "indicators": [
            {
                "id": "poles",
                "task": "1-3",
                "label": "S-Poles",
                "unit": "poles",
                "measure": "poles",
                "targets": {2022: 100, 2023: None},
            },
            {
                "id": "pilots",
                "task": "1-4",
                "label": "Pilots",
                "unit": "locations",
                "measure": "pilot_districts",
                "targets": {2022: 2, 2023: 1},
            },
        ],
        "budget": [
            {"id": "1-3", "label": "S-Pole", "total": 750, "by_year": {2022: 250, 2023: 500}},
            {"id": "1-4", "label": "Pilots", "total": 3200, "by_year": {2022: 3200, 2023: None}},
        ],
        "unit_costs": {
            "ap": 8.3,
            "fibre_km": 20,
            "camera": 1.32,
            "pole": 3.9,
            "demonstration": 500,
            "lines": {"ap": "1-3", "fibre_km": "1-3", "camera": "1-3", "pole": "1-3", "demonstration": "1-4"},
        },
        "run": {"start": "2026-05-12T21:00", "duration": "30m", "seed": 1, "replications": 2, "population_scale": 0.5},
        "pilots": [
            {
                "name": "gd",
                "title": "Gongdeok test extract",
                "year": 2022,
                "lat": 37.547,
                "lon": 126.956,
                "source": "imported",
                "folder": "districts/gd",
                "services": [
                    {
                        "service": "lumen_adaptive_lighting",
                        "status": "piloting",
                        "since": 2022,
                        "kpis": ["energy.lighting_kwh"],
                        "decision": "d-1",
                    },
                    {"service": "airwatch_alerts", "status": "proposed", "since": 2023},
                ],
            },
            {
                "name": "arch_a",
                "title": "Archetype A",
                "year": 2022,
                "lat": 37.5,
                "lon": 127.0,
                "source": "generated",
                "archetype": {**arche, "seed": 11},
            },
            {
                "name": "arch_b",
                "title": "Archetype B",
                "year": 2023,
                "lat": 37.6,
                "lon": 126.9,
                "source": "generated",
                "archetype": {**arche, "seed": 12},
            },
        ],
    }


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    p = tmp_path / "programme.yaml"
    p.write_text(dump_yaml(data, sort_keys=False))  # no aliases: the reader refuses them
    return p


def _save_decision(store: Path, rid: str, decision: str) -> None:
    from simulation.decision.record import DecisionRecord, save_decision

    rec = DecisionRecord(
        id=rid,
        created="2026-05-20T10:00:00",
        scenario="gd.lumen_adaptive_lighting",
        baseline="gd.baseline",
        candidate="lumen_adaptive_lighting",
        recommendation="extend_pilot",
        decision=decision,
        accepted=False,
        note="dim further in parks",
        evaluator="test",
        run_ids={},
        unit_values_file="",
        unit_values_digest="",
        unit_values={},
        evaluation={},
        provenance={},
    )
    save_decision(store, rec)


def test_small_programme_runs_reports_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, _small(tmp_path))
    store = tmp_path / "store"
    _save_decision(store, "d-1", "commercialise")
    argv = ["programme", str(path), "--store", str(store), "--workers", "0", "--json", "--quiet"]
    assert main(argv) == 0
    rep = json.loads(capsys.readouterr().out)
    # 3 pilots by 2023: 3 baselines + 1 candidate, 2 paired seeds each
    assert rep["runs"]["planned"] == 8 and rep["runs"]["ran"] == 8 and rep["runs"]["failed"] == 0
    assert [p["name"] for p in rep["pilots"]] == ["gd", "arch_a", "arch_b"]
    y22, y23 = rep["years"]
    poles = {p["name"]: p["figures"]["poles"] for p in rep["pilots"]}
    row = next(r for r in y22["indicators"] if r["id"] == "poles")
    assert row["plan_target"] == 100 and row["pilots_added"] == poles["gd"] + poles["arch_a"]
    assert row["share_pct"] == round(100 * row["pilots_added"] / 100, 1)
    pil = next(r for r in y23["indicators"] if r["id"] == "pilots")
    assert (pil["pilots_added"], pil["pilots_cumulative"], pil["plan_cumulative"]) == (1, 3, 3)
    demo = next(r for r in y22["budget"] if r["line"] == "1-4")
    assert demo["pilots_krw_m"] == 500 and demo["plan_krw_m"] == 3200  # one demonstration started in 2022
    svc = {r["service"]: r for r in rep["services"]}
    lumen = svc["lumen_adaptive_lighting"]
    assert lumen["runs"] == 2 and lumen["effects"]["energy.lighting_kwh"]["n"] == 2
    assert lumen["effects"]["energy.lighting_kwh"]["mean_diff"] < 0  # adaptive lighting saves energy at dusk
    assert lumen["decision"]["found"] and lumen["decision"]["decision"] == "commercialise"
    assert svc["airwatch_alerts"]["runs"] == 0 and svc["airwatch_alerts"]["decision"] is None
    # run again: every run comes from the store
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["runs"]["reused"] == 8 and again["runs"]["ran"] == 0
    assert again["services"] == rep["services"]
    # --year 2022: only the first two pilots
    assert main([*argv, "--year", "2022"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["runs"]["planned"] == 6 and [y["year"] for y in first["years"]] == [2022]


def test_programme_table_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _small(tmp_path)
    data["pilots"] = data["pilots"][1:2]
    data["pilots"][0]["services"] = []
    path = _write(tmp_path, data)
    # on a local worker process this time (the other tests run in this process)
    assert main(["programme", str(path), "--store", str(tmp_path / "s"), "--workers", "1", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "2022: indicators" in out and "spend of the new pilots" in out and "S-Poles" in out
    assert "2 planned, 2 run, 0 failed, 0 reused" in out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(colour="red"), "colour"),
        (lambda d: d["budget"][0].update(total=999), "by_year adds up to 750, not the total 999"),
        (lambda d: d["pilots"][0]["services"][0].update(service="nope"), "no plugin 'nope' under plugins/"),
        (lambda d: d["pilots"][0]["services"][0].update(status="done"), "proposed"),
        (
            lambda d: d["pilots"][0]["services"][0].update(baseline_params={"builtin:wifi": {"x": 1}}),
            "baseline_params names 'builtin:wifi', not one of the city's services: builtin:cctv_monitoring",
        ),
        (lambda d: d["pilots"][1].pop("archetype"), "a 'generated' pilot needs an archetype"),
        (lambda d: d["pilots"][0].update(folder="nowhere"), "no district.yaml in"),
        (lambda d: d["pilots"][2].update(year=2030), "starts in 2030, outside the programme's years"),
        (lambda d: d["indicators"][0].update(measure="trees"), "measure"),
        (lambda d: d["pilots"][1]["archetype"]["land_use_mix"].update(forest=0.2), "unknown land use 'forest'"),
        (lambda d: d["unit_costs"]["lines"].update(pole="9-9"), "names budget line '9-9'"),
    ],
)
def test_bad_programme_files_are_named(tmp_path: Path, change: Any, message: str) -> None:
    data = _small(tmp_path)
    change(data)
    path = _write(tmp_path, data)
    with pytest.raises(ProgrammeError, match=str(path).replace(".", r"\.")) as exc:
        load_programme(path)
    assert message in str(exc.value)


def test_bad_programme_exits_2_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _small(tmp_path)
    data["pilots"][0]["services"][0]["kpis"] = ["energy.magic"]
    path = _write(tmp_path, data)
    assert main(["programme", str(path), "--store", str(tmp_path / "s"), "--workers", "0", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "unknown KPI 'energy.magic'" in err and "pilots[0] (gd).services[0].kpis" in err
    assert "Traceback" not in err
    assert main(["programme", str(path), "--year", "2030", "--workers", "0", "--quiet"]) == 2


def test_runs_start_largest_district_first(tmp_path: Path) -> None:
    """Two workers stay busy to the end when the big districts start first (benchmarks/programme_scale.py)."""
    from simulation.programme.run import RUN_FIXED_COST, longest_first, plan_runs

    prog = load_programme(ROOT / "config" / "programme.yaml")
    runs = plan_runs(prog, tmp_path, 2023)
    order = longest_first(runs)
    assert sorted(order, key=lambda r: r.run_id) == sorted(runs, key=lambda r: r.run_id)  # same runs
    costs = [r.cost for r in order]
    assert costs == sorted(costs, reverse=True) and min(costs) > RUN_FIXED_COST
    people = {r.pilot: r.cost - RUN_FIXED_COST for r in runs}
    assert order[0].pilot == max(people, key=lambda k: people[k]) == "seongsu"  # 30,000 people present
    # equal costs keep the plan's order: a pilot's variants and seeds stay together
    first = [r for r in order if r.pilot == "seongsu"]
    assert first == [r for r in runs if r.pilot == "seongsu"]


def test_a_candidate_sets_the_city_services_it_needs(tmp_path: Path) -> None:
    """AI CCTV runs with the city's own selective control off (the vendor flags), the baseline with it on."""
    from simulation.programme.run import plan_runs

    prog = load_programme(ROOT / "config" / "programme.yaml")
    runs = {(r.pilot, r.variant): r for r in plan_runs(prog, tmp_path, 2022)}
    cctv = {s["use"]: s for s in runs[("sangam_dmc", "clearsight_ai_cctv")].scenario["services"]}
    assert cctv["builtin:cctv_monitoring"]["params"] == {"selective": False}
    base = {s["use"]: s for s in runs[("sangam_dmc", "baseline")].scenario["services"]}
    assert "params" not in base["builtin:cctv_monitoring"]
    other = {s["use"]: s for s in runs[("sangam_dmc", "skyport_drone_delivery")].scenario["services"]}
    assert "params" not in other["builtin:cctv_monitoring"]
