"""The sandbox's self-check: before the first untrusted service runs, prove the confinement holds.

A probe runs through exactly the launcher services run through and tries what must fail: connect to
127.0.0.1 and to public addresses, read host files (a canary results store, /etc/shadow,
/etc/passwd, the host package, the plugins folder), fork, write to the binds, signal pid 1. If any
succeeds — or bubblewrap is missing, or this is not Linux — untrusted code is refused with the
reason, unless the user opted in to degraded isolation.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from simulation.errors import PluginError
from simulation.plugins import protocol
from simulation.plugins.launch import ServiceProcess
from simulation.plugins.settings import DEGRADED_ENV, SETTINGS, SandboxSettings

__all__ = ["ensure_sandbox", "probe_sandbox", "reset_self_check", "sandbox_problem"]

_CHECK: dict[tuple[str, int], str | None] = {}


def reset_self_check() -> None:
    """Forget the cached self-check (tests and tools that change the launcher)."""
    _CHECK.clear()


def probe_sandbox(settings: SandboxSettings | None = None) -> dict[str, Any]:
    """Run the probe in the sandbox: try the network, host files, fork and writes; return what happened."""
    settings = replace(settings or SETTINGS)
    with tempfile.TemporaryDirectory(prefix="pilot-sandbox-probe-") as tmp:
        canary = Path(tmp) / "results" / "runs" / "canary.json"
        canary.parent.mkdir(parents=True)
        canary.write_text('{"secret": "the sandbox must not read this"}')
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        port = listener.getsockname()[1]
        pkg = Path(__file__).resolve().parents[1]  # the simulation package
        cfg = {
            "probe": True,
            "entry": "",
            "connect": [["127.0.0.1", port], ["1.1.1.1", 53], ["8.8.8.8", 443]],
            "read": [
                str(canary),
                "/etc/shadow",
                "/etc/passwd",
                str(pkg / "world" / "engine.py"),
                str(pkg.parent / "plugins"),
                os.path.expanduser("~/.bash_history"),
            ],
        }
        proc = ServiceProcess("sandbox", settings, cfg, None, Path(tmp))
        try:
            msg = proc.recv(time.monotonic() + max(10.0, settings.start_timeout_s))
        except (protocol.Deadline, protocol.Eof, protocol.Overrun) as exc:
            proc.kill()
            log = proc.log_text().strip()
            raise PluginError(
                "sandbox",
                f"the self-check probe did not run ({type(exc).__name__}); bwrap said: {log[-500:] or 'nothing'}",
            ) from None
        finally:
            proc.close()
        try:
            conn, _ = listener.accept()
            conn.close()
            msg.setdefault("result", {})["listener"] = "a connection arrived"
        except (BlockingIOError, OSError):
            pass
        finally:
            listener.close()
    return msg.get("result", {}) if isinstance(msg, dict) else {}


def host_uid(uid: int, uid_map: str) -> int | None:
    """The host uid that ``uid`` inside a user namespace is, from that namespace's ``uid_map``."""
    for line in uid_map.splitlines():
        parts = line.split()
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            inside, outside, count = map(int, parts)
            if inside <= uid < inside + count:
                return outside + uid - inside
    return None


def _judge(result: dict[str, Any]) -> str | None:
    bad = [
        f"{k}: {v}" for k, v in result.items() if isinstance(v, str) and k != "uid_map" and not v.startswith("refused")
    ]
    if result.get("uid") == 0:
        bad.append("runs as uid 0 inside the sandbox")
    outside = host_uid(int(result.get("uid", -1)), str(result.get("uid_map", "")))
    if outside is None or outside == 0:
        bad.append(f"runs as host uid {outside} (root outside its namespace, where process limits do not hold)")
    if not result:
        bad.append("the probe reported nothing")
    return "; ".join(bad) or None


def sandbox_problem(settings: SandboxSettings | None = None) -> str | None:
    """Why untrusted code cannot be confined here (None when the self-check passes; cached)."""
    settings = settings or SETTINGS
    if not sys.platform.startswith("linux"):
        return f"this is {sys.platform}, not Linux: bubblewrap sandboxes need Linux namespaces"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    key = (bwrap, settings.uid)
    if key not in _CHECK:
        try:
            _CHECK[key] = _judge(probe_sandbox(settings))
        except PluginError as exc:
            _CHECK[key] = exc.msg
    problem = _CHECK[key]
    return None if problem is None else f"the sandbox self-check failed: {problem}"


def ensure_sandbox(name: str, settings: SandboxSettings | None = None) -> str:
    """``"sandbox"`` if confinement holds, ``"degraded"`` if it does not and the user opted in; else refuse."""
    settings = settings or SETTINGS
    problem = sandbox_problem(settings)
    if problem is None:
        return "sandbox"
    if settings.degraded_allowed():
        return "degraded"
    raise PluginError(
        name,
        f"refusing to run third-party code: {problem}. To run it anyway with rlimits only "
        f"(no namespaces, no seccomp; results are marked isolation: degraded), set {DEGRADED_ENV}=1 "
        f"or pass --allow-degraded",
    )
