"""The Programme page in Chromium: map of the pilots, pipeline board, indicator chart, drill-down, decision."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from test_browser import choose, chromium, local_page, shoot, streamlit_server
from test_programme import _save_decision, _small, _write

from simulation.cli.main import main

expect.set_options(timeout=30_000)
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A streamlit server showing a small programme whose runs are already in its store."""
    root = tmp_path_factory.mktemp("live_programme")
    path = _write(root, _small(root))
    store = root / "store"
    _save_decision(store, "d-1", "commercialise")
    assert main(["programme", str(path), "--store", str(store), "--workers", "0", "--quiet", "--json"]) == 0
    env = {"PILOT_STORE": str(store), "PILOT_PROGRAMME": str(path)}
    with streamlit_server(root, env) as url:
        yield {"url": url, "store": store}


@pytest.fixture
def page(live: dict) -> Iterator[Page]:
    with chromium() as b, local_page(b, live["url"]) as pg:
        yield pg


def idle(pg: Page) -> None:
    """Wait until the script has finished its rerun (a select box re-rendered mid-click loses its list)."""
    pg.wait_for_timeout(300)
    expect(pg.get_by_test_id("stStatusWidget")).to_have_count(0, timeout=60_000)


def pick(pg: Page, label: str, option: str) -> None:
    """Choose ``option`` once the app is idle, and retry once if a rerun closed the list."""
    idle(pg)
    try:
        choose(pg, label, option)
    except (AssertionError, PlaywrightTimeout):
        idle(pg)
        choose(pg, label, option)


def test_programme_page(page: Page, live: dict, tmp_path: Path) -> None:
    pg = page
    pg.goto(f"{live['url']}/programme")
    expect(pg.get_by_role("heading", name="Programme", level=1)).to_be_visible()
    expect(pg.get_by_text("3 pilot districts")).to_be_visible()
    expect(pg.get_by_text("8 of 8 runs in the store")).to_be_visible()
    # the Seoul map of the pilots is drawn (deck.gl canvas)
    expect(pg.locator("canvas").first).to_be_visible()
    # pipeline board: one service piloting in gd, with its recorded decision; one proposed
    expect(pg.get_by_text("piloting (1)")).to_be_visible()
    expect(pg.get_by_text("proposed (1)")).to_be_visible()
    expect(pg.get_by_text("decision: commercialise").first).to_be_visible()
    # indicators and budget charts against the plan
    pick(pg, "Indicator", "1-4 Pilots (locations)")
    expect(pg.get_by_text("Spend against the investment plan (KRW million)")).to_be_visible()
    assert pg.locator("[data-testid=stVegaLiteChart]").count() >= 2
    # drill down to a district and its decision
    pick(pg, "District", "gd")
    expect(pg.get_by_text("Gongdeok test extract").first).to_be_visible()
    expect(pg.get_by_text("lumen_adaptive_lighting").last).to_be_visible()
    pick(pg, "Decision", "d-1")
    expect(pg.get_by_text("dim further in parks")).to_be_visible()
    assert pg.locator("canvas").count() >= 2  # the programme map and the district map
    shoot(pg, tmp_path, "programme")
