"""Hostile fixture: calls sys.exit(3) while being imported."""

import sys

from simulation.sdk import Service

sys.exit(3)


class Hostile(Service):
    pass
