"""Honest sensitivity indices: replication noise in the intervals, S1 > ST and wide-interval notes, samples needed."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from conftest import BASE_SERVICES, write_scenario

from simulation.batch import make_plan
from simulation.batch.sensitivity import sensitivity_indices

K = "safety.time_to_respond_s"
FACTORS = {
    "demand.safety.incidents_per_day": {"range": [0, 2 * math.pi]},
    "demand.safety.handling_time_s": {"range": [1, 1 + 2 * math.pi]},
    "demand.safety.call_delay_min": {"range": [1, 1 + 2 * math.pi]},
}


def _plan(tiny_district: Path, tmp_path: Path, samples: int) -> dict:
    write_scenario(tmp_path, "base", {"district": str(tiny_district), "duration": "1h", "services": BASE_SERVICES})
    (tmp_path / "s.yaml").write_text(
        yaml.safe_dump(
            {
                "base": "base.yaml",
                "factors": FACTORS,
                "design": {"kind": "sobol", "samples": samples},
                "budget": 9000,
                "replications": 1,
            }
        )
    )
    return make_plan(tmp_path / "s.yaml").to_json()


def _runs(plan: dict, noise: float, reps: int) -> pd.DataFrame:
    """Ishigami plus replication noise (same seeds at every point)."""
    x = np.asarray(plan["sample"], float)
    col = {n: x[:, i] for i, n in enumerate(plan["problem"]["names"])}  # SALib's columns, by factor label
    x1, x2, x3 = (
        col["incidents_per_day"] - math.pi,
        col["handling_time_s"] - 1 - math.pi,
        col["call_delay_min"] - 1 - math.pi,
    )
    f = np.sin(x1) + 7 * np.sin(x2) ** 2 + 0.1 * x3**4 * np.sin(x1)
    rows = []
    for seed in range(1, reps + 1):
        eps = np.random.default_rng(seed).standard_normal(len(f)) * noise
        rows.append(pd.DataFrame({"point": range(len(f)), "seed": seed, "kpi": K, "value": f + eps}))
    return pd.concat(rows, ignore_index=True)


def _means(runs: pd.DataFrame) -> pd.DataFrame:
    return runs.groupby("point")["value"].mean().to_frame(K)


def test_replication_noise_widens_the_intervals(tiny_district: Path, tmp_path: Path) -> None:
    plan = _plan(tiny_district, tmp_path, 64)
    quiet, noisy = _runs(plan, 0.01, 3), _runs(plan, 4.0, 3)
    a = sensitivity_indices(plan, _means(quiet), [K], runs=quiet, resamples=40)
    b = sensitivity_indices(plan, _means(noisy), [K], runs=noisy, resamples=40)
    s1a, s1b = (d[d["index"] == "S1"].set_index("factor") for d in (a, b))
    # with little noise the replication part is negligible; with much it dominates
    assert (s1a["conf_replication"] < 0.02).all()
    assert (s1b["conf_replication"] > 3 * s1a["conf_replication"]).all()
    assert np.allclose(s1b["conf"] ** 2, s1b["conf_design"] ** 2 + s1b["conf_replication"] ** 2)


def test_noise_only_output_is_flagged_and_samples_are_suggested(tiny_district: Path, tmp_path: Path) -> None:
    plan = _plan(tiny_district, tmp_path, 16)
    runs = _runs(plan, 1.0, 3)
    runs["value"] = np.random.default_rng(9).standard_normal(len(runs))  # the factors do nothing
    notes: list[str] = []
    sensitivity_indices(plan, _means(runs), [K], notes, runs=runs, resamples=30)
    text = "\n".join(notes)
    assert "intervals are wider than their values" in text, text
    assert "for ±0.05 on every index: about" in text and "base samples (now 16)" in text, text
    assert "replications per point (now 3)" in text, text


def test_s1_above_st_is_flagged() -> None:
    from simulation.batch.sensitivity import COLUMNS, _warn

    d = pd.DataFrame(
        [
            ["sobol", K, "a", "S1", 0.62, 0.05, 0.04, 0.03],
            ["sobol", K, "a", "ST", 0.41, 0.05, 0.04, 0.03],
            ["sobol", K, "b", "S1", 0.10, 0.02, 0.02, 0.0],
            ["sobol", K, "b", "ST", 0.30, 0.02, 0.02, 0.0],
        ],
        columns=COLUMNS,
    )
    notes: list[str] = []
    _warn("sobol", {"design": {"samples": 256}}, K, d, 3, notes)
    assert notes == [
        f"sobol {K}: S1 > ST for a (S1 0.620, ST 0.410) — impossible for exact indices, so these estimates are "
        "noise; run more samples"
    ]


def test_a_clean_large_design_gets_no_warnings(tiny_district: Path, tmp_path: Path) -> None:
    plan = _plan(tiny_district, tmp_path, 1024)
    runs = _runs(plan, 0.0, 1)
    notes: list[str] = []
    s = sensitivity_indices(plan, _means(runs), [K], notes, runs=runs)
    got = s.pivot_table(index="factor", columns="index", values="value")
    assert got.loc["handling_time_s", "S1"] == pytest_approx(0.442)
    assert not [n for n in notes if "S1 > ST" in n], notes
    wide = [n for n in notes if "wider than" in n]  # only the factor whose true S1 is 0
    assert wide == [
        f"sobol {K}: 1 of 6 intervals are wider than their values (call_delay_min S1): those indices are not "
        "distinguishable from zero"
    ], notes
    assert s["conf_replication"].isna().all()  # one replication: nothing to resample


def pytest_approx(v: float):
    import pytest

    return pytest.approx(v, abs=0.05)
