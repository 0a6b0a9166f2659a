"""From a scenario's service list to services the world can run: the plugin host's half of the contract.

The world (``simulation.world.host``) states what it needs — a :class:`~simulation.world.host.Runner`
per service, handed over as :class:`~simulation.world.host.ReadyService` — and this module builds
them: ``builtin:NAME`` runs inline; anything else is resolved by discovery and its manifest, and
runs in the sandbox (or inline for a developer debugging with ``--allow-inline``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

from simulation.config.scenario import ServiceSpec
from simulation.errors import ScenarioError
from simulation.plugins.builtin import BUILTINS
from simulation.plugins.inline import InlineRunner
from simulation.plugins.loader import load_runner
from simulation.world.host import ReadyService, Runner

__all__ = ["check_builtin_params", "make_runner", "start_services"]


def check_builtin_params(
    name: str, given: Mapping[str, Any], spec: Mapping[str, tuple[Any, Any, Any]], where: str
) -> dict:
    """Fill defaults and check bounds of a built-in's params; raise ScenarioError naming the key."""
    out: dict[str, Any] = {}
    for k in given:
        if k not in spec:
            allowed = ", ".join(sorted(spec)) or "none"
            raise ScenarioError(
                where, f"service {name!r} has no param {k!r} (params: {allowed})", key=f"services.{name}.params"
            )
    for k, (default, lo, hi) in spec.items():
        v = given.get(k, default)
        if isinstance(default, bool):
            if not isinstance(v, bool):
                raise ScenarioError(where, f"must be true or false; got {v!r}", key=f"services.{name}.params.{k}")
        elif isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or not lo <= v <= hi:
            raise ScenarioError(
                where, f"must be a number from {lo} to {hi}; got {v!r}", key=f"services.{name}.params.{k}"
            )
        out[k] = v
    return out


def make_runner(spec: ServiceSpec, where: str, allow_inline: bool = False) -> tuple[Runner, dict, dict]:
    """Resolve ``use`` to a runner, its checked params and a description of it."""
    if spec.use.startswith("builtin:"):
        name = spec.use.split(":", 1)[1]
        b = BUILTINS.get(name)
        if b is None:
            raise ScenarioError(
                where, f"no built-in service {name!r} (built-ins: {', '.join(sorted(BUILTINS))})", key="services.use"
            )
        params = check_builtin_params(spec.key, spec.params, b.params, where)
        info = {"use": spec.use, "category": b.category, "code": f"builtin:{name}"}
        return InlineRunner(b.cls(), capture=False), params, info
    return load_runner(spec, where, allow_inline=allow_inline)


def start_services(specs: Sequence[ServiceSpec], where: str, allow_inline: bool = False) -> list[ReadyService]:
    """Build a ready runner for each service of a scenario, in order (sandboxed ones start their process).

    If one cannot be built, the processes of those started before it are stopped and the error raised.
    """
    ready: list[ReadyService] = []
    try:
        for spec in specs:
            runner, params, info = make_runner(spec, where, allow_inline=allow_inline)
            ready.append(ReadyService(spec.key, runner, params, info))
    except BaseException:
        for s in ready:
            with contextlib.suppress(Exception):  # closing what started; the original error is the one raised
                s.runner.close()
        raise
    return ready
