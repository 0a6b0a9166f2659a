"""What the Compare page shows besides its maps: the KPI table in words, the KPIs that changed most,
and hourly series with 95% confidence bands.

The numbers are those of ``simulation.results.compare`` (the exported report shows the same ones);
here they are written for people: KPI descriptions as labels (the code as a tooltip), units next
to them, percentages with one decimal.
"""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd
from scipy import stats

from simulation.results.compare import Comparison
from simulation.results.kpis import CATALOGUE
from simulation.results.report import VERDICT_STYLE
from simulation.results.store import Store

from .common import fmt_value, kpi_label

_TD = "padding:3px 6px;border-bottom:1px solid #e8eaed"
_BETTER = {"higher": "higher is better", "lower": "lower is better", "none": "no direction"}


def _e(s: object) -> str:
    return html.escape(str(s), quote=True)


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


def kpi_table(cmp: Comparison, candidate: str, only_significant: bool = False) -> str:
    """The KPI table of one candidate in words, as HTML (rows carry ``data-kpi``/``data-verdict``,
    numbers ``data-col``/``data-value`` at full precision)."""
    t = cmp.table[cmp.table["candidate"] == candidate]
    if only_significant:
        t = t[t["significant"]]
    domains = list(dict.fromkeys(k.split(".", 1)[0] for k in t["kpi"]))
    t = t.assign(_d=t["kpi"].str.split(".").str[0].map(domains.index)).sort_values("_d", kind="stable")
    base = cmp.baseline
    heads = [
        ("KPI (unit)", "left", "34%"),
        (f"Baseline: {base}", "right", "11%"),
        (f"Candidate: {candidate}", "right", "11%"),
        ("Difference (candidate − baseline)", "right", "11%"),
        ("95% confidence interval of the difference", "right", "14%"),
        ("Paired runs", "right", "6%"),
        ("Verdict", "left", "13%"),
    ]
    head = "".join(
        f'<th style="{_TD};text-align:{a};width:{w};background:#f8f9fa;vertical-align:bottom">{_e(h)}</th>'
        for h, a, w in heads
    )
    rows = []
    domain = None
    for r in t.itertuples(index=False):
        if r.kpi.split(".", 1)[0] != domain:
            domain = r.kpi.split(".", 1)[0]
            rows.append(
                f'<tr><th colspan="7" style="{_TD};text-align:left;background:#f1f3f4">'
                f"{_e(domain.capitalize())}</th></tr>"
            )
        bg, fg, label = VERDICT_STYLE.get(r.verdict, VERDICT_STYLE["n/a"])
        if r.verdict == "n/a" and r.significant:
            label = "changed (no better/worse)"
        unit = r.unit or ""
        ci = "—" if math.isnan(r.ci_low) else f"{_bare(r.ci_low, unit)} to {_bare(r.ci_high, unit)}"
        better = _BETTER.get(getattr(r, "better", "none"), "")
        title = f"{r.kpi} · {better}"
        rows.append(
            f'<tr data-kpi="{_e(r.kpi)}" data-verdict="{_e(r.verdict)}">'
            f'<td style="{_TD}" title="{_e(title)}">{_e(kpi_label(r.kpi))}'
            f"{f' ({_e(unit)})' if unit else ''}</td>"
            + _num("baseline_mean", r.baseline_mean, unit)
            + _num("candidate_mean", r.candidate_mean, unit)
            + _num("diff_mean", r.diff_mean, unit, signed=True)
            + f'<td style="{_TD};text-align:right" data-col="ci" data-low="{r.ci_low!r}" '
            f'data-high="{r.ci_high!r}">{_e(ci)}</td>'
            f'<td style="{_TD};text-align:right" data-col="n_pairs">{r.n_pairs}</td>'
            f'<td data-col="verdict" style="{_TD};background:{bg};color:{fg};font-weight:600">{_e(label)}</td></tr>'
        )
    return (
        f'<table class="kpi-table" data-baseline="{_e(base)}" data-candidate="{_e(candidate)}" '
        f'style="border-collapse:collapse;width:100%;table-layout:fixed;font-size:0.85em;overflow-wrap:anywhere">'
        f'<caption style="caption-side:bottom;text-align:left;font-size:0.9em;color:#5f6368;padding-top:4px">'
        f"{_e(cmp.caption(candidate))}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _bare(v: float, unit: str, signed: bool = False) -> str:
    """A value as in its KPI's unit, without the unit's name (the row's label carries it); % keeps its sign."""
    return fmt_value(v, unit, signed).removesuffix(f" {unit}") if unit else fmt_value(v, "", signed)


def _num(col: str, v: float, unit: str, signed: bool = False) -> str:
    raw = "" if v is None or (isinstance(v, float) and math.isnan(v)) else repr(float(v))
    text = _bare(v, unit, signed)
    return f'<td style="{_TD};text-align:right" data-col="{col}" data-value="{raw}">{_e(text)}</td>'


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
