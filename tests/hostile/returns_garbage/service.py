"""Hostile fixture: returns something that is not a list of actions."""

from simulation.sdk import Deployment, Service


class Hostile(Service):
    def deploy(self, site, params):
        return Deployment()

    def on_tick(self, obs):
        return {"not": "a list"}
