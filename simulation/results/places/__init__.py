"""Where each KPI happens: the map of a KPI, cell by cell, consistent with its district value.

Every KPI of the catalogue (``results.kpis``) is either **mapped** — its items have a place in the
district (an incident, a WiFi attempt, a delivery's destination, a driver's destination block, a
citizen's home block, a pole, a camera, a sensor, a charger, a notice's centre …) — or **not
mapped**, with the reason (:data:`NOT_MAPPED`). A mapped KPI declares how its items add up in a
grid cell (:class:`Where`), the same way the KPI adds them up over the district:

- ``sum``: the cell's value is the sum of its items (incidents, km, kWh); the cells sum to the KPI;
- ``mean``: the cell's value is the mean over its items (a time, a dose); the cells' values,
  weighted by ``n`` (items in the cell), average to the KPI;
- ``share``: the cell's value is a percentage of its items (served, delivered); weighted by ``n``
  (the items, or the quantity the percentage is of) they average to the KPI.

:func:`spatial_frame` computes every mapped KPI at the end of a run, vectorised, on a grid of
``GRID_M`` squares: one row per KPI and cell (``metric``, ``x``, ``y`` the cell centre, ``value``,
``n``). The world only keeps the places its totals come from (a list append per rare event).
"""

from simulation.results.places import networks, people, streets  # noqa: F401 - each registers its KPIs' maps
from simulation.results.places.core import GRID_M, NOT_MAPPED, SPATIAL_COLUMNS, WHERE, Where, mapped, spatial_frame

__all__ = ["GRID_M", "NOT_MAPPED", "SPATIAL_COLUMNS", "WHERE", "Where", "mapped", "spatial_frame"]
