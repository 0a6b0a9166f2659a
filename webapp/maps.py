"""pydeck maps without a basemap: district layers, and grid cells for the Compare page's maps.

No tiles are fetched from anywhere: ``pdk.Deck(map_provider=None)`` (Streamlit reads
``map_style=None`` as "pick a Carto basemap for the theme", which would go to the internet). The
district's own streets and blocks are the map.

Every size is in metres (``metres_per_pixel`` of the initial view turns "about 4 px" into metres):
pixel units (``*_units="pixels"``, ``*_min_pixels``) draw as screen-filling blobs in Chromium's
software WebGL (SwiftShader, used by the browser tests and by machines without a GPU).

Positions are the GeoJSON's lon/lat; the simulation's local metres (the store's ``spatial`` table)
are turned back into lon/lat around the district's origin with the same projection the loader used.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import pydeck as pdk
import streamlit as st
from pydeck.bindings.json_tools import default_serialize

from simulation.config.district import M_PER_DEG_LAT, M_PER_DEG_LON_EQ, District

from .common import get_district

#: Land use as pale fills (Paul Tol's "light" scheme, readable with colour-blindness and under markers).
LAND_USE_COLOURS = {
    "residential": [238, 221, 136],
    "commercial": [255, 170, 187],
    "office": [153, 221, 255],
    "industrial": [221, 221, 221],
    "mixed": [187, 204, 51],
    "park": [68, 187, 153],
}
#: Okabe–Ito colours (safe for the common colour-vision deficiencies), each used for one thing only.
OI = {
    "black": [0, 0, 0],
    "orange": [230, 159, 0],
    "sky": [86, 180, 233],
    "green": [0, 158, 115],
    "yellow": [240, 228, 66],
    "blue": [0, 114, 178],
    "vermillion": [213, 94, 0],
    "purple": [204, 121, 167],
}
#: Pole colour by the most notable module it carries (first match in this order).
POLE_COLOURS = {
    "drone_dock": OI["black"],
    "ev_charger": OI["yellow"],
    "ai_camera": OI["blue"],
    "camera": OI["vermillion"],
    "small_cell": OI["orange"],
    "ap": OI["sky"],
    "sensor": OI["green"],
    "gateway": OI["green"],
    "light": [150, 150, 150],
}
POLE_LABELS = {
    "drone_dock": "drone dock",
    "ev_charger": "EV charger",
    "ai_camera": "AI camera",
    "camera": "camera",
    "small_cell": "5G small cell",
    "ap": "WiFi AP",
    "sensor": "sensor or IoT gateway",
    "light": "light only",
}
#: Rings of the "others" layer: the pole colour of the module, but gateways dark grey (green rings are sensors).
DEVICE_COLOURS = {"gateway": [90, 90, 90]} | {k: POLE_COLOURS[k] for k in ("small_cell", "ev_charger", "drone_dock")}
FIBRE = OI["purple"]
STREET = [110, 110, 110]
SITE = [32, 33, 36]
PEOPLE = [60, 60, 60]
#: Views and coverage: the hue of what they belong to, as a faint fill inside a solid outline (the
#: legend draws them as outlined squares; poles as dots, lines as bars, so no two entries look alike).
VIEW_PLAIN, VIEW_AI, AP_AREA = OI["vermillion"], OI["blue"], OI["sky"]
#: Layer key -> label of its toggle, in drawing order (first is drawn at the bottom).
LAYERS = {
    "blocks": "Blocks by land use",
    "streets": "Streets",
    "population": "People (dots)",
    "ap_coverage": "AP coverage",
    "cameras": "Camera views",
    "fibre": "Fibre links",
    "poles": "Poles by modules",
    "sensors": "Sensors",
    "others": "Other devices",
    "sites": "Stations and centres",
}
DEFAULT_ON = ("blocks", "streets", "ap_coverage", "cameras", "fibre", "poles", "sensors", "others", "sites")
#: Tooltips are plain text (deck.gl sets ``innerText``): nothing in them is read as HTML.
TOOLTIP = {
    "text": "{tip}",
    "style": {"backgroundColor": "#202124", "color": "white", "fontSize": "12px", "whiteSpace": "pre-line"},
}
_STREET_W = {"arterial": 14.0, "collector": 10.0, "local": 6.0, "pedestrian": 3.0}
#: Coordinates are sent with 5 decimals (about 1 m, under a pixel at the maps' zoom): fewer bytes.
DECIMALS = 5


def _e(v: object) -> str:
    return html.escape(str(v))


def _tip(title: str, **props: object) -> str:
    """A tooltip as plain text: a title line, then one ``key: value`` line per property."""
    rows = "".join(f"\n{k.replace('_', ' ')}: {v}" for k, v in props.items() if v not in (None, ""))
    return f"{title}{rows}"


def _r(p: Sequence[float]) -> list[float]:
    return [round(float(p[0]), DECIMALS), round(float(p[1]), DECIMALS)]


class CompactDeck(pdk.Deck):
    """A deck serialised without indentation (pydeck indents by 2, which doubles what goes over the wire)."""

    def to_json(self) -> str:
        """The deck as compact JSON."""
        return json.dumps(self, sort_keys=True, default=default_serialize, separators=(",", ":"))


def lonlat(d_origin: tuple[float, float], x: np.ndarray | float, y: np.ndarray | float) -> tuple:
    """Local metres around ``(lat0, lon0)`` -> (lon, lat), the inverse of the district loader's projection."""
    lat0, lon0 = d_origin
    kx = M_PER_DEG_LON_EQ * math.cos(math.radians(lat0))
    return lon0 + np.asarray(x) / kx, lat0 + np.asarray(y) / M_PER_DEG_LAT


def origin(d: District | None) -> tuple[float, float]:
    """The district's origin (lat, lon); (0, 0) without a district."""
    return (d.meta.origin.lat, d.meta.origin.lon) if d is not None else (0.0, 0.0)


def metres_per_pixel(view: pdk.ViewState) -> float:
    """Ground metres per screen pixel at the view's zoom and latitude (deck.gl's 512 px world)."""
    return 40_075_016.7 * math.cos(math.radians(view.latitude)) / (512 * 2**view.zoom)


def view_state(
    d: District | None, lon: Iterable[float] = (), lat: Iterable[float] = (), px: int = 700
) -> pdk.ViewState:
    """A view that fits the district's blocks (or the given points) into ``px`` pixels (the map's shorter side)."""
    if d is not None:
        pts = [p for b in d.blocks for p in b.ring]
        lon, lat = [p[0] for p in pts], [p[1] for p in pts]
    lon, lat = list(lon), list(lat)
    if not lon:
        return pdk.ViewState(latitude=0, longitude=0, zoom=14)
    lo0, lo1, la0, la1 = min(lon), max(lon), min(lat), max(lat)
    span = max(lo1 - lo0, (la1 - la0) / max(0.2, math.cos(math.radians((la0 + la1) / 2))), 1e-4)
    zoom = math.log2(px * 360 / (512 * span))
    return pdk.ViewState(latitude=(la0 + la1) / 2, longitude=(lo0 + lo1) / 2, zoom=round(min(zoom, 19), 2))


# --------------------------------------------------------------------------- district layers
def _pole_key(mods: Sequence[str]) -> str:
    return next((m for m in POLE_COLOURS if m in mods), "light")


@st.cache_data(show_spinner=False, max_entries=8)
def district_records(path: str, digest: str) -> dict[str, list[dict]]:
    """JSON-ready records of every district layer (cached per district version)."""
    d = get_district(path)
    o = origin(d)
    rec: dict[str, list[dict]] = {k: [] for k in LAYERS if k != "population"}
    for b in d.blocks:
        rec["blocks"].append(
            {
                "polygon": [_r(p) for p in b.ring],
                "color": [*LAND_USE_COLOURS.get(b.land_use, [200] * 3), 170],
                "tip": _tip(
                    f"block {b.id}", land_use=b.land_use, residents=b.residents, jobs=b.jobs, area_m2=round(b.area_m2)
                ),
            }
        )
    for s in d.streets:
        xs, ys = zip(*s.coords, strict=True)
        lo, la = lonlat(o, np.array(xs), np.array(ys))
        rec["streets"].append(
            {
                "path": np.column_stack([lo, la]).round(DECIMALS).tolist(),
                "w": _STREET_W.get(s.road_class, 6.0),
                "tip": _tip(f"street {s.id}", road_class=s.road_class, length_m=round(s.length_m)),
            }
        )
    for lk in d.links:
        rec["fibre"].append(
            {
                "path": [_r(p) for p in lk.coords],
                "w": 3 if lk.level == "trunk" else 1.2,
                "tip": _tip(
                    f"fibre link {lk.id}",
                    level=lk.level,
                    capacity_mbps=lk.capacity_mbps,
                    length_m=round(lk.length_m),
                    between=f"{lk.a} – {lk.b}",
                ),
            }
        )
    for p in d.poles:
        mods = [m for m in p.modules if m != "light"]
        rec["poles"].append(
            {
                "p": _r((p.lon, p.lat)),
                "color": POLE_COLOURS[_pole_key(p.modules)],
                "tip": _tip(
                    f"pole {p.id}",
                    model=p.model,
                    modules=", ".join(mods) or "light only",
                    slots=f"{p.used_slots}/{p.slots}",
                    power_w=f"{p.base_power_w:.0f}/{p.power_budget_w:.0f}",
                    link=p.link,
                ),
            }
        )
    for dev in d.devices:
        props = dict(dev.props)
        tip = _tip(f"{dev.kind.replace('_', ' ')} {dev.id}", pole=dev.pole, **props)
        if dev.kind == "ap":
            rec["ap_coverage"].append({"p": _r((dev.lon, dev.lat)), "r": float(props.get("range_m", 50)), "tip": tip})
        elif dev.kind == "camera":
            ai = props.get("camera_type") == "ai"
            r = float(props.get("range_m", 30))
            item = {
                "p": _r((dev.lon, dev.lat)),
                "r": r,
                "tip": tip,
                "color": [*(VIEW_AI if ai else VIEW_PLAIN), 30],
                "line": [*(VIEW_AI if ai else VIEW_PLAIN), 200],
            }
            if "heading_deg" in props:  # a camera with a direction gets its view sector
                item["polygon"] = _sector(
                    o, dev.x, dev.y, float(props["heading_deg"]), float(props.get("fov_deg", 90)), r
                )
            rec["cameras"].append(item)
        elif dev.kind == "sensor":
            rec["sensors"].append({"p": _r((dev.lon, dev.lat)), "tip": tip})
        else:
            rec["others"].append(
                {"p": _r((dev.lon, dev.lat)), "color": DEVICE_COLOURS.get(dev.kind, [0, 0, 0]), "tip": tip}
            )
    for site in d.sites:
        rec["sites"].append(
            {
                "p": _r((site.lon, site.lat)),
                "tip": _tip(site.name or site.id, kind=site.kind.replace("_", " "), id=site.id),
            }
        )
    return rec


def _sector(o: tuple[float, float], x: float, y: float, heading: float, fov: float, r: float) -> list[list[float]]:
    angles = np.radians(heading + np.linspace(-fov / 2, fov / 2, 9))
    xs = np.concatenate([[x], x + r * np.sin(angles)])
    ys = np.concatenate([[y], y + r * np.cos(angles)])
    lo, la = lonlat(o, xs, ys)
    return np.column_stack([lo, la]).round(DECIMALS).tolist()


@st.cache_data(show_spinner=False, max_entries=8)
def population_points(path: str, digest: str, per_dot: int) -> list[dict]:
    """One dot per ``per_dot`` residents and jobs, placed at random inside their block (fixed seed)."""
    d = get_district(path)
    rng = np.random.default_rng(7)
    out: list[np.ndarray] = []
    for b in d.blocks:
        n = (b.residents + b.jobs) // max(1, per_dot)
        if n <= 0:
            continue
        ring = np.asarray(b.ring)
        lo, hi = ring.min(axis=0), ring.max(axis=0)
        got: list[np.ndarray] = []
        have = 0
        for _ in range(20):
            cand = lo + rng.random((max(16, 2 * (n - have)), 2)) * (hi - lo)
            inside = cand[_inside(ring, cand)]
            got.append(inside)
            have += len(inside)
            if have >= n:
                break
        out.append(np.concatenate(got)[:n])
    return [{"p": p} for p in np.concatenate(out).round(DECIMALS).tolist()] if out else []


def _inside(ring: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Ray casting, vectorised over points."""
    x, y = pts[:, 0], pts[:, 1]
    res = np.zeros(len(pts), dtype=bool)
    j = len(ring) - 1
    for i in range(len(ring)):
        xi, yi = ring[i]
        xj, yj = ring[j]
        cross = ((yi > y) != (yj > y)) & (x < (xj - xi) * (y - yi) / ((yj - yi) or 1e-12) + xi)
        res ^= cross
        j = i
    return res


def district_layers(d: District, show: Iterable[str], mpp: float, per_dot: int = 5) -> list[pdk.Layer]:
    """The pydeck layers of a district, only those in ``show`` (keys of :data:`LAYERS`).

    ``mpp`` is metres per pixel of the initial view (:func:`metres_per_pixel`): markers and lines
    are sized in metres to look a few pixels wide there.
    """
    show = set(show)
    rec = district_records(str(d.path), d.digest)
    layers = []
    for key in LAYERS:
        if key not in show:
            continue
        if key == "population":
            layers.append(
                pdk.Layer(
                    "ScatterplotLayer",
                    id="population",
                    data=population_points(str(d.path), d.digest, per_dot),
                    get_position="p",
                    get_radius=1.2 * mpp,
                    get_fill_color=[*PEOPLE, 140],
                    pickable=False,
                )
            )
        else:
            layers += _layer(key, rec[key], mpp)
    return layers


def _layer(key: str, data: list[dict], mpp: float) -> list[pdk.Layer]:
    common = {"id": key, "data": data, "pickable": True, "auto_highlight": True}
    edge = {"stroked": True, "get_line_width": 1.0 * mpp}
    if key == "blocks":
        return [
            pdk.Layer(
                "PolygonLayer",
                get_polygon="polygon",
                get_fill_color="color",
                get_line_color=[255, 255, 255],
                **edge,
                **common,
            )
        ]
    if key == "streets":
        return [
            pdk.Layer("PathLayer", get_path="path", get_width="w", get_color=[*STREET, 220], cap_rounded=True, **common)
        ]
    if key == "fibre":  # drawn in pixels' worth of metres: trunks 3 px, access links 1.2 px
        return [
            pdk.Layer(
                "PathLayer",
                get_path="path",
                get_width=f"w * {mpp:.4f}",
                get_color=[*FIBRE, 230],
                cap_rounded=True,
                **common,
            )
        ]
    if key == "ap_coverage":
        return [
            pdk.Layer(
                "ScatterplotLayer",
                get_position="p",
                get_radius="r",
                get_fill_color=[*AP_AREA, 35],
                get_line_color=[*AP_AREA, 170],
                **edge,
                **common,
            )
        ]
    if key == "cameras":
        circles = [r for r in data if "polygon" not in r]
        sectors = [r for r in data if "polygon" in r]
        out = []
        if circles:
            out.append(
                pdk.Layer(
                    "ScatterplotLayer",
                    get_position="p",
                    get_radius="r",
                    get_fill_color="color",
                    get_line_color="line",
                    **edge,
                    **(common | {"data": circles}),
                )
            )
        if sectors:
            out.append(
                pdk.Layer(
                    "PolygonLayer",
                    get_polygon="polygon",
                    get_fill_color="color",
                    get_line_color="line",
                    **edge,
                    **(common | {"id": "camera_sectors", "data": sectors}),
                )
            )
        return out
    if key == "sites":
        return [
            pdk.Layer(
                "ScatterplotLayer",
                get_position="p",
                get_radius=8 * mpp,
                get_fill_color=SITE,
                get_line_color=[255, 255, 255],
                stroked=True,
                get_line_width=2 * mpp,
                **common,
            )
        ]
    if key in ("sensors", "others"):  # rings around their pole's dot: the same place, another mark
        return [
            pdk.Layer(
                "ScatterplotLayer",
                get_position="p",
                get_radius=(7 if key == "sensors" else 9) * mpp,
                filled=False,
                stroked=True,
                get_line_color=OI["green"] if key == "sensors" else "color",
                get_line_width=1.5 * mpp,
                **common,
            )
        ]
    return [
        pdk.Layer(
            "ScatterplotLayer",
            get_position="p",
            get_radius=4 * mpp,
            get_fill_color="color",
            get_line_color=[255, 255, 255],
            **edge,
            **common,
        )
    ]


def deck(layers: list[pdk.Layer], view: pdk.ViewState) -> pdk.Deck:
    """A deck with no basemap (nothing is fetched from the internet)."""
    return CompactDeck(layers=layers, initial_view_state=view, map_provider=None, tooltip=TOOLTIP)


# --------------------------------------------------------------------------- grid cells (Compare)
_SEQ = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], float)  # viridis


def sequential(values: np.ndarray, vmin: float, vmax: float) -> list[list[int]]:
    """Viridis colours for values between vmin and vmax."""
    t = np.clip((np.asarray(values, float) - vmin) / ((vmax - vmin) or 1.0), 0, 1) * (len(_SEQ) - 1)
    i = np.minimum(t.astype(int), len(_SEQ) - 2)
    c = _SEQ[i] + (_SEQ[i + 1] - _SEQ[i]) * (t - i)[:, None]
    return [[*map(int, row), 190] for row in c]


def diverging(diff: np.ndarray, better: str) -> list[list[int]]:
    """Green where the change is an improvement (by the KPI's direction), red where worse, grey if none."""
    d = np.asarray(diff, float)
    lim = float(np.nanmax(np.abs(d))) if len(d) and np.isfinite(d).any() else 1.0
    sign = {"higher": 1.0, "lower": -1.0}.get(better, 0.0)
    out = []
    for v in d:
        good = sign * v
        a = int(60 + 170 * min(1.0, abs(v) / (lim or 1.0)))
        out.append([26, 150, 65, a] if good > 0 else [215, 48, 39, a] if good < 0 else [150, 150, 150, 90])
    return out


def cells_layer(
    cells: pd.DataFrame, o: tuple[float, float], cell_m: float, colours: list[list[int]], tips: list[str], layer_id: str
) -> pdk.Layer:
    """Square grid cells (centres ``x``, ``y`` in local metres) as a polygon layer."""
    h = cell_m / 2
    x, y = cells["x"].to_numpy(float), cells["y"].to_numpy(float)
    corners = [(x - h, y - h), (x + h, y - h), (x + h, y + h), (x - h, y + h)]
    ll = [lonlat(o, cx, cy) for cx, cy in corners]
    data = [
        {"polygon": [_r((ll[k][0][i], ll[k][1][i])) for k in range(4)], "color": colours[i], "tip": tips[i]}
        for i in range(len(cells))
    ]
    return pdk.Layer(
        "PolygonLayer",
        id=layer_id,
        data=data,
        get_polygon="polygon",
        get_fill_color="color",
        stroked=False,
        pickable=True,
        auto_highlight=True,
    )


def _swatch(c: Sequence[int], shape: str) -> str:
    rgb = f"rgb({c[0]},{c[1]},{c[2]})"
    base = "display:inline-block;margin-right:4px;vertical-align:middle;"
    if shape == "dot":
        return f'<span style="{base}width:10px;height:10px;border-radius:50%;background:{rgb}"></span>'
    if shape == "site":
        ring = f"border:2px solid #fff;box-shadow:0 0 0 1px {rgb}"
        return f'<span style="{base}width:11px;height:11px;border-radius:50%;background:{rgb};{ring}"></span>'
    if shape == "ring":
        return f'<span style="{base}width:9px;height:9px;border-radius:50%;border:2px solid {rgb}"></span>'
    if shape == "line":
        return f'<span style="{base}width:16px;height:3px;background:{rgb}"></span>'
    if shape == "area":
        return (
            f'<span style="{base}width:11px;height:11px;border:2px solid {rgb};'
            f'background:rgba({c[0]},{c[1]},{c[2]},0.15)"></span>'
        )
    return f'<span style="{base}width:11px;height:11px;border-radius:2px;background:{rgb}"></span>'


def legend_html(items: Iterable[tuple]) -> str:
    """A row of swatches with labels: ``(label, colour)`` or ``(label, colour, shape)``.

    Shapes: ``square`` (a fill, the default), ``dot`` (a marker), ``ring``, ``line``, ``area`` (a faint
    fill inside an outline: coverage and views), ``site``.
    """
    return " ".join(
        f'<span class="legend-item" style="white-space:nowrap;margin-right:12px">'
        f"{_swatch(it[1], it[2] if len(it) > 2 else 'square')}{_e(it[0])}</span>"
        for it in items
    )


def district_legend(show: Iterable[str]) -> str:
    """The legend of every district layer shown, one line per layer, as HTML."""
    show = set(show)
    lines: list[tuple[str, list[tuple]]] = []
    if "blocks" in show:
        lines.append(("Land use", [(k, c, "square") for k, c in LAND_USE_COLOURS.items()]))
    lines.append(("Lines", []))
    if "streets" in show:
        lines[-1][1].append(("street", STREET, "line"))
    if "fibre" in show:
        lines[-1][1].append(("fibre link (thick: trunk)", FIBRE, "line"))
    areas = []
    if "ap_coverage" in show:
        areas.append(("WiFi AP coverage", AP_AREA, "area"))
    if "cameras" in show:
        areas += [("plain camera view", VIEW_PLAIN, "area"), ("AI camera view", VIEW_AI, "area")]
    if areas:
        lines.append(("Areas", areas))
    if "poles" in show:
        lines.append(
            ("Poles (by their most notable module)", [(POLE_LABELS[k], POLE_COLOURS[k], "dot") for k in POLE_LABELS])
        )
    marks = []
    if "sensors" in show:
        marks.append(("S-DoT sensor", OI["green"], "ring"))
    if "others" in show:
        marks += [(k.replace("_", " ").replace("ev", "EV"), c, "ring") for k, c in DEVICE_COLOURS.items()]
    if "population" in show:
        marks.append(("people (dots)", PEOPLE, "dot"))
    if "sites" in show:
        marks.append(("station or centre", SITE, "site"))
    if marks:
        lines.append(("Devices and places", marks))
    body = "<br/>".join(f"<b>{_e(t)}</b> {legend_html(items)}" for t, items in lines if items)
    return f"<div class='map-legend' style='font-size:0.85em;line-height:1.9'>{body}</div>"
