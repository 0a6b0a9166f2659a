"""The Run page's "Add a service": any service that passed its conformance check, shipped or uploaded.

Plugins are read as files (manifest, code hash) through the Services page's helpers; a service joins
the run as ``use: <its folder>`` with the params chosen here, which the scenario loader checks
against the manifest exactly as it checks a scenario file's (same messages).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from simulation.config.scenario import Scenario
from simulation.jobs import checks as checkjob

from .common import store_root
from .services import plugin_folders, read_plugin


def conforming_services() -> list[dict[str, Any]]:
    """Plugins whose latest conformance report, for their current code, says they conform."""
    out = []
    for folder, origin in plugin_folders():
        info = read_plugin(folder)
        m = info["manifest"]
        if m is None or not info["code_hash"]:
            continue
        doc, current = checkjob.latest_report(store_root(), m["name"], info["code_hash"], folder)
        if doc is not None and current and doc.get("conforms") and not doc.get("error"):
            out.append(info | {"origin": origin})
    return out


def _label(info: dict[str, Any]) -> str:
    m = info["manifest"]
    tail = f", uploaded, code {info['code_hash'][:8]}" if info["origin"] == "uploaded" else ", shipped"
    return f"{m['name']} {m['version']} — {m['vendor']} ({m['category']}{tail})"


def add_services_section(sc: Scenario, k: str) -> list[dict[str, Any]]:
    """Widgets to add conforming services with their params; returns service entries for the scenario."""
    have = {s.key for s in sc.services}
    avail = {i["folder"]: i for i in conforming_services() if i["manifest"]["name"] not in have}
    with st.expander("Add a service (any that passed its conformance check)", expanded=False):
        if not avail:
            st.caption(
                "No other service has passed its conformance check yet: check one on the **Services** page "
                "(shipped or uploaded), then add it here."
            )
            return []
        picked = st.multiselect(
            "Services to add",
            list(avail),
            key=k + "add_svc",
            format_func=lambda f: _label(avail[f]),
            placeholder="none",
        )
        out = []
        for f in picked:
            m = avail[f]["manifest"]
            st.markdown(f"**{m['name']}** params")
            params = {}
            for name, spec in m["params"].items():
                params[name] = _param_widget(f"{k}add:{f}:{name}", name, spec)
            if not m["params"]:
                st.caption("This service has no params.")
            out.append({"use": str(Path(f)), "name": m["name"], "params": params})
        return out


def _param_widget(key: str, name: str, spec: dict[str, Any]) -> Any:
    help_ = spec.get("description") or None
    if spec.get("choices"):
        choices = list(spec["choices"])
        return st.selectbox(name, choices, index=choices.index(spec["default"]), key=key, help=help_)
    t = spec["type"]
    if t == "bool":
        return st.checkbox(name, value=bool(spec["default"]), key=key, help=help_)
    if t == "str":
        return st.text_input(name, value=str(spec["default"]), key=key, help=help_)
    lo, hi = spec.get("min"), spec.get("max")
    if t == "int":
        return int(
            st.number_input(
                name,
                value=int(spec["default"]),
                min_value=None if lo is None else int(lo),
                max_value=None if hi is None else int(hi),
                step=1,
                key=key,
                help=help_,
            )
        )
    return float(
        st.number_input(
            name,
            value=float(spec["default"]),
            min_value=None if lo is None else float(lo),
            max_value=None if hi is None else float(hi),
            key=key,
            help=help_,
        )
    )


def with_extra_services(sc: Scenario, extra: list[dict[str, Any]]) -> Scenario:
    """The scenario with the added services; its name says which were added."""
    names = ", ".join(e["name"] for e in extra)
    return sc.with_(
        name=f"{sc.name} (+ {names})",
        services=[*(s.model_dump(mode="json", exclude_none=True) for s in sc.services), *extra],
    )
