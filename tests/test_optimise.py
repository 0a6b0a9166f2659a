"""Optimisation with optuna: a capex budget, paired stored runs, a Pareto front, resume."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml
from conftest import BASE_SERVICES, write_scenario

from simulation.batch.optimise import optimise
from simulation.cli.main import main

T = "safety.time_to_respond_s"
D = "safety.detected_pct"


def _study(folder: Path, tiny_district: Path, **optimise_spec) -> Path:
    write_scenario(
        folder,
        "base",
        {
            "district": str(tiny_district),
            "start": "2026-05-12T18:00",
            "duration": "2h",
            "population_scale": 0.5,
            "demand": {"safety": {"incidents_per_day": 600, "handling_time_s": 400}},
            "services": BASE_SERVICES,
        },
    )
    p = folder / "opt.yaml"
    doc = {
        "base": "base.yaml",
        "factors": {
            "services.cctv_monitoring.params.flag_threshold": {"range": [0.3, 0.95]},
            "demand.safety.operators": {"range": [1, 4], "integer": True},
        },
        "replications": 2,
        "optimise": {"objectives": {T: "minimize"}, "trials": 5, "seed": 1, **optimise_spec},
    }
    p.write_text(yaml.safe_dump(doc, sort_keys=False))
    return p


def test_budget_pairing_storage_and_resume(tiny_district: Path, tmp_path: Path) -> None:
    p = _study(tmp_path, tiny_district, capex_krw={"operators": 50_000_000}, capex_budget_krw=100_000_000)
    out = tmp_path / "out"
    res = optimise(p, out)
    trials = pd.DataFrame(res["trials"])
    assert len(trials) == 5 and res["sampler"] == "TPE"
    over = trials[trials["capex_krw"] > 100_000_000]
    assert len(over) and (over["state"] == "PRUNED").all() and (over["runs"] == 0).all()
    assert over["reason"].str.contains("over the budget of 100,000,000").all()
    ran = trials[trials["state"] == "COMPLETE"]
    assert len(ran) == res["trials_done"] >= 1 and (ran["factor:operators"] <= 2).all()
    # every run trial used the same seeds (paired) and its runs are in the store
    stored = {d.name for d in (out / "runs").iterdir() if not d.name.startswith(".")}
    for ids in ran["run_ids"]:
        assert set(ids.split(",")) <= stored
        metas = [json.loads((out / "runs" / i / "run.json").read_text()) for i in ids.split(",")]
        assert [m["seed"] for m in metas] == res["seeds"]
    assert ran[f"kpi:{T}"].nunique() > 1
    best = ran[ran[f"kpi:{T}"] == ran[f"kpi:{T}"].min()]["trial"]
    assert res["best"] == sorted(best)  # ties (the flag threshold may not matter here) are all best
    # resume: more trials continue the same optuna study; nothing already run is run again
    n_runs = len(stored)
    res2 = optimise(p, out, trials=7)
    assert len(res2["trials"]) == 7 and res2["trials"][:5] == res["trials"]
    assert len([d for d in (out / "runs").iterdir() if not d.name.startswith(".")]) <= n_runs + 4


def test_a_trial_a_killed_driver_left_running_is_run_again(tiny_district: Path, tmp_path: Path) -> None:
    p = _study(tmp_path, tiny_district, trials=2)
    out = tmp_path / "out"
    optimise(p, out, trials=1)
    ost = optuna.load_study(study_name="opt", storage=f"sqlite:///{out / 'optuna.db'}")
    ost.enqueue_trial({"flag_threshold": 0.5, "operators": 2})
    trial = ost.ask()  # left RUNNING, as by a driver killed mid-trial (after choosing its point)
    trial.suggest_float("flag_threshold", 0.3, 0.95)
    trial.suggest_int("operators", 1, 4)
    res = optimise(p, out, trials=3)
    states = [t["state"] for t in res["trials"]]
    assert states.count("FAIL") == 1 and states.count("COMPLETE") == 3
    redo = res["trials"][-1] if res["trials"][-1]["factor:flag_threshold"] == 0.5 else res["trials"][-2]
    assert redo["factor:operators"] == 2 and redo["state"] == "COMPLETE"


def test_two_objectives_give_a_pareto_front_via_the_cli(tiny_district: Path, tmp_path: Path, capsys) -> None:
    p = _study(tmp_path, tiny_district, objectives={T: "minimize", D: "maximize"}, trials=6)
    assert main(["optimise", str(p), "--out", str(tmp_path / "o"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["sampler"] == "NSGA-II" and res["best"]
    done = [t for t in res["trials"] if t["state"] == "COMPLETE"]
    front = [t for t in done if t["trial"] in res["best"]]
    for a in front:  # no trial on the front is dominated by another run trial
        assert not any(
            b[f"kpi:{T}"] <= a[f"kpi:{T}"] and b[f"kpi:{D}"] >= a[f"kpi:{D}"]
            and (b[f"kpi:{T}"] < a[f"kpi:{T}"] or b[f"kpi:{D}"] > a[f"kpi:{D}"])
            for b in done
        )  # fmt: skip
    assert (tmp_path / "o" / "optimise.json").is_file() and (tmp_path / "o" / "trials.parquet").is_file()


def test_optimise_errors(tiny_district: Path, tmp_path: Path, capsys) -> None:
    p = _study(tmp_path, tiny_district, capex_krw={"cameras": 1.0})
    assert main(["optimise", str(p), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "at optimise.capex_krw: capex for 'cameras', which is not a factor label; labels: flag_threshold" in err
    doc = yaml.safe_load(p.read_text())
    del doc["optimise"]
    doc["design"] = {"kind": "lhs", "samples": 4}  # a plain batch study
    p.write_text(yaml.safe_dump(doc))
    assert main(["optimise", str(p)]) == 2
    assert "no 'optimise:' section" in capsys.readouterr().err
    doc["optimise"] = {"objectives": {"safety.nope": "minimize"}}
    p.write_text(yaml.safe_dump(doc))
    assert main(["optimise", str(p)]) == 2
    assert "unknown KPI 'safety.nope'" in capsys.readouterr().err
    with pytest.raises(Exception, match="--trials must be at least 1; got 0"):
        optimise(p, tmp_path / "y", trials=0)


def test_batch_page_shows_the_best_trials(tiny_district: Path, tmp_path: Path, monkeypatch) -> None:
    from streamlit.testing.v1 import AppTest

    p = _study(tmp_path, tiny_district, trials=3)
    optimise(p, tmp_path / "batches" / "opt-optimise")
    monkeypatch.setenv("PILOT_BATCH", str(tmp_path / "batches"))
    at = AppTest.from_string("from webapp.batch import page\npage()", default_timeout=60).run()
    assert not at.exception
    assert [h.value for h in at.header] == ["Optimisation (optuna)"]
    assert any(m.value == "**Best trial**" for m in at.markdown)
    assert "3 trials run" in at.caption[0].value


def test_the_shipped_optimisation_study_is_valid() -> None:
    from conftest import ROOT

    from simulation.batch.optimise import capex_of
    from simulation.batch.study import load_study

    study, _ = load_study(ROOT / "scenarios" / "studies" / "operators_optimise.yaml")
    assert study.optimise is not None and len(study.optimise.objectives) == 2
    assert capex_of(study, {"operators": 3, "flag_threshold": 0.5}) == study.optimise.capex_budget_krw


def test_capex_can_be_an_objective(tiny_district: Path, tmp_path: Path) -> None:
    p = _study(tmp_path, tiny_district, objectives={T: "minimize", "capex_krw": "minimize"}, trials=3)
    doc = yaml.safe_load(p.read_text())
    doc["optimise"]["capex_krw"] = {"operators": 10_000_000}
    p.write_text(yaml.safe_dump(doc))
    res = optimise(p, tmp_path / "o")
    done = [t for t in res["trials"] if t["state"] == "COMPLETE"]
    assert done and all(t["kpi:capex_krw"] == t["capex_krw"] == 10_000_000 * t["factor:operators"] for t in done)
