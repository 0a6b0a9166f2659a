"""District page: the pilot district on a map (no basemap), its layers and key figures."""

from __future__ import annotations

import html
from pathlib import Path

import streamlit as st

from simulation.errors import SandboxError

from . import maps
from .common import district_dirs, get_district

FIGURES = [
    ("area_km2", "Area (km²)"),
    ("residents", "Residents"),
    ("jobs", "Jobs"),
    ("poles", "S-Poles"),
    ("aps", "WiFi APs"),
    ("cameras", "Cameras"),
    ("ai_cameras", "of which AI"),
    ("sensors", "S-DoT sensors"),
    ("gateways", "IoT gateways"),
    ("small_cells", "5G small cells"),
    ("ev_chargers", "EV chargers"),
    ("drone_docks", "Drone docks"),
    ("fibre_km", "Fibre (km)"),
    ("streets_km", "Streets (km)"),
]


def page() -> None:
    """Render the District page.

    The map goes out first: its data is sent before the district picker, the layer choice and the
    key figures (they fill containers placed above and beside it), so the browser starts on the map
    while the rest of the page renders. Widget values come from the session's state, with the
    widgets' own defaults on the first view. The page is a handful of elements (one layer picker, one
    table of figures): every element is a message the browser's page re-renders on, and 50 of them
    delayed the map's first paint by about a second on a 2-core machine (benchmarks/map_paint.py).
    """
    st.title("District")
    dirs = district_dirs()
    if not dirs:
        st.info("No districts found: add one under `districts/` (see docs/districts.md) or set PILOT_DISTRICTS.")
        return
    paths = [str(p) for p in dirs]
    state = st.session_state
    choice = state.get("district_pick")
    choice = choice if choice in paths else paths[0]
    controls = st.container()
    left, right = st.columns([3, 1])
    show = [k for k in maps.LAYERS if k in state.get("district_layers", maps.DEFAULT_ON)]
    per_dot = int(state.get("per_dot", 5))
    try:
        d = get_district(choice)
    except SandboxError as exc:
        d = None
        with left:
            st.error(str(exc))
    if d is not None:
        with left:
            view = maps.view_state(d, px=560)
            layers = maps.district_layers(d, show, maps.metres_per_pixel(view), per_dot=per_dot)
            st.pydeck_chart(maps.deck(layers, view), height=620, key="district_map", alt=f"map of district {d.name}")
            st.markdown(maps.district_legend(show), unsafe_allow_html=True)
    with controls:
        st.selectbox("District", paths, format_func=lambda p: Path(p).name, key="district_pick")
        if d is not None:
            st.caption(d.meta.title + (" · surveyed" if d.meta.surveyed else " · synthetic, not surveyed"))
        st.pills(
            "Layers",
            list(maps.LAYERS),
            selection_mode="multi",
            default=list(maps.DEFAULT_ON),
            format_func=maps.LAYERS.__getitem__,
            key="district_layers",
            help="Click a layer to show or hide it. Other devices: IoT gateways, 5G small cells, EV chargers "
            "and drone docks.",
        )
        if "population" in show:
            st.number_input("People per dot", min_value=1, max_value=1000, value=5, step=1, key="per_dot")
    if d is None:
        return
    with right:
        st.markdown(figures_table(d.key_figures()), unsafe_allow_html=True)
        cc = d.meta.control_centre
        st.markdown(
            f"**Control centre**: {cc.operators_day} operators by day, {cc.operators_night} at night, "
            f"{cc.screens_per_operator} screens each; "
            + ("linked to the city's integrated centre." if cc.integrated else "not linked to the integrated centre.")
        )
        if d.meta.description:
            st.caption(d.meta.description)


_TH = "font-weight:normal;text-align:left;padding:2px 8px 2px 0"
_TD = "text-align:right;padding:2px 0;font-variant-numeric:tabular-nums"


def figures_table(figs: dict[str, object]) -> str:
    """The district's key figures as one small HTML table (label, value), numbers right-aligned."""
    rows = "".join(
        f"<tr><th scope='row' style='{_TH}'>{html.escape(label)}</th>"
        f"<td style='{_TD}'>{html.escape(_n(figs.get(k)))}</td></tr>"
        for k, label in FIGURES
    )
    head = "<caption style='text-align:left;caption-side:top;font-weight:600'>Key figures</caption>"
    return f"<table class='key-figures' style='width:100%;border:none'>{head}{rows}</table>"


def _n(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.2f}" if v < 10 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return "–" if v is None else str(v)
