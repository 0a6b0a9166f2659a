"""District page: the pilot district on a map (no basemap), its layers and key figures."""

from __future__ import annotations

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

    The map goes out first: its data is sent before the district picker, the layer toggles and the
    key figures (they fill containers placed above and beside it), so the browser starts loading
    the map component while the rest of the page renders. Widget values come from the session's state,
    with the widgets' own defaults on the first view.
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
    show = [key for key in maps.LAYERS if state.get(f"layer_{key}", key in maps.DEFAULT_ON)]
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
        with st.expander("Layers", expanded=True):
            cols = st.columns(5)
            for i, (key, label) in enumerate(maps.LAYERS.items()):
                cols[i % 5].checkbox(
                    label,
                    value=key in maps.DEFAULT_ON,
                    key=f"layer_{key}",
                    help="IoT gateways, 5G small cells, EV chargers and drone docks" if key == "others" else None,
                )
            if "population" in show:
                st.number_input("People per dot", min_value=1, max_value=1000, value=5, step=1, key="per_dot")
    if d is None:
        return
    with right:
        figs = d.key_figures()
        for a, b in zip(FIGURES[0::2], FIGURES[1::2], strict=False):
            c1, c2 = st.columns(2)
            c1.metric(a[1], _n(figs.get(a[0])))
            c2.metric(b[1], _n(figs.get(b[0])))
        cc = d.meta.control_centre
        st.markdown(
            f"**Control centre**: {cc.operators_day} operators by day, {cc.operators_night} at night, "
            f"{cc.screens_per_operator} screens each; "
            + ("linked to the city's integrated centre." if cc.integrated else "not linked to the integrated centre.")
        )
        if d.meta.description:
            st.caption(d.meta.description)


def _n(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.2f}" if v < 10 else f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)
