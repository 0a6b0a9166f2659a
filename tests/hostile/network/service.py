"""Hostile fixture: opens sockets to 127.0.0.1 and a public address."""

import socket

from simulation.sdk import Service


class Hostile(Service):
    def deploy(self, site, params):
        results = []
        for host, port in (("127.0.0.1", params["port"]), ("1.1.1.1", 443)):
            try:
                socket.create_connection((host, port), timeout=1).close()
                results.append(f"{host}:{port} CONNECTED")
            except OSError as exc:
                results.append(f"{host}:{port} refused ({exc})")
        raise RuntimeError("; ".join(results))
