"""A self-contained HTML report of a comparison: inline CSS and SVG, no external URL, printable.

``render_report(comparison, extra_sections=[(title, html), ...])`` is the extension point: the
economics/decide code adds its scorecard as an extra section (its HTML is inserted as given, so
escape what you put in it). :func:`kpi_table_html` is shared with the web app's Compare page, so
the page and the report show the same numbers the same way, KPIs in words.
"""

from __future__ import annotations

import html
import itertools
import math
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from simulation.results.compare import MIN_PAIRS, Comparison
from simulation.results.kpis import CATALOGUE
from simulation.results.numbers import fmt_num, fmt_value, kpi_header, kpi_label

__all__ = [
    "PALETTE",
    "VERDICT_STYLE",
    "forest_svg",
    "kpi_table_html",
    "render_report",
    "scenario_legend_html",
    "series_svg",
    "services_summary",
    "table_html",
]

#: Colours of the scenarios in charts, baseline first.
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1", "#9c755f")
#: verdict -> (background, text colour, label shown).
VERDICT_STYLE = {
    "better": ("#e6f4ea", "#137333", "▲ better"),
    "worse": ("#fce8e6", "#a50e0e", "▼ worse"),
    "no significant change": ("#f1f3f4", "#5f6368", "≈ not significant"),
    "too few pairs": ("#fef7e0", "#8a5a00", "? too few pairs"),
    "n/a": ("#ffffff", "#80868b", "n/a"),
}
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#202124;margin:24px auto;max-width:1200px;
padding:0 16px;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}
h2{font-size:1.25em;margin-top:1.6em;border-bottom:1px solid #dadce0;padding-bottom:.2em}
.meta{color:#5f6368;font-size:.9em}.note{background:#fef7e0;border-left:4px solid #f9ab00;padding:6px 10px;margin:6px 0}
table{border-collapse:collapse;width:100%;font-size:.88em}th,td{border-bottom:1px solid #e8eaed;padding:4px 6px;
text-align:left;vertical-align:top}th{background:#f8f9fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
.chart{margin:8px 0 16px}.legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:4px;vertical-align:-1px}
@media print{body{margin:0;max-width:none;font-size:11px}h2{break-after:avoid}
tr,.chart,svg{break-inside:avoid}a{color:inherit}}
"""


def _e(s: Any) -> str:
    return html.escape(str(s), quote=True)


_TD = "padding:3px 6px;border-bottom:1px solid #e8eaed"
_BETTER = {"higher": "higher is better", "lower": "lower is better", "none": "no direction"}


def kpi_table_html(cmp: Comparison, candidate: str | None = None, only_significant: bool = False) -> str:
    """The KPI table of one candidate against the baseline in words, as an HTML ``<table>`` with inline styles.

    KPIs are grouped by domain and named by their description, with their unit (the code and the
    KPI's direction as a tooltip). Each KPI row carries ``data-kpi`` and ``data-verdict``; each number
    cell ``data-col`` and ``data-value`` (full precision), so tests and scripts read what a person sees.
    """
    candidate = candidate or cmp.candidates[0]
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
    head = "".join(  # long scenario names break after their underscores, not inside a word
        f'<th style="{_TD};text-align:{a};width:{w};background:#f8f9fa;vertical-align:bottom">'
        f"{_e(h).replace('_', '_<wbr>')}</th>"
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


def table_html(df: pd.DataFrame, cls: str, numeric: Sequence[str] = ()) -> str:
    """``df`` as a plain HTML table with inline styles (class ``cls``), values escaped, ``numeric`` columns
    right-aligned: for a page that shows a few rows and should not load a data grid for them."""
    head = "".join(
        f'<th style="{_TD};text-align:{"right" if c in numeric else "left"};background:#f8f9fa">{_e(c)}</th>'
        for c in df.columns
    )

    def cell(c: str, v: object) -> str:
        if c in numeric:
            return f'<td style="{_TD};text-align:right">{_e(fmt_num(v))}</td>'
        return f'<td style="{_TD}">{_e(v)}</td>'

    body = "".join(
        "<tr>" + "".join(cell(c, v) for c, v in zip(df.columns, row, strict=True)) + "</tr>"
        for row in df.itertuples(index=False)
    )
    return (
        f'<table class="{_e(cls)}" style="border-collapse:collapse;width:100%;font-size:0.85em;overflow-wrap:anywhere">'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def _bare(v: float, unit: str, signed: bool = False) -> str:
    """A value as in its KPI's unit, without the unit's name (the row's label carries it); % keeps its sign."""
    return fmt_value(v, unit, signed).removesuffix(f" {unit}") if unit else fmt_value(v, "", signed)


def _num(col: str, v: float, unit: str, signed: bool = False) -> str:
    raw = "" if v is None or (isinstance(v, float) and math.isnan(v)) else repr(float(v))
    text = _bare(v, unit, signed)
    return f'<td style="{_TD};text-align:right" data-col="{col}" data-value="{raw}">{_e(text)}</td>'


def services_summary(comparison: Comparison) -> pd.DataFrame:
    """Per scenario and service: status over its runs (ok / degraded / failed) and the reasons."""
    s = comparison.services
    cols = ["scenario", "service", "status", "runs", "rejected_actions", "reasons"]
    if s.empty:
        return pd.DataFrame(columns=cols)
    rows = []
    for (label, name), g in s.groupby(["label", "service"], sort=False):
        counts = g["status"].value_counts()
        worst = next((st for st in ("failed", "degraded") if st in counts), "ok")
        status = worst if worst == "ok" else f"{worst} in {counts[worst]} of {len(g)} runs"
        reasons = sorted({str(e).splitlines()[0] for e in g["error"].dropna() if str(e).strip()})
        rows.append(
            {
                "scenario": label,
                "service": name,
                "status": status,
                "runs": len(g),
                "rejected_actions": int(g["rejected_actions"].fillna(0).sum()),
                "reasons": "; ".join(reasons),
            }
        )
    return pd.DataFrame(rows, columns=cols)


# --------------------------------------------------------------------------- charts (inline SVG)
def forest_svg(comparison: Comparison, candidate: str | None = None, width: int = 760) -> str:
    """Relative change (% of the baseline mean) of each KPI with its 95% CI, as an inline SVG."""
    cand = candidate or comparison.candidates[0]
    t = comparison.table[(comparison.table["candidate"] == cand)]
    t = t[t["baseline_mean"].abs() > 1e-12]
    t = t[t["ci_low"].notna()]
    if t.empty:
        return ""
    rel = pd.DataFrame(
        {
            "kpi": t["kpi"],
            "verdict": t["verdict"],
            "m": 100 * t["diff_mean"] / t["baseline_mean"].abs(),
            "lo": 100 * t["ci_low"] / t["baseline_mean"].abs(),
            "hi": 100 * t["ci_high"] / t["baseline_mean"].abs(),
        }
    )
    lim = max(5.0, float(rel[["lo", "hi"]].abs().max().max()) * 1.1)
    left, right, row = 250, 20, 20
    h = 30 + row * len(rel)
    x0, plot_w = left, width - left - right

    def x(v: float) -> float:
        return x0 + (v + lim) / (2 * lim) * plot_w

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" viewBox="0 0 {width} {h}" '
        f'role="img" aria-label="relative change with 95% confidence interval" style="font-size:11px">',
        f'<line x1="{x(0):.1f}" y1="10" x2="{x(0):.1f}" y2="{h - 18}" stroke="#9aa0a6"/>',
    ]
    for v in (-lim, -lim / 2, lim / 2, lim):
        parts.append(f'<text x="{x(v):.1f}" y="{h - 4}" text-anchor="middle" fill="#5f6368">{v:+.0f}%</text>')
    for i, r in enumerate(rel.itertuples(index=False)):
        y = 20 + i * row
        colour = VERDICT_STYLE.get(r.verdict, VERDICT_STYLE["n/a"])[1]
        parts.append(f'<text x="{left - 8}" y="{y + 4}" text-anchor="end">{_e(r.kpi)}</text>')
        parts.append(
            f'<line x1="{x(r.lo):.1f}" y1="{y}" x2="{x(r.hi):.1f}" y2="{y}" stroke="{colour}" stroke-width="2"/>'
        )
        parts.append(f'<circle cx="{x(r.m):.1f}" cy="{y}" r="4" fill="{colour}"/>')
    parts.append("</svg>")
    return "".join(parts)


def series_svg(
    series: pd.DataFrame,
    kpi: str,
    labels: Sequence[str],
    start: str | None = None,
    width: int = 760,
    height: int = 220,
    unit: str | None = None,
) -> str:
    """Hourly means of one KPI, one line per scenario, each in its 95% confidence band, as inline SVG.

    ``series`` is as from :func:`simulation.results.compare.hourly_means` (``low``/``high`` are
    optional: without them, lines only). Each point carries a ``<title>``, the browser's tooltip:
    scenario, time, mean and interval. ``unit`` (default the catalogue's) titles the value axis. A band
    stops at 0 when every mean is non-negative (and at 100 for a share): a t-interval is symmetric,
    the quantity is not.
    """
    s = series[(series["kpi"] == kpi) & series["mean"].notna()]  # an hour without a value is a gap
    if s.empty:
        return ""
    if unit is None:
        unit = CATALOGUE[kpi].unit if kpi in CATALOGUE else ""
    banded = {"low", "high"} <= set(s.columns)
    if banded:  # a t-interval is symmetric; a count, a time or a share is not negative, nor a share over 100
        floor = 0.0 if (s["mean"] >= 0).all() else -math.inf
        ceiling = 100.0 if unit == "%" and (s["mean"] <= 100).all() else math.inf
        s = s.assign(low=s["low"].clip(lower=floor), high=s["high"].clip(upper=ceiling))
    t0 = _start(start)
    left, right, top, bottom = 64, 20, 12, 28
    tmin, tmax = float(s["t"].min()), float(s["t"].max())
    cols = ["mean", "low", "high"] if banded else ["mean"]
    vals = s[cols].to_numpy(float)
    vmin, vmax = float(np.nanmin(vals)), float(np.nanmax(vals))
    if vmax - vmin < 1e-12:
        vmin, vmax = vmin - 1, vmax + 1
    span_t = max(tmax - tmin, 1.0)

    def px(t: float) -> float:
        return left + (t - tmin) / span_t * (width - left - right)

    def py(v: float) -> float:
        return top + (vmax - v) / (vmax - vmin) * (height - top - bottom)

    def clock(t: float) -> str:
        return (t0 + timedelta(seconds=t)).strftime("%H:%M") if t0 else f"{t / 3600:.1f} h"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" height="{height}" viewBox="0 0 {width} {height}" '
        f'preserveAspectRatio="xMinYMid meet" role="img" aria-label="{_e(kpi_label(kpi))} by hour" '
        f'data-kpi="{_e(kpi)}" style="font-size:11px;max-width:{width}px">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#9aa0a6"/>',
    ]
    if unit:
        parts.append(
            f'<text x="12" y="{(height - bottom + top) / 2:.0f}" transform="rotate(-90 12 '
            f'{(height - bottom + top) / 2:.0f})" text-anchor="middle" fill="#5f6368">{_e(unit)}</text>'
        )
    for v in (vmin, (vmin + vmax) / 2, vmax):
        parts.append(
            f'<line x1="{left}" y1="{py(v):.1f}" x2="{width - right}" y2="{py(v):.1f}" stroke="#eceff1"/>'
            f'<text x="{left - 6}" y="{py(v) + 4:.1f}" text-anchor="end" fill="#5f6368">{_e(_bare(v, unit))}</text>'
        )
    step_h = max(1, math.ceil(span_t / 3600 / 8))  # about 8 ticks on whole hours
    t = math.ceil(tmin / (3600 * step_h)) * 3600 * step_h
    while t <= tmax:
        parts.append(f'<text x="{px(t):.1f}" y="{height - 10}" text-anchor="middle" fill="#5f6368">{clock(t)}</text>')
        t += 3600 * step_h
    for i, lb in enumerate(labels):
        g = s[s["label"] == lb].sort_values("t")
        if g.empty:
            continue
        c = PALETTE[i % len(PALETTE)]
        ts, vs = g["t"].to_numpy(float), g["mean"].to_numpy(float)
        lo, hi = (g["low"].to_numpy(float), g["high"].to_numpy(float)) if banded else (vs * np.nan, vs * np.nan)
        gap = 1.5 * float(np.median(np.diff(ts))) if len(ts) > 2 else math.inf
        cuts = [0, *[k + 1 for k in range(len(ts) - 1) if ts[k + 1] - ts[k] > gap], len(ts)]
        for a, b in itertools.pairwise(cuts):  # no line (nor band) across hours without values
            ok = [k for k in range(a, b) if not (math.isnan(lo[k]) or math.isnan(hi[k]))]
            if len(ok) > 1:
                ring = [f"{px(ts[k]):.1f},{py(hi[k]):.1f}" for k in ok]
                ring += [f"{px(ts[k]):.1f},{py(lo[k]):.1f}" for k in reversed(ok)]
                parts.append(f'<polygon class="band" points="{" ".join(ring)}" fill="{c}" fill-opacity="0.18"/>')
            elif ok:  # a lone hour: its interval as a bar
                x = px(ts[ok[0]])
                parts.append(
                    f'<line class="band" x1="{x:.1f}" y1="{py(hi[ok[0]]):.1f}" x2="{x:.1f}" y2="{py(lo[ok[0]]):.1f}" '
                    f'stroke="{c}" stroke-opacity="0.3" stroke-width="8"/>'
                )
            pts = " ".join(f"{px(t):.1f},{py(v):.1f}" for t, v in zip(ts[a:b], vs[a:b], strict=True))
            parts.append(  # the baseline's line wider: where a candidate's lies on it, both show
                f'<polyline points="{pts}" fill="none" stroke="{c}" stroke-width="{4 if i == 0 else 2}"/>'
            )
        for k in range(len(ts)):
            tip = f"{lb} · {clock(ts[k])}\n{fmt_value(vs[k], unit)}"
            if not math.isnan(lo[k]):
                tip += f" (95% CI {_bare(lo[k], unit)} to {_bare(hi[k], unit)})"
            parts.append(
                f'<circle cx="{px(ts[k]):.1f}" cy="{py(vs[k]):.1f}" r="3" fill="{c}"><title>{_e(tip)}</title></circle>'
            )
    parts.append("</svg>")
    return "".join(parts)


def scenario_legend_html(labels: Sequence[str]) -> str:
    """The scenarios' colours in the charts, as one line of HTML."""
    return "".join(
        f'<span style="display:inline-block;margin-right:14px"><i style="display:inline-block;width:12px;'
        f'height:12px;border-radius:2px;margin-right:4px;vertical-align:-1px;background:{PALETTE[i % len(PALETTE)]}">'
        f"</i>{_e(lb)}</span>"
        for i, lb in enumerate(labels)
    )


def _start(start: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(start) if start else None
    except ValueError:
        return None


# --------------------------------------------------------------------------- the report
def render_report(
    comparison: Comparison,
    title: str | None = None,
    series: pd.DataFrame | None = None,
    extra_sections: Sequence[tuple[str, str]] = (),
    store_root: str | None = None,
) -> str:
    """The comparison as one self-contained HTML document (a string).

    Args:
        comparison: What :func:`simulation.results.compare.compare` returned.
        title: Heading; default "<candidates> vs <baseline>".
        series: Hourly means and their intervals (``simulation.results.compare.hourly_means``) to draw,
            one chart per KPI, lines in their 95% confidence bands.
        extra_sections: ``(heading, html)`` pairs appended after the KPI tables, e.g. the
            decide page's scorecard. The HTML is inserted as given: escape your values.
        store_root: The store the runs came from, named in the header for traceability.
    """
    base, cands = comparison.baseline, comparison.candidates
    title = title or f"{', '.join(cands)} vs {base}"
    labels = comparison.labels
    legend = "".join(
        f'<span><i class="sw" style="background:{PALETTE[i % len(PALETTE)]}"></i>{_e(lb)}</span>'
        for i, lb in enumerate(labels)
    )
    m = comparison.meta.get(base, {})
    out = [
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>"
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1><p class='meta'>Pilot District Sandbox · district {_e(m.get('district', '?'))} · "
        f"generated {time.strftime('%Y-%m-%d %H:%M')}" + (f" · store {_e(store_root)}" if store_root else "") + "</p>",
        "<p>Runs are paired by seed (common random numbers): each candidate run sees the same district day as "
        "the baseline run with the same seed. The difference is candidate − baseline, with a 95% paired-t "
        "confidence interval; a change whose interval includes 0 is marked <b>≈ not significant</b>; with fewer "
        f"than {MIN_PAIRS} pairs no KPI gets a verdict (<b>? too few pairs</b>).</p>",
    ]
    out += [f"<p class='note'>{_e(n)}</p>" for n in comparison.notes]
    out.append(
        "<h2>Summary</h2><table><thead><tr><th>candidate</th><th>pairs</th><th>better</th><th>worse</th>"
        "<th>not significant</th></tr></thead><tbody>"
    )
    for c in cands:
        t = comparison.table[comparison.table["candidate"] == c]
        vc = t["verdict"].value_counts()
        out.append(
            f"<tr><td>{_e(c)}</td><td class='num'>{len(comparison.pair_seeds(c))}</td>"
            f"<td class='num'>{vc.get('better', 0)}</td><td class='num'>{vc.get('worse', 0)}</td>"
            f"<td class='num'>{vc.get('no significant change', 0)}</td></tr>"
        )
    out.append("</tbody></table>")
    for c in cands:
        out.append(f"<h2>{_e(c)} vs {_e(base)}</h2>")
        out.append(kpi_table_html(comparison, c))
        svg = forest_svg(comparison, c)
        if svg:
            out.append(f"<h3>Relative change (% of the baseline mean, 95% CI)</h3><div class='chart'>{svg}</div>")
    for heading, body in extra_sections:
        out.append(f"<h2>{_e(heading)}</h2>{body}")
    if series is not None and not series.empty:
        out.append(
            f"<h2>Over the day</h2><p class='legend'>{legend}</p><p class='meta'>Lines: the mean over each "
            "scenario's runs, hour by hour; bands: its 95% confidence interval.</p>"
        )
        for k in [k for k in CATALOGUE if k in set(series["kpi"])] + sorted(set(series["kpi"]) - set(CATALOGUE)):
            out.append(
                f"<h3 title='{_e(k)}'>{_e(kpi_header(k))}</h3>"
                f"<div class='chart'>{series_svg(series, k, labels, m.get('start'))}</div>"
            )
    svc = services_summary(comparison)
    if not svc.empty:
        out.append("<h2>Services</h2>" + svc.to_html(index=False, escape=True, border=0))
    out.append("<h2>Runs</h2><table><thead><tr><th>scenario</th><th>seed</th><th>run id</th></tr></thead><tbody>")
    for lb, g in comparison.groups.items():
        out += [
            f"<tr><td>{_e(lb)}</td><td class='num'>{s}</td><td><code>{_e(r)}</code></td></tr>" for s, r in g.items()
        ]
    out.append("</tbody></table></body></html>")
    return "\n".join(out)
