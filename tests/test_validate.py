"""``python -m simulation validate``: model figures beside published ones (a short version on a tiny day)."""

from __future__ import annotations

import json

import pytest

from simulation.cli.main import main
from simulation.results.calibration import FIGURES, figures
from tests.conftest import BASE_SERVICES, write_scenario

SHORT = "wifi_uses_per_person_day,cameras_per_operator,incidents_per_1000_day,streetlight_kwh_per_pole_day"


@pytest.fixture
def tiny_day(tiny_district, tmp_path):
    return write_scenario(
        tmp_path, "tiny_day", {"district": str(tiny_district), "duration": "24h", "services": BASE_SERVICES}
    )


def test_validate_short_version_passes_and_prints_json(tiny_day, capsys):
    rc = main(["validate", "--json", "--only", SHORT, "--business", str(tiny_day)])
    out = json.loads(capsys.readouterr().out)
    assert [c["key"] for c in out["checks"]] == SHORT.split(",")
    by = {c["key"]: c for c in out["checks"]}
    assert by["cameras_per_operator"]["model"] == pytest.approx(6400 / 5)  # 160,000 / 25 centres, 5 on duty
    assert all(c["scenario"] == "tiny_day" for c in out["checks"])  # one baseline day for all four
    assert 0.3 < by["wifi_uses_per_person_day"]["model"] < 0.7
    for c in out["checks"]:
        assert c["pass"] == (c["low"] <= c["model"] <= c["high"]), c
        assert c["source"] and c["published"] > 0
    assert rc == (0 if out["pass"] else 1) and out["pass"] == all(c["pass"] for c in out["checks"])


def test_validate_fails_with_exit_1_when_a_figure_is_outside_its_band(tiny_district, tmp_path, capsys):
    over = write_scenario(
        tmp_path,
        "over",
        {"district": str(tiny_district), "duration": "2h", "control_centre": {"cameras_per_operator": 400}},
    )
    rc = main(["validate", "--only", "cameras_per_operator", "--business", str(over), "-q"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "FAIL" in out and "0 of 1 figures inside their band" in out


def test_validate_bad_input_exits_2(tmp_path, capsys):
    assert main(["validate", "--only", "nonsense"]) == 2
    err = capsys.readouterr().err
    assert "no figure 'nonsense'; figures: wifi_uses_per_person_day" in err
    assert main(["validate", "--only", "cameras_per_operator", "--business", str(tmp_path / "none.yaml")]) == 2
    assert "none.yaml" in capsys.readouterr().err


def test_every_figure_has_a_source_and_a_sane_band():
    assert len(FIGURES) >= 8
    for f in figures():
        assert f.low <= f.published <= f.high and f.source, f.key
