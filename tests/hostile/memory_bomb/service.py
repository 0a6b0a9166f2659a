"""Hostile fixture: allocates memory until it runs out."""

from simulation.sdk import Deployment, Service


class Hostile(Service):
    def deploy(self, site, params):
        return Deployment()

    def on_tick(self, obs):
        hoard = []
        while True:
            hoard.append(bytearray(16 << 20))
