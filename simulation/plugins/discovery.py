"""Finding plugins: a folder (relative to the scenario file, or absolute) or an installed package.

An installed distribution exposes its service through the entry-point group
``pilot_sandbox.services``: the entry point's name is the service name, its value the package
(folder) that holds ``plugin.yaml``. Nothing is imported to find it: the host never runs plugin
code outside the sandbox.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from dataclasses import dataclass
from functools import cached_property
from importlib.metadata import entry_points
from pathlib import Path

from simulation.errors import PluginError, ScenarioError
from simulation.plugins.manifest import Manifest, load_manifest
from simulation.plugins.settings import SETTINGS

__all__ = [
    "ENTRY_POINT_GROUP",
    "SHIPPED_DIR",
    "Plugin",
    "installed_plugins",
    "open_plugin",
    "reserved_names",
    "resolve_plugin",
]

ENTRY_POINT_GROUP = "pilot_sandbox.services"
SHIPPED_DIR = Path(__file__).resolve().parents[2] / "plugins"  # the example plugins the project ships
_SKIP_DIRS = {"__pycache__", ".git", ".mypy_cache", ".pytest_cache", ".ruff_cache"}
MAX_FILES = 5000


@dataclass(frozen=True)
class Plugin:
    """A plugin on disk: its folder, validated manifest and where it was found."""

    folder: Path
    manifest: Manifest
    origin: str = "folder"

    @property
    def name(self) -> str:
        """The manifest's name."""
        return self.manifest.name

    @cached_property
    def files(self) -> tuple[Path, ...]:
        """Files of the plugin (relative), sorted; links leaving the folder are refused."""
        root = self.folder.resolve()
        out: list[Path] = []
        total = 0
        cap = int(SETTINGS.max_plugin_mb * (1 << 20))
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
            here = Path(dirpath)
            for d in dirnames:
                if (here / d).is_symlink():
                    self._outside_link(root, here / d)
            for fn in sorted(filenames):
                p = here / fn
                if fn.endswith((".pyc", ".pyo")):
                    continue
                if p.is_symlink():
                    self._outside_link(root, p)
                if not p.is_file():
                    continue
                total += p.stat().st_size
                out.append(p.relative_to(root))
                if total > cap or len(out) > MAX_FILES:
                    raise PluginError(
                        self.name,
                        f"folder {root} is larger than {SETTINGS.max_plugin_mb:g} MB or "
                        f"{MAX_FILES} files; ship code and small data only",
                    )
        return tuple(sorted(out))

    def _outside_link(self, root: Path, p: Path) -> None:
        real = p.resolve()
        if not real.is_relative_to(root):
            raise PluginError(self.name, f"{p.relative_to(root)} is a link to {real}, outside the plugin folder")

    @cached_property
    def code_hash(self) -> str:
        """Content hash of every file in the folder (the plugin's code identity)."""
        h = hashlib.sha256()
        root = self.folder.resolve()
        for rel in self.files:
            h.update(str(rel).encode() + b"\0")
            h.update((root / rel).read_bytes())
            h.update(b"\0")
        return h.hexdigest()[:16]

    @property
    def code(self) -> str:
        """The identity that goes into the run id: name, version and content hash."""
        return f"plugin:{self.name}@{self.manifest.version}:{self.code_hash}"

    def snapshot(self, dest: Path) -> None:
        """Copy the plugin's files (links already checked) into ``dest`` for the sandbox."""
        root = self.folder.resolve()
        for rel in self.files:
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / rel, target)


def open_plugin(folder: str | Path, origin: str = "folder") -> Plugin:
    """Load a plugin folder: validate its manifest and check its files."""
    folder = Path(folder)
    manifest = load_manifest(folder / "plugin.yaml")
    plugin = Plugin(folder.resolve(), manifest, origin)
    _ = plugin.files  # refuse links out of the folder and oversized folders now, at load
    return plugin


def installed_plugins() -> dict[str, str]:
    """Services of installed distributions: entry-point name -> value."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def reserved_names() -> dict[str, str]:
    """Names an uploaded plugin may not take: built-in services, shipped plugins, installed services -> which."""
    from simulation.plugins.builtin import BUILTINS

    out = {name: "a built-in service" for name in BUILTINS}
    for folder in sorted(SHIPPED_DIR.iterdir()) if SHIPPED_DIR.is_dir() else []:
        if not (folder / "plugin.yaml").is_file():
            continue
        out.setdefault(folder.name, f"the shipped plugin plugins/{folder.name}")
        try:
            out.setdefault(load_manifest(folder, check_entry=False).name, f"the shipped plugin plugins/{folder.name}")
        except PluginError:
            continue
    for name, value in installed_plugins().items():
        out.setdefault(name, f"the installed service {name!r} ({ENTRY_POINT_GROUP}: {value})")
    return out


def _entry_point_folder(name: str, value: str, where: str) -> Path:
    """The package folder an entry point names (``pkg`` or ``pkg.sub``), found without importing it."""
    module = value.split(":", 1)[0].strip()
    parts = module.split(".")
    spec = importlib.util.find_spec(parts[0])  # a top-level lookup imports nothing
    if spec is None or not spec.submodule_search_locations:
        raise ScenarioError(
            where,
            f"installed service {name!r} must point to a package (a folder holding plugin.yaml); got {module!r}",
            key="services.use",
        )
    folder = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts[1:])
    if not (folder / "plugin.yaml").is_file():
        raise ScenarioError(where, f"installed service {name!r}: no plugin.yaml in {folder}", key="services.use")
    return folder


def resolve_plugin(use: str, where: str | Path) -> Plugin:
    """Find the plugin a scenario's ``use:`` names (a folder path or an installed service name)."""
    where_s = str(where)
    base = Path(where_s).parent if Path(where_s).suffix in (".yaml", ".yml") else Path.cwd()
    p = Path(use).expanduser()
    cand = p if p.is_absolute() else base / p
    looks_like_path = "/" in use or use.startswith((".", "~")) or os.sep in use
    installed = installed_plugins()
    by_name = not looks_like_path and use in installed
    if by_name and (cand / "plugin.yaml").is_file():
        raise ScenarioError(
            where_s,
            f"{use!r} is both a folder, {cand}, and an installed service (entry point {ENTRY_POINT_GROUP}: "
            f"{use} = {installed[use]}); write './{use}' for the folder, or rename one of them",
            key="services.use",
        )
    if cand.is_dir() and not by_name:
        if not (cand / "plugin.yaml").is_file():
            raise ScenarioError(where_s, f"folder {cand} has no plugin.yaml; got {use!r}", key="services.use")
        return open_plugin(cand)
    if by_name:
        folder = _entry_point_folder(use, installed[use], where_s)
        return open_plugin(folder, origin=f"installed ({ENTRY_POINT_GROUP}: {installed[use]})")
    names = ", ".join(sorted(installed)) or "none"
    raise ScenarioError(
        where_s,
        f"no plugin folder {cand} and no installed service of that name (installed: {names}); "
        f"use 'builtin:NAME', a folder path relative to the scenario file, or an installed service name; got {use!r}",
        key="services.use",
    )
