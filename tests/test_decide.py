"""Scorecard, recommendation, weight sensitivity, the decision record, and ``python -m simulation decide``."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import BASE_SERVICES, write_scenario
from test_economics import row, unit_values_file

from simulation.cli.main import main
from simulation.decision.economics import DecideError, DistrictFigures, ServiceCosts, inputs, load_unit_values
from simulation.decision.evaluate import (
    DEFAULT_WEIGHTS,
    Criterion,
    Scorecard,
    check_weights,
    evaluate,
    parse_weights,
    recommend,
    sensitivity,
)
from simulation.decision.record import (
    decision_html,
    list_decisions,
    load_decision,
    make_record,
    save_decision,
)
from simulation.errors import StoreError

PILOT = DistrictFigures("pilot", 600, 400, 100, 100, 1.0, 0.8, {"ai_camera": 0.5})


def manifest(trl=8, units=10, opex=100_000):
    return ServiceCosts.from_manifest(
        {
            "name": "eyes",
            "trl": trl,
            "category": "safety",
            "serves": ["safety.incidents"],
            "hardware": [
                {"module": "ai_camera", "units": units, "capex_krw": 2e6, "install_krw": 5e5, "power_w": 25, "slots": 1}
            ],
            "pricing": {"opex_krw_per_month": opex},
        }
    )


def table(respond=(-60, -80, -40), safety_worse=False, n=5):
    d, lo, hi = respond
    rows = [
        row("safety.time_to_respond_s", "s", "lower", 600, 600 + d, lo, hi, n),
        row("safety.incidents", "incidents", "none", 36, 36, 0, 0, n),
        row("privacy.camera_minutes_viewed", "camera-min", "lower", 5000, 5000, 0, 0, n),
    ]
    if safety_worse:
        rows.append(row("safety.missed", "incidents", "lower", 2, 3, 0.5, 1.5, n))
    return pd.DataFrame(rows)


@pytest.fixture
def uv():
    return load_unit_values()


def run_eval(uv, t=None, costs=None, weights=None, **kw):
    return evaluate(table() if t is None else t, costs or manifest(), uv, inputs(), weights=weights, pilot=PILOT, **kw)


# --------------------------------------------------------------------------- weights
def test_weights_are_normalised_with_a_note():
    w, note = check_weights({k: 2 * v for k, v in DEFAULT_WEIGHTS.items()})
    assert sum(w.values()) == pytest.approx(1)
    assert note == "weights summed to 2; normalised to sum to 1"


def test_default_weights_need_no_note():
    assert check_weights(None)[1] is None


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"economics": -0.1}, "at economics: a weight must not be negative; got -0.1; allowed: numbers >= 0"),
        ({"beauty": 0.5}, "at beauty: unknown criterion; got 'beauty'; allowed: effectiveness, economics"),
        ({"economics": "high"}, "at economics: a weight must be a finite number; got 'high'"),
        ({"economics": float("nan")}, "at economics: a weight must be a finite number; got nan"),
        ({k: 0 for k in DEFAULT_WEIGHTS}, "at least one weight must be > 0"),
    ],
)
def test_bad_weights_are_refused(weights, message):
    with pytest.raises(DecideError, match=message):
        check_weights(weights)


def test_weights_from_pairs_and_from_a_file(tmp_path):
    assert parse_weights("economics=0.5, privacy=0.25") == {"economics": 0.5, "privacy": 0.25}
    p = tmp_path / "w.yaml"
    p.write_text("economics: 0.4\nreadiness: 0.6\n")
    assert parse_weights(str(p)) == {"economics": 0.4, "readiness": 0.6}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("economics", "expected a file or criterion=weight pairs like economics=0.3"),
        ("economics=lots", "at economics: a weight must be a number; got 'lots'"),
    ],
)
def test_bad_weight_specs_are_refused(spec, message):
    with pytest.raises(DecideError, match=message):
        parse_weights(spec)


# --------------------------------------------------------------------------- recommendation
def test_a_ready_profitable_safe_service_is_commercialised(uv):
    ev = run_eval(uv)
    assert ev.recommendation.decision == "commercialise"
    assert any("TRL 8 ≥ 7" in r for r in ev.recommendation.reasons)


def test_below_trl_7_the_pilot_is_extended_because_of_procurement(uv):
    ev = run_eval(uv, costs=manifest(trl=6))
    assert ev.recommendation.decision == "extend_pilot"
    assert "TRL 6 < 7: procurement designates only from TRL 7" in ev.recommendation.reasons


def test_a_significantly_worse_safety_kpi_blocks_commercialisation(uv):
    ev = run_eval(uv, t=table(safety_worse=True))
    assert ev.recommendation.decision == "extend_pilot"
    assert "safety KPI significantly worse: safety.missed" in ev.recommendation.reasons


def test_cheaper_response_minutes_turn_commercialise_into_extend_pilot(uv, tmp_path):
    # a small, uncertain gain: worth it at the shipped values, not when a minute is worth a tenth of that
    t = table(respond=(-3, -6, -0.5))
    assert run_eval(uv, t=t).recommendation.decision == "commercialise"
    cheap = load_unit_values(unit_values_file(tmp_path, response_minute={"low": 1000, "central": 5000, "high": 20000}))
    ev = run_eval(cheap, t=t)
    assert ev.recommendation.decision == "extend_pilot"
    assert any(r.startswith("P(NPV > 0) = ") and "< 0.8" in r for r in ev.recommendation.reasons)


def test_weighting_a_weak_criterion_turns_commercialise_into_extend_pilot(uv):
    # 10 cameras take 10 of the 12 free slots (infrastructure scores 17): weighting that
    # criterion as much as all the others together drags the total under 60.
    costs = manifest(trl=7, units=10)
    from simulation.decision.evaluate import InfraUsage

    heavy = InfraUsage(slots_needed=10, slots_free=12, installs_claimed=10, installs_done=10)
    assert run_eval(uv, costs=costs, infra=heavy).recommendation.decision == "commercialise"
    ev = run_eval(uv, costs=costs, infra=heavy, weights={"infrastructure": 1})
    assert ev.recommendation.decision == "extend_pilot"
    assert any(r.startswith("weighted score") and "< 60" in r for r in ev.recommendation.reasons)


def test_no_effect_and_no_money_means_stop(uv):
    t = table(respond=(0.0, -5, 5))
    ev = run_eval(uv, t=t, costs=manifest(opex=5_000_000))
    assert ev.recommendation.decision == "stop"


def test_a_service_that_fails_in_half_its_runs_is_stopped(uv):
    ev = run_eval(uv, statuses={"ok": 2, "failed": 2})
    assert ev.recommendation.decision == "stop"
    assert "the service failed in 50% of its runs" in ev.recommendation.reasons


def test_reliability_counts_what_is_kept_under_faults(uv):
    clean = run_eval(uv)
    half = run_eval(uv, fault_table=table(respond=(-30, -40, -20)))
    rel = {c.name: c for c in half.scorecard.criteria}["reliability"]
    assert rel.assessed and rel.score == pytest.approx(50)
    assert not {c.name: c for c in clean.scorecard.criteria}["reliability"].assessed


def test_more_camera_minutes_cost_privacy(uv):
    t = table()
    t.loc[t.kpi == "privacy.camera_minutes_viewed", ["candidate_mean", "diff_mean"]] = [6000, 1000]
    score = {c.name: c.score for c in run_eval(uv, t=t).scorecard.criteria}
    assert score["privacy"] == pytest.approx(80 - 20)  # +20% camera-minutes
    assert score["privacy"] < {c.name: c.score for c in run_eval(uv).scorecard.criteria}["privacy"]


# --------------------------------------------------------------------------- sensitivity
def card(name, rest=50.0, **scores):
    scores = dict.fromkeys(DEFAULT_WEIGHTS, rest) | scores
    facts = {"better": ["x"], "worse": [], "worse_safety": [], "p_npv_positive": 0.9, "trl": 8, "failed_share": 0.0}
    return Scorecard(name, tuple(Criterion(k, v, True, "") for k, v in scores.items()), facts)


def test_weight_sensitivity_detects_a_rank_flip():
    a, b = card("A", economics=52, privacy=50), card("B", economics=50, privacy=53.5)
    w, _ = check_weights(None)
    rows = {(r["criterion"], r["factor"]): r for r in sensitivity([a, b], w)}
    assert rows[("privacy", 1.2)]["rank_changed"]
    assert rows[("privacy", 1.2)]["ranking"] == ["B", "A"]
    assert not rows[("economics", 1.2)]["rank_changed"]
    assert not rows[("privacy", 0.8)]["rank_changed"]


def test_sensitivity_shows_a_recommendation_near_its_threshold():
    c = card("A", rest=48, effectiveness=100)  # total 25 + 0.75 × 48 = 61 at default weights
    w, _ = check_weights(None)
    assert recommend(c, w).decision == "commercialise"
    rows = {(r["criterion"], r["factor"]): r for r in sensitivity([c], w)}
    assert rows[("effectiveness", 0.8)]["recommendation_changed"]  # (20 + 36) / 0.95 = 58.9 < 60
    assert not rows[("effectiveness", 1.2)]["recommendation_changed"]


# --------------------------------------------------------------------------- decision record
RUNS = {"baseline": ["b1", "b2"], "candidate": ["c1", "c2"]}


def test_a_decision_round_trips_exactly(uv, tmp_path):
    rec = make_record(run_eval(uv), scenario="cand", baseline="base", run_ids=RUNS, accept=True, note="fine")
    path = save_decision(tmp_path, rec)
    assert path == tmp_path / "decisions" / f"{rec.id}.json"
    assert load_decision(tmp_path, rec.id) == rec
    assert [r.id for r in list_decisions(tmp_path)] == [rec.id]
    assert not list((tmp_path / "decisions").glob(".tmp-*"))


def test_an_override_records_the_evaluators_decision(uv, tmp_path):
    rec = make_record(
        run_eval(uv),
        scenario="c",
        baseline="b",
        run_ids=RUNS,
        accept=False,
        override="extend-pilot",
        note="wait for the winter data",
    )
    save_decision(tmp_path, rec)
    back = load_decision(tmp_path, rec.id)
    assert (back.recommendation, back.decision, back.accepted) == ("commercialise", "extend_pilot", False)
    assert back.evaluation["weights"] == pytest.approx(dict(check_weights(None)[0]))
    assert back.unit_values == uv.model_dump(mode="json", exclude={"source"})


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"accept": False, "override": "stop", "note": " "}, "--note: an override needs a note saying why"),
        (
            {"accept": False, "override": "sell", "note": "x"},
            "--override: unknown decision; got 'sell'; allowed: commercialise",
        ),
        ({"accept": True, "override": "stop", "note": "x"}, "either accept the recommendation or override it"),
        ({"accept": False}, "either accept the recommendation or override it"),
    ],
)
def test_bad_decisions_are_refused(uv, kw, message):
    with pytest.raises(DecideError, match=message):
        make_record(run_eval(uv), scenario="c", baseline="b", run_ids=RUNS, **kw)


def test_reopening_an_unknown_decision_names_the_latest(uv, tmp_path):
    rec = make_record(run_eval(uv), scenario="c", baseline="b", run_ids=RUNS, accept=True)
    save_decision(tmp_path, rec)
    with pytest.raises(StoreError, match=f"no decision 'nope'; latest decisions: {rec.id}"):
        load_decision(tmp_path, "nope")


def test_a_damaged_record_is_reported_not_guessed(tmp_path):
    (tmp_path / "decisions").mkdir()
    (tmp_path / "decisions" / "x.json").write_text("{not json")
    with pytest.raises(StoreError, match=r"x\.json: not a readable decision record"):
        load_decision(tmp_path, "x")


def test_a_decision_is_written_once(uv, tmp_path):
    rec = make_record(run_eval(uv), scenario="c", baseline="b", run_ids=RUNS, accept=True)
    save_decision(tmp_path, rec)
    with pytest.raises(StoreError, match="exists already"):
        save_decision(tmp_path, rec)


def test_the_report_section_is_self_contained_and_escaped(uv):
    ev = run_eval(uv)
    rec = make_record(
        ev, scenario="c", baseline="b", run_ids=RUNS, accept=False, override="stop", note="<b>too dear</b>"
    )
    html = decision_html(rec.evaluation, rec)
    assert "Recommendation: commercialise" in html
    assert "&lt;b&gt;too dear&lt;/b&gt;" in html
    assert "<script" not in html and "http" not in html


# --------------------------------------------------------------------------- the command
@pytest.fixture
def pair(tiny_district: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A 4-hour evening baseline and a candidate that dims streetlights to 60%, 2 replications each."""
    common = {
        "district": str(tiny_district),
        "start": "2026-05-12T18:00",
        "duration": "4h",
        "seed": 1,
        "replications": 2,
    }
    base = write_scenario(tmp_path, "base", common | {"services": BASE_SERVICES})
    dim = [*BASE_SERVICES[:2], {"use": "builtin:streetlights", "params": {"night_level": 0.6}}]
    cand = write_scenario(tmp_path, "dim", common | {"services": dim})
    return base, cand


def plugin_yaml(tmp_path: Path, trl: int = 7) -> Path:
    p = tmp_path / "dimmer" / "plugin.yaml"
    p.parent.mkdir()
    p.write_text(
        yaml.safe_dump(
            {
                "name": "dimmer",
                "vendor": "Lumen Co",
                "version": "1.0.0",
                "sdk_version": "1.0",
                "entry": "service:Dimmer",
                "category": "energy",
                "description": "dims lights",
                "trl": trl,
                "hardware": [
                    {
                        "module": "sensor",
                        "units": 3,
                        "capex_krw": 100_000,
                        "install_krw": 20_000,
                        "power_w": 5,
                        "slots": 1,
                    }
                ],
                "pricing": {"opex_krw_per_month": 1000},
            }
        )
    )
    return p


def test_decide_prints_json_and_records_an_accepted_decision(pair, tmp_path, capsys):
    base, cand = pair
    store = tmp_path / "store"
    code = main(
        [
            "decide",
            str(cand),
            "--baseline",
            str(base),
            "--store",
            str(store),
            "--no-faults",
            "-q",
            "--replications",
            "5",
            "--manifest",
            str(plugin_yaml(tmp_path)),
            "--json",
            "--accept",
            "--note",
            "ok",
            "--html",
            str(tmp_path / "report.html"),
        ]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    report = (tmp_path / "report.html").read_text()
    assert "Scorecard and recommendation: dim" in report and doc["decision"]["id"] in report
    assert doc["economics"]["capex"] == 3 * 120_000
    assert any(ln["kpi"] == "energy.total_kwh" and ln["significant"] for ln in doc["economics"]["lines"])
    assert doc["recommendation"]["decision"] in ("commercialise", "extend_pilot", "stop")
    rec = load_decision(store, doc["decision"]["id"])
    assert rec.run_ids == doc["run_ids"]
    assert all(len(v) == 5 for v in rec.run_ids.values())
    assert doc["chain"][0]["step"] == "KPI effect (95% CI)" and doc["tornado"]
    assert {b["key"] for b in doc["tornado"]} >= {"capex", "discount_rate", "days_per_year", "unit_value:kwh"}
    assert main(["decide", "--list", "--store", str(store), "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [rec.id]
    # the same evidence as tables (runs reused): the chain, the money's sources and the tornado in words
    args = ["decide", str(cand), "--baseline", str(base), "--store", str(store), "--no-faults", "-q", "-r", "5"]
    assert main([*args, "--manifest", str(tmp_path / "dimmer" / "plugin.yaml")]) == 0
    text = capsys.readouterr().out
    for part in (
        "How the recommendation follows",
        "KPI effect (95% CI)",
        "where the money comes from",
        "capex: 3 × sensor at KRW 100,000 + KRW 20,000 installation (manifest hardware)",
        "What drives the verdict",
        "Recommendation:",
    ):
        assert part in text, part
    assert main(["decide", "--show", rec.id, "--store", str(store), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(rec.model_dump_json())


def test_decide_runs_fault_variants_for_reliability(pair, tmp_path, capsys):
    base, cand = pair
    assert main(["decide", str(cand), "--baseline", str(base), "--store", str(tmp_path / "s"), "-q", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rel = next(c for c in doc["scorecard"] if c["name"] == "reliability")
    assert rel["assessed"]
    assert set(doc["run_ids"]) == {"baseline", "candidate", "baseline_faults", "candidate_faults"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--horizon", "40"], "at horizon_years: horizon must be from 1 to 30 years; got 40"),
        (["--discount", "30%"], "at discount_rate: discount rate must be from 0 to 0.20"),
        (["--discount", "cheap"], "--discount: not a number; got 'cheap'"),
        (["--replications", "1"], "at replications: a confidence interval needs at least 2 paired replications; got 1"),
        (["--weights", "economics=-1"], "at economics: a weight must not be negative"),
        (["--unit-values", "missing.yaml"], "missing.yaml: file not found"),
        (["--override", "stop"], "--note: an override needs a note saying why"),
    ],
)
def test_decide_bad_input_exits_2_with_a_message(pair, tmp_path, capsys, extra, message):
    base, cand = pair
    code = main(
        ["decide", str(cand), "--baseline", str(base), "--store", str(tmp_path / "s"), "-q", "--no-faults", *extra]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_decide_needs_a_baseline(capsys):
    assert main(["decide", "x.yaml"]) == 2
    assert "needs a candidate SCENARIO and --baseline BASELINE" in capsys.readouterr().err


# --------------------------------------------------------------------------- the Decide page
def test_decide_page_evaluates_stored_runs_and_records_a_decision(pair, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    base, cand = pair
    store = tmp_path / "store"
    assert main(["decide", str(cand), "--baseline", str(base), "--store", str(store), "-q", "--no-faults"]) == 0
    monkeypatch.setenv("PILOT_STORE", str(store))
    at = AppTest.from_string("from webapp.decide import page\npage()", default_timeout=60).run()
    assert not at.exception
    assert any("Recommendation:" in m.value for m in at.markdown)
    at.text_area[0].input("dimming is enough")
    at.radio[0].set_value("extend_pilot")
    at.button[0].click().run()
    assert not at.exception
    assert any("recorded" in s.value for s in at.success)
    (rec,) = list_decisions(store)
    assert (rec.decision, rec.note) == ("extend_pilot", "dimming is enough")


def test_decide_page_defaults_follow_extends(tmp_path, monkeypatch):
    from webapp.decide import default_pair, lineage

    folder = tmp_path / "sc"
    folder.mkdir()
    (folder / "city.yaml").write_text("name: city\ndistrict: x\n")
    (folder / "rain.yaml").write_text("extends: city.yaml\nname: rain\nevents: []\n")
    (folder / "acme.yaml").write_text("extends: city.yaml\nname: acme\nservices:\n  - use: plugins/acme\n")
    monkeypatch.setenv("PILOT_SCENARIOS", str(folder))
    tree = lineage()
    assert tree["acme"] == ("city", True) and tree["rain"] == ("city", False) and tree["city"] == (None, False)
    # the store lists newest first; the candidate is the scenario that adds a service, the baseline what it extends
    assert default_pair(["acme", "rain", "city"], tree) == ("city", ["acme"])
    assert default_pair(["rain", "city", "acme"], tree) == ("city", ["acme"])
    assert default_pair(["rain", "city"], tree) == ("rain", ["city"])  # nothing adds a service: first two
