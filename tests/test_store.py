"""The results store: atomic per-run writes, DuckDB views, reading back exactly."""

from __future__ import annotations

import pytest

from simulation import Store, StoreError, load_scenario, run_scenario


def test_put_and_load_round_trip(tiny_scenario, tmp_path):
    r = run_scenario(load_scenario(tiny_scenario), seed=1)
    store = Store(tmp_path / "s")
    store.put(r)
    back = store.load(r.run_id)
    assert back.kpis == pytest.approx(r.kpis, nan_ok=True, abs=0)
    assert back.timeseries.equals(r.timeseries)
    assert list(store.runs().run_id) == [r.run_id]


def test_duckdb_views(tiny_scenario, tmp_path):
    sc = load_scenario(tiny_scenario)
    store = Store(tmp_path / "s")
    for seed in (1, 2):
        store.put(run_scenario(sc, seed=seed))
    con = store.connect()
    n = con.execute("SELECT count(DISTINCT run_id) FROM kpis").fetchall()[0][0]
    assert n == 2
    assert con.execute("SELECT count(*) FROM runs WHERE status = 'ok'").fetchall()[0][0] == 2


def test_failed_writer_leaves_nothing(tiny_scenario, tmp_path, monkeypatch):
    r = run_scenario(load_scenario(tiny_scenario), seed=1)
    store = Store(tmp_path / "s")

    import pyarrow.parquet as pq

    real = pq.write_table

    def boom(table, path, *a, **k):
        if str(path).endswith("events.parquet"):  # a table half-way through the run's files
            raise OSError("disk full")
        return real(table, path, *a, **k)

    monkeypatch.setattr(pq, "write_table", boom)
    with pytest.raises(OSError, match="disk full"):
        store.put(r)
    assert not store.has(r.run_id)
    assert list((tmp_path / "s" / "runs").iterdir()) == []


def test_unknown_run(tmp_path):
    with pytest.raises(StoreError, match="no run 'abc'"):
        Store(tmp_path).meta("abc")


def test_two_writers_of_the_same_run_keep_one_copy(tiny_scenario, tmp_path):
    r = run_scenario(load_scenario(tiny_scenario), seed=1)
    a, b = Store(tmp_path / "s"), Store(tmp_path / "s")
    a.put(r)
    b.put(r)  # a second worker finished the same run: no error, one copy
    assert [p.name for p in (tmp_path / "s" / "runs").iterdir()] == [r.run_id]


def test_more_replications_reuse_the_runs_already_made(tiny_scenario):
    sc = load_scenario(tiny_scenario)
    assert sc.digest == sc.with_(replications=9, seed=4).digest
    assert sc.digest != sc.with_(population_scale=0.5).digest
