"""Reading an OpenStreetMap extract: ``.osm`` XML (plain, ``.gz`` or ``.bz2``) or ``.osm.pbf``.

XML is read with the standard library (``xml.etree.ElementTree.iterparse``); PBF with pyosmium
(``osmium`` on PyPI). Nothing here touches the network. What comes out is plain data: node
positions, ways with their node lists and tags, and tagged points (police, fire stations, shops).
Every problem is an :class:`~simulation.errors.OsmError` naming the file and what is wrong.
"""

from __future__ import annotations

import bz2
import gzip
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

from simulation.errors import OsmError

__all__ = ["OsmData", "Way", "parse_bbox", "read_osm"]

BBox = tuple[float, float, float, float]  # min lon, min lat, max lon, max lat

SUFFIXES = (".osm", ".osm.gz", ".osm.bz2", ".osm.pbf", ".xml")


@dataclass(frozen=True)
class Way:
    """An OSM way: its id, node ids in order and tags."""

    id: int
    nodes: tuple[int, ...]
    tags: dict[str, str]


@dataclass
class OsmData:
    """What the importer needs from an extract."""

    nodes: dict[int, tuple[float, float]] = field(default_factory=dict)  # id -> (lon, lat)
    ways: list[Way] = field(default_factory=list)
    points: list[tuple[float, float, dict[str, str]]] = field(default_factory=list)  # tagged nodes
    bounds: BBox | None = None


def parse_bbox(text: str) -> BBox:
    """Parse ``MINLON,MINLAT,MAXLON,MAXLAT`` (degrees, as the OSM API writes it)."""
    parts = text.split(",")
    try:
        vals = [float(v) for v in parts]
    except ValueError:
        vals = []
    if len(vals) != 4:
        raise OsmError("--bbox", f"must be MINLON,MINLAT,MAXLON,MAXLAT (4 numbers); got {text!r}")
    lo, la, hi_lo, hi_la = vals
    if not (-180 <= lo < hi_lo <= 180 and -90 <= la < hi_la <= 90):
        raise OsmError("--bbox", f"needs -180 <= MINLON < MAXLON <= 180 and -90 <= MINLAT < MAXLAT <= 90; got {text!r}")
    return lo, la, hi_lo, hi_la


def _open(path: Path) -> IO[bytes]:
    name = path.name.lower()
    if name.endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    if name.endswith(".bz2"):
        return cast(IO[bytes], bz2.open(path, "rb"))
    return path.open("rb")


_POINT_KEYS = ("amenity", "shop", "office", "leisure", "tourism")


def _read_xml(path: Path) -> OsmData:
    data = OsmData()
    root_seen = False
    try:
        with _open(path) as fh:
            for event, el in ET.iterparse(fh, events=("start", "end")):
                if event == "start":
                    if not root_seen:
                        root_seen = True
                        if el.tag != "osm":
                            raise OsmError(path, f"is not OpenStreetMap XML: the root element is <{el.tag}>, not <osm>")
                    continue
                if el.tag == "node":
                    nid = int(el.get("id", "0"))
                    lon, lat = float(el.get("lon", "nan")), float(el.get("lat", "nan"))
                    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                        raise OsmError(path, f"node {nid} has no valid lon/lat ({el.get('lon')!r}, {el.get('lat')!r})")
                    data.nodes[nid] = (lon, lat)
                    tags = {t.get("k", ""): t.get("v", "") for t in el.iter("tag")}
                    if any(k in tags for k in _POINT_KEYS):
                        data.points.append((lon, lat, tags))
                    el.clear()
                elif el.tag == "way":
                    refs = tuple(int(nd.get("ref", "0")) for nd in el.iter("nd"))
                    tags = {t.get("k", ""): t.get("v", "") for t in el.iter("tag")}
                    data.ways.append(Way(int(el.get("id", "0")), refs, tags))
                    el.clear()
                elif el.tag == "bounds":
                    try:
                        b = tuple(float(el.get(k, "")) for k in ("minlon", "minlat", "maxlon", "maxlat"))
                        data.bounds = (b[0], b[1], b[2], b[3])
                    except ValueError:
                        pass
                elif el.tag == "relation":
                    el.clear()
    except ET.ParseError as exc:
        raise OsmError(path, f"is not well-formed XML ({exc})") from None
    except (OSError, EOFError) as exc:
        raise OsmError(path, f"cannot be read ({exc})") from None
    except ValueError as exc:
        raise OsmError(path, f"has a malformed id or coordinate ({exc})") from None
    if not root_seen:
        raise OsmError(path, "is empty")
    return data


def _read_pbf(path: Path) -> OsmData:
    try:
        import osmium
    except ImportError:  # pragma: no cover - osmium is pinned in requirements.txt
        msg = "reading .osm.pbf needs pyosmium (pip install osmium); convert to .osm or install it"
        raise OsmError(path, msg) from None
    data = OsmData()
    try:
        for obj in osmium.FileProcessor(str(path)):
            if isinstance(obj, osmium.osm.Node):
                if not obj.location.valid():
                    continue
                lon, lat = obj.location.lon, obj.location.lat
                data.nodes[obj.id] = (lon, lat)
                tags = {t.k: t.v for t in obj.tags}
                if any(k in tags for k in _POINT_KEYS):
                    data.points.append((lon, lat, tags))
            elif isinstance(obj, osmium.osm.Way):
                data.ways.append(Way(obj.id, tuple(n.ref for n in obj.nodes), {t.k: t.v for t in obj.tags}))
    except RuntimeError as exc:
        raise OsmError(path, f"is not a readable OSM PBF file ({exc})") from None
    return data


def read_osm(path: Path) -> OsmData:
    """Read an extract from a local file; the format follows the suffix."""
    path = Path(path)
    if not path.is_file():
        raise OsmError(path, "file not found")
    name = path.name.lower()
    if not name.endswith(SUFFIXES):
        raise OsmError(path, f"unknown extract format; allowed suffixes: {', '.join(SUFFIXES)}")
    data = _read_pbf(path) if name.endswith(".pbf") else _read_xml(path)
    if not data.ways:
        raise OsmError(path, "holds no ways; an extract needs streets")
    return data
