"""Limits of the plugin sandbox, in one place, with a context manager for tests and tools.

Every figure can be changed for one block of code (``with SETTINGS.override(tick_timeout_s=0.5):``);
the defaults are sized for a district-day of a well-behaved service with room to spare.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from typing import Any

__all__ = ["DEGRADED_ENV", "SETTINGS", "SandboxSettings"]

#: Set to ``1`` to run untrusted services without bubblewrap where it cannot work (clearly marked).
DEGRADED_ENV = "PILOT_SANDBOX_ALLOW_DEGRADED"


@dataclass
class SandboxSettings:
    """Deadlines, rlimits and caps of a sandboxed service (see docs/sdk.md, "Sandbox limits")."""

    start_timeout_s: float = 20.0  # interpreter start + import of the plugin module
    deploy_timeout_s: float = 20.0
    tick_timeout_s: float = 5.0
    end_timeout_s: float = 5.0
    memory_mb: int = 1024  # the service's whole memory budget: its address space plus its tmpfs mounts
    cpu_s: int = 900  # RLIMIT_CPU: CPU seconds for the whole run
    open_files: int = 64  # RLIMIT_NOFILE
    processes: int = 32  # RLIMIT_NPROC (threads count; fork itself is refused by seccomp)
    file_mb: int = 16  # RLIMIT_FSIZE: largest file it may write in its private /tmp
    tmpfs_mb: int = 64  # size of the private, empty working directory (/tmp), within memory_mb
    shm_mb: int = 16  # size of its /dev/shm (shared memory), within memory_mb; / and /dev are read-only
    max_message_mb: float = 8.0  # largest reply (or request) on the protocol pipe
    log_cap_bytes: int = 1 << 20  # stdout + stderr kept per service
    max_plugin_mb: float = 50.0  # a plugin folder larger than this is refused
    allow_degraded: bool = False  # run without bubblewrap where it cannot work (also DEGRADED_ENV=1)
    uid: int = 65534  # user and group id inside the sandbox, and on the host (never root outside)
    share_cpu: bool = True  # a run keeps its thread and its sandboxed services on one CPU (see host.one_cpu)

    def address_space_mb(self) -> int:
        """RLIMIT_AS: the memory budget less what the tmpfs mounts may hold (both are host RAM)."""
        return self.memory_mb - self.tmpfs_mb - self.shm_mb

    def degraded_allowed(self) -> bool:
        """Whether the user opted in to degraded isolation (setting or environment variable)."""
        return self.allow_degraded or os.environ.get(DEGRADED_ENV, "") in ("1", "true", "yes")

    @contextmanager
    def override(self, **changes: Any) -> Iterator[SandboxSettings]:
        """Change some limits for the duration of a ``with`` block."""
        names = {f.name for f in fields(self)}
        bad = sorted(set(changes) - names)
        if bad:
            raise TypeError(f"no sandbox setting {bad[0]!r}; settings: {', '.join(sorted(names))}")
        saved = replace(self)
        for k, v in changes.items():
            setattr(self, k, v)
        try:
            yield self
        finally:
            for f in fields(self):
                setattr(self, f.name, getattr(saved, f.name))


SETTINGS = SandboxSettings()
