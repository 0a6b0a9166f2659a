"""The evaluator's journey in Debian's Chromium (Playwright) against a live ``streamlit run app.py``.

Open the app, pick a district and see its map canvas, run a short scenario to completion through
the progress bar, compare it with its baseline and check the page's numbers against the store, then
decide on the pair, record an overriding decision and reopen it from the store.
Screenshots of each page go to the test's temporary folder, and are copied to the folder named by
``PILOT_SCREENS_DIR`` when it is set (to look at them after a run).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from chromium_flags import CHROMIUM_ARGS
from conftest import BASE_SERVICES, ROOT, write_scenario
from playwright.sync_api import Browser, Page, expect, sync_playwright
from scipy import stats

from simulation.config.generator import make_district
from simulation.config.scenario import load_scenario
from simulation.decision.evaluate import LABELS
from simulation.results.numbers import fmt_value
from simulation.results.reuse import run_or_reuse
from simulation.results.run import replication_seeds
from simulation.results.store import Store

# CI runs this on 2 shared cores: give the live app time before an assertion gives up.
expect.set_options(timeout=30_000)

pytestmark = pytest.mark.browser

SERVED = "connectivity.sessions_served_pct"
SCREENS = Path(os.environ["PILOT_SCREENS_DIR"]) if os.environ.get("PILOT_SCREENS_DIR") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _workers(store: Path) -> list[int]:
    """Pids of job workers writing into this store."""
    out = []
    for p in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            cmd = p.read_bytes()
        except OSError:
            continue
        if b"simulation.jobs.runs" in cmd and str(store).encode() in cmd:
            out.append(int(p.parent.name))
    return out


@contextlib.contextmanager
def streamlit_server(root: Path, env: dict[str, str]) -> Iterator[str]:
    """The app as ``make run`` serves it (``python -m webapp``) on a free localhost port with ``env`` (log in
    ``root/server.log``); yields its URL."""
    port = _free_port()
    log = open(root / "server.log", "wb")  # noqa: SIM115 - closed at teardown
    server = subprocess.Popen(
        [sys.executable, "-m", "webapp", "--server.port", str(port), "--server.address",
         "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.fileWatcherType", "none"],
        cwd=ROOT,
        env=os.environ | env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > end:
                    raise RuntimeError((root / "server.log").read_text()[-2000:]) from None
                time.sleep(0.2)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@pytest.fixture(scope="module")
def live(tiny_district: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A streamlit server on a free port with its own store, scenarios and districts; killed afterwards."""
    root = tmp_path_factory.mktemp("live")
    districts = root / "districts"
    make_district(
        districts / "small",
        name="small",
        title="Small test district",
        origin_lat=37.56,
        origin_lon=127.0,
        width_m=300,
        height_m=300,
        residents=500,
        workers=200,
        visitors=50,
        seed=3,
    )
    shutil.copytree(tiny_district, districts / "tiny")
    scenarios = root / "scenarios"
    scenarios.mkdir()
    common = {
        "district": str(districts / "tiny"),
        "start": "2026-05-12T18:00",
        "duration": "2h",
        "seed": 1,
        "replications": 2,
    }
    base = write_scenario(scenarios, "tiny_base", common | {"services": BASE_SERVICES})
    write_scenario(scenarios, "tiny_candidate", common | {"services": [BASE_SERVICES[0], BASE_SERVICES[2]]})
    store = root / "store"
    sc = load_scenario(base)
    for seed in replication_seeds(sc.seed, sc.replications):  # the baseline is in the store already
        run_or_reuse(sc, seed, Store(store))
    env = {
        "PILOT_STORE": str(store),
        "PILOT_SCENARIOS": str(scenarios),
        "PILOT_DISTRICTS": str(districts),
        "PILOT_CONFIRM_S": "60",  # a 1,000-run start asks first on any machine; a 2-run one does not
    }
    try:
        with streamlit_server(root, env) as url:
            yield {"url": url, "store": store, "root": root}
    finally:
        end = time.monotonic() + 10
        while _workers(store) and time.monotonic() < end:
            time.sleep(0.2)
        assert not _workers(store), "a job worker outlived the app"


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium through Playwright, with the flags every browser test uses."""
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@contextlib.contextmanager
def local_page(browser: Browser, url: str, **context: Any) -> Iterator[Page]:
    """A new tab in its own context; it fails the test if the app asked for anything outside ``url``."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, **context)
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    outside: list[str] = []
    pg.on("request", lambda r: None if r.url.startswith((url, "data:", "blob:", "about:")) else outside.append(r.url))
    try:
        yield pg
    finally:
        ctx.close()
    assert not outside, f"the app made requests outside localhost: {outside[:5]}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Browser, live: dict) -> Iterator[Page]:
    with local_page(browser, live["url"]) as pg:
        yield pg


def shoot(pg: Page, tmp_path: Path, name: str) -> None:
    """A screenshot of the whole page (Streamlit scrolls inside its own container, so grow the viewport)."""
    h = pg.evaluate(
        "Math.max(...[...document.querySelectorAll('[data-testid=stMain], section')].map(e => e.scrollHeight))"
    )
    pg.set_viewport_size({"width": 1400, "height": max(1000, min(int(h) + 40, 9000))})
    pg.wait_for_timeout(500)
    out = tmp_path / f"{name}.png"
    pg.screenshot(path=str(out))
    if SCREENS is not None:
        SCREENS.mkdir(parents=True, exist_ok=True)
        shutil.copy(out, SCREENS / out.name)
    pg.set_viewport_size({"width": 1400, "height": 1000})


def choose(pg: Page, label: str, option: str) -> None:
    """Pick ``option`` in the select box labelled ``label``."""
    pg.get_by_test_id("stSelectbox").filter(has_text=label).locator("input").click()
    pg.get_by_role("option", name=option, exact=True).click()


def nav(pg: Page, title: str) -> None:
    pg.get_by_test_id("stSidebarNav").get_by_role("link", name=title).click()
    expect(pg.get_by_role("heading", name=title, level=1)).to_be_visible()


def test_evaluator_journey(page: Page, live: dict, tmp_path: Path) -> None:
    pg = page
    pg.goto(live["url"])
    expect(pg.get_by_role("heading", name="District", level=1)).to_be_visible()

    # District: pick one, see the map canvas and its key figures.
    choose(pg, "District", "tiny")
    pg.wait_for_selector('[data-testid="stDeckGlJsonChart"] canvas', timeout=120_000)
    figures = pg.locator("table.key-figures")
    expect(figures.get_by_role("rowheader", name="S-Poles")).to_be_visible()
    # the layer picker: hiding a layer redraws the map without it (and its legend entry goes)
    legend = pg.locator(".map-legend")
    expect(legend.get_by_text("street", exact=True)).to_be_visible()
    pg.get_by_test_id("stButtonGroup").get_by_role("button", name="Streets").click()
    expect(legend.get_by_text("street", exact=True)).to_have_count(0)
    pg.get_by_test_id("stButtonGroup").get_by_role("button", name="Streets").click()
    expect(legend.get_by_text("street", exact=True)).to_be_visible()
    pg.wait_for_timeout(1500)  # let deck.gl draw
    shoot(pg, tmp_path, "district")

    # Run: the candidate, through the progress bar, to completion; its runs land in the store.
    nav(pg, "Run")
    choose(pg, "Scenario", "tiny_candidate")
    expect(pg.get_by_text("0 of 2 runs are already in the store")).to_be_visible()
    pg.get_by_role("button", name="Start").click()
    main = pg.get_by_test_id("stMainBlockContainer")
    expect(main.get_by_test_id("stProgress")).to_be_visible()
    pg.screenshot(path=str(tmp_path / "run-progress.png"))  # whatever it shows now: starting or part way
    done = pg.get_by_test_id("stAlert").filter(has_text="2 runs in the store (2 new, 0 reused)")
    expect(done).to_be_visible(timeout=120_000)
    expect(main.get_by_test_id("stProgress").filter(has_text="2/2 replications done")).to_be_visible()
    shoot(pg, tmp_path, "run")
    if SCREENS is not None:
        shutil.copy(tmp_path / "run-progress.png", SCREENS / "run-progress.png")
    runs = Store(live["store"]).runs()
    assert sorted(runs["scenario"]) == ["tiny_base"] * 2 + ["tiny_candidate"] * 2

    # Compare: the candidate with its baseline; the numbers on the page are the store's.
    nav(pg, "Compare")
    pick = pg.get_by_test_id("stMultiSelect").filter(has_text="Scenarios to compare")
    pick.get_by_role("button", name="Clear all").click()
    for name in ("tiny_base", "tiny_candidate"):
        pick.locator("input").click()
        pg.get_by_role("option", name=f"{name} · 2 runs", exact=True).click()
    pg.keyboard.press("Escape")
    table = pg.locator('table.kpi-table[data-baseline="tiny_base"][data-candidate="tiny_candidate"]')
    expect(table).to_be_visible()
    row = table.locator(f'tr[data-kpi="{SERVED}"]')
    kp = pd.concat([pd.read_parquet(p) for p in live["store"].glob("runs/*/kpis.parquet")])
    kp = kp[kp.kpi == SERVED].pivot_table(index="seed", columns="scenario", values="value")
    base, cand = kp["tiny_base"], kp["tiny_candidate"]
    diff = (cand - base).to_numpy()
    half = stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff))
    for col, expected in (("baseline_mean", base.mean()), ("candidate_mean", cand.mean()), ("diff_mean", diff.mean())):
        cell = row.locator(f'td[data-col="{col}"]')
        assert float(cell.get_attribute("data-value")) == pytest.approx(expected)
        assert cell.inner_text().strip() == fmt_value(expected, "%", signed=col == "diff_mean")  # one decimal
    ci = row.locator('td[data-col="ci"]')
    assert float(ci.get_attribute("data-low")) == pytest.approx(diff.mean() - half)
    assert float(ci.get_attribute("data-high")) == pytest.approx(diff.mean() + half)
    # no public WiFi: nothing served, an obvious drop, but 2 pairs are too few for a verdict (at least 5)
    assert row.locator('td[data-col="verdict"]').inner_text().strip() == "? too few pairs"
    expect(table.locator("caption")).to_contain_text("too few for a verdict")
    pg.wait_for_selector('[data-testid="stDeckGlJsonChart"] canvas', timeout=120_000)  # the difference map
    expect(pg.get_by_role("button", name="Download HTML report")).to_be_visible(timeout=60_000)
    pg.wait_for_timeout(1500)
    shoot(pg, tmp_path, "compare")

    # Decide: the same pair from the store; evaluate, override with a note, then reopen the stored record.
    nav(pg, "Decide")
    box = main.get_by_test_id("stSelectbox").filter(has_text="Baseline").locator("input")
    expect(box).to_be_visible(timeout=60_000)
    if box.input_value() != "tiny_base":  # tiny_candidate does not extend tiny_base: no default from extends
        choose(pg, "Baseline", "tiny_base")
    expect(box).to_have_value("tiny_base", timeout=60_000)
    expect(main.get_by_test_id("stMultiSelect").filter(has_text="Candidates")).to_contain_text("tiny_candidate")
    headline = main.get_by_role("heading", name="Recommendation:", level=3)
    expect(headline).to_be_visible(timeout=120_000)
    recommended = re.search(r"Recommendation: (.+?) — weighted score (\d+)/100", headline.inner_text()).group(1)
    expect(main.get_by_role("heading", name="Economics")).to_be_visible(timeout=60_000)
    expect(main.get_by_test_id("stMetric").filter(has_text="P(NPV > 0)")).to_be_visible(timeout=60_000)
    override = next(d for d in ("extend pilot", "stop", "commercialise") if d != recommended)
    note = "Browser journey: evidence from a 2-hour tiny run is too thin to act on."
    main.get_by_test_id("stRadio").get_by_text(f"override: {override}", exact=True).click()
    box = main.get_by_test_id("stTextArea").locator("textarea")
    box.fill(note)
    box.press("Control+Enter")
    who = main.get_by_test_id("stTextInput").filter(has_text="Evaluator").locator("input")
    who.fill("playwright")
    who.press("Enter")
    pg.wait_for_timeout(1000)
    main.get_by_role("button", name="Record decision").click()
    ok = main.get_by_test_id("stAlert").filter(has_text="recorded.")
    expect(ok).to_be_visible(timeout=60_000)
    rid = re.search(r"Decision (\S+) recorded\.", ok.inner_text()).group(1)
    expect(main.get_by_role("button", name="Download the report (HTML, printable to PDF)")).to_be_visible(
        timeout=60_000
    )
    shoot(pg, tmp_path, "decide")
    stored = json.loads((live["store"] / "decisions" / f"{rid}.json").read_text())
    assert (stored["baseline"], stored["candidate"]) == ("tiny_base", "tiny_candidate")
    assert (stored["decision"], stored["accepted"], stored["note"]) == (override.replace(" ", "_"), False, note)
    assert stored["evaluator"] == "playwright"
    assert LABELS[stored["recommendation"]] == recommended
    ids = Store(live["store"]).runs().groupby("scenario")["run_id"].apply(set).to_dict()
    assert {k: set(v) for k, v in stored["run_ids"].items()} == {
        "baseline": ids["tiny_base"],
        "candidate": ids["tiny_candidate"],
    }

    # Decisions tab: reopen it; the page shows the stored record exactly.
    main.get_by_role("tab", name="Decisions").click()
    when = stored["created"].replace("T", " ")
    choose(pg, "Open a decision", f"{when} · tiny_candidate · {LABELS[stored['decision']]} · playwright")
    shown = main.locator("section.decide").filter(has_text=f"Decision {rid}")
    expect(shown).to_be_visible(timeout=60_000)
    text = " ".join(shown.inner_text().split())
    assert f"Recommendation: {LABELS[stored['recommendation']]}" in text
    assert f"overrode it with: {LABELS[stored['decision']]}" in text
    assert f"Note: {note}" in text
    for label, run_ids in stored["run_ids"].items():
        assert f"{label}: {', '.join(run_ids)}" in text
    assert f"digest {stored['unit_values_digest']}" in text
    listed = main.get_by_test_id("stDataFrame").last
    expect(listed).to_be_visible(timeout=60_000)
    shoot(pg, tmp_path, "decide-reopen")


def test_a_broken_scenario_shows_the_cli_message_in_the_page(page: Page, live: dict, tmp_path: Path) -> None:
    broken = live["root"] / "scenarios" / "zz_broken.yaml"
    broken.write_text("district: tiny\nduration: 2h\nreplicas: 3\n")
    try:
        page.goto(f"{live['url']}/run")
        choose(page, "Scenario", "zz_broken")
        alert = page.get_by_test_id("stAlert").filter(has_text="zz_broken.yaml")
        expect(alert).to_be_visible()
        out = subprocess.run(
            [sys.executable, "-m", "simulation", "run", str(broken)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert out.returncode == 2
        assert out.stderr.strip() == f"error: {alert.inner_text().strip()}"
        assert "Traceback" not in page.content()
        shoot(page, tmp_path, "run-error")
    finally:
        broken.unlink()
