"""Two example companies competing for the same S-Pole slots (scenarios/contention_dock_poles*.yaml).

Clearsight puts a dock-watch edge unit on each drone dock's pole; Skyport needs two C2 gateways
within 150 m of each dock. In Sangam the poles of dock-001 (pole-012) and dock-003 (pole-239) have
two free slots each: room for either vendor alone, not for both. Installs are applied in the order
the services are listed, so whoever comes second is refused on those poles, with the reason in its
summary's ``rejections``. The shipped scenarios are run as they are, only shortened (a lunchtime
window, a fifth of the population) and inline, so the test stays fast and deterministic.
"""

from __future__ import annotations

import math

import pytest
from conftest import ROOT

from simulation import load_scenario, run_scenario

SKYPORT, CLEARSIGHT = "skyport_drone_delivery", "clearsight_ai_cctv"
SHORT = {"start": "2026-05-12T11:00", "duration": "3h", "population_scale": 0.2}
SLOT_TAKEN = "install: pole {pole} has 0 free slots; {module} needs 1"


def _run(name: str):
    sc = load_scenario(ROOT / "scenarios" / f"{name}.yaml", **SHORT)
    services = [s.model_dump() | ({} if s.use.startswith("builtin:") else {"isolation": "inline"}) for s in sc.services]
    return run_scenario(sc.with_(services=services), allow_inline=True)


@pytest.fixture(scope="module")
def runs():
    return {
        name: _run(name)
        for name in (SKYPORT, CLEARSIGHT, "contention_dock_poles", "contention_dock_poles_skyport_first")
    }


def _busy(result) -> float:
    ts = result.timeseries
    return float(ts[ts["metric"] == "logistics.units_busy"]["value"].mean())


def test_each_vendor_alone_gets_every_slot_it_asks_for(runs):
    sky, clear = runs[SKYPORT].services[SKYPORT], runs[CLEARSIGHT].services[CLEARSIGHT]
    assert sky["status"] == clear["status"] == "ok"
    assert sky["rejections"] == {} and clear["rejections"] == {}
    assert len(sky["installed"]) == 6  # two C2 gateways at each of the three docks
    assert {"clearsight-edge-1", "clearsight-edge-3"} <= set(clear["installed"])  # dock watch at dock-001, dock-003


def test_second_in_line_skyport_is_refused_on_the_dock_poles_and_delivers_less(runs):
    both, solo = runs["contention_dock_poles"], runs[SKYPORT]
    sky, clear = both.services[SKYPORT], both.services[CLEARSIGHT]
    # first come, first served: Clearsight (listed first) keeps exactly what it has alone
    assert clear["rejections"] == {} and clear["installed"] == runs[CLEARSIGHT].services[CLEARSIGHT]["installed"]
    assert sky["rejections"] == {
        SLOT_TAKEN.format(pole="pole-012", module="gateway"): 1,
        SLOT_TAKEN.format(pole="pole-239", module="gateway"): 1,
    }
    assert len(sky["installed"]) == 4
    # without their redundant C2 link the drones of dock-001 and dock-003 stay on the ground: fewer
    # drones fly, the three at dock-002 queue for its single pad, and orders wait for couriers
    k, k0 = both.kpis, solo.kpis
    assert _busy(both) < 0.8 * _busy(solo)
    assert k["logistics.charge_wait_min"] > 1.5 * k0["logistics.charge_wait_min"]
    assert k["logistics.delivery_time_min"] > k0["logistics.delivery_time_min"] + 2
    assert k["logistics.vehicle_km"] > k0["logistics.vehicle_km"]


def test_the_order_decides_who_loses(runs):
    swapped = runs["contention_dock_poles_skyport_first"]
    sky, clear = swapped.services[SKYPORT], swapped.services[CLEARSIGHT]
    assert sky["rejections"] == {} and len(sky["installed"]) == 6
    assert clear["rejections"] == {
        SLOT_TAKEN.format(pole="pole-012", module="edge_unit"): 1,
        SLOT_TAKEN.format(pole="pole-239", module="edge_unit"): 1,
    }
    assert {"clearsight-edge-1", "clearsight-edge-3"}.isdisjoint(clear["installed"])
    # Skyport, first in line, delivers exactly as it does alone (same seed, same orders)
    for kpi in ("logistics.delivery_time_min", "logistics.vehicle_km", "logistics.charge_wait_min"):
        assert math.isclose(swapped.kpis[kpi], runs[SKYPORT].kpis[kpi])
