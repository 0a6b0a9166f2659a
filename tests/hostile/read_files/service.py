"""Hostile fixture: reads /etc/passwd, another plugin's folder and a results store."""

from simulation.sdk import Service


class Hostile(Service):
    def deploy(self, site, params):
        results = []
        for path in params["paths"].split("|"):
            try:
                with open(path) as fh:
                    results.append(f"{path} READ {fh.read(200)!r}")
            except OSError as exc:
                results.append(f"{path} refused ({type(exc).__name__})")
        raise RuntimeError("; ".join(results))
