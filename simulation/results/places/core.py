"""The registry of maps: how each KPI is placed and binned, and the run's spatial frame (see the package doc)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from simulation.results.kpis import CATALOGUE

if TYPE_CHECKING:
    from simulation.world import World

__all__ = [
    "EMPTY",
    "GRID_M",
    "NOT_MAPPED",
    "SPATIAL_COLUMNS",
    "WHERE",
    "Points",
    "Where",
    "at",
    "blocks",
    "cache",
    "mapped",
    "placed",
    "pts",
    "spatial_frame",
    "where",
]

GRID_M = 100.0
SPATIAL_COLUMNS = ["metric", "x", "y", "value", "n"]

#: x, y, numerator, weight of every item (a ``sum`` KPI's value is the sum of numerators).
Points = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
How = Literal["sum", "mean", "share"]


@dataclass(frozen=True)
class Where:
    """How a KPI is mapped: what its items are placed at, and how a cell adds them up."""

    place: str
    how: How
    fn: Callable[[World], Points]


WHERE: dict[str, Where] = {}

#: KPIs with no place in the district, and why.
NOT_MAPPED: dict[str, str] = {
    "connectivity.backhaul_peak_pct": "the peak of the busiest trunk fibre link: one maximum over links and time",
    "safety.operators_on_duty": "the staffing of the district control centre: one place, not spread over the district",
    "safety.operator_queue_mean": "a queue at the control centre, averaged over time: not at a place in the district",
    "safety.operator_utilisation_pct": "the control centre's operators' busy time: not at a place in the district",
    "infra.poles_up_min_pct": "the lowest district-wide share of poles up over time: a minimum of a district total",
}


def mapped(kpi: str) -> Where | None:
    """How ``kpi`` is mapped, or None (see :data:`NOT_MAPPED` for why)."""
    return WHERE.get(kpi)


def where(name: str, place: str, how: How) -> Callable[[Callable[[World], Points]], Callable[[World], Points]]:
    """Register how the catalogue KPI ``name`` is mapped: its items' place, and how a cell adds them up."""

    def deco(fn: Callable[[World], Points]) -> Callable[[World], Points]:
        if name not in CATALOGUE:
            raise KeyError(f"{name} is not a catalogue KPI")
        WHERE[name] = Where(place, how, fn)
        return fn

    return deco


def pts(x: Iterable[float], y: Iterable[float], num: Iterable[float], den: Iterable[float] | None = None) -> Points:
    """Items as arrays: positions, numerators and weights (default 1 each)."""
    xa, ya, na = (np.asarray(list(v) if not isinstance(v, np.ndarray) else v, float) for v in (x, y, num))
    da = np.ones(len(na)) if den is None else np.asarray(list(den) if not isinstance(den, np.ndarray) else den, float)
    return xa, ya, na, da


#: No items (nothing of this KPI happened anywhere).
EMPTY: Points = (np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))


def cache(w: World, key: str, make: Callable[[], object]) -> object:
    """Per finished world, one copy of what several KPIs' maps share."""
    v = w.__dict__.get(key)
    if v is None:
        v = w.__dict__[key] = make()
    return v


def xy_of(w: World) -> dict[str, tuple[float, float]]:
    """Positions of poles, devices and chargers by id."""

    def make() -> dict[str, tuple[float, float]]:
        out = {p.id: (p.x, p.y) for p in w.d.poles}
        out.update({d.id: (d.x, d.y) for d in w.d.devices})
        out.update({c.id: (c.x, c.y) for c in w.mobility.chargers.values()})
        return out

    return cache(w, "_places_xy", make)  # type: ignore[return-value]


def at(w: World, ids: Iterable[str], num: Iterable[float]) -> Points:
    """Items at the place (pole, device, charger) of each id; ids without a place are left out."""
    return placed(xy_of(w), ids, num)


def placed(xy: Mapping[str, tuple[float, float]], ids: Iterable[str], num: Iterable[float]) -> Points:
    """Items at ``xy[id]`` of each id, with its value; ids ``xy`` does not hold are left out."""
    rows = [(*xy[i], v) for i, v in zip(ids, num, strict=True) if i in xy]
    if not rows:
        return EMPTY
    a = np.asarray(rows, float)
    return a[:, 0], a[:, 1], a[:, 2], np.ones(len(a))


def blocks(w: World, blocks: Iterable[int] | np.ndarray, num: np.ndarray | None = None) -> Points:
    """Items at blocks (indices into the district's blocks)."""
    b = np.fromiter(blocks, np.int64) if not isinstance(blocks, np.ndarray) else blocks
    if not len(b):
        return EMPTY
    xy: tuple[np.ndarray, np.ndarray] = cache(  # type: ignore[assignment]
        w, "_places_blocks", lambda: (np.array([k.x for k in w.d.blocks]), np.array([k.y for k in w.d.blocks]))
    )
    bx, by = xy
    n = np.ones(len(b)) if num is None else num
    return bx[b], by[b], n, np.ones(len(b))


# --------------------------------------------------------------------------- the run's spatial frame
def spatial_frame(w: World, grid_m: float = GRID_M) -> pd.DataFrame:
    """Every mapped KPI per ``grid_m`` cell of a finished world: metric, x, y (cell centre), value, n.

    A ``sum`` KPI's cells sum to its value; a ``mean``/``share`` KPI's cells, weighted by ``n``,
    average to it. Cells without items (or, for a mean or share, with no weight) have no row.
    Each KPI is binned on its own (items never pile up across KPIs); items at the same places
    (the WiFi attempts of several KPIs) are binned once.
    """
    binned: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # id(x) -> (x kept alive, cells, codes)
    names: list[str] = []
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for name, spec in WHERE.items():
        x, y, num, den = spec.fn(w)
        if not len(x):
            continue
        hit = binned.get(id(x))
        if hit is None or hit[0] is not x:
            key = (np.floor(x / grid_m).astype(np.int64) << 32) + (np.floor(y / grid_m).astype(np.int64) + (1 << 31))
            cells, codes = np.unique(key, return_inverse=True)
            hit = binned[id(x)] = (x, cells, codes)
        _x, cells, codes = hit
        total = np.bincount(codes, weights=num, minlength=len(cells))
        weight = np.bincount(codes, weights=den, minlength=len(cells))
        if spec.how == "sum":
            keep, value = np.ones(len(cells), bool), total
        else:
            keep = weight > 0
            value = total[keep] / weight[keep]
        names.append(name)
        parts.append((cells[keep], value, weight[keep], np.full(int(keep.sum()), len(names) - 1)))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "metric" else float) for c in SPATIAL_COLUMNS})
    cells, value, weight, k = (np.concatenate(p) for p in zip(*parts, strict=True))
    return pd.DataFrame(
        {
            "metric": np.asarray(names, object)[k],
            "x": ((cells >> 32) + 0.5) * grid_m,
            "y": ((cells & 0xFFFFFFFF) - (1 << 31) + 0.5) * grid_m,
            "value": value,
            "n": weight,
        }
    )
