"""Self-describing result tables: one helper applied to every table a run writes.

What a reader gets in every ``STORE/runs/<run_id>/<table>.parquet`` (no code of ours needed):

- ``run_id`` in every table, so files globbed together stay apart;
- ``time``: a real timestamp (Asia/Seoul, +09:00) beside ``t`` (seconds from the scenario start);
- ``unit`` per row where a row's ``value`` has one (KPIs, time-series metrics);
- spatial rows: ``lon``/``lat`` (WGS84, EPSG:4326) beside the local ``x``/``y`` metres, and a WKB
  ``geometry`` column with GeoParquet 1.1 ``geo`` metadata, so GeoPandas and GIS tools place them;
- Parquet field metadata on every column: ``unit`` and ``description``; the table's own metadata
  (``pilot_sandbox``) names the table, the run and the columns the store added.

:func:`to_arrow` adds all that; :func:`from_stored` takes the added columns off again, so a stored
run loads back exactly as it was computed. A new table (e.g. ``queues``) gets the same treatment by
going through :func:`write_table`.
"""

from __future__ import annotations

import json
import math
import struct
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ADDED", "COLUMN_DOCS", "METRIC_UNITS", "from_stored", "metric_unit", "to_arrow", "write_table"]

KST = timezone(timedelta(hours=9))
M_PER_DEG_LAT = 110_540.0  # the district projection's (simulation.config.district)
M_PER_DEG_LON_EQ = 111_320.0

#: Columns the store adds; :func:`from_stored` removes them (``run_id`` only where the run had none).
ADDED = ("run_id", "time", "unit", "lon", "lat", "geometry")

#: column -> (unit, description), written as Parquet field metadata.
COLUMN_DOCS: dict[str, tuple[str, str]] = {
    "run_id": ("", "the run's identity: hash of scenario, district, code, version and seed"),
    "scenario": ("", "scenario name"),
    "seed": ("", "replication seed"),
    "t": ("s", "seconds since the scenario start"),
    "time": ("timestamp", "wall-clock time of the sample in the district (Asia/Seoul, UTC+09:00)"),
    "metric": ("", "what is measured (see the unit column)"),
    "kpi": ("", "KPI name (python -m simulation kpis)"),
    "value": ("see unit column", "the measured value, in the row's unit"),
    "unit": ("", "unit of the row's value"),
    "kind": ("", "event kind"),
    "subject": ("", "what the event is about (a device, service or person id)"),
    "detail": ("", "event details as JSON"),
    "x": ("m", "metres east of the district origin (local tangent plane)"),
    "y": ("m", "metres north of the district origin (local tangent plane)"),
    "n": ("", "spatial rows: items behind the cell's value (its weight when averaging cells; results.places)"),
    "queue": ("", "which queue: operators, city_centre, ev_chargers, drone_pads, hub_pads, ap_clients"),
    "server": ("", "the server (centre, charger, pad, AP) the job queued for"),
    "job": ("", "the job's id in its queue"),
    "user": ("", "who queued: an incident's job, a fleet unit, an EV driver, a session (opaque)"),
    "priority": ("", "priority level (0 highest); empty where the queue has none"),
    "arrival": ("s", "seconds since the scenario start when the job joined the queue"),
    "start": ("s", "seconds since the scenario start when service began (empty: never served)"),
    "end": ("s", "seconds since the scenario start when the job left (empty: still there at the end)"),
    "outcome": ("", "how the job left: served, abandoned, rerouted, unfinished, ..."),
    "lon": ("degree", "longitude, WGS84 (EPSG:4326)"),
    "lat": ("degree", "latitude, WGS84 (EPSG:4326)"),
    "geometry": ("", "the point as WKB, WGS84 (GeoParquet 1.1)"),
}

#: Units of the time-series metrics (``sdot:<sensor>:<variable>`` rows use :data:`_SDOT_UNITS`).
METRIC_UNITS: dict[str, str] = {
    "connectivity.active_sessions": "sessions",
    "connectivity.aps_up": "APs",
    "connectivity.attempts": "attempts",
    "energy.lit_where_people_pct": "%",
    "energy.power_kw": "kW",
    "environment.noise_mean_db": "dB(A)",
    "environment.pm25_max": "µg/m³",
    "environment.pm25_mean": "µg/m³",
    "environment.sensors_up": "sensors",
    "environment.temperature_mean_c": "°C",
    "infra.poles_up_pct": "%",
    "infra.trunk_utilisation": "fraction",
    "lights.on_pct": "%",
    "logistics.charge_queue": "robots",
    "logistics.parcels_waiting": "parcels",
    "logistics.units_busy": "units",
    "mobility.chargers_busy": "chargers",
    "mobility.parking_occupancy_pct": "%",
    "population.in_district": "people",
    "safety.operators_on_duty": "operators",
    "safety.queue_length": "jobs",
}
_SDOT_UNITS = {"pm25": "µg/m³", "pm10": "µg/m³", "temperature_c": "°C", "humidity_pct": "%", "noise_db": "dB(A)"}


def metric_unit(name: str) -> str | None:
    """Unit of a KPI or time-series metric, None when unknown."""
    from simulation.results.kpis import CATALOGUE

    if name in CATALOGUE:
        return CATALOGUE[name].unit
    if name in METRIC_UNITS:
        return METRIC_UNITS[name]
    if name.startswith("sdot:"):
        return _SDOT_UNITS.get(name.rsplit(":", 1)[-1])
    if name.endswith("_pct"):
        return "%"
    return None


def _wkb_points(lon: np.ndarray, lat: np.ndarray) -> list[bytes]:
    head = struct.pack("<BI", 1, 1)  # little endian, Point
    return [head + struct.pack("<dd", a, b) for a, b in zip(lon.tolist(), lat.tolist(), strict=True)]


def _context(run: Mapping[str, Any]) -> tuple[datetime | None, tuple[float, float] | None]:
    """The run's start (tz-aware) and district origin (lat, lon), from its provenance."""
    prov = run.get("provenance") or {}
    start = None
    raw = (prov.get("scenario_resolved") or {}).get("start")
    if raw:
        start = datetime.fromisoformat(str(raw))
        start = start.replace(tzinfo=KST) if start.tzinfo is None else start
    origin = prov.get("district_origin")
    return start, ((float(origin["lat"]), float(origin["lon"])) if origin else None)


def to_arrow(name: str, df: pd.DataFrame, run: Mapping[str, Any]) -> pa.Table:
    """``df`` with the store's added columns and metadata (``run`` is the run.json mapping)."""
    import pyarrow as pa

    out = df.copy()
    added: list[str] = []
    if "run_id" not in out.columns:
        out.insert(0, "run_id", pd.Series([run["run_id"]] * len(out), dtype="string", index=out.index))
        added.append("run_id")
    start, origin = _context(run)
    if "t" in out.columns and start is not None:
        t = pd.to_numeric(out["t"], errors="coerce").astype(float)
        at = pd.Timestamp(start).as_unit("ms") + pd.to_timedelta(t.round(3), unit="s")
        out.insert(list(out.columns).index("t") + 1, "time", at)
        added.append("time")
    key = "kpi" if "kpi" in out.columns else "metric" if "metric" in out.columns else None
    if key is not None and "value" in out.columns and "unit" not in out.columns:
        names = out[key].astype(str)
        units = {n: metric_unit(n) for n in names.unique()}
        out.insert(list(out.columns).index("value") + 1, "unit", names.map(units).astype("string"))
        added.append("unit")
    geo: dict[str, Any] | None = None
    if {"x", "y"} <= set(out.columns) and origin is not None:
        lat0, lon0 = origin
        x, y = out["x"].astype(float).to_numpy(), out["y"].astype(float).to_numpy()
        lon = lon0 + x / (M_PER_DEG_LON_EQ * math.cos(math.radians(lat0)))
        lat = lat0 + y / M_PER_DEG_LAT
        out["lon"], out["lat"] = np.round(lon, 7), np.round(lat, 7)
        out["geometry"] = _wkb_points(out["lon"].to_numpy(), out["lat"].to_numpy())
        added += ["lon", "lat", "geometry"]
        bbox = [float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())] if len(out) else []
        geo = {
            "version": "1.1.0",
            "primary_column": "geometry",
            "columns": {"geometry": {"encoding": "WKB", "geometry_types": ["Point"], "bbox": bbox}},
        }
        if not bbox:
            del geo["columns"]["geometry"]["bbox"]
    table = pa.Table.from_pandas(out, preserve_index=False)
    fields = []
    for f in table.schema:
        unit, desc = COLUMN_DOCS.get(f.name, ("", ""))
        meta = {k: v for k, v in (("unit", unit), ("description", desc)) if v}
        fields.append(f.with_metadata(meta) if meta else f)
    # no "crs" key: GeoParquet's default, OGC:CRS84 (WGS84 lon/lat)
    file_meta = {
        b"pilot_sandbox": json.dumps({"table": name, "run_id": run["run_id"], "added_columns": added}).encode()
    }
    if geo is not None:
        file_meta[b"geo"] = json.dumps(geo).encode()
    schema = pa.schema(fields, metadata={**(table.schema.metadata or {}), **file_meta})
    return table.cast(schema)


def write_table(path: Path, name: str, df: pd.DataFrame, run: Mapping[str, Any]) -> None:
    """Write one result table as self-describing Parquet (see the module docstring)."""
    import pyarrow.parquet as pq

    pq.write_table(to_arrow(name, df, run), path)


def from_stored(path: Path) -> pd.DataFrame:
    """A stored table as the run computed it: the columns the store added taken off again."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = json.loads((table.schema.metadata or {}).get(b"pilot_sandbox", b"{}"))
    drop = [c for c in meta.get("added_columns", []) if c in table.column_names]
    return table.drop_columns(drop).to_pandas() if drop else table.to_pandas()
