"""The Services page through AppTest, against a temporary store: listing, conformance results, uploads."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest
from test_upload import UPLOADED_NAME, make_zip, plugin_entries

from simulation.jobs import checks as checkjob
from simulation.plugins.discovery import open_plugin
from simulation.plugins.manifest import load_manifest

PLUGINS = ROOT / "plugins"
EXAMPLES = sorted(p.name for p in PLUGINS.iterdir() if (p / "plugin.yaml").is_file())


def services_page() -> None:
    from webapp.services import page

    page()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "store"
    root.mkdir()
    monkeypatch.setenv("PILOT_STORE", str(root))
    return root


def app() -> AppTest:
    at = AppTest.from_function(services_page, default_timeout=30).run()
    assert not at.exception, at.exception
    return at


def table(at: AppTest) -> dict[str, dict]:
    """The summary table, one row per plugin folder, keyed by service name (+ source)."""
    df = at.dataframe[0].value
    return {f"{r.Service}|{r.Source}": r._asdict() for r in df.itertuples(index=False)}


def unescape(text: str) -> str:
    return text.replace("\\", "")


def write_report(store: Path, name: str, conforms: bool, folder: Path | None = None, code_hash: str | None = None):
    plugin = open_plugin(folder or PLUGINS / name)
    checks = [
        {"name": "manifest", "passed": True, "detail": "ok"},
        {"name": "runs in tiny", "passed": conforms, "detail": "status ok" if conforms else "status failed: boom"},
    ]
    doc = {
        "plugin": name,
        "folder": str(plugin.folder),
        "version": plugin.manifest.version,
        "isolation": "sandbox",
        "conforms": conforms,
        "checks": checks,
        "runs": [
            {
                "district": "tiny",
                "status": "ok" if conforms else "failed",
                "errors": [],
                "actions": 3,
                "rejected": 0,
                "installed": 2,
                "kpis": {"safety.detected_pct": {"baseline": 50.0, "candidate": 60.0}},
            }
        ],
        "code_hash": code_hash or plugin.code_hash,
        "checked_at": "2026-05-12T09:00:00+00:00",
    }
    path = checkjob.report_path(store, name, doc["code_hash"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc))
    return path


def test_lists_the_shipped_examples_with_vendor_and_trl(store):
    rows = table(app())
    assert len(EXAMPLES) == 7  # five companies of round one, parking guidance and heat-shelter alerts
    for name in EXAMPLES:
        m = load_manifest(PLUGINS / name)
        row = rows[f"{name}|shipped"]
        assert (row["Vendor"], row["TRL"], row["Category"]) == (m.vendor, m.trl, m.category)
        assert row["Conformance"] == "not checked"


def test_conformance_reports_show_as_passed_and_failed(store):
    write_report(store, "clearsight_ai_cctv", conforms=True)
    write_report(store, "airwatch_alerts", conforms=False)
    at = app()
    rows = table(at)
    assert rows["clearsight_ai_cctv|shipped"]["Conformance"] == "passed"
    assert rows["airwatch_alerts|shipped"]["Conformance"] == "failed"
    assert rows["skyport_drone_delivery|shipped"]["Conformance"] == "not checked"

    pick = at.selectbox(key="svc_pick")
    pick.select(str((PLUGINS / "airwatch_alerts").resolve())).run()
    errors = [unescape(e.value) for e in at.error]
    assert any("Does not conform**: 1 of 2 checks failed (runs in tiny)" in e for e in errors), errors
    pick.select(str((PLUGINS / "clearsight_ai_cctv").resolve())).run()
    assert any("Conforms**: all 2 checks passed" in unescape(s.value) for s in at.success)
    kpis = at.dataframe[-1].value
    assert kpis.iloc[0]["Code"] == "safety.detected_pct" and kpis.iloc[0]["Verdict"] == "better"
    assert kpis.iloc[0]["KPI"] == "Incidents detected through CCTV (AI flag or operator)"


def test_report_for_older_code_of_the_same_folder_is_marked_outdated(store):
    write_report(store, "lumen_adaptive_lighting", conforms=True, code_hash="0123456789abcdef")
    rows = table(app())
    assert rows["lumen_adaptive_lighting|shipped"]["Conformance"] == "outdated: code changed (was passed)"


def test_a_check_started_in_another_session_shows_as_running_then_done(store):
    """A check another browser session started is found in the store's jobs and followed here."""
    folder = (PLUGINS / "airwatch_alerts").resolve()
    job = "20261125-090000-0therse5"
    d = checkjob.conformance_root(store) / "jobs" / job
    d.mkdir(parents=True)
    spec = {"job_id": job, "label": "airwatch_alerts", "created": 1.0, "folder": str(folder)}
    (d / "spec.json").write_text(json.dumps(spec))
    doc = checkjob._initial(spec) | {"state": "running", "message": "district tiny: with the service"}
    (d / "progress.json").write_text(json.dumps(doc))
    (d / "heartbeat").touch()
    # its worker: a live process whose command line names the job folder, as a real worker's does
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", str(d)])
    try:
        (d / "pid").write_text(str(proc.pid))
        cmdline = Path(f"/proc/{proc.pid}/cmdline")
        for _ in range(500):  # until the child has exec'd (before, /proc shows this process's command line)
            if str(d).encode() in cmdline.read_bytes():
                break
            time.sleep(0.01)
        assert checkjob.running_check(store, folder) == job
        assert checkjob.running_check(store, PLUGINS / "skyport_drone_delivery") is None
        at = app()
        assert table(at)["airwatch_alerts|shipped"]["Conformance"] == "checking…"
        at.selectbox(key="svc_pick").select(str(folder)).run()
        assert not at.exception
        bar = at.get("progress")[0]
        assert "district tiny: with the service" in bar.proto.text
        assert not [b for b in at.button if b.key == f"svc_check:{folder}" and not b.disabled]  # no second check
        (d / "progress.json").write_text(json.dumps(doc | {"state": "failed", "message": "boom"}))
    finally:
        proc.kill()
        proc.wait()
    at.run()
    assert checkjob.running_check(store, folder) is None
    assert table(at)["airwatch_alerts|shipped"]["Conformance"] == "not checked"
    assert any("boom" in e.value for e in at.error)


def test_manifest_and_readme_are_shown(store):
    at = app()
    at.selectbox(key="svc_pick").select(str((PLUGINS / "skyport_drone_delivery").resolve())).run()
    hardware = next(d.value for d in at.dataframe if "Module" in d.value.columns)
    assert hardware.iloc[0]["Module"] == "gateway" and hardware.iloc[0]["Capex / unit"] == "2.5 M KRW"
    params = next(d.value for d in at.dataframe if "Param" in d.value.columns)
    assert "drones" in set(params["Param"])
    readme = (PLUGINS / "skyport_drone_delivery" / "README.md").read_text().splitlines()[0]
    assert any(readme in m.value for m in at.markdown)


def test_hostile_upload_is_refused_with_a_message_and_nothing_written(store):
    at = app()
    data = make_zip(plugin_entries() | {"../evil.py": "import os"})
    at.file_uploader(key="svc_upload").set_value(("evil.zip", data, "application/zip")).run()
    assert not at.exception
    [err] = [unescape(e.value) for e in at.error]
    assert err.startswith("Refused: evil.zip: entry '../evil.py' contains '..' (path traversal)")
    assert not (store / "plugins").exists() or not any((store / "plugins").iterdir())


def test_good_upload_is_unpacked_listed_and_checked(store, monkeypatch):
    started = []
    monkeypatch.setattr(checkjob, "start_check", lambda folder, root, **kw: started.append(Path(folder)) or "job-1")
    at = app()
    data = make_zip(plugin_entries())
    at.file_uploader(key="svc_upload").set_value(("clearsight.zip", data, "application/zip")).run()
    assert not at.exception and not at.error
    [folder] = list((store / "plugins").iterdir())
    assert started == [folder]
    assert "unpacked into" in unescape(at.success[0].value)
    rows = table(at)
    assert f"{UPLOADED_NAME}|uploaded {folder.name.rsplit('-', 1)[1][:8]}" in rows
    assert at.selectbox(key="svc_pick").value == str(folder)  # the new plugin is shown


def test_invalid_plugin_folder_in_uploads_is_listed_not_fatal(store):
    bad = store / "plugins" / "broken-0000"
    bad.mkdir(parents=True)
    (bad / "plugin.yaml").write_text("name: [unclosed\n")
    at = app()
    rows = table(at)
    assert rows["broken-0000|uploaded"]["Conformance"] == "invalid manifest"
    at.selectbox(key="svc_pick").select(str(bad.resolve())).run()
    assert "not valid YAML" in unescape(at.error[0].value)


def test_page_never_imports_plugin_code(store):
    write_report(store, "clearsight_ai_cctv", conforms=True)
    before = set(sys.modules)
    at = app()
    for i in range(len(at.selectbox(key="svc_pick").options)):
        at.selectbox(key="svc_pick").select_index(i).run()
        assert not at.exception
    roots = (str(PLUGINS.resolve()), str(store.resolve()))
    loaded = [
        name
        for name, mod in list(sys.modules.items())
        if name not in before and str(getattr(mod, "__file__", "") or "").startswith(roots)
    ]
    assert loaded == []


def test_readme_images_are_not_fetched():
    from webapp.services import md_escape, safe_readme

    out = safe_readme("# T\n![tracker](http://evil.example/p.png) and ![ref][1]\n")
    assert "](http" not in out and "![" not in out.replace("!\\[", "")
    assert md_escape("a_b*[c](d)") == "a\\_b\\*\\[c\\]\\(d\\)"
