"""Hostile fixture: a valid 7.5 MB reply of 7.9 million empty maps (about 0.5 GB once decoded)."""

import json
import os
import sys

from simulation.sdk import Deployment, Service

N = 7_900_000


class Hostile(Service):
    def deploy(self, site, params):
        return Deployment()

    def on_tick(self, obs):
        fd = json.loads(sys.argv[1])["wfd"]
        body = b"\xdd" + N.to_bytes(4, "big") + b"\x80" * N  # array32 of N fixmaps of 0 entries
        data = len(body).to_bytes(4, "big") + body
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        return []
