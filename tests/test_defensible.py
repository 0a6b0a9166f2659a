"""Decisions you can defend: too few pairs, money under uncertainty, not monetised, tornado, counts, captions, chain."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_economics import row, unit_values_file

from simulation.decision.economics import ServiceCosts, candidate_rows, economics, inputs, load_unit_values
from simulation.decision.evaluate import evaluate
from simulation.decision.html import decision_html
from simulation.results.run import RunResult
from simulation.results.store import Store
from simulation.stats import paired_test, verdict

KWH = "energy.total_kwh"
RESPOND = "safety.time_to_respond_s"


def table_from_pairs(pairs: dict[str, tuple[list[float], list[float]]]) -> pd.DataFrame:
    """A comparison table built the way compare builds it, from each KPI's baseline and candidate values."""
    from simulation.results.kpis import CATALOGUE

    rows = []
    for kpi, (b, c) in pairs.items():
        test = paired_test([y - x for x, y in zip(b, c, strict=True)])
        sig, v = verdict(CATALOGUE[kpi].better, test)
        rows.append(
            {
                "kpi": kpi,
                "unit": CATALOGUE[kpi].unit,
                "better": CATALOGUE[kpi].better,
                "baseline": "base",
                "candidate": "cand",
                "baseline_mean": sum(b) / len(b),
                "candidate_mean": sum(c) / len(c),
                "diff_mean": test.mean,
                "ci_low": test.low,
                "ci_high": test.high,
                "n_pairs": test.n,
                "significant": sig,
                "verdict": v,
                "sd_diff": test.sd,
                "p_value": test.p_value,
                "p_adjusted": test.p_value,
            }
        )
    return pd.DataFrame(rows)


COSTS = ServiceCosts.from_manifest(
    {"name": "cand", "trl": 8, "hardware": [{"module": "sensor", "units": 1, "capex_krw": 1_000_000}]}
)


# ----------------------------------------------------------------- 1. statistics that know when they know nothing
def test_two_identical_pairs_are_too_few_pairs_and_block_nothing(tmp_path):
    # safety.missed +1 in both of 2 pairs: CI [1, 1]. On main this was "worse" and blocked commercialisation.
    t = table_from_pairs({"safety.missed": ([3.0, 5.0], [4.0, 6.0]), KWH: ([100.0, 110.0], [90.0, 100.0])})
    assert list(t["verdict"]) == ["too few pairs", "too few pairs"] and not t["significant"].any()
    ev = evaluate(t, COSTS, load_unit_values(), inputs())
    assert not any("safety KPI significantly worse" in r for r in ev.recommendation.reasons)
    assert ev.scorecard.facts["worse_safety"] == [] and ev.scorecard.facts["better"] == []
    missed = next(ln for ln in ev.economics.lines if ln.kpi == "safety.missed")
    assert missed.krw_per_year == 0 and missed.counted == "around 0 (not significant)"


# --------------------------------------------------------------------------- 2. money under uncertainty
def test_a_non_significant_kpi_widens_the_npv_range_but_does_not_move_its_centre():
    kwh = {KWH: ([100.0, 110.0, 120.0, 130.0, 140.0], [90.0, 99.0, 111.0, 119.0, 131.0])}
    respond = {RESPOND: ([300.0, 310.0, 320.0, 330.0, 340.0], [280.0, 330.0, 300.0, 345.0, 320.0])}
    incidents = {"safety.incidents": ([10.0] * 5, [10.0] * 5)}
    plain = table_from_pairs(kwh | incidents)
    noisy = table_from_pairs(kwh | incidents | respond)
    r = noisy.set_index("kpi").loc[RESPOND]
    assert r["verdict"] == "no significant change" and r["diff_mean"] == pytest.approx(-5.0)
    uv = load_unit_values()
    a = economics(candidate_rows(plain), COSTS, uv, inputs())
    b = economics(candidate_rows(noisy), COSTS, uv, inputs())
    assert b.npv == pytest.approx(a.npv, rel=1e-12)  # the centre: −5 s is not counted
    assert b.benefit_per_year == pytest.approx(a.benefit_per_year, rel=1e-12)
    assert (b.npv_p95 - b.npv_p05) > 1.5 * (a.npv_p95 - a.npv_p05)  # the range: its spread is
    line = next(ln for ln in b.lines if ln.kpi == RESPOND)
    assert line.krw_per_year == 0 and line.krw_p05 < 0 < line.krw_p95
    # the same table counted at its mean once significant: then the centre moves
    sig = noisy.copy()
    sig.loc[sig["kpi"] == RESPOND, ["significant", "verdict"]] = [True, "better"]
    assert economics(candidate_rows(sig), COSTS, uv, inputs()).npv > a.npv


def test_money_uses_the_unit_values_mean_never_the_central_value():
    t = table_from_pairs({KWH: ([100.0] * 5, [90.0, 90.5, 89.5, 90.2, 89.8])})
    uv = load_unit_values()
    e = economics(candidate_rows(t), ServiceCosts("x"), uv, inputs(days_per_year=1))
    v = uv.values["kwh"]
    assert e.lines[0].krw_per_unit == pytest.approx((v.low + v.central + v.high) / 3)
    assert e.benefit_per_year == pytest.approx(10.0 * (v.low + v.central + v.high) / 3)


# --------------------------------------------------------------------------- 3. unit values and what is not monetised
def test_a_missing_unit_value_is_listed_as_not_monetised(tmp_path):
    data = yaml.safe_load(Path(unit_values_file(tmp_path)).read_text())
    del data["values"]["kwh"]
    p = tmp_path / "no_kwh.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True))
    uv = load_unit_values(p)
    t = table_from_pairs({KWH: ([100.0] * 5, [90.0, 90.5, 89.5, 90.2, 89.8])})
    ev = evaluate(t, COSTS, uv, inputs())
    (nm,) = ev.economics.not_monetised
    assert nm["kpi"] == KWH and nm["missing"] and nm["reason"] == f"no unit value in {p}"
    assert nm["verdict"] == "better"
    money = next(s for s in ev.chain if s["step"] == "money (90% range)")
    assert f"not monetised: {KWH}" in money["lines"]
    html = decision_html(ev.to_dict())
    assert "missing unit value" in html and f"data-kpi='{KWH}'" in html


def test_every_kpi_a_service_can_move_has_a_unit_value_or_a_reason():
    from simulation.results.kpis import CATALOGUE

    uv = load_unit_values()
    for name in ("operator_hour", "false_alarm", "cctv_detection", "pm25_exposure", "cruising_minute"):
        assert uv.values[name].source  # operator time, false alarms, detection, exposure, cruising time
    directional = [k for k, s in CATALOGUE.items() if s.better != "none"]
    assert [k for k in directional if k not in uv.valued_kpis and k not in uv.not_valued] == []


def test_a_kpi_both_valued_and_excused_is_refused(tmp_path):
    from simulation.errors import DecideError

    p = unit_values_file(tmp_path, not_valued={KWH: "no"})
    with pytest.raises(DecideError, match=f"KPI '{KWH}' is both valued .* and listed under not_valued"):
        load_unit_values(p)
    bad = unit_values_file(tmp_path, kwh={"kpis": [{"kpi": KWH, "per": "lampposts"}]})
    with pytest.raises(DecideError, match=r"at values.kwh.kpis\[0\].per: per must name a KPI or a district figure"):
        load_unit_values(bad)


# --------------------------------------------------------------------------- 4. which assumptions drive the verdict
def test_the_tornados_top_bar_is_the_assumption_that_flips_the_verdict(tmp_path):
    # 100 kWh a day saved, 250 days, 5 years at 7%: PV of KRW 1 per kWh = 25,000 × 4.1002 = 102,505.
    # Capex KRW 10.25 M needs KRW 100/kWh; the value runs 105..210, so the money is sure (P = 1) but
    # thin: capex × 1.5 drops P(NPV > 0) to about 0.34 (extend pilot), while the kWh value swings the
    # NPV more (105 × 102,505 = 10.8 M against 0.8 × 10.25 M = 8.2 M) without flipping anything.
    uv = load_unit_values(unit_values_file(tmp_path, kwh={"low": 105, "central": 110, "high": 210}))
    costs = ServiceCosts.from_manifest(
        {"name": "cand", "trl": 8, "hardware": [{"module": "sensor", "units": 1, "capex_krw": 10_250_500}]}
    )
    t = pd.DataFrame([row(KWH, "kWh", "lower", 1000.0, 900.0, lo=-100.5, hi=-99.5)])
    ev = evaluate(t, costs, uv, inputs(days_per_year=250, horizon_years=5, discount_rate=0.07))
    assert ev.recommendation.decision == "commercialise"
    top, *rest = ev.tornado
    assert top["key"] == "capex" and top["flips"] and top["decision_high"] == "extend_pilot"
    kwh = next(b for b in rest if b["key"] == "unit_value:kwh")
    assert kwh["swing"] > top["swing"] and not kwh["flips"]
    assert not any(b["flips"] for b in rest)
    first = ev.flips[0]
    assert first["key"] == "capex" and first["direction"] == "above" and first["within_range"]
    assert 1.0 < first["threshold"] < 1.5
    assert first["text"].startswith("extend pilot instead of commercialise if the service's capex")
    assert "inside the stated range" in first["text"]


# --------------------------------------------------------------------------- 5. counts and captions
def test_revenue_says_where_it_comes_from_and_a_negative_bcr_explains_itself():
    sub = ServiceCosts.from_manifest(
        {
            "name": "cctv",
            "hardware": [{"module": "sensor", "units": 2, "capex_krw": 1_000_000}],
            "pricing": {"subscription_krw_per_month": 500_000, "opex_krw_per_month": 100_000},
        }
    )
    worse = table_from_pairs({KWH: ([100.0] * 5, [300.0, 301.0, 299.0, 300.5, 299.5])})  # +200 kWh a day
    e = economics(candidate_rows(worse), sub, load_unit_values(), inputs())
    (rev,) = e.revenue_lines
    assert rev["source"] == "subscription" and "logistics" not in rev["how"]
    assert rev["how"] == "KRW 500,000 a month × 12 (manifest pricing.subscription_krw_per_month)"
    assert e.capex_sources == ("2 × sensor at KRW 1,000,000 (manifest hardware)",)
    assert e.bcr is not None and e.bcr < 0
    assert e.bcr_note.startswith("BCR is negative because the monetised effects are a net loss")
    assert f"{KWH} costs KRW" in e.bcr_note


def test_installs_count_only_the_costed_service(tiny_district, tmp_path):
    from simulation.decision.economics import EconomicsInputs
    from simulation.decision.evidence import evaluate_runs

    plugin = tmp_path / "dimmer"
    plugin.mkdir()
    (plugin / "plugin.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "dimmer",
                "vendor": "Lumen Co",
                "version": "1.0.0",
                "sdk_version": "1.0",
                "entry": "service:Dimmer",
                "category": "energy",
                "description": "dims lights",
                "trl": 7,
                "hardware": [{"module": "sensor", "units": 4, "capex_krw": 100_000, "slots": 1, "power_w": 5}],
            }
        )
    )
    store = Store(tmp_path / "store")
    base_sv = [{"use": "builtin:cctv_monitoring"}]
    cand_sv = [*base_sv, {"use": str(plugin), "name": "dimmer"}, {"use": "builtin:streetlights"}]

    def put(label: str, seed: int, services: list, meta: dict, kwh: float) -> str:
        rid = f"{label}-{seed}-{uuid.uuid4().hex[:6]}"
        resolved = {"name": label, "district": str(tiny_district), "duration": "2h", "services": services}
        store.put(
            RunResult(
                run_id=rid,
                scenario=label,
                district="tiny",
                seed=seed,
                status="ok",
                kpis={KWH: kwh},
                services=meta,
                timeseries=pd.DataFrame({"t": [0.0], "metric": [KWH], "value": [kwh]}),
                events=pd.DataFrame({"t": [0.0], "kind": ["x"], "subject": ["y"], "detail": ["{}"]}),
                spatial=pd.DataFrame({"metric": [KWH], "x": [1.0], "y": [1.0], "value": [1.0]}),
                provenance={"scenario_digest": f"d-{label}", "scenario_resolved": resolved},
            )
        )
        return rid

    ok = {"status": "ok", "error": None, "rejected_actions": 0}
    meta = {"dimmer": ok | {"installed": ["p1", "p2", "p3", "p4"]}, "streetlights": ok | {"installed": []}}
    groups = {
        "base": [put("base", s, base_sv, {"cctv_monitoring": ok}, 100.0 + s) for s in range(5)],
        "cand": [put("cand", s, cand_sv, meta, 90.0 + s + 0.1 * s * s) for s in range(5)],
    }
    ev, _ = evaluate_runs(store, groups, load_unit_values(), EconomicsInputs(), assumptions_check=False)
    infra = next(c for c in ev.scorecard.criteria if c.name == "infrastructure")
    assert "installs: 4 of 4 accepted" in infra.details  # on main: 2 of 4 (the built-in's 0 averaged in)


# --------------------------------------------------------------------------- 6. the chain
def test_the_recommendation_is_a_chain_from_effect_to_verdict():
    t = table_from_pairs({KWH: ([100.0] * 5, [90.0, 90.5, 89.5, 90.2, 89.8])})
    ev = evaluate(t, COSTS, load_unit_values(), inputs())
    steps = [s["step"] for s in ev.chain]
    assert steps == [
        "KPI effect (95% CI)",
        "money (90% range)",
        "criterion scores",
        "weighted score",
        "gates",
        "verdict",
    ]
    effect, money, scores, weighted, gates, final = (s["lines"] for s in ev.chain)
    assert effect[0].startswith(f"{KWH}: -10 kWh a run, 95% CI [") and effect[0].endswith("better (5 pairs)")
    assert money[0].startswith(f"{KWH} → kwh: expected KRW ") and "90% range" in money[0]
    assert any(line.startswith("economics: ") for line in scores)
    assert weighted[0].endswith(f"= {ev.recommendation.total:.1f}")
    assert any("TRL 8 ≥ 7" in g and g.startswith("✓") for g in gates)
    assert final[0].startswith(ev.recommendation.label + ": ")
    doc = ev.to_dict()
    json.dumps(doc, allow_nan=False)
    assert doc["chain"] == list(ev.chain) and doc["tornado"] and "flips" in doc
    html = decision_html(doc)
    assert "How the recommendation follows from the evidence" in html and "What drives the verdict" in html
    assert "<svg" in html and "<script" not in html and "http" not in html
