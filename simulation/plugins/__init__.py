"""Host side of company services: discovery, manifests, and the inline and sandboxed runners.

``simulation.world.host.make_runner`` hands every ``use:`` that is not ``builtin:NAME`` to
:func:`load_runner`. Nothing here imports plugin code into the host process except the explicit
``--allow-inline`` debugging path.
"""

from .discovery import ENTRY_POINT_GROUP, Plugin, installed_plugins, open_plugin, resolve_plugin
from .loader import GuardedRunner, InlinePluginRunner, deployment_problem, load_runner
from .manifest import Manifest, ManifestError, check_hardware_fits, check_params, load_manifest
from .sandbox import SandboxRunner
from .selfcheck import ensure_sandbox, probe_sandbox, reset_self_check, sandbox_problem
from .settings import DEGRADED_ENV, SETTINGS, SandboxSettings

__all__ = [
    "DEGRADED_ENV",
    "ENTRY_POINT_GROUP",
    "SETTINGS",
    "GuardedRunner",
    "InlinePluginRunner",
    "Manifest",
    "ManifestError",
    "Plugin",
    "SandboxRunner",
    "SandboxSettings",
    "check_hardware_fits",
    "check_params",
    "deployment_problem",
    "ensure_sandbox",
    "installed_plugins",
    "load_manifest",
    "load_runner",
    "open_plugin",
    "probe_sandbox",
    "reset_self_check",
    "resolve_plugin",
    "sandbox_problem",
]
