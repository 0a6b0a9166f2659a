"""Services page: every company service (plugin) with its manifest, README and conformance result.

Plugins come from the shipped ``plugins/`` folder and from uploads (``STORE/plugins/<name>-<hash>/``).
This page reads them as files only — ``plugin.yaml`` through ``load_manifest``, ``README.md`` as
text, the files' bytes for the code hash — and never imports plugin code. An uploaded zip is checked
and unpacked by :func:`simulation.plugins.upload.safe_unpack`; conformance checks run ``check-plugin``
in a background worker (:mod:`simulation.jobs.checks`), whose report lands in
``STORE/conformance/<name>-<code hash>.json``.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from simulation.errors import SandboxError
from simulation.jobs import checks as checkjob
from simulation.plugins import upload
from simulation.plugins.discovery import Plugin
from simulation.plugins.manifest import load_manifest
from simulation.results.kpis import CATALOGUE
from simulation.results.numbers import fmt_krw, kpi_label

from .common import ACTIVE_POLL_S, store_root

PLUGINS_DIR = Path(__file__).resolve().parent.parent / "plugins"
README_CAP = 200_000
UPLOAD_LIMIT_MB = 20  # the browser refuses larger files; safe_unpack gives its own message from 5 MB
MAX_FILES = 6000
_SKIP = {"__pycache__", ".git", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
_MD_SPECIAL = re.compile(r"([\\`*_\[\]()<>!$~|#])")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")


def uploads_root() -> Path:
    """Where uploaded plugins are unpacked: ``STORE/plugins``."""
    return store_root() / "plugins"


def md_escape(text: object) -> str:
    """Text (a file name, a message from a plugin) shown literally inside Streamlit markdown."""
    return _MD_SPECIAL.sub(r"\\\1", str(text))


def safe_readme(text: str) -> str:
    """A README as markdown without remote images (the app makes no outside request)."""
    text = _IMAGE.sub(lambda m: f"*(image not shown: {md_escape(m.group(1)) or 'no description'})*", text)
    return text.replace("![", "!\\[")  # reference-style images: shown as text


def plugin_folders() -> list[tuple[Path, str]]:
    """``(folder, origin)`` of every plugin: shipped ones, then uploaded ones."""
    out = []
    for origin, root in (("shipped", PLUGINS_DIR), ("uploaded", uploads_root())):
        for p in sorted(root.iterdir()) if root.is_dir() else []:
            if p.is_dir() and not p.name.startswith(".") and (p / "plugin.yaml").is_file():
                out.append((p.resolve(), origin))
    return out


def _signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Sizes and mtimes of the folder's files: the cache key that changes when the code does."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP)
        for fn in filenames:
            p = Path(dirpath) / fn
            try:
                s = p.lstat()
            except OSError:
                continue
            out.append((str(p.relative_to(folder)), s.st_size, s.st_mtime_ns))
        if len(out) > MAX_FILES:  # far beyond any plugin (discovery refuses it): stop walking
            break
    return tuple(sorted(out))


@st.cache_data(show_spinner=False, max_entries=256)
def _read_plugin(folder: str, signature: tuple) -> dict[str, Any]:
    """Manifest (as plain data), README text and code hash of a plugin folder, read as files."""
    p = Path(folder)
    info: dict[str, Any] = {"folder": folder, "manifest": None, "error": None, "readme": "", "code_hash": None}
    readme = p / "README.md"
    if readme.is_file() and not readme.is_symlink():
        with open(readme, encoding="utf-8", errors="replace") as f:
            info["readme"] = f.read(README_CAP)
    try:
        m = load_manifest(p / "plugin.yaml")
        info["manifest"] = m.model_dump(mode="json")
        info["code_hash"] = Plugin(p, m).code_hash
    except (SandboxError, OSError) as exc:
        info["error"] = str(exc)
    return info


def read_plugin(folder: Path) -> dict[str, Any]:
    """:func:`_read_plugin`, re-read when any file of the folder changes."""
    return _read_plugin(str(folder), _signature(folder))


def _checks() -> dict[str, str]:
    """Folder -> id of the last conformance check this session started on it."""
    return st.session_state.setdefault("svc_checks", {})


def _running(folder: str) -> str | None:
    """The check running on ``folder``: this session's, or one another session started (then adopted)."""
    job = _checks().get(folder)
    try:
        if job is not None and not checkjob.check_status(store_root(), job).finished:
            return job
        other = checkjob.running_check(store_root(), folder)
    except SandboxError:
        return None
    if other is not None:
        _checks()[folder] = other  # show its progress and its result here too
    return other


def display_names(folders: list[tuple[Path, str]]) -> dict[str, str]:
    """Folder -> the name shown for it: the plugin name, and for uploads whose name another plugin
    also has, ``name (upload N)`` numbered by upload time, so two services never look the same."""
    by_name: dict[str, list[tuple[float, str, str]]] = {}
    for folder, origin in folders:
        info = read_plugin(folder)
        name = (info["manifest"] or {}).get("name", folder.name)
        try:
            t = folder.stat().st_mtime
        except OSError:
            t = 0.0
        by_name.setdefault(name, []).append((t, str(folder), origin))
    out: dict[str, str] = {}
    for name, items in by_name.items():
        uploads = sorted(i for i in items if i[2] == "uploaded")
        for item in items:
            shared = len(items) > 1 and item[2] == "uploaded"
            out[item[1]] = f"{name} (upload {uploads.index(item) + 1})" if shared else name
    return out


def _verdict(doc: dict[str, Any] | None) -> str:
    if doc is None:
        return "not checked"
    if doc.get("error"):
        return "failed (check could not run)"
    return "passed" if doc.get("conforms") else "failed"


def _conformance(info: dict[str, Any]) -> tuple[str, dict[str, Any] | None, bool]:
    """(one-word status for the table, latest report, whether it is for the current code)."""
    if info["manifest"] is None or not info["code_hash"]:
        return "invalid manifest", None, False
    doc, current = checkjob.latest_report(store_root(), info["manifest"]["name"], info["code_hash"], info["folder"])
    if _running(info["folder"]):
        return "checking…", doc, current
    if doc is not None and not current:
        return f"outdated: code changed (was {_verdict(doc)})", doc, current
    return _verdict(doc), doc, current


# --------------------------------------------------------------------------- page
def page() -> None:
    """Render the Services page."""
    st.title("Services")
    st.caption(
        "Company services (plugins) that can join a scenario: what each one brings and costs, what it "
        "claims, and whether it passed the conformance check (`python -m simulation check-plugin`). "
        "The app reads plugins as files; their code runs only in the sandbox."
    )
    _upload_section()
    folders = plugin_folders()
    if not folders:
        st.info(f"No plugins found in `{PLUGINS_DIR}` or `{uploads_root()}`: upload one above.")
        return
    names = display_names(folders)
    infos = {str(f): read_plugin(f) | {"origin": origin, "shown": names[str(f)]} for f, origin in folders}
    status = {k: _conformance(v) for k, v in infos.items()}
    st.dataframe(
        _summary(infos, status),
        hide_index=True,
        width="stretch",
        key="svc_table",
        # Widths that fit a 1400 px window beside the sidebar, so no column is cut (hardware: see each service).
        column_config={
            "Service": st.column_config.TextColumn(width=190),
            "Vendor": st.column_config.TextColumn(width=240),
            "Version": st.column_config.TextColumn(width=60),
            "Category": st.column_config.TextColumn(width=95),
            "TRL": st.column_config.NumberColumn(width=40),
            "Source": st.column_config.TextColumn(width=130, help="shipped with the app, or uploaded (code hash)"),
            "Conformance": st.column_config.TextColumn(width=170),
        },
        column_order=["Service", "Vendor", "Version", "Category", "TRL", "Source", "Conformance"],
    )

    options = list(infos)
    if st.session_state.get("svc_pick") not in options:
        st.session_state.pop("svc_pick", None)
    pick = st.selectbox("Service", options, format_func=lambda k: _label(infos[k]), key="svc_pick")
    info = infos[pick]
    _, doc, current = status[pick]
    m = info["manifest"]
    if m is None:
        st.error(md_escape(info["error"] or "the manifest cannot be read"))
        st.caption(f"Folder `{pick}`")
        return
    st.subheader(f"{info['shown']} {m['version']}")
    st.caption(
        f"{md_escape(m['vendor'])} · {m['category']} · claimed TRL {m['trl']} · SDK {m['sdk_version']} · "
        f"{info['origin']} · code {info['code_hash']} · `{pick}`"
    )
    if info["error"]:
        st.error(md_escape(info["error"]))
    t_manifest, t_readme, t_check = st.tabs(["Manifest", "README", "Conformance"])
    with t_manifest:
        _manifest_view(m)
    with t_readme:
        if info["readme"].strip():
            with st.container(border=True):
                st.markdown(safe_readme(info["readme"]))
        else:
            st.info("This plugin ships no README.md.")
    with t_check:
        _check_view(pick, info, doc, current)
    from .logs_view import plugin_logs_expander  # the service's own output in stored runs (issue 14)

    plugin_logs_expander(m["name"])


def _label(info: dict[str, Any]) -> str:
    m = info["manifest"]
    if m is None:
        return f"{Path(info['folder']).name} (invalid manifest)"
    tail = f" · uploaded, code {info['code_hash']}" if info["origin"] == "uploaded" and info["code_hash"] else ""
    return f"{info.get('shown') or m['name']} — {m['vendor']}{tail}"


def _summary(infos: dict[str, dict[str, Any]], status: dict[str, tuple]) -> pd.DataFrame:
    rows = []
    for k, info in infos.items():
        m = info["manifest"] or {}
        rows.append(
            {
                "Service": info.get("shown") or m.get("name", Path(k).name),
                "Vendor": m.get("vendor", "—"),
                "Version": m.get("version", "—"),
                "Category": m.get("category", "—"),
                "TRL": m.get("trl"),
                "Hardware": ", ".join(f"{h['module']} ×{h['units']}" for h in m.get("hardware", ())) or "—",
                "Source": info["origin"]
                + (f" {info['code_hash'][:8]}" if info["origin"] == "uploaded" and info["code_hash"] else ""),
                "Conformance": status[k][0],
            }
        )
    return pd.DataFrame(rows).astype({"TRL": "Int64"})


def _krw(v: float) -> str:
    return fmt_krw(v)


def _manifest_view(m: dict[str, Any]) -> None:
    st.markdown(md_escape(m["description"]))
    facts = {
        "Vendor": m["vendor"],
        "Version": m["version"],
        "Category": m["category"],
        "Claimed TRL": str(m["trl"]),
        "SDK version": m["sdk_version"],
        "Entry": m["entry"],
        "Isolation": m["isolation"],
        "Feeds (subscribes to)": ", ".join(m["feeds"]) or "—",
        "Serves (demand domains)": ", ".join(m["serves"]) or "—",
    }
    left, right = st.columns([3, 2])
    left.dataframe(
        pd.DataFrame({"Manifest": list(facts), "Value": list(facts.values())}), hide_index=True, width="stretch"
    )
    p = m["pricing"]
    right.metric("Operating cost / month", _krw(p["opex_krw_per_month"]))
    right.metric("Subscription / month", _krw(p["subscription_krw_per_month"]))
    right.metric("Revenue / request", _krw(p["revenue_krw_per_request"]))

    st.markdown("**Hardware** it installs on S-Poles")
    if m["hardware"]:
        hw = [
            {
                "Module": h["module"],
                "Units (at most)": h["units"],
                "Capex / unit": _krw(h["capex_krw"]),
                "Install / unit": _krw(h["install_krw"]),
                "Power (W)": h["power_w"],
                "Pole slots": h["slots"],
                "Bandwidth (Mbps)": h["bandwidth_mbps"],
                "Capex, all units": _krw(h["units"] * (h["capex_krw"] + h["install_krw"])),
            }
            for h in m["hardware"]
        ]
        st.dataframe(pd.DataFrame(hw), hide_index=True, width="stretch")
    else:
        st.caption("none: it uses what the district already has")
    if m["fleet"]:
        f = m["fleet"]
        st.markdown("**Fleet**")
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "Kind": f["kind"],
                        "Units": f["units"],
                        "Speed (m/s)": f["speed_m_s"],
                        "Battery (min)": f["battery_min"],
                        "Capex / unit": _krw(f["capex_krw_per_unit"]),
                        "Capex, all units": _krw(f["units"] * f["capex_krw_per_unit"]),
                    }
                ]
            ),
            hide_index=True,
            width="stretch",
        )
    st.markdown("**Params** a scenario may set")
    if m["params"]:
        rows = [
            {
                "Param": k,
                "Type": s["type"],
                "Default": str(s["default"]),
                "Min": "" if s["min"] is None else f"{s['min']:g}",
                "Max": "" if s["max"] is None else f"{s['max']:g}",
                "Choices": ", ".join(map(str, s["choices"] or ())),
                "Description": s["description"],
            }
            for k, s in m["params"].items()
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    else:
        st.caption("none")


# --------------------------------------------------------------------------- conformance
def _check_view(folder: str, info: dict[str, Any], doc: dict[str, Any] | None, current: bool) -> None:
    running = _running(folder)
    label = "Check again" if doc is not None and current else "Run the conformance check"
    if st.button(
        label,
        key=f"svc_check:{folder}",
        disabled=running is not None or not info["code_hash"],
        help="Runs check-plugin in a background worker: a 2 h standard scenario in every shipped district, "
        "with and without the service, the service sandboxed (about 15 s per district).",
    ):
        try:
            job = checkjob.start_check(folder, store_root(), label=info["manifest"]["name"])
        except (SandboxError, OSError) as exc:
            st.error(f"The check could not start: {md_escape(exc)}")
        else:
            _checks()[folder] = job
            st.rerun()
    last = _checks().get(folder)
    if last is not None:
        st.fragment(_progress, run_every=ACTIVE_POLL_S if running else None)(folder, last)
    if doc is None:
        if running is None:
            st.info(
                f"Not checked yet. The same check on the command line: `python -m simulation check-plugin {folder}`"
            )
        return
    _report_view(doc, current)


def _progress(folder: str, job: str) -> None:
    root = store_root()
    try:
        s = checkjob.check_status(root, job)
    except SandboxError as exc:
        st.warning(md_escape(exc))
        return
    if not s.finished:
        checkjob.check_heartbeat(root, job)
        frac = min(1.0, max(0.0, s.fraction or 0.0))
        st.progress(frac, text=f"Checking {Path(folder).name}: {s.message}")
        if st.button("Cancel the check", key=f"svc_cancel:{job}"):
            checkjob.cancel_check(root, job)
            st.rerun()
        return
    seen: set[str] = st.session_state.setdefault("svc_checks_seen", set())
    if job not in seen:
        seen.add(job)
        st.rerun()  # the whole page: the table and the report show the new result
    if s.state == "cancelled":
        st.warning(f"The last check was stopped: {md_escape(s.message)}")
    elif s.state == "failed":
        st.error(md_escape(s.message))


def _report_view(doc: dict[str, Any], current: bool) -> None:
    checks = doc.get("checks") or []
    failed = [c for c in checks if not c.get("passed")]
    when = str(doc.get("checked_at", "an unknown time")).replace("T", " ").replace("+00:00", " UTC")
    where = f"checked {when} · isolation {doc.get('isolation', '?')} · code {doc.get('code_hash', '?')}"
    if doc.get("error"):
        st.error(f"The last check could not run: {md_escape(doc['error'])} · {md_escape(when)}")
    elif doc.get("conforms"):
        st.success(f"**Conforms**: all {len(checks)} checks passed · {md_escape(where)}")
    else:
        names = ", ".join(c.get("name", "?") for c in failed[:4]) + (" …" if len(failed) > 4 else "")
        st.error(
            f"**Does not conform**: {len(failed)} of {len(checks)} checks failed ({md_escape(names)}) · "
            f"{md_escape(where)}"
        )
    if not current:
        st.warning("This result is for an earlier version of the plugin's code; run the check again.")
    if checks:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "Check": c.get("name"),
                        "Result": "passed" if c.get("passed") else "FAILED",
                        "Detail": c.get("detail"),
                    }
                    for c in checks
                ]
            ),
            hide_index=True,
            width="stretch",
            height=min(35 * (len(checks) + 1) + 3, 800),  # every check visible without scrolling
            column_config={
                "Check": st.column_config.TextColumn(width=220),
                "Result": st.column_config.TextColumn(width=80),
                "Detail": st.column_config.TextColumn(width=1000),
            },
        )
    for run in doc.get("runs") or []:
        title = (
            f"KPIs in {run.get('district')} against the baseline (same seed) · status {run.get('status')} · "
            f"{run.get('actions', 0)} actions, {run.get('rejected', 0)} rejected · "
            f"{run.get('installed', 0)} modules installed"
        )
        with st.expander(md_escape(title)):
            st.dataframe(_kpi_rows(run.get("kpis") or {}), hide_index=True, width="stretch")
            for e in (run.get("errors") or [])[:10]:
                st.caption(md_escape(f"t={e.get('time')} s · {e.get('kind')}: {e.get('message')}"))


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) else math.nan


def _kpi_rows(kpis: dict[str, dict[str, Any]]) -> pd.DataFrame:
    order = [k for k in CATALOGUE if k in kpis] + sorted(k for k in kpis if k not in CATALOGUE)
    rows = []
    for name in order:
        b, c = _num(kpis[name].get("baseline")), _num(kpis[name].get("candidate"))
        d = c - b
        k = CATALOGUE.get(name)
        if math.isnan(d):
            verdict = "—"
        elif abs(d) < 1e-9:
            verdict = "same"
        elif k is None or k.better == "none":
            verdict = "—"
        else:
            verdict = "better" if (d > 0) == (k.better == "higher") else "worse"
        rows.append(
            {
                "KPI": kpi_label(name),
                "Unit": k.unit if k else "",
                "Baseline": b,
                "With service": c,
                "Change": d,
                "Verdict": verdict,
                "Code": name,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- upload
def _upload_section() -> None:
    with st.expander("Upload a plugin (.zip)"):
        st.caption(
            f"A zip of the plugin folder (plugin.yaml, its module, README.md): at most "
            f"{upload.MAX_ZIP_BYTES >> 20} MB, {upload.MAX_ENTRIES} entries and {upload.MAX_TOTAL_BYTES >> 20} MB "
            "unpacked; no links, absolute paths or '..'. It is unpacked into its own folder of the results store "
            "and checked with check-plugin in the background."
        )
        up = st.file_uploader("Plugin zip", type=["zip"], key="svc_upload", max_upload_size=UPLOAD_LIMIT_MB)
        if up is None:
            return
        done: dict[str, tuple[str, str]] = st.session_state.setdefault("svc_uploads", {})
        if up.file_id not in done:  # reruns keep the file in the widget: handle it once
            done[up.file_id] = accept_upload(up.name, up.getvalue())
        kind, text = done[up.file_id]
        getattr(st, kind)(text)
        folder = st.session_state.get("svc_last_upload")
        if folder and Path(folder).is_dir():
            _upload_status(folder)


def _upload_status(folder: str) -> None:
    """The uploaded plugin's check, where the upload happened: progress while it runs, then its verdict."""
    info = read_plugin(Path(folder))
    if info["manifest"] is None:
        return
    running = _running(folder)
    if running is not None:
        st.fragment(_progress, run_every=ACTIVE_POLL_S)(folder, running)
        return
    doc, current = checkjob.latest_report(store_root(), info["manifest"]["name"], info["code_hash"], folder)
    if doc is None or not current:
        return
    checks = doc.get("checks") or []
    failed = [md_escape(c.get("name", "?")) for c in checks if not c.get("passed")]
    text = f"Conformance check of this upload: **{_verdict(doc)}**"
    if checks:
        text += f" ({len(checks) - len(failed)} of {len(checks)} checks passed"
        text += f"; failed: {', '.join(failed[:3])})" if failed else ")"
    (st.success if doc.get("conforms") else st.error)(text + " · details under **Conformance** below.")


def accept_upload(filename: str, data: bytes) -> tuple[str, str]:
    """Unpack an uploaded zip and start its check; return (``success``/``info``/``error``, message)."""
    name = md_escape(filename)
    before = {f for f, _ in plugin_folders()}
    try:
        folder = upload.safe_unpack(data, uploads_root(), filename=filename)
        m = load_manifest(folder / "plugin.yaml")
    except SandboxError as exc:
        return "error", f"Refused: {md_escape(exc)}"
    except OSError as exc:
        return "error", f"{name}: could not be stored in {md_escape(uploads_root())} ({md_escape(exc)})"
    st.session_state["svc_pick"] = str(folder)
    st.session_state["svc_last_upload"] = str(folder)
    code_hash = folder.name.rsplit("-", 1)[-1]
    others = [
        f
        for f, _ in plugin_folders()
        if f != folder.resolve() and (read_plugin(f)["manifest"] or {}).get("name") == m.name
    ]
    clash = ""
    if others:
        shown = display_names(plugin_folders()).get(str(folder.resolve()), m.name)
        clash = (
            f" Another service is already called **{md_escape(m.name)}** ({len(others)} folder(s)): this upload is "
            f"listed as **{md_escape(shown)}**, with its own code hash and conformance result."
        )
    doc, current = checkjob.latest_report(store_root(), m.name, code_hash)
    head = f"{name}: **{m.name}** {m.version} by {md_escape(m.vendor)}"
    if current and folder.resolve() in before:
        return (
            "info",
            f"{head} is already here with the same code (`{folder.name}`); last check: {_verdict(doc)}.{clash}",
        )
    if current:
        return (
            "info",
            f"{head} unpacked into `{folder}`; this very code was checked before: {_verdict(doc)}.{clash}",
        )
    try:
        job = checkjob.start_check(folder, store_root(), label=m.name)
    except (SandboxError, OSError) as exc:
        return "error", f"{head} was unpacked into `{folder}` but its check could not start: {md_escape(exc)}"
    _checks()[str(folder)] = job
    return (
        "success",
        f"{head} unpacked into `{folder}`; its conformance check runs in the background and its result "
        f"shows here.{clash}",
    )
