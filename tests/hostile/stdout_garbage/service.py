"""Hostile fixture: writes binary garbage to stdout and stderr every tick."""

import os

from simulation.sdk import Deployment, Service


class Hostile(Service):
    def deploy(self, site, params):
        os.write(1, bytes(range(256)) * 64)
        return Deployment()

    def on_tick(self, obs):
        os.write(1, b"\x00\xff garbage \x93\x01\x02" * 100)
        os.write(2, b"\xde\xad\xbe\xef" * 100)
        print("{not: json", flush=True)
        return []
