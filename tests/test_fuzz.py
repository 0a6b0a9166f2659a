"""Property-based tests: every mutated input is accepted or gets the project's error, never a raw exception.

A fixed-seed, small profile (a few hundred inputs, under a minute); ``make fuzz`` runs the long one
(tests/fuzz.py, >= 10,000 inputs) over the same targets.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzz_targets import Targets, strategies
from hypothesis import HealthCheck, given, settings

EXAMPLES = {"scenario": 60, "district.yaml": 40, "layout.geojson": 30, "plugin.yaml": 60, "study": 50, "upload": 50}


@pytest.fixture(scope="module")
def targets(tiny_district: Path, tmp_path_factory: pytest.TempPathFactory) -> Targets:
    return Targets(tmp_path_factory.mktemp("fuzz"), tiny_district)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_mutated_inputs_get_the_project_error_or_load(targets: Targets, name: str) -> None:
    strat, feed = strategies(targets)[name]
    seen: dict[str, int] = {"project": 0, "accepted": 0}

    @settings(
        max_examples=EXAMPLES[name],
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strat)
    def run(x):
        seen[feed(x)] += 1

    run()
    assert seen["project"] > 0  # the mutations do reach the checks
