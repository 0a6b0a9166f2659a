"""Hostile fixture: raises in every on_tick."""

from simulation.sdk import Deployment, Service


class Hostile(Service):
    def deploy(self, site, params):
        return Deployment()

    def on_tick(self, obs):
        return [1 / 0]
