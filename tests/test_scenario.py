"""Scenario files: strict schema, extends, cross-checks against the district; every error named."""

from __future__ import annotations

import pytest

from simulation import ScenarioError, load_scenario
from simulation.config.scenario import parse_duration
from tests.conftest import write_scenario


@pytest.fixture
def base(tiny_district):
    return {"district": str(tiny_district), "duration": "2h"}


def test_durations():
    assert parse_duration("24h") == 86400
    assert parse_duration("90m") == 5400
    assert parse_duration("1h30m") == 5400
    assert parse_duration(45) == 45
    with pytest.raises(ValueError, match="a duration like"):
        parse_duration("soon")


def test_extends_merges_and_services_merge_by_name(tiny_district, tmp_path):
    write_scenario(
        tmp_path,
        "parent",
        {
            "district": str(tiny_district),
            "duration": "3h",
            "seed": 4,
            "services": [{"use": "builtin:public_wifi"}, {"use": "builtin:streetlights"}],
        },
    )
    child = write_scenario(
        tmp_path,
        "child",
        {
            "extends": "parent.yaml",
            "duration": "1h",
            "services": [
                {"use": "builtin:streetlights", "params": {"night_level": 0.5}},
                {"use": "builtin:public_wifi", "remove": True},
            ],
        },
    )
    sc = load_scenario(child)
    assert sc.seed == 4 and sc.duration == 3600 and sc.name == "child"
    assert [(s.key, s.params) for s in sc.services] == [("streetlights", {"night_level": 0.5})]


def test_digest_ignores_source_but_not_content(base, tmp_path):
    a = load_scenario(write_scenario(tmp_path, "a", base | {"name": "x"}))
    b = load_scenario(write_scenario(tmp_path, "b", base | {"name": "x"}))
    c = load_scenario(write_scenario(tmp_path, "c", base | {"name": "x", "population_scale": 0.5}))
    assert a.digest == b.digest != c.digest


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"colour": "blue"}, r"unknown key 'colour'; allowed keys: .*district"),
        ({"seed": "one"}, r"at seed: .*valid integer.*got 'one'"),
        ({"duration": "soon"}, r"at duration: a duration like '24h'.*got 'soon'"),
        ({"replications": 0}, r"at replications: .*greater than or equal to 1; got 0"),
        ({"district": "atlantis"}, r"at district: no such district; known districts: .*got 'atlantis'"),
        ({"demand": {"safety": {"incidents_per_day": -3}}}, r"at demand.safety.incidents_per_day: .*got -3"),
        (
            {"demand": {"safety": {"handling": "gamma"}}},
            r"at demand.safety.handling: .*'exponential' or 'lognormal'; got 'gamma'",
        ),
        (
            {"faults": [{"kind": "fibre_cut", "link": "T-nowhere", "at": "01:00", "duration": "10m"}]},
            r"at faults\[0\].link: no fibre link 'T-nowhere' in district 'tiny'",
        ),
        (
            {"faults": [{"kind": "power_outage", "poles": ["P-nowhere"], "at": "01:00", "duration": "10m"}]},
            r"at faults\[0\].poles: no pole 'P-nowhere'",
        ),
        (
            {"faults": [{"kind": "heavy_rain", "at": "05:00", "duration": "1h"}]},
            r"at faults\[0\].at: starts 5h after the start, outside the run of 2h; got '05:00'",
        ),
        ({"faults": [{"kind": "fibre_cut", "at": "01:00", "duration": "1h"}]}, r"a fibre_cut needs 'link'"),
        (
            {"faults": [{"kind": "earthquake", "at": "01:00", "duration": "1h"}]},
            r"at faults\[0\].kind: .*got 'earthquake'",
        ),
        ({"services": [{"use": "builtin:teleporter"}]}, r"no built-in service 'teleporter'"),
        (
            {"services": [{"use": "builtin:streetlights", "params": {"night_level": 3}}]},
            r"at services.streetlights.params.night_level: must be a number from 0.0 to 1.0; got 3",
        ),
        (
            {"services": [{"use": "builtin:streetlights", "params": {"colour": 3}}]},
            r"service 'streetlights' has no param 'colour' \(params: night_level\)",
        ),
    ],
)
def test_bad_scenarios_name_file_key_value_and_allowed(base, tmp_path, patch, message):
    path = write_scenario(tmp_path, "bad", base | patch)
    with pytest.raises(ScenarioError, match=message) as info:
        sc = load_scenario(path)
        from simulation.plugins.runners import make_runner  # services are resolved when a run is built

        for s in sc.services:
            make_runner(s, str(path))
    assert str(path) in str(info.value)


def test_malformed_yaml_gives_the_line(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("district: tiny\nduration: [24h\nseed: 1\n")
    with pytest.raises(ScenarioError, match=r"broken.yaml: line \d+, column \d+: not valid YAML"):
        load_scenario(p)


def test_extends_itself_is_a_cycle(base, tmp_path):
    p = write_scenario(tmp_path, "loop", base | {"extends": "loop.yaml"})
    with pytest.raises(ScenarioError, match=r"'extends' makes a cycle \(loop.yaml -> loop.yaml\)"):
        load_scenario(p)


def test_extends_a_missing_file(base, tmp_path):
    p = write_scenario(tmp_path, "orphan", base | {"extends": "nowhere.yaml"})
    with pytest.raises(ScenarioError, match=r"at extends: no scenario file 'nowhere.yaml'"):
        load_scenario(p)


def test_missing_file(tmp_path):
    with pytest.raises(ScenarioError, match="file not found"):
        load_scenario(tmp_path / "nope.yaml")


def test_top_level_must_be_a_mapping(tmp_path):
    p = tmp_path / "list.yaml"
    p.write_text("- 1\n- 2\n")
    with pytest.raises(ScenarioError, match="must be a mapping of keys to values; got list"):
        load_scenario(p)


def test_a_mix_of_zeros_is_refused(base, tmp_path):
    p = write_scenario(tmp_path, "zeros", base | {"demand": {"safety": {"mix": {"crime": 0, "fire": 0}}}})
    with pytest.raises(ScenarioError, match=r"at demand.safety: mix weights must be >= 0 with a positive sum"):
        load_scenario(p)


def test_plugin_paths_in_a_parent_resolve_from_the_parent(tiny_district, tmp_path):
    (tmp_path / "plugins" / "acme").mkdir(parents=True)
    (tmp_path / "base").mkdir()
    write_scenario(
        tmp_path / "base",
        "parent",
        {"district": str(tiny_district), "duration": "1h", "services": [{"use": "../plugins/acme", "name": "acme"}]},
    )
    (tmp_path / "deep" / "er").mkdir(parents=True)
    child = write_scenario(tmp_path / "deep" / "er", "child", {"extends": "../../base/parent.yaml"})
    sc = load_scenario(child)
    assert (child.parent / sc.services[0].use).resolve() == (tmp_path / "plugins" / "acme").resolve()
