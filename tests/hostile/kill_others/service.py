"""Hostile fixture: signals other processes."""

import os
import signal

from simulation.sdk import Service


class Hostile(Service):
    def deploy(self, site, params):
        results = []
        for pid in (params["pid"], 1, -1, os.getppid()):
            try:
                os.kill(pid, signal.SIGKILL)
                results.append(f"{pid} KILLED")
            except OSError as exc:
                results.append(f"{pid} refused ({exc})")
        raise RuntimeError("; ".join(results))
