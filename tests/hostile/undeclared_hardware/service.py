"""Hostile fixture: installs a module plugin.yaml does not declare."""

from simulation.sdk import Deployment, Install, Service


class Hostile(Service):
    def deploy(self, site, params):
        return Deployment(installs=(Install(site.poles[0].id, "edge_unit"),))
