"""Hostile fixture: sends NaN and infinity."""

from simulation.sdk import Deployment, Notify, Service, SetLight


class Hostile(Service):
    def deploy(self, site, params):
        self.poles = tuple(p.id for p in site.poles)
        return Deployment(operates=("lights",))

    def on_tick(self, obs):
        return [
            SetLight(self.poles, float("nan")),
            SetLight(self.poles, float("inf")),
            Notify("x", "y", float("inf"), 0.0, 100.0),
            Notify("x", "y", 0.0, 0.0, float("nan")),
        ]
