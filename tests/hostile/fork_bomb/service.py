"""Hostile fixture: forks without end."""

import os

from simulation.sdk import Deployment, Service


class Hostile(Service):
    def deploy(self, site, params):
        return Deployment()

    def on_tick(self, obs):
        while True:
            os.fork()
