"""Running a service object inside this process (built-ins; plugins only with ``--allow-inline``)."""

from __future__ import annotations

import random

from simulation import sdk
from simulation.world.host import ServiceFailure


class InlineRunner:
    """Runs a service object in this process, still passing plain data both ways."""

    isolation = "inline"

    def __init__(self, service: sdk.Service) -> None:
        self.service = service

    def deploy(self, site: dict, params: dict, seed: int) -> dict:
        self.service.random = random.Random(seed)
        try:
            dep = self.service.deploy(sdk.from_data(site), params)
        except Exception as exc:
            raise ServiceFailure("deploy_error", f"{type(exc).__name__}: {exc}") from None
        if not isinstance(dep, sdk.Deployment):
            raise ServiceFailure("garbage", f"deploy returned {type(dep).__name__}, not a Deployment")
        return sdk.to_data(dep)

    def tick(self, obs: sdk.Observation) -> list:
        try:
            actions = self.service.on_tick(sdk.from_data(sdk.to_data(obs)))  # a copy: the world's dicts stay its own
        except Exception as exc:
            raise ServiceFailure("exception", f"{type(exc).__name__}: {exc}") from None
        if not isinstance(actions, list | tuple):
            raise ServiceFailure("garbage", f"on_tick returned {type(actions).__name__}, not a list of actions")
        return [sdk.to_data(a) if isinstance(a, sdk.Action) else a for a in actions]

    def end(self, summary: dict) -> None:
        try:
            self.service.on_end(sdk.from_data(summary))
        except Exception as exc:
            raise ServiceFailure("exception", f"on_end: {type(exc).__name__}: {exc}") from None

    def close(self) -> None:
        """Nothing to release inline."""
