"""NGSI-LD a broker accepts: official Smart Data Models schemas, current names, broker-sized batches, observedAt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import BASE_SERVICES, write_scenario

from simulation.cli.main import main
from simulation.config.district import load_district
from simulation.config.scenario import load_scenario
from simulation.errors import SandboxError
from simulation.results import sdm
from simulation.results.export import district_entities, run_entities
from simulation.results.run import run_scenario
from simulation.results.store import Store


@pytest.fixture(scope="module")
def stored_run(tiny_district, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ngsi")
    sc = write_scenario(
        folder,
        "n",
        {"district": str(tiny_district), "start": "2026-05-12T16:00", "duration": "1h", "services": BASE_SERVICES},
    )
    store = Store(folder / "results")
    r = run_scenario(load_scenario(sc), seed=1)
    store.put(r)
    return store, r.run_id, load_district(tiny_district)


@pytest.mark.parametrize("name", ["sangam_dmc", "seongsu"])
def test_every_district_entity_is_valid_against_the_official_schemas(name: str) -> None:
    entities = district_entities(load_district(name))
    bad = [p for e in entities for p in sdm.problems(e)]
    assert bad == [] and len(entities) > 500
    kinds = {e["type"] for e in entities}
    assert kinds == {"Streetlight", "AccessPoint", "Camera", "Device", "EVChargingStation"}
    lights = [e for e in entities if e["type"] == "Streetlight"]
    assert all("lanternHeight" in e and "laternHeight" not in e for e in lights)
    devices = [e for e in entities if e["type"] == "Device"]
    assert all("controlledProperty" in e for e in devices)
    gateways = [e for e in devices if "gateway" in e["description"]["value"].lower()]
    assert gateways and all(e["supportedProtocol"]["value"] == ["lora"] for e in gateways)


def test_every_run_entity_is_valid_and_observations_carry_observed_at(stored_run) -> None:
    store, rid, district = stored_run
    entities = run_entities(district, store.load(rid), all_samples=True)
    assert sdm.check(entities) == len(entities)
    obs = [e for e in entities if e["type"] in ("AirQualityObserved", "NoiseLevelObserved")]
    assert len(obs) > 10
    for e in obs:
        measured = [v for k, v in e.items() if k in ("pm25", "pm10", "temperature", "relativeHumidity", "LAeq")]
        assert measured and all(v["observedAt"].endswith("Z") for v in measured)
    aq = next(e for e in obs if e["type"] == "AirQualityObserved")
    assert aq["pm25"]["observedAt"] == aq["dateObserved"]["value"]["@value"]
    light = next(e for e in entities if e["type"] == "Streetlight")
    assert "observedAt" in light["powerState"] and "observedAt" not in light["lanternHeight"]


def test_the_official_schemas_reject_the_old_shapes() -> None:
    e = district_entities(load_district("seongsu"))
    device = next(x for x in e if x["type"] == "Device" and "gateway" in x["description"]["value"].lower())
    old = {k: v for k, v in device.items() if k != "controlledProperty"}
    assert any("'controlledProperty' is a required property" in p for p in sdm.problems(old))
    old["supportedProtocol"] = {"type": "Property", "value": ["LoRaWAN"]}
    assert any("supportedProtocol/0: 'LoRaWAN' is not one of" in p for p in sdm.problems(old))
    light = next(x for x in e if x["type"] == "Streetlight")
    renamed = {("laternHeight" if k == "lanternHeight" else k): v for k, v in light.items()}
    assert any("laternHeight: not an attribute of the published Streetlight model" in p for p in sdm.problems(renamed))
    with pytest.raises(SandboxError, match=r"not valid against the official Smart Data Models schemas: .*laternHeight"):
        sdm.check([renamed])


def test_batches_stay_within_broker_limits(stored_run) -> None:
    store, rid, district = stored_run
    entities = run_entities(district, store.load(rid), all_samples=True)
    batches = list(sdm.chunks(entities, max_entities=100, max_bytes=50_000))
    assert len(batches) > 1 and [e for b in batches for e in b] == entities
    for b in batches:
        assert len(b) <= 100 and len(json.dumps(b, ensure_ascii=False).encode()) <= 50_000


def test_export_cli_writes_batch_files(stored_run, tmp_path: Path, capsys) -> None:
    store, rid, _ = stored_run
    dest = tmp_path / "batches"
    args = ["export", rid, "--store", str(store.root), "--all-samples", "--batch-dir", str(dest)]
    assert main([*args, "--batch-entities", "40", "--batch-bytes", "20000", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    files = sorted(dest.glob("batch-*.json"))
    assert [str(p) for p in files] == doc["files"] and len(files) >= 2
    total = 0
    for p in files:
        batch = json.loads(p.read_text())
        total += len(batch)
        assert len(batch) <= 40 and p.stat().st_size <= 20_000
    assert total == doc["entities"]


def test_export_cli_refuses_impossible_batch_limits(stored_run, tmp_path: Path, capsys) -> None:
    store, rid, _ = stored_run
    code = main(["export", rid, "--store", str(store.root), "--batch-dir", str(tmp_path), "--batch-entities", "0"])
    assert code == 2
    assert "--batch-entities must be at least 1 and --batch-bytes at least 1000; got 0" in capsys.readouterr().err
