"""Shared fixtures: a tiny generated district and scenarios written next to it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from simulation.config.generator import make_district

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def tiny_district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 500 m × 500 m district with ~2,000 people: small enough for many runs per test."""
    out = tmp_path_factory.mktemp("districts") / "tiny"
    make_district(
        out,
        name="tiny",
        title="Tiny test district",
        origin_lat=37.55,
        origin_lon=126.99,
        width_m=500,
        height_m=500,
        residents=1200,
        workers=600,
        visitors=200,
        seed=7,
    )
    return out


def write_scenario(folder: Path, name: str, data: dict) -> Path:
    """Write a scenario YAML file and return its path."""
    p = folder / f"{name}.yaml"
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


BASE_SERVICES = [{"use": "builtin:cctv_monitoring"}, {"use": "builtin:public_wifi"}, {"use": "builtin:streetlights"}]


@pytest.fixture
def tiny_scenario(tiny_district: Path, tmp_path: Path) -> Path:
    """A 6-hour baseline of the tiny district with the city's reference services."""
    return write_scenario(
        tmp_path,
        "tiny_base",
        {
            "district": str(tiny_district),
            "start": "2026-05-12T16:00",
            "duration": "6h",
            "seed": 1,
            "replications": 2,
            "services": BASE_SERVICES,
        },
    )


@pytest.fixture(autouse=True)
def _keep_main_module():
    """Streamlit's AppTest leaves its page script as ``__main__``; restore it so that later
    ``spawn``/``forkserver`` workers (local batch pools, Dask) do not try to re-run that script."""
    import sys

    main = sys.modules.get("__main__")
    yield
    if main is not None:
        sys.modules["__main__"] = main


@pytest.fixture(scope="session")
def working_sandbox() -> None:
    """Sandbox tests need bubblewrap working here (the Makefile installs it); fail, never skip, if not."""
    from simulation.plugins import sandbox_problem

    problem = sandbox_problem()
    if problem is not None:
        pytest.fail(f"the plugin sandbox does not work on this machine: {problem}")
