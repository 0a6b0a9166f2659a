"""The simulated district: SimPy owns time, a Mesa model holds agents and space.

The world knows nothing of plugins: services reach it only through :mod:`simulation.world.host`,
which speaks SDK messages.
"""

from simulation.world.engine import World

__all__ = ["World"]
