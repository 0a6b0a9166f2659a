"""Installed use: the CLI from any folder, a hand-started Dask cluster, lean extras, --json, closed pipes."""

from __future__ import annotations

import ast
import json
import os
import re
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import BASE_SERVICES, ROOT, write_scenario

from simulation.batch import make_plan, run_batch
from simulation.cli.main import main
from simulation.config.district import load_district
from simulation.config.scenario import load_scenario

FAST = {"start": "2026-05-12T16:00", "duration": "1h", "seed": 1, "replications": 1, "population_scale": 0.5}
BIN = Path(sys.executable).parent


def _env() -> dict[str, str]:
    """The environment a worker started by hand gets: the project importable (as `pip install -e .` makes it)."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}


def test_project_paths_resolve_from_another_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_scenario("scenarios/seongsu_baseline.yaml").district == "seongsu"
    assert load_district("districts/seongsu").name == "seongsu"
    # a file in the current folder wins over the project's
    (tmp_path / "scenarios").mkdir()
    with pytest.raises(Exception, match=r"scenarios/seongsu_baseline.yaml"):
        (tmp_path / "scenarios" / "seongsu_baseline.yaml").write_text("district: [")
        load_scenario("scenarios/seongsu_baseline.yaml")


def test_cli_runs_from_another_folder(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "simulation", "districts", "--json"],
        check=False,
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert {d["district"] for d in json.loads(r.stdout)} >= {"sangam_dmc", "seongsu"}


def test_closed_pipe_ends_quietly(tiny_district: Path) -> None:
    p = subprocess.Popen(
        [sys.executable, "-m", "simulation", "export", "sangam_dmc"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert p.stdout is not None and p.stderr is not None
    assert p.stdout.readline().strip() == "["
    p.stdout.close()  # like `| head -1`
    err = p.stderr.read()
    assert p.wait(timeout=120) == 141
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_study_runs_on_a_hand_started_dask_cluster(tiny_district: Path, tmp_path: Path) -> None:
    """docs/batch.md: `dask scheduler` + `dask worker ADDR --nworkers N --nthreads 1`, then `batch --scheduler`."""
    write_scenario(tmp_path, "base", {"district": str(tiny_district), **FAST, "services": BASE_SERVICES})
    study = tmp_path / "study.yaml"
    study.write_text(
        yaml.safe_dump(
            {
                "base": "base.yaml",
                "factors": {"services.cctv_monitoring.params.flag_threshold": {"levels": [0.3, 0.9]}},
                "replications": 2,
            }
        )
    )
    port, elsewhere = _free_port(), tmp_path / "workers"
    elsewhere.mkdir()
    addr = f"tcp://127.0.0.1:{port}"
    logs = [open(tmp_path / n, "w") for n in ("scheduler.log", "worker.log")]  # noqa: SIM115
    sched = subprocess.Popen(
        [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        cwd=elsewhere,
        env=_env(),
        stdout=logs[0],
        stderr=subprocess.STDOUT,
    )
    worker = subprocess.Popen(
        [
            str(BIN / "dask"),
            "worker",
            addr,
            "--nworkers",
            "2",
            "--nthreads",
            "1",
            "--host",
            "127.0.0.1",
            "--no-dashboard",
        ],
        cwd=elsewhere,  # not the project: the workers import the package as installed
        env=_env(),
        stdout=logs[1],
        stderr=subprocess.STDOUT,
    )
    try:
        s = run_batch(make_plan(study), tmp_path / "out", executor="dask", scheduler=addr, quiet=True, timeout_s=60)
        assert (s.ok, s.failed, s.executor) == (4, 0, "dask"), (tmp_path / "worker.log").read_text()[-2000:]
        kpis = pd.read_parquet(tmp_path / "out" / "kpis")
        assert kpis["run_id"].nunique() == 4
    finally:
        for proc in (worker, sched):
            proc.terminate()
        for proc in (worker, sched):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        for f in logs:
            f.close()


# --------------------------------------------------------------------------- lean installs
def _declared() -> set[str]:
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(doc["dependencies"]) + [d for ds in doc["optional-dependencies"].values() for d in ds]
    return {re.split(r"[\[<>=;! ]", s, maxsplit=1)[0].lower().replace("-", "_") for s in specs}


IMPORT_NAMES = {"yaml": "pyyaml", "sklearn": "scikit_learn", "distributed": "dask"}  # import -> distribution


def test_every_imported_library_is_declared() -> None:
    declared = _declared()
    stdlib = set(sys.stdlib_module_names)
    used: dict[str, str] = {}
    for f in [*ROOT.joinpath("simulation").rglob("*.py"), *ROOT.joinpath("webapp").rglob("*.py"), ROOT / "app.py"]:
        for node in ast.walk(ast.parse(f.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module]
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
                else []
            )
            for n in names:
                top = n.split(".")[0]
                if top not in stdlib and top not in ("simulation", "webapp", "__future__"):
                    used.setdefault(IMPORT_NAMES.get(top.lower(), top.lower()), str(f.relative_to(ROOT)))
    missing = {k: v for k, v in used.items() if k not in declared}
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
    assert "matplotlib" in used


def test_base_install_runs_a_scenario_without_the_extras(tiny_district: Path, tmp_path: Path) -> None:
    """The base dependencies alone (no streamlit, pydeck, dask, SALib, matplotlib, optuna, ...) run a scenario."""
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not any(x in " ".join(doc["dependencies"]).lower() for x in ("streamlit", "pydeck", "dask", "salib"))
    sc = write_scenario(tmp_path, "lean", {"district": str(tiny_district), **FAST, "services": BASE_SERVICES})
    blocked = ["streamlit", "pydeck", "dask", "distributed", "SALib", "matplotlib", "optuna", "ema_workbench"]
    blocked += ["gymnasium", "sklearn"]
    code = (
        "import sys\n"
        f"for m in {blocked!r}: sys.modules[m] = None\n"
        "import simulation\n"
        "from simulation.cli.main import main\n"
        f"sys.exit(main(['run', {str(sc)!r}, '--store', {str(tmp_path / 'store')!r}, '--json', '-q']))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], check=False, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout)["runs"][0]["status"] == "ok"


# --------------------------------------------------------------------------- --json everywhere
def test_json_from_batch_analyze_make_district_new_plugin(tiny_district: Path, tmp_path: Path, capsys) -> None:
    write_scenario(tmp_path, "base", {"district": str(tiny_district), **FAST, "services": BASE_SERVICES})
    (tmp_path / "s.yaml").write_text(
        yaml.safe_dump(
            {
                "base": "base.yaml",
                "factors": {"demand.safety.incidents_per_day": {"levels": [36, 120]}},
                "replications": 2,
            }
        )
    )
    out = tmp_path / "out"
    assert main(["batch", str(tmp_path / "s.yaml"), "--out", str(out), "-w", "0", "-q", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["planned"], doc["ok"], doc["exit_code"]) == (4, 4, 0)

    assert main(["analyze", str(out), "--json", "-q", "-k", "safety.time_to_respond_s"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["points"] == 2 and {r["point"] for r in doc["summary"]} == {0, 1}
    assert all(r["kpi"] == "safety.time_to_respond_s" for r in doc["summary"])

    dest = tmp_path / "d"
    assert main(["make-district", "jsondistrict", "--out", str(dest), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["folder"] == str(dest) and doc["figures"]["poles"] > 0

    assert main(["new-plugin", "json_plugin", "--dir", str(tmp_path / "plugins"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "plugin.yaml" in doc["files"] and Path(doc["folder"]).is_dir()


def test_makefile_installs_the_package_offline() -> None:
    make = (ROOT / "Makefile").read_text()
    assert "pip install --quiet --no-build-isolation --no-deps -e ." in make
    assert "setuptools" in (ROOT / "requirements-dev.txt").read_text()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["pilot-sandbox"] == "simulation.cli.main:main"
