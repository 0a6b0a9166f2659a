"""Scenario discovery with PRIM on a batch: boxes, coverage/density, trajectory, CLI, Batch page data."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import BASE_SERVICES, write_scenario

from simulation.batch import make_plan, run_batch
from simulation.batch.discovery import discover, load_discoveries
from simulation.batch.worker import RunTask
from simulation.cli.main import main
from simulation.results.run import RunResult

K = "safety.time_to_respond_s"


def slow_corner(task: RunTask) -> RunResult:
    """Response time is bad (900 s) only where the threshold is high AND incidents are many; else 300 s."""
    s = task.scenario
    thr = s["services"][0]["params"]["flag_threshold"]
    inc = s["demand"]["safety"]["incidents_per_day"]
    value = 900.0 if (thr > 0.7 and inc > 80) else 300.0
    empty = pd.DataFrame({"t": pd.Series([], dtype=float), "metric": pd.Series([], dtype=str), "value": []})
    return RunResult(task.run_id, "toy", "tiny", task.seed, "ok", {K: value}, {}, empty, empty, empty, {})


@pytest.fixture(scope="module")
def batch(tiny_district: Path, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("discover")
    write_scenario(folder, "base", {"district": str(tiny_district), "duration": "1h", "services": BASE_SERVICES})
    (folder / "s.yaml").write_text(
        yaml.safe_dump(
            {
                "base": "base.yaml",
                "factors": {
                    "services.cctv_monitoring.params.flag_threshold": {"range": [0.3, 0.95]},
                    "demand.safety.incidents_per_day": {"range": [20, 120]},
                    "demand.safety.handling_time_s": {"range": [60, 600]},
                },
                "design": {"kind": "lhs", "samples": 120, "seed": 3},
                "replications": 1,
            }
        )
    )
    out = folder / "out"
    s = run_batch(make_plan(folder / "s.yaml"), out, workers=0, quiet=True, run_fn=slow_corner)
    assert s.ok == 120
    return out


def test_prim_finds_the_corner(batch: Path) -> None:
    d = discover(batch, K, above=600)
    assert d.cases == pytest.approx(120 * 0.25 * 0.4, abs=8)  # ~ (0.25/0.65) x (0.4/1.0) of the points
    b = d.boxes[0]
    assert b.coverage >= 0.8 and b.density >= 0.8
    assert set(b.limits) == {"flag_threshold", "incidents_per_day"}  # the irrelevant factor is not restricted
    assert 0.6 <= b.limits["flag_threshold"][0] <= 0.75 and 70 <= b.limits["incidents_per_day"][0] <= 85
    t = pd.DataFrame(d.trajectory)
    first = t[t["box"] == 0]
    assert first["coverage"].iloc[0] == 1.0 and first["density"].is_monotonic_increasing is not None
    assert first["mass"].is_monotonic_decreasing and len(first) > 5


def test_discover_cli_saves_boxes_for_the_batch_page(batch: Path, capsys) -> None:
    assert main(["discover", str(batch), "--kpi", K, "--json"]) == 0  # default: the worst 25% (lower is better)
    doc = json.loads(capsys.readouterr().out)
    assert doc["rule"] == f"{K} > 300 (at most the worst 25% of points; lower is better)"
    assert doc["boxes"][0]["coverage"] > 0.5
    saved = load_discoveries(batch)
    assert [x["kpi"] for x in saved] == [K] and (batch / "discovery" / "safety_time_to_respond_s.png").is_file()
    assert main(["discover", str(batch), "--kpi", K, "--above", "600"]) == 0
    text = capsys.readouterr().out
    assert "coverage" in text and "flag_threshold" in text and "incidents_per_day" in text


def test_discover_errors_name_the_problem(batch: Path, capsys) -> None:
    assert main(["discover", str(batch), "--kpi", "safety.nope"]) == 2
    assert "unknown KPI 'safety.nope'" in capsys.readouterr().err
    assert main(["discover", str(batch), "--kpi", K, "--above", "5000"]) == 2
    assert f"{K} > 5000: 0 of 120 points are cases of interest; PRIM needs some of both" in capsys.readouterr().err
    assert main(["discover", str(batch), "--kpi", K, "--above", "1", "--below", "2"]) == 2
    assert "give --above or --below, not both" in capsys.readouterr().err


def test_batch_page_shows_and_runs_discovery(batch: Path, monkeypatch) -> None:
    from streamlit.testing.v1 import AppTest

    from simulation.batch.discovery import save

    save(discover(batch, K, above=600))
    monkeypatch.setenv("PILOT_BATCH", str(batch.parent))
    at = AppTest.from_string("from webapp.batch import page\npage()", default_timeout=60).run()
    assert not at.exception
    assert [h.value for h in at.header] == ["Scenario discovery (PRIM)"]
    text = " ".join(m.value for m in at.markdown)
    assert f"{K} > 600" in text and "coverage **" in text
    # run PRIM from the page: the worst 25% (a second rule on the same KPI replaces the saved one)
    at.selectbox(key="discover_kpi").set_value(K)
    at.button[0].click()
    at.run()
    assert not at.exception and not at.error
    assert "at most the worst 25% of points" in " ".join(m.value for m in at.markdown)


def test_the_shipped_discovery_study_is_valid() -> None:
    from conftest import ROOT

    plan = make_plan(ROOT / "scenarios" / "studies" / "discovery.yaml")
    assert len(plan.points) == 64 and plan.base.name == "seongsu_evening"
