"""The company's door: check-plugin tells the truth (order, rejections with hints, evidence)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulation.cli.main import main
from simulation.results.rejections import REJECTIONS, hint_for

needs_sandbox = pytest.mark.usefixtures("working_sandbox")
ROOT = Path(__file__).resolve().parent.parent

GREEDY_YAML = """\
name: greedy_flagger
vendor: Test Co
version: 0.1.0
sdk_version: "1.0"
entry: service:Greedy
category: safety
description: Flags every AI detection it sees.
trl: 5
feeds: [cctv.detections]
serves: [safety.incidents]
"""
GREEDY_PY = """\
from simulation.sdk import Deployment, Flag, Service


class Greedy(Service):
    def deploy(self, site, params):
        return Deployment(feeds=("cctv.detections",), operates=tuple(c.id for c in site.devices_of("camera")))

    def on_tick(self, obs):
        return [Flag(d["id"]) for d in obs.feed("cctv.detections")]
"""


def _greedy(tmp_path: Path) -> Path:
    folder = tmp_path / "greedy"
    folder.mkdir()
    (folder / "plugin.yaml").write_text(GREEDY_YAML)
    (folder / "service.py").write_text(GREEDY_PY)
    return folder


@needs_sandbox
def test_check_plugin_runs_after_the_builtins_and_reports_already_flagged_with_its_hint(
    tmp_path, tiny_district, capsys
):
    """The built-in cctv_monitoring flags first: a service flagging everything sees rejections, with the reason."""
    folder = _greedy(tmp_path)
    argv = ["check-plugin", str(folder), "--district", str(tiny_district), "--duration", "4h", "--json"]
    assert main(argv) == 1
    report = json.loads(capsys.readouterr().out)
    run = report["runs"][0]
    assert run["position"].startswith("after builtin:cctv_monitoring")
    reasons = [r for r in run["rejections"] if "was already flagged" in r]
    assert reasons, run["rejections"]
    assert "selective: false" in run["hints"][reasons[0]]
    failed = {c["name"]: c for c in report["checks"] if not c["passed"]}
    detail = failed[f"actions accepted in {run['district']}"]["detail"]
    assert "was already flagged" in detail and "hint: the built-in cctv_monitoring flags" in detail
    # the printed report shows the table of reasons with the hint
    assert main(argv[:-1]) == 1
    out = capsys.readouterr().out
    assert "rejected actions by reason" in out and "selective: false" in out


@needs_sandbox
def test_handing_flagging_over_takes_the_rejections_away(tmp_path, tiny_district):
    """The hint is true: with the built-in set to selective: false, the same service is not rejected."""
    from conftest import write_scenario

    from simulation.config.scenario import load_scenario
    from simulation.results.run import run_scenario

    folder = _greedy(tmp_path)
    common = {"district": str(tiny_district), "start": "2026-05-12T18:00", "duration": "4h", "seed": 1}
    runs = {}
    for selective in (True, False):
        services = [
            {"use": "builtin:cctv_monitoring", "params": {"selective": selective}},
            {"use": "builtin:public_wifi"},
            {"use": str(folder)},
        ]
        path = write_scenario(tmp_path, f"s{selective}", {**common, "name": f"s{selective}", "services": services})
        services_out = run_scenario(load_scenario(path)).services
        runs[selective] = next(v for k, v in services_out.items() if "greedy" in k)
    assert any("was already flagged" in r for r in runs[True]["rejections"])
    assert runs[False]["rejected_actions"] == 0 and runs[False]["actions"] > 0


@needs_sandbox
def test_check_plugin_can_run_the_builtins_as_the_companys_scenario_will(tmp_path, tiny_district, capsys):
    folder = _greedy(tmp_path)
    argv = ["check-plugin", str(folder), "--district", str(tiny_district), "--duration", "4h", "--json"]
    assert main([*argv, "--builtin-param", "cctv_monitoring.selective=false"]) == 0
    run = json.loads(capsys.readouterr().out)["runs"][0]
    assert run["rejections"] == {} and run["actions"] > 0
    assert "builtin:cctv_monitoring (selective=False)" in run["position"]
    assert main([*argv, "--builtin-param", "nope.x=1"]) == 2
    assert "no built-in 'nope' in the baseline (built-ins: cctv_monitoring" in capsys.readouterr().err
    assert main([*argv, "--builtin-param", "cctv_monitoring.selective=7"]) == 2
    assert "selective: must be true or false; got 7" in capsys.readouterr().err


@needs_sandbox
def test_evidence_mode_prints_the_paired_effect_with_cis(tmp_path, tiny_district, capsys):
    folder = _greedy(tmp_path)
    argv = ["check-plugin", str(folder), "--district", str(tiny_district), "--evidence", "--seeds", "2"]
    assert main([*argv, "--duration", "2h", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["seeds"] == [1, 2] and ev["duration_s"] == 7200
    rows = {r["kpi"]: r for r in ev["districts"]["tiny"]}
    assert rows["safety.incidents"]["verdict"] == "unchanged"  # same seed, same incidents
    assert rows["safety.incidents"]["n"] == 2
    assert main([*argv, "--duration", "2h"]) == 0
    out = capsys.readouterr().out
    assert "95% CI" in out and "2 seeds paired" in out


def test_evidence_needs_two_seeds(tmp_path, capsys):
    folder = _greedy(tmp_path)
    assert main(["check-plugin", str(folder), "--evidence", "--seeds", "1"]) == 2
    assert "--seeds" in capsys.readouterr().err


def test_every_documented_rejection_is_still_what_the_world_says():
    """The fixed parts of each documented reason occur in the world's code (the table cannot drift)."""
    source = "\n".join(p.read_text() for p in (ROOT / "simulation" / "world").glob("*.py"))
    for r in REJECTIONS:
        for frag in r.fragments:
            assert frag in source, f"{r.action}: {r.pattern!r}: {frag!r} is no longer in simulation/world"
    assert hint_for("something nobody documented") == ""


# --------------------------------------------------------------------------- logs
CHATTY_PY = """\
from simulation.sdk import Deployment, Service


class Chatty(Service):
    def deploy(self, site, params):
        print("deploying in", site.district)
        self.log("deployed", poles=len(site.poles))
        return Deployment()

    def on_tick(self, obs):
        if obs.tick == 5:
            self.log("fall suspected", camera="cam-1", confidence=0.9)
            print("tick five")
        return []
"""


def _chatty(tmp_path: Path) -> Path:
    folder = tmp_path / "chatty"
    folder.mkdir()
    (folder / "plugin.yaml").write_text(
        GREEDY_YAML.replace("greedy_flagger", "chatty")
        .replace("service:Greedy", "service:Chatty")
        .replace("feeds: [cctv.detections]", "feeds: []")
    )
    (folder / "service.py").write_text(CHATTY_PY)
    return folder


@pytest.mark.parametrize("isolation", ["sandbox", "inline"])
def test_service_output_and_log_entries_are_kept_with_the_run(tmp_path, tiny_district, capsys, isolation, request):
    from conftest import write_scenario

    from simulation.config.scenario import load_scenario
    from simulation.results.run import run_scenario
    from simulation.results.store import Store

    if isolation == "sandbox":
        request.getfixturevalue("working_sandbox")
    folder = _chatty(tmp_path)
    svc = {"use": str(folder)} | ({"isolation": "inline"} if isolation == "inline" else {})
    data = {"name": "chatty_run", "district": str(tiny_district), "start": "2026-05-12T18:00", "duration": "10m"}
    path = write_scenario(tmp_path, "chatty_run", {**data, "services": [{"use": "builtin:streetlights"}, svc]})
    r = run_scenario(load_scenario(path), allow_inline=isolation == "inline")
    store = Store(tmp_path / "store")
    store.put(r)
    logs = store.logs(r.run_id)
    assert logs["streetlights"] == {"text": "", "entries": [], "truncated": False, "dropped_bytes": 0}
    log = logs["chatty"]
    assert log["entries"][0] == {"time_s": None, "message": "deployed", "poles": log["entries"][0]["poles"]}
    assert log["entries"][1] == {"time_s": 300.0, "message": "fall suspected", "camera": "cam-1", "confidence": 0.9}
    assert log["text"] == "deploying in tiny\ntick five"
    assert store.load(r.run_id).logs == logs
    assert main(["logs", r.run_id, "--store", str(tmp_path / "store"), "--service", "chatty"]) == 0
    out = capsys.readouterr().out
    assert "fall suspected  camera=cam-1 confidence=0.9" in out and "t=   300.0" in out and "tick five" in out
    assert main(["logs", r.run_id, "--store", str(tmp_path / "store"), "--service", "nobody"]) == 2
    assert "has no service 'nobody'; services: chatty, streetlights" in capsys.readouterr().err
    assert main(["logs", "nope", "--store", str(tmp_path / "store")]) == 2
    assert f"no run 'nope'; runs in the store: {r.run_id}" in capsys.readouterr().err


def test_logs_over_the_cap_are_truncated_and_say_so():
    from simulation.plugins.inline import _CappedLog
    from simulation.results.logs import format_log, parse_output
    from simulation.sdk import LOG_MARK

    cap = _CappedLog(cap=64)
    cap.write(LOG_MARK + '{"time_s": 1.0, "message": "hi"}\n')
    cap.write("x" * 100 + "\n")
    log = parse_output(cap.text())
    assert log["entries"] == [{"time_s": 1.0, "message": "hi"}]
    assert log["truncated"] and log["dropped_bytes"] == cap.total - 64
    assert "[truncated: " in format_log("svc", log)
    assert parse_output(LOG_MARK + '{"cut')["text"] == LOG_MARK + '{"cut'  # cut mid-entry: kept as text


def test_services_page_shows_a_services_log_from_the_store(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    root = tmp_path / "store"
    run = root / "runs" / "abc123"
    run.mkdir(parents=True)
    meta = {"run_id": "abc123", "scenario": "s", "district": "tiny", "seed": 1, "status": "ok", "created": "2026"}
    (run / "run.json").write_text(json.dumps(meta))
    logs = {"airwatch_alerts": {"text": "hello", "entries": [{"time_s": 60.0, "message": "alert"}], "truncated": False}}
    (run / "logs.json").write_text(json.dumps(logs))
    monkeypatch.setenv("PILOT_STORE", str(root))

    def page() -> None:
        from webapp.services import page

        page()

    at = AppTest.from_function(page, default_timeout=30).run()
    assert not at.exception, at.exception
    pick = at.selectbox(key="svc_pick")
    i = next(k for k, o in enumerate(pick.options) if "airwatch" in o.lower())
    at = pick.select_index(i).run()
    assert not at.exception, at.exception
    assert any("Output and logs of airwatch_alerts in stored runs (1 of" in e.label for e in at.expander)
    assert any("alert" in str(df.value.to_dict()) for df in at.dataframe)
    assert any("hello" in c.value for c in at.code)


# --------------------------------------------------------------------------- packaging
def test_new_plugin_package_installs_offline_and_is_discovered(tmp_path, tiny_district, capsys, monkeypatch):
    """Scaffold a package, pip install it (no network, no build isolation) into a target dir, find it."""
    import subprocess
    import sys

    assert main(["new-plugin", "fall_watch", "--package", "--dir", str(tmp_path), "--vendor", "Acme"]) == 0
    assert "pip install --no-build-isolation" in capsys.readouterr().out
    project = tmp_path / "fall_watch"
    pyproject = (project / "pyproject.toml").read_text()
    assert '[project.entry-points."pilot_sandbox.services"]\nfall_watch = "fall_watch"' in pyproject
    target = tmp_path / "site"
    pip = [sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index", "-q"]
    done = subprocess.run(
        [*pip, "--target", str(target), str(project)], check=False, capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert {p.name for p in (target / "fall_watch").iterdir()} >= {"plugin.yaml", "README.md", "service.py"}
    # discovery in a fresh interpreter that sees the installed package
    code = (
        "from simulation.plugins.discovery import resolve_plugin\n"
        f"p = resolve_plugin('fall_watch', {str(tmp_path / 'scenario.yaml')!r})\n"
        "print(p.name, p.folder, p.origin)\n"
    )
    env = {"PYTHONPATH": f"{target}:{ROOT}", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[:2] == ["fall_watch", str((target / "fall_watch").resolve())]
    assert "installed (pilot_sandbox.services: fall_watch)" in out.stdout
    # the scaffolded unit test passes against the installed package
    test = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(project / "tests")],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert test.returncode == 0, test.stdout + test.stderr
    # a folder of the same name next to the scenario is an error naming both
    from simulation.errors import ScenarioError
    from simulation.plugins.discovery import resolve_plugin

    monkeypatch.syspath_prepend(str(target))
    (tmp_path / "scen").mkdir()
    main(["new-plugin", "fall_watch", "--dir", str(tmp_path / "scen")])
    with pytest.raises(
        ScenarioError,
        match=r"'fall_watch' is both a folder, .*scen/fall_watch, and an installed "
        r"service \(entry point pilot_sandbox.services: fall_watch = fall_watch\)",
    ):
        resolve_plugin("fall_watch", tmp_path / "scen" / "s.yaml")
    assert resolve_plugin("./fall_watch", tmp_path / "scen" / "s.yaml").origin == "folder"


def test_new_plugin_scaffold_unit_test_passes(tmp_path):
    """The folder scaffold's own test_service.py runs as written."""
    import subprocess
    import sys

    assert main(["new-plugin", "outage_notices", "--dir", str(tmp_path)]) == 0
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    test = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path / "outage_notices")],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert test.returncode == 0, test.stdout + test.stderr


# --------------------------------------------------------------------------- the generated reference
def test_the_reference_in_the_guide_agrees_with_the_code(tmp_path, capsys):
    from simulation.results.reference import BEGIN, END

    assert main(["sdk-reference", "--check"]) == 0, capsys.readouterr().err
    doc = (ROOT / "docs" / "sdk.md").read_text()
    stale = tmp_path / "sdk.md"
    stale.write_text(doc.replace("| `confidence` | float | 0-1 |", "| `confidence` | float | % |"))
    assert main(["sdk-reference", "--check", "--file", str(stale)]) == 1
    err = capsys.readouterr().err
    assert "-| `confidence` | float | % |" in err and "the reference disagrees with the code" in err
    assert main(["sdk-reference", "--file", str(stale)]) == 0
    assert stale.read_text() == doc
    bare = tmp_path / "bare.md"
    bare.write_text("# no markers\n")
    assert main(["sdk-reference", "--file", str(bare)]) == 2
    assert BEGIN in capsys.readouterr().err and END in doc


def test_the_reference_covers_every_feed_action_module_builtin_and_kpi():
    from simulation import sdk
    from simulation.config.district import load_pole_catalogue
    from simulation.plugins.builtin import BUILTINS
    from simulation.results.kpis import CATALOGUE
    from simulation.results.reference import KPI_MOVERS, render_reference

    text = render_reference()
    assert set(sdk.FEED_ITEMS) == set(sdk.FEEDS), "declare the item TypedDict of every feed in sdk.FEED_ITEMS"
    for feed in sdk.FEEDS:
        assert f"#### `{feed}`" in text
    for name in ("Flag", "View", "SetLight", "Notify", "Dispatch", "Reserve", "Transmit"):
        assert text.count(f"#### `{name}(") == 1
    cat = load_pole_catalogue()
    assert set(cat.module_costs) == set(cat.modules), "every module type needs capex/install with a source"
    for m in cat.modules:
        assert f"| `{m}` |" in text
    for b in BUILTINS:
        assert f"#### `builtin:{b}`" in text and BUILTINS[b].takeover
    assert {k.domain for k in CATALOGUE.values()} <= set(KPI_MOVERS)
    for k in CATALOGUE:
        assert f"| `{k}` |" in text


ALL_FEEDS_PY = """\
from simulation.sdk import FEEDS, Deployment, FleetUnit, Install, Service


class AllFeeds(Service):
    def deploy(self, site, params):
        self.seen = set()
        poles = [p for p in site.poles if p.model == "SP-A" and p.free_slots > 0]
        sensed = poles[1] if len(poles) > 1 else poles[0]  # a parking sensor: parking.occupancy items
        return Deployment(
            feeds=tuple(FEEDS),
            operates=tuple(d.id for d in site.devices),
            installs=(Install(poles[0].id, "edge_unit"), Install(sensed.id, "parking_sensor")),
            fleet=(FleetUnit("robot", 1, 1.5, 120.0),),
            market_share=0.5,
        )

    def on_tick(self, obs):
        groups = [*obs.feeds.items(), ("modules", obs.modules), ("fleet", obs.fleet), ("weather", (obs.weather,))]
        for name, items in groups:
            for item in items:
                shape = (name, tuple(sorted((k, type(v).__name__) for k, v in item.items())))
                if shape not in self.seen:
                    self.seen.add(shape)
                    types = {k: [t.__name__ for t in type(v).__mro__] for k, v in item.items()}
                    self.log("shape", feed=name, item=types)
        return []
"""


def test_feed_items_are_what_the_sdk_declares(tmp_path, tiny_district):
    """Every item the world sends has exactly the declared keys, with values of the declared types."""
    import typing

    import yaml
    from conftest import write_scenario

    from simulation import sdk
    from simulation.config.district import load_district
    from simulation.config.scenario import load_scenario
    from simulation.results.run import run_scenario

    folder = tmp_path / "all_feeds"
    folder.mkdir()
    manifest = yaml.safe_load(GREEDY_YAML) | {
        "name": "all_feeds",
        "entry": "service:AllFeeds",
        "feeds": list(sdk.FEEDS),
        "hardware": [
            {"module": "edge_unit", "units": 1, "capex_krw": 1, "install_krw": 1, "power_w": 40, "slots": 1},
            {"module": "parking_sensor", "units": 1, "capex_krw": 1, "install_krw": 1, "power_w": 4, "slots": 1},
        ],
        "fleet": {"kind": "robot", "units": 1, "speed_m_s": 1.5, "battery_min": 120},
    }
    (folder / "plugin.yaml").write_text(yaml.safe_dump(manifest))
    (folder / "service.py").write_text(ALL_FEEDS_PY)
    pole = next(p.id for p in load_district(tiny_district).poles)
    data = {
        "name": "all_feeds",
        "district": str(tiny_district),
        "start": "2026-05-12T16:00",
        "duration": "5h",
        "faults": [{"kind": "power_outage", "at": "+1h", "duration": "30m", "poles": [pole]}],
        "services": [{"use": "builtin:cctv_monitoring"}, {"use": str(folder), "isolation": "inline"}],
    }
    r = run_scenario(load_scenario(write_scenario(tmp_path, "all_feeds", data)), allow_inline=True)
    assert r.services["all_feeds"]["status"] == "ok", r.services["all_feeds"]
    declared = {**sdk.FEED_ITEMS, "modules": sdk.ModuleItem, "fleet": sdk.FleetUnitItem, "weather": sdk.WeatherItem}
    seen = {}
    for e in r.logs["all_feeds"]["entries"]:
        seen.setdefault(e["feed"], []).append(e["item"])
    assert set(seen) == set(declared), f"no items seen of {set(declared) - set(seen)}"
    for feed, items in seen.items():
        hints = typing.get_type_hints(declared[feed])
        for item in items:
            assert set(item) == set(hints), f"{feed}: sent {sorted(item)}, declared {sorted(hints)}"
            for key, mro in item.items():
                want = hints[key] if isinstance(hints[key], type) else typing.get_origin(hints[key])
                ok = {want.__name__} | ({"int"} if want is float else set())  # an int is a fine float
                assert ok & set(mro) and not (want is not bool and mro[0] == "bool"), (feed, key, mro)


# --------------------------------------------------------------------------- a stranger's service
FALL_YAML = """\
name: fall_alert
vendor: Silver Care Co.
version: 0.1.0
sdk_version: "1.0"
entry: service:FallAlert
category: safety
description: Flags AI-camera fall detections to the control centre, so people who fall are reached sooner.
trl: 6
feeds: [cctv.detections]
serves: [safety.incidents]
pricing: {opex_krw_per_month: 400000, subscription_krw_per_month: 1200000}
params:
  fall_threshold: {type: float, default: 0.3, min: 0, max: 1, description: flag falls at or above this}
  other_threshold: {type: float, default: 0.5, min: 0, max: 1, description: flag other detections at or above this}
"""
FALL_PY = """\
from simulation.sdk import Deployment, Flag, Service


class FallAlert(Service):
    def deploy(self, site, params):
        self.fall = params["fall_threshold"]
        self.other = params["other_threshold"]
        cams = tuple(c.id for c in site.devices_of("camera") if c.props.get("camera_type") == "ai")
        self.log("deployed", ai_cameras=len(cams))
        return Deployment(feeds=("cctv.detections",), operates=cams)

    def on_tick(self, obs):
        for fb in obs.feedback:
            if not fb["accepted"]:
                self.log("rejected", action=fb["action"], reason=fb["reason"])
        out = []
        for d in sorted(obs.feed("cctv.detections"), key=lambda d: d["id"]):
            if d["label"] == "fall" and d["confidence"] >= self.fall:
                out.append(Flag(d["id"], priority=2))
            elif d["confidence"] >= self.other:
                out.append(Flag(d["id"]))
        return out
"""


@needs_sandbox
def test_a_fall_detection_service_written_from_the_guide_conforms(tmp_path, tiny_district, capsys):
    """The service written from docs/sdk.md alone (issue 14): conforms once the built-in hands flagging over."""
    folder = tmp_path / "fall_alert"
    folder.mkdir()
    (folder / "plugin.yaml").write_text(FALL_YAML)
    (folder / "service.py").write_text(FALL_PY)
    argv = ["check-plugin", str(folder), "--district", str(tiny_district), "--duration", "4h"]
    assert main([*argv, "--builtin-param", "cctv_monitoring.selective=false"]) == 0
    out = capsys.readouterr().out
    assert "CONFORMS" in out and "deployed  ai_cameras=" in out  # its Service.log entry, formatted


@needs_sandbox
def test_compare_page_shows_each_services_log(tmp_path, tiny_district, monkeypatch):
    from conftest import write_scenario
    from streamlit.testing.v1 import AppTest

    from simulation.config.scenario import load_scenario
    from simulation.results.reuse import run_or_reuse
    from simulation.results.run import replication_seeds
    from simulation.results.store import Store

    folder = _chatty(tmp_path)
    common = {"district": str(tiny_district), "start": "2026-05-12T17:00", "duration": "10m", "replications": 2}
    store = Store(tmp_path / "store")
    for name, services in (("base", [{"use": "builtin:streetlights"}]), ("chat", [{"use": str(folder)}])):
        sc = load_scenario(write_scenario(tmp_path, name, common | {"name": name, "services": services}))
        for seed in replication_seeds(sc.seed, sc.replications):
            run_or_reuse(sc, seed, store)
    monkeypatch.setenv("PILOT_STORE", str(store.root))

    def page() -> None:
        from webapp.compare import page

        page()

    at = AppTest.from_function(page, default_timeout=60).run()
    at.multiselect(key="cmp_pick").set_value(["base", "chat"]).run()
    assert not at.exception, at.exception
    assert any(e.label.startswith("Service output and logs") for e in at.expander)
    runs = at.selectbox(key="cmp_logs_run")
    i = next(k for k, o in enumerate(runs.options) if o.startswith("chat"))
    at = runs.select_index(i).run()
    assert not at.exception, at.exception
    assert any("fall suspected" in str(df.value.to_dict()) for df in at.dataframe)
    assert any("tick five" in c.value for c in at.code)
