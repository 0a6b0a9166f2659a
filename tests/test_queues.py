"""Every queue on record: per-job records in the store, Little's law, Erlang C on the normal path,
the control centre as the city runs it (one job per incident, levels, city centre), opaque ids."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from simulation import ScenarioError, load_scenario, run_scenario
from simulation.plugins.builtin import BUILTINS, BuiltinService
from simulation.results.queueing import littles_law, mmc_mean_wait, time_in_queue
from simulation.results.run import build_world
from simulation.results.store import Store
from simulation.world.queues import COLUMNS
from tests.conftest import BASE_SERVICES, write_scenario
from tests.test_world2 import BigDroneFleet


@pytest.fixture
def drones(monkeypatch):
    monkeypatch.setitem(BUILTINS, "big_fleet", BuiltinService(BigDroneFleet, "drones", "test"))  # type: ignore[index]


def _baseline_day(tiny_district, tmp_path, **extra):
    data = {
        "district": str(tiny_district),
        "duration": "24h",
        "seed": 3,
        "demand": {
            "logistics": {"no_fly_radius_m": 0},
            # enough arriving EVs on the tiny district for a charger queue
            "mobility": {"ev_share": 0.6, "ev_charge_share": 0.8, "drive_share_workers": 0.8},
        },
        "control_centre": {"other_jobs_per_camera_per_day": 0.5},
        "services": [*BASE_SERVICES, {"use": "builtin:big_fleet"}],
    } | extra
    return load_scenario(write_scenario(tmp_path, "day", data))


def test_littles_law_holds_on_every_queue_of_a_stored_baseline_day(tiny_district, tmp_path, drones):
    """L (rebuilt from the stored records) = λW within 2% on every queue; L also matches the world's own integrals."""
    sc = _baseline_day(tiny_district, tmp_path)
    r = run_scenario(sc)
    assert r.status == "ok", r.error
    store = Store(tmp_path / "results")
    store.put(r)
    df = store.table("queues", [r.run_id])
    assert list(df.columns)[1:] == list(COLUMNS)  # run_id added by the reader
    assert store.load(r.run_id).queues.equals(r.queues)  # stored with the run, in the same atomic write
    assert {"operators", "city_centre", "ev_chargers", "drone_pads", "ap_clients"} <= set(df["queue"])
    law = littles_law(df, sc.duration)
    for row in law.itertuples():
        assert pytest.approx(row.lambda_W, rel=0.02) == row.L, row
        assert row.jobs > 0
    # independent checks: the world's own time integrals, kept as KPIs, against L from the records
    lq = law.set_index(["queue", "part"])["L"]
    assert lq["operators", "queue"] == pytest.approx(r.kpis["safety.operator_queue_mean"], rel=0.02)
    assert lq["ap_clients", "system"] == pytest.approx(r.kpis["connectivity.clients_mean"], rel=0.02)
    assert lq["operators", "queue"] > 0 and lq["drone_pads", "queue"] > 0  # queues that actually queue
    # the operator wait KPI is per incident, counting jobs unfinished at the end
    inc = df[df["queue"].isin(["operators", "city_centre"]) & (df["user"] == "incident")]
    per_incident = time_in_queue(inc, sc.duration).groupby(inc["job"]).sum()
    assert r.kpis["safety.operator_wait_s"] == pytest.approx(per_incident.mean())
    # EV drivers and fleet units apart: neither KPI counts the other's jobs
    fleet = df[(df["user"] == "fleet") & df["queue"].isin(["drone_pads", "ev_chargers", "hub_pads"])]
    assert r.kpis["logistics.charge_wait_min"] == pytest.approx(
        time_in_queue(fleet, sc.duration).groupby(fleet["job"]).sum().mean() / 60
    )
    ev = df[df["user"] == "ev_driver"]
    assert len(ev) and r.kpis["mobility.ev_unserved"] == ev["outcome"].isin(["balked", "reneged"]).sum()
    assert set(df.loc[df["queue"] == "ev_chargers", "user"]) >= {"ev_driver"}
    assert not (df.loc[df["user"] == "ev_driver", "queue"] != "ev_chargers").any()


def test_queue_records_are_the_same_for_the_same_seed(tiny_scenario):
    sc = load_scenario(tiny_scenario)
    a, b = run_scenario(sc, seed=4), run_scenario(sc, seed=4)
    assert len(a.queues) > 100 and a.queues.equals(b.queues)


def test_a_waiting_job_at_the_end_counts_up_to_the_end():
    df = pd.DataFrame(
        [
            ["q", "s", "a", "x", 3, 0.0, 0.0, 10.0, "served"],
            ["q", "s", "b", "x", 3, 5.0, 10.0, 20.0, "served"],
            ["q", "s", "c", "x", 3, 15.0, float("nan"), float("nan"), "waiting"],
        ],
        columns=list(COLUMNS),
    )
    assert time_in_queue(df, 30.0).tolist() == [0.0, 5.0, 15.0]
    law = littles_law(df, 30.0).set_index("part")
    assert law.loc["queue", "L"] == pytest.approx(20 / 30)
    assert law.loc["queue", "lambda_W"] == pytest.approx(20 / 30)
    assert law.loc["system", "L"] == pytest.approx((10 + 15 + 15) / 30)


@pytest.mark.slow
def test_erlang_c_through_detection_flag_and_queue(tiny_district, tmp_path):
    """Poisson incidents, AI detections flagged by the city's service, one job per incident: M/M/2 within 10%."""
    c, handling = 2, 200.0
    sc = load_scenario(
        write_scenario(
            tmp_path,
            "mmc_path",
            {
                "district": str(tiny_district),
                "duration": "6d",
                "population_scale": 0.01,
                "tick": "10s",
                "demand": {
                    "safety": {
                        "arrival": "poisson",
                        "handling": "exponential",
                        "operators": c,
                        "incidents_per_day": 220000.0,
                        "handling_time_s": handling,
                        "false_alarms_per_ai_camera_per_day": 0,
                        "call_probability": 0,
                    }
                },
                # streetlights on all night: detection does not change with daylight, so arrivals stay Poisson
                "services": [
                    {"use": "builtin:cctv_monitoring", "params": {"flag_threshold": 0}},
                    {"use": "builtin:streetlights"},
                ],
            },
        )
    )
    waits, lams = [], []
    for seed in (1, 2, 3):
        r = run_scenario(sc, seed=seed)
        q = r.queues[r.queues["queue"] == "operators"]
        assert set(q["user"]) == {"incident"}
        assert q["job"].is_unique  # one job per incident, however many cameras saw it
        lams.append(len(q) / sc.duration)
        waits.append(float(time_in_queue(q, sc.duration).mean()))
    lam = sum(lams) / len(lams)
    assert 0.5 < lam * handling / c < 0.85  # a loaded queue, not an idle one
    theory = mmc_mean_wait(lam, 1 / handling, c)
    assert sum(waits) / len(waits) == pytest.approx(theory, rel=0.1)


def _centre_world(tiny_district, tmp_path, name: str, cc: dict, **demand):
    sc = load_scenario(
        write_scenario(
            tmp_path,
            name,
            {
                "district": str(tiny_district),
                "duration": "12h",
                "control_centre": cc,
                "demand": {"safety": {"incidents_per_day": 400.0, **demand}},
                "services": BASE_SERVICES,
            },
        )
    )
    w = build_world(sc)
    w.run()
    return w


def test_one_operator_job_per_incident_and_operators_from_cameras(tiny_district, tmp_path):
    w = _centre_world(tiny_district, tmp_path, "c1", {"centre_cameras": 2400, "night_staffing": 0.5, "linked": False})
    df = w.queues.frame()
    inc = df[df["user"] == "incident"]
    assert len(inc) and inc["job"].is_unique
    assert set(df["queue"]) >= {"operators"} and "city_centre" not in set(df["queue"])
    real = [w.safety.detections[d]["_incident"].id for d in w.safety.flagged if w.safety.detections[d]["_incident"]]
    assert len(set(real)) < len(real)  # several cameras' detections of one incident were flagged ...
    assert set(real) <= set(inc["job"])  # ... and each such incident is one job
    assert sum(j.attached for j in w.safety.jobs.values()) >= len(real) - len(set(real))
    on_duty = {v for _t, m, v in w.series.rows if m == "safety.operators_on_duty"}
    assert on_duty == {2, 1}  # 2,400 cameras / 1,200 per operator by day, half that at night
    assert set(df["priority"]) <= {0, 1, 2, 3}


def test_a_linked_district_escalates_urgent_jobs_to_the_city_centre(tiny_district, tmp_path):
    busy = {"centre_cameras": 1200, "other_jobs_per_camera_per_day": 1.5, "escalate_after_s": 30}
    linked = _centre_world(tiny_district, tmp_path, "l", busy | {"linked": True})
    alone = _centre_world(tiny_district, tmp_path, "a", busy | {"linked": False})
    ld, ad = linked.queues.frame(), alone.queues.frame()
    up = ld[(ld["queue"] == "operators") & (ld["outcome"] == "escalated")]
    assert len(up) > 0 and (up["priority"] <= 1).all()
    city = ld[ld["queue"] == "city_centre"]
    assert set(up["job"]) <= set(city["job"])  # the same job, continued at the city centre
    assert "city_centre" not in set(ad["queue"]) and not (ad["outcome"] == "escalated").any()


def test_detection_ids_carry_no_incident(tiny_district, tmp_path):
    w = _centre_world(tiny_district, tmp_path, "ids", {"linked": False})
    ids = list(w.safety.detections)
    assert ids and all(re.fullmatch(r"D-[0-9a-f]{12}", i) for i in ids)
    incidents = {i.id for i in w.safety.incidents}
    assert not any(inc in d for d in ids for inc in incidents)
    again = _centre_world(tiny_district, tmp_path, "ids2", {"linked": False})
    assert list(again.safety.detections) == ids  # deterministic for the same scenario and seed


def test_control_centre_settings_are_strict(tiny_district, tmp_path):
    p = write_scenario(tmp_path, "bad", {"district": str(tiny_district), "control_centre": {"operators": 3}})
    with pytest.raises(ScenarioError, match=r"at control_centre: unknown key .operators.; allowed keys: cameras_per"):
        load_scenario(p)
    p = write_scenario(tmp_path, "bad2", {"district": str(tiny_district), "control_centre": {"linked_districts": 30}})
    with pytest.raises(ScenarioError, match=r"linked_districts.*25"):
        load_scenario(p)


def test_a_festival_crowd_saturates_its_aps(tiny_district, tmp_path):
    """Client and airtime capacity bind at the festival's peak: served % falls below coverage %."""
    base = {"district": str(tiny_district), "start": "2026-05-12T16:00", "duration": "8h", "services": BASE_SERVICES}
    quiet = run_scenario(load_scenario(write_scenario(tmp_path, "q", base)))
    fest = base | {
        "faults": [
            {"kind": "festival_crowd", "at": "18:00", "duration": "4h", "extra_visitors": 6000, "block": "blk-0003"}
        ]
    }
    busy = run_scenario(load_scenario(write_scenario(tmp_path, "f", fest | {"name": "f"})))
    k0, k1 = quiet.kpis, busy.kpis
    assert k0["connectivity.sessions_served_pct"] == pytest.approx(k0["connectivity.coverage_pct"])
    assert k1["connectivity.sessions_served_pct"] < k1["connectivity.coverage_pct"] - 1
    assert k1["connectivity.sessions_blocked"] > 0
    blocked = busy.queues[(busy.queues["queue"] == "ap_clients") & (busy.queues["outcome"] == "blocked")]
    assert len(blocked) == k1["connectivity.sessions_blocked"]
