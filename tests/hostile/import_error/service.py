"""Hostile fixture: imports a module that does not exist."""

import definitely_not_a_module_xyz  # noqa: F401

from simulation.sdk import Service


class Hostile(Service):
    pass
