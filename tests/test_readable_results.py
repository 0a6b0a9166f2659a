"""Results others can read: run_id everywhere, units, timestamps, WGS84 / GeoParquet, pandas and DuckDB by glob."""

from __future__ import annotations

import glob
import json
import struct

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from simulation.config.district import load_district
from simulation.config.scenario import load_scenario
from simulation.results.run import run_scenario
from simulation.results.store import Store


@pytest.fixture(scope="module")
def stored(tiny_district, tmp_path_factory):
    from conftest import BASE_SERVICES, write_scenario

    folder = tmp_path_factory.mktemp("readable")
    sc = write_scenario(
        folder,
        "r",
        {"district": str(tiny_district), "start": "2026-05-12T16:00", "duration": "1h", "services": BASE_SERVICES},
    )
    store = Store(folder / "results")
    runs = [run_scenario(load_scenario(sc), seed=s) for s in (1, 2)]
    for r in runs:
        store.put(r)
    return store, runs, load_district(tiny_district)


def test_every_table_names_its_run(stored) -> None:
    store, runs, _ = stored
    for table in ("kpis", "timeseries", "events", "spatial"):
        for r in runs:
            df = pd.read_parquet(store.runs_dir / r.run_id / f"{table}.parquet")
            assert (df["run_id"] == r.run_id).all() and len(df) > 0, table


def test_units_timestamps_and_field_metadata(stored) -> None:
    store, runs, _ = stored
    d = store.runs_dir / runs[0].run_id
    ts = pd.read_parquet(d / "timeseries.parquet")
    assert isinstance(ts["time"].dtype, pd.DatetimeTZDtype) and str(ts["time"].dt.tz) == "UTC+09:00"
    first = ts.sort_values("t").iloc[0]
    assert first["time"] == pd.Timestamp("2026-05-12T16:00+09:00") + pd.Timedelta(seconds=float(first["t"]))
    units = dict(zip(ts["metric"], ts["unit"], strict=True))
    assert units["energy.power_kw"] == "kW" and units["population.in_district"] == "people"
    kpis = pd.read_parquet(d / "kpis.parquet")
    assert dict(zip(kpis["kpi"], kpis["unit"], strict=True))["safety.time_to_respond_s"] == "s"
    schema = pq.read_schema(d / "timeseries.parquet")
    assert schema.field("t").metadata[b"unit"] == b"s"
    assert b"Asia/Seoul" in schema.field("time").metadata[b"description"]


def test_spatial_rows_are_wgs84_with_geoparquet_metadata(stored) -> None:
    store, runs, district = stored
    path = store.runs_dir / runs[0].run_id / "spatial.parquet"
    sp = pd.read_parquet(path)
    o = district.meta.origin
    near = sp.loc[(sp["x"] ** 2 + sp["y"] ** 2).idxmin()]
    assert abs(near["lat"] - o.lat) < 0.002 and abs(near["lon"] - o.lon) < 0.002  # within ~200 m of the origin
    # 1 km east is ~0.0113° of longitude at 37.55° N
    far = sp.loc[sp["x"].idxmax()]
    assert abs((far["lon"] - near["lon"]) * 111_320 * 0.7927 - (far["x"] - near["x"])) < 1.0
    geo = json.loads(pq.read_schema(path).metadata[b"geo"])
    assert geo["primary_column"] == "geometry" and geo["columns"]["geometry"]["encoding"] == "WKB"
    assert "crs" not in geo["columns"]["geometry"]  # absent = OGC:CRS84
    order, kind, lon, lat = struct.unpack("<BIdd", sp["geometry"].iloc[0])
    assert (order, kind, lon, lat) == (1, 1, sp["lon"].iloc[0], sp["lat"].iloc[0])


def test_pandas_and_duckdb_read_a_store_folder_as_documented(stored) -> None:
    store, runs, _ = stored
    root = store.root.as_posix()
    # pandas: a glob of one table's files (run.json beside them is not Parquet)
    ts = pd.read_parquet(sorted(glob.glob(f"{root}/runs/*/timeseries.parquet")))
    assert set(ts["run_id"]) == {r.run_id for r in runs}
    kpis = pd.read_parquet(sorted(glob.glob(f"{root}/runs/*/kpis.parquet")))
    assert kpis.pivot_table(index="run_id", columns="kpi", values="value").shape[0] == 2
    # DuckDB, straight from the files
    n = duckdb.sql(f"SELECT count(DISTINCT run_id) FROM '{root}/runs/*/spatial.parquet'").fetchall()
    assert n == [(2,)]
    row = duckdb.sql(
        f"SELECT r.seed, k.value FROM '{root}/runs/*/kpis.parquet' k "
        f"JOIN read_json_auto('{root}/runs/*/run.json') r USING (run_id) "
        "WHERE k.kpi = 'safety.time_to_respond_s' ORDER BY r.seed"
    ).fetchall()
    assert [s for s, _ in row] == [1, 2]


def test_a_stored_run_loads_back_as_computed(stored) -> None:
    store, runs, _ = stored
    back = store.load(runs[0].run_id)
    for name in ("timeseries", "events", "spatial"):
        pd.testing.assert_frame_equal(getattr(back, name), getattr(runs[0], name), check_dtype=False)
