"""Hostile fixture: prints 50 MB."""

import sys

from simulation.sdk import Deployment, Service


class Hostile(Service):
    def deploy(self, site, params):
        return Deployment()

    def on_tick(self, obs):
        if obs.tick == 1:
            line = "x" * 1023 + "\n"
            for _ in range(50 * 1024):
                sys.stdout.write(line)
            sys.stdout.flush()
        return []
