"""What the Compare page picks to show first, and its hourly series with 95% confidence bands.

The KPI table itself is the HTML report's (``simulation.results.report.kpi_table_html``): the page
and the exported report show the same numbers the same way.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from simulation.results.compare import Comparison
from simulation.results.kpis import CATALOGUE
from simulation.results.store import Store


def effect_size(row: pd.Series | object) -> float:
    """How much a KPI changed, comparable across KPIs: |difference| over max(|baseline|, CI half-width)."""
    d = float(getattr(row, "diff_mean", math.nan))
    if math.isnan(d):
        return 0.0
    b = abs(float(getattr(row, "baseline_mean", math.nan)))
    half = (float(getattr(row, "ci_high", math.nan)) - float(getattr(row, "ci_low", math.nan))) / 2
    scale = max(b if not math.isnan(b) else 0.0, half if not math.isnan(half) else 0.0, 1e-9)
    return abs(d) / scale


def top_changes(cmp: Comparison, candidate: str, among: list[str] | None = None, n: int = 2) -> list[str]:
    """Up to ``n`` KPIs (of ``among``, default all) with the largest significant changes, largest first;
    when none changed significantly, the one that changed most."""
    t = cmp.table[cmp.table["candidate"] == candidate]
    if among is not None:
        t = t[t["kpi"].isin(among)]
    if t.empty:
        return []
    t = t.assign(_size=[effect_size(r) for r in t.itertuples(index=False)])
    t = t.sort_values(["significant", "_size"], ascending=[False, False], kind="stable")
    sig = t[t["significant"]]
    return list(sig["kpi"].head(n)) if not sig.empty else list(t["kpi"].head(1))


def by_change(cmp: Comparison, candidate: str, among: list[str]) -> list[str]:
    """``among`` ordered: significant changes first, largest first, then the rest by size."""
    t = cmp.table[(cmp.table["candidate"] == candidate) & cmp.table["kpi"].isin(among)]
    t = t.assign(_size=[effect_size(r) for r in t.itertuples(index=False)])
    ranked = list(t.sort_values(["significant", "_size"], ascending=[False, False], kind="stable")["kpi"])
    return ranked + [k for k in among if k not in ranked]


def hourly_ci(store: Store, cmp: Comparison, kpis: list[str]) -> pd.DataFrame:
    """Hourly KPI values per group: mean over runs and its 95% t-interval.

    Columns: label, t, kpi, mean, low, high, n (runs with a value that hour).
    """
    cols = ["label", "t", "kpi", "mean", "low", "high", "n"]
    ts = store.table("timeseries", cmp.run_ids())
    if ts.empty:
        return pd.DataFrame(columns=cols)
    ts = ts[ts["metric"].isin(kpis)]
    label_of = {rid: lb for lb, g in cmp.groups.items() for rid in g.values()}
    ts = ts.assign(label=ts["run_id"].map(label_of))
    g = ts.groupby(["label", "t", "metric"], sort=True)["value"].agg(["mean", "std", "count"]).reset_index()
    n = g["count"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = stats.t.ppf(0.975, np.maximum(n - 1, 1)) * g["std"].to_numpy(float) / np.sqrt(n)
    half = np.where(n > 1, half, np.nan)
    g = g.rename(columns={"metric": "kpi", "count": "n"})
    g["low"], g["high"] = g["mean"] - half, g["mean"] + half
    return g[cols]


def series_kpis(cmp: Comparison, available: list[str]) -> list[str]:
    """KPIs with hourly series, in catalogue order."""
    have = set(available)
    return [k for k in CATALOGUE if k in have]
