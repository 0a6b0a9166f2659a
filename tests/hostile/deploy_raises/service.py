"""Hostile fixture: raises in deploy."""

from simulation.sdk import Service


class Hostile(Service):
    def deploy(self, site, params):
        raise RuntimeError("deploy exploded on purpose")
