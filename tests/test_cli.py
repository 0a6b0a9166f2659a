"""The CLI as a user runs it: `python -m simulation ...` in a subprocess, reading what it prints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, write_scenario


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "simulation", *args], capture_output=True, text=True, cwd=cwd, timeout=300, check=False
    )


def test_run_json_document(tiny_scenario, tmp_path):
    p = cli("run", str(tiny_scenario), "--json", "--store", str(tmp_path / "store"), "-r", "2")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["scenario"] == "tiny_base" and len(doc["runs"]) == 2
    run = doc["runs"][0]
    assert set(run) >= {"run_id", "seed", "status", "kpis", "services"}
    assert run["seed"] == 1 and doc["runs"][1]["seed"] == 2
    assert set(run["services"]["cctv_monitoring"]) >= {"status", "error", "actions", "rejected_actions"}
    assert (tmp_path / "store" / "runs" / run["run_id"] / "kpis.parquet").is_file()


def test_second_run_reuses_the_store(tiny_scenario, tmp_path):
    store = str(tmp_path / "store")
    first = json.loads(cli("run", str(tiny_scenario), "--json", "--store", store, "-r", "1").stdout)
    again = json.loads(cli("run", str(tiny_scenario), "--json", "--store", store, "-r", "1").stdout)
    assert again["runs"][0]["reused"] is True
    assert again["runs"][0]["kpis"] == first["runs"][0]["kpis"]


def test_table_output(tiny_scenario, tmp_path):
    p = cli("run", str(tiny_scenario), "--store", str(tmp_path / "s"), "-r", "2", "--quiet")
    assert p.returncode == 0, p.stderr
    assert "connectivity.sessions_served_pct" in p.stdout and "95% CI" in p.stdout


def test_bad_scenario_exits_2_without_traceback_and_writes_nothing(tiny_district, tmp_path):
    bad = write_scenario(tmp_path, "bad", {"district": str(tiny_district), "duration": "2h", "replications": "many"})
    store = tmp_path / "store"
    p = cli("run", str(bad), "--store", str(store))
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert f"error: {bad}, at replications:" in p.stderr and "got 'many'" in p.stderr
    assert not store.exists()


def test_unknown_option_exits_2():
    p = cli("run", "--colour", "x")
    assert (p.returncode == 2 and "unrecognized arguments" in p.stderr) or "required" in p.stderr


def test_districts_lists_both_shipped_districts():
    p = cli("districts", "--json")
    rows = {r["district"]: r for r in json.loads(p.stdout)}
    assert {"sangam_dmc", "seongsu"} <= set(rows)
    assert 150 <= rows["sangam_dmc"]["poles"] <= 300


def test_kpis_catalogue():
    p = cli("kpis", "--json")
    names = {k["name"]: k for k in json.loads(p.stdout)}
    assert names["safety.time_to_respond_s"]["better"] == "lower"
    assert names["connectivity.sessions_served_pct"]["unit"] == "%"
    assert names["safety.time_to_respond_s"]["map"] == {"place": "incident a responder reached", "cell": "mean"}
    assert names["connectivity.backhaul_peak_pct"]["map"]["not_mapped"].startswith("the peak of the busiest")
