"""Scenario discovery: which factor ranges lead to the outcomes of interest (PRIM, EMA Workbench).

Given a batch and a KPI, the *cases of interest* are the design points whose mean KPI is beyond a
threshold (``above``/``below``), or by default the worst quarter (by the KPI's "better" direction).
PRIM (Friedman & Fisher 1999, as implemented in ``ema_workbench.analysis.prim``) peels the factor
space down to boxes that hold many of those cases (*coverage*: the share of all cases of interest
inside the box) and few others (*density*: the share of the box's points that are of interest).
Each box's *peeling trajectory* is the coverage/density trade-off at every step; the box reported
is the step with the highest coverage among those with density ≥ ``threshold`` (else the densest).

Results go to ``OUT/discovery/<kpi>.json`` (boxes, limits, trajectory) and a trade-off plot, which the
Batch page shows.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulation._files import write_atomic
from simulation.batch.analysis import read_runs
from simulation.batch.study import BatchError
from simulation.results.kpis import CATALOGUE

__all__ = ["Box", "Discovery", "discover", "load_discoveries", "plot_tradeoff", "save"]


@dataclass
class Box:
    """One PRIM box: its quality and the factor ranges that define it (only the restricted factors)."""

    box: int
    step: int
    coverage: float
    density: float
    mass: float
    points: int
    cases: int
    limits: dict[str, Any]


@dataclass
class Discovery:
    """PRIM on one KPI of one batch."""

    out: str
    kpi: str
    rule: str
    points: int
    cases: int
    threshold: float
    boxes: list[Box]
    trajectory: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def _cases(y: pd.Series, kpi: str, above: float | None, below: float | None, worst: float) -> tuple[np.ndarray, str]:
    if above is not None and below is not None:
        raise BatchError("give --above or --below, not both")
    if above is not None:
        return (y > above).to_numpy(), f"{kpi} > {above:g}"
    if below is not None:
        return (y < below).to_numpy(), f"{kpi} < {below:g}"
    if not 0 < worst < 100:
        raise BatchError(f"--worst must be a percentage between 0 and 100; got {worst:g}")
    spec = CATALOGUE.get(kpi)
    higher_is_better = spec is not None and spec.better == "higher"
    # strictly beyond the quantile, so that ties at a common value are not all "worst"
    if higher_is_better:
        cut = float(np.quantile(y, worst / 100))
        return (y < cut).to_numpy(), f"{kpi} < {cut:.4g} (at most the worst {worst:g}% of points; higher is better)"
    cut = float(np.quantile(y, 1 - worst / 100))
    return (y > cut).to_numpy(), f"{kpi} > {cut:.4g} (at most the worst {worst:g}% of points; lower is better)"


def _limits(initial: pd.DataFrame, lims: pd.DataFrame, whole: set[str]) -> dict[str, Any]:
    """The restricted factors' ranges; a factor whose values are whole numbers gets whole-number limits."""
    out: dict[str, Any] = {}
    for col in lims.columns:
        lo, hi = lims[col].iloc[0], lims[col].iloc[1]
        if isinstance(lo, set):
            if lo != initial[col].iloc[0]:
                out[col] = sorted(str(v) for v in lo)
        elif lo != initial[col].iloc[0] or hi != initial[col].iloc[1]:
            out[col] = [float(math.ceil(lo)), float(math.floor(hi))] if col in whole else [float(lo), float(hi)]
    return out


def discover(
    out: str | Path,
    kpi: str,
    above: float | None = None,
    below: float | None = None,
    worst: float = 25.0,
    threshold: float = 0.8,
    peel_alpha: float = 0.05,
    mass_min: float = 0.05,
    max_boxes: int = 3,
) -> Discovery:
    """Run PRIM on a batch's per-point mean of ``kpi``; up to ``max_boxes`` boxes, each with its trajectory."""
    if kpi not in CATALOGUE:
        raise BatchError(f"unknown KPI {kpi!r}; see `python -m simulation kpis`")
    if not 0 < threshold <= 1 or not 0 < peel_alpha < 0.5 or not 0 < mass_min < 1:
        raise BatchError(
            f"--threshold must be in (0, 1], --peel-alpha in (0, 0.5), --mass-min in (0, 1); "
            f"got {threshold:g}, {peel_alpha:g}, {mass_min:g}"
        )
    plan, points, runs = read_runs(out)
    labels = [f["label"] for f in plan["factors"]]
    y = runs[runs["kpi"] == kpi].groupby("point")["value"].mean().dropna()
    if len(y) < 10:
        raise BatchError(
            f"{out}: PRIM needs at least 10 design points with a value of {kpi}; this batch has {len(y)} "
            "(an LHS or Sobol design of 50+ points suits scenario discovery)"
        )
    x = points.set_index("point").loc[y.index, labels].reset_index(drop=True)
    for c in x.columns:
        if not pd.api.types.is_numeric_dtype(x[c]):
            x[c] = x[c].map(lambda v: v if isinstance(v, str) else json.dumps(v)).astype("category")
        else:  # (ema_workbench's integer peeling fails on pandas 3: whole numbers go in as floats)
            x[c] = x[c].astype(float)
    whole = {c for c in x.columns if pd.api.types.is_float_dtype(x[c]) and bool((x[c] == x[c].round()).all())}
    interest, rule = _cases(y.reset_index(drop=True), kpi, above, below, worst)
    notes: list[str] = []
    if interest.sum() == 0 or interest.all():
        raise BatchError(
            f"{rule}: {int(interest.sum())} of {len(y)} points are cases of interest; PRIM needs some of both"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ema_workbench.analysis import prim

        p = prim.Prim(x, interest.astype(int), peel_alpha=peel_alpha, mass_min=mass_min)
        boxes, traj = [], []
        for b in range(max_boxes):
            box = p.find_box()
            if box is None:
                break
            t = box.peeling_trajectory.reset_index(drop=True)
            ok = t[t["density"] >= threshold]
            step = int(ok["coverage"].idxmax()) if len(ok) else int(t["density"].idxmax())
            if not len(ok):
                notes.append(f"box {b}: no step reaches density {threshold:g}; the densest step is reported")
            r = t.iloc[step]
            boxes.append(
                Box(
                    box=b,
                    step=step,
                    coverage=float(r["coverage"]),
                    density=float(r["density"]),
                    mass=float(r["mass"]),
                    points=int(r["n"]),
                    cases=int(r["k"]),
                    limits=_limits(box.box_lims[0], box.box_lims[step], whole),
                )
            )
            traj += [
                {
                    "box": b,
                    "step": int(i),
                    **{k: float(t.loc[i, k]) for k in ("coverage", "density", "mass")},
                    "res_dim": int(t.loc[i, "res_dim"]),
                }
                for i in t.index
            ]
    return Discovery(str(out), kpi, rule, len(y), int(interest.sum()), threshold, boxes, traj, notes)


def plot_tradeoff(d: Discovery) -> Any:
    """Coverage against density along each box's peeling trajectory, the reported step marked."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 4), layout="constrained")
    ax = fig.subplots()
    t = pd.DataFrame(d.trajectory)
    for b in d.boxes:
        tb = t[t["box"] == b.box]
        ax.plot(tb["coverage"], tb["density"], marker=".", label=f"box {b.box}")
        ax.plot([b.coverage], [b.density], marker="o", ms=10, mfc="none", color="k")
    ax.axhline(d.threshold, color="grey", ls=":", lw=1)
    ax.set_xlabel("coverage (share of cases of interest in the box)")
    ax.set_ylabel("density (share of the box that is of interest)")
    ax.set_xlim(0, 1.05)
    ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle(f"PRIM peeling trajectory: {d.rule}", fontsize=9)
    return fig


def _slug(kpi: str) -> str:
    return kpi.replace(".", "_")


def save(d: Discovery) -> list[Path]:
    """Write ``OUT/discovery/<kpi>.json`` and ``<kpi>.png``."""
    dest = Path(d.out) / "discovery"
    dest.mkdir(parents=True, exist_ok=True)
    js = dest / f"{_slug(d.kpi)}.json"
    write_atomic(js, json.dumps(d.to_json(), indent=1, allow_nan=False, default=_plain))
    png = dest / f"{_slug(d.kpi)}.png"
    plot_tradeoff(d).savefig(png, dpi=110)
    return [js, png]


def _plain(v: Any) -> Any:
    if hasattr(v, "item"):
        return v.item()
    return None if isinstance(v, float) and math.isnan(v) else str(v)


def load_discoveries(out: str | Path) -> list[dict[str, Any]]:
    """Every saved discovery of a batch (``OUT/discovery/*.json``), newest KPI names first."""
    folder = Path(out) / "discovery"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
