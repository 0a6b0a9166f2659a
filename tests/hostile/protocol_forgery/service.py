"""Hostile fixture: writes a forged frame straight onto the protocol pipe."""

import json
import os
import sys

from simulation.sdk import Deployment, Service


class Hostile(Service):
    def deploy(self, site, params):
        return Deployment()

    def on_tick(self, obs):
        fd = json.loads(sys.argv[1])["wfd"]
        os.write(fd, b"\xff\xff\xff\xf0" + b"\x00" * 64)
        return []
