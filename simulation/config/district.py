"""Districts: ``district.yaml`` (metadata) + ``layout.geojson`` (what exists, where) -> District.

The format is documented in ``docs/districts.md``. Coordinates in the GeoJSON are WGS84 lon/lat
(RFC 7946), so the file opens unchanged in GIS tools; the loader projects them to metres on a local
plane around the district's origin, which is what the simulation works in.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from simulation._files import project_path
from simulation.config._yaml import MAX_YAML_BYTES, parse_model, parse_yaml, read_bytes_capped
from simulation.config.district_model import (  # noqa: F401 - the types, re-exported for readers of this module
    DEVICE_KINDS,
    DISTRICTS_DIR,
    LAND_USES,
    M_PER_DEG_LAT,
    M_PER_DEG_LON_EQ,
    MAX_GEOJSON_BYTES,
    ROAD_CLASSES,
    SITE_KINDS,
    Block,
    ControlCentre,
    Device,
    District,
    DistrictMeta,
    Link,
    ModuleCost,
    ModuleType,
    Origin,
    Pole,
    PoleCatalogue,
    PoleModel,
    Population,
    Site,
    Street,
    load_pole_catalogue,
)
from simulation.config.layers import build_district
from simulation.errors import DistrictError

__all__ = [
    "DISTRICTS_DIR",
    "Block",
    "Device",
    "District",
    "Link",
    "ModuleType",
    "Pole",
    "PoleModel",
    "Site",
    "Street",
    "list_districts",
    "load_district",
    "load_pole_catalogue",
]


# --------------------------------------------------------------------------- loading
def _resolve_dir(name_or_path: str | Path) -> Path:
    p = project_path(name_or_path)
    if p.is_dir():
        return p
    if p.name == "district.yaml" and p.is_file():
        return p.parent
    cand = DISTRICTS_DIR / str(name_or_path)
    if cand.is_dir():
        return cand
    known = ", ".join(d.name for d in list_districts()) or "(none)"
    raise DistrictError(name_or_path, f"no such district; known districts: {known}")


def list_districts(root: Path | None = None) -> list[Path]:
    """Folders under ``districts/`` that hold a ``district.yaml``."""
    root = root or DISTRICTS_DIR
    return sorted(p.parent for p in root.glob("*/district.yaml"))


def load_district(name_or_path: str | Path) -> District:
    """Load a district by name (folder under ``districts/``) or by folder path."""
    folder = _resolve_dir(name_or_path)
    return _load(folder.resolve())


_CACHE: dict[tuple[Path, str], District] = {}


def _load(folder: Path) -> District:
    yml, geo = folder / "district.yaml", folder / "layout.geojson"
    raw_yaml = read_bytes_capped(yml, DistrictError, MAX_YAML_BYTES)
    raw_geo = read_bytes_capped(geo, DistrictError, MAX_GEOJSON_BYTES) if geo.is_file() else b""
    cat_path = folder.parent / "pole_models.yaml"
    if not cat_path.is_file():
        cat_path = DISTRICTS_DIR / "pole_models.yaml"
    raw_cat = read_bytes_capped(cat_path, DistrictError, MAX_YAML_BYTES) if cat_path.is_file() else b""
    digest = hashlib.sha256(raw_yaml + b"\0" + raw_geo + b"\0" + raw_cat).hexdigest()[:16]
    hit = _CACHE.get((folder, digest))
    if hit is not None:
        return hit
    try:
        yaml_text = raw_yaml.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DistrictError(yml, f"is not UTF-8 text (bad byte at offset {exc.start})") from None
    meta = parse_model(DistrictMeta, parse_yaml(yaml_text, yml, DistrictError), yml, DistrictError)
    catalogue = load_pole_catalogue(cat_path)
    if not raw_geo:
        raise DistrictError(geo, "file not found")
    gj = _parse_geojson(raw_geo, geo)
    if not isinstance(gj, dict) or gj.get("type") != "FeatureCollection" or not isinstance(gj.get("features"), list):
        raise DistrictError(geo, "must be a GeoJSON FeatureCollection with a 'features' list")
    d = build_district(folder, meta, catalogue, gj, geo, digest)
    _CACHE[(folder, digest)] = d
    return d


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (RFC 8259); use a finite number")


def _parse_geojson(raw: bytes, geo: Path) -> Any:
    """JSON with no NaN/Infinity, no number too long to convert and no nesting deep enough to recurse."""
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise DistrictError(geo, f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except UnicodeDecodeError as exc:
        raise DistrictError(geo, f"not valid JSON (not UTF-8 text: bad byte at offset {exc.start})") from None
    except RecursionError:
        raise DistrictError(geo, "not valid JSON for a layout (nested too deep)") from None
    except ValueError as exc:
        raise DistrictError(geo, f"not valid JSON ({str(exc)[:120]})") from None
