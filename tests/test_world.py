"""The engine: determinism, named streams, faults, the service contract, and queueing theory."""

from __future__ import annotations

import gc
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from simulation import load_scenario, run_scenario, sdk
from simulation.plugins.builtin import BUILTINS, BuiltinService
from simulation.results.queueing import mmc_mean_wait
from tests.conftest import BASE_SERVICES, write_scenario


def test_same_seed_same_day(tiny_scenario):
    sc = load_scenario(tiny_scenario)
    a, b = run_scenario(sc, seed=3), run_scenario(sc, seed=3)
    assert a.kpis == pytest.approx(b.kpis, nan_ok=True, rel=0, abs=0)
    assert a.kpi_rows().equals(b.kpi_rows())
    assert a.events.equals(b.events)


def test_runs_in_one_process_keep_one_world_of_memory(tiny_scenario):
    """The collector is paused while a world runs; the next world collects the last one's cycles."""
    from simulation.world.population import Citizen

    sc = load_scenario(tiny_scenario)
    gc.collect()
    enabled = gc.isenabled()
    counts = []
    for _ in range(3):
        r = run_scenario(sc, seed=1)
        counts.append(sum(1 for o in gc.get_objects() if type(o) is Citizen))
        assert gc.isenabled() == enabled  # the pause ends with the run
    citizens = r.meta["citizens"]
    assert citizens > 0
    # after each run at most the finished world and the one before it (uncollected yet) remain
    assert max(counts) <= 2 * citizens, counts
    assert counts[2] == counts[1]  # steady: it does not grow with the number of runs


def test_a_world_already_collected_is_not_collected_again(tiny_scenario, monkeypatch):
    """The next world runs a full collection only if the last world may still be garbage."""
    sc = load_scenario(tiny_scenario)
    run_scenario(sc, seed=1)
    collect, calls = gc.collect, []

    def counting(*args: object) -> int:
        calls.append(args)
        return collect(*args)

    monkeypatch.setattr(gc, "collect", counting)
    run_scenario(sc, seed=1)
    assert len(calls) == 1  # the last world was garbage in cycles: the next one frees it first
    collect()  # someone (a batch worker, a benchmark between timed runs) already collected
    calls.clear()
    run_scenario(sc, seed=1)
    assert calls == []


def test_different_seeds_differ(tiny_scenario):
    sc = load_scenario(tiny_scenario)
    a, b = run_scenario(sc, seed=1), run_scenario(sc, seed=2)
    assert a.kpis["connectivity.attempts"] != b.kpis["connectivity.attempts"]


class NoOp(sdk.Service):
    """Deploys nothing, does nothing."""


class Chatty(sdk.Service):
    """Reads every feed and returns actions the world must reject."""

    def deploy(self, site: sdk.SiteView, params: Mapping[str, Any]) -> sdk.Deployment:
        self.seen: list[sdk.Feedback] = []
        return sdk.Deployment(feeds=("cctv.detections", "wifi.load", "no.such.feed"), operates=("lights",))

    def on_tick(self, obs: sdk.Observation) -> Sequence[sdk.Action]:
        self.seen.extend(obs.feedback)
        return [sdk.SetLight(("no-such-pole",), 1.0), sdk.Flag("D-nothing"), sdk.SetLight((), 2.0)]


@pytest.fixture
def extra_builtins(monkeypatch):
    monkeypatch.setitem(BUILTINS, "noop", BuiltinService(NoOp, "does nothing", "test"))  # type: ignore[index]
    monkeypatch.setitem(BUILTINS, "chatty", BuiltinService(Chatty, "rejected actions", "test"))  # type: ignore[index]


def test_noop_service_changes_no_kpi(tiny_district, tmp_path, extra_builtins):
    base = {"district": str(tiny_district), "duration": "6h", "start": "2026-05-12T16:00", "services": BASE_SERVICES}
    plain = load_scenario(write_scenario(tmp_path, "plain", base))
    with_noop = load_scenario(
        write_scenario(tmp_path, "noop", base | {"services": [*BASE_SERVICES, {"use": "builtin:noop"}]})
    )
    a, b = run_scenario(plain, seed=5), run_scenario(with_noop, seed=5)
    assert a.kpis == pytest.approx(b.kpis, nan_ok=True, rel=0, abs=0)
    assert b.services["noop"]["status"] == "ok"


def test_invalid_actions_are_rejected_with_reasons(tiny_district, tmp_path, extra_builtins):
    sc = load_scenario(
        write_scenario(
            tmp_path,
            "chatty",
            {"district": str(tiny_district), "duration": "10m", "services": [{"use": "builtin:chatty"}]},
        )
    )
    r = run_scenario(sc, seed=1)
    s = r.services["chatty"]
    assert s["status"] == "ok"
    assert s["actions"] == 3 * 10 and s["rejected_actions"] == 3 * 10
    assert s["rejections"]["SetLight: no pole 'no-such-pole'"] == 10
    assert s["rejections"]["Flag: detection 'D-nothing' was not delivered to this service"] == 10


def test_rejection_reasons_reach_the_service(tiny_district, tmp_path, extra_builtins):
    from simulation.results.run import build_world

    sc = load_scenario(
        write_scenario(
            tmp_path,
            "chatty",
            {"district": str(tiny_district), "duration": "3m", "services": [{"use": "builtin:chatty"}]},
        )
    )
    w = build_world(sc, 1)
    w.run()
    service = w.host.services[0].runner.service  # type: ignore[attr-defined]
    reasons = [f.reason for f in service.seen if not f.accepted]
    assert "no feed 'no.such.feed'; feeds: " in reasons[0]
    assert "no pole 'no-such-pole'" in reasons
    assert "detection 'D-nothing' was not delivered to this service" in reasons
    assert "level must be from 0 to 1; got 2.0" in reasons


def test_fibre_cut_degrades_connectivity_and_safety(tiny_district, tmp_path):
    from simulation.config.district import load_district

    trunks = [lk.id for lk in load_district(tiny_district).links if lk.level == "trunk"]
    base = {
        "district": str(tiny_district),
        "duration": "8h",
        "start": "2026-05-12T10:00",
        "demand": {"safety": {"incidents_per_day": 600}},
        "services": BASE_SERVICES,
    }
    cut = base | {"faults": [{"kind": "fibre_cut", "link": t, "at": "11:00", "duration": "6h"} for t in trunks]}
    a = run_scenario(load_scenario(write_scenario(tmp_path, "base", base)), seed=2)
    b = run_scenario(load_scenario(write_scenario(tmp_path, "cut", cut)), seed=2)
    assert b.kpis["connectivity.sessions_served_pct"] < a.kpis["connectivity.sessions_served_pct"] - 20
    assert b.kpis["connectivity.sessions_dropped"] > 0
    assert b.kpis["safety.detected_pct"] < a.kpis["safety.detected_pct"]
    assert b.kpis["safety.time_to_detect_s"] > a.kpis["safety.time_to_detect_s"]


def test_power_outage_darkens_poles(tiny_district, tmp_path):
    from simulation.config.district import load_district

    poles = [p.id for p in load_district(tiny_district).poles]
    sc = load_scenario(
        write_scenario(
            tmp_path,
            "dark",
            {
                "district": str(tiny_district),
                "duration": "4h",
                "start": "2026-05-12T20:00",
                "services": BASE_SERVICES,
                "faults": [{"kind": "power_outage", "poles": poles, "at": "21:00", "duration": "1h"}],
            },
        )
    )
    r = run_scenario(sc, seed=1)
    assert r.kpis["infra.poles_up_min_pct"] == 0
    full = run_scenario(sc.with_(faults=[]), seed=1)
    assert r.kpis["energy.lighting_kwh"] == pytest.approx(full.kpis["energy.lighting_kwh"] * 3 / 4, rel=0.02)


def _theory(tiny_district, tmp_path, c: int, lam_per_day: float, handling_s: float):
    return load_scenario(
        write_scenario(
            tmp_path,
            f"mmc{c}",
            {
                "district": str(tiny_district),
                "duration": "20d",
                "population_scale": 0.01,
                "tick": "1h",
                "demand": {
                    "safety": {
                        "arrival": "poisson",
                        "handling": "exponential",
                        "all_to_queue": True,
                        "operators": c,
                        "incidents_per_day": lam_per_day,
                        "handling_time_s": handling_s,
                        "false_alarms_per_ai_camera_per_day": 0,
                    }
                },
            },
        )
    )


@pytest.mark.slow
def test_operator_queue_matches_erlang_c(tiny_district, tmp_path):
    """M/M/2 at ρ≈0.7: the simulated mean wait is within 5% of Erlang C over 6 replications."""
    lam, handling, c = 600.0, 200.0, 2
    sc = _theory(tiny_district, tmp_path, c, lam / 0.01, handling)  # population_scale 0.01 scales incidents
    waits, littles = [], []
    for seed in range(6):
        r = run_scenario(sc, seed=seed)
        waits.append(r.kpis["safety.operator_wait_s"])
        littles.append((r.kpis["safety.operator_queue_mean"], r.kpis["safety.incidents"] / sc.duration * waits[-1]))
    theory = mmc_mean_wait(lam / 86400, 1 / handling, c)
    assert sum(waits) / len(waits) == pytest.approx(theory, rel=0.05)
    for lq, lam_wq in littles:  # Little's law on the queue: L_q = λ W_q
        assert lq == pytest.approx(lam_wq, rel=0.05)


def test_erlang_c_formula_known_value():
    # c=2, a=1: C = 1/3; W_q = C/(cμ-λ) with μ=1, λ=1 -> 1/3
    assert mmc_mean_wait(1.0, 1.0, 2) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="stable queue"):
        mmc_mean_wait(3.0, 1.0, 2)


def test_kpis_are_nan_not_zero_without_data(tiny_district, tmp_path):
    sc = load_scenario(
        write_scenario(
            tmp_path,
            "empty",
            {
                "district": str(tiny_district),
                "duration": "30m",
                "start": "2026-05-12T03:00",
                "demand": {"safety": {"incidents_per_day": 0}},
            },
        )
    )
    r = run_scenario(sc, seed=1)
    assert math.isnan(r.kpis["safety.time_to_respond_s"])
    assert r.kpis["safety.incidents"] == 0


class Garbled(sdk.Service):
    """Returns actions whose fields have the wrong types (as a sandboxed service might)."""

    def deploy(self, site: sdk.SiteView, params: Mapping[str, Any]) -> sdk.Deployment:
        return sdk.Deployment(operates=("lights",))

    def on_tick(self, obs: sdk.Observation) -> Sequence[sdk.Action]:
        return [
            sdk.SetLight(({"pole": 1},), 0.5),  # type: ignore[arg-type]
            sdk.Notify("air_quality", "hi", "north", 0.0, 100.0),  # type: ignore[arg-type]
        ]


def test_actions_with_wrong_types_are_rejected_not_fatal(tiny_district, tmp_path, monkeypatch):
    monkeypatch.setitem(BUILTINS, "garbled", BuiltinService(Garbled, "wrong types", "test"))  # type: ignore[index]
    sc = load_scenario(
        write_scenario(
            tmp_path, "g", {"district": str(tiny_district), "duration": "5m", "services": [{"use": "builtin:garbled"}]}
        )
    )
    r = run_scenario(sc, seed=1)
    s = r.services["garbled"]
    assert r.status == "ok" and s["status"] == "ok" and s["rejected_actions"] == 10
    assert any(k.startswith("SetLight: malformed SetLight: TypeError") for k in s["rejections"])
    assert any("x, y and radius_m must be finite numbers" in k for k in s["rejections"])
