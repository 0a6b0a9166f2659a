"""The Run page's "Add a service": any service that passed its conformance check, shipped or uploaded.

Read from files only, so the Run page loads no plugin machinery: each plugin folder's
``plugin.yaml`` as plain YAML (name, version, params), and the conformance reports in the store. A
report counts for a folder when it was made on that folder (uploads: on that code hash, which names
the folder) and no file of the folder changed after it. The service joins the run as
``use: <its folder>`` with the params chosen here; the run's worker checks them against the manifest
(the same check and messages as for a scenario file).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import streamlit as st
import yaml

from simulation.config.scenario import Scenario
from simulation.jobs import checks as checkjob

from .common import store_root

PLUGINS_DIR = Path(__file__).resolve().parent.parent / "plugins"


def _folders() -> list[tuple[Path, str]]:
    out = []
    for origin, root in (("shipped", PLUGINS_DIR), ("uploaded", store_root() / "plugins")):
        for p in sorted(root.iterdir()) if root.is_dir() else []:
            if p.is_dir() and not p.name.startswith(".") and (p / "plugin.yaml").is_file():
                out.append((p.resolve(), origin))
    return out


def _newest_file(folder: Path) -> float:
    newest = 0.0
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if d != "__pycache__" and not d.startswith(".")]
        for fn in filenames:
            try:
                newest = max(newest, (Path(dirpath) / fn).stat().st_mtime)
            except OSError:
                continue
    return newest


def _passed(folder: Path, origin: str, name: str) -> bool:
    """A conforming report on this upload's code, or on this folder and newer than every file in it."""
    root = checkjob.conformance_root(store_root())
    newest = _newest_file(folder)
    for p in root.glob(f"{name}-*.json") if root.is_dir() else []:
        try:
            doc = json.loads(p.read_text())
            made = p.stat().st_mtime
        except (OSError, ValueError):
            continue
        if not doc.get("conforms") or doc.get("error"):
            continue
        # An upload's folder is named by its code hash: a report on that hash is a report on it.
        if origin == "uploaded" and folder.name == f"{name}-{doc.get('code_hash')}":
            return True
        if doc.get("folder") == str(folder) and made >= newest:
            return True
    return False


def conforming_services() -> list[dict[str, Any]]:
    """Plugins (shipped or uploaded) whose conformance check passed on their current files."""
    out = []
    for folder, origin in _folders():
        try:
            m = yaml.safe_load((folder / "plugin.yaml").read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if not isinstance(m, dict) or not isinstance(m.get("name"), str):
            continue
        m.setdefault("params", {})
        if _passed(folder, origin, m["name"]):
            code = folder.name.rsplit("-", 1)[-1] if origin == "uploaded" else ""
            out.append({"folder": str(folder), "origin": origin, "manifest": m, "code_hash": code})
    return out


def _label(info: dict[str, Any]) -> str:
    m = info["manifest"]
    tail = f", uploaded, code {info['code_hash'][:8]}" if info["origin"] == "uploaded" else ", shipped"
    return f"{m['name']} {m.get('version', '')} — {m.get('vendor', '?')} ({m.get('category', '?')}{tail})"


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
            for name, spec in (m["params"] or {}).items():
                if isinstance(spec, dict) and "default" in spec:
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
    t = spec.get("type", "str")
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
