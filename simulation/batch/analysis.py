"""Analysis of a batch's output folder: per-point means and CIs, main effects, interactions,
Sobol or Morris indices (SALib, with a bootstrap over replications: :mod:`simulation.batch.sensitivity`)
where the design supports them, plots and tidy exports.

It reads only the files the batch wrote (``plan.json``, ``points.parquet``, ``kpis/``), so it
works on a batch that is still running or was interrupted (with the runs finished so far).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulation.batch.layout import Layout
from simulation.batch.sensitivity import sensitivity_indices
from simulation.batch.study import BatchError
from simulation.results.kpis import CATALOGUE
from simulation.stats import half_width

__all__ = [
    "Analysis",
    "analyze",
    "export",
    "plot_interactions",
    "plot_main_effects",
    "plot_sensitivity",
    "save_plots",
    "sensitivity_indices",
]

MAX_LEVELS = 10  # a factor with more distinct values is binned for effect plots
BINS = 5


@dataclass
class Analysis:
    """Tidy tables of one batch (every table has a ``kpi`` column)."""

    out: Path
    plan: dict[str, Any]
    points: pd.DataFrame
    runs: pd.DataFrame
    summary: pd.DataFrame
    paired: pd.DataFrame
    main_effects: pd.DataFrame
    interactions: pd.DataFrame
    sensitivity: pd.DataFrame
    kpis: list[str]
    failures: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def factors(self) -> list[str]:
        """Factor labels, in study order."""
        return [f["label"] for f in self.plan["factors"]]


def _ci(grouped: pd.core.groupby.DataFrameGroupBy) -> pd.DataFrame:
    """n, mean, sd, 95% CI half-width and bounds of ``value`` per group (NaN values left out)."""
    agg = grouped["value"].agg(n="count", mean="mean", sd="std").reset_index()
    agg["half_width"] = half_width(agg["sd"].to_numpy(float), agg["n"].to_numpy(float))
    agg["ci_low"], agg["ci_high"] = agg["mean"] - agg["half_width"], agg["mean"] + agg["half_width"]
    return agg


def read_runs(out: str | Path) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """plan.json, points.parquet and every KPI row (with its ``point``) of an output folder."""
    lay = Layout(out)
    if not lay.plan.is_file():
        raise BatchError(f"{lay.root}: not a batch output folder (no plan.json); give the --out of a batch")
    plan = json.loads(lay.plan.read_text())
    points = pd.read_parquet(lay.points)
    cols = ["point", "run_id", "replication", "seed", "kpi", "value"]
    if any(True for _ in lay.done()):
        import duckdb

        con = duckdb.connect()
        glob = (lay.kpis / "*" / "*.parquet").as_posix().replace("'", "''")
        runs = con.execute(f"SELECT {', '.join(cols)} FROM read_parquet('{glob}', hive_partitioning=true)").df()
        con.close()
    else:
        runs = pd.DataFrame(columns=cols)
    runs["point"] = runs["point"].astype("int64")
    return plan, points, runs


def _levels(values: pd.Series, bins: int = BINS) -> pd.Series:
    """A factor's values as plot levels: itself when few, else the mean of its quantile bin."""
    if values.nunique() <= MAX_LEVELS or not pd.api.types.is_numeric_dtype(values):
        return values
    bins = pd.qcut(values, bins, duplicates="drop")
    return values.groupby(bins, observed=True).transform("mean").round(6)


def paired_differences(runs: pd.DataFrame, reference: int) -> pd.DataFrame:
    """Each point's KPI minus the reference point's, seed by seed (common random numbers), with a 95% CI."""
    ref = runs[runs["point"] == reference][["kpi", "seed", "value"]].rename(columns={"value": "ref"})
    both = runs.merge(ref, on=["kpi", "seed"], how="inner")
    both = both.assign(value=both["value"] - both["ref"])
    out = _ci(both.groupby(["point", "kpi"], sort=True)).rename(
        columns={"n": "pairs", "mean": "diff", "sd": "diff_sd", "ci_low": "diff_low", "ci_high": "diff_high"}
    )
    return out.assign(reference=reference)


def analyze(out: str | Path, kpis: list[str] | None = None, reference: int = 0) -> Analysis:
    """Tables of a batch's results: per point (and paired against ``reference``), per factor level,
    per factor pair, and sensitivity indices."""
    plan, points, runs = read_runs(out)
    if not 0 <= reference < max(1, plan["points"]):
        raise BatchError(f"--reference must be a design point from 0 to {plan['points'] - 1}; got {reference}")
    labels = [f["label"] for f in plan["factors"]]
    notes: list[str] = []
    present = list(dict.fromkeys(runs["kpi"]))
    if kpis:
        unknown = [k for k in kpis if k not in CATALOGUE]
        if unknown:
            raise BatchError(f"unknown KPI {unknown[0]!r}; see `python -m simulation kpis`")
        chosen = list(kpis)
    elif plan.get("kpis"):
        chosen = list(plan["kpis"])
    else:  # every KPI that varies over the design
        spread = runs.groupby("kpi")["value"].agg(lambda v: v.max() - v.min() if v.notna().any() else 0.0)
        chosen = [k for k in present if spread.get(k, 0) > 0]
    runs = runs[runs["kpi"].isin(chosen)]
    joined = runs.merge(points, on="point", how="left")
    summary = _ci(joined.groupby(["point", "kpi"], sort=True))
    summary = points.merge(summary, on="point", how="right")
    paired = points.merge(paired_differences(runs, reference), on="point", how="right")
    effects, inter = [], []
    for lab in labels:
        lv = joined.assign(level=_levels(joined[lab]))
        effects.append(_ci(lv.groupby(["kpi", "level"], sort=True)).assign(factor=lab))
    for a, b in itertools.combinations(labels[:4], 2):
        pair = joined.assign(level_a=_levels(joined[a]), level_b=_levels(joined[b], bins=3))
        inter.append(_ci(pair.groupby(["kpi", "level_a", "level_b"], sort=True)).assign(factor_a=a, factor_b=b))
    main = pd.concat(effects, ignore_index=True) if effects else pd.DataFrame()
    if len(main):
        main = main[["factor", "level", "kpi", "n", "mean", "sd", "half_width", "ci_low", "ci_high"]]
    inter_df = (
        pd.concat(inter, ignore_index=True)
        if inter
        else pd.DataFrame(columns=["factor_a", "level_a", "factor_b", "level_b", "kpi", "n", "mean", "half_width"])
    )
    if len(inter_df):
        inter_df = inter_df[["factor_a", "level_a", "factor_b", "level_b", "kpi", "n", "mean", "half_width"]]
    y = (
        summary.pivot_table(index="point", columns="kpi", values="mean", aggfunc="first")
        if len(summary)
        else pd.DataFrame()
    )
    sens = sensitivity_indices(plan, y, chosen, notes, runs=runs)
    failures = sum(1 for _ in Layout(out).failed())
    if failures:
        notes.append(f"{failures} runs failed (see {Path(out) / 'failures'}); their points have fewer replications")
    return Analysis(Path(out), plan, points, runs, summary, paired, main, inter_df, sens, chosen, failures, notes)


# --------------------------------------------------------------------------- plots (matplotlib, no pyplot)
def _figure(w: float, h: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), layout="constrained")


def _unit(kpi: str) -> str:
    k = CATALOGUE.get(kpi)
    return f"{kpi} ({k.unit})" if k else kpi


def plot_main_effects(a: Analysis, kpi: str) -> Any:
    """One panel per factor: the KPI's mean and 95% CI at each level (all other factors averaged)."""
    labels = a.factors
    fig = _figure(3.2 * len(labels) + 0.6, 3.2)
    axes = fig.subplots(1, len(labels), sharey=True, squeeze=False)[0]
    for ax, lab in zip(axes, labels, strict=True):
        d = a.main_effects[(a.main_effects["factor"] == lab) & (a.main_effects["kpi"] == kpi)]
        numeric = pd.api.types.is_numeric_dtype(d["level"])
        xs = d["level"].to_numpy() if numeric else np.arange(len(d))
        ax.errorbar(xs, d["mean"], yerr=d["half_width"].fillna(0), marker="o", capsize=3)
        if not numeric:
            ax.set_xticks(xs, [str(v) for v in d["level"]], rotation=30)
        ax.set_xlabel(lab)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(_unit(kpi))
    fig.suptitle(f"Main effects on {kpi} (mean, 95% CI)")
    return fig


def plot_interactions(a: Analysis, kpi: str) -> Any | None:
    """One panel per factor pair: the KPI against the first factor, a line per level of the second."""
    d = a.interactions[a.interactions["kpi"] == kpi]
    pairs = list(dict.fromkeys(zip(d["factor_a"], d["factor_b"], strict=True)))
    if not pairs:
        return None
    fig = _figure(3.6 * len(pairs) + 0.6, 3.4)
    axes = fig.subplots(1, len(pairs), squeeze=False)[0]
    for ax, (fa, fb) in zip(axes, pairs, strict=True):
        dd = d[(d["factor_a"] == fa) & (d["factor_b"] == fb)]
        for lb, g in dd.groupby("level_b", sort=True):
            numeric = pd.api.types.is_numeric_dtype(g["level_a"])
            name = f"{lb:.3g}" if isinstance(lb, float) else str(lb)
            ax.plot(g["level_a"] if numeric else g["level_a"].astype(str), g["mean"], marker="o", label=f"{fb}={name}")
        ax.set_xlabel(fa)
        ax.set_ylabel(_unit(kpi))
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(f"Interactions on {kpi} (mean)")
    return fig


def plot_sensitivity(a: Analysis, kpi: str) -> Any | None:
    """Sobol S1/ST bars with CIs, or Morris mu* against sigma."""
    d = a.sensitivity[a.sensitivity["kpi"] == kpi]
    if d.empty:
        return None
    fig = _figure(5.5, 3.4)
    ax = fig.subplots()
    if d["method"].iloc[0] == "sobol":
        names = list(dict.fromkeys(d[d["index"] == "S1"]["factor"]))
        x = np.arange(len(names))
        for off, ix in ((-0.2, "S1"), (0.2, "ST")):
            s = d[d["index"] == ix].set_index("factor").reindex(names)
            ax.bar(x + off, s["value"], 0.4, yerr=s["conf"], capsize=3, label=ix)
        ax.set_xticks(x, names, rotation=20)
        ax.set_ylabel("Sobol index")
        ax.legend()
    else:
        mu = d[d["index"] == "mu_star"].set_index("factor")
        sig = d[d["index"] == "sigma"].set_index("factor").reindex(mu.index)
        ax.errorbar(mu["value"], sig["value"], xerr=mu["conf"], fmt="o", capsize=3)
        for name in mu.index:
            ax.annotate(
                name,
                (mu.loc[name, "value"], sig.loc[name, "value"]),
                fontsize=8,
                xytext=(4, 4),
                textcoords="offset points",
            )
        ax.set_xlabel("μ* (mean |elementary effect|)")
        ax.set_ylabel("σ (non-linearity / interactions)")
    ax.grid(alpha=0.3)
    fig.suptitle(f"Sensitivity of {kpi}")
    return fig


def _slug(kpi: str) -> str:
    return kpi.replace(".", "_")


def save_plots(
    a: Analysis, folder: str | Path | None = None, progress: Callable[[int, int], Any] | None = None
) -> list[Path]:
    """Write PNGs (main effects, interactions, sensitivity) per KPI; default folder ``OUT/analysis``.

    ``progress(done, total)`` is called after each KPI's plots.
    """
    dest = Path(folder) if folder else Layout(a.out).analysis
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for i, kpi in enumerate(a.kpis):
        if progress is not None:
            progress(i, len(a.kpis))
        if a.main_effects.empty or kpi not in set(a.main_effects["kpi"]):
            continue
        for kind, fn in (
            ("main_effects", plot_main_effects),
            ("interactions", plot_interactions),
            ("sensitivity", plot_sensitivity),
        ):
            fig = fn(a, kpi)
            if fig is not None:
                p = dest / f"{kind}__{_slug(kpi)}.png"
                fig.savefig(p, dpi=110)
                written.append(p)
    return written


def export(a: Analysis, folder: str | Path) -> list[Path]:
    """Write the tidy tables as CSV and Parquet: runs, points_summary, paired_differences, main_effects,
    interactions, sensitivity."""
    dest = Path(folder)
    dest.mkdir(parents=True, exist_ok=True)
    runs = a.runs.merge(a.points, on="point", how="left")
    written = []
    for name, df in (
        ("runs", runs),
        ("points_summary", a.summary),
        ("paired_differences", a.paired),
        ("main_effects", a.main_effects),
        ("interactions", a.interactions),
        ("sensitivity", a.sensitivity),
    ):
        df = df.copy()
        for col in df.columns:  # mixed-type factor levels (e.g. '1h' and 2) must be one type in Parquet
            if df[col].dtype == object:
                df[col] = df[col].map(lambda v: v if v is None or isinstance(v, str) else json.dumps(v))
        for ext in ("csv", "parquet"):
            p = dest / f"{name}.{ext}"
            df.to_csv(p, index=False) if ext == "csv" else df.to_parquet(p, index=False)
            written.append(p)
    return written
