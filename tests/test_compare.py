"""Paired comparison: pairing by seed, the paired-t interval, verdicts, errors, CLI and report."""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path

import pandas as pd
import pytest
from conftest import BASE_SERVICES, write_scenario

from simulation.cli.main import main
from simulation.errors import SandboxError, StoreError
from simulation.results.compare import (
    TABLE_COLUMNS,
    compare,
    hourly_means,
    latest_runs,
    paired_t,
    run_index,
    scenario_groups,
    spatial_means,
)
from simulation.results.report import kpi_table_html, render_report
from simulation.results.run import RunResult
from simulation.results.store import Store

RESPOND = "safety.time_to_respond_s"  # better = lower
SERVED = "connectivity.sessions_served_pct"  # better = higher
INCIDENTS = "safety.incidents"  # better = none


def put(
    store: Store,
    scenario: str,
    seed: int,
    kpis: dict[str, float],
    status: str = "ok",
    district: str = "tiny",
    error: str | None = None,
    variant: str = "a",
    services: dict | None = None,
    spatial: pd.DataFrame | None = None,
) -> str:
    """Store a hand-made run (no simulation) and return its id."""
    rid = f"{scenario}-{seed}-{uuid.uuid4().hex[:6]}"
    resolved = {
        "name": scenario,
        "district": district,
        "start": "2026-05-12T16:00:00",
        "duration": "2h",
        "seed": seed,
        "replications": 4,
        "variant": variant,
    }
    store.put(
        RunResult(
            run_id=rid,
            scenario=scenario,
            district=district,
            seed=seed,
            status=status,
            kpis=kpis,
            error=error,
            services=services or {"cctv": {"status": "ok", "error": None, "rejected_actions": 0}},
            timeseries=pd.DataFrame(
                {"t": [0.0, 3600.0], "metric": [RESPOND, RESPOND], "value": [kpis.get(RESPOND, 0.0)] * 2}
            ),
            events=pd.DataFrame({"t": [0.0], "kind": ["x"], "subject": ["y"], "detail": ["{}"]}),
            spatial=pd.DataFrame(
                {
                    "metric": [SERVED, SERVED],
                    "x": [50.0, 150.0],
                    "y": [50.0, 50.0],
                    "value": [kpis.get(SERVED, 0.0), 10.0],
                }
            )
            if spatial is None
            else spatial,
            provenance={"scenario_digest": f"dig-{scenario}-{variant}", "scenario_resolved": resolved},
        )
    )
    return rid


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


def two_groups(store: Store, base: list[float], cand: list[float], kpi: str = RESPOND, seeds: list[int] | None = None):
    seeds = seeds or list(range(1, len(base) + 1))
    b = [put(store, "base", s, {kpi: v}) for s, v in zip(seeds, base, strict=True)]
    c = [put(store, "cand", s, {kpi: v}) for s, v in zip(seeds, cand, strict=True)]
    return {"base": b, "cand": c}


# --------------------------------------------------------------------------- statistics
def test_paired_t_matches_a_hand_computed_interval():
    # d = 1, 2, 3, 4: mean 2.5, sd 1.29099, se 0.645497, t(0.975, 3) = 3.182446 -> half-width 2.054260
    mean, low, high = paired_t([1.0, 2.0, 3.0, 4.0])
    assert mean == pytest.approx(2.5)
    assert low == pytest.approx(2.5 - 2.054260, abs=1e-6)
    assert high == pytest.approx(2.5 + 2.054260, abs=1e-6)


def test_paired_t_needs_two_differences():
    mean, low, high = paired_t([3.0])
    assert mean == 3.0 and math.isnan(low) and math.isnan(high)


def test_compare_uses_differences_of_pairs_not_of_means(store):
    # Baselines vary a lot between seeds, the paired change is steady: the paired CI is narrow.
    groups = two_groups(store, [100.0, 300.0, 500.0, 700.0, 900.0], [99.0, 298.0, 497.0, 696.0, 895.0])
    row = compare(store, groups).table.iloc[0]
    assert list(row[["baseline_mean", "candidate_mean", "diff_mean"]]) == pytest.approx([500.0, 497.0, -3.0])
    # d = -1..-5: sd 1.581139, se 0.707107, t(0.975, 4) = 2.776445 -> half-width 1.963243
    assert (row.ci_low, row.ci_high) == pytest.approx((-3.0 - 1.963243, -3.0 + 1.963243), abs=1e-6)
    assert row.n_pairs == 5 and bool(row.significant) and row.verdict == "better"


def test_runs_pair_by_seed_whatever_order_they_are_given_in(store):
    groups = two_groups(store, [10.0, 20.0, 30.0], [11.0, 22.0, 33.0])
    shuffled = {"base": groups["base"], "cand": groups["cand"][::-1]}
    assert compare(store, shuffled).table.iloc[0].diff_mean == pytest.approx(2.0)


def test_table_has_exactly_the_contracted_columns(store):
    table = compare(store, two_groups(store, [1.0, 2.0], [1.0, 2.0])).table
    assert tuple(table.columns) == TABLE_COLUMNS
    assert table["significant"].dtype == bool and table["n_pairs"].dtype.kind == "i"


# --------------------------------------------------------------------------- verdicts
@pytest.mark.parametrize(
    ("kpi", "base", "cand", "verdict"),
    [
        (RESPOND, [300.0, 310.0, 320.0, 330.0, 340.0], [250.0, 262.0, 268.0, 281.0, 289.0], "better"),  # it fell
        (RESPOND, [300.0, 310.0, 320.0, 330.0, 340.0], [350.0, 362.0, 368.0, 381.0, 389.0], "worse"),
        (SERVED, [50.0, 60.0, 70.0, 80.0, 90.0], [40.0, 49.0, 61.0, 70.0, 79.0], "worse"),  # higher is better, it fell
        (SERVED, [50.0, 60.0, 70.0, 80.0, 90.0], [55.0, 66.0, 74.0, 86.0, 95.0], "better"),
        (SERVED, [50.0, 60.0, 70.0, 80.0, 90.0], [51.0, 59.0, 70.5, 79.0, 91.0], "no significant change"),
        (INCIDENTS, [5.0, 6.0, 7.0, 8.0, 9.0], [8.0, 9.0, 10.0, 11.5, 12.0], "n/a"),  # changed, but no direction
        # common random numbers: exactly 0
        (SERVED, [50.0, 60.0, 70.0, 80.0, 90.0], [50.0, 60.0, 70.0, 80.0, 90.0], "no significant change"),
        # the same +1 in every one of 5 pairs: a real, deterministic change
        (SERVED, [50.0, 60.0, 70.0, 80.0, 90.0], [51.0, 61.0, 71.0, 81.0, 91.0], "better"),
        # too few pairs: no verdict however clear the change looks
        (SERVED, [50.0, 60.0, 70.0], [55.0, 66.0, 74.0], "too few pairs"),
    ],
)
def test_verdict_follows_the_kpi_direction(store, kpi, base, cand, verdict):
    row = compare(store, two_groups(store, base, cand, kpi=kpi)).table.iloc[0]
    assert row.verdict == verdict
    assert bool(row.significant) == (verdict in ("better", "worse") or kpi == INCIDENTS)


def test_two_identical_pairs_are_too_few_pairs_not_significance(store):
    # On main this was "worse" with CI [1.00, 1.00]: a zero-width interval from 2 pairs.
    row = compare(store, two_groups(store, [3.0, 5.0], [4.0, 6.0], kpi="safety.missed")).table.iloc[0]
    assert (row.ci_low, row.ci_high) == (1.0, 1.0)
    assert row.verdict == "too few pairs" and not bool(row.significant)
    cmp = compare(store, two_groups(store, [3.0, 5.0], [4.0, 6.0], kpi="safety.missed"))
    assert "too few for a verdict (at least 5 are needed)" in cmp.caption()
    assert "too few for a verdict" in kpi_table_html(cmp)


def test_holm_correction_and_the_chance_findings_caption(store):
    seeds = [1, 2, 3, 4, 5]
    missed = "safety.missed"
    base = [put(store, "base", s, {missed: 3.0, SERVED: 50.0 + s}) for s in seeds]
    # SERVED a marginal rise (raw p just under 0.05); missed unchanged (p = 1)
    cand = [
        put(store, "cand", s, {missed: 3.0, SERVED: 50.0 + s + d})
        for s, d in zip(seeds, [1, 0, 2, 1, 0.6], strict=True)
    ]
    raw = compare(store, {"base": base, "cand": cand})
    r = raw.table.set_index("kpi")
    assert 0.04 < r.loc[SERVED, "p_value"] < 0.05 and r.loc[SERVED, "verdict"] == "better"
    assert "2 KPIs tested at 5% on 5 pairs; no multiple-comparison correction, so about 0.1 of them" in raw.caption()
    holm = compare(store, {"base": base, "cand": cand}, correction="holm")
    h = holm.table.set_index("kpi")
    assert h.loc[SERVED, "p_adjusted"] == pytest.approx(2 * r.loc[SERVED, "p_value"])  # smallest of 2: × 2
    assert h.loc[missed, "p_adjusted"] == 1.0
    assert h.loc[SERVED, "verdict"] == "no significant change" and not h.loc[SERVED, "significant"]
    assert "Holm-corrected across the KPIs, so at most 0.1" in holm.caption()
    with pytest.raises(SandboxError, match="unknown multiple-comparison correction 'bonf'; allowed: none, holm"):
        compare(store, {"base": base, "cand": cand}, correction="bonf")


def test_a_kpi_without_value_in_a_run_is_left_out_of_that_pair(store):
    groups = two_groups(store, [300.0, math.nan, 320.0, 330.0], [250.0, 260.0, 270.0, 280.0])
    row = compare(store, groups).table.iloc[0]
    assert row.n_pairs == 3
    assert row.candidate_mean == pytest.approx(265.0)  # each side averages its own values
    assert row.diff_mean == pytest.approx(-50.0)


# --------------------------------------------------------------------------- errors
def test_fewer_than_two_pairs_is_a_clear_error(store):
    groups = two_groups(store, [1.0, 2.0], [1.0, 2.0], seeds=[1, 2])
    groups["cand"] = [put(store, "cand2", 2, {RESPOND: 1.0}), put(store, "cand2", 9, {RESPOND: 1.0})]
    with pytest.raises(
        StoreError, match=r"pair on only 1 seed \(2\); a 95% confidence interval needs at least 2 pairs"
    ):
        compare(store, groups)


def test_runs_without_common_seeds_do_not_pair(store):
    groups = {
        "base": [put(store, "base", s, {RESPOND: 1.0}) for s in (1, 2)],
        "cand": [put(store, "cand", s, {RESPOND: 1.0}) for s in (11, 12)],
    }
    with pytest.raises(
        StoreError, match=r"do not pair: no seed in common \(seeds of 'base': 1, 2; of 'cand': 11, 12\)"
    ):
        compare(store, groups)


def test_two_runs_with_one_seed_in_a_group_is_an_error(store):
    groups = two_groups(store, [1.0, 2.0], [1.0, 2.0])
    groups["cand"].append(put(store, "cand", 1, {RESPOND: 5.0}))
    with pytest.raises(StoreError, match=r"scenario 'cand' has two runs with seed 1 .*pass one run per seed"):
        compare(store, groups)


def test_a_run_missing_from_the_store_is_named(store):
    groups = two_groups(store, [1.0, 2.0], [1.0, 2.0])
    groups["cand"].append("nope")
    with pytest.raises(StoreError, match=r"scenario 'cand' lists run 'nope', which is not in the store"):
        compare(store, groups)


def test_a_comparison_needs_two_groups(store):
    with pytest.raises(
        SandboxError, match=r"needs a baseline and at least one candidate; got 1 scenario\(s\) \('base'\)"
    ):
        compare(store, {"base": two_groups(store, [1.0, 2.0], [1.0, 2.0])["base"]})


def test_groups_of_different_districts_do_not_pair(store):
    groups = two_groups(store, [1.0, 2.0], [1.0, 2.0])
    groups["cand"] = [put(store, "cand", s, {RESPOND: 1.0}, district="other") for s in (1, 2)]
    with pytest.raises(StoreError, match=r"'cand' ran in district 'other' but baseline 'base' in 'tiny'"):
        compare(store, groups)


def test_failed_runs_are_left_out_with_their_reason(store):
    groups = two_groups(store, [1.0, 2.0, 3.0], [1.5, 2.5, 3.5])
    groups["cand"].append(put(store, "cand", 4, {}, status="failed", error="RuntimeError: boom\ntraceback"))
    cmp = compare(store, groups)
    assert cmp.table.iloc[0].n_pairs == 3
    assert any("(seed 4) failed and is left out: RuntimeError: boom" in n for n in cmp.notes)


def test_a_group_whose_runs_all_failed_says_why(store):
    groups = two_groups(store, [1.0, 2.0], [1.0, 2.0])
    groups["cand"] = [put(store, "cand", 1, {}, status="failed", error="ValueError: bad")]
    with pytest.raises(StoreError, match=r"every run of scenario 'cand' failed; first reason: ValueError: bad"):
        compare(store, groups)


# --------------------------------------------------------------------------- the store's runs
def test_latest_runs_takes_the_newest_complete_run_per_seed(store):
    old = put(store, "base", 1, {RESPOND: 1.0})
    new = put(store, "base", 1, {RESPOND: 2.0})
    put(store, "base", 1, {}, status="failed")
    other = put(store, "base", 2, {RESPOND: 1.0}, variant="b")
    idx = run_index(store)
    assert latest_runs(store, "base", index=idx) == {1: new, 2: other}
    assert old not in latest_runs(store, "base").values()
    assert latest_runs(store, "base", digest="dig-base-b") == {2: other}
    assert latest_runs(store, "base", seeds=[2]) == {2: other}


def test_scenario_groups_separate_variants_of_one_name(store):
    put(store, "base", 1, {RESPOND: 1.0}, variant="a")
    put(store, "base", 1, {RESPOND: 1.0}, variant="b")
    put(store, "cand", 1, {RESPOND: 1.0})
    g = scenario_groups(run_index(store))
    assert sorted(g["scenario"]) == ["base", "base", "cand"]
    assert g["label"].is_unique and "cand" in set(g["label"])


def test_hourly_and_spatial_means_average_over_runs(store):
    cmp = compare(store, two_groups(store, [100.0, 200.0], [110.0, 230.0], kpi=RESPOND))
    h = hourly_means(store, cmp, [RESPOND])
    assert h[(h.label == "cand") & (h.t == 0)]["mean"].item() == pytest.approx(170.0)
    sp = spatial_means(store, cmp, SERVED, cell_m=200)  # both points fall in the cell (0, 0) of 200 m
    assert sp[sp.label == "base"]["value"].item() == pytest.approx(5.0)
    assert sp[sp.label == "base"]["n"].item() == 2


def test_hourly_means_carry_the_t_interval_and_the_chart_draws_it_as_a_band(store):
    from simulation.results.report import series_svg
    from simulation.stats import mean_ci

    cmp = compare(store, two_groups(store, [100.0, 200.0, 150.0], [110.0, 230.0, 170.0], kpi=RESPOND))
    h = hourly_means(store, cmp, [RESPOND])
    row = h[(h.label == "cand") & (h.t == 0)].iloc[0]
    assert (row["mean"], row["low"], row["high"]) == pytest.approx(mean_ci([110.0, 230.0, 170.0]))
    svg = series_svg(h, RESPOND, cmp.labels, "2026-05-12T18:00")
    assert svg.count('class="band"') == 2 and "<title>cand · 18:00" in svg and "95% CI" in svg
    assert 'class="band"' not in series_svg(h.drop(columns=["low", "high"]), RESPOND, cmp.labels)
    first = cmp.run_ids("base")[0]
    one = type("C", (), {"groups": {"base": {1: first}}, "run_ids": staticmethod(lambda: [first])})()
    single = hourly_means(store, one, [RESPOND])
    assert single["low"].isna().all()  # one run: no interval, and no band is drawn
    assert 'class="band"' not in series_svg(single, RESPOND, ["base"])
    wide = pd.DataFrame({"label": "base", "t": [0.0, 3600.0], "kpi": RESPOND, "mean": 1.0, "low": -5.0, "high": 7.0})
    assert "95% CI 0 to 7" in series_svg(wide, RESPOND, ["base"])  # a time is not negative: the band stops at 0
    assert series_svg(wide.assign(mean=math.nan), RESPOND, ["base"]) == ""  # no value in any hour: no chart
    share = wide.assign(kpi=SERVED, mean=99.0, low=90.0, high=104.0)
    assert "95% CI 90.0% to 100.0%" in series_svg(share, SERVED, ["base"])


def test_spatial_means_regrid_each_kpi_the_way_it_adds_up(store):
    def cells(metric, rows):
        return pd.DataFrame(rows, columns=["x", "y", "value", "n"]).assign(metric=metric)

    # incidents are counted: a coarser cell sums, a run with nothing in a cell counts 0 there
    a = put(store, "base", 1, {INCIDENTS: 3.0}, spatial=cells(INCIDENTS, [(50, 50, 2, 2), (150, 50, 1, 1)]))
    b = put(store, "base", 2, {INCIDENTS: 1.0}, spatial=cells(INCIDENTS, [(50, 50, 1, 1)]))
    # a share is weighted by its cell's attempts: 1 of 1 served and 0 of 3 is 25%, not 50%
    c = put(store, "base", 3, {SERVED: 25.0}, spatial=cells(SERVED, [(50, 50, 100, 1), (150, 50, 0, 3)]))
    cmp = type("C", (), {"groups": {"base": {1: a, 2: b}}, "run_ids": staticmethod(lambda: [a, b])})()
    fine = spatial_means(store, cmp, INCIDENTS, cell_m=100).set_index(["gx", "gy"])
    assert fine.loc[(0, 0), "value"] == pytest.approx(1.5) and fine.loc[(1, 0), "value"] == pytest.approx(0.5)
    assert fine["value"].sum() == pytest.approx(2.0)  # the mean of the runs' KPI (3 and 1)
    coarse = spatial_means(store, cmp, INCIDENTS, cell_m=200)
    assert coarse["value"].item() == pytest.approx(2.0) and coarse["n"].item() == 2
    one = type("C", (), {"groups": {"base": {3: c}}, "run_ids": staticmethod(lambda: [c])})()
    assert spatial_means(store, one, SERVED, cell_m=200)["value"].item() == pytest.approx(25.0)
    assert spatial_means(store, one, SERVED, cell_m=100)["value"].tolist() == [100.0, 0.0]


# --------------------------------------------------------------------------- report
def test_report_is_self_contained_and_takes_extra_sections(store):
    cmp = compare(store, two_groups(store, [300.0, 310.0, 320.0, 330.0, 340.0], [250.0, 262.0, 268.0, 281.0, 289.0]))
    doc = render_report(cmp, extra_sections=[("Scorecard", "<p id='score'>42</p>")], series=hourly_means(store, cmp))
    assert doc.startswith("<!DOCTYPE html>") and "<p id='score'>42</p>" in doc and "<h2>Scorecard</h2>" in doc
    assert "<script" not in doc and "<link" not in doc and "src=" not in doc and "url(" not in doc
    assert "http" not in doc.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<svg" in doc and "▲ better" in doc


def test_kpi_table_cells_carry_the_exact_values(store):
    cmp = compare(store, two_groups(store, [300.0, 310.0, 320.0, 330.0, 340.0], [250.0, 262.0, 268.0, 281.0, 289.0]))
    html = kpi_table_html(cmp)
    assert f'data-kpi="{RESPOND}" data-verdict="better"' in html
    assert 'data-col="diff_mean" data-value="-50.0"' in html


# --------------------------------------------------------------------------- CLI on real runs
def test_cli_compare_runs_missing_replications_and_exports(tiny_district, tmp_path, capsys):
    common = {
        "district": str(tiny_district),
        "start": "2026-05-12T16:00",
        "duration": "1h",
        "seed": 1,
        "replications": 2,
    }
    base = write_scenario(tmp_path, "base", common | {"services": BASE_SERVICES})
    cand = write_scenario(tmp_path, "cand", common | {"seed": 7, "services": BASE_SERVICES[:1] + BASE_SERVICES[2:]})
    out = tmp_path / "out"
    code = main(
        [
            "compare",
            str(base),
            str(cand),
            "--store",
            str(tmp_path / "s"),
            "--json",
            "-q",
            "--csv",
            str(out / "c.csv"),
            "--html",
            str(out / "r.html"),
        ]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["baseline"] == "base" and set(doc["runs"]["cand"]) == {
        "1",
        "2",
    }  # the candidate took the baseline's seeds
    served = next(r for r in doc["rows"] if r["kpi"] == SERVED)
    # no public WiFi, nothing served: an obvious drop, but 2 pairs are too few for a verdict
    assert served["candidate_mean"] == 0.0 and served["verdict"] == "too few pairs"
    assert "too few for a verdict" in doc["caption"]["cand"] and doc["precision"] == "10%"
    assert all("pairs_needed" in r for r in doc["rows"])
    assert tuple(pd.read_csv(out / "c.csv").columns) == TABLE_COLUMNS
    assert '<table class="kpi-table"' in (out / "r.html").read_text()

    # the table, piped (not a terminal): whole KPI names, the roles in the headers, the names in the title
    assert main(["compare", str(base), str(cand), "--store", str(tmp_path / "s"), "-q"]) == 0
    text = capsys.readouterr().out
    assert "cand (candidate) vs base (baseline)" in text
    header = next(line for line in text.splitlines() if "KPI" in line)
    assert [h.strip() for h in header.strip("┃ ").split("┃")][:5] == ["KPI", "unit", "better", "baseline", "candidate"]
    assert all(f" {k} " in text for k in (SERVED, "safety.operator_utilisation_pct", "connectivity.backhaul_peak_pct"))
    assert "pairs for ±10%" in text and "too few for a verdict (at least 5 are needed)" in text

    # a bad precision is exit 2 with the value and what is allowed
    args = ["compare", str(base), str(cand), "--store", str(tmp_path / "s"), "-q", "--precision", "tight"]
    assert main(args) == 2
    assert (
        "--precision: not a number; got 'tight' (allowed: a share like 10% or a number > 0)" in capsys.readouterr().err
    )


def test_replications_needed_follow_the_observed_spread():
    from simulation.stats import replications_needed

    # sd 10, target ±5: t(n-1) × 10 / √n ≤ 5 first holds at n = 18 (t(17) = 2.110 → 4.97)
    assert replications_needed(10.0, 5.0) == 18
    assert replications_needed(10.0, 5.0 / 2) >= 4 * 16  # half the width: about four times the pairs
    assert replications_needed(0.0, 1.0) == 5  # no spread: the minimum for a verdict
    assert replications_needed(float("nan"), 1.0) is None and replications_needed(1.0, 0.0) is None


def test_cli_compare_with_one_replication_exits_2_with_the_reason(tiny_scenario, tmp_path, capsys):
    code = main(["compare", str(tiny_scenario), str(tiny_scenario), "-r", "1", "--store", str(tmp_path / "s"), "-q"])
    assert code == 2
    assert "needs at least 2 pairs" in capsys.readouterr().err
