"""The package's exceptions: one root, and subclasses that carry where the problem is."""

from __future__ import annotations

__all__ = [
    "BatchError",
    "DecideError",
    "DistrictError",
    "OsmError",
    "PluginError",
    "ProgrammeError",
    "SandboxError",
    "ScenarioError",
    "StoreError",
    "StudyError",
]


class SandboxError(Exception):
    """Base class for every error this package raises on purpose (bad input, mostly)."""


#: Longest message and key path an input error keeps: a value echoed from a file is cut, never shown whole.
MAX_MESSAGE_CHARS = 800
MAX_KEY_CHARS = 200


def _cap(text: str, limit: int) -> str:
    """``text`` cut in the middle to at most ``limit`` characters."""
    if len(text) <= limit:
        return text
    keep = (limit - 5) // 2
    return f"{text[:keep]} ... {text[-keep:]}"


class _InputError(SandboxError):
    """An error in a file a person wrote: names the file, the key path and what is allowed."""

    def __init__(self, path: object, msg: str, key: str | None = None) -> None:
        msg = _cap(msg, MAX_MESSAGE_CHARS)
        key = _cap(key, MAX_KEY_CHARS) if key else key
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


class OsmError(_InputError):
    """An OpenStreetMap extract cannot be read or holds no usable street network."""


class ProgrammeError(_InputError):
    """A programme file is malformed or refers to a district, service or decision that does not exist."""


_MISSING = object()


class DecideError(_InputError):
    """Bad input to economics or a decision: names the source, the key, the value and what is allowed."""

    def __init__(
        self, path: object, msg: str, key: str | None = None, value: object = _MISSING, allowed: str | None = None
    ) -> None:
        text = msg
        if value is not _MISSING:
            text += f"; got {value!r}"
        if allowed:
            text += f"; allowed: {allowed}"
        super().__init__(path, text, key=key)
        self.value = None if value is _MISSING else value
        self.allowed = allowed


class StudyError(_InputError):
    """A study file is malformed, names an unknown parameter or asks for more than its budget."""


class BatchError(SandboxError):
    """A batch cannot start: unreachable scheduler, an output folder holding another study, ..."""


class StoreError(SandboxError):
    """The results store cannot be opened or holds no such run."""


class PluginError(SandboxError):
    """A service (plugin) is malformed, misbehaved or failed its checks."""

    def __init__(self, plugin: str, msg: str) -> None:
        super().__init__(f"service {plugin!r}: {msg}")
        self.plugin = plugin
        self.msg = msg
