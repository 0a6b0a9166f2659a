"""Districts: the shipped ones, the synthetic generator, the loader's error paths, make-district."""

from __future__ import annotations

import argparse
import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
import yaml

from simulation.cli.districts import add_arguments, run
from simulation.config.district import District, load_district
from simulation.config.generator import make_district
from simulation.errors import DistrictError

SMALL: dict[str, Any] = dict(
    name="small",
    title="Small test district",
    origin_lat=37.55,
    origin_lon=126.99,
    width_m=400,
    height_m=400,
    residents=900,
    workers=500,
    visitors=100,
    seed=11,
)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 400 m x 400 m generated district, made once for this module."""
    return make_district(tmp_path_factory.mktemp("gen") / "small", **SMALL)


# --------------------------------------------------------------------------- shipped districts
@pytest.mark.parametrize("name", ["sangam_dmc", "seongsu"])
def test_shipped_district_is_pilot_sized(name: str) -> None:
    d = load_district(name)
    pop = d.meta.population
    assert 150 <= len(d.poles) <= 300
    assert 10_000 <= pop.residents + pop.workers + pop.visitors <= 30_000
    assert 1.0 <= d.area_km2 <= 2.0


def test_only_sangam_is_linked_to_the_integrated_centre() -> None:
    assert load_district("sangam_dmc").meta.control_centre.integrated
    assert not load_district("seongsu").meta.control_centre.integrated


# --------------------------------------------------------------------------- the generator
def test_same_arguments_give_identical_bytes(small: Path, tmp_path: Path) -> None:
    again = make_district(tmp_path / "again", **SMALL)
    for f in ("district.yaml", "layout.geojson"):
        assert (again / f).read_bytes() == (small / f).read_bytes(), f


def test_another_seed_gives_another_layout(small: Path, tmp_path: Path) -> None:
    other = make_district(tmp_path / "other", **{**SMALL, "seed": 12})
    assert (other / "layout.geojson").read_bytes() != (small / "layout.geojson").read_bytes()


def test_generated_district_loads_with_the_requested_people(small: Path) -> None:
    d = load_district(small)
    assert (sum(b.residents for b in d.blocks), sum(b.jobs for b in d.blocks)) == (900, 500)
    assert d.meta.population.visitors == 100 and not d.meta.surveyed


def test_generated_backhaul_is_a_tree_rooted_at_the_control_centre(small: Path) -> None:
    d = load_district(small)
    cc = d.sites_of("control_centre")[0].id
    backhaul = nx.Graph((lk.a, lk.b) for lk in d.links)
    assert nx.is_tree(backhaul)  # connected and acyclic, so uplink_path below terminates
    for node in [p.id for p in d.poles] + [s.id for s in d.sites_of("cabinet")]:
        assert [lk.id for lk in d.links if lk.b == node] == [d.parent_link[node]]
    for p in d.poles:
        path = d.uplink_path(p.id)
        assert d.link_by_id[path[0]].b == p.id and d.link_by_id[path[-1]].a == cc, p.id


def test_every_device_is_within_two_metres_of_its_pole(small: Path) -> None:
    d = load_district(small)
    poles = d.pole_by_id
    far = [dv.id for dv in d.devices if math.dist((dv.x, dv.y), (poles[dv.pole].x, poles[dv.pole].y)) > 2]
    assert d.devices and not far


def test_generator_rejects_an_unknown_land_use(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown land use 'farm'"):
        make_district(tmp_path / "x", **{**SMALL, "land_use_mix": {"farm": 1.0}})


# --------------------------------------------------------------------------- loader error paths
def _copy(small: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(small, tmp_path / "broken"))


def _edit_geojson(small: Path, tmp_path: Path, edit: Callable[[list[dict[str, Any]]], None]) -> Path:
    folder = _copy(small, tmp_path)
    gj = json.loads((folder / "layout.geojson").read_text())
    edit(gj["features"])
    (folder / "layout.geojson").write_text(json.dumps(gj))
    return folder


def _first(features: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(f for f in features if f["properties"]["kind"] == kind)


def test_loader_rejects_malformed_json(small: Path, tmp_path: Path) -> None:
    folder = _copy(small, tmp_path)
    (folder / "layout.geojson").write_text('{"type": "FeatureCollection", "features": [')
    with pytest.raises(DistrictError, match=r"layout\.geojson: not valid JSON"):
        load_district(folder)


def test_loader_rejects_an_unknown_kind(small: Path, tmp_path: Path) -> None:
    def edit(fs: list[dict[str, Any]]) -> None:
        fs.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [126.99, 37.55]},
                "properties": {"kind": "lamppost", "id": "lp-1"},
            }
        )

    with pytest.raises(DistrictError, match=r"kind: must be one of street, block, .*; got 'lamppost'"):
        load_district(_edit_geojson(small, tmp_path, edit))


def test_loader_rejects_a_device_on_a_missing_pole(small: Path, tmp_path: Path) -> None:
    def edit(fs: list[dict[str, Any]]) -> None:
        _first(fs, "camera")["properties"]["pole"] = "pole-999"

    with pytest.raises(DistrictError, match="pole: no pole 'pole-999' in this district"):
        load_district(_edit_geojson(small, tmp_path, edit))


def test_loader_rejects_a_pole_with_more_modules_than_slots(small: Path, tmp_path: Path) -> None:
    d = load_district(small)
    pole = d.poles[0]

    def edit(fs: list[dict[str, Any]]) -> None:
        pt = {"type": "Point", "coordinates": [pole.lon, pole.lat]}
        for k in range(pole.slots + 1):
            fs.append(
                {
                    "type": "Feature",
                    "geometry": pt,
                    "properties": {"kind": "sensor", "id": f"extra-{k}", "pole": pole.id},
                }
            )

    with pytest.raises(DistrictError, match=rf"modules take \d+ slots but model '{pole.model}' has {pole.slots}"):
        load_district(_edit_geojson(small, tmp_path, edit))


def test_loader_rejects_an_unknown_pole_model(small: Path, tmp_path: Path) -> None:
    def edit(fs: list[dict[str, Any]]) -> None:
        _first(fs, "pole")["properties"]["model"] = "SP-Z"

    with pytest.raises(DistrictError, match="unknown pole model 'SP-Z'; known: SP-A"):
        load_district(_edit_geojson(small, tmp_path, edit))


def test_loader_rejects_a_duplicate_id(small: Path, tmp_path: Path) -> None:
    def edit(fs: list[dict[str, Any]]) -> None:
        _first(fs, "ap")["properties"]["id"] = _first(fs, "pole")["properties"]["id"]

    with pytest.raises(DistrictError, match=r"duplicate id 'pole-0*1'; ids must be unique"):
        load_district(_edit_geojson(small, tmp_path, edit))


def test_loader_rejects_a_disconnected_street_graph(small: Path, tmp_path: Path) -> None:
    def edit(fs: list[dict[str, Any]]) -> None:
        fs.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [[126.99, 37.56], [126.991, 37.56]]},
                "properties": {
                    "kind": "street",
                    "id": "st-island",
                    "from": "isl-a",
                    "to": "isl-b",
                    "road_class": "local",
                },
            }
        )

    with pytest.raises(DistrictError, match="street graph is in 2 pieces; it must be connected"):
        load_district(_edit_geojson(small, tmp_path, edit))


def test_loader_rejects_district_yaml_without_population(small: Path, tmp_path: Path) -> None:
    folder = _copy(small, tmp_path)
    meta = yaml.safe_load((folder / "district.yaml").read_text())
    del meta["population"]
    (folder / "district.yaml").write_text(yaml.safe_dump(meta))
    with pytest.raises(DistrictError, match=r"district\.yaml, at population: required key is missing"):
        load_district(folder)


# --------------------------------------------------------------------------- make-district
def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_make_district_writes_and_reports_key_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mini"
    assert run(_args("mini", "--out", str(out), "--width-m", "300", "--height-m", "300", "--seed", "3")) == 0
    assert "poles" in capsys.readouterr().out
    assert isinstance(load_district(out), District)


def test_make_district_refuses_an_existing_folder(small: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (small / "layout.geojson").read_bytes()
    assert run(_args("small", "--out", str(small), "--seed", "99")) == 2
    err = capsys.readouterr().err
    assert str(small) in err and "--force" in err
    assert (small / "layout.geojson").read_bytes() == before


def test_make_district_rejects_density_out_of_range(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(_args("dense", "--out", str(tmp_path / "dense"), "--density", "500000")) == 2
    assert "--density must be between 100 and 100000 people per km²; got 500000" in capsys.readouterr().err
    assert not (tmp_path / "dense").exists()


def test_loader_rejects_a_backhaul_cycle(small: Path, tmp_path: Path) -> None:
    def edit(fs: list[dict[str, Any]]) -> None:
        trunk = _first(fs, "link")
        assert trunk["properties"]["level"] == "trunk"
        cabinet = trunk["properties"]["b"]
        access = next(f for f in fs if f["properties"]["kind"] == "link" and f["properties"]["a"] == cabinet)
        trunk["properties"]["a"] = access["properties"]["b"]  # the cabinet now hangs below its own pole

    with pytest.raises(DistrictError, match=r"the backhaul has a cycle through '.*'; links must form a tree"):
        load_district(_edit_geojson(small, tmp_path, edit))


def test_loader_rejects_a_cabinet_without_a_trunk(small: Path, tmp_path: Path) -> None:
    def edit(fs: list[dict[str, Any]]) -> None:
        trunk = _first(fs, "link")
        fs.remove(trunk)

    with pytest.raises(DistrictError, match=r"has no fibre path to a control centre \(its uplinks stop at 'cab-"):
        load_district(_edit_geojson(small, tmp_path, edit))


def test_loader_rejects_an_unclosed_ring(small: Path, tmp_path: Path) -> None:
    def edit(fs: list[dict[str, Any]]) -> None:
        ring = _first(fs, "block")["geometry"]["coordinates"][0]
        ring[-1] = [ring[-1][0] + 0.001, ring[-1][1]]

    with pytest.raises(DistrictError, match=r"a Polygon ring must be closed \(last position = first, RFC 7946\)"):
        load_district(_edit_geojson(small, tmp_path, edit))
