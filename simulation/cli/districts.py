"""``make-district`` and ``import-osm``: the two ways to make a district folder from the command line.

Arguments and printing only; the work is in :mod:`simulation.config.generator` (synthetic grid)
and :mod:`simulation.config.osm` (OpenStreetMap extract).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import zlib
from pathlib import Path

from simulation.config import generator
from simulation.config.district import DISTRICTS_DIR, load_district
from simulation.errors import SandboxError

__all__ = ["add_arguments", "register", "run", "run_import"]


_LIMITS = {
    "width_m": ("--width-m", 200, 10_000, "m"),
    "height_m": ("--height-m", 200, 10_000, "m"),
    "density": ("--density", 100, 100_000, "people per km²"),
    "ai_share": ("--ai-share", 0, 1, ""),
    "lat": ("--lat", -80, 80, "degrees"),
    "lon": ("--lon", -180, 180, "degrees"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``make-district`` arguments to ``parser`` (a subcommand's parser)."""
    parser.add_argument("name", metavar="NAME", help="district name (letters, digits, '_', '-')")
    parser.add_argument("--out", metavar="DIR", default=None, help="folder to write (default: districts/NAME)")
    parser.add_argument("--width-m", type=float, default=1000.0, help="east-west extent in m (200..10000)")
    parser.add_argument("--height-m", type=float, default=1000.0, help="north-south extent in m (200..10000)")
    parser.add_argument(
        "--density",
        type=float,
        default=15_000.0,
        help="people per km² (100..100000), split 55%% residents, 35%% workers, 10%% visitors",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: derived from NAME)")
    parser.add_argument("--lat", type=float, default=37.55, help="latitude of the centre (default 37.55)")
    parser.add_argument("--lon", type=float, default=126.99, help="longitude of the centre (default 126.99)")
    parser.add_argument("--ai-share", type=float, default=0.3, help="share of AI cameras, 0..1 (default 0.3)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing district folder")
    parser.add_argument("--json", action="store_true", help="print the district's key figures as JSON")


def run(args: argparse.Namespace) -> int:
    """Generate the district ``args`` describe, load it back and print its key figures.

    Returns:
        0 on success, 2 on bad input (message on stderr), 1 if the result does not load.
    """

    def fail(msg: str) -> int:
        print(f"make-district: {msg}", file=sys.stderr)
        return 2

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", args.name):
        return fail(f"NAME must be letters, digits, '_' or '-'; got {args.name!r}")
    for attr, (opt, lo, hi, unit) in _LIMITS.items():
        v = getattr(args, attr)
        if not (math.isfinite(v) and lo <= v <= hi):
            return fail(f"{opt} must be between {lo:g} and {hi:g} {unit}; got {v:g}".replace(" ;", ";"))
    out = Path(args.out) if args.out else DISTRICTS_DIR / args.name
    if out.exists() and not out.is_dir():
        return fail(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not args.force:
        return fail(f"{out} already exists; pass --force to overwrite it")
    seed = args.seed if args.seed is not None else zlib.crc32(args.name.encode())
    try:
        generator.make_district(
            out,
            name=args.name,
            title=f"{args.name.replace('_', ' ').replace('-', ' ').title()} (synthetic)",
            origin_lat=args.lat,
            origin_lon=args.lon,
            width_m=args.width_m,
            height_m=args.height_m,
            **generator.population_from_density(args.density, args.width_m * args.height_m / 1e6),
            seed=seed,
            ai_camera_share=args.ai_share,
            description=f"Synthetic district: {args.width_m:g} m x {args.height_m:g} m, "
            f"{args.density:g} people per km², seed {seed}.",
        )
    except OSError as exc:
        return fail(f"cannot write {out}: {exc.strerror or exc}")
    try:
        district = load_district(out)
    except SandboxError as exc:
        print(f"make-district: the generated district does not load: {exc}", file=sys.stderr)
        return 1
    if getattr(args, "json", False):
        doc = {"folder": str(out), "seed": seed, "files": ["district.yaml", "layout.geojson"]}
        print(json.dumps(doc | {"figures": district.key_figures()}, indent=1, default=str))
        return 0
    print(f"wrote {out / 'district.yaml'} and {out / 'layout.geojson'} (seed {seed})")
    for key, value in district.key_figures().items():
        print(f"  {key:<18} {value}")
    return 0


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``import-osm`` arguments to ``parser``."""
    parser.add_argument("file", metavar="FILE", help="local extract: .osm, .osm.gz, .osm.bz2 or .osm.pbf")
    parser.add_argument("name", metavar="NAME", help="district name (letters, digits, '_', '-')")
    parser.add_argument(
        "--bbox",
        metavar="MINLON,MINLAT,MAXLON,MAXLAT",
        help="keep what lies in this box (default: the file's <bounds>, else all of it)",
    )
    parser.add_argument("--out", metavar="DIR", default=None, help="folder to write (default: districts/NAME)")
    parser.add_argument(
        "--seed", type=int, default=None, help="seed of the modelled infrastructure (default: from NAME)"
    )
    parser.add_argument("--density", type=float, default=15_000.0, help="people per km² of the box (100..100000)")
    parser.add_argument("--ai-share", type=float, default=0.3, help="share of AI cameras, 0..1 (default 0.3)")
    parser.add_argument("--title", default=None, help="human-readable title")
    parser.add_argument("--force", action="store_true", help="overwrite an existing district folder")


def run_import(args: argparse.Namespace) -> int:
    """Import an OSM extract as a district, load it back and print its key figures.

    Returns:
        0 on success; bad input raises :class:`~simulation.errors.OsmError` (the CLI exits 2).
    """
    from simulation.config.osm import import_osm
    from simulation.config.osm_read import parse_bbox
    from simulation.errors import OsmError

    bbox = parse_bbox(args.bbox) if args.bbox else None
    out = Path(args.out) if args.out else DISTRICTS_DIR / args.name
    if out.exists() and not out.is_dir():
        raise OsmError(out, "exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not args.force:
        raise OsmError(out, "already exists; pass --force to overwrite it")
    rep = import_osm(
        Path(args.file),
        out,
        name=args.name,
        bbox=bbox,
        seed=args.seed,
        density=args.density,
        ai_camera_share=args.ai_share,
        title=args.title,
    )
    district = load_district(out)
    print(f"wrote {out / 'district.yaml'} and {out / 'layout.geojson'}")
    print(
        f"  from {args.file}: {rep.ways_read} ways read, {rep.streets} street segments kept, "
        f"{rep.nodes_dropped} nodes off the main network dropped; {rep.blocks} blocks, "
        f"{rep.land_use_from_osm} with land use from OSM"
    )
    for key, value in district.key_figures().items():
        print(f"  {key:<18} {value}")
    print("  map data © OpenStreetMap contributors, ODbL 1.0")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``make-district`` and ``import-osm`` to the CLI."""
    m = sub.add_parser(
        "make-district",
        help="generate a synthetic district of a given size and density",
        description="Generate a synthetic district (district.yaml + layout.geojson) for scale tests.",
    )
    add_arguments(m)
    m.set_defaults(fn=run)
    o = sub.add_parser(
        "import-osm",
        help="make a district from a local OpenStreetMap extract (no network)",
        description="Read a local OpenStreetMap extract, keep its streets and land use in the box, place S-Poles, "
        "devices and fibre by road class (seeded), and write districts/NAME/{district.yaml,layout.geojson}.",
    )
    add_import_arguments(o)
    o.set_defaults(fn=run_import)
