"""Hostile fixture: loops forever in on_tick."""

from simulation.sdk import Deployment, Service


class Hostile(Service):
    def deploy(self, site, params):
        return Deployment()

    def on_tick(self, obs):
        n = 0
        while True:
            n += 1
