"""Optimisation over a study's factors with optuna: best trials, or a Pareto front for several objectives.

A study file with an ``optimise:`` section names the objectives (KPI -> minimize | maximize), the
number of trials and, optionally, a linear capex model (KRW per unit of each factor, plus a fixed
part) with a budget; ``capex_krw`` may itself be an objective. Each trial is a design point optuna
proposes (TPE for one objective, NSGA-II for several); a trial over the capex budget is not run
(state PRUNED, reason recorded). A run trial simulates the study's replications with the same seeds
as every other trial (common random numbers, so trials are compared pair-wise), each run stored in
``OUT/runs`` (the results-store layout) and reused when the same scenario and seed come again.

Resumable: optuna's study lives in ``OUT/optuna.db`` (SQLite); running the same command again
continues up to ``trials``, re-running (from the stored runs) any trial a killed driver left
unfinished. ``OUT/optimise.json`` holds every trial and the best trials / Pareto front, which the
Batch page shows.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from simulation._files import write_atomic
from simulation.batch.plan import _base_path
from simulation.batch.study import FactorSpec, Study, StudyError, apply_factors, check_factor_path, load_study
from simulation.config._yaml import parse_model
from simulation.config.scenario import Scenario, check_against_district, load_scenario, scenario_district
from simulation.errors import ScenarioError
from simulation.results.run import replication_seeds

__all__ = ["capex_of", "load_result", "optimise"]


def _labels(study: Study) -> dict[str, str]:
    from simulation.batch.designs import factor_labels

    return dict(zip(study.factors, factor_labels(study), strict=True))


def capex_of(study: Study, values: dict[str, Any]) -> float:
    """The study's linear capex (KRW) of a point given as factor label -> value."""
    spec = study.optimise
    assert spec is not None
    return spec.capex_fixed_krw + sum(float(values[k]) * c for k, c in spec.capex_krw.items())


def _suggest(trial: Any, label: str, f: FactorSpec) -> Any:
    if f.levels is not None:
        idx = trial.suggest_categorical(label, list(range(len(f.levels))))  # indices: levels may be any YAML value
        return f.levels[idx]
    assert f.range is not None
    lo, hi = f.range
    if f.integer:
        return trial.suggest_int(label, math.ceil(lo), math.floor(hi))
    return trial.suggest_float(label, lo, hi)


def _check(study: Study, spath: Path, labels: dict[str, str]) -> None:
    spec = study.optimise
    if spec is None:
        raise StudyError(spath, "no 'optimise:' section; add {objectives: {KPI: minimize}, trials: N}", key="optimise")
    for k in spec.capex_krw:
        if k not in labels.values():
            raise StudyError(
                spath,
                f"capex for {k!r}, which is not a factor label; labels: {', '.join(labels.values())}",
                key="optimise.capex_krw",
            )
    for path, f in study.factors.items():
        if f.range is not None and f.integer and math.ceil(f.range[0]) > math.floor(f.range[1]):
            raise StudyError(spath, "an integer range must hold a whole number", key=f"factors.{path}")


def optimise(
    path: str | Path,
    out: str | Path | None = None,
    trials: int | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """Run (or continue) the study's optimisation; return what ``OUT/optimise.json`` holds."""
    import optuna

    from simulation.results.reuse import run_or_reuse
    from simulation.results.store import Store

    if trials is not None and trials < 1:
        raise StudyError(Path(path), f"--trials must be at least 1; got {trials}", key="optimise.trials")
    study, spath = load_study(path)
    labels = _labels(study)
    _check(study, spath, labels)
    spec = study.optimise
    assert spec is not None
    base = load_scenario(_base_path(study, spath))
    resolved = base.model_dump(mode="json", exclude={"source"})
    for fpath in study.factors:
        try:
            check_factor_path(fpath, resolved, base.source)
        except ValueError as exc:
            raise StudyError(spath, str(exc), key=f"factors.{fpath}") from None
    district = scenario_district(base)
    reps = study.replications.fixed if study.replications and study.replications.fixed else base.replications
    seeds = replication_seeds(study.seed if study.seed is not None else base.seed, reps)
    n_trials = trials or spec.trials
    dest = Path(out) if out else Path("batch-out") / f"{study.name}-optimise"
    dest.mkdir(parents=True, exist_ok=True)
    store = Store(dest)
    objectives = list(spec.objectives.items())
    directions = [d for _, d in objectives]
    optuna.logging.set_verbosity(logging.WARNING)
    sampler = (
        optuna.samplers.TPESampler(seed=spec.seed)
        if len(objectives) == 1
        else optuna.samplers.NSGAIISampler(seed=spec.seed, population_size=max(4, min(20, n_trials // 3)))
    )
    storage = optuna.storages.RDBStorage(f"sqlite:///{(dest / 'optuna.db').resolve()}")
    ost = optuna.create_study(
        study_name=study.name,
        storage=storage,
        load_if_exists=True,
        directions=directions,
        sampler=sampler,
    )
    for t in ost.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):  # a killed driver's
        storage.set_trial_state_values(t._trial_id, optuna.trial.TrialState.FAIL)
        ost.enqueue_trial(
            t.params or dict(t.system_attrs.get("fixed_params", {}))
        )  # run again: its finished runs come back from the store

    def objective(trial: Any) -> Any:
        values = {labels[p]: _suggest(trial, labels[p], f) for p, f in study.factors.items()}
        capex = capex_of(study, values)
        trial.set_user_attr("values", values)
        trial.set_user_attr("capex_krw", capex)
        if spec.capex_budget_krw is not None and capex > spec.capex_budget_krw:
            trial.set_user_attr("reason", f"capex {capex:,.0f} KRW over the budget of {spec.capex_budget_krw:,.0f}")
            raise optuna.TrialPruned()
        data = apply_factors(resolved, {p: values[labels[p]] for p in study.factors})
        data["source"] = base.source
        try:
            sc = parse_model(Scenario, data, spath, ScenarioError)
            check_against_district(sc, district)
        except ScenarioError as exc:
            trial.set_user_attr("reason", f"invalid scenario: {exc.msg}")
            raise optuna.TrialPruned() from None
        runs = []
        for k, seed in enumerate(seeds):
            if progress:
                progress(trial.number, n_trials, f"trial {trial.number} · seed {seed} ({k + 1}/{len(seeds)})")
            r, _ = run_or_reuse(sc, seed, store)
            runs.append(r)
        trial.set_user_attr("run_ids", [r.run_id for r in runs])
        failed = [r.run_id for r in runs if r.status != "ok"]
        if failed:
            trial.set_user_attr("reason", f"runs failed: {', '.join(failed)}")
            raise optuna.TrialPruned()
        means = []
        for kpi, _ in objectives:
            if kpi == "capex_krw":
                means.append(capex)
                continue
            xs = [r.kpis.get(kpi, math.nan) for r in runs]
            xs = [x for x in xs if x is not None and not math.isnan(x)]
            if not xs:
                trial.set_user_attr("reason", f"{kpi} is undefined in these runs")
                raise optuna.TrialPruned()
            means.append(sum(xs) / len(xs))
        trial.set_user_attr("kpis", {k: m for (k, _), m in zip(objectives, means, strict=True)})
        return means[0] if len(means) == 1 else means

    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)  # a FAILed trial is run again
    done = len(ost.get_trials(deepcopy=False, states=finished))
    if done < n_trials:
        ost.optimize(objective, n_trials=n_trials - done, catch=())
    result = _summary(ost, study, objectives, seeds, dest)
    write_atomic(dest / "optimise.json", json.dumps(result, indent=1, allow_nan=False, default=str))
    pd.DataFrame(result["trials"]).to_parquet(dest / "trials.parquet", index=False)
    return result


def _summary(ost: Any, study: Study, objectives: Sequence[tuple[str, str]], seeds: list[int], dest: Path) -> dict:
    import optuna

    rows = []
    for t in ost.trials:
        a = t.user_attrs
        rows.append(
            {
                "trial": t.number,
                "state": t.state.name,
                **{f"factor:{k}": v for k, v in a.get("values", {}).items()},
                "capex_krw": a.get("capex_krw"),
                **{f"kpi:{k}": a.get("kpis", {}).get(k) for k, _ in objectives},
                "runs": len(a.get("run_ids", [])),
                "run_ids": ",".join(a.get("run_ids", [])),
                "reason": a.get("reason", ""),
            }
        )
    complete = [t for t in ost.trials if t.state == optuna.trial.TrialState.COMPLETE]
    best = ost.best_trials if complete else []
    return {
        "study": study.name,
        "out": str(dest),
        "objectives": dict(objectives),
        "sampler": "TPE" if len(objectives) == 1 else "NSGA-II",
        "seeds": seeds,
        "capex_budget_krw": study.optimise.capex_budget_krw if study.optimise else None,
        "trials_done": len(complete),
        "trials_pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in ost.trials),
        "best": sorted(t.number for t in best),  # one best trial, or the Pareto front
        "trials": rows,
    }


def load_result(out: str | Path) -> dict[str, Any] | None:
    """``OUT/optimise.json`` of an optimisation, None if the folder holds none."""
    p = Path(out) / "optimise.json"
    return json.loads(p.read_text()) if p.is_file() else None
