"""``load_runner``: from a scenario's ``use:`` to a runner the service host can drive.

Third-party services run sandboxed unless the scenario (or manifest) asks for ``isolation:
inline`` *and* the user passed ``--allow-inline``; either way a guard checks the service's
deployment against what its manifest declares (hardware it brings, feeds it reads).
"""

from __future__ import annotations

import importlib
import re
import sys
import types
from collections import Counter
from typing import Any

from simulation import sdk
from simulation.config.scenario import ServiceSpec
from simulation.errors import ScenarioError
from simulation.plugins.discovery import Plugin, resolve_plugin
from simulation.plugins.inline import InlineRunner
from simulation.plugins.manifest import Manifest, check_params
from simulation.plugins.sandbox import SandboxRunner
from simulation.plugins.selfcheck import ensure_sandbox
from simulation.world.host import Runner, ServiceFailure

__all__ = ["GuardedRunner", "InlinePluginRunner", "load_runner"]


class InlinePluginRunner(InlineRunner):
    """A plugin imported into this process (``--allow-inline`` debugging only): no isolation at all."""

    isolation = "inline"

    def __init__(self, plugin: Plugin) -> None:
        super().__init__(sdk.Service())
        self.plugin = plugin
        self._loaded = False

    def _load(self) -> None:
        m = self.plugin.manifest
        pkg_name = f"_pilot_plugin_{m.name}_{self.plugin.code_hash}"
        for key in [k for k in sys.modules if k == pkg_name or k.startswith(pkg_name + ".")]:
            del sys.modules[key]  # a fresh import per run, as in a fresh sandbox
        pkg = types.ModuleType(pkg_name)
        pkg.__path__ = [str(self.plugin.folder)]
        sys.modules[pkg_name] = pkg
        try:
            mod = importlib.import_module(f"{pkg_name}.{m.entry_module}")
            cls = getattr(mod, m.entry_class, None)
            if not isinstance(cls, type) or not issubclass(cls, sdk.Service):
                raise TypeError(f"entry {m.entry!r} is not a subclass of simulation.sdk.Service")
            self.service = cls()
        except Exception as exc:
            raise ServiceFailure("deploy_error", f"import: {type(exc).__name__}: {exc}") from None
        self._loaded = True

    def deploy(self, site: dict, params: dict, seed: int) -> dict:
        """Import the plugin, then deploy it."""
        if not self._loaded:
            self._load()
        return super().deploy(site, params, seed)


class GuardedRunner:
    """Wraps a runner; refuses a deployment that brings hardware or reads feeds the manifest does not declare."""

    def __init__(self, inner: Runner, manifest: Manifest) -> None:
        self.inner = inner
        self.manifest = manifest
        self.isolation = inner.isolation
        self._rejected: Counter[str] = Counter()  # why the world rejected actions, ids masked
        self._example: dict[str, str] = {}  # masked reason -> the first reason as given

    def deploy(self, site: dict, params: dict, seed: int) -> dict:
        """Deploy, then check installs and feeds against the manifest."""
        out = self.inner.deploy(site, params, seed)
        problem = deployment_problem(out, self.manifest)
        if problem:
            raise ServiceFailure("deploy_error", problem)
        return out

    def tick(self, obs: sdk.Observation) -> list:
        """Pass through, tallying why earlier actions were rejected (for the conformance report)."""
        for fb in obs.feedback:
            if not fb.accepted:
                reason = f"{fb.action}: {fb.reason}"[:300]
                key = re.sub(r"'[^']*'", "'…'", reason)
                if key in self._rejected or len(self._rejected) < 50:
                    self._rejected[key] += 1
                    self._example.setdefault(key, reason)
        return self.inner.tick(obs)

    @property
    def rejections(self) -> dict[str, int]:
        """Why the world rejected this service's actions: an example of each reason, with its count."""
        return {self._example[k]: n for k, n in self._rejected.most_common()}

    def end(self, summary: dict) -> None:
        """Pass through."""
        self.inner.end(summary)

    def close(self) -> None:
        """Pass through."""
        self.inner.close()

    def log_text(self) -> str:
        """The service's captured output ('' when inline)."""
        fn = getattr(self.inner, "log_text", None)
        return fn() if callable(fn) else ""


def deployment_problem(dep: Any, m: Manifest) -> str | None:
    """Why a deployment (plain data) breaks the manifest's declarations, or None."""
    if not isinstance(dep, dict):
        return None  # the host reports malformed deployments
    declared = {h.module: h.units for h in m.hardware}
    counts: Counter[str] = Counter()
    for inst in dep.get("installs") or []:
        if isinstance(inst, dict):
            counts[str(inst.get("module"))] += 1
    for module, n in sorted(counts.items()):
        if module not in declared:
            listed = ", ".join(sorted(declared)) or "none"
            return (
                f"installs {n} {module!r} module(s), which plugin.yaml does not declare under hardware "
                f"(declared: {listed})"
            )
        if n > declared[module]:
            return f"installs {n} {module!r} modules; plugin.yaml declares at most {declared[module]} (hardware units)"
    fleet = [f for f in dep.get("fleet") or [] if isinstance(f, dict)]
    if fleet and m.fleet is None:
        return "brings a fleet, which plugin.yaml does not declare (add a fleet block: kind, units, speed, battery)"
    if fleet and m.fleet is not None:
        kinds = sorted({str(f.get("kind")) for f in fleet} - {m.fleet.kind})
        if kinds:
            return f"brings {kinds[0]!r} units; plugin.yaml declares a fleet of {m.fleet.kind!r}"
        units = sum(f["units"] for f in fleet if isinstance(f.get("units"), int) and not isinstance(f["units"], bool))
        if units > m.fleet.units:
            return f"brings {units} {m.fleet.kind} units; plugin.yaml declares at most {m.fleet.units} (fleet units)"
    for feed in dep.get("feeds") or []:
        if feed not in m.feeds:
            listed = ", ".join(m.feeds) or "none"
            return f"subscribes to feed {feed!r}, which plugin.yaml does not list under feeds (listed: {listed})"
    return None


def load_runner(spec: ServiceSpec, where: str, allow_inline: bool = False) -> tuple[Runner, dict, dict]:
    """Resolve a non-builtin ``use:`` to (runner, checked params, info with the plugin's code hash)."""
    plugin = resolve_plugin(spec.use, where)
    m = plugin.manifest
    params = check_params(m, spec.params, where, spec.key)
    isolation = spec.isolation or m.isolation
    runner: Runner
    if isolation == "inline":
        if not allow_inline:
            raise ScenarioError(
                where,
                f"service {spec.key!r} asks to run inline, inside the simulator, with no isolation; "
                "only built-ins run inline, or a developer debugging with --allow-inline",
                key=f"services.{spec.key}.isolation",
            )
        runner = InlinePluginRunner(plugin)
    else:
        mode = ensure_sandbox(spec.key)
        runner = SandboxRunner(plugin, spec.key, mode=mode)
    info = {
        "use": spec.use,
        "category": m.category,
        "code": plugin.code,
        "plugin": m.name,
        "vendor": m.vendor,
        "version": m.version,
        "folder": str(plugin.folder),
        "origin": plugin.origin,
    }
    return GuardedRunner(runner, m), params, info
