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
