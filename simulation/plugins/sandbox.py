"""The sandboxed runner: a company's service in its own bubblewrap jail, spoken to over pipes.

One batched call per decision tick, each with a deadline; replies are size-capped and checked
before the host sees them; every way the service can misbehave becomes a typed
:class:`~simulation.world.host.ServiceFailure`. How the process is confined is in ``launch.py``;
the self-check that refuses to run untrusted code when confinement does not hold, in
``selfcheck.py``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import weakref
from dataclasses import replace
from pathlib import Path
from typing import Any

from simulation import sdk
from simulation.errors import PluginError
from simulation.plugins import protocol
from simulation.plugins.discovery import Plugin
from simulation.plugins.launch import ServiceProcess, exit_reason
from simulation.plugins.settings import SETTINGS, SandboxSettings
from simulation.world.host import ServiceFailure

__all__ = ["SandboxRunner"]

FAILURE_KINDS = {"exception", "deploy_error", "garbage", "memory", "crash", "timeout", "protocol"}
KILLING_KINDS = {"memory", "crash", "timeout", "protocol"}


class SandboxRunner:
    """A runner (see ``simulation.world.host.Runner``) for a plugin in its own process."""

    def __init__(
        self, plugin: Plugin, name: str, mode: str = "sandbox", settings: SandboxSettings | None = None
    ) -> None:
        self.isolation = mode
        self.name = name
        self.plugin = plugin
        self.settings = replace(settings or SETTINGS)  # limits as they were when the run was set up
        self._stage = Path(tempfile.mkdtemp(prefix=f"pilot-sandbox-{plugin.name}-"))
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._stage, True)
        (self._stage / "plugin").mkdir()
        (self._stage / "work").mkdir()
        try:
            plugin.snapshot(self._stage / "plugin")
        except OSError as exc:
            raise PluginError(plugin.name, f"cannot copy the plugin folder for the sandbox: {exc}") from None
        cfg = {"entry": plugin.manifest.entry}
        self.proc = ServiceProcess(mode, self.settings, cfg, self._stage / "plugin", self._stage / "work")
        self.ready = False
        self.start_cpu_s = 0.0  # CPU seconds the process used to start: interpreter, runner, plugin import
        self.dead: str | None = None
        self.calls = 0  # every call (deploy, ticks, end) and the wall time spent in them
        self.call_s = 0.0
        self.cpu_s = 0.0  # CPU seconds the service process reported using so far
        self.ticks = 0  # on_tick calls only, and their slowest
        self.tick_s = 0.0
        self.tick_max_s = 0.0
        self._output_reported = False

    # ------------------------------------------------------------ Runner protocol
    def deploy(self, site: dict, params: dict, seed: int) -> dict:
        """Wait for the import to finish, then ask where to install what."""
        self._await_ready()
        msg: dict[str, Any] = {"op": "deploy", "site": site, "params": params, "seed": int(seed)}
        cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()
        if len(cpus) == 1:  # the host keeps to one CPU for the run (see host.one_cpu): share it
            msg["cpu"] = next(iter(cpus))
        out = self._call(
            msg,
            self.settings.deploy_timeout_s,
            "deploy",
        )
        if not isinstance(out, dict):
            raise ServiceFailure("garbage", f"replied with a {type(out).__name__}, not a Deployment")
        return out

    def tick(self, obs: sdk.Observation) -> list:
        """One batched call: the observation in, the tick's actions out.

        The request is the array ``["tick", observation]``, the observation packed straight from
        the dataclass (as ``to_data`` has it); the child rebuilds it as it unpacks it.
        """
        out = self._call(("tick", obs), self.settings.tick_timeout_s, "on_tick")
        if not isinstance(out, list):
            raise ServiceFailure("garbage", f"replied with a {type(out).__name__}, not a list of actions")
        return out

    def end(self, summary: dict) -> None:
        """Tell the service the run is over."""
        self._call({"op": "end", "summary": summary}, self.settings.end_timeout_s, "on_end")

    def close(self) -> None:
        """Stop the process and delete the private copies."""
        self.proc.close()
        self._cleanup()

    def log_text(self) -> str:
        """What the service printed (capped)."""
        return self.proc.log_text()

    # ------------------------------------------------------------ internals
    def _await_ready(self) -> None:
        if self.ready:
            return
        limit = self.settings.start_timeout_s
        deadline = self.proc.started + limit
        try:
            msg = self.proc.recv(deadline)
        except protocol.Deadline:
            self._stop(f"did not finish starting and importing {self.plugin.manifest.entry!r} within {limit:g} s")
            raise ServiceFailure("timeout", self.dead or "") from None
        except protocol.Eof:
            raise self._died("while starting: ") from None
        except protocol.Overrun as exc:
            self._stop(str(exc))
            raise ServiceFailure("protocol", f"while starting: {exc}") from None
        if isinstance(msg, dict) and msg.get("op") == "ready":
            self.ready = True
            cpu = msg.get("cpu")
            self.start_cpu_s = cpu if isinstance(cpu, float) else 0.0
            return
        if isinstance(msg, dict) and msg.get("op") == "error":
            kind = msg.get("kind") if msg.get("kind") in FAILURE_KINDS else "deploy_error"
            self._stop("failed to import")
            raise ServiceFailure(str(kind), str(msg.get("message", ""))[:2000])
        self._stop("protocol")
        raise ServiceFailure("protocol", "sent something other than 'ready' after starting")

    def _call(self, msg: Any, timeout: float, what: str) -> Any:
        # the host prefixes failures of deploy and on_tick with the call's name; on_end it does not
        label = f"{what}: " if what == "on_end" else ""
        if self.dead:
            raise ServiceFailure("crash", f"{label}the service process is not running ({self.dead})")
        t0 = time.perf_counter()
        try:
            reply = self.proc.call(msg, timeout)
        except protocol.Deadline:
            self._stop(f"{what} did not return within {timeout:g} s")
            raise ServiceFailure(
                "timeout", f"{label}did not return within {timeout:g} s (the deadline); the service was stopped"
            ) from None
        except protocol.Eof:
            raise self._died(label) from None
        except protocol.Overrun as exc:
            self._stop(str(exc))
            raise ServiceFailure("protocol", f"{label}{exc}") from None
        finally:
            dt = time.perf_counter() - t0
            self.calls += 1
            self.call_s += dt
            if what == "on_tick":
                self.ticks += 1
                self.tick_s += dt
                self.tick_max_s = max(self.tick_max_s, dt)
        result = self._check(reply, label)
        if self.proc.log_total > self.settings.log_cap_bytes and not self._output_reported:
            self._output_reported = True
            raise ServiceFailure(
                "output",
                f"{label}wrote {self.proc.log_total / (1 << 20):.1f} MB to stdout/stderr; "
                f"the log keeps the first {self.settings.log_cap_bytes / (1 << 20):g} MB",
            )
        return result

    def _check(self, reply: Any, label: str) -> Any:
        cpu = reply.get("cpu") if isinstance(reply, dict) else None
        if isinstance(cpu, float) and cpu >= self.cpu_s:
            self.cpu_s = cpu
        if not isinstance(reply, dict) or not isinstance(reply.get("ok"), bool):
            self._stop("protocol")
            raise ServiceFailure("protocol", f"{label}the reply is not an {{ok, result}} message")
        if not reply["ok"]:
            kind = reply.get("kind")
            message = str(reply.get("message", ""))[:2000]
            if kind not in FAILURE_KINDS:
                self._stop("protocol")
                raise ServiceFailure("protocol", f"{label}failure of unknown kind {kind!r}")
            if kind in KILLING_KINDS:
                self._stop(message)
            raise ServiceFailure(str(kind), message)
        result = reply.get("result")
        why = protocol.check_plain(result)
        if why:
            raise ServiceFailure("garbage", f"{label}the reply {why}")
        return result

    def _stop(self, why: str) -> None:
        self.dead = why
        self.proc.kill()

    def _died(self, label: str) -> ServiceFailure:
        rc = self.proc.wait_exit()
        kind, message = exit_reason(rc, self.proc.log_text(), self.settings)
        self.dead = message
        return ServiceFailure(kind, f"{label}the service process {message}" if kind == "crash" else f"{label}{message}")
