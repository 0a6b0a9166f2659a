"""Issue 16 in Debian's Chromium: shared runs, readable maps, Compare on what changed, checked inputs, services.

One live server for the module (the ``live`` fixture of ``test_browser``: its own store, scenarios and
districts). Screenshots go to the test's temporary folder and to ``PILOT_SCREENS_DIR`` when set.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, write_scenario
from PIL import Image
from playwright.sync_api import Browser, Page, expect
from test_browser import SCREENS, browser, choose, live, nav, page, shoot  # noqa: F401 - fixtures and helpers
from test_upload import make_zip, plugin_entries

from simulation.jobs import checks as checkjob
from simulation.jobs.runs import list_jobs
from simulation.plugins.discovery import open_plugin
from simulation.results.compare import compare, latest_runs, spatial_metrics
from simulation.results.numbers import kpi_label
from simulation.results.store import Store
from webapp.compare_view import by_change

pytestmark = pytest.mark.browser


def _main(pg: Page):
    return pg.get_by_test_id("stMainBlockContainer")


def _long_scenario(server: dict) -> Path:
    """A run long enough to be seen running: 10 days of 10 times the tiny district's people, 3 times."""
    data = yaml.safe_load((server["root"] / "scenarios" / "tiny_base.yaml").read_text())
    long = {"duration": "240h", "replications": 3, "population_scale": 10}
    return write_scenario(server["root"] / "scenarios", "tiny_long", data | long)


def test_runs_belong_to_the_store_every_session_sees_them_and_a_reload_reattaches(
    browser: Browser,  # noqa: F811
    live: dict,  # noqa: F811
    tmp_path: Path,
) -> None:
    _long_scenario(live)
    alice_ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    bob_ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        alice, bob = alice_ctx.new_page(), bob_ctx.new_page()
        for pg in (alice, bob):
            pg.set_default_timeout(90_000)  # a worker is busy on the same 2 cores
        alice.goto(f"{live['url']}/run")
        who = alice.get_by_test_id("stSidebar").get_by_test_id("stTextInput").locator("input")
        who.fill("alice")
        who.press("Enter")
        choose(alice, "Scenario", "tiny_long")
        confirm = alice.get_by_test_id("stCheckbox").filter(has_text="Yes, start 3 runs")
        expect(confirm).to_be_visible()  # 720 simulated person-scaled hours: well above the threshold
        confirm.locator("label").click()
        expect(alice.get_by_role("button", name="Start")).to_be_enabled()
        alice.get_by_role("button", name="Start").click()
        expect(_main(alice).get_by_test_id("stProgress").filter(has_text="tiny_long").first).to_be_visible()
        expect(_main(alice).get_by_text("started by alice", exact=False).first).to_be_visible()

        # Bob, another browser: the same run in his sidebar and on his Run page; he cannot start it twice.
        bob.goto(f"{live['url']}/run")
        side = bob.get_by_test_id("stSidebar")
        expect(side.get_by_text("Runs in progress (1)")).to_be_visible(timeout=90_000)
        expect(side.get_by_text("started by alice", exact=False)).to_be_visible()
        choose(bob, "Scenario", "tiny_long")
        expect(bob.get_by_text("These runs are already being computed")).to_be_visible(timeout=90_000)
        expect(bob.get_by_role("button", name="Start")).to_be_disabled()
        shoot(bob, tmp_path, "jobs-other-session")

        # Alice reloads: the job is still listed with its progress (nothing belonged to her old session).
        alice.reload()
        expect(_main(alice).get_by_role("heading", name="Runs in progress")).to_be_visible()
        expect(_main(alice).get_by_text("started by alice", exact=False).first).to_be_visible()
        expect(_main(alice).get_by_test_id("stProgress").filter(has_text="tiny_long").first).to_be_visible()
        [job] = [s for s in list_jobs(live["store"]) if s.scenario == "tiny_long"]
        spec = json.loads((live["store"] / "jobs" / job.job_id / "spec.json").read_text())
        assert spec["abandon_after_s"] is None and spec["started_by"] == "alice"  # no 120 s abandonment

        # Bob cancels it for everyone.
        _main(bob).get_by_role("button", name="Cancel").first.click()
        expect(_main(bob).get_by_text("cancelled in the app", exact=False).first).to_be_visible()
        expect(alice.get_by_test_id("stSidebar").get_by_text("No runs in progress.")).to_be_visible()
        assert len([s for s in list_jobs(live["store"]) if s.scenario == "tiny_long"]) == 1  # never a duplicate
    finally:
        alice_ctx.close()
        bob_ctx.close()


def test_an_invalid_value_disables_start_and_large_runs_need_a_confirmation(
    page: Page,  # noqa: F811
    live: dict,  # noqa: F811
    tmp_path: Path,
) -> None:
    pg = page
    pg.goto(f"{live['url']}/run")
    choose(pg, "Scenario", "tiny_base")
    seed = _main(pg).get_by_test_id("stTextInput").filter(has_text="Seed").locator("input")
    seed.fill("9223372036854775808")
    seed.press("Enter")
    expect(pg.get_by_text("Seed: 9223372036854775808 is out of range", exact=False)).to_be_visible()
    expect(pg.get_by_role("button", name="Start")).to_be_disabled()
    assert seed.input_value() == "9223372036854775808"  # what was typed stays, and nothing runs with another value
    shoot(pg, tmp_path, "run-invalid")
    seed.fill("1")
    seed.press("Enter")
    reps = _main(pg).get_by_test_id("stTextInput").filter(has_text="Replications").locator("input")
    reps.fill("1000")
    reps.press("Enter")
    expect(pg.get_by_text("new runs (from the wall time of runs already in the store", exact=False)).to_be_visible()
    confirm = pg.get_by_test_id("stCheckbox").filter(has_text="Yes, start 998 runs")
    expect(confirm).to_be_visible()
    expect(pg.get_by_role("button", name="Start")).to_be_disabled()
    shoot(pg, tmp_path, "run-confirm")
    confirm.locator("label").click()
    expect(pg.get_by_role("button", name="Start")).to_be_enabled()


def test_district_map_tooltips_are_text_and_the_legend_has_every_layer(
    page: Page,  # noqa: F811
    live: dict,  # noqa: F811
    tmp_path: Path,
) -> None:
    pg = page
    pg.goto(live["url"])
    choose(pg, "District", "tiny")
    canvas = pg.locator('[data-testid="stDeckGlJsonChart"] canvas').first
    canvas.wait_for(timeout=120_000)
    legend = pg.locator(".map-legend")
    expect(legend).to_be_visible()
    for label in (
        "residential",
        "street",
        "WiFi AP coverage",
        "plain camera view",
        "AI camera view",
        "station or centre",
    ):
        expect(legend.get_by_text(label, exact=True)).to_be_visible()
    pg.wait_for_timeout(1500)
    box = canvas.bounding_box()
    tip = pg.locator(".deck-tooltip")
    found = ""
    for fy in (0.5, 0.45, 0.55, 0.4, 0.6, 0.35, 0.65):  # sweep across the map until something is under the pointer
        for fx in [i / 24 for i in range(4, 21)]:
            pg.mouse.move(box["x"] + box["width"] * fx, box["y"] + box["height"] * fy)
            pg.wait_for_timeout(60)
            if tip.count() and tip.first.is_visible() and tip.first.inner_text().strip():
                found = tip.first.inner_text()
                break
        if found:
            break
    assert found, "no tooltip anywhere across the map"
    assert "<" not in found and "\n" in found.strip()  # readable lines, no markup
    shoot(pg, tmp_path, "district-tooltip")


def test_compare_opens_on_what_changed_with_bands_and_an_uncut_verdict(
    page: Page,  # noqa: F811
    live: dict,  # noqa: F811
    tmp_path: Path,
) -> None:
    from simulation.config.scenario import load_scenario
    from simulation.results.reuse import run_or_reuse

    sc = load_scenario(live["root"] / "scenarios" / "tiny_candidate.yaml")
    for seed in (1, 2):
        run_or_reuse(sc, seed, Store(live["store"]))
    pg = page
    pg.goto(f"{live['url']}/compare")
    pick = pg.get_by_test_id("stMultiSelect").filter(has_text="Scenarios to compare")
    pick.get_by_role("button", name="Clear all").click()
    for name in ("tiny_base", "tiny_candidate"):
        pick.locator("input").click()
        pg.get_by_role("option", name=f"{name} · 2 runs", exact=True).click()
    pg.keyboard.press("Escape")
    table = pg.locator('table.kpi-table[data-candidate="tiny_candidate"]')
    expect(table).to_be_visible()
    served = table.locator('tr[data-kpi="connectivity.sessions_served_pct"]')
    expect(served.locator("td").first).to_have_text("WiFi session attempts served by an AP (%)")
    assert served.locator("td").first.get_attribute("title").startswith("connectivity.sessions_served_pct")
    verdict = served.locator('td[data-col="verdict"]')
    vb = verdict.bounding_box()
    assert vb["x"] + vb["width"] <= 1400 and verdict.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    series = pg.get_by_test_id("stMultiSelect").filter(has_text="the two that changed most")
    expect(series).to_contain_text("WiFi session attempts served by an AP")
    # Over the day: inline SVG charts (no charting library to load), lines in their 95% bands.
    chart = pg.locator(".over-the-day svg[data-kpi]").first
    expect(chart).to_be_visible(timeout=60_000)
    assert chart.locator(".band").count() >= 2 and chart.locator("circle title").count() >= 2
    # The map opens on the mappable KPI that changed most (2 pairs: none is significant, so the largest change).
    store = Store(live["store"])
    cmp = compare(store, {lb: list(latest_runs(store, lb).values()) for lb in ("tiny_base", "tiny_candidate")})
    first = by_change(cmp, "tiny_candidate", spatial_metrics(store, cmp.run_ids()))[0]
    mapped = pg.get_by_test_id("stSelectbox").filter(has_text="Map of")
    expect(mapped.locator("input")).to_have_value(kpi_label(first), timeout=60_000)
    _wait_for_maps(pg, 1)  # the difference map alone
    # each scenario's own map, one click away
    _main(pg).get_by_text("Show each scenario's own map").click()
    _wait_for_maps(pg, 3)
    shoot(pg, tmp_path, "compare-changed")
    _main(pg).get_by_text("Show each scenario's own map").click()
    # Any KPI with a place can be mapped: here the PM2.5 dose, placed at each person's longest stay.
    mapped.locator("input").click()
    mapped.locator("input").fill("PM2.5 dose per person")  # the list is long: type to find
    pg.get_by_role("option", name="PM2.5 dose per person while in the district (stays and trips)", exact=True).click()
    expect(_main(pg).get_by_text("environment.mean_exposure", exact=True)).to_be_visible(timeout=60_000)
    _wait_for_maps(pg, 1)
    canvas = pg.locator('[data-testid="stDeckGlJsonChart"] canvas').first
    canvas.scroll_into_view_if_needed()
    pg.wait_for_timeout(1500)
    colours = Image.open(io.BytesIO(canvas.screenshot())).convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 20  # cells and streets drawn, not a blank canvas
    shoot(pg, tmp_path, "compare-map-exposure")
    if SCREENS is not None:
        canvas.screenshot(path=str(SCREENS / "compare-map-exposure-canvas.png"))
    chart.scroll_into_view_if_needed()
    shoot(pg, tmp_path, "compare-over-the-day")


def _wait_for_maps(pg: Page, n: int) -> None:
    """``n`` maps are drawn (the difference alone, or with the baseline's and the candidate's)."""
    pg.wait_for_function(
        "n => document.querySelectorAll('[data-testid=\"stDeckGlJsonChart\"] canvas').length === n",
        arg=n,
        timeout=120_000,
    )
    pg.wait_for_timeout(1500)


def _vendor_build(tmp_path: Path, store: Path, name: str, note: str) -> bytes:
    """A vendor's own air-quality service, built from the airwatch example under ``name``; its check passed."""
    src = tmp_path / f"{name}-{abs(hash(note)) % 1000}"
    shutil.copytree(ROOT / "plugins" / "airwatch_alerts", src, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = src / "plugin.yaml"
    manifest.write_text(manifest.read_text().replace("name: airwatch_alerts", f"name: {name}", 1))
    (src / "README.md").write_text((src / "README.md").read_text() + f"\n{note}\n")
    plugin = open_plugin(src)
    report = checkjob.report_path(store, name, plugin.code_hash)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(
        json.dumps(
            {
                "plugin": name,
                "folder": "",
                "version": plugin.manifest.version,
                "isolation": "sandbox",
                "conforms": True,
                "checks": [{"name": "manifest", "passed": True, "detail": "ok"}],
                "runs": [],
                "code_hash": plugin.code_hash,
                "checked_at": "2026-05-12T09:00:00+00:00",
            }
        )
    )
    return make_zip(plugin_entries(f"{name}/", src))


def _upload(pg: Page, filename: str, data: bytes) -> None:
    pg.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        files=[{"name": filename, "mimeType": "application/zip", "buffer": data}]
    )


def test_a_clashing_upload_is_refused_or_versioned_checked_where_uploaded_and_addable_to_a_run(
    page: Page,  # noqa: F811
    live: dict,  # noqa: F811
    tmp_path: Path,
) -> None:
    pg = page
    pg.goto(f"{live['url']}/services")
    pg.get_by_text("Upload a plugin (.zip)").click()
    # A shipped service's name is never shadowed: refused, with the reason.
    _upload(pg, "shadow.zip", make_zip(plugin_entries("airwatch_alerts/", ROOT / "plugins" / "airwatch_alerts")))
    expect(pg.get_by_test_id("stAlert").filter(has_text="may not shadow").first).to_be_visible()
    # Two builds of a vendor's own service under one name: the second is listed apart, numbered.
    _upload(pg, "acme1.zip", _vendor_build(tmp_path, live["store"], "acme_air_alerts", "First build."))
    expect(pg.get_by_test_id("stAlert").filter(has_text="acme1.zip").first).to_be_visible()
    _upload(pg, "acme2.zip", _vendor_build(tmp_path, live["store"], "acme_air_alerts", "Second build."))
    note = pg.get_by_test_id("stAlert").filter(has_text="acme2.zip")
    expect(note).to_contain_text("listed as acme_air_alerts (upload")
    result = pg.get_by_test_id("stExpander").filter(has_text="Upload a plugin").get_by_test_id("stAlert")
    expect(result.filter(has_text="Conformance check of this upload: passed").first).to_be_visible()
    expect(pg.get_by_test_id("stDataFrame").first).to_be_visible()
    shoot(pg, tmp_path, "services-upload")

    # The Run page offers it (and only services that passed) with its params.
    nav(pg, "Run")
    choose(pg, "Scenario", "tiny_base")
    pg.get_by_text("Add a service (any that passed its conformance check)").click()
    add = pg.get_by_test_id("stMultiSelect").filter(has_text="Services to add")
    param = pg.get_by_test_id("stNumberInput").filter(has_text="threshold_pm25").first
    for _ in range(3):  # the app may rerun under the open list (progress polling): pick again if it closed
        if add.get_by_text(re.compile(r"acme_air_alerts")).count() == 0:  # not picked yet (a rerun may undo it)
            add.locator("input").click()
            pg.keyboard.type("acme")
            option = pg.get_by_role("option", name=re.compile(r"^acme_air_alerts.* 1\.4\.0 .*uploaded"))
            expect(option.first).to_be_visible()
            pg.keyboard.press("Enter")
            pg.keyboard.press("Escape")
        try:
            expect(param).to_be_visible(timeout=15_000)
            break
        except AssertionError:
            continue
    expect(param).to_be_visible()
    expect(pg.get_by_text("tiny_base (+ acme_air_alerts", exact=False).first).to_be_visible()
    shoot(pg, tmp_path, "run-add-service")
