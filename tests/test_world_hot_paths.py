"""The district-day's hot paths keep the model's meaning: lazy Mesa cells and thinned session draws."""

from __future__ import annotations

import math

from simulation import load_scenario
from simulation.results.run import build_world
from simulation.world.population import Population


def _cells(world) -> dict[str, list[int]]:
    """Every Mesa street cell's agents (ids, in Mesa's order), read through the population."""
    return {node: [a.unique_id for a in cell.agents] for node, cell in world.pop.street_cells().items()}


def test_mesa_cells_read_lazily_are_the_cells_moving_at_every_arrival_leaves(tiny_scenario, monkeypatch):
    """Cells brought up to date only when read hold the same agents, in the same order, as eager moves."""
    sc = load_scenario(tiny_scenario)
    lazy = build_world(sc, 1)
    lazy.run()
    arrived = Population._arrived

    def arrived_and_synced(self, *args):  # the eager reference: Mesa moved at every single arrival
        arrived(self, *args)
        self.street_cells()

    monkeypatch.setattr(Population, "_arrived", arrived_and_synced)
    eager = build_world(sc, 1)
    eager.run()
    cells = _cells(lazy)
    assert cells == _cells(eager)
    assert sum(len(ids) for ids in cells.values()) > 0
    for c in lazy.pop.citizens:  # each agent's Mesa cell is its street node (outside: no cell)
        assert (c.cell.coordinate if c.cell is not None else None) == c.node
    assert sum(c.node is not None for c in lazy.pop.citizens) == sum(len(ids) for ids in cells.values())


def test_thinned_sessions_are_poisson_with_the_interval_mean_at_uniform_times(tiny_scenario, monkeypatch):
    """Sessions per stay: Poisson with mean factor x expected profile, at times uniform within the stay."""
    sc = load_scenario(tiny_scenario)
    demand = sc.model_dump(mode="json")["demand"]
    demand["connectivity"]["sessions_per_person_per_day"] = 20.0  # ten times the default: a sharper test
    world = build_world(sc.with_(demand=demand), 1)
    conn = world.conn
    got: list[float] = []
    monkeypatch.setattr(conn.pop.cal, "at", lambda t, _fn: got.append(t))
    expected = 0.0
    positions: list[float] = []
    factors = (0.7, 1.0, 1.3)
    for citizen in world.pop.citizens:
        t = 0.0
        for k in range(20):  # 20 stays of 12 minutes with 3-minute gaps (6 h, the scenario's duration)
            t0, t1 = t, t + 720.0
            f = factors[(citizen.unique_id + k) % 3]
            before = len(got)
            conn._schedule(citizen, t0, t1, f, False)
            expected += f * conn._expected(t0, t1)
            for s in got[before:]:
                assert t0 <= s < t1
                positions.append((s - t0) / (t1 - t0))
            t = t1 + 180.0
    # Poisson total: within 4 standard deviations of its mean (a wrong acceptance rate of a few % fails)
    assert expected > 5000
    assert abs(len(got) - expected) < 4 * math.sqrt(expected), (len(got), expected)
    # uniform within the stay: mean 1/2, standard error 1/sqrt(12 n)
    mean = sum(positions) / len(positions)
    assert abs(mean - 0.5) < 4 / math.sqrt(12 * len(positions)), mean
