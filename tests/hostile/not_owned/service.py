"""Hostile fixture: acts on units, poles, cameras and devices it does not own."""

from simulation.sdk import Deployment, Dispatch, Service, SetLight, Transmit, View


class Hostile(Service):
    def deploy(self, site, params):
        self.pole = site.poles[0].id
        self.cam = site.devices_of("camera")[0].id
        return Deployment()

    def on_tick(self, obs):
        return [
            SetLight((self.pole,), 0.0),
            Transmit("someone-elses-module", 500.0),
            View((self.cam,)),
            Dispatch("van-1", "request-1"),
        ]
