"""Economics: finance pinned to hand-computed cases, Monte-Carlo determinism, unit values, scale-up."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from simulation.decision.economics import (
    DEFAULT_UNIT_VALUES,
    DecideError,
    DistrictFigures,
    ServiceCosts,
    annuity_factor,
    bcr,
    candidate_rows,
    economics,
    inputs,
    load_unit_values,
    npv,
    payback_years,
    scale_up,
)


def row(kpi, unit, better, base, cand, lo=None, hi=None, n=5, candidate="cand"):
    """One comparison-table row; the CI defaults to ±10% of the difference."""
    d = cand - base
    lo = d - abs(d) * 0.1 if lo is None else lo
    hi = d + abs(d) * 0.1 if hi is None else hi
    return {
        "kpi": kpi,
        "unit": unit,
        "better": better,
        "baseline": "base",
        "candidate": candidate,
        "baseline_mean": base,
        "candidate_mean": cand,
        "diff_mean": d,
        "ci_low": lo,
        "ci_high": hi,
        "n_pairs": n,
        "significant": bool(lo > 0 or hi < 0),
        "verdict": "",
    }


def unit_values_file(tmp_path: Path, **changes) -> Path:
    """The shipped unit values with ``changes`` applied to ``values`` (or top-level keys)."""
    data = yaml.safe_load(DEFAULT_UNIT_VALUES.read_text())
    for k, v in changes.items():
        if k in data["values"]:
            data["values"][k] = data["values"][k] | v
        else:
            data[k] = v
    p = tmp_path / "uv.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True))
    return p


@pytest.fixture
def uv(tmp_path):
    """Unit values with a kWh worth exactly KRW 100 (low 50, high 150)."""
    return load_unit_values(unit_values_file(tmp_path, kwh={"low": 50, "central": 100, "high": 150}))


COSTS = ServiceCosts.from_manifest(
    {
        "name": "cand",
        "trl": 7,
        "hardware": [
            {"module": "sensor", "units": 1, "capex_krw": 800_000, "install_krw": 200_000, "power_w": 5, "slots": 1}
        ],
        "pricing": {"opex_krw_per_month": 10_000},
    }
)


def kwh_table(saving=100.0, lo=None, hi=None, n=5):
    return pd.DataFrame([row("energy.total_kwh", "kWh", "lower", 1000.0, 1000.0 - saving, lo, hi, n)])


# --------------------------------------------------------------------------- finance by hand
def test_npv_matches_hand_computation():
    # 300 a year for 5 years at 10%: annuity factor (1 - 1.1**-5) / 0.1 = 3.790787
    assert npv(1000, 300, 0.10, 5) == pytest.approx(-1000 + 300 * 3.790786769, abs=1e-6)


def test_npv_at_zero_discount_is_plain_sum():
    assert npv(1000, 300, 0.0, 5) == 500
    assert annuity_factor(0.0, 7) == 7


def test_discounted_payback_interpolates_within_the_year():
    # cumulative discounted: 272.73, 520.66, 746.06, 950.96 after year 4; year 5 adds 186.28
    assert payback_years(1000, 300, 0.10, 5) == pytest.approx(4 + (1000 - 950.9603) / 186.2764, abs=1e-4)


def test_payback_beyond_horizon_is_none():
    assert payback_years(1000, 100, 0.10, 5) is None


def test_bcr_and_no_costs():
    assert bcr(1500, 1000) == 1.5
    assert bcr(10, 0) is None


def test_economics_of_a_hand_computed_case(uv):
    # 100 kWh saved a day × KRW 100 × 365 = 3.65 M a year; capex 1 M; opex 120 k a year.
    e = economics(candidate_rows(kwh_table()), COSTS, uv, inputs(horizon_years=5, discount_rate=0.10))
    af = 3.790786769
    assert e.capex == 1_000_000
    assert e.opex_per_year == 120_000
    assert e.benefit_per_year == pytest.approx(3_650_000)
    assert e.npv == pytest.approx(-1_000_000 + (3_650_000 - 120_000) * af, rel=1e-9)
    assert e.bcr == pytest.approx(3_650_000 * af / (1_000_000 + 120_000 * af), rel=1e-9)
    assert e.payback_years == pytest.approx(1_000_000 / (3_530_000 / 1.1), rel=1e-9)


def test_a_six_hour_run_is_annualised_four_times(uv):
    day = economics(candidate_rows(kwh_table()), COSTS, uv, inputs())
    quarter = economics(candidate_rows(kwh_table()), COSTS, uv, inputs(run_hours=6))
    assert quarter.benefit_per_year == pytest.approx(4 * day.benefit_per_year)


def test_working_days_per_year_scale_benefit(uv):
    e = economics(candidate_rows(kwh_table()), COSTS, uv, inputs(days_per_year=250))
    assert e.benefit_per_year == pytest.approx(100 * 100 * 250)


def test_mean_per_incident_is_multiplied_by_incidents(uv):
    # 60 s faster on each of 10 incidents a day = 10 incident-minutes × KRW 86,667, the mean of the
    # triangular (10,000, 50,000, 200,000): the expected value, never the central one.
    t = pd.DataFrame(
        [
            row("safety.time_to_respond_s", "s", "lower", 600, 540),
            row("safety.incidents", "incidents", "none", 10, 10, 0, 0),
        ]
    )
    e = economics(candidate_rows(t), ServiceCosts("x"), uv, inputs(days_per_year=1))
    line = next(ln for ln in e.lines if ln.kpi == "safety.time_to_respond_s")
    assert line.quantity_per_year == pytest.approx(10.0)
    assert line.krw_per_year == pytest.approx(10 * (10_000 + 50_000 + 200_000) / 3)


def test_per_request_revenue_comes_from_a_logistics_count(uv):
    t = pd.DataFrame(
        [row("logistics.deliveries_completed", "deliveries", "higher", 0, 40), *kwh_table().to_dict("records")]
    )
    costs = ServiceCosts.from_manifest(
        {"name": "d", "pricing": {"revenue_krw_per_request": 3000, "subscription_krw_per_month": 1000}}
    )
    e = economics(candidate_rows(t), costs, uv, inputs(days_per_year=100))
    assert e.requests_per_run == 40
    assert e.revenue_per_year == pytest.approx(40 * 3000 * 100 + 12 * 1000)


def test_per_request_revenue_without_a_count_is_zero_with_a_note(uv):
    costs = ServiceCosts.from_manifest({"name": "d", "pricing": {"revenue_krw_per_request": 3000}})
    e = economics(candidate_rows(kwh_table()), costs, uv, inputs())
    assert e.revenue_per_year == 0
    assert "no completed-request count" in e.requests_source


def test_missing_kpis_are_skipped_with_a_note(uv):
    e = economics(candidate_rows(kwh_table()), COSTS, uv, inputs())
    assert any("vehicle_km" in n and "not in this comparison" in n for n in e.notes)


def test_capex_above_the_testbed_cap_is_noted(uv):
    big = ServiceCosts.from_manifest({"name": "b", "hardware": [{"module": "sensor", "units": 600, "capex_krw": 1e6}]})
    assert any("Testbed Seoul" in n for n in economics(candidate_rows(kwh_table()), big, uv, inputs()).notes)


# --------------------------------------------------------------------------- Monte-Carlo
def test_monte_carlo_is_deterministic_for_a_seed(uv):
    t = candidate_rows(kwh_table(saving=5, lo=-20, hi=30))
    a = economics(t, COSTS, uv, inputs(seed=3))
    b = economics(t, COSTS, uv, inputs(seed=3))
    c = economics(t, COSTS, uv, inputs(seed=4))
    assert (a.p_npv_positive, a.npv_p05, a.npv_p95) == (b.p_npv_positive, b.npv_p05, b.npv_p95)
    assert a.npv_p05 != c.npv_p05


def test_an_uncertain_saving_gives_an_uncertain_npv(uv):
    e = economics(candidate_rows(kwh_table(saving=5, lo=-20, hi=30)), ServiceCosts("x"), uv, inputs(draws=5000))
    assert 0.3 < e.p_npv_positive < 0.8
    assert e.npv_p05 < 0 < e.npv_p95


def test_a_clear_saving_is_almost_surely_positive(uv):
    e = economics(candidate_rows(kwh_table(saving=100, lo=95, hi=105)), ServiceCosts("x"), uv, inputs())
    assert e.p_npv_positive == 1.0
    assert e.npv_p05 <= e.npv_p50 <= e.npv_p95


def test_unit_value_range_widens_the_npv_range(tmp_path):
    narrow = load_unit_values(unit_values_file(tmp_path, kwh={"low": 99, "central": 100, "high": 101}))
    wide = load_unit_values(unit_values_file(tmp_path, kwh={"low": 10, "central": 100, "high": 400}))
    t = candidate_rows(kwh_table(saving=100, lo=99.99, hi=100.01))
    a, b = economics(t, COSTS, narrow, inputs()), economics(t, COSTS, wide, inputs())
    assert b.npv_p95 - b.npv_p05 > 10 * (a.npv_p95 - a.npv_p05)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("horizon_years", 0, "horizon must be from 1 to 30 years; got 0"),
        ("horizon_years", 31, "horizon must be from 1 to 30 years; got 31"),
        ("discount_rate", 0.25, r"discount rate must be from 0 to 0.20 \(0-20% a year\); got 0.25"),
        ("discount_rate", -0.01, "discount rate must be from 0 to 0.20"),
        ("days_per_year", 0, "days per year must be from 1 to 366"),
        ("draws", 10, "draws must be from 100 to 100,000"),
    ],
)
def test_inputs_out_of_range_are_refused(key, value, message):
    with pytest.raises(DecideError, match=f"at {key}: {message}"):
        inputs(**{key: value})


def test_fewer_than_two_pairs_cannot_give_an_interval():
    with pytest.raises(
        DecideError, match=r"at n_pairs: a confidence interval needs at least 2 paired replications.*got 1"
    ):
        candidate_rows(kwh_table(n=1))


def test_a_table_without_the_contract_columns_is_refused():
    with pytest.raises(DecideError, match="lacks columns; got \\['ci_low'"):
        candidate_rows(kwh_table().drop(columns=["ci_low"]))


def test_an_unknown_candidate_is_refused():
    with pytest.raises(DecideError, match="no such candidate in the comparison; got 'other'; allowed: cand"):
        candidate_rows(kwh_table(), "other")


def test_two_candidates_need_a_name():
    t = pd.concat([kwh_table(), kwh_table().assign(candidate="b")])
    with pytest.raises(DecideError, match=r"name the candidate to evaluate.*allowed: b, cand"):
        candidate_rows(t)


def test_unknown_requests_kpi_is_refused(uv):
    with pytest.raises(DecideError, match=r"at requests_kpi: no such KPI in the comparison; got 'logistics.x'"):
        economics(candidate_rows(kwh_table()), COSTS, uv, inputs(requests_kpi="logistics.x"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kwh": {"low": 300}}, r"at values.kwh: needs low <= central <= high; got low=300"),
        ({"kwh": {"colour": "red"}}, r"at values.kwh: unknown key 'colour'; allowed keys: central, description"),
        ({"kwh": {"source": ""}}, r"at values.kwh.source: String should have at least 1 character"),
        ({"kwh": {"central": "lots"}}, r"at values.kwh.central: Input should be a valid number"),
        (
            {"kwh": {"kpis": [{"kpi": "connectivity.sessions_served_pct"}]}},
            "KPI 'connectivity.sessions_served_pct' is valued twice",
        ),
        (
            {"kwh": {"kpis": [{"kpi": "safety.incidents"}]}},
            r"at values.kwh.kpis\[0\].kpi: a context KPI .* got 'safety.incidents'",
        ),
        ({"kwh": {"scales_with": "weather"}}, r"at values.kwh.scales_with: Input should be 'people'"),
        ({"costs": {}}, "costs needs 'spole_conversion'"),
    ],
)
def test_bad_unit_values_are_named_by_file_and_key(tmp_path, changes, message):
    p = unit_values_file(tmp_path, **changes)
    with pytest.raises(DecideError, match=message) as exc:
        load_unit_values(p)
    assert str(p) in str(exc.value)


def test_unit_values_file_not_found(tmp_path):
    with pytest.raises(DecideError, match=r"nope.yaml: file not found"):
        load_unit_values(tmp_path / "nope.yaml")


def test_unit_values_not_yaml(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("values: [unclosed\n")
    with pytest.raises(DecideError, match="not valid YAML"):
        load_unit_values(p)


def test_unit_values_not_a_mapping(tmp_path):
    p = tmp_path / "list.yaml"
    p.write_text("- 1\n- 2\n")
    with pytest.raises(DecideError, match=r"must be a mapping with keys values, costs.*got 'list'"):
        load_unit_values(p)


def test_shipped_unit_values_state_a_source_for_every_value():
    uv = load_unit_values()
    assert all(v.source for v in uv.values.values())
    assert uv.costs["spole_conversion"].central > 0


# --------------------------------------------------------------------------- scale-up
PILOT = DistrictFigures(
    "pilot",
    residents=600,
    jobs=400,
    poles=100,
    spoles=100,
    area_km2=1.0,
    built_area_km2=0.8,
    hostable={"sensor": 0.5, "drone_dock": 0.01},
)
PEER = DistrictFigures("peer", residents=2000, jobs=1000, poles=200, spoles=200, area_km2=2.0, built_area_km2=1.5)


def test_scale_up_follows_district_figures_not_a_flat_factor(uv):
    costs = ServiceCosts.from_manifest(
        {"name": "s", "hardware": [{"module": "sensor", "units": 10, "capex_krw": 1000}]}
    )
    t = candidate_rows(kwh_table())
    e = economics(t, costs, uv, inputs())
    rows = {r.scope: r for r in scale_up(PILOT, [PEER], costs, e, uv, inputs())}
    r15 = rows["15 pilot districts (2025)"]
    assert r15.poles == 100 + 14 * 200
    assert r15.hardware_units == 10 * 29  # sensors follow poles
    assert r15.poles_to_convert == 0  # half of 2,900 poles have room
    assert r15.benefit_per_year == pytest.approx(e.benefit_per_year * 29)  # kWh scales with poles
    assert r15.budget_line.startswith("1-4.")
    city = rows["city-wide (Seoul)"]
    assert city.hardware_units == 24_000  # 240,000 poles
    assert city.poles_to_convert == math.ceil(24_000 - 0.5 * 621)
    assert city.conversion_years == pytest.approx(city.poles_to_convert / 3600)
    assert city.conversion_capex == city.poles_to_convert * 4_000_000


def test_docks_scale_with_area_and_need_poles_with_room(uv):
    costs = ServiceCosts.from_manifest(
        {"name": "d", "hardware": [{"module": "drone_dock", "units": 4, "capex_krw": 1e6}]}
    )
    e = economics(candidate_rows(kwh_table()), costs, uv, inputs())
    rows = {r.scope: r for r in scale_up(PILOT, [PEER], costs, e, uv, inputs())}
    r2 = rows["2 pilot districts (2022)"]
    assert r2.hardware_units == 4 * 3  # area 1 + 2 km²
    assert r2.poles_to_convert == 12 - 3  # 1% of 300 poles have room for a dock
    assert rows["this pilot district"].poles_to_convert == 4 - 1
    assert rows["city-wide (Seoul)"].hardware_units == 4 * 605


def test_a_per_person_dose_is_multiplied_by_the_people_present(uv):
    # 0.5 µg/m³·h less per person × 2,000 people × KRW 4.83 (mean of 1, 3.5, 10) × 1 day
    t = pd.DataFrame([row("environment.mean_exposure", "µg/m³·h", "lower", 20.0, 19.5)])
    e = economics(candidate_rows(t), ServiceCosts("x"), uv, inputs(days_per_year=1, people_present=2000))
    assert e.benefit_per_year == pytest.approx(0.5 * 2000 * (1 + 3.5 + 10) / 3)
    unknown = economics(candidate_rows(t), ServiceCosts("x"), uv, inputs(days_per_year=1))
    assert unknown.benefit_per_year == 0
    assert any("number of people present is unknown" in n for n in unknown.notes)


def test_completed_requests_are_requests_times_completed_share(uv):
    t = pd.DataFrame(
        [
            row("logistics.requests", "requests", "none", 200, 200, 0, 0),
            row("logistics.completed_pct", "%", "higher", 80, 90),
        ]
    )
    costs = ServiceCosts.from_manifest({"name": "d", "pricing": {"revenue_krw_per_request": 1000}})
    e = economics(candidate_rows(t), costs, uv, inputs(days_per_year=1))
    assert e.requests_per_run == pytest.approx(180)
    assert e.revenue_per_year == pytest.approx(180_000)
