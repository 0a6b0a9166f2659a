"""Build the shipped synthetic districts with ``simulation.config.generator``.

Usage, from the project root:

    python districts/build.py                # regenerate every district in SPECS, with its README.md
    python districts/build.py seongsu        # regenerate one
    python districts/build.py --check        # exit 1 if a committed file differs from what SPECS make

Each district folder gets ``district.yaml`` and ``layout.geojson`` from
:func:`simulation.config.generator.make_district`, and a ``README.md`` whose key figures are read back
from the loaded district, so they always match the files. The output is deterministic: the same
SPECS give byte-identical files, so re-running this script on an unchanged checkout changes nothing.

The districts are plausible, NOT surveyed. Their places come from ``docs/sources.md`` ("Places");
sizes, populations and land-use mixes below are judgement. To change a district, edit its entry in
SPECS and re-run; to add one, add an entry.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from simulation.config.district import District, load_district  # noqa: E402
from simulation.config.generator import make_district  # noqa: E402
from simulation.config.osm import import_osm  # noqa: E402

SPECS: dict[str, dict[str, Any]] = {
    "sangam_dmc": {
        "title": "Sangam DMC (Mapo-gu), synthetic pilot district",
        "origin_lat": 37.578,
        "origin_lon": 126.889,
        "width_m": 1450,
        "height_m": 1360,
        "residents": 12_000,
        "workers": 14_000,
        "visitors": 3_000,
        "seed": 578,
        "land_use_mix": {
            "office": 0.34,
            "commercial": 0.12,
            "mixed": 0.10,
            "residential": 0.26,
            "industrial": 0.03,
            "park": 0.15,
        },
        "ai_camera_share": 0.4,
        "integrated": True,
        "description": (
            "Modelled on Sangam Digital Media City (Mapo-gu, about 37.578 N, 126.889 E): a media and "
            "business district and Seoul's C-ITS and autonomous-driving testbed. Office-heavy, with "
            "parks; its control centre is linked to the city's integrated centre. Plausible, not surveyed."
        ),
        "notes": {
            "place": "sources.md 'Places': Sangam DMC, media/business district, C-ITS and autonomous-driving testbed",
            "population": "judgement: 12k residents, 14k workers, 3k visitors for a media/business district",
            "size": "judgement: ~1.4 km² of blocks (1450 m x 1360 m grid)",
            "integrated": "judgement: linked to the integrated centre, one of the first districts (sources.md: 15 -> 25)",
            "ai_share": "judgement: 40% AI cameras (sources.md: ~96,000 of ~160,000 city cameras AI by 2026)",
        },
        "modelled_on": (
            'Sangam Digital Media City (DMC), Mapo-gu, around 37.578 N, 126.889 E. docs/sources.md ("Places") '
            "describes it as a media/business district and Seoul's C-ITS and autonomous-driving testbed "
            "(5G V2X, autonomous buses, delivery robots from 9 firms). The synthetic layout is office- and "
            "media-heavy, with generous parks, and its control centre is already linked to the city's "
            "integrated centre and police/fire dispatch."
        ),
    },
    "seongsu": {
        "title": "Seongsu-dong (Seongdong-gu), synthetic pilot district",
        "origin_lat": 37.544,
        "origin_lon": 127.056,
        "width_m": 1350,
        "height_m": 1250,
        "residents": 20_000,
        "workers": 7_000,
        "visitors": 3_000,
        "seed": 544,
        "land_use_mix": {
            "residential": 0.38,
            "industrial": 0.22,
            "commercial": 0.14,
            "mixed": 0.14,
            "office": 0.06,
            "park": 0.06,
        },
        "ai_camera_share": 0.2,
        "integrated": False,
        "description": (
            "Modelled on Seongsu-dong (Seongdong-gu, about 37.544 N, 127.056 E): mixed residential, "
            "industrial and retail. Its control centre is not yet linked to the city's integrated centre "
            "(one of the 15 -> 25 connections still to come). Plausible, not surveyed."
        ),
        "notes": {
            "place": "sources.md 'Places': Seongsu-dong, mixed residential/industrial/retail; early S-Net district",
            "population": "judgement: 20k residents, 7k workers, 3k visitors for a mixed residential district",
            "size": "judgement: ~1.2 km² of blocks (1350 m x 1250 m grid)",
            "integrated": "judgement: not yet linked (sources.md: control-centre connections 15 -> 25 districts)",
            "ai_share": "judgement: 20% AI cameras, a district that upgrades late",
        },
        "modelled_on": (
            'Seongsu-dong, Seongdong-gu, around 37.544 N, 127.056 E. docs/sources.md ("Places") describes it as '
            "mixed residential, industrial and retail; Seongdong was among the first S-Net and smart-pole "
            "districts (82 km of fibre; APs 131 -> 400). The synthetic layout mixes housing, workshops and "
            "retail, and its control centre is one of those not yet linked to the city's integrated centre "
            "(the plan's 15 -> 25 control-centre connections)."
        ),
    },
}


#: Districts imported from a real OpenStreetMap extract shipped in their ``source/`` folder.
IMPORTS: dict[str, dict[str, Any]] = {
    "gongdeok": {
        "source": "source/gongdeok.osm.bz2",
        "title": "Gongdeok-dong (Mapo-gu), streets and land use from OpenStreetMap",
        "seed": 5449,
        "density": 20_000.0,
        "ai_camera_share": 0.3,
        "origin": (
            "An OpenStreetMap export (OSM API map call, CGImap 0.8.8) of Gongdeok-dong and Ahyeon-dong, Mapo-gu, "
            "Seoul: box 126.94948-126.96632 E, 37.54431-37.55187 N (about 1.5 km x 0.8 km), obtained from the "
            "public repository github.com/Chaeguevara/Text2Geo-flow (file `map.osm`, commit e64e6c9), stored "
            "here unchanged but compressed as `source/gongdeok.osm.bz2`."
        ),
    },
}


def build(name: str, out: Path) -> None:
    """Write district ``name`` (district.yaml, layout.geojson, README.md) into folder ``out``."""
    if name in IMPORTS:
        _build_import(name, out)
        return
    spec = dict(SPECS[name])
    modelled_on = spec.pop("modelled_on")
    make_district(out, name=name, **spec)
    readme = _readme(name, spec, modelled_on, load_district(out))
    (out / "README.md").write_text(readme, encoding="utf-8")


def _build_import(name: str, out: Path) -> None:
    spec = IMPORTS[name]
    rep = import_osm(
        HERE / name / spec["source"],
        out,
        name=name,
        seed=spec["seed"],
        density=spec["density"],
        ai_camera_share=spec["ai_camera_share"],
        title=spec["title"],
    )
    d = load_district(out)
    k = d.key_figures()
    rows = "\n".join(f"| {key} | {value} |" for key, value in k.items() if key not in ("district", "title"))
    notes = "\n".join(f"- **{key}**: {text}" for key, text in d.meta.notes.items())
    text = f"""# {d.meta.title}

**Streets and land use are real (OpenStreetMap); population and every pole, device and fibre link
are modelled** by `simulation/config/osm.py` (seed {spec["seed"]}) with the S-Pole standard model per
road class. Not surveyed: no pole, camera or AP here is a real asset.

## Licence

Map data © OpenStreetMap contributors, available under the Open Database License (ODbL) 1.0
(https://www.openstreetmap.org/copyright, https://opendatacommons.org/licenses/odbl/1-0/). The
extract in `source/` and the derived `layout.geojson` (a derived database) are shared under the
same licence; keep this notice with them.

## Source

{spec["origin"]}

The import kept {rep.streets} street segments and {rep.blocks} blocks ({rep.land_use_from_osm} with land use
from OSM tags; {rep.nodes_dropped} street nodes off the main network were dropped).

## Key figures

| | |
|---|---|
{rows}

## Notes

{notes}

Regenerate with `python districts/build.py {name}` (deterministic: same extract and seed, same bytes), or
import any extract with `python -m simulation import-osm FILE NAME [--bbox MINLON,MINLAT,MAXLON,MAXLAT]`.
"""
    (out / "README.md").write_text(text, encoding="utf-8")


def _readme(name: str, spec: dict[str, Any], modelled_on: str, d: District) -> str:
    k = d.key_figures()
    trunks = [lk for lk in d.links if lk.level == "trunk"]
    share = {lk.b: 0 for lk in trunks}
    for p in d.poles:
        share[d.link_by_id[d.uplink_path(p.id)[-1]].b] += 1
    cut = ", ".join(f"{lk.id} {lk.capacity_mbps:.0f} Mbps -> {share[lk.b]} poles" for lk in trunks)
    pop = d.meta.population
    cc = d.meta.control_centre
    rows = [
        ("area of blocks", f"{k['area_km2']} km² (grid {spec['width_m']} m x {spec['height_m']} m)"),
        ("residents / workers / visitors", f"{pop.residents:,} / {pop.workers:,} / {pop.visitors:,}"),
        ("streets", f"{k['streets_km']} km"),
        ("S-Poles", f"{k['poles']}"),
        ("WiFi APs", f"{k['aps']}"),
        ("cameras (AI)", f"{k['cameras']} ({k['ai_cameras']})"),
        ("S-DoT sensors", f"{k['sensors']}"),
        ("LoRaWAN gateways", f"{k['gateways']}"),
        ("5G small cells", f"{k['small_cells']}"),
        ("EV chargers", f"{k['ev_chargers']}"),
        ("drone docks", f"{k['drone_docks']}"),
        (
            "fibre",
            f"{k['fibre_km']} km of cable: {len(trunks)} trunks to cabinets, one access link per pole "
            "(a star, so a shared trench counts once per link)",
        ),
        (
            "control centre",
            f"{cc.operators_day} operators by day, {cc.operators_night} at night; "
            f"integrated: {'yes' if cc.integrated else 'no'}",
        ),
    ]
    table = "\n".join(f"| {a} | {b} |" for a, b in rows)
    notes = "\n".join(f"- **{key}**: {text}" for key, text in d.meta.notes.items())
    return f"""# {d.meta.title}

**Plausible, NOT surveyed.** Every street, block, pole, device and fibre link in this folder was
generated by `simulation/districtgen.py` (seed {spec["seed"]}) to look and behave like a Seoul pilot
district. Nothing here is a real asset; do not read it as a map of the place.

## What it is modelled on

{modelled_on}

## Key figures

| | |
|---|---|
{table}

Trunks (a fibre cut on one trunk cuts the poles behind it): {cut}.

## What is judgement and what comes from docs/sources.md

The same notes are in `district.yaml` under `notes`.

{notes}

## Files

- `district.yaml`: metadata (population, control centre, notes).
- `layout.geojson`: streets, blocks, sites, fibre links, poles and devices, WGS84 (RFC 7946);
  opens unchanged in QGIS. The format is described in `docs/districts.md`.

Regenerate with `python districts/build.py {name}` (deterministic: same spec, same bytes).
"""


def main(argv: list[str] | None = None) -> int:
    """Build (or with ``--check`` verify) the districts named on the command line, or all."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    every = [*SPECS, *IMPORTS]
    ap.add_argument("names", nargs="*", metavar="NAME", help=f"districts to build (default all: {', '.join(every)})")
    ap.add_argument("--check", action="store_true", help="compare with the committed files instead of writing")
    args = ap.parse_args(argv)
    unknown = [n for n in args.names if n not in every]
    if unknown:
        print(f"build.py: unknown district {unknown[0]!r}; known: {', '.join(every)}", file=sys.stderr)
        return 2
    stale = []
    for name in args.names or every:
        if not args.check:
            build(name, HERE / name)
            print(f"built districts/{name}")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            build(name, Path(tmp) / name)
            for f in ("district.yaml", "layout.geojson", "README.md"):
                if not (HERE / name / f).is_file() or not filecmp.cmp(Path(tmp) / name / f, HERE / name / f, False):
                    stale.append(f"districts/{name}/{f}")
    if stale:
        print("out of date (run python districts/build.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
