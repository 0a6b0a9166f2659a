"""Batch engine: study validation, local vs Dask, resume after SIGKILL, failures, adaptive
replications, sensitivity indices, analysis and its outputs."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import BASE_SERVICES, ROOT, write_scenario

from simulation.batch import BatchError, StudyError, make_plan, run_batch
from simulation.batch.analysis import analyze, export, save_plots
from simulation.batch.worker import RunTask
from simulation.cli.main import main
from simulation.results.run import RunResult

FAST = {"start": "2026-05-12T16:00", "duration": "2h", "seed": 1, "replications": 2, "population_scale": 0.5}


@pytest.fixture
def base(tiny_district: Path, tmp_path: Path) -> Path:
    """A 2-hour scenario of the tiny district (a run takes ~0.2 s)."""
    return write_scenario(tmp_path, "base", {"district": str(tiny_district), **FAST, "services": BASE_SERVICES})


def study(folder: Path, name: str = "study", **data: object) -> Path:
    doc = {"base": "base.yaml", **data}
    p = folder / f"{name}.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


FACTORIAL = {
    "factors": {
        "services.cctv_monitoring.params.flag_threshold": {"levels": [0.3, 0.9]},
        "demand.safety.incidents_per_day": {"levels": [36, 120]},
    },
    "design": {"kind": "factorial"},
    "replications": 2,
}


# --------------------------------------------------------------------------- toy run functions (pickled to workers)
def _result(task: RunTask, kpis: dict[str, float]) -> RunResult:
    empty = pd.DataFrame(
        {"t": pd.Series([], dtype=float), "metric": pd.Series([], dtype=str), "value": pd.Series([], dtype=float)}
    )
    return RunResult(
        run_id=task.run_id,
        scenario="toy",
        district="tiny",
        seed=task.seed,
        status="ok",
        kpis=kpis,
        services={},
        timeseries=empty,
        events=empty,
        spatial=empty,
        provenance={},
    )


def noisy_run(task: RunTask) -> RunResult:
    """Response time = 300 s + noise whose size is the handling time (so points differ in variance)."""
    sd = task.scenario["demand"]["safety"]["handling_time_s"]
    value = 300 + sd * np.random.default_rng(task.seed).standard_normal()
    return _result(task, {"safety.time_to_respond_s": float(value)})


def crashing_run(task: RunTask) -> RunResult:
    """Point 1 raises, point 2 kills its worker process, point 3's world crashes; point 0 succeeds."""
    if task.point == 1:
        raise RuntimeError("boom at point 1")
    if task.point == 2:
        os._exit(3)
    r = noisy_run(task)
    if task.point == 3:
        r.status, r.error, r.kpis = "failed", "ZeroDivisionError: the world crashed", {}
    return r


def ishigami(x1: float, x2: float, x3: float) -> float:
    return math.sin(x1) + 7 * math.sin(x2) ** 2 + 0.1 * x3**4 * math.sin(x1)


ISHIGAMI_FACTORS = {  # three positive scenario parameters, each shifted onto [-pi, pi] by the toy model
    "demand.safety.incidents_per_day": {"range": [0, 2 * math.pi]},
    "demand.safety.handling_time_s": {"range": [1, 1 + 2 * math.pi]},
    "demand.safety.call_delay_min": {"range": [1, 1 + 2 * math.pi]},
}


def ishigami_run(task: RunTask) -> RunResult:
    s = task.scenario["demand"]["safety"]
    y = ishigami(
        s["incidents_per_day"] - math.pi, s["handling_time_s"] - 1 - math.pi, s["call_delay_min"] - 1 - math.pi
    )
    return _result(task, {"safety.time_to_respond_s": y})


# --------------------------------------------------------------------------- validation
def test_unknown_parameter_is_named_with_suggestions(base: Path) -> None:
    p = study(base.parent, factors={"demand.safety.incidents_per_dya": {"levels": [1, 2]}})
    with pytest.raises(
        StudyError,
        match=r"at factors\.demand\.safety\.incidents_per_dya: unknown parameter "
        r"'incidents_per_dya'.*did you mean demand\.safety\.incidents_per_day\?",
    ):
        make_plan(p)


def test_unknown_service_lists_the_services(base: Path) -> None:
    p = study(base.parent, factors={"services.cctv.params.flag_threshold": {"levels": [0.5]}})
    with pytest.raises(StudyError, match=r"unknown service 'cctv'.*keys under services: cctv_monitoring, public_wifi"):
        make_plan(p)


def test_empty_range_is_refused(base: Path) -> None:
    p = study(base.parent, factors={"population_scale": {"range": [0.5, 0.5]}}, design={"kind": "lhs", "samples": 4})
    with pytest.raises(
        StudyError,
        match=r"factors\.population_scale\.range: empty range: the low end must be below the high end; "
        r"got \[0\.5, 0\.5\]",
    ):
        make_plan(p)


def test_design_over_budget_is_refused_before_running(base: Path) -> None:
    p = study(
        base.parent,
        factors={"population_scale": {"range": [0.2, 1.0]}},
        design={"kind": "morris", "samples": 10},
        replications=5,
        budget=99,
    )
    with pytest.raises(
        StudyError,
        match=r"at budget: the design needs up to 100 runs \(20 morris points × 5 "
        r"replications\), over the budget of 99 runs",
    ):
        make_plan(p)


def test_invalid_factor_value_is_reported_with_its_point(base: Path) -> None:
    p = study(base.parent, factors={"services.cctv_monitoring.params.flag_threshold": {"levels": [0.5, 1.5]}})
    with pytest.raises(
        StudyError,
        match=r"factors\.services\.cctv_monitoring\.params\.flag_threshold: design point 1 "
        r"\(flag_threshold=1\.5\) gives an invalid scenario: must be a number from 0\.0 to 1\.0; got 1\.5",
    ):
        make_plan(p)


def test_unreachable_scheduler_exits_2_before_anything_runs(base: Path, tmp_path: Path, capsys) -> None:
    p = study(base.parent, **FACTORIAL)
    out = tmp_path / "out"
    code = main(
        [
            "batch",
            str(p),
            "--executor",
            "dask",
            "--scheduler",
            "tcp://127.0.0.1:1",
            "--connect-timeout",
            "1",
            "--out",
            str(out),
            "-q",
        ]
    )
    assert code == 2
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in capsys.readouterr().err
    assert not out.exists()


# --------------------------------------------------------------------------- running
def kpi_rows(out: Path) -> pd.DataFrame:
    """The documented way in: DuckDB over the hive-partitioned KPI files."""
    return duckdb.sql(
        f"SELECT point, run_id, replication, seed, kpi, value FROM "
        f"read_parquet('{out}/kpis/*/*.parquet', hive_partitioning=true) "
        "ORDER BY point, seed, kpi"
    ).df()


def test_factorial_gives_identical_rows_on_local_and_dask(base: Path, tmp_path: Path) -> None:
    plan = make_plan(study(base.parent, **FACTORIAL))
    local = run_batch(plan, tmp_path / "local", executor="local", workers=2, quiet=True)
    dask = run_batch(plan, tmp_path / "dask", executor="dask", workers=2, quiet=True)
    assert (local.ok, dask.ok) == (8, 8)
    a, b = kpi_rows(tmp_path / "local"), kpi_rows(tmp_path / "dask")
    assert len(a) == 8 * a["kpi"].nunique()
    pd.testing.assert_frame_equal(a, b)
    # every point shares the replication seeds (common random numbers), and the factor reached the run
    assert set(a.groupby("point")["seed"].unique().map(tuple)) == {(1, 2)}
    assert plan.scenario_data(3)["services"][0]["params"] == {"flag_threshold": 0.9}


def test_rerun_skips_done_runs(base: Path, tmp_path: Path) -> None:
    plan = make_plan(study(base.parent, **FACTORIAL))
    run_batch(plan, tmp_path / "out", workers=0, quiet=True, run_fn=noisy_run)
    again = run_batch(plan, tmp_path / "out", workers=0, quiet=True, resume=True, run_fn=noisy_run)
    assert (again.skipped, again.ran) == (8, 0)


@pytest.mark.parametrize("left", ["nothing", "lock only", "lock and a torn temporary file"])
def test_a_batch_killed_before_its_plan_was_written_resumes(base: Path, tmp_path: Path, left: str) -> None:
    out = tmp_path / "out"
    if left != "nothing":  # what a SIGKILL between taking the lock and writing plan.json leaves
        out.mkdir()
        (out / ".lock").write_text("12345")
        if "torn" in left:
            (out / ".tmp").mkdir()
            (out / ".tmp" / "plan.json.1a2b3c4d").write_text('{"plan_dig')
    plan = make_plan(study(base.parent, **FACTORIAL))
    done = run_batch(plan, out, workers=0, quiet=True, resume=True, run_fn=noisy_run)
    assert (done.skipped, done.ran, done.failed) == (0, 8, 0)
    assert (out / "plan.json").is_file() and not list(out.glob(".tmp/*"))


def test_resume_still_refuses_a_folder_holding_something_else(base: Path, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(BatchError, match="is not empty and holds no batch"):
        run_batch(make_plan(study(base.parent, **FACTORIAL)), tmp_path / "out", workers=0, quiet=True, resume=True)


def test_other_study_in_out_folder_is_refused(base: Path, tmp_path: Path) -> None:
    run_batch(make_plan(study(base.parent, **FACTORIAL)), tmp_path / "out", workers=0, quiet=True, run_fn=noisy_run)
    other = make_plan(study(base.parent, "other", factors={"population_scale": {"levels": [0.3]}}))
    with pytest.raises(BatchError, match="holds results of another study"):
        run_batch(other, tmp_path / "out", workers=0, quiet=True, run_fn=noisy_run)


def _kill_and_resume(p: Path, out: Path) -> tuple[int, str] | None:
    """Start a batch, SIGKILL it (and its workers) mid-way, resume it; None if the code changed meanwhile."""
    cmd = [sys.executable, "-m", "simulation", "batch", str(p), "--out", str(out), "--workers", "2", "-q"]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(list(out.glob("kpis/*/*.parquet"))) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = len(list(out.glob("kpis/*/*.parquet")))
    code = json.loads((out / "plan.json").read_text())["code_digest"]
    res = subprocess.run([*cmd, "--resume"], check=False, cwd=ROOT, capture_output=True, text=True, timeout=120)
    if json.loads((out / "plan.json").read_text())["code_digest"] != code:
        return None  # someone edited simulation/ between the two runs: every run id changed
    assert res.returncode == 0, res.stderr
    return before, res.stdout


def test_sigkilled_batch_resumes_with_exactly_the_missing_runs(base: Path, tmp_path: Path) -> None:
    p = study(base.parent, factors={"demand.safety.incidents_per_day": {"levels": [20, 40, 60, 80]}}, replications=4)
    for attempt in range(3):
        out = tmp_path / f"out{attempt}"
        got = _kill_and_resume(p, out)
        if got is not None:
            break
    assert got is not None, "the simulation code kept changing during the test"
    before, stdout = got
    assert 3 <= before < 16, "the batch should have been killed mid-way"
    m = re.search(r"runs: 16 planned, (\d+) already done, (\d+) recovered from the store, (\d+) run \((\d+) ok", stdout)
    assert m, stdout
    done, recovered, ran, ok = map(int, m.groups())
    assert done == before and recovered + ran == 16 - before and ok == ran
    rows = kpi_rows(out)
    per_run = rows.groupby("run_id").size()
    assert len(per_run) == 16 and per_run.nunique() == 1  # every run exactly once, none torn
    assert not list(out.glob(".tmp/*"))


def test_failures_are_recorded_and_the_batch_goes_on(base: Path, tmp_path: Path) -> None:
    p = study(base.parent, factors={"demand.safety.handling_time_s": {"levels": [10, 20, 30, 40]}}, replications=2)
    s = run_batch(make_plan(p), tmp_path / "out", workers=2, quiet=True, run_fn=crashing_run)
    assert (s.ok, s.failed, s.exit_code) == (2, 6, 1)
    fails = [json.loads(f.read_text()) for f in sorted((tmp_path / "out" / "failures").glob("*.json"))]
    by_point = {f["points"][0]: f for f in fails}
    assert "boom at point 1" in by_point[1]["reason"] and by_point[1]["attempts"] == 2
    assert "worker process died" in by_point[2]["reason"] and by_point[2]["attempts"] == 2
    assert "run failed: ZeroDivisionError: the world crashed" in by_point[3]["reason"] and by_point[3]["attempts"] == 2
    assert sorted(kpi_rows(tmp_path / "out")["point"].unique()) == [0]


def test_adaptive_replications_stop_when_the_ci_target_is_met(base: Path, tmp_path: Path) -> None:
    target = 10.0
    p = study(
        base.parent,
        factors={"demand.safety.handling_time_s": {"levels": [1, 8, 500]}},
        replications={"adaptive": {"target": {"safety.time_to_respond_s": target}, "min": 3, "max": 12}},
    )
    s = run_batch(make_plan(p), tmp_path / "out", workers=0, quiet=True, run_fn=noisy_run)
    a = analyze(tmp_path / "out")
    n = a.summary.set_index("handling_time_s")["n"].to_dict()
    hw = a.summary.set_index("handling_time_s")["half_width"].to_dict()
    assert n[1] == 3  # met at once: no extra replication
    assert 3 < n[8] < 12 and hw[8] <= target  # stopped as soon as the CI was narrow enough
    assert n[500] == 12 and hw[500] > target  # never met: stopped at the cap
    assert s.planned == sum(n.values())


# --------------------------------------------------------------------------- analysis
def test_sobol_design_recovers_the_ishigami_indices(base: Path) -> None:
    from simulation.batch.analysis import sensitivity_indices

    plan = make_plan(
        study(
            base.parent,
            factors=ISHIGAMI_FACTORS,
            design={"kind": "sobol", "samples": 1024},
            replications=1,
            budget=6000,
        )
    )
    y = [ishigami(v[0] - math.pi, v[1] - 1 - math.pi, v[2] - 1 - math.pi) for v in plan.design.points]
    s = sensitivity_indices(plan.to_json(), pd.DataFrame({"safety.time_to_respond_s": y}), ["safety.time_to_respond_s"])
    got = s.pivot_table(index="factor", columns="index", values="value")
    expected = {"incidents_per_day": (0.314, 0.558), "handling_time_s": (0.442, 0.442), "call_delay_min": (0.0, 0.244)}
    for factor, (s1, st) in expected.items():
        assert got.loc[factor, "S1"] == pytest.approx(s1, abs=0.05)
        assert got.loc[factor, "ST"] == pytest.approx(st, abs=0.05)


def test_analyze_writes_plots_tables_and_morris_indices(base: Path, tmp_path: Path, capsys) -> None:
    p = study(
        base.parent,
        factors={k: v for k, v in list(ISHIGAMI_FACTORS.items())[:2]},
        design={"kind": "morris", "samples": 6},
        replications=1,
    )
    run_batch(make_plan(p), tmp_path / "out", workers=0, quiet=True, run_fn=ishigami_run)
    assert main(["analyze", str(tmp_path / "out"), "--export", str(tmp_path / "tables")]) == 0
    printed = capsys.readouterr().out
    assert "mu_star" in printed and "handling_time_s" in printed
    assert (tmp_path / "out" / "analysis" / "main_effects__safety_time_to_respond_s.png").stat().st_size > 1000
    sens = pd.read_csv(tmp_path / "tables" / "sensitivity.csv")
    mu = sens[sens["index"] == "mu_star"].set_index("factor")["value"]
    assert mu["handling_time_s"] > mu["incidents_per_day"] > 0  # 7 sin² x2 dominates sin x1 on average


def test_factorial_analysis_main_effects_match_the_runs(base: Path, tmp_path: Path) -> None:
    plan = make_plan(
        study(
            base.parent,
            factors={"demand.safety.handling_time_s": {"levels": [1, 100]}, "population_scale": {"levels": [0.3, 0.6]}},
            replications=4,
        )
    )
    run_batch(plan, tmp_path / "out", workers=0, quiet=True, run_fn=noisy_run)
    a = analyze(tmp_path / "out")
    me = a.main_effects[a.main_effects["factor"] == "handling_time_s"].set_index("level")
    assert me.loc[1, "n"] == 8 and me.loc[100, "half_width"] > me.loc[1, "half_width"]
    assert set(a.interactions[["factor_a", "factor_b"]].itertuples(index=False, name=None)) == {
        ("handling_time_s", "population_scale")
    }
    # common random numbers: a factor the toy model ignores changes nothing, seed by seed
    same = a.paired.set_index("point").loc[1]
    assert (same["diff"], same["half_width"]) == (0, 0) and a.summary.set_index("point").loc[1, "half_width"] > 0
    assert len(save_plots(a)) == 2 and len(export(a, tmp_path / "t")) == 12


@pytest.mark.parametrize("name", ["ai_cameras", "sensitivity"])
def test_shipped_studies_are_valid(name: str) -> None:
    plan = make_plan(ROOT / "scenarios" / "studies" / f"{name}.yaml")
    assert len(plan.points) * plan.max_replications <= plan.study.budget


def test_batch_page_shows_a_batch(base: Path, tmp_path: Path, monkeypatch) -> None:
    from streamlit.testing.v1 import AppTest

    p = study(base.parent, factors=dict(list(ISHIGAMI_FACTORS.items())[:2]), design={"kind": "morris", "samples": 4})
    plan = make_plan(p)
    run_batch(plan, tmp_path / "batches" / "m", workers=0, quiet=True, run_fn=ishigami_run)
    distinct = {plan.run_id(pid, seed) for pid in range(len(plan.points)) for seed in plan.seeds()}
    monkeypatch.setenv("PILOT_BATCH", str(tmp_path / "batches"))
    at = AppTest.from_string("from webapp.batch import page\npage()", default_timeout=30).run()
    assert not at.exception
    assert [s.value for s in at.subheader] == [
        "Design points (mean and 95% CI half-width)",
        "Difference from point 0, paired by seed (mean and 95% CI half-width)",
        "Main effects",
        "Interactions",
        "Sensitivity indices",
    ]
    assert at.metric[1].value == str(len(distinct))  # a Morris grid point met twice is run once


def test_a_second_batch_on_the_same_folder_is_refused(base: Path, tmp_path: Path) -> None:
    from simulation.batch.layout import Layout

    held = Layout(tmp_path / "out").lock()
    try:
        with pytest.raises(BatchError, match=rf"another batch \(pid {os.getpid()}\) is writing to this folder"):
            run_batch(make_plan(study(base.parent, **FACTORIAL)), tmp_path / "out", workers=0, quiet=True)
    finally:
        held.close()


def test_batch_runs_do_not_keep_to_one_cpu(monkeypatch):
    """A worker per core: a run pinned to 'its' CPU could land on another worker's, so batch runs never pin."""
    import simulation.batch.worker as worker_mod
    from simulation.plugins.settings import SETTINGS

    seen = []
    monkeypatch.setattr(worker_mod, "run_scenario", lambda sc, seed: seen.append(SETTINGS.share_cpu) or "result")
    monkeypatch.setattr(worker_mod.Scenario, "model_validate", lambda data: data)
    assert worker_mod.execute(RunTask({"name": "x"}, 3, "id", 0, 0)) == "result"
    assert seen == [False] and SETTINGS.share_cpu  # off for the run, back on after it
