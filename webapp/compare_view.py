"""What the Compare page picks to show first: the KPIs that changed most.

The KPI table itself is the HTML report's (``simulation.results.report.kpi_table_html``): the page
and the exported report show the same numbers the same way.
"""

from __future__ import annotations

import math

import pandas as pd

from simulation.results.compare import Comparison
from simulation.results.kpis import CATALOGUE


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


def series_kpis(cmp: Comparison, available: list[str]) -> list[str]:
    """KPIs with hourly series, in catalogue order."""
    have = set(available)
    return [k for k in CATALOGUE if k in have]
