"""The package's exceptions: one root, and subclasses that carry where the problem is."""

from __future__ import annotations

__all__ = ["DistrictError", "PluginError", "SandboxError", "ScenarioError", "StoreError"]


class SandboxError(Exception):
    """Base class for every error this package raises on purpose (bad input, mostly)."""


class _InputError(SandboxError):
    """An error in a file a person wrote: names the file, the key path and what is allowed."""

    def __init__(self, path: object, msg: str, key: str | None = None) -> None:
        where = f"{path}"
        if key:
            where += f", at {key}"
        super().__init__(f"{where}: {msg}")
        self.path = str(path)
        self.key = key
        self.msg = msg


class ScenarioError(_InputError):
    """A scenario file is malformed or refers to something that does not exist."""


class DistrictError(_InputError):
    """A district's YAML or GeoJSON is malformed or inconsistent."""


class StoreError(SandboxError):
    """The results store cannot be opened or holds no such run."""


class PluginError(SandboxError):
    """A service (plugin) is malformed, misbehaved or failed its checks."""

    def __init__(self, plugin: str, msg: str) -> None:
        super().__init__(f"service {plugin!r}: {msg}")
        self.plugin = plugin
        self.msg = msg
