"""Sobol and Morris indices whose intervals include the replication noise, with warnings a reader needs.

SALib's own confidence interval resamples the design (the base samples or trajectories) and
treats each point's value as exact. A simulation's value at a point is a mean over a few
replications, so the indices also move with the seeds. Here each index gets two intervals:

- ``conf_design``: SALib's bootstrap over the design (95%);
- ``conf_replication``: a bootstrap over the replications — the seeds are resampled with
  replacement (the same draw at every point, keeping common random numbers), the per-point means
  recomputed and the indices estimated again (:data:`RESAMPLES` times; 1.96 × their spread);

and ``conf`` = √(conf_design² + conf_replication²), the interval shown and plotted.

Notes warn when S1 > ST (by more than 0.01) for a factor (impossible in theory: noise), when intervals
are wider than the values they bound, and suggest the base samples (Sobol, a power of 2) or
trajectories (Morris) and replications that would bring the intervals to the target
(±0.05 for Sobol indices, ±10% of the largest μ* for Morris), from the 1/√n shrinkage.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["RESAMPLES", "SOBOL_TARGET", "sensitivity_indices"]

RESAMPLES = 100
SOBOL_TARGET = 0.05  # half-width wanted on every Sobol index
S1_ST_TOLERANCE = 0.01
MORRIS_TARGET = 0.10  # half-width wanted on mu*, as a share of the largest mu*
COLUMNS = ["method", "kpi", "factor", "index", "value", "conf", "conf_design", "conf_replication"]


def _indices(kind: str, plan: dict[str, Any], y: np.ndarray, resamples: int) -> dict[str, np.ndarray]:
    """SALib's indices (and its design bootstrap's conf) for one output vector."""
    problem = {k: plan["problem"][k] for k in ("num_vars", "names", "bounds")}
    if kind == "sobol":
        from SALib.analyze import sobol

        second = bool(plan["design"]["second_order"])
        res = sobol.analyze(
            problem, y, calc_second_order=second, conf_level=0.95, seed=0, num_resamples=max(2, resamples)
        )
        out = {k: np.asarray(res[k], dtype=float) for k in ("S1", "S1_conf", "ST", "ST_conf")}
        if second:
            out["S2"], out["S2_conf"] = np.asarray(res["S2"], float), np.asarray(res["S2_conf"], float)
        return out
    from SALib.analyze import morris

    x = np.asarray(plan["sample"], dtype=float)
    res = morris.analyze(
        problem, x, y, conf_level=0.95, num_levels=plan["design"]["levels"], seed=0, num_resamples=max(2, resamples)
    )
    return {k: np.asarray(res[k], dtype=float) for k in ("mu_star", "mu_star_conf", "sigma", "mu")}


def _replicate_matrix(runs: pd.DataFrame, kpi: str, n_points: int) -> np.ndarray | None:
    """points × seeds matrix of one KPI (NaN where a run is missing); None with fewer than 2 seeds."""
    d = runs[runs["kpi"] == kpi]
    if d.empty or d["seed"].nunique() < 2:
        return None
    m = d.pivot_table(index="point", columns="seed", values="value", aggfunc="first")
    return m.reindex(range(n_points)).to_numpy(dtype=float)


def _replication_spread(
    kind: str, plan: dict[str, Any], m: np.ndarray, keys: list[str], resamples: int, seed: int
) -> dict[str, np.ndarray]:
    """1.96 × the standard deviation of each index over bootstrap resamples of the seeds."""
    rng = np.random.default_rng(seed)
    draws: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    n_seeds = m.shape[1]
    for _ in range(resamples):
        cols = rng.integers(0, n_seeds, n_seeds)
        with np.errstate(all="ignore"):
            y = np.nanmean(m[:, cols], axis=1)
        if np.isnan(y).any() or np.ptp(y) == 0:
            continue
        est = _indices(kind, plan, y, 2)
        for k in keys:
            draws[k].append(est[k])
    return {
        k: 1.96 * np.std(np.asarray(v), axis=0, ddof=1) if len(v) > 1 else np.full(1, np.nan) for k, v in draws.items()
    }


def _pow2(n: float) -> int:
    return int(2 ** math.ceil(math.log2(max(2.0, n))))


def sensitivity_indices(
    plan: dict[str, Any],
    y_by_point: pd.DataFrame,
    kpis: list[str],
    notes: list[str] | None = None,
    runs: pd.DataFrame | None = None,
    resamples: int = RESAMPLES,
) -> pd.DataFrame:
    """Sobol (S1, ST, S2) or Morris (mu*, sigma, mu) indices with 95% intervals that include replication noise.

    ``y_by_point`` has a row per point (index = point id) and a column per KPI (the per-point means);
    ``runs`` (point, seed, kpi, value) gives the replications for the replication bootstrap.
    """
    notes = [] if notes is None else notes
    kind = plan["design"]["kind"]
    rows: list[dict[str, Any]] = []
    if kind not in ("sobol", "morris"):
        return pd.DataFrame(rows, columns=COLUMNS)
    names = list(plan["problem"]["names"])
    n_points = int(plan["points"])
    for kpi in kpis:
        y = y_by_point.reindex(range(n_points))[kpi].to_numpy(dtype=float) if kpi in y_by_point else None
        if y is None or np.isnan(y).any():
            missing = n_points if y is None else int(np.isnan(y).sum())
            notes.append(
                f"{kind} indices of {kpi}: {missing} of {n_points} points have no value yet "
                "(unfinished, failed, or the KPI is undefined there)"
            )
            continue
        if np.ptp(y) == 0:
            notes.append(f"{kind} indices of {kpi}: the KPI does not vary over the design")
            continue
        est = _indices(kind, plan, y, 100 if kind == "sobol" else 1000)
        keys = ["S1", "ST"] if kind == "sobol" else ["mu_star"]
        m = _replicate_matrix(runs, kpi, n_points) if runs is not None and len(runs) else None
        rep = _replication_spread(kind, plan, m, keys, resamples, 0) if m is not None else {}
        n_reps = int(np.median(np.sum(~np.isnan(m), axis=1))) if m is not None else 1

        def row(factor: str, ix: str, value: float, design: float, replication: float) -> dict[str, Any]:
            r = replication if not math.isnan(replication) else 0.0
            conf = math.hypot(design, r) if not math.isnan(design) else math.nan
            return {
                "method": kind,
                "kpi": kpi,
                "factor": factor,
                "index": ix,
                "value": value,
                "conf": conf,
                "conf_design": design,
                "conf_replication": replication,
            }

        start = len(rows)
        for i, name in enumerate(names):
            for ix in keys:
                r_conf = float(rep[ix][i]) if ix in rep and rep[ix].size > i else math.nan
                rows.append(row(name, ix, float(est[ix][i]), float(est[f"{ix}_conf"][i]), r_conf))
            if kind == "morris":
                rows.append(row(name, "sigma", float(est["sigma"][i]), math.nan, math.nan))
                rows.append(row(name, "mu", float(est["mu"][i]), math.nan, math.nan))
        if kind == "sobol" and "S2" in est:
            for i, j in itertools.combinations(range(len(names)), 2):
                pair, value, conf = f"{names[i]} × {names[j]}", float(est["S2"][i, j]), float(est["S2_conf"][i, j])
                rows.append(row(pair, "S2", value, conf, math.nan))
        _warn(kind, plan, kpi, pd.DataFrame(rows[start:], columns=COLUMNS), n_reps, notes)
    return pd.DataFrame(rows, columns=COLUMNS)


def _warn(kind: str, plan: dict[str, Any], kpi: str, d: pd.DataFrame, n_reps: int, notes: list[str]) -> None:
    """S1 > ST, intervals wider than the values, and the samples / replications that would do."""
    main = d[d["index"].isin(["S1", "ST", "mu_star"])]
    if kind == "sobol":
        s = d.pivot_table(index="factor", columns="index", values="value", aggfunc="first")
        # equal S1 and ST (no interactions) differ by estimator rounding; flag a clear excess
        over = s[s["S1"] > s["ST"] + S1_ST_TOLERANCE] if {"S1", "ST"} <= set(s.columns) else s.iloc[0:0]
        for f, r in over.iterrows():
            notes.append(
                f"sobol {kpi}: S1 > ST for {f} (S1 {r['S1']:.3f}, ST {r['ST']:.3f}) — impossible for exact "
                "indices, so these estimates are noise; run more samples"
            )
    wide = main[main["conf"] > main["value"].abs()]
    if len(wide):
        notes.append(
            f"{kind} {kpi}: {len(wide)} of {len(main)} intervals are wider than their values "
            f"({', '.join(f'{r.factor} {r.index}' for r in wide.head(4).itertuples())}"
            + (", …" if len(wide) > 4 else "")
            + "): those indices are not distinguishable from zero"
        )
    target = SOBOL_TARGET if kind == "sobol" else MORRIS_TARGET * float(main["value"].abs().max() or 1.0)
    design, rep = float(main["conf_design"].max()), float(main["conf_replication"].max())
    if not (math.isnan(design) or design <= target) or not (math.isnan(rep) or rep <= target):
        n = int(plan["design"].get("samples") or 0) or 1
        what = "base samples" if kind == "sobol" else "trajectories"
        more = n * (design / target) ** 2
        size = _pow2(more) if kind == "sobol" else math.ceil(more)
        need = [f"about {size} {what} (now {n})"] if design > target else []
        if not math.isnan(rep) and rep > target:
            need.append(f"about {math.ceil(n_reps * (rep / target) ** 2)} replications per point (now {n_reps})")
        notes.append(f"{kind} {kpi}: for ±{target:.3g} on every index: " + " and ".join(need))
