"""The web app's pages through Streamlit's AppTest, against a temporary store (``PILOT_STORE``)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import BASE_SERVICES, ROOT, write_scenario
from streamlit.testing.v1 import AppTest

from simulation.cli.main import main
from simulation.config.district import load_district
from simulation.config.scenario import load_scenario
from simulation.results.compare import compare, hourly_means, latest_runs
from simulation.results.reuse import run_or_reuse
from simulation.results.run import replication_seeds
from simulation.results.store import Store
from webapp import district as district_module

SERVED = "connectivity.sessions_served_pct"


def district_page() -> None:
    from webapp.district import page

    page()


def run_page() -> None:
    from webapp.run import page

    page()


def compare_page() -> None:
    from webapp.compare import page

    page()


@pytest.fixture(scope="module")
def folders(tiny_district: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Scenarios (a baseline, a candidate without public WiFi, a broken one) and a store with their runs."""
    root = tmp_path_factory.mktemp("app")
    sc_dir = root / "scenarios"
    sc_dir.mkdir()
    common = {
        "district": str(tiny_district),
        "start": "2026-05-12T17:00",
        "duration": "1h",
        "seed": 1,
        "replications": 2,
        # the pre-calibration WiFi demand: an hour of the tiny district then has enough sessions
        # for the served-% difference to show as significant (given 5 pairs: see _five_pairs)
        "demand": {"connectivity": {"sessions_per_person_per_day": 6.0}},
    }
    write_scenario(sc_dir, "tiny_base", common | {"services": BASE_SERVICES})
    write_scenario(sc_dir, "tiny_nowifi", common | {"services": [BASE_SERVICES[0], BASE_SERVICES[2]]})
    write_scenario(sc_dir, "tiny_other_seeds", common | {"seed": 50, "services": BASE_SERVICES[:1]})
    (sc_dir / "zz_broken.yaml").write_text(f"district: {tiny_district}\nreplications: 0\n")
    store = Store(root / "store")
    for name in ("tiny_base", "tiny_nowifi", "tiny_other_seeds"):
        sc = load_scenario(sc_dir / f"{name}.yaml")
        for seed in replication_seeds(sc.seed, sc.replications):
            run_or_reuse(sc, seed, store)
    return {"scenarios": sc_dir, "store": store.root, "districts": tiny_district.parent, "root": root}


@pytest.fixture
def env(folders, monkeypatch):
    monkeypatch.setenv("PILOT_STORE", str(folders["store"]))
    monkeypatch.setenv("PILOT_SCENARIOS", str(folders["scenarios"]))
    monkeypatch.setenv("PILOT_DISTRICTS", str(folders["districts"]))
    return folders


def deck_spec(at: AppTest, i: int = 0) -> dict:
    return json.loads(at.get("deck_gl_json_chart")[i].proto.json)


# --------------------------------------------------------------------------- app shell
def html_of(at: AppTest) -> list[str]:
    """The HTML a page shows: its markdown (with HTML) and its ``st.html`` elements."""
    return [m.value for m in at.markdown] + [h.proto.body for h in at.get("html")]


def test_the_app_opens_on_the_district_page(env):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception
    assert at.title[0].value == "District"
    assert str(env["store"]) in at.sidebar.caption[0].value


def test_pages_import_no_plugin_code_and_no_simulation_engine(env):
    # In a fresh interpreter: render every page, then look at what got imported.
    code = """
import sys
from streamlit.testing.v1 import AppTest
for mod in ("district", "run", "compare"):
    at = AppTest.from_string(f"from webapp.{mod} import page\\npage()", default_timeout=60).run()
    assert not at.exception, at.exception
bad = [m for m, v in sys.modules.items() if m.startswith("simulation.world") or m.startswith("simulation.plugins")
       or "plugins/" in str(getattr(v, "__file__", "") or "")]
print(bad)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


# --------------------------------------------------------------------------- district
def test_district_page_shows_map_layers_and_key_figures(env, tiny_district):
    at = AppTest.from_function(district_page, default_timeout=30).run()
    at.selectbox(key="district_pick").set_value(str(tiny_district.resolve())).run()
    assert not at.exception and not at.error
    ids = [layer["id"] for layer in deck_spec(at)["layers"]]
    assert ids[:2] == ["blocks", "streets"] and "poles" in ids and "population" not in ids
    assert "mapStyle" not in deck_spec(at) or deck_spec(at)["mapStyle"] == "__MAP_STYLE__"  # no basemap
    figures = load_district(tiny_district).key_figures()
    table = next(m.value for m in at.markdown if "key-figures" in m.value)
    assert f"S-Poles</th><td style='{district_module._TD}'>{figures['poles']}</td>" in table
    assert f"Residents</th><td style='{district_module._TD}'>{figures['residents']:,}</td>" in table


def test_layer_toggles_change_the_map(env, tiny_district):
    at = AppTest.from_function(district_page, default_timeout=30).run()
    at.selectbox(key="district_pick").set_value(str(tiny_district.resolve())).run()
    at.pills(key="district_layers").unselect("poles").run()
    at.pills(key="district_layers").select("population").run()
    at.number_input(key="per_dot").set_value(10).run()
    layers = {layer["id"]: layer for layer in deck_spec(at)["layers"]}
    assert "poles" not in layers
    d = load_district(tiny_district)
    assert len(layers["population"]["data"]) == sum((b.residents + b.jobs) // 10 for b in d.blocks)


def test_a_broken_district_shows_its_error(env, tmp_path, monkeypatch):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "district.yaml").write_text("name: bad\n")
    monkeypatch.setenv("PILOT_DISTRICTS", str(bad))
    at = AppTest.from_function(district_page, default_timeout=30).run()
    at.selectbox(key="district_pick").set_value(str(bad.resolve())).run()
    assert not at.exception
    assert "district.yaml" in at.error[0].value and "required key is missing" in at.error[0].value


# --------------------------------------------------------------------------- run
def test_a_broken_scenario_shows_the_cli_message(env, capsys):
    broken = env["scenarios"] / "zz_broken.yaml"
    at = AppTest.from_function(run_page, default_timeout=30).run()
    at.selectbox(key="run_scenario").set_value(str(broken.resolve())).run()
    assert not at.exception
    assert main(["run", str(broken), "--store", str(env["root"] / "unused")]) == 2
    cli = capsys.readouterr().err.strip()
    assert cli == f"error: {at.error[0].value}"
    assert "replications" in cli and "Traceback" not in at.error[0].value


def test_derived_scenario_names_what_changed(env):
    from webapp.run import derive

    sc = load_scenario(env["scenarios"] / "tiny_base.yaml")
    d = derive(
        sc, seed=3, replications=4, population_scale=0.5, services=["cctv_monitoring", "streetlights"], faults=[]
    )
    assert d.name == "tiny_base (population ×0.5; without public_wifi)"
    assert (d.seed, d.replications, d.population_scale) == (3, 4, 0.5)
    assert [s.key for s in d.services] == ["cctv_monitoring", "streetlights"]
    same = derive(sc, seed=9, replications=5, population_scale=1.0, services=[s.key for s in sc.services], faults=[])
    assert same.name == "tiny_base"  # other seeds of the same scenario pool with it


def wait_for(at: AppTest, done, timeout: float = 90.0) -> AppTest:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        at.run()
        if done(at):
            return at
        time.sleep(0.3)
    raise AssertionError(f"timed out; page says: {[e.value for e in at.main.children.values() if hasattr(e, 'value')]}")


def test_run_page_runs_in_a_worker_and_reuses_stored_runs(env, tmp_path, monkeypatch):
    store = tmp_path / "fresh"
    monkeypatch.setenv("PILOT_STORE", str(store))
    at = AppTest.from_function(run_page, default_timeout=30).run()
    at.selectbox(key="run_scenario").set_value(str((env["scenarios"] / "tiny_nowifi.yaml").resolve())).run()
    assert any("0 of 2 runs are already in the store" in c.value for c in at.caption)
    at.button(key="run_start").click().run()
    job = at.session_state["jobs"][0]
    assert (store / "jobs" / job / "progress.json").is_file()
    wait_for(at, lambda a: any("in the store" in s.value for s in a.success))
    assert "2 runs in the store (2 new, 0 reused)" in at.success[-1].value
    assert len(Store(store).runs()) == 2 and not at.exception
    at.run()
    # (Run ids include a hash of the simulation package's code: this holds unless it changes mid-test.)
    assert any("all 2 runs are already in the store and will be reused" in s.value for s in at.success)


def test_a_failing_run_shows_why(env, tiny_district, tmp_path, monkeypatch):
    path = write_scenario(
        tmp_path,
        "zz_plugin",
        {
            "district": str(tiny_district),
            "duration": "1h",
            "replications": 1,
            "services": [{"use": "plugins/does_not_exist"}],
        },
    )
    monkeypatch.setenv("PILOT_SCENARIOS", str(tmp_path))
    monkeypatch.setenv("PILOT_STORE", str(tmp_path / "s"))
    at = AppTest.from_function(run_page, default_timeout=30).run()
    at.selectbox(key="run_scenario").set_value(str(path.resolve())).run()
    at.button(key="run_start").click().run()
    wait_for(at, lambda a: bool(a.error))
    assert "no plugin folder" in at.error[0].value and "does_not_exist" in at.error[0].value


# --------------------------------------------------------------------------- compare
def test_compare_page_shows_the_numbers_of_the_store(env):
    at = AppTest.from_function(compare_page, default_timeout=30).run()
    at.multiselect(key="cmp_pick").set_value(["tiny_base", "tiny_nowifi"]).run()
    assert not at.exception and not at.error
    table = next(h for h in html_of(at) if '<table class="kpi-table"' in h)
    row = re.search(rf'<tr data-kpi="{re.escape(SERVED)}" data-verdict="([^"]+)">(.*?)</tr>', table).group(1, 2)
    values = dict(re.findall(r'data-col="(\w+)" data-value="([^"]*)"', row[1]))
    store = Store(env["store"])
    kp = store.kpis([*latest_runs(store, "tiny_base").values(), *latest_runs(store, "tiny_nowifi").values()])
    means = kp[kp.kpi == SERVED].groupby("scenario")["value"].mean()
    assert float(values["baseline_mean"]) == pytest.approx(means["tiny_base"])
    assert float(values["candidate_mean"]) == pytest.approx(means["tiny_nowifi"]) == 0.0
    assert row[0] == "too few pairs"  # nothing served, but 2 pairs are too few for a verdict (at least 5)
    assert len(at.get("deck_gl_json_chart")) == 1  # the difference, alone
    assert [b.label for b in at.get("download_button")] == ["Download CSV", "Download HTML report"]
    # The services and the runs as plain tables (no data grid to load), every run listed.
    runs = next(h for h in html_of(at) if '<table class="runs"' in h)
    assert all(
        r in runs for r in [*latest_runs(store, "tiny_base").values(), *latest_runs(store, "tiny_nowifi").values()]
    )
    services = next(h for h in html_of(at) if '<table class="services"' in h)
    assert "Actions rejected by the district" in services and "tiny_nowifi" in services
    at.toggle(key="cmp_map_both").set_value(True).run()
    assert len(at.get("deck_gl_json_chart")) == 3  # + the baseline's and the candidate's own maps
    assert not at.exception and not at.error


def test_compare_page_reports_runs_that_do_not_pair(env):
    at = AppTest.from_function(compare_page, default_timeout=30).run()
    at.multiselect(key="cmp_pick").set_value(["tiny_base", "tiny_other_seeds"]).run()
    store = Store(env["store"])
    with pytest.raises(Exception) as exc:
        compare(
            store,
            {
                "tiny_base": list(latest_runs(store, "tiny_base").values()),
                "tiny_other_seeds": list(latest_runs(store, "tiny_other_seeds").values()),
            },
        )
    assert at.error[0].value == str(exc.value)
    assert "do not pair: no seed in common" in at.error[0].value


def test_compare_page_without_runs_says_where_to_start(env, tmp_path, monkeypatch):
    monkeypatch.setenv("PILOT_STORE", str(tmp_path / "empty"))
    at = AppTest.from_function(compare_page, default_timeout=30).run()
    assert "No runs in the store" in at.info[0].value


def test_every_session_sees_the_store_jobs_and_nothing_is_computed_twice(env, tmp_path, monkeypatch):
    monkeypatch.setenv("PILOT_STORE", str(tmp_path / "shared"))
    monkeypatch.delenv("PILOT_JOB_ABANDON_S", raising=False)
    alice = AppTest.from_function(run_page, default_timeout=30)
    alice.session_state["who"] = "alice"
    alice.run()
    bob = AppTest.from_function(run_page, default_timeout=30).run()
    for at in (alice, bob):
        at.selectbox(key="run_scenario").set_value(str((env["scenarios"] / "tiny_base.yaml").resolve())).run()
    alice.button(key="run_start").click().run()
    bob.run()
    assert len(alice.session_state["jobs"]) == 1
    assert "jobs" not in bob.session_state  # Bob started nothing
    # Bob sees Alice's run, who started it, and cannot start the same runs again.
    assert "Runs in progress" in [h.value for h in bob.subheader]
    assert any("started by **alice**" in c.value for c in bob.caption)
    assert bob.button(key="run_start").disabled
    assert any("already being computed" in i.value for i in bob.info)
    for at in (alice, bob):
        wait_for(at, lambda a: any("in the store" in s.value for s in a.success))
    assert len(Store(tmp_path / "shared").runs()) == 2
    assert len(list((tmp_path / "shared" / "jobs").iterdir())) == 1  # one job, not two


def test_an_invalid_number_disables_start_with_a_message(env):
    at = AppTest.from_function(run_page, default_timeout=30).run()
    path = str((env["scenarios"] / "tiny_base.yaml").resolve())
    at.selectbox(key="run_scenario").set_value(path).run()
    at.text_input(key=f"{path}:seed").set_value("9223372036854775808").run()
    assert at.button(key="run_start").disabled
    assert (
        at.error[0].value == "Seed: 9223372036854775808 is out of range; enter a whole number from 0 to 4,294,967,295."
    )
    at.text_input(key=f"{path}:seed").set_value("1").run()
    at.text_input(key=f"{path}:reps").set_value("two").run()
    assert at.error[0].value == "Replications: 'two' is not a number; enter a whole number from 1 to 1,000."
    assert at.button(key="run_start").disabled
    at.text_input(key=f"{path}:reps").set_value("2").run()
    assert not at.error and not at.button(key="run_start").disabled


def test_large_runs_show_a_time_estimate_and_need_a_confirmation(env, monkeypatch):
    monkeypatch.setattr("webapp.run.CONFIRM_S", 1.0)  # "large" whatever this machine's speed
    at = AppTest.from_function(run_page, default_timeout=30).run()
    path = str((env["scenarios"] / "tiny_base.yaml").resolve())
    at.selectbox(key="run_scenario").set_value(path).run()
    at.text_input(key=f"{path}:reps").set_value("1000").run()
    note = next(c.value for c in at.caption if c.value.startswith("Time:"))
    assert "for 998 new runs" in note and "about" in note
    assert at.button(key="run_start").disabled  # until confirmed
    box = at.checkbox(key=f"{path}:confirm")
    assert box.label.startswith("Yes, start 998 runs (about ")
    box.check().run()
    assert not at.button(key="run_start").disabled


# --------------------------------------------------------------------------- maps and numbers for people
def test_map_tooltips_are_plain_text_and_the_legend_names_every_layer(env, tiny_district):

    at = AppTest.from_function(district_page, default_timeout=30).run()
    at.selectbox(key="district_pick").set_value(str(tiny_district.resolve())).run()
    at.pills(key="district_layers").select("population").run()
    spec = json.loads(at.get("deck_gl_json_chart")[0].proto.tooltip)
    assert spec["text"] == "{tip}" and "html" not in spec
    tips = [r["tip"] for layer in deck_spec(at)["layers"] for r in layer.get("data", []) if "tip" in r]
    assert tips and not any("<" in t for t in tips)
    assert any(t.startswith("pole ") and "\nmodules: " in t for t in tips)
    legend = next(m.value for m in at.markdown if "map-legend" in m.value)
    for label in (
        "residential",
        "street",
        "fibre link (thick: trunk)",
        "WiFi AP coverage",
        "AI camera view",
        "AI camera",
        "S-DoT sensor",
        "station or centre",
        "people (dots)",
        "light only",
    ):
        assert f"</span>{label}</span>" in legend, label
    # One colour per meaning: no two legend entries share a colour and a mark.
    entries = re.findall(r'<span class="legend-item"[^>]*><span style="([^"]*)"></span>([^<]+)</span>', legend)
    marks = {}
    for style, label in entries:
        mark = re.sub(r"rgba?\([^)]*\)", "", style), re.findall(r"rgba?\((\d+,\d+,\d+)", style)[0]
        assert mark not in marks or label == marks[mark], f"{label!r} looks like {marks.get(mark)!r}"
        marks[mark] = label
    assert len(entries) >= 25


def test_deck_json_is_compact_with_rounded_coordinates(env, tiny_district):
    at = AppTest.from_function(district_page, default_timeout=30).run()
    at.selectbox(key="district_pick").set_value(str(tiny_district.resolve())).run()
    raw = at.get("deck_gl_json_chart")[0].proto.json
    assert "\n  " not in raw and '": ' not in raw  # no indentation, no spaces after keys
    blocks = next(layer for layer in json.loads(raw)["layers"] if layer["id"] == "blocks")
    lon = blocks["data"][0]["polygon"][0][0]
    assert lon == round(lon, 5)


def _five_pairs(env, tmp_path, monkeypatch) -> Path:
    """A copy of the store with 5 replications of tiny_base and tiny_nowifi (a verdict needs 5 pairs)."""
    store = tmp_path / "store5"
    shutil.copytree(env["store"], store)
    for name in ("tiny_base", "tiny_nowifi"):
        sc = load_scenario(env["scenarios"] / f"{name}.yaml")
        for seed in replication_seeds(sc.seed, 5):
            run_or_reuse(sc, seed, Store(store))
    monkeypatch.setenv("PILOT_STORE", str(store))
    return store


def test_compare_opens_on_the_kpis_that_changed_most(env, tmp_path, monkeypatch):
    from webapp.compare_view import effect_size

    env = env | {"store": _five_pairs(env, tmp_path, monkeypatch)}
    at = AppTest.from_function(compare_page, default_timeout=30).run()
    at.multiselect(key="cmp_pick").set_value(["tiny_base", "tiny_nowifi"]).run()
    assert not at.exception
    series = next(m for m in at.multiselect if m.key.startswith("cmp_series:"))
    cmp = compare(
        Store(env["store"]),
        {
            "tiny_base": list(latest_runs(Store(env["store"]), "tiny_base").values()),
            "tiny_nowifi": list(latest_runs(Store(env["store"]), "tiny_nowifi").values()),
        },
    )
    t = cmp.table.set_index("kpi")
    assert series.value and all(bool(t.loc[k, "significant"]) for k in series.value)
    flat = [k for k in t.index if not t.loc[k, "significant"]]
    assert not set(series.value) & set(flat)  # nothing that did not change
    hourly = set(hourly_means(Store(env["store"]), cmp)["kpi"])
    sizes = {k: effect_size(t.loc[k]) for k in hourly if t.loc[k, "significant"]}
    assert effect_size(t.loc[series.value[0]]) == max(sizes.values())
    # Over the day: one chart per chosen KPI, each scenario's line in its 95% band, values on hover.
    charts = next(h for h in html_of(at) if 'class="over-the-day"' in h)
    assert "\n\n" not in charts  # one HTML block: a blank line would end it and show the rest as text
    for k in series.value:
        svg = re.search(rf'<svg[^>]*data-kpi="{re.escape(k)}".*?</svg>', charts, re.S).group(0)
        assert svg.count('class="band"') >= 2 and "<title>tiny_nowifi · " in svg
    mapped = next(s for s in at.selectbox if s.key.startswith("cmp_map_metric:"))
    # The map opens on the mappable KPI with the largest significant change, and offers every mappable KPI.
    from simulation.results.places import WHERE

    on_map = [k for k in t.index if k in WHERE and t.loc[k, "significant"]]
    assert mapped.value in on_map
    assert effect_size(t.loc[mapped.value]) == max(effect_size(t.loc[k]) for k in on_map)
    assert SERVED in on_map  # no WiFi: nothing served, an obvious change
    assert len(mapped.options) >= 40 and "Incidents that happened" in mapped.options
    # Labels are the catalogue's words; the codes stay as tooltips.
    table = next(h for h in html_of(at) if '<table class="kpi-table"' in h)
    assert f'title="{SERVED} · higher is better">WiFi session attempts served by an AP (%)</td>' in table
    assert "Difference (candidate − baseline)" in table and "<code>" not in table
    cell = re.search(
        rf'<tr data-kpi="{re.escape(SERVED)}".*?data-col="baseline_mean" data-value="([^"]+)">([^<]+)<', table
    )
    assert cell.group(2) == f"{float(cell.group(1)):,.1f}%"  # one decimal for %


def test_number_formatters():
    from simulation.results.numbers import fmt_duration, fmt_krw, fmt_num, fmt_pct, fmt_value, kpi_header

    assert fmt_num(-130380038854.9246) == "-130,380,038,855"
    assert fmt_num(1234567) == "1,234,567" and fmt_num(0.12345) == "0.123" and fmt_num(float("nan")) == "—"
    assert fmt_pct(12.345) == "12.3%" and fmt_pct(3, signed=True) == "+3.0%"
    assert fmt_value(4.25, "s") == "4.25 s" and fmt_value(97.04, "%") == "97.0%"
    assert fmt_krw(-130380038854.9246) == "−130,380.0 M KRW" and fmt_krw(2_500_000) == "2.5 M KRW"
    assert fmt_krw(600_000) == "600,000 KRW"
    assert fmt_duration(45) == "45 s" and fmt_duration(600) == "10 min" and fmt_duration(7500) == "2 h 05 min"
    assert kpi_header("safety.time_to_respond_s") == "Occurrence to a responder's arrival (s)"


def test_the_readme_tour_uses_the_apps_words():
    """Every button, field and section the README's tour names in bold is a label in the app's code,
    and every page it visits is in the app's menu: the tour cannot drift from the app unnoticed."""
    from webapp import PAGES

    readme = (ROOT / "README.md").read_text()
    tour = readme[readme.index("**In the browser**") : readme.index("**In a terminal**")]
    words = [" ".join(w.split()) for w in re.findall(r"\*\*(.+?)\*\*", tour, re.S)[1:]]
    source = " ".join(" ".join(p.read_text().split()) for p in [*(ROOT / "webapp").glob("*.py"), ROOT / "app.py"])
    assert len(words) >= 20 and "Download HTML report" in words and "Decisions" in words
    missing = [w for w in words if not re.search(".*?".join(re.escape(x.strip()) for x in w.split("…")), source)]
    assert not missing, f"the README's tour names {missing}, which the app does not show"
    pages = re.findall(r"^\d\. \*(\w+)\*", tour, re.M)
    assert len(pages) >= 7 and set(pages) <= {title for _, title, _ in PAGES}
