"""Hostile fixture: returns actions of unknown or wrong types."""

from simulation.sdk import Deployment, Flag, Service


class Hostile(Service):
    def deploy(self, site, params):
        return Deployment()

    def on_tick(self, obs):
        return [
            {"type": "Explode", "radius": 10},
            42,
            "flag",
            {"type": "Flag"},
            {"type": "PoleInfo", "id": "x"},
            Flag(detection=["not", "a", "string"]),
        ]
