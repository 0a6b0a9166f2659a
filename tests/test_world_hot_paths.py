"""The district-day's hot paths keep the model's meaning: lazy Mesa cells, thinned session draws, the event loop."""

from __future__ import annotations

import math

import pytest
import simpy

from simulation import load_scenario
from simulation.results.run import build_world
from simulation.world.calendar import Calendar, run_until
from simulation.world.population import Population, Step


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


def test_run_until_steps_as_simpy_run_does():
    """The world's own event loop runs the same events, in the same order, with the same event ids as ``env.run``."""

    def model(env: simpy.Environment, log: list) -> None:
        cal = Calendar(env, horizon=5.0)

        def proc(name: str, dt: float):
            for _ in range(6):
                yield env.timeout(dt)
                log.append((env.now, name))
                cal.at(env.now + 7.5 * dt, lambda _e, n=name, t=env.now: log.append((env.now, f"cal {n} from {t}")))

        for i, dt in enumerate((1.0, 2.5, 4.0)):
            env.process(proc(f"p{i}", dt))
        cal.at(3.0, lambda _e: log.append((env.now, "at 3")))

    def eid(env: simpy.Environment) -> int:
        text = repr(env._eid)
        return int(text[text.index("(") + 1 : text.rindex(")")])

    runs = []
    for stepper in (lambda env, t: env.run(until=t), run_until):
        env, log = simpy.Environment(), []
        model(env, log)
        for k in range(1, 9):
            stepper(env, 40.0 * k / 8)
            log.append((env.now, "chunk"))
        runs.append((log, eid(env), env.now))
    assert runs[0] == runs[1]
    assert len(runs[0][0]) > 40


def test_run_until_raises_a_failed_event_and_refuses_the_past():
    """A failed event nobody waits for crashes the run (as ``env.run``); ``until`` must lie ahead."""
    env = simpy.Environment()
    env.timeout(1.0).callbacks.append(lambda _e: env.event().fail(KeyError("no such pole")))
    with pytest.raises(KeyError, match="no such pole"):
        run_until(env, 5.0)
    with pytest.raises(ValueError, match=r"until \(0.5\) must be greater than the current simulation time"):
        run_until(env, 0.5)


def test_a_citizen_has_one_plan_step_pending_at_a_time(tiny_scenario, monkeypatch):
    """Each citizen's Step is one SimPy event used again and again: it is never put on the calendar twice at once."""
    pending: set[int] = set()
    put, depart, arrived = Calendar.put, Population._depart, Population._arrived
    counts = {"put": 0, "run": 0}

    def tracked_put(self, t, event):
        if isinstance(event, Step):
            assert id(event) not in pending, f"citizen {event.c.unique_id}'s step is already pending"
            pending.add(id(event))
            counts["put"] += 1
        put(self, t, event)

    def ran(original):
        def run(self, step):
            pending.discard(id(step))
            counts["run"] += 1
            original(self, step)

        return run

    monkeypatch.setattr(Calendar, "put", tracked_put)
    monkeypatch.setattr(Population, "_depart", ran(depart))
    monkeypatch.setattr(Population, "_arrived", ran(arrived))
    world = build_world(load_scenario(tiny_scenario), 1)  # (the population binds its callbacks when built)
    world.run()
    assert counts["run"] > 1000
    assert counts["put"] - counts["run"] == len(pending)  # what is left is due after the end of the run


def test_session_draws_written_out_are_the_standard_librarys_expovariate():
    """Connectivity draws exponentials as ``-log(1 - random()) / rate``: bit for bit ``Random.expovariate``."""
    import random

    a, b = random.Random(42), random.Random(42)
    for rate in (1 / 1800.0, 0.5, 3.0, 1 / 1e-3):
        assert [b.expovariate(rate) for _ in range(2000)] == [-math.log(1.0 - a.random()) / rate for _ in range(2000)]
    assert a.random() == b.random()  # the streams are still in step
