"""The decision as HTML: the chain, scorecard, money with its sources, tornado, scale-up and the record.

Self-contained (inline CSS and SVG, no scripts, no outside requests), so a report can be mailed,
archived and printed to PDF. Money is shown in million KRW with separators, or 억원 in headlines.
"""

from __future__ import annotations

import html
import time
from typing import TYPE_CHECKING, Any

from simulation.decision.cashflow import eok, krw

if TYPE_CHECKING:
    from simulation.decision.record import DecisionRecord

__all__ = ["decision_html", "record_page", "tornado_svg"]

_CSS = """<style>
.decide table{border-collapse:collapse;margin:.5em 0}.decide td,.decide th{border:1px solid #bbb;padding:3px 8px;
font-size:13px;vertical-align:top}.decide th{background:#eee;text-align:left}.decide td.num{text-align:right}
.decide .rec{font-size:18px;font-weight:bold}.decide .small{font-size:11px;color:#555}
.decide .pass{color:#137333}.decide .fail{color:#a50e0e}.decide ol.chain li{margin-bottom:.4em}
@media print{.decide{page-break-inside:avoid}}</style>"""
_COLOUR = {"commercialise": "#137333", "extend_pilot": "#b06000", "stop": "#a50e0e"}
_LABEL = {"commercialise": "commercialise", "extend_pilot": "extend pilot", "stop": "stop"}


def _e(x: Any) -> str:
    return html.escape(str(x))


def _m(v: Any) -> str:
    return krw(v, unit=False)


def tornado_svg(
    bars: list[dict[str, Any]], base_npv: float, base_decision: str, width: int = 760, as_img: bool = False
) -> str:
    """Horizontal bars of expected NPV from each assumption's low to high end; a flip is marked in colour.

    ``as_img`` wraps the SVG in an ``<img>`` data URI (for pages whose HTML sanitiser drops inline SVG).
    """
    if not bars:
        return ""
    lo = min(base_npv, *(min(b["npv_low"], b["npv_high"]) for b in bars))
    hi = max(base_npv, *(max(b["npv_low"], b["npv_high"]) for b in bars))
    span = (hi - lo) or 1.0
    left, right, row = 300, width - 20, 26
    h = row * len(bars) + 40

    def x(v: float) -> float:
        return left + (v - lo) / span * (right - left)

    out = [
        f'<svg width="{width}" height="{h}" role="img" '
        f'aria-label="tornado of expected NPV" font-family="sans-serif" font-size="11">'
    ]
    for i, b in enumerate(bars):
        y = 10 + i * row
        a, c = sorted((b["npv_low"], b["npv_high"]))
        flip = b["flips"]
        colour = "#d93025" if flip else "#4e79a7"
        label = b["label"] if len(b["label"]) <= 48 else b["label"][:47] + "…"
        out.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{_e(label)}</text>')
        out.append(
            f'<rect x="{x(a):.1f}" y="{y + 3}" width="{max(1.0, x(c) - x(a)):.1f}" height="{row - 8}" '
            f'fill="{colour}" data-key="{_e(b["key"])}" data-flips="{str(flip).lower()}"/>'
        )
        for v, d in ((b["npv_low"], b["decision_low"]), (b["npv_high"], b["decision_high"])):
            if d != base_decision:
                out.append(
                    f'<text x="{x(v):.1f}" y="{y + 2}" text-anchor="middle" fill="#d93025">{_e(_LABEL[d])}</text>'
                )
    zero = x(base_npv)
    out.append(f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="4" y2="{h - 24}" stroke="#202124" stroke-dasharray="3,3"/>')
    out.append(
        f'<text x="{zero:.1f}" y="{h - 8}" text-anchor="middle">expected NPV {_e(krw(base_npv))} '
        f"({_e(_LABEL[base_decision])})</text>"
    )
    out.append("</svg>")
    svg = "".join(out)
    if not as_img:
        return svg
    import base64

    data = base64.b64encode(svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1).encode()).decode()
    return f'<img alt="tornado of expected NPV" width="{width}" src="data:image/svg+xml;base64,{data}"/>'


def _chain(ev: dict[str, Any]) -> list[str]:
    if not ev.get("chain"):
        return []
    out = ["<h3>How the recommendation follows from the evidence</h3><ol class='chain'>"]
    for step in ev["chain"]:
        items = "".join(f"<li>{_e(line)}</li>" for line in step["lines"])
        out.append(f"<li><b>{_e(step['step'])}</b><ul>{items}</ul></li>")
    out.append("</ol>")
    return out


def _money(m: dict[str, Any]) -> list[str]:
    out = [
        "<h3>Economics (million KRW)</h3><table><tr><th>capex</th><th>opex a year</th><th>revenue a year</th>"
        "<th>benefit a year (expected)</th><th>expected NPV</th><th>NPV 90% range</th><th>P(NPV &gt; 0)</th>"
        "<th>BCR</th><th>payback</th></tr>"
        f"<tr><td class='num'>{_m(m['capex'])}</td><td class='num'>{_m(m['opex_per_year'])}</td>"
        f"<td class='num'>{_m(m['revenue_per_year'])}</td><td class='num'>{_m(m['benefit_per_year'])}</td>"
        f"<td class='num'>{_m(m['npv'])}</td><td class='num'>{_m(m['npv_p05'])} to {_m(m['npv_p95'])}</td>"
        f"<td class='num'>{m['p_npv_positive']:.2f}</td>"
        f"<td class='num'>{'—' if m['bcr'] is None else f'{m["bcr"]:.2f}'}</td>"
        f"<td class='num'>{'—' if m['payback_years'] is None else f'{m["payback_years"]:.1f} years'}</td></tr></table>",
        f"<p class='small'>Expected NPV {_e(eok(m['npv']))} over {m['horizon_years']} years at "
        f"{m['discount_rate']:.1%}; range and P(NPV &gt; 0) from {m['draws']:,} Monte-Carlo draws (seed {m['seed']}): "
        "each KPI effect from its paired differences, each unit value from its low–central–high range.</p>",
        "<p><b>Where the money comes from</b></p><ul>",
    ]
    out += [f"<li>capex: {_e(s)}</li>" for s in m.get("capex_sources") or []]
    out.append(f"<li>opex: {_e(m.get('opex_source') or '—')}</li>")
    out += [
        f"<li>revenue, {_e(r['source'])}: {_e(krw(r['krw_per_year']))} a year — {_e(r['how'])}</li>"
        for r in m.get("revenue_lines") or []
    ]
    if not m.get("revenue_lines"):
        out.append("<li>revenue: none (no subscription or per-request price in the manifest)</li>")
    if m.get("bcr_note"):
        out.append(f"<li>BCR: {_e(m['bcr_note'])}</li>")
    out.append("</ul>")
    if m["lines"]:
        out.append(
            "<table><tr><th>KPI</th><th>unit value (source)</th><th>improvement a run (+ better)</th><th>verdict</th>"
            "<th>counted</th><th>KRW per unit (mean)</th><th>expected, million KRW a year</th><th>90% range</th></tr>"
        )
        for ln in m["lines"]:
            out.append(
                f"<tr><td>{_e(ln['kpi'])}</td><td>{_e(ln['value'])} <span class='small'>({_e(ln.get('source', ''))})"
                f"</span></td><td class='num'>{ln['improvement_per_run'] + 0.0:+.3g} {_e(ln['unit'])}</td>"
                f"<td>{_e(ln.get('verdict', ''))}</td><td>{_e(ln.get('counted', ''))}</td>"
                f"<td class='num'>{ln['krw_per_unit']:,.1f}</td><td class='num'>{_m(ln['krw_per_year'])}</td>"
                f"<td class='num'>{_m(ln.get('krw_p05'))} to {_m(ln.get('krw_p95'))}</td></tr>"
            )
        out.append("</table>")
    nm = m.get("not_monetised") or []
    if nm:
        out.append("<p><b>Not monetised</b> (moved, but carry no money):</p><ul class='not-monetised'>")
        for x in nm:
            flag = "<b class='fail'>missing unit value</b>: " if x["missing"] else ""
            out.append(
                f"<li data-kpi='{_e(x['kpi'])}'>{flag}{_e(x['kpi'])} ({x['diff_mean']:+.3g} {_e(x['unit'])}, "
                f"{_e(x['verdict'])}): {_e(x['reason'])}</li>"
            )
        out.append("</ul>")
    return out


def _tornado(ev: dict[str, Any], as_img: bool = False) -> list[str]:
    bars = ev.get("tornado") or []
    if not bars:
        return []
    base = ev["recommendation"]["decision"]
    out = [
        "<h3>What drives the verdict</h3><p>Each assumption at the low and the high end of its range, all else "
        "as evaluated: the bar spans the expected NPV; a red bar changes the recommendation.</p>",
        tornado_svg(bars, ev["economics"]["npv"], base, as_img=as_img),
        "<table class='tornado'><tr><th>assumption</th><th>low end</th><th>NPV</th><th>recommendation</th>"
        "<th>high end</th><th>NPV</th><th>recommendation</th></tr>",
    ]
    for b in bars:
        out.append(
            f"<tr data-key='{_e(b['key'])}'><td>{_e(b['label'])}</td><td>{_e(b['low_text'])}</td>"
            f"<td class='num'>{_m(b['npv_low'])}</td><td>{_e(_LABEL[b['decision_low']])}</td>"
            f"<td>{_e(b['high_text'])}</td><td class='num'>{_m(b['npv_high'])}</td>"
            f"<td>{_e(_LABEL[b['decision_high']])}</td></tr>"
        )
    out.append("</table>")
    flips = ev.get("flips") or []
    if flips:
        out.append("<p><b>What would change the recommendation</b> (nearest first):</p><ul class='flips'>")
        out += [f"<li>{_e(f['text'])}</li>" for f in flips[:10]]
        out.append("</ul>")
    else:
        out.append("<p>No single assumption changes the recommendation within its search range.</p>")
    return out


def decision_html(
    evaluation: dict[str, Any], record: DecisionRecord | None = None, heading: bool = True, svg_as_img: bool = False
) -> str:
    """A self-contained HTML section: recommendation, chain, scorecard, money, tornado, scale-up, decision.

    ``evaluation`` is :meth:`Evaluation.to_dict` (or a record's ``evaluation``); ``svg_as_img`` embeds the
    tornado as an image (Streamlit's ``st.html`` drops inline SVG).
    """
    ev = evaluation
    rec = ev["recommendation"]
    colour = _COLOUR.get(rec["decision"], "#202124")
    out = [
        _CSS,
        '<section class="decide">',
        f"<h2>Scorecard and recommendation: {_e(ev['candidate'])}</h2>" if heading else "",
        f'<p class="rec" style="color:{colour}">Recommendation: {_e(rec["label"])} '
        f"(weighted score {rec['total']:.0f}/100)</p><ul>",
    ]
    out += [f"<li>{_e(r)}</li>" for r in rec["reasons"]]
    out.append("</ul>")
    out += _chain(ev)
    out.append(
        "<h3>Scorecard</h3><table><tr><th>criterion</th><th>score (0-100)</th><th>weight</th><th>evidence</th>"
        "<th>rule</th></tr>"
    )
    for c in ev["scorecard"]:
        mark = "" if c["assessed"] else " (not assessed)"
        out.append(
            f"<tr><td>{_e(c['name'])}{mark}</td><td class='num'>{c['score']:.0f}</td>"
            f"<td class='num'>{c['weight']:.2f}</td><td>{'<br>'.join(_e(d) for d in c['details'])}</td>"
            f"<td class='small'>{_e(c['rule'])}</td></tr>"
        )
    out.append("</table>")
    if ev.get("weights_note"):
        out.append(f"<p class='small'>{_e(ev['weights_note'])}</p>")
    flips = [s for s in ev["sensitivity"] if s["rank_changed"] or s["recommendation_changed"]]
    out.append(
        "<p>Weight sensitivity (each weight ±20%): "
        + (
            "; ".join(
                f"{_e(s['criterion'])} ×{s['factor']}: "
                + ("ranking changes" if s["rank_changed"] else "recommendation changes")
                for s in flips
            )
            if flips
            else "ranking and recommendation stable"
        )
        + "</p>"
    )
    m = ev["economics"]
    out += _money(m)
    out += _tornado(ev, svg_as_img)
    if m["notes"]:
        out.append("<p class='small'>" + _e(" ".join(m["notes"])) + "</p>")
    out.append(
        "<h3>Scale-up (million KRW, expected values)</h3><table><tr><th>scope</th><th>hardware units</th>"
        "<th>poles to convert</th><th>capex</th><th>benefit + revenue a year</th><th>NPV</th><th>budget line</th>"
        "<th>capex share</th></tr>"
    )
    for r in ev["scale_up"]:
        share = "—" if r["capex_share_of_budget"] is None else f"{r['capex_share_of_budget']:.1%}"
        budget = f"{_e(r['budget_line'])} ({_m(r['budget_krw'])})" if r["budget_line"] else "—"
        out.append(
            f"<tr><td>{_e(r['scope'])}</td><td class='num'>{r['hardware_units']:,}</td>"
            f"<td class='num'>{r['poles_to_convert']:,}</td><td class='num'>{_m(r['capex'])}</td>"
            f"<td class='num'>{_m(r['benefit_per_year'] + r['revenue_per_year'])}</td>"
            f"<td class='num'>{_m(r['npv'])}</td><td>{budget}</td><td class='num'>{share}</td></tr>"
        )
    out.append("</table>")
    if record is not None:
        verb = "accepted the recommendation" if record.accepted else f"overrode it with: {record.label}"
        out.append(
            f"<h3>Decision {_e(record.id)}</h3><p>On {_e(record.created.replace('T', ' '))} the evaluator "
            f"{_e(record.evaluator) + ' ' if record.evaluator else ''}{_e(verb)}."
            + (f" Note: {_e(record.note)}" if record.note else "")
            + "</p>"
        )
        runs = "; ".join(f"{_e(k)}: {', '.join(_e(x) for x in v)}" for k, v in record.run_ids.items())
        out.append(
            f"<p class='small'>Runs: {runs}. Unit values {_e(record.unit_values_file)} "
            f"(digest {_e(record.unit_values_digest)}).</p>"
        )
    out.append("</section>")
    return "\n".join(out)


def _comparison_table(rows: list[dict[str, Any]]) -> str:
    out = [
        "<h3>KPI comparison (candidate − baseline, 95% paired-t CI)</h3><table><tr><th>KPI</th><th>unit</th>"
        "<th>baseline</th><th>candidate</th><th>difference</th><th>95% CI</th><th>pairs</th><th>verdict</th></tr>"
    ]

    def f(v: Any) -> str:
        return "—" if v is None else f"{v:,.4g}"

    for r in rows:
        out.append(
            f"<tr><td>{_e(r['kpi'])}</td><td>{_e(r['unit'])}</td><td class='num'>{f(r['baseline_mean'])}</td>"
            f"<td class='num'>{f(r['candidate_mean'])}</td><td class='num'>{f(r['diff_mean'])}</td>"
            f"<td class='num'>[{f(r['ci_low'])}, {f(r['ci_high'])}]</td><td class='num'>{r['n_pairs']}</td>"
            f"<td>{_e(r['verdict'])}</td></tr>"
        )
    out.append("</table>")
    return "\n".join(out)


def record_page(record: DecisionRecord) -> str:
    """A recorded decision as a whole, self-contained HTML document (printable to PDF)."""
    title = f"Decision {record.id}: {record.candidate} vs {record.baseline}"
    body = decision_html(record.evaluation, record)
    comparison = _comparison_table(record.evaluation.get("comparison") or [])
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title><style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:24px auto;"
        "padding:0 16px;color:#202124}</style></head><body>"
        f"<h1>{_e(title)}</h1><p class='small'>Pilot District Sandbox · decision {record.label} · recorded "
        f"{_e(record.created.replace('T', ' '))}"
        + (f" by {_e(record.evaluator)}" if record.evaluator else "")
        + f" · page made {time.strftime('%Y-%m-%d %H:%M')}</p>"
        + body
        + f"<section class='decide'>{comparison}</section></body></html>"
    )
