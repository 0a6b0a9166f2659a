"""Hostile fixture: starts 64 threads (the sandbox allows 32 processes and threads in all)."""

import threading

from simulation.sdk import Service


class Hostile(Service):
    def deploy(self, site, params):
        stop = threading.Event()
        started = 0
        try:
            for _ in range(64):
                threading.Thread(target=stop.wait, daemon=True).start()
                started += 1
        except RuntimeError as exc:
            raise RuntimeError(f"started {started} threads, then: {exc}") from None
        finally:
            stop.set()
        raise RuntimeError(f"started all {started} threads")
