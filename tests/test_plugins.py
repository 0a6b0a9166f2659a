"""Plugins: manifests, discovery, params, hardware, inline vs sandboxed identity, and the CLI."""

from __future__ import annotations

import math
import shutil
import textwrap
from pathlib import Path

import pytest
import yaml
from conftest import BASE_SERVICES, ROOT, write_scenario

from simulation.cli.main import main
from simulation.config.scenario import load_scenario
from simulation.errors import PluginError, ScenarioError
from simulation.plugins import (
    SETTINGS,
    ManifestError,
    installed_plugins,
    load_manifest,
    open_plugin,
    resolve_plugin,
)
from simulation.results.run import run_scenario

PLUGINS = ROOT / "plugins"
HOSTILE = Path(__file__).parent / "hostile"
needs_sandbox = pytest.mark.usefixtures("working_sandbox")

GOOD = {
    "name": "acme_flagger",
    "vendor": "Acme",
    "version": "1.0.0",
    "sdk_version": "1.0",
    "entry": "service:Svc",
    "category": "safety",
    "description": "flags",
    "trl": 5,
    "feeds": ["cctv.detections"],
    "hardware": [{"module": "edge_unit", "units": 2, "capex_krw": 1000, "power_w": 40, "slots": 1}],
    "params": {"threshold": {"type": "float", "default": 0.7, "min": 0.0, "max": 1.0}},
}
SERVICE = """\
from simulation.sdk import Deployment, Service


class Svc(Service):
    def deploy(self, site, params):
        return Deployment(feeds=("cctv.detections",))
"""


def make_plugin(folder: Path, manifest: dict | str | None = None, code: str = SERVICE, name: str = "acme") -> Path:
    """Write a plugin folder and return it."""
    d = folder / name
    d.mkdir(parents=True, exist_ok=True)
    text = (
        manifest
        if isinstance(manifest, str)
        else yaml.safe_dump(GOOD if manifest is None else manifest, sort_keys=False)
    )
    (d / "plugin.yaml").write_text(text)
    (d / "service.py").write_text(code)
    return d


def same_kpis(a: dict[str, float], b: dict[str, float]) -> bool:
    """Bit-identical KPIs (NaN equals NaN)."""
    return a.keys() == b.keys() and all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def changed(**kw: object) -> dict:
    return {**GOOD, **kw}


# --------------------------------------------------------------------------- manifest
def test_a_good_manifest_loads(tmp_path):
    m = load_manifest(make_plugin(tmp_path))
    assert (m.name, m.entry_class, m.defaults()) == ("acme_flagger", "Svc", {"threshold": 0.7})


@pytest.mark.parametrize(
    ("manifest", "pattern"),
    [
        ("name: [unclosed", r"plugin\.yaml: line 1, column 16: not valid YAML"),
        ("- just\n- a list\n", r"must be a mapping of keys to values; got list"),
        ({k: v for k, v in GOOD.items() if k != "vendor"}, r"plugin\.yaml, at vendor: required key is missing"),
        (changed(colour="blue"), r"unknown key 'colour'; allowed keys: category, description, entry"),
        (changed(trl="high"), r"at trl: Input should be a valid integer.*got 'high'"),
        (changed(trl=12), r"at trl: Input should be less than or equal to 9; got 12"),
        (changed(sdk_version="2.0"), r"at sdk_version: unknown sdk_version; this sandbox supports 1\.0; got '2\.0'"),
        (changed(entry="service"), r"at entry: must be 'module:Class'"),
        (changed(category="finance"), r"at category: Input should be 'safety', 'connectivity'.*got 'finance'"),
        (changed(feeds=["cctv.detections", "tv.guide"]), r"at feeds\[1\]: unknown feed; feeds: .*got 'tv\.guide'"),
        (
            changed(params={"threshold": {"type": "float", "default": 2.0, "min": 0, "max": 1}}),
            r"at params\.threshold: default must be from 0 to 1; got 2\.0",
        ),
        (
            changed(params={"mode": {"type": "str", "default": "x", "choices": ["a", "b"]}}),
            r"at params\.mode: default must be one of 'a', 'b'; got 'x'",
        ),
        (changed(params={"n": {"type": "int", "default": 1.5}}), r"at params\.n: default must be an int; got 1\.5"),
        (
            changed(hardware=[{"module": "jetpack", "units": 1, "capex_krw": 1, "power_w": 1, "slots": 1}]),
            r"at hardware\[0\]\.module: unknown module type 'jetpack'; known: ai_camera",
        ),
        (
            changed(hardware=[{"module": "drone_dock", "units": 1, "capex_krw": 1, "power_w": 1500, "slots": 9}]),
            r"at hardware\[0\]: drone_dock with 9 slot\(s\) and 1500 W fits no S-Pole model \(SP-A: 8 slots",
        ),
        (
            changed(hardware=[{"module": "edge_unit", "units": 1, "capex_krw": 1, "power_w": 5, "slots": 1}]),
            r"at hardware\[0\]\.power_w: a edge_unit draws 40 W in the pole catalogue; got 5",
        ),
        (
            changed(hardware=[{"module": "ev_charger", "units": 1, "capex_krw": 1, "power_w": 12000, "slots": 2}]),
            r"ev_charger with 2 slot\(s\) and 12000 W fits no S-Pole model",
        ),
    ],
)
def test_bad_manifests_are_refused_with_file_key_and_value(tmp_path, manifest, pattern):
    with pytest.raises(ManifestError, match=pattern):
        load_manifest(make_plugin(tmp_path, manifest))


def test_entry_pointing_outside_the_folder_is_refused(tmp_path):
    with pytest.raises(ManifestError, match=r"at entry: module 'evil' not found in the plugin folder"):
        load_manifest(make_plugin(tmp_path, changed(entry="evil:Svc")))
    outside = tmp_path / "evil.py"
    outside.write_text(SERVICE)
    d = make_plugin(tmp_path, changed(entry="evil:Svc"), name="linked")
    (d / "evil.py").symlink_to(outside)
    with pytest.raises(ManifestError, match=r"at entry: points outside the plugin folder"):
        load_manifest(d)


def test_links_out_of_the_folder_are_refused(tmp_path):
    d = make_plugin(tmp_path)
    (d / "data.csv").symlink_to("/etc/passwd")
    with pytest.raises(PluginError, match=r"data\.csv is a link to /etc/passwd, outside the plugin folder"):
        open_plugin(d)


def test_a_folder_without_a_manifest_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ManifestError, match=r"plugin\.yaml: file not found"):
        load_manifest(tmp_path / "empty")


# --------------------------------------------------------------------------- scenario side
def _scenario(tmp_path: Path, district: Path, service: dict, name: str = "sc", **extra: object) -> Path:
    return write_scenario(
        tmp_path,
        name,
        {
            "district": str(district),
            "start": "2026-05-12T18:00",
            "duration": "1h",
            "services": [*BASE_SERVICES, service],
            **extra,
        },
    )


@pytest.mark.parametrize(
    ("params", "pattern"),
    [
        ({"threshold": 1.5}, r"at services\.acme\.params\.threshold: must be from 0 to 1; got 1\.5"),
        ({"threshold": "high"}, r"at services\.acme\.params\.threshold: must be a float; got 'high'"),
        ({"threshold": float("nan")}, r"must be a finite number; got nan"),
        ({"treshold": 0.5}, r"at services\.acme\.params: service 'acme' has no param 'treshold' \(params: threshold\)"),
    ],
)
def test_params_are_checked_against_the_manifest(tmp_path, tiny_district, params, pattern):
    make_plugin(tmp_path)
    path = _scenario(tmp_path, tiny_district, {"use": "acme", "params": params})
    with pytest.raises(ScenarioError, match=pattern):
        run_scenario(load_scenario(path))


def test_plugin_folder_is_found_relative_to_the_scenario(tmp_path, tiny_district):
    make_plugin(tmp_path / "vendors")
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    path = _scenario(scenarios, tiny_district, {"use": "../vendors/acme"})
    assert resolve_plugin("../vendors/acme", path).name == "acme_flagger"
    assert resolve_plugin(str(tmp_path / "vendors" / "acme"), "/nowhere/else.yaml").name == "acme_flagger"
    with pytest.raises(ScenarioError, match=r"at services\.use: no plugin folder .*vendors/nope and no installed"):
        resolve_plugin("../vendors/nope", path)


def test_installed_distributions_are_found_by_entry_point(tmp_path, monkeypatch):
    site = tmp_path / "site"
    make_plugin(site, name="acme_pkg")
    (site / "acme_pkg" / "__init__.py").write_text("raise RuntimeError('the host must never import plugin code')\n")
    info = site / "acme_pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-pkg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[pilot_sandbox.services]\nacme = acme_pkg\n")
    monkeypatch.syspath_prepend(str(site))
    assert installed_plugins()["acme"] == "acme_pkg"
    plugin = resolve_plugin("acme", tmp_path / "scenario.yaml")
    assert plugin.folder == (site / "acme_pkg").resolve() and plugin.origin.startswith("installed")


def test_inline_needs_allow_inline(tmp_path, tiny_district):
    make_plugin(tmp_path)
    path = _scenario(tmp_path, tiny_district, {"use": "acme", "isolation": "inline"})
    with pytest.raises(
        ScenarioError, match=r"at services\.acme\.isolation: service 'acme' asks to run inline.*--allow-inline"
    ):
        run_scenario(load_scenario(path))
    r = run_scenario(load_scenario(path), allow_inline=True)
    assert (r.services["acme"]["status"], r.services["acme"]["isolation"]) == ("ok", "inline")


@needs_sandbox
def test_plugin_code_hash_is_part_of_the_run_identity(tmp_path, tiny_district):
    d = make_plugin(tmp_path)
    path = _scenario(tmp_path, tiny_district, {"use": "acme"}, duration="10m")
    first = run_scenario(load_scenario(path))
    (d / "service.py").write_text(SERVICE + "\n# a change of code is a change of results\n")
    second = run_scenario(load_scenario(path))
    assert first.run_id != second.run_id and same_kpis(first.kpis, second.kpis)


@needs_sandbox
def test_undeclared_feeds_fail_the_deployment(tmp_path, tiny_district):
    code = SERVICE.replace('feeds=("cctv.detections",)', 'feeds=("cctv.detections", "wifi.load")')
    make_plugin(tmp_path, code=code)
    r = run_scenario(load_scenario(_scenario(tmp_path, tiny_district, {"use": "acme"}, duration="10m")))
    s = r.services["acme"]
    assert s["status"] == "failed"
    assert "subscribes to feed 'wifi.load', which plugin.yaml does not list under feeds" in s["error"]


# --------------------------------------------------------------------------- determinism and failure isolation
EXAMPLES = sorted(p.name for p in PLUGINS.iterdir() if (p / "plugin.yaml").is_file())


def _all_examples(tmp_path: Path, district: Path, isolation: str) -> Path:
    services = [
        {"use": "builtin:cctv_monitoring", "params": {"selective": False}},
        {"use": "builtin:public_wifi"},
        *({"use": str(PLUGINS / name), "isolation": isolation} for name in EXAMPLES),
    ]
    return write_scenario(
        tmp_path,
        f"examples_{isolation}",
        {"district": str(district), "start": "2026-05-12T17:30", "duration": "3h", "seed": 4, "services": services},
    )


@needs_sandbox
def test_inline_and_sandboxed_runs_are_identical(tmp_path, tiny_district):
    inline = run_scenario(load_scenario(_all_examples(tmp_path, tiny_district, "inline")), allow_inline=True)
    boxed = run_scenario(load_scenario(_all_examples(tmp_path, tiny_district, "sandbox")))
    assert {boxed.services[n]["isolation"] for n in EXAMPLES} == {"sandbox"}
    assert {inline.services[n]["isolation"] for n in EXAMPLES} == {"inline"}
    for name in EXAMPLES:
        a, b = inline.services[name], boxed.services[name]
        keys = ("status", "actions", "rejected_actions", "installed", "errors")
        assert [a[k] for k in keys] == [b[k] for k in keys], name
        assert a["status"] == "ok", (name, a["errors"])
    assert sum(inline.services[n]["actions"] for n in EXAMPLES) > 0
    assert same_kpis(inline.kpis, boxed.kpis)
    assert inline.timeseries.equals(boxed.timeseries)
    assert inline.events.equals(boxed.events)


@needs_sandbox
@pytest.mark.parametrize("fixture", ["import_error", "deploy_raises"])
def test_a_service_failing_before_deploying_changes_nothing_else(tmp_path, tiny_district, fixture):
    common = {"district": str(tiny_district), "start": "2026-05-12T18:00", "duration": "2h", "seed": 2}
    without = run_scenario(load_scenario(write_scenario(tmp_path, "without", {**common, "services": BASE_SERVICES})))
    with_bad = run_scenario(
        load_scenario(
            write_scenario(
                tmp_path,
                "with",
                {**common, "services": [*BASE_SERVICES, {"use": str(HOSTILE / fixture), "name": "bad"}]},
            )
        )
    )
    assert with_bad.status == "ok" and with_bad.services["bad"]["status"] == "failed"
    assert with_bad.services["bad"]["errors"][0]["kind"] == "deploy_error"
    assert same_kpis(without.kpis, with_bad.kpis)
    assert without.timeseries.equals(with_bad.timeseries)
    assert without.events.equals(with_bad.events)


# --------------------------------------------------------------------------- CLI
@needs_sandbox
def test_new_plugin_scaffolds_a_service_that_conforms(tmp_path, tiny_district, capsys):
    assert main(["new-plugin", "outage_notices", "--dir", str(tmp_path), "--vendor", "Acme"]) == 0
    folder = tmp_path / "outage_notices"
    assert {p.name for p in folder.iterdir()} >= {"plugin.yaml", "service.py", "README.md", "test_service.py"}
    assert load_manifest(folder).vendor == "Acme"
    code = main(["check-plugin", str(folder), "--district", str(tiny_district), "--duration", "1h"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "CONFORMS" in out and "KPIs against the baseline" in out


def test_new_plugin_refuses_bad_names_and_existing_folders(tmp_path, capsys):
    assert main(["new-plugin", "Bad Name", "--dir", str(tmp_path)]) == 2
    assert "a plugin name is lower-case letters" in capsys.readouterr().err
    (tmp_path / "taken").mkdir()
    assert main(["new-plugin", "taken", "--dir", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_check_plugin_exits_2_on_a_bad_manifest(tmp_path, capsys):
    d = make_plugin(tmp_path, changed(sdk_version="9.9"))
    assert main(["check-plugin", str(d)]) == 2
    assert "at sdk_version: unknown sdk_version" in capsys.readouterr().err


HOSTILE_CHECKS = {  # fixture -> (the check that fails, what its detail says)
    "import_error": ("imports in the sandbox", "deploy_error: import: ModuleNotFoundError"),
    "exit_at_import": ("imports in the sandbox", "called sys.exit(3) while being imported"),
    "hang_at_import": ("imports in the sandbox", "timeout: did not finish starting and importing"),
    "deploy_raises": ("runs in tiny", "deploy_error: deploy: RuntimeError: deploy exploded on purpose"),
    "tick_raises": ("runs in tiny", "exception: on_tick: ZeroDivisionError: division by zero [at service.py:11]"),
    "infinite_loop": ("runs in tiny", "timeout: on_tick: did not return within 1.5 s"),
    "memory_bomb": ("runs in tiny", "memory: on_tick: ran out of memory"),
    "fork_bomb": ("runs in tiny", "PermissionError: [Errno 1] Operation not permitted"),
    "network": ("runs in tiny", "127.0.0.1:9 refused"),
    "read_files": ("runs in tiny", "/etc/passwd refused (FileNotFoundError)"),
    "kill_others": ("runs in tiny", "1 refused ([Errno 1] Operation not permitted)"),
    "big_output": ("output in tiny", "bytes to stdout/stderr; the log keeps 1,048,576"),
    "stdout_garbage": ("output in tiny", "wrote binary (non-UTF-8) data to stdout/stderr"),
    "protocol_forgery": ("runs in tiny", "protocol: on_tick: announced a reply of 4,294,967,280 bytes"),
    "returns_garbage": ("runs in tiny", "garbage: on_tick: on_tick returned dict, not a list of actions"),
    "wrong_actions": ("actions accepted in tiny", "not a valid action: unknown action type 'Explode'"),
    "not_owned": ("actions accepted in tiny", "this service does not operate streetlights"),
    "nan_inf": ("actions accepted in tiny", "SetLight.level must be a finite number; got nan"),
    "undeclared_hardware": ("runs in tiny", "which plugin.yaml does not declare under hardware"),
    "shm_fill": ("runs in tiny", "/dev/shm refused after 16 MB (No space left on device)"),
    "thread_bomb": ("runs in tiny", "can't start new thread"),
    "huge_reply": ("runs in tiny", "protocol: on_tick: sent 7,900,005 bytes with a list, map or string over the"),
    "wall_clock": ("deterministic", "two runs with the same seed returned different actions"),
}
HOSTILE_MANIFESTS = {  # fixtures refused before any code runs: check-plugin exits 2 with this message
    "alias_bomb": "line 16, column 14: uses an alias (*a0); aliases are not allowed",
    "timestamp_tag": "uses the tag '!!timestamp'; only plain values are allowed",
}


def test_every_hostile_fixture_has_a_check_case():
    cases = sorted([*HOSTILE_CHECKS, *HOSTILE_MANIFESTS])
    assert cases == sorted(p.name for p in HOSTILE.iterdir() if (p / "plugin.yaml").is_file())


@pytest.mark.parametrize("fixture", sorted(HOSTILE_MANIFESTS))
def test_check_plugin_refuses_each_hostile_manifest_with_exit_2(capsys, fixture):
    assert main(["check-plugin", str(HOSTILE / fixture)]) == 2
    err = capsys.readouterr().err
    assert HOSTILE_MANIFESTS[fixture] in err and "Traceback" not in err
    assert len(err) < 500


@needs_sandbox
@pytest.mark.parametrize("fixture", sorted(HOSTILE_CHECKS))
def test_check_plugin_fails_each_hostile_service_with_the_reason(tiny_district, capsys, fixture):
    check, reason = HOSTILE_CHECKS[fixture]
    argv = ["check-plugin", str(HOSTILE / fixture), "--district", str(tiny_district), "--duration", "20m", "--json"]
    with SETTINGS.override(start_timeout_s=3.0, tick_timeout_s=1.5, memory_mb=256):
        assert main(argv) == 1
    doc = yaml.safe_load(capsys.readouterr().out)
    failed = {c["name"]: c["detail"] for c in doc["checks"] if not c["passed"]}
    assert check in failed and reason in failed[check], failed
    assert not doc["conforms"]


@needs_sandbox
def test_check_plugin_prints_what_failed(tiny_district, capsys):
    assert main(["check-plugin", str(HOSTILE / "import_error"), "--district", str(tiny_district)]) == 1
    captured = capsys.readouterr()
    assert "FAILED" in captured.out and "ModuleNotFoundError" in captured.out
    assert "DOES NOT CONFORM: 1 check(s) failed: imports in the sandbox" in captured.err


@needs_sandbox
def test_check_plugin_json_report(tmp_path, tiny_district, capsys):
    shutil.copytree(PLUGINS / "lumen_adaptive_lighting", tmp_path / "lumen")
    assert (
        main(["check-plugin", str(tmp_path / "lumen"), "--district", str(tiny_district), "--duration", "1h", "--json"])
        == 0
    )
    doc = yaml.safe_load(capsys.readouterr().out)
    assert doc["conforms"] and doc["isolation"] == "sandbox"
    assert (
        doc["runs"][0]["kpis"]["energy.lighting_kwh"]["candidate"]
        <= doc["runs"][0]["kpis"]["energy.lighting_kwh"]["baseline"]
    )


def test_example_plugins_import_only_the_sdk():
    for service in PLUGINS.glob("*/*.py"):
        text = service.read_text()
        imports = [ln for ln in text.splitlines() if ln.startswith(("import simulation", "from simulation"))]
        assert all(ln.startswith("from simulation.sdk import") for ln in imports), (service, imports)


def test_every_example_has_manifest_readme_and_scenario():
    for folder in sorted(p for p in PLUGINS.iterdir() if (p / "plugin.yaml").is_file()):
        m = load_manifest(folder)
        assert (folder / "README.md").read_text().strip()
        sc = load_scenario(ROOT / "scenarios" / f"{m.name}.yaml")
        assert any(s.use.endswith(f"plugins/{folder.name}") for s in sc.services)
        assert textwrap.dedent(m.description).strip()


@needs_sandbox
def test_the_worked_example_in_the_guide_conforms(tmp_path, tiny_district, capsys):
    guide = (ROOT / "docs" / "sdk.md").read_text()
    section = guide[guide.index("## Worked example") : guide.index("## The conformance check")]
    manifest = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    folder = tmp_path / "clean_air_alerts"
    folder.mkdir()
    (folder / "plugin.yaml").write_text(manifest)
    (folder / "service.py").write_text(code)
    assert main(["check-plugin", str(folder), "--district", str(tiny_district), "--duration", "1h", "--json"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["conforms"]
