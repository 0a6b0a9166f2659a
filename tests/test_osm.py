"""import-osm: a real OpenStreetMap extract (tests/data) becomes a district the loader accepts."""

from __future__ import annotations

import bz2
import gzip
import json
from pathlib import Path

import pytest

from simulation.cli.main import main
from simulation.config.district import load_district
from simulation.config.osm import import_osm
from simulation.config.osm_read import parse_bbox, read_osm
from simulation.errors import OsmError

EXTRACT = Path(__file__).parent / "data" / "gongdeok_small.osm"


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("osm") / "gd"
    assert main(["import-osm", str(EXTRACT), "gd", "--out", str(out), "--seed", "3"]) == 0
    return out


def test_import_builds_a_district_from_the_real_streets(imported: Path) -> None:
    d = load_district(imported)
    gj = json.loads((imported / "layout.geojson").read_text())
    ids = {f["properties"]["from"] for f in gj["features"] if f["properties"]["kind"] == "street"}
    assert all(i.startswith("osm-") for i in ids)  # nodes are OSM nodes
    classes = {s.road_class for s in d.streets}
    assert {"arterial", "collector", "local"} <= classes
    assert len(d.blocks) >= 10 and {b.land_use for b in d.blocks} != {"residential"}
    k = d.key_figures()
    assert k["poles"] > 10 and k["cameras"] > 0 and k["aps"] > 0 and k["sensors"] > 0
    # poles follow the S-Pole standard model of their street's road class
    for p in d.poles:
        assert p.road_class in d.catalogue.models[p.model].road_classes
    assert "ODbL" in d.meta.notes["licence"] and d.meta.surveyed is False
    assert {s.kind for s in d.sites} >= {"control_centre", "police", "fire", "hub", "cabinet"}


def test_import_is_seeded_and_deterministic(imported: Path, tmp_path: Path) -> None:
    again = tmp_path / "gd"
    import_osm(EXTRACT, again, name="gd", seed=3)
    for f in ("district.yaml", "layout.geojson"):
        assert (again / f).read_bytes() == (imported / f).read_bytes()
    other = tmp_path / "gd4"
    import_osm(EXTRACT, other, name="gd", seed=4)
    assert (other / "layout.geojson").read_bytes() != (imported / "layout.geojson").read_bytes()


def test_compressed_and_pbf_extracts_give_the_same_district(imported: Path, tmp_path: Path) -> None:
    import osmium

    gz = tmp_path / "x.osm.gz"
    gz.write_bytes(gzip.compress(EXTRACT.read_bytes()))
    bz = tmp_path / "x.osm.bz2"
    bz.write_bytes(bz2.compress(EXTRACT.read_bytes()))
    pbf = tmp_path / "x.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as w:
        for obj in osmium.FileProcessor(str(EXTRACT)):
            w.add(obj)
    want = (imported / "layout.geojson").read_bytes()
    bbox = read_osm(EXTRACT).bounds  # a .pbf written here carries no <bounds>: give the same box
    for src in (gz, bz, pbf):
        out = tmp_path / src.name.replace(".", "_")
        import_osm(src, out, name="gd", seed=3, bbox=bbox)
        assert (out / "layout.geojson").read_bytes() == want, src.name


def test_bbox_keeps_only_what_lies_inside(imported: Path, tmp_path: Path) -> None:
    out = tmp_path / "part"
    assert main(["import-osm", str(EXTRACT), "part", "--out", str(out), "--bbox", "126.953,37.545,126.956,37.549"]) == 0
    small, full = load_district(out), load_district(imported)
    assert len(small.streets) < len(full.streets)
    lons = [p.lon for p in small.poles]
    assert min(lons) > 126.9525 and max(lons) < 126.9565


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (None, "missing.osm", "file not found"),
        (b"<osm><node id='1' lat='37.5' lon='126.9'>", "broken.osm", "not well-formed XML"),
        (b"<gpx version='1.1'></gpx>", "track.osm", "root element is <gpx>, not <osm>"),
        (b"<osm version='0.6'><node id='1' lat='37.5' lon='126.9'/></osm>", "nodes.osm", "holds no ways"),
        (b"<osm/>", "data.json", "unknown extract format; allowed suffixes: .osm"),
        (b"not a pbf at all", "bad.osm.pbf", "not a readable OSM PBF file"),
    ],
)
def test_bad_extracts_exit_2_with_the_file_and_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, name: str, message: str
) -> None:
    src = tmp_path / name
    if content is not None:
        src.write_bytes(content)
    assert main(["import-osm", str(src), "x", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert str(src) in err and message in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()  # nothing half-written


def test_a_box_without_streets_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["import-osm", str(EXTRACT), "x", "--out", str(tmp_path / "x"), "--bbox", "127.1,37.6,127.11,37.61"])
    assert code == 2
    assert "holds no highway inside the bounding box; try a larger --bbox" in capsys.readouterr().err
    code = main(["import-osm", str(EXTRACT), "x", "--out", str(tmp_path / "x"), "--bbox", "127.1,37.6,127.2,37.7"])
    assert code == 2
    assert "--bbox: covers 8814 m x 11054 m; a pilot district is at most 10 km across" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "message"),
    [("1,2,3", "must be MINLON,MINLAT,MAXLON,MAXLAT (4 numbers); got '1,2,3'"), ("5,5,1,1", "MINLON < MAXLON")],
)
def test_bad_bbox_is_named(text: str, message: str) -> None:
    with pytest.raises(OsmError, match="--bbox") as exc:
        parse_bbox(text)
    assert message in str(exc.value)


def test_existing_folder_needs_force(imported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = (imported / "layout.geojson").read_bytes()
    assert main(["import-osm", str(EXTRACT), "gd", "--out", str(imported), "--seed", "9"]) == 2
    assert "already exists; pass --force" in capsys.readouterr().err
    assert (imported / "layout.geojson").read_bytes() == before


def test_shipped_gongdeok_is_imported_from_its_extract_with_its_licence() -> None:
    d = load_district("gongdeok")
    readme = (d.path / "README.md").read_text()
    assert "© OpenStreetMap contributors" in readme and "ODbL" in readme
    assert (d.path / "source" / "gongdeok.osm.bz2").is_file()
    assert d.key_figures()["poles"] > 100
