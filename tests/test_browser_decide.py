"""The Decide page in Chromium: defaults from extends, ranking, human money, chain and tornado, the decisions list.

A live ``streamlit run app.py`` on a free port with its own store: a tiny baseline and two candidates that
extend it and change a service (5 replications each, so verdicts exist). Screenshots go to the test's
temporary folder (and to ``PILOT_SCREENS_DIR`` when set).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import BASE_SERVICES, write_scenario
from playwright.sync_api import Browser, Page, expect
from test_browser import browser, choose, local_page, nav, shoot, streamlit_server  # noqa: F401 - browser: a fixture

from simulation.config.scenario import load_scenario
from simulation.results.reuse import run_or_reuse
from simulation.results.run import replication_seeds
from simulation.results.store import Store

expect.set_options(timeout=30_000)
pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live(tiny_district: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A streamlit server whose store holds a baseline and two candidates that extend it."""
    root = tmp_path_factory.mktemp("live_decide")
    scenarios = root / "scenarios"
    scenarios.mkdir()
    common = {"district": str(tiny_district), "start": "2026-05-12T18:00", "duration": "2h", "seed": 1}
    write_scenario(scenarios, "tiny_city", common | {"name": "tiny_city", "replications": 5, "services": BASE_SERVICES})
    for name, level in (("tiny_dim2", 0.8), ("tiny_dim", 0.6)):  # tiny_dim runs last: the newest in the store
        write_scenario(
            scenarios,
            name,
            {
                "extends": "tiny_city.yaml",
                "name": name,
                "services": [{"use": "builtin:streetlights", "params": {"night_level": level}}],
            },
        )
    store = root / "store"
    for name in ("tiny_city", "tiny_dim2", "tiny_dim"):
        sc = load_scenario(scenarios / f"{name}.yaml")
        for seed in replication_seeds(sc.seed, sc.replications):
            run_or_reuse(sc, seed, Store(store))
    env = {"PILOT_STORE": str(store), "PILOT_SCENARIOS": str(scenarios)}
    with streamlit_server(root, env) as url:
        yield {"url": url, "store": store, "root": root}


@pytest.fixture
def page(browser: Browser, live: dict) -> Iterator[Page]:  # noqa: F811 - the imported fixture
    with local_page(browser, live["url"], accept_downloads=True) as pg:
        yield pg


def test_decide_follows_extends_ranks_and_reopens_decisions(page: Page, live: dict, tmp_path: Path) -> None:
    pg = page
    pg.goto(live["url"])
    nav(pg, "Decide")
    main = pg.get_by_test_id("stMain")
    # 16.1: the defaults follow extends (the newest group is tiny_dim, which extends tiny_city)
    base = main.get_by_test_id("stSelectbox").filter(has_text="Baseline").locator("input")
    expect(base).to_have_value("tiny_city", timeout=120_000)
    cands = main.get_by_test_id("stMultiSelect").filter(has_text="Candidates")
    expect(cands).to_contain_text("tiny_dim")
    expect(cands).not_to_contain_text("tiny_dim2")
    expect(cands).not_to_contain_text("tiny_city")  # a baseline is never its own candidate
    headline = main.get_by_role("heading", name="Recommendation:", level=3)
    expect(headline).to_be_visible(timeout=180_000)
    # the chain, money with its sources, the tornado and the flips, in words
    expect(main.get_by_role("heading", name="How the recommendation follows")).to_be_visible(timeout=60_000)
    for step in ("KPI effect (95% CI)", "money (90% range)", "criterion scores", "weighted score", "gates", "verdict"):
        expect(main.get_by_text(step, exact=True).first).to_be_visible()
    expect(main.get_by_text("energy.total_kwh: -").first).to_be_visible()
    expect(main.get_by_role("heading", name="What drives the verdict")).to_be_visible()
    expect(main.get_by_role("img", name="tornado of expected NPV")).to_be_visible()
    expect(main.get_by_text("Where the money comes from")).to_be_visible()
    # 16.3: money as people read it — million KRW with separators (억원 in its tooltip), no raw long numbers
    npv = main.get_by_test_id("stMetric").filter(has_text="Expected NPV")
    expect(npv).to_be_visible()
    value = npv.get_by_test_id("stMetricValue").inner_text().strip()
    assert re.fullmatch(r"KRW −?[\d,]+(\.\d)? M", value), value
    text = main.inner_text()
    assert not re.search(r"\d{7,}", text.replace(",", "")), "a raw long number on the page"
    assert "benefit_per_year" not in text and "npv_p05" not in text
    shoot(pg, tmp_path, "decide-one")

    # several candidates ranked against one baseline
    cands.locator("input").click()
    pg.get_by_role("option", name="tiny_dim2", exact=True).click()
    pg.keyboard.press("Escape")
    expect(main.get_by_role("heading", name="Candidates ranked against tiny_city")).to_be_visible(timeout=180_000)
    expect(main.get_by_test_id("stSelectbox").filter(has_text="Details for")).to_be_visible()
    expect(headline).to_be_visible(timeout=180_000)
    shoot(pg, tmp_path, "decide-ranked")

    # record an accepted decision, then the decisions list reopens it as the HTML report
    who = main.get_by_test_id("stTextInput").filter(has_text="Evaluator").locator("input")
    who.fill("kim")
    who.press("Enter")
    pg.wait_for_timeout(1000)
    main.get_by_role("button", name="Record decision").click()
    ok = main.get_by_test_id("stAlert").filter(has_text="recorded.")
    expect(ok).to_be_visible(timeout=60_000)
    rid = re.search(r"Decision (\S+) recorded\.", ok.inner_text()).group(1)
    stored = json.loads((live["store"] / "decisions" / f"{rid}.json").read_text())
    assert stored["baseline"] == "tiny_city" and stored["evaluator"] == "kim" and stored["accepted"]

    main.get_by_role("tab", name="Decisions").click()
    when = stored["created"].replace("T", " ")
    label = f"{when} · {stored['candidate']} · {stored['decision'].replace('_', ' ')} · kim"
    picker = main.get_by_test_id("stSelectbox").filter(has_text="Open a decision").locator("input")
    expect(picker).to_have_value(label, timeout=60_000)  # the newest record opens first, by name not raw id
    choose(pg, "Open a decision", label)
    shown = main.locator("section.decide").filter(has_text=f"Decision {rid}")
    expect(shown).to_be_visible(timeout=60_000)
    assert "accepted the recommendation" in shown.inner_text()
    with pg.expect_download() as dl:
        main.get_by_role("button", name="Download report (HTML)").click()
    page_html = Path(dl.value.path()).read_text()
    assert page_html.startswith("<!DOCTYPE html>") and f"Decision {rid}" in page_html
    assert "What drives the verdict" in page_html and "KPI comparison" in page_html and "<script" not in page_html
    with pg.expect_download() as dl:
        main.get_by_role("button", name="Download record (JSON)").click()
    assert json.loads(Path(dl.value.path()).read_text())["id"] == rid
    pg.wait_for_timeout(1000)
    shoot(pg, tmp_path, "decide-decisions")
