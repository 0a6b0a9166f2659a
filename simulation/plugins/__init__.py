"""Host side of company services: discovery, manifests, and the inline and sandboxed runners.

:func:`~simulation.plugins.runners.start_services` builds the runners the world receives:
built-ins inline, every other ``use:`` through :func:`load_runner`. Nothing here imports plugin
code into the host process except the explicit ``--allow-inline`` debugging path.
"""

from simulation.plugins.discovery import ENTRY_POINT_GROUP, Plugin, installed_plugins, open_plugin, resolve_plugin
from simulation.plugins.loader import GuardedRunner, InlinePluginRunner, deployment_problem, load_runner
from simulation.plugins.manifest import Manifest, ManifestError, check_hardware_fits, check_params, load_manifest
from simulation.plugins.sandbox import SandboxRunner
from simulation.plugins.selfcheck import ensure_sandbox, probe_sandbox, reset_self_check, sandbox_problem
from simulation.plugins.settings import DEGRADED_ENV, SETTINGS, SandboxSettings

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
