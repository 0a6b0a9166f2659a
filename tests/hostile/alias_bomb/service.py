"""Hostile fixture: actions built from the wall clock (they move no KPI, but two runs differ)."""

import time

from simulation.sdk import Deployment, Notify, Service


class Hostile(Service):
    def deploy(self, site, params):
        return Deployment()

    def on_tick(self, obs):
        return [Notify("status", f"alive at {time.time():.9f}", 0.0, 0.0, 1.0)]
